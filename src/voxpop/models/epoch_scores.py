"""The dev scores of an epoch: the dev loss and the monitored metric on the whole dev set, with the report's
definitions (:mod:`voxpop.evaluation.metrics`), shared by the lean loop, the Lightning module and classical heads.
"""

from __future__ import annotations

import numpy as np
import torch

from voxpop.core.errors import ConfigError
from voxpop.evaluation import metrics
from voxpop.models.losses import MultiTaskLoss, TargetLoss, concordance
from voxpop.models.specs import Monitor


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


def dev_record(loss_fn: TargetLoss, logits: torch.Tensor, targets: torch.Tensor, monitor: Monitor) -> dict[str, float]:
    """The dev loss and the dev value of ``monitor`` on the whole dev set: ``{"dev_loss": ..., "dev_<monitor>": ...}``.

    ``logits`` and ``targets`` are (N, outputs); the first outputs are class logits (all of them for a
    classifier, ``loss_fn.n_classes`` for a multi-task loss, none for a regressor), the rest dimension values
    (``ccc``: their mean concordance). Class metrics read softmax (sigmoid for a multi-label loss) outputs
    through :func:`dev_metric`.
    """
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


def check_monitor(
    monitor: Monitor, n_classes: int, multilabel: bool, regression: bool = False, multitask: bool = False
) -> None:
    """Refuse a ``monitor`` that does not apply to the task (:class:`ConfigError` naming the ones that do):
    a class metric for a regressor, ``ccc`` for a classifier, ``binary_f1`` without exactly 2 (softmax) or
    1 (sigmoid) classes."""
    if not multitask and regression != (monitor == "ccc") and monitor != "loss":
        what = "a regressor" if regression else "a classifier"
        fix = "loss or ccc" if regression else "loss, macro_f1, binary_f1 or uar"
        raise ConfigError(f"monitor {monitor!r} does not apply to {what}; monitor {fix}.")
    if monitor == "binary_f1" and n_classes != (1 if multilabel else 2):
        raise ConfigError(
            f"monitor 'binary_f1' needs 2 classes (softmax loss) or 1 class (BCE loss); the targets have "
            f"{n_classes} classes. Use macro_f1 or uar instead."
        )
