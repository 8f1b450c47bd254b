"""Hugging Face ``datasets`` tables: a ``save_to_disk`` folder (Dataset or DatasetDict) or parquet / arrow shards.

Read with pyarrow alone (:mod:`voxpop.corpus.formats.hf_files`); ``datasets`` is never imported and audio
is never decoded. The table holds one label per row (the dataset's consensus or intended label), so
each labelled item gets one ``primary`` rating without a rater, and the import report says so.

- **Audio** (the ``Audio`` feature's column, a ``{bytes, path}`` struct): embedded bytes are written once
  per distinct content to ``OUT/audio/<sha256 prefix>.<ext>`` inside the corpus directory being written
  (``ext`` from the original path, else the format soundfile reads in the bytes), after the whole table
  was read and checked, each file atomically; the original ``path`` is kept as the item column
  ``original_path``. A path without bytes names a file beside the dataset, resolved like other
  importers' audio paths (:mod:`voxpop.corpus.media_paths`).
- **Classes**: the ``ClassLabel`` names of the label column, in order (a text label column: its sorted
  values). Code ``-1`` is an unlabelled row (kept as an item without rating, counted).
- **Item ids**: a named column, or the first 16 hex digits of the sha256 of the audio bytes; two rows with
  the same bytes are refused as colliding ids, naming both.
- **Splits**: a DatasetDict's split names, or a column named as the split column, become the item column
  ``split``; a speaker column becomes ``speaker``. Other scalar columns are kept as item columns
  (``ClassLabel`` codes as their names); nested ones are left out and named in the report.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import soundfile

from voxpop.core.cache import output_directory, write_bytes
from voxpop.core.errors import ConfigError, InputError, option, where
from voxpop.corpus.corpus import STRING, Corpus
from voxpop.corpus.formats.arrow import class_label_names, named_codes
from voxpop.corpus.formats.hf_files import Shard, find_shards, shard_batches, shard_features, shard_schema
from voxpop.corpus.formats.tables import describe_import, tally, text_column
from voxpop.corpus.formats.tables import id_column as id_values
from voxpop.corpus.media_paths import common_root, resolve_media_column

ID_DIGITS = 16
"""Hex digits of the sha256 of the audio bytes that make an item id and an audio file name."""
AUDIO_FOLDER = "audio"
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,5}$")
_OWN = ("audio", "duration", "original_path")
_BOOKKEEPING = (
    "__voxpop_item",
    "__voxpop_shard",
    "__voxpop_row",
    "__voxpop_split",
)  # bookkeeping columns of the read table
_CHUNK = 1 << 20


@dataclasses.dataclass
class _Clip:
    """The audio of one row: the sha256 of its bytes, its file suffix, original path and duration (s)."""

    digest: str | None = None
    suffix: str = ""
    original: str | None = None
    duration: float = float("nan")
    file: str | None = None  # absolute path: the referenced file, or where the embedded bytes are written
    embedded: bool = False


def read_hf(
    path: str | Path,
    out: str | Path | None = None,
    *,
    label_column: str | None = None,
    id_column: str | None = None,
    speaker_column: str | None = None,
    split_column: str | None = None,
    audio_column: str | None = None,
    audio_root: str | Path | None = None,
    allow_outside_paths: bool = False,
    name: str | None = None,
) -> Corpus:
    """Read a Hugging Face ``datasets`` table into a corpus, writing its embedded audio into ``out/audio``.

    Args:
        path: a ``Dataset`` / ``DatasetDict`` ``save_to_disk`` folder, a ``.parquet`` / ``.arrow`` shard or a
            folder of shards.
        out: the corpus directory the corpus will be saved to; embedded audio is written to ``out/audio``
            (required when the table embeds audio).
        label_column: the label column (default: the single ``ClassLabel`` column).
        id_column: the column of item ids (default: the first 16 hex digits of the sha256 of the audio bytes).
        speaker_column: the column of speaker ids (becomes ``speaker``).
        split_column: the column of partitions (becomes ``split``); a DatasetDict's split names give it instead.
        audio_column: the audio column (default: the single ``Audio`` feature, or ``{bytes, path}`` struct column).
        audio_root: the folder relative audio paths (without bytes) name files in (default: the dataset folder).
        allow_outside_paths: accept audio paths that resolve outside the audio root.
        name: the corpus name (default: the folder or file name without extension).

    Returns:
        The corpus: items indexed by id with ``audio`` (absolute path), ``duration`` (s), ``original_path``,
        ``speaker`` / ``split`` where given, and the other scalar columns; one ``primary`` rating per labelled
        item, without a rater; classes the ``ClassLabel`` names in order.

    Raises:
        ConfigError: a named column is missing, several ``ClassLabel`` or audio columns and none named, no
            label column, no id source (neither audio nor ``id_column``), ``split_column`` with a DatasetDict,
            or embedded audio without ``out``.
        InputError: unreadable files, shards with different columns, a class code outside the names, an empty
            or repeated id, audio bytes that are no audio, a missing audio file, or two rows with the same
            audio bytes (hash ids); each names the file, row and column (both rows for a collision).

    Example:
        >>> corpus = read_hf("emotions_hf/", "corpora/emotions", speaker_column="speaker_id")  # doctest: +SKIP
        >>> corpus.classes  # doctest: +SKIP
        ['angry', 'happy', 'neutral', 'sad']
    """
    path = Path(path)
    notes: list[str] = []
    shards = find_shards(path, notes=notes, skip=out)
    schema = _common_schema(shards)
    features = shard_features(shards[0], schema)
    names = class_label_names(features)
    label = _label_column(label_column, names, schema, path)
    audio = _audio_column(audio_column, features, schema)
    dict_splits = any(s.split is not None for s in shards)
    for flag, column in (("id_column", id_column), ("speaker_column", speaker_column), ("split_column", split_column)):
        _check_column(flag, column, schema)
    if split_column is not None and dict_splits:
        raise ConfigError(
            f"{option('split_column', split_column)}: {path} is a DatasetDict, whose split names give the split "
            f"column; drop {option('split_column')}."
        )
    if audio is None and id_column is None:
        raise ConfigError(
            f"{path}: no audio column to derive item ids from; name the id column with {option('id_column')}."
        )
    root = os.path.abspath(audio_root if audio_root is not None else path if path.is_dir() else path.parent)
    frames, clips = [], []
    for shard in shards:
        frame, shard_clips = _read_shard(shard, audio, names, root, allow_outside_paths, id_column is None, notes)
        if id_column is not None:
            frame["__voxpop_item"] = id_values(frame, id_column, shard.shown).to_numpy() if len(frame) else []
        frames.append(frame)
        clips += shard_clips
    table = pd.concat(frames, ignore_index=True)
    if audio is not None and id_column is None:
        table["__voxpop_item"] = _hash_ids(table, clips, audio)
    _refuse_repeated_ids(table, clips, id_column or audio, hashed=id_column is None)
    audio_dir = _place_embedded(clips, out, path)
    nested = [f.name for f in schema if f.name != audio and _nested(f.type)]
    own = _own_columns(table, clips, audio, speaker_column, split_column, dict_splits)
    items = _items(table, own, [id_column, speaker_column, split_column, *nested], notes)
    if nested:
        notes.append(f"Columns holding bytes, structs or lists were not kept: {', '.join(nested)}.")
    ratings = _ratings(table, label)
    classes = names.get(label) or sorted(ratings["label"].unique())
    notes += _counts(shards, table, ratings, clips, audio_dir)
    corpus = Corpus(
        name or (path.name if path.is_dir() else path.stem),
        items,
        ratings,
        classes=classes,
        source=f"Hugging Face datasets table {path.name}",
        description=describe_import(f"{path} ({len(table)} rows in {len(shards)} shard files)", notes),
        audio_root=common_root([*([str(audio_dir)] if audio_dir else []), *([root] if _referenced(clips) else [])]),
    )
    if audio_dir is not None:
        _write_embedded(shards, audio, clips, out)
    return corpus


def _common_schema(shards: list[Shard]) -> pa.Schema:
    """The first shard's schema, after checking that every shard has the same columns."""
    schemas = [shard_schema(s) for s in shards]
    for shard, schema in zip(shards[1:], schemas[1:], strict=True):
        if schema.names != schemas[0].names:
            raise InputError(
                f"{shard.shown}: columns {schema.names} differ from those of {shards[0].shown} ({schemas[0].names}); "
                "every shard of one dataset has the same columns."
            )
    return schemas[0]


