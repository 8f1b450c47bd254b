"""Training a head on cached features without a framework: tensors in memory, batches by index.

A head on pooled vectors or frame sequences needs a few milliseconds per batch; around that, Lightning's
per-item ``DataLoader`` collation, its per-step hooks and batch-by-batch validation cost about as much as
the work. :func:`fit_lean` runs the optimisation of the Lightning path
(:class:`~voxpop.models.head_module.HeadModule`) as one plain loop on one device: the items are held as
float32 tensors, a batch is gathered by index (frame sequences zero-padded to the batch's longest item),
the epoch's batches come from the same sampler and length buckets (:func:`~voxpop.models.batching.batching`),
AdamW with the same learning-rate schedule steps after every ``accumulate_grad_batches`` batches, the dev
set is scored in one pass after each epoch, early stopping and the restore of the best epoch's weights
follow Lightning's ``EarlyStopping`` and :class:`~voxpop.models.head_module._BestWeights` (the monitored
value compared in float32, as Lightning logs it), and SIGTERM / SIGINT stop the fit at once
(:func:`~voxpop.core.stopping.stop_between_batches`).

For a fixed seed the weights, and so the predictions, equal the Lightning path's: the loop draws the
two numbers per epoch that torch's ``DataLoader`` draws from the global generator (for its workers' base
seed) when the train and the dev loader are iterated, so dropout masks follow the same stream. The dev
outputs come from one forward pass (vectors) or the dev length buckets (frames) instead of batches of
``batch_size``, which changes dev losses and metrics only by float rounding (about 1e-7 relative).

A rater-aware head (``per_rater``, ``crowd_layer``) trains here too: its batches carry the items' per-rater
targets and its loss is the masked rater loss (:func:`~voxpop.models.losses.training_loss`, shared with
:class:`~voxpop.models.head_module.HeadModule`); the dev set is scored on the item prediction.

Lightning stays where a framework earns its keep (:func:`lean_device` returns None): backbone
fine-tuning, several devices or nodes, a named strategy, another accelerator than CPU / one CUDA GPU, and
``16-mixed`` precision (its gradient scaler). ``num_workers`` has no effect here (nothing is loaded).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from voxpop.core.progress import report_inner
from voxpop.core.stopping import stop_between_batches
from voxpop.models.batching import ItemTensors, batch_count, epoch_batches, float32_tensor
from voxpop.models.epoch_scores import dev_record
from voxpop.models.losses import MaskedRaterLoss, TargetLoss, training_loss
from voxpop.models.optimisation import make_optimiser
from voxpop.models.specs import TrainConfig

_DEV_CHUNK = 65_536  # pooled dev items per forward pass (bounds the activations' memory, not the result)


def lean_device(config: TrainConfig, precision: str) -> torch.device | None:
    """The one device on which :func:`fit_lean` trains a head for ``config``, or None where Lightning must.

    Args:
        config: the training options; a backbone, ``num_nodes`` > 1, a ``strategy`` other than ``auto``, or
            ``devices`` naming more than one device leave the fit to Lightning.
        precision: the resolved precision (:func:`~voxpop.models.trained_model.resolve_precision`);
            ``32-true`` and ``bf16-mixed`` (autocast) train here, ``16-mixed`` needs Lightning's gradient scaler.

    Returns:
        ``cpu``, or ``cuda:i`` for one GPU (``devices`` 1, ``[i]``, or ``auto`` on a machine with one GPU);
        None for every other setting (including another accelerator, e.g. Apple's ``mps``).

    Example:
        >>> lean_device(TrainConfig(accelerator="cpu"), "32-true")
        device(type='cpu')
        >>> lean_device(TrainConfig(accelerator="cpu", devices=2), "32-true") is None
        True
    """
    if config.backbone is not None or config.num_nodes != 1 or config.strategy != "auto":
        return None
    if precision not in ("32-true", "bf16-mixed") or config.accelerator not in ("auto", "cpu", "gpu", "cuda"):
        return None
    devices = config.devices
    if config.accelerator == "cpu" or (config.accelerator == "auto" and not torch.cuda.is_available()):
        mps = config.accelerator == "auto" and torch.backends.mps.is_available()  # Lightning's auto picks it
        return torch.device("cpu") if devices in ("auto", 1, "1") and not mps else None
    if not torch.cuda.is_available():
        return None  # accelerator gpu without one: Lightning says so
    if devices in (1, "1") or (devices == "auto" and torch.cuda.device_count() == 1):
        return torch.device("cuda", 0)
    if isinstance(devices, list) and len(devices) == 1:
        return torch.device("cuda", int(devices[0]))
    return None


def _loader_seed_draw() -> None:
    """Draw what torch's ``DataLoader`` draws from the global generator whenever it is iterated (its workers'
    base seed), so that a fixed seed gives the dropout masks of the Lightning path."""
    torch.empty((), dtype=torch.int64).random_()


class _BestEpoch:
    """Lightning's two dev-epoch callbacks on float32 values (as Lightning logs the monitored value).

    The weights of the first epoch with a strictly better value are kept (:class:`~voxpop.models.head_module.
    _BestWeights`); ``EarlyStopping`` (min_delta 0, ``check_finite``) stops on a value that is not finite, or
    after ``patience`` epochs without a strict improvement over its best (which starts at +-inf).
    """

    def __init__(self, mode: str, patience: int | None) -> None:
        self.better = (lambda a, b: a < b) if mode == "min" else (lambda a, b: a > b)
        self.patience = patience
        self.best: float | None = None
        self.state: dict[str, torch.Tensor] | None = None
        self.stop_best = math.inf if mode == "min" else -math.inf
        self.wait = 0

    def update(self, value: float, network: nn.Module) -> bool:
        """Record an epoch's dev value and keep its weights if best so far; returns whether to stop."""
        value = float(np.float32(value))
        if self.best is None or self.better(value, self.best):
            self.best = value
            self.state = {k: v.detach().to("cpu", copy=True) for k, v in network.state_dict().items()}
        if self.patience is None:
            return False
        if not math.isfinite(value):
            return True
        if self.better(value, self.stop_best):
            self.stop_best, self.wait = value, 0
            return False
        self.wait += 1
        return self.wait >= self.patience


