"""Train any head (or backbone + head, or a classical model) on features and soft targets with Lightning.

``fit(train_x, train_y, dev_x, dev_y, head, loss, config) -> TrainedModel``. ``x`` is one of

- an array ``(N, D)`` of pooled vectors (or a DataFrame, items x D, indexed like a DataFrame ``y``),
- an array ``(N, L, D)`` of per-layer pooled vectors (fed through :class:`~voxpop.models.LayerWeightedSum`),
- a list of ``(T_i, D)`` frame arrays, or of ``(L, T_i, D)`` per-layer frame arrays (layer-weighted),
- a list of 1-D waveforms (16 kHz), or of the ``waveform`` extractor's ``(S, 1)`` frames, when
  ``config.backbone`` names a self-supervised backbone to fine-tune;

``y`` is ``(N, C)`` soft targets (array or DataFrame with the classes as columns, e.g.
``LabelSet.kept_targets``), or, for a regressor (loss ``mse`` / ``ccc``, or classical ``svr`` / ``ridge``),
``(N, D)`` continuous targets with one column per dimension (``ContinuousLabelSet.values``): the model
then has one linear output per dimension. Arrays may be float16 or memory-mapped; items are read one
batch at a time.

Dev metrics are computed once per epoch on the WHOLE dev set (never averaged over batches; under DDP
gathered from every rank); the best epoch's weights are restored at the end on every rank; early stopping
watches the same metric.
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
from typing import Any, Literal

import lightning as L
import numpy as np
import pandas as pd
import pydantic
import torch
from lightning.pytorch.callbacks import EarlyStopping, RichProgressBar
from sklearn.pipeline import Pipeline
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from voxpop import metrics
from voxpop.batching import batching
from voxpop.cache import atomic_write, parse_json, write_bytes, write_text
from voxpop.errors import ConfigError, InputError
from voxpop.losses import MultiTaskLoss, TargetLoss, balanced_sampler, concordance, loss_class, make_loss
from voxpop.model_spec import CLASSICAL, LOSSES, REGRESSORS, Monitor, TrainConfig
from voxpop.models import (
    BackboneClassifier,
    LayerWeightedSum,
    build_classical,
    build_head,
    feature_extractor_normalizes,
    load_backbone,
)
from voxpop.stopping import stop_between_batches, stop_on_signal_callback

log = logging.getLogger(__name__)
InputKind = Literal["vector", "layers", "frames", "layer_frames", "audio"]
_TIME_AXIS: dict[str, int | None] = {"vector": None, "layers": None, "frames": 0, "layer_frames": 1, "audio": 0}
_FORMAT = 1


def _frame_axis(kind: InputKind) -> int | None:
    """The time axis that length buckets bound (frame sequences); None for vectors and raw audio (samples)."""
    return _TIME_AXIS[kind] if kind in ("frames", "layer_frames") else None

ESTIMATOR_FILE = "estimator.skops"
LEGACY_ESTIMATOR_FILE = "estimator.pkl"  # written by voxpop before skops; never read
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
    head, loss and training options is :class:`voxpop.runs.ModelSpec`."""

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


