"""Likert intensity ratings to labels (METHODS.md section 2): per emotion intensity scores under a gold
standard (mean, median, EWE, z-norm) and their binarisation at a threshold.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError
from voxpop.labels.counting import _count_array, _labelset
from voxpop.labels.labelset import LabelSet
from voxpop.labels.registry import DEFAULT_LIKERT_THRESHOLD
from voxpop.labels.voting import Excluded, _class_codes, _item_codes, _select


def likert_scores(
    ratings: pd.DataFrame,
    classes: Sequence[str],
    *,
    slot: str | None = "intensity",
    scale: Sequence[float] | None = None,
    conditions: str | Sequence[str] | None = None,
    pool: bool = True,
    class_map: Mapping[str, str] | None = None,
    excluded: Sequence[str] = (),
    items: pd.Index | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Intensity scores s_ic = (mean_r v_irc - lo) / (hi - lo) in [0, 1]: mean rating / scale max on a 0..max scale.

    ``scale`` = (lo, hi), the slot's declared scale (``Corpus.scales``); default (0, largest value
    observed). The mean runs over the raters who rated emotion c on item i; no rating gives NaN.
    Excluded-class ratings are ignored here (:func:`vote_counts` counts them). Other gold standards
    than the mean: :func:`likert_gold_scores`.

    Three raters on 0..3 give steps of 1/9:

    >>> ratings = pd.DataFrame({"item": ["a"] * 6, "rater": ["r1", "r2", "r3"] * 2,
    ...                         "slot": "intensity", "label": ["happy"] * 3 + ["sad"] * 3,
    ...                         "value": [1, 0, 0, 3, 2, 1]})
    >>> scores = likert_scores(ratings, ["happy", "sad"], scale=(0, 3))
    >>> scores.round(4)
           happy     sad
    item
    a     0.1111  0.6667
    >>> (scores * 9).round(6).loc["a"].tolist()
    [1.0, 6.0]
    """
    selected = _select(ratings, slot, conditions, pool, ["item", "label", "value"])
    item_code, index, class_code, values, (low, high) = _likert_ratings(
        selected, classes, slot, scale, class_map, excluded, items
    )
    inside = class_code >= 0
    size = len(index) * len(classes)
    flat = item_code[inside] * len(classes) + class_code[inside]
    sums = np.bincount(flat, weights=values[inside], minlength=size)
    n = np.bincount(flat, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(n > 0, (sums / n - low) / (high - low), np.nan)
    return pd.DataFrame(scores.reshape(len(index), len(classes)), index=index, columns=list(classes))


def _likert_ratings(
    selected: pd.DataFrame,
    classes: Sequence[str],
    slot: str | None,
    scale: Sequence[float] | None,
    class_map: Mapping[str, str] | None,
    excluded: Sequence[str],
    items: pd.Index | Sequence[str] | None,
) -> tuple[np.ndarray, pd.Index, np.ndarray, np.ndarray, tuple[float, float]]:
    """Item and class codes (-1: outside the class set), numeric values and the scale (lo, hi) of selected
    Likert ratings; InputError for a rating without a number, ConfigError for a scale with lo >= hi."""
    item_code, index = _item_codes(selected, items)
    class_code = _class_codes(selected, classes, class_map, excluded)
    values = pd.to_numeric(selected["value"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    inside = class_code >= 0
    if np.isnan(values[inside]).any():
        item = selected["item"].iloc[int(np.flatnonzero(inside & np.isnan(values))[0])]
        raise InputError(f"ratings column 'value': a {slot} rating of item {item!r} has no number; expected a value")
    low, high = (0.0, float(values[inside].max(initial=0.0))) if scale is None else map(float, scale)
    if not high > low:
        raise ConfigError(f"Likert scale ({low:g}, {high:g}) must have min < max; declare it in corpus.yaml 'scales'")
    return item_code, index, class_code, values, (low, high)


def likert_gold_scores(
    ratings: pd.DataFrame,
    classes: Sequence[str],
    gold_standard: str = "mean",
    *,
    slot: str | None = "intensity",
    scale: Sequence[float] | None = None,
    conditions: str | Sequence[str] | None = None,
    pool: bool = True,
    class_map: Mapping[str, str] | None = None,
    excluded: Sequence[str] = (),
    items: pd.Index | Sequence[str] | None = None,
    min_ratings_per_rater: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Intensity scores by a numeric gold standard, and its per-rater table (METHODS.md section 2).

    ``gold_standard``: ``mean`` (:func:`likert_scores`, no rater table), ``median``, ``ewe`` or ``znorm``
    (:func:`voxpop.labels.continuous.gold_standard`), computed per emotion over the ratings of that emotion
    (EWE weights and z-norm statistics are per rater *and* emotion), then put on the [0, 1] unit scale
    (:func:`voxpop.labels.continuous.likert_unit_score`, the same (lo, hi) as :func:`likert_scores`). A z-normed
    score may leave [0, 1] (it removes each rater's bias, mapped back with the emotion's overall mean
    and sd). Returns (scores items x classes, NaN where no rating; raters indexed by (rater, class):
    ``n_ratings`` and ``weight``, ``reason`` (ewe) or ``mean``, ``sd``, ``bias``, ``n_set_aside``, ``reason``
    (znorm), None for mean / median). z-norm sets aside the ratings of a rater with fewer than
    ``min_ratings_per_rater`` (default 2) ratings of the emotion or with unvarying ones: a score without a
    usable rating is NaN. ``ewe`` and ``znorm`` need a ``rater`` column (InputError otherwise); raises
    what :func:`likert_scores` raises for values and scales, ConfigError for ``min_ratings_per_rater``
    with another gold standard.
    """
    scores, raters, _ = _likert_gold(ratings, classes, gold_standard, slot, scale, conditions, pool, class_map,
                                     excluded, items, min_ratings_per_rater)  # fmt: skip
    return scores, raters


def _likert_gold(ratings, classes, gold_standard, slot, scale, conditions, pool, class_map, excluded, items,
                 min_ratings_per_rater):  # fmt: skip
    """:func:`likert_gold_scores` and the ratings it set aside per item and class (None for mean / median)."""
    from voxpop.labels.continuous import gold_standard as numeric_gold_standard
    from voxpop.labels.continuous import likert_unit_score

    common = {"slot": slot, "scale": scale, "class_map": class_map, "excluded": excluded, "items": items}
    if min_ratings_per_rater is not None and gold_standard != "znorm":
        raise ConfigError(
            f"min_ratings_per_rater applies to gold_standard znorm, not {gold_standard!r}; remove it or use znorm"
        )
    if gold_standard == "mean":
        return likert_scores(ratings, classes, conditions=conditions, pool=pool, **common), None, None
    if gold_standard in ("ewe", "znorm") and "rater" not in ratings.columns:
        raise InputError(
            f"Likert gold standard {gold_standard!r} weighs or normalises each rater, but the ratings have no "
            "'rater' column; use gold_standard mean or median, or import per-rater ratings"
        )
    wanted = ["item", "label", "value", *(["rater"] if "rater" in ratings.columns else [])]
    selected = _select(ratings, slot, conditions, pool, wanted)
    item_code, index, class_code, values, unit = _likert_ratings(
        selected, classes, slot, scale, class_map, excluded, items
    )
    long = pd.DataFrame(
        {
            "item": np.asarray(index, dtype=object)[item_code],
            "rater": selected["rater"].to_numpy(dtype=object) if "rater" in selected.columns else None,
            "value": values,
            "class": class_code,
        }
    )
    minimum = {} if min_ratings_per_rater is None else {"min_ratings_per_rater": min_ratings_per_rater}
    scores, tables, set_aside = {}, [], np.zeros((len(index), len(classes)), dtype=np.int64)
    for position, name in enumerate(classes):
        part = long[long["class"].to_numpy() == position]
        if part.empty:
            scores[name] = pd.Series(np.nan, index=index)
            continue
        value, raters = numeric_gold_standard(part, gold_standard, **minimum)
        scores[name] = likert_unit_score(value.reindex(index.astype(object)).set_axis(index), unit)
        tables.append(raters.assign(**{"class": name}).set_index("class", append=True))
        if "n_set_aside" in raters.columns:
            aside = part["rater"].isin(raters.index[raters["n_set_aside"].to_numpy() > 0]).to_numpy()
            set_aside[:, position] = np.bincount(item_code[class_code == position][aside], minlength=len(index))
    frame = pd.DataFrame(scores, index=index, columns=list(classes))
    if gold_standard == "median" or not tables:
        return frame, None, None
    return frame, pd.concat(tables), pd.DataFrame(set_aside, index=index, columns=list(classes))


def likert_binarize(
    scores: pd.DataFrame,
    threshold: float = DEFAULT_LIKERT_THRESHOLD,
    *,
    counts: pd.DataFrame | None = None,
    excluded: Excluded = None,
    set_aside: pd.DataFrame | None = None,
) -> LabelSet:
    """Multi-label targets from intensity scores: y_ic = 1 iff s_ic >= t; items with no positive emotion dropped.

    t = 0.01 means "any rater saw it". ``counts``: the number of ratings behind each score
    (``vote_counts(..., slot="intensity")``); the accounting loses the ratings of dropped items
    (without ``counts`` each score counts as one rating). NaN scores (no rating) are negative.
    ``set_aside``: the ratings (items x classes, like ``counts``) the gold standard set aside (z-norm);
    they never support a target, and items all of whose ratings were set aside are counted in
    ``accounting.items_without_usable_rating``.

    >>> scores = pd.DataFrame([[1 / 9, 6 / 9], [0.0, 0.0], [0.0, 3 / 9]], index=["a", "b", "c"],
    ...                       columns=["happy", "sad"])
    >>> labels = likert_binarize(scores, 0.3)
    >>> labels.targets.astype(int)
       happy  sad
    a      0    1
    b      0    0
    c      0    1
    >>> likert_binarize(scores).targets.loc["a"].tolist(), labels.kept.tolist()
    ([1.0, 1.0], [True, False, True])
    """
    if not 0 <= threshold <= 1:
        raise ConfigError(f"Likert threshold must be in [0, 1] (scores are normalised), got {threshold}")
    s = scores.to_numpy(dtype=float)
    positive = s >= threshold
    kept = positive.any(axis=1)
    if counts is None:
        counts = pd.DataFrame((~np.isnan(s)).astype(np.int64), index=scores.index, columns=scores.columns)
    n = _count_array(counts)
    aside = np.zeros_like(n) if set_aside is None else _count_array(set_aside.reindex_like(counts).fillna(0))
    labels = _labelset(
        "likert",
        counts,
        kept,
        positive & kept[:, None],
        int((n - aside)[kept].sum()),
        excluded,
        options={"threshold": threshold},
        multilabel=True,
    )
    rated = n.sum(axis=1)
    unusable = int(((rated > 0) & (aside.sum(axis=1) == rated)).sum())
    accounting = dataclasses.replace(
        labels.accounting, ratings_set_aside=int(aside.sum()), items_without_usable_rating=unusable
    )
    return dataclasses.replace(labels, accounting=accounting)
