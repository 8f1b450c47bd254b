"""Verbs on trained models: ``voxpop evaluate``, ``predict`` and ``fuse``.

They read what ``voxpop train`` or ``voxpop run`` wrote (the runs of a study output directory,
:mod:`voxpop.models.saved_runs`) or prediction files (also from other tools, for cross-modal fusion).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from voxpop.cli.app import app, console, err_console, progress_bar
from voxpop.cli.corpus_verbs import WHERE_HELP, load_corpus
from voxpop.cli.options import with_rule_options
from voxpop.core.cache import write_text
from voxpop.core.errors import ConfigError
from voxpop.core.formatting import format_ci, format_result, metric_name
from voxpop.core.paths import check_file_target, output_file
from voxpop.corpus.classmap import parse_class_map
from voxpop.evaluation.chance import direction
from voxpop.labels import RULES

if TYPE_CHECKING:
    from voxpop.labels import LabelSet
    from voxpop.models import Run

LABELS_HELP = f"Label set file (.parquet, from 'voxpop labels') or a rule applied to the corpus: {', '.join(RULES)}."


def _ci(row: pd.Series) -> str:
    nan = float("nan")
    return format_result(row["value"], row["low"], row["high"], row.get("fold_mean", nan), row.get("fold_sd", nan))


def _number(value: float) -> str:
    return format_ci(value)


def _sources(path: Path, names: list[str] | None) -> dict[str, Path | Run]:
    """A predictions file ({stem: path}) or a study output directory ({run name: Run}, those named)."""
    from voxpop.models import find_runs

    if path.is_file():
        if names:
            raise ConfigError(f"--model chooses runs of a study output directory; {path} is a predictions file.")
        return {path.stem: path}
    return dict(find_runs(path, names))


@app.command()
@with_rule_options(skip=("seed", "tie_policy"))  # --tie-policy here: ties of the test targets when scoring
def evaluate(
    run: Path = typer.Argument(..., help="Output directory of 'voxpop train' / 'voxpop run', or a predictions file."),
    model: list[str] = typer.Option(None, "--model", help="Only this run of the study directory (repeatable)."),
    labels: str = typer.Option(..., "--labels", help=LABELS_HELP),
    corpus: Path = typer.Option(None, "--corpus", help="Corpus for a label rule (default: the runs' corpus)."),
    condition: list[str] = typer.Option(None, "--condition", help="Rule labels: stimulus condition (repeatable)."),
    pool: bool = typer.Option(False, "--pool", help="Rule labels: pool the conditions, by --pooling (default sum)."),
    where: str = typer.Option(None, "--where", help=WHERE_HELP),
    binarize: str = typer.Option(
        "auto", "--binarize", help="Multi-label test sets: auto, uniform (1/C rule), argmax or a threshold."
    ),
    tie_policy: str = typer.Option(
        "drop",
        "--tie-policy",
        help="Single-label test targets with a tied top class (AR): drop (left out, counted), first or random.",
    ),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the confidence intervals."),
    resample: str = typer.Option(
        "items", "--resample", help="What the bootstrap resamples: items, or speakers (the corpus's speaker column)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap (and of tie_policy random)."),
    out: Path = typer.Option(None, "--out", help="Write the metric table (run, metric, value, low, high, ...) as CSV."),
    class_map: list[str] = typer.Option(
        None, "--class-map", help="Another corpus: RUN_CLASS=TEST_CLASS[,...]; TEST_CLASS 'drop' removes one."
    ),
    store: Path = typer.Option(None, "--store", help="Another corpus: feature store root (default: temporary)."),
    rule_options: dict | None = None,
) -> None:
    """Score a run's out-of-fold predictions against a test label set (cross-testing), with bootstrap CIs.

    A regressor's run (continuous label sets) is scored against a continuous label set file:
    CCC, Pearson r, MAE and RMSE per dimension and their mean, as its study's results table.

    With --corpus naming another corpus than the run's, every item of that corpus is predicted by the
    mean of the run's fold models, treated as the run's study treated its corpora (feature normalisation,
    class map, audio options) and the run's classes are mapped onto its classes (--class-map)."""
    from voxpop.cli.study_verbs import print_cautions
    from voxpop.evaluation import load_predictions
    from voxpop.evaluation.prediction_checks import check_prediction_table
    from voxpop.evaluation.resampling import RESAMPLE_UNITS, resample_groups
    from voxpop.evaluation.summary_rows import class_mean_rows
    from voxpop.evaluation.test_scores import score_test_set
    from voxpop.labels.rules import is_label_file, resolve_labels
    from voxpop.models.crosscorpus import as_recorded, is_other_corpus, score_on_corpus
    from voxpop.report.cautions import scoring_cautions

    if resample not in RESAMPLE_UNITS:
        raise ConfigError(f"--resample {resample!r}: choose one of {', '.join(RESAMPLE_UNITS)}.")
    if out is not None:  # a folder, device or file-as-folder at --out: refused before the scoring, not after it
        check_file_target(Path(out), create_parents=True)
    sources = _sources(run, model)
    first_run = next((s for s in sources.values() if not isinstance(s, Path)), None)
    other = corpus is not None and first_run is not None and is_other_corpus(first_run, corpus)
    if class_map and not other:
        raise ConfigError("--class-map maps a run's classes onto another corpus's; name that corpus with --corpus.")
    label_corpus = None
    mapping = parse_class_map(class_map or [])
    recorded = {}
    if other or not is_label_file(labels):
        if corpus is None:
            if first_run is None:
                raise ConfigError(f"labels {labels!r} is a rule; give the corpus to apply it to with --corpus.")
            corpus = Path(first_run.record.corpus)
            where = where if where is not None else first_run.record.where
        label_corpus = load_corpus(corpus, where)
    if other:  # each run's study treatment of the test corpus; the labels come from the first run's
        runs = {n: s for n, s in sources.items() if not isinstance(s, Path)}
        recorded = {n: as_recorded(s, label_corpus, corpus, mapping) for n, s in runs.items()}
        if len({(r.matched, r.normalisation, tuple(r.corpus.classes)) for r in recorded.values()}) > 1:
            raise ConfigError(f"the runs treat {corpus} differently (their studies' corpora differ); evaluate one run "
                              "at a time with --model NAME.")  # fmt: skip
        label_corpus = next(iter(recorded.values())).corpus
        if is_label_file(labels) and next(iter(recorded.values())).matched:
            raise ConfigError(f"{corpus} is one of the run's study corpora, whose labels the study mapped; give the "
                              "label rule (--labels RULE) instead of a label set file.")  # fmt: skip
    test_labels = resolve_labels(
        label_corpus if not is_label_file(labels) else None, labels, condition=condition or None, pool=pool,
        **rule_options,
    )  # fmt: skip
    rule = binarize if binarize in ("auto", "uniform", "argmax") else float(binarize)
    speakers = None
    if resample != "items":  # the speaker column of the label corpus, else of the run's corpus
        if label_corpus is None and corpus is None and first_run is None:
            raise ConfigError("--resample speakers reads the corpus's speaker column; name the corpus with --corpus.")
        speaker_corpus = label_corpus or load_corpus(corpus or Path(first_run.record.corpus))
        speakers = resample_groups(speaker_corpus.items, resample, "the corpus items")

    def predictions(name: str, source: Path | Run) -> pd.DataFrame:
        if isinstance(source, Path):
            loaded = load_predictions(source)
            if test_labels.kind == "categorical":  # a sigmoid file scored on multi-label targets: rows not summed
                multilabel = loaded.multilabel or test_labels.multilabel
                check_prediction_table(loaded, source, classes=test_labels.classes, multilabel=multilabel,
                                       expected=f"the test label set {labels!r}")  # fmt: skip
            return loaded.table
        if not other:
            return source.predictions
        scored, skipped = score_on_corpus(source, recorded[name], test_labels.classes, store=store)
        if len(skipped):
            err_console.print(f"[yellow]{len(skipped):,} items of {escape(str(corpus))} not scored (unusable audio: "
                              f"{', '.join(map(str, skipped.index[:5]))}{' ...' if len(skipped) > 5 else ''})[/]")
        return scored

    tables, cautions = {}, []
    for name, source in sources.items():
        table = predictions(name, source)
        train_labels = None if other or isinstance(source, Path) else source.labels
        result = score_test_set(
            table, test_labels, n_boot=bootstrap, seed=seed, speakers=speakers, prior=train_labels, binarize=rule,
            tie_policy=tie_policy,
        )  # fmt: skip
        if result is None:
            raise ConfigError(f"{name}: none of its predicted items is kept by {labels}; nothing to score.")
        tables[name] = result
        classes = train_labels if train_labels is not None and train_labels.kind == "categorical" else None
        cautions += scoring_cautions(result, name, labels, classes, None if classes is None else table)
    frame = pd.concat([t.assign(run=n) for n, t in tables.items()], ignore_index=True)
    chances = {name: tuple(t["chance"].fillna(-1.0)) for name, t in tables.items()}
    one_chance = len(set(chances.values())) == 1
    what = f"{'multi' if test_labels.multilabel else 'single'}-label"
    what = "dimensions" if test_labels.kind == "continuous" else what
    table = Table(title=f"predictions vs {escape(labels)} ({what})")
    table.add_column("metric")
    for name in tables:
        table.add_column(escape(name), justify="right")
        if not one_chance:
            table.add_column(f"chance ({escape(name)})", justify="right", style="dim")
    if one_chance:
        table.add_column("chance", justify="right", style="dim")
    for metric in dict.fromkeys(frame["metric"]):
        rows = {name: t.set_index("metric").loc[metric] for name, t in tables.items()}
        cells = [_ci(row) for row in rows.values()] if one_chance else []
        if one_chance:
            cells.append(_number(next(iter(rows.values()))["chance"]))
        else:
            for row in rows.values():
                cells += [_ci(row), _number(row["chance"])]
        table.add_row(f"{escape(metric_name(metric))} ({direction(metric)} is better)", *cells)
    means = {  # a mean over classes; dimensions have their mean row already (metric ccc: the mean over them)
        name: (class_mean_rows(t) if test_labels.kind == "categorical" else class_mean_rows(t.iloc[:0]))
        .set_index("metric") for name, t in tables.items()
    }  # fmt: skip
    for metric in next(iter(means.values())).index:
        rows = [m.loc[metric] for m in means.values()]
        cells = [row["text"] for row in rows]
        if one_chance:
            cells.append(_number(rows[0]["chance"]))
        else:
            cells = [c for r in rows for c in (r["text"], _number(r["chance"]))]
        table.add_row(escape(metric), *cells)
    classes = test_labels.kind == "categorical"  # ties, absent classes, chance by class: classes only
    for label, column in (
        ("items scored", "n_items"), ("items left out", "n_excluded"),
        *([(f"tied targets ({tie_policy})", "n_tied")] if classes else []),
    ):  # fmt: skip
        counts = [f"{int(t[column].iloc[0]):,}" for t in tables.values()]
        table.add_row(label, *([*counts, ""] if one_chance else [c for n in counts for c in (n, "")]))
    if classes:
        absent = [escape(t["absent_classes"].iloc[0]) or "-" for t in tables.values()]
        table.add_row("absent classes", *([*absent, ""] if one_chance else [c for a in absent for c in (a, "")]))
    console.print(table)
    console.print(
        "[dim]chance: the expected score of a predictor drawing classes with the test items' class frequencies "
        "(KLD / JSD: the training labels' mean distribution for every item; MCC, CCC: 0); mean over classes: "
        "mean ± Student-t 95 % half-width over the classes (.21 ± .11)[/]"
        if classes else "[dim]chance: CCC and Pearson r of a constant prediction: 0; MAE and RMSE have none; ccc, "
        "pearson, mae and rmse without a dimension are the means over the dimensions[/]"
    )
    over = "speakers (cluster bootstrap)" if speakers is not None else "items (stratified by true class)"
    over = over if classes or speakers is not None else "items"
    console.print(
        f"[dim]95 % percentile bootstrap intervals over {over}, {bootstrap} resamples, seed {seed}"
        + (f"; macro averages over the classes present in the test set; tied top classes of distribution targets: "
           f"{tie_policy}[/]" if classes else "[/]")
    )  # fmt: skip
    print_cautions(messages=list(dict.fromkeys(cautions)))
    if out is not None:
        output_file(out)
        columns = ["run", "metric", "value", "low", "high", "fold_mean", "fold_sd", "n_folds", "chance", "n_items"]
        columns += ["n_excluded", "absent_classes", "tie_policy", "n_tied"]
        shared = ["n_items", "n_excluded", "absent_classes", "tie_policy", "n_tied"]  # the run's, on every row
        summaries = pd.concat(
            [m.reset_index().assign(run=n, **tables[n][shared].iloc[0].to_dict()) for n, m in means.items()],
            ignore_index=True,
        )
        summaries = summaries.rename(columns={"text": "summary"}).assign(interval="student-t over classes")
        frame = frame.assign(interval="percentile bootstrap" if bootstrap else "", summary="")
        frame = pd.concat([frame, summaries], ignore_index=True)
        write_text(out, frame[[*columns, "interval", "summary"]].to_csv(index=False))
        console.print(f"saved to [bold]{escape(str(out))}[/]")


