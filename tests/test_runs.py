"""voxpop.models.cross_validation: fold item sets, resume, predictions on disk, evaluation against direct formulas, late
fusion,
and the train / evaluate / predict / fuse CLI on the tiny demo corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from voxpop.cli.app import app
from voxpop.core.errors import ConfigError, InputError
from voxpop.evaluation.analysis import dirichlet_fusion, late_fusion
from voxpop.evaluation.predictions import Predictions, load_predictions, save_predictions
from voxpop.evaluation.results import evaluate_out_of_fold, evaluate_predictions
from voxpop.evaluation.tuning import common_folds
from voxpop.features import Features
from voxpop.labels.decisions import top_class
from voxpop.labels.labelset import Accounting, LabelSet
from voxpop.models.cross_validation import cross_validate
from voxpop.models.model_input import Standardizer, feature_input
from voxpop.models.protocols import Fold, make_folds
from voxpop.models.specs import ModelSpec, TrainConfig

CLASSES = ["neutral", "anger", "sad"]
QUIET = TrainConfig(epochs=2, batch_size=8, progress_bar=False)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.stdout


# ---------------------------------------------------------------------------------------------- synthetic data
def item_ids(n: int) -> list[str]:
    return [f"clip{i:02d}" for i in range(n)]


def blob_features(n: int = 36, dim: int = 5, missing: tuple[str, ...] = (), seed: int = 0) -> Features:
    """Vector features: 4 * one-hot of the class of item i (i mod 3) plus unit noise; ``missing`` items have none."""
    rng = np.random.default_rng(seed)
    ids = [i for i in item_ids(n) if i not in missing]
    codes = np.array([int(i[4:]) % 3 for i in ids])
    values = (4 * np.eye(3, dim)[codes] + rng.normal(size=(len(ids), dim))).astype(np.float32)
    skipped = pd.DataFrame({"reason": ["unreadable"] * len(missing), "message": ["test"] * len(missing)}, index=missing)
    return Features(
        key="f" * 64,
        path=Path("."),
        kind="vector",
        items=pd.Index(ids, dtype="string"),
        values=values,
        names=[f"x{d}" for d in range(dim)],
        layers=[],
        skipped=skipped,
        seconds=pd.Series(1.0, index=ids),
    )


def onehot_labels(n: int = 36, dropped: tuple[str, ...] = (), rule: str = "mr") -> LabelSet:
    """One-hot targets of class i mod 3; ``dropped`` items are not kept (all-zero rows)."""
    ids = item_ids(n)
    targets = pd.DataFrame(np.eye(3)[np.arange(n) % 3], index=ids, columns=CLASSES)
    kept = pd.Series([i not in dropped for i in ids], index=ids)
    targets.loc[~kept] = 0.0
    accounting = Accounting(n, int(kept.sum()), 5 * n, 4 * n)
    return LabelSet(targets, kept, targets * 5, rule, accounting)


def speaker_items(n: int = 36, speakers: int = 6) -> pd.DataFrame:
    """Speakers of consecutive items (each speaker has items of every class)."""
    return pd.DataFrame({"speaker": [f"s{i * speakers // n}" for i in range(n)]}, index=item_ids(n))


@pytest.fixture
def recorded_fit(monkeypatch):
    """Wrap voxpop.models.training.fit (which voxpop.models.cross_validation calls), recording the train and dev item
    ids of every call."""
    from voxpop.models import training

    calls: list[dict] = []
    real_fit = training.fit

    def recording(train_x, train_y, dev_x=None, dev_y=None, **kwargs):
        calls.append({"train": list(train_y.index), "dev": None if dev_y is None else list(dev_y.index)})
        return real_fit(train_x, train_y, dev_x, dev_y, **kwargs)

    monkeypatch.setattr(training, "fit", recording)
    return calls


# ---------------------------------------------------------------------------------------------- cross-validation
def test_folds_train_on_kept_items_with_features_and_predict_every_test_item(recorded_fit, tmp_path):
    features = blob_features(missing=("clip05", "clip13"))
    labels = onehot_labels(dropped=("clip01", "clip02", "clip20"))
    folds = make_folds(speaker_items(), "speaker-folds", k=3, seed=1)
    result = cross_validate(features, labels, folds, ModelSpec(head="logreg"), out_dir=tmp_path / "run")

    has_features = set(features.items)
    kept = set(labels.kept[labels.kept].index)
    assert len(recorded_fit) == len(folds)
    for fold, call in zip(folds, recorded_fit, strict=True):
        # a classical head neither early-stops nor tunes here: the usable dev items train as well
        usable_dev = [i for i in fold.dev if i in has_features and i in kept]
        assert call["train"] == [i for i in fold.train if i in has_features and i in kept] + usable_dev
        assert call["dev"] is None and result.sizes.loc[fold.name, "dev"] == 0
        assert not set(call["train"]) & set(fold.test)
        predicted = result.predictions.index[result.predictions["fold"] == fold.name]
        assert list(predicted) == [i for i in fold.test if i in has_features]  # not-kept test items predicted too
        expected = {
            "train_no_features": sum(i not in has_features for i in fold.train),
            "train_not_kept": sum(i in has_features and i not in kept for i in fold.train),
            "dev_no_features": sum(i not in has_features for i in fold.dev),
            "dev_not_kept": sum(i in has_features and i not in kept for i in fold.dev),
            "test_no_features": sum(i not in has_features for i in fold.test),
        }
        assert result.dropped.loc[fold.name].to_dict() == expected
    pooled = result.predictions
    assert not pooled.index.duplicated().any() and set(pooled.index) == has_features
    assert list(pooled.columns) == [*CLASSES, "fold"]
    assert np.allclose(pooled[CLASSES].sum(axis=1), 1.0)
    # every item is in every fold once (train, dev or test): 2 without features count in all 3 folds,
    # 3 not kept in the 2 folds where they train or develop (not-kept test items are predicted)
    assert result.dropped.to_numpy().sum() == 2 * 3 + 3 * 2
    # the saved pooled predictions are the returned ones
    assert load_predictions(tmp_path / "run" / "predictions.parquet").table.equals(pooled)


def test_dev_items_are_held_out_for_neural_heads_and_for_dev_predictions(recorded_fit, tmp_path):
    features, labels = blob_features(), onehot_labels(dropped=("clip03",))
    folds = make_folds(speaker_items(), "speaker-folds", k=3)
    kept = set(labels.kept[labels.kept].index)
    mlp = ModelSpec(head="mlp", head_options={"hidden_dim": 8}, train=QUIET)
    cross_validate(features, labels, folds[:1], mlp)
    assert recorded_fit[-1]["dev"] == [i for i in folds[0].dev if i in kept]  # early stopping needs them
    result = cross_validate(features, labels, folds, ModelSpec(head="logreg"), out_dir=tmp_path, dev_predictions=True)
    for fold, call in zip(folds, recorded_fit[1:], strict=True):
        assert call["train"] == [i for i in fold.train if i in kept]
        assert call["dev"] == [i for i in fold.dev if i in kept]
        own = result.dev_predictions[result.dev_predictions["fold"] == fold.name]
        assert list(own.index) == call["dev"]
        x = features.values[features.items.get_indexer(own.index)]
        np.testing.assert_allclose(own[CLASSES].to_numpy(), result.models[fold.name].predict_proba(x))
    saved = load_predictions(tmp_path / "dev_predictions.parquet").table
    pd.testing.assert_frame_equal(saved, result.dev_predictions, check_index_type=False)
    again = cross_validate(features, labels, folds, ModelSpec(head="logreg"), out_dir=tmp_path, dev_predictions=True)
    assert again.resumed == ["fold1", "fold2", "fold3"] and len(recorded_fit) == 4
    pd.testing.assert_frame_equal(again.dev_predictions, result.dev_predictions, check_index_type=False)


def test_predictions_are_each_fold_models_output_on_its_test_items():
    features = blob_features()
    labels = onehot_labels()
    folds = make_folds(speaker_items(), "speaker-folds", k=3)
    result = cross_validate(features, labels, folds, ModelSpec(head="logreg"))
    for fold in folds:
        x = features.values[features.items.get_indexer(fold.test)]
        expected = result.models[fold.name].predict_proba(x)
        assert np.allclose(result.predictions.loc[fold.test, CLASSES].to_numpy(), expected)
    scores = evaluate_predictions(result.predictions, labels, n_boot=0).set_index("metric")["value"]
    assert scores["uar"] > 0.9  # the blobs are separable: the wiring keeps items and targets aligned


def test_resume_retrains_nothing_and_returns_identical_predictions(recorded_fit, tmp_path):
    features, labels = blob_features(), onehot_labels(dropped=("clip03",))
    folds = make_folds(speaker_items(), "speaker-folds", k=3)
    spec = ModelSpec(head="mlp", head_options={"hidden_dim": 8}, train=QUIET)
    first = cross_validate(features, labels, folds, spec, out_dir=tmp_path)
    assert len(recorded_fit) == 3 and first.resumed == []
    second = cross_validate(features, labels, folds, spec, out_dir=tmp_path)
    assert len(recorded_fit) == 3  # no further fit call
    assert second.resumed == ["fold1", "fold2", "fold3"]
    pd.testing.assert_frame_equal(second.predictions, first.predictions)
    for name in first.histories:
        pd.testing.assert_frame_equal(second.histories[name], first.histories[name])
    # a fold whose saved record is missing (interrupted before fold.json) is retrained, alone
    (tmp_path / "folds" / "fold2" / "fold.json").unlink()
    third = cross_validate(features, labels, folds, spec, out_dir=tmp_path)
    assert len(recorded_fit) == 4 and third.resumed == ["fold1", "fold3"]
    pd.testing.assert_frame_equal(third.predictions, first.predictions)  # same seed, same model


def test_resume_refuses_a_fold_trained_on_other_inputs(tmp_path):
    features, labels = blob_features(), onehot_labels()
    folds = make_folds(speaker_items(), "speaker-folds", k=3)
    cross_validate(features, labels, folds, ModelSpec(head="logreg"), out_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"fold1: holds a fold trained on different spec"):
        cross_validate(features, labels, folds, ModelSpec(head="logreg", head_options={"C": 0.1}), out_dir=tmp_path)
    ignored = ModelSpec(head="logreg", loss="wce", train=TrainConfig(epochs=99))  # options logreg does not use
    assert cross_validate(features, labels, folds, ignored, out_dir=tmp_path).resumed == ["fold1", "fold2", "fold3"]
    other = onehot_labels(dropped=("clip00", "clip07"))
    with pytest.raises(ConfigError, match=r"different train"):
        cross_validate(features, other, folds, ModelSpec(head="logreg"), out_dir=tmp_path)


def test_neural_heads_see_features_standardised_on_the_train_items_only(recorded_fit):
    features = blob_features()
    features.values[:, 0] *= 1000.0
    labels = onehot_labels()
    fold = Fold("only", pd.Index(item_ids(24)), pd.Index([]), pd.Index(item_ids(36)[24:]))
    spec = ModelSpec(head="linear", train=QUIET)
    result = cross_validate(features, labels, [fold], spec)
    standardizer = result.models["only"].standardizer
    train_values = features.values[:24].astype(np.float64)
    assert np.allclose(standardizer.mean, train_values.mean(axis=0))
    assert np.allclose(standardizer.scale, train_values.std(axis=0))
    assert recorded_fit[0]["dev"] is None  # no dev items: trained without early stopping
    model = result.models["only"].model
    expected = model.predict_proba((features.values[24:] - standardizer.mean) / standardizer.scale)
    assert np.allclose(result.predictions[CLASSES].to_numpy(), expected, atol=1e-6)


def test_layer_and_frame_features():
    rng = np.random.default_rng(3)
    ids = item_ids(24)
    codes = np.arange(24) % 3
    layered = np.stack([rng.normal(size=(24, 4)), 4 * np.eye(3, 4)[codes] + rng.normal(size=(24, 4))], axis=1)
    common = {"key": "k" * 64, "path": Path("."), "names": ["a", "b", "c", "d"], "skipped": pd.DataFrame()}
    features = Features(
        kind="layers", items=pd.Index(ids, dtype="string"), values=layered.astype(np.float32),
        layers=["layer0", "layer1"], seconds=pd.Series(1.0, index=ids), **common,
    )  # fmt: skip
    folds = make_folds(speaker_items(24, 4), "speaker-folds", k=4, dev=False)
    result = cross_validate(features, onehot_labels(24), folds, ModelSpec(head="linear", train=QUIET))
    assert list(result.layer_weights.columns) == ["layer0", "layer1"]
    assert list(result.layer_weights.index) == [f.name for f in folds]
    assert np.allclose(result.layer_weights.sum(axis=1), 1.0)

    lengths = rng.integers(2, 6, size=24)
    frames = np.concatenate([np.repeat(layered[i, 1:], n, axis=0) for i, n in enumerate(lengths)])
    framed = Features(
        kind="frames", items=pd.Index(ids, dtype="string"), values=frames.astype(np.float32), layers=[],
        seconds=pd.Series(1.0, index=ids), offsets=np.concatenate([[0], np.cumsum(lengths)]), **common,
    )  # fmt: skip
    x = feature_input(framed, ["clip03", "clip01"])
    assert [a.shape for a in x] == [(lengths[3], 4), (lengths[1], 4)]
    assert np.array_equal(x[0][0], layered[3, 1].astype(np.float32))
    result = cross_validate(framed, onehot_labels(24), folds, ModelSpec(head="mlp", train=QUIET))
    assert result.predictions.shape == (24, 4) and result.layer_weights is None


def test_multilabel_targets_need_a_sigmoid_loss():
    labels = onehot_labels()
    multi = LabelSet(labels.targets, labels.kept, labels.counts, "ar-test", labels.accounting, multilabel=True)
    folds = make_folds(speaker_items(), "speaker-folds", k=3)
    with pytest.raises(ConfigError, match="multi-label .* sigmoid loss"):
        cross_validate(blob_features(), multi, folds, ModelSpec(head="logreg"))
    result = cross_validate(blob_features(), multi, folds, ModelSpec(head="linear", loss="bce", train=QUIET))
    assert result.multilabel and (result.predictions[CLASSES].sum(axis=1) != 1).any()


def test_standardizer_over_frames_pools_all_frames():
    frames = [np.array([[1.0], [3.0]]), np.array([[5.0]])]
    s = Standardizer.fit(frames)
    assert s.mean.tolist() == [3.0] and s.scale == pytest.approx([np.std([1.0, 3.0, 5.0])])


# ---------------------------------------------------------------------------------------------- predictions files
def test_predictions_round_trip_and_outside_files(tmp_path):
    frame = pd.DataFrame({"anger": [0.2, 0.7], "sad": [0.8, 0.3]}, index=pd.Index(["b", "a"], name="item"))
    frame["fold"] = ["f1", "f2"]
    save_predictions(Predictions(frame, multilabel=True), tmp_path / "p.parquet")
    loaded = load_predictions(tmp_path / "p.parquet")
    back = loaded.table
    assert list(back.index) == ["b", "a"] and list(back.columns) == ["anger", "sad", "fold"]
    assert np.allclose(back[["anger", "sad"]], frame[["anger", "sad"]]) and loaded.multilabel
    assert loaded.kind == "categorical" and loaded.classes == ["anger", "sad"]
    (tmp_path / "video.csv").write_text("clip,anger,sad\nx,0.5,0.5\ny,0.1,0.9\n")
    outside = load_predictions(tmp_path / "video.csv").table
    assert list(outside.index) == ["x", "y"] and outside.loc["y", "sad"] == 0.9 and "fold" not in outside
    (tmp_path / "bad.csv").write_text("item,anger,sad\nx,0.5,oops\n")
    with pytest.raises(InputError, match=r"bad.csv, item 'x', column 'sad': 'oops' is not a finite number"):
        load_predictions(tmp_path / "bad.csv")
    (tmp_path / "nan.csv").write_text("item,anger,sad\nx,0.5,0.5\ny,,0.9\nz,inf,0.1\n")  # empty cell, inf
    with pytest.raises(
        InputError, match=r"nan.csv, item 'y', column 'anger': 'nan' is not a finite number \(2 such rows\)"
    ):
        load_predictions(tmp_path / "nan.csv")


# ---------------------------------------------------------------------------------------------- evaluation
def random_predictions(ids: list[str], seed: int = 0, sigmoid: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    raw = rng.random((len(ids), 3)) + np.eye(3)[np.arange(len(ids)) % 3] * 0.6
    values = raw if sigmoid else raw / raw.sum(axis=1, keepdims=True)
    return pd.DataFrame(values, index=pd.Index(ids, dtype="string"), columns=CLASSES).assign(fold="f")


def test_single_label_evaluation_matches_sklearn_and_excludes_items_not_kept():
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, recall_score

    labels = onehot_labels(40, dropped=("clip01", "clip02", "clip09"))
    predictions = random_predictions([*item_ids(40), "unlabelled"])
    table = evaluate_predictions(predictions, labels, n_boot=200, seed=1).set_index("metric")
    kept = [i for i in item_ids(40) if i not in ("clip01", "clip02", "clip09")]
    truth = np.arange(40)[[int(i[4:]) for i in kept]] % 3
    pred = predictions.loc[kept, CLASSES].to_numpy().argmax(axis=1)
    assert table.loc["uar", "value"] == pytest.approx(recall_score(truth, pred, average="macro"))
    assert table.loc["macro_f1", "value"] == pytest.approx(f1_score(truth, pred, average="macro"))
    assert table.loc["accuracy", "value"] == pytest.approx(accuracy_score(truth, pred))
    assert table.loc["mcc", "value"] == pytest.approx(matthews_corrcoef(truth, pred))
    assert table.loc["f1[sad]", "value"] == pytest.approx(f1_score(truth, pred, average=None)[2])
    assert (table["n_items"] == 37).all() and (table["n_excluded"] == 4).all()  # 3 not kept + 1 unknown
    assert (table["low"] <= table["value"]).all() and (table["value"] <= table["high"]).all()
    assert "kld" not in table.index  # one-hot targets: no distribution to compare with


def test_distribution_targets_add_kld_and_jsd():
    from sklearn.metrics import recall_score

    rng = np.random.default_rng(4)
    ids = item_ids(20)
    soft = pd.DataFrame(rng.dirichlet(np.ones(3), size=20), index=ids, columns=CLASSES)
    labels = LabelSet(soft, pd.Series(True, index=ids), soft * 6, "ar", Accounting(20, 20, 120, 120))
    predictions = random_predictions(ids, seed=2)
    table = evaluate_predictions(predictions, labels, n_boot=0).set_index("metric")
    p, q = soft.to_numpy(), predictions[CLASSES].to_numpy()
    assert table.loc["kld", "value"] == pytest.approx(rel_entr(p, q).sum(axis=1).mean(), rel=1e-6)
    assert table.loc["jsd", "value"] == pytest.approx((jensenshannon(p, q, axis=1) ** 2).mean(), rel=1e-6)
    truth, pred = p.argmax(axis=1), q.argmax(axis=1)
    assert table.loc["uar", "value"] == pytest.approx(recall_score(truth, pred, average="macro"))


@pytest.mark.parametrize("sigmoid", [False, True])
def test_multilabel_evaluation_binarises_and_matches_sklearn(sigmoid):
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(5)
    ids = item_ids(30)
    hot = (rng.random((30, 3)) < 0.4).astype(float)
    hot[np.arange(30), np.arange(30) % 3] = 1.0
    labels = LabelSet(
        pd.DataFrame(hot, index=ids, columns=CLASSES), pd.Series(True, index=ids), pd.DataFrame(hot, index=ids,
        columns=CLASSES), "ar-test", Accounting(30, 30, 90, 90), multilabel=True,
    )  # fmt: skip
    predictions = random_predictions(ids, seed=3, sigmoid=sigmoid)
    table = evaluate_predictions(predictions, labels, n_boot=100).set_index("metric")
    probs = predictions[CLASSES].to_numpy()
    decided = probs >= 0.5 if sigmoid else probs > 1 / 3  # auto: threshold 0.5 for sigmoids, else the 1/C rule
    assert table.loc["macro_f1", "value"] == pytest.approx(f1_score(hot, decided, average="macro"))
    assert table.loc["micro_f1", "value"] == pytest.approx(f1_score(hot, decided, average="micro"))
    assert "uar" not in table.index and "accuracy" not in table.index
    tuned = pd.Series([0.2, 0.5, 0.7], index=CLASSES)
    with_thresholds = evaluate_predictions(predictions, labels, n_boot=0, binarize=tuned).set_index("metric")
    expected = f1_score(hot, probs >= tuned.to_numpy(), average="macro")
    assert with_thresholds.loc["macro_f1", "value"] == pytest.approx(expected)


def _tied_ar_labels() -> tuple[LabelSet, pd.DataFrame]:
    """Six AR distributions over (neutral, anger, sad), three with a tied top class, and one-hot predictions."""
    votes = pd.DataFrame(
        [[3, 0, 0], [2, 2, 0], [0, 1, 2], [1, 1, 1], [0, 3, 1], [0, 2, 2]], index=list("abcdef"), columns=CLASSES
    )  # b: neutral = anger; d: all three; f: anger = sad
    ar = votes.div(votes.sum(axis=1), axis=0)
    labels = LabelSet(ar, pd.Series(True, index=ar.index), votes, "ar", Accounting(6, 6, 18, 18))
    predicted = ["neutral", "anger", "sad", "sad", "anger", "sad"]
    predictions = pd.DataFrame(np.eye(3)[[CLASSES.index(c) for c in predicted]], index=ar.index, columns=CLASSES)
    return labels, predictions


def test_tied_distribution_targets_follow_the_tie_policy():
    from sklearn.metrics import recall_score

    labels, predictions = _tied_ar_labels()
    # drop: b, d, f are left out; a, c, e are right -> UAR 1 on 3 items
    dropped = evaluate_predictions(predictions, labels, n_boot=0).set_index("metric")
    assert dropped.loc["uar", "value"] == 1.0
    assert (dropped["n_items"] == 3).all() and (dropped["n_tied"] == 3).all()
    assert (dropped["tie_policy"] == "drop").all()
    # first: truth a N, b N, c S, d N, e A, f A; prediction N, A, S, S, A, S.
    # recall N 1/3 (a), A 1/2 (e), S 1/1 (c) -> UAR (1/3 + 1/2 + 1) / 3 = 11/18;
    # F1 N 2/(2+0+2), A 2/(2+1+1), S 2/(2+2+0) -> all 1/2 -> macro-F1 1/2
    first = evaluate_predictions(predictions, labels, n_boot=0, tie_policy="first").set_index("metric")
    assert first.loc["uar", "value"] == pytest.approx(11 / 18)
    assert first.loc["macro_f1", "value"] == pytest.approx(1 / 2)
    truth, pred = ["N", "N", "S", "N", "A", "A"], ["N", "A", "S", "S", "A", "S"]
    assert first.loc["uar", "value"] == pytest.approx(recall_score(truth, pred, average="macro"))
    assert (first["n_items"] == 6).all() and (first["n_tied"] == 3).all()
    random = evaluate_predictions(predictions, labels, n_boot=0, tie_policy="random", seed=3)
    assert (random["n_items"] == 6).all() and (random["n_tied"] == 3).all()
    with pytest.raises(ConfigError, match="unknown tie policy 'all'"):
        evaluate_predictions(predictions, labels, tie_policy="all")


def test_a_perfect_model_on_a_group_lacking_a_class_scores_one_and_names_it():
    labels = onehot_labels(12)  # classes neutral, anger, sad by item number mod 3
    perfect = labels.targets.copy()
    group = [i for n, i in enumerate(item_ids(12)) if n % 3 != 2]  # no sad item (evaluation.by group)
    table = evaluate_predictions(perfect.loc[group], labels, n_boot=100).set_index("metric")
    assert table.loc["uar", ["value", "low", "high"]].tolist() == [1.0, 1.0, 1.0]  # not 2/3 with sad as a 0
    assert table.loc["macro_f1", "value"] == 1.0 and (table["absent_classes"] == "sad").all()


def test_random_tie_policy_picks_among_the_tied_classes_only():
    tied = np.array([[0.4, 0.4, 0.2], [0.25, 0.25, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    chosen = np.array([top_class(tied, "random", seed)[0] for seed in range(40)])  # (seeds, items)
    assert set(chosen[:, 0]) == {0, 1} and set(chosen[:, 1]) == {2} and set(chosen[:, 2]) == {0, 1, 2}
    assert top_class(tied, "drop")[1].tolist() == [True, False, True]


def test_cli_evaluate_states_the_tie_policy(tmp_path):
    labels, predictions = _tied_ar_labels()
    labels.save(tmp_path / "ar.parquet")
    save_predictions(Predictions(predictions), tmp_path / "predictions.parquet")
    csv = tmp_path / "scores.csv"
    output = invoke(
        "evaluate", tmp_path / "predictions.parquet", "--labels", tmp_path / "ar.parquet", "--tie-policy", "first",
        "--bootstrap", "0", "--out", csv,
    )  # fmt: skip
    assert "tied targets (first)" in output
    table = pd.read_csv(csv).set_index("metric")
    assert table.loc["uar", "value"] == pytest.approx(11 / 18) and (table["n_tied"] == 3).all()


def test_evaluation_errors_name_the_problem():
    labels = onehot_labels(6)
    with pytest.raises(InputError, match=r"no column for classes \['sad'\]"):
        evaluate_predictions(random_predictions(item_ids(6)).drop(columns="sad"), labels)
    twice = pd.concat([random_predictions(item_ids(6)), random_predictions(item_ids(3))])
    with pytest.raises(InputError, match="more than once .* evaluate one fold at a time"):
        evaluate_predictions(twice, labels)
    with pytest.raises(InputError, match="none of the 2 predicted items is kept"):
        evaluate_predictions(random_predictions(["x", "y"]), labels)


# ---------------------------------------------------------------------------------------------- late fusion
def test_late_fusion_chooses_weights_on_dev_items_and_applies_them_to_the_rest():
    ids = item_ids(40)
    audio, video = random_predictions(ids, seed=7), random_predictions([*ids, "extra"], seed=8)
    dev_labels = onehot_labels(40, dropped=tuple(ids[20:]))
    result = late_fusion({"audio": audio, "video": video}, dev_labels, n_draws=50, seed=3)
    assert list(result.dev_items) == ids[:20] and result.dropped == {"audio": 0, "video": 1}
    truth = pd.Series(np.asarray(CLASSES)[np.arange(20) % 3], index=ids[:20], dtype="string")
    direct = dirichlet_fusion(
        {"audio": audio.loc[ids[:20], CLASSES], "video": video.loc[ids[:20], CLASSES]}, truth, n_draws=50, seed=3
    )
    pd.testing.assert_frame_equal(result.fusion.weights, direct.weights)
    w = direct.weights.to_numpy()
    expected = w[0] * audio.loc[ids[20:], CLASSES].to_numpy() + w[1] * video.loc[ids[20:], CLASSES].to_numpy()
    assert list(result.fused.index) == ids[20:]
    assert np.allclose(result.fused[CLASSES].to_numpy(), expected) and (result.fused["fold"] == "f").all()


def test_common_folds_of_out_of_fold_predictions_and_what_cannot_be_fused_per_fold():
    ids = item_ids(6)
    audio = random_predictions(ids, seed=1).assign(fold=["a", "a", "b", "b", "c", "c"])
    video = random_predictions([*ids[1:], "extra"], seed=2).assign(fold=["a", "b", "b", "c", "c", "c"])
    folds = common_folds({"audio": audio, "video": video})  # the items both predict, in the same folds
    assert folds.to_dict() == {"clip01": "a", "clip02": "b", "clip03": "b", "clip04": "c", "clip05": "c"}
    assert common_folds({"audio": audio.drop(columns="fold"), "video": video.drop(columns="fold")}) is None
    with pytest.raises(InputError, match="with a 'fold' column .*: audio; without one: video"):
        common_folds({"audio": audio, "video": video.drop(columns="fold")})
    moved = video.assign(fold=["a", "b", "c", "c", "c", "c"])  # clip03 is in fold c here, in b for audio
    with pytest.raises(InputError, match=r"video: 1 of the 5 shared items .* item 'clip03': fold 'c' vs 'b'"):
        common_folds({"audio": audio, "video": moved})
    with pytest.raises(InputError, match="no item is predicted by every input"):
        common_folds({"audio": audio, "other": random_predictions(["x1", "x2"])})
    with pytest.raises(InputError, match=r"video: items predicted more than once \(e.g. \['clip01'\]\)"):
        common_folds({"audio": audio, "video": pd.concat([video, video.iloc[:1]])})


def test_overlapping_split_folds_are_evaluated_fold_by_fold():
    ids = item_ids(36)
    roles = np.array(["Train", "Train", "Development", "Test"])
    other = np.array(["Test", "Train", "Development", "Test"])
    items = pd.DataFrame({"a": roles[np.arange(36) % 4], "b": other[np.arange(36) % 4]}, index=ids)
    folds = make_folds(items, "split", columns=["a", "b"])
    labels = onehot_labels()
    result = cross_validate(blob_features(), labels, folds, ModelSpec(head="logreg"))
    assert result.predictions.index.duplicated().sum() == 9  # items i with i % 4 == 3 are tested in both splits
    tables = evaluate_out_of_fold(result.predictions, labels, n_boot=0)
    assert list(tables) == ["a", "b"]
    for fold, table in tables.items():
        part = result.predictions[result.predictions["fold"] == fold]
        pd.testing.assert_frame_equal(table, evaluate_predictions(part, labels, n_boot=0))
    pooled = evaluate_out_of_fold(result.predictions[result.predictions["fold"] == "a"], labels, n_boot=0)
    assert list(pooled) == ["pooled"]


def test_a_fold_without_features_says_why_the_feature_store_skipped_its_items(tmp_path):
    """Every clip 10 ms long (a Hugging Face table of short clips): training stopped at 'no training item has
    features ... check the protocol, the label rule and the feature store' without the reason the store knew."""
    import soundfile

    import voxpop as vp
    from voxpop.corpus.corpus import Corpus

    ids = [f"c{i}" for i in range(6)]
    for i, item in enumerate(ids):
        soundfile.write(tmp_path / f"{item}.wav", np.full(160, 0.01 * (i + 1), dtype=np.float32), 16000)
    items = pd.DataFrame({"audio": [str(tmp_path / f"{i}.wav") for i in ids], "speaker": ["s1", "s1", "s2", "s2",
                          "s3", "s3"]}, index=pd.Index(ids, name="item"))  # fmt: skip
    ratings = pd.DataFrame({"item": ids, "rater": "r1", "label": ["a", "b"] * 3})
    corpus = Corpus("short", items, ratings, classes=["a", "b"])
    features = vp.extract(corpus, "fbank", store=tmp_path / "store")
    labels = vp.labels(corpus, "mr")
    with pytest.raises(ConfigError, match=r"no training item has features .* the feature store skipped 6 items "
                                          r"\(too_short: 6; first: .*shorter than the minimum"):  # fmt: skip
        vp.cross_validate(corpus, features, labels, "speaker-folds", k=3, model="logreg")
    # head= is the model's, not the protocol's: it was a TypeError from speaker_folds()
    with pytest.raises(ConfigError, match=r"protocol 'speaker-folds': unknown option\(s\) head; its options: k, "):
        vp.cross_validate(corpus, features, labels, "speaker-folds", k=3, head="logreg")
