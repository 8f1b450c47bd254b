"""The registry of stage kinds: for each kind of stage (:mod:`voxpop.study.stages`), how it computes from
its inputs and a :class:`Context`, how its outputs are loaded, and what resources (a GPU) it needs.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from voxpop.core.cache import Stage as Stage
from voxpop.core.errors import ConfigError
from voxpop.corpus import Corpus
from voxpop.evaluation import load_predictions
from voxpop.labels.rater_votes import rater_votes
from voxpop.models import ModelSpec, make_folds
from voxpop.models.specs import RATER_HEADS
from voxpop.study.budget_stage import compute_budget, load_budget
from voxpop.study.rater_stages import (
    CALIBRATION_TABLES,
    CEILING_TABLES,
    compute_calibration,
    compute_ceiling,
    load_tables,
)
from voxpop.study.stages import (
    Progress,
    Trained,
    compute_accounting,
    compute_agreement,
    compute_comparison,
    compute_easy_difficult,
    compute_ensemble,
    compute_evaluation,
    compute_features,
    compute_fusion,
    compute_labels,
    compute_matrix,
    compute_segments,
    compute_sweep,
    compute_train,
    compute_tuned,
    load_corpus,
    load_features,
    load_labels,
    load_sweep,
    load_table,
    load_trained,
)


# ====================================================================== the registry of stage kinds
@dataclasses.dataclass(frozen=True)
class Context:
    """What a stage reads besides its inputs' outputs.

    ``corpus`` is the study's corpus (after ``where``), ``items`` the corpus of the items models see
    (``corpus``, or the segment corpus of interval label sets), ``store`` the feature store root,
    ``imported`` the prediction files fusion reads (name -> path), ``progress`` the step callback and
    ``notice`` the run log's one-line notices (a features stage reusing a complete store entry).
    """

    corpus: Corpus
    items: Corpus
    store: Path
    imported: Mapping[str, str] = dataclasses.field(default_factory=dict)
    progress: Progress | None = None
    notice: Callable[[str], None] | None = None


Compute = Callable[[Stage, list, Context, Path], None]


@dataclasses.dataclass(frozen=True)
class Kind:
    """A stage kind: ``compute(stage, inputs, context, directory)`` writes its outputs, ``load(directory)``
    reads them back; ``resources(config)`` names the Dask worker resources a stage needs (``{"GPU": 1}``);
    ``reads_items``: the computation reads ``context.items`` (the segment corpus, when the study has one);
    ``unit``: what its ``context.progress(done, total)`` counts (``items`` extracted, ``folds`` trained)."""

    compute: Compute
    load: Callable[[Path], Any]
    resources: Callable[[Mapping[str, Any]], dict[str, int]] = lambda config: {}
    reads_items: bool = False
    unit: str = "steps"


def _compute_train(stage: Stage, inputs: list, context: Context, directory: Path) -> None:
    c = stage.config
    name, options = c["protocol"]
    folds = make_folds(context.items.items, name, **options)
    spec = ModelSpec.model_validate(c["model"])
    votes = rater_votes(context.items, inputs[1]) if spec.head in RATER_HEADS else None  # per-rater heads
    compute_train(*inputs, folds, spec, directory, context.progress, dev_predictions=c["dev_predictions"], votes=votes)


def _compute_budget(stage: Stage, inputs: list, context: Context, directory: Path) -> None:
    c = stage.config
    folds = None
    if inputs:  # the model side: the study's folds over its items
        name, options = c["protocol"]
        folds = make_folds(context.items.items, name, **options)
    compute_budget(context.corpus, c, directory, inputs[0] if inputs else None, folds)


def _compute_fusion(stage: Stage, inputs: list, context: Context, directory: Path) -> None:
    c = stage.config
    models: dict[str, Trained | pd.DataFrame] = dict(zip(c["variants"], inputs[:-1], strict=True))
    models.update({n: load_predictions(p).table for n, p in context.imported.items()})
    compute_fusion(models, inputs[-1], c["n_draws"], c["seed"], directory, c["tune_on"])


def _compute_easy_difficult(stage: Stage, inputs: list, context: Context, directory: Path) -> None:
    c = stage.config
    columns = {k: c[k] for k in ("speaker", "gender", "duration")}
    sources = dict(zip(c["sources"], inputs[:-1], strict=True))
    compute_easy_difficult(sources, inputs[-1], context.items, columns, directory)


def train_resources(config: Mapping[str, Any]) -> dict[str, int]:
    """``{"GPU": n}`` when the model's training asks for GPUs (``accelerator`` gpu / cuda; n = ``devices``
    when it is a number or a list, else 1), otherwise no resources."""
    train = config["model"].get("train", {})
    if str(train.get("accelerator", "auto")) not in ("gpu", "cuda"):
        return {}
    devices = train.get("devices", "auto")
    count = len(devices) if isinstance(devices, list) else devices if isinstance(devices, int) else 1
    return {"GPU": max(1, count)}


def features_resources(config: Mapping[str, Any]) -> dict[str, int]:
    """``{"GPU": 1}`` when the extractor runs on a CUDA device (option ``device``), otherwise none."""
    return {"GPU": 1} if str(config["options"].get("device", "cpu")).startswith("cuda") else {}


def _table(name: str) -> Callable[[Path], pd.DataFrame]:
    return functools.partial(load_table, name=name)


KINDS: dict[str, Kind] = {
    "labels": Kind(
        lambda s, i, c, d: compute_labels(c.corpus, s.config, d, i[0][1]["best_threshold"] if i else None),
        load_labels,
    ),
    "sweep": Kind(lambda s, i, c, d: compute_sweep(c.corpus, s.config, d), load_sweep),
    "segments": Kind(lambda s, i, c, d: compute_segments(c.corpus, i, d), load_corpus),
    "features": Kind(
        lambda s, i, c, d: compute_features(c.items, s.config, d, c.store, c.progress, c.notice),
        load_features,
        features_resources,
        reads_items=True,
        unit="items",
    ),
    "train": Kind(_compute_train, load_trained, train_resources, reads_items=True, unit="folds"),
    "ensemble": Kind(
        lambda s, i, c, d: compute_ensemble({p.label: o for p, o in zip(s.inputs, i, strict=True)}, d), load_trained
    ),
    "fusion": Kind(_compute_fusion, load_trained),
    "tuned": Kind(lambda s, i, c, d: compute_tuned(*i, d, s.config["tune_on"]), load_trained),
    "evaluate": Kind(
        lambda s, i, c, d: compute_evaluation(i[0], i[1], c.items, s.config, d, train=i[2]),
        _table("metrics"),
        reads_items=True,
    ),
    "mlcm": Kind(lambda s, i, c, d: compute_matrix(*i, s.config, d), _table("matrix")),
    "confusion": Kind(lambda s, i, c, d: compute_matrix(*i, s.config, d), _table("matrix")),
    "agreement": Kind(lambda s, i, c, d: compute_agreement(c.corpus, s.config, d), _table("agreement")),
    "accounting": Kind(lambda s, i, c, d: compute_accounting(c.corpus, s.config, d), _table("accounting")),
    "budget": Kind(_compute_budget, load_budget, reads_items=True),
    "ccc": Kind(
        lambda s, i, c, d: compute_comparison(
            dict(zip(s.config["sets"], i, strict=True)), s.config["stat"], d, s.config["bootstrap"], s.config["seed"]
        ),
        _table("comparison"),
    ),
    "calibration": Kind(
        lambda s, i, c, d: compute_calibration(*i, c.corpus, s.config, d),
        functools.partial(load_tables, names=CALIBRATION_TABLES),
    ),
    "ceiling": Kind(
        lambda s, i, c, d: compute_ceiling(c.corpus, i, s.config, d),
        functools.partial(load_tables, names=CEILING_TABLES),
    ),
    "easy_difficult": Kind(
        _compute_easy_difficult,
        lambda d: {"groups": load_table(d, "groups"), "comparison": load_table(d, "comparison")},
        reads_items=True,
    ),
}
"""Every stage kind: its computation, its loader and the worker resources it needs."""


def kind_of(stage: Stage) -> Kind:
    """The registered :class:`Kind` of ``stage``; raises :class:`ConfigError` for an unknown kind."""
    try:
        return KINDS[stage.kind]
    except KeyError:
        raise ConfigError(f"internal: no stage kind {stage.kind!r}; known: {', '.join(KINDS)}") from None
