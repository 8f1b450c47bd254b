"""Cross-validated runs: train a head on features + a LabelSet under protocol folds, predict every test
item, evaluate predictions against any test LabelSet, and run a saved run's fold models on new audio.

- :func:`cross_validate` trains one model per fold on the fold's train items that the label set KEEPS
  and that have features (early stopping on the kept dev items) and predicts EVERY test item that has
  features, whatever the train rule kept, so the pooled out-of-fold predictions can be scored against
  other test label sets (cross-testing). With ``out_dir`` each fold is saved and a rerun resumes.
- :func:`evaluate_predictions` scores predictions on the items a test label set keeps: single-label
  metrics for one-hot / distribution targets, multi-label metrics for multi-hot targets, KLD / JSD
  against soft target distributions; always on the whole test set with bootstrap intervals.
- :func:`save_predictions` / :func:`load_predictions`: the predictions table on disk (also for
  predictions made outside voxpop, e.g. by a video model, to be fused).
- A *run directory* (:func:`train_run`, :func:`load_run`) holds ``run.yaml`` (corpus, labels, features,
  model spec, protocol: everything needed to rebuild the run), ``labels.parquet``, the fold models and
  ``predictions.parquet``; :func:`predict_files` extracts the run's features for new audio files with
  the same extractor configuration and averages the fold models' probabilities (an ensemble).

Neural heads see features standardised per dimension with the mean and standard deviation of the
fold's training items (``ModelSpec.standardize``); the statistics are saved with each fold model.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pydantic
import yaml

from voxpop.analysis import Fusion, average_probabilities, dirichlet_fusion
from voxpop.audio import AudioOptions
from voxpop.cache import atomic_write, output_directory, parse_json, parse_yaml, write_text
from voxpop.corpus import STRING, Corpus
from voxpop.errors import ConfigError, InputError
from voxpop.features import Features, FeatureStore, extract, make_extractor
from voxpop.labels import make_labels
from voxpop.labelset import LabelSet
from voxpop.losses import loss_class
from voxpop.metrics import (
    DISTRIBUTION_TOLERANCE,
    EVALUATION_TIE_POLICIES,
    binarize_above_uniform,
    binarize_thresholds,
    evaluate,
    top_class,
)
from voxpop.models import CLASSICAL
from voxpop.protocols import Fold
from voxpop.rules import RULES
from voxpop.training import TrainConfig, TrainedModel, fit

Progress = Callable[[int, int], None]
"""Called with (folds done, folds in all); first with (0, total)."""

RUN_FORMAT = 1
FOLD_FORMAT = 1
DROP_REASONS = ("train_no_features", "train_not_kept", "dev_no_features", "dev_not_kept", "test_no_features")
_PREDICTIONS_META = b"voxpop.predictions"
_SPEED_ONLY = {"progress_bar", "num_workers"}  # TrainConfig fields that do not change numbers


class ModelSpec(pydantic.BaseModel):
    """Which head to train with which loss and optimisation settings.

    Classical heads (``logreg``, ``svm``) fit soft targets by sample weights: they ignore ``loss``,
    ``loss_options`` and ``train`` except ``train.seed``. ``standardize`` z-scores every feature
    dimension with the fold's training statistics before the head (classical pipelines standardise
    again, which changes nothing); it does not apply to backbone fine-tuning (``train.backbone``), whose
    input is the ``waveform`` extractor's raw audio.
    """

    model_config = pydantic.ConfigDict(extra="forbid")

    head: str = "mlp"
    head_options: dict[str, Any] = {}
    loss: str = "ce"
    loss_options: dict[str, Any] = {}
    train: TrainConfig = TrainConfig()
    standardize: bool = True

    @property
    def classical(self) -> bool:
        return self.head in CLASSICAL

    @property
    def multilabel(self) -> bool:
        """Whether the model's outputs are per-class sigmoids (the BCE family) rather than a softmax."""
        return not self.classical and loss_class(self.loss).multilabel


# ====================================================================== features as model input
def feature_input(features: Features, items: Sequence[str] | pd.Index) -> np.ndarray | list[np.ndarray]:
    """The model input of ``items`` (all must have features): (N, D) vectors, (N, L, D) layer matrices or
    a list of (T_i, D) frame arrays, as float32 in the order of ``items``."""
    rows = features.items.get_indexer(pd.Index(items, dtype=STRING))
    if (rows < 0).any():
        missing = [items[i] for i in np.flatnonzero(rows < 0)[:5]]
        raise InputError(f"items {missing} have no features in store {features.key[:16]}; extract them first.")
    if features.kind == "frames":
        offsets = features.offsets
        return [np.asarray(features.values[offsets[r] : offsets[r + 1]], dtype=np.float32) for r in rows]
    return np.asarray(features.values[rows], dtype=np.float32)


@dataclasses.dataclass(frozen=True)
class Standardizer:
    """Per-dimension z-score ``(x - mean) / scale`` fitted on training items.

    Vectors: statistics over items, shape (D,); layer matrices: over items per layer, (L, D); frames:
    over all frames of all items, (D,). A dimension with standard deviation below 1e-8 gets scale 1.

    >>> s = Standardizer.fit(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> s.mean.tolist(), s.scale.tolist(), s.apply(np.array([[3.0, 6.0]])).tolist()
    ([2.0, 5.0], [1.0, 1.0], [[1.0, 1.0]])
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray | list[np.ndarray]) -> Standardizer:
        stacked = np.concatenate(x) if isinstance(x, list) else np.asarray(x)
        stacked = stacked.astype(np.float64)
        std = stacked.std(axis=0)
        return cls(stacked.mean(axis=0), np.where(std < 1e-8, 1.0, std))

    def apply(self, x: np.ndarray | list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
        mean, scale = self.mean.astype(np.float32), self.scale.astype(np.float32)
        if isinstance(x, list):
            return [(a - mean) / scale for a in x]
        return (np.asarray(x, dtype=np.float32) - mean) / scale

    def save(self, path: Path) -> None:
        atomic_write(path, lambda handle: np.savez(handle, mean=self.mean, scale=self.scale))

    @classmethod
    def load(cls, path: Path) -> Standardizer:
        with np.load(path) as data:
            return cls(data["mean"], data["scale"])


@dataclasses.dataclass
class FoldModel:
    """One fold's trained model with the standardisation of its input (None: raw features)."""

    model: TrainedModel
    standardizer: Standardizer | None

    def predict_proba(self, x: np.ndarray | list[np.ndarray]) -> np.ndarray:
        return self.model.predict_proba(self.standardizer.apply(x) if self.standardizer else x)

    def save(self, directory: Path) -> None:
        self.model.save(directory)
        if self.standardizer is not None:
            self.standardizer.save(directory / "standardize.npz")

    @classmethod
    def load(cls, directory: Path) -> FoldModel:
        path = directory / "standardize.npz"
        return cls(TrainedModel.load(directory), Standardizer.load(path) if path.is_file() else None)


