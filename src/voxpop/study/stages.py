"""The stages of a study: each kind's computation and the loader of its outputs.

:class:`~voxpop.core.cache.Stage` and :class:`~voxpop.core.cache.Cache` (in :mod:`voxpop.core.cache`, re-exported here)
run each stage once and reuse its checked outputs; an unfinished train stage resumes its finished
folds (:func:`voxpop.models.cross_validation.cross_validate`).

Every ``compute_*`` function reads its inputs' loaded outputs, writes its files into the stage
directory and returns nothing; the matching ``load_*`` function reads them back. :data:`KINDS` is the
registry ``{kind: Kind(compute, load, resources)}`` that :class:`voxpop.study.execution.StageRunner` runs, in
this process or as Dask tasks (:mod:`voxpop.study.scheduler`); a new stage kind is one entry there.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxpop.agreement import confusion, grouping, tables, threshold_sweep
from voxpop.core.cache import LOCATIONS, atomic_write, parse_json, write_text
from voxpop.core.cache import Cache as Cache  # re-exported: the cache and stages were defined here
from voxpop.core.cache import Stage as Stage
from voxpop.core.errors import ConfigError
from voxpop.corpus import Corpus
from voxpop.evaluation import confusion_matrix
from voxpop.evaluation.analysis import average_probabilities, compare_easy_difficult, easy_difficult_items
from voxpop.evaluation.partitions import partition_groups
from voxpop.evaluation.predictions import (
    Predictions,
    binarize_predictions,
    load_predictions,
    predicted_classes,
    save_predictions,
)
from voxpop.evaluation.resampling import resample_groups
from voxpop.evaluation.test_scores import score_test_set
from voxpop.evaluation.tuning import fusion_per_fold, tuned_per_fold
from voxpop.features import Extractor, Features, FeatureStore, fill_store, make_extractor
from voxpop.features.audio import AudioOptions
from voxpop.labels import ContinuousLabelSet, LabelSet, accounting_table, top_class
from voxpop.labels.label_sets import build_label_set, load_label_set
from voxpop.labels.rater_folds import rater_fold_ratings
from voxpop.labels.rater_votes import RaterVotes
from voxpop.labels.segments import union_segment_corpus
from voxpop.models import ModelSpec, cross_validate
from voxpop.models.crosscorpus import concat_label_sets, normalisation_groups, normalise_by_group, onto_test_classes
from voxpop.models.protocols import left_out_table, make_folds

Progress = Callable[[int, int], None]


EVALUATION_FORMAT = 2
"""Layout of an evaluation's ``metrics.parquet``, part of the evaluate stage's key (2: fold_mean, fold_sd, n_folds)."""


def _write_table(table: pd.DataFrame, path: Path) -> None:
    atomic_write(path, table.to_parquet)


# ====================================================================== outputs
@dataclasses.dataclass
class Trained:
    """A model source: pooled out-of-fold predictions (class or dimension columns + ``fold``) and what training left.

    ``histories`` (fold, epoch rows), ``layer_weights`` (folds x layers) and ``folds`` (sizes and dropped
    items per fold) are empty / None for derived sources (ensemble, fusion, tuned decisions);
    ``details`` holds a derived source's weights, offsets or thresholds per fold; ``binarize`` is how
    multi-label test sets binarise its scores; ``dev_predictions`` (class columns + ``fold``) are each
    fold model's outputs on its own development items, kept when a tuning analysis needs them; ``kind``: the
    predictions' kind (``categorical`` probabilities or ``continuous`` dimension values).
    """

    predictions: pd.DataFrame
    multilabel: bool
    histories: pd.DataFrame | None = None
    layer_weights: pd.DataFrame | None = None
    folds: pd.DataFrame | None = None
    details: pd.DataFrame | None = None
    binarize: str | float | None = None
    dev_predictions: pd.DataFrame | None = None
    kind: str = "categorical"

    @property
    def probabilities(self) -> pd.DataFrame:
        return self.predictions.drop(columns="fold", errors="ignore")


def _save_trained(trained: Trained, directory: Path) -> None:
    kind = trained.kind
    save_predictions(Predictions(trained.predictions, trained.multilabel, kind), directory / "predictions.parquet")
    if trained.dev_predictions is not None:
        path = directory / "dev_predictions.parquet"
        save_predictions(Predictions(trained.dev_predictions, trained.multilabel, kind), path)
    for name in ("histories", "layer_weights", "folds", "details"):
        table = getattr(trained, name)
        if table is not None:
            _write_table(table, directory / f"{name}.parquet")
    info = {"multilabel": trained.multilabel, "binarize": trained.binarize, "kind": kind}
    write_text(directory / "source.json", json.dumps(info))


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
        kind=info.get("kind", "categorical"),
    )


# ====================================================================== corpus, labels, features
def compute_corpus(
    config: Mapping[str, Any], directory: Path, progress: Progress | None = None, map_function: Callable = map
) -> None:
    """Build the demo corpus (its clips synthesised through ``map_function``, see
    :func:`voxpop.corpus.demo.make_demo_corpus`) or import a native format into ``directory/corpus``."""
    if "demo" in config:
        from voxpop.corpus import make_demo_corpus

        demo = config["demo"]
        make_demo_corpus(
            directory / "demo", demo["size"], seed=demo["seed"], progress=progress, map_function=map_function
        )
        return
    from voxpop.corpus import read

    read(config["format"], **config[LOCATIONS]["arguments"]).save(directory / "corpus")


def load_corpus(directory: Path) -> Corpus:
    return Corpus.load(directory / "demo" / "corpus" if (directory / "demo").is_dir() else directory / "corpus")


def compute_labels(corpus: Corpus, config: Mapping[str, Any], directory: Path, best: float | None = None) -> None:
    """A label set of ``config["spec"]`` on the corpus (``threshold: best`` from the sweep's ``best``), of either
    kind (:func:`voxpop.labels.label_sets.build_label_set`). ``config["rater_folds"]`` (protocol ``rater_folds``):
    each item keeps only the ratings of its fold's rater group (:mod:`voxpop.labels.rater_folds`); the ratings set
    aside are counted in the label set's options (``rater_folds_set_aside``).

    ``config["overrides"]`` (merged corpora: corpus name -> spec) labels each corpus's items apart, that
    corpus's with its own spec and the others with ``spec``; the parts are joined in the corpora's order
    (:func:`voxpop.models.crosscorpus.concat_label_sets`).
    """
    locations = config.get(LOCATIONS, {})
    spec = _located(config["spec"], locations.get("spec"))
    overrides = {c: _located(o, locations.get("overrides", {}).get(c)) for c, o in config.get("overrides", {}).items()}
    if not overrides:
        labels = _make_labels(corpus, spec, config, best)
    else:
        own = corpus.items["corpus"].astype(str)
        parts = {
            name: _make_labels(
                corpus.subset(corpus.items.index[own.eq(name).to_numpy()]), overrides.get(name, spec),
                config, best,
            )
            for name in pd.unique(own)
        }  # fmt: skip
        labels = concat_label_sets(parts)
    labels.save(directory / "labels.parquet")


def _located(spec: Mapping[str, Any], path: str | None) -> Mapping[str, Any]:
    """A hashed label-set spec with the ``path`` of its saved label set (rule ``file``) put back."""
    return spec if path is None else {**spec, "path": path}


def fold_labels(
    corpus: Corpus, spec: Mapping[str, Any], rater_folds: Mapping[str, Any] | None, **options: Any
) -> LabelSet | ContinuousLabelSet:
    """:func:`voxpop.labels.label_sets.build_label_set` on the ratings protocol ``rater_folds`` keeps: each item only
    its fold's rater group's (:func:`voxpop.labels.rater_folds.rater_fold_ratings` on the protocol's item folds),
    the others set aside: the ratings the label set reads from the whole corpus minus those it reads from the kept
    ones, in the label set's options (``rater_folds_set_aside``); None: every rating.
    The labels stage and the check before the run build label sets through it."""
    if not rater_folds:
        return build_label_set(corpus, spec, **options)
    folds = make_folds(corpus.items, "speaker-folds", **rater_folds)
    item_fold = {str(item): number for number, fold in enumerate(folds) for item in fold.test}
    kept, _ = rater_fold_ratings(corpus, item_fold, rater_folds["k"], rater_folds["seed"])
    labels = build_label_set(kept, spec, **options)
    every = build_label_set(corpus, spec, **options).accounting.ratings_total  # the ratings this label set reads
    set_aside = every - labels.accounting.ratings_total
    return dataclasses.replace(labels, options={**labels.options, "rater_folds_set_aside": set_aside})


def _make_labels(
    corpus: Corpus, spec: Mapping[str, Any], config: Mapping[str, Any], best: float | None
) -> LabelSet | ContinuousLabelSet:
    return fold_labels(
        corpus, spec, config.get("rater_folds"), classes=config.get("classes"), class_map=config.get("class_map"),
        best_threshold=best,
    )  # fmt: skip


def load_labels(directory: Path) -> LabelSet | ContinuousLabelSet:
    return load_label_set(directory / "labels.parquet")


def compute_segments(corpus: Corpus, labelsets: list[LabelSet], directory: Path) -> None:
    """The corpus of the union of interval label sets' segments
    (:func:`voxpop.labels.segments.union_segment_corpus`)."""
    union_segment_corpus(corpus, labelsets).save(directory / "corpus")


def compute_features(
    corpus: Corpus,
    config: Mapping[str, Any],
    directory: Path,
    store: Path,
    progress: Progress | None = None,
    notice: Callable[[str], None] | None = None,
) -> None:
    """Fill the feature store (resumable shard by shard) and record the store entry's path; with
    ``config["normalisation"]`` (corpus name -> global / corpus / speaker) also each item's normalisation
    group, by which :func:`load_features` z-scores (:func:`voxpop.models.crosscorpus.normalise_by_group`).
    ``notice`` receives :func:`reuse_notice` when the store entry was already complete (nothing extracted)."""
    extractor, audio = _extraction(config)
    report = fill_store(corpus, extractor, store, audio=audio, progress=progress)
    if report.reused and notice is not None:
        notice(reuse_notice(config, report.path))
    features = FeatureStore(report.path).features()
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
    noise = {"noise_dir": config[LOCATIONS]["noise_dir"], "snr_db": config["snr_db"]} if "noise" in config else {}
    return extractor, AudioOptions(sample_rate=extractor.sample_rate, max_seconds=config["max_seconds"], **noise)


def extract_shard(
    corpus: Corpus,
    config: Mapping[str, Any],
    store: Path,
    shard: tuple[int, int],
    notice: Callable[[str], None] | None = None,
) -> None:
    """Compute shard ``(I, N)`` of a features stage's store entry in this process (no process pool inside:
    the scheduler runs the N shards as tasks; :func:`voxpop.features.fill_store` commits each atomically).

    ``notice`` receives :func:`reuse_notice` when shard 0's process finds the entry already complete: no
    process of this run can have completed it before, since shard 0 is this process's share."""
    extractor, audio = _extraction(config, in_process=True)
    report = fill_store(corpus, extractor, store, audio=audio, shard=shard)
    if report.reused and shard[0] == 0 and notice is not None:
        notice(reuse_notice(config, report.path))


def reuse_notice(config: Mapping[str, Any], entry: Path) -> str:
    """The run-log line of a features stage whose store entry was complete before it ran (never in the report).

    >>> reuse_notice({"extractor": "fbank"}, Path("/store/fbank-0123456789abcdef"))
    'features fbank: reused from /store/fbank-0123456789abcdef'
    """
    return f"features {config['extractor']}: reused from {entry}"


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
    votes: RaterVotes | None = None,
) -> None:
    """Cross-validate classifiers or regressors, by the label set's kind (fold models saved under
    ``directory/folds``; finished folds are resumed; ``folds.parquet``: sizes, dropped items, items the protocol
    left out by split value (``left_out[Test3]``, :func:`voxpop.models.protocols.left_out_table`), best epoch per
    fold and, for a rater-aware head, what its per-rater targets counted: ``rater_votes``, ``raters_own_output``,
    ``raters_shared_output``, ``items_without_votes``, ``ratings_outside_classes``); with
    ``dev_predictions`` each fold model also predicts its own dev items
    (:func:`voxpop.models.cross_validation.cross_validate`; ``votes``: each rater's votes, for the rater-aware
    heads)."""
    cv = cross_validate(
        features, labels, folds, spec, out_dir=directory, progress=progress, dev_predictions=dev_predictions,
        votes=votes,
    )  # fmt: skip
    histories = pd.concat([h.assign(fold=name) for name, h in cv.histories.items()], ignore_index=True)
    folds_table = cv.sizes.join(cv.dropped).join(left_out_table(folds)).assign(best_epoch=pd.Series(cv.best_epochs))
    raters = {name: m.model.spec.rater_counts for name, m in cv.models.items() if m.model.spec.rater_counts}
    if raters:  # rater heads: votes used, raters with an output, raters sharing 'other raters', unrated items
        folds_table = folds_table.join(pd.DataFrame.from_dict(raters, orient="index"))
    trained = Trained(cv.predictions, cv.multilabel, histories, cv.layer_weights, folds_table, kind=cv.kind)
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
    """Dirichlet late fusion per fold (:func:`voxpop.evaluation.tuning.fusion_per_fold`) of trained sources and imported
    prediction tables (which have no development predictions)."""
    tables = {name: s.predictions if isinstance(s, Trained) else s for name, s in sources.items()}
    dev = {name: s.dev_predictions if isinstance(s, Trained) else None for name, s in sources.items()}
    table, weights = fusion_per_fold(tables, dev, labels, n_draws, seed, tune_on)
    _save_trained(Trained(table, False, details=weights), directory)


