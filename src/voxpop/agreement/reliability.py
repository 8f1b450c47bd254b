"""Krippendorff's alpha (METHODS.md section 3): reliability matrices, value counts, coincidence matrices and
alpha at the nominal, ordinal, interval and ratio levels, with a bootstrap interval over items.

Source: Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability"; checked against the
``krippendorff`` package.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError, VoxpopError, option
from voxpop.core.limits import check_ceiling
from voxpop.corpus.slots import VALUES_OPTION
from voxpop.evaluation.resampling import CI

Level = Literal["nominal", "ordinal", "interval", "ratio"]


LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")
"""Krippendorff's levels of measurement, each with its difference function d_ck (Krippendorff 2011)."""


_BOOT_CELLS = 4_000_000  # float cells of resample x item-group weights held at once (32 MB)


_DRAW_CELLS = 4_000_000  # item indices drawn at once when resampling items one by one (32 MB)


# =============================================================================== inputs from long ratings
def _require_raters(rows: pd.DataFrame, what: str) -> None:
    missing = int(rows["rater"].isna().sum())
    if missing:
        raise VoxpopError(
            f"{what} needs rater ids, but {missing} of {len(rows)} ratings have no rater (vote counts only). "
            "Use a statistic that works on counts (Krippendorff's alpha from value_counts, Fleiss' kappa) "
            "or import per-rater responses."
        )


def _select(ratings: pd.DataFrame, slot: str, label: str | None) -> pd.DataFrame:
    rows = ratings[ratings["slot"].eq(slot).fillna(False).to_numpy(dtype=bool)]
    if label is not None:
        rows = rows[rows["label"].eq(label).fillna(False).to_numpy(dtype=bool)]
    if rows.empty:
        slots = ", ".join(sorted(map(str, ratings["slot"].dropna().unique())))
        what = f"slot {slot!r}" + ("" if label is None else f", label {label!r}")
        raise VoxpopError(f"no ratings with {what}; the ratings hold slots: {slots or '(none)'}")
    return rows


def reliability_matrix(
    ratings: pd.DataFrame, slot: str, label: str | None = None, value_column: str | None = None
) -> pd.DataFrame:
    """Raters x items table of one slot's judgements (NaN = not rated), the input of rater statistics.

    ``label`` picks one scale of an intensity slot (the value given to one emotion); without it the
    cells hold the chosen labels (categorical slots). ``value_column`` defaults to ``"value"`` when a
    label is given, else ``"label"``. Needs rater ids; a rater judging an item twice (e.g. in two
    conditions) is an error: filter the ratings to one condition first.

    >>> ratings = pd.DataFrame({"item": ["a", "a", "b"], "rater": ["r1", "r2", "r1"],
    ...                         "slot": "intensity", "label": "sad", "value": [0.0, 2.0, 1.0]})
    >>> reliability_matrix(ratings, "intensity", "sad")
    item     a    b
    rater
    r1     0.0  1.0
    r2     2.0  NaN
    """
    rows = _select(ratings, slot, label)
    column = value_column or ("value" if label is not None else "label")
    _require_raters(rows, f"a rater x item matrix of slot {slot!r}")
    twice = rows.duplicated(["rater", "item"], keep=False)
    if twice.any():
        first = rows[twice.to_numpy()].iloc[0]
        raise VoxpopError(
            f"rater {first['rater']!r} judged item {first['item']!r} more than once in slot {slot!r}"
            + ("" if label is None else f", label {label!r}")
            + f" ({int(twice.sum())} such ratings); restrict the ratings to one condition (e.g. --condition)"
        )
    table = rows.pivot(index="rater", columns="item", values=column)
    return table.rename_axis(index="rater", columns="item")


