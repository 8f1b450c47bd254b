"""Paired bootstrap comparisons and the Holm correction, against hand values and statsmodels."""

from __future__ import annotations

import numpy as np
import pytest

from voxpop.evaluation.metrics import uar
from voxpop.evaluation.resampling import bootstrap_distribution
from voxpop.evaluation.significance import bootstrap_p_value, holm, paired_difference, pairwise_table


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_holm_equals_statsmodels(seed):
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(seed).uniform(0, 0.2, size=9)
    expected = multipletests(p, method="holm")[1]
    assert holm(p) == pytest.approx(expected, abs=1e-15)


def _truth_and_predictions(wrong_in_b: int):
    """200 items of 4 classes; model a is right on every item, model b wrong on ``wrong_in_b`` items."""
    truth = np.repeat(np.arange(4), 50)
    a = truth.copy()
    b = truth.copy()
    b[:wrong_in_b] = (b[:wrong_in_b] + 1) % 4
    return truth, a, b


def test_paired_bootstrap_of_a_known_difference():
    truth, a, b = _truth_and_predictions(wrong_in_b=40)  # 40 wrong, all of class 0: recall 10/50 there
    classes = [0, 1, 2, 3]
    indices = np.random.default_rng(0).integers(0, len(truth), size=(500, len(truth)))
    dist_a = bootstrap_distribution("uar", truth, a, classes=classes, indices=indices)
    dist_b = bootstrap_distribution("uar", truth, b, classes=classes, indices=indices)
    result = paired_difference(uar(truth, a, classes), uar(truth, b, classes), dist_a, dist_b)
    # by hand: UAR(a) = 1; UAR(b) = (10/50 + 1 + 1 + 1) / 4 = 0.8
    assert result.difference == pytest.approx(0.2)
    assert result.low > 0 and result.p_value == pytest.approx(1 / 500)  # every resample favours a


def test_identical_predictions_give_a_zero_difference_and_p_one():
    truth, a, _ = _truth_and_predictions(wrong_in_b=0)
    indices = np.random.default_rng(1).integers(0, len(truth), size=(200, len(truth)))
    dist = bootstrap_distribution("uar", truth, a, classes=[0, 1, 2, 3], indices=indices)
    result = paired_difference(1.0, 1.0, dist, dist.copy())
    assert (result.difference, result.low, result.high, result.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_p_value_is_twice_the_smaller_tail_floored_at_one_over_b():
    d = np.array([-0.1, 0.05, 0.2, 0.3, 0.1, 0.4, 0.0, 0.2, 0.1, 0.3])  # 2 of 10 are <= 0
    assert bootstrap_p_value(d) == pytest.approx(0.4)
    assert bootstrap_p_value(np.full(50, 0.3)) == pytest.approx(1 / 50)


def test_pairwise_table_adjusts_within_the_family():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(3)
    base = rng.normal(0.7, 0.02, size=300)
    resampled = {"mr": base + 0.1, "pr": base + 0.1 + rng.normal(0, 0.01, size=300), "ar": base}
    points = {"mr": 0.8, "pr": 0.8, "ar": 0.7}
    table = pairwise_table(points, resampled)
    assert list(zip(table["a"], table["b"], strict=True)) == [("mr", "pr"), ("mr", "ar"), ("pr", "ar")]
    assert table["p_holm"].tolist() == pytest.approx(multipletests(table["p_value"], method="holm")[1].tolist())
    assert table["holds"].tolist() == [False, True, True]
