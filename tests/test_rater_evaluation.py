"""Learning from every rater, scored against the raters (issue #27 items 2-4): disagreement as a target,
calibration against the raters (ECE, Brier, NLL, temperature scaling on dev items only) and the human ceiling
(leave one rater out), each against a direct computation or a hand-computed value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from voxpop.core.errors import ConfigError
from voxpop.corpus import Corpus
from voxpop.evaluation.calibration import (
    brier_score,
    calibration_scores,
    expected_calibration_error,
    negative_log_likelihood,
    reliability_table,
    temperature_per_fold,
)
from voxpop.evaluation.ceiling import leave_one_rater_out
from voxpop.labels.disagreement import disagreement_labels, normalised_entropy
from voxpop.labels.label_sets import build_label_set, spec_kind
from voxpop.study.loading import recipe_from_dict

# ====================================================================== disagreement
VOTES = {"x": "AAAA", "y": "AASN", "z": "ASN", "w": "A"}  # item -> one vote per rater


def _vote_corpus(votes=VOTES, classes=("A", "S", "N")) -> Corpus:
    rows = [(item, f"r{j}", label) for item, labels in votes.items() for j, label in enumerate(labels)]
    ratings = pd.DataFrame(rows, columns=["item", "rater", "label"])
    return Corpus("toy", pd.DataFrame(index=list(votes)), ratings, classes=list(classes))


def test_disagreement_of_votes_is_the_normalised_entropy_by_hand():
    labels = disagreement_labels(_vote_corpus())
    values = labels.values["disagreement"]
    # y: p = (1/2, 1/4, 1/4): H = 1/2 log 2 + 2 * 1/4 log 4 = 1.5 log 2; / log 3
    assert values["x"] == 0.0
    assert values["y"] == pytest.approx(1.5 * np.log(2) / np.log(3))
    assert values["z"] == pytest.approx(1.0)  # one vote per class: the largest entropy
    assert np.isnan(values["w"]) and not labels.kept["w"]  # one rating cannot disagree: not kept, counted
    assert labels.accounting.items_kept == 3 and labels.accounting.items_total == 4
    assert labels.kind == "continuous" and labels.names == ["disagreement"]


def test_normalised_entropy_equals_scipy():
    from scipy.stats import entropy

    counts = np.array([[3, 1, 0, 2], [1, 1, 1, 1], [0, 5, 0, 0]])
    expected = [entropy(row) / np.log(4) for row in counts]
    np.testing.assert_allclose(normalised_entropy(counts), expected, atol=1e-12)


def test_disagreement_of_dimensions_is_the_raters_standard_deviation():
    values = {"x": [1, 3, 5], "y": [2, 2, 2], "z": [4]}
    rows = [(item, f"r{j}", "dimension", "arousal", v) for item, vs in values.items() for j, v in enumerate(vs)]
    ratings = pd.DataFrame(rows, columns=["item", "rater", "slot", "label", "value"])
    items = pd.DataFrame(index=list(values))
    corpus = Corpus("dims", items, ratings, classes=["neutral"], scales={"dimension": (1, 5)})
    labels = disagreement_labels(corpus, slot="dimension")
    assert labels.values.loc["x", "arousal"] == pytest.approx(np.std([1, 3, 5]))  # population sd, 1.633
    assert labels.values.loc["y", "arousal"] == 0.0
    assert not labels.kept["z"] and labels.scale["arousal"] == (0.0, 2.0)  # the largest sd on 1..5


def test_disagreement_is_a_continuous_label_set_of_recipes_and_refuses_bad_options():
    spec = {"rule": "disagreement", "min_raters": 2}
    assert spec_kind(spec) == "continuous"
    built = build_label_set(_vote_corpus(), {"rule": "disagreement", "slot": "primary", "dimensions": None,
                                             "condition": None, "pool": False, "min_raters": 2})  # fmt: skip
    assert built.values["disagreement"]["x"] == 0.0
    recipe = recipe_from_dict({"study": "s", "corpus": {"demo": {"size": "tiny"}},
                               "labels": {"train": {"d": spec}, "test": {"d": spec}}})  # fmt: skip
    assert type(recipe.labels.train["d"]).__name__ == "DisagreementSpec"
    with pytest.raises(ConfigError, match="min_raters must be at least 2"):
        disagreement_labels(_vote_corpus(), min_raters=1)
    with pytest.raises(ConfigError, match="dimensions apply to a slot of numeric ratings"):
        disagreement_labels(_vote_corpus(), dimensions=["arousal"])


# ====================================================================== calibration
P = np.array(
    [[0.7, 0.2, 0.1], [0.4, 0.35, 0.25], [0.1, 0.85, 0.05], [0.3, 0.3, 0.4], [0.96, 0.02, 0.02], [0.5, 0.1, 0.4]]
)
CONSENSUS = np.array([0, 1, 1, 2, 0, 2])
VOTE_SHARES = np.array([[0.75, 0.25, 0], [0.5, 0.5, 0], [0, 1, 0], [0.25, 0.25, 0.5], [1, 0, 0], [0.25, 0, 0.75]])


def test_ece_brier_and_nll_equal_a_direct_numpy_computation():
    conf, hit = P.max(axis=1), (P.argmax(axis=1) == CONSENSUS)
    ece = 0.0
    for m in range(15):  # bins ((m)/15, (m+1)/15]
        inside = (conf > m / 15) & (conf <= (m + 1) / 15)
        if inside.any():
            ece += inside.sum() / len(P) * abs(hit[inside].mean() - conf[inside].mean())
    assert expected_calibration_error(P, CONSENSUS) == pytest.approx(ece)
    # by hand: items 2 and 4 share bin (.333, .4] (acc 1/2, conf .4); the others are alone in their bins
    by_hand = (abs(1 - 0.7) + 2 * abs(0.5 - 0.4) + abs(1 - 0.85) + abs(1 - 0.96) + abs(0 - 0.5)) / 6
    assert ece == pytest.approx(by_hand)
    assert brier_score(P, VOTE_SHARES) == pytest.approx(((P - VOTE_SHARES) ** 2).sum(axis=1).mean())
    assert negative_log_likelihood(P, VOTE_SHARES) == pytest.approx(-(VOTE_SHARES * np.log(P)).sum(axis=1).mean())
    table = reliability_table(P, CONSENSUS)
    assert table["n_items"].sum() == 6 and len(table) == 15


def test_calibration_scores_have_bootstrap_intervals_around_the_point_values():
    index = [f"i{k}" for k in range(6)]
    probs = pd.DataFrame(P, index=index, columns=["a", "b", "c"])
    consensus = pd.Series(np.array(["a", "b", "c"])[CONSENSUS], index=index)
    shares = pd.DataFrame(VOTE_SHARES, index=index, columns=["a", "b", "c"])
    table = calibration_scores(probs, consensus, shares, n_boot=200, seed=0).set_index("metric")
    assert table.loc["brier", "value"] == pytest.approx(brier_score(P, VOTE_SHARES))
    assert table.loc["ece", "value"] == pytest.approx(expected_calibration_error(P, CONSENSUS))
    assert (table["low"] <= table["value"] + 1e-12).all() and (table["value"] <= table["high"] + 1e-12).all()
    assert (table["n_items"] == 6).all()


def test_temperature_scaling_never_sees_test_items():
    from scipy.optimize import minimize_scalar

    rng = np.random.default_rng(0)
    classes = ["a", "b"]

    def table(n, fold, prefix, sharp):
        logits = rng.normal(0, sharp, (n, 2))
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return pd.DataFrame(p, index=[f"{prefix}{k}" for k in range(n)], columns=classes).assign(fold=fold)

    dev = pd.concat([table(30, "f1", "d1-", 3.0), table(30, "f2", "d2-", 3.0)])
    test = pd.concat([table(20, "f1", "t1-", 3.0), table(20, "f2", "t2-", 3.0)])
    targets = pd.DataFrame(np.eye(2)[rng.integers(0, 2, 60)], index=dev.index, columns=classes)  # dev items only
    scaled, temperatures = temperature_per_fold(test, dev, targets, classes)
    # the same temperatures whatever the test items hold: scrambled test probabilities change nothing
    other = test.assign(a=test["b"].to_numpy(), b=test["a"].to_numpy())
    assert temperature_per_fold(other, dev, targets, classes)[1].equals(temperatures)
    # each T is the cross-entropy minimiser on that fold's dev items alone
    for fold in ("f1", "f2"):
        d = dev[dev["fold"].eq(fold)][classes].to_numpy()
        y = targets.loc[dev["fold"].eq(fold)].to_numpy()

        def loss(log_t, d=d, y=y):
            z = np.log(d) / np.exp(log_t)
            z -= z.max(axis=1, keepdims=True)
            return -(y * (z - np.log(np.exp(z).sum(axis=1, keepdims=True)))).sum(axis=1).mean()

        direct = np.exp(minimize_scalar(loss, bounds=(np.log(0.05), np.log(20)), method="bounded").x)
        got = temperatures.set_index("fold").loc[fold, "temperature"]
        assert got == pytest.approx(direct, rel=1e-3)
    assert temperatures.set_index("fold")["temperature"].gt(1).all()  # random targets: soften
    assert list(scaled.index) == list(test.index)
    np.testing.assert_allclose(scaled[classes].sum(axis=1), 1.0)


def test_temperature_scaling_without_development_predictions_is_refused():
    test = pd.DataFrame({"a": [0.6], "b": [0.4], "fold": ["f1"]}, index=["t"])
    with pytest.raises(ConfigError, match="dev: true"):
        temperature_per_fold(test, None, pd.DataFrame(), ["a", "b"])


# ====================================================================== the human ceiling
CEILING_VOTES = {  # item -> votes of raters a, b, c
    "1": "AAA", "2": "AAS", "3": "SSS", "4": "SNN", "5": "NNN", "6": "NAN", "7": "ASA", "8": "SSN",
}  # fmt: skip


def _rater_corpus() -> Corpus:
    rows = [(i, rater, label) for i, votes in CEILING_VOTES.items() for rater, label in zip("abc", votes, strict=True)]
    ratings = pd.DataFrame(rows, columns=["item", "rater", "label"])
    return Corpus("three", pd.DataFrame(index=list(CEILING_VOTES)), ratings, classes=["A", "S", "N"])


def test_human_ceiling_equals_the_hand_computed_leave_one_rater_out_macro_f1():
    model = pd.DataFrame(0.1, index=list(CEILING_VOTES), columns=["A", "S", "N"])
    for item, cls in zip(CEILING_VOTES, "AASSNNAS", strict=True):
        model.loc[item, cls] = 0.8
    per_rater, summary = leave_one_rater_out(
        _rater_corpus(), {"rule": "mr"}, {"m": model}, ["macro_f1"], min_ratings=3, n_boot=50
    )
    own = per_rater[per_rater["model"].eq("rater")].set_index("rater")
    # a vs MR of (b, c) on items 1, 3, 4, 5: truth A S N N, a says A S S N -> F1 A 1, S 2/3, N 2/3
    # b vs MR of (a, c) on 1, 3, 5, 6, 7: truth A S N N A, b says A S N A S -> F1 A 1/2, S 2/3, N 2/3
    # c vs MR of (a, b) on 1, 2, 3, 5, 8: truth A A S N S, c says A S S N N -> F1 A 2/3, S 1/2, N 2/3
    assert own.loc["a", "value"] == pytest.approx(7 / 9)
    assert own.loc["b", "value"] == pytest.approx(11 / 18)
    assert own.loc["c", "value"] == pytest.approx(11 / 18)
    assert own["n_items"].to_dict() == {"a": 4, "b": 5, "c": 5}
    ceiling = summary[summary["model"].eq("raters")].iloc[0]
    assert ceiling["value"] == pytest.approx(2 / 3) and ceiling["n_raters"] == 3
    assert ceiling["low"] < 2 / 3 < ceiling["high"]  # Student-t over three raters
    from sklearn.metrics import f1_score

    rows = per_rater[per_rater["model"].eq("m")].set_index("rater")
    loo_truth = {"a": ("1345", "ASNN"), "b": ("13567", "ASNNA"), "c": ("12358", "AASNS")}
    for rater, (items, truth) in loo_truth.items():
        predicted = [model.loc[i].idxmax() for i in items]
        expected = f1_score(list(truth), predicted, average="macro")
        assert rows.loc[rater, "value"] == pytest.approx(expected)
        assert rows.loc[rater, "difference"] == pytest.approx(expected - own.loc[rater, "value"])
    assert rows.loc["a", "difference"] == pytest.approx(0.0)  # the model says what a says on a's items


def test_raters_with_too_few_items_are_set_aside_and_counted():
    per_rater, summary = leave_one_rater_out(
        _rater_corpus(), {"rule": "mr"}, {}, ["macro_f1", "kld"], min_ratings=5, n_boot=20
    )
    assert sorted(per_rater["rater"].unique()) == ["b", "c"]
    assert summary["raters_set_aside"].eq(1).all() and summary["n_raters"].eq(2).all()
    assert set(per_rater["metric"]) == {"macro_f1"}  # KLD needs probabilities: not a rater's score


def test_human_ceiling_refuses_what_it_cannot_score():
    with pytest.raises(ConfigError, match="needs one of the metrics"):
        leave_one_rater_out(_rater_corpus(), {"rule": "mr"}, {}, ["kld"])
    with pytest.raises(ConfigError, match="not the raters' disagreement"):
        leave_one_rater_out(_rater_corpus(), {"rule": "disagreement"}, {}, ["ccc"])


def test_voxpop_labels_writes_the_disagreement_label_set(tmp_path):
    from typer.testing import CliRunner

    import voxpop.cli
    from voxpop.labels import load_label_set

    _vote_corpus().save(tmp_path / "c")
    out = tmp_path / "d.parquet"
    command = ["labels", str(tmp_path / "c"), "--rule", "disagreement"]
    result = CliRunner().invoke(voxpop.cli.app, [*command, "--out", str(out)])
    assert result.exit_code == 0, result.output
    saved = load_label_set(out)
    assert saved.kind == "continuous"
    assert saved.values.loc["y", "disagreement"] == pytest.approx(1.5 * np.log(2) / np.log(3))
    refused = CliRunner().invoke(voxpop.cli.app, [*command, "--denominator", "selected", "--out", str(tmp_path / "e")])
    assert refused.exit_code != 0
    assert "--denominator: not for rule disagreement" in str(refused.exception) + refused.output


# ====================================================================== rater folds
def test_rater_folds_keep_each_items_fold_rater_group_and_count_the_rest():
    from voxpop.labels.rater_folds import rater_fold_ratings, rater_groups

    corpus = _rater_corpus()  # 8 items x raters a, b, c
    item_fold = {item: int(item) % 3 for item in CEILING_VOTES}
    kept, set_aside = rater_fold_ratings(corpus, item_fold, 3, seed=1)
    groups = rater_groups(["a", "b", "c"], 3, seed=1)
    assert sorted(groups.values()) == [0, 1, 2]  # one rater per group
    assert len(kept.ratings) == 8 and set_aside == 24 - 8  # each item keeps the one rating of its fold's rater
    for row in kept.ratings.itertuples():
        assert groups[row.rater] == item_fold[row.item]
    with pytest.raises(ConfigError, match="k=4 needs at least 4 raters"):
        rater_fold_ratings(corpus, item_fold, 4)


def test_human_ceiling_of_dimensions_scores_each_raters_scores_against_the_others_mean():
    scores = {"a": [1, 2, 3, 4], "b": [2, 2, 4, 5], "c": [1, 3, 3, 5]}
    items = ["i1", "i2", "i3", "i4"]
    rows = [(i, r, "dimension", "arousal", v) for r, vs in scores.items() for i, v in zip(items, vs, strict=True)]
    ratings = pd.DataFrame(rows, columns=["item", "rater", "slot", "label", "value"])
    corpus = Corpus("dims", pd.DataFrame(index=items), ratings, classes=["neutral"], scales={"dimension": (1, 5)})
    spec = {"gold_standard": "mean", "dimensions": ["arousal"]}
    per_rater, summary = leave_one_rater_out(corpus, spec, {}, ["ccc", "mae"], min_ratings=4, n_boot=20)
    own = per_rater.set_index(["rater", "metric"])["value"]
    for rater, values in scores.items():
        mine = np.array(values, dtype=float)
        others = np.mean([v for r, v in scores.items() if r != rater], axis=0)
        shift = (mine.mean() - others.mean()) ** 2
        ccc = 2 * np.cov(mine, others, bias=True)[0, 1] / (mine.var() + others.var() + shift)  # Lin's CCC
        assert own[rater, "ccc"] == pytest.approx(ccc)
        assert own[rater, "mae"] == pytest.approx(np.abs(mine - others).mean())
    ceiling = summary[summary["model"].eq("raters")].set_index("metric")
    assert ceiling.loc["ccc", "value"] == pytest.approx(np.mean([own[r, "ccc"] for r in scores]))