def _check_column(flag: str, column: str | None, schema: pa.Schema) -> None:
    """A column named by option ``flag`` must be one of the dataset's; ConfigError listing them otherwise."""
    if column is not None and column not in schema.names:
        raise ConfigError(
            f"{option(flag, column)}: no such column in the dataset; its columns: {', '.join(schema.names)}."
        )


def _label_column(given: str | None, names: dict[str, list[str]], schema: pa.Schema, path: Path) -> str:
    """The label column: the one named (a ClassLabel or text column), else the single ClassLabel column."""
    if given is not None:
        _check_column("label_column", given, schema)
        kind = schema.field(given).type
        if given not in names and not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise ConfigError(
                f"{option('label_column', given)}: holds {kind} without ClassLabel names in the dataset's features; "
                "name a ClassLabel or text column."
            )
        return given
    if len(names) == 1:
        return next(iter(names))
    found = f"ClassLabel columns {', '.join(names)}" if names else "no ClassLabel column"
    raise ConfigError(f"{path}: the dataset has {found}; name the label column with {option('label_column')}.")


def _audio_column(given: str | None, features: dict[str, object], schema: pa.Schema) -> str | None:
    """The audio column: the one named, else the single ``Audio`` feature (or ``{bytes, path}`` struct); or None."""
    if given is not None:
        _check_column("audio_column", given, schema)
        return given
    found = [c for c, f in features.items() if isinstance(f, dict) and f.get("_type") == "Audio" and c in schema.names]
    if not found:
        found = [f.name for f in schema if pa.types.is_struct(f.type) and f.type.get_field_index("bytes") >= 0]
    if len(found) > 1:
        raise ConfigError(f"the dataset has audio columns {', '.join(found)}; name one with {option('audio_column')}.")
    return found[0] if found else None


