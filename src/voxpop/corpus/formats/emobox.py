"""EmoBox benchmark metadata (Ma et al., Interspeech 2024: 32 corpora with standard folds) -> Corpus.

An EmoBox checkout holds, per corpus ``NAME``, the folder ``data/NAME/`` with

- ``NAME.jsonl``: one JSON object per line, one per utterance: ``key`` (the id), ``wav`` (the audio path,
  relative to the EmoBox folder: ``downloads/iemocap/Session1/...``), ``emo`` (the corpus's own label code),
  ``length`` (seconds) and ``dataset``, ``type``, ``sample_rate``, ``num_frame``, ``task``, ``channel``
  (``start_time`` / ``end_time`` for utterances cut from longer files);
- ``label_map.json``: label code -> class name (``{"neu": "Neutral", "exc": "Happy", ...}``; several codes may
  share a class, as IEMOCAP's happy and excited do);
- ``fold_N/NAME_train_fold_N.jsonl`` and ``fold_N/NAME_test_fold_N.jsonl`` (and ``NAME_valid_fold_N.jsonl`` for
  the three corpora with an official development set: MELD, M3ED, MSP-Podcast), one per fold, lines as above.

Each utterance becomes an item with one rating by rater ``emobox``: its native code, which the corpus's class map
(the label map) turns into the class; the classes are the map's values in the order they first appear. Every fold
becomes the item column ``emobox_fold_N`` holding ``Train`` / ``Test`` (``Development`` from a valid file; ``Unused``
for an item the fold's files leave out), the values the ``split`` protocol reads by default, so ``voxpop train
--protocol split --split emobox_fold_1 --split emobox_fold_2 ...`` runs EmoBox's folds, each scored on its test file
and pooled. Most corpora have no development partition: see :func:`voxpop.models.protocols.require_dev`.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from voxpop.core.cache import parse_json
from voxpop.core.errors import InputError, option
from voxpop.corpus.corpus import STRING, Corpus
from voxpop.corpus.formats.tables import DEFAULT_ENCODING, describe_import, finite_number, place, read_text
from voxpop.corpus.media_paths import resolve_media_column

RATER = "emobox"
PARTITIONS = {"train": "Train", "valid": "Development", "test": "Test"}
UNUSED = "Unused"
FOLD_COLUMN = "emobox_fold_{}"
_FOLD_DIR = re.compile(r"fold_(\d+)")
_SHOWN = 5


def read_emobox(
    directory: str | Path,
    dataset: str,
    *,
    audio_root: str | Path | None = None,
    allow_outside_paths: bool = False,
    speaker_pattern: str | None = None,
    name: str | None = None,
    encoding: str = DEFAULT_ENCODING,
) -> Corpus:
    """Read one EmoBox corpus's metadata (utterances, label map, folds) into a validated :class:`Corpus`.

    Args:
        directory: the EmoBox folder (holding ``data/DATASET/``) or the corpus's own metadata folder (holding
            ``DATASET.jsonl``).
        dataset: the corpus's EmoBox name, e.g. ``iemocap``, ``cremad``, ``emodb``.
        audio_root: the folder the ``wav`` paths are relative to (default: ``directory``, as EmoBox's
            ``downloads/...`` paths are relative to its checkout).
        allow_outside_paths: accept ``wav`` paths that resolve outside the audio root (counted in the report).
        speaker_pattern: a regular expression searched in each ``key`` whose group ``speaker`` (or first group)
            is the item's ``speaker`` (EmoBox records no speakers; a speaker-disjoint development share of the
            folds needs them): ``cremad-(\\d{4})-`` gives CREMA-D's actor ``1087`` of ``cremad-1087-IWL-ANG-XX``.
        name: the corpus name (default: ``dataset``).
        encoding: text encoding of the metadata files (default: detected).

    Returns:
        The corpus: items (index ``key``) with ``audio`` (absolute paths), ``duration`` (seconds, the ``length``
        field), ``speaker`` (with ``speaker_pattern``), ``start_time`` / ``end_time`` where given, and one column
        ``emobox_fold_N`` per fold; ratings one per item (rater ``emobox``, slot ``primary``, label the code);
        ``class_map`` the label map. The import report (``corpus.description``) counts the items per fold and
        partition, items in no fold file, files in the fold folders that were not read, and audio files not found.

    Raises:
        InputError: a missing ``DATASET.jsonl`` or ``label_map.json`` (naming the paths looked at); a line that is
            not a JSON object, or lacks ``key`` / ``wav`` / ``emo``, or holds a code the label map lacks, a length
            or time that is not a finite number of seconds or is negative, an end_time not after its start_time,
            a key given twice (naming both lines), a key the pattern does not match;
            a fold line whose key is not in ``DATASET.jsonl`` or whose ``emo`` differs from it, an item in two
            partitions of one fold, a fold without a train or a test file; each naming the file, line and field.
        ConfigError: an unknown ``encoding``.

    Example:
        >>> corpus = read_emobox("EmoBox", "iemocap", audio_root="EmoBox")  # doctest: +SKIP
        >>> corpus.classes, [c for c in corpus.items.columns if c.startswith("emobox_fold_")]  # doctest: +SKIP
        (['Neutral', 'Happy', 'Angry', 'Sad'], ['emobox_fold_1', ..., 'emobox_fold_5'])
    """
    folder, root = _locate(Path(directory), dataset)
    notes: list[str] = []
    label_map = _label_map(folder / "label_map.json", encoding)
    lines = list(_json_lines(folder / f"{dataset}.jsonl", encoding))
    if not lines:
        raise InputError(f"{folder / f'{dataset}.jsonl'}: holds no utterance; expected one JSON object per line.")
    file = f"{dataset}.jsonl"
    keys = [_text(record, "key", file, line) for line, record in lines]
    _refuse_repeats(keys, [line for line, _ in lines], file)
    codes = [_text(record, "emo", file, line) for line, record in lines]
    for code, (line, _) in zip(codes, lines, strict=True):
        if code not in label_map:
            raise InputError(
                f"{place(file, line, 'emo', unit='line')}: label code {code!r} is not in label_map.json (codes: "
                f"{', '.join(label_map)}); add it to the map, or remove the line."
            )
    index = pd.Index(keys, dtype=STRING, name="item")
    items = pd.DataFrame(index=index)
    wav = pd.Series([_text(record, "wav", file, line) for line, record in lines], index=index, dtype=STRING)
    audio_folder = os.path.abspath(root if audio_root is None else audio_root)
    items["audio"] = resolve_media_column(
        wav, audio_folder, file, "wav", allow_outside_paths=allow_outside_paths, notes=notes,
        rows=[line for line, _ in lines],
    ).to_numpy()  # fmt: skip
    items["duration"] = [_number(record, "length", file, line) for line, record in lines]
    for field in ("start_time", "end_time"):
        if any(field in record for _, record in lines):
            items[field] = [_number(record, field, file, line) for line, record in lines]
    if "start_time" in items.columns:
        _refuse_reversed_times(items, file, [line for line, _ in lines])
        notes.append(
            f"Utterances cut from longer files (start_time / end_time): {int(items['start_time'].notna().sum())}; "
            "features are extracted from the whole file named in wav."
        )
    if speaker_pattern is not None:
        items["speaker"] = _speakers(keys, speaker_pattern, file, [line for line, _ in lines])
    fold_columns = _folds(folder, dataset, dict(zip(keys, codes, strict=True)), encoding, notes)
    for column, values in fold_columns.items():
        items[column] = pd.Series(values, dtype=STRING).reindex(index).fillna(UNUSED).to_numpy()
    _note_audio(items["audio"], notes)
    ratings = pd.DataFrame(
        {"item": keys, "rater": RATER, "label": codes, "slot": "primary", "source_file": file,
         "source_row": [line for line, _ in lines]}
    )  # fmt: skip
    classes = list(dict.fromkeys(label_map.values()))
    notes.insert(0, f"Utterances: {len(items)}; classes (label_map.json values): {', '.join(classes)}.")
    return Corpus(
        name or dataset,
        items,
        ratings,
        classes=classes,
        class_map=label_map,
        source=str(folder),
        description=describe_import(str(folder), notes),
        audio_root=audio_folder,
    )


def _locate(directory: Path, dataset: str) -> tuple[Path, Path]:
    """The corpus's metadata folder and the default audio root: ``directory/data/DATASET`` (an EmoBox checkout)
    or ``directory`` itself (holding ``DATASET.jsonl``); the audio root is ``directory`` either way."""
    candidates = [directory / "data" / dataset, directory]
    for folder in candidates:
        if (folder / f"{dataset}.jsonl").is_file():
            return folder, directory
    looked = " and ".join(str(c / f"{dataset}.jsonl") for c in candidates)
    raise InputError(
        f"EmoBox corpus {dataset!r}: no {dataset}.jsonl at {looked}; give the EmoBox folder (holding data/{dataset}/) "
        "or the corpus's metadata folder, and the corpus's EmoBox name (iemocap, cremad, emodb, ...)."
    )


def _label_map(path: Path, encoding: str) -> dict[str, str]:
    if not path.is_file():
        raise InputError(
            f"{path}: missing; EmoBox ships label_map.json (label code -> class name) beside each corpus's .jsonl. "
            'Write one mapping every code of the emo field to a class, e.g. {"neu": "Neutral", "ang": "Angry"}.'
        )
    try:
        mapping = parse_json(read_text(path, "EmoBox label map", encoding))
    except ValueError as exc:
        raise InputError(f"{path.name}: not valid JSON ({exc}); expected an object of code -> class name.") from None
    if not isinstance(mapping, dict) or not mapping:
        raise InputError(f"{path.name}: expected a non-empty JSON object of code -> class name, found {mapping!r:.60}.")
    bad = [(k, v) for k, v in mapping.items() if not isinstance(v, str) or not v.strip() or not k.strip()]
    if bad:
        raise InputError(f"{path.name}: code {bad[0][0]!r} maps to {bad[0][1]!r}; every code needs a class name.")
    return {k.strip(): v.strip() for k, v in mapping.items()}


def _json_lines(path: Path, encoding: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each non-blank line of a JSON-lines file."""
    text = read_text(path, "EmoBox metadata", encoding)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = parse_json(line)
        except ValueError as exc:
            raise InputError(
                f"{path.name}, line {number}: not valid JSON ({exc}); expected one JSON object per line "
                '({"key": ..., "wav": ..., "emo": ...}).'
            ) from None
        if not isinstance(record, dict):
            raise InputError(f"{path.name}, line {number}: expected a JSON object, found {type(record).__name__}.")
        yield number, record


