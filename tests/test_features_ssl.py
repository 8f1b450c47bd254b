"""Self-supervised encoders: tiny random WavLM / HuBERT / wav2vec 2.0 / data2vec-audio checkpoints saved
to disk and extracted through the same path as a real checkpoint; stored per-layer means equal a
direct computation from the model's hidden states, for single clips and padded batches."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
import soundfile

from voxpop.core.errors import ConfigError
from voxpop.corpus.corpus import Corpus
from voxpop.features import extract, make_extractor
from voxpop.features.audio import AudioOptions

TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": (16, 16, 16),
    "conv_kernel": (10, 3, 3),
    "conv_stride": (5, 2, 2),
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
}
D2V = {"conv_pos_kernel_size": 5, "num_conv_pos_embeddings": 3}  # 3 stacked positional convolutions
MODELS = {
    # name: (transformers class prefix: <prefix>Config / <prefix>Model, extra config, feature extractor kwargs or None)
    "wavlm": ("WavLM", {"feat_extract_norm": "layer", "num_buckets": 16}, {"do_normalize": False}),
    "hubert": ("Hubert", {"feat_extract_norm": "layer", "do_stable_layer_norm": True}, {}),
    "wav2vec2": ("Wav2Vec2", {"feat_extract_norm": "group"}, {"do_normalize": True}),
    "data2vec": ("Data2VecAudio", D2V, {}),
    "raw-wavlm": ("WavLM", {"feat_extract_norm": "layer", "num_buckets": 16}, None),
}
LENGTHS = (4800, 3360, 3360, 6720, 2720, 4000)  # samples at 16 kHz: several padded batches


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run faster on one thread than contending for the shared cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    import torch
    import transformers

    root = tmp_path_factory.mktemp("models")
    dirs = {}
    for index, (name, (prefix, extra, fe_kwargs)) in enumerate(MODELS.items()):
        torch.manual_seed(index)
        config = getattr(transformers, f"{prefix}Config")(**{**TINY, **extra})
        getattr(transformers, f"{prefix}Model")(config).eval().save_pretrained(root / name)
        if fe_kwargs is not None:
            uses_mask = getattr(config, "feat_extract_norm", "layer") == "layer"
            transformers.Wav2Vec2FeatureExtractor(return_attention_mask=uses_mask, **fe_kwargs).save_pretrained(
                root / name
            )
        dirs[name] = root / name
    return dirs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    paths = []
    for i, n in enumerate(LENGTHS):
        t = np.arange(n) / 16000
        signal = 0.3 * np.sin(2 * np.pi * (150 + 40 * i) * t) + 0.05 * rng.standard_normal(n)
        soundfile.write(root / f"clip{i}.wav", signal.astype(np.float32), 16000, subtype="FLOAT")
        paths.append(str(root / f"clip{i}.wav"))
    items = pd.DataFrame({"audio": paths}, index=[f"clip{i}" for i in range(len(paths))])
    return Corpus("tiny", items, pd.DataFrame({"item": ["clip0"], "label": ["x"]}), ["x"])


@functools.cache
def direct_hidden_states(model_dir: str, path: str) -> list[np.ndarray]:
    """Hidden states (each T x D) of the full model on one clip, computed the plain transformers way."""
    import torch
    from transformers import AutoFeatureExtractor, AutoModel

    model = AutoModel.from_pretrained(model_dir).eval()
    signal, _ = soundfile.read(path, dtype="float32")
    try:
        inputs = AutoFeatureExtractor.from_pretrained(model_dir)(signal, sampling_rate=16000, return_tensors="pt")
        values = inputs["input_values"]
    except OSError:
        values = torch.from_numpy(signal)[None]
    with torch.no_grad():
        return [h[0].numpy() for h in model(values, output_hidden_states=True).hidden_states]


def assert_fp16_close(stored, expected):
    np.testing.assert_allclose(np.asarray(stored, dtype=np.float32), expected, rtol=2e-3, atol=2e-3)


def spy_batches(extractor):
    """Record the input lengths of every forward batch."""
    seen = []
    forward = extractor._forward

    def recording(inputs):
        seen.append([len(x) for x in inputs])
        return forward(inputs)

    extractor._forward = recording
    return seen


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("batch_size", [1, 4])
def test_stored_layer_means_equal_direct_hidden_state_means(model_dirs, corpus, tmp_path, name, batch_size):
    extractor = make_extractor(f"ssl:{model_dirs[name]}", batch_size=batch_size, device="cpu")
    batches = spy_batches(extractor)
    features = extract(corpus, extractor, tmp_path, shard_size=6)
    assert features.kind == "layers" and features.values.shape == (len(LENGTHS), 3, 32)
    assert features.values.dtype == np.float16 and features.layers == ["layer0", "layer1", "layer2"]
    for row, path in enumerate(corpus.items["audio"]):
        expected = np.stack([h.mean(axis=0) for h in direct_hidden_states(str(model_dirs[name]), path)])
        assert_fp16_close(features.values[row], expected)
    assert all(len(b) <= batch_size for b in batches)
    if batch_size > 1 and name in ("wavlm", "hubert", "raw-wavlm"):  # padded batches of different lengths
        assert batches[0] == sorted(LENGTHS, reverse=True)[:batch_size]
    else:  # equal lengths only; the two 3360-sample clips share a batch
        assert all(len(set(b)) == 1 for b in batches)
        assert ([3360, 3360] in batches) == (batch_size > 1)


def test_padding_would_change_group_norm_models(model_dirs, corpus, tmp_path):
    """Why wav2vec2-base style models are batched by equal length only: forced padding breaks exactness."""
    extractor = make_extractor(f"ssl:{model_dirs['wav2vec2']}", batch_size=4)
    extractor.pads_exactly = True
    extractor.uses_mask = False  # as for wav2vec2-base: zero padding, no attention mask
    features = extract(corpus, extractor, tmp_path, shard_size=6)
    path = corpus.items["audio"].iloc[-1]  # shorter than the longest clip of its batch: padded
    expected = np.stack([h.mean(axis=0) for h in direct_hidden_states(str(model_dirs["wav2vec2"]), path)])
    assert np.abs(np.asarray(features.values[-1], dtype=np.float32) - expected).max() > 0.05


@pytest.mark.parametrize("layers", [0, 1])
def test_first_layers_only_and_std(model_dirs, corpus, tmp_path, layers):
    extractor = make_extractor(f"ssl:{model_dirs['hubert']}", layers=layers, std=True, batch_size=3)
    features = extract(corpus, extractor, tmp_path)
    assert features.values.shape == (len(LENGTHS), layers + 1, 64)
    assert features.names[:2] == ["mean_d0", "mean_d1"] and features.names[32] == "std_d0"
    for row, path in enumerate(corpus.items["audio"]):
        hidden = direct_hidden_states(str(model_dirs["hubert"]), path)[: layers + 1]  # of the full 2-layer model
        expected = np.stack([np.concatenate([h.mean(axis=0), h.std(axis=0)]) for h in hidden])
        assert_fp16_close(features.values[row], expected)


def test_frame_output_of_one_layer_and_of_a_layer_mix(model_dirs, corpus, tmp_path):
    source = f"ssl:{model_dirs['wavlm']}"
    one = extract(corpus, make_extractor(source, frames_layer=1, batch_size=4), tmp_path)
    mix = extract(corpus, make_extractor(source, frames_mix=[0.2, 0.3, 0.5], batch_size=4), tmp_path)
    assert one.kind == mix.kind == "frames" and one.key != mix.key
    for path, item in zip(corpus.items["audio"], corpus.items.index, strict=True):
        hidden = direct_hidden_states(str(model_dirs["wavlm"]), path)
        assert_fp16_close(one.sequence(item), hidden[1])
        assert_fp16_close(mix.sequence(item), 0.2 * hidden[0] + 0.3 * hidden[1] + 0.5 * hidden[2])


def test_clips_shorter_than_the_receptive_field_are_skipped(model_dirs, corpus, tmp_path):
    short = tmp_path / "short.wav"
    soundfile.write(short, np.full(30, 0.1, dtype=np.float32), 16000)
    items = pd.concat([corpus.items, pd.DataFrame({"audio": [str(short)]}, index=["short"])])
    bigger = Corpus("tiny+short", items, corpus.ratings, corpus.classes)
    extractor = make_extractor(f"ssl:{model_dirs['wavlm']}")
    assert extractor.min_samples == 40  # (((1 - 1) * 2 + 3 - 1) * 2 + 3 - 1) * 5 + 10
    features = extract(bigger, extractor, tmp_path, audio=AudioOptions(min_seconds=0))
    assert features.skipped.loc["short", "reason"] == "too_short"
    assert "needs at least 40" in features.skipped.loc["short", "message"]
    assert list(features.items) == list(corpus.items.index)


def test_key_depends_on_what_changes_the_numbers(model_dirs):
    source = f"ssl:{model_dirs['wavlm']}"
    base = make_extractor(source, batch_size=2)
    assert base.spec() == make_extractor(source, batch_size=8).spec()  # speed only
    assert base.spec() != make_extractor(source, layers=1).spec()
    assert base.spec()["precision"] == "fp32" and base.device.type == "cpu"


def test_masked_statistics_ignore_padded_frames():
    import torch

    from voxpop.features.encoder import masked_layer_statistics

    hidden = torch.randn(2, 5, 3)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    stats = masked_layer_statistics([hidden], mask, std=True)
    torch.testing.assert_close(stats[1, 0, :3], hidden[1, :3].mean(dim=0))
    torch.testing.assert_close(stats[1, 0, 3:], hidden[1, :3].std(dim=0, unbiased=False))
    torch.testing.assert_close(stats[0, 0, :3], hidden[0].mean(dim=0))


def test_models_that_are_not_speech_encoders_are_refused(tmp_path):
    from transformers import BertConfig

    BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8).save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="not a wav2vec 2.0-style speech encoder"):
        make_extractor(f"ssl:{tmp_path}")
    with pytest.raises(ConfigError, match="needs a model"):
        make_extractor("ssl")
