"""What a predictions table must hold before it is scored, fused or binarised (``evaluate``, ``fuse``, ``mlcm``).

:func:`check_prediction_table` checks a :class:`~voxpop.evaluation.predictions.Predictions` read from a file or a
run's stage against what its reader knows: the classes exactly (no extra, no missing class column), a ``fold`` column
naming only the run's folds where out-of-fold predictions need one, class probabilities in [0, 1] and, for
single-label predictions, each row summing to one within :data:`SUM_TOLERANCE` (multi-label rows are independent
sigmoids and are not summed). Continuous predictions (dimension values on the targets' scale) are checked for their
columns and folds only. Each problem is an :class:`~voxpop.core.errors.InputError` naming the file, the row (1-based,
as a spreadsheet counts data rows), the item and the column.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from voxpop.core.errors import InputError, where
from voxpop.core.formatting import excerpt, excerpts
from voxpop.evaluation.predictions import Predictions
from voxpop.labels.decisions import DISTRIBUTION_TOLERANCE

SUM_TOLERANCE = DISTRIBUTION_TOLERANCE
"""How far (absolute) a single-label row's probabilities may sum from one: the tolerance the metrics use to tell a
distribution (float32 softmax outputs sum to one within about 1e-6)."""


def check_prediction_table(
    predictions: Predictions,
    source: object,
    *,
    classes: Sequence[str] | None = None,
    multilabel: bool | None = None,
    folds: Sequence[str] | None = None,
    needs_fold: bool = False,
    expected: str = "the label set",
) -> None:
    """Refuse a predictions table that does not hold what its reader expects.

    Args:
        predictions: the table as read (:func:`~voxpop.evaluation.predictions.load_predictions`).
        source: the file (or run stage file) it was read from, for messages.
        classes: the classes (or dimensions) its columns must be, exactly (any order); None: not compared.
        multilabel: whether rows are independent sigmoids (not summed); None: as ``predictions.multilabel``.
        folds: the folds its ``fold`` column may name (a run's folds); None: not compared.
        needs_fold: a ``fold`` column is required (out-of-fold predictions of a run).
        expected: what ``classes`` come from, for messages (e.g. ``the test label set``).

    Raises:
        InputError: an extra or missing class column, no ``fold`` column where one is needed, a fold not in
            ``folds``, a probability outside [0, 1], or a single-label row not summing to one within
            :data:`SUM_TOLERANCE`; naming the file, row, item and column.

    Example:
        >>> import pandas as pd
        >>> table = pd.DataFrame({"A": [0.7, 0.5], "S": [0.3, 0.6]}, index=["i1", "i2"])
        >>> check_prediction_table(Predictions(table), "p.csv")
        Traceback (most recent call last):
        ...
        voxpop.core.errors.InputError: p.csv, row 2, column 'A'..'S': item 'i2', the class probabilities sum \
to 1.1; a single-label row sums to one (within 0.001): give softmax probabilities, or predictions of a multi-label \
model as such.
    """
    table, found = predictions.table, predictions.classes
    if classes is not None:
        extra = [c for c in found if c not in classes]
        missing = [c for c in classes if c not in found]
        if extra or missing:
            what = (f"column {excerpt(extra[0])} is not one of the classes" if extra
                    else f"no column for class {excerpt(missing[0])}")  # fmt: skip
            raise InputError(
                f"{source}: {what} of {expected} ({', '.join(classes)}); the predictions have {excerpts(found)}. "
                "Give predictions of a model trained on these classes, one column per class."
            )
    if needs_fold and predictions.folds is None:
        raise InputError(
            f"{where(source, column='fold')}: missing; out-of-fold predictions name the fold whose model predicted "
            "each item. Run the study again to rewrite the file."
        )
    if folds is not None and predictions.folds is not None:
        unknown = ~predictions.folds.astype(str).isin(list(folds)).to_numpy()
        if unknown.any():
            row = int(np.flatnonzero(unknown)[0])
            raise InputError(
                f"{where(source, row + 1, 'fold')}: item {excerpt(table.index[row])}, fold "
                f"{excerpt(predictions.folds.iat[row])} is not one of the "
                f"run's folds ({', '.join(folds)}); run the study again to rewrite the file."
            )
    if predictions.kind != "categorical":
        return
    values = predictions.scores.to_numpy(dtype=float)
    outside = (values < 0) | (values > 1)
    if outside.any():
        row, column = (int(i) for i in np.argwhere(outside)[0])
        raise InputError(
            f"{where(source, row + 1, found[column])}: item {excerpt(table.index[row])}, {values[row, column]:g} is "
            "not a "
            f"probability in [0, 1] ({int(outside.sum()):,} such values); give class probabilities (softmax or "
            "sigmoid outputs), not logits or scores."
        )
    if not (predictions.multilabel if multilabel is None else multilabel):
        sums = values.sum(axis=1)
        off = np.abs(sums - 1.0) > SUM_TOLERANCE
        if off.any():
            row = int(np.flatnonzero(off)[0])
            raise InputError(
                f"{where(source, row + 1)}, column {excerpt(found[0])}..{excerpt(found[-1])}: item "
                f"{excerpt(table.index[row])}, "
                "the class "
                f"probabilities sum to {sums[row]:.6g}; a single-label row sums to one (within {SUM_TOLERANCE:g}): "
                "give softmax probabilities, or predictions of a multi-label model as such."
            )
