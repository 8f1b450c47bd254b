"""CSV text parsed by pyarrow's multi-threaded reader into a table of text cells, with pandas' meaning kept.

Every importer reads its CSV files through :func:`voxpop.corpus.formats.tables.read_table`, which decodes the
bytes (:mod:`voxpop.corpus.formats.encodings`) and hands the text to :func:`parse_csv`. The cells are read
as text (no type guessing), an empty cell is missing, blank lines are skipped, quoted fields may hold the
separator, quotes (doubled) and line breaks, and header cells are named as pandas names them
(:func:`column_names`: ``Unnamed: i`` for an empty one, which later checks rely on; ``.1`` ... added to a
repeat). Files pyarrow refuses or reads otherwise than pandas' reader would (a row with another number of
fields than the header, an unclosed quote, a file without a final line break) go through the row-by-row check of
:func:`voxpop.corpus.formats.text_checks.check_csv_rows` and pandas, so that every message names the
line as before; the rest, nearly every file, never meets a Python loop per row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from voxpop.corpus.codes import known_unique_dtype
from voxpop.corpus.corpus import STRING
from voxpop.corpus.formats.text_checks import check_csv_rows

_CHUNK = 1 << 20  # bytes of a file checked at a time


def parse_csv(text: str, sep: str, file: str, coded: bool = False) -> pd.DataFrame:
    """The rows of CSV ``text`` as a DataFrame of text cells (missing where empty), header names as written.

    Args:
        text: the decoded file (line ends ``\\n`` or ``\\r\\n``).
        sep: the field separator (``,`` or a tab).
        file: the file name, for messages.
        coded: every column as a pandas categorical (one integer code per row, each distinct text once, in
            order of first appearance), dictionary-encoded by pyarrow with one dictionary per column: no
            Python object per cell is made. For tables of millions of rows naming a few thousand items,
            raters and labels (the long reader). The row-by-row path still gives text.

    Returns:
        One column per header cell (named as pandas names them: :func:`column_names`), one row per
        non-blank record; cells are pandas text (``str`` dtype, as ``pandas.read_csv(dtype=str)`` gives; with
        ``coded``, categoricals of that text), empty cells missing.

    Raises:
        InputError: from :func:`~voxpop.corpus.formats.text_checks.check_csv_rows` for a record with another
            number of fields than the header or a quoted field left open at the end (naming the file and line).
        pandas.errors.EmptyDataError: the text holds no header (``read_table`` reports the file as empty).

    Example:
        >>> parse_csv('item,,label\\na,x,"sad, very"\\n\\nb,,\\n', ",", "r.csv")
          item Unnamed: 1      label
        0    a          x  sad, very
        1    b        NaN        NaN
    """
    header = first_record(text, sep)
    complete = text.endswith(("\n", "\r"))
    if not header or not complete or text.startswith(("\n", "\r")):
        return _checked_pandas(text, sep, file)
    table = _arrow_table(pa.BufferReader(text.encode("utf-8")), header, sep, '"' in text)
    if table is None:
        return _checked_pandas(text, sep, file)
    return _categoricals(table) if coded else table.to_pandas()


def parse_plain_csv_file(
    path: Path, sep: str, coded: bool, check_header: Callable[[list[str]], None]
) -> pd.DataFrame | None:
    """The rows of a plain ASCII CSV file read by pyarrow straight from the file; None for any other file.

    A file of ASCII text (no byte-order mark, no NUL byte) with ``\n`` line ends (``\r\n`` too), not starting
    with a line break and ending with one, is what :func:`parse_csv` would read from its decoded text: it is
    checked in 1 MiB chunks and read by pyarrow block by block, so no copy of the whole file (and no Python text
    of it) is made: at ten million ratings that copy and its decoding took a third of the kernel time of an
    import. (Not memory-mapped: a file cut short by another program while mapped would end the process.)
    Anything else (a path whose name is not UTF-8 text too), and a file pyarrow reads otherwise than pandas would,
    gives None: the caller decodes the text (:func:`voxpop.corpus.formats.tables.read_text`) and calls
    :func:`parse_csv`, whose messages name the line.

    Args:
        path: the CSV file (checked to be a readable file by the caller).
        sep: the field separator.
        coded: as in :func:`parse_csv`.
        check_header: called with the header's cells before the rows are read (it raises on a bad header).

    Returns:
        As :func:`parse_csv`, or None.
    """
    if not _utf8_name(path):  # pyarrow opens a file by its UTF-8 name: Python reads the others (read_text)
        return None
    head, quoted = _plain_ascii(path)
    header = first_record(head, sep) if head is not None else None
    if not header:
        return None
    check_header(header)
    with pa.OSFile(str(path)) as source:
        table = _arrow_table(source, header, sep, quoted)
    if table is None:
        return None
    return _categoricals(table) if coded else table.to_pandas()


def _utf8_name(path: Path) -> bool:
    """True when the path can be written in UTF-8 (on Linux a file name may hold any bytes but ``/`` and NUL;
    Python keeps the others as surrogates, which pyarrow cannot encode).

    >>> _utf8_name(Path("votes.csv")), _utf8_name(Path("r\\udcff.csv"))
    (True, False)
    """
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _plain_ascii(path: Path) -> tuple[str | None, bool]:
    """The first 1 MiB of ``path`` as text and whether the file holds a quote, if the file is plain ASCII CSV text
    (see :func:`parse_plain_csv_file`); ``(None, False)`` otherwise. One buffer is reused: memory stays flat."""
    buffer = bytearray(_CHUNK)
    head, quoted, line_end, last = None, False, False, b""
    with open(path, "rb") as handle:
        while size := handle.readinto(buffer):
            chunk = buffer if size == _CHUNK else buffer[:size]
            if not chunk.isascii() or b"\0" in chunk:
                return None, False
            quoted = quoted or b'"' in chunk
            line_end = line_end or b"\n" in chunk
            if head is None:
                head = chunk.decode("ascii")
            last = chunk[-1:]
    if head is None or head.startswith(("\n", "\r")) or last not in (b"\n", b"\r") or not line_end:
        return None, False
    return head, quoted


def _arrow_table(source: pa.NativeFile, header: list[str], sep: str, quoted: bool) -> pa.Table | None:
    """The records after the header as a table of text columns, or None where pyarrow would read otherwise than
    pandas (a record with another number of fields, an unclosed quote, a header holding a line break)."""
    invalid: list[object] = []

    def refuse(row: object) -> str:
        invalid.append(row)
        return "skip"

    names = column_names(header)
    try:
        table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),  # 1 MiB blocks: memory like the anchor
            parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=quoted, invalid_row_handler=refuse),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        return None
    if invalid or _header_spans_lines(header):
        return None
    return table


def _categoricals(table: pa.Table) -> pd.DataFrame:
    """Each text column of ``table`` dictionary-encoded as one array, as a pandas categorical of text.

    Asking the CSV reader for dictionary columns gives one dictionary per 1 MiB block, which pandas must
    unify (a third of the read's time on ten million rows); the blocks' text is joined first instead, and
    encoded once. The categories are ``string`` (``pd.NA``) text, as :func:`voxpop.corpus.codes.as_codes` keeps them.
    """
    columns = {}
    for name in table.column_names:
        encoded = pc.dictionary_encode(table.column(name).combine_chunks())
        codes = encoded.indices.fill_null(-1).to_numpy()
        categories = pd.Index(pd.array(encoded.dictionary, dtype=STRING))
        columns[name] = pd.Categorical.from_codes(codes, dtype=known_unique_dtype(categories), validate=False)
    return pd.DataFrame(columns)


def first_record(text: str, sep: str) -> list[str] | None:
    """The first CSV record of ``text`` (its header), read from its first lines only; None for empty text.

    ``io.StringIO(text)`` would copy the whole file into a buffer of four bytes per character (1 GB for
    a 270 MB table) to read one line; the lines are handed to :mod:`csv` one at a time instead, as many as
    the record spans (a quoted header cell may hold a line break).

    >>> first_record('item,"a\\nb",label\\nx,y,z\\n', ",")
    ['item', 'a\\nb', 'label']
    >>> first_record("", ",") is None
    True
    """

    def lines() -> Iterator[str]:
        start = 0
        while start < len(text):
            end = text.find("\n", start)
            end = len(text) if end < 0 else end + 1
            yield text[start:end]
            start = end

    return next(csv.reader(lines(), delimiter=sep), None)


def column_names(header: list[str]) -> list[str]:
    """The column names pandas' reader gives a header record, so that pyarrow never gets one name twice.

    An empty cell is ``Unnamed: i`` (i counted from 0); a name met again gets ``.1``, ``.2`` ... (the first suffix
    no other header cell holds), given names before unnamed ones, as pandas' C parser mangles them.

    Args:
        header: the header record's cells as written (:func:`first_record`).

    Returns:
        One distinct name per cell, in order.

    >>> column_names(["item", "", " ", " ", " .1"])
    ['item', 'Unnamed: 1', ' ', ' .2', ' .1']
    """
    names = [name or f"Unnamed: {i}" for i, name in enumerate(header)]
    unnamed = [i for i, name in enumerate(header) if not name]
    counts: dict[str, int] = {}
    for i in [i for i in range(len(names)) if header[i]] + unnamed:
        name = base = names[i]
        count = counts.get(name, 0)
        while count:
            counts[base] = count + 1
            name = f"{base}.{count}"
            count = count + 1 if name in names else counts.get(name, 0)
        names[i] = name
        counts[name] = count + 1
    return names


def _header_spans_lines(header: list[str]) -> bool:
    """True when the header record holds a quoted line break (``skip_rows=1`` would skip only its first line)."""
    return any("\n" in name or "\r" in name for name in header)


def _checked_pandas(text: str, sep: str, file: str) -> pd.DataFrame:
    """The row-by-row path: every record's field count checked (naming its line), then pandas' reader."""
    check_csv_rows(text, sep, file)
    return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""])
