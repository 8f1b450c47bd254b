"""Dask clusters for voxpop: connect to a scheduler or start a ``LocalCluster`` of worker processes that
imported voxpop's stage machinery once (:data:`PRELOAD`), the default worker count and TLS settings.

This module knows no stage: :mod:`voxpop.study.scheduler` runs a study's stages on the client it returns and
:func:`voxpop.features.extraction.fill_store_on_workers` its extraction shards.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from voxpop.core.errors import ConfigError, VoxpopError
from voxpop.core.limits import usable_cores
from voxpop.core.scheduler_address import CONNECT_TIMEOUT, check_scheduler

PRELOAD = (
    "voxpop.core.worker_signals",
    "distributed",
    "voxpop.study.execution",
    "voxpop.models.training",
    "voxpop.features.smile",
    "crowdkit.aggregation",
    "voxpop.corpus.demo",
    "voxpop.report.plots",
)
"""Modules local workers start with (:func:`connect`): first :mod:`voxpop.core.worker_signals` (they ignore Ctrl-C:
the main process stops the run), then the stages (pandas), training (torch, Lightning), the
openSMILE extractor, the learned label rules (crowd-kit), the demo corpus's synthesis (scipy.signal) and the
report's figures (matplotlib). The main process imports none of the heavy ones (:mod:`voxpop.models.specs`)."""

GB_PER_WORKER = 1.0
"""Free memory (GB) each local worker process is given: the default worker count is capped by it."""

RETRIES = 2
"""How often a task that raised an unexpected error is run again (killed workers: Dask's allowed-failures)."""

START_TIMEOUT = 600.0
"""Seconds the workers of a local cluster may take to start (:func:`planned_workers`)."""

LOCAL_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
}
"""Dask settings of local clusters. Dask starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (glibc returns
freed memory to the system at once, so Dask's memory figures are exact); that also stops glibc from raising
its mmap threshold, so every numpy array above 128 kB is mapped and faulted in afresh: measured here, the
demo corpus's synthesis took about 1.5 times the CPU seconds in a worker that it takes in-process. Without
it workers compute as fast as the main process (their memory reports count freed memory a while longer).
Dask's statistical profiler (``distributed.worker.profile``) is off: it samples every task's stack each 10 ms
for a dashboard voxpop does not show (about 4 % of the CPU seconds of the demo study on two workers here)."""


def default_workers() -> int:
    """The default number of local Dask workers: usable cores, capped by free memory.

    Returns:
        The usable cores (this process's CPU affinity), at most one per :data:`GB_PER_WORKER` GB of available
        memory, and at least 1.
    """
    import psutil

    free = psutil.virtual_memory().available / 1e9
    return max(1, min(usable_cores(), int(free // GB_PER_WORKER)))


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


@contextlib.contextmanager
def connect(
    workers: int, scheduler: str | None, security: Any = None, preload: bool = False, timeout: float = CONNECT_TIMEOUT
) -> Iterator[Any]:
    """A ``distributed.Client``: to the scheduler at ``scheduler``, or to a new ``LocalCluster`` of ``workers``
    single-threaded worker processes (closed afterwards).

    The local workers start in the background: this returns at once, so the caller imports and prepares
    while they start, and tasks wait for them. With ``preload`` (where the platform has it) they are forked
    from a clean ``forkserver`` process that imported :data:`PRELOAD` once, instead of each importing torch
    and the rest itself.

    Args:
        workers: worker processes of the local cluster (ignored with ``scheduler``).
        scheduler: a Dask scheduler's address (``tcp://host:8786``, ``tls://...``), or None for a local cluster.
        security: a ``distributed.security.Security`` (TLS files) for ``scheduler``, or None.
        preload: fork local workers from a ``forkserver`` that imported :data:`PRELOAD` once.
        timeout: seconds to wait for the scheduler's answer.

    Yields:
        The connected ``distributed.Client``; on exit the client (and a local cluster) is closed.

    Raises:
        ConfigError: the scheduler is checked first (:func:`voxpop.core.scheduler_address.check_scheduler`):
            a malformed address, TLS settings that do not fit it, a dead port, no answer within ``timeout``
            seconds or a server that is not a Dask scheduler, naming the address.
    """
    import dask
    import distributed  # noqa: F401  (registers its config defaults before dask.config.set below, whose exit
    # would otherwise delete the whole "distributed" section that the import adds inside it)

    if scheduler is not None:
        with _scheduler_client(scheduler, security, timeout) as client:
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
def _scheduler_client(scheduler: str, security: Any, timeout: float) -> Iterator[Any]:
    """A ``distributed.Client`` of the checked scheduler address; a failure while connecting is a ConfigError."""
    from distributed import Client

    address = check_scheduler(scheduler, security, timeout)
    try:
        client = Client(str(address), security=security, timeout=timeout)
    except Exception as exc:  # Dask's comm, handshake and timeout errors: all mean this scheduler cannot be used
        raise ConfigError(f"--scheduler {address}: connecting failed ({type(exc).__name__}: {exc}).") from None
    with client:
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
            silence_logs=logging.CRITICAL,  # a failed task reaches voxpop as its error; stopping logs comm errors
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
        planned = len(cluster.plan)  # a local cluster's workers, or every worker of a batch cluster's jobs
        try:
            client.wait_for_workers(planned, timeout=timeout)
        except TimeoutError:
            if hasattr(cluster, "job_script"):  # dask-jobqueue: the jobs wait in the queue or failed to start
                raise VoxpopError(
                    f"the cluster's jobs did not start their {planned} Dask workers within {timeout:.0f} s; check "
                    "the queue (squeue, qstat) and the jobs' logs (log_directory of the --cluster profile)"
                ) from None
            raise VoxpopError(
                f"the local Dask cluster did not start its {planned} worker processes within "
                f"{timeout:.0f} s (out of memory or processes?); run with fewer --workers, or --workers 1"
            ) from None
    return max(1, len(client.scheduler_info(n_workers=-1)["workers"]))


def cluster_map(client: Any) -> Callable[[Callable, Iterable], Iterator]:
    """A ``map(function, values)`` for pure functions of their value (the demo corpus's clips, the pre-flight
    check's label sets of learned rules) that yields the results in order: values are computed in this
    process while the cluster has no worker yet (a local cluster's workers are still starting), then the rest
    are submitted to the workers at once, one Dask task per value, each result yielded as soon as it and those
    before it are done. The values are scattered to the cluster once rather than embedded in the task graph
    (a corpus given to every label job would be sent through the scheduler, and Dask warns of graphs above
    10 MB).

    Args:
        client: a connected ``distributed.Client`` (:func:`connect`).

    Returns:
        ``map_function(function, values)``: an iterator of ``function(value)`` for each of ``values``, in order.
        It raises the error of the first value (in order) that raised one.
    """

    def map_function(function: Callable, values: Iterable) -> Iterator:
        values = list(values)
        done = 0
        while done < len(values) and not client.scheduler_info(n_workers=-1)["workers"]:
            yield function(values[done])
            done += 1
        if done == len(values):
            return
        [rest] = client.scatter([values[done:]], hash=False)
        indices = range(len(values) - done)
        for future in client.map(_apply_to_nth, indices, function=function, values=rest, pure=False):
            yield future.result()

    return map_function


def _apply_to_nth(index: int, function: Callable, values: list) -> Any:
    """``function(values[index])``: a task of :func:`cluster_map` (``values`` scattered once)."""
    return function(values[index])
