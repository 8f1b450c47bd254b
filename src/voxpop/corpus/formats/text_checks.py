"""Checks of a table's text before it is parsed: cut-off rows, mis-decoded text, look-alike letters, id clashes.

- A CSV row with another number of fields than the header (a file cut mid-row by an interrupted
  download or copy; pandas would fill the missing cells with nothing) is an :class:`InputError` naming
  the file and line; a file whose last line has no line break is noted (its last row may be cut).
- Text that looks like UTF-8 decoded as latin-1 / cp1252 (mojibake: ``Ã©`` for ``é``) and words that
  mix Latin, Cyrillic or Greek letters (a Cyrillic ``а`` in ``аnger`` makes a new class that looks
  like ``anger``) are noted, naming the values and their lines.
- Item ids joined from several columns that collide (``x_1`` + ``2`` and ``x`` + ``1_2``) are refused,
  naming both rows.

Notes are collected while files are read (:func:`note`) and end up in the import report:
:func:`voxpop.corpus.formats.tables.describe_import` takes them (:func:`take_notes`).
"""

from __future__ import annotations

import contextvars
import csv
import io
import re
import unicodedata
from collections.abc import Sequence

import pandas as pd

from voxpop.core.errors import InputError

_NOTES: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("voxpop_text_notes", default=())
_SHOWN = 5
_LOOK_ALIKE_SCRIPTS = frozenset({"LATIN", "CYRILLIC", "GREEK"})
_NON_ASCII_WORD = re.compile(r"[^\s,;\t\"'|:=(){}\[\]<>]*[^\x00-\x7f][^\s,;\t\"'|:=(){}\[\]<>]*")


def note(message: str) -> None:
    """Keep ``message`` for the import report of the corpus being imported (once, in order)."""
    if message not in _NOTES.get():
        _NOTES.set((*_NOTES.get(), message))


def take_notes() -> list[str]:
    """The notes kept since the last call, which forgets them."""
    notes = list(_NOTES.get())
    _NOTES.set(())
    return notes


def check_csv_rows(text: str, sep: str, file: str) -> None:
    """Raise when a record of the CSV ``text`` has another number of fields than its header; note a missing
    final line break.

    Blank lines are skipped (as pandas skips them). Line numbers count physical lines from 1 (the header).

    Raises:
        InputError: ``file, line N: has k fields, the header has h``; for the last line of a file without a
            final line break it adds that the file looks cut off mid-row (get the whole file again), as it
            says for a file that ends inside a quoted field.

    Example:
        >>> check_csv_rows("item,rater,label\\na,r1,anger\\nb,r1", ",", "votes.csv")
        Traceback (most recent call last):
        ...
        voxpop.core.errors.InputError: votes.csv, line 3: has 2 fields, the header has 3 (item, rater, label). ...
    """
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    header = next(reader, None)
    if header is None:
        return
    cut = not text.endswith(("\n", "\r"))
    last = 1
    for fields in reader:
        if not fields:
            continue
        last = reader.line_num
        if len(fields) != len(header):
            line = reader.line_num
            ends = cut and next((rest for rest in reader if rest), None) is None
            why = (
                "The file ends here without a line break: it looks cut off mid-row (an interrupted download or "
                "copy). Get the whole file again."
                if ends
                else "Check the quoting and the separators of that line (a field with a separator in it needs quotes)."
            )
            raise InputError(
                f"{file}, line {line}: has {len(fields)} field{'s' * (len(fields) != 1)}, the header has "
                f"{len(header)} ({', '.join(header)}). {why}"
            )
    if cut and text.count('"') % 2:
        raise InputError(
            f"{file}, line {last}: a quoted field is not closed at the end of the file: it looks cut off mid-row (an "
            "interrupted download or copy). Get the whole file again."
        )
    if cut and last > 1:
        note(
            f"{file} ends without a line break after line {last}: if the file was cut off, its last row is incomplete "
            "(compare it with the source)."
        )


