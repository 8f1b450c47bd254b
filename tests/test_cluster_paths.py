"""Paths Dask workers can follow: a study's paths are absolute before planning but stay out of stage keys and the
report, a relative --out works with --scheduler, and a worker that does not see the cache stops the run with one
message; the --cluster profile is validated like a recipe."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

import voxpop.cli
from jobqueue_skip import skip_without_jobqueue
from voxpop.core.cache import Cache
from voxpop.core.cache_visibility import cache_token, check_workers_see
from voxpop.core.cluster import connect
from voxpop.core.errors import ConfigError
from voxpop.corpus import Corpus
from voxpop.corpus.demo import make_demo_corpus
from voxpop.labels.label_sets import build_label_set
from voxpop.study.cluster_profile import ClusterProfile, job_script, load_profile
from voxpop.study.loading import load_recipe
from voxpop.study.run import run_recipe

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "3-aggregation-rules.yaml"


def small(corpus: str, labels: str | None = None) -> list[str]:
    """Study 3 on the tiny demo corpus: an MR model, 3 folds, 1 epoch, 100 resamples; tested on MR and AR (and on a
    saved label set ``labels``, rule file)."""
    tests = "{MR: {rule: mr, condition: voice}, AR: {rule: ar, condition: voice}"
    tests += f", saved: {{rule: file, path: {labels}}}}}" if labels else "}"
    return [
        "corpus.demo=null",
        f"corpus.path={corpus}",
        "labels.train={MR: {rule: mr, condition: voice}}",
        f"labels.test={tests}",
        "grid={}",
        "model.epochs=1",
        "evaluation.bootstrap=100",
        "protocol.speaker_folds.k=3",
    ]


@pytest.mark.slow
def test_the_same_recipe_run_from_two_folders_finds_the_same_stages_and_writes_the_same_report(tmp_path, monkeypatch):
    """Relative corpus, saved label set, feature store and --out from two working directories: absolute for the
    workers, yet the stage keys (cache folder names) and the results and report are byte-identical."""
    from voxpop.report.study import write_study_report

    make_demo_corpus(tmp_path / "demo", "tiny")
    corpus = Corpus.load(tmp_path / "demo" / "corpus")
    build_label_set(corpus, {"rule": "mr", "condition": "voice"}).save(tmp_path / "saved.parquet")
    names, runs = [], []
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        recipe = load_recipe(RECIPE, [*small("../demo/corpus", "../saved.parquet"), "features.store=store"])
        runs.append(run_recipe(recipe, "out", on_run=write_study_report))
        names.append(sorted(path.name for path in Path("out/cache").iterdir() if path.is_dir()))  # not CACHEDIR.TAG
        assert (tmp_path / folder / "store").is_dir()  # the relative store, from this folder
    assert runs[0].out_dir == tmp_path / "one" / "out" and runs[1].out_dir == tmp_path / "two" / "out"
    assert runs[0].recipe.corpus.path == str(tmp_path / "one" / ".." / "demo" / "corpus")  # absolute, links kept
    assert names[0] == names[1] and len(names[0]) == len(runs[0].executed)
    for file in ("results.parquet", "report.md", "report.html"):
        assert (tmp_path / "one" / "out" / file).read_bytes() == (tmp_path / "two" / "out" / file).read_bytes(), file


@pytest.mark.slow
def test_a_relative_out_with_a_scheduler_is_resolved_for_workers_started_elsewhere(tmp_path, monkeypatch):
    """The workers start in another folder: before, they wrote the stages into their own ./out and the run failed
    with 'label set not found'; the run's --out is absolute for them."""
    make_demo_corpus(tmp_path / "demo", "tiny")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the worker processes inherit this working directory
    with connect(2, None) as client:
        client.wait_for_workers(2)
        assert set(client.run(os.getcwd).values()) == {str(tmp_path / "elsewhere")}
        monkeypatch.chdir(tmp_path / "here")
        args = ["run", str(RECIPE), "--out", "out", "--scheduler", client.scheduler.address]
        args += [a for o in small(str(tmp_path / "demo" / "corpus")) for a in ("--set", o)]
        result = CliRunner().invoke(voxpop.cli.app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "here" / "out" / "results.parquet").is_file()
    assert not (tmp_path / "elsewhere" / "out").exists()


