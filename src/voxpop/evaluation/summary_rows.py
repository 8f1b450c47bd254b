"""Published summary rows: the mean over emotions (or rater pairs, or classes) with a Student-t 95 % interval.

Papers on per-rater re-annotation report agreement and per-class results as the mean over the
per-emotion values with a Student-t interval, written ``.21 ± .11`` (mean ± half-width,
half-width = t_{0.975, n-1} * s / sqrt(n), s the sample sd, ddof 1). This module computes that row
once (:func:`mean_interval`, :func:`format_mean_pm`) for the agreement table (:func:`agreement_summary_rows`)
and the results tables of the study report.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

import numpy as np
import pandas as pd

from voxpop.core.formatting import MISSING, PER_CLASS_NAMES
from voxpop.evaluation.resampling import class_mean_ci

SUMMARY_PREFIX = "mean over "
"""Label of an agreement summary row (``mean over 6 emotions``); ``pair`` ``mean of pairs`` where it averages
the per-emotion means of rater pairs."""

_NOUNS = {"intensity": "emotions", "dimension": "dimensions"}


class MeanInterval(NamedTuple):
    """A mean with its Student-t half-width over ``n`` values (``left_out``: NaN values not used)."""

    mean: float
    half: float
    n: int
    left_out: int = 0

    @property
    def low(self) -> float:
        return self.mean - self.half

    @property
    def high(self) -> float:
        return self.mean + self.half


def mean_interval(values: object, alpha: float = 0.05) -> MeanInterval:
    """Mean of ``values`` with its Student-t (1 - alpha) half-width; NaN values are left out and counted.

    Args:
        values: 1-D numbers (one per emotion, rater pair or class); NaN marks an undefined value.
        alpha: 0.05 for a 95 % interval.

    Returns:
        :class:`MeanInterval`; ``half`` is NaN with fewer than two defined values, ``mean`` NaN with none.

    Example:
        >>> m = mean_interval([0.1, 0.2, 0.3, float("nan")])  # s = 0.1, t_{0.975, 2} = 4.3027
        >>> round(m.mean, 4), round(m.half, 4), m.n, m.left_out
        (0.2, 0.2484, 3, 1)
    """
    array = np.asarray(values, dtype=float).ravel()
    defined = array[~np.isnan(array)]
    left_out = int(array.size - defined.size)
    if defined.size == 0:
        return MeanInterval(math.nan, math.nan, 0, left_out)
    if defined.size == 1:
        return MeanInterval(float(defined[0]), math.nan, 1, left_out)
    ci = class_mean_ci(defined, alpha)
    return MeanInterval(ci.value, ci.high - ci.value, int(defined.size), left_out)


def _short(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    return text.replace("0.", ".", 1) if text.lstrip("-").startswith("0.") else text


def format_mean_pm(mean: float, half: float = math.nan, digits: int = 2) -> str:
    """``mean ± half`` as papers print it, without the leading zero: ``.21 ± .11``; just the mean without a
    half-width, :data:`~voxpop.core.formatting.MISSING` without a mean.

    >>> format_mean_pm(0.2134, 0.1051), format_mean_pm(-0.05, 0.2), format_mean_pm(1.5, 0.25, 3)
    ('.21 ± .11', '-.05 ± .20', '1.500 ± .250')
    >>> format_mean_pm(0.4), format_mean_pm(float("nan"))
    ('.40', '–')
    """
    if pd.isna(mean):
        return MISSING
    text = _short(mean, digits)
    return text if pd.isna(half) else f"{text} ± {_short(half, digits)}"


def is_summary(table: pd.DataFrame) -> pd.Series:
    """Which rows of an agreement table are summary rows: means over labels (``mean over ...``) or over rater
    pairs (``pair`` ``mean of ...``), each with its Student-t interval in ``ci_low`` / ``ci_high``."""
    def starts(column: str, prefix: str) -> pd.Series:
        if column not in table.columns:
            return pd.Series(False, index=table.index)
        return table[column].astype("string").fillna("").str.startswith(prefix)

    return (starts("label", SUMMARY_PREFIX) | starts("pair", "mean of")).astype(bool)


def summary_cells(table: pd.DataFrame) -> pd.Series:
    """The published cell ``.21 ± .11`` of each summary row of an agreement table (:func:`is_summary`; the
    half-width from ``ci_low`` / ``ci_high``), NaN for the other rows.

    >>> t = pd.DataFrame({"label": ["sad", "mean over 2 emotions"], "pair": None, "value": [0.3, 0.2],
    ...                   "ci_low": [0.1, 0.1], "ci_high": [0.5, 0.3]})
    >>> summary_cells(t).tolist()
    [nan, '.20 ± .10']
    """
    half = (table["ci_high"] - table["ci_low"]) / 2 if "ci_low" in table.columns else pd.Series(np.nan, table.index)
    cells = [format_mean_pm(v, h) for v, h in zip(table["value"], half, strict=True)]
    return pd.Series(cells, index=table.index, dtype=object).where(is_summary(table), np.nan)


def agreement_summary_rows(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (:func:`voxpop.agreement.tables.agreement_table`) with a summary row after each block of labels.

    For every item group, condition, statistic and method with per-label values for two or more labels
    (emotions, dimensions), a row ``label`` = ``mean over N emotions``: ``value`` the mean over the labels,
    ``ci_low`` / ``ci_high`` its Student-t 95 % interval (:func:`mean_interval`; over labels, not items),
    ``note`` the published form ``.21 ± .11`` and the labels left out as undefined. For rater-pair
    statistics (Pearson r, CCC) the row averages the per-label means over pairs (``pair`` ``mean of pairs``).
    Categorical slots (one row per condition, no label) get none.

    Example:
        >>> t = pd.DataFrame({"group": "all", "condition": "", "slot": "intensity", "label": ["a", "b", "c"],
        ...                   "statistic": "alpha", "level": "interval", "method": "", "pair": None,
        ...                   "value": [0.1, 0.2, 0.3], "note": ""})
        >>> row = agreement_summary_rows(t).iloc[-1]
        >>> row["label"], round(float(row["value"]), 3), row["note"]
        ('mean over 3 emotions', 0.2, '.20 ± .25 (mean ± Student-t 95 % half-width over 3 emotions)')
    """
    pair = table["pair"].astype("string").fillna("")
    usable = table["label"].astype("string").fillna("").ne("") & (pair.eq("") | pair.str.startswith("mean of"))
    keys = ["group", "condition", "slot", "statistic", "method"]
    blocks = []
    for _, block in table.groupby(["group", "condition"], sort=False):
        blocks.append(block)
        rows = block[usable.loc[block.index].to_numpy()]
        summaries = [_summary_row(part) for _, part in rows.groupby(keys, sort=False, dropna=False)
                     if part["label"].nunique() >= 2]  # fmt: skip
        if summaries:
            blocks.append(pd.DataFrame(summaries, columns=table.columns))
    out = pd.concat(blocks, ignore_index=True) if blocks else table
    return out.astype(table.dtypes.to_dict())