@app.command()
def predict(
    run: Path = typer.Argument(..., help="Output directory of 'voxpop train' / 'voxpop run', or an exported folder."),
    audio: list[Path] = typer.Argument(..., help="Audio files to classify."),
    model: str = typer.Option(None, "--model", help="The run of the study directory (when it holds several)."),
    output_format: str = typer.Option("csv", "--format", help="Output format: csv or json."),
    out: Path = typer.Option(None, "--out", help="Write here (default: print to standard output)."),
    store: Path = typer.Option(None, "--store", help="Feature store root for the new files (default: temporary)."),
    min_seconds: float = typer.Option(
        None, "--min-seconds", help="Files shorter than this are skipped or padded (default: as the run recorded)."
    ),
    too_short: str = typer.Option(
        None, "--too-short", help="Files under --min-seconds: skip or pad (default: as the run recorded)."
    ),
    rater: str = typer.Option(
        None, "--rater", help="Head per_rater / crowd_layer: predict this rater's output (rater id or 'other raters')."
    ),
) -> None:
    """Class distribution per audio file: the run's features and fold models, probabilities averaged over folds
    (a regressor's run: the value of each dimension, averaged over folds).

    The feature extractor is rebuilt from the spec the run recorded. RUN may also be a folder written by
    'voxpop export' (ONNX fold models + card.json). With --rater ID, a run of head per_rater or crowd_layer
    predicts that rater's labels (its output, averaged over the folds that have one) instead of the item's."""
    from voxpop.models import load_run, predict_files
    from voxpop.models.export import is_exported, predict_exported

    if output_format not in ("csv", "json"):
        raise ConfigError(f"--format {output_format!r}: choose csv or json.")
    if too_short not in (None, "skip", "pad"):
        raise ConfigError(f"--too-short {too_short!r}: choose skip or pad.")
    overrides = {k: v for k, v in {"min_seconds": min_seconds, "too_short": too_short}.items() if v is not None}
    exported = is_exported(run)
    if exported and model:
        raise ConfigError(f"{run} is an exported model (one run); drop --model.")
    chosen = None if exported else load_run(run, model)
    with progress_bar(err_console) as bar:  # standard output may carry the predictions
        task = bar.add_task("features", total=None)
        report = lambda done, total: bar.update(task, completed=done, total=total)  # noqa: E731
        if exported:
            result = predict_exported(run, audio, store=store, progress=report, audio=overrides, rater=rater)
        else:
            result = predict_files(chosen, audio, store=store, progress=report, audio=overrides, rater=rater)
    table = result.table()
    if output_format == "csv":
        text = table.to_csv()
    elif result.kind == "continuous":  # a regressor: the value of each dimension, no decision
        text = json.dumps([{"file": file, "values": row.to_dict()} for file, row in table.iterrows()], indent=1)
    else:
        records = [
            {"file": file, "prediction": row["prediction"], "probabilities": row.drop("prediction").to_dict()}
            for file, row in table.iterrows()
        ]
        text = json.dumps(records, indent=1)
    if out is None:
        typer.echo(text, nl=False)
    else:
        output_file(out)
        write_text(out, text)
        console.print(f"{len(table):,} predictions saved to [bold]{escape(str(out))}[/]")
    if len(result.skipped):
        skipped = Table(title=f"skipped files ({len(result.skipped):,})")
        for column in ("file", "reason", "message"):
            skipped.add_column(column)
        for file, row in result.skipped.iterrows():
            skipped.add_row(*(escape(str(v)) for v in (file, row["reason"], row["message"])))
        err_console.print(skipped, style="yellow")


