"""The ``analyses`` section of a recipe: optional analyses beside the cross-validation (agreement, label-rule
loss accounting, label-set agreement, threshold sweep, confusion matrices, easy / difficult items, layer weights,
ensemble, late fusion, tuned decisions, calibration against the raters, the raters' ceiling and the annotation
budget). :class:`voxpop.study.recipe.Recipe` holds it as ``analyses``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import pydantic

from voxpop.core.limits import Int, Seed
from voxpop.labels.registry import DENOMINATORS, POOLINGS, RULES, TIE_POLICIES
from voxpop.study.label_specs import Strict


def _seed(what: str) -> Any:
    return pydantic.Field(0, description=f"Seed of {what}.")


class AgreementAnalysis(Strict):
    """Agreement table (:func:`voxpop.agreement.tables.agreement_table`): alpha per emotion / subset, Pearson r, ICC,
    Fleiss' kappa (``fleiss``: pooled or gwet)."""

    slot: str | None = pydantic.Field(None, description="Rating slot to score (default: the corpus's first).")
    level: Literal["nominal", "ordinal", "interval", "ratio"] | None = pydantic.Field(
        None, description="Krippendorff's alpha level of measurement (default: the slot's kind)."
    )
    condition: str | None = pydantic.Field(None, description="Only the ratings of this stimulus condition.")
    by: str | None = pydantic.Field(None, description="Also per group of this item column.")
    pearson: bool = pydantic.Field(False, description="Also Pearson r between raters.")
    icc: bool = pydantic.Field(False, description="Also the intraclass correlation.")
    fleiss: Literal["pooled", "gwet"] = pydantic.Field("pooled", description="Fleiss' kappa: pooled or Gwet's form.")
    bootstrap: Int = pydantic.Field(0, ge=0, description="Bootstrap resamples of the intervals (0: none).")
    seed: Seed = _seed("the bootstrap")


class AccountingAnalysis(Strict):
    """Data and rating loss of label rules per condition and pooled (:func:`voxpop.labels.rules.accounting_table`)."""

    rules: list[Literal[RULES]] = pydantic.Field(["mr", "pr", "ar"], description="Label rules to account for.")
    tie_policy: Literal[TIE_POLICIES] = pydantic.Field("drop", description="Tied top labels of rule pr.")
    denominator: Literal[DENOMINATORS] = pydantic.Field("all", description="N_i of the majority filters.")
    pooling: Literal[POOLINGS] = pydantic.Field("sum", description="How pooled conditions combine.")


class CCCAnalysis(Strict):
    """Agreement between named label sets of the recipe (train or test): CCC per class, or kappa of argmax."""

    sets: list[str] = pydantic.Field(description="Names of the label sets to compare (train or test).")
    stat: Literal["ccc", "kappa"] = pydantic.Field("ccc", description="CCC per class, or Cohen's kappa of argmax.")


class SweepAnalysis(Strict):
    """Threshold sweep of Cohen's kappa between the intensity ratings of two conditions (sources)."""

    conditions: tuple[str, str] = pydantic.Field(description="The two stimulus conditions compared.")
    grid: str = pydantic.Field("0.01:0.99:0.01", description="Thresholds as START:STOP:STEP.")
    emotions: list[str] | None = pydantic.Field(None, description="Only these emotions (default: all).")


class CellsAnalysis(Strict):
    """Matrices per (train set, test set) cell: ``diagonal`` = only cells whose names match."""

    cells: Literal["diagonal", "all"] = pydantic.Field(
        "diagonal", description="diagonal: only cells whose train and test set names match; all: every cell."
    )


class EasyDifficultAnalysis(Strict):
    """Items every model gets right / wrong on test set ``test``, compared by agreement, duration, speaker, gender."""

    test: str = pydantic.Field(description="The test label set whose items are compared.")
    speaker: str | None = pydantic.Field("speaker", description="Item column of the speaker (None: not compared).")
    gender: str | None = pydantic.Field("gender", description="Item column of the gender (None: not compared).")
    duration: str | None = pydantic.Field("duration", description="Item column of the duration (None: not compared).")


TUNE_ON = "Tune on each fold's dev items (dev) or on the other folds' out-of-fold predictions (other_folds)."


class FusionAnalysis(Strict):
    """Dirichlet late fusion of the variants' predictions (and of imported ones: name -> predictions file).

    ``tune_on``: the weights for fold f are chosen on fold f's own development items, predicted by
    the fold's models (``dev``, default, as published studies do), or cross-fitted on the other folds'
    out-of-fold predictions (``other_folds``; needed for imported predictions, which have no dev
    outputs); either way on the items the train label set keeps.
    """

    predictions: dict[str, str] = pydantic.Field(
        {}, description="Imported predictions to fuse too: NAME=FILE (a predictions parquet file)."
    )
    n_draws: Int = pydantic.Field(1000, ge=0, description="Dirichlet weight draws per fold.")
    seed: Seed = _seed("the weight draws")
    tune_on: Literal["dev", "other_folds"] = pydantic.Field("dev", description=TUNE_ON)


class TunedAnalysis(Strict):
    """Per-class decision offsets (softmax) or thresholds (sigmoid) tuned for macro-F1 per fold, on the fold
    model's own development predictions (``tune_on: dev``) or on the other folds' (``other_folds``)."""

    tune_on: Literal["dev", "other_folds"] = pydantic.Field("dev", description=TUNE_ON)


