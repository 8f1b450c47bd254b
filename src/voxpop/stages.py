"""The stages of a study: each kind's computation and the loader of its outputs.

:class:`~voxpop.cache.Stage` and :class:`~voxpop.cache.Cache` (in :mod:`voxpop.cache`, re-exported here)
run each stage once and reuse its checked outputs; an unfinished train stage resumes its finished
folds (:func:`voxpop.runs.cross_validate`).

Every ``compute_*`` function reads its inputs' loaded outputs, writes its files into the stage
directory and returns nothing; the matching ``load_*`` function reads them back. :data:`KINDS` is the
registry ``{kind: Kind(compute, load, resources)}`` that :class:`voxpop.execution.StageRunner` runs, in
this process or as Dask tasks (:mod:`voxpop.scheduler`); a new stage kind is one entry there.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxpop import agreement
from voxpop import dimensional_study as dimensional
from voxpop.analysis import average_probabilities, compare_easy_difficult, easy_difficult_items
from voxpop.audio import AudioOptions
from voxpop.cache import Cache as Cache  # re-exported: the cache and stages were defined here
from voxpop.cache import Stage as Stage
from voxpop.cache import atomic_write, parse_json, write_text
from voxpop.chance import chance_levels
from voxpop.corpus import Corpus
from voxpop.crosscorpus import concat_label_sets, normalisation_groups, normalise_by_group, onto_test_classes
from voxpop.errors import ConfigError
from voxpop.evaluation import evaluate_pooled
from voxpop.experiment import FILE_RULE
from voxpop.features import Extractor, Features, FeatureStore, extract, fill_store, make_extractor
from voxpop.labels import accounting_table, make_labels
from voxpop.labelset import LabelSet
from voxpop.metrics import confusion_matrix, resample_groups, top_class
from voxpop.model_spec import ModelSpec
from voxpop.predictions import Predictions, binarize_predictions, load_predictions, predicted_classes, save_predictions
from voxpop.protocols import make_folds
from voxpop.runs import cross_validate
from voxpop.segments import union_segment_corpus
from voxpop.tuning import fusion_per_fold, tuned_per_fold

Progress = Callable[[int, int], None]
EVALUATION_FORMAT = 2
"""Layout of an evaluation's ``metrics.parquet``, part of the evaluate stage's key (2: fold_mean, fold_sd, n_folds)."""


def _write_table(table: pd.DataFrame, path: Path) -> None:
    atomic_write(path, table.to_parquet)


# ====================================================================== outputs
@dataclasses.dataclass
class Trained:
    """A model source: pooled out-of-fold predictions (class columns + ``fold``) and what training left.

    ``histories`` (fold, epoch rows), ``layer_weights`` (folds x layers) and ``folds`` (sizes and dropped
    items per fold) are empty / None for derived sources (ensemble, fusion, tuned decisions);
    ``details`` holds a derived source's weights, offsets or thresholds per fold; ``binarize`` is how
    multi-label test sets binarise its scores; ``dev_predictions`` (class columns + ``fold``) are each
    fold model's outputs on its own development items, kept when a tuning analysis needs them.
    """

    predictions: pd.DataFrame
    multilabel: bool
    histories: pd.DataFrame | None = None
    layer_weights: pd.DataFrame | None = None
    folds: pd.DataFrame | None = None
    details: pd.DataFrame | None = None
    binarize: str | float | None = None
    dev_predictions: pd.DataFrame | None = None

    @property
    def probabilities(self) -> pd.DataFrame:
        return self.predictions.drop(columns="fold", errors="ignore")


def _save_trained(trained: Trained, directory: Path) -> None:
    save_predictions(Predictions(trained.predictions, trained.multilabel), directory / "predictions.parquet")
    if trained.dev_predictions is not None:
        path = directory / "dev_predictions.parquet"
        save_predictions(Predictions(trained.dev_predictions, trained.multilabel), path)
    for name in ("histories", "layer_weights", "folds", "details"):
        table = getattr(trained, name)
        if table is not None:
            _write_table(table, directory / f"{name}.parquet")
    write_text(
        directory / "source.json", json.dumps({"multilabel": trained.multilabel, "binarize": trained.binarize})
    )


def load_trained(directory: Path) -> Trained:
    info = parse_json((directory / "source.json").read_text())
    tables = {
        name: pd.read_parquet(directory / f"{name}.parquet") if (directory / f"{name}.parquet").is_file() else None
        for name in ("histories", "layer_weights", "folds", "details")
    }
    dev = directory / "dev_predictions.parquet"
    return Trained(
        load_predictions(directory / "predictions.parquet").table,
        info["multilabel"],
        **tables,
        binarize=info["binarize"],
        dev_predictions=load_predictions(dev).table if dev.is_file() else None,
    )


# ====================================================================== corpus, labels, features
def compute_corpus(
    config: Mapping[str, Any], directory: Path, progress: Progress | None = None, map_function: Callable = map
) -> None:
    """Build the demo corpus (its clips synthesised through ``map_function``, see
    :func:`voxpop.demo.make_demo_corpus`) or import a native format into ``directory/corpus``."""
    if "demo" in config:
        from voxpop.demo import make_demo_corpus

        demo = config["demo"]
        make_demo_corpus(
            directory / "demo", demo["size"], seed=demo["seed"], progress=progress, map_function=map_function
        )
        return
    from voxpop.formats import read

    read(config["format"], **config["arguments"]).save(directory / "corpus")


def load_corpus(directory: Path) -> Corpus:
    return Corpus.load(directory / "demo" / "corpus" if (directory / "demo").is_dir() else directory / "corpus")


def compute_labels(
    corpus: Corpus, config: Mapping[str, Any], directory: Path, best: float | None = None, built: LabelSet | None = None
) -> None:
    """A label set of ``config["spec"]`` on the corpus (``threshold: best`` from the sweep's ``best``);
    ``built``: the same label set built by the pre-flight check, saved instead of computed again.

    ``config["overrides"]`` (merged corpora: corpus name -> spec) labels each corpus's items apart, that
    corpus's with its own spec and the others with ``spec``; the parts are joined in the corpora's order
    (:func:`voxpop.crosscorpus.concat_label_sets`).
    """
    overrides = config.get("overrides") or {}
    if built is not None and not overrides:
        labels = built
    elif not overrides:
        labels = _make_labels(corpus, config["spec"], config, best)
    else:
        own = corpus.items["corpus"].astype(str)
        parts = {
            name: _make_labels(
                corpus.subset(corpus.items.index[own.eq(name).to_numpy()]), overrides.get(name, config["spec"]),
                config, best,
            )
            for name in pd.unique(own)
        }  # fmt: skip
        labels = concat_label_sets(parts)
    labels.save(directory / "labels.parquet")


def _make_labels(corpus: Corpus, spec: Mapping[str, Any], config: Mapping[str, Any], best: float | None) -> LabelSet:
    spec = dict(spec)
    rule = spec.pop("rule")
    if rule == FILE_RULE:
        return LabelSet.load(spec["path"])
    if spec.get("threshold") == "best":
        if best is None or np.isnan(best):
            raise ConfigError("threshold 'best': the threshold sweep found no threshold with a defined mean kappa")
        spec["threshold"] = best
    return make_labels(corpus, rule, classes=config["classes"], class_map=config["class_map"], **spec)


def load_labels(directory: Path) -> LabelSet:
    return LabelSet.load(directory / "labels.parquet")


def compute_segments(corpus: Corpus, labelsets: list[LabelSet], directory: Path) -> None:
    """The corpus of the union of interval label sets' segments (:func:`voxpop.segments.union_segment_corpus`)."""
    union_segment_corpus(corpus, labelsets).save(directory / "corpus")


def compute_features(
    corpus: Corpus, config: Mapping[str, Any], directory: Path, store: Path, progress: Progress | None = None
) -> None:
    """Fill the feature store (resumable shard by shard) and record the store entry's path; with
    ``config["normalisation"]`` (corpus name -> global / corpus / speaker) also each item's normalisation
    group, by which :func:`load_features` z-scores (:func:`voxpop.crosscorpus.normalise_by_group`)."""
    extractor, audio = _extraction(config)
    features = extract(corpus, extractor, store, audio=audio, progress=progress)
    if config.get("normalisation"):  # cross-corpus: z-scores per corpus or speaker, applied when loading
        if features.kind == "frames":
            raise ConfigError(
                "corpora normalisation corpus / speaker z-scores vector or per-layer features, not frames; "
                "use a pooled extractor or normalisation: global"
            )
        groups = normalisation_groups(corpus.items, config["normalisation"]).reindex(features.items)
        _write_table(groups.rename("group").to_frame(), directory / "normalisation.parquet")
    skipped = features.skipped["reason"].value_counts().to_dict() if len(features.skipped) else {}
    info = {
        "path": str(Path(features.path).resolve()),
        "items": len(features.items),
        "skipped": skipped,
        "kind": features.kind,
        "extractor": extractor.describe(),
    }
    write_text(directory / "features.json", json.dumps(info, indent=1))


def _extraction(config: Mapping[str, Any], in_process: bool = False) -> tuple[Extractor, AudioOptions]:
    """The extractor and audio options of a features stage; ``in_process`` drops its process pool (``workers``
    is speed-only: the numbers are the same)."""
    extractor = make_extractor(config["extractor"], **config["options"])
    if in_process:
        extractor.workers = 1
    noise = {k: config[k] for k in ("noise_dir", "snr_db") if k in config}
    return extractor, AudioOptions(sample_rate=extractor.sample_rate, max_seconds=config["max_seconds"], **noise)


def extract_shard(corpus: Corpus, config: Mapping[str, Any], store: Path, shard: tuple[int, int]) -> None:
    """Compute shard ``(I, N)`` of a features stage's store entry in this process (no process pool inside:
    the scheduler runs the N shards as tasks; :func:`voxpop.features.fill_store` commits each atomically)."""
    extractor, audio = _extraction(config, in_process=True)
    fill_store(corpus, extractor, store, audio=audio, shard=shard)


def load_features(directory: Path) -> Features:
    info = parse_json((directory / "features.json").read_text())
    if not Path(info["path"]).is_dir():
        raise ConfigError(
            f"feature store entry {info['path']} (recorded in {directory}) is gone; delete {directory} to extract again"
        )
    features = FeatureStore(Path(info["path"])).features()
    if (directory / "normalisation.parquet").is_file():
        groups = pd.read_parquet(directory / "normalisation.parquet")["group"].reindex(features.items)
        features = dataclasses.replace(features, values=normalise_by_group(features.values, groups))
    return features


# ====================================================================== models and derived sources
def compute_train(
    features: Features,
    labels: LabelSet,
    folds,
    spec: ModelSpec,
    directory: Path,
    progress: Progress | None = None,
    dev_predictions: bool = False,
) -> None:
    """Cross-validate (fold models saved under ``directory/folds``; finished folds are resumed); with
    ``dev_predictions`` each fold model also predicts its own dev items (:func:`voxpop.runs.cross_validate`)."""
    cv = cross_validate(
        features, labels, folds, spec, out_dir=directory, progress=progress, dev_predictions=dev_predictions
    )
    histories = pd.concat([h.assign(fold=name) for name, h in cv.histories.items()], ignore_index=True)
    folds_table = cv.sizes.join(cv.dropped)
    trained = Trained(cv.predictions, cv.multilabel, histories, cv.layer_weights, folds_table)
    _save_trained(dataclasses.replace(trained, dev_predictions=cv.dev_predictions), directory)


def compute_ensemble(sources: Mapping[str, Trained], directory: Path) -> None:
    """Average the class scores of several sources: p(c) = 1/M sum_m p_m(c), on items every source predicts.

    When the sources mix softmax and sigmoid outputs, each sigmoid row is first divided by its sum
    (a distribution over classes), so every model contributes a distribution and the ensemble is one.
    """
    mixed = len({s.multilabel for s in sources.values()}) > 1
    tables = {
        name: s.probabilities.div(s.probabilities.sum(axis=1), axis=0) if mixed and s.multilabel else s.probabilities
        for name, s in sources.items()
    }
    first = next(iter(sources.values()))
    averaged = average_probabilities(tables)
    averaged["fold"] = first.predictions["fold"].reindex(averaged.index).to_numpy()
    _save_trained(Trained(averaged, first.multilabel and not mixed), directory)


def compute_fusion(
    sources: Mapping[str, Trained | pd.DataFrame],
    labels: LabelSet,
    n_draws: int,
    seed: int,
    directory: Path,
    tune_on: str = "dev",
) -> None:
    """Dirichlet late fusion per fold (:func:`voxpop.tuning.fusion_per_fold`) of trained sources and imported
    prediction tables (which have no development predictions)."""
    tables = {name: s.predictions if isinstance(s, Trained) else s for name, s in sources.items()}
    dev = {name: s.dev_predictions if isinstance(s, Trained) else None for name, s in sources.items()}
    table, weights = fusion_per_fold(tables, dev, labels, n_draws, seed, tune_on)
    _save_trained(Trained(table, False, details=weights), directory)


def compute_tuned(source: Trained, labels: LabelSet, directory: Path, tune_on: str = "dev") -> None:
    """Decisions tuned per fold (:func:`voxpop.tuning.tuned_per_fold`); sigmoid outputs are then binarised at
    0.5."""
    table, detail = tuned_per_fold(source.predictions, source.dev_predictions, source.multilabel, labels, tune_on)
    _save_trained(
        Trained(table, source.multilabel, details=detail, binarize=0.5 if source.multilabel else None), directory
    )


# ====================================================================== evaluation
def compute_evaluation(
    source: Trained,
    labels: LabelSet,
    corpus: Corpus,
    config: Mapping[str, Any],
    directory: Path,
    train: LabelSet | None = None,
) -> None:
    """Metrics with bootstrap intervals on the whole test set (group ``all``) and per item group (``by``).

    Each group is its own test set: macro averages over the classes present in it (``absent_classes``
    names the others) and bootstrap resamples drawn from it; tied distribution targets are scored by
    ``config["tie_policy"]`` (:func:`voxpop.evaluation.evaluate_pooled`: the pooled score with the per-fold
    mean and standard deviation beside it). With ``config["corpus_classes"]``
    (test corpus -> its classes) group ``corpus=B`` is scored on B's classes
    (:func:`voxpop.crosscorpus.onto_test_classes`), other groups on the label set's classes. Column
    ``chance`` holds each metric's chance level on the same scored items (:func:`voxpop.chance.chance_levels`;
    KLD / JSD against the ``train`` label set's mean distribution). ``config["resample"]`` (absent:
    ``items``) ``speakers`` resamples the items' speakers (:func:`voxpop.metrics.resample_groups`)."""
    binarize = source.binarize if source.binarize is not None else config["binarize"]
    speakers = resample_groups(corpus.items, config.get("resample", "items"))
    corpus_classes = config.get("corpus_classes")
    tables = []
    for group, items in agreement.item_groups(corpus.items, config["by"]):
        predictions = source.predictions[source.predictions.index.isin(items)]  # with "fold": per-fold scores
        if predictions.empty and group != "all":  # a group no fold tests (the training corpora of cross_corpus)
            continue
        scored_labels = labels
        if corpus_classes is not None:  # cross-corpus, trained on the training corpora's classes
            classes = corpus_classes.get(group, labels.classes)
            mapped, scored_labels = onto_test_classes(predictions, labels, classes, multilabel=source.multilabel)
            predictions = mapped.join(predictions[["fold"]]) if "fold" in predictions else mapped
        table = evaluate_pooled(
            predictions,
            scored_labels,
            n_boot=config["bootstrap"],
            seed=config["seed"],
            binarize=binarize,
            tie_policy=config["tie_policy"],
            speakers=speakers,
        )
        kept = scored_labels.kept.reindex(predictions.index, fill_value=False).to_numpy(dtype=bool)
        prior = train if train is not None and train.classes == scored_labels.classes else None
        levels = chance_levels(predictions.index[kept], scored_labels, prior)
        tables.append(table.assign(group=group, chance=table["metric"].map(levels).astype(float)))
    _write_table(pd.concat(tables, ignore_index=True), directory / "metrics.parquet")


def load_table(directory: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(directory / f"{name}.parquet")


def scored(
    source: Trained, labels: LabelSet, binarize: object, tie_policy: str = "drop", seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(true, predicted) on the predicted items the test labels keep: multi-hot tables for multi-label test sets,
    one-column class tables (``label``) for single-label ones, whose true class is the target's top class
    with ties scored by ``tie_policy`` (:func:`voxpop.metrics.top_class`; ``drop`` leaves tied items out)."""
    probs = source.probabilities[labels.classes]
    probs = probs[labels.kept.reindex(probs.index, fill_value=False).to_numpy(dtype=bool)]
    targets = labels.targets.loc[probs.index, labels.classes]
    if labels.multilabel:
        rule = source.binarize if source.binarize is not None else binarize
        return (targets > 0).astype(int), binarize_predictions(probs, rule)
    codes, _ = top_class(targets.to_numpy(dtype=float), tie_policy, seed)
    probs, codes = probs[codes >= 0], codes[codes >= 0]
    names = np.asarray(labels.classes, dtype=object)
    true = pd.DataFrame({"label": names[codes]}, index=probs.index)
    return true, predicted_classes(probs).to_frame("label")


def compute_matrix(source: Trained, labels: LabelSet, config: Mapping[str, Any], directory: Path) -> None:
    """MLCM (multi-label test set) or confusion matrix (single-label), rows true, columns predicted;
    ``config`` holds ``binarize``, ``tie_policy`` and ``seed`` as the evaluation's."""
    true, pred = scored(source, labels, config["binarize"], config["tie_policy"], config["seed"])
    if labels.multilabel:
        matrix = agreement.mlcm(true, pred)
    else:
        matrix = confusion_matrix(true["label"], pred["label"], labels.classes)
    _write_table(matrix, directory / "matrix.parquet")


def compute_easy_difficult(
    sources: Mapping[str, Trained], labels: LabelSet, corpus: Corpus, columns: Mapping[str, str | None], directory: Path
) -> None:
    """Easy / difficult items of the single-label test set over every model source, and their comparison."""
    if labels.multilabel:
        raise ConfigError("easy_difficult needs a single-label test set (one class per item, e.g. rule mr)")
    pairs = {name: scored(source, labels, "auto") for name, source in sources.items()}
    truth = next(iter(pairs.values()))[0]["label"]
    predictions = {name: pred["label"] for name, (_, pred) in pairs.items()}
    common = truth.index
    for pred in predictions.values():
        common = common[common.isin(pred.index)]
    groups = easy_difficult_items(truth.loc[common], {n: p.loc[common] for n, p in predictions.items()})
    counts = labels.counts.loc[common]
    share = counts.max(axis=1) / counts.sum(axis=1).where(lambda n: n > 0)
    comparison = compare_easy_difficult(groups, corpus.items, share.astype(float), **columns)
    _write_table(groups.to_frame(), directory / "groups.parquet")
    _write_table(comparison.reset_index(names="attribute"), directory / "comparison.parquet")


# ====================================================================== analyses on the corpus and label sets
def compute_agreement(corpus: Corpus, config: Mapping[str, Any], directory: Path) -> None:
    spec = dict(config["spec"])
    table = agreement.agreement_table(corpus, n_boot=spec.pop("bootstrap"), **spec)
    _write_table(table, directory / "agreement.parquet")


def compute_accounting(corpus: Corpus, config: Mapping[str, Any], directory: Path) -> None:
    table = accounting_table(
        corpus,
        config["spec"]["rules"],
        classes=config["classes"],
        class_map=config["class_map"],
        tie_policy=config["spec"]["tie_policy"],
        denominator=config["spec"]["denominator"],
        pooling=config["spec"]["pooling"],
    )
    _write_table(table, directory / "accounting.parquet")


def compute_comparison(
    labelsets: Mapping[str, LabelSet], stat: str, directory: Path, n_boot: int = 0, seed: int = 0
) -> None:
    """Agreement between label sets (:func:`voxpop.agreement.compare_labelsets`, CCC with bootstrap intervals)."""
    table = agreement.compare_labelsets(labelsets, stat, n_boot=n_boot, seed=seed)
    _write_table(table, directory / "comparison.parquet")


def compute_sweep(corpus: Corpus, config: Mapping[str, Any], directory: Path) -> None:
    """Cohen's kappa per emotion and threshold between the intensity scores of two conditions, and the
    positive items per condition, emotion and threshold (over the items both conditions score)."""
    spec = config["spec"]
    emotions = spec["emotions"] or config["classes"] or corpus.classes
    a, b = (agreement.intensity_scores(corpus, emotions, condition) for condition in spec["conditions"])
    grid = agreement.threshold_grid(spec["grid"])
    sweep = agreement.threshold_sweep(a, b, grid)
    _write_table(sweep.curve, directory / "curve.parquet")
    positives = agreement.sweep_positives(dict(zip(spec["conditions"], (a, b), strict=True)), grid)
    _write_table(positives, directory / "positives.parquet")
    summary = {"best_threshold": sweep.best_threshold, "best_kappa": sweep.best_kappa, "items": sweep.items,
               "plateau": sweep.plateau, "left_out": sweep.left_out, "gaps": sweep.gaps}  # fmt: skip
    write_text(directory / "sweep.json", json.dumps(summary))


def load_sweep(directory: Path) -> tuple[pd.DataFrame, dict[str, float], pd.DataFrame]:
    """(kappa curve, summary, positive items: threshold, condition, emotion, positives)."""
    return load_table(directory, "curve"), parse_json((directory / "sweep.json").read_text()), load_table(
        directory, "positives"
    )


# ====================================================================== the registry of stage kinds
@dataclasses.dataclass(frozen=True)
class Context:
    """What a stage reads besides its inputs' outputs.

    ``corpus`` is the study's corpus (after ``where``), ``items`` the corpus of the items models see
    (``corpus``, or the segment corpus of interval label sets), ``store`` the feature store root,
    ``imported`` the prediction files fusion reads (name -> path), ``progress`` the step callback and
    ``built`` the label sets the pre-flight check built (by stage key), saved instead of computed again.
    """

    corpus: Corpus
    items: Corpus
    store: Path
    imported: Mapping[str, str] = dataclasses.field(default_factory=dict)
    progress: Progress | None = None
    built: Mapping[str, LabelSet] = dataclasses.field(default_factory=dict)


Compute = Callable[[Stage, list, Context, Path], None]


@dataclasses.dataclass(frozen=True)
class Kind:
    """A stage kind: ``compute(stage, inputs, context, directory)`` writes its outputs, ``load(directory)``
    reads them back; ``resources(config)`` names the Dask worker resources a stage needs (``{"GPU": 1}``);
    ``reads_items``: the computation reads ``context.items`` (the segment corpus, when the study has one)."""

    compute: Compute
    load: Callable[[Path], Any]
    resources: Callable[[Mapping[str, Any]], dict[str, int]] = lambda config: {}
    reads_items: bool = False


def _compute_train(stage: Stage, inputs: list, context: Context, directory: Path) -> None:
    c = stage.config
    name, options = c["protocol"]
    folds = make_folds(context.items.items, name, **options)
    spec = ModelSpec.model_validate(c["model"])
    compute_train(*inputs, folds, spec, directory, context.progress, dev_predictions=c["dev_predictions"])


def _compute_fusion(stage: Stage, inputs: list, context: Context, directory: Path) -> None:
    c = stage.config
    models: dict[str, Trained | pd.DataFrame] = dict(zip(c["variants"], inputs[:-1], strict=True))
    models.update({n: load_predictions(p).table for n, p in context.imported.items()})
    compute_fusion(models, inputs[-1], c["n_draws"], c["seed"], directory, c["tune_on"])


def _compute_easy_difficult(stage: Stage, inputs: list, context: Context, directory: Path) -> None:
    c = stage.config
    columns = {k: c[k] for k in ("speaker", "gender", "duration")}
    sources = dict(zip(c["sources"], inputs[:-1], strict=True))
    compute_easy_difficult(sources, inputs[-1], context.items, columns, directory)


def train_resources(config: Mapping[str, Any]) -> dict[str, int]:
    """``{"GPU": n}`` when the model's training asks for GPUs (``accelerator`` gpu / cuda; n = ``devices``
    when it is a number or a list, else 1), otherwise no resources."""
    train = config["model"].get("train", {})
    if str(train.get("accelerator", "auto")) not in ("gpu", "cuda"):
        return {}
    devices = train.get("devices", "auto")
    count = len(devices) if isinstance(devices, list) else devices if isinstance(devices, int) else 1
    return {"GPU": max(1, count)}


def features_resources(config: Mapping[str, Any]) -> dict[str, int]:
    """``{"GPU": 1}`` when the extractor runs on a CUDA device (option ``device``), otherwise none."""
    return {"GPU": 1} if str(config["options"].get("device", "cpu")).startswith("cuda") else {}


def _table(name: str) -> Callable[[Path], pd.DataFrame]:
    return functools.partial(load_table, name=name)


KINDS: dict[str, Kind] = {
    "labels": Kind(
        lambda s, i, c, d: compute_labels(
            c.corpus, s.config, d, i[0][1]["best_threshold"] if i else None, c.built.get(s.key)
        ),
        load_labels,
    ),
    "sweep": Kind(lambda s, i, c, d: compute_sweep(c.corpus, s.config, d), load_sweep),
    "segments": Kind(lambda s, i, c, d: compute_segments(c.corpus, i, d), load_corpus),
    "features": Kind(
        lambda s, i, c, d: compute_features(c.items, s.config, d, c.store, c.progress),
        load_features,
        features_resources,
        reads_items=True,
    ),
    "train": Kind(_compute_train, load_trained, train_resources, reads_items=True),
    "ensemble": Kind(
        lambda s, i, c, d: compute_ensemble({p.label: o for p, o in zip(s.inputs, i, strict=True)}, d), load_trained
    ),
    "fusion": Kind(_compute_fusion, load_trained),
    "tuned": Kind(lambda s, i, c, d: compute_tuned(*i, d, s.config["tune_on"]), load_trained),
    "evaluate": Kind(
        lambda s, i, c, d: compute_evaluation(i[0], i[1], c.items, s.config, d, train=i[2]),
        _table("metrics"),
        reads_items=True,
    ),
    "mlcm": Kind(lambda s, i, c, d: compute_matrix(*i, s.config, d), _table("matrix")),
    "confusion": Kind(lambda s, i, c, d: compute_matrix(*i, s.config, d), _table("matrix")),
    "agreement": Kind(lambda s, i, c, d: compute_agreement(c.corpus, s.config, d), _table("agreement")),
    "accounting": Kind(lambda s, i, c, d: compute_accounting(c.corpus, s.config, d), _table("accounting")),
    "ccc": Kind(
        lambda s, i, c, d: compute_comparison(
            dict(zip(s.config["sets"], i, strict=True)), s.config["stat"], d, s.config["bootstrap"], s.config["seed"]
        ),
        _table("comparison"),
    ),
    "easy_difficult": Kind(
        _compute_easy_difficult,
        lambda d: {"groups": load_table(d, "groups"), "comparison": load_table(d, "comparison")},
        reads_items=True,
    ),
    # dimensional studies (continuous label sets, regressors): voxpop.dimensional_study
    "continuous_labels": Kind(dimensional.compute_labels, dimensional.load_labels),
    "regress": Kind(dimensional.compute_regress, dimensional.load_regressed, train_resources, reads_items=True),
    "evaluate_dimensions": Kind(dimensional.compute_evaluation, dimensional.load_metrics, reads_items=True),
}
"""Every stage kind: its computation, its loader and the worker resources it needs."""


def kind_of(stage: Stage) -> Kind:
    """The registered :class:`Kind` of ``stage``; raises :class:`ConfigError` for an unknown kind."""
    try:
        return KINDS[stage.kind]
    except KeyError:
        raise ConfigError(f"internal: no stage kind {stage.kind!r}; known: {', '.join(KINDS)}") from None
