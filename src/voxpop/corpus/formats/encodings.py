"""Decoding the text files of an importer: a given encoding, or one detected with charset-normalizer.

``encoding="auto"`` (the default of every reader, CLI ``--encoding auto``) reads a byte-order mark
(UTF-8, UTF-16, UTF-32), then UTF-8; a file that is not UTF-8 (or whose UTF-8 reading holds NUL
characters, as UTF-16 without a byte-order mark does) is handed to charset-normalizer. Its answer is
used only when it is unambiguous: every other plausible encoding gives the same text. Otherwise the
error lists the candidates with the line each one gives, so the reader chooses with ``--encoding``.
A candidate whose text holds NUL characters (column names such as ``i\\x00t\\x00e\\x00m``) is never
suggested.
"""

from __future__ import annotations

import codecs

import charset_normalizer

from voxpop.core.errors import ConfigError, InputError, option
from voxpop.core.formatting import excerpt

AUTO = "auto"
_BOMS = (  # longest first: the UTF-32-LE mark starts with the UTF-16-LE one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CHAOS_MARGIN = 0.05  # candidates this close to the best "mess ratio" are as plausible as the best
_SHOWN_CANDIDATES = 5


def decode_text(data: bytes, file: str, encoding: str = AUTO) -> str:
    """The text of a file's bytes, decoded with ``encoding`` or, with ``"auto"``, the detected encoding.

    Args:
        data: the file's bytes.
        file: the file name used in messages.
        encoding: a Python codec name (``latin-1``, ``gbk``, ``utf-16-le`` ...; UTF-8 drops a
            byte-order mark) read strictly, or ``"auto"`` to detect it.

    Returns:
        The decoded text.

    Raises:
        ConfigError: ``encoding`` is not a known codec.
        InputError: the bytes are not text in the given encoding, or decoded as it hold NUL characters in
            the first line (a UTF-16 file read as UTF-8); with ``"auto"``: the encoding is ambiguous (the
            message lists the candidates and the line each gives, and names ``--encoding``) or no encoding
            reads the file. Messages name the file, the line and how to fix it.

    Example:
        >>> decode_text("item,rater,label\\n片段1,评分者,愤怒\\n".encode("utf-16-le"), "r.csv")  # no byte-order mark
        'item,rater,label\\n片段1,评分者,愤怒\\n'
    """
    if encoding != AUTO:
        return _decode_as(data, file, encoding)
    for mark, codec in _BOMS:
        if data.startswith(mark):
            return _decode_as(data, file, codec)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _detected(data, file, exc)
    if "\0" not in text:
        return text
    found = candidates(data)
    # NUL characters in valid UTF-8: UTF-16 without a byte-order mark, else real NULs the readers refuse by row
    return found[0][1] if len(found) == 1 else text


def text_codec(encoding: str) -> str:
    """The Python codec for ``encoding``; UTF-8 becomes ``utf-8-sig`` so that a byte-order mark is dropped.

    >>> text_codec("UTF8"), text_codec("latin-1")
    ('utf-8-sig', 'iso8859-1')
    """
    try:
        name = codecs.lookup(encoding).name
    except (LookupError, TypeError):
        raise ConfigError(
            f"unknown text encoding {encoding!r}; give 'auto' (detect it) or a Python codec name such as utf-8, "
            "latin-1, cp1252, gbk or utf-16."
        ) from None
    return "utf-8-sig" if name == "utf-8" else name


def candidates(data: bytes) -> list[tuple[str, str]]:
    """The plausible encodings of ``data`` as ``(codec, text)``, most plausible first, one per distinct text.

    Plausible: charset-normalizer's matches whose mess ratio is within 0.05 of the best one and whose text
    holds no NUL character. Encodings giving the same text as an earlier one are left out, so one entry
    means the text is certain even where several encodings (GB2312, GBK, GB18030) agree.

    >>> candidates("item,rater,label\\nc1,r1,anger\\n".encode("utf-16-le"))
    [('utf_16_le', 'item,rater,label\\nc1,r1,anger\\n')]
    """
    matches = list(charset_normalizer.from_bytes(data))
    if not matches:
        return []
    best = min(match.chaos for match in matches)
    found: dict[str, str] = {}
    for match in matches:
        if match.chaos > best + _CHAOS_MARGIN:
            continue
        text = str(match)
        if "\0" not in text and text not in found:
            found[text] = match.encoding
    return [(codec, text) for text, codec in found.items()]


def _decode_as(data: bytes, file: str, encoding: str) -> str:
    codec = text_codec(encoding)
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{file}, line {line}: the bytes {data[exc.start : exc.end]!r} are not {encoding} text ({exc.reason}); "
            f"{_hint(data, line)}"
        ) from None
    header = text.split("\n", 1)[0]
    if "\0" in header:
        raise InputError(
            f"{file}, line 1: read as {encoding}, the first line holds NUL characters ({header[:24]!r}); the file "
            f"is in another encoding: {_hint(data, 1)}"
        )
    return text


def _detected(data: bytes, file: str, error: UnicodeDecodeError) -> str:
    found = candidates(data)
    if len(found) == 1:
        return found[0][1]
    line = data.count(b"\n", 0, error.start) + 1
    raise InputError(
        f"{file}, line {line}: the bytes {data[error.start : error.end]!r} are not UTF-8 text, and the "
        f"encoding could not be told for sure; {_hint(data, line, found)}"
    )


def _hint(data: bytes, line: int, found: list[tuple[str, str]] | None = None) -> str:
    """What to do: the candidate encodings with the given line as each reads it, and the option that picks one."""
    found = candidates(data) if found is None else found
    if not found:
        return (
            "no text encoding reads it (is it a text file?); re-encode the file as UTF-8 or give its encoding "
            f"({option('encoding', 'latin-1')})."
        )
    shown = []
    for codec, text in found[:_SHOWN_CANDIDATES]:
        lines = text.split("\n")
        sample = lines[min(line, len(lines)) - 1].rstrip("\r")
        shown.append(f"{codec} reads line {line} as {excerpt(sample)}")
    more = f" ({len(found) - _SHOWN_CANDIDATES} more)" if len(found) > _SHOWN_CANDIDATES else ""
    return (
        f"{'; '.join(shown)}{more}. Give the one that reads it right (e.g. {option('encoding', found[0][0])}) "
        f"or re-encode the file as UTF-8 (e.g. iconv -f {found[0][0].upper()} -t UTF-8)."
    )
