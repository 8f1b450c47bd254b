"""Agreement of numeric ratings and label sets (METHODS.md section 3): pairwise Pearson r, Lin's
concordance correlation coefficient (CCC) and the intraclass correlations ICC(1), ICC(2), ICC(3) with
their average-measure forms (Shrout and Fleiss 1979; checked against pingouin).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from voxpop.agreement.reliability import _select, reliability_matrix
from voxpop.core.errors import ConfigError, InputError
from voxpop.labels import LabelSet


def pairwise_pearson(ratings: pd.DataFrame, label: str, slot: str = "intensity") -> pd.DataFrame:
    """Rater x rater Pearson r of one scale (``label``) over the items both raters rated.

    r = cov(x, y) / (sd(x) sd(y)) on each pair's common items; needs rater ids.

    Args:
        ratings: long ratings (``item``, ``rater``, ``slot``, ``label``, ``value``), e.g. ``Corpus.ratings``.
        label: the scale (emotion, dimension) whose values are correlated.
        slot: the slot of the ratings.

    Returns:
        A symmetric raters x raters DataFrame of r in [-1, 1] (NaN for a pair with fewer than two common items).

    Raises:
        VoxpopError: no ratings of ``slot`` / ``label``, or ratings without rater ids.

    Example:
        >>> ratings = pd.DataFrame({"item": list("abcabc"), "rater": ["r1"] * 3 + ["r2"] * 3,
        ...                         "slot": "intensity", "label": "sad", "value": [0, 1, 2, 0, 2, 3.0]})
        >>> pairwise_pearson(ratings, "sad").round(3)  # 3 / sqrt(2 * 42/9)
        rater     r1     r2
        rater
        r1     1.000  0.982
        r2     0.982  1.000
    """
    matrix = reliability_matrix(ratings, slot, label).T.astype(float)
    return matrix.corr(method="pearson", min_periods=2).rename_axis(index="rater", columns="rater")


def ccc(x, y) -> float:
    """Lin's concordance correlation 2 s_xy / (s_x^2 + s_y^2 + (mean_x - mean_y)^2), moments with 1/n.

    Lin (1989); METHODS.md section 3.

    Args:
        x: n values (a 1-D sequence).
        y: n values paired with ``x``.

    Returns:
        CCC in [-1, 1]; NaN when both are constant and equal (a zero denominator).

    Raises:
        InputError: ``x`` and ``y`` are not 1-D of equal length.

    Example:
        >>> round(ccc([1, 2, 3, 4], [1.5, 2.5, 3.5, 4.5]), 4)  # 2 * 1.25 / (1.25 + 1.25 + 0.5^2)
        0.9091
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise InputError(f"ccc needs two 1-D sequences of equal length, got shapes {x.shape} and {y.shape}")
    dx, dy = x - x.mean(), y - y.mean()
    denominator = (dx**2).mean() + (dy**2).mean() + (x.mean() - y.mean()) ** 2
    return math.nan if denominator == 0 else float(2.0 * (dx * dy).mean() / denominator)


