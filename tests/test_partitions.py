"""Standard partitions in one run (issue #23 item 4): an MSP-Podcast-like corpus built here (item column
``Split_Set`` with Train / Development / Test1 / Test2 / Test3, tiny tones as audio) trained once with
``--split-test Test1,Test2``; each test partition is scored on its own items (results group ``split=Test1``) with
values equal to scikit-learn's metrics of those items' out-of-fold predictions; the Test3 items are counted as left
out; the list form in a recipe; refusals that name the recipe keys and flags; ``--classes`` / ``--class-map``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from voxpop.cli.app import app
from voxpop.core.errors import ConfigError
from voxpop.corpus.corpus import Corpus
from voxpop.evaluation.partitions import partition_groups
from voxpop.models.protocols import left_out_table, split_folds, split_values
from voxpop.study.loading import load_recipe, recipe_from_dict
from voxpop.study.plan import plan_study

CLASSES = ("anger", "happy", "sad")
# partition -> (speaker, classes of its items in order; "happy~anger": rated happy, its tone anger's, so that the
# model errs); hand-counted: Train 12 items, Development 3, Test1 5, Test2 4, Test3 3
PARTITIONS = {
    "Train": [("s1", "anger happy sad anger"), ("s2", "happy sad anger happy"), ("s3", "sad anger happy sad")],
    "Development": [("s4", "anger happy sad")],
    "Test1": [("s5", "anger happy~anger sad anger~sad sad")],
    "Test2": [("s6", "happy happy sad~happy anger")],
    "Test3": [("s7", "sad anger happy")],
}
FREQUENCY = {"anger": 220.0, "happy": 440.0, "sad": 150.0}
AROUSAL = {"anger": 5.0, "happy": 4.0, "sad": 2.0}  # rated arousal follows the tone: raters -0.5, +0, +1 around it


def make_msp_like(root) -> Corpus:
    """27 items of 7 speakers, three raters each (two vote the item's class, one the next class), 0.4 s tones."""
    import soundfile

    rng = np.random.default_rng(0)
    audio = root / "audio"
    audio.mkdir(parents=True)
    items, ratings = [], []
    for split, speakers in PARTITIONS.items():
        for speaker, classes in speakers:
            for token in classes.split():
                label, _, sound = token.partition("~")
                item = f"MSP-PODCAST_{len(items):04d}"
                t = np.arange(6400) / 16000
                tone = 0.3 * np.sin(2 * np.pi * FREQUENCY[sound or label] * (1 + 0.05 * rng.standard_normal()) * t)
                soundfile.write(audio / f"{item}.wav", (tone + 0.01 * rng.standard_normal(t.size)).astype(np.float32),
                                16000)  # fmt: skip
                items.append({"item": item, "Split_Set": split, "speaker": speaker,
                              "audio": str(audio / f"{item}.wav")})  # fmt: skip
                other = CLASSES[(CLASSES.index(label) + 1) % 3]
                for rater, vote, shift in zip(("w1", "w2", "w3"), (label, label, other), (-0.5, 0.0, 1.0), strict=True):
                    ratings.append({"item": item, "rater": rater, "slot": "primary", "label": vote})
                    ratings.append({"item": item, "rater": rater, "slot": "dimension", "label": "arousal",
                                    "value": AROUSAL[sound or label] + shift})  # fmt: skip
    table = pd.DataFrame(items).set_index("item")
    return Corpus("msp-like", table, pd.DataFrame(ratings), classes=list(CLASSES), scales={"dimension": (1, 7)})


@pytest.fixture(scope="module")
def msp_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("msp-like")
    corpus = make_msp_like(root)
    corpus.save(root / "corpus")
    return root


def _train(*args):
    return CliRunner().invoke(app, ["train", *map(str, args)], env={"COLUMNS": "200"})


COMMON = ("--labels", "mr", "--extractor", "fbank", "--head", "logreg", "--protocol", "split",
          "--split-columns", "Split_Set", "--bootstrap", "50")  # fmt: skip


@pytest.fixture(scope="module")
def msp_run(msp_corpus):
    out = msp_corpus / "run"
    result = _train(msp_corpus / "corpus", *COMMON, "--split-test", "Test1,Test2", "--store", msp_corpus / "store",
                    "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out, result.output


@pytest.mark.usefixtures("one_torch_thread")
def test_one_run_scores_test1_and_test2_apart_as_sklearn_does(msp_corpus, msp_run):
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    from voxpop.models.saved_runs import load_run

    out, _ = msp_run
    items = pd.read_parquet(msp_corpus / "corpus" / "items.parquet")
    run = load_run(out)
    predicted = run.predictions.drop(columns="fold").idxmax(axis=1)
    assert set(run.predictions["fold"]) == {"Split_Set"}
    rated = [token.partition("~")[0] for p in PARTITIONS.values() for _, tokens in p for token in tokens.split()]
    truth = pd.Series(rated, index=items.index)  # the class two of each item's three raters gave: MR's class
    assert predicted.ne(truth[predicted.index]).any()  # the mismatched tones: the model errs
    results = pd.read_parquet(out / "results.parquet")
    expected_items = {"all": 9, "split=Test1": 5, "split=Test2": 4}
    assert set(results["group"]) == set(expected_items)
    for group, n_items in expected_items.items():
        split = {"all": ["Test1", "Test2"], "split=Test1": ["Test1"], "split=Test2": ["Test2"]}[group]
        tested = items.index[items["Split_Set"].isin(split)]
        assert sorted(predicted.index[predicted.index.isin(tested)]) == sorted(tested)
        y_true, y_pred = truth[tested].tolist(), predicted[tested].tolist()
        rows = results[results["group"].eq(group)].set_index("metric")
        assert (rows["n_items"] == n_items).all()
        assert rows.loc["uar", "value"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
        assert rows.loc["accuracy", "value"] == pytest.approx(accuracy_score(y_true, y_pred))
        assert rows.loc["macro_f1", "value"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
        assert rows.loc["uar", "low"] <= rows.loc["uar", "value"] <= rows.loc["uar", "high"]
    # the bootstrap of each partition resamples its own items: its interval is not the pooled one
    uar = results[results["metric"].eq("uar")].set_index("group")
    assert (uar.loc["split=Test1", ["low", "high"]] != uar.loc["all", ["low", "high"]]).any()


@pytest.mark.usefixtures("one_torch_thread")
def test_test3_is_counted_as_left_out_and_the_summary_shows_each_partition(msp_corpus, msp_run):
    out, output = msp_run
    text = " ".join(output.split())
    assert "left out (split value: items)" in text and "Test3 3" in text  # 3 Test3 items, by hand
    assert "logreg split=Test1" in text and "logreg split=Test2" in text
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["group"]) == {"all", "split=Test1", "split=Test2"}
    folds = next((out / "cache").glob("train*/folds.parquet"))
    table = pd.read_parquet(folds)
    # a classical head trains on the development items too: 12 + 3
    assert table.loc["Split_Set", ["train", "dev", "test", "left_out[Test3]"]].tolist() == [15, 0, 9, 3]
    assert yaml.safe_load((out / "recipe.yaml").read_text())["protocol"]["split"]["test"] == ["Test1", "Test2"]


@pytest.mark.usefixtures("one_torch_thread")
def test_voxpop_run_summary_and_report_show_each_test_partition(msp_corpus, msp_run):
    out, _ = msp_run
    result = CliRunner().invoke(app, ["run", str(out / "recipe.yaml"), "--out", str(out), "--workers", "1",
                                      "--allow-outside-paths"], env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output + repr(result.exception)
    text = " ".join(result.output.split())
    assert "stages run: 0, reused from the cache: 4" in text  # the study voxpop train ran
    assert "test partition" in text and "│ split=Test1 │" in text and "│ split=Test2 │" in text
    markdown = (out / "report.md").read_text()
    start = markdown.index("Each test partition of the split protocol (protocol.split.test) scored as its own")
    section = markdown[start : markdown.index("## Training")]
    assert "| test partition |" in section and "| split=Test1 |" in section and "| split=Test2 |" in section
    assert "| left out: Test3 items |" in markdown[markdown.index("## Training") :]


def test_the_list_form_in_a_recipe_and_stage_keys_of_one_value(msp_corpus, tmp_path):
    base = {"study": "msp", "corpus": {"path": str(msp_corpus / "corpus")}, "model": {"head": "logreg"},
            "labels": {"train": {"MR": {"rule": "mr"}}, "test": {"MR": {"rule": "mr"}}}}  # fmt: skip
    path = tmp_path / "msp.yaml"
    split = {"columns": ["Split_Set"], "train": ["Train"], "dev": "Development", "test": ["Test1", "Test2"]}
    path.write_text(yaml.safe_dump({**base, "protocol": {"split": split}}))
    recipe = load_recipe(path, [])
    assert recipe.protocol.split.model_dump() == {"columns": ["Split_Set"], "train": "Train", "dev": "Development",
                                                  "test": ["Test1", "Test2"], "dev_share": 0.0, "seed": 0}  # fmt: skip
    (evaluate,) = plan_study(recipe, "key").evaluations.values()
    assert evaluate.config["partitions"] == {"columns": ["Split_Set"], "test": ["Test1", "Test2"]}
    # one value, as a string or a one-value list: the same stages, and no partitions in the evaluation's key
    one = recipe_from_dict({**base, "protocol": {"split": {"columns": ["Split_Set"], "test": "Test1"}}})
    listed = recipe_from_dict({**base, "protocol": {"split": {"columns": ["Split_Set"], "test": ["Test1"]}}})
    assert one.model_dump() == listed.model_dump()
    assert [s.key for s in plan_study(one, "key").order] == [s.key for s in plan_study(listed, "key").order]
    (evaluate,) = plan_study(one, "key").evaluations.values()
    assert "partitions" not in evaluate.config


def test_split_values_and_folds_refuse_bad_values_naming_keys_and_flags():
    items = pd.DataFrame({"s": ["Train", "Development", "Test1", "Test2", "Test3", "Test3"]}, index=list("abcdef"))
    (fold,) = split_folds(items, ["s"], test=["Test1", "Test2"])
    assert (list(fold.train), list(fold.dev), list(fold.test), fold.left_out) == (
        ["a"], ["b"], ["c", "d"], {"Test3": 2}
    )  # fmt: skip
    assert left_out_table([fold]).to_dict("index") == {"s": {"left_out[Test3]": 2}}
    with pytest.raises(ConfigError) as caught:
        split_folds(items, ["s"], test=["Test1", "Test4"])
    assert str(caught.value) == (
        "protocol.split.columns 's' has no 'Test4' items (the test values: protocol.split.test, voxpop train "
        "--split-test); "
        "its values: Development (1), Test1 (1), Test2 (1), Test3 (2), Train (1); name values that occur in it"
    )
    with pytest.raises(ConfigError, match=r"'Test1' marks both train items \(protocol.split.train, voxpop train "
                                          r"--split-train\) and test items \(protocol.split.test"):  # fmt: skip
        split_values(["Train", "Test1"], "Development", ["Test1"])
    with pytest.raises(ConfigError, match=r"'Test1' listed twice in the test values \(protocol.split.test"):
        split_values("Train", "Development", ["Test1", "Test1"])
    with pytest.raises(ConfigError, match="the dev values .* need at least one value"):
        split_values("Train", [], "Test")
    # some but not all dev values present: a typo, refused; none present: a fold without development items
    with pytest.raises(ConfigError, match=r"has no 'Dev2' items \(the dev values: protocol.split.dev"):
        split_folds(items, ["s"], dev=["Development", "Dev2"], test="Test1")
    (no_dev,) = split_folds(items, ["s"], dev=["Dev1", "Dev2"], test="Test1")
    assert no_dev.dev_missing.startswith("split column 's' names no development items (no value 'Dev1' or 'Dev2';")
    assert no_dev.left_out == {"Development": 1, "Test2": 1, "Test3": 2}


def test_partition_groups_follow_the_column_of_the_fold_that_tested_each_item():
    """Two split columns: an item's partition is its value in the column of the fold that tested it."""
    items = pd.DataFrame({"f1": ["Test1", "Test2", "Train"], "f2": ["Train", "Test1", "Test2"]}, index=list("abc"))
    predictions = pd.DataFrame({"x": [0.1, 0.2, 0.3, 0.4], "fold": ["f1", "f1", "f2", "f2"]},
                               index=["a", "b", "b", "c"])  # fmt: skip
    groups = partition_groups(items, predictions, {"columns": ["f1", "f2"], "test": ["Test1", "Test2"]})
    assert [(g, t["x"].tolist()) for g, t in groups] == [("split=Test1", [0.1, 0.3]), ("split=Test2", [0.2, 0.4])]


def test_cli_refusals_name_the_flags(msp_corpus, tmp_path):
    missing = _train(msp_corpus / "corpus", *COMMON, "--split-test", "Test1,Test4", "--store", tmp_path / "store",
                     "--out", tmp_path / "missing")  # fmt: skip
    assert missing.exit_code != 0
    message = " ".join(str(missing.exception).split())
    assert "protocol.split.columns 'Split_Set' has no 'Test4' items (the test values: protocol.split.test, " \
        "voxpop train --split-test); its values: Development (3), Test1 (5), Test2 (4), Test3 (3), " \
        "Train (12)" in message
    both = _train(msp_corpus / "corpus", *COMMON, "--split-test", "Test1,Train", "--out", tmp_path / "both")
    assert both.exit_code != 0
    assert "'Train' marks both train items (protocol.split.train, voxpop train --split-train) and test items " \
        "(protocol.split.test, voxpop train --split-test)" in " ".join(str(both.exception).split())


@pytest.mark.usefixtures("one_torch_thread")
def test_train_takes_classes_and_class_map(msp_corpus, tmp_path):
    """``--classes`` and ``--class-map`` are voxpop train flags (recipe keys classes, class_map)."""
    from voxpop.models.saved_runs import load_run

    out = tmp_path / "two"
    result = _train(msp_corpus / "corpus", *COMMON, "--split-test", "Test1,Test2", "--class-map", "sad=anger",
                    "--classes", "anger,happy", "--store", msp_corpus / "store", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output + repr(result.exception)
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    assert recipe["classes"] == ["anger", "happy"] and recipe["class_map"] == {"sad": "anger"}
    assert load_run(out).labels.classes == ["anger", "happy"]


@pytest.mark.usefixtures("one_torch_thread")
def test_dimensional_targets_are_scored_per_test_partition(msp_corpus, tmp_path):
    """The same evaluate stage for dimensions: CCC (population variances), Pearson r and MAE of each partition's
    out-of-fold predictions against the mean of its raters, by the formulas."""
    from scipy.stats import pearsonr

    from voxpop.report.study import build_report
    from voxpop.study.run import run_recipe

    recipe = recipe_from_dict({
        "study": "msp-arousal", "corpus": {"path": str(msp_corpus / "corpus")},
        "labels": {"train": {"A": {"gold_standard": "mean"}}, "test": {"A": {"gold_standard": "mean"}}},
        "features": {"extractor": "fbank", "store": str(msp_corpus / "store")},
        "model": {"head": "ridge", "loss": "mse"},
        "protocol": {"split": {"columns": ["Split_Set"], "test": ["Test1", "Test2"]}},
        "evaluation": {"bootstrap": 50, "metrics": ["ccc", "pearson", "mae"]},
    })  # fmt: skip
    run = run_recipe(recipe, tmp_path / "out")
    (trained,) = run.plan.sources.values()
    predicted = run.output(trained).predictions["arousal"]
    ratings = run.corpus.ratings
    target = ratings[ratings["slot"].eq("dimension")].groupby("item")["value"].mean()  # the raters' mean
    items = run.corpus.items
    for group, split in (("split=Test1", "Test1"), ("split=Test2", "Test2")):
        ids = items.index[items["Split_Set"].eq(split)]
        p, t = predicted[ids].to_numpy(), target[ids].to_numpy()
        ccc = 2 * np.cov(p, t, ddof=0)[0, 1] / (p.var() + t.var() + (p.mean() - t.mean()) ** 2)
        rows = run.results[run.results["group"].eq(group)].set_index("metric")
        assert rows.loc["ccc", "n_items"] == len(ids) == {"Test1": 5, "Test2": 4}[split]
        assert rows.loc["ccc", "value"] == pytest.approx(ccc)
        assert rows.loc["pearson", "value"] == pytest.approx(pearsonr(p, t)[0])
        assert rows.loc["mae", "value"] == pytest.approx(np.abs(p - t).mean())
    markdown = build_report(run).markdown()
    assert "Each test partition of the split protocol (protocol.split.test) scored as its own test set, value" in (
        markdown
    )
