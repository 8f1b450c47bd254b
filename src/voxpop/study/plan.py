"""What a study is made of and what running it produced: its :class:`Plan` (every stage, by role), the
:class:`Merged` accounting of a cross-corpus recipe and the :class:`StudyRun` (loaded outputs and the
results table of :data:`RESULT_COLUMNS`). Plain data: :mod:`voxpop.study.run` builds them, the report
(:mod:`voxpop.report.study`) and the CLI read them. :func:`features_stage` is the one stage every planner shares.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from voxpop.core.cache import Stage
from voxpop.corpus import Corpus
from voxpop.study.recipe import FeatureSpec, Recipe

RESULT_COLUMNS = [
    "study",
    "variant",
    "train",
    "test",
    "group",
    "metric",
    "value",
    "low",
    "high",
    "n_items",
    "n_excluded",
    "chance",
    "absent_classes",
    "tie_policy",
    "n_tied",
    "fold_mean",
    "fold_sd",
    "n_folds",
]


@dataclasses.dataclass
class Plan:
    """Every stage of a study, by role; ``order`` lists each distinct stage once, inputs first."""

    labels: dict[tuple[str, str], Stage]
    sweep: Stage | None
    segments: Stage | None
    features: dict[str, Stage]
    sources: dict[tuple[str, str], Stage]
    evaluations: dict[tuple[str, str, str], Stage]
    matrices: dict[tuple[str, str, str], Stage]
    analyses: dict[str, Stage]
    variant_names: list[str]
    order: list[Stage] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        seen: dict[str, Stage] = {}

        def visit(stage: Stage) -> None:
            for parent in stage.inputs:
                visit(parent)
            seen.setdefault(stage.key, stage)

        groups = (self.labels, self.features, self.sources, self.evaluations, self.matrices, self.analyses)
        singles = [s for s in (self.sweep, self.segments) if s is not None]
        for stage in [*singles, *(s for g in groups for s in g.values())]:
            visit(stage)
        self.order = list(seen.values())


@dataclasses.dataclass
class Merged:
    """What merging the corpora of a cross-corpus recipe did: the accounting of
    :func:`voxpop.corpus.merge.merge_corpora` (one row per corpus) and each corpus's classes after its class map."""

    accounting: pd.DataFrame
    classes: dict[str, list[str]]


@dataclasses.dataclass
class StudyRun:
    """What a run produced: the recipe, corpus, plan, every stage's loaded output and the results table."""

    recipe: Recipe
    corpus: Corpus
    plan: Plan
    outputs: dict[str, Any]
    results: pd.DataFrame
    executed: list[str]
    reused: list[str]
    out_dir: Path
    merged: Merged | None = None

    def output(self, stage: Stage) -> Any:
        return self.outputs[stage.key]


def features_stage(
    corpus_key: str, f: FeatureSpec, normalisation: Mapping[str, str] | None = None, segments: Stage | None = None
) -> Stage:
    """The stage extracting features ``f`` of the corpus (of the segment corpus when ``segments`` is given);
    ``normalisation``: each corpus's feature normalisation when some corpus is not normalised globally."""
    config = {"corpus": corpus_key, "extractor": f.extractor, "options": f.options, "max_seconds": f.max_seconds}
    if f.noise_dir:  # extraction-time noise: the folder's path as given, resolved
        config.update(noise_dir=str(Path(f.noise_dir).resolve()), snr_db=f.snr_db)
    if normalisation:
        config["normalisation"] = normalisation
    return Stage("features", f"features {f.extractor}", config, (segments,) if segments is not None else ())
