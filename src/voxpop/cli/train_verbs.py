"""``voxpop train``: a one-cell recipe (a small grid for ``--head mlp,svm``) built from the flags and run
through the same plan and stage cache as ``voxpop run`` (:func:`voxpop.study.run.run_recipe`).

Every flag sets the recipe key of the same name (``--k`` -> ``protocol.speaker_folds.k``, ``--lr`` ->
``model.optimiser.lr`` ...); flags left out are left out of the recipe, so the recipe's defaults apply.
The recipe is written to ``OUT/recipe.yaml``: ``voxpop run OUT/recipe.yaml --out OUT`` reuses every stage.
"""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import typer
import yaml
from rich import box
from rich.markup import escape
from rich.table import Table

from voxpop.cli.app import app, console
from voxpop.cli.corpus_verbs import WHERE_HELP
from voxpop.cli.options import parse_names, with_rule_options
from voxpop.core.cache import output_directory, write_text
from voxpop.core.errors import ConfigError
from voxpop.core.formatting import format_ci, metric_name
from voxpop.corpus.classmap import check_classes, parse_class_map
from voxpop.features.base import parse_options
from voxpop.labels import RULES
from voxpop.models import PROTOCOLS

SINGLE_LABEL_SUMMARY = ("uar", "macro_f1", "accuracy")
MULTI_LABEL_SUMMARY = ("macro_f1", "micro_f1", "weighted_f1")
RECIPE_FILE = "recipe.yaml"


def _given(**values: Any) -> dict[str, Any]:
    """The keys whose value was given (not None)."""
    return {k: v for k, v in values.items() if v is not None}


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


def _protocol(name: str, options: dict[str, Any], splits: list[str] | None) -> dict[str, Any]:
    """The recipe's ``protocol`` section of a CLI protocol name (``{}``: the default, 5 speaker folds)."""
    if name == "speaker-folds":
        return {"speaker_folds": options} if options else {}
    if name == "split":
        if not splits:
            raise ConfigError("protocol 'split' needs the split column(s): --split fold1 (repeatable).")
        return {"split": {"columns": list(splits)}}
    if name == "leave-one-out":
        return {"leave_one_out": _given(column=options.get("column"))}
    raise ConfigError(f"unknown protocol {name!r}; choose one of {', '.join(PROTOCOLS)}.")


def _features(
    features: Path | None, extractor: str | None, options: dict[str, Any], audio: dict[str, Any]
) -> dict[str, Any]:
    """The recipe's ``features`` section; a store entry directory (``--features``) becomes its extractor
    (rebuilt from the entry's spec unless ``--extractor`` names it), its store root and audio options."""
    if features is None:
        return _given(extractor=extractor, options=options or None, **audio)
    from voxpop.features import FeatureStore
    from voxpop.models.inference import extractor_of_spec

    entry = FeatureStore(features)
    text, rebuilt = (extractor, options) if extractor is not None else extractor_of_spec(entry.meta["extractor"])
    recorded = {k: entry.meta["audio"].get(k) for k in ("max_seconds", "noise_dir", "snr_db")}
    return _given(extractor=text, options=rebuilt or None, store=str(entry.path.parent.resolve()), **recorded)


def train_recipe(
    corpus: Path, labels: str, label_options: dict[str, Any], features: dict[str, Any], models: dict[str, dict],
    protocol: dict[str, Any], evaluation: dict[str, Any], where: str | None,
) -> dict[str, Any]:  # fmt: skip
    """The recipe of ``voxpop train``: one label set (train and test, named after the rule or the saved label
    set file), one model (``models`` with one entry) or one variant per head."""
    from voxpop.labels.rules import is_label_file
    from voxpop.study.recipe import FILE_RULE

    name, spec = labels, {"rule": labels, **label_options}
    if is_label_file(labels):
        name, spec = Path(labels).stem, {"rule": FILE_RULE, "path": str(Path(labels).resolve()), **label_options}
    recipe: dict[str, Any] = {
        "study": "train",
        "corpus": {"path": str(corpus.resolve())},
        **_given(where=where),
        "labels": {"train": {name: spec}, "test": {name: dict(spec)}},
        "features": features,
        "protocol": protocol,
        "evaluation": evaluation,
    }
    if len(models) == 1:
        recipe["model"] = next(iter(models.values()))
    else:
        recipe["variants"] = {head: {"model": model} for head, model in models.items()}
    return recipe


