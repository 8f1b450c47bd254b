"""The trained models of a study as *runs*: what ``voxpop evaluate``, ``predict``, ``fuse`` and ``export`` read.

:func:`voxpop.study.run.run_recipe` (behind both ``voxpop run`` and ``voxpop train``) writes ``OUT/runs.json``:
one :class:`RunRecord` per train stage of the plan, naming the stage directories in ``OUT/cache`` that
hold the pooled out-of-fold predictions and fold models (the train stage) and the training labels
(the labels stage), with everything needed to use the models again: the corpus directory and item
filter, the label spec, the feature extractor and the store entry it filled, the model spec and the
protocol. Nothing is trained or stored twice: a run is a view on the stage cache.

Run names are the variant names (``base`` for a recipe without a grid, the head for ``voxpop train
--head mlp,svm``), joined with the train label set's name when the study trains on several.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pydantic

from voxpop.core.cache import DONE, damaged_files, notify, parse_json, read_done, write_text
from voxpop.core.errors import InputError
from voxpop.core.formatting import parse_error, validation_problem
from voxpop.evaluation import load_predictions
from voxpop.evaluation.prediction_checks import check_prediction_table
from voxpop.features import FeatureStore
from voxpop.labels import ContinuousLabelSet, LabelSet
from voxpop.labels.label_files import file_kind
from voxpop.labels.label_sets import load_label_set
from voxpop.models.cross_validation import FoldModel, standardizes
from voxpop.models.fold_records import changed_files_error, verify_folds
from voxpop.models.run_checks import check_run_format, check_run_paths, fold_folder
from voxpop.models.specs import ModelSpec

RUNS_FILE = "runs.json"
RUN_FORMAT = 2


class FeatureSource(pydantic.BaseModel):
    """The features a run was trained on: the store entry (path, key, kind, extractor spec, audio config)
    and the extractor spec string with options that rebuilds the extractor for new audio."""

    model_config = pydantic.ConfigDict(extra="forbid")

    path: str
    key: str
    kind: str
    spec: dict[str, Any]
    audio: dict[str, Any]
    extractor: str | None = None
    options: dict[str, Any] = {}


class ProtocolSpec(pydantic.BaseModel):
    """A protocol name and the options of :func:`voxpop.models.protocols.make_folds`."""

    model_config = pydantic.ConfigDict(extra="forbid")

    name: str
    options: dict[str, Any] = {}


class RecordedCorpus(pydantic.BaseModel):
    """How a study treated one of its recipe's corpora (``corpora.NAME``): the corpus directory (resolved;
    None for a corpus the recipe built), its class map (label -> merged class, or ``drop``) and its feature
    normalisation (``global``, ``corpus`` or ``speaker``)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    path: str | None
    class_map: dict[str, str] = {}
    normalisation: str = "global"


class RunRecord(pydantic.BaseModel):
    """One trained model source of a study (an entry of ``runs.json``).

    ``corpus``: the corpus directory the study read (built corpora: their stage directory);
    ``labels``: the train label set's recipe spec; ``stage`` / ``labels_stage``: the train and labels
    stage directories, relative to the output directory; ``corpora``: each corpus of a recipe that merged
    several (empty for one corpus), as :func:`voxpop.models.crosscorpus.as_recorded` applies it to a test corpus;
    ``test_classes``: with ``corpora``, the classes of its test label sets (None: every merged class,
    ``protocol.cross_corpus.classes: train``); ``kind``: ``categorical`` (``classes`` are classes, the models
    give probabilities) or ``continuous`` (``classes`` are dimensions, the models regress their values);
    ``scale``: continuous runs, the (low, high) scale of each dimension's targets.
    """

    model_config = pydantic.ConfigDict(extra="forbid")

    format: int = RUN_FORMAT
    name: str
    study: str
    variant: str
    train: str
    corpus: str
    where: str | None = None
    labels: dict[str, Any]
    features: FeatureSource
    model: ModelSpec
    protocol: ProtocolSpec
    classes: list[str]
    multilabel: bool
    folds: list[str]
    stage: str
    labels_stage: str
    corpora: dict[str, RecordedCorpus] = {}
    test_classes: list[str] | None = None
    kind: str = "categorical"
    scale: dict[str, tuple[float, float]] = {}


