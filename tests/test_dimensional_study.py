"""Dimensional recipes: recipe keys, the pre-flight check, scales and the scoring of regressors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from voxpop.core.errors import ConfigError
from voxpop.evaluation.test_scores import regression_results
from voxpop.labels.continuous import ContinuousLabelSet, continuous_labels
from voxpop.study.checks import check_recipe
from voxpop.study.loading import recipe_from_dict

DIMS = ["arousal", "valence", "dominance"]


def recipe(**labels) -> dict:
    return {"study": "s", "corpus": {"demo": {"size": "tiny"}}, "labels": {"test": labels}}


def checked(recipe, corpus, tmp_path) -> dict:
    """Run the one pre-flight check; the label sets it built, read from the labels stages it ran them through."""
    from voxpop.core.cache import Cache
    from voxpop.study.definition import build_study
    from voxpop.study.plan import label_stages
    from voxpop.study.stages import load_labels

    study, cache = build_study(recipe, tmp_path), Cache(tmp_path / "cache")
    stages = label_stages(study, "corpus")
    check_recipe(study, corpus, cache=cache, label_stages=stages)
    return {key: load_labels(cache.directory(stage)) for key, stage in stages.items()}


def test_recipe_keys_of_a_continuous_label_set_are_checked_by_path():
    parsed = recipe_from_dict(recipe(EWE={"gold_standard": "ewe", "dimensions": DIMS, "condition": "voice"}))
    assert parsed.labels.test["EWE"].gold_standard == "ewe"
    with pytest.raises(ConfigError) as error:
        recipe_from_dict(recipe(a={"gold_standard": "wmean"}, b={"gold_standard": "ewe", "dimension": ["arousal"]}))
    message = str(error.value)
    assert "labels.test.a.gold_standard: Input should be 'mean', 'median', 'ewe' or 'znorm'" in message
    assert "labels.test.b.dimension: unknown key (allowed: gold_standard, dimensions, slot, condition" in message


def test_a_dimension_named_twice_is_refused_by_name():
    with pytest.raises(ConfigError, match=r"labels.test.a.*dimensions: \['arousal'\] given more than once"):
        recipe_from_dict(recipe(a={"gold_standard": "mean", "dimensions": ["arousal", "valence", "arousal"]}))


def test_check_builds_the_label_sets_and_refuses_mixed_scales(demo_corpus, tmp_path):
    corpus = demo_corpus.corpus
    good = recipe_from_dict(recipe(mean={"gold_standard": "mean", "condition": "voice", "rescale": [0, 1]}))
    built = checked(good, corpus, tmp_path)
    direct = continuous_labels(corpus, "dimension", None, "mean", condition="voice")
    # rescale 1..5 -> 0..1 is (x - 1) / 4, and the label set records the new scale and the old one
    labels = built["test", "mean"]
    np.testing.assert_allclose(labels.values.to_numpy(), (direct.values.to_numpy() - 1) / 4)
    assert labels.scale == {d: (0.0, 1.0) for d in DIMS}
    assert labels.options["rescaled_from"] == {d: [1.0, 5.0] for d in DIMS}
    mixed = recipe_from_dict(
        recipe(a={"gold_standard": "mean", "rescale": [1, 7]}, b={"gold_standard": "ewe", "dimensions": ["valence"]})
    )
    with pytest.raises(ConfigError, match="map a different scale with rescale"):
        check_recipe(mixed, corpus)
    with pytest.raises(ConfigError, match=r"labels.test.a: slot 'dimension' has no ratings for \['pleasure'\]"):
        check_recipe(recipe_from_dict(recipe(a={"gold_standard": "mean", "dimensions": ["pleasure"]})), corpus)
    spec = {"gold_standard": "mean", "condition": "voice"}
    misspelt = {**recipe(mean=spec), "labels": {"train": {"mean": spec}, "test": {"mean": spec}},
                "model": {"head": "mlp", "loss": "ccc", "loss_options": {"weights": {"arousl": 2}}}}  # fmt: skip
    with pytest.raises(ConfigError, match=r"model.loss_options \(base\): loss 'ccc': weights name \['arousl'\]"):
        check_recipe(recipe_from_dict(misspelt), corpus)  # before any label set, feature or model is made


def test_evaluation_scores_kept_items_and_names_metrics_per_dimension():
    index = pd.Index(["a", "b", "c", "d", "e"], name="item")
    targets = pd.DataFrame({"arousal": [1.0, 2.0, 3.0, 4.0, np.nan], "valence": [2.0, 2.0, 4.0, 5.0, 1.0]}, index=index)
    labels = ContinuousLabelSet(
        values=targets,
        spread=targets * 0,
        n_raters=targets.notna().astype(int),
        kept=targets.notna().all(axis=1),
        method="mean",
        scale={"arousal": (1, 5), "valence": (1, 5)},
        raters=pd.DataFrame(),
    )
    predictions = pd.DataFrame(
        {"arousal": [1.5, 2.5, 3.5, 4.5, 3.0], "valence": [3.0, 2.0, 3.0, 4.0, 2.0]}, index=index
    )
    table = regression_results(predictions.assign(fold="f1"), labels, n_boot=0, seed=0)
    value = table.set_index("metric")["value"]
    # arousal on a..d: predictions = targets + 0.5 -> CCC 2 * 1.25 / (1.25 + 1.25 + 0.25), MAE 0.5
    assert value["ccc[arousal]"] == pytest.approx(2.5 / 2.75)
    assert value["mae[arousal]"] == pytest.approx(0.5)
    # valence on a..d: errors 1, 0, -1, -1 -> RMSE sqrt(3 / 4)
    assert value["rmse[valence]"] == pytest.approx(np.sqrt(0.75))
    assert value["mae"] == pytest.approx((0.5 + 0.75) / 2)
    assert (table["n_items"] == 4).all() and (table["n_excluded"] == 1).all() and table["low"].isna().all()
    assert (table["n_folds"] == 1).all() and table["fold_sd"].isna().all()  # one fold: its score, no spread
    chance = table.set_index("metric")["chance"]
    assert chance[["ccc", "ccc[arousal]", "pearson[valence]"]].tolist() == [0.0, 0.0, 0.0]
    assert chance[["mae", "rmse[arousal]"]].isna().all()
    two = regression_results(
        predictions.assign(fold=["f1", "f1", "f2", "f2", "f2"]), labels, n_boot=0, seed=0
    ).set_index("metric")
    # MAE of arousal: 0.5 in both folds; of valence: f1 (a, b) errors 1, 0 -> 0.5, f2 (c, d) errors 1, 1 -> 1.0
    assert two.loc["mae[arousal]", ["fold_mean", "fold_sd"]].tolist() == pytest.approx([0.5, 0.0])
    assert two.loc["mae[valence]", ["fold_mean", "fold_sd"]].tolist() == pytest.approx([0.75, np.sqrt(0.125)])
    assert two.loc["mae[valence]", "value"] == pytest.approx(0.75) and int(two.loc["mae", "n_folds"]) == 2


def test_resample_speakers_reaches_the_dimensional_evaluation_and_is_checked_before_training(demo_corpus):
    from voxpop.study.plan import plan_study

    spec = {"gold_standard": "mean", "condition": "voice"}
    trained = recipe_from_dict(
        {**recipe(mean=spec), "labels": {"train": {"mean": spec}, "test": {"mean": spec}},
         "evaluation": {"resample": "speakers"}}
    )  # fmt: skip
    (stage,) = plan_study(trained, "key").evaluations.values()
    assert stage.config["resample"] == "speakers"
    corpus = demo_corpus.corpus
    without = type("C", (), {"items": corpus.items.drop(columns="speaker"), "ratings": corpus.ratings,
                             "scales": corpus.scales, "name": "nospeaker"})()  # fmt: skip
    with pytest.raises(ConfigError, match="evaluation.resample: speakers .* corpus 'nospeaker' has no 'speaker'"):
        check_recipe(trained, without)


def test_classification_metrics_in_a_dimensional_recipe_are_refused_not_ignored(demo_corpus):
    spec = {"gold_standard": "mean", "condition": "voice"}
    check_recipe(recipe_from_dict(recipe(mean=spec)), demo_corpus.corpus)  # the default metrics: fine
    with pytest.raises(ConfigError, match=r"evaluation.metrics: \['uar'\] score classes; .* ccc, pearson, mae, rmse"):
        check_recipe(recipe_from_dict({**recipe(mean=spec), "evaluation": {"metrics": ["ccc", "uar"]}}),
                     demo_corpus.corpus)  # fmt: skip


def test_recipes_read_the_dimensions_of_msp_iemocap_and_mosei_imports(tmp_path):
    from pathlib import Path

    from voxpop.corpus.formats.iemocap import read_iemocap
    from voxpop.corpus.formats.likert import read_mosei
    from voxpop.corpus.formats.msp import read_msp

    fixtures = Path(__file__).parent / "fixtures"
    msp = read_msp(fixtures / "msp_detailed.json")
    # MSP-Podcast's 1..7 onto IEMOCAP's 1..5: 1 + (x - 1) * 4 / 6; item 0011 arousal mean 5.5 -> 4.0
    spec = {"gold_standard": "mean", "rescale": [1, 5]}
    built = checked(recipe_from_dict(recipe(msp=spec)), msp, tmp_path / "msp")["test", "msp"]
    assert built.values.loc["MSP-PODCAST_0002_0011", "arousal"] == pytest.approx(4.0)
    iemocap = read_iemocap(fixtures / "iemocap_Ses01F_impro01.txt")
    iemocap_recipe = recipe_from_dict(recipe(iemocap={"gold_standard": "mean"}))
    built = checked(iemocap_recipe, iemocap, tmp_path / "iemocap")["test", "iemocap"]
    assert built.scale == {d: (1.0, 5.0) for d in ("valence", "arousal", "dominance")}
    assert built.values.loc["Ses01F_impro01_F000", "valence"] == pytest.approx(2.5)  # IEMOCAP's own consensus
    mosei = read_mosei(fixtures / "mosei_batch_results.csv")
    spec = {"gold_standard": "median", "slot": "sentiment"}
    built = checked(recipe_from_dict(recipe(sentiment=spec)), mosei, tmp_path / "mosei")["test", "sentiment"]
    assert built.scale == {"sentiment": (-3.0, 3.0)}
    assert built.values.loc["-3g5yACwYnA_5", "sentiment"] == pytest.approx(-1.0)  # median of -1, -2, -1


CHECK_WITHOUT_TORCH = """
import sys
from voxpop.corpus.corpus import Corpus
from voxpop.study.checks import check_recipe
from voxpop.core.errors import ConfigError
from voxpop.study.loading import recipe_from_dict
spec = {"gold_standard": "mean", "condition": "voice"}
recipe = {"study": "s", "corpus": {"demo": {"size": "tiny"}},
          "labels": {"train": {"mean": spec}, "test": {"mean": spec}},
          "model": {"head": "mlp", "loss": "ccc", "loss_options": {"weights": {"arousl": 2}}}}