def print_summary(tables: dict[str, pd.DataFrame], title: str, first: str = "head") -> None:
    """One row per run (head): items scored, the main metrics pooled over the test folds with their 95 % bootstrap
    intervals, and the first metric per test fold (mean ± sample standard deviation over the folds)."""
    any_table = next(iter(tables.values()))
    wanted = SINGLE_LABEL_SUMMARY if "uar" in set(any_table["metric"]) else MULTI_LABEL_SUMMARY
    table = Table(title=title, box=box.SIMPLE_HEAD)
    folds = f"{metric_name(wanted[0])} per fold (mean ± sd)"
    for column in (first, "items", *(metric_name(m) + " [95 % CI]" for m in wanted), folds):
        table.add_column(column, justify="left" if column == first else "right")
    for name, result in tables.items():
        rows = result.set_index("metric")
        cells = [format_ci(*rows.loc[m, ["value", "low", "high"]]) for m in wanted]
        mean, sd = rows.loc[wanted[0], ["fold_mean", "fold_sd"]]
        cells.append(f"{mean:.3f} ± {sd:.3f}" if pd.notna(sd) else f"{mean:.3f}")
        table.add_row(escape(name), f"{int(result['n_items'].iloc[0]):,}", *cells)
    console.print(table)


def print_folds(folds: pd.DataFrame, title: str = "items per fold") -> None:
    """Items used per fold and items dropped: without features (train / dev / test), not kept (train / dev)."""
    table = Table(title=escape(title), box=box.SIMPLE_HEAD)
    for column in ("fold", "train", "dev", "test", "no features (train/dev/test)", "not kept (train/dev)"):
        table.add_column(column, justify="left" if column == "fold" else "right")
    for fold, row in folds.iterrows():
        missing = "/".join(f"{int(row[f'{part}_no_features']):,}" for part in ("train", "dev", "test"))
        not_kept = "/".join(f"{int(row[f'{part}_not_kept']):,}" for part in ("train", "dev"))
        table.add_row(escape(str(fold)), *(f"{int(row[p]):,}" for p in ("train", "dev", "test")), missing, not_kept)
    console.print(table)


