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

import itertools
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import BatchSampler, Sampler

from voxpop.core.errors import ConfigError, InputError
from voxpop.features.long_items import describe_long, long_items

log = logging.getLogger(__name__)

_CHUNK = 65_536  # pooled items checked per step


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


class ItemTensors:
    """Items held as float32 tensors, gathered into batches by position.

    Pooled vectors ``(N, D)`` / per-layer vectors ``(N, L, D)`` become one tensor (a memory-mapped array
    stays on disk and its rows are read per batch); sequences (frames ``(T_i, D)`` / ``(L, T_i, D)``, 1-D
    waveforms) one tensor per item, zero-padded along their time axis per batch. Every value is checked
    once to be finite.

    Args:
        x: the items, as :func:`~voxpop.models.training.fit` takes them.
        axis: the time axis of each item (0 for ``(T, D)`` frames and waveforms, 1 for ``(L, T, D)``), or
            None for an array of pooled items.
        ids: item ids by position, for messages.
        name: what ``x`` is (``train_x``, ``dev_x``), for messages.

    Raises:
        InputError: an item has a NaN or infinite value (naming the items: re-extract or drop them).

    Example:
        >>> items = ItemTensors([np.ones((2, 3)), np.ones((4, 3))], 0, ["a", "b"], "train_x")
        >>> x, mask = items.take([1, 0])
        >>> tuple(x.shape), mask.tolist()
        ((2, 4, 3), [[True, True, True, True], [True, True, False, False]])
    """

    def __init__(self, x: Any, axis: int | None, ids: Sequence[Any], name: str) -> None:
        self.axis = axis
        if self.axis is None:
            self.x: Any = x if isinstance(x, np.memmap) else float32_tensor(x)
            chunks = range(0, len(x), _CHUNK)
            finite = np.concatenate([_finite_rows(self._rows(slice(i, i + _CHUNK))) for i in chunks])
        else:  # time first, so that pad_sequence pads it: (T, D) or (T, L, D)
            self.x = [float32_tensor(np.moveaxis(np.asarray(a), self.axis, 0)) for a in x]
            self.lengths = torch.tensor([len(a) for a in self.x])
            finite = np.array([bool(torch.isfinite(a).all()) for a in self.x], dtype=bool)
        if not finite.all():
            bad = [str(ids[i]) for i in np.flatnonzero(~finite)]
            raise InputError(
                f"{name}: item {', '.join(bad[:10])} has NaN or infinite feature values ({len(bad)} item(s) in all); "
                "re-extract or drop it."
            )

    def __len__(self) -> int:
        return len(self.x)

    def _rows(self, positions: Any) -> torch.Tensor:
        if isinstance(self.x, np.memmap):
            return float32_tensor(self.x[positions])
        return self.x[positions]

    def take(self, positions: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The batch of the items at ``positions``: ``(x, mask)``; ``x`` is ``(B, D)`` / ``(B, L, D)``, or
        ``(B, T, D)`` / ``(B, L, T, D)`` / ``(B, S)`` zero-padded to the longest item with ``mask`` ``(B, T)``
        (True on frames / samples); ``mask`` is None for pooled items."""
        index = torch.as_tensor(positions, dtype=torch.long)
        if self.axis is None:
            return self._rows(index.numpy() if isinstance(self.x, np.memmap) else index), None
        x = nn.utils.rnn.pad_sequence([self.x[i] for i in index.tolist()], batch_first=True)
        lengths = self.lengths[index]
        mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]
        return x.movedim(1, self.axis + 1), mask


def float32_tensor(a: Any) -> torch.Tensor:
    """``a`` as a float32 tensor (sharing a float32 array's memory; a read-only array is copied)."""
    a = np.asarray(a, dtype=np.float32)
    return torch.from_numpy(a if a.flags.writeable else a.copy())


def _finite_rows(x: torch.Tensor) -> np.ndarray:
    return torch.isfinite(x.flatten(1)).all(dim=1).numpy()


def epoch_batches(batches: dict[str, Any]) -> Iterator[list[int]]:
    """One epoch's batches of item positions from :func:`batching`'s keyword arguments (the sampler drawn once).

    Plain batches are read from the sampler as a ``DataLoader`` reads them under Lightning: torch's
    ``BatchSampler`` for ``len(loader)`` batches and no further. This matters for a seeded ``RandomSampler``,
    which draws a second (empty) permutation from its generator only when it is read past its last item: that
    happens for a last, partial batch, not after a last full one, so the next epoch's order depends on it.

    >>> list(epoch_batches({"sampler": range(5), "batch_size": 2}))
    [[0, 1], [2, 3], [4]]
    """
    if "batch_sampler" in batches:
        yield from batches["batch_sampler"]
        return
    plain = BatchSampler(batches["sampler"], batches["batch_size"], drop_last=False)
    yield from itertools.islice(plain, batch_count(batches))


def batch_count(batches: dict[str, Any]) -> int:
    """The number of batches per epoch of :func:`batching`'s keyword arguments (as a ``DataLoader`` counts them)."""
    if "batch_sampler" in batches:
        return len(batches["batch_sampler"])
    return math.ceil(len(batches["sampler"]) / batches["batch_size"])
