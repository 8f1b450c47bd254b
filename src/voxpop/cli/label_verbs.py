"""``voxpop labels CORPUS --rule RULE --out labels.parquet``: apply a label rule (thin wrapper of voxpop.labels)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from rich import box
from rich.table import Table

from voxpop.cache import write_text
from voxpop.cli.app import app, console
from voxpop.cli.corpus_verbs import WHERE_HELP, load_corpus
from voxpop.cli.options import parse_names
from voxpop.labels import RULES, TIE_POLICIES, accounting_table, make_labels
from voxpop.labelset import Accounting


def print_accounting(accounting: Accounting, title: str) -> None:
    """One label set's accounting as a two-column table."""
    table = Table(title=title, show_header=False)
    table.add_row("items total / kept", f"{accounting.items_total:,} / {accounting.items_kept:,}")
    table.add_row("data loss", f"{accounting.data_loss:.1%}")
    table.add_row("ratings total / supporting", f"{accounting.ratings_total:,} / {accounting.ratings_supporting:,}")
    table.add_row("rating loss", f"{accounting.rating_loss:.1%}")
    table.add_row("excluded-class ratings", f"{accounting.ratings_excluded_class:,}")
    console.print(table)


def print_accounting_table(frame: pd.DataFrame, title: str) -> None:
    """The (condition, rule) accounting rows of :func:`voxpop.labels.accounting_table`."""
    cells = [
        [
            row.condition,
            row.rule,
            f"{row.items_total:,}",
            f"{row.items_kept:,}",
            f"{row.data_loss:.1%}",
            f"{row.ratings_total:,}",
            f"{row.ratings_supporting:,}",
            f"{row.rating_loss:.1%}",
            f"{row.ratings_excluded_class:,}",
        ]
        for row in frame.itertuples(index=False)
    ]
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    headers = ("condition", "rule", "items", "kept", "data loss", "ratings", "support", "rating loss", "excl.")
    for position, name in enumerate(headers):
        width = max([len(word) for word in name.split()] + [len(row[position]) for row in cells])  # never cut
        table.add_column(name, justify="left" if position < 2 else "right", min_width=width)
    for row in cells:
        table.add_row(*row)
    console.print(table)


@app.command()
def labels(
    corpus: Path = typer.Argument(..., help="Corpus directory (corpus.yaml, items.parquet, ratings.parquet)."),
    rule: str = typer.Option(None, "--rule", help=f"Label rule: {', '.join(RULES)}."),
    condition: list[str] = typer.Option(
        None, "--condition", help="Stimulus condition to use (repeatable; several need --pool)."
    ),
    pool: bool = typer.Option(False, "--pool", help="Sum the counts of the given conditions (all when none given)."),
    min_agreement: float = typer.Option(
        None, "--min-agreement", help="Keep items whose top class holds at least this fraction (P*: 0.6, S*: 0.5)."
    ),
    min_raters: int = typer.Option(
        None, "--min-raters", help="Keep items where at least K raters chose the top class."
    ),
    threshold: float = typer.Option(None, "--threshold", help="likert: positive iff score >= T (default 0.01)."),
    tie_policy: str = typer.Option(
        "drop", "--tie-policy", help=f"pr: what to do with tied top classes: {', '.join(TIE_POLICIES)}."
    ),
    smoothing: float = typer.Option(0.0, "--smoothing", help="Add this epsilon to every target, then renormalise."),
    classes: str = typer.Option(
        None, "--classes", help="Comma-separated class subset, e.g. anger,happy,sad; other classes are excluded."
    ),
    level: int = typer.Option(None, "--level", help="intervals: keep runs where at least K raters agree (default 1)."),
    seed: int = typer.Option(0, "--seed", help="Seed of --tie-policy random."),
    where: str = typer.Option(None, "--where", help=WHERE_HELP),
    out: Path = typer.Option(..., "--out", help="Label set parquet file to write."),
    with_accounting_table: bool = typer.Option(
        False,
        "--accounting-table",
        help="Tabulate data and rating loss of mr, pr and ar per condition and pooled; write it to OUT.accounting.csv.",
    ),
) -> None:
    """Turn ratings into targets with a label rule, save the label set and print what the rule discarded."""
    if rule is None and not with_accounting_table:
        raise typer.BadParameter("give --rule (and/or --accounting-table)", param_hint="--rule")
    loaded = load_corpus(corpus, where)
    class_list = parse_names(classes)
    if rule is not None:
        label_set = make_labels(
            loaded,
            rule,
            condition=condition or None,
            pool=pool,
            min_agreement=min_agreement,
            min_raters_agree=min_raters,
            threshold=threshold,
            tie_policy=tie_policy,
            smoothing=smoothing,
            classes=class_list,
            level=level,
            seed=seed,
        )
        label_set.save(out)
        print_accounting(label_set.accounting, f"rule {rule} on corpus {loaded.name!r}")
        console.print(f"saved to [bold]{out}[/]")
    if with_accounting_table:
        frame = accounting_table(loaded, classes=class_list, tie_policy=tie_policy, seed=seed)
        path = out.with_name(f"{out.stem}.accounting.csv")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, frame.to_csv(index=False))
        print_accounting_table(frame, f"data and rating loss on corpus {loaded.name!r}")
        console.print(f"accounting table saved to [bold]{path}[/]")