@app.command()
@with_rule_options(skip=("seed",))
def train(
    corpus: Path = typer.Argument(..., help="Corpus directory (corpus.yaml, items.parquet, ratings.parquet)."),
    labels: str = typer.Option(
        ..., "--labels", help=f"Label set file (.parquet, from 'voxpop labels') or a rule: {', '.join(RULES)}."
    ),
    condition: list[str] = typer.Option(None, "--condition", help="Rule labels: stimulus condition (repeatable)."),
    pool: bool = typer.Option(
        False, "--pool", help="Rule labels: pool the conditions (all when none), by --pooling (default sum)."
    ),
    classes: str = typer.Option(
        None, "--classes", help="classes: comma-separated class subset, e.g. anger,happy,sad (default: all)."
    ),
    class_map: list[str] = typer.Option(
        None, "--class-map", help="class_map: LABEL=NEW renames a label, LABEL=drop removes it (repeatable)."
    ),
    features: Path = typer.Option(None, "--features", help="A feature store entry directory (from 'voxpop features')."),
    extractor: str = typer.Option(
        None, "--extractor", "-e", help="features.extractor: opensmile:eGeMAPSv02 (default) | fbank | ssl:PATH ..."
    ),
    option: list[str] = typer.Option(None, "--option", "-o", help="features.options: KEY=VALUE (repeatable)."),
    workers: int = typer.Option(None, "--workers", help="opensmile / fbank: extraction worker processes."),
    store: Path = typer.Option(None, "--store", help="features.store: store root (default OUT/cache/features)."),
    max_seconds: float = typer.Option(None, "--max-seconds", help="features.max_seconds: crop longer clips."),
    noise_dir: Path = typer.Option(None, "--noise-dir", help="features.noise_dir: add noise from these files."),
    snr_db: float = typer.Option(None, "--snr-db", help="features.snr_db: signal-to-noise ratio of --noise-dir."),
    head: str = typer.Option(
        "mlp", "--head", help="Comma-separated heads: linear, mlp, residual, attentive_stats, lstm, logreg, svm."
    ),
    head_option: list[str] = typer.Option(
        None, "--head-option", help="Head option KEY=VALUE for every head, or HEAD.KEY=VALUE for one (repeatable)."
    ),
    loss: str = typer.Option(None, "--loss", help="Loss of neural heads: ce (default), wce, bce, wbce, cbce, kld."),
    beta: float = typer.Option(None, "--beta", help="cbce: class-balanced beta (model.loss_options.beta; 0.99)."),
    standardize: bool = typer.Option(
        None, "--standardize/--no-standardize", help="model.standardize: z-score features per fold (default on)."
    ),
    protocol: str = typer.Option("speaker-folds", "--protocol", help=f"Protocol: {', '.join(PROTOCOLS)}."),
    k: int = typer.Option(None, "--k", help="speaker-folds: number of folds (default 5)."),
    split: list[str] = typer.Option(None, "--split", help="split: predefined split column, e.g. fold1 (repeatable)."),
    column: str = typer.Option(
        None, "--column", "--group-column", help="Item column of speaker folds / leave-one-out (default speaker)."
    ),
    dev: bool = typer.Option(None, "--dev/--no-dev", help="speaker-folds: hold out the next group as dev set."),
    assignment: str = typer.Option(
        None, "--assignment", "--fold-assignment", help="speaker-folds: round-robin (default) or group-kfold."
    ),
    epochs: int = typer.Option(None, "--epochs", help="Neural heads: maximum epochs (default 20)."),
    lr: float = typer.Option(None, "--lr", help="Neural heads: AdamW learning rate, peak after warm-up (1e-3)."),
    batch_size: int = typer.Option(None, "--batch-size", help="Neural heads: items per batch per device (32)."),
    max_batch_frames: int = typer.Option(
        None, "--max-batch-frames", help="Frame sequences: most padded frames per batch, length buckets (32000)."
    ),
    weight_decay: float = typer.Option(None, "--weight-decay", help="Neural heads: AdamW weight decay (0.01)."),
    schedule: str = typer.Option(None, "--schedule", help="Learning rate after warm-up: constant, linear, cosine."),
    warmup_steps: int = typer.Option(None, "--warmup-steps", help="Linear warm-up over this many optimiser steps."),
    warmup_ratio: float = typer.Option(None, "--warmup-ratio", help="Linear warm-up over this share of all steps."),
    accumulate_grad_batches: int = typer.Option(
        None, "--accumulate-grad-batches", help="Sum gradients over this many batches per optimiser step (1)."
    ),
    precision: str = typer.Option(None, "--precision", help="auto, 32-true, bf16-mixed (GPU or CPU), 16-mixed (GPU)."),
    backbone: str = typer.Option(
        None, "--backbone", help="model.backbone.path: fine-tune this backbone directory (features: waveform:PATH)."
    ),
    keep_layers: int = typer.Option(None, "--keep-layers", help="Backbone: keep only the first k transformer layers."),
    trainable_layers: int = typer.Option(
        None, "--trainable-layers", help="Backbone: train only the top k transformer layers (default: all)."
    ),
    backbone_lr: float = typer.Option(None, "--backbone-lr", help="Backbone: its own learning rate (default: --lr)."),
    devices: str = typer.Option(None, "--devices", help="Lightning devices per node: auto, a count, or ids 0,1."),
    num_nodes: int = typer.Option(None, "--num-nodes", help="Lightning: number of nodes (machines)."),
    strategy: str = typer.Option(None, "--strategy", help="Lightning strategy, e.g. ddp for several devices."),
    patience: int = typer.Option(
        None, "--patience", help="Early stopping after this many epochs without improvement (5; 0: never)."
    ),
    monitor: str = typer.Option(None, "--monitor", help="Early-stopping dev metric: loss, macro_f1, uar, binary_f1."),
    seed: int = typer.Option(None, "--seed", help="Seed of folds, initialisation, sampling and bootstrap (0)."),
    balanced_sampling: bool = typer.Option(
        None, "--balanced-sampling/--no-balanced-sampling", "--balanced", help="Draw items with weight 1 / class size."
    ),
    threads: int = typer.Option(1, "--threads", min=1, help="CPU threads of every stage (torch, BLAS), as voxpop run."),
    ensemble: bool = typer.Option(False, "--ensemble", help="analyses.ensemble: also the heads' mean probabilities."),
    fusion: bool = typer.Option(False, "--fusion", help="analyses.fusion: Dirichlet fusion of the heads per fold."),
    tuned_decisions: bool = typer.Option(
        False, "--tuned-decisions", help="analyses.tuned_decisions: per-class offsets / thresholds tuned per fold."
    ),
    tune_on: str = typer.Option(
        None, "--tune-on", help="Fusion weights and tuned decisions: dev (default, each fold's dev set) or other_folds."
    ),
    bootstrap: int = typer.Option(None, "--bootstrap", help="Bootstrap resamples for the confidence intervals (1000)."),
    where: str = typer.Option(None, "--where", help=WHERE_HELP),
    out: Path = typer.Option(..., "--out", help="Output directory: cache/, runs.json, recipe.yaml, summary.csv."),
    rule_options: dict | None = None,
) -> None:
    """Cross-validate heads on features and labels through the recipe runner and print out-of-fold metrics."""
    from voxpop.cli.study_verbs import progress_reporter
    from voxpop.labels.overwrite import existing_outputs, replaced_note
    from voxpop.models import CLASSICAL
    from voxpop.study import build_study, recipe_from_dict, run_recipe

    label_options = {**_given(condition=condition[0] if condition and len(condition) == 1 else condition or None),
                     **({"pool": True} if pool else {}), **rule_options}  # fmt: skip
    options = {**parse_options(option or []), **_given(workers=workers)}
    audio = _given(max_seconds=max_seconds, noise_dir=None if noise_dir is None else str(noise_dir), snr_db=snr_db)
    if backbone is not None and extractor is None and features is None:
        extractor = f"waveform:{backbone}"
    feature_section = {**_features(features, extractor, options, audio), **_given(store=store and str(store))}
    device_list = [int(d) for d in devices.split(",")] if devices and "," in devices else None
    model = _given(
        loss=loss,
        loss_options={"beta": beta} if beta is not None else None,
        standardize=standardize,
        optimiser=_given(
            lr=lr, backbone_lr=backbone_lr, weight_decay=weight_decay, schedule=schedule, warmup_steps=warmup_steps,
            warmup_ratio=warmup_ratio,
        ) or None,
        epochs=epochs,
        batch_size=batch_size,
        max_batch_frames=max_batch_frames,
        seed=seed,
        balanced_sampling=balanced_sampling,
        backbone=None
        if backbone is None
        else _given(path=backbone, keep_layers=keep_layers, trainable_layers=trainable_layers),
        accumulate_grad_batches=accumulate_grad_batches,
        precision=precision,
        devices=device_list or (int(devices) if devices and devices.isdigit() else devices),
        num_nodes=num_nodes,
        strategy=strategy,
    )
    if patience == 0:
        model["early_stopping"] = None
    elif patience is not None or monitor is not None:
        model["early_stopping"] = _given(patience=patience, monitor=monitor)
    models = {}
    for name in parse_names(head) or []:  # classical heads fit soft targets by sample weights: no loss
        neural = {k: v for k, v in model.items() if name not in CLASSICAL or k not in ("loss", "loss_options")}
        models[name] = {**neural, "head": name, **_given(head_options=_head_options(head_option or [], name) or None)}
    folds = _given(k=k, column=column, dev=dev, seed=seed, assignment=assignment)
    recipe = train_recipe(
        corpus, labels, label_options, feature_section, models, _protocol(protocol, folds, split),
        _given(bootstrap=bootstrap, seed=seed), where,
    )  # fmt: skip
    tuning = _given(tune_on=tune_on)
    analyses = {"ensemble": ensemble or None, "fusion": tuning if fusion else None,
                "tuned_decisions": tuning if tuned_decisions else None}  # fmt: skip
    recipe.update({"analyses": _given(**analyses)} if any(v is not None for v in analyses.values()) else {})
    recipe.update(_given(classes=check_classes(parse_names(classes), "--classes"),
                         class_map=parse_class_map(class_map or []) or None))  # fmt: skip
    with flags_named_in_errors():
        loaded = recipe_from_dict(recipe, "voxpop train")
        replaced = existing_outputs(out)
        output_directory(out)
        write_text(out / RECIPE_FILE, yaml.safe_dump(recipe, sort_keys=False))
        with progress_reporter() as reporter:
            result = run_recipe(build_study(loaded, out, "voxpop train"), out, reporter=reporter, threads=threads)
    report(result, out, features)
    if replaced:
        console.print(escape(replaced_note(out, replaced)), highlight=False)