def check_targets(
    y: Any, name: str, multilabel: bool, regression: bool = False
) -> tuple[np.ndarray, list[str] | None, list[Any]]:
    """Validate soft targets; return them as float32 (N, C), the class names (DataFrame columns) and item ids.

    Rows must be finite and non-negative with at least one positive entry (an all-zero row is an item a
    label rule dropped); softmax losses need rows summing to 1, sigmoid losses entries <= 1. Continuous
    targets (``regression``) only need to be finite.

    >>> check_targets(pd.DataFrame({"A": [1.0, 0.5], "S": [0.0, 0.5]}, index=["c1", "c2"]), "y", False)[1:]
    (['A', 'S'], ['c1', 'c2'])
    >>> check_targets(np.array([[0.0, 0.0], [1.0, 0.0]]), "train_y", False)
    Traceback (most recent call last):
    voxpop.errors.InputError: train_y: item 0 has an all-zero target row (dropped by the label rule?) ...
    """
    classes = [str(c) for c in y.columns] if isinstance(y, pd.DataFrame) else None
    ids = list(y.index) if isinstance(y, pd.DataFrame) else list(range(len(y)))
    arr = np.asarray(y, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise InputError(f"{name}: expected targets (items x classes), got shape {arr.shape}.")

    def fail(rows: np.ndarray, problem: str, fix: str) -> None:
        shown = ", ".join(str(ids[i]) for i in rows[:5])
        raise InputError(f"{name}: item {shown} {problem} ({len(rows)} item(s) in all); {fix}")

    if regression:
        if len(bad := np.flatnonzero(~np.isfinite(arr).all(axis=1))):
            fail(bad, "has a missing or infinite dimension value", "pass only the items the label set keeps.")
        return arr, classes, ids
    if len(bad := np.flatnonzero(~np.isfinite(arr).all(axis=1) | (arr < 0).any(axis=1))):
        fail(bad, "has a missing, infinite or negative target", "targets must be finite and >= 0.")
    if len(bad := np.flatnonzero(arr.sum(axis=1) <= 0)):
        fail(bad, "has an all-zero target row (dropped by the label rule?)", "pass only kept items' targets.")
    if multilabel and len(bad := np.flatnonzero((arr > 1).any(axis=1))):
        fail(bad, "has a target above 1", "sigmoid (BCE) losses need targets in [0, 1].")
    if not multilabel and len(bad := np.flatnonzero(np.abs(arr.sum(axis=1) - 1) > 1e-3)):
        fail(bad, "has a target row that does not sum to 1", "normalise rows to distributions or use a BCE loss.")
    return arr, classes, ids


def dev_metric(metric: Monitor, probs: np.ndarray, targets: np.ndarray, multilabel: bool) -> float:
    """A dev metric on the whole set with the report's definitions (:mod:`voxpop.metrics`).

    ``probs`` and ``targets`` are (N, C). Single-label: argmax of targets vs argmax of outputs; ``uar``
    averages recall over the classes present in the dev truth, ``macro_f1`` F1 over the classes in the
    dev truth or prediction; ``binary_f1`` is the F1 of class index 1. Multi-label: targets and sigmoid
    outputs binarised at 0.5, averages over the classes with a dev positive; ``binary_f1`` is the F1
    of the single column. Raises :class:`ConfigError` for an unknown metric.

    >>> dev_metric("uar", np.array([[.9, .1], [.8, .2], [.3, .7]]), np.array([[1, 0], [0, 1], [0, 1]]), False)
    0.75
    """
    if multilabel:
        counts = metrics.Counts.from_binary(targets >= 0.5, probs >= 0.5)
    else:
        counts = metrics.Counts.from_codes(targets.argmax(axis=1), probs.argmax(axis=1), targets.shape[1])
    if metric in ("macro_f1", "uar"):
        return float(metrics.score(counts, metric))
    if metric == "binary_f1":
        return float(metrics.score(counts, "f1")[0 if multilabel else 1])
    raise ConfigError(f"unknown dev metric {metric!r}; choose loss, macro_f1, binary_f1 or uar.")


def _dev_record(loss_fn: TargetLoss, logits: torch.Tensor, targets: torch.Tensor, monitor: Monitor) -> dict[str, float]:
    record = {"dev_loss": float(loss_fn(logits, targets))}
    # outputs [:c] are class logits, [c:] dimension values (multi-task: both; a regressor: c = 0)
    c = loss_fn.n_classes if isinstance(loss_fn, MultiTaskLoss) else 0 if loss_fn.regression else logits.shape[1]
    if monitor == "ccc":  # mean CCC over the dimensions, on the whole dev set
        record["dev_ccc"] = float(concordance(logits[:, c:].double(), targets[:, c:].double()).mean())
    elif monitor != "loss":
        logits, targets = logits[:, :c], targets[:, :c]
        probs = torch.sigmoid(logits) if loss_fn.multilabel else torch.softmax(logits, dim=-1)
        record[f"dev_{monitor}"] = dev_metric(monitor, probs.numpy(), targets.numpy(), loss_fn.multilabel)
    return record


def _check_monitor(
    monitor: Monitor, n_classes: int, multilabel: bool, regression: bool = False, multitask: bool = False
) -> None:
    if not multitask and regression != (monitor == "ccc") and monitor != "loss":
        what = "a regressor" if regression else "a classifier"
        fix = "loss or ccc" if regression else "loss, macro_f1, binary_f1 or uar"
        raise ConfigError(f"monitor {monitor!r} does not apply to {what}; monitor {fix}.")
    if monitor == "binary_f1" and n_classes != (1 if multilabel else 2):
        raise ConfigError(
            f"monitor 'binary_f1' needs 2 classes (softmax loss) or 1 class (BCE loss); the targets have "
            f"{n_classes} classes. Use macro_f1 or uar instead."
        )


class _Items(Dataset):
    """Item i -> (i, item id, float32 features, targets or None); converts float16 / memmap rows lazily."""

    def __init__(self, x: Any, y: np.ndarray | None, ids: list[Any]) -> None:
        self.x, self.y, self.ids = x, y, ids

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[int, Any, np.ndarray, np.ndarray | None]:
        return i, self.ids[i], np.array(self.x[i], dtype=np.float32), None if self.y is None else self.y[i]


def _collate(batch: list[tuple], kind: InputKind, name: str) -> dict[str, torch.Tensor | None]:
    """Stack vectors, or zero-pad sequences along their time axis and return the validity mask (and positions)."""
    index, ids, xs, ys = zip(*batch, strict=True)
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
    return {"x": x, "mask": mask, "y": y, "index": torch.tensor([int(i) for i in index])}


def _loader(x: Any, y: np.ndarray | None, ids: list[Any], kind: InputKind, name: str, **kwargs: Any) -> DataLoader:
    return DataLoader(_Items(x, y, ids), collate_fn=functools.partial(_collate, kind=kind, name=name), **kwargs)


class HeadModule(L.LightningModule):
    """Lightning wrapper of a network + loss: AdamW with a learning-rate schedule, per-epoch history and
    whole-dev-set metrics (gathered from every rank under DDP, so all ranks see the same value)."""

    def __init__(self, network: nn.Module, loss_fn: TargetLoss, config: TrainConfig) -> None:
        super().__init__()
        self.network = network
        self.loss_fn = loss_fn
        self.config = config
        self.history: list[dict[str, float]] = []
        self._dev: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self._record: dict[str, float] = {}
        self._train_sum = 0.0
        self._train_n = 0

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.network(x, mask)

    def on_train_epoch_start(self) -> None:
        self._train_sum, self._train_n = 0.0, 0

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.loss_fn(self(batch["x"], batch["mask"]).float(), batch["y"])
        self._train_sum += float(loss.detach()) * len(batch["y"])
        self._train_n += len(batch["y"])
        return loss

    def on_validation_epoch_start(self) -> None:
        self._dev = []

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._dev.append((batch["index"], self(batch["x"], batch["mask"]).float(), batch["y"]))

    def on_validation_epoch_end(self) -> None:
        index, logits, targets = (torch.cat(parts) for parts in zip(*self._dev, strict=True))
        if self.trainer.world_size > 1:
            # every rank's dev items; DistributedSampler repeats items to even out ranks: keep each once
            index, logits, targets = (self.all_gather(t).flatten(0, 1) for t in (index, logits, targets))
        index, logits, targets = index.cpu(), logits.cpu(), targets.cpu()
        keep = torch.from_numpy(np.unique(index.numpy(), return_index=True)[1])  # first copy of each dev item
        self._record = _dev_record(self.loss_fn, logits[keep], targets[keep], self.config.monitor)
        self.log("dev_monitor", self._record[f"dev_{self.config.monitor}"], sync_dist=True)  # mean of equal values
        self._dev = []

    def on_train_epoch_end(self) -> None:
        train_loss = self._train_sum / max(self._train_n, 1)
        groups = self.optimizers().param_groups  # the head's, then the backbone's when fine-tuning
        rates = {name: group["lr"] for name, group in zip(("lr", "backbone_lr")[: len(groups)], groups, strict=True)}
        self.history.append({"epoch": self.current_epoch, "train_loss": train_loss, **rates, **self._record})
        self._record = {}

    def configure_optimizers(self) -> dict[str, Any]:
        """AdamW over the trainable parameters (the backbone's at ``backbone_lr``), stepped by ``schedule``."""
        from transformers import get_scheduler

        c = self.config
        backbone = self.network.backbone if isinstance(self.network, BackboneClassifier) else None
        in_backbone = {id(p) for p in backbone.parameters()} if backbone is not None else set()
        trainable = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in trainable if id(p) not in in_backbone], "lr": c.lr}]
        if in_backbone:
            groups.append({"params": [p for p in trainable if id(p) in in_backbone], "lr": c.backbone_lr or c.lr})
        optimiser = torch.optim.AdamW([g for g in groups if g["params"]], betas=c.betas, weight_decay=c.weight_decay)
        total = int(self.trainer.estimated_stepping_batches)
        name = "constant_with_warmup" if c.schedule == "constant" else c.schedule
        scheduler = get_scheduler(name, optimiser, num_warmup_steps=c.warmup(total), num_training_steps=total)
        return {"optimizer": optimiser, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class _BestWeights(L.Callback):
    """Keep a CPU copy of the weights of the first epoch with the best ``dev_monitor`` (restored after fit).

    In memory rather than a checkpoint file, so every DDP rank (whose weights and gathered dev metric are
    identical) restores the same weights without a shared file system.
    """

    def __init__(self, mode: Literal["min", "max"]) -> None:
        self.mode = mode
        self.best: float | None = None
        self.epoch: int | None = None
        self.state: dict[str, torch.Tensor] | None = None

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = float(trainer.callback_metrics["dev_monitor"])
        if self.best is None or (value < self.best if self.mode == "min" else value > self.best):
            self.best, self.epoch = value, trainer.current_epoch
            self.state = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def resolve_precision(requested: str, accelerator: str = "auto") -> str:
    """Lightning's precision for ``requested`` on the device in use.

    ``auto`` -> ``bf16-mixed`` on a CUDA GPU with bfloat16 (``16-mixed`` without), else ``32-true``.
    ``bf16-mixed`` runs bfloat16 autocast on a CUDA GPU that supports it or on the CPU (torch's CPU
    autocast); on an older GPU it falls back to ``16-mixed`` with a warning. ``16-mixed`` needs a CUDA GPU
    (:class:`~voxpop.errors.ConfigError` otherwise).

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
    if spec.input.kind == "audio":
        assert backbone is not None and spec.config.backbone is not None
        head = build_head(spec.head, backbone.config.hidden_size, spec.n_classes, **spec.head_options)
        b = spec.config.backbone
        return BackboneClassifier(
            backbone,
            head,
            trainable_layers=b.trainable_layers,
            normalize_audio=bool(b.normalize_audio),
            pass_attention_mask=b.pass_attention_mask,
        )
    head = build_head(spec.head, spec.input.dim, spec.n_classes, **spec.head_options)
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


def _check_dev(dev_x: Any, dev_y: Any, spec: TrainedSpec) -> tuple[Any, np.ndarray, list[Any]]:
    if (dev_x is None) != (dev_y is None):
        raise ConfigError("give both dev_x and dev_y, or neither.")
    y, _, ids = _targets(dev_y, "dev_y", spec.multilabel, spec.regression, spec.n_dimensions)
    dev_x = _as_features(dev_x, "dev_x", dev_y.index if isinstance(dev_y, pd.DataFrame) else None)
    dev_spec = describe_input(dev_x, "dev_x")
    if dev_spec != spec.input:
        raise InputError(f"dev_x: {dev_spec} does not match the training input {spec.input}.")
    if y.shape[1] != spec.n_classes or len(y) != len(dev_x):
        raise InputError(
            f"dev_y: shape {y.shape} does not match {len(dev_x)} dev items x {spec.n_classes} training classes."
        )
    return dev_x, y, ids


def _targets(
    y: Any, name: str, multilabel: bool, regression: bool, n_dimensions: int
) -> tuple[np.ndarray, list[str] | None, list[Any]]:
    """:func:`check_targets`; multi-task targets (``n_dimensions`` > 0) as classes, then dimension values."""
    if not n_dimensions:
        return check_targets(y, name, multilabel, regression)
    table = y if isinstance(y, pd.DataFrame) else pd.DataFrame(np.asarray(y))
    if table.shape[1] <= n_dimensions:
        raise InputError(f"{name}: multi-task targets need class columns before the {n_dimensions} dimension columns.")
    classes, class_names, ids = check_targets(table.iloc[:, :-n_dimensions], name, multilabel)
    values, value_names, _ = check_targets(table.iloc[:, -n_dimensions:], name, False, regression=True)
    names = None if not isinstance(y, pd.DataFrame) else [*class_names, *value_names]
    return np.concatenate([classes, values], axis=1), names, ids if isinstance(y, pd.DataFrame) else list(range(len(y)))


def fit(
    train_x: Any,
    train_y: Any,
    dev_x: Any = None,
    dev_y: Any = None,
    head: str = "mlp",
    loss: str = "ce",
    config: TrainConfig | None = None,
    *,
    head_options: dict[str, Any] | None = None,
    loss_options: dict[str, Any] | None = None,
) -> TrainedModel:
    """Train head ``head`` (a name from ``voxpop.models.HEADS`` or ``CLASSICAL``) with loss ``loss``.

    Neural heads train with AdamW for ``config.epochs`` epochs; with a dev set the dev loss and
    ``config.monitor`` are computed on the whole dev set after every epoch, training stops after
    ``patience`` epochs without improvement and the best epoch's weights are restored. Classical
    heads (``svm``, ``logreg``) fit soft targets by expanding each item into one row per class with
    sample weight y_ic (for logistic regression this is exactly soft-target cross-entropy); their
    ``loss`` must be ``ce``. Regressors: a neural head with loss ``mse`` or ``ccc`` (monitor ``loss``
    or ``ccc``, the mean dev CCC over dimensions), or ``svr`` / ``ridge`` with loss ``mse``; targets
    are (N, D) dimension values (a neural regressor learns them z-scored per dimension with the training
    mean and sd, which leaves CCC unchanged and scales MSE, and predicts on the targets' scale). Raises
    :class:`ConfigError` for a head / loss / monitor mismatch.
    """
    config = config or TrainConfig()
    head_options, loss_options = dict(head_options or {}), dict(loss_options or {})
    classical = head in CLASSICAL
    regression = head in REGRESSORS or (not classical and loss_class(loss).regression)
    n_dimensions = len(loss_options.get("dimensions") or []) if loss == "multitask" else 0
    if loss == "multitask" and (classical or not n_dimensions):
        raise ConfigError(
            "loss 'multitask' trains a neural head on classes and dimensions; give loss_options.dimensions "
            f"(the last target columns) and a neural head (got {head!r}, options {loss_options})."
        )
    if classical and not regression and (loss != "ce" or loss_options):
        raise ConfigError(
            f"classical model {head!r} fits soft targets by sample weights; use loss 'ce' (got {loss!r})."
        )
    if head in REGRESSORS and (loss != "mse" or loss_options):
        raise ConfigError(f"classical regressor {head!r} fits its own error; use loss 'mse' (got {loss!r}).")
    if regression and config.balanced_sampling:
        raise ConfigError("balanced_sampling draws items by class; a regressor has no classes: turn it off.")
    if config.backbone is not None and config.backbone.normalize_audio is None:
        normalize = feature_extractor_normalizes(config.backbone.path)
        backbone = config.backbone.model_copy(update={"normalize_audio": normalize})
        config = config.model_copy(update={"backbone": backbone})
    multilabel = not classical and loss_class(loss).multilabel
    if n_dimensions:  # the class outputs are read as the class loss reads them
        multilabel = LOSSES[loss_options.get("class_loss", "ce")].multilabel
    y, classes, ids = _targets(train_y, "train_y", multilabel, regression, n_dimensions)
    train_x = _as_features(train_x, "train_x", train_y.index if isinstance(train_y, pd.DataFrame) else None)
    if config.backbone is not None:  # raw audio, possibly as the waveform extractor's (S, 1) frames
        train_x, dev_x = as_waveforms(train_x), as_waveforms(dev_x)
    spec = TrainedSpec(
        head=head,
        head_options=head_options,
        loss=loss,
        loss_options=loss_options,
        multilabel=multilabel,
        input=describe_input(train_x, "train_x"),
        n_classes=y.shape[1],
        classes=classes,
        config=config,
        regression=regression,
        n_dimensions=n_dimensions,
    )
    if len(y) != len(train_x):
        raise InputError(f"train_x has {len(train_x)} items but train_y has {len(y)} rows.")
    _check_monitor(config.monitor, spec.n_classes - n_dimensions, multilabel, regression, n_dimensions > 0)
    dev = _check_dev(dev_x, dev_y, spec) if dev_x is not None or dev_y is not None else None
    if classical:
        return _fit_classical(spec, train_x, y, dev)
    if regression or n_dimensions:  # the same z-score for train and dev dimension values; predictions mapped back
        first = spec.n_classes - n_dimensions if n_dimensions else 0
        mean, sd = y[:, first:].mean(axis=0), y[:, first:].std(axis=0)
        scale = np.where(sd > 1e-8, sd, 1.0)
        spec.target_mean, spec.target_scale = mean.tolist(), scale.tolist()
        y = np.concatenate([y[:, :first], (y[:, first:] - mean) / scale], axis=1).astype(np.float32)
        if dev is not None:
            dev_y = np.concatenate([dev[1][:, :first], (dev[1][:, first:] - mean) / scale], axis=1)
            dev = (dev[0], dev_y.astype(np.float32), dev[2])
    return _fit_neural(spec, train_x, y, ids, dev)


def _fit_neural(
    spec: TrainedSpec, x: Any, y: np.ndarray, ids: list[Any], dev: tuple[Any, np.ndarray, list[Any]] | None
) -> TrainedModel:
    config = spec.config
    if (spec.input.kind == "audio") != (config.backbone is not None):
        raise ConfigError(
            "raw audio input needs config.backbone (a model to fine-tune), and a backbone needs raw audio "
            f"(a list of 1-D waveforms); got {spec.input.kind} input with backbone={config.backbone}."
        )
    precision = resolve_precision(config.precision, config.accelerator)
    loss_fn = make_loss(spec.loss, y, spec.classes, **spec.loss_options)
    L.seed_everything(config.seed, workers=True, verbose=False)
    backbone = load_backbone(config.backbone.path, config.backbone.keep_layers) if config.backbone else None
    module = HeadModule(_build_network(spec, backbone).train(), loss_fn, config)  # from_pretrained gives eval
    sampler = (
        balanced_sampler(y, config.seed)
        if config.balanced_sampling
        else RandomSampler(range(len(y)), generator=torch.Generator().manual_seed(config.seed))
    )
    axis, budget = _frame_axis(spec.input.kind), config.max_batch_frames
    train_batches = batching(x, ids, axis, sampler, config.batch_size, budget, long_frames=config.long_item_frames,
                             with_replacement=config.balanced_sampling)  # fmt: skip
    train_loader = _loader(x, y, ids, spec.input.kind, "train_x", num_workers=config.num_workers, **train_batches)
    dev_loader = None
    if dev:
        dev_batches = batching(dev[0], dev[2], axis, range(len(dev[0])), config.batch_size, budget, name="dev_x")
        dev_loader = _loader(*dev, spec.input.kind, "dev_x", num_workers=config.num_workers, **dev_batches)

    mode = "min" if config.monitor == "loss" else "max"
    callbacks: list[L.Callback] = [stop_on_signal_callback(), *([RichProgressBar()] if config.progress_bar else [])]
    best = _BestWeights(mode) if dev else None
    if best is not None:
        callbacks.append(best)
        if config.patience is not None:
            callbacks.append(EarlyStopping(monitor="dev_monitor", mode=mode, patience=config.patience))
    with _quiet(not config.progress_bar), _keep_torch_flags():
        trainer = L.Trainer(
            max_epochs=config.epochs,
            accelerator=config.accelerator,
            devices=config.devices,
            num_nodes=config.num_nodes,
            strategy=config.strategy,
            precision=precision,
            accumulate_grad_batches=config.accumulate_grad_batches,
            deterministic=config.deterministic,
            callbacks=callbacks,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=config.progress_bar,
            enable_model_summary=config.progress_bar,
            num_sanity_val_steps=0,
        )
        with stop_between_batches():
            trainer.fit(module, train_loader, dev_loader)
    if best is not None and best.state is not None:
        module.load_state_dict(best.state)
    return TrainedModel(spec=spec, network=module.network.cpu().eval(), history=module.history)


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
    if not isinstance(estimator, Pipeline):
        raise InputError(f"{path}: holds a {type(estimator).__name__}, expected a scikit-learn Pipeline; retrain it.")
    return estimator


def _fit_classical(
    spec: TrainedSpec, x: Any, y: np.ndarray, dev: tuple[Any, np.ndarray, list[Any]] | None
) -> TrainedModel:
    if spec.input.kind != "vector":
        raise ConfigError(f"classical model {spec.head!r} needs pooled vectors (N, D); got {spec.input.kind} input.")
    pca = spec.head_options.get("pca_components")
    if pca is not None and pca > min(len(y), spec.input.dim):
        raise ConfigError(
            f"pca_components={pca} exceeds min(items, features) = {min(len(y), spec.input.dim)}; choose fewer."
        )
    rows, labels = np.nonzero(y > 0)
    folds = spec.head_options.get("calibration_folds", 5)
    per_class = np.bincount(labels, minlength=y.shape[1])
    rare = np.flatnonzero((per_class > 0) & (per_class < folds))
    if spec.head == "svm" and len(rare):
        smallest = int(rare[per_class[rare].argmin()])
        name = repr(spec.classes[smallest]) if spec.classes else str(smallest)
        raise ConfigError(
            f"svm: class {name} has {int(per_class[smallest])} training items, but probability calibration "
            f"needs at least calibration_folds={folds} per class; lower calibration_folds (>= 2; CLI: --head-option "
            "calibration_folds=2), drop rare classes, or use logreg."
        )
    estimator = build_classical(spec.head, spec.config.seed, **spec.head_options)
    if spec.regression:
        return _fit_classical_regressor(spec, estimator, x, y, dev)
    features = estimator[:-1].fit_transform(np.asarray(x, dtype=np.float64))
    estimator[-1].fit(features[rows], labels, sample_weight=y[rows, labels])
    model = TrainedModel(spec=spec, estimator=estimator)
    if dev:
        dev_x, dev_y, _ = dev
        log_probs = torch.log(torch.from_numpy(model.predict_proba(dev_x)).float().clamp_min(1e-12))
        record = _dev_record(make_loss("ce", dev_y), log_probs, torch.from_numpy(dev_y), spec.config.monitor)
        model.history = [{"epoch": 0, **record}]
    return model


def _fit_classical_regressor(
    spec: TrainedSpec, estimator: Pipeline, x: Any, y: np.ndarray, dev: tuple[Any, np.ndarray, list[Any]] | None
) -> TrainedModel:
    estimator.fit(np.asarray(x, dtype=np.float64), y.astype(np.float64))
    model = TrainedModel(spec=spec, estimator=estimator)
    if dev:
        dev_x, dev_y, _ = dev
        outputs = torch.tensor(model.predict(dev_x))
        record = _dev_record(
            make_loss("mse", dev_y), outputs, torch.tensor(dev_y, dtype=torch.float64), spec.config.monitor
        )
        model.history = [{"epoch": 0, **record}]
    return model


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

    def _checked_input(self, x: Any) -> Any:
        x = _as_features(x, "x")
        if self.spec.input.kind == "audio":
            x = as_waveforms(x)
        spec = describe_input(x, "x")
        if spec != self.spec.input:
            raise InputError(f"x: {spec} does not match the input the model was trained on, {self.spec.input}.")
        return x

    def _network_outputs(self, x: Any, batch_size: int | None) -> torch.Tensor:
        """The network's raw outputs (N x n_classes) on the CPU."""
        assert self.network is not None
        spec = describe_input(x, "x")
        self.network.eval()
        device = next(self.network.parameters()).device
        size, budget = batch_size or self.spec.config.batch_size, self.spec.config.max_batch_frames
        batches = batching(x, [], _frame_axis(spec.kind), range(len(x)), size, budget, name="x")
        loader = _loader(x, None, list(range(len(x))), spec.kind, "x", **batches)
        with torch.inference_mode():
            parts = [
                (b["index"], self.network(b["x"].to(device), None if b["mask"] is None else b["mask"].to(device)))
                for b in loader
            ]
        index, logits = torch.cat([i for i, _ in parts]), torch.cat([out.float().cpu() for _, out in parts])
        return logits[torch.argsort(index)]  # length buckets reorder items: back to the input's order

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

        Network weights are read with ``torch.load(weights_only=True)``, a classical head with
        ``skops.io.load`` trusting only :data:`TRUSTED_TYPES` beyond skops' defaults. Raises
        :class:`InputError` for a missing or unreadable file or a type outside that list, and
        :class:`LegacyModelError` when the head is a pickle written by an older voxpop (never unpickled).
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

            backbone = AutoModel.from_config(AutoConfig.from_pretrained(directory / "backbone"))
        network = _build_network(spec, backbone)
        weights = directory / "weights.pt"
        try:
            network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        except FileNotFoundError:
            message = f"{weights}: not found; the {spec.head} model directory is incomplete (retrain it)."
            raise InputError(message) from None
        except Exception as exc:  # torch's unpickler, zip and shape errors all mean the file is damaged
            what = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            raise InputError(f"{weights}: not readable {spec.head} network weights ({what}); retrain it.") from None
        return cls(spec=spec, network=network.eval(), history=history)
