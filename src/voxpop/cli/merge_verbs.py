"""``voxpop merge``: several corpora into one, for cross-corpus training and testing."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from voxpop.cli.app import app, console
from voxpop.cli.options import FORCE, parse_names

_COLUMNS = {
    "items": "items",
    "items_kept": "items kept",
    "items_dropped": "items dropped (only dropped labels)",
    "ratings": "ratings",
    "ratings_renamed": "ratings renamed",
    "ratings_dropped_label": "ratings on dropped labels (kept as excluded)",
    "ratings_of_dropped_items": "ratings of dropped items",
}


def _source(text: str) -> tuple[str | None, Path]:
    """``NAME=DIR`` or ``DIR`` (the namespace is then the corpus's own name)."""
    name, sep, path = text.partition("=")
    return (name, Path(path)) if sep and not Path(text).exists() else (None, Path(text))


@app.command()
def merge(
    corpora: list[str] = typer.Argument(..., help="Corpus directories, each as DIR or NAME=DIR (NAME prefixes ids)."),
    out: Path = typer.Option(..., "--out", help="Corpus directory to write."),
    class_map: list[str] = typer.Option(
        None, "--class-map", help="CORPUS:LABEL=NEW[,LABEL=NEW...]; NEW 'drop' removes a class (repeatable)."
    ),
    classes: str = typer.Option(None, help="Merged class list in order (default: union of the mapped classes)."),
    name: str = typer.Option(None, help="Name of the merged corpus (default: the corpus names joined with '+')."),
    force: bool = FORCE,
) -> None:
    """Merge corpora: namespaced item / rater / speaker ids, a class map per corpus, every change counted."""
    from voxpop.cli.corpus_verbs import save_imported
    from voxpop.corpus import Corpus
    from voxpop.corpus.merge import MergeSource, merge_corpora, read_class_maps

    loaded = [(given, Corpus.load(path)) for given, path in map(_source, corpora)]
    namespaces = [given or corpus.name for given, corpus in loaded]
    maps = read_class_maps(class_map or [], namespaces)
    sources = [MergeSource(corpus, ns, maps[ns]) for ns, (_, corpus) in zip(namespaces, loaded, strict=True)]
    merged, accounting = merge_corpora(sources, classes=parse_names(classes), name=name)
    save_imported(merged, out, force)
    table = Table(title="merge accounting")
    table.add_column("corpus")
    for label in _COLUMNS.values():
        table.add_column(label, justify="right")
    for namespace, row in accounting.iterrows():
        table.add_row(str(namespace), *(f"{int(row[c]):,}" for c in _COLUMNS))
    console.print(table)
