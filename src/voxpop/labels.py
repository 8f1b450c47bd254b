"""Label rules (METHODS.md section 2): from the long ratings table to training and test targets.

Three layers:

1. **count matrices** from the long ratings table: :func:`vote_counts` (items x classes vote counts),
   :func:`list_votes` (raters whose multi-choice list names each class), :func:`likert_scores`;
2. **rules** on those tables, each returning a :class:`~voxpop.labelset.LabelSet` with its
   :class:`~voxpop.labelset.Accounting`: :func:`majority`, :func:`plurality`, :func:`all_inclusive`,
   :func:`all_inclusive_test`, :func:`primary_distribution`, :func:`secondary_distribution`,
   :func:`filter_agreement`, :func:`likert_binarize`, :func:`interval_consensus`, :func:`smooth`;
3. :func:`make_labels`, the dispatcher used by the CLI and the experiment runner, and
   :func:`accounting_table` (data and rating loss of several rules on every condition).

Accounting: data loss = dropped items / items; rating loss = ratings that do not support the kept
target / ratings. For the counting rules a rating supports its item's target when the item is kept
and the rating's class has a non-zero target (so MR/PR lose minority ratings, AR only excluded-class
ratings); ratings of classes outside the class set never support anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from voxpop.corpus import EMOTION_SLOTS, STRING, Corpus
from voxpop.errors import ConfigError, InputError, VoxpopError
from voxpop.labelset import Accounting, LabelSet

RULES = ("mr", "pr", "ar", "ar-test", "primary", "secondary", "likert", "intervals")
TIE_POLICIES = ("drop", "all", "random", "first")
COUNTING_RULES = ("mr", "pr", "ar", "ar-test", "primary")
DEFAULT_LIKERT_THRESHOLD = 0.01

Excluded = pd.Series | int | None


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
                f"the ratings cover {len(present)} conditions ({', '.join(present)}); choose one, "
                "or pool them (pool=True) to sum their counts"
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
    Excluded-class ratings are ignored here (:func:`vote_counts` counts them).

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
    size = len(index) * len(classes)
    flat = item_code[inside] * len(classes) + class_code[inside]
    sums = np.bincount(flat, weights=values[inside], minlength=size)
    n = np.bincount(flat, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(n > 0, (sums / n - low) / (high - low), np.nan)
    return pd.DataFrame(scores.reshape(len(index), len(classes)), index=index, columns=list(classes))


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
    return int(excluded.sum()) if isinstance(excluded, pd.Series) else int(excluded)


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
) -> LabelSet:
    """Assemble a LabelSet; ``ratings_total`` defaults to all counts plus the excluded-class ratings."""
    excluded_total = _excluded_total(excluded)
    accounting = Accounting(
        items_total=len(counts),
        items_kept=int(kept.sum()),
        ratings_total=int(counts.to_numpy().sum()) + excluded_total if ratings_total is None else ratings_total,
        ratings_supporting=supporting,
        ratings_excluded_class=excluded_total,
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


def majority(counts: pd.DataFrame, *, excluded: Excluded = None) -> LabelSet:
    """Majority rule (MR): keep item i iff max_c n_ic > N_i / 2; target = one-hot of that class.

    ``excluded``: excluded-class ratings (per item or total) for the accounting.

    >>> counts = pd.DataFrame([[3, 1, 0], [2, 2, 0], [2, 1, 1]], index=["x", "y", "z"], columns=["A", "S", "N"])
    >>> labels = majority(counts)
    >>> labels.targets
         A    S    N
    x  1.0  0.0  0.0
    y  0.0  0.0  0.0
    z  0.0  0.0  0.0
    >>> labels.accounting.items_kept, labels.accounting.ratings_supporting, labels.accounting.ratings_total
    (1, 3, 12)
    """
    n = _count_array(counts)
    top = n.max(axis=1, initial=0)
    kept = 2 * top > n.sum(axis=1)
    return _counting_rule("mr", counts, n, kept, _one_hot(n.argmax(axis=1), n.shape), excluded)


def _one_hot(winner: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    hot = np.zeros(shape)
    hot[np.arange(shape[0]), winner] = 1.0
    return hot


def plurality(counts: pd.DataFrame, tie_policy: str = "drop", *, seed: int = 0, excluded: Excluded = None) -> LabelSet:
    """Plurality rule (PR): keep item i iff the maximum count is unique; target = one-hot of it.

    Tied top classes: ``tie_policy`` "drop" (default) drops the item; "all" keeps it with a multi-hot
    target of the tied classes (``multilabel`` = True); "random" picks one tied class (``seed``);
    "first" picks the first tied class in class order. Items without votes are always dropped.

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
    top = n.max(axis=1, initial=0)
    rated = top > 0
    at_top = (n == top[:, None]) & rated[:, None]
    if tie_policy == "drop":
        kept = rated & (at_top.sum(axis=1) == 1)
        targets = at_top.astype(float)
    elif tie_policy == "all":
        kept, targets = rated, at_top.astype(float)
    elif tie_policy == "first":
        kept, targets = rated, _one_hot(at_top.argmax(axis=1), n.shape)
    else:
        keys = np.random.default_rng(seed).random(n.shape)
        kept, targets = rated, _one_hot(np.where(at_top, keys, -1.0).argmax(axis=1), n.shape)
    options = {"tie_policy": tie_policy} | ({"seed": seed} if tie_policy == "random" else {})
    return _counting_rule("pr", counts, n, kept, targets, excluded, options=options, multilabel=tie_policy == "all")


