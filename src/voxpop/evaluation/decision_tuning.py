"""Decision rules tuned on development data: per-class thresholds (multi-label) and per-class offsets
(single-label), each maximising macro-F1 over a grid (METHODS.md section 6).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from voxpop.core.errors import InputError
from voxpop.evaluation.metrics import Counts, _binary, align_tables, class_codes, score

DEFAULT_THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)


DEFAULT_OFFSET_GRID = np.round(np.arange(-0.5, 0.501, 0.05), 2)


def _middle_of_best(scores: np.ndarray, grid: np.ndarray) -> float:
    """The middle grid value among those reaching the maximal score (stable choice on plateaus)."""
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    return float(grid[best[len(best) // 2]])


def _class_names(probs: object) -> list:
    return list(probs.columns) if isinstance(probs, pd.DataFrame) else list(range(np.shape(probs)[1]))


def tune_thresholds(
    dev_probs: object, dev_true: object, grid: Sequence[float] = DEFAULT_THRESHOLD_GRID, zero_division: float = 0.0
) -> pd.Series:
    """Per-class thresholds (multi-label) maximising macro-F1 on development data.

    Macro-F1 is a mean of per-class F1 and F1_c depends only on t_c, so choosing for each class the
    grid value maximising its F1 maximises macro-F1 over the grid exactly. On a plateau of equal F1
    the middle maximiser is taken. Apply the result unchanged to test data with
    :func:`binarize_thresholds`.

    >>> p = np.array([[0.30], [0.20], [0.10]]); y = np.array([[1], [1], [0]])
    >>> tune_thresholds(p, y, grid=[0.15, 0.25, 0.5])  # t=0.15 catches both positives: F1 = 1
    0    0.15
    dtype: float64
    """
    if isinstance(dev_probs, pd.DataFrame) and isinstance(dev_true, pd.DataFrame):
        aligned = align_tables({"dev_probs": dev_probs, "dev_true": dev_true})
        dev_probs, dev_true = aligned["dev_probs"], aligned["dev_true"]
    probs, true = np.asarray(dev_probs, dtype=float), _binary(dev_true, "dev_true")
    if probs.shape != true.shape:
        raise InputError(f"dev_probs has shape {probs.shape} but dev_true {true.shape}; they must match.")
    grid = np.asarray(grid, dtype=float)
    f1 = np.stack([score(Counts.from_binary(true, probs >= t), "f1", zero_division) for t in grid])
    chosen = [_middle_of_best(f1[:, c], grid) for c in range(probs.shape[1])]
    return pd.Series(chosen, index=_class_names(dev_probs), dtype=float)


def tune_offsets(
    dev_probs: object,
    dev_true: object,
    grid: Sequence[float] = DEFAULT_OFFSET_GRID,
    max_rounds: int = 10,
    zero_division: float = 0.0,
) -> pd.Series:
    """Per-class score offsets (single-label) maximising dev macro-F1 of argmax_c (p_c + o_c).

    Coordinate ascent from o = 0 (plain argmax): for each class in turn, try every grid value with
    the other offsets fixed and move only on a strict improvement; stop after a round without change.
    Dev macro-F1 therefore never falls below that of plain argmax. Apply unchanged with :func:`decide`.

    >>> p = np.array([[0.6, 0.4], [0.55, 0.45], [0.9, 0.1]]); y = np.array([1, 1, 0])
    >>> tune_offsets(p, y, grid=[0.0, 0.2])  # raising class 1 by 0.2 gets every item right
    0    0.0
    1    0.2
    dtype: float64
    """
    if isinstance(dev_probs, pd.DataFrame) and isinstance(dev_true, pd.Series):
        aligned = align_tables({"dev_probs": dev_probs, "dev_true": dev_true})
        dev_probs, dev_true = aligned["dev_probs"], aligned["dev_true"]
    classes = _class_names(dev_probs)
    probs = np.asarray(dev_probs, dtype=float)
    true = class_codes(dev_true, classes, "dev_true")
    if len(true) != len(probs):
        raise InputError(f"dev_true has {len(true)} items but dev_probs {len(probs)}; they must match.")
    grid = np.asarray(grid, dtype=float)
    offsets = np.zeros(probs.shape[1])
    best = float(score(Counts.from_codes(true, probs.argmax(axis=1), probs.shape[1]), "macro_f1", zero_division))
    for _ in range(max_rounds):
        changed = False
        for c in range(probs.shape[1]):
            trial = np.broadcast_to(offsets, (len(grid), probs.shape[1])).copy()
            trial[:, c] = grid
            decisions = (probs[None] + trial[:, None, :]).argmax(axis=2)
            values = score(Counts.from_codes(true, decisions, probs.shape[1]), "macro_f1", zero_division)
            if values.max() > best + 1e-12:
                best, offsets[c], changed = float(values.max()), grid[int(values.argmax())], True
        if not changed:
            break
    return pd.Series(offsets, index=classes, dtype=float)
