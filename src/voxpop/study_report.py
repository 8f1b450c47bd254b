"""The report of a study run: tables and figures rendered with :mod:`voxpop.report` and :mod:`voxpop.plots`.

Sections appear when the recipe asks for them: study and label sets (always), agreement, loss
accounting, threshold sweep, agreement between label sets, results (main table with 95 % bootstrap
intervals and one cross-test heatmap per model source and metric), confusion matrices / MLCMs,
training (fold sizes, dropped items, layer weights), easy / difficult items, fusion weights and tuned
decisions. The report holds no times or dates, so the same cache gives byte-identical files.
"""

from __future__ import annotations

import math

import pandas as pd

from voxpop import agreement, demo, plots
from voxpop.agreement import comparison_matrix
from voxpop.analysis import identical_entries
from voxpop.plots import format_ci
from voxpop.report import Report, Section
from voxpop.study import StudyRun

DEMO_NOTICE = (
    "The corpus is SYNTHETIC: generated speech-like audio judged by simulated raters (voxpop.demo). These numbers "
    "show that the pipeline runs end to end; they say nothing about emotion recognition in real speech."
)
METRIC_NAMES = {
    "macro_f1": "macro-F1",
    "uar": "UAR",
    "kld": "KLD",
    "jsd": "JSD",
    "accuracy": "accuracy",
    "micro_f1": "micro-F1",
    "weighted_f1": "weighted-F1",
    "mcc": "MCC",
}


def build_report(run: StudyRun) -> Report:
    """The whole report of a study run."""
    recipe = run.recipe
    specs = [recipe.corpus] if recipe.corpus is not None else list(recipe.corpora.values())
    synthetic = any(spec.demo is not None for spec in specs) or run.corpus.source == demo.SOURCE
    notice = recipe.notice or (DEMO_NOTICE if synthetic else None)
    report = Report(recipe.title or f"Study {recipe.study}", f"corpus {run.corpus.name!r}", notice=notice)
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


