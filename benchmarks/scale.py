"""Every speed target of voxpop against its plain anchor, measured side by side in one run.

Run: ``python benchmarks/scale.py [--quick]`` (``--quick``: the smallest sizes only, a smoke run).

Each part (a module ``benchmarks/scale_<part>.py`` listed in :data:`PARTS`) measures one kind of work
twice in the same process, voxpop's way and a plain anchor's way (pyarrow, numpy, crowd-kit, torch),
interleaved, and returns rows of one table: what was measured, voxpop's cost, the anchor's cost, their
ratio and the target the ratio is held to. The table printed here is the one in docs/scaling.md.
To add a measurement, add a part module with a ``rows(quick: bool) -> list[Row]`` function and list it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

PARTS: list[str] = ["import", "kernels", "train", "startup"]


@dataclass(frozen=True)
class Row:
    """One measured line: ``voxpop`` and ``anchor`` are costs in ``unit`` (e.g. "CPU s", "GB peak")."""

    what: str
    voxpop: float
    anchor: float
    unit: str
    target: float | None = None  # the largest ratio voxpop / anchor the issue allows; None: printed only
    anchor_name: str = ""

    @property
    def ratio(self) -> float:
        return self.voxpop / self.anchor if self.anchor else float("inf")

    def markdown(self) -> str:
        target = "" if self.target is None else f"<= {self.target:g}x"
        met = "" if self.target is None else ("yes" if self.ratio <= self.target else "**no**")
        return (
            f"| {self.what} | {self.voxpop:.3g} {self.unit} | {self.anchor_name}: {self.anchor:.3g} {self.unit} "
            f"| {self.ratio:.2f}x | {target} | {met} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smallest sizes only (a smoke run)")
    parser.add_argument("--only", action="append", default=[], help="run only these parts (repeatable)")
    args = parser.parse_args()
    print("| what | voxpop | plain anchor | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    for part in PARTS:
        if args.only and part not in args.only:
            continue
        module = importlib.import_module(f"scale_{part}")
        for row in module.rows(args.quick):
            print(row.markdown(), flush=True)


if __name__ == "__main__":
    main()
