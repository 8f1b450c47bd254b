"""Table helpers shared by the native-format readers.

Each raises :class:`~voxpop.core.errors.InputError` with a message that names the file, the row (1-based
data row, header excluded) and the column, what was found and what was expected. What a reader skips
or cannot match is summarised by :func:`describe_import` into the corpus description.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from voxpop.core.errors import InputError, where
from voxpop.core.paths import input_file
from voxpop.corpus.classmap import DROP
from voxpop.corpus.codes import category_mask, recode_categories
from voxpop.corpus.corpus import STRING
from voxpop.corpus.formats.arrow import read_parquet_names
from voxpop.corpus.formats.csv_parse import first_record, parse_csv, parse_plain_csv_file
from voxpop.corpus.formats.encodings import AUTO, decode_text, text_codec
from voxpop.corpus.formats.text_checks import mixed_scripts, note_suspicious_text, take_notes

PARQUET_SUFFIXES = (".parquet", ".pq")
MAX_ID_LENGTH = 512  # characters of an item id; longer cells are text or data put in the wrong column
DEFAULT_ENCODING = AUTO
_SHOWN_LABELS = 10
_ASCII_SUPERSETS = ("utf-8-sig", "ascii", "iso8859-1", "cp1252")  # codecs that read ASCII bytes as those characters
_PLAIN_KINDS = ("string", "empty", "integer", "floating", "mixed-integer-float", "decimal", "boolean")


def read_text(path: str | Path, what: str, encoding: str = DEFAULT_ENCODING) -> str:
    """The text of a file, decoded with ``encoding`` or, with ``"auto"``, the detected encoding.

    See :func:`voxpop.corpus.formats.encodings.decode_text` (byte-order marks, UTF-8, then charset-normalizer;
    an ambiguous detection is an error listing the candidates). Raises :class:`InputError` when the file is
    missing, a folder or a device (:func:`voxpop.core.paths.input_file`) or unreadable, or its bytes are not text
    in ``encoding`` (naming the file, the line of the first bad byte and how to fix it); an unknown codec is
    a ConfigError. Suspicious text (mojibake, mixed scripts) is noted for the import report. A file whose
    lines all end in a bare CR (classic Mac OS, Excel's "CSV (Macintosh)") is read with LF line ends.
    """
    path = Path(path)
    if encoding != AUTO:
        text_codec(encoding)  # an unknown codec is a ConfigError before the file is looked at
    input_file(path, what)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: the {what} file could not be read ({exc.strerror}).") from None
    text = decode_text(data, path.name, encoding)
    if "\r" in text and "\n" not in text:  # classic Mac line ends (Excel's "CSV (Macintosh)"): every line ends in CR
        text = text.replace("\r", "\n")
    note_suspicious_text(text, path.name)
    return text


def read_table(path: str | Path, what: str, encoding: str = DEFAULT_ENCODING, coded: bool = False) -> pd.DataFrame:
    """Read a CSV (``.tsv``: tab-separated) or Parquet file; text cells stay text, empty cells become missing.

    CSV text is decoded with ``encoding`` (see :func:`read_text`). Column names are stripped of blanks.
    ``coded``: CSV columns are read dictionary-encoded, as pandas categoricals
    (:func:`~voxpop.corpus.formats.csv_parse.parse_csv`); :func:`text_column`, :func:`id_column` and
    :func:`number_column` check them per distinct text.
    Raises :class:`InputError` when the file is missing, empty, unreadable, not valid text, has a
    repeated column name or has no data rows.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            frame = read_parquet_names(input_file(path, what))
            _refuse_repeated_columns(frame.columns, path.name)
        else:
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            frame = _plain_csv(path, what, sep, encoding, coded)
            if frame is None:
                text = read_text(path, what, encoding)
                _refuse_repeated_columns(first_record(text, sep) or [], path.name)
                frame = parse_csv(text, sep, path.name, coded)
    except pd.errors.EmptyDataError:
        raise InputError(
            f"{path.name}: the {what} file is empty; expected a header row and one row per entry."
        ) from None
    except (pd.errors.ParserError, csv.Error, ValueError, OSError) as exc:
        raise InputError(f"{path.name}: could not be read as a {what} table: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    _refuse_blank_names(frame.columns, path.name)
    if frame.empty:
        raise InputError(f"{path.name}: the {what} file has a header ({', '.join(frame.columns)}) but no data rows.")
    frame = frame.reset_index(drop=True)
    _refuse_repeated_header(frame, path.name)
    return frame


def _plain_csv(path: Path, what: str, sep: str, encoding: str, coded: bool) -> pd.DataFrame | None:
    """The table of a plain ASCII CSV file read without decoding its text (None for other files and for an
    encoding other than auto-detection or a UTF-8 / ASCII one): see
    :func:`~voxpop.corpus.formats.csv_parse.parse_plain_csv_file`."""
    if encoding != AUTO and text_codec(encoding) not in _ASCII_SUPERSETS:
        return None
    input_file(path, what)
    try:
        return parse_plain_csv_file(path, sep, coded, lambda header: _refuse_repeated_columns(header, path.name))
    except OSError:  # unreadable: read_text says so, naming the file
        return None


def _refuse_repeated_header(frame: pd.DataFrame, file: str) -> None:
    """A data row that repeats the header (two files joined with ``cat``) is an error naming its row.

    A cell repeats its column's name; under a header cell left empty (pandas names it ``Unnamed: i``) it is empty.
    """
    repeats = np.ones(len(frame), dtype=bool)
    for column in frame.columns:
        cells = frame[column]
        if column.startswith("Unnamed: "):
            repeats &= cells.isna().to_numpy(dtype=bool)
        elif isinstance(cells.dtype, pd.CategoricalDtype):  # per distinct text, not per row
            repeats &= category_mask(cells, lambda names, name=column: names.str.strip() == name)
        else:
            repeats &= cells.astype("string").str.strip().eq(column).fillna(False).to_numpy(dtype=bool)
        if not repeats.any():
            return
    if repeats.any():
        rows = [int(r) + 1 for r in np.flatnonzero(repeats)]
        raise InputError(
            f"{file}, row {rows[0]}: repeats the header row ({len(rows)} such rows: {rows[:5]}); the file looks like "
            "several tables joined together. Remove the repeated header lines (or import each table on its own)."
        )


def _refuse_blank_names(names: Sequence[str], file: str) -> None:
    """Two header cells of blanks only (spaces, tabs: ``" "`` and a tab), the same name ``""`` once stripped, are
    an error naming their columns (an empty cell is an unnamed column, ``Unnamed: i``; one blank cell is a column
    named ``""``; the same blank twice is ``" "`` and ``" .1"`` for pandas' reader and the Arrow path alike).

    >>> _refuse_blank_names(["item", "", "label", ""], "r.csv")
    Traceback (most recent call last):
    ...
    voxpop.core.errors.InputError: r.csv, header: columns 2, 4 have names of blanks only (spaces, tabs), the same ...
    """
    blank = [i + 1 for i, name in enumerate(names) if name == ""]
    if len(blank) > 1:
        raise InputError(
            f"{file}, header: columns {', '.join(map(str, blank))} have names of blanks only (spaces, tabs), the same "
            "name once blanks are removed; expected each column name once: name those columns, or leave their header "
            "cells empty (an unnamed column)."
        )


def _refuse_repeated_columns(names: Iterable[object], file: str) -> None:
    """A column name given twice (blanks around names ignored; unnamed columns aside) is an error naming it.

    >>> _refuse_repeated_columns(["item", "item ", "label"], "r.csv")
    Traceback (most recent call last):
    ...
    voxpop.core.errors.InputError: r.csv, header: column 'item' appears 2 times (columns 1, 2); ...
    """
    names = [str(n).strip() for n in names]
    for name in dict.fromkeys(names):
        positions = [i + 1 for i, n in enumerate(names) if n == name]
        if name and len(positions) > 1:
            raise InputError(
                f"{file}, header: column {name!r} appears {len(positions)} times (columns "
                f"{', '.join(map(str, positions))}); expected each column name once: rename or remove the repeats."
            )


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
    A cell that is not text or a number (bytes, a struct, a list: Parquet columns) is an InputError naming
    what it holds, whether or not ``file`` is given.

    A float column whose values are all whole numbers is an integer column that missing cells made float
    (pandas and Arrow do that to ``1, 2, <empty>``): its cells read ``1``, ``2``, not ``1.0``, ``2.0``.

    >>> text_column(pd.DataFrame({"rater": [" r1", 7, None]}), "rater").tolist()
    ['r1', '7', <NA>]
    >>> text_column(pd.DataFrame({"speaker": [1.0, 2.0, None]}), "speaker").tolist()
    ['1', '2', <NA>]
    """
    values = frame[column]
    if isinstance(values.dtype, pd.CategoricalDtype):  # a coded column (read_table(coded=True)): per category
        values = _stripped_codes(values)
    elif pd.api.types.is_float_dtype(values.dtype):
        finite = values.dropna()
        if np.isfinite(finite).all() and finite.eq(finite.round()).all():
            values = values.astype("Int64")
    elif values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) not in _PLAIN_KINDS:
        kinds = [_kind(v) for v in values.to_numpy(dtype=object)]  # only for a column of mixed Python objects
        if any(kinds):
            bad = np.array([k is not None for k in kinds])
            first = kinds[int(np.flatnonzero(bad)[0])]
            _raise_at(
                file or "the table", bad, column, rows, unit,
                lambda r: f"holds {first}, expected text or a number; store ids and labels as text (a string column)",
            )  # fmt: skip
    if not isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(STRING).str.strip()  # vectorised (Arrow kernels), no Python object per cell
        values = values.mask(values.eq(""))
    if file is not None and values.isna().any():
        _raise_at(file, values.isna(), column, rows, unit, lambda row: f"empty; every row needs a {column}")
    return values


def id_column(
    frame: pd.DataFrame,
    column: str,
    file: str,
    *,
    rows: Sequence[int] | None = None,
    unit: str = "row",
) -> pd.Series:
    """The item ids of a column as text (:func:`text_column` with ``file``), refusing what cannot be an id.

    Raises InputError naming the file, row and column for an empty cell, a cell holding bytes, a struct or
    a list, and a value longer than 512 characters (a text or data column given as the id column).

    >>> id_column(pd.DataFrame({"item": ["a", "x" * 600]}), "item", "r.csv")
    Traceback (most recent call last):
    ...
    voxpop.core.errors.InputError: r.csv, row 2, column 'item': holds a value of 600 characters ('xxxxxxxxxxxxxxx...
    """
    ids = text_column(frame, column, file, rows=rows, unit=unit)
    long = category_mask(ids, lambda names: names.str.len() > MAX_ID_LENGTH)
    if long.any():
        _raise_at(
            file, long, column, rows, unit,
            lambda r: f"holds a value of {len(ids.iat[r])} characters ({ids.iat[r][:16]!r}...), over the "
            f"{MAX_ID_LENGTH} an item id may have; is {column!r} the id column? Name the right one",
        )  # fmt: skip
    return ids


def _stripped_codes(values: pd.Series) -> pd.Series:
    """A category column with its categories stripped of blanks (merged where equal), an empty one missing."""
    categories = pd.Index(values.cat.categories, dtype=STRING)
    stripped = categories.str.strip()
    stripped = stripped.where(stripped != "")  # a blank cell is an empty one: missing
    if stripped.equals(categories) and values.cat.categories.dtype == STRING:
        return values
    return recode_categories(values, stripped)


def _kind(cell: object) -> str | None:
    """What a cell holds when it is not text, a number or missing (``"bytes"``, ``"a struct"``, ``"a list"``)."""
    if isinstance(cell, bytes | bytearray | memoryview):
        return "bytes"
    if isinstance(cell, dict):
        return "a struct"
    if isinstance(cell, list | tuple | set | np.ndarray):
        return "a list"
    return None


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
    voxpop.core.errors.InputError: a.csv, row 2, column 'start': expected a number, found '1,5'.
    """
    text = text_column(frame, column)
    numbers = pd.Series(finite_numbers(text), index=frame.index)
    bad = numbers.isna() & text.notna()
    if bad.any():
        _raise_at(file, bad, column, rows, unit, lambda r: f"expected {expected}, found {shown(frame[column].iat[r])}")
    return numbers


def finite_numbers(text: pd.Series) -> np.ndarray:
    """Text cells as float64; empty cells, text that is not a number and non-finite numbers become NaN.

    ``inf``, ``-inf``, ``nan`` and numbers beyond the float range (``1e400``) are not numbers here:
    callers report them as errors like any other bad text.

    >>> finite_numbers(pd.Series(["1.5", None, "inf", "1e400", "nan", "x", "-2"])).tolist()
    [1.5, nan, nan, nan, nan, nan, -2.0]
    """
    if isinstance(text.dtype, pd.CategoricalDtype):  # each distinct text parsed once
        table = np.append(finite_numbers(pd.Series(text.cat.categories)), np.nan)
        return table[text.array.codes]
    numbers = pd.to_numeric(pd.Series(text, dtype=object), errors="coerce").to_numpy(dtype="float64", copy=True)
    numbers[~np.isfinite(numbers)] = np.nan
    return numbers


def shown(raw: object) -> str:
    """A refused cell as shown in a message: its text, noting when it is a number that is not finite or when it
    mixes look-alike letters of several scripts (:func:`voxpop.corpus.formats.text_checks.mixed_scripts`).

    >>> shown("1e400"), shown("x")
    ("'1e400' (not a finite number)", "'x'")
    """
    try:
        non_finite = not math.isfinite(float(raw))
    except OverflowError:
        non_finite = True
    except (TypeError, ValueError):
        non_finite = False
    text = repr(raw) if len(repr(raw)) <= 40 else f"{repr(raw)[:37]}..."
    scripts = mixed_scripts(raw) if isinstance(raw, str) else ""
    if scripts:  # 'Mоderate' with a Cyrillic 'о' prints like the expected 'Moderate'
        text += f" (mixes look-alike letters of different scripts: {scripts}; retype it in one script)"
    return text + (" (not a finite number)" if non_finite else "")


def finite_number(raw: object) -> float | None:
    """One cell or JSON value as a finite float, or None (text that is not a number, inf, nan, 1e400, booleans).

    >>> [finite_number(x) for x in (" 2.5", 3, "inf", float("nan"), 10**400, True, "two")]
    [2.5, 3.0, None, None, None, None, None]
    """
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


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
    """The import report stored as the corpus description: where it came from, what was skipped or mapped, and
    what the files' text looked like (:func:`voxpop.corpus.formats.text_checks.take_notes`: cut-off, mis-decoded or
    look-alike text)."""
    return " ".join([f"Imported from {source}.", *notes, *take_notes()])


def labels_in_order(labels: Iterable[str], class_map: Mapping[str, str] | None, excluded: Sequence[str]) -> list[str]:
    """Sorted unique class names of ``labels`` after ``class_map``, without the excluded ones (inferred classes).
    A label mapped to ``drop`` is no class (:class:`~voxpop.corpus.corpus.Corpus` makes it an excluded label).

    >>> labels_in_order(["sad", "A", "sad", "x", "calm"], {"A": "angry", "calm": "drop"}, ["x"])
    ['angry', 'sad']
    """
    class_map = class_map or {}
    return sorted({class_map.get(label, label) for label in labels} - set(excluded) - {DROP})


# ----------------------------------------------------------------------------- the long reader
