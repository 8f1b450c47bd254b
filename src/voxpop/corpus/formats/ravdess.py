"""RAVDESS (Livingstone & Russo 2018): acted emotion, the label is the emotion the actor intended.

File names are seven two-digit fields ``MM-VV-EE-II-SS-RR-AA``: modality (01 audio-video,
02 video, 03 audio), vocal channel (01 speech, 02 song), emotion (01 neutral ... 08 surprised),
intensity (01 normal, 02 strong), statement (01 "Kids are talking by the door", 02 "Dogs are
sitting by the door"), repetition (01, 02) and actor (01..24; odd = male, even = female).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from voxpop.core.errors import InputError
from voxpop.corpus.corpus import STRING, Corpus
from voxpop.corpus.formats.audio_files import audio_durations, find_audio
from voxpop.corpus.formats.tables import describe_import

NAME = "ravdess"
SOURCE = "RAVDESS (Livingstone & Russo, PLoS ONE 2018, doi:10.1371/journal.pone.0196391)"
LICENSE = "CC BY-NC-SA 4.0"
SUFFIXES = (".wav", ".flac")
EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}
CLASSES = tuple(EMOTIONS.values())
ACTORS = {f"{a:02d}": f"{a:02d}" for a in range(1, 25)}
FIELDS: tuple[tuple[str, dict[str, str]], ...] = (
    ("modality", {"01": "audio-video", "02": "video", "03": "audio"}),
    ("vocal_channel", {"01": "speech", "02": "song"}),
    ("emotion", EMOTIONS),
    ("intensity", {"01": "normal", "02": "strong"}),
    ("statement", {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}),
    ("repetition", {"01": "1", "02": "2"}),
    ("speaker", ACTORS),
)
ITEM_FIELDS = ["speaker", "gender", "emotion", "intensity", "statement", "repetition", "vocal_channel", "modality"]
_SHOWN = 5


def parse_ravdess_name(name: str) -> dict[str, str]:
    """The fields of a RAVDESS file name (``.wav`` / ``.flac`` or bare stem), decoded.

    Raises InputError naming the file and the first field that does not parse.

    >>> fields = parse_ravdess_name("03-01-06-02-01-01-17.flac")
    >>> fields["emotion"], fields["intensity"], fields["speaker"], fields["gender"]
    ('fearful', 'strong', '17', 'male')
    >>> parse_ravdess_name("03-01-09-01-01-01-01.wav")
    Traceback (most recent call last):
    ...
    voxpop.core.errors.InputError: 03-01-09-01-01-01-01.wav: field 3 (emotion) is '09'; expected one of 01 ...
    """
    stem = Path(name).stem if Path(name).suffix.lower() in SUFFIXES else name
    codes = stem.split("-")
    if len(codes) != len(FIELDS):
        raise InputError(
            f"{name}: has {len(codes)} dash-separated fields; expected {len(FIELDS)} two-digit fields "
            "MM-VV-EE-II-SS-RR-AA (modality, vocal channel, emotion, intensity, statement, repetition, actor), "
            "e.g. 03-01-06-02-01-01-17.wav. Rename or remove the file."
        )
    fields = {}
    for position, ((field, table), code) in enumerate(zip(FIELDS, codes, strict=True), start=1):
        if code not in table:
            allowed = ", ".join(f"{k} ({v})" for k, v in table.items()) if field != "speaker" else "01..24"
            raise InputError(f"{name}: field {position} ({field}) is {code!r}; expected one of {allowed}.")
        fields[field] = table[code]
    fields["gender"] = "male" if int(fields["speaker"]) % 2 else "female"
    return fields


def read_ravdess(directory: str | Path) -> Corpus:
    """Read a folder of RAVDESS ``.wav`` / ``.flac`` files (searched recursively).

    Items (index = file stem): speaker, gender, emotion, intensity, statement, repetition,
    vocal_channel, modality, audio, duration, corpus. One primary rating per item by rater ``intended``
    whose label is the intended emotion. Every file name must parse; an empty folder is an error.
    Operating-system debris (macOS ``._`` files, ``__MACOSX/``, ``.DS_Store``, hidden files: a corpus
    unpacked on a Mac) is skipped and counted in the report.
    """
    directory = Path(directory)
    notes: list[str] = []
    files = find_audio(directory, SUFFIXES, notes=notes)
    if not files:
        raise InputError(
            f"{directory}: no RAVDESS audio files ({', '.join(SUFFIXES)}) found in this folder or below; "
            "expected files named like 03-01-06-02-01-01-17.wav."
        )
    stems = list(files)  # in path order: by actor folder, then file name
    parsed, problems = [], []
    for stem in stems:
        try:
            parsed.append(parse_ravdess_name(_shown_path(files[stem], directory)))
        except InputError as exc:
            problems.append(str(exc))
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems[:_SHOWN])
        more = f"\n  ... and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        raise InputError(f"{directory}: {len(problems)} file names are not RAVDESS names:\n{listed}{more}")
    paths = [files[s] for s in stems]
    fields = pd.DataFrame(parsed, index=pd.Index(stems, dtype=STRING, name="item")).astype(STRING)
    items = fields[ITEM_FIELDS].assign(
        audio=pd.array([str(p) for p in paths], dtype=STRING),
        duration=audio_durations(paths),
        repetition=fields["repetition"].astype(np.int64),
        corpus=pd.array([NAME] * len(stems), dtype=STRING),
    )
    ratings = pd.DataFrame(
        {
            "item": stems,
            "rater": "intended",
            "slot": "primary",
            "label": items["emotion"].to_numpy(),
            "source_file": [_shown_path(p, directory) for p in paths],
        }
    )
    return Corpus(
        NAME,
        items,
        ratings,
        classes=CLASSES,
        source=SOURCE,
        license=LICENSE,
        description=describe_import(f"{directory} ({len(stems)} RAVDESS files)", notes),
        audio_root=os.path.abspath(directory),
    )


def _shown_path(path: Path, directory: Path) -> str:
    """The path relative to the imported folder, as people see it in the folder."""
    return str(path.relative_to(os.path.abspath(directory)))
