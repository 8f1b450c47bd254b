"""Fingerprints of audio files for the leakage audit (:mod:`voxpop.study.leakage`): one of the file's bytes and
one of its decoded samples, so a FLAC and its float-WAV copy share a sample digest while only byte-identical
files share a file digest.

Each file is read from disk once; the samples are decoded from those bytes with soundfile as float32, mixed to
mono (:func:`voxpop.features.audio.to_mono`) and hashed with the sample rate, so the same sound at the file's own
rate is one digest whatever the container, bit depth or channel count of a copy (a resampled or trimmed copy is
another sound: see docs/leakage.md).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
import soundfile

from voxpop.features.audio import to_mono

DIGEST_COLUMNS = ("file_digest", "sample_digest")
"""The columns of :func:`audio_digests`."""


def _digest(*parts: bytes) -> str:
    hasher = hashlib.blake2b(digest_size=16)
    for part in parts:
        hasher.update(part)
    return hasher.hexdigest()


def sample_digest(samples: np.ndarray, rate: int) -> str:
    """Digest of decoded audio: the float32 mono samples (mean over channels) and the sample rate.

    Args:
        samples: (samples,) or (samples, channels) decoded audio, any float or integer dtype already scaled to
            [-1, 1].
        rate: the sample rate in Hz.

    Returns:
        32 hex digits (BLAKE2b, 16 bytes).

    Example:
        >>> stereo = np.array([[0.5, 0.5], [-0.25, -0.25]], dtype=np.float32)
        >>> sample_digest(stereo, 16000) == sample_digest(np.array([0.5, -0.25]), 16000)
        True
        >>> sample_digest(stereo, 16000) == sample_digest(stereo, 8000)
        False
    """
    mono = np.ascontiguousarray(to_mono(np.asarray(samples)), dtype=np.float32)
    return _digest(str(int(rate)).encode(), b":", mono.tobytes())


def file_digests(path: str) -> tuple[str, str | None]:
    """The file digest and the sample digest (:func:`sample_digest`) of one audio file, read once.

    Args:
        path: the audio file.

    Returns:
        ``(file_digest, sample_digest)``; the sample digest is None when soundfile cannot decode the file.

    Raises:
        OSError: the file cannot be read.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        return _digest(data), None
    return _digest(data), sample_digest(samples, rate)


def audio_digests(paths: pd.Series | Sequence[str | None]) -> pd.DataFrame:
    """File and sample digests of every item's audio file (:func:`file_digests`).

    Args:
        paths: the audio path of each item (a Series indexed by item id, or a list); empty values are items
            without audio.

    Returns:
        One row per item (the Series' index, else 0..n-1), columns :data:`DIGEST_COLUMNS`; both None for an item
        without audio or whose file cannot be read, the sample digest None for a file soundfile cannot decode.
        Each file is read once even when several items name it.

    Example:
        >>> audio_digests(pd.Series([None], index=["a"])).isna().all(axis=None)
        np.True_
    """
    series = paths if isinstance(paths, pd.Series) else pd.Series(list(paths))
    known: dict[str, tuple[str | None, str | None]] = {}
    rows = []
    for value in series.tolist():
        if value is None or (isinstance(value, float) and np.isnan(value)) or not str(value):
            rows.append((None, None))
            continue
        key = str(value)
        if key not in known:
            try:
                known[key] = file_digests(key)
            except OSError:
                known[key] = (None, None)
        rows.append(known[key])
    return pd.DataFrame(rows, index=series.index, columns=list(DIGEST_COLUMNS), dtype=object)
