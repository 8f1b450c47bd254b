"""``voxpop store list | prune``: show and free the feature store shared by every study (thin wrappers)."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from voxpop.cli.app import app, console
from voxpop.features.store_admin import LOCK_LIMITATION, StoreEntry, default_store_root, list_entries, prune
from voxpop.features.store_lock import LOCKING

store_app = typer.Typer(
    help="Show and free the feature store that every study, 'voxpop train' and 'voxpop features' share.",
    no_args_is_help=True,
)
app.add_typer(store_app, name="store")

STORE = typer.Option(
    None, "--store", help="Feature store root (default $VOXPOP_FEATURE_STORE, else the user's cache folder)."
)


def _size(size: float) -> str:
    """Bytes in binary units: ``512 B``, ``1.5 KiB``, ``2.0 GiB``."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    power = 0
    while size >= 1024 and power < len(units) - 1:
        size, power = size / 1024, power + 1
    return f"{size:,.0f} B" if power == 0 else f"{size:,.1f} {units[power]}"


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))


def _table(title: str, entries: list[StoreEntry]) -> Table:
    table = Table(title=title)
    for column in ("entry", "extractor", "corpus", "items", "size", "last used", "state"):
        table.add_column(column, justify="right" if column in ("items", "size") else "left")
    for e in entries:
        state = "complete" if e.complete else "incomplete"
        row = (e.path.name, e.extractor, e.corpus or "-", f"{e.items:,}", _size(e.size), _when(e.last_used), state)
        table.add_row(*map(escape, row))
    return table


def _others(others: list[Path]) -> None:
    if others:
        names = ", ".join(p.name for p in others[:5]) + (", ..." if len(others) > 5 else "")
        console.print(f"{len(others)} folder(s) that are not store entries, left alone: {escape(names)}")


@store_app.command("list")
def list_command(store: Path = STORE) -> None:
    """List the store's entries (extractor, corpus, items, size on disk, last use), least recently used first."""
    root = store or default_store_root()
    entries, others = list_entries(root)
    if entries:
        console.print(_table(f"feature store {root}", entries))
    total = sum(e.size for e in entries)
    console.print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, {_size(total)} in {escape(str(root))}")
    _others(others)


@store_app.command("prune")
def prune_command(
    store: Path = STORE,
    older_than: float = typer.Option(None, "--older-than", help="Remove entries not used for this many days."),
    all_entries: bool = typer.Option(False, "--all", help="Remove every entry."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be removed; remove nothing."),
) -> None:
    """Remove entries unused for --older-than DAYS (or --all); entries another process is reading are skipped."""
    root = store or default_store_root()
    if not LOCKING:
        console.print(f"[yellow]warning[/]: {LOCK_LIMITATION}")
    report = prune(root, older_than_days=older_than, everything=all_entries, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    if report.removed:
        console.print(_table(f"{verb} from {root}", report.removed))
    kept = f"; kept {report.kept} used in the last {older_than:g} days" if older_than is not None else ""
    console.print(
        f"{verb} {len(report.removed)} entr{'y' if len(report.removed) == 1 else 'ies'} ({_size(report.freed)}){kept}",
        highlight=False,
    )
    if report.in_use:
        names = ", ".join(e.path.name for e in report.in_use)
        console.print(
            f"skipped {len(report.in_use)} entr{'y' if len(report.in_use) == 1 else 'ies'} in use by another "
            f"process: {escape(names)}; prune again when it has finished",
            highlight=False,
        )
    _others(report.others)
