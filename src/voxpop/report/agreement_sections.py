"""The agreement sections of a study report: alpha and kappa tables and bars, threshold sweeps and label-set
comparisons (:mod:`voxpop.report.study`).
"""

from __future__ import annotations

import math

from voxpop.agreement import comparison_matrix, threshold_sweep
from voxpop.agreement.grouping import group_label
from voxpop.core.formatting import format_ci
from voxpop.evaluation.summary_rows import is_summary, summary_cells
from voxpop.report import matrix_plots, plots
from voxpop.report.markup import with_ci
from voxpop.report.naming import STATISTIC_NAMES, readable
from voxpop.report.render import Report
from voxpop.study import StudyRun


def _agreement_sections(report: Report, run: StudyRun) -> None:
    analyses, outputs = run.plan.analyses, run.outputs
    if "agreement" in analyses:
        table = outputs[analyses["agreement"].key]
        section = report.add_section(
            "Rater agreement",
            "Krippendorff's alpha (95 % bootstrap interval when "
            "computed); Fleiss' kappa for categorical slots; Pearson r between raters.",
        )
        by = run.recipe.analyses.agreement.by
        table = table.assign(group=table["group"].map(lambda g: group_label(by, g)))
        alpha = table[table["statistic"].eq("alpha") & ~is_summary(table)]
        category = "label" if alpha["label"].astype(str).ne("").any() else "condition"
        conditions = list(dict.fromkeys(alpha["condition"])) if category == "label" else [None]
        for condition in conditions:
            rows = alpha if condition is None else alpha[alpha["condition"].eq(condition)]
            name = f"Agreement {condition}" if condition else "Agreement"
            title = f"condition {condition}" if condition else ""
            section.add_figure(
                name,
                plots.agreement_bars(
                    rows,
                    "value",
                    "ci_low",
                    "ci_high",
                    by="group",
                    x=category,
                    title=title,
                    ylabel="Krippendorff's alpha (higher is better)",
                ),
                caption=f"Krippendorff's alpha{f' ({title})' if title else ''} per item group; 1 = perfect "
                "agreement, 0 = chance agreement; whiskers: 95 % bootstrap interval where computed.",
            )
        pairs = table["pair"].astype("string").fillna("")
        shown = table[pairs.eq("") | pairs.str.startswith("mean of")]
        shown = shown[[c for c in shown.columns if shown[c].astype("string").fillna("").ne("").any()]]
        shown = shown.reset_index(drop=True)
        published = summary_cells(shown)
        if {"ci_low", "ci_high"} <= set(shown.columns):  # bootstrap intervals; Student-t ones of the summary rows
            shown = with_ci(shown, "value", "ci_low", "ci_high", name="value [95 % CI]")
            shown["value [95 % CI]"] = published.fillna(shown["value [95 % CI]"])
        shown = shown.assign(statistic=shown["statistic"].map(lambda v: STATISTIC_NAMES.get(v, v)))
        if "pair" in shown.columns:  # only "mean of N pairs" rows are left: said in the statistic's name
            pair = shown["pair"].astype("string").fillna("")
            named = shown["statistic"].where(pair.eq(""), shown["statistic"] + " (" + pair + ")")
            shown = shown.assign(statistic=named).drop(columns="pair")
        section.add_table(
            "Agreement statistics",
            readable(shown),
            caption="Pearson r: the mean over rater pairs (every pair is in the agreement stage's table). Rows 'mean "
            "over N emotions' and the means over pairs: mean ± Student-t 95 % half-width over the per-emotion "
            "(per-pair) values, as published (.21 ± .11). Items: "
            "items with at least two ratings of the scale; ratings: the ratings of those items on this scale "
            "only (the corpus total in the study setup counts every slot). Higher is better for every statistic.",
        )
    if "accounting" in analyses:
        table = outputs[analyses["accounting"].key]
        section = report.add_section(
            "Loss accounting",
            "What each rule discards, per condition and pooled. Ratings here are the votes each rule aggregates, "
            "so their total is smaller than the corpus's ratings in the study setup, which include intensity and "
            "secondary ratings. Lower loss is better.",
        )
        section.add_figure("Loss bars", plots.loss_table_bars(table), caption="Data and rating loss (lower is better).")
        unused = "ratings_excluded_class" in table.columns and table["ratings_excluded_class"].eq(0).all()
        shown = table.drop(columns="ratings_excluded_class") if unused else table
        caption = "No ratings of excluded classes (column left out)." if unused else ""
        section.add_table("Data and rating loss", readable(shown), caption=caption)
    if run.plan.sweep is not None:
        curve, summary, positives = outputs[run.plan.sweep.key]
        a, b = run.recipe.analyses.threshold_sweep.conditions
        section = report.add_section(
            "Threshold sweep",
            f"Cohen's kappa per emotion between the intensity ratings of "
            f"`{a}` and `{b}` binarised at t (positive iff score >= t), over "
            f"{summary['items']} items. "
            f"{threshold_sweep.plateau_text(threshold_sweep.sweep_from_curve(curve, summary['items']))}. "
            "Higher kappa is better; the lower panel counts the positive items per emotion and condition at each t "
            "(kappa on few positives is unstable).",
        )
        best = None if math.isnan(summary["best_threshold"]) else summary["best_threshold"]
        section.add_figure("Threshold curve", plots.threshold_curve(curve, best, positives=positives))
        step = max(1, len(curve) // 20)
        table = curve.iloc[::step].rename(columns={"mean": "mean kappa"})
        section.add_table(
            "Kappa by threshold", readable(table), caption="Cohen's kappa at every few thresholds of the grid."
        )
    if "ccc" in analyses:
        stat = run.recipe.analyses.ccc.stat
        table = outputs[analyses["ccc"].key]
        section = report.add_section(
            "Agreement between label sets",
            "CCC per class over the items both sets keep, averaged over classes"
            if stat == "ccc"
            else "Cohen's kappa of the argmax classes.",
        )
        matrix = comparison_matrix(table).rename_axis(index="label set", columns="label set")
        meaning = "higher is better, 1 = identical"
        figure = matrix_plots.heatmap(
            matrix, f"{stat} between label sets (class mean)", fmt=".2f", colorbar_label=f"{stat} ({meaning})"
        )
        section.add_figure(f"{stat} between label sets", figure, caption=f"{stat} between label sets ({meaning}).")
        order = {name: k for k, name in enumerate(run.recipe.analyses.ccc.sets)}
        once = table[table["a"].map(order) < table["b"].map(order)]  # each pair once, in the recipe's order
        once = once.assign(value=[format_ci(*r) for r in once[["value", "low", "high"]].itertuples(index=False)])
        pairs = once.pivot_table(index=["a", "b"], columns="class", values="value", aggfunc="first", sort=False)
        pairs = pairs[list(dict.fromkeys(once["class"]))].rename(columns={"mean": "mean over classes"})
        pairs["items"] = once.groupby(["a", "b"], sort=False)["items"].first()
        interval = "value [95 % bootstrap interval over the items both sets keep]" if once["low"].notna().any() else ""
        section.add_table(
            f"{stat} per class", readable(pairs), caption=f"{stat} per class ({meaning}); {interval}".rstrip("; ")
        )