def _text(record: dict, field: str, file: str, line: int) -> str:
    value = record.get(field)
    if not isinstance(value, str) or not value.strip():
        found = "nothing" if value is None else repr(value)[:40]
        raise InputError(f"{place(file, line, field, unit='line')}: expected a non-empty text, found {found}.")
    if any(c in value for c in "\t\n\r\x00"):
        raise InputError(f"{place(file, line, field, unit='line')}: holds a tab, line break or NUL ({value!r:.40}).")
    return value.strip()


def _number(record: dict, field: str, file: str, line: int) -> float:
    if field not in record or record[field] is None:
        return np.nan
    value = finite_number(record[field])
    if value is None or value < 0:
        raise InputError(
            f"{place(file, line, field, unit='line')}: expected a finite number of seconds, "
            f"found {record[field]!r:.40}; lengths and times are 0 or more."
        )
    return value


def _refuse_reversed_times(items: pd.DataFrame, file: str, lines: list[int]) -> None:
    """An utterance whose ``end_time`` is not after its ``start_time`` is an InputError naming its line."""
    if "end_time" not in items.columns:
        return
    reversed_ = (items["end_time"] <= items["start_time"]).to_numpy(dtype=bool)
    if reversed_.any():
        at = int(np.flatnonzero(reversed_)[0])
        raise InputError(
            f"{place(file, lines[at], 'end_time', unit='line')}: ends at {items['end_time'].iat[at]} s, not after its "
            f"start_time {items['start_time'].iat[at]} s ({int(reversed_.sum())} such lines); fix the times."
        )


