"""Heads, the layer-weighted sum, exact caching with a tiny WavLM backbone, freezing, classical builders."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from voxpop.core.errors import ConfigError
from voxpop.models.specs import HEADS, RATER_HEADS

if TYPE_CHECKING:
    import torch

    from voxpop.models.heads import BackboneClassifier

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _padded(seqs: list[torch.Tensor], fill: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    lengths = torch.tensor([len(s) for s in seqs])
    x = torch.full((len(seqs), int(lengths.max()), *seqs[0].shape[1:]), fill)
    for b, s in enumerate(seqs):
        x[b, : len(s)] = s
    return x, torch.arange(x.shape[1])[None, :] < lengths[:, None]


@pytest.fixture
def sequences() -> list[torch.Tensor]:
    import torch

    g = torch.Generator().manual_seed(0)
    return [torch.randn(t, 6, generator=g) for t in (7, 3, 5)]


def test_masked_mean_ignores_padding(sequences):
    from voxpop.models.heads import masked_mean

    x, mask = _padded(sequences, fill=1e6)
    expected = np.stack([s.numpy().mean(axis=0) for s in sequences])
    np.testing.assert_allclose(masked_mean(x, mask).numpy(), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(masked_mean(sequences[0][None]).numpy()[0], expected[0], rtol=1e-6)


def test_mlp_default_architecture():
    from torch import nn

    from voxpop.models.heads import build_head

    layers = list(build_head("mlp", 8, 3).layers)
    assert [type(m) for m in layers] == [nn.Linear, nn.ReLU, nn.Dropout] * 2 + [nn.Linear]
    assert [(m.in_features, m.out_features) for m in layers if isinstance(m, nn.Linear)] == [
        (8, 1024),
        (1024, 1024),
        (1024, 3),
    ]
    assert all(m.p == 0.5 for m in layers if isinstance(m, nn.Dropout))


def test_registry_validates_typed_options():
    from voxpop.models.heads import build_classical, build_head

    assert build_head("lstm", 6, 2, hidden_size=4, bidirectional=False).lstm.hidden_size == 4
    with pytest.raises(ConfigError, match="hidden_size"):
        build_head("lstm", 6, 2, hidden_size="big")
    with pytest.raises(ConfigError, match=r"unknown head 'cnn'.*\(or classical svm, logreg, svr, ridge\)"):
        build_head("cnn", 6, 2)
    with pytest.raises(ConfigError, match="kernel"):
        build_classical("svm", seed=0, kernel="cubic")
    assert [name for name, _ in build_classical("svm", seed=0).steps] == ["scale", "model"]
    svc = build_classical("svm", seed=3, C=2.0, pca_components=5)
    assert svc["pca"].n_components == 5 and svc["model"].estimator.C == 2.0 and not svc["model"].ensemble


@pytest.mark.parametrize("name", sorted(HEADS))
def test_heads_ignore_padded_frames(name, sequences):
    import torch

    from voxpop.models.heads import build_head, masked_mean

    torch.manual_seed(0)
    head = build_head(name, 6, 3, 2 if name in RATER_HEADS else None).eval()  # rater heads: 2 rater outputs
    x, mask = _padded(sequences, fill=123.0)  # garbage in the padding must not matter
    with torch.no_grad():
        batch = head(x, mask)
        alone = torch.cat([head(s[None]) for s in sequences])
    assert batch.shape == (3, 3)
    torch.testing.assert_close(batch, alone, rtol=1e-5, atol=1e-5)
    if not head.frame_level:  # pooled heads: frames give exactly the output on the mean vector
        with torch.no_grad():
            torch.testing.assert_close(batch, head(masked_mean(x, mask)), rtol=1e-5, atol=1e-5)


def test_attentive_statistics_formula(sequences):
    import torch

    from voxpop.models.heads import AttentiveStatsHead

    head = AttentiveStatsHead(6, 12, attention_dim=4).eval()
    with torch.no_grad():  # identity output layer: logits = [mu; sigma]
        head.out.weight.copy_(torch.eye(12))
        head.out.bias.zero_()
        x = sequences[0]
        got = head(x[None])[0].numpy()
        scores = head.attention(x).squeeze(-1).numpy()
    a = np.exp(scores - scores.max())
    a /= a.sum()
    xn = x.numpy()
    mu = (a[:, None] * xn).sum(axis=0)
    sigma = np.sqrt((a[:, None] * (xn - mu) ** 2).sum(axis=0))
    np.testing.assert_allclose(got, np.concatenate([mu, sigma]), rtol=1e-4, atol=1e-5)


def test_lstm_reads_the_last_valid_frame(sequences):
    import torch

    from voxpop.models.heads import build_head

    head = build_head("lstm", 6, 2, hidden_size=5, bidirectional=False).eval()
    x, mask = _padded(sequences)
    with torch.no_grad():
        outputs, _ = head.lstm(sequences[1][None])  # unpadded run: the state after its last frame
        expected = head.out(outputs[0, -1])
        torch.testing.assert_close(head(x, mask)[1], expected, rtol=1e-5, atol=1e-6)


def test_layer_weighted_sum(sequences):
    import torch

    from voxpop.models.heads import LayerWeightedSum, LinearHead

    head = LinearHead(6, 2)
    lws = LayerWeightedSum(3, head).eval()
    with torch.no_grad():
        lws.weights.copy_(torch.tensor([0.0, 1.0, 2.0]))
    w = lws.layer_weights()
    np.testing.assert_allclose(w, np.exp([0, 1, 2]) / np.exp([0, 1, 2]).sum(), rtol=1e-6)
    assert w.sum() == pytest.approx(1.0)
    x = torch.randn(4, 3, 6, generator=torch.Generator().manual_seed(1))
    manual = sum(float(w[k]) * x[:, k] for k in range(3))
    with torch.no_grad():
        torch.testing.assert_close(lws(x), head(manual), rtol=1e-5, atol=1e-6)
        frames, mask = _padded(sequences)  # per-layer frames (B, L, T, D)
        layered = torch.stack([frames, 2 * frames, -frames], dim=1)
        mixed = sum(float(w[k]) * layered[:, k] for k in range(3))
        torch.testing.assert_close(lws(layered, mask), head(mixed, mask), rtol=1e-5, atol=1e-6)


def _clips() -> list[torch.Tensor]:
    import torch

    g = torch.Generator().manual_seed(2)
    return [torch.randn(n, generator=g) for n in (1600, 1130, 777)]


def _cached_layer_means(model: BackboneClassifier, clips: list[torch.Tensor]) -> torch.Tensor:
    """What a feature store keeps: per clip alone, every layer's time mean (L x D)."""
    import torch

    with torch.no_grad():
        return torch.stack([model.hidden_states(c[None])[0][0].mean(dim=1) for c in clips])