class CalibrationAnalysis(Strict):
    """Calibration of every softmax model against the raters (:mod:`voxpop.evaluation.calibration`): ECE against
    the consensus test set ``test``, Brier and NLL against the vote distribution of the same ratings; with
    ``tuning: temperature`` also after temperature scaling fitted on each fold model's development items."""

    test: str | None = pydantic.Field(
        None, description="The consensus test label set (default: the first single-label categorical one)."
    )
    bins: Int = pydantic.Field(15, ge=2, le=100, description="Equal-width bins of the top probability (ECE).")
    tuning: Literal["none", "temperature"] = pydantic.Field(
        "none", description="temperature: also scaled by a temperature fitted on the dev fold only."
    )


class CeilingAnalysis(Strict):
    """The human ceiling (:mod:`voxpop.evaluation.ceiling`): each rater against the other raters' labels (same rule
    and metrics, on the test items the rater rated), every model beside it on the same items."""

    tests: list[str] | None = pydantic.Field(
        None, description="The test label sets (default: every single-label categorical or dimensional one)."
    )
    min_ratings: Int = pydantic.Field(10, ge=1, description="The fewest scored items a rater needs.")


class BudgetAnalysis(Strict):
    """Annotation budget (:func:`voxpop.agreement.budget.annotation_budget`; ``voxpop budget``): label stability,
    kappa, kept share, JS distance and alpha of k raters per item against the full panel, and the items to
    re-annotate; with ``dimensions``, the k-rater mean's r and ICC(1,k) of numeric ratings instead."""

    rules: list[Literal["mr", "pr", "ar", "ar-test", "primary", "dawid-skene", "glad", "mace"]] = pydantic.Field(
        ["mr"],
        description="Label rules: those that read vote counts (drawn raters), or learned ones (items ranked by the "
        "certainty of their posterior).",
    )
    raters: str | None = pydantic.Field(
        None, description="Raters per item k: 1:K, A:B, a list 1,3,5 or one number (default 1 .. largest panel)."
    )
    draws: Int = pydantic.Field(
        20, ge=1, description="B: random k-rater subsets per item and k (all when C(n,k) <= B)."
    )
    bootstrap: Int = pydantic.Field(1000, ge=1, description="Item resamples of the 95 % intervals.")
    seed: Seed = _seed("the draws and the resamples")
    conditions: list[str] | None = pydantic.Field(None, description="The conditions (default each one, apart).")
    reference: str | None = pydantic.Field(
        None, description="An item column of reference labels to compare with (default: the full panel's labels)."
    )
    rank_raters: Int | None = pydantic.Field(
        None, ge=1, description="Rank items to re-annotate at this k (default per item one rater below its panel)."
    )
    dimensions: bool = pydantic.Field(False, description="Budget of the numeric ratings of slot instead.")
    slot: str = pydantic.Field("dimension", description="With dimensions: the slot of the numeric ratings.")
    projection_to: Int | None = pydantic.Field(
        None, ge=1, description="With dimensions: project ICC(1,k) by Spearman-Brown up to this k."
    )
    models: bool = pydantic.Field(
        False,
        description="Also train the study's head (first variant: its features, head and folds) on labels from k "
        "raters per item (first rule, first condition) and score it on the full panel's test labels, per k.",
    )
    model_fits: Int = pydantic.Field(3, ge=1, description="With models: fits per k, each on another draw of raters.")


class Analyses(Strict):
    """Optional analyses; ``true`` means the defaults, ``false`` / absent means off."""

    agreement: AgreementAnalysis | None = pydantic.Field(None, description="Agreement table of the ratings.")
    loss_accounting: AccountingAnalysis | None = pydantic.Field(
        None, description="Data and rating loss of label rules."
    )
    ccc: CCCAnalysis | None = pydantic.Field(None, description="Agreement between named label sets.")
    threshold_sweep: SweepAnalysis | None = pydantic.Field(None, description="Threshold sweep of Cohen's kappa.")
    mlcm: CellsAnalysis | None = pydantic.Field(None, description="Multi-label confusion matrices.")
    confusion: CellsAnalysis | None = pydantic.Field(None, description="Confusion matrices.")
    easy_difficult: EasyDifficultAnalysis | None = pydantic.Field(
        None, description="Items every model gets right or wrong."
    )
    layer_weights: bool = pydantic.Field(False, description="Layer weights learnt by heads on several SSL layers.")
    ensemble: bool = pydantic.Field(False, description="Also the variants' mean probabilities (an ensemble).")
    fusion: FusionAnalysis | None = pydantic.Field(None, description="Dirichlet late fusion of the variants per fold.")
    tuned_decisions: TunedAnalysis | None = pydantic.Field(
        None, description="Per-class decision offsets / thresholds tuned for macro-F1 per fold."
    )
    calibration: CalibrationAnalysis | None = pydantic.Field(
        None, description="ECE, Brier and NLL against the raters, optionally after temperature scaling."
    )
    ceiling: CeilingAnalysis | None = pydantic.Field(None, description="The raters' ceiling (leave one rater out).")
    budget: BudgetAnalysis | None = pydantic.Field(
        None, description="Annotation budget: label stability and kept share at k raters per item."
    )

    @pydantic.model_validator(mode="before")
    @classmethod
    def _booleans(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        flags = {"layer_weights", "ensemble"}
        return {k: ({} if v is True else None if v is False else v) if k not in flags else v for k, v in data.items()}
