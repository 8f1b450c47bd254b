"""Fingerprints of audio files for the leakage audit (:mod:`voxpop.study.leakage`): one of the file's bytes and
one of its decoded samples, so a FLAC and its float-WAV copy share a sample digest while only byte-identical
files share a file digest.

Samples are decoded with soundfile as float32, mixed to mono (:func:`voxpop.features.audio.to_mono`) and hashed
with the sample rate, so the same sound at the file's own rate is one digest whatever the container, bit depth or
channel count of a copy (a resampled or trimmed copy is another sound: see docs/leakage.md). Two files can only
hold the same sound when they have the same sample rate and length, and only be byte-identical when they have the
same size, so :func:`audio_digests` reads every file's header and size and decodes or hashes only the files that
share those with another file: an audit costs less than reading every clip.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import soundfile

from voxpop.features.audio import to_mono

DIGEST_COLUMNS = ("readable", "file_digest", "sample_digest")
"""The columns of :func:`audio_digests`."""


def _digest(*parts: bytes | memoryview) -> str:
    """SHA-1 of the parts (a fingerprint, not a security measure: the fastest full-content hash of hashlib here)."""
    hasher = hashlib.sha1(usedforsecurity=False)
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
        40 hex digits (SHA-1).

    Example:
        >>> stereo = np.array([[0.5, 0.5], [-0.25, -0.25]], dtype=np.float32)
        >>> sample_digest(stereo, 16000) == sample_digest(np.array([0.5, -0.25]), 16000)
        True
        >>> sample_digest(stereo, 16000) == sample_digest(stereo, 8000)
        False
    """
    mono = np.ascontiguousarray(to_mono(np.asarray(samples)), dtype=np.float32)
    return _digest(str(int(rate)).encode(), b":", memoryview(mono).cast("B"))


def _shape(path: str) -> tuple[int, int, int | None]:
    """(file size in bytes, sample rate, frames) of an audio file; rate and frames None-like (0, None) when
    soundfile cannot read its header. Raises OSError when the file cannot be read."""
    size = os.path.getsize(path)
    try:
        info = soundfile.info(path)
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        return size, 0, None
    return size, int(info.samplerate), int(info.frames)


def file_digest(path: str) -> str:
    """Digest of a file's bytes."""
    with open(path, "rb") as handle:
        return _digest(handle.read())


def decoded_digest(path: str) -> str | None:
    """:func:`sample_digest` of an audio file, None when soundfile cannot decode it."""
    try:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        return None
    return sample_digest(samples, rate)


def audio_digests(paths: pd.Series | Sequence[str | None]) -> pd.DataFrame:
    """Which items' audio files may hold the same sound, with the digests that decide it.

    Every file's size and header (sample rate, frames) are read; a file's bytes are hashed only when another file
    has its size, its samples decoded and hashed (:func:`sample_digest`) only when another file has its sample
    rate and length (or, for a file soundfile cannot read, hashed by its bytes when another has its size); a path
    that several items name counts as several files, and is read once.

    Args:
        paths: the audio path of each item (a Series indexed by item id, or a list); empty values are items
            without audio.

    Returns:
        One row per item (the Series' index, else 0..n-1), columns :data:`DIGEST_COLUMNS`: ``readable`` (False
        for an item without audio or whose file cannot be read), ``file_digest`` and ``sample_digest`` (None where
        no other file could match: two items can hold the same sound only if one of their digests is equal).

    Example:
        >>> audio_digests(pd.Series([None], index=["a"]))["readable"].tolist()
        [False]
    """
    series = paths if isinstance(paths, pd.Series) else pd.Series(list(paths))
    given = [None if v is None or (isinstance(v, float) and np.isnan(v)) or not str(v) else str(v) for v in series]
    shapes: dict[str, tuple[int, int, int | None]] = {}
    for path in dict.fromkeys(p for p in given if p is not None):
        try:
            shapes[path] = _shape(path)
        except OSError:
            continue
    named = [shapes[p] for p in given if p in shapes]  # per item: a path two items name is a match too
    sizes = pd.Series([shape[0] for shape in named], dtype=object).value_counts()
    lengths = pd.Series([shape[1:] for shape in named if shape[2] is not None], dtype=object).value_counts()
    rows = {}
    for path, (size, rate, frames) in shapes.items():
        same_size = sizes[size] > 1
        same_length = frames is not None and lengths[(rate, frames)] > 1
        rows[path] = (
            True,
            file_digest(path) if same_size else None,
            decoded_digest(path) if same_length else None,
        )
    missing = (False, None, None)
    table = [rows.get(p, missing) if p is not None else missing for p in given]
    return pd.DataFrame(table, index=series.index, columns=list(DIGEST_COLUMNS), dtype=object)
