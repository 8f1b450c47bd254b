"""``voxpop labels CORPUS --rule RULE --out labels.parquet``: apply a label rule (thin wrapper of voxpop.labels.rules);
the rule options are generated from the registry (:mod:`voxpop.labels.registry`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from voxpop.cli.app import app, console
from voxpop.cli.corpus_verbs import WHERE_HELP, load_corpus
from voxpop.cli.options import parse_names, with_rule_options
from voxpop.core.cache import write_text
from voxpop.core.errors import ConfigError
from voxpop.core.paths import output_file
from voxpop.corpus.classmap import check_classes, parse_class_map
from voxpop.labels import RULES, LabelSet, accounting_table, make_labels
from voxpop.labels.consensus import OUTCOMES, compare_consensus
from voxpop.labels.disagreement import DISAGREEMENT_RULE, disagreement_labels
from voxpop.labels.overwrite import outcome_note, save_label_set


def print_accounting(labels: LabelSet, title: str) -> None:
    """One label set's accounting as a two-column table, with the denominator and pooling it used."""
    accounting = labels.accounting
    table = Table(title=title, show_header=False)
    for option in ("denominator", "pooling"):
        if labels.options.get(option):
            table.add_row(option, str(labels.options[option]))
    table.add_row("items total / kept", f"{accounting.items_total:,} / {accounting.items_kept:,}")
    table.add_row("data loss", f"{accounting.data_loss:.1%}")
    table.add_row("ratings total / supporting", f"{accounting.ratings_total:,} / {accounting.ratings_supporting:,}")
    table.add_row("rating loss", f"{accounting.rating_loss:.1%}")
    table.add_row("excluded-class ratings", f"{accounting.ratings_excluded_class:,}")
    if labels.options.get("min_selected_share") is not None:
        table.add_row("items below min_selected_share", f"{accounting.items_below_selected_share:,}")
    if labels.options.get("gold_standard") == "znorm":
        table.add_row("ratings set aside (z-norm)", f"{accounting.ratings_set_aside:,}")
        table.add_row("items without a usable rating", f"{accounting.items_without_usable_rating:,}")
    console.print(table)


def print_accounting_table(frame: pd.DataFrame, title: str) -> None:
    """The (condition, rule) accounting rows of :func:`voxpop.labels.rules.accounting_table`; the title names the
    denominator and pooling the rows used."""
    used = [
        f"{column} {', '.join(values)}"
        for column in ("denominator", "pooling")
        if (values := [str(v) for v in frame[column].unique() if v != "-"])
    ]
    title = f"{title} ({'; '.join(used)})" if used else title
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


def print_raters(labels: LabelSet, path: Path, shown: int = 15) -> None:
    """A rule's per-rater table (learned rules' skills, Likert EWE weights or z-norm biases): the first
    ``shown`` rows printed, all of them written to ``path`` (CSV)."""
    raters = labels.raters.reset_index(names=[name or "rater" for name in labels.raters.index.names])
    write_text(path, raters.to_csv(index=False))
    table = Table(title=f"per-rater estimates of rule {labels.rule} ({len(raters):,} rows)", box=box.SIMPLE_HEAD)
    for column in raters.columns:
        table.add_column(str(column), justify="right" if pd.api.types.is_numeric_dtype(raters[column]) else "left")
    for row in raters.head(shown).itertuples(index=False):
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)
    more = f"first {shown} of {len(raters):,} rows; " if len(raters) > shown else ""
    console.print(f"{more}per-rater table saved to [bold]{path}[/]")


def print_consensus(table: pd.DataFrame, column: str, rule: str) -> None:
    """How often the rule's labels agree with the corpus's released consensus, by outcome."""
    agree = int(table["agree"].sum())
    summary = Table(title=f"rule {rule} vs the released consensus (item column {column!r})", show_header=False)
    summary.add_row("items agreeing", f"{agree:,} of {len(table):,} ({agree / max(len(table), 1):.1%})")
    for outcome in OUTCOMES:
        summary.add_row(outcome, f"{int(table['outcome'].eq(outcome).sum()):,}")
    console.print(summary)
    disagree = table[~table["agree"]]
    if len(disagree):
        first = ", ".join(f"{i} ({r.consensus or 'none'} -> {r.rule})" for i, r in disagree.head(10).iterrows())
        console.print(f"disagreeing items (first 10 of {len(disagree):,}): {first}", highlight=False)


