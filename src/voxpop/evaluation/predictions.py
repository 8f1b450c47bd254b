"""Predictions: per item scores of a model (or of another tool), on disk and as decisions.

:class:`Predictions` is the one type of a predictions table: items x output columns (class
probabilities or scores; for continuous outputs, one column per emotion dimension) plus an optional
``fold`` column, with whether the class scores are per-class sigmoids (``multilabel``).
:func:`save_predictions` / :func:`load_predictions` write and read it as parquet (also CSV or parquet
files from outside voxpop, e.g. a video model's, to be fused). Decisions: :func:`binarize_predictions`
(multi-label decisions, built on the binarisation rules of :mod:`voxpop.evaluation.metrics`) and
:func:`predicted_classes` (the single-label decision, :func:`voxpop.labels.decisions.decide`), the one place that
turns scores into class names.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from voxpop.core.cache import atomic_write, parse_json
from voxpop.core.errors import ConfigError, InputError
from voxpop.core.paths import input_file, output_file
from voxpop.corpus.corpus import STRING
from voxpop.labels.decisions import (
    DISTRIBUTION_TOLERANCE,
    binarize_above_uniform,
    binarize_argmax,
    binarize_thresholds,
    decide,
)

_PREDICTIONS_META = b"voxpop.predictions"
KINDS = ("categorical", "continuous")


@dataclasses.dataclass(frozen=True)
class Predictions:
    """A predictions table and what its columns mean.

    Args:
        table: DataFrame indexed by item (string ids), one float column per output in order and an optional
            ``fold`` column (the fold whose model predicted the item).
        multilabel: the class columns are independent sigmoids rather than a softmax (categorical only).
        kind: ``categorical`` (columns are classes holding probabilities or scores) or ``continuous``
            (columns are emotion dimensions, e.g. arousal and valence, holding predicted values on the
            targets' scale).

    Raises:
        InputError: a value is not a finite number or an item id is missing.
        ConfigError: another kind, or continuous predictions marked multi-label.

    Example:
        >>> p = Predictions(pd.DataFrame({"A": [0.7, 0.2], "S": [0.3, 0.8], "fold": ["f1", "f2"]}, index=["i1", "i2"]))
        >>> p.classes, p.folds.tolist(), p.scores.shape
        (['A', 'S'], ['f1', 'f2'], (2, 2))
    """

    table: pd.DataFrame
    multilabel: bool = False
    kind: Literal["categorical", "continuous"] = "categorical"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"predictions kind {self.kind!r}: choose one of {', '.join(KINDS)}.")
        if self.kind == "continuous" and self.multilabel:
            raise ConfigError("continuous predictions (one column per dimension) cannot be multi-label.")
        _check_predictions(self.table, "predictions")

    @property
    def classes(self) -> list[str]:
        """The output columns in order: class names, or dimension names for continuous predictions."""
        return [str(c) for c in self.table.columns if c != "fold"]

    @property
    def scores(self) -> pd.DataFrame:
        """Items x outputs, without the ``fold`` column."""
        return self.table.drop(columns="fold", errors="ignore")

    @property
    def folds(self) -> pd.Series | None:
        """Item -> fold, or None when the table has no ``fold`` column."""
        return self.table["fold"] if "fold" in self.table.columns else None


# ====================================================================== predictions on disk
def _check_predictions(predictions: pd.DataFrame, source: str) -> list[str]:
    """The class columns of a predictions table (every column but ``fold``), checked to be finite numbers."""
    if not isinstance(predictions, pd.DataFrame):
        raise InputError(f"{source}: predictions must be a DataFrame (items x classes), got {type(predictions)}.")
    classes = [str(c) for c in predictions.columns if c != "fold"]
    if not classes:
        raise InputError(f"{source}: no class columns; expected one probability column per class (and 'fold').")
    for column in classes:
        values = pd.to_numeric(predictions[column], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise InputError(
                f"{source}, item {predictions.index[bad[0]]!r}, column {column!r}: "
                f"{str(predictions[column].iloc[bad[0]])!r} is not a finite number ({len(bad)} such row"
                f"{'s' if len(bad) > 1 else ''}); every class column must hold a probability or score."
            )
    if predictions.index.isna().any():
        raise InputError(f"{source}: some rows have no item id; index the table by item.")
    return classes


def save_predictions(predictions: Predictions, path: str | Path) -> Path:
    """Write predictions (index item, output columns in order, optional ``fold``) to one parquet file.

    The column order, ``multilabel`` and ``kind`` go into the file's metadata; the write is atomic.

    Args:
        predictions: the predictions.
        path: the parquet file to write (parent folders are created).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: a value is not a finite number or an item id is missing.
        ConfigError: ``path`` cannot be written (a folder, a read-only place).
    """
    path = Path(path)
    table_in = predictions.table
    classes = _check_predictions(table_in, str(path))
    frame = table_in[classes].astype(float)
    frame.index = pd.Index(table_in.index.astype(str), dtype=STRING, name="item")
    if "fold" in table_in.columns:
        frame["fold"] = table_in["fold"].astype(STRING).to_numpy()
    table = pa.Table.from_pandas(frame, preserve_index=True)
    meta = json.dumps({"classes": classes, "multilabel": bool(predictions.multilabel), "kind": predictions.kind})
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _PREDICTIONS_META: meta.encode()})
    output_file(path)
    atomic_write(path, lambda handle: pq.write_table(table, handle))
    return path


def load_predictions(path: str | Path) -> Predictions:
    """Read predictions written by :func:`save_predictions`, or from outside voxpop.

    Args:
        path: a parquet file of :func:`save_predictions`, or an outside parquet or CSV file with the item ids
            in an ``item`` column (else the parquet index, or the first CSV column), one numeric column per
            class and an optional ``fold`` column; outside files load as categorical, not multi-label.

    Returns:
        The :class:`Predictions`, its table indexed by item (string ids).

    Raises:
        InputError: a missing or unreadable file, or a value that is not a finite number.
    """
    path = input_file(path, "predictions")
    meta: dict[str, Any] = {}
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path)
        frame = frame.set_index("item" if "item" in frame.columns else frame.columns[0])
    else:
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(
                f"{path}: not a readable parquet file ({exc}); give predictions as parquet or CSV."
            ) from None
        raw = (table.schema.metadata or {}).get(_PREDICTIONS_META)
        meta = parse_json(raw) if raw else {}
        frame = table.to_pandas()
        if "item" in frame.columns:
            frame = frame.set_index("item")
    frame.index = pd.Index(frame.index.astype(str), dtype=STRING, name="item")
    frame.columns = [str(c) for c in frame.columns]
    classes = meta.get("classes") or _check_predictions(frame, str(path))
    _check_predictions(frame[[*classes, *(["fold"] if "fold" in frame.columns else [])]], str(path))
    result = frame[classes].astype(float)
    if "fold" in frame.columns:
        result["fold"] = frame["fold"].astype(STRING)
    return Predictions(result, bool(meta.get("multilabel", False)), meta.get("kind", "categorical"))


# ====================================================================== decisions
Binarize = Literal["auto", "uniform", "argmax"] | float | pd.Series


def _is_distribution(values: np.ndarray) -> np.ndarray:
    """Per row: non-negative and summing to 1 (within the metrics' tolerance)."""
    return (values >= 0).all(axis=1) & (np.abs(values.sum(axis=1) - 1.0) <= DISTRIBUTION_TOLERANCE)


def predicted_classes(scores: pd.DataFrame) -> pd.Series:
    """The single-label decision per item: the highest-scoring column (first on ties).

    Args:
        scores: items x classes scores.

    Returns:
        The class name per item, a string Series indexed like ``scores``
        (:func:`voxpop.labels.decisions.decide` without offsets).

    Example:
        >>> predicted_classes(pd.DataFrame({"A": [0.6, 0.3], "S": [0.4, 0.7]}, index=["i1", "i2"])).tolist()
        ['A', 'S']
    """
    return decide(scores).astype(STRING)


def binarize_predictions(probs: pd.DataFrame, rule: Binarize = "auto") -> pd.DataFrame:
    """Multi-label decisions from scores: ``uniform`` = the 1/C rule (p_c > 1/C, as the all-inclusive test
    form), ``argmax`` = one class per item, a number or a Series by class = thresholds p_c >= t_c;
    ``auto`` = ``uniform`` when every row is a distribution (softmax outputs), else threshold 0.5 (sigmoids).

    >>> p = pd.DataFrame({"A": [0.6, 0.9], "S": [0.4, 0.7]}, index=["softmax", "sigmoid"])
    >>> binarize_predictions(p.iloc[:1]).to_numpy().tolist(), binarize_predictions(p.iloc[1:]).to_numpy().tolist()
    ([[1, 0]], [[1, 1]])
    """
    if isinstance(rule, str):
        if rule == "auto":
            rule = "uniform" if _is_distribution(probs.to_numpy(dtype=float)).all() else 0.5
        elif rule not in ("uniform", "argmax"):
            raise ConfigError(f"binarize {rule!r}: choose auto, uniform, argmax, a threshold or per-class thresholds.")
    if isinstance(rule, str) and rule == "uniform":
        return binarize_above_uniform(probs)
    if isinstance(rule, str):
        return binarize_argmax(probs)
    return binarize_thresholds(probs, rule)
