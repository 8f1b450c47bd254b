"""Heads (torch modules), the layer-weighted sum, backbone fine-tuning and classical models (METHODS.md section 4).

Every head maps ``forward(x, mask=None) -> logits (B, C)``; as a regressor its C outputs are the values
of C dimensions (a linear output, no softmax), and a multi-task model (loss ``multitask``,
:class:`voxpop.models.losses.MultiTaskLoss`) has C + D outputs: its output layer is two linear outputs, C class
logits and D dimension values, on the shared trunk. Pooled heads (``linear``, ``mlp``,
``residual``) take pooled vectors ``(B, D)`` or frames ``(B, T, D)`` with a validity mask ``(B, T)``,
which they mean-pool over valid frames (``linear`` applies its optional projector per frame first).
Frame heads (``attentive_stats``, ``lstm``) need frames. :class:`LayerWeightedSum` puts a learnable
softmax-weighted sum over a layer axis ``(B, L, ...)`` in front of any head, and
:class:`BackboneClassifier` runs a Hugging Face self-supervised backbone on raw audio and feeds all its
hidden states through the same head code.

Exact caching: masked mean pooling over time commutes with a weighted layer sum and with any per-frame
affine map, so ``LayerWeightedSum -> linear projector -> mean pool -> linear`` on the per-layer time
means (L x D per clip) equals the same module on the frame-level hidden states.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from voxpop.core.errors import ConfigError
from voxpop.core.limits import check_ceiling
from voxpop.core.safe_load import check_model_folder
from voxpop.models.rater_heads import RATER_HEAD_MODULES
from voxpop.models.specs import CLASSICAL, RATER_HEADS, validated_options

if TYPE_CHECKING:  # scikit-learn is imported by the classical pipelines, not by training a neural head
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the time axis -2 of ``x (..., T, D)`` over valid frames: ``sum_t m_t x_t / sum_t m_t``.

    ``mask (..., T)`` is True (or 1) for valid frames; None means every frame is valid.

    >>> x = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> masked_mean(x, torch.tensor([[True, True, False]]))
    tensor([[2.]])
    """
    if mask is None:
        return x.mean(dim=-2)
    m = mask.to(x.dtype).unsqueeze(-1)
    return (x * m).sum(dim=-2) / m.sum(dim=-2).clamp_min(1.0)


