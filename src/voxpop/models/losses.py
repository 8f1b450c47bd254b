"""Losses on logits with soft targets, class weights and the balanced sampler (METHODS.md section 5).

Every loss takes ``logits`` (items x C) and ``targets`` (items x C, float: distributions, one-hot or
agreement fractions) and averages over items (never over items x classes):

- soft-target cross-entropy, optionally class-weighted: ``-1/N sum_i sum_c w_c y_ic log softmax(z_i)_c``;
- binary cross-entropy on sigmoid outputs, optionally class-weighted:
  ``-1/N sum_i sum_c w_c [y_ic log s(z_ic) + (1 - y_ic) log(1 - s(z_ic))]``;
- KL divergence ``1/N sum_i sum_c y_ic log(y_ic / softmax(z_i)_c)`` with ``0 log 0 = 0``.

Regression losses (dimensional targets, outputs read as values, items x D dimensions) average over
dimensions with optional per-dimension weights w_d (normalised to sum 1): ``mse`` =
sum_d w_d mean_i (z_id - y_id)^2 and ``ccc`` = sum_d w_d (1 - CCC_d), Lin's concordance correlation
over the batch (:func:`concordance`).

Class weights come from :func:`inverse_frequency_weights` (weighted CE / BCE) or
:func:`class_balanced_weights` (Cui et al. 2019). :func:`make_loss` builds a loss module by name from
the training targets; :func:`balanced_sampler` draws items with weight 1 / frequency of their hard class.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import WeightedRandomSampler

from voxpop.core.errors import ConfigError, InputError
from voxpop.labels.decisions import binarize_above_uniform
from voxpop.models.rater_heads import rater_logits
from voxpop.models.specs import dimension_weights, validated_options


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy with soft targets: ``-1/N sum_i sum_c w_c y_ic log softmax(z_i)_c`` (w_c = 1 unweighted).

    Equals ``F.cross_entropy(logits, targets, weight=weight)`` with class-probability targets.

    >>> z = torch.tensor([[0.0, 0.0]])
    >>> round(soft_cross_entropy(z, torch.tensor([[0.5, 0.5]])).item(), 4)  # log 2
    0.6931
    >>> round(soft_cross_entropy(z, torch.tensor([[1.0, 0.0]]), torch.tensor([2.0, 1.0])).item(), 4)
    1.3863
    """
    term = targets * F.log_softmax(logits, dim=-1)
    if weight is not None:
        term = term * weight
    return -term.sum(dim=-1).mean()


