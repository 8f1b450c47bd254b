"""CREMA-D (Cao et al. 2014): tabulated votes and per-rater responses, in three stimulus conditions.

Clip names are ``SPEAKER_SENTENCE_EMOTION_LEVEL`` (e.g. ``1001_IEO_NEU_XX``): actor id 1001..1091,
one of 12 sentence codes, the intended emotion (ANG DIS FEA HAP NEU SAD) and its intensity code
(LO MD HI, XX = unspecified). Raters judged each clip as voice only, face only or audio-visual.

- :func:`read_cremad` reads ``tabulatedVotes.csv`` (vote counts per clip and condition; every vote
  becomes one rating with an empty rater).
- :func:`read_cremad_responses` reads ``finishedResponses.csv`` (one row per rater answer, with the
  rater id ``localid`` and the rated intensity ``respLevel`` 0..100). The corpus authors built the
  public vote table after dropping answers whose *first* click came more than 10 s after the clip
  (``processFinishedResponses.R``); those times are in ``finishedEmoResponses.csv``, given as
  ``first_clicks``. Without it the per-rater import keeps the answers the public table dropped.

Both accept an audio folder, the speaker-fold table and the actor demographics table.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError, where
from voxpop.corpus.corpus import STRING, Corpus
from voxpop.corpus.formats.audio_files import attach_audio
from voxpop.corpus.formats.tables import (
    DEFAULT_ENCODING,
    describe_import,
    id_column,
    number_column,
    read_table,
    require_columns,
    text_column,
)
from voxpop.corpus.repeats import check_policy, resolve_repeats

NAME = "crema-d"
SOURCE = "CREMA-D (Cao et al., IEEE Transactions on Affective Computing 2014)"
LICENSE = "Open Database License (ODbL 1.0); contents under the Database Contents License (DbCL 1.0)"
CODES = ("A", "D", "F", "H", "N", "S")
CLASSES = ("anger", "disgust", "fear", "happy", "neutral", "sad")
CLASS_MAP = dict(zip(CODES, CLASSES, strict=True))
CONDITIONS = {"1": "voice", "2": "face", "3": "av"}
INTENDED = dict(zip(("ANG", "DIS", "FEA", "HAP", "NEU", "SAD"), CLASSES, strict=True))
LEVELS = ("LO", "MD", "HI", "XX")
SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
FOLD_VALUES = ("Train", "Development", "Test")
_CLIP = r"(?P<speaker>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_(?P<intensity>[A-Z]{2})"
_VOTES = "CREMA-D tabulatedVotes.csv (row id, A D F H N S vote counts, fileName, numResponses)"
_RESPONSES = "CREMA-D finishedResponses.csv (one row per rater answer)"
RESPONSE_COLUMNS = ("localid", "queryType", "clipName", "respEmo", "respLevel")
ANSWER_KEY = ("sessionNums", "queryType", "questNum")
FIRST_CLICK_LIMIT_MS = 10_000.0
_FIRST_CLICKS = (
    "CREMA-D finishedEmoResponses.csv (first emotion click per answer: sessionNums, queryType, questNum, ttr)"
)
MAX_VOTES = 1000
REAL_MAX_VOTES = 12  # the most votes any clip got in one condition in the CREMA-D release
INTENSITY_SCALE = (0, 100)
_SHOWN_ROWS = 5
_LARGEST_WHOLE = 2**53  # whole numbers above this are not exact in float64 and would overflow int64 later


def clip_items(clips: pd.Series, file: str, column: str) -> pd.DataFrame:
    """Items table from clip names: speaker, sentence, intended emotion (class name), intensity code.

    One row per distinct clip in order of first appearance; a malformed name raises InputError
    naming the first row where it occurs.

    >>> clip_items(pd.Series(["1001_IEO_NEU_XX", "1091_WSI_ANG_HI", "1001_IEO_NEU_XX"]), "v.csv", "fileName")
                    speaker sentence  emotion intensity   corpus
    item
    1001_IEO_NEU_XX    1001      IEO  neutral        XX  crema-d
    1091_WSI_ANG_HI    1091      WSI    anger        HI  crema-d
    """
    names = pd.Series(clips.to_numpy(dtype=object), dtype=STRING)
    first = ~names.duplicated()
    unique = names[first]
    parts = unique.str.extract(f"^{_CLIP}$")
    bad = (
        parts["speaker"].isna()
        | ~parts["sentence"].isin(SENTENCES)
        | ~parts["emotion"].isin(list(INTENDED))
        | ~parts["intensity"].isin(LEVELS)
    )
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        position = int(unique.index[row])
        raise InputError(
            f"{where(file, position + 1, column)}: clip name {unique.iat[row]!r} is not a CREMA-D clip name; "
            f"expected SPEAKER_SENTENCE_EMOTION_LEVEL such as 1001_IEO_NEU_XX (sentence one of "
            f"{' '.join(SENTENCES)}, emotion one of {' '.join(INTENDED)}, level one of {' '.join(LEVELS)})."
        )
    items = pd.DataFrame(
        {
            "speaker": parts["speaker"].to_numpy(),
            "sentence": parts["sentence"].to_numpy(),
            "emotion": parts["emotion"].map(INTENDED).to_numpy(),
            "intensity": parts["intensity"].to_numpy(),
            "corpus": NAME,
        },
        index=pd.Index(unique.to_numpy(), dtype=STRING, name="item"),
    )
    return items.astype(STRING)


def votes_to_ratings(counts: np.ndarray, clips: np.ndarray, conditions: np.ndarray, file: str) -> pd.DataFrame:
    """One rating row per vote: row r, class c repeated ``counts[r, c]`` times (rater empty).

    Provenance: ``source_row`` = r + 1, ``source_column`` = the class code.

    >>> votes_to_ratings(np.array([[2, 0, 0, 0, 1, 0]]), np.array(["c1"]), np.array(["voice"]), "v.csv")
      item condition label source_file  source_row source_column
    0   c1     voice     A       v.csv           1             A
    1   c1     voice     A       v.csv           1             A
    2   c1     voice     N       v.csv           1             N
    """
    rows, width = counts.shape
    flat = counts.ravel()
    row = np.repeat(np.repeat(np.arange(rows), width), flat)
    code = np.asarray(CODES)[np.repeat(np.tile(np.arange(width), rows), flat)]
    return pd.DataFrame(
        {
            "item": clips[row],
            "condition": conditions[row],
            "label": code,
            "source_file": file,
            "source_row": row + 1,
            "source_column": code,
        }
    )


def read_cremad(
    path: str | Path,
    audio: str | Path | None = None,
    only_with_audio: bool = False,
    folds: str | Path | None = None,
    demographics: str | Path | None = None,
    max_votes: int = MAX_VOTES,
    encoding: str = DEFAULT_ENCODING,
) -> Corpus:
    """Read ``tabulatedVotes.csv``: every vote becomes one primary rating with an empty rater.

    The row id (first column) starts with the condition digit (1 voice, 2 face, 3 audio-visual).
    The counts in A D F H N S must add up to ``numResponses``. ``max_votes`` is the per-item ceiling:
    a row (one clip in one condition) whose ``numResponses`` or class count exceeds it raises
    InputError naming the row before any vote is expanded into ratings (default 1,000; the release
    has at most 12). Other options as in :func:`read_cremad_responses`.
    """
    if isinstance(max_votes, bool) or not isinstance(max_votes, int) or max_votes < 1:
        raise ConfigError(f"max_votes={max_votes!r}; expected a whole number >= 1 (votes per clip and condition).")
    path = Path(path)
    file = path.name
    table = read_table(path, _VOTES, encoding)
    if set(RESPONSE_COLUMNS) <= set(table.columns):
        raise InputError(
            f"{path}: holds per-rater answers (finishedResponses.csv), not vote counts; "
            "read it with read_cremad_responses (CLI: voxpop import crema-d --responses)."
        )
    _require(table, path, [*CODES, "fileName", "numResponses"], _VOTES)
    row_column = table.columns[0]
    if row_column in (*CODES, "fileName", "numResponses"):
        raise InputError(f"{path}: the first column is {row_column!r}; expected the row id (e.g. 100001) first.")
    ids = text_column(table, row_column, file)
    bad = ~ids.str.fullmatch(r"[123]\d*")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{where(file, row + 1, row_column)}: row id {ids.iat[row]!r} does not start with a condition digit; "
            "expected 1 (voice), 2 (face) or 3 (audio-visual) followed by the clip number, e.g. 100001."
        )
    conditions = ids.str[:1].map(CONDITIONS).to_numpy(dtype=object)
    totals = _whole_numbers(table, "numResponses", file, "a number of responses", max_votes)
    counts = np.column_stack([_whole_numbers(table, c, file, "a vote count", max_votes) for c in CODES])
    wrong = np.flatnonzero(counts.sum(axis=1) != totals)
    if len(wrong):
        r = wrong[0]
        raise InputError(
            f"{where(file, r + 1, 'numResponses')}: {totals[r]} responses, but the counts in "
            f"{' '.join(CODES)} add up to {counts[r].sum()}; expected them to be equal "
            f"({len(wrong)} rows disagree)."
        )
    clips = id_column(table, "fileName", file)
    _refuse_repeats(pd.DataFrame({"clip": clips, "condition": conditions}), file, "clip and condition")
    items = clip_items(clips, file, "fileName")
    ratings = votes_to_ratings(counts, clips.to_numpy(dtype=object), conditions, file)
    origin = f"{path} (tabulated votes)"
    return _corpus(items, ratings, origin, audio, only_with_audio, folds, demographics, encoding=encoding)


def read_cremad_responses(
    path: str | Path,
    duplicates: str = "error",
    first_clicks: str | Path | None = None,
    audio: str | Path | None = None,
    only_with_audio: bool = False,
    folds: str | Path | None = None,
    demographics: str | Path | None = None,
    encoding: str = DEFAULT_ENCODING,
) -> Corpus:
    """Read ``finishedResponses.csv``: one primary rating per answer, rater = ``localid``.

    ``queryType`` gives the condition (1 voice, 2 face, 3 av), ``respEmo`` the label (A D F H N S)
    and ``respLevel`` the rated intensity, stored as value on the scale 0..100 (a level outside it, or
    not a finite number, raises InputError naming column ``respLevel``).

    - ``duplicates``: a rater answering the same clip in the same condition twice: ``"error"``
      (default) refuses, naming both answers and rows; ``"first"``, ``"last"``, ``"drop"``, ``"mean"``
      (averages the levels when the emotions agree) as in :mod:`voxpop.corpus.repeats`; counted in the report.
    - ``first_clicks``: ``finishedEmoResponses.csv``; answers whose first click took more than 10 s
      (``ttr`` > 10000 ms) are dropped and counted, as the corpus authors did for the vote table. Joined
      by ``sessionNums``, ``queryType`` and ``questNum``, which ``path`` must then have too.
    - ``audio``: folder of ``<clip>.wav`` (or .flac ...) files: adds ``audio`` and ``duration``.
    - ``only_with_audio``: keep only items that have an audio file (the rest are counted).
    - ``folds``: speaker-fold CSV (FileName, Gender, fold1..foldN with Train / Development / Test).
    - ``demographics``: VideoDemographics.csv (ActorID, Age, Sex, Race, Ethnicity) by speaker.
    - ``encoding``: text encoding of the CSV files (default: detected).
    """
    check_policy(duplicates)
    path = Path(path)
    file = path.name
    table = _read(path, RESPONSE_COLUMNS, _RESPONSES, encoding)
    notes = []
    query = text_column(table, "queryType", file).str.removesuffix(".0")
    unknown = np.flatnonzero(~query.isin(list(CONDITIONS)).to_numpy())
    if len(unknown):
        r = unknown[0]
        raise InputError(
            f"{where(file, r + 1, 'queryType')}: found {query.iat[r]!r}; "
            "expected 1 (voice), 2 (face) or 3 (audio-visual)."
        )
    clips = id_column(table, "clipName", file)
    items = clip_items(clips, file, "clipName")
    level = _numbers(table, "respLevel", file, "an intensity level 0..100")
    outside = np.flatnonzero((level < INTENSITY_SCALE[0]) | (level > INTENSITY_SCALE[1]))
    if len(outside):
        r = outside[0]
        raise InputError(
            f"{where(file, r + 1, 'respLevel')}: intensity level {level[r]:g} is outside 0..100; expected the "
            f"rated intensity 0..100." + (f" ({len(outside)} such rows in all)" if len(outside) > 1 else "")
        )
    ratings = pd.DataFrame(
        {
            "item": clips.to_numpy(),
            "rater": text_column(table, "localid", file).to_numpy(),
            "condition": query.map(CONDITIONS).to_numpy(),
            "label": text_column(table, "respEmo", file).to_numpy(),
            "value": level,
            "source_file": file,
            "source_row": np.arange(1, len(table) + 1),
            "source_column": "respEmo",
        }
    )
    if first_clicks is not None:
        slow = slow_first_clicks(table, file, Path(first_clicks), notes, encoding)
        ratings = ratings[~slow].reset_index(drop=True)
    ratings, repeat_notes = resolve_repeats(ratings, duplicates)
    notes += repeat_notes
    origin = f"{path} (per-rater responses)"
    return _corpus(
        items, ratings, origin, audio, only_with_audio, folds, demographics, notes, intensity=True, encoding=encoding
    )


def slow_first_clicks(
    table: pd.DataFrame, file: str, path: Path, notes: list[str], encoding: str = DEFAULT_ENCODING
) -> np.ndarray:
    """True for the answers of ``table`` whose first click (``ttr`` in ``path``) took more than 10 s.

    The count goes to ``notes``; so does the number of answers without a first-click row (kept).
    Raises :class:`InputError` when a join column is missing, a ``ttr`` or key is not a number, or an
    answer has two first-click rows.
    """
    require_columns(
        table, ANSWER_KEY, file, "--first-clicks joins the answers by these columns of finishedResponses.csv."
    )
    clicks = _read(path, [*ANSWER_KEY, "ttr"], _FIRST_CLICKS, encoding)
    keys = [_answer_keys(t, f) for t, f in ((table, file), (clicks, path.name))]
    _refuse_repeats(keys[1], path.name, "sessionNums, queryType and questNum")
    ttr = pd.Series(_numbers(clicks, "ttr", path.name, "a response time in milliseconds"), index=keys[1].index)
    slow = pd.MultiIndex.from_frame(keys[1][(ttr > FIRST_CLICK_LIMIT_MS).to_numpy()])
    answers = pd.MultiIndex.from_frame(keys[0])
    dropped = answers.isin(slow)
    unmatched = int((~answers.isin(pd.MultiIndex.from_frame(keys[1]))).sum())
    notes.append(
        f"First clicks ({path.name}): {int(dropped.sum())} of {len(table)} answers dropped because their first "
        f"click came more than {FIRST_CLICK_LIMIT_MS / 1000:g} s after the clip (as for the public vote table)."
    )
    if unmatched:
        notes.append(f"{unmatched} answers have no row in {path.name} (kept).")
    return np.asarray(dropped, dtype=bool)


def _answer_keys(table: pd.DataFrame, file: str) -> pd.DataFrame:
    """sessionNums, queryType, questNum as whole-number text (``1.0`` and ``1`` are the same key)."""
    return pd.DataFrame(
        {c: _whole_numbers(table, c, file, "a key number").astype(str) for c in ANSWER_KEY},
        index=table.index,
    )


def _read(path: Path, required: Sequence[str], what: str, encoding: str) -> pd.DataFrame:
    table = read_table(path, what, encoding)
    _require(table, path, required, what)
    return table


def _require(table: pd.DataFrame, path: Path, required: Sequence[str], what: str) -> None:
    require_columns(table, required, path.name, f"Expected {what} with columns {list(required)}.")


def _numbers(table: pd.DataFrame, column: str, file: str, expected: str) -> np.ndarray:
    """A column of numbers in which every cell is filled; the first bad or empty cell is named."""
    values = number_column(table, column, file, expected).to_numpy()
    empty = np.flatnonzero(np.isnan(values))
    if len(empty):
        raise InputError(f"{where(file, empty[0] + 1, column)}: expected {expected}, found an empty cell.")
    return values


def _whole_numbers(table: pd.DataFrame, column: str, file: str, what: str, ceiling: int | None = None) -> np.ndarray:
    """Non-negative whole numbers (counts, ages) as int64, at most ``ceiling`` (votes); anything else names its row.

    >>> _whole_numbers(pd.DataFrame({"A": ["3", "0"]}), "A", "v.csv", "a vote count")
    array([3, 0])
    >>> _whole_numbers(pd.DataFrame({"A": ["3", "-1"]}), "A", "v.csv", "a vote count")
    Traceback (most recent call last):
    ...
    voxpop.core.errors.InputError: v.csv, row 2, column 'A': expected a vote count (a whole number >= 0), found -1.
    """
    expected = f"{what} (a whole number >= 0)"
    values = _numbers(table, column, file, expected)
    if ceiling is not None and (values > ceiling).any():
        r = int(np.flatnonzero(values > ceiling)[0])
        raise InputError(
            f"{where(file, r + 1, column)}: the row claims {values[r]:.0f} votes; expected at most {ceiling} per "
            f"clip and condition (the release has at most {REAL_MAX_VOTES}). Fix the row, or raise the ceiling "
            "with max_votes= (CLI --max-votes) if the table really holds that many."
        )
    bad = np.flatnonzero((values < 0) | (values != np.round(values)) | (values > _LARGEST_WHOLE))
    if len(bad):
        raise InputError(f"{where(file, bad[0] + 1, column)}: expected {expected}, found {values[bad[0]]:g}.")
    return values.astype(np.int64)


def _refuse_repeats(key: pd.DataFrame, file: str, what: str, advice: str = "remove the repeated rows") -> None:
    """Raise InputError naming the rows of the first repeated key and how many repeats there are."""
    repeated = key.duplicated(keep=False).to_numpy()
    if not repeated.any():
        return
    first = key[repeated].iloc[0]
    same = np.flatnonzero((key == first).all(axis=1).to_numpy()) + 1
    extra = int(key.duplicated(keep="first").sum())
    shown = ", ".join(f"{c} {v!r}" for c, v in first.items())
    raise InputError(
        f"{file}, rows {', '.join(map(str, same[:_SHOWN_ROWS]))}: the same {what} appear more than once "
        f"({shown}); {extra} repeated rows in all; expected one row each: {advice}."
    )


def _corpus(
    items: pd.DataFrame,
    ratings: pd.DataFrame,
    origin: str,
    audio: str | Path | None,
    only_with_audio: bool,
    folds: str | Path | None,
    demographics: str | Path | None,
    notes: Sequence[str] = (),
    intensity: bool = False,
    encoding: str = DEFAULT_ENCODING,
) -> Corpus:
    """Attach the optional item tables, then build the corpus (``intensity``: values on 0..100)."""
    notes = list(notes)
    if only_with_audio and audio is None:
        raise ConfigError("only_with_audio needs an audio folder (audio=DIR, CLI --audio DIR).")
    if audio is not None:
        items = attach_audio(items, audio, notes)
        has_audio = items["audio"].notna()
        if only_with_audio and not has_audio.all():
            dropped = ratings["item"].isin(items.index[~has_audio])
            notes.append(
                f"only_with_audio: {int((~has_audio).sum())} items without audio dropped "
                f"with their {int(dropped.sum())} ratings."
            )
            items, ratings = items[has_audio], ratings[~dropped]
    if folds is not None:
        items = attach_folds(items, folds, notes, encoding)
    if demographics is not None:
        items = attach_demographics(items, demographics, notes, encoding)
    return Corpus(
        NAME,
        items,
        ratings,
        classes=CLASSES,
        class_map=CLASS_MAP,
        scales={"primary": INTENSITY_SCALE} if intensity else None,
        source=SOURCE,
        license=LICENSE,
        description=describe_import(origin, notes),
        audio_root="" if audio is None else os.path.abspath(audio),
    )


def attach_folds(
    items: pd.DataFrame, path: str | Path, notes: list[str], encoding: str = DEFAULT_ENCODING
) -> pd.DataFrame:
    """Add item columns fold1..foldN (Train / Development / Test) and ``gender`` from a fold table.

    Clips of the table missing from the corpus and corpus items missing from the table are counted
    in ``notes``; it is an error when no clip matches.
    """
    path = Path(path)
    file = path.name
    what = "a speaker-fold CSV (FileName, SpkrID, Gender, fold1..foldN)"
    table = _read(path, ["FileName", "Gender"], what, encoding)
    fold_columns = [c for c in table.columns if re.fullmatch(r"fold\d+", c)]
    if not fold_columns:
        raise InputError(f"{path}: no fold columns; expected fold1..foldN, found {list(table.columns)}.")
    for column in fold_columns:
        bad = np.flatnonzero(~table[column].isin(FOLD_VALUES).to_numpy())
        if len(bad):
            raise InputError(
                f"{where(file, bad[0] + 1, column)}: expected one of {', '.join(FOLD_VALUES)}, "
                f"found {table[column].iat[bad[0]]!r}."
            )
    clips = id_column(table, "FileName", file)
    _refuse_repeats(pd.DataFrame({"FileName": clips}), file, "FileName")
    table = table.set_axis(pd.Index(clips, dtype=STRING))
    _note_matches(path, "clips", table.index.isin(items.index), items.index.isin(table.index), notes)
    table = table.reindex(items.index)
    items = items.assign(**{c: table[c].astype(STRING) for c in fold_columns})
    return _set_gender(items, table["Gender"], file, notes)


def attach_demographics(
    items: pd.DataFrame, path: str | Path, notes: list[str], encoding: str = DEFAULT_ENCODING
) -> pd.DataFrame:
    """Add item columns ``age``, ``gender`` (lower case), ``race`` and ``ethnicity`` by speaker."""
    path = Path(path)
    file = path.name
    columns = ["ActorID", "Age", "Sex", "Race", "Ethnicity"]
    table = _read(path, columns, "a CREMA-D VideoDemographics.csv (ActorID, Age, Sex, Race, Ethnicity)", encoding)
    actors = text_column(table, "ActorID", file)
    _refuse_repeats(pd.DataFrame({"ActorID": actors}), file, "ActorID")
    table = table.assign(Age=_whole_numbers(table, "Age", file, "an age in years")).set_axis(actors)
    speakers = items["speaker"].to_numpy()
    _note_matches(path, "actors", table.index.isin(speakers), items["speaker"].isin(table.index).to_numpy(), notes)
    by_item = table.reindex(speakers).set_axis(items.index)
    items = items.assign(
        age=by_item["Age"].astype("Int64"),
        race=by_item["Race"].astype(STRING),
        ethnicity=by_item["Ethnicity"].astype(STRING),
    )
    return _set_gender(items, by_item["Sex"], file, notes)


def _note_matches(path: Path, what: str, in_corpus: np.ndarray, has_entry: np.ndarray, notes: list[str]) -> None:
    """Count unmatched entries both ways in ``notes``; InputError when nothing matches."""
    matched, total = int(in_corpus.sum()), len(in_corpus)
    if not matched:
        raise InputError(f"{path}: none of its {total} {what} is in the corpus; check that the file belongs to it.")
    if matched < total:
        notes.append(f"{total - matched} of {total} {what} in {path.name} are not in the corpus (ignored).")
    missing = int((~has_entry).sum())
    if missing:
        notes.append(f"{missing} of {len(has_entry)} corpus items have no entry in {path.name} (left empty).")


def _set_gender(items: pd.DataFrame, gender: pd.Series, file: str, notes: list[str]) -> pd.DataFrame:
    """Set ``gender`` (lower case); where an earlier table gave another value, note the disagreement."""
    new = gender.astype(STRING).str.strip().str.lower().replace("", pd.NA)
    if "gender" in items.columns:
        old = items["gender"]
        differ = int((old.notna() & new.notna() & (old != new)).sum())
        if differ:
            notes.append(f"{differ} items have another gender in {file} than before; {file} wins.")
        new = new.fillna(old)
    return items.assign(gender=new.astype(STRING))