def _distribution(rule: str, counts: pd.DataFrame, excluded: Excluded) -> LabelSet:
    n = _count_array(counts)
    total = n.sum(axis=1)
    kept = total > 0
    targets = n / np.where(kept, total, 1)[:, None]
    return _counting_rule(rule, counts, n, kept, targets, excluded)


def all_inclusive(counts: pd.DataFrame, *, excluded: Excluded = None) -> LabelSet:
    """All-inclusive rule (AR), training form: p_ic = n_ic / N_i; every item with N_i > 0 is kept.

    Loses only excluded-class ratings. Classes (N, A, S, H), ratings A,A,A,S,S -> (0, .6, .4, 0):

    >>> labels = all_inclusive(pd.DataFrame([[0, 3, 2, 0]], index=["clip"], columns=list("NASH")))
    >>> labels.targets
            N    A    S    H
    clip  0.0  0.6  0.4  0.0
    """
    return _distribution("ar", counts, excluded)


def all_inclusive_test(counts: pd.DataFrame, *, excluded: Excluded = None) -> LabelSet:
    """All-inclusive rule, test form: multi-hot y_ic = 1 iff p_ic > 1/C (strictly), i.e. C * n_ic > N_i.

    Decision (METHODS.md): an exactly uniform distribution (every p_ic = 1/C, the only case where no
    class passes) gets all classes. Items with N_i > 0 are kept; ratings of classes with y_ic = 0
    do not support the target.

    >>> counts = pd.DataFrame([[0, 3, 2, 0], [2, 1, 1, 1], [1, 2, 2, 0], [1, 1, 1, 1]],
    ...                       index=["AAASS", "NNHAS", "NAASS", "NASH"], columns=list("NASH"))
    >>> all_inclusive_test(counts).targets.astype(int)
           N  A  S  H
    AAASS  0  1  1  0
    NNHAS  1  0  0  0
    NAASS  0  1  1  0
    NASH   1  1  1  1
    """
    n = _count_array(counts)
    total = n.sum(axis=1)
    kept = total > 0
    above = n.shape[1] * n > total[:, None]
    uniform = kept & ~above.any(axis=1)
    return _counting_rule("ar-test", counts, n, kept, above | uniform[:, None], excluded, multilabel=True)


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
) -> LabelSet:
    """Keep only items whose top class has enough agreement: a_i / R_i >= f and a_i >= k.

    a_i = max_c v_ic, R_i = the item's raters. By default v = the label set's vote counts and
    R_i = N_i (P*: f = 0.6 on the primary counts). For multi-choice lists pass ``votes`` and
    ``raters`` from :func:`list_votes` (S*: f = 0.5). ``min_raters_agree`` = k gives agreement levels
    1..K. Given counts instead of a label set, the all-inclusive distribution is filtered.
    Targets are unchanged for the items still kept; accounting is recomputed.

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
    if votes is None:
        votes = labels.counts
    elif list(votes.columns) != labels.classes:
        raise ConfigError(f"votes have classes {list(votes.columns)}, the label set has {labels.classes}")
    index = labels.targets.index
    v = _count_array(votes.reindex(index, fill_value=0))
    top = v.max(axis=1, initial=0)
    denominator = v.sum(axis=1) if raters is None else raters.reindex(index, fill_value=0).to_numpy()
    agree = denominator > 0
    if min_fraction is not None:
        agree &= top / np.where(agree, denominator, 1) >= min_fraction  # a ratio compares exactly with f
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
    )


def likert_binarize(
    scores: pd.DataFrame,
    threshold: float = DEFAULT_LIKERT_THRESHOLD,
    *,
    counts: pd.DataFrame | None = None,
    excluded: Excluded = None,
) -> LabelSet:
    """Multi-label targets from intensity scores: y_ic = 1 iff s_ic >= t; items with no positive emotion dropped.

    t = 0.01 means "any rater saw it". ``counts``: the number of ratings behind each score
    (``vote_counts(..., slot="intensity")``); the accounting loses the ratings of dropped items
    (without ``counts`` each score counts as one rating). NaN scores (no rating) are negative.

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
    return _labelset(
        "likert",
        counts,
        kept,
        positive & kept[:, None],
        int(n[kept].sum()),
        excluded,
        options={"threshold": threshold},
        multilabel=True,
    )


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


