"""A study on a real Slurm through dask-jobqueue (``voxpop run --cluster slurm.yaml``): results and report equal the
in-process run byte for byte, a job cancelled mid-run (``scancel``) is survived, and stages that need a GPU run
only on workers offering one. Needs a running one-node Slurm (``.ci/start-slurm``, which ``.ci/run`` calls);
skipped with the reason where there is none. Every connection stays on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jobqueue_skip import skip_without_jobqueue
from tiny_study3 import RECIPE, tiny
from voxpop.core.cache import Stage
from voxpop.corpus.demo import make_demo_corpus
from voxpop.study.loading import load_recipe
from voxpop.study.run import run_recipe

pytestmark = pytest.mark.cluster

SRC = Path(__file__).resolve().parents[1] / "src"
LOOPBACK = """\
interface: lo
scheduler_options: {host: 127.0.0.1, dashboard_address: "127.0.0.1:0"}
"""
"""What keeps dask-jobqueue on the loopback interface (by default it picks another one, and a dashboard on all)."""


@pytest.fixture(scope="module")
def slurm() -> None:
    """A Slurm that answers with an idle node (started by .ci/start-slurm), else the test skips saying why."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        pytest.skip("no Slurm here (sbatch / sinfo not found): run .ci/start-slurm as root to install and start one")
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=30).stdout
    except subprocess.TimeoutExpired:
        pytest.skip("Slurm does not answer (sinfo timed out): run .ci/start-slurm as root")
    if not {"idle", "mix", "alloc"} & set(states.split()):
        pytest.skip(f"Slurm has no usable node (sinfo: {states.strip() or 'nothing'}): run .ci/start-slurm as root")
    skip_without_jobqueue("dask-jobqueue is not installed (pip install 'voxpop[cluster]')")


def environment() -> dict[str, str]:
    """The environment of the run and its Slurm jobs (sbatch exports it): this checkout's voxpop first."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}


def own_jobs(name: str, states: str = "RUNNING") -> list[str]:
    """The ids of this test's Slurm jobs (named ``name``) in ``states`` (a squeue state list)."""
    listed = subprocess.run(["squeue", "-h", "-n", name, "-t", states, "-o", "%i"], capture_output=True, text=True)
    return listed.stdout.split()


