"""Label rules (METHODS.md section 2): from the long ratings table to training and test targets.

Three layers:

1. **count matrices** from the long ratings table: :func:`vote_counts` (items x classes vote counts),
   :func:`list_votes` (raters whose multi-choice list names each class), :func:`likert_scores`;
2. **rules** on those tables, each returning a :class:`~voxpop.labelset.LabelSet` with its
   :class:`~voxpop.labelset.Accounting`: :func:`majority`, :func:`plurality`, :func:`all_inclusive`,
   :func:`all_inclusive_test`, :func:`primary_distribution`, :func:`secondary_distribution`,
   :func:`filter_agreement`, :func:`likert_binarize`, :func:`interval_consensus`, :func:`smooth`;
3. :class:`RuleInput` (what a rule reads: counts over the class set and every other label, pooled by
   sum or mean), the registry implementations (``*_rule``, named in :mod:`voxpop.rules`),
   :func:`make_labels`, the dispatcher used by the CLI and the experiment runner, and
   :func:`accounting_table` (data and rating loss of several rules on every condition).

Denominator (METHODS.md section 2): MR, PR and the agreement filters count every rating of the item
(N_i includes labels outside the class set) and keep an item only if its winning label is a selected
class; ``denominator="selected"`` restores counting only ratings on selected classes.

Accounting: data loss = dropped items / items; rating loss = ratings that do not support the kept
target / ratings. For the counting rules a rating supports its item's target when the item is kept
and the rating's class has a non-zero target (so MR/PR lose minority ratings, AR only excluded-class
ratings); ratings of classes outside the class set never support anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxpop.classmap import resolve_classes
from voxpop.corpus import EMOTION_SLOTS, STRING, Corpus
from voxpop.errors import ConfigError, InputError, VoxpopError, option
from voxpop.labelset import Accounting, LabelSet
from voxpop.rules import (
    DEFAULT_LIKERT_THRESHOLD,
    DENOMINATORS,
    POOLINGS,
    RULES,
    TIE_POLICIES,
    Rule,
    check_options,
    get_rule,
)

TOLERANCE = 1e-9
"""Shares closer than this count as equal (mean pooling averages fractions, which are not exact)."""

Excluded = pd.DataFrame | pd.Series | int | None
"""Ratings outside the class set: items x labels, per item, or a total (accounting only)."""


# ====================================================================== layer 1: count matrices
def _as_list(values: str | Sequence[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [values] if isinstance(values, str) else [str(v) for v in values]


def _select(
    ratings: pd.DataFrame,
    slot: str | None,
    conditions: str | Sequence[str] | None,
    pool: bool,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The ratings of one slot and the chosen conditions; several conditions only when ``pool``.

    ``columns`` limits the copy to the columns the caller reads (plus ``condition``).
    """
    mask = np.ones(len(ratings), dtype=bool)
    if slot is not None and "slot" in ratings.columns:
        mask &= ratings["slot"].eq(slot).to_numpy(dtype=bool, na_value=False)
    has_condition = "condition" in ratings.columns
    chosen = _as_list(conditions)
    if chosen is not None:
        if not has_condition:
            raise ConfigError(f"conditions {chosen} were requested, but the ratings have no 'condition' column")
        mask &= ratings["condition"].isin(chosen).to_numpy(dtype=bool, na_value=False)
    if columns is not None:
        keep = [c for c in dict.fromkeys([*columns, "condition"]) if c in ratings.columns]
        selected = ratings.loc[mask, keep]
    else:
        selected = ratings[mask]
    if not pool and has_condition:
        present = [str(c) for c in selected["condition"].dropna().unique()]
        if len(present) > 1:
            raise ConfigError(
                f"the ratings cover {len(present)} conditions ({', '.join(present)}); choose one with "
                f"{option('condition')}, or pool them with {option('pool', True)}"
            )
    return selected


def _item_codes(item: pd.Series, items: pd.Index | Sequence[str] | None) -> tuple[np.ndarray, pd.Index]:
    """Row position of every rating's item in the result index (``items``, else order of appearance)."""
    codes, uniques = pd.factorize(item)
    if items is None:
        return codes, pd.Index(uniques, name="item", dtype=STRING)
    index = pd.Index(items, name="item", dtype=STRING)
    position = index.get_indexer(uniques)
    if (position < 0).any():
        unknown = list(uniques[position < 0][:5])
        raise InputError(f"ratings name items that are not in the item index, e.g. {unknown}")
    return position[codes], index


def _class_codes(
    selected: pd.DataFrame,
    classes: Sequence[str],
    class_map: Mapping[str, str] | None,
    excluded: Sequence[str],
) -> np.ndarray:
    """Per rating the position of its (mapped) label in ``classes``, or -1 for a label outside the set.

    Labels are mapped through ``class_map``; a mapped label that is not a class is excluded (counted,
    never a target). A label that is neither a class, nor excluded, nor a class-map key is an error.
    """
    class_map = dict(class_map or {})
    codes, uniques = pd.factorize(selected["label"])
    if (codes < 0).any():
        item = selected["item"].iloc[int(np.flatnonzero(codes < 0)[0])]
        raise InputError(f"ratings column 'label': empty label (first on item {item!r}); every rating needs a label")
    known = set(classes) | set(excluded) | set(class_map)
    unknown = [u for u in uniques if u not in known]
    if unknown:
        first = selected["item"].iloc[int(np.flatnonzero(codes == uniques.get_loc(unknown[0]))[0])]
        raise InputError(
            f"ratings column 'label': {unknown[:5]} (first on item {first!r}) are neither classes "
            f"({', '.join(classes)}) nor excluded ({', '.join(excluded) or 'none'}); "
            "add them to the class map or to the excluded classes"
        )
    position = {c: i for i, c in enumerate(classes)}
    lookup = np.array([position.get(class_map.get(u, u), -1) for u in uniques], dtype=np.int64)
    return lookup[codes]


