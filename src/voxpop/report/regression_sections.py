"""The report sections of continuous label sets and the regressors trained on them; each adds nothing to a run
without them (:func:`voxpop.report.study.build_report` calls them for every run).

- **Continuous label sets**: per set its gold standard, dimensions, scale, items kept, mean ratings per
  item and each dimension's mean and sd; the raters the gold standards weigh (EWE weights) or normalise
  (z-scores: the spread of the raters' means, their bias);
- **Results**: the CCC cross-test matrix (train target definition x test target definition, mean over
  the dimensions) with 95 % bootstrap intervals, as a table and a heatmap per model variant; a table of
  every metric per dimension; a scatter plot of out-of-fold predictions against the targets each model
  was trained on.

The training section (fold sizes, dropped items, best epochs) is the one of every study
(:func:`voxpop.report.matrix_sections._training_section`).
"""

from __future__ import annotations

import pandas as pd

from voxpop.core.formatting import format_ci
from voxpop.evaluation import REGRESSION_METRICS
from voxpop.evaluation.analysis import pivot_cross_test
from voxpop.evaluation.partitions import is_partition_group
from voxpop.labels import ContinuousLabelSet
from voxpop.report import matrix_plots, plots
from voxpop.report.render import Report


def evaluates(run, kind: str) -> bool:
    """Whether ``run`` (a :class:`voxpop.study.run.StudyRun`) scores a test label set of ``kind`` (``categorical``
    or ``continuous``)."""
    return any(run.output(run.plan.labels["test", test]).kind == kind for (_, _, test) in run.plan.evaluations)


def continuous_label_section(report: Report, run) -> None:
    """The section of the run's continuous label sets (gold standard, scale, kept items, the raters EWE weighs or
    z-norm normalises); nothing without one."""
    if any(run.output(stage).kind == "continuous" for stage in run.plan.labels.values()):
        _label_section(report, run)


def regression_results_section(report: Report, run) -> None:
    """The results of the regressors (CCC cross-test matrices, metrics per dimension, predictions against
    targets); nothing when the run scores no continuous label set."""
    if evaluates(run, "continuous"):
        _results_section(report, run)


def _label_section(report: Report, run) -> None:
    rows, raters = [], []
    for (part, name), stage in run.plan.labels.items():
        labels: ContinuousLabelSet = run.output(stage)
        if labels.kind != "continuous":
            continue
        kept = labels.values[labels.kept]
        row = {
            "set": name,
            "part": part,
            "gold standard": labels.method,
            "scale": ", ".join(f"{d} {lo:g}..{hi:g}" for d, (lo, hi) in labels.scale.items()),
            "items kept": int(labels.kept.sum()),
            "ratings per item": float(labels.n_raters[labels.kept].mean().mean()),
        }
        if labels.method == "znorm":
            row |= {
                "ratings set aside": labels.ratings_set_aside,
                "items without a usable rating": labels.items_without_usable_rating,
            }
        row |= {f"{d} mean (sd)": f"{kept[d].mean():.2f} ({kept[d].std(ddof=0):.2f})" for d in labels.dimensions}
        rows.append(row)
        if part == "train" and labels.method in ("ewe", "znorm"):
            raters.append(_rater_rows(name, labels))
    section = report.add_section(
        "Continuous label sets",
        "Targets keep the corpus scale (a rescale in the recipe maps it explicitly). Gold standards: mean and "
        "median of the raters; EWE weighs each rater by the Pearson r of their ratings with the mean of the "
        "other raters (negative r and raters with too few shared items weigh 0); znorm averages per-rater "
        "z-scores, mapped back onto the scale, which removes each rater's bias; a rater with fewer than "
        "min_ratings_per_rater ratings (default 2) or unvarying ones cannot be z-normalised, so their ratings are "
        "set aside (never replaced by the mean) and an item left without a usable rating is not kept.",
    )
    section.add_table("Continuous label sets", pd.DataFrame(rows))
    if raters:
        section.add_table(
            "Rater weights and biases",
            pd.concat(raters, ignore_index=True),
            caption="EWE: the raters' weights (0 = left out); znorm: the sd of the raters' own means (their bias) "
            "and of their own sds (their use of the scale), which the z-scores remove, over the raters used; "
            "raters set aside: too few or unvarying ratings.",
        )


def _rater_rows(name: str, labels: ContinuousLabelSet) -> pd.DataFrame:
    rows = []
    for dim, part in labels.raters.groupby("dimension", sort=False):
        row = {"set": name, "dimension": dim, "raters": len(part)}
        if labels.method == "ewe":
            w = part["weight"]
            row |= {
                "weight median": w.median(),
                "weight min": w.min(),
                "weight max": w.max(),
                "weight 0": int((w == 0).sum()),
            }
        else:
            used = part[part["n_set_aside"].eq(0)]
            row |= {
                "sd of rater means": used["mean"].std(ddof=0),
                "sd of rater sds": used["sd"].std(ddof=0),
                "raters set aside": int(part["n_set_aside"].gt(0).sum()),
            }
        rows.append(row)
    return pd.DataFrame(rows)


