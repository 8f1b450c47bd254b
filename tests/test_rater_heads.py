"""Rater-aware heads (issue #27 item 1): per-rater targets from the ratings, the masked loss, per_rater and
crowd_layer on simulated raters of known accuracy, and their use through train / predict --rater / export."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from voxpop.cli.app import app
from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus import Corpus
from voxpop.labels.rater_votes import OTHER_RATERS, rater_votes
from voxpop.labels.rules import make_labels
from voxpop.models.specs import TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------------------------------------- per-rater targets
def _toy_corpus() -> Corpus:
    """Items a, b, c; raters r1 (3 ratings), r2 (2), r3 (1); r2's 'other' on c lies outside the class set."""
    rows = [
        ("a", "r1", "A"), ("a", "r2", "S"), ("a", "r3", "S"),
        ("b", "r1", "S"), ("b", "r2", "S"),
        ("c", "r1", "A"), ("c", "r2", "other"),
    ]  # fmt: skip
    ratings = pd.DataFrame(rows, columns=["item", "rater", "label"]).assign(slot="primary")
    return Corpus("toy", pd.DataFrame(index=["a", "b", "c"]), ratings, classes=["A", "S"], excluded=["other"])


def test_rater_targets_follow_the_votes_with_rare_raters_sharing_one_output():
    corpus = _toy_corpus()
    votes = rater_votes(corpus, make_labels(corpus, "pr"))
    assert votes.outside == 1  # r2's 'other' on c: counted, never a target
    targets, outputs, counts = votes.targets(["c", "a", "b"], min_ratings_per_rater=2)
    assert outputs == ["r1", "r2", OTHER_RATERS]
    expected = np.zeros((3, 3, 2))
    expected[0, 0] = [1, 0]  # c: r1 A; r2's vote lies outside the classes
    expected[1, 0], expected[1, 1], expected[1, 2] = [1, 0], [0, 1], [0, 1]  # a: r1 A, r2 S, r3 (other raters) S
    expected[2, 0], expected[2, 1] = [0, 1], [0, 1]  # b
    np.testing.assert_array_equal(targets, expected)
    assert counts == {"rater_votes": 6, "raters_own_output": 2, "raters_shared_output": 1, "items_without_votes": 0}


def test_only_the_given_items_count_towards_min_ratings_per_rater():
    corpus = _toy_corpus()
    votes = rater_votes(corpus, make_labels(corpus, "pr"))
    targets, outputs, counts = votes.targets(["b", "c"], min_ratings_per_rater=2)  # r2 has 1 vote on b, c
    assert outputs == ["r1", OTHER_RATERS]
    np.testing.assert_array_equal(targets[:, 1], [[0, 1], [0, 0]])  # the shared output: r2 on b, nobody on c
    assert counts["raters_shared_output"] == 1 and counts["rater_votes"] == 3
    with pytest.raises(InputError, match=r"items \['zz'\] have no ratings"):
        votes.targets(["zz"])


def test_the_votes_digest_changes_with_any_vote():
    corpus = _toy_corpus()
    votes = rater_votes(corpus, make_labels(corpus, "pr"))
    changed = corpus.ratings.copy()
    changed.loc[changed.index[0], "label"] = "S"  # r1 on a: A -> S
    other = Corpus("toy", corpus.items, changed, classes=["A", "S"], excluded=["other"])
    assert votes.digest() == rater_votes(corpus, make_labels(corpus, "pr")).digest()
    assert votes.digest() != rater_votes(other, make_labels(other, "pr")).digest()


def test_rater_votes_need_rater_ids_and_one_choice_per_rating():
    corpus = _toy_corpus()
    anonymous = Corpus("anon", corpus.items, corpus.ratings.assign(rater=None), classes=["A", "S"], excluded=["other"])
    with pytest.raises(Exception, match="a per-rater model .* needs rater ids"):
        rater_votes(anonymous, make_labels(anonymous, "pr"))


