"""Length buckets for frame sequences, long clips named at extraction and training."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from voxpop.core.errors import ConfigError
from voxpop.corpus.corpus import Corpus
from voxpop.features import fill_store
from voxpop.features.audio import AudioOptions
from voxpop.features.long_items import LONG_CLIP_SECONDS
from voxpop.models.specs import TrainConfig

if TYPE_CHECKING:
    from torch.utils.data import RandomSampler

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _random(n: int, seed: int) -> RandomSampler:
    import torch
    from torch.utils.data import RandomSampler

    return RandomSampler(range(n), generator=torch.Generator().manual_seed(seed))


def test_batches_stay_within_the_frame_budget_and_hold_every_item_once_per_epoch():
    from voxpop.models.batching import LengthBucketBatchSampler

    rng = np.random.default_rng(0)
    lengths = np.concatenate([rng.integers(150, 250, size=200), [30_000, 12_000, 4_000]])  # 2 s clips, 5 min, ...
    sampler = LengthBucketBatchSampler(_random(len(lengths), 0), lengths, batch_size=32, max_frames=8_000)
    for _epoch in range(3):
        batches = list(sampler)
        assert len(batches) == len(sampler)  # Lightning's batch count holds every epoch
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        for batch in batches:
            padded = len(batch) * lengths[batch].max()
            assert len(batch) <= 32 and (padded <= 8_000 or len(batch) == 1)
    # without buckets the 5-minute clip's batch alone is 32 x 30,000 padded frames
    assert max(len(b) * lengths[b].max() for b in batches) == 30_000


def test_equal_lengths_give_exactly_torch_batches():
    from torch.utils.data import BatchSampler

    from voxpop.models.batching import LengthBucketBatchSampler

    lengths = np.full(70, 300)
    bucketed = list(LengthBucketBatchSampler(_random(70, 3), lengths, batch_size=16, max_frames=16 * 300))
    plain = list(BatchSampler(_random(70, 3), batch_size=16, drop_last=False))
    assert bucketed == plain


def test_balanced_sampling_with_binding_budget_is_refused():
    from voxpop.models.batching import batching

    x = [np.zeros((10, 2)), np.zeros((1000, 2))]
    with pytest.raises(ConfigError, match="balanced_sampling"):
        batching(x, ["a", "b"], 0, range(2), 2, 500, with_replacement=True)


def _frames(n: int, length: int, seed: int) -> tuple[list[np.ndarray], pd.DataFrame]:
    rng = np.random.default_rng(seed)
    x = [rng.normal(size=(length, 4)).astype(np.float32) + (i % 2) for i in range(n)]
    y = pd.DataFrame({"a": [1.0 - i % 2 for i in range(n)], "b": [float(i % 2) for i in range(n)]},
                     index=[f"c{i}" for i in range(n)])  # fmt: skip
    return x, y


def test_equal_length_training_is_unchanged_by_the_budget():
    from voxpop.models.training import fit

    x, y = _frames(24, 50, 0)
    config = TrainConfig(epochs=2, batch_size=8, progress_bar=False, accelerator="cpu", patience=None)
    budget = fit(x, y, head="lstm", config=config, head_options={"hidden_size": 8})
    unbounded = fit(x, y, head="lstm", config=config.model_copy(update={"max_batch_frames": None}),
                    head_options={"hidden_size": 8})  # fmt: skip
    np.testing.assert_array_equal(budget.predict_proba(x), unbounded.predict_proba(x))


def test_long_items_are_named_at_training_and_predictions_keep_item_order(caplog):
    from voxpop.models.training import fit

    x, y = _frames(20, 30, 1)
    x[7] = np.random.default_rng(2).normal(size=(3_000, 4)).astype(np.float32)
    config = TrainConfig(epochs=1, batch_size=8, max_batch_frames=1_000, long_item_frames=2_000,
                         progress_bar=False, accelerator="cpu", patience=None)  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="voxpop.models.batching"):
        model = fit(x, y, head="lstm", config=config, head_options={"hidden_size": 8})
    assert "1 item(s) longer than 2000 time steps (long_item_frames): c7 (3000 steps)" in caplog.text
    bucketed = model.predict_proba(x)  # c7 in a batch of its own, the others in buckets of similar length
    model.spec.config.max_batch_frames = None
    one_by_one = np.concatenate([model.predict_proba([a]) for a in x])  # no padding at all
    np.testing.assert_allclose(bucketed, one_by_one, rtol=1e-5, atol=1e-6)


def test_long_and_cropped_clips_are_named_at_extraction(tmp_path, caplog):
    rate = 16_000
    seconds = {"short": 2.0, "long": LONG_CLIP_SECONDS + 5.0}
    for name, length in seconds.items():
        sf.write(tmp_path / f"{name}.wav", np.full(int(length * rate), 0.01, dtype=np.float32), rate)
    items = pd.DataFrame({"audio": [str(tmp_path / f"{n}.wav") for n in seconds]}, index=pd.Index(list(seconds)))
    corpus = Corpus("clips", items, pd.DataFrame({"item": [], "label": []}), classes=["a"])
    with caplog.at_level(logging.WARNING, logger="voxpop.features.extraction"):
        report = fill_store(corpus, "fbank", tmp_path / "store")
    assert report.long_clips == {"long": pytest.approx(65.0)}
    assert "1 clip(s) longer than 60 s: long (65 s)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="voxpop.features.extraction"):
        cropped = fill_store(corpus, "fbank", tmp_path / "store", audio=AudioOptions(max_seconds=3.0))
    assert cropped.long_clips == {"long": pytest.approx(3.0)}
    assert "1 clip(s) cropped to their first 3 s (max_seconds): long (3 s)" in caplog.text
