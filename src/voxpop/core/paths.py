"""The kind of file system entry a path names, checked before voxpop reads or writes it.

A table given as a folder or a device file (``/dev/zero``, a named pipe) is refused with a message
saying what it is, instead of "not found", an endless read or a ``MemoryError``. A file to write whose
name is an existing folder, or one of whose parent folders is a file, is refused naming that path,
instead of ``IsADirectoryError`` / ``FileExistsError`` / ``NotADirectoryError`` tracebacks.
"""

from __future__ import annotations

import errno
import os
import stat
import urllib.parse
from pathlib import Path

from voxpop.core.errors import ConfigError, InputError


def entry_kind(path: Path) -> str | None:
    """What ``path`` is, following symlinks: ``"file"``, ``"folder"``, ``"device"`` (character or block device),
    ``"pipe"``, ``"socket"``, or None when nothing is there (a dangling symlink included).

    >>> entry_kind(Path("/")), entry_kind(Path("/no/such/thing"))
    ('folder', None)
    """
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:  # e.g. a symlink loop or no permission: reading it fails the same way
        return "unreadable entry"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISFIFO(mode):
        return "pipe"
    return "socket" if stat.S_ISSOCK(mode) else "special file"


def input_file(path: str | Path, what: str) -> Path:
    """``path`` when it is a regular file (or a symlink to one) that voxpop can read as a ``what`` file.

    Args:
        path: the file the user named.
        what: what the file holds, for the message (``"ratings"``, ``"predictions"``).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: nothing is there; it is a folder (give the file inside it); it is a device, pipe or socket
            (voxpop reads tables from regular files only: an endless stream is never read).

    Example:
        >>> input_file("/", "ratings")
        Traceback (most recent call last):
        ...
        voxpop.core.errors.InputError: /: is a folder, not a ratings file; give the path of the file inside it.
    """
    path = Path(path)
    kind = entry_kind(path)
    if kind is None:
        raise InputError(f"{path}: {what} file not found.")
    if kind == "folder":
        raise InputError(f"{path}: is a folder, not a {what} file; give the path of the file inside it.")
    if kind != "file":
        raise InputError(
            f"{path}: is a {kind}, not a regular {what} file; voxpop reads tables from files only: save the data "
            "to a file and give its path."
        )
    return path


def output_file(path: str | Path) -> Path:
    """``path`` ready to be written as a file: its parent folders are created; nothing is written yet.

    Args:
        path: the file to be written.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: ``path`` is an existing folder (a symlink to one included; give a file name), a device,
            pipe or socket, or a parent of it exists and is not a folder (a file named like the folder voxpop
            would create); nothing is created then.
    """
    path = Path(path)
    check_file_target(path, create_parents=True)
    make_folder(path.parent)
    return path


def make_folder(path: Path, *, parents: bool = True) -> None:
    """Create the folder ``path`` (and its parents) if missing; a folder that cannot be created (read-only,
    no permission, ``/proc``) is a :class:`ConfigError` naming it (:func:`cannot_write`), not an OSError traceback."""
    try:
        path.mkdir(parents=parents, exist_ok=True)
    except OSError as exc:
        raise cannot_write(path, exc, "the folder cannot be created") from None


WRITE_ERRORS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}
"""The errors of a folder that takes no writes (read-only file system, no permission, full), which every verb
reports in one line (:func:`os_error_message`)."""


def cannot_write(path: str | Path, error: OSError, what: str = "") -> ConfigError:
    """The one-line error of a write to ``path`` that the system refused: ``cannot write to PATH: read-only file
    system`` (the system's reason, lower case), then ``what`` happened and what to do.

    >>> import errno
    >>> str(cannot_write("/mnt/ro/out", OSError(errno.EROFS, "Read-only file system")))
    'cannot write to /mnt/ro/out: read-only file system. Give a path in a folder you can write to.'
    """
    reason = (error.strerror or str(error) or type(error).__name__).lower()
    return ConfigError(
        f"cannot write to {path}: {reason}{f' ({what})' if what else ''}. Give a path in a folder you can write to."
    )


def os_error_message(error: OSError) -> str | None:
    """One line for an OSError that reached the command line with a file name and a reason of :data:`WRITE_ERRORS`
    (a write the folder refused, below voxpop's own writers): ``cannot write to X: read-only file system`` (or
    ``no space left on device``), or for ``EACCES`` / ``EPERM`` ``cannot read or write X: permission denied``;
    None for any other error (a bug, shown with its traceback).

    >>> import errno
    >>> os_error_message(OSError(errno.EROFS, "Read-only file system", "/mnt/ro/a.parquet"))
    'cannot write to /mnt/ro/a.parquet: read-only file system. Give a path in a folder you can write to.'
    >>> os_error_message(OSError(errno.ENOENT, "No such file or directory", "x")) is None
    True
    """
    if error.errno not in WRITE_ERRORS or not error.filename:
        return None
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"cannot read or write {error.filename}: permission denied. Check its and its folder's permissions."
    return str(cannot_write(error.filename, error))


