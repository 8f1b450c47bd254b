"""Interval ratings to labels (METHODS.md section 2): runs of time where at least K raters marked the same
emotion, as segment label sets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError, VoxpopError
from voxpop.labels.counting import _labelset, _one_hot
from voxpop.labels.labelset import LabelSet
from voxpop.labels.voting import _class_codes, _first_of_runs, column_codes


# ---------------------------------------------------------------------- interval consensus
def _runs(group: np.ndarray, position: np.ndarray, coverage: np.ndarray, level: int):
    """Maximal runs with coverage >= level over the elementary segments [position_j, position_j+1).

    Returns (group, start, end, peak coverage) per run. Every group ends with coverage 0, so a run
    never crosses into the next group.
    """
    qualifies = coverage >= level
    previous = np.concatenate([[False], qualifies[:-1]])
    following = np.concatenate([qualifies[1:], [False]])
    first = np.flatnonzero(qualifies & ~previous)
    last = np.flatnonzero(qualifies & ~following)
    peak = np.maximum.reduceat(np.where(qualifies, coverage, 0), first) if len(first) else first
    return group[first], position[first], position[last + 1], peak


def _coverage(group: np.ndarray, rater: np.ndarray, start: np.ndarray, end: np.ndarray, span: int):
    """Per group (recording x emotion): distinct event positions and the number of raters covering [p_j, p_j+1).

    A rater's overlapping intervals in one group are merged first, so a rater counts once. Then a
    +1 at every start and -1 at every end, summed per distinct position and accumulated; each group
    sums to zero, so one cumulative sum over all groups gives every group's coverage.
    """
    lists = group * (int(rater.max(initial=0)) + 1) + rater
    order = np.lexsort((start, lists))
    lists, start, end, group = lists[order], start[order], end[order], group[order]
    reach = np.maximum.accumulate(lists * span + end)  # furthest end so far within the rater's list
    new_block = np.ones(len(order), dtype=bool)
    new_block[1:] = lists[1:] * span + start[1:] > reach[:-1]
    first = np.flatnonzero(new_block)
    block_end = np.maximum.reduceat(end, first) if len(first) else first
    events = np.concatenate([group[first] * span + start[first], group[first] * span + block_end])
    event_order = np.argsort(events)
    events = events[event_order]
    distinct = np.flatnonzero(_first_of_runs(events))
    steps = np.repeat(np.array([1, -1], dtype=np.int64), len(first))[event_order]
    coverage = np.cumsum(np.add.reduceat(steps, distinct) if len(distinct) else steps)
    event_group, position = np.divmod(events[distinct], span)
    return event_group, position, coverage


def interval_consensus(
    ratings: pd.DataFrame,
    classes: Sequence[str] | None = None,
    *,
    level: int = 1,
    frame: float = 0.01,
    class_map: Mapping[str, str] | None = None,
    excluded: Sequence[str] = (),
) -> LabelSet:
    """Confidence-level items from time intervals: maximal runs where >= ``level`` raters marked the same emotion.

    Each rating marks [start, end) seconds of recording ``item`` with an emotion. On a frame grid
    (start and end rounded to multiples of ``frame``, default 10 ms) the coverage of frame f for
    emotion c is the number of raters whose intervals for c contain f (a rater's overlapping
    intervals count once). Each maximal run with coverage >= k becomes an item: ``segments`` gives
    (recording, start, end), the target is one-hot of the emotion, ``counts`` the peak coverage.
    Annotated regions (coverage >= 1) that never reach k are kept as dropped rows, so data loss is
    the share of such regions. A rating supports the result iff it overlaps a kept segment of its
    emotion. Level 1 = any rater; higher levels give fewer, shorter items. Needs rater ids.

    Three raters: r1 anger 0.0-1.0, r2 anger 0.5-1.5, r3 anger 0.8-2.0 and sad 3.0-3.5.

    >>> ratings = pd.DataFrame({"item": "rec", "rater": ["r1", "r2", "r3", "r3"],
    ...                         "label": ["anger", "anger", "anger", "sad"],
    ...                         "start": [0.0, 0.5, 0.8, 3.0], "end": [1.0, 1.5, 2.0, 3.5]})
    >>> labels = interval_consensus(ratings, ["anger", "sad"], level=2)
    >>> labels.segments.assign(kept=labels.kept)
                        recording  start  end   kept
    item
    rec:anger:0.50-1.50       rec    0.5  1.5   True
    rec:sad:3.00-3.50         rec    3.0  3.5  False
    >>> interval_consensus(ratings, ["anger", "sad"], level=3).segments[["start", "end"]]
                         start  end
    item
    rec:anger:0.80-1.00    0.8  1.0
    rec:sad:3.00-3.50      3.0  3.5
    """
    if int(level) != level or level < 1:
        raise ConfigError(f"interval consensus level must be a whole number >= 1, got {level}")
    if not frame > 0:
        raise ConfigError(f"frame must be a positive number of seconds, got {frame}")
    missing = [c for c in ("item", "rater", "label", "start", "end") if c not in ratings.columns]
    if missing:
        raise InputError(f"interval ratings need columns item, rater, label, start, end; missing {missing}")
    no_interval = ratings["start"].isna() | ratings["end"].isna()
    if no_interval.any():
        item = ratings["item"].iloc[int(np.flatnonzero(no_interval.to_numpy())[0])]
        raise InputError(
            f"{int(no_interval.sum())} ratings have no start/end (first on item {item!r}); "
            "interval consensus needs a time interval on every rating"
        )
    if ratings["rater"].isna().any():
        raise VoxpopError("interval consensus counts raters per frame, so every interval rating needs a rater id")
    backwards = (ratings["start"] < 0) | (ratings["end"] <= ratings["start"])
    if backwards.any():
        row = int(np.flatnonzero(backwards.to_numpy())[0])
        raise InputError(
            f"interval rating of item {ratings['item'].iloc[row]!r}: start {ratings['start'].iloc[row]:g}, "
            f"end {ratings['end'].iloc[row]:g}; expected 0 <= start < end (seconds)"
        )
    if classes is None:
        classes = [str(c) for c in pd.unique(ratings["label"])]
    classes = list(classes)
    recording_code, recordings = column_codes(ratings["item"])
    class_code = _class_codes(ratings, classes, class_map, excluded)
    inside = class_code >= 0
    start = np.rint(ratings["start"].to_numpy(dtype=float) / frame).astype(np.int64)[inside]
    end = np.rint(ratings["end"].to_numpy(dtype=float) / frame).astype(np.int64)[inside]
    group = recording_code[inside].astype(np.int64) * len(classes) + class_code[inside]
    rater = column_codes(ratings["rater"])[0][inside].astype(np.int64)
    span = int(end.max(initial=0)) + 1  # positions are < span: group * span + position orders by both

    event_group, position, coverage = _coverage(group, rater, start, end, span)
    kept_runs = _runs(event_group, position, coverage, int(level))
    regions = _runs(event_group, position, coverage, 1)
    lost = regions[3] < level
    rows = [np.concatenate([run, region[lost]]) for run, region in zip(kept_runs, regions, strict=True)]
    is_kept = np.concatenate([np.ones(len(kept_runs[0]), bool), np.zeros(int(lost.sum()), bool)])
    row_order = np.lexsort((rows[1], rows[0]))
    run_group, run_start, run_end, peak = (r[row_order] for r in rows)
    is_kept = is_kept[row_order]

    # a rating supports the result iff it overlaps a kept run of its (recording, emotion)
    kept_end_key = run_group[is_kept] * span + run_end[is_kept]
    hit = np.searchsorted(kept_end_key, group * span + start, side="right")
    valid = hit < len(kept_end_key)
    hit = np.where(valid, hit, 0)
    supports = valid & (end > start)
    if len(kept_end_key):
        supports &= (run_group[is_kept][hit] == group) & (run_start[is_kept][hit] < end)

    run_recording, run_class = np.divmod(run_group, len(classes))
    decimals = len(np.format_float_positional(frame, trim="-").partition(".")[2])
    recording_names = np.asarray(recordings.astype(str))[run_recording]
    class_names = np.asarray(classes)[run_class]
    seconds_start, seconds_end = np.round(run_start * frame, decimals), np.round(run_end * frame, decimals)
    ids = pd.Index(
        [
            f"{rec}:{cls}:{a:.{decimals}f}-{b:.{decimals}f}"
            for rec, cls, a, b in zip(recording_names, class_names, seconds_start, seconds_end, strict=True)
        ],
        name="item",
    )
    counts_array = np.zeros((len(ids), len(classes)), dtype=np.int64)
    counts_array[np.arange(len(ids)), run_class] = peak
    counts = pd.DataFrame(counts_array, index=ids, columns=classes)
    segments = pd.DataFrame({"recording": recording_names, "start": seconds_start, "end": seconds_end}, index=ids)
    segments["recording"] = segments["recording"].astype(pd.StringDtype())
    targets = _one_hot(run_class, counts_array.shape) * is_kept[:, None]
    return _labelset(
        "intervals",
        counts,
        is_kept,
        targets,
        int(supports.sum()),
        int((~inside).sum()),
        options={"level": int(level), "frame": frame},
        segments=segments,
        ratings_total=len(ratings),  # counts hold peak coverage, not ratings
    )
