"""Pre-flight checks of a recipe against its corpus, before any work (:func:`check_recipe`).

Classes and class map, each label set (rule options, conditions, rater ids, by building it on the
corpus), item columns of the protocol and analyses, extractor names and options, model head / loss
combinations, development folds for tuned decisions and the analyses' references to label sets: every
problem is listed at once with its key path (:func:`voxpop.study.loading.recipe_error`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from voxpop.core.cache import Cache, Stage
from voxpop.core.errors import ConfigError, VoxpopError
from voxpop.corpus import Corpus
from voxpop.corpus.classmap import resolve_classes
from voxpop.evaluation.ceiling import CLASS_METRICS, ceiling_metrics
from voxpop.evaluation.regression import REGRESSION_METRICS
from voxpop.features import make_extractor
from voxpop.features.audio import AudioOptions, NoiseBank
from voxpop.labels import ContinuousLabelSet, LabelSet
from voxpop.labels.label_sets import load_label_set, spec_kind
from voxpop.models import CLASSICAL, LOSSES, Fold
from voxpop.models.protocols import require_dev
from voxpop.models.specs import RATER_HEADS, ModelSpec
from voxpop.study.definition import Study, as_study
from voxpop.study.execution import run_stage
from voxpop.study.loading import check_resample, recipe_error
from voxpop.study.plan import single_label_tests
from voxpop.study.recipe import (
    FILE_RULE,
    Analyses,
    LabelSpec,
    Recipe,
    multilabel_rule,
)
from voxpop.study.stages import fold_labels, load_labels
from voxpop.study.target_checks import check_targets


def _label_job(
    corpus: Corpus, recipe: Recipe, path: str, spec: Any, problems: list[str]
) -> LabelSet | ContinuousLabelSet | tuple[Corpus, Any] | None:
    """What checking one label set takes (its problems go to ``problems``): a label file is read here
    (returned as the :class:`LabelSet`), a rule is built later on the corpus (returned as ``(corpus, spec)``
    for :func:`_build_label_set`); None when it failed or waits for ``threshold: best``."""
    if spec_kind(spec) == "continuous":
        return corpus, spec
    if spec.rule == FILE_RULE:
        try:
            labels = load_label_set(spec.path)
        except VoxpopError as exc:
            problems.append(f"{path}.path: {exc}")
            return None
        kept = labels.kept.index[labels.kept.to_numpy(dtype=bool)]
        if len(kept) and not kept.isin(corpus.items.index.astype(str)).any():
            problems.append(
                f"{path}.path: none of the {len(kept):,} items {spec.path} keeps (e.g. {kept[0]!r}) is an item of "
                f"corpus {corpus.name!r}; the label set was built from another corpus: build it with 'voxpop labels' "
                "on this corpus"
            )
            return None
        return labels
    needs = spec.definition.rater_ids_reason(spec.rule_options())
    if needs and not corpus.has_rater_ids:
        try:
            corpus.require_rater_ids(needs)
        except VoxpopError as exc:
            problems.append(f"{path}: {exc}")
        return None
    if spec.rule_options().get("threshold") == "best" and recipe.analyses.threshold_sweep is None:
        problems.append(f"{path}.threshold: 'best' needs analyses.threshold_sweep (the sweep chooses it)")
        return None
    return corpus, spec


def _build_label_set(recipe: Recipe, threads: int, job: tuple[Corpus, Any]) -> LabelSet | ContinuousLabelSet | str:
    """Build a label set of :func:`_label_job` with ``threads`` BLAS threads, as a labels stage would (a pure
    function of its arguments: it may run here or on a Dask worker, with the same bytes); a
    :class:`VoxpopError` is returned as its message."""
    from voxpop.study.execution import blas_threads

    corpus, spec = job
    try:
        with blas_threads(threads):  # as the labels stage builds it (threshold: best is checked with 0.5)
            best = 0.5 if getattr(spec, "threshold", None) == "best" else None
            folds = recipe.protocol.rater_folds
            return fold_labels(
                corpus, spec.config(), folds.model_dump() if folds is not None else None, classes=recipe.classes,
                class_map=recipe.class_map, best_threshold=best,
            )  # fmt: skip
    except VoxpopError as exc:
        return str(exc)


def _check_label_sets(
    recipe: Recipe,
    corpus: Corpus,
    problems: list[str],
    map_function: Callable,
    threads: int,
    stored: Callable[[tuple[str, str]], Any],
    store: Callable[[tuple[str, str], Any], None],
) -> dict[tuple[str, str], Any]:
    """Build every label set of the recipe on the corpus (corpora with label sets of their own: on their items,
    the rest on the others): those of learned rules (a model fit each) all at once through ``map_function``,
    the others here (counting votes takes less than sending the corpus to a worker); returns the recipe's own
    label sets by (part, name) except those with ``threshold: best`` (the sweep chooses it), problems go to
    ``problems`` in the recipe's order. ``stored(key)`` gives a label set its labels stage already holds (None:
    build it); ``store(key, labels)`` saves a built one through its labels stage."""
    checks: list[tuple[str, tuple[str, str] | None, LabelSet | tuple[Corpus, LabelSpec] | None, list[str]]] = []

    def check(path: str, key: tuple[str, str] | None, items: Corpus, spec: LabelSpec) -> None:
        found: list[str] = []  # this label set's problems, listed in order below with those of building it
        checks.append((path, key, _label_job(items, recipe, path, spec, found), found))

    for part in ("train", "test"):
        for name, spec in getattr(recipe.labels, part).items():
            path = f"labels.{part}.{name}"
            overrides = {c: e.labels[name] for c, e in recipe.corpora.items() if name in e.labels}
            if not overrides:
                done = stored((part, name))
                if done is not None:
                    checks.append((path, None, done, []))
                    continue
                check(path, (part, name), corpus, spec)
                continue
            own = corpus.items["corpus"].isin(list(overrides))
            rest = corpus.subset(corpus.items.index[~own.to_numpy(dtype=bool)])
            if len(rest.items):
                check(path, None, rest, spec)
            for c, override in overrides.items():
                items = corpus.subset(corpus.items.index[corpus.items["corpus"].eq(c).to_numpy(dtype=bool)])
                check(f"corpora.{c}.labels.{name}", None, items, override)
    build = functools.partial(_build_label_set, recipe, threads)
    learned = [job for _, _, job, _ in checks if isinstance(job, tuple) and _learned(job[1])]
    fitted = iter(list(map_function(build, learned)))
    built: dict[str, Any] = {}
    for path, key, job, found in checks:
        problems.extend(found)
        labels = job  # a label file read, or None after a problem
        if isinstance(job, tuple):
            labels = next(fitted) if _learned(job[1]) else build(job)
            if getattr(job[1], "threshold", None) == "best":
                key = None  # checked with threshold 0.5; the sweep chooses the threshold the runner uses
        if isinstance(labels, str):
            problems.append(f"{path}: {labels}")
        elif labels is not None:
            built[path] = labels
            if key is not None and isinstance(job, tuple):
                store(key, labels)
    return built


def _learned(spec: Any) -> bool:
    """Whether a label set is a learned rule's (a model fit each: built on the workers at once)."""
    return spec_kind(spec) == "categorical" and spec.definition.learned


