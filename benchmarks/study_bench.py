"""The demo study (recipes/3-aggregation-rules.yaml, demo corpus included) with 1 and with N workers.

The runs happen in this one benchmark run, alternating (1, N, 1, N, ...: ``--repeat`` runs of each, 2 by
default, so a change of the machine's load hits both), on the same machine, each in a fresh
Python process as ``voxpop run`` would be (its imports, the cluster start-up and the workers' imports
included in its wall time), into a fresh output folder with its own cache and feature store:
``--workers 1`` in-process, ``--workers N`` on a Dask LocalCluster of N processes. Each run builds the
demo corpus as the recipe says (with N workers its clips are synthesised in the main process until the workers
have started, then on them) and writes its report (with N workers its figures are rendered on the
workers as they are drawn). Prints, per run, the wall time and the
CPU seconds (of the run's process and its worker processes) of each phase: start-up (imports, cluster),
corpus build, stages, report, and the corpus build and report as a share of its wall time; then the
fastest wall time of each worker count and their ratio (the fastest run is the one least slowed by other
users of the machine, as ``timeit`` reports the minimum), and "identical" only after checking that
results.parquet and report.md of every run are byte-identical. First it measures the machine: a fixed
CPU-bound loop alone and N copies at once (two vCPUs of one physical core, or a busy host, compute less
than twice as fast as one: that bounds every speed-up).

The machine may be shared: wall times then include waiting for the CPU. The CPU seconds do not, and
give what an idle machine with N cores would take at best: per phase max(CPU seconds / N, CPU seconds of
the busiest process) (the "CPU-bound estimate", a lower bound of that phase's wall time).

    python benchmarks/study_bench.py [--size small|tiny] [--workers 2] [--repeat 2] [--epochs E] [--bootstrap B]

``--size tiny`` (48 clips) is the quick preset; ``small`` (384 clips, the recipe as shipped) is the
default. ``--epochs`` / ``--bootstrap`` override the recipe (defaults: the recipe's own values).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "3-aggregation-rules.yaml"
PHASES = ("start-up", "corpus build", "stages", "report")


def cpu_by_process() -> dict[int, float]:
    """CPU seconds (user + system) of this process and every live process below it, by process id."""
    import psutil

    out = {}
    for process in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            out[process.pid] = times.user + times.system
    return out


def child(workers: int, out: Path, overrides: list[str]) -> None:
    """One run as ``voxpop run --workers N`` does it; prints each phase's end (seconds since the start and CPU
    seconds by process) as JSON."""
    started = time.perf_counter()
    marks = []

    def mark() -> None:
        marks.append((time.perf_counter() - started, cpu_by_process()))

    with contextlib.ExitStack() as stack:
        client, submit = None, None
        if workers > 1:
            from voxpop.core.cluster import connect

            client = stack.enter_context(connect(workers, None, preload=True))
            submit = functools.partial(client.submit, pure=False)
        from voxpop.report.study import write_study_report
        from voxpop.study import run as study
        from voxpop.study.loading import load_recipe

        prepare = study.prepare_corpus

        def timed_prepare(*args, **kwargs):
            mark()  # start-up done
            try:
                return prepare(*args, **kwargs)
            finally:
                mark()  # corpus built

        study.prepare_corpus = timed_prepare
        run = study.run_recipe(load_recipe(RECIPE, overrides), out, workers=workers, client=client)
        mark()  # stages done
        write_study_report(run, submit)
        mark()  # report written
    print(json.dumps(marks))


SPIN = "import time; t = time.perf_counter(); sum(i * i % 7 for i in range(30_000_000)); print(time.perf_counter() - t)"


def machine_check(workers: int) -> tuple[float, float]:
    """(seconds of a fixed CPU-bound loop run alone, mean seconds of each of ``workers`` copies run at once):
    how much faster ``workers`` processes compute together than one on this machine (vCPUs that share a
    physical core, or a host shared with other machines, give less than ``workers`` times)."""

    def run(copies: int) -> list[float]:
        command = [sys.executable, "-c", SPIN]
        started = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(copies)]
        return [float(process.communicate()[0]) for process in started]

    return run(1)[0], sum(together := run(workers)) / len(together)


def phases(marks: list, workers: int) -> list[tuple[float, float, float]]:
    """(wall seconds, CPU seconds, CPU-bound estimate) of each phase from the child's marks."""
    out, wall, cpu = [], 0.0, {}
    for end, by_process in marks:
        used = {pid: seconds - cpu.get(pid, 0.0) for pid, seconds in by_process.items()}
        total = sum(used.values())
        out.append((end - wall, total, max(total / workers, max(used.values()))))
        wall, cpu = end, {int(pid): seconds for pid, seconds in by_process.items()}
    return out


