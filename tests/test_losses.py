"""Losses against hand-computed values and torch's own functions; class weights; the balanced sampler."""

from __future__ import annotations

import numpy as np
import pytest

from voxpop.core.errors import ConfigError

# 2 items x 3 classes
LOGITS = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
SOFT = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
WEIGHT = np.array([2.0, 1.0, 0.5])


def _log_softmax(z: np.ndarray) -> np.ndarray:
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def test_soft_cross_entropy_by_hand():
    # item 1: log-sum-exp(1, 2, 3) = 3 + log(1 + e^-1 + e^-2) = 3.40760596
    # CE_1 = 0.5 * (3.40760596 - 2) + 0.5 * (3.40760596 - 3) = 0.90760596; CE_2 = log 3 = 1.09861229
    import torch

    from voxpop.models.losses import soft_cross_entropy

    logits, soft, weight = (torch.from_numpy(a) for a in (LOGITS, SOFT, WEIGHT))
    assert soft_cross_entropy(logits, soft).item() == pytest.approx((0.90760596 + 1.09861229) / 2, abs=1e-8)
    # weighted: item 1: 0.5 * 1 * 1.40760596 + 0.5 * 0.5 * 0.40760596 = 0.80570447; item 2: 2 * log 3
    assert soft_cross_entropy(logits, soft, weight).item() == pytest.approx((0.80570447 + 2.19722458) / 2, abs=1e-8)
    direct = -(WEIGHT * SOFT * _log_softmax(LOGITS)).sum(axis=1).mean()
    assert soft_cross_entropy(logits, soft, weight).item() == pytest.approx(direct, abs=1e-12)


def test_soft_cross_entropy_matches_torch_probability_targets():
    import torch
    import torch.nn.functional as F

    from voxpop.models.losses import SoftCrossEntropyLoss, soft_cross_entropy

    g = torch.Generator().manual_seed(0)
    z = torch.randn(7, 4, generator=g, dtype=torch.float64)
    y = torch.softmax(torch.randn(7, 4, generator=g, dtype=torch.float64), dim=1)
    w = torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=torch.float64)
    assert torch.allclose(soft_cross_entropy(z, y), F.cross_entropy(z, y))
    assert torch.allclose(soft_cross_entropy(z, y, w), F.cross_entropy(z, y, weight=w))
    assert torch.allclose(SoftCrossEntropyLoss(w.numpy())(z, y), F.cross_entropy(z, y, weight=w).float())


def test_binary_cross_entropy_by_hand_and_torch():
    import torch
    import torch.nn.functional as F

    from voxpop.models.losses import BinaryCrossEntropyLoss, SoftCrossEntropyLoss, binary_cross_entropy

    z = torch.tensor([[0.0, 2.0, -1.0], [1.0, -2.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.5, 0.0], [0.25, 0.0, 1.0]], dtype=torch.float64)
    # item 1: log 2 + (0.5 * 0.12692801 + 0.5 * 2.12692801) + 0.31326169 = 2.13333688
    # item 2: (0.25 * 0.31326169 + 0.75 * 1.31326169) + 0.12692801 + log 2 = 1.88333688
    assert binary_cross_entropy(z, y).item() == pytest.approx((2.13333688 + 1.88333688) / 2, abs=1e-7)
    p = 1 / (1 + np.exp(-z.numpy()))
    w = WEIGHT
    weight = torch.from_numpy(WEIGHT)
    direct = -(w * (y.numpy() * np.log(p) + (1 - y.numpy()) * np.log(1 - p))).sum(axis=1).mean()
    assert binary_cross_entropy(z, y, weight).item() == pytest.approx(direct, abs=1e-12)
    # torch: `weight` scales the positive and the negative term of class c alike; its mean divides by N * C
    torch_sum = F.binary_cross_entropy_with_logits(z, y, weight=weight, reduction="sum") / len(z)
    assert binary_cross_entropy(z, y, weight).item() == pytest.approx(torch_sum.item(), abs=1e-12)
    torch_mean = F.binary_cross_entropy_with_logits(z, y) * z.shape[1]
    assert binary_cross_entropy(z, y).item() == pytest.approx(torch_mean.item(), abs=1e-12)
    # pos_weight (positive term only) equals our loss when positives and negatives get the same weight 1
    pos = F.binary_cross_entropy_with_logits(z, y, pos_weight=torch.ones(3, dtype=torch.float64), reduction="sum")
    assert binary_cross_entropy(z, y).item() == pytest.approx(pos.item() / len(z), abs=1e-12)
    assert BinaryCrossEntropyLoss(w).multilabel and not SoftCrossEntropyLoss().multilabel


