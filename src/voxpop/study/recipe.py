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
from collections.abc import Mapping
from typing import Any, Literal

import pydantic

from voxpop.core.errors import ConfigError
from voxpop.core.limits import Int, Seed
from voxpop.corpus import ItemFilter
from voxpop.corpus.classmap import check_classes
from voxpop.corpus.formats import check_arguments
from voxpop.evaluation import MULTI_LABEL_METRICS, REGRESSION_METRICS, SINGLE_LABEL_METRICS
from voxpop.labels.registry import DENOMINATORS, POOLINGS, RULES, TIE_POLICIES
from voxpop.models import Fold, make_folds
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
from voxpop.study.label_specs import FILE_RULE as FILE_RULE  # re-exported with the label specs: recipe sections
from voxpop.study.label_specs import LabelEntry as LabelEntry
from voxpop.study.label_specs import LabelSets, Strict
from voxpop.study.label_specs import LabelSpec as LabelSpec
from voxpop.study.label_specs import multilabel_rule as multilabel_rule

GRID_SECTIONS = ("features", "model", "protocol")
"""Top-level sections whose keys a grid may vary (the corpus, labels and analyses stay fixed in a study)."""


# ====================================================================== corpus
class DemoSpec(Strict):
    """The synthetic demo corpus of :func:`voxpop.corpus.demo.make_demo_corpus`."""

    size: Literal["tiny", "small"] = "small"
    seed: Seed = 0


class CorpusSpec(Strict):
    """Exactly one source: ``path`` (saved corpus directory), ``format`` + ``arguments`` (an importer of
    :mod:`voxpop.corpus.formats`, e.g. ``crema-d``), or ``demo``. Relative paths are read from the working
    directory."""

    path: str | None = None
    format: str | None = None
    arguments: dict[str, Any] = {}
    demo: DemoSpec | None = None

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

    class_map: dict[str, str] = {}
    labels: dict[str, LabelSpec] = {}
    normalisation: Literal["global", "corpus", "speaker"] = "global"


# ====================================================================== features, model, protocol
class FeatureSpec(Strict):
    """An extractor spec (``opensmile:eGeMAPSv02``, ``fbank``, ``ssl:PATH``) with options; ``store`` is the
    feature store root (default: ``OUT/cache/features``), shareable between recipes. ``max_seconds`` crops
    longer clips; ``noise_dir`` with ``snr_db`` adds noise from that folder's files at that signal-to-noise
    ratio before extraction (:class:`voxpop.features.audio.AudioOptions`; new audio is predicted without noise)."""

    extractor: str = "opensmile:eGeMAPSv02"
    options: dict[str, Any] = {}
    max_seconds: float | None = pydantic.Field(None, gt=0)
    noise_dir: str | None = None
    snr_db: float | None = None
    store: str | None = None

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

    lr: float = pydantic.Field(1e-3, gt=0)
    backbone_lr: float | None = pydantic.Field(None, gt=0)
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = pydantic.Field(0.01, ge=0)
    schedule: Schedule = "constant"
    warmup_steps: Int = pydantic.Field(0, ge=0)
    warmup_ratio: float = pydantic.Field(0.0, ge=0, lt=1)


class EarlyStopping(Strict):
    """Stop after ``patience`` epochs without improvement of ``monitor`` on the dev items."""

    monitor: Monitor = "loss"
    patience: Int = pydantic.Field(5, ge=1)


class ModelConfig(Strict):
    """The head, its loss and optimisation (``early_stopping: null`` trains every epoch).

    ``backbone`` fine-tunes a self-supervised backbone end to end under the head (features must then be
    the ``waveform`` extractor's raw audio). ``accumulate_grad_batches``, ``precision``, ``devices``,
    ``num_nodes`` and ``strategy`` go to Lightning (docs/fine-tuning.md). ``max_batch_frames`` and
    ``long_item_frames`` bound batches of frame sequences and name long items (:class:`TrainConfig`).
    """

    head: str = "mlp"
    head_options: dict[str, Any] = {}
    loss: str = "ce"
    loss_options: dict[str, Any] = {}
    optimiser: Optimiser = Optimiser()
    epochs: Int = pydantic.Field(20, ge=1)
    batch_size: Int = pydantic.Field(32, ge=1)
    max_batch_frames: Int | None = pydantic.Field(32_000, ge=1)
    long_item_frames: Int = pydantic.Field(6_000, ge=1)
    early_stopping: EarlyStopping | None = EarlyStopping()
    balanced_sampling: bool = False
    standardize: bool = True
    seed: Seed = 0
    backbone: BackboneConfig | None = None
    accumulate_grad_batches: Int = pydantic.Field(1, ge=1)
    precision: Literal["auto", "32-true", "bf16-mixed", "16-mixed"] = "auto"
    devices: Int | str | list[Int] = "auto"
    num_nodes: Int = pydantic.Field(1, ge=1)
    strategy: str = "auto"

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

    k: Int = pydantic.Field(5, ge=2)
    column: str = "speaker"
    dev: bool = True
    seed: Seed = 0
    assignment: Literal["round-robin", "group-kfold"] = "round-robin"