def _check_column(corpus: Corpus, path: str, column: str | None, problems: list[str]) -> None:
    if column is not None and column not in corpus.items.columns:
        problems.append(f"{path}: item column {column!r} not found; item columns: {', '.join(corpus.items.columns)}")


def _check_analyses(corpus: Corpus, study: Study, problems: list[str]) -> None:
    recipe = study.recipe
    a = recipe.analyses
    names = {**recipe.labels.train, **recipe.labels.test}
    if a.agreement is not None:
        _check_column(corpus, "analyses.agreement.by", a.agreement.by, problems)
        if a.agreement.pearson and not corpus.has_rater_ids:
            problems.append(
                f"analyses.agreement.pearson: pairwise Pearson r needs rater ids; corpus {corpus.name!r} "
                "has vote counts only; set pearson: false"
            )
    if a.ccc is not None:
        unknown = [s for s in a.ccc.sets if s not in names]
        if unknown or len(a.ccc.sets) < 2:
            problems.append(
                f"analyses.ccc.sets: {unknown or a.ccc.sets} - name at least two label sets of "
                f"labels.train / labels.test ({', '.join(names)})"
            )
    if a.threshold_sweep is not None:
        missing = [c for c in a.threshold_sweep.conditions if c not in corpus.conditions]
        if missing:
            problems.append(
                f"analyses.threshold_sweep.conditions: {missing} not found; the corpus has conditions "
                f"{', '.join(corpus.conditions) or 'none'}"
            )
        if not corpus.ratings["slot"].eq("intensity").any():
            problems.append("analyses.threshold_sweep: the corpus has no intensity (Likert) ratings to sweep")
    if a.easy_difficult is not None:
        spec = recipe.labels.test.get(a.easy_difficult.test)
        if spec is None:
            problems.append(
                f"analyses.easy_difficult.test: {a.easy_difficult.test!r} is not a test set "
                f"({', '.join(recipe.labels.test)})"
            )
        for key in ("speaker", "gender", "duration"):
            _check_column(corpus, f"analyses.easy_difficult.{key}", getattr(a.easy_difficult, key), problems)
    models = len(study.variants)
    imported = len(a.fusion.predictions) if a.fusion is not None else 0
    for key, wanted, extra in (("ensemble", a.ensemble, 0), ("fusion", a.fusion is not None, imported)):
        if wanted and recipe.labels.train and models + extra < 2:
            problems.append(
                f"analyses.{key}: combines the models of two or more variants (grid, variants; 'voxpop train "
                f"--head A,B'), but this recipe trains {models} per label set; add variants or remove analyses.{key}"
            )
    _check_rater_analyses(corpus, recipe, problems)
    if a.fusion is not None:
        for name, file in a.fusion.predictions.items():
            if not Path(file).is_file():
                problems.append(f"analyses.fusion.predictions.{name}: file {file} not found")
        if a.fusion.predictions and a.fusion.tune_on == "dev":
            problems.append(
                f"analyses.fusion.tune_on: imported predictions ({', '.join(a.fusion.predictions)}) have no "
                "development outputs to choose weights on; set analyses.fusion.tune_on: other_folds"
            )


