"""A trained model and what it reads: the input spec (vectors, per-layer matrices, frame sequences, audio),
:class:`TrainedModel` (a torch head, or a classical estimator saved with skops) with save / load / predict.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pydantic
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from voxpop.core.cache import atomic_write, parse_json, write_bytes, write_text
from voxpop.core.errors import ConfigError, InputError
from voxpop.core.formatting import excerpt
from voxpop.core.safe_load import check_archive_size, check_model_folder, load_torch_weights
from voxpop.models.batching import ItemTensors, batching, epoch_batches
from voxpop.models.fold_records import LEGACY_ESTIMATOR_FILE
from voxpop.models.heads import BackboneClassifier, LayerWeightedSum, build_head
from voxpop.models.rater_heads import rater_logits
from voxpop.models.specs import CLASSICAL, TrainConfig

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)


InputKind = Literal["vector", "layers", "frames", "layer_frames", "audio"]


_TIME_AXIS: dict[str, int | None] = {"vector": None, "layers": None, "frames": 0, "layer_frames": 1, "audio": 0}


_FORMAT = 1


def _frame_axis(kind: InputKind) -> int | None:
    """The time axis that length buckets bound (frame sequences); None for vectors and raw audio (samples)."""
    return _TIME_AXIS[kind] if kind in ("frames", "layer_frames") else None


ESTIMATOR_FILE = "estimator.skops"




# What a fitted classical head holds beyond skops' default trusted types (scikit-learn estimators, numpy,
# scipy): skops.io.get_untrusted_types on fitted svm and logreg pipelines, with and without PCA, lists
# exactly these two private classes of CalibratedClassifierCV (the svm's Platt scaling).
TRUSTED_TYPES = ["sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration"]


class LegacyModelError(InputError):
    """A model directory whose classical head is a pickle (``estimator.pkl``): never loaded; retrain it."""


class InputSpec(pydantic.BaseModel):
    """What kind of input a model was trained on: kind, feature dimension D and number of layers L."""

    kind: InputKind
    dim: int | None = None
    n_layers: int | None = None


class TrainedSpec(pydantic.BaseModel):
    """Everything needed to rebuild a trained model (written to ``model.json``); the recipe-level choice of
    head, loss and training options is :class:`voxpop.models.cross_validation.ModelSpec`."""

    head: str
    head_options: dict[str, Any]
    loss: str
    loss_options: dict[str, Any]
    multilabel: bool
    input: InputSpec
    n_classes: int
    classes: list[str] | None
    config: TrainConfig
    regression: bool = False  # outputs are values of the dimensions ``classes`` (n_classes of them)
    n_dimensions: int = 0  # multi-task (loss multitask): the last n_dimensions of the n_classes outputs are values
    # a neural regressor learns z-scored targets (y - target_mean) / target_scale, per dimension
    target_mean: list[float] | None = None
    target_scale: list[float] | None = None
    # a rater-aware head (per_rater, crowd_layer): its rater outputs' names (rater ids, then "other raters") and
    # what building the per-rater targets counted (voxpop.labels.rater_votes.RaterVotes.targets)
    raters: list[str] | None = None
    rater_counts: dict[str, int] | None = None


def describe_input(x: Any, name: str) -> InputSpec:
    """Classify ``x`` as vectors ``(N, D)``, layers ``(N, L, D)``, frames, per-layer frames or audio.

    >>> describe_input(np.zeros((4, 2, 8)), "train_x")
    InputSpec(kind='layers', dim=8, n_layers=2)
    >>> describe_input([np.zeros((5, 3)), np.zeros((2, 3))], "train_x")
    InputSpec(kind='frames', dim=3, n_layers=None)
    """
    if isinstance(x, np.ndarray | torch.Tensor):
        if x.ndim == 2:
            return InputSpec(kind="vector", dim=x.shape[1])
        if x.ndim == 3:
            return InputSpec(kind="layers", dim=x.shape[2], n_layers=x.shape[1])
        raise InputError(f"{name}: expected an array (N, D) or (N, L, D), got shape {tuple(x.shape)}.")
    if not isinstance(x, Sequence) or len(x) == 0:
        raise InputError(f"{name}: expected an array or a non-empty list of per-item arrays, got {type(x).__name__}.")
    ndims = {np.ndim(a) for a in x}
    if len(ndims) != 1 or not ndims <= {1, 2, 3}:
        raise InputError(
            f"{name}: per-item arrays must all be 1-D audio, 2-D (T, D) frames or 3-D (L, T, D) layer frames; "
            f"found dimensions {sorted(ndims)}."
        )
    kind: InputKind = {1: "audio", 2: "frames", 3: "layer_frames"}[ndims.pop()]
    axis = _TIME_AXIS[kind]
    shapes = {tuple(np.shape(a)[:axis] + np.shape(a)[axis + 1 :]) for a in x}
    for i, a in enumerate(x):
        if np.shape(a)[axis] == 0:
            raise InputError(f"{name}: item at position {i} has no frames / samples; drop it or fix its features.")
    if len(shapes) != 1:
        raise InputError(f"{name}: per-item arrays differ in their non-time dimensions: {sorted(shapes)[:5]}.")
    shape = shapes.pop()
    if kind == "audio":
        return InputSpec(kind=kind)
    return InputSpec(kind=kind, dim=shape[-1], n_layers=shape[0] if kind == "layer_frames" else None)


class _Items(Dataset):
    """Item i -> (i, item id, float32 features, targets or None, per-rater targets or None); converts float16 /
    memmap rows lazily."""

    def __init__(self, x: Any, y: np.ndarray | None, ids: list[Any], rater_targets: np.ndarray | None = None) -> None:
        self.x, self.y, self.ids, self.rater_targets = x, y, ids, rater_targets

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[int, Any, np.ndarray, np.ndarray | None, np.ndarray | None]:
        y = None if self.y is None else self.y[i]
        raters = None if self.rater_targets is None else self.rater_targets[i]
        return i, self.ids[i], np.array(self.x[i], dtype=np.float32), y, raters


def _collate(batch: list[tuple], kind: InputKind, name: str) -> dict[str, torch.Tensor | None]:
    """Stack vectors, or zero-pad sequences along their time axis and return the validity mask (and positions);
    per-rater targets (items x rater outputs x classes) ride along as ``rater_targets`` when the items carry them."""
    index, ids, xs, ys, raters = zip(*batch, strict=True)
    axis = _TIME_AXIS[kind]
    mask = None
    if axis is None:
        x = torch.from_numpy(np.stack(xs))
    else:
        lengths = torch.tensor([a.shape[axis] for a in xs])
        shape = list(xs[0].shape)
        shape[axis] = int(lengths.max())
        x = torch.zeros(len(xs), *shape)
        for b, a in enumerate(xs):
            x[b].narrow(axis, 0, a.shape[axis]).copy_(torch.from_numpy(a))
        mask = torch.arange(shape[axis])[None, :] < lengths[:, None]
    if not (finite := torch.isfinite(x.flatten(1)).all(dim=1)).all():
        bad = [str(ids[b]) for b in torch.nonzero(~finite).flatten().tolist()]
        raise InputError(f"{name}: item {', '.join(bad)} has NaN or infinite feature values; re-extract or drop it.")
    y = None if ys[0] is None else torch.from_numpy(np.stack(ys))
    out = {"x": x, "mask": mask, "y": y, "index": torch.tensor([int(i) for i in index])}
    if raters[0] is not None:
        out["rater_targets"] = torch.from_numpy(np.stack(raters))
    return out


def _loader(
    x: Any,
    y: np.ndarray | None,
    ids: list[Any],
    kind: InputKind,
    name: str,
    rater_targets: np.ndarray | None = None,
    **kwargs: Any,
) -> DataLoader:
    items = _Items(x, y, ids, rater_targets)
    return DataLoader(items, collate_fn=functools.partial(_collate, kind=kind, name=name), **kwargs)


def resolve_precision(requested: str, accelerator: str = "auto") -> str:
    """Lightning's precision for ``requested`` on the device in use.

    ``auto`` -> ``bf16-mixed`` on a CUDA GPU with bfloat16 (``16-mixed`` without), else ``32-true``.
    ``bf16-mixed`` runs bfloat16 autocast on a CUDA GPU that supports it or on the CPU (torch's CPU
    autocast); on an older GPU it falls back to ``16-mixed`` with a warning. ``16-mixed`` needs a CUDA GPU
    (:class:`~voxpop.core.errors.ConfigError` otherwise).

    >>> resolve_precision("auto", accelerator="cpu"), resolve_precision("bf16-mixed", accelerator="cpu")
    ('32-true', 'bf16-mixed')
    """
    cuda = torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")
    bf16 = not cuda or torch.cuda.is_bf16_supported()
    if requested == "auto":
        return ("bf16-mixed" if bf16 else "16-mixed") if cuda else "32-true"
    if requested == "bf16-mixed" and not bf16:
        log.warning("precision bf16-mixed: this GPU has no bfloat16 support; using 16-mixed")
        return "16-mixed"
    if requested == "16-mixed" and not cuda:
        raise ConfigError(
            f"precision '16-mixed' needs a CUDA GPU and none is in use (accelerator {accelerator!r}); "
            "use 'auto', 'bf16-mixed' (CPU autocast) or '32-true'."
        )
    return requested


@contextlib.contextmanager
def _keep_torch_flags() -> Iterator[None]:
    """Restore the deterministic-algorithm flags that ``L.Trainer(deterministic=...)`` sets process-wide."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


