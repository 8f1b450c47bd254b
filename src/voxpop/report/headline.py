"""The headline of a study: its question in one sentence, the answer in a small table, the one figure that answers
it and the warnings that change how to read it; the first section of every report and the last block of the
terminal output of ``voxpop run`` and ``voxpop train``.

The answer is read from the results (item group ``all``): per test label set the best model (variant and train
label set) by the main metric, with its 95 % bootstrap interval and chance level. The main metric is the
recipe's first metric scored on that test set (``evaluation.metrics``; e.g. macro-F1) for categorical test sets
and the CCC (mean over the dimensions) for continuous ones; "best" follows the metric's direction, the first
model in the results' order winning a tie. The raters' own ceiling joins the table when the study has one
(``ceilings``, from ``analyses.ceiling``: :func:`voxpop.report.rater_sections.headline_ceilings`); without it the
column is left out, never filled in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pandas as pd

from voxpop.core.formatting import MISSING, format_ci, metric_name
from voxpop.evaluation.chance import direction
from voxpop.report import matrix_plots, plots
from voxpop.report.cautions import Caution, graded_cautions
from voxpop.report.matrix_sections import _chance_by_test, _chance_text, _marks
from voxpop.report.naming import HEADERS
from voxpop.report.rater_sections import headline_ceilings
from voxpop.report.render import Report

HEADLINE_WARNINGS = 5
"""The most warnings a headline shows; past it, the severe ones and how many more follow."""

CEILING = "raters' ceiling"
"""The column of the raters' ceiling (given through ``ceilings``)."""

CELL_COLUMNS = ("variant", "train", "value", "low", "high", "chance", "n_items")

DIMENSIONAL_METRIC = "ccc"
"""The headline metric of continuous test sets: Lin's CCC, mean over the dimensions."""


@dataclasses.dataclass(frozen=True)
class Headline:
    """The headline of a finished study (:func:`study_headline`).

    Attributes:
        question: the study's question (:func:`study_question`).
        best: one row per test label set, in the results' order: ``test``, ``metric``, ``variant``, ``train``,
            ``value``, ``low``, ``high``, ``chance``, ``n_items``, ``models`` (how many were compared), and
            ``ceiling_value`` / ``ceiling_low`` / ``ceiling_high`` where ``ceilings`` gave them.
        warnings: the warnings shown (:func:`headline_warnings`); ``more``: how many others the full list holds.
    """

    question: str
    best: pd.DataFrame
    warnings: list[str]
    more: int

    @property
    def metric(self) -> str:
        """The main metric: the one most test sets are judged by (the first of them on a tie)."""
        if self.best.empty:
            return ""
        counts = self.best["metric"].value_counts(sort=False)  # in order of first appearance
        return str(counts.index[counts.to_numpy().argmax()])

    def table(self) -> pd.DataFrame:
        """The answer as shown (report and terminal).

        Returns:
            One row per test set: test set, its metric (where they differ), best model (variant, where the study
            has variants), best train set, score [95 % CI], chance, the raters' ceiling (where given), scored
            items and how many models were compared.
        """
        best = self.best
        one_metric = best["metric"].nunique() == 1
        score = f"{headline_metric_name(self.metric)} [95 % CI]" if one_metric else "score [95 % CI]"
        shown = {HEADERS["test"]: best["test"]}
        if not one_metric:
            shown["metric"] = best["metric"].map(headline_metric_name)
        if set(best["variant"]) != {"base"}:  # a study without variants has one model source, 'base'
            shown["best " + HEADERS["variant"]] = best["variant"]
        shown["best " + HEADERS["train"]] = best["train"]
        shown[score] = [format_ci(v, lo, hi) for v, lo, hi in best[["value", "low", "high"]].to_numpy()]
        shown["chance"] = best["chance"].map(lambda v: MISSING if pd.isna(v) else f"{v:.3f}")
        if "ceiling_value" in best.columns:
            cells = best[["ceiling_value", "ceiling_low", "ceiling_high"]].to_numpy()
            shown[CEILING] = [format_ci(v, lo, hi) for v, lo, hi in cells]
        shown["items"] = best["n_items"].astype(int)
        shown["models compared"] = best["models"].astype(int)
        return pd.DataFrame(shown).reset_index(drop=True)


def headline_metric_name(metric: str) -> str:
    """A headline metric as a reader knows it: ``mean CCC`` (over the dimensions) for ``ccc``, else
    :func:`voxpop.core.formatting.metric_name`.

    >>> headline_metric_name("ccc"), headline_metric_name("macro_f1")
    ('mean CCC', 'macro-F1')
    """
    return "mean CCC" if metric == DIMENSIONAL_METRIC else metric_name(metric)


def main_metrics(run) -> dict[str, str]:
    """The headline metric of each test label set the run scored (group ``all``), in the results' order:
    ``ccc`` for continuous test sets, else the first of the recipe's ``evaluation.metrics`` scored on it."""
    overall = run.results[run.results["group"].eq("all")]
    wanted = list(run.recipe.evaluation.metrics)
    chosen = {}
    for test, rows in overall.groupby("test", sort=False):
        scored = set(rows["metric"])
        if DIMENSIONAL_METRIC in scored and run.output(run.plan.labels["test", test]).kind == "continuous":
            chosen[str(test)] = DIMENSIONAL_METRIC
        elif metric := next((m for m in wanted if m in scored), None):
            chosen[str(test)] = metric
    return chosen


