"""The ``budget`` stage of a study (recipe ``analyses.budget``): the annotation budget of the study's corpus
(:mod:`voxpop.agreement.budget`, or :mod:`voxpop.agreement.budget_dimensions` with ``dimensions``), written as
parquet tables for the report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from voxpop.agreement.budget import annotation_budget, parse_raters, posterior_ranking, reannotation_ranking
from voxpop.agreement.budget_dimensions import dimension_budget
from voxpop.core.cache import atomic_write
from voxpop.core.errors import ConfigError
from voxpop.corpus import Corpus
from voxpop.features import Features
from voxpop.labels.registry import get_rule
from voxpop.models import ModelSpec
from voxpop.models.protocols import Fold
from voxpop.study.budget_models import model_budget


def compute_budget(
    corpus: Corpus,
    config: Mapping[str, Any],
    directory: Path,
    features: Features | None = None,
    folds: Sequence[Fold] | None = None,
) -> None:
    """Write ``curve.parquet`` and ``reannotate.parquet`` (or ``dimensions.parquet``) into ``directory``, with
    ``features`` the model side, ``models.parquet`` (:func:`voxpop.study.budget_models.model_budget`), and for
    learned rules ``posterior.parquet`` (:func:`voxpop.agreement.budget.posterior_ranking`).

    Args:
        corpus: the study's corpus.
        config: the stage config: ``spec`` (the recipe's ``analyses.budget``), ``classes`` and ``class_map``; with
            the model side also ``model`` (a :class:`~voxpop.models.ModelSpec` as JSON).
        directory: the stage's output folder.
        features: the study's cached features of its first variant (None: no model side).
        folds: the folds of that variant's protocol.

    Raises:
        ConfigError: a ``reference`` column the corpus lacks, or what :func:`annotation_budget` /
            :func:`dimension_budget` raise.
    """
    spec = config["spec"]
    ks = parse_raters(spec["raters"]) if spec["raters"] else None
    common = {"draws": spec["draws"], "n_boot": spec["bootstrap"], "seed": spec["seed"],
              "conditions": spec["conditions"]}  # fmt: skip
    if spec["dimensions"]:
        table = dimension_budget(corpus, ks, slot=spec["slot"], projection_to=spec["projection_to"], **common)
        atomic_write(directory / "dimensions.parquet", table.to_parquet)
        return
    reference = spec["reference"]
    if reference is not None and reference not in corpus.items.columns:
        raise ConfigError(
            f"analyses.budget.reference {reference!r}: item column not found; corpus {corpus.name!r} has item "
            f"columns {', '.join(map(str, corpus.items.columns))}"
        )
    classes = {"classes": config["classes"], "class_map": config["class_map"]}
    learned = [rule for rule in spec["rules"] if get_rule(rule).learned]
    if learned:
        scope = {"conditions": spec["conditions"], "options": {"seed": spec["seed"]}, **classes}
        tables = [posterior_ranking(corpus, rule, **scope) for rule in learned]
        atomic_write(directory / "posterior.parquet", pd.concat(tables, ignore_index=True).to_parquet)
    counting = [rule for rule in spec["rules"] if rule not in learned]
    if not counting:
        return
    labels = corpus.items[reference].astype("string") if reference else None
    budget = annotation_budget(corpus, counting, ks, reference=labels, **classes, **common)
    atomic_write(directory / "curve.parquet", budget.curve.to_parquet)
    atomic_write(directory / "reannotate.parquet", reannotation_ranking(budget, spec["rank_raters"]).to_parquet)
    if features is not None and folds is not None:
        condition = (spec["conditions"] or corpus.conditions or [None])[0]
        table = model_budget(corpus, features, folds, ModelSpec.model_validate(config["model"]), counting[0], ks,
                             condition=condition, fits=spec["model_fits"], n_boot=spec["bootstrap"], seed=spec["seed"],
                             **classes)  # fmt: skip
        atomic_write(directory / "models.parquet", table.to_parquet)


def load_budget(directory: Path) -> dict[str, pd.DataFrame]:
    """The tables :func:`compute_budget` wrote, by name (``curve``, ``reannotate``, ``models``, ``posterior`` or
    ``dimensions``)."""
    return {path.stem: pd.read_parquet(path) for path in sorted(directory.glob("*.parquet"))}
