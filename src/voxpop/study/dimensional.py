"""Dimensional studies: recipes whose label sets are continuous (arousal, valence, dominance, ...).

A recipe is dimensional when its ``labels.train`` / ``labels.test`` entries name a ``gold_standard``
(:class:`~voxpop.labels.continuous.ContinuousSpec`)::

    labels:
      train:
        mean:  {gold_standard: mean,  dimensions: [arousal, valence, dominance], condition: voice}
        EWE:   {gold_standard: ewe,   dimensions: [arousal, valence, dominance], condition: voice}
      test: ...

Its stages (same cache, runner and scheduler as every study; registered in :data:`voxpop.study.stage_kinds.KINDS`):

- ``continuous_labels``: the label set (:meth:`ContinuousSpec.build`), saved with its scale and raters;
- ``features``: as in every study (:func:`voxpop.study.run.features_stage`);
- ``regress``: one regressor per fold (:func:`cross_validate_dimensions`, :func:`voxpop.models.training.fit`
  with loss ``mse`` / ``ccc`` or head ``svr`` / ``ridge``), out-of-fold predictions on the targets' scale;
- ``evaluate_dimensions``: CCC, Pearson r, MAE, RMSE per dimension and their mean with bootstrap
  intervals (:func:`voxpop.evaluation.regression.regression_table`), for every train x test pair (cross-testing);
- ``agreement`` (optional, ``analyses.agreement``): the agreement table of the dimension slot.

Results use the categorical table's columns: metric ``ccc`` is the mean over dimensions, ``ccc[arousal]``
one dimension (as ``f1[anger]``); chance, absent classes and ties do not apply (NaN / empty / 0).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxpop.agreement.grouping import item_groups
from voxpop.core.cache import Stage, atomic_write
from voxpop.core.errors import ConfigError, VoxpopError
from voxpop.corpus.corpus import STRING, Corpus
from voxpop.evaluation.regression import MEAN, REGRESSION_METRICS, regression_scores, regression_table
from voxpop.evaluation.resampling import resample_groups
from voxpop.evaluation.results import fold_statistics
from voxpop.features import Features, make_extractor
from voxpop.labels import ContinuousLabelSet, ContinuousSpec
from voxpop.models import Fold, make_folds
from voxpop.models.cross_validation import feature_input, fit_fold, fold_items
from voxpop.models.specs import CLASSICAL, LOSSES, REGRESSORS, ModelSpec, dimension_weights
from voxpop.study.loading import check_resample, expand_variants, recipe_error
from voxpop.study.plan import Plan, features_stage
from voxpop.study.recipe import Recipe

LABELS_FILE = "labels.parquet"
PREDICTIONS_FILE = "predictions.parquet"
FOLDS_FILE = "folds.parquet"
METRICS_FILE = "metrics.parquet"
ANALYSES = ("agreement",)
"""The analyses a dimensional study runs (the others read categorical label sets)."""


def continuous_specs(recipe: Recipe) -> dict[tuple[str, str], ContinuousSpec]:
    """The continuous label sets of ``recipe`` by (``train`` / ``test``, name)."""
    return {
        (part, name): spec
        for part in ("train", "test")
        for name, spec in getattr(recipe.labels, part).items()
        if isinstance(spec, ContinuousSpec)
    }


def is_dimensional(recipe: Recipe) -> bool:
    """Whether ``recipe`` has continuous label sets (then every label set must be continuous)."""
    return bool(continuous_specs(recipe))


# ====================================================================== the pre-flight check
def _check_model(recipe: Recipe, source: str, problems: list[str]) -> None:
    for name, variant in expand_variants(recipe, source):
        where = "" if name == "base" else f" (grid {name})"
        m = variant.model
        if m.head in REGRESSORS:
            if m.loss != "mse" or m.loss_options:
                problems.append(f"model.loss{where}: {m.head} fits its own error; use loss mse (got {m.loss!r})")
        elif m.head in CLASSICAL:
            problems.append(
                f"model.head{where}: {m.head!r} classifies; dimensions need a regressor: {', '.join(REGRESSORS)} or "
                "a neural head with loss mse or ccc"
            )
        elif not LOSSES[m.loss].regression:
            problems.append(
                f"model.loss{where}: {m.loss!r} is a classification loss; regress dimensions with mse or ccc"
            )
        monitor = m.early_stopping.monitor if m.early_stopping else "loss"
        if monitor not in ("loss", "ccc"):
            problems.append(f"model.early_stopping.monitor{where}: {monitor!r}; a regressor monitors loss or ccc")
        if m.balanced_sampling:
            problems.append(f"model.balanced_sampling{where}: draws by class; a regressor has none (remove it)")
        try:
            make_extractor(variant.features.extractor, **variant.features.options)
        except VoxpopError as exc:
            problems.append(f"features.extractor{where}: {exc}")


def check_dimensional(
    recipe: Recipe, corpus: Corpus, source: str = "recipe"
) -> dict[tuple[str, str], ContinuousLabelSet]:
    """Check a dimensional recipe against its corpus (every problem, each with its key path) and build its
    label sets, returned by (part, name) so the runner computes none twice.

    Every label set must be continuous, with the same dimensions on the same scale (``rescale`` maps
    one explicitly); the model must regress (:func:`_check_model`); the analyses are :data:`ANALYSES`.
    Raises :class:`ConfigError` listing the problems.
    """
    problems: list[str] = []
    specs = continuous_specs(recipe)
    for part in ("train", "test"):
        for name, spec in getattr(recipe.labels, part).items():
            if (part, name) not in specs:
                problems.append(
                    f"labels.{part}.{name}: rule {spec.rule!r} gives classes, but this recipe's other label sets are "
                    "continuous (gold_standard); a study's models are either classifiers or regressors"
                )
    if recipe.corpora:
        problems.append("corpora: a dimensional study runs on one corpus (corpus:); rescale targets per recipe")
    if recipe.labels.train and not recipe.labels.test:
        problems.append("labels.test: give at least one test label set to score the models on")
    built: dict[tuple[str, str], ContinuousLabelSet] = {}
    for (part, name), spec in specs.items():
        try:
            built[part, name] = spec.build(corpus)
        except VoxpopError as exc:
            problems.append(f"labels.{part}.{name}: {exc}")
    shapes = {key: (labels.dimensions, labels.scale) for key, labels in built.items()}
    if len({repr(shape) for shape in shapes.values()}) > 1:
        listed = "; ".join(f"{p}.{n}: {dims} on {scale}" for (p, n), (dims, scale) in shapes.items())
        problems.append(
            f"labels: every label set needs the same dimensions on the same scale to cross-test ({listed}); "
            "choose the same dimensions, and map a different scale with rescale: [low, high]"
        )
    if recipe.labels.train and "audio" not in corpus.items.columns:
        problems.append(f"labels.train: training needs features, but corpus {corpus.name!r} has no 'audio' column")
    dimensions = next(iter(built.values())).dimensions if built else None
    for variant, v in expand_variants(recipe, source) if dimensions and recipe.labels.train else ():
        if v.model.head in CLASSICAL or not LOSSES[v.model.loss].regression:
            continue  # classical heads take no loss; a classification loss is refused above
        try:  # the loss's options against the dimensions, as training will build it (voxpop.models.losses.make_loss)
            dimension_weights(v.model.loss, v.model.loss_options, dimensions, len(dimensions))
        except ConfigError as exc:
            problems.append(f"model.loss_options ({variant}): {exc}")
    if recipe.labels.train:
        try:
            recipe.protocol.folds(corpus.items)
        except VoxpopError as exc:
            problems.append(f"protocol: {exc}")
        _check_model(recipe, source, problems)
    if recipe.evaluation.by is not None and recipe.evaluation.by not in corpus.items.columns:
        problems.append(f"evaluation.by: corpus {corpus.name!r} has no item column {recipe.evaluation.by!r}")
    check_resample(corpus, recipe, problems)
    given = recipe.evaluation.metrics if "metrics" in recipe.evaluation.model_fields_set else []  # not the default
    categorical = [m for m in given if m not in REGRESSION_METRICS]
    if categorical:
        problems.append(
            f"evaluation.metrics: {categorical} score classes; a dimensional study reports "
            f"{', '.join(REGRESSION_METRICS)} (remove the others)"
        )
    others = [k for k, v in recipe.analyses.model_dump().items() if v not in (None, False) and k not in ANALYSES]
    if others:
        problems.append(f"analyses: {others} read categorical label sets; a dimensional study runs {list(ANALYSES)}")
    if problems:
        raise recipe_error(list(dict.fromkeys(problems)), source)
    return built


# ====================================================================== the plan
def plan_dimensional(recipe: Recipe, corpus_key: str):
    """The :class:`voxpop.study.run.Plan` of a dimensional recipe on the corpus whose content hashes to
    ``corpus_key``."""
    labels = {
        key: Stage("continuous_labels", f"labels {key[1]}", {"corpus": corpus_key, "spec": spec.model_dump()})
        for key, spec in continuous_specs(recipe).items()
    }
    variants = expand_variants(recipe)
    features, sources = {}, {}
    for variant, v in variants if recipe.labels.train else ():
        features[variant] = features_stage(corpus_key, v.features)
        config = {
            "corpus": corpus_key,
            "model": v.model.spec().model_dump(mode="json"),
            "protocol": list(v.protocol.name_and_options()),
        }
        for train in recipe.labels.train:
            sources[variant, train] = Stage(
                "regress", f"train {train} ({variant})", config, (features[variant], labels["train", train])
            )
    e = recipe.evaluation
    evaluation = {"corpus": corpus_key, "bootstrap": e.bootstrap, "seed": e.seed, "by": e.by}
    if e.resample != "items":  # only then: the stage keys of item-bootstrap studies stay as they were
        evaluation["resample"] = e.resample
    evaluations = {}
    for (variant, train), stage in sources.items():
        for test in recipe.labels.test:
            if e.cross_test or test == train:
                evaluations[variant, train, test] = Stage(
                    "evaluate_dimensions",
                    f"evaluate {train} -> {test} ({variant})",
                    evaluation,
                    (stage, labels["test", test]),
                )
    analyses = {}
    if recipe.analyses.agreement is not None:
        base = {"corpus": corpus_key, "classes": recipe.classes, "class_map": recipe.class_map}
        spec = recipe.analyses.agreement.model_dump()
        analyses["agreement"] = Stage("agreement", "agreement table", {**base, "spec": spec})
    return Plan(labels, None, None, features, sources, evaluations, {}, analyses, [name for name, _ in variants])


# ====================================================================== training
@dataclasses.dataclass
class Regressed:
    """Out-of-fold predictions of one regressor: ``predictions`` (items x dimensions on the targets' scale,
    plus ``fold``), ``folds`` (per fold: train / dev / test items, dropped items, best epoch)."""

    predictions: pd.DataFrame
    folds: pd.DataFrame

    @property
    def dimensions(self) -> list[str]:
        return [c for c in self.predictions.columns if c != "fold"]


def cross_validate_dimensions(
    features: Features, labels: ContinuousLabelSet, folds: Sequence[Fold], spec: ModelSpec, progress=None
) -> Regressed:
    """Train one regressor per fold on the kept items' dimension values and predict every fold test item.

    Train / dev items: the fold's items with features that ``labels`` keeps (a value for every dimension);
    test items: every fold test item with features. Neural heads early-stop on the dev items (monitor loss
    or ccc); ``svr`` / ``ridge`` train on the dev items too. Features are z-scored with the training
    items' statistics (``spec.standardize``). Raises :class:`ConfigError` for a fold without training items.
    """
    dims = labels.dimensions
    tables, rows = [], {}
    for done, fold in enumerate(folds, start=1):
        items = fold_items(fold, features.items, labels.kept, hold_out_dev=not spec.classical)
        if not len(items.train):
            raise ConfigError(
                f"fold {fold.name!r}: no training item has features and a value for every dimension "
                f"(dropped: {items.dropped}); check the protocol and the label set"
            )
        model = fit_fold(spec, features, labels.values, items, classical_loss="mse")
        values = model.predict(feature_input(features, items.test)) if len(items.test) else np.zeros((0, len(dims)))
        index = pd.Index(items.test, dtype=STRING, name="item")
        tables.append(pd.DataFrame(values, index=index, columns=dims).assign(fold=fold.name))
        best = model.model.best_epoch
        rows[fold.name] = {
            "train": len(items.train),
            "dev": len(items.dev),
            "test": len(items.test),
            **items.dropped,
            "best_epoch": -1 if best is None else best,
        }
        if progress:
            progress(done, len(folds))
    predictions = pd.concat(tables)
    return Regressed(predictions, pd.DataFrame.from_dict(rows, orient="index").rename_axis("fold"))


def compute_regress(stage: Stage, inputs: list, context, directory: Path) -> None:
    """The ``regress`` stage: folds of ``context.items`` by the recipe's protocol, one regressor per fold."""
    features, labels = inputs
    name, options = stage.config["protocol"]
    folds = make_folds(context.items.items, name, **options)
    spec = ModelSpec.model_validate(stage.config["model"])
    result = cross_validate_dimensions(features, labels, folds, spec, context.progress)
    atomic_write(directory / PREDICTIONS_FILE, result.predictions.to_parquet)
    atomic_write(directory / FOLDS_FILE, result.folds.to_parquet)


