"""A study of dimensions (study 6) leaves runs like any other: runs.json lists its regressors, and ``voxpop export``,
``predict``, ``evaluate`` and ``fuse`` use them (one path for every target kind)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from voxpop.cli.app import app
from voxpop.evaluation import Predictions, load_predictions, save_predictions
from voxpop.models.model_input import feature_input
from voxpop.models.saved_runs import RUNS_FILE, load_run
from voxpop.study.loading import load_recipe
from voxpop.study.run import run_recipe

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "6-dimensional.yaml"
DIMS = ["arousal", "valence", "dominance"]
ENV = {"COLUMNS": "200"}
needs_onnx = pytest.mark.skipif(  # find_spec: collecting does not import onnxruntime
    importlib.util.find_spec("onnxruntime") is None, reason="the export extra (onnx, onnxruntime) is not installed"
)


@pytest.fixture(scope="module")
def study6(demo_corpus, tmp_path_factory):
    """Study 6 at its smallest: the tiny demo corpus, fbank features, one loss (ccc), EWE targets, 3 folds, 2 epochs."""
    root = tmp_path_factory.mktemp("study6")
    ewe = "{gold_standard: ewe, dimensions: [arousal, valence, dominance], condition: voice}"
    overrides = [
        "corpus.demo=null", f"corpus.path={demo_corpus.dir}", "features.extractor=fbank",
        f"features.store={root / 'store'}", "model.epochs=2", "evaluation.bootstrap=50", "protocol.speaker_folds.k=3",
        "grid={}", "analyses={}", f"labels.train={{EWE: {ewe}}}", f"labels.test={{EWE: {ewe}}}",
    ]  # fmt: skip
    run = run_recipe(load_recipe(RECIPE, overrides), root / "out", source="6-dimensional.yaml")
    return SimpleNamespace(run=run, out=root / "out", store=root / "store", corpus=demo_corpus.corpus)


def test_a_study_of_dimensions_writes_its_regressors_to_runs_json(study6):
    records = json.loads((study6.out / RUNS_FILE).read_text())
    assert list(records) == ["base"]
    record = records["base"]
    assert record["kind"] == "continuous" and record["classes"] == DIMS and record["multilabel"] is False
    assert record["scale"] == {d: [1.0, 5.0] for d in DIMS}  # the demo's dimension ratings are on 1..5
    run = load_run(study6.out)
    assert run.labels.kind == "continuous" and run.labels.dimensions == DIMS
    stage = study6.run.plan.sources["base", "EWE"]
    pd.testing.assert_frame_equal(run.predictions, study6.run.output(stage).predictions)
    assert sorted(run.fold_models()) == ["fold1", "fold2", "fold3"]


@needs_onnx
def test_exported_regressors_reproduce_the_out_of_fold_predictions(study6, tmp_path):
    from voxpop.features import extract
    from voxpop.models.export import load_exported

    result = CliRunner().invoke(app, ["export", str(study6.out), "--out", str(tmp_path / "onnx")], env=ENV)
    assert result.exit_code == 0, result.output
    exported = load_exported(tmp_path / "onnx")
    card = exported.card
    assert card["kind"] == "continuous" and card["classes"] == DIMS and card["output_name"] == "values"
    assert card["scale"] == {d: [1.0, 5.0] for d in DIMS}
    assert {m["metric"] for m in card["metrics"]} >= {"ccc", "ccc[arousal]", "rmse"}
    # each fold's ONNX graph on that fold's test items gives the study's out-of-fold predictions
    predictions = load_run(study6.out).predictions
    features = extract(study6.corpus, "fbank", store=study6.store)
    for fold, rows in predictions.groupby("fold"):
        x = feature_input(features, rows.index)
        values = exported.sessions[fold].run(["values"], {"x": x})[0]
        np.testing.assert_allclose(values, rows[DIMS].to_numpy(), atol=1e-5)
    # voxpop predict from the exported folder = from the run = the mean of the fold models
    files = list(study6.corpus.items["audio"].iloc[[0, 9]])
    from_run = CliRunner().invoke(app, ["predict", str(study6.out), *files, "--format", "json"], env=ENV)
    from_onnx = CliRunner().invoke(app, ["predict", str(tmp_path / "onnx"), *files, "--format", "json"], env=ENV)
    assert from_run.exit_code == 0 and from_onnx.exit_code == 0, from_run.output + from_onnx.output
    a, b = json.loads(from_run.stdout), json.loads(from_onnx.stdout)
    items = [study6.corpus.items.index[0], study6.corpus.items.index[9]]
    models = load_run(study6.out).fold_models()
    mean = np.mean([m.outputs(feature_input(features, items)) for m in models.values()], axis=0)
    for row_a, row_b, expected in zip(a, b, mean, strict=True):
        assert list(row_a["values"]) == DIMS
        np.testing.assert_allclose(list(row_a["values"].values()), expected, atol=1e-5)
        np.testing.assert_allclose(list(row_b["values"].values()), expected, atol=1e-5)


def test_evaluate_of_a_regressor_equals_the_study_results(study6, tmp_path):
    labels = study6.out / "cache" / study6.run.plan.labels["test", "EWE"].name / "labels.parquet"
    command = ["evaluate", str(study6.out), "--labels", str(labels), "--bootstrap", "50", "--seed", "0",
               "--out", str(tmp_path / "scores.csv")]  # fmt: skip
    result = CliRunner().invoke(app, command, env=ENV)
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(tmp_path / "scores.csv").set_index("metric")
    results = study6.run.results
    cell = results[results["train"].eq("EWE") & results["test"].eq("EWE") & results["group"].eq("all")]
    cell = cell.set_index("metric")
    assert set(cell.index) == set(scores.index)  # ccc, ccc[arousal], ..., rmse: no summary over "classes"
    columns = ["value", "low", "high", "n_items", "fold_mean", "fold_sd", "n_folds"]
    np.testing.assert_allclose(
        scores.loc[cell.index, columns].to_numpy(float), cell[columns].to_numpy(float), rtol=0, atol=1e-12
    )
    # the printed table speaks of dimensions: an error metric per dimension is lower-is-better, and no class notes
    assert "rmse[arousal] (lower is better)" in result.output and "mae[valence] (lower is better)" in result.output
    for classes_only in ("stratified by true class", "tied targets", "absent classes", "drawing classes"):
        assert classes_only not in result.output
    assert "bootstrap intervals over items, 50 resamples" in result.output


def test_fuse_of_regressors_is_the_weighted_mean(tmp_path):
    index = pd.Index(["i1", "i2"], name="item")
    a = pd.DataFrame({"arousal": [1.0, 3.0], "valence": [2.0, 4.0], "fold": ["f1", "f2"]}, index=index)
    b = pd.DataFrame({"arousal": [5.0, 1.0], "valence": [4.0, 4.0], "fold": ["f1", "f2"]}, index=index)
    save_predictions(Predictions(a, kind="continuous"), tmp_path / "a.parquet")
    save_predictions(Predictions(b, kind="continuous"), tmp_path / "b.parquet")
    command = ["fuse", str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet"), "--weight", "a=3", "--weight", "b=1",
               "--out", str(tmp_path / "fused.parquet")]  # fmt: skip
    result = CliRunner().invoke(app, command, env=ENV)
    assert result.exit_code == 0, result.output
    fused = load_predictions(tmp_path / "fused.parquet")
    assert fused.kind == "continuous" and fused.table["fold"].tolist() == ["f1", "f2"]
    # by hand: (3 a + 1 b) / 4 -> arousal (3 + 5) / 4 = 2, (9 + 1) / 4 = 2.5; valence (6 + 4) / 4 = 2.5, 4
    assert fused.table["arousal"].tolist() == [2.0, 2.5] and fused.table["valence"].tolist() == [2.5, 4.0]
    equal = CliRunner().invoke(app, [*command[:3], "--out", str(tmp_path / "equal.parquet")], env=ENV)
    assert equal.exit_code == 0, equal.output
    assert load_predictions(tmp_path / "equal.parquet").table["arousal"].tolist() == [3.0, 2.0]  # (a + b) / 2
    bad = CliRunner().invoke(app, [*command[:3], "--weight", "c=1", "--out", str(tmp_path / "x.parquet")], env=ENV)
    assert bad.exit_code != 0 and "unknown inputs ['c']" in str(bad.exception)


def test_the_headline_of_a_dimensional_study_is_its_best_mean_ccc(study6):
    from voxpop.report.headline import study_headline
    from voxpop.report.study import build_report

    results = study6.run.results[study6.run.results["group"].eq("all")].set_index("metric")
    mean = results.loc[[f"ccc[{d}]" for d in DIMS], "value"].mean()  # one model, one test set: the mean CCC cell
    headline = study_headline(study6.run)
    assert headline.metric == "ccc" and headline.best["value"].tolist() == [mean]
    assert headline.best[["test", "variant", "train"]].to_numpy().tolist() == [["EWE", "base", "EWE"]]
    markdown = build_report(study6.run).markdown()
    assert markdown.split("\n## ")[1].startswith("Headline\n\n**Question:** Which gold standard")
    low, high, items = results.loc["ccc", ["low", "high", "n_items"]]
    assert f"| EWE | EWE | {mean:.3f} [{low:.3f}, {high:.3f}] | 0.000 | {int(items)} | 1 |" in markdown
    header = "| test label set | best train label set | mean CCC [95 % CI] | chance | items | models compared |"
    assert header in markdown


def test_voxpop_train_regresses_a_continuous_label_file_with_svr_and_refuses_a_regressor_on_classes(
    study6, demo_corpus, tmp_path
):
    """`voxpop train CORPUS --labels dims.parquet --head svr` was refused three ways: the file counted as classes
    ("'ce' regresses dimensions, but this study's label sets give classes"), --head svr dropped --loss (so 'ce'),
    and the summary table asked for macro_f1 (a KeyError traceback). A regressor on classes names the head."""
    from voxpop.labels.label_files import load_label_set

    labels_file = next(p for p in (study6.out / "cache").glob("labels-*/labels.parquet"))
    assert load_label_set(labels_file).kind == "continuous"
    command = ["train", str(demo_corpus.dir), "--labels", str(labels_file), "--head", "svr", "--k", "3",
               "--extractor", "fbank", "--store", str(study6.store), "--bootstrap", "20",
               "--out", str(tmp_path / "svr")]  # fmt: skip
    result = CliRunner().invoke(app, command, env=ENV)
    assert result.exit_code == 0, result.output
    assert "ccc [95 % CI]" in result.output and "rmse [95 % CI]" in result.output
    record = json.loads((tmp_path / "svr" / RUNS_FILE).read_text())["base"]
    assert record["kind"] == "continuous" and record["model"]["head"] == "svr"
    assert "loss: mse" in (tmp_path / "svr" / "recipe.yaml").read_text()
    on_classes = ["train", str(demo_corpus.dir), "--labels", "mr", "--condition", "voice", "--head", "svr",
                  "--out", str(tmp_path / "cls")]  # fmt: skip
    refused = CliRunner().invoke(app, on_classes, env=ENV)
    assert refused.exit_code != 0
    said = refused.output + str(refused.exception)
    assert "model.head: 'svr' regresses dimensions, but this study's label sets give classes" in said


def test_a_runs_json_whose_kind_contradicts_its_label_set_is_refused(study6, tmp_path):
    """A hand-edited runs.json (kind 'categorical' for a regressor, or 'regression') reached export as an
    AttributeError traceback ('LabelSet' object has no attribute 'dimensions'); it is refused naming the file,
    the run and the key."""
    import shutil

    from voxpop.core.errors import InputError
    from voxpop.models.saved_runs import find_runs

    out = tmp_path / "edited"
    shutil.copytree(study6.out, out, ignore=shutil.ignore_patterns("features", "store"))
    records = json.loads((out / RUNS_FILE).read_text())
    for claimed in ("categorical", "regression"):
        records["base"]["kind"] = claimed
        (out / RUNS_FILE).write_text(json.dumps(records))
        with pytest.raises(InputError, match=rf"runs.json: run 'base', kind '{claimed}', but its label set .* is "
                                             r"continuous"):  # fmt: skip
            find_runs(out)
    result = CliRunner().invoke(app, ["export", str(out), "--out", str(tmp_path / "onnx")], env=ENV)
    assert result.exit_code != 0 and "Traceback" not in result.output


@needs_onnx
def test_an_exported_ridge_regressor_reproduces_its_out_of_fold_predictions(study6, demo_corpus, tmp_path):
    """The classical regressor path of the export (skl2onnx, the fold's standardisation in front, values reshaped
    to N x D): each fold's graph on its test items gives the run's out-of-fold predictions."""
    from voxpop.features import extract
    from voxpop.labels.label_files import load_label_set
    from voxpop.models.export import load_exported

    labels_file = next(p for p in (study6.out / "cache").glob("labels-*/labels.parquet"))
    assert load_label_set(labels_file).kind == "continuous"
    out = tmp_path / "ridge"
    command = ["train", str(demo_corpus.dir), "--labels", str(labels_file), "--head", "ridge", "--k", "3",
               "--extractor", "fbank", "--store", str(study6.store), "--bootstrap", "20",
               "--out", str(out)]  # fmt: skip
    trained = CliRunner().invoke(app, command, env=ENV)
    assert trained.exit_code == 0, trained.output
    result = CliRunner().invoke(app, ["export", str(out), "--out", str(tmp_path / "onnx")], env=ENV)
    assert result.exit_code == 0, result.output
    exported = load_exported(tmp_path / "onnx")
    assert exported.card["kind"] == "continuous" and exported.card["output_name"] == "values"
    predictions = load_run(out).predictions
    features = extract(demo_corpus.corpus, "fbank", store=study6.store)
    for fold, rows in predictions.groupby("fold"):
        values = exported.sessions[fold].run(["values"], {"x": feature_input(features, rows.index)})[0]
        np.testing.assert_allclose(values, rows[DIMS].to_numpy(), atol=1e-5)