@pytest.mark.slow  # 1.5 to 2 minutes on a busy 2-core machine: 'make test' runs it, 'make quick-test' does not
def test_a_study_through_slurm_survives_all_its_jobs_cancelled_and_equals_the_local_run(slurm, tmp_path):
    """Both jobs are cancelled (``scancel``) once the first model is trained: the runner scattered to their workers
    is lost with them, so the stages still to run are cancelled by Dask; the run submits them again, the adaptive
    cluster submits new jobs in place of the cancelled ones, and those run the rest of the study. The in-process
    run it is compared with runs meanwhile (a thread watches the Slurm run and cancels its jobs)."""
    make_demo_corpus(tmp_path / "demo", "tiny")
    overrides = tiny(tmp_path / "demo" / "corpus")
    from voxpop.report.study import write_study_report

    name = f"voxpop-test-{os.getpid()}"
    profile = tmp_path / "slurm.yaml"  # two one-core jobs, cancelled ones replaced (adaptive minimum)
    profile.write_text(
        f"kind: slurm\nadaptive: {{minimum: 2, maximum: 2}}\ncores: 1\nmemory: 2GB\nwalltime: '00:20:00'\n"
        f"job_extra_directives: [--job-name={name}]\nlog_directory: {tmp_path / 'logs'}\n{LOOPBACK}"
    )
    out = tmp_path / "slurm"
    args = ["run", str(RECIPE), "--out", str(out), "--cluster", str(profile)]
    args += [a for o in overrides for a in ("--set", o)]
    with (tmp_path / "stdout").open("w") as stdout, (tmp_path / "stderr").open("w") as stderr:
        run = subprocess.Popen(
            [sys.executable, "-m", "voxpop", *args], stdout=stdout, stderr=stderr, env=environment(), cwd=tmp_path
        )
    seen: dict = {}
    watcher = threading.Thread(target=cancel_every_job_mid_run, args=(run, out, name, seen), daemon=True)
    watcher.start()
    try:
        local = run_recipe(load_recipe(RECIPE, overrides), tmp_path / "local", on_run=write_study_report)
        run.wait(timeout=900)
        watcher.join(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    output = (tmp_path / "stdout").read_text() + (tmp_path / "stderr").read_text()
    assert run.returncode == 0, output[-3000:]
    assert len(seen["cancelled"]) == 2, seen  # both jobs were running, and were cancelled mid-run
    assert seen["replacements"], "the adaptive cluster submitted no job in place of the cancelled ones"
    assert done(out) > seen["done without them"]  # stages finished after both cancelled jobs had ended: new jobs
    assert "submitted again" in output  # the run said which stages it resubmitted
    assert len(local.executed) == len(done(out))
    for file in ("results.parquet", "report.md", "report.html"):
        assert (out / file).read_bytes() == (tmp_path / "local" / file).read_bytes(), file


def cancel_every_job_mid_run(run: subprocess.Popen, out: Path, name: str, seen: dict) -> None:
    """Once the run in ``out`` has trained its first model, cancel all its Slurm jobs (named ``name``) and wait
    until Slurm has ended them; then watch the jobs that run in their place until the run ends. Records in
    ``seen``: ``cancelled`` (job ids), ``done without them`` (the stages done by then), ``replacements``."""
    seen.update({"cancelled": [], "replacements": set()})
    deadline = time.monotonic() + 900  # a loaded machine: generous, but the loops end as soon as their event comes
    while not list(out.glob("cache/train-*/.done")) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    cancelled = own_jobs(name)
    if run.poll() is not None or len(cancelled) != 2:
        return
    subprocess.run(["scancel", *cancelled], check=True)  # mid-run: one trained model is done, others are not
    seen["cancelled"] = cancelled
    while set(cancelled) & set(own_jobs(name, "PENDING,RUNNING,COMPLETING")) and time.monotonic() < deadline:
        time.sleep(0.2)  # until Slurm has ended both jobs (and their workers)
    seen["done without them"] = done(out)
    while run.poll() is None and time.monotonic() < deadline:
        seen["replacements"].update(set(own_jobs(name)) - set(cancelled))
        time.sleep(0.5)


def done(out: Path) -> set[str]:
    """The stages of the run in ``out`` marked done in its cache (their cache folder names)."""
    return {path.parent.name for path in out.glob("cache/*/.done")}


@pytest.mark.slow  # a Slurm job (and, without Slurm, a 9 s wait for sinfo to give up): 'make test' runs it; the quick
# suite checks the GPU resources a profile asks for and a stage declares (test_cluster_paths, test_scheduler)
def test_stages_that_need_a_gpu_run_only_on_the_workers_that_offer_one(slurm, tmp_path):
    """The profile declares GPU=1 on its (CPU-only) Slurm job; a second worker without it joins the same scheduler.
    Tasks submitted with a GPU stage's options (as run_plan submits them) all run in the Slurm job; the others
    run on both workers."""
    from distributed import get_worker

    from voxpop.study.cluster_profile import ClusterProfile, connect_profile
    from voxpop.study.scheduler import task_options

    gpu = Stage("train", "train MR", {"model": {"train": {"accelerator": "gpu", "devices": 1}}})
    cpu = Stage("train", "train PR", {"model": {"train": {"accelerator": "cpu"}}})
    assert task_options(gpu, "train-x")["resources"] == {"GPU": 1} and task_options(cpu, "train-y")["resources"] is None
    profile = ClusterProfile(
        kind="slurm", jobs=1, cores=1, memory="1GB", walltime="00:10:00", interface="lo",
        scheduler_options={"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"},
        worker_extra_args=["--resources", "GPU=1"], log_directory=str(tmp_path / "logs"),
    )  # fmt: skip

    def where_am_i(_: int) -> str:
        time.sleep(0.05)
        return os.environ.get("SLURM_JOB_ID", "") and get_worker().address

    os.environ["PYTHONPATH"] = environment()["PYTHONPATH"]  # the job's worker imports this checkout's voxpop
    with connect_profile(profile) as client:
        client.wait_for_workers(1, timeout=600)
        plain = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", client.scheduler.address, "--nthreads", "1",
             "--host", "127.0.0.1", "--no-dashboard", "--no-nanny"], env=environment(), stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            client.wait_for_workers(2, timeout=300)
            offered = {a: w.get("resources", {}) for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
            [without] = [address for address, resources in offered.items() if not resources]
            tasks = [client.submit(where_am_i, i, **task_options(gpu, f"gpu-{i}")) for i in range(8)]
            gpu_places = client.gather(tasks)
            # the worker without a GPU is up and takes untagged work
            on_plain = client.submit(where_am_i, 0, key="cpu-0", workers=[without], resources=None).result()
        finally:
            plain.terminate()
            plain.wait(timeout=60)
    assert on_plain == ""  # it ran outside Slurm
    assert len(set(gpu_places)) == 1 and gpu_places[0] not in ("", without)  # all in the Slurm job's worker
