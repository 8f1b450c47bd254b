"""The design of the synthetic demo corpus: its emotions, conditions and sizes, and the speaker and item
tables (:mod:`voxpop.corpus.demo`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError
from voxpop.corpus.corpus import STRING

SAMPLE_RATE = 16000


INTENSITIES = ("low", "high")


OTHER = "other"


SPLITS = ("Train", "Development", "Test")


LIKERT_MAX = 3


LOW_INTENSITY_SHIFT = 0.5


# independent random streams, so that e.g. changing the rater pool leaves the audio unchanged
_SPEAKERS, _ITEMS, _AUDIO, _RATERS, _RATINGS, _DIMENSIONS = range(6)


DIMENSIONS = ("arousal", "valence", "dominance")


DIMENSION_SCALE = (1, 5)
"""The scale of the demo's dimension ratings (slot ``dimension``): 1 (low) .. 5 (high), 3 the middle."""


@dataclasses.dataclass(frozen=True)
class Emotion:
    """Acoustic shifts of one emotion at high intensity, and its place in valence-arousal space.

    ``pitch`` semitones added to the speaker's base pitch; ``pitch_range`` accent height in
    semitones; ``energy`` dB added to the level; ``tempo`` factor on the speaking rate; ``tilt``
    spectral flattening (positive: flatter, pressed voice; negative: steeper, lax voice);
    ``breath`` added aspiration (share of the voiced source); ``valence`` and ``arousal`` in -1..1
    shape the raters' confusions (:func:`confusion_matrix`); with ``dominance`` (-1..1) they place the
    true point of the dimension ratings (:func:`simulate_dimensions`).
    """

    pitch: float
    pitch_range: float
    energy: float
    tempo: float
    tilt: float
    breath: float
    valence: float
    arousal: float
    dominance: float = 0.0


EMOTIONS: dict[str, Emotion] = {
    "neutral": Emotion(0.0, 2.0, 0.0, 1.00, 0.0, 0.00, 0.0, 0.0),
    "anger": Emotion(3.0, 3.5, 9.0, 1.20, 1.0, -0.03, -0.8, 0.9, 0.7),
    "happy": Emotion(5.0, 5.5, 4.0, 1.10, 0.4, 0.00, 0.8, 0.6, 0.4),
    "sad": Emotion(-3.0, 0.8, -6.0, 0.72, -1.0, 0.10, -0.7, -0.6, -0.6),
    "fear": Emotion(6.0, 3.0, 1.0, 1.25, -0.3, 0.08, -0.7, 0.7, -0.7),
    "disgust": Emotion(-1.5, 2.5, 1.0, 0.85, 0.2, 0.04, -0.6, 0.2, 0.3),
    "surprise": Emotion(6.0, 6.0, 3.0, 1.05, 0.3, 0.02, 0.3, 0.8, -0.1),
}
"""The emotions :func:`make_demo_corpus` can synthesize (its ``classes`` are chosen from these)."""


@dataclasses.dataclass(frozen=True)
class Condition:
    """A stimulus condition: ``clarity`` (probability that an ideal rater perceives the intended
    emotion of a clear, high-intensity clip) and how sharply it separates valence and arousal
    (smaller width = fewer confusions along that axis)."""

    clarity: float
    valence_width: float
    arousal_width: float


CONDITIONS: dict[str, Condition] = {
    "voice": Condition(0.85, 1.5, 0.4),
    "face": Condition(0.93, 0.4, 1.2),
    "av": Condition(1.00, 0.5, 0.5),
}
"""The stimulus conditions raters can judge: voice only, face only, audio-visual."""


LIST_LENGTHS = (0.6, 0.3, 0.1)
"""Probabilities that a simulated rater's secondary list names 1, 2 or 3 emotions."""


PRIMARY_LISTED = 0.5
"""Probability that a simulated rater repeats the primary in the secondary list (else: only other emotions)."""


INTENSITY_FACTOR = {"low": 0.85, "high": 1.0}
"""Factor on the probability of perceiving the intended emotion, by emotion intensity."""


@dataclasses.dataclass(frozen=True)
class DemoSize:
    """A size preset of :func:`make_demo_corpus`."""

    n_speakers: int
    clips_per_speaker: int
    n_raters: int
    raters_per_clip: int


SIZES = {
    "tiny": DemoSize(n_speakers=6, clips_per_speaker=8, n_raters=12, raters_per_clip=6),
    "small": DemoSize(n_speakers=12, clips_per_speaker=32, n_raters=40, raters_per_clip=6),
}
"""``tiny`` (48 clips, for tests) and ``small`` (384 clips, the default demo)."""


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


def _check_choice(kind: str, values: Sequence[str], known: Mapping[str, object]) -> list[str]:
    values = [str(v) for v in values]
    unknown = [v for v in values if v not in known]
    if unknown or not values or len(set(values)) < len(values):
        raise ConfigError(
            f"demo corpus: {kind} {values} must be distinct names from {', '.join(known)}; unknown: {unknown}"
        )
    return values