try:
    check_recipe(recipe_from_dict(recipe), Corpus.load(sys.argv[1]))
except ConfigError as exc:
    print("weights name ['arousl']" in str(exc), "torch" in sys.modules)
"""


def test_the_check_of_a_regression_loss_imports_no_torch(demo_corpus):
    """The pre-flight check runs in the main process of a run on workers, which imports no training stack: the
    regression loss's weights are checked without building the (torch) loss."""
    import subprocess
    import sys

    corpus = str(demo_corpus.root / "corpus")
    command = [sys.executable, "-c", CHECK_WITHOUT_TORCH, corpus]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["True", "False"], done.stderr[-2000:]


def test_what_reads_classes_is_refused_for_dimensions_by_the_one_table(demo_corpus):
    from voxpop.study.target_checks import ACCEPTS

    spec = {"gold_standard": "mean", "condition": "voice"}
    data = {**recipe(mean=spec), "labels": {"train": {"mean": spec}, "test": {"mean": spec}},
            "model": {"head": "mlp", "loss": "mse"},
            "analyses": {"confusion": {}, "ensemble": True, "agreement": {"slot": "dimension", "level": "interval"}}}
    with pytest.raises(ConfigError) as error:  # fmt: skip
        check_recipe(recipe_from_dict(data), demo_corpus.corpus)
    message = str(error.value)
    refused = [key for key, kinds in ACCEPTS.items() if "continuous" not in kinds]
    assert {"analyses.confusion", "analyses.ensemble"} <= set(refused) and "analyses.agreement" not in refused
    assert "analyses.confusion: reads classes, but this study's label sets are continuous" in message
    assert "analyses.ensemble: reads classes" in message and "analyses.agreement" not in message


