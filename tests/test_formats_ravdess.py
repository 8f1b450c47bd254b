"""RAVDESS importer: real folder through ``shared_data`` and tiny generated WAV/FLAC files in ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from typer.testing import CliRunner

import voxpop.cli
from voxpop import Corpus
from voxpop.core.errors import InputError
from voxpop.corpus.formats import get_importer
from voxpop.corpus.formats.ravdess import read_ravdess

CLASSES = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]


def _clip(path: Path, samples: int, rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.zeros(samples, dtype=np.float32), rate)
    return path


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "ravdess"
    _clip(root / "Actor_01" / "03-01-05-02-01-01-01.wav", 8000)
    _clip(root / "Actor_01" / "03-01-02-01-02-02-01.flac", 4000)
    _clip(root / "Actor_12" / "03-02-08-01-02-01-12.flac", 12000, rate=8000)
    (root / "README.txt").write_text("not audio, ignored")
    return root


def test_real_folder_counts(shared_data):
    corpus = read_ravdess(shared_data / "ravdess")
    items = corpus.items
    assert len(items) == 1440
    assert items["speaker"].nunique() == 24
    assert corpus.classes == CLASSES
    assert sorted(items["emotion"].unique()) == sorted(CLASSES)
    assert items.loc[items["gender"] == "female", "speaker"].nunique() == 12
    assert items.groupby("speaker")["gender"].first().to_dict()["17"] == "male"
    assert items["vocal_channel"].eq("speech").all()
    assert items["emotion"].value_counts().to_dict() == {**dict.fromkeys(CLASSES, 192), "neutral": 96}
    assert (corpus.ratings["label"].to_numpy() == items["emotion"].to_numpy()).all()
    assert corpus.ratings["rater"].eq("intended").all()
    first = items.iloc[0]
    frames, rate = soundfile.read(first["audio"])
    assert first["duration"] == pytest.approx(len(frames) / rate)


def test_generated_files_are_decoded(folder, tmp_path):
    corpus = read_ravdess(folder)
    assert f"Files in {folder} that are not audio (.wav, .flac) were ignored: 1 (README.txt)." in corpus.description
    items = corpus.items
    assert list(items.index) == ["03-01-02-01-02-02-01", "03-01-05-02-01-01-01", "03-02-08-01-02-01-12"]
    angry = items.loc["03-01-05-02-01-01-01"]
    assert (angry["emotion"], angry["intensity"], angry["statement"], angry["repetition"]) == (
        "angry",
        "strong",
        "Kids are talking by the door",
        1,
    )
    assert (angry["speaker"], angry["gender"], angry["vocal_channel"], angry["modality"]) == (
        "01",
        "male",
        "speech",
        "audio",
    )
    song = items.loc["03-02-08-01-02-01-12"]
    assert (song["gender"], song["vocal_channel"], song["emotion"]) == ("female", "song", "surprised")
    assert items["duration"].tolist() == pytest.approx([0.25, 0.5, 1.5])
    assert items["audio"].tolist()[2] == str((folder / "Actor_12" / "03-02-08-01-02-01-12.flac").resolve())
    ratings = corpus.ratings
    assert ratings["label"].tolist() == ["calm", "angry", "surprised"]
    assert ratings["source_file"].tolist()[0] == str(Path("Actor_01") / "03-01-02-01-02-02-01.flac")
    corpus.save(tmp_path / "corpus")
    loaded = Corpus.load(tmp_path / "corpus")
    pd.testing.assert_frame_equal(corpus.items, loaded.items)
    pd.testing.assert_frame_equal(corpus.ratings, loaded.ratings)
    assert get_importer("ravdess") is read_ravdess


def test_bad_file_names_are_listed_with_the_field(folder):
    _clip(folder / "Actor_02" / "03-01-09-01-01-01-02.wav", 100)
    _clip(folder / "Actor_02" / "03-01-01-01-01-02.wav", 100)
    _clip(folder / "Actor_30" / "03-01-01-01-01-01-30.wav", 100)
    with pytest.raises(InputError) as info:
        read_ravdess(folder)
    message = str(info.value)
    assert "3 file names are not RAVDESS names" in message
    assert "03-01-09-01-01-01-02.wav: field 3 (emotion) is '09'; expected one of 01 (neutral)" in message
    assert "03-01-01-01-01-02.wav: has 6 dash-separated fields; expected 7" in message
    assert "03-01-01-01-01-01-30.wav: field 7 (speaker) is '30'; expected one of 01..24" in message


def test_empty_folder_and_missing_folder_and_twin_files(tmp_path, folder):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no audio here")
    with pytest.raises(InputError, match=r"empty: no RAVDESS audio files \(.wav, .flac\) found"):
        read_ravdess(empty)
    with pytest.raises(InputError, match="nowhere: not a directory"):
        read_ravdess(tmp_path / "nowhere")
    _clip(folder / "copies" / "03-01-05-02-01-01-01.flac", 100)
    with pytest.raises(InputError, match=r"two audio files for item '03-01-05-02-01-01-01'"):
        read_ravdess(folder)


def test_cli_import(folder, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(voxpop.cli.app, ["import", "ravdess", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "saved to" in result.output
    pd.testing.assert_frame_equal(Corpus.load(out).ratings, read_ravdess(folder).ratings)


def test_corpus_unpacked_on_a_mac_imports_and_debris_is_counted(folder):
    """Issue 10 item 5: ._ resource forks (named like the clips), __MACOSX/, .DS_Store, Thumbs.db, hidden files."""
    for real in ("Actor_01/03-01-05-02-01-01-01.wav", "Actor_12/03-02-08-01-02-01-12.flac"):
        fork = folder / Path(real).parent / ("._" + Path(real).name)
        fork.write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
        (folder / "__MACOSX" / Path(real).parent).mkdir(parents=True, exist_ok=True)
        (folder / "__MACOSX" / Path(real).parent / ("._" + Path(real).name)).write_bytes(b"\x00\x05\x16\x07")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "Actor_01" / "Thumbs.db").write_bytes(b"\xd0\xcf")
    _clip(folder / ".trash" / "03-01-01-01-01-01-01.wav", 100)  # hidden folder: not part of the corpus
    corpus = read_ravdess(folder)
    assert list(corpus.items.index) == ["03-01-02-01-02-02-01", "03-01-05-02-01-01-01", "03-02-08-01-02-01-12"]
    assert (
        f"Operating-system files skipped in {folder}: 7 (macOS '._' resource forks 2, __MACOSX folders 2, "
        ".DS_Store 1, hidden files 1, Thumbs.db 1)."
    ) in corpus.description