# ====================================================================== cross-validation
@dataclasses.dataclass
class CrossValidation:
    """Out-of-fold results of :func:`cross_validate`.

    ``predictions``: DataFrame indexed by item, one probability column per class (class order) and a
    ``fold`` column; ``histories``: per fold the per-epoch training history; ``layer_weights``: folds x
    layers softmax weights of a layer-weighted sum (None without one); ``dropped``: folds x
    :data:`DROP_REASONS` item counts; ``sizes``: folds x (train, dev, test) items used; ``multilabel``:
    sigmoid outputs; ``models``: the fold models; ``dev_predictions``: each fold model's outputs on
    its own dev items (class columns + ``fold``), when asked for, else None.
    """

    predictions: pd.DataFrame
    histories: dict[str, pd.DataFrame]
    layer_weights: pd.DataFrame | None
    dropped: pd.DataFrame
    sizes: pd.DataFrame
    multilabel: bool
    models: dict[str, FoldModel]
    resumed: list[str] = dataclasses.field(default_factory=list)
    dev_predictions: pd.DataFrame | None = None

    @property
    def classes(self) -> list[str]:
        return [c for c in self.predictions.columns if c != "fold"]


@dataclasses.dataclass(frozen=True)
class FoldItems:
    """The items one fold uses, after dropping items without features and (train / dev) items not kept."""

    train: pd.Index
    dev: pd.Index
    test: pd.Index
    dropped: dict[str, int]


def fold_items(fold: Fold, has_features: pd.Index, kept: pd.Series, hold_out_dev: bool = True) -> FoldItems:
    """Train / dev: items with features that the label set keeps; test: every item with features.

    An item without features counts as ``*_no_features`` even when it is not kept either; an item the
    label set does not know counts as not kept. ``hold_out_dev=False``: the usable dev items train
    too (dev is empty), for models that neither early-stop nor tune anything on dev data.

    >>> fold = Fold("f1", pd.Index(["a", "b", "c"]), pd.Index(["d"]), pd.Index(["e", "f"]))
    >>> kept = pd.Series([True, False, True, True, False], index=["a", "b", "c", "d", "e"])
    >>> out = fold_items(fold, pd.Index(["a", "b", "d", "e"]), kept)
    >>> list(out.train), list(out.dev), list(out.test), out.dropped
    (['a'], ['d'], ['e'], {'train_no_features': 1, 'train_not_kept': 1, 'dev_no_features': 0, 'dev_not_kept': 0, \
'test_no_features': 1})
    """
    kept = kept.astype(bool)
    parts, dropped = {}, {}
    for part in ("train", "dev", "test"):
        ids = pd.Index(getattr(fold, part)).astype(STRING)
        with_features = ids[ids.isin(has_features)]
        dropped[f"{part}_no_features"] = len(ids) - len(with_features)
        if part == "test":
            parts[part] = with_features
            continue
        is_kept = kept.reindex(with_features, fill_value=False).to_numpy(dtype=bool)
        parts[part] = with_features[is_kept]
        dropped[f"{part}_not_kept"] = len(with_features) - int(is_kept.sum())
    if not hold_out_dev:
        parts["train"], parts["dev"] = parts["train"].append(parts["dev"]), parts["dev"][:0]
    return FoldItems(parts["train"], parts["dev"], parts["test"], {r: dropped[r] for r in DROP_REASONS})


def _digest(ids: pd.Index, targets: pd.DataFrame | None = None) -> str:
    """sha256 of item ids (in order) and, when given, their float64 targets."""
    digest = hashlib.sha256("\n".join(map(str, ids)).encode())
    if targets is not None:
        digest.update(np.ascontiguousarray(targets.loc[ids].to_numpy(np.float64)).tobytes())
    return digest.hexdigest()


def _fold_fingerprint(spec: ModelSpec, features: Features, labels: LabelSet, items: FoldItems) -> dict[str, str]:
    """What a saved fold was trained on: spec, features key, train / dev items with targets, test items."""
    if spec.classical:  # loss and training options do not apply
        numbers = {
            **spec.model_dump(mode="json", include={"head", "head_options", "standardize"}),
            "seed": spec.train.seed,
        }
    else:
        numbers = spec.model_dump(mode="json", exclude={"train": _SPEED_ONLY})
    return {
        "spec": hashlib.sha256(json.dumps(numbers, sort_keys=True).encode()).hexdigest(),
        "features": features.key,
        "train": _digest(items.train, labels.targets),
        "dev": _digest(items.dev, labels.targets),
        "test": _digest(items.test),
    }


def _fold_dir(out_dir: Path, name: str) -> Path:
    return out_dir / "folds" / name.replace(os.sep, "_")