class SplitColumns(Strict):
    """Predefined splits: one fold per column whose values name train / dev / test. ``dev_share``: for columns
    without development items (EmoBox folds), that share of each fold's training speakers is held out as its
    development set, drawn with ``seed`` (:func:`voxpop.models.protocols.split_folds`)."""

    columns: list[str] = ["split"]
    train: str = "Train"
    dev: str = "Development"
    test: str = "Test"
    dev_share: float = pydantic.Field(0.0, ge=0, lt=1)
    seed: Seed = 0


class LeaveOneOut(Strict):
    """One fold per value of an item column (speaker, corpus ...)."""

    column: str = "speaker"


class CrossCorpus(Strict):
    """Train on the ``train`` corpora's items, test on the ``test`` corpora's (one fold; names of ``corpora``).

    ``classes``: ``shared`` trains and tests on the classes every corpus has (after its class map);
    ``train`` trains on the training corpora's classes and maps the predictions onto each test corpus's
    classes (:func:`voxpop.models.crosscorpus.map_prediction_classes`; a training class the test corpus lacks
    is dropped and the rest renormalised). ``dev``: share of the training corpora's speakers held out as
    development items (early stopping of neural heads; 0: none), drawn with ``seed``.
    """

    train: list[str] = pydantic.Field(min_length=1)
    test: list[str] = pydantic.Field(min_length=1)
    classes: Literal["shared", "train"] = "shared"
    dev: float = pydantic.Field(0.0, ge=0, lt=1)
    seed: Seed = 0

    @pydantic.model_validator(mode="after")
    def _apart(self) -> CrossCorpus:
        both = sorted(set(self.train) & set(self.test))
        if both:
            raise ValueError(f"corpora {both} are in both train and test; a cross-corpus test uses unseen corpora")
        return self


class LeaveOneCorpusOut(Strict):
    """One fold per corpus: test on it, train on all the others, on the classes every corpus shares."""

    classes: Literal["shared"] = "shared"


PROTOCOL_KEYS = ("speaker_folds", "split", "leave_one_out", "cross_corpus", "leave_one_corpus_out")


class ProtocolConfig(Strict):
    """At most one protocol; none given: 5 speaker folds. ``cross_corpus`` and ``leave_one_corpus_out``
    need ``corpora``."""

    speaker_folds: SpeakerFolds | None = None
    split: SplitColumns | None = None
    leave_one_out: LeaveOneOut | None = None
    cross_corpus: CrossCorpus | None = None
    leave_one_corpus_out: LeaveOneCorpusOut | None = None

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
        return "speaker-folds", (self.speaker_folds or SpeakerFolds()).model_dump()

    def folds(self, items) -> list[Fold]:
        name, options = self.name_and_options()
        return make_folds(items, name, **options)


# ====================================================================== evaluation and analyses
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

    bootstrap: Int = pydantic.Field(1000, ge=0)
    seed: Seed = 0
    resample: Literal["items", "speakers"] = "items"
    cross_test: bool = True
    metrics: list[str] = ["macro_f1", "uar", "kld", "jsd"]
    per_class: bool = False
    by: str | None = None
    binarize: Literal["auto", "uniform", "argmax"] | float = "auto"
    tie_policy: Literal["drop", "first", "random"] = "drop"

    @pydantic.field_validator("metrics")
    @classmethod
    def _known_metrics(cls, metrics: list[str]) -> list[str]:
        known = list(dict.fromkeys([*SINGLE_LABEL_METRICS, *MULTI_LABEL_METRICS, "kld", "jsd", *REGRESSION_METRICS]))
        unknown = [m for m in metrics if m not in known]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; choose from {', '.join(known)}")
        return metrics


