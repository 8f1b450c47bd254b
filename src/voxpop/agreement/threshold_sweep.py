"""The Likert threshold sweep (METHODS.md section 3): Cohen's kappa between two sources of intensity
ratings binarised at each threshold, the plateau of the best mean, and the positives per threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from voxpop.agreement.grouping import _scope_conditions, item_groups
from voxpop.agreement.kappas import _kappa_from_codes
from voxpop.agreement.reliability import _select
from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus import Corpus


# =============================================================================== threshold sweep
class Sweep(NamedTuple):
    """Result of :func:`threshold_sweep`.

    ``curve``: kappa per (threshold, emotion) plus ``mean`` over one set of emotions (NaN at thresholds
    where one of them is undefined); ``best_threshold``: the lowest threshold of the plateau (NaN when
    the mean is undefined everywhere); ``plateau``: the (first, last) threshold of each run of
    consecutive grid thresholds whose mean equals the maximum; ``left_out``: emotion -> why it is not in
    the mean (undefined at every threshold); ``gaps``: emotion -> the thresholds where it is undefined,
    which therefore have no mean.
    """

    curve: pd.DataFrame
    best_threshold: float
    best_kappa: float
    items: int
    plateau: tuple[tuple[float, float], ...] = ()
    left_out: Mapping[str, str] = {}
    gaps: Mapping[str, str] = {}


def threshold_grid(spec: str) -> np.ndarray:
    """Thresholds ``"start:stop:step"`` (stop included), rounded to 10 decimals so 0.5 is 0.5.

    >>> threshold_grid("0.1:0.5:0.1")
    array([0.1, 0.2, 0.3, 0.4, 0.5])
    """
    try:
        start, stop, step = (float(part) for part in spec.split(":"))
    except ValueError:
        raise ConfigError(f"threshold grid {spec!r}: expected start:stop:step, e.g. 0.01:0.99:0.01") from None
    if step <= 0 or stop < start:
        raise ConfigError(f"threshold grid {spec!r}: expected step > 0 and stop >= start")
    return np.round(start + step * np.arange(math.floor((stop - start) / step + 1e-9) + 1), 10)


def threshold_sweep(scores_a: pd.DataFrame, scores_b: pd.DataFrame, thresholds: Sequence[float]) -> Sweep:
    """Binarize two intensity sources at each t (positive iff score >= t) and compute Cohen's kappa per emotion.

    Both tables are items x emotions with scores in [0, 1]; items are matched by index. Kappa is
    undefined where both sources put every item on the same side of t. An emotion undefined at every
    threshold of the grid (nobody perceived it) is left out of ``mean`` and listed in ``left_out``; the
    mean is over one set of emotions for the whole curve, so a threshold where one of them is undefined
    (typically the top of the grid, which no item reaches) has no mean and is listed in ``gaps``. Likert scores move in
    steps (1/9 for three raters on 0..3), so the maximum of the mean is a plateau of thresholds:
    ``plateau`` gives its runs and ``best_threshold`` is its lowest threshold (the convention behind
    the published t = 0.23). Raises :class:`InputError` when a source lacks an emotion or a score or
    the sources share no item.

    >>> a = pd.DataFrame({"sad": [0.0, 1 / 9, 2 / 3, 1.0], "happy": [1.0, 0.0, 0.2, 0.0]}, index=list("pqrs"))
    >>> b = pd.DataFrame({"sad": [0.0, 0.0, 1 / 3, 2 / 3], "happy": [2 / 3, 0.0, 0.0, 0.0]}, index=list("pqrs"))
    >>> sweep = threshold_sweep(a.assign(fear=0.0), b.assign(fear=0.0), [0.1, 0.3, 0.5, 0.6])
    >>> sweep.curve.round(3)
               sad  happy  fear  mean
    threshold
    0.1        0.5    0.5   NaN  0.50
    0.3        1.0    1.0   NaN  1.00
    0.5        0.5    1.0   NaN  0.75
    0.6        0.5    1.0   NaN  0.75
    >>> sweep.best_threshold, sweep.best_kappa, sweep.plateau
    (0.3, 1.0, ((0.3, 0.3),))
    >>> sweep.left_out, sweep.gaps
    ({'fear': 'undefined at 4 of 4 thresholds (0.1..0.6): no variation, both sources put every item on one side'}, {})
    """
    missing = [c for c in scores_a.columns if c not in scores_b.columns]
    if missing:
        raise InputError(f"the second intensity source has no scores for {missing}; it has {list(scores_b.columns)}")
    common = scores_a.index.intersection(scores_b.index, sort=False)
    if not len(common):
        raise InputError("the two intensity sources share no items (items are matched by id)")
    a = scores_a.loc[common].astype(float)
    b = scores_b.loc[common, list(scores_a.columns)].astype(float)
    for name, table in (("first", a), ("second", b)):
        if table.isna().any().any():
            item, emotion = table.stack(future_stack=True).loc[lambda s: s.isna()].index[0]
            raise InputError(f"the {name} source has no score for item {item!r}, emotion {emotion!r}")
    rows = {}
    for t in thresholds:
        above_a, above_b = (a.to_numpy() >= t).astype(np.int64), (b.to_numpy() >= t).astype(np.int64)
        rows[float(t)] = {e: _kappa_from_codes(above_a[:, j], above_b[:, j], 2) for j, e in enumerate(a.columns)}
    curve = pd.DataFrame.from_dict(rows, orient="index", columns=list(a.columns)).rename_axis("threshold")
    return sweep_from_curve(curve, len(common))


def sweep_from_curve(curve: pd.DataFrame, items: int) -> Sweep:
    """The :class:`Sweep` of a thresholds x emotions kappa table (a ``mean`` column, if any, is recomputed):
    the emotions left out, the gaps, the mean, the plateau and the best threshold, as :func:`threshold_sweep`
    defines them. ``items`` is the number of items the kappas were computed on."""
    curve = curve.drop(columns="mean", errors="ignore")
    undefined = curve.isna()
    reasons = {
        str(e): f"undefined at {int(undefined[e].sum())} of {len(curve)} thresholds "
        f"({_threshold_runs(curve.index[undefined[e].to_numpy()], curve.index)}): "
        "no variation, both sources put every item on one side"
        for e in curve.columns
        if undefined[e].any()
    }
    left_out = {e: why for e, why in reasons.items() if undefined[e].all()}
    gaps = {e: why for e, why in reasons.items() if e not in left_out}
    kept = [e for e in curve.columns if str(e) not in left_out]
    curve["mean"] = curve[kept].mean(axis=1, skipna=False) if kept else math.nan
    if curve["mean"].isna().all():
        return Sweep(curve, math.nan, math.nan, items, (), left_out, gaps)
    top = curve["mean"].max()
    at_top = curve.index[np.isclose(curve["mean"].to_numpy(), top, rtol=0, atol=1e-12)]
    return Sweep(curve, float(at_top[0]), float(top), items, _runs(at_top, curve.index), left_out, gaps)


def _runs(chosen: pd.Index, grid: pd.Index) -> tuple[tuple[float, float], ...]:
    """(first, last) of each run of consecutive grid positions in ``chosen``."""
    positions = grid.get_indexer(chosen)
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    return tuple((float(grid[run[0]]), float(grid[run[-1]])) for run in np.split(positions, breaks) if len(run))


def _threshold_runs(chosen: pd.Index, grid: pd.Index) -> str:
    return _format_runs(_runs(chosen, grid))


def _format_runs(runs: Sequence[tuple[float, float]]) -> str:
    return ", ".join(f"{lo:g}" if lo == hi else f"{lo:g}..{hi:g}" for lo, hi in runs)


def plateau_text(sweep: Sweep) -> str:
    """One line on the best threshold of a sweep: the plateau, the convention and the emotions left out.

    >>> text = plateau_text(Sweep(pd.DataFrame(), 0.23, 0.41, 10, ((0.23, 0.33), (0.56, 0.57)), {"fear": "why"}))
    >>> text.split(": ")[0], text.split("; ")[1]
    ('best t = 0.23 (mean kappa 0.410)', 'left out of the mean: fear (why)')
    >>> "plateau 0.23..0.33, 0.56..0.57" in text
    True
    """
    if math.isnan(sweep.best_threshold):
        text = "no best t: the mean kappa is undefined at every threshold"
    else:
        text = (
            f"best t = {sweep.best_threshold:g} (mean kappa {sweep.best_kappa:.3f}): the lowest threshold of the "
            f"plateau {_format_runs(sweep.plateau)} where the mean kappa is at its maximum"
        )
    if sweep.left_out:
        text += "; left out of the mean: " + "; ".join(f"{e} ({why})" for e, why in sweep.left_out.items())
    if sweep.gaps:
        text += "; no mean where " + "; ".join(f"{e} is {why}" for e, why in sweep.gaps.items())
    return text


def sweep_positives(scores: Mapping[str, pd.DataFrame], thresholds: Sequence[float]) -> pd.DataFrame:
    """Positive items (score >= t) per source, emotion and threshold, over the items every source scores.

    ``scores`` maps a source name (e.g. a condition) to items x emotions intensity scores (as for
    :func:`threshold_sweep`). Long table: threshold, condition (the source name), emotion, positives.

    >>> a = pd.DataFrame({"sad": [0.0, 0.5, 1.0]}, index=list("pqr"))
    >>> sweep_positives({"voice": a, "face": a.loc[["q", "r"]]}, [0.5, 1.0])["positives"].tolist()
    [2, 1, 2, 1]
    """
    frames = list(scores.values())
    common = frames[0].index
    for frame in frames[1:]:
        common = common.intersection(frame.index, sort=False)
    rows = [
        {"threshold": float(t), "condition": name, "emotion": emotion, "positives": int(n)}
        for name, frame in scores.items()
        for t in thresholds
        for emotion, n in (frame.loc[common].astype(float) >= t).sum().items()
    ]
    return pd.DataFrame(rows, columns=["threshold", "condition", "emotion", "positives"])


def grouped_sweeps(
    scores_a: pd.DataFrame,
    scores_b: pd.DataFrame,
    thresholds: Sequence[float],
    items: pd.DataFrame | None = None,
    by: str | None = None,
) -> dict[str, Sweep]:
    """:func:`threshold_sweep` on all items and, with ``by``, per group of ``items[by]`` (item metadata)."""
    groups = item_groups(items, by) if by is not None else [("all", scores_a.index)]
    return {
        group: threshold_sweep(scores_a.loc[scores_a.index.intersection(index, sort=False)], scores_b, thresholds)
        for group, index in groups
    }


def intensity_scores(
    corpus: Corpus, emotions: Sequence[str] | None = None, condition: str | None = None
) -> pd.DataFrame:
    """Items x emotions Likert scores (mean value / scale max, via :func:`voxpop.labels.likert.likert_scores`)
    of the intensity ratings of one condition, for :func:`threshold_sweep`."""
    from voxpop.labels.likert import likert_scores

    emotions = list(emotions) if emotions else corpus.classes
    unknown = [e for e in emotions if e not in corpus.classes]
    if unknown:
        raise ConfigError(f"emotions {unknown} are not classes of corpus {corpus.name!r} ({', '.join(corpus.classes)})")
    rows = _select(corpus.ratings, "intensity", None)
    if condition is not None:
        _scope_conditions(rows, condition)
    return likert_scores(
        rows,
        emotions,
        scale=corpus.scales.get("intensity"),
        conditions=condition,
        pool=False,
        excluded=[c for c in corpus.classes + corpus.excluded if c not in emotions],
    )