@dataclasses.dataclass
class Run:
    """A trained model source: its record, its train stage directory and its labels stage directory.

    Attributes:
        directory: the train stage directory in ``OUT/cache`` (pooled out-of-fold predictions, ``folds/<fold>/``).
        record: the :class:`RunRecord` of ``runs.json`` (corpus, label spec, features, model spec, protocol).
        labels_directory: the labels stage directory in ``OUT/cache`` holding the training ``labels.parquet``.
    """

    directory: Path
    record: RunRecord
    labels_directory: Path

    @property
    def predictions(self) -> pd.DataFrame:
        """Pooled out-of-fold predictions: class (or dimension) columns and ``fold``, indexed by item."""
        return self._stage_predictions("predictions.parquet")

    @property
    def dev_predictions(self) -> pd.DataFrame | None:
        """Each fold model's outputs on its own development items (class columns and ``fold``), or None when
        the study did not keep them (they are kept when a fusion or tuned-decisions analysis tunes on dev)."""
        kept = (self.directory / "dev_predictions.parquet").is_file()
        return self._stage_predictions("dev_predictions.parquet") if kept else None

    def _stage_predictions(self, name: str) -> pd.DataFrame:
        """A predictions file the train stage wrote, checked against the run's classes and folds
        (:func:`~voxpop.evaluation.prediction_checks.check_prediction_table`) and then against the stage's ``.done``
        record (:func:`check_finished_file`); InputError naming the damage and the cure when unreadable, not what
        the run wrote, or changed since the stage finished (another run's predictions copied in)."""
        path = self.directory / name
        record = self.record
        try:
            loaded = load_predictions(path)
            check_prediction_table(
                loaded, path, classes=record.classes, multilabel=record.multilabel, folds=record.folds, needs_fold=True,
                expected=f"run {record.name!r}",
            )  # fmt: skip
        except InputError as exc:
            raise InputError(
                f"{exc}\nThis file was written by voxpop in the study's cache and is damaged: run the study again "
                f"(damaged stages are recomputed) or check the cache with 'voxpop validate --cache "
                f"{self.directory.parent}'."
            ) from None
        check_finished_file(self.directory, name)
        return loaded.table

    @property
    def labels(self) -> LabelSet | ContinuousLabelSet:
        """The training label set, of either kind."""
        return load_label_set(self.labels_directory / "labels.parquet")

    def fold_models(self) -> dict[str, Any]:
        """``{fold: FoldModel}`` of every fold (what ``predict``, ``evaluate --corpus`` and ``export`` use).

        Every fold is checked against its ``fold.json`` record first (:func:`~voxpop.models.fold_records.verify_folds`).

        Raises:
            InputError: a fold's weights, estimator, standardisation statistics or ``model.json`` is missing or
                damaged: names the file, the fold and the run, and says to retrain.
            FoldRecordError: (an InputError) fold files swapped between folds, a fold folder of another fold or
                run, a file whose SHA-256 differs from the one recorded when the fold was trained, or a fold
                folder or file that is a symlink leading out of the run's train stage folder.
        """
        standardized = standardizes(self.record.model)
        folds = {name: fold_folder(self.directory, name) for name in self.record.folds}
        source = f"{self.directory.parent.parent / RUNS_FILE}, run {self.record.name!r}"
        changed = verify_folds(
            folds, self.directory.name, self.record.classes, source=source, root=self.directory, complete=True
        )
        models = {}
        for name in self.record.folds:
            try:
                models[name] = FoldModel.load(folds[name], standardized)
                if name in changed:
                    raise changed_files_error(name, folds[name], changed[name])
            except InputError as exc:  # the same class (a LegacyModelError stays one), with the fold and the cure
                raise type(exc)(
                    f"{exc}\nFold {name!r} of run {self.record.name!r} ({self.directory}) cannot be used. Retrain it: "
                    "repeat the 'voxpop train' or 'voxpop run' command that wrote the run, with the same --out "
                    "(damaged folds are trained again), and check the cache with "
                    f"'voxpop validate --cache {self.directory.parent}'."
                ) from None
        return models


