"""The stages that score models against the raters (issue #27): calibration per model cell and the raters'
ceiling per test label set. Planned by :func:`voxpop.study.plan.plan_study` from ``analyses.calibration`` and
``analyses.ceiling``; registered in :mod:`voxpop.study.stage_kinds`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxpop.core.cache import atomic_write
from voxpop.core.errors import ConfigError
from voxpop.corpus import Corpus
from voxpop.evaluation.calibration import calibration_scores, reliability_table, temperature_per_fold
from voxpop.evaluation.ceiling import leave_one_rater_out
from voxpop.labels import LabelSet
from voxpop.labels.decisions import top_class
from voxpop.labels.label_sets import build_label_set
from voxpop.study.stages import Trained

CALIBRATION_TABLES = ("scores", "reliability", "temperatures")
"""The tables of a calibration stage (``<name>.parquet``)."""

CEILING_TABLES = ("per_rater", "summary")
"""The tables of a ceiling stage (``<name>.parquet``)."""

UNSCALED, TEMPERATURE = "none", "temperature"


def _write(tables: Mapping[str, pd.DataFrame], directory: Path) -> None:
    for name, table in tables.items():
        atomic_write(directory / f"{name}.parquet", table.to_parquet)


def load_tables(directory: Path, names: Sequence[str]) -> dict[str, pd.DataFrame]:
    """The named parquet tables of a stage directory."""
    return {name: pd.read_parquet(directory / f"{name}.parquet") for name in names}


def vote_distribution(corpus: Corpus, spec: Mapping[str, Any], classes: Any, class_map: Any) -> pd.DataFrame:
    """The raters' vote distribution (the all-inclusive rule) over the same ratings as the consensus ``spec``
    (its condition and pooling), items with at least one vote in the class set."""
    options = {"rule": "ar", "condition": spec.get("condition"), "pool": bool(spec.get("pool", False))}
    shares = build_label_set(corpus, options, classes=classes, class_map=class_map)
    return shares.targets[shares.kept.to_numpy(dtype=bool)]


def compute_calibration(
    source: Trained, consensus: LabelSet, train: LabelSet, corpus: Corpus, config: Mapping[str, Any], directory: Path
) -> None:
    """ECE against the consensus, Brier and NLL against the vote distribution, with bootstrap intervals (scaling
    ``none``) and, with ``config["tuning"] == "temperature"``, after temperature scaling fitted per fold on the fold
    model's development items against the training labels (scaling ``temperature``); the reliability table of each.

    Writes ``scores.parquet`` (scaling, metric, value, low, high, n_items), ``reliability.parquet`` (scaling, bin,
    ...) and ``temperatures.parquet`` (fold, temperature, n_dev; empty without tuning).
    """
    classes = list(consensus.classes)
    shares = vote_distribution(corpus, config["spec"], config.get("classes"), config.get("class_map"))
    kept = consensus.targets[consensus.kept.to_numpy(dtype=bool)]
    codes, _ = top_class(kept.to_numpy(dtype=float), "drop")
    names = np.asarray(classes, dtype=object)
    truth = pd.Series(names[np.maximum(codes, 0)], index=kept.index)[codes >= 0]
    versions = {UNSCALED: source.probabilities[classes]}
    temperatures = pd.DataFrame(columns=["fold", "temperature", "n_dev"])
    if config["tuning"] == TEMPERATURE:
        targets = train.targets[train.kept.to_numpy(dtype=bool)]
        if list(targets.columns) != classes:
            raise ConfigError("temperature scaling needs the train and test label sets to share their classes")
        scaled, temperatures = temperature_per_fold(source.predictions, source.dev_predictions, targets, classes)
        versions[TEMPERATURE] = scaled[classes]
    scores, bins = [], []
    for scaling, probs in versions.items():
        table = calibration_scores(probs, truth, shares, bins=config["bins"], n_boot=config["bootstrap"],
                                   seed=config["seed"])  # fmt: skip
        scores.append(table.assign(scaling=scaling))
        common = probs.index[probs.index.isin(truth.index) & probs.index.isin(shares.index)]
        positions = pd.Categorical(truth.loc[common], categories=classes).codes
        bins.append(reliability_table(probs.loc[common], positions, config["bins"]).assign(scaling=scaling))
    tables = {"scores": pd.concat(scores, ignore_index=True), "reliability": pd.concat(bins, ignore_index=True),
              "temperatures": temperatures.astype({"temperature": float, "n_dev": int})}  # fmt: skip
    _write(tables, directory)


def compute_ceiling(corpus: Corpus, sources: Sequence[Trained], config: Mapping[str, Any], directory: Path) -> None:
    """Leave one rater out on test label set ``config["spec"]`` (:func:`voxpop.evaluation.ceiling.leave_one_rater_out`),
    every source (``config["sources"]``: [variant, train] pairs, in the order of ``sources``) beside the raters.

    Writes ``per_rater.parquet`` and ``summary.parquet``; a model's rows name it ``variant / train`` (``model``) and
    in columns ``variant`` and ``train`` (empty for the raters' own rows, ``model`` ``rater`` / ``raters``).
    """
    keys = [f"{k}" for k in range(len(sources))]
    per_rater, summary = leave_one_rater_out(
        corpus,
        config["spec"],
        {key: source.predictions for key, source in zip(keys, sources, strict=True)},
        config["metrics"],
        classes=config.get("classes"),
        class_map=config.get("class_map"),
        min_ratings=config["min_ratings"],
        n_boot=config["bootstrap"],
        seed=config["seed"],
    )
    cells = {key: tuple(pair) for key, pair in zip(keys, config["sources"], strict=True)}

    def named(table: pd.DataFrame) -> pd.DataFrame:
        pairs = table["model"].map(lambda m: cells.get(m, ("", "")))
        model = table["model"].map(lambda m: f"{cells[m][0]} / {cells[m][1]}" if m in cells else m)
        return table.assign(model=model, variant=pairs.map(lambda p: p[0]), train=pairs.map(lambda p: p[1]))

    _write({"per_rater": named(per_rater), "summary": named(summary)}, directory)
