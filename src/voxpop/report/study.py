"""The report of a study run: tables and figures rendered with :mod:`voxpop.report.render` and
:mod:`voxpop.report.plots`.

The headline comes first (:mod:`voxpop.report.headline`: the question, the best model per test set, the one
figure and the warnings that change how to read it), then every warning where the headline could not show them
all, and sections as the recipe asks for them: study and label sets (always), agreement, loss
accounting, threshold sweep, agreement between label sets, results (main table with 95 % bootstrap
intervals and one cross-test heatmap per model source and metric), confusion matrices / MLCMs,
training (fold sizes, dropped items, layer weights), easy / difficult items, fusion weights and tuned
decisions, the raters' ceiling and calibration against the raters (:mod:`voxpop.report.rater_sections`). The
report holds no times or dates, so the same cache gives byte-identical files.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from voxpop.core.cache import output_directory
from voxpop.corpus import demo
from voxpop.corpus.classmap import resolve_classes
from voxpop.report.agreement_sections import _agreement_sections
from voxpop.report.budget_sections import budget_section
from voxpop.report.cautions import identical_label_sets
from voxpop.report.headline import headline_section
from voxpop.report.leakage_section import leakage_section
from voxpop.report.matrix_sections import _derived_section, _easy_section, _matrix_section, _training_section
from voxpop.report.naming import DEMO_NOTICE, _flag_identical
from voxpop.report.rater_sections import calibration_section, ceiling_section
from voxpop.report.regression_sections import continuous_label_section, evaluates, regression_results_section
from voxpop.report.render import FIGURES_DIR, Report
from voxpop.report.result_sections import _corpus_matrix_section, _results_section, resampled_units
from voxpop.study.run import StudyRun


def build_report(run: StudyRun, submit: Callable | None = None) -> Report:
    """The whole report of a study run, for label sets of every kind: a section whose inputs the run lacks
    (no categorical cells, no continuous label set, no matrices, ...) adds nothing.

    Args:
        run: the finished :class:`~voxpop.study.run.StudyRun`.
        submit: renders the figures elsewhere as they are drawn (see :class:`voxpop.report.render.Report`).

    Returns:
        The :class:`~voxpop.report.render.Report`, ready to write.
    """
    recipe = run.recipe
    specs = [recipe.corpus] if recipe.corpus is not None else list(recipe.corpora.values())
    synthetic = any(spec.demo is not None for spec in specs) or run.corpus.source == demo.SOURCE
    notice = recipe.notice or (DEMO_NOTICE if synthetic else None)
    report = Report(recipe.title or f"Study {recipe.study}", f"corpus {run.corpus.name!r}", notice, submit)
    if headline_section(report, run).more:  # the headline shows every warning when they are few
        _cautions_section(report, run)
    _study_section(report, run)
    leakage_section(report, run)
    _label_section(report, run)
    continuous_label_section(report, run)
    _agreement_sections(report, run)
    budget_section(report, run)
    if evaluates(run, "categorical"):
        _results_section(report, run)
    regression_results_section(report, run)
    if run.plan.evaluations and run.recipe.protocol.corpus_level:
        _corpus_matrix_section(report, run)
    if run.plan.matrices:
        _matrix_section(report, run)
    if run.plan.sources:
        _training_section(report, run)
    _derived_section(report, run)
    if "easy_difficult" in run.plan.analyses:
        _easy_section(report, run)
    ceiling_section(report, run)
    calibration_section(report, run)
    return report


def _cautions_section(report: Report, run: StudyRun) -> None:
    """What a careful colleague would point out before anyone reads the numbers (:mod:`voxpop.report.cautions`)."""
    from voxpop.report.cautions import study_cautions

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
    rows = []
    for (part, name), stage in run.plan.labels.items():
        labels = run.output(stage)
        if labels.kind != "categorical":  # continuous label sets: voxpop.report.regression_sections
            continue
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
        _flag_identical(section, identical_label_sets(run, "categorical"))


def write_study_report(run: StudyRun, submit: Callable | None = None) -> None:
    """Write the report of ``run`` into its output directory (figures of an earlier recipe version removed).

    Writes ``report.html``, ``report.md``, ``figures/*.png`` / ``*.pdf`` and ``tables/*.tex`` / ``*.csv``
    (:meth:`voxpop.report.render.Report.write`); the same cache gives byte-identical files.

    Args:
        run: the finished :class:`~voxpop.study.run.StudyRun`; its ``out_dir`` receives the report.
        submit: renders the figures elsewhere as they are drawn (:class:`voxpop.report.render.Report`:
            ``functools.partial(client.submit, pure=False)`` renders them on a Dask cluster's workers while this
            process builds the rest of the report); None renders them here.

    Raises:
        VoxpopError: ``figures/`` or ``tables/`` in the output directory is a symlink leading outside it, or
            exists and is not a folder (:func:`voxpop.core.cache.output_directory`).
    """
    for stale in output_directory(run.out_dir, FIGURES_DIR).glob("*.png"):
        stale.unlink()
    build_report(run, submit).write(run.out_dir)