def _both_kept(a: LabelSet, b: LabelSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    if a.classes != b.classes:
        raise ConfigError(f"label sets have different classes: {a.classes} vs {b.classes}")
    ta, tb = a.kept_targets, b.kept_targets
    common = ta.index.intersection(tb.index, sort=False)
    return ta.loc[common], tb.loc[common]


def ccc_labelsets(a: LabelSet, b: LabelSet) -> pd.Series:
    """CCC per class between two label sets' targets over the items both keep, plus their mean over the
    classes where CCC is defined (a class whose targets are constant and equal in both sets has none;
    :func:`compare_labelsets` names it).

    >>> from voxpop.labels.labelset import Accounting
    >>> def labelset(rows):
    ...     targets = pd.DataFrame(rows, index=["i1", "i2", "i3"], columns=["A", "S"])
    ...     return LabelSet(targets, pd.Series(True, index=targets.index), targets * 4, "ar",
    ...                     Accounting(3, 3, 12, 12))
    >>> voice = labelset([[1.0, 0.0], [0.5, 0.5], [0.25, 0.75]])
    >>> face = labelset([[0.75, 0.25], [0.5, 0.5], [0.0, 1.0]])
    >>> ccc_labelsets(voice, face).round(4)
    A       0.8125
    S       0.8125
    mean    0.8125
    Name: ccc, dtype: float64
    """
    ta, tb = _both_kept(a, b)
    per_class = pd.Series({c: ccc(ta[c].to_numpy(), tb[c].to_numpy()) for c in a.classes}, dtype=float)
    per_class["mean"] = per_class.mean() if per_class.notna().any() else math.nan
    return per_class.rename("ccc")


# =============================================================================== intraclass correlation
ICC_FORMS = ("ICC(1,1)", "ICC(1,k)", "ICC(2,1)", "ICC(2,k)", "ICC(3,1)", "ICC(3,k)")


ICC_MODELS = {
    "ICC(1,1)": "one-way random, single rating",
    "ICC(1,k)": "one-way random, mean of k ratings",
    "ICC(2,1)": "two-way random, absolute agreement, single rating",
    "ICC(2,k)": "two-way random, absolute agreement, mean of k ratings",
    "ICC(3,1)": "two-way mixed, consistency, single rating",
    "ICC(3,k)": "two-way mixed, consistency, mean of k ratings",
}


def icc(ratings: pd.DataFrame, slot: str, label: str | None = None, value_column: str = "value") -> pd.DataFrame:
    """Intraclass correlations of one numeric scale (``slot``, and ``label`` for one emotion / dimension)
    from the long ratings (item, rater, value): one row per form, columns form, model, value, items, raters,
    k, unpairable, note.

    Shrout & Fleiss (1979), McGraw & Wong (1996). With n items, k ratings per item and the mean squares of
    items MSR, raters MSC, residual MSE and within items MSW:

    - ICC(1,1) = (MSR - MSW) / (MSR + (k - 1) MSW),  ICC(1,k) = (MSR - MSW) / MSR (one-way: raters
      may differ per item, rater ids are not needed);
    - ICC(2,1) = (MSR - MSE) / (MSR + (k - 1) MSE + k (MSC - MSE) / n),  ICC(2,k) = (MSR - MSE) / (MSR +
      (MSC - MSE) / n);  ICC(3,1) = (MSR - MSE) / (MSR + (k - 1) MSE),  ICC(3,k) = (MSR - MSE) / MSR
      (two-way: only for a fully crossed design, every rater rating every item).

    Items rated once are left out (counted in ``unpairable``). When the design is not fully crossed
    (crowd data) only ICC(1,·) is computed, with the one-way ANOVA for unequal group sizes: MSR =
    sum_i k_i (mean_i - mean)^2 / (n - 1), MSW = sum_i sum_j (x_ij - mean_i)^2 / (N - n) and k = k0 =
    (N - sum_i k_i^2 / N) / (n - 1), the effective number of ratings per item (Donner 1986); the ICC(2,·)
    and ICC(3,·) rows say why they are missing. NaN with a note when there is no variation.

    Args:
        ratings: long ratings (``item``, ``rater``, ``slot``, ``label`` and the value column).
        slot: the slot of the numeric scale.
        label: the scale (emotion, dimension) within the slot; needed when the slot holds several.
        value_column: the column holding the numbers.

    Returns:
        One row per form (ICC(1,1), ICC(1,k), ICC(2,1), ICC(2,k), ICC(3,1), ICC(3,k)), with columns ``form``,
        ``model``, ``value``, ``items``, ``raters``, ``k``, ``unpairable`` and ``note``.

    Raises:
        VoxpopError: the slot / label has no ratings, or a rater rated an item twice.
        ConfigError: ``label`` is None for a slot with several scales.
        InputError: a value is not numeric.

    Example:
        Shrout & Fleiss' Table 2, 6 targets x 4 judges:

        >>> data = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
        >>> ratings = pd.DataFrame([(f"t{i}", f"j{j}", "score", float(v)) for i, row in enumerate(data)
        ...                         for j, v in enumerate(row)], columns=["item", "rater", "slot", "value"])
        >>> icc(ratings, "score").set_index("form")["value"].round(2).tolist()  # published: .17 .44 .29 .62 .71 .91
        [0.17, 0.44, 0.29, 0.62, 0.71, 0.91]
    """
    rows = _select(ratings, slot, label)
    if label is None and "label" in rows.columns and rows["label"].nunique() > 1:
        scales = ", ".join(map(str, rows["label"].dropna().unique()[:10]))
        raise ConfigError(f"slot {slot!r} holds several scales ({scales}); pass label= to pick one for the ICC")
    values = pd.to_numeric(rows[value_column], errors="coerce")
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise InputError(
            f"ICC needs numeric {value_column!r} values; item {rows['item'].iat[row]!r} has "
            f"{rows[value_column].iat[row]!r} ({int(values.isna().sum())} such ratings)"
        )
    rows = rows.assign(_x=values.to_numpy(dtype=float))
    per_item = rows.groupby("item", sort=False)["_x"].size()
    once = per_item.index[per_item.to_numpy() < 2]
    rows = rows[~rows["item"].isin(once).to_numpy()]
    base = {"unpairable": len(once)}
    has_raters = rows["rater"].notna().all() if "rater" in rows.columns else False
    matrix = reliability_matrix(rows, slot, label, "_x") if has_raters and len(rows) else None
    if matrix is not None and not matrix.isna().any().any() and min(matrix.shape) >= 2:
        return _icc_crossed(matrix.to_numpy(dtype=float).T, base)
    return _icc_one_way(rows, base, "raters differ per item" if has_raters else "no rater ids (vote counts only)")


def _icc_row(form: str, value: float, note: str = "", **counts) -> dict:
    undefined = "undefined: no variation (every rating is the same)"
    return {"form": form, "model": ICC_MODELS[form], "value": value, **counts,
            "note": note or (undefined if math.isnan(value) else "")}  # fmt: skip


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


def _icc_frame(rows: list[dict]) -> pd.DataFrame:
    columns = ["form", "model", "value", "items", "raters", "k", "unpairable", "note"]
    return pd.DataFrame(rows, columns=columns).astype({"items": "Int64", "raters": "Int64", "unpairable": "Int64"})


def _icc_crossed(x: np.ndarray, base: dict) -> pd.DataFrame:
    """All six forms from a complete items x raters array (two-way ANOVA)."""
    n, k = x.shape
    grand = x.mean()
    ss_total = float(((x - grand) ** 2).sum())
    ss_items = float(k * ((x.mean(axis=1) - grand) ** 2).sum())
    ss_raters = float(n * ((x.mean(axis=0) - grand) ** 2).sum())
    msr = ss_items / (n - 1)
    msc = ss_raters / (k - 1)
    mse = (ss_total - ss_items - ss_raters) / ((n - 1) * (k - 1))
    msw = (ss_total - ss_items) / (n * (k - 1))
    values = {
        "ICC(1,1)": _ratio(msr - msw, msr + (k - 1) * msw),
        "ICC(1,k)": _ratio(msr - msw, msr),
        "ICC(2,1)": _ratio(msr - mse, msr + (k - 1) * mse + k * (msc - mse) / n),
        "ICC(2,k)": _ratio(msr - mse, msr + (msc - mse) / n),
        "ICC(3,1)": _ratio(msr - mse, msr + (k - 1) * mse),
        "ICC(3,k)": _ratio(msr - mse, msr),
    }
    counts = {**base, "items": n, "raters": k, "k": float(k)}
    return _icc_frame([_icc_row(form, values[form], **counts) for form in ICC_FORMS])


def _icc_one_way(rows: pd.DataFrame, base: dict, why: str) -> pd.DataFrame:
    """ICC(1,1) and ICC(1,k) from the one-way ANOVA with unequal numbers of ratings per item."""
    groups = rows.groupby("item", sort=False)["_x"]
    k_i, means = groups.size().to_numpy(dtype=float), groups.mean()
    n, total = len(k_i), float(k_i.sum())
    raters = int(rows["rater"].nunique()) if "rater" in rows.columns and rows["rater"].notna().all() else pd.NA
    counts = {**base, "items": n, "raters": raters}
    if n < 2:
        note = "undefined: fewer than two items rated twice or more"
        return _icc_frame([_icc_row(form, math.nan, note, **counts, k=math.nan) for form in ICC_FORMS])
    grand = float(rows["_x"].mean())
    msr = float((k_i * (means.to_numpy() - grand) ** 2).sum()) / (n - 1)
    msw = float(((rows["_x"] - rows["item"].map(means)) ** 2).sum()) / (total - n)
    k0 = (total - float((k_i**2).sum()) / total) / (n - 1)
    counts["k"] = k0
    out = [
        _icc_row("ICC(1,1)", _ratio(msr - msw, msr + (k0 - 1) * msw), **counts),
        _icc_row("ICC(1,k)", _ratio(msr - msw, msr), **counts),
    ]
    missing = f"not computed: {why}; ICC(2,·) and ICC(3,·) need a fully crossed design (every rater rates every item)"
    out += [_icc_row(form, math.nan, missing, **counts) for form in ICC_FORMS[2:]]
    return _icc_frame(out)


def ccc_labelsets_ci(a: LabelSet, b: LabelSet, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """:func:`ccc_labelsets` with percentile bootstrap intervals over the items both sets keep.

    Returns rows class (every class, then ``mean``) x columns value, low, high. Each resample draws the
    common items with replacement (``default_rng(seed)``, as
    :func:`voxpop.evaluation.resampling.bootstrap_distribution`)
    and recomputes every class's CCC from the resampled sums of x, y, x^2, y^2 and xy (vectorised), and
    their mean over classes; a resample where a CCC is undefined (zero variance) is left out of that
    class's interval.

    >>> from voxpop.labels.labelset import Accounting
    >>> t = pd.DataFrame({"A": [1.0, 0.5, 0.25, 0.0], "S": [0.0, 0.5, 0.75, 1.0]}, index=list("pqrs"))
    >>> u = pd.DataFrame({"A": [0.75, 0.5, 0.0, 0.25], "S": [0.25, 0.5, 1.0, 0.75]}, index=list("pqrs"))
    >>> one = LabelSet(t, pd.Series(True, index=t.index), t * 4, "ar", Accounting(4, 4, 16, 16))
    >>> other = LabelSet(u, pd.Series(True, index=u.index), u * 4, "ar", Accounting(4, 4, 16, 16))
    >>> table = ccc_labelsets_ci(one, other, n_boot=200)
    >>> bool(((table["low"] <= table["value"]) & (table["value"] <= table["high"])).all())
    True
    """
    from voxpop.evaluation.resampling import _resampled_sums, percentile_interval

    if n_boot < 1:
        raise ConfigError(f"ccc_labelsets_ci: n_boot must be at least 1, found {n_boot}")
    ta, tb = _both_kept(a, b)
    x, y = ta[a.classes].to_numpy(dtype=float), tb[a.classes].to_numpy(dtype=float)
    n, size = x.shape
    if n == 0:
        raise InputError("ccc_labelsets_ci: the two label sets keep no common item")
    sums = _resampled_sums(np.concatenate([x, y, x * x, y * y, x * y], axis=1), n_boot, seed, None) / n
    mx, my, xx, yy, xy = (sums[:, k * size : (k + 1) * size] for k in range(5))
    denominator = (xx - mx**2) + (yy - my**2) + (mx - my) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        resampled = np.where(denominator > 0, 2.0 * (xy - mx * my) / denominator, np.nan)
    point = ccc_labelsets(a, b)
    defined = ~np.isnan(point.to_numpy()[:size])  # the class mean runs over the classes defined on all items
    resampled = np.concatenate([resampled, resampled[:, defined].mean(axis=1, keepdims=True)], axis=1)
    intervals = [percentile_interval(resampled[:, k], alpha) for k in range(size + 1)]
    return pd.DataFrame(
        {"value": point.to_numpy(), "low": [i[0] for i in intervals], "high": [i[1] for i in intervals]},
        index=point.index.rename("class"),
    )
