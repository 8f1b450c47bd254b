"""A corpus directory on disk: written once with a content hash, loaded without validating everything again.

A corpus directory holds ``corpus.yaml`` (the metadata, see :class:`~voxpop.corpus.corpus.Corpus`),
``items.parquet`` and ``ratings.parquet``. The ratings' item, rater, condition, slot and label columns
are stored as Parquet dictionaries (pandas ``category``; :mod:`voxpop.corpus.codes`).

:func:`save_corpus` records the SHA-256 of each table file's bytes in ``corpus.yaml``
(``content_sha256``, with one of the other keys). ``Corpus.load`` (through :func:`read_stored`) trusts a
corpus whose files still have those hashes: it reads the tables and checks only the hashes (a streamed
read of the files), not every rating, since voxpop validated them before writing. Everything is validated
again when asked (``voxpop validate``), when a hash differs (a table or key edited or replaced by hand) and
when ``corpus.yaml`` has no hash (a corpus written by an earlier voxpop, which stored text columns): such a
corpus, once valid, is migrated in place (:func:`migrate`: its ratings rewritten as dictionaries, the hashes
recorded) and a notice says so; when the folder cannot be written, it is validated again on every load.
Relative audio paths are resolved against the corpus
directory on every load, trusted or not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from voxpop.core.cache import atomic_write, output_directory, parse_yaml, write_text
from voxpop.core.errors import InputError, VoxpopError
from voxpop.core.formatting import excerpt
from voxpop.corpus.codes import CODED_COLUMNS
from voxpop.corpus.media_paths import check_corpus_file, resolve_media
from voxpop.corpus.slots import read_slots

log = logging.getLogger(__name__)

TABLES = ("items.parquet", "ratings.parquet")
HASH_KEY = "content_sha256"
_META_KEYS = (
    "name",
    "classes",
    "class_map",
    "excluded",
    "scales",
    "slots",
    "source",
    "license",
    "description",
    "audio_root",
)
_CHUNK = 1 << 20
_TEXT = pd.StringDtype()


def save_corpus(corpus: Any, directory: str | Path) -> Path:
    """Write ``corpus`` into ``directory``: items.parquet, ratings.parquet, then corpus.yaml with their hashes.

    Args:
        corpus: the (validated) :class:`~voxpop.corpus.corpus.Corpus`.
        directory: the corpus directory; created as needed.

    Returns:
        The directory.

    Raises:
        ConfigError: ``directory`` is an existing file or leaves its root through a symlink
            (:func:`voxpop.core.cache.output_directory`).

    Each file is written atomically; corpus.yaml comes last, so a reader never trusts a half-written corpus
    (a table newer than the hashes fails the hash check and is validated instead).
    """
    directory = output_directory(directory)
    atomic_write(directory / "items.parquet", corpus.items.to_parquet)
    _write_ratings(corpus.ratings, directory)
    _write_meta(corpus, directory)
    return directory


def _write_ratings(ratings: pd.DataFrame, directory: Path) -> None:
    """ratings.parquet: one row group, the coded columns as Parquet dictionaries, no per-page statistics.

    A category column is written with its whole dictionary in every row group: at pyarrow's default of
    about a million rows per group, ten million ratings of a million items stored (and read back, and
    merged) that dictionary ten times, most of the write and of every load. One row group stores it once.
    Dictionary encoding is asked for only where the column is one (a category); Parquet would otherwise
    try it on ``source_row`` and the numbers too. Min / max statistics serve readers that skip row groups
    by value; voxpop reads the whole table. ``source_row`` (1, 2, 3 ... per source file) is stored as deltas:
    a few kilobytes instead of eight bytes a rating.
    """
    coded = [c for c in CODED_COLUMNS if c in ratings.columns]
    options = {"use_dictionary": coded, "write_statistics": False, "row_group_size": max(len(ratings), 1)}
    if "source_row" in ratings.columns and pd.api.types.is_integer_dtype(ratings["source_row"].dtype):
        options["column_encoding"] = {"source_row": "DELTA_BINARY_PACKED"}
    atomic_write(directory / "ratings.parquet", lambda handle: ratings.to_parquet(handle, index=False, **options))


def _write_meta(corpus: Any, directory: Path) -> None:
    meta = {
        "name": corpus.name,
        "classes": corpus.classes,
        "class_map": corpus.class_map,
        "excluded": corpus.excluded,
        "scales": {k: list(v) for k, v in corpus.scales.items()},
        "slots": {k: v.to_yaml() for k, v in corpus.slots.items()},
        "source": corpus.source,
        "license": corpus.license,
        "description": corpus.description,
        **({"audio_root": corpus.audio_root} if corpus.audio_root else {}),
    }
    meta[HASH_KEY] = {**{name: file_sha256(directory / name) for name in TABLES}, "metadata": meta_sha256(meta)}
    write_text(directory / "corpus.yaml", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True))


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes as hex, read in 1 MiB chunks (memory stays flat for any size).

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"abc")
    >>> file_sha256(f.name)[:16]
    'ba7816bf8f01cfea'
    >>> os.remove(f.name)
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def meta_sha256(meta: Mapping) -> str:
    """The SHA-256 of ``corpus.yaml``'s keys other than the hashes (as canonical YAML), so an edited class list or
    scale is noticed like an edited table.

    >>> meta_sha256({"name": "x", "classes": ["a"]}) == meta_sha256({"classes": ["a"], "name": "x"})
    True
    """
    kept = {k: v for k, v in meta.items() if k != HASH_KEY}
    canonical = json.dumps(kept, sort_keys=True, ensure_ascii=False, default=str)  # YAML representers may reorder
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclasses.dataclass
class StoredTables:
    """What a corpus directory holds, read: the tables, the Corpus keyword arguments, and whether to trust them.

    ``trusted``: the files match the hashes in ``corpus.yaml`` and no validation was asked for;
    ``old_layout``: ``corpus.yaml`` has no hashes (written by an earlier voxpop).
    """

    directory: Path
    items: pd.DataFrame
    ratings: pd.DataFrame
    meta: dict
    trusted: bool
    old_layout: bool

    def place(self, text: str) -> str:
        """A validation problem's place with its table name (``ratings``, ``items``, ``corpus.yaml``) as the file."""
        files = {name: self.directory / name for name in ("corpus.yaml", *TABLES)}
        return _in_file(text, {"corpus.yaml": files["corpus.yaml"], "items": files["items.parquet"],
                               "ratings": files["ratings.parquet"]})  # fmt: skip