def _label_set(corpus, rule: str, condition, pool: bool, scope: dict, rule_options: dict, consensus: str | None):
    """A rule of the registry (:func:`make_labels`) or the raters' disagreement (rule ``disagreement``:
    :func:`voxpop.labels.disagreement.disagreement_labels` of the votes), which takes no rule option."""
    if rule != DISAGREEMENT_RULE:
        return make_labels(corpus, rule, condition=condition, pool=pool, **scope, **rule_options)
    if rule_options or consensus is not None:
        flags = ", ".join("--" + name.replace("_", "-") for name in [*rule_options, *(["consensus"] * bool(consensus))])
        raise ConfigError(
            f"{flags}: not for rule {DISAGREEMENT_RULE}, which takes --condition, --pool, --classes and --class-map"
        )
    return disagreement_labels(corpus, condition=condition, pool=pool, **scope)


@app.command()
@with_rule_options
def labels(
    corpus: Path = typer.Argument(..., help="Corpus directory (corpus.yaml, items.parquet, ratings.parquet)."),
    rule: str = typer.Option(
        None,
        "--rule",
        help=f"Label rule: {', '.join(RULES)} (docs/labels-and-agreement.md), or {DISAGREEMENT_RULE} (the normalised "
        "entropy of each item's votes, a continuous label set; docs/raters.md).",
    ),
    condition: list[str] = typer.Option(
        None, "--condition", help="Stimulus condition to use (repeatable; several need --pool)."
    ),
    pool: bool = typer.Option(
        False, "--pool", help="Pool the given conditions (all when none given), by --pooling (default sum)."
    ),
    classes: str = typer.Option(
        None, "--classes", help="Comma-separated class subset, e.g. anger,happy,sad; other labels are outside it."
    ),
    class_map: list[str] = typer.Option(
        None,
        "--class-map",
        help="Merge or rename a label before the rule counts, e.g. excited=happy; calm=drop removes calm "
        "(its ratings stay as excluded ratings) (repeatable, or comma-separated).",
    ),
    where: str = typer.Option(None, "--where", help=WHERE_HELP),
    out: Path = typer.Option(..., "--out", help="Label set parquet file to write."),
    with_accounting_table: bool = typer.Option(
        False,
        "--accounting-table",
        help="Tabulate data and rating loss of mr, pr and ar per condition and pooled; write it to OUT.accounting.csv.",
    ),
    consensus: str = typer.Option(
        None,
        "--consensus",
        help="Compare the rule's labels with the corpus's released consensus in this item column "
        "(consensus_class from import iemocap / msp / audformat); write every item to OUT.consensus.csv.",
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace a different label set already at --out (the same one is reused without it)."
    ),
    rule_options: dict | None = None,
) -> None:
    """Turn ratings into targets with a label rule, save the label set and print what the rule discarded."""
    if rule is None and not with_accounting_table:
        raise typer.BadParameter("give --rule (and/or --accounting-table)", param_hint="--rule")
    if consensus is not None and rule is None:
        raise typer.BadParameter("--consensus compares the labels of a rule; give --rule too", param_hint="--rule")
    loaded = load_corpus(corpus, where)
    if consensus is not None and consensus not in loaded.items.columns:
        raise ConfigError(
            f"--consensus {consensus}: item column not found; corpus {loaded.name!r} has item columns "
            f"{', '.join(loaded.items.columns)} (import iemocap, msp --consensus and audformat write consensus_class)"
        )
    class_list = check_classes(parse_names(classes), "--classes")
    mapping = parse_class_map(class_map or [])
    scope = {"classes": class_list, "class_map": mapping}
    if rule is not None:
        label_set = _label_set(loaded, rule, condition or None, pool, scope, rule_options, consensus)
        outcome = save_label_set(label_set, out, force)
        print_accounting(label_set, f"rule {rule} on corpus {loaded.name!r}")
        console.print(escape(outcome_note(outcome, out, "label set")), highlight=False)
        if label_set.raters is not None and len(label_set.raters):
            print_raters(label_set, out.with_name(f"{out.stem}.raters.csv"))
        if consensus is not None:
            table = compare_consensus(label_set, loaded.items[consensus], mapping)
            path = out.with_name(f"{out.stem}.consensus.csv")
            table.to_csv(path, index_label="item")
            print_consensus(table, consensus, rule)
            console.print(f"comparison saved to [bold]{path}[/]")
    if with_accounting_table:
        frame = accounting_table(loaded, **scope, **rule_options)
        path = out.with_name(f"{out.stem}.accounting.csv")
        output_file(path)
        write_text(path, frame.to_csv(index=False))
        print_accounting_table(frame, f"data and rating loss on corpus {loaded.name!r}")
        console.print(f"accounting table saved to [bold]{path}[/]")
