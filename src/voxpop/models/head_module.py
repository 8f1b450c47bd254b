"""The Lightning module that trains a head: soft-target loss, optimiser and schedule, in-memory item
batches, and dev metrics computed once per epoch on the whole dev set (never averaged over batches).
"""

from __future__ import annotations

from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch import nn

from voxpop.models.epoch_scores import dev_record
from voxpop.models.losses import MaskedRaterLoss, TargetLoss, training_loss
from voxpop.models.optimisation import make_optimiser
from voxpop.models.specs import TrainConfig


class HeadModule(L.LightningModule):
    """Lightning wrapper of a network + loss: AdamW with a learning-rate schedule, per-epoch history and
    whole-dev-set metrics (gathered from every rank under DDP, so all ranks see the same value).

    A batch with ``rater_targets`` (a rater-aware head's training items) trains with ``rater_loss`` on the
    network's per-rater logits (:class:`~voxpop.models.losses.MaskedRaterLoss`); dev batches are scored with
    ``loss_fn`` on the item prediction against the dev targets, as for every head."""

    def __init__(
        self, network: nn.Module, loss_fn: TargetLoss, config: TrainConfig, rater_loss: MaskedRaterLoss | None = None
    ) -> None:
        super().__init__()
        self.network = network
        self.loss_fn = loss_fn
        self.rater_loss = rater_loss
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
        outputs = self(batch["x"], batch["mask"])  # a rater-aware head also keeps its per-rater logits
        raters = batch.get("rater_targets")
        loss = training_loss(self.network, outputs, batch["y"], self.loss_fn, raters, self.rater_loss)
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
        self._record = dev_record(self.loss_fn, logits[keep], targets[keep], self.config.monitor)
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