# ====================================================================== speakers and items
def speaker_table(n_speakers: int, seed: int = 0) -> pd.DataFrame:
    """Simulated speakers ``spk01``..: alternately female and male, with their voice parameters.

    Columns: ``gender``; ``f0`` base pitch in Hz (female ~ 205, male ~ 115, log-normal 9 %);
    ``formant_scale`` (female ~ 1.15, male ~ 1.0: shorter vocal tract, higher formants); ``rate``
    syllables per second (4.5 x U(0.85, 1.15)); ``range_scale`` on the accent heights; ``level``
    dB; ``tilt`` offset; ``breath`` share of aspiration noise; ``jitter`` relative f0 perturbation;
    ``fold`` 1..n_speakers // 2, each fold one female and one male speaker (an odd last speaker
    joins fold 1).

    >>> table = speaker_table(6, seed=1)
    >>> table[["gender", "fold"]].T.to_numpy().tolist()
    [['female', 'male', 'female', 'male', 'female', 'male'], [1, 1, 2, 2, 3, 3]]
    >>> bool(table.loc[table.gender == "female", "f0"].min() > table.loc[table.gender == "male", "f0"].max())
    True
    """
    if n_speakers < 6:
        raise ConfigError(
            f"demo corpus: n_speakers={n_speakers}; need at least 6 so that the Train, Development and Test "
            "splits each hold a female and a male speaker"
        )
    rng = _rng(seed, _SPEAKERS)
    female = np.arange(n_speakers) % 2 == 0
    n_folds = n_speakers // 2
    return pd.DataFrame(
        {
            "gender": pd.array(np.where(female, "female", "male"), dtype=STRING),
            "f0": np.where(female, 205.0, 115.0) * np.exp(rng.normal(0.0, 0.09, n_speakers)),
            "formant_scale": np.where(female, 1.15, 1.0) * np.exp(rng.normal(0.0, 0.03, n_speakers)),
            "rate": 4.5 * rng.uniform(0.85, 1.15, n_speakers),
            "range_scale": rng.uniform(0.8, 1.2, n_speakers),
            "level": rng.normal(0.0, 1.5, n_speakers),
            "tilt": rng.normal(0.0, 0.15, n_speakers),
            "breath": rng.uniform(0.02, 0.06, n_speakers),
            "jitter": rng.uniform(0.004, 0.01, n_speakers),
            "fold": (np.arange(n_speakers) // 2) % n_folds + 1,
        },
        index=pd.Index([f"spk{s + 1:02d}" for s in range(n_speakers)], dtype=STRING, name="speaker"),
    )


def item_table(
    speakers: pd.DataFrame,
    clips_per_speaker: int,
    classes: Sequence[str],
    seconds: tuple[float, float] = (1.5, 3.0),
    seed: int = 0,
) -> pd.DataFrame:
    """The planned clips: speaker, gender, intended emotion, intensity, length, fold and split.

    Clips cycle through every (emotion, intensity) pair, continuing across speakers, so the classes
    stay balanced even when ``clips_per_speaker`` is not a multiple of 2 x classes. ``seconds`` is
    drawn uniformly from the range. ``split``: the last fold is Test, the one before Development,
    the rest Train (speaker independent). Item ids: ``spk01_003_ANG_HI``.

    >>> items = item_table(speaker_table(6), 4, ["neutral", "sad"])
    >>> items[["speaker", "emotion", "intensity", "split"]].head(5)
                      speaker  emotion intensity  split
    item
    spk01_001_NEU_LO    spk01  neutral       low  Train
    spk01_002_NEU_HI    spk01  neutral      high  Train
    spk01_003_SAD_LO    spk01      sad       low  Train
    spk01_004_SAD_HI    spk01      sad      high  Train
    spk02_001_NEU_LO    spk02  neutral       low  Train
    >>> items["split"].value_counts().to_dict()
    {'Train': 8, 'Development': 8, 'Test': 8}
    """
    low, high = (float(s) for s in seconds)
    if not 0.6 <= low <= high:
        raise ConfigError(f"demo corpus: seconds={tuple(seconds)}; expected (min, max) with 0.6 <= min <= max")
    if clips_per_speaker < 1:
        raise ConfigError(f"demo corpus: clips_per_speaker={clips_per_speaker}; expected at least 1")
    n_speakers = len(speakers)
    combos = len(classes) * len(INTENSITIES)
    position = np.arange(n_speakers * clips_per_speaker)
    combo = position % combos
    emotion = np.asarray(classes, dtype=object)[combo // len(INTENSITIES)]
    intensity = np.asarray(INTENSITIES, dtype=object)[combo % len(INTENSITIES)]
    speaker = np.repeat(speakers.index.to_numpy(), clips_per_speaker)
    clip = np.tile(np.arange(1, clips_per_speaker + 1), n_speakers)
    ids = [
        f"{s}_{c:03d}_{e[:3].upper()}_{i[:2].upper()}"
        for s, c, e, i in zip(speaker, clip, emotion, intensity, strict=True)
    ]
    fold = speakers["fold"].to_numpy().repeat(clips_per_speaker)
    n_folds = int(speakers["fold"].max())
    split = np.where(fold == n_folds, SPLITS[2], np.where(fold == n_folds - 1, SPLITS[1], SPLITS[0]))
    return pd.DataFrame(
        {
            "speaker": pd.array(speaker, dtype=STRING),
            "gender": pd.array(speakers["gender"].to_numpy().repeat(clips_per_speaker), dtype=STRING),
            "emotion": pd.array(emotion, dtype=STRING),
            "intensity": pd.array(intensity, dtype=STRING),
            "seconds": _rng(seed, _ITEMS).uniform(low, high, len(ids)),
            "fold": fold.astype(np.int64),
            "split": pd.array(split, dtype=STRING),
        },
        index=pd.Index(ids, dtype=STRING, name="item"),
    )
