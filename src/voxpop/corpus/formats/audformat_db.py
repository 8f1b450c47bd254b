"""audformat databases (EmoDB, CREMA-D and the other corpora audb delivers) -> Corpus, through ``audformat``.

The database is loaded by :func:`voxpop.corpus.formats.audformat_load.load_database` (safe YAML, no pickle,
references checked). Then every column of every filewise or segmented table is one of four kinds:

==================  ==============================================================================
rating              its rater is of type ``human``: one rating per non-empty cell, by that rater
                    (several rater columns of one scheme give one rating per rater)
gold standard       its rater is of type ``vote`` or ``ground truth``, or its table id contains
                    ``gold_standard``: the corpus's own consensus, item column ``consensus_class``
                    for the emotion scheme (compare with ``voxpop labels --consensus consensus_class``),
                    ``consensus_<scheme>`` for another scheme
confidence          its id or its scheme's id contains ``confidence``: an item column of that id
item metadata       no rater, or a ``machine`` / ``other`` rater: an item column of that id; a scheme
                    mapping labels to fields (``speaker`` -> ``gender``, ``age``) adds a column per field
==================  ==============================================================================

Ratings by scheme: the *emotion scheme* (``emotion_scheme``; default the scheme ``emotion``, else the one
categorical scheme that rating or gold-standard columns use) gives ``primary`` ratings, and its labels,
in the scheme's order, are the corpus's classes. A numeric scheme gives ratings in a slot named after it
(label = slot, ``value`` = the number), with the scale ``[minimum, maximum]`` declared where the scheme
has both. Another categorical scheme gives labels in a slot named after it, with the scheme's label order
declared (and, for numeric labels such as a Likert 1..5, their values).

Items: a filewise table's files (id = the file path as the database names it, e.g. ``wav/03a01Fa.wav``);
a segmented table's segments (id ``<file>:<start>-<end>``, seconds; ``end`` for a segment running to the
end of its file) with item columns ``file``, ``start``, ``end``, and ``offset`` / ``duration`` (the window of
the file that features are computed on). ``audio`` is the file resolved against the database root (a
path leaving it is refused unless ``allow_outside_paths``); a table's split adds ``split``. Ratings carry
``source_file`` (the table file), ``source_row`` and ``source_column``. The import report counts the tables,
columns of each kind, empty rating cells, misc tables, and media files not found (audb's
``only_metadata=True`` delivers tables without media).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.corpus import STRING, Corpus
from voxpop.corpus.formats.audformat_load import LoadedDatabase, load_database
from voxpop.corpus.formats.tables import describe_import, labels_in_order, text_column
from voxpop.corpus.media_paths import resolve_media_column
from voxpop.corpus.slots import LabelOrder

GOLD_RATER_TYPES = ("vote", "ground truth")
GOLD_TABLE = "gold_standard"
CONSENSUS = "consensus_class"
_SHOWN = 5


def read_audformat(
    path: str | Path,
    *,
    emotion_scheme: str | None = None,
    name: str | None = None,
    allow_outside_paths: bool = False,
) -> Corpus:
    """Read an audformat database (its folder or its ``db.yaml``) into a Corpus (conventions: module docstring).

    Args:
        path: the database root, holding ``db.yaml`` and the table files; media paths resolve against it.
        emotion_scheme: the categorical scheme whose labels are the classes (default: ``emotion``, else the
            only categorical scheme that rating or gold-standard columns use).
        name: the corpus name (default: the database's name).
        allow_outside_paths: accept media paths that resolve outside the root (counted in the report).

    Returns:
        The Corpus; its description is the import report.

    Raises:
        InputError: everything :func:`~voxpop.corpus.formats.audformat_load.load_database` refuses; no filewise
            or segmented table; a media path outside the root (without ``allow_outside_paths``).
        ConfigError: ``emotion_scheme`` is not a categorical scheme of the database, or none was given and the
            database has several candidates or none (the message lists them).
    """
    loaded = load_database(path)
    db = loaded.db
    if not db.tables:
        raise InputError(
            f"{loaded.root / loaded.header}: no filewise or segmented table; the database has only "
            f"{len(db.misc_tables)} misc tables, so there is nothing to rate."
        )
    emotion = _emotion_scheme(db, emotion_scheme, loaded.header)
    reader = _Reader(loaded, emotion)
    for table_id, table in db.tables.items():
        reader.add_table(table_id, table)
    return reader.corpus(name, allow_outside_paths)


def _emotion_scheme(db: Any, given: str | None, file: str) -> str:
    textual = [s for s, scheme in db.schemes.items() if not scheme.is_numeric and scheme.dtype != "bool"]
    coded = [s for s, scheme in db.schemes.items() if scheme.labels is not None and s not in textual]
    if given is not None:
        categorical = textual + coded  # labelled int codes (0, 1, 2) are classes too
        if given not in categorical:
            raise ConfigError(
                f"emotion_scheme={given!r}: not a categorical scheme of {file} (categorical schemes: "
                f"{', '.join(categorical) or 'none'})."
            )
        return given
    found = _rated_scheme(db, textual)
    if found is None and not _used(db, textual):  # no rated text scheme: int-coded labels
        found = _rated_scheme(db, coded)
    if found is not None:
        return found
    categorical = textual + coded
    if not categorical:
        raise ConfigError(
            f"{file}: the database has no categorical scheme, only numeric ones ({', '.join(db.schemes) or 'none'}); "
            "a voxpop corpus needs classes, so a database of dimensional ratings alone cannot be imported."
        )
    used = _used(db, categorical)
    raise ConfigError(
        f"{file}: cannot tell which scheme holds the emotion; rated categorical schemes: {', '.join(used) or 'none'} "
        f"(all categorical schemes: {', '.join(categorical)}). Name it with emotion_scheme=... (--emotion-scheme)."
    )


def _used(db: Any, categorical: list[str]) -> list[str]:
    """The schemes of ``categorical`` that a rating or gold-standard column uses, in table order."""
    used = []
    for table_id, table in db.tables.items():
        for column_id, column in table.columns.items():
            if column.scheme_id in categorical and _kind(db, table_id, column_id, column) in ("rating", "gold"):
                used.append(column.scheme_id)
    return list(dict.fromkeys(used))


def _rated_scheme(db: Any, categorical: list[str]) -> str | None:
    """``emotion`` when it is among ``categorical`` (and rated, or nothing is), else the single rated scheme."""
    used = _used(db, categorical)
    if "emotion" in categorical and ("emotion" in used or not used):
        return "emotion"
    return used[0] if len(used) == 1 else None


def _kind(db: Any, table_id: str, column_id: str, column: Any) -> str:
    """``rating``, ``gold``, ``confidence`` or ``item`` (module docstring)."""
    scheme = column.scheme_id or ""
    if "confidence" in column_id.lower() or "confidence" in scheme.lower():
        return "confidence"
    rater = db.raters[column.rater_id].type if column.rater_id is not None else None
    if rater in GOLD_RATER_TYPES or GOLD_TABLE in table_id:
        return "gold"
    return "rating" if rater == "human" else "item"


@dataclasses.dataclass
class _Reader:
    """Collects items, item columns and ratings table by table."""

    loaded: LoadedDatabase
    emotion: str
    items: dict[str, dict] = dataclasses.field(default_factory=dict)  # item -> file, start, end
    columns: dict[str, pd.Series] = dataclasses.field(default_factory=dict)
    ratings: list[pd.DataFrame] = dataclasses.field(default_factory=list)
    counts: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    empty_cells: int = 0

    def count(self, kind: str, what: str) -> None:
        self.counts.setdefault(kind, []).append(what)

    def add_table(self, table_id: str, table: Any) -> None:
        df = table.df
        self.count(table.type, table_id)
        ids = self._item_ids(table.type, df.index)
        if ids.duplicated().any():
            row = int(np.flatnonzero(ids.duplicated())[0])
            raise InputError(
                f"{self.loaded.table_files[table_id]}, row {row + 1}: item {ids[row]!r} appears twice in table "
                f"{table_id!r} (segments whose times differ by less than a microsecond, or a repeated file); each "
                "file or segment must be listed once per table."
            )
        for column_id, column in table.columns.items():
            values = pd.Series(df[column_id].to_numpy(), index=ids)
            kind = _kind(self.loaded.db, table_id, column_id, column)
            where = f"{table_id}.{column_id}"
            self.count(kind, where)
            if kind == "rating":
                self._ratings(table_id, column_id, column, values)
            elif kind == "gold":
                scheme = column.scheme_id or column_id
                if column.scheme_id is not None and self.loaded.db.schemes[scheme].labels is not None:
                    values = text_column(values.to_frame("cell"), "cell")  # int codes: '2', as the classes
                self._item_column(CONSENSUS if scheme == self.emotion else f"consensus_{scheme}", values, table_id)
            else:
                self._item_column(column_id, values, table_id)
                if kind == "item":
                    self._mapped_fields(column, ids, table_id)
        if table.split_id is not None:
            self._item_column("split", pd.Series(table.split_id, index=ids, dtype=STRING), table_id)

    def _item_ids(self, kind: str, index: pd.Index) -> pd.Index:
        files = index.get_level_values("file").astype(str)
        if kind == "filewise":
            for file in files:
                self.items.setdefault(file, {"file": file})
            return pd.Index(files, dtype=STRING)
        starts = _seconds(index.get_level_values("start"))
        ends = _seconds(index.get_level_values("end"))
        ids = [
            f"{f}:{_text(s)}-{_text(e) if np.isfinite(e) else 'end'}"
            for f, s, e in zip(files, starts, ends, strict=True)
        ]
        for item, file, start, end in zip(ids, files, starts, ends, strict=True):
            self.items.setdefault(item, {"file": file, "start": start, "end": end})
        return pd.Index(ids, dtype=STRING)

    def _ratings(self, table_id: str, column_id: str, column: Any, values: pd.Series) -> None:
        scheme = self.loaded.db.schemes[column.scheme_id] if column.scheme_id is not None else None
        given = values.notna().to_numpy()
        self.empty_cells += int((~given).sum())
        rows = np.flatnonzero(given)
        cells = values.iloc[rows]
        numeric = scheme.is_numeric and scheme.labels is None if scheme is not None else _is_number(values)
        slot = "primary" if column.scheme_id == self.emotion else (column.scheme_id or column_id)
        frame = pd.DataFrame(
            {
                "item": cells.index.astype(str),
                "rater": column.rater_id,
                "slot": slot,
                "label": slot if numeric else text_column(cells.to_frame("cell"), "cell").to_numpy(),
                "value": pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float) if numeric else np.nan,
                "source_file": self.loaded.table_files[table_id],
                "source_row": rows + 1,
                "source_column": column_id,
            }
        )
        self.ratings.append(frame)

    def _item_column(self, name: str, values: pd.Series, table_id: str) -> None:
        values = _plain(values)
        if name not in self.columns:
            self.columns[name] = values
            return
        known = self.columns[name]
        common = known.index.intersection(values.index)
        both = common[known.reindex(common).notna().to_numpy() & values.reindex(common).notna().to_numpy()]
        if (known.reindex(both).astype(str) == values.reindex(both).astype(str)).all():
            self.columns[name] = known.combine_first(values)
            return
        renamed = f"{table_id}.{name}"
        self.notes.append(
            f"Item column {name!r} of table {table_id!r} differs from an earlier one; kept as {renamed!r}."
        )
        self.columns[renamed] = values

    def _mapped_fields(self, column: Any, ids: pd.Index, table_id: str) -> None:
        """The fields a scheme maps its labels to (``speaker`` -> ``gender``, ``age``) as item columns."""
        if column.scheme_id is None:
            return
        scheme = self.loaded.db.schemes[column.scheme_id]
        if isinstance(scheme.labels, str):
            fields = list(self.loaded.db.misc_tables[scheme.labels].columns)
        elif isinstance(scheme.labels, dict):
            fields = list(dict.fromkeys(k for v in scheme.labels.values() if isinstance(v, dict) for k in v))
        else:
            return
        for field in fields:
            mapped = column.get(map=field)
            self._item_column(field, pd.Series(mapped.to_numpy(), index=ids), table_id)

    def corpus(self, name: str | None, allow_outside_paths: bool) -> Corpus:
        db, loaded = self.loaded.db, self.loaded
        items = pd.DataFrame.from_dict(self.items, orient="index")
        items.index = pd.Index(items.index, dtype=STRING, name="item")
        segmented = "start" in items.columns
        if segmented:
            items["offset"] = items["start"]
            items["duration"] = items["end"] - items["start"]
        items["file"] = items["file"].astype(STRING)
        items["audio"] = resolve_media_column(
            items["file"], loaded.root, loaded.header, "file", allow_outside_paths=allow_outside_paths, notes=self.notes
        ).to_numpy()
        for column, values in self.columns.items():
            items[column] = values.reindex(items.index).to_numpy()
        ratings = (
            pd.concat(self.ratings, ignore_index=True) if self.ratings else pd.DataFrame(columns=["item", "label"])
        )
        scheme = db.schemes[self.emotion]
        found = [*ratings.loc[ratings["slot"].eq("primary"), "label"], *items.get(CONSENSUS, pd.Series()).dropna()]
        classes = (
            [str(x) for x in scheme.labels_as_list] if scheme.labels is not None else labels_in_order(found, {}, ())
        )
        scales, slots = self._declarations(ratings)
        self.notes[:0] = self._report(items, ratings)
        return Corpus(
            name or db.name or loaded.root.name,
            items,
            ratings,
            classes=classes,
            scales=scales,
            slots=slots,
            source=str(loaded.root),
            license=str(db.license or ""),
            description=describe_import(f"{loaded.root / loaded.header}", self.notes),
            audio_root=os.path.abspath(loaded.root),
        )

    def _declarations(self, ratings: pd.DataFrame) -> tuple[dict, dict]:
        """Scales of numeric slots (scheme minimum / maximum) and label orders of other categorical slots."""
        scales, slots = {}, {}
        for slot in ratings["slot"].unique() if len(ratings) else []:
            scheme = self.loaded.db.schemes.get(slot)
            if slot == "primary" or scheme is None:
                continue
            if scheme.labels is None:
                if scheme.minimum is not None and scheme.maximum is not None:
                    scales[slot] = (float(scheme.minimum), float(scheme.maximum))
                else:
                    self.notes.append(f"Numeric scheme {slot!r} has no minimum and maximum: no scale is declared.")
                continue
            labels = scheme.labels_as_list
            numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in labels)
            slots[slot] = LabelOrder(tuple(map(str, labels)), {str(x): float(x) for x in labels} if numbers else None)
        return scales, slots

    def _report(self, items: pd.DataFrame, ratings: pd.DataFrame) -> list[str]:
        c = self.counts
        out = [
            f"Tables: {len(c.get('filewise', []))} filewise, {len(c.get('segmented', []))} segmented; "
            f"misc tables (scheme labels, not items): {len(self.loaded.db.misc_tables)}.",
            f"Items: {len(items)}; ratings: {len(ratings)}; "
            f"raters: {ratings['rater'].nunique() if len(ratings) else 0}.",
        ]
        for kind, what in (
            ("rating", "Rating columns (human raters)"),
            ("gold", "Gold-standard columns (item columns consensus_*)"),
            ("confidence", "Confidence columns (item columns)"),
            ("item", "Other columns kept as item columns"),
        ):
            if c.get(kind):
                out.append(f"{what}: {len(c[kind])} ({_listed(c[kind])}).")
        if self.empty_cells:
            out.append(f"Empty rating cells (no rating): {self.empty_cells}.")
        missing = [a for a in dict.fromkeys(items["audio"].dropna()) if not os.path.exists(a)]
        if missing:
            out.append(f"Media files not found under the root: {len(missing)} (first: {_listed(missing)}).")
        if self.loaded.db.attachments:
            out.append(f"Attachments not imported: {len(self.loaded.db.attachments)}.")
        return out


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names[:_SHOWN]) + (f", ... ({len(names) - _SHOWN} more)" if len(names) > _SHOWN else "")


def _seconds(values: pd.Index) -> np.ndarray:
    """Timedeltas as seconds (NaT -> NaN)."""
    return np.asarray(pd.to_timedelta(values).total_seconds(), dtype=float)


def _text(seconds: float) -> str:
    """Seconds as an id part, to the microsecond without trailing zeros: ``1.5``, ``0``, ``2.000125``."""
    return f"{seconds:.6f}".rstrip("0").rstrip(".")


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)


def _plain(values: pd.Series) -> pd.Series:
    """An item column in a plain type: text for categories and text, seconds for timedeltas."""
    if pd.api.types.is_timedelta64_dtype(values.dtype):
        return pd.Series(_seconds(pd.Index(values)), index=values.index)
    if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
        return pd.Series([None if pd.isna(v) else str(v) for v in values], index=values.index, dtype=STRING)
    return values
