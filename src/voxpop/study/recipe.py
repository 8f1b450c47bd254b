"""Recipes: one YAML file per study, validated by pydantic before any work starts, expanded into variants.

A recipe names a corpus (a saved corpus directory, an importer format with its arguments, or the
synthetic demo corpus), an item subset, the class set, named train and test label sets, features, a
model, a protocol, the evaluation and the analyses, plus an optional ``grid`` whose every
combination of values is one *variant* of the study (e.g. ``model.loss: [ce, cbce]``). Every model
at every level forbids unknown keys, so a misspelt key is an error naming its full path::

    model.early_stopping.patiance: unknown key (allowed: monitor, patience)

:func:`voxpop.study.loading.load_recipe` reads YAML and applies ``--set key.path=value`` overrides;
:func:`voxpop.study.loading.expand_variants` expands the named variants and the grid;
:func:`voxpop.study.checks.check_recipe` checks the recipe against the corpus (classes, conditions, rater ids,
item columns, extractor and model names) and lists every problem with its key path. The runner
(:func:`voxpop.study.run.run_recipe`) builds the stage graph from a checked recipe.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import pydantic

from voxpop.core.errors import ConfigError
from voxpop.core.limits import Int, Seed
from voxpop.corpus import ItemFilter
from voxpop.corpus.classmap import check_classes
from voxpop.corpus.formats import check_arguments
from voxpop.evaluation import MULTI_LABEL_METRICS, REGRESSION_METRICS, SINGLE_LABEL_METRICS
from voxpop.models import Fold, make_folds
from voxpop.models.protocols import split_values
from voxpop.models.specs import (
    CLASSICAL,
    HEADS,
    LOSSES,
    BackboneConfig,
    ModelSpec,
    Monitor,
    Schedule,
    TrainConfig,
    validated_options,
)
from voxpop.study.analysis_specs import Analyses as Analyses  # the analyses section, re-exported
from voxpop.study.label_specs import FILE_RULE as FILE_RULE  # re-exported with the label specs: recipe sections
from voxpop.study.label_specs import LabelEntry as LabelEntry
from voxpop.study.label_specs import LabelSets, Strict
from voxpop.study.label_specs import LabelSpec as LabelSpec
from voxpop.study.label_specs import multilabel_rule as multilabel_rule

_TRAIN = TrainConfig.model_fields  # the training options' help texts, shared with the model section

GRID_SECTIONS = ("features", "model", "protocol")
"""Top-level sections whose keys a grid may vary (the corpus, labels and analyses stay fixed in a study)."""


# ====================================================================== corpus
class DemoSpec(Strict):
    """The synthetic demo corpus of :func:`voxpop.corpus.demo.make_demo_corpus`."""

    size: Literal["tiny", "small"] = pydantic.Field("small", description="tiny (48 clips) or small.")
    seed: Seed = pydantic.Field(0, description="Seed of the synthetic corpus.")


class CorpusSpec(Strict):
    """Exactly one source: ``path`` (saved corpus directory), ``format`` + ``arguments`` (an importer of
    :mod:`voxpop.corpus.formats`, e.g. ``crema-d``), or ``demo``. Relative paths are read from the working
    directory."""

    path: str | None = pydantic.Field(None, description="A saved corpus directory.")
    format: str | None = pydantic.Field(None, description="An importer format, e.g. crema-d.")
    arguments: dict[str, Any] = pydantic.Field({}, description="The importer's keyword arguments.")
    demo: DemoSpec | None = pydantic.Field(None, description="The synthetic demo corpus.")

    @pydantic.model_validator(mode="after")
    def _one_source(self) -> CorpusSpec:
        given = [name for name in ("path", "format", "demo") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of path, format or demo (given: {', '.join(given) or 'none'})")
        if self.arguments and self.format is None:
            raise ValueError("arguments go with format (the importer's keyword arguments)")
        if self.format is not None:
            try:
                check_arguments(self.format, self.arguments)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return self


class CorpusEntry(CorpusSpec):
    """One corpus of a cross-corpus recipe (``corpora.NAME``): a corpus source as ``corpus``, its class map
    (label -> merged class, or ``drop``; :func:`voxpop.corpus.merge.merge_corpora`) and its feature normalisation.

    ``normalisation``: ``global`` (default: only the fold's training statistics, as for one corpus),
    ``corpus`` (every feature z-scored with the mean and standard deviation of this corpus's items) or
    ``speaker`` (with each speaker's own statistics), before the fold's standardisation. ``labels``: the
    rule for this corpus's items in the recipe's label set of that name (train or test), e.g. CREMA-D's
    ``{rule: mr, condition: voice}`` where RAVDESS has no conditions; the other corpora's items keep the
    label set's own rule.
    """

    class_map: dict[str, str] = pydantic.Field({}, description="LABEL=NEW merged class, or LABEL=drop.")
    labels: dict[str, LabelSpec] = pydantic.Field({}, description="This corpus's rule per recipe label set.")
    normalisation: Literal["global", "corpus", "speaker"] = pydantic.Field(
        "global", description="Feature normalisation before the fold's: global, per corpus or per speaker."
    )


# ====================================================================== features, model, protocol
class FeatureSpec(Strict):
    """An extractor spec (``opensmile:eGeMAPSv02``, ``fbank``, ``ssl:PATH``) with options; ``store`` is the
    feature store root (default: ``$VOXPOP_FEATURE_STORE``, else the user's cache folder), shared between
    recipes. ``max_seconds`` crops longer clips; ``noise_dir`` with ``snr_db`` adds noise from that folder's
    files at that signal-to-noise ratio before extraction (:class:`voxpop.features.audio.AudioOptions`; new
    audio is predicted without noise)."""

    extractor: str = pydantic.Field(
        "opensmile:eGeMAPSv02", description="Feature extractor: opensmile:eGeMAPSv02, fbank, ssl:PATH, waveform:PATH."
    )
    options: dict[str, Any] = pydantic.Field({}, description="Extractor options KEY=VALUE (values read as JSON).")
    max_seconds: float | None = pydantic.Field(None, gt=0, description="Crop longer clips to this many seconds.")
    noise_dir: str | None = pydantic.Field(None, description="Add noise from the audio files of this folder.")
    snr_db: float | None = pydantic.Field(None, description="Signal-to-noise ratio (dB) of the noise_dir noise.")
    store: str | None = pydantic.Field(
        None,
        description="Feature store root (default $VOXPOP_FEATURE_STORE, else the user's cache folder; "
        "'voxpop store list').",
    )

    @pydantic.model_validator(mode="after")
    def _accepted_options(self) -> FeatureSpec:
        """``options`` against what the extractor accepts (names and types), before any work."""
        from voxpop.features.base import check_extractor_options

        try:
            check_extractor_options(self.extractor, self.options)
        except ConfigError as exc:
            raise ValueError(f"options: {exc}") from None
        return self

    @pydantic.model_validator(mode="after")
    def _noise_with_snr(self) -> FeatureSpec:
        if (self.noise_dir is None) != (self.snr_db is None):
            raise ValueError("noise_dir and snr_db go together: give both to add noise, or neither")
        return self


class Optimiser(Strict):
    """AdamW settings and the learning-rate schedule (see :class:`voxpop.models.training.TrainConfig`)."""

    lr: float = pydantic.Field(1e-3, gt=0, description=_TRAIN["lr"].description)
    backbone_lr: float | None = pydantic.Field(None, gt=0, description=_TRAIN["backbone_lr"].description)
    betas: tuple[float, float] = pydantic.Field((0.9, 0.999), description=_TRAIN["betas"].description)
    weight_decay: float = pydantic.Field(0.01, ge=0, description=_TRAIN["weight_decay"].description)
    schedule: Schedule = pydantic.Field("constant", description=_TRAIN["schedule"].description)
    warmup_steps: Int = pydantic.Field(0, ge=0, description=_TRAIN["warmup_steps"].description)
    warmup_ratio: float = pydantic.Field(0.0, ge=0, lt=1, description=_TRAIN["warmup_ratio"].description)


class EarlyStopping(Strict):
    """Stop after ``patience`` epochs without improvement of ``monitor`` on the dev items."""

    monitor: Monitor = pydantic.Field("loss", description=_TRAIN["monitor"].description)
    patience: Int = pydantic.Field(5, ge=1, description="Early stopping: epochs without improvement.")


class ModelConfig(Strict):
    """The head, its loss and optimisation (``early_stopping: null`` trains every epoch).

    ``backbone`` fine-tunes a self-supervised backbone end to end under the head (features must then be
    the ``waveform`` extractor's raw audio). ``accumulate_grad_batches``, ``precision``, ``devices``,
    ``num_nodes`` and ``strategy`` go to Lightning (docs/fine-tuning.md). ``max_batch_frames`` and
    ``long_item_frames`` bound batches of frame sequences and name long items (:class:`TrainConfig`).
    """

    head: str = pydantic.Field("mlp", description=f"Neural head ({', '.join(HEADS)}) or classical model "
                               f"({', '.join(CLASSICAL)}).")  # fmt: skip
    head_options: dict[str, Any] = pydantic.Field({}, description="Head options KEY=VALUE (values read as JSON).")
    loss: str = pydantic.Field("ce", description=f"Loss of neural heads: {', '.join(LOSSES)}.")
    loss_options: dict[str, Any] = pydantic.Field({}, description="Loss options KEY=VALUE, e.g. beta=0.99 (cbce).")
    optimiser: Optimiser = pydantic.Field(Optimiser(), description="AdamW and the learning-rate schedule.")
    epochs: Int = pydantic.Field(20, ge=1, description=_TRAIN["epochs"].description)
    batch_size: Int = pydantic.Field(32, ge=1, description=_TRAIN["batch_size"].description)
    max_batch_frames: Int | None = pydantic.Field(32_000, ge=1, description=_TRAIN["max_batch_frames"].description)
    long_item_frames: Int = pydantic.Field(6_000, ge=1, description=_TRAIN["long_item_frames"].description)
    early_stopping: EarlyStopping | None = pydantic.Field(
        EarlyStopping(), description="Early stopping on the dev items (null: train every epoch)."
    )
    balanced_sampling: bool = pydantic.Field(False, description=_TRAIN["balanced_sampling"].description)
    standardize: bool = pydantic.Field(True, description="z-score every feature with the fold's training statistics.")
    seed: Seed = pydantic.Field(0, description=_TRAIN["seed"].description)
    backbone: BackboneConfig | None = pydantic.Field(None, description=_TRAIN["backbone"].description)
    accumulate_grad_batches: Int = pydantic.Field(1, ge=1, description=_TRAIN["accumulate_grad_batches"].description)
    precision: Literal["auto", "32-true", "bf16-mixed", "16-mixed"] = pydantic.Field(
        "auto", description=_TRAIN["precision"].description
    )
    devices: Int | str | list[Int] = pydantic.Field("auto", description=_TRAIN["devices"].description)
    num_nodes: Int = pydantic.Field(1, ge=1, description=_TRAIN["num_nodes"].description)
    strategy: str = pydantic.Field("auto", description=_TRAIN["strategy"].description)

    @pydantic.field_validator("head")
    @classmethod
    def _known_head(cls, head: str) -> str:
        if head not in HEADS and head not in CLASSICAL:
            raise ValueError(f"unknown head {head!r}; choose one of {', '.join([*HEADS, *CLASSICAL])}")
        return head

    @pydantic.field_validator("loss")
    @classmethod
    def _known_loss(cls, loss: str) -> str:
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        return loss

    @pydantic.field_validator("head_options", "loss_options")
    @classmethod
    def _accepted_options(cls, options: dict[str, Any], info: pydantic.ValidationInfo) -> dict[str, Any]:
        """The option map against what the head / loss accepts (checked even when other keys fail)."""
        kind = "head" if info.field_name == "head_options" else "loss"
        name = info.data.get(kind)
        if name is not None:  # else the name itself was refused
            try:
                validated_options(kind, name, options, prefix="")
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return options

    @pydantic.model_validator(mode="after")
    def _valid_training(self) -> ModelConfig:
        try:
            self.spec()
        except pydantic.ValidationError as exc:  # e.g. warmup_steps with warmup_ratio
            raise ValueError("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None
        return self

    def spec(self) -> ModelSpec:
        """The :class:`voxpop.models.cross_validation.ModelSpec` (training progress bars off: the runner shows its own).
        A classical
        head keeps only what it uses (head, options, seed, standardize), so neural-only settings such as
        ``epochs`` do not change its stage key."""
        if self.head in CLASSICAL:
            train = TrainConfig(seed=self.seed, progress_bar=False)
            return ModelSpec(head=self.head, head_options=self.head_options, train=train, standardize=self.standardize)
        stopping = self.early_stopping
        train = TrainConfig(
            **self.optimiser.model_dump(),
            epochs=self.epochs,
            batch_size=self.batch_size,
            seed=self.seed,
            monitor=stopping.monitor if stopping else "loss",
            patience=stopping.patience if stopping else None,
            balanced_sampling=self.balanced_sampling,
            backbone=self.backbone,
            **self.model_dump(
                include={"accumulate_grad_batches", "precision", "devices", "num_nodes", "strategy"}
                | {"max_batch_frames", "long_item_frames"}
            ),
            progress_bar=False,
        )
        return ModelSpec(
            head=self.head,
            head_options=self.head_options,
            loss=self.loss,
            loss_options=self.loss_options,
            train=train,
            standardize=self.standardize,
        )


class SpeakerFolds(Strict):
    """k speaker-independent folds (dev = the next fold's speakers)."""

    k: Int = pydantic.Field(5, ge=2, description="Number of folds.")
    column: str = pydantic.Field("speaker", description="Item column whose groups the folds keep apart.")
    dev: bool = pydantic.Field(True, description="Hold out the next fold's group as the dev set.")
    seed: Seed = pydantic.Field(0, description="Seed of the fold assignment.")
    assignment: Literal["round-robin", "group-kfold"] = pydantic.Field(
        "round-robin", description="How groups go to folds: round-robin (shuffled) or group-kfold (by size)."
    )
    disjoint: list[str] = pydantic.Field(
        [], description="Item columns (sentence) whose values test shares with no training or dev item either; "
        "items fitting neither side of a fold are set aside."
    )


class RaterFolds(SpeakerFolds):
    """k folds of items (kept apart by ``column``, as speaker folds) and k groups of raters (shuffled with ``seed``):
    an item of fold g keeps only the ratings of rater group g (the others set aside and counted), so training
    labels come from training raters only and test labels from the held-out raters
    (:mod:`voxpop.labels.rater_folds`)."""


class SplitColumns(Strict):
    """Predefined splits: one fold per column whose values name train / dev / test, each one value or a list
    (MSP-Podcast: ``test: [Test1, Test2]``, each test value also scored on its own; other values are left out and
    counted). ``dev_share``: for columns without development items (EmoBox folds), that share of each fold's
    training speakers is held out as its development set, drawn with ``seed``
    (:func:`voxpop.models.protocols.split_folds`). A one-value list is stored as its value, so ``test: [Test]`` is
    the study of ``test: Test``."""

    columns: list[str] = pydantic.Field(["split"], description="Item columns of the predefined splits (one fold each).")
    train: str | list[str] = pydantic.Field("Train", description="The value, or values, that mark training items.")
    dev: str | list[str] = pydantic.Field(
        "Development", description="The value, or values, that mark development items."
    )
    test: str | list[str] = pydantic.Field(
        "Test", description="The value, or values, that mark test items (several: each also scored on its own)."
    )
    dev_share: float = pydantic.Field(
        0.0,
        ge=0,
        lt=1,
        description="For columns without development items: the share of each fold's training speakers held out "
        "as its development set (speaker-disjoint, at least one speaker).",
    )
    seed: Seed = pydantic.Field(0, description="Seed of the development share's speaker draw.")

    @pydantic.field_validator("train", "dev", "test")
    @classmethod
    def _one_value(cls, value: str | list[str]) -> str | list[str]:
        """A one-value list is its value, so the stage keys of ``test: [Test]`` and ``test: Test`` are one."""
        return value[0] if isinstance(value, list) and len(value) == 1 else value

    @pydantic.model_validator(mode="after")
    def _partition_values(self) -> SplitColumns:
        """Each partition's values checked (:func:`voxpop.models.protocols.split_values`)."""
        try:
            split_values(self.train, self.dev, self.test)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def test_values(self) -> list[str]:
        """The test values, as a list."""
        return split_values(self.train, self.dev, self.test)["test"]


class LeaveOneOut(Strict):
    """One fold per value of an item column (speaker, corpus ...)."""

    column: str = pydantic.Field("speaker", description="Item column: one fold per value.")


class CrossCorpus(Strict):
    """Train on the ``train`` corpora's items, test on the ``test`` corpora's (one fold; names of ``corpora``).

    ``classes``: ``shared`` trains and tests on the classes every corpus has (after its class map);
    ``train`` trains on the training corpora's classes and maps the predictions onto each test corpus's
    classes (:func:`voxpop.models.crosscorpus.map_prediction_classes`; a training class the test corpus lacks
    is dropped and the rest renormalised). ``dev``: share of the training corpora's speakers held out as
    development items (early stopping of neural heads; 0: none), drawn with ``seed``.
    """

    train: list[str] = pydantic.Field(min_length=1, description="The training corpora (names of corpora).")
    test: list[str] = pydantic.Field(min_length=1, description="The test corpora (names of corpora).")
    classes: Literal["shared", "train"] = pydantic.Field("shared", description="shared or train classes.")
    dev: float = pydantic.Field(0.0, ge=0, lt=1, description="Share of training speakers held out as dev items.")
    seed: Seed = pydantic.Field(0, description="Seed of the dev speakers.")

    @pydantic.model_validator(mode="after")
    def _apart(self) -> CrossCorpus:
        both = sorted(set(self.train) & set(self.test))
        if both:
            raise ValueError(f"corpora {both} are in both train and test; a cross-corpus test uses unseen corpora")
        return self


class LeaveOneCorpusOut(Strict):
    """One fold per corpus: test on it, train on all the others, on the classes every corpus shares."""

    classes: Literal["shared"] = pydantic.Field("shared", description="The classes every corpus shares.")


PROTOCOL_KEYS = ("speaker_folds", "split", "leave_one_out", "cross_corpus", "leave_one_corpus_out", "rater_folds")


class ProtocolConfig(Strict):
    """At most one protocol; none given: 5 speaker folds. ``cross_corpus`` and ``leave_one_corpus_out``
    need ``corpora``."""

    speaker_folds: SpeakerFolds | None = pydantic.Field(None, description="k speaker-independent folds (default).")
    split: SplitColumns | None = pydantic.Field(None, description="Predefined splits in item columns.")
    leave_one_out: LeaveOneOut | None = pydantic.Field(None, description="One fold per value of an item column.")
    cross_corpus: CrossCorpus | None = pydantic.Field(None, description="Train on some corpora, test on others.")
    leave_one_corpus_out: LeaveOneCorpusOut | None = pydantic.Field(None, description="One fold per corpus.")
    rater_folds: RaterFolds | None = pydantic.Field(
        None, description="k folds of items and of raters: test labels from the held-out raters only."
    )

    @pydantic.model_validator(mode="after")
    def _at_most_one(self) -> ProtocolConfig:
        given = [name for name in PROTOCOL_KEYS if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"give one protocol, not {' and '.join(given)}")
        return self

    @property
    def corpus_level(self) -> bool:
        """Whether the protocol's folds are corpora (cross-corpus or leave-one-corpus-out)."""
        return self.cross_corpus is not None or self.leave_one_corpus_out is not None

    def name_and_options(self) -> tuple[str, dict[str, Any]]:
        """Protocol name and options of :func:`voxpop.models.protocols.make_folds`."""
        if self.split is not None:
            return "split", self.split.model_dump()
        if self.leave_one_out is not None:
            return "leave-one-out", self.leave_one_out.model_dump()
        if self.cross_corpus is not None:
            return "cross-corpus", self.cross_corpus.model_dump(include={"train", "test", "dev", "seed"})
        if self.leave_one_corpus_out is not None:
            return "leave-one-out", {"column": "corpus"}
        if self.rater_folds is not None:  # the models' folds; the labels stage splits the raters
            return "speaker-folds", self.rater_folds.model_dump()
        return "speaker-folds", (self.speaker_folds or SpeakerFolds()).model_dump()

    def folds(self, items) -> list[Fold]:
        name, options = self.name_and_options()
        return make_folds(items, name, **options)

    def test_partitions(self) -> dict[str, list[str]] | None:
        """``{"columns": [...], "test": [...]}`` of a split protocol with several test values, whose partitions
        the evaluation scores apart (:func:`voxpop.evaluation.partitions.partition_groups`); None otherwise."""
        if self.split is None or len(self.split.test_values) < 2:
            return None
        return {"columns": list(self.split.columns), "test": self.split.test_values}


# ====================================================================== evaluation
class EvaluationConfig(Strict):
    """Bootstrap intervals, cross-testing and which metrics the report shows (results keep them all).

    ``cross_test: false`` scores each model only on the test set of the same name. ``by``: also score
    per group of an item column (e.g. ``source``: own vs other corpora). ``binarize``: how multi-label
    test sets binarise predictions (``auto``: 1/C rule for softmax outputs, 0.5 for sigmoids).
    ``tie_policy``: how a single-label test target whose top class is tied (AR distributions) is scored:
    ``drop`` (default; left out and counted in ``n_tied``), ``first`` (first tied class), ``random``.
    ``resample``: what the bootstrap intervals and paired tests resample: ``items`` (default; stratified
    by true class) or ``speakers`` (cluster bootstrap over the items' ``speaker`` column; out-of-fold
    predictions of one speaker are not independent).
    """

    bootstrap: Int = pydantic.Field(1000, ge=0, description="Bootstrap resamples of the 95 % intervals.")
    seed: Seed = pydantic.Field(0, description="Seed of the bootstrap.")
    resample: Literal["items", "speakers"] = pydantic.Field(
        "items", description="What the bootstrap resamples: items (stratified by class) or speakers (clusters)."
    )
    cross_test: bool = pydantic.Field(True, description="Score every model on every test set (false: same name).")
    metrics: list[str] = pydantic.Field(["macro_f1", "uar", "kld", "jsd"], description="Metrics the report shows.")
    per_class: bool = pydantic.Field(False, description="Also per-class scores in the report.")
    by: str | None = pydantic.Field(None, description="Also score per group of this item column.")
    binarize: Literal["auto", "uniform", "argmax"] | float = pydantic.Field(
        "auto", description="Multi-label tests: auto, uniform (1/C), argmax, or a threshold."
    )
    tie_policy: Literal["drop", "first", "random"] = pydantic.Field(
        "drop", description="Single-label targets with a tied top class: drop (counted), first, random."
    )

    @pydantic.field_validator("metrics")
    @classmethod
    def _known_metrics(cls, metrics: list[str]) -> list[str]:
        known = list(dict.fromkeys([*SINGLE_LABEL_METRICS, *MULTI_LABEL_METRICS, "kld", "jsd", *REGRESSION_METRICS]))
        unknown = [m for m in metrics if m not in known]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; choose from {', '.join(known)}")
        return metrics


# ====================================================================== the recipe
class Recipe(Strict):
    """A study: corpus, items, classes, label sets, features, model, protocol, evaluation, analyses, grid."""

    study: str = pydantic.Field(description="The study's name (it names files).")
    title: str = pydantic.Field("", description="The report's title.")
    description: str = pydantic.Field("", description="The report's description.")
    question: str = pydantic.Field(
        "", description="The study's question in one sentence, answered first in the report and the terminal "
        "(default: one built from the label sets and the main metric)."
    )
    notice: str | None = pydantic.Field(None, description="A notice the report shows first.")
    corpus: CorpusSpec | None = pydantic.Field(None, description="The corpus (one).")
    corpora: dict[str, CorpusEntry] = pydantic.Field({}, description="Several corpora, merged (cross-corpus).")
    where: str | None = pydantic.Field(
        None, description="Keep only items for which this item filter is true, e.g. \"gender == 'female'\"."
    )
    classes: list[str] | None = pydantic.Field(
        None, description="The class subset, e.g. anger,happy,sad (default: all)."
    )

    @pydantic.field_validator("classes")
    @classmethod
    def _each_class_once(cls, classes: list[str] | None) -> list[str] | None:
        try:
            return check_classes(classes, "the class list")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    class_map: dict[str, str] = pydantic.Field(
        {}, description="LABEL=NEW renames a label, LABEL=drop removes it (before classes)."
    )
    labels: LabelSets = pydantic.Field(LabelSets(), description="Named train and test label sets.")
    features: FeatureSpec = pydantic.Field(  # a factory: checking its extractor's options imports the extractor
        default_factory=FeatureSpec, description="Features."
    )
    model: ModelConfig = pydantic.Field(ModelConfig(), description="The model.")
    protocol: ProtocolConfig = pydantic.Field(ProtocolConfig(), description="The protocol (folds).")
    evaluation: EvaluationConfig = pydantic.Field(EvaluationConfig(), description="The evaluation.")
    analyses: Analyses = pydantic.Field(Analyses(), description="Optional analyses.")
    audit: Literal["warn", "strict", "off"] = pydantic.Field(
        "warn", description="Leakage audit before the run: warn (cautions), strict (refuse a speaker or audio leak) "
        "or off (docs/leakage.md)."
    )
    variants: dict[str, dict[str, Any]] = pydantic.Field({}, description="Named variants: NAME -> changed keys.")
    grid: dict[str, list[Any]] = pydantic.Field({}, description="Keys and their values; each combination a variant.")

    @pydantic.model_validator(mode="after")
    def _one_corpus_section(self) -> Recipe:
        if (self.corpus is None) == (not self.corpora):
            raise ValueError("give either corpus (one corpus) or corpora (several, merged), not both or neither")
        if self.corpora and len(self.corpora) < 2:
            raise ValueError("corpora: name at least two corpora (one corpus goes under corpus)")
        bad = [n for n in self.corpora if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", n)]
        if bad:
            raise ValueError(f"corpora: names {bad} must use letters, digits, '-', '_', '.' (they prefix item ids)")
        if self.protocol.corpus_level and not self.corpora:
            raise ValueError("protocol: cross_corpus and leave_one_corpus_out need several corpora under corpora")
        sets = {*self.labels.train, *self.labels.test}
        stray = [f"corpora.{c}.labels.{n}" for c, e in self.corpora.items() for n in e.labels if n not in sets]
        if stray:
            raise ValueError(f"{', '.join(stray)}: no label set of that name in labels.train / labels.test")
        cross = self.protocol.cross_corpus
        unknown = [n for n in (cross.train + cross.test if cross else []) if n not in self.corpora]
        if unknown:
            raise ValueError(
                f"protocol.cross_corpus: {unknown} are not corpora of the recipe (corpora: {', '.join(self.corpora)})"
            )
        return self

    @pydantic.model_validator(mode="after")
    def _backbone_on_waveforms(self) -> Recipe:
        if self.model.backbone is not None and self.features.extractor.partition(":")[0] != "waveform":
            raise ValueError(
                "model.backbone fine-tunes on raw audio: set features.extractor to "
                f"'waveform:{self.model.backbone.path}' (got {self.features.extractor!r})"
            )
        return self

    @pydantic.field_validator("study")
    @classmethod
    def _file_safe(cls, study: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", study):
            raise ValueError(f"{study!r}: use letters, digits, '-', '_' and '.' (it names files)")
        return study

    @pydantic.field_validator("where")
    @classmethod
    def _item_filter(cls, where: str | None) -> str | None:
        if where:  # the grammar now; the columns when the corpus is loaded (voxpop.study.run.prepare_corpus)
            try:
                ItemFilter.parse(where)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return where
