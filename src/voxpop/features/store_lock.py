"""Per-entry locks of the feature store: readers share an entry, ``voxpop store prune`` takes it alone.

Every entry ``ROOT/<name>/`` has a lock file ``ROOT/.locks/<name>.lock`` (kept when the entry is pruned, so
two processes always lock the same file). A process filling or reading an entry holds a shared
``fcntl.flock`` on it (:func:`entry_lock`) and sets the file's modification time to now: the entry's last
use, which ``voxpop store list`` shows and ``prune --older-than`` reads. Prune asks for an exclusive lock
without waiting and skips an entry whose lock another process holds.

Where ``fcntl`` is missing (Windows) no lock is taken: readers are not seen by prune there, so prune only
while no voxpop process runs (a documented limitation); the last-use time is still recorded.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from voxpop.core.cache import output_directory

try:
    import fcntl
except ImportError:  # Windows: no advisory locks (see the module docstring)
    fcntl = None  # type: ignore[assignment]

LOCKS = ".locks"
"""The folder of the lock files under the store root."""

LOCKING = fcntl is not None
"""Whether this platform locks entries (False on Windows: prune cannot see readers there)."""


class EntryInUse(Exception):
    """Another process holds the entry's lock (raised by :func:`entry_lock` with ``blocking=False``)."""


def lock_path(entry: Path) -> Path:
    """The lock file of the store entry folder ``entry`` (``ROOT/.locks/<name>.lock``)."""
    return Path(entry).parent / LOCKS / f"{Path(entry).name}.lock"


def last_used(entry: Path) -> float | None:
    """When the entry was last filled or read (seconds since the epoch; None: never under a lock file)."""
    try:
        return lock_path(entry).stat().st_mtime
    except OSError:
        return None


@contextlib.contextmanager
def entry_lock(entry: Path, *, shared: bool = True, blocking: bool = True) -> Iterator[None]:
    """Hold the lock of the store entry folder ``entry`` for the block (the entry itself need not exist yet).

    Args:
        entry: ``ROOT/<name>``, the entry's folder.
        shared: a reader's or filler's lock (several at once); False: prune's exclusive lock.
        blocking: wait for the lock; False raises :class:`EntryInUse` at once when another process holds it.

    Raises:
        EntryInUse: ``blocking=False`` and the lock is held elsewhere.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> with entry_lock(root / "fbank-0123456789abcdef"):
        ...     last_used(root / "fbank-0123456789abcdef") is not None
        True
    """
    path = output_directory(Path(entry).parent, LOCKS) / f"{Path(entry).name}.lock"
    # read-only: flock needs no write access, so users sharing a store lock each other's lock files
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        if fcntl is not None:
            mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
            try:
                fcntl.flock(fd, mode if blocking else mode | fcntl.LOCK_NB)
            except BlockingIOError:
                raise EntryInUse(str(entry)) from None
        if shared:
            with contextlib.suppress(PermissionError):  # another user's lock file: the use is not recorded
                os.utime(fd if os.utime in os.supports_fd else path)
        yield
    finally:
        os.close(fd)  # closing releases the lock
