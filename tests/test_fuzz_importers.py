"""Property-based fuzzing of every importer: damaged input ends in a VoxpopError or a valid corpus, never a crash.

Each format starts from a small valid fixture (the files in ``fixtures/`` or a few rows written here) that
the reader imports. Hypothesis then damages it the way files get damaged in the wild: columns dropped,
repeated or swapped, rows dropped or repeated, cells blanked or replaced by hostile text (``inf``,
``nan``, ``1e400``, huge integers, NUL, ``../x``, absolute paths), the text truncated, saved as latin-1 or
UTF-16, or replaced by random bytes. Every call must return a Corpus that saves and loads again, or raise
a :class:`VoxpopError` with a message; any other exception is a bug. Runs are derandomised (a fixed
seed), without deadline, on temporary folders made inside each example; 30 examples per test in the full suite, a
few in the quick one (:mod:`hypothesis_strength`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audformat_builder import build_emodb_like
from hypothesis_strength import examples
from voxpop import Corpus
from voxpop.core.errors import VoxpopError
from voxpop.corpus.formats.audformat_db import read_audformat
from voxpop.corpus.formats.cremad import read_cremad, read_cremad_responses
from voxpop.corpus.formats.hf import read_hf
from voxpop.corpus.formats.iemocap import read_iemocap
from voxpop.corpus.formats.intervals import read_intervals
from voxpop.corpus.formats.likert import Scale, read_earkick, read_likert, read_mosei
from voxpop.corpus.formats.long import read_long
from voxpop.corpus.formats.msp import read_msp
from voxpop.corpus.formats.ravdess import read_ravdess

FIXTURES = Path(__file__).parent / "fixtures"
FUZZ = settings(
    derandomize=True,
    deadline=None,
    max_examples=examples(30),  # a few in the quick suite (hypothesis_strength)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HOSTILE = (
    "",
    " ",
    "inf",
    "-inf",
    "Infinity",
    "nan",
    "NaN",
    "1e400",
    "-1e400",
    "99999999999999999999999999999",
    "100000000",
    "-1",
    "0.5",
    "1,5",
    "\x00",
    "a\x00b",
    "../x",
    "../../etc/passwd",
    "/etc/passwd",
    "C:\\x.wav",
    '"',
    "é",
    "\ufeff",
    "None",
    "x" * 300,
)
NUMERIC_HOSTILE = ("inf", "-inf", "nan", "1e400", "99999999999999999999999999999", "100000000", "-1")
IEMOCAP_HOSTILE = ("[-1.0", "[-0.5\t", "[inf", "inf]", "[nan", "1e400,", "inf;", "Ses01F_impro01/../../../x_F000")
VOTES = """"","A","D","F","H","N","S","fileName","numResponses","agreement","emoVote"
"100001",0,0,0,1,10,0,"1001_IEO_NEU_XX",11,0.91,"N"
"200001",0,0,0,0,9,1,"1001_IEO_NEU_XX",10,0.9,"N"
"100002",4,1,0,0,2,0,"1002_DFA_ANG_XX",7,0.57,"A"
"300002",3,0,2,0,0,0,"1002_DFA_ANG_XX",5,0.6,"A"
"""
LIKERT = """clip,annotator,joy,anger,gender,sentiment,notes
/data/x/c1.m4a,r1,None,2,Male,+1,
/data/x/c1.m4a,r2,A little,Extremely,Male,-2,two voices
/data/x/c2.m4a,r1,3,None,Female,0,music
"""
EARKICK = """audio,annotator,happy,sad,anger,surprise,disgust,fear,gender,age,mood,sentiment,anxiety,notes
/x/?d=s/8404_8.m4a,2,Extremely,None,None,A little,None,None,Male,20s,Great,+2,0 - None,
/x/?d=s/8404_8.m4a,3,Moderate,None,None,None,None,None,Male,20s,Good,+1,2,
/x/?d=s/1001_DFA_ANG_XX_cremad.m4a,2,None,None,Extremely,None,A little,None,Male,30s,Bad,-2,9 - Most,loud
"""
LONG = """item,rater,label,value,start,end,slot
clip1,r1,joy,2,0.0,1.5,intensity
clip1,r2,joy,1,0.5,2.0,intensity
clip2,r1,anger,3,,,intensity
"""
RAVDESS_NAMES = ("03-01-06-02-01-01-17.wav", "03-01-01-01-02-02-02.wav", "03-02-08-01-01-01-24.flac")


def _import_or_refuse(call: Callable[[], Corpus], audio_root: Path | None = None) -> None:
    """The property: the reader returns a corpus that saves and loads, or raises a VoxpopError.

    A returned corpus holds no infinite value, start or end, and (with ``audio_root``) every audio path
    it built from names inside the file stays in that folder, as written (``..`` normalised, no symlink
    resolved).
    """
    try:
        corpus = call()
    except VoxpopError as exc:
        assert str(exc).strip(), "a VoxpopError without a message"
        return
    assert isinstance(corpus, Corpus)
    for column in ("value", "start", "end"):
        assert not np.isinf(corpus.ratings[column].to_numpy(dtype=float)).any(), column
    for column in corpus.items.select_dtypes("number"):
        assert not np.isinf(corpus.items[column].to_numpy(dtype=float)).any(), column
    if audio_root is not None:
        root = os.path.normpath(audio_root) + os.sep
        audio = corpus.items["audio"].dropna() if "audio" in corpus.items else []
        assert all(os.path.normpath(a).startswith(root) for a in audio), root
    with tempfile.TemporaryDirectory() as out:
        corpus.save(Path(out) / "corpus")
        loaded = Corpus.load(Path(out) / "corpus")
    assert len(loaded.ratings) == len(corpus.ratings)


# ----------------------------------------------------------------------------- mutations
# Hypothesis supplies the random generator (seeded, so runs are repeatable); the damage is drawn from it
# uniformly, which reaches every column and every hostile value in few examples.
RANDOMS = st.randoms(use_true_random=True)


def _hostile(rng: random.Random) -> str:
    """A hostile cell: a non-finite or huge number, an unsafe name, NUL, or short random text."""
    pool = rng.choice([NUMERIC_HOSTILE, HOSTILE, None])
    if pool is None:
        return "".join(chr(rng.randint(1, 0x2FF)) for _ in range(rng.randint(0, 6)))
    return rng.choice(pool)


def _encode(rng: random.Random, text: str) -> bytes:
    """The text as UTF-8 (mostly), latin-1 with an accented letter, UTF-16, or cut off mid-file."""
    how = rng.choice(["utf-8"] * 15 + ["latin-1", "utf-16", "truncate"])
    if how == "latin-1":
        return ("é" + text).encode("latin-1", errors="replace")
    if how == "truncate":
        raw = text.encode("utf-8")
        return raw[: rng.randint(0, len(raw))]
    return text.encode(how)


def _mutate_table(rng: random.Random, text: str) -> bytes:
    """Drop / repeat / swap columns and rows, replace cells by hostile text, then encode or truncate."""
    rows = list(csv.reader(io.StringIO(text)))
    for _ in range(rng.randint(1, 3)):
        width, height = len(rows[0]), len(rows)
        kind = rng.choice(["cell", "cell", "cell", "cell", "drop_col", "dup_col", "swap_col", "row"])
        j, k = rng.randrange(width), rng.randrange(width)
        if kind == "cell":
            r = rng.randrange(1, height) if height > 1 and rng.random() < 0.85 else 0
            rows[r][j] = _hostile(rng)
        elif kind == "drop_col" and width > 1:
            rows = [row[:j] + row[j + 1 :] for row in rows]
        elif kind == "dup_col":
            rows = [row[: j + 1] + row[j:] for row in rows]
        elif kind == "swap_col":
            rows = [_swapped(row, j, k) for row in rows]
        elif kind == "row" and height > 2:
            r = rng.randrange(1, height)
            rows = rows[:r] + rows[r + 1 :] if rng.random() < 0.5 else [*rows, rows[r]]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return _encode(rng, out.getvalue())


def _swapped(row: list[str], j: int, k: int) -> list[str]:
    row = list(row)
    row[j], row[k] = row[k], row[j]
    return row


def _mutate_lines(rng: random.Random, text: str) -> bytes:
    """Line-oriented damage (IEMOCAP): drop or repeat lines, replace a token by hostile text."""
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        kind = rng.choice(["token", "token", "token", "drop", "repeat"])
        if kind == "token":
            tokens = lines[i].split(" ")
            tokens[rng.randrange(len(tokens))] = rng.choice(IEMOCAP_HOSTILE) if rng.random() < 0.5 else _hostile(rng)
            lines[i] = " ".join(tokens)
        elif kind == "drop" and len(lines) > 1:
            del lines[i]
        else:
            lines.insert(i, lines[i])
    return _encode(rng, "\n".join(lines) + "\n")


def _json_value(rng: random.Random, depth: int = 0) -> object:
    """A hostile JSON value: null, booleans, huge or non-finite numbers, hostile text, small lists or objects."""
    kind = rng.choice(["scalar", "scalar", "scalar", "list", "object"] if depth < 2 else ["scalar"])
    if kind == "list":
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == "object":
        return {_hostile(rng): _json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return rng.choice([None, True, 0, -7, 10**400, 1e308, float("inf"), float("nan"), 2.5, _hostile(rng)])


DEEP = "<nested very deeply>"


def _mutate_json(rng: random.Random, text: str) -> bytes:
    """Replace values, rename or drop keys anywhere in the document; sometimes nest it very deeply."""
    doc = json.loads(text)
    for _ in range(rng.randint(1, 3)):
        if not doc:
            break
        parent, key = _pick(rng, doc)
        kind = rng.choice(["value", "value", "rename", "drop", "deep"])
        if kind == "value":
            parent[key] = _json_value(rng)
        elif kind == "rename" and isinstance(parent, dict):
            parent[_hostile(rng)] = parent.pop(key)
        elif kind == "drop":
            del parent[key]
        elif kind == "deep":
            parent[key] = DEEP
    depth = rng.choice([40, 2_000, 100_000])
    text = json.dumps(doc, indent=2, allow_nan=True).replace(json.dumps(DEEP), "[" * depth + "]" * depth)
    return _encode(rng, text)


def _pick(rng: random.Random, doc: dict) -> tuple[dict | list, str | int]:
    """A random (container, key) inside the document, at any depth."""
    parent: dict | list = doc
    key = rng.choice(list(doc))
    while isinstance(parent[key], dict | list) and parent[key] and rng.random() < 0.6:
        parent = parent[key]
        key = rng.choice(list(parent) if isinstance(parent, dict) else range(len(parent)))
    return parent, key


# ----------------------------------------------------------------------------- formats
def _write(folder: Path, name: str, raw: bytes) -> Path:
    path = folder / name
    path.write_bytes(raw)
    return path


TABLES: dict[str, tuple[str, str, Callable[[Path], Corpus]]] = {
    "crema-d votes": ("tabulatedVotes.csv", VOTES, read_cremad),
    "crema-d responses": (
        "finishedResponses.csv",
        (FIXTURES / "cremad_finishedResponses.csv").read_text(),
        read_cremad_responses,
    ),
    "likert": (
        "ratings.csv",
        LIKERT,
        lambda p: read_likert(
            p,
            "clip",
            "annotator",
            ["joy", "anger"],
            attribute_columns=["gender"],
            metadata_columns=["notes"],
            numeric_columns={"sentiment": Scale(-3, 3)},
            item_from_path=True,
        ),
    ),
    "earkick": ("assessment.csv", EARKICK, read_earkick),
    "mosei": ("batch.csv", (FIXTURES / "mosei_batch_results.csv").read_text(), read_mosei),
    "long": ("ratings.csv", LONG, read_long),
    "long crowd-kit": ("crowd.csv", (FIXTURES / "long_crowdkit.csv").read_text(), read_long),
    "intervals": ("intervals.csv", (FIXTURES / "intervals_ramas.csv").read_text(), read_intervals),
    "msp consensus": (
        "labels_consensus.csv",
        (FIXTURES / "msp_consensus.csv").read_text(),
        lambda p: read_msp(FIXTURES / "msp_detailed.json", p),
    ),
}
JSONS: dict[str, tuple[str, Path, Callable[[Path], Corpus]]] = {
    "msp podcast": ("labels_detailed.json", FIXTURES / "msp_detailed.json", read_msp),
    "msp face": ("labels_detailed.json", FIXTURES / "msp_face_detailed.json", read_msp),
    "msp podcast with audio": (
        "labels_detailed.json",
        FIXTURES / "msp_detailed.json",
        lambda p: read_msp(p, audio_dir=p.parent / "Audios"),
    ),
    "msp face consensus": (
        "labels_concensus.json",
        FIXTURES / "msp_face_consensus.json",
        lambda p: read_msp(FIXTURES / "msp_face_detailed.json", p),
    ),
}
IEMOCAP = FIXTURES / "iemocap_Ses01F_impro01.txt"


def test_every_fixture_imports_before_damage():
    """The starting points are valid: each undamaged fixture gives a corpus."""
    from voxpop.corpus.formats.emobox import read_emobox

    with tempfile.TemporaryDirectory() as folder:
        for path, text in _emobox_files().items():
            (Path(folder) / "data" / "box" / path).parent.mkdir(parents=True, exist_ok=True)
            (Path(folder) / "data" / "box" / path).write_text(text)
        assert read_emobox(folder, "box").items["emobox_fold_2"].tolist() == ["Test", "Test", "Train", "Train"]
        for name, text, read in TABLES.values():
            assert isinstance(read(_write(Path(folder), name, text.encode())), Corpus)
        for _, path, read in JSONS.values():
            assert isinstance(read(path), Corpus)
        assert isinstance(read_iemocap(IEMOCAP), Corpus)
        assert isinstance(read_ravdess(_ravdess_folder(Path(folder), RAVDESS_NAMES)), Corpus)


@pytest.mark.parametrize("fmt", sorted(TABLES))
@FUZZ
@given(rng=RANDOMS)
def test_damaged_tables_import_or_raise_voxpop_errors(rng, fmt):
    name, text, read = TABLES[fmt]
    raw = _mutate_table(rng, text)
    with tempfile.TemporaryDirectory() as folder:
        _import_or_refuse(lambda: read(_write(Path(folder), name, raw)))


@pytest.mark.parametrize("fmt", sorted(JSONS))
@FUZZ
@given(rng=RANDOMS)
def test_damaged_msp_json_imports_or_raises_voxpop_errors(rng, fmt):
    name, path, read = JSONS[fmt]
    raw = _mutate_json(rng, path.read_text())
    with tempfile.TemporaryDirectory() as folder:
        _import_or_refuse(lambda: read(_write(Path(folder), name, raw)), audio_root=Path(folder) / "Audios")


@FUZZ
@given(rng=RANDOMS)
def test_damaged_iemocap_file_imports_or_raises_voxpop_errors(rng):
    raw = _mutate_lines(rng, IEMOCAP.read_text())
    with tempfile.TemporaryDirectory() as folder:
        session = Path(folder) / "Session1"
        (session / "dialog" / "EmoEvaluation").mkdir(parents=True)
        path = _write(session / "dialog" / "EmoEvaluation", IEMOCAP.name, raw)
        _import_or_refuse(lambda: read_iemocap(path), audio_root=session / "sentences" / "wav")


def _ravdess_folder(folder: Path, names: tuple[str, ...], content: bytes | None = None) -> Path:
    """Files under ``folder/ravdess/Actor_x``: a 10 ms silent recording each, or ``content`` as the bytes."""
    root = folder / "ravdess"
    for i, name in enumerate(names):
        path = root / f"Actor_{i}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            soundfile.write(path, np.zeros(160), 16000, format="WAV" if name.endswith(".wav") else "FLAC")
        else:
            path.write_bytes(content)
    return root


@FUZZ
@given(rng=RANDOMS)
def test_damaged_ravdess_names_import_or_raise_voxpop_errors(rng):
    names = list(RAVDESS_NAMES)
    i = rng.randrange(len(names))
    fields = names[i].split(".")[0].split("-")
    fields[rng.randrange(len(fields))] = rng.choice(["00", "99", "1", "001", "xx", "", "09", "25", "-", "١٢", ".."])
    names[i] = "-".join(fields) + rng.choice([".wav", ".flac", ".WAV"])
    content = rng.choice([None, None, b"", b"RIFF", bytes(rng.randrange(256) for _ in range(64))])
    with tempfile.TemporaryDirectory() as folder:
        _import_or_refuse(lambda: read_ravdess(_ravdess_folder(Path(folder), tuple(names), content)))


AUDFORMAT_FILES = ("db.yaml", "db.emotion.csv", "db.arousal.csv", "db.files.csv")


@FUZZ
@given(rng=RANDOMS, file=st.sampled_from(AUDFORMAT_FILES))
def test_damaged_audformat_database_imports_or_raises_voxpop_errors(rng, file):
    """The EmoDB-like database (built with audformat) with its header or one table damaged."""
    with tempfile.TemporaryDirectory() as folder:
        root = build_emodb_like(Path(folder) / "db")
        text = (root / file).read_text()
        raw = _mutate_lines(rng, text) if file.endswith(".yaml") else _mutate_table(rng, text)
        _write(root, file, raw)
        _import_or_refuse(lambda: read_audformat(root), audio_root=root)


READERS = {
    **{fmt: (name, read) for fmt, (name, _, read) in TABLES.items()},
    **{fmt: (name, read) for fmt, (name, _, read) in JSONS.items()},
    "iemocap": (IEMOCAP.name, read_iemocap),
    "long parquet": ("ratings.parquet", read_long),
}


@FUZZ
@given(fmt=st.sampled_from(sorted(READERS)), raw=st.binary(max_size=200))
def test_random_bytes_import_or_raise_voxpop_errors(fmt, raw):
    name, read = READERS[fmt]
    with tempfile.TemporaryDirectory() as folder:
        _import_or_refuse(lambda: read(_write(Path(folder), name, raw)))


# ----------------------------------------------------------------------------- truncation, mixed encodings, look-alikes
LOOK_ALIKES = {
    **{"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441", "x": "\u0445", "i": "\u0456"},
    **{"A": "\u0410", "E": "\u0415", "O": "\u041e", "P": "\u0420", "C": "\u0421", "X": "\u0425", "H": "\u041d"},
    **{"B": "\u0412", "K": "\u041a", "M": "\u041c", "T": "\u0422", "I": "\u0406", "S": "\u0405"},
}
"""Latin letters and the Cyrillic letters that look the same."""


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _read_with_notes(read: Callable[[Path], Corpus], path: Path) -> Corpus | VoxpopError:
    """The corpus ``read`` imports from ``path``, or the VoxpopError it raises (no stale notes of earlier examples)."""
    from voxpop.corpus.formats.text_checks import take_notes

    take_notes()
    try:
        return read(path)
    except VoxpopError as exc:
        return exc
    finally:
        take_notes()


@pytest.mark.parametrize("fmt", sorted(TABLES))
@FUZZ
@given(rng=RANDOMS)
def test_a_table_cut_mid_row_is_refused_by_line_or_imported_with_a_note(rng, fmt):
    """Cut anywhere inside the last row (no final line break): an error naming the last line, or, where the cut
    left a row of complete fields, a corpus whose import report says the file ends without a line break."""
    name, text, read = TABLES[fmt]
    text = text.rstrip("\n")
    last_line = text.count("\n") + 1
    start = text.rfind("\n") + 1
    cut = text[: rng.randint(start + 1, len(text) - 1)]
    with tempfile.TemporaryDirectory() as folder:
        result = _read_with_notes(read, _write(Path(folder), name, cut.encode()))
    if isinstance(result, VoxpopError):
        assert str(result).strip()
        if f", line {last_line}:" in str(result):
            assert "cut off mid-row" in str(result)
        return
    _import_or_refuse(lambda: result)
    assert f"{name} ends without a line break after line {last_line}" in result.description


@pytest.mark.parametrize("fmt", sorted(TABLES))
@FUZZ
@given(rng=RANDOMS)
def test_a_table_whose_later_rows_are_latin1_is_refused_at_the_first_latin1_line(rng, fmt):
    """Rows saved as UTF-8, then (from a random row on, which holds an accented letter) as latin-1: read as
    UTF-8, the error names the first latin-1 line."""
    name, text, read = TABLES[fmt]
    rows = _rows(text)
    r = rng.randrange(1, len(rows))
    rows[r][rng.randrange(len(rows[r]))] = "énervé"
    head, tail = _csv_text(rows[:r]), _csv_text(rows[r:])
    raw = head.encode("utf-8") + tail.encode("latin-1", errors="replace")
    with tempfile.TemporaryDirectory() as folder:
        result = _read_with_notes(read, _write(Path(folder), name, raw))
    assert isinstance(result, VoxpopError)
    assert f"{name}, line {r + 1}: the bytes b'\\xe9' are not UTF-8 text" in str(result)


@pytest.mark.parametrize("fmt", sorted(TABLES))
@FUZZ
@given(rng=RANDOMS)
def test_a_look_alike_letter_in_any_cell_is_named_in_the_import_report(rng, fmt):
    """One Latin letter of a random data cell replaced by its Cyrillic look-alike: the import is refused for
    another reason, or its report names the changed value and its line."""
    name, text, read = TABLES[fmt]
    rows = _rows(text)
    cells = [(r, j) for r in range(1, len(rows)) for j, v in enumerate(rows[r]) if set(v) & set(LOOK_ALIKES)]
    r, j = rng.choice(cells)
    value = rows[r][j]
    latin = [i for i, ch in enumerate(value) if ch in LOOK_ALIKES]
    i = rng.choice(latin)
    changed = value[:i] + LOOK_ALIKES[value[i]] + value[i + 1 :]
    rows[r][j] = changed
    with tempfile.TemporaryDirectory() as folder:
        result = _read_with_notes(read, _write(Path(folder), name, _csv_text(rows).encode()))
    if isinstance(result, VoxpopError):
        assert str(result).strip()
        return
    _import_or_refuse(lambda: result)
    word = next(w for w in re.split(r"[\s,;\"'|:=(){}\[\]<>]+", changed) if LOOK_ALIKES[value[i]] in w)
    if set(w for w in word if w.isalpha() and w.isascii()):  # a Latin letter is left beside the Cyrillic one
        assert f"{word!r} (line {r + 1}, " in result.description


# ----------------------------------------------------------------------------- Hugging Face tables
def _hf_table(rng: random.Random | None = None) -> pa.Table:
    """A small Hugging Face table as ``datasets`` writes it (built with pyarrow: ``datasets`` is a test extra):
    embedded WAV audio, a ClassLabel label, speaker and utterance columns; ``rng`` damages cells and metadata."""
    wavs = []
    for i in range(4):
        buffer = io.BytesIO()
        soundfile.write(buffer, np.full(160, i, dtype=np.int16), 16000, format="WAV", subtype="PCM_16")
        wavs.append(buffer.getvalue())
    audio = [{"bytes": w, "path": f"clip{i}.wav"} for i, w in enumerate(wavs)]
    labels: list = [0, 1, 2, 1]
    utterances = [f"u{i}" for i in range(4)]
    features = {
        "audio": {"decode": False, "_type": "Audio"},
        "label": {"names": ["neutral", "angry", "happy"], "_type": "ClassLabel"},
        "speaker": {"dtype": "string", "_type": "Value"},
        "utterance": {"dtype": "string", "_type": "Value"},
    }
    meta = json.dumps({"info": {"features": features}})
    for _ in range(rng.randint(1, 3) if rng else 0):
        i = rng.randrange(4)
        kind = rng.choice(["bytes", "bytes", "path", "label", "label", "id", "meta"])
        if kind == "bytes":
            damaged = [b"", b"RIFF", wavs[i][: rng.randrange(len(wavs[i]))], wavs[(i + 1) % 4], rng.randbytes(64), None]
            audio[i] = {"bytes": rng.choice(damaged), "path": audio[i]["path"]}
        elif kind == "path":
            audio[i] = {"bytes": rng.choice([None, audio[i]["bytes"]]), "path": _hostile(rng)}
        elif kind == "label":
            labels[i] = rng.choice([-1, -2, 3, 2**62, None])
        elif kind == "id":
            utterances[i] = rng.choice([None, "", utterances[(i + 1) % 4], "x" * 600, _hostile(rng)])
        else:
            meta = _mutate_json(rng, json.dumps({"info": {"features": features}})).decode("utf-8", errors="replace")
    schema = pa.schema(
        [("audio", pa.struct([("bytes", pa.binary()), ("path", pa.string())])), ("label", pa.int64()),
         ("speaker", pa.string()), ("utterance", pa.string())],
        metadata={"huggingface": meta},
    )  # fmt: skip
    columns = [audio, labels, ["s1", "s1", "s2", "s2"], utterances]
    return pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)], schema=schema)


def _hf_files(folder: Path, table: pa.Table, layout: str) -> Path:
    """The table written as ``datasets`` does: a parquet shard, or a save_to_disk folder (IPC stream + state.json)."""
    if layout == "parquet":
        pq.write_table(table, folder / "train-00000-of-00001.parquet")
        return folder / "train-00000-of-00001.parquet"
    saved = folder / "saved"
    saved.mkdir()
    with pa.OSFile(str(saved / "data-00000-of-00001.arrow"), "wb") as sink, ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    (saved / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    return saved


HF_READS = {
    "hash ids": lambda p, out: read_hf(p, out, speaker_column="speaker"),
    "id column": lambda p, out: read_hf(p, out, id_column="utterance"),
}


def test_the_hugging_face_fixture_imports_before_damage():
    with tempfile.TemporaryDirectory() as folder:
        for layout in ("parquet", "saved"):
            path = _hf_files(Path(folder), _hf_table(), layout)
            for read in HF_READS.values():
                corpus = read(path, Path(folder) / f"out-{layout}")
                assert isinstance(corpus, Corpus) and len(corpus.items) == 4 and len(corpus.ratings) == 4


@pytest.mark.parametrize("layout", ["parquet", "saved"])
@pytest.mark.parametrize("ids", sorted(HF_READS))
@FUZZ
@given(rng=RANDOMS)
def test_damaged_hugging_face_tables_import_or_raise_voxpop_errors(rng, ids, layout):
    """Damaged audio bytes and paths, class codes, ids and features metadata: a corpus whose audio stays in the
    folder, or a VoxpopError."""
    table = _hf_table(rng)
    with tempfile.TemporaryDirectory() as folder:
        path = _hf_files(Path(folder), table, layout)
        _import_or_refuse(lambda: HF_READS[ids](path, Path(folder) / "out"), audio_root=Path(folder))


@FUZZ
@given(name=st.sampled_from(["data.parquet", "data-00000-of-00001.arrow"]), raw=st.binary(max_size=200))
def test_random_bytes_as_a_hugging_face_shard_import_or_raise_voxpop_errors(name, raw):
    with tempfile.TemporaryDirectory() as folder:
        _import_or_refuse(lambda: read_hf(_write(Path(folder), name, raw), Path(folder) / "out"))


# ----------------------------------------------------------------------------- EmoBox metadata
EMOBOX_CODES = {"a": "neu", "b": "ang", "c": "exc", "d": "hap"}
EMOBOX_MAP = {"neu": "Neutral", "ang": "Angry", "exc": "Happy", "hap": "Happy"}
EMOBOX_FOLDS = {1: {"train": "ab", "test": "cd"}, 2: {"train": "cd", "test": "ab"}}


def _emobox_line(clip: str) -> str:
    record = {"key": f"box-{clip}", "dataset": "box", "wav": f"downloads/box/{clip}.wav", "type": "raw",
              "sample_rate": 16000, "length": 1.5, "emo": EMOBOX_CODES[clip], "channel": 1}  # fmt: skip
    return json.dumps(record)


def _emobox_files() -> dict[str, str]:
    """data/box/ of an EmoBox checkout: box.jsonl, label_map.json and two folds, as relative path -> text."""
    files = {
        "box.jsonl": "".join(_emobox_line(c) + "\n" for c in EMOBOX_CODES),
        "label_map.json": json.dumps(EMOBOX_MAP),
    }
    for n, parts in EMOBOX_FOLDS.items():
        for part, clips in parts.items():
            files[f"fold_{n}/box_{part}_fold_{n}.jsonl"] = "".join(_emobox_line(c) + "\n" for c in clips)
    return files


def _mutate_json_lines(rng: random.Random, text: str) -> bytes:
    """JSON-lines damage: a field given a hostile value, renamed or dropped; a line dropped, repeated or replaced."""
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        kind = rng.choice(["value", "value", "rename", "drop_field", "drop", "repeat", "text"])
        record = _object_or_none(lines[i])
        if kind in ("value", "rename", "drop_field") and record is not None:
            field = rng.choice(list(record)) if record else None
            if field is not None and kind == "value":
                record[field] = _json_value(rng)
            elif field is not None and kind == "rename":
                record[_hostile(rng)] = record.pop(field)
            elif field is not None:
                del record[field]
            lines[i] = json.dumps(record, allow_nan=True)
        elif kind == "drop" and len(lines) > 1:
            del lines[i]
        elif kind == "repeat":
            lines.insert(i, lines[i])
        else:
            lines[i] = _hostile(rng) if record is None or rng.random() < 0.5 else lines[i][:-1]  # or cut short
    return _encode(rng, "\n".join(lines) + "\n")


def _object_or_none(line: str) -> dict | None:
    """The JSON object a line holds, or None once damage made it something else."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


@FUZZ
@given(rng=RANDOMS)
def test_damaged_emobox_metadata_imports_or_raises_voxpop_errors(rng):
    from voxpop.corpus.formats.emobox import read_emobox

    files = _emobox_files()
    target = rng.choice(sorted(files))
    damaged = {path: text.encode() for path, text in files.items()}
    if target == "label_map.json":
        damaged[target] = _mutate_json(rng, files[target])
    elif rng.random() < 0.1:
        damaged[target] = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
    else:
        damaged[target] = _mutate_json_lines(rng, files[target])
    with tempfile.TemporaryDirectory() as root:
        folder = Path(root) / "data" / "box"
        for path, raw in damaged.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(raw)
        _import_or_refuse(lambda: read_emobox(root, "box"), audio_root=Path(root))
