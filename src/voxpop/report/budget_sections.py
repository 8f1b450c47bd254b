"""The annotation-budget section of a study report (recipe ``analyses.budget``; :mod:`voxpop.study.budget_stage`):
stability and kept share against the raters per item with their intervals and the full panel's level, the
curve as a table (HTML / Markdown / LaTeX / CSV like every table) and the items to re-annotate first."""

from __future__ import annotations

import pandas as pd

from voxpop.core.formatting import format_ci
from voxpop.report.budget_plots import BUDGET_TITLES, budget_curves
from voxpop.report.render import Report
from voxpop.study.run import StudyRun

REANNOTATE_ROWS = 20
"""Items of the re-annotation ranking shown per condition and rule (the stage's table holds every item)."""


def budget_table(curve: pd.DataFrame, statistics: list[str]) -> pd.DataFrame:
    """The curve as one row per (condition, rule or dimension, k), a column per statistic ("value [low, high]"),
    then per condition the full panel's level (where the curve has one).

    >>> curve = pd.DataFrame({"condition": "voice", "rule": "mr", "raters": [1, 1], "statistic": ["stability",
    ...     "kept_share"], "value": [0.7, 1.0], "ci_low": [0.6, 1.0], "ci_high": [0.8, 1.0], "full_panel": [1.0, 0.6]})
    >>> budget_table(curve, ["stability", "kept_share"]).iloc[:, 2:].values.tolist()
    [['1', '0.700 [0.600, 0.800]', '1.000 [1.000, 1.000]'], ['full panel', '1.000', '0.600']]
    """
    group = "rule" if "rule" in curve.columns else "dimension"
    cells = curve.assign(cell=[format_ci(v, lo, hi) for v, lo, hi in curve[["value", "ci_low", "ci_high"]].to_numpy()])
    keys = ["condition", group, "raters"]
    wide = cells.pivot_table(index=keys, columns="statistic", values="cell", aggfunc="first", sort=False)
    wide = wide.reindex(columns=[s for s in statistics if s in wide.columns]).reset_index()
    wide["raters"] = wide["raters"].astype(str)
    if "full_panel" in curve.columns:
        full = curve.pivot_table(index=["condition", group], columns="statistic", values="full_panel",
                                 aggfunc="first", sort=False, dropna=False)  # fmt: skip
        rows = []
        for (condition, name), part in wide.groupby(["condition", group], sort=False):
            level = full.loc[(condition, name)]
            last = {"condition": condition, group: name, "raters": "full panel",
                    **{s: format_ci(level.get(s)) for s in statistics if s in wide.columns}}  # fmt: skip
            rows += [part, pd.DataFrame([last])]
        wide = pd.concat(rows, ignore_index=True)
    return wide.rename(columns={"raters": "k", **{s: BUDGET_TITLES.get(s, s) for s in statistics}})


def model_curve(models: pd.DataFrame) -> pd.DataFrame:
    """The model side per (metric, k): the mean over fits of the score and of its interval bounds, the lowest and
    highest fit, and the full-panel model's score (``full_panel``), in the shape :func:`budget_curves` draws
    (``condition`` holds the metric).

    >>> models = pd.DataFrame({"panel": ["k", "k", "full"], "raters": [1, 1, None], "fit": [0, 1, 0],
    ...     "metric": "uar", "value": [0.6, 0.7, 0.8], "ci_low": [0.5, 0.6, 0.7], "ci_high": [0.7, 0.8, 0.9]})
    >>> curve = model_curve(models).round(3)
    >>> curve[["condition", "raters", "value", "lowest", "highest", "full_panel"]].values.tolist()
    [['uar', 1, 0.65, 0.6, 0.7, 0.8]]
    """
    drawn = models[models["panel"].eq("k")]
    full = models[models["panel"].eq("full")].set_index("metric")["value"]
    grouped = drawn.groupby(["metric", "raters"], sort=False)
    curve = grouped[["value", "ci_low", "ci_high"]].mean()
    curve["lowest"], curve["highest"] = grouped["value"].min(), grouped["value"].max()
    curve = curve.reset_index().rename(columns={"metric": "condition"})
    curve["raters"] = curve["raters"].astype(int)
    return curve.assign(statistic="model", full_panel=curve["condition"].map(full))


