"""What a recipe can ask of a model, without importing torch, Lightning or scikit-learn: the names of the
heads, classical models and losses (and what each loss's outputs are), the training options
(:class:`TrainConfig`) and a model's recipe-level choice (:class:`ModelSpec`).

Planning a study, checking a recipe and the CLI read these; the modules that build and train models
(:mod:`voxpop.models.heads`, :mod:`voxpop.models.losses`, :mod:`voxpop.models.training`) implement exactly these names
(``tests/test_architecture.py`` checks that they agree), so a process that only plans and reports (the
main process of ``voxpop run --workers N``) never loads torch.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, NamedTuple

import numpy as np
import pydantic

from voxpop.core.errors import ConfigError
from voxpop.core.limits import STRICT_NUMBERS, Int, Seed

HEADS = ("linear", "mlp", "residual", "attentive_stats", "lstm", "per_rater", "crowd_layer")
"""Neural heads (torch modules of :data:`voxpop.models.heads.HEAD_MODULES`)."""

RATER_HEADS = ("per_rater", "crowd_layer")
"""The heads that learn each rater's own votes (:mod:`voxpop.models.rater_heads`; docs/raters.md)."""

TRUNKS = ("linear", "mlp", "residual", "attentive_stats", "lstm")
"""The heads a rater-aware head can use as its shared trunk (``head_options.trunk``)."""

CLASSICAL = ("svm", "logreg", "svr", "ridge")
"""Classical models (scikit-learn pipelines of :data:`voxpop.models.heads.CLASSICAL_PIPELINES`)."""

REGRESSORS = ("svr", "ridge")
"""The classical models that regress dimensions (the others classify)."""


class LossKind(NamedTuple):
    """How a loss reads a model's outputs: per-class sigmoids (``multilabel``), values of continuous
    dimensions (``regression``), or else a softmax over classes."""

    multilabel: bool = False
    regression: bool = False


LOSSES: dict[str, LossKind] = {
    "ce": LossKind(),  # soft-target cross-entropy
    "wce": LossKind(),  # weighted by inverse class frequency
    "bce": LossKind(multilabel=True),  # per-class BCE on sigmoid outputs
    "wbce": LossKind(multilabel=True),  # weighted by inverse class frequency
    "cbce": LossKind(),  # class-balanced (Cui et al.)
    "kld": LossKind(),  # KL(target || softmax output)
    "mse": LossKind(regression=True),  # regression: mean squared error per dimension
    "ccc": LossKind(regression=True),  # regression: 1 - concordance correlation per dimension
    "multitask": LossKind(),  # classes and dimensions together (class_loss + dimension_loss)
}
"""Every loss by name (modules: :data:`voxpop.models.losses.LOSS_MODULES`)."""

Monitor = Literal["loss", "macro_f1", "binary_f1", "uar", "ccc"]
Schedule = Literal["constant", "linear", "cosine"]


class BackboneConfig(pydantic.BaseModel):
    """A Hugging Face self-supervised backbone to fine-tune end to end (see ``BackboneClassifier``)."""

    model_config = STRICT_NUMBERS

    path: str = pydantic.Field(description="Local backbone directory loadable with transformers.AutoModel.")
    keep_layers: Int | None = pydantic.Field(None, ge=1, description="Keep only the first k transformer layers.")
    trainable_layers: Int | None = pydantic.Field(
        None, ge=0, description="Train only the top k transformer layers (None: all); the CNN encoder stays frozen."
    )
    normalize_audio: bool | None = pydantic.Field(
        None, description="Standardise each clip; None: as the checkpoint's feature extractor (do_normalize)."
    )
    pass_attention_mask: bool | None = pydantic.Field(
        None, description="Give the sample mask to the backbone; None: only with a layer-norm feature encoder."
    )