def private_folder_command(folder: Path) -> list[str] | None:
    """A command prefix that runs a process in a mount namespace where ``folder`` is an empty tmpfs (the process
    sees another folder at the same path), or None where this system cannot make one."""
    if shutil.which("unshare") is None:
        return None
    namespace = ["unshare", "--mount", "--propagation", "private"] if os.geteuid() == 0 else ["unshare", "-Urm"]
    mount = f'mount -t tmpfs tmpfs {folder} && exec "$@"'
    probe = subprocess.run([*namespace, "sh", "-c", mount, "sh", "true"], capture_output=True)
    return [*namespace, "sh", "-c", mount, "sh"] if probe.returncode == 0 else None


def test_a_worker_that_cannot_see_the_cache_stops_the_run_with_one_message(tmp_path):
    """Checked before the first stage for the workers then connected, and by a worker that joined later (an
    adaptive cluster's replacement job) before it runs a stage."""
    shared = tmp_path / "shared"
    shared.mkdir()
    prefix = private_folder_command(shared)
    if prefix is None:
        pytest.skip("no mount namespace here (unshare): cannot start a worker that sees another folder")
    from distributed import Client, LocalCluster

    from voxpop.study.scheduler import stage_task

    cache = shared / "out" / "cache"
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
        cache_token(cache) as token,
    ):  # fmt: skip
        client.wait_for_workers(1)
        check_workers_see(client, token)  # the worker in this process sees it
        seeing = set(client.scheduler_info(n_workers=-1)["workers"])
        blind = subprocess.Popen(
            [*prefix, sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address, "--nthreads",
             "1", "--host", "127.0.0.1", "--no-dashboard", "--no-nanny"], stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            client.wait_for_workers(2, timeout=120)
            [address] = set(client.scheduler_info(n_workers=-1)["workers"]) - seeing
            with pytest.raises(ConfigError) as raised:
                check_workers_see(client, token)
            with pytest.raises(ConfigError) as late:  # the check each stage task makes first, on the late worker
                client.submit(token.require_seen, workers=[address], pure=False).result()
            runner = SimpleNamespace(open_cache=lambda notice: Cache(cache), check_sees_cache=token.require_seen)
            outcome = client.submit(stage_task, runner, None, workers=[address], pure=False).result()
        finally:
            blind.terminate()
            blind.wait(timeout=60)
    message = f"worker {address} cannot see {cache}: the cache must be on a filesystem every worker mounts"
    assert str(raised.value) == message
    assert str(late.value) == message
    assert isinstance(outcome["error"], ConfigError) and str(outcome["error"]) == message  # returned, not retried
    assert list(cache.iterdir()) == []  # the token files are removed


def test_a_cluster_profile_is_validated_like_a_recipe(tmp_path):
    profile = tmp_path / "slurm.yaml"
    profile.write_text("kind: slurm\njobs: 2\nadaptive: {minimum: 1, maximum: 3, most: 4}\nwaltime: 1:00:00\n")
    with pytest.raises(ConfigError) as raised:
        load_profile(profile)
    assert str(raised.value).splitlines() == [
        f"cluster profile {profile} is invalid (2 problems):",
        "  - adaptive.most: unknown key (allowed: minimum, maximum)",
        "  - waltime: unknown key (allowed: kind, workers, address, cores, memory, processes, walltime, queue, "
        "account, gpus, job_extra_directives, jobs, adaptive, python, job_script_prologue, interface, "
        "scheduler_options, worker_extra_args, local_directory, log_directory)",
    ]
    profile.write_text("kind: slurm\njobs: 2\nadaptive: {minimum: 3, maximum: 1}\n")
    with pytest.raises(ConfigError, match=r"adaptive: minimum \(3\) is above maximum \(1\)"):
        load_profile(profile)
    profile.write_text("kind: slurm\njobs: 2\nadaptive: {minimum: 1, maximum: 1}\n")
    with pytest.raises(ConfigError, match=r"kind slurm: give jobs \(a fixed number\) or adaptive"):
        load_profile(profile)
    profile.write_text("kind: local\nworkers: 2\njobs: 3\n")
    with pytest.raises(ConfigError, match=r"kind local takes only workers; jobs belong to kinds slurm/pbs/sge"):
        load_profile(profile)
    profile.write_text("- kind: slurm\n")
    with pytest.raises(ConfigError, match="a cluster profile is a mapping of keys"):
        load_profile(profile)


def test_a_gpu_profile_asks_slurm_for_gpus_and_its_workers_offer_them():
    skip_without_jobqueue()
    profile = ClusterProfile(
        kind="slurm", jobs=1, gpus=2, queue="gpu", account="lab", cores=8, memory="32GB", walltime="04:00:00",
        job_script_prologue=["source /shared/venv/bin/activate"], python="python", interface="lo",
        scheduler_options={"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"},
    )  # fmt: skip
    script = job_script(profile).splitlines()
    for line in ("#SBATCH -p gpu", "#SBATCH -A lab", "#SBATCH --cpus-per-task=8", "#SBATCH -t 04:00:00",
                 "#SBATCH --gres=gpu:2", "source /shared/venv/bin/activate"):  # fmt: skip
        assert line in script, line
    [worker] = [line for line in script if "distributed.cli.dask_worker" in line]
    assert worker.startswith("python -m distributed.cli.dask_worker tcp://127.0.0.1:")
    assert "--resources GPU=2" in worker and "--nthreads 8" in worker
    given = ["--resources", "GPU=1,MEM=4"]  # a profile's own resources are kept as they are
    assert ClusterProfile(kind="slurm", jobs=1, gpus=1, worker_extra_args=given).worker_args == given


def test_cluster_with_workers_or_scheduler_is_refused_and_a_dry_run_prints_the_job_script(tmp_path):
    skip_without_jobqueue()
    profile = tmp_path / "slurm.yaml"
    profile.write_text(
        "kind: slurm\njobs: 2\nmemory: 3GB\ninterface: lo\n"
        "scheduler_options: {host: 127.0.0.1, dashboard_address: '127.0.0.1:0'}\n"
    )
    base = ["run", str(RECIPE), "--out", str(tmp_path / "out"), "--set", "corpus.demo.size=tiny"]
    for extra in (["--workers", "2"], ["--scheduler", "tcp://127.0.0.1:8786"]):
        result = CliRunner().invoke(voxpop.cli.app, [*base, "--cluster", str(profile), *extra])
        assert isinstance(result.exception, ConfigError)
        assert f"--cluster {profile} and {extra[0]} both say where stages run" in str(result.exception)
    from distributed import Scheduler

    schedulers = set(Scheduler._instances)  # every Dask scheduler this process has started and not yet freed
    result = CliRunner().invoke(voxpop.cli.app, [*base, "--cluster", str(profile), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert set(Scheduler._instances) <= schedulers  # the dry run started none (the port is picked when one starts)
    assert "#SBATCH --mem=3G" in result.output and "dask_worker tcp://127.0.0.1:<port> " in result.output
    assert "cluster slurm (2 jobs x 1 worker), split into one shard task per worker" in result.output
    assert not (tmp_path / "out").exists()


def test_the_python_and_log_directory_of_a_profile_are_relative_to_its_file(tmp_path, monkeypatch):
    """The jobs start elsewhere (a compute node's working directory): a relative ``python`` path and
    ``log_directory`` are read from the profile's folder, not from where voxpop runs; a bare command stays one."""
    skip_without_jobqueue()
    (tmp_path / "lab").mkdir()
    profile = tmp_path / "lab" / "slurm.yaml"
    profile.write_text("kind: slurm\njobs: 1\npython: env/bin/python\nlog_directory: logs\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    loaded = load_profile(Path("..") / "lab" / "slurm.yaml")
    assert loaded.python == str(tmp_path / "elsewhere" / ".." / "lab" / "env" / "bin" / "python")
    assert loaded.log_directory == str(tmp_path / "elsewhere" / ".." / "lab" / "logs")
    script = job_script(loaded).splitlines()
    assert f"#SBATCH -e {loaded.log_directory}/dask-worker-%J.err" in script
    assert any(line.startswith(f"{loaded.python} -m distributed.cli.dask_worker") for line in script)
    absolute = tmp_path / "venv" / "bin" / "python"
    profile.write_text(f"kind: slurm\njobs: 1\npython: {absolute}\nlog_directory: /var/log/lab\n")
    assert load_profile(profile).python == str(absolute) and load_profile(profile).log_directory == "/var/log/lab"
    profile.write_text("kind: slurm\njobs: 1\npython: python3\n")
    assert load_profile(profile).python == "python3"  # looked up on the jobs' PATH


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("kind: slurm\njobs: true\n", "jobs: Input should be a valid integer"),  # no bool as a number
        ("kind: slurm\njobs: 1\ncores: '4'\n", "cores: Input should be a valid integer"),  # no string as a number
        ("kind: slurm\njobs: 1\nprocesses: 2.0\n", "processes: Input should be a valid integer"),
        ("kind: local\nworkers: 1.5\n", "workers: Input should be a valid integer"),
        ("kind: slurm\nadaptive: {minimum: true, maximum: 2}\n", "adaptive.minimum: Input should be a valid integer"),
        ("kind: slurm\njobs: 1\nmemory: -4GB\n", "memory: '-4GB' is not an amount of memory above 0"),
        ("kind: slurm\njobs: 1\nmemory: 0GB\n", "memory: '0GB' is not an amount of memory above 0"),
        ("kind: slurm\njobs: 1\nmemory: lots\n", "memory: 'lots' is not an amount of memory above 0"),
        ("kind: slurm\njobs: 1\nwalltime: banana\n", "walltime: 'banana' is not a time limit"),
        ("kind: slurm\njobs: 1\nwalltime: '1:00:00:00'\n", "walltime: '1:00:00:00' is not a time limit"),
        (
            "kind: slurm\njobs: 2\nadaptive: {minimum: 1, maximum: 2}\n",
            "kind slurm: give jobs (a fixed number) or adaptive (minimum, maximum), not both",
        ),
    ],
)
def test_a_cluster_profile_refuses_wrong_types_and_values_with_their_key_path(tmp_path, text, problem):
    profile = tmp_path / "p.yaml"
    profile.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_profile(profile)
    [line] = str(raised.value).splitlines()[1:]  # one problem, starting with its key path
    assert line.startswith(f"  - {problem}"), line


@pytest.mark.parametrize("walltime", ["30", "30:00", "04:00:00", "2-00", "2-12:00", "1-04:00:00", "100:00:00"])
def test_a_cluster_profile_takes_the_time_limits_slurm_pbs_and_sge_read(walltime):
    assert ClusterProfile(kind="slurm", jobs=1, walltime=walltime, memory="512MiB").walltime == walltime


def test_a_profile_with_more_worker_processes_than_cores_is_refused(tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text("kind: slurm\njobs: 1\ncores: 2\nprocesses: 4\n")  # dask-jobqueue: --nthreads 0 per worker
    with pytest.raises(ConfigError, match=r"kind slurm: processes \(4\) is above cores \(2\)"):
        load_profile(profile)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("interface: nonexistent0\n", "'nonexistent0' is not a valid network interface"),
    ],
)
def test_settings_dask_refuses_are_a_config_error_naming_the_reason(extra, reason):
    skip_without_jobqueue()
    import yaml

    profile = ClusterProfile.model_validate({"kind": "slurm", "jobs": 1, **yaml.safe_load(extra)})
    with pytest.raises(ConfigError, match=r"--cluster: dask-jobqueue refused the slurm settings \(.*" + reason):
        job_script(profile)


def test_a_missing_or_binary_cluster_profile_is_named_as_a_profile(tmp_path):
    with pytest.raises(ConfigError, match=r"nope.yaml: cluster profile not found$"):
        load_profile(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r": cluster profile not found \(a folder, not a file\)$"):
        load_profile(tmp_path)
    (tmp_path / "latin1.yaml").write_bytes(b"kind: slurm\nqueue: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 22: b'\\xe9'\); a cluster profile is a YAML"):
        load_profile(tmp_path / "latin1.yaml")


def test_scheduler_options_are_data_a_preload_that_would_run_code_is_refused(tmp_path):
    script = tmp_path / "preload.py"
    script.write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\n")
    profile = tmp_path / "p.yaml"
    profile.write_text(f"kind: slurm\njobs: 1\nscheduler_options: {{host: 127.0.0.1, preload: [{script}]}}\n")
    with pytest.raises(ConfigError) as raised:
        load_profile(profile)
    assert str(raised.value).splitlines()[1] == (
        "  - scheduler_options.preload: unknown key (allowed: host, port, dashboard_address)"
    )
    assert not (tmp_path / "ran").exists()
    profile.write_text("kind: slurm\njobs: 1\nscheduler_options: {port: 70000, dashboard_address: 8787}\n")
    with pytest.raises(ConfigError) as raised:
        load_profile(profile)
    assert str(raised.value).splitlines()[1:] == [
        "  - scheduler_options.port: Input should be less than or equal to 65535",
        "  - scheduler_options.dashboard_address: Input should be a valid string",
    ]
