"""The five study recipes of recipes/ run end to end on the tiny demo corpus (few epochs, small bootstrap), and
what they report matches a direct computation with the library."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from voxpop.agreement import confusion, reliability, tables, threshold_sweep
from voxpop.core.errors import ConfigError
from voxpop.evaluation.metrics import confusion_matrix
from voxpop.evaluation.predictions import binarize_predictions
from voxpop.labels.rules import accounting_table, make_labels
from voxpop.study.loading import load_recipe
from voxpop.study.run import run_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def run_recipe_with_report(*args, **kwargs):
    """run_recipe with the report written, as `voxpop run` does."""
    from voxpop.report.study import write_study_report

    return run_recipe(*args, on_run=write_study_report, **kwargs)


@pytest.fixture(scope="module")
def shared(demo_corpus, tmp_path_factory):
    """The session's tiny demo corpus and one feature store for every recipe."""
    return SimpleNamespace(corpus=demo_corpus.dir, store=tmp_path_factory.mktemp("store"))


def run(shared, tmp_path, name: str, *overrides: str):
    """Run recipes/<name> on the tiny corpus: fbank features (unless overridden), 3 speaker folds (the fewest
    with a development group, which the recipes' early stopping and tuning need), 2 epochs, 200 resamples."""
    common = [
        "corpus.demo=null",
        f"corpus.path={shared.corpus}",
        "features.extractor=fbank",
        f"features.store={shared.store}",
        "model.epochs=2",
        "evaluation.bootstrap=200",
        "protocol.speaker_folds.k=3",
    ]
    recipe = load_recipe(RECIPES / name, [*common, *overrides])
    result = run_recipe_with_report(recipe, tmp_path / "out", source=name)
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "report.md").is_file()
    figures = {p.name for p in (tmp_path / "out" / "figures").glob("*.png")}
    assert figures and all(f"figures/{f}" in (tmp_path / "out" / "report.md").read_text() for f in figures)
    assert "SYNTHETIC" in (tmp_path / "out" / "report.html").read_text()
    results = result.results
    # only the per-class scores (F1, weighted F1, MCC) of a class neither true nor predicted in a test set / group
    # are undefined (NaN), and the row names it among the absent classes
    undefined = ~np.isfinite(results["value"].to_numpy())
    pairs = zip(results["metric"], results["absent_classes"], strict=True)
    kinds = ("f1", "weighted_f1", "mcc")
    absent = np.array([metric in {f"{k}[{c}]" for k in kinds for c in names.split(", ")} for metric, names in pairs])
    assert (~undefined | absent).all() and undefined.sum() < len(results) / 2
    return result


def cells(results: pd.DataFrame, variant: str) -> set[tuple[str, str]]:
    rows = results[results["variant"].eq(variant)]
    return set(zip(rows["train"], rows["test"], strict=True))


@pytest.mark.slow  # the whole study; quick: test_experiment's test_labels_with_the_swept_best_threshold (sweep, best)
def test_study_1_annotation_strength(shared, tmp_path):
    result = run(shared, tmp_path, "1-annotation-strength.yaml", "analyses.agreement.bootstrap=50")
    plan = result.plan
    _, summary, positives = result.output(plan.sweep)
    scores = [
        threshold_sweep.intensity_scores(result.corpus, ["neutral", "anger", "happy", "sad"], c)
        for c in ("voice", "av")
    ]
    direct = threshold_sweep.threshold_sweep(*scores, threshold_sweep.threshold_grid("0.01:0.99:0.01"))
    assert summary["best_threshold"] == direct.best_threshold
    common = scores[0].index.intersection(scores[1].index)  # positives panel: items at or above t, both conditions
    counted = positives.set_index(["condition", "emotion", "threshold"])["positives"]
    assert counted["av", "happy", 0.5] == int((scores[1].loc[common, "happy"] >= 0.5).sum())
    best = result.output(plan.labels["train", "best"])
    assert best.options["threshold"] == direct.best_threshold and best.multilabel
    names = ("t0.01", "best", "t0.40")
    assert cells(result.results, "base") == {(a, b) for a in names for b in names}
    assert set(result.results["metric"]) >= {"weighted_f1", "macro_f1", "mcc"}
    assert set(result.results["group"]) == {"all", "low", "high"}  # evaluation.by: intensity
    trained = result.output(plan.sources["base", "t0.40"])
    labels = result.output(plan.labels["test", "t0.40"])
    kept = trained.probabilities[labels.kept.reindex(trained.probabilities.index).to_numpy()]
    expected = confusion.mlcm(labels.targets.loc[kept.index].astype(int), binarize_predictions(kept, "auto"))
    pd.testing.assert_frame_equal(result.output(plan.matrices["base", "t0.40", "t0.40"]), expected)
    table = result.output(plan.analyses["agreement"])
    assert {"alpha", "pearson_r"} <= set(table["statistic"]) and set(table["group"]) == {"all", "low", "high"}


