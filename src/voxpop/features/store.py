"""The on-disk feature store: keyed by content, filled shard by shard, resumable, memory-mapped.

One store entry is a directory ``ROOT/<extractor>-<key[:16]>/`` for one (items, audio options,
extractor config) combination; the key is :func:`store_key`, a hash of the items' ids, audio paths
and file sizes + modification times in nanoseconds (or file contents), time windows (item columns
``offset`` and ``duration``), the audio options and the extractor spec. A changed audio file (new
size or modification time) therefore gives a new entry and is extracted again, never read from the old
one; a copied or touched file is extracted again too (its modification time changed), which costs time
but is always safe. ``fingerprint="content"`` keys on the files' sha256 instead: copies share entries,
at the price of reading every file at each run. Readers and fillers hold a shared lock per entry
(:mod:`voxpop.features.store_lock`), which ``voxpop store prune`` respects.

::

    store.json              key, extractor spec, audio config, layout, item count, shard size
    items.parquet           the item fingerprints, in corpus order
    shards/000003.npy       the arrays of shard 3's extracted items (deleted once consolidated)
    manifest/000003.json    shard 3 is done: per item status, seconds, frame counts; data checksum
    values.npy              all extracted items, consolidated (memory-mapped on read)
    index.parquet           per item: status, message, seconds, row (and frame offset / length)
    complete.json           written last: the entry is complete

Items are cut into shards of ``shard_size`` consecutive items. Commit protocol for a shard: write
the data atomically (:func:`voxpop.core.cache.atomic_write`), then the manifest entry the same way. A
shard counts as done only when its manifest entry exists and its data file has the recorded size
(and, when its modification time changed, the recorded sha256), so a killed run leaves at worst an
orphan file and redoes only unfinished shards, and a damaged shard is recomputed. Process I of N
(``shard=(I, N)``, e.g. a SLURM array task) fills the shards s with s mod N == I; processes never
write the same file, so they share one store without locks. The process that finds every shard
done consolidates (checking every shard's sha256) and writes
``complete.json`` (which records both files' sizes, modification times and BLAKE2b checksums);
concurrent consolidations write identical files. A complete entry whose files fail that check is
reset and extracted again (:meth:`FeatureStore.repair`); :meth:`FeatureStore.problems` with
``full=True`` verifies every checksum (``voxpop validate --cache``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from voxpop.core.cache import (
    atomic_write,
    canonical_json,
    damaged_files,
    file_record,
    notify,
    output_directory,
    parse_json,
    stable_hash,
    write_bytes,
    write_json,
)
from voxpop.core.errors import ConfigError, VoxpopError
from voxpop.core.safe_load import load_array
from voxpop.corpus.stored import file_sha256
from voxpop.features.base import Layout, Outcome
from voxpop.features.store_lock import entry_lock

CONSOLIDATED = ("values.npy", "index.parquet")
_REEXTRACT = "delete the feature store entry's folder and extract the features again"


class IncompleteStoreError(VoxpopError):
    """The store still misses shards (other shard processes have not finished yet)."""


class CorruptShardError(VoxpopError):
    """A shard's data no longer matches its manifest checksum; its entry was removed."""


class DamagedStoreError(VoxpopError):
    """A complete entry's ``values.npy`` or ``index.parquet`` differs from what was written; extract again."""


# ------------------------------------------------------------------------------ fingerprints
def item_windows(items: pd.DataFrame) -> tuple[list[float | None], list[float | None]]:
    """Per item the window of its file: (offset, duration) seconds, None where not given.

    A window needs an ``offset``; ``duration`` alone is only the clip length importers record, so
    without an offset the item is the whole file.

    >>> item_windows(pd.DataFrame({"offset": [1.5, None], "duration": [0.5, 3.0]}))
    ([1.5, None], [0.5, None])
    """
    if "offset" not in items.columns:
        return [None] * len(items), [None] * len(items)
    offsets = [None if pd.isna(v) else float(v) for v in items["offset"].tolist()]
    lengths = items["duration"].tolist() if "duration" in items.columns else [None] * len(items)
    durations = [None if o is None or pd.isna(d) else float(d) for o, d in zip(offsets, lengths, strict=True)]
    return offsets, durations


