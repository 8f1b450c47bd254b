"""fit / TrainedModel: learning, early stopping with best-checkpoint restore, seeds, save/load, classical
models, backbone fine-tuning, dev metrics and input errors."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from voxpop.core.errors import ConfigError, InputError
from voxpop.evaluation.scoring import evaluate
from voxpop.models.specs import BackboneConfig, TrainConfig

QUIET = {"progress_bar": False}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def blobs(n: int, seed: int, dim: int = 6, n_classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs (unit sd) around 4 * e_c: separable up to a Bayes error far below 1 %."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    x = 4 * np.eye(n_classes, dim)[labels] + rng.normal(size=(n, dim))
    return x.astype(np.float32), np.eye(n_classes)[labels]


def accuracy(probs: np.ndarray, targets: np.ndarray) -> float:
    return float((probs.argmax(axis=1) == targets.argmax(axis=1)).mean())


@pytest.mark.parametrize(
    ("head", "options"), [("linear", {}), ("mlp", {"hidden_dim": 64}), ("residual", {"hidden_dim": 32})]
)
def test_pooled_heads_learn_a_separable_problem(head, options):
    from voxpop.models.training import fit

    x, y = blobs(150, 0)
    dx, dy = blobs(90, 1)
    config = TrainConfig(epochs=8, lr=1e-2, batch_size=16, monitor="macro_f1", **QUIET)
    model = fit(x, y, dx, dy, head=head, config=config, head_options=options)
    assert accuracy(model.predict_proba(dx), dy) >= 0.95
    assert min(h["train_loss"] for h in model.history[1:]) < model.history[0]["train_loss"]
    assert max(h["dev_macro_f1"] for h in model.history) >= 0.95


@pytest.mark.parametrize("head", ["attentive_stats", "lstm"])
def test_frame_heads_learn_from_variable_length_sequences(head):
    from voxpop.models.training import fit

    rng = np.random.default_rng(2)

    def sequences(n: int) -> tuple[list[np.ndarray], np.ndarray]:
        labels = rng.integers(0, 2, n)
        frames = [(3 * np.eye(2, 4)[c] + rng.normal(size=(rng.integers(3, 9), 4))).astype(np.float16) for c in labels]
        return frames, np.eye(2)[labels]

    x, y = sequences(120)
    dx, dy = sequences(60)
    model = fit(x, y, dx, dy, head=head, config=TrainConfig(epochs=6, lr=1e-2, batch_size=16, **QUIET))
    assert accuracy(model.predict_proba(dx), dy) >= 0.9


def test_layer_weights_find_the_informative_layer():
    from voxpop.models.training import fit

    x, y = blobs(150, 0)
    dx, dy = blobs(60, 1)
    rng = np.random.default_rng(5)

    def layered(v: np.ndarray) -> np.ndarray:  # layer 1 carries the classes, layers 0 and 2 are noise
        return np.stack([rng.normal(size=v.shape), v, rng.normal(size=v.shape)], axis=1).astype(np.float16)

    config = TrainConfig(epochs=6, lr=5e-2, batch_size=16, patience=None, **QUIET)
    model = fit(layered(x), y, layered(dx), dy, head="linear", config=config)
    weights = model.layer_weights()
    assert weights.shape == (3,) and weights.sum() == pytest.approx(1.0, abs=1e-6)
    assert weights.argmax() == 1 and weights[1] > 0.5
    assert accuracy(model.predict_proba(layered(dx)), dy) >= 0.95


def _noise_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)  # labels independent of features: the dev loss must turn up
    return (
        rng.normal(size=(60, 8)).astype(np.float32),
        np.eye(3)[rng.integers(0, 3, 60)],
        rng.normal(size=(40, 8)).astype(np.float32),
        np.eye(3)[rng.integers(0, 3, 40)],
    )


def test_early_stopping_restores_the_best_dev_loss():
    from voxpop.models.training import fit

    x, y, dx, dy = _noise_problem()
    config = TrainConfig(epochs=40, lr=3e-3, batch_size=16, patience=3, **QUIET)
    model = fit(x, y, dx, dy, head="mlp", config=config, head_options={"hidden_dim": 64, "dropout": 0.0})
    losses = [h["dev_loss"] for h in model.history]
    best = model.best_epoch
    assert len(losses) == best + 1 + 3 < 40  # stopped `patience` epochs after the best one
    assert losses[best] == min(losses) and losses[-1] > losses[best]
    probs = model.predict_proba(dx)
    restored = -(dy * np.log(probs)).sum(axis=1).mean()
    assert restored == pytest.approx(losses[best], rel=1e-5)


def test_early_stopping_on_macro_f1_restores_the_best_epoch():
    from sklearn.metrics import f1_score

    from voxpop.models.training import fit

    x, y, dx, dy = _noise_problem()
    config = TrainConfig(epochs=40, lr=3e-3, batch_size=16, patience=3, monitor="macro_f1", **QUIET)
    model = fit(x, y, dx, dy, head="mlp", config=config, head_options={"hidden_dim": 64, "dropout": 0.0})
    scores = [h["dev_macro_f1"] for h in model.history]
    assert len(scores) < 40
    restored = f1_score(dy.argmax(axis=1), model.predict_proba(dx).argmax(axis=1), average="macro")
    assert restored == pytest.approx(max(scores)) and scores[model.best_epoch] == max(scores)


def test_same_seed_same_predictions():
    from voxpop.models.training import fit

    x, y = blobs(80, 0)
    dx, dy = blobs(30, 1)

    def run(seed: int) -> np.ndarray:
        config = TrainConfig(epochs=2, seed=seed, batch_size=16, balanced_sampling=True, **QUIET)
        return fit(x, y, dx, dy, head="mlp", config=config, head_options={"hidden_dim": 32}).predict_proba(dx)

    first = run(0)
    assert np.array_equal(first, run(0))
    assert not np.allclose(first, run(1))


def test_save_load_round_trip(tmp_path):
    from voxpop.models.trained_model import TrainedModel
    from voxpop.models.training import fit

    x, y = blobs(60, 0)
    layered = np.stack([x, -x], axis=1)
    classes = pd.DataFrame(y, columns=["neutral", "angry", "sad"], index=[f"clip{i}" for i in range(60)])
    model = fit(layered, classes, layered, y, head="mlp", config=TrainConfig(epochs=2, **QUIET))
    loaded = TrainedModel.load(model.save(tmp_path / "mlp"))
    assert np.array_equal(loaded.predict_proba(layered), model.predict_proba(layered))
    assert np.array_equal(loaded.layer_weights(), model.layer_weights())
    assert loaded.history == model.history and loaded.spec == model.spec
    assert loaded.spec.classes == ["neutral", "angry", "sad"]

    svm = fit(x, y, head="svm", config=TrainConfig(**QUIET), head_options={"pca_components": 3})
    loaded_svm = TrainedModel.load(svm.save(tmp_path / "svm"))
    assert np.array_equal(loaded_svm.predict_proba(x), svm.predict_proba(x))
    with pytest.raises(InputError, match="no model.json"):
        TrainedModel.load(tmp_path)


def test_bce_family_reads_outputs_through_a_sigmoid():
    import torch

    from voxpop.models.training import fit

    x, y = blobs(60, 0)
    soft = np.clip(0.8 * y + 0.3 * np.roll(y, 1, axis=1), 0, 1)  # agreement fractions, rows need not sum to 1
    config = TrainConfig(epochs=3, lr=1e-2, monitor="macro_f1", **QUIET)
    model = fit(x, soft, x, soft, head="linear", loss="wbce", config=config)
    assert model.spec.multilabel
    with torch.no_grad():
        logits = model.network(torch.from_numpy(x))
    np.testing.assert_allclose(model.predict_proba(x), torch.sigmoid(logits).numpy(), rtol=1e-6)
    assert not np.allclose(model.predict_proba(x).sum(axis=1), 1.0)
    assert "dev_macro_f1" in model.history[0]


def test_dev_metric_against_sklearn():
    from sklearn.metrics import f1_score, recall_score

    from voxpop.models.epoch_scores import dev_metric

    rng = np.random.default_rng(0)
    targets = rng.dirichlet(np.ones(4), size=50)
    probs = rng.dirichlet(np.ones(4), size=50)
    truth, pred = targets.argmax(axis=1), probs.argmax(axis=1)
    assert dev_metric("macro_f1", probs, targets, False) == pytest.approx(f1_score(truth, pred, average="macro"))
    assert dev_metric("uar", probs, targets, False) == pytest.approx(recall_score(truth, pred, average="macro"))
    multi_truth, multi_pred = targets >= 0.5, probs >= 0.5
    present = np.flatnonzero(multi_truth.sum(axis=0) > 0)  # classes with a dev positive
    assert dev_metric("macro_f1", probs, targets, True) == pytest.approx(
        f1_score(multi_truth, multi_pred, labels=present, average="macro", zero_division=0)
    )
    two = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]])
    # positives (class 1) are items 2 and 4; predicted 2 and 3: precision 1/2, recall 1/2
    assert dev_metric("binary_f1", two, np.array([[1, 0], [0, 1], [1, 0], [0, 1]]), False) == pytest.approx(0.5)


def test_early_stopping_and_the_report_agree_on_a_partial_dev_set():
    # truth [0, 0, 1], prediction [0, 0, 2] (3 classes). By hand: recall (class 0: 2/2, class 1: 0/1;
    # class 2 absent from the truth, left out) -> UAR 1/2; F1 (class 0: 1, class 1: 0, class 2 predicted
    # only: 0) -> macro-F1 1/3 (classes in truth or prediction, scikit-learn's convention).
    from sklearn.metrics import f1_score, recall_score

    from voxpop.models.epoch_scores import dev_metric

    targets = np.eye(3)[[0, 0, 1]]
    probs = np.array([[0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.1, 0.2, 0.7]])
    report = evaluate(pd.Series(["a", "a", "b"]), pd.Series(["a", "a", "c"]), classes=["a", "b", "c"], n_boot=0)
    report = report.set_index("metric")["value"]
    assert dev_metric("uar", probs, targets, False) == pytest.approx(1 / 2) == report["uar"]
    assert dev_metric("macro_f1", probs, targets, False) == pytest.approx(1 / 3) == report["macro_f1"]
    assert report["uar"] == pytest.approx(recall_score([0, 0, 1], [0, 0, 2], labels=[0, 1], average="macro"))
    assert report["macro_f1"] == pytest.approx(f1_score([0, 0, 1], [0, 0, 2], average="macro"))


def test_classical_soft_targets_are_exact_soft_cross_entropy():
    from voxpop.models.training import fit

    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 5))
    logits = x @ rng.normal(size=(5, 3))
    soft = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    for targets, stationary in ((soft, True), (np.eye(3)[soft.argmax(axis=1)], False)):
        model = fit(x, targets, head="logreg", config=TrainConfig(**QUIET), head_options={"C": 0.5})
        features = model.estimator[:-1].transform(x)
        lr = model.estimator[-1]
        residual = lr.predict_proba(features) - soft
        # stationarity of C * sum_i CE(y_i, p_i) + |W|^2 / 2 with the SOFT targets: C X^T (P - Y) + W^T = 0
        gradient = np.abs(np.vstack([0.5 * features.T @ residual + lr.coef_.T, 0.5 * residual.sum(axis=0)])).max()
        assert (gradient < 1e-2) if stationary else (gradient > 0.5)


@pytest.mark.parametrize("head", ["svm", "logreg"])
def test_classical_hard_targets_match_sklearn(head):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import recall_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from voxpop.models.training import fit

    x, y = blobs(90, 0)
    model = fit(x, y, x, y, head=head, config=TrainConfig(seed=4, monitor="uar", **QUIET))
    estimator = (
        CalibratedClassifierCV(SVC(random_state=4), method="sigmoid", cv=5, ensemble=False)
        if head == "svm"
        else LogisticRegression(max_iter=1000, random_state=4)
    )
    reference = Pipeline([("scale", StandardScaler()), ("model", estimator)]).fit(x.astype(np.float64), y.argmax(1))
    np.testing.assert_allclose(model.predict_proba(x), reference.predict_proba(x.astype(np.float64)), rtol=1e-9)
    probs = model.predict_proba(x)
    uar = recall_score(y.argmax(axis=1), probs.argmax(axis=1), average="macro")
    dev_loss = -(y * np.log(np.clip(probs, 1e-12, None))).sum(axis=1).mean()
    assert model.history == [{"epoch": 0, "dev_loss": pytest.approx(dev_loss, rel=1e-5), "dev_uar": pytest.approx(uar)}]


def test_classical_absent_class_gets_probability_zero():
    from voxpop.models.training import fit

    x, y = blobs(90, 0)
    seen = y[:, 2] == 0
    probs = fit(x[seen], y[seen], head="logreg", config=TrainConfig(**QUIET)).predict_proba(x)
    assert probs.shape == (90, 3) and np.all(probs[:, 2] == 0) and np.allclose(probs.sum(axis=1), 1)
    with pytest.raises(ConfigError, match="pca_components=7 exceeds"):
        fit(x, y, head="svm", config=TrainConfig(**QUIET), head_options={"pca_components": 7})


def test_svm_with_too_few_items_of_a_class_for_calibration_says_so():
    from voxpop.models.training import fit

    x, y = blobs(90, 0)
    keep = (y[:, 2] == 0) | (np.cumsum(y[:, 2]) <= 3)
    with pytest.raises(ConfigError, match="svm: class 2 has 3 training items.*calibration_folds=5"):
        fit(x[keep], y[keep], head="svm", config=TrainConfig(**QUIET))
    named = pd.DataFrame(y[keep], columns=["A", "B", "C"])  # named classes: the message names the class and flag
    with pytest.raises(ConfigError, match=r"svm: class 'C' has 3 training items.*--head-option calibration_folds=2"):
        fit(x[keep], named, head="svm", config=TrainConfig(**QUIET))
    probs = fit(x[keep], y[keep], head="svm", config=TrainConfig(**QUIET), head_options={"calibration_folds": 3})
    assert np.allclose(probs.predict_proba(x).sum(axis=1), 1)


def test_input_errors_name_the_problem():
    import torch

    from voxpop.models.training import fit

    x, y = blobs(10, 0)
    frame = pd.DataFrame(y, index=[f"clip{i}" for i in range(10)])
    frame.iloc[3] = 0.0
    with pytest.raises(InputError, match=r"item clip3 has an all-zero target row"):
        fit(x, frame, config=TrainConfig(**QUIET))
    bad = x.copy()
    bad[7, 2] = np.nan
    with pytest.raises(InputError, match=r"train_x: item 7 has NaN"):
        fit(bad, y, config=TrainConfig(epochs=1, **QUIET))
    with pytest.raises(InputError, match="does not sum to 1"):
        fit(x, 2 * y, config=TrainConfig(**QUIET))
    features = pd.DataFrame(x, index=[f"clip{i}" for i in range(10)])
    targets = pd.DataFrame(y, index=features.index)
    with pytest.raises(InputError, match=r"train_x: its item index differs.*only in features: \['clip9'\]"):
        fit(features, targets.iloc[:9], config=TrainConfig(**QUIET))
    with pytest.raises(ConfigError, match="works on frame sequences"):
        fit(x, y, head="lstm", config=TrainConfig(**QUIET))
    with pytest.raises(ConfigError, match="binary_f1"):
        fit(x, y, x, y, config=TrainConfig(monitor="binary_f1", **QUIET))
    with pytest.raises(InputError, match="dev_x"):
        fit(x, y, x[:, :4], y, config=TrainConfig(**QUIET))
    with pytest.raises(ConfigError, match="needs config.backbone"):
        fit([np.zeros(800, dtype=np.float32)] * 10, y, config=TrainConfig(**QUIET))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="needs a CUDA GPU"):
            fit(x, y, config=TrainConfig(precision="16-mixed", **QUIET))
    model = fit(features, targets, head="linear", config=TrainConfig(epochs=1, **QUIET))
    assert np.array_equal(model.predict_proba(features), model.predict_proba(x))
    with pytest.raises(InputError, match="does not match the input"):
        model.predict_proba(x[:, :3])


def test_fine_tuning_a_tiny_wavlm(tiny_wavlm_dir, tmp_path):
    import torch
    from transformers import Wav2Vec2FeatureExtractor

    from voxpop.models.heads import transformer_layers
    from voxpop.models.trained_model import TrainedModel
    from voxpop.models.training import fit

    backbone_dir = tmp_path / "backbone"
    shutil.copytree(tiny_wavlm_dir, backbone_dir)
    Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True).save_pretrained(backbone_dir)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 16)
    clips = [
        (0.3 * np.sin(2 * np.pi * (300 if c else 3000) * np.arange(rng.integers(1200, 2400)) / 16000)).astype(
            np.float32
        )
        for c in labels
    ]
    y = np.eye(2)[labels]
    config = TrainConfig(
        epochs=2, batch_size=4, lr=1e-3, backbone=BackboneConfig(path=str(backbone_dir), trainable_layers=1), **QUIET
    )
    model = fit(clips, y, clips[:6], y[:6], head="linear", config=config)
    assert model.spec.config.backbone.normalize_audio is True  # read from the checkpoint's feature extractor
    assert len(model.history) == 2 and len(model.layer_weights()) == 3

    from transformers import AutoModel

    initial = AutoModel.from_pretrained(backbone_dir)
    tuned = model.network.backbone
    unchanged = [initial.feature_extractor, transformer_layers(initial)[0]]
    for before, after in zip(unchanged, [tuned.feature_extractor, transformer_layers(tuned)[0]], strict=True):
        for (name, p0), p1 in zip(before.state_dict().items(), after.state_dict().values(), strict=True):
            assert torch.equal(p0, p1), name  # frozen: the CNN encoder and the lower transformer layer
    changed = [
        not torch.equal(p0, p1)
        for p0, p1 in zip(
            transformer_layers(initial)[1].parameters(), transformer_layers(tuned)[1].parameters(), strict=True
        )
    ]
    assert any(changed)  # the top layer trained

    probs = model.predict_proba(clips)
    assert probs.shape == (16, 2) and np.allclose(probs.sum(axis=1), 1)
    loaded = TrainedModel.load(model.save(tmp_path / "tuned"))
    np.testing.assert_allclose(loaded.predict_proba(clips), probs, rtol=1e-5, atol=1e-6)