def _fusion_inputs(paths: list[Path]) -> dict[str, tuple[pd.DataFrame, pd.DataFrame | None, Run | None, str]]:
    """Per input name: (predictions, its fold models' dev predictions or None, its run or None, its kind:
    ``categorical`` probabilities or ``continuous`` dimension values). A file is named
    by its stem, every run of a study output directory by the run (``DIR:RUN`` when it holds several);
    repeated names get -2, -3.

    Raises :class:`ConfigError` when a path is given twice (a model fused with itself), and :class:`InputError` when
    an input's scores are not probabilities in [0, 1] (logits: METHODS.md section 4 fuses class probabilities) or
    its single-label rows do not sum to one (:func:`~voxpop.evaluation.prediction_checks.check_prediction_table`;
    a run's predictions are checked when read).
    """
    from voxpop.evaluation import load_predictions
    from voxpop.evaluation.prediction_checks import check_prediction_table
    from voxpop.models import find_runs

    seen: dict[Path, Path] = {}
    for path in paths:
        if path.resolve() in seen:
            raise ConfigError(
                f"{path} is given twice (also as {seen[path.resolve()]}); fusing a model with itself only repeats it: "
                "give each model's predictions once."
            )
        seen[path.resolve()] = path
    inputs: dict[str, tuple[pd.DataFrame, pd.DataFrame | None, Run | None, str]] = {}
    for path in paths:
        if path.is_dir():
            runs = find_runs(path)
            named = {(n if len(runs) == 1 else f"{path.name}:{n}"): (r.predictions, r.dev_predictions, r, r.record.kind)
                     for n, r in runs.items()}  # fmt: skip
        else:
            loaded = load_predictions(path)
            check_prediction_table(loaded, path)
            named = {path.stem: (loaded.table, None, None, loaded.kind)}
        for name, value in named.items():
            base, n = name, 2
            while name in inputs:
                name, n = f"{base}-{n}", n + 1
            inputs[name] = value
    return inputs


