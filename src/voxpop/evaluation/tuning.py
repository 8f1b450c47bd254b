"""Decisions and fusion weights tuned per fold (METHODS.md sections 4 and 6), as pure functions of prediction tables.

Fold f's test items get decisions (per-class offsets or thresholds, :func:`tuned_per_fold`) or Dirichlet
fusion weights (:func:`fusion_per_fold`) chosen on fold f's own development predictions (``tune_on="dev"``,
as the published studies tune) or, cross-fitted, on the other folds' out-of-fold predictions
(``"other_folds"``); :func:`tuning_scores` picks those items.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import pandas as pd

from voxpop.core.errors import ConfigError, InputError
from voxpop.evaluation.analysis import check_one_row_per_item, dirichlet_fusion
from voxpop.evaluation.decision_tuning import tune_offsets, tune_thresholds
from voxpop.labels import LabelSet
from voxpop.labels.decisions import binarize_above_uniform

TUNE_ON = ("dev", "other_folds")


def _other_folds(predictions: pd.DataFrame, labels: LabelSet, fold: str) -> pd.Index:
    """Items of the other folds that the label set keeps: the development items for ``fold``."""
    other = predictions.index[predictions["fold"].ne(fold).to_numpy()]
    return other[labels.kept.reindex(other, fill_value=False).to_numpy(dtype=bool)]


def tuning_scores(
    predictions: pd.DataFrame,
    dev_predictions: pd.DataFrame | None,
    name: str,
    labels: LabelSet,
    folds_of: pd.Series,
    fold: str,
    tune_on: str,
) -> pd.DataFrame:
    """The scores (class columns) that fold ``fold``'s decisions are tuned on, on items ``labels`` keeps.

    ``tune_on="dev"``: the fold model's outputs on its own development items (``dev_predictions``, class
    columns + ``fold``; as published studies tune); ``"other_folds"``: the source's out-of-fold
    ``predictions`` on the items that ``folds_of`` (item -> fold) puts in other folds (cross-fitting).
    Raises :class:`ConfigError` when the source has no such items (imported predictions or a protocol
    without a dev set under ``dev``).
    """
    if tune_on not in TUNE_ON:
        raise ConfigError(f"unknown tune_on {tune_on!r}; choose one of {', '.join(TUNE_ON)}.")
    if tune_on == "other_folds":
        table = predictions.drop(columns="fold", errors="ignore")
        other = _other_folds(folds_of.to_frame("fold"), labels, fold)
        return table.loc[table.index.intersection(other)]
    dev = dev_predictions
    if dev is None:
        raise ConfigError(
            f"{name}: no development predictions to tune fold {fold!r} on (imported predictions, or a model "
            "trained without them); set tune_on: other_folds to cross-fit on the other folds."
        )
    dev = dev[dev["fold"].eq(fold).to_numpy()]
    dev = dev[labels.kept.reindex(dev.index, fill_value=False).to_numpy(dtype=bool)]
    if dev.empty:
        raise ConfigError(
            f"{name}: fold {fold!r} has no development item kept by {labels.rule!r} to tune on (a protocol without "
            "a dev set?); use a protocol with development folds or set tune_on: other_folds."
        )
    return dev.drop(columns="fold")


def common_folds(predictions: Mapping[str, pd.DataFrame]) -> pd.Series | None:
    """The fold of every item that all the prediction tables hold (item -> fold), or None when none of them has
    a ``fold`` column (one test set scored by several models: no folds to fuse per).

    Raises :class:`InputError` when only some tables have a ``fold`` column, when a table predicts an item
    more than once (overlapping split folds), when the tables share no item, or when a shared item sits in
    different folds of two tables (the folds of different protocols cannot be fused per fold).
    """
    with_folds = [name for name, table in predictions.items() if "fold" in table.columns]
    if not with_folds:
        return None
    if len(with_folds) < len(predictions):
        without = [name for name in predictions if name not in with_folds]
        raise InputError(
            f"inputs with a 'fold' column (out-of-fold predictions): {', '.join(with_folds)}; without one: "
            f"{', '.join(without)}. Fuse out-of-fold predictions of the same folds, or tables of one test set "
            "without 'fold' columns."
        )
    check_one_row_per_item(predictions)
    common = functools.reduce(pd.Index.intersection, [t.index for t in predictions.values()])
    if common.empty:
        raise InputError(
            f"{', '.join(predictions)}: no item is predicted by every input (item ids must match); nothing to fuse."
        )
    reference_name, reference = next(iter(predictions.items()))
    folds = reference.loc[common, "fold"].astype(str)
    for name, table in predictions.items():
        other = table.loc[common, "fold"].astype(str)
        differ = common[other.ne(folds).to_numpy()]
        if len(differ):
            item = differ[0]
            raise InputError(
                f"{name}: {len(differ):,} of the {len(common):,} shared items are in other folds than in "
                f"{reference_name} (e.g. item {item!r}: fold {other[item]!r} vs {folds[item]!r}); fuse predictions "
                "cross-validated with the same folds (same protocol, k and seed)."
            )
    return folds


def fusion_per_fold(
    predictions: Mapping[str, pd.DataFrame],
    dev_predictions: Mapping[str, pd.DataFrame | None],
    labels: LabelSet,
    n_draws: int,
    seed: int,
    tune_on: str = "dev",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Dirichlet late fusion per fold: fold f's test items get the weights chosen (by UAR against the train
    labels' top class) on fold f's own development predictions (``tune_on="dev"``) or, cross-fitted, on
    the other folds' kept items (``"other_folds"``), using the items every source predicts.

    ``predictions``: per source its out-of-fold table (class columns, ``fold`` on at least one);
    ``dev_predictions``: per source its fold models' dev outputs or None (:func:`tuning_scores`).
    Returns (fused scores with ``fold``, the weights per fold: model, class columns, fold, dev_uar).
    """
    reference = next(t for t in predictions.values() if "fold" in t.columns)
    folds_of = reference["fold"]
    fused, weights = [], []
    for fold in pd.unique(folds_of):
        dev = {
            name: tuning_scores(table, dev_predictions.get(name), name, labels, folds_of, fold, tune_on)
            for name, table in predictions.items()
        }
        common = functools.reduce(pd.Index.intersection, [t.index for t in dev.values()])
        fusion = dirichlet_fusion(
            {n: t.loc[common] for n, t in dev.items()}, labels.hard_labels().loc[common], n_draws=n_draws, seed=seed
        )
        rows = folds_of.index[folds_of.eq(fold).to_numpy()]
        test = functools.reduce(pd.Index.intersection, [t.index for t in predictions.values()], rows)
        applied = fusion.apply({n: t.loc[test].drop(columns="fold", errors="ignore") for n, t in predictions.items()})
        fused.append(applied.assign(fold=fold))
        weights.append(fusion.weights.reset_index().assign(fold=fold, dev_uar=fusion.validation_uar))
    return pd.concat(fused), pd.concat(weights, ignore_index=True)


