"""``voxpop run --cluster FILE``: a small YAML cluster profile, validated like a recipe, and the Dask cluster it builds.

A profile names one kind of cluster (:data:`KINDS`): ``local`` (a ``LocalCluster`` of ``workers`` processes, as
``--workers``), ``scheduler`` (a running Dask scheduler at ``address``, as ``--scheduler``) or a batch system,
``slurm``, ``pbs`` or ``sge``, where dask-jobqueue submits jobs that each start ``processes`` Dask workers
(``cores`` and ``memory`` per job, ``walltime``, ``queue`` / partition, ``account``, extra directives, the Python
environment to activate in ``job_script_prologue``). The jobs are a fixed number (``jobs``) or adaptive
(``adaptive: {minimum, maximum}``): only an adaptive cluster replaces a job that died (cancelled, out of walltime,
its node lost), so a long study should use one. ``gpus`` asks the batch system for GPUs per job and makes the
workers offer them as the Dask resource ``GPU`` (stages that train or extract on a GPU need it,
:func:`voxpop.study.stage_kinds.train_resources`); one profile is one kind of job (no mixed CPU and GPU pools).

The workers must see the output folder at the same absolute path (a shared filesystem): the run checks it before
the first stage and by every worker before each stage (:mod:`voxpop.core.cache_visibility`). docs/cluster.md
walks through it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml

from voxpop.core.errors import ConfigError
from voxpop.core.limits import Int
from voxpop.study.label_specs import Strict
from voxpop.study.loading import problems_of, read_recipe_text, read_yaml

KINDS = ("local", "scheduler", "slurm", "pbs", "sge")
"""The kinds of cluster a profile builds; the last three are batch systems (through dask-jobqueue)."""

BATCH_KINDS = ("slurm", "pbs", "sge")

WALLTIME = re.compile(r"^(?:[0-9]+-)?[0-9]+(?::[0-9]{1,2}){0,2}$")
"""The time limits Slurm reads (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``); PBS and SGE
read ``HH:MM:SS``."""

GPU_DIRECTIVES = {"slurm": "--gres=gpu:{n}", "pbs": "-l ngpus={n}", "sge": "-l gpu={n}"}
"""The job directive each batch system gets for ``gpus: n`` (sites differ: set ``gpus: 0`` and write your own in
``job_extra_directives`` where yours is another)."""


class Adaptive(Strict):
    """An adaptive number of jobs: at least ``minimum`` (a job that dies is replaced), at most ``maximum``."""

    minimum: Int = pydantic.Field(ge=1, description="Jobs kept running; a job that dies is resubmitted.")
    maximum: Int = pydantic.Field(ge=1, description="Jobs at most, while stages wait for a worker.")

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> Adaptive:
        if self.minimum > self.maximum:
            raise ValueError(f"minimum ({self.minimum}) is above maximum ({self.maximum})")
        return self


class SchedulerOptions(Strict):
    """Where the Dask scheduler (in this process) listens; only these keys: a profile is data, so options that
    would run code (``preload``) are unknown keys."""

    host: str | None = pydantic.Field(None, description="The address it listens on, e.g. 127.0.0.1.")
    port: Int | None = pydantic.Field(None, ge=0, le=65535, description="Its port (0: any free one).")
    dashboard_address: str | None = pydantic.Field(None, description="The dashboard's HOST:PORT, e.g. 127.0.0.1:0.")


class ClusterProfile(Strict):
    """A ``--cluster`` profile (see the module); unknown keys are errors naming their key path."""

    kind: Literal["local", "scheduler", "slurm", "pbs", "sge"] = pydantic.Field(description="The kind of cluster.")
    workers: Int | None = pydantic.Field(None, ge=1, description="kind local: worker processes.")
    address: str | None = pydantic.Field(None, description="kind scheduler: tcp://HOST:PORT or tls://HOST:PORT.")
    cores: Int = pydantic.Field(1, ge=1, description="CPU cores per job (shared by its worker processes).")
    memory: str = pydantic.Field("4GB", description="Memory per job, e.g. 16GB.")
    processes: Int = pydantic.Field(1, ge=1, description="Dask worker processes per job.")
    walltime: str = pydantic.Field("01:00:00", description="Time limit per job (HH:MM:SS).")
    queue: str | None = pydantic.Field(None, description="The queue (PBS, SGE) or partition (Slurm).")
    account: str | None = pydantic.Field(None, description="The account (project) jobs are charged to.")
    gpus: Int = pydantic.Field(0, ge=0, description="GPUs per job: a job directive and the workers' GPU resource.")
    job_extra_directives: list[str] = pydantic.Field([], description="More job directives, e.g. --constraint=a100.")
    jobs: Int | None = pydantic.Field(None, ge=1, description="A fixed number of jobs (a job that dies is lost).")
    adaptive: Adaptive | None = pydantic.Field(None, description="An adaptive number of jobs (minimum, maximum).")
    python: str | None = pydantic.Field(
        None, description="The Python the jobs run (default: this one); a relative path is from the profile's folder."
    )
    job_script_prologue: list[str] = pydantic.Field(
        [], description="Shell lines run first in each job, e.g. 'source /shared/venv/bin/activate'."
    )
    interface: str | None = pydantic.Field(None, description="The network interface Dask listens on, e.g. ib0.")
    scheduler_options: SchedulerOptions = pydantic.Field(
        SchedulerOptions(), description="Where the scheduler listens (host, port, dashboard_address)."
    )
    worker_extra_args: list[str] = pydantic.Field([], description="More 'dask worker' arguments.")
    local_directory: str | None = pydantic.Field(None, description="The workers' scratch folder on their node.")
    log_directory: str | None = pydantic.Field(
        None, description="Where the jobs write their logs; a relative path is from the profile's folder."
    )

    @pydantic.field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        from dask.utils import parse_bytes

        try:
            positive = parse_bytes(value) > 0
        except ValueError:
            positive = False
        if not positive:
            raise ValueError(f"{value!r} is not an amount of memory above 0 (e.g. 16GB, 512MiB)")
        return value

    @pydantic.field_validator("walltime")
    @classmethod
    def _walltime(cls, value: str) -> str:
        if not WALLTIME.match(value):
            raise ValueError(f"{value!r} is not a time limit (HH:MM:SS; Slurm also reads MM, D-HH, D-HH:MM:SS)")
        return value

    @pydantic.model_validator(mode="after")
    def _fits_its_kind(self) -> ClusterProfile:
        given = self.model_fields_set
        if self.kind in BATCH_KINDS:
            if (self.jobs is None) == (self.adaptive is None):
                both = ", not both" if self.jobs is not None else ""
                raise ValueError(f"kind {self.kind}: give jobs (a fixed number) or adaptive (minimum, maximum){both}")
            if {"workers", "address"} & given:
                raise ValueError(f"kind {self.kind}: workers and address belong to kinds local and scheduler")
            if self.processes > self.cores:
                raise ValueError(
                    f"kind {self.kind}: processes ({self.processes}) is above cores ({self.cores}); each worker "
                    "process of a job needs at least one of its cores"
                )
            return self
        needed = "workers" if self.kind == "local" else "address"
        if getattr(self, needed) is None:
            raise ValueError(f"kind {self.kind} needs {needed}")
        extra = sorted(given - {"kind", needed})
        if extra:
            batch = "/".join(BATCH_KINDS)
            raise ValueError(f"kind {self.kind} takes only {needed}; {', '.join(extra)} belong to kinds {batch}")
        return self

    @property
    def worker_args(self) -> list[str]:
        """``dask worker`` arguments: ``worker_extra_args``, and ``--resources GPU=n`` for ``gpus: n`` unless given."""
        args = list(self.worker_extra_args)
        if self.gpus and "--resources" not in args:
            args += ["--resources", f"GPU={self.gpus}"]
        return args

    @property
    def min_jobs(self) -> int:
        """The jobs the run waits for before planning its extraction shards (fixed, or the adaptive minimum)."""
        return self.jobs if self.jobs is not None else self.adaptive.minimum

    def describe(self) -> str:
        """Where stages run, for ``--dry-run``: ``slurm (2 jobs x 1 worker, adaptive up to 4)``.

        >>> ClusterProfile(kind="slurm", jobs=2, cores=2, processes=2).describe()
        'slurm (2 jobs x 2 workers)'
        """
        if self.kind == "local":
            return f"local cluster ({self.workers} worker processes)"
        if self.kind == "scheduler":
            return f"cluster {self.address}"
        workers = f"{self.processes} worker{'s' if self.processes > 1 else ''}"
        more = f", adaptive up to {self.adaptive.maximum}" if self.adaptive is not None else ""
        return f"{self.kind} ({self.min_jobs} jobs x {workers}{more})"


def load_profile(path: str | Path) -> ClusterProfile:
    """Read and validate a ``--cluster`` profile (YAML), every problem at once, as recipes are.

    Args:
        path: the profile file (UTF-8 YAML within the ``recipe_bytes`` ceiling).

    Returns:
        The validated :class:`ClusterProfile`.

    Raises:
        ConfigError: the file is missing, too large, not UTF-8 or not YAML, not a mapping, or invalid: one line
            per problem with its key path (unknown keys list the allowed ones).

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        ...     _ = f.write("kind: slurm\\njobs: 2\\nwaltime: 1:00:00\\n")
        >>> load_profile(f.name)
        Traceback (most recent call last):
        ...
        voxpop.core.errors.ConfigError: cluster profile ... is invalid (1 problem):
          - waltime: unknown key (allowed: kind, workers, address, cores, ...)
    """
    path = Path(path)
    text = read_recipe_text(path, "cluster profile")
    try:
        data = read_yaml(text, str(path))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a cluster profile is a mapping of keys (kind, jobs ...), got {type(data).__name__}")
    try:
        profile = ClusterProfile.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = problems_of(exc, model=ClusterProfile)
        noun = "problem" if len(problems) == 1 else "problems"
        raise ConfigError(
            f"cluster profile {path} is invalid ({len(problems)} {noun}):\n" + "\n".join(f"  - {p}" for p in problems)
        ) from None
    return from_profile_folder(profile, path.absolute().parent)


def from_profile_folder(profile: ClusterProfile, folder: Path) -> ClusterProfile:
    """``profile`` with its relative paths made absolute from ``folder`` (the profile file's), as the jobs need them
    wherever they start: ``log_directory``, and ``python`` when it is a path (``venv/bin/python``; a bare command
    such as ``python3`` stays a command the jobs look up on their ``PATH``).

    Args:
        profile: a validated profile; folder: the absolute folder of its file.

    Returns:
        The profile with those paths absolute (links kept, as written); other keys unchanged.

    Example:
        >>> p = from_profile_folder(ClusterProfile(kind="slurm", jobs=1, python="env/bin/python",
        ...     log_directory="logs"), Path("/shared/lab"))
        >>> p.python, p.log_directory
        ('/shared/lab/env/bin/python', '/shared/lab/logs')
        >>> from_profile_folder(ClusterProfile(kind="slurm", jobs=1, python="python3"), Path("/shared/lab")).python
        'python3'
    """
    updates: dict[str, str] = {}
    log_directory, python = profile.log_directory, profile.python
    if log_directory is not None and not Path(log_directory).expanduser().is_absolute():
        updates["log_directory"] = str(folder / log_directory)
    if python is not None and "/" in python and not Path(python).expanduser().is_absolute():
        updates["python"] = str(folder / python)
    return profile.model_copy(update=updates)


CLASSES = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster"}
"""The dask-jobqueue cluster class of each batch kind (its ``job_cls`` writes the job script)."""


def _jobqueue(profile: ClusterProfile) -> Any:
    """The ``dask_jobqueue`` module, Ctrl-C's handler kept (its runner module replaces it with sys.exit on import).

    Raises :class:`ConfigError` when it is not installed (the ``cluster`` extra)."""
    interrupt = signal.getsignal(signal.SIGINT)
    try:
        import dask_jobqueue
    except ImportError:
        raise ConfigError(
            f"--cluster with kind {profile.kind} needs dask-jobqueue: pip install 'voxpop[cluster]'"
        ) from None
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, interrupt)
    return dask_jobqueue


def _job_options(profile: ClusterProfile) -> dict[str, Any]:
    """The options of a batch profile's jobs, as dask-jobqueue's cluster and job classes take them."""
    directives = list(profile.job_extra_directives)
    if profile.gpus:
        directives.append(GPU_DIRECTIVES[profile.kind].format(n=profile.gpus))
    return {
        "cores": profile.cores,
        "memory": profile.memory,
        "processes": profile.processes,
        "walltime": profile.walltime,
        "queue": profile.queue,
        "account": profile.account,
        "job_extra_directives": directives,
        "job_script_prologue": profile.job_script_prologue,
        "worker_extra_args": profile.worker_args,
        "python": profile.python or sys.executable,
        "interface": profile.interface,
        "local_directory": profile.local_directory,
        "log_directory": profile.log_directory,
    }


def batch_cluster(profile: ClusterProfile) -> Any:
    """The dask-jobqueue cluster of a batch profile (``SLURMCluster``, ``PBSCluster``, ``SGECluster``), no job
    submitted yet: its scheduler runs in this process. Close it (a context manager) when done.

    Raises:
        ConfigError: dask-jobqueue is not installed (the ``cluster`` extra), or it refused the settings.
    """
    dask_jobqueue = _jobqueue(profile)
    options = {
        **_job_options(profile),
        "scheduler_options": profile.scheduler_options.model_dump(exclude_none=True),
        "silence_logs": logging.CRITICAL,
    }
    try:
        return getattr(dask_jobqueue, CLASSES[profile.kind])(**options)
    except (ValueError, TypeError, OSError, RuntimeError) as exc:  # RuntimeError: its scheduler failed to start
        raise ConfigError(f"--cluster: dask-jobqueue refused the {profile.kind} settings ({exc})") from None


def job_script(profile: ClusterProfile) -> str:
    """The job script dask-jobqueue would submit for a batch profile (``voxpop run --dry-run --cluster FILE``),
    written by its job class without starting a scheduler: the workers' scheduler address is the host the profile
    names (``scheduler_options.host``, else the IPv4 address of ``interface``) and its port, ``<port>`` where the
    scheduler picks a free one when it starts.

    Args:
        profile: a validated batch profile.

    Returns:
        The job script's text (header directives, prologue, the ``dask worker`` command).

    Raises:
        ConfigError: not a batch profile, dask-jobqueue not installed, or settings it refuses (an unknown
            ``interface``).
    """
    if profile.kind not in BATCH_KINDS:
        raise ConfigError(f"a cluster profile of kind {profile.kind} submits no job script")
    dask_jobqueue = _jobqueue(profile)
    from distributed.utils import get_ip_interface

    job_class = getattr(dask_jobqueue, CLASSES[profile.kind]).job_cls
    where = profile.scheduler_options
    try:
        host = where.host or (get_ip_interface(profile.interface) if profile.interface else "<scheduler-host>")
        address = f"tcp://{host}:{where.port or '<port>'}"
        return job_class(address, name="dummy-name", **_job_options(profile)).job_script()
    except (ValueError, TypeError, OSError) as exc:
        raise ConfigError(f"--cluster: dask-jobqueue refused the {profile.kind} settings ({exc})") from None


@contextlib.contextmanager
def connect_profile(profile: ClusterProfile, security: Any = None) -> Iterator[Any]:
    """A ``distributed.Client`` of the profile's cluster: a local cluster or a scheduler
    (:func:`voxpop.core.cluster.connect`), or a batch cluster whose jobs are submitted now (a fixed ``jobs`` or
    ``adaptive``); the jobs are cancelled and the cluster closed on exit.

    Args:
        profile: the validated profile; security: a ``distributed.security.Security`` for a ``tls://`` scheduler.

    Yields:
        The connected client (the batch jobs may still wait in the queue:
        :func:`voxpop.core.cluster.planned_workers` waits for them).

    Raises:
        ConfigError: what :func:`voxpop.core.cluster.connect` and :func:`batch_cluster` raise.
    """
    from voxpop.core.cluster import connect

    if profile.kind == "local":
        with connect(profile.workers, None, preload=True) as client:
            yield client
        return
    if profile.kind == "scheduler":
        with connect(1, profile.address, security) as client:
            yield client
        return
    from distributed import Client

    with batch_cluster(profile) as cluster:
        cluster.scale(jobs=profile.min_jobs)
        if profile.adaptive is not None:
            cluster.adapt(minimum_jobs=profile.adaptive.minimum, maximum_jobs=profile.adaptive.maximum)
        with Client(cluster) as client:
            yield client