def _training_labels(runs: dict[str, Run | None]) -> LabelSet:
    """The training label set shared by every input run (what a recipe's fusion tunes on); ConfigError otherwise."""
    files = [name for name, run in runs.items() if run is None]
    if files:
        raise ConfigError(
            f"{', '.join(files)}: prediction files carry no training labels; give the labels the fusion weights "
            "are tuned against with --labels (a label set file, or a rule with --corpus)."
        )
    specs = {json.dumps([r.record.corpus, r.record.where, r.record.labels], sort_keys=True) for r in runs.values()}
    if len(specs) > 1:
        raise ConfigError(
            f"the runs {', '.join(runs)} were trained on different labels; choose the labels the fusion weights "
            "are tuned against with --labels."
        )
    return next(iter(runs.values())).labels


def _print_weights(weights: pd.DataFrame, fused: pd.DataFrame, tune_on: str | None) -> None:
    """Print the fusion weights (model x class; per fold: mean ± sd over folds) and, per fold (``tune_on`` not
    None), the fused items and the dev UAR of the chosen weights."""
    classes = [c for c in weights.columns if c not in ("model", "fold", "dev_uar")]
    grouped = weights.groupby("model", sort=False)[classes]
    mean, sd, n_folds = grouped.mean(), grouped.std(ddof=1), weights["fold"].nunique()
    title = "fusion weights" if tune_on is None else f"fusion weights, mean ± sd over {n_folds} folds"
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column("model")
    for column in classes:
        table.add_column(escape(str(column)), justify="right")
    for model in mean.index:
        cells = [f"{mean.loc[model, c]:.3f}" + ("" if tune_on is None else f" ± {sd.loc[model, c]:.3f}")
                 for c in classes]  # fmt: skip
        table.add_row(escape(str(model)), *cells)
    console.print(table)
    if tune_on is None:
        return
    source = "its fold models' development items" if tune_on == "dev" else "the other folds' out-of-fold items"
    folds = Table(title=f"per fold: weights chosen on {source}", box=box.SIMPLE_HEAD)
    for column in ("fold", "fused items", "dev UAR" if tune_on == "dev" else "UAR on the other folds"):
        folds.add_column(column, justify="left" if column == "fold" else "right")
    sizes = fused["fold"].value_counts()
    for fold, uar in weights.drop_duplicates("fold").set_index("fold")["dev_uar"].items():
        folds.add_row(escape(str(fold)), f"{int(sizes.get(fold, 0)):,}", f"{uar:.3f}")
    console.print(folds)


