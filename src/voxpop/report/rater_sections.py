"""The report sections that score models against the raters (issue #27): the raters' ceiling (leave one rater out,
:mod:`voxpop.evaluation.ceiling`) and calibration against the raters (:mod:`voxpop.evaluation.calibration`) with
its reliability diagram; and :func:`raters_ceilings`, the ceiling the headline, the results tables ("raters" row)
and the cross-test heatmaps (a mark on the colour bar) show beside the models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from voxpop.core.formatting import MISSING, format_ci, metric_name
from voxpop.evaluation.ceiling import RATER, RATERS
from voxpop.report.render import Report
from voxpop.study import StudyRun

CEILING_TEXT = (
    "Each rater scored against the label set the *other* raters give (leave one rater out: the same rule and "
    "metric, on the test items that rater rated and the leave-one-out labels keep), and every model scored against "
    "the same leave-one-out labels on the same items. The **raters** row is the mean over the raters with a "
    "Student-t 95 % interval over raters; a model row's *difference* is the mean of its paired differences (model - "
    "rater, each with a bootstrap interval over that rater's items) with its Student-t interval over raters. Raters "
    "with fewer than {min_ratings} scored items are set aside ({set_aside} here). Per-rater scores are in "
    "`tables/`."
)


def raters_ceilings(run: StudyRun) -> dict[str, dict[str, tuple[float, float, float]]]:
    """The raters' ceiling per test label set and metric: (mean over raters, low, high) of the ceiling analysis.

    Args:
        run: a finished study run (without ``analyses.ceiling``: no ceilings).

    Returns:
        test set -> metric -> (value, low, high); empty when the study has no ceiling.
    """
    found = {}
    for test, stage in getattr(run.plan, "ceilings", {}).items():  # stand-in plans (tests) may lack it
        summary = run.output(stage)["summary"]
        rows = summary[summary["model"].eq(RATERS)]
        found[test] = {str(r.metric): (float(r.value), float(r.low), float(r.high)) for r in rows.itertuples()}
    return found


def ceiling_limits(
    limits: dict[str, tuple[float, float]], ceilings: dict[str, dict[str, tuple[float, float, float]]]
) -> dict[str, tuple[float, float]]:
    """Colour-scale limits per metric widened to hold the raters' ceilings, so the heatmaps can mark them.

    >>> ceiling_limits({"uar": (0.4, 0.5)}, {"MR": {"uar": (0.6, 0.55, 0.65)}})
    {'uar': (0.4, 0.6)}
    """
    widened = dict(limits)
    for metric, (low, high) in limits.items():
        values = [c[metric][0] for c in ceilings.values() if metric in c and np.isfinite(c[metric][0])]
        widened[metric] = (min([low, *values]), max([high, *values]))
    return widened


def headline_ceilings(run: StudyRun, metrics: dict[str, str]) -> dict[str, tuple[float, float, float]] | None:
    """The ceiling of each test set in its headline metric (``metrics``: test -> metric); None without a ceiling."""
    ceilings = raters_ceilings(run)
    if not ceilings:
        return None
    nan = (float("nan"),) * 3
    return {test: ceilings.get(test, {}).get(metric, nan) for test, metric in metrics.items()}


def ceiling_section(report: Report, run: StudyRun) -> None:
    """The raters' ceiling per test set: the summary (raters and models) and the per-rater table."""
    if not run.plan.ceilings:
        return
    spec = run.recipe.analyses.ceiling
    first = next(iter(run.plan.ceilings.values()))
    set_aside = int(run.output(first)["summary"]["raters_set_aside"].max()) if len(run.plan.ceilings) else 0
    section = report.add_section(
        "Raters' ceiling", CEILING_TEXT.format(min_ratings=spec.min_ratings, set_aside=set_aside)
    )
    for test, stage in run.plan.ceilings.items():
        out = run.output(stage)
        summary, per_rater = out["summary"], out["per_rater"]
        if summary.empty:
            section.add_text(f"Test set {test}: no rater has {spec.min_ratings} scored items.")
            continue
        shown = pd.DataFrame(
            {
                "model": np.where(summary["model"].eq(RATERS), RATERS, summary["variant"] + " / " + summary["train"]),
                "metric": summary["metric"].map(metric_name),
                "mean over raters [95 % CI]": [format_ci(*r) for r in summary[["value", "low", "high"]].to_numpy()],
                "difference model - rater [95 % CI]": [
                    format_ci(*r) for r in summary[["difference", "difference_low", "difference_high"]].to_numpy()
                ],
                "raters": summary["n_raters"].astype(int),
            }
        )
        caption = f"Test set {test}: the raters' ceiling and every model on the same leave-one-out labels."
        section.add_table(f"Raters' ceiling {test}", shown, caption=caption)
        section.add_table(f"Per rater {test}", _per_rater_table(per_rater), caption=(
            f"Test set {test}, per rater: the items scored, the rater's own score and each model's paired difference "
            "(model - rater) with 95 % bootstrap intervals over the rater's items."
        ))  # fmt: skip