def _metrics(run) -> list[str]:
    wanted = [m for m in run.recipe.evaluation.metrics if m in REGRESSION_METRICS]
    return wanted or list(REGRESSION_METRICS)


def _results_section(report: Report, run) -> None:
    cells = run.plan.evaluations
    tests = [test for (_, _, test) in cells if run.output(run.plan.labels["test", test]).kind == "continuous"]
    results = run.results[run.results["group"].eq("all") & run.results["test"].isin(tests)]
    metrics = _metrics(run)
    units = "speakers (all items of each drawn speaker)" if run.recipe.evaluation.resample == "speakers" else "items"
    section = report.add_section(
        "Results",
        "Every model is scored on every test target definition over the whole test set (out-of-fold "
        "predictions pooled over the folds). CCC (Lin's concordance correlation, 1 = perfect, 0 = none) is the "
        f"mean over the dimensions; 95 % percentile bootstrap intervals over {units}. MAE and RMSE are in the "
        "units of the scale (lower is better).",
    )
    for variant in dict.fromkeys(results["variant"]):
        rows = results[results["variant"].eq(variant)]
        matrix = pivot_cross_test(rows, "ccc", digits=3)
        matrix.index.name, matrix.columns.name = "train", "test"
        section.add_table(
            f"CCC cross-test matrix {variant}",
            matrix.reset_index(),
            caption=f"Mean CCC over the dimensions, train (rows) x test (columns), {variant}.",
        )
        section.add_figure(
            f"CCC cross-test {variant}",
            matrix_plots.cross_test_heatmap(
                rows, "ccc", title=f"CCC: train (rows) x test (columns), {variant}", name="CCC"
            ),
            caption="Mean CCC over the dimensions with its 95 % bootstrap interval.",
        )
    dims = [m[len("ccc[") : -1] for m in dict.fromkeys(results["metric"]) if m.startswith("ccc[")]
    own = results[results["train"].eq(results["test"])]  # each model on its own target definition
    results = own if len(own) else results
    columns = [f"ccc[{d}]" for d in dims] + metrics
    section.add_table(
        "Metrics per dimension",
        _cells(results, ["variant", "train", "test"], columns),
        caption="Each model on its own target definition: CCC per dimension and every metric's mean over the "
        "dimensions, value [95 % bootstrap interval] (results.parquet holds every metric per dimension and cell).",
    )
    partitions = run.results[run.results["group"].map(is_partition_group).astype(bool)]
    partitions = partitions[partitions.set_index(["variant", "train", "test"]).index.isin(results.set_index(
        ["variant", "train", "test"]).index)].rename(columns={"group": "test partition"})  # fmt: skip
    if len(partitions):
        section.add_table(
            "Metrics per test partition",
            _cells(partitions, ["variant", "train", "test", "test partition"], columns),
            caption="Each test partition of the split protocol (protocol.split.test) scored as its own test set, "
            "value [95 % bootstrap interval over its items]; the table above pools every partition.",
        )
    for variant in dict.fromkeys(results["variant"]):
        section.add_figure(f"Predictions vs targets {variant}", _scatter(run, variant), caption=(
            "Out-of-fold predictions against the targets each model was trained on (its own target definition), "
            "per dimension; dashed: prediction = target."
        ))  # fmt: skip


def _cells(results: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    """One row per ``keys``, one column per metric of ``columns`` present: ``value [low, high]``."""
    cells = results.assign(cell=[format_ci(v, lo, hi) for v, lo, hi in results[["value", "low", "high"]].to_numpy()])
    wide = cells.pivot_table(index=keys, columns="metric", values="cell", aggfunc="first", sort=False)
    return wide[[c for c in columns if c in wide.columns]].reset_index()


def _scatter(run, variant: str):
    pairs, scale = {}, {}
    for (source, train), stage in run.plan.sources.items():
        if source != variant or ("test", train) not in run.plan.labels:
            continue
        labels: ContinuousLabelSet = run.output(run.plan.labels["test", train])
        predictions = run.output(stage).predictions
        items = predictions.index[labels.kept.reindex(predictions.index, fill_value=False).to_numpy(dtype=bool)]
        pairs[train] = (predictions.loc[items, labels.dimensions], labels.values.loc[items])
        scale = labels.scale
    if not pairs:  # no test set shares a train set's name: each model against the first test set
        first = next(stage for (part, _), stage in run.plan.labels.items() if part == "test")
        labels = run.output(first)
        for (source, train), stage in run.plan.sources.items():
            if source == variant:
                predictions = run.output(stage).predictions
                keep = labels.kept.reindex(predictions.index, fill_value=False).to_numpy(dtype=bool)
                pairs[train] = (predictions.loc[keep, labels.dimensions], labels.values.loc[predictions.index[keep]])
        scale = labels.scale
    return plots.prediction_scatter(pairs, scale, title=f"Predictions vs targets, {variant}")
