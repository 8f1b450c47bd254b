"""Paired comparisons of two results scored on the same test items, and the Holm correction.

Two models (or label rules, or conditions) scored on the same items are compared by the bootstrap
distribution of their metric *difference*: each resample takes the same items for both (METHODS.md
section 6), so what the items have in common cancels and only the models' difference varies. The
95 % interval is the percentile interval of that distribution, and the two-sided p-value is twice
the smaller share of resampled differences on either side of 0, floored at 1 / resamples (a
bootstrap of B resamples cannot show a smaller p) and capped at 1. Within a family of comparisons
(all pairs of train rows in one test column of a cross-test matrix, or all pairs of variants in one
table) p-values are adjusted by Holm's step-down method (Holm 1979), which controls the family-wise
error rate without assuming independence.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from voxpop.core.errors import InputError


@dataclasses.dataclass(frozen=True)
class PairedDifference:
    """``a - b``: the difference of the point values, its percentile CI and the two-sided p-value."""

    difference: float
    low: float
    high: float
    p_value: float
    n_resamples: int


def paired_difference(
    point_a: float, point_b: float, resampled_a: np.ndarray, resampled_b: np.ndarray, alpha: float = 0.05
) -> PairedDifference:
    """Compare two metrics whose bootstrap distributions come from the *same* resamples of the same items.

    ``resampled_a`` / ``resampled_b``: shape (B,), the metric on resample b for each model. NaN
    resamples (a metric undefined on that resample) are left out of both.

    >>> d = paired_difference(0.8, 0.7, np.array([0.8, 0.9, 0.7, 0.8]), np.array([0.7, 0.7, 0.72, 0.6]))
    >>> round(d.difference, 3), d.p_value  # one of four resampled differences is below 0: p = 2 * 1/4
    (0.1, 0.5)
    """
    a = np.asarray(resampled_a, dtype=float)
    b = np.asarray(resampled_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise InputError(f"paired resamples need equal 1-d shapes, got {a.shape} and {b.shape}")
    diff = (a - b)[~(np.isnan(a) | np.isnan(b))]
    if not len(diff):
        raise InputError("no resample where both metrics are defined; the comparison is undefined")
    low, high = np.quantile(diff, [alpha / 2, 1 - alpha / 2])
    return PairedDifference(float(point_a - point_b), float(low), float(high), bootstrap_p_value(diff), len(diff))


def bootstrap_p_value(differences: np.ndarray) -> float:
    """Two-sided p: 2 x min(share <= 0, share >= 0), floored at 1/B and capped at 1.

    >>> bootstrap_p_value(np.array([0.1, 0.2, 0.3, 0.4])), bootstrap_p_value(np.zeros(10))
    (0.25, 1.0)
    """
    d = np.asarray(differences, dtype=float)
    share = min(float((d <= 0).mean()), float((d >= 0).mean()))
    return float(min(1.0, max(2 * share, 1.0 / len(d))))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values, in the input order: sorted ascending, p_(i) x (m - i + 1), made
    non-decreasing, capped at 1 (equal to statsmodels' ``multipletests(method="holm")``).

    >>> holm([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    m = len(p)
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def pairwise_table(
    points: Mapping[str, float], resampled: Mapping[str, np.ndarray], alpha: float = 0.05
) -> pd.DataFrame:
    """Every pair of a family of results scored on the same resamples, with Holm-adjusted p-values.

    ``points``: name -> metric on the whole test set; ``resampled``: name -> (B,) metric per shared
    resample. Returns one row per pair (``a``, ``b`` in the order given) with ``difference`` (a - b),
    ``low``, ``high``, ``p_value``, ``p_holm`` and ``holds`` (p_holm < alpha).
    """
    names = list(points)
    rows = []
    for a, b in itertools.combinations(names, 2):
        d = paired_difference(points[a], points[b], resampled[a], resampled[b], alpha)
        rows.append({"a": a, "b": b, **dataclasses.asdict(d)})
    table = pd.DataFrame(rows, columns=["a", "b", "difference", "low", "high", "p_value", "n_resamples"])
    table["p_holm"] = holm(table["p_value"]) if len(table) else []
    table["holds"] = table["p_holm"] < alpha
    return table


def paired_distributions(
    metric: str,
    y_true: object,
    predictions: Mapping[str, object],
    *,
    classes: Sequence[object] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    zero_division: float = 0.0,
    groups: object = None,
) -> dict[str, np.ndarray]:
    """The bootstrap distribution of ``metric`` for every model scored on one test set, all on the same resamples.

    As :func:`voxpop.evaluation.resampling.bootstrap_distribution` for each model, drawn once for all: the
    models' per-item contributions side by side are the statistics resampled. A single-label set is drawn as
    counts over the joint cells (true class x model a's prediction x model b's ...) within each true class,
    so every resample is one resample of the items for every model; multi-label sets and ``groups`` (the
    cluster bootstrap) draw the rows or speakers that ``bootstrap_distribution`` draws with the same seed.

    Args:
        metric: a metric name (:func:`voxpop.evaluation.metrics.score` names or ``"f1[class]"``).
        y_true: the true class per item (or an items x classes 0/1 matrix), aligned with every prediction.
        predictions: model name -> its predictions for the same items.
        classes: the classes in order (default: those present, sorted).
        n_boot: resamples.
        seed: the bootstrap's seed.
        zero_division: the value of a ratio whose denominator is 0.
        groups: the speaker of every item, for the cluster bootstrap.

    Returns:
        Model name -> (n_boot,) metric per shared resample.

    Raises:
        InputError: no predictions, or as :func:`voxpop.evaluation.resampling.bootstrap_distribution`.

    Example:
        >>> truth, a = np.array([0, 0, 1, 1, 1]), np.array([0, 0, 1, 1, 0])
        >>> dist = paired_distributions("accuracy", truth, {"a": a, "b": a.copy()}, n_boot=50)
        >>> bool((dist["a"] == dist["b"]).all()), bool(dist["a"].min() < 1)  # one resample for both models
        (True, True)
    """
    from voxpop.evaluation.metrics import Counts, _aligned_pair, _named_metric, prepare
    from voxpop.evaluation.resampling import (
        _counts_from_sums,
        _item_contributions,
        _resampled_sums,
        cluster_codes,
        strata_of,
    )

    if not predictions:
        raise InputError("paired distributions need at least one model's predictions")
    pairs = {name: _aligned_pair(y_true, y_pred, classes) for name, y_pred in predictions.items()}
    prepared = {name: prepare(t, p, classes) for name, (t, p) in pairs.items()}
    truth = next(iter(pairs.values()))[0]
    strata, codes = strata_of(truth, classes), None
    if groups is not None:
        index = truth.index if isinstance(truth, pd.Series | pd.DataFrame) else None
        codes, strata = cluster_codes(groups, len(truth), index), None
    parts = [_item_contributions(p) for p in prepared.values()]
    sums = _resampled_sums(np.concatenate(parts, axis=1), n_boot, seed, None, strata, codes, cells=True)
    distributions, start = {}, 0
    for (name, p), part in zip(prepared.items(), parts, strict=True):
        compute = _named_metric(metric, p.classes, zero_division, Counts.from_prepared(p))
        stop = start + part.shape[1]
        distributions[name] = compute(_counts_from_sums(sums[:, start:stop], len(p.classes), p.multilabel))
        start = stop
    return distributions


def paired_cells(
    scored: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]],
    classes: Sequence[str],
    metric: str,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    speakers: pd.Series | None = None,
) -> pd.DataFrame:
    """Every pair of models scored on one test set: the :func:`pairwise_table` of ``metric``.

    ``scored``: model name -> (true, predicted) tables as :func:`voxpop.study.stages.scored` gives them (one
    ``label`` column for single-label sets, multi-hot class columns otherwise). The items every model
    was scored on are compared; the models' bootstrap distributions are drawn together by
    :func:`paired_distributions` on the same true labels, hence on the same resamples (paired). ``speakers``
    (item id -> speaker) resamples speakers instead of items (the cluster bootstrap of
    :func:`voxpop.evaluation.resampling.bootstrap_distribution`), the same speakers for every
    model. Raises :class:`InputError` when the models disagree on the truth of an item (they were not
    scored on one test set), or when ``speakers`` lacks a compared item or holds fewer than 2 speakers.
    """
    from voxpop.evaluation.resampling import bootstrap_distribution

    names = list(scored)
    common = scored[names[0]][0].index
    for name in names[1:]:
        common = common[common.isin(scored[name][0].index)]
    if not len(common):
        raise InputError("the models share no scored test item; paired comparisons need the same items")
    truths = [scored[n][0].loc[common] for n in names]
    if any(not t.equals(truths[0]) for t in truths[1:]):
        raise InputError("the models were scored against different truths; compare cells of one test set only")

    def column(table: pd.DataFrame) -> pd.Series | pd.DataFrame:
        return table["label"] if list(table.columns) == ["label"] else table

    y_true = column(truths[0])
    everything = np.arange(len(common))[None, :]
    predicted = {name: column(scored[name][1].loc[common]) for name in names}
    points = {
        name: float(bootstrap_distribution(metric, y_true, y_pred, classes=classes, indices=everything)[0])
        for name, y_pred in predicted.items()
    }
    resampled = paired_distributions(
        metric, y_true, predicted, classes=classes, n_boot=n_boot, seed=seed, groups=speakers
    )
    return pairwise_table(points, resampled, alpha).assign(n_items=len(common))