def test_kl_divergence_by_hand_and_torch():
    import torch
    import torch.nn.functional as F

    from voxpop.models.losses import KLDivergenceLoss, kl_divergence, soft_cross_entropy

    z = torch.tensor([[1.0, 0.0, -1.0], [2.0, 2.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]], dtype=torch.float64)
    logq = _log_softmax(z.numpy())
    yn = y.numpy()
    direct = np.where(yn > 0, yn * (np.log(np.where(yn > 0, yn, 1)) - logq), 0.0).sum(axis=1).mean()
    assert direct == pytest.approx(0.46668080, abs=1e-7)
    assert kl_divergence(z, y).item() == pytest.approx(direct, abs=1e-12)
    torch_kl = F.kl_div(F.log_softmax(z, dim=-1), y, reduction="batchmean")
    assert kl_divergence(z, y).item() == pytest.approx(torch_kl.item(), abs=1e-12)
    # KL = CE - entropy of the targets
    entropy = -(y * torch.log(torch.where(y > 0, y, 1))).sum(dim=1).mean()
    assert kl_divergence(z, y).item() == pytest.approx((soft_cross_entropy(z, y) - entropy).item(), abs=1e-12)
    assert kl_divergence(z, torch.softmax(z, dim=-1)).item() == pytest.approx(0.0, abs=1e-12)
    assert torch.allclose(KLDivergenceLoss()(z, y), torch_kl.float())


def test_inverse_frequency_weights_normalisation():
    from voxpop.models.losses import inverse_frequency_weights

    y = np.array([[1, 0, 0], [0.5, 0.5, 0], [1, 0, 0], [0, 0, 1]])
    # mass (2.5, 0.5, 1) of 4 -> shares (0.625, 0.125, 0.25) -> w = 1 / (3 * share)
    w = inverse_frequency_weights(y)
    np.testing.assert_allclose(w, [1 / 1.875, 1 / 0.375, 1 / 0.75])
    assert (w * np.array([0.625, 0.125, 0.25])).sum() == pytest.approx(1.0)
    np.testing.assert_allclose(inverse_frequency_weights(np.eye(3)), [1, 1, 1])
    with pytest.raises(ConfigError, match="class 'S' has no training items"):
        inverse_frequency_weights(np.array([[1.0, 0.0]]), classes=["A", "S"])


def test_ar_positive_counts_methods_examples():
    # classes (N, A, S, H): A,A,A,S,S -> (0,1,1,0); N,N,H,A,S -> (1,0,0,0); N,A,A,S,S -> (0,1,1,0); uniform -> all
    from voxpop.models.losses import ar_positive_counts

    y = np.array([[0, 0.6, 0.4, 0], [0.4, 0.2, 0.2, 0.2], [0.2, 0.4, 0.4, 0], [0.25, 0.25, 0.25, 0.25]])
    np.testing.assert_array_equal(ar_positive_counts(y), [2, 3, 3, 1])
    np.testing.assert_array_equal(ar_positive_counts(np.array([[1, 1, 0], [0, 1, 0]])), [1, 2, 0])


def test_class_balanced_factors_both_variants():
    from voxpop.models.losses import class_balanced_weights, effective_beta

    n = np.array([8, 2, 1])
    # Cui et al., beta = 0.99: 0.01 / (1 - 0.99^8) = 0.01 / 0.07725531, 0.01 / 0.0199, 0.01 / 0.01
    np.testing.assert_allclose(class_balanced_weights(n, 0.99), [0.12944095, 0.50251256, 1.0], rtol=1e-7)
    # beta = (N - 1) / N with N = 10 items -> 0.9: (0.1/0.56953279, 0.1/0.19, 1) = (0.17558, 0.52632, 1)
    raw = np.array([0.1 / (1 - 0.9**8), 0.1 / 0.19, 1.0])
    np.testing.assert_allclose(class_balanced_weights(n, effective_beta(10)), raw)
    normalised = class_balanced_weights(n, effective_beta(10), normalize=True)
    np.testing.assert_allclose(normalised, [0.30950589, 0.92775659, 1.76273752], rtol=1e-7)
    assert normalised.sum() == pytest.approx(3.0)
    # 1 / factor is the effective number of samples (1 - beta^n) / (1 - beta); beta -> 0 gives 1 for everyone
    np.testing.assert_allclose(1 / class_balanced_weights(n, 0.0), [1, 1, 1])
    with pytest.raises(ConfigError, match="beta"):
        class_balanced_weights(n, 1.0)


def test_make_loss_class_balanced_from_ar_counts():
    # 10 items: 7 clear class 0, 1 split between 0 and 1 (both > 1/3), 1 clear class 1, 1 clear class 2
    import torch
    import torch.nn.functional as F

    from voxpop.models.losses import make_loss

    y = np.array([[1.0, 0, 0]] * 7 + [[0.5, 0.5, 0], [0, 1.0, 0], [0, 0, 1.0]])  # n = (8, 2, 1)
    plain = make_loss("cbce", y)
    np.testing.assert_allclose(plain.weight.numpy(), [0.12944095, 0.50251256, 1.0], rtol=1e-6)
    variant = make_loss("cbce", y, beta=None, normalize=True)
    np.testing.assert_allclose(variant.weight.numpy(), [0.30950589, 0.92775659, 1.76273752], rtol=1e-6)
    z = torch.randn(10, 3, generator=torch.Generator().manual_seed(1))
    t = torch.tensor(y, dtype=torch.float32)
    assert variant(z, t).item() == pytest.approx(F.cross_entropy(z, t, weight=variant.weight).item(), rel=1e-6)


