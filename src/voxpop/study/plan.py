"""The plan of a study: every stage it runs, by role (:class:`Plan`), made by the one planner :func:`plan_study`
for every target kind; :func:`features_stage` is the stage extracting a variant's features and
:func:`label_classes` the classes of the label sets of merged corpora.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from voxpop.core.cache import LOCATIONS, Stage
from voxpop.core.errors import ConfigError
from voxpop.labels.disagreement import DISAGREEMENT_RULE
from voxpop.labels.label_sets import spec_kind
from voxpop.study import stages as st
from voxpop.study.corpus_source import file_hash, folder_fingerprint
from voxpop.study.definition import Study, as_study
from voxpop.study.recipe import FILE_RULE, FeatureSpec, Recipe, multilabel_rule


@dataclasses.dataclass
class Plan:
    """Every stage of a study, by role; ``order`` lists each distinct stage once, inputs first. ``calibrations``:
    (source, train, test) -> calibration against the raters; ``ceilings``: test set -> the raters' ceiling."""

    labels: dict[tuple[str, str], Stage]
    sweep: Stage | None
    segments: Stage | None
    features: dict[str, Stage]
    sources: dict[tuple[str, str], Stage]
    evaluations: dict[tuple[str, str, str], Stage]
    matrices: dict[tuple[str, str, str], Stage]
    analyses: dict[str, Stage]
    variant_names: list[str]
    calibrations: dict[tuple[str, str, str], Stage] = dataclasses.field(default_factory=dict)
    ceilings: dict[str, Stage] = dataclasses.field(default_factory=dict)
    order: list[Stage] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        seen: dict[str, Stage] = {}

        def visit(stage: Stage) -> None:
            for parent in stage.inputs:
                visit(parent)
            seen.setdefault(stage.key, stage)

        groups = (self.labels, self.features, self.sources, self.evaluations, self.matrices, self.analyses,
                  self.calibrations, self.ceilings)  # fmt: skip
        singles = [s for s in (self.sweep, self.segments) if s is not None]
        for stage in [*singles, *(s for g in groups for s in g.values())]:
            visit(stage)
        self.order = list(seen.values())



def features_stage(
    corpus_key: str,
    f: FeatureSpec,
    normalisation: Mapping[str, str] | None = None,
    segments: Stage | None = None,
    audio_key: str | None = None,
) -> Stage:
    """The stage extracting features ``f`` of the corpus (of the segment corpus when ``segments`` is given);
    ``normalisation``: each corpus's feature normalisation when some corpus is not normalised globally;
    ``audio_key``: the identity of the corpus's audio files (a changed file gives the stage a new key)."""
    config = {"corpus": corpus_key, "extractor": f.extractor, "options": f.options, "max_seconds": f.max_seconds}
    if audio_key is not None:
        config["audio_files"] = audio_key
    if f.noise_dir:  # extraction-time noise: the folder's files (names and sizes) are hashed, its place is not
        config.update(noise=folder_fingerprint(f.noise_dir), snr_db=f.snr_db)
        config[LOCATIONS] = {"noise_dir": str(Path(f.noise_dir).absolute())}
    if normalisation:
        config["normalisation"] = normalisation
    return Stage("features", f"features {f.extractor}", config, (segments,) if segments is not None else ())


# ====================================================================== the planner
def label_stages(
    study: Study, corpus_key: str, corpus_classes: Mapping[str, list[str]] | None = None
) -> dict[tuple[str, str], Stage]:
    """The labels stage of every label set of ``study`` by (``train`` / ``test``, name), as :func:`plan_study`
    plans them (the pre-flight check builds each through its stage, so the runner finds it done).

    Args:
        study: the study; corpus_key: the key of its corpus content; corpus_classes: merged corpora's classes.

    Returns:
        The labels stages.

    Raises:
        ConfigError: merged corpora that share no class (:func:`label_classes`).
    """
    return _label_stages(study.recipe, corpus_key, corpus_classes)[1]


