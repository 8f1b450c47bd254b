"""Log-mel filterbank features computed with numpy (Kaldi-style), pooled or frame by frame.

Frames of 25 ms every 10 ms without padding at the edges (Kaldi ``snip_edges``); per frame the DC
offset is removed, a pre-emphasis of 0.97 applied and a Povey window (Hann^0.85) multiplied in;
the power spectrum |FFT|^2 (FFT size: next power of two) goes through triangular mel filters
(:func:`mel_filterbank`) and the natural log with a floor at float32 epsilon. The ``fbank``
extractor stores either the mean and standard deviation over frames (2 x n_mels values) or the
frames themselves.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from voxpop.core.errors import ConfigError
from voxpop.features.base import Extractor, Layout

LOG_FLOOR = float(np.finfo(np.float32).eps)
_BLOCK_FRAMES = 4096  # frames per block of log_mel_fbank (about 20 MB of spectra): a long clip in bounded memory


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray | float:
    """The Kaldi / HTK-log mel scale: mel(f) = 1127 ln(1 + f / 700).

    >>> round(float(hz_to_mel(700.0)), 3)  # 1127 ln 2
    781.177
    """
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def mel_filterbank(
    n_mels: int, n_fft: int, sample_rate: int, low_hz: float = 20.0, high_hz: float | None = None
) -> np.ndarray:
    """Triangular mel filters as a (n_fft // 2 + 1, n_mels) matrix, triangles drawn on the mel axis.

    Centres c_0 < c_1 < ... < c_{M+1} are equally spaced in mel between mel(low_hz) and
    mel(high_hz) (default: Nyquist). At FFT bin frequency f_k = k sample_rate / n_fft filter m has
    weight max(0, min((mel(f_k) - c_{m-1}) / (c_m - c_{m-1}), (c_{m+1} - mel(f_k)) / (c_{m+1} - c_m))).

    >>> fb = mel_filterbank(3, 8, 8000, low_hz=0.0)
    >>> fb.shape
    (5, 3)
    >>> np.round(fb, 2)  # bin 1 (1000 Hz, 1000 mel) lies between c_1 = 536.5 and c_2 = 1073 mel
    array([[0.  , 0.  , 0.  ],
           [0.14, 0.86, 0.  ],
           [0.  , 0.16, 0.84],
           [0.  , 0.  , 0.5 ],
           [0.  , 0.  , 0.  ]])
    """
    high_hz = sample_rate / 2 if high_hz is None else high_hz
    if not 0 <= low_hz < high_hz <= sample_rate / 2:
        raise ConfigError(f"mel filterbank: need 0 <= low_hz < high_hz <= {sample_rate / 2:g}, got {low_hz}, {high_hz}")
    centres = np.linspace(hz_to_mel(low_hz), hz_to_mel(high_hz), n_mels + 2)
    bins = hz_to_mel(np.arange(n_fft // 2 + 1) * sample_rate / n_fft)[:, None]
    rising = (bins - centres[None, :-2]) / np.diff(centres)[None, :-1]
    falling = (centres[None, 2:] - bins) / np.diff(centres)[None, 1:]
    return np.maximum(0.0, np.minimum(rising, falling))


def log_mel_fbank(
    signal: np.ndarray,
    sample_rate: int,
    n_mels: int = 80,
    frame_seconds: float = 0.025,
    hop_seconds: float = 0.010,
    preemphasis: float = 0.97,
    low_hz: float = 20.0,
) -> np.ndarray:
    """Log-mel filterbank frames, shape (T, n_mels) with T = 1 + (len(signal) - frame) // hop, computed in blocks
    of frames so that memory stays bounded for long clips (besides the (T, n_mels) output).

    Per frame x (length N): x <- x - mean(x); y_0 = (1 - a) x_0, y_n = x_n - a x_{n-1};
    y <- y * w with w = hann(N)^0.85; P = |rfft(y, n_fft)|^2; output log(max(P @ F, eps)).

    >>> out = log_mel_fbank(np.zeros(1600, dtype=np.float32), 16000)
    >>> out.shape, bool(np.all(out == np.log(LOG_FLOOR)))  # silence: every band at the floor
    ((8, 80), True)
    """
    frame = round(frame_seconds * sample_rate)
    hop = round(hop_seconds * sample_rate)
    if len(signal) < frame:
        raise ValueError(f"a signal of {len(signal)} samples is shorter than one frame ({frame} samples)")
    n_fft = 1 << (frame - 1).bit_length()
    view = np.lib.stride_tricks.sliding_window_view(np.asarray(signal, dtype=np.float64), frame)[::hop]
    window = np.hanning(frame) ** 0.85
    filters = mel_filterbank(n_mels, n_fft, sample_rate, low_hz)
    out = np.empty((len(view), n_mels))
    for start in range(0, len(view), _BLOCK_FRAMES):  # bounded memory: a long clip is computed block by block
        frames = view[start : start + _BLOCK_FRAMES]
        frames = frames - frames.mean(axis=1, keepdims=True)
        emphasized = np.empty_like(frames)
        emphasized[:, 1:] = frames[:, 1:] - preemphasis * frames[:, :-1]
        emphasized[:, 0] = (1.0 - preemphasis) * frames[:, 0]
        power = np.abs(np.fft.rfft(emphasized * window, n=n_fft, axis=1)) ** 2
        out[start : start + len(frames)] = np.log(np.maximum(power @ filters, LOG_FLOOR))
    return out


class FbankExtractor(Extractor):
    """``fbank``: log-mel filterbank, pooled (mean and std over frames) or as frames (T x n_mels)."""

    name = "fbank"

    def __init__(
        self,
        argument: str | None = None,
        n_mels: int = 80,
        output: Literal["pooled", "frames"] = "pooled",
        workers: int = 1,
    ):
        if argument is not None:
            raise ConfigError(f"extractor 'fbank' takes no argument after the colon, got {argument!r}")
        if output not in ("pooled", "frames"):
            raise ConfigError(f"fbank output must be 'pooled' or 'frames', got {output!r}")
        bins = (1 << (round(0.025 * self.sample_rate) - 1).bit_length()) // 2 + 1  # FFT bins of a 25 ms frame
        if not 1 <= n_mels <= bins:
            raise ConfigError(
                f"fbank n_mels must be between 1 and {bins} (the FFT bins of a 25 ms frame), got {n_mels}"
            )
        self.n_mels = int(n_mels)
        self.output = output
        self.workers = int(workers)

    def config(self) -> dict:
        return {"n_mels": self.n_mels, "output": self.output, "frame_seconds": 0.025, "hop_seconds": 0.010}

    def describe(self) -> str:
        return f"fbank(n_mels={self.n_mels}, output={self.output})"

    def layout(self) -> Layout:
        bands = [f"mel{m:02d}" for m in range(self.n_mels)]
        if self.output == "frames":
            return Layout("frames", tuple(bands))
        return Layout("vector", tuple(f"{stat}_{band}" for stat in ("mean", "std") for band in bands))

    @property
    def min_samples(self) -> int:
        return round(0.025 * self.sample_rate)

    def compute(self, signal: np.ndarray) -> np.ndarray:
        frames = log_mel_fbank(signal, self.sample_rate, self.n_mels)
        if self.output == "frames":
            return frames.astype(np.float32)
        return np.concatenate([frames.mean(axis=0), frames.std(axis=0)]).astype(np.float32)