@pytest.mark.slow  # two feature types x three levels and a fusion: ~25 s of CPU
def test_study_2_confidence_levels(shared, tmp_path):
    result = run(
        shared,
        tmp_path,
        "2-confidence-levels.yaml",
        "variants.smile-svm.model.head=logreg",  # SVM probabilities need 5 items per class: too few in tiny
        "variants.smile-svm.model.head_options.pca_components=4",
        "variants.fbank-lstm.model.head_options.hidden_size=16",
        "variants.fbank-lstm.features.max_seconds=1.0",
        "analyses.fusion.n_draws=200",
    )
    levels = ("L3", "L4", "L5")
    for variant in ("smile-svm", "fbank-lstm", "fusion"):
        assert cells(result.results, variant) == {(a, b) for a in levels for b in levels}
    sizes = [result.output(result.plan.labels["train", level]).accounting.items_kept for level in levels]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] < sizes[0]  # higher levels keep fewer items
    direct = make_labels(
        result.corpus, "pr", condition="av", min_raters_agree=4, classes=["neutral", "anger", "happy", "sad"]
    )
    pd.testing.assert_frame_equal(result.output(result.plan.labels["test", "L4"]).targets, direct.targets)
    table = result.output(result.plan.analyses["agreement"])
    # the stage's table went through parquet (text columns come back as strings): compare values
    pd.testing.assert_frame_equal(table, tables.agreement_table(result.corpus, slot="primary"), check_dtype=False)
    fusion = result.output(result.plan.sources["fusion", "L3"])
    assert set(fusion.details["model"]) == {"smile-svm", "fbank-lstm"}
    assert np.allclose(fusion.details.groupby("fold")[["neutral", "anger", "happy", "sad"]].sum(), 1.0)


