"""Generic long rating tables (CSV, TSV or Parquet) -> Corpus.

A long table has one row per judgement with columns ``item``, ``rater``, ``label`` and optionally
``value``, ``condition``, ``slot``, ``start``, ``end`` (the Corpus ratings columns). The crowd-kit shape
``task, worker, label`` is recognised automatically (``task`` -> ``item``, ``worker`` -> ``rater``), and
any other naming is handled with ``columns={"clip": "item", ...}``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError, where
from voxpop.corpus.corpus import EMOTION_SLOTS, RATING_COLUMNS, STRING, Corpus, nfc
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
from voxpop.corpus.repeats import check_policy, resolve_repeats

CROWDKIT_COLUMNS = {"task": "item", "worker": "rater"}


def read_long(
    path: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    classes: Sequence[str] | None = None,
    class_map: Mapping[str, str] | None = None,
    excluded: Sequence[str] = (),
    scales: Mapping[str, Sequence[float]] | None = None,
    items: str | Path | None = None,
    slot: str | None = None,
    duplicates: str = "error",
    fold_case: bool = False,
    keep_free_text: bool = False,
    name: str | None = None,
    encoding: str = DEFAULT_ENCODING,
    audio_root: str | Path | None = None,
    allow_outside_paths: bool = False,
) -> Corpus:
    """Read a long rating table (one row per judgement) into a validated :class:`Corpus`.

    ``columns`` renames file columns to Corpus names (in the ratings, and where present in the ``items`` table).
    ``classes`` defaults to the sorted unique labels of emotion-slot ratings after ``class_map``, minus
    ``excluded``. Without a ``slot`` column every rating gets ``slot`` (default: ``intensity`` when the table has
    values, else ``primary``). ``items`` is an optional CSV/Parquet item table with an ``item`` column (ratings of
    items missing from it are errors); without it the items are the rated ids in order of first appearance; its
    ``audio`` column, if any, holds paths resolved against ``audio_root`` (default: the items table's folder, never
    the working directory; see :mod:`voxpop.corpus.media_paths`), and a path resolving outside that root is an
    InputError
    unless ``allow_outside_paths``. Columns that are not rating columns are ignored and listed in the report
    (``corpus.description``). Every rating keeps its ``source_file`` and ``source_row``. CSV files are decoded with
    ``encoding`` (default: detected). A ``value``, ``start`` or ``end`` cell holding ``inf``, ``nan`` or ``1e400``
    raises InputError naming its row; empty cells stay missing, except that a ``dimension`` rating with an empty
    ``value`` is skipped and counted in the report.

    ``duplicates`` is the policy for a rater answering one field of an item twice (``error``, ``first``,
    ``last``, ``drop``, ``mean``; see :mod:`voxpop.corpus.repeats`), applied field by field (a long table has no
    record structure); what it removed is counted. Labels that differ only in case are reported;
    ``fold_case`` lower-cases them (and ``classes``, ``class_map``, ``excluded``). Raises
    :class:`InputError` naming file, row and column; :class:`ConfigError` for an unknown policy.
    Free-text "Other" answers (``Other: bored``) are read as the label ``other`` (counted, the distinct texts
    listed in the report; an excluded label unless ``classes`` lists it); ``keep_free_text`` keeps each text as
    a label (:mod:`voxpop.corpus.formats.free_text`).
    """
    check_policy(duplicates)
    path = Path(path)
    file = path.name
    notes: list[str] = []
    table = read_table(path, "ratings", encoding)
    if {"FileName", "EmoDetail"} <= set(table.columns):
        raise InputError(
            f"{file}: holds MSP-Podcast per-rater labels (FileName,EmoDetail: worker, primary, secondary list and "
            "A/V/D packed in one cell); read it with 'voxpop import msp' (read_msp), which unpacks them."
        )
    frame = rename_columns(table, columns, file)
    crowdkit = {old: new for old, new in CROWDKIT_COLUMNS.items() if old in frame.columns and new not in frame.columns}
    if crowdkit:
        frame = frame.rename(columns=crowdkit)
        notes.append(f"Read the crowd-kit columns {', '.join(f'{o} as {n}' for o, n in crowdkit.items())}.")
    require_columns(
        frame, ("item", "label"), file, "Name them with columns={'your_column': 'item', ...} (CLI: --rename OLD=NEW)."
    )
    ignored = [c for c in frame.columns if c not in RATING_COLUMNS]
    if ignored:
        notes.append(f"Ignored columns (not rating columns): {', '.join(ignored)}.")
    ratings = _ratings_frame(frame, file)
    if "slot" not in frame.columns:
        slot = slot or ("intensity" if ratings["value"].notna().any() else "primary")
        ratings["slot"] = slot
        notes.append(f"No slot column: every rating is read as slot {slot!r}.")
    ratings["slot"] = ratings["slot"].fillna("primary")
    rated = ratings["item"]  # before skipping: an item whose only ratings are skipped stays an item
    ratings = _drop_empty_dimensions(ratings, notes)
    ratings, excluded = read_free_text(ratings, classes, excluded, keep_free_text, notes)
    ratings, classes, class_map, excluded = fold_labels(ratings, classes, class_map, excluded, fold_case, notes)
    ratings, repeat_notes = resolve_repeats(ratings, duplicates)
    notes += repeat_notes
    item_table, root = _items_frame(items, columns, rated, encoding, audio_root, allow_outside_paths, notes)
    if classes is None:
        emotion = ratings.loc[ratings["slot"].isin(EMOTION_SLOTS), "label"]
        classes = labels_in_order(emotion.unique(), class_map, excluded)
    n_items = item_table.index.map(nfc).nunique()  # ids equal in Unicode NFC are one item of the corpus
    merged = len(item_table) - n_items
    notes.insert(0, f"Ratings: {len(ratings)}; raters: {ratings['rater'].nunique()}; items: {n_items}.")
    if merged:
        notes.insert(1, f"Item ids that differ only in Unicode form (NFC) were merged: {merged}.")
    return Corpus(
        name or path.stem,
        item_table,
        ratings,
        classes=classes,
        class_map=class_map,
        excluded=excluded,
        scales=scales,
        source=str(path),
        description=describe_import(file, notes),
        audio_root=root,
    )


def _ratings_frame(frame: pd.DataFrame, file: str) -> pd.DataFrame:
    ratings = pd.DataFrame(index=frame.index)
    ratings["item"] = id_column(frame, "item", file)
    ratings["label"] = text_column(frame, "label", file)
    for column in ("rater", "condition", "slot"):
        present = column in frame.columns
        ratings[column] = text_column(frame, column) if present else pd.Series(pd.NA, frame.index, dtype=STRING)
    for column in ("value", "start", "end"):
        ratings[column] = number_column(frame, column, file) if column in frame.columns else np.nan
    ratings["source_file"] = file
    ratings["source_row"] = np.arange(1, len(frame) + 1)
    return ratings


def _drop_empty_dimensions(ratings: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Skip ``dimension`` ratings without a value (a score that says nothing), counting them in ``notes``."""
    empty = (ratings["slot"] == "dimension").to_numpy(dtype=bool) & ratings["value"].isna().to_numpy()
    if empty.any():
        rows = ratings.loc[empty, "source_row"].tolist()
        shown = ", ".join(map(str, rows[:5])) + (", ..." if len(rows) > 5 else "")
        notes.append(f"Skipped dimension ratings with an empty value: {len(rows)} (rows {shown}).")
    return ratings.loc[~empty]


