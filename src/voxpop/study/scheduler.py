"""Run a study's stages in parallel on Dask distributed: a ``LocalCluster`` of processes, or an existing cluster.

Every stage is one Dask task keyed by its cache directory name (``<kind>-<key>``), submitted with its
input stages' tasks as dependencies; a pending features stage is split into one shard task per worker
(shards s with s mod N == I, :func:`voxpop.study.stages.extract_shard`) that run before it. A task runs the
stage through :class:`voxpop.study.execution.StageRunner`, which writes its outputs into the shared cache
and marks them done atomically (:mod:`voxpop.core.cache`), so a worker killed mid-task costs only that
task: Dask runs it again on another worker (``distributed.scheduler.allowed-failures``), and a task
that raised an unexpected error is retried :data:`RETRIES` times. Errors of voxpop's own
(:class:`~voxpop.core.errors.VoxpopError`: bad input, a failed check) are not retried: they are raised here.
What Dask does not rerun, :func:`run_plan` submits again (:data:`RESUBMITS` times per stage): tasks the
scheduler cancelled because every worker holding the runner left (all jobs of a batch cluster cancelled; Dask
cannot recompute scattered data) and tasks that ended in ``KilledWorker``.

Tasks run code on the cluster's workers and the cluster sends results back with cloudpickle: connect
only to clusters you control (docs/scaling.md), over TLS with a ``distributed.security.Security``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voxpop.core.cache import Cache, Stage
from voxpop.core.cache_visibility import cache_token, check_workers_see
from voxpop.core.cluster import RETRIES, START_TIMEOUT, planned_workers
from voxpop.core.errors import ConfigError, VoxpopError

if TYPE_CHECKING:
    from voxpop.core.progress import Reporter
    from voxpop.study.execution import StageRunner
    from voxpop.study.plan import Plan

POLL = 1.0
"""Seconds between two looks at the scheduler's tasks (which stages run now) while the plan runs."""


def _outcome(
    cache: Cache, notices: list[str], error: VoxpopError | None = None, seconds: float = 0.0
) -> dict[str, Any]:
    return {
        "executed": cache.executed,
        "reused": cache.reused,
        "repaired": cache.repaired,
        "notices": notices,
        "error": error,
        "seconds": seconds,
    }


def stage_task(runner: StageRunner, stage: Stage, *dependencies: Any) -> dict[str, Any]:
    """Run one stage on a worker (its inputs are done: ``dependencies`` are their tasks' outcomes).

    Returns what the cache did (stage labels executed / reused / repaired), the notices it printed (after
    those of its shard tasks, which only reach the main process this way), and a :class:`VoxpopError` it
    raised (returned, so Dask does not retry it).
    """
    notices: list[str] = [n for d in dependencies if d.get("shard") for n in d["notices"]]
    cache = runner.open_cache(notices.append)
    started = time.monotonic()
    try:
        runner.check_sees_cache()
        runner.run(stage, cache, {})
    except VoxpopError as exc:
        return _outcome(cache, notices, exc)
    return _outcome(cache, notices, seconds=time.monotonic() - started)


def shard_task(runner: StageRunner, stage: Stage, shard: tuple[int, int], *dependencies: Any) -> dict[str, Any]:
    """Extract shard ``(I, N)`` of a features stage into the feature store (before the stage task itself)."""
    from voxpop.study import stages as st
    from voxpop.study.execution import fixed_threads, kill_hook

    notices: list[str] = []
    cache = runner.open_cache(notices.append)
    try:
        runner.check_sees_cache()
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


