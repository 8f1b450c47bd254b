"""Backbone fine-tuning on backbones that keep the released configs' regularisation (LayerDrop, dropouts,
SpecAugment), the learning-rate schedule, bf16 on CPU, runs from the CLI and from a recipe, and a two-process
gloo DDP run that matches a one-process run."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from voxpop.cli import app
from voxpop.core.errors import ConfigError
from voxpop.corpus.demo import make_demo_corpus
from voxpop.features import make_extractor
from voxpop.models.saved_runs import load_run
from voxpop.models.specs import BackboneConfig, TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RELEASED = {"wavlm": "WavLM", "hubert": "Hubert", "wav2vec2": "Wav2Vec2"}  # name: transformers class prefix
SMALL = {
    "hidden_size": 16,
    "num_hidden_layers": 3,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "conv_dim": (8, 8),
    "conv_stride": (5, 4),
    "conv_kernel": (10, 8),
    "num_conv_pos_embeddings": 8,
    "num_conv_pos_embedding_groups": 2,
}
"""Only widths and depths shrink (20x downsampling: 2 conv layers); every regularisation default stays."""
WAVLM_SMALL = {"num_buckets": 16, "max_bucket_distance": 100}  # size of WavLM's relative position bias
QUIET = {"progress_bar": False, "accelerator": "cpu"}


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> dict[str, Path]:
    """Tiny WavLM, HuBERT and wav2vec 2.0 built from the released configs' defaults, saved with save_pretrained."""
    import torch
    import transformers

    dirs = {}
    for name, prefix in RELEASED.items():
        config = getattr(transformers, f"{prefix}Config")(**SMALL, **(WAVLM_SMALL if name == "wavlm" else {}))
        path = tmp_path_factory.mktemp(name)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            getattr(transformers, f"{prefix}Model")(config).save_pretrained(path)
        dirs[name] = path
    return dirs


@pytest.mark.parametrize("name", RELEASED)
def test_the_tiny_backbones_keep_the_released_regularisation(released, name):
    import transformers

    config = transformers.AutoConfig.from_pretrained(released[name])
    defaults = getattr(transformers, f"{RELEASED[name]}Config")()
    for key in ("layerdrop", "hidden_dropout", "attention_dropout", "mask_time_prob", "mask_time_length"):
        assert getattr(config, key) == getattr(defaults, key), key
    assert (config.layerdrop, config.mask_time_prob, config.mask_time_length) == (0.1, 0.05, 10)


@pytest.mark.parametrize("name", RELEASED)
def test_every_hidden_state_in_training_despite_layerdrop(released, name):
    import torch
    from transformers import AutoConfig

    from voxpop.models.heads import BackboneClassifier, LinearHead, load_backbone

    network = BackboneClassifier(load_backbone(str(released[name])), LinearHead(16, 2)).train()
    assert network.backbone.config.layerdrop == 0.0
    assert AutoConfig.from_pretrained(released[name]).layerdrop == 0.1  # the checkpoint itself is untouched
    torch.manual_seed(0)
    for _ in range(20):  # with layerdrop 0.1 over 3 layers, 20 passes without a dropped layer: p < 0.02
        states, frame_mask = network.hidden_states(torch.randn(2, 800))
        assert states.shape[:3] == (2, 4, 38) and frame_mask.all()
    network(torch.randn(2, 800)).sum().backward()


@pytest.mark.parametrize("name", RELEASED)
def test_spec_augment_on_clips_shorter_than_its_mask(released, name):
    import torch

    from voxpop.models.heads import BackboneClassifier, LinearHead, load_backbone

    backbone = load_backbone(str(released[name]))
    network = BackboneClassifier(backbone, LinearHead(16, 2)).train()
    short = torch.randn(2, 150)
    assert int(backbone._get_feat_extract_output_lengths(150)) == 6 < backbone.config.mask_time_length
    with pytest.raises(ValueError, match="mask_length"):
        backbone(short)  # transformers alone cannot place a 10-frame mask in 6 frames
    assert torch.isfinite(network(short)).all()
    padded = torch.zeros(2, 4000)  # a short clip padded beside a long one: masks go to the long clip only
    padded[0], padded[1, :150] = torch.randn(4000), short[0]
    mask = torch.arange(4000)[None, :] < torch.tensor([[4000], [150]])
    assert torch.isfinite(network(padded, mask)).all()