class TrainConfig(pydantic.BaseModel):
    """Optimisation, early stopping, seeding and hardware options of :func:`fit`.

    The learning rate follows ``schedule`` per optimiser step (transformers' ``get_scheduler``): a linear
    warm-up from 0 over ``warmup_steps`` (or ``warmup_ratio`` of all steps), then constant, linear decay
    to 0 or half-cosine decay to 0 at the last step. ``backbone_lr`` is the backbone's own rate when
    fine-tuning (the head and layer weights use ``lr``). ``accumulate_grad_batches`` sums gradients over
    that many batches per step. ``devices`` / ``num_nodes`` / ``strategy`` go to Lightning's Trainer
    (``batch_size`` is per device: the global batch is batch_size x devices x num_nodes x accumulation).
    Frame sequences (``(T, D)`` or ``(L, T, D)`` items) are batched by length so that a batch's padded size,
    items x longest item, stays within ``max_batch_frames`` time steps (:mod:`voxpop.models.batching`; None pads
    random batches of ``batch_size``); items longer than ``long_item_frames`` time steps are reported by
    name when training starts.
    """

    model_config = STRICT_NUMBERS

    lr: float = pydantic.Field(1e-3, gt=0, description="AdamW learning rate, the peak after warm-up.")
    backbone_lr: float | None = pydantic.Field(
        None, gt=0, description="Fine-tuning: the backbone's own learning rate (None: lr)."
    )
    betas: tuple[float, float] = pydantic.Field((0.9, 0.999), description="AdamW beta1, beta2.")
    weight_decay: float = pydantic.Field(0.01, ge=0, description="AdamW weight decay.")
    schedule: Schedule = pydantic.Field("constant", description="Learning rate after warm-up: constant or decay to 0.")
    warmup_steps: Int = pydantic.Field(0, ge=0, description="Linear warm-up over this many optimiser steps.")
    warmup_ratio: float = pydantic.Field(
        0.0, ge=0, lt=1, description="Linear warm-up over this share of all optimiser steps."
    )
    accumulate_grad_batches: Int = pydantic.Field(
        1, ge=1, description="Sum gradients over this many batches per optimiser step."
    )
    epochs: Int = pydantic.Field(20, ge=1, description="Neural heads: most epochs.")
    batch_size: Int = pydantic.Field(32, ge=1, description="Neural heads: items per batch per device.")
    max_batch_frames: Int | None = pydantic.Field(
        32_000, ge=1, description="Frame sequences: most padded time steps per batch; None: no length bucketing."
    )
    long_item_frames: Int = pydantic.Field(
        6_000, ge=1, description="Frame sequences: report items longer than this (6000: 60 s of 10 ms frames)."
    )
    seed: Seed = pydantic.Field(0, description="Seed of initialisation and sampling.")
    monitor: Monitor = pydantic.Field("loss", description="Early stopping: the dev metric watched.")
    patience: Int | None = pydantic.Field(
        5, ge=1, description="Early stopping: epochs without improvement; None: no stopping."
    )
    balanced_sampling: bool = pydantic.Field(False, description="Draw training items with weight 1 / class size.")
    backbone: BackboneConfig | None = pydantic.Field(None, description="Fine-tune this backbone under the head.")
    precision: Literal["auto", "32-true", "bf16-mixed", "16-mixed"] = pydantic.Field(
        "auto", description="Lightning precision: auto, 32-true, bf16-mixed (GPU or CPU), 16-mixed (GPU)."
    )
    accelerator: str = pydantic.Field("auto", description="Lightning accelerator.")
    devices: Int | str | list[Int] = pydantic.Field(
        "auto", description="Lightning devices per node: auto, a count, or device ids (0,1)."
    )
    num_nodes: Int = pydantic.Field(1, ge=1, description="Lightning: number of nodes (machines).")
    strategy: str = pydantic.Field("auto", description="Lightning strategy, e.g. ddp for several devices.")
    deterministic: bool | Literal["warn"] = pydantic.Field("warn", description="Lightning deterministic algorithms.")
    num_workers: Int = pydantic.Field(0, ge=0, description="Data loader worker processes.")
    progress_bar: bool = pydantic.Field(True, description="Show Lightning's progress bar.")

    @pydantic.model_validator(mode="after")
    def _one_warmup(self) -> TrainConfig:
        if self.warmup_steps and self.warmup_ratio:
            raise ValueError("give warmup_steps or warmup_ratio, not both")
        return self

    def warmup(self, total_steps: int) -> int:
        """Warm-up optimiser steps: ``warmup_steps``, or ``ceil(warmup_ratio * total_steps)``.

        >>> TrainConfig(warmup_ratio=0.1).warmup(25)
        3
        """
        return self.warmup_steps or math.ceil(self.warmup_ratio * total_steps)


