"""AdamW and the learning-rate schedule of every neural head, without importing a framework.

The schedules are those of transformers' ``get_scheduler`` (``constant_with_warmup``, ``linear``, ``cosine``
with half a cycle), written out as the same float operations so that the learning rates are equal bit for
bit (a test compares them) and training a head does not import transformers.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from voxpop.models.heads import BackboneClassifier
from voxpop.models.specs import Schedule, TrainConfig


def lr_factor(step: int, schedule: Schedule, warmup: int, total: int) -> float:
    """The learning rate at optimiser step ``step`` as a share of the peak rate.

    A linear warm-up from 0 over ``warmup`` steps, then 1 (``constant``), a linear decay to 0 at step
    ``total`` (``linear``) or a half cosine to 0 at step ``total`` (``cosine``).

    >>> [lr_factor(s, "linear", 2, 6) for s in range(7)]
    [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0]
    """
    if step < warmup:
        return float(step) / float(max(1, warmup))
    if schedule == "constant":
        return 1.0
    progress = float(step - warmup) / float(max(1, total - warmup))
    if schedule == "linear":
        return max(0.0, float(total - step) / float(max(1, total - warmup)))
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


def make_optimiser(
    network: nn.Module, config: TrainConfig, total_steps: int
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over ``network``'s trainable parameters and the learning-rate schedule stepped after each step.

    Args:
        network: the head, or a :class:`~voxpop.models.heads.BackboneClassifier` whose backbone parameters
            form a second group at ``config.backbone_lr`` (None: ``lr``).
        config: ``lr``, ``betas``, ``weight_decay``, ``schedule`` and the warm-up.
        total_steps: optimiser steps of the whole fit (epochs x ceil(batches / accumulate_grad_batches)).

    Returns:
        ``(optimiser, scheduler)``: the scheduler is a ``LambdaLR`` of :func:`lr_factor`, to be stepped once
        after every optimiser step.
    """
    c = config
    backbone = network.backbone if isinstance(network, BackboneClassifier) else None
    in_backbone = {id(p) for p in backbone.parameters()} if backbone is not None else set()
    trainable = [p for p in network.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if id(p) not in in_backbone], "lr": c.lr}]
    if in_backbone:
        groups.append({"params": [p for p in trainable if id(p) in in_backbone], "lr": c.backbone_lr or c.lr})
    optimiser = torch.optim.AdamW([g for g in groups if g["params"]], betas=c.betas, weight_decay=c.weight_decay)
    factor = functools.partial(lr_factor, schedule=c.schedule, warmup=c.warmup(total_steps), total=total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, factor)
    return optimiser, scheduler