def test_a_rater_named_like_the_shared_output_is_refused():
    corpus = _toy_corpus()
    ratings = corpus.ratings.astype({"rater": "string"})  # a new id: the categorical column takes no new value
    ratings = ratings.replace({"rater": {"r2": OTHER_RATERS}})  # would be two outputs "other raters"
    named = Corpus("named", corpus.items, ratings, classes=["A", "S"], excluded=["other"])
    with pytest.raises(InputError, match=r"corpus 'named': rater id 'other raters' \(3 ratings\) is the name"):
        rater_votes(named, make_labels(named, "pr"))


def test_rater_targets_of_the_msp_labels_detailed_field_case(shared_data):
    """Real layout (../shared/field-cases/07): worker 104's first record on 0011 is 'Other-Bored' (outside the
    classes: counted, no vote, so worker 104 gets no output); every other worker has 2 votes."""
    from voxpop.corpus.formats.msp import read_msp

    folder = shared_data.parent / "field-cases" / "07-msp-labels-detailed-csv"
    if not folder.is_dir():
        pytest.skip(f"field case folder {folder} is absent")
    corpus = read_msp(folder / "labels_detailed.csv", folder / "labels_consensus.csv", duplicates="first")
    labels = make_labels(corpus, "pr")
    votes = rater_votes(corpus, labels)
    items = ["MSP-PODCAST_0001_0008", "MSP-PODCAST_0001_0011", "MSP-PODCAST_0002_0033"]
    targets, outputs, counts = votes.targets(items, min_ratings_per_rater=2)
    assert outputs == ["WORKER00000101", "WORKER00000102", "WORKER00000103"] and votes.outside == 1
    voted = {(items[i], outputs[r], labels.classes[c]) for i, r, c in zip(*np.nonzero(targets), strict=True)}
    assert voted == {
        (items[0], "WORKER00000101", "neutral"), (items[0], "WORKER00000102", "sad"),
        (items[0], "WORKER00000103", "neutral"), (items[1], "WORKER00000101", "happy"),
        (items[2], "WORKER00000102", "angry"), (items[2], "WORKER00000103", "contempt"),
    }  # fmt: skip
    assert counts == {"rater_votes": 6, "raters_own_output": 3, "raters_shared_output": 0, "items_without_votes": 0}


# ---------------------------------------------------------------------------------------------- the masked loss
def test_a_rater_output_gets_no_gradient_from_items_it_did_not_rate():
    import torch

    from voxpop.models.heads import build_head
    from voxpop.models.losses import MaskedRaterLoss

    torch.manual_seed(0)
    head = build_head("per_rater", 3, 2, 3, trunk="linear", trunk_dim=4)
    x = torch.randn(3, 3)
    y = torch.zeros(3, 3, 2)
    y[0, 0, 1] = y[1, 0, 0] = y[2, 0, 1] = 1.0  # rater 0 rated every item
    y[1, 1] = torch.tensor([0.5, 0.5])  # rater 1 rated item 1 only (two conditions, two answers)
    # rater 2 rated nothing in this batch
    head(x)
    logits = head.rater_logits
    logits.retain_grad()
    loss = MaskedRaterLoss()(logits, y)
    loss.backward()
    # the loss: mean over the 4 rated (item, rater) pairs of -sum_c y log softmax(z), computed directly
    z = logits.detach().numpy().astype(np.float64)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    pairs = [(0, 0), (1, 0), (2, 0), (1, 1)]
    expected = np.mean([-(y[i, r].numpy() * log_p[i, r]).sum() for i, r in pairs])
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    grad = logits.grad
    assert torch.all(grad[[0, 2], 1] == 0) and torch.all(grad[:, 2] == 0)  # unrated pairs: exactly zero
    assert torch.all(grad[1, 1] != 0) and torch.all(grad[:, 0] != 0)
    assert torch.all(head.weight.grad[2] == 0) and torch.all(head.bias.grad[2] == 0)  # rater 2's layer untouched
    assert head.weight.grad[1].abs().sum() > 0


