"""The multi-label confusion matrix (MLCM; Heydarian et al. 2022) between two multi-hot label sets, with the
rows and columns for no true and no predicted label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from voxpop.core.errors import InputError

# =============================================================================== multi-label confusion matrix
NO_TRUE_LABEL = "(no true label)"


NO_PREDICTED_LABEL = "(no predicted label)"


def mlcm(true: pd.DataFrame, pred: pd.DataFrame) -> pd.DataFrame:
    """Multi-label confusion matrix of Heydarian et al. (2022): (C + 1) x (C + 1) counts, rows = true
    classes + "no true label", columns = predicted classes + "no predicted label".

    Per item, with T the true and P the predicted label sets, T2 = T - P, P2 = P - T:
    every label in T & P adds 1 on the diagonal; then

    - T = P = {}: 1 in (no true label, no predicted label);
    - P2 = {}, T2 != {} (predictions a subset of the truth): each missed t in T2 adds 1 to
      (t, no predicted label);
    - T2 = {}, P2 != {} (truth a subset of the predictions): each extra p in P2 adds 1 to (t, p) for
      every t in T, or to (no true label, p) when T is empty;
    - T2 != {}, P2 != {} (both have errors): each wrong p in P2 adds 1 to (t, p) for every unmatched t in T2.

    Rows therefore sum to the true-label counts whenever no item has extra predictions. This follows
    the paper and METHODS.md; the authors' reference code differs only in the last case when at
    least one label matched and two or more predictions are wrong (there the second and later wrong
    predictions are charged to every true label, matched ones included).

    METHODS.md section 3.

    Args:
        true: items x classes multi-hot table (booleans or 0/1) of the true labels.
        pred: the predicted labels, with the same columns, matched by item index.

    Returns:
        The (C + 1) x (C + 1) integer counts: index ``true`` (the classes, then ``(no true label)``), columns
        ``predicted`` (the classes, then ``(no predicted label)``).

    Raises:
        InputError: different classes, items with true labels but no prediction, or values that are not 0/1.

    Example:
        >>> true = pd.DataFrame([[1, 1, 0], [1, 1, 1], [0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 0],
        ...                      [1, 0, 0], [1, 1, 0], [1, 1, 0]], columns=list("abc"))
        >>> pred = pd.DataFrame([[1, 1, 0], [1, 0, 1], [0, 0, 0], [1, 1, 1], [1, 1, 1], [0, 1, 1],
        ...                      [0, 1, 1], [1, 0, 1], [0, 0, 1]], columns=list("abc"))
        >>> mlcm(true, pred)
        predicted          a  b  c  (no predicted label)
        true
        a                  5  2  4                     0
        b                  0  2  3                     1
        c                  0  0  1                     0
        (no true label)    0  1  1                     1
    """
    if list(true.columns) != list(pred.columns):
        raise InputError(
            f"true and predicted labels have different classes: {list(true.columns)} vs {list(pred.columns)}"
        )
    missing = true.index.difference(pred.index)
    if len(missing):
        raise InputError(f"{len(missing)} items have true labels but no prediction (first: {list(missing[:5])})")
    t = _multi_hot(true, "true labels")
    p = _multi_hot(pred.loc[true.index], "predicted labels")
    c = t.shape[1]
    matrix = np.zeros((c + 1, c + 1), dtype=np.int64)
    hit, t2, p2 = t & p, t & ~p, p & ~t
    missed, extra = t2.any(axis=1), p2.any(axis=1)
    matrix[np.arange(c), np.arange(c)] += hit.sum(axis=0)
    matrix[c, c] += int((~t.any(axis=1) & ~p.any(axis=1)).sum())
    matrix[:c, c] += t2[missed & ~extra].sum(axis=0)
    matrix[c, :c] += p2[extra & ~t.any(axis=1)].sum(axis=0)
    charged = extra & t.any(axis=1)
    against = np.where(missed[:, None], t2, t)[charged].astype(np.int64)
    matrix[:c, :c] += against.T @ p2[charged].astype(np.int64)
    names = [str(x) for x in true.columns]
    return pd.DataFrame(
        matrix,
        index=pd.Index([*names, NO_TRUE_LABEL], name="true"),
        columns=pd.Index([*names, NO_PREDICTED_LABEL], name="predicted"),
    )


def _multi_hot(table: pd.DataFrame, what: str) -> np.ndarray:
    values = table.to_numpy(dtype=float)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        row, col = (int(x[0]) for x in np.nonzero(bad))
        raise InputError(
            f"{what} must be multi-hot (0/1); item {table.index[row]!r}, column {table.columns[col]!r} "
            f"holds {values[row, col]:g}. Binarize first (voxpop.labels.decisions.binarize_above_uniform)"
        )
    return values.astype(bool)
