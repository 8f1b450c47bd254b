"""How ``voxpop run``, ``demo`` and ``train`` show progress: a rich live display on a terminal, plain lines
otherwise (:class:`voxpop.core.progress_lines.PlainLines`), or nothing; ``--progress`` or ``VOXPOP_PROGRESS``
chooses, else whether standard error is a terminal.

Both displays render the same events (:class:`voxpop.core.progress.Reporter`): the live one shows the stage
running now, its stage count k of N (the run's stages, as ``--dry-run`` lists them and the closing
``stages run`` line counts them) and the stage's inner progress (items, folds, epochs) with rate and estimate.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator

import typer

from voxpop.cli.app import err_console, progress_bar
from voxpop.core.progress import Reporter
from voxpop.core.progress_lines import PlainLines, StageProgress

MODES = ("rich", "plain", "none")
ENVIRONMENT = "VOXPOP_PROGRESS"
PROGRESS_HELP = (
    "Progress display: rich (live bars), plain (a line per stage start / finish and every 30 s: logs, CI, "
    f"nohup) or none. Default: ${ENVIRONMENT}, else rich on a terminal and plain otherwise."
)


def progress_mode(flag: str | None) -> str:
    """The display to use: ``flag`` (``--progress``), else ``$VOXPOP_PROGRESS``, else ``rich`` when standard
    error is a terminal and ``plain`` when it is not.

    Raises:
        typer.BadParameter: a value that is none of :data:`MODES`, naming where it came from.
    """
    value, origin = (flag, "--progress") if flag else (os.environ.get(ENVIRONMENT), ENVIRONMENT)
    if not value:
        return "rich" if sys.stderr.isatty() else "plain"
    if value not in MODES:
        raise typer.BadParameter(f"{origin} must be one of {', '.join(MODES)}; got {value!r}")
    return value


@contextlib.contextmanager
def progress_reporter(mode: str = "rich") -> Iterator[Reporter]:
    """A :class:`~voxpop.core.progress.Reporter` rendering the run's progress in ``mode`` (:func:`progress_mode`)
    for the duration of the block; ``none`` still prints notices (a damaged stage recomputed)."""
    if mode == "plain":
        with PlainLines() as lines:
            yield lines.reporter()
    elif mode == "none":
        yield Reporter(notice=lambda line: err_console.print(line, markup=False, highlight=False))
    else:
        with _rich_reporter() as reporter:
            yield reporter


@contextlib.contextmanager
def _rich_reporter() -> Iterator[Reporter]:
    """The live display: one bar over the run's stages (finished of N, the running stage's name) and one for
    the running stage's inner progress (its units, rate and estimate)."""
    with progress_bar(err_console) as bar:
        stages = bar.add_task("stages", total=None)
        inner = bar.add_task("", total=None, visible=False)
        running: dict[int, StageProgress] = {}  # by position: labels need not be unique
        finished = 0

        def show(total: int) -> None:
            if running:
                current = next(reversed(running.values()))
                more = f" (+{len(running) - 1} running)" if len(running) > 1 else ""
                description = f"stage {current.position}/{current.total or '?'} {current.label}{more}"
            else:
                description = "stages"
            bar.update(stages, completed=finished, total=total or None, description=description)

        def stage(label: str, position: int, total: int, cached: bool) -> None:
            nonlocal finished
            if cached:
                finished += 1
            else:
                running[position] = StageProgress(label, position, total, time.time())
                bar.update(inner, visible=False, completed=0, total=None)
            show(total)

        def step(done: int, total: int, unit: str = "items") -> None:
            if not running:
                return
            current = next(reversed(running.values()))
            current.update(done, total, unit, time.time())
            _, outer_total, _ = current.outer()
            text = ", ".join(part for part in (current.describe(), current.rate()) if part)  # the bar shows the ETA
            bar.update(inner, visible=True, completed=current.fraction() * outer_total, total=outer_total,
                       description=f"  {text}")  # fmt: skip

        def finish(label: str, position: int, seconds: float) -> None:
            nonlocal finished
            stopped = running.pop(position, None)
            finished += 1
            bar.update(inner, visible=False)
            show(stopped.total if stopped is not None else bar.tasks[stages].total or 0)

        def notice(message: str) -> None:  # printed above the bars
            bar.console.print(message, markup=False, highlight=False)

        yield Reporter(stage, step, notice, finish)
        bar.update(stages, completed=bar.tasks[stages].total, description="done")
        bar.update(inner, visible=False)