def test_the_item_prediction_is_the_mean_of_the_rater_probabilities():
    import torch

    from voxpop.models.heads import build_head

    torch.manual_seed(1)
    head = build_head("per_rater", 5, 3, 4, trunk="mlp", trunk_options={"hidden_dim": 8}, trunk_dim=6).eval()
    x = torch.randn(7, 5)
    item = torch.softmax(head(x), dim=-1)
    np.testing.assert_allclose(item.detach(), torch.softmax(head.rater_logits, dim=-1).mean(dim=1).detach(), atol=1e-6)


def test_crowd_layer_rater_logits_are_the_matrix_times_the_shared_probabilities():
    import torch

    from voxpop.models.heads import build_head

    torch.manual_seed(2)
    head = build_head("crowd_layer", 4, 3, 2, trunk="linear")
    with torch.no_grad():
        head.crowd.weight.copy_(torch.randn(2, 3, 3))
    x = torch.randn(5, 4)
    z = head(x)
    p = torch.softmax(z, dim=-1)
    expected = torch.einsum("rij,bj->bri", head.crowd.weight, p)
    np.testing.assert_allclose(head.rater_logits.detach(), expected.detach(), atol=1e-6)
    confusion = head.confusions()  # row k: softmax of column k of each rater's matrix
    w = head.crowd.weight.detach().numpy()
    np.testing.assert_allclose(confusion[1, 2], np.exp(w[1, :, 2]) / np.exp(w[1, :, 2]).sum(), atol=1e-6)
    np.testing.assert_allclose(head.diagonal_mass(), np.diagonal(confusion, axis1=1, axis2=2).mean(axis=1))


def test_rater_heads_refuse_missing_targets_and_other_losses():
    from voxpop.models.training import fit

    x, y = np.zeros((4, 2), np.float32), np.eye(2)[[0, 1, 0, 1]]
    config = TrainConfig(epochs=1, progress_bar=False)
    with pytest.raises(ConfigError, match="give rater_targets"):
        fit(x, y, head="per_rater", config=config)
    rater_y = np.zeros((4, 1, 2), np.float32)
    with pytest.raises(ConfigError, match="use loss 'ce'"):
        fit(x, y, head="crowd_layer", loss="kld", config=config, rater_targets=rater_y, raters=["r1"])
    with pytest.raises(InputError, match=r"rater_targets: shape \(4, 1, 2\), expected \(4 items, 2 raters"):
        fit(x, y, head="per_rater", config=config, rater_targets=rater_y, raters=["r1", "r2"])
    with pytest.raises(ConfigError, match="rater_targets / raters are for the heads"):
        fit(x, y, head="mlp", config=config, rater_targets=rater_y, raters=["r1"])
    with pytest.raises(ConfigError, match="head_options.trunk_options.hiden"):
        fit(x, y, head="per_rater", config=config, head_options={"trunk_options": {"hiden": 2}})


# ---------------------------------------------------------------------------------------------- simulated raters
ACCURACY = {"good1": 0.9, "good2": 0.9, "noisy1": 0.3, "noisy2": 0.3, "noisy3": 0.3, "noisy4": 0.3, "noisy5": 0.3}
N_TRAIN, N_TEST, N_CLASSES, DIM = 400, 1000, 4, 16
SIMULATED = TrainConfig(epochs=20, batch_size=64, patience=None, progress_bar=False, seed=0)
TRUNK = {"trunk": "mlp", "trunk_options": {"hidden_dim": 64, "dropout": 0.1}}


def _simulate(seed: int = 0):
    """True classes, features = 2 x one-hot(true class) + N(0, 1) noise in 16 dimensions, and 3 of the 7 raters per
    item: a rater of accuracy a gives the true class with probability a, else one of the other classes uniformly."""
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST
    truth = rng.integers(0, N_CLASSES, n)
    x = (2.0 * np.eye(N_CLASSES, DIM)[truth] + rng.normal(size=(n, DIM))).astype(np.float32)
    names, rows = list(ACCURACY), []
    for i in range(N_TRAIN):  # only training items are rated: the test items are scored on the truth
        for r in rng.choice(len(names), 3, replace=False):
            wrong = rng.choice([k for k in range(N_CLASSES) if k != truth[i]])
            label = truth[i] if rng.random() < ACCURACY[names[r]] else wrong
            rows.append((f"i{i:04d}", names[r], f"c{label}"))
    ratings = pd.DataFrame(rows, columns=["item", "rater", "label"])
    items = pd.DataFrame(index=[f"i{i:04d}" for i in range(N_TRAIN)])
    corpus = Corpus("simulated", items, ratings, classes=[f"c{k}" for k in range(N_CLASSES)])
    return truth, x, corpus


