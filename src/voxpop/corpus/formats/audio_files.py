"""Audio files of an importer: find them by item name, read their durations, attach them to items."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import soundfile

from voxpop.core.errors import InputError
from voxpop.corpus.corpus import STRING
from voxpop.corpus.formats.folders import corpus_files, debris_note

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
_SHOWN_FILES = 10

_DRIVE = re.compile(r"^[A-Za-z]:")


def check_relative_name(name: str, location: str, what: str = "file name") -> str:
    """Refuse a file name read from inside a file that could point outside the folder it is joined to.

    The name is checked as written (``\\`` read as ``/``): an empty name or ``.``, an absolute path, a drive
    letter, a ``..`` component or a NUL character raises InputError naming ``location`` and ``what`` the name
    is; subfolders (``a/b.wav``) are fine.
    The folder it is later joined to is not resolved, so a data folder that is a symlink keeps working.

    >>> check_relative_name("MSP-PODCAST_0001_0008.wav", "l.json, line 2")
    'MSP-PODCAST_0001_0008.wav'
    >>> check_relative_name("../../etc/x.wav", "l.json, line 2")
    Traceback (most recent call last):
    ...
    voxpop.core.errors.InputError: l.json, line 2: the file name '../../etc/x.wav' has a '..' component; ...
    """
    path = PurePosixPath(name.replace("\\", "/"))
    problem = (
        "names no file (it is empty or '.')" if not path.parts
        else "is an absolute path" if path.is_absolute() or _DRIVE.match(name)
        else "has a '..' component" if ".." in path.parts
        else "contains a NUL character" if "\0" in name
        else None
    )  # fmt: skip
    if problem:
        raise InputError(
            f"{location}: the {what} {name!r} {problem}; expected a name relative to the data folder "
            "(such as clip.wav or sub/clip.wav). Fix the name in the file."
        )
    return name


def file_item_id(name: str) -> str:
    r"""The item id of a file named inside a rating file (MSP's ``FileName``): the name without its extension,
    every other character kept exactly, folders and ``\`` included, so two files never give one id unnoticed.

    >>> file_item_id("MSP-PODCAST_0001_0008.wav"), file_item_id("sub/a.b.wav")
    ('MSP-PODCAST_0001_0008', 'sub/a.b')
    >>> file_item_id("x\\y.wav"), file_item_id(".wav")
    ('x\\y', '.wav')
    """
    last = re.split(r"[/\\]", name)[-1]
    dot = last.rfind(".")
    return name[: len(name) - len(last) + dot] if dot > 0 and dot < len(last) - 1 else name


def find_audio(directory: str | Path, suffixes: Sequence[str] = AUDIO_SUFFIXES, *, notes: list[str]) -> dict[str, Path]:
    """Audio files under ``directory`` (searched recursively, in path order), keyed by file stem.

    Paths are absolute (``..`` removed) but symlinks are not resolved (a data folder that is a symlink, or a folder of
    symlinked files, keeps its own paths). Operating-system debris (``._*``, ``__MACOSX/``, ``.DS_Store``, hidden
    files) is skipped and counted in ``notes``, as are other files that are not audio (``notes.txt``). Two files
    with the same stem (e.g. ``a.wav`` and ``sub/a.flac``) are an error: the item they belong to would be ambiguous.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory; expected a folder of audio files ({', '.join(suffixes)}).")
    found: dict[str, Path] = {}
    files, debris = corpus_files(directory)
    notes += debris_note(debris, directory)
    other: list[Path] = []
    for path in files:
        if path.suffix.lower() not in suffixes:
            other.append(path)
            continue
        if path.stem in found:
            raise InputError(
                f"{found[path.stem]} and {path}: two audio files for item {path.stem!r}; keep only one of them."
            )
        found[path.stem] = Path(os.path.abspath(path))
    if other:
        shown = ", ".join(str(p.relative_to(directory)) for p in other[:5]) + (", ..." if len(other) > 5 else "")
        kinds = ", ".join(suffixes)
        notes.append(f"Files in {directory} that are not audio ({kinds}) were ignored: {len(other)} ({shown}).")
    return found


def audio_durations(paths: Sequence[Path]) -> np.ndarray:
    """Duration in seconds of each audio file, from its header (``soundfile.info``)."""
    durations = np.empty(len(paths))
    for i, path in enumerate(paths):
        try:
            durations[i] = soundfile.info(str(path)).duration
        except RuntimeError as exc:  # soundfile.LibsndfileError derives from RuntimeError
            raise InputError(f"{path}: could not be read as audio ({exc}); replace or remove the file.") from None
    return durations


def attach_audio(items: pd.DataFrame, directory: str | Path, notes: list[str]) -> pd.DataFrame:
    """Add item columns ``audio`` (absolute path) and ``duration`` (s) for files named ``<item>.<suffix>``.

    Items without a file keep both empty and are counted in ``notes``, as are files that match no
    item. Raises InputError when no item has a file (most likely the wrong folder).
    """
    files = find_audio(directory, notes=notes)
    matched = [item for item in items.index if item in files]
    if not matched:
        raise InputError(
            f"{directory}: none of the {len(files)} audio files is named after one of the {len(items)} items "
            f"(expected e.g. {items.index[0]}.wav); check the folder."
        )
    paths = [files[item] for item in matched]
    audio = pd.Series(pd.NA, index=items.index, dtype=STRING)
    audio[matched] = [str(p) for p in paths]
    duration = pd.Series(np.nan, index=items.index)
    duration[matched] = audio_durations(paths)
    missing = len(items) - len(matched)
    if missing:
        notes.append(f"{missing} of {len(items)} items have no audio file in {directory} (audio left empty).")
    notes += unmatched_files_note(files, set(matched), directory)
    return items.assign(audio=audio, duration=duration)


def unmatched_files_note(files: dict[str, Path], matched: set[str], directory: str | Path) -> list[str]:
    """The report sentence naming the audio files that match no item (the first 10), or nothing.

    >>> unmatched_files_note({"a": Path("/d/a.wav"), "b": Path("/d/b.wav")}, {"a"}, "d")
    ['1 audio files in d match no item and were ignored: b.wav.']
    """
    unused = [path.name for stem, path in files.items() if stem not in matched]
    if not unused:
        return []
    more = f" ... ({len(unused) - _SHOWN_FILES} more)" if len(unused) > _SHOWN_FILES else ""
    shown = ", ".join(unused[:_SHOWN_FILES])
    return [f"{len(unused)} audio files in {directory} match no item and were ignored: {shown}{more}."]
