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

from voxpop.core.errors import ConfigError, InputError, option, where
from voxpop.corpus.codes import as_codes, count_distinct, with_default
from voxpop.corpus.corpus import EMOTION_SLOTS, RATING_COLUMNS, STRING, Corpus, nfc_values
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
from voxpop.corpus.formats.text_checks import join_id_columns
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
    item_columns: Sequence[str] = (),
    id_prefix_column: str | None = None,
) -> Corpus:
    """Read a long rating table (one row per judgement) into a validated :class:`Corpus`.

    ``columns`` renames file columns to Corpus names (in the ratings, and where present in the ``items`` table).
    ``classes`` defaults to the sorted unique labels of emotion-slot ratings after ``class_map``, minus
    ``excluded``. Without a ``slot`` column every rating gets ``slot`` (default: ``intensity`` when the table
    has values, else ``primary``). ``items`` is an optional CSV/Parquet item table with an ``item`` column
    (ratings of items missing from it are errors); without it the items are the rated ids in order of first
    appearance; its ``audio`` column, if any, holds paths resolved against ``audio_root`` (default: the items
    table's folder, never the working directory; see :mod:`voxpop.corpus.media_paths`), and a path resolving
    outside that root is an InputError unless ``allow_outside_paths``. ``item_columns`` builds each item id from
    several columns, and ``id_prefix_column`` puts one more column's value in front (``split``: ``train_0_3``
    for MELD's ``Dialogue_ID`` 0, ``Utterance_ID`` 3 in train, whose ids restart in every split), joined with
    ``_`` (:func:`build_item_ids`); the columns used stay item columns. Columns that are not rating columns are
    ignored and listed in the report (``corpus.description``). Every rating keeps its ``source_file`` and
    ``source_row``. CSV files are decoded with ``encoding`` (default: detected). A ``value``, ``start`` or
    ``end`` cell holding ``inf``, ``nan`` or ``1e400`` raises InputError naming its row; empty cells stay
    missing, except that a ``dimension`` rating with an empty ``value`` is skipped and counted in the report.

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
    table = read_table(path, "ratings", encoding, coded=True)  # categoricals: checked per distinct text
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
    id_parts = id_part_columns(item_columns, id_prefix_column)
    if id_parts:
        frame = frame.assign(item=build_item_ids(frame, id_parts, file, notes).to_numpy())
    require_columns(
        frame, ("item", "label"), file, "Name them with columns={'your_column': 'item', ...} (CLI: --rename OLD=NEW)."
    )
    ignored = [c for c in frame.columns if c not in RATING_COLUMNS and c not in id_parts]
    if ignored:
        notes.append(f"Ignored columns (not rating columns): {', '.join(ignored)}.")
    ratings = _ratings_frame(frame, file)
    if "slot" not in frame.columns:
        slot = slot or ("intensity" if ratings["value"].notna().any() else "primary")
        ratings["slot"] = _constant_codes(len(ratings), slot)
        notes.append(f"No slot column: every rating is read as slot {slot!r}.")
    ratings["slot"] = with_default(ratings["slot"], "primary")
    rated = ratings["item"]  # before skipping: an item whose only ratings are skipped stays an item
    ratings = _drop_empty_dimensions(ratings, notes)
    ratings, excluded = read_free_text(ratings, classes, excluded, keep_free_text, notes)
    ratings, classes, class_map, excluded = fold_labels(ratings, classes, class_map, excluded, fold_case, notes)
    ratings, repeat_notes = resolve_repeats(ratings, duplicates)
    notes += repeat_notes
    item_table, root = _items_frame(items, columns, rated, encoding, audio_root, allow_outside_paths, notes, id_parts)
    item_table = _with_id_parts(item_table, frame, id_parts)
    if classes is None:
        emotion = ratings.loc[ratings["slot"].isin(EMOTION_SLOTS), "label"]
        classes = labels_in_order(emotion.unique(), class_map, excluded)
    n_items = nfc_values(pd.Series(item_table.index)).nunique()  # ids equal in NFC are one item of the corpus
    merged = len(item_table) - n_items
    notes.insert(0, f"Ratings: {len(ratings)}; raters: {count_distinct(ratings['rater'])}; items: {n_items}.")
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


def id_part_columns(item_columns: Sequence[str], id_prefix_column: str | None) -> list[str]:
    """The columns a composite item id is built from, in order: the prefix column, then ``item_columns``
    (``item`` when only a prefix is given); none when neither is given.

    >>> id_part_columns(["Dialogue_ID", "Utterance_ID"], "split")
    ['split', 'Dialogue_ID', 'Utterance_ID']
    >>> id_part_columns([], "split"), id_part_columns([], None)
    (['split', 'item'], [])
    """
    prefix = [id_prefix_column] if id_prefix_column else []
    parts = [*prefix, *(item_columns or (["item"] if prefix else []))]
    repeated = sorted({c for c in parts if parts.count(c) > 1})
    if repeated:
        raise ConfigError(f"item id columns {parts}: {repeated} given twice; name each column once.")
    return parts


def build_item_ids(frame: pd.DataFrame, parts: Sequence[str], file: str, notes: list[str]) -> pd.Series:
    """Item ids built from several columns of a table, joined with ``_`` (the first column first).

    Args:
        frame: the table (one row per rating), with every column of ``parts``.
        parts: the columns, e.g. ``["split", "Dialogue_ID", "Utterance_ID"]``.
        file: the table's file name, for messages.
        notes: the import report; receives how the ids were built and how many there are.

    Returns:
        The ids, one per row (index of ``frame``): ``train_0_3`` for ``train``, ``0``, ``3``.

    Raises:
        InputError: a part column is missing (naming the columns found) or has an empty cell (naming file,
            row and column); two different combinations give one id (``a_1`` + ``2`` and ``a`` + ``1_2``),
            naming both rows (:func:`~voxpop.corpus.formats.text_checks.join_id_columns`); in a table without a
            ``rater`` column (one row per item), two rows give one id (MELD's train and dev ``0_0`` without the
            split prefix), naming both rows. With a ``rater`` column, repeated ids are the raters' ratings of one
            item (a rater rating it twice is the ``duplicates`` policy's case).
        ConfigError: the table also has an ``item`` column that is not one of ``parts`` (which is the id?).

    Example:
        >>> table = pd.DataFrame({"split": ["train", "dev"], "Dialogue_ID": ["0", "0"], "Utterance_ID": ["0", "0"]})
        >>> build_item_ids(table, ["split", "Dialogue_ID", "Utterance_ID"], "meld.csv", []).tolist()
        ['train_0_0', 'dev_0_0']
    """
    if "item" in frame.columns and "item" not in parts:
        raise ConfigError(
            f"{file}: has an 'item' column and item ids built from {', '.join(parts)}; give one of the two "
            f"(rename the 'item' column, or leave out {option('item_columns')} / {option('id_prefix_column')})."
        )
    require_columns(frame, parts, file, "Name the columns that together identify an item.")
    cells = [id_column(frame, c, file) for c in parts]
    ids = join_id_columns([c.astype(STRING) for c in cells] if len(cells) > 1 else cells, parts, file)
    if "rater" not in frame.columns:  # one row per item (a label table): a repeated id is two items made one
        repeated = ids.duplicated(keep=False).to_numpy()
        if repeated.any():
            first = ids.iat[int(np.flatnonzero(repeated)[0])]
            rows = [int(r) + 1 for r in np.flatnonzero(ids.eq(first).to_numpy())[:2]]
            raise InputError(
                f"{file}, rows {rows[0]} and {rows[1]}: both give the item id {first!r} (built from "
                f"{', '.join(parts)}), and the table has no rater column, so each row is one item; two items "
                f"would become one with two votes. Add the column that tells them apart ({option('id_prefix_column')}"
                f" split, or another of {option('item_columns')})."
            )
    notes.append(f"Item ids built from the columns {', '.join(parts)} joined with '_': {ids.nunique()} items.")
    return ids


def _with_id_parts(item_table: pd.DataFrame, frame: pd.DataFrame, parts: Sequence[str]) -> pd.DataFrame:
    """The item table with the columns an id was built from (one value per item by construction), where absent."""
    added = [c for c in parts if c != "item" and c not in item_table.columns]
    if not added:
        return item_table
    values = frame.assign(item=frame["item"].astype(str)).drop_duplicates("item").set_index("item")[added]
    return item_table.join(values.astype(STRING), how="left")


def _ratings_frame(frame: pd.DataFrame, file: str) -> pd.DataFrame:
    ratings = pd.DataFrame(index=frame.index)  # text columns coded once here (voxpop.corpus.codes)
    ratings["item"] = as_codes(id_column(frame, "item", file))
    ratings["label"] = as_codes(text_column(frame, "label", file))
    for column in ("rater", "condition", "slot"):
        present = column in frame.columns
        ratings[column] = as_codes(text_column(frame, column)) if present else _constant_codes(len(frame), None)
    missing = pd.Series(np.full(len(frame), np.nan), index=frame.index, copy=False)  # one array for absent columns
    for column in ("value", "start", "end"):  # (pandas copies on write: a change to one never reaches another)
        ratings[column] = number_column(frame, column, file) if column in frame.columns else missing
    ratings["source_file"] = _constant_codes(len(frame), file)
    ratings["source_row"] = np.arange(1, len(frame) + 1)
    return ratings


def _constant_codes(n: int, value: str | None) -> pd.Categorical:
    """A coded column of ``n`` ratings that all hold ``value`` (None: missing, a column the table does not have),
    made from its one category: no text per rating."""
    categories = pd.Index([] if value is None else [value], dtype=STRING)
    return pd.Categorical.from_codes(np.full(n, -1 if value is None else 0, np.int8), categories)


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
    id_parts: Sequence[str] = (),
) -> tuple[pd.DataFrame, str]:
    """The item table (or the rated ids) and the audio root its ``audio`` paths were resolved against ("");
    an items table without an ``item`` column gets the ids built from ``id_parts`` as the ratings do."""
    if items is None:
        if audio_root is not None:
            raise ConfigError("audio_root resolves the audio column of an items table; give items= too.")
        return pd.DataFrame(index=pd.Index(rated.unique(), dtype=STRING, name="item")), ""
    path = Path(items)
    table = read_table(path, "items", encoding)
    table = rename_columns(table, {old: new for old, new in (columns or {}).items() if old in table.columns}, path.name)
    if id_parts and ("item" in id_parts or "item" not in table.columns):
        table = table.assign(item=build_item_ids(table, id_parts, path.name, []).to_numpy())
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
