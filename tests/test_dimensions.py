"""Numeric gold standards (mean, median, EWE, z-normalised mean) and continuous label sets from importers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr

from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.formats.iemocap import read_iemocap
from voxpop.corpus.formats.likert import read_mosei
from voxpop.corpus.formats.msp import read_msp
from voxpop.labels.continuous import ContinuousLabelSet, continuous_labels, ewe_weights, gold_standard, rescale

FIXTURES = Path(__file__).parent / "fixtures"
ITEMS = [f"i{k}" for k in range(6)]
RATINGS = {"r1": [1, 2, 3, 4, 5, 6], "r2": [1, 3, 3, 5, 5, 6], "r3": [4, 1, 6, 2, 5, 3]}


def _long(ratings: dict[str, list[float]]) -> pd.DataFrame:
    rows = [(item, rater, v) for rater, values in ratings.items() for item, v in zip(ITEMS, values, strict=True)]
    return pd.DataFrame(rows, columns=["item", "rater", "value"])


def test_ewe_weights_are_pearson_with_the_other_raters_mean():
    weights = ewe_weights(_long(RATINGS))
    r1 = pearsonr(RATINGS["r1"], np.mean([RATINGS["r2"], RATINGS["r3"]], axis=0)).statistic
    r2 = pearsonr(RATINGS["r2"], np.mean([RATINGS["r1"], RATINGS["r3"]], axis=0)).statistic
    r3 = pearsonr(RATINGS["r3"], np.mean([RATINGS["r1"], RATINGS["r2"]], axis=0)).statistic
    assert r3 < 0  # the third rater disagrees: weight 0
    assert weights.to_dict() == pytest.approx({"r1": r1, "r2": r2, "r3": 0.0})
    assert weights["r1"] == pytest.approx(0.794461, abs=1e-6) and weights["r2"] == pytest.approx(0.553543, abs=1e-6)


def test_ewe_values_by_hand():
    values, raters = gold_standard(_long(RATINGS), "ewe")
    w1, w2 = 0.7944613, 0.5535433
    assert values["i1"] == pytest.approx((w1 * 2 + w2 * 3) / (w1 + w2), abs=1e-6)
    assert values["i1"] == pytest.approx(2.410639, abs=1e-6)  # the plain mean would be 2.0
    assert values["i0"] == pytest.approx(1.0)
    assert raters.loc["r3", "weight"] == 0.0 and raters["n_ratings"].tolist() == [6, 6, 6]


def test_too_few_shared_items_weigh_zero_and_items_fall_back_to_the_mean():
    small = _long({"r1": [1, 2, 3, 4, 5, 6], "r2": [2, 3, 4, 5, 6, 7]}).iloc[[0, 1, 2, 6, 7, 8]]  # 3 shared items
    values, raters = gold_standard(small, "ewe")
    assert raters["weight"].tolist() == [0.0, 0.0]
    assert values.tolist() == pytest.approx([1.5, 2.5, 3.5])


def test_znorm_removes_each_raters_bias():
    biased = _long({"r1": [1, 2, 3, 4, 5, 6], "r2": [3, 4, 5, 6, 7, 8]})  # r2 = r1 + 2
    values, raters = gold_standard(biased, "znorm")
    z = (np.arange(1, 7) - 3.5) / np.std(np.arange(1, 7))
    everything = np.concatenate([np.arange(1, 7), np.arange(3, 9)])
    assert values.to_numpy() == pytest.approx(z * everything.std() + everything.mean())
    assert raters.loc["r2", "mean"] == pytest.approx(5.5)


def test_count_only_data_and_unknown_methods_are_refused():
    anonymous = _long(RATINGS).assign(rater=pd.NA)
    with pytest.raises(InputError, match="no rater id"):
        gold_standard(anonymous, "ewe")
    assert gold_standard(anonymous, "mean")[0]["i1"] == pytest.approx(2.0)
    with pytest.raises(ConfigError, match="unknown gold standard 'mode'"):
        gold_standard(_long(RATINGS), "mode")


def test_rescale_is_linear_and_explicit():
    assert rescale(np.array([1.0, 7.0, 4.0]), (1, 7), (1, 5)).tolist() == [1.0, 5.0, 3.0]
    with pytest.raises(ConfigError):
        rescale(np.array([1.0]), (7, 1), (1, 5))


def test_msp_dimensions_become_a_continuous_label_set(tmp_path):
    corpus = read_msp(FIXTURES / "msp_detailed.json")
    labels = continuous_labels(corpus, "dimension", ["arousal", "valence", "dominance"])
    # hand means from the JSON: 0011 workers 201/202 act 6,5 val 2,2 dom 6,5; 0012 dom blank for worker 203
    row = labels.values.loc["MSP-PODCAST_0002_0011"].tolist()
    assert row == pytest.approx([5.5, 2.0, 5.5])
    assert labels.values.loc["MSP-PODCAST_0002_0012"].tolist() == pytest.approx([4.5, 5.5, 4.0])
    assert labels.n_raters.loc["MSP-PODCAST_0002_0012"].tolist() == [2, 2, 1]
    assert labels.spread.loc["MSP-PODCAST_0002_0011", "arousal"] == pytest.approx(0.5)
    assert labels.scale == {d: (1.0, 7.0) for d in ("arousal", "valence", "dominance")}
    labels.save(tmp_path / "dims.parquet")
    back = ContinuousLabelSet.load(tmp_path / "dims.parquet")
    pd.testing.assert_frame_equal(back.values, labels.values, check_dtype=False, check_index_type=False)
    assert back.scale == labels.scale and back.method == "mean"


def test_iemocap_dimensions_equal_the_released_consensus_of_the_evaluators():
    corpus = read_iemocap(FIXTURES / "iemocap_Ses01F_impro01.txt")
    labels = continuous_labels(corpus, "dimension", ["valence", "arousal", "dominance"])
    # the header line of Ses01F_impro01_F000 carries IEMOCAP's own [V, A, D] = [2.5, 2.0, 2.5], the mean
    # of evaluators E2 (3, 2, 3) and E3 (2, 2, 2); the actor's self-evaluation A-F1 is not a rater
    assert labels.values.loc["Ses01F_impro01_F000"].tolist() == pytest.approx([2.5, 2.0, 2.5])
    assert labels.values.loc["Ses01F_impro01_M001"].tolist() == pytest.approx([2.0, 3.5, 3.5])
    assert labels.scale["arousal"] == (1.0, 5.0)


def test_mosei_sentiment_is_a_continuous_label():
    corpus = read_mosei(FIXTURES / "mosei_batch_results.csv")
    labels = continuous_labels(corpus, "sentiment")
    assert labels.dimensions == ["sentiment"]
    assert labels.values.loc["-3g5yACwYnA_5", "sentiment"] == pytest.approx((-1 - 2 - 1) / 3)
    assert labels.scale == {"sentiment": (-3.0, 3.0)}


def test_a_slot_without_numbers_is_named():
    corpus = read_mosei(FIXTURES / "mosei_batch_results.csv")
    with pytest.raises(ConfigError, match="no numeric ratings in slot 'dimension'"):
        continuous_labels(corpus, "dimension")


def test_a_condition_the_dimension_ratings_lack_is_named_not_the_slot():
    """MSP ratings carry no condition: asking for condition 'voice' must say so, not claim the slot is empty."""
    corpus = read_msp(FIXTURES / "msp_detailed.json")
    with pytest.raises(ConfigError, match=r"slot 'dimension' under condition 'voice'; its ratings have no condition"):
        continuous_labels(corpus, "dimension", condition="voice")


def test_znorm_sets_aside_raters_it_cannot_normalise_and_leaves_their_items_without_value():
    ratings = pd.DataFrame(
        [("a", "x", 3.0), ("b", "x", 0.0), ("c", "y", 3.0), ("d", "w", 2.0), ("d", "w2", 2.0), ("e", "w", 2.0)],
        columns=["item", "rater", "value"],
    )  # x varies; y rated once; w always 2; w2 rated once
    values, raters = gold_standard(ratings, "znorm")
    # only x is usable: z = +1, -1, mapped back with the mean 1.5 and sd 1.5 of x's ratings
    assert values[["a", "b"]].tolist() == pytest.approx([3.0, 0.0]) and values[["c", "d", "e"]].isna().all()
    assert raters["n_set_aside"].to_dict() == {"w": 2, "w2": 1, "x": 0, "y": 1}
    assert raters.loc["w", "reason"] == "ratings do not vary (sd 0)"
    assert raters.loc["y", "reason"] == "fewer than 2 ratings (min_ratings_per_rater)"
    strict, raters = gold_standard(ratings, "znorm", min_ratings_per_rater=3)
    assert strict.isna().all() and raters.loc["x", "reason"] == "fewer than 3 ratings (min_ratings_per_rater)"
    with pytest.raises(ConfigError, match="min_ratings_per_rater must be a whole number >= 2"):
        gold_standard(ratings, "znorm", min_ratings_per_rater=1)


def test_ewe_lists_why_a_rater_weighs_zero():
    _, raters = gold_standard(_long(RATINGS), "ewe")
    r3 = pearsonr(RATINGS["r3"], np.mean([RATINGS["r1"], RATINGS["r2"]], axis=0)).statistic
    assert raters.loc["r3", "reason"] == f"negative r with the other raters ({r3:.3f})"
    assert raters.loc[["r1", "r2"], "reason"].tolist() == ["", ""]
    small = _long({"r1": [1, 2, 3, 4, 5, 6], "r2": [2, 3, 4, 5, 6, 7]}).iloc[[0, 1, 2, 6, 7, 8]]
    assert gold_standard(small, "ewe")[1]["reason"].tolist() == ["fewer than 5 items shared with other raters (3)"] * 2


def test_continuous_label_set_counts_items_without_usable_rating_and_recipe_key(demo_corpus):
    corpus = demo_corpus.corpus
    rows = corpus.ratings[corpus.ratings["slot"].eq("dimension").to_numpy(dtype=bool, na_value=False)]
    per_rater = rows.groupby("rater").size()
    threshold = int(per_rater.max()) + 1  # every rater has fewer ratings: every rating set aside
    labels = continuous_labels(corpus, "dimension", ["arousal"], "znorm", min_ratings_per_rater=threshold)
    rated = rows[rows["label"].eq("arousal").to_numpy(dtype=bool, na_value=False)]
    assert labels.items_without_usable_rating == rated["item"].nunique() and not labels.kept.any()
    assert labels.ratings_set_aside == len(rated) and labels.options["min_ratings_per_rater"] == threshold
    from voxpop.study.loading import recipe_from_dict

    spec = {"gold_standard": "znorm", "dimensions": ["arousal"], "min_ratings_per_rater": threshold}
    parsed = recipe_from_dict({"study": "s", "corpus": {"demo": {"size": "tiny"}}, "labels": {"test": {"z": spec}}})
    built = parsed.labels.test["z"].build(corpus)
    assert built.items_without_usable_rating == labels.items_without_usable_rating and not built.kept.any()
    with pytest.raises(ConfigError, match="min_ratings_per_rater"):
        recipe_from_dict({"study": "s", "corpus": {"demo": {"size": "tiny"}},
                          "labels": {"test": {"z": {**spec, "min_ratings_per_rater": 1}}}})  # fmt: skip
