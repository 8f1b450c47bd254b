"""``voxpop export``: a run's fold models as ONNX files with a JSON card."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from voxpop.cli.app import app, console
from voxpop.core.errors import ConfigError


@app.command()
def export(
    run: Path = typer.Argument(..., help="Output directory of 'voxpop train' or 'voxpop run'."),
    model: str = typer.Option(None, "--model", help="The run to export (when the directory holds several)."),
    out: Path = typer.Option(..., "--out", help="Folder to write <fold>.onnx and card.json into."),
    output_format: str = typer.Option("onnx", "--format", help="Export format (onnx)."),
) -> None:
    """Write each fold model's head as ONNX plus card.json (classes, label rule, corpus, metrics, feature spec)."""
    from voxpop.models import export_run

    if output_format != "onnx":
        raise ConfigError(f"--format {output_format!r}: the export format is onnx.")
    written = export_run(run, out, model)
    folds = sorted(p.name for p in written.glob("*.onnx"))
    console.print(f"{len(folds)} fold models ({', '.join(folds)}) and card.json written to [bold]{escape(str(out))}[/]")
