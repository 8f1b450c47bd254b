"""Agreement verbs (thin wrappers of voxpop.agreement): ``voxpop agreement``, ``compare``, ``sweep``,
``mlcm``."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from voxpop.agreement import confusion, grouping, tables, threshold_sweep
from voxpop.cli.app import app, console
from voxpop.cli.corpus_verbs import WHERE_HELP, load_corpus
from voxpop.cli.options import parse_names, with_rule_options
from voxpop.core.cache import write_bytes, write_text
from voxpop.core.errors import ConfigError
from voxpop.core.paths import id_filename, input_file, output_file
from voxpop.corpus import Corpus
from voxpop.corpus.slots import parse_values
from voxpop.evaluation.prediction_checks import check_prediction_table
from voxpop.evaluation.predictions import load_predictions
from voxpop.evaluation.summary_rows import format_mean_pm, is_summary
from voxpop.labels import LabelSet
from voxpop.labels.decisions import binarize_above_uniform, binarize_thresholds
from voxpop.models import load_run

WHERE = typer.Option(None, "--where", help=WHERE_HELP)
BY = typer.Option(None, "--by", help="Also report per group of items: the name of an item column, e.g. source.")


def _number(value: object, digits: int = 3) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else f"{value:,}"


def _write_csv(frame: pd.DataFrame, out: Path | None, index: bool = False) -> None:
    if out is None:
        return
    output_file(out)
    write_text(out, frame.to_csv(index=index))
    console.print(f"table saved to [bold]{out}[/]")


STATISTIC_NAMES = {"alpha": "alpha", "fleiss_kappa": "Fleiss", "pearson_r": "r", "ccc": "CCC", "icc": "ICC"}


MAX_PAIR_ROWS = 30
"""More rater-pair rows (Pearson r, CCC) than this are summarised in the terminal by their mean rows."""


def _print_rows(frame: pd.DataFrame, title: str, by: str | None = None, out: Path | None = None) -> None:
    """The rows of :func:`voxpop.agreement.tables.agreement_table`, leaving out columns that are empty everywhere;
    item groups of ``--by`` named ``COLUMN=value``. Beyond :data:`MAX_PAIR_ROWS` rater pairs only the mean over
    pairs is shown (every pair is in ``out``, the ``--out`` CSV)."""
    levels = ", ".join(frame.loc[frame["statistic"].eq("alpha"), "level"].unique())
    methods = ", ".join(m for m in frame.loc[frame["statistic"].eq("fleiss_kappa"), "method"].unique())
    title += f"; alpha level: {levels}" + (f"; Fleiss' kappa: {methods}" if methods else "")
    caption = "1-rated: items with a single rating (unusable, except in the class proportions of Fleiss' kappa gwet)"
    if is_summary(frame).any():
        caption += "\nmeans over emotions and pairs: mean ± Student-t 95 % half-width over their values"
    pairs = frame["pair"].astype("string").fillna("")
    single_pairs = pairs.ne("") & ~pairs.str.startswith("mean of")
    if single_pairs.sum() > MAX_PAIR_ROWS:
        where = f"every pair is in {out}" if out is not None else "write every pair with --out FILE.csv"
        caption += f"\n{int(single_pairs.sum()):,} rater-pair rows summarised by their mean; {where}"
        frame = frame.loc[~single_pairs.to_numpy()]
    table = Table(title=title, caption=caption)
    shown = [
        c
        for c in ("condition", "label", "statistic", "method", "pair")
        if frame[c].astype("string").fillna("").ne("").any()
    ]
    shown = ["group", *shown] if frame["group"].nunique() > 1 else shown
    for name in shown:
        table.add_column(name)
    table.add_column("value", justify="right")
    with_ci = frame["ci_low"].notna().any()
    if with_ci:
        table.add_column("95% CI", justify="right", no_wrap=True)
    for name in ("items", "1-rated", "ratings"):
        table.add_column(name, justify="right")
    with_note = frame["note"].astype("string").fillna("").ne("").any()
    if with_note:
        table.add_column("note")
    for row, summary in zip(frame.to_dict("records"), is_summary(frame), strict=True):
        row["statistic"] = STATISTIC_NAMES[row["statistic"]]
        row["group"] = grouping.group_label(by, row["group"])
        value = format_mean_pm(row["value"], (row["ci_high"] - row["ci_low"]) / 2) if summary else _number(row["value"])
        cells = [str(row[c]) if pd.notna(row[c]) else "" for c in shown] + [value]
        if with_ci:
            cells.append(f"{_number(row['ci_low'])}..{_number(row['ci_high'])}" if pd.notna(row["ci_low"]) else "")
        cells += [_number(row[c]) if pd.notna(row[c]) else "" for c in ("items", "unpairable", "ratings")]
        table.add_row(*cells, *([row["note"]] if with_note else []))
    console.print(table)


@app.command("agreement")
def agreement_verb(
    corpus: Path = typer.Argument(..., help="Corpus directory (corpus.yaml, items.parquet, ratings.parquet)."),
    where: str = WHERE,
    by: str = BY,
    level: str = typer.Option(
        None,
        "--level",
        help="Level of measurement for alpha: nominal, ordinal, interval or ratio "
        "(default: interval for rated scales, nominal for categorical labels; ordinal needs the slot's order, "
        "interval and ratio its values: corpus.yaml slots, --order, --values).",
    ),
    order: str = typer.Option(
        None,
        "--order",
        help="Order of a label slot's labels, lowest first, comma-separated (e.g. teens,20s,30s); replaces the "
        "order declared in corpus.yaml slots.",
    ),
    values: str = typer.Option(
        None,
        "--values",
        help="A number per label of a label slot for interval / ratio alpha, LABEL=NUMBER comma-separated "
        "(e.g. Awful=1,Bad=2,Meh=3); alone, it also gives the order.",
    ),
    emotion: list[str] = typer.Option(None, "--emotion", help="Only this emotion / scale (repeatable)."),
    slot: str = typer.Option(
        None,
        "--slot",
        help="Which ratings: intensity, primary, or an attribute slot such as gender "
        "(default: intensity when present, else primary).",
    ),
    condition: str = typer.Option(None, "--condition", help="Only this stimulus condition (default: each one)."),
    pearson: bool = typer.Option(False, "--pearson", help="Add Pearson r between every pair of raters per scale."),
    ccc: bool = typer.Option(False, "--ccc", help="Add Lin's CCC between every pair of raters per scale."),
    icc: bool = typer.Option(
        False,
        "--icc",
        help="Add intraclass correlations per scale: ICC(1,1)/(1,k), and ICC(2,·)/(3,·) when every rater rated "
        "every item (Shrout & Fleiss 1979).",
    ),
    bootstrap: int = typer.Option(
        0, "--bootstrap", help="Resamples of items for a percentile 95% CI of alpha (e.g. 1000); 0 = none."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    fleiss: str = typer.Option(
        "pooled",
        "--fleiss",
        help="Fleiss' kappa when items have different numbers of ratings: pooled (class proportions pooled over "
        "all ratings, items rated twice or more) or gwet (Gwet's per-item average, irrCAC).",
    ),
    out: Path = typer.Option(None, "--out", help="Write the table to this CSV file."),
) -> None:
    """Krippendorff's alpha (+ Fleiss' kappa for labels, + pairwise Pearson / CCC, + ICC) per scale, condition and
    group; dimensions (arousal, valence, dominance) with --slot dimension."""
    loaded = load_corpus(corpus, where)
    with console.status("computing agreement ..."):
        frame = tables.agreement_table(
            loaded,
            slot=slot,
            level=level,
            emotions=emotion or None,
            condition=condition,
            by=by,
            pearson=pearson,
            n_boot=bootstrap,
            seed=seed,
            fleiss=fleiss,
            icc=icc,
            ccc=ccc,
            order=parse_names(order),
            values=parse_values(values),
        )
    scope = f" where {where}" if where else ""
    _print_rows(frame, f"agreement in corpus {loaded.name!r}{scope} ({len(loaded.items):,} items)", by, out)
    _write_csv(frame, out)


@app.command("compare")
@with_rule_options
def compare_verb(
    corpus: Path = typer.Argument(..., help="Corpus directory (corpus.yaml, items.parquet, ratings.parquet)."),
    label_sets: str = typer.Option(
        ..., "--label-sets", help="Comma-separated conditions to compare, 'all' = pooled over every condition."
    ),
    stat: str = typer.Option(
        "ccc",
        "--stat",
        help="ccc: CCC of the targets per class, averaged over classes; kappa: Cohen's kappa of the argmax classes.",
    ),
    rule: str = typer.Option("ar", "--rule", help="Label rule building each label set (see voxpop labels)."),
    classes: str = typer.Option(None, "--classes", help="Comma-separated class subset; other classes are excluded."),
    where: str = WHERE,
    by: str = BY,
    out: Path = typer.Option(None, "--out", help="Write the long table (group, a, b, class, value, items) to CSV."),
    rule_options: dict | None = None,
) -> None:
    """Agreement matrix between label sets of one corpus built per stimulus condition (and pooled: --pooling)."""
    loaded = load_corpus(corpus, where)
    names = parse_names(label_sets)
    class_list = parse_names(classes)
    with console.status("building label sets ..."):
        frame = tables.compare_conditions(
            loaded, names, rule=rule, stat=stat, by=by, classes=class_list, **rule_options
        )
    for group, part in frame.groupby("group", sort=False):
        matrix = tables.comparison_matrix(part)
        items = part.groupby(["a", "b"], sort=False)["items"].first().unstack("b").reindex(index=names, columns=names)
        pooling = f", pooling {rule_options.get('pooling', 'sum')}" if "all" in names else ""
        label = grouping.group_label(by, group)
        table = Table(title=f"{stat} between label sets (rule {rule}{pooling}), items: {label}")
        table.add_column("")
        for name in names:
            table.add_column(name, justify="right")
        for a in names:
            table.add_row(a, *(f"{_number(matrix.at[a, b])} ({items.at[a, b]:,})" for b in names))
        console.print(table)
        summary = part.groupby(["a", "b"], sort=False).last()
        for (a, b), note in summary.loc[summary["note"].ne(""), "note"].items():
            if names.index(a) < names.index(b):
                console.print(f"{a} vs {b}: {note}")
    console.print("cells: value (items both label sets keep)")
    _write_csv(frame, out)


def _scores(spec: str, where: str | None, emotions: list[str] | None) -> tuple[Corpus, pd.DataFrame]:
    """Likert scores of ``DIR`` or ``DIR:CONDITION``."""
    path, condition = Path(spec), None
    if not path.is_dir() and ":" in spec:
        directory, condition = spec.rsplit(":", 1)
        path = Path(directory)
    loaded = load_corpus(path, where)
    return loaded, threshold_sweep.intensity_scores(loaded, emotions, condition)


@app.command("sweep")
def sweep_verb(
    a: str = typer.Option(..., "--a", help="First intensity source: corpus directory, or DIR:CONDITION."),
    b: str = typer.Option(..., "--b", help="Second intensity source for the same items (matched by item id)."),
    emotion: list[str] = typer.Option(None, "--emotion", help="Only this emotion (repeatable; default: all classes)."),
    grid: str = typer.Option("0.01:0.99:0.01", "--grid", help="Thresholds start:stop:step (stop included)."),
    where: str = WHERE,
    by: str = typer.Option(None, "--by", help="Also sweep per group of items: an item column of corpus A."),
    out: Path = typer.Option(..., "--out", help="PNG plot to write; the curve goes to the same name with .csv."),
) -> None:
    """Cohen's kappa per emotion between two Likert sources binarized at each threshold; report the best."""
    from voxpop.report.plots import threshold_curve  # matplotlib: only when plotting, so 'voxpop --help' stays fast
    from voxpop.report.render import figure_png

    corpus_a, scores_a = _scores(a, where, emotion or None)
    _, scores_b = _scores(b, where, emotion or None)
    thresholds = threshold_sweep.threshold_grid(grid)
    sweeps = threshold_sweep.grouped_sweeps(scores_a, scores_b, thresholds, corpus_a.items, by)
    table = Table(title=f"threshold sweep: {a} vs {b}")
    for name in ("items", "best t", "mean kappa", *scores_a.columns):
        table.add_column(name, justify="right")
    if by is not None:
        table.add_column("item group")
    curves = []
    members = dict(grouping.item_groups(corpus_a.items, by)) if by is not None else {"all": scores_a.index}
    for group, sweep in sweeps.items():
        best = sweep.curve.loc[sweep.best_threshold] if not math.isnan(sweep.best_threshold) else None
        per_emotion = [_number(best[e]) if best is not None else "-" for e in scores_a.columns]
        row = [f"{sweep.items:,}", _number(sweep.best_threshold, 2), _number(sweep.best_kappa), *per_emotion]
        name = grouping.group_label(by, group)
        table.add_row(*row, *([name] if by is not None else []))
        png = out if group == "all" else out.with_name(f"{out.stem}-{id_filename(group)}{out.suffix}")
        best_t = None if math.isnan(sweep.best_threshold) else sweep.best_threshold
        in_group = scores_a.loc[scores_a.index.intersection(members[group], sort=False)]
        positives = threshold_sweep.sweep_positives({f"A {a}": in_group, f"B {b}": scores_b}, thresholds)
        figure = threshold_curve(
            sweep.curve, best_t, title=f"{a} vs {b} ({name}, {sweep.items} items)", positives=positives
        )
        output_file(png)
        write_bytes(png, figure_png(figure))
        curves.append(sweep.curve.reset_index().assign(group=name))
    console.print(table)
    for group, sweep in sweeps.items():
        console.print(("" if group == "all" else f"{by} = {group}: ") + threshold_sweep.plateau_text(sweep))
    unmatched_a = len(scores_a.index.difference(scores_b.index))
    unmatched_b = len(scores_b.index.difference(scores_a.index))
    console.print(f"items only in A: {unmatched_a:,}; only in B: {unmatched_b:,} (not used)")
    console.print(f"plot saved to [bold]{out}[/]")
    _write_csv(pd.concat(curves, ignore_index=True), out.with_suffix(".csv"))