def timed_run(overrides: list[str], out: Path, workers: int) -> tuple[float, list[tuple[float, float, float]]]:
    """(wall seconds, per-phase times) of one run in a new process."""
    started = time.perf_counter()
    command = [sys.executable, __file__, "--child", str(workers), str(out), *overrides]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    marks = [(end, {int(pid): s for pid, s in cpu.items()}) for end, cpu in json.loads(result.stdout.splitlines()[-1])]
    return wall, phases(marks, workers)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("tiny", "small"), default="small")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--bootstrap", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each worker count, alternating (default 2)")
    args = parser.parse_args()
    overrides = [f"corpus.demo.size={args.size}"]
    overrides += [f"model.epochs={args.epochs}"] if args.epochs else []
    overrides += [f"evaluation.bootstrap={args.bootstrap}"] if args.bootstrap else []
    alone, together = machine_check(args.workers)
    print(
        f"this machine: a CPU-bound loop takes {alone:.2f} s alone and {together:.2f} s each with {args.workers} at "
        f"once: {args.workers} processes compute {args.workers * alone / together:.2f}x as fast as one (the ceiling of "
        "the speed-ups below)"
    )
    print(f"demo study: {RECIPE.name}; overrides: {overrides}; {args.repeat} runs each, alternating")
    walls: dict[int, list[float]] = {1: [], args.workers: []}
    estimates: dict[int, list[float]] = {1: [], args.workers: []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for run in range(1, args.repeat + 1):
            for workers in walls:
                wall, times = timed_run(overrides, root / f"workers-{workers}-run-{run}", workers)
                walls[workers].append(wall)
                estimates[workers].append(sum(estimate for _, _, estimate in times))
                serial = (times[1][0] + times[3][0]) / wall
                print(
                    f"run {run}, --workers {workers}: wall {wall:.1f} s, CPU {sum(cpu for _, cpu, _ in times):.1f} s, "
                    f"CPU-bound estimate {estimates[workers][-1]:.1f} s; corpus build + report {serial:.0%} of the wall"
                )
                for name, (seconds, cpu, estimate) in zip(PHASES, times, strict=True):
                    print(f"  {name:13s} wall {seconds:6.1f} s  CPU {cpu:6.1f} s  CPU-bound estimate {estimate:6.1f} s")
        best = {workers: min(values) for workers, values in walls.items()}
        bound = {workers: min(values) for workers, values in estimates.items()}
        n = args.workers
        print(
            f"fastest of {args.repeat}: --workers 1 {best[1]:.1f} s, --workers {n} {best[n]:.1f} s; "
            f"speed-up {best[1] / best[args.workers]:.2f}x (wall), {bound[1] / bound[args.workers]:.2f}x (CPU-bound "
            "estimates: an idle machine)"
        )
        reference = root / "workers-1-run-1"
        same = all(
            (reference / name).read_bytes() == (folder / name).read_bytes()
            for folder in root.iterdir()
            for name in ("results.parquet", "report.md")
        )
        print("identical" if same else "DIFFERENT: results.parquet or report.md differ between the runs")


if __name__ == "__main__":  # Dask starts its worker processes with 'spawn': they import this file
    main()