def _per_rater_table(per_rater: pd.DataFrame) -> pd.DataFrame:
    own = per_rater[per_rater["model"].eq(RATER)]
    table = own[["rater", "n_items"]].assign(metric=own["metric"].map(metric_name))
    table["rater's score"] = [format_ci(*r) for r in own[["value", "low", "high"]].to_numpy()]
    table = table.reset_index(drop=True)
    models = per_rater[per_rater["model"].ne(RATER)]
    for (variant, train), rows in models.groupby(["variant", "train"], sort=False):
        cells = [format_ci(*r) for r in rows[["difference", "difference_low", "difference_high"]].to_numpy()]
        table[f"{variant} / {train} - rater"] = cells
    return table.rename(columns={"n_items": "items"}).fillna(MISSING)


def calibration_section(report: Report, run: StudyRun) -> None:
    """Calibration against the raters: ECE, Brier and NLL per model before (and after) temperature scaling, the
    fitted temperatures and the reliability diagrams."""
    if not run.plan.calibrations:
        return
    spec = run.recipe.analyses.calibration
    section = report.add_section(
        "Calibration against the raters",
        f"For every softmax model: the expected calibration error (ECE, {spec.bins} equal-width bins of the top "
        "probability: the items' share in each bin times |accuracy - mean top probability|, summed) against the "
        "consensus test labels, and the Brier score (sum over classes of the squared difference) and the negative "
        "log-likelihood (cross-entropy) against the raters' vote distribution of the same ratings; lower is better "
        "for all three; 95 % bootstrap intervals over the items."
        + (
            " *temperature*: each fold model's probabilities softmax(log p / T), T fitted on that model's "
            "development items (never its test items) against the training labels; the table lists the mean T."
            if spec.tuning == "temperature"
            else ""
        ),
    )
    rows, diagrams = [], {}
    for (variant, train, test), stage in run.plan.calibrations.items():
        out = run.output(stage)
        scores = out["scores"]
        temperatures = out["temperatures"]
        for scaling, block in scores.groupby("scaling", sort=False):
            cells = block.set_index("metric")
            row = {"variant": variant, "train": train, "test": test, "scaling": scaling}
            for metric, header in (("ece", "ECE"), ("brier", "Brier"), ("nll", "NLL")):
                row[header] = format_ci(*cells.loc[metric, ["value", "low", "high"]])
            scaled = scaling == "temperature" and len(temperatures)
            row["T (mean over folds)"] = f"{temperatures['temperature'].mean():.3f}" if scaled else MISSING
            row["items"] = int(cells["n_items"].iloc[0])
            rows.append(row)
        diagrams[f"{variant} / {train} -> {test}"] = out["reliability"]
    section.add_table("Calibration", pd.DataFrame(rows), caption="ECE, Brier and NLL [95 % CI] of every model.")
    section.add_figure(
        "reliability",
        reliability_diagram(diagrams),
        caption=(
            "Reliability diagrams: per bin of the top probability the share of items whose predicted class is the "
            "consensus (accuracy) against the bin's mean top probability; on the diagonal a model is calibrated, "
            "below it over-confident. Marker size: items in the bin."
        ),
    )


def reliability_diagram(tables: dict[str, pd.DataFrame]) -> Figure:
    """One panel per model: accuracy against mean confidence per bin, a line per scaling, the diagonal dashed.

    Args:
        tables: panel title -> :func:`voxpop.evaluation.calibration.reliability_table` rows with a ``scaling`` column.

    Returns:
        The matplotlib figure.
    """
    n = len(tables)
    columns = min(n, 3)
    rows = int(np.ceil(n / columns))
    figure = Figure(figsize=(min(4.0 * columns, 12.0), 3.8 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for axis, (title, table) in zip(axes, tables.items(), strict=False):
        axis.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
        for scaling, block in table.groupby("scaling", sort=False):
            filled = block[block["n_items"] > 0]
            axis.plot(filled["confidence"], filled["accuracy"], marker="o", label=str(scaling))
            axis.scatter(filled["confidence"], filled["accuracy"], s=12 * filled["n_items"], alpha=0.25)
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1)
        axis.set_title(title, fontsize=9)
        axis.set_xlabel("mean top probability")
        axis.set_ylabel("accuracy against the consensus")
        axis.legend(title="scaling", fontsize=8)
    for axis in axes[n:]:
        axis.set_visible(False)
    return figure


def raters_row(block_test: str, ceilings: dict[str, dict[str, tuple[float, float, float]]], metrics: list[str]):
    """The "raters" row of a results table block (test set ``block_test``): the ceiling per metric, or None."""
    found = ceilings.get(block_test)
    if not found:
        return None
    return {metric_name(m): format_ci(*found[m]) if m in found else MISSING for m in metrics}
