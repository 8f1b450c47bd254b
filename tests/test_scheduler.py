"""Studies on Dask: a worker killed mid-run costs only its task, and results equal the in-process run byte for byte."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import voxpop.cli
from tiny_study3 import RECIPE, tiny
from voxpop.core.cache import Cache, Stage
from voxpop.core.cluster import connect
from voxpop.core.errors import ConfigError
from voxpop.corpus.demo import make_demo_corpus
from voxpop.study.execution import KILL_HOOK
from voxpop.study.loading import load_recipe
from voxpop.study.run import dry_run, run_recipe
from voxpop.study.scheduler import check_resources, where
from voxpop.study.stage_kinds import features_resources, train_resources


def run_recipe_with_report(*args, **kwargs):
    """run_recipe with the report written, as `voxpop run` does."""
    from voxpop.report.study import write_study_report

    return run_recipe(*args, on_run=write_study_report, **kwargs)


@pytest.mark.slow
def test_a_killed_worker_costs_one_task_and_results_equal_the_in_process_run(tmp_path, monkeypatch):
    make_demo_corpus(tmp_path / "demo", "tiny")
    overrides = tiny(tmp_path / "demo" / "corpus")
    recipe = load_recipe(RECIPE, overrides)
    planned = dry_run(recipe, tmp_path / "serial", 2, None)
    assert {row["status"] for row in planned} == {"pending"} and not (tmp_path / "serial" / "cache").exists()
    serial = run_recipe_with_report(recipe, tmp_path / "serial", workers=1)
    assert [row["stage"] for row in planned] == [stage.label for stage in serial.plan.order]
    cached = dry_run(recipe, tmp_path / "serial", 1, None)
    assert len(serial.executed) == len(planned) and {row["status"] for row in cached} == {"cached"}

    marker = tmp_path / "killed"
    monkeypatch.setenv(KILL_HOOK, f"train:{marker}")  # inherited by the worker processes started below
    with connect(2, None, preload=True) as client:  # a LocalCluster of two worker processes
        client.wait_for_workers(2)  # connect returns while the workers start
        address = client.scheduler.address
        # workers forked from a forkserver started earlier in the session lack the variable: set it on each
        client.run(lambda value=f"train:{marker}": __import__("os").environ.__setitem__(KILL_HOOK, value))
        before = set(client.run(lambda: __import__("os").getpid()).values())
        args = ["run", str(RECIPE), "--out", str(tmp_path / "cluster"), "--scheduler", address]
        result = CliRunner().invoke(voxpop.cli.app, [*args, *(a for o in overrides for a in ("--set", o))])
        after = set(client.run(lambda: __import__("os").getpid()).values())
    assert result.exit_code == 0, result.output
    assert marker.is_file()  # the first train task's worker created the marker and exited
    assert len(before - after) == 1 and len(after) == 2  # one worker process was replaced
    for name in ("results.parquet", "report.md", "report.html"):  # the HTML embeds figures rendered on the workers
        assert (tmp_path / "cluster" / name).read_bytes() == (tmp_path / "serial" / name).read_bytes(), name


def test_gpu_stages_declare_the_gpus_their_model_config_asks_for():
    def train(**options):
        return train_resources({"model": {"head": "mlp", "train": options}})

    assert train() == {} and train(accelerator="cpu", devices=4) == {}
    assert train(accelerator="gpu") == {"GPU": 1} and train(accelerator="cuda", devices=2) == {"GPU": 2}
    assert train(accelerator="gpu", devices=[0, 2, 3]) == {"GPU": 3}
    assert features_resources({"options": {"device": "cuda:1"}}) == {"GPU": 1}
    assert features_resources({"options": {}}) == {}
    stage = Stage("train", "train MR", {"model": {"train": {"accelerator": "gpu", "devices": 2}}})
    assert where(stage, 1, None) == "in-process, needs GPU x2"
    assert where(stage, 4, None) == "local cluster (4 worker processes), needs GPU x2"
    assert where(Stage("labels", "MR", {}), 1, "tls://head:8786") == "cluster tls://head:8786"


def test_dry_run_of_a_study_whose_demo_corpus_is_not_built_plans_every_stage_on_the_cluster(tmp_path):
    # every stage is listed before the corpus exists (tests/test_progress.py compares them with the real plan)
    rows = dry_run(load_recipe(RECIPE, ["corpus.demo.size=tiny"]), tmp_path / "out", 2, None)
    assert rows[0] == {"stage": "demo corpus (tiny)", "kind": "corpus", "status": "pending", "where": "in-process"}
    features = [row for row in rows if row["kind"] == "features"]
    assert features and all(row["where"].endswith("split into one shard task per worker") for row in features)
    assert all(row["where"].startswith("local cluster (2 worker processes)") for row in rows[1:])
    assert not (tmp_path / "out").exists()


def test_a_stage_needing_gpus_no_worker_offers_stops_the_run_with_a_message(tmp_path):
    stage = Stage("train", "train MR", {"model": {"train": {"accelerator": "gpu", "devices": 2}}})
    labels = Stage("labels", "MR", {})
    cache = Cache(tmp_path / "cache")
    check_resources([labels, stage], [{}, {"GPU": 2}], cache)  # one worker offers two GPUs: fine
    with pytest.raises(ConfigError, match=r"'train MR' needs GPU x2 on one worker.*--resources GPU=1"):
        check_resources([labels, stage], [{"GPU": 1}, {"GPU": 1}], cache)  # two GPUs, but not on one worker


MAIN_PROCESS = """
import json, sys
from voxpop.cli import main
sys.argv = ["voxpop", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps([m for m in ("torch", "lightning", "skops", "transformers") if m in sys.modules]))
"""


@pytest.mark.slow
def test_the_main_process_of_a_run_on_workers_loads_no_training_stack(tmp_path):
    """With --workers 2 the stages train on the workers: the main process plans, gathers and reports without
    importing torch, Lightning, skops or transformers (together about 6 s of start-up)."""
    import json
    import subprocess
    import sys

    make_demo_corpus(tmp_path / "demo", "tiny")
    args = ["run", str(RECIPE), "--out", str(tmp_path / "out"), "--workers", "2"]
    args += [a for o in tiny(tmp_path / "demo" / "corpus") for a in ("--set", o)]
    done = subprocess.run(
        [sys.executable, "-c", MAIN_PROCESS, json.dumps(args)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    assert (tmp_path / "out" / "results.parquet").is_file() and (tmp_path / "out" / "report.html").is_file()


def test_cluster_map_sends_large_values_once_outside_the_task_graph():
    """A real corpus (CREMA-D's votes: about 29 MB pickled) given to every pre-flight label job used to be embedded
    in the task graph, and Dask warned 'Sending large graph' on the user's screen; the values are scattered once."""
    import warnings

    import numpy as np
    from distributed import Client, LocalCluster

    from voxpop.core.cluster import cluster_map

    big = np.arange(2_000_000, dtype=float)  # 16 MB: above Dask's 10 MB large-graph threshold
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sums = list(cluster_map(client)(np.sum, [big, 2 * big]))
    assert sums == [1999999000000.0, 3999998000000.0]  # sum(0..n-1) = n (n - 1) / 2 with n = 2e6, and twice that


@pytest.mark.slow
def test_ctrl_c_during_a_run_on_workers_prints_one_message_and_keeps_finished_stages(tmp_path):
    """Ctrl-C reaches every process of the run (the terminal signals the process group): the workers ignore it
    (voxpop.core.worker_signals), the main process stops with exit code 130 and one message, no worker tracebacks;
    the stages that finished stay in the cache and the same command goes on from them."""
    import os
    import signal
    import subprocess
    import sys
    import time

    make_demo_corpus(tmp_path / "demo", "tiny")
    out = tmp_path / "out"
    args = ["run", str(RECIPE), "--out", str(out), "--workers", "2"]
    args += [a for o in [*tiny(tmp_path / "demo" / "corpus"), "model.epochs=30"] for a in ("--set", o)]
    command = [sys.executable, "-m", "voxpop", *args]

    def terminal_like() -> None:  # a run started in the background (e.g. CI) inherits an ignored SIGINT
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    run = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=terminal_like,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while len(list(out.glob("cache/train-*/.done"))) < 1 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run.poll() is None, "the run ended before it could be interrupted"
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 130
    assert "interrupted. Stages that finished are kept in the cache: the same command goes on from there." in stderr
    assert "Traceback" not in stderr and "ERROR" not in stderr, stderr[-3000:]
    finished = {path.parent.name for path in out.glob("cache/*/.done")}
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert finished and f"reused from the cache: {len(finished)}" in resumed.stdout
