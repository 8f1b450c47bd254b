"""Train any head (or backbone + head, or a classical model) on features and soft targets.

A head on cached features trains on one device in the plain loop of :mod:`voxpop.models.lean_training`
(the same numbers as Lightning for a fixed seed, without its per-step cost); Lightning trains backbones
(fine-tuning), several devices or nodes, named strategies and 16-bit mixed precision.

``fit(train_x, train_y, dev_x, dev_y, head, loss, config) -> TrainedModel``. ``x`` is one of

- an array ``(N, D)`` of pooled vectors (or a DataFrame, items x D, indexed like a DataFrame ``y``),
- an array ``(N, L, D)`` of per-layer pooled vectors (fed through :class:`~voxpop.models.heads.LayerWeightedSum`),
- a list of ``(T_i, D)`` frame arrays, or of ``(L, T_i, D)`` per-layer frame arrays (layer-weighted),
- a list of 1-D waveforms (16 kHz), or of the ``waveform`` extractor's ``(S, 1)`` frames, when
  ``config.backbone`` names a self-supervised backbone to fine-tune;

``y`` is ``(N, C)`` soft targets (array or DataFrame with the classes as columns, e.g.
``LabelSet.kept_targets``), or, for a regressor (loss ``mse`` / ``ccc``, or classical ``svr`` / ``ridge``),
``(N, D)`` continuous targets with one column per dimension (``ContinuousLabelSet.values``): the model
then has one linear output per dimension. Arrays may be float16 or memory-mapped: the lean loop holds
the items as float32 tensors, except a memory-mapped array, whose rows are read one batch at a time.

Dev metrics are computed once per epoch on the WHOLE dev set (never averaged over batches; under DDP
gathered from every rank); the best epoch's weights are restored at the end on every rank; early stopping
watches the same metric.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import RandomSampler

from voxpop.core.errors import ConfigError, InputError
from voxpop.models.batching import ItemTensors, batching
from voxpop.models.epoch_scores import check_monitor, dev_record
from voxpop.models.heads import (
    build_classical,
    feature_extractor_normalizes,
    load_backbone,
)
from voxpop.models.lean_training import fit_lean, lean_device, scoring_batches
from voxpop.models.losses import MaskedRaterLoss, balanced_sampler, loss_class, make_loss
from voxpop.models.specs import CLASSICAL, LOSSES, RATER_HEADS, REGRESSORS, TrainConfig, validated_options
from voxpop.models.trained_model import (
    TrainedModel,
    TrainedSpec,
    _as_features,
    _build_network,
    _frame_axis,
    _keep_torch_flags,
    _loader,
    _quiet,
    as_waveforms,
    describe_input,
    resolve_precision,
)

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


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
    voxpop.core.errors.InputError: train_y: item 0 has an all-zero target row (dropped by the label rule?) ...
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
    rater_targets: np.ndarray | None = None,
    raters: list[str] | None = None,
) -> TrainedModel:
    """Train head ``head`` (a name from ``voxpop.models.heads.HEADS`` or ``CLASSICAL``) with loss ``loss``.

    Neural heads train (the lean loop, or Lightning: see the module docstring) with AdamW for ``config.epochs``
    epochs; with a dev set the dev loss and
    ``config.monitor`` are computed on the whole dev set after every epoch, training stops after
    ``patience`` epochs without improvement and the best epoch's weights are restored. Classical
    heads (``svm``, ``logreg``) fit soft targets by expanding each item into one row per class with
    sample weight y_ic (for logistic regression this is exactly soft-target cross-entropy); their
    ``loss`` must be ``ce``. Regressors: a neural head with loss ``mse`` or ``ccc`` (monitor ``loss``
    or ``ccc``, the mean dev CCC over dimensions), or ``svr`` / ``ridge`` with loss ``mse``; targets
    are (N, D) dimension values (a neural regressor learns them z-scored per dimension with the training
    mean and sd, which leaves CCC unchanged and scales MSE, and predicts on the targets' scale). Raises
    :class:`ConfigError` for a head / loss / monitor mismatch.

    A rater-aware head (``per_rater``, ``crowd_layer``; docs/raters.md) also needs ``rater_targets``, items x
    rater outputs x classes aligned with ``train_y``'s rows (each output's vote distribution, all zero where it
    did not rate: :meth:`voxpop.labels.rater_votes.RaterVotes.targets`), and ``raters``, the outputs' names. It
    trains on them with the masked cross-entropy (:func:`voxpop.models.losses.masked_rater_cross_entropy`; loss
    ``ce``) and early-stops on its item prediction against the dev targets.
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
    _check_rater_inputs(head, head_options, loss, loss_options, rater_targets, raters, train_y)
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
        raters=None if raters is None else [str(r) for r in raters],
    )
    if len(y) != len(train_x):
        raise InputError(f"train_x has {len(train_x)} items but train_y has {len(y)} rows.")
    check_monitor(config.monitor, spec.n_classes - n_dimensions, multilabel, regression, n_dimensions > 0)
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
    raters_y = None if rater_targets is None else np.asarray(rater_targets, dtype=np.float32)
    return _fit_neural(spec, train_x, y, ids, dev, raters_y)