@pytest.mark.slow  # a whole study on the demo corpus: over 20 s (33 s in a 2-worker run on a shared machine)
def test_study_3_aggregation_rules(shared, tmp_path):
    result = run(shared, tmp_path, "3-aggregation-rules.yaml")
    results = result.results
    for variant in ("loss=ce", "loss=cbce"):
        rows, columns = ("MR", "PR", "AR", "DS"), ("MR", "PR", "AR", "AR-dist", "DS")
        assert cells(results, variant) == {(a, b) for a in rows for b in columns}
    distributional = set(results.loc[results["metric"].isin(["kld", "jsd"]), "test"])
    assert distributional == {"AR-dist"}
    assert "uar" not in set(results.loc[results["test"].eq("AR"), "metric"])  # multi-label test set
    trained = result.output(result.plan.sources["loss=ce", "MR"])
    labels = result.output(result.plan.labels["test", "MR"])
    kept = trained.probabilities[labels.kept.reindex(trained.probabilities.index).to_numpy()]
    truth = labels.targets.loc[kept.index].idxmax(axis=1)
    expected = confusion_matrix(truth, kept.idxmax(axis=1), labels.classes)
    np.testing.assert_array_equal(result.output(result.plan.matrices["loss=ce", "MR", "MR"]).to_numpy(), expected)
    # chance levels in results.parquet: sum p_c^2 and 1/C on the scored MR items; KLD of the MR training prior
    cell = results[results["group"].eq("all") & results["variant"].eq("loss=ce") & results["train"].eq("MR")]
    chance = cell[cell["test"].eq("MR")].set_index("metric")["chance"]
    share = truth.value_counts(normalize=True)
    assert chance["accuracy"] == pytest.approx((share**2).sum()) and chance["uar"] == pytest.approx(1 / len(share))
    assert chance["mcc"] == 0.0 and chance["f1[anger]"] == pytest.approx(share.get("anger", 0.0))
    dist, train = result.output(result.plan.labels["test", "AR-dist"]), result.output(result.plan.labels["train", "MR"])
    items = trained.probabilities.index[dist.kept.reindex(trained.probabilities.index).to_numpy()]
    p, q = dist.targets.loc[items].to_numpy(), train.targets[train.kept].mean().to_numpy()
    kld = np.mean(np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1) / q), 0.0), axis=1))
    assert cell[cell["metric"].eq("kld")]["chance"].iloc[0] == pytest.approx(kld, rel=1e-6)
    html = (tmp_path / "out" / "report.html").read_text()
    assert "chance" in html and "higher is better" in html and "lower is better" in html
    accounting = result.output(result.plan.analyses["accounting"])
    assert set(accounting["condition"]) == {"voice", "face", "av", "all"}
    # 6 speakers in 3 folds: 2 test speakers per fold, warned about once (every model has these folds)
    report = (tmp_path / "out" / "report.md").read_text()
    speakers = result.corpus.items["speaker"]
    per_fold = speakers.reindex(trained.predictions.index).groupby(trained.predictions["fold"].to_numpy()).nunique()
    assert (per_fold == 2).all() and "## Warnings" not in report  # one warning: the headline shows it
    assert report.split("## Study")[0].count("fold fold1 tests 2 speaker(s)") == 1
    assert "scored on 48 test items" not in report  # 48 >= 30: no small-test-set warning
    # paired differences: A - B equals the difference of the two cells' own values on the same test items
    from statsmodels.stats.multitest import multipletests

    from voxpop.report.result_sections import paired_differences

    paired = paired_differences(result)
    one = paired[paired["variant"].eq("loss=ce") & paired["test"].eq("MR")]
    assert len(one) == 6  # 4 train rows: 6 pairs in the test column MR
    value = results[results["group"].eq("all") & results["metric"].eq("macro_f1") & results["test"].eq("MR")
                    & results["variant"].eq("loss=ce")].set_index("train")["value"]  # fmt: skip
    first = one.iloc[0]
    assert first["difference"] == pytest.approx(value[first["a"]] - value[first["b"]])
    assert one["p_holm"].tolist() == pytest.approx(multipletests(one["p_value"], method="holm")[1].tolist())
    assert "Paired differences" in report
    ds = make_labels(result.corpus, "dawid-skene", condition="voice", classes=labels.classes, form="argmax")
    pd.testing.assert_frame_equal(result.output(result.plan.labels["test", "DS"]).targets, ds.targets)
    # the demo shows what it claims: no label set duplicates another of its part, and AR-dist's macro-F1 scores the
    # AR distributions' top class on every item (ties broken at random), not PR's items again
    from voxpop.report.cautions import study_cautions

    assert not [m for m in study_cautions(result) if "equals" in m] and "**Identical:**" not in report
    overall = results[results["group"].eq("all") & results["metric"].eq("macro_f1")].set_index(["variant", "train"])
    ar_dist, pr = overall[overall["test"].eq("AR-dist")], overall[overall["test"].eq("PR")]
    assert ar_dist["n_items"].eq(int(dist.kept.sum())).all() and (ar_dist["n_items"] > pr["n_items"]).all()
    assert not np.allclose(ar_dist["value"], pr["value"].reindex(ar_dist.index))
    # the headline is the first section (before the contents in HTML): per test set the best (variant, train) by
    # macro-F1 in results.parquet, its interval and chance level
    parquet = pd.read_parquet(tmp_path / "out" / "results.parquet")
    top = parquet[parquet["group"].eq("all") & parquet["metric"].eq("macro_f1")]
    top = top.loc[top.groupby("test", sort=False)["value"].idxmax()]
    assert re.findall(r"^## (.+)$", report, re.M)[:2] == ["Headline", "Study"]
    headline = report.split("## Study")[0]
    assert "**Question:** Which aggregation rule for training labels (MR, PR, AR distributions," in headline
    assert "| test label set | best model (variant) | best train label set | macro-F1 [95 % CI] | chance |" in headline
    for row in top.itertuples():
        shown = f"| {row.test} | {row.variant} | {row.train} | {row.value:.3f} [{row.low:.3f}, {row.high:.3f}] |"
        assert f"{shown} {row.chance:.3f} | {row.n_items} | 8 |" in headline
    assert "](figures/headline-macro-f1.png)" in headline
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.index('<section id="section-1" class="lead">\n<h2>Headline</h2>') < html.index("<nav>")
    assert html.index("<nav>") < html.index('<section id="section-2">')
    # the hook of the raters' ceiling (issue #27): a column only where ceilings are given
    from voxpop.report.headline import CEILING, study_headline

    table = study_headline(result, ceilings={"MR": (0.8, 0.7, 0.9)}).table().set_index("test label set")
    assert table.loc["MR", CEILING] == "0.800 [0.700, 0.900]" and table.loc["PR", CEILING] == "–"
    assert CEILING not in study_headline(result).table().columns