def vote_counts(
    ratings: pd.DataFrame,
    classes: Sequence[str],
    *,
    slot: str | None = "primary",
    conditions: str | Sequence[str] | None = None,
    pool: bool = True,
    class_map: Mapping[str, str] | None = None,
    excluded: Sequence[str] = (),
    items: pd.Index | Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Vote counts n_ic (items x classes) and per item the number of excluded-class ratings.

    Counts every rating of ``slot`` (None: all slots) in ``conditions`` (None: all); several
    conditions are summed (pooled), which requires ``pool=True``. Labels are mapped through
    ``class_map``; labels outside ``classes`` (``excluded``, or mapped to a non-class) are not counted
    in n_ic but in the second result. ``items`` fixes the row index (unrated items get zero rows);
    by default the rated items in order of first appearance.

    Pooled conditions (METHODS.md): voice A*2,S*2,N*4 + face A*4,S*2,N*2 + AV A*6,S*2 -> A*12,S*6,N*6.

    >>> votes = {"voice": "AASSNNNN", "face": "AAAASSNN", "av": "AAAAAASS"}
    >>> ratings = pd.DataFrame([("clip", cond, label) for cond, labels in votes.items() for label in labels],
    ...                        columns=["item", "condition", "label"])
    >>> counts, excluded = vote_counts(ratings, ["A", "S", "N"])
    >>> counts
          A  S  N
    item
    clip  12  6  6
    >>> vote_counts(ratings, ["A", "S"], conditions="voice", excluded=["N"])[1].tolist()
    [4]
    """
    selected = _select(ratings, slot, conditions, pool, ["item", "label"])
    item_code, index = _item_codes(selected["item"], items)
    class_code = _class_codes(selected, classes, class_map, excluded)
    n_items, n_classes = len(index), len(classes)
    inside = class_code >= 0
    flat = np.bincount(item_code[inside] * n_classes + class_code[inside], minlength=n_items * n_classes)
    counts = pd.DataFrame(flat.reshape(n_items, n_classes), index=index, columns=list(classes))
    outside = pd.Series(np.bincount(item_code[~inside], minlength=n_items), index=index, name="excluded")
    return counts, outside


def _first_of_runs(ordered: np.ndarray) -> np.ndarray:
    """Mask of the first element of each run of equal values in a sorted array."""
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    return first


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct integers (np.unique takes seconds on a few million int64 under numpy 2.4; np.sort does not)."""
    ordered = np.sort(values)
    return ordered[_first_of_runs(ordered)]


def list_votes(
    ratings: pd.DataFrame,
    classes: Sequence[str],
    *,
    slot: str | None = "secondary",
    conditions: str | Sequence[str] | None = None,
    pool: bool = True,
    class_map: Mapping[str, str] | None = None,
    excluded: Sequence[str] = (),
    items: pd.Index | Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Multi-choice votes: v_ic = raters whose list for item i names class c; L_i = lists given for item i.

    One list is one rater's answer in one condition (one row per chosen label). A list that names a
    class twice (two labels mapped to one class) counts once; a list of excluded labels only still
    counts in L_i. Needs rater ids.

    Lists {N,S}, {N,O}, {S,U}, {N,S,O} with O excluded: N and S are each named by 3 of 4 raters.

    >>> lists = {"r1": "NS", "r2": "NO", "r3": "SU", "r4": "NSO"}
    >>> ratings = pd.DataFrame([("clip", r, "secondary", x) for r, xs in lists.items() for x in xs],
    ...                        columns=["item", "rater", "slot", "label"])
    >>> votes, n_lists = list_votes(ratings, ["N", "S", "U"], excluded=["O"])
    >>> votes.loc["clip"].tolist(), n_lists.tolist()
    ([3, 3, 1], [4])
    """
    selected = _select(ratings, slot, conditions, pool, ["item", "rater", "label"])
    if "rater" not in selected.columns or selected["rater"].isna().any():
        raise VoxpopError(
            "agreement on multi-choice lists needs rater ids (which labels one rater listed), but some "
            f"{slot or ''} ratings have no rater; import per-rater responses"
        )
    item_code, index = _item_codes(selected["item"], items)
    class_code = _class_codes(selected, classes, class_map, excluded)
    rater_code = pd.factorize(selected["rater"])[0].astype(np.int64)
    if "condition" in selected.columns:  # one list per rater and condition
        condition_code = pd.factorize(selected["condition"])[0] + 1  # 0 = no condition
        rater_code = rater_code * (int(condition_code.max(initial=0)) + 1) + condition_code
    n_raters, n_classes = int(rater_code.max(initial=0)) + 1, len(classes)
    list_code = item_code.astype(np.int64) * n_raters + rater_code
    n_lists = np.bincount(_distinct(list_code) // n_raters, minlength=len(index))
    inside = class_code >= 0
    listed = _distinct(list_code[inside] * n_classes + class_code[inside])  # each class once per list
    flat = np.bincount(
        listed // n_classes // n_raters * n_classes + listed % n_classes, minlength=len(index) * n_classes
    )
    votes = pd.DataFrame(flat.reshape(len(index), n_classes), index=index, columns=list(classes))
    return votes, pd.Series(n_lists, index=index, name="lists")


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
    item_code, index = _item_codes(selected["item"], items)
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
    (:func:`voxpop.dimensions.gold_standard`), computed per emotion over the ratings of that emotion
    (EWE weights and z-norm statistics are per rater *and* emotion), then put on the [0, 1] unit scale
    (:func:`voxpop.dimensions.likert_unit_score`, the same (lo, hi) as :func:`likert_scores`). A z-normed
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
    from voxpop.dimensions import gold_standard as numeric_gold_standard
    from voxpop.dimensions import likert_unit_score

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


# ====================================================================== layer 2: rules
def _count_array(counts: pd.DataFrame) -> np.ndarray:
    """The counts as int64 after checking they are non-negative whole numbers."""
    values = counts.to_numpy()
    if not np.issubdtype(values.dtype, np.number):
        raise InputError(f"counts must be numbers, got dtype {values.dtype}")
    bad = ~(values >= 0) | (values != np.round(values))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(
            f"counts, item {counts.index[row]!r}, column {counts.columns[col]!r}: expected a "
            f"non-negative whole number of votes, got {values[row, col]!r}"
        )
    return values.astype(np.int64)


def _excluded_total(excluded: Excluded) -> int:
    if excluded is None:
        return 0
    if isinstance(excluded, pd.DataFrame | pd.Series):
        return int(excluded.to_numpy().sum())
    return int(excluded)


def _outside_counts(excluded: Excluded, index: pd.Index, rule: str, per_label: bool) -> np.ndarray:
    """Ratings outside the class set as items x labels (a per-item Series is one column).

    ``per_label``: the rule finds the winner among all labels, so per-item totals are not enough.
    """
    if excluded is None or (not isinstance(excluded, pd.DataFrame | pd.Series) and int(excluded) == 0):
        return np.zeros((len(index), 0), dtype=np.int64)
    if isinstance(excluded, pd.DataFrame):
        return _count_array(excluded.reindex(index, fill_value=0))
    if isinstance(excluded, pd.Series) and (not per_label or excluded.eq(0).all()):
        return _count_array(excluded.reindex(index, fill_value=0).to_frame())
    what = "per-label counts (a DataFrame items x labels)" if per_label else "per-item counts"
    raise ConfigError(
        f"rule {rule!r} with denominator 'all' needs the ratings outside the class set as {what}, e.g. "
        "vote_counts over every label; or use denominator 'selected'"
    )


def _shares(
    rule: str,
    counts: pd.DataFrame,
    excluded: Excluded,
    denominator: str,
    shares: pd.DataFrame | None,
    per_label: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Per item the share of each selected class and of each label outside the class set (items x labels).

    ``denominator`` "all": shares of all the item's ratings (rows sum to 1 for rated items); "selected":
    of its ratings on selected classes (the outside part is empty). ``shares`` (items x all labels, e.g.
    mean-pooled distributions) replaces the shares computed from ``counts`` and ``excluded``.
    """
    if denominator not in DENOMINATORS:
        raise ConfigError(f"unknown denominator {denominator!r}; choose one of {', '.join(DENOMINATORS)}")
    if shares is not None:
        table = shares.reindex(counts.index, fill_value=0.0)
        selected = table[list(counts.columns)].to_numpy(dtype=float)
        outside = table.drop(columns=list(counts.columns)).to_numpy(dtype=float)
    else:
        selected = _count_array(counts).astype(float)
        outside = (
            _outside_counts(excluded, counts.index, rule, per_label).astype(float)
            if denominator == "all"
            else np.zeros((len(counts), 0))
        )
    if denominator == "selected":
        outside = np.zeros((len(counts), 0))
    total = selected.sum(axis=1) + outside.sum(axis=1)
    scale = np.where(total > 0, total, 1.0)[:, None]
    return selected / scale, outside / scale


def _supporting(counts: np.ndarray, targets: np.ndarray, kept: np.ndarray) -> int:
    """Ratings of kept items whose class has a non-zero target."""
    return int((counts * (targets > 0))[kept].sum())


def _labelset(
    rule: str,
    counts: pd.DataFrame,
    kept: np.ndarray,
    targets: np.ndarray,
    supporting: int,
    excluded: Excluded,
    *,
    options: dict | None = None,
    multilabel: bool = False,
    segments: pd.DataFrame | None = None,
    ratings_total: int | None = None,
    below_share: int = 0,
) -> LabelSet:
    """Assemble a LabelSet; ``ratings_total`` defaults to all counts plus the excluded-class ratings."""
    excluded_total = _excluded_total(excluded)
    accounting = Accounting(
        items_total=len(counts),
        items_kept=int(kept.sum()),
        ratings_total=int(counts.to_numpy().sum()) + excluded_total if ratings_total is None else ratings_total,
        ratings_supporting=supporting,
        ratings_excluded_class=excluded_total,
        items_below_selected_share=below_share,
    )
    return LabelSet(
        targets=pd.DataFrame(targets.astype(float), index=counts.index, columns=counts.columns),
        kept=pd.Series(kept, index=counts.index, name="kept"),
        counts=counts,
        rule=rule,
        accounting=accounting,
        options=dict(options or {}),
        multilabel=multilabel,
        segments=segments,
    )


def _counting_rule(
    rule: str, counts: pd.DataFrame, n: np.ndarray, kept: np.ndarray, targets: np.ndarray, excluded: Excluded, **kwargs
) -> LabelSet:
    """LabelSet of a rule on vote counts ``n`` (= ``counts`` checked): dropped rows zeroed, support counted."""
    targets = np.where(kept[:, None], targets, 0)
    return _labelset(rule, counts, kept, targets, _supporting(n, targets, kept), excluded, **kwargs)


def majority(
    counts: pd.DataFrame,
    *,
    excluded: Excluded = None,
    denominator: str = "all",
    shares: pd.DataFrame | None = None,
) -> LabelSet:
    """Majority rule (MR): keep item i iff its top label holds more than N_i / 2 and is a selected class.

    ``counts``: items x selected classes; ``excluded``: the item's ratings outside the class set (per
    item, per label, or a total for the accounting only). ``denominator`` "all" (METHODS.md section 2):
    N_i = all the item's ratings, so a majority of labels outside the set drops the item;
    "selected": N_i = its ratings on selected classes (the pre-2026 behaviour). ``shares``: mean-pooled
    distributions over all labels (:class:`RuleInput`) replace the counts' shares. Target: one-hot.
    Shares are compared with a tolerance of 1e-9 (means of fractions are not exact).

    >>> counts = pd.DataFrame([[3, 1, 0], [2, 2, 0], [2, 1, 1]], index=["x", "y", "z"], columns=["A", "S", "N"])
    >>> labels = majority(counts)
    >>> labels.targets
         A    S    N
    x  1.0  0.0  0.0
    y  0.0  0.0  0.0
    z  0.0  0.0  0.0
    >>> labels.accounting.items_kept, labels.accounting.ratings_supporting, labels.accounting.ratings_total
    (1, 3, 12)

    Classes {A, S}: x's 3 A of 3 + 2 other ratings is a majority, 3 of 3 + 4 other is not:

    >>> other = pd.Series([2, 4, 0], index=["x", "y", "z"])
    >>> majority(counts[["A", "S"]].assign(A=[3, 3, 0], S=0), excluded=other).kept.tolist()
    [True, False, False]
    """
    n = _count_array(counts)
    selected, _ = _shares("mr", counts, excluded, denominator, shares)
    kept = selected.max(axis=1, initial=0) > 0.5 + TOLERANCE
    winner = _one_hot(selected.argmax(axis=1), n.shape)
    return _counting_rule("mr", counts, n, kept, winner, excluded, options={"denominator": denominator})


def _one_hot(winner: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    hot = np.zeros(shape)
    hot[np.arange(shape[0]), winner] = 1.0
    return hot


def plurality(
    counts: pd.DataFrame,
    tie_policy: str = "drop",
    *,
    seed: int = 0,
    excluded: Excluded = None,
    denominator: str = "all",
    shares: pd.DataFrame | None = None,
) -> LabelSet:
    """Plurality rule (PR): keep item i iff its top label is unique and a selected class; target = one-hot of it.

    With ``denominator`` "all" the top label is found among all labels: ``excluded`` must then give
    the ratings outside the class set per label (items x labels). Tied top labels: ``tie_policy``
    "drop" (default) drops the item; "all" keeps it with a multi-hot target of the tied selected
    classes (``multilabel`` = True); "random" picks one tied label (``seed``) and keeps the item iff
    it is selected; "first" picks the first tied label, selected classes in class order before the
    others. Items without votes are always dropped.

    >>> counts = pd.DataFrame([[3, 1, 0], [2, 2, 0]], index=["x", "y"], columns=["A", "S", "N"])
    >>> plurality(counts).targets
         A    S    N
    x  1.0  0.0  0.0
    y  0.0  0.0  0.0
    >>> plurality(counts, "all").targets.loc["y"].tolist()
    [1.0, 1.0, 0.0]
    """
    if tie_policy not in TIE_POLICIES:
        raise ConfigError(f"unknown tie policy {tie_policy!r}; expected one of {', '.join(TIE_POLICIES)}")
    n = _count_array(counts)
    selected, outside = _shares("pr", counts, excluded, denominator, shares, per_label=True)
    top = np.maximum(selected.max(axis=1, initial=0), outside.max(axis=1, initial=0))
    rated = top > 0
    at_top = (selected >= top[:, None] - TOLERANCE) & rated[:, None]
    outside_at_top = (outside >= top[:, None] - TOLERANCE) & rated[:, None]
    if tie_policy == "drop":
        kept = (at_top.sum(axis=1) == 1) & ~outside_at_top.any(axis=1)
        targets = at_top.astype(float)
    elif tie_policy == "all":
        kept, targets = at_top.any(axis=1), at_top.astype(float)
    elif tie_policy == "first":
        kept, targets = at_top.any(axis=1), _one_hot(at_top.argmax(axis=1), n.shape)
    else:
        tied = np.concatenate([at_top, outside_at_top], axis=1)
        keys = np.random.default_rng(seed).random(tied.shape)
        pick = np.where(tied, keys, -1.0).argmax(axis=1)
        kept = rated & (pick < n.shape[1])
        targets = _one_hot(np.minimum(pick, n.shape[1] - 1), n.shape)
    options = {"tie_policy": tie_policy, "denominator": denominator}
    if tie_policy == "random":
        options["seed"] = seed
    return _counting_rule("pr", counts, n, kept, targets, excluded, options=options, multilabel=tie_policy == "all")


def _distribution(
    rule: str,
    counts: pd.DataFrame,
    excluded: Excluded,
    *,
    shares: pd.DataFrame | None = None,
    min_selected_share: float | None = None,
    test_form: bool = False,
) -> LabelSet:
    """AR-style targets p_ic = share of class c among the item's ratings on selected classes.

    ``min_selected_share`` s drops (and counts) items whose selected-class ratings are < s of all
    their ratings; ``test_form``: multi-hot y_ic = 1 iff C p_ic > 1 (uniform: all classes).
    """
    n = _count_array(counts)
    selected, _ = _shares(rule, counts, excluded, "selected", shares)
    kept = selected.sum(axis=1) > 0
    below = np.zeros(len(n), dtype=bool)
    if min_selected_share is not None:
        share_of_all, _ = _shares(rule, counts, excluded, "all", shares)
        below = kept & (share_of_all.sum(axis=1) < min_selected_share - TOLERANCE)
        kept &= ~below
    targets = selected
    if test_form:
        above = n.shape[1] * selected > 1 + TOLERANCE
        targets = above | (kept & ~above.any(axis=1))[:, None]
    options = {} if min_selected_share is None else {"min_selected_share": min_selected_share}
    return _counting_rule(
        rule, counts, n, kept, targets, excluded, options=options, multilabel=test_form, below_share=int(below.sum())
    )


def all_inclusive(
    counts: pd.DataFrame,
    *,
    excluded: Excluded = None,
    shares: pd.DataFrame | None = None,
    min_selected_share: float | None = None,
) -> LabelSet:
    """All-inclusive rule (AR), training form: p_ic = n_ic / N_i over the selected classes; items with N_i > 0 kept.

    Loses only excluded-class ratings. ``min_selected_share`` s (default off) drops, and counts in
    ``accounting.items_below_selected_share``, items whose ratings on selected classes are less than
    s of all their ratings (``excluded`` per item): 10 neutral + 1 happy under {anger, happy, sad} is
    1/11 selected. ``shares``: mean-pooled distributions over all labels. Classes (N, A, S, H),
    ratings A,A,A,S,S -> (0, .6, .4, 0):

    >>> labels = all_inclusive(pd.DataFrame([[0, 3, 2, 0]], index=["clip"], columns=list("NASH")))
    >>> labels.targets
            N    A    S    H
    clip  0.0  0.6  0.4  0.0
    >>> other = pd.Series([3], index=["clip"])
    >>> all_inclusive(labels.counts, excluded=other, min_selected_share=0.7).accounting.items_below_selected_share
    1
    """
    return _distribution("ar", counts, excluded, shares=shares, min_selected_share=min_selected_share)


def all_inclusive_test(
    counts: pd.DataFrame,
    *,
    excluded: Excluded = None,
    shares: pd.DataFrame | None = None,
    min_selected_share: float | None = None,
) -> LabelSet:
    """All-inclusive rule, test form: multi-hot y_ic = 1 iff p_ic > 1/C (strictly), i.e. C * n_ic > N_i.

    Decision (METHODS.md): an exactly uniform distribution (every p_ic = 1/C, the only case where no
    class passes) gets all classes. Items with N_i > 0 are kept; ratings of classes with y_ic = 0
    do not support the target. ``min_selected_share`` and ``shares`` as in :func:`all_inclusive`.

    >>> counts = pd.DataFrame([[0, 3, 2, 0], [2, 1, 1, 1], [1, 2, 2, 0], [1, 1, 1, 1]],
    ...                       index=["AAASS", "NNHAS", "NAASS", "NASH"], columns=list("NASH"))
    >>> all_inclusive_test(counts).targets.astype(int)
           N  A  S  H
    AAASS  0  1  1  0
    NNHAS  1  0  0  0
    NAASS  0  1  1  0
    NASH   1  1  1  1
    """
    return _distribution(
        "ar-test", counts, excluded, shares=shares, min_selected_share=min_selected_share, test_form=True
    )


def primary_distribution(ratings: pd.DataFrame, classes: Sequence[str], **count_options) -> LabelSet:
    """MSP-style primary target P: distribution of the raters' primary choices (slot "primary").

    ``count_options`` go to :func:`vote_counts` (conditions, pool, class_map, excluded, items).
    Primaries N,N,S,N -> P(N) = 3/4, P(S) = 1/4:

    >>> ratings = pd.DataFrame({"item": "clip", "rater": ["r1", "r2", "r3", "r4"], "slot": "primary",
    ...                         "label": ["N", "N", "S", "N"]})
    >>> primary_distribution(ratings, ["N", "S", "U"]).targets
             N     S    U
    item
    clip  0.75  0.25  0.0
    """
    counts, excluded = vote_counts(ratings, classes, slot="primary", **count_options)
    return _distribution("primary", counts, excluded)


def secondary_distribution(ratings: pd.DataFrame, classes: Sequence[str], **count_options) -> LabelSet:
    """MSP-style secondary target S: all labels of slot "secondary" pooled over raters, each weighted equally.

    S_ic = (labels c in item i's lists) / (class labels in item i's lists); excluded labels are
    dropped from the distribution and counted in the accounting.
    Lists {N,S}, {N,O}, {S,U}, {N,S,O} with O excluded -> S(N) = 3/7, S(S) = 3/7, S(U) = 1/7:

    >>> lists = {"r1": "NS", "r2": "NO", "r3": "SU", "r4": "NSO"}
    >>> ratings = pd.DataFrame([("clip", r, "secondary", x) for r, xs in lists.items() for x in xs],
    ...                        columns=["item", "rater", "slot", "label"])
    >>> labels = secondary_distribution(ratings, ["N", "S", "U"], excluded=["O"])
    >>> (labels.targets * 7).round(6)
            N    S    U
    item
    clip  3.0  3.0  1.0
    >>> labels.accounting.ratings_excluded_class, labels.accounting.rating_loss
    (2, 0.222...)
    """
    counts, excluded = vote_counts(ratings, classes, slot="secondary", **count_options)
    return _distribution("secondary", counts, excluded)


def filter_agreement(
    labels: LabelSet | pd.DataFrame,
    min_fraction: float | None = None,
    *,
    min_raters_agree: int | None = None,
    votes: pd.DataFrame | None = None,
    raters: pd.Series | None = None,
    excluded: Excluded = None,
    denominator: str = "all",
    shares: pd.DataFrame | None = None,
) -> LabelSet:
    """Keep only items whose top selected class has enough agreement: a_i / N_i >= f and a_i >= k.

    a_i = max_c n_ic over the selected classes. With ``denominator`` "all" (default) N_i counts all
    the item's ratings and the top class must also be at least as frequent as every label outside the
    class set (``excluded``, per label); "selected": N_i = ratings on selected classes (P*: f = 0.6 on
    the primary counts). ``shares``: mean-pooled distributions over all labels; then f compares the
    mean share and k the pooled count of that class. For multi-choice lists pass ``votes`` and
    ``raters`` from :func:`list_votes` (S*: f = 0.5): N_i = the item's lists (each rater's list counts,
    even one of excluded labels only) in both denominators; lists name several labels, so there is no
    winner to check. ``min_raters_agree`` = k gives agreement levels 1..K. Given counts instead of a
    label set, the all-inclusive distribution is filtered. Targets are unchanged for the items still
    kept; accounting is recomputed.

    >>> counts = pd.DataFrame([[3, 2, 0], [4, 1, 0], [2, 1, 1]], index=["x", "y", "z"], columns=["N", "S", "U"])
    >>> p_star = filter_agreement(counts, 0.6)
    >>> p_star.kept.tolist(), p_star.targets.loc["x"].tolist()
    ([True, True, False], [0.6, 0.4, 0.0])
    >>> filter_agreement(counts, min_raters_agree=4).kept.tolist()
    [False, True, False]
    """
    if isinstance(labels, pd.DataFrame):
        labels = all_inclusive(labels, excluded=excluded)
    if labels.rule in ("likert", "intervals"):
        raise ConfigError(f"agreement filters apply to counting rules, not to {labels.rule!r} label sets")
    if min_fraction is None and min_raters_agree is None:
        raise ConfigError("filter_agreement needs min_fraction and/or min_raters_agree")
    if min_fraction is not None and not 0 < min_fraction <= 1:
        raise ConfigError(f"min_agreement must be a fraction in (0, 1], got {min_fraction}")
    if min_raters_agree is not None and (int(min_raters_agree) != min_raters_agree or min_raters_agree < 1):
        raise ConfigError(f"min_raters_agree must be a whole number >= 1, got {min_raters_agree}")
    index = labels.targets.index
    if votes is None:
        n = _count_array(labels.counts)
        fraction, outside = _shares(labels.rule, labels.counts, excluded, denominator, shares, per_label=True)
        best = fraction.argmax(axis=1)
        top_share = fraction.max(axis=1, initial=0)
        top = n[np.arange(len(n)), best] if n.shape[1] else np.zeros(len(n), dtype=np.int64)
        agree = (top_share > 0) & (top_share >= outside.max(axis=1, initial=0) - TOLERANCE)
    else:
        if list(votes.columns) != labels.classes:
            raise ConfigError(f"votes have classes {list(votes.columns)}, the label set has {labels.classes}")
        v = _count_array(votes.reindex(index, fill_value=0))
        top = v.max(axis=1, initial=0)
        lists = raters.reindex(index, fill_value=0).to_numpy() if raters is not None else v.sum(axis=1)
        agree = lists > 0
        top_share = top / np.where(agree, lists, 1)
    if min_fraction is not None:
        agree &= top_share >= min_fraction - TOLERANCE
    if min_raters_agree is not None:
        agree &= top >= min_raters_agree
    kept = labels.kept.to_numpy() & agree
    targets = np.where(kept[:, None], labels.targets.to_numpy(), 0.0)
    options = labels.options | {"min_agreement": min_fraction, "min_raters_agree": min_raters_agree}
    return _labelset(
        labels.rule,
        labels.counts,
        kept,
        targets,
        _supporting(_count_array(labels.counts), targets, kept),
        labels.accounting.ratings_excluded_class,
        options=options,
        multilabel=labels.multilabel,
        below_share=labels.accounting.items_below_selected_share,
    )


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


def smooth(labels: LabelSet, epsilon: float) -> LabelSet:
    """Label smoothing floor: t'_ic = (t_ic + eps) / sum_c (t_ic + eps) on kept items.

    >>> labels = all_inclusive(pd.DataFrame([[3, 1]], index=["x"], columns=["A", "S"]))
    >>> smooth(labels, 0.1).targets.round(4)
            A       S
    x  0.7083  0.2917
    """
    if epsilon < 0:
        raise ConfigError(f"smoothing epsilon must be >= 0, got {epsilon}")
    if labels.multilabel:
        raise ConfigError(f"smoothing renormalises a distribution; the {labels.rule!r} targets are multi-hot")
    kept = labels.kept.to_numpy()
    raised = labels.targets.to_numpy() + epsilon
    total = raised.sum(axis=1, keepdims=True)
    targets = np.divide(raised, total, out=np.zeros_like(raised), where=kept[:, None] & (total > 0))
    return dataclasses.replace(
        labels,
        targets=pd.DataFrame(targets, index=labels.targets.index, columns=labels.targets.columns),
        options=labels.options | {"smoothing": epsilon},
    )


# ---------------------------------------------------------------------- interval consensus
def _runs(group: np.ndarray, position: np.ndarray, coverage: np.ndarray, level: int):
    """Maximal runs with coverage >= level over the elementary segments [position_j, position_j+1).

    Returns (group, start, end, peak coverage) per run. Every group ends with coverage 0, so a run
    never crosses into the next group.
    """
    qualifies = coverage >= level
    previous = np.concatenate([[False], qualifies[:-1]])
    following = np.concatenate([qualifies[1:], [False]])
    first = np.flatnonzero(qualifies & ~previous)
    last = np.flatnonzero(qualifies & ~following)
    peak = np.maximum.reduceat(np.where(qualifies, coverage, 0), first) if len(first) else first
    return group[first], position[first], position[last + 1], peak


def _coverage(group: np.ndarray, rater: np.ndarray, start: np.ndarray, end: np.ndarray, span: int):
    """Per group (recording x emotion): distinct event positions and the number of raters covering [p_j, p_j+1).

    A rater's overlapping intervals in one group are merged first, so a rater counts once. Then a
    +1 at every start and -1 at every end, summed per distinct position and accumulated; each group
    sums to zero, so one cumulative sum over all groups gives every group's coverage.
    """
    lists = group * (int(rater.max(initial=0)) + 1) + rater
    order = np.lexsort((start, lists))
    lists, start, end, group = lists[order], start[order], end[order], group[order]
    reach = np.maximum.accumulate(lists * span + end)  # furthest end so far within the rater's list
    new_block = np.ones(len(order), dtype=bool)
    new_block[1:] = lists[1:] * span + start[1:] > reach[:-1]
    first = np.flatnonzero(new_block)
    block_end = np.maximum.reduceat(end, first) if len(first) else first
    events = np.concatenate([group[first] * span + start[first], group[first] * span + block_end])
    event_order = np.argsort(events)
    events = events[event_order]
    distinct = np.flatnonzero(_first_of_runs(events))
    steps = np.repeat(np.array([1, -1], dtype=np.int64), len(first))[event_order]
    coverage = np.cumsum(np.add.reduceat(steps, distinct) if len(distinct) else steps)
    event_group, position = np.divmod(events[distinct], span)
    return event_group, position, coverage


def interval_consensus(
    ratings: pd.DataFrame,
    classes: Sequence[str] | None = None,
    *,
    level: int = 1,
    frame: float = 0.01,
    class_map: Mapping[str, str] | None = None,
    excluded: Sequence[str] = (),
) -> LabelSet:
    """Confidence-level items from time intervals: maximal runs where >= ``level`` raters marked the same emotion.

    Each rating marks [start, end) seconds of recording ``item`` with an emotion. On a frame grid
    (start and end rounded to multiples of ``frame``, default 10 ms) the coverage of frame f for
    emotion c is the number of raters whose intervals for c contain f (a rater's overlapping
    intervals count once). Each maximal run with coverage >= k becomes an item: ``segments`` gives
    (recording, start, end), the target is one-hot of the emotion, ``counts`` the peak coverage.
    Annotated regions (coverage >= 1) that never reach k are kept as dropped rows, so data loss is
    the share of such regions. A rating supports the result iff it overlaps a kept segment of its
    emotion. Level 1 = any rater; higher levels give fewer, shorter items. Needs rater ids.

    Three raters: r1 anger 0.0-1.0, r2 anger 0.5-1.5, r3 anger 0.8-2.0 and sad 3.0-3.5.

    >>> ratings = pd.DataFrame({"item": "rec", "rater": ["r1", "r2", "r3", "r3"],
    ...                         "label": ["anger", "anger", "anger", "sad"],
    ...                         "start": [0.0, 0.5, 0.8, 3.0], "end": [1.0, 1.5, 2.0, 3.5]})
    >>> labels = interval_consensus(ratings, ["anger", "sad"], level=2)
    >>> labels.segments.assign(kept=labels.kept)
                        recording  start  end   kept
    item
    rec:anger:0.50-1.50       rec    0.5  1.5   True
    rec:sad:3.00-3.50         rec    3.0  3.5  False
    >>> interval_consensus(ratings, ["anger", "sad"], level=3).segments[["start", "end"]]
                         start  end
    item
    rec:anger:0.80-1.00    0.8  1.0
    rec:sad:3.00-3.50      3.0  3.5
    """
    if int(level) != level or level < 1:
        raise ConfigError(f"interval consensus level must be a whole number >= 1, got {level}")
    if not frame > 0:
        raise ConfigError(f"frame must be a positive number of seconds, got {frame}")
    missing = [c for c in ("item", "rater", "label", "start", "end") if c not in ratings.columns]
    if missing:
        raise InputError(f"interval ratings need columns item, rater, label, start, end; missing {missing}")
    no_interval = ratings["start"].isna() | ratings["end"].isna()
    if no_interval.any():
        item = ratings["item"].iloc[int(np.flatnonzero(no_interval.to_numpy())[0])]
        raise InputError(
            f"{int(no_interval.sum())} ratings have no start/end (first on item {item!r}); "
            "interval consensus needs a time interval on every rating"
        )
    if ratings["rater"].isna().any():
        raise VoxpopError("interval consensus counts raters per frame, so every interval rating needs a rater id")
    backwards = (ratings["start"] < 0) | (ratings["end"] <= ratings["start"])
    if backwards.any():
        row = int(np.flatnonzero(backwards.to_numpy())[0])
        raise InputError(
            f"interval rating of item {ratings['item'].iloc[row]!r}: start {ratings['start'].iloc[row]:g}, "
            f"end {ratings['end'].iloc[row]:g}; expected 0 <= start < end (seconds)"
        )
    if classes is None:
        classes = [str(c) for c in pd.unique(ratings["label"])]
    classes = list(classes)
    recording_code, recordings = pd.factorize(ratings["item"])
    class_code = _class_codes(ratings, classes, class_map, excluded)
    inside = class_code >= 0
    start = np.rint(ratings["start"].to_numpy(dtype=float) / frame).astype(np.int64)[inside]
    end = np.rint(ratings["end"].to_numpy(dtype=float) / frame).astype(np.int64)[inside]
    group = recording_code[inside].astype(np.int64) * len(classes) + class_code[inside]
    rater = pd.factorize(ratings["rater"])[0][inside].astype(np.int64)
    span = int(end.max(initial=0)) + 1  # positions are < span: group * span + position orders by both

    event_group, position, coverage = _coverage(group, rater, start, end, span)
    kept_runs = _runs(event_group, position, coverage, int(level))
    regions = _runs(event_group, position, coverage, 1)
    lost = regions[3] < level
    rows = [np.concatenate([run, region[lost]]) for run, region in zip(kept_runs, regions, strict=True)]
    is_kept = np.concatenate([np.ones(len(kept_runs[0]), bool), np.zeros(int(lost.sum()), bool)])
    row_order = np.lexsort((rows[1], rows[0]))
    run_group, run_start, run_end, peak = (r[row_order] for r in rows)
    is_kept = is_kept[row_order]

    # a rating supports the result iff it overlaps a kept run of its (recording, emotion)
    kept_end_key = run_group[is_kept] * span + run_end[is_kept]
    hit = np.searchsorted(kept_end_key, group * span + start, side="right")
    valid = hit < len(kept_end_key)
    hit = np.where(valid, hit, 0)
    supports = valid & (end > start)
    if len(kept_end_key):
        supports &= (run_group[is_kept][hit] == group) & (run_start[is_kept][hit] < end)

    run_recording, run_class = np.divmod(run_group, len(classes))
    decimals = len(np.format_float_positional(frame, trim="-").partition(".")[2])
    recording_names = np.asarray(recordings.astype(str))[run_recording]
    class_names = np.asarray(classes)[run_class]
    seconds_start, seconds_end = np.round(run_start * frame, decimals), np.round(run_end * frame, decimals)
    ids = pd.Index(
        [
            f"{rec}:{cls}:{a:.{decimals}f}-{b:.{decimals}f}"
            for rec, cls, a, b in zip(recording_names, class_names, seconds_start, seconds_end, strict=True)
        ],
        name="item",
    )
    counts_array = np.zeros((len(ids), len(classes)), dtype=np.int64)
    counts_array[np.arange(len(ids)), run_class] = peak
    counts = pd.DataFrame(counts_array, index=ids, columns=classes)
    segments = pd.DataFrame({"recording": recording_names, "start": seconds_start, "end": seconds_end}, index=ids)
    segments["recording"] = segments["recording"].astype(pd.StringDtype())
    targets = _one_hot(run_class, counts_array.shape) * is_kept[:, None]
    return _labelset(
        "intervals",
        counts,
        is_kept,
        targets,
        int(supports.sum()),
        int((~inside).sum()),
        options={"level": int(level), "frame": frame},
        segments=segments,
        ratings_total=len(ratings),  # counts hold peak coverage, not ratings
    )


# ====================================================================== layer 3: rule inputs and the dispatcher
def _resolve_conditions(corpus: Corpus, condition: str | Sequence[str] | None, pool: bool) -> list[str] | None:
    """The conditions to use (None = all ratings); refuses to mix several conditions silently."""
    present = corpus.conditions
    chosen = _as_list(condition)
    if chosen is None:
        if pool or len(present) <= 1:
            return None
        raise ConfigError(
            f"corpus {corpus.name!r} has ratings under {len(present)} conditions ({', '.join(present)}); "
            "choose one with condition (--condition C), or pool them with pool=True (--pool)"
        )
    unknown = [c for c in chosen if c not in present]
    if unknown:
        raise ConfigError(
            f"condition {unknown} not found in corpus {corpus.name!r}; "
            f"its conditions are: {', '.join(present) or 'none'}"
        )
    if len(chosen) > 1 and not pool:
        raise ConfigError(f"several conditions given ({', '.join(chosen)}); pass pool=True (--pool) to pool them")
    return chosen


@dataclasses.dataclass(frozen=True)
class Votes:
    """A slot's votes: ``counts`` (items x selected classes), ``outside`` (items x every other label) and,
    under mean pooling, ``shares`` (items x all labels: the mean of the per-condition distributions)."""

    counts: pd.DataFrame
    outside: pd.DataFrame
    shares: pd.DataFrame | None = None


@dataclasses.dataclass
class RuleInput:
    """What a rule implementation reads: the corpus, the chosen conditions and the class set.

    ``classes`` is the selected class set, ``others`` every other label after ``class_map`` (corpus-
    excluded labels such as "other", classes left out of a subset); ``pooling`` says how several
    conditions combine ("sum" or "mean"). Count tables are computed once per slot.
    """

    corpus: Corpus
    conditions: list[str] | None
    classes: list[str]
    others: list[str]
    class_map: dict[str, str]
    pooling: str = "sum"
    _votes: dict = dataclasses.field(default_factory=dict, repr=False)

    @property
    def items(self) -> pd.Index:
        return self.corpus.items.index

    @property
    def excluded(self) -> list[str]:
        """Corpus labels (before the class map) that are not selected classes."""
        return [label for label in self.corpus.classes + self.corpus.excluded if label not in self.classes]

    def _counts(self, slot: str, conditions: list[str] | None) -> pd.DataFrame:
        counts, _ = vote_counts(
            self.corpus.ratings,
            self.classes + self.others,
            slot=slot,
            conditions=conditions,
            pool=True,
            class_map=self.class_map,
            items=self.items,
        )
        return counts

    def pooled_conditions(self) -> list[str]:
        """The conditions whose votes are pooled (empty: one condition or none)."""
        chosen = self.conditions if self.conditions is not None else self.corpus.conditions
        return list(chosen) if len(chosen) > 1 else []

    def votes(self, slot: str) -> Votes:
        """Vote counts of ``slot`` over the class set and the other labels; mean pooling adds ``shares``.

        Mean pooling (METHODS.md section 2): each condition's distribution over all labels, averaged
        over the conditions in which the item has ratings (voice A*1,N*1 + face A*6,S*2 -> A .625,
        N .25, S .125; summed: A .7, S .2, N .1).
        """
        if slot not in self._votes:
            counts = self._counts(slot, self.conditions)
            shares = None
            pooled = self.pooled_conditions()
            if self.pooling not in POOLINGS:
                raise ConfigError(f"unknown pooling {self.pooling!r}; choose one of {', '.join(POOLINGS)}")
            if self.pooling == "mean" and pooled:
                total = np.zeros(counts.shape)
                rated = np.zeros(len(counts))
                for condition in pooled:
                    part = self._counts(slot, [condition]).to_numpy(dtype=float)
                    n = part.sum(axis=1)
                    total += part / np.where(n > 0, n, 1.0)[:, None]
                    rated += n > 0
                shares = pd.DataFrame(total / np.where(rated > 0, rated, 1)[:, None], counts.index, counts.columns)
            self._votes[slot] = Votes(counts[self.classes], counts[self.others], shares)
        return self._votes[slot]

    def lists(self, slot: str = "secondary") -> tuple[pd.DataFrame, pd.Series]:
        """:func:`list_votes` of ``slot`` over the class set (needs rater ids)."""
        return list_votes(
            self.corpus.ratings,
            self.classes,
            slot=slot,
            conditions=self.conditions,
            class_map=self.class_map,
            excluded=self.excluded,
            items=self.items,
        )

    def ratings(self, slot: str) -> pd.DataFrame:
        """The long ratings (item, rater, condition, label) of ``slot`` in the chosen conditions, labels
        after the rule's class map: what rater-aware rules (Dawid-Skene ...) read."""
        selected = _select(self.corpus.ratings, slot, self.conditions, True, ["item", "rater", "label"])
        if self.class_map:
            selected = selected.assign(label=selected["label"].map(lambda label: self.class_map.get(label, label)))
        return selected


def majority_rule(inputs: RuleInput, options: Mapping) -> LabelSet:
    """Registry implementation of rule ``mr`` (:func:`majority`)."""
    v = inputs.votes("primary")
    return majority(v.counts, excluded=v.outside, denominator=options["denominator"], shares=v.shares)


def plurality_rule(inputs: RuleInput, options: Mapping) -> LabelSet:
    """Registry implementation of rule ``pr`` (:func:`plurality`)."""
    v = inputs.votes("primary")
    return plurality(
        v.counts,
        options["tie_policy"],
        seed=options["seed"],
        excluded=v.outside,
        denominator=options["denominator"],
        shares=v.shares,
    )


def _distribution_rule(rule: str, slot: str, inputs: RuleInput, options: Mapping, test_form: bool = False) -> LabelSet:
    v = inputs.votes(slot)
    share = options["min_selected_share"]
    return _distribution(rule, v.counts, v.outside, shares=v.shares, min_selected_share=share, test_form=test_form)


def all_inclusive_rule(inputs: RuleInput, options: Mapping) -> LabelSet:
    """Registry implementation of rule ``ar`` (:func:`all_inclusive`)."""
    return _distribution_rule("ar", "primary", inputs, options)


def all_inclusive_test_rule(inputs: RuleInput, options: Mapping) -> LabelSet:
    """Registry implementation of rule ``ar-test`` (:func:`all_inclusive_test`)."""
    return _distribution_rule("ar-test", "primary", inputs, options, test_form=True)


def primary_rule(inputs: RuleInput, options: Mapping) -> LabelSet:
    """Registry implementation of rule ``primary`` (:func:`primary_distribution`)."""
    return _distribution_rule("primary", "primary", inputs, options)


def secondary_rule(inputs: RuleInput, options: Mapping) -> LabelSet:
    """Registry implementation of rule ``secondary`` (:func:`secondary_distribution`)."""
    return _distribution_rule("secondary", "secondary", inputs, options)


def likert_rule(inputs: RuleInput, options: Mapping) -> LabelSet:
    """Registry implementation of rule ``likert`` (:func:`likert_scores`, :func:`likert_binarize`)."""
    corpus = inputs.corpus
    scope = {
        "conditions": inputs.conditions,
        "class_map": inputs.class_map,
        "excluded": inputs.excluded,
        "items": inputs.items,
    }
    counts, outside = vote_counts(corpus.ratings, inputs.classes, slot="intensity", **scope)
    method = options["gold_standard"] or "mean"
    if method in ("ewe", "znorm"):
        corpus.require_rater_ids(f"rule 'likert' with gold_standard {method} (which weighs or normalises each rater)")
    scores, raters, aside = _likert_gold(corpus.ratings, inputs.classes, method, "intensity",
                                         corpus.scales.get("intensity"), scope["conditions"], True,
                                         inputs.class_map, inputs.excluded, inputs.items,
                                         options["min_ratings_per_rater"])  # fmt: skip
    cut = DEFAULT_LIKERT_THRESHOLD if options["threshold"] is None else options["threshold"]
    labels = likert_binarize(scores, cut, counts=counts, excluded=outside, set_aside=aside)
    return dataclasses.replace(labels, raters=raters)


def intervals_rule(inputs: RuleInput, options: Mapping) -> LabelSet:
    """Registry implementation of rule ``intervals`` (:func:`interval_consensus`)."""
    corpus = inputs.corpus
    selected = _select(corpus.ratings, None, inputs.conditions, True)
    selected = selected[selected["slot"].isin(EMOTION_SLOTS).to_numpy() & selected["start"].notna().to_numpy()]
    if selected.empty:
        raise ConfigError(f"corpus {corpus.name!r} has no time-interval ratings (start/end) for rule 'intervals'")
    level = 1 if options["level"] is None else options["level"]
    return interval_consensus(
        selected, inputs.classes, level=level, class_map=inputs.class_map, excluded=inputs.excluded
    )


def _filter(labels: LabelSet, rule: Rule, inputs: RuleInput, options: Mapping) -> LabelSet:
    """The agreement filters (P*, S*, k of n) of ``options`` on a counting rule's label set."""
    fraction, k = options["min_agreement"], options["min_raters_agree"]
    if rule.slots == ("secondary",):
        votes, lists = inputs.lists()
        return filter_agreement(labels, fraction, min_raters_agree=k, votes=votes, raters=lists)
    v = inputs.votes(rule.slots[0])
    return filter_agreement(
        labels, fraction, min_raters_agree=k, excluded=v.outside, denominator=options["denominator"], shares=v.shares
    )


def make_labels(
    corpus: Corpus,
    rule: str,
    *,
    condition: str | Sequence[str] | None = None,
    pool: bool = False,
    classes: Sequence[str] | None = None,
    class_map: Mapping[str, str] | None = None,
    **options,
) -> LabelSet:
    """Apply label ``rule`` of the registry (:mod:`voxpop.rules`: mr, pr, ar, ar-test, primary, secondary,
    likert, intervals) to ``corpus``.

    ``condition``: one condition or a list (a list needs ``pool=True``); ``pool=True`` without a
    condition pools all, by the rule option ``pooling`` ("sum" of the votes, or "mean" of the
    per-condition distributions). A corpus with several conditions and neither given is an error.
    ``class_map`` renames or merges corpus labels (e.g. {"excited": "happy"}) before any rule counts,
    or removes one from the class set (``{"calm": "drop"}``; :mod:`voxpop.classmap`: a key must be a
    corpus label, a value ``drop``, a corpus label or a class of ``classes``); the class set is then the
    mapped corpus classes, or the subset ``classes`` of them. Every other label (dropped ones included) is
    outside the class set: counted in N_i (``denominator`` "all") and in the accounting, never a target.
    A rule reading a slot the corpus has no ratings in (``mr`` on a Likert-only corpus) is a ConfigError
    naming the corpus's slots and the rules that read them. ``options`` are the rule's options
    (:data:`voxpop.rules.OPTIONS`: denominator, min_agreement, min_raters_agree, min_selected_share,
    tie_policy, seed, threshold, level, smoothing, pooling); ConfigError for an option of another rule or a
    bad value, VoxpopError when the rule needs rater ids the corpus lacks.
    Everything used is recorded in ``LabelSet.options``.

    >>> items = pd.DataFrame(index=["x", "y"])
    >>> ratings = pd.DataFrame({"item": ["x", "x", "x", "y", "y"], "label": ["A", "A", "S", "A", "S"]})
    >>> labels = make_labels(Corpus("toy", items, ratings, classes=["A", "S"]), "mr")
    >>> labels.kept.tolist(), labels.accounting.data_loss, labels.accounting.rating_loss
    ([True, False], 0.5, 0.6)
    """
    spec = get_rule(rule)
    checked = check_options(rule, options)
    conditions = _resolve_conditions(corpus, condition, pool)
    class_set, others, mapping = resolve_classes(
        corpus.classes, corpus.excluded, classes, class_map, corpus=corpus.name
    )
    spec.check_slots(corpus, conditions)
    needs = spec.rater_ids_reason(checked)
    if needs:
        corpus.require_rater_ids(needs)
    inputs = RuleInput(corpus, conditions, class_set, others, mapping.renames, checked.get("pooling", "sum"))
    labels = spec.function()(inputs, checked)
    if checked.get("min_agreement") is not None or checked.get("min_raters_agree") is not None:
        labels = _filter(labels, spec, inputs, checked)
    if checked.get("smoothing"):
        labels = smooth(labels, checked["smoothing"])
    scope = {"condition": conditions, "pool": pool, "classes": class_set, "class_map": dict(class_map or {})}
    if "pooling" in checked and not inputs.pooled_conditions():
        checked["pooling"] = None  # nothing was pooled
    return dataclasses.replace(labels, options=labels.options | scope | checked)


def accounting_table(
    corpus: Corpus,
    rules: Sequence[str] = ("mr", "pr", "ar"),
    *,
    classes: Sequence[str] | None = None,
    class_map: Mapping[str, str] | None = None,
    **options,
) -> pd.DataFrame:
    """Data and rating loss of each rule on each condition and, with several conditions, pooled ("all").

    One row per (condition, rule) with the :class:`~voxpop.labelset.Accounting` fields and the
    ``denominator`` and ``pooling`` used ("-" where the rule or the row has none). ``options``
    (e.g. tie_policy, denominator, pooling) go to the rules that take them.
    """
    present = corpus.conditions
    scopes = [(c, {"condition": c}) for c in present] if len(present) > 1 else []
    scopes.append((present[0] if len(present) == 1 else "all", {"pool": True}))
    rows = []
    for name, scope in scopes:
        for rule in rules:
            given = {k: v for k, v in options.items() if k in get_rule(rule).options}
            labels = make_labels(corpus, rule, classes=classes, class_map=class_map, **scope, **given)
            used = {k: labels.options.get(k) or "-" for k in ("denominator", "pooling")}
            rows.append({"condition": name, "rule": rule, **used, **labels.accounting.as_dict()})
    return pd.DataFrame(rows)


def is_label_file(source: str) -> bool:
    """Whether a ``--labels`` value names a saved label set (an existing file or a ``.parquet`` path), not a rule."""
    return Path(source).suffix == ".parquet" or Path(source).is_file()


def resolve_labels(
    corpus: Corpus,
    source: str,
    *,
    condition: Sequence[str] | None = None,
    pool: bool = False,
    **options: Any,
) -> LabelSet:
    """A label set from a saved file (``*.parquet``) or a rule of the registry (:mod:`voxpop.rules`) applied to
    ``corpus`` with its ``options`` (ConfigError for rule options given with a saved file, or for a
    ``source`` that is neither)."""
    path = Path(source)
    if is_label_file(source):
        if condition or pool or options:
            given = ", ".join(["--condition"] * bool(condition) + ["--pool"] * pool + [*options])
            raise ConfigError(f"{given} apply to label rules; {source} is a saved label set.")
        return LabelSet.load(path)
    if source not in RULES:
        raise ConfigError(
            f"labels {source!r} is neither a label set file (.parquet) nor a rule; the rules are {', '.join(RULES)}."
        )
    chosen = list(condition) if condition else None
    return make_labels(corpus, source, condition=chosen, pool=pool, **options)
