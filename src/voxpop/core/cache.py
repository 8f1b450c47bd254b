"""Stages, the content-hash cache of their outputs, the stable hash and the one atomic writer.

A :class:`Stage` is one unit of work (a label set, a feature extraction, a cross-validated model, an
evaluation, an analysis). Its key is a hash of its kind, its configuration and its inputs' keys, so
two stages with equal inputs and configuration are one stage, and changing anything upstream gives
new keys downstream. :class:`Cache` keeps each stage's outputs in ``CACHE/<kind>-<key>/``.

The file ``.done`` is written last, after every output was written. It records the stage's directory
name (``<kind>-<key>``), every output file's relative path, size, modification time and BLAKE2b
checksum, a random ``token`` of this computation, and the tokens of the input stages it read. A
``.done`` that names another stage (two stage folders swapped or renamed), or whose record is not of
the shape written here, is damage like a changed file. A stage is reused only when the cheap check passes: every
recorded file exists with its size (a file whose modification time changed is hashed again), and
every input stage still carries the token this stage was computed from, so an upstream stage that was
recomputed makes its dependents recompute too. :meth:`Cache.verify` checks every checksum in full
(``voxpop validate --cache``). A directory without ``.done`` is unfinished and is computed again,
keeping its files (a cross-validation resumes its finished folds); a directory whose ``.done`` fails
the check, or predates the record, is emptied and recomputed, with a one-line notice. The cache root holds a
cache directory tag naming voxpop (:data:`CACHE_TAG`), by which ``validate --cache`` tells a cache from any folder.

Every file voxpop writes goes through :func:`atomic_write`: a temporary file beside the target
(created exclusively, never through a symlink), fsync, ``os.replace`` onto the final name. A reader
sees the old file or the whole new one; a symlink planted at the final name is replaced, not written
through. :func:`output_directory` creates sub-folders of a folder the user named and refuses one
reached through a symlink that leads outside it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from voxpop.core.errors import VoxpopError
from voxpop.core.formatting import excerpt, parse_error
from voxpop.core.paths import cannot_write, check_file_target, check_folder_target, make_folder

FORMAT_VERSION = 1
"""Version of voxpop's stored formats; part of every hash, bump it when a layout changes."""

DONE = ".done"
CACHE_TAG = "CACHEDIR.TAG"
"""The marker of a voxpop cache root, written by :meth:`Cache.run` (kept when present): a cache directory tag
(https://bford.info/cachedir/, which backup tools skip) naming voxpop, :data:`CACHE_TAG_TEXT`."""
CACHE_TAG_TEXT = b"Signature: 8a477f597d28d172789f06886806bc55\n# A cache directory tag created by voxpop.\n"
DONE_FORMAT = 2
"""Version of the ``.done`` record; 2 added the stage name. A record of another version is recomputed."""
_CHUNK = 1 << 20