# 3 losses x 5 training label sets, tuning and an ensemble; the parts run quick in test_analysis (easy / difficult),
# test_losses (wce, wbce, kld) and test_labels (P*, DS)
@pytest.mark.slow
def test_study_4_primary_secondary(shared, tmp_path):
    result = run(shared, tmp_path, "4-primary-secondary.yaml", "grid.model.balanced_sampling=[true]")
    results = result.results
    variants = set(results["variant"])
    losses = ("wce", "wbce", "kld")
    assert {f"loss={loss}, balanced_sampling=True" for loss in losses} <= variants
    assert {f"loss={loss}, balanced_sampling=True +tuned" for loss in losses} | {"ensemble"} <= variants
    assert set(results["test"]) == {"MR"} and set(results["train"]) == {"P", "S", "P*", "S*", "DS"}
    star = result.output(result.plan.labels["train", "P*"])
    assert star.kept.sum() < result.output(result.plan.labels["train", "P"]).kept.sum()
    groups = result.output(result.plan.analyses["easy_difficult"])["groups"]["group"]
    labels = result.output(result.plan.labels["test", "MR"])
    truth = labels.targets.loc[groups.index].idxmax(axis=1)
    sources = [s for (v, _), s in result.plan.sources.items() if s.kind == "train"]
    right = pd.concat(
        [result.output(s).probabilities.loc[groups.index].idxmax(axis=1).eq(truth) for s in sources], axis=1
    )
    assert (groups.eq("easy") == right.all(axis=1)).all() and (groups.eq("difficult") == ~right.any(axis=1)).all()


@pytest.mark.slow  # SSL features and layer weights: ~25 s of CPU
def test_study_5_stimulus_modality(shared, tmp_path, tiny_wavlm_dir):
    result = run(shared, tmp_path, "5-stimulus-modality.yaml", f"features.extractor=ssl:{tiny_wavlm_dir}")
    sets = ("voice", "face", "av", "all")
    assert cells(result.results, "base") == {(a, b) for a in sets for b in ("voice", "face", "av")}
    assert any(m.startswith("f1[") for m in result.results["metric"])  # per-class F1 with intervals
    table = result.output(result.plan.analyses["ccc"])
    labelsets = {name: result.output(result.plan.labels["train", name]) for name in sets}
    pd.testing.assert_frame_equal(table, tables.compare_labelsets(labelsets, "ccc", n_boot=200, seed=0))
    assert ((table["low"] <= table["value"]) & (table["value"] <= table["high"])).all()  # CCC with its interval
    weights = result.output(result.plan.sources["base", "voice"]).layer_weights
    assert weights.shape == (3, 3)  # 3 folds x hidden states 0..2 of the tiny WavLM
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    assert "layer-weights-1.png" in {p.name for p in (tmp_path / "out" / "figures").glob("*.png")}


