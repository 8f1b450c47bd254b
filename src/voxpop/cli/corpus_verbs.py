"""Verbs on corpora: ``voxpop validate`` and ``voxpop import FORMAT``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from voxpop.cli.app import app, console
from voxpop.core.cache import CACHE_TAG, CACHE_TAG_TEXT
from voxpop.core.errors import ConfigError, VoxpopError
from voxpop.corpus import Corpus, CorpusError
from voxpop.corpus.media_paths import following_symlinks, outside_items

WHERE_HELP = "Keep only items for which this item filter is true, e.g. \"gender == 'female'\" (docs/filters.md)."


def load_corpus(
    path: Path, where: str | None = None, validate: bool = False, follow_symlinks: bool | None = None
) -> Corpus:
    """Load a corpus directory and keep the items matching item filter ``where`` (see voxpop.corpus.filters);
    ``validate`` checks every rating even when the content hashes match, ``follow_symlinks`` reads its files through
    symlinks leading out of the folder (:meth:`voxpop.corpus.corpus.Corpus.load`)."""
    return Corpus.load(path, validate=validate, follow_symlinks=follow_symlinks).where(where)


def print_summary(corpus: Corpus) -> None:
    """Render :meth:`Corpus.summary` as tables."""
    summary = corpus.summary()
    head = Table(title=f"corpus {corpus.name!r}", show_header=False)
    for key in ("items", "ratings", "raters", "ratings without rater", "items without ratings"):
        head.add_row(key, f"{summary[key]:,}")
    per_item = summary["ratings per item"]
    head.add_row(
        "ratings per item",
        f"mean {per_item['mean']:.2f}, min {per_item['min']:g}, median {per_item['median']:g}, max {per_item['max']:g}",
    )
    head.add_row("classes", ", ".join(corpus.classes))
    if corpus.excluded:
        head.add_row("excluded", ", ".join(corpus.excluded))
    console.print(head)
    per_condition = Table(title="ratings per item by condition", caption="over the items rated in the condition")
    for name in ("condition", "items", "min", "median", "max"):
        per_condition.add_column(name, justify="left" if name == "condition" else "right")
    for condition, stats in summary["ratings per item by condition"].items():
        per_condition.add_row(condition, *(f"{stats[k]:,g}" for k in ("items", "min", "median", "max")))
    console.print(per_condition)
    for key in ("by condition", "by slot", "by class"):
        table = Table(title=f"ratings {key}")
        table.add_column(key.removeprefix("by "))
        table.add_column("ratings", justify="right")
        for name, count in summary[key].items():
            table.add_row(str(name), f"{count:,}")
        console.print(table)


def save_imported(corpus: Corpus, out: Path, force: bool = False) -> None:
    """Save an imported corpus (refusing to replace a different one unless ``force``) and show what it holds."""
    from rich.markup import escape

    from voxpop.labels.overwrite import outcome_note, save_corpus

    outcome = save_corpus(corpus, out, force)
    print_summary(corpus)
    console.print(escape(outcome_note(outcome, out, "corpus")), highlight=False)


@app.command()
def validate(
    corpus: Path = typer.Argument(None, help="Corpus directory (corpus.yaml, items.parquet, ...)."),
    where: str = typer.Option(None, help=WHERE_HELP),
    cache: Path = typer.Option(
        None, "--cache", help="Instead: verify every stage and feature store entry under this cache folder."
    ),
    audio_root: Path = typer.Option(
        None,
        "--audio-root",
        help="Folder every item's audio must lie under (default: the root the import recorded, else the corpus).",
    ),
    allow_outside_paths: bool = typer.Option(
        False, "--allow-outside-paths", help="List audio paths outside the audio root without failing."
    ),
    follow_symlinks: bool = typer.Option(
        False,
        "--follow-symlinks",
        help="Read corpus files and audio through symlinks leading out of their folder (default: refused).",
    ),
) -> None:
    """Check a corpus and print a summary: items, raters, ratings per item, condition, slot, class.

    With --cache DIR, verify the checksums of every finished stage and feature store entry under DIR
    and list every damaged one (exit code 1 when any is damaged).
    """
    if cache is not None:
        if corpus is not None:
            raise ConfigError("give either a corpus directory or --cache DIR, not both")
        validate_cache(cache)
        return
    if corpus is None:
        raise ConfigError("give a corpus directory to validate (or --cache DIR to verify a study's cache)")
    try:
        loaded = load_corpus(corpus, where, validate=True, follow_symlinks=follow_symlinks or None)
    except CorpusError as exc:
        count = len(exc.problems)
        console.print(f"[bold red]{count} problem{'s' if count != 1 else ''} found[/] in {corpus}:")
        for problem in exc.problems:
            console.print(f"  - {problem}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    print_summary(loaded)
    root = audio_root or loaded.audio_root or corpus
    outside = outside_items(loaded.items, root, following_symlinks(follow_symlinks or None))
    if outside:
        shown = [f"  - item {item!r}: {path}" for item, path in outside[:20]]
        more = [f"  ... and {len(outside) - 20} more"] if len(outside) > 20 else []
        verdict = "accepted (--allow-outside-paths)" if allow_outside_paths else "[bold red]refused[/]"
        console.print(f"{len(outside)} item(s) with audio outside the audio root {escape(str(root))}: {verdict}")
        console.print("\n".join(shown + more), highlight=False, markup=False)
        if not (audio_root or loaded.audio_root):
            console.print("corpus.yaml records no audio root (an import before voxpop recorded one, or a corpus "
                          "made by hand), so the corpus folder was used", highlight=False)  # fmt: skip
        if not allow_outside_paths:
            console.print("move the files under the root, give the right one with --audio-root, or pass "
                          "--allow-outside-paths if you trust the corpus")  # fmt: skip
            raise typer.Exit(1)
    console.print("[green]no problems found[/]")


def validate_cache(root: Path) -> None:
    """Verify every stage directory (``.done``) and feature store entry (``store.json``) under ``root`` in full,
    and the store entries its features stages read (recorded in their ``features.json``), wherever they lie.

    Raises:
        ConfigError: ``root`` is not a folder, or not a voxpop cache: none of voxpop's cache tag
            (:data:`voxpop.core.cache.CACHE_TAG`), a finished stage folder (a cache written before the tag) or a
            feature store entry.
    """
    from voxpop.core.cache import Cache, parse_json
    from voxpop.features import FeatureStore

    if not root.is_dir():
        raise ConfigError(f"--cache {root}: not a folder; give a study's cache folder (OUT/cache) or a feature store")
    stages = sum(1 for p in root.iterdir() if (p / ".done").exists())  # symlinked ones too: verify lists them
    stores = {p.parent.resolve() for p in root.rglob("store.json")} if not stages else set()
    if not (stages or stores or is_tagged_cache(root)):
        inside = f"; {root / 'cache'} is one: give that" if is_tagged_cache(root / "cache") else ""
        raise ConfigError(
            f"{root}: not a voxpop cache (no cache tag {CACHE_TAG} written by voxpop, no finished stage folder, no "
            f"feature store entry); give a study's cache folder (OUT/cache) or a feature store{inside}"
        )
    damaged = Cache(root).verify()
    stores = stores or {p.parent.resolve() for p in root.rglob("store.json")}
    for record in root.glob("*/features.json"):
        try:
            stores.add(Path(parse_json(record.read_text())["path"]).resolve())
        except (OSError, ValueError, KeyError, TypeError):
            damaged[f"{record.parent.name} (features)"] = ["features.json is unreadable"]
    for path in sorted(stores):
        try:
            problems = FeatureStore(path).problems(full=True)
        except VoxpopError as exc:
            problems = [str(exc)]
        if problems:
            shown = path.relative_to(root.resolve()) if path.is_relative_to(root.resolve()) else path
            damaged[f"feature store {shown}"] = problems
    for name, problems in damaged.items():
        console.print(f"[bold red]damaged[/] {name}: {'; '.join(problems)}", highlight=False)
    summary = f"{stages} stage(s) and {len(stores)} feature store entr{'y' if len(stores) == 1 else 'ies'} checked"
    if damaged:
        console.print(
            f"{len(damaged)} damaged, {summary}; the next run recomputes what is damaged "
            "(or delete the damaged directories)",
            highlight=False,
        )
        raise typer.Exit(1)
    console.print(f"[green]no damage found[/]: {summary}", highlight=False)


def is_tagged_cache(folder: Path) -> bool:
    """Whether ``folder`` holds the cache tag a voxpop :class:`~voxpop.core.cache.Cache` writes (another program's
    ``CACHEDIR.TAG`` does not count)."""
    try:
        with open(folder / CACHE_TAG, "rb") as handle:
            head = handle.read(512)
    except OSError:
        return False
    return head.startswith(CACHE_TAG_TEXT.split(b"\n")[0]) and b"voxpop" in head
