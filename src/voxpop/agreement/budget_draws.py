"""Rater subsets for the annotation budget (METHODS.md section 6, "Annotation budget"): one condition's votes as
codes, and for a panel size k every item's k-rater subsets, drawn without replacement or enumerated exactly.

Each rating of the primary slot is one rater's vote (the slot holds one label per rater and item). For an item
with n_i votes and k <= n_i, the C(n_i, k) subsets are all enumerated when C(n_i, k) <= ``draws``, else
``draws`` subsets are drawn, each uniformly among all C(n_i, k) (a random permutation's first k votes). Every
subset of an item carries the weight 1 / (its number of subsets), so an item counts once whatever its panel.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError
from voxpop.corpus import Corpus
from voxpop.corpus.classmap import resolve_classes
from voxpop.labels.voting import _class_codes, _item_codes, _select


@dataclasses.dataclass(frozen=True)
class PanelVotes:
    """One condition's primary votes as codes.

    Args:
        condition: the condition's name (None: a corpus without conditions).
        items: the items with at least one vote, in corpus order.
        item_code: per vote, its item's position in ``items``.
        label_code: per vote, its label's position in ``labels``.
        labels: the selected classes, then every other label (after the class map).
        n_classes: how many of ``labels`` are selected classes.
    """

    condition: str | None
    items: pd.Index
    item_code: np.ndarray
    label_code: np.ndarray
    labels: list[str]
    n_classes: int

    @property
    def panel_sizes(self) -> np.ndarray:
        """Votes per item (n_i), aligned with ``items``."""
        return np.bincount(self.item_code, minlength=len(self.items))

    def counts(self) -> np.ndarray:
        """The full panel's vote counts, items x labels (int64)."""
        width = len(self.labels)
        flat = np.bincount(self.item_code * width + self.label_code, minlength=len(self.items) * width)
        return flat.reshape(len(self.items), width)


def panel_votes(
    corpus: Corpus,
    condition: str | None,
    classes: Sequence[str] | None = None,
    class_map: Mapping[str, str] | None = None,
) -> PanelVotes:
    """The primary votes of ``condition`` (None: every rating; only for a corpus with at most one condition).

    Args:
        corpus: the corpus.
        condition: one of ``corpus.conditions``, or None.
        classes: the class set (default: every corpus class after ``class_map``).
        class_map: label renames / drops, as :func:`voxpop.labels.make_labels` takes them.

    Returns:
        A :class:`PanelVotes`.

    Raises:
        ConfigError: an unknown condition, or no primary votes in it.
        InputError: a label that is neither a class nor excluded (from :mod:`voxpop.labels.voting`).
    """
    if condition is not None and condition not in corpus.conditions:
        raise ConfigError(
            f"condition {condition!r} not found in corpus {corpus.name!r}; its conditions are "
            f"{', '.join(corpus.conditions) or 'none'}"
        )
    class_set, others, mapping = resolve_classes(
        corpus.classes, corpus.excluded, classes, class_map, corpus=corpus.name
    )
    selected = _select(corpus.ratings, "primary", condition, True, ["item", "label"])
    if selected.empty:
        scope = f" in condition {condition!r}" if condition is not None else ""
        raise ConfigError(
            f"corpus {corpus.name!r} has no ratings in slot 'primary'{scope}; the annotation budget counts primary "
            "votes (one label per rater)"
        )
    labels = [*class_set, *others]
    codes = _class_codes(selected, labels, mapping.renames, [])
    position, index = _item_codes(selected, corpus.items.index)
    rated = np.flatnonzero(np.bincount(position, minlength=len(index)))
    renumber = np.full(len(index), -1)
    renumber[rated] = np.arange(len(rated))
    return PanelVotes(condition, index[rated], renumber[position], codes, labels, len(class_set))


@dataclasses.dataclass(frozen=True)
class Subsets:
    """The k-rater subsets of one condition: one row per subset.

    Args:
        k: raters per subset.
        item: per row, the item's position in :attr:`PanelVotes.items`.
        weight: per row, 1 / (the item's number of subsets): an item's rows sum to 1.
        counts: rows x labels, the subset's votes per label.
        exact: per item, whether its subsets were enumerated (C(n_i, k) <= draws) rather than drawn.
        short: per item, whether it has fewer than k votes (no rows).
    """

    k: int
    item: np.ndarray
    weight: np.ndarray
    counts: np.ndarray
    exact: np.ndarray
    short: np.ndarray