def best_models(results: pd.DataFrame, metrics: Mapping[str, str]) -> pd.DataFrame:
    """Per test label set the best (variant, train) cell of its metric, over the results of item group ``all``.

    Args:
        results: tidy results (``voxpop.study.run.RESULT_COLUMNS``: variant, train, test, group, metric, value,
            low, high, chance, n_items).
        metrics: test label set -> its metric (:func:`main_metrics`).

    Returns:
        One row per test set, in the order of ``metrics``: test, metric, variant, train, value, low, high,
        chance, n_items and models (how many cells were compared). Higher or lower is better as the metric says
        (:func:`voxpop.evaluation.chance.direction`); a tie goes to the first cell in the results' order.

    Example:
        >>> r = pd.DataFrame({"variant": "base", "train": ["MR", "PR"], "test": "MR", "group": "all",
        ...                   "metric": "uar", "value": [0.5, 0.6], "low": [0.4, 0.5], "high": [0.6, 0.7],
        ...                   "chance": 0.25, "n_items": 40})
        >>> best_models(r, {"MR": "uar"})[["test", "train", "value", "models"]].to_dict("records")
        [{'test': 'MR', 'train': 'PR', 'value': 0.6, 'models': 2}]
    """
    overall = results[results["group"].eq("all")]
    rows = []
    for test, metric in metrics.items():
        cells = overall[overall["test"].eq(test) & overall["metric"].eq(metric) & overall["value"].notna()]
        if cells.empty:
            continue
        values = cells["value"].astype(float)
        best = cells.loc[values.idxmax() if direction(metric) == "higher" else values.idxmin()]
        rows.append({"test": test, "metric": metric, **{k: best[k] for k in CELL_COLUMNS}, "models": len(cells)})
    return pd.DataFrame(rows, columns=["test", "metric", *CELL_COLUMNS, "models"])


def study_question(recipe, metric: str) -> str:
    """The recipe's ``question``, or one built from its label sets and the main ``metric``.

    Args:
        recipe: the :class:`voxpop.study.recipe.Recipe`.
        metric: the main metric (:attr:`Headline.metric`; empty when nothing was scored).

    Returns:
        One sentence.

    Example:
        >>> from voxpop.study.loading import recipe_from_dict
        >>> r = recipe_from_dict({"study": "s", "corpus": {"demo": {"size": "tiny"}},
        ...     "labels": {"train": {"MR": {"rule": "mr"}, "PR": {"rule": "pr"}}, "test": {"MR": {"rule": "mr"}}}})
        >>> study_question(r, "uar")
        'Which train label set (MR, PR) gives the best UAR on the test label set MR?'
        >>> one = recipe_from_dict({"study": "s", "corpus": {"demo": {"size": "tiny"}},
        ...     "labels": {"train": {"mr": {"rule": "mr"}}, "test": {"mr": {"rule": "mr"}}}})
        >>> study_question(one, "macro_f1")
        'How well does a model trained on mr predict held-out mr labels, by macro-F1?'
    """
    if recipe.question.strip():
        return " ".join(recipe.question.split())
    name = "CCC (mean over the dimensions)" if metric == DIMENSIONAL_METRIC else metric_name(metric or "score")
    train, test = list(recipe.labels.train), list(recipe.labels.test)
    tests = f"the test label set {test[0]}" if len(test) == 1 else f"each test label set ({', '.join(test)})"
    models = "model (variant) and " if recipe.grid or recipe.variants else ""
    if len(train) > 1:
        return f"Which {models}train label set ({', '.join(train)}) gives the best {name} on {tests}?"
    if train and test == train:
        return f"How well does a model trained on {train[0]} predict held-out {train[0]} labels, by {name}?"
    trained = f"a model trained on {train[0]}" if train else "the models"
    return f"How well does {trained} score on {tests}, by {name}?"


def headline_warnings(cautions: list[Caution], limit: int = HEADLINE_WARNINGS) -> tuple[list[str], int]:
    """The warnings a headline shows: all of them when there are at most ``limit``, else the severe ones (at most
    ``limit``) and how many others there are.

    Example:
        >>> found = [Caution("few speakers", False), Caution("12 items", True), Caution("8 items", True)]
        >>> headline_warnings(found, limit=2)
        (['12 items', '8 items'], 1)
        >>> headline_warnings(found, limit=3)
        (['few speakers', '12 items', '8 items'], 0)
    """
    if len(cautions) <= limit:
        return [c.message for c in cautions], 0
    shown = [c.message for c in cautions if c.severe][:limit]
    return shown, len(cautions) - len(shown)


