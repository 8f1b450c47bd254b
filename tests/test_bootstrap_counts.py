"""The stratified bootstrap drawn as counts over confusion cells: one resample has exactly the distribution of
counting a resample of rows, and the intervals equal the row bootstrap's to Monte Carlo error."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from voxpop.evaluation import resampling, scoring
from voxpop.evaluation.significance import paired_cells, paired_distributions


def _cell_draws(truth: np.ndarray, pred: np.ndarray, n_boot: int, seed: int, cells: bool) -> np.ndarray:
    """(n_boot, C * C) counts of each (true, predicted) cell per resample: by cell counts or by counting rows."""
    n_classes = int(max(truth.max(), pred.max())) + 1
    one_hot = np.eye(n_classes * n_classes)[truth * n_classes + pred]
    return resampling._resampled_sums(one_hot, n_boot, seed, None, strata=truth, cells=cells)


def test_one_resample_has_the_distribution_of_counting_resampled_rows():
    # true class 0: predictions 0, 0, 1, 2 (cell shares 1/2, 1/4, 1/4); true class 1: predictions 1, 1, 0
    truth = np.array([0, 0, 0, 0, 1, 1, 1])
    pred = np.array([0, 0, 1, 2, 1, 1, 0])
    n_boot = 20_000
    by_cells = _cell_draws(truth, pred, n_boot, seed=0, cells=True)
    by_rows = _cell_draws(truth, pred, n_boot, seed=1, cells=False)
    for draws in (by_cells, by_rows):
        assert (draws[:, 0:3].sum(axis=1) == 4).all() and (draws[:, 3:6].sum(axis=1) == 3).all()  # strata kept
        assert (draws[:, 6:] == 0).all() and (draws[:, [5]] == 0).all()  # no cell the set does not hold
    # the exact law of a stratum of n items resampled with replacement: Multinomial(n, the cells' shares);
    # all 15 outcomes of class 0 and 4 of class 1, each against its exact probability (chi-square goodness of
    # fit; a correct sampler fails p < 1e-4 once in 10,000 seeds, and the seeds here are fixed)
    for columns, n, shares in (([0, 1, 2], 4, [0.5, 0.25, 0.25]), ([3, 4], 3, [1 / 3, 2 / 3])):
        outcomes = [o for o in np.ndindex(*(n + 1,) * len(columns)) if sum(o) == n]
        expected = n_boot * np.array([stats.multinomial.pmf(o, n, shares) for o in outcomes])
        for draws in (by_cells, by_rows):
            seen = {tuple(int(v) for v in row) for row in draws[:, columns]}
            assert seen <= set(outcomes)
            observed = [(draws[:, columns] == o).all(axis=1).sum() for o in outcomes]
            assert stats.chisquare(observed, expected).pvalue > 1e-4
    # the two strata are drawn independently: the joint law of (n_00, n_11) is the product of the marginals
    table = np.zeros((5, 4))
    np.add.at(table, (by_cells[:, 0].astype(int), by_cells[:, 4].astype(int)), 1)
    assert stats.chi2_contingency(table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]).pvalue > 1e-4


def _confusable(seed: int, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """4 imbalanced classes; predictions right 70 % of the time, else a class drawn at random."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(4, n, p=[0.5, 0.25, 0.15, 0.1])
    return truth, np.where(rng.random(n) < 0.7, truth, rng.integers(0, 4, n))


@pytest.mark.parametrize("seed", [0, 1])
def test_intervals_equal_the_row_bootstrap_to_monte_carlo_error(seed):
    truth, pred = _confusable(seed)
    classes, n_boot = [0, 1, 2, 3], 2000
    rows = resampling.resample_indices(truth, n_boot=n_boot, seed=seed + 10, classes=classes)  # today's draws
    for metric in ("macro_f1", "uar", "accuracy", "mcc"):
        by_rows = resampling.bootstrap_distribution(metric, truth, pred, classes=classes, indices=rows)
        by_cells = resampling.bootstrap_distribution(metric, truth, pred, classes=classes, n_boot=n_boot, seed=seed)
        sd = by_rows.std()
        # Monte Carlo error of a percentile of B draws: sqrt(q (1 - q) / B) / density at the percentile; for a
        # near-normal distribution of SD s at q = 2.5 % that is 0.060 s with B = 2000, and 0.085 s for the
        # difference of two independent estimates: allowed 4 of those, 0.34 s
        for q in (0.025, 0.975):
            assert abs(np.quantile(by_cells, q) - np.quantile(by_rows, q)) < 0.34 * sd, (metric, q)
        assert abs(by_cells.mean() - by_rows.mean()) < 4 * sd * np.sqrt(2 / n_boot), metric
        assert by_cells.std() / sd == pytest.approx(1, abs=4 / np.sqrt(n_boot)), metric  # SE of an SD: s / sqrt(2B)
        ci = resampling.bootstrap_ci(metric, truth, pred, n_boot=n_boot, seed=seed, classes=classes)
        assert (ci.low, ci.high) == pytest.approx(resampling.percentile_interval(by_cells), abs=1e-12)