def _load_fold(directory: Path, fingerprint: dict[str, str]) -> tuple[FoldModel, pd.DataFrame] | None:
    """A completed fold (fold.json is written last), or None; a fold trained on other inputs is an error.

    An unreadable fold.json (damaged, or a symlink) counts as a fold not yet computed.
    A fold whose classical head an older voxpop saved as a pickle, or whose model files are damaged, is
    not computed (None, and its fold.json is removed): it is trained again, and a pickle is never read.
    """
    record_path = directory / "fold.json"
    if record_path.is_symlink() or not record_path.is_file():
        return None
    try:
        record = parse_json(record_path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("fingerprint"), dict):
        return None  # damaged by hand or by a crash: computed again
    differs = [part for part, value in fingerprint.items() if record["fingerprint"].get(part) != value]
    if differs or record.get("format") != FOLD_FORMAT:
        raise ConfigError(
            f"{directory}: holds a fold trained on different {', '.join(differs) or 'format'} "
            "(model spec, features, train / dev items and targets, test items); write the run to a new --out "
            "directory, or delete this one to retrain it."
        )
    try:
        model = FoldModel.load(directory)
    except InputError:  # a pickled head of an older voxpop, or a damaged model file: trained again
        record_path.unlink()
        return None
    return model, load_predictions(directory / "predictions.parquet")


def _train_fold(spec: ModelSpec, features: Features, labels: LabelSet, items: FoldItems, name: str) -> FoldModel:
    if not len(items.train):
        raise ConfigError(
            f"fold {name!r}: no training item has features and is kept by the label set "
            f"(dropped: {items.dropped}); check the protocol, the label rule and the feature store."
        )
    present = labels.targets.loc[items.train].to_numpy().sum(axis=0) > 0
    if not spec.multilabel and present.sum() < 2:
        raise ConfigError(
            f"fold {name!r}: the {len(items.train)} training items cover only class(es) "
            f"{[c for c, p in zip(labels.classes, present, strict=True) if p]}; a model needs at least two classes "
            "(use more speakers per fold or fewer folds)."
        )
    x = feature_input(features, items.train)
    standardizer = Standardizer.fit(x) if spec.standardize and spec.train.backbone is None else None
    scale = standardizer.apply if standardizer else (lambda v: v)
    dev = (scale(feature_input(features, items.dev)), labels.targets.loc[items.dev]) if len(items.dev) else (None, None)
    if spec.classical:
        loss, loss_options, config = "ce", {}, TrainConfig(seed=spec.train.seed, progress_bar=False)
    else:
        loss, loss_options, config = spec.loss, spec.loss_options, spec.train
    model = fit(
        scale(x),
        labels.targets.loc[items.train],
        *dev,
        head=spec.head,
        loss=loss,
        config=config,
        head_options=spec.head_options,
        loss_options=loss_options,
    )
    return FoldModel(model, standardizer)


def _check_task(spec: ModelSpec, labels: LabelSet, features: Features) -> None:
    if labels.multilabel and not spec.multilabel:
        raise ConfigError(
            f"label set {labels.rule!r} is multi-label (multi-hot targets) but loss {spec.loss!r} / head "
            f"{spec.head!r} needs one distribution per item; train with a sigmoid loss (bce, wbce) and a neural head."
        )
    if labels.segments is not None and not features.items.isin(labels.targets.index).any():
        raise ConfigError(
            f"label set {labels.rule!r} labels segment items (recording, start, end), but none of the "
            f"{len(features.items)} feature items is a segment; extract the features (and make the folds) from "
            "voxpop.segments.segment_corpus(corpus, labels), whose items are the segments' audio windows."
        )
    if spec.train.backbone is not None and features.names != ["sample"]:
        raise ConfigError(
            f"model backbone {spec.train.backbone.path!r} fine-tunes on raw audio, but the features are "
            f"{features.kind} {features.names[:3]}...; extract them with the 'waveform' extractor "
            f"(recipe: features.extractor: waveform:{spec.train.backbone.path}; CLI: --backbone sets it)."
        )


