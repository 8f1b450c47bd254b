"""Interval (RAMAS-style) importer: exact rows and recordings, durations from a table, from audio files
or estimated, renamed columns, errors naming file, row and column, save/load and the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from voxpop.cli.app import app
from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.codes import as_text
from voxpop.corpus.corpus import STRING, Corpus, CorpusError
from voxpop.corpus.formats.intervals import read_intervals

FIXTURES = Path(__file__).parent / "fixtures"
RAMAS = FIXTURES / "intervals_ramas.csv"
RECORDINGS = FIXTURES / "intervals_recordings.csv"
HEADER = "recording,rater,label,start,end\n"


def _write(tmp_path: Path, rows: str, name: str = "intervals.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + rows)
    return path


def test_fixture_gives_exactly_these_rows_and_estimated_durations():
    corpus = read_intervals(RAMAS)
    expected = pd.DataFrame(
        [
            ("rec01", "ann1", "Sad", 1.2, 4.8, 1),
            ("rec01", "ann2", "Sad", 0.9, 5.1, 2),
            ("rec01", "ann2", "Neutral", 5.1, 9.0, 3),
            ("rec02", "ann1", "Angry", 0.0, 3.5, 4),
            ("rec02", "ann3", "Fear", 2.0, 6.25, 5),
        ],
        columns=["item", "rater", "label", "start", "end", "source_row"],
    )
    pd.testing.assert_frame_equal(as_text(corpus.ratings)[expected.columns], expected, check_dtype=False)
    assert set(corpus.ratings["slot"]) == {"primary"} and set(corpus.ratings["source_file"]) == {RAMAS.name}
    assert corpus.classes == ["Angry", "Fear", "Neutral", "Sad"]
    expected_items = pd.DataFrame(
        {"duration": [9.0, 6.25], "duration_estimated": [True, True]},
        index=pd.Index(["rec01", "rec02"], dtype=STRING, name="item"),
    )
    pd.testing.assert_frame_equal(corpus.items, expected_items)
    assert "Recording durations estimated as the latest interval end: 2." in corpus.description


def test_recordings_table_gives_durations_and_metadata():
    corpus = read_intervals(RAMAS, recordings=RECORDINGS)
    items = corpus.items
    assert list(items.index) == ["rec01", "rec02", "rec03"]
    assert items["duration"].tolist() == [9.5, 7.0, 5.0]
    assert items["speaker"].tolist() == ["spk1", "spk2", "spk1"]
    folder = os.path.abspath(Path(RECORDINGS).parent)  # relative paths name files beside the table
    assert items["audio"].tolist() == [f"{folder}/audio/rec0{i}.wav" for i in (1, 2, 3)]
    assert not items["duration_estimated"].any()
    assert corpus.summary()["items without ratings"] == 1


def test_audio_folder_gives_paths_and_durations(tmp_path):
    rate = 1000
    for recording, seconds in (("rec01", 9.25), ("rec02", 6.5)):
        sf.write(tmp_path / f"{recording}.wav", np.zeros(int(seconds * rate)), rate)
    corpus = read_intervals(RAMAS, audio_dir=tmp_path)
    assert corpus.items["duration"].tolist() == [9.25, 6.5]
    assert corpus.items["audio"].tolist() == [str((tmp_path / f"{r}.wav").resolve()) for r in ("rec01", "rec02")]
    with pytest.raises(InputError, match=r"no audio file for recording\(s\) \['rec02'\]"):
        (tmp_path / "rec02.wav").unlink()
        read_intervals(RAMAS, audio_dir=tmp_path)


def test_interval_beyond_a_known_duration_names_the_row(tmp_path):
    recordings = _write(tmp_path, "rec01,,8.0\nrec02,,7.0\n", "recordings.csv", header="recording,audio,duration\n")
    with pytest.raises(
        InputError, match=r"intervals_ramas\.csv, row 3, column 'end': interval end 9 s is after .*'rec01' \(8 s\)"
    ):
        read_intervals(RAMAS, recordings=recordings)


def test_renamed_columns_class_map_and_excluded(tmp_path):
    path = _write(
        tmp_path,
        "r1,a,ang,0.5,1.5\nr1,b,neu,0.0,2.0\nr1,b,oth,2.0,3.0\n",
        header="file,annotator,emotion,t0,t1\n",
    )
    columns = {"file": "recording", "annotator": "rater", "emotion": "label", "t0": "start", "t1": "end"}
    class_map = {"ang": "anger", "neu": "neutral", "oth": "other"}
    corpus = read_intervals(path, columns=columns, class_map=class_map, excluded=["other"])
    assert corpus.classes == ["anger", "neutral"]
    assert corpus.ratings["label"].tolist() == ["anger", "neutral", "other"]
    given = read_intervals(path, columns=columns, classes=["neutral", "anger"], class_map=class_map, excluded=["other"])
    assert given.classes == ["neutral", "anger"]


def test_condition_column_is_kept_and_others_reported(tmp_path):
    path = _write(tmp_path, "r1,a,joy,0,1,av,x\n", header="recording,rater,label,start,end,condition,comment\n")
    corpus = read_intervals(path)
    assert corpus.ratings["condition"].tolist() == ["av"]
    assert "Ignored columns: comment." in corpus.description


def test_save_load_round_trip(tmp_path):
    corpus = read_intervals(RAMAS, recordings=RECORDINGS)
    corpus.save(tmp_path / "c")
    loaded = Corpus.load(tmp_path / "c")
    pd.testing.assert_frame_equal(loaded.items, corpus.items)
    pd.testing.assert_frame_equal(loaded.ratings, corpus.ratings)


def test_cli_import_intervals(tmp_path):
    path = _write(tmp_path, "r1,a,ang,0.5,1.5\nr1,b,oth,2.0,3.0\n", header="file,rater,label,start,end\n")
    out = tmp_path / "out"
    args = ["import", "intervals", str(path), "--rename", "file=recording", "--class-map", "ang=anger"]
    args += ["--class-map", "oth=other", "--excluded", "other", "--name", "ramas", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    loaded = Corpus.load(out)
    assert (loaded.name, loaded.classes, loaded.excluded) == ("ramas", ["anger"], ["other"])
    assert loaded.ratings["label"].tolist() == ["anger", "other"]


# ----------------------------------------------------------------------------- malformed input
def test_missing_column(tmp_path):
    path = _write(tmp_path, "r1,a,joy,0\n", header="recording,rater,label,start\n")
    with pytest.raises(InputError, match=r"intervals\.csv: missing column 'end'"):
        read_intervals(path)


@pytest.mark.parametrize(
    ("rows", "error", "message"),
    [
        ("r1,a,joy,0,1\nr1,a,joy,one,2\n", InputError, r"row 2, column 'start': expected a number, found 'one'"),
        ("r1,a,joy,0,1\nr1,a,joy,1,\n", InputError, r"row 2, column 'end': empty"),
        (
            "r1,a,joy,0,1\nr1,a,joy,2,2\n",
            CorpusError,
            r"row 2, column 'end' \(item 'r1'\): end 2 must be after start 2",
        ),
        ("r1,a,joy,-1,1\n", CorpusError, r"row 1, column 'start' \(item 'r1'\): start -1 is negative"),
        (
            "r1,a,joy,0,1\nr1,a,joy,0,1\n",
            CorpusError,
            r"row 2, column 'rater' \(item 'r1'\): rater 'a' judged item 'r1' more than once \(an identical repeat\)",
        ),
        (",a,joy,0,1\n", InputError, r"row 1, column 'recording': empty"),
    ],
)
def test_bad_rows_name_file_row_and_column(tmp_path, rows, error, message):
    with pytest.raises(error, match=r"intervals\.csv, " + message):
        read_intervals(_write(tmp_path, rows))


def test_unknown_label_with_given_classes(tmp_path):
    path = _write(tmp_path, "r1,a,joy,0,1\nr1,b,rage,0,1\n")
    with pytest.raises(CorpusError, match=r"intervals\.csv, row 2, column 'label' \(item 'r1'\): label 'rage' is not"):
        read_intervals(path, classes=["joy"])


def test_empty_file_and_both_duration_sources(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty\.csv: the intervals file is empty"):
        read_intervals(empty)
    with pytest.raises(InputError, match=r"header\.csv: the intervals file has a header .* but no data rows"):
        read_intervals(_write(tmp_path, "", "header.csv"))
    with pytest.raises(ConfigError, match="not both"):
        read_intervals(RAMAS, recordings=RECORDINGS, audio_dir=tmp_path)


def test_recordings_table_errors(tmp_path):
    twice = _write(tmp_path, "rec01,1\nrec01,2\n", "rec.csv", header="recording,duration\n")
    with pytest.raises(InputError, match=r"rec\.csv, row 2, column 'recording': recording 'rec01' appears twice"):
        read_intervals(RAMAS, recordings=twice)
    partial = _write(tmp_path, "rec01,10\n", "partial.csv", header="recording,duration\n")
    with pytest.raises(CorpusError, match=r"intervals_ramas\.csv, row 4, column 'item' .*'rec02' is not in the items"):
        read_intervals(RAMAS, recordings=partial)


def test_audio_folder_lists_unmatched_files_and_skips_debris(tmp_path):
    rate = 1000
    for recording in ("rec01", "rec02", "rec09"):
        sf.write(tmp_path / f"{recording}.wav", np.zeros(10 * rate), rate)
    (tmp_path / "._rec01.wav").write_bytes(b"\x00\x05\x16\x07")
    corpus = read_intervals(RAMAS, audio_dir=tmp_path)
    assert f"1 audio files in {tmp_path} match no item and were ignored: rec09.wav." in corpus.description
    assert f"Operating-system files skipped in {tmp_path}: 1 (macOS '._' resource forks 1)." in corpus.description


def test_labels_differing_in_case_are_reported_and_folded_with_the_option(tmp_path):
    path = _write(tmp_path, "rec1,a,Joy,0,1\nrec1,b,joy,0.5,2\n")
    assert "'Joy' (1) / 'joy' (1)" in read_intervals(path).description
    folded = read_intervals(path, fold_case=True)
    assert folded.classes == ["joy"] and folded.ratings["label"].tolist() == ["joy", "joy"]
    out = tmp_path / "c"
    result = CliRunner().invoke(app, ["import", "intervals", str(path), "--fold-case", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert Corpus.load(out).classes == ["joy"]
