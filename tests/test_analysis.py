"""voxpop.evaluation.analysis: ensembles, Dirichlet fusion, cross-test matrices, easy / difficult items."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from voxpop.core.errors import InputError
from voxpop.evaluation import analysis as va
from voxpop.evaluation import divergences, resampling
from voxpop.evaluation import metrics as vm
from voxpop.labels import decisions

CLASSES = ["neutral", "anger", "sadness", "happiness"]


def _model_outputs(seed: int, n: int = 120, skill: float = 1.0) -> tuple[pd.Series, dict[str, pd.DataFrame]]:
    """Validation labels and three models' probabilities; each model is good at different classes."""
    rng = np.random.default_rng(seed)
    index = pd.Index([f"clip{i:03d}" for i in range(n)], name="item")
    true = rng.integers(0, len(CLASSES), n)
    models = {}
    for m, name in enumerate(["audio", "video", "text"]):
        strength = skill * np.where(np.arange(len(CLASSES)) % 3 == m, 2.0, 0.3)
        logits = rng.normal(size=(n, len(CLASSES))) + strength[true][:, None] * np.eye(len(CLASSES))[true]
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        models[name] = pd.DataFrame(probs, index=index, columns=CLASSES)
    return pd.Series(np.asarray(CLASSES)[true], index=index, name="label"), models


# --------------------------------------------------------------------------------------------------
# Ensembles


def test_average_probabilities_aligns_items_and_classes():
    _, models = _model_outputs(0, n=10)
    shuffled = models["video"].sample(frac=1.0, random_state=1)[CLASSES[::-1]]
    mean = va.average_probabilities({"audio": models["audio"], "video": shuffled})
    expected = (models["audio"].to_numpy() + models["video"].to_numpy()) / 2
    np.testing.assert_allclose(mean.to_numpy(), expected)
    assert mean.index.equals(models["audio"].index) and list(mean.columns) == CLASSES


def test_majority_vote_and_its_tie_rule():
    index = ["a", "b", "c", "d"]
    decisions = {
        "m1": pd.Series(["anger", "neutral", "sadness", "anger"], index=index),
        "m2": pd.Series(["anger", "sadness", "happiness", "neutral"], index=index),
        "m3": pd.Series(["neutral", "sadness", "neutral", "neutral"], index=index),
        "m4": pd.Series(["neutral", "neutral", "anger", "anger"], index=index),
    }
    # a: anger 2 / neutral 2 -> m1's anger; b: neutral 2 / sadness 2 -> m1's neutral;
    # c: four-way tie -> m1's sadness; d: anger 2 / neutral 2 -> m1's anger
    assert va.majority_vote(decisions, CLASSES).tolist() == ["anger", "neutral", "sadness", "anger"]
    reordered = {k: decisions[k] for k in ["m2", "m1", "m3", "m4"]}  # m2 first now breaks the ties
    assert va.majority_vote(reordered, CLASSES).tolist() == ["anger", "sadness", "happiness", "neutral"]
    three = {k: decisions[k] for k in ["m1", "m2", "m3"]}  # c: a three-way tie -> m1
    assert va.majority_vote(three, CLASSES).tolist() == ["anger", "sadness", "sadness", "neutral"]
    with pytest.raises(InputError, match=r"m2: item 'b' has label 'calm'"):
        va.majority_vote({"m1": decisions["m1"], "m2": decisions["m2"].replace("sadness", "calm")}, CLASSES)


# --------------------------------------------------------------------------------------------------
# Dirichlet late fusion


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fusion_is_never_worse_than_the_best_single_model_on_validation(seed):
    from sklearn import metrics as skm

    labels, models = _model_outputs(seed, skill=0.6)
    fusion = va.dirichlet_fusion(models, labels, n_draws=300, seed=seed)
    singles = [vm.uar(labels, decisions.decide(p), classes=CLASSES) for p in models.values()]
    np.testing.assert_allclose(fusion.candidate_uar[:3], singles)  # unit weights come first
    assert fusion.validation_uar >= max(singles)
    # the reported score is the UAR of the fused decisions, recomputed independently with sklearn
    fused = decisions.decide(fusion.apply(models))
    expected = skm.recall_score(labels, fused, labels=CLASSES, average="macro", zero_division=0)
    assert fusion.validation_uar == pytest.approx(expected)


