"""Contract checks of every stage kind of :data:`voxpop.study.stage_kinds.KINDS` (issue #22, item 7).

The checks are parametrized over the registry itself. :data:`STUDIES` is the one table of tiny studies (on the
demo corpus, and on a small interval corpus for segments) whose plans together hold a stage of every kind;
:func:`test_the_studies_plan_a_stage_of_every_kind` fails for a kind none of them plans, so a new kind (or a
kind merged into another) is one entry there. Every kind has a computation and a loader; a stage of every kind,
computed again into a fresh cache from its inputs' outputs, loads equal to what the study computed (outputs
are deterministic and survive compute -> load); a kind whose stages train asks for a GPU when the model's
training does, and for nothing otherwise.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

from voxpop.corpus.corpus import Corpus
from voxpop.study.stage_kinds import KINDS

CLASSES = ["neutral", "anger", "happy", "sad"]
COMMON = {
    "features": {"extractor": "fbank", "options": {"n_mels": 16}},
    "protocol": {"speaker_folds": {"k": 3}},
    "evaluation": {"bootstrap": 20},
}


def categorical(corpus: str) -> dict:
    """Two label rules, two logistic-regression variants and every categorical analysis."""
    return {
        "study": "contract-categorical",
        "corpus": {"path": corpus},
        "classes": CLASSES,
        "labels": {
            "train": {"MR": {"rule": "mr", "condition": "voice"}, "AR": {"rule": "ar", "condition": "voice"}},
            "test": {"MR": {"rule": "mr", "condition": "voice"}, "AR": {"rule": "ar-test", "condition": "voice"}},
        },
        **COMMON,
        "model": {"head": "logreg"},
        "variants": {"c1": {"model": {"head_options": {"C": 1.0}}}, "c01": {"model": {"head_options": {"C": 0.1}}}},
        "analyses": {
            "agreement": {"slot": "primary"},
            "loss_accounting": {"rules": ["mr", "ar"]},
            "ccc": {"sets": ["MR", "AR"], "stat": "ccc"},
            "confusion": {"cells": "diagonal"},
            "mlcm": {"cells": "diagonal"},
            "easy_difficult": {"test": "MR"},
            "ensemble": True,
            "fusion": {"n_draws": 20, "seed": 0},
            "tuned_decisions": True,
            "calibration": {"test": "MR"},
            "ceiling": {"tests": ["MR"], "min_ratings": 5},
            "budget": {"rules": ["mr"], "raters": "1:3", "draws": 5, "bootstrap": 20},
        },
    }


def likert(corpus: str) -> dict:
    """A Likert label set at the threshold the sweep finds best."""
    best = {"rule": "likert", "condition": "voice", "threshold": "best"}
    return {
        "study": "contract-likert",
        "corpus": {"path": corpus},
        "classes": CLASSES,
        "labels": {"train": {"best": best}, "test": {"best": best}},
        **COMMON,
        "model": {"head": "mlp", "head_options": {"hidden_dim": 8}, "loss": "bce", "epochs": 2},
        "analyses": {"threshold_sweep": {"conditions": ["voice", "av"], "grid": "0.05:0.95:0.05"}},
    }


def dimensional(corpus: str) -> dict:
    """A mean gold standard of arousal and valence learned by ridge regression."""
    mean = {"gold_standard": "mean", "dimensions": ["arousal", "valence"], "condition": "voice"}
    return {
        "study": "contract-dimensional",
        "corpus": {"path": corpus},
        "labels": {"train": {"mean": mean}, "test": {"mean": mean}},
        **COMMON,
        "model": {"head": "ridge", "loss": "mse"},
        "evaluation": {"bootstrap": 20, "metrics": ["ccc", "mae"]},
    }


def segments(corpus: str) -> dict:
    """Interval consensus at two levels: the items models see are the union of their segments."""
    levels = {f"L{k}": {"rule": "intervals", "level": k} for k in (1, 2)}
    return {
        "study": "contract-segments",
        "corpus": {"path": corpus},
        "classes": ["anger", "sad"],
        "labels": {"train": levels, "test": levels},
        **COMMON,
        "protocol": {"leave_one_out": {"column": "speaker"}},
        "model": {"head": "logreg"},
    }


STUDIES = {"categorical": (categorical, "demo"), "likert": (likert, "demo"), "dimensional": (dimensional, "demo")}
STUDIES["segments"] = (segments, "intervals")
"""Study -> (recipe builder taking the corpus directory, corpus: ``demo`` or ``intervals``): the one table a new
stage kind is covered in."""


def interval_corpus(root: Path) -> Path:
    """Three 3 s recordings by three speakers, each second anger (a tone) or sad (noise); raters a and b mark
    every second, rater c only the first two: level 2 holds fewer segments than level 1."""
    rng = np.random.default_rng(0)
    audio, speakers, rows = {}, {}, []
    for r in range(3):
        emotions = ["anger", "sad", "anger"] if r % 2 == 0 else ["sad", "anger", "sad"]
        parts = [
            0.5 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)
            if e == "anger"
            else 0.3 * rng.standard_normal(16000)
            for e in emotions
        ]
        audio[f"rec{r}"] = str(root / f"rec{r}.wav")
        soundfile.write(audio[f"rec{r}"], np.concatenate(parts).astype(np.float32), 16000)
        speakers[f"rec{r}"] = f"s{r}"
        for k, emotion in enumerate(emotions):
            rows += [(f"rec{r}", "a", emotion, k + 0.0, k + 1.0), (f"rec{r}", "b", emotion, k + 0.1, k + 0.9)]
            rows += [(f"rec{r}", "c", emotion, k + 0.3, k + 0.6)] if k < 2 else []
    items = pd.DataFrame({"audio": audio, "speaker": speakers}).assign(duration=3.0)
    ratings = pd.DataFrame(rows, columns=["item", "rater", "label", "start", "end"])
    return Corpus("intervals", items, ratings, classes=["anger", "sad"]).save(root / "corpus")


@pytest.fixture(scope="module")
def corpora(demo_corpus, tmp_path_factory) -> dict[str, Path]:
    return {"demo": demo_corpus.dir, "intervals": interval_corpus(tmp_path_factory.mktemp("intervals"))}


def _recipe(name: str, corpora: dict[str, Path]):
    from voxpop.study.loading import recipe_from_dict

    build, corpus = STUDIES[name]
    return recipe_from_dict(build(str(corpora[corpus])), source=f"contract study {name}")


@pytest.fixture(scope="module")
def plans(corpora) -> dict[str, object]:
    """Each study's plan (stages with their kinds and configurations), nothing computed."""
    from voxpop.study.run import plan_study

    return {name: plan_study(_recipe(name, corpora), "contract") for name in STUDIES}