def note_suspicious_text(text: str, file: str) -> None:
    """Note the words of ``text`` that look mis-decoded (:func:`mojibake_repair`) or mix look-alike scripts
    (:func:`mixed_scripts`), with their lines: at most five of each kind are shown, with the count."""
    if text.isascii():  # no word to look at (CPython knows this without a scan)
        return
    mojibake: dict[str, tuple[int, str]] = {}
    mixed: dict[str, tuple[int, str]] = {}
    for match in _NON_ASCII_WORD.finditer(text):
        word = match.group()
        if word in mojibake or word in mixed:
            continue
        repaired = mojibake_repair(word)
        if repaired is not None:
            mojibake[word] = (text.count("\n", 0, match.start()) + 1, repaired)
            continue
        scripts = mixed_scripts(word)
        if scripts:
            mixed[word] = (text.count("\n", 0, match.start()) + 1, scripts)
    if mojibake:
        shown = "; ".join(f"{w!r} (line {line}, probably {fixed!r})" for w, (line, fixed) in _first(mojibake))
        note(
            f"{file}: {len(mojibake)} value(s) look like UTF-8 text decoded as latin-1 or cp1252 (mojibake): {shown}. "
            "If the file is UTF-8, read it as such (drop --encoding); else repair the text where it was saved."
        )
    if mixed:
        shown = "; ".join(f"{w!r} (line {line}, {scripts})" for w, (line, scripts) in _first(mixed))
        note(
            f"{file}: {len(mixed)} value(s) mix look-alike letters of different scripts: {shown}. Such a label or id "
            "differs from the one it looks like (a new class, a new rater); retype it in one script."
        )


def _first(found: dict[str, tuple[int, str]]) -> list[tuple[str, tuple[int, str]]]:
    return list(found.items())[:_SHOWN]


def mojibake_repair(word: str) -> str | None:
    """The text ``word`` was before UTF-8 bytes were decoded as cp1252 (or latin-1), or None when it does not
    look like that (re-encoding fails, gives invalid UTF-8, or changes nothing).

    >>> mojibake_repair("Ã©motion"), mojibake_repair("émotion"), mojibake_repair("für")
    ('émotion', None, None)
    """
    for codec in ("cp1252", "latin-1"):
        try:
            repaired = word.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if repaired != word:
            return repaired
    return None


def mixed_scripts(word: str) -> str:
    """The letters of look-alike scripts (Latin, Cyrillic, Greek) when ``word`` mixes them, else ``""``.

    >>> mixed_scripts("\\u0430nger"), mixed_scripts("anger"), mixed_scripts("гнев")
    ("Cyrillic 'а', Latin 'nger'", '', '')
    """
    letters: dict[str, str] = {}
    for char in word:
        if char.isalpha():
            script = unicodedata.name(char, "UNKNOWN").split(" ")[0]
            if script in _LOOK_ALIKE_SCRIPTS:
                letters[script] = letters.get(script, "") + char
    if len(letters) < 2:
        return ""
    return ", ".join(f"{script.title()} {chars!r}" for script, chars in letters.items())


def join_id_columns(cells: Sequence[pd.Series], columns: Sequence[str], file: str, sep: str = "_") -> pd.Series:
    """Item ids joined from several columns' text with ``sep``; two different combinations that give one id are
    refused.

    Args:
        cells: per id column, its text (one value per table row, as :func:`voxpop.corpus.formats.tables.text_column`).
        columns: the column names, for the message.
        file: the file name, for the message.
        sep: the separator written between the parts.

    Returns:
        The joined ids (one per row; a single column is returned as it is).

    Raises:
        InputError: naming both rows (1-based data rows) and their cells when ``x_1`` + ``2`` and ``x`` + ``1_2``
            both give ``x_1_2``.

    Example:
        >>> parts = [pd.Series(["x_1", "x"]), pd.Series(["2", "1_2"])]
        >>> join_id_columns(parts, ["speaker", "clip"], "r.csv")
        Traceback (most recent call last):
        ...
        voxpop.core.errors.InputError: r.csv, rows 1 and 2: the item ids joined from columns 'speaker', 'clip' ...
    """
    if len(cells) == 1:
        return cells[0]
    ids = cells[0].str.cat(list(cells[1:]), sep=sep)
    parts = pd.DataFrame({f"part{i}": c.to_numpy(dtype=object) for i, c in enumerate(cells)}).assign(id=ids.to_numpy())
    distinct = parts.drop_duplicates()
    clash = distinct["id"].duplicated(keep=False)
    if clash.any():
        first_id = distinct.loc[clash, "id"].iloc[0]
        rows = [int(r) for r in distinct.index[clash & distinct["id"].eq(first_id)][:2]]
        shown = [" + ".join(repr(parts.iat[r, i]) for i in range(len(cells))) for r in rows]
        raise InputError(
            f"{file}, rows {rows[0] + 1} and {rows[1] + 1}: the item ids joined from columns "
            f"{', '.join(map(repr, columns))} with {sep!r} collide: {shown[0]} and {shown[1]} both give "
            f"{first_id!r}. Give a column that is unique on its own, or rename the items so that the parts "
            f"do not contain {sep!r}."
        )
    return ids
