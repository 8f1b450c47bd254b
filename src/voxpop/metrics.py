"""Evaluation on whole prediction sets (METHODS.md section 6): metrics, binarization, threshold tuning, CIs.

Inputs
    *Single-label*: 1-D integer class codes ``0..C-1``, or class names (a Series / array of strings)
    together with ``classes`` (the corpus's class order). *Multi-label*: 2-D binary matrices
    (items x classes), arrays or DataFrames with the classes as columns. pandas inputs are matched on
    their item index (different item sets are an error, never silently dropped).

Counts
    Every label metric here is a function of per-class true positives ``tp``, false positives ``fp``,
    false negatives ``fn`` and the number of items ``n``, summed over the WHOLE set (:class:`Counts`).
    Summing counts first is what makes multi-label F1 correct: averaging per-batch F1 values is not
    the F1 of the set. The same counts make the bootstrap fast: a resample's counts are a weighted sum
    of per-item contributions, so 1,000 resamples are one matrix product per chunk.

Conventions
    Macro averages run over the classes PRESENT in the set being scored (:func:`averaged_classes`), so
    a class absent from a small test set or a subgroup does not drag the score down: single-label UAR
    over the classes present in the truth (scikit-learn's ``recall_score(average='macro',
    labels=present)``), single-label macro-F1 over the classes present in the truth or the prediction
    (scikit-learn's default ``f1_score(average='macro')``), multi-label macro-F1 / UAR over the
    classes with at least one positive in the truth. Results tables name the absent classes
    (``absent_classes``). A bootstrap resample is scored with the class list of the whole set it was
    drawn from, and single-label resamples are stratified by true class, so every resample holds the
    set's classes. The speaker-cluster bootstrap (``groups``: resample whole speakers) is not
    stratified: a resample may lack a class of the set, which is still scored with the set's class
    list, so its recall and F1 take ``zero_division`` (0.0: the class counts as 0 in UAR and macro-F1;
    NaN: it is left out of that resample's averages). Within those classes a ratio whose denominator
    is zero (precision of a never-predicted class) takes ``zero_division`` (default 0.0, as
    scikit-learn); ``zero_division=np.nan`` leaves such classes out of the averages as well.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from voxpop.errors import ConfigError, InputError
from voxpop.limits import check_ceiling

SINGLE_LABEL_METRICS = ("accuracy", "uar", "macro_f1", "micro_f1", "weighted_f1", "mcc")
MULTI_LABEL_METRICS = ("macro_f1", "micro_f1", "weighted_f1", "mcc")
PER_CLASS_METRICS = ("precision", "recall", "f1")
CLASS_TASK_METRICS = ("weighted_f1", "mcc")
"""Per-class metrics of each class's own binary task (the class against the rest), as published per emotion:
``weighted_f1[c]`` (F1 of both sides weighted by their support) and ``mcc[c]``."""
REPORTED_PER_CLASS = ("f1", *CLASS_TASK_METRICS)
"""The per-class metrics :func:`evaluate` adds with ``per_class=True``."""
DEFAULT_THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)
DEFAULT_OFFSET_GRID = np.round(np.arange(-0.5, 0.501, 0.05), 2)
UNIFORM_TOLERANCE = 1e-9
DISTRIBUTION_TOLERANCE = 1e-3
TIE_TOLERANCE = 1e-9
EVALUATION_TIE_POLICIES = ("drop", "first", "random")
RESAMPLE_UNITS = ("items", "speakers")
_CHUNK_ELEMENTS = 1 << 22  # resampled indices held in memory at once (~32 MB of int64)
_BLOCK_ELEMENTS = 1 << 15  # resampled positions counted at once (they stay in the CPU cache)
_MAX_LISTED = 5
_PER_CLASS_NAME = re.compile(r"^(precision|recall|f1|weighted_f1|mcc)\[(.+)\]$")


class CI(NamedTuple):
    """A point estimate with the bounds of its confidence interval."""

    value: float
    low: float
    high: float


# --------------------------------------------------------------------------------------------------
# Input handling


def _listing(values: Sequence[object]) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:_MAX_LISTED])
    more = len(values) - _MAX_LISTED
    return shown + (f" ... ({more} more)" if more > 0 else "")


def _item_label(index: pd.Index | None, position: int) -> str:
    return f"item {index[position]!r}" if index is not None else f"position {position}"


def align_tables(
    tables: Mapping[str, pd.Series | pd.DataFrame], classes: Sequence[object] | None = None
) -> dict[str, pd.Series | pd.DataFrame]:
    """Put every table in the first table's item order and every DataFrame's columns in class order.

    ``classes`` defaults to the columns of the first DataFrame. Duplicate item ids, differing item
    sets and differing class columns raise :class:`InputError` naming the table and what differs.

    >>> a = pd.Series(["x", "y"], index=["i1", "i2"])
    >>> b = pd.DataFrame({"y": [0.1, 0.8], "x": [0.9, 0.2]}, index=["i2", "i1"])
    >>> out = align_tables({"labels": a, "model": b}, classes=["x", "y"])
    >>> out["model"]
          x    y
    i1  0.2  0.8
    i2  0.9  0.1
    """
    if not tables:
        raise ConfigError("align_tables needs at least one table")
    names = list(tables)
    reference = tables[names[0]].index
    if classes is None:
        classes = next((list(t.columns) for t in tables.values() if isinstance(t, pd.DataFrame)), None)
    aligned = {}
    for name, table in tables.items():
        duplicated = table.index[table.index.duplicated()].unique()
        if len(duplicated):
            raise InputError(f"{name}: item ids must be unique; repeated: {_listing(duplicated)}")
        missing, extra = reference.difference(table.index), table.index.difference(reference)
        if len(missing) or len(extra):
            raise InputError(
                f"{name}: items differ from {names[0]!r}: missing {len(missing)} ({_listing(missing)}), "
                f"extra {len(extra)} ({_listing(extra)}); give every table the same items."
            )
        table = table.loc[reference]
        if isinstance(table, pd.DataFrame) and classes is not None:
            missing_c = [c for c in classes if c not in table.columns]
            extra_c = [c for c in table.columns if c not in classes]
            if missing_c or extra_c:
                raise InputError(
                    f"{name}: class columns differ from {list(classes)}: missing {missing_c}, extra {extra_c}; "
                    "rename or map the columns to the corpus classes."
                )
            table = table[list(classes)]
        aligned[name] = table
    return aligned


def class_codes(y: object, classes: Sequence[object] | None, name: str) -> np.ndarray:
    """Integer codes 0..C-1 from codes or class names (names need ``classes``); ``name`` is used in errors.

    >>> class_codes(pd.Series(["S", "A"]), ["A", "S"], "labels")
    array([1, 0])
    """
    series = y if isinstance(y, pd.Series) else pd.Series(np.asarray(y))
    index = series.index if isinstance(y, pd.Series) else None
    if series.isna().any():
        position = int(np.flatnonzero(series.isna().to_numpy())[0])
        raise InputError(f"{name}: {_item_label(index, position)} has no label; remove or label it first.")
    if pd.api.types.is_integer_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        codes = series.to_numpy(dtype=np.int64)
        limit = len(classes) if classes is not None else None
        bad = (codes < 0) | (codes >= limit if limit is not None else False)
        if bad.any():
            position = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{name}: {_item_label(index, position)} has class code {codes[position]}; "
                f"expected 0..{(limit or 1) - 1} ({limit} classes)."
            )
        return codes
    if not (pd.api.types.is_string_dtype(series.dtype) or isinstance(series.dtype, pd.CategoricalDtype)):
        raise InputError(f"{name}: expected integer class codes or class names, found dtype {series.dtype}.")
    if classes is None:
        raise ConfigError(f"{name} holds class names; pass classes=[...] (the corpus class order).")
    codes = pd.Index(list(classes), dtype=object).get_indexer(series.astype(object)).astype(np.int64)
    if (codes < 0).any():
        position = int(np.flatnonzero(codes < 0)[0])
        raise InputError(
            f"{name}: {_item_label(index, position)} has label {series.iloc[position]!r}, which is not one of "
            f"the classes {list(classes)}; map it to a class or remove the item."
        )
    return codes


def _binary(y: object, name: str) -> np.ndarray:
    """A boolean items x classes matrix from 0/1 or boolean values."""
    frame = y if isinstance(y, pd.DataFrame) else None
    values = frame.to_numpy(dtype=float, na_value=np.nan) if frame is not None else np.asarray(y, dtype=float)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        row, col = (int(v[0]) for v in np.nonzero(bad))
        column = f", column {frame.columns[col]!r}" if frame is not None else f", column {col}"
        raise InputError(
            f"{name}: {_item_label(frame.index if frame is not None else None, row)}{column} holds "
            f"{values[row, col]}; a multi-label matrix must hold 0/1 (binarize probabilities first)."
        )
    return values.astype(bool)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """Labels as numpy arrays: codes (n,) or boolean (n, C) matrices, with the class names."""

    true: np.ndarray
    pred: np.ndarray
    classes: list
    multilabel: bool
    index: pd.Index | None


def _aligned_pair(y_true: object, y_pred: object, classes: Sequence[object] | None) -> tuple[object, object]:
    """Match two pandas label tables on item ids (and class columns); other inputs pass unchanged."""
    if isinstance(y_true, pd.Series | pd.DataFrame) and isinstance(y_pred, pd.Series | pd.DataFrame):
        aligned = align_tables({"y_true": y_true, "y_pred": y_pred}, classes)
        return aligned["y_true"], aligned["y_pred"]
    return y_true, y_pred


def prepare(y_true: object, y_pred: object, classes: Sequence[object] | None = None) -> Prepared:
    """Check and convert a pair of label sets (see the module docstring for the accepted forms)."""
    y_true, y_pred = _aligned_pair(y_true, y_pred, classes)
    index = y_true.index if isinstance(y_true, pd.Series | pd.DataFrame) else None
    ndim_true, ndim_pred = np.ndim(y_true), np.ndim(y_pred)
    if ndim_true != ndim_pred or ndim_true not in (1, 2):
        raise InputError(
            f"y_true has {ndim_true} dimensions and y_pred {ndim_pred}; expected both 1-D (single-label) "
            "or both 2-D items x classes (multi-label)."
        )
    if len(y_true) != len(y_pred):
        raise InputError(f"y_true has {len(y_true)} items but y_pred {len(y_pred)}; they must match.")
    if ndim_true == 2:
        true, pred = _binary(y_true, "y_true"), _binary(y_pred, "y_pred")
        if true.shape[1] != pred.shape[1]:
            raise InputError(f"y_true has {true.shape[1]} classes but y_pred {pred.shape[1]}.")
        if classes is None:
            classes = list(y_true.columns) if isinstance(y_true, pd.DataFrame) else list(range(true.shape[1]))
        if len(classes) != true.shape[1]:
            raise InputError(f"{len(classes)} classes given but the matrices have {true.shape[1]} columns.")
        return Prepared(true, pred, list(classes), True, index)
    true, pred = class_codes(y_true, classes, "y_true"), class_codes(y_pred, classes, "y_pred")
    if classes is None:
        classes = list(range(int(max(true.max(initial=-1), pred.max(initial=-1))) + 1))
    return Prepared(true, pred, list(classes), False, index)


# --------------------------------------------------------------------------------------------------
# Counts and the metrics computed from them


@dataclasses.dataclass(frozen=True)
class Counts:
    """Per-class ``tp``, ``fp``, ``fn`` (shape ``(..., C)``) and items ``n`` (shape ``(...)``).

    Leading dimensions hold several prediction sets at once (bootstrap resamples, fusion candidates).
    Single-label: an item of class t predicted as p adds a tp to t if p == t, else a fn to t and a fp
    to p. Multi-label: each (item, class) cell adds to tp, fp or fn of its class (or to none: tn).

    >>> c = Counts.from_codes(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    >>> c.tp, c.fp, c.fn, c.n
    (array([1, 1, 0]), array([0, 2, 0]), array([1, 0, 1]), array(4))
    """

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    n: np.ndarray
    multilabel: bool = False

    @classmethod
    def from_codes(cls, true: np.ndarray, pred: np.ndarray, n_classes: int) -> Counts:
        """Counts of single-label codes; ``pred`` may have leading dimensions (several prediction sets)."""
        true, pred = np.asarray(true), np.asarray(pred)
        n = true.shape[0]
        lead = pred.shape[:-1]
        flat = pred.reshape(-1, n) + (np.arange(int(np.prod(lead, dtype=int)))[:, None] * n_classes)
        size = flat.shape[0] * n_classes
        predicted = np.bincount(flat.ravel(), minlength=size).reshape(*lead, n_classes)
        tp = np.bincount(flat[pred.reshape(-1, n) == true], minlength=size).reshape(*lead, n_classes)
        support = np.bincount(true, minlength=n_classes)
        return cls(tp, predicted - tp, support - tp, np.full(lead, n))

    @classmethod
    def from_binary(cls, true: np.ndarray, pred: np.ndarray) -> Counts:
        """Counts of boolean items x classes matrices; ``pred`` may have leading dimensions."""
        true, pred = np.asarray(true, dtype=bool), np.asarray(pred, dtype=bool)
        tp = (true & pred).sum(axis=-2)
        fp = (~true & pred).sum(axis=-2)
        fn = (true & ~pred).sum(axis=-2)
        return cls(tp, fp, fn, np.full(pred.shape[:-2], true.shape[0]), multilabel=True)

    @classmethod
    def from_prepared(cls, prepared: Prepared) -> Counts:
        if prepared.multilabel:
            return cls.from_binary(prepared.true, prepared.pred)
        return cls.from_codes(prepared.true, prepared.pred, len(prepared.classes))


def _ratio(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, num / safe, zero_division)


def _nanmean(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Mean over the last axis ignoring NaN (classes left out by ``zero_division=nan``); all-NaN -> NaN."""
    valid = ~np.isnan(values)
    w = valid * (1.0 if weights is None else weights)
    total = w.sum(axis=-1)
    summed = (np.where(valid, values, 0.0) * w).sum(axis=-1)
    return np.where(total > 0, summed / np.where(total > 0, total, 1.0), np.nan)


def _mcc(c: Counts) -> np.ndarray:
    """Single-label: Gorodkin's R_K from the confusion matrix margins (scikit-learn's formula).
    Multi-label: binary MCC of the flattened items x classes matrices."""
    if c.multilabel:
        tp, fp, fn = (x.sum(axis=-1).astype(float) for x in (c.tp, c.fp, c.fn))
        tn = c.n * c.tp.shape[-1] - tp - fp - fn
        num, den = tp * tn - fp * fn, (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    else:
        t, p = (c.tp + c.fn).astype(float), (c.tp + c.fp).astype(float)
        s, correct = c.n.astype(float), c.tp.sum(axis=-1).astype(float)
        num = correct * s - (t * p).sum(axis=-1)
        den = (s**2 - (p * p).sum(axis=-1)) * (s**2 - (t * t).sum(axis=-1))
    return np.where(den > 0, num / np.sqrt(np.where(den > 0, den, 1.0)), 0.0)


def per_class_scores(counts: Counts, zero_division: float = 0.0) -> dict[str, np.ndarray]:
    """Per-class precision tp/(tp+fp), recall tp/(tp+fn) and F1 2tp/(2tp+fp+fn), shape (..., C); and of each
    class's binary task (class against the rest, tn = n - tp - fp - fn): ``weighted_f1`` = (support+ F1 +
    support- F1-) / n with F1- = 2tn/(2tn+fn+fp), and ``mcc`` = (tp tn - fp fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn))
    (0 where undefined, as scikit-learn).

    >>> s = per_class_scores(Counts.from_codes(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 2))
    >>> s["f1"].round(3).tolist(), s["weighted_f1"].round(3).tolist(), s["mcc"].round(3).tolist()
    ([0.667, 0.8], [0.733, 0.733], [0.577, 0.577])
    """
    tp, fp, fn = counts.tp, counts.fp, counts.fn
    tn = np.asarray(counts.n)[..., None] - tp - fp - fn
    f1 = _ratio(2 * tp, 2 * tp + fp + fn, zero_division)
    negative_f1 = _ratio(2 * tn, 2 * tn + fn + fp, zero_division)
    n = np.asarray(counts.n, dtype=float)[..., None]
    den = (tp + fp).astype(float) * (tp + fn) * (tn + fp) * (tn + fn)
    return {
        "precision": _ratio(tp, tp + fp, zero_division),
        "recall": _ratio(tp, tp + fn, zero_division),
        "f1": f1,
        "weighted_f1": _ratio((tp + fn) * f1 + (tn + fp) * negative_f1, n, zero_division),
        "mcc": np.where(den > 0, (tp * tn - fp * fn) / np.sqrt(np.where(den > 0, den, 1.0)), 0.0),
    }


def averaged_classes(counts: Counts, metric: str) -> np.ndarray:
    """Which classes a macro average runs over, shape (..., C) boolean (see the module docstring).

    ``uar`` and every multi-label average: classes with a positive in the truth (tp + fn > 0).
    Single-label ``macro_f1``: classes in the truth or the prediction (tp + fp + fn > 0), as
    scikit-learn's ``f1_score(average='macro')`` without ``labels``.

    >>> c = Counts.from_codes(np.array([0, 0, 1]), np.array([0, 0, 2]), 4)
    >>> averaged_classes(c, "uar"), averaged_classes(c, "macro_f1")
    (array([ True,  True, False, False]), array([ True,  True,  True, False]))
    """
    if metric == "macro_f1" and not counts.multilabel:
        return (counts.tp + counts.fp + counts.fn) > 0
    return (counts.tp + counts.fn) > 0


def score(counts: Counts, metric: str, zero_division: float = 0.0, present: np.ndarray | None = None) -> np.ndarray:
    """A metric from counts, vectorised over leading dimensions.

    ``accuracy`` = sum tp / n (single-label); ``uar`` = mean of recall_c over the classes present;
    ``macro_f1`` = mean of F1_c over the classes present; ``micro_f1`` = 2 sum tp / (2 sum tp + sum fp +
    sum fn); ``weighted_f1`` = sum_c support_c F1_c / sum_c support_c; ``mcc`` see :func:`mcc`;
    ``precision``, ``recall``, ``f1`` give per-class arrays. The classes present are
    :func:`averaged_classes` of ``counts`` unless ``present`` (shape (C,) or (..., C)) fixes them, e.g.
    to score bootstrap resamples with the class list of the whole set. No class present: NaN.

    >>> c = Counts.from_codes(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    >>> float(score(c, "accuracy")), float(score(c, "uar")), score(c, "f1")
    (0.5, 0.5, array([0.6666..., 0.5 , 0. ]))
    >>> c = Counts.from_codes(np.array([0, 0, 1]), np.array([0, 0, 2]), 3)  # recall (1, 0); F1 (1, 0, 0)
    >>> float(score(c, "uar")), float(score(c, "macro_f1"))
    (0.5, 0.3333...)
    """
    if metric in PER_CLASS_METRICS:
        return per_class_scores(counts, zero_division)[metric]
    if metric == "accuracy":
        if counts.multilabel:
            raise ConfigError("accuracy is a single-label metric; for multi-label use macro_f1 or micro_f1.")
        return _ratio(counts.tp.sum(axis=-1), counts.n, zero_division)
    if metric in ("uar", "macro_f1"):
        mask = averaged_classes(counts, metric) if present is None else np.asarray(present, dtype=bool)
        values = per_class_scores(counts, zero_division)["recall" if metric == "uar" else "f1"]
        return _nanmean(values, mask.astype(float))
    if metric == "micro_f1":
        tp, fp, fn = (x.sum(axis=-1) for x in (counts.tp, counts.fp, counts.fn))
        return _ratio(2 * tp, 2 * tp + fp + fn, zero_division)
    if metric == "weighted_f1":
        f1 = per_class_scores(counts, zero_division)["f1"]
        weighted = _nanmean(f1, (counts.tp + counts.fn).astype(float))
        return np.where((counts.tp + counts.fn).sum(axis=-1) > 0, weighted, zero_division)
    if metric == "mcc":
        return _mcc(counts)
    known = sorted({*SINGLE_LABEL_METRICS, *MULTI_LABEL_METRICS, *PER_CLASS_METRICS})
    raise ConfigError(f"unknown metric {metric!r}; known: {', '.join(known)} or e.g. 'f1[anger]' for one class.")


def _named_metric(
    metric: str, classes: Sequence[object], zero_division: float, reference: Counts | None = None
) -> Callable[[Counts], np.ndarray]:
    """``metric`` (a name from :func:`score` or ``"f1[class]"``) as a function of counts; with ``reference``
    (the whole set's counts) macro averages run over the classes present in the reference."""
    match = _PER_CLASS_NAME.match(metric)
    if match is None:
        present = averaged_classes(reference, metric) if reference is not None else None
        return lambda counts: score(counts, metric, zero_division, present)
    kind, name = match.groups()
    by_name = {str(c): i for i, c in enumerate(classes)}
    if name not in by_name:
        raise ConfigError(f"metric {metric!r}: class {name!r} is not one of {list(classes)}.")
    position = by_name[name]
    return lambda counts: per_class_scores(counts, zero_division)[kind][..., position]


def _point(metric: str, y_true: object, y_pred: object, classes: Sequence[object] | None, zd: float) -> float:
    prepared = prepare(y_true, y_pred, classes)
    return float(_named_metric(metric, prepared.classes, zd)(Counts.from_prepared(prepared)))


def accuracy(y_true: object, y_pred: object, classes: Sequence[object] | None = None) -> float:
    """Share of items whose predicted class is the true class (single-label).

    >>> accuracy(["A", "A", "S"], ["A", "S", "S"], classes=["A", "S"])
    0.666...
    """
    return _point("accuracy", y_true, y_pred, classes, 0.0)


def uar(y_true: object, y_pred: object, classes: Sequence[object] | None = None, zero_division: float = 0.0) -> float:
    """Unweighted average recall: mean of tp_c / (tp_c + fn_c) over the classes present in ``y_true``.

    Equals scikit-learn's ``recall_score(y_true, y_pred, average='macro', labels=<classes in y_true>)``;
    a class absent from the truth (e.g. from a subgroup) is left out instead of counting as 0.

    >>> uar([0, 0, 0, 1], [0, 0, 0, 0])
    0.5
    >>> uar(["A", "S"], ["A", "S"], classes=["A", "S", "N", "H"])  # N and H absent: left out
    1.0
    """
    return _point("uar", y_true, y_pred, classes, zero_division)


def macro_f1(
    y_true: object, y_pred: object, classes: Sequence[object] | None = None, zero_division: float = 0.0
) -> float:
    """Mean of F1_c = 2 tp_c / (2 tp_c + fp_c + fn_c) over the classes present; single- or multi-label.

    Single-label: classes in ``y_true`` or ``y_pred`` (scikit-learn's ``f1_score(average='macro')``);
    multi-label: classes with a positive in ``y_true``.

    >>> macro_f1([0, 0, 1, 2], [0, 1, 1, 1])  # F1 = (2/3, 1/2, 0)
    0.3888...
    >>> macro_f1(np.array([[1, 1], [0, 1]]), np.array([[1, 0], [0, 1]]))  # F1 = (1, 2/3)
    0.8333...
    """
    return _point("macro_f1", y_true, y_pred, classes, zero_division)


def micro_f1(
    y_true: object, y_pred: object, classes: Sequence[object] | None = None, zero_division: float = 0.0
) -> float:
    """F1 of the pooled counts: 2 sum tp / (2 sum tp + sum fp + sum fn) (single-label: = accuracy).

    >>> micro_f1(np.array([[1, 1], [0, 1]]), np.array([[1, 0], [0, 1]]))  # tp=2, fp=0, fn=1
    0.8
    """
    return _point("micro_f1", y_true, y_pred, classes, zero_division)


def weighted_f1(
    y_true: object, y_pred: object, classes: Sequence[object] | None = None, zero_division: float = 0.0
) -> float:
    """Support-weighted mean of per-class F1: sum_c (tp_c + fn_c) F1_c / sum_c (tp_c + fn_c).

    >>> weighted_f1([0, 0, 1, 2], [0, 1, 1, 1])  # (2 * 2/3 + 1 * 1/2 + 1 * 0) / 4
    0.4583...
    """
    return _point("weighted_f1", y_true, y_pred, classes, zero_division)


def mcc(y_true: object, y_pred: object, classes: Sequence[object] | None = None) -> float:
    """Matthews correlation coefficient.

    Single-label (Gorodkin's R_K, as scikit-learn), with t_c true and p_c predicted counts, c correct
    items, s items: (c s - sum t_c p_c) / sqrt((s^2 - sum p_c^2)(s^2 - sum t_c^2)). Multi-label: the
    binary MCC (TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) of the flattened matrices, the
    convention of the Likert-threshold study. A zero denominator gives 0.

    >>> mcc([0, 0, 1, 1], [0, 0, 1, 0])  # (3*4 - (2*3 + 2*1)) / sqrt((16 - 10) * (16 - 8))
    0.5773...
    """
    return _point("mcc", y_true, y_pred, classes, 0.0)


def per_class_f1(
    y_true: object, y_pred: object, classes: Sequence[object] | None = None, zero_division: float = 0.0
) -> pd.Series:
    """F1 of every class, a Series indexed by class.

    >>> per_class_f1(["A", "A", "S"], ["A", "S", "S"], classes=["A", "S", "H"])
    A    0.666667
    S    0.666667
    H    0.000000
    Name: f1, dtype: float64
    """
    prepared = prepare(y_true, y_pred, classes)
    values = per_class_scores(Counts.from_prepared(prepared), zero_division)["f1"]
    return pd.Series(values, index=prepared.classes, name="f1")


def confusion_matrix(y_true: object, y_pred: object, classes: Sequence[object] | None = None) -> pd.DataFrame:
    """Single-label confusion matrix: rows = true class, columns = predicted class, cells = item counts.

    >>> confusion_matrix(["A", "A", "S"], ["A", "S", "S"], classes=["A", "S"])
    pred  A  S
    true
    A     1  1
    S     0  1
    """
    prepared = prepare(y_true, y_pred, classes)
    if prepared.multilabel:
        raise ConfigError("confusion_matrix is single-label; for multi-label use per-class counts (Counts).")
    size = len(prepared.classes)
    cells = np.bincount(prepared.true * size + prepared.pred, minlength=size * size).reshape(size, size)
    names = pd.Index(prepared.classes)
    return pd.DataFrame(cells, index=names.rename("true"), columns=names.rename("pred"))


# --------------------------------------------------------------------------------------------------
# Distribution agreement


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


# --------------------------------------------------------------------------------------------------
# Binarization and decision tuning


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


def top_class(distributions: object, tie_policy: str = "drop", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The most probable class of each row of an items x classes table, with an explicit tie policy.

    Returns ``(codes, tied)``: class codes ``(n,)`` and a boolean ``(n,)`` marking rows whose top value
    is shared by several classes (within 1e-9). ``tie_policy`` uses the plurality rule's vocabulary:
    ``drop`` gives tied rows code -1 (leave them out, and count them), ``first`` the first tied class
    in column order (numpy's argmax), ``random`` a tied class drawn from ``default_rng(seed)``. Raises
    :class:`ConfigError` for another policy.

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


# --------------------------------------------------------------------------------------------------
# Bootstrap confidence intervals


def strata_of(y_true: object, classes: Sequence[object] | None = None) -> np.ndarray | None:
    """Stratum (true class code) of every item of a single-label set; None for multi-label (2-D) sets.

    Codes follow ``classes`` when given (:func:`class_codes`), else the sorted labels.

    >>> strata_of(["S", "A", "S"]), strata_of(["S", "A", "S"], classes=["S", "A"])
    (array([1, 0, 1]), array([0, 1, 0]))
    """
    if np.ndim(y_true) != 1:
        return None
    if classes is not None:
        return class_codes(y_true, classes, "y_true")
    return np.unique(np.asarray(y_true, dtype=object), return_inverse=True)[1].ravel()


def _index_chunks(
    n_items: int,
    n_boot: int,
    seed: int,
    indices: np.ndarray | None,
    strata: np.ndarray | None = None,
    block_elements: int = _CHUNK_ELEMENTS,
) -> Iterator[np.ndarray]:
    """Resample indices (item positions) in blocks of rows (:func:`_spans`), drawn from ``default_rng(seed)``;
    the rows do not depend on the blocking.

    Without ``strata``: the rows of ``integers(0, n, (n_boot, n))``. With ``strata`` (one code per item):
    every resample holds every stratum with its original size, drawn with replacement within it: with
    ``order`` the item positions sorted by stratum (stable), column j of a row draws
    ``order[start_j + floor(u_j * size_j)]``, where ``u = random((n_boot, n))`` and ``start_j`` /
    ``size_j`` are the first position in ``order`` and the size of column j's stratum.
    """
    if indices is not None:
        indices = np.asarray(indices)
        if indices.ndim != 2 or indices.shape[1] != n_items or indices.min() < 0 or indices.max() >= n_items:
            raise InputError(f"indices must be an (n_boot, {n_items}) array of item positions 0..{n_items - 1}.")
        for start, rows in _spans(n_items, len(indices), block_elements):
            yield indices[start : start + rows]
        return
    check_ceiling("bootstrap_cells", n_boot * n_items, f"{n_boot:,} bootstrap resamples of {n_items:,} items")
    if strata is None:
        rng = np.random.default_rng(seed)
        for _, rows in _spans(n_items, n_boot, block_elements):
            yield rng.integers(0, n_items, size=(rows, n_items))
        return
    order = _stratum_order(strata)
    for block in _sorted_draws(strata, n_boot, seed, block_elements):
        yield order[block]


def _chunk_rows(n_items: int, elements: int = _CHUNK_ELEMENTS) -> int:
    return max(1, elements // max(n_items, 1))


def _spans(n_items: int, n_boot: int, block_elements: int) -> Iterator[tuple[int, int]]:
    """(first row, rows) of the blocks of about ``block_elements`` resampled positions, none across a chunk
    of :func:`_chunk_rows` rows (the unit :func:`_resampled_sums` multiplies by)."""
    chunk = _chunk_rows(n_items)
    block = min(chunk, _chunk_rows(n_items, block_elements))
    for chunk_start in range(0, n_boot, chunk):
        chunk_end = min(chunk_start + chunk, n_boot)
        for start in range(chunk_start, chunk_end, block):
            yield start, min(block, chunk_end - start)


def _stratum_order(strata: np.ndarray) -> np.ndarray:
    return np.argsort(strata, kind="stable")


def _sorted_draws(strata: np.ndarray, n_boot: int, seed: int, block_elements: int) -> Iterator[np.ndarray]:
    """Stratified resamples as positions in :func:`_stratum_order` (see :func:`_index_chunks`), in blocks
    (:func:`_spans`), each a view of one reused buffer: valid until the next block is drawn."""
    _, first, sizes = np.unique(strata[_stratum_order(strata)], return_index=True, return_counts=True)
    size_of, start_of = np.repeat(sizes.astype(float), sizes), np.repeat(first.astype(float), sizes)
    rng, n_items = np.random.default_rng(seed), len(strata)
    u = positions = None
    for _, rows in _spans(n_items, n_boot, block_elements):
        if u is None or len(u) < rows:
            u, positions = np.empty((rows, n_items)), np.empty((rows, n_items), dtype=np.intp)
        rng.random(out=u[:rows])
        u[:rows] *= size_of
        # start + floor(u * size) == floor(start + u * size) for whole starts; the cast to integers
        # truncates, which is floor for these non-negative values
        np.add(u[:rows], start_of, out=positions[:rows], casting="unsafe")
        yield positions[:rows]


def resample_indices(
    y_true: object,
    n_boot: int = 1000,
    seed: int = 0,
    classes: Sequence[object] | None = None,
    groups: object = None,
) -> np.ndarray:
    """The (n_boot, n) matrix of item positions that :func:`bootstrap_distribution` draws for this test set.

    Single-label sets are stratified by true class (:func:`strata_of`), multi-label (2-D) sets not
    (:func:`_index_chunks` gives the formula). Draw it once per test set and pass it as ``indices``
    to every metric and every model scored on the set: all share the resamples (paired comparisons,
    :mod:`voxpop.significance`), and the results equal those of ``seed=seed``. Memory: 8 * n_boot * n
    bytes. Raises ConfigError when ``n_boot`` is below 1.

    With ``groups`` (the speaker of every item; cluster bootstrap) the matrix is (n_boot, G) instead:
    row b holds the codes (:func:`cluster_codes`) of the G speakers drawn with replacement,
    ``default_rng(seed).integers(0, G, (n_boot, G))[b]``; pass it as ``indices`` together with the same
    ``groups``.

    >>> resample_indices(["A", "A", "S"], n_boot=2, seed=0)  # item 2 is the only S: in every resample
    array([[1, 0, 2],
           [0, 1, 2]])
    >>> u = np.random.default_rng(0).random((2, 3))  # the formula: start + floor(u * size) per stratum
    >>> (np.array([0, 0, 2]) + np.floor(u * [2, 2, 1])).astype(int)
    array([[1, 0, 2],
           [0, 1, 2]])
    """
    if n_boot < 1:
        raise ConfigError(f"n_boot must be at least 1, found {n_boot}.")
    if groups is not None:
        n_groups = int(cluster_codes(groups, len(y_true)).max()) + 1
        return np.concatenate(list(_index_chunks(n_groups, n_boot, seed, None)))
    chunks = list(_index_chunks(len(y_true), n_boot, seed, None, strata_of(y_true, classes)))
    return np.concatenate(chunks)


def cluster_codes(groups: object, n_items: int, index: pd.Index | None = None) -> np.ndarray:
    """Cluster (speaker) code of every item, 0..G-1 in order of first appearance, for the cluster bootstrap.

    ``groups``: one speaker per item, in the items' order, or a Series indexed by item id (matched on
    ``index``, the scored items' ids, when given). Raises :class:`InputError` when an item has no
    speaker, the lengths differ, or the set holds fewer than 2 speakers (a cluster bootstrap of one
    speaker has no variation to show).

    >>> cluster_codes(["s2", "s1", "s2"], 3)
    array([0, 1, 0])
    """
    if isinstance(groups, pd.Series) and index is not None:
        missing = index.difference(groups.index)
        if len(missing):
            raise InputError(
                f"speakers: no speaker for {len(missing)} scored items ({_listing(missing)}); the items table "
                "needs a speaker for every test item to resample speakers."
            )
        groups = groups.loc[index]
    series = groups if isinstance(groups, pd.Series) else pd.Series(np.asarray(groups, dtype=object))
    if len(series) != n_items:
        raise InputError(f"speakers: {len(series)} values for {n_items} items; give one speaker per item.")
    if series.isna().any():
        position = int(np.flatnonzero(series.isna().to_numpy())[0])
        label = _item_label(series.index if isinstance(groups, pd.Series) else None, position)
        raise InputError(f"speakers: {label} has no speaker; fill the speaker column or resample items.")
    codes, uniques = pd.factorize(series, sort=False)
    if len(uniques) < 2:
        raise InputError(
            f"speakers: the test set holds {len(uniques)} speaker(s) ({_listing(list(uniques))}); resampling "
            "speakers needs at least 2. Resample items instead (--resample items, evaluation.resample: items)."
        )
    return codes.astype(np.int64)


def resample_groups(items: pd.DataFrame, resample: str, source: str = "the corpus items") -> pd.Series | None:
    """What a bootstrap resamples: None for ``items``, the items' ``speaker`` column (item id -> speaker)
    for ``speakers`` (the cluster bootstrap). ``source`` names the table in errors.

    Raises :class:`ConfigError` for another unit and :class:`InputError` when ``speakers`` is asked and
    ``items`` has no ``speaker`` column (fewer than 2 speakers in a test set is caught where it is scored,
    :func:`cluster_codes`).
    """
    if resample not in RESAMPLE_UNITS:
        raise ConfigError(f"resample {resample!r}: choose one of {', '.join(RESAMPLE_UNITS)}.")
    if resample == "items":
        return None
    if "speaker" not in items.columns:
        raise InputError(
            f"{source} have no 'speaker' column, so speakers cannot be resampled; add the column (item id -> "
            "speaker) to items.parquet, or resample items (--resample items, evaluation.resample: items)."
        )
    return items["speaker"]


def _group_sums(item_stats: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(G, K) sums of the per-item statistics (n, K) over each cluster's items (codes 0..G-1)."""
    sums = np.zeros((int(codes.max()) + 1, item_stats.shape[1]))
    np.add.at(sums, codes, item_stats)
    return sums


def cluster_resamples(groups: object, index: pd.Index, n_boot: int, seed: int) -> list[np.ndarray]:
    """Item positions of each cluster-bootstrap resample of the items ``index`` (one array per resample, the
    items of every drawn speaker): the resamples :func:`bootstrap_distribution` draws with the same
    ``groups`` and ``seed``. ``groups``: a Series item id -> speaker (:func:`cluster_codes`, whose errors it raises).

    >>> np.random.default_rng(0).integers(0, 2, (2, 2))  # speaker codes drawn: s2, s2 then s2, s1
    array([[1, 1],
           [1, 0]])
    >>> [row.tolist() for row in cluster_resamples(pd.Series(["s1", "s1", "s2"], index=list("abc")),
    ...                                            pd.Index(list("abc")), 2, 0)]
    [[2, 2], [2, 0, 1]]
    """
    codes = cluster_codes(groups, len(index), index)
    return list(_cluster_rows(codes, n_boot, seed, None))


def _cluster_rows(codes: np.ndarray, n_boot: int, seed: int, indices: np.ndarray | None) -> Iterator[np.ndarray]:
    """Item positions of each cluster resample: the items of every drawn cluster, in the order drawn."""
    order = np.argsort(codes, kind="stable")
    members = np.split(order, np.cumsum(np.bincount(codes))[:-1])
    for chunk in _index_chunks(len(members), n_boot, seed, indices):
        for row in chunk:
            yield np.concatenate([members[g] for g in row])


def _unique_rows(item_stats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(item_stats, axis=0, return_inverse=True)`` (the same rows in the same order), by one lexsort.

    The rows are sorted lexicographically (first column first) and a new kind starts wherever a row
    differs from the one before; tables with NaN go to ``np.unique`` itself.
    """
    if not item_stats.size or np.isnan(item_stats).any():
        kinds, inverse = np.unique(item_stats, axis=0, return_inverse=True)
        return kinds, inverse.ravel()
    order = np.lexsort(item_stats.T[::-1])
    ranked = item_stats[order]
    new = np.empty(len(ranked), dtype=bool)
    new[0] = True
    np.any(ranked[1:] != ranked[:-1], axis=1, out=new[1:])
    kind_of_item = np.empty(len(ranked), dtype=np.int64)
    kind_of_item[order] = np.cumsum(new) - 1
    return ranked[new], kind_of_item


def _resampled_sums(
    item_stats: np.ndarray,
    n_boot: int,
    seed: int,
    indices: np.ndarray | None,
    strata: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """(n_boot, K) sums of per-item statistics (n, K) over each resample (:func:`_index_chunks`).

    With ``groups`` (:func:`cluster_codes`) a resample draws G clusters with replacement instead
    (``indices``, if given, holds cluster codes): the clusters' sums are the items of a resample, so
    the same code path counts them, and a resample's item count varies (carry it as a column of ones).

    Items with identical statistics are merged into kinds first (single-label: at most C^2 kinds, one
    per true/predicted pair), so a resample costs one gather and one bincount over its indices:
    sums = (resample x kind counts) @ (kind statistics), one product per chunk of :func:`_chunk_rows`
    rows, counted in cache-sized blocks (:func:`_spans`). Stratified draws gather from the kinds in
    stratum order directly (the same resamples as :func:`_index_chunks`, one gather fewer).
    """
    if groups is not None:
        return _resampled_sums(_group_sums(item_stats, groups), n_boot, seed, indices)
    kinds, kind_of_item = _unique_rows(item_stats)
    n_items, n_kinds = item_stats.shape[0], len(kinds)
    if strata is not None and indices is None:
        kind_of_item = kind_of_item[_stratum_order(strata)]
        blocks = _sorted_draws(strata, n_boot, seed, _BLOCK_ELEMENTS)
    else:
        blocks = _index_chunks(n_items, n_boot, seed, indices, strata, _BLOCK_ELEMENTS)
    chunk, n_boot = _chunk_rows(n_items), len(indices) if indices is not None else n_boot
    sums = np.empty((n_boot, item_stats.shape[1]))
    counts = np.empty((min(chunk, n_boot), n_kinds), dtype=np.int64)
    offsets, keys = (np.arange(min(chunk, n_boot)) * n_kinds)[:, None], None
    done = 0  # resamples counted so far
    for block in blocks:
        rows, filled = block.shape[0], done % chunk
        if keys is None or len(keys) < rows:
            keys = np.empty(block.shape, dtype=np.intp)
        np.take(kind_of_item, block, out=keys[:rows], mode="clip")  # "clip": unbuffered; positions are valid
        if rows > 1:
            keys[:rows] += offsets[:rows]  # one bincount per block: resample r counts into bins r * kinds + kind
        counts[filled : filled + rows] = np.bincount(keys[:rows].ravel(), minlength=rows * n_kinds).reshape(rows, -1)
        done += rows
        if done % chunk == 0 or done == n_boot:  # a whole chunk counted: one product, as in any blocking
            start = done - filled - rows
            sums[start:done] = counts[: done - start] @ kinds
    return sums


def _item_contributions(prepared: Prepared) -> np.ndarray:
    """Per item its tp, fp, fn contributions and a 1 (the item count), flattened to (n, 3C + 1) (see
    :class:`Counts`); summed over a resample, the last column is the resample's item count."""
    size = len(prepared.classes)
    if prepared.multilabel:
        t, p = prepared.true, prepared.pred
        parts = (t & p, ~t & p, t & ~p)
    else:
        eye = np.eye(size, dtype=bool)
        true, pred = eye[prepared.true], eye[prepared.pred]
        wrong = (prepared.true != prepared.pred)[:, None]
        parts = (true & ~wrong, pred & wrong, true & wrong)
    return np.concatenate([*parts, np.ones((len(prepared.true), 1), dtype=bool)], axis=1).astype(float)


def _counts_from_sums(sums: np.ndarray, n_classes: int, multilabel: bool) -> Counts:
    """Counts from summed :func:`_item_contributions` (..., 3C + 1): each resample has its own item count."""
    tp, fp, fn = (sums[..., k * n_classes : (k + 1) * n_classes] for k in range(3))
    return Counts(tp, fp, fn, sums[..., 3 * n_classes], multilabel)


def _take(y: object, positions: np.ndarray) -> object:
    return y.iloc[positions] if isinstance(y, pd.Series | pd.DataFrame) else np.asarray(y)[positions]


def bootstrap_distribution(
    metric: str | Callable[[object, object], float],
    y_true: object,
    y_pred: object,
    *,
    classes: Sequence[object] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    indices: np.ndarray | None = None,
    zero_division: float = 0.0,
    groups: object = None,
) -> np.ndarray:
    """The metric on each of ``n_boot`` resamples of the items (drawn with replacement).

    Single-label sets are resampled stratified by true class (:func:`strata_of`; every resample holds
    each class as often as the set does); multi-label sets draw resample b as the items at
    ``default_rng(seed).integers(0, n, (n_boot, n))[b]``. ``indices`` gives the resamples instead
    (the same seed draws the same resamples for every model scored on one test set: paired
    comparisons). A metric name (:func:`score` names or ``"f1[class]"``) is computed vectorised and
    averaged over the classes present in the whole set: a resample's tp/fp/fn are the sums of its
    items' contributions, gathered with one bincount per chunk of resamples. A callable
    ``metric(y_true_sub, y_pred_sub)`` is evaluated in a loop on the same resamples (pandas inputs
    resampled with ``iloc``).

    ``groups`` (one speaker per item, or a Series by item id; :func:`cluster_codes`) switches to the
    cluster bootstrap: a resample draws the set's G speakers with replacement (``integers(0, G, (n_boot,
    G))``, unstratified) and takes all items of every drawn speaker, so its item count varies and
    ``indices`` holds speaker codes (:func:`resample_indices`). With one item per speaker, listed in
    item order, it draws exactly the unstratified item resamples of the same seed.

    >>> dist = bootstrap_distribution("accuracy", [0, 1, 1, 0], [0, 1, 0, 0], indices=np.array([[0, 1, 1, 1]]))
    >>> dist  # resample: items 0, 1, 1, 1 -> all correct
    array([1.])
    >>> bootstrap_distribution("accuracy", [0, 1, 1, 0], [0, 1, 0, 0], indices=np.array([[1, 1]]),
    ...                        groups=["s1", "s1", "s2", "s2"])  # speaker s2 twice: items 2, 3, 2, 3
    array([0.5])
    """
    n_boot = len(indices) if indices is not None else n_boot
    y_true, y_pred = _aligned_pair(y_true, y_pred, classes)
    strata = strata_of(y_true, classes)
    codes = None
    if groups is not None:
        index = y_true.index if isinstance(y_true, pd.Series | pd.DataFrame) else None
        codes, strata = cluster_codes(groups, len(y_true), index), None
    if callable(metric):
        if codes is not None:
            rows = _cluster_rows(codes, n_boot, seed, indices)
        else:
            rows = (row for chunk in _index_chunks(len(y_true), n_boot, seed, indices, strata) for row in chunk)
        return np.array([metric(_take(y_true, row), _take(y_pred, row)) for row in rows])
    prepared = prepare(y_true, y_pred, classes)
    compute = _named_metric(metric, prepared.classes, zero_division, Counts.from_prepared(prepared))
    sums = _resampled_sums(_item_contributions(prepared), n_boot, seed, indices, strata, codes)
    return compute(_counts_from_sums(sums, len(prepared.classes), prepared.multilabel))


def percentile_interval(distribution: np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    """The alpha/2 and 1 - alpha/2 quantiles (linear interpolation) of a bootstrap distribution, NaN ignored.

    >>> percentile_interval(np.arange(101.0), alpha=0.1)
    (5.0, 95.0)
    """
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie in (0, 1), found {alpha}.")
    distribution = np.asarray(distribution, dtype=float)
    if np.isnan(distribution).all():
        return (np.nan, np.nan)
    low, high = np.nanquantile(distribution, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def bootstrap_ci(
    metric: str | Callable[[object, object], float],
    y_true: object,
    y_pred: object,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    *,
    classes: Sequence[object] | None = None,
    indices: np.ndarray | None = None,
    zero_division: float = 0.0,
    groups: object = None,
) -> CI:
    """Point estimate on all items and percentile bootstrap interval (see :func:`bootstrap_distribution`;
    ``groups``: the speaker of every item, for the cluster bootstrap).

    >>> y = np.array([0, 1, 2] * 50); p = np.where(np.arange(150) % 5 == 0, 0, y)
    >>> ci = bootstrap_ci("macro_f1", y, p, n_boot=200)
    >>> round(ci.value, 4), ci.low < ci.value < ci.high  # F1 = (100/120, 80/90, 80/90)
    (0.8704, True)
    """
    if n_boot < 1 and indices is None:
        raise ConfigError(f"n_boot must be at least 1, found {n_boot}.")
    if callable(metric):
        value = float(metric(*_aligned_pair(y_true, y_pred, classes)))
    else:
        value = _point(metric, y_true, y_pred, classes, zero_division)
    distribution = bootstrap_distribution(
        metric,
        y_true,
        y_pred,
        classes=classes,
        n_boot=n_boot,
        seed=seed,
        indices=indices,
        zero_division=zero_division,
        groups=groups,
    )
    return CI(value, *percentile_interval(distribution, alpha))


def class_mean_ci(values: object, alpha: float = 0.05) -> CI:
    """Mean over classes with a Student-t interval: mean +- t_{1-alpha/2, C-1} * s / sqrt(C).

    For studies that report per-class scores as mean +- 95 % CI over classes. NaN values are an error
    (a class without a score must be resolved, not silently skipped).

    >>> class_mean_ci([0.5, 0.6, 0.7])  # s = 0.1, t_{0.975, 2} = 4.3027
    CI(value=0.6, low=0.3515..., high=0.8484...)
    """
    from scipy import stats  # here, not at import: 'voxpop --help' must not load scipy

    array = np.asarray(values, dtype=float)
    if np.isnan(array).any() or array.size < 2:
        raise InputError(f"class_mean_ci needs at least two scores and no NaN; found {array.tolist()}.")
    mean = float(array.mean())
    half = float(stats.t.ppf(1 - alpha / 2, array.size - 1) * array.std(ddof=1) / np.sqrt(array.size))
    return CI(mean, mean - half, mean + half)


# --------------------------------------------------------------------------------------------------
# One table of results


def evaluate(
    y_true: object,
    y_pred: object,
    *,
    classes: Sequence[object] | None = None,
    metrics: Sequence[str] | None = None,
    per_class: bool = True,
    target: object = None,
    probabilities: object = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    zero_division: float = 0.0,
    indices: np.ndarray | None = None,
    groups: object = None,
) -> pd.DataFrame:
    """A tidy table (metric, value, low, high, absent_classes) for a single-label or multi-label prediction set.

    ``metrics`` defaults to :data:`SINGLE_LABEL_METRICS` or :data:`MULTI_LABEL_METRICS`; ``per_class`` adds
    ``f1[<class>]``, ``weighted_f1[<class>]`` and ``mcc[<class>]`` rows (:data:`REPORTED_PER_CLASS`; the
    last two score each class's binary task, :func:`per_class_scores`); ``target`` and ``probabilities``
    (items x classes distributions) add ``kld`` (default eps) and ``jsd`` rows. All rows share the bootstrap
    resamples of :func:`bootstrap_distribution` with the same seed (``n_boot=0``: no interval), or the rows
    of ``indices`` when given (:func:`resample_indices`: one matrix per test set for every model scored on
    it). Macro averages run over the classes present in this set (module docstring); ``absent_classes``
    names, comma-separated, the classes of ``classes`` without a true item (multi-label: without a
    positive); a per-class row of a class neither true nor predicted is NaN (undefined, not 0). ``groups``
    (the speaker of every item, a Series by item id or a sequence in item order) switches to the cluster
    bootstrap (:func:`bootstrap_distribution`): each resample's KLD / JSD mean divides by that resample's
    own item count.

    >>> table = evaluate(["A", "A", "S", "S"], ["A", "S", "S", "S"], classes=["A", "S", "N"], metrics=["uar"],
    ...                  n_boot=0)
    >>> table
               metric     value  low  high absent_classes
    0             uar  0.750000  NaN   NaN              N
    1           f1[A]  0.666667  NaN   NaN              N
    2           f1[S]  0.800000  NaN   NaN              N
    3           f1[N]       NaN  NaN   NaN              N
    4  weighted_f1[A]  0.733333  NaN   NaN              N
    5  weighted_f1[S]  0.733333  NaN   NaN              N
    6  weighted_f1[N]       NaN  NaN   NaN              N
    7          mcc[A]  0.577350  NaN   NaN              N
    8          mcc[S]  0.577350  NaN   NaN              N
    9          mcc[N]       NaN  NaN   NaN              N
    """
    prepared = prepare(y_true, y_pred, classes)
    whole = Counts.from_prepared(prepared)
    names = list(metrics or (MULTI_LABEL_METRICS if prepared.multilabel else SINGLE_LABEL_METRICS))
    if per_class:
        names += [f"{kind}[{c}]" for kind in REPORTED_PER_CLASS for c in prepared.classes]
    functions = [_named_metric(name, prepared.classes, zero_division, whole) for name in names]
    n_items, n_classes = len(prepared.true), len(prepared.classes)
    stats_columns = [_item_contributions(prepared)]
    if (target is None) != (probabilities is None):
        raise ConfigError("give both target and probabilities for kld / jsd, or neither.")
    if target is not None:
        if prepared.index is not None and isinstance(target, pd.DataFrame) and isinstance(probabilities, pd.DataFrame):
            aligned = align_tables(
                {"labels": pd.Series(0, index=prepared.index), "target": target, "probabilities": probabilities}
            )
            target, probabilities = aligned["target"], aligned["probabilities"]
        per_item = np.column_stack([kld_items(target, probabilities), jsd_items(target, probabilities)])
        if len(per_item) != n_items:
            raise InputError(f"target / probabilities have {len(per_item)} items but the labels {n_items}.")
        stats_columns.append(per_item)
        names += ["kld", "jsd"]
    item_stats = np.concatenate(stats_columns, axis=1)

    def compute(sums: np.ndarray) -> list[np.ndarray]:
        counts = _counts_from_sums(sums[..., : 3 * n_classes + 1], n_classes, prepared.multilabel)
        values = [f(counts) for f in functions]
        if target is not None:
            values += [sums[..., 3 * n_classes + 1] / counts.n, sums[..., 3 * n_classes + 2] / counts.n]
        return values

    point = compute(item_stats.sum(axis=0))
    if n_boot > 0 or indices is not None:
        strata = None if prepared.multilabel else prepared.true
        codes = None if groups is None else cluster_codes(groups, n_items, prepared.index)
        strata = strata if codes is None else None
        resampled = compute(_resampled_sums(item_stats, n_boot, seed, indices, strata, codes))
        bounds = [percentile_interval(d, alpha) for d in resampled]
    else:
        bounds = [(np.nan, np.nan)] * len(names)
    table = pd.DataFrame(
        {
            "metric": names,
            "value": np.array(point, dtype=float),
            "low": [b[0] for b in bounds],
            "high": [b[1] for b in bounds],
            "absent_classes": absent_classes(whole, prepared.classes),
        }
    )
    seen = whole.tp + whole.fp + whole.fn > 0
    undefined = [f"{kind}[{c}]" for kind in REPORTED_PER_CLASS
                 for c, in_set in zip(prepared.classes, seen, strict=True) if not in_set]  # fmt: skip
    table.loc[table["metric"].isin(undefined), ["value", "low", "high"]] = np.nan
    return table


def absent_classes(counts: Counts, classes: Sequence[object]) -> str:
    """Comma-separated names of the classes without a true item (multi-label: without a positive) in ``counts``.

    >>> absent_classes(Counts.from_codes(np.array([0, 0, 2]), np.array([0, 1, 2]), 4), ["A", "H", "N", "S"])
    'H, S'
    """
    return ", ".join(str(c) for c, seen in zip(classes, counts.tp + counts.fn > 0, strict=True) if not seen)
