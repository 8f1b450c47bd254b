"""The demo study (recipes/3-aggregation-rules.yaml on the synthetic demo corpus) with 1 and with N workers.

Both runs happen in this one benchmark run, one after the other, on the same machine: the demo corpus
is built once (timed: a serial part), then the study runs with ``--workers 1`` (in-process) and with
``--workers N`` (a Dask LocalCluster of N processes), each in a fresh Python process as ``voxpop run``
would be (its imports, the cluster start-up and the workers' imports included in its wall time), into a
fresh output folder with its own feature store, and each writes its report (timed: the other serial
part). Prints both wall times, their ratio, the serial parts as a share of each wall time, and
"identical" only after checking that results.parquet and report.md of the two runs are byte-identical.

    python benchmarks/study_bench.py [--size small|tiny] [--workers 2] [--epochs E] [--bootstrap B]

``--size tiny`` (48 clips) is the quick preset; ``small`` (384 clips, the recipe as shipped) is the
default. ``--epochs`` / ``--bootstrap`` override the recipe (defaults: the recipe's own values).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "3-aggregation-rules.yaml"


def child(workers: int, out: Path, overrides: list[str]) -> None:
    """One run as ``voxpop run --workers N`` does it (cluster first, so workers import while this process
    does); prints the seconds until the stages are done and of the report, as JSON."""
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        client = None
        if workers > 1:
            from voxpop.cluster import connect

            client = stack.enter_context(connect(workers, None, preload=True))
        from voxpop.recipe_loading import load_recipe
        from voxpop.study import run_recipe
        from voxpop.study_report import build_report

        run = run_recipe(load_recipe(RECIPE, overrides), out, workers=workers, client=client, write_report=False)
    stages = time.perf_counter() - started
    build_report(run).write(out)
    print(json.dumps({"stages": stages, "report": time.perf_counter() - started - stages}))


def timed_run(overrides: list[str], out: Path, workers: int) -> tuple[float, float, float]:
    """(wall seconds, seconds until the stages are done, seconds of the report) of one run in a new process."""
    started = time.perf_counter()
    command = [sys.executable, __file__, "--child", str(workers), str(out), *overrides]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    times = json.loads(result.stdout.strip().splitlines()[-1])
    return wall, times["stages"], times["report"]


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:])
        return
    from voxpop.demo import make_demo_corpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("tiny", "small"), default="small")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--bootstrap", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        make_demo_corpus(root / "demo", args.size)
        corpus = time.perf_counter() - started
        overrides = ["corpus.demo=null", f"corpus.path={root / 'demo' / 'corpus'}"]
        overrides += [f"model.epochs={args.epochs}"] if args.epochs else []
        overrides += [f"evaluation.bootstrap={args.bootstrap}"] if args.bootstrap else []
        print(f"demo study: {RECIPE.name} on the {args.size} demo corpus; overrides: {overrides[2:] or 'none'}")
        print(f"corpus build (serial, shared by both runs): {corpus:.1f} s")
        walls = {}
        for workers in (1, args.workers):
            wall, stages, report = timed_run(overrides, root / f"workers-{workers}", workers)
            walls[workers] = corpus + wall
            serial = (corpus + report) / walls[workers]
            print(
                f"--workers {workers}: wall {walls[workers]:.1f} s (corpus build {corpus:.1f} s + imports and stages "
                f"{stages:.1f} s + report {report:.1f} s); serial parts (corpus build + report) {serial:.0%} of it"
            )
        print(f"speed-up --workers 1 / --workers {args.workers}: {walls[1] / walls[args.workers]:.2f}x")
        same = all(
            (root / "workers-1" / name).read_bytes() == (root / f"workers-{args.workers}" / name).read_bytes()
            for name in ("results.parquet", "report.md")
        )
        print("identical" if same else "DIFFERENT: results.parquet or report.md differ between the runs")


if __name__ == "__main__":  # Dask starts its worker processes with 'spawn': they import this file
    main()
