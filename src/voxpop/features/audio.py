"""Audio in: read any file soundfile can decode, mix to mono, resample, truncate or crop, add noise.

METHODS.md section 4: mono, 16 kHz, optional truncation to the first T seconds (or a seeded random
crop), optional additive noise from a folder at a chosen SNR. :class:`AudioLoader` applies
:class:`AudioOptions` to one file in this order:

1. read (WAV, FLAC, OGG, MP3 and everything else libsndfile decodes) as float32; an item with a time
   window (item columns ``offset`` and optionally ``duration``, seconds) reads only frames
   [round(offset * rate), round((offset + duration) * rate)) of the file;
2. mix to mono (mean over channels, :func:`to_mono`);
3. resample with soxr to ``sample_rate`` (:func:`resample`);
4. too-short policy: a clip shorter than ``min_seconds`` is skipped (``too_short="skip"``, an
   :class:`AudioError` with reason ``too_short``) or zero-padded at the end to ``min_seconds``
   (``too_short="pad"``);
5. keep the first ``max_seconds`` (``crop="head"``) or a window of that length at a random start
   (``crop="random"``, seeded per item, :func:`item_rng`);
6. add noise at ``snr_db`` from ``noise_dir`` (a noise file and start chosen per item, seeded;
   :func:`mix_at_snr`).

Every problem with a file is an :class:`AudioError` that names the file, says what was wrong and
carries a short ``reason`` code (:data:`REASONS`) by which extraction summaries count skipped items.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile
import soxr

from voxpop.core.errors import ConfigError, InputError, option
from voxpop.core.limits import CEILINGS, ceiling

REASONS = {
    "no_audio": "the item has no audio path",
    "missing": "the audio file does not exist",
    "empty_file": "the audio file is empty (0 bytes)",
    "unreadable": "the file could not be decoded as audio",
    "no_samples": "the file decodes to zero samples",
    "not_finite": "the audio contains NaN or infinite samples",
    "too_short": "the clip is shorter than required",
    "silent": "the clip is digital silence, so an SNR is undefined",
    "outside_file": "the item's time window (offset, duration) reaches beyond the end of the file",
    "too_long": "the clip is longer than the ceiling of audio read per clip (VOXPOP_MAX_CLIP_SECONDS)",
}
"""Reason codes of :class:`AudioError` and what they mean."""

# Read this much audio beyond ``max_seconds`` so that resampling the head equals resampling the
# whole file (the soxr filter only reaches a few milliseconds).
_RESAMPLE_MARGIN_SECONDS = 0.1


class AudioError(InputError):
    """An audio file that cannot be used; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, path: object, reason: str, detail: str):
        if reason not in REASONS:
            raise ValueError(f"unknown audio error reason {reason!r}")
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{path}: {detail}")


@dataclasses.dataclass(frozen=True)
class AudioOptions:
    """How a file becomes the signal an extractor sees (all defaults: the whole clip, 16 kHz mono).

    ``min_seconds`` and ``too_short`` set the policy for very short clips (skip or zero-pad);
    ``crop`` chooses the kept window when ``max_seconds`` is set; ``noise_dir`` with ``snr_db``
    adds noise; ``seed`` drives every random choice (crop start, noise file, noise start).
    """

    sample_rate: int = 16000
    max_seconds: float | None = None
    crop: Literal["head", "random"] = "head"
    min_seconds: float = 0.1
    too_short: Literal["skip", "pad"] = "skip"
    noise_dir: str | None = None
    snr_db: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.sample_rate <= 0:
            problems.append(f"sample_rate must be positive, got {self.sample_rate}")
        if self.max_seconds is not None and self.max_seconds <= 0:
            problems.append(f"max_seconds must be positive, got {self.max_seconds}")
        if self.crop not in ("head", "random"):
            problems.append(f"crop must be 'head' or 'random', got {self.crop!r}")
        if self.min_seconds < 0:
            problems.append(f"min_seconds must be >= 0, got {self.min_seconds}")
        if self.max_seconds is not None and self.min_seconds > self.max_seconds:
            problems.append(f"min_seconds ({self.min_seconds}) exceeds max_seconds ({self.max_seconds})")
        if self.too_short not in ("skip", "pad"):
            problems.append(f"too_short must be 'skip' or 'pad', got {self.too_short!r}")
        if (self.noise_dir is None) != (self.snr_db is None):
            problems.append("noise_dir and snr_db go together: give both to add noise, or neither")
        if problems:
            raise ConfigError("audio options: " + "; ".join(problems))


def to_mono(frames: np.ndarray) -> np.ndarray:
    """Mix a (samples, channels) array to one channel: the mean over channels.

    >>> to_mono(np.array([[1.0, 3.0], [0.0, -2.0]], dtype=np.float32))
    array([ 2., -1.], dtype=float32)
    """
    if frames.ndim == 1:
        return frames
    if frames.shape[1] == 1:
        return frames[:, 0]
    return frames.mean(axis=1, dtype=np.float64).astype(frames.dtype)