def read_stored(directory: str | Path, validate: bool = False, follow_symlinks: bool | None = None) -> StoredTables:
    """Read a corpus directory written by :func:`save_corpus` and check its content hashes.

    Args:
        directory: the corpus directory.
        validate: never trust it (``voxpop validate``), even when the hashes match.
        follow_symlinks: read ``corpus.yaml`` and the tables through symlinks leading out of ``directory``
            (default: only with the environment variable ``VOXPOP_FOLLOW_SYMLINKS=1``,
            :func:`~voxpop.corpus.media_paths.check_corpus_file`).

    Returns:
        The tables (relative audio paths resolved against ``directory``, on every load), the keyword arguments
        of :class:`~voxpop.corpus.corpus.Corpus` and whether the tables can be trusted without validation.

    Raises:
        InputError: a file is missing or unreadable, a symlink leading out of ``directory`` (unless
            ``follow_symlinks``), or ``corpus.yaml`` is not a mapping or has a key of the wrong shape (naming the
            file and key).
    """
    directory = Path(directory)
    meta_path = directory / "corpus.yaml"
    for path in (meta_path, *(directory / name for name in TABLES)):
        if not path.is_file():
            raise InputError(
                f"{path}: not found. A corpus directory holds corpus.yaml, items.parquet "
                "and ratings.parquet; create one with 'voxpop import'."
            )
        check_corpus_file(path, directory, follow_symlinks)
    meta, hashes, raw = read_meta(meta_path)
    trusted = (
        not validate
        and hashes is not None
        and hashes["metadata"] == meta_sha256(raw)
        and all(file_sha256(directory / name) == hashes[name] for name in TABLES)
    )
    items, ratings = (_read_table(directory / name) for name in TABLES)
    if "audio" in items.columns:  # relative paths name files beside the corpus, never the working directory
        audio = items["audio"]  # its dtype kept: mapping a column without any path gives pyarrow's null type
        items["audio"] = audio.map(lambda p: p if pd.isna(p) or p == "" else resolve_media(p, directory)).astype(
            audio.dtype
        )
    if trusted:
        items.index = pd.Index(items.index, dtype=_TEXT, name="item")
    return StoredTables(directory, items, ratings, meta, trusted, hashes is None)


def migrate(corpus: Any, directory: Path, old_layout: bool) -> None:
    """Record the hashes of a corpus that was validated in full on load (ratings rewritten coded), with a notice.

    ``corpus`` is the :class:`~voxpop.corpus.corpus.Corpus` built from the directory's tables; a folder that cannot
    be written is left as it is (the notice says so and how to re-import it).

    The items table is kept byte for byte (it holds the audio paths as written; the loaded ones are resolved).
    """
    why = (
        "was written by an earlier voxpop (text columns, no content hash)"
        if old_layout
        else "has tables that differ from the hashes in its corpus.yaml (edited or replaced since voxpop wrote them)"
    )
    try:
        _write_ratings(corpus.ratings, directory)
        _write_meta(corpus, directory)
    except (OSError, VoxpopError) as exc:
        log.warning(
            "corpus %s %s; it was validated in full, and could not be updated (%s), so every load validates it "
            "again: re-import it with 'voxpop import' into a writable folder.",
            directory,
            why,
            exc,
        )
        return
    log.warning(
        "corpus %s %s; it was validated in full and updated in place (ratings stored as codes, content hashes "
        "recorded in corpus.yaml), so later loads check only the hashes.",
        directory,
        why,
    )


