"""Run one stage of a study: load its inputs, compute it through the cache with a fixed thread count.

The same :class:`StageRunner` runs every stage in-process (``--workers 1``) and inside Dask workers
(:mod:`voxpop.study.scheduler`), so both modes compute the same numbers: a stage's inputs are its input
stages' outputs as loaded from the cache, and each stage computes with :attr:`StageRunner.threads`
threads for torch and the BLAS libraries (:func:`fixed_threads`), so float reductions run in the same
order. Seeds come from the recipe (the stage config), never from the order stages run in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from voxpop.core.cache import Cache, Stage
from voxpop.core.cache_visibility import CacheToken
from voxpop.core.errors import VoxpopError
from voxpop.core.limits import check_ceiling
from voxpop.core.progress import Step, inner_progress
from voxpop.corpus import Corpus
from voxpop.labels.segments import on_segments
from voxpop.study import stage_kinds

KILL_HOOK = "VOXPOP_TEST_KILL_STAGE"
"""Test-only hook: ``KIND:MARKER`` makes the process running the first stage of kind KIND exit (``os._exit(1)``)
before computing it, once: when the file MARKER does not exist it is created first (the retry then runs)."""


class StageError(VoxpopError):
    """A stage failed; the message names the stage and its cache directory, the cause is chained."""


@contextlib.contextmanager
def fixed_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` threads for torch (intra-op) and for the BLAS / OpenMP pools
    (:func:`blas_threads`); the previous settings are restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with blas_threads(threads):
            yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def blas_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` threads in the BLAS / OpenMP pools (``threadpoolctl``), without importing
    torch: for numpy, scikit-learn and crowd-kit code (the pre-flight check's label sets). Raises
    :class:`~voxpop.core.errors.ConfigError` for more threads than the ceiling ``threads``
    (:mod:`voxpop.core.limits`)."""
    from threadpoolctl import threadpool_limits

    check_ceiling("threads", threads, "--threads (CPU threads of every stage)")

    with threadpool_limits(limits=threads):
        yield


def kill_hook(stage: Stage) -> None:
    """The test-only worker kill of :data:`KILL_HOOK` (does nothing when the variable is unset)."""
    kind, _, marker = os.environ.get(KILL_HOOK, "").partition(":")
    if kind != stage.kind or not marker:
        return
    try:
        Path(marker).open("x").close()
    except FileExistsError:
        return
    os._exit(1)


def run_stage(cache: Cache, stage: Stage, compute: Callable[[Path], None], load: Callable[[Path], Any]) -> Any:
    """Run ``stage`` through the cache and load its outputs.

    Outputs of a reused stage that fail to load (damage the cheap size / modification-time check cannot
    see, such as a feature store changed behind the stage) make the stage recompute, with a notice.
    """
    reused = len(cache.reused)
    directory = cache.run(stage, compute)
    if len(cache.reused) == reused:
        return load(directory)
    try:
        return load(directory)
    except Exception as exc:  # any failure to read reused outputs means they are damaged: recompute them
        cache.reused.pop()
        cache.discard(stage, f"its outputs could not be read ({type(exc).__name__}: {exc})")
        return load(cache.run(stage, compute))


@dataclasses.dataclass
class StageRunner:
    """Everything a stage needs besides its inputs; picklable, so Dask sends it to its workers.

    ``cache_root`` / ``inside`` locate the stage cache (:class:`~voxpop.core.cache.Cache`), ``corpus`` is the
    study's corpus, ``store`` the feature store root, ``imported`` fusion's prediction files, ``segments``
    the segment-corpus stage (interval label sets) or None, ``threads`` the threads of every stage and
    ``cache_token`` the token a Dask worker reads before each stage to show it sees the cache (set by
    :func:`voxpop.study.scheduler.run_plan`).
    """

    cache_root: Path
    inside: Path
    corpus: Corpus
    store: Path
    imported: Mapping[str, str]
    segments: Stage | None = None
    threads: int = 1
    cache_token: CacheToken | None = None

    def open_cache(self, notice: Callable[[str], None] | None = None) -> Cache:
        return Cache(self.cache_root, notice=notice, inside=self.inside)

    def check_sees_cache(self) -> None:
        """On a Dask worker, before a stage: raise ConfigError when this worker does not see the cache folder
        (:meth:`voxpop.core.cache_visibility.CacheToken.require_seen`; no check in a run without workers)."""
        if self.cache_token is not None:
            self.cache_token.require_seen()

    def output(self, stage: Stage, cache: Cache, loaded: dict[str, Any], consumer: Stage | None = None) -> Any:
        """``stage``'s outputs as ``consumer`` reads them (memoised in ``loaded``, read from the cache when absent).

        Interval label sets are read on the segments (:func:`voxpop.labels.segments.on_segments`) by every stage
        but the segments stage itself.
        """
        if stage.key not in loaded:
            loaded[stage.key] = stage_kinds.kind_of(stage).load(cache.directory(stage))
        value = loaded[stage.key]
        segments = self.segments
        if segments is None or consumer is segments or stage.key not in {s.key for s in segments.inputs}:
            return value
        view = ("on segments", stage.key)
        if view not in loaded:
            loaded[view] = on_segments(value, self.output(segments, cache, loaded))
        return loaded[view]

    def items(self, cache: Cache, loaded: dict[str, Any]) -> Corpus:
        """The corpus of the items models see: the segment corpus when the study has one."""
        return self.corpus if self.segments is None else self.output(self.segments, cache, loaded)

    def run(
        self,
        stage: Stage,
        cache: Cache,
        loaded: dict[str, Any],
        progress: Step | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> Any:
        """Compute ``stage`` unless the cache holds it; returns its loaded outputs (also kept in ``loaded``).

        ``progress(done, total, unit)`` receives the computation's inner progress: its own count in its kind's
        unit (``items``, ``folds``) and what code deep inside reports through
        :func:`voxpop.core.progress.report_inner` (``epochs`` of each fold). ``notice`` receives the computation's
        run-log lines (a features stage reusing a complete store entry).

        Raises :class:`StageError` naming the stage and its directory when the computation fails.
        """
        kind = stage_kinds.kind_of(stage)
        counted = None if progress is None else lambda done, total: progress(done, total, kind.unit)

        def compute(directory: Path) -> None:
            kill_hook(stage)
            inputs = [self.output(s, cache, loaded, consumer=stage) for s in stage.inputs]
            items = self.items(cache, loaded) if kind.reads_items else self.corpus
            context = stage_kinds.Context(self.corpus, items, self.store, self.imported, counted, notice)
            with fixed_threads(self.threads), inner_progress(progress):
                kind.compute(stage, inputs, context, directory)

        try:
            loaded[stage.key] = run_stage(cache, stage, compute, kind.load)
        except VoxpopError as exc:
            raise StageError(f"stage '{stage.label}' ({cache.directory(stage)}): {exc}") from exc
        return loaded[stage.key]
