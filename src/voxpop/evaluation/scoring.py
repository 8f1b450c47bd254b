"""One table of results: every metric of a prediction set against its targets, with bootstrap CIs and the
classes absent from the test set (METHODS.md section 6).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError
from voxpop.evaluation.divergences import jsd_items, kld_items
from voxpop.evaluation.metrics import (
    MULTI_LABEL_METRICS,
    REPORTED_PER_CLASS,
    SINGLE_LABEL_METRICS,
    Counts,
    _named_metric,
    align_tables,
    prepare,
)
from voxpop.evaluation.resampling import (
    _counts_from_sums,
    _item_contributions,
    _resampled_sums,
    cluster_codes,
    percentile_interval,
)


def evaluate(
    y_true: object,
    y_pred: object,
    *,
    classes: Sequence[object] | None = None,
    metrics: Sequence[str] | None = None,
    per_class: bool = True,
    target: object = None,
    probabilities: object = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    zero_division: float = 0.0,
    indices: np.ndarray | None = None,
    groups: object = None,
) -> pd.DataFrame:
    """A tidy table (metric, value, low, high, absent_classes) for a single-label or multi-label prediction set.

    All rows share the bootstrap resamples of :func:`bootstrap_distribution` with the same seed (METHODS.md
    section 6: percentile bootstrap over test items). Macro averages run over the classes present in this set
    (module docstring); a per-class row of a class neither true nor predicted is NaN (undefined, not 0).

    Args:
        y_true: the true class per item, or an items x classes 0/1 matrix (multi-label).
        y_pred: the predicted ones, in the same form and item order.
        classes: the classes in order (default: those present, sorted).
        metrics: metric names (default :data:`SINGLE_LABEL_METRICS` or :data:`MULTI_LABEL_METRICS`).
        per_class: add ``f1[<class>]``, ``weighted_f1[<class>]`` and ``mcc[<class>]`` rows
            (:data:`REPORTED_PER_CLASS`; the last two score each class's binary task, :func:`per_class_scores`).
        target: items x classes target distributions; with ``probabilities``, adds ``kld`` (default eps) and
            ``jsd`` rows.
        probabilities: items x classes predicted distributions.
        n_boot: bootstrap resamples (0: no interval).
        seed: the bootstrap's seed.
        alpha: 1 - the interval's coverage (0.05: the 2.5 / 97.5 % percentiles).
        zero_division: the value of a ratio whose denominator is 0.
        indices: resample rows to use instead of drawing them (:func:`resample_indices`: one matrix per test
            set for every model scored on it).
        groups: the speaker of every item (a Series by item id or a sequence in item order): the cluster
            bootstrap (:func:`bootstrap_distribution`); each resample's KLD / JSD mean divides by that
            resample's own item count.

    Returns:
        One row per metric: ``metric``, ``value``, ``low`` / ``high`` (the interval; NaN without one) and
        ``absent_classes`` (comma-separated, the classes of ``classes`` without a true item; multi-label:
        without a positive). Values are fractions in [0, 1] (MCC in [-1, 1]; KLD, JSD in nats).

    Raises:
        ConfigError: ``target`` without ``probabilities`` or the reverse, or an unknown metric.
        InputError: ``y_true`` and ``y_pred`` do not match (length, classes).

    Example:
        >>> table = evaluate(["A", "A", "S", "S"], ["A", "S", "S", "S"], classes=["A", "S", "N"], metrics=["uar"],
        ...                  n_boot=0)
        >>> table
                   metric     value  low  high absent_classes
        0             uar  0.750000  NaN   NaN              N
        1           f1[A]  0.666667  NaN   NaN              N
        2           f1[S]  0.800000  NaN   NaN              N
        3           f1[N]       NaN  NaN   NaN              N
        4  weighted_f1[A]  0.733333  NaN   NaN              N
        5  weighted_f1[S]  0.733333  NaN   NaN              N
        6  weighted_f1[N]       NaN  NaN   NaN              N
        7          mcc[A]  0.577350  NaN   NaN              N
        8          mcc[S]  0.577350  NaN   NaN              N
        9          mcc[N]       NaN  NaN   NaN              N
    """
    prepared = prepare(y_true, y_pred, classes)
    whole = Counts.from_prepared(prepared)
    names = list(metrics or (MULTI_LABEL_METRICS if prepared.multilabel else SINGLE_LABEL_METRICS))
    if per_class:
        names += [f"{kind}[{c}]" for kind in REPORTED_PER_CLASS for c in prepared.classes]
    functions = [_named_metric(name, prepared.classes, zero_division, whole) for name in names]
    n_items, n_classes = len(prepared.true), len(prepared.classes)
    stats_columns = [_item_contributions(prepared)]
    if (target is None) != (probabilities is None):
        raise ConfigError("give both target and probabilities for kld / jsd, or neither.")
    if target is not None:
        if prepared.index is not None and isinstance(target, pd.DataFrame) and isinstance(probabilities, pd.DataFrame):
            aligned = align_tables(
                {"labels": pd.Series(0, index=prepared.index), "target": target, "probabilities": probabilities}
            )
            target, probabilities = aligned["target"], aligned["probabilities"]
        per_item = np.column_stack([kld_items(target, probabilities), jsd_items(target, probabilities)])
        if len(per_item) != n_items:
            raise InputError(f"target / probabilities have {len(per_item)} items but the labels {n_items}.")
        stats_columns.append(per_item)
        names += ["kld", "jsd"]
    item_stats = np.concatenate(stats_columns, axis=1)

    def compute(sums: np.ndarray) -> list[np.ndarray]:
        counts = _counts_from_sums(sums[..., : 3 * n_classes + 1], n_classes, prepared.multilabel)
        values = [f(counts) for f in functions]
        if target is not None:
            values += [sums[..., 3 * n_classes + 1] / counts.n, sums[..., 3 * n_classes + 2] / counts.n]
        return values

    point = compute(item_stats.sum(axis=0))
    if n_boot > 0 or indices is not None:
        strata = None if prepared.multilabel else prepared.true
        codes = None if groups is None else cluster_codes(groups, n_items, prepared.index)
        strata = strata if codes is None else None
        cells = target is None  # every row a function of the confusion cells: count draws (KLD / JSD: rows)
        resampled = compute(_resampled_sums(item_stats, n_boot, seed, indices, strata, codes, cells))
        bounds = [percentile_interval(d, alpha) for d in resampled]
    else:
        bounds = [(np.nan, np.nan)] * len(names)
    table = pd.DataFrame(
        {
            "metric": names,
            "value": np.array(point, dtype=float),
            "low": [b[0] for b in bounds],
            "high": [b[1] for b in bounds],
            "absent_classes": absent_classes(whole, prepared.classes),
        }
    )
    seen = whole.tp + whole.fp + whole.fn > 0
    undefined = [f"{kind}[{c}]" for kind in REPORTED_PER_CLASS
                 for c, in_set in zip(prepared.classes, seen, strict=True) if not in_set]  # fmt: skip
    table.loc[table["metric"].isin(undefined), ["value", "low", "high"]] = np.nan
    return table


def absent_classes(counts: Counts, classes: Sequence[object]) -> str:
    """Comma-separated names of the classes without a true item (multi-label: without a positive) in ``counts``.

    >>> absent_classes(Counts.from_codes(np.array([0, 0, 2]), np.array([0, 1, 2]), 4), ["A", "H", "N", "S"])
    'H, S'
    """
    return ", ".join(str(c) for c, seen in zip(classes, counts.tp + counts.fn > 0, strict=True) if not seen)
