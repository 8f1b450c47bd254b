"""Stages whose Dask task was lost rather than failed are submitted again: every worker of the cluster killed mid-run
(as when every job of a batch cluster is cancelled) leaves results equal to the in-process run; a task that raised
is not a loss; a stage lost more than RESUBMITS times stops the run with an error naming it."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import voxpop.cli
from tiny_study3 import RECIPE, tiny
from voxpop.core.cache import Cache, Stage
from voxpop.core.cluster import connect
from voxpop.core.errors import VoxpopError
from voxpop.corpus.demo import make_demo_corpus
from voxpop.study.loading import load_recipe
from voxpop.study.run import run_recipe
from voxpop.study.scheduler import RESUBMITS, StageSubmitter, stage_result


def _kill_every_worker_once(client, out: Path, killed: list[int]) -> None:
    """Once the first model of the run in ``out`` is trained, SIGKILL every worker process of ``client``'s cluster
    at once (their nannies start new ones), recording their process ids in ``killed``."""
    deadline = time.monotonic() + 600
    while not list(out.glob("cache/train-*/.done")) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in client.run(os.getpid).values():
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)


@pytest.mark.slow
def test_every_worker_killed_mid_run_resubmits_the_lost_stages_and_results_equal_the_in_process_run(tmp_path):
    from voxpop.report.study import write_study_report

    make_demo_corpus(tmp_path / "demo", "tiny")
    overrides = tiny(tmp_path / "demo" / "corpus")
    serial = run_recipe(load_recipe(RECIPE, overrides), tmp_path / "serial", workers=1, on_run=write_study_report)
    out = tmp_path / "cluster"
    killed: list[int] = []
    with connect(2, None, preload=True) as client:  # a LocalCluster of two worker processes on 127.0.0.1
        client.wait_for_workers(2)
        assert all(address.startswith("tcp://127.0.0.1:") for address in client.scheduler_info()["workers"])
        killer = threading.Thread(target=_kill_every_worker_once, args=(client, out, killed), daemon=True)
        killer.start()
        args = ["run", str(RECIPE), "--out", str(out), "--scheduler", client.scheduler.address]
        result = CliRunner().invoke(voxpop.cli.app, [*args, *(a for o in overrides for a in ("--set", o))])
        killer.join(timeout=60)
        survivors = set(client.run(os.getpid).values())
    assert result.exit_code == 0, result.output
    assert len(killed) == 2 and not survivors & set(killed)  # both workers died and were replaced
    # the runner scattered to them was lost with them: Dask cancelled the stages still to run, the run resubmitted them
    assert "was lost: cancelled (" in result.output and f"submitted again (1 of {RESUBMITS})" in result.output
    assert len(serial.executed) == len(list(out.glob("cache/*/.done")))  # every stage done once
    for name in ("results.parquet", "report.md", "report.html"):
        assert (out / name).read_bytes() == (tmp_path / "serial" / name).read_bytes(), name


def _wait(future, timeout: float = 60) -> None:
    """Wait until ``future`` is done, however it ended (``distributed.wait`` raises on a cancelled one)."""
    deadline = time.monotonic() + timeout
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert future.done(), future


def _fails(_: int) -> None:
    raise ValueError("a bug in a stage")


def _exits(_: int) -> None:
    os._exit(1)


def _slow(value: int, runner: object) -> int:
    time.sleep(30)
    return value


def test_a_task_that_raised_is_an_error_and_lost_tasks_have_a_cause():
    """On a LocalCluster of processes on 127.0.0.1: a raised exception comes back as itself (run_plan raises it and
    submits nothing again); a task cancelled because the workers holding its scattered input died, and a task
    whose worker died more than allowed-failures times (Dask's KilledWorker), come back as causes."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
        ) as cluster,
        Client(cluster) as client,
    ):
        failed = client.submit(_fails, 1, pure=False, retries=0)
        _wait(failed)
        with pytest.raises(ValueError, match="a bug in a stage"):
            stage_result(failed)
        [shared] = client.scatter([{"runner": 1}], broadcast=True, hash=False)
        waiting = client.submit(_slow, 2, shared, pure=False)
        time.sleep(1)
        client.run(_exits, 0, on_error="ignore")  # the only worker dies (its nanny starts a new one)
        _wait(waiting)
        outcome, cause = stage_result(waiting)
        assert outcome is None and cause.startswith("cancelled (")  # 'lost dependencies', 'already forgotten'
        assert shared.status != "finished"  # scattered data is gone for good: run_plan scatters it again
        client.wait_for_workers(1, timeout=60)
        cluster.scheduler.allowed_failures = 0  # the first death of a worker running a task is KilledWorker
        killer = client.submit(_exits, 3, pure=False, key="exits-3")
        _wait(killer)
        outcome, cause = stage_result(killer)
    assert outcome is None and cause == "KilledWorker (workers died running task exits-3 more than 0 times)"


def test_a_stage_lost_more_than_resubmits_times_stops_the_run_naming_it(tmp_path):
    cache = Cache(tmp_path / "cache")
    stage = Stage("train", "train MR (base)", {"model": {"epochs": 1}})
    submitter = StageSubmitter(client=None, runner=None, cache=cache, n_workers=2)
    submitter.seen_on[stage.key] = "tcp://127.0.0.1:40123"
    for _ in range(RESUBMITS):
        submitter.count_loss(stage, "cancelled (lost dependencies)")  # submitted again each time
    assert submitter.losses[stage.key] == RESUBMITS == 3
    with pytest.raises(VoxpopError) as error:
        submitter.count_loss(stage, "cancelled (lost dependencies)")
    message = str(error.value)
    assert f"stage 'train MR (base)' ({cache.directory(stage)}) was lost 4 times" in message
    assert "last cancelled (lost dependencies); worker last seen running it: tcp://127.0.0.1:40123" in message
    assert "run the same command again: the stages that finished are kept in the cache" in message