def run_plan(plan: Plan, runner: StageRunner, cache: Cache, reporter: Reporter, client: Any, first: int = 0) -> None:
    """Run every stage of ``plan`` as Dask tasks through ``client`` (see the module docstring); the main
    ``cache`` records what ran (``executed`` / ``reused`` / ``repaired``, each stage once) and ``reporter`` gets
    the stages' events: ``stage`` when a worker executes a stage's task (or a shard of it; :func:`executing`,
    polled every :data:`POLL` seconds), or when a stage is found done, and ``finish`` with its wall time. Inner
    progress (items, folds) stays on the workers: the display shows the running stages and their elapsed time.

    The stages run in rounds: a round submits every stage not finished yet and gathers their tasks until each
    has finished or was lost (:func:`stage_result`: cancelled because the workers holding its inputs left, e.g.
    every job of a batch cluster was cancelled, or Dask's ``KilledWorker``); the next round submits the lost
    ones again under new task keys, at most :data:`RESUBMITS` times per stage. Finished stages are never
    submitted again (their outputs are done in the cache, which their dependents read).

    Args:
        plan: the study's plan; runner: its stage runner; cache: the stage cache; reporter: progress events;
        client: a connected ``distributed.Client``; first: stages of the run before the plan's (the corpus stage),
            so positions count from ``first + 1`` of ``first + len(plan.order)``.

    Raises:
        ConfigError: a worker that does not see the cache folder: before any stage
            (:func:`voxpop.core.cache_visibility.check_workers_see`), or a worker that joined later, before it runs
            a stage (:meth:`~voxpop.core.cache_visibility.CacheToken.require_seen`);
            or a stage needing resources no worker offers (:func:`check_resources`), before any stage runs.
        VoxpopError: the first one a stage raised (the other tasks are cancelled); a stage lost more than
            :data:`RESUBMITS` times, or every worker lost and none back within
            :data:`~voxpop.core.cluster.START_TIMEOUT` seconds (:class:`StageSubmitter`).
    """
    n_workers = planned_workers(client)
    with cache_token(Path(runner.cache_root)) as token:
        check_workers_see(client, token)
        info = client.scheduler_info(n_workers=-1)["workers"]
        check_resources(plan.order, [worker.get("resources", {}) for worker in info.values()], cache)
        submitter = StageSubmitter(client, dataclasses.replace(runner, cache_token=token), cache, n_workers)
        events = _Events(reporter, first + len(plan.order), first)
        finished: set[str] = set()  # keys of the stages whose outcome was gathered
        while len(finished) < len(plan.order):
            futures = submitter.submit([stage for stage in plan.order if stage.key not in finished])
            lost = _gather(futures, submitter, cache, reporter, events, finished)
            for stage, cause in lost:
                submitter.count_loss(stage, cause)
                count = submitter.losses[stage.key]
                reporter.notice(f"stage '{stage.label}' was lost: {cause}; submitted again ({count} of {RESUBMITS})")


def _gather(
    futures: list[Any], submitter: StageSubmitter, cache: Cache, reporter: Reporter, events: _Events, finished: set[str]
) -> list[tuple[Stage, str]]:
    """Gather one round's stage ``futures`` as they end: record the outcomes of those that finished (their
    stage keys added to ``finished``) and return the stages whose task was lost, each with its cause.

    Raises the first error a stage returned (cancelling the other tasks), or the unexpected exception a task
    raised after its retries."""
    from distributed import as_completed

    client, stage_of = submitter.client, submitter.stage_of
    lost: list[tuple[Stage, str]] = []
    completed = as_completed(futures)
    while not completed.is_empty():
        for future in completed.next_batch(block=False) if completed.has_ready() else ():
            stage = stage_of[future.key]
            outcome, cause = stage_result(future)  # a task's unexpected exception, after its retries, is raised here
            if outcome is None:
                lost.append((stage, str(cause)))
                continue
            for notice in outcome["notices"]:
                reporter.notice(notice)
            if outcome["error"] is not None:
                client.cancel(futures)
                raise outcome["error"]
            known = set(cache.executed)  # the check built label sets through their stages: counted once
            cache.executed += outcome["executed"]
            cache.reused += [label for label in outcome["reused"] if label not in known]
            cache.repaired += outcome["repaired"]
            finished.add(stage.key)
            events.finished(stage, outcome, cache.seconds.get(stage.name))
        running = executing(client)
        for key in sorted(set(running) & set(stage_of)):
            submitter.seen_on[stage_of[key].key] = running[key]
            events.started(stage_of[key])
        if not completed.is_empty():
            time.sleep(POLL)
    return lost


