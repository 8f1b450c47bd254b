"""The human ceiling (issue #27 item 4): how well does one rater agree with the others, beside the model?

Leave one rater out: for each rater r with at least ``min_ratings`` scored items,

1. the *leave-one-out labels* are the test label set built by the same rule from every rating except r's
   (:func:`voxpop.labels.label_sets.build_label_set` on the corpus without r's ratings);
2. r's own labels are the same rule applied to r's ratings alone (a single vote's majority, plurality or
   distribution is that vote; for dimensions r's own scores: the mean of one rating);
3. on the items r rated that the leave-one-out labels keep and the models predicted, r is scored against the
   leave-one-out labels with each metric, and so is every model, on the same items; the paired difference
   model - rater has a percentile bootstrap interval from the same resamples
   (:func:`voxpop.evaluation.significance.paired_difference`).

The raters' ceiling is the mean of the raters' scores with a Student-t 95 % interval over the raters
(:func:`voxpop.evaluation.summary_rows.mean_interval`), beside each model's mean over the same raters' items and
the mean paired difference. Raters with fewer items are set aside and counted. A single-label test set's true
class is the leave-one-out target's top class (ties left out, as tie policy ``drop``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError
from voxpop.corpus.corpus import Corpus
from voxpop.evaluation.predictions import predicted_classes
from voxpop.evaluation.regression import REGRESSION_METRICS, regression_distribution
from voxpop.evaluation.resampling import bootstrap_distribution, percentile_interval, resample_indices
from voxpop.evaluation.significance import paired_difference
from voxpop.evaluation.summary_rows import mean_interval
from voxpop.labels.decisions import top_class
from voxpop.labels.label_sets import build_label_set
from voxpop.labels.rater_folds import with_ratings

CLASS_METRICS = ("accuracy", "uar", "macro_f1", "micro_f1", "weighted_f1", "mcc")
"""The class metrics a rater can be scored with (one label per item, no probabilities)."""

RATER = "rater"
"""The ``model`` value of a rater's own score in :func:`leave_one_rater_out`'s tables."""

RATERS = "raters"
"""The ``model`` value of the raters' mean in the summary (the "raters" row of results tables)."""

DEFAULT_MIN_RATINGS = 10


def ceiling_metrics(metrics: Sequence[str], kind: str) -> list[str]:
    """The metrics of ``metrics`` a rater can be scored with on a test set of ``kind``.

    >>> ceiling_metrics(["macro_f1", "kld", "ccc"], "categorical"), ceiling_metrics(["ccc", "mae"], "continuous")
    (['macro_f1'], ['ccc', 'mae'])
    """
    allowed = REGRESSION_METRICS if kind == "continuous" else CLASS_METRICS
    return [m for m in metrics if m in allowed]


