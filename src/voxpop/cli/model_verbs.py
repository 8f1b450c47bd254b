"""Verbs on models: ``voxpop train``, ``evaluate``, ``predict`` and ``fuse`` (thin wrappers of voxpop.runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pydantic
import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from voxpop.cache import write_text
from voxpop.chance import chance_levels, direction
from voxpop.cli.app import app, console, err_console, progress_bar
from voxpop.cli.corpus_verbs import WHERE_HELP, load_corpus
from voxpop.cli.options import parse_names, parse_pairs, with_rule_options
from voxpop.errors import ConfigError
from voxpop.features.base import parse_options
from voxpop.formatting import format_ci, format_result
from voxpop.protocols import PROTOCOLS, make_folds
from voxpop.rules import RULES

if TYPE_CHECKING:
    from voxpop.runs import ProtocolSpec

SINGLE_LABEL_SUMMARY = ("uar", "macro_f1", "accuracy")
MULTI_LABEL_SUMMARY = ("macro_f1", "micro_f1", "weighted_f1")
LABELS_HELP = f"Label set file (.parquet, from 'voxpop labels') or a rule applied to the corpus: {', '.join(RULES)}."


def _ci(row: pd.Series) -> str:
    nan = float("nan")
    return format_result(row["value"], row["low"], row["high"], row.get("fold_mean", nan), row.get("fold_sd", nan))


def _number(value: float) -> str:
    return format_ci(value)


def _head_options(texts: list[str], head: str) -> dict:
    """``KEY=VALUE`` options for every head, ``HEAD.KEY=VALUE`` for one head only."""
    chosen = []
    for text in texts:
        key = text.partition("=")[0]
        prefix, dot, _ = key.partition(".")
        if not dot:
            chosen.append(text)
        elif prefix == head:
            chosen.append(text.partition(".")[2])
    return parse_options(chosen)


def _protocol(
    name: str, k: int, splits: list[str] | None, column: str, dev: bool, seed: int, assignment: str
) -> ProtocolSpec:
    from voxpop.runs import ProtocolSpec

    if name == "speaker-folds":
        options = {"k": k, "column": column, "dev": dev, "seed": seed, "assignment": assignment}
        return ProtocolSpec(name=name, options=options)
    if name == "split":
        if not splits:
            raise ConfigError("protocol 'split' needs the split column(s): --split fold1 (repeatable).")
        return ProtocolSpec(name=name, options={"columns": list(splits)})
    if name == "leave-one-out":
        return ProtocolSpec(name=name, options={"column": column})
    raise ConfigError(f"unknown protocol {name!r}; choose one of {', '.join(PROTOCOLS)}.")


def print_summary(tables: dict[str, pd.DataFrame], title: str, first: str = "head") -> None:
    """One row per run (head): items scored and the main metrics with their 95 % bootstrap intervals."""
    any_table = next(iter(tables.values()))
    wanted = SINGLE_LABEL_SUMMARY if "uar" in set(any_table["metric"]) else MULTI_LABEL_SUMMARY
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for column in (first, "items", *(m.replace("_", "-") + " [95 % CI]" for m in wanted)):
        table.add_column(column, justify="left" if column == first else "right")
    for name, result in tables.items():
        rows = result.set_index("metric")
        table.add_row(escape(name), f"{int(result['n_items'].iloc[0]):,}", *(_ci(rows.loc[m]) for m in wanted))
    console.print(table)


def print_folds(sizes: pd.DataFrame, dropped: pd.DataFrame, title: str = "items per fold") -> None:
    """Items used per fold and items dropped: without features (train / dev / test), not kept (train / dev)."""
    table = Table(title=escape(title), box=box.SIMPLE_HEAD)
    for column in ("fold", "train", "dev", "test", "no features (train/dev/test)", "not kept (train/dev)"):
        table.add_column(column, justify="left" if column == "fold" else "right")
    for fold, row in sizes.join(dropped).iterrows():
        missing = "/".join(f"{int(row[f'{part}_no_features']):,}" for part in ("train", "dev", "test"))
        not_kept = "/".join(f"{int(row[f'{part}_not_kept']):,}" for part in ("train", "dev"))
        table.add_row(escape(str(fold)), *(f"{int(row[p]):,}" for p in ("train", "dev", "test")), missing, not_kept)
    console.print(table)


@app.command()
@with_rule_options(skip=("seed",))
def train(
    corpus: Path = typer.Argument(..., help="Corpus directory (corpus.yaml, items.parquet, ratings.parquet)."),
    labels: str = typer.Option(..., "--labels", help=LABELS_HELP),
    condition: list[str] = typer.Option(None, "--condition", help="Rule labels: stimulus condition (repeatable)."),
    pool: bool = typer.Option(
        False, "--pool", help="Rule labels: pool the conditions (all when none), by --pooling (default sum)."
    ),
    features: Path = typer.Option(None, "--features", help="A feature store entry directory (from 'voxpop features')."),
    extractor: str = typer.Option(
        None, "--extractor", "-e", help="Extract features now: opensmile:eGeMAPSv02 | fbank | ssl:PATH ..."
    ),
    option: list[str] = typer.Option(None, "--option", "-o", help="Extractor option KEY=VALUE (repeatable)."),
    workers: int = typer.Option(None, "--workers", help="opensmile / fbank: extraction worker processes."),
    store: Path = typer.Option(
        None, "--store", help="Feature store root (default $VOXPOP_FEATURE_STORE or .voxpop/features)."
    ),
    head: str = typer.Option(
        "mlp", "--head", help="Comma-separated heads: linear, mlp, residual, attentive_stats, lstm, logreg, svm."
    ),
    head_option: list[str] = typer.Option(
        None, "--head-option", help="Head option KEY=VALUE for every head, or HEAD.KEY=VALUE for one (repeatable)."
    ),
    loss: str = typer.Option("ce", "--loss", help="Loss of neural heads: ce, wce, bce, wbce, cbce, kld."),
    beta: float = typer.Option(None, "--beta", help="cbce: class-balanced beta (default 0.99)."),
    protocol: str = typer.Option("speaker-folds", "--protocol", help=f"Protocol: {', '.join(PROTOCOLS)}."),
    k: int = typer.Option(6, "--k", help="speaker-folds: number of folds."),
    split: list[str] = typer.Option(None, "--split", help="split: predefined split column, e.g. fold1 (repeatable)."),
    group_column: str = typer.Option(
        "speaker", "--group-column", help="Item column grouping speaker folds / leave-one-out."
    ),
    dev: bool = typer.Option(True, "--dev/--no-dev", help="speaker-folds: hold out the next group as development set."),
    fold_assignment: str = typer.Option(
        "round-robin", "--fold-assignment", help="speaker-folds: round-robin (shuffled by --seed) or group-kfold."
    ),
    epochs: int = typer.Option(20, "--epochs", help="Neural heads: maximum epochs."),
    lr: float = typer.Option(1e-3, "--lr", help="Neural heads: AdamW learning rate (peak, after warm-up)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Neural heads: items per batch (per device)."),
    weight_decay: float = typer.Option(0.01, "--weight-decay", help="Neural heads: AdamW weight decay."),
    schedule: str = typer.Option(
        "constant", "--schedule", help="Learning rate after warm-up: constant, linear, cosine."
    ),
    warmup_steps: int = typer.Option(0, "--warmup-steps", help="Linear warm-up over this many optimiser steps."),
    warmup_ratio: float = typer.Option(0.0, "--warmup-ratio", help="Linear warm-up over this share of all steps."),
    accumulate_grad_batches: int = typer.Option(
        1, "--accumulate-grad-batches", help="Sum gradients over this many batches per optimiser step."
    ),
    precision: str = typer.Option(
        "auto", "--precision", help="auto, 32-true, bf16-mixed (GPU or CPU), 16-mixed (GPU)."
    ),
    backbone: str = typer.Option(
        None, "--backbone", help="Fine-tune this self-supervised backbone directory (features: waveform:BACKBONE)."
    ),
    keep_layers: int = typer.Option(None, "--keep-layers", help="Backbone: keep only the first k transformer layers."),
    trainable_layers: int = typer.Option(
        None, "--trainable-layers", help="Backbone: train only the top k transformer layers (default: all)."
    ),
    backbone_lr: float = typer.Option(None, "--backbone-lr", help="Backbone: its own learning rate (default: --lr)."),
    devices: str = typer.Option("auto", "--devices", help="Lightning devices per node: auto, a count, or ids 0,1."),
    num_nodes: int = typer.Option(1, "--num-nodes", help="Lightning: number of nodes (machines)."),
    strategy: str = typer.Option("auto", "--strategy", help="Lightning strategy, e.g. ddp for several devices."),
    patience: int = typer.Option(
        5, "--patience", help="Early stopping after this many epochs without improvement (0: never)."
    ),
    monitor: str = typer.Option(
        "loss", "--monitor", help="Dev metric for early stopping: loss, macro_f1, uar, binary_f1."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of folds, initialisation and sampling."),
    balanced: bool = typer.Option(False, "--balanced", help="Draw training items with weight 1 / class frequency."),
    threads: int = typer.Option(
        None, "--threads", help="CPU threads for neural heads (default: torch's choice; 1 is often fastest on 2 cores)."
    ),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the confidence intervals."),
    where: str = typer.Option(None, "--where", help=WHERE_HELP),
    out: Path = typer.Option(..., "--out", help="Run directory (one sub-directory per head when several)."),
    rule_options: dict | None = None,
) -> None:
    """Cross-validate heads on features and labels, save the runs and print out-of-fold metrics with CIs."""
    import torch

    from voxpop.evaluation import evaluate_out_of_fold
    from voxpop.runs import ModelSpec, resolve_features, resolve_labels, train_run
    from voxpop.segments import items_corpus
    from voxpop.training import BackboneConfig, TrainConfig

    if threads is not None:
        torch.set_num_threads(threads)
    try:
        config = TrainConfig(
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            patience=patience or None,
            monitor=monitor,
            seed=seed,
            balanced_sampling=balanced,
            weight_decay=weight_decay,
            schedule=schedule,
            warmup_steps=warmup_steps,
            warmup_ratio=warmup_ratio,
            accumulate_grad_batches=accumulate_grad_batches,
            precision=precision,
            backbone=None
            if backbone is None
            else BackboneConfig(path=backbone, keep_layers=keep_layers, trainable_layers=trainable_layers),
            backbone_lr=backbone_lr,
            devices=int(devices) if devices.isdigit() else devices,
            num_nodes=num_nodes,
            strategy=strategy,
            progress_bar=False,
        )
    except pydantic.ValidationError as exc:
        flags = [("--" + str(e["loc"][-1]).replace("_", "-") + ": ") if e["loc"] else "" for e in exc.errors()]
        problems = "; ".join(flag + e["msg"] for flag, e in zip(flags, exc.errors(), strict=True))
        raise ConfigError(f"training options: {problems}.") from None
    loaded = load_corpus(corpus, where)
    label_set, label_source = resolve_labels(loaded, labels, condition=condition or None, pool=pool, **rule_options)
    loaded = items_corpus(loaded, label_set)  # segment label sets train on their recordings' audio windows
    options = parse_options(option or [])
    if backbone is not None and extractor is None and features is None:
        extractor = f"waveform:{backbone}"
    if workers is not None:
        options["workers"] = workers
    with progress_bar() as bar:
        task = bar.add_task(f"features {extractor or features}", total=None)
        feats, feature_source = resolve_features(
            loaded,
            store_entry=features,
            extractor=extractor,
            options=options,
            store=store,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"features: {feats.kind} {tuple(feats.values.shape)}, store entry {escape(str(feats.path))}", highlight=False
    )
    chosen = _protocol(protocol, k, split, group_column, dev, seed, fold_assignment)
    folds = make_folds(loaded.items, chosen.name, **chosen.options)
    heads = parse_names(head)
    results, summaries = {}, {}
    with progress_bar() as bar:
        for name in heads:
            spec = ModelSpec(
                head=name,
                head_options=_head_options(head_option or [], name),
                loss=loss,
                loss_options={} if beta is None else {"beta": beta},
                train=config,
            )
            task = bar.add_task(f"{name}: folds", total=len(folds))
            results[name] = train_run(
                out / name if len(heads) > 1 else out,
                corpus_path=corpus,
                where=where,
                labels=label_set,
                label_source=label_source,
                features=feats,
                feature_source=feature_source,
                folds=folds,
                protocol=chosen,
                spec=spec,
                progress=lambda done, total, task=task: bar.update(task, completed=done, total=total),
            )
    layouts: dict[str, list[str]] = {}  # classical heads train on the dev items: their sizes differ
    for name, result in results.items():
        layouts.setdefault(result.sizes.to_json(), []).append(name)
    for names in layouts.values():
        which = f" ({', '.join(names)})" if len(layouts) > 1 else ""
        print_folds(results[names[0]].sizes, results[names[0]].dropped, f"items per fold{which}")
    for name, result in results.items():
        if result.resumed:
            console.print(f"{name}: loaded saved folds {', '.join(result.resumed)} (not retrained)", highlight=False)
        for part, table in evaluate_out_of_fold(result.predictions, label_set, n_boot=bootstrap, seed=seed).items():
            summaries[name if part == "pooled" else f"{name} / {part}"] = table
    frame = pd.concat([t.assign(run=n) for n, t in summaries.items()], ignore_index=True)
    write_text(out / "summary.csv", frame.to_csv(index=False))
    excluded = int(next(iter(summaries.values()))["n_excluded"].iloc[0])
    print_summary(
        summaries,
        f"out-of-fold predictions vs training labels ({label_set.rule}), pooled over {len(folds)} test folds; "
        f"{excluded:,} predicted items not kept by the labels are left out",
    )
    console.print(f"runs saved to [bold]{escape(str(out))}[/] (summary.csv)")


def _runs_or_file(run: Path) -> dict[str, Path]:
    """A predictions file, a run directory or a directory of runs -> {name: predictions path}."""
    from voxpop.runs import find_runs

    if run.is_file():
        return {run.stem: run}
    return {path.name: path / "predictions.parquet" for path in find_runs(run)}


@app.command()
@with_rule_options(skip=("seed", "tie_policy"))  # --tie-policy here: ties of the test targets when scoring
def evaluate(
    run: Path = typer.Argument(..., help="Run directory, directory of runs (one per head), or a predictions file."),
    labels: str = typer.Option(..., "--labels", help=LABELS_HELP),
    corpus: Path = typer.Option(None, "--corpus", help="Corpus for a label rule (default: the run's corpus)."),
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
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap (and of tie_policy random)."),
    resample: str = typer.Option(
        "items", "--resample", help="What the bootstrap resamples: items, or speakers (the corpus's speaker column)."
    ),
    out: Path = typer.Option(None, "--out", help="Write the metric table (run, metric, value, low, high, ...) as CSV."),
    class_map: list[str] = typer.Option(
        None, "--class-map", help="Another corpus: RUN_CLASS=TEST_CLASS[,...]; TEST_CLASS 'drop' removes one."
    ),
    store: Path = typer.Option(None, "--store", help="Another corpus: feature store root (default: temporary)."),
    rule_options: dict | None = None,
) -> None:
    """Score a run's out-of-fold predictions against a test label set (cross-testing), with bootstrap CIs.

    With --corpus naming another corpus than the run's, every item of that corpus is predicted by the
    mean of the run's fold models and the run's classes are mapped onto its classes (--class-map)."""
    from voxpop.crosscorpus import is_other_corpus, score_on_corpus
    from voxpop.evaluation import evaluate_pooled
    from voxpop.metrics import RESAMPLE_UNITS, resample_groups
    from voxpop.predictions import load_predictions
    from voxpop.runs import is_label_file, load_run, resolve_labels

    sources = _runs_or_file(run)
    first_run = None if run.is_file() else load_run(next(iter(sources.values())).parent)
    other = corpus is not None and first_run is not None and is_other_corpus(first_run, corpus)
    if class_map and not other:
        raise ConfigError("--class-map maps a run's classes onto another corpus's; name that corpus with --corpus.")
    label_corpus = None
    if not is_label_file(labels):
        if corpus is None:
            if run.is_file():
                raise ConfigError(f"labels {labels!r} is a rule; give the corpus to apply it to with --corpus.")
            record = load_run(next(iter(sources.values())).parent).record
            corpus, where = Path(record.corpus), where if where is not None else record.where
        label_corpus = load_corpus(corpus, where)
    test_labels, _ = resolve_labels(label_corpus, labels, condition=condition or None, pool=pool, **rule_options)
    rule = binarize if binarize in ("auto", "uniform", "argmax") else float(binarize)
    speakers = None
    if resample not in RESAMPLE_UNITS:
        raise ConfigError(f"--resample {resample!r}: choose one of {', '.join(RESAMPLE_UNITS)}.")
    if resample != "items":  # the speaker column of the label corpus, else of the run's corpus
        if label_corpus is None and corpus is None and run.is_file():
            raise ConfigError("--resample speakers reads the corpus's speaker column; name the corpus with --corpus.")
        speaker_corpus = label_corpus or load_corpus(
            corpus or Path(load_run(next(iter(sources.values())).parent).record.corpus)
        )
        speakers = resample_groups(speaker_corpus.items, resample, "the corpus items")
    mapping = parse_pairs([p for text in class_map or [] for p in text.split(",") if p.strip()], "--class-map")

    def predictions(path: Path) -> pd.DataFrame:
        if not other:
            return load_predictions(path).table
        scored, skipped = score_on_corpus(path.parent, label_corpus, mapping, test_labels.classes, store=store)
        if len(skipped):
            err_console.print(f"[yellow]{len(skipped):,} items of {escape(str(corpus))} not scored (unusable audio: "
                              f"{', '.join(map(str, skipped.index[:5]))}{' ...' if len(skipped) > 5 else ''})[/]")
        return scored

    tables = {}
    for name, path in sources.items():
        table = predictions(path)
        scored = table.index[test_labels.kept.reindex(table.index, fill_value=False).to_numpy(dtype=bool)]
        result = evaluate_pooled(
            table, test_labels, n_boot=bootstrap, seed=seed, binarize=rule, tie_policy=tie_policy, speakers=speakers
        )
        train_labels = None if other or run.is_file() else load_run(path.parent).labels
        levels = chance_levels(scored, test_labels, train_labels)
        tables[name] = result.assign(chance=result["metric"].map(levels).astype(float))
    frame = pd.concat([t.assign(run=n) for n, t in tables.items()], ignore_index=True)
    chances = {name: tuple(t["chance"].fillna(-1.0)) for name, t in tables.items()}
    one_chance = len(set(chances.values())) == 1
    table = Table(title=f"predictions vs {escape(labels)} ({'multi' if test_labels.multilabel else 'single'}-label)")
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
        table.add_row(f"{escape(metric)} ({direction(metric)} is better)", *cells)
    for label, column in (
        ("items scored", "n_items"), ("items left out", "n_excluded"), (f"tied targets ({tie_policy})", "n_tied")
    ):
        counts = [f"{int(t[column].iloc[0]):,}" for t in tables.values()]
        table.add_row(label, *([*counts, ""] if one_chance else [c for n in counts for c in (n, "")]))
    absent = [escape(t["absent_classes"].iloc[0]) or "-" for t in tables.values()]
    table.add_row("absent classes", *([*absent, ""] if one_chance else [c for a in absent for c in (a, "")]))
    console.print(table)
    console.print(
        "[dim]chance: the expected score of a predictor drawing classes with the test items' class frequencies "
        "(KLD / JSD: the training labels' mean distribution for every item; MCC, CCC: 0)[/]"
    )
    console.print(
        f"[dim]95 % percentile bootstrap intervals over "
        f"{'speakers (cluster bootstrap)' if speakers is not None else 'items (stratified by true class)'}, "
        f"{bootstrap} resamples, "
        f"seed {seed}; macro averages over the classes present in the test set; tied top classes of "
        f"distribution targets: {tie_policy}[/]"
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        columns = ["run", "metric", "value", "low", "high", "chance", "n_items", "n_excluded", "absent_classes"]
        write_text(out, frame[[*columns, "tie_policy", "n_tied"]].to_csv(index=False))
        console.print(f"saved to [bold]{escape(str(out))}[/]")


@app.command()
def predict(
    run: Path = typer.Argument(..., help="Run directory (from 'voxpop train'; one head) or exported folder."),
    audio: list[Path] = typer.Argument(..., help="Audio files to classify."),
    output_format: str = typer.Option("csv", "--format", help="Output format: csv or json."),
    out: Path = typer.Option(None, "--out", help="Write here (default: print to standard output)."),
    store: Path = typer.Option(None, "--store", help="Feature store root for the new files (default: temporary)."),
    extractor: str = typer.Option(None, "--extractor", help="Only for runs trained on --features: the extractor spec."),
    option: list[str] = typer.Option(None, "--option", "-o", help="With --extractor: option KEY=VALUE (repeatable)."),
) -> None:
    """Class distribution per audio file: the run's features and fold models, probabilities averaged over folds.

    RUN may also be a folder written by 'voxpop export' (ONNX fold models + card.json)."""
    from voxpop.export import is_exported, predict_exported
    from voxpop.runs import predict_files

    if output_format not in ("csv", "json"):
        raise ConfigError(f"--format {output_format!r}: choose csv or json.")
    exported = is_exported(run)
    if exported and (extractor or option):
        raise ConfigError(f"{run} is an exported model: its card.json names the extractor; drop --extractor/--option.")
    with progress_bar(err_console) as bar:  # standard output may carry the predictions
        task = bar.add_task("features", total=None)
        report = lambda done, total: bar.update(task, completed=done, total=total)  # noqa: E731
        if exported:
            result = predict_exported(run, audio, store=store, progress=report)
        else:
            result = predict_files(
                run, audio, store=store, extractor=extractor, options=parse_options(option or []), progress=report
            )
    table = result.table()
    if output_format == "csv":
        text = table.to_csv()
    else:
        records = [
            {"file": file, "prediction": row["prediction"], "probabilities": row.drop("prediction").to_dict()}
            for file, row in table.iterrows()
        ]
        text = json.dumps(records, indent=1)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text(out, text)
        console.print(f"{len(table):,} predictions saved to [bold]{escape(str(out))}[/]")
    if len(result.skipped):
        skipped = Table(title=f"skipped files ({len(result.skipped):,})")
        for column in ("file", "reason", "message"):
            skipped.add_column(column)
        for file, row in result.skipped.iterrows():
            skipped.add_row(*(escape(str(v)) for v in (file, row["reason"], row["message"])))
        err_console.print(skipped, style="yellow")


def _input_name(path: Path, taken: dict) -> str:
    name = path.name if path.is_dir() else (path.parent.name if path.name == "predictions.parquet" else path.stem)
    base, n = name, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


@app.command()
@with_rule_options(skip=("seed",))
def fuse(
    predictions: list[Path] = typer.Argument(..., help="Prediction files (parquet / CSV) or run directories."),
    dev_labels: str = typer.Option(..., "--dev-labels", help="Items whose weights are chosen: " + LABELS_HELP),
    test_labels: str = typer.Option(None, "--test-labels", help="Score the fused items against these labels."),
    corpus: Path = typer.Option(None, "--corpus", help="Corpus for label rules."),
    condition: list[str] = typer.Option(None, "--condition", help="Rule labels: stimulus condition (repeatable)."),
    pool: bool = typer.Option(False, "--pool", help="Rule labels: pool the conditions, by --pooling (default sum)."),
    draws: int = typer.Option(1000, "--draws", help="Dirichlet draws of fusion weights."),
    seed: int = typer.Option(0, "--seed", help="Seed of the draws and of the bootstrap."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the test confidence intervals."),
    out: Path = typer.Option(..., "--out", help="Fused predictions parquet file (the non-dev items)."),
    rule_options: dict | None = None,
) -> None:
    """Dirichlet late fusion: per-class model weights chosen by dev UAR, applied to every other item."""
    from voxpop.analysis import late_fusion
    from voxpop.evaluation import evaluate_predictions
    from voxpop.predictions import Predictions, load_predictions, save_predictions
    from voxpop.runs import is_label_file, resolve_labels

    tables: dict[str, pd.DataFrame] = {}
    for path in predictions:
        tables[_input_name(path, tables)] = load_predictions(
            path / "predictions.parquet" if path.is_dir() else path
        ).table
    loaded = load_corpus(corpus) if corpus is not None else None

    def rule_or_file(source: str):
        scope = {} if is_label_file(source) else {"condition": condition or None, "pool": pool, **rule_options}
        return resolve_labels(loaded, source, **scope)[0]

    dev_set = rule_or_file(dev_labels)
    test_set = rule_or_file(test_labels) if test_labels else None
    result = late_fusion(tables, dev_set, n_draws=draws, seed=seed)
    save_predictions(Predictions(result.fused), out)
    weights = Table(title=f"fusion weights (chosen on {len(result.dev_items):,} dev items)", box=box.SIMPLE_HEAD)
    weights.add_column("model")
    for column in result.fusion.weights.columns:
        weights.add_column(escape(str(column)), justify="right")
    for model, row in result.fusion.weights.iterrows():
        weights.add_row(escape(str(model)), *(f"{v:.3f}" for v in row))
    console.print(weights)
    scores = Table(title="UAR", box=box.SIMPLE_HEAD)
    scores.add_column("model")
    scores.add_column("dev", justify="right")
    if test_set is not None:
        scores.add_column("test [95 % CI]", justify="right")
    candidates = [*tables, "fused"]
    dev_uar = [*result.fusion.candidate_uar[: len(tables)], result.fusion.validation_uar]
    rest = result.fused.index
    for name, value in zip(candidates, dev_uar, strict=True):
        cells = [escape(name), f"{value:.3f}"]
        if test_set is not None:
            table = result.fused if name == "fused" else tables[name].loc[rest]
            metrics = evaluate_predictions(table, test_set, n_boot=bootstrap, seed=seed).set_index("metric")
            cells.append(_ci(metrics.loc["uar"]))
        scores.add_row(*cells)
    console.print(scores)
    if any(result.dropped.values()):
        console.print(f"items left out (not predicted by every input): {result.dropped}", highlight=False)
    console.print(f"{len(result.fused):,} fused predictions saved to [bold]{escape(str(out))}[/]")
