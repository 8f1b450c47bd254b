"""Bootstrap confidence intervals of metrics: stratified item resampling, speaker (cluster) resampling and
percentile intervals, computed in bounded memory (METHODS.md section 6).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError
from voxpop.core.limits import check_ceiling
from voxpop.evaluation.metrics import (
    Counts,
    Prepared,
    _aligned_pair,
    _item_label,
    _listing,
    _named_metric,
    _point,
    class_codes,
    prepare,
)

RESAMPLE_UNITS = ("items", "speakers")


_CHUNK_ELEMENTS = 1 << 22  # resampled indices held in memory at once (~32 MB of int64)


_BLOCK_ELEMENTS = 1 << 15  # resampled positions counted at once (they stay in the CPU cache)


class CI(NamedTuple):
    """A point estimate with the bounds of its confidence interval."""

    value: float
    low: float
    high: float


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
    to every metric and every model scored on the set: all share the resamples. The results equal those of
    ``seed=seed`` for a callable metric and for multi-label sets; a named single-label metric with
    ``seed=seed`` draws confusion-cell counts instead (:func:`bootstrap_distribution`: the same distribution,
    other numbers). Memory: 8 * n_boot * n bytes. Raises ConfigError when ``n_boot`` is below 1.

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
    """``np.unique(item_stats, axis=0, return_inverse=True)`` (the same rows in the same order), without sorting
    the items.

    The rows are grouped by one number each (a projection on fixed weights, hashed by ``pd.factorize``: O(n)),
    every row is checked equal to the first row of its group, and only the groups' rows are sorted
    (:func:`_sorted_rows`). Where two different rows share a projection the check fails and all rows are
    sorted; tables with NaN go to ``np.unique`` itself.
    """
    if not item_stats.size or np.isnan(item_stats).any():
        kinds, inverse = np.unique(item_stats, axis=0, return_inverse=True)
        return kinds, inverse.ravel()
    weights = 1.0 / (np.arange(item_stats.shape[1]) + np.pi)
    group, firsts = pd.factorize(np.einsum("ij,j->i", item_stats, weights))  # einsum: no BLAS threads to wake
    first_row = np.empty(len(firsts), dtype=np.int64)
    first_row[group[::-1]] = np.arange(len(group))[::-1]  # the last write is each group's first row
    representatives = item_stats[first_row]
    if not np.array_equal(item_stats, representatives[group]):
        return _sorted_rows(item_stats)
    kinds, kind_of_group = _sorted_rows(representatives)
    return kinds, kind_of_group[group]


def _sorted_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``table`` (no NaN) in lexicographic order (first column first) and each row's kind, by
    one lexsort: a new kind starts wherever a sorted row differs from the one before."""
    order = np.lexsort(table.T[::-1])
    ranked = table[order]
    new = np.empty(len(ranked), dtype=bool)
    new[0] = True
    np.any(ranked[1:] != ranked[:-1], axis=1, out=new[1:])
    kind_of_row = np.empty(len(ranked), dtype=np.int64)
    kind_of_row[order] = np.cumsum(new) - 1
    return ranked[new], kind_of_row


def _cell_sums(kinds: np.ndarray, kind_of_item: np.ndarray, strata: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, K) sums of a stratified bootstrap drawn as counts over cells, never as rows.

    A stratum s of n_s items, n_sk of them of kind k (single-label: the predicted class, or the joint cell of
    several models' predictions), resampled with replacement holds Multinomial(n_s, n_sk / n_s) items of each
    kind, which is how :func:`_index_chunks` counts its rows too (the same distribution, not the same numbers).
    Drawn from ``default_rng(seed)`` stratum by stratum (codes ascending), each stratum's ``n_boot`` rows in
    order (``multinomial(n_s, shares, size=rows)``, chunks of :func:`_chunk_rows` rows: the draws do not depend
    on the chunking); a stratum of one kind is the same in every resample. Cost: n_boot x cells, not items.
    """
    n_kinds = len(kinds)
    cells = np.bincount(strata * n_kinds + kind_of_item, minlength=(int(strata.max(initial=0)) + 1) * n_kinds)
    rng, sums = np.random.default_rng(seed), np.zeros((n_boot, kinds.shape[1]))
    for row in cells.reshape(-1, n_kinds):
        present = np.flatnonzero(row)
        size = int(row.sum())
        if len(present) == 1:
            sums += size * kinds[present[0]]
        elif len(present) > 1:
            shares, cell_stats = row[present] / size, kinds[present]
            chunk = _chunk_rows(len(present))
            for start in range(0, n_boot, chunk):
                rows = min(chunk, n_boot - start)
                draws = rng.multinomial(size, shares, size=rows)
                sums[start : start + rows] += np.einsum("bk,kd->bd", draws, cell_stats)  # few cells: no BLAS
    return sums


def _resampled_sums(
    item_stats: np.ndarray,
    n_boot: int,
    seed: int,
    indices: np.ndarray | None,
    strata: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    cells: bool = False,
) -> np.ndarray:
    """(n_boot, K) sums of per-item statistics (n, K) over each resample (:func:`_index_chunks`).

    ``cells``: the statistics are a function of each item's confusion cell (single-label tp / fp / fn
    contributions, of one model or side by side for several): a stratified draw without ``indices`` is then
    drawn as counts over the cells of each stratum (:func:`_cell_sums`) instead of rows.

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
    if cells and strata is not None and indices is None:
        check_ceiling("bootstrap_cells", n_boot * n_items, f"{n_boot:,} bootstrap resamples of {n_items:,} items")
        return _cell_sums(kinds, kind_of_item, np.asarray(strata, dtype=np.int64), n_boot, seed)
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
        return np.concatenate([*parts, np.ones((len(t), 1), dtype=bool)], axis=1).astype(float)
    true, pred = prepared.true, prepared.pred
    out = np.zeros((len(true), 3 * size + 1))
    out[np.arange(len(true)), np.where(true == pred, true, 2 * size + true)] = 1.0  # tp if right, else fn
    wrong = np.flatnonzero(true != pred)
    out[wrong, size + pred[wrong]] = 1.0  # fp of the predicted class
    out[:, 3 * size] = 1.0
    return out


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
    (one matrix shared by several models: paired comparisons; :func:`voxpop.evaluation.significance.
    paired_distributions` pairs models without one). A metric name (:func:`score` names or ``"f1[class]"``)
    is computed vectorised and averaged over the classes present in the whole set: a resample's tp/fp/fn
    are the sums of its items' contributions. On a single-label set such a metric is a function of the
    confusion matrix, so a seeded resample is drawn as counts: per true class c, the numbers of its n_c
    items predicted as each class are Multinomial(n_c, the set's shares of those predictions), which is
    the distribution of counting n_c rows drawn with replacement (:func:`_cell_sums`; cost n_boot x C^2,
    not n_boot x n). With ``indices`` or on multi-label sets the rows are counted, one bincount per chunk
    of resamples. A callable ``metric(y_true_sub, y_pred_sub)`` is evaluated in a loop on rows drawn as
    :func:`resample_indices` draws them (pandas inputs resampled with ``iloc``).

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
    sums = _resampled_sums(_item_contributions(prepared), n_boot, seed, indices, strata, codes, cells=True)
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