def test_both_label_set_kinds_offer_one_protocol(tmp_path):
    from voxpop.labels import Accounting, LabelSet, load_label_set

    index = pd.Index(["a", "b", "c"], name="item")
    values = pd.DataFrame({"arousal": [1.0, np.nan, 3.0], "valence": [2.0, 2.0, 4.0]}, index=index)
    counts = pd.DataFrame({"arousal": [2, 1, 3], "valence": [2, 2, 3]}, index=index)  # b: one unusable rating
    continuous = ContinuousLabelSet(
        values=values, spread=values * 0, n_raters=counts, kept=values.notna().all(axis=1), method="mean",
        scale={"arousal": (1, 5), "valence": (1, 5)}, raters=pd.DataFrame(),
    )  # fmt: skip
    assert continuous.kind == "continuous" and continuous.names == ["arousal", "valence"]
    assert continuous.targets is continuous.values and continuous.multilabel is False
    # 3 items, a and c kept; 13 ratings, those of a (2 + 2) and c (3 + 3) support the targets; b has an arousal
    # rating but no arousal value: an item without a usable rating
    assert continuous.accounting == Accounting(3, 2, 13, 10, items_without_usable_rating=1)
    targets = pd.DataFrame(np.eye(2)[[0, 1, 0]], index=index, columns=["anger", "sad"])
    categorical = LabelSet(targets, pd.Series(True, index=index), targets * 2, "mr", Accounting(3, 3, 6, 6))
    assert categorical.kind == "categorical" and categorical.names == ["anger", "sad"]
    for labels in (continuous, categorical):
        back = load_label_set(labels.save(tmp_path / f"{labels.kind}.parquet"))
        assert type(back) is type(labels) and back.names == labels.names
        pd.testing.assert_frame_equal(back.targets, labels.targets, check_names=False, check_index_type=False)
