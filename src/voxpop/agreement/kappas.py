"""Fleiss' kappa (pooled, or Gwet's form for unequal numbers of ratings) and Cohen's kappa between two
label sets (METHODS.md section 3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError

# =============================================================================== kappas, correlations
FLEISS_METHODS = ("pooled", "gwet")


def fleiss_kappa(counts, method: Literal["pooled", "gwet"] = "pooled") -> float:
    """Fleiss' kappa from an items x categories count table n_ij (n_i = sum_j n_ij), (P_a - P_e) / (1 - P_e).

    Both methods agree with Fleiss (1971) when every item has the same number of ratings; they are
    the two generalisations to a varying n_i (vote tables, crowd data):

    - ``pooled``: P_a = mean_i sum_j n_ij (n_ij - 1) / (n_i (n_i - 1)), P_e = sum_j p_j^2 with the
      pooled class proportions p_j = sum_i n_ij / sum_i n_i (statsmodels' ``fleiss_kappa``). Every
      item needs at least two ratings (:class:`InputError` otherwise).
    - ``gwet``: Gwet (2014), Handbook of Inter-Rater Reliability, 4th ed., Fleiss' generalized kappa
      with missing ratings (irrCAC ``fleiss.kappa.raw``): P_a as above over the items with n_i >= 2,
      P_e = sum_j pi_j^2 with pi_j = mean_i n_ij / n_i over every rated item (those rated once count
      in pi_j only). A row without ratings is an :class:`InputError`.

    Args:
        counts: items x categories counts n_ij (an array or a DataFrame indexed by item).
        method: ``pooled`` or ``gwet`` (above).

    Returns:
        Kappa, at most 1; NaN when P_e = 1 (every rating in one category) or, for ``gwet``, no item has two
        ratings.

    Raises:
        ConfigError: another method.
        InputError: with ``pooled``, an item with fewer than two ratings; with ``gwet``, a row without ratings
            (naming the first such items).

    Example:
        Fleiss' example (Wikipedia): 10 items, 14 raters, 5 categories.

        >>> table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        ...          [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
        >>> round(fleiss_kappa(table), 3), round(fleiss_kappa(table, "gwet"), 3)
        (0.21, 0.21)
        >>> varying = [[2, 0], [1, 1], [6, 0]]  # P_a = (1 + 0 + 1) / 3 = 2/3 in both
        >>> round(fleiss_kappa(varying), 6)  # p = (9/10, 1/10): P_e = 41/50, (2/3 - 41/50) / (9/50) = -23/27
        -0.851852
        >>> round(fleiss_kappa(varying, "gwet"), 6)  # pi = (5/6, 1/6): P_e = 26/36, (2/3 - 26/36) / (10/36)
        -0.2
    """
    if method not in FLEISS_METHODS:
        raise ConfigError(f"Fleiss' kappa method must be one of {', '.join(FLEISS_METHODS)}, got {method!r}")
    table = np.asarray(counts, dtype=float)
    n_i = table.sum(axis=1)
    few = np.flatnonzero(n_i < (2 if method == "pooled" else 1))
    if len(few):
        names = counts.index[few[:5]].tolist() if isinstance(counts, pd.DataFrame) else few[:5].tolist()
        need = "at least two ratings per item" if method == "pooled" else "at least one rating per item"
        raise InputError(
            f"Fleiss' kappa ({method}) needs {need}; {len(few)} items have fewer (first: {names}); drop them first"
            + (" or use method 'gwet', which uses items rated once for the class proportions" if method == "pooled"
               else "")
        )  # fmt: skip
    pairable = n_i >= 2
    if not pairable.any():
        return math.nan
    p_a = float(((table * (table - 1.0)).sum(axis=1)[pairable] / (n_i * (n_i - 1.0))[pairable]).mean())
    shares = table.sum(axis=0) / n_i.sum() if method == "pooled" else (table / n_i[:, None]).mean(axis=0)
    p_e = float((shares**2).sum())
    return math.nan if np.isclose(p_e, 1.0, rtol=0, atol=1e-12) else (p_a - p_e) / (1.0 - p_e)


def cohen_kappa(
    a, b, weights: Literal["linear", "quadratic"] | None = None, labels: Sequence[object] | None = None
) -> float:
    """Cohen's kappa between two raters or label sources, kappa = 1 - sum w_ij O_ij / sum w_ij E_ij.

    O = joint proportions of (a, b), E = outer product of their marginals, w_ij = [i != j]
    (unweighted), |i - j| (linear) or (i - j)^2 (quadratic) on category positions in ``labels``
    (Cohen 1960, 1968; METHODS.md section 3).

    Args:
        a: the first source's label per item (a sequence, or a Series indexed by item).
        b: the second source's; two Series are aligned on their index (items), and only items present and
            not missing in both count.
        weights: None (unweighted), ``linear`` or ``quadratic``.
        labels: the categories in order (default: the sorted values present).

    Returns:
        Kappa, at most 1; NaN when no item is shared or chance agreement is perfect (one category).

    Raises:
        InputError: two sequences of different lengths, or values outside ``labels``.

    Example:
        >>> a = pd.Series(["x", "x", "y", "y", "z"], index=list("pqrst"))
        >>> b = pd.Series(["y", "z", "y", "x", "x"], index=list("tsrqp"))  # same items, other order
        >>> round(cohen_kappa(a, b), 4)  # p_o = 3/5, p_e = (2*2 + 2*2 + 1*1)/25
        0.375
    """
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        a, b = a.align(b, join="inner")
    a, b = pd.Series(np.asarray(a, dtype=object)), pd.Series(np.asarray(b, dtype=object))
    if len(a) != len(b):
        raise InputError(f"cohen_kappa needs two equally long sequences, got {len(a)} and {len(b)}")
    both = a.notna().to_numpy() & b.notna().to_numpy()
    a, b = a[both], b[both]
    domain = pd.Index(sorted(set(a) | set(b)) if labels is None else list(labels))
    ia, ib = domain.get_indexer(a), domain.get_indexer(b)
    if (ia < 0).any() or (ib < 0).any():
        raise InputError(f"values outside labels={list(domain)}: {sorted(set(a[ia < 0]) | set(b[ib < 0]))[:10]}")
    if not len(a):
        return math.nan
    return _kappa_from_codes(ia, ib, len(domain), weights)


def _kappa_from_codes(ia: np.ndarray, ib: np.ndarray, k: int, weights: str | None = None) -> float:
    """Cohen's kappa of two aligned arrays of category positions 0..k-1 (see :func:`cohen_kappa`)."""
    observed = np.bincount(ia * k + ib, minlength=k * k).reshape(k, k) / len(ia)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    positions = np.arange(k)
    gap = np.abs(positions[:, None] - positions[None, :]).astype(float)
    w = {None: (gap > 0).astype(float), "linear": gap, "quadratic": gap**2}.get(weights)
    if w is None:
        raise ConfigError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")
    chance = float((w * expected).sum())
    return math.nan if chance == 0 else float(1.0 - (w * observed).sum() / chance)
