"""Score one test set of pooled out-of-fold predictions against a label set of either kind, in the columns of a
study's results table: the one scoring entry point of the ``evaluate`` stage (:func:`score_test_set`).

- classes (:class:`~voxpop.labels.labelset.LabelSet`): :func:`voxpop.evaluation.results.evaluate_pooled` with
  each metric's chance level (:func:`voxpop.evaluation.chance.chance_levels`);
- dimensions (:class:`~voxpop.labels.continuous.ContinuousLabelSet`): :func:`regression_results`, CCC, Pearson r,
  MAE and RMSE per dimension and their mean (:mod:`voxpop.evaluation.regression`). Metric ``ccc`` is the mean
  over dimensions, ``ccc[arousal]`` one dimension (as ``f1[anger]``); chance is 0 for CCC and Pearson r (a
  predictor independent of the targets) and undefined for MAE / RMSE (scale-bound); absent classes and ties do
  not apply (empty / 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError
from voxpop.evaluation.chance import chance_levels
from voxpop.evaluation.regression import MEAN, regression_scores, regression_table
from voxpop.evaluation.results import evaluate_pooled, fold_statistics
from voxpop.labels import ContinuousLabelSet, LabelSet


def score_test_set(
    predictions: pd.DataFrame,
    labels: LabelSet | ContinuousLabelSet,
    *,
    n_boot: int,
    seed: int,
    speakers: pd.Series | None = None,
    prior: LabelSet | None = None,
    **options: Any,
) -> pd.DataFrame | None:
    """Metrics of ``predictions`` on the items ``labels`` keeps, with bootstrap intervals, per-fold statistics
    and chance levels, dispatched on ``labels.kind``.

    Args:
        predictions: items x outputs (class probabilities or dimension values) and a ``fold`` column.
        labels: the test label set.
        n_boot: bootstrap resamples (0: no intervals).
        seed: seed of the resamples.
        speakers: item -> speaker for the speaker-cluster bootstrap (None: items).
        prior: classes: the training label set whose mean distribution gives the KLD / JSD chance level.
        **options: classes: ``binarize`` and ``tie_policy`` of :func:`evaluate_pooled`.

    Returns:
        Rows metric, value, low, high, n_items, n_excluded, chance, absent_classes, tie_policy, n_tied,
        fold_mean, fold_sd, n_folds; None for continuous targets when no predicted item is kept.

    Raises:
        ConfigError: predictions of other dimensions than the label set's.
        InputError: as :func:`evaluate_pooled` / :func:`voxpop.evaluation.regression.regression_table`.
    """
    if labels.kind == "continuous":
        return regression_results(predictions, labels, n_boot=n_boot, seed=seed, speakers=speakers)
    table = evaluate_pooled(predictions, labels, n_boot=n_boot, seed=seed, speakers=speakers, **options)
    kept = labels.kept.reindex(predictions.index, fill_value=False).to_numpy(dtype=bool)
    prior = prior if prior is not None and prior.classes == labels.classes else None
    levels = chance_levels(predictions.index[kept], labels, prior)
    return table.assign(chance=table["metric"].map(levels).astype(float))


def regression_results(
    predictions: pd.DataFrame,
    labels: ContinuousLabelSet,
    *,
    n_boot: int,
    seed: int,
    speakers: pd.Series | None = None,
) -> pd.DataFrame | None:
    """Regression metrics of out-of-fold ``predictions`` (items x dimensions and ``fold``) on the items ``labels``
    keeps, in the results table's columns (see the module docstring).

    Args:
        predictions: items x dimensions on the targets' scale, and a ``fold`` column.
        labels: the continuous test label set (its dimensions must be predicted).
        n_boot: bootstrap resamples; seed: their seed; speakers: item -> speaker for the cluster bootstrap.

    Returns:
        One row per metric (``ccc``, ``ccc[arousal]``, ...) with value, low, high, n_items, n_excluded (predicted
        items the label set does not keep), fold_mean / fold_sd / n_folds and chance; None when no predicted
        item is kept.

    Raises:
        ConfigError: predictions of other dimensions than the label set's.
    """
    dimensions = [c for c in predictions.columns if c != "fold"]
    if dimensions != labels.dimensions:
        raise ConfigError(f"predictions of {dimensions} cannot be scored on {labels.dimensions}")
    values = predictions[labels.dimensions]
    kept = labels.kept.reindex(values.index, fill_value=False).to_numpy(dtype=bool)
    if not kept.any():
        return None
    scored = values[kept]
    targets = labels.values.loc[scored.index]
    table = regression_table(scored, targets, n_boot, seed, groups=speakers)
    table["metric"] = _metric_names(table["dimension"], table["metric"])
    if "fold" in predictions.columns:
        folds = predictions["fold"].reindex(scored.index)
        table = table.merge(_fold_summary(scored, targets, folds), on="metric", how="left")
    table = table.drop(columns="dimension").assign(n_excluded=int((~kept).sum()))
    base = table["metric"].str.replace(r"\[.*\]$", "", regex=True)  # ccc[arousal] -> ccc
    chance = np.where(base.isin(["ccc", "pearson"]), 0.0, np.nan)  # a predictor independent of the truth
    return table.assign(chance=chance, absent_classes="", tie_policy="", n_tied=0)


def _metric_names(dimensions: pd.Series, metrics: pd.Series) -> np.ndarray:
    """``ccc[arousal]`` per dimension, ``ccc`` for the mean over dimensions."""
    return np.where(dimensions.eq(MEAN), metrics, metrics + "[" + dimensions + "]")


def _fold_summary(predictions: pd.DataFrame, targets: pd.DataFrame, folds: pd.Series) -> pd.DataFrame:
    """Per metric the mean and sample standard deviation (ddof 1) over test folds of the metric computed on each
    fold's items alone: columns metric, fold_mean, fold_sd, n_folds (folds where the metric is defined)."""
    per_fold = {}
    for fold in pd.unique(folds):
        inside = folds.eq(fold).to_numpy(dtype=bool)
        long = regression_scores(predictions[inside], targets[inside]).stack()
        names = _metric_names(pd.Series(long.index.get_level_values(0)), pd.Series(long.index.get_level_values(1)))
        per_fold[fold] = pd.Series(long.to_numpy(dtype=float), index=names)
    return fold_statistics(pd.DataFrame(per_fold))
