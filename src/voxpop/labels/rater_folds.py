"""Rater folds (issue #27 item 4): items *and* raters split into k folds, so that no model is scored on the labels
of a rater whose ratings trained it.

The items are dealt into k folds by the protocol (speaker-independent, as ``speaker_folds``); the raters are
shuffled with ``seed`` and dealt round robin into k groups. An item of fold g keeps only the ratings of rater
group g; every other rating of it is set aside and counted. Any label rule then builds one label set from the
kept ratings. In fold f the test items (fold f) are labelled by the held-out raters (group f) alone, and every
training or development item (another fold g) by group g, which holds none of fold f's raters: training labels
come from training raters only, test labels from the held-out raters only, and items are disjoint between folds.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError
from voxpop.corpus.corpus import Corpus


def rater_groups(raters: pd.Series | list[str], k: int, seed: int = 0) -> dict[str, int]:
    """The group (0 .. k-1) of each rater: the sorted rater ids shuffled with ``seed``, dealt round robin.

    Args:
        raters: rater ids (repeats allowed).
        k: the number of groups (the folds).
        seed: the seed of the shuffle.

    Returns:
        rater id -> group.

    Raises:
        ConfigError: fewer raters than groups.

    Example:
        >>> sorted(rater_groups(["a", "b", "c", "d"], 2).values())
        [0, 0, 1, 1]
    """
    unique = np.array(sorted({str(r) for r in raters}))
    if len(unique) < k:
        raise ConfigError(f"rater folds: k={k} needs at least {k} raters; the ratings have {len(unique)}")
    order = np.random.default_rng(seed).permutation(unique)
    return {str(rater): i % k for i, rater in enumerate(order)}


def rater_fold_ratings(corpus: Corpus, item_fold: Mapping[str, int], k: int, seed: int = 0) -> tuple[Corpus, int]:
    """The corpus whose items keep only the ratings of their fold's rater group (see the module docstring).

    Args:
        corpus: the corpus, with rater ids.
        item_fold: item id -> its fold (0 .. k-1), the fold that tests it.
        k: the number of folds.
        seed: the seed of the rater groups (:func:`rater_groups`).

    Returns:
        ``(corpus, set_aside)``: the corpus with the kept ratings, and how many ratings were set aside (those of
        another group, or of an item no fold tests).

    Raises:
        VoxpopError: ratings without rater ids (vote counts only).
        ConfigError: fewer raters than folds.

    Example:
        >>> items = pd.DataFrame(index=["x", "y"])
        >>> ratings = pd.DataFrame({"item": list("xxyy"), "rater": list("abab"), "label": list("AASS")})
        >>> kept, aside = rater_fold_ratings(Corpus("toy", items, ratings, classes=["A", "S"]), {"x": 0, "y": 1}, 2)
        >>> len(kept.ratings), aside  # each item keeps the rating of its fold's rater
        (2, 2)
    """
    corpus.require_rater_ids("rater folds")
    ratings = corpus.ratings
    groups = rater_groups(ratings["rater"].astype(str), k, seed)
    rater_group = ratings["rater"].astype(str).map(groups).to_numpy(dtype=float)
    fold = ratings["item"].astype(str).map(lambda item: item_fold.get(item, -1)).to_numpy(dtype=float)
    keep = rater_group == fold
    return with_ratings(corpus, keep), int((~keep).sum())


def with_ratings(corpus: Corpus, keep: np.ndarray) -> Corpus:
    """The corpus with the same items and only the ratings ``keep`` marks (a boolean per rating row).

    >>> toy = Corpus("toy", pd.DataFrame(index=["x"]), pd.DataFrame({"item": ["x", "x"], "label": ["A", "S"]}),
    ...              classes=["A", "S"])
    >>> with_ratings(toy, np.array([True, False])).ratings["label"].tolist(), len(toy.ratings)
    (['A'], 2)
    """
    clone = copy.copy(corpus)
    clone.ratings = corpus.ratings[np.asarray(keep, dtype=bool)].reset_index(drop=True)
    return clone