def cross_validate(
    features: Features,
    labels: LabelSet,
    folds: Sequence[Fold],
    spec: ModelSpec,
    *,
    out_dir: str | Path | None = None,
    progress: Progress | None = None,
    dev_predictions: bool = False,
) -> CrossValidation:
    """Train one model per fold and predict every test item of every fold (see the module docstring).

    Train items = the fold's train items that have features and that ``labels`` keeps; dev items
    likewise (early stopping, best epoch restored); test items = every fold test item with features.
    Classical heads (SVM, logistic regression) neither early-stop nor use dev data, so they train on
    the dev items too, unless ``dev_predictions`` asks for each fold model's outputs on its own
    held-out dev items (to tune decision thresholds or fusion weights on them); neural heads always
    hold the dev items out. With ``out_dir``: each fold is saved under ``out_dir/folds/<fold>/``
    (model, standardisation, predictions, dev predictions, ``fold.json`` written last) and the pooled
    ``predictions.parquet`` (and ``dev_predictions.parquet``) and ``folds.csv`` (sizes and dropped
    counts) under ``out_dir``; a fold already saved for the same inputs is loaded instead of
    retrained (its dev predictions are made from the loaded model when missing), and one saved for
    other inputs is an error.
    """
    if not folds:
        raise ConfigError("cross_validate needs at least one fold; make them with voxpop.protocols.make_folds.")
    names = [f.name for f in folds]
    if len(set(names)) != len(names):
        raise ConfigError(f"fold names must be unique, got {names}.")
    _check_task(spec, labels, features)
    classes = labels.classes
    out = Path(out_dir) if out_dir is not None else None
    predictions, histories, weights, dropped, sizes, models, resumed = [], {}, {}, {}, {}, {}, []
    dev_tables = []
    if progress:
        progress(0, len(folds))
    for done, fold in enumerate(folds, start=1):
        items = fold_items(fold, features.items, labels.kept, hold_out_dev=dev_predictions or not spec.classical)
        dropped[fold.name] = items.dropped
        sizes[fold.name] = {"train": len(items.train), "dev": len(items.dev), "test": len(items.test)}
        fingerprint = _fold_fingerprint(spec, features, labels, items)
        directory = _fold_dir(out, fold.name) if out is not None else None
        loaded = _load_fold(directory, fingerprint) if directory is not None else None
        if loaded is not None:
            fold_model, fold_predictions = loaded
            resumed.append(fold.name)
        else:
            fold_model = _train_fold(spec, features, labels, items, fold.name)
            fold_predictions = _predict_items(fold_model, features, items.test, classes, fold.name)
            if directory is not None:
                output_directory(out, "folds", directory.name)
                fold_model.save(directory)
                save_predictions(fold_predictions, directory / "predictions.parquet", multilabel=spec.multilabel)
                record = {"format": FOLD_FORMAT, "fold": fold.name, "fingerprint": fingerprint, **sizes[fold.name]}
                write_text(directory / "fold.json", json.dumps(record, indent=1))
        if dev_predictions:  # a resumed fold reads its saved dev predictions; a new one predicts (and saves)
            dev_path = directory / "dev_predictions.parquet" if directory is not None else None
            if loaded is not None and dev_path is not None and dev_path.is_file():
                dev_tables.append(load_predictions(dev_path))
            else:
                dev_tables.append(_predict_items(fold_model, features, items.dev, classes, fold.name))
                if dev_path is not None:
                    save_predictions(dev_tables[-1], dev_path, multilabel=spec.multilabel)
        models[fold.name] = fold_model
        predictions.append(fold_predictions)
        histories[fold.name] = pd.DataFrame(fold_model.model.history)
        layer_weights = fold_model.model.layer_weights()
        if layer_weights is not None:
            weights[fold.name] = layer_weights
        if progress:
            progress(done, len(folds))
    pooled = pd.concat(predictions)
    pooled.index.name = "item"
    result = CrossValidation(
        predictions=pooled,
        histories=histories,
        layer_weights=_layer_table(weights, features),
        dropped=pd.DataFrame.from_dict(dropped, orient="index").rename_axis("fold"),
        sizes=pd.DataFrame.from_dict(sizes, orient="index").rename_axis("fold"),
        multilabel=spec.multilabel,
        models=models,
        resumed=resumed,
        dev_predictions=pd.concat(dev_tables) if dev_predictions else None,
    )
    if out is not None:
        save_predictions(pooled, out / "predictions.parquet", multilabel=spec.multilabel)
        if result.dev_predictions is not None:
            save_predictions(result.dev_predictions, out / "dev_predictions.parquet", multilabel=spec.multilabel)
        write_text(out / "folds.csv", result.sizes.join(result.dropped).to_csv())
    return result


def _predict_items(
    fold_model: FoldModel, features: Features, items: pd.Index, classes: list[str], fold: str
) -> pd.DataFrame:
    """A fold model's outputs on ``items``: class columns and a ``fold`` column, indexed by item."""
    probs = fold_model.predict_proba(feature_input(features, items)) if len(items) else None
    return pd.DataFrame(
        np.zeros((0, len(classes))) if probs is None else probs,
        index=pd.Index(items, dtype=STRING, name="item"),
        columns=classes,
    ).assign(fold=pd.array([fold] * len(items), dtype=STRING))


def _layer_table(weights: dict[str, np.ndarray], features: Features) -> pd.DataFrame | None:
    if not weights:
        return None
    n_layers = len(next(iter(weights.values())))
    names = features.layers if len(features.layers) == n_layers else [f"layer{i}" for i in range(n_layers)]
    return pd.DataFrame.from_dict(weights, orient="index", columns=names).rename_axis("fold")


# ====================================================================== predictions on disk
def _check_predictions(predictions: pd.DataFrame, source: str) -> list[str]:
    """The class columns of a predictions table (every column but ``fold``), checked to be finite numbers."""
    if not isinstance(predictions, pd.DataFrame):
        raise InputError(f"{source}: predictions must be a DataFrame (items x classes), got {type(predictions)}.")
    classes = [str(c) for c in predictions.columns if c != "fold"]
    if not classes:
        raise InputError(f"{source}: no class columns; expected one probability column per class (and 'fold').")
    for column in classes:
        values = pd.to_numeric(predictions[column], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise InputError(
                f"{source}, item {predictions.index[bad[0]]!r}, column {column!r}: "
                f"{predictions[column].iloc[bad[0]]!r} is not a finite number ({len(bad)} such rows); "
                "every class column must hold a probability or score."
            )
    if predictions.index.isna().any():
        raise InputError(f"{source}: some rows have no item id; index the table by item.")
    return classes


def save_predictions(predictions: pd.DataFrame, path: str | Path, *, multilabel: bool = False) -> Path:
    """Write predictions (index item, class columns in order, optional ``fold``) to one parquet file.

    The class order and whether outputs are sigmoids (``multilabel``) go into the file's metadata.
    """
    path = Path(path)
    classes = _check_predictions(predictions, str(path))
    frame = predictions[classes].astype(float)
    frame.index = pd.Index(predictions.index.astype(str), dtype=STRING, name="item")
    if "fold" in predictions.columns:
        frame["fold"] = predictions["fold"].astype(STRING).to_numpy()
    table = pa.Table.from_pandas(frame, preserve_index=True)
    meta = json.dumps({"classes": classes, "multilabel": bool(multilabel)}).encode()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _PREDICTIONS_META: meta})
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: pq.write_table(table, handle))
    return path