def _label_stages(
    recipe: Recipe, corpus_key: str, corpus_classes: Mapping[str, list[str]] | None
) -> tuple[Stage | None, dict[tuple[str, str], Stage]]:
    """The threshold-sweep stage (None without one) and the labels stages of ``recipe``."""
    base = {"corpus": corpus_key, "classes": recipe.classes, "class_map": recipe.class_map}
    part_classes = dict(zip(("train", "test"), label_classes(recipe, corpus_classes), strict=True))
    sweep = None
    if recipe.analyses.threshold_sweep is not None:
        spec = recipe.analyses.threshold_sweep.model_dump(mode="json")
        sweep = Stage("sweep", "threshold sweep", {**base, "spec": spec})
    labels = {}
    for part in ("train", "test"):
        for name, spec in getattr(recipe.labels, part).items():
            inputs = (sweep,) if getattr(spec, "threshold", None) == "best" and sweep is not None else ()
            config = {**base, "classes": part_classes[part], "spec": _hashed_spec(spec)}
            locations = {}
            path = getattr(spec, "path", None)
            if path is not None:  # a saved label set: its content is hashed, its place is not
                locations["spec"] = path
                if Path(path).is_file():
                    config["sha256"] = file_hash(path)
            if recipe.protocol.rater_folds is not None:  # items keep their fold's rater group's ratings
                config["rater_folds"] = recipe.protocol.rater_folds.model_dump()
            overrides = {c: e.labels[name] for c, e in recipe.corpora.items() if name in e.labels}
            if overrides:  # these corpora's items get their own rule (stages.compute_labels)
                config["overrides"] = {c: _hashed_spec(o) for c, o in overrides.items()}
                located = {c: o.path for c, o in overrides.items() if o.path is not None}
                if located:
                    locations["overrides"] = located
                    config["overrides_sha256"] = {c: file_hash(p) for c, p in located.items() if Path(p).is_file()}
            if locations:
                config[LOCATIONS] = locations
            labels[part, name] = Stage("labels", f"labels {name}", config, inputs)
    return sweep, labels


def _hashed_spec(spec: Any) -> dict[str, Any]:
    """A label-set spec as its labels stage hashes it: without the ``path`` of a saved label set (rule ``file``),
    whose content the stage hashes instead (its place goes in the config's :data:`~voxpop.core.cache.LOCATIONS`)."""
    return {name: value for name, value in spec.config().items() if name != "path"}


def label_classes(recipe: Recipe, corpus_classes: Mapping[str, list[str]] | None) -> tuple[Any, Any]:
    """The class lists of the train and the test label sets (None: every class of the corpus).

    One corpus: ``classes`` of the recipe for both. Several corpora (``corpus_classes``: each corpus's
    classes after its class map): ``classes`` or else the classes every corpus has, for both; with
    ``protocol.cross_corpus.classes: train``, the training corpora's classes (or ``classes``) for the
    train label sets and every merged class for the test ones (predictions are mapped per test corpus).
    Raises :class:`ConfigError` when the corpora share no class and the recipe names none.

    >>> from voxpop.study.recipe import ProtocolConfig
    >>> from voxpop.study.loading import recipe_from_dict
    >>> r = recipe_from_dict({"study": "s", "corpora": {"a": {"demo": {}}, "b": {"demo": {}}},
    ...                       "protocol": {"cross_corpus": {"train": ["a"], "test": ["b"], "classes": "train"}}})
    >>> label_classes(r, {"a": ["anger", "calm", "sad"], "b": ["anger", "sad", "fear"]})
    (['anger', 'calm', 'sad'], None)
    >>> label_classes(r.model_copy(update={"protocol": ProtocolConfig()}), {"a": ["anger", "calm"], "b": ["anger"]})
    (['anger'], ['anger'])
    >>> label_classes(r.model_copy(update={"protocol": ProtocolConfig()}), {"a": ["calm"], "b": ["anger"]})
    Traceback (most recent call last):
    ...
    voxpop.core.errors.ConfigError: corpora: no class is shared by every corpus after its class map (a: calm; b: ...
    """
    if not corpus_classes:
        return recipe.classes, recipe.classes
    cross = recipe.protocol.cross_corpus
    if cross is not None and cross.classes == "train":
        trained = list(dict.fromkeys(c for name in cross.train for c in corpus_classes[name]))
        return recipe.classes or trained, None
    lists = list(corpus_classes.values())
    shared = [c for c in lists[0] if all(c in other for other in lists[1:])]
    if not shared and not recipe.classes:
        listed = "; ".join(f"{name}: {', '.join(c)}" for name, c in corpus_classes.items())
        raise ConfigError(
            f"corpora: no class is shared by every corpus after its class map ({listed}); map the labels onto "
            "common names with corpora.NAME.class_map, or set protocol.cross_corpus.classes: train"
        )
    return recipe.classes or shared, recipe.classes or shared