def resample(signal: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample a mono signal with soxr (high quality); a no-op when the rates are equal.

    The output has ``round(len(signal) * rate_out / rate_in)`` samples.

    >>> resample(np.zeros(8000, dtype=np.float32), 8000, 16000).shape
    (16000,)
    """
    if rate_in == rate_out:
        return signal
    return soxr.resample(signal, rate_in, rate_out, quality="HQ").astype(signal.dtype, copy=False)


def item_rng(seed: int, item: str, purpose: str) -> np.random.Generator:
    """A random generator that depends only on (seed, item, purpose): order- and shard-independent.

    >>> a = item_rng(0, "clip1", "crop").integers(1000)
    >>> b = item_rng(0, "clip1", "crop").integers(1000)
    >>> bool(a == b), bool(item_rng(1, "clip1", "crop").integers(1000) == a)
    (True, False)
    """
    digest = hashlib.sha256(f"{purpose}\0{item}".encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def crop(signal: np.ndarray, length: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Keep ``length`` samples: the first ones, or (with ``rng``) a window at a uniform random start.

    >>> crop(np.arange(5), 3)
    array([0, 1, 2])
    >>> len(crop(np.arange(5), 3, np.random.default_rng(0))), crop(np.arange(2), 3)
    (3, array([0, 1]))
    """
    if len(signal) <= length:
        return signal
    start = 0 if rng is None else int(rng.integers(0, len(signal) - length + 1))
    return signal[start : start + length]


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Add ``noise`` scaled so that the signal-to-noise ratio is ``snr_db`` decibels.

    With powers P_s = mean(s^2) and P_n = mean(n^2), the gain is g = sqrt(P_s / (P_n 10^(snr/10)))
    and the result s + g n has 10 log10(P_s / mean((g n)^2)) = snr.

    >>> mix_at_snr(np.ones(4), np.array([1.0, -1.0, 1.0, -1.0]), 20.0)
    array([1.1, 0.9, 1.1, 0.9])
    """
    power_signal = float(np.mean(np.square(signal, dtype=np.float64)))
    power_noise = float(np.mean(np.square(noise, dtype=np.float64)))
    gain = math.sqrt(power_signal / (power_noise * 10.0 ** (snr_db / 10.0)))
    return (signal + gain * noise).astype(signal.dtype, copy=False)


def read_audio(
    path: str | Path,
    max_seconds: float | None = None,
    *,
    offset: float | None = None,
    duration: float | None = None,
    item: str | None = None,
) -> tuple[np.ndarray, int]:
    """Read a file as float32 (samples, channels) and its sample rate; AudioError when unusable.

    ``max_seconds`` reads only the head of the file (plus a small margin for resampling). With
    ``offset`` (seconds) only the window [offset, offset + duration) is read (to the end of the file
    without ``duration``): frames round(offset * rate) to round((offset + duration) * rate), and the
    head of that window under ``max_seconds``; a window reaching past the end of the file is an
    AudioError (reason ``outside_file``) naming ``item``, the window and the file length.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "missing", "file not found; check the item's audio path")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty_file", "the file is empty (0 bytes); replace it or drop the item")
    try:
        with soundfile.SoundFile(path) as handle:
            rate = handle.samplerate
            frames = -1 if max_seconds is None else math.ceil((max_seconds + _RESAMPLE_MARGIN_SECONDS) * rate)
            if offset is not None:
                first, stop = _window_frames(path, item, offset, duration, rate, handle.frames)
                frames = stop - first if frames < 0 else min(frames, stop - first)
                handle.seek(first)
            _check_length(path, item, frames if frames >= 0 else handle.frames, rate)
            data = handle.read(frames, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioError(
            path, "unreadable", f"could not be decoded as audio ({exc}); expected a WAV, FLAC, OGG or MP3 file"
        ) from None
    if data.shape[0] == 0:
        raise AudioError(path, "no_samples", "the file holds no audio samples (zero length)")
    if not np.isfinite(data).all():
        raise AudioError(path, "not_finite", "the audio contains NaN or infinite samples")
    return data, rate


def _check_length(path: Path, item: str | None, frames: int, rate: int) -> None:
    """Refuse to read more than the ceiling ``clip_seconds`` of one clip (a 2-hour file would take gigabytes in
    every extractor): an AudioError (reason ``too_long``) naming the file, its length and the way out."""
    limit = ceiling("clip_seconds")
    if frames > limit * rate:
        raise AudioError(
            path,
            "too_long",
            f"item {item!r}: {frames / rate:,.0f} s of audio is more than the {limit:,} s read per clip; keep the "
            f"first T seconds with {option('max_seconds')} (features.max_seconds in a recipe), cut the recording into "
            f"segments, or raise the ceiling with {CEILINGS['clip_seconds'].variable}",
        )


def _window_frames(
    path: Path, item: str | None, offset: float, duration: float | None, rate: int, total: int
) -> tuple[int, int]:
    """First and stop frame of the window [offset, offset + duration) s; AudioError when it leaves the file."""
    first = round(offset * rate)
    stop = total if duration is None else round((offset + duration) * rate)
    if offset < 0 or stop <= first or stop > total:
        window = f"{offset:g} s + {'rest' if duration is None else f'{duration:g} s'}"
        raise AudioError(
            path,
            "outside_file",
            f"item {item!r}: the window offset {window} (frames {first}-{stop}) does not lie inside the file "
            f"of {total / rate:g} s ({total} frames at {rate} Hz); fix the item's offset / duration columns",
        )
    return first, stop


class NoiseBank:
    """The audio files of a noise folder (recursively, sorted); picks a seeded segment per item.

    Every file is checked on construction, so a broken noise file stops the run before it starts.
    """

    def __init__(self, directory: str | Path, sample_rate: int):
        self.directory = Path(directory)
        self.sample_rate = sample_rate
        if not self.directory.is_dir():
            raise ConfigError(f"noise folder {self.directory}: not a directory")
        self.files: list[Path] = []
        self.fingerprint: list[tuple[str, int, int]] = []
        for path in sorted(p for p in self.directory.rglob("*") if p.is_file()):
            try:
                info = soundfile.info(str(path))
            except (soundfile.LibsndfileError, RuntimeError):
                continue  # not audio (README, licence ...): not a noise file
            if info.frames == 0:
                raise ConfigError(f"noise file {path}: holds no samples; remove it from {self.directory}")
            stat = path.stat()
            self.files.append(path)
            self.fingerprint.append((str(path.relative_to(self.directory)), stat.st_size, stat.st_mtime_ns))
        if not self.files:
            raise ConfigError(f"noise folder {self.directory}: no readable audio files found")

    def segment(self, length: int, rng: np.random.Generator) -> tuple[np.ndarray, Path]:
        """``length`` samples of noise from a random file at a random start (looped when too short)."""
        path = self.files[int(rng.integers(len(self.files)))]
        with soundfile.SoundFile(path) as handle:
            rate, total = handle.samplerate, handle.frames
            needed = math.ceil((length / self.sample_rate + _RESAMPLE_MARGIN_SECONDS) * rate)
            start = int(rng.integers(0, total - needed + 1)) if total > needed else 0
            handle.seek(start)
            noise = to_mono(handle.read(min(needed, total), dtype="float32", always_2d=True))
        noise = resample(noise, rate, self.sample_rate)
        return np.resize(noise, length), path


class AudioLoader:
    """Turn audio files into the signal an extractor sees, following :class:`AudioOptions`."""

    def __init__(self, options: AudioOptions | None = None):
        self.options = options or AudioOptions()
        self.noise = (
            NoiseBank(self.options.noise_dir, self.options.sample_rate) if self.options.noise_dir is not None else None
        )

    def config(self) -> dict:
        """Everything that changes the loaded signal (the noise files included), for cache keys."""
        config = dataclasses.asdict(self.options)
        if self.noise is not None:
            config["noise_dir"] = str(self.noise.directory.resolve())
            config["noise_files"] = [list(entry) for entry in self.noise.fingerprint]
        return config

    def load(
        self, path: str | Path, item: str, offset: float | None = None, duration: float | None = None
    ) -> np.ndarray:
        """The processed mono float32 signal of one item at ``options.sample_rate``.

        ``offset`` / ``duration`` (seconds) restrict it to a window of the file (see :func:`read_audio`).
        """
        o = self.options
        head = o.max_seconds if o.crop == "head" else None
        frames, rate = read_audio(path, head, offset=offset, duration=duration, item=item)
        signal = resample(to_mono(frames), rate, o.sample_rate)
        min_samples = math.ceil(o.min_seconds * o.sample_rate)
        if len(signal) < min_samples:
            if o.too_short == "skip":
                raise AudioError(
                    path,
                    "too_short",
                    f"{len(signal) / o.sample_rate:.3f} s is shorter than the minimum of {o.min_seconds:g} s; "
                    f"lower {option('min_seconds')} or use {option('too_short', 'pad')}",
                )
            signal = np.pad(signal, (0, min_samples - len(signal)))
        if o.max_seconds is not None:
            rng = item_rng(o.seed, item, "crop") if o.crop == "random" else None
            signal = crop(signal, round(o.max_seconds * o.sample_rate), rng)
        if self.noise is not None:
            if not np.any(signal):
                raise AudioError(path, "silent", "the clip is digital silence; noise at an SNR cannot be added")
            noise, noise_path = self.noise.segment(len(signal), item_rng(o.seed, item, "noise"))
            if not np.any(noise):
                raise ConfigError(f"noise file {noise_path}: the chosen segment is silent; remove silent noise files")
            signal = mix_at_snr(signal, noise, o.snr_db)
        return np.ascontiguousarray(signal, dtype=np.float32)