# ====================================================================== the stable hash
def canonical_json(value: object) -> str:
    """JSON with sorted keys and no spaces: equal values give equal text.

    >>> canonical_json({"b": 1, "a": [1.5, None]})
    '{"a":[1.5,null],"b":1}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def stable_hash(value: object) -> str:
    """sha256 (hex) of :func:`canonical_json` of ``value`` together with :data:`FORMAT_VERSION`.

    The key of every cached stage and feature store: equal values (mappings in any key order) give equal hashes,
    and a new :data:`FORMAT_VERSION` changes every hash.

    Args:
        value: a JSON-able value (mappings, lists, strings, numbers, booleans, None; no NaN).

    Returns:
        64 lowercase hex digits.

    Raises:
        TypeError: ``value`` holds an object JSON cannot write.
        ValueError: ``value`` holds NaN or an infinity.

    Example:
        >>> stable_hash({"a": 1, "b": 2}) == stable_hash({"b": 2, "a": 1})
        True
        >>> len(stable_hash({"a": 1}))
        64
    """
    return hashlib.sha256(canonical_json({"format": FORMAT_VERSION, "value": value}).encode()).hexdigest()


# ====================================================================== the atomic writer
def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def notify(message: str) -> None:
    """The default one-line notice (damaged outputs being recomputed): printed to stderr."""
    print(message, file=sys.stderr)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None], *, exclusive: bool = False) -> bool:
    """Write ``path`` so that readers see either the old file or the whole new one; never through a symlink.

    The data go to a new temporary file beside ``path`` (``O_EXCL | O_NOFOLLOW``), are fsynced and moved onto
    ``path`` with ``os.replace``, which replaces a symlink at ``path`` itself. If ``write`` raises, the temporary
    file is removed and ``path`` is unchanged. The directory is fsynced so that the new name survives a crash.

    Args:
        path: the file to write; its parent folder must exist.
        write: called once with a binary file open for writing (``df.to_parquet``, ``np.save``,
            ``fig.savefig`` accept one).
        exclusive: keep an existing ``path`` (the new file is linked in with ``os.link``, which fails when the
            name exists) and return False.

    Returns:
        True when ``path`` was written; False when ``exclusive`` and ``path`` existed already.

    Raises:
        ConfigError: ``path`` is a folder or its parent folder is missing
            (:func:`voxpop.core.paths.check_file_target`), or that folder does not take a new file (read-only,
            no permission, ``/proc``).

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "a.bin"
        >>> atomic_write(target, lambda handle: handle.write(b"abc")), target.read_bytes()
        (True, b'abc')
        >>> atomic_write(target, lambda handle: handle.write(b"xyz"), exclusive=True), target.read_bytes()
        (False, b'abc')
    """
    path = Path(path)
    check_file_target(path)
    tmp = _temporary(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        try:
            descriptor = os.open(tmp, flags, 0o666)
        except OSError as exc:  # a read-only or virtual folder (/proc), no permission, no space for an entry
            raise cannot_write(path, exc, f"the folder {path.parent} does not take a new file") from None
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            try:
                os.link(tmp, path, follow_symlinks=False)
            except FileExistsError:
                return False
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_directory(path.parent)
    return True


def parse_json(text: str) -> Any:
    """``json.loads``, where nesting too deep for the parser is the ``ValueError`` of any malformed JSON
    (a hand-made or damaged file is then reported or recomputed, never a ``RecursionError``), and so is a key
    given twice in one object (``json`` would keep the last silently; :func:`parse_yaml` refuses it too).

    The ``ValueError``'s text quotes none of ``text`` beyond a short excerpt of a key
    (:func:`voxpop.core.formatting.excerpt`).

    >>> parse_json('{"neu": "Neutral", "neu": "Sad"}')
    Traceback (most recent call last):
    ...
    ValueError: key 'neu' is given twice in one object; keep one
    """
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ValueError("nested too deeply to be a voxpop file") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """The object of ``pairs``; a key given twice is a ValueError naming it."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {excerpt(key)} is given twice in one object; keep one")
        result[key] = value
    return result


def parse_yaml(text: str) -> Any:
    """``yaml.safe_load`` that refuses a mapping key given twice (PyYAML would keep the last silently).

    Raises ``yaml.YAMLError`` for a repeated key, malformed YAML, or nesting too deep for the parser; its text
    gives the line and column and the problem (:func:`voxpop.core.formatting.parse_error`), never the line of
    the file itself.
    """
    import yaml

    class _UniqueKeys(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen: set = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {excerpt(key)} is given twice in one mapping; keep one", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    try:
        return yaml.load(text, Loader=_UniqueKeys)
    except yaml.MarkedYAMLError as exc:
        raise yaml.YAMLError(parse_error(exc)) from None
    except RecursionError:
        raise yaml.YAMLError("nested too deeply to be a voxpop file") from None


def write_bytes(path: str | Path, data: bytes, *, exclusive: bool = False) -> bool:
    """:func:`atomic_write` of ``data``.

    Args:
        path: the file to write.
        data: its whole content.
        exclusive: keep an existing ``path`` (see :func:`atomic_write`).

    Returns:
        True when ``path`` was written, False when ``exclusive`` kept an existing one.

    Raises:
        ConfigError: as :func:`atomic_write`.
    """
    return atomic_write(path, lambda handle: handle.write(data), exclusive=exclusive)


def write_text(path: str | Path, text: str) -> None:
    """:func:`atomic_write` of ``text`` as UTF-8 with ``\\n`` line ends.

    Args:
        path: the file to write (replaced when it exists).
        text: its whole content; written as given (no newline translation).

    Raises:
        ConfigError: as :func:`atomic_write`.
    """
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, value: object, *, exclusive: bool = False) -> bool:
    """:func:`atomic_write` of ``value`` as indented JSON (one space per level; other objects as ``str()``).

    Args:
        path: the file to write.
        value: a JSON-able value; objects JSON cannot write (paths, timestamps) are written as their ``str()``.
        exclusive: keep an existing ``path`` (see :func:`atomic_write`).

    Returns:
        True when ``path`` was written, False when ``exclusive`` kept an existing one.

    Raises:
        ConfigError: as :func:`atomic_write`.
    """
    return write_bytes(path, json.dumps(value, indent=1, default=str).encode(), exclusive=exclusive)