def clips(n: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """n short tones (0.1-0.2 s, shorter than some SpecAugment masks) of two classes, one-hot targets."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    audio = [
        (0.3 * np.sin(2 * np.pi * (300 if c else 2000) * np.arange(rng.integers(1600, 3200)) / 16000)).astype(
            np.float32
        )
        for c in labels
    ]
    return audio, np.eye(2)[labels]


def test_fine_tuning_released_defaults_with_separate_rates_warmup_and_accumulation(released):
    from voxpop.models.training import fit

    audio, y = clips(8, 0)
    backbone = BackboneConfig(path=str(released["hubert"]))
    config = TrainConfig(
        epochs=3,
        batch_size=2,
        accumulate_grad_batches=2,  # 4 batches -> 2 optimiser steps per epoch, 6 in all
        lr=1e-2,
        backbone_lr=1e-4,
        warmup_steps=2,
        schedule="linear",
        patience=None,
        backbone=backbone,
        **QUIET,
    )
    model = fit(audio, y, audio[:4], y[:4], head="mlp", config=config, head_options={"hidden_dim": 8})
    # linear warm-up to step 2, then linear decay to 0 at step 6 (transformers' get_linear_schedule_with_warmup)
    factors = [(6 - step) / (6 - 2) for step in (2, 4, 6)]
    np.testing.assert_allclose([h["lr"] for h in model.history], [1e-2 * f for f in factors])
    np.testing.assert_allclose([h["backbone_lr"] for h in model.history], [1e-4 * f for f in factors])
    assert model.network.backbone.config.layerdrop == 0.0 and model.network.backbone.config.mask_time_prob == 0.05
    assert np.isfinite(model.predict_proba(audio)).all()


def test_cosine_schedule_and_warmup_ratio():
    from voxpop.models.training import fit

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(20, 4)).astype(np.float32), np.eye(2)[np.arange(20) % 2]
    config = TrainConfig(epochs=4, batch_size=5, lr=0.1, warmup_ratio=0.25, schedule="cosine", patience=None, **QUIET)
    history = fit(x, y, config=config, head="linear").history  # 16 steps, warm-up ceil(0.25 * 16) = 4
    expected = [0.1 * 0.5 * (1 + math.cos(math.pi * (s - 4) / 12)) for s in (4, 8, 12, 16)]
    np.testing.assert_allclose([h["lr"] for h in history], expected, atol=1e-12)
    with pytest.raises(ValueError, match="not both"):
        TrainConfig(warmup_steps=2, warmup_ratio=0.1)


def test_bf16_autocast_on_cpu(monkeypatch):
    import torch

    from voxpop.models.heads import MLPHead
    from voxpop.models.training import fit

    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(12, 4)).astype(np.float32), np.eye(2)[np.arange(12) % 2]
    seen, forward = [], MLPHead.forward

    def recording(self, *args):
        logits = forward(self, *args)
        seen.append(logits.dtype)
        return logits

    monkeypatch.setattr(MLPHead, "forward", recording)
    model = fit(x, y, config=TrainConfig(epochs=1, batch_size=4, precision="bf16-mixed", **QUIET), head="mlp")
    assert seen == [torch.bfloat16] * 3  # three training batches under CPU autocast (the lean loop, as Lightning)
    assert np.isfinite(model.predict_proba(x)).all()
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        fit(x, y, config=TrainConfig(epochs=1, precision="16-mixed", **QUIET))


# ====================================================================== CLI and recipe on demo-like clips
@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """A demo corpus of 6 speakers x 4 clips (0.6-0.8 s), two classes."""
    root = tmp_path_factory.mktemp("ft-demo")
    make_demo_corpus(root, "tiny", clips_per_speaker=4, classes=("neutral", "anger"), seconds=(0.6, 0.8))
    return root / "corpus"


def test_fine_tuning_from_the_cli(released, demo, tmp_path):
    backbone = released["wavlm"]
    args = ["train", str(demo), "--labels", "ar", "--condition", "voice", "--backbone", str(backbone)]
    args += ["--trainable-layers", "2", "--backbone-lr", "1e-4", "--lr", "1e-3", "--warmup-ratio", "0.5"]
    args += ["--schedule", "cosine", "--head", "linear", "--epochs", "1", "--batch-size", "2", "--k", "3"]
    args += ["--store", str(tmp_path / "store"), "--bootstrap", "20", "--threads", "1", "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    predictions = load_run(tmp_path / "run").predictions
    assert len(predictions) == 24  # every clip predicted once, out of fold
    folds = sorted((tmp_path / "run").glob("**/model.json"))
    assert len(folds) == 3
    meta = json.loads(folds[0].read_text())
    assert meta["spec"]["input"]["kind"] == "audio" and len(meta["history"]) == 1
    assert meta["spec"]["config"]["backbone"]["path"] == str(backbone)
    assert meta["history"][0]["backbone_lr"] < 1e-4  # after warm-up, into the cosine decay

    wavs = sorted((demo.parent / "audio").glob("*.wav"))[:2]
    result = CliRunner().invoke(
        app, ["predict", str(tmp_path / "run"), *map(str, wavs), "--out", str(tmp_path / "p.csv")]
    )
    assert result.exit_code == 0, result.output
    probabilities = pd.read_csv(tmp_path / "p.csv", index_col=0)
    assert len(probabilities) == 2 and np.allclose(probabilities[["neutral", "anger"]].sum(axis=1), 1)


def test_cli_training_options_are_checked_before_any_work(demo, tmp_path):
    base = ["train", str(demo), "--labels", "ar", "--out", str(tmp_path / "run"), "--store", str(tmp_path / "s")]
    result = CliRunner().invoke(app, [*base, "--schedule", "step"], env={"COLUMNS": "200"})  # a Literal: a choice
    assert result.exit_code == 2 and "Invalid value for '--schedule'" in result.output
    assert "'step' is not one of 'constant', 'linear', 'cosine'" in result.output
    for extra, expected in [
        (["--warmup-steps", "2", "--warmup-ratio", "0.1"], "give warmup_steps or warmup_ratio, not both"),
        (
            ["--backbone", str(tmp_path), "--trainable-layers", "-1"],
            "model.backbone.trainable_layers: Input should be greater",
        ),
    ]:
        result = CliRunner().invoke(app, base + extra)
        assert isinstance(result.exception, ConfigError) and expected in str(result.exception), extra
    assert not (tmp_path / "s").exists()  # nothing extracted


def test_waveform_extractor_follows_the_backbone(released):
    extractor = make_extractor(f"waveform:{released['wavlm']}")
    assert extractor.min_samples == (8 - 1) * 5 + 10  # two conv layers: kernels (10, 8), strides (5, 4)
    assert extractor.config() == {"sample_rate": 16000, "min_samples": 45}
    signal = np.linspace(-1, 1, 100, dtype=np.float32)
    np.testing.assert_array_equal(extractor.compute(signal), signal[:, None])
    with pytest.raises(ConfigError, match="could not load"):
        make_extractor("waveform:/nonexistent/backbone")


def fine_tuning_recipe(backbone: str, demo: Path, tmp_path: Path) -> dict:
    """A recipe fine-tuning the top layer of ``backbone`` with a linear head on the demo corpus, 3 folds, 1 epoch."""
    return {
        "study": "fine-tune",
        "corpus": {"path": str(demo)},
        "labels": {
            "train": {"AR": {"rule": "ar", "condition": "voice"}},
            "test": {"PR": {"rule": "pr", "condition": "voice"}},
        },
        "features": {"extractor": f"waveform:{backbone}", "store": str(tmp_path / "store")},
        "model": {
            "head": "linear",
            "backbone": {"path": backbone, "trainable_layers": 1},
            "optimiser": {"lr": 1e-3, "backbone_lr": 1e-4, "warmup_steps": 1, "schedule": "linear"},
            "accumulate_grad_batches": 2,
            "epochs": 1,
            "batch_size": 2,
        },
        "protocol": {"speaker_folds": {"k": 3}},
        "evaluation": {"bootstrap": 20},
    }


@pytest.mark.slow  # a whole fine-tuning study; quick: test_fine_tuning_from_the_cli (train: the same one-cell recipe)
def test_fine_tuning_from_a_recipe(released, demo, tmp_path):
    recipe = fine_tuning_recipe(str(released["wav2vec2"]), demo, tmp_path)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    results = pd.read_parquet(tmp_path / "out" / "results.parquet")
    uar = results[results["metric"].eq("uar") & results["group"].eq("all")]
    assert len(uar) == 1 and 0 <= uar["value"].iloc[0] <= 1 and 0 < uar["n_items"].iloc[0] <= 24


def test_a_backbone_recipe_with_another_extractor_is_refused(released, demo, tmp_path):
    backbone = str(released["wav2vec2"])
    recipe = fine_tuning_recipe(backbone, demo, tmp_path)
    recipe["features"]["extractor"] = "fbank"
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and "waveform:" in str(result.exception) + result.output


# ====================================================================== two-process DDP
DDP_SCRIPT = """
import json, sys
import numpy as np, torch
from voxpop.models.specs import TrainConfig
from voxpop.models.training import fit

torch.set_num_threads(1)
data = np.load(sys.argv[1])
config = TrainConfig(epochs=3, batch_size=int(sys.argv[3]), lr=0.05, monitor="uar", patience=None, seed=3,
                     accelerator="cpu", devices=2, strategy="ddp", progress_bar=False)
model = fit(data["x"], data["y"], data["dx"], data["dy"], head="mlp", config=config,
            head_options={"hidden_dim": 16, "n_hidden": 1, "dropout": 0.0})
rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
weights = {k: v.numpy() for k, v in model.network.state_dict().items()}
np.savez(f"{sys.argv[2]}/rank{rank}.npz", **weights)
with open(f"{sys.argv[2]}/rank{rank}.json", "w") as f:
    json.dump({"best_epoch": model.best_epoch, "history": model.history}, f)
"""


@pytest.mark.slow
def test_two_process_ddp_equals_one_process(tmp_path):
    from voxpop.models.training import fit

    rng = np.random.default_rng(0)
    n, n_dev = 16, 7  # 7 dev items: the DistributedSampler repeats one to give both ranks 4
    centres = rng.normal(size=(2, 6))
    labels = rng.integers(0, 2, n + n_dev)
    x = (centres[labels] + 1.5 * rng.normal(size=(n + n_dev, 6))).astype(np.float32)
    y = np.eye(2)[labels]
    np.savez(tmp_path / "data.npz", x=x[:n], y=y[:n], dx=x[n:], dy=y[n:])
    (tmp_path / "ddp.py").write_text(DDP_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"), *sys.path])}
    # per-rank batch 8 on 2 ranks = global batch 16 = the whole training set: one step per epoch
    subprocess.run(
        [sys.executable, str(tmp_path / "ddp.py"), str(tmp_path / "data.npz"), str(tmp_path), "8"],
        check=True,
        env=env,
        timeout=300,
        capture_output=True,
    )
    config = TrainConfig(
        epochs=3,
        batch_size=16,
        lr=0.05,
        monitor="uar",
        patience=None,
        seed=3,
        accelerator="cpu",
        devices=1,
        progress_bar=False,
    )
    single = fit(
        x[:n],
        y[:n],
        x[n:],
        y[n:],
        head="mlp",
        config=config,
        head_options={"hidden_dim": 16, "n_hidden": 1, "dropout": 0.0},
    )
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["best_epoch"] == ranks[1]["best_epoch"] == single.best_epoch
    dev_uar = [h["dev_uar"] for h in single.history]
    for rank in ranks:  # the dev metric of all 7 dev items, each once, on both ranks
        np.testing.assert_allclose([h["dev_uar"] for h in rank["history"]], dev_uar)
    for r in (0, 1):
        weights = np.load(tmp_path / f"rank{r}.npz")
        for key, value in single.network.state_dict().items():
            np.testing.assert_allclose(weights[key], value.numpy(), atol=1e-5, err_msg=key)