def _fuse_regressors(inputs: dict, weight: list[str], out: Path, weights_out: Path | None) -> None:
    """``voxpop fuse`` of regressors: the weighted mean of their values (:func:`voxpop.evaluation.regression_fusion`);
    ConfigError for classifiers among them or a malformed ``NAME=WEIGHT``."""
    from voxpop.evaluation import Predictions, save_predictions
    from voxpop.evaluation.regression_fusion import fusion_weights, weighted_mean

    classifiers = [name for name, (*_, kind) in inputs.items() if kind != "continuous"]
    if classifiers:
        raise ConfigError(f"{', '.join(classifiers)}: class probabilities; --weight fuses regressors (dimension "
                          "values) only, and a regressor is fused with regressors only.")  # fmt: skip
    given = {}
    for text in weight:
        name, sep, value = text.rpartition("=")
        try:
            given[name] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ConfigError(f"--weight {text!r}: give NAME=WEIGHT, e.g. --weight {next(iter(inputs))}=0.5")
    weights = fusion_weights(list(inputs), given)
    fused = weighted_mean({name: table for name, (table, *_) in inputs.items()}, weights)
    save_predictions(Predictions(fused, kind="continuous"), out)
    console.print("weighted mean of the regressors' values: " + ", ".join(f"{n} {w:.3f}" for n, w in weights.items()),
                  highlight=False)  # fmt: skip
    if weights_out is not None:
        output_file(weights_out)
        write_text(weights_out, weights.rename_axis("model").rename("weight").reset_index().to_csv(index=False))
    console.print(f"{len(fused):,} fused predictions saved to [bold]{escape(str(out))}[/]")


