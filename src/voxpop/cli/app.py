"""The typer application object and the console shared by every verb module."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="voxpop",
    help="Speech emotion recognition that learns from every rater.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
console = Console()
err_console = Console(stderr=True)