@contextlib.contextmanager
def _quiet(enabled: bool) -> Iterator[None]:
    """Silence Lightning's info messages and its data-loader hints while ``enabled``."""
    if not enabled:
        yield
        return
    logger = logging.getLogger("lightning.pytorch")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*")
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")  # lightning 2.6 vs torch 2.13 notice
            yield
    finally:
        logger.setLevel(level)


def _build_network(spec: TrainedSpec, backbone: nn.Module | None = None) -> nn.Module:
    n_raters = len(spec.raters) if spec.raters is not None else None
    if spec.input.kind == "audio":
        assert backbone is not None and spec.config.backbone is not None
        head = build_head(spec.head, backbone.config.hidden_size, spec.n_classes, n_raters, **spec.head_options)
        b = spec.config.backbone
        return BackboneClassifier(
            backbone,
            head,
            trainable_layers=b.trainable_layers,
            normalize_audio=bool(b.normalize_audio),
            pass_attention_mask=b.pass_attention_mask,
        )
    head = build_head(spec.head, spec.input.dim, spec.n_classes, n_raters, **spec.head_options)
    if head.frame_level and spec.input.kind in ("vector", "layers"):
        raise ConfigError(
            f"head {spec.head!r} works on frame sequences; the input is pooled {spec.input.kind} "
            "(pass a list of (T, D) frame arrays, or choose linear, mlp or residual)."
        )
    return LayerWeightedSum(spec.input.n_layers, head) if spec.input.n_layers else head