def _check_rater_analyses(corpus: Corpus, recipe: Recipe, problems: list[str]) -> None:
    """Calibration needs a single-label test set of classes; the ceiling test sets a rater can be scored on, rater
    ids, a metric a rater can be scored with and every rater's labels (not rater folds); rater folds rater ids."""
    a, scorable = recipe.analyses, single_label_tests(recipe)
    classes = [t for t in scorable if spec_kind(recipe.labels.test[t]) == "categorical"]
    if a.calibration is not None and a.calibration.test is not None and a.calibration.test not in classes:
        problems.append(
            f"analyses.calibration.test: {a.calibration.test!r} is not a single-label test set of classes built by "
            f"a rule ({', '.join(classes) or 'none in this recipe'})"
        )
    rater_folds = recipe.protocol.rater_folds
    if rater_folds is not None and recipe.corpora:
        problems.append("protocol.rater_folds: one corpus only (with corpora, use cross_corpus or speaker_folds)")
    if rater_folds is not None and not corpus.has_rater_ids:
        problems.append(f"protocol.rater_folds: splitting the raters needs rater ids; corpus {corpus.name!r} has "
                        "vote counts only; use speaker_folds or import per-rater responses")  # fmt: skip
    if a.ceiling is None:
        return
    if rater_folds is not None:
        problems.append("analyses.ceiling: with protocol.rater_folds each test item keeps one rater group's ratings; "
                        "leaving one rater out needs every rater's labels (use speaker_folds)")  # fmt: skip
    if not corpus.has_rater_ids:
        problems.append(f"analyses.ceiling: leaving one rater out needs rater ids; corpus {corpus.name!r} has vote "
                        "counts only; remove analyses.ceiling or import per-rater responses")  # fmt: skip
    unknown = [t for t in a.ceiling.tests or [] if t not in scorable]
    if unknown:
        problems.append(f"analyses.ceiling.tests: {unknown} - name single-label or dimensional test sets built by a "
                        f"rule or gold standard ({', '.join(scorable) or 'none in this recipe'})")  # fmt: skip
    for test in a.ceiling.tests or scorable:
        kind = spec_kind(recipe.labels.test[test]) if test in recipe.labels.test else None
        if kind and not ceiling_metrics(recipe.evaluation.metrics, kind):
            problems.append(f"analyses.ceiling: test set {test} needs one of the metrics "
                            f"{', '.join(CLASS_METRICS if kind == 'categorical' else REGRESSION_METRICS)} in "
                            "evaluation.metrics (a rater gives labels, not probabilities)")  # fmt: skip