def output_directory(root: str | Path, *parts: str) -> Path:
    """``root / parts`` created as needed, refusing to leave ``root`` through a symlinked sub-folder.

    ``root`` (the folder the user named) may itself be a symlink; every existing component below it
    must resolve inside ``root``. Raises VoxpopError for a part that is absolute, holds ``..``, or is
    (or lies under) a symlink leading outside ``root``, and ConfigError when ``root`` or a parent of it is
    an existing file (:func:`voxpop.core.paths.check_folder_target`); nothing is created in that case.
    """
    root = Path(root)
    check_folder_target(root)
    make_folder(root)
    base = root.resolve()
    path = root
    for part in (piece for given in parts for piece in Path(given).parts):
        if part in ("..", "") or Path(part).is_absolute():
            raise VoxpopError(f"{root}: refusing to write into {Path(*parts)}: it is absolute or contains '..'")
        path = path / part
        if path.is_symlink() or path.exists():
            if not path.resolve().is_relative_to(base):
                raise VoxpopError(
                    f"{path}: is a symlink leading outside {root} (to {path.resolve()}); voxpop writes only inside "
                    f"the folder it was given. Remove the link, or name the target folder directly."
                )
            if not path.is_dir():
                raise VoxpopError(f"{path}: exists and is not a folder; move it away")
        else:
            make_folder(path, parents=False)
    return path


# ====================================================================== output records
def file_digest(path: str | Path) -> str:
    """BLAKE2b (hex) of a file's bytes, read in 1 MiB chunks (memory stays flat for multi-GB files).

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d) / "x"
    ...     _ = p.write_bytes(b"abc")
    ...     file_digest(p) == hashlib.blake2b(b"abc").hexdigest()
    True
    """
    digest = hashlib.blake2b()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def record_files(directory: Path, skip: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Per file under ``directory`` (relative POSIX path): ``bytes``, ``mtime_ns`` and ``blake2b``.

    Temporary files of killed writers (``.*.tmp``) and the names in ``skip`` are left out.
    """
    record = {}
    for path in sorted(directory.rglob("*")):
        name = path.relative_to(directory).as_posix()
        if path.is_symlink() or not path.is_file() or name in skip or path.name.endswith(".tmp"):
            continue
        record[name] = file_record(path)
    return record


def file_record(path: Path) -> dict[str, Any]:
    """One file's ``bytes``, ``mtime_ns`` and ``blake2b`` (:func:`file_digest`)."""
    stat = path.stat()
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "blake2b": file_digest(path)}


def damaged_files(directory: Path, record: Mapping[str, Mapping[str, Any]], *, full: bool = False) -> list[str]:
    """What differs between the files under ``directory`` and their ``record`` (:func:`record_files`).

    The cheap check (``full=False``) compares sizes and hashes only files whose modification time
    changed; ``full=True`` hashes every file. Returns one message per damaged file (empty: intact).
    """
    problems = []
    for name, expected in record.items():
        parts = Path(name).parts  # (a part over NAME_MAX bytes, or a name over PATH_MAX: no file voxpop wrote)
        if Path(name).is_absolute() or ".." in parts or not parts or max(len(os.fsencode(p)) for p in parts) > 255 \
                or len(os.fsencode(name)) > 4095:
            problems.append(f"the record names {excerpt(name)}, which is not a file inside the stage folder")
            continue
        if not _is_file_record(expected):
            problems.append(f"the record of {name} is damaged (expected its bytes, mtime_ns and blake2b)")
            continue
        path = directory / name
        if path.is_symlink() or not path.is_file():
            problems.append(f"{name} is missing")
            continue
        stat = path.stat()
        if stat.st_size != expected["bytes"]:
            problems.append(f"{name} has {stat.st_size} bytes, {expected['bytes']} were written")
        elif (full or stat.st_mtime_ns != expected["mtime_ns"]) and file_digest(path) != expected["blake2b"]:
            problems.append(f"{name} differs from what was written (checksum)")
    return problems


def _is_file_record(entry: object) -> bool:
    """Whether ``entry`` has the shape :func:`file_record` writes: integer ``bytes`` and ``mtime_ns``, text ``blake2b``.

    >>> _is_file_record({"bytes": 3, "mtime_ns": 1, "blake2b": "ab"}), _is_file_record({"mtime_ns": 1, "blake2b": ""})
    (True, False)
    """
    if not isinstance(entry, Mapping):
        return False
    integers = all(isinstance(entry.get(k), int) and not isinstance(entry.get(k), bool) for k in ("bytes", "mtime_ns"))
    return integers and isinstance(entry.get("blake2b"), str)


