"""Heads that learn from every rater (METHODS.md section 4.4; docs/raters.md): ``per_rater`` and ``crowd_layer``.

Both keep the head contract ``forward(x, mask=None) -> (B, C)`` for the item prediction, so training on the
consensus dev set, prediction, saving and export treat them as any head, and both keep the per-rater outputs of
their last forward pass in :attr:`RaterHead.rater_logits` ``(B, R, C)``, which the masked loss
(:func:`voxpop.models.losses.masked_rater_cross_entropy`) reads during training and
:func:`rater_logits` reads for ``voxpop predict --rater`` and the second ONNX output.

- :class:`PerRaterHead`: a shared trunk (any pooled or frame head, ``trunk`` / ``trunk_options``, giving a
  ``trunk_dim`` representation, then ReLU) and one linear output layer per rater output. The item prediction is the
  mean of the rater outputs' probabilities, ``p = 1/R sum_r softmax(z_r)``, returned as ``log p`` (a softmax of it
  gives p back exactly).
- :class:`CrowdLayerHead`: one shared classifier (the trunk with C outputs) and crowd-kit's
  ``crowdkit.learning.CrowdLayer`` (``conn_type="mw"``, Rodrigues & Pereira 2018): rater r's logits are
  ``W_r p`` with p the shared classifier's softmax output and ``W_r`` a C x C matrix initialised to the identity.
  Column k of ``W_r`` is then rater r's logits when the true class is k, so ``softmax(W_r[:, k])`` is the rater's
  estimated confusion row (:meth:`CrowdLayerHead.confusions`). The item prediction is the shared output.

Rater outputs are named by the model's ``TrainedSpec.raters`` (rater ids, then ``other raters`` for the raters
with fewer than ``min_ratings_per_rater`` training ratings); ``min_ratings_per_rater`` is recorded on the head.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from voxpop.core.errors import ConfigError
from voxpop.models.specs import TRUNKS

BuildTrunk = Callable[..., nn.Module]
"""``build(name, in_dim, out_dim, **options)``: a head of :data:`voxpop.models.specs.TRUNKS` as the shared trunk
(:func:`voxpop.models.heads.build_head`, which builds the rater-aware heads and hands itself in)."""


class RaterHead(nn.Module):
    """Base of the rater-aware heads: the per-rater logits ``(B, R, C)`` of the last forward pass."""

    frame_level: bool = False
    n_raters: int
    rater_logits: torch.Tensor | None = None

    def _trunk(self, build: BuildTrunk, name: str, options: dict[str, Any], in_dim: int, out_dim: int) -> nn.Module:
        """The shared trunk: head ``name`` built by ``build`` with ``out_dim`` outputs (its frame level is ours)."""
        if name not in TRUNKS:  # validated_options checks it first; a direct construction lands here
            raise ConfigError(f"head_options.trunk: {name!r} is no trunk; choose one of {', '.join(TRUNKS)}.")
        trunk = build(name, in_dim, out_dim, **options)
        self.frame_level = bool(trunk.frame_level)
        return trunk


class PerRaterHead(RaterHead):
    """Shared trunk -> ReLU -> one linear output per rater; item prediction = log of the mean rater probability.

    Args:
        in_dim: input feature size D.
        n_classes: classes C.
        n_raters: rater outputs R (own outputs and the shared ``other raters`` one).
        build_trunk: builds the trunk (:data:`BuildTrunk`; :func:`voxpop.models.heads.build_head` passes itself).
        trunk: the trunk's head (``mlp``, ``linear``, ``residual``, ``attentive_stats``, ``lstm``).
        trunk_options: that head's options (e.g. ``hidden_dim``).
        trunk_dim: the width of the shared representation.
        min_ratings_per_rater: training ratings a rater needs for an output of its own (recorded here; the
            targets are built with it, :meth:`voxpop.labels.rater_votes.RaterVotes.targets`).

    Example:
        >>> from voxpop.models.heads import build_head
        >>> head = build_head("per_rater", 4, 3, 5, trunk="linear", trunk_dim=8)
        >>> out = head(torch.zeros(2, 4))
        >>> out.shape, head.rater_logits.shape, torch.allclose(out.exp().sum(dim=1), torch.ones(2))
        (torch.Size([2, 3]), torch.Size([2, 5, 3]), True)
    """

    def __init__(
        self,
        in_dim: int,
        n_classes: int,
        n_raters: int,
        build_trunk: BuildTrunk,
        *,
        trunk: str = "mlp",
        trunk_options: dict[str, Any] | None = None,
        trunk_dim: int = 256,
        min_ratings_per_rater: int = 20,
    ) -> None:
        super().__init__()
        self.n_raters, self.min_ratings_per_rater = n_raters, min_ratings_per_rater
        self.trunk = self._trunk(build_trunk, trunk, dict(trunk_options or {}), in_dim, trunk_dim)
        bound = 1 / math.sqrt(trunk_dim)  # nn.Linear's initialisation, per rater
        self.weight = nn.Parameter(torch.empty(n_raters, trunk_dim, n_classes).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_raters, n_classes).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.relu(self.trunk(x, mask))
        self.rater_logits = torch.einsum("bh,rhc->brc", h, self.weight) + self.bias
        log_probs = torch.log_softmax(self.rater_logits, dim=-1)
        return torch.logsumexp(log_probs, dim=1) - math.log(self.n_raters)


class CrowdLayerHead(RaterHead):
    """A shared classifier and crowd-kit's ``CrowdLayer`` (``mw``): rater r's logits ``W_r softmax(z)``.

    Args:
        in_dim: input feature size D.
        n_classes: classes C.
        n_raters: rater outputs R.
        build_trunk: as :class:`PerRaterHead`.
        trunk: the shared classifier's head (its C outputs are the shared logits z).
        trunk_options: that head's options.
        min_ratings_per_rater: as :class:`PerRaterHead`.

    Example:
        >>> from voxpop.models.heads import build_head
        >>> head = build_head("crowd_layer", 4, 3, 2, trunk="linear")
        >>> z = head(torch.zeros(5, 4))
        >>> z.shape, head.rater_logits.shape, head.confusions().shape
        (torch.Size([5, 3]), torch.Size([5, 2, 3]), (2, 3, 3))
    """

    def __init__(
        self,
        in_dim: int,
        n_classes: int,
        n_raters: int,
        build_trunk: BuildTrunk,
        *,
        trunk: str = "mlp",
        trunk_options: dict[str, Any] | None = None,
        min_ratings_per_rater: int = 20,
    ) -> None:
        from crowdkit.learning import CrowdLayer  # imports transformers: only where a crowd layer is built

        super().__init__()
        self.n_raters, self.min_ratings_per_rater = n_raters, min_ratings_per_rater
        self.trunk = self._trunk(build_trunk, trunk, dict(trunk_options or {}), in_dim, n_classes)
        self.crowd = CrowdLayer(n_classes, n_raters, conn_type="mw")

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        z = self.trunk(x, mask)
        b, c = z.shape
        probs = torch.softmax(z, dim=-1).repeat_interleave(self.n_raters, dim=0)  # (B * R, C): item-major
        workers = torch.arange(self.n_raters, device=z.device).repeat(b)
        self.rater_logits = self.crowd(probs, workers).reshape(b, self.n_raters, c)
        return z

    def confusions(self) -> np.ndarray:
        """Each rater output's estimated confusion matrix ``(R, C, C)``: row k = ``softmax(W_r[:, k])``, the
        distribution of the rater's label when the true class is k (rows sum to 1)."""
        weight = self.crowd.weight.detach().float().cpu()
        return torch.softmax(weight.transpose(1, 2), dim=-1).numpy()

    def diagonal_mass(self) -> np.ndarray:
        """Per rater output the mean diagonal of :meth:`confusions`: its estimated accuracy averaged over classes."""
        return np.diagonal(self.confusions(), axis1=1, axis2=2).mean(axis=1)


RATER_HEAD_MODULES: dict[str, type[RaterHead]] = {"per_rater": PerRaterHead, "crowd_layer": CrowdLayerHead}


def rater_head(network: nn.Module) -> RaterHead:
    """The rater-aware head inside ``network`` (bare, under a layer-weighted sum or a backbone).

    Raises:
        ConfigError: ``network`` has none.
    """
    found = [m for m in network.modules() if isinstance(m, RaterHead)]
    if not found:
        raise ConfigError("this model has no per-rater outputs; train it with head per_rater or crowd_layer.")
    return found[0]


def rater_logits(network: nn.Module) -> torch.Tensor:
    """The per-rater logits ``(B, R, C)`` of ``network``'s last forward pass (see :class:`RaterHead`)."""
    logits = rater_head(network).rater_logits
    if logits is None:
        raise ConfigError("internal: the rater head has not run yet; call the network first.")
    return logits