class ModelSpec(pydantic.BaseModel):
    """Which head to train with which loss and optimisation settings.

    Classical heads (``logreg``, ``svm``) fit soft targets by sample weights: they ignore ``loss``,
    ``loss_options`` and ``train`` except ``train.seed``. ``standardize`` z-scores every feature
    dimension with the fold's training statistics before the head (classical pipelines standardise
    again, which changes nothing); it does not apply to backbone fine-tuning (``train.backbone``), whose
    input is the ``waveform`` extractor's raw audio.
    """

    model_config = STRICT_NUMBERS

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
        return not self.classical and self.loss in LOSSES and LOSSES[self.loss].multilabel

    @property
    def regression(self) -> bool:
        """Whether the model regresses dimensions: head svr / ridge, or a neural head with loss mse / ccc."""
        return self.head in REGRESSORS or (not self.classical and self.loss in LOSSES and LOSSES[self.loss].regression)


def dimension_weights(name: str, options: dict, dimensions: list[str] | None, n: int) -> np.ndarray | None:
    """The ``weights`` option of regression loss ``name`` over ``n`` dimensions (one per dimension, by name or in
    order) normalised to sum 1, or None when not given: (n,) floats. Raises :class:`ConfigError` for another
    option or weights that are not ``n`` non-negative numbers with a positive sum.

    >>> dimension_weights("ccc", {"weights": {"valence": 3, "arousal": 1}}, ["arousal", "valence"], 2)
    array([0.25, 0.75])
    """
    if unknown := sorted(set(options) - {"weights"}):
        raise ConfigError(f"loss {name!r}: unknown option(s) {', '.join(unknown)}; it accepts weights.")
    given = options.get("weights")
    if given is None:
        return None
    names = dimensions or [str(d) for d in range(n)]
    if isinstance(given, dict):
        if missing := [d for d in names if d not in given] or [d for d in given if d not in names]:
            raise ConfigError(f"loss {name!r}: weights name {sorted(given)}, the dimensions are {names} ({missing}).")
        given = [given[d] for d in names]
    weights = np.asarray(given, dtype=float)
    if weights.shape != (n,) or not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise ConfigError(
            f"loss {name!r}: weights must be {n} non-negative numbers (one per dimension {names}) with a "
            f"positive sum, got {given}."
        )
    return weights / weights.sum()


Width = Annotated[int, pydantic.Strict(), pydantic.Field(ge=1, le=2**31 - 1)]
"""A layer width or component count (the product with the input size meets the ceiling ``head_parameters``
when the head is built, :func:`voxpop.models.heads.build_head`)."""
Layers = Annotated[int, pydantic.Strict(), pydantic.Field(ge=0, le=64)]
Rate = Annotated[float, pydantic.Field(ge=0, lt=1)]
Positive = Annotated[float, pydantic.Field(gt=0)]
NonNegative = Annotated[float, pydantic.Field(ge=0)]
Kernel = Literal["rbf", "linear", "poly", "sigmoid"]
DimensionWeights = Any  # one per dimension, checked with the dimensions by dimension_weights


def _options(name: str, **fields: Any) -> type[pydantic.BaseModel]:
    return pydantic.create_model(f"{name}_options", __config__=STRICT_NUMBERS, **fields)