def compute_tuned(source: Trained, labels: LabelSet, directory: Path, tune_on: str = "dev") -> None:
    """Decisions tuned per fold (:func:`voxpop.evaluation.tuning.tuned_per_fold`); sigmoid outputs are then binarised at
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
    ``config["tie_policy"]`` (:func:`voxpop.evaluation.results.evaluate_pooled`: the pooled score with the per-fold
    mean and standard deviation beside it). With ``config["corpus_classes"]``
    (test corpus -> its classes) group ``corpus=B`` is scored on B's classes
    (:func:`voxpop.models.crosscorpus.onto_test_classes`), other groups on the label set's classes. Column
    ``chance`` holds each metric's chance level on the same scored items
    (:func:`voxpop.evaluation.chance.chance_levels`;
    KLD / JSD against the ``train`` label set's mean distribution). ``config["resample"]`` (absent:
    ``items``) ``speakers`` resamples the items' speakers (:func:`voxpop.evaluation.resampling.resample_groups`).
    ``config["partitions"]`` (a split protocol's columns and several test values) adds one group per test value,
    ``split=Test1`` (:func:`voxpop.evaluation.partitions.partition_groups`), scored as its own test set.
    Continuous label sets are scored by regression metrics (:func:`voxpop.evaluation.test_scores.score_test_set`
    dispatches on the label set's kind); a group without a kept item is left out."""
    binarize = source.binarize if source.binarize is not None else config["binarize"]
    speakers = resample_groups(corpus.items, config.get("resample", "items"))
    corpus_classes = config.get("corpus_classes")
    tables = []
    groups = [(group, source.predictions[source.predictions.index.isin(items)])  # with "fold": per-fold scores
              for group, items in grouping.item_groups(corpus.items, config["by"])]  # fmt: skip
    if config.get("partitions"):  # several test values of a split: each partition's items alone (split=Test1)
        groups += partition_groups(corpus.items, source.predictions, config["partitions"])
    for group, predictions in groups:
        if predictions.empty and group != "all":  # a group no fold tests (the training corpora of cross_corpus)
            continue
        scored_labels = labels
        if corpus_classes is not None:  # cross-corpus, trained on the training corpora's classes
            classes = corpus_classes.get(group, labels.classes)
            mapped, scored_labels = onto_test_classes(predictions, labels, classes, multilabel=source.multilabel)
            predictions = mapped.join(predictions[["fold"]]) if "fold" in predictions else mapped
        table = score_test_set(
            predictions,
            scored_labels,
            n_boot=config["bootstrap"],
            seed=config["seed"],
            speakers=speakers,
            prior=train,
            binarize=binarize,
            tie_policy=config["tie_policy"],
        )
        if table is not None:
            tables.append(table.assign(group=group))
    if not tables:
        raise ConfigError("none of the predicted items is kept by the test label set (no target to score them on)")
    _write_table(pd.concat(tables, ignore_index=True), directory / "metrics.parquet")