def fingerprint_items(items: pd.DataFrame, content: bool = False) -> pd.DataFrame:
    """Per item (in order): absolute audio path and a fingerprint of the file.

    The fingerprint is ``path|size|mtime_ns`` by default; with ``content=True`` it is the file's
    sha256, so a copy of the corpus elsewhere maps to the same store entry. An item with a time
    window (:func:`item_windows`) adds ``|window=<offset>+<duration>``, so two windows of one file
    are different entries. A missing path or file is fingerprinted as such; those items are skipped
    at extraction.
    """
    if "audio" not in items.columns:
        raise ConfigError(
            f"the items table has no 'audio' column (columns: {', '.join(map(str, items.columns))}); "
            "features need an audio path per item"
        )
    paths, prints = [], []
    offsets, durations = item_windows(items)
    for value, offset, duration in zip(items["audio"].tolist(), offsets, durations, strict=True):
        path = None if pd.isna(value) or str(value) == "" else Path(str(value)).absolute()
        if path is None:
            fingerprint = "no audio"
        elif not path.is_file():
            fingerprint = f"missing|{path}"
        elif content:
            fingerprint = f"sha256|{file_sha256(path)}"
        else:
            stat = path.stat()
            fingerprint = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
        if offset is not None:
            fingerprint += f"|window={offset!r}+{'rest' if duration is None else repr(duration)}"
        paths.append(None if path is None else str(path))
        prints.append(fingerprint)
    return pd.DataFrame(
        {"audio": pd.array(paths, dtype="string"), "fingerprint": pd.array(prints, dtype="string")},
        index=pd.Index([str(i) for i in items.index], dtype="string", name="item"),
    )


def store_key(fingerprints: pd.DataFrame, extractor_spec: dict, audio_config: dict) -> str:
    """sha256 of the item ids with their file fingerprints, the extractor spec and the audio config.

    >>> fp = pd.DataFrame({"fingerprint": ["/a.wav|10|1"]}, index=pd.Index(["a"], name="item"))
    >>> k = store_key(fp, {"extractor": "fbank"}, {"sample_rate": 16000})
    >>> k == store_key(fp, {"extractor": "fbank"}, {"sample_rate": 8000})
    False
    """
    return stable_hash({"items": fingerprints_hash(fingerprints), "extractor": extractor_spec, "audio": audio_config})


def fingerprints_hash(fingerprints: pd.DataFrame) -> str:
    """sha256 of the item ids with their file fingerprints (:func:`fingerprint_items`), in order.

    A study puts it in its features stages' keys, so a changed audio file makes them run again.

    >>> fp = pd.DataFrame({"fingerprint": ["/a.wav|10|1"]}, index=pd.Index(["a"], name="item"))
    >>> fingerprints_hash(fp) == fingerprints_hash(fp.assign(fingerprint=["/a.wav|10|2"]))
    False
    """
    rows = [[str(item), str(fp)] for item, fp in zip(fingerprints.index, fingerprints["fingerprint"], strict=True)]
    return hashlib.sha256(canonical_json(rows).encode()).hexdigest()


def entry_name(extractor_spec: dict, key: str) -> str:
    """The folder name of a store entry: ``<extractor>-<key[:16]>`` (``key``: :func:`store_key`).

    >>> entry_name({"extractor": "fbank"}, "0123456789abcdef0123")
    'fbank-0123456789abcdef'
    """
    return f"{extractor_spec['extractor']}-{key[:16]}"


