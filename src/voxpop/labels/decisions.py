"""Decisions from class probabilities or label distributions: argmax, the 1/C rule, thresholds, the top class
with an explicit tie policy (METHODS.md sections 2 and 6).

Pure functions of an items x classes array or DataFrame (columns in class order); a DataFrame in gives a
DataFrame (or Series of class names) out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError

UNIFORM_TOLERANCE = 1e-9


DISTRIBUTION_TOLERANCE = 1e-3


TIE_TOLERANCE = 1e-9


EVALUATION_TIE_POLICIES = ("drop", "first", "random")


def _wrap_like(values: np.ndarray, like: object) -> pd.DataFrame | np.ndarray:
    if isinstance(like, pd.DataFrame):
        return pd.DataFrame(values, index=like.index, columns=like.columns)
    return values


def _class_vector(values: object, probs: object, name: str) -> np.ndarray:
    """A per-class vector (scalar, array or Series indexed by class) in the column order of ``probs``."""
    width = np.shape(probs)[1]
    if isinstance(values, pd.Series) and isinstance(probs, pd.DataFrame):
        missing = [c for c in probs.columns if c not in values.index]
        if missing:
            raise InputError(f"{name}: no value for classes {missing}; give one per class {list(probs.columns)}.")
        values = values[list(probs.columns)]
    vector = np.broadcast_to(np.asarray(values, dtype=float), (width,)) if np.ndim(values) == 0 else values
    vector = np.asarray(vector, dtype=float)
    if vector.shape != (width,):
        raise InputError(f"{name}: expected {width} values (one per class), found shape {vector.shape}.")
    return vector


def binarize_argmax(probs: object) -> pd.DataFrame | np.ndarray:
    """One-hot of the most probable class per item (ties: the first class in column order).

    >>> binarize_argmax(np.array([[0.2, 0.5, 0.3], [0.4, 0.4, 0.2]]))
    array([[0, 1, 0],
           [1, 0, 0]])
    """
    values = np.asarray(probs, dtype=float)
    onehot = np.zeros(values.shape, dtype=int)
    onehot[np.arange(values.shape[0]), values.argmax(axis=1)] = 1
    return _wrap_like(onehot, probs)


def binarize_above_uniform(probs: object) -> pd.DataFrame | np.ndarray:
    """The 1/C rule (all-inclusive test form): y_c = 1 iff p_c > 1/C.

    Comparisons allow ``UNIFORM_TOLERANCE`` (1e-9) so that float noise on an exact 1/C does not count
    as above it; an exactly uniform row (every p_c = 1/C) gets all classes (METHODS.md decision).

    >>> binarize_above_uniform(np.array([[0, .6, .4, 0], [.4, .2, .2, .2], [.25, .25, .25, .25]]))
    array([[0, 1, 1, 0],
           [1, 0, 0, 0],
           [1, 1, 1, 1]])
    """
    values = np.asarray(probs, dtype=float)
    chance = 1.0 / values.shape[1]
    above = values > chance + UNIFORM_TOLERANCE
    uniform = (np.abs(values - chance) <= UNIFORM_TOLERANCE).all(axis=1)
    return _wrap_like((above | uniform[:, None]).astype(int), probs)


def binarize_thresholds(probs: object, thresholds: object) -> pd.DataFrame | np.ndarray:
    """y_c = 1 iff p_c >= t_c, with one threshold for all classes or one per class (Series by class).

    >>> binarize_thresholds(np.array([[0.3, 0.6], [0.1, 0.2]]), [0.3, 0.5])
    array([[1, 1],
           [0, 0]])
    """
    values = np.asarray(probs, dtype=float)
    return _wrap_like((values >= _class_vector(thresholds, probs, "thresholds")).astype(int), probs)


def top_class(distributions: object, tie_policy: str = "drop", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The most probable class of each row of an items x classes table, with an explicit tie policy.

    Args:
        distributions: an items x classes array or table (n x C) of probabilities or scores.
        tie_policy: the plurality rule's vocabulary: ``drop`` gives tied rows code -1 (leave them out, and
            count them), ``first`` the first tied class in column order (numpy's argmax), ``random`` a tied
            class drawn from ``numpy.random.default_rng(seed)``.
        seed: the seed of ``random``.

    Returns:
        ``(codes, tied)``: class codes ``(n,)`` (column positions, -1 for a dropped tie) and a boolean ``(n,)``
        marking rows whose top value is shared by several classes (within 1e-9).

    Raises:
        ConfigError: another tie policy.

    Example:
        >>> top_class(np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]]))
        (array([-1,  2]), array([ True, False]))
        >>> top_class(np.array([[0.5, 0.5, 0.0]]), "first")[0]
        array([0])
    """
    if tie_policy not in EVALUATION_TIE_POLICIES:
        raise ConfigError(f"unknown tie policy {tie_policy!r}; choose one of {', '.join(EVALUATION_TIE_POLICIES)}.")
    values = np.asarray(distributions, dtype=float)
    at_top = values >= values.max(axis=1, keepdims=True) - TIE_TOLERANCE
    tied = at_top.sum(axis=1) > 1
    if tie_policy == "random":
        keys = np.random.default_rng(seed).random(values.shape)
        return np.where(at_top, keys, -1.0).argmax(axis=1), tied
    codes = at_top.argmax(axis=1)
    return (np.where(tied, -1, codes) if tie_policy == "drop" else codes), tied


def decide(probs: object, offsets: object = 0.0) -> pd.Series | np.ndarray:
    """Single-label decision argmax_c (p_c + o_c); class names for a DataFrame, codes for an array.

    >>> decide(pd.DataFrame({"A": [0.6, 0.3], "S": [0.4, 0.7]}, index=["i1", "i2"]), offsets=[0.0, 0.25]).tolist()
    ['S', 'S']
    """
    values = np.asarray(probs, dtype=float) + _class_vector(offsets, probs, "offsets")
    codes = values.argmax(axis=1)
    if isinstance(probs, pd.DataFrame):
        return pd.Series(np.asarray(probs.columns, dtype=object)[codes], index=probs.index)
    return codes
