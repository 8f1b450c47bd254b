"""The result sections of a study report: the results table with CIs and chance, paired differences and
the per-corpus matrix (:mod:`voxpop.report.study`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from voxpop.agreement.grouping import group_label
from voxpop.core.formatting import MISSING, format_ci, metric_name
from voxpop.evaluation.analysis import identical_entries
from voxpop.evaluation.ceiling import RATERS
from voxpop.evaluation.chance import direction
from voxpop.evaluation.partitions import is_partition_group
from voxpop.evaluation.resampling import resample_groups
from voxpop.evaluation.summary_rows import class_mean_columns, per_class_family
from voxpop.report import matrix_plots
from voxpop.report.matrix_sections import _cross_test_heatmaps, _model_heatmaps
from voxpop.report.naming import CHANCE, KEYS, _ci_text, _flag_identical, readable
from voxpop.report.rater_sections import ceiling_limits, raters_ceilings
from voxpop.report.render import Report
from voxpop.study import StudyRun
from voxpop.study.recipe import EvaluationConfig


def results_table(
    rows: pd.DataFrame,
    metrics: list[str],
    per_class: list[str],
    keys: list[str] = KEYS,
    ceilings: Mapping[str, Mapping[str, tuple[float, float, float]]] | None = None,
) -> pd.DataFrame:
    """Results as shown: one row per ``keys`` (model, train set, test set, optionally item group), grouped by
    the keys after model and train (the test set, and the group), each block closed by its chance row(s);
    cells "value [low, high]"; for every per-class metric family in ``per_class`` with two or more classes
    (F1, weighted F1, MCC, ...) a column "mean F1 over classes ± 95 % t" in the published form ``.21 ± .11``
    (:func:`voxpop.evaluation.summary_rows.class_mean_columns`), placed before the per-class columns of ``metrics``.

    The chance rows read column ``chance`` of the results (:func:`voxpop.evaluation.chance.chance_levels`): one row per
    block, or one per train set where a chance level depends on it (KLD / JSD against the training
    labels' mean distribution). ``ceilings`` (test set -> metric -> (value, low, high), the raters' ceiling of
    :func:`voxpop.report.rater_sections.raters_ceilings`) adds a ``raters`` row after the chance row of each
    test set it has.
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
        test = block_key[0] if isinstance(block_key, tuple) else block_key
        if ceilings and test in ceilings:
            cells = {c: format_ci(*ceilings[test][c]) if c in ceilings[test] else MISSING for c in text.columns}
            raters = {**dict.fromkeys(keys, MISSING), **cells, **extra, "variant": RATERS, "test": test}
            blocks.append(pd.DataFrame([raters]))
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
    ceilings = raters_ceilings(run)
    if ceilings:
        caption += (
            " **raters** rows: the raters' ceiling (each rater against the other raters' labels, mean over raters "
            "[95 % CI]; the Raters' ceiling section)."
        )
    section.add_table("Results", results_table(overall, metrics, per_class, ceilings=ceilings), caption=caption)
    cells = overall.set_index(["variant", "test", "metric"])
    by_train = {str(t): cells.loc[cells["train"].eq(t).to_numpy(), "value"] for t in dict.fromkeys(overall["train"])}
    _flag_identical(section, identical_entries(by_train, "train label set", "results", "cells"))
    headline = metrics[: len(wanted)]
    limits = ceiling_limits(matrix_plots.shared_limits(overall[overall["metric"].isin(headline)]), ceilings)
    if overall["test"].nunique() == 1:
        _model_heatmaps(section, overall, headline, limits, ceilings)
    else:
        _cross_test_heatmaps(section, overall, headline, limits, ceilings)
    partitioned = results["group"].map(is_partition_group).astype(bool)
    if partitioned.any():
        rows = results[partitioned].rename(columns={"group": "test partition"})
        table = results_table(rows, list(wanted), [], [*KEYS, "test partition"])
        caption = (
            "Each test partition of the split protocol (protocol.split.test) scored as its own test set: its items' "
            "pooled out-of-fold predictions, bootstrap intervals over its items, its own chance row. The Results "
            "table above pools every partition."
        )
        section.add_table("Results per test partition", table, caption=caption)
    if recipe.evaluation.by:
        by = recipe.evaluation.by
        groups = results[results["group"].ne("all") & ~partitioned]
        groups = groups.assign(group=groups["group"].map(lambda g: group_label(by, g)))
        table = results_table(groups, list(wanted), [], [*KEYS, "group"])
        caption = f"Item groups {by}=value; each test set and group ends with its chance row (its class frequencies)."
        section.add_table(f"Results per {by}", table, caption=caption)
    _paired_section(report, run)


PAIRED_METRICS = ("macro_f1", "uar", "accuracy", "micro_f1", "weighted_f1", "mcc")


def paired_differences(run: StudyRun) -> pd.DataFrame:
    """Paired comparisons of the train rows within each (model, test set) of a study: the first metric of
    ``evaluation.metrics`` that is a classification metric, :func:`voxpop.evaluation.significance.paired_cells` on the
    evaluation's resamples; the Holm family is the pairs of one test column."""
    from voxpop.evaluation.significance import paired_cells
    from voxpop.study.stages import scored

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