# ------------------------------------------------------------------------------ the store
@dataclasses.dataclass
class Features:
    """Extracted features aligned to the extracted items, read memory-mapped from a complete store.

    Args:
        key: the store entry's key.
        path: the store entry's folder.
        kind: ``vector``, ``layers`` or ``frames`` (:class:`~voxpop.features.base.Layout`).
        items: the ids of the items with features, in corpus order (the rows of ``values``).
        values: (items, D) for vectors and (items, L, D) for per-layer matrices; for frames the
            (total frames, D) concatenation, and :meth:`sequence` gives one item's (T, D) block.
        names: the D feature names.
        layers: the L layer names (``layers`` kind; else empty).
        skipped: the items without features (index item; columns ``reason``, ``message``).
        seconds: seconds of audio used per item.
        offsets: for frames, the (items + 1) row offsets of each item's block in ``values``; else None.
    """

    key: str
    path: Path
    kind: str
    items: pd.Index
    values: np.ndarray
    names: list[str]
    layers: list[str]
    skipped: pd.DataFrame
    seconds: pd.Series
    offsets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.items)

    def sequence(self, item: str) -> np.ndarray:
        """The (T, D) frames of one item (frame-level stores only)."""
        if self.offsets is None:
            raise ConfigError(f"features {self.key[:16]} are {self.kind}, not frames; use .values")
        row = self.items.get_loc(item)
        return self.values[self.offsets[row] : self.offsets[row + 1]]

    def to_frame(self) -> pd.DataFrame:
        """Vector features as a DataFrame indexed by item, one column per feature name."""
        if self.kind != "vector":
            raise ConfigError(f"features {self.key[:16]} are {self.kind}; only vectors make a flat table")
        return pd.DataFrame(np.asarray(self.values), index=self.items, columns=self.names)