def _check_tuning_dev(a: Analyses, folds: list[Fold], where: str, problems: list[str]) -> None:
    """Tuning on each fold's own development items needs every fold to have some."""
    without = [f.name for f in folds if not len(f.dev)]
    if a.calibration is not None and a.calibration.tuning == "temperature" and without:
        problems.append(
            f"analyses.calibration.tuning{where}: folds {without[:5]} have no development items to fit the "
            "temperature on; use a protocol with development folds (dev: true) or set tuning: none"
        )
    for key, analysis in (("fusion", a.fusion), ("tuned_decisions", a.tuned_decisions)):
        if analysis is not None and analysis.tune_on == "dev" and without:
            problems.append(
                f"analyses.{key}.tune_on{where}: folds {without[:5]} have no development items to tune on; "
                f"use a protocol with development folds or set analyses.{key}.tune_on: other_folds"
            )


def _check_early_stopping_dev(spec: ModelSpec, folds: list[Fold], where: str, problems: list[str]) -> None:
    """A model that stops early on a fold whose protocol names no development items (EmoBox folds) is refused
    here, before any features are extracted, with the message training would give
    (:func:`voxpop.models.protocols.require_dev`)."""
    for fold in folds:
        try:
            require_dev(fold, early_stops=not spec.classical and spec.train.patience is not None)
        except ConfigError as exc:
            problems.append(f"protocol{where}: {exc}")
            return


