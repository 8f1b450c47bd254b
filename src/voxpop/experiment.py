"""Recipes: one YAML file per study, validated by pydantic before any work starts, expanded into variants.

A recipe names a corpus (a saved corpus directory, an importer format with its arguments, or the
synthetic demo corpus), an item subset, the class set, named train and test label sets, features, a
model, a protocol, the evaluation and the analyses, plus an optional ``grid`` whose every
combination of values is one *variant* of the study (e.g. ``model.loss: [ce, cbce]``). Every model
at every level forbids unknown keys, so a misspelt key is an error naming its full path::

    model.early_stopping.patiance: unknown key (allowed: monitor, patience)

:func:`load_recipe` reads YAML and applies ``--set key.path=value`` overrides; :func:`expand_variants`
expands the named variants and the grid; :func:`check_recipe` checks the recipe against the corpus (classes, conditions,
rater ids, item columns, extractor and model names) and lists every problem with its key path.
The runner (:func:`voxpop.stages.run_recipe`) builds the stage graph from a checked recipe.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml

from voxpop.cache import parse_yaml
from voxpop.corpus import Corpus
from voxpop.errors import ConfigError, VoxpopError
from voxpop.features import make_extractor
from voxpop.filters import ItemFilter
from voxpop.labels import make_labels
from voxpop.labelset import LabelSet
from voxpop.losses import LOSSES
from voxpop.metrics import MULTI_LABEL_METRICS, SINGLE_LABEL_METRICS
from voxpop.models import CLASSICAL, HEADS
from voxpop.protocols import Fold, make_folds
from voxpop.rules import DENOMINATORS, OPTIONS, POOLINGS, REGISTRY, RULES, TIE_POLICIES, Option, Rule, rules_using
from voxpop.runs import ModelSpec
from voxpop.training import BackboneConfig, Monitor, Schedule, TrainConfig

FILE_RULE = "file"
"""The label "rule" of a saved label set (``{rule: file, path: labels.parquet}``, from ``voxpop labels``)."""

GRID_SECTIONS = ("features", "model", "protocol")
"""Top-level sections whose keys a grid may vary (the corpus, labels and analyses stay fixed in a study)."""


class Strict(pydantic.BaseModel):
    """Base of every recipe section: unknown keys are errors."""

    model_config = pydantic.ConfigDict(extra="forbid")


# ====================================================================== corpus
class DemoSpec(Strict):
    """The synthetic demo corpus of :func:`voxpop.demo.make_demo_corpus`."""

    size: Literal["tiny", "small"] = "small"
    seed: int = 0


class CorpusSpec(Strict):
    """Exactly one source: ``path`` (saved corpus directory), ``format`` + ``arguments`` (an importer of
    :mod:`voxpop.formats`, e.g. ``crema-d``), or ``demo``. Relative paths are read from the working
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
        return self


