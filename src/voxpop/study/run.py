"""Run a study: check it, plan its stages, run each once through the content-hash cache, write results and runs.

:func:`run_recipe` takes a :class:`~voxpop.study.definition.Study` (or a recipe, made one by
:func:`~voxpop.study.definition.build_study`) and (1) builds or imports the corpus (cached) or loads it,
(2) checks the study against it (:func:`voxpop.study.checks.check_recipe`) before any other work, (3) plans
every stage of every variant (:func:`voxpop.study.plan.plan_study`), (4) runs the stages in order, reusing
finished ones, and (5) writes ``results.parquet`` (tidy: study, variant, train, test, group, metric, value,
low, high, n_items, n_excluded, chance, fold_mean, fold_sd, n_folds ...) and ``runs.json`` (the trained models
of every target kind, :mod:`voxpop.models.saved_runs`) into the output directory; the caller renders the
report (``on_run``: :func:`voxpop.report.study.write_study_report`). The finished run is a :class:`StudyRun`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from voxpop.core.cache import Cache, Stage, atomic_write
from voxpop.core.errors import VoxpopError
from voxpop.core.progress import Reporter
from voxpop.corpus import Corpus
from voxpop.features.store import fingerprint_items, fingerprints_hash
from voxpop.features.store_admin import default_store_root
from voxpop.models.saved_runs import write_runs
from voxpop.study.checks import check_recipe
from voxpop.study.corpus_source import Merged, load_merged, prepare_corpus
from voxpop.study.definition import Study, as_study
from voxpop.study.execution import StageError as StageError  # re-exported: raised by run_recipe
from voxpop.study.execution import StageRunner
from voxpop.study.leakage import Audit
from voxpop.study.leakage_check import preflight_audit
from voxpop.study.plan import Plan, label_stages, plan_study
from voxpop.study.recipe import Recipe

RESULT_COLUMNS = [
    "study",
    "variant",
    "train",
    "test",
    "group",
    "metric",
    "value",
    "low",
    "high",
    "n_items",
    "n_excluded",
    "chance",
    "absent_classes",
    "tie_policy",
    "n_tied",
    "fold_mean",
    "fold_sd",
    "n_folds",
]
"""The columns of ``results.parquet``, for classes and dimensions alike (:func:`results_table`)."""

PENDING_CORPUS = "corpus not built yet"
"""The stand-in corpus key (and merged corpora's class) of :func:`planned_stages` (a real key is a content hash)."""


@dataclasses.dataclass
class StudyRun:
    """What a run produced: the recipe, corpus, plan, every stage's loaded output and the results table, and
    the :class:`~voxpop.study.definition.Study` it ran.

    Attributes:
        recipe: the study's recipe (variants expanded in ``plan``).
        corpus: the corpus the study ran on, after ``where``.
        plan: every stage of every variant, in order (:func:`voxpop.study.plan.plan_study`).
        outputs: each stage's loaded output by stage key (see :meth:`output`).
        results: the tidy results table (:data:`RESULT_COLUMNS`), as written to ``results.parquet``.
        executed: the labels of the stages computed by this run.
        reused: the labels of the stages found finished in the cache (from an earlier computation).
        out_dir: the output directory (``cache/``, ``results.parquet``, ``runs.json``, the report).
        merged: for a recipe with ``corpora``, what merging them did (one accounting row per corpus, each
            corpus's classes after its class map); None otherwise.
        study: the :class:`~voxpop.study.definition.Study` that ran (None when not given).
        audit: the pre-flight leakage audit (:func:`voxpop.study.leakage_check.preflight_audit`); None with
            ``audit: off``.
    """

    recipe: Recipe
    corpus: Corpus
    plan: Plan
    outputs: dict[str, Any]
    results: pd.DataFrame
    executed: list[str]
    reused: list[str]
    out_dir: Path
    merged: Merged | None = None
    study: Study | None = None
    audit: Audit | None = None

    def output(self, stage: Stage) -> Any:
        """The loaded output of one of the plan's stages."""
        return self.outputs[stage.key]


def results_table(recipe: Recipe, plan: Plan, outputs: Mapping[str, Any]) -> pd.DataFrame:
    """All evaluations as one tidy table (:data:`RESULT_COLUMNS`).

    Args:
        recipe: the study's recipe (its name fills ``study``); plan: its plan; outputs: loaded outputs by stage key.

    Returns:
        One row per evaluation cell, group and metric.
    """
    tables = [
        outputs[stage.key].assign(study=recipe.study, variant=source, train=train, test=test)
        for (source, train, test), stage in plan.evaluations.items()
    ]
    if not tables:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    return pd.concat(tables, ignore_index=True)[RESULT_COLUMNS]


def run_recipe(
    recipe: Study | Recipe,
    out_dir: str | Path,
    *,
    source: str = "recipe",
    reporter: Reporter | None = None,
    on_run: Callable[[StudyRun, Callable | None], None] | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    security: Any = None,
    threads: int = 1,
    client: Any = None,
) -> StudyRun:
    """Run every stage of ``recipe`` not yet in ``out_dir/cache`` and write results and runs into ``out_dir``.

    ``workers=1`` without ``scheduler`` runs the stages one after the other in this process; otherwise
    independent stages run at once on a Dask ``LocalCluster`` of ``workers`` processes, or on the cluster
    at ``scheduler`` (``tcp://HOST:PORT`` / ``tls://...``, with ``security`` a
    ``distributed.security.Security``), whose workers must see ``out_dir`` (:mod:`voxpop.study.scheduler`).
    Every stage computes with ``threads`` threads in both modes, so results are byte-identical. ``client``:
    a ``distributed.Client`` already connected (:func:`voxpop.core.cluster.connect`) instead of a new one.
    ``on_run(run, submit)`` is called with the finished :class:`StudyRun` before the cluster closes (``submit``:
    the cluster's ``client.submit``, or None in-process): :func:`voxpop.report.study.write_study_report`
    writes the report there.

    Args:
        recipe: the :class:`~voxpop.study.definition.Study` (a recipe is made one for ``out_dir``).
        out_dir: the output directory (``cache/``, ``results.parquet``, ``runs.json``).
        source: where a recipe came from, for error messages (a study carries its own).
        reporter: progress and notices of the stages (:class:`voxpop.core.progress.Reporter`); None: a default one.
        on_run: called as ``on_run(run, submit)`` with the finished :class:`StudyRun` before the cluster closes
            (``submit``: the cluster's ``client.submit``, or None in-process), e.g.
            :func:`voxpop.report.study.write_study_report`; None: nothing is rendered.
        workers: Dask worker processes of a ``LocalCluster``; 1 (and no ``scheduler``): in this process.
        scheduler: the address of a running Dask scheduler (``tcp://HOST:PORT`` / ``tls://...``); its workers must
            see ``out_dir``.
        security: a ``distributed.security.Security`` for a ``tls://`` scheduler.
        threads: CPU threads of every stage, in both modes (results are byte-identical).
        client: a ``distributed.Client`` already connected (:func:`voxpop.core.cluster.connect`), used instead of
            a new one.

    Returns:
        The finished :class:`StudyRun`; ``results.parquet`` and ``runs.json`` are written into ``out_dir``.

    Raises:
        ConfigError: the pre-flight check's problems, each with its key path, before any work, or a study built
            for another output directory than ``out_dir``.
        InputError: a corpus directory the recipe names that is missing or unreadable.
        StageError: a stage that failed, naming it and its directory.
    """
    reporter = reporter or Reporter()
    out_dir = Path(out_dir).absolute()  # workers elsewhere write into the same folder
    study = as_study(recipe, out_dir, source)
    cache = Cache(out_dir / "cache", notice=reporter.notice, inside=out_dir)
    outputs: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        if client is None and (workers != 1 or scheduler is not None):  # it starts while the corpus is prepared
            from voxpop.core.cluster import connect

            client = stack.enter_context(connect(workers, scheduler, security, preload=True))
        map_function = map
        if client is not None:
            from voxpop.core.cluster import cluster_map

            map_function = cluster_map(client)
        first = 1 if study.corpus_stage is not None else 0  # the corpus stage is stage 1 of the run
        corpus, corpus_key = prepare_corpus(study, cache, reporter, map_function, total=run_length(study))
        merged = load_merged(study, cache)
        # the check builds each label set through its labels stage (cached), so the runner finds it done;
        # merged corpora label on the classes the plan chooses (e.g. the shared ones), after the check
        stages = None if merged else label_stages(study, corpus_key)
        check_recipe(study, corpus, map_function=map_function, threads=threads, cache=cache, label_stages=stages)
        audit = preflight_audit(study, corpus, out_dir, reporter.notice)
        plan = plan_study(study, corpus_key, merged.classes if merged else None, audio_files_key(corpus))
        runner = stage_runner(study, plan, corpus, out_dir, threads)
        if client is not None:
            from voxpop.study.scheduler import run_plan

            run_plan(plan, runner, cache, reporter, client, first)
        total = first + len(plan.order)
        for position, stage in enumerate(plan.order if client is None else (), start=first + 1):
            run_reported(runner, stage, cache, outputs, reporter, position, total)
        outputs = {stage.key: runner.output(stage, cache, outputs, consumer=None) for stage in plan.order}
        results = results_table(study.recipe, plan, outputs)
        atomic_write(out_dir / "results.parquet", lambda handle: results.to_parquet(handle, index=False))
        run = StudyRun(
            study.recipe, corpus, plan, outputs, results, cache.executed, cache.reused, out_dir, merged, study, audit
        )
        write_runs(run)
        if on_run is not None:  # e.g. voxpop.report.study.write_study_report, while the cluster is still open
            on_run(run, None if client is None else functools.partial(client.submit, pure=False))
    return run


def audio_files_key(corpus: Corpus) -> str | None:
    """The identity of the corpus items' audio files (path, size and modification time per item,
    :func:`voxpop.features.store.fingerprints_hash`), or None for a corpus without an ``audio`` column.

    Part of the features stages' keys: a changed file makes them run again, and the feature store, keyed on
    the same fingerprints, extracts them again instead of reading the old entry.
    """
    if "audio" not in corpus.items.columns:
        return None
    return fingerprints_hash(fingerprint_items(corpus.items))


def run_reported(
    runner: StageRunner,
    stage: Stage,
    cache: Cache,
    outputs: dict[str, Any],
    reporter: Reporter,
    position: int,
    total: int,
) -> None:
    """Run one stage in this process between its progress events: ``reporter.stage`` before (reused or not,
    by the cache's check), the computation's inner progress as ``reporter.step`` and ``reporter.finish`` with its
    wall time when it was computed (also when outputs found done were unreadable and recomputed). A label set
    the pre-flight check built through its stage earlier in this run is reported computed, with the check's time.

    Args:
        runner: the study's stage runner; stage: the stage; cache: the stage cache; outputs: loaded outputs by
        stage key (the stage's are added); reporter: the progress events' receiver; position / total: the
        stage's 1-based position among the run's ``total`` stages.

    Raises:
        StageError: the stage failed.
    """
    earlier = cache.seconds.get(stage.name)  # computed in this run before the plan ran (by the check)
    reporter.stage(stage.label, position, total, earlier is None and cache.is_done(stage))
    started, computed = time.monotonic(), len(cache.executed)
    runner.run(stage, cache, outputs, reporter.step, reporter.notice)
    if len(cache.executed) > computed:
        reporter.finish(stage.label, position, time.monotonic() - started)
    elif earlier is not None:
        reporter.finish(stage.label, position, earlier)


def planned_stages(study: Study) -> list[Stage]:
    """Every stage of a run of ``study`` before its corpus is built: its corpus stage (when it builds, imports or
    merges one) and the plan's stages on a stand-in corpus key.

    The labels and kinds are those of the real plan; the keys are not (they depend on the built corpus), so
    the stages only count and name what the run will do (the progress display's total, ``--dry-run``).
    Merged corpora are planned with one stand-in class per corpus (their classes are known once they are merged),
    which every corpus shares, as the real classes are shared or mapped per test corpus.

    Args:
        study: the study.

    Returns:
        The stages in the order they run.

    Raises:
        ConfigError: what :func:`~voxpop.study.plan.plan_study` raises for the recipe.
    """
    corpus = [study.corpus_stage] if study.corpus_stage is not None else []
    classes = {name: [PENDING_CORPUS] for name in study.recipe.corpora} or None
    return corpus + plan_study(study, PENDING_CORPUS, classes).order


def run_length(study: Study) -> int:
    """How many stages a run of ``study`` reports (:func:`planned_stages`); 0 (unknown) when the recipe cannot be
    planned, which the pre-flight check then reports after the corpus stage."""
    if study.corpus_stage is None:
        return 0  # the plan's count is known before any stage runs
    try:
        return len(planned_stages(study))
    except VoxpopError:
        return 0


def stage_runner(study: Study, plan: Plan, corpus: Corpus, out_dir: Path, threads: int = 1) -> StageRunner:
    """The :class:`~voxpop.study.execution.StageRunner` of a planned study writing into ``out_dir/cache``, its
    features into the recipe's ``features.store`` or else the user's feature store
    (:func:`~voxpop.features.store_admin.default_store_root`), shared by every output folder.

    Args:
        study: the study; plan: its plan; corpus: its corpus (after ``where``); out_dir: the output directory;
        threads: CPU threads of every stage.

    Returns:
        The runner (picklable: Dask sends it to its workers).
    """
    recipe = study.recipe
    store = Path(recipe.features.store) if recipe.features.store else default_store_root()
    fusion = recipe.analyses.fusion
    imported = {n: str(p) for n, p in fusion.predictions.items()} if fusion is not None else {}
    return StageRunner(out_dir / "cache", out_dir, corpus, store, imported, plan.segments, threads)


def dry_run(
    recipe: Study | Recipe, out_dir: Path, workers: int, scheduler: str | None, source: str = "recipe"
) -> list[dict]:
    """The plan of ``recipe`` in ``out_dir`` without computing anything: one row per stage with its ``stage``
    label, ``kind``, ``status`` (cached / pending) and ``where`` it would run (:func:`voxpop.study.scheduler.where`).

    Every stage of the run is listed, as many as a run reports: while the corpus stage is pending it is not
    built (nor the study checked against it) and every stage after it is pending (:func:`planned_stages`);
    once it is cached the study is checked and each stage's status read from the cache.

    Args:
        recipe: the :class:`~voxpop.study.definition.Study` (a recipe is made one for ``out_dir``).
        out_dir: its output directory (whose ``cache/`` says which stages are done).
        workers: Dask worker processes the stages would run on (1: in this process).
        scheduler: the address of the Dask scheduler the stages would run on, or None.
        source: where a recipe came from, for error messages (a study carries its own).

    Returns:
        One dict per stage: ``stage``, ``kind``, ``status``, ``where``.

    Raises:
        ConfigError: the pre-flight check's problems (checked once the corpus is cached), or a study built for
            another output directory.
        InputError: a corpus directory the recipe names that is missing or unreadable.
    """
    from voxpop.study.scheduler import where

    study = as_study(recipe, out_dir, source)
    cache = Cache(out_dir / "cache", inside=out_dir)
    corpus_stage = study.corpus_stage
    rows = []
    if corpus_stage is not None:
        status = "cached" if cache.is_done(corpus_stage) else "pending"
        rows.append({"stage": corpus_stage.label, "kind": corpus_stage.kind, "status": status, "where": "in-process"})
    if corpus_stage is not None and status == "pending":
        stages, done = planned_stages(study)[1:], lambda stage: False
    else:
        corpus, corpus_key = prepare_corpus(study, cache, Reporter())
        check_recipe(study, corpus)
        merged = load_merged(study, cache)
        planned = plan_study(study, corpus_key, merged.classes if merged else None, audio_files_key(corpus))
        stages, done = planned.order, cache.is_done
    for stage in stages:
        status = "cached" if done(stage) else "pending"
        place = where(stage, workers, scheduler)
        if stage.kind == "features" and status == "pending" and (workers > 1 or scheduler):
            place += ", split into one shard task per worker"
        rows.append({"stage": stage.label, "kind": stage.kind, "status": status, "where": place})
    return rows