def fit_lean(
    network: nn.Module,
    loss_fn: TargetLoss,
    config: TrainConfig,
    train: tuple[ItemTensors, np.ndarray, dict[str, Any]],
    dev: tuple[ItemTensors, np.ndarray, list[list[int]]] | None,
    device: torch.device,
    precision: str,
    rater_targets: np.ndarray | None = None,
) -> tuple[nn.Module, list[dict[str, float]]]:
    """Train ``network`` with ``loss_fn`` in one plain loop; return it (on the CPU, in eval mode) and its history.

    Args:
        network: the head (or layer-weighted head), freshly built after seeding.
        loss_fn: the soft-target loss (:func:`~voxpop.models.losses.make_loss`).
        config: optimiser, schedule, epochs, accumulation, monitor, patience, deterministic flag, progress bar.
        train: the training items, their targets ``(N, C)`` float32 and the batching keyword arguments
            (:func:`~voxpop.models.batching.batching`: a sampler and batch size, or length buckets).
        dev: the dev items, targets and the batches of positions to score them in (one pass), or None (no
            early stopping, the last epoch's weights).
        device: from :func:`lean_device`.
        precision: ``32-true``, or ``bf16-mixed`` (forward and loss under bfloat16 autocast).
        rater_targets: a rater-aware head's per-rater targets ``(N, R, C)``, rows as ``train``'s targets (all
            zero where a rater output did not rate the item), or None. With them each batch trains on the masked
            rater loss of the network's per-rater logits (:class:`~voxpop.models.losses.MaskedRaterLoss`, as
            :class:`~voxpop.models.head_module.HeadModule` does); the dev set is still scored with ``loss_fn``
            on the item prediction.

    Returns:
        The network with the best dev epoch's weights (the first epoch reaching the best ``config.monitor``;
        without dev the last epoch's), and one record per epoch: ``epoch``, ``train_loss`` (mean over items),
        ``lr``, and with dev ``dev_loss`` and ``dev_<monitor>`` on the whole dev set.

    Raises:
        Stopped: SIGTERM during the fit (at once, the batch in progress abandoned); KeyboardInterrupt: Ctrl-C.
    """
    items, targets, batching_kwargs = train
    y = float32_tensor(targets)
    raters = None if rater_targets is None else float32_tensor(rater_targets)
    rater_loss = None if rater_targets is None else MaskedRaterLoss()
    network.to(device).train()
    accumulate = config.accumulate_grad_batches
    total = math.ceil(batch_count(batching_kwargs) / accumulate) * config.epochs
    optimiser, scheduler = make_optimiser(network, config, total)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed")
    stopping = _BestEpoch("min" if config.monitor == "loss" else "max", config.patience) if dev else None
    history: list[dict[str, float]] = []
    report_inner(0, config.epochs, "epochs")
    with _deterministic(config.deterministic), stop_between_batches(), _progress(config) as progress:
        for epoch in range(config.epochs):
            _loader_seed_draw()
            network.train()
            total_loss, seen = 0.0, 0
            batches = list(epoch_batches(batching_kwargs))
            for i, positions in enumerate(batches):
                if i % accumulate == 0:
                    optimiser.zero_grad()
                x, mask = items.take(positions)
                x, mask = x.to(device, non_blocking=True), None if mask is None else mask.to(device)
                batch_y = y[positions].to(device, non_blocking=True)
                batch_raters = None if raters is None else raters[positions].to(device, non_blocking=True)
                with autocast:
                    outputs = network(x, mask)  # a rater-aware head also keeps its per-rater logits
                    loss = training_loss(network, outputs, batch_y, loss_fn, batch_raters, rater_loss)
                (loss / accumulate).backward()  # Lightning divides by accumulate_grad_batches too
                total_loss += float(loss.detach()) * len(positions)
                seen += len(positions)
                if (i + 1) % accumulate == 0 or i + 1 == len(batches):
                    optimiser.step()
                    scheduler.step()
            record: dict[str, float] = {}
            stop = False
            if dev is not None and stopping is not None:
                _loader_seed_draw()
                record = _score(network, loss_fn, config, dev, device, autocast)
                stop = stopping.update(record[f"dev_{config.monitor}"], network)
            groups = optimiser.param_groups
            rates = {name: g["lr"] for name, g in zip(("lr", "backbone_lr")[: len(groups)], groups, strict=True)}
            history.append({"epoch": epoch, "train_loss": total_loss / max(seen, 1), **rates, **record})
            report_inner(epoch + 1, config.epochs, "epochs")
            progress(epoch, history[-1])
            if stop:
                break
    if stopping is not None and stopping.state is not None:
        network.load_state_dict(stopping.state)
    return network.cpu().eval(), history


