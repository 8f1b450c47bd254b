"""Study 7 (recipes/7-raters.yaml, recipes/7-disagreement.yaml) runs end to end on the tiny demo corpus, and what
its report shows (the raters' ceiling, calibration, the disagreement target) equals a direct computation with
the library on the same predictions and ratings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from voxpop.core.errors import ConfigError
from voxpop.corpus import Corpus
from voxpop.evaluation.calibration import calibration_scores
from voxpop.evaluation.ceiling import leave_one_rater_out
from voxpop.labels.disagreement import disagreement_labels
from voxpop.labels.rules import make_labels
from voxpop.report.study import write_study_report
from voxpop.study.loading import load_recipe
from voxpop.study.run import run_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
CLASSES = ["neutral", "anger", "happy", "sad"]


def run(demo_corpus, tmp_path, name: str, *overrides: str):
    common = [
        "corpus.demo=null",
        f"corpus.path={demo_corpus.dir}",
        "features.extractor=fbank",
        f"features.store={tmp_path / 'store'}",
        "model.epochs=2",
        "evaluation.bootstrap=20",  # the checks compare with the library on the same 20 resamples
        "protocol.speaker_folds.k=3",
    ]
    recipe = load_recipe(RECIPES / name, [*common, *overrides])
    return run_recipe(recipe, tmp_path / "out", source=name, on_run=write_study_report)


MLP_ONLY = "variants={mlp: {model: {head: mlp, head_options: {hidden_dim: 256}}}}"
"""Study 7's mlp variant alone: the models whose ceiling and calibration the test below checks (the whole study
trains the per-rater and crowd-layer variants beside them, and scores them against the raters too)."""


@pytest.mark.parametrize("variants", [
    pytest.param((MLP_ONLY,), id="mlp-variant"),
    pytest.param((), id="whole-study", marks=pytest.mark.slow),  # three variants: 3x the training and scoring
])  # fmt: skip
def test_study_7_reports_the_raters_ceiling_and_calibration_as_the_library_computes_them(
    demo_corpus, tmp_path, variants, undrawn_figures
):
    result = run(demo_corpus, tmp_path, "7-raters.yaml", *variants)
    corpus = Corpus.load(demo_corpus.dir)
    out = tmp_path / "out"
    # the ceiling on MR equals leave_one_rater_out on the same ratings and the run's predictions
    cells = [("mlp", "MR"), ("mlp", "AR")]
    predictions = {f"{v}/{t}": result.output(result.plan.sources[v, t]).predictions for v, t in cells}
    _, summary = leave_one_rater_out(corpus, {"rule": "mr", "condition": "voice"}, predictions, ["macro_f1", "uar"],
                                     classes=CLASSES, min_ratings=10, n_boot=20, seed=0)  # fmt: skip
    stored = result.output(result.plan.ceilings["MR"])["summary"]
    raters = stored[stored["model"].eq("raters")].set_index("metric")
    expected = summary[summary["model"].eq("raters")].set_index("metric")
    assert raters.loc["macro_f1", "value"] == pytest.approx(expected.loc["macro_f1", "value"])
    assert raters.loc["uar", "low"] == pytest.approx(expected.loc["uar", "low"])
    # ... and is the "raters" row of the results table and the headline's ceiling column
    table = pd.read_csv(out / "tables" / "results.csv")
    row = table[table["model (variant)"].eq("raters") & table["test label set"].eq("MR")].iloc[0]
    assert row["macro-F1"].startswith(f"{expected.loc['macro_f1', 'value']:.3f} [")
    headline = pd.read_csv(out / "tables" / "headline.csv").set_index("test label set")
    assert headline.loc["MR", "raters' ceiling"] == row["macro-F1"]
    assert (out / "tables" / "per-rater-mr.csv").is_file()
    # calibration before scaling equals calibration_scores on the MR-trained model's pooled predictions
    probs = predictions["mlp/MR"][CLASSES]
    mr = make_labels(corpus, "mr", condition="voice", classes=CLASSES)
    consensus = mr.targets[mr.kept].idxmax(axis=1)
    ar = make_labels(corpus, "ar", condition="voice", classes=CLASSES)
    direct = calibration_scores(probs, consensus, ar.targets[ar.kept], n_boot=20, seed=0).set_index("metric")
    scores = result.output(result.plan.calibrations["mlp", "MR", "MR"])["scores"]
    unscaled = scores[scores["scaling"].eq("none")].set_index("metric")
    for metric in ("ece", "brier", "nll"):
        assert unscaled.loc[metric, "value"] == pytest.approx(direct.loc[metric, "value"])
    temperatures = result.output(result.plan.calibrations["mlp", "MR", "MR"])["temperatures"]
    assert len(temperatures) == 3 and (temperatures["temperature"] > 0).all()
    assert "Calibration against the raters" in (out / "report.md").read_text()
    assert (out / "figures" / "reliability.png").is_file()


def test_study_7_disagreement_target_is_learnt_and_scored_as_a_dimension(demo_corpus, tmp_path):
    result = run(demo_corpus, tmp_path, "7-disagreement.yaml")
    corpus = Corpus.load(demo_corpus.dir)
    labels = result.output(result.plan.labels["test", "voice"])
    direct = disagreement_labels(corpus, condition="voice", classes=CLASSES)
    np.testing.assert_allclose(labels.values["disagreement"], direct.values["disagreement"])
    cells = result.results[result.results["group"].eq("all") & result.results["metric"].eq("ccc")]
    assert len(cells) == 4 and cells["value"].notna().all()  # 2 train x 2 test definitions, scored by CCC


def test_a_ceiling_on_a_multi_label_test_set_or_without_development_folds_is_refused(demo_corpus, tmp_path):
    with pytest.raises(ConfigError, match=r"analyses.ceiling.tests: \['AR'\]"):
        run(demo_corpus, tmp_path, "7-raters.yaml", "labels.test.AR={rule: ar-test, condition: voice}",
            "analyses.ceiling.tests=[AR]")  # fmt: skip
    with pytest.raises(ConfigError, match="analyses.calibration.tuning"):
        run(demo_corpus, tmp_path, "7-raters.yaml", "protocol.speaker_folds.dev=false",
            "model.early_stopping=null")  # fmt: skip
    # a per-rater head would learn the held-out raters' votes on the training items
    with pytest.raises(ConfigError, match=r"model.head \(grid per-rater\): 'per_rater' learns every rater's votes"):
        run(demo_corpus, tmp_path, "7-raters.yaml", "protocol.speaker_folds=null", "analyses.ceiling=null",
            "protocol.rater_folds={k: 3, column: speaker, dev: true, seed: 0}")  # fmt: skip


def test_rater_folds_train_on_training_raters_and_test_on_held_out_raters(demo_corpus, tmp_path):
    from voxpop.labels.rater_folds import rater_groups
    from voxpop.models.protocols import speaker_folds

    folds = "{k: 3, column: speaker, dev: true, seed: 0}"
    recipe = load_recipe(RECIPES / "7-raters.yaml", [
        "corpus.demo=null", f"corpus.path={demo_corpus.dir}", "features.extractor=fbank",
        f"features.store={tmp_path / 'store'}", "model.epochs=2", "evaluation.bootstrap=50",
        "protocol.speaker_folds=null", f"protocol.rater_folds={folds}", "analyses.ceiling=null",
        "variants={mlp: {model: {head: mlp}}}",
    ])  # fmt: skip
    result = run_recipe(recipe, tmp_path / "out", source="7-raters.yaml")
    corpus = Corpus.load(demo_corpus.dir)
    voice = corpus.ratings[corpus.ratings["condition"].eq("voice") & corpus.ratings["slot"].eq("primary")]
    groups = rater_groups(corpus.ratings["rater"].astype(str), 3, 0)
    labels = result.output(result.plan.labels["train", "MR"])
    item_folds = speaker_folds(corpus.items, 3, seed=0)
    for number, fold in enumerate(item_folds):
        # the held-out raters label fold f's test items: MR of their votes alone
        held_out = voice[voice["item"].isin(fold.test) & voice["rater"].map(groups).eq(number)]
        for item, votes in held_out.groupby("item")["label"]:
            counts = votes.value_counts()
            if counts.iloc[0] > len(votes) / 2 and labels.kept[item]:
                assert labels.targets.loc[item].idxmax() == counts.index[0]
    # every rating of another group was set aside and counted
    mine = voice["rater"].map(groups).to_numpy() == voice["item"].map(
        {i: n for n, f in enumerate(item_folds) for i in f.test}).to_numpy()  # fmt: skip
    assert labels.options["rater_folds_set_aside"] == int((~mine).sum()) > 0
    assert labels.accounting.ratings_total == int(mine.sum())
    assert not result.results.empty and result.plan.calibrations
