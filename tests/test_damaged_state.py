"""Damaged or hostile state on disk: a hand-edited corpus directory gets an error naming the file and key; a study
whose cache was damaged names the damage, recomputes it and what depends on it, and writes through no symlink."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import voxpop.cli
from voxpop.core.cache import Cache
from voxpop.core.errors import InputError
from voxpop.core.progress import Reporter
from voxpop.corpus.corpus import Corpus, CorpusError
from voxpop.study.corpus_source import prepare_corpus
from voxpop.study.definition import build_study
from voxpop.study.loading import recipe_from_dict
from voxpop.study.recipe import CorpusSpec, DemoSpec
from voxpop.study.run import run_recipe


def run_recipe_with_report(*args, **kwargs):
    """run_recipe with the report written, as `voxpop run` does."""
    from voxpop.report.study import write_study_report

    return run_recipe(*args, on_run=write_study_report, **kwargs)


# ====================================================================== corpus directories
@pytest.fixture
def saved(tmp_path):
    items = pd.DataFrame({"speaker": ["s1", "s2"]}, index=["a", "b"])
    ratings = pd.DataFrame(
        {
            "item": ["a", "b", "a"],
            "rater": ["r1", "r1", "r1"],
            "slot": ["primary", "primary", "intensity"],
            "label": ["anger", "neutral", "anger"],
            "value": [None, None, 3.0],
        }
    )
    corpus = Corpus("toy", items, ratings, ["anger", "neutral"], scales={"intensity": (1, 5)})
    return corpus.save(tmp_path / "corpus")


def _edit_meta(directory, **changes):
    meta = yaml.safe_load((directory / "corpus.yaml").read_text())
    meta.update(changes)
    (directory / "corpus.yaml").write_text(yaml.safe_dump(meta))


def test_saved_corpus_loads_back(saved):
    corpus = Corpus.load(saved)
    assert corpus.classes == ["anger", "neutral"] and corpus.scales == {"intensity": (1.0, 5.0)}
    assert corpus.ratings["label"].tolist() == ["anger", "neutral", "anger"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: (d / "corpus.yaml").write_text("just a line of text\n"),
            r"corpus\.yaml: expected a mapping with keys",
        ),
        (lambda d: (d / "corpus.yaml").write_bytes(b"name: \xff\xfe\n"), r"corpus\.yaml: not valid UTF-8 YAML"),
        (
            lambda d: _edit_meta(d, scales={"intensity": [5]}),
            r"corpus\.yaml, key 'scales\.intensity': expected \[min, max\]",
        ),
        (lambda d: _edit_meta(d, scales={"intensity": "1..5"}), r"corpus\.yaml, key 'scales\.intensity'"),
        (lambda d: _edit_meta(d, scales=[1, 5]), r"corpus\.yaml, key 'scales': expected a mapping"),
        (lambda d: _edit_meta(d, class_map=["anger", "neutral"]), r"corpus\.yaml, key 'class_map': expected a mapping"),
        (lambda d: _edit_meta(d, classes="anger"), r"corpus\.yaml, key 'classes': expected a list"),
        (lambda d: _edit_meta(d, name={"a": 1}), r"corpus\.yaml, key 'name': expected a text"),
        (
            lambda d: (d / "ratings.parquet").write_bytes((d / "ratings.parquet").read_bytes()[:-40]),
            r"ratings\.parquet: cannot be read as a Parquet table",
        ),
        (
            lambda d: (d / "items.parquet").write_bytes((d / "items.parquet").read_bytes()[:100]),
            r"items\.parquet: cannot be read as a Parquet table",
        ),
        (lambda d: (d / "ratings.parquet").unlink(), r"ratings\.parquet: not found"),
    ],
    ids=[
        "scalar yaml",
        "not utf-8",
        "scale of one number",
        "scale as text",
        "scales as a list",
        "class_map as a list",
        "classes as text",
        "name as a mapping",
        "truncated ratings",
        "truncated items",
        "missing ratings",
    ],
)
def test_a_hand_edited_corpus_directory_gets_an_error_naming_the_file(saved, damage, message):
    damage(saved)
    with pytest.raises(InputError, match=message) as error:
        Corpus.load(saved)
    assert str(saved) in str(error.value)


def test_validation_problems_of_a_loaded_corpus_name_its_files(saved):
    _edit_meta(saved, classes=["anger"])  # 'neutral' ratings are no longer a class
    with pytest.raises(CorpusError) as error:
        Corpus.load(saved)
    assert f"{saved / 'ratings.parquet'}, row 2, column 'label' (item 'b'): label 'neutral' is not a class" in str(
        error.value
    )


def test_corpus_save_replaces_symlinks_planted_at_its_file_names(saved, tmp_path):
    corpus = Corpus.load(saved)
    out = tmp_path / "copy"
    out.mkdir()
    for name in ("items.parquet", "ratings.parquet", "corpus.yaml"):
        (tmp_path / f"outside-{name}").write_text("precious")
        (out / name).symlink_to(tmp_path / f"outside-{name}")
    corpus.save(out)
    for name in ("items.parquet", "ratings.parquet", "corpus.yaml"):
        assert not (out / name).is_symlink() and (tmp_path / f"outside-{name}").read_text() == "precious"
    assert Corpus.load(out).ratings.equals(corpus.ratings)


# ====================================================================== a study's cache
@pytest.fixture(scope="module")
def demo(demo_corpus):
    """The session's tiny demo corpus directory."""
    return demo_corpus.dir