def binary_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-class binary cross-entropy on sigmoid outputs, summed over classes and averaged over items.

    ``-1/N sum_i sum_c w_c [y_ic log s(z_ic) + (1 - y_ic) log(1 - s(z_ic))]`` with s the logistic
    sigmoid, computed as log-sigmoid for stability. Equals
    ``F.binary_cross_entropy_with_logits(logits, targets, weight=weight, reduction="sum") / N``.

    >>> round(binary_cross_entropy(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.25]])).item(), 4)  # 2 log 2
    1.3863
    """
    term = targets * F.logsigmoid(logits) + (1 - targets) * F.logsigmoid(-logits)
    if weight is not None:
        term = term * weight
    return -term.sum(dim=-1).mean()


def kl_divergence(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """KL(target || softmax output) per item, averaged: ``1/N sum_i sum_c y_ic (log y_ic - log q_ic)``.

    ``0 log 0 = 0``. Equals ``F.kl_div(F.log_softmax(logits, -1), targets, reduction="batchmean")``.

    >>> round(kl_divergence(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]])).item(), 4)  # log 2
    0.6931
    """
    return (torch.xlogy(targets, targets) - targets * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


def _class_name(j: int, classes: list[str] | None) -> str:
    return f"class {classes[j]!r}" if classes else f"class index {j}"


def inverse_frequency_weights(targets: np.ndarray, classes: list[str] | None = None) -> np.ndarray:
    """Class weights ``w_c = 1 / (C f_c)`` with ``f_c = sum_i y_ic / sum_ic y_ic`` the class's share of target mass.

    Normalisation: ``sum_c f_c w_c = 1``, so a balanced training set gets every w_c = 1 and the weighted
    loss keeps the scale of the unweighted one. A class with no target mass has no finite weight: that
    is an error (drop the class from the class set or use an unweighted loss).

    >>> inverse_frequency_weights(np.array([[1, 0], [1, 0], [1, 0], [0, 1]]))
    array([0.666..., 2.        ])
    """
    mass = np.asarray(targets, dtype=float).sum(axis=0)
    for j in np.flatnonzero(mass <= 0):
        raise ConfigError(
            f"training targets: {_class_name(int(j), classes)} has no training items, so its inverse-frequency "
            "weight is infinite; drop the class from the class set or use an unweighted loss."
        )
    share = mass / mass.sum()
    return 1.0 / (len(mass) * share)


def ar_positive_counts(targets: np.ndarray) -> np.ndarray:
    """n_j = number of items positive for class j under the all-inclusive test form (the 1/C rule).

    An item is positive for j iff ``y_ij > 1/C`` (strictly); an exactly uniform row is positive for
    every class (:func:`voxpop.labels.decisions.binarize_above_uniform`). Multi-hot rows pass unchanged.

    >>> ar_positive_counts(np.array([[0, .6, .4, 0], [.4, .2, .2, .2], [.25, .25, .25, .25]]))
    array([2, 2, 2, 1])
    """
    return np.asarray(binarize_above_uniform(np.asarray(targets, dtype=float))).sum(axis=0)


def class_balanced_weights(
    counts: np.ndarray, beta: float, normalize: bool = False, classes: list[str] | None = None
) -> np.ndarray:
    """Cui et al. (2019) class-balanced factors ``w_j = (1 - beta) / (1 - beta^{n_j})``.

    ``1 / w_j`` is the effective number of samples of class j. With ``normalize`` the factors are
    rescaled to sum to C (the variant used with ``beta = (N - 1) / N``, see :func:`effective_beta`).

    >>> class_balanced_weights(np.array([3, 1]), beta=0.99)  # 0.01 / (1 - 0.99**3), 0.01 / 0.01
    array([0.3366..., 1.        ])
    >>> class_balanced_weights(np.array([3, 1]), beta=effective_beta(4), normalize=True)
    array([0.6037..., 1.3962...])
    """
    if not 0.0 <= beta < 1.0:
        raise ConfigError(f"class-balanced loss: beta must lie in [0, 1), got {beta}.")
    n = np.asarray(counts, dtype=float)
    for j in np.flatnonzero(n <= 0):
        raise ConfigError(
            f"training targets: {_class_name(int(j), classes)} has no positive training item, so its "
            "class-balanced factor is infinite; drop the class from the class set or use another loss."
        )
    weights = (1.0 - beta) / (1.0 - beta**n)
    return weights * len(n) / weights.sum() if normalize else weights


def effective_beta(n_items: int) -> float:
    """The ``beta = (N - 1) / N`` choice for N training items.

    >>> effective_beta(4)
    0.75
    """
    return (n_items - 1) / n_items


def concordance(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Lin's (1989) concordance correlation per column of (N, D) tensors, population (1/N) moments:
    CCC = 2 cov(x, y) / (var x + var y + (mean x - mean y)^2); returns (D,). A column where both are
    constant and equal has 0 / 0: its CCC is taken as 1 (perfect agreement) so the loss stays finite.

    >>> concordance(torch.tensor([[1.0], [2.0], [3.0], [4.0]]), torch.tensor([[1.5], [2.5], [3.5], [4.5]]))
    tensor([0.9091])
    """
    dx, dy = outputs - outputs.mean(dim=0), targets - targets.mean(dim=0)
    covariance = (dx * dy).mean(dim=0)
    denominator = (dx**2).mean(dim=0) + (dy**2).mean(dim=0) + (outputs.mean(dim=0) - targets.mean(dim=0)) ** 2
    return torch.where(denominator > 0, 2 * covariance / denominator.clamp_min(1e-12), torch.ones_like(denominator))


def check_shapes(loss: nn.Module, args: tuple[torch.Tensor, torch.Tensor]) -> None:
    """Refuse targets whose shape differs from the outputs' (a forward pre-hook of every :class:`TargetLoss`).

    Without it torch broadcasts: (N, 1) targets against N x C logits, or (N, 1) values against N x D outputs,
    give a finite loss that means nothing.

    Args:
        loss: the loss module being called.
        args: its ``(outputs, targets)``.

    Raises:
        InputError: naming the loss and both shapes.

    Example:
        >>> SoftCrossEntropyLoss()(torch.zeros(4, 3), torch.ones(4, 1))
        Traceback (most recent call last):
        voxpop.core.errors.InputError: loss SoftCrossEntropyLoss: targets of shape (4, 1) for outputs of shape (4, 3)...
    """
    outputs, targets = args
    if tuple(outputs.shape) != tuple(targets.shape):
        raise InputError(
            f"loss {type(loss).__name__}: targets of shape {tuple(targets.shape)} for outputs of shape "
            f"{tuple(outputs.shape)}; give one target column per model output (items x classes or dimensions)."
        )