def test_exact_caching_with_tiny_wavlm(tiny_wavlm_dir):
    import torch

    from voxpop.models.heads import AttentiveStatsHead, BackboneClassifier, LinearHead, MLPHead, load_backbone

    backbone = load_backbone(str(tiny_wavlm_dir))
    assert type(backbone).__name__ == "WavLMModel"
    torch.manual_seed(0)
    model = BackboneClassifier(backbone, LinearHead(32, 4, projector_dim=8)).eval()
    with torch.no_grad():
        model.layer_sum.weights.copy_(torch.tensor([0.5, -1.0, 2.0]))  # not the uniform start
    clips = _clips()
    audio, mask = _padded(clips)
    cache = _cached_layer_means(model, clips)
    assert cache.shape == (3, 3, 32)  # L = 2 layers + embedding output
    with torch.no_grad():
        from_cache = model.layer_sum(cache)  # LayerWeightedSum -> projector -> linear on L x D means
        from_frames = model(audio, mask)  # same module on frame-level hidden states, masked mean pooling
        single = torch.cat([model(c[None]) for c in clips])
    torch.testing.assert_close(from_frames, from_cache, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(single, from_cache, rtol=1e-5, atol=1e-5)
    assert (from_cache[0] - from_cache[1]).abs().max() > 1e-3  # outputs depend on the clip

    # a head with a nonlinearity after pooling (MLP) stays exact; one before pooling does not
    mlp = BackboneClassifier(backbone, MLPHead(32, 4, hidden_dim=16)).eval()
    with torch.no_grad():
        torch.testing.assert_close(mlp(audio, mask), mlp.layer_sum(cache), rtol=1e-5, atol=1e-5)
    attentive = BackboneClassifier(backbone, AttentiveStatsHead(32, 4)).eval()
    with torch.no_grad():
        frames_out = attentive(audio, mask)
        cached_out = attentive.layer_sum(cache.unsqueeze(2))  # the mean as a one-frame sequence
    assert (frames_out - cached_out).abs().max() > 1e-2


def test_backbone_freezing_and_truncation(tiny_wavlm_dir):
    import torch

    from voxpop.models.heads import BackboneClassifier, LinearHead, load_backbone, transformer_layers

    model = BackboneClassifier(load_backbone(str(tiny_wavlm_dir)), LinearHead(32, 2), trainable_layers=1)
    layers = transformer_layers(model.backbone)
    assert not any(p.requires_grad for p in model.backbone.feature_extractor.parameters())
    assert not any(p.requires_grad for p in layers[0].parameters())
    assert all(p.requires_grad for p in layers[1].parameters())
    assert not any(p.requires_grad for p in model.backbone.feature_projection.parameters())
    assert model.layer_sum.weights.requires_grad
    full = BackboneClassifier(load_backbone(str(tiny_wavlm_dir)), LinearHead(32, 2))
    assert not any(p.requires_grad for p in full.backbone.feature_extractor.parameters())
    assert all(p.requires_grad for p in full.backbone.feature_projection.parameters())

    short = BackboneClassifier(load_backbone(str(tiny_wavlm_dir), keep_layers=1), LinearHead(32, 2)).eval()
    with torch.no_grad():
        states, frame_mask = short.hidden_states(torch.randn(2, 800))
    assert states.shape[:2] == (2, 2) and short.backbone.config.num_hidden_layers == 1
    assert frame_mask.all() and len(short.layer_sum.layer_weights()) == 2
    with pytest.raises(ConfigError, match="keep_layers=3"):
        load_backbone(str(tiny_wavlm_dir), keep_layers=3)
    with pytest.raises(ConfigError, match="trainable_layers=5"):
        BackboneClassifier(load_backbone(str(tiny_wavlm_dir)), LinearHead(32, 2), trainable_layers=5)