# ====================================================================== stages and the cache
LOCATIONS = "paths"
"""The entry of a stage's config that says where its input files lie (absolute paths, read by the computation)
and is left out of the stage's key: the key holds those files' contents (their hashes) instead, so the same
recipe run from two folders, or with its files moved, finds the same stages."""


@dataclasses.dataclass(frozen=True, eq=False)
class Stage:
    """One unit of work of the cache: what it computes and from what; its :attr:`key` names its folder.

    Args:
        kind: the kind of work (``labels``, ``features``, ``train``, ``evaluate``, ...): the folder's prefix.
        label: a readable name for progress lines and notices (not part of the key).
        config: the JSON-able configuration; part of the key, except its :data:`LOCATIONS` entry.
        inputs: the stages whose outputs it reads; their keys are part of its key.
    """

    kind: str
    label: str
    config: Mapping[str, Any]
    inputs: tuple[Stage, ...] = ()

    @functools.cached_property
    def key(self) -> str:
        """sha256 (first 20 hex digits) of kind, config (without its :data:`LOCATIONS`) and the inputs' keys.

        >>> a = Stage("labels", "MR", {"rule": "mr"})
        >>> a.key == Stage("labels", "MR", {"rule": "mr", LOCATIONS: {"file": "/home/me/labels.parquet"}}).key
        True
        >>> a.key == Stage("labels", "another label", {"rule": "mr"}).key
        True
        >>> Stage("train", "t", {}, (a,)).key == Stage("train", "t", {}, (Stage("labels", "PR", {"rule": "pr"}),)).key
        False
        """
        config = {name: value for name, value in self.config.items() if name != LOCATIONS}
        return stable_hash({"kind": self.kind, "config": config, "inputs": [s.key for s in self.inputs]})[:20]

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.key}"


def read_done(directory: Path) -> dict | None:
    """The ``.done`` record of a stage directory; None when absent, {} when unreadable, of an older voxpop, or
    not of the shape :meth:`Cache._finish` writes (a list where a mapping belongs, a token that is not text)."""
    try:
        text = (directory / DONE).read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError):
        return {}
    try:
        record = parse_json(text)
    except ValueError:
        return {}
    return record if _is_done_record(record) else {}


def _is_done_record(record: object) -> bool:
    """Whether ``record`` has the shape of a ``.done`` record of this version (file entries are checked one by one
    by :func:`damaged_files`)."""
    if not isinstance(record, dict) or record.get("format") != DONE_FORMAT:
        return False
    inputs = record.get("inputs")
    shaped = isinstance(record.get("files"), dict) and isinstance(inputs, dict)
    texts = all(isinstance(record.get(k), str) for k in ("stage", "token"))
    return shaped and texts and all(isinstance(v, str) for v in inputs.values())


def stage_problems(directory: Path, *, full: bool = False, inputs: Mapping[str, str] | None = None) -> list[str]:
    """Why the finished stage in ``directory`` cannot be reused (empty: it can).

    Checks that the ``.done`` record is of this version's shape and names this directory's stage (a record
    naming another stage is the only problem reported: the folder holds another stage's outputs), then the
    record's files (:func:`damaged_files`; ``full`` hashes every file) and, when
    ``inputs`` (input stage directory name -> its current token) is given, that each input still
    carries the token this stage was computed from.
    """
    record = read_done(directory)
    if record is None:
        return ["not computed"]
    if not record:
        return [f"{DONE} has no record of the output files (written by an older voxpop, or damaged)"]
    if record["stage"] != directory.name:
        return [
            f"{DONE} records the outputs of stage {record['stage']}, not of {directory.name} "
            "(stage folders swapped, renamed or copied)"
        ]
    problems = damaged_files(directory, record["files"], full=full)
    recorded = record["inputs"]
    for name, token in (inputs or {}).items():
        if recorded.get(name) != token:
            problems.append(f"its input {name} was recomputed since")
    return problems