def test_fusion_weights_are_dirichlet_per_class_and_reproducible():
    labels, models = _model_outputs(4)
    first = va.dirichlet_fusion(models, labels, n_draws=200, seed=7)
    again = va.dirichlet_fusion(models, labels, n_draws=200, seed=7)
    other = va.dirichlet_fusion(models, labels, n_draws=200, seed=8)
    pd.testing.assert_frame_equal(first.weights, again.weights)
    np.testing.assert_array_equal(first.candidate_uar, again.candidate_uar)
    assert not np.array_equal(first.candidate_uar[3:], other.candidate_uar[3:])
    np.testing.assert_allclose(first.weights.sum(axis=0), 1.0)
    assert first.weights.index.tolist() == ["audio", "video", "text"] and first.weights.columns.tolist() == CLASSES
    # candidate k >= 3 is draw k - 3 of default_rng(seed).dirichlet(ones(M), size=(n_draws, C)), transposed
    draws = np.random.default_rng(7).dirichlet(np.ones(3), size=(200, len(CLASSES))).transpose(0, 2, 1)
    k = 3 + 17
    weights = pd.DataFrame(draws[17], index=list(models), columns=CLASSES)
    fused = decisions.decide(va.fuse(models, weights))
    assert first.candidate_uar[k] == pytest.approx(vm.uar(labels, fused, classes=CLASSES))


def test_fusion_of_outside_prediction_files_matches_on_ids_and_columns():
    labels, models = _model_outputs(5, n=60)
    reference = va.dirichlet_fusion(models, labels, n_draws=100, seed=0)
    outside = dict(models)
    outside["video"] = models["video"].iloc[::-1][CLASSES[::-1]]  # another tool's order
    shuffled = va.dirichlet_fusion(outside, labels.sample(frac=1.0, random_state=0), n_draws=100, seed=0)
    pd.testing.assert_frame_equal(reference.weights, shuffled.weights)
    with pytest.raises(InputError, match=r"video: items differ from 'audio': missing 2 \('clip000', 'clip001'\)"):
        va.dirichlet_fusion({**models, "video": models["video"].iloc[2:]}, labels)
    renamed = models["text"].rename(columns={"happiness": "joy"})
    with pytest.raises(InputError, match=r"text: class columns differ.*missing \['happiness'\], extra \['joy'\]"):
        va.dirichlet_fusion({**models, "text": renamed}, labels)
    with pytest.raises(InputError, match=r"fusion weights and predictions name different models"):
        va.fuse({"audio": models["audio"]}, reference.weights)


# --------------------------------------------------------------------------------------------------
# Cross-test matrices


def test_cross_test_matrix_and_pivot():
    rng = np.random.default_rng(0)
    cells = {}
    for train in ["voice", "face"]:
        for test in ["voice", "face", "av"]:
            true = rng.integers(0, 3, 80)
            pred = np.where(rng.random(80) < 0.6, true, rng.integers(0, 3, 80))
            cells[(train, test)] = (true, pred)
    table = va.cross_test_matrix(cells, metrics=["macro_f1", "uar"], n_boot=100)
    assert table.columns.tolist() == ["train", "test", "metric", "value", "low", "high", "absent_classes"]
    assert len(table) == 6 * 2
    matrix = va.pivot_cross_test(table, "uar")
    assert matrix.index.tolist() == ["voice", "face"] and matrix.columns.tolist() == ["voice", "face", "av"]
    true, pred = cells[("face", "av")]
    assert matrix.loc["face", "av"] == pytest.approx(vm.uar(true, pred))
    low, high = table.query("train == 'face' and test == 'av' and metric == 'uar'")[["low", "high"]].iloc[0]
    assert (low, high) == pytest.approx(resampling.bootstrap_ci("uar", true, pred, n_boot=100)[1:])
    text = va.pivot_cross_test(table, "uar", digits=3)
    assert text.loc["face", "av"] == f"{matrix.loc['face', 'av']:.3f} [{low:.3f}, {high:.3f}]"


def test_cross_test_cells_can_carry_distributions():
    target = np.array([[0.6, 0.4, 0.0], [0.2, 0.2, 0.6], [1.0, 0.0, 0.0]])
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [0.7, 0.2, 0.1]])
    cell = {
        "y_true": decisions.binarize_above_uniform(target),
        "y_pred": decisions.binarize_above_uniform(probs),
        "target": target,
        "probabilities": probs,
    }
    table = va.cross_test_matrix({("AR", "AR"): cell}, metrics=["macro_f1"], n_boot=0)
    assert table["metric"].tolist() == ["macro_f1", "kld", "jsd"]
    assert table["value"].iloc[1] == pytest.approx(divergences.kld(target, probs))


# --------------------------------------------------------------------------------------------------
# Easy and difficult items


def _hand_example() -> tuple[pd.Series, dict[str, pd.Series], pd.DataFrame, pd.Series]:
    index = ["a", "b", "c", "d", "e", "f", "g"]
    truth = pd.Series(["anger", "anger", "neutral", "sadness", "neutral", "happiness", "sadness"], index=index)
    preds = {
        "m1": pd.Series(["anger", "anger", "neutral", "anger", "sadness", "happiness", "neutral"], index=index),
        "m2": pd.Series(["anger", "anger", "neutral", "neutral", "anger", "neutral", "anger"], index=index),
    }
    items = pd.DataFrame(
        {
            "speaker": ["s1", "s1", "s2", "s3", "s3", "s1", "s3"],
            "gender": ["F", "F", "M", "M", "M", "F", "M"],
            "duration": [2.0, 2.5, 3.0, 6.0, 5.0, 4.0, 7.0],
        },
        index=index,
    )
    agreement = pd.Series([1.0, 0.8, 0.9, 0.4, 0.5, 0.6, 0.3], index=index)
    return truth, preds, items, agreement