def check_finished_file(directory: Path, name: str, notice: Callable[[str], None] = notify) -> None:
    """Refuse a file of a finished stage that is not the one its ``.done`` record lists, before it is used.

    The size is compared first, then the BLAKE2b digest (:func:`~voxpop.core.cache.damaged_files`; the file is
    hashed once per call), so a file replaced after the stage finished (e.g. another run's predictions copied in,
    of the same classes and folds) is never read as this stage's.

    Args:
        directory: the finished stage directory (``OUT/cache/<kind>-<key>``).
        name: the file's path inside it (``predictions.parquet``).
        notice: receives one line when the stage has no ``.done`` record at all (a stage folder written without
            the cache): the file is then read unchecked.

    Raises:
        InputError: the stage's ``.done`` record is unreadable or of an older voxpop, does not list the file, or
            the file's size or digest differs from the record's; naming the file and the record.
    """
    path, done = directory / name, directory / DONE
    record = read_done(directory)
    if record is None:  # a stage folder written without the cache (a hand-made or copied run): said, not checked
        notice(f"{path}: not checked against the stage's record ({done} is missing); run the study again to record it.")
        return
    if not record or name not in record["files"]:
        what = "does not list it" if record else "is unreadable (damaged, or written by an older voxpop)"
        raise InputError(
            f"{path}: the stage's record {done} {what}, so the file cannot be checked against what the stage wrote; "
            f"run the study again (the stage is recomputed)."
        )
    problems = damaged_files(directory, {name: record["files"][name]}, full=True)
    if problems:
        raise InputError(
            f"{path}: changed since the stage finished ({problems[0]}, by its record {done}), e.g. replaced by "
            "another run's file: re-run the study (the stage is recomputed) and do not copy files between runs."
        )


def run_records(study: Any) -> dict[str, RunRecord]:
    """The :class:`RunRecord` of every train stage of a finished :class:`voxpop.study.run.StudyRun`, by run name.

    Args:
        study: the finished run; its :class:`~voxpop.study.definition.Study` names the corpus directory it read.

    Returns:
        The records by run name, classifiers and regressors alike.
    """
    plan, recipe, out = study.plan, study.recipe, study.out_dir
    corpus = study.study.corpus_dir
    trains = list(recipe.labels.train)
    records = {}
    for (variant, train), stage in plan.sources.items():
        if stage.kind != "train":
            continue
        name = variant if len(trains) == 1 else f"{variant} / {train}"
        features_stage, labels_stage = stage.inputs
        info = parse_json((out / "cache" / features_stage.name / "features.json").read_text())
        meta = FeatureStore(Path(info["path"])).meta
        trained = study.output(stage)
        labels = study.output(labels_stage)
        scale = {d: tuple(s) for d, s in labels.scale.items()} if labels.kind == "continuous" else {}
        protocol, options = stage.config["protocol"]
        records[name] = RunRecord(
            name=name,
            study=recipe.study,
            variant=variant,
            train=train,
            corpus=str(corpus),
            where=recipe.where,
            labels=recipe.labels.train[train].model_dump(exclude_defaults=True),
            features=FeatureSource(
                path=info["path"],
                key=meta["key"],
                kind=info["kind"],
                spec=meta["extractor"],
                audio=meta["audio"],
                extractor=features_stage.config["extractor"],
                options=features_stage.config["options"],
            ),
            model=ModelSpec.model_validate(stage.config["model"]),
            protocol=ProtocolSpec(name=protocol, options=options),
            classes=[c for c in trained.predictions.columns if c != "fold"],
            multilabel=trained.multilabel,
            folds=[str(f) for f in pd.unique(trained.predictions["fold"])],
            stage=str(Path("cache") / stage.name),
            labels_stage=str(Path("cache") / labels_stage.name),
            corpora={
                name: RecordedCorpus(
                    path=None if entry.path is None else str(Path(entry.path).resolve()),
                    class_map=entry.class_map,
                    normalisation=entry.normalisation,
                )
                for name, entry in recipe.corpora.items()
            },
            test_classes=_test_classes(recipe, [c for c in trained.predictions.columns if c != "fold"]),
            kind=trained.kind,
            scale=scale,
        )
    return records


def _test_classes(recipe: Any, classes: list[str]) -> list[str] | None:
    """The classes of a multi-corpus study's test label sets (:func:`voxpop.study.run.label_classes`): the trained
    ``classes``, or None (every merged class) with ``protocol.cross_corpus.classes: train``; None for one corpus."""
    cross = recipe.protocol.cross_corpus
    if not recipe.corpora or (cross is not None and cross.classes == "train"):
        return None
    return classes


