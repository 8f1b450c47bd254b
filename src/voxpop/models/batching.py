"""Batches of frame sequences bucketed by length, and long clips reported by name.

A frame-sequence model (``lstm`` or ``attentive_stats`` on ``fbank`` frames, per-layer SSL frames) pads
each batch to its longest item. One 5-minute clip among 2-second ones makes every batch it lands in as
long as itself: dozens of times the time and several times the memory. :class:`LengthBucketBatchSampler`
groups items of similar length so that each batch's padded size, ``batch size x longest item``, stays
within a frame budget (``TrainConfig.max_batch_frames``); an item longer than the budget is a batch of
its own. :func:`voxpop.features.long_items.long_items` names the items above a length limit, which extraction
(:data:`voxpop.features.long_items.LONG_CLIP_SECONDS`) and training (``TrainConfig.long_item_frames``) report.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from voxpop.features.long_items import describe_long, long_items

log = logging.getLogger(__name__)

class LengthBucketBatchSampler(Sampler[list[int]]):
    """Batches of item positions whose padded size ``len(batch) x max length`` stays within ``max_frames``.

    Each epoch the positions drawn by ``sampler`` (e.g. a seeded ``RandomSampler``) are stably sorted by
    length and cut greedily into batches of at most ``batch_size`` items and at most ``max_frames`` padded
    frames (an item longer than ``max_frames`` alone); the batches then follow the order in which their
    first item was drawn. Every position the sampler draws appears exactly once. Items of equal length keep
    the sampler's order, so on data whose batches never reach the budget the batches are exactly those of
    ``BatchSampler(sampler, batch_size, drop_last=False)``. The number of batches depends only on the
    multiset of drawn lengths, hence is the same every epoch for a sampler without replacement.

    Args:
        sampler: yields item positions ``0 .. len(lengths) - 1`` (each once per epoch).
        lengths: time steps of each item (frames), indexed by position.
        batch_size: the most items per batch.
        max_frames: the most padded time steps per batch.

    Example:
        >>> list(LengthBucketBatchSampler(range(5), [10, 500, 10, 10, 10], batch_size=2, max_frames=100))
        [[0, 2], [1], [3, 4]]
    """

    def __init__(self, sampler: Iterable[int], lengths: Sequence[int], batch_size: int, max_frames: int) -> None:
        self.sampler = sampler
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size = int(batch_size)
        self.max_frames = int(max_frames)

    def _plan(self, order: Sequence[int]) -> list[list[int]]:
        order = np.asarray(list(order), dtype=np.int64)
        by_length = np.argsort(self.lengths[order], kind="stable")  # positions within ``order``
        batches: list[list[int]] = []
        current: list[int] = []
        longest = 0
        for rank in by_length:
            length = int(self.lengths[order[rank]])
            grown = max(longest, length)
            if current and (len(current) >= self.batch_size or grown * (len(current) + 1) > self.max_frames):
                batches.append(current)
                current, grown = [], length
            current.append(int(rank))
            longest = grown
        if current:
            batches.append(current)
        batches.sort(key=min)  # the order in which each batch's first item was drawn
        return [[int(order[rank]) for rank in sorted(batch)] for batch in batches]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._plan(list(self.sampler))

    def __len__(self) -> int:
        return len(self._plan(range(len(self.lengths))))


def sequence_lengths(x: Sequence[Any], axis: int) -> np.ndarray:
    """The length of each per-item array along its time ``axis``: (N,) integers.

    >>> sequence_lengths([np.zeros((3, 2)), np.zeros((7, 2))], 0).tolist()
    [3, 7]
    """
    return np.array([np.shape(a)[axis] for a in x], dtype=np.int64)


def batching(
    x: Sequence[Any] | Any,
    ids: Sequence[Any],
    axis: int | None,
    sampler: Iterable[int],
    batch_size: int,
    max_frames: int | None,
    *,
    long_frames: int | None = None,
    with_replacement: bool = False,
    name: str = "train_x",
) -> dict[str, Any]:
    """The ``DataLoader`` keyword arguments that batch ``x`` drawn by ``sampler``: length buckets for frame
    sequences, plain batches of ``batch_size`` otherwise.

    Args:
        x: the items; per-item arrays whose time axis is ``axis`` (None: pooled vectors, never bucketed).
        ids: item ids by position, for the report of items longer than ``long_frames`` time steps
            (a warning naming them; None: no report).
        axis: the time axis of each item, or None.
        sampler: yields item positions (once each per epoch unless ``with_replacement``).
        batch_size: the most items per batch.
        max_frames: the most padded time steps per batch (None: no bucketing).
        with_replacement: whether ``sampler`` draws with replacement (class-balanced sampling).
        name: what ``x`` is, for messages.

    Returns:
        ``{"batch_sampler": LengthBucketBatchSampler}`` or ``{"sampler": sampler, "batch_size": batch_size}``.

    Raises:
        ConfigError: buckets are needed (some batch would exceed ``max_frames``) but ``sampler`` draws with
            replacement, whose batch count could change from epoch to epoch.
    """
    from voxpop.core.errors import ConfigError

    plain = {"sampler": sampler, "batch_size": batch_size}
    if axis is None:
        return plain
    lengths = sequence_lengths(x, axis)
    if long_frames is not None and (found := long_items(ids, lengths, long_frames)):
        log.warning(
            "%s: %d item(s) longer than %d time steps (long_item_frames): %s; length buckets keep their batches "
            "small (max_batch_frames), or crop clips when extracting (--max-seconds).",
            name, len(found), long_frames, describe_long(found, "steps"),
        )  # fmt: skip
    if max_frames is None or batch_size * int(lengths.max()) <= max_frames:
        return plain  # no batch can exceed the budget: random batches as without buckets
    if with_replacement:
        raise ConfigError(
            f"{name}: batches of {batch_size} of the longest items ({int(lengths.max())} time steps) exceed "
            f"max_batch_frames={max_frames}, and length buckets need each item once per epoch, which balanced "
            "sampling does not give; turn balanced_sampling off, crop long clips (features.max_seconds / "
            "--max-seconds) or raise max_batch_frames."
        )
    return {"batch_sampler": LengthBucketBatchSampler(sampler, lengths, batch_size, max_frames)}