class AgreementAnalysis(Strict):
    """Agreement table (:func:`voxpop.agreement.tables.agreement_table`): alpha per emotion / subset, Pearson r, ICC,
    Fleiss' kappa (``fleiss``: pooled or gwet)."""

    slot: str | None = None
    level: Literal["nominal", "ordinal", "interval", "ratio"] | None = None
    condition: str | None = None
    by: str | None = None
    pearson: bool = False
    icc: bool = False
    fleiss: Literal["pooled", "gwet"] = "pooled"
    bootstrap: Int = pydantic.Field(0, ge=0)
    seed: Seed = 0


class AccountingAnalysis(Strict):
    """Data and rating loss of label rules per condition and pooled (:func:`voxpop.labels.rules.accounting_table`)."""

    rules: list[Literal[RULES]] = ["mr", "pr", "ar"]
    tie_policy: Literal[TIE_POLICIES] = "drop"
    denominator: Literal[DENOMINATORS] = "all"
    pooling: Literal[POOLINGS] = "sum"


class CCCAnalysis(Strict):
    """Agreement between named label sets of the recipe (train or test): CCC per class, or kappa of argmax."""

    sets: list[str]
    stat: Literal["ccc", "kappa"] = "ccc"


class SweepAnalysis(Strict):
    """Threshold sweep of Cohen's kappa between the intensity ratings of two conditions (sources)."""

    conditions: tuple[str, str]
    grid: str = "0.01:0.99:0.01"
    emotions: list[str] | None = None


class CellsAnalysis(Strict):
    """Matrices per (train set, test set) cell: ``diagonal`` = only cells whose names match."""

    cells: Literal["diagonal", "all"] = "diagonal"


class EasyDifficultAnalysis(Strict):
    """Items every model gets right / wrong on test set ``test``, compared by agreement, duration, speaker, gender."""

    test: str
    speaker: str | None = "speaker"
    gender: str | None = "gender"
    duration: str | None = "duration"


class FusionAnalysis(Strict):
    """Dirichlet late fusion of the variants' predictions (and of imported ones: name -> predictions file).

    ``tune_on``: the weights for fold f are chosen on fold f's own development items, predicted by
    the fold's models (``dev``, default, as published studies do), or cross-fitted on the other folds'
    out-of-fold predictions (``other_folds``; needed for imported predictions, which have no dev
    outputs); either way on the items the train label set keeps.
    """

    predictions: dict[str, str] = {}
    n_draws: Int = pydantic.Field(1000, ge=0)
    seed: Seed = 0
    tune_on: Literal["dev", "other_folds"] = "dev"


class TunedAnalysis(Strict):
    """Per-class decision offsets (softmax) or thresholds (sigmoid) tuned for macro-F1 per fold, on the fold
    model's own development predictions (``tune_on: dev``) or on the other folds' (``other_folds``)."""

    tune_on: Literal["dev", "other_folds"] = "dev"


class Analyses(Strict):
    """Optional analyses; ``true`` means the defaults, ``false`` / absent means off."""

    agreement: AgreementAnalysis | None = None
    loss_accounting: AccountingAnalysis | None = None
    ccc: CCCAnalysis | None = None
    threshold_sweep: SweepAnalysis | None = None
    mlcm: CellsAnalysis | None = None
    confusion: CellsAnalysis | None = None
    easy_difficult: EasyDifficultAnalysis | None = None
    layer_weights: bool = False
    ensemble: bool = False
    fusion: FusionAnalysis | None = None
    tuned_decisions: TunedAnalysis | None = None

    @pydantic.model_validator(mode="before")
    @classmethod
    def _booleans(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        flags = {"layer_weights", "ensemble"}
        return {k: ({} if v is True else None if v is False else v) if k not in flags else v for k, v in data.items()}


# ====================================================================== the recipe
class Recipe(Strict):
    """A study: corpus, items, classes, label sets, features, model, protocol, evaluation, analyses, grid."""

    study: str
    title: str = ""
    description: str = ""
    notice: str | None = None
    corpus: CorpusSpec | None = None
    corpora: dict[str, CorpusEntry] = {}
    where: str | None = None
    classes: list[str] | None = None

    @pydantic.field_validator("classes")
    @classmethod
    def _each_class_once(cls, classes: list[str] | None) -> list[str] | None:
        try:
            return check_classes(classes, "the class list")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    class_map: dict[str, str] = {}
    labels: LabelSets = LabelSets()
    features: FeatureSpec = FeatureSpec()
    model: ModelConfig = ModelConfig()
    protocol: ProtocolConfig = ProtocolConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    analyses: Analyses = Analyses()
    variants: dict[str, dict[str, Any]] = {}
    grid: dict[str, list[Any]] = {}

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
