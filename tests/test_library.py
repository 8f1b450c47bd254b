"""``import voxpop as vp`` is a library: a light, lazy face whose verbs equal the layer functions they front,
callable ``vp.labels`` / ``vp.agreement`` packages, one docstring style, and the README's Python example runs."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import voxpop as vp

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "lightning", "scipy", "matplotlib", "dask", "distributed", "transformers", "crowdkit")
LAYERS = ("core", "corpus", "labels", "features", "evaluation", "models", "agreement", "study", "report")
VERBS = ("read", "extract", "cross_validate", "evaluate", "run", "load_run")


def _loaded_after(code: str) -> list[str]:
    probe = (
        f"{code}; import sys; "
        f"print(','.join(m for m in {(*HEAVY, 'pandas', 'voxpop.corpus.corpus')!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [name for name in result.stdout.strip().split(",") if name]


def test_import_voxpop_is_light():
    """No training stack, no plotting, no Dask, not the corpus module, not even pandas."""
    assert _loaded_after("import voxpop") == []


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_faces_import_nothing_heavy(layer):
    loaded = _loaded_after(f"import voxpop.{layer}")
    assert not set(loaded) & set(HEAVY), loaded


@pytest.mark.parametrize("layer", LAYERS)
def test_every_face_name_resolves_and_dir_lists_it(layer):
    face = importlib.import_module(f"voxpop.{layer}")
    assert face.__all__ and len(set(face.__all__)) == len(face.__all__)
    submodules = {info.name for info in pkgutil.iter_modules(face.__path__)}
    assert not set(face.__all__) & submodules, "a face name would shadow its submodule"
    for name in face.__all__:
        assert getattr(face, name) is not None, name
    assert set(face.__all__) <= set(dir(face))
    with pytest.raises(AttributeError):
        face.no_such_name  # noqa: B018


def test_faces_re_export_the_submodules_objects():
    from voxpop.labels.rules import make_labels
    from voxpop.models.cross_validation import cross_validate
    from voxpop.study.run import run_recipe

    assert vp.labels.make_labels is make_labels
    assert importlib.import_module("voxpop.models").cross_validate is cross_validate
    assert importlib.import_module("voxpop.study").run_recipe is run_recipe


def test_top_level_face_lists_and_resolves_its_names():
    assert set(vp.__all__) <= set(dir(vp))
    for name in vp.__all__:
        assert getattr(vp, name) is not None, name
    assert vp.Corpus is importlib.import_module("voxpop.corpus.corpus").Corpus
    assert issubclass(vp.ConfigError, vp.VoxpopError) and issubclass(vp.InputError, vp.VoxpopError)
    with pytest.raises(AttributeError):
        vp.no_such_verb  # noqa: B018


def test_labels_and_agreement_are_callable_packages_whose_submodules_still_import():
    import voxpop.agreement.reliability
    import voxpop.labels.registry

    assert vp.labels is sys.modules["voxpop.labels"] and vp.agreement is sys.modules["voxpop.agreement"]
    assert callable(vp.labels) and callable(vp.agreement)
    assert vp.labels.registry is voxpop.labels.registry
    assert vp.agreement.reliability is voxpop.agreement.reliability


def test_vp_labels_equals_make_labels(demo_corpus):
    from voxpop.labels.rules import make_labels

    for rule, options in [("mr", {"condition": "voice"}), ("ar", {"condition": "av", "denominator": "all"})]:
        got = vp.labels(demo_corpus.corpus, rule, **options)
        expected = make_labels(demo_corpus.corpus, rule, **options)
        pd.testing.assert_frame_equal(got.targets, expected.targets)
        pd.testing.assert_series_equal(got.kept, expected.kept)
        assert got.classes == expected.classes == ["neutral", "anger", "happy", "sad"]
    with pytest.raises(vp.ConfigError):
        vp.labels(demo_corpus.corpus, "no-such-rule", condition="voice")


def test_vp_labels_without_a_rule_builds_a_gold_standard_of_dimensions(demo_corpus):
    """The call's docstring promised a ContinuousLabelSet, but ``vp.labels(corpus, gold_standard="ewe", ...)``
    was a TypeError (make_labels needs a rule); it equals the recipe's ContinuousSpec on the same corpus."""
    from voxpop.labels.continuous import ContinuousSpec

    corpus = demo_corpus.corpus
    got = vp.labels(corpus, gold_standard="ewe", dimensions=["arousal", "valence"], condition="voice")
    expected = ContinuousSpec(gold_standard="ewe", dimensions=["arousal", "valence"], condition="voice").build(corpus)
    assert got.kind == "continuous" and got.names == ["arousal", "valence"]
    pd.testing.assert_frame_equal(got.targets, expected.targets)
    with pytest.raises(vp.ConfigError, match=r"give a rule .* or gold_standard="):
        vp.labels(corpus, dimensions=["arousal"])
    with pytest.raises(vp.ConfigError, match=r"labels: gold_standard: Input should be 'mean', 'median'"):
        vp.labels(corpus, gold_standard="average")
    with pytest.raises(vp.ConfigError, match=r"labels: dimension: unknown option of a gold standard \(accepted: gold"):
        vp.labels(corpus, gold_standard="mean", dimension=["arousal"])


