"""The speaker-cluster bootstrap: whole speakers resampled with replacement, checked against numpy by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pydantic
import pytest

from voxpop.core.errors import InputError
from voxpop.evaluation.resampling import bootstrap_ci, bootstrap_distribution, resample_groups, resample_indices
from voxpop.evaluation.results import evaluate_predictions
from voxpop.evaluation.scoring import evaluate
from voxpop.evaluation.significance import paired_cells
from voxpop.labels.labelset import Accounting, LabelSet
from voxpop.study.recipe import EvaluationConfig


def _three_speakers():
    """Speaker a: 4 items, 3 right; b: 2 items, 0 right; c: 3 items, 3 right (single-label, classes 0/1)."""
    speakers = np.array(["a"] * 4 + ["b"] * 2 + ["c"] * 3)
    truth = np.array([0, 1, 0, 1, 1, 1, 0, 1, 0])
    right = np.array([1, 1, 1, 0, 0, 0, 1, 1, 1], dtype=bool)
    pred = np.where(right, truth, 1 - truth)
    return speakers, truth, pred


def test_cluster_bootstrap_accuracy_equals_the_drawn_speakers_by_hand():
    speakers, truth, pred = _three_speakers()
    correct, size = np.array([3, 0, 3]), np.array([4, 2, 3])  # per speaker a, b, c (order of first appearance)
    # one resample written out: speakers a, a, b -> (3 + 3 + 0) / (4 + 4 + 2) = 0.6
    one = bootstrap_distribution("accuracy", truth, pred, indices=np.array([[0, 0, 1]]), groups=speakers)
    assert one.tolist() == [pytest.approx(0.6)]
    draws = np.random.default_rng(7).integers(0, 3, (400, 3))  # G speakers out of G, with replacement
    expected = correct[draws].sum(axis=1) / size[draws].sum(axis=1)
    dist = bootstrap_distribution("accuracy", truth, pred, n_boot=400, seed=7, groups=speakers)
    np.testing.assert_allclose(dist, expected, rtol=0, atol=1e-12)
    ci = bootstrap_ci("accuracy", truth, pred, n_boot=400, seed=7, groups=list(speakers))
    assert ci.value == pytest.approx(6 / 9)
    assert (ci.low, ci.high) == pytest.approx(tuple(np.quantile(expected, [0.025, 0.975])))
    assert resample_indices(truth, n_boot=400, seed=7, groups=speakers).tolist() == draws.tolist()


def test_a_resample_without_a_class_scores_it_with_the_set_class_list():
    speakers, truth, pred = _three_speakers()
    # speakers c, c, c: items 6, 7, 8 three times; truth 0, 1, 0 -> both classes, all right: UAR 1
    # speakers b, b, b: items 4, 5 (truth 1, 1, both wrong) -> class 0 absent: recall 0 (zero_division), class 1 0
    # speakers a, c, c: class 0 recall (2 + 2 + 2) / 6 = 1; class 1: a has 2 (1 right), c has 1 each -> 3/4
    draws = np.array([[2, 2, 2], [1, 1, 1], [0, 2, 2]])
    dist = bootstrap_distribution("uar", truth, pred, indices=draws, groups=speakers)
    np.testing.assert_allclose(dist, [1.0, 0.0, (1.0 + 0.75) / 2])
    loose = bootstrap_distribution("uar", truth, pred, indices=draws, groups=speakers, zero_division=np.nan)
    np.testing.assert_allclose(loose, [1.0, 0.0, 0.875])  # nan: the second resample leaves class 0 out


def test_kld_and_jsd_divide_by_each_resample_item_count():
    speakers = pd.Series(["s1", "s1", "s2"], index=["i1", "i2", "i3"])
    target = pd.DataFrame({"A": [0.5, 1.0, 0.25], "S": [0.5, 0.0, 0.75]}, index=speakers.index)
    probs = pd.DataFrame({"A": [0.25, 0.5, 0.5], "S": [0.75, 0.5, 0.5]}, index=speakers.index)
    truth = pd.Series(["A", "A", "S"], index=speakers.index)
    # KL by hand (eps 1e-10 is below the tolerance): per item t log(t / q)
    kl = [0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(0.5 / 0.75), np.log(2.0), 0.25 * np.log(0.5) + 0.75 * np.log(1.5)]
    table = evaluate(
        truth, truth, classes=["A", "S"], metrics=["accuracy"], per_class=False, target=target,
        probabilities=probs, indices=np.array([[0, 1], [1, 1]]), groups=speakers.sample(frac=1, random_state=0),
    ).set_index("metric")  # fmt: skip
    # resample 0 = s1, s2 (3 items); resample 1 = s2, s2 (2 items); the percentile interval of two values
    means = np.array([sum(kl) / 3, kl[2]])
    assert table.loc["kld", "value"] == pytest.approx(sum(kl) / 3, abs=1e-8)
    low, high = np.quantile(means, [0.025, 0.975])
    assert (table.loc["kld", "low"], table.loc["kld", "high"]) == pytest.approx((low, high), abs=1e-8)


@pytest.mark.parametrize("seed", [0, 3])
def test_one_item_per_speaker_draws_the_unstratified_item_bootstrap(seed):
    rng = np.random.default_rng(11)
    truth = rng.integers(0, 3, 60)
    pred = np.where(rng.random(60) < 0.7, truth, rng.integers(0, 3, 60))
    speakers = [f"spk{i}" for i in rng.permutation(60)]  # any names: codes follow first appearance
    items = np.random.default_rng(seed).integers(0, 60, (300, 60))  # the unstratified item resamples
    for metric in ("uar", "macro_f1", "mcc", "accuracy"):
        by_item = bootstrap_distribution(metric, truth, pred, classes=[0, 1, 2], indices=items)
        by_speaker = bootstrap_distribution(metric, truth, pred, classes=[0, 1, 2], n_boot=300, seed=seed,
                                            groups=speakers)  # fmt: skip
        np.testing.assert_array_equal(by_speaker, by_item)
    multi_true, multi_pred = rng.random((60, 4)) < 0.4, rng.random((60, 4)) < 0.4
    plain = evaluate(multi_true.astype(int), multi_pred.astype(int), n_boot=300, seed=seed)
    clustered = evaluate(multi_true.astype(int), multi_pred.astype(int), n_boot=300, seed=seed, groups=speakers)
    pd.testing.assert_frame_equal(plain, clustered)  # multi-label item resamples are unstratified too


def test_cluster_intervals_widen_when_a_speaker_is_all_right_or_all_wrong():
    speakers = np.repeat(np.arange(20), 10)  # 20 speakers x 10 items
    truth = np.tile([0, 1], 100)
    right = np.repeat(np.arange(20) % 2 == 0, 10)  # 10 speakers all right, 10 all wrong: accuracy 0.5
    pred = np.where(right, truth, 1 - truth)
    items = bootstrap_ci("accuracy", truth, pred, n_boot=2000, seed=0)
    clusters = bootstrap_ci("accuracy", truth, pred, n_boot=2000, seed=0, groups=speakers)
    # standard errors: items sqrt(0.25 / 200) = 0.035, speakers sqrt(0.25 / 20) = 0.112 (width ~ 3.92 SE)
    assert items.high - items.low == pytest.approx(3.92 * np.sqrt(0.25 / 200), rel=0.15)
    assert clusters.high - clusters.low == pytest.approx(3.92 * np.sqrt(0.25 / 20), rel=0.15)
    assert clusters.high - clusters.low > 2.5 * (items.high - items.low)


def test_paired_cells_resample_the_same_speakers_for_both_models():
    ids = pd.Index([f"i{k}" for k in range(6)])
    speakers = pd.Series(["s1", "s1", "s2", "s2", "s3", "s3"], index=ids)
    truth = pd.DataFrame({"label": ["A", "S", "A", "S", "A", "S"]}, index=ids)
    wrong = truth.copy()
    wrong.loc[["i0", "i1"], "label"] = ["S", "A"]  # model b is wrong on both items of speaker s1 only
    table = paired_cells(
        {"a": (truth, truth), "b": (truth, wrong)}, ["A", "S"], "accuracy", n_boot=500, seed=4, speakers=speakers
    )
    row = table.iloc[0]
    # every resample holds 6 items; a - b = 2 k / 6 with k the draws of s1 (code 0)
    k = (np.random.default_rng(4).integers(0, 3, (500, 3)) == 0).sum(axis=1)
    differences = 2 * k / 6
    assert row["difference"] == pytest.approx(1 / 3)
    assert (row["low"], row["high"]) == pytest.approx(tuple(np.quantile(differences, [0.025, 0.975])))
    assert row["p_value"] == pytest.approx(min(1.0, 2 * (differences <= 0).mean()))  # no resample favours b
    assert row["low"] == 0.0 and row["p_value"] > 0.05  # s1 missing from ~30 % of resamples: no holding difference
    same = paired_cells({"a": (truth, truth), "c": (truth, truth)}, ["A", "S"], "accuracy", speakers=speakers)
    assert same[["difference", "low", "high", "p_value"]].iloc[0].tolist() == [0.0, 0.0, 0.0, 1.0]


def test_evaluate_predictions_resamples_speakers_of_the_scored_items():
    ids = [f"clip{i:02d}" for i in range(12)]
    targets = pd.DataFrame(np.eye(2)[np.arange(12) % 2], index=ids, columns=["A", "S"])
    labels = LabelSet(targets, pd.Series(True, index=ids), targets * 3, "mr", Accounting(12, 12, 36, 36))
    right = np.array([1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1], dtype=bool)  # speakers of 4: s0 4/4, s1 1/4, s2 4/4
    top = np.where(right, np.arange(12) % 2, 1 - np.arange(12) % 2)
    predictions = pd.DataFrame(np.where(np.eye(2)[top] > 0, 0.8, 0.2), index=pd.Index(ids, dtype="string"),
                               columns=["A", "S"])  # fmt: skip
    speakers = pd.Series(np.repeat(["s0", "s1", "s2"], 4), index=ids)
    table = evaluate_predictions(predictions, labels, n_boot=300, seed=2, speakers=speakers).set_index("metric")
    draws = np.random.default_rng(2).integers(0, 3, (300, 3))
    expected = np.array([4, 1, 4])[draws].sum(axis=1) / 12
    assert table.loc["accuracy", "value"] == pytest.approx(9 / 12)
    assert (table.loc["accuracy", "low"], table.loc["accuracy", "high"]) == pytest.approx(
        tuple(np.quantile(expected, [0.025, 0.975]))
    )
    with pytest.raises(InputError, match="1 speaker.*at least 2.*--resample items"):
        evaluate_predictions(predictions, labels, n_boot=10, speakers=pd.Series("s0", index=ids))
    with pytest.raises(InputError, match="no speaker for 2 scored items"):
        evaluate_predictions(predictions, labels, n_boot=10, speakers=speakers.iloc[2:])


def test_speakers_come_from_the_speaker_column_or_a_clear_error():
    items = pd.DataFrame({"speaker": ["s1", "s2"], "gender": ["f", "m"]}, index=["a", "b"])
    assert resample_groups(items, "items") is None
    assert resample_groups(items, "speakers").tolist() == ["s1", "s2"]
    with pytest.raises(InputError, match="no 'speaker' column.*evaluation.resample: items"):
        resample_groups(items.drop(columns="speaker"), "speakers")
    with pytest.raises(InputError, match="has no speaker"):
        bootstrap_distribution("accuracy", [0, 1, 1], [0, 1, 0], groups=["s1", None, "s2"])
    assert EvaluationConfig().resample == "items" and EvaluationConfig(resample="speakers").resample == "speakers"
    with pytest.raises(pydantic.ValidationError):
        EvaluationConfig(resample="clips")


def test_cli_evaluate_resamples_speakers_of_the_run_corpus(demo_corpus, demo_logreg_run, tmp_path):
    from typer.testing import CliRunner

    from voxpop.cli import app
    from voxpop.evaluation.predictions import Predictions, save_predictions
    from voxpop.labels.rules import make_labels
    from voxpop.models.saved_runs import load_run

    out = tmp_path / "speakers.csv"
    args = ["evaluate", str(demo_logreg_run.directory), "--labels", "mr", "--condition", "voice", "--bootstrap", "50"]
    result = CliRunner().invoke(app, [*args, "--resample", "speakers", "--out", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "over speakers (cluster bootstrap)" in result.output
    predictions = load_run(demo_logreg_run.directory).predictions
    labels = make_labels(demo_corpus.corpus, "mr", condition="voice")
    speakers = demo_corpus.corpus.items["speaker"]
    by_speaker = evaluate_predictions(predictions, labels, n_boot=50, seed=0, speakers=speakers)
    by_item = evaluate_predictions(predictions, labels, n_boot=50, seed=0)
    table = pd.read_csv(out)
    table = table[table["interval"].eq("percentile bootstrap")]  # not the means over classes (Student-t)
    np.testing.assert_allclose(table["value"], by_item["value"])  # the same point values
    np.testing.assert_allclose(table[["low", "high"]], by_speaker[["low", "high"]])  # the corpus's speakers
    assert not np.allclose(table["low"], by_item["low"], equal_nan=True)
    labels.save(tmp_path / "mr.parquet")
    save_predictions(Predictions(predictions), tmp_path / "predictions.parquet")
    refused = CliRunner().invoke(app, [
        "evaluate", str(tmp_path / "predictions.parquet"), "--labels", str(tmp_path / "mr.parquet"),
        "--resample", "speakers",
    ], env={"COLUMNS": "200"})  # fmt: skip
    assert "name the corpus with --corpus" in str(refused.exception)


def test_study_plan_and_report_use_the_recipe_resample(tmp_path):
    from types import SimpleNamespace

    from voxpop.report.result_sections import paired_differences, resampled_units
    from voxpop.study.loading import recipe_from_dict
    from voxpop.study.plan import plan_study

    base = {
        "study": "s",
        "corpus": {"demo": {"size": "tiny"}},  # a study resolves its corpus source (nothing is built here)
        "labels": {"train": {"MR": {"rule": "mr"}}, "test": {"MR": {"rule": "mr"}}},
        "features": {"extractor": "fbank"},
        "model": {"head": "logreg"},
    }
    items = plan_study(recipe_from_dict(base), "corpus")
    by_speaker = plan_study(recipe_from_dict({**base, "evaluation": {"resample": "speakers"}}), "corpus")
    assert all("resample" not in stage.config for stage in items.evaluations.values())  # keys as before
    assert [stage.config["resample"] for stage in by_speaker.evaluations.values()] == ["speakers"]
    assert resampled_units(EvaluationConfig()).startswith("test items (stratified")
    assert resampled_units(EvaluationConfig(resample="speakers")).startswith("speakers (cluster bootstrap")

    # the report's paired differences: model A right everywhere, B wrong on both items of speaker s1
    ids = pd.Index([f"i{k}" for k in range(6)], dtype="string")
    targets = pd.DataFrame(np.eye(2)[[0, 1, 0, 1, 0, 1]], index=ids, columns=["A", "S"])
    labels = LabelSet(targets, pd.Series(True, index=ids), targets * 3, "mr", Accounting(6, 6, 18, 18))
    wrong = targets.copy()
    wrong.iloc[:2] = 1 - wrong.iloc[:2].to_numpy()
    outputs = {"a": SimpleNamespace(probabilities=targets), "b": SimpleNamespace(probabilities=wrong), "t": labels}
    run = SimpleNamespace(
        recipe=SimpleNamespace(
            evaluation=EvaluationConfig(resample="speakers", bootstrap=500, seed=4, metrics=["accuracy"]),
            labels=SimpleNamespace(test={"MR": {}}),
        ),
        plan=SimpleNamespace(
            sources={("m", "A"): "a", ("m", "B"): "b"},
            evaluations={("m", "A", "MR"): None, ("m", "B", "MR"): None},
            labels={("test", "MR"): "t"},
        ),
        output=outputs.__getitem__,
        corpus=SimpleNamespace(items=pd.DataFrame({"speaker": ["s1", "s1", "s2", "s2", "s3", "s3"]}, index=ids)),
    )
    row = paired_differences(run).iloc[0]
    differences = 2 * (np.random.default_rng(4).integers(0, 3, (500, 3)) == 0).sum(axis=1) / 6
    assert (row["a"], row["b"], row["difference"]) == ("A", "B", pytest.approx(1 / 3))
    assert (row["low"], row["high"]) == pytest.approx(tuple(np.quantile(differences, [0.025, 0.975])))
    run.corpus = SimpleNamespace(items=pd.DataFrame(index=ids))
    with pytest.raises(InputError, match="no 'speaker' column"):
        paired_differences(run)