def _read_shard(
    shard: Shard,
    audio: str | None,
    names: dict[str, list[str]],
    root: str,
    allow_outside_paths: bool,
    hash_referenced: bool,
    notes: list[str],
) -> tuple[pd.DataFrame, list[_Clip]]:
    """The shard's columns but audio (ClassLabel codes as names) with the bookkeeping columns (:data:`_BOOKKEEPING`:
    shard, row, split), and each row's clip."""
    schema = shard_schema(shard)
    schema = schema.remove(schema.get_field_index(audio)) if audio is not None else schema
    pieces, clips = [], []
    for batch in shard_batches(shard):
        if audio is not None:
            cells = batch.column(audio).to_pylist()
            clips += [_clip(cell, shard, len(clips) + row, audio) for row, cell in enumerate(cells, start=1)]
            batch = batch.drop_columns([audio])
        pieces.append(batch)
    table = pa.Table.from_batches(pieces, schema=schema)
    for column, labels in names.items():
        if column in table.column_names and pa.types.is_integer(table.schema.field(column).type):
            named = named_codes(table.column(column), labels, lambda row, c=column: where(shard.shown, row + 1, c))
            table = table.set_column(table.schema.get_field_index(column), column, named)
    frame = table.to_pandas(types_mapper={pa.string(): STRING, pa.large_string(): STRING}.get)
    frame["__voxpop_shard"], frame["__voxpop_row"], frame["__voxpop_split"] = (
        shard.shown,
        range(1, len(frame) + 1),
        shard.split,
    )
    referenced = [(row, c) for row, c in enumerate(clips, start=1) if c.original is not None and not c.embedded]
    if referenced:
        paths = pd.Series([clip.original for _, clip in referenced], dtype=STRING)
        resolved = resolve_media_column(
            paths, root, shard.shown, audio, allow_outside_paths=allow_outside_paths, notes=notes,
            rows=[row for row, _ in referenced],
        )  # fmt: skip
        for (row, clip), file in zip(referenced, resolved, strict=True):
            _read_file(clip, file, where(shard.shown, row, audio), hash_referenced)
    return frame, clips


def _clip(cell: object, shard: Shard, row: int, column: str) -> _Clip:
    """The clip of one audio cell: ``{bytes, path}`` (bytes hashed, header read), a path, or nothing."""
    if isinstance(cell, str):
        return _Clip(original=cell)
    if not isinstance(cell, dict):
        return _Clip()
    data, original = cell.get("bytes"), cell.get("path")
    original = original if isinstance(original, str) and original else None
    if not isinstance(data, bytes) or not data:
        return _Clip(original=original)
    try:
        info = soundfile.info(io.BytesIO(data))
    except (RuntimeError, TypeError) as exc:  # soundfile.LibsndfileError derives from RuntimeError
        raise InputError(
            f"{where(shard.shown, row, column)}: the embedded audio ({len(data)} bytes, path {original!r}) could not "
            f"be read as audio ({str(exc).rpartition('>: ')[2]}); fix or remove the row."
        ) from None
    suffix = Path(original).suffix if original else ""
    suffix = suffix.lower() if _SUFFIX.match(suffix) else f".{info.format.lower()}"
    digest = hashlib.sha256(data).hexdigest()
    return _Clip(digest=digest, suffix=suffix, original=original, duration=info.duration, embedded=True)


