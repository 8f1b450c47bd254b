"""Run a study's stages in parallel on Dask distributed: a ``LocalCluster`` of processes, or an existing cluster.

Every stage is one Dask task keyed by its cache directory name (``<kind>-<key>``), submitted with its
input stages' tasks as dependencies; a pending features stage is split into one shard task per worker
(shards s with s mod N == I, :func:`voxpop.stages.extract_shard`) that run before it. A task runs the
stage through :class:`voxpop.execution.StageRunner`, which writes its outputs into the shared cache
and marks them done atomically (:mod:`voxpop.cache`), so a worker killed mid-task costs only that
task: Dask runs it again on another worker (``distributed.scheduler.allowed-failures``), and a task
that raised an unexpected error is retried :data:`RETRIES` times. Errors of voxpop's own
(:class:`~voxpop.errors.VoxpopError`: bad input, a failed check) are not retried: they are raised here.

Tasks run code on the cluster's workers and the cluster sends results back with cloudpickle: connect
only to clusters you control (docs/scaling.md), over TLS with a ``distributed.security.Security``.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voxpop.cache import Cache, Stage
from voxpop.errors import ConfigError, VoxpopError

if TYPE_CHECKING:
    from voxpop.execution import StageRunner
    from voxpop.study import Plan, Reporter

GB_PER_WORKER = 1.0
"""Free memory (GB) each local worker process is given: the default worker count is capped by it."""

RETRIES = 2
"""How often a task that raised an unexpected error is run again (killed workers: Dask's allowed-failures)."""

START_TIMEOUT = 600.0
"""Seconds the workers of a local cluster may take to start (:func:`planned_workers`)."""


def default_workers() -> int:
    """Usable cores (the CPU affinity of this process), capped by free memory at :data:`GB_PER_WORKER` each; >= 1."""
    import psutil

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    free = psutil.virtual_memory().available / 1e9
    return max(1, min(cores, int(free // GB_PER_WORKER)))


def security_from_files(ca_file: Path | None, cert: Path | None, key: Path | None) -> Any:
    """A ``distributed.security.Security`` requiring TLS with these PEM files, or None when none is given.

    Raises :class:`ConfigError` when only some of the three are given or a file is missing.
    """
    given = {"--tls-ca-file": ca_file, "--tls-cert": cert, "--tls-key": key}
    if not any(given.values()):
        return None
    missing = [flag for flag, path in given.items() if path is None or not Path(path).is_file()]
    if missing:
        raise ConfigError(
            f"TLS needs a CA file, a certificate and its key; {', '.join(missing)} missing or not a file "
            "(or leave all three out and set Dask's distributed.comm.tls configuration instead)"
        )
    from distributed.security import Security

    return Security(
        tls_ca_file=str(ca_file), tls_client_cert=str(cert), tls_client_key=str(key), require_encryption=True
    )


PRELOAD = ("distributed", "voxpop.execution", "voxpop.demo", "voxpop.report")
"""Modules local workers start with (:func:`connect`): the stages (torch, pandas, the extractors' dependencies),
the demo corpus's synthesis (scipy.signal) and the report's figures (matplotlib)."""


LOCAL_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
"""Dask settings of local clusters. Dask starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (glibc returns
freed memory to the system at once, so Dask's memory figures are exact); that also stops glibc from raising
its mmap threshold, so every numpy array above 128 kB is mapped and faulted in afresh: measured here, the
demo corpus's synthesis took about 1.5 times the CPU seconds in a worker that it takes in-process. Without
it workers compute as fast as the main process (their memory reports count freed memory a while longer)."""


@contextlib.contextmanager
def connect(workers: int, scheduler: str | None, security: Any = None, preload: bool = False) -> Iterator[Any]:
    """A ``distributed.Client``: to the scheduler at ``scheduler``, or to a new ``LocalCluster`` of ``workers``
    single-threaded worker processes (closed afterwards).

    The local workers start in the background: this returns at once, so the caller imports and prepares
    while they start, and tasks wait for them. With ``preload`` (where the platform has it) they are forked
    from a clean ``forkserver`` process that imported :data:`PRELOAD` once, instead of each importing torch
    and the rest itself.
    """
    import dask
    from distributed import Client

    if scheduler is not None:
        with Client(scheduler, security=security) as client:
            yield client
        return
    method = "forkserver" if preload and "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    with dask.config.set({"distributed.worker.multiprocessing-method": method, **LOCAL_CONFIG}):
        if method == "forkserver":
            from distributed.utils import get_mp_context

            get_mp_context().set_forkserver_preload(list(PRELOAD))
        with _local_client(workers) as client:
            yield client


@contextlib.contextmanager
def _local_client(workers: int) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=0,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        cluster.scale(workers)  # returns at once; the workers register while this process goes on
        yield client


def planned_workers(client: Any, timeout: float = START_TIMEOUT) -> int:
    """How many workers ``client``'s cluster has, waiting for the workers of a local cluster still starting.

    Raises :class:`VoxpopError` when they have not all started after ``timeout`` seconds.
    """
    cluster = getattr(client, "cluster", None)
    if cluster is not None:
        try:
            client.wait_for_workers(len(cluster.worker_spec), timeout=timeout)
        except TimeoutError:
            raise VoxpopError(
                f"the local Dask cluster did not start its {len(cluster.worker_spec)} worker processes within "
                f"{timeout:.0f} s (out of memory or processes?); run with fewer --workers, or --workers 1"
            ) from None
    return max(1, len(client.scheduler_info(n_workers=-1)["workers"]))


def cluster_map(client: Any) -> Callable[[Callable, Iterable], Iterator]:
    """A ``map(function, values)`` that submits one Dask task per value to ``client``'s workers at once and
    yields the results in order, each as soon as it and those before it are done (for pure functions of their
    value: the demo corpus's clips, the report's figures).

    Raises the error of the first task (in order) that raised one.
    """

    def map_function(function: Callable, values: Iterable) -> Iterator:
        values = list(values)
        for future in client.map(function, values, pure=False) if values else []:
            yield future.result()

    return map_function


def _outcome(cache: Cache, notices: list[str], error: VoxpopError | None = None) -> dict[str, Any]:
    return {
        "executed": cache.executed,
        "reused": cache.reused,
        "repaired": cache.repaired,
        "notices": notices,
        "error": error,
    }


def stage_task(runner: StageRunner, stage: Stage, *dependencies: Any) -> dict[str, Any]:
    """Run one stage on a worker (its inputs are done: ``dependencies`` are their tasks' outcomes).

    Returns what the cache did (stage labels executed / reused / repaired), the notices it printed, and
    a :class:`VoxpopError` it raised (returned, so Dask does not retry it).
    """
    notices: list[str] = []
    cache = runner.open_cache(notices.append)
    try:
        runner.run(stage, cache, {})
    except VoxpopError as exc:
        return _outcome(cache, notices, exc)
    return _outcome(cache, notices)


def shard_task(runner: StageRunner, stage: Stage, shard: tuple[int, int], *dependencies: Any) -> dict[str, Any]:
    """Extract shard ``(I, N)`` of a features stage into the feature store (before the stage task itself)."""
    from voxpop import stages as st
    from voxpop.execution import fixed_threads, kill_hook

    notices: list[str] = []
    cache = runner.open_cache(notices.append)
    try:
        kill_hook(stage)
        with fixed_threads(runner.threads):
            st.extract_shard(runner.items(cache, {}), stage.config, runner.store, shard)
    except VoxpopError as exc:
        return _outcome(cache, notices, exc)
    return _outcome(cache, notices)


def where(stage: Stage, workers: int, scheduler: str | None) -> str:
    """Where a stage would run: in this process, on the local cluster or on the given scheduler, with its resources."""
    from voxpop import stages as st

    place = (
        f"cluster {scheduler}"
        if scheduler
        else ("in-process" if workers == 1 else f"local cluster ({workers} worker processes)")
    )
    resources = st.kind_of(stage).resources(stage.config)
    return place + "".join(f", needs {name} x{count}" for name, count in resources.items())


def check_resources(stages: list[Stage], offered: list[dict[str, float]], cache: Cache) -> None:
    """Raise :class:`ConfigError` when a pending stage needs resources (``{"GPU": 2}``) no worker offers, so
    the run stops at once instead of waiting forever; ``offered`` holds each worker's resources."""
    from voxpop import stages as st

    for stage in stages:
        needs = st.kind_of(stage).resources(stage.config)
        if needs and not cache.is_done(stage) and not any(
            all(worker.get(name, 0) >= count for name, count in needs.items()) for worker in offered
        ):
            wanted = ", ".join(f"{name} x{count}" for name, count in needs.items())
            raise ConfigError(
                f"stage '{stage.label}' needs {wanted} on one worker and no worker of the cluster offers it; start "
                "workers with e.g. 'dask worker ... --resources GPU=1', or run with --workers 1 (docs/scaling.md)"
            )


def run_plan(plan: Plan, runner: StageRunner, cache: Cache, reporter: Reporter, client: Any) -> None:
    """Run every stage of ``plan`` as Dask tasks through ``client`` (see the module docstring); the main
    ``cache`` records what ran (``executed`` / ``reused`` / ``repaired``) and ``reporter`` shows stages
    done / running / waiting.

    Raises the first :class:`VoxpopError` a stage raised (the other tasks are cancelled).
    """
    from distributed import as_completed

    from voxpop import stages as st

    n_workers = planned_workers(client)
    info = client.scheduler_info(n_workers=-1)["workers"]
    check_resources(plan.order, [worker.get("resources", {}) for worker in info.values()], cache)
    shared = client.scatter(runner, broadcast=True, hash=False)
    futures: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for stage in plan.order:
        dependencies = [futures[s.key] for s in stage.inputs]
        resources = st.kind_of(stage).resources(stage.config) or None
        if stage.kind == "features" and not cache.is_done(stage):
            inputs = list(dependencies)
            for index in range(n_workers):
                shard = (index, n_workers)
                key = f"{stage.name}-shard-{index}-of-{n_workers}"
                options = {"key": key, "resources": resources, "retries": RETRIES, "pure": False}
                dependencies.append(client.submit(shard_task, shared, stage, shard, *inputs, **options))
        options = {"key": stage.name, "resources": resources, "retries": RETRIES, "pure": False}
        futures[stage.key] = client.submit(stage_task, shared, stage, *dependencies, **options)
        labels[stage.name] = stage.label
    total = len(futures)
    for done, (future, outcome) in enumerate(as_completed(list(futures.values()), with_results=True), start=1):
        for notice in outcome["notices"]:
            reporter.notice(notice)
        if outcome["error"] is not None:
            client.cancel(list(futures.values()))
            raise outcome["error"]
        cache.executed += outcome["executed"]
        cache.reused += outcome["reused"]
        cache.repaired += outcome["repaired"]
        running = sum(key in labels for keys in client.processing().values() for key in keys)
        reporter.stage(
            f"{labels[future.key]} | done {done}, running {running}, waiting {total - done - running}",
            done,
            total,
            bool(outcome["reused"]),
        )


def dry_run(recipe: Any, out_dir: Path, workers: int, scheduler: str | None, source: str = "recipe") -> list[dict]:
    """The plan of ``recipe`` in ``out_dir`` without computing anything: one row per stage with its ``stage``
    label, ``kind``, ``status`` (cached / pending) and ``where`` it would run (:func:`where`).

    The corpus is built in this process before the rest; while it is pending the stages after it cannot
    be named yet (their keys depend on the built corpus) and only the corpus row is given.
    """
    from voxpop.study import Reporter, check_recipe, corpus_source, plan_study, prepare_corpus

    cache = Cache(out_dir / "cache", inside=out_dir)
    stage, _ = corpus_source(recipe)
    rows = []
    if stage is not None:
        status = "cached" if cache.is_done(stage) else "pending"
        rows.append({"stage": stage.label, "kind": stage.kind, "status": status, "where": "in-process"})
        if status == "pending":
            return rows
    corpus, corpus_key = prepare_corpus(recipe, cache, Reporter(), source)
    check_recipe(recipe, corpus, source)
    for stage in plan_study(recipe, corpus_key).order:
        status = "cached" if cache.is_done(stage) else "pending"
        place = where(stage, workers, scheduler)
        if stage.kind == "features" and status == "pending" and (workers > 1 or scheduler):
            place += ", split into one shard task per worker"
        rows.append({"stage": stage.label, "kind": stage.kind, "status": status, "where": place})
    return rows
