"""The demo study (recipes/3-aggregation-rules.yaml on the synthetic demo corpus) with 1 and with N workers.

Both runs happen in this one process, one after the other, on the same machine: the demo corpus is
built once (timed: a serial part), then the study runs with ``--workers 1`` (in-process) and with
``--workers N`` (a Dask LocalCluster of N processes, its start-up included), each into a fresh output
folder with its own feature store, and each writes its report (timed: the other serial part). Prints
both wall times, their ratio, the serial parts as a share of each wall time, and "identical" only
after checking that results.parquet and report.md of the two runs are byte-identical.

    python benchmarks/study_bench.py [--size small|tiny] [--workers 2] [--epochs E] [--bootstrap B]

``--size tiny`` (48 clips) is the quick preset; ``small`` (384 clips, the recipe as shipped) is the
default. ``--epochs`` / ``--bootstrap`` override the recipe (defaults: the recipe's own values).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from voxpop.demo import make_demo_corpus
from voxpop.experiment import load_recipe
from voxpop.study import run_recipe
from voxpop.study_report import build_report

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "3-aggregation-rules.yaml"


def timed_run(overrides: list[str], out: Path, workers: int) -> tuple[float, float]:
    """(seconds of the stages, seconds of the report) of one run of the study into ``out``."""
    recipe = load_recipe(RECIPE, overrides)
    started = time.perf_counter()
    run = run_recipe(recipe, out, workers=workers, write_report=False)
    stages = time.perf_counter() - started
    started = time.perf_counter()
    build_report(run).write(out)
    return stages, time.perf_counter() - started


def main() -> None:
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
            stages, report = timed_run(overrides, root / f"workers-{workers}", workers)
            walls[workers] = corpus + stages + report
            serial = (corpus + report) / walls[workers]
            print(
                f"--workers {workers}: wall {walls[workers]:.1f} s (stages {stages:.1f} s, report {report:.1f} s); "
                f"serial parts (corpus build + report) {serial:.0%} of it"
            )
        print(f"speed-up --workers 1 / --workers {args.workers}: {walls[1] / walls[args.workers]:.2f}x")
        same = all(
            (root / "workers-1" / name).read_bytes() == (root / f"workers-{args.workers}" / name).read_bytes()
            for name in ("results.parquet", "report.md")
        )
        print("identical" if same else "DIFFERENT: results.parquet or report.md differ between the runs")


if __name__ == "__main__":  # Dask starts its worker processes with 'spawn': they import this file
    main()