def _source_partitions(partitions: Mapping[str, Any], source: str) -> Any:
    """The test partitions a source's evaluation scores apart: its variant's (a tuned source: the variant it tunes),
    or for an ensemble or fusion of every variant the variants' when they all have the same, else None."""
    base = source.removesuffix(" +tuned")
    if base in partitions:
        return partitions[base]
    found = list(partitions.values())
    return found[0] if found and all(p == found[0] for p in found) else None


def plan_study(
    study: Study | Recipe,
    corpus_key: str,
    corpus_classes: Mapping[str, list[str]] | None = None,
    audio_key: str | None = None,
) -> Plan:
    """The stages of a study on the corpus whose content (and item subset) hashes to ``corpus_key``.

    One planner for every target kind: a label set's stage builds classes or dimensions
    (:func:`voxpop.labels.label_sets.build_label_set`), the ``train`` stage fits classifiers or regressors by the
    label set's kind and the ``evaluate`` stage scores them (:func:`voxpop.evaluation.test_scores.score_test_set`);
    the stages that read classes only (ensemble, fusion, tuned decisions, matrices) appear only when the recipe
    asks for them, which the pre-flight check allows for categorical label sets only
    (:data:`voxpop.study.checks.ACCEPTS`).

    Interval label sets (rule ``intervals``) label segments, not the corpus items: a ``segments`` stage
    builds the corpus of the union of their segments, and features (hence models) are made on it.
    ``corpus_classes`` (recipes with ``corpora``: each corpus's classes after its class map) sets the
    label sets' classes (:func:`label_classes`); with ``cross_corpus.classes: train`` each test corpus's
    cells map the predictions onto that corpus's classes.

    Args:
        study: the :class:`~voxpop.study.definition.Study` (a recipe is made one).
        corpus_key: the key of the corpus content (:func:`voxpop.study.corpus_source.prepare_corpus`).
        corpus_classes: merged corpora: each corpus's classes after its class map.
        audio_key: the identity of the corpus's audio files (:func:`voxpop.study.run.audio_files_key`), part of
            the features stages' keys, so a changed audio file is extracted again; None: not part of them.

    Returns:
        The :class:`Plan`: every stage by role, in dependency order.

    Raises:
        ConfigError: merged corpora that share no class (:func:`label_classes`).
    """
    study = as_study(study)
    recipe = study.recipe
    base = {"corpus": corpus_key, "classes": recipe.classes, "class_map": recipe.class_map}
    a = recipe.analyses
    sweep, labels = _label_stages(recipe, corpus_key, corpus_classes)
    rules = {key: getattr(spec, "rule", None) for key, spec in study.label_specs.items()}
    intervals = {s.key: s for key, s in labels.items() if rules[key] == "intervals"}
    segments = Stage("segments", "segment corpus", {}, tuple(intervals.values())) if intervals else None
    named = {
        **{n: s for (p, n), s in labels.items() if p == "test"},
        **{n: s for (p, n), s in labels.items() if p == "train"},
    }
    features, sources = {}, {}
    normalisation = {name: c.normalisation for name, c in recipe.corpora.items()}
    normalisation = normalisation if set(normalisation.values()) - {"global"} else None
    variant_list = study.variants
    tuning = [t for t in (a.fusion, a.tuned_decisions) if t is not None]
    dev_predictions = any(t.tune_on == "dev" for t in tuning)  # fold models predict their own dev items
    dev_predictions |= a.calibration is not None and a.calibration.tuning == "temperature"
    for variant, v in variant_list if recipe.labels.train else ():
        features[variant] = features_stage(corpus_key, v.features, normalisation, segments, audio_key)
        protocol = v.protocol.name_and_options()
        model = v.model.spec().model_dump(mode="json")
        for train in recipe.labels.train:
            config = {
                "corpus": corpus_key,
                "model": model,
                "protocol": list(protocol),
                "dev_predictions": dev_predictions,
            }
            sources[variant, train] = Stage(
                "train", f"train {train} ({variant})", config, (features[variant], labels["train", train])
            )
    names = study.variant_names
    for train in recipe.labels.train:
        trained = tuple(sources[v, train] for v in names)
        if a.ensemble and len(names) > 1:
            sources["ensemble", train] = Stage("ensemble", f"ensemble {train}", {}, trained)
        if a.fusion is not None and len(names) + len(a.fusion.predictions) > 1:
            imported = {n: file_hash(p) for n, p in a.fusion.predictions.items()}
            config = {**a.fusion.model_dump(mode="json", exclude={"predictions"}), "imported": imported}
            config["variants"] = names  # the imported files' contents are hashed; the runner knows their places
            sources["fusion", train] = Stage("fusion", f"fusion {train}", config, (*trained, labels["train", train]))
        if a.tuned_decisions is not None:
            for v in names:
                sources[f"{v} +tuned", train] = Stage(
                    "tuned",
                    f"tuned decisions {train} ({v})",
                    a.tuned_decisions.model_dump(),
                    (sources[v, train], labels["train", train]),
                )
    e = recipe.evaluation
    evaluation = {
        "format": st.EVALUATION_FORMAT,
        "corpus": corpus_key,
        "bootstrap": e.bootstrap,
        "seed": e.seed,
        "by": e.by or ("corpus" if recipe.corpora else None),
        "binarize": e.binarize,
        "tie_policy": e.tie_policy,
    }
    if e.resample != "items":  # only then: the stage keys of item-bootstrap studies stay as they were
        evaluation["resample"] = e.resample
    cross = recipe.protocol.cross_corpus
    if cross is not None and cross.classes == "train":
        evaluation["corpus_classes"] = {name: corpus_classes[name] for name in cross.test}
    matrix = {"binarize": e.binarize, "tie_policy": e.tie_policy, "seed": e.seed}
    partitions = {name: v.protocol.test_partitions() for name, v in variant_list}
    evaluations, matrices = {}, {}
    for (source, train), stage in sources.items():
        scored = _source_partitions(partitions, source)
        for test, spec in recipe.labels.test.items():
            if not e.cross_test and test != train:
                continue
            cell = (source, train, test)
            test_stage = labels["test", test]
            evaluations[cell] = Stage(  # the train labels give the KLD / JSD chance level (prior baseline)
                "evaluate",
                f"evaluate {train} -> {test} ({source})",
                {**evaluation, "partitions": scored} if scored else evaluation,  # else: the keys of one test value
                (stage, test_stage, labels["train", train]),
            )
            wanted = a.mlcm if multilabel_rule(spec) else a.confusion
            if wanted is not None and source in names and (wanted.cells == "all" or test == train):
                kind = "mlcm" if multilabel_rule(spec) else "confusion"
                matrices[cell] = Stage(kind, f"{kind} {train} -> {test} ({source})", matrix, (stage, test_stage))
    analyses = {}
    if a.agreement is not None:
        analyses["agreement"] = Stage("agreement", "agreement table", {**base, "spec": a.agreement.model_dump()})
    if a.loss_accounting is not None:
        analyses["accounting"] = Stage(
            "accounting", "loss accounting", {**base, "spec": a.loss_accounting.model_dump()}
        )
    if a.budget is not None:
        config, inputs = {**base, "spec": a.budget.model_dump()}, ()
        if a.budget.models and features:  # the model side: the first variant's features, head and folds
            variant, v = variant_list[0]
            config |= {"model": v.model.spec().model_dump(mode="json"), "protocol": list(v.protocol.name_and_options())}
            inputs = (features[variant],)
        analyses["budget"] = Stage("budget", "annotation budget", config, inputs)
    if a.ccc is not None:
        analyses["ccc"] = Stage(
            "ccc",
            f"{a.ccc.stat} between label sets",
            {"stat": a.ccc.stat, "sets": a.ccc.sets, "bootstrap": e.bootstrap, "seed": e.seed},
            tuple(named[s] for s in a.ccc.sets),
        )
    if a.easy_difficult is not None and recipe.labels.train:
        spec = a.easy_difficult
        trained = tuple(sources[v, t] for v in names for t in recipe.labels.train)
        analyses["easy_difficult"] = Stage(
            "easy_difficult",
            f"easy / difficult items on {spec.test}",
            {"corpus": corpus_key, **spec.model_dump(), "sources": [s.label for s in trained]},
            (*trained, labels["test", spec.test]),
        )
    calibrations, ceilings = _rater_stages(recipe, labels, sources, evaluations, names, evaluation)
    return Plan(
        labels, sweep, segments, features, sources, evaluations, matrices, analyses, names, calibrations, ceilings
    )