def _multi_hot(path: Path, threshold: float | None, model: str | None = None) -> pd.DataFrame:
    """A label set's kept targets, a prediction table or a run's pooled out-of-fold predictions (``path`` the
    ``--out`` of ``voxpop train`` / ``run``, ``model`` the run when it holds several), items x classes, binarized
    to multi-hot."""
    if path.is_dir():
        frame = load_run(path, model).predictions
    else:
        frame = pd.read_parquet(input_file(path, "label set (voxpop labels) or prediction parquet"))
        is_label_set = "kept" in frame.columns and any(str(c).startswith("target:") for c in frame.columns)
        if is_label_set:
            frame = LabelSet.load(path).kept_targets
        else:
            loaded = load_predictions(path)
            check_prediction_table(loaded, path)
            frame = loaded.table
    frame = frame.drop(columns="fold", errors="ignore")  # out-of-fold predictions name each item's fold
    return binarize_above_uniform(frame) if threshold is None else binarize_thresholds(frame, threshold)


@app.command("mlcm")
def mlcm_verb(
    true_labels: Path = typer.Argument(..., help="True labels: a label set parquet file (voxpop labels)."),
    pred_labels: Path = typer.Argument(
        ..., help="Predicted labels: a label set, a prediction parquet file or a run directory (voxpop train --out)."
    ),
    model: str = typer.Option(None, "--model", help="The run of the run directory (when it holds several)."),
    threshold: float = typer.Option(
        None,
        "--threshold",
        help="Predicted label iff probability >= T (default: the 1/C rule, p > 1/C; also used for label sets).",
    ),
    corpus: Path = typer.Option(None, "--corpus", help="Corpus directory whose item columns --where / --by use."),
    where: str = WHERE,
    by: str = BY,
    out: Path = typer.Option(None, "--out", help="Write the matrix (or matrices, with --by) to this CSV file."),
) -> None:
    """Multi-label confusion matrix (Heydarian et al. 2022) with 'no true label' / 'no predicted label'."""
    true = _multi_hot(true_labels, None)
    pred = _multi_hot(pred_labels, threshold, model)
    common = true.index.intersection(pred.index, sort=False)
    console.print(
        f"{len(common):,} items in both; only in TRUE: {len(true.index.difference(pred.index)):,}, "
        f"only in PRED: {len(pred.index.difference(true.index)):,} (not used)"
    )
    if (where or by) and corpus is None:
        raise ConfigError("--where and --by read item columns: give the corpus with --corpus DIR")
    groups = [("all", common)]
    if corpus is not None:
        loaded = load_corpus(corpus, where)
        kept = common.intersection(loaded.items.index, sort=False)
        groups = grouping.item_groups(loaded.items.loc[kept], by)
    matrices = []
    for group, items in groups:
        matrix = confusion.mlcm(true.loc[items], pred.loc[items])
        scope = "" if group == "all" else f", {grouping.group_label(by, group)}"
        table = Table(title=f"MLCM ({len(items):,} items{scope})")
        table.add_column("true \\ predicted")
        for column in matrix.columns:
            table.add_column(str(column), justify="right")
        for name, row in matrix.iterrows():
            table.add_row(str(name), *(f"{v:,}" for v in row))
        console.print(table)
        matrices.append(matrix.reset_index().assign(group=group))
    _write_csv(pd.concat(matrices, ignore_index=True), out)