def _own_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec of one rater's own labels: the rule itself, or for dimensions the rater's own scores (mean)."""
    if "gold_standard" in spec and "rule" not in spec:
        return {**spec, "gold_standard": "mean"}
    return dict(spec)


def _targets(labels: Any, items: pd.Index) -> pd.DataFrame | pd.Series:
    """The scored form of a label set on ``items``: a class name per item (ties: NaN) or dimension values."""
    targets = labels.targets.reindex(items)
    if labels.kind == "continuous":
        return targets
    codes, _ = top_class(targets.fillna(0).to_numpy(dtype=float), "drop")
    names = np.asarray(labels.classes, dtype=object)
    return pd.Series(np.where(codes >= 0, names[np.maximum(codes, 0)], None), index=items, dtype=object)


def _scores(
    metric: str, truth: Any, guess: Any, classes: list[str], indices: np.ndarray, kind: str
) -> tuple[float, np.ndarray]:
    if kind == "continuous":
        point = regression_distribution(guess, truth, metric, np.arange(len(truth))[None, :])[0]
        return float(point), regression_distribution(guess, truth, metric, indices)
    point = bootstrap_distribution(metric, truth, guess, classes=classes, indices=np.arange(len(truth))[None, :])[0]
    return float(point), bootstrap_distribution(metric, truth, guess, classes=classes, indices=indices)


def leave_one_rater_out(
    corpus: Corpus,
    spec: Mapping[str, Any],
    predictions: Mapping[str, pd.DataFrame],
    metrics: Sequence[str],
    *,
    classes: Sequence[str] | None = None,
    class_map: Mapping[str, str] | None = None,
    min_ratings: int = DEFAULT_MIN_RATINGS,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score every rater, and every model beside it, against the labels of the other raters (module docstring).

    Args:
        corpus: the corpus with per-rater ratings (rater ids required).
        spec: the test label set's spec (its ``config()``: a categorical rule or a gold standard of dimensions).
        predictions: model name -> its out-of-fold predictions (class probabilities or dimension values, by item).
        metrics: the metrics to score (:func:`ceiling_metrics` keeps those a rater can be scored with).
        classes: the label set's classes (as the labels stage gets them).
        class_map: the label set's class map (as the labels stage gets it).
        min_ratings: the fewest scored items a rater needs (fewer: set aside, counted in the summary).
        n_boot: bootstrap resamples of each rater's items.
        seed: the resamples' seed.

    Returns:
        ``(per_rater, summary)``: per_rater has one row per rater, metric and model (``rater`` for the rater's
        own score): ``rater``, ``n_items``, ``metric``, ``model``, ``value``, ``low``, ``high`` and, for models,
        ``difference``, ``difference_low``, ``difference_high`` (model - rater); summary has per metric and model
        (``raters`` for the raters' ceiling) the mean over raters ``value``, ``low``, ``high`` (Student-t), the mean
        ``difference`` with its interval, ``n_raters`` and ``raters_set_aside``.

    Raises:
        ConfigError: no metric a rater can be scored with, a multi-label test set, or the disagreement rule.
        VoxpopError: the corpus has no rater ids.

    Example:
        >>> items = pd.DataFrame(index=["i1", "i2"])
        >>> ratings = pd.DataFrame({"item": ["i1"] * 3 + ["i2"] * 3, "rater": ["a", "b", "c"] * 2,
        ...                         "label": ["A", "A", "A", "S", "S", "A"]})
        >>> corpus = Corpus("toy", items, ratings, classes=["A", "S"])
        >>> model = {"m": pd.DataFrame({"A": [0.9, 0.2], "S": [0.1, 0.8]}, index=["i1", "i2"])}
        >>> rows, summary = leave_one_rater_out(corpus, {"rule": "pr"}, model, ["accuracy"], min_ratings=1, n_boot=5)
        >>> own = rows[rows["model"].eq("rater")]  # without a (or b) i2 is tied (S, A): only i1 scored
        >>> own["n_items"].tolist(), own["value"].tolist()  # c's A on i2 is wrong against S, S
        ([1, 1, 2], [1.0, 1.0, 0.5])
    """
    if spec.get("rule") == "disagreement":
        raise ConfigError("the human ceiling needs a rule or a gold standard, not the raters' disagreement")
    corpus.require_rater_ids("the human ceiling (leave one rater out)")
    full = build_label_set(corpus, spec, classes=classes, class_map=class_map)
    kind = full.kind
    if full.multilabel:
        raise ConfigError("the human ceiling scores single-label or dimensional test sets, not multi-label ones")
    chosen = ceiling_metrics(metrics, kind)
    if not chosen:
        allowed = ", ".join(REGRESSION_METRICS if kind == "continuous" else CLASS_METRICS)
        raise ConfigError(f"the human ceiling needs one of the metrics {allowed} in evaluation.metrics")
    names = list(full.names)
    predicted = {m: p.drop(columns="fold", errors="ignore") for m, p in predictions.items()}
    raters = corpus.ratings["rater"].astype(str)
    rows, set_aside = [], 0
    for rater in pd.unique(raters):
        own = raters.eq(rater).to_numpy()
        loo = build_label_set(with_ratings(corpus, ~own), spec, classes=classes, class_map=class_map)
        mine = build_label_set(with_ratings(corpus, own), _own_spec(spec), classes=classes, class_map=class_map)
        items = mine.kept.index[mine.kept.to_numpy(dtype=bool)]
        items = items[loo.kept.reindex(items, fill_value=False).to_numpy(dtype=bool)]
        for table in predicted.values():
            items = items[items.isin(table.index)]
        truth, guess = _targets(loo, items), _targets(mine, items)
        defined = (truth.notna().all(axis=1) if kind == "continuous" else truth.notna()).to_numpy()
        items, truth, guess = items[defined], truth[defined], guess[defined]
        if len(items) < max(min_ratings, 1):
            set_aside += 1
            continue
        indices = resample_indices(np.arange(len(items)) if kind == "continuous" else truth, n_boot, seed)
        models = {
            m: p.loc[items, names] if kind == "continuous" else predicted_classes(p.loc[items, names])
            for m, p in predicted.items()
        }
        for metric in chosen:
            value, resampled = _scores(metric, truth, guess, names, indices, kind)
            cell = {"rater": rater, "n_items": len(items), "metric": metric}
            rows.append({**cell, "model": RATER, "value": value, **_interval(resampled)})
            for name, model in models.items():
                model_value, model_resampled = _scores(metric, truth, model, names, indices, kind)
                d = paired_difference(model_value, value, model_resampled, resampled)
                difference = {"difference": d.difference, "difference_low": d.low, "difference_high": d.high}
                rows.append({**cell, "model": name, "value": model_value, **_interval(model_resampled), **difference})
    per_rater = pd.DataFrame(rows, columns=["rater", "n_items", "metric", "model", "value", "low", "high",
                                            "difference", "difference_low", "difference_high"])  # fmt: skip
    return per_rater, _summary(per_rater, set_aside)


def _interval(resampled: np.ndarray) -> dict[str, float]:
    low, high = percentile_interval(resampled)
    return {"low": low, "high": high}


def _summary(per_rater: pd.DataFrame, set_aside: int) -> pd.DataFrame:
    rows = []
    for (metric, model), block in per_rater.groupby(["metric", "model"], sort=False):
        score, diff = mean_interval(block["value"]), mean_interval(block["difference"])
        rows.append({"metric": metric, "model": RATERS if model == RATER else model, "value": score.mean,
                     "low": score.low, "high": score.high, "difference": diff.mean, "difference_low": diff.low,
                     "difference_high": diff.high, "n_raters": score.n, "raters_set_aside": set_aside})  # fmt: skip
    return pd.DataFrame(rows, columns=["metric", "model", "value", "low", "high", "difference", "difference_low",
                                       "difference_high", "n_raters", "raters_set_aside"])  # fmt: skip
