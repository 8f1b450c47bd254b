"""Disagreement as a target: how much the raters of each item disagree, a continuous label set (issue #27 item 2).

For classes (slot ``primary``) the value is the **normalised entropy** of the item's vote distribution over the
C classes of the class set:

    d_i = H(p_i) / log C,   H(p_i) = - sum_c p_ic log p_ic,   p_ic = n_ic / sum_c n_ic

(0: every rater chose the same class; 1: the votes are spread evenly over all C classes; 0 log 0 = 0). The
vote counts n_ic are those of the all-inclusive rule (:func:`voxpop.labels.counting.all_inclusive`, the same
condition, pooling, classes and class map); votes for labels outside the class set are not part of p_i.

For dimensions (any slot with numeric ratings, e.g. ``dimension``) the value is the raters' **standard
deviation** per item and dimension (population form, ddof = 0, on the corpus scale: the ``spread`` of
:func:`voxpop.labels.continuous.continuous_labels`), whose largest possible value is (high - low) / 2.

Either way the result is a :class:`~voxpop.labels.continuous.ContinuousLabelSet` (one column ``disagreement``
for classes, one per dimension for dimensions), so a regressor learns it and it is scored with CCC / Pearson r
like any dimension; an item with fewer than ``min_raters`` ratings has no disagreement to learn and is not kept
(counted in the accounting). In a recipe: ``{rule: disagreement, condition: voice}`` or
``{rule: disagreement, slot: dimension, dimensions: [arousal]}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
import pydantic

from voxpop.core.errors import ConfigError
from voxpop.corpus.corpus import STRING, Corpus
from voxpop.labels.continuous import ContinuousLabelSet, continuous_labels
from voxpop.labels.rules import make_labels

DISAGREEMENT_RULE = "disagreement"
"""The rule name of a disagreement label set in recipes (``rule: disagreement``)."""

VOTE_SLOT = "primary"
"""The slot whose votes give the entropy; any other slot is read as numeric ratings (standard deviation)."""

DEFAULT_MIN_RATERS = 2


def normalised_entropy(counts: np.ndarray | pd.DataFrame) -> np.ndarray:
    """Normalised entropy H(p) / log C of each row's vote distribution (NaN for a row without votes).

    Args:
        counts: votes, shape (items, C) with C >= 2.

    Returns:
        Shape (items,), values in [0, 1].

    Raises:
        ConfigError: fewer than two classes (entropy is not defined against one class).

    Example:
        >>> normalised_entropy(np.array([[4, 0, 0], [1, 1, 1], [2, 2, 0]])).round(4).tolist()
        [0.0, 1.0, 0.6309]
    """
    array = np.asarray(counts, dtype=float)
    if array.ndim != 2 or array.shape[1] < 2:
        raise ConfigError(f"disagreement (normalised entropy) needs at least 2 classes, got shape {array.shape}")
    totals = array.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = array / totals
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    entropy = terms.sum(axis=1) / np.log(array.shape[1])
    return np.where(totals[:, 0] > 0, entropy, np.nan)


def _vote_disagreement(
    corpus: Corpus,
    condition: str | list[str] | None,
    pool: bool,
    classes: Sequence[str] | None,
    class_map: Mapping[str, str] | None,
    min_raters: int,
) -> ContinuousLabelSet:
    votes = make_labels(corpus, "ar", condition=condition, pool=pool, classes=classes, class_map=class_map)
    counts = votes.counts.astype(float)
    n = counts.sum(axis=1)
    value = pd.Series(normalised_entropy(counts.to_numpy()), index=counts.index).where(n >= min_raters)
    index = pd.Index(counts.index.astype(str), name="item", dtype=STRING)
    values = pd.DataFrame({DISAGREEMENT_RULE: value.to_numpy()}, index=index)
    return ContinuousLabelSet(
        values=values,
        spread=pd.DataFrame({DISAGREEMENT_RULE: np.nan}, index=index),
        n_raters=pd.DataFrame({DISAGREEMENT_RULE: n.to_numpy(dtype=int)}, index=index),
        kept=values[DISAGREEMENT_RULE].notna().rename("kept"),
        method="entropy",
        scale={DISAGREEMENT_RULE: (0.0, 1.0)},
        raters=pd.DataFrame(),
        options={
            "rule": DISAGREEMENT_RULE,
            "slot": VOTE_SLOT,
            "condition": votes.options.get("condition"),
            "pool": pool,
            "classes": list(votes.classes),
            "min_raters": min_raters,
        },
    )


def _rating_disagreement(
    corpus: Corpus, slot: str, dimensions: Sequence[str] | None, condition: str | list[str] | None, min_raters: int
) -> ContinuousLabelSet:
    gold = continuous_labels(corpus, slot, dimensions, "mean", condition=condition)
    enough = gold.n_raters >= min_raters
    values = gold.spread.where(enough)
    return ContinuousLabelSet(
        values=values,
        spread=pd.DataFrame(np.nan, index=values.index, columns=values.columns),
        n_raters=gold.n_raters,
        kept=values.notna().all(axis=1).rename("kept"),
        method="sd",
        scale={d: (0.0, (high - low) / 2) for d, (low, high) in gold.scale.items()},
        raters=pd.DataFrame(),
        options={"rule": DISAGREEMENT_RULE, "slot": slot, "condition": condition, "min_raters": min_raters},
    )


def disagreement_labels(
    corpus: Corpus,
    *,
    slot: str = VOTE_SLOT,
    dimensions: Sequence[str] | None = None,
    condition: str | list[str] | None = None,
    pool: bool = False,
    classes: Sequence[str] | None = None,
    class_map: Mapping[str, str] | None = None,
    min_raters: int = DEFAULT_MIN_RATERS,
) -> ContinuousLabelSet:
    """The raters' disagreement per item as a continuous label set (see the module docstring).

    Args:
        corpus: the corpus whose ratings are read.
        slot: ``primary`` (votes: normalised entropy) or a slot of numeric ratings (standard deviation).
        dimensions: numeric slots: the labels of ``slot`` to use (default all); not for ``primary``.
        condition: keep these conditions' ratings (several with ``pool``, as :func:`make_labels`).
        pool: votes: pool several conditions (the all-inclusive rule's pooling).
        classes: votes: the class set (default every corpus class).
        class_map: votes: renames before counting (as :func:`make_labels`).
        min_raters: the fewest ratings an item needs to be kept (>= 2: one rating cannot disagree).

    Returns:
        A :class:`ContinuousLabelSet`: items x ``disagreement`` (votes) or items x dimensions (numeric), with
        ``n_raters`` the ratings counted and ``method`` ``entropy`` or ``sd``.

    Raises:
        ConfigError: ``min_raters`` below 2, ``dimensions`` with slot ``primary``, or what :func:`make_labels` /
            :func:`continuous_labels` raise (unknown condition, a slot without numeric ratings ...).

    Example:
        >>> items = pd.DataFrame(index=["x", "y"])
        >>> ratings = pd.DataFrame({"item": list("xxxyyy"), "rater": list("abcabc"), "label": list("AAAASN")})
        >>> d = disagreement_labels(Corpus("toy", items, ratings, classes=["A", "S", "N"]))
        >>> d.values["disagreement"].round(4).tolist()
        [0.0, 1.0]
    """
    if min_raters < 2:
        raise ConfigError(f"disagreement: min_raters must be at least 2 (one rating cannot disagree), got {min_raters}")
    if slot == VOTE_SLOT:
        if dimensions is not None:
            raise ConfigError("disagreement: dimensions apply to a slot of numeric ratings, not to slot 'primary'")
        return _vote_disagreement(corpus, condition, pool, classes, class_map, min_raters)
    return _rating_disagreement(corpus, slot, dimensions, condition, min_raters)


class DisagreementSpec(pydantic.BaseModel):
    """A disagreement label set of a recipe: ``{rule: disagreement, ...}`` (:func:`disagreement_labels`' keys).

    >>> DisagreementSpec(rule="disagreement", condition="voice").slot
    'primary'
    """

    model_config = pydantic.ConfigDict(extra="forbid", allow_inf_nan=False)

    rule: Literal["disagreement"]
    slot: str = VOTE_SLOT
    dimensions: list[str] | None = pydantic.Field(None, min_length=1)
    condition: str | list[str] | None = None
    pool: bool = False
    min_raters: int = pydantic.Field(DEFAULT_MIN_RATERS, ge=2)

    def config(self) -> dict:
        """The spec as the labels stage hashes it and :func:`voxpop.labels.label_sets.build_label_set` reads it."""
        return self.model_dump()

    def build(
        self, corpus: Corpus, classes: Sequence[str] | None = None, class_map: Mapping[str, str] | None = None
    ) -> ContinuousLabelSet:
        """The label set on ``corpus`` (the recipe's ``classes`` / ``class_map`` for votes)."""
        options = self.model_dump(exclude={"rule"})
        return disagreement_labels(corpus, classes=classes, class_map=class_map, **options)