def _score(
    network: nn.Module,
    loss_fn: TargetLoss,
    config: TrainConfig,
    dev: tuple[ItemTensors, np.ndarray, list[list[int]]],
    device: torch.device,
    autocast: torch.autocast,
) -> dict[str, float]:
    """Dev loss and ``config.monitor`` on the whole dev set, its outputs computed in one pass (no gradients)."""
    items, targets, batches = dev
    network.eval()
    parts, order = [], []
    with torch.inference_mode(), autocast:
        for positions in batches:
            x, mask = items.take(positions)
            parts.append(network(x.to(device), None if mask is None else mask.to(device)).float().cpu())
            order.extend(positions)
    outputs = torch.cat(parts)[torch.argsort(torch.as_tensor(order))]
    return dev_record(loss_fn, outputs, float32_tensor(targets), config.monitor)


def scoring_batches(items: ItemTensors, planned: dict[str, Any]) -> list[list[int]]:
    """The dev set's batches for one pass: all pooled items at once (in chunks of 65,536), frame sequences in
    the length buckets of ``planned`` (:func:`~voxpop.models.batching.batching` over the dev items in order).

    >>> scoring_batches(ItemTensors(np.zeros((3, 2)), None, [0, 1, 2], "dev_x"), {})
    [[0, 1, 2]]
    """
    if items.axis is None:
        return [list(range(i, min(i + _DEV_CHUNK, len(items)))) for i in range(0, len(items), _DEV_CHUNK)]
    return list(epoch_batches(planned))


@contextlib.contextmanager
def _deterministic(deterministic: bool | str) -> Iterator[None]:
    """Lightning's ``Trainer(deterministic=...)`` flags for the fit, restored afterwards."""
    saved = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(bool(deterministic), warn_only=deterministic == "warn")
    if deterministic:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"  # as Lightning sets it (cuBLAS determinism)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])


@contextlib.contextmanager
def _progress(config: TrainConfig) -> Iterator[Callable[[int, dict[str, float]], None]]:
    """A rich progress bar over the epochs (the last record shown) where ``config.progress_bar``; else silent."""
    if not config.progress_bar:
        yield lambda epoch, record: None
        return
    from rich.progress import Progress

    with Progress() as bar:
        task = bar.add_task("epochs", total=config.epochs)

        def show(epoch: int, record: dict[str, float]) -> None:
            shown = " ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "epoch" and "lr" not in k)
            bar.update(task, completed=epoch + 1, description=f"epoch {epoch + 1}: {shown}")

        yield show
