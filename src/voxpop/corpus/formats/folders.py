"""Files found in a corpus folder, without the debris operating systems leave there.

A corpus copied from a Mac or a Windows share carries files nobody meant to import: macOS resource
forks (``._name.wav``, as many as the real files), ``__MACOSX/`` folders from zip archives,
``.DS_Store``, ``Thumbs.db`` and other hidden files. Every folder importer lists its files with
:func:`corpus_files`, which skips these and counts them for the import report.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from voxpop.corpus.formats.tables import tally

_NAMED = {".ds_store": ".DS_Store", "thumbs.db": "Thumbs.db", "desktop.ini": "desktop.ini"}


def debris_kind(relative: Path) -> str | None:
    """What kind of operating-system debris a path (relative to the imported folder) is, or None.

    >>> [debris_kind(Path(p)) for p in ("a/._x.wav", "__MACOSX/a/x.wav", "a/.DS_Store", "Thumbs.db", ".cache/x.wav",
    ...                                 "Actor_01/03-01-01-01-01-01-01.wav")]
    ["macOS '._' resource forks", '__MACOSX folders', '.DS_Store', 'Thumbs.db', 'hidden files', None]
    """
    *folders, name = relative.parts
    if "__MACOSX" in folders:
        return "__MACOSX folders"
    if name.startswith("._"):
        return "macOS '._' resource forks"
    if name.lower() in _NAMED:
        return _NAMED[name.lower()]
    if name.startswith(".") or any(f.startswith(".") for f in folders):
        return "hidden files"
    return None


def corpus_files(directory: Path, pattern: str = "*") -> tuple[list[Path], Counter]:
    """Files under ``directory`` matching ``pattern`` (recursively, in path order) and the debris skipped by kind."""
    files, debris = [], Counter()
    for path in sorted(directory.rglob(pattern)):
        if not path.is_file():
            continue
        kind = debris_kind(path.relative_to(directory))
        if kind is None:
            files.append(path)
        else:
            debris[kind] += 1
    return files, debris


def debris_note(debris: Counter, directory: Path | str) -> list[str]:
    """The report sentence for skipped debris (empty when there was none).

    >>> debris_note(Counter({"macOS '._' resource forks": 2, ".DS_Store": 1}), "data")
    ["Operating-system files skipped in data: 3 (macOS '._' resource forks 2, .DS_Store 1)."]
    """
    if not debris:
        return []
    return [f"Operating-system files skipped in {directory}: {debris.total()} ({tally(debris)})."]