@app.command()
@with_rule_options(skip=("seed",))
def fuse(
    predictions: list[Path] = typer.Argument(
        ..., help="Prediction files (parquet / CSV, also from other tools) or output directories of train / run."
    ),
    labels: str = typer.Option(
        None,
        "--labels",
        help="Out-of-fold inputs: the labels the weights are tuned against (default: the runs' "
        "training labels): " + LABELS_HELP,
    ),
    tune_on: str = typer.Option(
        None,
        "--tune-on",
        help="Out-of-fold inputs: dev (each fold model's dev predictions; default when every "
        "input has them) or other_folds (cross-fitted on the other folds' out-of-fold items).",
    ),
    dev_labels: str = typer.Option(
        None,
        "--dev-labels",
        help="Inputs without a fold column only: the items whose weights are chosen, applied "
        "to every other item: " + LABELS_HELP,
    ),
    test_labels: str = typer.Option(None, "--test-labels", help="Score each input and the fused predictions."),
    corpus: Path = typer.Option(None, "--corpus", help="Corpus for label rules (default: the runs' corpus)."),
    condition: list[str] = typer.Option(None, "--condition", help="Rule labels: stimulus condition (repeatable)."),
    pool: bool = typer.Option(False, "--pool", help="Rule labels: pool the conditions, by --pooling (default sum)."),
    draws: int = typer.Option(1000, "--draws", min=0, help="Dirichlet draws of fusion weights (recipe: n_draws)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the draws and of the bootstrap."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the test confidence intervals."),
    weights_out: Path = typer.Option(None, "--weights", help="Also write the weights (per fold) as CSV."),
    weight: list[str] = typer.Option(
        None, "--weight", help="Regressors: NAME=WEIGHT of one input (repeatable; default: equal weights)."
    ),
    out: Path = typer.Option(..., "--out", help="Fused predictions parquet file (with 'fold')."),
    rule_options: dict | None = None,
) -> None:
    """Dirichlet late fusion with per-class model weights chosen by UAR, as a recipe's analyses.fusion.

    Out-of-fold inputs (a 'fold' column) are fused per fold: fold f's items get the weights tuned
    on fold f's development predictions (--tune-on dev) or on the other folds' items (other_folds).
    Inputs without a fold column (one test set) are fused by one split: weights chosen on the
    --dev-labels items, applied to every other item.
    Regressors (runs of continuous label sets) are fused by the weighted mean of their values
    (--weight, default equal weights)."""
    from voxpop.evaluation import Predictions, evaluate_pooled, save_predictions
    from voxpop.evaluation.analysis import late_fusion
    from voxpop.evaluation.tuning import TUNE_ON, common_folds, fusion_per_fold
    from voxpop.labels.rules import is_label_file, resolve_labels

    inputs = _fusion_inputs(predictions)
    if len(inputs) < 2:
        raise ConfigError(f"fusion needs at least two models' predictions; the inputs hold {len(inputs)}.")
    tables = {name: table for name, (table, *_) in inputs.items()}
    runs = {name: run for name, (_, _, run, _) in inputs.items()}
    kinds = {kind for (*_, kind) in inputs.values()}
    if "continuous" in kinds or weight:
        _fuse_regressors(inputs, weight or [], out, weights_out)
        return
    first_run = next((r for r in runs.values() if r is not None), None)
    loaded = None

    def rule_or_file(source: str):
        nonlocal loaded
        if is_label_file(source):
            return resolve_labels(None, source)
        if loaded is None:
            if corpus is None and first_run is None:
                raise ConfigError(f"labels {source!r} is a rule; give the corpus to apply it to with --corpus.")
            loaded = load_corpus(corpus or Path(first_run.record.corpus), None if corpus else first_run.record.where)
        return resolve_labels(loaded, source, condition=condition or None, pool=pool, **rule_options)

    folds = common_folds(tables)
    if folds is None:  # one test set: a single split
        given = [flag for flag, value in (("--labels", labels), ("--tune-on", tune_on)) if value is not None]
        if given or dev_labels is None:
            fix = f"drop {' and '.join(given)} (per-fold options)" if given else "give --dev-labels"
            raise ConfigError(
                "no input has a 'fold' column (out-of-fold predictions), so they are fused by one split: weights "
                f"chosen on the --dev-labels items, applied to the others; {fix}."
            )
        result = late_fusion(tables, rule_or_file(dev_labels), n_draws=draws, seed=seed)
        fused, dev_uar = result.fused, result.fusion.validation_uar
        weights = result.fusion.weights.reset_index().assign(fold="fused", dev_uar=dev_uar)
        console.print(f"protocol: single split (no fold column): weights chosen on {len(result.dev_items):,} "
                      f"--dev-labels items (dev UAR {dev_uar:.3f}), applied to the {len(fused):,} others",
                      highlight=False)  # fmt: skip
        _print_weights(weights, fused, None)
        dropped = result.dropped
    else:
        if dev_labels is not None:
            raise ConfigError(
                "--dev-labels is the single split of inputs without a fold column; these are out-of-fold "
                "predictions, fused per fold: choose the tuning labels with --labels and --tune-on dev or other_folds."
            )
        devs = {name: dev for name, (_, dev, *_) in inputs.items()}
        lacking = [name for name, dev in devs.items() if dev is None]
        if tune_on is None:
            tune_on = "other_folds" if lacking else "dev"
        if tune_on not in TUNE_ON:
            raise ConfigError(f"--tune-on {tune_on!r}: choose one of {', '.join(TUNE_ON)}.")
        if tune_on == "dev" and lacking:
            raise ConfigError(
                f"--tune-on dev: {', '.join(lacking)} have no development predictions of their fold models (files "
                "from other tools, or runs trained without a tuning analysis on dev); use --tune-on other_folds."
            )
        tuning = rule_or_file(labels) if labels is not None else _training_labels(runs)
        fused, weights = fusion_per_fold(tables, devs, tuning, draws, seed, tune_on)
        how = ("each fold model's development predictions" if tune_on == "dev"
               else "the other folds' out-of-fold predictions (cross-fitted)")  # fmt: skip
        console.print(f"protocol: per fold ({folds.nunique()} folds), tune_on {tune_on}: fold f's items fused with "
                      f"weights chosen on {how}, against {escape(tuning.rule)}; draws {draws}, seed {seed}",
                      highlight=False)  # fmt: skip
        _print_weights(weights, fused, tune_on)
        dropped = {name: len(table) - len(fused) for name, table in tables.items()}
    save_predictions(Predictions(fused), out)
    if weights_out is not None:
        output_file(weights_out)
        write_text(weights_out, weights.to_csv(index=False))
    if test_labels:
        test_set = rule_or_file(test_labels)
        rows = {
            name: evaluate_pooled(table.loc[fused.index], test_set, n_boot=bootstrap, seed=seed).set_index("metric")
            for name, table in [*tables.items(), ("fused", fused)]
        }
        n_scored = int(rows["fused"].loc["uar", "n_items"])
        left = f" ({len(fused) - n_scored:,} not kept by the test labels)" if n_scored < len(fused) else ""
        scores = Table(
            title=f"UAR vs {escape(test_labels)} on {n_scored:,} of the {len(fused):,} fused items{left}",
            box=box.SIMPLE_HEAD,
        )
        scores.add_column("model")
        scores.add_column("UAR [95 % CI] (fold mean ± sd)", justify="right")
        for name, scored in rows.items():
            scores.add_row(escape(name), _ci(scored.loc["uar"]))
        console.print(scores)
    if any(dropped.values()):
        console.print(f"items left out (not predicted by every input): {dropped}", highlight=False)
    console.print(f"{len(fused):,} fused predictions saved to [bold]{escape(str(out))}[/]")
