"""The typer application object and the console shared by every verb module."""

from __future__ import annotations

import os

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

app = typer.Typer(
    name="voxpop",
    help="Speech emotion recognition that learns from every rater.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
PIPED_WIDTH = 400  # columns when output is not a terminal: tables are written whole, never cut at 80


def _console(stderr: bool = False) -> Console:
    """A console of the terminal's width, or, when output goes to a file or pipe (and COLUMNS is not
    set), one wide enough that tables keep their full width."""
    probe = Console(stderr=stderr)
    wide = not probe.is_terminal and "COLUMNS" not in os.environ
    return Console(stderr=stderr, width=PIPED_WIDTH) if wide else probe


console = _console()
err_console = _console(stderr=True)


def _show_version(value: bool) -> None:
    if value:
        from voxpop import __version__

        console.print(f"voxpop {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Speech emotion recognition that learns from every rater."""
    from voxpop.core.errors import command_line

    ctx.with_resource(command_line())  # hints in messages name command-line flags while the command runs


def progress_bar(on: Console = console) -> Progress:
    """A rich progress bar with count, elapsed time and ETA, as every long verb shows."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    return Progress(*columns, console=on)
