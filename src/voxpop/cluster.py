"""Dask clusters for voxpop: connect to a scheduler or start a ``LocalCluster`` of worker processes that
imported voxpop's stage machinery once (:data:`PRELOAD`), the default worker count and TLS settings.

This module knows no stage: :mod:`voxpop.scheduler` runs a study's stages on the client it returns and
:func:`voxpop.features.extraction.fill_store_on_workers` its extraction shards.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from voxpop.errors import ConfigError

PRELOAD = ("distributed", "voxpop.execution")
"""Modules every local worker imports before its first task (by name: the stage machinery sits above this module)."""

GB_PER_WORKER = 1.0
"""Free memory (GB) each local worker process is given: the default worker count is capped by it."""

RETRIES = 2
"""How often a task that raised an unexpected error is run again (killed workers: Dask's allowed-failures)."""


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


@contextlib.contextmanager
def connect(workers: int, scheduler: str | None, security: Any = None, preload: bool = False) -> Iterator[Any]:
    """A ``distributed.Client``: to the scheduler at ``scheduler``, or to a new ``LocalCluster`` of ``workers``
    single-threaded worker processes (closed afterwards).

    With ``preload`` (where the platform has it) local workers are forked from a clean ``forkserver``
    process that imported voxpop's stages once, instead of each importing torch and the rest itself.
    """
    import dask
    from distributed import Client

    if scheduler is not None:
        with Client(scheduler, security=security) as client:
            yield client
        return
    method = "forkserver" if preload and "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    with dask.config.set({"distributed.worker.multiprocessing-method": method}):
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
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        addresses = client.scheduler_info(n_workers=-1)["workers"]  # workers import voxpop while this process does
        warm = [client.submit(_warm_up, key=f"voxpop-import-{a}", workers=[a], pure=False) for a in addresses]
        yield client
        del warm


def _warm_up() -> None:
    for module in PRELOAD:  # torch, pandas, the extractors' dependencies
        importlib.import_module(module)
