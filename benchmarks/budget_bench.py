"""Time of ``voxpop budget`` on the full CREMA-D rating table (212,000 votes; target: under a minute on 2 cores).

Run: ``python benchmarks/budget_bench.py [--votes PATH/tabulatedVotes.csv] [--draws 20] [--bootstrap 1000]``.

The table is imported once (not timed); then the whole verb runs as a user runs it, in a fresh process (its
start, the corpus load, every condition and k = 1 .. the largest panel, the re-annotation ranking and the
files of ``--out``), and the wall-clock and CPU times are printed. ``--votes`` defaults to
``$VOXPOP_SHARED_DATA/crema-d/tabulatedVotes.csv``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def _voxpop(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voxpop", *args], capture_output=True, text=True, check=True)


def main() -> None:
    default = Path(os.environ.get("VOXPOP_SHARED_DATA", "data")) / "crema-d" / "tabulatedVotes.csv"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=Path, default=default, help="CREMA-D tabulatedVotes.csv")
    parser.add_argument("--draws", default="20", help="--draws of voxpop budget")
    parser.add_argument("--bootstrap", default="1000", help="--bootstrap of voxpop budget")
    parser.add_argument("--rule", action="append", default=None, help="--rule of voxpop budget (repeatable)")
    args = parser.parse_args()
    if not args.votes.is_file():
        sys.exit(f"{args.votes}: not found; give --votes PATH/tabulatedVotes.csv or set VOXPOP_SHARED_DATA")
    with tempfile.TemporaryDirectory(prefix="voxpop-budget-") as tmp:
        corpus = Path(tmp) / "crema-d"
        _voxpop("import", "crema-d", str(args.votes), "--out", str(corpus))
        rules = [word for rule in args.rule or ["mr"] for word in ("--rule", rule)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        _voxpop("budget", str(corpus), *rules, "--draws", args.draws, "--bootstrap", args.bootstrap,
                "--out", str(Path(tmp) / "budget"))  # fmt: skip
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        votes = int(pd.read_csv(args.votes, usecols=list("ADFHNS")).to_numpy().sum())
        print(f"voxpop budget on {args.votes.name} ({votes:,} votes; rules {', '.join(args.rule or ['mr'])}; "
              f"B = {args.draws}; {args.bootstrap} resamples)")  # fmt: skip
        print(f"wall clock {wall:.1f} s, CPU {cpu:.1f} s, on {os.cpu_count()} cores "
              f"({'under' if wall < 60 else 'OVER'} the one-minute target)")  # fmt: skip


if __name__ == "__main__":
    main()
