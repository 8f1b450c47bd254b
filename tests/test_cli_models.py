"""``voxpop train`` / ``evaluate`` / ``predict`` / ``fuse`` through the study's plan and stage cache.

``train`` builds a one-cell recipe and runs it with :func:`voxpop.study.run.run_recipe`: the same stages, cache
and defaults as ``voxpop run`` of the equivalent recipe, whichever runs first.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from voxpop.cli.app import app
from voxpop.core.errors import ConfigError, InputError
from voxpop.evaluation.analysis import late_fusion
from voxpop.evaluation.predictions import load_predictions
from voxpop.evaluation.results import evaluate_predictions
from voxpop.evaluation.tuning import fusion_per_fold
from voxpop.features import extract
from voxpop.labels.labelset import LabelSet
from voxpop.labels.rules import make_labels
from voxpop.models.saved_runs import load_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def demo(demo_corpus, tmp_path_factory):
    """The session's tiny demo corpus (48 clips, 6 speakers) with pooled fbank features in a store."""
    store = tmp_path_factory.mktemp("store")
    features = extract(demo_corpus.corpus, "fbank", store=store)
    return {"corpus": demo_corpus.corpus, "dir": demo_corpus.dir, "store": store, "features": features}


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.stdout


def weighted_sum(heads: dict[str, pd.DataFrame], weights: pd.DataFrame, items: pd.Index) -> np.ndarray:
    """By hand, fused scores s(c) = sum_m w[m, c] p_m(c) of ``items`` (weights: model x class)."""
    return sum(weights.loc[h].to_numpy() * heads[h].loc[items, weights.columns].to_numpy() for h in heads)


def done_stages(out: Path) -> dict[str, int]:
    """Every finished stage directory of ``out/cache`` with the modification time (ns) of its ``.done``."""
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "cache").glob("*/.done")}


def equivalent_recipe(demo, path: Path) -> Path:
    """By hand, the recipe of 'voxpop train DEMO --labels mr --condition voice --extractor fbank --store STORE
    --head logreg --bootstrap 50' (the label set named differently: names are not part of a stage)."""
    spec = {"rule": "mr", "condition": "voice"}
    recipe = {
        "study": "by-hand",
        "corpus": {"path": str(demo["dir"])},
        "labels": {"train": {"MR": spec}, "test": {"MR": spec}},
        "features": {"extractor": "fbank", "store": str(demo["store"])},
        "model": {"head": "logreg"},
        "evaluation": {"bootstrap": 50},
    }
    path.write_text(yaml.safe_dump(recipe))
    return path


def train_args(demo, out: Path) -> list:
    common = ["--labels", "mr", "--condition", "voice", "--extractor", "fbank", "--store", demo["store"]]
    return ["train", demo["dir"], *common, "--head", "logreg", "--bootstrap", "50", "--out", out]


def test_train_then_run_of_the_equivalent_recipe_recomputes_nothing(demo, tmp_path):
    from sklearn.metrics import recall_score

    out = tmp_path / "out"
    output = invoke(*train_args(demo, out))
    assert "stages: 4 computed, 0 reused" in output  # labels (train = test spec: one stage), features, train, evaluate
    trained = done_stages(out)
    assert {name.split("-")[0] for name in trained} == {"labels", "features", "train", "evaluate"}
    run = load_run(out)
    assert run.record.folds == [f"fold{i}" for i in range(1, 6)]  # the recipes' default: 5 speaker folds
    assert run.record.features.path == str(demo["features"].path.resolve())  # the shared store entry, reused
    summary = pd.read_csv(out / "summary.csv")

    recipe = equivalent_recipe(demo, tmp_path / "recipe.yaml")  # its features.store is shared: outside, opted in
    output = invoke("run", recipe, "--out", out, "--workers", "1", "--allow-outside-paths")
    assert "stages run: 0, reused from the cache: 4" in output
    assert done_stages(out) == trained  # no stage directory added, none rewritten
    results = pd.read_parquet(out / "results.parquet")
    results = results[results["group"].eq("all")].reset_index(drop=True)
    assert results["metric"].tolist() == summary["metric"].tolist()
    np.testing.assert_array_equal(results[["value", "low", "high"]], summary[["value", "low", "high"]])
    # and the numbers are the pooled out-of-fold scores of the run's predictions against MR
    labels = make_labels(demo["corpus"], "mr", condition="voice")
    expected = evaluate_predictions(run.predictions, labels, n_boot=50, seed=0)
    np.testing.assert_allclose(summary["value"], expected["value"])
    # beside it, UAR per test fold (recall averaged over the fold's true classes), mean and sample sd
    kept = run.predictions[labels.kept.reindex(run.predictions.index).to_numpy(dtype=bool)]
    truth = labels.targets.loc[kept.index].idxmax(axis=1)
    guess = kept[labels.classes].idxmax(axis=1)
    per_fold = [
        recall_score(truth[part], guess[part], labels=sorted(set(truth[part])), average="macro")
        for part in (kept["fold"] == fold for fold in run.record.folds)
    ]
    uar = summary.set_index("metric").loc["uar"]
    assert uar["n_folds"] == 5
    assert uar["fold_mean"] == pytest.approx(np.mean(per_fold))
    assert uar["fold_sd"] == pytest.approx(np.std(per_fold, ddof=1))