def check_file_target(path: Path, *, create_parents: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``path`` can be written as a file (see :func:`output_file`); without
    ``create_parents`` its parent folder must exist."""
    kind = entry_kind(path)
    if kind == "folder":
        link = f" (through the symlink to {os.path.realpath(path)})" if path.is_symlink() else ""
        raise ConfigError(
            f"{path}: is a folder{link}; a file is written here. Give a file name (a new file inside the folder, "
            "or elsewhere) or move the folder away."
        )
    if kind not in (None, "file"):  # a device or pipe would be replaced by the new file, or block a comparison
        raise ConfigError(
            f"{path}: is a {kind}, not a regular file; a file is written here (a new file moved into place). "
            "Give the name of a new or existing regular file."
        )
    blocker = _non_folder_parent(path.parent)
    if blocker is not None:
        raise ConfigError(
            f"{path}: cannot be written: {blocker} is a {entry_kind(blocker)}, not a folder. Give another path, "
            "or move that file away."
        )
    if not create_parents and entry_kind(path.parent) is None:
        raise ConfigError(f"{path}: cannot be written: the folder {path.parent} does not exist; create it first.")


def check_folder_target(path: Path) -> None:
    """Raise :class:`ConfigError` when the folder ``path`` cannot be created or written into: it, or one of its
    parents, exists and is not a folder (an output folder named like an existing file)."""
    kind = entry_kind(path)
    if kind not in (None, "folder"):
        raise ConfigError(
            f"{path}: is a {kind}; a folder is written here. Give the name of a new or existing folder, "
            "or move the file away."
        )
    blocker = _non_folder_parent(path.parent)
    if blocker is not None:
        raise ConfigError(
            f"{path}: cannot be created: {blocker} is a {entry_kind(blocker)}, not a folder. Give another path."
        )


def _non_folder_parent(directory: Path) -> Path | None:
    """The nearest of ``directory`` and its parents that exists and is not a folder (None: all existing ones are)."""
    for candidate in (directory, *directory.parents):
        kind = entry_kind(candidate)
        if kind is not None:
            return None if kind == "folder" else candidate
    return None


_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
MAX_ENCODED_ID = 200
"""Most bytes of an encoded id (:func:`id_filename`): file systems allow 255 per name, and voxpop adds suffixes
such as ``.onnx`` or ``.lock``."""


def id_filename(value: str) -> str:
    """The file (or folder) name that stands for the id ``value``: the one reversible encoding every place uses
    where an id (an item, rater, fold or group) becomes part of a path.

    Every character outside ``[A-Za-z0-9._-]`` and every leading dot is percent-encoded (UTF-8 bytes, ``%XX``
    upper-case), so the name never holds ``/`` or ``\\``, is never ``.`` or ``..`` nor hidden, and two ids
    never share a name. :func:`filename_id` gives the id back.

    Args:
        value: the id, exactly as the corpus or recipe holds it.

    Returns:
        The name (``value`` itself when it is already plain, such as ``fold1``).

    Raises:
        ConfigError: ``value`` is empty (it names no file), or its encoding is longer than
            :data:`MAX_ENCODED_ID` bytes (rename the id).

    Example:
        >>> id_filename("fold1"), id_filename("a/b"), id_filename(".."), id_filename("50%")
        ('fold1', 'a%2Fb', '%2E%2E', '50%25')
    """
    text = str(value)
    if not text:
        raise ConfigError("an empty id cannot name a file; give every item, rater, fold and group a non-empty id.")
    dots = len(text) - len(text.lstrip("."))
    parts = ["%2E" * dots]
    for char in text[dots:]:
        parts.append(char if char in _PLAIN else "".join(f"%{byte:02X}" for byte in char.encode("utf-8")))
    name = "".join(parts)
    if len(name) > MAX_ENCODED_ID:
        raise ConfigError(
            f"the id {text[:40]!r}{'...' if len(text) > 40 else ''} is too long to name a file: encoded it takes "
            f"{len(name)} bytes, over the {MAX_ENCODED_ID} allowed; give it a shorter id."
        )
    return name


def filename_id(name: str) -> str:
    """The id that :func:`id_filename` encoded as ``name``.

    Args:
        name: a file or folder name voxpop wrote for an id.

    Returns:
        The id, exactly as it was.

    Raises:
        InputError: ``name`` is not what :func:`id_filename` writes for any id (a file put there by hand).

    Example:
        >>> filename_id("a%2Fb"), filename_id("%2E%2E"), filename_id("caf%C3%A9")
        ('a/b', '..', 'café')
    """
    try:
        value = urllib.parse.unquote(name, errors="strict")
    except UnicodeDecodeError:
        value = None
    if value is None or not value or id_filename(value) != name:
        raise InputError(f"{name!r}: not a file name voxpop writes for an id; it was not made by voxpop.")
    return value