def _read_file(clip: _Clip, file: str, place: str, hash_it: bool) -> None:
    """Fill in a referenced clip from its file: path, duration and (for hash ids) the sha256 of its bytes."""
    if not os.path.isfile(file):
        raise InputError(
            f"{place}: the audio file {clip.original!r} ({file}) does not exist; restore it or fix its path."
        )
    try:
        clip.duration = soundfile.info(file).duration
    except RuntimeError as exc:
        raise InputError(f"{place}: {file} could not be read as audio ({exc}); replace or remove it.") from None
    clip.file = file
    if hash_it:
        digest = hashlib.sha256()
        with open(file, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        clip.digest = digest.hexdigest()


def _hash_ids(table: pd.DataFrame, clips: list[_Clip], audio: str) -> list[str]:
    """Item ids from the audio bytes; a row without audio is an error naming it."""
    for position, clip in enumerate(clips):
        if clip.digest is None:
            raise InputError(
                f"{_place(table, position, audio)}: no audio, so no item id can be derived from its bytes; name an "
                f"id column with {option('id_column')}."
            )
    return [clip.digest[:ID_DIGITS] for clip in clips]


def _place(table: pd.DataFrame, position: int, column: str) -> str:
    """Where the row at ``position`` of the read table is: its shard file, row and ``column``."""
    return where(table["__voxpop_shard"].iat[position], int(table["__voxpop_row"].iat[position]), column)


def _refuse_repeated_ids(table: pd.DataFrame, clips: list[_Clip], column: str, *, hashed: bool) -> None:
    """Two rows with one item id: an InputError naming both (the same audio bytes, for hash ids)."""
    repeated = table["__voxpop_item"].duplicated(keep=False)
    if not repeated.any():
        return
    first_id = table["__voxpop_item"][repeated].iat[0]
    a, b = [int(i) for i in table.index[table["__voxpop_item"].eq(first_id)][:2]]
    places = [_place(table, i, column) for i in (a, b)]
    if hashed:
        same = "hold the same audio bytes" if clips[a].digest == clips[b].digest else "hold audio whose sha256 share"
        raise InputError(
            f"{places[0]} and {places[1]}: {same} (sha256 {clips[a].digest[:ID_DIGITS]}...), so the same item id "
            f"{first_id!r} ({int(repeated.sum())} rows in all share an id). Remove the repeated row, or name an id "
            f"column with {option('id_column')}."
        )
    raise InputError(
        f"{places[0]} and {places[1]}: the same item id {first_id!r} ({int(repeated.sum())} rows in all share an id); "
        "every row is one item: fix the ids."
    )


def _place_embedded(clips: list[_Clip], out: str | Path | None, path: Path) -> Path | None:
    """The audio folder inside ``out`` and each embedded clip's file there (nothing written); None without embedded
    audio."""
    embedded = [clip for clip in clips if clip.embedded]
    if not embedded:
        return None
    if out is None:
        raise ConfigError(
            f"{path}: {len(embedded)} rows embed their audio, which is written into the corpus directory; give "
            f"{option('out')} (the folder the corpus is saved to)."
        )
    folder = Path(os.path.abspath(out)) / AUDIO_FOLDER
    named: dict[str, str] = {}
    for clip in embedded:
        clip.file = named.setdefault(clip.digest, str(folder / f"{clip.digest[:ID_DIGITS]}{clip.suffix}"))
    return folder


def _nested(kind: pa.DataType) -> bool:
    """True for Arrow types that are no item column: structs, lists, maps, unions and binary."""
    t = pa.types
    checks = (t.is_struct, t.is_list, t.is_large_list, t.is_fixed_size_list, t.is_map, t.is_union, t.is_binary,
              t.is_large_binary, t.is_fixed_size_binary)  # fmt: skip
    return any(check(kind) for check in checks)


def _own_columns(
    table: pd.DataFrame,
    clips: list[_Clip],
    audio: str | None,
    speaker_column: str | None,
    split_column: str | None,
    dict_splits: bool,
) -> dict[str, object]:
    """voxpop's item columns: ``item``, ``audio`` / ``duration`` / ``original_path``, ``speaker``, ``split``."""
    own: dict[str, object] = {"item": table["__voxpop_item"].to_numpy()}
    if audio is not None:
        own["audio"] = pd.array([clip.file for clip in clips], dtype=STRING)
        own["duration"] = [clip.duration for clip in clips]
        own["original_path"] = pd.array([clip.original for clip in clips], dtype=STRING)
    if speaker_column is not None:
        own["speaker"] = text_column(table, speaker_column).to_numpy()
    if dict_splits:
        own["split"] = table["__voxpop_split"].astype(STRING).to_numpy()
    elif split_column is not None:
        own["split"] = text_column(table, split_column).to_numpy()
    return own


def _items(table: pd.DataFrame, own: dict[str, object], dropped: list, notes: list[str]) -> pd.DataFrame:
    """The item table: voxpop's own columns, then the dataset's other columns (``hf_NAME`` where a name is taken)."""
    kept, renamed = {}, []
    for column in table.columns:
        if column in _BOOKKEEPING or column in dropped:
            continue
        key = f"hf_{column}" if column in own or column in _OWN else column
        kept[key] = table[column]
        renamed += [key] if key != column else []
    if renamed:
        notes.append(f"Dataset columns named like voxpop's own item columns were kept as {', '.join(renamed)}.")
    return pd.DataFrame({**own, **kept}).set_index("item")


def _ratings(table: pd.DataFrame, label: str) -> pd.DataFrame:
    """One ``primary`` rating without a rater per labelled row, with its shard, row and column."""
    labelled = table[label].notna().to_numpy(dtype=bool)
    return pd.DataFrame(
        {
            "item": table["__voxpop_item"][labelled].to_numpy(),
            "slot": "primary",
            "label": table[label][labelled].astype(str).to_numpy(),
            "source_file": table["__voxpop_shard"][labelled].to_numpy(),
            "source_row": table["__voxpop_row"][labelled].to_numpy(),
            "source_column": label,
        }
    )


def _counts(shards: list[Shard], table: pd.DataFrame, ratings: pd.DataFrame, clips: list[_Clip], audio_dir) -> list:
    """The report sentences: the consensus-only labels, unlabelled rows, splits and where the audio went."""
    notes = [
        "The table holds one label per row (the dataset's consensus or intended label), no per-rater ratings: each "
        "labelled item has one primary rating without a rater."
    ]
    unlabelled = len(table) - len(ratings)
    if unlabelled:
        notes.append(f"{unlabelled} rows have no label (code -1 or empty): kept as items without a rating.")
    if any(s.split is not None for s in shards):
        notes.append(f"DatasetDict splits (the split column): {tally(Counter(table['__voxpop_split']))}.")
    embedded = [c for c in clips if c.embedded]
    if embedded:
        unique = len({c.digest for c in embedded})
        notes.append(
            f"Embedded audio of {len(embedded)} rows written to {audio_dir} as {unique} files (one per content)."
        )
    referenced = _referenced(clips)
    if referenced:
        notes.append(f"Audio of {referenced} rows read from the files their paths name.")
    missing = sum(c.file is None for c in clips)
    if missing:
        notes.append(f"{missing} rows have no audio (audio left empty).")
    return notes


def _referenced(clips: list[_Clip]) -> int:
    return sum(c.file is not None and not c.embedded for c in clips)


def _write_embedded(shards: list[Shard], audio: str, clips: list[_Clip], out: str | Path) -> None:
    """Write each distinct embedded clip to its file in ``out/audio`` once, atomically; a file already holding the
    bytes is kept. The folder is made by :func:`~voxpop.core.cache.output_directory` (never through a symlink
    leading out of ``out``)."""
    output_directory(out, AUDIO_FOLDER)
    pending = {c.file: c.digest for c in clips if c.embedded}
    position = 0
    for shard in shards:
        for batch in shard_batches(shard, [audio]):
            for cell in batch.column(0).to_pylist():
                clip = clips[position]
                position += 1
                if not clip.embedded or clip.file not in pending:
                    continue
                data = cell["bytes"]
                if hashlib.sha256(data).hexdigest() != pending.pop(clip.file):
                    raise InputError(f"{shard.shown}: changed while it was imported; import it again.")
                if not _holds(clip.file, clip.digest):
                    write_bytes(clip.file, data)


def _holds(file: str, digest: str) -> bool:
    """True when ``file`` exists and its bytes have sha256 ``digest``."""
    if not os.path.isfile(file):
        return False
    with open(file, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest() == digest
