"""``voxpop train``: a one-cell recipe (a small grid for ``--head mlp,svm``) built from the flags and run
through the same plan and stage cache as ``voxpop run`` (:func:`voxpop.study.run.run_recipe`).

Every flag sets the recipe key of the same name (``--k`` -> ``protocol.speaker_folds.k``, ``--lr`` ->
``model.optimiser.lr`` ...); flags left out are left out of the recipe, so the recipe's defaults apply.
The recipe is written to ``OUT/recipe.yaml``: ``voxpop run OUT/recipe.yaml --out OUT`` reuses every stage.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import typer
import yaml
from rich import box
from rich.markup import escape
from rich.table import Table

from voxpop.cli.app import app, console
from voxpop.cli.options import parse_names, with_rule_options
from voxpop.cli.progress_display import PROGRESS_HELP, progress_mode, progress_reporter
from voxpop.cli.schema_flags import (
    SchemaFlag,
    flags_in_message,
    read_value,
    recipe_of_flags,
    schema_flags,
    with_schema_flags,
)
from voxpop.core.cache import output_directory, write_text
from voxpop.core.errors import ConfigError
from voxpop.core.formatting import format_ci, metric_name
from voxpop.corpus.classmap import parse_class_map
from voxpop.evaluation.partitions import is_partition_group
from voxpop.labels import RULES
from voxpop.study.loading import set_path

SINGLE_LABEL_SUMMARY = ("uar", "macro_f1", "accuracy")
MULTI_LABEL_SUMMARY = ("macro_f1", "micro_f1", "weighted_f1")
REGRESSION_SUMMARY = ("ccc", "pearson", "rmse")  # means over the dimensions
RECIPE_FILE = "recipe.yaml"


RECIPE_ONE_OF = {"protocol": "speaker_folds"}
"""One-of sections of the recipe and their default (``protocol``: at most one protocol; none: speaker folds)."""

NOT_FLAGS = (
    "study", "title", "description", "notice",  # train names its study 'train' and renders no report
    "corpus", "corpora",  # the CORPUS argument; several merged corpora need a recipe (class maps per corpus)
    "labels",  # --labels RULE|FILE, --condition, --pool and the rule options' flags (the rule registry: LabelSpec)
    "variants", "grid",  # --head a,b trains one variant per head; other variants need a recipe
    "protocol.cross_corpus", "protocol.leave_one_corpus_out",  # they need several corpora
    "evaluation.cross_test",  # one label set (train = test): nothing to cross-test
    "evaluation.metrics", "evaluation.per_class", "evaluation.by",  # report choices; train prints all items' scores
    "analyses.agreement", "analyses.loss_accounting", "analyses.ccc", "analyses.threshold_sweep",  # report sections:
    "analyses.mlcm", "analyses.confusion", "analyses.easy_difficult", "analyses.layer_weights",  # train prints none
    "analyses.calibration", "analyses.ceiling",  # report sections (docs/raters.md)
    "analyses.budget",  # the annotation budget is its own verb: voxpop budget
)  # fmt: skip
"""Recipe keys that are no ``voxpop train`` flag (every other key is one, generated from the schema)."""

FLAG_NAMES = {"model.backbone.path": "backbone"}
"""Flag names of keys whose own name would not say what they set (``--path``)."""

ALIASES = {
    "features.options": ("--option", "-o"),
    "model.head_options": ("--head-option",),
    "protocol.split.columns": ("--split",),
}
"""Names the flags had before they were generated, which the docs and tests use."""

NOTES = {
    "model.head": " Comma-separated: one variant per head.",
    "model.head_options": " HEAD.KEY=VALUE: for that head only.",
    "model.early_stopping.patience": " 0: no early stopping (early_stopping: null).",
    "model.backbone.path": " Without --extractor or --features: features waveform:PATH.",
    **{f"protocol.split.{part}": " Comma-separated: several values." for part in ("train", "dev", "test")},
}
"""What ``voxpop train`` adds to a key's meaning (its flag's help says so after the key's description)."""

ENTRY_FLAGS = {"workers": "features.options.workers", "beta": "model.loss_options.beta"}
"""Flags of one entry of a mapping key (kept from before the flags were generated; the docs use them)."""

PARSERS = {"class_map": parse_class_map}
"""Keys read by their own parser (``--class-map calm=drop,angry=anger``, several pairs per value)."""


def recipe_flags(reserved: Sequence[str] = ()) -> list[SchemaFlag]:
    """The flags of ``voxpop train`` generated from the recipe schema (:func:`voxpop.cli.schema_flags.schema_flags`),
    every key but :data:`NOT_FLAGS`; ``reserved``: the names of the verb's hand-written parameters."""
    from voxpop.study.recipe import Recipe

    return schema_flags(
        Recipe, exclude=NOT_FLAGS, one_of=RECIPE_ONE_OF, names=FLAG_NAMES, aliases=ALIASES, reserved=reserved
    )


def _head_options(options: dict[str, Any], head: str) -> dict[str, Any]:
    """``KEY=VALUE`` options for every head, ``HEAD.KEY=VALUE`` for one head only."""
    chosen = {}
    for key, value in options.items():
        prefix, dot, name = key.partition(".")
        if not dot:
            chosen[key] = value
        elif prefix == head:
            chosen[name] = value
    return chosen