def test_vp_agreement_equals_the_agreement_table(demo_corpus):
    from voxpop.agreement.tables import agreement_table

    got = vp.agreement(demo_corpus.corpus, condition="voice", slot="primary")
    pd.testing.assert_frame_equal(got, agreement_table(demo_corpus.corpus, condition="voice", slot="primary"))
    alpha = got[got["statistic"].str.contains("alpha")]
    assert len(alpha) >= 1 and alpha["value"].between(-1, 1).all()


def test_vp_read_equals_the_cli_import(tmp_path):
    from typer.testing import CliRunner

    import voxpop.cli

    ratings = ROOT / "tests" / "fixtures" / "long_ratings.csv"
    result = CliRunner().invoke(voxpop.cli.app, ["import", "long", str(ratings), "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    imported = vp.Corpus.load(tmp_path / "c")
    corpus = vp.read("long", ratings)
    assert corpus.classes == imported.classes
    pd.testing.assert_frame_equal(corpus.ratings, imported.ratings, check_dtype=False, check_categorical=False)
    pd.testing.assert_index_equal(corpus.items.index, imported.items.index)
    with pytest.raises(vp.ConfigError, match="unknown corpus format 'nope'"):
        vp.read("nope", ratings)
    with pytest.raises(vp.ConfigError, match="unknown argument"):
        vp.read("long", ratings, no_such_option=1)


def test_vp_testing_demo_corpus_equals_make_demo_corpus(tmp_path, demo_corpus):
    corpus = vp.testing.demo_corpus(tmp_path / "demo", size="tiny")
    assert len(corpus.items) == 48 and (tmp_path / "demo" / "corpus" / "corpus.yaml").is_file()
    pd.testing.assert_frame_equal(corpus.ratings, demo_corpus.corpus.ratings)
    assert corpus.classes == demo_corpus.corpus.classes


@pytest.fixture(scope="module")
def fbank(demo_corpus, tmp_path_factory):
    return vp.extract(demo_corpus.corpus, "fbank", store=tmp_path_factory.mktemp("store"))


def test_extract_cross_validate_evaluate_equal_the_layer_functions(demo_corpus, fbank):
    from voxpop.evaluation.results import evaluate_predictions
    from voxpop.models.cross_validation import cross_validate
    from voxpop.models.protocols import make_folds
    from voxpop.models.specs import ModelSpec

    corpus = demo_corpus.corpus
    assert fbank.values.shape[0] == len(corpus.items) == 48
    labels = vp.labels(corpus, "mr", condition="voice")
    cv = vp.cross_validate(corpus, fbank, labels, "speaker-folds", k=3)
    direct = cross_validate(fbank, labels, make_folds(corpus.items, "speaker-folds", k=3), ModelSpec(head="logreg"))
    pd.testing.assert_frame_equal(cv.predictions, direct.predictions)
    assert sorted(cv.predictions["fold"].unique()) == ["fold1", "fold2", "fold3"]
    probabilities = cv.predictions[labels.classes]
    assert ((probabilities.sum(axis=1) - 1).abs() < 1e-6).all()

    scores = vp.evaluate(cv, labels, n_boot=50)
    expected = evaluate_predictions(direct.predictions.drop(columns="fold"), labels, n_boot=50)
    pd.testing.assert_frame_equal(scores, expected)
    uar = scores.set_index("metric").loc["uar"]
    assert 0 <= uar["low"] <= uar["value"] <= uar["high"] <= 1
    pd.testing.assert_frame_equal(vp.evaluate(cv.predictions, labels, n_boot=50), scores)  # a plain table too

    as_dict = vp.cross_validate(corpus, fbank, labels, "speaker-folds", k=3, model={"head": "logreg"})
    pd.testing.assert_frame_equal(as_dict.predictions, cv.predictions)
    with pytest.raises(vp.ConfigError, match="unknown protocol"):
        vp.cross_validate(corpus, fbank, labels, "no-such-protocol")


def _recipe(demo_dir: Path, store: Path) -> dict:
    return {
        "study": "library",
        "corpus": {"path": str(demo_dir)},
        "labels": {
            "train": {"MR": {"rule": "mr", "condition": "voice"}},
            "test": {"MR": {"rule": "mr", "condition": "voice"}},
        },
        "features": {"extractor": "fbank", "store": str(store)},
        "model": {"head": "logreg"},
        "protocol": {"speaker_folds": {"k": 3}},
        "evaluation": {"bootstrap": 20},
    }


def test_vp_run_writes_results_and_report_and_load_run_reads_its_model(demo_corpus, tmp_path):
    out = tmp_path / "out"
    study = vp.run(_recipe(demo_corpus.dir, out / "store"), out)
    assert (out / "results.parquet").is_file() and (out / "report.html").is_file() and (out / "runs.json").is_file()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), study.results)
    assert "uar" in set(study.results["metric"])
    saved = vp.load_run(out)
    predictions = saved.predictions
    assert len(predictions) == 48 and set(predictions["fold"]) == {"fold1", "fold2", "fold3"}
    with pytest.raises(vp.ConfigError):
        vp.run({"study": "bad", "no_such_key": 1}, tmp_path / "bad")
    with pytest.raises(vp.InputError):
        vp.load_run(tmp_path / "nothing-here")