class LinearHead(nn.Module):
    """``logits = W2 pool(W1 x + b1) + b2`` with the projector ``W1`` optional (``projector_dim``).

    The projector acts per frame before masked mean pooling, as in the SUPERB emotion downstream and
    ``WavLMForSequenceClassification``; being affine it commutes with the pooling.
    """

    frame_level: ClassVar[bool] = False

    def __init__(self, in_dim: int, n_classes: int, *, projector_dim: int | None = None) -> None:
        super().__init__()
        self.projector = nn.Linear(in_dim, projector_dim) if projector_dim else None
        self.out = nn.Linear(projector_dim or in_dim, n_classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.projector is not None:
            x = self.projector(x)
        if x.dim() == 3:
            x = masked_mean(x, mask)
        return self.out(x)


class MLPHead(nn.Module):
    """Mean-pooled input -> ``n_hidden`` x (Linear(hidden_dim), ReLU, Dropout) -> Linear(C).

    Defaults: two hidden layers of 1024 ReLU units with dropout 0.5.
    """

    frame_level: ClassVar[bool] = False

    def __init__(
        self, in_dim: int, n_classes: int, *, hidden_dim: int = 1024, n_hidden: int = 2, dropout: float = 0.5
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(n_hidden):
            layers += [nn.Linear(in_dim if i == 0 else hidden_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(hidden_dim if n_hidden else in_dim, n_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.layers(masked_mean(x, mask) if x.dim() == 3 else x)


class ResidualHead(nn.Module):
    """Mean-pooled input -> Linear(hidden_dim) -> two residual feed-forward layers -> LayerNorm -> Linear(C).

    Each residual layer is ``h <- h + Dropout(ReLU(Linear(LayerNorm(h))))`` (pre-norm).
    """

    frame_level: ClassVar[bool] = False

    def __init__(self, in_dim: int, n_classes: int, *, hidden_dim: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.inp = nn.Linear(in_dim, hidden_dim)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(hidden_dim), nn.Linear(hidden_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout))
            for _ in range(2)
        )
        self.norm = nn.LayerNorm(hidden_dim)
        self.out = nn.Linear(hidden_dim, n_classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.inp(masked_mean(x, mask) if x.dim() == 3 else x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(self.norm(h))


class AttentiveStatsHead(nn.Module):
    """Attentive statistics pooling (Okabe et al. 2018) + linear, over frames ``(B, T, D)`` with a mask.

    ``e_t = v^T tanh(W x_t + b)``, ``a = softmax over valid t``, ``mu = sum_t a_t x_t``,
    ``sigma = sqrt(sum_t a_t x_t^2 - mu^2)``, ``logits = Linear([mu; sigma])``.
    """

    frame_level: ClassVar[bool] = True

    def __init__(self, in_dim: int, n_classes: int, *, attention_dim: int = 128) -> None:
        super().__init__()
        self.attention = nn.Sequential(nn.Linear(in_dim, attention_dim), nn.Tanh(), nn.Linear(attention_dim, 1))
        self.out = nn.Linear(2 * in_dim, n_classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        scores = self.attention(x).squeeze(-1)
        if mask is not None:
            scores = scores.masked_fill(~mask.bool(), float("-inf"))
        a = torch.softmax(scores, dim=-1).unsqueeze(-1)
        mu = (a * x).sum(dim=1)
        sigma = ((a * x * x).sum(dim=1) - mu * mu).clamp_min(1e-6).sqrt()
        return self.out(torch.cat([mu, sigma], dim=-1))


class LSTMHead(nn.Module):
    """LSTM over frames ``(B, T, D)`` (packed by the mask's lengths) -> last hidden state(s) -> Linear(C).

    With ``bidirectional`` the final forward and backward states are concatenated.
    """

    frame_level: ClassVar[bool] = True

    def __init__(
        self,
        in_dim: int,
        n_classes: int,
        *,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            in_dim,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.out = nn.Linear(hidden_size * (2 if bidirectional else 1), n_classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        lengths = torch.full((x.shape[0],), x.shape[1]) if mask is None else mask.sum(dim=1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        last = torch.cat([h[-2], h[-1]], dim=-1) if self.lstm.bidirectional else h[-1]
        return self.out(last)


HEAD_MODULES: dict[str, type[nn.Module]] = {
    "linear": LinearHead,
    "mlp": MLPHead,
    "residual": ResidualHead,
    "attentive_stats": AttentiveStatsHead,
    "lstm": LSTMHead,
    **RATER_HEAD_MODULES,  # per_rater, crowd_layer: voxpop.models.rater_heads
}


def build_head(name: str, in_dim: int, n_classes: int, n_raters: int | None = None, **options: Any) -> nn.Module:
    """Build head ``name`` from :data:`HEAD_MODULES` with options validated by
    :func:`voxpop.models.specs.validated_options`.

    The rater-aware heads (:data:`voxpop.models.specs.RATER_HEADS`) need ``n_raters``, their number of rater
    outputs; the other heads take none.

    The head is first laid out on torch's ``meta`` device (shapes, no memory) and its parameters counted:
    more than the ceiling ``head_parameters`` (:mod:`voxpop.core.limits`; e.g. a hidden layer of 3 x 10^8 units)
    is refused before any memory is allocated.

    Raises:
        ConfigError: unknown head, an invalid option, or too many parameters (naming ``model.head_options``).

    >>> build_head("mlp", 8, 3, hidden_dim=16).layers[0]
    Linear(in_features=8, out_features=16, bias=True)
    >>> build_head("mlp", 8, 3, hidden=16)
    Traceback (most recent call last):
    voxpop.core.errors.ConfigError: head_options.hidden: unknown option of head 'mlp' (accepted: hidden_dim, ...
    """
    if name not in HEAD_MODULES:
        classical = ", ".join(CLASSICAL)
        raise ConfigError(f"unknown head {name!r}; choose one of {', '.join(HEAD_MODULES)} (or classical {classical}).")
    cls = HEAD_MODULES[name]
    kwargs = validated_options("head", name, options)
    if (name in RATER_HEADS) != (n_raters is not None):
        raise ConfigError(f"internal: head {name!r} built with n_raters={n_raters}; only {RATER_HEADS} take it.")
    raters = () if n_raters is None else (n_raters, build_head)  # a rater head builds its trunk with build_head
    with torch.device("meta"):
        size = sum(p.numel() for p in cls(in_dim, n_classes, *raters, **kwargs).parameters())
    where = f"model.head_options of head {name!r} ({in_dim} inputs, {options or 'default options'})"
    check_ceiling("head_parameters", size, where)
    return cls(in_dim, n_classes, *raters, **kwargs)


class LayerWeightedSum(nn.Module):
    """Learnable softmax-weighted sum over the layer axis 1 of ``x (B, L, ...)``, feeding ``head``.

    ``sum_l softmax(w)_l x[:, l]`` with w initialised to zeros (equal weights), as s3prl's Featurizer.
    Works on cached per-layer vectors ``(B, L, D)`` and on per-layer frames ``(B, L, T, D)`` alike.

    >>> m = LayerWeightedSum(3, LinearHead(4, 2))
    >>> m(torch.ones(5, 3, 4)).shape
    torch.Size([5, 2])
    >>> m.layer_weights()
    array([0.333..., 0.333..., 0.333...], dtype=float32)
    """

    def __init__(self, n_layers: int, head: nn.Module) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(n_layers))
        self.head = head

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        w = torch.softmax(self.weights, dim=0).to(x.dtype)
        summed = torch.tensordot(w, x.movedim(1, 0), dims=1)
        return self.head(summed, mask)

    def layer_weights(self) -> np.ndarray:
        """The softmax layer weights (sum to 1)."""
        return torch.softmax(self.weights.detach().float(), dim=0).cpu().numpy()


def transformer_layers(backbone: nn.Module) -> nn.ModuleList:
    """The transformer layer list ``backbone.encoder.layers`` (wav2vec 2.0, HuBERT, WavLM, data2vec-audio)."""
    layers = getattr(getattr(backbone, "encoder", None), "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise ConfigError(
            f"backbone {type(backbone).__name__} has no encoder.layers; supported are wav2vec 2.0-style models "
            "(wav2vec2, HuBERT, WavLM, data2vec-audio)."
        )
    return layers


def load_backbone(path: str, keep_layers: int | None = None) -> nn.Module:
    """Load a self-supervised backbone with ``AutoModel`` from a local directory (no network).

    ``keep_layers`` keeps only the first k transformer layers (and records it in the model's config). A folder
    whose config asks for the model's own code is refused before anything is loaded
    (:func:`voxpop.core.safe_load.check_model_folder`: InputError naming the file and key); one transformers
    cannot load is a ConfigError.
    """
    from transformers import AutoModel

    check_model_folder(path)  # no remote code, before transformers reads anything
    try:
        backbone = AutoModel.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot load a Hugging Face backbone from this directory ({exc}).") from None
    if keep_layers is not None:
        layers = transformer_layers(backbone)
        if not 1 <= keep_layers <= len(layers):
            raise ConfigError(f"{path}: keep_layers={keep_layers}, but the backbone has {len(layers)} layers.")
        backbone.encoder.layers = layers[:keep_layers]
        backbone.config.num_hidden_layers = keep_layers
    return backbone


def feature_extractor_normalizes(path: str) -> bool:
    """Whether the checkpoint's feature extractor standardises waveforms (``do_normalize``); False without one."""
    from transformers import AutoFeatureExtractor

    check_model_folder(path)
    try:
        extractor = AutoFeatureExtractor.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError):
        return False
    return bool(getattr(extractor, "do_normalize", False))


class BackboneClassifier(nn.Module):
    """Audio ``(B, S)`` + sample mask -> backbone hidden states of every layer -> :class:`LayerWeightedSum`
    -> ``head`` (pooled heads mean-pool over valid frames; frame heads see the frames).

    The convolutional feature encoder is always frozen. ``trainable_layers=k`` freezes the whole
    backbone except its top k transformer layers (0 trains only the layer weights and the head; None
    trains every transformer layer). ``normalize_audio`` standardises each clip over its valid samples
    (zero mean, unit variance, as ``Wav2Vec2FeatureExtractor`` with ``do_normalize``; the SSL feature
    extractor follows the checkpoint the same way, see :func:`feature_extractor_normalizes`). The sample
    mask reaches the backbone only when its feature encoder uses layer norm (``feat_extract_norm ==
    "layer"``, the Hugging Face advice for group-norm models) unless ``pass_attention_mask`` says
    otherwise; frame validity for pooling always comes from the mask.

    The checkpoint's other training-time regularisation is kept (dropouts, SpecAugment time / feature
    masking) with two exceptions. LayerDrop (``config.layerdrop``, 0.05-0.1 in released WavLM, HuBERT
    and wav2vec 2.0 configs) is set to 0: a dropped layer is missing from ``hidden_states``, which the
    layer-weighted sum needs complete. SpecAugment time masking is skipped for a batch shorter than one
    mask (``mask_time_length`` frames), where transformers cannot place a mask and would raise.
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        *,
        trainable_layers: int | None = None,
        normalize_audio: bool = False,
        pass_attention_mask: bool | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.normalize_audio = normalize_audio
        config = backbone.config
        layer_norm = getattr(config, "feat_extract_norm", "layer") == "layer"  # data2vec-audio: layer norm
        self.pass_attention_mask = layer_norm if pass_attention_mask is None else pass_attention_mask
        if getattr(config, "layerdrop", 0.0) > 0:
            log.info(
                "backbone layerdrop %g set to 0: the layer-weighted sum needs every hidden state", config.layerdrop
            )
            config.layerdrop = 0.0  # the encoder reads its config at every forward pass
        layers = transformer_layers(backbone)
        self.layer_sum = LayerWeightedSum(len(layers) + 1, head)
        backbone.feature_extractor._freeze_parameters()  # HubertModel has no freeze_feature_encoder()
        if trainable_layers is not None:
            if not 0 <= trainable_layers <= len(layers):
                raise ConfigError(f"trainable_layers={trainable_layers}, but the backbone has {len(layers)} layers.")
            backbone.requires_grad_(False)
            for layer in layers[len(layers) - trainable_layers :]:
                layer.requires_grad_(True)

    def _no_time_mask(self, audio: torch.Tensor) -> torch.Tensor | None:
        """An all-False SpecAugment time mask when training on a batch shorter than ``mask_time_length`` frames."""
        config = self.backbone.config
        masking = getattr(config, "apply_spec_augment", False) and getattr(config, "mask_time_prob", 0.0) > 0
        if not (self.training and masking):
            return None
        frames = int(self.backbone._get_feat_extract_output_lengths(audio.shape[1]))
        if frames >= config.mask_time_length:
            return None
        return torch.zeros(audio.shape[0], frames, dtype=torch.bool, device=audio.device)

    def hidden_states(self, audio: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Stacked hidden states ``(B, L + 1, T, D)`` (embedding output first) and the frame mask ``(B, T)``."""
        if mask is None:
            mask = torch.ones_like(audio, dtype=torch.bool)
        mask = mask.bool()
        if self.normalize_audio:
            n = mask.sum(dim=1, keepdim=True).clamp_min(1)
            mean = (audio * mask).sum(dim=1, keepdim=True) / n
            var = (((audio - mean) * mask) ** 2).sum(dim=1, keepdim=True) / n
            audio = (audio - mean) / torch.sqrt(var + 1e-7) * mask
        out = self.backbone(
            audio,
            attention_mask=mask.long() if self.pass_attention_mask else None,
            mask_time_indices=self._no_time_mask(audio),
            output_hidden_states=True,
        )
        states = torch.stack(out.hidden_states, dim=1)
        frame_mask = self.backbone._get_feature_vector_attention_mask(states.shape[2], mask.long()).bool()
        return states, frame_mask

    def forward(self, audio: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        states, frame_mask = self.hidden_states(audio, mask)
        return self.layer_sum(states, frame_mask)


def _classical_pipeline(estimator: Any, pca_components: int | None, seed: int) -> Pipeline:
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps: list[tuple[str, Any]] = [("scale", StandardScaler())]
    if pca_components is not None:
        steps.append(("pca", PCA(n_components=pca_components, random_state=seed)))
    return Pipeline([*steps, ("model", estimator)])


def svm_pipeline(
    *,
    seed: int,
    C: float = 1.0,
    kernel: Literal["rbf", "linear", "poly", "sigmoid"] = "rbf",
    pca_components: int | None = None,
    calibration_folds: int = 5,
) -> Pipeline:
    """StandardScaler -> optional PCA -> SVC with Platt-scaled probabilities.

    Probabilities come from ``CalibratedClassifierCV(SVC(), method="sigmoid", cv=calibration_folds,
    ensemble=False)``: a sigmoid fitted on cross-validated decision values, then the SVC refitted on all
    data (what ``SVC(probability=True)`` did before scikit-learn 1.9 deprecated it). Every class needs at
    least ``calibration_folds`` training items.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    svc = SVC(C=C, kernel=kernel, random_state=seed)
    return _classical_pipeline(
        CalibratedClassifierCV(svc, method="sigmoid", cv=calibration_folds, ensemble=False), pca_components, seed
    )


def logreg_pipeline(*, seed: int, C: float = 1.0, max_iter: int = 1000, pca_components: int | None = None) -> Pipeline:
    """StandardScaler -> optional PCA -> multinomial ``LogisticRegression``."""
    from sklearn.linear_model import LogisticRegression

    return _classical_pipeline(LogisticRegression(C=C, max_iter=max_iter, random_state=seed), pca_components, seed)


def svr_pipeline(
    *,
    seed: int,
    C: float = 1.0,
    epsilon: float = 0.1,
    kernel: Literal["rbf", "linear", "poly", "sigmoid"] = "rbf",
    pca_components: int | None = None,
) -> Pipeline:
    """StandardScaler -> optional PCA -> one epsilon-SVR per dimension (``MultiOutputRegressor``)."""
    from sklearn.multioutput import MultiOutputRegressor
    from sklearn.svm import SVR

    return _classical_pipeline(MultiOutputRegressor(SVR(C=C, epsilon=epsilon, kernel=kernel)), pca_components, seed)


def ridge_pipeline(*, seed: int, alpha: float = 1.0, pca_components: int | None = None) -> Pipeline:
    """StandardScaler -> optional PCA -> ridge regression (L2-penalised least squares, all dimensions at once)."""
    from sklearn.linear_model import Ridge

    return _classical_pipeline(Ridge(alpha=alpha), pca_components, seed)


CLASSICAL_PIPELINES: dict[str, Callable[..., Pipeline]] = {
    "svm": svm_pipeline,
    "logreg": logreg_pipeline,
    "svr": svr_pipeline,
    "ridge": ridge_pipeline,
}


def build_classical(name: str, seed: int, **options: Any) -> Pipeline:
    """Build classical model ``name`` from :data:`CLASSICAL_PIPELINES` with validated options.

    >>> [step for step, _ in build_classical("logreg", seed=0, pca_components=2).steps]
    ['scale', 'pca', 'model']
    """
    if name not in CLASSICAL_PIPELINES:
        raise ConfigError(f"unknown classical model {name!r}; choose one of {', '.join(CLASSICAL_PIPELINES)}.")
    builder = CLASSICAL_PIPELINES[name]
    return builder(seed=seed, **validated_options("head", name, options))