def _features(entry_dir: Path | None, given: dict[str, Any]) -> dict[str, Any]:
    """The recipe's ``features`` section: the flags' keys over, for a store entry directory (``--features``), its
    extractor and options (rebuilt from the entry's spec unless ``--extractor`` names it), store root and audio."""
    if entry_dir is None:
        return given
    from voxpop.features import FeatureStore
    from voxpop.models.inference import extractor_of_spec

    entry = FeatureStore(entry_dir)
    base: dict[str, Any] = {"store": str(entry.path.parent.resolve())}
    if "extractor" not in given:
        text, rebuilt = extractor_of_spec(entry.meta["extractor"])
        base.update({"extractor": text, **({"options": rebuilt} if rebuilt else {})})
    base.update({k: v for k in ("max_seconds", "noise_dir", "snr_db") if (v := entry.meta["audio"].get(k)) is not None})
    options = {**base.get("options", {}), **given.get("options", {})}
    return {**base, **given, **({"options": options} if options else {})}


def train_recipe(
    corpus: Path, labels: str, label_options: dict[str, Any], sections: dict[str, Any], entry_dir: Path | None
) -> dict[str, Any]:
    """The recipe of ``voxpop train``: one label set (train and test, named after the rule or the saved label
    set file) and the sections the flags wrote (:func:`voxpop.cli.schema_flags.recipe_of_flags`); one model, or
    one variant per head of a comma-separated ``model.head``."""
    from voxpop.labels.rules import is_label_file
    from voxpop.models.specs import CLASSICAL, REGRESSORS
    from voxpop.study.recipe import FILE_RULE

    name, spec = labels, {"rule": labels, **label_options}
    if is_label_file(labels):
        name, spec = Path(labels).stem, {"rule": FILE_RULE, "path": str(Path(labels).resolve()), **label_options}
    model = dict(sections.pop("model", {}))
    features = dict(sections.pop("features", {}))
    backbone = (model.get("backbone") or {}).get("path")
    if backbone is not None and "extractor" not in features and entry_dir is None:
        features["extractor"] = f"waveform:{backbone}"
    if (model.get("early_stopping") or {}).get("patience") == 0:
        model["early_stopping"] = None
    recipe: dict[str, Any] = {
        "study": "train",
        "corpus": {"path": str(corpus.resolve())},
        "labels": {"train": {name: spec}, "test": {name: dict(spec)}},
        "features": _features(entry_dir, features),
        **sections,
    }
    classifiers = [h for h in CLASSICAL if h not in REGRESSORS]
    heads = parse_names(model.pop("head", None)) or []
    options = model.pop("head_options", {})
    models = {}
    for head in heads or [None]:  # classical classifiers fit soft targets by sample weights: no loss
        kept = {k: v for k, v in model.items() if head not in classifiers or k not in ("loss", "loss_options")}
        if head in REGRESSORS:  # svr / ridge fit their own squared error: loss mse, unless --loss says otherwise
            kept.setdefault("loss", "mse")
        models[head] = {**kept, **({"head": head} if head else {})}
        head_options = _head_options(options, head) if head else options
        models[head].update({"head_options": head_options} if head_options else {})
    if len(models) == 1:
        recipe["model"] = next(iter(models.values()))
    else:
        recipe["variants"] = {head: {"model": model} for head, model in models.items()}
    return recipe


def print_summary(tables: dict[str, pd.DataFrame], title: str, first: str = "head") -> None:
    """One row per run (head): items scored, the main metrics pooled over the test folds with their 95 % bootstrap
    intervals, and the first metric per test fold (mean ± sample standard deviation over the folds); a regressor's
    are CCC, Pearson r and RMSE, each the mean over its dimensions."""
    any_table = next(iter(tables.values()))
    metrics = set(any_table["metric"])
    wanted = (
        SINGLE_LABEL_SUMMARY if "uar" in metrics else MULTI_LABEL_SUMMARY if "macro_f1" in metrics
        else REGRESSION_SUMMARY
    )  # fmt: skip
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
    """Items used per fold and items dropped: without features (train / dev / test), not kept (train / dev); and
    when the protocol left items out (split values in no partition, columns ``left_out[VALUE]``), how many of
    which value (``Test3 123``)."""
    left_out = [c for c in folds.columns if str(c).startswith("left_out[")]
    table = Table(title=escape(title), box=box.SIMPLE_HEAD)
    columns = ("fold", "train", "dev", "test", "no features (train/dev/test)", "not kept (train/dev)")
    for column in (*columns, *(["left out (split value: items)"] if left_out else [])):
        table.add_column(column, justify="left" if column in ("fold", "left out (split value: items)") else "right")
    for fold, row in folds.iterrows():
        missing = "/".join(f"{int(row[f'{part}_no_features']):,}" for part in ("train", "dev", "test"))
        not_kept = "/".join(f"{int(row[f'{part}_not_kept']):,}" for part in ("train", "dev"))
        left = [", ".join(f"{c[len('left_out['):-1]} {int(row[c]):,}" for c in left_out if row[c])] if left_out else []
        table.add_row(
            escape(str(fold)), *(f"{int(row[p]):,}" for p in ("train", "dev", "test")), missing, not_kept,
            *map(escape, left),
        )  # fmt: skip
    console.print(table)