def test_every_verb_of_the_face_has_one_docstring_style():
    functions = [getattr(vp, name) for name in VERBS] + [vp.testing.demo_corpus]
    functions += [type(vp.labels).__call__, type(vp.agreement).__call__]
    for function in functions:
        doc = inspect.getdoc(function) or ""
        sections = re.findall(r"^(Args|Returns|Raises|Example):$", doc, flags=re.MULTILINE)
        assert sections == ["Args", "Returns", "Raises", "Example"], (function.__qualname__, sections)
        assert doc.split("\n")[0].endswith("."), function.__qualname__


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## From Python", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, "README's From Python section has one python block"
    return blocks[0]


def test_the_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    from voxpop.labels.rules import make_labels

    code = _readme_example()
    assert 'size="tiny"' in code and "vp.testing.demo_corpus" in code and "vp.evaluate" in code
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md (From Python)", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "(48, 4)" in printed and "uar" in printed
    corpus, labels, scores = namespace["corpus"], namespace["labels"], namespace["scores"]
    pd.testing.assert_frame_equal(labels.targets, make_labels(corpus, "mr", condition="voice").targets)
    assert namespace["features"].values.shape == (48, 88)
    assert (tmp_path / "demo" / "corpus").is_dir() and (tmp_path / "features").is_dir()
    assert 0 <= scores.set_index("metric").loc["uar", "value"] <= 1


def test_cross_validate_and_evaluate_a_gold_standard_of_dimensions(demo_corpus, fbank):
    """vp.evaluate of a regressor's folds on a continuous label set was an AttributeError ('ContinuousLabelSet'
    object has no attribute 'classes'); it is the study's regression scoring, per dimension and per fold."""
    from voxpop.evaluation.test_scores import regression_results

    corpus = demo_corpus.corpus
    dims = vp.labels(corpus, gold_standard="mean", dimensions=["arousal", "valence"], condition="voice")
    cv = vp.cross_validate(corpus, fbank, dims, "speaker-folds", k=3, model="ridge")
    scores = vp.evaluate(cv, dims, n_boot=30, seed=1)
    expected = regression_results(cv.predictions, dims, n_boot=30, seed=1)
    pd.testing.assert_frame_equal(scores, expected)
    assert {"ccc", "ccc[arousal]", "rmse[valence]"} <= set(scores["metric"]) and scores["n_folds"].eq(3).all()
    with pytest.raises(vp.ConfigError, match=r"tie_policy score classes; dimensions take n_boot, seed, speakers"):
        vp.evaluate(cv, dims, tie_policy="first")
    classes = vp.labels(corpus, "mr", condition="voice")
    with pytest.raises(vp.VoxpopError):
        vp.evaluate(cv, classes, n_boot=0)