def tuned_per_fold(
    predictions: pd.DataFrame,
    dev_predictions: pd.DataFrame | None,
    multilabel: bool,
    labels: LabelSet,
    tune_on: str = "dev",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decisions tuned per fold (METHODS.md section 6, threshold tuning) on the fold model's own development
    predictions (``tune_on="dev"``) or, cross-fitted, on the other folds' kept items (``"other_folds"``).

    Softmax outputs: per-class offsets maximising macro-F1 of argmax(p + o) against the train labels'
    argmax; scores p + o. Sigmoid outputs (``multilabel``): per-class thresholds t maximising F1 against
    the train labels' positives (multi-hot, or above 1/C of a distribution); scores p - t + 0.5, to be
    binarised at 0.5. Returns (shifted scores with ``fold``, the shift per fold: fold + class columns).
    """
    probs, folds = predictions.drop(columns="fold", errors="ignore"), predictions["fold"]
    classes = list(probs.columns)
    targets = labels.targets[classes]
    shifted, details = [], []
    for fold in pd.unique(folds):
        dev = tuning_scores(predictions, dev_predictions, "tuned decisions", labels, folds, fold, tune_on)
        rows = folds.index[folds.eq(fold).to_numpy()]
        if multilabel:
            truth = targets.loc[dev.index]
            positive = (truth > 0) if labels.multilabel else binarize_above_uniform(truth)
            shift = 0.5 - tune_thresholds(dev, positive.astype(int))
        else:
            shift = tune_offsets(dev, labels.hard_labels().loc[dev.index])
        shifted.append((probs.loc[rows] + shift.to_numpy()).assign(fold=fold))
        details.append(shift.rename(fold))
    return pd.concat(shifted), pd.DataFrame(details).rename_axis("fold").reset_index()