def _summary_row(part: pd.DataFrame) -> dict:
    first = part.iloc[0]
    noun = _NOUNS.get(str(first["slot"]), "labels")
    summary = mean_interval(part["value"].to_numpy(dtype=float, na_value=np.nan))
    note = f"{format_mean_pm(summary.mean, summary.half)} (mean ± Student-t 95 % half-width over {summary.n} {noun})"
    if summary.left_out:
        note += f"; {summary.left_out} undefined left out"
    is_pairs = str(first["pair"] or "").startswith("mean of")
    return {
        **{c: first[c] for c in ("group", "condition", "slot", "statistic", "level", "method")},
        "label": f"{SUMMARY_PREFIX}{part['label'].nunique()} {noun}",
        "pair": "mean of pairs" if is_pairs else None,
        "value": summary.mean,
        "ci_low": summary.low,
        "ci_high": summary.high,
        "note": note,
    }


# ---------------------------------------------------------------------------------------- results tables
_FAMILY = re.compile(r"^([a-z_0-9]+)\[(.+)\]$")



def per_class_family(metric: str) -> str | None:
    """The per-class metric family of a result metric name (``f1[anger]`` -> ``f1``), None for an overall one.

    >>> per_class_family("f1[anger]"), per_class_family("recall[sad]"), per_class_family("uar")
    ('f1', 'recall', None)
    """
    match = _FAMILY.match(metric)
    return match.group(1) if match else None