class Cache:
    """Stage outputs under ``root``; records which stages ran (``executed``), were reused and were repaired.

    ``reused`` lists the stages found done from an earlier computation: a stage this cache computed and then
    found done again (a label set the pre-flight check built through its stage, read by the runner) is
    listed once, as executed; ``seconds`` holds the wall time of each stage it computed, by stage name.

    Args:
        root: the cache folder; stage ``s`` keeps its outputs in ``root/<kind>-<key>/``.
        notice: receives one line per finished stage that is recomputed because it is damaged or stale
            (default: printed to stderr).
        inside: the folder the user named when ``root`` is a sub-folder of it (``OUT/cache``): stage
            directories are created only inside it (:func:`output_directory`). Default ``root``.
    """

    def __init__(
        self, root: str | Path, notice: Callable[[str], None] | None = None, inside: str | Path | None = None
    ) -> None:
        self.root = Path(root)
        self.inside = Path(inside) if inside is not None else self.root
        self._parts = self.root.relative_to(self.inside).parts
        self.executed: list[str] = []
        self.reused: list[str] = []
        self.repaired: list[str] = []
        self.notice = notice or notify
        self._computed: set[str] = set()  # stage names computed through this cache
        self._tagged = False  # CACHE_TAG written (or found) by this object
        self.seconds: dict[str, float] = {}  # wall time of each stage computed through this cache, by stage name

    def directory(self, stage: Stage) -> Path:
        return self.root / stage.name

    def token(self, stage: Stage) -> str | None:
        """The random token of the stage's finished computation (None when not finished)."""
        record = read_done(self.directory(stage))
        return record.get("token") if record else None

    def problems(self, stage: Stage) -> list[str]:
        """Why ``stage`` cannot be reused (empty: done and intact), by the cheap check."""
        inputs = {s.name: self.token(s) for s in stage.inputs}
        return stage_problems(self.directory(stage), inputs=inputs)

    def is_done(self, stage: Stage) -> bool:
        return not self.problems(stage)

    def run(self, stage: Stage, compute: Callable[[Path], None]) -> Path:
        """The stage's directory, computing its outputs first unless they are done and intact."""
        problems = self.problems(stage)
        if not problems:
            if stage.name not in self._computed:
                self.reused.append(stage.label)
            return self.directory(stage)
        if problems != ["not computed"]:
            self.discard(stage, "; ".join(problems))
        if not self._tagged:  # the cache root's marker: validate --cache tells a cache from any folder by it
            tag = output_directory(self.inside, *self._parts) / CACHE_TAG
            if not tag.is_file():
                write_bytes(tag, CACHE_TAG_TEXT, exclusive=True)
            self._tagged = True
        directory = output_directory(self.inside, *self._parts, stage.name)
        started = time.monotonic()
        compute(directory)
        self._finish(stage, directory)
        self._computed.add(stage.name)
        self.executed.append(stage.label)
        self.seconds[stage.name] = time.monotonic() - started
        return directory

    def discard(self, stage: Stage, reason: str) -> None:
        """Empty a finished stage's directory so it is recomputed, with a one-line notice naming ``reason``."""
        directory = output_directory(self.inside, *self._parts, stage.name)
        self.notice(f"stage '{stage.label}' ({directory}): {reason}; recomputing it")
        self.repaired.append(stage.label)
        shutil.rmtree(directory)

    def _finish(self, stage: Stage, directory: Path) -> None:
        inputs = [s.name for s in stage.inputs]
        info = {"kind": stage.kind, "label": stage.label, "config": stage.config, "inputs": inputs}
        write_text(directory / "stage.json", json.dumps(info, indent=1, sort_keys=True, default=str))
        record = {
            "format": DONE_FORMAT,
            "stage": directory.name,
            "token": uuid.uuid4().hex,
            "inputs": {s.name: self.token(s) for s in stage.inputs},
            "files": record_files(directory, skip=(DONE,)),
        }
        write_json(directory / DONE, record)

    def verify(self) -> dict[str, list[str]]:
        """Every finished stage directory under ``root`` with its problems, by the full checksum check.

        Keys are the directory names (``<kind>-<key>``) with the stage's label when ``stage.json`` names it;
        only damaged stages are listed (empty: all intact). A stage folder that is a symlink is listed (voxpop
        writes stage folders itself, never links), its target not read.
        """
        damaged = {}
        for link in sorted(p for p in self.root.iterdir() if p.is_symlink() and (p / DONE).exists()):
            damaged[f"{link.name} (a symlink)"] = [
                f"the stage folder is a symlink to {os.path.realpath(link)}; voxpop does not read stages through "
                "links: remove the link (the next run recomputes the stage) or move the folder itself here"
            ]
        for directory in sorted(p for p in self.root.iterdir() if (p / DONE).exists() and not p.is_symlink()):
            problems = stage_problems(directory, full=True)
            recorded = (read_done(directory) or {}).get("inputs", {})
            for name, token in recorded.items():
                current = read_done(self.root / name)
                if not current or current.get("token") != token:
                    problems.append(f"its input {name} was recomputed since, or is gone")
            if problems:
                damaged[f"{directory.name} ({_stage_label(directory)})"] = problems
        return damaged


def _stage_label(directory: Path) -> str:
    try:
        return str(parse_json((directory / "stage.json").read_text())["label"])
    except (OSError, ValueError, KeyError, TypeError):
        return "label unknown"

