"""Cross-corpus recipes: two tiny demo corpora merged by a recipe, trained on one and tested on the other.

The corpus x corpus cells must equal scoring the same predictions by hand (scikit-learn's balanced
accuracy = UAR, with the class mapping written out with numpy), leave-one-corpus-out must give one fold
per corpus, and bad recipes must fail before any training with the key path of the problem.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from voxpop.core.errors import ConfigError
from voxpop.corpus.demo import make_demo_corpus
from voxpop.labels.decisions import top_class
from voxpop.report.result_sections import corpus_matrix
from voxpop.report.study import build_report
from voxpop.study.loading import recipe_from_dict
from voxpop.study.run import planned_stages, run_recipe


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """Corpus a: neutral anger happy sad (seed 0); corpus b: neutral anger sad fear (seed 1)."""
    root = tmp_path_factory.mktemp("corpora")
    make_demo_corpus(root / "a", "tiny", seed=0)
    make_demo_corpus(root / "b", "tiny", seed=1, classes=("neutral", "anger", "sad", "fear"))
    return {"a": str(root / "a" / "corpus"), "b": str(root / "b" / "corpus")}


def _recipe(corpora, protocol, **extra):
    data = {
        "study": "cross",
        "corpora": {
            "a": {"path": corpora["a"], "class_map": {"anger": "angry"}},
            "b": {"path": corpora["b"], "class_map": {"anger": "angry"}, "normalisation": "corpus"},
        },
        "labels": {
            "train": {"MR": {"rule": "mr", "condition": "voice"}},
            "test": {"MR": {"rule": "mr", "condition": "voice"}},
        },
        "features": {"extractor": "fbank", "options": {"n_mels": 8}},
        "model": {"head": "logreg"},
        "protocol": protocol,
        "evaluation": {"bootstrap": 50, "metrics": ["uar", "macro_f1"]},
        **extra,
    }
    return recipe_from_dict(data)


CROSS = {"cross_corpus": {"train": ["a"], "test": ["b"]}}
CROSS_TRAIN_CLASSES = {"cross_corpus": {"train": ["a"], "test": ["b"], "classes": "train"}}


@pytest.fixture(scope="module")
def finished(corpora, tmp_path_factory):
    """``finished(protocol)``: :func:`_recipe` with ``protocol`` run once per module (the run and its output folder,
    which the tests only read), so the tests that check the same run do not each train and extract again."""
    runs = {}

    def run(protocol):
        key = repr(protocol)
        if key not in runs:
            out = tmp_path_factory.mktemp("finished") / "out"
            runs[key] = (run_recipe(_recipe(corpora, protocol), out), out)
        return runs[key]

    return run


def _truth(labels, items):
    """True class of each kept, untied test item (top class of the MR target), by hand from the targets."""
    targets = labels.targets.loc[items]
    kept = labels.kept.reindex(items).to_numpy(dtype=bool)
    targets = targets[kept]
    codes, _ = top_class(targets.to_numpy(dtype=float), "drop", 0)
    return pd.Series(np.asarray(targets.columns)[codes[codes >= 0]], index=targets.index[codes >= 0])


def _cell(run, metric, group):
    rows = run.results[run.results["metric"].eq(metric) & run.results["group"].eq(group)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_cross_corpus_cells_equal_scoring_by_hand(finished):
    from sklearn.metrics import balanced_accuracy_score

    run, _ = finished(CROSS)
    (trained,) = run.plan.sources.values()
    predictions = run.output(trained).probabilities
    b_items = run.corpus.items.index[run.corpus.items["corpus"].eq("b")]
    # only b's items are tested, and the model knows the shared classes only (b's fear, a's happy are not shared)
    assert set(predictions.index) == set(b_items)
    assert list(predictions.columns) == ["neutral", "angry", "sad"]
    test_labels = run.output(run.plan.labels["test", "MR"])
    truth = _truth(test_labels, b_items)
    predicted = predictions.loc[truth.index].idxmax(axis=1)
    uar = balanced_accuracy_score(truth.astype(str), predicted.astype(str))
    cell = _cell(run, "uar", "b")
    assert cell["value"] == pytest.approx(uar)
    assert cell["n_items"] == len(truth)
    assert cell["low"] <= cell["value"] <= cell["high"]
    assert set(run.results["group"]) == {"all", "b"}  # a is only trained on: no cell
    matrix = corpus_matrix(run.results, run.recipe.protocol, "uar")
    assert matrix.index.get_level_values("trained_on").tolist() == ["a"]
    assert matrix["b"].iloc[0] == f"{cell['value']:.3f} [{cell['low']:.3f}, {cell['high']:.3f}]"
    accounting = run.merged.accounting
    assert (
        accounting.loc["a", "ratings_renamed"]
        == (run.corpus.ratings["label"].eq("angry") & run.corpus.ratings["item"].str.startswith("a:")).sum()
    )
    markdown = build_report(run).markdown()
    assert "Corpus x corpus" in markdown and "**Small sample:** b (" in markdown


def test_classes_train_maps_predictions_onto_the_test_corpus(finished):
    from sklearn.metrics import balanced_accuracy_score

    run, _ = finished(CROSS_TRAIN_CLASSES)
    # planned before the corpora were merged (progress total, --dry-run): the merged corpus and every stage
    planned = [s.label for s in planned_stages(run.study)]
    assert planned == [run.study.corpus_stage.label, *(s.label for s in run.plan.order)]
    (trained,) = run.plan.sources.values()
    predictions = run.output(trained).probabilities
    assert list(predictions.columns) == ["neutral", "angry", "happy", "sad"]  # a's classes
    test_labels = run.output(run.plan.labels["test", "MR"])
    truth = _truth(test_labels, predictions.index)
    # by hand: b's classes neutral angry sad fear; happy dropped, the rest renormalised, fear scores 0
    p = predictions.loc[truth.index]
    kept = p[["neutral", "angry", "sad"]].to_numpy()
    mapped = np.column_stack([kept / kept.sum(axis=1, keepdims=True), np.zeros(len(p))])
    predicted = np.array(["neutral", "angry", "sad", "fear"])[mapped.argmax(axis=1)]
    assert (predicted != "fear").all()
    cell = _cell(run, "uar", "b")
    assert cell["value"] == pytest.approx(balanced_accuracy_score(truth.astype(str), predicted))
    assert cell["n_items"] == len(truth)


def test_leave_one_corpus_out_gives_one_fold_per_corpus(corpora, tmp_path):
    run = run_recipe(_recipe(corpora, {"leave_one_corpus_out": {}}), tmp_path / "out")
    (trained,) = run.plan.sources.values()
    predictions = run.output(trained).predictions
    folds = predictions.groupby("fold").apply(lambda p: set(run.corpus.items.loc[p.index, "corpus"]))
    assert folds.to_dict() == {"corpus=a": {"a"}, "corpus=b": {"b"}}
    matrix = corpus_matrix(run.results, run.recipe.protocol, "uar")
    cells = {(r, c): v for (*_, r), row in matrix.iterrows() for c, v in row.items() if isinstance(v, str)}
    assert set(cells) == {("b", "a"), ("a", "b")}


def test_corpus_normalisation_z_scores_each_corpus_with_its_own_statistics(finished):
    run, _ = finished(CROSS)
    (features_stage,) = run.plan.features.values()
    features = run.output(features_stage)
    values = pd.DataFrame(np.asarray(features.values), index=features.items)
    b = values.loc[values.index.str.startswith("b:")]
    a = values.loc[values.index.str.startswith("a:")]
    assert np.allclose(b.mean(), 0, atol=1e-5) and np.allclose(b.std(ddof=0), 1, atol=1e-4)
    assert not np.allclose(a.mean(), 0, atol=1e-3)  # a's normalisation is global: raw features


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"protocol": {"cross_corpus": {"train": ["a"], "test": ["c"]}}}, "protocol.cross_corpus: ['c'] are not"),
        ({"corpora.b.class_map": {"furious": "angry"}}, "corpora.b.class_map: ['furious'] are not labels of"),
        ({"protocol": {"cross_corpus": {"train": ["a"], "test": ["a"]}}}, "are in both train and test"),
    ],
)
def test_bad_cross_corpus_recipes_fail_pre_flight_with_the_key_path(corpora, tmp_path, change, message):
    key, value = next(iter(change.items()))
    with pytest.raises(ConfigError, match=None) as raised:
        if key == "corpora.b.class_map":
            recipe = _recipe(corpora, {"cross_corpus": {"train": ["a"], "test": ["b"]}})
            recipe.corpora["b"].class_map = value
            run_recipe(recipe, tmp_path / "out")
        else:
            _recipe(corpora, value)
    assert message in str(raised.value)
    assert not (tmp_path / "out" / "results.parquet").exists()


def test_a_corpus_label_rule_labels_only_that_corpus(corpora, tmp_path):
    recipe = _recipe(corpora, {"cross_corpus": {"train": ["a"], "test": ["b"]}})
    data = recipe.model_dump(mode="json")
    data["corpora"]["b"]["labels"] = {"MR": {"rule": "pr", "condition": "face"}}
    run = run_recipe(recipe_from_dict(data), tmp_path / "out")
    labels = run.output(run.plan.labels["test", "MR"])
    assert labels.rule == "mr+pr"
    ratings = run.corpus.ratings
    for corpus, condition in (("a", "voice"), ("b", "face")):
        rows = ratings[ratings["item"].str.startswith(f"{corpus}:") & ratings["condition"].eq(condition)]
        rows = rows[rows["slot"].eq("primary")]
        rows = rows[rows["label"].isin(labels.classes)]
        by_hand = pd.crosstab(rows["item"].astype(str), rows["label"].astype(str))
        counts = labels.counts.loc[by_hand.index, by_hand.columns]
        assert (counts.to_numpy() == by_hand.to_numpy()).all()
    with pytest.raises(ConfigError, match=r"corpora.b.labels.PR: no label set of that name"):
        data["corpora"]["b"]["labels"] = {"PR": {"rule": "pr"}}
        recipe_from_dict(data)


def test_shipped_recipe_passes_pre_flight_on_real_ravdess_and_crema_d(shared_data, tmp_path):
    """recipes/cross-corpus.yaml on the real corpora: merged, checked, six shared classes (no training)."""
    from pathlib import Path

    from voxpop.core.cache import Cache
    from voxpop.core.progress import Reporter
    from voxpop.corpus.formats import read
    from voxpop.study.checks import check_recipe
    from voxpop.study.corpus_source import load_merged, prepare_corpus
    from voxpop.study.definition import build_study
    from voxpop.study.loading import load_recipe
    from voxpop.study.plan import label_classes

    crema = shared_data / "crema-d"
    read("ravdess", str(shared_data / "ravdess")).save(tmp_path / "ravdess")
    read("crema-d", str(crema / "tabulatedVotes.csv"), audio=str(crema / "AudioWAV-sample"), only_with_audio=True).save(
        tmp_path / "crema-d"
    )
    recipe = load_recipe(
        Path(__file__).resolve().parents[1] / "recipes" / "cross-corpus.yaml",
        [f"corpora.ravdess.path={tmp_path / 'ravdess'}", f"corpora.crema-d.path={tmp_path / 'crema-d'}"],
    )
    cache = Cache(tmp_path / "cache")
    study = build_study(recipe, tmp_path)
    corpus, _ = prepare_corpus(study, cache, Reporter())
    check_recipe(study, corpus)
    merged = load_merged(study, cache)
    assert merged.accounting.loc["ravdess", ["items", "items_kept", "items_dropped"]].tolist() == [1440, 1056, 384]
    assert merged.accounting.loc["crema-d", ["items", "items_kept"]].tolist() == [12, 12]
    shared = ["neutral", "happy", "sad", "anger", "fear", "disgust"]
    assert label_classes(recipe, merged.classes) == (shared, shared)


def test_cross_corpus_dev_holds_out_training_speakers(corpora):
    from voxpop.corpus.corpus import Corpus
    from voxpop.corpus.merge import MergeSource, merge_corpora

    merged, _ = merge_corpora([MergeSource(Corpus.load(corpora[n]), n) for n in ("a", "b")])
    recipe = _recipe(corpora, {"cross_corpus": {"train": ["a"], "test": ["b"], "dev": 0.34}})
    (fold,) = recipe.protocol.folds(merged.items)
    speakers = merged.items["speaker"]
    # a has 6 speakers: round(0.34 * 6) = 2 go to dev, the other 4 train; b's 6 speakers test
    assert speakers[fold.dev].nunique() == 2 and speakers[fold.train].nunique() == 4
    assert set(speakers[fold.dev]).isdisjoint(speakers[fold.train])
    assert set(merged.items.loc[fold.dev, "corpus"]) == {"a"} and set(merged.items.loc[fold.test, "corpus"]) == {"b"}
    assert len(fold.train) + len(fold.dev) == 48 and len(fold.test) == 48


def _evaluate(out, corpus, *extra):
    from typer.testing import CliRunner

    import voxpop.cli  # noqa: F401  (registers the verbs)
    from voxpop.cli.app import app

    args = ["evaluate", str(out), "--corpus", str(corpus), "--labels", "mr", "--condition", "voice", *extra]
    return CliRunner().invoke(app, args, env={"COLUMNS": "200"})


def test_evaluate_corpus_scores_what_the_cross_corpus_recipe_scored(corpora, finished, tmp_path):
    """One answer to one question: `voxpop evaluate RUN --corpus b` applies b's recorded normalisation (z-scores
    over b's own items) and class map (anger -> angry), and gives the recipe's corpus cell on the same items."""
    from sklearn.metrics import balanced_accuracy_score

    from voxpop.corpus.corpus import Corpus
    from voxpop.corpus.merge import MergeSource, mapped_corpus
    from voxpop.evaluation.results import evaluate_predictions
    from voxpop.labels.rules import make_labels
    from voxpop.models.crosscorpus import predict_corpus
    from voxpop.models.saved_runs import load_run

    run, out = finished(CROSS)
    recorded = load_run(out).record.corpora
    assert recorded["b"].normalisation == "corpus" and recorded["b"].class_map == {"anger": "angry"}
    table = tmp_path / "cell.csv"
    result = _evaluate(out, corpora["b"], "--bootstrap", "50", "--out", str(table))
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(table).set_index("metric")
    for metric in ("uar", "macro_f1"):
        cell = _cell(run, metric, "b")
        assert scored.loc[metric, "value"] == pytest.approx(cell["value"])
        assert scored.loc[metric, ["low", "high"]].tolist() == pytest.approx([cell["low"], cell["high"]])
        assert scored.loc[metric, "n_items"] == cell["n_items"]
    # the same models on raw (not z-scored) features of b give another score: the normalisation matters here
    b = mapped_corpus(MergeSource(Corpus.load(corpora["b"]), "b", {"anger": "angry"}), ["neutral", "angry", "sad"])
    raw, _ = predict_corpus(load_run(out), b)
    labels = make_labels(b, "mr", condition="voice")
    truth = _truth(labels, raw.index)
    raw_uar = balanced_accuracy_score(truth.astype(str), raw.loc[truth.index].idxmax(axis=1).astype(str))
    assert raw_uar != pytest.approx(_cell(run, "uar", "b")["value"])
    assert evaluate_predictions(raw, labels, n_boot=50, seed=0).set_index("metric").loc["uar", "value"] == (
        pytest.approx(raw_uar)
    )


def test_evaluate_corpus_refuses_what_differs_from_the_run(corpora, finished, tmp_path):
    _, out = finished(CROSS)
    contradicting = _evaluate(out, corpora["b"], "--class-map", "angry=sad")
    assert contradicting.exit_code != 0
    assert "--class-map differs from the class map run" in str(contradicting.exception)
    assert "angry=sad (the study mapped 'sad' of b onto 'sad')" in str(contradicting.exception)
    agreeing = _evaluate(out, corpora["b"], "--class-map", "angry=anger", "--bootstrap", "20")
    assert agreeing.exit_code == 0, agreeing.output
    # a third corpus: the study normalised a globally and b by corpus, so nothing recorded applies to it
    make_demo_corpus(tmp_path / "c", "tiny", seed=2)
    unknown = _evaluate(out, tmp_path / "c" / "corpus", "--class-map", "angry=anger")
    assert unknown.exit_code != 0
    assert "normalised its corpora' features differently (a: global, b: corpus)" in str(unknown.exception)


def test_evaluate_corpus_equals_the_recipe_when_trained_on_the_training_classes(corpora, finished, tmp_path):
    """protocol.cross_corpus.classes: train: b is tested on all its classes (fear included, never predicted) and
    the run's happy is dropped, by both routes."""
    run, out = finished(CROSS_TRAIN_CLASSES)
    table = tmp_path / "cell.csv"
    result = _evaluate(out, corpora["b"], "--bootstrap", "50", "--out", str(table))
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(table).set_index("metric")
    cell = _cell(run, "uar", "b")
    assert scored.loc["uar", ["value", "low", "high"]].tolist() == pytest.approx([cell["value"], cell["low"],
                                                                                   cell["high"]])  # fmt: skip
    assert scored.loc["uar", "n_items"] == cell["n_items"]
