"""Results: predictions scored against a test label set, pooled over folds and per fold, with CIs.

- :func:`evaluate_predictions` scores predictions on the items a test label set keeps: single-label
  metrics for one-hot / distribution targets, multi-label metrics for multi-hot targets, KLD / JSD
  against soft target distributions; always on the whole test set with bootstrap intervals.
- :func:`fold_summary` scores each fold's predictions on its own and gives the mean and standard
  deviation over folds; :func:`evaluate_pooled` puts them beside the pooled out-of-fold score
  (columns ``fold_mean``, ``fold_sd``, ``n_folds``), as results tables report both.
- :func:`evaluate_out_of_fold`: the pooled table when every item is predicted once, else one per fold.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.corpus import STRING
from voxpop.evaluation.predictions import Binarize, _is_distribution, binarize_predictions, predicted_classes
from voxpop.evaluation.scoring import evaluate
from voxpop.labels import LabelSet
from voxpop.labels.decisions import EVALUATION_TIE_POLICIES, top_class


def evaluate_predictions(
    predictions: pd.DataFrame,
    test_labels: LabelSet,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    binarize: Binarize = "auto",
    tie_policy: str = "drop",
    speakers: pd.Series | None = None,
) -> pd.DataFrame:
    """Metrics of ``predictions`` on the predicted items that ``test_labels`` keeps, with bootstrap CIs.

    Single-label task (test targets one-hot or distributions): the true class is the top class of the target
    (:func:`voxpop.labels.decisions.top_class`); a distribution whose top is shared by several classes (AR
    targets) is a tie, scored by ``tie_policy``. The predicted class is the argmax of the prediction;
    accuracy, UAR, macro / micro / weighted F1, MCC and per-class F1, plus KLD and JSD when the test targets
    are soft distributions and the predictions are distributions. Multi-label task
    (``test_labels.multilabel``): predictions binarised by :func:`binarize_predictions`; macro / micro /
    weighted F1, MCC, per-class F1 (no ties). All metrics are computed on the whole set
    (:func:`voxpop.evaluation.scoring.evaluate`; METHODS.md section 6).

    Args:
        predictions: items x classes scores (probabilities in [0, 1]), indexed by item id; extra columns
            (``fold``) are ignored.
        test_labels: the test label set; its classes must all be columns of ``predictions``.
        n_boot: bootstrap resamples of the 95 % percentile interval over items (seeded, stratified by true
            class for single-label sets); 0: no interval.
        seed: the bootstrap's seed.
        binarize: how a multi-label prediction becomes 0/1 (:func:`binarize_predictions`: ``auto``,
            ``uniform`` (p_c > 1/C), ``argmax``, or thresholds).
        tie_policy: ``drop`` (default) leaves a tied item out, ``first`` takes the first tied class,
            ``random`` a seeded random one.
        speakers: item id -> speaker (:func:`voxpop.evaluation.resampling.resample_groups`): resample
            speakers instead of items (cluster bootstrap, unstratified).

    Returns:
        One row per metric: ``metric``, ``value``, ``low``, ``high``, ``absent_classes`` (classes without a
        true item here, left out of macro averages), ``n_items`` (items scored), ``n_excluded`` (predicted
        items the test labels do not keep or do not know), ``tie_policy`` and ``n_tied`` (tied items whatever
        the policy; under ``drop`` they are not in n_items, and KLD / JSD are computed on the scored items
        too).

    Raises:
        ConfigError: an unknown tie policy or binarisation.
        InputError: a class column is missing, no predicted item is scored, or ``speakers`` lacks a scored
            item or the scored items come from fewer than 2 speakers.
    """
    if tie_policy not in EVALUATION_TIE_POLICIES:
        raise ConfigError(f"unknown tie policy {tie_policy!r}; choose one of {', '.join(EVALUATION_TIE_POLICIES)}.")
    classes = test_labels.classes
    missing = [c for c in classes if c not in predictions.columns]
    if missing:
        raise InputError(
            f"predictions have no column for classes {missing} of the test label set ({', '.join(classes)}); "
            f"their columns are {[c for c in predictions.columns if c != 'fold']}. Map the classes first."
        )
    probs = predictions[classes].astype(float)
    probs.index = probs.index.astype(STRING)
    duplicated = probs.index[probs.index.duplicated()].unique()
    if len(duplicated):
        raise InputError(
            f"predictions hold {len(duplicated)} items more than once (e.g. {list(duplicated[:3])}), from "
            "overlapping folds; evaluate one fold at a time (predictions[predictions['fold'] == NAME])."
        )
    kept = test_labels.kept.reindex(probs.index, fill_value=False).to_numpy(dtype=bool)
    n_excluded = int((~kept).sum())
    probs = probs[kept]
    if probs.empty:
        raise InputError(
            f"none of the {len(predictions)} predicted items is kept by the test label set {test_labels.rule!r}; "
            "check that predictions and labels come from the same corpus."
        )
    targets = test_labels.targets.loc[probs.index, classes]
    n_tied = 0
    if test_labels.multilabel:
        y_true = (targets > 0).astype(int)
        predicted = binarize_predictions(probs, binarize)
        table = evaluate(y_true, predicted, classes=classes, n_boot=n_boot, seed=seed, groups=speakers)
    else:
        codes, tied = top_class(targets.to_numpy(dtype=float), tie_policy, seed)
        n_tied = int(tied.sum())
        scored = codes >= 0
        if not scored.any():
            raise InputError(
                f"all {len(probs)} test items of {test_labels.rule!r} have tied top classes and tie_policy 'drop' "
                "leaves them out; choose tie_policy first or random, or a test label set without ties."
            )
        probs, targets, codes = probs[scored], targets[scored], codes[scored]
        names = np.asarray(classes, dtype=object)
        y_true = pd.Series(names[codes], index=probs.index, dtype=STRING)
        y_pred = predicted_classes(probs)
        target_values = targets.to_numpy(dtype=float)
        soft = (target_values > 0).sum(axis=1).max() > 1 and _is_distribution(target_values).all()
        with_distributions = soft and _is_distribution(probs.to_numpy(dtype=float)).all()
        table = evaluate(
            y_true,
            y_pred,
            classes=classes,
            target=targets if with_distributions else None,
            probabilities=probs if with_distributions else None,
            n_boot=n_boot,
            seed=seed,
            groups=speakers,
        )
    return table.assign(n_items=len(probs), n_excluded=n_excluded, tie_policy=tie_policy, n_tied=n_tied)


def evaluate_out_of_fold(
    predictions: pd.DataFrame, test_labels: LabelSet, *, n_boot: int = 1000, seed: int = 0, tie_policy: str = "drop"
) -> dict[str, pd.DataFrame]:
    """:func:`evaluate_predictions` pooled over folds, or per fold when test sets overlap.

    Args:
        predictions: out-of-fold items x classes scores with a ``fold`` column.
        test_labels: the test label set.
        n_boot: bootstrap resamples (0: no interval).
        seed: the bootstrap's seed.
        tie_policy: ``drop``, ``first`` or ``random`` (:func:`evaluate_predictions`).

    Returns:
        ``{"pooled": table}`` (:func:`evaluate_pooled`: with the per-fold mean and standard deviation beside
        each metric) when every item is predicted once, else one table per fold, keyed by fold name
        (overlapping test sets, e.g. several predefined split columns).

    Raises:
        ConfigError: as :func:`evaluate_predictions`.
        InputError: as :func:`evaluate_predictions`.
    """
    options = {"n_boot": n_boot, "seed": seed, "tie_policy": tie_policy}
    if not predictions.index.duplicated().any():
        return {"pooled": evaluate_pooled(predictions, test_labels, **options)}
    return {
        str(fold): evaluate_predictions(part, test_labels, **options)
        for fold, part in predictions.groupby("fold", sort=False)
    }


def fold_summary(
    predictions: pd.DataFrame,
    test_labels: LabelSet,
    *,
    seed: int = 0,
    binarize: Binarize = "auto",
    tie_policy: str = "drop",
) -> pd.DataFrame:
    """Per metric the mean and sample standard deviation (ddof 1) over folds of the metric computed on each
    fold's predictions alone (:func:`evaluate_predictions` without bootstrap on the rows of one ``fold``).

    Columns metric, fold_mean, fold_sd, n_folds (folds where the metric is defined: a fold without an
    item kept by ``test_labels`` or a per-class F1 undefined in it does not count). Empty (no rows)
    when ``predictions`` has no ``fold`` column. fold_sd is NaN with fewer than two folds.

    >>> from voxpop.labels.labelset import Accounting
    >>> targets = pd.DataFrame({"A": [1.0, 1.0, 0.0, 0.0], "S": [0.0, 0.0, 1.0, 1.0]}, index=list("abcd"))
    >>> labels = LabelSet(targets, pd.Series(True, index=targets.index), targets, "gold", Accounting(4, 4, 4, 4))
    >>> p = pd.DataFrame({"A": [.9, .2, .4, .1], "S": [.1, .8, .6, .9], "fold": ["f1", "f1", "f2", "f2"]},
    ...                  index=list("abcd"))
    >>> row = fold_summary(p, labels).set_index("metric").loc["accuracy"]  # folds score 0.5 and 1.0
    >>> float(row["fold_mean"]), round(float(row["fold_sd"]), 4), int(row["n_folds"])  # sd = sqrt(2 * 0.25**2 / 1)
    (0.75, 0.3536, 2)
    """
    if "fold" not in predictions.columns:
        return pd.DataFrame({"metric": [], "fold_mean": [], "fold_sd": [], "n_folds": []})
    options = {"n_boot": 0, "seed": seed, "binarize": binarize, "tie_policy": tie_policy}
    per_fold = []
    for fold, part in predictions.groupby("fold", sort=False):
        if not test_labels.kept.reindex(part.index, fill_value=False).any():
            continue  # no kept item in this fold: nothing to score (not counted in n_folds)
        try:
            table = evaluate_predictions(part, test_labels, **options)
        except InputError:  # e.g. every item of this fold tied under tie_policy drop
            continue
        per_fold.append(table.set_index("metric")["value"].rename(str(fold)))
    return fold_statistics(pd.concat(per_fold, axis=1) if per_fold else pd.DataFrame(index=pd.Index([])))


def fold_statistics(values: pd.DataFrame) -> pd.DataFrame:
    """Per metric (rows of ``values``: metric x fold, NaN where undefined in a fold) the mean, the sample
    standard deviation (ddof 1) and the number of folds where it is defined: columns metric, fold_mean,
    fold_sd, n_folds.

    >>> fold_statistics(pd.DataFrame({"f1": [0.5, 1.0], "f2": [1.0, None]}, index=["uar", "kld"])).values.tolist()
    [['uar', 0.75, 0.3535533905932738, 2], ['kld', 1.0, nan, 1]]
    """
    summary = {
        "fold_mean": values.mean(axis=1),
        "fold_sd": values.std(axis=1, ddof=1),
        "n_folds": values.notna().sum(axis=1).astype(int),
    }
    return pd.DataFrame(summary).rename_axis("metric").reset_index()


def evaluate_pooled(
    predictions: pd.DataFrame,
    test_labels: LabelSet,
    *,
    n_boot: int = 1000,
    speakers: pd.Series | None = None,
    **options: Any,
) -> pd.DataFrame:
    """:func:`evaluate_predictions` of the pooled out-of-fold predictions, with the per-fold spread.

    Args:
        predictions: out-of-fold items x classes scores, each item once, with a ``fold`` column.
        test_labels: the test label set.
        n_boot: bootstrap resamples (0: no interval).
        speakers: item id -> speaker, for the speaker-cluster bootstrap.
        **options: :func:`evaluate_predictions`'s ``seed``, ``binarize`` and ``tie_policy``.

    Returns:
        The :func:`evaluate_predictions` table with :func:`fold_summary`'s columns ``fold_mean``, ``fold_sd``
        (sample standard deviation over folds) and ``n_folds`` beside each metric (NaN / 0 without a
        ``fold`` column).

    Raises:
        ConfigError: as :func:`evaluate_predictions`.
        InputError: as :func:`evaluate_predictions`.
    """
    table = evaluate_predictions(predictions, test_labels, n_boot=n_boot, speakers=speakers, **options)
    table = table.merge(fold_summary(predictions, test_labels, **options), on="metric", how="left")
    return table.assign(n_folds=table["n_folds"].fillna(0).astype(int))
