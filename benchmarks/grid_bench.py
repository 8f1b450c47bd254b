"""Cached per-layer features vs running the backbone on every batch, on a label-rule x fold grid.

A study grid trains many models on the same audio: here 3 label rules x 5 speaker folds on a RAVDESS
subset. s3prl-style toolkits run the (frozen) self-supervised backbone inside the training loop, so
every epoch of every grid cell pays for the backbone again. voxpop extracts the per-layer time means
(L x D per clip) once and trains ``LayerWeightedSum -> linear`` heads on them, which is exactly the
same model (mean pooling commutes with the weighted layer sum and the linear map; METHODS.md
section 4). Both paths below train that model with the same folds, epochs, batch size and seed:

(a) cached: ``voxpop.features.extract`` with ``ssl:<dir>`` once, then ``voxpop.models.cross_validation.cross_validate``
    with the ``linear`` head per rule (the layer-weighted sum is added for layer features);
(b) backbone per batch: ``voxpop.models.training.fit`` on raw waveforms with a frozen backbone
    (``BackboneConfig(trainable_layers=0)``: only the layer weights and the head learn) per rule and fold.

The backbone is a small randomly initialised WavLM (standard 7-layer convolutional encoder with
320x downsampling, reduced widths) written with ``save_pretrained`` to a temporary directory. On
RAVDESS every clip has one rating (the intended emotion), so the rules mr, pr and ar give the same
targets; the grid measures cost, not the rules. Wall times of both paths are measured in the same run.

    python benchmarks/grid_bench.py [--data DIR] [--clips 96] [--epochs 2] [--folds 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers.utils import logging as transformers_logging

from voxpop.corpus.corpus import Corpus
from voxpop.corpus.formats.ravdess import read_ravdess
from voxpop.evaluation.results import evaluate_predictions
from voxpop.features import extract
from voxpop.features.audio import AudioLoader, AudioOptions
from voxpop.labels.rules import make_labels
from voxpop.models.cross_validation import cross_validate
from voxpop.models.protocols import make_folds
from voxpop.models.specs import BackboneConfig, ModelSpec, TrainConfig
from voxpop.models.training import fit

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data beside the checkout
DEFAULT_DATA = Path(os.environ.get("VOXPOP_SHARED_DATA", SHARED_DATA)) / "ravdess"
RULES = ("mr", "pr", "ar")


def small_wavlm(directory: Path) -> Path:
    """A randomly initialised WavLM: 7 conv layers (128 channels, 320x downsampling), 4 x 128-dim layers."""
    from transformers import WavLMConfig, WavLMModel

    config = WavLMConfig(
        hidden_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=512,
        conv_dim=(128,) * 7,
        num_conv_pos_embeddings=32,
        num_conv_pos_embedding_groups=4,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        mask_time_prob=0.0,
        layerdrop=0.0,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        WavLMModel(config).save_pretrained(directory)
    return directory


def subset(corpus: Corpus, clips: int, seed: int = 0) -> Corpus:
    """``clips`` items spread evenly over the speakers (random within each speaker, seeded)."""
    speakers = sorted(corpus.items["speaker"].unique())
    per_speaker = -(-clips // len(speakers))
    rng = np.random.default_rng(seed)
    chosen = []
    for speaker in speakers:
        ids = corpus.items.index[corpus.items["speaker"] == speaker].to_numpy()
        chosen += list(rng.choice(ids, size=min(per_speaker, len(ids)), replace=False))
    return corpus.subset(sorted(chosen)[:clips] if len(chosen) > clips else sorted(chosen))


def cached_grid(corpus: Corpus, backbone: Path, folds, config: TrainConfig, store: Path) -> tuple[float, float, dict]:
    """(extraction seconds, training seconds, UAR per rule) of path (a)."""
    started = time.perf_counter()
    features = extract(corpus, f"ssl:{backbone}", store)
    extracted = time.perf_counter()
    spec = ModelSpec(head="linear", train=config, standardize=False)
    scores = {}
    for rule in RULES:
        labels = make_labels(corpus, rule)
        result = cross_validate(features, labels, folds, spec)
        scores[rule] = _uar(result.predictions, labels)
    return extracted - started, time.perf_counter() - extracted, scores


def backbone_grid(corpus: Corpus, backbone: Path, folds, config: TrainConfig) -> tuple[float, dict]:
    """(seconds, UAR per rule) of path (b); audio decoding is done once beforehand and not timed."""
    loader = AudioLoader(AudioOptions())
    audio = {item: loader.load(path, item) for item, path in corpus.items["audio"].items()}
    frozen = config.model_copy(update={"backbone": BackboneConfig(path=str(backbone), trainable_layers=0)})
    started = time.perf_counter()
    scores = {}
    for rule in RULES:
        labels = make_labels(corpus, rule)
        kept = labels.kept
        parts = []
        for fold in folds:
            train = [i for i in fold.train if kept[i]]
            dev = [i for i in fold.dev if kept[i]]
            model = fit(
                [audio[i] for i in train],
                labels.targets.loc[train],
                [audio[i] for i in dev],
                labels.targets.loc[dev],
                head="linear",
                config=frozen,
            )
            probs = model.predict_proba([audio[i] for i in fold.test])
            parts.append(pd.DataFrame(probs, index=fold.test, columns=labels.classes))
        scores[rule] = _uar(pd.concat(parts), labels)
    return time.perf_counter() - started, scores


def _uar(predictions: pd.DataFrame, labels) -> float:
    table = evaluate_predictions(predictions, labels, n_boot=0).set_index("metric")
    return float(table.loc["uar", "value"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="RAVDESS folder")
    parser.add_argument("--clips", type=int, default=96, help="clips in the subset (spread over the 24 actors)")
    parser.add_argument("--folds", type=int, default=5, help="speaker folds")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs per grid cell")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (both paths)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")

    corpus = subset(read_ravdess(args.data), args.clips)
    folds = make_folds(corpus.items, "speaker-folds", k=args.folds)
    config = TrainConfig(epochs=args.epochs, batch_size=8, lr=1e-3, patience=None, progress_bar=False)
    cells = len(RULES) * len(folds)
    print(
        f"grid: {len(RULES)} label rules x {len(folds)} speaker folds = {cells} trainings of {args.epochs} epochs; "
        f"{len(corpus.items)} RAVDESS clips ({corpus.items['duration'].sum():.0f} s of audio), CPU, "
        f"{args.threads} thread(s)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        backbone = small_wavlm(Path(tmp) / "wavlm")
        extraction, training, cached_scores = cached_grid(corpus, backbone, folds, config, Path(tmp) / "store")
        per_batch, backbone_scores = backbone_grid(corpus, backbone, folds, config)
    cached = extraction + training
    parts = f"extraction once {extraction:.1f} s + training {training:.1f} s"
    print(f"(a) cached per-layer features: {cached:8.1f} s  ({parts})")
    print(f"(b) backbone on every batch:   {per_batch:8.1f} s")
    print(f"ratio (b) / (a): {per_batch / cached:.1f}x")
    print("out-of-fold UAR (random backbone, chance 1/8):")
    for rule in RULES:
        print(f"  {rule}: cached {cached_scores[rule]:.3f}, per batch {backbone_scores[rule]:.3f}")


if __name__ == "__main__":
    main()
