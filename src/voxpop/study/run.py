"""Run a recipe: plan its stages, run each once through the content-hash cache, write results and the report.

:func:`run_recipe` (1) builds or imports the corpus (cached) or loads it, (2) checks the recipe against
it (:func:`voxpop.study.checks.check_recipe`) before any other work, (3) plans every stage of every
variant (:func:`plan_study`), (4) runs the stages in order, reusing finished ones, and (5) writes
``results.parquet`` (tidy: study, variant, train, test, group, metric, value, low, high, n_items,
n_excluded, chance, fold_mean, fold_sd, n_folds ...), ``runs.json`` (the trained models,
:mod:`voxpop.models.saved_runs`), ``report.html``, ``report.md`` and ``figures/`` into the output directory.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from voxpop.core.cache import Cache, Stage, atomic_write, output_directory, parse_json, stable_hash, write_text
from voxpop.core.errors import ConfigError, VoxpopError
from voxpop.core.progress import Reporter
from voxpop.corpus import Corpus
from voxpop.corpus.merge import MergeSource, class_map_problems, mapped_classes, merge_corpora
from voxpop.labels import LabelSet
from voxpop.models.saved_runs import write_runs
from voxpop.study import stages as st
from voxpop.study.checks import check_recipe
from voxpop.study.execution import StageError as StageError  # re-exported: raised by run_recipe
from voxpop.study.execution import StageRunner, run_stage
from voxpop.study.loading import expand_variants, recipe_error
from voxpop.study.plan import RESULT_COLUMNS as RESULT_COLUMNS  # re-exported, as the types below
from voxpop.study.plan import Merged as Merged
from voxpop.study.plan import Plan as Plan
from voxpop.study.plan import StudyRun as StudyRun
from voxpop.study.plan import features_stage
from voxpop.study.recipe import CorpusSpec, Recipe, multilabel_rule


# ====================================================================== the plan
def label_classes(recipe: Recipe, corpus_classes: Mapping[str, list[str]] | None) -> tuple[Any, Any]:
    """The class lists of the train and the test label sets (None: every class of the corpus).

    One corpus: ``classes`` of the recipe for both. Several corpora (``corpus_classes``: each corpus's
    classes after its class map): ``classes`` or else the classes every corpus has, for both; with
    ``protocol.cross_corpus.classes: train``, the training corpora's classes (or ``classes``) for the
    train label sets and every merged class for the test ones (predictions are mapped per test corpus).
    Raises :class:`ConfigError` when the corpora share no class and the recipe names none.

    >>> from voxpop.study.recipe import ProtocolConfig
    >>> from voxpop.study.loading import recipe_from_dict
    >>> r = recipe_from_dict({"study": "s", "corpora": {"a": {"demo": {}}, "b": {"demo": {}}},
    ...                       "protocol": {"cross_corpus": {"train": ["a"], "test": ["b"], "classes": "train"}}})
    >>> label_classes(r, {"a": ["anger", "calm", "sad"], "b": ["anger", "sad", "fear"]})
    (['anger', 'calm', 'sad'], None)
    >>> label_classes(r.model_copy(update={"protocol": ProtocolConfig()}), {"a": ["anger", "calm"], "b": ["anger"]})
    (['anger'], ['anger'])
    >>> label_classes(r.model_copy(update={"protocol": ProtocolConfig()}), {"a": ["calm"], "b": ["anger"]})
    Traceback (most recent call last):
    ...
    voxpop.core.errors.ConfigError: corpora: no class is shared by every corpus after its class map (a: calm; b: ...
    """
    if not corpus_classes:
        return recipe.classes, recipe.classes
    cross = recipe.protocol.cross_corpus
    if cross is not None and cross.classes == "train":
        trained = list(dict.fromkeys(c for name in cross.train for c in corpus_classes[name]))
        return recipe.classes or trained, None
    lists = list(corpus_classes.values())
    shared = [c for c in lists[0] if all(c in other for other in lists[1:])]
    if not shared and not recipe.classes:
        listed = "; ".join(f"{name}: {', '.join(c)}" for name, c in corpus_classes.items())
        raise ConfigError(
            f"corpora: no class is shared by every corpus after its class map ({listed}); map the labels onto "
            "common names with corpora.NAME.class_map, or set protocol.cross_corpus.classes: train"
        )
    return recipe.classes or shared, recipe.classes or shared


def plan_study(recipe: Recipe, corpus_key: str, corpus_classes: Mapping[str, list[str]] | None = None) -> Plan:
    """The stages of ``recipe`` on the corpus whose content (and item subset) hashes to ``corpus_key``.

    Interval label sets (rule ``intervals``) label segments, not the corpus items: a ``segments`` stage
    builds the corpus of the union of their segments, and features (hence models) are made on it.
    ``corpus_classes`` (recipes with ``corpora``: each corpus's classes after its class map) sets the
    label sets' classes (:func:`label_classes`); with ``cross_corpus.classes: train`` each test corpus's
    cells map the predictions onto that corpus's classes.
    """
    from voxpop.study import dimensional as dimensional_study

    if dimensional_study.is_dimensional(recipe):
        return dimensional_study.plan_dimensional(recipe, corpus_key)
    base = {"corpus": corpus_key, "classes": recipe.classes, "class_map": recipe.class_map}
    part_classes = dict(zip(("train", "test"), label_classes(recipe, corpus_classes), strict=True))
    a = recipe.analyses
    sweep = None
    if a.threshold_sweep is not None:
        sweep = Stage("sweep", "threshold sweep", {**base, "spec": a.threshold_sweep.model_dump(mode="json")})
    labels = {}
    for part in ("train", "test"):
        for name, spec in getattr(recipe.labels, part).items():
            inputs = (sweep,) if spec.threshold == "best" else ()
            config = {**base, "classes": part_classes[part], "spec": spec.config()}
            if spec.path is not None:  # a saved label set: its content, not its name
                config["sha256"] = _file_hash(spec.path)
            overrides = {c: e.labels[name].config() for c, e in recipe.corpora.items() if name in e.labels}
            if overrides:  # these corpora's items get their own rule (stages.compute_labels)
                config["overrides"] = overrides
            labels[part, name] = Stage("labels", f"labels {name}", config, inputs)
    intervals = {s.key: s for (p, n), s in labels.items() if getattr(recipe.labels, p)[n].rule == "intervals"}
    segments = Stage("segments", "segment corpus", {}, tuple(intervals.values())) if intervals else None
    named = {
        **{n: s for (p, n), s in labels.items() if p == "test"},
        **{n: s for (p, n), s in labels.items() if p == "train"},
    }
    features, sources = {}, {}
    normalisation = {name: c.normalisation for name, c in recipe.corpora.items()}
    normalisation = normalisation if set(normalisation.values()) - {"global"} else None
    variant_list = expand_variants(recipe)
    tuning = [t for t in (a.fusion, a.tuned_decisions) if t is not None]
    dev_predictions = any(t.tune_on == "dev" for t in tuning)  # fold models predict their own dev items
    for variant, v in variant_list if recipe.labels.train else ():
        features[variant] = features_stage(corpus_key, v.features, normalisation, segments)
        protocol = v.protocol.name_and_options()
        model = v.model.spec().model_dump(mode="json")
        for train in recipe.labels.train:
            config = {
                "corpus": corpus_key,
                "model": model,
                "protocol": list(protocol),
                "dev_predictions": dev_predictions,
            }
            sources[variant, train] = Stage(
                "train", f"train {train} ({variant})", config, (features[variant], labels["train", train])
            )
    names = [name for name, _ in variant_list]
    for train in recipe.labels.train:
        trained = tuple(sources[v, train] for v in names)
        if a.ensemble and len(names) > 1:
            sources["ensemble", train] = Stage("ensemble", f"ensemble {train}", {}, trained)
        if a.fusion is not None and len(names) + len(a.fusion.predictions) > 1:
            imported = {n: _file_hash(p) for n, p in a.fusion.predictions.items()}
            config = {**a.fusion.model_dump(mode="json"), "imported": imported, "variants": names}
            sources["fusion", train] = Stage("fusion", f"fusion {train}", config, (*trained, labels["train", train]))
        if a.tuned_decisions is not None:
            for v in names:
                sources[f"{v} +tuned", train] = Stage(
                    "tuned",
                    f"tuned decisions {train} ({v})",
                    a.tuned_decisions.model_dump(),
                    (sources[v, train], labels["train", train]),
                )
    e = recipe.evaluation
    evaluation = {
        "format": st.EVALUATION_FORMAT,
        "corpus": corpus_key,
        "bootstrap": e.bootstrap,
        "seed": e.seed,
        "by": e.by or ("corpus" if recipe.corpora else None),
        "binarize": e.binarize,
        "tie_policy": e.tie_policy,
    }
    if e.resample != "items":  # only then: the stage keys of item-bootstrap studies stay as they were
        evaluation["resample"] = e.resample
    cross = recipe.protocol.cross_corpus
    if cross is not None and cross.classes == "train":
        evaluation["corpus_classes"] = {name: corpus_classes[name] for name in cross.test}
    matrix = {"binarize": e.binarize, "tie_policy": e.tie_policy, "seed": e.seed}
    evaluations, matrices = {}, {}
    for (source, train), stage in sources.items():
        for test, spec in recipe.labels.test.items():
            if not e.cross_test and test != train:
                continue
            cell = (source, train, test)
            test_stage = labels["test", test]
            evaluations[cell] = Stage(  # the train labels give the KLD / JSD chance level (prior baseline)
                "evaluate",
                f"evaluate {train} -> {test} ({source})",
                evaluation,
                (stage, test_stage, labels["train", train]),
            )
            wanted = a.mlcm if multilabel_rule(spec) else a.confusion
            if wanted is not None and source in names and (wanted.cells == "all" or test == train):
                kind = "mlcm" if multilabel_rule(spec) else "confusion"
                matrices[cell] = Stage(kind, f"{kind} {train} -> {test} ({source})", matrix, (stage, test_stage))
    analyses = {}
    if a.agreement is not None:
        analyses["agreement"] = Stage("agreement", "agreement table", {**base, "spec": a.agreement.model_dump()})
    if a.loss_accounting is not None:
        analyses["accounting"] = Stage(
            "accounting", "loss accounting", {**base, "spec": a.loss_accounting.model_dump()}
        )
    if a.ccc is not None:
        analyses["ccc"] = Stage(
            "ccc",
            f"{a.ccc.stat} between label sets",
            {"stat": a.ccc.stat, "sets": a.ccc.sets, "bootstrap": e.bootstrap, "seed": e.seed},
            tuple(named[s] for s in a.ccc.sets),
        )
    if a.easy_difficult is not None and recipe.labels.train:
        spec = a.easy_difficult
        trained = tuple(sources[v, t] for v in names for t in recipe.labels.train)
        analyses["easy_difficult"] = Stage(
            "easy_difficult",
            f"easy / difficult items on {spec.test}",
            {"corpus": corpus_key, **spec.model_dump(), "sources": [s.label for s in trained]},
            (*trained, labels["test", spec.test]),
        )
    return Plan(labels, sweep, segments, features, sources, evaluations, matrices, analyses, names)


def _file_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ====================================================================== the corpus
def corpus_source(recipe: Recipe) -> tuple[Stage | None, str]:
    """The corpus build stage (demo, import or merge; None for a saved corpus) and the key of the corpus content.

    A recipe with ``corpora`` always has a merge stage: it builds or loads each corpus and merges them
    (:func:`voxpop.corpus.merge.merge_corpora`, namespaces = the corpus names, each with its class map).
    """
    if not recipe.corpora:
        return _single_source(recipe.corpus, "corpus")
    parts = {}
    for name, entry in recipe.corpora.items():
        stage, key = _single_source(entry, f"corpora.{name}")
        parts[name] = {
            "key": key,
            "build": stage.config if stage is not None else None,
            "path": entry.path,
            "class_map": entry.class_map,
        }
    stage = Stage("corpus", f"merge {' + '.join(recipe.corpora)}", {"merge": parts})
    return stage, stage.key


def _single_source(spec: CorpusSpec, where: str) -> tuple[Stage | None, str]:
    if spec.path is not None:
        directory = Path(spec.path)
        files = ("corpus.yaml", "items.parquet", "ratings.parquet")
        missing = [f for f in files if not (directory / f).is_file()]
        if missing:
            raise ConfigError(
                f"{where}.path: {directory} has no {', '.join(missing)}; a corpus directory holds "
                f"{', '.join(files)} (create one with 'voxpop import')"
            )
        return None, stable_hash({f: _file_hash(directory / f) for f in files})
    if spec.demo is not None:
        stage = Stage("corpus", f"demo corpus ({spec.demo.size})", {"demo": spec.demo.model_dump()})
    else:
        arguments = {k: _argument_fingerprint(v) for k, v in spec.arguments.items()}
        stage = Stage(
            "corpus",
            f"import {spec.format}",
            {"format": spec.format, "arguments": spec.arguments, "fingerprints": arguments},
        )
    return stage, stage.key


def _argument_fingerprint(value: Any) -> Any:
    """Importer arguments naming files or folders are fingerprinted by content (files) or listing (folders)."""
    if isinstance(value, str) and Path(value).is_file():
        return _file_hash(value)
    if isinstance(value, str) and Path(value).is_dir():
        return stable_hash(
            sorted((str(p.relative_to(value)), p.stat().st_size) for p in Path(value).rglob("*") if p.is_file())
        )
    return value


def _compute_merge(
    config: Mapping[str, Any], directory: Path, source: str, progress=None, map_function: Callable = map
) -> None:
    """Build or load every corpus of ``config["merge"]``, merge them into ``directory/corpus`` and record the
    accounting (``merge.parquet``) and each corpus's mapped classes (``merge.json``)."""
    sources = []
    for name, part in config["merge"].items():
        if part["build"] is None:
            corpus = Corpus.load(part["path"])
        else:
            st.compute_corpus(part["build"], directory / "parts" / name, progress, map_function)
            corpus = st.load_corpus(directory / "parts" / name)
        sources.append(MergeSource(corpus, name, part["class_map"]))
    problems = class_map_problems(sources, option="corpora.{}.class_map")
    if problems:
        raise recipe_error(problems, source)
    merged, accounting = merge_corpora(sources)
    merged.save(directory / "corpus")
    atomic_write(directory / "merge.parquet", accounting.to_parquet)
    classes = {s.namespace: mapped_classes(s) for s in sources}
    write_text(directory / "merge.json", json.dumps(classes))


def corpus_directory(recipe: Recipe, cache_root: Path) -> Path:
    """The directory of the corpus a recipe reads: ``corpus.path``, or the corpus its build stage wrote."""
    stage, _ = corpus_source(recipe)
    if stage is None:
        return Path(recipe.corpus.path).resolve()
    directory = (cache_root / stage.name).resolve()
    return directory / "demo" / "corpus" if "demo" in stage.config else directory / "corpus"


def load_merged(recipe: Recipe, cache: Cache) -> Merged | None:
    """The merge record of a recipe with ``corpora`` whose corpus stage has run (None without ``corpora``)."""
    if not recipe.corpora:
        return None
    stage, _ = corpus_source(recipe)
    directory = cache.directory(stage)
    classes = parse_json((directory / "merge.json").read_text())
    return Merged(pd.read_parquet(directory / "merge.parquet"), classes)


def prepare_corpus(
    recipe: Recipe, cache: Cache, reporter: Reporter, source: str = "recipe", map_function: Callable = map
) -> tuple[Corpus, str]:
    """Load (building, importing or merging it first when needed) the corpus and keep the ``where`` items;
    ``map_function`` synthesises a demo corpus's clips (:func:`voxpop.corpus.demo.make_demo_corpus`)."""
    stage, key = corpus_source(recipe)
    if stage is None:
        corpus = Corpus.load(recipe.corpus.path)
    else:
        reporter.stage(stage.label, 0, 1, cache.is_done(stage))
        if "merge" in stage.config:
            compute = lambda d: _compute_merge(stage.config, d, source, reporter.step, map_function)  # noqa: E731
        else:
            compute = lambda d: st.compute_corpus(stage.config, d, reporter.step, map_function)  # noqa: E731
        corpus = run_stage(cache, stage, compute, st.load_corpus)
        key = stable_hash({"stage": key, "computed": cache.token(stage)})  # a rebuilt corpus: new stages downstream
    try:
        corpus = corpus.where(recipe.where)
    except VoxpopError as exc:
        raise recipe_error([f"where: {exc}"], source) from None
    return corpus, stable_hash({"corpus": key, "where": recipe.where})


# ====================================================================== running
def results_table(recipe: Recipe, plan: Plan, outputs: Mapping[str, Any]) -> pd.DataFrame:
    """All evaluations as one tidy table (:data:`RESULT_COLUMNS`)."""
    tables = [
        outputs[stage.key].assign(study=recipe.study, variant=source, train=train, test=test)
        for (source, train, test), stage in plan.evaluations.items()
    ]
    if not tables:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    return pd.concat(tables, ignore_index=True)[RESULT_COLUMNS]


def run_recipe(
    recipe: Recipe,
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
    """
    reporter = reporter or Reporter()
    out_dir = Path(out_dir)
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
        corpus, corpus_key = prepare_corpus(recipe, cache, reporter, source, map_function)
        checked = check_recipe(recipe, corpus, source, map_function, threads)
        merged = load_merged(recipe, cache)
        plan = plan_study(recipe, corpus_key, merged.classes if merged else None)
        # computed once per run; merged corpora label on the classes the plan chose (e.g. the shared ones)
        built = {} if merged else {plan.labels[key].key: labels for key, labels in checked.items()}
        runner = stage_runner(recipe, plan, corpus, out_dir, threads, built)
        if client is not None:
            from voxpop.study.scheduler import run_plan

            run_plan(plan, runner, cache, reporter, client)
        for position, stage in enumerate(plan.order if client is None else ()):
            reporter.stage(stage.label, position, len(plan.order), cache.is_done(stage))
            runner.run(stage, cache, outputs, reporter.step)
        outputs = {stage.key: runner.output(stage, cache, outputs, consumer=None) for stage in plan.order}
        results = results_table(recipe, plan, outputs)
        atomic_write(out_dir / "results.parquet", lambda handle: results.to_parquet(handle, index=False))
        run = StudyRun(recipe, corpus, plan, outputs, results, cache.executed, cache.reused, out_dir, merged)
        write_runs(run, corpus_directory(recipe, cache.root))
        if on_run is not None:  # e.g. voxpop.report.study.write_study_report, while the cluster is still open
            on_run(run, None if client is None else functools.partial(client.submit, pure=False))
    return run


def stage_runner(
    recipe: Recipe,
    plan: Plan,
    corpus: Corpus,
    out_dir: Path,
    threads: int = 1,
    built: Mapping[str, LabelSet] | None = None,
) -> StageRunner:
    """The :class:`~voxpop.study.execution.StageRunner` of a planned study writing into ``out_dir/cache``;
    ``built``: label sets of the pre-flight check by stage key (saved instead of computed again)."""
    store = Path(recipe.features.store) if recipe.features.store else output_directory(out_dir, "cache", "features")
    fusion = recipe.analyses.fusion
    imported = {n: str(p) for n, p in fusion.predictions.items()} if fusion is not None else {}
    return StageRunner(out_dir / "cache", out_dir, corpus, store, imported, plan.segments, threads, dict(built or {}))


def dry_run(recipe: Any, out_dir: Path, workers: int, scheduler: str | None, source: str = "recipe") -> list[dict]:
    """The plan of ``recipe`` in ``out_dir`` without computing anything: one row per stage with its ``stage``
    label, ``kind``, ``status`` (cached / pending) and ``where`` it would run (:func:`voxpop.study.scheduler.where`).

    The corpus is built in this process before the rest; while it is pending the stages after it cannot
    be named yet (their keys depend on the built corpus) and only the corpus row is given.
    """
    from voxpop.study.scheduler import where

    cache = Cache(out_dir / "cache", inside=out_dir)
    stage, _ = corpus_source(recipe)
    rows = []
    if stage is not None:
        status = "cached" if cache.is_done(stage) else "pending"
        rows.append({"stage": stage.label, "kind": stage.kind, "status": status, "where": "in-process"})
        if status == "pending":
            return rows
    corpus, corpus_key = prepare_corpus(recipe, cache, Reporter(), source)
    check_recipe(recipe, corpus, source)
    for stage in plan_study(recipe, corpus_key).order:
        status = "cached" if cache.is_done(stage) else "pending"
        place = where(stage, workers, scheduler)
        if stage.kind == "features" and status == "pending" and (workers > 1 or scheduler):
            place += ", split into one shard task per worker"
        rows.append({"stage": stage.label, "kind": stage.kind, "status": status, "where": place})
    return rows
