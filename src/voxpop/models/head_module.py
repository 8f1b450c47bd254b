"""The Lightning module that trains a head: soft-target loss, optimiser and schedule, in-memory item
batches, and dev metrics computed once per epoch on the whole dev set (never averaged over batches).
"""

from __future__ import annotations

from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch import nn

from voxpop.core.errors import ConfigError
from voxpop.evaluation import metrics
from voxpop.models.heads import BackboneClassifier
from voxpop.models.losses import MultiTaskLoss, TargetLoss, concordance
from voxpop.models.specs import Monitor, TrainConfig


def dev_metric(metric: Monitor, probs: np.ndarray, targets: np.ndarray, multilabel: bool) -> float:
    """A dev metric on the whole set with the report's definitions (:mod:`voxpop.evaluation.metrics`).

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
        """AdamW over the trainable parameters, stepped by ``schedule`` (:func:`make_optimiser`)."""
        optimiser, scheduler = make_optimiser(self.network, self.config, int(self.trainer.estimated_stepping_batches))
        return {"optimizer": optimiser, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def make_optimiser(network: nn.Module, config: TrainConfig, total_steps: int) -> tuple[torch.optim.AdamW, Any]:
    """AdamW over ``network``'s trainable parameters and the learning-rate schedule stepped after each step.

    Args:
        network: the head, or a :class:`~voxpop.models.heads.BackboneClassifier` whose backbone parameters
            form a second group at ``config.backbone_lr`` (None: ``lr``).
        config: ``lr``, ``betas``, ``weight_decay``, ``schedule`` and the warm-up.
        total_steps: optimiser steps of the whole fit (epochs x ceil(batches / accumulate_grad_batches)).

    Returns:
        ``(optimiser, scheduler)``: the scheduler is transformers' ``get_scheduler`` (``constant`` is
        ``constant_with_warmup``), to be stepped once after every optimiser step.
    """
    from transformers import get_scheduler

    c = config
    backbone = network.backbone if isinstance(network, BackboneClassifier) else None
    in_backbone = {id(p) for p in backbone.parameters()} if backbone is not None else set()
    trainable = [p for p in network.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if id(p) not in in_backbone], "lr": c.lr}]
    if in_backbone:
        groups.append({"params": [p for p in trainable if id(p) in in_backbone], "lr": c.backbone_lr or c.lr})
    optimiser = torch.optim.AdamW([g for g in groups if g["params"]], betas=c.betas, weight_decay=c.weight_decay)
    name = "constant_with_warmup" if c.schedule == "constant" else c.schedule
    scheduler = get_scheduler(name, optimiser, num_warmup_steps=c.warmup(total_steps), num_training_steps=total_steps)
    return optimiser, scheduler


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
