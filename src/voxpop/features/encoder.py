"""Self-supervised speech encoders (WavLM, HuBERT, wav2vec 2.0, data2vec-audio) via transformers, and the
raw waveform (``waveform``) that backbone fine-tuning trains on.

``ssl:PATH_OR_HUB_ID`` loads ``AutoModel`` (and ``AutoFeatureExtractor`` when the checkpoint has
one) from a local directory or, only when named, a Hugging Face hub id. Per clip it stores the
hidden states 0..L (``hidden_states[0]`` is the input of the first transformer layer,
``hidden_states[k]`` the output of layer k; only the first L layers are run) reduced to their
time mean over the valid frames, an (L+1) x D float16 matrix (METHODS.md section 4, exact
caching), optionally with the per-layer standard deviation ((L+1) x 2D: means, then stds); or
the frames (T x D) of one layer or of a fixed weighted sum of layers.

Exactness under batching. The feature extractor's normalisation (zero mean, unit variance) is
applied to each clip alone, before padding. Clips are sorted by length and padded with an
attention mask; the frame mask follows from the sample mask through the model's
``_get_feat_extract_output_lengths``, and means use valid frames only. This is exact only when
padded samples cannot reach valid frames: models whose convolutional feature encoder uses group
norm (``feat_extract_norm="group"``, e.g. wav2vec2-base, hubert-base) normalise over time and
change with padding, and data2vec-audio's stacked positional convolutions (or a batch-normed
positional convolution) leak padded frames into valid ones. Such models are batched only with
clips of exactly equal length (one clip at a time otherwise), so stored values never depend on
batching. Padded batches are used for wav2vec2, HuBERT and WavLM with layer-norm feature encoders.
The model runs in eval mode, so the checkpoint's LayerDrop, dropouts and SpecAugment are inactive.
"""

from __future__ import annotations

import contextlib
import itertools
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

from voxpop.core.errors import ConfigError
from voxpop.core.safe_load import check_model_folder
from voxpop.features.audio import AudioError, AudioLoader
from voxpop.features.base import ClipRequest, Extractor, Layout, Outcome, load_clip

PADDING_EXACT_MODELS = ("wav2vec2", "hubert", "wavlm")
"""Model types whose valid frames do not depend on padding when given an attention mask
(with a layer-norm feature encoder and a plain positional convolution)."""

_MODEL_FILES = (".json", ".safetensors", ".bin", ".pt")


def masked_layer_statistics(hidden_states: Sequence[torch.Tensor], mask: torch.Tensor, std: bool) -> torch.Tensor:
    """Per-layer time mean (and std) over valid frames: (B, L, D), or (B, L, 2D) with std.

    For layer l, clip b with frame mask m_t: mean = sum_t m_t h_t / sum_t m_t and
    std = sqrt(sum_t m_t (h_t - mean)^2 / sum_t m_t) (population std over the valid frames).

    >>> h = torch.tensor([[[1.0], [3.0], [100.0]]])  # one clip, 3 frames, D = 1; frame 3 is padding
    >>> masked_layer_statistics([h, 2 * h], torch.tensor([[True, True, False]]), std=True)
    tensor([[[2., 1.],
             [4., 2.]]])
    """
    weights = mask.to(torch.float32).unsqueeze(-1)
    counts = weights.sum(dim=1)
    out = []
    for layer in hidden_states:
        layer = layer.to(torch.float32)
        mean = (layer * weights).sum(dim=1) / counts
        if std:
            variance = (((layer - mean.unsqueeze(1)) ** 2) * weights).sum(dim=1) / counts
            mean = torch.cat([mean, variance.sqrt()], dim=-1)
        out.append(mean)
    return torch.stack(out, dim=1)