# ====================================================================== labels
class _LabelSpecBase(Strict):
    """One named label set: a rule of the registry (:mod:`voxpop.rules`) and its options.

    The option fields are generated from :data:`voxpop.rules.OPTIONS` (see :func:`_option_field`);
    ``threshold: best`` (rule likert) takes the best threshold of the ``threshold_sweep`` analysis.
    """

    rule: str
    condition: str | list[str] | None = None
    pool: bool = False
    path: str | None = None

    @pydantic.field_validator("rule")
    @classmethod
    def _known_rule(cls, rule: str) -> str:
        if rule not in REGISTRY and rule != FILE_RULE:
            raise ValueError(f"unknown rule {rule!r}; the rules are: {', '.join(REGISTRY)} (or {FILE_RULE} with path)")
        return rule

    @pydantic.model_validator(mode="after")
    def _options_of_the_rule(self) -> _LabelSpecBase:
        if (self.rule == FILE_RULE) != (self.path is not None):
            raise ValueError(f"path (a saved label set, .parquet) goes with rule {FILE_RULE}, and rule {FILE_RULE} "
                             "needs it")  # fmt: skip
        taken = REGISTRY[self.rule].options if self.rule != FILE_RULE else ()
        misplaced = [
            name
            for name, option in {**OPTIONS, "condition": None, "pool": None}.items()
            if name not in taken
            and getattr(self, name) not in (None, option.default if option else False)
            and (self.rule == FILE_RULE or option is not None)
        ]
        if misplaced:
            name = misplaced[0]
            if self.rule == FILE_RULE:
                raise ValueError(f"{name} applies to label rules; rule {FILE_RULE} reads a saved label set as it is")
            raise ValueError(f"option {name} applies to rules {', '.join(rules_using(name))}, not to {self.rule!r}")
        return self

    @property
    def definition(self) -> Rule:
        """The rule's registry entry."""
        return REGISTRY[self.rule]

    def rule_options(self) -> dict[str, Any]:
        """The options the rule takes, as given (``threshold`` may be ``best``; none for rule ``file``)."""
        return {} if self.rule == FILE_RULE else {name: getattr(self, name) for name in self.definition.options}

    def config(self) -> dict[str, Any]:
        """The spec as the labels stage hashes it (``path`` only for rule ``file``)."""
        return self.model_dump(exclude=None if self.path else {"path"})

    def options(self, best_threshold: float | None = None) -> dict[str, Any]:
        """Keyword arguments of :func:`~voxpop.labels.make_labels` (``best`` replaced by ``best_threshold``)."""
        options = {"condition": self.condition, "pool": self.pool, **self.rule_options()}
        if options.get("threshold") == "best":
            options["threshold"] = best_threshold
        return options


def _option_field(option: Option) -> tuple[Any, Any]:
    """The pydantic (annotation, field) of a rule option: its type, bounds, choices and recipe-only values."""
    if option.choices is not None:
        annotation: Any = Literal[option.choices]
    else:
        bounds = {"gt" if option.low_open else "ge": option.low} if option.low is not None else {}
        if option.high is not None:
            bounds["le"] = option.high
        annotation = Annotated[option.type, pydantic.Field(**bounds)] if bounds else option.type
    if option.recipe_extra:
        annotation = annotation | Literal[option.recipe_extra]
    if option.default is None:
        annotation = annotation | None
    return annotation, pydantic.Field(option.default, description=option.doc)


LabelSpec = pydantic.create_model(
    "LabelSpec",
    __base__=_LabelSpecBase,
    __doc__=_LabelSpecBase.__doc__,
    __module__=__name__,
    **{name: _option_field(option) for name, option in OPTIONS.items()},
)


class LabelSets(Strict):
    """Named train and test label sets; results name them (``train``, ``test`` columns)."""

    train: dict[str, LabelSpec] = {}
    test: dict[str, LabelSpec] = {}


class CorpusEntry(CorpusSpec):
    """One corpus of a cross-corpus recipe (``corpora.NAME``): a corpus source as ``corpus``, its class map
    (label -> merged class, or ``drop``; :func:`voxpop.merge.merge_corpora`) and its feature normalisation.

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
    ratio before extraction (:class:`voxpop.audio.AudioOptions`; new audio is predicted without noise)."""

    extractor: str = "opensmile:eGeMAPSv02"
    options: dict[str, Any] = {}
    max_seconds: float | None = pydantic.Field(None, gt=0)
    noise_dir: str | None = None
    snr_db: float | None = None
    store: str | None = None

    @pydantic.model_validator(mode="after")
    def _noise_with_snr(self) -> FeatureSpec:
        if (self.noise_dir is None) != (self.snr_db is None):
            raise ValueError("noise_dir and snr_db go together: give both to add noise, or neither")
        return self


class Optimiser(Strict):
    """AdamW settings and the learning-rate schedule (see :class:`voxpop.training.TrainConfig`)."""

    lr: float = pydantic.Field(1e-3, gt=0)
    backbone_lr: float | None = pydantic.Field(None, gt=0)
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = pydantic.Field(0.01, ge=0)
    schedule: Schedule = "constant"
    warmup_steps: int = pydantic.Field(0, ge=0)
    warmup_ratio: float = pydantic.Field(0.0, ge=0, lt=1)