class FeatureStore:
    """One store entry on disk (see the module docstring for the layout and commit protocol).

    Args:
        path: the entry's folder (holding ``store.json``); :meth:`create` makes one.

    Raises:
        ConfigError: ``path`` holds no ``store.json``.
        DamagedStoreError: ``store.json`` is unreadable or incomplete (delete the entry to extract it again).
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        meta_path = self.path / "store.json"
        if not meta_path.is_file():
            raise ConfigError(f"{self.path}: not a feature store entry (store.json is missing)")
        try:
            self.meta = parse_json(meta_path.read_text())
            self.key: str = self.meta["key"]
            self.layout = Layout.from_json(self.meta["layout"])
            self.n_items: int = int(self.meta["items"])
            self.shard_size: int = int(self.meta["shard_size"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DamagedStoreError(
                f"{meta_path}: damaged ({type(exc).__name__}: {exc}); delete {self.path} to extract it again"
            ) from None
        self.n_shards = -(-self.n_items // self.shard_size)

    @classmethod
    def create(
        cls,
        root: str | Path,
        fingerprints: pd.DataFrame,
        spec: dict,
        audio_config: dict,
        layout: Layout,
        shard_size: int = 64,
        corpus: str | None = None,
    ) -> FeatureStore:
        """Open the entry for these inputs under ``root``, creating it when absent (race-free).

        ``corpus`` (the name of the corpus that first asked for the entry) is recorded for ``voxpop store
        list``; it is not part of the key.
        """
        if shard_size < 1:
            raise ConfigError(f"shard_size must be positive, got {shard_size}")
        key = store_key(fingerprints, spec, audio_config)
        name = entry_name(spec, key)
        path = Path(root) / name
        for sub in ("shards", "manifest"):
            output_directory(root, name, sub)
        if not (path / "store.json").is_file():
            atomic_write(path / "items.parquet", fingerprints.to_parquet, exclusive=True)
            meta = {
                "key": key,
                "extractor": spec,
                "audio": audio_config,
                "layout": layout.to_json(),
                "items": len(fingerprints),
                "shard_size": shard_size,
                "corpus": corpus,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            write_json(path / "store.json", meta, exclusive=True)
        store = cls(path)
        if store.key != key:
            raise VoxpopError(f"{path}: holds store {store.key}, not {key}; move it away and run again")
        return store

    # ----------------------------------------------------------------- shards
    def shard_slice(self, shard: int) -> slice:
        """Positions of one shard's items in the item order."""
        return slice(shard * self.shard_size, min((shard + 1) * self.shard_size, self.n_items))

    def item_ids(self) -> pd.Index:
        """The ids of the store's items, in order."""
        if getattr(self, "_ids", None) is None:
            self._ids = pd.read_parquet(self.path / "items.parquet", columns=[]).index
        return self._ids

    @property
    def complete(self) -> bool:
        return (self.path / "complete.json").is_file()

    def _entry_path(self, shard: int) -> Path:
        return self.path / "manifest" / f"{shard:06d}.json"

    def entry(self, shard: int) -> dict | None:
        """The manifest entry of a done shard, or None (absent, unreadable, or its data file is damaged).

        The data file must have the recorded size; one whose modification time changed is hashed
        again. A damaged shard's entry is removed (with a notice), so the shard is recomputed.
        """
        path = self._entry_path(shard)
        try:
            entry = parse_json(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            entry = None
        if self.complete:
            return entry
        problem = self._shard_problem(entry, full=False)
        if problem is None or self.complete:  # intact, or consolidated meanwhile by another process
            return entry
        notify(f"feature store {self.path}: shard {shard} {problem}; recomputing it")
        path.unlink(missing_ok=True)
        return None

    def _shard_problem(self, entry: dict | None, full: bool) -> str | None:
        """What is wrong with a manifest entry and its data file (None: intact)."""
        keys = ("file", "bytes", "sha256", "items", "status", "messages", "seconds")
        if not isinstance(entry, dict) or any(k not in entry for k in keys):
            return "has an unreadable manifest entry"
        data = self.path / entry["file"]
        if data.is_symlink() or not data.is_file():
            return f"data {entry['file']} is missing"
        stat = data.stat()
        if stat.st_size != entry["bytes"]:
            return f"data {entry['file']} has {stat.st_size} bytes, {entry['bytes']} were written"
        if (full or stat.st_mtime_ns != entry.get("mtime_ns")) and file_sha256(data) != entry["sha256"]:
            return f"data {entry['file']} differs from what was written (checksum)"
        return None

    def done_shards(self) -> set[int]:
        if self.complete:
            return set(range(self.n_shards))
        names = (p.stem for p in (self.path / "manifest").glob("*.json"))
        return {s for s in (int(n) for n in names if n.isdigit()) if s < self.n_shards and self.entry(s)}

    def missing_shards(self, shard: tuple[int, int] = (0, 1)) -> list[int]:
        """The shards process ``shard = (I, N)`` still has to compute: s mod N == I, not done."""
        index, count = shard
        if not (count >= 1 and 0 <= index < count):
            raise ConfigError(f"shard must be (I, N) with 0 <= I < N, got ({index}, {count})")
        done = self.done_shards()
        return [s for s in range(index, self.n_shards, count) if s not in done]

    def commit(self, shard: int, outcomes: Sequence[Outcome], compute_seconds: float) -> dict:
        """Write one shard's arrays and then its manifest entry, each atomically."""
        expected = self.item_ids()[self.shard_slice(shard)].tolist()
        if [o.item for o in outcomes] != expected:
            raise VoxpopError(f"shard {shard}: outcomes do not match the shard's items {expected[:3]}...")
        ok = [o for o in outcomes if o.values is not None]
        arrays = [self._check_shape(o) for o in ok]
        data = self._stack(arrays)
        buffer = io.BytesIO()
        np.save(buffer, data)
        payload = buffer.getvalue()
        name = f"shards/{shard:06d}.npy"
        write_bytes(self.path / name, payload)
        entry = {
            "shard": shard,
            "file": name,
            "bytes": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
            "mtime_ns": (self.path / name).stat().st_mtime_ns,
            "items": expected,
            "status": ["ok" if o.values is not None else o.reason for o in outcomes],
            "messages": [o.message for o in outcomes],
            "seconds": [o.seconds for o in outcomes],
            "lengths": [len(a) for a in arrays] if self.layout.kind == "frames" else None,
            "compute_seconds": compute_seconds,
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        write_json(self._entry_path(shard), entry)
        return entry

    def _check_shape(self, outcome: Outcome) -> np.ndarray:
        values = np.asarray(outcome.values)
        shape = values.shape[1:] if self.layout.kind == "frames" else values.shape
        if shape != self.layout.item_shape:
            raise VoxpopError(
                f"item {outcome.item!r}: the extractor returned shape {values.shape}, but its layout "
                f"declares {self.layout.item_shape} per {'frame' if self.layout.kind == 'frames' else 'item'}"
            )
        return values.astype(self.layout.dtype, copy=False)

    def _stack(self, arrays: list[np.ndarray]) -> np.ndarray:
        if not arrays:
            return np.zeros((0, *self.layout.item_shape), dtype=self.layout.dtype)
        return np.concatenate(arrays) if self.layout.kind == "frames" else np.stack(arrays)

    # ----------------------------------------------------------------- consolidation and reading
    def consolidate(self) -> None:
        """Join all shards into values.npy + index.parquet and mark the entry complete.

        Raises IncompleteStoreError when shards are missing and CorruptShardError when a shard's
        data fail their checksum (the damaged entry is removed, so a rerun recomputes it).
        """
        if self.complete:
            return
        missing = self.missing_shards()
        if missing:
            raise IncompleteStoreError(
                f"feature store {self.path} misses {len(missing)} of {self.n_shards} shards "
                f"(e.g. {missing[:5]}); run the remaining shard processes, or extract without --shard"
            )
        entries = [self.entry(s) for s in range(self.n_shards)]
        try:
            self._write_consolidated(entries)
        except FileNotFoundError:
            if self.complete:  # another process consolidated and removed the shards meanwhile
                return
            raise
        for entry in entries:
            (self.path / entry["file"]).unlink(missing_ok=True)
        for orphan in [*(self.path / "shards").glob(".*.tmp"), *(self.path / "manifest").glob(".*.tmp")]:
            orphan.unlink(missing_ok=True)  # left by killed writers; every shard is done, so nobody writes here

    def _write_consolidated(self, entries: list[dict]) -> None:
        kind = self.layout.kind
        status = [s for e in entries for s in e["status"]]
        rows = sum(sum(e["lengths"]) for e in entries) if kind == "frames" else status.count("ok")
        dtype = np.dtype(self.layout.dtype)

        def write_values(handle) -> None:  # the .npy header, then each verified shard's rows in order
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
            np.lib.format.write_array_header_2_0(handle, {**header, "shape": (rows, *self.layout.item_shape)})
            for entry in entries:
                handle.write(np.ascontiguousarray(self._verified_shard(entry), dtype=dtype).tobytes())

        atomic_write(self.path / "values.npy", write_values)
        index = pd.DataFrame(
            {
                "status": pd.array(status, dtype="string"),
                "message": pd.array([m for e in entries for m in e["messages"]], dtype="string"),
                "seconds": [s for e in entries for s in e["seconds"]],
            },
            index=pd.Index([i for e in entries for i in e["items"]], dtype="string", name="item"),
        )
        if kind == "frames":
            lengths = iter(n for e in entries for n in e["lengths"])
            index["length"] = [next(lengths) if s == "ok" else 0 for s in status]
        atomic_write(self.path / "index.parquet", index.to_parquet)
        files = {name: file_record(self.path / name) for name in CONSOLIDATED}
        complete = {"key": self.key, "rows": rows, "extracted": status.count("ok"), "files": files}
        write_json(self.path / "complete.json", complete)

    def problems(self, full: bool = False) -> list[str]:
        """What is damaged in this entry (empty: intact).

        A complete entry checks ``values.npy`` and ``index.parquet`` against the sizes, modification
        times and checksums recorded in ``complete.json`` (``full=True``: every checksum); an
        incomplete one checks each done shard's data against its manifest entry.
        """
        if self.complete:
            try:
                files = parse_json((self.path / "complete.json").read_text())["files"]
            except (OSError, ValueError, KeyError, TypeError):
                return ["complete.json has no record of values.npy and index.parquet (older voxpop, or damaged)"]
            return damaged_files(self.path, files, full=full)
        problems = []
        for path in sorted((self.path / "manifest").glob("*.json")):
            try:
                entry = parse_json(path.read_text())
            except (OSError, ValueError):
                entry = None
            problem = self._shard_problem(entry, full=full)
            if problem is not None:
                problems.append(f"shard {path.stem} {problem}")
        return problems

    def repair(self) -> bool:
        """Check a complete entry cheaply; when damaged, remove its consolidated files and every manifest entry.

        The shards were deleted at consolidation, so the entry is extracted again from the audio.
        Returns True when the entry was reset (a one-line notice names what was damaged).
        """
        if not self.complete:
            return False
        problems = self.problems()
        if not problems:
            return False
        notify(f"feature store {self.path}: {'; '.join(problems)}; extracting it again")
        (self.path / "complete.json").unlink(missing_ok=True)
        for name in CONSOLIDATED:
            (self.path / name).unlink(missing_ok=True)
        for path in (self.path / "manifest").glob("*.json"):
            path.unlink()
        return True

    def _verified_shard(self, entry: dict) -> np.ndarray:
        path = self.path / entry["file"]
        payload = path.read_bytes()
        if hashlib.sha256(payload).hexdigest() != entry["sha256"]:
            self._entry_path(entry["shard"]).unlink(missing_ok=True)
            raise CorruptShardError(
                f"{path}: checksum mismatch with its manifest entry (the file was damaged after it was "
                f"written); the entry was removed, run the extraction again to recompute shard {entry['shard']}"
            )
        return load_array(io.BytesIO(payload), f"{path} (shard {entry['shard']})", _REEXTRACT)

    def features(self) -> Features:
        """The consolidated features, memory-mapped (consolidates first when every shard is done).

        Holds the entry's shared lock (:func:`voxpop.features.store_lock.entry_lock`) while it reads, so
        ``voxpop store prune`` skips the entry meanwhile; the mapped values stay readable after it.
        """
        with entry_lock(self.path):
            if not (self.path / "store.json").is_file():
                raise ConfigError(f"{self.path}: the feature store entry was removed (voxpop store prune?); "
                                  "extract the features again")  # fmt: skip
            return self._features()

    def _features(self) -> Features:
        self.consolidate()
        problems = self.problems()
        if problems:
            raise DamagedStoreError(
                f"feature store {self.path}: {'; '.join(problems)}; extract the features again "
                "(voxpop features, or rerun the study), which re-extracts this entry"
            )
        index = pd.read_parquet(self.path / "index.parquet")
        ok = index["status"].eq("ok").to_numpy()
        values_path = self.path / "values.npy"
        values = load_array(values_path, str(values_path), _REEXTRACT, mmap=bool(ok.any()))
        offsets = None
        if self.layout.kind == "frames":
            offsets = np.concatenate([[0], np.cumsum(index["length"].to_numpy()[ok])]).astype(np.int64)
        skipped = index.loc[~ok, ["status", "message"]].rename(columns={"status": "reason"})
        return Features(
            key=self.key,
            path=self.path,
            kind=self.layout.kind,
            items=index.index[ok],
            values=values,
            names=list(self.layout.names),
            layers=list(self.layout.layers),
            skipped=skipped,
            seconds=index.loc[ok, "seconds"],
            offsets=offsets,
        )

    def summary(self) -> dict:
        """Counts over the done shards: extracted items, audio seconds, skipped items per reason."""
        if self.complete:
            index = pd.read_parquet(self.path / "index.parquet")
            rows = zip(index["status"], index["seconds"], index["message"], strict=True)
        else:
            entries = [self.entry(s) for s in sorted(self.done_shards())]
            rows = (row for e in entries for row in zip(e["status"], e["seconds"], e["messages"], strict=True))
        extracted, seconds, reasons, examples = 0, 0.0, {}, {}
        for status, sec, message in rows:
            if status == "ok":
                extracted += 1
                seconds += sec
            else:
                reasons[status] = reasons.get(status, 0) + 1
                examples.setdefault(status, message)
        return {"extracted": extracted, "audio_seconds": seconds, "skipped": reasons, "examples": examples}