def load_regressed(directory: Path) -> Regressed:
    """Read the outputs of a ``regress`` stage."""
    return Regressed(pd.read_parquet(directory / PREDICTIONS_FILE), pd.read_parquet(directory / FOLDS_FILE))


# ====================================================================== evaluation
def evaluate_dimensions(
    regressed: Regressed, labels: ContinuousLabelSet, corpus: Corpus, config: Mapping[str, Any]
) -> pd.DataFrame:
    """Regression metrics of ``regressed`` on the items ``labels`` keeps, on the whole test set (group ``all``)
    and per item group (``config["by"]``), in the results table's columns (see the module docstring). Chance:
    0 for CCC and Pearson r (predictions independent of the targets), none for MAE / RMSE (scale-bound).

    Scales must agree (the recipe check makes sure; :class:`ConfigError` otherwise). Items the label set
    does not keep are counted in ``n_excluded``.
    """
    if regressed.dimensions != labels.dimensions:
        raise ConfigError(f"predictions of {regressed.dimensions} cannot be scored on {labels.dimensions}")
    predictions = regressed.predictions[labels.dimensions]
    speakers = resample_groups(corpus.items, config.get("resample", "items"))
    tables = []
    for group, items in item_groups(corpus.items, config["by"]):
        part = predictions[predictions.index.isin(items)]
        kept = labels.kept.reindex(part.index, fill_value=False).to_numpy(dtype=bool)
        if not kept.any():
            continue
        scored = part[kept]
        targets = labels.values.loc[scored.index]
        table = regression_table(scored, targets, config["bootstrap"], config["seed"], groups=speakers)
        table["metric"] = _metric_names(table["dimension"], table["metric"])
        folds = regressed.predictions["fold"].reindex(scored.index)
        table = table.merge(_fold_summary(scored, targets, folds), on="metric", how="left")
        tables.append(table.drop(columns="dimension").assign(group=group, n_excluded=int((~kept).sum())))
    if not tables:
        raise ConfigError("none of the predicted items has a value for every dimension in the test label set")
    table = pd.concat(tables, ignore_index=True)
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


def compute_evaluation(stage: Stage, inputs: list, context, directory: Path) -> None:
    """The ``evaluate_dimensions`` stage: :func:`evaluate_dimensions` of (regressed, test labels), saved."""
    table = evaluate_dimensions(inputs[0], inputs[1], context.items, stage.config)
    atomic_write(directory / METRICS_FILE, table.to_parquet)


def load_metrics(directory: Path) -> pd.DataFrame:
    """Read the table of an ``evaluate_dimensions`` stage."""
    return pd.read_parquet(directory / METRICS_FILE)


def compute_labels(stage: Stage, inputs: list, context, directory: Path) -> None:
    """The ``continuous_labels`` stage: the label set the pre-flight check built, or built now, saved."""
    labels = context.built.get(stage.key) or ContinuousSpec.model_validate(stage.config["spec"]).build(context.corpus)
    labels.save(directory / LABELS_FILE)


def load_labels(directory: Path) -> ContinuousLabelSet:
    """Read the label set of a ``continuous_labels`` stage."""
    return ContinuousLabelSet.load(directory / LABELS_FILE)