def _check_rater_inputs(
    head: str,
    head_options: dict,
    loss: str,
    loss_options: dict,
    rater_targets: Any,
    raters: list[str] | None,
    train_y: Any,
) -> None:
    """Refuse per-rater targets without a rater-aware head, such a head without them, or a shape mismatch."""
    if head not in RATER_HEADS:
        if rater_targets is not None or raters is not None:
            raise ConfigError(f"rater_targets / raters are for the heads {', '.join(RATER_HEADS)}, not {head!r}.")
        return
    validated_options("head", head, head_options)  # an unknown option is named before anything else
    if rater_targets is None or raters is None:
        raise ConfigError(
            f"head {head!r} learns each rater's own votes: give rater_targets (items x raters x classes) and raters "
            "(voxpop.labels.rater_votes); a study (voxpop train / voxpop run) builds them from the corpus ratings."
        )
    if loss != "ce" or loss_options:
        what = f"head {head!r} trains with the masked cross-entropy of every rater"
        raise ConfigError(f"{what}; use loss 'ce' (got {loss!r}, options {loss_options}).")
    shape, n_rows = np.shape(rater_targets), len(train_y)
    if len(shape) != 3 or shape[0] != n_rows or shape[1] != len(raters) or shape[2] != np.shape(train_y)[1]:
        raise InputError(
            f"rater_targets: shape {shape}, expected ({n_rows} items, {len(raters)} raters, {np.shape(train_y)[1]} "
            "classes) to match train_y and raters."
        )
    values = np.asarray(rater_targets)
    if not np.isfinite(values).all() or (values < 0).any():
        raise InputError("rater_targets: expected finite, non-negative vote shares (zero where a rater did not rate).")