def study_headline(run, ceilings: Mapping[str, tuple[float, float, float]] | None = None) -> Headline:
    """The headline of a finished study (see the module docstring).

    Args:
        run: a finished :class:`voxpop.study.run.StudyRun`.
        ceilings: the raters' ceiling per test label set, ``(value, low, high)`` in the test set's metric; None:
            the run's own (:func:`voxpop.report.rater_sections.headline_ceilings`, from ``analyses.ceiling``; no
            ceiling column without that analysis).

    Returns:
        The :class:`Headline`.
    """
    metrics = main_metrics(run)
    best = best_models(run.results, metrics)
    if ceilings is None:
        ceilings = headline_ceilings(run, metrics)
    if ceilings is not None:
        given = [ceilings.get(t, (float("nan"),) * 3) for t in best["test"]]
        best = best.assign(**{f"ceiling_{k}": [g[i] for g in given] for i, k in enumerate(("value", "low", "high"))})
    warnings, more = headline_warnings(graded_cautions(run))
    headline = Headline("", best, warnings, more)
    return dataclasses.replace(headline, question=study_question(run.recipe, headline.metric))


def headline_section(
    report: Report, run, ceilings: Mapping[str, tuple[float, float, float]] | None = None
) -> Headline:
    """Add the headline as the report's lead section (before the contents): the question, the answer table, the
    warnings that change how to read it and the one figure: the train x test heatmap of the main metric for the
    model variant that wins most test sets where the study cross-tests, else bars of the best models with their
    intervals and chance levels.

    Args:
        report: the report (the headline should be its first section).
        run: a finished :class:`voxpop.study.run.StudyRun`.
        ceilings: the raters' ceiling per test set (:func:`study_headline`).

    Returns:
        The :class:`Headline` shown (its ``more``: warnings left for a full list below).
    """
    headline = study_headline(run, ceilings)
    section = report.add_section("Headline", f"**Question:** {headline.question}", lead=True)
    if headline.best.empty:
        section.add_text("No model was scored: the study has no results to answer it with.")
        if headline.warnings:
            section.add_text("**Read with care:**\n\n" + "\n".join(f"- {w}" for w in headline.warnings))
        return headline
    metric = headline.metric
    caption = (
        f"Per test label set the best of the models compared by {headline_metric_name(metric)} ({direction(metric)} is "
        "better), with its 95 % bootstrap interval and the chance level; every cell is in the Results section."
    )
    section.add_table("Headline", headline.table(), caption=caption)
    if headline.warnings:
        more = f"\n\n{headline.more} more in the Warnings section below." if headline.more else ""
        section.add_text("**Read with care:**\n\n" + "\n".join(f"- {w}" for w in headline.warnings) + more)
    _headline_figure(section, run, headline)
    return headline


def _headline_figure(section, run, headline: Headline) -> None:
    metric = headline.metric
    overall = run.results[run.results["group"].eq("all") & run.results["metric"].eq(metric)]
    best = headline.best[headline.best["metric"].eq(metric)]
    name = headline_metric_name(metric)
    if overall["train"].nunique() > 1 and overall["test"].nunique() > 1:  # a cross-testing study
        wins = best["variant"].value_counts(sort=False)
        variant = wins.index[wins.to_numpy().argmax()]
        cells = overall[overall["variant"].eq(variant)]
        chance = _chance_by_test(cells)
        limits = matrix_plots.shared_limits(overall)[metric]
        raters = {}
        if "ceiling_value" in best.columns:  # the raters' ceiling: marked on the colour bar, inside the scale
            ceilings = best.set_index("test")["ceiling_value"].dropna().astype(float)
            raters = {f"raters {t}": float(v) for t, v in ceilings.items()}
            if ceilings.nunique() == 1:
                raters = {"raters": float(ceilings.iloc[0])}
            limits = (min([limits[0], *raters.values()]), max([limits[1], *raters.values()]))
        figure = matrix_plots.cross_test_heatmap(
            cells, metric, title=f"{name}: train (rows) x test (columns), {variant}", better=direction(metric),
            limits=limits, chance=_marks(chance) | raters, name=name,
        )  # fmt: skip
        caption = (
            f"{name} of every train x test cell of {variant} (the variant best on {wins[variant]} of "
            f"{len(best)} test sets), 95 % bootstrap intervals; the colour scale of the Results section's "
            f"{name} heatmaps.{_chance_text(chance, limits)}"
        )
        if raters:
            caption += " Raters' ceiling (mean over raters) marked on the colour bar: " + ", ".join(
                f"{k} {v:.3f}" for k, v in raters.items()
            )
            caption += "."
        section.add_figure(f"headline {metric}", figure, caption=caption)
        return
    long = best.assign(train=best["test"], test="best model")
    figure = plots.metric_bars(long, metric, title=f"Best model per test set: {name}", better=direction(metric),
                               name=name)  # fmt: skip
    figure.axes[0].set_xlabel(HEADERS["test"])
    models = ", ".join(f"{t}: {v} / {r}" for t, v, r in best[["test", "variant", "train"]].to_numpy())
    caption = (
        f"{name} of the best model (variant / train label set) per test set ({models}); whiskers: 95 % bootstrap "
        "intervals; red dotted: chance level."
    )
    section.add_figure(f"headline {metric}", figure, caption=caption)
