"""Contract checks of every head, classical model and loss of :mod:`voxpop.models.specs` (issue #22, item 7).

The checks are parametrized over :data:`~voxpop.models.specs.HEADS` + :data:`~voxpop.models.specs.CLASSICAL`
and :data:`~voxpop.models.specs.LOSSES` themselves; :data:`HEAD_EXAMPLES` and :data:`LOSS_EXAMPLES` are the one
place a new head or loss names the input, targets and options it is checked with, and the coverage tests fail
until it does. Heads: a few epochs on a tiny seeded dataset give outputs of the declared shape (class
probabilities summing to 1, or one value per dimension); the same seed gives identical predictions; save ->
load predicts identically; an unknown option is a ConfigError naming it; the head is listed in the recipe
docs. Losses: a finite scalar with a finite, non-zero gradient; targets of the wrong shape are an InputError;
an unknown option is a ConfigError; the loss is listed in the recipe docs. Torch loads inside the tests only
(collecting the suite imports no training stack).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from voxpop.core.errors import ConfigError, InputError
from voxpop.models.specs import CLASSICAL, HEADS, LOSSES, RATER_HEADS, REGRESSORS, TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DOCS = Path(__file__).resolve().parents[2] / "docs" / "recipes.md"
N_ITEMS, DIM, N_CLASSES, N_DIMENSIONS = 24, 4, 3, 2

HEAD_EXAMPLES: dict[str, tuple[str, dict]] = {
    "linear": ("vector", {}),
    "mlp": ("vector", {"hidden_dim": 8}),
    "residual": ("vector", {"hidden_dim": 8}),
    "attentive_stats": ("frames", {"attention_dim": 4}),
    "lstm": ("frames", {"hidden_size": 4}),
    "per_rater": ("vector", {"trunk": "linear", "trunk_dim": 4, "min_ratings_per_rater": 5}),
    "crowd_layer": ("frames", {"trunk": "attentive_stats", "trunk_options": {"attention_dim": 4}}),
    "svm": ("vector", {"calibration_folds": 2}),
    "logreg": ("vector", {}),
    "svr": ("vector", {}),
    "ridge": ("vector", {}),
}
"""Head -> (input: ``vector`` items x D or ``frames`` a list of T x D sequences, head options): the one place a
new head adds its example. Regressors (:data:`REGRESSORS`) learn dimensions with loss ``mse``; the rater-aware heads
(:data:`RATER_HEADS`) also learn :func:`_rater_targets`."""

LOSS_EXAMPLES: dict[str, tuple[str, dict]] = {
    "ce": ("distribution", {}),
    "wce": ("distribution", {}),
    "bce": ("multi-hot", {}),
    "wbce": ("multi-hot", {}),
    "cbce": ("distribution", {"beta": 0.9}),
    "kld": ("distribution", {}),
    "mse": ("dimensions", {"weights": [3, 1]}),
    "ccc": ("dimensions", {}),
    "multitask": ("classes+dimensions", {"dimensions": ["arousal", "valence"], "dimension_loss": "mse"}),
}
"""Loss -> (kind of training targets, loss options): the one place a new loss adds its example."""

HEAD_NAMES = sorted((*HEADS, *CLASSICAL))


def _data(seed: int = 0):
    """Items x DIM features (or frame sequences of 3..6 steps), soft class targets with every class present, and
    two dimension values per item; the classes are separable from the first features."""
    rng = np.random.default_rng(seed)
    classes = np.arange(N_ITEMS) % N_CLASSES
    x = (2 * np.eye(N_CLASSES, DIM)[classes] + rng.normal(size=(N_ITEMS, DIM))).astype(np.float32)
    frames = [x[i] + 0.1 * rng.normal(size=(int(t), DIM)).astype(np.float32) for i, t in enumerate(x[:, 0] % 4 + 3)]
    soft = 0.8 * np.eye(N_CLASSES)[classes] + 0.2 / N_CLASSES
    dimensions = np.stack([x[:, 0] + 0.1 * rng.normal(size=N_ITEMS), x[:, 1] - x[:, 2]], axis=1)
    return {"vector": x, "frames": frames}, soft, dimensions


def _rater_targets() -> tuple[np.ndarray, list[str]]:
    """Three raters' votes (items x 3 x classes): r1 and r2 give every item its class, r3 every other item the next
    class and no vote on the rest (a zero row, masked out of the loss)."""
    classes = np.arange(N_ITEMS) % N_CLASSES
    y = np.zeros((N_ITEMS, 3, N_CLASSES), dtype=np.float32)
    y[:, 0] = y[:, 1] = np.eye(N_CLASSES)[classes]
    y[::2, 2] = np.eye(N_CLASSES)[(classes[::2] + 1) % N_CLASSES]
    return y, ["r1", "r2", "r3"]


def _fit(head: str, seed: int):
    from voxpop.models.training import fit

    kind, options = HEAD_EXAMPLES[head]
    inputs, soft, dimensions = _data()
    config = TrainConfig(epochs=3, batch_size=8, seed=seed, patience=None, progress_bar=False)
    if head in REGRESSORS:
        return fit(inputs[kind], dimensions, head=head, loss="mse", config=config, head_options=options)
    if head in RATER_HEADS:
        rater_targets, raters = _rater_targets()
        return fit(inputs[kind], soft, head=head, config=config, head_options=options, rater_targets=rater_targets,
                   raters=raters)  # fmt: skip
    return fit(inputs[kind], soft, head=head, config=config, head_options=options)


def _predict(model, head: str) -> np.ndarray:
    x = _data()[0][HEAD_EXAMPLES[head][0]]
    return model.predict(x) if head in REGRESSORS else model.predict_proba(x)


def test_every_head_and_loss_has_an_example():
    assert sorted(HEAD_EXAMPLES) == HEAD_NAMES, "add the new head's input and options to HEAD_EXAMPLES"
    assert sorted(LOSS_EXAMPLES) == sorted(LOSSES), "add the new loss's targets and options to LOSS_EXAMPLES"


@pytest.mark.parametrize("head", HEAD_NAMES)
def test_head_outputs_have_the_declared_shape(head):
    predictions = _predict(_fit(head, seed=0), head)
    if head in REGRESSORS:
        assert predictions.shape == (N_ITEMS, N_DIMENSIONS)
    else:
        assert predictions.shape == (N_ITEMS, N_CLASSES)
        assert ((predictions >= 0) & (predictions <= 1)).all()
        np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=0, atol=1e-6)
    assert np.isfinite(predictions).all()


@pytest.mark.parametrize("head", HEAD_NAMES)
def test_same_seed_gives_identical_predictions(head):
    assert np.array_equal(_predict(_fit(head, seed=7), head), _predict(_fit(head, seed=7), head))


@pytest.mark.parametrize("head", HEAD_NAMES)
def test_saved_and_loaded_head_predicts_identically(head, tmp_path):
    from voxpop.models.trained_model import TrainedModel

    model = _fit(head, seed=0)
    loaded = TrainedModel.load(model.save(tmp_path / head))
    assert loaded.spec == model.spec
    assert np.array_equal(_predict(loaded, head), _predict(model, head))


@pytest.mark.parametrize("head", HEAD_NAMES)
def test_unknown_head_option_is_a_config_error(head):
    from voxpop.models.training import fit

    kind = HEAD_EXAMPLES[head][0]
    inputs, soft, dimensions = _data()
    targets, loss = (dimensions, "mse") if head in REGRESSORS else (soft, "ce")
    with pytest.raises(ConfigError, match="no_such_option"):
        fit(inputs[kind], targets, head=head, loss=loss, config=TrainConfig(epochs=1, progress_bar=False),
            head_options={"no_such_option": 1})  # fmt: skip


def _docs_row(key: str) -> str:
    rows = [line for line in DOCS.read_text().splitlines() if line.startswith((f"| `{key}` ", f"| `{key}`,"))]
    assert len(rows) == 1, f"{DOCS.name}: expected one table row for `{key}`"
    return rows[0]


@pytest.mark.parametrize("head", HEAD_NAMES)
def test_head_is_listed_in_the_recipe_docs(head):
    assert f"`{head}`" in _docs_row("head"), f"{DOCS.name}: the `head` row does not list {head!r}"


# ---------------------------------------------------------------------------------------------------- losses
def _targets(loss: str) -> tuple[np.ndarray, list[str]]:
    """The example's training targets (items x columns) and column names."""
    _, soft, dimensions = _data()
    classes, names = ["neutral", "anger", "happy"], ["arousal", "valence"]
    kind = LOSS_EXAMPLES[loss][0]
    if kind == "distribution":
        return soft, classes
    if kind == "multi-hot":  # every item its own class, every other item the next class too
        hot = np.eye(N_CLASSES)[np.arange(N_ITEMS) % N_CLASSES]
        hot[::2] += np.eye(N_CLASSES)[(np.arange(0, N_ITEMS, 2) + 1) % N_CLASSES]
        return hot, classes
    if kind == "dimensions":
        return dimensions, names
    return np.concatenate([soft, dimensions], axis=1), classes + names


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_loss_is_a_finite_scalar_with_a_finite_gradient(loss):
    import torch

    from voxpop.models.losses import make_loss

    targets, columns = _targets(loss)
    module = make_loss(loss, targets, columns, **LOSS_EXAMPLES[loss][1])
    assert (module.multilabel, module.regression) == (LOSSES[loss].multilabel, LOSSES[loss].regression)
    outputs = torch.randn(targets.shape, generator=torch.Generator().manual_seed(0), requires_grad=True)
    value = module(outputs, torch.as_tensor(targets, dtype=torch.float32))
    assert value.shape == () and torch.isfinite(value)
    value.backward()
    assert outputs.grad is not None and torch.isfinite(outputs.grad).all() and outputs.grad.abs().sum() > 0


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_targets_of_the_wrong_shape_are_an_input_error(loss):
    import torch

    from voxpop.models.losses import make_loss

    targets, columns = _targets(loss)
    module = make_loss(loss, targets, columns, **LOSS_EXAMPLES[loss][1])
    outputs = torch.zeros(targets.shape)
    y = torch.as_tensor(targets, dtype=torch.float32)
    for wrong in (y[:, :1], y[:, :-1], y[:-1]):  # (N, 1) would broadcast over every output column
        with pytest.raises(InputError, match=re.escape(f"targets of shape {tuple(wrong.shape)} for outputs")):
            module(outputs, wrong)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_unknown_loss_option_is_a_config_error(loss):
    from voxpop.models.losses import make_loss

    targets, columns = _targets(loss)
    with pytest.raises(ConfigError, match="no_such_option"):
        make_loss(loss, targets, columns, **LOSS_EXAMPLES[loss][1], no_such_option=1)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_loss_is_listed_in_the_recipe_docs(loss):
    assert f"`{loss}`" in _docs_row("loss"), f"{DOCS.name}: the `loss` row does not list {loss!r}"
