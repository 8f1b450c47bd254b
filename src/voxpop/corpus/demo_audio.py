"""Speech-like audio for the demo corpus: syllables of a glottal source through formant resonators, whose
pitch, tilt, tempo and loudness carry the emotion and the speaker (:mod:`voxpop.corpus.demo`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import soundfile
from scipy import signal

from voxpop.core.cache import atomic_write
from voxpop.core.errors import ConfigError
from voxpop.corpus.demo_design import EMOTIONS, INTENSITIES, LOW_INTENSITY_SHIFT, SAMPLE_RATE, Emotion

_HOP = 160  # samples between updates of the control parameters (10 ms)


_LEVEL_DBFS = -28.0  # RMS of the active speech of a neutral clip by an average speaker


_NOISE_FLOOR_DBFS = -70.0


_F1_PER_TILT = 0.06  # F1 rises 6 % per unit of tilt (more open, pressed articulation), falls for lax voice


# Vowel targets F1, F2, F3 in Hz (adult male, Peterson & Barney 1952) and formant bandwidths.
_VOWELS = np.array(
    [
        [270, 2290, 3010],
        [390, 1990, 2550],
        [530, 1840, 2480],
        [660, 1720, 2410],
        [730, 1090, 2440],
        [640, 1190, 2390],
        [570, 840, 2410],
        [300, 870, 2240],
    ],
    dtype=float,
)


_BANDWIDTHS = np.array([80.0, 100.0, 140.0])


_ONSET_KINDS = ("vowel", "fricative", "nasal")


_ONSET_PROBABILITIES = (0.3, 0.4, 0.3)


_FRICATION_FILTER = signal.butter(4, [2500, 7000], btype="bandpass", fs=SAMPLE_RATE, output="sos")


# ====================================================================== audio
def emotion_shifts(emotion: str, intensity: str) -> Emotion:
    """The acoustic shifts of ``emotion`` at ``intensity``: ``high`` gives :data:`EMOTIONS` as is,
    ``low`` moves each value half way back to neutral (tempo geometrically).

    >>> emotion_shifts("anger", "low").energy, round(emotion_shifts("sad", "low").tempo, 3)
    (4.5, 0.849)
    """
    target, neutral = EMOTIONS[emotion], EMOTIONS["neutral"]
    if intensity == "high":
        return target
    if intensity != "low":
        raise ConfigError(f"demo corpus: intensity {intensity!r}; expected one of {', '.join(INTENSITIES)}")
    s = LOW_INTENSITY_SHIFT
    values = {
        f.name: getattr(neutral, f.name) + s * (getattr(target, f.name) - getattr(neutral, f.name))
        for f in dataclasses.fields(Emotion)
    }
    values["tempo"] = neutral.tempo * (target.tempo / neutral.tempo) ** s
    return Emotion(**values)


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Syllables of one utterance: sample bounds, onset kind and length, vowel, accent; the pause."""

    start: np.ndarray
    end: np.ndarray
    onset: np.ndarray  # index into _ONSET_KINDS
    onset_share: np.ndarray  # share of the syllable taken by the onset
    vowel: np.ndarray
    accent: np.ndarray  # accent height in semitones (0 = unaccented)
    pause: tuple[int, int]  # sample bounds of the phrase pause ((0, 0) when there is none)


