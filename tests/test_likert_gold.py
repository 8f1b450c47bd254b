"""Likert binarisation by a numeric gold standard (mean, median, EWE, z-norm) and the per-rater table, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from voxpop.cli import app
from voxpop.core.errors import InputError, VoxpopError
from voxpop.corpus.corpus import Corpus
from voxpop.labels.labelset import LabelSet
from voxpop.labels.likert import likert_gold_scores
from voxpop.labels.rules import make_labels

# 3 raters x 6 items, emotion 'happy' on 0..4: r1 and r2 agree exactly, r3 runs against them
R1 = np.array([0, 1, 2, 3, 4, 0])
R3 = np.array([2, 2, 1, 1, 1, 4])


def corpus() -> Corpus:
    rows = [
        (f"i{i}", rater, "intensity", "happy", float(v))
        for rater, values in (("r1", R1), ("r2", R1), ("r3", R3))
        for i, v in enumerate(values)
    ]
    ratings = pd.DataFrame(rows, columns=["item", "rater", "slot", "label", "value"])
    items = pd.DataFrame(index=[f"i{i}" for i in range(6)])
    return Corpus("likert3", items, ratings, ["happy", "sad"], scales={"intensity": (0, 4)})


def test_ewe_and_mean_binarise_item_5_differently():
    # EWE weights (Pearson r with the mean of the other raters on the items rated, negatives -> 0):
    w1 = np.corrcoef(R1, (R1 + R3) / 2)[0, 1]  # r1 against (r2 + r3) / 2; r2 the same by symmetry
    assert w1 > 0 and np.corrcoef(R3, R1)[0, 1] < 0  # r3 against (r1 + r2) / 2 = r1: weight 0
    # so EWE_i = (w1 r1 + w1 r2 + 0 r3) / 2 w1 = r1_i, and the mean = (2 r1 + r3) / 3; unit scores / 4
    mean = make_labels(corpus(), "likert", threshold=0.25)
    ewe = make_labels(corpus(), "likert", threshold=0.25, gold_standard="ewe")
    assert ((2 * R1 + R3) / 12 >= 0.25).tolist() == [False, True, True, True, True, True]
    assert mean.kept.tolist() == [False, True, True, True, True, True]  # item 5: (0 + 0 + 4) / 12 = 1/3
    assert ewe.kept.tolist() == [False, True, True, True, True, False]  # item 5: 0 / 4
    assert mean.targets["happy"].tolist() == [0, 1, 1, 1, 1, 1] and ewe.targets["happy"].tolist()[5] == 0
    scores, raters = likert_gold_scores(corpus().ratings, ["happy", "sad"], "ewe", scale=(0, 4))
    np.testing.assert_allclose(scores["happy"], R1 / 4)
    assert scores["sad"].isna().all()  # no sad ratings: NaN, negative
    weights = raters["weight"].xs("happy", level="class")
    np.testing.assert_allclose(weights.loc[["r1", "r2", "r3"]], [w1, w1, 0.0])
    assert ewe.raters is not None and ewe.options["gold_standard"] == "ewe"
    assert mean.raters is None and mean.options["gold_standard"] is None  # the default: the mean


def test_median_and_znorm_scores_and_rater_biases():
    ratings = corpus().ratings
    median, none = likert_gold_scores(ratings, ["happy"], "median", scale=(0, 4))
    np.testing.assert_allclose(median["happy"], np.median([R1, R1, R3], axis=0) / 4)
    assert none is None
    znorm, raters = likert_gold_scores(ratings, ["happy"], "znorm", scale=(0, 4))
    z = [(x - x.mean()) / x.std() for x in (R1, R1, R3)]  # per-rater z-scores (sd with ddof 0)
    everything = np.concatenate([R1, R1, R3])
    np.testing.assert_allclose(znorm["happy"], (np.mean(z, axis=0) * everything.std() + everything.mean()) / 4)
    biases = raters["bias"].xs("happy", level="class")
    np.testing.assert_allclose(biases.loc[["r1", "r2", "r3"]], [10 / 6 - 31 / 18, 10 / 6 - 31 / 18, 11 / 6 - 31 / 18])


def test_rater_gold_standards_need_rater_ids():
    counted = corpus()
    counted.ratings["rater"] = pd.Series(pd.NA, index=counted.ratings.index, dtype="string")
    with pytest.raises(VoxpopError, match="gold_standard ewe .* needs rater ids"):
        make_labels(counted, "likert", gold_standard="ewe")
    with pytest.raises(InputError, match="no 'rater' column"):
        likert_gold_scores(corpus().ratings.drop(columns="rater"), ["happy"], "znorm")
    # median needs no rater ids: median(r1, r1, r3) = r1, so items 0 and 5 (r1 = 0) have no emotion at t = 0.01
    median = make_labels(counted, "likert", gold_standard="median")
    assert median.kept.tolist() == [False, True, True, True, True, False]


def test_cli_labels_gold_standard_prints_and_saves_the_rater_weights(tmp_path):
    corpus().save(tmp_path / "corpus")
    out = tmp_path / "ewe.parquet"
    result = CliRunner().invoke(app, [
        "labels", str(tmp_path / "corpus"), "--rule", "likert", "--gold-standard", "ewe", "--threshold", "0.25",
        "--out", str(out),
    ], env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "per-rater estimates of rule likert" in result.output and "weight" in result.output
    table = pd.read_csv(tmp_path / "ewe.raters.csv")
    assert table.columns.tolist() == ["rater", "class", "n_ratings", "weight", "reason"]
    assert table["weight"].tolist() == pytest.approx([np.corrcoef(R1, (R1 + R3) / 2)[0, 1]] * 2 + [0.0])
    saved = LabelSet.load(out)
    assert saved.kept.tolist() == [False, True, True, True, True, False]
    assert saved.raters["weight"].xs("r3", level="rater").tolist() == [0.0]


def _single_rater_corpus() -> Corpus:
    """Rater x rates items a (happy 3 / sad 0) and b (happy 0 / sad 3); rater y rates item c only (happy 3 /
    sad 0), one rating per emotion: y cannot be z-normalised."""
    rows = [("a", "x", "happy", 3), ("a", "x", "sad", 0), ("b", "x", "happy", 0), ("b", "x", "sad", 3),
            ("c", "y", "happy", 3), ("c", "y", "sad", 0)]  # fmt: skip
    ratings = pd.DataFrame(rows, columns=["item", "rater", "label", "value"]).assign(slot="intensity")
    items = pd.DataFrame(index=["a", "b", "c"])
    return Corpus("single", items, ratings, ["happy", "sad"], scales={"intensity": (0, 3)})


def test_znorm_keeps_only_happy_and_sets_a_single_rating_rater_aside():
    labels = make_labels(_single_rater_corpus(), "likert", threshold=0.34, gold_standard="znorm")
    # x on happy: mean 1.5, sd 1.5 -> z(a) = +1, z(b) = -1; x is the only usable rater, so the overall mean and
    # sd are 1.5, 1.5: a happy = 3 -> 3 / 3 = 1.0 >= .34, a sad = 0 -> 0 < .34. Before, y's z = 0 became the mean
    # 1.5 / 3 = .5 >= .34 on both emotions of item c.
    assert labels.targets.loc["a"].tolist() == [1.0, 0.0] and labels.targets.loc["b"].tolist() == [0.0, 1.0]
    assert labels.kept.tolist() == [True, True, False]
    assert labels.accounting.items_without_usable_rating == 1 and labels.accounting.ratings_set_aside == 2
    assert labels.accounting.ratings_supporting == 4 and labels.accounting.ratings_total == 6
    raters = labels.raters
    assert raters.loc[("y", "happy"), "n_set_aside"] == 1 and raters.loc[("x", "sad"), "n_set_aside"] == 0
    assert raters.loc[("y", "sad"), "reason"] == "fewer than 2 ratings (min_ratings_per_rater)"
    assert raters.loc[("x", "happy"), "reason"] == ""


def test_znorm_sets_aside_a_rater_whose_ratings_do_not_vary():
    rows = [("a", "x", "happy", 3), ("a", "x", "sad", 0), ("b", "x", "happy", 0), ("b", "x", "sad", 3),
            ("a", "y", "happy", 3), ("a", "y", "sad", 0), ("b", "y", "happy", 3), ("b", "y", "sad", 0)]  # fmt: skip
    ratings = pd.DataFrame(rows, columns=["item", "rater", "label", "value"]).assign(slot="intensity")
    scores, raters = likert_gold_scores(ratings, ["happy", "sad"], "znorm", scale=(0, 3))
    assert raters.loc[("y", "happy"), "reason"] == "ratings do not vary (sd 0)"  # y: happy 3, 3 and sad 0, 0
    assert raters.loc[("y", "sad"), "n_set_aside"] == 2
    np.testing.assert_allclose(scores.loc[["a", "b"], "happy"], [1.0, 0.0])  # x alone, as above
    np.testing.assert_allclose(scores.loc[["a", "b"], "sad"], [0.0, 1.0])


def test_min_ratings_per_rater_through_the_cli_flag(tmp_path):
    _single_rater_corpus().save(tmp_path / "corpus")
    out = tmp_path / "z.parquet"
    result = CliRunner().invoke(app, [
        "labels", str(tmp_path / "corpus"), "--rule", "likert", "--gold-standard", "znorm", "--threshold", "0.34",
        "--min-ratings-per-rater", "3", "--out", str(out),
    ], env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "items without a usable rating" in result.output
    saved = LabelSet.load(out)  # x has 2 ratings per emotion < 3: every rating set aside, nothing kept
    assert saved.kept.tolist() == [False, False, False]
    assert saved.accounting.items_without_usable_rating == 3 and saved.accounting.ratings_set_aside == 6
    assert saved.options["min_ratings_per_rater"] == 3
    table = pd.read_csv(tmp_path / "z.raters.csv")
    assert table["n_set_aside"].tolist() == [2, 1, 2, 1]  # rows (rater, class): x happy, y happy, x sad, y sad
    bad = CliRunner().invoke(app, [
        "labels", str(tmp_path / "corpus"), "--rule", "likert", "--gold-standard", "ewe",
        "--min-ratings-per-rater", "3", "--out", str(out),
    ])  # fmt: skip
    assert bad.exit_code != 0 and "min_ratings_per_rater applies to gold_standard znorm" in str(bad.exception)


def test_min_ratings_per_rater_through_the_recipe_key():
    from voxpop.core.errors import ConfigError
    from voxpop.study.loading import recipe_from_dict

    def recipe(**spec) -> dict:
        return {"study": "s", "corpus": {"demo": {}}, "labels": {"train": {"Z": {"rule": "likert", **spec}}}}

    spec = recipe_from_dict(recipe(gold_standard="znorm", threshold=0.34, min_ratings_per_rater=3)).labels.train["Z"]
    labels = make_labels(_single_rater_corpus(), "likert", **spec.options())
    assert labels.options["min_ratings_per_rater"] == 3 and not labels.kept.any()  # x's 2 ratings < 3: set aside
    assert labels.accounting.ratings_set_aside == 6 and labels.accounting.items_without_usable_rating == 3
    default = recipe_from_dict(recipe(gold_standard="znorm", threshold=0.34)).labels.train["Z"]
    assert make_labels(_single_rater_corpus(), "likert", **default.options()).kept.tolist() == [True, True, False]
    with pytest.raises(ConfigError, match=r"labels\.train\.Z\.min_ratings_per_rater"):
        recipe_from_dict(recipe(gold_standard="znorm", min_ratings_per_rater=1))
