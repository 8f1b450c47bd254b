"""Chance levels equal the formulas, and the formulas equal a simulated random predictor scored by sklearn."""

from __future__ import annotations

import numpy as np
import pytest

from voxpop.core.errors import InputError
from voxpop.evaluation.chance import chance_multi_label, chance_single_label, direction, prior_baseline

CLASSES = ["neutral", "anger", "happy", "sad", "fear"]


def test_single_label_formulas_by_hand():
    truth = ["neutral"] * 6 + ["anger"] * 3 + ["sad"] * 1  # p = .6, .3, 0, .1, 0
    levels = chance_single_label(truth, CLASSES)
    assert levels["accuracy"] == pytest.approx(0.36 + 0.09 + 0.01)
    assert levels["weighted_f1"] == pytest.approx(0.46)
    assert levels["uar"] == levels["macro_f1"] == pytest.approx(1 / 3)  # three classes present
    assert levels["mcc"] == 0.0
    assert levels["f1[anger]"] == pytest.approx(0.3) and levels["f1[happy]"] == 0.0


@pytest.mark.slow  # 3,000 scikit-learn scores; test_single_label_formulas_by_hand checks every level in the quick suite
def test_single_label_levels_equal_a_simulated_random_predictor():
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, recall_score

    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.25, 0.15, 0.1, 0.0])
    truth = rng.choice(CLASSES, size=400, p=p)
    shares = np.array([(truth == c).mean() for c in CLASSES])
    present = [c for c in CLASSES if (truth == c).any()]
    draws = [rng.choice(CLASSES, size=len(truth), p=shares) for _ in range(600)]
    simulated = {
        "accuracy": np.mean([accuracy_score(truth, d) for d in draws]),
        "uar": np.mean([recall_score(truth, d, labels=present, average="macro", zero_division=0) for d in draws]),
        "weighted_f1": np.mean([f1_score(truth, d, average="weighted", zero_division=0) for d in draws]),
        "mcc": np.mean([matthews_corrcoef(truth, d) for d in draws]),
        "macro_f1": np.mean([f1_score(truth, d, labels=present, average="macro", zero_division=0) for d in draws]),
    }
    levels = chance_single_label(truth, CLASSES)
    for metric, value in simulated.items():
        assert levels[metric] == pytest.approx(value, abs=0.01), metric


def test_multi_label_levels_equal_a_simulated_random_predictor():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(1)
    truth = (rng.random((300, 4)) < np.array([0.6, 0.3, 0.1, 0.0])).astype(int)
    prevalence = truth.mean(axis=0)
    draws = [(rng.random(truth.shape) < prevalence).astype(int) for _ in range(400)]
    positive = prevalence > 0
    levels = chance_multi_label(truth, ["a", "b", "c", "d"])
    simulated_micro = np.mean([f1_score(truth, d, average="micro", zero_division=0) for d in draws])
    simulated_per_class = np.mean([f1_score(truth, d, average=None, zero_division=0) for d in draws], axis=0)
    assert levels["micro_f1"] == pytest.approx(simulated_micro, abs=0.01)
    assert levels["macro_f1"] == pytest.approx(simulated_per_class[positive].mean(), abs=0.01)
    assert [levels[f"f1[{c}]"] for c in "abcd"] == pytest.approx(list(prevalence))
    assert levels["f1[d]"] == 0.0


def test_prior_baseline_is_the_divergence_from_the_training_mean():
    test = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    train = np.array([[0.5, 0.5, 0.0], [0.5, 0.0, 0.5]])  # mean (.5, .25, .25)
    expected_kld = np.mean([np.log(1 / 0.5), 0.5 * np.log(0.5 / 0.5) + 0.5 * np.log(0.5 / 0.25)])
    assert prior_baseline(test, train)["kld"] == pytest.approx(expected_kld, rel=1e-6)


def test_directions_and_errors():
    assert direction("macro_f1") == "higher" and direction("jsd") == "lower"
    with pytest.raises(InputError, match="not among the classes"):
        chance_single_label(["joy"], CLASSES)
    with pytest.raises(InputError, match="at least one test item"):
        chance_single_label([], CLASSES)


def test_a_per_dimension_error_metric_is_lower_is_better():
    """``voxpop evaluate`` of a regressor printed 'rmse[dominance] (higher is better)' (and the report coloured its
    matrices so): the per-dimension name of an error metric is an error metric."""
    from voxpop.evaluation.chance import direction

    assert [direction(m) for m in ("mae[arousal]", "rmse[valence]", "kld[anger]", "ccc[arousal]", "rmse")] == [
        "lower", "lower", "lower", "higher", "lower"
    ]