def write_runs(study: Any) -> None:
    """Write ``OUT/runs.json``: every train stage of a :class:`voxpop.study.run.StudyRun` as a :class:`RunRecord`.

    Args:
        study: the finished run (its ``out_dir`` receives the file).
    """
    records = {name: r.model_dump(mode="json") for name, r in run_records(study).items()}
    write_text(study.out_dir / RUNS_FILE, json.dumps(records, indent=1))


def find_runs(out_dir: str | Path, names: list[str] | None = None) -> dict[str, Run]:
    """The runs of a study output directory (``runs.json``), all or those named.

    Args:
        out_dir: a study output directory (the ``--out`` of ``voxpop run`` or ``voxpop train``).
        names: the runs to return; None or empty: all of them.

    Returns:
        ``{name: Run}`` in the order of ``runs.json`` (or of ``names``).

    Raises:
        InputError: a directory without ``runs.json``, an unreadable or empty record, a record of another format
            version (:func:`~voxpop.models.run_checks.check_run_format`), a stage path that leaves ``out_dir``, no
            folds or a fold name that is a path (:func:`~voxpop.models.run_checks.check_run_paths`), or an unknown
            name (listing the known ones).
    """
    out = Path(out_dir)
    path = out / RUNS_FILE
    if not path.is_file():
        older = any(out.glob("run.yaml")) or any(out.glob("*/run.yaml"))
        raise InputError(
            f"{out}: no {RUNS_FILE}; not the output directory of 'voxpop train' or 'voxpop run' (give the --out "
            "directory of one)"
            + ("; its run.yaml is a run directory of an older voxpop: repeat its 'voxpop train' command." if older
               else ".")
        )  # fmt: skip
    try:
        data = parse_json(path.read_text())
        for name, value in data.items():
            check_run_format(path, name, value, RUN_FORMAT)
        records = {name: RunRecord.model_validate(value) for name, value in data.items()}
    except pydantic.ValidationError as exc:
        raise InputError(f"{path}: not a readable run list ({validation_problem(exc)}); run the study again to "
                         "rewrite it.") from None  # fmt: skip
    except (ValueError, AttributeError) as exc:
        raise InputError(f"{path}: not a readable run list ({parse_error(exc)}); run the study again to rewrite "
                         "it.") from None  # fmt: skip
    if not records:
        raise InputError(f"{path}: the study trained no model (its recipe has no labels.train).")
    for name, record in records.items():
        check_run_paths(out, path, name, {"stage": record.stage, "labels_stage": record.labels_stage}, record.folds)
        recorded = file_kind(out / record.labels_stage / "labels.parquet")
        if record.kind != recorded:  # a hand-edited record: the models and label set are of the other kind
            raise InputError(
                f"{path}: run {name!r}, kind {record.kind!r}, but its label set ({record.labels_stage}) is "
                f"{recorded}; the record was edited or belongs to another study. Run the study again to rewrite "
                f"{RUNS_FILE}."
            )
    unknown = [n for n in names or [] if n not in records]
    if unknown:
        raise InputError(f"{out}: no run named {unknown}; its runs are: {', '.join(records)}.")
    chosen = {n: records[n] for n in names} if names else records
    return {n: Run(out / r.stage, r, out / r.labels_stage) for n, r in chosen.items()}


def load_run(out_dir: str | Path, name: str | None = None) -> Run:
    """One run of a study output directory: the one named, or the only one (:func:`find_runs`).

    Args:
        out_dir: a study output directory (the ``--out`` of ``voxpop run`` or ``voxpop train``).
        name: the run to load; None when the directory holds only one.

    Returns:
        The :class:`Run`: its record, predictions (items x classes, probabilities; or items x dimensions on the
        targets' scale), training labels and fold models.

    Raises:
        InputError: as :func:`find_runs`, or several runs and no ``name`` (choose one with ``--model NAME``).
    """
    runs = find_runs(out_dir, [name] if name else None)
    if len(runs) > 1:
        raise InputError(f"{out_dir}: holds {len(runs)} runs ({', '.join(runs)}); choose one with --model NAME.")
    return next(iter(runs.values()))