class TargetLoss(nn.Module):
    """Base of the loss modules: ``forward(logits, targets) -> scalar``; ``multilabel`` says whether the
    model's outputs are read through a sigmoid (True) or a softmax (False); ``regression``: the outputs
    are values of continuous dimensions (no softmax or sigmoid). Targets must have the outputs' shape
    (:func:`check_shapes`)."""

    multilabel: ClassVar[bool] = False
    regression: ClassVar[bool] = False

    def __init__(self, weight: np.ndarray | None = None) -> None:
        super().__init__()
        self.register_buffer(
            "weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32), persistent=False
        )
        self.register_forward_pre_hook(check_shapes)


def masked_rater_cross_entropy(rater_logits: torch.Tensor, rater_targets: torch.Tensor) -> torch.Tensor:
    """Soft-target cross-entropy of every rater output on the items that output's raters rated, averaged over
    those (item, rater output) pairs: ``-sum_{i,r} m_ir sum_c y_irc log softmax(z_ir)_c / sum_{i,r} m_ir`` with
    ``m_ir = 1`` where ``y_ir`` has a vote (a non-zero row), else 0.

    A rater output gets no gradient from an item it did not rate; a batch no rater rated gives 0.

    Args:
        rater_logits: (B, R, C) logits of the R rater outputs
            (:attr:`voxpop.models.rater_heads.RaterHead.rater_logits`).
        rater_targets: (B, R, C) each output's vote distribution per item, all zero where it did not rate
            (:meth:`voxpop.labels.rater_votes.RaterVotes.targets`).

    Returns:
        The scalar loss.

    Example:
        >>> z = torch.zeros(1, 2, 2)  # item 0: rater 0 voted class 0, rater 1 did not rate
        >>> round(masked_rater_cross_entropy(z, torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])).item(), 4)  # log 2
        0.6931
    """
    rated = (rater_targets.sum(dim=-1) > 0).to(rater_logits.dtype)
    per_pair = -(rater_targets * F.log_softmax(rater_logits, dim=-1)).sum(dim=-1)
    return (per_pair * rated).sum() / rated.sum().clamp_min(1.0)