HEAD_OPTIONS: dict[str, type[pydantic.BaseModel]] = {
    "linear": _options("linear", projector_dim=(Width | None, None)),
    "mlp": _options("mlp", hidden_dim=(Width, 1024), n_hidden=(Layers, 2), dropout=(Rate, 0.5)),
    "residual": _options("residual", hidden_dim=(Width, 256), dropout=(Rate, 0.1)),
    "attentive_stats": _options("attentive_stats", attention_dim=(Width, 128)),
    "lstm": _options(
        "lstm", hidden_size=(Width, 128), num_layers=(Layers, 1), bidirectional=(bool, True), dropout=(Rate, 0.0)
    ),
    "per_rater": _options(
        "per_rater", trunk=(Literal[TRUNKS], "mlp"), trunk_options=(dict[str, Any] | None, None),
        trunk_dim=(Width, 256), min_ratings_per_rater=(Annotated[Int, pydantic.Field(ge=1)], 20),
    ),
    "crowd_layer": _options(
        "crowd_layer", trunk=(Literal[TRUNKS], "mlp"), trunk_options=(dict[str, Any] | None, None),
        min_ratings_per_rater=(Annotated[Int, pydantic.Field(ge=1)], 20),
    ),
    "svm": _options(
        "svm", C=(Positive, 1.0), kernel=(Kernel, "rbf"), pca_components=(Width | None, None),
        calibration_folds=(Annotated[Int, pydantic.Field(ge=2)], 5),
    ),
    "logreg": _options(
        "logreg", C=(Positive, 1.0), max_iter=(Annotated[Int, pydantic.Field(ge=1)], 1000),
        pca_components=(Width | None, None),
    ),
    "svr": _options(
        "svr", C=(Positive, 1.0), epsilon=(NonNegative, 0.1), kernel=(Kernel, "rbf"),
        pca_components=(Width | None, None),
    ),
    "ridge": _options("ridge", alpha=(NonNegative, 1.0), pca_components=(Width | None, None)),
}
"""The options every head and classical model accepts (``model.head_options``), with their types, bounds and
defaults: the keyword parameters of :data:`voxpop.models.heads.HEAD_MODULES` / ``CLASSICAL_PIPELINES`` (checked by
``tests/test_recipe_limits.py``), validated here so that checking a recipe needs no torch."""

LOSS_OPTIONS: dict[str, type[pydantic.BaseModel]] = {
    **{name: _options(name) for name in LOSSES},
    "cbce": _options("cbce", beta=(Rate | None, 0.99), normalize=(bool, False)),
    "mse": _options("mse", weights=(DimensionWeights | None, None)),
    "ccc": _options("ccc", weights=(DimensionWeights | None, None)),
    "multitask": _options(
        "multitask", dimensions=(list[str], []), class_loss=(str, "ce"), dimension_loss=(Literal["mse", "ccc"], "ccc"),
        task_weights=(tuple[NonNegative, NonNegative], (1.0, 1.0)),
        weights=(DimensionWeights | None, None),
    ),
}
"""The options every loss accepts (``model.loss_options``), with types, bounds and defaults
(:func:`voxpop.models.losses.make_loss` reads them)."""


def validated_options(
    kind: Literal["head", "loss"], name: str, options: dict[str, Any], prefix: str | None = None
) -> dict[str, Any]:
    """``options`` of head (or classical model) or loss ``name`` checked against :data:`HEAD_OPTIONS` /
    :data:`LOSS_OPTIONS`, with the defaults of those not given.

    Args:
        kind: ``head`` (``model.head_options``) or ``loss`` (``model.loss_options``).
        name: the head or loss.
        options: the option map as given.
        prefix: put before each option's key in messages (default ``head_options.`` / ``loss_options.``).

    Returns:
        Every option of ``name`` by name, typed (e.g. ``hidden_dim`` an int); a rater-aware head's
        ``trunk_options`` are checked as the options of its ``trunk`` (keys named ``...trunk_options.KEY``).

    Raises:
        ConfigError: one line per problem, each with its option key (unknown keys list the accepted ones).

    Example:
        >>> validated_options("head", "mlp", {"hiden_dim": 8})
        Traceback (most recent call last):
        voxpop.core.errors.ConfigError: head_options.hiden_dim: unknown option of head 'mlp' (accepted: hidden_dim, ...
    """
    schema = (HEAD_OPTIONS if kind == "head" else LOSS_OPTIONS)[name]
    try:
        checked = dict(schema.model_validate(options))
    except pydantic.ValidationError as exc:
        accepted = ", ".join(schema.model_fields) or "none"
        problems = []
        for e in exc.errors():
            where = (f"{kind}_options." if prefix is None else prefix) + ".".join(str(part) for part in e["loc"])
            if e["type"] == "extra_forbid" or e["type"] == "extra_forbidden":
                problems.append(f"{where}: unknown option of {kind} {name!r} (accepted: {accepted})")
            else:
                problems.append(f"{where}: {e['msg']}")
        raise ConfigError("; ".join(problems)) from None
    if kind == "head" and name in RATER_HEADS and checked["trunk_options"]:  # the trunk's own options, by their key
        inner = (f"{kind}_options." if prefix is None else prefix) + "trunk_options."
        validated_options("head", checked["trunk"], checked["trunk_options"], prefix=inner)
    return checked