def _ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's CCC with population moments, written out."""
    return 2 * np.mean((x - x.mean()) * (y - y.mean())) / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


@pytest.mark.slow  # the whole study; quick: tests/test_regression_runs.py runs study 6 at its smallest (EWE, ccc)
def test_study_6_dimensional(shared, tmp_path):
    result = run(shared, tmp_path, "6-dimensional.yaml", "analyses.agreement.bootstrap=20")
    results, plan = result.results, result.plan
    names = ("mean", "EWE", "znorm")
    assert set(results["variant"]) == {"loss=mse", "loss=ccc"}
    assert cells(results, "loss=ccc") == {(a, b) for a in names for b in names}  # every target x every target
    assert {"ccc", "pearson", "mae", "rmse", "ccc[arousal]", "rmse[dominance]"} <= set(results["metric"])
    assert ((results["low"] <= results["value"]) & (results["value"] <= results["high"])).all()
    # a cell of the CCC matrix equals CCC computed with numpy from the saved out-of-fold predictions
    saved = pd.read_parquet(tmp_path / "out" / "cache" / plan.sources["loss=ccc", "EWE"].name / "predictions.parquet")
    labels = result.output(plan.labels["test", "znorm"])
    kept = saved.index[labels.kept.reindex(saved.index, fill_value=False).to_numpy(dtype=bool)]
    direct = {d: _ccc(saved.loc[kept, d].to_numpy(), labels.values.loc[kept, d].to_numpy()) for d in labels.dimensions}
    rows = results[results["variant"].eq("loss=ccc") & results["train"].eq("EWE") & results["test"].eq("znorm")]
    value = rows.set_index("metric")["value"]
    assert value["ccc[valence]"] == pytest.approx(direct["valence"], abs=1e-12)
    assert value["ccc"] == pytest.approx(np.mean(list(direct.values())), abs=1e-12)
    assert (rows["n_items"] == len(kept)).all() and len(kept) == len(result.corpus.items)
    # targets keep the corpus scale; EWE and znorm differ from the plain mean
    ewe, mean = (result.output(plan.labels["train", n]) for n in ("EWE", "mean"))
    assert ewe.scale == {d: (1.0, 5.0) for d in ("arousal", "valence", "dominance")}
    assert not np.allclose(ewe.values.to_numpy(), mean.values.to_numpy())
    # agreement per dimension: interval alpha equals Krippendorff's alpha of the voice ratings' reliability matrix
    table = result.output(plan.analyses["agreement"])
    voice = result.corpus.ratings[result.corpus.ratings["condition"].eq("voice").to_numpy(dtype=bool)]
    alpha = table[table["statistic"].eq("alpha")].set_index("label")["value"]
    matrix = reliability.reliability_matrix(voice, "dimension", "arousal")
    assert alpha["arousal"] == pytest.approx(reliability.krippendorff_alpha(matrix.to_numpy(), "interval"), abs=1e-12)
    assert set(table.loc[table["statistic"].eq("icc"), "method"]) >= {"ICC(1,1)", "ICC(1,k)"}
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Mean CCC over the dimensions, train (rows) x test (columns), loss=ccc" in report
    assert "figures/predictions-vs-targets-loss-ccc.png" in report
    assert (tmp_path / "out" / "tables" / "ccc-cross-test-matrix-loss-ccc.csv").is_file()
    assert f"{value['ccc']:.3f} [{rows.set_index('metric').loc['ccc', 'low']:.3f}," in report


def test_study_6_refuses_a_classifier_and_mixed_label_sets(shared, tmp_path):
    with pytest.raises(ConfigError) as error:
        run(shared, tmp_path, "6-dimensional.yaml", "grid={}", "model.loss=ce", "labels.test.MR={rule: mr}")
    message = str(error.value)
    assert "model.loss: 'ce' is a classification loss; regress dimensions with mse or ccc" in message
    assert "labels.test.MR: rule 'mr' gives classes" in message