def _fit_neural(
    spec: TrainedSpec,
    x: Any,
    y: np.ndarray,
    ids: list[Any],
    dev: tuple[Any, np.ndarray, list[Any]] | None,
    rater_targets: np.ndarray | None = None,
) -> TrainedModel:
    config = spec.config
    if (spec.input.kind == "audio") != (config.backbone is not None):
        raise ConfigError(
            "raw audio input needs config.backbone (a model to fine-tune), and a backbone needs raw audio "
            f"(a list of 1-D waveforms); got {spec.input.kind} input with backbone={config.backbone}."
        )
    precision = resolve_precision(config.precision, config.accelerator)
    loss_fn = make_loss(spec.loss, y, spec.classes, **spec.loss_options)
    seed_everything(config.seed)
    backbone = load_backbone(config.backbone.path, config.backbone.keep_layers) if config.backbone else None
    network = _build_network(spec, backbone).train()  # from_pretrained gives eval
    sampler = (
        balanced_sampler(y, config.seed)
        if config.balanced_sampling
        else RandomSampler(range(len(y)), generator=torch.Generator().manual_seed(config.seed))
    )
    axis, budget = _frame_axis(spec.input.kind), config.max_batch_frames
    train_batches = batching(x, ids, axis, sampler, config.batch_size, budget, long_frames=config.long_item_frames,
                             with_replacement=config.balanced_sampling)  # fmt: skip
    dev_batches = {}
    if dev:
        dev_batches = batching(dev[0], dev[2], axis, range(len(dev[0])), config.batch_size, budget, name="dev_x")
    device = lean_device(config, precision)
    if device is None:  # backbones, several devices, strategies, 16-mixed
        lightning_dev = None if dev is None else (*dev, dev_batches)
        train = (x, y, ids, train_batches)
        network, history = _fit_lightning(
            network, loss_fn, config, precision, train, lightning_dev, spec.input.kind, rater_targets
        )
        return TrainedModel(spec=spec, network=network, history=history)
    train = (ItemTensors(x, axis, ids, "train_x"), y, train_batches)
    lean_dev = None
    if dev:
        dev_items = ItemTensors(dev[0], axis, dev[2], "dev_x")
        lean_dev = (dev_items, dev[1], scoring_batches(dev_items, dev_batches))
    network, history = fit_lean(network, loss_fn, config, train, lean_dev, device, precision, rater_targets)
    return TrainedModel(spec=spec, network=network, history=history)


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (every device) with ``seed``, as Lightning's
    ``seed_everything`` does, so that a head's initialisation and dropout follow from the seed alone."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _fit_lightning(
    network: torch.nn.Module,
    loss_fn: Any,
    config: TrainConfig,
    precision: str,
    train: tuple[Any, np.ndarray, list[Any], dict[str, Any]],
    dev: tuple[Any, np.ndarray, list[Any], dict[str, Any]] | None,
    kind: str,
    rater_targets: np.ndarray | None = None,
) -> tuple[torch.nn.Module, list[dict[str, float]]]:
    """Train with Lightning's ``Trainer`` (the network, its history); ``train`` / ``dev``: items, targets,
    ids and the batching keyword arguments; ``rater_targets``: a rater-aware head's per-rater targets
    (items x rater outputs x classes, rows as ``train``'s), which its training batches carry."""
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, RichProgressBar

    from voxpop.core.progress import epoch_progress_callback
    from voxpop.core.stopping import stop_between_batches, stop_on_signal_callback
    from voxpop.models.head_module import HeadModule, _BestWeights

    # the rest of Lightning's seed_everything(seed, workers=True): its data-loader workers are seeded from these
    os.environ["PL_GLOBAL_SEED"], os.environ["PL_SEED_WORKERS"] = str(config.seed), "1"
    module = HeadModule(network, loss_fn, config, None if rater_targets is None else MaskedRaterLoss())
    x, y, ids, train_batches = train
    train_loader = _loader(x, y, ids, kind, "train_x", rater_targets, num_workers=config.num_workers,
                           **train_batches)  # fmt: skip
    dev_loader = None
    if dev:
        dev_loader = _loader(*dev[:3], kind, "dev_x", num_workers=config.num_workers, **dev[3])

    mode = "min" if config.monitor == "loss" else "max"
    callbacks: list[L.Callback] = [stop_on_signal_callback(), epoch_progress_callback()]
    callbacks += [RichProgressBar()] if config.progress_bar else []
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
    return module.network.cpu().eval(), module.history



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
        record = dev_record(make_loss("ce", dev_y), log_probs, torch.from_numpy(dev_y), spec.config.monitor)
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
        record = dev_record(
            make_loss("mse", dev_y), outputs, torch.tensor(dev_y, dtype=torch.float64), spec.config.monitor
        )
        model.history = [{"epoch": 0, **record}]
    return model