def test_make_loss_registry_and_errors():
    from voxpop.models.losses import loss_class, make_loss

    y = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(make_loss("wbce", y).weight.numpy(), [2 / 3, 2.0], rtol=1e-6)
    assert make_loss("ce", y).weight is None and make_loss("kld", y).weight is None
    assert loss_class("bce").multilabel and not loss_class("kld").multilabel
    with pytest.raises(ConfigError, match="unknown loss 'focal'"):
        make_loss("focal", y)
    with pytest.raises(ConfigError, match="unknown option"):
        make_loss("ce", y, beta=0.9)


def test_balanced_sampler_weights_and_draws():
    from voxpop.models.losses import balanced_sampler

    counts = {0: 80, 1: 15, 2: 5}
    labels = np.repeat(list(counts), list(counts.values()))
    y = np.eye(3)[labels] * 0.7 + 0.1  # soft rows whose argmax is the label
    sampler = balanced_sampler(y, seed=3, num_samples=6000)
    np.testing.assert_allclose(sampler.weights.numpy(), [1 / counts[c] for c in labels])
    drawn = np.bincount(labels[list(sampler)], minlength=3)
    # each draw hits each class with p = 1/3: binomial sd = sqrt(6000 * 1/3 * 2/3) = 36.5; allow 4 sd
    sd = np.sqrt(6000 * (1 / 3) * (2 / 3))
    assert np.all(np.abs(drawn - 2000) < 4 * sd), drawn
    assert list(balanced_sampler(y, seed=3)) == list(balanced_sampler(y, seed=3))
    assert list(balanced_sampler(y, seed=3)) != list(balanced_sampler(y, seed=4))


# ====================================================================== regression losses
def _ccc_numpy(x: np.ndarray, y: np.ndarray) -> float:
    """Lin (1989) with population moments, written out."""
    sxy = np.mean((x - x.mean()) * (y - y.mean()))
    return 2 * sxy / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def test_ccc_loss_equals_the_direct_formula_per_dimension():
    import torch

    from voxpop.models.losses import make_loss

    rng = np.random.default_rng(3)
    y = rng.normal(3.0, 1.0, (20, 3))
    z = 0.6 * y + rng.normal(0.5, 0.7, (20, 3))
    per_dim = [1 - _ccc_numpy(z[:, d], y[:, d]) for d in range(3)]
    loss = make_loss("ccc", y, ["arousal", "valence", "dominance"])
    assert loss.regression and not loss.multilabel
    assert loss(torch.from_numpy(z), torch.from_numpy(y)).item() == pytest.approx(np.mean(per_dim), abs=1e-6)
    weighted = make_loss(
        "ccc", y, ["arousal", "valence", "dominance"], weights={"arousal": 2, "valence": 1, "dominance": 1}
    )
    expected = 0.5 * per_dim[0] + 0.25 * per_dim[1] + 0.25 * per_dim[2]
    assert weighted(torch.from_numpy(z), torch.from_numpy(y)).item() == pytest.approx(expected, abs=1e-6)
    # hand example: x = 1..4, y = x + 0.5: 2 * 1.25 / (1.25 + 1.25 + 0.25) = 0.9090909
    x = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    assert make_loss("ccc", x.numpy())(x, x + 0.5).item() == pytest.approx(1 - 2.5 / 2.75, abs=1e-6)


def test_mse_loss_by_hand_and_its_gradient_reaches_the_outputs():
    import torch

    from voxpop.models.losses import make_loss

    y = np.array([[1.0, 5.0], [3.0, 1.0]])
    z = torch.tensor([[2.0, 5.0], [1.0, 4.0]], requires_grad=True)
    # dimension 0: (1 + 4) / 2 = 2.5; dimension 1: (0 + 9) / 2 = 4.5; mean 3.5; weights 1:3 -> 0.25 * 2.5 + 0.75 * 4.5
    assert make_loss("mse", y)(z, torch.from_numpy(y)).item() == pytest.approx(3.5)
    loss = make_loss("mse", y, weights=[1, 3])
    value = loss(z, torch.from_numpy(y))
    assert value.item() == pytest.approx(0.25 * 2.5 + 0.75 * 4.5)
    value.backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_regression_loss_options_are_checked():
    from voxpop.models.losses import make_loss

    y = np.zeros((3, 2))
    with pytest.raises(ConfigError, match="weights must be 2 non-negative numbers"):
        make_loss("ccc", y, ["a", "v"], weights=[1, -1])
    with pytest.raises(ConfigError, match="unknown option"):
        make_loss("mse", y, beta=0.9)
    with pytest.raises(ConfigError, match="the dimensions are"):
        make_loss("mse", y, ["a", "v"], weights={"a": 1, "x": 1})
