"""The report of a study run: tables and figures rendered with :mod:`voxpop.report` and :mod:`voxpop.plots`.

Sections appear when the recipe asks for them: study and label sets (always), agreement, loss
accounting, threshold sweep, agreement between label sets, results (main table with 95 % bootstrap
intervals and one cross-test heatmap per model source and metric), confusion matrices / MLCMs,
training (fold sizes, dropped items, layer weights), easy / difficult items, fusion weights and tuned
decisions. The report holds no times or dates, so the same cache gives byte-identical files.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from voxpop import agreement, demo, plots
from voxpop.agreement import comparison_matrix, group_label
from voxpop.analysis import identical_entries
from voxpop.chance import direction
from voxpop.classmap import resolve_classes
from voxpop.dimensional_report import dimensional_sections
from voxpop.dimensional_study import is_dimensional
from voxpop.experiment import EvaluationConfig
from voxpop.formatting import MISSING, format_ci, format_result, metric_name
from voxpop.metrics import resample_groups
from voxpop.report import Report, Section, with_ci
from voxpop.studyrun import StudyRun
from voxpop.summary_rows import class_mean_columns, is_summary, per_class_family, summary_cells

DEMO_NOTICE = (
    "The corpus is SYNTHETIC: generated speech-like audio judged by simulated raters (voxpop.demo). These numbers "
    "show that the pipeline runs end to end; they say nothing about emotion recognition in real speech."
)
HEADERS = {  # raw column names -> what a table shows
    "variant": "model (variant)",
    "train": "train label set",
    "test": "test label set",
    "group": "item group",
    "n_items": "items",
    "n_excluded": "items left out",
    "items_total": "items",
    "items_kept": "items kept",
    "ratings_total": "ratings (votes aggregated)",
    "ratings_supporting": "ratings supporting the target",
    "ratings_excluded_class": "ratings of excluded classes",
    "data_loss": "data loss",
    "rating_loss": "rating loss",
    "statistic": "statistic",
    "label": "emotion / label",
    "level": "scale level",
    "pair": "rater pair",
    "unpairable": "items with one rating",
    "ratings": "ratings",
    "threshold": "threshold t",
    "a": "label set A",
    "b": "label set B",
    "train_no_features": "train: no features",
    "train_not_kept": "train: not kept by the labels",
    "dev_no_features": "dev: no features",
    "dev_not_kept": "dev: not kept by the labels",
    "test_no_features": "test: no features",
    "fold": "fold",
    "dev_uar": "dev UAR",
}
STATISTIC_NAMES = {
    "alpha": "Krippendorff's alpha",
    "fleiss_kappa": "Fleiss' kappa",
    "pearson_r": "Pearson r",
    "ccc": "Lin's CCC",
}
CHANCE = "chance"


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """The table with readable column and index names (:data:`HEADERS`; others unchanged).

    >>> readable(pd.DataFrame({"items_total": [3], "ratings_supporting": [5]})).columns.tolist()
    ['items', 'ratings supporting the target']
    """
    renamed = table.rename(columns=lambda c: HEADERS.get(c, c) if isinstance(c, str) else c)
    names = [HEADERS.get(n, n) if isinstance(n, str) else n for n in renamed.index.names]
    return renamed.rename_axis(index=names)


def _better(metric: str) -> str:
    return f"{direction(metric)} is better"


def build_report(run: StudyRun, submit: Callable | None = None) -> Report:
    """The whole report of a study run; ``submit`` renders its figures elsewhere as they are drawn (see
    :class:`voxpop.report.Report`)."""
    recipe = run.recipe
    specs = [recipe.corpus] if recipe.corpus is not None else list(recipe.corpora.values())
    synthetic = any(spec.demo is not None for spec in specs) or run.corpus.source == demo.SOURCE
    notice = recipe.notice or (DEMO_NOTICE if synthetic else None)
    report = Report(recipe.title or f"Study {recipe.study}", f"corpus {run.corpus.name!r}", notice, submit)
    if is_dimensional(recipe):  # continuous label sets and regressors: voxpop.dimensional_report
        _cautions_section(report, run)
        _study_section(report, run)
        _agreement_sections(report, run)
        dimensional_sections(report, run)
        return report
    _cautions_section(report, run)
    _study_section(report, run)
    _label_section(report, run)
    _agreement_sections(report, run)
    if run.plan.evaluations:
        _results_section(report, run)
    if run.plan.evaluations and run.recipe.protocol.corpus_level:
        _corpus_matrix_section(report, run)
    if run.plan.matrices:
        _matrix_section(report, run)
    if run.plan.sources:
        _training_section(report, run)
    _derived_section(report, run)
    if "easy_difficult" in run.plan.analyses:
        _easy_section(report, run)
    return report


def _cautions_section(report: Report, run: StudyRun) -> None:
    """What a careful colleague would point out before anyone reads the numbers (:mod:`voxpop.cautions`)."""
    from voxpop.cautions import study_cautions

    messages = study_cautions(run)
    if messages:
        report.add_section("Warnings", "\n".join(f"- {m}" for m in messages))


def _study_section(report: Report, run: StudyRun) -> None:
    recipe, corpus = run.recipe, run.corpus
    section = report.add_section("Study", recipe.description.strip())
    summary = corpus.summary()
    facts = {
        "corpus": corpus.name,
        "items (after the item filter)": f"{summary['items']:,}",
        "item filter": recipe.where or "(none)",
        "ratings (every rating record)": f"{summary['ratings']:,} ("
        + ", ".join(f"{slot} {n:,}" for slot, n in summary["by slot"].items())
        + "; intensity and secondary ratings included)",
        "raters": f"{summary['raters']:,}" if corpus.has_rater_ids else "unknown (vote counts only)",
        "conditions": ", ".join(corpus.conditions) or "(none)",
        "classes": ", ".join(
            resolve_classes(corpus.classes, corpus.excluded, recipe.classes, recipe.class_map, corpus=corpus.name)[0]
        ),
    }
    if run.plan.sources:
        v = recipe
        facts |= {
            "features": f"{v.features.extractor}"
            + (f" (first {v.features.max_seconds:g} s)" if v.features.max_seconds else ""),
            "model": f"{v.model.head}, loss {v.model.loss}, {v.model.epochs} epochs",
            "protocol": "{} {}".format(*v.protocol.name_and_options()),
            "variants (grid)": "; ".join(run.plan.variant_names),
            "bootstrap": f"{recipe.evaluation.bootstrap} resamples of {resampled_units(recipe.evaluation)}, "
            f"seed {recipe.evaluation.seed}",
        }
    table = pd.DataFrame({"": list(facts), "value": list(facts.values())}).set_index("")
    section.add_table("Study setup", table, caption="What was run (grid values override the base recipe).")


def _label_section(report: Report, run: StudyRun) -> None:
    rows, targets = [], {}
    for (part, name), stage in run.plan.labels.items():
        labels = run.output(stage)
        targets.setdefault(name, labels.kept_targets)
        options = {k: v for k, v in labels.options.items() if v not in (None, False, 0, 0.0, "drop", {}, [])}
        options.pop("classes", None)
        rows.append(
            {
                "set": name,
                "part": part,
                "rule": labels.rule,
                "multi-label": labels.multilabel,
                "options": ", ".join(f"{k}={v}" for k, v in options.items()),
                "items kept": labels.accounting.items_kept,
                "data loss": labels.accounting.data_loss,
                "rating loss": labels.accounting.rating_loss,
                "items without a usable rating": labels.accounting.items_without_usable_rating,
            }
        )
    if not any(row["items without a usable rating"] for row in rows):  # only z-norm sets ratings aside
        rows = [{k: v for k, v in row.items() if k != "items without a usable rating"} for row in rows]
    if rows:
        section = report.add_section(
            "Label sets",
            "Data loss = share of items dropped; rating loss = share of ratings that do not support the kept target "
            "(z-norm: ratings of raters with too few or unvarying ratings are set aside, and items left without a "
            "usable rating are dropped).",
        ).add_table("Label sets", pd.DataFrame(rows))
        _flag_identical(section, identical_entries(targets, "label set", "targets", "items"))


def _flag_identical(section: Section, messages: list[str]) -> None:
    """Say which label sets or result columns equal another one (they are one finding, not two)."""
    if messages:
        section.add_text("**Identical:** " + "; ".join(messages) + ".")


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
            f"{summary['items']} items. {agreement.plateau_text(agreement.sweep_from_curve(curve, summary['items']))}. "
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
        figure = plots.heatmap(
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


KEYS = ["variant", "train", "test"]


def _ci_text(rows: pd.DataFrame) -> list[str]:
    """Cells "value [low, high]", with "(folds mean ± sd)" where the rows have the per-fold columns."""
    rows = rows.reindex(columns=[*rows.columns, *(c for c in ("fold_mean", "fold_sd") if c not in rows.columns)])
    return [format_result(*r) for r in rows[["value", "low", "high", "fold_mean", "fold_sd"]].itertuples(index=False)]


def results_table(
    rows: pd.DataFrame, metrics: list[str], per_class: list[str], keys: list[str] = KEYS
) -> pd.DataFrame:
    """Results as shown: one row per ``keys`` (model, train set, test set, optionally item group), grouped by
    the keys after model and train (the test set, and the group), each block closed by its chance row(s);
    cells "value [low, high]"; for every per-class metric family in ``per_class`` with two or more classes
    (F1, weighted F1, MCC, ...) a column "mean F1 over classes ± 95 % t" in the published form ``.21 ± .11``
    (:func:`voxpop.summary_rows.class_mean_columns`), placed before the per-class columns of ``metrics``.

    The chance rows read column ``chance`` of the results (:func:`voxpop.chance.chance_levels`): one row per
    block, or one per train set where a chance level depends on it (KLD / JSD against the training
    labels' mean distribution).
    """
    shown = rows[rows["metric"].isin(metrics)]
    text = shown.assign(text=_ci_text(shown)).pivot_table(
        index=keys, columns="metric", values="text", aggfunc="first", sort=False
    )
    text = text.reindex(columns=[m for m in metrics if m in set(shown["metric"])])
    chance = shown.pivot_table(index=keys, columns="metric", values="chance", aggfunc="first", sort=False, dropna=False)
    chance = chance.reindex(index=text.index, columns=text.columns)
    family_chance = rows.pivot_table(index=keys, columns="metric", values="chance", aggfunc="first", sort=False,
                                     dropna=False).reindex(index=text.index)  # fmt: skip
    position = next((text.columns.get_loc(m) for m in per_class if m in text.columns), len(text.columns))
    for offset, (column, (family, means)) in enumerate(class_mean_columns(rows, per_class, keys).items()):
        text.insert(position + offset, column, means.reindex(text.index))
        chance[column] = family_chance.reindex(columns=family).mean(axis=1, skipna=False)
    chance = chance[text.columns]
    cell = rows.groupby(keys, sort=False)
    text["items"] = cell["n_items"].first().reindex(text.index).map("{:,}".format)
    for column, header in (("n_tied", "tied"), ("absent_classes", "absent classes")):
        if column in rows.columns:
            text[header] = cell[column].first().reindex(text.index).fillna("").astype(str)
    block_keys = keys[2:]
    blocks = []
    for block_key, block in text.groupby(level=block_keys, sort=False):
        levels = chance.loc[block.index].droplevel("variant")
        levels = levels[~levels.index.duplicated()]  # same items for every model: one set of chance levels per train
        if levels.nunique(dropna=False).le(1).all():  # one row for the block: the train set does not matter
            key = block_key if isinstance(block_key, tuple) else (block_key,)
            levels = levels.iloc[:1].set_axis(pd.MultiIndex.from_tuples([(MISSING, *key)], names=levels.index.names))
        texts = levels.map(lambda v: MISSING if pd.isna(v) else f"{v:.3f}").reset_index()
        extra = {c: "" for c in ("items", "tied", "absent classes") if c in text.columns}
        blocks += [block.reset_index(), texts.assign(variant=CHANCE, **extra)]
    table = pd.concat(blocks, ignore_index=True)[[*keys, *text.columns]]
    return readable(table.rename(columns={m: metric_name(m) for m in metrics}).fillna(MISSING))


def _results_section(report: Report, run: StudyRun) -> None:
    recipe, results = run.recipe, run.results
    wanted = recipe.evaluation.metrics
    per_class = [m for m in results["metric"].unique() if per_class_family(m)] if recipe.evaluation.per_class else []
    per_class_f1 = [m for m in per_class if per_class_family(m) == "f1"]  # one column per class: F1 only
    metrics = [m for m in [*wanted, *per_class_f1] if m in set(results["metric"])]
    higher = [metric_name(m) for m in metrics if direction(m) == "higher"]
    lower = [metric_name(m) for m in metrics if direction(m) == "lower"]
    directions = "; ".join(
        part for part in (f"higher is better: {', '.join(higher)}" if higher else "",
                          f"lower is better: {', '.join(lower)}" if lower else "") if part
    )  # fmt: skip
    section = report.add_section(
        "Results",
        "Every model (rows: variant and train label set) scored on every test label set; value [95 % bootstrap "
        f"interval, resampling {recipe.evaluation.resample}] of the pooled out-of-fold predictions, and beside it "
        "(folds mean ± sd) the mean and sample standard deviation of the score computed on each fold's test items "
        "alone. Multi-label test sets binarise predictions (1/C rule for softmax outputs, 0.5 for sigmoids); KLD and "
        "JSD appear where the test targets are distributions. Macro averages (UAR, macro-F1) run over the classes "
        "present in each test set or group (UAR: in the truth; single-label macro-F1: in truth or prediction); "
        "`absent classes` names the others. Bootstrap "
        f"resamples are drawn per test set: {resampled_units(recipe.evaluation)}. A single-label test target whose "
        "top class is "
        f"tied (AR distributions) is scored by tie policy `{recipe.evaluation.tie_policy}` (drop: left out; first: "
        "the first tied class; random: a seeded random one); `tied` counts those items. All rows are in "
        f"`results.parquet`. Direction: {directions}.\n\n"
        "Each test set ends with its **chance** row: the expected score of a predictor that draws classes "
        "with the test items' class frequencies p_c (accuracy = weighted F1 = sum of p_c squared; UAR = macro-F1 "
        "= 1/C; per-class F1 = p_c; multi-label per-class F1 = the class's prevalence; MCC = CCC = 0) and, for "
        "KLD / JSD, the training labels' mean distribution predicted for every item.",
    )
    overall = results[results["group"].eq("all")]
    caption = "Rows grouped by test label set; chance rows as explained above."
    if len(per_class) >= 2:
        caption += (
            " Mean over classes (F1, and weighted F1 and MCC of each class's binary task, class against the "
            "rest): the unweighted mean of the per-class values ± the half-width of its Student-t 95 % interval "
            "over the classes (not over items), as published (.21 ± .11); per-class columns show F1, every "
            "per-class value is in `results.parquet`."
        )
    section.add_table("Results", results_table(overall, metrics, per_class), caption=caption)
    cells = overall.set_index(["variant", "test", "metric"])
    by_train = {str(t): cells.loc[cells["train"].eq(t).to_numpy(), "value"] for t in dict.fromkeys(overall["train"])}
    _flag_identical(section, identical_entries(by_train, "train label set", "results", "cells"))
    headline = metrics[: len(wanted)]
    limits = plots.shared_limits(overall[overall["metric"].isin(headline)])
    if overall["test"].nunique() == 1:
        _model_heatmaps(section, overall, headline, limits)
    else:
        _cross_test_heatmaps(section, overall, headline, limits)
    if recipe.evaluation.by:
        by = recipe.evaluation.by
        groups = results[results["group"].ne("all")]
        groups = groups.assign(group=groups["group"].map(lambda g: group_label(by, g)))
        table = results_table(groups, list(wanted), [], [*KEYS, "group"])
        caption = f"Item groups {by}=value; each test set and group ends with its chance row (its class frequencies)."
        section.add_table(f"Results per {by}", table, caption=caption)
    _paired_section(report, run)


PAIRED_METRICS = ("macro_f1", "uar", "accuracy", "micro_f1", "weighted_f1", "mcc")


def paired_differences(run: StudyRun) -> pd.DataFrame:
    """Paired comparisons of the train rows within each (model, test set) of a study: the first metric of
    ``evaluation.metrics`` that is a classification metric, :func:`voxpop.significance.paired_cells` on the
    evaluation's resamples; the Holm family is the pairs of one test column."""
    from voxpop.significance import paired_cells
    from voxpop.stages import scored

    e = run.recipe.evaluation
    metric = next((m for m in e.metrics if m in PAIRED_METRICS), None)
    if metric is None:
        return pd.DataFrame()
    tables = []
    by_column: dict[tuple[str, str], dict[str, Any]] = {}
    for (variant, train), stage in run.plan.sources.items():
        for test in run.recipe.labels.test:
            if (variant, train, test) in run.plan.evaluations:
                by_column.setdefault((variant, test), {})[train] = run.output(stage)
    for (variant, test), sources in by_column.items():
        if len(sources) < 2:
            continue
        labels = run.output(run.plan.labels["test", test])
        speakers = resample_groups(run.corpus.items, e.resample)
        cells = {train: scored(src, labels, e.binarize, e.tie_policy, e.seed) for train, src in sources.items()}
        table = paired_cells(cells, labels.classes, metric, n_boot=e.bootstrap, seed=e.seed, speakers=speakers)
        tables.append(table.assign(variant=variant, test=test, metric=metric))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def resampled_units(evaluation: EvaluationConfig) -> str:
    """What the study's bootstrap resamples, in words for the report (``evaluation.resample``)."""
    if evaluation.resample == "speakers":
        return (
            "speakers (cluster bootstrap: each test set's speakers drawn with replacement, all items of every drawn "
            "speaker; not stratified, so a resample may lack a class, which is then scored with the test set's "
            "class list: its recall and F1 count as 0)"
        )
    return "test items (stratified by true class for single-label sets)"


def _paired_section(report: Report, run: StudyRun) -> None:
    table = paired_differences(run)
    if table.empty:
        return
    metric = table["metric"].iat[0]
    shown = pd.DataFrame(
        {
            "model (variant)": table["variant"],
            "test set": table["test"],
            "train A": table["a"],
            "train B": table["b"],
            f"{metric_name(metric)} A - B [95 % CI]": [
                format_ci(d, lo, hi) for d, lo, hi in zip(table["difference"], table["low"], table["high"], strict=True)
            ],
            "p": table["p_value"].map("{:.3f}".format),
            "p (Holm)": table["p_holm"].map("{:.3f}".format),
            "holds": table["holds"].map({True: "yes", False: "no"}),
            "items": table["n_items"],
        }
    )
    report.add_section(
        "Differences between train label sets",
        f"Is one train row really better than another on the same test set? For each pair, the {metric_name(metric)} "
        "difference A - B is bootstrapped with the same resamples for both models (paired, "
        f"{run.recipe.evaluation.bootstrap} resamples of {resampled_units(run.recipe.evaluation)}); its 95 % "
        "interval, the two-sided p-value (twice the smaller share of resampled differences on either side of 0, "
        "at least 1 / resamples) and Holm's correction within each test column (all pairs of train rows of one "
        "model and test set). "
        "**holds** = the Holm-adjusted p is below 0.05.",
    ).add_table("Paired differences", shown)


SMALL_SAMPLE_ITEMS = 100
SMALL_SAMPLE_SPEAKERS = 10


def corpus_matrix(results: pd.DataFrame, protocol, metric: str) -> pd.DataFrame:
    """Training corpora (rows) x test corpus (columns) cells ``value [low, high]`` of ``metric`` from the
    results' per-corpus groups (``evaluation.by: corpus``), one matrix per (variant, train, test label set)
    stacked with those as leading index levels. A leave-one-corpus-out row names every other corpus."""
    cells = results[results["metric"].eq(metric) & results["group"].ne("all")]
    if protocol.cross_corpus is not None:
        rows = dict.fromkeys(cells["group"], "+".join(protocol.cross_corpus.train))
    else:
        corpora = sorted(cells["group"].unique())
        rows = {c: "+".join(o for o in corpora if o != c) for c in corpora}
    text = cells.assign(
        trained_on=cells["group"].map(rows),
        value=[format_ci(*r) for r in cells[["value", "low", "high"]].itertuples(index=False)],
    )
    return text.pivot_table(
        index=["variant", "train", "test", "trained_on"], columns="group", values="value", aggfunc="first", sort=False
    ).rename_axis(columns="test corpus")


def _corpus_matrix_section(report: Report, run: StudyRun) -> None:
    recipe, results = run.recipe, run.results
    cross = recipe.protocol.cross_corpus
    build = (
        "trained on the training corpora's classes, predictions mapped onto each test corpus's classes"
        if cross is not None and cross.classes == "train"
        else "trained and tested on the classes every corpus shares"
    )
    section = report.add_section(
        "Corpus x corpus",
        f"Rows: the corpora a model was trained on; columns: the corpus it was tested on ({build}). Each cell is "
        "value [95 % bootstrap interval over that corpus's test items], from the `corpus` groups of "
        "`results.parquet`.",
    )
    if run.merged is not None:
        accounting = run.merged.accounting
        section.add_table(
            "Merged corpora",
            accounting.assign(classes=[", ".join(run.merged.classes[n]) for n in accounting.index]),
            caption="Items and ratings kept, renamed and dropped by each corpus's class map.",
        )
    for metric in [m for m in recipe.evaluation.metrics if m in set(results["metric"])]:
        name = metric_name(metric)
        section.add_table(f"Corpus matrix {name}", corpus_matrix(results, recipe.protocol, metric).reset_index())
    tested = results[results["group"].ne("all")].drop_duplicates("group")
    small = []
    for group, n_items in zip(tested["group"], tested["n_items"], strict=True):
        items = run.corpus.items[run.corpus.items["corpus"].eq(group)]
        speakers = items["speaker"].nunique() if "speaker" in items.columns else 0
        if n_items < SMALL_SAMPLE_ITEMS or speakers < SMALL_SAMPLE_SPEAKERS:
            small.append(f"{group} ({n_items} scored items, {speakers} speakers)")
    if small:
        section.add_text(
            f"**Small sample:** {'; '.join(small)}. With fewer than {SMALL_SAMPLE_ITEMS} test items or "
            f"{SMALL_SAMPLE_SPEAKERS} speakers a cell says little about the corpus: its interval is wide and "
            "resamples items, not speakers, so it is too narrow for speaker variation. Read such cells as a "
            "check that the pipeline runs, not as evidence."
        )


def _chance_by_test(cells: pd.DataFrame) -> dict[str, float]:
    """Chance level per test set, where it does not depend on the train set (else left out)."""
    levels = cells.groupby("test", sort=False)["chance"]
    return {str(t): float(v.iloc[0]) for t, v in levels if v.nunique(dropna=False) == 1 and pd.notna(v.iloc[0])}


def _chance_text(chance: dict[str, float], limits: tuple[float, float]) -> str:
    """The chance levels for a caption, saying whether the colour bar can show them."""
    if not chance:
        return ""
    inside = [limits[0] <= v <= limits[1] for v in chance.values()]
    where = (
        "red marks on the colour bar" if all(inside)
        else "outside the range of the scores, so not on the colour bar" if not any(inside)
        else "red marks on the colour bar where inside its range"
    )  # fmt: skip
    if len(set(chance.values())) == 1:
        return f" Chance level {next(iter(chance.values())):.3f} ({where})."
    return " Chance levels: " + ", ".join(f"{t} {v:.3f}" for t, v in chance.items()) + f" ({where})."


def _marks(chance: dict[str, float]) -> dict[str, float]:
    if len(set(chance.values())) == 1:
        return {CHANCE: next(iter(chance.values()))}
    return {f"{CHANCE} {t}": v for t, v in chance.items()}


def _bars(section: Section, long: pd.DataFrame, metric: str, name: str, what: str, key: str, xlabel: str) -> None:
    """A metric scored on one column only: bars with intervals and the chance line instead of a one-column heatmap."""
    figure = plots.metric_bars(long, metric, title=f"{name} {what}", better=direction(metric), name=name)
    figure.axes[0].set_xlabel(xlabel)
    caption = (
        f"{name} {what} ({_better(metric)}); whiskers: 95 % bootstrap intervals; red dotted: chance level of "
        "each bar."
    )
    section.add_figure(key, figure, caption=caption)


def _cross_test_heatmaps(
    section: Section, overall: pd.DataFrame, metrics: list[str], limits: dict[str, tuple[float, float]]
) -> None:
    """One train x test matrix per model source and metric; bars where the metric has one test set only."""
    for number, variant in enumerate(dict.fromkeys(overall["variant"]), start=1):
        for metric in metrics:
            cells = overall[overall["variant"].eq(variant) & overall["metric"].eq(metric)]
            long = cells[["train", "test", "metric", "value", "low", "high", "chance"]]
            name = metric_name(metric)
            if cells["test"].nunique() == 1:
                what = f"on test set {cells['test'].iloc[0]}, {variant}"
                _bars(section, long, metric, name, what, f"bars {metric} {number}", "train label set")
                continue
            chance = _chance_by_test(cells)
            figure = plots.cross_test_heatmap(
                long,
                metric,
                title=f"{name}: train (rows) x test (columns), {variant}",
                better=direction(metric),
                limits=limits[metric],
                chance=_marks(chance),
                name=name,
            )
            caption = (
                f"Cross-test {name} ({variant}); {_better(metric)}; one colour scale for every {name} heatmap of "
                f"this report.{_chance_text(chance, limits[metric])}"
            )
            section.add_figure(f"cross-test {metric} {number}", figure, caption=caption)


def _model_heatmaps(
    section: Section, overall: pd.DataFrame, metrics: list[str], limits: dict[str, tuple[float, float]]
) -> None:
    """One test set: per metric a model source (rows) x train set (columns) matrix; bars for one train set."""
    test = overall["test"].iloc[0]
    for metric in metrics:
        cells = overall[overall["metric"].eq(metric)]
        if len(cells) < 2:
            continue
        long = cells.assign(train=cells["variant"], test=cells["train"])[
            ["train", "test", "metric", "value", "low", "high", "chance"]
        ]
        name = metric_name(metric)
        if cells["train"].nunique() == 1:
            _bars(section, long, metric, name, f"on test set {test}", f"models {metric}", "model (variant)")
            continue
        chance = _chance_by_test(cells)
        figure = plots.cross_test_heatmap(
            long, metric, title=f"{name} on test set {test}", better=direction(metric), limits=limits[metric],
            chance=_marks(chance), name=name,
        )  # fmt: skip
        figure.axes[0].set_xlabel("train label set")
        figure.axes[0].set_ylabel("model (variant)")
        longest = max(len(str(v)) for v in cells["variant"])
        figure.set_figwidth(min(16.0, figure.get_figwidth() + 0.075 * longest))  # room for long variant names
        caption = (
            f"{name} of every model on test set {test}; {_better(metric)}; one colour scale for every {name} "
            f"heatmap of this report.{_chance_text(chance, limits[metric])}"
        )
        section.add_figure(f"models {metric}", figure, caption=caption)


def _matrix_section(report: Report, run: StudyRun) -> None:
    section = report.add_section(
        "Confusion matrices",
        "Rows: true class, columns: predicted class. Multi-label test "
        "sets use the multi-label confusion matrix (MLCM, Heydarian et al. 2022) with its "
        "extra row and column for items without a true or predicted label.",
    )
    for number, ((source, train, test), stage) in enumerate(run.plan.matrices.items(), start=1):
        matrix = run.output(stage)
        kind = "MLCM" if stage.kind == "mlcm" else "Confusion matrix"
        matrix = matrix.rename_axis(index="true", columns="predicted")
        title = f"{kind}: train {train}, test {test} ({source})"
        figure = plots.heatmap(matrix, title=title, normalize_rows=stage.kind == "confusion")
        section.add_figure(f"{stage.kind} {number}", figure, caption=title)


def _training_section(report: Report, run: StudyRun) -> None:
    section = report.add_section(
        "Training",
        "Items per fold (train and dev: kept by the train label set and with "
        "features; test: every item with features) and items dropped, by reason.",
    )
    rows = []
    for (source, train), stage in run.plan.sources.items():
        if stage.kind != "train":
            continue
        folds = run.output(stage).folds
        rows.append(folds.sum().rename((source, train)))
    table = pd.DataFrame(rows)
    table.index = pd.MultiIndex.from_tuples(table.index, names=["variant", "train"])
    table = table.rename(columns={part: f"{part} items" for part in ("train", "dev", "test")})
    empty = [c for c in table.columns if not c.endswith(" items") and table[c].eq(0).all()]
    caption = f"No item dropped as {', '.join(HEADERS.get(c, c) for c in empty)} (columns left out)." if empty else ""
    section.add_table("Items per partition (summed over folds)", readable(table.drop(columns=empty)), caption=caption)
    if not run.recipe.analyses.layer_weights:
        return
    for number, variant in enumerate(run.plan.variant_names, start=1):
        runs = {}
        for (source, train), stage in run.plan.sources.items():
            weights = run.output(stage).layer_weights if source == variant and stage.kind == "train" else None
            if weights is not None:
                runs |= {f"{train}:{fold}": row for fold, row in weights.iterrows()}
        if not runs:
            section.add_text(
                f"No layer weights for {variant}: its features are not per-layer (use an `ssl:` extractor "
                "for a layer-weighted sum)."
            )
            continue
        table = pd.DataFrame(runs).rename_axis("layer")
        figure = plots.layer_weights(table, f"softmax layer weights, {variant} (all train sets and folds)")
        section.add_figure(f"layer weights {number}", figure, caption=f"Layer weights ({variant})")


def _derived_section(report: Report, run: StudyRun) -> None:
    derived = {key: stage for key, stage in run.plan.sources.items() if stage.kind in ("fusion", "tuned")}
    if not derived:
        return
    section = report.add_section(
        "Fusion and tuned decisions",
        "Fusion weights (models x classes) and tuned per-class offsets (softmax) or thresholds shifts (sigmoid) "
        "of every fold, each chosen on items the train label set keeps: the fold models' own development "
        "predictions (tune_on: dev) or the other folds' out-of-fold predictions (tune_on: other_folds).",
    )
    for number, ((source, train), stage) in enumerate(derived.items(), start=1):
        section.add_table(f"{stage.kind} {number}", readable(run.output(stage).details), caption=f"{source} ({train})")


def _easy_section(report: Report, run: StudyRun) -> None:
    spec = run.recipe.analyses.easy_difficult
    out = run.output(run.plan.analyses["easy_difficult"])
    counts = out["groups"]["group"].value_counts()
    text = (
        f"Items of test set `{spec.test}` that every model gets right (easy: {counts.get('easy', 0)}), every "
        f"model gets wrong (difficult: {counts.get('difficult', 0)}) or some (mixed: {counts.get('mixed', 0)}), "
        "over every variant and train label set. Agreement = share of ratings for the top class."
    )
    section: Section = report.add_section("Easy and difficult items", text)
    section.add_table("Easy vs difficult items", out["comparison"].set_index("attribute"), float_format=".3g")