@pytest.fixture(scope="module")
def runs(corpora, tmp_path_factory) -> dict[str, object]:
    """Each study run to the end (in this process, one thread)."""
    from voxpop.study.run import run_recipe

    return {name: run_recipe(_recipe(name, corpora), tmp_path_factory.mktemp(name), source=name) for name in STUDIES}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_has_a_computation_a_loader_and_a_resource_declaration(kind):
    entry = KINDS[kind]
    assert callable(entry.compute) and callable(entry.load) and callable(entry.resources)
    assert isinstance(entry.reads_items, bool)


def test_the_studies_plan_a_stage_of_every_kind(plans):
    planned = {stage.kind for plan in plans.values() for stage in plan.order}
    missing = sorted(set(KINDS) - planned)
    assert not missing, f"no study of STUDIES plans a stage of kind(s) {missing}: add one"


def _stage(runs: dict, kind: str) -> tuple[object, object]:
    """The first study run (or plan) holding a stage of ``kind``, and that stage."""
    for run in runs.values():
        for stage in (run.plan if hasattr(run, "plan") else run).order:
            if stage.kind == kind:
                return run, stage
    pytest.fail(f"no study of STUDIES plans a stage of kind {kind!r}: add one")


def assert_same(a: object, b: object, where: str) -> None:
    """``a`` equals ``b``: tables and arrays exactly, dataclasses and objects field by field, paths by name
    (the two computations write to different folders)."""
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, obj=where)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, obj=where)
    elif isinstance(a, pd.Index):
        pd.testing.assert_index_equal(a, b, obj=where)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, Path):
        assert isinstance(b, Path) and a.name == b.name, where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{k}]")
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        for field in dataclasses.fields(a):
            assert_same(getattr(a, field.name), getattr(b, field.name), f"{where}.{field.name}")
    elif hasattr(a, "__dict__") and not isinstance(a, type):
        assert type(a) is type(b), where
        assert_same(vars(a), vars(b), where)
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.mark.slow  # four tiny studies run, and one stage of every kind computed again: ~1 min of CPU
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_stage_computed_again_into_a_fresh_cache_loads_equal(kind, runs, tmp_path):
    from voxpop.study.run import stage_runner

    run, stage = _stage(runs, kind)
    done = stage_runner(run.study, run.plan, run.corpus, run.out_dir).open_cache()  # the study's own cache
    # every other stage's outputs as its kind loads them (not the views run.outputs may hold, such as label sets
    # on the segments): the inputs the stage read when the study computed it
    loaded = {s.key: KINDS[s.kind].load(done.directory(s)) for s in run.plan.order if s.key != stage.key}
    runner = stage_runner(run.study, run.plan, run.corpus, tmp_path)
    cache = runner.open_cache()
    again = runner.run(stage, cache, loaded)
    assert cache.executed and cache.directory(stage).is_relative_to(tmp_path), "computed, not found in a cache"
    original = KINDS[kind].load(done.directory(stage))
    assert_same(again, original, f"stage {stage.label!r} ({kind})")
    assert_same(KINDS[kind].load(cache.directory(stage)), original, f"stage {stage.label!r} reloaded")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_training_kind_asks_for_a_gpu_when_its_model_does(kind, plans):
    _, stage = _stage(plans, kind)
    declared = KINDS[kind].resources(stage.config)
    assert isinstance(declared, dict) and all(isinstance(v, int) and v > 0 for v in declared.values())
    if "model" not in stage.config:
        return
    assert declared == {}, "training on the CPU (the tiny studies' default) asks for no GPU"
    model = dict(stage.config["model"])
    model["train"] = {**model.get("train", {}), "accelerator": "gpu", "devices": 2}
    assert KINDS[kind].resources({**stage.config, "model": model}) == {"GPU": 2}