@pytest.fixture(scope="module")
def simulated():
    """The per_rater, crowd_layer and plurality-label (PR, ties dropped) models trained on the same ratings."""
    from voxpop.models.training import fit

    truth, x, corpus = _simulate()
    plurality = make_labels(corpus, "pr")
    mean_votes = make_labels(corpus, "primary")  # every item's vote distribution: the dev-free item target
    assert list(mean_votes.targets.index) == list(corpus.items.index)  # the rows of x
    votes = rater_votes(corpus, plurality)
    rater_y, outputs, _ = votes.targets(mean_votes.targets.index, min_ratings_per_rater=20)
    models = {
        head: fit(x[:N_TRAIN], mean_votes.targets, head=head, config=SIMULATED, rater_targets=rater_y,
                  raters=outputs, head_options={**TRUNK, **({"trunk_dim": 32} if head == "per_rater" else {})})
        for head in ("per_rater", "crowd_layer")
    }  # fmt: skip
    kept = plurality.kept.to_numpy()
    models["plurality"] = fit(
        x[:N_TRAIN][kept], plurality.kept_targets, head="mlp", config=SIMULATED,
        head_options=TRUNK["trunk_options"],
    )  # fmt: skip
    return truth[N_TRAIN:], x[N_TRAIN:], models, outputs


def _ranked_reliable_first(score: dict[str, float]) -> bool:
    good = [score[r] for r in ACCURACY if ACCURACY[r] > 0.5]
    noisy = [score[r] for r in ACCURACY if ACCURACY[r] < 0.5]
    return min(good) > max(noisy)


@pytest.mark.slow
def test_per_rater_outputs_rank_the_raters_as_simulated(simulated):
    truth, x, models, outputs = simulated
    assert sorted(outputs) == sorted(ACCURACY)  # 400 x 3 / 7 ~ 171 votes each: every rater has its own output
    model = models["per_rater"]
    accuracy = {r: float((model.predict_rater_proba(x, r).argmax(axis=1) == truth).mean()) for r in outputs}
    assert _ranked_reliable_first(accuracy), accuracy
    assert min(accuracy[r] for r in ("good1", "good2")) > 0.6


@pytest.mark.slow
def test_crowd_layer_matrices_rank_the_raters_as_simulated(simulated):
    from voxpop.models.rater_heads import rater_head

    _, _, models, outputs = simulated
    mass = dict(zip(outputs, rater_head(models["crowd_layer"].network).diagonal_mass(), strict=True))
    assert _ranked_reliable_first(mass), mass


@pytest.mark.slow
def test_the_mean_prediction_beats_a_plurality_label_model_on_the_true_labels(simulated):
    truth, x, models, _ = simulated
    accuracy = {name: float((m.predict_proba(x).argmax(axis=1) == truth).mean()) for name, m in models.items()}
    assert accuracy["per_rater"] >= accuracy["plurality"] + 0.05, accuracy  # seed 0: 0.789 vs 0.689


