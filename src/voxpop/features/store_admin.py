"""Where the feature store lies on this machine, and its upkeep: :func:`default_store_root`, :func:`list_entries`
and :func:`prune` (``voxpop store list | prune``).

One store per user serves every study, ``voxpop train`` and ``voxpop features`` call and every output folder:
an entry is keyed by the items, their audio files (size + modification time, or content) and the extractor
(:func:`voxpop.features.store.store_key`), so a second study of the same corpus with the same extractor
reads what the first extracted. Pruning takes each entry's exclusive lock without waiting and skips, counting
and naming them, the entries another process is reading or filling (:mod:`voxpop.features.store_lock`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from pathlib import Path

from voxpop.core.cache import parse_json
from voxpop.core.errors import ConfigError
from voxpop.features.store_lock import LOCKS, EntryInUse, entry_lock, last_used

ENVIRONMENT = "VOXPOP_FEATURE_STORE"
"""The environment variable naming the feature store root."""

LOCK_LIMITATION = (
    "this platform has no advisory file locks (fcntl): prune cannot see entries other processes are reading; "
    "prune only while no voxpop process runs"
)
"""What :func:`prune` cannot check where :data:`voxpop.features.store_lock.LOCKING` is False (Windows)."""


def default_store_root() -> Path:
    """The feature store's root when none is given: one folder per user, shared by every study and output folder.

    Returns:
        ``$VOXPOP_FEATURE_STORE`` when set (a relative path is taken from the working directory), else the
        platform's cache folder for voxpop with ``features`` appended (``platformdirs.user_cache_dir``):
        ``$XDG_CACHE_HOME/voxpop/features`` or ``~/.cache/voxpop/features`` on Linux,
        ``~/Library/Caches/voxpop/features`` on macOS, ``%LOCALAPPDATA%\\voxpop\\Cache\\features`` on Windows.
        Always absolute, so Dask workers started elsewhere write to the same folder.
    """
    given = os.environ.get(ENVIRONMENT)
    if given:
        return Path(given).expanduser().absolute()
    import platformdirs

    return Path(platformdirs.user_cache_dir("voxpop", appauthor=False)).absolute() / "features"


@dataclasses.dataclass(frozen=True)
class StoreEntry:
    """One entry of a feature store, as ``voxpop store list`` shows it.

    Args:
        path: the entry's folder (``ROOT/<extractor>-<key[:16]>``).
        extractor: the extractor's registry name and options (``fbank n_mels=40``).
        corpus: the name of the corpus that first asked for it ("" for entries written before voxpop recorded it).
        items: items of the entry.
        complete: every shard is extracted and consolidated.
        size: bytes of its files.
        last_used: when it was last filled or read (seconds since the epoch; its ``store.json``'s modification
            time when no lock file recorded a use).
    """

    path: Path
    extractor: str
    corpus: str
    items: int
    complete: bool
    size: int
    last_used: float


def _describe(spec: dict) -> str:
    """``name key=value ...`` of an extractor spec, without the output version."""
    options = " ".join(f"{k}={v}" for k, v in spec.items() if k not in ("extractor", "version") and v is not None)
    return f"{spec.get('extractor', '?')} {options}".strip()


def _folder_size(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # removed meanwhile by another process
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def _check_root(root: Path) -> Path:
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"feature store {root}: is a file, not a folder; name the store's folder (--store)")
    return root


def list_entries(root: str | Path) -> tuple[list[StoreEntry], list[Path]]:
    """The entries of the store under ``root``, least recently used first, and the other folders found there.

    Args:
        root: the store root (:func:`default_store_root` by default in the CLI).

    Returns:
        ``(entries, others)``: each folder holding a ``store.json`` as a :class:`StoreEntry`; ``others`` the
        folders that are not entries (an unreadable ``store.json``, or no ``store.json``), which prune leaves alone.

    Raises:
        ConfigError: ``root`` is a file.
    """
    root = _check_root(Path(root))
    if not root.is_dir():
        return [], []
    entries, others = [], []
    for path in sorted(p for p in root.iterdir() if p.name != LOCKS and p.is_dir() and not p.is_symlink()):
        try:
            meta = parse_json((path / "store.json").read_text())
            spec, items = meta["extractor"], int(meta["items"])
        except (OSError, ValueError, KeyError, TypeError):
            others.append(path)
            continue
        used = last_used(path)
        if used is None:
            used = (path / "store.json").stat().st_mtime
        complete = (path / "complete.json").is_file()
        corpus = str(meta.get("corpus") or "")
        entries.append(StoreEntry(path, _describe(spec), corpus, items, complete, _folder_size(path), used))
    return sorted(entries, key=lambda e: e.last_used), others


@dataclasses.dataclass
class PruneReport:
    """What :func:`prune` did (or, with ``dry_run``, would do).

    Args:
        removed: the entries removed (would be removed).
        in_use: the entries chosen but skipped because another process holds their lock.
        kept: entries not chosen (used within ``older_than_days``).
        others: folders under the root that are not store entries (left alone).
        dry_run: nothing was removed.
    """

    removed: list[StoreEntry]
    in_use: list[StoreEntry]
    kept: int
    others: list[Path]
    dry_run: bool

    @property
    def freed(self) -> int:
        """Bytes freed (would be freed)."""
        return sum(e.size for e in self.removed)


def prune(
    root: str | Path,
    *,
    older_than_days: float | None = None,
    everything: bool = False,
    dry_run: bool = False,
    now: float | None = None,
) -> PruneReport:
    """Remove the store entries unused for ``older_than_days`` days (or all of them), except those in use.

    Each chosen entry is removed while this process holds its exclusive lock, taken without waiting: an entry
    whose lock another process holds (a study reading or extracting it) is skipped and reported in ``in_use``.
    Lock files stay (a few bytes each), so every process always locks the same file.

    Args:
        root: the store root.
        older_than_days: remove entries last used more than this many days ago.
        everything: remove every entry (``--all``).
        dry_run: remove nothing; report what would be removed (entries in use are still found).
        now: the current time (seconds since the epoch; default ``time.time()``).

    Returns:
        The :class:`PruneReport`.

    Raises:
        ConfigError: neither or both of ``older_than_days`` and ``everything`` given, a negative
            ``older_than_days``, or ``root`` is a file.

    Example:
        >>> import tempfile
        >>> prune(tempfile.mkdtemp(), everything=True).removed
        []
    """
    if (older_than_days is None) == (not everything):
        raise ConfigError("prune needs exactly one of --older-than DAYS (entries unused that long) and --all")
    if older_than_days is not None and not older_than_days >= 0:
        raise ConfigError(f"--older-than must be a number of days >= 0, got {older_than_days}")
    entries, others = list_entries(root)
    cutoff = (time.time() if now is None else now) - (older_than_days or 0) * 86400
    chosen = [e for e in entries if everything or e.last_used < cutoff]
    removed, in_use = [], []
    for entry in chosen:
        try:
            with entry_lock(entry.path, shared=False, blocking=False):
                if not dry_run:
                    shutil.rmtree(entry.path)
        except EntryInUse:
            in_use.append(entry)
            continue
        removed.append(entry)
    return PruneReport(removed, in_use, len(entries) - len(chosen), others, dry_run)
