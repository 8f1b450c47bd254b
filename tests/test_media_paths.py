"""Audio paths named in tables: resolved against the table (or --audio-root), never the working directory;
paths outside the audio root refused by import unless allowed, and listed by validate; features with no
audio file at all stop before any store entry is written."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import voxpop.cli
from voxpop.core.errors import InputError
from voxpop.corpus.corpus import Corpus
from voxpop.corpus.formats.intervals import read_intervals
from voxpop.corpus.formats.long import read_long
from voxpop.features.extraction import fill_store

RATINGS = "item,rater,label\na,r1,anger\na,r2,sad\nb,r1,sad\n"


def _invoke(*args: str):
    result = CliRunner().invoke(voxpop.cli.app, list(args), env={"COLUMNS": "200"})
    result.text = result.output + ("" if result.exception is None else str(result.exception))
    return result


def _tables(folder: Path, audio: tuple[str, str]) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.csv").write_text(RATINGS)
    (folder / "items.csv").write_text(f"item,speaker,audio\na,s1,{audio[0]}\nb,s2,{audio[1]}\n")
    return folder / "ratings.csv", folder / "items.csv"


def test_a_relative_wav_path_resolves_against_the_csv_folder_not_the_working_directory(tmp_path, monkeypatch):
    ratings, items = _tables(tmp_path / "data", ("wav/a.wav", "sub/../wav/b.wav"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    corpus = read_long(ratings, items=items)
    data = os.path.abspath(tmp_path / "data")
    assert corpus.items["audio"].tolist() == [f"{data}/wav/a.wav", f"{data}/wav/b.wav"]
    assert corpus.audio_root == data
    root = tmp_path / "audio"
    given = read_long(ratings, items=items, audio_root=root)
    assert given.items["audio"].tolist() == [f"{root}/wav/a.wav", f"{root}/wav/b.wav"]
    assert given.audio_root == str(root)


def test_a_saved_corpus_with_relative_audio_resolves_against_its_folder(tmp_path, monkeypatch):
    items = pd.DataFrame({"audio": ["audio/a.wav", None]}, index=["a", "b"])
    ratings = pd.DataFrame({"item": ["a", "b"], "rater": ["r1", "r1"], "label": ["sad", "sad"]})
    Corpus("shared", items, ratings, classes=["sad"]).save(tmp_path / "corpus")
    monkeypatch.chdir(tmp_path)
    loaded = Corpus.load("corpus")  # a relative corpus folder as well
    assert loaded.items["audio"].iloc[0] == os.path.abspath(tmp_path / "corpus" / "audio" / "a.wav")
    assert pd.isna(loaded.items["audio"].iloc[1])


def test_recordings_table_paths_resolve_against_its_folder(tmp_path, monkeypatch):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "intervals.csv").write_text("recording,rater,label,start,end\nrec1,r1,anger,0,1\n")
    (tmp_path / "t" / "recordings.csv").write_text("recording,audio,duration\nrec1,audio/rec1.wav,5\n")
    monkeypatch.chdir(tmp_path)
    corpus = read_intervals(Path("t/intervals.csv"), recordings=Path("t/recordings.csv"))
    assert corpus.items["audio"].tolist() == [os.path.abspath(tmp_path / "t" / "audio" / "rec1.wav")]


@pytest.mark.parametrize("path", ["/etc/passwd", "../../secret.wav"])
def test_an_item_naming_a_path_outside_the_root_is_refused_unless_allowed(tmp_path, path):
    ratings, items = _tables(tmp_path / "data", ("wav/a.wav", path))
    with pytest.raises(InputError) as info:
        read_long(ratings, items=items)
    message = str(info.value)
    assert message.startswith(f"items.csv, row 2, column 'audio': the audio path {path!r} resolves to ")
    assert f"outside the audio root {os.path.abspath(tmp_path / 'data')} (1 such rows)" in message
    assert "allow_outside_paths" in message
    corpus = read_long(ratings, items=items, allow_outside_paths=True)
    assert corpus.items["audio"].iloc[1] == os.path.abspath(os.path.join(tmp_path / "data", path))
    assert "Audio paths outside the audio root" in corpus.description and ": 1 (" in corpus.description


def test_cli_import_takes_audio_root_and_allow_outside_paths(tmp_path):
    ratings, items = _tables(tmp_path / "data", ("a.wav", "/etc/passwd"))
    base = ["import", "long", str(ratings), "--items", str(items), "--out"]
    refused = _invoke(*base, str(tmp_path / "c1"))
    assert refused.exit_code != 0 and "--allow-outside-paths" in refused.text
    done = _invoke(*base, str(tmp_path / "c2"), "--allow-outside-paths", "--audio-root", str(tmp_path / "root"))
    assert done.exit_code == 0, done.text
    assert Corpus.load(tmp_path / "c2").items["audio"].tolist() == [str(tmp_path / "root" / "a.wav"), "/etc/passwd"]


def test_validate_lists_items_whose_audio_is_outside_the_corpus(tmp_path):
    items = pd.DataFrame({"audio": ["audio/a.wav", "/etc/passwd", "../elsewhere/c.wav"]}, index=["a", "b", "c"])
    ratings = pd.DataFrame({"item": ["a", "b", "c"], "rater": ["r1"] * 3, "label": ["sad"] * 3})
    Corpus("shared", items, ratings, classes=["sad"]).save(tmp_path / "corpus")
    result = _invoke("validate", str(tmp_path / "corpus"))
    assert result.exit_code == 1, result.text
    assert "2 item(s) with audio outside the audio root" in result.text
    assert "item 'b': /etc/passwd" in result.text and f"item 'c': {tmp_path / 'elsewhere' / 'c.wav'}" in result.text
    assert "item 'a'" not in result.text
    allowed = _invoke("validate", str(tmp_path / "corpus"), "--allow-outside-paths")
    assert allowed.exit_code == 0 and "accepted (--allow-outside-paths)" in allowed.text
    assert _invoke("validate", str(tmp_path / "corpus"), "--audio-root", "/").exit_code == 0


def test_features_with_every_item_missing_exit_non_zero_naming_the_paths_tried(tmp_path, monkeypatch):
    ratings, items = _tables(tmp_path / "data", ("wav/a.wav", "wav/b.wav"))  # no such files
    assert _invoke("import", "long", str(ratings), "--items", str(items), "--out", str(tmp_path / "c")).exit_code == 0
    monkeypatch.chdir(tmp_path / "data")  # files beside the working directory would not count either
    store = tmp_path / "store"
    result = _invoke("features", str(tmp_path / "c"), "--extractor", "fbank", "--store", str(store))
    assert result.exit_code != 0
    assert "none of its 2 items has an audio file" in result.text
    assert f"item 'a': {os.path.abspath(tmp_path / 'data' / 'wav' / 'a.wav')}" in result.text
    assert not store.exists() or not any(store.rglob("store.json"))  # nothing created, nothing marked complete
    with pytest.raises(InputError, match="no store entry was written"):
        fill_store(Corpus.load(tmp_path / "c"), "fbank", store)


def test_imported_and_merged_corpora_record_the_audio_root_validate_checks(demo_corpus, tmp_path):
    assert Corpus.load(demo_corpus.dir).audio_root == str(demo_corpus.root.resolve() / "audio")
    assert _invoke("validate", str(demo_corpus.dir)).exit_code == 0  # audio beside, not inside, the corpus folder
    roots = []
    for name in ("one", "two"):
        ratings, items = _tables(tmp_path / "src" / name, ("wav/a.wav", "wav/b.wav"))
        out = tmp_path / name
        assert _invoke("import", "long", str(ratings), "--items", str(items), "--out", str(out)).exit_code == 0
        roots.append(Corpus.load(out).audio_root)
    assert roots == [os.path.abspath(tmp_path / "src" / "one"), os.path.abspath(tmp_path / "src" / "two")]
    merged = _invoke("merge", f"one={tmp_path / 'one'}", f"two={tmp_path / 'two'}", "--out", str(tmp_path / "m"))
    assert merged.exit_code == 0, merged.text
    assert Corpus.load(tmp_path / "m").audio_root == os.path.abspath(tmp_path / "src")  # both sources' roots
    assert _invoke("validate", str(tmp_path / "m")).exit_code == 0