def single_label_tests(recipe: Recipe) -> list[str]:
    """The test label sets a rater can be scored on, in recipe order: single-label rules of classes (not saved
    label files) and gold standards of dimensions (not the raters' disagreement)."""
    tests = []
    for name, spec in recipe.labels.test.items():
        rule = getattr(spec, "rule", None)
        if rule in (FILE_RULE, DISAGREEMENT_RULE) or (spec_kind(spec) == "categorical" and multilabel_rule(spec)):
            continue
        tests.append(name)
    return tests


def _rater_stages(
    recipe: Recipe,
    labels: Mapping[tuple[str, str], Stage],
    sources: Mapping[tuple[str, str], Stage],
    evaluations: Mapping[tuple[str, str, str], Stage],
    names: list[str],
    evaluation: Mapping[str, Any],
) -> tuple[dict[tuple[str, str, str], Stage], dict[str, Stage]]:
    """The calibration stages (every trained softmax model on the consensus test set) and the ceiling stages (every
    chosen test set, with every model scored on it)."""
    a, scored = recipe.analyses, single_label_tests(recipe)
    boot = {"bootstrap": evaluation["bootstrap"], "seed": evaluation["seed"]}
    calibrations, ceilings = {}, {}
    categorical = [t for t in scored if spec_kind(recipe.labels.test[t]) == "categorical"]
    if a.calibration is not None and (a.calibration.test or categorical):
        test = a.calibration.test or categorical[0]
        test_stage = labels["test", test]
        config = {**a.calibration.model_dump(), **boot, "spec": test_stage.config["spec"],
                  "classes": test_stage.config["classes"], "class_map": test_stage.config["class_map"]}  # fmt: skip
        for (source, train), stage in sources.items():
            spec = recipe.labels.train[train]
            if source in names and spec_kind(spec) == "categorical" and not multilabel_rule(spec):
                calibrations[source, train, test] = Stage(
                    "calibration", f"calibration {train} -> {test} ({source})", config,
                    (stage, test_stage, labels["train", train]),
                )  # fmt: skip
    if a.ceiling is not None:
        for test in a.ceiling.tests or scored:
            cells = [(source, train) for (source, train, t) in evaluations if t == test]
            test_stage = labels["test", test]
            config = {"corpus": evaluation["corpus"], "spec": test_stage.config["spec"], **boot,
                      "classes": test_stage.config["classes"], "class_map": test_stage.config["class_map"],
                      "min_ratings": a.ceiling.min_ratings, "metrics": list(recipe.evaluation.metrics),
                      "sources": [list(cell) for cell in cells]}  # fmt: skip
            ceilings[test] = Stage("ceiling", f"raters' ceiling on {test}", config, tuple(sources[c] for c in cells))
    return calibrations, ceilings
