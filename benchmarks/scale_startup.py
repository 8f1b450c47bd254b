"""Part ``startup`` of benchmarks/scale.py: ``voxpop --help`` and ``voxpop import --help`` against
``python -c "import pandas"``.

Each command runs in a fresh interpreter (``python -m voxpop``, this checkout's ``src`` first on the path);
its cost is the CPU seconds (user + system) of that child process, the median of interleaved runs (the
anchor, then each command, repeated), which a shared machine disturbs far less than wall time. ``--quick``:
3 rounds instead of 11.

Run alone: ``python benchmarks/scale.py --only startup``.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

from scale import Row

ANCHOR = [sys.executable, "-c", "import pandas"]
ANCHOR_NAME = '`python -c "import pandas"`'
COMMANDS = {
    "`voxpop --help`": [sys.executable, "-m", "voxpop", "--help"],
    "`voxpop import --help`": [sys.executable, "-m", "voxpop", "import", "--help"],
}


def child_cpu(command: list[str]) -> float:
    """CPU seconds (user + system) of one run of ``command``, its output discarded."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def rows(quick: bool) -> list[Row]:
    costs: dict[str, list[float]] = {"anchor": [], **{name: [] for name in COMMANDS}}
    for _ in range(3 if quick else 11):
        costs["anchor"].append(child_cpu(ANCHOR))
        for name, command in COMMANDS.items():
            costs[name].append(child_cpu(command))
    anchor = statistics.median(costs["anchor"])
    return [
        Row(name, statistics.median(costs[name]), anchor, "CPU s", target=1.5, anchor_name=ANCHOR_NAME)
        for name in COMMANDS
    ]
