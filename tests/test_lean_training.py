"""The lean training loop for heads on cached features: the same numbers as the Lightning path and as a
hand-written torch loop, length buckets, the devices it takes, and prompt SIGTERM / Ctrl-C.

torch is imported inside the tests: collecting the suite imports no training stack (tests/test_collection.py).
"""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from voxpop.core.errors import InputError
from voxpop.core.stopping import Stopped
from voxpop.models.specs import BackboneConfig, TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def blobs(n: int, seed: int, dim: int = 6, n_classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    x = 2 * np.eye(n_classes, dim)[labels] + rng.normal(size=(n, dim))
    return x.astype(np.float32), np.eye(n_classes)[labels]


def sequences(n: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Frame sequences of 3 to 40 frames: with max_batch_frames 60 the length buckets cut real batches."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    frames = [(np.eye(2, 4)[c] + rng.normal(size=(rng.integers(3, 41), 4))).astype(np.float32) for c in labels]
    return frames, np.eye(2)[labels]


def layers(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The blobs as (N, 3, D) per-layer vectors (the layer-weighted sum's input)."""
    x, y = blobs(n, seed)
    return np.stack([x, 0.5 * x, -x], axis=1), y


def both_paths(monkeypatch, x, y, dx, dy, **kwargs):
    """fit on the lean loop, then the same call with the lean loop switched off (Lightning)."""
    import voxpop.models.training as training

    lean = training.fit(x, y, dx, dy, **kwargs)
    monkeypatch.setattr(training, "lean_device", lambda config, precision: None)
    return lean, training.fit(x, y, dx, dy, **kwargs)


CASES = {
    "mlp-dropout-accumulate-macro_f1": (
        lambda: (*blobs(150, 0), *blobs(60, 1)),
        {"head": "mlp", "head_options": {"hidden_dim": 32, "dropout": 0.3}},
        {"accumulate_grad_batches": 3, "monitor": "macro_f1", "schedule": "linear", "warmup_steps": 3},
    ),
    "layers-balanced-uar": (
        lambda: (*layers(90, 2), *layers(40, 3)),
        {"head": "mlp", "head_options": {"hidden_dim": 16}},
        {"balanced_sampling": True, "monitor": "uar", "schedule": "cosine"},
    ),
    "lstm-length-buckets": (
        lambda: (*sequences(60, 4), *sequences(30, 5)),
        {"head": "lstm", "head_options": {"hidden_size": 8}},
        {"max_batch_frames": 60, "monitor": "loss"},
    ),
    # 120 = 15 x 8: no partial last batch, after which the DataLoader leaves the seeded sampler unread
    "linear-full-batches": (
        lambda: (*blobs(120, 10), *blobs(50, 11)),
        {"head": "linear"},
        {"monitor": "loss"},
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_the_lean_loop_gives_the_lightning_paths_numbers_for_a_fixed_seed(monkeypatch, case):
    """Same weights (bit for bit: same batches, dropout masks, AdamW steps, schedule, best epoch) and the
    same history; dev losses may differ by float rounding only (one pass instead of batches of batch_size)."""
    import torch

    data, model, train = CASES[case]
    x, y, dx, dy = data()
    config = TrainConfig(epochs=6, lr=1e-2, batch_size=8, patience=2, progress_bar=False, seed=3, **train)
    lean, lightning = both_paths(monkeypatch, x, y, dx, dy, config=config, **model)
    assert len(lean.history) == len(lightning.history) >= 3
    for ours, theirs in zip(lean.history, lightning.history, strict=True):
        assert ours.keys() == theirs.keys()
        assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-7)
    ours, theirs = lean.network.state_dict(), lightning.network.state_dict()
    assert ours.keys() == theirs.keys()
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key], rtol=0, atol=1e-6)
    np.testing.assert_allclose(lean.predict_proba(dx), lightning.predict_proba(dx), atol=1e-6)


def rater_votes_of(y: np.ndarray, seed: int, n_raters: int = 3) -> np.ndarray:
    """Per-rater targets (N, R, C) for one-hot ``y``: each rater rates an item with probability 0.6 and gives its
    class with probability 0.8 (else class 0); the last rater rates nothing (its output gets no gradient)."""
    rng = np.random.default_rng(seed)
    n, c = y.shape
    votes = np.zeros((n, n_raters, c), dtype=np.float32)
    for r in range(n_raters - 1):
        rated = rng.random(n) < 0.6
        right = rng.random(n) < 0.8
        votes[rated, r] = np.where(right[rated, None], y[rated], np.eye(c)[0])
    return votes


RATER_CASES = {
    "per_rater-dropout-uar": (
        lambda: (*blobs(120, 10), *blobs(50, 11)),
        {"head": "per_rater", "head_options": {"trunk": "mlp", "trunk_options": {"hidden_dim": 16, "dropout": 0.3},
                                               "trunk_dim": 8}},
        {"monitor": "uar", "accumulate_grad_batches": 2},
    ),
    "crowd_layer-lstm-length-buckets": (
        lambda: (*sequences(60, 12), *sequences(30, 13)),
        {"head": "crowd_layer", "head_options": {"trunk": "lstm", "trunk_options": {"hidden_size": 8}}},
        {"max_batch_frames": 60, "monitor": "loss"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", RATER_CASES)
def test_rater_heads_train_on_the_lean_loop_with_the_lightning_paths_numbers(monkeypatch, case):
    """per_rater and crowd_layer (issue #27) train on the lean loop from their per-rater targets (the masked
    rater loss; dev scored on the item prediction): the weights and history of the Lightning path, whose
    HeadModule trains on the same loss."""
    import torch

    from voxpop.models.lean_training import lean_device

    data, model, train = RATER_CASES[case]
    x, y, dx, dy = data()
    config = TrainConfig(epochs=5, lr=1e-2, batch_size=8, patience=2, progress_bar=False, seed=5, **train)
    assert lean_device(config, "32-true") is not None  # the first fit below takes the lean loop
    raters = {"rater_targets": rater_votes_of(y, 0), "raters": ["r1", "r2", "r3"]}
    lean, lightning = both_paths(monkeypatch, x, y, dx, dy, config=config, **model, **raters)
    assert len(lean.history) == len(lightning.history) >= 3
    for ours, theirs in zip(lean.history, lightning.history, strict=True):
        assert ours.keys() == theirs.keys() and f"dev_{config.monitor}" in ours
        assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-7)
    ours, theirs = lean.network.state_dict(), lightning.network.state_dict()
    assert ours.keys() == theirs.keys()
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key], rtol=0, atol=1e-6)
    np.testing.assert_allclose(lean.predict_proba(dx), lightning.predict_proba(dx), atol=1e-6)
    np.testing.assert_allclose(lean.predict_rater_proba(dx, "r2"), lightning.predict_rater_proba(dx, "r2"), atol=1e-6)


def test_a_rater_output_that_rated_nothing_only_decays_on_the_lean_loop():
    """The lean loop's loss is the masked rater loss: the output of a rater with no votes gets a zero gradient,
    so AdamW leaves its weights at their initial values times (1 - lr * weight_decay) per step; the outputs
    of the raters who voted move."""
    import torch

    from voxpop.models.heads import build_head
    from voxpop.models.training import fit

    x, y = blobs(40, 14)
    votes = rater_votes_of(y, 1)
    assert not votes[:, 2].any() and votes[:, :2].any()
    config = TrainConfig(epochs=3, lr=0.05, weight_decay=0.1, batch_size=16, patience=None, progress_bar=False, seed=9)
    options = {"trunk": "linear", "trunk_dim": 4}
    model = fit(x, y, head="per_rater", head_options=options, config=config, rater_targets=votes,
                raters=["r1", "r2", "r3"])  # fmt: skip
    torch.manual_seed(9)  # fit seeds, then builds the head: the same initial weights
    initial = build_head("per_rater", 6, 3, 3, **options)
    steps = 3 * 3  # ceil(40 / 16) batches per epoch
    decay = (1 - 0.05 * 0.1) ** steps
    trained = model.network
    torch.testing.assert_close(trained.weight[2], initial.weight[2].detach() * decay, rtol=1e-5, atol=0)
    torch.testing.assert_close(trained.bias[2], initial.bias[2].detach() * decay, rtol=1e-5, atol=0)
    for r in (0, 1):
        assert not torch.allclose(trained.weight[r], initial.weight[r].detach() * decay, rtol=1e-3, atol=0)


def test_the_lean_loop_equals_a_hand_written_torch_loop():
    """A linear head, soft-target cross-entropy, AdamW at a constant rate, random batches of 16 from a seeded
    sampler, best dev loss weights restored: the plain loop written out here gives the same weights."""
    import torch

    from voxpop.models.training import fit

    x, y = blobs(100, 7)
    dx, dy = blobs(40, 8)
    config = TrainConfig(epochs=5, lr=0.05, batch_size=16, patience=None, progress_bar=False, seed=11)
    model = fit(x, y, dx, dy, head="linear", config=config)

    torch.manual_seed(11)
    net = torch.nn.Linear(6, 3)
    optimiser = torch.optim.AdamW(net.parameters(), lr=0.05, betas=(0.9, 0.999), weight_decay=0.01)
    sampler = torch.utils.data.RandomSampler(range(100), generator=torch.Generator().manual_seed(11))
    tx, ty, tdx, tdy = (torch.from_numpy(np.asarray(a, dtype=np.float32)) for a in (x, y, dx, dy))
    best, best_state, dev_losses = np.inf, None, []
    for _ in range(5):
        order = torch.tensor(list(sampler))  # a permutation per epoch (torch's sampler, as every loop draws it)
        for start in range(0, 100, 16):
            index = order[start : start + 16]
            loss = -(ty[index] * torch.log_softmax(net(tx[index]), dim=1)).sum(dim=1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            dev_loss = float(-(tdy * torch.log_softmax(net(tdx), dim=1)).sum(dim=1).mean())
        dev_losses.append(dev_loss)
        if dev_loss < best:
            best, best_state = dev_loss, {k: v.clone() for k, v in net.state_dict().items()}
    assert [h["dev_loss"] for h in model.history] == pytest.approx(dev_losses, rel=1e-6)
    state = model.network.state_dict()
    torch.testing.assert_close(state["out.weight"], best_state["weight"], rtol=0, atol=1e-6)
    torch.testing.assert_close(state["out.bias"], best_state["bias"], rtol=0, atol=1e-6)


def test_the_lean_loop_trains_on_the_length_buckets():
    """The batches of frame sequences are the length buckets: no padded batch above max_batch_frames."""
    import torch

    from voxpop.models.batching import ItemTensors, LengthBucketBatchSampler, batching, epoch_batches

    x, _ = sequences(40, 6)
    sampler = torch.utils.data.RandomSampler(range(40), generator=torch.Generator().manual_seed(0))
    planned = batching(x, list(range(40)), 0, sampler, 8, 60)
    assert isinstance(planned["batch_sampler"], LengthBucketBatchSampler)
    items = ItemTensors(x, 0, list(range(40)), "train_x")
    seen = []
    for positions in epoch_batches(planned):
        batch, mask = items.take(positions)
        longest = max(len(x[i]) for i in positions)
        assert batch.shape == (len(positions), longest, 4) and len(positions) * longest <= max(60, longest)
        assert mask.sum(dim=1).tolist() == [len(x[i]) for i in positions]
        for row, i in enumerate(positions):  # each item in place, zero padding after it
            np.testing.assert_array_equal(batch[row, : len(x[i])].numpy(), x[i])
            assert not batch[row, len(x[i]) :].any()
        seen += positions
    assert sorted(seen) == list(range(40))


def test_layer_frames_are_padded_on_their_time_axis():
    from voxpop.models.batching import ItemTensors

    a, b = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4), np.ones((2, 5, 4), dtype=np.float32)
    batch, mask = ItemTensors([a, b], 1, ["a", "b"], "train_x").take([0, 1])
    assert batch.shape == (2, 2, 5, 4)
    np.testing.assert_array_equal(batch[0, :, :3].numpy(), a)
    assert not batch[0, :, 3:].any() and mask.tolist() == [[True] * 3 + [False] * 2, [True] * 5]


def test_non_finite_features_are_named_before_training():
    from voxpop.models.training import fit

    x, y = blobs(20, 0)
    x[[4, 9], 2] = [np.nan, np.inf]
    with pytest.raises(InputError, match=r"train_x: item 4, 9 has NaN or infinite feature values \(2 item"):
        fit(x, y, config=TrainConfig(epochs=1, progress_bar=False))


@pytest.mark.parametrize(
    ("options", "precision", "lean"),
    [
        ({"accelerator": "cpu"}, "32-true", "cpu"),
        ({"accelerator": "cpu"}, "bf16-mixed", "cpu"),
        ({"accelerator": "cpu", "devices": 2}, "32-true", None),
        ({"accelerator": "cpu", "strategy": "ddp"}, "32-true", None),
        ({"accelerator": "cpu", "num_nodes": 2}, "32-true", None),
        ({"accelerator": "cpu"}, "16-mixed", None),
        ({"accelerator": "cpu", "backbone": BackboneConfig(path="wavlm")}, "32-true", None),
        ({"accelerator": "tpu"}, "32-true", None),
    ],
)
def test_lightning_keeps_backbones_several_devices_strategies_and_16_bit(options, precision, lean):
    from voxpop.models.lean_training import lean_device

    device = lean_device(TrainConfig(**options), precision)
    assert (None if device is None else device.type) == lean


@pytest.mark.parametrize(("signum", "raised"), [(signal.SIGTERM, Stopped), (signal.SIGINT, KeyboardInterrupt)])
def test_sigterm_and_ctrl_c_stop_a_lean_fit_at_once(signum, raised):
    """A fit of 100,000 epochs, signalled after half a second, ends within seconds, and the process's
    handlers are back afterwards."""
    from voxpop.models.training import fit

    x, y = blobs(200, 0)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signum))
    config = TrainConfig(epochs=100_000, batch_size=8, patience=None, progress_bar=False)
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(raised):
            fit(x, y, config=config, head="mlp", head_options={"hidden_dim": 8})
    finally:
        timer.cancel()
    assert time.monotonic() - started < 10
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


@pytest.mark.parametrize("warmup", [0, 3])
@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_the_schedules_are_transformers_get_scheduler_bit_for_bit(schedule, warmup):
    """Every learning rate of a 17-step fit equals transformers' (constant: constant_with_warmup) exactly."""
    import torch
    from transformers import get_scheduler

    from voxpop.models.optimisation import make_optimiser

    ours_optimiser, ours = make_optimiser(torch.nn.Linear(2, 2), TrainConfig(lr=0.1, schedule=schedule,
                                                                             warmup_steps=warmup), 17)  # fmt: skip
    theirs_optimiser = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    name = "constant_with_warmup" if schedule == "constant" else schedule
    theirs = get_scheduler(name, theirs_optimiser, num_warmup_steps=warmup, num_training_steps=17)
    rates = []
    for _ in range(18):
        assert ours.get_last_lr() == theirs.get_last_lr()
        rates.append(ours.get_last_lr()[0])
        for optimiser, scheduler in ((ours_optimiser, ours), (theirs_optimiser, theirs)):
            optimiser.step()
            scheduler.step()
    assert rates[warmup] == 0.1 and (rates[17] == 0.0) == (schedule != "constant")