def _items_frame(
    items: str | Path | None,
    columns: Mapping[str, str] | None,
    rated: pd.Series,
    encoding: str,
    audio_root: str | Path | None,
    allow_outside_paths: bool,
    notes: list[str],
) -> tuple[pd.DataFrame, str]:
    """The item table (or the rated ids) and the audio root its ``audio`` paths were resolved against ("")."""
    if items is None:
        if audio_root is not None:
            raise ConfigError("audio_root resolves the audio column of an items table; give items= too.")
        return pd.DataFrame(index=pd.Index(rated.unique(), dtype=STRING, name="item")), ""
    path = Path(items)
    table = read_table(path, "items", encoding)
    table = rename_columns(table, {old: new for old, new in (columns or {}).items() if old in table.columns}, path.name)
    require_columns(
        table, ["item"], path.name, "The items table needs an 'item' column with the ids used in the ratings."
    )
    ids = id_column(table, "item", path.name)
    repeated = ids.duplicated()
    if repeated.any():
        row = int(np.flatnonzero(repeated.to_numpy())[0])
        raise InputError(f"{where(path.name, row + 1, 'item')}: item id {ids.iat[row]!r} appears more than once.")
    frame = table.drop(columns="item").set_index(pd.Index(ids, name="item"))
    if "audio" not in frame.columns:
        return frame, ""
    root = os.path.abspath(path.parent if audio_root is None else audio_root)
    audio = resolve_media_column(
        text_column(table, "audio"), root, path.name, allow_outside_paths=allow_outside_paths, notes=notes
    )
    return frame.assign(audio=audio.to_numpy()), root