def read_meta(path: Path) -> tuple[dict, dict[str, str] | None, dict]:
    """The keyword arguments of :class:`~voxpop.corpus.corpus.Corpus` from ``corpus.yaml``, each key checked for
    its shape, the recorded content hashes (file name or ``metadata`` -> SHA-256 hex; None when absent) and the
    mapping as read.

    Raises:
        InputError: the file is not UTF-8 YAML, not a mapping, has an unknown key or a key of the wrong shape
            (naming the file and the key, and what was expected).
    """
    try:
        meta = parse_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid UTF-8 YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise InputError(
            f"{path}: expected a mapping with keys {', '.join(_META_KEYS)} (classes required), "
            f"got a {type(meta).__name__} (a whole document, not shown); restore the file or re-import the corpus"
        )
    unknown = sorted(map(str, set(meta) - {*_META_KEYS, HASH_KEY}))
    if unknown or "classes" not in meta:
        shown = ", ".join(excerpt(k) for k in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise InputError(f"{path}: expected keys {list(_META_KEYS)} (classes required); unknown: {shown or 'none'}")

    def wrong(key: str, expected: str, value: object) -> InputError:
        return InputError(f"{path}, key {key!r}: expected {expected}, got {type(value).__name__} {excerpt(value)}")

    def scalar(value: object) -> bool:
        return isinstance(value, str | int | float | bool) and not (isinstance(value, float) and np.isnan(value))

    out: dict = {"name": meta.get("name", path.parent.name)}
    for key in ("name", "source", "license", "description", "audio_root"):
        value = meta.get(key, out.get(key, ""))
        if value is None:
            value = ""
        if not scalar(value):
            raise wrong(key, "a text", value)
        out[key] = str(value)
    for key in ("classes", "excluded"):
        value = meta.get(key) or []
        if not isinstance(value, list) or not all(scalar(v) for v in value):
            raise wrong(key, "a list of class names", value)
        out[key] = value
    class_map = meta.get("class_map") or {}
    if not isinstance(class_map, dict) or not all(scalar(k) and scalar(v) for k, v in class_map.items()):
        raise wrong("class_map", "a mapping native label -> class name", class_map)
    out["class_map"] = class_map
    scales = meta.get("scales") or {}
    if not isinstance(scales, dict):
        raise wrong("scales", "a mapping slot -> [min, max]", scales)
    for slot, bounds in scales.items():
        numbers = isinstance(bounds, list) and len(bounds) == 2
        if not numbers or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds):
            raise wrong(f"scales.{slot}", "[min, max], two numbers", bounds)
        if not np.isfinite(bounds).all():
            raise wrong(f"scales.{slot}", "[min, max], two finite numbers", bounds)
    out["scales"] = scales
    out["slots"] = read_slots(meta.get("slots"), str(path))
    return out, _hashes(meta.get(HASH_KEY), path), meta


def _hashes(value: object, path: Path) -> dict[str, str] | None:
    """The ``content_sha256`` key: None when absent; a mapping of both table files to hex digests, else an error."""
    if value is None:
        return None
    keys = {*TABLES, "metadata"}
    if not isinstance(value, dict) or set(value) != keys or not all(isinstance(v, str) for v in value.values()):
        raise InputError(
            f"{path}, key {HASH_KEY!r}: expected a mapping {{items.parquet: <sha256>, ratings.parquet: <sha256>, "
            "metadata: <sha256>}}, "
            f"got {excerpt(value)}; delete the key (the corpus is then validated and the hashes recorded again)"
        )
    return value


def _read_table(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for damaged files; all mean the same here
        raise InputError(
            f"{path}: cannot be read as a Parquet table ({type(exc).__name__}: {exc}); the file is damaged "
            "or was replaced: restore it or re-import the corpus"
        ) from None


def _in_file(place: str, files: Mapping[str, Path]) -> str:
    """A problem's place with its leading table name (``ratings``, ``items``, ``corpus.yaml``) as the file path."""
    for prefix, path in files.items():
        if place == prefix or place.startswith((f"{prefix} ", f"{prefix},")):
            rest = place[len(prefix) :]
            return f"{path},{rest}" if rest.startswith(" ") else f"{path}{rest}"
    return place
