"""An EmoDB-like audformat database built with ``audformat`` itself (for the audformat importer's tests).

Counted by hand (see :func:`build_emodb_like`): 4 files of 2 speakers; table ``emotion`` with three human
raters (r1 rates 4 files, r2 3, r3 4: 11 primary ratings), a gold-standard column ``emotion`` (rater ``gold``
of type ``vote``; the fourth file has none) and a confidence column; a segmented table ``arousal`` (2
segments of the fourth file: r1 rates both, r2 one: 3 ratings on the scheme's 1..5) and a segmented table
``arousal.gold_standard``. Items: 4 files + 2 segments = 6; ratings 14; raters r1, r2, r3.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

FILES = ("wav/03a01Fa.wav", "wav/03a01Nc.wav", "wav/08a02Wb.wav", "wav/08b01Ld.wav")
EMOTIONS = ("neutral", "anger", "happiness", "boredom")  # the scheme's order, not alphabetical
RATINGS = {
    "r1": ["anger", "neutral", "happiness", "boredom"],
    "r2": ["anger", "anger", None, "boredom"],
    "r3": ["anger", "neutral", "happiness", "neutral"],
}
GOLD = ["anger", "neutral", "happiness", None]
CONFIDENCE = [1.0, 0.67, 0.5, None]
AROUSAL = {"r1": [2.0, 4.5], "r2": [3.0, None]}
AROUSAL_GOLD = [2.5, 4.0]


def build_emodb_like(root: Path, storage_format: str = "csv") -> Path:
    """Write the database (``db.yaml``, one table file each) and a 1 s silent 16 kHz wav per file under ``root``."""
    import audformat

    db = audformat.Database("emodb-like", source="voxpop tests", usage="research", license="CC0-1.0")
    db.schemes["emotion"] = audformat.Scheme(labels=list(EMOTIONS))
    db.schemes["confidence"] = audformat.Scheme("float", minimum=0, maximum=1)
    db.schemes["arousal"] = audformat.Scheme("float", minimum=1, maximum=5)
    db.schemes["speaker"] = audformat.Scheme(
        labels={"03": {"gender": "male", "age": 31}, "08": {"gender": "female", "age": 34}}
    )
    db.schemes["transcription"] = audformat.Scheme("str")
    for rater in RATINGS:
        db.raters[rater] = audformat.Rater()  # type human
    db.raters["gold"] = audformat.Rater(type="vote")
    index = audformat.filewise_index(list(FILES))
    db["files"] = audformat.Table(index)
    db["files"]["speaker"] = audformat.Column(scheme_id="speaker")
    db["files"]["speaker"].set(["03", "03", "08", "08"])
    db["files"]["transcription"] = audformat.Column(scheme_id="transcription")
    db["files"]["transcription"].set(["a01", "a01", "a02", "b01"])
    db["emotion"] = audformat.Table(index)
    for rater, values in RATINGS.items():
        db["emotion"][rater] = audformat.Column(scheme_id="emotion", rater_id=rater)
        db["emotion"][rater].set(values)
    db["emotion"]["emotion"] = audformat.Column(scheme_id="emotion", rater_id="gold")
    db["emotion"]["emotion"].set(GOLD)
    db["emotion"]["emotion.confidence"] = audformat.Column(scheme_id="confidence", rater_id="gold")
    db["emotion"]["emotion.confidence"].set(CONFIDENCE)
    segments = audformat.segmented_index([FILES[3]] * 2, starts=[0, 0.5], ends=[0.5, 1.0])
    db["arousal"] = audformat.Table(segments)
    for rater, values in AROUSAL.items():
        db["arousal"][rater] = audformat.Column(scheme_id="arousal", rater_id=rater)
        db["arousal"][rater].set(values)
    db["arousal.gold_standard"] = audformat.Table(segments)
    db["arousal.gold_standard"]["arousal"] = audformat.Column(scheme_id="arousal")
    db["arousal.gold_standard"]["arousal"].set(AROUSAL_GOLD)
    db.save(str(root), storage_format=storage_format)
    for file in FILES:
        (root / file).parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(root / file, np.zeros(16000), 16000)
    return root
