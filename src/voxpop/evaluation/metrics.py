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
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError
from voxpop.core.formatting import excerpt, excerpts

SINGLE_LABEL_METRICS = ("accuracy", "uar", "macro_f1", "micro_f1", "weighted_f1", "mcc")
"""The whole-test-set metrics of a single-label task (METHODS.md section 6), as :func:`evaluate` names them."""


MULTI_LABEL_METRICS = ("macro_f1", "micro_f1", "weighted_f1", "mcc")
"""The metrics of a multi-label task, on the binarised items x classes matrices (METHODS.md section 6)."""


PER_CLASS_METRICS = ("precision", "recall", "f1")


CLASS_TASK_METRICS = ("weighted_f1", "mcc")
"""Per-class metrics of each class's own binary task (the class against the rest), as published per emotion:
``weighted_f1[c]`` (F1 of both sides weighted by their support) and ``mcc[c]``."""


REPORTED_PER_CLASS = ("f1", *CLASS_TASK_METRICS)
"""The per-class metrics :func:`evaluate` adds with ``per_class=True``."""


_MAX_LISTED = 5


_PER_CLASS_NAME = re.compile(r"^(precision|recall|f1|weighted_f1|mcc)\[(.+)\]$")


def _listing(values: Sequence[object]) -> str:
    shown = ", ".join(excerpt(v) if isinstance(v, str) else repr(v) for v in list(values)[:_MAX_LISTED])
    more = len(values) - _MAX_LISTED
    return shown + (f" ... ({more} more)" if more > 0 else "")


def _item_label(index: pd.Index | None, position: int) -> str:
    return f"item {excerpt(index[position])}" if index is not None else f"position {position}"


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
                    f"{name}: class columns differ from {list(classes)}: missing {excerpts(missing_c)}, extra "
                    f"{excerpts(extra_c)}; "
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

    Args:
        y_true: the true class per item (labels or codes), or an items x classes 0/1 matrix (multi-label).
        y_pred: the predicted ones, in the same form and item order.
        classes: the classes in order (default: those present, sorted).

    Returns:
        Accuracy in [0, 1].

    Raises:
        InputError: ``y_true`` and ``y_pred`` differ in length or class count, or ``classes`` does not fit.

    Example:
        >>> accuracy(["A", "A", "S"], ["A", "S", "S"], classes=["A", "S"])
        0.666...
    """
    return _point("accuracy", y_true, y_pred, classes, 0.0)


def uar(y_true: object, y_pred: object, classes: Sequence[object] | None = None, zero_division: float = 0.0) -> float:
    """Unweighted average recall: mean of tp_c / (tp_c + fn_c) over the classes present in ``y_true``.

    Equals scikit-learn's ``recall_score(y_true, y_pred, average='macro', labels=<classes in y_true>)``;
    a class absent from the truth (e.g. from a subgroup) is left out instead of counting as 0.

    Args:
        y_true: the true class per item (labels or codes), or an items x classes 0/1 matrix (multi-label).
        y_pred: the predicted ones, in the same form and item order.
        classes: the classes in order (default: those present, sorted).
        zero_division: the value of a class's ratio whose denominator is 0.

    Returns:
        UAR in [0, 1].

    Raises:
        InputError: ``y_true`` and ``y_pred`` differ in length or class count, or ``classes`` does not fit.

    Example:
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

    Args:
        y_true: the true class per item (labels or codes), or an items x classes 0/1 matrix (multi-label).
        y_pred: the predicted ones, in the same form and item order.
        classes: the classes in order (default: those present, sorted).
        zero_division: the value of a class's ratio whose denominator is 0.

    Returns:
        Macro-F1 in [0, 1].

    Raises:
        InputError: ``y_true`` and ``y_pred`` differ in length or class count, or ``classes`` does not fit.

    Example:
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

    Args:
        y_true: the true class per item (labels or codes), or an items x classes 0/1 matrix (multi-label).
        y_pred: the predicted ones, in the same form and item order.
        classes: the classes in order (default: those present, sorted).

    Returns:
        A classes x classes DataFrame of counts (index ``true``, columns ``pred``).

    Raises:
        ConfigError: multi-label input.
        InputError: as :func:`accuracy`.

    Example:
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