def _plan_syllables(n: int, rate: float, pitch_range: float, rng: np.random.Generator) -> _Plan:
    sr = SAMPLE_RATE
    lead, trail = (int(rng.uniform(0.08, 0.18) * sr) for _ in range(2))
    span = n - lead - trail
    pause_len = int(rng.uniform(0.15, 0.3) / np.sqrt(rate / 4.5) * sr) if span > 1.2 * sr else 0
    n_syll = max(2, round((span - pause_len) / sr * rate))
    lengths = rng.lognormal(0.0, 0.25, n_syll)
    lengths = lengths / lengths.sum() * (span - pause_len)
    edges = lead + np.concatenate([[0.0], np.cumsum(lengths)])
    after = int(np.clip(n_syll // 2 + rng.integers(-1, 2), 1, n_syll - 1)) if pause_len else 0  # pause before
    if after:
        edges[after:] += pause_len
    start, end = edges[:-1].astype(int), edges[1:].astype(int)
    if after:
        end[after - 1] = start[after] - pause_len
    accented = rng.random(n_syll) < 0.45
    accented[0] = True
    pause = (int(end[after - 1]), int(start[after])) if after else (0, 0)
    return _Plan(
        start=start,
        end=end,
        onset=rng.choice(len(_ONSET_KINDS), n_syll, p=_ONSET_PROBABILITIES),
        onset_share=rng.uniform(0.15, 0.35, n_syll),
        vowel=rng.integers(0, len(_VOWELS), n_syll),
        accent=np.where(accented, pitch_range * rng.uniform(0.4, 1.0, n_syll), 0.0),
        pause=pause,
    )


def _envelopes(plan: _Plan, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample voiced amplitude, frication amplitude and in-breath amplitude."""
    t = np.arange(n)
    syll = np.clip(np.searchsorted(plan.start, t, side="right") - 1, 0, len(plan.start) - 1)
    inside = (t >= plan.start[syll]) & (t < plan.end[syll])
    u = (t - plan.start[syll]) / np.maximum(plan.end[syll] - plan.start[syll], 1)
    kind = plan.onset[syll]
    share = np.where(kind == 0, 0.08, plan.onset_share[syll])
    in_onset = u < share
    nucleus = np.sin(np.pi * np.clip((u - share) / (1 - share), 0, 1)) ** 0.7
    onset_shape = np.sin(np.pi * np.clip(u / share, 0, 1)) ** 2
    stress = np.where(plan.accent[syll] > 0, 1.4, 1.0)
    voiced = np.where(in_onset, np.where(kind == 2, 0.25 * onset_shape, 0.0), nucleus * stress)
    frication = np.where(in_onset & (kind == 1), 0.15 * onset_shape, 0.0)
    breath = np.zeros(n)
    a, b = plan.pause
    if b > a:
        breath[a:b] = np.sin(np.pi * np.linspace(0, 1, b - a)) ** 2
    return voiced * inside, frication * inside, breath


def _pitch(plan: _Plan, n: int, speaker: Mapping, shifts: Emotion, rng: np.random.Generator) -> np.ndarray:
    """Per-sample f0 in Hz: base x 2^((shift + declination + accents + drift) / 12) x (1 + jitter e),
    with e ~ N(0, 1) drawn once per glottal cycle (cycle-to-cycle period perturbation)."""
    sr = SAMPLE_RATE
    frames = np.arange(0, n + _HOP, _HOP) / sr
    duration = n / sr
    declination = 1.0 - 2.5 * frames / duration
    centre = (plan.start + 0.6 * (plan.end - plan.start)) / sr
    width = 0.35 * (plan.end - plan.start) / sr
    accents = (plan.accent * speaker["range_scale"] * np.exp(-0.5 * ((frames[:, None] - centre) / width) ** 2)).sum(1)
    rates, phases = rng.uniform(0.5, 2.0, 3), rng.uniform(0, 2 * np.pi, 3)
    drift = 0.3 * np.sin(2 * np.pi * rates * frames[:, None] + phases).sum(1)
    semitones = shifts.pitch + declination + accents + drift
    f0 = np.interp(np.arange(n) / sr, frames, speaker["f0"] * 2 ** (semitones / 12))
    cycle = (np.cumsum(f0) / sr).astype(np.int64)
    return f0 * (1 + speaker["jitter"] * rng.standard_normal(cycle[-1] + 1)[cycle])


def _glottal_source(f0: np.ndarray, open_quotient: float) -> tuple[np.ndarray, np.ndarray]:
    """Rosenberg glottal flow derivative (with lip radiation) and the flow itself, per sample."""
    phase = np.cumsum(f0) / SAMPLE_RATE % 1.0
    rise, fall = 0.6 * open_quotient, 0.4 * open_quotient
    flow = np.where(
        phase < rise,
        0.5 * (1 - np.cos(np.pi * phase / rise)),
        np.where(phase < rise + fall, np.cos(0.5 * np.pi * (phase - rise) / fall), 0.0),
    )
    return np.diff(flow, prepend=0.0), flow


def _formant_tracks(plan: _Plan, n: int, scale: float, shifts: Emotion, rng: np.random.Generator) -> np.ndarray:
    """F1..F3 in Hz at every control frame (rows): from each onset's locus to the vowel target."""
    locus = np.column_stack(
        [
            rng.uniform(250, 400, len(plan.start)),
            rng.uniform(900, 1900, len(plan.start)),
            np.full(len(plan.start), 2500),
        ]
    )
    knots_t = np.concatenate([plan.start, (plan.start + 0.6 * (plan.end - plan.start)).astype(int)])
    knots_f = np.concatenate([locus, _VOWELS[plan.vowel]])
    order = np.argsort(knots_t, kind="stable")
    frames = np.arange(0, n + _HOP, _HOP)
    tracks = np.column_stack([np.interp(frames, knots_t[order], knots_f[order, k]) for k in range(3)])
    tracks[:, 0] *= 1 + _F1_PER_TILT * shifts.tilt
    return tracks * scale


def _resonate(x: np.ndarray, tracks: np.ndarray, bandwidths: np.ndarray) -> np.ndarray:
    """Cascade of second-order resonators with unit gain at 0 Hz, coefficients updated every block.

    Resonator (Klatt 1980): y[n] = A x[n] + B y[n-1] + C y[n-2], C = -exp(-2 pi bw T),
    B = 2 exp(-pi bw T) cos(2 pi f T), A = 1 - B - C. The cascade is one all-pole filter whose
    state carries over from block to block (10 ms).
    """
    T = 1.0 / SAMPLE_RATE
    c = -np.exp(-2 * np.pi * bandwidths * T)  # (formants,)
    b = 2 * np.exp(-np.pi * bandwidths * T) * np.cos(2 * np.pi * tracks * T)  # (frames, formants)
    gain = np.prod(1 - b - c, axis=1)
    denominators = np.ones((len(tracks), 1))
    for k in range(tracks.shape[1]):  # multiply the polynomials of every frame by 1 - B z^-1 - C z^-2
        section = (np.ones(len(tracks)), -b[:, k], np.full(len(tracks), -c[k]))
        product = np.zeros((len(tracks), denominators.shape[1] + 2))
        for lag, coefficient in enumerate(section):
            product[:, lag : lag + denominators.shape[1]] += coefficient[:, None] * denominators
        denominators = product
    out = np.empty_like(x)
    state = np.zeros(denominators.shape[1] - 1)
    for frame, begin in enumerate(range(0, len(x), _HOP)):
        block = slice(begin, begin + _HOP)
        out[block], state = signal.lfilter([gain[frame]], denominators[frame], x[block], zi=state)
    return out


def synthesize(
    speaker: Mapping[str, float], emotion: str, intensity: str, seconds: float, seed: int | np.random.Generator = 0
) -> np.ndarray:
    """One utterance of ``seconds`` at 16 kHz, float64 in [-1, 1], by a speaker (a row of
    :func:`speaker_table`) expressing ``emotion`` at ``intensity``; deterministic given ``seed``.

    Level: RMS of the active speech = -28 dBFS + shifts.energy + speaker level (dB).

    >>> from voxpop.corpus.demo_design import speaker_table
    >>> speaker = speaker_table(6).iloc[0]
    >>> angry, sad = (synthesize(speaker, e, "high", 2.0, seed=3) for e in ("anger", "sad"))
    >>> len(angry), bool(np.abs(angry).max() <= 1)
    (32000, True)
    >>> bool(np.sqrt(np.mean(angry ** 2)) > 3 * np.sqrt(np.mean(sad ** 2)))
    True
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    shifts = emotion_shifts(emotion, intensity)
    n = round(seconds * SAMPLE_RATE)
    plan = _plan_syllables(n, speaker["rate"] * shifts.tempo, shifts.pitch_range, rng)
    voiced_env, frication_env, breath_env = _envelopes(plan, n)
    tilt = shifts.tilt + speaker["tilt"]
    pulses, flow = _glottal_source(_pitch(plan, n, speaker, shifts, rng), np.clip(0.6 - 0.1 * tilt, 0.35, 0.8))
    pulses /= np.sqrt(np.mean(pulses[voiced_env > 0.5] ** 2)) + 1e-12
    breathiness = max(speaker["breath"] + shifts.breath, 0.0)
    noise = rng.standard_normal((3, n))
    source = voiced_env * (pulses + breathiness * 4 * (0.3 + flow) * noise[0]) + 0.15 * breath_env * noise[1]
    pole = np.clip(0.55 - 0.25 * tilt, 0.05, 0.92)
    source = signal.lfilter([1 - pole], [1, -pole], source)
    tracks = _formant_tracks(plan, n, speaker["formant_scale"], shifts, rng)
    speech = _resonate(source, tracks, _BANDWIDTHS * (1 + 2 * breathiness))
    speech = speech / (np.sqrt(np.mean(speech[voiced_env > 0.05] ** 2)) + 1e-12)
    frication = signal.sosfilt(_FRICATION_FILTER, noise[2]) * frication_env
    level = 10 ** ((_LEVEL_DBFS + shifts.energy + speaker["level"]) / 20)
    floor = 10 ** (_NOISE_FLOOR_DBFS / 20) * rng.standard_normal(n)
    return np.clip(level * (speech + frication) + floor, -1.0, 1.0)


def write_wav(path: str | Path, audio: np.ndarray) -> None:
    """Write float audio in [-1, 1] as 16 kHz mono 16-bit PCM (rounded, so the bytes are reproducible)."""
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    atomic_write(path, lambda handle: soundfile.write(handle, pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV"))