def check_recipe(
    study: Study | Recipe,
    corpus: Corpus,
    source: str = "recipe",
    map_function: Callable = map,
    threads: int = 1,
    *,
    cache: Cache | None = None,
    label_stages: Mapping[tuple[str, str], Stage] | None = None,
) -> None:
    """Check a recipe against the corpus it names, before any work: every problem, each with its key path.

    Checks the class set and class map, each label set (rule options, conditions, rater ids, by
    building it on the corpus), item columns of the protocol and analyses, extractor names and
    options, model head / loss combinations and the analyses' references to label sets, for label sets of
    either kind; what only one kind allows is one table (:data:`voxpop.study.target_checks.ACCEPTS`,
    :func:`voxpop.study.target_checks.check_targets`). The label sets are built with ``threads`` BLAS threads
    (as the stages compute, so a label set is the same wherever it is built); those of learned rules through
    ``map_function`` (:func:`voxpop.core.cluster.cluster_map`: on a Dask cluster's workers at once). With
    ``cache`` and ``label_stages`` each label set is built through its labels stage: one the cache holds is
    read instead of built, one built here is saved there once the whole check passes (nothing is written for a
    refused recipe), so the runner computes none twice.

    Args:
        study: the :class:`~voxpop.study.definition.Study` (a recipe is made one, read from ``source``).
        corpus: its corpus, after ``where``.
        source: where a recipe came from (a study carries its own).
        map_function: how learned rules are fitted (``map``, or on a cluster).
        threads: BLAS threads of each label set built.
        cache: the study's stage cache (None: nothing is read or saved).
        label_stages: the labels stage of each label set by (part, name) (:func:`voxpop.study.plan.label_stages`).

    Raises:
        ConfigError: every problem found, each with its key path.
    """
    study = as_study(study, source=source)
    recipe, source = study.recipe, study.source
    problems: list[str] = []
    if study.target_kind == "categorical":
        try:
            resolve_classes(corpus.classes, corpus.excluded, recipe.classes, recipe.class_map, corpus=corpus.name)
        except ConfigError as exc:
            problems.append(str(exc))
    if recipe.labels.train and not recipe.labels.test:
        problems.append("labels.test: give at least one test label set to score the models on")
    rules = {f"labels.{p}.{n}": getattr(s, "rule", None) for (p, n), s in study.label_specs.items()}
    segmented = [path for path, rule in rules.items() if rule == "intervals"]
    if segmented and len(segmented) < len(rules):
        problems.append(
            f"labels: {', '.join(segmented)} use rule 'intervals' (their items are segments of the recordings) but "
            f"{', '.join(p for p in rules if p not in segmented)} label the recordings; models see one kind of item, "
            "so use rule 'intervals' (with levels) for every label set, or for none"
        )
    # segment items carry their recording's columns and 'recording' (see voxpop.labels.segments.segment_corpus)
    fold_items = corpus.items.assign(recording=corpus.items.index) if segmented else corpus.items
    stages = label_stages or {}

    def stored(key: tuple[str, str]) -> Any:
        stage = stages.get(key)
        if cache is None or stage is None or not cache.is_done(stage):
            return None
        try:
            return load_labels(cache.directory(stage))
        except VoxpopError:
            return None  # damaged: built again (and the runner recomputes the stage)

    passed: list[tuple[Stage, Any]] = []  # saved through their stages once the whole check passes

    def store(key: tuple[str, str], labels: Any) -> None:
        if cache is not None and key in stages:
            passed.append((stages[key], labels))

    checked = _check_label_sets(recipe, corpus, problems, map_function, threads, stored, store) if not problems else {}
    if not recipe.evaluation.cross_test:
        lonely = [n for n in recipe.labels.train if n not in recipe.labels.test]
        if lonely:
            problems.append(
                f"evaluation.cross_test: false scores each model on the test set of the same name, "
                f"but {lonely} have none"
            )
    if recipe.protocol.corpus_level and recipe.evaluation.by not in (None, "corpus"):
        problems.append(
            f"evaluation.by: {recipe.evaluation.by!r}; a cross-corpus protocol scores per test corpus, so leave "
            "evaluation.by out or set it to corpus"
        )
    cross = recipe.protocol.cross_corpus
    if cross is not None and cross.classes == "train" and recipe.analyses.confusion is not None:
        problems.append(
            "analyses.confusion: not available with protocol.cross_corpus.classes: train (each test corpus has its "
            "own classes); use classes: shared or leave the confusion matrices out"
        )
    if recipe.evaluation.by not in fold_items.columns:
        _check_column(corpus, "evaluation.by", recipe.evaluation.by, problems)
    check_resample(corpus, recipe, problems)
    if recipe.labels.train and "audio" not in corpus.items.columns:
        what = "the segments of rule 'intervals' are windows of the recordings' audio; " if segmented else ""
        problems.append(
            f"labels.train: training needs features, but corpus {corpus.name!r} has no 'audio' item column; "
            f"{what}import it with its audio folder, or set labels.train={{}} for label sets and analyses only"
        )
    for name, variant in study.variants:
        where = "" if name == "base" else f" (grid {name})"
        if variant.protocol.rater_folds is not None and variant.model.head in RATER_HEADS:
            problems.append(
                f"model.head{where}: {variant.model.head!r} learns every rater's votes on the training items, but "
                "protocol.rater_folds keeps the held-out raters' ratings out of training; use speaker_folds"
            )
        if recipe.corpora and variant.protocol != recipe.protocol:
            problems.append(
                f"protocol{where}: with corpora the protocol is fixed for the study (the label sets' classes "
                "follow it); write one recipe per protocol"
            )
        if recipe.labels.train:
            try:
                make_extractor(variant.features.extractor, **variant.features.options)
            except VoxpopError as exc:
                problems.append(f"features.extractor{where}: {exc}")
            if variant.features.noise_dir is not None:
                try:  # every noise file is read as the extraction will (a folder without audio stops here)
                    NoiseBank(variant.features.noise_dir, AudioOptions().sample_rate)
                except VoxpopError as exc:
                    problems.append(f"features.noise_dir{where}: {exc}; give a folder of noise recordings")
            try:
                folds = variant.protocol.folds(fold_items)
            except VoxpopError as exc:
                problems.append(f"protocol{where}: {exc}")
            else:
                _check_tuning_dev(recipe.analyses, folds, where, problems)
                _check_early_stopping_dev(variant.model.spec(), folds, where, problems)
            spec = variant.model
            multilabel_loss = LOSSES[spec.loss].multilabel
            for label_name, label_spec in recipe.labels.train.items():
                if multilabel_rule(label_spec) and not (multilabel_loss and spec.head not in CLASSICAL):
                    problems.append(
                        f"labels.train.{label_name}{where}: rule {label_spec.rule!r} gives multi-hot targets; "
                        f"train it with a sigmoid loss (bce, wbce) and a neural head, not "
                        f"{spec.head}/{spec.loss}"
                    )
    _check_analyses(corpus, study, problems)
    check_targets(study, checked, problems)
    if problems:
        raise recipe_error(list(dict.fromkeys(problems)), source)
    for stage, labels in passed:
        run_stage(cache, stage, lambda directory, labels=labels: labels.save(directory / "labels.parquet"), load_labels)
