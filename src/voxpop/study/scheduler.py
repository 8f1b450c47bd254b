"""Run a study's stages in parallel on Dask distributed: a ``LocalCluster`` of processes, or an existing cluster.

Every stage is one Dask task keyed by its cache directory name (``<kind>-<key>``), submitted with its
input stages' tasks as dependencies; a pending features stage is split into one shard task per worker
(shards s with s mod N == I, :func:`voxpop.study.stages.extract_shard`) that run before it. A task runs the
stage through :class:`voxpop.study.execution.StageRunner`, which writes its outputs into the shared cache
and marks them done atomically (:mod:`voxpop.core.cache`), so a worker killed mid-task costs only that
task: Dask runs it again on another worker (``distributed.scheduler.allowed-failures``), and a task
that raised an unexpected error is retried :data:`RETRIES` times. Errors of voxpop's own
(:class:`~voxpop.core.errors.VoxpopError`: bad input, a failed check) are not retried: they are raised here.

Tasks run code on the cluster's workers and the cluster sends results back with cloudpickle: connect
only to clusters you control (docs/scaling.md), over TLS with a ``distributed.security.Security``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from voxpop.core.cache import Cache, Stage
from voxpop.core.cluster import RETRIES, planned_workers
from voxpop.core.errors import ConfigError, VoxpopError

if TYPE_CHECKING:
    from voxpop.core.progress import Reporter
    from voxpop.study.execution import StageRunner
    from voxpop.study.plan import Plan

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

    Returns what the cache did (stage labels executed / reused / repaired), the notices it printed (after
    those of its shard tasks, which only reach the main process this way), and a :class:`VoxpopError` it
    raised (returned, so Dask does not retry it).
    """
    notices: list[str] = [n for d in dependencies if d.get("shard") for n in d["notices"]]
    cache = runner.open_cache(notices.append)
    try:
        runner.run(stage, cache, {})
    except VoxpopError as exc:
        return _outcome(cache, notices, exc)
    return _outcome(cache, notices)


def shard_task(runner: StageRunner, stage: Stage, shard: tuple[int, int], *dependencies: Any) -> dict[str, Any]:
    """Extract shard ``(I, N)`` of a features stage into the feature store (before the stage task itself)."""
    from voxpop.study import stages as st
    from voxpop.study.execution import fixed_threads, kill_hook

    notices: list[str] = []
    cache = runner.open_cache(notices.append)
    try:
        kill_hook(stage)
        with fixed_threads(runner.threads):
            st.extract_shard(runner.items(cache, {}), stage.config, runner.store, shard, notices.append)
    except VoxpopError as exc:
        return {**_outcome(cache, notices, exc), "shard": True}
    return {**_outcome(cache, notices), "shard": True}


def where(stage: Stage, workers: int, scheduler: str | None) -> str:
    """Where a stage would run: in this process, on the local cluster or on the given scheduler, with its resources."""
    from voxpop.study import stage_kinds

    place = (
        f"cluster {scheduler}"
        if scheduler
        else ("in-process" if workers == 1 else f"local cluster ({workers} worker processes)")
    )
    resources = stage_kinds.kind_of(stage).resources(stage.config)
    return place + "".join(f", needs {name} x{count}" for name, count in resources.items())


def check_resources(stages: list[Stage], offered: list[dict[str, float]], cache: Cache) -> None:
    """Raise :class:`ConfigError` when a pending stage needs resources (``{"GPU": 2}``) no worker offers, so
    the run stops at once instead of waiting forever; ``offered`` holds each worker's resources."""
    from voxpop.study import stage_kinds

    for stage in stages:
        needs = stage_kinds.kind_of(stage).resources(stage.config)
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

    from voxpop.study import stage_kinds

    n_workers = planned_workers(client)
    info = client.scheduler_info(n_workers=-1)["workers"]
    check_resources(plan.order, [worker.get("resources", {}) for worker in info.values()], cache)
    shared = client.scatter(runner, broadcast=True, hash=False)
    futures: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for stage in plan.order:
        dependencies = [futures[s.key] for s in stage.inputs]
        resources = stage_kinds.kind_of(stage).resources(stage.config) or None
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
