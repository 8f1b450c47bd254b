"""``voxpop budget``: how many raters a corpus needs, and which clips to re-annotate (thin wrapper of
:mod:`voxpop.agreement.budget` and :mod:`voxpop.agreement.budget_dimensions`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from voxpop.agreement.budget import (
    DEFAULT_BOOT,
    DEFAULT_DRAWS,
    annotation_budget,
    parse_raters,
    posterior_ranking,
    reannotation_ranking,
)
from voxpop.cli.app import app, console
from voxpop.cli.corpus_verbs import WHERE_HELP, load_corpus
from voxpop.cli.options import parse_names, with_rule_options
from voxpop.core.cache import write_bytes, write_text
from voxpop.core.errors import ConfigError
from voxpop.core.paths import output_file
from voxpop.corpus.classmap import check_classes, parse_class_map
from voxpop.labels.registry import get_rule

SHOWN = ("stability", "kappa", "kept_share", "alpha")


def _cell(row: pd.Series) -> str:
    if pd.isna(row["value"]):
        return "-"
    interval = f" [{row['ci_low']:.3f}, {row['ci_high']:.3f}]" if pd.notna(row["ci_low"]) else ""
    return f"{row['value']:.3f}{interval}"


def _print_curve(curve: pd.DataFrame, rule: str, corpus: str) -> None:
    """One table per condition: a row per k, a column per statistic (value [95 % CI])."""
    for condition, part in curve[curve["rule"].eq(rule)].groupby("condition", sort=False):
        scope = f", condition {condition}" if condition else ""
        table = Table(title=f"annotation budget of {corpus!r}, rule {rule}{scope}",
                      caption="value [95 % CI over item resamples]; full: the full panel; short: items with fewer "
                      "than k raters (left out at that k)")  # fmt: skip
        table.add_column("k", justify="right")
        for name in SHOWN:
            table.add_column(name, justify="right")
        table.add_column("items", justify="right")
        table.add_column("short", justify="right")
        wide = part.pivot_table(index="raters", columns="statistic", values="full_panel", aggfunc="first")
        for k, rows in part.groupby("raters", sort=True):
            rows = rows.set_index("statistic")
            cells = [_cell(rows.loc[name]) for name in SHOWN]
            table.add_row(str(k), *cells, f"{rows['items'].iat[0]:,}", f"{rows['items_short'].iat[0]:,}")
        full = wide.iloc[0]
        table.add_row("full", *[f"{full[name]:.3f}" if pd.notna(full[name]) else "-" for name in SHOWN], "", "")
        console.print(table)


def _write(path: Path, frame: pd.DataFrame) -> None:
    output_file(path)
    write_text(path, frame.to_csv(index=False))


@app.command("budget")
@with_rule_options(skip=("seed",))
def budget_verb(
    corpus: Path = typer.Argument(..., help="Corpus directory (corpus.yaml, items.parquet, ratings.parquet)."),
    rule: list[str] = typer.Option(
        ["mr"],
        "--rule",
        help="Label rule (repeatable): mr, pr, ar, ar-test or primary (drawn raters); a learned rule (dawid-skene, "
        "glad, mace: needs rater ids) ranks the items by the certainty of its posterior instead.",
    ),
    raters: str = typer.Option(
        None, "--raters", help="Raters per item k: a range 1:K, a list 1,3,5 or one number (default 1:largest panel)."
    ),
    draws: int = typer.Option(
        DEFAULT_DRAWS,
        "--draws",
        help="B: random k-rater subsets per item and k, drawn without replacement within each condition; all "
        "C(n, k) subsets are used when there are at most B.",
    ),
    bootstrap: int = typer.Option(DEFAULT_BOOT, "--bootstrap", help="Item resamples of the 95 % intervals."),
    seed: int = typer.Option(0, "--seed", help="Seed of the draws and the resamples."),
    condition: list[str] = typer.Option(
        None, "--condition", help="Only this stimulus condition (repeatable; default each one, analysed apart)."
    ),
    reference: str = typer.Option(
        None,
        "--reference",
        help="Compare the k-rater labels with this item column (e.g. emotion: the intended emotion) instead of the "
        "full panel's labels.",
    ),
    classes: str = typer.Option(None, "--classes", help="Comma-separated class subset, e.g. anger,happy,sad."),
    class_map: list[str] = typer.Option(
        None, "--class-map", help="Merge or rename a label before the rule counts, e.g. excited=happy (repeatable)."
    ),
    dimensions: bool = typer.Option(
        False, "--dimensions", help="Budget of numeric ratings instead: k-rater mean's r and ICC(1,k) per dimension."
    ),
    slot: str = typer.Option("dimension", "--slot", help="With --dimensions: the slot of the numeric ratings."),
    projection_to: int = typer.Option(
        None, "--projection-to", help="With --dimensions: project ICC(1,k) by Spearman-Brown up to this k."
    ),
    rank_raters: int = typer.Option(
        None,
        "--rank-raters",
        help="Rank the items to re-annotate by their stability at this k (default: per item, one rater fewer "
        "than its panel).",
    ),
    where: str = typer.Option(None, "--where", help=WHERE_HELP),
    out: Path = typer.Option(
        None,
        "--out",
        help="Folder for curve.csv, reannotate.csv (items, least stable first), budget-RULE.png / .pdf figures and "
        "posterior-RULE.csv (learned rules: least certain first).",
    ),
    rule_options: dict | None = None,
) -> None:
    """Annotation budget: label stability, kappa, kept share, JS distance and alpha of k raters per item against
    the full panel, for each k, with 95 % intervals; and the clips whose label is least stable."""
    loaded = load_corpus(corpus, where)
    ks = parse_raters(raters) if raters else None
    if dimensions:
        from voxpop.agreement.budget_dimensions import dimension_budget

        table = dimension_budget(loaded, ks, slot=slot, projection_to=projection_to, draws=draws, n_boot=bootstrap,
                                 seed=seed, conditions=condition or None)  # fmt: skip
        console.print(table.round(3).to_string(index=False), highlight=False)
        if out is not None:
            _write(out / "dimensions.csv", table)
            console.print(f"tables saved to [bold]{out}[/]")
        return
    if reference is not None and reference not in loaded.items.columns:
        raise ConfigError(
            f"--reference {reference}: item column not found; corpus {loaded.name!r} has item columns "
            f"{', '.join(map(str, loaded.items.columns))}"
        )
    scope = {
        "conditions": condition or None,
        "classes": check_classes(parse_names(classes), "--classes"),
        "class_map": parse_class_map(class_map or []),
        "options": {**rule_options, "seed": seed},
    }
    learned = [name for name in rule if get_rule(name).learned]
    for name in learned:
        with console.status(f"fitting {name} ..."):
            ranked = posterior_ranking(loaded, name, **scope)
        console.print(f"rule {name}: least certain posterior first", highlight=False)
        console.print(ranked[ranked["rank"].le(10)].to_string(index=False), highlight=False)
        if out is not None:
            _write(out / f"posterior-{name}.csv", ranked)
    counting = [name for name in rule if name not in learned]
    if not counting:
        return
    labels = loaded.items[reference].astype("string") if reference else None
    with console.status("drawing raters ..."):
        budget = annotation_budget(
            loaded, counting, ks, draws=draws, n_boot=bootstrap, seed=seed, reference=labels, **scope
        )
    for name in counting:
        _print_curve(budget.curve, name, loaded.name)
    ranked = reannotation_ranking(budget, rank_raters)
    console.print("least stable first (stability at k = at_raters):", highlight=False)
    console.print(ranked[ranked["rank"].le(10)].to_string(index=False), highlight=False)
    if out is not None:
        from voxpop.report.budget_plots import budget_curves
        from voxpop.report.render import figure_files

        _write(out / "curve.csv", budget.curve)
        _write(out / "reannotate.csv", ranked)
        for name in counting:
            figure = budget_curves(budget.curve[budget.curve["rule"].eq(name)], title=f"{loaded.name}: rule {name}")
            png, pdf = figure_files(figure)
            write_bytes(output_file(out / f"budget-{name}.png"), png)
            write_bytes(output_file(out / f"budget-{name}.pdf"), pdf)
        console.print(f"tables and figures saved to [bold]{out}[/]")
