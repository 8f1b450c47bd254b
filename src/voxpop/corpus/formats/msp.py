"""MSP-Podcast and MSP-Face: per-rater ``labels_detailed.json`` / ``.csv`` (+ optional consensus table) -> Corpus.

The per-rater labels come in three shapes, all read (CSV or JSON is recognised from the content)::

    {"MSP-PODCAST_0001_0008.wav": {"WORKER00001": {"EmoClass_Major": "Neutral", "EmoClass_Second": "Neutral,Sad",
                                                   "EmoAct": "3", "EmoVal": "4", "EmoDom": "3"}, ...}, ...}
    {"MSP-FACE_0253_0006.mp4": {"Workers": [{"Name": "WORKER0000013", "EmoClass_Major": "Happy", ...}, ...]}}

    FileName,EmoDetail                                       (labels_detailed.csv, releases 1.12 / 2.0)
    MSP-PODCAST_0001_0008.wav,"WORKER00001; Neutral; Neutral,Sad; A:3.0; V:4.0; D:3.0;"

In the CSV, ``EmoDetail`` packs the worker, the primary emotion, the secondary list (may be empty)
and ``A:`` / ``V:`` / ``D:`` (EmoAct / EmoVal / EmoDom); it gives exactly the ratings of the JSON.

Each rater record becomes (item id = file name without its extension, kept exactly otherwise: a folder part such as
``Part1/`` and any ``\\`` stay in the id; rater = worker id):

* one ``primary`` rating: ``EmoClass_Major``;
* one ``secondary`` rating per label of the comma-separated ``EmoClass_Second`` list, which may
  repeat the primary (it lists everything the rater perceived). Free-text entries (``Other-Bored``)
  become the excluded class ``other``; labels outside ``secondary_classes`` (default: the primary
  classes) become ``other`` too; both are counted in the report, and a label repeated within one
  rater's list after mapping is kept once (counted);
* three ``dimension`` ratings labelled ``arousal`` (EmoAct), ``valence`` (EmoVal) and ``dominance``
  (EmoDom) with the value on the 1..7 scale (a blank value is skipped and counted).

The consensus table (``labels_consensus.csv``: FileName, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID,
Gender, Split_Set; or MSP-Face's ``labels_concensus.json``) adds the item columns ``speaker``,
``gender``, ``split``, ``consensus_class`` (empty for ``X``, no agreement) and ``consensus_arousal`` /
``consensus_valence`` / ``consensus_dominance``. The report (``corpus.description``) counts everything
mapped or skipped, including consensus rows without ratings and rated files without a consensus row.
Ratings carry ``source_file``, ``source_row`` (the JSON line of the field, or the CSV data row) and
``source_column`` (the JSON field, or ``EmoDetail``).

A worker with two records for one file is a repeated judgement, handled by ``duplicates``
(see :mod:`voxpop.corpus.repeats`: ``error``, ``first``, ``last``, ``drop``, ``mean``); ``first`` / ``last``
keep whole records and ``mean`` averages EmoAct / EmoVal / EmoDom when the categorical answers agree.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from json.decoder import scanstring
from pathlib import Path

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.corpus import STRING, Corpus
from voxpop.corpus.formats.audio_files import check_relative_name, file_item_id
from voxpop.corpus.formats.free_text import is_free_text_other
from voxpop.corpus.formats.tables import (
    DEFAULT_ENCODING,
    describe_import,
    finite_number,
    id_column,
    number_column,
    place,
    read_table,
    read_text,
    require_columns,
    shown,
    tally,
    text_column,
)
from voxpop.corpus.repeats import check_policy, resolve_repeats

PRIMARY_CLASSES = ("angry", "sad", "happy", "surprise", "fear", "disgust", "contempt", "neutral")
OTHER = "other"
CLASS_MAP = {
    **{name.capitalize(): name for name in PRIMARY_CLASSES},
    "Other": OTHER,
    **dict(zip("ASHUFDCNO", [*PRIMARY_CLASSES, OTHER], strict=True)),
}
NO_AGREEMENT = "X"
DIMENSIONS = {"EmoAct": "arousal", "EmoVal": "valence", "EmoDom": "dominance"}
DIMENSION_SCALE = (1.0, 7.0)
PRIMARY_FIELD, SECONDARY_FIELD = "EmoClass_Major", "EmoClass_Second"
FIELDS = (PRIMARY_FIELD, SECONDARY_FIELD, *DIMENSIONS)
CONSENSUS_COLUMNS = ("FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set")
UNKNOWN = "Unknown"
_LOOKUP = {native.lower(): target for native, target in CLASS_MAP.items()}
_DECODER = json.JSONDecoder()
_BLANKS = re.compile(r"[ \t\n\r]*")
MAX_DEPTH = 32  # MSP files nest 5 levels (files, workers, record, field list); deeper input is refused


def canonical_label(raw: str) -> str:
    """An MSP label (full name or one-letter code, any case) as a lower-case name; free text ``Other-...`` -> ``other``.

    Names that are not MSP classes (secondary extras such as ``Frustrated``) are returned lower-cased.

    >>> [canonical_label(x) for x in ("Neutral", "N", "sad", "Other-Bored", "Other (tired)", "Frustrated")]
    ['neutral', 'neutral', 'sad', 'other', 'other', 'frustrated']
    """
    key = raw.strip().lower()
    if key in _LOOKUP:
        return _LOOKUP[key]
    return OTHER if is_free_text_other(key) else key


def split_secondary(raw: str | Sequence[str] | None) -> list[str]:
    """The labels of an ``EmoClass_Second`` entry: a comma-separated string (or a JSON list); blanks dropped.

    >>> split_secondary("Neutral, Sad,,Other-Bored")
    ['Neutral', 'Sad', 'Other-Bored']
    """
    if raw is None:
        return []
    parts = raw.split(",") if isinstance(raw, str) else [str(x) for x in raw]
    return [p.strip() for p in parts if p.strip()]


# ----------------------------------------------------------------------------- JSON with line numbers
class _LocatedJson:
    """A JSON document whose object members and array elements can be listed with their text offsets."""

    def __init__(self, path: Path, encoding: str = DEFAULT_ENCODING):
        self.file = path.name
        self.text = read_text(path, "labels", encoding)
        if not self.text.strip():
            raise InputError(f"{self.file}: the file is empty; expected a JSON object keyed by file name.")
        try:
            _check_depth(json.loads(self.text), self.file)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{self.file}, line {exc.lineno}, character {exc.colno}: not valid JSON ({exc.msg})."
            ) from exc
        except RecursionError:
            raise InputError(
                f"{self.file}: the JSON is nested too deeply to read; expected a JSON object keyed by file name "
                f"(an MSP labels file nests at most {MAX_DEPTH} levels)."
            ) from None
        self._newlines = [m.start() for m in re.finditer("\n", self.text)]
        self.root = _BLANKS.match(self.text).end()

    def line(self, offset: int) -> int:
        """1-based line number of a text offset."""
        return bisect.bisect_left(self._newlines, offset) + 1

    def children(self, start: int) -> list[tuple[str | int, object, int, int]]:
        """(key or index, value, value start, value end) of the object or array starting at ``start``.

        Repeated keys are all kept (``json.load`` would silently keep the last one).
        """
        text = self.text
        is_object = text[start] == "{"
        pos = _BLANKS.match(text, start + 1).end()
        out: list[tuple[str | int, object, int, int]] = []
        if text[pos] in "}]":
            return out
        while True:
            key: str | int = len(out)
            if is_object:
                key, pos = scanstring(text, pos + 1)
                pos = _BLANKS.match(text, pos).end() + 1  # past ':'
                pos = _BLANKS.match(text, pos).end()
            value, end = _DECODER.raw_decode(text, pos)
            out.append((key, value, pos, end))
            pos = _BLANKS.match(text, end).end()
            if text[pos] != ",":
                return out
            pos = _BLANKS.match(text, pos + 1).end()

    def field_line(self, field: str, start: int, end: int) -> int:
        """Line of ``"field"`` inside the object spanning ``start:end`` (the object's line when absent)."""
        offset = self.text.find(json.dumps(field), start, end)
        return self.line(offset if offset >= 0 else start)


def _check_depth(value: object, file: str) -> None:
    """Refuse JSON nested deeper than :data:`MAX_DEPTH` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InputError(
                f"{file}: the JSON is nested more than {MAX_DEPTH} levels deep; expected an MSP labels file "
                "(an object of files, each an object or list of rater records)."
            )
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children)


@dataclasses.dataclass(frozen=True)
class _Record:
    """One rater record; ``lines`` holds each field's JSON line, or the CSV data row (``unit`` "row")."""

    file_name: str
    worker: str
    fields: dict
    lines: dict[str, int]
    line: int
    unit: str = "line"

    def place(self, file: str, field: str | None = None) -> str:
        """Where the record (or one of its fields) is: a JSON line and field, or a CSV row of ``EmoDetail``."""
        if self.unit == "row":
            return place(file, self.line, DETAIL_COLUMN) + (f" ({field} part)" if field else "")
        return place(file, self.lines[field] if field else self.line, field, "line")


def _records(doc: _LocatedJson) -> Iterator[_Record | str]:
    """Every rater record of labels_detailed.json; a file name alone when it has no rater."""
    if doc.text[doc.root] != "{":
        raise InputError(f"{doc.file}, line {doc.line(doc.root)}: expected a JSON object keyed by file name.")
    for file_name, entry, start, _ in doc.children(doc.root):
        check_relative_name(file_name, f"{doc.file}, line {doc.line(start)}")
        if not isinstance(entry, dict):
            raise InputError(
                f"{doc.file}, line {doc.line(start)}: the entry of {file_name!r} must be an object of raters, "
                f"found {type(entry).__name__}."
            )
        workers = entry.get("Workers")
        if isinstance(workers, list):
            _, _, w_start, _ = next(c for c in doc.children(start) if c[0] == "Workers")
            members = [(None, record, r_start, r_end) for _, record, r_start, r_end in doc.children(w_start)]
        else:
            members = doc.children(start)
        if not members:
            yield str(file_name)
        for worker, record, r_start, r_end in members:
            line = doc.line(r_start)
            if not isinstance(record, dict):
                raise InputError(
                    f"{doc.file}, line {line}: a rater record of {file_name!r} must be an object with the fields "
                    f"{', '.join(FIELDS)}; found {type(record).__name__}."
                )
            if worker is None:
                worker = record.get("Name")
                if not isinstance(worker, str) or not worker.strip():
                    raise InputError(
                        f"{place(doc.file, line, 'Name', 'line')}: a record in 'Workers' of {file_name!r} "
                        f"needs the worker id in 'Name', found {worker!r}."
                    )
            lines = {field: doc.field_line(field, r_start, r_end) for field in FIELDS}
            yield _Record(str(file_name), str(worker).strip(), record, lines, line)


# ----------------------------------------------------------------------------- labels_detailed.csv
DETAIL_COLUMN = "EmoDetail"
_DETAIL_DIMENSIONS = {"A": "EmoAct", "V": "EmoVal", "D": "EmoDom"}
_DETAIL_EXAMPLE = "'WORKER00000101; Neutral; Neutral,Sad; A:3.0; V:4.0; D:3.0;'"
_DIMENSION_PART = re.compile(r"(?P<key>[A-Za-z]+)\s*:\s*(?P<value>.*)")


def parse_emo_detail(text: str, where: str = "EmoDetail") -> tuple[str, dict[str, str | None]]:
    """The worker and the JSON-style fields of one packed ``EmoDetail`` cell of labels_detailed.csv.

    The secondary list may be empty or absent; a missing A/V/D part gives an empty (blank) value.
    Raises :class:`InputError` (prefixed by ``where``) for a cell without worker or primary emotion,
    or with a part that is not ``A:x``, ``V:y`` or ``D:z``.

    >>> parse_emo_detail("WORKER00000101; Neutral; Neutral,Sad; A:3.0; V:4.0; D:3.0;")
    ('WORKER00000101', {'EmoClass_Major': 'Neutral', 'EmoClass_Second': 'Neutral,Sad', 'EmoAct': '3.0', \
'EmoVal': '4.0', 'EmoDom': '3.0'})
    >>> parse_emo_detail("W2; Sad; ; A:2; V:; D:3")[1]["EmoClass_Second"], parse_emo_detail("W2; Sad; ; A:2; V:")[1]
    ('', {'EmoClass_Major': 'Sad', 'EmoClass_Second': '', 'EmoAct': '2', 'EmoVal': '', 'EmoDom': None})
    """
    parts = [p.strip() for p in text.split(";")]
    if parts and not parts[-1]:
        parts.pop()
    split = next((i for i, p in enumerate(parts) if _DIMENSION_PART.fullmatch(p) and i >= 2), len(parts))
    positional, dimensions = parts[:split], parts[split:]
    if len(positional) not in (2, 3) or not all(positional[:2]):
        raise InputError(
            f"{where}: expected 'WORKER; Primary; Secondary,List; A:x; V:y; D:z;' (e.g. {_DETAIL_EXAMPLE}), "
            f"found {text!r}."
        )
    fields: dict[str, str | None] = {
        PRIMARY_FIELD: positional[1],
        SECONDARY_FIELD: positional[2] if len(positional) == 3 else "",
        **dict.fromkeys(_DETAIL_DIMENSIONS.values()),
    }
    for part in dimensions:
        match = _DIMENSION_PART.fullmatch(part)
        key = match["key"].upper() if match else None
        if key not in _DETAIL_DIMENSIONS:
            raise InputError(
                f"{where}: {part!r} is not a dimension part; expected A:x (arousal), V:y (valence) or D:z "
                f"(dominance), e.g. {_DETAIL_EXAMPLE}."
            )
        fields[_DETAIL_DIMENSIONS[key]] = match["value"].strip()
    return positional[0], fields


def _csv_records(path: Path, encoding: str = DEFAULT_ENCODING) -> Iterator[_Record]:
    """Every rater record of labels_detailed.csv (``FileName,EmoDetail``), one per data row."""
    table = read_table(path, "MSP labels_detailed.csv", encoding)
    require_columns(
        table, ("FileName", DETAIL_COLUMN), path.name,
        f"labels_detailed.csv has the columns FileName,{DETAIL_COLUMN} with {DETAIL_COLUMN} like {_DETAIL_EXAMPLE}.",
    )  # fmt: skip
    names = id_column(table, "FileName", path.name)
    details = text_column(table, DETAIL_COLUMN, path.name)
    for row, (file_name, detail) in enumerate(zip(names, details, strict=True), start=1):
        check_relative_name(file_name, place(path.name, row, "FileName"))
        worker, fields = parse_emo_detail(detail, place(path.name, row, DETAIL_COLUMN))
        yield _Record(file_name, worker, fields, dict.fromkeys(FIELDS, row), row, unit="row")


def _is_json(path: Path, encoding: str = DEFAULT_ENCODING) -> bool:
    """True when the file starts (after blanks and a byte-order mark) with ``{`` or ``[`` (decoded as it is read)."""
    head = read_text(path, "labels", encoding).lstrip("\ufeff \t\r\n")
    if not head:
        raise InputError(
            f"{path.name}: the file is empty; expected labels_detailed.json (a JSON object keyed by file name) or "
            "labels_detailed.csv (FileName,EmoDetail)."
        )
    return head[:1] in ("{", "[")


# ----------------------------------------------------------------------------- the reader
def read_msp(
    labels: str | Path,
    consensus: str | Path | None = None,
    *,
    secondary_classes: Sequence[str] | None = None,
    audio_dir: str | Path | None = None,
    duplicates: str = "error",
    name: str = "msp-podcast",
    encoding: str = DEFAULT_ENCODING,
) -> Corpus:
    """Read MSP-Podcast / MSP-Face per-rater labels (JSON or ``labels_detailed.csv``, plus optionally the
    consensus table) into a Corpus.

    Classes are the MSP-Podcast primary set (angry, sad, happy, surprise, fear, disgust, contempt,
    neutral), excluded ``other``; the class map lists the full names and the one-letter codes.
    ``secondary_classes`` (lower-case names, e.g. adding ``frustrated``, ``amused``) keeps those
    secondary labels as classes (appended after the primary classes); every other secondary label
    becomes ``other`` and is counted. ``audio_dir`` adds an ``audio`` column (``audio_dir / file``); a file
    name (JSON key, CSV ``FileName`` or consensus ``FileName``) with a ``..`` component or an absolute path
    raises InputError naming its place. ``duplicates`` is the policy for a worker with two records for one
    file (default ``error``: refuse, naming both records and their answers; see :mod:`voxpop.corpus.repeats`); what
    it removed is counted. ``encoding``: text encoding of the files (default: detected). A dimension value that
    is not a finite number (``inf``, ``nan``, ``1e400``) raises InputError; JSON nested deeper than any MSP
    file raises InputError instead of exhausting the stack. Raises :class:`InputError` naming file, line
    (JSON) or row (CSV) and field for malformed input.
    """
    check_policy(duplicates)
    path = Path(labels)
    extra = _secondary_extras(secondary_classes)
    keep_secondary = set(secondary_classes) if secondary_classes is not None else set(PRIMARY_CLASSES)
    is_json = _is_json(path, encoding)
    file = path.name
    records = _records(_LocatedJson(path, encoding)) if is_json else _csv_records(path, encoding)
    columns = ("item", "rater", "slot", "label", "value", "source_row", "source_column", "record")
    rows: dict[str, list] = {k: [] for k in columns}
    item_files: dict[str, str] = {}
    notes = _Notes()

    def add(record: int, item: str, rater: str, slot: str, label: str, value: float, line: int, field: str) -> None:
        values = (item, rater, slot, label, value, line, field if is_json else DETAIL_COLUMN, record)
        for key, x in zip(rows, values, strict=True):
            rows[key].append(x)

    for number, record in enumerate(records):
        file_name = record if isinstance(record, str) else record.file_name
        item = file_item_id(file_name)
        if item_files.setdefault(item, file_name) != file_name:
            raise InputError(f"{file}: files {item_files[item]!r} and {file_name!r} give the same item id {item!r}.")
        if isinstance(record, str):
            notes.files_without_raters += 1
            continue
        missing = [f for f in FIELDS if f not in record.fields]
        if missing:
            raise InputError(
                f"{record.place(file)}: rater {record.worker!r} on {file_name!r} lacks field(s) "
                f"{', '.join(missing)}; expected the fields {', '.join(FIELDS)}."
            )
        primary = _primary_label(record, file, notes)
        add(number, item, record.worker, "primary", primary, np.nan, record.lines[PRIMARY_FIELD], PRIMARY_FIELD)
        for label in _secondary_labels(record, file, keep_secondary, notes):
            add(number, item, record.worker, "secondary", label, np.nan, record.lines[SECONDARY_FIELD], SECONDARY_FIELD)
        for field, dimension in DIMENSIONS.items():
            value = _dimension_value(record, field, file)
            if np.isnan(value):
                notes.blank_dimensions += 1
                continue
            add(number, item, record.worker, "dimension", dimension, value, record.lines[field], field)

    if not item_files:
        raise InputError(f"{file}: lists no files; expected a JSON object keyed by file name.")
    ratings = pd.DataFrame(rows).assign(source_file=file)
    ratings, notes.repeats = resolve_repeats(ratings.drop(columns="record"), duplicates, ratings["record"])
    items = pd.DataFrame(
        {"file": pd.array(list(item_files.values()), dtype=STRING)},
        index=pd.Index(list(item_files), dtype=STRING, name="item"),
    )
    if audio_dir is not None:
        root = os.path.abspath(audio_dir)  # stored absolute: features never resolve against the working directory
        items["audio"] = pd.array([os.path.join(root, f) for f in item_files.values()], dtype=STRING)
    sources = [str(path)]
    if consensus is not None:
        items = _attach_consensus(items, Path(consensus), notes, encoding)
        sources.append(str(consensus))
    notes.ratings, notes.raters = len(ratings), ratings["rater"].nunique()
    return Corpus(
        name,
        items,
        ratings,
        classes=[*PRIMARY_CLASSES, *extra],
        class_map={**CLASS_MAP, **{c.capitalize(): c for c in extra}},
        excluded=[OTHER],
        scales={"dimension": DIMENSION_SCALE},
        source=", ".join(sources),
        description=describe_import(" and ".join(Path(s).name for s in sources), notes.sentences(len(items))),
        audio_root="" if audio_dir is None else os.path.abspath(audio_dir),
    )


@dataclasses.dataclass
class _Notes:
    """What the MSP reader mapped or skipped, for the report."""

    free_text_primary: Counter = dataclasses.field(default_factory=Counter)
    free_text_secondary: Counter = dataclasses.field(default_factory=Counter)
    outside_secondary: Counter = dataclasses.field(default_factory=Counter)
    repeated_secondary: int = 0
    empty_secondary: int = 0
    blank_dimensions: int = 0
    files_without_raters: int = 0
    consensus_only: list[str] = dataclasses.field(default_factory=list)
    without_consensus: int = 0
    no_agreement: int = 0
    repeats: list[str] = dataclasses.field(default_factory=list)
    ratings: int = 0
    raters: int = 0

    def sentences(self, n_items: int) -> list[str]:
        out = [f"Ratings: {self.ratings}; raters: {self.raters}; items: {n_items}."]
        for counter, what in (
            (self.free_text_primary, "Free-text 'Other-...' primary choices read as 'other'"),
            (self.free_text_secondary, "Free-text 'Other-...' secondary labels read as 'other'"),
            (self.outside_secondary, "Secondary labels outside the secondary classes read as 'other'"),
        ):
            if counter:
                out.append(f"{what}: {counter.total()} ({tally(counter)}).")
        for count, what in (
            (self.repeated_secondary, "Secondary labels repeated within one rater's list, kept once"),
            (self.empty_secondary, "Raters who listed no secondary emotion"),
            (self.blank_dimensions, "Blank EmoAct/EmoVal/EmoDom values skipped"),
            (self.files_without_raters, "Files without any rater record (items without ratings)"),
            (self.without_consensus, "Rated files without a consensus row"),
            (self.no_agreement, "Rated files whose consensus is X (no agreement; consensus_class empty)"),
        ):
            if count:
                out.append(f"{what}: {count}.")
        out += self.repeats
        if self.consensus_only:
            out.append(
                f"Consensus rows for files without ratings, not imported: {len(self.consensus_only)} "
                f"(first: {', '.join(self.consensus_only[:5])})."
            )
        return out


def _secondary_extras(secondary_classes: Sequence[str] | None) -> list[str]:
    if secondary_classes is None:
        return []
    bad = [c for c in secondary_classes if not c or c != c.strip().lower() or c == OTHER]
    if bad:
        raise ConfigError(
            f"secondary_classes {bad} are not valid: give lower-case class names such as 'frustrated'; "
            f"'{OTHER}' is always the excluded class."
        )
    return [c for c in dict.fromkeys(secondary_classes) if c not in PRIMARY_CLASSES]


def _primary_label(record: _Record, file: str, notes: _Notes) -> str:
    raw = record.fields[PRIMARY_FIELD]
    label = canonical_label(raw) if isinstance(raw, str) else ""
    if label not in (*PRIMARY_CLASSES, OTHER):
        names = ", ".join(k for k in CLASS_MAP if len(k) > 1)
        raise InputError(
            f"{record.place(file, PRIMARY_FIELD)}: rater {record.worker!r} on "
            f"{record.file_name!r} chose {raw!r}, which is not an MSP primary class; expected one of {names} "
            f"(or the codes {' '.join(k for k in CLASS_MAP if len(k) == 1)}, or 'Other-<text>')."
        )
    if is_free_text_other(raw):
        notes.free_text_primary[raw.strip()] += 1
    return label


def _secondary_labels(record: _Record, file: str, keep: set[str], notes: _Notes) -> list[str]:
    raw = record.fields[SECONDARY_FIELD]
    if raw is not None and not isinstance(raw, str | list):
        raise InputError(
            f"{record.place(file, SECONDARY_FIELD)}: expected a comma-separated list of emotions, found {raw!r}."
        )
    labels = []
    for text in split_secondary(raw):
        label = canonical_label(text)
        if is_free_text_other(text):
            notes.free_text_secondary[text] += 1
        elif label != OTHER and label not in keep:
            notes.outside_secondary[text] += 1
            label = OTHER
        labels.append(label)
    if not labels:
        notes.empty_secondary += 1
    unique = list(dict.fromkeys(labels))
    notes.repeated_secondary += len(labels) - len(unique)
    return unique


def _dimension_value(record: _Record, field: str, file: str) -> float:
    raw = record.fields[field]
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return np.nan
    value = finite_number(raw)
    if value is None:
        raise InputError(
            f"{record.place(file, field)}: rater {record.worker!r} on {record.file_name!r} "
            f"gave {shown(raw)}; expected a number on the {DIMENSION_SCALE[0]:g}..{DIMENSION_SCALE[1]:g} scale."
        )
    return value


# ----------------------------------------------------------------------------- consensus
def _read_consensus(path: Path, encoding: str) -> tuple[pd.DataFrame, list[int] | None, str]:
    """The consensus table, the source line of each row for JSON (None for CSV: data rows) and the unit."""
    if path.suffix.lower() != ".json":
        return read_table(path, "consensus", encoding), None, "row"
    doc = _LocatedJson(path, encoding)
    if doc.text[doc.root] != "{":
        raise InputError(f"{doc.file}, line {doc.line(doc.root)}: expected a JSON object keyed by file name.")
    records, lines = [], []
    for file_name, entry, start, _ in doc.children(doc.root):
        if isinstance(entry, list) and len(entry) == 1:
            entry = entry[0]
        if not isinstance(entry, dict):
            raise InputError(
                f"{doc.file}, line {doc.line(start)}: the consensus entry of {file_name!r} must be one object "
                f"with the fields {', '.join(CONSENSUS_COLUMNS[1:])}."
            )
        fields = {("EmoClass" if k == PRIMARY_FIELD else k): v for k, v in entry.items()}
        records.append({k: None if v is None else str(v) for k, v in fields.items()} | {"FileName": file_name})
        lines.append(doc.line(start))
    if not records:
        raise InputError(f"{doc.file}: the consensus file lists no files.")
    return pd.DataFrame.from_records(records), lines, "line"


def _attach_consensus(items: pd.DataFrame, path: Path, notes: _Notes, encoding: str) -> pd.DataFrame:
    table, rows, unit = _read_consensus(path, encoding)
    file = path.name
    require_columns(
        table, ("FileName", "EmoClass"), file, f"labels_consensus has the columns {', '.join(CONSENSUS_COLUMNS)}."
    )
    names = id_column(table, "FileName", file, rows=rows, unit=unit)
    for position, file_name in enumerate(names):
        check_relative_name(file_name, place(file, rows[position] if rows else position + 1, "FileName", unit))
    ids = pd.Index([file_item_id(n) for n in names], dtype=STRING, name="item")
    if ids.has_duplicates:
        row = int(np.flatnonzero(ids.duplicated())[0])
        raise InputError(
            f"{place(file, rows[row] if rows else row + 1, 'FileName', unit)}: file {names.iat[row]!r} "
            "appears more than once."
        )
    meta = pd.DataFrame(index=ids)
    codes = text_column(table, "EmoClass", file, rows=rows, unit=unit)
    unknown = ~codes.str.lower().isin([*_LOOKUP, NO_AGREEMENT.lower()])
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InputError(
            f"{place(file, rows[row] if rows else row + 1, 'EmoClass', unit)}: consensus class {codes.iat[row]!r} "
            f"is not an MSP code; expected one of {' '.join(k for k in CLASS_MAP if len(k) == 1)} {NO_AGREEMENT} "
            "(or a full class name)."
        )
    meta["consensus_class"] = pd.array([_LOOKUP.get(c.lower()) for c in codes], dtype=STRING)
    for column, target in (("SpkrID", "speaker"), ("Gender", "gender"), ("Split_Set", "split")):
        if column in table.columns:
            values = text_column(table, column)
            values = values.mask(values.str.lower().eq(UNKNOWN.lower()).fillna(False))
            meta[target] = pd.array(values.str.lower() if target == "gender" else values, dtype=STRING)
    for field, dimension in DIMENSIONS.items():
        if field in table.columns:
            meta[f"consensus_{dimension}"] = number_column(table, field, file, rows=rows, unit=unit).to_numpy()
    known = ids.isin(items.index)
    notes.consensus_only = [str(n) for n in names[~known]]
    notes.without_consensus = int((~items.index.isin(ids)).sum())
    notes.no_agreement = int(codes[known].str.upper().eq(NO_AGREEMENT).sum())
    order = [c for c in ("speaker", "gender", "split", "consensus_class") if c in meta.columns]
    return items.join(meta[order + [c for c in meta.columns if c not in order]], how="left")
