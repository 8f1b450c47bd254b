"""Likert binarisation by a numeric gold standard (mean, median, EWE, z-norm) and the per-rater table, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from voxpop.cli import app
from voxpop.corpus import Corpus
from voxpop.errors import InputError, VoxpopError
from voxpop.labels import likert_gold_scores, make_labels
from voxpop.labelset import LabelSet

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
    assert table.columns.tolist() == ["rater", "class", "n_ratings", "weight"]
    assert table["weight"].tolist() == pytest.approx([np.corrcoef(R1, (R1 + R3) / 2)[0, 1]] * 2 + [0.0])
    saved = LabelSet.load(out)
    assert saved.kept.tolist() == [False, True, True, True, True, False]
    assert saved.raters["weight"].xs("r3", level="rater").tolist() == [0.0]