def test_easy_and_difficult_items_on_a_hand_example():
    truth, preds, _, _ = _hand_example()
    groups = va.easy_difficult_items(truth, preds)
    assert groups.to_dict() == {
        "a": "easy",
        "b": "easy",
        "c": "easy",
        "d": "difficult",
        "e": "difficult",
        "f": "mixed",
        "g": "difficult",
    }
    multi_truth = pd.DataFrame({"A": [1, 1], "S": [0, 1]}, index=["x", "y"])
    multi_pred = {"m": pd.DataFrame({"S": [0, 0], "A": [1, 1]}, index=["x", "y"])}
    assert va.easy_difficult_items(multi_truth, multi_pred).tolist() == ["easy", "difficult"]


def test_compare_easy_difficult_summary():
    truth, preds, items, agreement = _hand_example()
    groups = va.easy_difficult_items(truth, preds)
    summary = va.compare_easy_difficult(groups, items, agreement)
    easy, difficult = ["a", "b", "c"], ["d", "e", "g"]
    assert summary.loc["items"].tolist()[:3] == [3.0, 3.0, 7.0]
    assert summary.loc["agreement", "easy"] == pytest.approx(0.9)
    assert summary.loc["agreement", "difficult"] == pytest.approx(0.4)
    assert summary.loc["duration", "difficult"] == pytest.approx(6.0)
    # speaker frequency: s1 has 3 items, s2 1, s3 3 -> easy (3, 3, 1), difficult (3, 3, 3)
    assert summary.loc["speaker frequency", "easy"] == pytest.approx(7 / 3)
    assert summary.loc["speaker frequency", "difficult"] == pytest.approx(3.0)
    assert summary.loc["gender=F", "easy"] == pytest.approx(2 / 3)
    assert summary.loc["gender=M", "difficult"] == pytest.approx(1.0)
    assert summary.loc["gender=F", "all"] == pytest.approx(3 / 7)
    expected_p = stats.mannwhitneyu(agreement[easy], agreement[difficult], alternative="two-sided").pvalue
    assert summary.loc["agreement", "p_value"] == pytest.approx(expected_p)
    expected_chi2 = stats.chi2_contingency([[2, 1], [0, 3]]).pvalue  # rows easy / difficult, columns F / M
    assert summary.loc["gender=F", "p_value"] == pytest.approx(expected_chi2)


def test_compare_easy_difficult_reports_missing_values_and_columns():
    truth, preds, items, _ = _hand_example()
    groups = va.easy_difficult_items(truth, preds)
    holey = items.assign(duration=[2.0, np.nan, 3.0, 6.0, np.nan, 4.0, 7.0])
    summary = va.compare_easy_difficult(groups, holey, gender=None)
    assert summary.loc["duration (missing)", ["easy", "difficult", "all"]].tolist() == [1.0, 1.0, 2.0]
    assert summary.loc["duration", "easy"] == pytest.approx(2.5)
    assert not any(row.startswith("gender") for row in summary.index)
    with pytest.raises(InputError, match=r"no column\(s\) \['sex'\].*gender=\.\.\."):
        va.compare_easy_difficult(groups, items, gender="sex")


# ---------------------------------------------------------------- identical label sets and result cells
def test_identical_entries_flags_equal_label_sets_and_result_columns_only():
    targets = pd.DataFrame({"A": [1.0, 0.5, 0.0], "S": [0.0, 0.5, 1.0]}, index=["i1", "i2", "i3"])
    entries = {
        "S": targets,
        "S*": targets.iloc[[2, 0, 1]],  # same items and targets in another order: equal
        "P": targets.assign(A=[1.0, 0.5, 0.25]),  # one value differs
        "P*": targets.iloc[:2],  # a subset of the items
        "X": targets.set_axis(["i1", "i2", "i4"]),  # other items
        "Y": targets.rename(columns={"S": "H"}),  # other classes
    }
    assert va.identical_entries(entries, "label set", "targets", "items") == [
        "label set S* equals S: identical targets on all 3 items"
    ]
    cells = pd.MultiIndex.from_tuples([("wce", "MR", "uar"), ("kld", "MR", "uar")])
    results = {
        "P": pd.Series([0.61, 0.64], index=cells),
        "S": pd.Series([0.60, float("nan")], index=cells),
        "S*": pd.Series([0.60, float("nan")], index=cells),
    }
    assert va.identical_entries(results, "train label set", "results", "cells") == [
        "train label set S* equals S: identical results on all 2 cells"
    ]