def _subset_positions(size: int, k: int, members: int, draws: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Vote positions (members x subsets x k) of ``members`` items with ``size`` votes each."""
    if math.comb(size, k) <= limit:
        every = np.array(list(itertools.combinations(range(size), k)), dtype=np.int64).reshape(-1, k)
        return np.broadcast_to(every, (members, *every.shape))
    return np.argsort(rng.random((members, draws, size)), axis=-1)[..., :k]


@dataclasses.dataclass(frozen=True)
class Members:
    """Which votes (ratings) form each k-subset: one row per subset.

    Args:
        item: per row, the item's position.
        weight: per row, 1 / (the item's number of subsets).
        positions: rows x k, positions into the rating arrays the subsets were drawn from.
        exact: per item, whether its subsets were all enumerated.
        short: per item, whether it has fewer than k ratings.
    """

    item: np.ndarray
    weight: np.ndarray
    positions: np.ndarray
    exact: np.ndarray
    short: np.ndarray


def subset_members(
    item_code: np.ndarray, n_items: int, k: int, draws: int, seed: int = 0, enumerate_limit: int | None = None
) -> Members:
    """The k-rating subsets of every item (``item_code``: per rating its item's position), as rating positions.

    All C(n_i, k) subsets when there are at most ``enumerate_limit`` (default ``draws``; 0: always draw), else
    ``draws`` seeded subsets, each uniform among all of them (a random permutation's first k ratings).

    Args:
        item_code: per rating, its item's position in 0 .. n_items - 1.
        n_items: the number of items.
        k: ratings per subset, at least 1.
        draws: B, random subsets per item (and the default enumeration limit), at least 1.
        seed: the seed; the same arguments give the same subsets.
        enumerate_limit: enumerate when C(n_i, k) is at most this.

    Returns:
        The :class:`Members`; items with fewer than k ratings are flagged ``short`` and have no rows.

    Raises:
        ConfigError: k or draws below 1.

    Example:
        >>> subset_members(np.array([0, 0, 0]), 1, 2, draws=3).positions.tolist()  # C(3, 2) = 3: every pair
        [[0, 1], [0, 2], [1, 2]]
    """
    if k < 1 or draws < 1:
        raise ConfigError(f"raters k and draws must be at least 1, got k={k}, draws={draws}")
    limit = draws if enumerate_limit is None else enumerate_limit
    rng = np.random.default_rng([seed, k])
    sizes = np.bincount(item_code, minlength=n_items)
    order = np.argsort(item_code, kind="stable")
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    items, weights, positions = [np.zeros(0, np.int64)], [np.zeros(0)], [np.zeros((0, k), np.int64)]
    exact = np.zeros(n_items, dtype=bool)
    for size in np.unique(sizes[sizes >= k]):
        members = np.flatnonzero(sizes == size)
        panel = order[start[members][:, None] + np.arange(size)]  # members x size rating positions
        picked = _subset_positions(int(size), k, len(members), draws, limit, rng)
        chosen = np.take_along_axis(panel[:, None, :], picked, axis=-1)  # members x subsets x k
        subsets = chosen.shape[1]
        exact[members] = math.comb(int(size), k) <= limit
        items.append(np.repeat(members, subsets))
        weights.append(np.full(len(members) * subsets, 1.0 / subsets))
        positions.append(chosen.reshape(-1, k))
    return Members(np.concatenate(items), np.concatenate(weights), np.concatenate(positions), exact, sizes < k)


def draw_subsets(votes: PanelVotes, k: int, draws: int, seed: int = 0, enumerate_limit: int | None = None) -> Subsets:
    """Every item's k-vote subsets (:func:`subset_members`) as vote counts per label.

    Args:
        votes: one condition's votes (:func:`panel_votes`).
        k: raters per subset, at least 1.
        draws: B, the number of random subsets per item (and the enumeration limit).
        seed: the seed; the same (votes, k, draws, seed) give the same subsets.
        enumerate_limit: enumerate when C(n_i, k) is at most this (default ``draws``; 0: always draw).

    Returns:
        The :class:`Subsets`; items with fewer than k votes are flagged ``short`` and have no rows.

    Raises:
        ConfigError: k or draws below 1.

    Example:
        >>> votes = PanelVotes(None, pd.Index(["x"]), np.zeros(3, int), np.array([0, 0, 1]), ["A", "S"], 2)
        >>> draw_subsets(votes, 2, draws=10).counts.tolist()  # C(3, 2) = 3 <= 10: all pairs
        [[2, 0], [1, 1], [1, 1]]
    """
    members = subset_members(votes.item_code, len(votes.items), k, draws, seed, enumerate_limit)
    chosen = votes.label_code[members.positions]  # rows x k
    counts = np.stack([(chosen == label).sum(axis=1) for label in range(len(votes.labels))], axis=1)
    return Subsets(k, members.item, members.weight, counts.astype(np.int64), members.exact, members.short)


def item_resamples(n_items: int, n_boot: int, seed: int) -> np.ndarray:
    """How often each item is drawn in each of ``n_boot`` resamples of the items with replacement (n_boot x items).

    A statistic made of per-item sums is then ``weights @ pieces`` for every resample at once.

    >>> item_resamples(5, 3, seed=0).sum(axis=1).tolist()
    [5.0, 5.0, 5.0]
    """
    rng = np.random.default_rng([seed, n_items])
    picks = rng.integers(0, n_items, size=(n_boot, n_items)) + np.arange(n_boot)[:, None] * n_items
    return np.bincount(picks.ravel(), minlength=n_boot * n_items).reshape(n_boot, n_items).astype(float)