class EarlyStopping(Strict):
    """Stop after ``patience`` epochs without improvement of ``monitor`` on the dev items."""

    monitor: Monitor = "loss"
    patience: int = pydantic.Field(5, ge=1)


class ModelConfig(Strict):
    """The head, its loss and optimisation (``early_stopping: null`` trains every epoch).

    ``backbone`` fine-tunes a self-supervised backbone end to end under the head (features must then be
    the ``waveform`` extractor's raw audio). ``accumulate_grad_batches``, ``precision``, ``devices``,
    ``num_nodes`` and ``strategy`` go to Lightning (docs/fine-tuning.md).
    """

    head: str = "mlp"
    head_options: dict[str, Any] = {}
    loss: str = "ce"
    loss_options: dict[str, Any] = {}
    optimiser: Optimiser = Optimiser()
    epochs: int = pydantic.Field(20, ge=1)
    batch_size: int = pydantic.Field(32, ge=1)
    early_stopping: EarlyStopping | None = EarlyStopping()
    balanced_sampling: bool = False
    standardize: bool = True
    seed: int = 0
    backbone: BackboneConfig | None = None
    accumulate_grad_batches: int = pydantic.Field(1, ge=1)
    precision: Literal["auto", "32-true", "bf16-mixed", "16-mixed"] = "auto"
    devices: int | str | list[int] = "auto"
    num_nodes: int = pydantic.Field(1, ge=1)
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

    @pydantic.model_validator(mode="after")
    def _valid_training(self) -> ModelConfig:
        try:
            self.spec()
        except pydantic.ValidationError as exc:  # e.g. warmup_steps with warmup_ratio
            raise ValueError("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None
        return self

    def spec(self) -> ModelSpec:
        """The :class:`voxpop.runs.ModelSpec` (training progress bars off: the runner shows its own)."""
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
            **self.model_dump(include={"accumulate_grad_batches", "precision", "devices", "num_nodes", "strategy"}),
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

    k: int = pydantic.Field(5, ge=2)
    column: str = "speaker"
    dev: bool = True
    seed: int = 0
    assignment: Literal["round-robin", "group-kfold"] = "round-robin"


class SplitColumns(Strict):
    """Predefined splits: one fold per column whose values name train / dev / test."""

    columns: list[str] = ["split"]
    train: str = "Train"
    dev: str = "Development"
    test: str = "Test"


class LeaveOneOut(Strict):
    """One fold per value of an item column (speaker, corpus ...)."""

    column: str = "speaker"


class CrossCorpus(Strict):
    """Train on the ``train`` corpora's items, test on the ``test`` corpora's (one fold; names of ``corpora``).

    ``classes``: ``shared`` trains and tests on the classes every corpus has (after its class map);
    ``train`` trains on the training corpora's classes and maps the predictions onto each test corpus's
    classes (:func:`voxpop.crosscorpus.map_prediction_classes`; a training class the test corpus lacks
    is dropped and the rest renormalised). ``dev``: share of the training corpora's speakers held out as
    development items (early stopping of neural heads; 0: none), drawn with ``seed``.
    """

    train: list[str] = pydantic.Field(min_length=1)
    test: list[str] = pydantic.Field(min_length=1)
    classes: Literal["shared", "train"] = "shared"
    dev: float = pydantic.Field(0.0, ge=0, lt=1)
    seed: int = 0

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
        """Protocol name and options of :func:`voxpop.protocols.make_folds`."""
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
    """

    bootstrap: int = pydantic.Field(1000, ge=0)
    seed: int = 0
    cross_test: bool = True
    metrics: list[str] = ["macro_f1", "uar", "kld", "jsd"]
    per_class: bool = False
    by: str | None = None
    binarize: Literal["auto", "uniform", "argmax"] | float = "auto"
    tie_policy: Literal["drop", "first", "random"] = "drop"

    @pydantic.field_validator("metrics")
    @classmethod
    def _known_metrics(cls, metrics: list[str]) -> list[str]:
        known = list(dict.fromkeys([*SINGLE_LABEL_METRICS, *MULTI_LABEL_METRICS, "kld", "jsd"]))
        unknown = [m for m in metrics if m not in known]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; choose from {', '.join(known)}")
        return metrics


class AgreementAnalysis(Strict):
    """Agreement table (:func:`voxpop.agreement.agreement_table`): alpha per emotion / subset, Pearson r, ICC,
    Fleiss' kappa (``fleiss``: pooled or gwet)."""

    slot: str | None = None
    level: Literal["nominal", "ordinal", "interval", "ratio"] | None = None
    condition: str | None = None
    by: str | None = None
    pearson: bool = False
    icc: bool = False
    fleiss: Literal["pooled", "gwet"] = "pooled"
    bootstrap: int = pydantic.Field(0, ge=0)
    seed: int = 0


class AccountingAnalysis(Strict):
    """Data and rating loss of label rules per condition and pooled (:func:`voxpop.labels.accounting_table`)."""

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
    n_draws: int = pydantic.Field(1000, ge=0)
    seed: int = 0
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
        if where:  # the grammar now; the columns when the corpus is loaded (voxpop.study.prepare_corpus)
            try:
                ItemFilter.parse(where)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return where


# ====================================================================== loading, overrides, grid
def _key_path(loc: Sequence[object]) -> str:
    """``("model", "optimiser", "lr")`` -> ``model.optimiser.lr``; list positions as ``[i]``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not re.fullmatch(r"[a-z_]+\[.*\]|function-.*|literal\[.*\]|float|int|str|bool", str(part)):
            text += f".{part}" if text else str(part)
    return text


def _allowed_keys(model: type[pydantic.BaseModel], loc: Sequence[object]) -> list[str]:
    """The keys the section at ``loc`` (the unknown key's parent) accepts, following the schema.

    Names of free mappings (label set names) and list positions are stepped over.
    """
    current: Any = model
    for part in loc[:-1]:
        fields = getattr(current, "model_fields", {})
        if part in fields:
            current = _submodel(fields[part].annotation)
    return list(getattr(current, "model_fields", {}))


def _submodel(annotation: Any) -> Any:
    """The pydantic model inside ``X | None`` or ``dict[str, X]`` (else the annotation itself)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _submodel(arg)
        if isinstance(found, type) and issubclass(found, pydantic.BaseModel):
            return found
    return annotation


def problems_of(error: pydantic.ValidationError, prefix: str = "") -> list[str]:
    """One line per validation problem, each starting with the key path."""
    lines = []
    for e in error.errors():
        path = _key_path(e["loc"])
        path = f"{prefix}.{path}" if prefix and path else prefix or path
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(Recipe, e["loc"])
            hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
            lines.append(f"{path}: unknown key{hint}")
        elif e["type"] == "missing":
            lines.append(f"{path}: required key is missing")
        else:
            lines.append(f"{path}: {e['msg'].removeprefix('Value error, ')}")
    return list(dict.fromkeys(lines))


def recipe_error(problems: Sequence[str], source: str) -> ConfigError:
    """One error listing every problem of a recipe."""
    noun = "problem" if len(problems) == 1 else "problems"
    return ConfigError(
        f"recipe {source} is invalid ({len(problems)} {noun}):\n" + "\n".join(f"  - {p}" for p in problems)
    )


def parse_override(text: str) -> tuple[list[str], Any]:
    """``key.path=value`` as (path parts, YAML value); ``grid.`` keeps the rest of the path as one key.

    >>> parse_override("model.epochs=3")
    (['model', 'epochs'], 3)
    >>> parse_override("grid.model.loss=[ce, cbce]")
    (['grid', 'model.loss'], ['ce', 'cbce'])
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: expected KEY.PATH=VALUE, e.g. --set model.epochs=3")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r}: the value is not valid YAML ({exc})") from None
    parts = key.split(".")
    if parts[0] == "grid" and len(parts) > 1:
        parts = ["grid", ".".join(parts[1:])]
    return parts, parsed


def set_path(data: dict, parts: Sequence[str], value: Any, what: str) -> None:
    """Set ``data[p0][p1]... = value`` in nested dicts, creating missing sections."""
    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{what}: {'.'.join(parts[: depth + 1])} is {child!r}, not a section with keys")
        node = child
    node[parts[-1]] = value


def load_recipe(path: str | Path, overrides: Sequence[str] = ()) -> Recipe:
    """Read a recipe YAML file, apply ``key.path=value`` overrides and validate it (every problem at once)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: recipe not found")
    try:
        data = parse_yaml(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a recipe is a mapping of keys (study, corpus, labels ...), got {type(data).__name__}"
        )
    for text in overrides:
        parts, value = parse_override(text)
        set_path(data, parts, value, f"--set {text}")
    return recipe_from_dict(data, str(path))


def recipe_from_dict(data: Mapping[str, Any], source: str = "(dict)") -> Recipe:
    """Validate a recipe given as a mapping; the grid's keys and values are checked too."""
    try:
        recipe = Recipe.model_validate(data)
    except pydantic.ValidationError as exc:
        raise recipe_error(problems_of(exc), source) from None
    problems = []
    named = {name: dict(_flatten(values)) for name, values in recipe.variants.items()}
    keys = [(f"grid.{k}", k) for k in recipe.grid] + [(f"variants.{n}.{k}", k) for n, v in named.items() for k in v]
    for where, key in keys:
        if key.split(".")[0] not in GRID_SECTIONS:
            problems.append(f"{where}: only keys under {', '.join(GRID_SECTIONS)} can vary in a study")
    problems += [f"grid.{key}: give at least one value" for key, values in recipe.grid.items() if not values]
    base = recipe.model_dump(mode="json", exclude={"grid", "variants"})
    changes = [
        (f"grid.{k}[{i}] ({_label(v)})", {k: v}) for k, values in recipe.grid.items() for i, v in enumerate(values)
    ]
    changes += [(f"variants.{name}", values) for name, values in named.items()]
    for where, values in changes if not problems else ():
        try:
            Recipe.model_validate(_with_values(base, values))
        except pydantic.ValidationError as exc:
            problems += [f"{where}: {p}" for p in problems_of(exc)]
    if problems:
        raise recipe_error(problems, source)
    expand_variants(recipe, source)  # combinations of valid values must be valid too
    return recipe


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaves of nested sections as (dotted key path, value); empty sections are leaves."""
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, path)
        else:
            yield path, value


def _with_values(base: Mapping[str, Any], values: Mapping[str, Any]) -> dict:
    """A deep copy of plain recipe data with ``values`` set at their dotted key paths."""
    data = yaml.safe_load(yaml.safe_dump(dict(base)))
    for key, value in values.items():
        set_path(data, key.split("."), value, f"grid.{key}")
    return data


def _label(value: Any) -> str:
    return str(value) if not isinstance(value, dict | list) else yaml.safe_dump(value, default_flow_style=True).strip()


def expand_variants(recipe: Recipe, source: str = "recipe") -> list[tuple[str, Recipe]]:
    """Every named variant (``variants``) times every combination of the grid's values, as (name, recipe).

    A named variant sets several keys together (e.g. features and head); the grid varies keys
    independently. Names join the variant name and ``last key part=value`` of each grid key, e.g.
    ``smile-svm, loss=cbce``; without either: ``[("base", recipe)]``.
    """
    base = recipe.model_dump(mode="json", exclude={"grid", "variants"})
    named = {name: dict(_flatten(values)) for name, values in recipe.variants.items()} or {"": {}}
    keys = list(recipe.grid)
    out, problems = [], []
    for (variant, values), combination in itertools.product(named.items(), itertools.product(*recipe.grid.values())):
        settings = {**values, **dict(zip(keys, combination, strict=True))}
        parts = [variant] if variant else []
        parts += [f"{k.split('.')[-1]}={_label(v)}" for k, v in zip(keys, combination, strict=True)]
        name = ", ".join(parts) or "base"
        try:
            out.append((name, Recipe.model_validate(_with_values(base, settings))))
        except pydantic.ValidationError as exc:
            problems += [f"variant ({name}): {p}" for p in problems_of(exc)]
    if problems:
        raise recipe_error(list(dict.fromkeys(problems)), source)
    return out


# ====================================================================== checks against the corpus
def _check_label_set(
    corpus: Corpus, recipe: Recipe, path: str, spec: LabelSpec, problems: list[str]
) -> LabelSet | None:
    """Build one label set on the corpus (the pre-flight check); its problems go to ``problems``.

    Returns the label set, which the runner reuses (None when it failed or waits for ``threshold: best``).
    """
    if spec.rule == FILE_RULE:
        try:
            return LabelSet.load(spec.path)
        except VoxpopError as exc:
            problems.append(f"{path}.path: {exc}")
            return None
    needs = spec.definition.rater_ids_reason(spec.rule_options())
    if needs and not corpus.has_rater_ids:
        try:
            corpus.require_rater_ids(needs)
        except VoxpopError as exc:
            problems.append(f"{path}: {exc}")
        return None
    best = spec.rule_options().get("threshold") == "best"
    if best and recipe.analyses.threshold_sweep is None:
        problems.append(f"{path}.threshold: 'best' needs analyses.threshold_sweep (the sweep chooses it)")
        return None
    try:
        labels = make_labels(corpus, spec.rule, classes=recipe.classes, class_map=recipe.class_map, **spec.options(0.5))
    except VoxpopError as exc:
        problems.append(f"{path}: {exc}")
        return None
    return None if best else labels


def _check_column(corpus: Corpus, path: str, column: str | None, problems: list[str]) -> None:
    if column is not None and column not in corpus.items.columns:
        problems.append(f"{path}: item column {column!r} not found; item columns: {', '.join(corpus.items.columns)}")


def _check_analyses(corpus: Corpus, recipe: Recipe, problems: list[str]) -> None:
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
    if a.fusion is not None:
        for name, file in a.fusion.predictions.items():
            if not Path(file).is_file():
                problems.append(f"analyses.fusion.predictions.{name}: file {file} not found")
        if a.fusion.predictions and a.fusion.tune_on == "dev":
            problems.append(
                f"analyses.fusion.tune_on: imported predictions ({', '.join(a.fusion.predictions)}) have no "
                "development outputs to choose weights on; set analyses.fusion.tune_on: other_folds"
            )


def _check_tuning_dev(a: Analyses, folds: list[Fold], where: str, problems: list[str]) -> None:
    """Tuning on each fold's own development items needs every fold to have some."""
    without = [f.name for f in folds if not len(f.dev)]
    for key, analysis in (("fusion", a.fusion), ("tuned_decisions", a.tuned_decisions)):
        if analysis is not None and analysis.tune_on == "dev" and without:
            problems.append(
                f"analyses.{key}.tune_on{where}: folds {without[:5]} have no development items to tune on; "
                f"use a protocol with development folds or set analyses.{key}.tune_on: other_folds"
            )


def check_recipe(recipe: Recipe, corpus: Corpus, source: str = "recipe") -> dict[tuple[str, str], LabelSet]:
    """Check a recipe against the corpus it names, before any work: every problem, each with its key path.

    Checks the class set and class map, each label set (rule options, conditions, rater ids, by
    building it on the corpus), item columns of the protocol and analyses, extractor names and
    options, model head / loss combinations and the analyses' references to label sets. Returns the
    label sets it built, by (``train`` / ``test``, name), so the runner computes none twice (those
    with ``threshold: best`` wait for the sweep).
    """
    problems: list[str] = []
    known = corpus.classes + corpus.excluded
    bad_map = [k for k in recipe.class_map if k not in known]
    if bad_map:
        problems.append(f"class_map: {bad_map} are not labels of corpus {corpus.name!r} ({', '.join(known)})")
    mapped = list(dict.fromkeys(recipe.class_map.get(c, c) for c in corpus.classes))
    if recipe.classes is not None:
        bad = [c for c in recipe.classes if c not in mapped]
        if bad:
            problems.append(
                f"classes: {bad} are not classes of corpus {corpus.name!r} (after the class map: {', '.join(mapped)})"
            )
    if recipe.labels.train and not recipe.labels.test:
        problems.append("labels.test: give at least one test label set to score the models on")
    rules = {f"labels.{p}.{n}": s.rule for p in ("train", "test") for n, s in getattr(recipe.labels, p).items()}
    segmented = [path for path, rule in rules.items() if rule == "intervals"]
    if segmented and len(segmented) < len(rules):
        problems.append(
            f"labels: {', '.join(segmented)} use rule 'intervals' (their items are segments of the recordings) but "
            f"{', '.join(p for p in rules if p not in segmented)} label the recordings; models see one kind of item, "
            "so use rule 'intervals' (with levels) for every label set, or for none"
        )
    # segment items carry their recording's columns and 'recording' (see voxpop.segments.segment_corpus)
    fold_items = corpus.items.assign(recording=corpus.items.index) if segmented else corpus.items
    built: dict[tuple[str, str], LabelSet] = {}
    if not problems:
        for part in ("train", "test"):
            for name, spec in getattr(recipe.labels, part).items():
                overrides = {c: e.labels[name] for c, e in recipe.corpora.items() if name in e.labels}
                if not overrides:
                    labels = _check_label_set(corpus, recipe, f"labels.{part}.{name}", spec, problems)
                    if labels is not None:
                        built[part, name] = labels
                    continue
                own = corpus.items["corpus"].isin(list(overrides))
                rest = corpus.subset(corpus.items.index[~own.to_numpy(dtype=bool)])
                if len(rest.items):
                    _check_label_set(rest, recipe, f"labels.{part}.{name}", spec, problems)
                for c, override in overrides.items():
                    items = corpus.subset(corpus.items.index[corpus.items["corpus"].eq(c).to_numpy(dtype=bool)])
                    _check_label_set(items, recipe, f"corpora.{c}.labels.{name}", override, problems)
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
    if recipe.labels.train and "audio" not in corpus.items.columns:
        what = "the segments of rule 'intervals' are windows of the recordings' audio; " if segmented else ""
        problems.append(
            f"labels.train: training needs features, but corpus {corpus.name!r} has no 'audio' item column; "
            f"{what}import it with its audio folder, or set labels.train={{}} for label sets and analyses only"
        )
    for name, variant in expand_variants(recipe, source):
        where = "" if name == "base" else f" (grid {name})"
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
            try:
                folds = variant.protocol.folds(fold_items)
            except VoxpopError as exc:
                problems.append(f"protocol{where}: {exc}")
            else:
                _check_tuning_dev(recipe.analyses, folds, where, problems)
            spec = variant.model
            if spec.head in CLASSICAL and (spec.loss != "ce" or spec.loss_options):
                problems.append(
                    f"model.loss{where}: classical head {spec.head!r} fits soft targets by sample weights; "
                    f"use loss ce (got {spec.loss!r})"
                )
            multilabel_loss = LOSSES[spec.loss].multilabel
            for label_name, label_spec in recipe.labels.train.items():
                if multilabel_rule(label_spec) and not (multilabel_loss and spec.head not in CLASSICAL):
                    problems.append(
                        f"labels.train.{label_name}{where}: rule {label_spec.rule!r} gives multi-hot targets; "
                        f"train it with a sigmoid loss (bce, wbce) and a neural head, not "
                        f"{spec.head}/{spec.loss}"
                    )
    _check_analyses(corpus, recipe, problems)
    if problems:
        raise recipe_error(list(dict.fromkeys(problems)), source)
    return built


def multilabel_rule(spec: LabelSpec) -> bool:
    """Whether a label set gives multi-hot targets (the registry's ``multilabel``: AR test form, binarised
    Likert, PR keeping tied classes).

    >>> multilabel_rule(LabelSpec(rule="ar-test")), multilabel_rule(LabelSpec(rule="ar"))
    (True, False)
    """
    if spec.rule == FILE_RULE:
        return LabelSet.load(spec.path).multilabel
    return spec.definition.is_multilabel(spec.rule_options())
