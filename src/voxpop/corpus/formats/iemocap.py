"""IEMOCAP: ``Session*/dialog/EmoEvaluation/*.txt`` evaluation files -> Corpus.

An evaluation file holds one block per utterance::

    % [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

    [6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]
    C-E2:<TAB>Neutral;<TAB>()
    C-E1:<TAB>Frustration; Anger;<TAB>(comment)
    A-E3:<TAB>val 3; act 2; dom  2;<TAB>()

Items: the utterance id, ``start`` / ``end`` (seconds, from the header), ``duration``, ``session``
(``Ses01``: leave-one-session-out is ``--protocol leave-one-out --column session``), ``dialog``
(``Ses01F_impro01``), ``dialog_type`` (``improvised`` for ``impro`` dialogs, ``scripted`` for ``script``
ones; empty, and counted, for any other name), ``speaker`` (session + the F/M letter of the last id
field, ``Ses01F``), ``gender``, ``consensus_class`` (the header's code; empty for ``xxx``, no
consensus), ``consensus_valence`` / ``consensus_arousal`` / ``consensus_dominance`` (the header's
averages) and ``audio`` (``Session*/sentences/wav/<dialog>/<utterance>.wav`` when the file sits in the
release layout).

Ratings, convention for categorical lines (``C-``): the **first** label listed is the rater's
``primary`` choice and **every** label listed (the first included) is a ``secondary`` rating, so a
rater who wrote ``Frustration; Anger;`` gives primary ``frustration`` and secondary ``frustration`` and
``anger``. Dimensional lines (``A-``) give ``dimension`` ratings labelled ``valence`` / ``arousal`` /
``dominance`` on the 1..5 scale. The same evaluator code may appear on a ``C-`` and an ``A-`` line;
the slots keep them apart. Raters are the evaluator codes (``E2``). The lines ``C-F1`` / ``C-M1`` /
``A-F1`` / ``A-M1`` are *self-evaluations*: the actors rating their own performance. They are not
raters by default (the released consensus labels leave them out), are set aside and counted;
``self_evaluations="include"`` keeps them beside the evaluators and ``"only"`` keeps only them. The
actors are different people in every session, so their rater ids carry the session (``Ses01-F1``).
``Other`` and free-text ``Other:...`` entries become the excluded class ``other``. The per-evaluator
files of ``EmoEvaluation/Categorical/`` repeat the ``C-E`` lines and are not read (a clear error when
given directly); macOS ``._`` files and other operating-system debris in a folder are skipped and counted.
Ratings carry ``source_file``, ``source_row`` (the line number) and ``source_column`` (``C-E2``, ``A-E3``).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.corpus import STRING, Corpus
from voxpop.corpus.formats.audio_files import check_relative_name
from voxpop.corpus.formats.folders import corpus_files, debris_note
from voxpop.corpus.formats.free_text import is_free_text_other
from voxpop.corpus.formats.tables import (
    DEFAULT_ENCODING,
    describe_import,
    finite_number,
    place,
    read_text,
    shown,
    tally,
)
from voxpop.corpus.media_paths import common_root

CLASSES = ("neutral", "frustration", "anger", "sadness", "happiness", "excitement", "surprise", "fear", "disgust")
OTHER = "other"
_NAMES = ("Neutral", "Frustration", "Anger", "Sadness", "Happiness", "Excited", "Surprise", "Fear", "Disgust", "Other")
_CODES = ("neu", "fru", "ang", "sad", "hap", "exc", "sur", "fea", "dis", "oth")
CLASS_MAP = {
    native: target for natives in (_NAMES, _CODES) for native, target in zip(natives, [*CLASSES, OTHER], strict=True)
}
NO_CONSENSUS = "xxx"
DIMENSIONS = {"val": "valence", "act": "arousal", "dom": "dominance"}
DIMENSION_SCALE = (1.0, 5.0)
GENDERS = {"F": "female", "M": "male"}
_LOOKUP = {**{k.lower(): v for k, v in CLASS_MAP.items()}, **{c: c for c in CLASSES}}
_HEADER = re.compile(
    r"\[\s*(?P<start>[^\s\]]+)\s+-\s+(?P<end>[^\s\]]+)\s*\]\s+(?P<utterance>\S+)\s+(?P<emotion>\S+)\s+\[(?P<vad>[^\]]*)\]"
)
_EVALUATOR = re.compile(r"(?P<kind>[CA])-(?P<code>[A-Z]+\d+):")
_UTTERANCE = re.compile(r"(?P<session>Ses\d+)[FM]_.+_(?P<speaker>[FM])[^_]*")
_COMMENT = re.compile(r"\s*\(.*\)\s*$")
_CATEGORICAL_LINE = re.compile(r"Ses\d+[FM]_\S+\s+:\s*\S")
SELF_EVALUATIONS = ("exclude", "include", "only")
DIALOG_TYPES = {"impro": "improvised", "script": "scripted"}
_DIALOG = re.compile(r"Ses\d+[FM]_(?P<kind>[a-z]+)")
_ITEM_COLUMNS = (
    "start", "end", "duration", "session", "dialog", "dialog_type", "speaker", "gender",
    "consensus_class", "consensus_valence", "consensus_arousal", "consensus_dominance",
)  # fmt: skip


def parse_emo_evaluation(
    text: str, file: str = "<text>", self_evaluations: str = "exclude"
) -> tuple[pd.DataFrame, pd.DataFrame, Counter]:
    """Parse one EmoEvaluation file: (items, ratings, notes). Pure: text in, tables out.

    ``notes`` counts what was mapped or skipped (``no consensus``, ``free-text other``,
    ``repeated label``, ``blank dimension``, ``self-evaluation`` / ``evaluator`` lines set aside by
    ``self_evaluations``: exclude, include or only). Every line is checked, set aside or not.
    Malformed lines raise :class:`InputError` naming ``file``, the line number and the field.

    >>> text = ("% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\\n\\n"
    ...         "[6.2901 - 8.2357]\\tSes01F_impro01_F000\\tfru\\t[2.5000, 3.0000, 3.5000]\\n"
    ...         "C-E1:\\tFrustration; Anger;\\t()\\n"
    ...         "A-E3:\\tval 2; act 3; dom  4;\\t(tense)\\n")
    >>> items, ratings, notes = parse_emo_evaluation(text, "Ses01F_impro01.txt")
    >>> items[["start", "duration", "speaker", "gender", "consensus_class"]]
                          start  duration speaker  gender consensus_class
    item
    Ses01F_impro01_F000  6.2901    1.9456  Ses01F  female     frustration
    >>> items[["session", "dialog", "dialog_type"]]
                        session          dialog dialog_type
    item
    Ses01F_impro01_F000   Ses01  Ses01F_impro01  improvised
    >>> ratings[["rater", "slot", "label", "value", "source_row", "source_column"]]
      rater       slot        label  value  source_row source_column
    0    E1    primary  frustration    NaN           4          C-E1
    1    E1  secondary  frustration    NaN           4          C-E1
    2    E1  secondary        anger    NaN           4          C-E1
    3    E3  dimension      valence    2.0           5          A-E3
    4    E3  dimension      arousal    3.0           5          A-E3
    5    E3  dimension    dominance    4.0           5          A-E3
    """
    items: list[dict] = []
    columns = ("item", "rater", "slot", "label", "value", "source_row", "source_column")
    rows: dict[str, list] = {c: [] for c in columns}
    notes: Counter = Counter()
    current: dict | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("%"):
            continue
        if stripped.startswith("["):
            current = _header(stripped, file, number, notes)
            items.append(current)
            continue
        match = _EVALUATOR.match(stripped)
        if match is None and _CATEGORICAL_LINE.match(stripped):
            raise InputError(
                f"{place(file, number, unit='line')}: {stripped!r} is a line of a per-evaluator file of "
                "EmoEvaluation/Categorical ('ID :Label; ()'); those labels are the C-E lines of the dialog's "
                "EmoEvaluation/<dialog>.txt file: import that file or the release folder instead."
            )
        if match is None:
            raise InputError(
                f"{place(file, number, unit='line')}: expected an utterance header '[START - END]<TAB>ID<TAB>EMOTION"
                f"<TAB>[V, A, D]' or an evaluator line such as 'C-E2:<TAB>Neutral;<TAB>()', found {stripped!r}."
            )
        field = f"{match['kind']}-{match['code']}"
        if current is None:
            raise InputError(f"{place(file, number, field, 'line')}: evaluator line before any utterance header.")
        code = match["code"]
        rater = code if code.startswith("E") else f"{current['session']}-{code}"
        body = _body(stripped[match.end() :])
        if match["kind"] == "C":
            ratings = _categorical(body, file, number, field, notes)
        else:
            ratings = _dimensional(body, file, number, field, notes)
        is_self = not code.startswith("E")
        if self_evaluations != "include" and is_self != (self_evaluations == "only"):
            notes["self-evaluation" if is_self else "evaluator"] += 1
            continue
        for slot, label, value in ratings:
            for key, x in zip(columns, (current["item"], rater, slot, label, value, number, field), strict=True):
                rows[key].append(x)
    if not items:
        raise InputError(
            f"{file}: no utterance header found; expected an IEMOCAP EmoEvaluation file with blocks starting "
            "'[START - END]<TAB>ID<TAB>EMOTION<TAB>[V, A, D]'."
        )
    item_table = pd.DataFrame(items, columns=["item", *_ITEM_COLUMNS, "line"])
    return item_table.set_index("item").drop(columns="line"), pd.DataFrame(rows).assign(source_file=file), notes


def _header(line: str, file: str, number: int, notes: Counter) -> dict:
    match = _HEADER.fullmatch(line)
    if match is None:
        raise InputError(
            f"{place(file, number, unit='line')}: expected an utterance header "
            f"'[START - END]<TAB>ID<TAB>EMOTION<TAB>[V, A, D]', found {line!r}."
        )
    utterance = match["utterance"]
    name = _UTTERANCE.fullmatch(utterance)
    if name is None:
        raise InputError(
            f"{place(file, number, 'TURN_NAME', 'line')}: utterance id {utterance!r} does not follow the IEMOCAP "
            "pattern SesNN[FM]_<dialog>_[FM]NNN (e.g. Ses01F_impro01_F000)."
        )
    check_relative_name(utterance, place(file, number, "TURN_NAME", "line"), "utterance id (part of its audio path)")
    start, end = (_number(match[k], file, number, k.upper() + "_TIME") for k in ("start", "end"))
    if start < 0:
        raise InputError(
            f"{place(file, number, 'START_TIME', 'line')}: the utterance starts at {match['start']} s; expected a "
            "start time of 0 s or later."
        )
    if end <= start:
        raise InputError(
            f"{place(file, number, 'END_TIME', 'line')}: the utterance must end after it starts, found "
            f"[{match['start']} - {match['end']}]."
        )
    vad = [v.strip() for v in match["vad"].split(",")]
    if len(vad) != 3:
        raise InputError(
            f"{place(file, number, '[V, A, D]', 'line')}: expected three averages '[V, A, D]', found [{match['vad']}]."
        )
    valence, arousal, dominance = (_number(v, file, number, "[V, A, D]") for v in vad)
    code = match["emotion"]
    if code.lower() == NO_CONSENSUS:
        notes["no consensus"] += 1
        consensus = None
    elif code.lower() in _LOOKUP:
        consensus = _LOOKUP[code.lower()]
    else:
        raise InputError(
            f"{place(file, number, 'EMOTION', 'line')}: consensus code {code!r} is not an IEMOCAP code; expected one "
            f"of {' '.join(_CODES)} {NO_CONSENSUS}."
        )
    speaker = name["speaker"]
    dialog = utterance.rsplit("_", 1)[0]
    kind = _DIALOG.match(dialog)
    dialog_type = DIALOG_TYPES.get(kind["kind"]) if kind else None
    if dialog_type is None:
        notes["unknown dialog type"] += 1
    return {
        "item": utterance,
        "start": start,
        "end": end,
        "duration": end - start,
        "session": name["session"],
        "dialog": dialog,
        "dialog_type": dialog_type,
        "speaker": name["session"] + speaker,
        "gender": GENDERS[speaker],
        "consensus_class": consensus,
        "consensus_valence": valence,
        "consensus_arousal": arousal,
        "consensus_dominance": dominance,
        "line": number,
    }


def _body(rest: str) -> str:
    """The labels part of an evaluator line: before the tab that opens the comment (or before '(...)')."""
    fields = rest.strip().split("\t")
    return fields[0] if len(fields) > 1 else _COMMENT.sub("", fields[0])


def _categorical(body: str, file: str, number: int, field: str, notes: Counter) -> list[tuple[str, str, float]]:
    raw = [x.strip() for x in body.split(";") if x.strip()]
    if not raw:
        raise InputError(f"{place(file, number, field, 'line')}: no emotion listed; expected e.g. 'Neutral;'.")
    labels = []
    for text in raw:
        key = text.lower()
        if key in _LOOKUP:
            labels.append(_LOOKUP[key])
        elif is_free_text_other(key):
            notes[f"free-text other: {text}"] += 1
            labels.append(OTHER)
        else:
            raise InputError(
                f"{place(file, number, field, 'line')}: {text!r} is not an IEMOCAP emotion; expected one of "
                f"{', '.join(_NAMES)} (or 'Other:<text>')."
            )
    unique = list(dict.fromkeys(labels))
    notes["repeated label"] += len(labels) - len(unique)
    return [("primary", unique[0], np.nan)] + [("secondary", label, np.nan) for label in unique]


def _dimensional(body: str, file: str, number: int, field: str, notes: Counter) -> list[tuple[str, str, float]]:
    out = []
    for part in (p.strip() for p in body.split(";")):
        if not part:
            continue
        key, _, value = part.partition(" ")
        if key not in DIMENSIONS:
            raise InputError(
                f"{place(file, number, field, 'line')}: {part!r} is not a dimensional rating; expected "
                "'val N; act N; dom N;'."
            )
        if not value.strip():
            notes["blank dimension"] += 1
            continue
        out.append(("dimension", DIMENSIONS[key], _number(value, file, number, f"{field} {key}")))
    return out


def _number(text: str, file: str, number: int, field: str) -> float:
    """A finite number; other text (also ``inf``, ``nan``, ``1e400``) raises InputError naming line and field."""
    value = finite_number(text)
    if value is None:
        raise InputError(f"{place(file, number, field, 'line')}: expected a number, found {shown(text.strip())}.")
    return value


# ----------------------------------------------------------------------------- files and directories
def evaluation_files(paths: str | Path | Sequence[str | Path]) -> tuple[list[Path], list[str]]:
    """The EmoEvaluation files among ``paths`` (directories searched recursively) and the report notes.

    In a directory only ``*.txt`` files sitting directly in a folder named ``EmoEvaluation`` count (its
    ``Categorical`` / ``Attribute`` / ``Self-evaluation`` subfolders hold other formats); macOS ``._``
    resource files and other operating-system debris are skipped and counted.
    """
    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    files, notes = [], []
    for path in map(Path, paths):
        if path.is_dir():
            found, debris = corpus_files(path, "*.txt")
            found = [p for p in found if p.parent.name == "EmoEvaluation"]
            notes += debris_note(debris, path)
            if not found:
                raise InputError(
                    f"{path}: no EmoEvaluation/*.txt files below this folder; give the IEMOCAP release folder "
                    "(with Session1 ... Session5) or the evaluation files themselves."
                )
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"{path}: not found.")
    return files, notes


def read_iemocap(
    paths: str | Path | Sequence[str | Path],
    *,
    self_evaluations: str = "exclude",
    name: str = "iemocap",
    encoding: str = DEFAULT_ENCODING,
) -> Corpus:
    """Read IEMOCAP EmoEvaluation files (or release folders) into a Corpus.

    Files are decoded with ``encoding`` (default: detected; bytes that are not valid text raise InputError
    naming the file and line). An utterance id with a ``..`` component or an absolute path is refused,
    since audio paths are built from it.

    Classes: neutral, frustration, anger, sadness, happiness, excitement, surprise, fear, disgust;
    excluded ``other``; the class map lists IEMOCAP's names (``Excited`` -> ``excitement``) and codes.
    ``self_evaluations``: ``exclude`` (default; the actors' ratings of their own utterances are set
    aside and counted), ``include`` (kept as raters ``SesNN-F1`` ...) or ``only``. See the module
    docstring for the primary / secondary convention and the rater ids. Raises :class:`ConfigError`
    for an unknown ``self_evaluations`` and :class:`InputError` naming file, line and field.
    """
    if self_evaluations not in SELF_EVALUATIONS:
        raise ConfigError(f"self_evaluations={self_evaluations!r}; expected one of {', '.join(SELF_EVALUATIONS)}.")
    files, folder_notes = evaluation_files(paths)
    tables, notes = [], Counter()
    first_seen: dict[str, str] = {}
    for path in files:
        text = read_text(path, "IEMOCAP EmoEvaluation", encoding)
        items, ratings, file_notes = parse_emo_evaluation(text, path.name, self_evaluations)
        for utterance in items.index:
            if utterance in first_seen:
                raise InputError(f"{path.name}: utterance {utterance!r} is also in {first_seen[utterance]}.")
            first_seen[utterance] = path.name
        items["audio"] = _audio_paths(path, items)
        tables.append((items, ratings))
        notes += file_notes
    items = pd.concat([t[0] for t in tables])
    ratings = pd.concat([t[1] for t in tables], ignore_index=True)
    for column in ("session", "dialog", "dialog_type", "speaker", "gender", "consensus_class", "audio"):
        items[column] = items[column].astype(STRING)
    return Corpus(
        name,
        items,
        ratings,
        classes=CLASSES,
        class_map=CLASS_MAP,
        excluded=[OTHER],
        scales={"dimension": DIMENSION_SCALE},
        source=", ".join(str(p) for p in files) if len(files) <= 3 else f"{len(files)} EmoEvaluation files",
        description=describe_import(_source_text(files), _sentences(notes, items, ratings) + folder_notes),
        audio_root=common_root(sorted({os.path.dirname(p) for p in items["audio"].dropna()})),
    )


def _audio_paths(path: Path, items: pd.DataFrame) -> list[str | None]:
    """``Session*/sentences/wav/<dialog>/<utterance>.wav`` for a file in ``Session*/dialog/EmoEvaluation``."""
    if path.parent.name != "EmoEvaluation" or path.parent.parent.name != "dialog":
        return [None] * len(items)
    wav = Path(os.path.abspath(path.parent.parent.parent / "sentences" / "wav"))  # never the working directory
    return [
        str(wav / dialog / f"{utterance}.wav") for utterance, dialog in zip(items.index, items["dialog"], strict=True)
    ]


def _source_text(files: list[Path]) -> str:
    return files[0].name if len(files) == 1 else f"{len(files)} IEMOCAP EmoEvaluation files"


def _sentences(notes: Counter, items: pd.DataFrame, ratings: pd.DataFrame) -> list[str]:
    out = [f"Ratings: {len(ratings)}; raters: {ratings['rater'].nunique()}; utterances: {len(items)}."]
    free_text = Counter({k.removeprefix("free-text other: "): v for k, v in notes.items() if k.startswith("free-text")})
    if free_text:
        out.append(f"Free-text 'Other:...' labels read as 'other': {free_text.total()} ({tally(free_text)}).")
    for key, what in (
        ("no consensus", "Utterances without consensus (xxx; consensus_class empty)"),
        ("unknown dialog type", "Utterances of dialogs named neither impro... nor script... (dialog_type empty)"),
        ("repeated label", "Labels repeated within one evaluator line, kept once"),
        ("blank dimension", "Blank val/act/dom values skipped"),
        ("self-evaluation", "Self-evaluation lines (C-F1, A-M1 ...: actors rating themselves) set aside, not raters"),
        ("evaluator", "Evaluator lines set aside (self_evaluations='only')"),
    ):
        if notes[key]:
            out.append(f"{what}: {notes[key]}.")
    return out
