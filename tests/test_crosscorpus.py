"""Scoring a run on another corpus: class mapping by hand, and the CLI cell equals scoring by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from voxpop.cli.app import app
from voxpop.core.errors import ConfigError
from voxpop.corpus.corpus import Corpus
from voxpop.evaluation.results import evaluate_predictions
from voxpop.features import extract
from voxpop.labels.rules import make_labels
from voxpop.models.crosscorpus import map_prediction_classes
from voxpop.models.model_input import feature_input
from voxpop.models.saved_runs import load_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROBS = pd.DataFrame({"angry": [0.5, 0.1], "calm": [0.3, 0.8], "sad": [0.2, 0.1]}, index=["u1", "u2"])


def test_single_label_mass_is_added_and_renormalised_over_kept_classes():
    mapped = map_prediction_classes(PROBS, {"angry": "anger", "calm": "drop"}, ["anger", "sad", "fear"])
    # u1: anger .5, sad .2 of kept mass .7; u2: anger .1, sad .1 of .2; fear never predicted
    expected = pd.DataFrame({"anger": [5 / 7, 0.5], "sad": [2 / 7, 0.5], "fear": [0.0, 0.0]}, index=["u1", "u2"])
    pd.testing.assert_frame_equal(mapped, expected)


def test_two_run_classes_onto_one_test_class():
    mapped = map_prediction_classes(PROBS, {"angry": "negative", "sad": "negative", "calm": "neutral"},
                                    ["negative", "neutral"])
    assert mapped.loc["u1"].tolist() == pytest.approx([0.7, 0.3])
    multi = map_prediction_classes(PROBS, {"angry": "negative", "sad": "negative", "calm": "neutral"},
                                   ["negative", "neutral"], multilabel=True)
    assert multi.loc["u1"].tolist() == pytest.approx([0.5, 0.3])  # sigmoid scores: the maximum, not the sum


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"happy": "joy"}, r"\['happy'\], which are not classes of the run"),
        ({"angry": "rage"}, r"map onto \['rage'\], which are not classes of the test corpus"),
        ({"angry": "drop", "calm": "drop", "sad": "drop"}, "leaves no test class predicted"),
    ],
)
def test_bad_class_maps_are_refused(mapping, message):
    with pytest.raises(ConfigError, match=message):
        map_prediction_classes(PROBS, mapping, ["anger", "sad", "calm"])


def test_cli_scores_a_run_on_another_corpus_as_by_hand(demo_corpus, demo_logreg_run, tmp_path):
    corpus, store, run_dir = demo_corpus.corpus, demo_logreg_run.store, demo_logreg_run.directory
    runner = CliRunner()
    env = {"COLUMNS": "200"}

    # corpus B: the speakers of fold 1, classes named differently (anger -> angry), 'happy' unknown to B
    keep = corpus.items.index[corpus.items["speaker"].isin(corpus.items["speaker"].unique()[:2])]
    part = corpus.subset(keep)
    primary = part.ratings[part.ratings["slot"] == "primary"]
    renamed = primary["label"].astype("string").replace({"anger": "angry", "happy": "other"})  # new text: not codes
    ratings = primary.assign(label=renamed)
    other = Corpus("b", part.items, ratings, classes=["neutral", "angry", "sad"], excluded=["other"])
    other.save(tmp_path / "b")
    out = tmp_path / "cell.csv"
    result = runner.invoke(app, [
        "evaluate", str(run_dir), "--corpus", str(tmp_path / "b"), "--labels", "mr", "--condition", "voice",
        "--class-map", "anger=angry,happy=drop", "--bootstrap", "50", "--store", str(store),
        "--out", str(out),
    ], env=env)  # fmt: skip
    assert result.exit_code == 0, result.output

    # by hand: mean of the fold models on B's features, anger -> angry, happy's mass removed, renormalised
    run = load_run(run_dir)
    features = extract(other, "fbank", store=store)
    x = feature_input(features, other.items.index)
    mean = np.mean([m.predict_proba(x) for m in run.fold_models().values()], axis=0)
    columns = dict(zip(run.record.classes, mean.T, strict=True))
    kept = np.stack([columns["neutral"], columns["anger"], columns["sad"]], axis=1)
    by_hand = pd.DataFrame(kept / kept.sum(axis=1, keepdims=True), index=other.items.index,
                           columns=["neutral", "angry", "sad"])
    labels = make_labels(Corpus.load(tmp_path / "b"), "mr", condition="voice")
    expected = evaluate_predictions(by_hand, labels, n_boot=50, seed=0)
    table = pd.read_csv(out)
    table = table[table["interval"].ne("student-t over classes")]  # the means over classes follow the metrics
    assert np.allclose(table["value"], expected["value"]) and np.allclose(table["low"], expected["low"])
    assert int(table["n_items"].iloc[0]) == int(labels.kept.sum())


def test_class_map_without_another_corpus_is_refused(tmp_path):
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path), "--labels", "mr", "--class-map", "a=b"])
    assert result.exit_code != 0