def test_evaluate_draws_the_same_cell_counts_as_bootstrap_ci_and_rows_when_it_scores_per_item_values():
    truth, pred = _confusable(3, n=400)
    table = scoring.evaluate(truth, pred, classes=[0, 1, 2, 3], metrics=["macro_f1", "uar"], per_class=False)
    for metric in ("macro_f1", "uar"):
        ci = resampling.bootstrap_ci(metric, truth, pred, classes=[0, 1, 2, 3])
        row = table.set_index("metric").loc[metric]
        assert (row["low"], row["high"]) == pytest.approx((ci.low, ci.high), abs=1e-12)
    # with KLD / JSD (per-item values, not confusion cells) every row of the table shares resampled rows
    rng = np.random.default_rng(4)
    target, probs = rng.dirichlet(np.ones(4), 400), rng.dirichlet(np.ones(4), 400)
    soft = scoring.evaluate(truth, pred, classes=[0, 1, 2, 3], metrics=["uar"], per_class=False, target=target,
                            probabilities=probs).set_index("metric")  # fmt: skip
    rows = resampling.resample_indices(truth, n_boot=1000, seed=0, classes=[0, 1, 2, 3])
    uar_rows = resampling.bootstrap_distribution("uar", truth, pred, classes=[0, 1, 2, 3], indices=rows)
    assert tuple(soft.loc["uar", ["low", "high"]]) == pytest.approx(np.quantile(uar_rows, [0.025, 0.975]))


def test_paired_draws_share_each_resample_and_match_the_paired_row_bootstrap():
    truth, pred_a = _confusable(5)
    rng = np.random.default_rng(6)
    pred_b = np.where(rng.random(len(truth)) < 0.8, pred_a, rng.integers(0, 4, len(truth)))
    classes, n_boot = [0, 1, 2, 3], 2000
    joint = paired_distributions("macro_f1", truth, {"a": pred_a, "b": pred_b, "a again": pred_a.copy()},
                                 classes=classes, n_boot=n_boot, seed=7)  # fmt: skip
    np.testing.assert_array_equal(joint["a"], joint["a again"])  # one resample for every model
    rows = resampling.resample_indices(truth, n_boot=n_boot, seed=8, classes=classes)
    diff_rows = resampling.bootstrap_distribution(
        "macro_f1", truth, pred_a, classes=classes, indices=rows
    ) - resampling.bootstrap_distribution("macro_f1", truth, pred_b, classes=classes, indices=rows)
    diff_cells = joint["a"] - joint["b"]
    sd = diff_rows.std()  # tolerance as in test_intervals_equal_the_row_bootstrap_to_monte_carlo_error
    for q in (0.025, 0.5, 0.975):
        assert abs(np.quantile(diff_cells, q) - np.quantile(diff_rows, q)) < 0.34 * sd, q
    assert diff_cells.std() / sd == pytest.approx(1, abs=4 / np.sqrt(n_boot))
    # unpaired draws (each model on its own resamples) would spread the difference far wider
    unpaired = resampling.bootstrap_distribution("macro_f1", truth, pred_b, classes=classes, n_boot=n_boot, seed=9)
    assert (joint["a"] - unpaired).std() > 1.5 * sd
    table = paired_cells(
        {"a": (_frame(truth), _frame(pred_a)), "c": (_frame(truth), _frame(pred_a))}, classes, "uar", n_boot=200
    )
    assert (table.loc[0, "difference"], table.loc[0, "low"], table.loc[0, "high"]) == (0.0, 0.0, 0.0)


def _frame(labels: np.ndarray):
    import pandas as pd

    return pd.DataFrame({"label": labels}, index=[f"i{k}" for k in range(len(labels))])


def test_speaker_clusters_and_multi_label_sets_keep_the_row_bootstrap_in_paired_draws():
    truth, pred_a = _confusable(10, n=120)
    pred_b = np.roll(pred_a, 1)
    speakers = np.repeat(np.arange(30), 4)
    joint = paired_distributions("uar", truth, {"a": pred_a, "b": pred_b}, n_boot=50, seed=3, groups=speakers)
    for name, pred in (("a", pred_a), ("b", pred_b)):
        alone = resampling.bootstrap_distribution("uar", truth, pred, n_boot=50, seed=3, groups=speakers)
        np.testing.assert_array_equal(joint[name], alone)
    rng = np.random.default_rng(11)
    ml_true, ml_a, ml_b = (rng.integers(0, 2, (80, 3)) for _ in range(3))
    joint = paired_distributions("micro_f1", ml_true, {"a": ml_a, "b": ml_b}, n_boot=40, seed=2)
    for name, pred in (("a", ml_a), ("b", ml_b)):
        np.testing.assert_array_equal(joint[name], resampling.bootstrap_distribution("micro_f1", ml_true, pred,
                                                                                     n_boot=40, seed=2))  # fmt: skip
