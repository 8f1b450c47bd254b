"""Metrics of dimensional (continuous) predictions on a whole test set, with bootstrap intervals.

Per dimension d over the n test items, predictions p and targets t (population moments, 1/n):

- ``ccc``: Lin's (1989) concordance correlation 2 s_pt / (s_p^2 + s_t^2 + (mean p - mean t)^2);
- ``pearson``: Pearson's r = s_pt / (s_p s_t);
- ``mae``: mean |p - t|;  ``rmse``: sqrt(mean (p - t)^2), in the units of the targets' scale;

and ``mean``, each metric's average over the dimensions. Intervals are percentile bootstrap intervals
over items: the resamples are :func:`voxpop.evaluation.resampling.resample_indices` of the test set, drawn plainly
(continuous targets have no classes to stratify by), shared by every dimension and metric so the mean
over dimensions has its own interval. A resample where a correlation is undefined (zero variance) is
left out of that interval (NaN, ignored by :func:`voxpop.evaluation.resampling.percentile_interval`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from voxpop.core.errors import InputError
from voxpop.evaluation.resampling import cluster_resamples, percentile_interval, resample_indices

REGRESSION_METRICS = ("ccc", "pearson", "mae", "rmse")
"""The metrics of a dimensional (regression) task per dimension: Lin's CCC, Pearson r, MAE and RMSE (the last two
in the targets' units)."""
MEAN = "mean"


