"""Part "import" of benchmarks/scale.py: a long rating table of 1e5, 1e6 and 1e7 ratings imported and used.

Per size, a synthetic long CSV (``item, rater, label``: ten raters per item from a pool of 1,000, six
classes) is written once, then each command runs in its own process, measured by its CPU seconds
(user + system), wall seconds and peak resident memory (``getrusage(RUSAGE_CHILDREN)`` of a wrapper that
runs only that command); the import and its anchor run five times each, taking turns, and the least of each
is compared (see :func:`interleaved`):

- ``voxpop import long`` against the anchor, pyarrow's CSV reader plus ``dictionary_encode`` of the same
  three columns (the floor of reading the file into codes); targets at 1e7 ratings (issue #25: measured on a
  ten-million-rating corpus): <= 2x CPU and <= 2x peak memory; the smaller sizes are printed to show the growth
  (there the interpreter's and pandas' start-up, a fixed 0.6 CPU s, is most of voxpop's cost);
- ``voxpop agreement`` and ``voxpop labels --rule mr`` on the imported corpus, against a budget of 15 s
  wall and 3 GB peak at 1e7 ratings (printed as "budget", target 1x; smaller sizes are printed only, to
  show the cost grows linearly); their CPU seconds are printed beside the wall clock, which on a shared
  machine also counts other processes' work.

``--quick`` runs 1e5 only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from scale import Row

SIZES = (100_000, 1_000_000, 10_000_000)
RATERS_PER_ITEM = 10
RATER_POOL = 1_000
CLASSES = ("anger", "disgust", "fear", "happy", "neutral", "sad")
REPEATS = 5  # runs of voxpop import and of its anchor per size, interleaved; the least of each is printed
BUDGET_SIZE = 10_000_000
BUDGET_WALL_S = 15.0
BUDGET_GB = 3.0
ROOT = Path(__file__).resolve().parent.parent

_WRAPPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - start
use = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": done.returncode, "err": done.stderr[-2000:], "wall": wall,
                  "cpu": use.ru_utime + use.ru_stime, "peak_kb": use.ru_maxrss}))
"""

_ANCHOR = """
import sys
import pyarrow.csv as pacsv
table = pacsv.read_csv(sys.argv[1])
coded = [table.column(name).dictionary_encode() for name in ("item", "rater", "label")]
assert sum(len(c) for c in coded) == 3 * table.num_rows
"""


def write_ratings(path: Path, n: int) -> None:
    """A long CSV of ``n`` ratings: item ``i`` rated by raters ``(7 i + 13 k) mod 1000``, k < 10 (all distinct).

    Labels are drawn with a fixed seed so that every item has a plurality and some ties.
    """
    rng = np.random.default_rng(0)
    items = np.arange(n) // RATERS_PER_ITEM
    slot = np.arange(n) % RATERS_PER_ITEM
    raters = (7 * items + 13 * slot) % RATER_POOL
    labels = np.asarray(CLASSES)[rng.integers(0, len(CLASSES), n)]
    table = pa.table(
        {
            "item": pa.array(np.char.add("clip", items.astype(str))),
            "rater": pa.array(np.char.add("r", raters.astype(str))),
            "label": pa.array(labels),
        }
    )
    pacsv.write_csv(table, path)


def measure(command: list[str]) -> dict:
    """CPU s, wall s and peak GB of ``command`` run alone in a wrapper process (its children's rusage)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True, env=env)
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result['rc']}): {result['err']}")
    return {"cpu": result["cpu"], "wall": result["wall"], "gb": result["peak_kb"] / 2**20}


def interleaved(anchor: list[str], commands: list[list[str]]) -> tuple[dict, dict]:
    """The least CPU s, wall s and peak GB over runs of the anchor and of ``commands`` (one each time), the two
    taking turns (so a busy spell of a shared machine falls on both); each import writes a new folder.

    The least of several runs is the one least inflated by other work (``timeit``'s advice): on this project's
    2-core machine the anchor's CPU seconds at 1e7 ratings ranged from 1.8 to 4.6 within an hour, voxpop's
    from 5.6 to 7.2, so a single run or a median of three could put the ratio anywhere from 1.7x to 2.4x.
    """
    runs: dict[int, list[dict]] = {0: [], 1: []}
    for command in commands:
        runs[0].append(measure(anchor))
        runs[1].append(measure(command))
    return tuple({key: min(r[key] for r in runs[side]) for key in runs[side][0]} for side in runs)


def voxpop(*args: str) -> list[str]:
    return [sys.executable, "-m", "voxpop", *args]


def rows(quick: bool) -> Iterator[Row]:
    """The import, agreement and MR rows per size (see the module docstring), each yielded once measured."""
    for n in SIZES[:1] if quick else SIZES:
        with tempfile.TemporaryDirectory(prefix="voxpop-scale-import-") as scratch:
            csv = Path(scratch) / "ratings.csv"
            write_ratings(csv, n)
            corpus = Path(scratch) / "corpus"
            folders = [corpus, *(corpus.with_name(f"corpus-{run}") for run in range(1, REPEATS))]  # fresh writes
            imports = [voxpop("import", "long", str(csv), "--out", str(folder)) for folder in folders]
            anchor, imported = interleaved([sys.executable, "-c", _ANCHOR, str(csv)], imports)
            size = f"{n:.0e}".replace("e+0", "e")
            anchor_name = "pyarrow read + dictionary_encode"
            budgeted = n == BUDGET_SIZE  # the targets hold at ten million ratings; smaller sizes show the growth
            limit = 2.0 if budgeted else None
            yield Row(f"import long, {size} ratings: CPU", imported["cpu"], anchor["cpu"], "CPU s", limit, anchor_name)
            memory = f"import long, {size} ratings: peak memory"
            yield Row(memory, imported["gb"], anchor["gb"], "GB", limit, anchor_name)
            for verb, args in (
                ("agreement", ["agreement", str(corpus)]),
                ("labels mr", ["labels", str(corpus), "--rule", "mr", "--out", str(Path(scratch) / "mr.parquet")]),
            ):
                used = measure(voxpop(*args))
                target = 1.0 if budgeted else None
                yield Row(f"{verb}, {size} ratings: wall", used["wall"], BUDGET_WALL_S, "s", target, "budget")
                # CPU seconds too: on a shared machine the wall clock also counts other people's work
                yield Row(f"{verb}, {size} ratings: CPU", used["cpu"], BUDGET_WALL_S, "CPU s", None, "budget")
                yield Row(f"{verb}, {size} ratings: peak memory", used["gb"], BUDGET_GB, "GB", target, "budget")
