"""The typer application object (its verbs imported when they run) and the console shared by every verb module."""

from __future__ import annotations

import importlib
import os
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from typer import _click
from typer.core import TyperCommand, TyperGroup

from voxpop.cli.verbs import VERBS


def load_verb(name: str) -> _click.Command:
    """The command of verb ``name`` (a :data:`VERBS` key), importing its module (which registers it on the app).

    Raises:
        KeyError: ``name`` is not a verb of :data:`VERBS`.
    """
    importlib.import_module(f"voxpop.cli.{VERBS[name][0]}")
    return typer.main.get_group(app).commands[name]


class LazyVerbs(TyperGroup):
    """The ``voxpop`` group: lists :data:`VERBS` from the index, imports a verb's module when it is invoked."""

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return [*VERBS, *(name for name in self.commands if name not in VERBS)]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        """The verb's command once loaded; before that, for the listing, a stand-in holding its help."""
        if cmd_name in self.commands or cmd_name not in VERBS:
            return self.commands.get(cmd_name)
        return TyperCommand(name=cmd_name, help=VERBS[cmd_name][1])

    def resolve_command(self, ctx: _click.Context, args: list[str]) -> tuple[Any, ...]:
        """Import the invoked verb's module; for a name that is no verb, the stand-ins of every verb, so that
        typer's message suggests the verbs it resembles (``Did you mean 'agreement'?``)."""
        if args and args[0] in VERBS and args[0] not in self.commands:
            self.commands[args[0]] = load_verb(args[0])
        elif args and args[0] not in self.commands:
            for name in VERBS:
                self.commands.setdefault(name, self.get_command(ctx, name))
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="voxpop",
    cls=LazyVerbs,
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
