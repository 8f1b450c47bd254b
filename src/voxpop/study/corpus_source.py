"""The corpus of a study: where it comes from (:func:`corpus_source`: a saved corpus, the demo, an import or a
merge of several corpora, each a cached stage), where it lies (:func:`corpus_directory`), building or loading it
(:func:`prepare_corpus`) and what merging did (:class:`Merged`, :func:`load_merged`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from voxpop.core.cache import LOCATIONS, Cache, Stage, atomic_write, parse_json, stable_hash, write_text
from voxpop.core.errors import ConfigError, VoxpopError
from voxpop.core.paths import id_filename
from voxpop.core.progress import Reporter
from voxpop.corpus import Corpus
from voxpop.corpus.merge import MergeSource, class_map_problems, mapped_classes, merge_corpora
from voxpop.study import stages as st
from voxpop.study.execution import run_stage
from voxpop.study.loading import recipe_error
from voxpop.study.recipe import CorpusSpec, Recipe


@dataclasses.dataclass
class Merged:
    """What merging the corpora of a cross-corpus recipe did: the accounting of
    :func:`voxpop.corpus.merge.merge_corpora` (one row per corpus) and each corpus's classes after its class map."""

    accounting: pd.DataFrame
    classes: dict[str, list[str]]


def file_hash(path: str | Path) -> str:
    """The sha256 hex digest of a file's bytes (a saved corpus's or label set's content in stage keys)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def corpus_source(recipe: Recipe) -> tuple[Stage | None, str]:
    """The corpus build stage (demo, import or merge; None for a saved corpus) and the key of the corpus content.

    Called once per study, by :func:`voxpop.study.definition.build_study`.

    A recipe with ``corpora`` always has a merge stage: it builds or loads each corpus and merges them
    (:func:`voxpop.corpus.merge.merge_corpora`, namespaces = the corpus names, each with its class map).
    """
    if not recipe.corpora:
        return _single_source(recipe.corpus, "corpus")
    parts, locations = {}, {"corpora": {}, "builds": {}}  # the places of saved corpora and imported files
    for name, entry in recipe.corpora.items():
        stage, key = _single_source(entry, f"corpora.{name}")
        build = None if stage is None else {k: v for k, v in stage.config.items() if k != LOCATIONS}
        parts[name] = {"key": key, "build": build, "class_map": entry.class_map}
        if entry.path is not None:
            locations["corpora"][name] = entry.path
        if stage is not None and LOCATIONS in stage.config:
            locations["builds"][name] = stage.config[LOCATIONS]
    stage = Stage("corpus", f"merge {' + '.join(recipe.corpora)}", {"merge": parts, LOCATIONS: locations})
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
        return None, stable_hash({f: file_hash(directory / f) for f in files})
    if spec.demo is not None:
        stage = Stage("corpus", f"demo corpus ({spec.demo.size})", {"demo": spec.demo.model_dump()})
    else:
        arguments = {k: _argument_fingerprint(v) for k, v in spec.arguments.items()}
        config = {"format": spec.format, "fingerprints": arguments, LOCATIONS: {"arguments": spec.arguments}}
        stage = Stage("corpus", f"import {spec.format}", config)  # the files' contents are hashed, not their places
    return stage, stage.key


def _argument_fingerprint(value: Any) -> Any:
    """Importer arguments naming files or folders are fingerprinted by content (files) or listing (folders)."""
    if isinstance(value, str) and Path(value).is_file():
        return file_hash(value)
    if isinstance(value, str) and Path(value).is_dir():
        return folder_fingerprint(value)
    return value


def folder_fingerprint(folder: str | Path) -> str:
    """The identity of a folder's files: a hash of their paths inside it and sizes (not of where the folder lies);
    a folder that does not exist gives the hash of its name as written (the pre-flight check reports it).

    >>> folder_fingerprint("no-such-folder") == stable_hash("no-such-folder")
    True
    """
    if not Path(folder).is_dir():
        return stable_hash(str(folder))
    return stable_hash(
        sorted((str(p.relative_to(folder)), p.stat().st_size) for p in Path(folder).rglob("*") if p.is_file())
    )


def _compute_merge(
    config: Mapping[str, Any], directory: Path, source: str, progress=None, map_function: Callable = map
) -> None:
    """Build or load every corpus of ``config["merge"]``, merge them into ``directory/corpus`` and record the
    accounting (``merge.parquet``) and each corpus's mapped classes (``merge.json``)."""
    sources = []
    for name, part in config["merge"].items():
        if part["build"] is None:
            corpus = Corpus.load(config[LOCATIONS]["corpora"][name])
        else:
            build = {**part["build"], LOCATIONS: config[LOCATIONS]["builds"].get(name, {})}
            part_dir = directory / "parts" / id_filename(name)  # a recipe's corpus name is data, not a path
            st.compute_corpus(build, part_dir, progress, map_function)
            corpus = st.load_corpus(part_dir)
        sources.append(MergeSource(corpus, name, part["class_map"]))
    problems = class_map_problems(sources, option="corpora.{}.class_map")
    if problems:
        raise recipe_error(problems, source)
    merged, accounting = merge_corpora(sources)
    merged.save(directory / "corpus")
    atomic_write(directory / "merge.parquet", accounting.to_parquet)
    classes = {s.namespace: mapped_classes(s) for s in sources}
    write_text(directory / "merge.json", json.dumps(classes))