# ---------------------------------------------------------------------------------------------- train, predict, export
@pytest.mark.slow
def test_cli_train_predict_rater_and_export_a_per_rater_run(demo_corpus, demo_logreg_run, tmp_path):
    runner, env = CliRunner(), {"COLUMNS": "200"}
    run_dir = tmp_path / "run"
    result = runner.invoke(app, [
        "train", str(demo_corpus.dir), "--labels", "mr", "--condition", "voice", "--extractor", "fbank",
        "--store", str(demo_logreg_run.store), "--head", "per_rater", "--head-option", "trunk=linear",
        "--head-option", "trunk_dim=8", "--head-option", "min_ratings_per_rater=5", "--k", "3", "--epochs", "3",
        "--bootstrap", "20", "--out", str(run_dir),
    ], env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    from voxpop.models.saved_runs import load_run

    run = load_run(run_dir)
    models = run.fold_models()
    raters = models["fold1"].model.spec.raters
    counts = models["fold1"].model.spec.rater_counts
    assert raters and counts["raters_own_output"] == len(raters) - (OTHER_RATERS in raters)
    folds = pd.read_parquet(run.directory / "folds.parquet")  # the train stage's table of the folds
    assert folds.loc["fold1", "rater_votes"] == counts["rater_votes"] > 0
    files = list(demo_corpus.corpus.items["audio"].iloc[[0, 5]])
    own = next(r for r in raters if r != OTHER_RATERS)
    by_rater = runner.invoke(app, ["predict", str(run_dir), *files, "--rater", own, "--format", "json"], env=env)
    assert by_rater.exit_code == 0, by_rater.output
    assert len(json.loads(by_rater.stdout)) == 2
    unknown = runner.invoke(app, ["predict", str(run_dir), *files, "--rater", "nobody"], env=env)
    assert "no fold model has an output for this rater" in str(unknown.exception)
    if importlib.util.find_spec("onnxruntime") is None:
        return
    from voxpop.features import extract
    from voxpop.models.export import export_run, load_exported, predict_exported
    from voxpop.models.model_input import feature_input

    exported = load_exported(export_run(run_dir, tmp_path / "onnx"))
    extracted: list[tuple[int, int]] = []
    with pytest.raises(InputError, match="no fold has an output for rater 'nobody'"):
        predict_exported(exported.directory, files, rater="nobody", progress=lambda *done: extracted.append(done))
    assert extracted == []  # refused before any audio was read
    assert exported.card["raters"]["fold1"] == raters
    features = extract(demo_corpus.corpus, "fbank", store=demo_logreg_run.store)
    x = feature_input(features, features.items[:6])
    for fold, model in models.items():
        item, per_rater = exported.sessions[fold].run(["probabilities", "rater_probabilities"], {"x": x})
        np.testing.assert_allclose(item, model.predict_proba(x), atol=1e-5)
        for r, name in enumerate(model.model.spec.raters):
            np.testing.assert_allclose(per_rater[:, r], model.rater_proba(x, name), atol=1e-5)
        np.testing.assert_allclose(per_rater.mean(axis=1), item, atol=1e-5)  # per_rater: the mean of the raters


def test_a_crowd_layer_fine_tunes_a_backbone_from_the_rater_votes(tiny_wavlm_dir):
    import torch

    from voxpop.models.heads import BackboneClassifier, load_backbone
    from voxpop.models.rater_heads import CrowdLayerHead, rater_head
    from voxpop.models.specs import BackboneConfig
    from voxpop.models.training import fit

    rng = np.random.default_rng(0)
    audio = [rng.normal(size=4000).astype(np.float32) for _ in range(6)]
    y = np.eye(2)[[0, 1, 0, 1, 0, 1]]
    rater_y = np.stack([y, np.roll(y, 1, axis=0) * [[1], [0], [1], [0], [1], [0]]], axis=1).astype(np.float32)
    config = TrainConfig(epochs=2, batch_size=3, patience=None, progress_bar=False, accelerator="cpu",
                         backbone=BackboneConfig(path=str(tiny_wavlm_dir)))  # fmt: skip
    before = {k: v.clone() for k, v in load_backbone(str(tiny_wavlm_dir)).state_dict().items()}
    model = fit(audio, y, head="crowd_layer", config=config, head_options={"trunk": "linear"},
                rater_targets=rater_y, raters=["r1", "r2"])  # fmt: skip
    assert isinstance(model.network, BackboneClassifier) and isinstance(rater_head(model.network), CrowdLayerHead)
    after = model.network.backbone.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("encoder.layers"))
    probs = model.predict_rater_proba(audio, "r2")
    assert probs.shape == (6, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