def load_table(directory: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(directory / f"{name}.parquet")


def scored(
    source: Trained, labels: LabelSet, binarize: object, tie_policy: str = "drop", seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(true, predicted) on the predicted items the test labels keep: multi-hot tables for multi-label test sets,
    one-column class tables (``label``) for single-label ones, whose true class is the target's top class
    with ties scored by ``tie_policy`` (:func:`voxpop.labels.decisions.top_class`; ``drop`` leaves tied items out)."""
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
        matrix = confusion.mlcm(true, pred)
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
    table = tables.agreement_table(corpus, n_boot=spec.pop("bootstrap"), **spec)
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
    """Agreement between label sets (:func:`voxpop.agreement.tables.compare_labelsets`, CCC with bootstrap
    intervals)."""
    table = tables.compare_labelsets(labelsets, stat, n_boot=n_boot, seed=seed)
    _write_table(table, directory / "comparison.parquet")


def compute_sweep(corpus: Corpus, config: Mapping[str, Any], directory: Path) -> None:
    """Cohen's kappa per emotion and threshold between the intensity scores of two conditions, and the
    positive items per condition, emotion and threshold (over the items both conditions score)."""
    spec = config["spec"]
    emotions = spec["emotions"] or config["classes"] or corpus.classes
    a, b = (threshold_sweep.intensity_scores(corpus, emotions, condition) for condition in spec["conditions"])
    grid = threshold_sweep.threshold_grid(spec["grid"])
    sweep = threshold_sweep.threshold_sweep(a, b, grid)
    _write_table(sweep.curve, directory / "curve.parquet")
    positives = threshold_sweep.sweep_positives(dict(zip(spec["conditions"], (a, b), strict=True)), grid)
    _write_table(positives, directory / "positives.parquet")
    summary = {"best_threshold": sweep.best_threshold, "best_kappa": sweep.best_kappa, "items": sweep.items,
               "plateau": sweep.plateau, "left_out": sweep.left_out, "gaps": sweep.gaps}  # fmt: skip
    write_text(directory / "sweep.json", json.dumps(summary))


def load_sweep(directory: Path) -> tuple[pd.DataFrame, dict[str, float], pd.DataFrame]:
    """(kappa curve, summary, positive items: threshold, condition, emotion, positives)."""
    return load_table(directory, "curve"), parse_json((directory / "sweep.json").read_text()), load_table(
        directory, "positives"
    )
