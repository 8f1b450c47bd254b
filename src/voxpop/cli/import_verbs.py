"""``voxpop import FORMAT ... --out DIR``: one sub-command per native format (thin wrappers)."""

from __future__ import annotations

import typer

from voxpop.cli.app import app

import_app = typer.Typer(
    help="Import a corpus from a native rating format into a corpus directory.",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")

OUT = typer.Option(..., "--out", help="Corpus directory to write.")

# --- crema-d, ravdess, likert, mosei

# --- msp, iemocap, intervals, long