class MaskedRaterLoss(nn.Module):
    """Module form of :func:`masked_rater_cross_entropy`, the training loss of the rater-aware heads.

    Raises :class:`~voxpop.core.errors.InputError` when the targets' shape differs from the logits'
    (:func:`check_shapes`)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_forward_pre_hook(check_shapes)

    def forward(self, rater_logits: torch.Tensor, rater_targets: torch.Tensor) -> torch.Tensor:
        return masked_rater_cross_entropy(rater_logits.float(), rater_targets.float())


def training_loss(
    network: nn.Module,
    outputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: TargetLoss,
    rater_targets: torch.Tensor | None = None,
    rater_loss: MaskedRaterLoss | None = None,
) -> torch.Tensor:
    """The loss a training batch is optimised on, in both training loops (Lightning's
    :class:`~voxpop.models.head_module.HeadModule` and :func:`~voxpop.models.lean_training.fit_lean`).

    Args:
        network: the network whose forward pass gave ``outputs`` (a rater-aware head keeps that pass's per-rater
            logits, :func:`~voxpop.models.rater_heads.rater_logits`).
        outputs: the item prediction ``(B, C)`` (or ``(B, D)`` values of a regressor).
        targets: the batch's item targets, same shape.
        loss_fn: the item loss (:func:`make_loss`).
        rater_targets: a rater-aware head's per-rater targets ``(B, R, C)`` (all zero where a rater output did not
            rate the item), or None.
        rater_loss: the loss on them, with ``rater_targets``.

    Returns:
        The scalar loss: ``rater_loss`` on the per-rater logits against ``rater_targets`` where they are given,
        else ``loss_fn(outputs, targets)``.

    Raises:
        ConfigError: ``rater_targets`` without ``rater_loss`` (or a network without a rater-aware head).
        InputError: targets whose shape differs from the outputs' (:func:`check_shapes`).

    Example:
        >>> from voxpop.models.heads import build_head
        >>> head = build_head("per_rater", 4, 2, 3, trunk="linear", trunk_dim=5)
        >>> out = head(torch.zeros(1, 4))
        >>> votes = torch.tensor([[[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])  # only rater output 0 rated the item
        >>> item_y = torch.tensor([[1.0, 0.0]])
        >>> loss = training_loss(head, out, item_y, SoftCrossEntropyLoss(), votes, MaskedRaterLoss())
        >>> bool(loss == -torch.log_softmax(head.rater_logits[0, 0], dim=-1)[0])
        True
    """
    if rater_targets is None:
        return loss_fn(outputs.float(), targets)
    if rater_loss is None:
        raise ConfigError("per-rater targets need a rater loss (MaskedRaterLoss); the training loop was given none.")
    return rater_loss(rater_logits(network), rater_targets)


class SoftCrossEntropyLoss(TargetLoss):
    """Module form of :func:`soft_cross_entropy` (class weights optional)."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return soft_cross_entropy(logits.float(), targets.float(), self.weight)


class BinaryCrossEntropyLoss(TargetLoss):
    """Module form of :func:`binary_cross_entropy` (class weights optional); outputs read via sigmoid."""

    multilabel = True

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return binary_cross_entropy(logits.float(), targets.float(), self.weight)


class KLDivergenceLoss(TargetLoss):
    """Module form of :func:`kl_divergence`."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return kl_divergence(logits.float(), targets.float())


class MSELoss(TargetLoss):
    """Mean squared error per dimension, averaged over dimensions with weights ``weight`` (sum 1)."""

    regression = True

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        per_dimension = ((outputs.float() - targets.float()) ** 2).mean(dim=0)
        return per_dimension.mean() if self.weight is None else (self.weight * per_dimension).sum()


class CCCLoss(TargetLoss):
    """1 - CCC per dimension over the batch (:func:`concordance`), averaged over dimensions with weights
    ``weight`` (sum 1). Batches need at least two items (a variance over one item is 0)."""

    regression = True

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        per_dimension = 1 - concordance(outputs.float(), targets.float())
        return per_dimension.mean() if self.weight is None else (self.weight * per_dimension).sum()


class MultiTaskLoss(TargetLoss):
    """Classes and dimensions from one output (items x (C + D)): ``task_weights[0]`` x the class loss on the
    first C outputs (logits) + ``task_weights[1]`` x the dimension loss (``mse`` / ``ccc``) on the last D
    (values); targets are laid out the same way (class distribution, then dimension values)."""

    def __init__(
        self, n_classes: int, class_loss: TargetLoss, dimension_loss: TargetLoss, task_weights: tuple[float, float]
    ) -> None:
        super().__init__()
        self.n_classes, self.class_loss, self.dimension_loss = n_classes, class_loss, dimension_loss
        self.task_weights = task_weights
        self.multilabel = class_loss.multilabel  # how the class outputs are read

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        c = self.n_classes
        class_part = self.class_loss(outputs[:, :c], targets[:, :c])
        return self.task_weights[0] * class_part + self.task_weights[1] * self.dimension_loss(
            outputs[:, c:], targets[:, c:]
        )


LOSS_MODULES: dict[str, type[TargetLoss]] = {
    "ce": SoftCrossEntropyLoss,  # soft-target cross-entropy
    "wce": SoftCrossEntropyLoss,  # weighted by inverse class frequency
    "bce": BinaryCrossEntropyLoss,  # per-class BCE on sigmoid outputs
    "wbce": BinaryCrossEntropyLoss,  # weighted by inverse class frequency
    "cbce": SoftCrossEntropyLoss,  # class-balanced (Cui et al.)
    "kld": KLDivergenceLoss,  # KL(target || softmax output)
    "mse": MSELoss,  # regression: mean squared error per dimension
    "ccc": CCCLoss,  # regression: 1 - concordance correlation per dimension
    "multitask": MultiTaskLoss,  # classes and dimensions together (make_loss: class_loss + dimension_loss)
}


def loss_class(name: str) -> type[TargetLoss]:
    """The module class of loss ``name``; its ``multilabel`` says whether outputs are read via sigmoid.

    >>> loss_class("wbce").multilabel
    True
    """
    if name not in LOSS_MODULES:
        raise ConfigError(f"unknown loss {name!r}; choose one of {', '.join(LOSS_MODULES)}.")
    return LOSS_MODULES[name]


def make_loss(name: str, train_targets: np.ndarray, classes: list[str] | None = None, **options: object) -> TargetLoss:
    """Build loss ``name`` (see :data:`LOSS_MODULES`) with class weights computed from the training targets.

    ``wce`` / ``wbce`` use :func:`inverse_frequency_weights`; ``cbce`` uses :func:`class_balanced_weights`
    of :func:`ar_positive_counts` and takes ``beta`` (float in [0, 1), default
    0.99; None means ``(N-1)/N``) and ``normalize`` (bool, default False). ``beta=0.99`` unnormalised is
    the plain Cui et al. factor; ``beta=None, normalize=True`` the ``(N-1)/N`` variant summing to C.
    Regression losses (``mse``, ``ccc``; targets items x dimensions, ``classes`` the dimension names)
    take ``weights``: one per dimension (a list, or a mapping by name), normalised to sum 1.

    >>> make_loss("wce", np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])).weight
    tensor([0.6667, 2.0000])
    >>> make_loss("cbce", np.array([[0.6, 0.4], [1.0, 0.0]]))  # n = (2, 0): 0.4 is not > 1/2
    Traceback (most recent call last):
    voxpop.core.errors.ConfigError: training targets: class index 1 has no positive training item, ...
    """
    cls = loss_class(name)
    if name == "multitask":
        return _multitask_loss(train_targets, classes, options)
    validated = validated_options("loss", name, dict(options))  # unknown keys, types, bounds
    if cls.regression:
        return cls(dimension_weights(name, options, classes, np.shape(train_targets)[1]))
    y = np.asarray(train_targets, dtype=float)
    weight = None
    if name in ("wce", "wbce"):
        weight = inverse_frequency_weights(y, classes)
    elif name == "cbce":
        beta = effective_beta(len(y)) if validated["beta"] is None else validated["beta"]
        weight = class_balanced_weights(ar_positive_counts(y), beta, validated["normalize"], classes)
    return cls(weight)


def _multitask_loss(train_targets: np.ndarray, columns: list[str] | None, options: dict) -> MultiTaskLoss:
    """:class:`MultiTaskLoss` from the options ``dimensions`` (names of the last target columns, required),
    ``class_loss`` (default ce), ``dimension_loss`` (ccc or mse, default ccc), ``task_weights`` ([classes,
    dimensions], default [1, 1]) and ``weights`` (per dimension, as for ``mse`` / ``ccc``)."""
    validated_options("loss", "multitask", options)  # unknown keys, types, bounds
    y = np.asarray(train_targets, dtype=float)
    dimensions = [str(d) for d in options.get("dimensions") or []]
    n_classes = y.shape[1] - len(dimensions)
    if not dimensions or n_classes < 1 or (columns is not None and columns[n_classes:] != dimensions):
        raise ConfigError(
            f"loss 'multitask': option dimensions must name the last target columns (after at least one class); "
            f"got dimensions={dimensions} for columns {columns or y.shape[1]}."
        )
    class_name, dimension_name = options.get("class_loss", "ce"), options.get("dimension_loss", "ccc")
    if class_name not in LOSS_MODULES or LOSS_MODULES[class_name].regression or class_name == "multitask":
        raise ConfigError(f"loss 'multitask': class_loss {class_name!r} must be a classification loss.")
    if dimension_name not in ("mse", "ccc"):
        raise ConfigError(f"loss 'multitask': dimension_loss {dimension_name!r} must be mse or ccc.")
    task_weights = options.get("task_weights", [1.0, 1.0])
    if len(task_weights) != 2 or min(task_weights) < 0 or sum(task_weights) <= 0:
        raise ConfigError(f"loss 'multitask': task_weights must be two non-negative numbers, got {task_weights}.")
    names = columns[:n_classes] if columns else None
    class_loss = make_loss(class_name, y[:, :n_classes], names)
    weights = {"weights": options["weights"]} if options.get("weights") is not None else {}
    dimension_loss = make_loss(dimension_name, y[:, n_classes:], dimensions, **weights)
    return MultiTaskLoss(n_classes, class_loss, dimension_loss, (float(task_weights[0]), float(task_weights[1])))


def balanced_sampler(targets: np.ndarray, seed: int, num_samples: int | None = None) -> WeightedRandomSampler:
    """Sampler drawing item i with weight ``1 / count(hard class of i)``, with replacement, seeded.

    The hard class is the argmax of the target row (first class on ties). Every class present then
    has the same total weight, so each draw hits each present class with probability 1 / K.
    ``num_samples`` defaults to the number of items (one epoch).

    >>> sampler = balanced_sampler(np.array([[1, 0], [1, 0], [1, 0], [0, 1]]), seed=0)
    >>> sampler.weights
    tensor([0.3333, 0.3333, 0.3333, 1.0000], dtype=torch.float64)
    """
    hard = np.asarray(targets).argmax(axis=1)
    counts = np.bincount(hard)
    generator = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(
        torch.as_tensor(1.0 / counts[hard], dtype=torch.float64),
        num_samples=len(hard) if num_samples is None else num_samples,
        replacement=True,
        generator=generator,
    )