def receptive_field(config: Any) -> int:
    """Samples of one output frame of a wav2vec 2.0-style convolutional feature encoder.

    Backwards over the layers: ``needed = (needed - 1) * stride + kernel``, starting from 1 frame.

    >>> from types import SimpleNamespace
    >>> receptive_field(SimpleNamespace(conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2)))
    400
    """
    needed = 1
    for kernel, stride in reversed(list(zip(config.conv_kernel, config.conv_stride, strict=True))):
        needed = (needed - 1) * stride + kernel
    return needed


def resolve_device(device: str) -> torch.device:
    """``auto`` -> ``cuda`` when available, else ``cpu``; anything else as torch understands it."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"device {device!r} is not valid ({exc}); use auto, cpu or cuda") from None


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> bf16 (or fp16 without bf16 support) on GPU, fp32 on CPU."""
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ConfigError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


class SpeechEncoderExtractor(Extractor):
    """``ssl:PATH_OR_HUB_ID``: pooled hidden states (layers) or frames of a speech encoder."""

    name = "ssl"

    def __init__(
        self,
        argument: str | None,
        layers: int | None = None,
        std: bool = False,
        frames_layer: int | None = None,
        frames_mix: Sequence[float] | None = None,
        device: str = "auto",
        precision: str = "auto",
        batch_size: int = 8,
        revision: str | None = None,
    ):
        if not argument:
            raise ConfigError("extractor 'ssl' needs a model: 'ssl:PATH' (a local directory) or 'ssl:HUB_ID'")
        self.source = argument
        self.local = Path(argument).is_dir()
        self.revision = revision
        check_model_folder(argument)  # no remote code, before transformers reads anything
        try:
            self.model_config = AutoConfig.from_pretrained(argument, revision=revision, local_files_only=self.local)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"ssl model {argument!r}: could not load its configuration ({exc})") from None
        c = self.model_config
        if not all(hasattr(c, key) for key in ("conv_kernel", "conv_stride", "num_hidden_layers", "hidden_size")):
            raise ConfigError(
                f"ssl model {argument!r} ({c.model_type}) is not a wav2vec 2.0-style speech encoder "
                "(WavLM, HuBERT, wav2vec 2.0, data2vec-audio)"
            )
        self.layers = c.num_hidden_layers if layers is None else int(layers)
        if not 0 <= self.layers <= c.num_hidden_layers:
            raise ConfigError(f"layers must be between 0 and {c.num_hidden_layers} for {argument!r}, got {layers}")
        if frames_layer is not None and frames_mix is not None:
            raise ConfigError("give frames_layer or frames_mix, not both")
        if frames_layer is not None and not 0 <= frames_layer <= self.layers:
            raise ConfigError(f"frames_layer must be between 0 and layers={self.layers}, got {frames_layer}")
        if frames_mix is not None and len(frames_mix) != self.layers + 1:
            raise ConfigError(
                f"frames_mix needs {self.layers + 1} weights (layers 0..{self.layers}), got {len(frames_mix)}"
            )
        if std and (frames_layer is not None or frames_mix is not None):
            raise ConfigError("std applies to pooled output; frame output keeps every frame")
        self.std = bool(std)
        self.frames_layer = frames_layer
        self.frames_mix = None if frames_mix is None else [float(w) for w in frames_mix]
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        if batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {batch_size}")
        self.batch_size = int(batch_size)
        try:
            self.feature_extractor = AutoFeatureExtractor.from_pretrained(
                argument, revision=revision, local_files_only=self.local
            )
        except (OSError, ValueError):
            self.feature_extractor = None  # no preprocessor_config.json: raw waveform in
        fe = self.feature_extractor
        self.sample_rate = int(getattr(fe, "sampling_rate", 16000))
        self.normalize = bool(getattr(fe, "do_normalize", False))
        self.padding_value = float(getattr(fe, "padding_value", 0.0))
        self.uses_mask = getattr(c, "feat_extract_norm", "layer") == "layer"  # data2vec-audio: always layer norm
        self.pads_exactly = (
            c.model_type in PADDING_EXACT_MODELS and self.uses_mask and not getattr(c, "conv_pos_batch_norm", False)
        )

    @property
    def frame_output(self) -> bool:
        return self.frames_layer is not None or self.frames_mix is not None

    def _model_identity(self) -> dict:
        if self.local:
            directory = Path(self.source).resolve()
            files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in _MODEL_FILES)
            stats = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]
            return {"path": str(directory), "files": stats}
        return {"hub_id": self.source, "revision": getattr(self.model_config, "_commit_hash", None) or self.revision}

    def config(self) -> dict:
        return {
            "model": self._model_identity(),
            "model_type": self.model_config.model_type,
            "layers": self.layers,
            "std": self.std,
            "frames_layer": self.frames_layer,
            "frames_mix": self.frames_mix,
            "normalize": self.normalize,
            "precision": self.precision,
        }

    def describe(self) -> str:
        output = f"frames of layer {self.frames_layer}" if self.frames_layer is not None else "frames (layer mix)"
        if not self.frame_output:
            output = "mean" + (" + std" if self.std else "")
        return f"ssl:{self.source} (layers 0..{self.layers}, {output}, {self.device.type} {self.precision})"

    def layout(self) -> Layout:
        dims = [f"d{j}" for j in range(self.model_config.hidden_size)]
        if self.frame_output:
            return Layout("frames", tuple(dims), dtype="float16")
        names = [f"{stat}_{d}" for stat in ("mean", "std") for d in dims] if self.std else dims
        return Layout("layers", tuple(names), tuple(f"layer{k}" for k in range(self.layers + 1)), "float16")

    @property
    def min_samples(self) -> int:
        """Samples needed for one output frame of the convolutional feature encoder."""
        return receptive_field(self.model_config)

    @contextlib.contextmanager
    def session(self, loader: AudioLoader) -> Iterator[None]:
        """Load the model (first L layers only), in eval mode on the chosen device."""
        model = AutoModel.from_pretrained(
            self.source, revision=self.revision, local_files_only=self.local, dtype=torch.float32
        )
        encoder = getattr(model, "encoder", None)
        if not hasattr(model, "_get_feat_extract_output_lengths") or not hasattr(encoder, "layers"):
            raise ConfigError(f"ssl model {self.source!r} ({type(model).__name__}) has no wav2vec 2.0-style encoder")
        # hidden states are recorded around the layers, so layers=0 still runs layer 1 to see its input
        encoder.layers = encoder.layers[: max(self.layers, 1)]
        self._model = model.eval().to(self.device)
        try:
            yield
        finally:
            self._model = None

    def compute(self, signal: np.ndarray) -> np.ndarray:
        return self._forward([self._prepare(signal)])[0]

    def run(self, requests: list[ClipRequest], loader: AudioLoader) -> Iterator[Outcome]:
        """Load the clips, run length-sorted batches, yield outcomes in request order."""
        outcomes: dict[str, Outcome] = {}
        signals: dict[str, np.ndarray] = {}
        for request in requests:
            try:
                signals[request.item] = self._prepare(load_clip(self, loader, request))
            except AudioError as error:
                outcomes[request.item] = Outcome.skipped(request.item, error)
        for batch in self.batches({item: len(s) for item, s in signals.items()}):
            for item, values in zip(batch, self._forward([signals[i] for i in batch]), strict=True):
                outcomes[item] = Outcome(item, values, len(signals[item]) / self.sample_rate)
        for request in requests:
            yield outcomes[request.item]

    def batches(self, lengths: dict[str, int]) -> list[list[str]]:
        """Items sorted by length (longest first) cut into batches; equal lengths only unless padding is exact."""
        order = sorted(lengths, key=lambda item: -lengths[item])
        groups = [order] if self.pads_exactly else [list(g) for _, g in itertools.groupby(order, key=lengths.get)]
        return [g[i : i + self.batch_size] for g in groups for i in range(0, len(g), self.batch_size)]

    def _prepare(self, signal: np.ndarray) -> np.ndarray:
        """The model input of one clip: the feature extractor's output (normalised alone, unpadded)."""
        if self.feature_extractor is None:
            return signal
        encoded = self.feature_extractor(signal, sampling_rate=self.sample_rate, return_tensors="np")
        if "input_values" not in encoded:
            raise ConfigError(
                f"ssl model {self.source!r}: its feature extractor returns {list(encoded)}, not raw "
                "'input_values'; only waveform encoders are supported"
            )
        return np.asarray(encoded["input_values"][0], dtype=np.float32)

    def _forward(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        lengths = torch.tensor([len(x) for x in inputs])
        batch = torch.full((len(inputs), int(lengths.max())), self.padding_value, dtype=torch.float32)
        for row, x in enumerate(inputs):
            batch[row, : len(x)] = torch.from_numpy(x)
        sample_mask = torch.arange(batch.shape[1])[None, :] < lengths[:, None]
        kwargs = {"attention_mask": sample_mask.long().to(self.device)} if self.uses_mask else {}
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        autocast = torch.autocast(self.device.type, dtype=dtype) if dtype else contextlib.nullcontext()
        with torch.inference_mode(), autocast, warnings.catch_warnings():
            # WavLM's own attention call mixes a boolean padding mask with its float position bias
            warnings.filterwarnings("ignore", message="Support for mismatched key_padding_mask")
            hidden = self._model(batch.to(self.device), output_hidden_states=True, **kwargs).hidden_states
            hidden = hidden[: self.layers + 1]
            frames = self._model._get_feat_extract_output_lengths(lengths).to(self.device)
            frame_mask = torch.arange(hidden[0].shape[1], device=self.device)[None, :] < frames[:, None]
            if not self.frame_output:
                pooled = masked_layer_statistics(hidden, frame_mask, self.std)
                return list(pooled.to(torch.float16).cpu().numpy())
            weights = self.frames_mix or [1.0 if k == self.frames_layer else 0.0 for k in range(self.layers + 1)]
            mixed = sum(w * h.to(torch.float32) for w, h in zip(weights, hidden, strict=True))
            mixed = mixed.to(torch.float16).cpu().numpy()
            return [mixed[row, : int(n)] for row, n in enumerate(frames.cpu())]


class WaveformExtractor(Extractor):
    """``waveform[:PATH]``: the clip itself, ``(S, 1)`` float32 samples: the input of backbone fine-tuning.

    With a backbone directory ``PATH`` the sample rate is its feature extractor's (16 kHz without one)
    and clips shorter than the backbone's receptive field (:func:`receptive_field`) are skipped as
    ``too_short``; the model itself is not part of the stored values' key, only these two numbers.
    """

    name = "waveform"

    def __init__(self, argument: str | None = None):
        self.sample_rate, self._min_samples = 16000, 1
        if argument is not None:
            check_model_folder(argument)
            try:
                config = AutoConfig.from_pretrained(argument, local_files_only=True)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"waveform:{argument}: could not load the backbone's configuration ({exc})") from None
            if not all(hasattr(config, key) for key in ("conv_kernel", "conv_stride")):
                raise ConfigError(f"waveform:{argument}: {config.model_type} is not a wav2vec 2.0-style speech encoder")
            try:
                fe = AutoFeatureExtractor.from_pretrained(argument, local_files_only=True)
                self.sample_rate = int(getattr(fe, "sampling_rate", 16000))
            except (OSError, ValueError):
                pass  # no preprocessor_config.json: 16 kHz
            self._min_samples = receptive_field(config)

    @property
    def min_samples(self) -> int:
        return self._min_samples

    def config(self) -> dict:
        return {"sample_rate": self.sample_rate, "min_samples": self._min_samples}

    def describe(self) -> str:
        return f"waveform ({self.sample_rate} Hz, at least {self._min_samples} samples)"

    def layout(self) -> Layout:
        return Layout("frames", ("sample",), dtype="float32")

    def compute(self, signal: np.ndarray) -> np.ndarray:
        return np.asarray(signal, dtype=np.float32)[:, None]