def _study_section(report: Report, run: StudyRun) -> None:
    recipe, corpus = run.recipe, run.corpus
    section = report.add_section("Study", recipe.description.strip())
    summary = corpus.summary()
    facts = {
        "corpus": corpus.name,
        "items (after the item filter)": f"{summary['items']:,}",
        "item filter": recipe.where or "(none)",
        "ratings": f"{summary['ratings']:,}",
        "raters": f"{summary['raters']:,}" if corpus.has_rater_ids else "unknown (vote counts only)",
        "conditions": ", ".join(corpus.conditions) or "(none)",
        "classes": ", ".join(recipe.classes or [recipe.class_map.get(c, c) for c in corpus.classes]),
    }
    if run.plan.sources:
        v = recipe
        facts |= {
            "features": f"{v.features.extractor}"
            + (f" (first {v.features.max_seconds:g} s)" if v.features.max_seconds else ""),
            "model": f"{v.model.head}, loss {v.model.loss}, {v.model.epochs} epochs",
            "protocol": "{} {}".format(*v.protocol.name_and_options()),
            "variants (grid)": "; ".join(run.plan.variant_names),
            "bootstrap": f"{recipe.evaluation.bootstrap} resamples over test items, seed {recipe.evaluation.seed}",
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
            }
        )
    if rows:
        section = report.add_section(
            "Label sets",
            "Data loss = share of items dropped; rating loss = share of ratings that do not support the kept target.",
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
        alpha = table[table["statistic"].eq("alpha")]
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
                    ylabel="Krippendorff's alpha",
                ),
            )
        pairs = table["pair"].astype("string").fillna("")
        shown = table[pairs.eq("") | pairs.str.startswith("mean of")]
        shown = shown[[c for c in shown.columns if shown[c].astype("string").fillna("").ne("").any()]]
        section.add_table(
            "Agreement statistics",
            shown,
            caption="Pearson r: the mean over rater pairs (every pair is in the agreement stage's table).",
        )
    if "accounting" in analyses:
        table = outputs[analyses["accounting"].key]
        section = report.add_section("Loss accounting", "What each rule discards, per condition and pooled.")
        section.add_figure("Loss bars", plots.loss_table_bars(table))
        section.add_table("Data and rating loss", table)
    if run.plan.sweep is not None:
        curve, summary = outputs[run.plan.sweep.key]
        a, b = run.recipe.analyses.threshold_sweep.conditions
        section = report.add_section(
            "Threshold sweep",
            f"Cohen's kappa per emotion between the intensity ratings of "
            f"`{a}` and `{b}` binarised at t (positive iff score >= t), over "
            f"{summary['items']} items. {agreement.plateau_text(agreement.sweep_from_curve(curve, summary['items']))}.",
        )
        best = None if math.isnan(summary["best_threshold"]) else summary["best_threshold"]
        section.add_figure("Threshold curve", plots.threshold_curve(curve, best))
        step = max(1, len(curve) // 20)
        section.add_table("Kappa by threshold", curve.iloc[::step], caption="Every few thresholds of the grid.")
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
        figure = plots.heatmap(matrix, f"{stat} between label sets (class mean)", fmt=".2f", colorbar_label=stat)
        section.add_figure(f"{stat} between label sets", figure)
        order = {name: k for k, name in enumerate(run.recipe.analyses.ccc.sets)}
        once = table["a"].map(order) < table["b"].map(order)  # each pair once, in the recipe's order
        pairs = table[once].pivot_table(index=["a", "b"], columns="class", values="value", sort=False)
        section.add_table(f"{stat} per class", pairs)


def _metric_text(rows: pd.DataFrame) -> str:
    row = rows.iloc[0]
    return format_ci(row["value"], row["low"], row["high"])


def _results_section(report: Report, run: StudyRun) -> None:
    recipe, results = run.recipe, run.results
    wanted = recipe.evaluation.metrics
    per_class = [m for m in results["metric"].unique() if m.startswith("f1[")] if recipe.evaluation.per_class else []
    metrics = [m for m in [*wanted, *per_class] if m in set(results["metric"])]
    section = report.add_section(
        "Results",
        "Every model (rows: variant and train label set) scored on every test label set; value [95 % bootstrap "
        "interval over test items]. Multi-label test sets binarise predictions (1/C rule for softmax outputs, 0.5 "
        "for sigmoids); KLD and JSD appear where the test targets are distributions. Macro averages (UAR, "
        "macro-F1) run over the classes present in each test set or group (UAR: in the truth; single-label "
        "macro-F1: in truth or prediction); `absent classes` names the others. Bootstrap resamples are drawn per "
        "test set, stratified by true class for single-label sets. A single-label test target whose top class is "
        f"tied (AR distributions) is scored by tie policy `{recipe.evaluation.tie_policy}` (drop: left out; first: "
        "the first tied class; random: a seeded random one); `tied` counts those items. All rows are in "
        "`results.parquet`.",
    )
    overall = results[results["group"].eq("all")]
    table = overall.pivot_table(
        index=["variant", "train", "test"], columns="metric", values="n_items", aggfunc="first", sort=False
    )[[]]
    for metric in metrics:
        cells = overall[overall["metric"].eq(metric)].groupby(["variant", "train", "test"], sort=False)
        table[METRIC_NAMES.get(metric, metric)] = cells.apply(_metric_text)
    cell = overall.groupby(["variant", "train", "test"], sort=False)
    table["items"] = cell["n_items"].first()
    table["tied"] = cell["n_tied"].first()
    table["absent classes"] = cell["absent_classes"].first()
    section.add_table("Results", table.fillna(plots.MISSING).reset_index())
    cells = overall.set_index(["variant", "test", "metric"])
    by_train = {str(t): cells.loc[cells["train"].eq(t).to_numpy(), "value"] for t in dict.fromkeys(overall["train"])}
    _flag_identical(section, identical_entries(by_train, "train label set", "results", "cells"))
    headline = metrics[: len(wanted)]
    if overall["test"].nunique() == 1:
        _model_heatmaps(section, overall, headline)
    else:
        _cross_test_heatmaps(section, overall, headline)
    if recipe.evaluation.by:
        groups = results[results["group"].ne("all") & results["metric"].isin(wanted)]
        text = groups.assign(value=[format_ci(*r) for r in groups[["value", "low", "high"]].itertuples(index=False)])
        keys = ["variant", "train", "test", "group"]
        pivot = text.pivot_table(index=keys, columns="metric", values="value", aggfunc="first", sort=False)
        pivot["absent classes"] = groups.groupby(keys, sort=False)["absent_classes"].first()
        section.add_table(f"Results per {recipe.evaluation.by}", pivot.reset_index())


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
        name = METRIC_NAMES.get(metric, metric)
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


def _cross_test_heatmaps(section: Section, overall: pd.DataFrame, metrics: list[str]) -> None:
    """One train x test matrix per model source and metric."""
    for number, variant in enumerate(dict.fromkeys(overall["variant"]), start=1):
        for metric in metrics:
            cells = overall[overall["variant"].eq(variant) & overall["metric"].eq(metric)]
            if cells[["train", "test"]].drop_duplicates().shape[0] < 2:
                continue
            long = cells[["train", "test", "metric", "value", "low", "high"]]
            name = METRIC_NAMES.get(metric, metric)
            figure = plots.cross_test_heatmap(long, metric, title=f"{name}: train (rows) x test (columns), {variant}")
            section.add_figure(f"cross-test {metric} {number}", figure, caption=f"Cross-test {name} ({variant})")


def _model_heatmaps(section: Section, overall: pd.DataFrame, metrics: list[str]) -> None:
    """One test set: per metric a model source (rows) x train set (columns) matrix."""
    test = overall["test"].iloc[0]
    for metric in metrics:
        cells = overall[overall["metric"].eq(metric)]
        if len(cells) < 2:
            continue
        long = cells.assign(train=cells["variant"], test=cells["train"])[
            ["train", "test", "metric", "value", "low", "high"]
        ]
        name = METRIC_NAMES.get(metric, metric)
        figure = plots.cross_test_heatmap(long, metric, title=f"{name} on test set {test}")
        figure.axes[0].set_xlabel("train label set")
        figure.axes[0].set_ylabel("model (variant)")
        longest = max(len(str(v)) for v in cells["variant"])
        figure.set_figwidth(min(16.0, figure.get_figwidth() + 0.075 * longest))  # room for long variant names
        section.add_figure(f"models {metric}", figure, caption=f"{name} of every model on test set {test}")


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
    table.index = pd.MultiIndex.from_tuples(table.index, names=["variant", "train set"])
    section.add_table("Items per partition (summed over folds)", table)
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
        section.add_table(f"{stage.kind} {number}", run.output(stage).details, caption=f"{source} ({train})")


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
