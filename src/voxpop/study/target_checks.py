"""What each kind of target (classes or dimensions) allows in a study: the table :data:`ACCEPTS` of the stages
and analyses that read each kind of label set, and the checks of label sets, models and metrics that differ
between the kinds (:func:`check_targets`), called by the one pre-flight check
(:func:`voxpop.study.checks.check_recipe`).
"""

from __future__ import annotations

from typing import Any

from voxpop.core.errors import ConfigError
from voxpop.evaluation.regression import REGRESSION_METRICS
from voxpop.labels import TARGET_KINDS
from voxpop.labels.label_sets import label_kind
from voxpop.models.specs import CLASSICAL, LOSSES, REGRESSORS, dimension_weights
from voxpop.study.definition import Study

BOTH = TARGET_KINDS
CLASSES = ("categorical",)
ACCEPTS: dict[str, tuple[str, ...]] = {
    "analyses.agreement": BOTH,
    "analyses.layer_weights": BOTH,
    "analyses.loss_accounting": CLASSES,
    "analyses.ccc": CLASSES,
    "analyses.threshold_sweep": CLASSES,
    "analyses.mlcm": CLASSES,
    "analyses.confusion": CLASSES,
    "analyses.easy_difficult": CLASSES,
    "analyses.ensemble": CLASSES,
    "analyses.fusion": CLASSES,
    "analyses.tuned_decisions": CLASSES,
    "analyses.calibration": CLASSES,
    "analyses.ceiling": BOTH,
    "corpora": CLASSES,
}
"""Which target kinds each stage or analysis of a recipe reads: the others are refused before any work."""


def check_targets(study: Study, built: dict[str, Any], problems: list[str]) -> None:
    """The checks that depend on the study's target kind, each problem with its key path into ``problems``.

    Label sets of both kinds in one study, recipe keys of :data:`ACCEPTS` that the target kind does not allow,
    continuous label sets of different dimensions or scales (``built``: the label sets the check built, by key
    path), models that do not fit the targets (a classifier for dimensions, a regressor for classes, loss
    options naming unknown dimensions) and classification metrics for dimensions.

    Args:
        study: the :class:`voxpop.study.definition.Study`.
        built: the label sets the check built, by key path (``labels.train.NAME``).
        problems: the list the problems are appended to.
    """
    recipe, kind = study.recipe, study.target_kind
    if kind not in TARGET_KINDS:  # mixed: the classes are named, the rest is checked as a study of dimensions
        for (part, name), spec in study.label_specs.items():
            if label_kind(spec) == "categorical":
                what = f"file {spec.path}" if spec.rule == "file" else f"rule {spec.rule!r}"
                problems.append(
                    f"labels.{part}.{name}: {what} gives classes, but this recipe's other label sets are "
                    "continuous (dimensions); a study's models are either classifiers or regressors"
                )
        kind = "continuous"
    given = recipe.model_dump()
    for key, kinds in ACCEPTS.items():
        section, _, name = key.partition(".")
        value = given[section][name] if name else given[section]
        if value not in (None, False, {}) and kind not in kinds:
            problems.append(f"{key}: reads classes, but this study's label sets are {kind} (dimensions); remove it")
    if kind == "categorical":
        _check_classifiers(study, problems)
        return
    shapes = {path: (labels.dimensions, labels.scale) for path, labels in built.items() if labels.kind == kind}
    if len({repr(shape) for shape in shapes.values()}) > 1:
        listed = "; ".join(f"{p[len('labels.'):]}: {dims} on {scale}" for p, (dims, scale) in shapes.items())
        problems.append(
            f"labels: every label set needs the same dimensions on the same scale to cross-test ({listed}); "
            "choose the same dimensions, and map a different scale with rescale: [low, high]"
        )
    dimensions = next(iter(shapes.values()))[0] if shapes else None
    if recipe.labels.train:
        _check_regressors(study, dimensions, problems)
    given_metrics = recipe.evaluation.metrics if "metrics" in recipe.evaluation.model_fields_set else []
    categorical = [m for m in given_metrics if m not in REGRESSION_METRICS]
    if categorical:
        problems.append(
            f"evaluation.metrics: {categorical} score classes; a study of dimensions reports "
            f"{', '.join(REGRESSION_METRICS)} (remove the others)"
        )


def _check_classifiers(study: Study, problems: list[str]) -> None:
    """Every variant's model classifies: a classical classifier with loss ce, or a classification loss."""
    for name, variant in study.variants if study.recipe.labels.train else ():
        where = "" if name == "base" else f" (grid {name})"
        spec = variant.model
        if spec.head in REGRESSORS:
            problems.append(
                f"model.head{where}: {spec.head!r} regresses dimensions, but this study's label sets give classes; "
                f"use a classifier ({', '.join(h for h in CLASSICAL if h not in REGRESSORS)} or a neural head)"
            )
        elif spec.head in CLASSICAL and (spec.loss != "ce" or spec.loss_options):
            problems.append(
                f"model.loss{where}: classical head {spec.head!r} fits soft targets by sample weights; "
                f"use loss ce (got {spec.loss!r})"
            )
        elif spec.spec().regression:
            problems.append(
                f"model.loss{where}: {spec.loss!r} regresses dimensions, but this study's label sets give classes; "
                "use a classification loss (ce, wce, bce, ...)"
            )


def _check_regressors(study: Study, dimensions: list[str] | None, problems: list[str]) -> None:
    """Every variant's model regresses the dimensions (svr / ridge with loss mse, or a neural head with loss
    mse / ccc), monitors loss or ccc, draws no class-balanced batches, and its loss options name the dimensions."""
    for name, variant in study.variants:
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
        elif dimensions:
            try:  # the loss's options against the dimensions, as training will build it (voxpop.models.losses)
                dimension_weights(m.loss, m.loss_options, dimensions, len(dimensions))
            except ConfigError as exc:
                problems.append(f"model.loss_options ({name}): {exc}")
        monitor = m.early_stopping.monitor if m.early_stopping else "loss"
        if monitor not in ("loss", "ccc"):
            problems.append(f"model.early_stopping.monitor{where}: {monitor!r}; a regressor monitors loss or ccc")
        if m.balanced_sampling:
            problems.append(f"model.balanced_sampling{where}: draws by class; a regressor has none (remove it)")