def test_run_then_train_of_the_same_cell_recomputes_nothing(demo, tmp_path):
    out = tmp_path / "out"
    recipe = equivalent_recipe(demo, tmp_path / "recipe.yaml")  # its features.store is shared: outside, opted in
    invoke("run", recipe, "--out", out, "--workers", "1", "--allow-outside-paths")
    ran = done_stages(out)
    results = pd.read_parquet(out / "results.parquet")
    output = invoke(*train_args(demo, out))
    assert "stages: 0 computed, 4 reused" in output
    assert done_stages(out) == ran
    summary = pd.read_csv(out / "summary.csv")
    np.testing.assert_array_equal(results[results["group"].eq("all")]["value"], summary["value"])
    # the recipe train wrote is the same study again
    output = invoke("run", out / "recipe.yaml", "--out", out, "--workers", "1", "--allow-outside-paths")
    assert "stages run: 0, reused from the cache: 4" in output


def test_cli_train_evaluate_predict_fuse(demo, tmp_path):
    from sklearn.metrics import recall_score

    out = tmp_path / "runs"
    common = ("--labels", "mr", "--condition", "voice", "--extractor", "fbank", "--store", demo["store"])
    output = invoke(
        "train", demo["dir"], *common, "--head", "logreg,mlp", "--head-option", "mlp.hidden_dim=16",
        "--protocol", "speaker-folds", "--k", "3", "--epochs", "2", "--bootstrap", "100", "--fusion", "--out", out,
    )  # fmt: skip
    assert "UAR" in output and "logreg" in output and "mlp" in output and "fusion" in output
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    assert recipe["protocol"] == {"speaker_folds": {"k": 3}} and recipe["variants"]["mlp"]["model"]["epochs"] == 2
    assert "loss" not in recipe["variants"]["logreg"]["model"]  # only the flags given: the recipe defaults apply
    assert recipe["analyses"] == {"fusion": {}}  # the recipes' fusion: weights tuned on each fold's dev items
    # the fused scores of fold f's test items are sum_m w_f[m, c] p_m(c) with fold f's recorded weights
    fusion_dir = next(p.parent for p in (out / "cache").glob("fusion-*/.done"))
    fused = load_predictions(fusion_dir / "predictions.parquet").table
    weights = pd.read_parquet(fusion_dir / "details.parquet")
    heads = {h: load_run(out, h).predictions for h in ("logreg", "mlp")}
    classes = load_run(out, "mlp").record.classes
    for fold, w in weights.groupby("fold"):
        w = w.set_index(w.columns[0])[classes]
        items = heads["mlp"].index[heads["mlp"]["fold"].eq(fold).to_numpy()]
        by_hand = sum(w.loc[h].to_numpy() * heads[h].loc[items, classes].to_numpy() for h in heads)
        np.testing.assert_allclose(fused.loc[items, classes].to_numpy(), by_hand)
    fusion_uar = pd.read_csv(out / "summary.csv").query("run == 'fusion' and metric == 'uar'")["value"].item()
    labels = make_labels(demo["corpus"], "mr", condition="voice")
    scored = evaluate_predictions(fused, labels, n_boot=0).set_index("metric")
    assert fusion_uar == pytest.approx(scored.loc["uar", "value"])
    labels = make_labels(demo["corpus"], "mr", condition="voice")
    summary = pd.read_csv(out / "summary.csv")
    for head in ("logreg", "mlp"):
        run = load_run(out, head)
        assert run.record.model.head == head and run.record.labels == {"rule": "mr", "condition": "voice"}
        assert run.record.features.key == demo["features"].key and run.record.folds == ["fold1", "fold2", "fold3"]
        expected = evaluate_predictions(run.predictions, labels, n_boot=100, seed=0)
        assert np.allclose(summary[summary["run"] == head]["value"], expected["value"])
        assert len(run.predictions) == 48  # every item predicted once, also those MR drops
    assert load_run(out, "mlp").record.model.head_options == {"hidden_dim": 16}
    assert load_run(out, "logreg").record.model.head_options == {}
    with pytest.raises(InputError, match=r"holds 2 runs \(logreg, mlp\); choose one with --model"):
        load_run(out)

    # evaluate: cross-testing the runs on the all-inclusive test form (multi-label)
    csv = tmp_path / "e.csv"
    output = invoke("evaluate", out, "--labels", "ar-test", "--condition", "voice", "--bootstrap", "50", "--out", csv)
    assert "F1 neutral" in output and "logreg" in output and "mlp" in output
    assert "mean MCC over classes ± 95 % t" in output
    table = pd.read_csv(csv, keep_default_na=False, na_values=[""])
    means = table[table["interval"].eq("student-t over classes")]
    table = table[table["interval"].ne("student-t over classes")]
    ar_test = make_labels(demo["corpus"], "ar-test", condition="voice")
    expected = evaluate_predictions(load_run(out, "logreg").predictions, ar_test, n_boot=50)
    assert np.allclose(table[table["run"] == "logreg"]["value"], expected["value"])
    # the mean over classes of every per-class metric, with its Student-t 95 % interval over the classes
    for kind, name in (("f1", "F1"), ("weighted_f1", "weighted-F1"), ("mcc", "MCC")):
        per_class = expected[expected["metric"].str.startswith(f"{kind}[")]["value"].to_numpy()
        half = stats.t.ppf(0.975, len(per_class) - 1) * per_class.std(ddof=1) / np.sqrt(len(per_class))
        row = means[means["run"].eq("logreg") & means["metric"].eq(f"mean {name} over classes ± 95 % t")].iloc[0]
        assert (row["value"], row["high"]) == pytest.approx((per_class.mean(), per_class.mean() + half))
        assert row["summary"] == f"{per_class.mean():.2f} ± {half:.2f}".replace("0.", ".")
    # the per-fold mean and sd the terminal shows beside each score are in the CSV too: folds scored alone
    predictions = load_run(out, "logreg").predictions
    per_fold = [evaluate_predictions(p.drop(columns="fold"), ar_test, n_boot=0).set_index("metric")["value"]
                for _, p in predictions.groupby("fold")]  # fmt: skip
    logreg = table[table["run"] == "logreg"].set_index("metric")
    assert logreg.loc["macro_f1", "fold_mean"] == pytest.approx(np.mean([v["macro_f1"] for v in per_fold]))
    assert logreg.loc["macro_f1", "fold_sd"] == pytest.approx(np.std([v["macro_f1"] for v in per_fold], ddof=1))
    assert logreg.loc["macro_f1", "n_folds"] == 3
    assert set(table["metric"]) >= {"macro_f1", "micro_f1"} and "uar" not in set(table["metric"])
    # chance levels of the scored items: per-class F1 = prevalence, macro-F1 = mean prevalence, MCC = 0
    scored = load_run(out, "logreg").predictions.index
    positive = ar_test.targets.loc[scored[ar_test.kept.reindex(scored, fill_value=False).to_numpy()]] > 0
    chance = table[table["run"] == "logreg"].set_index("metric")["chance"]
    assert "chance" in output and chance["mcc"] == 0.0
    assert chance["f1[neutral]"] == pytest.approx(positive["neutral"].mean())
    prevalence = positive.mean()
    assert chance["macro_f1"] == pytest.approx(prevalence[prevalence > 0].mean())
    assert chance["micro_f1"] == pytest.approx((prevalence**2).sum() / prevalence.sum())
    invoke("evaluate", out, "--model", "mlp", "--labels", "ar-test", "--condition", "voice", "--bootstrap", "50",
           "--out", csv)  # fmt: skip
    assert set(pd.read_csv(csv)["run"]) == {"mlp"}

    # predict: the ensemble of the three fold models on the features of the given files
    files = list(demo["corpus"].items["audio"].iloc[[0, 5]])
    records = json.loads(invoke("predict", out, "--model", "logreg", *files, "--format", "json"))
    run = load_run(out, "logreg")
    x = demo["features"].values[[0, 5]]
    expected = np.mean([m.predict_proba(x) for m in run.fold_models().values()], axis=0)
    got = np.array([[r["probabilities"][c] for c in run.record.classes] for r in records])
    assert [r["file"] for r in records] == files and np.allclose(got, expected, atol=1e-5)
    assert [r["prediction"] for r in records] == list(np.asarray(run.record.classes)[expected.argmax(axis=1)])
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all")
    result = CliRunner().invoke(
        app,
        ["predict", str(out), "--model", "logreg", *files, str(broken), "--out", str(tmp_path / "p.csv")],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 0, result.output
    assert "skipped files (1)" in result.stderr and "broken.wav" in result.stderr
    assert pd.read_csv(tmp_path / "p.csv", index_col="file").shape == (2, 1 + len(run.record.classes))

    # evaluate a predictions file against a saved label set
    labels.save(tmp_path / "mr.parquet")
    mlp_file = load_run(out, "mlp").directory / "predictions.parquet"
    invoke("evaluate", mlp_file, "--labels", tmp_path / "mr.parquet", "--out", csv)
    expected = evaluate_predictions(load_run(out, "mlp").predictions, labels)
    saved = pd.read_csv(csv, keep_default_na=False, na_values=[""])
    saved = saved[saved["interval"].ne("student-t over classes")]  # the rows before the means over classes
    assert np.allclose(saved["value"], expected["value"])
    chance = saved.set_index("metric")["chance"]  # single-label: accuracy = sum p_c^2, UAR = 1/C
    scored = load_run(out, "mlp").predictions.index
    truth = labels.targets.loc[scored[labels.kept.reindex(scored, fill_value=False).to_numpy()]].idxmax(axis=1)
    share = truth.value_counts(normalize=True)
    assert chance["accuracy"] == pytest.approx((share**2).sum()) and chance["uar"] == pytest.approx(1 / len(share))

    # fuse: the recipe's protocol. Both runs kept their fold models' dev predictions (trained with --fusion), so
    # the defaults (tune_on dev, the runs' training labels, 1000 draws, seed 0) are the fusion stage's: same output
    output = invoke("fuse", out, "--out", tmp_path / "same.parquet")
    assert "per fold (3 folds), tune_on dev" in output and "runs:logreg" in output and "runs:mlp" in output
    pd.testing.assert_frame_equal(load_predictions(tmp_path / "same.parquet").table, fused)

    # cross-fitted: equals fusion_per_fold on the same tables, and the recorded weights are the ones applied
    output = invoke(
        "fuse", out, "--tune-on", "other_folds", "--draws", "20", "--seed", "3", "--test-labels", "mr",
        "--condition", "voice", "--bootstrap", "20", "--weights", tmp_path / "w.csv",
        "--out", tmp_path / "cross.parquet",
    )  # fmt: skip
    kept = int(labels.kept.sum())  # MR keeps fewer than the 48 fused items: the title counts the scored ones
    assert "tune_on other_folds" in output and f"UAR vs mr on {kept} of the 48 fused items" in output and kept < 48
    cross = load_predictions(tmp_path / "cross.parquet").table
    direct, direct_weights = fusion_per_fold(heads, {"logreg": None, "mlp": None}, labels, 20, 3, "other_folds")
    pd.testing.assert_frame_equal(cross, direct, check_dtype=False, check_index_type=False)
    recorded = pd.read_csv(tmp_path / "w.csv")
    assert recorded["model"].tolist() == ["runs:logreg", "runs:mlp"] * 3
    np.testing.assert_allclose(recorded[classes].to_numpy(), direct_weights[classes].to_numpy())
    truth = labels.hard_labels()
    for fold, w in recorded.groupby("fold"):
        w = w.set_index("model")[classes].rename(index=lambda m: m.split(":")[1])
        assert w.index.tolist() == ["logreg", "mlp"]
        in_fold = heads["mlp"]["fold"].eq(fold).to_numpy()
        items, others = heads["mlp"].index[in_fold], heads["mlp"].index[~in_fold]
        np.testing.assert_allclose(cross.loc[items, classes].to_numpy(), weighted_sum(heads, w, items))
        # the weights were chosen on the other folds' items the training labels keep: their UAR there is dev_uar
        scored = others[labels.kept.reindex(others).to_numpy(dtype=bool)]
        guess = np.asarray(classes)[weighted_sum(heads, w, scored).argmax(axis=1)]
        uar = recall_score(truth.loc[scored], guess, labels=sorted(set(truth.loc[scored])), average="macro")
        assert recorded.loc[recorded["fold"].eq(fold), "dev_uar"].iloc[0] == pytest.approx(uar)

    # the same predictions as files (e.g. from other tools): no dev predictions, so cross-fitted by default
    audio, video = tmp_path / "audio.parquet", tmp_path / "video.parquet"
    for head, path in (("logreg", audio), ("mlp", video)):
        path.write_bytes((load_run(out, head).directory / "predictions.parquet").read_bytes())
    with pytest.raises(ConfigError, match="prediction files carry no training labels"):
        app(["fuse", str(audio), str(video), "--out", str(tmp_path / "x.parquet")], standalone_mode=False)
    with pytest.raises(ConfigError, match="--tune-on dev: audio, video have no development predictions"):
        app(["fuse", str(audio), str(video), "--tune-on", "dev", "--labels", "mr", "--corpus", str(demo["dir"]),
             "--out", str(tmp_path / "x.parquet")], standalone_mode=False)  # fmt: skip
    invoke("fuse", audio, video, "--labels", "mr", "--corpus", demo["dir"], "--condition", "voice", "--draws", "20",
           "--seed", "3", "--out", tmp_path / "files.parquet")  # fmt: skip
    pd.testing.assert_frame_equal(load_predictions(tmp_path / "files.parquet").table, cross)
    with pytest.raises(ConfigError, match="audio.parquet is given twice"):
        app(["fuse", str(audio), str(audio), "--labels", "mr", "--corpus", str(demo["dir"]), "--out",
             str(tmp_path / "x.parquet")], standalone_mode=False)  # fmt: skip
    logits = heads["mlp"].copy()
    logits.iloc[3, 1] = -1.5  # a logit, not a probability
    logits.rename_axis("item").to_csv(tmp_path / "logits.csv")
    expected_message = rf"logits.csv, row 4, column '{logits.columns[1]}': item '{logits.index[3]}', -1.5 is not a prob"
    with pytest.raises(InputError, match=expected_message):
        app(["fuse", str(audio), str(tmp_path / "logits.csv"), "--labels", "mr", "--corpus", str(demo["dir"]),
             "--out", str(tmp_path / "x.parquet")], standalone_mode=False)  # fmt: skip

    # one test set scored by two models (no fold column): the single split, weights on the --dev-labels items
    fold1 = heads["mlp"].index[heads["mlp"]["fold"].eq("fold1").to_numpy()]
    dev = labels.kept & labels.kept.index.isin(fold1)
    dev_labels = LabelSet(labels.targets, dev, labels.counts, "mr", labels.accounting)
    dev_labels.save(tmp_path / "dev.parquet")
    for head, path in (("logreg", audio), ("mlp", video)):
        heads[head].drop(columns="fold").rename_axis("item").to_csv(path.with_suffix(".csv"))
    with pytest.raises(ConfigError, match="fused by one split.* drop --tune-on"):
        app(["fuse", str(audio.with_suffix(".csv")), str(video.with_suffix(".csv")), "--dev-labels",
             str(tmp_path / "dev.parquet"), "--tune-on", "dev", "--out", str(tmp_path / "x.parquet")],
            standalone_mode=False)  # fmt: skip
    output = invoke("fuse", audio.with_suffix(".csv"), video.with_suffix(".csv"), "--dev-labels",
                    tmp_path / "dev.parquet", "--draws", "20", "--out", tmp_path / "split.parquet")  # fmt: skip
    assert "protocol: single split (no fold column)" in output
    split = load_predictions(tmp_path / "split.parquet").table
    expected = late_fusion({"audio": heads["logreg"].drop(columns="fold"), "video": heads["mlp"].drop(columns="fold")},
                           dev_labels, n_draws=20)  # fmt: skip
    assert set(split.index) == set(heads["mlp"].index) - set(fold1[dev_labels.kept.reindex(fold1).to_numpy()])
    pd.testing.assert_frame_equal(split[classes], expected.fused[classes], check_dtype=False)
    # out-of-fold inputs refuse the single split's --dev-labels
    with pytest.raises(ConfigError, match="--dev-labels is the single split"):
        app(["fuse", str(out), "--dev-labels", str(tmp_path / "dev.parquet"), "--out", str(tmp_path / "x.parquet")],
            standalone_mode=False)  # fmt: skip


def test_train_on_a_feature_folder_then_predict_without_naming_the_extractor(demo, tmp_path):
    entry = demo["features"].path
    args = ("train", demo["dir"], "--labels", "pr", "--condition", "voice", "--features", entry,
            "--head", "logreg", "--k", "3", "--bootstrap", "20", "--out", tmp_path / "run")  # fmt: skip
    invoke(*args)
    assert "stages: 0 computed, 4 reused" in invoke(*args)
    run = load_run(tmp_path / "run")
    assert run.record.features.path == str(Path(entry).resolve())  # the folder itself, not extracted again
    assert run.record.features.extractor == "fbank"  # rebuilt from the folder's spec: predict needs no --extractor
    assert run.record.features.options == {"n_mels": 80, "output": "pooled"}
    files = list(demo["corpus"].items["audio"].iloc[[1, 2, 3]])
    records = json.loads(invoke("predict", tmp_path / "run", *files, "--format", "json"))
    x = demo["features"].values[[1, 2, 3]]
    expected = np.mean([m.predict_proba(x) for m in run.fold_models().values()], axis=0)
    got = np.array([[r["probabilities"][c] for c in run.record.classes] for r in records])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_train_with_a_saved_label_set_and_errors(demo, tmp_path):
    labels = make_labels(demo["corpus"], "pr", condition="voice")
    labels.save(tmp_path / "pr-voice.parquet")
    out = tmp_path / "file"
    args = ["train", demo["dir"], "--labels", tmp_path / "pr-voice.parquet", "--extractor", "fbank"]
    invoke(*args, "--store", demo["store"], "--head", "logreg", "--k", "3", "--bootstrap", "20", "--out", out)
    run = load_run(out)
    assert run.record.train == "pr-voice" and run.record.labels["rule"] == "file"
    pd.testing.assert_frame_equal(run.labels.targets, labels.targets)
    by_rule = tmp_path / "rule"
    invoke("train", demo["dir"], "--labels", "pr", "--condition", "voice", "--extractor", "fbank", "--store",
           demo["store"], "--head", "logreg", "--k", "3", "--bootstrap", "20", "--out", by_rule)  # fmt: skip
    pd.testing.assert_frame_equal(run.predictions, load_run(by_rule).predictions)  # same labels, same model

    result = CliRunner().invoke(app, [str(a) for a in [*args, "--condition", "voice", "--out", tmp_path / "x"]])
    assert isinstance(result.exception, ConfigError) and "condition applies to label rules" in str(result.exception)
    result = CliRunner().invoke(app, ["train", str(demo["dir"]), "--labels", "nonsense", "--extractor", "fbank",
                                      "--out", str(tmp_path / "x")])  # fmt: skip
    assert isinstance(result.exception, ConfigError) and "unknown rule 'nonsense'" in str(result.exception)
    assert not (tmp_path / "x").exists()  # refused before any work
    result = CliRunner().invoke(app, ["train", str(demo["dir"]), "--labels", "mr", "--extractor", "fbank",
                                      "--snr-db", "5", "--out", str(tmp_path / "x")])  # fmt: skip
    message = str(result.exception)  # the recipe's words, and the flags they are on the command line
    assert "noise_dir and snr_db go together" in message
    flags = "noise_dir = --noise-dir, snr_db = --snr-db"
    assert message.endswith(f"(recipe keys above are these voxpop train flags: {flags})")
    (tmp_path / "silence").mkdir()
    (tmp_path / "silence" / "README.txt").write_text("no audio here")
    result = CliRunner().invoke(app, ["train", str(demo["dir"]), "--labels", "mr", "--extractor", "fbank",
                                      "--noise-dir", str(tmp_path / "silence"), "--snr-db", "5",
                                      "--out", str(tmp_path / "x")])  # fmt: skip
    assert "features.noise_dir: noise folder" in str(result.exception) and "no readable audio files" in str(
        result.exception
    )
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["recipe.yaml"]  # refused before any stage ran


def test_train_adds_extraction_noise_from_the_recipe_keys(demo, tmp_path):
    import soundfile

    (tmp_path / "noise").mkdir()
    rng = np.random.default_rng(0)
    soundfile.write(tmp_path / "noise" / "hum.wav", rng.normal(scale=0.1, size=16000).astype(np.float32), 16000)
    out = tmp_path / "noisy"
    invoke("train", demo["dir"], "--labels", "mr", "--condition", "voice", "--extractor", "fbank", "--store",
           demo["store"], "--noise-dir", tmp_path / "noise", "--snr-db", "5", "--head", "logreg", "--k", "3",
           "--bootstrap", "20", "--out", out)  # fmt: skip
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    assert recipe["features"]["noise_dir"] == str(tmp_path / "noise") and recipe["features"]["snr_db"] == 5.0
    record = load_run(out).record.features
    assert record.audio["snr_db"] == 5.0 and record.audio["noise_dir"] == str((tmp_path / "noise").resolve())
    assert record.key != demo["features"].key  # noisy features: another store entry than the clean one
    from voxpop.features import FeatureStore

    noisy = FeatureStore(Path(record.path)).features()
    clean = demo["features"]
    assert noisy.values.shape == clean.values.shape and not np.allclose(noisy.values, clean.values)


def test_predict_pads_or_skips_a_too_short_file_as_its_flags_say(demo_logreg_run, tmp_path):
    import soundfile

    rng = np.random.default_rng(0)
    soundfile.write(tmp_path / "ok.wav", 0.1 * rng.standard_normal(16000).astype(np.float32), 16000)
    soundfile.write(tmp_path / "short.wav", 0.1 * rng.standard_normal(400).astype(np.float32), 16000)  # 25 ms
    files = [tmp_path / "ok.wav", tmp_path / "short.wav"]
    result = CliRunner().invoke(app, ["predict", str(demo_logreg_run.directory), *map(str, files)],
                                env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "short.wav: 0.025 s is shorter than the minimum of 0.1 s; lower --min-seconds or use --too-short pad" in (
        result.output
    )
    assert [line.split(",")[0] for line in result.stdout.splitlines()[1:]] == [str(files[0])]
    padded = invoke("predict", demo_logreg_run.directory, *files, "--too-short", "pad")
    assert [line.split(",")[0] for line in padded.splitlines()[1:]] == [str(f) for f in files]
    shorter = invoke("predict", demo_logreg_run.directory, *files, "--min-seconds", "0.02")
    assert [line.split(",")[0] for line in shorter.splitlines()[1:]] == [str(f) for f in files]


def test_a_damaged_predictions_file_in_the_cache_points_to_validate(demo_logreg_run, tmp_path):
    import shutil

    from voxpop.models.saved_runs import load_run

    out = tmp_path / "run"
    shutil.copytree(demo_logreg_run.directory, out)
    stage = load_run(out).directory
    (stage / "predictions.parquet").write_bytes(b"PAR1 cut short")
    result = CliRunner().invoke(app, ["evaluate", str(out), "--labels", "mr", "--condition", "voice"])
    message = str(result.exception)
    assert isinstance(result.exception, InputError) and "predictions.parquet: not a readable parquet file" in message
    assert f"voxpop validate --cache {stage.parent}" in message