# ====================================================================== layer 3: dispatcher
def _resolve_conditions(corpus: Corpus, condition: str | Sequence[str] | None, pool: bool) -> list[str] | None:
    """The conditions to use (None = all ratings); refuses to mix several conditions silently."""
    present = corpus.conditions
    chosen = _as_list(condition)
    if chosen is None:
        if pool or len(present) <= 1:
            return None
        raise ConfigError(
            f"corpus {corpus.name!r} has ratings under {len(present)} conditions ({', '.join(present)}); "
            "choose one with condition (--condition C), or sum their counts with pool=True (--pool)"
        )
    unknown = [c for c in chosen if c not in present]
    if unknown:
        raise ConfigError(
            f"condition {unknown} not found in corpus {corpus.name!r}; "
            f"its conditions are: {', '.join(present) or 'none'}"
        )
    if len(chosen) > 1 and not pool:
        raise ConfigError(
            f"several conditions given ({', '.join(chosen)}); pass pool=True (--pool) to sum their counts"
        )
    return chosen


def _resolve_classes(
    corpus: Corpus, classes: Sequence[str] | None, class_map: Mapping[str, str] | None
) -> tuple[list[str], list[str]]:
    """(class set of the rule, labels to exclude): a rule-level map and subset over the corpus classes."""
    class_map = dict(class_map or {})
    known = corpus.classes + corpus.excluded
    unknown = [k for k in class_map if k not in known]
    if unknown:
        raise ConfigError(f"class map keys {unknown} are not labels of corpus {corpus.name!r} ({', '.join(known)})")
    mapped = [c for c in dict.fromkeys(class_map.get(c, c) for c in corpus.classes) if c not in corpus.excluded]
    if classes is None:
        chosen = mapped
    else:
        chosen = [str(c) for c in classes]
        bad = [c for c in chosen if c not in mapped]
        if bad or not chosen:
            raise ConfigError(f"classes {bad or chosen} are not among the available classes {', '.join(mapped)}")
    return chosen, [label for label in known if label not in chosen]


def _check_options(rule: str, **given) -> None:
    if rule not in RULES:
        raise ConfigError(f"unknown label rule {rule!r}; the rules are: {', '.join(RULES)}")
    applies = {
        "tie_policy": ("pr",),
        "threshold": ("likert",),
        "level": ("intervals",),
        "min_agreement": (*COUNTING_RULES, "secondary"),
        "min_raters_agree": (*COUNTING_RULES, "secondary"),
    }
    for option, value in given.items():
        if value is not None and rule not in applies[option]:
            raise ConfigError(f"option {option} applies to rules {', '.join(applies[option])}, not to {rule!r}")