@app.command()
@with_schema_flags(recipe_flags, NOTES)
@with_rule_options(skip=("seed",), panel="labels")
def train(
    corpus: Path = typer.Argument(..., help="Corpus directory (corpus.yaml, items.parquet, ratings.parquet)."),
    labels: str = typer.Option(
        ..., "--labels", help=f"Label set file (.parquet, from 'voxpop labels') or a rule: {', '.join(RULES)}.",
        rich_help_panel="labels",
    ),
    condition: list[str] = typer.Option(
        None, "--condition", help="Rule labels: stimulus condition (repeatable).", rich_help_panel="labels"
    ),
    pool: bool = typer.Option(
        False, "--pool", help="Rule labels: pool the conditions (all when none), by --pooling (default sum).",
        rich_help_panel="labels",
    ),
    features: Path = typer.Option(
        None, "--features", help="A feature store entry directory (from 'voxpop features'): its extractor, options, "
        "store and audio options.", rich_help_panel="features",
    ),
    workers: str = typer.Option(
        None, "--workers", help="opensmile / fbank: extraction worker processes (features.options.workers).",
        rich_help_panel="features",
    ),
    beta: str = typer.Option(
        None, "--beta", help="cbce: class-balanced beta (model.loss_options.beta; 0.99).", rich_help_panel="model"
    ),
    threads: int = typer.Option(1, "--threads", min=1, help="CPU threads of every stage (torch, BLAS), as voxpop run."),
    progress: str = typer.Option(None, "--progress", help=PROGRESS_HELP),
    out: Path = typer.Option(..., "--out", help="Output directory: cache/, runs.json, recipe.yaml, summary.csv."),
    rule_options: dict | None = None,
    flag_values: dict | None = None,
) -> None:
    """Cross-validate heads on features and labels through the recipe runner and print out-of-fold metrics.

    Every recipe key is a flag of the same name (generated from the recipe schema; docs/cli/train.md)."""
    from voxpop.cli.study_verbs import print_headline
    from voxpop.labels.overwrite import existing_outputs, replaced_note
    from voxpop.study import build_study, recipe_from_dict, run_recipe

    label_options = {**({"condition": condition[0] if len(condition) == 1 else condition} if condition else {}),
                     **({"pool": True} if pool else {}), **rule_options}  # fmt: skip
    flags = train.schema_flags
    with flags_named_in_errors():
        sections = recipe_of_flags(flags, flag_values, RECIPE_ONE_OF, PARSERS)
        for name, text in (("workers", workers), ("beta", beta)):
            if text is not None:  # flags of one entry of a mapping key, read as --set reads values
                set_path(sections, ENTRY_FLAGS[name].split("."), read_value(text, Any, f"--{name}"), f"--{name}")
        recipe = train_recipe(corpus, labels, label_options, sections, features)
        loaded = recipe_from_dict(recipe, "voxpop train")
        replaced = existing_outputs(out)
        output_directory(out)
        write_text(out / RECIPE_FILE, yaml.safe_dump(recipe, sort_keys=False))
        with progress_reporter(progress_mode(progress)) as reporter:
            result = run_recipe(build_study(loaded, out, "voxpop train"), out, reporter=reporter, threads=threads)
    report(result, out, features)
    if replaced:
        console.print(escape(replaced_note(out, replaced)), highlight=False)
    print_headline(result)


@contextlib.contextmanager
def flags_named_in_errors() -> Iterator[None]:
    """Re-raise a :class:`ConfigError` about the recipe ``voxpop train`` built with the flag of every recipe key
    it names (``snr_db`` is ``--snr-db``), so the message speaks the command line."""
    try:
        yield
    except ConfigError as exc:
        from voxpop.corpus.filters import ALLOWED

        said = str(exc).replace(ALLOWED, "")  # the filter grammar's help names no key ('column names' is no --column)
        named = flags_in_message(train.schema_flags, said)
        named += [f"{name} = --{name}" for name in ENTRY_FLAGS if re.search(rf"\b{name}\b", said)]
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
    groups = result.results["group"]
    results = result.results[groups.eq("all") | groups.map(is_partition_group).astype(bool)]  # all, split=Test1 ...
    head = first.record.model.head  # a single head: its variant is 'base'
    named = {v: head + v.removeprefix("base") if v.startswith("base") else v for v in pd.unique(results["variant"])}
    frame = pd.concat([results[results["variant"].eq(v)].assign(run=n) for v, n in named.items()], ignore_index=True)
    write_text(out / "summary.csv", frame.to_csv(index=False))
    summaries = {  # each run pooled over every test item, then each test partition of a split on its own
        name if group == "all" else f"{name} {group}": rows
        for name, by_run in frame.groupby("run", sort=False)
        for group, rows in by_run.groupby("group", sort=False)
    }
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
