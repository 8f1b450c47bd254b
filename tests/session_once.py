"""Expensive test inputs (a finished study, a trained run) built once per test session and shared by every
pytest-xdist worker, so tests that need the same finished thing do not each compute it again.

The first worker to ask builds the folder under a file lock in the session's temporary folder (the parent of the
workers' own ones); the others wait for the lock and find it built. A test that changes what it is given copies
it into its ``tmp_path`` first (``shutil.copytree(..., symlinks=True)``): the shared folder is read-only by
convention.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

BUILT = ".built"
"""The marker written after ``build`` returned: a folder without it (a build that failed or was killed) is
built again from scratch."""


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder ``name`` of this test session, made by ``build(folder)`` the first time any worker asks.

    Args:
        tmp_path_factory: pytest's session temporary-folder factory (its base folder locates the session's).
        name: the folder's name, unique per shared input (also the lock file's stem).
        build: writes the input into the (empty, existing) folder it is given; an exception leaves no marker,
            so the next caller builds again and the exception fails the test that asked.

    Returns:
        The built folder (treat as read-only).
    """
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # gw0, gw1 ...: basetemp is SESSION/popen-gwN; share SESSION
        shared = shared.parent
    folder = shared / name
    with FileLock(str(shared / f"{name}.lock")):
        if not (folder / BUILT).is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / BUILT).touch()
    return folder