def _refuse_repeats(keys: list[str], lines: list[int], file: str) -> None:
    first: dict[str, int] = {}
    for key, line in zip(keys, lines, strict=True):
        if key in first:
            raise InputError(f"{file}, lines {first[key]} and {line}: key {key!r} is given twice; keep one.")
        first[key] = line


def _speakers(keys: list[str], pattern: str, file: str, lines: list[int]) -> list[str]:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise InputError(f"{option('speaker_pattern')}: {pattern!r} is not a regular expression ({exc}).") from None
    if not compiled.groups:
        raise InputError(f"{option('speaker_pattern')}: {pattern!r} has no group; put the speaker part in (...).")
    group = "speaker" if "speaker" in compiled.groupindex else 1
    speakers = []
    for key, line in zip(keys, lines, strict=True):
        found = compiled.search(key)
        if found is None or not found.group(group):
            raise InputError(
                f"{place(file, line, 'key', unit='line')}: {option('speaker_pattern')} {pattern!r} does not match "
                f"{key!r}; write a pattern every key matches."
            )
        speakers.append(found.group(group))
    return speakers


def _folds(folder: Path, dataset: str, codes: dict[str, str], encoding: str, notes: list[str]) -> dict[str, dict]:
    """Per fold column, item -> partition value, from ``fold_N/DATASET_{train,valid,test}_fold_N.jsonl``; the
    counts per partition, the items in no fold and the files not read go to ``notes``."""
    folds = {int(m.group(1)): p for p in folder.iterdir() if (m := _FOLD_DIR.fullmatch(p.name)) and p.is_dir()}
    if not folds:
        notes.append(f"No fold_N folders in {folder}: the corpus has no EmoBox fold columns.")
        return {}
    columns: dict[str, dict] = {}
    skipped: list[str] = []
    counts = []
    for number in sorted(folds):
        column = FOLD_COLUMN.format(number)
        columns[column] = partition_of = _fold(folds[number], number, dataset, codes, encoding, skipped)
        tally = Counter(partition_of.values())
        unused = len(codes) - len(partition_of)
        parts = ", ".join(f"{value} {tally[value]}" for value in PARTITIONS.values() if tally[value])
        counts.append(f"{column}: {parts}" + (f", {UNUSED} {unused}" if unused else ""))
    notes.append(f"Folds (item column: items per partition): {'; '.join(counts)}.")
    if not any(PARTITIONS["valid"] in c for c in counts):
        notes.append(
            "EmoBox names no development partition for these folds: a model that stops early is refused on them; "
            "hold out a speaker-disjoint share of each training fold (recipe protocol.split.dev_share, with a "
            f"speaker column: {option('speaker_pattern')}) or train without early stopping (--patience 0)."
        )
    in_a_fold = set().union(*columns.values())
    nowhere = [key for key in codes if key not in in_a_fold]
    if nowhere:
        notes.append(f"Items in no fold file: {len(nowhere)} ({_listed(nowhere)}).")
    if skipped:
        notes.append(f"Files in the fold folders not read (not {dataset}_{{train,valid,test}}_fold_N.jsonl): "
                     f"{len(skipped)} ({_listed(skipped)}).")  # fmt: skip
    return columns


