"""Audio paths named inside a table: resolved against the table's folder, checked against an audio root.

A relative path in an item table (``wav/a.wav``) means the file beside that table, never one beside
the working directory, so :func:`resolve_media` joins it to the *audio root*: the folder of the table
that names it (an importer's item or recordings table, a corpus directory's ``items.parquet``) or a
root given explicitly (CLI ``--audio-root``). Paths are made absolute lexically (``..`` removed, symlinks
kept, so a data folder that is a symlink keeps working). A path that ends up outside the audio root (an
absolute ``/etc/passwd``, ``../../x.wav``) is refused by the importers unless ``allow_outside_paths``
(CLI ``--allow-outside-paths``) and listed by ``voxpop validate``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from voxpop.core.errors import InputError, option, where

_SHOWN = 5
_DRIVE = r"(?:[A-Za-z]:[\\/]|\\\\)"  # C:\ or C:/ or \\server


def resolve_media(value: str, root: str | Path) -> str:
    r"""``value`` as an absolute path: kept when absolute, else joined to ``root`` (made absolute itself).

    Backslashes are Windows separators (a table written on Windows: ``wav\a.wav``), read as ``/``.

    >>> resolve_media("wav/../a.wav", "/data/corpus"), resolve_media("/etc/passwd", "/data/corpus")
    ('/data/corpus/a.wav', '/etc/passwd')
    >>> resolve_media(r"downloads\wav\a.wav", "/data/corpus")
    '/data/corpus/downloads/wav/a.wav'
    """
    return os.path.abspath(os.path.join(os.path.abspath(root), value.replace("\\", "/")))


def _refuse_drive_paths(values: pd.Series, file: str, column: str, rows: Sequence[int] | None) -> None:
    """A Windows path with a drive letter or a share (``C:\\data\\a.wav``, ``\\\\server\\a.wav``) names a
    place on another machine: an InputError naming the file, the first row and column and the count."""
    text = values.astype("string")
    drive = text.str.match(_DRIVE).fillna(False).to_numpy(dtype=bool)
    if drive.any():
        first = int(np.flatnonzero(drive)[0])
        row = int(rows[first]) if rows is not None else first + 1
        raise InputError(
            f"{where(file, row, column)}: {values.iat[first]!r} is a Windows path with a drive or share "
            f"({int(drive.sum())} such rows), which names a place on another machine; write the paths relative to "
            f"the audio root (strip the drive and the folders above the corpus) and give the audio root here "
            f"({option('audio_root')})."
        )


def is_outside(path: str, root: str | Path) -> bool:
    """True when absolute ``path`` is not ``root`` itself or under it (compared lexically, symlinks kept).

    >>> is_outside("/data/corpus/wav/a.wav", "/data/corpus"), is_outside("/data/corpus2/a.wav", "/data/corpus")
    (False, True)
    """
    root = os.path.abspath(root)
    return os.path.commonpath([root, os.path.abspath(path)]) != root


def resolve_media_column(
    values: pd.Series,
    root: str | Path,
    file: str,
    column: str = "audio",
    *,
    allow_outside_paths: bool = False,
    notes: list[str],
    rows: Sequence[int] | None = None,
) -> pd.Series:
    """The audio paths of a table column resolved against ``root``; missing cells stay missing.

    Args:
        values: the column as text (``pd.NA`` where empty), one cell per table row.
        root: the audio root: the folder of the table, or the one the user gave (``--audio-root``).
        file: the table's file name, for messages.
        column: the column's name, for messages.
        allow_outside_paths: accept paths that resolve outside ``root`` (counted in ``notes``).
        notes: the import report; receives the count of accepted outside paths.
        rows: the source row of each cell (default 1, 2, ...).

    Returns:
        The absolute paths (string dtype), index of ``values``.

    Raises:
        InputError: a Windows path with a drive letter or share (``C:\\...``; backslashes alone are read as
            separators); a path resolves outside ``root`` and ``allow_outside_paths`` is false; the message
            names the file, the first row and column, the path, where it resolves, the count of such rows
            and ``--allow-outside-paths``.
    """
    root = os.path.abspath(root)
    _refuse_drive_paths(values, file, column, rows)
    resolved = [None if pd.isna(v) else resolve_media(str(v), root) for v in values]
    outside = np.array([p is not None and is_outside(p, root) for p in resolved], dtype=bool)
    if outside.any():
        positions = np.flatnonzero(outside)
        first = int(positions[0])
        row = int(rows[first]) if rows is not None else first + 1
        if not allow_outside_paths:
            raise InputError(
                f"{where(file, row, column)}: the audio path {values.iat[first]!r} resolves to {resolved[first]}, "
                f"outside the audio root {root} ({len(positions)} such rows). Paths in a table resolve against its "
                f"folder or the audio root given; move the files under it, or accept paths outside with "
                f"{option('allow_outside_paths')} if you trust the table."
            )
        shown = ", ".join(str(resolved[i]) for i in positions[:_SHOWN]) + (" ..." if len(positions) > _SHOWN else "")
        notes.append(f"Audio paths outside the audio root {root}, accepted (allow_outside_paths): {len(positions)} "
                     f"({shown}).")  # fmt: skip
    return pd.Series(resolved, index=values.index, dtype=pd.StringDtype())


def common_root(folders: Sequence[str]) -> str:
    """The deepest folder holding every one of ``folders`` (absolute), or ``""`` when one is unknown (empty) or none.

    For a corpus built from others (a merge) or from paths an importer built under its own folders.

    >>> common_root(["/data/crema-d/AudioWAV", "/data/ravdess"]), common_root(["/data/a", ""]), common_root([])
    ('/data', '', '')
    """
    if not folders or not all(folders):
        return ""
    return os.path.commonpath([os.path.abspath(f) for f in folders])


def outside_items(items: pd.DataFrame, root: str | Path, follow_symlinks: bool = True) -> list[tuple[str, str]]:
    """``(item, path)`` of every item whose ``audio`` path lies outside ``root`` (relative ones are joined to it);
    without ``follow_symlinks`` also those inside whose file is a symlink leading outside (:func:`link_outside`),
    shown as ``path (a symlink to target)``.

    >>> items = pd.DataFrame({"audio": ["/c/a.wav", "/etc/passwd", None]}, index=["a", "b", "c"])
    >>> outside_items(items, "/c")
    [('b', '/etc/passwd')]
    """
    if "audio" not in items.columns:
        return []
    out = []
    for item, value in zip(items.index, items["audio"], strict=True):
        if pd.isna(value) or str(value) == "":
            continue
        path = resolve_media(str(value), root)
        target = None if follow_symlinks else link_outside(path, root)
        if is_outside(path, root) or target:
            out.append((str(item), path if target is None else f"{path} (a symlink to {target})"))
    return out


FOLLOW_SYMLINKS = "VOXPOP_FOLLOW_SYMLINKS"
"""The environment variable that lets every verb read corpus files through symlinks leading out of the corpus
folder (``1``); ``Corpus.load(..., follow_symlinks=True)`` and ``voxpop validate --follow-symlinks`` do it for one
load."""


def following_symlinks(follow_symlinks: bool | None = None) -> bool:
    """``follow_symlinks`` when given, else whether the environment variable :data:`FOLLOW_SYMLINKS` is ``1``."""
    return os.environ.get(FOLLOW_SYMLINKS, "") == "1" if follow_symlinks is None else follow_symlinks


def link_outside(path: str | Path, root: str | Path) -> str | None:
    """Where ``path`` really leads when it lies inside ``root`` by name but a symlink (the file, or a folder on the
    way) takes it outside ``root`` (both resolved); None when it stays inside, is outside by name, or is missing.

    >>> link_outside("/c/a.wav", "/c") is None
    True
    """
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    if is_outside(str(path), root) or not os.path.lexists(path):
        return None
    return real if is_outside(real, real_root) else None


def check_corpus_file(path: Path, folder: Path, follow_symlinks: bool | None = None) -> None:
    """Refuse a file of a corpus folder (``corpus.yaml``, a table) that is a symlink leading out of the folder,
    before it is read: its content would be taken for the corpus's (and parse errors would quote another file).

    Args:
        path: the file inside ``folder``.
        folder: the corpus folder.
        follow_symlinks: read it anyway; None: when the environment variable :data:`FOLLOW_SYMLINKS` is ``1``.

    Raises:
        InputError: naming the file, where it leads and how to allow it.
    """
    target = None if following_symlinks(follow_symlinks) else link_outside(path, folder)
    if target is not None:
        raise InputError(
            f"{path}: is a symlink leading out of the corpus folder {folder} (to {target}); voxpop reads a corpus's "
            f"files inside its folder only, so it was not read. Copy the file into the folder, or, if you trust the "
            f"link, set the environment variable {FOLLOW_SYMLINKS}=1 (voxpop validate also takes --follow-symlinks; "
            "Python: Corpus.load(..., follow_symlinks=True))."
        )
