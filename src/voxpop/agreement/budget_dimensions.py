"""The annotation budget for dimensions (METHODS.md section 6): how close the mean of k raters comes to the full
panel's mean, and the reliability of a k-rater mean, ICC(1,k), by the Spearman-Brown projection.

- ``mean_r``: Pearson's r, over items, between the mean of k drawn ratings and the mean of all the item's
  ratings (k-rating subsets as in :mod:`voxpop.agreement.budget_draws`; per item the moments are averaged over
  its subsets, so an item counts once), with a percentile interval over item resamples;
- ``icc``: ICC(1,k) = k ICC(1,1) / (1 + (k - 1) ICC(1,1)) (Spearman-Brown), ICC(1,1) from the one-way ANOVA of
  :func:`voxpop.agreement.correlations.icc`; k may exceed the largest panel (``projection`` True: a
  projection, not an observation). Its interval is the projection of ICC(1,1)'s item-bootstrap interval (the
  projection is increasing in ICC(1,1)).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from voxpop.agreement.budget_draws import item_resamples, subset_members
from voxpop.agreement.correlations import icc
from voxpop.core.errors import ConfigError
from voxpop.corpus import Corpus
from voxpop.evaluation.resampling import percentile_interval

DIMENSION_COLUMNS = ("condition", "dimension", "raters", "statistic", "value", "ci_low", "ci_high", "projection",
                     "items", "items_short")  # fmt: skip


def spearman_brown(reliability: float | np.ndarray, k: float | np.ndarray) -> float | np.ndarray:
    """The reliability of a mean of k ratings from the single-rating reliability r: k r / (1 + (k - 1) r).

    >>> round(float(spearman_brown(0.5, 3)), 3)  # 1.5 / 2
    0.75
    """
    return k * np.asarray(reliability) / (1.0 + (k - 1.0) * np.asarray(reliability))


def _pearson(sums: np.ndarray) -> np.ndarray:
    """Pearson r from summed moments (resamples x [n, x, y, xx, yy, xy])."""
    n, x, y, xx, yy, xy = sums.T
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = xy - x * y / n
        return cov / np.sqrt((xx - x * x / n) * (yy - y * y / n))


def _icc11(sums: np.ndarray) -> np.ndarray:
    """One-way ICC(1,1) from summed per-item pieces (resamples x [items, ratings, sum k_i^2, sum x, sum k_i m_i^2,
    sum x^2]): MSR = (sum k_i m_i^2 - T^2 / N) / (n - 1), MSW = (sum x^2 - sum k_i m_i^2) / (N - n),
    k0 = (N - sum k_i^2 / N) / (n - 1)."""
    n, total, k2, x, km2, xx = sums.T
    with np.errstate(divide="ignore", invalid="ignore"):
        msr = (km2 - x * x / total) / (n - 1)
        msw = (xx - km2) / (total - n)
        k0 = (total - k2 / total) / (n - 1)
        return (msr - msw) / (msr + (k0 - 1) * msw)


def _one_scale(rows: pd.DataFrame, raters: Sequence[int] | None, projection_to: int | None, draw: dict) -> list[dict]:
    """The rows of one (condition, dimension): mean_r per observed k, icc per k up to the projection."""
    item_code, items = pd.factorize(rows["item"])
    x = rows["value"].to_numpy(dtype=float)
    n_items = len(items)
    sizes = np.bincount(item_code, minlength=n_items)
    panel = int(sizes.max())
    ks = list(raters) if raters else list(range(1, panel + 1))
    weights = item_resamples(n_items, draw["n_boot"], draw["seed"])
    full_mean = np.bincount(item_code, weights=x, minlength=n_items) / sizes
    out = []
    for k in [k for k in ks if k <= panel]:
        members = subset_members(item_code, n_items, k, draw["draws"], draw["seed"], draw["enumerate_limit"])
        mean_k = x[members.positions].mean(axis=1)
        y = full_mean[members.item]
        moments = np.stack([np.ones_like(y), mean_k, y, mean_k**2, y**2, mean_k * y], axis=1)
        per_item = np.zeros((n_items, 6))
        np.add.at(per_item, members.item, moments * members.weight[:, None])
        value = float(_pearson(per_item.sum(axis=0, keepdims=True))[0])
        low, high = percentile_interval(_pearson(weights @ per_item))
        counted = {"items": int((~members.short).sum()), "items_short": int(members.short.sum())}
        out.append({"raters": k, "statistic": "mean_r", "value": value, "ci_low": low, "ci_high": high,
                    "projection": False, **counted})  # fmt: skip
    pairable = sizes >= 2
    pieces = np.stack(
        [pairable, sizes, sizes**2, np.bincount(item_code, weights=x, minlength=n_items),
         sizes * full_mean**2, np.bincount(item_code, weights=x * x, minlength=n_items)], axis=1,
    ).astype(float) * pairable[:, None]  # fmt: skip
    single = float(icc(rows.assign(slot="budget", label="budget"), "budget").set_index("form").at["ICC(1,1)", "value"])
    low, high = percentile_interval(_icc11(weights @ pieces))
    counted = {"items": int(pairable.sum()), "items_short": int((~pairable).sum())}
    for k in sorted({*[k for k in ks if k >= 1], *range(1, max(projection_to or 0, max(ks)) + 1)}):
        out.append({"raters": k, "statistic": "icc", "value": float(spearman_brown(single, k)),
                    "ci_low": float(spearman_brown(low, k)), "ci_high": float(spearman_brown(high, k)),
                    "projection": k > panel, **counted})  # fmt: skip
    return out


def dimension_budget(
    corpus: Corpus,
    raters: Sequence[int] | None = None,
    *,
    slot: str = "dimension",
    dimensions: Sequence[str] | None = None,
    projection_to: int | None = None,
    draws: int = 20,
    n_boot: int = 1000,
    seed: int = 0,
    conditions: Sequence[str] | None = None,
    enumerate_limit: int | None = None,
) -> pd.DataFrame:
    """The budget curve of numeric ratings: the k-rater mean's correlation with the full panel's, and ICC(1,k).

    Args:
        corpus: the corpus; its numeric ratings of ``slot`` (one label per dimension).
        raters: the panel sizes k (default 1 .. the largest panel).
        slot: the slot of the dimensions (``dimension``; ``sentiment`` for CMU-MOSEI imports).
        dimensions: the labels of ``slot`` to use (default every one).
        projection_to: project ICC(1,k) up to this k (beyond the largest panel: ``projection`` True).
        draws: B, random subsets per item and k (all of them when C(n_i, k) <= B).
        n_boot: item resamples for the 95 % intervals.
        seed: seed of the draws and resamples.
        conditions: the conditions (default each one; draws are made within each).
        enumerate_limit: enumerate subsets when C(n_i, k) is at most this (default ``draws``).

    Returns:
        One row per (condition, dimension, k, statistic) with :data:`DIMENSION_COLUMNS`: ``statistic``
        ``mean_r`` (Pearson r) or ``icc`` (ICC(1,k)), ``value`` and its 95 % CI, ``projection``, ``items`` and
        ``items_short`` (items with fewer than k ratings, left out of mean_r; for icc, items rated once).

    Raises:
        ConfigError: no numeric ratings in ``slot``, an unknown dimension or condition.

    Example:
        >>> dimension_budget(corpus, [1, 2, 3], projection_to=10)  # doctest: +SKIP
    """
    ratings = corpus.ratings
    ratings = ratings[
        ratings["slot"].eq(slot).to_numpy(dtype=bool, na_value=False) & ratings["value"].notna().to_numpy()
    ]
    if ratings.empty:
        raise ConfigError(
            f"corpus {corpus.name!r} has no numeric ratings in slot {slot!r}; dimensions are in slot 'dimension' "
            "(MSP, IEMOCAP imports) or 'sentiment' (CMU-MOSEI): choose it with --slot"
        )
    present = list(dict.fromkeys(ratings["label"].astype(str)))
    unknown = [d for d in dimensions or () if d not in present]
    if unknown:
        raise ConfigError(f"slot {slot!r} has no ratings for {unknown}; its dimensions are {', '.join(present)}")
    chosen = list(conditions) if conditions else (corpus.conditions or [None])
    draw = {"draws": draws, "n_boot": n_boot, "seed": seed, "enumerate_limit": enumerate_limit}
    out = []
    for condition in chosen:
        scoped = ratings if condition is None else ratings[ratings["condition"].eq(condition).to_numpy(dtype=bool)]
        for dimension in dimensions or present:
            rows = scoped[scoped["label"].astype(str).eq(dimension).to_numpy()]
            if rows.empty:
                continue
            for row in _one_scale(rows, raters, projection_to, draw):
                out.append({"condition": condition or "", "dimension": dimension, **row})
    return pd.DataFrame(out, columns=list(DIMENSION_COLUMNS))