def _fold(
    directory: Path, number: int, dataset: str, codes: dict[str, str], encoding: str, skipped: list[str]
) -> dict[str, str]:
    """Item -> partition value (``Train``, ``Development``, ``Test``) of one fold folder; other files go to
    ``skipped``."""
    wanted = re.compile(rf"{re.escape(dataset)}_(train|valid|test)_fold_{number}\.jsonl")
    partition_of: dict[str, str] = {}
    where_from: dict[str, str] = {}
    found = set()
    for path in sorted(directory.iterdir()):
        match = wanted.fullmatch(path.name)
        if match is None:
            skipped.append(f"{directory.name}/{path.name}")
            continue
        found.add(match.group(1))
        for line, record in _json_lines(path, encoding):
            key = _text(record, "key", path.name, line)
            here = place(path.name, line, "key", unit="line")
            if key not in codes:
                raise InputError(f"{here}: {key!r} is not in {dataset}.jsonl; the metadata do not belong together.")
            if record.get("emo") is not None and record.get("emo") != codes[key]:
                raise InputError(
                    f"{place(path.name, line, 'emo', unit='line')}: {record.get('emo')!r} for {key!r}, but "
                    f"{dataset}.jsonl has {codes[key]!r}; the metadata do not belong together."
                )
            if key in partition_of:
                raise InputError(f"{here}: {key!r} is in {where_from[key]} already; one partition per fold.")
            partition_of[key], where_from[key] = PARTITIONS[match.group(1)], f"{path.name}, line {line}"
    missing = [p for p in ("train", "test") if p not in found]
    if missing:
        raise InputError(
            f"{directory}: no {' and no '.join(f'{dataset}_{p}_fold_{number}.jsonl' for p in missing)}; "
            "an EmoBox fold has a train and a test file."
        )
    return partition_of


def _listed(names: list[str]) -> str:
    return ", ".join(names[:_SHOWN]) + (", ..." if len(names) > _SHOWN else "")


def _note_audio(audio: pd.Series, notes: list[str]) -> None:
    """Count the audio files that are not there (EmoBox ships metadata only; the audio comes from each corpus)."""
    absent = [path for path in audio if not os.path.isfile(path)]
    if absent:
        notes.append(f"Audio files not found: {len(absent)} of {len(audio)} (first: {absent[0]}); download the corpus "
                     f"into the audio root, or give {option('audio_root')}.")  # fmt: skip