def stage_result(future: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The outcome of a done stage task (:func:`stage_task`), or None with why the task was lost.

    A task is lost when the scheduler cancelled it (``FutureCancelledError``: data it depends on is gone, such as
    the stage runner scattered to workers whose jobs were all cancelled) or when it failed with Dask's
    ``KilledWorker`` (the workers running it, or a task it depends on, died more than
    ``distributed.scheduler.allowed-failures`` times). An exception the task itself raised is no loss.

    Args:
        future: a done ``distributed.Future`` of a stage task.

    Returns:
        ``(outcome, None)``, or ``(None, cause)`` with a short cause such as ``"cancelled (lost dependencies)"``.

    Raises:
        Exception: the unexpected exception the task raised (after Dask's retries), as it was raised.
    """
    from distributed import CancelledError, KilledWorker

    try:
        return future.result(), None
    except CancelledError as exc:  # FutureCancelledError, with the scheduler's reason
        return None, f"cancelled ({getattr(exc, 'reason', 'unknown')})"
    except KilledWorker as exc:
        task, _, allowed = exc.args
        return None, f"KilledWorker (workers died running task {task} more than {allowed} times)"


RESUBMITS = 3
"""How often a stage whose task was lost (:func:`stage_result`: cancelled with the workers of every cancelled job, or
``KilledWorker``) is submitted again before the run stops with an error naming it; a stage that raised an
error is never submitted again (voxpop's own errors stop the run, others are retried by Dask
:data:`~voxpop.core.cluster.RETRIES` times)."""


class StageSubmitter:
    """Submits a study's stages to a Dask cluster in rounds (:func:`run_plan`) and counts the losses of each.

    Every round's tasks get fresh keys (``<kind>-<key>`` in the first round, then ``<kind>-<key>-resubmitted-<n>``
    after the stage's n-th loss); the stage runner is scattered to the workers again when it was lost with them.

    Args:
        client: a connected ``distributed.Client``; runner: the stage runner; cache: the stage cache;
        n_workers: the workers planned, so the shards of each feature extraction.
    """

    def __init__(self, client: Any, runner: StageRunner, cache: Cache, n_workers: int) -> None:
        self.client, self.runner, self.cache, self.n_workers = client, runner, cache, n_workers
        self.shared: Any = None  # the runner's future on the workers
        self.stage_of: dict[str, Stage] = {}  # task key (a stage's, or one of its shards') -> stage
        self.losses: dict[str, int] = {}  # stage key -> times its task was lost
        self.seen_on: dict[str, str] = {}  # stage key -> the worker last seen executing a task of it

    def submit(self, stages: list[Stage]) -> list[Any]:
        """Submit a round: a task per stage of ``stages`` (and one per shard of a pending feature extraction).

        Args:
            stages: the stages not finished yet, in plan order; an input not among them is done in the cache and
                is no dependency (so a finished stage is never submitted again).

        Returns:
            The futures of the stages' own tasks, in the order of ``stages``.

        Raises:
            VoxpopError: the runner must be scattered again and no worker came within ``START_TIMEOUT`` s.
        """
        self._share()
        futures: dict[str, Any] = {}
        for stage in stages:
            suffix = f"-resubmitted-{self.losses[stage.key]}" if self.losses.get(stage.key) else ""
            dependencies = [futures[s.key] for s in stage.inputs if s.key in futures]
            if stage.kind == "features" and not self.cache.is_done(stage):
                inputs = list(dependencies)
                for index in range(self.n_workers):
                    key = f"{stage.name}-shard-{index}-of-{self.n_workers}{suffix}"
                    shard = (index, self.n_workers)
                    options = task_options(stage, key)
                    dependencies.append(self.client.submit(shard_task, self.shared, stage, shard, *inputs, **options))
                    self.stage_of[key] = stage
            options = task_options(stage, stage.name + suffix)
            futures[stage.key] = self.client.submit(stage_task, self.shared, stage, *dependencies, **options)
            self.stage_of[stage.name + suffix] = stage
        return list(futures.values())

    def _share(self) -> None:
        """Scatter the runner to every worker, unless the copy scattered before is still held by one (Dask cannot
        recompute scattered data: when every worker holding it left, it is scattered again once a worker is up)."""
        if self.shared is not None and self.shared.status == "finished":
            return
        if self.shared is not None:
            try:
                self.client.wait_for_workers(1, timeout=START_TIMEOUT)
            except TimeoutError:
                raise VoxpopError(
                    f"every Dask worker of the run was lost and none came back within {START_TIMEOUT:.0f} s; check the "
                    "queue and the jobs' logs (squeue, sacct; log_directory of the --cluster profile), then run the "
                    "same command again: the stages that finished are kept in the cache"
                ) from None
        self.shared = self.client.scatter(self.runner, broadcast=True, hash=False)

    def count_loss(self, stage: Stage, cause: str) -> None:
        """Count a loss of ``stage``'s task; raise :class:`VoxpopError` naming the stage, its cause and the worker
        last seen running it once it was lost more than :data:`RESUBMITS` times."""
        self.losses[stage.key] = self.losses.get(stage.key, 0) + 1
        if self.losses[stage.key] <= RESUBMITS:
            return
        worker = self.seen_on.get(stage.key, "none seen")
        raise VoxpopError(
            f"stage '{stage.label}' ({self.cache.directory(stage)}) was lost {self.losses[stage.key]} times, last "
            f"{cause}; worker last seen running it: {worker}. Its workers died or their jobs were cancelled each "
            "time: check the jobs' logs and walltime (log_directory and walltime of the --cluster profile; squeue, "
            "sacct) or the worker's memory, then run the same command again: the stages that finished are kept in "
            "the cache"
        )


def task_options(stage: Stage, key: str) -> dict[str, Any]:
    """The ``client.submit`` options of a task of ``stage`` (the stage's own, or one of its shards) keyed ``key``:
    the Dask resources the stage needs (``{"GPU": 1}`` for a model trained on a GPU,
    :mod:`voxpop.study.stage_kinds`; None: any worker), so it runs only on a worker that offers them (``dask worker
    --resources GPU=1``, a ``--cluster`` profile's ``gpus``), and :data:`~voxpop.core.cluster.RETRIES`.

    >>> task_options(Stage("train", "t", {"model": {"train": {"accelerator": "gpu"}}}), "train-1")["resources"]
    {'GPU': 1}
    """
    from voxpop.study import stage_kinds

    resources = stage_kinds.kind_of(stage).resources(stage.config) or None
    return {"key": key, "resources": resources, "retries": RETRIES, "pure": False}


def executing(client: Any) -> dict[str, str]:
    """The keys of the tasks the cluster's workers are executing now (not those only queued on a worker), each
    with the address of its worker; a worker that cannot answer (it died) executes nothing."""

    def keys(dask_worker: Any) -> list[str]:
        return [str(task.key) for task in dask_worker.state.executing]

    listed = client.run(keys, on_error="return")  # a worker lost meanwhile (its job cancelled) answers an error
    return {key: worker for worker, keys_of in listed.items() if isinstance(keys_of, list) for key in keys_of}


class _Events:
    """The progress events of a plan run on a cluster: each stage started once, in the order the scheduler
    runs them (its position among the run's stages), then finished or reused."""

    def __init__(self, reporter: Reporter, total: int, first: int) -> None:
        self.reporter, self.total, self.count = reporter, total, first
        self.positions: dict[str, int] = {}  # stage key -> its position, once started
        self.since: dict[str, float] = {}  # stage key -> when it was seen executing (its first task)

    def started(self, stage: Stage, reused: bool = False) -> None:
        if stage.key in self.positions:
            return
        self.count += 1
        self.positions[stage.key] = self.count
        self.since[stage.key] = time.monotonic()
        self.reporter.stage(stage.label, self.count, self.total, reused)

    def finished(self, stage: Stage, outcome: dict[str, Any], earlier: float | None = None) -> None:
        """The stage's task ended: its time is from when a task of it (a feature shard) was first seen executing,
        else the worker's own measure of the stage task; ``earlier``: the seconds the stage took when this run
        computed it before the plan (by the check)."""
        if not outcome["executed"] and earlier is None and stage.key not in self.positions:
            self.started(stage, reused=True)  # found done before the scheduler was seen running it
            return
        seen = stage.key in self.positions
        self.started(stage)
        seconds = time.monotonic() - self.since[stage.key] if seen else outcome["seconds"]
        by_check = earlier is not None and not outcome["executed"]
        self.reporter.finish(stage.label, self.positions[stage.key], earlier if by_check else max(seconds, 0.0))
