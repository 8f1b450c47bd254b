"""Cross-validated runs: train a head on features + a LabelSet under protocol folds, predict every test
item, and run a saved run's fold models on new audio (predictions: :mod:`voxpop.evaluation.predictions`; scoring
them: :mod:`voxpop.evaluation.results`).

- :func:`cross_validate` trains one model per fold on the fold's train items that the label set KEEPS
  and that have features (early stopping on the kept dev items) and predicts EVERY test item that has
  features, whatever the train rule kept, so the pooled out-of-fold predictions can be scored against
  other test label sets (cross-testing). With ``out_dir`` each fold is saved and a rerun resumes. The label
  set's ``kind`` chooses the task: classes (probabilities per class) or dimensions (one regressor output per
  dimension, on the targets' scale); both save their fold models the same way.
- Runs (a study's trained models, :mod:`voxpop.models.saved_runs`) and their use on new audio
  (:mod:`voxpop.models.inference`) live in their own modules; training always goes through the stage graph
  (:mod:`voxpop.study.run`), for ``voxpop train`` as for ``voxpop run``.

Neural heads see features standardised per dimension with the mean and standard deviation of the
fold's training items (``ModelSpec.standardize``; :class:`~voxpop.models.model_input.Standardizer`); the
statistics are saved with each fold model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from voxpop.core.cache import output_directory, parse_json, write_text
from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.corpus import STRING
from voxpop.evaluation import Predictions, load_predictions, save_predictions
from voxpop.features import Features
from voxpop.labels import ContinuousLabelSet, LabelSet
from voxpop.models.fold_records import fold_record, verify_folds
from voxpop.models.model_input import Standardizer, feature_input
from voxpop.models.protocols import Fold, require_dev
from voxpop.models.run_checks import fold_folder
from voxpop.models.specs import RATER_HEADS, ModelSpec, TrainConfig, validated_options

if TYPE_CHECKING:
    from voxpop.labels.rater_votes import RaterVotes
    from voxpop.models.trained_model import TrainedModel

Progress = Callable[[int, int], None]
"""Called with (folds done, folds in all); first with (0, total)."""

FOLD_FORMAT = 1
DROP_REASONS = ("train_no_features", "train_not_kept", "dev_no_features", "dev_not_kept", "test_no_features")
_SPEED_ONLY = {"progress_bar", "num_workers"}  # TrainConfig fields that do not change numbers


# ====================================================================== fold models
def standardizes(spec: ModelSpec) -> bool:
    """Whether fold models of ``spec`` standardise their input (never for backbone fine-tuning, which reads audio)."""
    return spec.standardize and spec.train.backbone is None


@dataclasses.dataclass
class FoldModel:
    """One fold's trained model with the standardisation of its input (None: raw features)."""

    model: TrainedModel
    standardizer: Standardizer | None

    def predict_proba(self, x: np.ndarray | list[np.ndarray]) -> np.ndarray:
        return self.model.predict_proba(self.standardizer.apply(x) if self.standardizer else x)

    def predict(self, x: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """Regression outputs (items x dimensions, on the targets' scale) of standardised ``x``."""
        return self.model.predict(self.standardizer.apply(x) if self.standardizer else x)

    def rater_proba(self, x: np.ndarray | list[np.ndarray], rater: str) -> np.ndarray:
        """Rater output ``rater``'s class probabilities of standardised ``x``
        (:meth:`~voxpop.models.trained_model.TrainedModel.predict_rater_proba`)."""
        return self.model.predict_rater_proba(self.standardizer.apply(x) if self.standardizer else x, rater)

    def outputs(self, x: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """What the model predicts, by its kind: dimension values of a regressor (:meth:`predict`), else class
        probabilities (:meth:`predict_proba`); items x outputs in the run's column order."""
        return self.predict(x) if self.model.spec.regression else self.predict_proba(x)

    def save(self, directory: Path) -> None:
        self.model.save(directory)
        if self.standardizer is not None:
            self.standardizer.save(directory / "standardize.npz")

    @classmethod
    def load(cls, directory: Path, standardized: bool | None = None) -> FoldModel:
        """The fold model :meth:`save` wrote in ``directory``.

        Args:
            directory: the fold's folder (``model.json``, the weights or estimator, ``standardize.npz``).
            standardized: whether the model was trained on standardised input (:func:`standardizes` of its
                spec); then a missing ``standardize.npz`` is damage. None: use the file when present.

        Raises:
            InputError: a file is missing or damaged (naming it); see :meth:`TrainedModel.load`.
        """
        from voxpop.models.trained_model import (
            TrainedModel,  # torch and Lightning: only where models are trained or read
        )

        path = directory / "standardize.npz"
        standardized = path.is_file() if standardized is None else standardized
        return cls(TrainedModel.load(directory), Standardizer.load(path) if standardized else None)


# ====================================================================== cross-validation
@dataclasses.dataclass
class CrossValidation:
    """Out-of-fold results of :func:`cross_validate`.

    Attributes:
        predictions: DataFrame indexed by item (items x classes): one probability column per class (class order),
            or one predicted value per dimension on the targets' scale (continuous label sets), and a ``fold``
            column.
        histories: per fold the per-epoch training history (epochs x logged quantities).
        layer_weights: folds x layers softmax weights of a layer-weighted sum (None without one).
        dropped: folds x :data:`DROP_REASONS` item counts.
        sizes: folds x (train, dev, test) items used.
        multilabel: whether the outputs are sigmoid (multi-label) probabilities.
        models: ``{fold: FoldModel}``, the fold models.
        resumed: the folds loaded from ``out_dir`` instead of trained.
        dev_predictions: each fold model's outputs on its own dev items (class columns + ``fold``), when asked
            for, else None.
        kind: ``categorical`` or ``continuous``, the label set's kind.
        best_epochs: per fold the epoch whose weights were kept (early stopping), -1 without one (classical heads).
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
    kind: str = "categorical"
    best_epochs: dict[str, int] = dataclasses.field(default_factory=dict)
    """Per fold the epoch whose weights were kept (early stopping), -1 without one (classical heads)."""

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
    fold: Fold | None = None
    """The fold these items come from (its ``dev_missing`` is checked before a model early-stops on it)."""


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
    return FoldItems(parts["train"], parts["dev"], parts["test"], {r: dropped[r] for r in DROP_REASONS}, fold)


def _digest(ids: pd.Index, targets: pd.DataFrame | None = None) -> str:
    """sha256 of item ids (in order) and, when given, their float64 targets."""
    digest = hashlib.sha256("\n".join(map(str, ids)).encode())
    if targets is not None:
        digest.update(np.ascontiguousarray(targets.loc[ids].to_numpy(np.float64)).tobytes())
    return digest.hexdigest()


def _fold_fingerprint(
    spec: ModelSpec,
    features: Features,
    labels: LabelSet | ContinuousLabelSet,
    items: FoldItems,
    votes: RaterVotes | None = None,
) -> dict[str, str]:
    """What a saved fold was trained on: spec, features key, train / dev items with targets, test items (and a
    rater-aware head's per-rater votes)."""
    if spec.classical:  # loss and training options do not apply
        numbers = {
            **spec.model_dump(mode="json", include={"head", "head_options", "standardize"}),
            "seed": spec.train.seed,
        }
    else:
        numbers = spec.model_dump(mode="json", exclude={"train": _SPEED_ONLY})
    fingerprint = {
        "spec": hashlib.sha256(json.dumps(numbers, sort_keys=True).encode()).hexdigest(),
        "features": features.key,
        "train": _digest(items.train, labels.targets),
        "dev": _digest(items.dev, labels.targets),
        "test": _digest(items.test),
    }
    if votes is not None:
        fingerprint["raters"] = votes.digest()
    return fingerprint


def _load_fold(
    directory: Path, fingerprint: dict[str, str], standardized: bool | None, name: str, classes: list[str]
) -> tuple[FoldModel, pd.DataFrame] | None:
    """A completed fold (fold.json is written last), or None; a fold trained on other inputs is an error.

    An unreadable fold.json (damaged, or a symlink) counts as a fold not yet computed.
    A fold whose classical head an older voxpop saved as a pickle, or whose model files are damaged, is
    not computed (None, and its fold.json is removed): it is trained again, and a pickle is never read, as is one
    whose file differs from its recorded SHA-256; a file of another fold, or a fold folder of another fold or run, is
    a FoldRecordError (:func:`~voxpop.models.fold_records.verify_folds`).
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
    stage = directory.parent.parent
    changed = verify_folds({name: directory}, stage.name, classes, source=str(directory.parent), root=stage)
    try:
        model = FoldModel.load(directory, standardized)
    except InputError:  # a pickled head of an older voxpop, or a damaged model file: trained again
        changed[name] = []
    if name in changed:  # damaged, or changed after training: trained again
        record_path.unlink()
        return None
    return model, load_predictions(directory / "predictions.parquet").table


def _train_fold(
    spec: ModelSpec,
    features: Features,
    labels: LabelSet | ContinuousLabelSet,
    items: FoldItems,
    name: str,
    votes: RaterVotes | None = None,
) -> FoldModel:
    if not len(items.train):
        skipped = getattr(features, "skipped", None)
        why = ""
        if skipped is not None and len(skipped):  # why the extractor left items out (too short, unreadable ...)
            reasons = ", ".join(f"{r}: {n}" for r, n in skipped["reason"].value_counts().items())
            why = f"; the feature store skipped {len(skipped)} items ({reasons}; first: {skipped['message'].iat[0]})"
        raise ConfigError(
            f"fold {name!r}: no training item has features and is kept by the label set "
            f"(dropped: {items.dropped}){why}; check the protocol, the label rule and the feature store."
        )
    if labels.kind == "continuous":  # kept items have a value for every dimension
        return fit_fold(spec, features, labels.targets, items, classical_loss="mse")
    present = labels.targets.loc[items.train].to_numpy().sum(axis=0) > 0
    if not spec.multilabel and present.sum() < 2:
        raise ConfigError(
            f"fold {name!r}: the {len(items.train)} training items cover only class(es) "
            f"{[c for c, p in zip(labels.classes, present, strict=True) if p]}; a model needs at least two classes "
            "(use more speakers per fold or fewer folds)."
        )
    return fit_fold(spec, features, labels.targets, items, classical_loss="ce", votes=votes)


def fit_fold(
    spec: ModelSpec,
    features: Features,
    targets: pd.DataFrame,
    items: FoldItems,
    classical_loss: str,
    votes: RaterVotes | None = None,
) -> FoldModel:
    """Train ``spec`` on a fold's train items, early-stopping on its dev items (none: no early stopping).

    ``targets``: items x classes (distributions / multi-hot) or items x dimensions (regression). Features are
    standardised with the train items' statistics (``spec.standardize``; never for backbone fine-tuning, which
    reads waveforms). Classical heads train with ``classical_loss`` and no progress bar. A neural head that
    early-stops on a fold whose protocol named no development items is refused (:func:`~voxpop.models.protocols.
    require_dev`: ConfigError offering a development share or no early stopping) instead of training every epoch.
    A rater-aware head (``per_rater``, ``crowd_layer``) learns the per-rater targets of the fold's training items
    built from ``votes`` (:meth:`voxpop.labels.rater_votes.RaterVotes.targets`, with the head's
    ``min_ratings_per_rater``; what they counted is kept in the model's ``spec.rater_counts``).
    """
    from voxpop.models.training import fit

    if items.fold is not None:
        require_dev(items.fold, early_stops=not spec.classical and spec.train.patience is not None)

    x = feature_input(features, items.train)
    standardizer = Standardizer.fit(x) if standardizes(spec) else None
    scale = standardizer.apply if standardizer else (lambda v: v)
    dev = (scale(feature_input(features, items.dev)), targets.loc[items.dev]) if len(items.dev) else (None, None)
    if spec.classical:
        loss, loss_options, config = classical_loss, {}, TrainConfig(seed=spec.train.seed, progress_bar=False)
    else:
        loss, loss_options, config = spec.loss, spec.loss_options, spec.train
    raters: dict = {}
    if spec.head in RATER_HEADS:
        if votes is None:
            raise ConfigError(
                f"head {spec.head!r} learns each rater's votes: give cross_validate the corpus's votes "
                "(voxpop.labels.rater_votes.rater_votes(corpus, labels)); voxpop train and voxpop run do."
            )
        minimum = validated_options("head", spec.head, spec.head_options)["min_ratings_per_rater"]
        rater_targets, names, counts = votes.targets(items.train, minimum)
        raters = {"rater_targets": rater_targets, "raters": names}
    model = fit(
        scale(x),
        targets.loc[items.train],
        *dev,
        head=spec.head,
        loss=loss,
        config=config,
        head_options=spec.head_options,
        loss_options=loss_options,
        **raters,
    )
    if raters:
        model.spec.rater_counts = {**counts, "ratings_outside_classes": votes.outside}
    return FoldModel(model, standardizer)


def _check_task(spec: ModelSpec, labels: LabelSet | ContinuousLabelSet, features: Features) -> None:
    if labels.kind == "continuous" and not spec.regression:
        raise ConfigError(
            f"label set {labels.rule!r} holds dimensions {labels.names}, but head {spec.head!r} / loss {spec.loss!r} "
            "classifies; regress them with head svr or ridge, or a neural head with loss mse or ccc."
        )
    if labels.kind == "categorical" and spec.regression:
        raise ConfigError(
            f"label set {labels.rule!r} holds classes, but head {spec.head!r} / loss {spec.loss!r} regresses; "
            "train classes with a classification loss (ce, ...) or a classical classifier (svm, logreg)."
        )
    if labels.multilabel and not spec.multilabel:
        raise ConfigError(
            f"label set {labels.rule!r} is multi-label (multi-hot targets) but loss {spec.loss!r} / head "
            f"{spec.head!r} needs one distribution per item; train with a sigmoid loss (bce, wbce) and a neural head."
        )
    if labels.segments is not None and not features.items.isin(labels.targets.index).any():
        raise ConfigError(
            f"label set {labels.rule!r} labels segment items (recording, start, end), but none of the "
            f"{len(features.items)} feature items is a segment; extract the features (and make the folds) from "
            "voxpop.labels.segments.segment_corpus(corpus, labels), whose items are the segments' audio windows."
        )
    if spec.train.backbone is not None and features.names != ["sample"]:
        raise ConfigError(
            f"model backbone {spec.train.backbone.path!r} fine-tunes on raw audio, but the features are "
            f"{features.kind} {features.names[:3]}...; extract them with the 'waveform' extractor "
            f"(recipe: features.extractor: waveform:{spec.train.backbone.path}; CLI: --backbone sets it)."
        )


def cross_validate(
    features: Features,
    labels: LabelSet | ContinuousLabelSet,
    folds: Sequence[Fold],
    spec: ModelSpec,
    *,
    out_dir: str | Path | None = None,
    progress: Progress | None = None,
    dev_predictions: bool = False,
    votes: RaterVotes | None = None,
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
    other inputs is an error. A continuous label set (``labels.kind``) trains regressors (``spec.regression``:
    head ``svr`` / ``ridge`` or a neural head with loss ``mse`` / ``ccc``) whose predictions are one value per
    dimension on the targets' scale.

    Args:
        features: the feature store entry of the corpus's items (pooled vectors, per-layer means or frames).
        labels: the training label set (categorical or continuous); its ``kept`` items train and early-stop.
        folds: the protocol's folds (:func:`voxpop.models.protocols.make_folds`), with unique names.
        spec: the head, loss and training settings.
        out_dir: the folder to save each fold and the pooled predictions in (and to resume from); None keeps
            everything in memory.
        progress: called as ``progress(done, total)`` with the number of folds done, 0 first.
        dev_predictions: also predict each fold's own dev items with its model (classical heads then hold the
            dev items out of training too).
        votes: each rater's votes (:func:`voxpop.labels.rater_votes.rater_votes`), needed by the rater-aware heads
            ``per_rater`` and ``crowd_layer`` (their per-rater targets come from each fold's training items only).

    Returns:
        The :class:`CrossValidation`: pooled out-of-fold ``predictions`` (items x classes, probabilities; or items
        x dimensions on the targets' scale), per-fold histories, sizes, dropped counts and fold models.

    Raises:
        ConfigError: no folds or repeated fold names, a head / loss that does not fit the label set's kind
            (classes or dimensions; multi-label targets), a fold without training items (or, for classes,
            with fewer than two classes), a neural head that early-stops on a fold without development items
            (:func:`~voxpop.models.protocols.require_dev`), segment labels without segment features, a backbone
            without waveform features, or a saved fold trained on other inputs.
        InputError: a resumed fold's saved predictions file is unreadable.
    """
    if not folds:
        raise ConfigError("cross_validate needs at least one fold; make them with voxpop.models.protocols.make_folds.")
    names = [f.name for f in folds]
    if len(set(names)) != len(names):
        raise ConfigError(f"fold names must be unique, got {names}.")
    _check_task(spec, labels, features)
    classes, kind = labels.names, labels.kind
    out = Path(out_dir) if out_dir is not None else None
    predictions, histories, weights, dropped, sizes, models, resumed, best = [], {}, {}, {}, {}, {}, [], {}
    dev_tables = []
    if progress:
        progress(0, len(folds))
    for done, fold in enumerate(folds, start=1):
        items = fold_items(fold, features.items, labels.kept, hold_out_dev=dev_predictions or not spec.classical)
        dropped[fold.name] = items.dropped
        sizes[fold.name] = {"train": len(items.train), "dev": len(items.dev), "test": len(items.test)}
        fingerprint = _fold_fingerprint(spec, features, labels, items, votes if spec.head in RATER_HEADS else None)
        directory = fold_folder(out, fold.name) if out is not None else None
        loaded = _load_fold(directory, fingerprint, standardizes(spec), fold.name, classes) if directory else None
        if loaded is not None:
            fold_model, fold_predictions = loaded
            resumed.append(fold.name)
        else:
            fold_model = _train_fold(spec, features, labels, items, fold.name, votes)
            fold_predictions = _predict_items(fold_model, features, items.test, classes, fold.name)
            if directory is not None:
                output_directory(out, "folds", directory.name)
                fold_model.save(directory)
                table = Predictions(fold_predictions, spec.multilabel, kind)
                save_predictions(table, directory / "predictions.parquet")
                record = {"format": FOLD_FORMAT, "fold": fold.name, "fingerprint": fingerprint, **sizes[fold.name]}
                described = {"key": features.key, **fold_model.model.spec.input.model_dump()}
                record.update(fold_record(directory, out.name, classes, described))
                write_text(directory / "fold.json", json.dumps(record, indent=1))
        if dev_predictions:  # a resumed fold reads its saved dev predictions; a new one predicts (and saves)
            dev_path = directory / "dev_predictions.parquet" if directory is not None else None
            if loaded is not None and dev_path is not None and dev_path.is_file():
                dev_tables.append(load_predictions(dev_path).table)
            else:
                dev_tables.append(_predict_items(fold_model, features, items.dev, classes, fold.name))
                if dev_path is not None:
                    save_predictions(Predictions(dev_tables[-1], spec.multilabel, kind), dev_path)
        models[fold.name] = fold_model
        predictions.append(fold_predictions)
        histories[fold.name] = pd.DataFrame(fold_model.model.history)
        best[fold.name] = -1 if fold_model.model.best_epoch is None else int(fold_model.model.best_epoch)
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
        kind=kind,
        best_epochs=best,
    )
    if out is not None:
        save_predictions(Predictions(pooled, spec.multilabel, kind), out / "predictions.parquet")
        if result.dev_predictions is not None:
            dev = Predictions(result.dev_predictions, spec.multilabel, kind)
            save_predictions(dev, out / "dev_predictions.parquet")
        write_text(out / "folds.csv", result.sizes.join(result.dropped).to_csv())
    return result


def _predict_items(
    fold_model: FoldModel, features: Features, items: pd.Index, classes: list[str], fold: str
) -> pd.DataFrame:
    """A fold model's outputs on ``items`` (:meth:`FoldModel.outputs`: class probabilities or dimension values) in
    the columns ``classes``, and a ``fold`` column, indexed by item."""
    probs = fold_model.outputs(feature_input(features, items)) if len(items) else None
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