# ====================================================================== real rating tables (CREMA-D vote counts)
def cremad_arguments(shared_data) -> list[str]:
    folder = shared_data / "crema-d"
    arguments = f"{{path: {folder / 'tabulatedVotes.csv'}, folds: {folder / 'speaker_folds.csv'}}}"
    return ["corpus.demo=null", "corpus.format=crema-d", f"corpus.arguments={arguments}", "classes=null"]


def test_study_3_label_sets_and_loss_table_on_cremad_votes(shared_data, tmp_path):
    # no audio and no rater ids here: label sets (not the rater-aware DS) and analyses only
    overrides = [*cremad_arguments(shared_data), "labels.train={}", "labels.test={MR: {rule: mr, condition: voice}}"]
    result = run_recipe_with_report(load_recipe(RECIPES / "3-aggregation-rules.yaml", overrides), tmp_path / "out")
    assert len(result.corpus.items) == 7442 and result.results.empty
    pd.testing.assert_frame_equal(result.output(result.plan.analyses["accounting"]), accounting_table(result.corpus))
    mr = result.output(result.plan.labels["test", "MR"])
    direct = make_labels(result.corpus, "mr", condition="voice")
    assert mr.accounting == direct.accounting and mr.kept.equals(direct.kept)
    assert "Data and rating loss" in (tmp_path / "out" / "report.md").read_text()


def test_study_4_on_cremad_votes_refuses_rules_that_need_rater_ids_before_any_work(shared_data, tmp_path):
    recipe = load_recipe(RECIPES / "4-primary-secondary.yaml", cremad_arguments(shared_data))
    with pytest.raises(ConfigError, match=r"labels\.train\.S\*: .*needs rater ids.*vote counts only"):
        run_recipe_with_report(recipe, tmp_path / "out")
    made = sorted(p.name.split("-")[0] for p in (tmp_path / "out" / "cache").iterdir() if p.is_dir())
    assert made == ["corpus"]  # the import (needed to check the recipe) and nothing else


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ({"extractor": "fbank", "options": {"nmels": 40}}, "has no option 'nmels'"),
        ({"extractor": "fbank", "options": {"n_mels": "inf"}}, "option n_mels: Input should be a valid integer"),
        ({"extractor": "fbank", "options": {"n_mels": True}}, "option n_mels: Input should be a valid integer"),
        ({"extractor": "opensmile:eGeMAPSv02", "options": {"level": {"lld": 1}}}, "option level"),
    ],
)
def test_feature_options_are_checked_when_the_recipe_is_read(tmp_path, features, message):
    """features.options went unchecked until extraction (after the corpus stage): tracebacks or silent casts."""
    import yaml

    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"study": "s", "corpus": {"demo": {"size": "small"}}, "features": features}))
    with pytest.raises(ConfigError, match=rf"features: options: .*{message}"):
        load_recipe(path)


def test_a_recipe_listing_a_class_twice_is_refused_when_read(tmp_path):
    """--classes anger,anger was refused, the recipe key classes: [anger, anger] went on to the label stage."""
    path = tmp_path / "r.yaml"
    path.write_text("study: s\ncorpus: {demo: {size: small}}\nclasses: [anger, sad, anger]\n")
    with pytest.raises(ConfigError, match="classes: the class list: 'anger' is listed twice"):
        load_recipe(path)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('study: s\ncorpus: {demo: {size: small}}\ntitle: "\\udc80"\n', "title"),  # a YAML escape: a lone surrogate
        ('study: s\ncorpus: {demo: {size: small}}\nmodel: {head_options: {"\\ud800x": 1}}\n', "model.head_options."),
    ],
)
def test_a_recipe_text_that_is_not_unicode_is_refused_by_key(tmp_path, text, where):
    """A lone surrogate from a YAML escape reached the stage hash: PydanticSerializationError traceback."""
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{re.escape(where)}.*holds a lone surrogate"):
        load_recipe(path)
