"""voxpop.evaluation.metrics against scikit-learn / scipy, hand-computed examples and the slow generic bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr

from voxpop.core.errors import ConfigError, InputError
from voxpop.evaluation import decision_tuning, divergences, resampling, scoring
from voxpop.evaluation import metrics as vm
from voxpop.labels import decisions

CLASSES = ["neutral", "anger", "sadness", "happiness", "fear"]


def _single_label(seed: int, n: int = 300, n_classes: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Random labels where the last class never occurs in predictions and class 3 never in the truth."""
    rng = np.random.default_rng(seed)
    true = rng.choice([0, 1, 2, 4], size=n)
    pred = np.where(rng.random(n) < 0.5, true, rng.integers(0, n_classes - 1, size=n))
    pred[pred == n_classes - 1] = 0
    return true, pred


def _multi_label(seed: int, n: int = 200, n_classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    true = (rng.random((n, n_classes)) < [0.5, 0.3, 0.1, 0.0]).astype(int)  # last class never true
    pred = np.where(rng.random((n, n_classes)) < 0.7, true, 1 - true)
    pred[:, 1] = 0  # class 1 never predicted
    return true, pred


# --------------------------------------------------------------------------------------------------
# Single-label against scikit-learn


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_label_metrics_match_sklearn(seed):
    from sklearn import metrics as skm

    true, pred = _single_label(seed)
    labels = list(range(5))
    assert vm.accuracy(true, pred, classes=labels) == pytest.approx(skm.accuracy_score(true, pred))
    present = np.unique(true)  # class 3 is never true: UAR averages over the other four
    assert vm.uar(true, pred, classes=labels) == pytest.approx(
        skm.recall_score(true, pred, labels=present, average="macro", zero_division=0)
    )
    # macro-F1: classes in truth or prediction, scikit-learn's default label set (no labels=)
    assert vm.macro_f1(true, pred, classes=labels) == pytest.approx(
        skm.f1_score(true, pred, average="macro", zero_division=0)
    )
    for average, function in [("micro", vm.micro_f1), ("weighted", vm.weighted_f1)]:
        expected = skm.f1_score(true, pred, labels=labels, average=average, zero_division=0)
        assert function(true, pred, classes=labels) == pytest.approx(expected), average
    assert vm.mcc(true, pred, classes=labels) == pytest.approx(skm.matthews_corrcoef(true, pred))
    np.testing.assert_allclose(
        vm.per_class_f1(true, pred, classes=labels), skm.f1_score(true, pred, labels=labels, average=None)
    )
    np.testing.assert_array_equal(
        vm.confusion_matrix(true, pred, classes=labels), skm.confusion_matrix(true, pred, labels=labels)
    )


def test_nan_zero_division_leaves_classes_out_like_sklearn():
    from sklearn import metrics as skm

    true, pred = _single_label(3)
    labels = list(range(5))
    for function, sk_function in [(vm.macro_f1, skm.f1_score), (vm.uar, skm.recall_score)]:
        expected = sk_function(true, pred, labels=labels, average="macro", zero_division=np.nan)
        assert function(true, pred, classes=labels, zero_division=np.nan) == pytest.approx(expected)


def test_class_names_series_and_codes_give_the_same_numbers():
    true, pred = _single_label(4)
    index = [f"clip{i}" for i in range(len(true))]
    names_true = pd.Series(np.asarray(CLASSES)[true], index=index)
    names_pred = pd.Series(np.asarray(CLASSES)[pred], index=index).iloc[::-1]  # other order: matched by item
    assert vm.macro_f1(names_true, names_pred, classes=CLASSES) == pytest.approx(
        vm.macro_f1(true, pred, classes=list(range(5)))
    )
    matrix = vm.confusion_matrix(names_true, names_pred, classes=CLASSES)
    assert list(matrix.index) == CLASSES and list(matrix.columns) == CLASSES
    assert vm.per_class_f1(names_true, names_pred, classes=CLASSES).index.tolist() == CLASSES


def test_counts_from_codes_is_vectorised_over_prediction_sets():
    true, _ = _single_label(5)
    preds = np.stack([_single_label(s)[1] for s in range(4)])
    batched = vm.Counts.from_codes(true, preds, 5)
    for k in range(4):
        single = vm.Counts.from_codes(true, preds[k], 5)
        np.testing.assert_array_equal(batched.tp[k], single.tp)
        np.testing.assert_array_equal(batched.fp[k], single.fp)
        np.testing.assert_array_equal(batched.fn[k], single.fn)


# --------------------------------------------------------------------------------------------------
# Multi-label


@pytest.mark.parametrize("seed", [0, 1])
def test_multi_label_metrics_match_sklearn(seed):
    from sklearn import metrics as skm

    true, pred = _multi_label(seed)
    present = np.flatnonzero(true.sum(axis=0) > 0)  # the last class has no positive: left out of macro averages
    assert vm.macro_f1(true, pred) == pytest.approx(
        skm.f1_score(true, pred, labels=present, average="macro", zero_division=0)
    )
    for average, function in [("micro", vm.micro_f1), ("weighted", vm.weighted_f1)]:
        expected = skm.f1_score(true, pred, average=average, zero_division=0)
        assert function(true, pred) == pytest.approx(expected), average
    np.testing.assert_allclose(vm.per_class_f1(true, pred), skm.f1_score(true, pred, average=None, zero_division=0))
    assert vm.uar(true, pred) == pytest.approx(
        skm.recall_score(true, pred, labels=present, average="macro", zero_division=0)
    )
    assert vm.mcc(true, pred) == pytest.approx(skm.matthews_corrcoef(true.ravel(), pred.ravel()))


def test_multi_label_f1_is_computed_on_the_whole_set_not_averaged_over_batches():
    # class 0: batch 1 = one hit (F1 1), batch 2 = three misses (F1 0); class 1 always right.
    from sklearn import metrics as skm

    true = np.array([[1, 1], [1, 0], [1, 0], [1, 1]])
    pred = np.array([[1, 1], [0, 0], [0, 0], [0, 1]])
    batches = [slice(0, 1), slice(1, 4)]
    batch_mean = np.mean([vm.macro_f1(true[b], pred[b]) for b in batches])
    whole = vm.macro_f1(true, pred)
    assert batch_mean == pytest.approx((0.5 + 1.0) / 2)  # class 0: mean(1, 0); class 1: 1
    assert whole == pytest.approx((2 / 5 + 1.0) / 2)  # class 0 on the whole set: tp 1, fn 3
    assert whole == pytest.approx(skm.f1_score(true, pred, average="macro"))
    assert batch_mean != pytest.approx(whole)


def test_multi_label_dataframes_are_matched_on_items_and_classes():
    true, pred = _multi_label(2, n_classes=4)
    columns = ["anger", "fear", "joy", "sadness"]
    true_df = pd.DataFrame(true, columns=columns, index=[f"i{k}" for k in range(len(true))])
    pred_df = pd.DataFrame(pred, columns=columns, index=true_df.index).iloc[::-1][columns[::-1]]
    assert vm.macro_f1(true_df, pred_df) == pytest.approx(vm.macro_f1(true, pred))


def test_non_binary_matrix_is_refused_with_item_and_column():
    true = pd.DataFrame({"A": [1, 0], "S": [0, 1]}, index=["x", "y"])
    with pytest.raises(InputError, match=r"y_pred: item 'y', column 'S' holds 0.7.*binarize"):
        vm.macro_f1(true, pd.DataFrame({"A": [1, 0], "S": [0, 0.7]}, index=["x", "y"]))


def test_unknown_label_and_differing_items_are_named():
    true = pd.Series(["anger", "fear"], index=["a", "b"])
    with pytest.raises(InputError, match=r"y_pred: item 'b' has label 'calm'.*not one of the classes"):
        vm.accuracy(true, pd.Series(["anger", "calm"], index=["a", "b"]), classes=CLASSES)
    with pytest.raises(InputError, match=r"y_pred: items differ.*missing 1 \('b'\), extra 1 \('c'\)"):
        vm.accuracy(true, pd.Series(["anger", "fear"], index=["a", "c"]), classes=CLASSES)
    with pytest.raises(ConfigError, match="pass classes"):
        vm.accuracy(["a"], ["a"])


def test_accuracy_is_refused_for_multi_label():
    true, pred = _multi_label(0)
    with pytest.raises(ConfigError, match="single-label"):
        vm.accuracy(true, pred)


# --------------------------------------------------------------------------------------------------
# Distribution agreement


def _distributions(seed: int, n: int = 50, n_classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.dirichlet(np.ones(n_classes), size=n)
    target[: n // 2, 0] = 0.0  # rated-as-absent classes: 0 log 0 = 0
    target /= target.sum(axis=1, keepdims=True)
    return target, rng.dirichlet(np.ones(n_classes), size=n)


def test_kld_and_jsd_match_scipy():
    target, pred = _distributions(0)
    expected_kld = rel_entr(target, pred).sum(axis=1)
    np.testing.assert_allclose(divergences.kld_items(target, pred, eps=0), expected_kld)
    # the default eps is negligible
    np.testing.assert_allclose(divergences.kld_items(target, pred), expected_kld, rtol=1e-8)
    assert divergences.kld(target, pred, eps=0) == pytest.approx(expected_kld.mean())
    expected_jsd = jensenshannon(target, pred, axis=1) ** 2
    np.testing.assert_allclose(divergences.jsd_items(target, pred), expected_jsd, atol=1e-12)
    assert divergences.jsd(target, pred) == pytest.approx(expected_jsd.mean())


def test_kld_epsilon_smooths_zero_predictions():
    target = np.array([[0.5, 0.5, 0.0]])
    pred = np.array([[1.0, 0.0, 0.0]])
    assert np.isinf(divergences.kld_items(target, pred, eps=0)[0])
    eps = 1e-3
    smoothed = (pred + eps) / (1 + 3 * eps)
    assert divergences.kld_items(target, pred, eps=eps)[0] == pytest.approx(rel_entr(target, smoothed).sum())


def test_distribution_inputs_are_checked_and_aligned():
    target = pd.DataFrame({"A": [0.5, 1.0], "S": [0.5, 0.0]}, index=["a", "b"])
    logits = pd.DataFrame({"A": [2.0, 0.1], "S": [-1.0, 0.3]}, index=["a", "b"])
    with pytest.raises(InputError, match=r"prediction: item 'a' is not a probability distribution"):
        divergences.kld(target, logits)
    pred = pd.DataFrame({"S": [0.2, 0.5], "A": [0.8, 0.5]}, index=["b", "a"])
    per_item = divergences.jsd_items(target, pred)
    assert per_item.index.tolist() == ["a", "b"]
    assert per_item["a"] == pytest.approx(0.0)
    assert per_item["b"] == pytest.approx(jensenshannon([1.0, 0.0], [0.8, 0.2]) ** 2)


# --------------------------------------------------------------------------------------------------
# Binarization and decision tuning


def test_one_over_c_rule_follows_the_all_inclusive_test_form():
    # METHODS.md: classes (N, A, S, H); A,A,A,S,S -> 0110; N,N,H,A,S -> 1000; N,A,A,S,S -> 0110; uniform -> all
    counts = np.array([[0, 3, 2, 0], [2, 1, 1, 1], [1, 2, 2, 0], [1, 1, 1, 1], [2, 2, 0, 0]])
    probs = counts / counts.sum(axis=1, keepdims=True)
    expected = [[0, 1, 1, 0], [1, 0, 0, 0], [0, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]]
    np.testing.assert_array_equal(decisions.binarize_above_uniform(probs), expected)
    three = np.array([[0.1 + 0.2, 1 / 3, 1 - (0.1 + 0.2) - 1 / 3]])  # float noise around 1/3 is not "above"
    np.testing.assert_array_equal(decisions.binarize_above_uniform(three), [[0, 0, 1]])


def test_argmax_and_threshold_binarization():
    probs = pd.DataFrame({"A": [0.5, 0.2], "S": [0.5, 0.3], "H": [0.0, 0.5]}, index=["i", "j"])
    np.testing.assert_array_equal(decisions.binarize_argmax(probs), [[1, 0, 0], [0, 0, 1]])
    thresholds = pd.Series({"H": 0.6, "S": 0.3, "A": 0.5})  # matched to columns by class name
    result = decisions.binarize_thresholds(probs, thresholds)
    assert result.index.tolist() == ["i", "j"]
    np.testing.assert_array_equal(result, [[1, 1, 0], [0, 1, 0]])
    with pytest.raises(InputError, match=r"no value for classes \['H'\]"):
        decisions.binarize_thresholds(probs, pd.Series({"A": 0.5, "S": 0.5}))


def _under_confident(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Class 0 positives get probabilities around 0.3 (below 1/C = 0.5), class 1 is well separated."""
    rng = np.random.default_rng(seed)
    true = (rng.random((n, 2)) < 0.4).astype(int)
    probs = np.column_stack(
        [
            np.where(true[:, 0] == 1, rng.uniform(0.2, 0.45, n), rng.uniform(0.0, 0.25, n)),
            np.where(true[:, 1] == 1, rng.uniform(0.55, 1.0, n), rng.uniform(0.0, 0.45, n)),
        ]
    )
    return probs, true


def test_threshold_tuning_improves_dev_macro_f1_and_is_applied_unchanged_to_test():
    dev_probs, dev_true = _under_confident(0)
    test_probs, test_true = _under_confident(1)
    tuned = decision_tuning.tune_thresholds(dev_probs, dev_true)
    baseline_dev = vm.macro_f1(dev_true, decisions.binarize_above_uniform(dev_probs))
    tuned_dev = vm.macro_f1(dev_true, decisions.binarize_thresholds(dev_probs, tuned))
    assert tuned_dev > baseline_dev + 0.2
    # exact maximiser over the grid: brute force over every pair of thresholds
    grid = decision_tuning.DEFAULT_THRESHOLD_GRID
    brute = max(vm.macro_f1(dev_true, (dev_probs >= [a, b]).astype(int)) for a in grid for b in grid)
    assert tuned_dev == pytest.approx(brute)
    # applied unchanged: the test decision is p >= the dev thresholds, and it helps on test too
    test_binary = decisions.binarize_thresholds(test_probs, tuned)
    np.testing.assert_array_equal(test_binary, (test_probs >= tuned.to_numpy()).astype(int))
    assert vm.macro_f1(test_true, test_binary) > vm.macro_f1(test_true, decisions.binarize_above_uniform(test_probs))


def test_offset_tuning_for_single_label_never_loses_on_dev():
    rng = np.random.default_rng(0)
    n = 300
    true = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[true]
    logits[:, 2] -= 1.2  # the model under-predicts class 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    offsets = decision_tuning.tune_offsets(probs, true)
    plain = vm.macro_f1(true, probs.argmax(axis=1))
    tuned = vm.macro_f1(true, decisions.decide(probs, offsets))
    assert tuned > plain
    assert offsets[2] > 0  # the under-predicted class is lifted
    frame = pd.DataFrame(probs, columns=["a", "b", "c"])
    named = decisions.decide(frame, decision_tuning.tune_offsets(frame, pd.Series(np.array(["a", "b", "c"])[true])))
    assert vm.macro_f1(pd.Series(np.array(["a", "b", "c"])[true]), named, classes=["a", "b", "c"]) == pytest.approx(
        tuned
    )


# --------------------------------------------------------------------------------------------------
# Bootstrap


def test_vectorised_bootstrap_equals_generic_loop_on_the_same_resamples():
    from sklearn import metrics as skm

    true, pred = _single_label(7, n=120)
    labels = list(range(5))
    indices = np.random.default_rng(11).integers(0, len(true), size=(60, len(true)))

    def sklearn_macro_f1(t, p):
        return skm.f1_score(t, p, labels=labels, average="macro", zero_division=0)

    fast = resampling.bootstrap_distribution("macro_f1", true, pred, classes=labels, indices=indices)
    slow = resampling.bootstrap_distribution(sklearn_macro_f1, true, pred, indices=indices)
    np.testing.assert_allclose(fast, slow, atol=1e-12)
    # a callable's seeded rows (a named metric draws cell counts instead: tests/test_bootstrap_counts.py)
    by_seed = resampling.bootstrap_distribution(sklearn_macro_f1, true, pred, n_boot=40, seed=3)
    # single-label resamples are stratified by true class: per class in code order, n_c draws among its items,
    # item k of class c's block being floor(u * n_c) for a uniform u of default_rng(seed).random((n_boot, n))
    order = np.concatenate([np.flatnonzero(true == c) for c in np.unique(true)])
    sizes = np.array([np.sum(true == true[i]) for i in order])
    starts = np.array([np.flatnonzero(true[order] == true[i])[0] for i in order])
    u = np.random.default_rng(3).random((40, len(true)))
    explicit = order[starts + np.floor(u * sizes).astype(int)]
    np.testing.assert_allclose(
        by_seed, resampling.bootstrap_distribution("macro_f1", true, pred, classes=list(range(5)), indices=explicit)
    )


def test_vectorised_multi_label_bootstrap_equals_generic_loop():
    from sklearn import metrics as skm

    true, pred = _multi_label(3, n=80)
    indices = np.random.default_rng(0).integers(0, len(true), size=(30, len(true)))
    present = np.flatnonzero(true.sum(axis=0) > 0)  # resamples are scored with the whole set's classes
    for name, average, labels in [
        ("macro_f1", "macro", present),
        ("micro_f1", "micro", None),
        ("weighted_f1", "weighted", None),
    ]:
        fast = resampling.bootstrap_distribution(name, true, pred, indices=indices)
        slow = resampling.bootstrap_distribution(
            lambda t, p, a=average, k=labels: skm.f1_score(t, p, labels=k, average=a, zero_division=0),
            true,
            pred,
            indices=indices,
        )
        np.testing.assert_allclose(fast, slow, atol=1e-12, err_msg=name)
    fast_mcc = resampling.bootstrap_distribution("mcc", true, pred, indices=indices)
    slow_mcc = resampling.bootstrap_distribution(
        lambda t, p: skm.matthews_corrcoef(t.ravel(), p.ravel()), true, pred, indices=indices
    )
    np.testing.assert_allclose(fast_mcc, slow_mcc, atol=1e-12)


def test_bootstrap_ci_contains_the_point_estimate_and_has_the_binomial_width():
    from sklearn import metrics as skm

    rng = np.random.default_rng(5)
    n = 2000
    true = rng.integers(0, 4, n)
    pred = np.where(rng.random(n) < 0.7, true, rng.integers(0, 4, n))
    ci = resampling.bootstrap_ci("accuracy", true, pred, n_boot=1000, seed=0)
    assert ci.value == pytest.approx(skm.accuracy_score(true, pred))
    assert ci.low < ci.value < ci.high
    expected_half_width = 1.96 * np.sqrt(ci.value * (1 - ci.value) / n)
    assert (ci.high - ci.low) / 2 == pytest.approx(expected_half_width, rel=0.15)
    assert resampling.bootstrap_ci("accuracy", true, pred, n_boot=1000, seed=0) == ci  # reproducible by seed
    for metric in ["uar", "macro_f1", "mcc", "f1[2]"]:
        other = resampling.bootstrap_ci(metric, true, pred, n_boot=300)
        assert other.low <= other.value <= other.high, metric


def test_percentile_interval_and_class_mean_ci():
    dist = np.random.default_rng(0).normal(size=1001)
    assert resampling.percentile_interval(dist) == pytest.approx(tuple(np.quantile(dist, [0.025, 0.975])))
    scores = np.array([0.61, 0.42, 0.55, 0.70, 0.38])
    ci = resampling.class_mean_ci(scores)
    low, high = stats.t.interval(0.95, len(scores) - 1, loc=scores.mean(), scale=stats.sem(scores))
    assert ci == pytest.approx((scores.mean(), low, high))


# --------------------------------------------------------------------------------------------------
# evaluate


def test_evaluate_single_label_table():
    from sklearn import metrics as skm

    true, pred = _single_label(8)
    names_true, names_pred = np.asarray(CLASSES)[true], np.asarray(CLASSES)[pred]
    table = scoring.evaluate(names_true, names_pred, classes=CLASSES, n_boot=200, seed=1).set_index("metric")
    assert list(table.columns) == ["value", "low", "high", "absent_classes"]
    assert (table["absent_classes"] == "happiness").all()  # class 3 never true
    assert table.loc["macro_f1", "value"] == pytest.approx(vm.macro_f1(true, pred, classes=list(range(5))))
    assert table.loc["mcc", "value"] == pytest.approx(skm.matthews_corrcoef(true, pred))
    assert table.loc["f1[anger]", "value"] == pytest.approx(vm.per_class_f1(true, pred, classes=list(range(5)))[1])
    ci = resampling.bootstrap_ci("uar", true, pred, n_boot=200, seed=1, classes=list(range(5)))
    assert tuple(table.loc["uar", ["value", "low", "high"]]) == pytest.approx(tuple(ci))  # same resamples
    assert (table["low"] <= table["value"]).all() and (table["value"] <= table["high"]).all()


def test_evaluate_multi_label_with_distributions():
    from sklearn import metrics as skm

    target, probs = _distributions(1, n=60)
    true, pred = decisions.binarize_above_uniform(target), decisions.binarize_above_uniform(probs)
    table = scoring.evaluate(true, pred, target=target, probabilities=probs, per_class=False, n_boot=100)
    assert table["metric"].tolist() == [*vm.MULTI_LABEL_METRICS, "kld", "jsd"]
    values = table.set_index("metric")["value"]
    assert values["micro_f1"] == pytest.approx(skm.f1_score(true, pred, average="micro"))
    assert values["kld"] == pytest.approx(divergences.kld(target, probs))
    assert values["jsd"] == pytest.approx(divergences.jsd(target, probs))
    no_ci = scoring.evaluate(true, pred, n_boot=0)
    assert no_ci["low"].isna().all() and no_ci["high"].isna().all()


def test_evaluate_rejects_unknown_metrics():
    with pytest.raises(ConfigError, match="unknown metric 'f2'"):
        scoring.evaluate([0, 1], [0, 1], metrics=["f2"], n_boot=0)
    with pytest.raises(ConfigError, match=r"class 'calm' is not one of"):
        scoring.evaluate([0, 1], [0, 1], metrics=["f1[calm]"], n_boot=0)


# --------------------------------------------------------------------------------------------------
# Macro averages over the classes present in the set being scored


def test_perfect_classifier_on_a_subset_lacking_a_class_scores_one_and_names_the_absent_class():
    from sklearn import metrics as skm

    classes = ["anger", "happiness", "neutral", "sadness"]
    truth = pd.Series(["anger", "happiness", "neutral", "anger", "neutral"], index=list("abcde"))  # no sadness
    table = scoring.evaluate(truth, truth, classes=classes, metrics=["uar", "macro_f1"], n_boot=200).set_index("metric")
    # every class present is recalled: UAR = (1 + 1 + 1) / 3 = 1, not (1 + 1 + 1 + 0) / 4 = 0.75
    assert table.loc["uar", "value"] == 1.0 and table.loc["macro_f1", "value"] == 1.0
    assert (table["absent_classes"] == "sadness").all()
    assert np.isnan(table.loc["f1[sadness]", "value"])  # undefined, not a 0 in the table
    present = sorted(truth.unique())
    assert table.loc["uar", "value"] == skm.recall_score(truth, truth, labels=present, average="macro")


def test_present_class_rule_on_a_hand_example_matches_sklearn():
    # truth [0, 0, 1], prediction [0, 0, 2] over 3 classes:
    # recall: class 0 = 2/2, class 1 = 0/1, class 2 absent from the truth -> UAR = (1 + 0) / 2 = 1/2
    # F1: class 0 = 2*2 / (2*2 + 0 + 0) = 1, class 1 = 0, class 2 (predicted only) = 0 -> macro-F1 = 1/3
    from sklearn import metrics as skm

    true, pred = np.array([0, 0, 1]), np.array([0, 0, 2])
    assert vm.uar(true, pred, classes=[0, 1, 2]) == pytest.approx(1 / 2)
    assert vm.macro_f1(true, pred, classes=[0, 1, 2]) == pytest.approx(1 / 3)
    assert vm.uar(true, pred, classes=[0, 1, 2]) == pytest.approx(
        skm.recall_score(true, pred, labels=[0, 1], average="macro")
    )
    assert vm.macro_f1(true, pred, classes=[0, 1, 2]) == pytest.approx(skm.f1_score(true, pred, average="macro"))


def test_bootstrap_ci_of_a_perfect_classifier_with_a_rare_class_is_one_one():
    truth = np.array([0] * 60 + [1] * 38 + [2] * 2)  # class 2: 2 of 100 items, missing from ~13 % of plain resamples
    for metric in ("uar", "macro_f1"):
        assert resampling.bootstrap_ci(metric, truth, truth, n_boot=500, seed=0) == (1.0, 1.0, 1.0)
    table = scoring.evaluate(truth, truth, metrics=["uar", "macro_f1"], per_class=False, n_boot=500)
    assert (table[["value", "low", "high"]] == 1.0).all().all()
    resamples = np.concatenate(list(resampling._index_chunks(100, 500, 0, None, truth)))
    assert (np.sort(truth[resamples], axis=1) == truth).all()  # every resample holds the set's classes and sizes


def test_multi_label_resamples_are_scored_with_the_whole_sets_classes():
    true = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [1, 0, 0]])  # class N never positive
    pred = np.array([[1, 0, 1], [1, 1, 0], [0, 0, 0], [1, 0, 0]])
    # resample items 0, 0, 3, 3: class S has no positive there, but it has in the whole set, so it is
    # averaged with F1 = 0 (zero_division); class N is not: F1 = (A: 2*4 / (2*4 + 0 + 0) = 1, S: 0) -> 1/2
    resample = np.array([[0, 0, 3, 3]])
    assert resampling.bootstrap_distribution("macro_f1", true, pred, indices=resample).tolist() == [0.5]
    # whole set: A = 2*3 / (2*3) = 1, S = 2*1 / (2*1 + 0 + 1) = 2/3, N left out -> 5/6
    table = scoring.evaluate(true, pred, classes=["A", "S", "N"], metrics=["macro_f1"], n_boot=0).set_index("metric")
    assert table.loc["macro_f1", "value"] == pytest.approx(5 / 6)
    assert (table["absent_classes"] == "N").all()
    assert table.loc["f1[N]", "value"] == 0.0  # predicted once, never true: a defined F1 of 0


# --------------------------------------------------------------------------------------------------
# One resample matrix per test set, shared by every metric and every model


def test_resample_indices_are_the_seeded_resamples_and_serve_every_metric_and_model():
    from sklearn import metrics as skm

    true, pred_a = _single_label(21, n=90)
    pred_b = np.where(np.arange(90) % 4 == 0, (true + 1) % 5, true)
    labels = list(range(5))
    indices = resampling.resample_indices(true, n_boot=50, seed=8, classes=labels)
    assert indices.shape == (50, 90)
    assert (np.sort(true[indices], axis=1) == np.sort(true)).all()  # stratified: every class keeps its size
    def recall_of_true_classes(t, p):  # UAR: mean recall over the classes with a true item
        return skm.recall_score(t, p, labels=np.unique(true), average="macro")

    for metric, scorer in (("accuracy", skm.accuracy_score), ("uar", recall_of_true_classes)):
        np.testing.assert_allclose(  # the matrix is what the seed draws as rows (a callable metric's resamples)
            resampling.bootstrap_distribution(metric, true, pred_a, classes=labels, indices=indices),
            resampling.bootstrap_distribution(scorer, true, pred_a, n_boot=50, seed=8),
            atol=1e-12,
        )

    def sklearn_f1(p):  # macro over the classes true or predicted in the whole set
        present = np.union1d(true, p)
        return np.array([skm.f1_score(true[r], p[r], labels=present, average="macro") for r in indices])

    # paired: model a minus model b on the same resamples, against scikit-learn on the same rows
    a = resampling.bootstrap_distribution("macro_f1", true, pred_a, classes=labels, indices=indices)
    b = resampling.bootstrap_distribution("macro_f1", true, pred_b, classes=labels, indices=indices)
    np.testing.assert_allclose(a - b, sklearn_f1(pred_a) - sklearn_f1(pred_b), atol=1e-12)
    # evaluate() takes the same matrix: its interval is the percentile interval of those rows
    table = scoring.evaluate(true, pred_a, classes=labels, metrics=["macro_f1"], per_class=False, indices=indices)
    low, high = np.quantile(sklearn_f1(pred_a), [0.025, 0.975])
    assert tuple(table.loc[0, ["low", "high"]]) == pytest.approx((low, high), abs=1e-12)
    # multi-label sets are not stratified: the rows of default_rng(seed).integers(0, n, (n_boot, n))
    ml_true, _ = _multi_label(5, n=30)
    expected = np.random.default_rng(4).integers(0, 30, (7, 30))
    np.testing.assert_array_equal(resampling.resample_indices(ml_true, n_boot=7, seed=4), expected)
    with pytest.raises(ConfigError, match="n_boot"):
        resampling.resample_indices(true, n_boot=0)


def test_item_level_metrics_bootstrap_from_the_same_indices():
    rng = np.random.default_rng(2)
    target, probs = rng.dirichlet(np.ones(3), 40), rng.dirichlet(np.ones(3), 40)
    true, pred = target.argmax(axis=1), probs.argmax(axis=1)
    indices = resampling.resample_indices(true, n_boot=30, seed=1, classes=[0, 1, 2])
    table = scoring.evaluate(
        true,
        pred,
        classes=[0, 1, 2],
        metrics=["uar"],
        per_class=False,
        target=target,
        probabilities=probs,
        indices=indices,
    ).set_index("metric")
    jsd_items = jensenshannon(target, probs, axis=1) ** 2  # in nats, as voxpop reports it
    resampled = jsd_items[indices].mean(axis=1)
    assert tuple(table.loc["jsd", ["low", "high"]]) == pytest.approx(tuple(np.quantile(resampled, [0.025, 0.975])))


def test_the_bootstrap_does_not_depend_on_its_blocking(monkeypatch):
    true, pred = _single_label(4, n=70)
    ml_true, ml_pred = _multi_label(6, n=33)
    target = np.random.default_rng(0).dirichlet(np.ones(5), 70)
    probs = np.random.default_rng(1).dirichlet(np.ones(5), 70)

    def results():
        return (
            resampling.bootstrap_distribution("macro_f1", true, pred, classes=list(range(5)), n_boot=90, seed=2),
            resampling.bootstrap_distribution("micro_f1", ml_true, ml_pred, n_boot=90, seed=2),
            scoring.evaluate(true, pred, classes=list(range(5)), target=target, probabilities=probs, n_boot=90)[
                ["low", "high"]
            ].to_numpy(),
        )

    whole = results()
    for chunk, block in [(70 * 90, 70), (70 * 7, 70 * 3), (33 * 4, 1)]:  # one chunk; blocks of 1 / 3 rows
        monkeypatch.setattr(resampling, "_CHUNK_ELEMENTS", chunk)
        monkeypatch.setattr(resampling, "_BLOCK_ELEMENTS", block)
        for before, after in zip(whole, results(), strict=True):
            np.testing.assert_array_equal(before, after)


def test_unique_rows_are_numpys_unique_rows():
    rng = np.random.default_rng(3)
    table = np.column_stack([rng.integers(0, 2, (200, 3)), rng.choice([0.25, 0.5, 1e-9], 200)]).astype(float)
    kinds, inverse = resampling._unique_rows(table)
    expected, expected_inverse = np.unique(table, axis=0, return_inverse=True)
    np.testing.assert_array_equal(kinds, expected)
    np.testing.assert_array_equal(inverse, expected_inverse.ravel())
    np.testing.assert_array_equal(kinds[inverse], table)


def test_per_class_weighted_f1_and_mcc_score_each_class_against_the_rest_as_scikit_learn():
    from sklearn import metrics as skm

    rng = np.random.default_rng(7)
    classes = ["A", "S", "H"]
    y_true = rng.choice(classes, 60)
    y_pred = np.where(rng.random(60) < 0.6, y_true, rng.choice(classes, 60))
    table = scoring.evaluate(y_true, y_pred, classes=classes, metrics=["uar"], n_boot=0).set_index("metric")["value"]
    for c in classes:  # the binary task of class c: c against the rest
        t, p = y_true == c, y_pred == c
        assert table[f"weighted_f1[{c}]"] == pytest.approx(skm.f1_score(t, p, average="weighted"))
        assert table[f"mcc[{c}]"] == pytest.approx(skm.matthews_corrcoef(t, p))
        assert table[f"f1[{c}]"] == pytest.approx(skm.f1_score(t, p))
    multi_true = (rng.random((50, 3)) < 0.4).astype(int)
    multi_pred = np.where(rng.random((50, 3)) < 0.7, multi_true, 1 - multi_true)
    table = scoring.evaluate(multi_true, multi_pred, classes=classes, metrics=["macro_f1"], n_boot=0)
    values = table.set_index("metric")["value"]
    for k, c in enumerate(classes):
        assert values[f"weighted_f1[{c}]"] == pytest.approx(
            skm.f1_score(multi_true[:, k], multi_pred[:, k], average="weighted")
        )
        assert values[f"mcc[{c}]"] == pytest.approx(skm.matthews_corrcoef(multi_true[:, k], multi_pred[:, k]))