def corpus_directory(recipe: Recipe, cache_root: Path, stage: Stage | None) -> Path:
    """The directory of the corpus a recipe reads: ``corpus.path``, or the corpus its build ``stage``
    (:func:`corpus_source`) wrote under ``cache_root``.

    Args:
        recipe: the recipe; cache_root: the study's stage cache; stage: the recipe's corpus stage (None: saved).

    Returns:
        The resolved corpus directory.
    """
    if stage is None:
        return Path(recipe.corpus.path).resolve()
    directory = (cache_root / stage.name).resolve()
    return directory / "demo" / "corpus" if "demo" in stage.config else directory / "corpus"


def load_merged(study: Any, cache: Cache) -> Merged | None:
    """The merge record of a study with ``corpora`` whose corpus stage has run (None without ``corpora``).

    Args:
        study: the :class:`voxpop.study.definition.Study`; cache: its stage cache.

    Returns:
        The :class:`Merged` accounting and classes, or None for one corpus.
    """
    if not study.recipe.corpora:
        return None
    directory = cache.directory(study.corpus_stage)
    classes = parse_json((directory / "merge.json").read_text())
    return Merged(pd.read_parquet(directory / "merge.parquet"), classes)


def prepare_corpus(
    study: Any, cache: Cache, reporter: Reporter, map_function: Callable = map, total: int = 1
) -> tuple[Corpus, str]:
    """Load (building, importing or merging it first when needed) the corpus and keep the ``where`` items.

    Args:
        study: the :class:`voxpop.study.definition.Study`; cache: its stage cache; reporter: progress output (the
            corpus stage is stage 1 of ``total``, its clips or corpora as inner progress, its wall time when built).
        map_function: synthesises a demo corpus's clips (:func:`voxpop.corpus.demo.make_demo_corpus`), e.g. on
            a Dask cluster.
        total: the number of stages of the run (:func:`voxpop.study.run.run_length`; 0: unknown).

    Returns:
        The corpus after ``where`` and the key of its content and item subset (the stages' ``corpus`` key).

    Raises:
        ConfigError: a bad ``where`` filter or class maps that do not fit (merged corpora).
    """
    recipe, stage, key, source = study.recipe, study.corpus_stage, study.corpus_source_key, study.source
    if stage is None:
        corpus = Corpus.load(recipe.corpus.path)
    else:
        reporter.stage(stage.label, 1, total, cache.is_done(stage))
        step = lambda done, count: reporter.step(done, count, "clips")  # noqa: E731  (demo clips synthesised)
        if "merge" in stage.config:
            compute = lambda d: _compute_merge(stage.config, d, source, step, map_function)  # noqa: E731
        else:
            compute = lambda d: st.compute_corpus(stage.config, d, step, map_function)  # noqa: E731
        started, computed = time.monotonic(), len(cache.executed)
        corpus = run_stage(cache, stage, compute, st.load_corpus)
        if len(cache.executed) > computed:
            reporter.finish(stage.label, 1, time.monotonic() - started)
        key = stable_hash({"stage": key, "computed": cache.token(stage)})  # a rebuilt corpus: new stages downstream
    try:
        corpus = corpus.where(recipe.where)
    except VoxpopError as exc:
        raise recipe_error([f"where: {exc}"], source) from None
    return corpus, stable_hash({"corpus": key, "where": recipe.where})