_NOT_RECIPE_KEYS = {"corpus", "features", "rule_options"}  # an argument, a store entry (recipe: a section), extras


@contextlib.contextmanager
def flags_named_in_errors() -> Iterator[None]:
    """Re-raise a :class:`ConfigError` about the recipe ``voxpop train`` built with the flag of every recipe key
    it names (``snr_db`` is ``--snr-db``), so the message speaks the command line."""
    try:
        yield
    except ConfigError as exc:
        keys = [key for key in inspect.signature(train).parameters if key not in _NOT_RECIPE_KEYS]
        named = [f"{key} = --{key.replace('_', '-')}" for key in keys if re.search(rf"\b{key}\b", str(exc))]
        if not named:
            raise
        raise ConfigError(f"{exc}\n(recipe keys above are these voxpop train flags: {', '.join(named)})") from None


def report(result: Any, out: Path, entry: Path | None) -> None:
    """Print the folds, the pooled out-of-fold metrics per run, the study's cautions (as ``voxpop run`` does) and
    what was computed; write ``summary.csv``.
    ``result``: the :class:`voxpop.study.run.StudyRun`; ``entry``: the feature folder given with ``--features``."""
    from voxpop.cli.study_verbs import print_cautions
    from voxpop.models import find_runs

    runs = find_runs(out)
    first = next(iter(runs.values()))
    path = Path(first.record.features.path)
    if entry is not None and path != entry.resolve():
        console.print(f"[yellow]features: {escape(str(entry))} was made for other items or audio options; "
                      f"extracted into {escape(str(path))}[/]")  # fmt: skip
    console.print(f"features: {first.record.features.kind}, store entry {escape(str(path))}", highlight=False)
    layouts: dict[str, list[str]] = {}  # classical heads train on the dev items: their sizes differ
    trained = {name: result.output(result.plan.sources[r.record.variant, r.record.train]) for name, r in runs.items()}
    for name, source in trained.items():
        layouts.setdefault(source.folds.to_json(), []).append(name)
    for names in layouts.values():
        which = f" ({', '.join(names)})" if len(layouts) > 1 else ""
        print_folds(trained[names[0]].folds, f"items per fold{which}")
    results = result.results[result.results["group"].eq("all")]
    head = first.record.model.head  # a single head: its variant is 'base'
    named = {v: head + v.removeprefix("base") if v.startswith("base") else v for v in pd.unique(results["variant"])}
    summaries = {name: results[results["variant"].eq(v)] for v, name in named.items()}
    frame = pd.concat([t.assign(run=n) for n, t in summaries.items()], ignore_index=True)
    write_text(out / "summary.csv", frame.to_csv(index=False))
    excluded = int(next(iter(summaries.values()))["n_excluded"].iloc[0])
    rule = next(iter(runs.values())).record.train
    print_summary(
        summaries,
        f"out-of-fold predictions vs training labels ({rule}), pooled over {len(first.record.folds)} test folds; "
        f"{excluded:,} predicted items not kept by the labels are left out",
    )
    print_cautions(result)
    console.print(
        f"stages: {len(result.executed)} computed, {len(result.reused)} reused from {escape(str(out / 'cache'))}; "
        f"'voxpop run {escape(str(out / RECIPE_FILE))} --out {escape(str(out))}' is the same study",
        highlight=False,
    )