def _as_features(x: Any, name: str, item_ids: pd.Index | None = None) -> Any:
    """A features DataFrame (items x D) as a float32 array, after checking its index against the targets'."""
    if not isinstance(x, pd.DataFrame):
        return x
    if item_ids is not None and not x.index.equals(item_ids):
        extra = x.index.difference(item_ids)[:5].tolist()
        missing = item_ids.difference(x.index)[:5].tolist()
        raise InputError(
            f"{name}: its item index differs from the targets' index (only in features: {extra}; only in targets: "
            f"{missing}; or a different order); align both tables on the same items in the same order."
        )
    return x.to_numpy(dtype=np.float32)


def as_waveforms(x: Any) -> Any:
    """Per-item ``(S, 1)`` arrays (the ``waveform`` extractor's frames) as 1-D waveforms; anything else as is.

    >>> [a.shape for a in as_waveforms([np.zeros((5, 1)), np.zeros((3, 1))])]
    [(5,), (3,)]
    """
    if isinstance(x, Sequence) and len(x) and all(np.ndim(a) == 2 and np.shape(a)[1] == 1 for a in x):
        return [np.asarray(a)[:, 0] for a in x]
    return x


def _load_estimator(directory: Path, head: str) -> Pipeline:
    """The classical head saved in ``directory`` by :meth:`TrainedModel.save` (see :meth:`TrainedModel.load`)."""
    path = directory / ESTIMATOR_FILE
    if not path.is_file():
        if (directory / LEGACY_ESTIMATOR_FILE).is_file():
            raise LegacyModelError(
                f"{directory / LEGACY_ESTIMATOR_FILE}: this {head} model was saved by an older voxpop as a pickle, "
                "which can run code when loaded, so voxpop does not read it. Retrain it: repeat the 'voxpop train' "
                "command that wrote the run, with the same --out (folds saved as pickles are trained again, the others "
                "are reused), or 'voxpop run RECIPE' for a study."
            )
        raise InputError(f"{path}: not found; the {head} model directory is incomplete (retrain it).")
    check_archive_size(path, "skops model file", "retrain the model")  # read from the zip directory only
    import skops.io  # imports all of scikit-learn (seconds): only where a classical head is read or written
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        estimator = skops.io.load(path, trusted=TRUSTED_TYPES)
    except UntrustedTypesFoundException as exc:
        raise InputError(
            f"{path}: holds types voxpop does not load ({exc}); a voxpop {head} model holds only scikit-learn "
            "pipelines. Retrain the model instead of using this file."
        ) from None
    except Exception as exc:  # zip, JSON and schema errors of skops all mean the file is damaged
        what = f"{type(exc).__name__}: {exc}"
        raise InputError(f"{path}: not a readable skops model file ({what}); retrain the model.") from None
    from sklearn.pipeline import Pipeline

    if not isinstance(estimator, Pipeline):
        raise InputError(f"{path}: holds a {type(estimator).__name__}, expected a scikit-learn Pipeline; retrain it.")
    return estimator


