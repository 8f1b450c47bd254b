"""Table helpers shared by the native-format readers.

Each raises :class:`~voxpop.errors.InputError` with a message that names the file, the row (1-based
data row, header excluded) and the column, what was found and what was expected. What a reader skips
or cannot match is summarised by :func:`describe_import` into the corpus description.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from voxpop.corpus import STRING
from voxpop.errors import InputError, where

PARQUET_SUFFIXES = (".parquet", ".pq")
_SHOWN_LABELS = 10


def read_table(path: str | Path, what: str) -> pd.DataFrame:
    """Read a CSV (``.tsv``: tab-separated) or Parquet file; text cells stay text, empty cells become missing.

    Raises :class:`InputError` when the file is missing, empty, unreadable or has no data rows.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} file not found.")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
        else:
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise InputError(
            f"{path.name}: the {what} file is empty; expected a header row and one row per entry."
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise InputError(f"{path.name}: could not be read as a {what} table: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise InputError(f"{path.name}: the {what} file has a header ({', '.join(frame.columns)}) but no data rows.")
    return frame.reset_index(drop=True)


def rename_columns(frame: pd.DataFrame, columns: Mapping[str, str] | None, file: str) -> pd.DataFrame:
    """Rename columns ``{old: new}``; a renamed column that is absent, or a clash, is an error naming the file."""
    if not columns:
        return frame
    missing = [old for old in columns if old not in frame.columns]
    if missing:
        raise InputError(
            f"{file}: cannot rename column(s) {missing}: not in the file; found columns {list(frame.columns)}."
        )
    renamed = frame.rename(columns=dict(columns))
    clash = sorted({c for c in renamed.columns if list(renamed.columns).count(c) > 1})
    if clash:
        raise InputError(f"{file}: renaming {dict(columns)} gives repeated column(s) {clash}.")
    return renamed


def require_columns(frame: pd.DataFrame, required: Iterable[str], file: str, hint: str = "") -> None:
    """Raise an error naming the file and every missing column."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise InputError(
            f"{file}: missing {noun} {', '.join(map(repr, missing))}; "
            f"found columns {list(frame.columns)}. {hint}".strip()
        )


def place(file: str, row: int, column: str | None = None, unit: str = "row") -> str:
    """Where a value sits: ``a.csv, row 3, column 'x'`` for tables, ``a.txt, line 3, field 'x'`` for text and JSON.

    >>> place("a.json", 12, "EmoAct", unit="line")
    "a.json, line 12, field 'EmoAct'"
    """
    if unit == "row":
        return where(file, row, column)
    return ", ".join([file, f"{unit} {row}", *([f"field {column!r}"] if column is not None else [])])


def text_column(
    frame: pd.DataFrame,
    column: str,
    file: str | None = None,
    *,
    rows: Sequence[int] | None = None,
    unit: str = "row",
) -> pd.Series:
    """The column as stripped text (empty -> missing); with ``file``, an empty cell is an error naming its row.

    ``rows`` gives the source row (or line, with ``unit="line"``) of each frame row; default 1, 2, ...

    >>> text_column(pd.DataFrame({"rater": [" r1", 7, None]}), "rater").tolist()
    ['r1', '7', <NA>]
    """
    values = pd.Series(
        [None if pd.isna(v) else str(v).strip() for v in frame[column].to_numpy(dtype=object)],
        index=frame.index,
        dtype=STRING,
    )
    values = values.mask(values.eq(""))
    if file is not None and values.isna().any():
        _raise_at(file, values.isna(), column, rows, unit, lambda row: f"empty; every row needs a {column}")
    return values


def number_column(
    frame: pd.DataFrame,
    column: str,
    file: str,
    expected: str = "a number",
    *,
    rows: Sequence[int] | None = None,
    unit: str = "row",
) -> pd.Series:
    """The column as float64 (empty -> NaN); text that is not a number is an error naming file, row and column.

    >>> number_column(pd.DataFrame({"start": ["0.5", None, " 2"]}), "start", "a.csv").tolist()
    [0.5, nan, 2.0]
    >>> number_column(pd.DataFrame({"start": ["0.5", "1,5"]}), "start", "a.csv")
    Traceback (most recent call last):
    ...
    voxpop.errors.InputError: a.csv, row 2, column 'start': expected a number, found '1,5'.
    """
    text = text_column(frame, column)
    numbers = pd.to_numeric(text.astype(object), errors="coerce").astype("float64")
    bad = numbers.isna() & text.notna()
    if bad.any():
        _raise_at(file, bad, column, rows, unit, lambda row: f"expected {expected}, found {frame[column].iat[row]!r}")
    return numbers


def _raise_at(file: str, mask, column: str, rows: Sequence[int] | None, unit: str, message) -> None:
    positions = np.flatnonzero(np.asarray(mask, dtype=bool))
    first = int(positions[0])
    row = int(rows[first]) if rows is not None else first + 1
    more = f" ({len(positions)} such {unit}s in all)" if len(positions) > 1 else ""
    raise InputError(f"{place(file, row, column, unit)}: {message(first)}.{more}")


def tally(counts: Counter, limit: int = _SHOWN_LABELS) -> str:
    """``Counter`` -> ``"Amused 3, Bored 1"`` (most common first, at most ``limit`` shown).

    >>> tally(Counter({"Amused": 3, "Bored": 1, "Tired": 1}), limit=2)
    'Amused 3, Bored 1, ... (1 more)'
    """
    shown = [f"{label} {count}" for label, count in counts.most_common(limit)]
    rest = len(counts) - len(shown)
    return ", ".join(shown) + (f", ... ({rest} more)" if rest > 0 else "")


def describe_import(source: str, notes: Iterable[str]) -> str:
    """The import report stored as the corpus description: where it came from and what was skipped or mapped."""
    return " ".join([f"Imported from {source}.", *notes])


def labels_in_order(labels: Iterable[str], class_map: Mapping[str, str] | None, excluded: Sequence[str]) -> list[str]:
    """Sorted unique class names of ``labels`` after ``class_map``, without the excluded ones (inferred classes).

    >>> labels_in_order(["sad", "A", "sad", "x"], {"A": "angry"}, ["x"])
    ['angry', 'sad']
    """
    class_map = class_map or {}
    return sorted({class_map.get(label, label) for label in labels} - set(excluded))


# ----------------------------------------------------------------------------- the long reader
