"""What an entry of ``runs.json`` must hold before a run is read from it (:func:`voxpop.models.saved_runs.find_runs`).

:func:`check_run_format` runs on the raw entry, before its schema: a format newer than this voxpop's is "written by
a newer voxpop" (update voxpop), an older one is "written by an older voxpop" (run the study again: the run records
of format 1 lacked the fields that rebuild the features, so they are not upgraded on read). :func:`check_run_paths`
runs on the validated :class:`~voxpop.models.saved_runs.RunRecord`: its stage paths are existing folders inside the
output directory, and it names at least one fold, each once, each with its fold folder in the stage (fold names are
ids, encoded into folder names: a name such as ``..`` or ``a/b`` is kept, and never leads out of the stage).
Each problem is an :class:`~voxpop.core.errors.InputError` naming ``runs.json``, the run and the key.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voxpop.core.errors import ConfigError, InputError
from voxpop.core.formatting import excerpt
from voxpop.core.paths import id_filename

RERUN = "Run the study again to rewrite runs.json."


def check_run_format(path: Path, name: str, entry: Any, current: int) -> None:
    """Refuse a ``runs.json`` entry of another format version than ``current`` (before its schema is applied).

    Args:
        path: the ``runs.json`` file.
        name: the run's name (its key in the file).
        entry: the raw entry as parsed from JSON.
        current: the format this voxpop writes and reads.

    Raises:
        InputError: the entry is not an object, or its ``format`` is not ``current``: "written by a newer voxpop"
            (update voxpop) or "by an older voxpop" (run the study again), naming the file, the run and the key.

    Example:
        >>> check_run_format(Path("out/runs.json"), "base", {"format": 9}, 2)
        Traceback (most recent call last):
        ...
        voxpop.core.errors.InputError: out/runs.json, run 'base', key 'format': 9, written by a newer voxpop \
(this one reads format 2); update voxpop, or run the study again with this version.
    """
    if not isinstance(entry, dict):
        raise InputError(f"{path}, run {name!r}: expected an object (a run record), found {type(entry).__name__}; "
                         f"{RERUN}")  # fmt: skip
    found = entry.get("format", current)
    if found == current:
        return
    if isinstance(found, int) and not isinstance(found, bool) and found > current:
        raise InputError(
            f"{path}, run {name!r}, key 'format': {found}, written by a newer voxpop (this one reads format "
            f"{current}); update voxpop, or run the study again with this version."
        )
    if isinstance(found, int) and not isinstance(found, bool) and found >= 1:
        raise InputError(
            f"{path}, run {name!r}, key 'format': {found}, written by an older voxpop (this one reads format "
            f"{current}); {RERUN}"
        )
    raise InputError(f"{path}, run {name!r}, key 'format': {str(found)[:40]!r} is not a format version; {RERUN}")


def check_run_paths(out: Path, path: Path, name: str, stages: dict[str, str], folds: Sequence[str]) -> None:
    """Refuse a run record whose stage paths leave ``out`` or whose folds are missing, repeated or not plain names.

    Args:
        out: the study output directory holding ``runs.json``.
        path: the ``runs.json`` file.
        name: the run's name.
        stages: the record's stage paths by key (``stage``, ``labels_stage``), relative to ``out``; the fold
            folders lie in the ``stage`` one.
        folds: the record's fold names.

    Raises:
        InputError: a stage path that is absolute, holds ``..`` or resolves (through a symlink) outside ``out``;
            a stage folder that does not exist (a ``runs.json`` of another run, or the cache removed); no folds;
            a fold listed twice; a fold whose folder (its name encoded, :func:`~voxpop.core.paths.id_filename`,
            so ``../..`` names a folder inside the stage) is not in the stage's ``folds`` folder. Names the file,
            the run and the key.
    """
    for key, value in stages.items():
        given = Path(value)
        if given.is_absolute() or ".." in given.parts or not (out / given).resolve().is_relative_to(out.resolve()):
            raise InputError(
                f"{path}: run {name!r}, {key} {value[:80]!r} is not a folder inside {out}; voxpop reads a run only "
                f"from the output directory it was written to. {RERUN}"
            )
        if not (out / given).is_dir():
            raise InputError(
                f"{path}, run {name!r}, key {key!r}: {value[:80]!r}: no such stage folder in {(out / given).parent}: "
                f"a {path.name} of another run, or the cache was removed; run the study again."
            )
    if not folds:
        raise InputError(f"{path}, run {name!r}, key 'folds': empty; a run has one model per fold. {RERUN}")
    repeated = sorted({f for f in folds if list(folds).count(f) > 1})
    if repeated:
        raise InputError(f"{path}, run {name!r}, key 'folds': {repeated[0][:40]!r} is listed twice. {RERUN}")
    for fold in folds:  # fold names are ids: encoded into folder names inside the stage, never paths
        try:
            folder = fold_folder(out / stages["stage"], fold) if isinstance(fold, str) else None
        except ConfigError:  # empty, or too long to name a folder
            folder = None
        if folder is None or not folder.is_dir():
            missing = "" if folder is None else f": no fold folder {excerpt(folder.name, 60)} in {folder.parent}"
            raise InputError(
                f"{path}, run {name!r}, key 'folds': {excerpt(fold)}{missing}; not a fold of this run (a fold name "
                f"edited, a {path.name} of another run, or the fold folder removed). {RERUN}"
            )


def fold_folder(stage: Path, name: str) -> Path:
    """``stage/folds/<fold>``, the fold name encoded (:func:`~voxpop.core.paths.id_filename`), so a fold name is
    data: ``..`` or ``/`` in it never leads out of the stage. A run an older voxpop wrote keeps its folder of the
    name as it was (``/`` read as ``_``) when that is a plain folder in it.

    Args:
        stage: a train stage folder; name: a fold name.

    Returns:
        The fold's folder (which may not exist).
    """
    path = stage / "folds" / id_filename(name)
    legacy = stage / "folds" / name.replace(os.sep, "_")
    if name not in (".", "..") and not path.exists() and legacy.is_dir() and not legacy.is_symlink():
        return legacy
    return path