@dataclasses.dataclass
class TrainedModel:
    """A trained network or classical estimator with its spec and per-epoch history.

    ``history`` holds one dict per epoch: ``epoch``, ``train_loss``, the learning rate after the epoch's
    last step (``lr``, and ``backbone_lr`` when fine-tuning) and, with a dev set, ``dev_loss`` and
    ``dev_<monitor>``.
    """

    spec: TrainedSpec
    network: nn.Module | None = None
    estimator: Pipeline | None = None
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)

    @property
    def best_epoch(self) -> int | None:
        """The epoch whose weights were restored (first best dev value), or None without a dev set."""
        key = f"dev_{self.spec.config.monitor}"
        values = [h[key] for h in self.history if key in h]
        if not values or self.network is None:
            return None
        return int(np.argmin(values) if self.spec.config.monitor == "loss" else np.argmax(values))

    def predict_proba(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities (N x C): softmax for single-label losses, sigmoid for the BCE family (a
        multi-task model: of its class outputs)."""
        if self.spec.regression:
            raise ConfigError(
                f"this {self.spec.head} model regresses {self.spec.classes}; use predict, not predict_proba."
            )
        x = self._checked_input(x)
        if self.estimator is not None:
            probs = np.zeros((len(x), self.spec.n_classes))
            probs[:, self.estimator.classes_] = self.estimator.predict_proba(np.asarray(x, dtype=np.float64))
            return probs
        logits = self._network_outputs(x, batch_size)[:, : self.spec.n_classes - self.spec.n_dimensions]
        probs = torch.sigmoid(logits) if self.spec.multilabel else torch.softmax(logits, dim=-1)
        return probs.numpy().astype(np.float64)

    def predict(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        """Predicted dimension values of a regressor (N x D, the ``classes`` order) or of a multi-task model
        (its last ``n_dimensions`` outputs), on the targets' scale."""
        if not (self.spec.regression or self.spec.n_dimensions):
            raise ConfigError(f"this {self.spec.head} model classifies; use predict_proba.")
        x = self._checked_input(x)
        if self.estimator is not None:
            values = self.estimator.predict(np.asarray(x, dtype=np.float64))
            return np.asarray(values, dtype=np.float64).reshape(len(x), self.spec.n_classes)
        first = self.spec.n_classes - self.spec.n_dimensions if self.spec.n_dimensions else 0
        values = self._network_outputs(x, batch_size)[:, first:].numpy().astype(np.float64)
        return values * np.asarray(self.spec.target_scale) + np.asarray(self.spec.target_mean)

    def predict_rater_proba(self, x: Any, rater: str, batch_size: int | None = None) -> np.ndarray:
        """One rater output's class probabilities (N x C) of a rater-aware head (per_rater, crowd_layer).

        Args:
            x: the input, as for :meth:`predict_proba`.
            rater: a rater id with an output of its own, or ``other raters`` (the output shared by the raters
                with fewer than ``min_ratings_per_rater`` training ratings), as listed in ``spec.raters``.
            batch_size: items per forward pass (default: the training batch size).

        Raises:
            ConfigError: the model has no rater outputs.
            InputError: ``rater`` is not one of its outputs (naming them).
        """
        raters = self.spec.raters
        if raters is None or self.network is None:
            what = f"this {self.spec.head} model has no per-rater outputs"
            raise ConfigError(f"{what}; train head per_rater or crowd_layer.")
        if rater not in raters:
            shown = ", ".join(raters[:20]) + (f" ... ({len(raters)} in all)" if len(raters) > 20 else "")
            raise InputError(f"rater {rater!r}: the model has no output for this rater; its rater outputs are {shown}.")
        logits = self._network_outputs(self._checked_input(x), batch_size, rater=raters.index(rater))
        return torch.softmax(logits, dim=-1).numpy().astype(np.float64)

    def _checked_input(self, x: Any) -> Any:
        x = _as_features(x, "x")
        if self.spec.input.kind == "audio":
            x = as_waveforms(x)
        spec = describe_input(x, "x")
        if spec != self.spec.input:
            raise InputError(f"x: {spec} does not match the input the model was trained on, {self.spec.input}.")
        return x

    def _network_outputs(self, x: Any, batch_size: int | None, rater: int | None = None) -> torch.Tensor:
        """The network's raw outputs (N x n_classes) on the CPU; with ``rater``, that rater output's logits."""
        assert self.network is not None
        spec = describe_input(x, "x")
        self.network.eval()
        device = next(self.network.parameters()).device
        size, budget = batch_size or self.spec.config.batch_size, self.spec.config.max_batch_frames
        batches = batching(x, [], _frame_axis(spec.kind), range(len(x)), size, budget, name="x")
        items = ItemTensors(x, _TIME_AXIS[spec.kind], range(len(x)), "x")
        order, parts = [], []
        with torch.inference_mode():
            for positions in epoch_batches(batches):
                batch, mask = items.take(positions)
                out = self.network(batch.to(device), None if mask is None else mask.to(device))
                parts.append((out if rater is None else rater_logits(self.network)[:, rater]).float().cpu())
                order.extend(positions)
        return torch.cat(parts)[torch.argsort(torch.as_tensor(order))]  # length buckets reorder items: input order

    def layer_weights(self) -> np.ndarray | None:
        """Softmax weights of the learned layer sum (sum to 1), or None when the model has none."""
        if self.network is None:
            return None
        found = [m for m in self.network.modules() if isinstance(m, LayerWeightedSum)]
        return found[0].layer_weights() if found else None

    def save(self, directory: str | Path) -> Path:
        """Write ``model.json`` (spec + history) and ``weights.pt`` (state dict) or ``estimator.skops``.

        A classical head is written with ``skops.io`` (a format that holds data, not code); an
        ``estimator.pkl`` left by an older voxpop in ``directory`` is removed.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"format": _FORMAT, "spec": self.spec.model_dump(mode="json"), "history": self.history}
        write_text(directory / "model.json", json.dumps(meta, indent=2))
        if self.estimator is not None:
            import skops.io

            write_bytes(directory / ESTIMATOR_FILE, skops.io.dumps(self.estimator))
            (directory / LEGACY_ESTIMATOR_FILE).unlink(missing_ok=True)
        else:
            assert self.network is not None
            atomic_write(directory / "weights.pt", lambda handle: torch.save(self.network.state_dict(), handle))
            if isinstance(self.network, BackboneClassifier):
                self.network.backbone.config.save_pretrained(directory / "backbone")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> TrainedModel:
        """Rebuild a model written by :meth:`save`; nothing in ``directory`` can run code.

        Network weights are read with ``torch.load(weights_only=True)``
        (:func:`voxpop.core.safe_load.load_torch_weights`), a classical head with ``skops.io.load`` trusting only
        :data:`TRUSTED_TYPES` beyond skops' defaults, once its archive's size passed
        :func:`voxpop.core.safe_load.check_archive_size`; a fine-tuned backbone's config folder must not ask for
        remote code (:func:`voxpop.core.safe_load.check_model_folder`). Raises :class:`InputError` for a missing or
        unreadable file, weights that are not plain tensors, an archive past the ``model_bytes`` ceiling or a type
        outside that list, and :class:`LegacyModelError` when the head is a pickle written by an older voxpop (never
        unpickled).
        """
        directory = Path(directory)
        meta_path = directory / "model.json"
        if not meta_path.is_file():
            raise InputError(f"{directory}: no model.json; not a voxpop model directory (see TrainedModel.save).")
        try:
            meta = parse_json(meta_path.read_text())
            if meta.get("format") != _FORMAT:
                raise InputError(f"{meta_path}: model format {meta.get('format')!r}, expected {_FORMAT}.")
            meta["spec"].get("config", {}).pop("checkpoint_dir", None)  # a TrainConfig field older voxpop wrote
            spec = TrainedSpec.model_validate(meta["spec"])
        except (ValueError, AttributeError, TypeError, KeyError) as exc:  # pydantic's errors are ValueErrors
            message = f"{meta_path}: not a valid voxpop model description ({exc}); train the model again."
            raise InputError(message) from None
        history = meta.get("history")
        if not isinstance(history, list):
            message = f"{meta_path}: no training history list; not a valid voxpop model description, retrain it."
            raise InputError(message)
        if spec.head in CLASSICAL:
            return cls(spec=spec, estimator=_load_estimator(directory, spec.head), history=history)
        backbone = None
        if spec.input.kind == "audio":
            from transformers import AutoConfig, AutoModel

            check_model_folder(directory / "backbone")  # no remote code, before transformers reads it
            backbone = AutoModel.from_config(AutoConfig.from_pretrained(directory / "backbone"))
        network = _build_network(spec, backbone)
        weights = directory / "weights.pt"
        state = load_torch_weights(weights, f"the {spec.head} model directory cannot be used: retrain it")
        try:
            network.load_state_dict(state)
        except (RuntimeError, KeyError, TypeError) as exc:  # missing, unexpected or mis-shaped tensors
            what = excerpt(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 80)
            raise InputError(f"{weights}: not the weights of this {spec.head} network ({what}); retrain it.") from None
        return cls(spec=spec, network=network.eval(), history=history)