def _models_part(section, models: pd.DataFrame) -> None:
    """The model side: score against k, mean over fits, the full-panel model dotted."""
    curve = model_curve(models)
    fits = int(models["fit"].max()) + 1
    caption = (
        f"Head trained on labels from k raters per item (mean over {fits} draws; band: the mean 95 % interval over "
        "test items), scored on the full panel's test labels; dotted: trained on the full panel."
    )
    section.add_figure("Budget model", budget_curves(curve, ("model",), title="model side"), caption=caption)
    shown = curve.assign(cell=[format_ci(v, lo, hi) for v, lo, hi in curve[["value", "ci_low", "ci_high"]].to_numpy()])
    table = shown[["condition", "raters", "cell", "lowest", "highest", "full_panel"]].rename(
        columns={"condition": "metric", "raters": "k", "cell": "mean over fits [95 % CI]", "lowest": "lowest fit",
                 "highest": "highest fit", "full_panel": "full panel"})  # fmt: skip
    section.add_table("Budget model scores", table)


def budget_section(report: Report, run: StudyRun) -> None:
    """Add the annotation-budget section when the recipe asks for ``analyses.budget`` (nothing otherwise)."""
    stage = run.plan.analyses.get("budget")
    if stage is None:
        return
    tables = run.outputs[stage.key]
    section = report.add_section(
        "Annotation budget",
        "For k raters per item, k of each item's raters are drawn without replacement (within each condition; "
        "every subset when there are few) and the item labelled from them; each statistic compares that with the "
        "full panel, with a 95 % percentile interval over item resamples. Stability and kappa: higher is better "
        "(1 = the full panel's labels); dotted lines and the last rows: the full panel.",
    )
    if "dimensions" in tables:
        table = tables["dimensions"]
        for dimension, part in table.groupby("dimension", sort=False):
            figure = budget_curves(part, ("mean_r", "icc"), title=str(dimension))
            projected = "Hollow points: ICC(1,k) projected beyond the largest panel (Spearman-Brown)."
            section.add_figure(f"Budget {dimension}", figure, caption=projected)
        marks = table["projection"].map({True: " (projected)", False: ""})
        shown = table.assign(raters=table["raters"].astype(str) + marks)
        section.add_table("Budget of dimensions", budget_table(shown.drop(columns="projection"), ["mean_r", "icc"]))
        return
    if "posterior" in tables:
        posterior = tables["posterior"]
        section.add_table(
            "Least certain posteriors",
            posterior[posterior["rank"].le(REANNOTATE_ROWS)].drop(columns="rank").rename(columns={"raters": "ratings"}),
            caption=f"Learned rules: per condition the {REANNOTATE_ROWS} items whose posterior is least certain "
            "(certainty: the largest posterior probability).",
        )
    if "curve" not in tables:
        return
    if "models" in tables:
        _models_part(section, tables["models"])
    curve = tables["curve"]
    statistics = ["stability", "kappa", "kept_share", "jsd", "alpha"]
    for rule, part in curve.groupby("rule", sort=False):
        caption = "Label stability and share of items kept against k; bands: 95 % intervals."
        section.add_figure(f"Budget {rule}", budget_curves(part, title=f"rule {rule}"), caption=caption)
    short = curve.groupby(["condition", "raters"])["items_short"].first()
    caption = (f"Items with fewer than k raters are left out at that k ({int(short.max()):,} at most)."
               if short.max() else "")  # fmt: skip
    section.add_table("Budget curve", budget_table(curve, statistics), caption=caption)
    ranked = tables["reannotate"]
    top = ranked[ranked["rank"].le(REANNOTATE_ROWS)].drop(columns="rank")
    section.add_table(
        "Items to re-annotate",
        top.rename(columns={"raters": "ratings", "at_raters": "at k"}),
        caption=f"Per condition and rule the {REANNOTATE_ROWS} items whose label is least stable (stability at k; "
        "first: items whose panel is too small to judge). Spending new ratings there changes labels.",
    )
