"""The counting rules (METHODS.md section 2): majority, plurality, all-inclusive (training and test forms),
primary / secondary distributions, the agreement filters and label smoothing, each a LabelSet with its
accounting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError
from voxpop.labels.labelset import Accounting, LabelSet
from voxpop.labels.registry import DENOMINATORS, TIE_POLICIES
from voxpop.labels.voting import TOLERANCE, Excluded, vote_counts


# ====================================================================== layer 2: rules
def _count_array(counts: pd.DataFrame) -> np.ndarray:
    """The counts as int64 after checking they are non-negative whole numbers."""
    values = counts.to_numpy()
    if not np.issubdtype(values.dtype, np.number):
        raise InputError(f"counts must be numbers, got dtype {values.dtype}")
    integer = np.issubdtype(values.dtype, np.integer)  # whole numbers already: only the sign to check
    bad = values < 0 if integer else ~(values >= 0) | (values != np.round(values))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(
            f"counts, item {counts.index[row]!r}, column {counts.columns[col]!r}: expected a "
            f"non-negative whole number of votes, got {values[row, col]!r}"
        )
    return values.astype(np.int64, copy=False)


def _row_sums(table: np.ndarray) -> np.ndarray:
    """Per row the sum of an items x labels table (``np.einsum``: a few times faster than ``sum(axis=1)`` over
    a handful of columns, the same values for counts and the same floats up to the order of addition)."""
    return np.einsum("ij->i", table)


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


def _parts(
    rule: str,
    counts: pd.DataFrame,
    excluded: Excluded,
    denominator: str,
    shares: pd.DataFrame | None,
    per_label: bool = False,
    n: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The numerators of :func:`_shares` and their per-item denominator: ``(selected, outside, scale)``.

    ``selected`` / ``scale[:, None]`` are the shares; ``scale`` is 1 for an item without ratings. ``n``:
    the checked counts (:func:`_count_array`), when the caller has them already.
    """
    if denominator not in DENOMINATORS:
        raise ConfigError(f"unknown denominator {denominator!r}; choose one of {', '.join(DENOMINATORS)}")
    if shares is not None:
        table = shares.reindex(counts.index, fill_value=0.0)
        selected = table[list(counts.columns)].to_numpy(dtype=float)
        outside = table.drop(columns=list(counts.columns)).to_numpy(dtype=float)
    else:
        selected = _count_array(counts) if n is None else n
        outside = (
            _outside_counts(excluded, counts.index, rule, per_label)
            if denominator == "all"
            else np.zeros((len(counts), 0), dtype=np.int64)
        )
    if denominator == "selected":
        outside = np.zeros((len(counts), 0))
    total = _row_sums(selected)
    if outside.shape[1]:
        total = total + _row_sums(outside)
    return selected, outside, np.where(total > 0, total, 1.0)


def _shares(
    rule: str,
    counts: pd.DataFrame,
    excluded: Excluded,
    denominator: str,
    shares: pd.DataFrame | None,
    per_label: bool = False,
    n: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per item the share of each selected class and of each label outside the class set (items x labels).

    ``denominator`` "all": shares of all the item's ratings (rows sum to 1 for rated items); "selected":
    of its ratings on selected classes (the outside part is empty). ``shares`` (items x all labels, e.g.
    mean-pooled distributions) replaces the shares computed from ``counts`` and ``excluded``. ``n``: the
    checked counts, when the caller has them already.
    """
    selected, outside, scale = _parts(rule, counts, excluded, denominator, shares, per_label, n)
    return selected / scale[:, None], outside / scale[:, None]


def _supporting(counts: np.ndarray, targets: np.ndarray, kept: np.ndarray) -> int:
    """Ratings of kept items whose class has a non-zero target."""
    return int(np.einsum("ij,ij->", counts, (targets > 0) & kept[:, None]))


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
        targets=pd.DataFrame(targets.astype(float, copy=False), index=counts.index, columns=counts.columns, copy=False),
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
    """LabelSet of a rule on vote counts ``n`` (= ``counts`` checked): dropped rows zeroed, support counted.

    ``targets`` is zeroed in place: callers pass an array they made for it.
    """
    targets[~kept] = 0
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
    selected, _, scale = _parts("mr", counts, excluded, denominator, shares, n=n)
    kept = selected.max(axis=1, initial=0) / scale > 0.5 + TOLERANCE  # the top share (one division per item)
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
    selected, outside = _shares("pr", counts, excluded, denominator, shares, per_label=True, n=n)
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
    selected, _ = _shares(rule, counts, excluded, "selected", shares, n=n)
    kept = _row_sums(selected) > 0
    below = np.zeros(len(n), dtype=bool)
    if min_selected_share is not None:
        share_of_all, _ = _shares(rule, counts, excluded, "all", shares, n=n)
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
    n = _count_array(labels.counts)
    if votes is None:
        selected, outside, scale = _parts(
            labels.rule, labels.counts, excluded, denominator, shares, per_label=True, n=n
        )
        top_value = selected.max(axis=1, initial=0)
        top_share = top_value / scale  # the shares' top (one division per item)
        if shares is None:  # the top count itself
            top = top_value.astype(np.int64)
        else:  # the pooled count of the class with the top mean share
            top = n[np.arange(len(n)), selected.argmax(axis=1)] if n.shape[1] else np.zeros(len(n), dtype=np.int64)
        agree = (top_share > 0) & (top_share >= outside.max(axis=1, initial=0) / scale - TOLERANCE)
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
        _supporting(n, targets, kept),
        labels.accounting.ratings_excluded_class,
        options=options,
        multilabel=labels.multilabel,
        below_share=labels.accounting.items_below_selected_share,
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