def load_predictions(path: str | Path) -> pd.DataFrame:
    """Read predictions written by :func:`save_predictions`, or from outside voxpop.

    Outside files: parquet or CSV with the item ids in an ``item`` column (else the parquet index, or
    the first CSV column), one numeric column per class and an optional ``fold`` column. The result
    is indexed by item (string ids); ``attrs["multilabel"]`` says whether outputs are sigmoids.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: predictions file not found.")
    meta: dict[str, Any] = {}
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path)
        frame = frame.set_index("item" if "item" in frame.columns else frame.columns[0])
    else:
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(
                f"{path}: not a readable parquet file ({exc}); give predictions as parquet or CSV."
            ) from None
        raw = (table.schema.metadata or {}).get(_PREDICTIONS_META)
        meta = parse_json(raw) if raw else {}
        frame = table.to_pandas()
        if "item" in frame.columns:
            frame = frame.set_index("item")
    frame.index = pd.Index(frame.index.astype(str), dtype=STRING, name="item")
    frame.columns = [str(c) for c in frame.columns]
    classes = meta.get("classes") or _check_predictions(frame, str(path))
    _check_predictions(frame[[*classes, *(["fold"] if "fold" in frame.columns else [])]], str(path))
    result = frame[classes].astype(float)
    if "fold" in frame.columns:
        result["fold"] = frame["fold"].astype(STRING)
    result.attrs["multilabel"] = bool(meta.get("multilabel", False))
    return result


# ====================================================================== evaluation
Binarize = Literal["auto", "uniform", "argmax"] | float | pd.Series


def _is_distribution(values: np.ndarray) -> np.ndarray:
    """Per row: non-negative and summing to 1 (within the metrics' tolerance)."""
    return (values >= 0).all(axis=1) & (np.abs(values.sum(axis=1) - 1.0) <= DISTRIBUTION_TOLERANCE)


def binarize_predictions(probs: pd.DataFrame, rule: Binarize = "auto") -> pd.DataFrame:
    """Multi-label decisions from scores: ``uniform`` = the 1/C rule (p_c > 1/C, as the all-inclusive test
    form), ``argmax`` = one class per item, a number or a Series by class = thresholds p_c >= t_c;
    ``auto`` = ``uniform`` when every row is a distribution (softmax outputs), else threshold 0.5 (sigmoids).

    >>> p = pd.DataFrame({"A": [0.6, 0.9], "S": [0.4, 0.7]}, index=["softmax", "sigmoid"])
    >>> binarize_predictions(p.iloc[:1]).to_numpy().tolist(), binarize_predictions(p.iloc[1:]).to_numpy().tolist()
    ([[1, 0]], [[1, 1]])
    """
    if isinstance(rule, str):
        if rule == "auto":
            rule = "uniform" if _is_distribution(probs.to_numpy(dtype=float)).all() else 0.5
        elif rule not in ("uniform", "argmax"):
            raise ConfigError(f"binarize {rule!r}: choose auto, uniform, argmax, a threshold or per-class thresholds.")
    if isinstance(rule, str) and rule == "uniform":
        return binarize_above_uniform(probs)
    if isinstance(rule, str):
        onehot = np.eye(probs.shape[1], dtype=int)[probs.to_numpy(dtype=float).argmax(axis=1)]
        return pd.DataFrame(onehot, index=probs.index, columns=probs.columns)
    return binarize_thresholds(probs, rule)


def evaluate_predictions(
    predictions: pd.DataFrame,
    test_labels: LabelSet,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    binarize: Binarize = "auto",
    tie_policy: str = "drop",
    speakers: pd.Series | None = None,
) -> pd.DataFrame:
    """Metrics of ``predictions`` on the predicted items that ``test_labels`` keeps, with bootstrap CIs.

    Columns metric, value, low, high (95 % percentile bootstrap over items, ``n_boot`` resamples,
    seeded, stratified by true class for single-label sets), absent_classes (classes without a true
    item here, left out of macro averages), n_items (items scored), n_excluded (predicted items the
    test labels do not keep or do not know), tie_policy and n_tied. Single-label task (test targets
    one-hot or distributions): the true class is the top class of the target
    (:func:`voxpop.metrics.top_class`); a distribution whose top is shared by several classes (AR
    targets) is a tie, scored by ``tie_policy``: ``drop`` (default) leaves the item out, ``first``
    takes the first tied class, ``random`` a seeded random one; n_tied counts these items whatever
    the policy (under ``drop`` they are not in n_items, and KLD / JSD are then computed on the scored
    items too). The predicted class is the argmax of the prediction; accuracy, UAR, macro / micro /
    weighted F1, MCC and per-class F1, plus KLD and JSD when the test targets are soft distributions
    and the predictions are distributions. Multi-label task (``test_labels.multilabel``): predictions
    binarised by :func:`binarize_predictions`; macro / micro / weighted F1, MCC, per-class F1 (no ties:
    n_tied 0). All metrics are computed on the whole set (voxpop.metrics.evaluate). ``speakers`` (item
    id -> speaker, :func:`voxpop.metrics.resample_groups`) resamples speakers instead of items (cluster
    bootstrap, unstratified). Raises :class:`InputError` when no predicted item is scored, or when
    ``speakers`` lacks a scored item or the scored items come from fewer than 2 speakers.
    """
    if tie_policy not in EVALUATION_TIE_POLICIES:
        raise ConfigError(f"unknown tie policy {tie_policy!r}; choose one of {', '.join(EVALUATION_TIE_POLICIES)}.")
    classes = test_labels.classes
    missing = [c for c in classes if c not in predictions.columns]
    if missing:
        raise InputError(
            f"predictions have no column for classes {missing} of the test label set ({', '.join(classes)}); "
            f"their columns are {[c for c in predictions.columns if c != 'fold']}. Map the classes first."
        )
    probs = predictions[classes].astype(float)
    probs.index = probs.index.astype(STRING)
    duplicated = probs.index[probs.index.duplicated()].unique()
    if len(duplicated):
        raise InputError(
            f"predictions hold {len(duplicated)} items more than once (e.g. {list(duplicated[:3])}), from "
            "overlapping folds; evaluate one fold at a time (predictions[predictions['fold'] == NAME])."
        )
    kept = test_labels.kept.reindex(probs.index, fill_value=False).to_numpy(dtype=bool)
    n_excluded = int((~kept).sum())
    probs = probs[kept]
    if probs.empty:
        raise InputError(
            f"none of the {len(predictions)} predicted items is kept by the test label set {test_labels.rule!r}; "
            "check that predictions and labels come from the same corpus."
        )
    targets = test_labels.targets.loc[probs.index, classes]
    n_tied = 0
    if test_labels.multilabel:
        y_true = (targets > 0).astype(int)
        predicted = binarize_predictions(probs, binarize)
        table = evaluate(y_true, predicted, classes=classes, n_boot=n_boot, seed=seed, groups=speakers)
    else:
        codes, tied = top_class(targets.to_numpy(dtype=float), tie_policy, seed)
        n_tied = int(tied.sum())
        scored = codes >= 0
        if not scored.any():
            raise InputError(
                f"all {len(probs)} test items of {test_labels.rule!r} have tied top classes and tie_policy 'drop' "
                "leaves them out; choose tie_policy first or random, or a test label set without ties."
            )
        probs, targets, codes = probs[scored], targets[scored], codes[scored]
        names = np.asarray(classes, dtype=object)
        y_true = pd.Series(names[codes], index=probs.index, dtype=STRING)
        y_pred = pd.Series(names[probs.to_numpy().argmax(axis=1)], index=probs.index, dtype=STRING)
        target_values = targets.to_numpy(dtype=float)
        soft = (target_values > 0).sum(axis=1).max() > 1 and _is_distribution(target_values).all()
        with_distributions = soft and _is_distribution(probs.to_numpy(dtype=float)).all()
        table = evaluate(
            y_true,
            y_pred,
            classes=classes,
            target=targets if with_distributions else None,
            probabilities=probs if with_distributions else None,
            n_boot=n_boot,
            seed=seed,
            groups=speakers,
        )
    return table.assign(n_items=len(probs), n_excluded=n_excluded, tie_policy=tie_policy, n_tied=n_tied)


def evaluate_out_of_fold(
    predictions: pd.DataFrame, test_labels: LabelSet, *, n_boot: int = 1000, seed: int = 0, tie_policy: str = "drop"
) -> dict[str, pd.DataFrame]:
    """:func:`evaluate_predictions` pooled over folds (key ``"pooled"``) when every item is predicted once,
    else one table per fold (overlapping test sets, e.g. several predefined split columns)."""
    options = {"n_boot": n_boot, "seed": seed, "tie_policy": tie_policy}
    if not predictions.index.duplicated().any():
        return {"pooled": evaluate_predictions(predictions, test_labels, **options)}
    return {
        str(fold): evaluate_predictions(part, test_labels, **options)
        for fold, part in predictions.groupby("fold", sort=False)
    }


# ====================================================================== run directories
class LabelSource(pydantic.BaseModel):
    """Where a run's training labels came from: a rule applied to the corpus, or a saved label set."""

    model_config = pydantic.ConfigDict(extra="forbid")

    rule: str | None = None
    path: str | None = None
    condition: list[str] | None = None
    pool: bool = False
    options: dict[str, Any] = {}


class FeatureSource(pydantic.BaseModel):
    """Which features a run used: the store entry (path, key, extractor spec, audio config) and, when the
    run extracted them itself, the extractor spec string and options to rebuild the extractor."""

    model_config = pydantic.ConfigDict(extra="forbid")

    path: str
    key: str
    kind: str
    spec: dict[str, Any]
    audio: dict[str, Any]
    extractor: str | None = None
    options: dict[str, Any] = {}
    store: str | None = None


class ProtocolSpec(pydantic.BaseModel):
    """A protocol name and the options of :func:`voxpop.protocols.make_folds`."""

    model_config = pydantic.ConfigDict(extra="forbid")

    name: str
    options: dict[str, Any] = {}


class RunRecord(pydantic.BaseModel):
    """Contents of ``run.yaml``: everything needed to rebuild a run."""

    model_config = pydantic.ConfigDict(extra="forbid")

    format: int = RUN_FORMAT
    name: str
    corpus: str
    where: str | None = None
    labels: LabelSource
    features: FeatureSource
    model: ModelSpec
    protocol: ProtocolSpec
    classes: list[str]
    multilabel: bool
    folds: list[str]
    created: str = ""


def is_label_file(source: str) -> bool:
    """Whether a ``--labels`` value names a saved label set (an existing file or a ``.parquet`` path), not a rule."""
    return Path(source).suffix == ".parquet" or Path(source).is_file()


def resolve_labels(
    corpus: Corpus,
    source: str,
    *,
    condition: Sequence[str] | None = None,
    pool: bool = False,
    **options: Any,
) -> tuple[LabelSet, LabelSource]:
    """A label set from a saved file (``*.parquet``) or a rule of the registry (:mod:`voxpop.rules`) applied to
    ``corpus`` with its ``options`` (ConfigError for rule options given with a saved file)."""
    path = Path(source)
    if is_label_file(source):
        if condition or pool or options:
            given = ", ".join(["--condition"] * bool(condition) + ["--pool"] * pool + [*options])
            raise ConfigError(f"{given} apply to label rules; {source} is a saved label set.")
        return LabelSet.load(path), LabelSource(path=str(path.resolve()))
    if source not in RULES:
        raise ConfigError(
            f"labels {source!r} is neither a label set file (.parquet) nor a rule; the rules are {', '.join(RULES)}."
        )
    chosen = list(condition) if condition else None
    labels = make_labels(corpus, source, condition=chosen, pool=pool, **options)
    return labels, LabelSource(rule=source, condition=chosen, pool=pool, options=options)


def resolve_features(
    corpus: Corpus,
    *,
    store_entry: str | Path | None = None,
    extractor: str | None = None,
    options: Mapping[str, Any] | None = None,
    store: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Features, FeatureSource]:
    """Features from an existing store entry directory, or extracted now with ``extractor`` into ``store``."""
    if (store_entry is None) == (extractor is None):
        raise ConfigError("give either a feature store entry (--features DIR) or an extractor (--extractor SPEC).")
    if store_entry is not None:
        entry = FeatureStore(Path(store_entry))
        features = entry.features()
        source = FeatureSource(
            path=str(entry.path.resolve()),
            key=entry.key,
            kind=features.kind,
            spec=entry.meta["extractor"],
            audio=entry.meta["audio"],
        )
        return features, source
    chosen = make_extractor(extractor, **dict(options or {}))
    features = extract(corpus, chosen, store, progress=progress)
    meta = FeatureStore(features.path).meta
    source = FeatureSource(
        path=str(Path(features.path).resolve()),
        key=features.key,
        kind=features.kind,
        spec=meta["extractor"],
        audio=meta["audio"],
        extractor=extractor,
        options=dict(options or {}),
        store=None if store is None else str(Path(store).resolve()),
    )
    return features, source


def train_run(
    out_dir: str | Path,
    *,
    corpus_path: str | Path,
    where: str | None,
    labels: LabelSet,
    label_source: LabelSource,
    features: Features,
    feature_source: FeatureSource,
    folds: Sequence[Fold],
    protocol: ProtocolSpec,
    spec: ModelSpec,
    progress: Progress | None = None,
) -> CrossValidation:
    """Cross-validate into a run directory: ``run.yaml``, ``labels.parquet``, fold models, predictions."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = RunRecord(
        name=out.name,
        corpus=str(Path(corpus_path).resolve()),
        where=where,
        labels=label_source,
        features=feature_source,
        model=spec,
        protocol=protocol,
        classes=labels.classes,
        multilabel=spec.multilabel,
        folds=[f.name for f in folds],
        created=datetime.datetime.now().isoformat(timespec="seconds"),
    )
    labels.save(out / "labels.parquet")
    result = cross_validate(features, labels, folds, spec, out_dir=out, progress=progress)
    write_text(out / "run.yaml", yaml.safe_dump(record.model_dump(mode="json"), sort_keys=False))
    return result


@dataclasses.dataclass
class Run:
    """A saved run: its record, directory, training labels and pooled out-of-fold predictions."""

    directory: Path
    record: RunRecord

    @property
    def predictions(self) -> pd.DataFrame:
        return load_predictions(self.directory / "predictions.parquet")

    @property
    def labels(self) -> LabelSet:
        return LabelSet.load(self.directory / "labels.parquet")

    def fold_models(self) -> dict[str, FoldModel]:
        return {name: FoldModel.load(_fold_dir(self.directory, name)) for name in self.record.folds}


def find_runs(path: str | Path) -> list[Path]:
    """``path`` itself when it holds ``run.yaml``, else its sub-directories that do (one per head), sorted."""
    path = Path(path)
    if (path / "run.yaml").is_file():
        return [path]
    runs = sorted(p.parent for p in path.glob("*/run.yaml")) if path.is_dir() else []
    if not runs:
        raise InputError(f"{path}: no run.yaml here or in its sub-directories; train a run with 'voxpop train'.")
    return runs


def load_run(directory: str | Path) -> Run:
    """Read a run directory written by :func:`train_run`."""
    directory = Path(directory)
    path = directory / "run.yaml"
    if not path.is_file():
        raise InputError(f"{directory}: no run.yaml; not a voxpop run directory (train one with 'voxpop train').")
    try:
        record = RunRecord.model_validate(parse_yaml(path.read_text()))
    except pydantic.ValidationError as exc:
        raise InputError(f"{path}: not a valid run record ({exc.error_count()} problems): {exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable run record ({exc}); train the run again.") from None
    if record.format != RUN_FORMAT:
        raise InputError(f"{path}: run format {record.format}, expected {RUN_FORMAT}.")
    return Run(directory, record)


# ====================================================================== prediction on new audio
@dataclasses.dataclass
class FilePredictions:
    """Ensemble class probabilities per audio file (index: the file as given) and the skipped files."""

    probabilities: pd.DataFrame
    skipped: pd.DataFrame
    multilabel: bool

    def table(self) -> pd.DataFrame:
        """Per file the decision, then the probabilities: the argmax class, or for sigmoid (multi-label)
        outputs the classes chosen by :func:`binarize_predictions` joined with ``+``."""
        probs = self.probabilities
        if self.multilabel:
            chosen = binarize_predictions(probs).to_numpy(dtype=bool)
            decision = ["+".join(c for c, on in zip(probs.columns, row, strict=True) if on) for row in chosen]
        else:
            decision = list(np.asarray(probs.columns, dtype=object)[probs.to_numpy().argmax(axis=1)])
        return probs.assign(prediction=pd.array(decision, dtype=STRING))[["prediction", *probs.columns]]


def _run_extractor(source: FeatureSource, extractor: str | None, options: Mapping[str, Any] | None):
    if source.extractor is not None and extractor is None:
        chosen = make_extractor(source.extractor, **source.options)
    elif extractor is not None:
        chosen = make_extractor(extractor, **dict(options or {}))
    else:
        raise ConfigError(
            f"the run was trained on the feature store entry {source.path}, which records the extractor spec "
            f"{source.spec} but not how to build it; pass the extractor (e.g. --extractor "
            f"{source.spec.get('extractor')}:... --option KEY=VALUE) that reproduces that spec."
        )
    if chosen.spec() != source.spec:
        differs = sorted(k for k in {*chosen.spec(), *source.spec} if chosen.spec().get(k) != source.spec.get(k))
        raise ConfigError(
            f"extractor {chosen.describe()} differs from the one the run was trained with in {differs} "
            f"(run: {[source.spec.get(k) for k in differs]}, now: {[chosen.spec().get(k) for k in differs]}); "
            "features must be computed exactly as in training (same options and versions)."
        )
    return chosen


def features_of_items(
    source: FeatureSource,
    items: pd.DataFrame,
    classes: Sequence[str],
    score: Callable[[np.ndarray | list[np.ndarray], pd.Index], pd.DataFrame],
    *,
    extractor: str | None = None,
    options: Mapping[str, Any] | None = None,
    store: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features of new items (index: id; column ``audio``, optional ``offset`` / ``duration`` in seconds)
    as ``source`` recorded them, scored by ``score(x, ids)``.

    Features are extracted with the recorded extractor and audio options (noise augmentation excepted:
    new files are used as they are) into ``store`` (default: a temporary store, removed afterwards).
    Returns (probabilities indexed by item, one column per class; skipped items with the reason).
    """
    chosen = _run_extractor(source, extractor, options)
    audio_fields = {f.name for f in dataclasses.fields(AudioOptions)} - {"noise_dir", "snr_db"}
    audio = AudioOptions(**{k: v for k, v in source.audio.items() if k in audio_fields})
    corpus = Corpus("predict", items, pd.DataFrame({"item": [], "label": []}), classes=list(classes))
    with tempfile.TemporaryDirectory(prefix="voxpop-predict-") as tmp:
        features = extract(corpus, chosen, store if store is not None else tmp, audio=audio, progress=progress)
        done = features.items
        if len(done):
            probabilities = score(feature_input(features, done), done)
        else:
            probabilities = pd.DataFrame(columns=list(classes), index=done, dtype=float)
        skipped = features.skipped.copy()
    return probabilities, skipped


def predict_files(
    run_dir: str | Path,
    paths: Sequence[str | Path],
    *,
    store: str | Path | None = None,
    extractor: str | None = None,
    options: Mapping[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FilePredictions:
    """Class probabilities of new audio files: the run's features, each fold model, averaged over folds
    (see :func:`features_of_files`; files whose audio cannot be used are listed in ``skipped``)."""
    run = load_run(run_dir)
    probabilities, skipped = features_of_items(
        run.record.features, file_items(paths), run.record.classes, ensemble_scorer(run), extractor=extractor,
        options=options, store=store, progress=progress,
    )  # fmt: skip
    return FilePredictions(probabilities.rename_axis("file"), skipped.rename_axis("file"), run.record.multilabel)


def file_items(paths: Sequence[str | Path]) -> pd.DataFrame:
    """An item table for audio files given by path: id = the path as given, ``audio`` = the resolved path."""
    if not paths:
        raise ConfigError("give at least one audio file to predict.")
    ids = [str(p) for p in paths]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"audio files are listed more than once: {sorted({i for i in ids if ids.count(i) > 1})}.")
    return pd.DataFrame({"audio": [str(Path(p).resolve()) for p in paths]}, index=pd.Index(ids, name="item"))


def ensemble_scorer(run: Run) -> Callable[[np.ndarray | list[np.ndarray], pd.Index], pd.DataFrame]:
    """``score(x, ids)``: the mean of the run's fold models' probabilities, one column per run class."""
    models = run.fold_models()
    classes = run.record.classes

    def score(x: np.ndarray | list[np.ndarray], items: pd.Index) -> pd.DataFrame:
        per_fold = {
            name: pd.DataFrame(model.predict_proba(x), index=items, columns=classes) for name, model in models.items()
        }
        return average_probabilities(per_fold)

    return score


# ====================================================================== late fusion of prediction tables
@dataclasses.dataclass
class LateFusion:
    """Dirichlet late fusion chosen on the dev items and applied to the other items.

    ``fusion``: the chosen weights and the validation UAR of every candidate; ``dev_items``: the items
    the weights were chosen on; ``fused``: fused scores of every other common item (class columns and
    ``fold``); ``dropped``: per input, its items missing from some other input (left out of both sets).
    """

    fusion: Fusion
    dev_items: pd.Index
    fused: pd.DataFrame
    dropped: dict[str, int]


def late_fusion(
    predictions: Mapping[str, pd.DataFrame], dev_labels: LabelSet, *, n_draws: int = 1000, seed: int = 0
) -> LateFusion:
    """Fuse several models' predictions with :func:`voxpop.analysis.dirichlet_fusion`.

    Items predicted by every input are split into dev items (kept by the single-label ``dev_labels``;
    the weights are chosen there by UAR against their argmax class) and the rest, to which the chosen
    weights are applied. The output's ``fold`` column comes from the first input that has one.
    """
    if len(predictions) < 2:
        raise ConfigError(f"late fusion needs at least two prediction tables, got {len(predictions)}.")
    if dev_labels.multilabel:
        raise ConfigError(
            f"dev labels {dev_labels.rule!r} are multi-label; fusion weights are chosen by single-label UAR, "
            "so give a single-label dev label set (e.g. mr or pr)."
        )
    classes = dev_labels.classes
    for name, table in predictions.items():
        missing = [c for c in classes if c not in table.columns]
        if missing:
            raise InputError(f"{name}: no column for classes {missing} of the dev labels ({', '.join(classes)}).")
        duplicated = table.index[table.index.duplicated()].unique()
        if len(duplicated):
            raise InputError(f"{name}: items predicted more than once (e.g. {list(duplicated[:3])}); keep one fold.")
    common = next(iter(predictions.values())).index
    for table in predictions.values():
        common = common[common.isin(table.index)]
    dropped = {name: len(table) - len(common) for name, table in predictions.items()}
    is_dev = dev_labels.kept.reindex(common, fill_value=False).to_numpy(dtype=bool)
    dev, rest = common[is_dev], common[~is_dev]
    if not len(dev) or not len(rest):
        raise InputError(
            f"of {len(common)} items predicted by every input, {len(dev)} are kept by the dev labels and "
            f"{len(rest)} are not; fusion needs both dev items (to choose weights) and other items (to apply them)."
        )
    names = np.asarray(classes, dtype=object)
    truth = pd.Series(names[dev_labels.targets.loc[dev, classes].to_numpy().argmax(axis=1)], index=dev, dtype=STRING)
    fusion = dirichlet_fusion(
        {n: t.loc[dev, classes] for n, t in predictions.items()}, truth, n_draws=n_draws, seed=seed
    )
    fused = fusion.apply({n: t.loc[rest, classes] for n, t in predictions.items()})
    folds = next((t.loc[rest, "fold"] for t in predictions.values() if "fold" in t.columns), None)
    fused["fold"] = pd.array(["fused"] * len(rest), dtype=STRING) if folds is None else folds.to_numpy()
    return LateFusion(fusion, dev, fused, dropped)