def value_counts(ratings: pd.DataFrame, classes: Sequence[object] | None = None, column: str = "label") -> pd.DataFrame:
    """Items x values table of how many ratings chose each value: all Krippendorff's alpha and Fleiss'
    kappa need, and all that count-only sources (vote tables) provide.

    ``classes`` gives the values and their order (default: the sorted values present); a value
    outside ``classes`` is an error, never dropped. ``column="value"`` counts scale values instead.

    >>> ratings = pd.DataFrame({"item": ["a", "a", "a", "b", "b"], "label": ["N", "N", "S", "S", "S"]})
    >>> value_counts(ratings, ["N", "S", "H"])
    label  N  S  H
    item
    a      2  1  0
    b      0  2  0
    """
    values = ratings[column]
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise InputError(
            f"{int(values.isna().sum())} ratings have no {column!r} (first: item {ratings['item'].iat[row]!r}); "
            f"every counted rating needs a {column}"
        )
    domain = pd.Index(sorted(values.unique()) if classes is None else list(classes))
    coded = isinstance(values.dtype, pd.CategoricalDtype)  # a corpus's columns: map the categories, not each rating
    codes = (
        domain.get_indexer(values.cat.categories)[values.cat.codes.to_numpy()] if coded else domain.get_indexer(values)
    )
    if (codes < 0).any():
        unknown = values[codes < 0].astype(object).value_counts()
        listed = ", ".join(f"{value!r} ({count})" for value, count in unknown.head(10).items())
        raise InputError(
            f"column {column!r} holds values outside the given classes {list(domain)}: {listed}; "
            "add them to classes or filter those ratings out first"
        )
    item_codes, items = _factorize(ratings["item"])
    flat = np.bincount(item_codes * len(domain) + codes, minlength=len(items) * len(domain))
    return pd.DataFrame(
        flat.reshape(len(items), len(domain)),
        index=pd.Index(items, name="item"),
        columns=domain.rename(column),
    )