def make_labels(
    corpus: Corpus,
    rule: str,
    *,
    condition: str | Sequence[str] | None = None,
    pool: bool = False,
    min_agreement: float | None = None,
    min_raters_agree: int | None = None,
    threshold: float | None = None,
    tie_policy: str = "drop",
    smoothing: float = 0.0,
    classes: Sequence[str] | None = None,
    class_map: Mapping[str, str] | None = None,
    level: int | None = None,
    seed: int = 0,
) -> LabelSet:
    """Apply label ``rule`` to ``corpus``: mr, pr, ar, ar-test, primary, secondary, likert or intervals.

    ``condition``: one condition or a list (a list needs ``pool=True``, which sums the counts);
    ``pool=True`` without a condition pools all. A corpus with several conditions and neither given
    is an error. ``class_map`` renames or merges corpus classes (e.g. {"calm": "neutral"}); the class
    set is then the mapped corpus classes, or the subset ``classes`` of them. Labels outside the
    class set (corpus-excluded, mapped to an excluded name, or left out of ``classes``) are excluded
    and counted. ``min_agreement`` / ``min_raters_agree`` filter by
    agreement (on the raters' lists for "secondary", which needs rater ids); ``threshold`` is the
    Likert cut (default 0.01); ``level`` the interval consensus level (default 1); ``smoothing`` a
    label-smoothing floor. The options are recorded in ``LabelSet.options``.

    >>> items = pd.DataFrame(index=["x", "y"])
    >>> ratings = pd.DataFrame({"item": ["x", "x", "x", "y", "y"], "label": ["A", "A", "S", "A", "S"]})
    >>> labels = make_labels(Corpus("toy", items, ratings, classes=["A", "S"]), "mr")
    >>> labels.kept.tolist(), labels.accounting.data_loss, labels.accounting.rating_loss
    ([True, False], 0.5, 0.6)
    """
    _check_options(
        rule,
        tie_policy=None if tie_policy == "drop" else tie_policy,
        threshold=threshold,
        level=level,
        min_agreement=min_agreement,
        min_raters_agree=min_raters_agree,
    )
    conditions = _resolve_conditions(corpus, condition, pool)
    class_set, excluded = _resolve_classes(corpus, classes, class_map)
    scope = {"conditions": conditions, "pool": True, "class_map": class_map, "excluded": excluded}
    ratings, items = corpus.ratings, corpus.items.index
    if rule == "intervals":
        corpus.require_rater_ids("interval consensus")
        selected = _select(ratings, None, conditions, True)
        selected = selected[selected["slot"].isin(EMOTION_SLOTS).to_numpy() & selected["start"].notna().to_numpy()]
        if selected.empty:
            raise ConfigError(f"corpus {corpus.name!r} has no time-interval ratings (start/end) for rule 'intervals'")
        labels = interval_consensus(
            selected, class_set, level=1 if level is None else level, class_map=class_map, excluded=excluded
        )
    elif rule == "likert":
        counts, outside = vote_counts(ratings, class_set, slot="intensity", items=items, **scope)
        scores = likert_scores(ratings, class_set, scale=corpus.scales.get("intensity"), items=items, **scope)
        cut = DEFAULT_LIKERT_THRESHOLD if threshold is None else threshold
        labels = likert_binarize(scores, cut, counts=counts, excluded=outside)
    else:
        slot = "secondary" if rule == "secondary" else "primary"
        counts, outside = vote_counts(ratings, class_set, slot=slot, items=items, **scope)
        if rule == "mr":
            labels = majority(counts, excluded=outside)
        elif rule == "pr":
            labels = plurality(counts, tie_policy, seed=seed, excluded=outside)
        elif rule == "ar-test":
            labels = all_inclusive_test(counts, excluded=outside)
        else:
            labels = _distribution(rule, counts, outside)
        if min_agreement is not None or min_raters_agree is not None:
            lists = {}
            if rule == "secondary":
                corpus.require_rater_ids("the multi-choice agreement filter (S*)")
                votes, n_lists = list_votes(ratings, class_set, items=items, **scope)
                lists = {"votes": votes, "raters": n_lists}
            labels = filter_agreement(labels, min_agreement, min_raters_agree=min_raters_agree, **lists)
    if smoothing:
        labels = smooth(labels, smoothing)
    options = {
        "condition": conditions,
        "pool": pool,
        "classes": class_set,
        "class_map": dict(class_map or {}),
        "min_agreement": min_agreement,
        "min_raters_agree": min_raters_agree,
        "threshold": threshold,
        "tie_policy": tie_policy,
        "smoothing": smoothing,
        "level": level,
        "seed": seed,
    }
    return dataclasses.replace(labels, options=labels.options | options)


def accounting_table(
    corpus: Corpus,
    rules: Sequence[str] = ("mr", "pr", "ar"),
    *,
    classes: Sequence[str] | None = None,
    class_map: Mapping[str, str] | None = None,
    tie_policy: str = "drop",
    seed: int = 0,
) -> pd.DataFrame:
    """Data and rating loss of each rule on each condition and, with several conditions, pooled ("all").

    One row per (condition, rule) with the :class:`~voxpop.labelset.Accounting` fields.
    """
    present = corpus.conditions
    scopes = [(c, {"condition": c}) for c in present] if len(present) > 1 else []
    scopes.append((present[0] if len(present) == 1 else "all", {"pool": True}))
    rows = []
    for name, scope in scopes:
        for rule in rules:
            extra = {"tie_policy": tie_policy, "seed": seed} if rule == "pr" else {}
            labels = make_labels(corpus, rule, classes=classes, class_map=class_map, **scope, **extra)
            rows.append({"condition": name, "rule": rule, **labels.accounting.as_dict()})
    return pd.DataFrame(rows)