def class_families(metrics: list[str]) -> dict[str, list[str]]:
    """Per-class metric names by family, families with two or more classes only (a mean needs two).

    >>> class_families(["uar", "f1[a]", "f1[b]", "mcc[a]"])
    {'f1': ['f1[a]', 'f1[b]']}
    """
    families: dict[str, list[str]] = {}
    for metric in metrics:
        family = per_class_family(metric)
        if family is not None:
            families.setdefault(family, []).append(metric)
    return {family: names for family, names in families.items() if len(names) >= 2}


def class_mean_text(values: object) -> str:
    """The published mean over classes ``.21 ± .11`` of per-class values; :data:`~voxpop.core.formatting.MISSING`
    when a class has no value (a class without a score must be resolved, not averaged away).

    >>> class_mean_text([0.5, 0.6, 0.7]), class_mean_text([0.5, float("nan")])
    ('.60 ± .25', '–')
    """
    array = np.asarray(values, dtype=float)
    if np.isnan(array).any() or array.size < 2:
        return MISSING
    summary = mean_interval(array)
    return format_mean_pm(summary.mean, summary.half)


def class_mean_name(family: str) -> str:
    """The column or row name of a family's mean over classes: ``mean F1 over classes ± 95 % t``."""
    return f"mean {PER_CLASS_NAMES.get(family, family)} over classes ± 95 % t"


def class_mean_columns(
    rows: pd.DataFrame, per_class: list[str], keys: list[str]
) -> dict[str, tuple[list[str], pd.Series]]:
    """For each per-class metric family in ``per_class`` with two or more classes, its mean over classes as text.

    Args:
        rows: tidy results (columns ``keys``, ``metric``, ``value``).
        per_class: per-class metric names, e.g. ``["f1[anger]", "f1[sad]", "mcc[anger]", "mcc[sad]"]``.
        keys: the columns that name one result row (model, train set, test set, ...).

    Returns:
        ``{column name (:func:`class_mean_name`): (the family's metric names, text per row of keys)}``; a
        cell is :func:`class_mean_text` of the row's per-class values.
    """
    columns = {}
    for family, names in class_families(per_class).items():
        values = rows[rows["metric"].isin(names)].pivot_table(
            index=keys, columns="metric", values="value", aggfunc="first", sort=False, dropna=False
        )
        cells = values.reindex(columns=names).apply(lambda row: class_mean_text(row.to_numpy(dtype=float)), axis=1)
        columns[class_mean_name(family)] = (names, cells)
    return columns


def class_mean_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Summary rows of one metric table (:func:`voxpop.evaluation.scoring.evaluate`: ``metric``, ``value``, optionally
    ``chance``): per per-class family, metric :func:`class_mean_name`, the mean over classes in ``value``, its
    Student-t 95 % interval over classes in ``low`` / ``high`` (NaN when a class has no value), the published
    ``text`` and the mean of the classes' chance levels in ``chance``.

    >>> t = pd.DataFrame({"metric": ["uar", "f1[a]", "f1[b]", "f1[c]"], "value": [0.5, 0.5, 0.6, 0.7]})
    >>> class_mean_rows(t)[["metric", "text"]].values.tolist()
    [['mean F1 over classes ± 95 % t', '.60 ± .25']]
    """
    rows = []
    values = table.set_index("metric")
    for family, names in class_families(list(table["metric"])).items():
        per_class = values.loc[names, "value"].to_numpy(dtype=float)
        text = class_mean_text(per_class)
        summary = mean_interval(per_class) if text != MISSING else MeanInterval(math.nan, math.nan, 0)
        chance = values.loc[names, "chance"].mean(skipna=False) if "chance" in values.columns else math.nan
        rows.append({"metric": class_mean_name(family), "value": summary.mean, "low": summary.low,
                     "high": summary.high, "text": text, "chance": chance})  # fmt: skip
    return pd.DataFrame(rows, columns=["metric", "value", "low", "high", "text", "chance"])
