"""The files of a Hugging Face ``datasets`` table on disk, read with pyarrow alone (``datasets`` is not needed).

Three layouts are read:

- a ``Dataset.save_to_disk`` folder: ``state.json`` (``_data_files``: the shards, in order),
  ``dataset_info.json`` (``features``) and ``data-0000K-of-0000N.arrow`` shards, each an Arrow IPC *stream*;
- a ``DatasetDict.save_to_disk`` folder: ``dataset_dict.json`` (``{"splits": [...]}``) and one such
  folder per split, whose name becomes each row's split;
- Parquet (``to_parquet``, the Hub's shards) or Arrow files: one file, or a folder of them (searched
  recursively, in path order, operating-system debris skipped). An ``.arrow`` file is read as an IPC
  stream, else as an IPC (Feather) file.

The features (``ClassLabel`` names, which column is ``Audio``) come from the ``huggingface`` schema
metadata each shard carries, else from the ``dataset_info.json`` beside it (:func:`shard_features`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from voxpop.core.cache import parse_json
from voxpop.core.errors import InputError
from voxpop.core.formatting import excerpt
from voxpop.corpus.formats.arrow import hf_features
from voxpop.corpus.formats.audio_files import check_relative_name
from voxpop.corpus.formats.folders import corpus_files, debris_note
from voxpop.corpus.media_paths import is_outside

SUFFIXES = (".parquet", ".arrow")
_DICT, _STATE, _INFO = "dataset_dict.json", "state.json", "dataset_info.json"


@dataclasses.dataclass(frozen=True)
class Shard:
    """One file of a dataset: where it is, how it is shown in messages, and its split (a DatasetDict's)."""

    path: Path
    shown: str
    split: str | None = None


def find_shards(path: str | Path, *, notes: list[str], skip: str | Path | None = None) -> list[Shard]:
    """The shards of the dataset at ``path`` (a save_to_disk folder, a folder of shards, or one shard), in order.

    Args:
        path: a ``Dataset`` / ``DatasetDict`` ``save_to_disk`` folder, a ``.parquet`` / ``.arrow`` file, or a
            folder of such files.
        notes: the import report; receives the count of operating-system files skipped in a folder of shards.
        skip: a folder whose files are no shards: the corpus directory being written, when it lies inside ``path``
            (its ``items.parquet`` and ``ratings.parquet`` are voxpop's own).

    Returns:
        The shards; ``shown`` is the path relative to ``path`` (the file name for a single file).

    Raises:
        InputError: ``path`` does not exist, is a file of another kind, a folder holding no shard, or a
            ``dataset_dict.json`` / ``state.json`` that is not the JSON ``datasets`` writes (naming the file and
            key), or names a split folder or shard that is missing or lies outside the folder.
    """
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() not in SUFFIXES:
            raise InputError(
                f"{path}: not a Hugging Face dataset file; expected a .parquet or .arrow shard, a save_to_disk folder "
                f"(with {_STATE} or {_DICT}) or a folder of shards."
            )
        return [Shard(path, path.name)]
    if not path.is_dir():
        raise InputError(f"{path}: not found; expected a save_to_disk folder, a .parquet / .arrow file or a folder.")
    if (path / _DICT).is_file():
        splits = _json_list(path / _DICT, "splits")
        shards = []
        for split in splits:
            check_relative_name(split, f"{path / _DICT}, key 'splits'", "split name")
            folder = path / split
            if not (folder / _STATE).is_file():
                raise InputError(
                    f"{path / _DICT}, key 'splits': split {split!r} has no folder {folder} with a {_STATE}; "
                    "restore the folder or save the DatasetDict again."
                )
            shards += [dataclasses.replace(s, shown=f"{split}/{s.shown}", split=split) for s in _saved(folder)]
        return shards
    if (path / _STATE).is_file():
        return _saved(path)
    files, debris = corpus_files(path)
    notes += debris_note(debris, path)
    if skip is not None:
        files = [f for f in files if is_outside(os.path.abspath(f), skip)]
    shards = [Shard(f, str(f.relative_to(path))) for f in files if f.suffix.lower() in SUFFIXES]
    if not shards:
        raise InputError(
            f"{path}: no {_DICT}, no {_STATE} and no .parquet / .arrow file in this folder or below; expected a "
            "Hugging Face save_to_disk folder or parquet / arrow shards."
        )
    return shards


def _saved(folder: Path) -> list[Shard]:
    """The shards a ``Dataset.save_to_disk`` folder's ``state.json`` lists (``_data_files``), in order."""
    state = folder / _STATE
    entries = _json_list(state, "_data_files")
    shards = []
    for position, entry in enumerate(entries):
        name = entry.get("filename") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            raise InputError(
                f"{state}, key '_data_files', entry {position + 1}: expected {{\"filename\": NAME}}, got {entry!r}; "
                "save the dataset again."
            )
        check_relative_name(name, f"{state}, key '_data_files'", "shard name")
        if not (folder / name).is_file():
            raise InputError(f"{state}, key '_data_files': shard {name!r} is missing from {folder}; restore it.")
        shards.append(Shard(folder / name, name))
    if not shards:
        raise InputError(f"{state}, key '_data_files': lists no shard; save the dataset again.")
    return shards


def _json_list(path: Path, key: str) -> list:
    """The list under ``key`` of a small JSON file that ``datasets`` wrote."""
    try:
        value = parse_json(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid UTF-8 JSON ({exc}); restore the file or save the dataset again.") from None
    listed = value.get(key) if isinstance(value, dict) else None
    if not isinstance(listed, list) or not all(isinstance(v, str | dict) for v in listed):
        raise InputError(f"{path}, key {key!r}: expected a list as datasets writes it, got {excerpt(listed)}.")
    return listed


def shard_schema(shard: Shard) -> pa.Schema:
    """The Arrow schema of a shard (its metadata included)."""
    with _ShardReader(shard) as reader:
        return reader.schema if not isinstance(reader, pq.ParquetFile) else reader.schema_arrow


def shard_features(shard: Shard, schema: pa.Schema) -> dict[str, object]:
    """The Hugging Face features of a shard: its schema metadata, else the ``dataset_info.json`` beside it."""
    features = hf_features(schema)
    info = shard.path.parent / _INFO
    if features or not info.is_file():
        return features
    try:
        value = parse_json(info.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{info}: not valid UTF-8 JSON ({exc}); restore the file or save the dataset again.") from None
    features = value.get("features") if isinstance(value, dict) else None
    return {str(k): v for k, v in features.items()} if isinstance(features, dict) else {}


def shard_batches(shard: Shard, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The record batches of a shard, in row order (only ``columns`` where given)."""
    with _ShardReader(shard) as reader:
        try:
            if isinstance(reader, pq.ParquetFile):
                yield from reader.iter_batches(columns=list(columns) if columns is not None else None)
                return
            batches = reader if isinstance(reader, ipc.RecordBatchStreamReader) else _file_batches(reader)
            for batch in batches:
                yield batch.select(list(columns)) if columns is not None else batch
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{shard.shown}: damaged or cut off ({exc}); restore the file.") from None


def _file_batches(reader: ipc.RecordBatchFileReader) -> Iterator[pa.RecordBatch]:
    for position in range(reader.num_record_batches):
        yield reader.get_batch(position)


class _ShardReader:
    """A reader of a shard (parquet, IPC stream, IPC file) as a context manager; InputError when it is none."""

    def __init__(self, shard: Shard):
        self.shard = shard
        self.source: pa.NativeFile | pq.ParquetFile | None = None

    def __enter__(self) -> pq.ParquetFile | ipc.RecordBatchStreamReader | ipc.RecordBatchFileReader:
        path = self.shard.path
        try:
            if path.suffix.lower() == ".parquet":
                self.source = pq.ParquetFile(path)
                return self.source
            self.source = pa.memory_map(str(path))
            try:
                return ipc.open_stream(self.source)
            except pa.ArrowInvalid:
                self.source.seek(0)
                return ipc.open_file(self.source)
        except (pa.ArrowException, OSError) as exc:
            kind = "a Parquet table" if path.suffix.lower() == ".parquet" else "an Arrow IPC stream or file"
            raise InputError(f"{self.shard.shown}: could not be read as {kind} ({exc}); restore the file.") from None

    def __exit__(self, *exc: object) -> None:
        if self.source is not None:
            self.source.close()