def _moments(p: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric along the last-but-one axis of (..., n, D) arrays: results (..., D)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mp, mt = p.mean(axis=-2, keepdims=True), t.mean(axis=-2, keepdims=True)
        dp, dt = p - mp, t - mt
        cov, vp, vt = (dp * dt).mean(axis=-2), (dp**2).mean(axis=-2), (dt**2).mean(axis=-2)
        shift = (mp - mt)[..., 0, :] ** 2
        denominator = vp + vt + shift
        return {
            "ccc": np.where(denominator > 0, 2 * cov / np.where(denominator > 0, denominator, 1), np.nan),
            "pearson": np.where((vp > 0) & (vt > 0), cov / np.sqrt(vp * vt), np.nan),
            "mae": np.abs(p - t).mean(axis=-2),
            "rmse": np.sqrt(((p - t) ** 2).mean(axis=-2)),
        }


def _aligned(predictions: pd.DataFrame, targets: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    dims = [str(c) for c in targets.columns]
    missing = [d for d in dims if d not in predictions.columns]
    if missing:
        raise InputError(
            f"predictions have no column for dimension(s) {missing}; they have {list(predictions.columns)}"
        )
    if not predictions.index.equals(targets.index):
        raise InputError("predictions and targets must hold the same items in the same order (align them first)")
    p = predictions[dims].to_numpy(dtype=float)
    t = targets.to_numpy(dtype=float)
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise InputError("predictions and targets must be finite; drop the items a label set does not keep")
    return p, t


def regression_scores(predictions: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """CCC, Pearson r, MAE and RMSE per dimension and their mean over dimensions.

    ``predictions`` and ``targets``: items x dimensions, the same items in the same order (predictions may
    have more columns). Returns rows dimension (then ``mean``) x columns :data:`REGRESSION_METRICS`.
    Raises :class:`InputError` for misaligned or non-finite tables.

    >>> t = pd.DataFrame({"arousal": [1.0, 2.0, 3.0, 4.0]})
    >>> regression_scores(t + 0.5, t).round(4).loc["arousal"].tolist()  # CCC = 2 * 1.25 / (2.5 + 0.25)
    [0.9091, 1.0, 0.5, 0.5]
    """
    p, t = _aligned(predictions, targets)
    scores = pd.DataFrame(_moments(p, t), index=[str(c) for c in targets.columns])[list(REGRESSION_METRICS)]
    scores.loc[MEAN] = scores.mean(axis=0, skipna=False)
    return scores.rename_axis("dimension")


def regression_distribution(
    predictions: pd.DataFrame, targets: pd.DataFrame, metric: str, indices: np.ndarray
) -> np.ndarray:
    """One metric of :data:`REGRESSION_METRICS`, mean over the dimensions, on each resample of ``indices``.

    Args:
        predictions: items x dimensions predicted values; targets: the same items' gold standard, same order.
        metric: ``ccc``, ``pearson``, ``mae`` or ``rmse``.
        indices: (B, n) item positions, one resample per row (``np.arange(n)[None, :]``: the whole set).

    Returns:
        Shape (B,); NaN where a correlation is undefined on a resample.

    Raises:
        InputError: as :func:`regression_scores`, or an unknown metric.

    Example:
        >>> t = pd.DataFrame({"arousal": [1.0, 2.0, 3.0, 4.0]})
        >>> regression_distribution(t + 0.5, t, "mae", np.array([[0, 1, 2, 3], [0, 0, 1, 1]])).tolist()
        [0.5, 0.5]
    """
    if metric not in REGRESSION_METRICS:
        raise InputError(f"unknown regression metric {metric!r}; choose one of {', '.join(REGRESSION_METRICS)}")
    p, t = _aligned(predictions, targets)
    return _moments(p[indices], t[indices])[metric].mean(axis=-1)


def regression_table(
    predictions: pd.DataFrame,
    targets: pd.DataFrame,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    indices: np.ndarray | None = None,
    groups: pd.Series | None = None,
) -> pd.DataFrame:
    """:func:`regression_scores` in long form with percentile bootstrap intervals.

    Args:
        predictions: items x dimensions predicted values (may have more columns).
        targets: items x dimensions gold-standard values, the same items in the same order.
        n_boot: bootstrap resamples (0: NaN intervals).
        seed: the bootstrap's seed.
        alpha: 1 - the interval's coverage (0.05: the 2.5 / 97.5 % percentiles).
        indices: an (n_boot, n) matrix of item positions to use instead of
            ``resample_indices(targets, n_boot, seed)``.
        groups: item id -> speaker (not with ``indices``): the cluster bootstrap, each resample the items of
            the speakers drawn with replacement (:func:`voxpop.evaluation.resampling.cluster_resamples`).

    Returns:
        One row per dimension (then ``mean``) and metric of :data:`REGRESSION_METRICS`, with columns
        ``dimension``, ``metric``, ``value``, ``low``, ``high`` and ``n_items``.

    Raises:
        InputError: misaligned or non-finite tables, a dimension without a prediction column, or ``groups``
            that do not cover the items (as :func:`voxpop.evaluation.resampling.cluster_resamples`).
    """
    p, t = _aligned(predictions, targets)
    point = regression_scores(predictions, targets)
    low = pd.DataFrame(np.nan, index=point.index, columns=point.columns)
    high = low.copy()
    resampled: dict[str, np.ndarray] = {}
    if len(t) and groups is not None and n_boot > 0:
        rows = [_moments(p[row], t[row]) for row in cluster_resamples(groups, targets.index, n_boot, seed)]
        resampled = {metric: np.stack([row[metric] for row in rows]) for metric in REGRESSION_METRICS}
    elif len(t) and (n_boot > 0 or indices is not None):
        draws = resample_indices(t, n_boot, seed) if indices is None else indices
        resampled = _moments(p[draws], t[draws])  # each (n_boot, D)
    for metric, values in resampled.items():
        with np.errstate(invalid="ignore"):
            means = values.mean(axis=1)  # NaN where a dimension is undefined in that resample
        columns = [*values.T, means]
        for name, distribution in zip(point.index, columns, strict=True):
            low.loc[name, metric], high.loc[name, metric] = percentile_interval(distribution, alpha)
    long = point.stack().rename("value").to_frame()
    long["low"], long["high"] = low.stack(), high.stack()
    long.index = long.index.set_names(["dimension", "metric"])
    return long.reset_index().assign(n_items=len(t))
