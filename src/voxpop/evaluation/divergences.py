"""Agreement of predicted and target class distributions: Kullback-Leibler and Jensen-Shannon divergence
per item and averaged (METHODS.md section 6).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from voxpop.core.errors import InputError
from voxpop.evaluation.metrics import _item_label, align_tables
from voxpop.labels.decisions import DISTRIBUTION_TOLERANCE


def _distributions(target: object, pred: object) -> tuple[np.ndarray, np.ndarray, pd.Index | None]:
    if isinstance(target, pd.DataFrame) and isinstance(pred, pd.DataFrame):
        aligned = align_tables({"target": target, "prediction": pred})
        target, pred = aligned["target"], aligned["prediction"]
    index = target.index if isinstance(target, pd.DataFrame) else None
    arrays = []
    for name, values in (("target", target), ("prediction", pred)):
        values = np.asarray(values, dtype=float)
        if values.ndim != 2:
            raise InputError(f"{name}: expected an items x classes matrix, found {values.ndim} dimensions.")
        sums = values.sum(axis=1)
        bad = ~np.isfinite(sums) | (values < 0).any(axis=1) | (np.abs(sums - 1.0) > DISTRIBUTION_TOLERANCE)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{name}: {_item_label(index, row)} is not a probability distribution (values "
                f"{np.round(values[row], 4).tolist()}, sum {sums[row]:.4g}); expected non-negative values summing to 1 "
                "(apply softmax to logits, divide counts by their total)."
            )
        arrays.append(values / sums[:, None])
    if arrays[0].shape != arrays[1].shape:
        raise InputError(f"target has shape {arrays[0].shape} but prediction {arrays[1].shape}.")
    return arrays[0], arrays[1], index


def _relative_entropy(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """sum_c p_c log(p_c / q_c) per row, with 0 log(0 / q) = 0 and p log(p / 0) = inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(q)), 0.0)
    return terms.sum(axis=1)


def _per_item(values: np.ndarray, index: pd.Index | None, name: str) -> pd.Series | np.ndarray:
    return pd.Series(values, index=index, name=name) if index is not None else values


def kld_items(target: object, pred: object, eps: float = 1e-10) -> pd.Series | np.ndarray:
    """Per-item KL divergence KL(t || q) = sum_c t_c log(t_c / q_c) in nats.

    Zero handling: terms with t_c = 0 are 0 (scipy's ``rel_entr`` convention); the prediction is
    smoothed q = (p + eps) / (1 + C eps) so that a zero prediction for a rated class gives a large
    finite value instead of infinity (``eps=0`` keeps the infinity). Rows must be distributions.

    >>> kld_items(np.array([[0.5, 0.5, 0.0]]), np.array([[0.25, 0.75, 0.0]]), eps=0)
    array([0.1438...])
    """
    t, p, index = _distributions(target, pred)
    q = (p + eps) / (1.0 + p.shape[1] * eps)
    return _per_item(_relative_entropy(t, q), index, "kld")


def jsd_items(target: object, pred: object) -> pd.Series | np.ndarray:
    """Per-item Jensen-Shannon divergence 1/2 KL(t || m) + 1/2 KL(p || m), m = (t + p)/2, in nats.

    Finite without smoothing (m > 0 wherever t or p is) and at most log 2. scipy's
    ``jensenshannon`` returns the square root of this (the JS distance).

    >>> jsd_items(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))  # disjoint: log 2
    array([0.6931...])
    """
    t, p, index = _distributions(target, pred)
    m = (t + p) / 2
    return _per_item(0.5 * _relative_entropy(t, m) + 0.5 * _relative_entropy(p, m), index, "jsd")


def kld(target: object, pred: object, eps: float = 1e-10) -> float:
    """Mean over items of :func:`kld_items`.

    >>> kld(np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([[0.5, 0.5], [0.5, 0.5]]), eps=0)  # (0 + log 2) / 2
    0.3465...
    """
    return float(np.mean(kld_items(target, pred, eps)))


def jsd(target: object, pred: object) -> float:
    """Mean over items of :func:`jsd_items`.

    >>> jsd(np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([[0.5, 0.5], [0.0, 1.0]]))  # (0 + log 2) / 2
    0.3465...
    """
    return float(np.mean(jsd_items(target, pred)))
