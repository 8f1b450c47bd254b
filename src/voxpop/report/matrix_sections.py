"""The cross-testing sections of a study report: train x test heatmaps per model and metric, training
curves, derived analyses and the easy-item subsets (:mod:`voxpop.report.study`).
"""

from __future__ import annotations

import pandas as pd

from voxpop.core.formatting import metric_name
from voxpop.evaluation.chance import direction
from voxpop.report import matrix_plots, plots
from voxpop.report.naming import CHANCE, HEADERS, _better, readable
from voxpop.report.render import Report, Section
from voxpop.study import StudyRun


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


def _raters_marks(
    ceilings: dict[str, dict[str, tuple[float, float, float]]] | None, metric: str, tests: list[str]
) -> dict[str, float]:
    """The raters' ceiling of ``metric`` per test set as colour-bar marks (one mark when the tests share it)."""
    found = {t: ceilings[t][metric][0] for t in tests if ceilings and metric in ceilings.get(t, {})}
    if len(set(found.values())) == 1 and len(found) == len(tests):
        return {"raters": next(iter(found.values()))}
    return {f"raters {t}": v for t, v in found.items()}


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
    section: Section,
    overall: pd.DataFrame,
    metrics: list[str],
    limits: dict[str, tuple[float, float]],
    ceilings: dict[str, dict[str, tuple[float, float, float]]] | None = None,
) -> None:
    """One train x test matrix per model source and metric; bars where the metric has one test set only.
    ``ceilings`` (test -> metric -> (value, low, high)) marks the raters' ceiling on each heatmap's colour bar."""
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
            raters = _raters_marks(ceilings, metric, list(dict.fromkeys(cells["test"])))
            figure = matrix_plots.cross_test_heatmap(
                long,
                metric,
                title=f"{name}: train (rows) x test (columns), {variant}",
                better=direction(metric),
                limits=limits[metric],
                chance=_marks(chance) | raters,
                name=name,
            )
            caption = (
                f"Cross-test {name} ({variant}); {_better(metric)}; one colour scale for every {name} heatmap of "
                f"this report.{_chance_text(chance, limits[metric])}"
            )
            if raters:
                caption += (
                    " Raters' ceiling (mean over raters) on the colour bar: "
                    + ", ".join(f"{k} {v:.3f}" for k, v in raters.items())
                    + " (where the scale reaches it)."
                )
            section.add_figure(f"cross-test {metric} {number}", figure, caption=caption)


def _model_heatmaps(
    section: Section,
    overall: pd.DataFrame,
    metrics: list[str],
    limits: dict[str, tuple[float, float]],
    ceilings: dict[str, dict[str, tuple[float, float, float]]] | None = None,
) -> None:
    """One test set: per metric a model source (rows) x train set (columns) matrix; bars for one train set.
    ``ceilings`` marks the raters' ceiling on the colour bar (:func:`_cross_test_heatmaps`)."""
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
        raters = _raters_marks(ceilings, metric, [test])
        figure = matrix_plots.cross_test_heatmap(
            long, metric, title=f"{name} on test set {test}", better=direction(metric), limits=limits[metric],
            chance=_marks(chance) | raters, name=name,
        )  # fmt: skip
        figure.axes[0].set_xlabel("train label set")
        figure.axes[0].set_ylabel("model (variant)")
        longest = max(len(str(v)) for v in cells["variant"])
        figure.set_figwidth(min(16.0, figure.get_figwidth() + 0.075 * longest))  # room for long variant names
        caption = (
            f"{name} of every model on test set {test}; {_better(metric)}; one colour scale for every {name} "
            f"heatmap of this report.{_chance_text(chance, limits[metric])}"
        )
        if raters:
            caption += f" Raters' ceiling (mean over raters) on the colour bar: {next(iter(raters.values())):.3f}."
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
        figure = matrix_plots.heatmap(matrix, title=title, normalize_rows=stage.kind == "confusion")
        section.add_figure(f"{stage.kind} {number}", figure, caption=title)


def _training_section(report: Report, run: StudyRun) -> None:
    section = report.add_section(
        "Training",
        "Items per fold (train and dev: kept by the train label set and with "
        "features; test: every item with features), items dropped, by reason, and for models that stop early on "
        "the dev items, the epoch whose weights were kept in each fold. `left out: VALUE items` counts the items "
        "whose split column value names no partition (protocol.split), which no model saw.",
    )
    rows = []
    for (source, train), stage in run.plan.sources.items():
        if stage.kind != "train":
            continue
        folds = run.output(stage).folds
        row = folds.drop(columns="best_epoch", errors="ignore").sum().rename((source, train)).astype(object)
        if "best_epoch" in folds.columns and folds["best_epoch"].ge(0).any():  # early stopping on dev items
            row["best epoch per fold"] = ", ".join(str(int(e)) for e in folds["best_epoch"])
        rows.append(row)
    table = pd.DataFrame(rows)
    table.index = pd.MultiIndex.from_tuples(table.index, names=["variant", "train"])
    table = table.rename(columns={part: f"{part} items" for part in ("train", "dev", "test")})
    table = table.rename(columns=lambda c: f"left out: {c[9:-1]} items" if c.startswith("left_out[") else c)
    empty = [c for c in table.columns if not c.endswith((" items", "per fold")) and table[c].eq(0).all()]
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