def _factorize(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize`` (codes in order of first appearance, the distinct values as text), through the integer
    codes of a category column."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return pd.factorize(values)
    codes, first = pd.factorize(values.cat.codes.to_numpy())
    return codes, pd.Index(values.cat.categories.take(first), dtype=values.cat.categories.dtype)


# =============================================================================== Krippendorff's alpha
def _as_counts(data, kind: str, values: Sequence[object] | None) -> tuple[np.ndarray, np.ndarray]:
    """(items x values count array, value domain) from a reliability matrix or a value-count matrix."""
    if kind == "counts":
        counts = np.asarray(data, dtype=float)
        if counts.ndim != 2:
            raise InputError(f"value counts must be a 2-D items x values table, got shape {counts.shape}")
        if values is None:
            values = data.columns if isinstance(data, pd.DataFrame) else np.arange(counts.shape[1])
        domain = np.asarray(list(values), dtype=object)
        if len(domain) != counts.shape[1]:
            raise InputError(f"{len(domain)} values given for a value-count table with {counts.shape[1]} columns")
        if not np.isfinite(counts).all() or (counts < 0).any():
            raise InputError("value counts must be finite and non-negative")
        return counts, domain
    if kind != "reliability":
        raise ConfigError(f"kind must be 'reliability' or 'counts', got {kind!r}")
    table = np.asarray(data.to_numpy() if isinstance(data, pd.DataFrame) else data, dtype=object)
    if table.ndim != 2:
        raise InputError(f"a reliability matrix must be 2-D (raters x items), got shape {table.shape}")
    present = ~pd.isna(table)
    observed = pd.unique(table[present])
    if values is None:
        try:
            domain = np.asarray(sorted(observed), dtype=object)
        except TypeError as exc:
            raise InputError(f"cannot order the values {list(observed)[:10]}; pass values=") from exc
    else:
        domain = np.asarray(list(values), dtype=object)
        outside = [v for v in observed if v not in set(domain)]
        if outside:
            raise InputError(f"reliability matrix holds values {outside[:10]} outside values={list(domain)}")
    counts = np.stack([((table == value) & present).sum(axis=0) for value in domain], axis=1).astype(float)
    return counts.reshape(table.shape[1], len(domain)), domain


def _distance(level: str, domain: np.ndarray, n_v: np.ndarray) -> np.ndarray:
    """d_ck for the level; ``n_v`` (..., V) are coincidence marginals (used by ordinal only)."""
    if level == "nominal":
        return 1.0 - np.eye(len(domain))
    if level == "ordinal":
        ranks = np.cumsum(n_v, axis=-1) - n_v / 2.0
        return (ranks[..., :, None] - ranks[..., None, :]) ** 2
    try:
        x = domain.astype(float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{level} alpha needs numeric values, got {list(domain)[:10]}; use {option('level', 'nominal')} or ordinal"
        ) from exc
    diff = x[:, None] - x[None, :]
    if level == "interval":
        return diff**2
    if level == "ratio":
        if (x < 0).any():  # (c - k) / (c + k) has no meaning there: -2 and 2 would count as agreeing
            negative = [float(v) for v in x[x < 0][:10]]
            raise ConfigError(
                f"ratio alpha needs values on a scale with a true zero (>= 0), got {negative}; use "
                f"{option('level', 'interval')}, or (a label slot) number its labels from 0 up with {VALUES_OPTION}"
            )
        total = x[:, None] + x[None, :]
        return np.divide(diff, total, out=np.zeros_like(diff), where=total != 0) ** 2
    raise ConfigError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")


def _pairable(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows with at least two values and their weights 1 / (m_u - 1)."""
    m = counts.sum(axis=1)
    keep = m >= 2
    return counts[keep], 1.0 / (m[keep] - 1.0)


def _coincidences(counts: np.ndarray) -> np.ndarray:
    """The coincidence matrix (V, V) of an items x values count array."""
    pairable, weights = _pairable(counts)
    weighted = pairable * weights[:, None]
    return weighted.T @ pairable - np.diag(weighted.sum(axis=0))


def _unit_coincidences(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-item coincidence matrices (K, V, V): (n_u n_u^T - diag n_u) / (m_u - 1)."""
    outer = counts[:, :, None] * counts[:, None, :]
    outer[:, np.arange(counts.shape[1]), np.arange(counts.shape[1])] -= counts
    return outer * weights[:, None, None]


def _alpha_from_coincidences(o: np.ndarray, level: str, domain: np.ndarray) -> np.ndarray:
    """Alpha from coincidence matrices (..., V, V); NaN where the expected disagreement is zero."""
    n_v = o.sum(axis=-1)
    n = n_v.sum(axis=-1)
    d = _distance(level, domain, n_v)
    observed = (o * d).sum(axis=(-2, -1))
    expected = np.einsum("...c,...k,...ck->...", n_v, n_v, np.broadcast_to(d, o.shape)) / np.maximum(n - 1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(expected > 0, 1.0 - observed / np.where(expected > 0, expected, 1.0), np.nan)


def coincidence_matrix(data, *, kind: str = "reliability", values: Sequence[object] | None = None) -> pd.DataFrame:
    """Krippendorff's coincidence matrix o_ck = sum_u (n_uc n_uk - [c = k] n_uc) / (m_u - 1).

    >>> coincidence_matrix([[1, 1, 2], [1, 2, 2]])  # 2 raters x 3 items
    value    1    2
    value
    1      2.0  1.0
    2      1.0  2.0
    """
    counts, domain = _as_counts(data, kind, values)
    index = pd.Index(domain, name="value")
    return pd.DataFrame(_coincidences(counts), index=index, columns=index)


def krippendorff_alpha(
    data,
    level: Level = "nominal",
    *,
    kind: Literal["reliability", "counts"] = "reliability",
    values: Sequence[object] | None = None,
) -> float:
    """Krippendorff's alpha = 1 - D_o / D_e at a level of measurement (module docstring has the formula).

    Krippendorff (2011), "Computing Krippendorff's alpha-reliability"; METHODS.md section 3.

    Args:
        data: a reliability matrix (raters x items, NaN = missing; ``kind="reliability"``) or a value-count
            matrix (items x values, e.g. from :func:`value_counts`; ``kind="counts"``).
        level: a level of :data:`LEVELS` (the difference function d_ck).
        kind: ``"reliability"`` or ``"counts"``: how ``data`` is laid out.
        values: the value domain and its order (default: the sorted values present, or the count table's
            columns); ordinal distances follow this order.

    Returns:
        Alpha, at most 1 (1: perfect agreement, 0: agreement at chance, below 0: systematic disagreement); NaN
        when no item has two ratings or all pairable values agree on a single value (D_e = 0).

    Raises:
        InputError: ``data`` is not 2-D, holds negative or non-finite counts, values outside ``values``, or
            values that cannot be ordered.
        ConfigError: another ``kind``.

    Example:
        Krippendorff's (2011) reliability data, 4 observers x 12 units with missing values:

        >>> nan = float("nan")
        >>> data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        ...         [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        ...         [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        ...         [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]]
        >>> [round(krippendorff_alpha(data, level), 3) for level in LEVELS]
        [0.743, 0.815, 0.849, 0.797]
        >>> counts = [[3, 0], [1, 2], [0, 2]]  # items x values (count-only data)
        >>> krippendorff_alpha(counts, kind="counts")  # o = [[3, 1], [1, 3]]: 1 - 7 * 2 / (4 * 4 * 2)
        0.5625
    """
    counts, domain = _as_counts(data, kind, values)
    return float(_alpha_from_coincidences(_coincidences(counts), level, domain))


def _resample_sizes(rng: np.random.Generator, group_sizes: np.ndarray, size: int) -> np.ndarray:
    """How often each group of identical items is drawn when all items are resampled with replacement.

    Drawing n items uniformly and counting per group is Multinomial(n, group_size / n); numpy's
    multinomial costs O(groups) per draw, direct draws O(items): take the cheaper one.
    """
    n = int(group_sizes.sum())
    if 20 * len(group_sizes) < n:
        return rng.multinomial(n, group_sizes / n, size=size).astype(float)
    owner = np.repeat(np.arange(len(group_sizes)), group_sizes)
    rows = max(1, _DRAW_CELLS // n)
    parts = []
    for start in range(0, size, rows):
        count = min(rows, size - start)
        draws = owner[rng.integers(0, n, size=(count, n))] + np.arange(count)[:, None] * len(group_sizes)
        parts.append(np.bincount(draws.ravel(), minlength=count * len(group_sizes)).reshape(count, -1))
    return np.concatenate(parts).astype(float)


def _distinct_rows(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a count table and how often each occurs (small integer counts: one int64 key per row)."""
    top = counts.max(initial=0.0)
    if (counts == np.round(counts)).all() and (int(top) + 1) ** counts.shape[1] < 2**62:
        keys = counts.astype(np.int64) @ ((int(top) + 1) ** np.arange(counts.shape[1], dtype=np.int64))
        _, first, sizes = np.unique(keys, return_index=True, return_counts=True)
        return counts[first], sizes
    return np.unique(counts, axis=0, return_counts=True)


def _bootstrap_alphas(counts: np.ndarray, level: str, domain: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Alpha of ``n_boot`` resamples of the pairable items (NaN for all when there are none)."""
    pairable, _ = _pairable(counts)
    if not len(pairable):
        return np.full(n_boot, math.nan)
    check_ceiling("bootstrap_cells", n_boot * len(pairable), f"{n_boot:,} bootstrap resamples of alpha's items")
    patterns, sizes = _distinct_rows(pairable)
    weights = 1.0 / (patterns.sum(axis=1) - 1.0)
    rng = np.random.default_rng(seed)
    v2 = len(domain) ** 2
    block = max(1, min(n_boot, _BOOT_CELLS // (len(patterns) + v2)))
    part = max(1, _BOOT_CELLS // v2)  # patterns whose coincidence matrices are held at once
    units = _unit_coincidences(patterns, weights).reshape(-1, v2) if len(patterns) <= part else None
    alphas = []
    for start in range(0, n_boot, block):
        draws = _resample_sizes(rng, sizes, min(block, n_boot - start))
        if units is not None:
            o = draws @ units
        else:
            o = np.zeros((len(draws), v2))
            for first in range(0, len(patterns), part):
                chunk = slice(first, first + part)
                o += draws[:, chunk] @ _unit_coincidences(patterns[chunk], weights[chunk]).reshape(-1, v2)
        alphas.append(_alpha_from_coincidences(o.reshape(-1, len(domain), len(domain)), level, domain))
    return np.concatenate(alphas)


def alpha_ci(
    data,
    level: Level = "nominal",
    *,
    kind: Literal["reliability", "counts"] = "reliability",
    values: Sequence[object] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> CI:
    """Alpha with a percentile bootstrap interval: resample the pairable items with replacement.

    A resample's coincidence matrix is the multiplicity-weighted sum of per-item contributions
    (n_u n_u^T - diag n_u) / (m_u - 1); items with identical counts are pooled, so 1,000 resamples
    are a few matrix products (METHODS.md section 3: a bootstrap interval over items).

    Args:
        data: as :func:`krippendorff_alpha`.
        level: a level of :data:`LEVELS`.
        kind: ``"reliability"`` or ``"counts"``.
        values: the value domain and its order.
        n_boot: bootstrap resamples (at least 1).
        seed: the seed of ``numpy.random.default_rng``.
        confidence: the interval's coverage; its bounds are the (1 - confidence)/2 and (1 + confidence)/2
            quantiles of the resampled alphas.

    Returns:
        A ``CI`` ``(value, low, high)``: alpha of ``data`` and the interval (NaN bounds when every resample's
        alpha is undefined).

    Raises:
        ConfigError: ``n_boot`` below 1, or another ``kind``.
        InputError: as :func:`krippendorff_alpha`.

    Example:
        >>> data = [[1, 2, 3, 3, 2, 1, 4, 1, 2], [1, 2, 3, 3, 2, 2, 4, 1, 2], [2, 3, 3, 3, 2, 3, 4, 2, 2]]
        >>> ci = alpha_ci(data, "interval", n_boot=1000, seed=0)
        >>> round(ci.value, 3), ci.low < ci.value < ci.high <= 1
        (0.737, True)
    """
    if n_boot < 1:
        raise ConfigError(f"n_boot must be at least 1, got {n_boot}")
    counts, domain = _as_counts(data, kind, values)
    point = krippendorff_alpha(counts, level, kind="counts", values=domain)
    alphas = _bootstrap_alphas(counts, level, domain, n_boot, seed)
    if np.isnan(alphas).all():
        return CI(point, math.nan, math.nan)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.nanpercentile(alphas, [tail, 100.0 - tail])
    return CI(point, float(low), float(high))