def _recipe(demo):
    return recipe_from_dict(
        {
            "study": "damage",
            "corpus": {"path": str(demo)},
            "labels": {
                "train": {"MR": {"rule": "mr", "condition": "voice"}},
                "test": {"MR": {"rule": "mr", "condition": "voice"}},
            },
            "features": {"extractor": "fbank", "options": {"n_mels": 8}},
            "model": {"head": "mlp", "head_options": {"hidden_dim": 8}, "epochs": 1, "batch_size": 8},
            "protocol": {"speaker_folds": {"k": 3}},
            "evaluation": {"bootstrap": 20},
            "analyses": {"loss_accounting": True, "confusion": True},
        }
    )


def _validate_cache(directory):
    return CliRunner().invoke(voxpop.cli.app, ["validate", "--cache", str(directory)])


def test_damaged_study_cache_is_named_recomputed_downstream_and_never_written_through(
    demo, tmp_path, feature_store, undrawn_figures
):
    real = tmp_path / "real"
    real.mkdir()
    out = tmp_path / "out"
    out.symlink_to(real, target_is_directory=True)  # a named output folder that is a symlink stays usable
    notices = []
    reporter = Reporter(notice=notices.append)
    first = run_recipe_with_report(_recipe(demo), out, reporter=reporter)
    cache = out / "cache"
    assert _validate_cache(cache).exit_code == 0
    stage_of = {label: cache / directory for directory, label in _labels(cache).items()}

    # 1. a truncated label set: named by validate, then recomputed with every stage that reads it
    labels = stage_of["labels MR"] / "labels.parquet"
    labels.write_bytes(labels.read_bytes()[:-20])
    checked = _validate_cache(cache)
    assert checked.exit_code == 1
    assert f"damaged {stage_of['labels MR'].name} (labels MR): labels.parquet has" in checked.output
    second = run_recipe_with_report(_recipe(demo), out, reporter=reporter)
    stage_notices = [n for n in notices if not n.startswith("leakage audit:")]  # the audit's notes come first
    assert stage_notices[0].startswith(f"stage 'labels MR' ({stage_of['labels MR']}): labels.parquet has")
    assert set(second.executed) == {
        "labels MR",
        "train MR (base)",
        "evaluate MR -> MR (base)",
        "confusion MR -> MR (base)",
    }
    assert set(second.reused) == {"features fbank", "loss accounting"}
    pd.testing.assert_frame_equal(second.results, first.results)

    # 2. a damaged feature store: extracted again, everything trained on it recomputed, same numbers
    values = next(feature_store.glob("fbank-*/values.npy"))  # the user's store, outside the output folder
    values.write_bytes(values.read_bytes()[:-4] + b"\0\0\0\1")
    checked = _validate_cache(cache)  # follows the features stage's record into the store
    assert checked.exit_code == 1 and f"feature store {values.parent}: values.npy" in checked.output
    notices.clear()
    third = run_recipe_with_report(_recipe(demo), out, reporter=reporter)
    assert any(n.startswith("stage 'features fbank'") and "DamagedStoreError" in n for n in notices)
    assert {"features fbank", "train MR (base)"} <= set(third.executed)
    pd.testing.assert_frame_equal(third.results, first.results)
    assert _validate_cache(cache).exit_code == 0

    # 3. symlinks planted at every output file name: replaced, never written through
    planted = []
    for directory in stage_of.values():
        (directory / ".done").unlink()
        planted += [p for p in directory.iterdir() if p.is_file() and p.name != "stage.json"]
    planted += [out / "report.html", out / "report.md", out / "results.parquet", *(out / "figures").glob("*.png")]
    for n, path in enumerate(planted):
        outside = tmp_path / f"outside-{n}"
        outside.write_text("precious")
        path.unlink()
        path.symlink_to(outside)
    run_recipe_with_report(_recipe(demo), out, reporter=reporter)
    assert all(path.is_file() and not path.is_symlink() for path in planted)
    assert all((tmp_path / f"outside-{n}").read_text() == "precious" for n in range(len(planted)))
    assert _validate_cache(cache).exit_code == 0


def _labels(cache):
    return {
        p.name: json.loads((p / "stage.json").read_text())["label"] for p in cache.iterdir() if (p / ".done").exists()
    }


def test_a_rebuilt_corpus_gives_every_stage_on_it_a_new_key(tmp_path):
    recipe = _recipe(tmp_path).model_copy(update={"corpus": CorpusSpec(demo=DemoSpec(size="tiny"))})
    notices = []
    cache = Cache(tmp_path / "cache", notice=notices.append)
    study = build_study(recipe, tmp_path)
    corpus, key = prepare_corpus(study, cache, Reporter())
    again = Cache(tmp_path / "cache", notice=notices.append)  # a later run: the corpus stage is reused, same key
    assert prepare_corpus(study, again, Reporter())[1] == key and again.reused == ["demo corpus (tiny)"]
    ratings = next((tmp_path / "cache").glob("corpus-*/demo/corpus/ratings.parquet"))
    size = ratings.stat().st_size
    ratings.write_bytes(ratings.read_bytes()[:-1])
    rebuilt, new_key = prepare_corpus(study, cache, Reporter())
    stage = ratings.parents[2]
    message = f"demo/corpus/ratings.parquet has {size - 1} bytes, {size} were written"
    assert notices == [f"stage 'demo corpus (tiny)' ({stage}): {message}; recomputing it"]
    assert new_key != key  # label sets, features and models of the rebuilt corpus are computed again
    pd.testing.assert_frame_equal(rebuilt.ratings, corpus.ratings)
