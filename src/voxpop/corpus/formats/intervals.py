"""Time-interval annotation (RAMAS style): a rater marks where in a recording an emotion is shown -> Corpus.

The table (CSV, TSV or Parquet) has one row per marked interval with the columns ``recording``,
``rater``, ``label``, ``start``, ``end`` (seconds) and optionally ``condition``; other names are mapped
with ``columns={"file": "recording", ...}``. Items are the recordings. Their ``duration`` comes from a
recordings table (columns ``recording`` and optionally ``audio``, ``duration``), or from the audio files
in ``audio_dir`` (``<recording>.wav``, ``.flac`` ..., duration read from the file header); otherwise it is
the latest interval end, and ``duration_estimated`` is True. Ratings are ``primary`` ratings with
``start`` / ``end``; non-numeric or empty times are errors naming file, row and column, and the
Corpus rejects ``end <= start`` and negative starts, naming the same place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError, where
from voxpop.corpus.corpus import STRING, Corpus
from voxpop.corpus.formats.audio_files import AUDIO_SUFFIXES, audio_durations, find_audio, unmatched_files_note
from voxpop.corpus.formats.case import fold_case as fold_labels
from voxpop.corpus.formats.free_text import read_free_text
from voxpop.corpus.formats.tables import (
    DEFAULT_ENCODING,
    describe_import,
    id_column,
    labels_in_order,
    number_column,
    read_table,
    rename_columns,
    require_columns,
    text_column,
)
from voxpop.corpus.media_paths import resolve_media_column

REQUIRED = ("recording", "rater", "label", "start", "end")


def read_intervals(
    path: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    classes: Sequence[str] | None = None,
    class_map: Mapping[str, str] | None = None,
    excluded: Sequence[str] = (),
    recordings: str | Path | None = None,
    audio_dir: str | Path | None = None,
    fold_case: bool = False,
    keep_free_text: bool = False,
    name: str | None = None,
    encoding: str = DEFAULT_ENCODING,
    audio_root: str | Path | None = None,
    allow_outside_paths: bool = False,
) -> Corpus:
    """Read interval annotations into a Corpus whose items are recordings.

    Labels that differ only in case are reported; ``fold_case`` lower-cases them (and ``classes``,
    ``class_map``, ``excluded``).
    Free-text "Other" answers (``Other: bored``) are read as the label ``other`` (counted, the distinct texts
    listed in the report; an excluded label unless ``classes`` lists it); ``keep_free_text`` keeps each text as
    a label (:mod:`voxpop.corpus.formats.free_text`).

    ``classes`` defaults to the sorted unique labels after ``class_map``, minus ``excluded``.
    ``recordings`` (a table) and ``audio_dir`` (a folder) are alternative sources of the recording
    list and durations; an interval ending after a known duration is an error naming its row. Tables are
    decoded with ``encoding`` (default: detected); a time holding ``inf``, ``nan`` or ``1e400`` is an error.
    An ``audio`` column of ``recordings`` holds paths resolved against ``audio_root`` (default: the table's
    folder, never the working directory; :mod:`voxpop.corpus.media_paths`); one resolving outside it is an InputError
    unless ``allow_outside_paths``.
    """
    if recordings is not None and audio_dir is not None:
        raise ConfigError("give either a recordings table or an audio folder, not both")
    path = Path(path)
    file = path.name
    frame = rename_columns(read_table(path, "intervals", encoding), columns, file)
    require_columns(frame, REQUIRED, file, "Map other names with columns={'your_column': 'recording', ...}.")
    notes = []
    ignored = [c for c in frame.columns if c not in (*REQUIRED, "condition")]
    if ignored:
        notes.append(f"Ignored columns: {', '.join(ignored)}.")
    ratings = pd.DataFrame(
        {
            "item": id_column(frame, "recording", file),
            "rater": text_column(frame, "rater", file),
            "label": text_column(frame, "label", file),
            "slot": "primary",
        }
    )
    if "condition" in frame.columns:
        ratings["condition"] = text_column(frame, "condition")
    for column in ("start", "end"):
        text_column(frame, column, file)  # empty times are errors
        ratings[column] = number_column(frame, column, file)
    ratings["source_file"] = file
    ratings["source_row"] = np.arange(1, len(frame) + 1)
    ratings, excluded = read_free_text(ratings, classes, excluded, keep_free_text, notes)
    ratings, classes, class_map, excluded = fold_labels(ratings, classes, class_map, excluded, fold_case, notes)
    root = ""
    if recordings is not None:
        root = os.path.abspath(Path(recordings).parent if audio_root is None else audio_root)
        items = _recordings_table(Path(recordings), columns, encoding, (root, allow_outside_paths, notes))
    elif audio_root is not None:
        raise ConfigError("audio_root resolves the audio column of a recordings table; give recordings= too.")
    elif audio_dir is not None:
        root = os.path.abspath(audio_dir)
        items = _recordings_from_audio(Path(audio_dir), ratings["item"].unique(), notes)
    else:
        items = pd.DataFrame(index=pd.Index(ratings["item"].unique(), dtype=STRING, name="item"))
        items["duration"] = np.nan
    items = _fill_durations(items, ratings, file, notes)
    if classes is None:
        classes = labels_in_order(ratings["label"].unique(), class_map, excluded)
    notes.insert(0, f"Intervals: {len(ratings)}; raters: {ratings['rater'].nunique()}; recordings: {len(items)}.")
    return Corpus(
        name or path.stem,
        items,
        ratings,
        classes=classes,
        class_map=class_map,
        excluded=excluded,
        source=str(path),
        description=describe_import(file, notes),
        audio_root=root if "audio" in items.columns else "",
    )


def _recordings_table(
    path: Path, columns: Mapping[str, str] | None, encoding: str, audio: tuple[str, bool, list[str]]
) -> pd.DataFrame:
    """The recordings table as items; ``audio`` is (audio root, allow_outside_paths, notes) for its audio column."""
    table = rename_columns(read_table(path, "recordings", encoding), columns, path.name)
    require_columns(table, ["recording"], path.name, "The recordings table lists one recording id per row.")
    ids = id_column(table, "recording", path.name)
    if ids.duplicated().any():
        row = int(np.flatnonzero(ids.duplicated().to_numpy())[0])
        raise InputError(f"{where(path.name, row + 1, 'recording')}: recording {ids.iat[row]!r} appears twice.")
    items = table.drop(columns="recording").set_index(pd.Index(ids, name="item"))
    if "audio" in items.columns:
        root, allow_outside_paths, notes = audio
        paths = text_column(table, "audio")
        items["audio"] = resolve_media_column(
            paths, root, path.name, allow_outside_paths=allow_outside_paths, notes=notes
        ).to_numpy()
    items["duration"] = number_column(table, "duration", path.name).to_numpy() if "duration" in table else np.nan
    return items


def _recordings_from_audio(folder: Path, recordings: Sequence[str], notes: list[str]) -> pd.DataFrame:
    files = find_audio(folder, notes=notes)
    missing = [r for r in recordings if r not in files]
    if missing:
        raise InputError(
            f"{folder}: no audio file for recording(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}; "
            f"expected files named <recording> + one of {', '.join(AUDIO_SUFFIXES)}."
        )
    paths = [files[r] for r in recordings]
    notes += unmatched_files_note(files, set(recordings), folder)
    return pd.DataFrame(
        {"audio": pd.array([str(p) for p in paths], dtype=STRING), "duration": audio_durations(paths)},
        index=pd.Index(list(recordings), dtype=STRING, name="item"),
    )


def _fill_durations(items: pd.DataFrame, ratings: pd.DataFrame, file: str, notes: list[str]) -> pd.DataFrame:
    """Known durations bound the intervals; unknown ones become the latest end, flagged as estimated."""
    duration = ratings["item"].map(items["duration"]) if len(items) else pd.Series(np.nan, index=ratings.index)
    beyond = ratings["end"] > duration.astype("float64")
    if beyond.any():
        row = int(np.flatnonzero(beyond.to_numpy())[0])
        x = ratings.iloc[row]
        raise InputError(
            f"{where(file, row + 1, 'end')}: interval end {x['end']:g} s is after the end of recording "
            f"{x['item']!r} ({duration.iat[row]:g} s). Fix the time or the recording's duration."
        )
    latest = ratings.groupby("item")["end"].max()
    estimated = items["duration"].isna() & items.index.isin(latest.index)
    items = items.assign(duration=items["duration"].fillna(latest.reindex(items.index)), duration_estimated=estimated)
    if estimated.any():
        notes.append(f"Recording durations estimated as the latest interval end: {int(estimated.sum())}.")
    return items
