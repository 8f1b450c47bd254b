"""Importers on files that come from elsewhere: unsafe names, inflated counts, non-finite numbers, repeated
headers, other encodings, deeply nested JSON. Every case ends in a located VoxpopError, or in a corpus
whose values were checked by hand. Small files are written in ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

import voxpop.cli
from voxpop import Corpus
from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.formats.cremad import read_cremad, read_cremad_responses
from voxpop.corpus.formats.encodings import candidates, decode_text
from voxpop.corpus.formats.iemocap import read_iemocap
from voxpop.corpus.formats.intervals import read_intervals
from voxpop.corpus.formats.long import read_long
from voxpop.corpus.formats.msp import read_msp
from voxpop.corpus.formats.ravdess import read_ravdess

FIXTURES = Path(__file__).parent / "fixtures"
VOTES_HEADER = '"","A","D","F","H","N","S","fileName","numResponses","agreement","emoVote"'
VOTES = ['"100001",0,0,0,1,10,0,"1001_IEO_NEU_XX",11,0.91,"N"', '"100002",4,1,0,0,2,0,"1002_DFA_ANG_XX",7,0.57,"A"']
IEMOCAP_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
UTTERANCE = "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 3.0000, 3.5000]\nC-E1:\tNeutral;\t()\n"


def _text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def _msp(tmp_path: Path, entries: dict, name: str = "labels_detailed.json") -> Path:
    return _text(tmp_path / name, json.dumps(entries, indent=4))


def _record(**fields) -> dict:
    base = {"EmoClass_Major": "Neutral", "EmoClass_Second": "Neutral", "EmoAct": "4", "EmoVal": "4", "EmoDom": "4"}
    return {**base, **fields}


# ----------------------------------------------------------------------------- names taken from inside files
@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("../../outside.wav", "has a '..' component"),
        ("sub/../../outside.wav", "has a '..' component"),
        ("..\\outside.wav", "has a '..' component"),
        ("/etc/passwd.wav", "is an absolute path"),
        ("C:\\Windows\\x.wav", "is an absolute path"),
    ],
)
def test_msp_key_that_leaves_the_audio_folder_is_refused_at_its_line(tmp_path, key, problem):
    path = _msp(tmp_path, {"MSP-PODCAST_0001_0001.wav": {"W1": _record()}, key: {"W1": _record()}})
    # json.dumps(indent=4): line 1 '{', the first file spans lines 2-10, the second key is on line 11
    with pytest.raises(InputError, match=rf"^labels_detailed\.json, line 11: the file name .* {problem}"):
        read_msp(path, audio_dir=tmp_path / "Audios")


def test_msp_consensus_file_name_with_dotdot_is_refused(tmp_path):
    labels = _msp(tmp_path, {"a.wav": {"W1": _record()}})
    consensus = _text(tmp_path / "labels_consensus.csv", "FileName,EmoClass\na.wav,N\n../b.wav,S\n")
    pattern = r"^labels_consensus\.csv, row 2, column 'FileName': the file name '\.\./b\.wav'"
    with pytest.raises(InputError, match=pattern):
        read_msp(labels, consensus)


def test_msp_subfolder_names_and_a_symlinked_audio_folder_stay_usable(tmp_path):
    real = tmp_path / "store" / "Audios"
    (real / "sub").mkdir(parents=True)
    link = tmp_path / "Audios"
    link.symlink_to(real, target_is_directory=True)
    path = _msp(tmp_path, {"a.wav": {"W1": _record()}, "sub/b.wav": {"W1": _record()}})
    corpus = read_msp(path, audio_dir=link)
    assert corpus.items["audio"].tolist() == [str(link / "a.wav"), str(link / "sub" / "b.wav")]
    assert corpus.items.index.tolist() == ["a", "sub/b"]  # the id keeps its folder (issue 31: ids are data)


def test_iemocap_utterance_id_with_dotdot_is_refused_before_building_its_audio_path(tmp_path):
    bad = UTTERANCE.replace("Ses01F_impro01_F000", "Ses01F_x/../../../../y_F000")
    path = _text(tmp_path / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt", IEMOCAP_HEADER + bad)
    with pytest.raises(InputError, match=r"^Ses01F_impro01\.txt, line 3, field 'TURN_NAME': the utterance id .*'\.\.'"):
        read_iemocap(path)


def test_iemocap_release_folder_that_is_a_symlink_keeps_its_paths(tmp_path):
    real = tmp_path / "store" / "IEMOCAP"
    _text(real / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt", IEMOCAP_HEADER + UTTERANCE)
    link = tmp_path / "IEMOCAP"
    link.symlink_to(real, target_is_directory=True)
    audio = read_iemocap(link).items["audio"].tolist()
    assert audio == [str(link / "Session1" / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_F000.wav")]


def _wav(path: Path, seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.zeros(int(16000 * seconds)), 16000)
    return path


def test_audio_folder_that_is_a_symlink_is_usable_for_crema_d(tmp_path):
    _wav(tmp_path / "real" / "1001_IEO_NEU_XX.wav", 0.5)
    link = tmp_path / "AudioWAV"
    link.symlink_to(tmp_path / "real", target_is_directory=True)
    votes = _text(tmp_path / "tabulatedVotes.csv", "\n".join([VOTES_HEADER, *VOTES]) + "\n")
    items = read_cremad(votes, audio=link).items
    assert items.loc["1001_IEO_NEU_XX", "audio"] == str(link.absolute() / "1001_IEO_NEU_XX.wav")
    assert items.loc["1001_IEO_NEU_XX", "duration"] == 0.5
    assert items["audio"].isna().tolist() == [False, True]


def test_ravdess_folder_of_symlinked_files_and_symlinked_folder(tmp_path):
    target = _wav(tmp_path / "elsewhere" / "take1.wav", 0.25)
    actor = tmp_path / "real" / "Actor_17"
    actor.mkdir(parents=True)
    (actor / "03-01-06-02-01-01-17.wav").symlink_to(target)
    link = tmp_path / "ravdess"
    link.symlink_to(tmp_path / "real", target_is_directory=True)
    corpus = read_ravdess(link)
    assert corpus.items["audio"].tolist() == [str(link.absolute() / "Actor_17" / "03-01-06-02-01-01-17.wav")]
    assert corpus.items["duration"].tolist() == [0.25]
    assert corpus.ratings["source_file"].tolist() == [os.path.join("Actor_17", "03-01-06-02-01-01-17.wav")]


# ----------------------------------------------------------------------------- counts that claim too much
@pytest.mark.parametrize(
    ("row", "column"),
    [
        ('"100002",0,0,0,0,100000000,0,"1002_DFA_ANG_XX",100000000,0.57,"A"', "numResponses"),
        ('"100002",100000000,0,0,0,0,0,"1002_DFA_ANG_XX",7,0.57,"A"', "A"),
    ],
)
def test_vote_row_claiming_1e8_votes_is_refused_before_expanding(tmp_path, row, column):
    votes = _text(tmp_path / "tabulatedVotes.csv", "\n".join([VOTES_HEADER, VOTES[0], row]) + "\n")
    tracemalloc.start()
    try:
        with pytest.raises(
            InputError,
            match=rf"^tabulatedVotes\.csv, row 2, column '{column}': the row claims 100000000 votes; "
            r"expected at most 1000 per clip and condition .*max_votes",
        ):
            read_cremad(votes)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6  # expanding 1e8 votes would take gigabytes


def test_vote_ceiling_is_an_option_of_the_reader_and_the_cli(tmp_path):
    votes = _text(tmp_path / "tabulatedVotes.csv", "\n".join([VOTES_HEADER, *VOTES]) + "\n")
    assert len(read_cremad(votes, max_votes=11).ratings) == 18  # 11 + 7 votes
    with pytest.raises(InputError, match=r"row 1, column 'numResponses': the row claims 11 votes; expected at most 10"):
        read_cremad(votes, max_votes=10)
    with pytest.raises(ConfigError, match="max_votes=0"):
        read_cremad(votes, max_votes=0)
    result = CliRunner().invoke(
        voxpop.cli.app, ["import", "crema-d", str(votes), "--out", str(tmp_path / "c"), "--max-votes", "10"]
    )
    assert isinstance(result.exception, InputError) and "the row claims 11 votes" in str(result.exception)
    responses = FIXTURES / "cremad_finishedResponses.csv"
    result = CliRunner().invoke(
        voxpop.cli.app,
        ["import", "crema-d", str(responses), "--responses", "--out", str(tmp_path / "r"), "--max-votes", "5"],
    )
    assert isinstance(result.exception, ConfigError) and "--max-votes applies to vote tables only" in str(
        result.exception
    )


# ----------------------------------------------------------------------------- non-finite numbers
NON_FINITE = ["inf", "-inf", "1e400", "nan"]


@pytest.mark.parametrize("cell", NON_FINITE)
@pytest.mark.parametrize("column", ["value", "start", "end"])
def test_long_table_refuses_non_finite_value_start_and_end(tmp_path, cell, column):
    good = {"value": "2", "start": "0.5", "end": "1.5"}
    row = ",".join(cell if c == column else good[c] for c in ("value", "start", "end"))
    path = _text(tmp_path / "r.csv", f"item,rater,label,value,start,end\nc1,r1,joy,2,0,1\nc2,r1,joy,{row}\n")
    with pytest.raises(InputError, match=rf"^r\.csv, row 2, column '{column}': expected a number, found '{cell}'"):
        read_long(path)


def test_long_table_empty_cells_keep_their_meaning(tmp_path):
    path = _text(tmp_path / "r.csv", "item,rater,label,value,start,end\nc1,r1,joy,2,,\nc2,r1,joy,,0,1.5\n")
    ratings = read_long(path, slot="attribute", classes=["joy"]).ratings
    np.testing.assert_array_equal(ratings["value"], [2.0, np.nan])
    np.testing.assert_array_equal(ratings["start"], [np.nan, 0.0])
    np.testing.assert_array_equal(ratings["end"], [np.nan, 1.5])


@pytest.mark.parametrize("cell", NON_FINITE)
def test_intervals_refuse_non_finite_times(tmp_path, cell):
    path = _text(tmp_path / "i.csv", f"recording,rater,label,start,end\nrec,a,joy,0,1\nrec,a,sad,2,{cell}\n")
    with pytest.raises(InputError, match=rf"^i\.csv, row 2, column 'end': expected a number, found '{cell}'"):
        read_intervals(path)


@pytest.mark.parametrize("cell", ["inf", "1e400", "nan"])
def test_crema_d_refuses_non_finite_levels_and_counts(tmp_path, cell):
    responses = (FIXTURES / "cremad_finishedResponses.csv").read_text().splitlines()
    responses[1] = responses[1].replace('"N","55"', f'"N","{cell}"')
    path = _text(tmp_path / "finishedResponses.csv", "\n".join(responses) + "\n")
    with pytest.raises(InputError, match=rf"^finishedResponses\.csv, row 1, column 'respLevel': .*found '{cell}'"):
        read_cremad_responses(path)
    votes = _text(tmp_path / "tabulatedVotes.csv", "\n".join([VOTES_HEADER, VOTES[0].replace(",10,", f",{cell},")]))
    with pytest.raises(InputError, match=rf"^tabulatedVotes\.csv, row 1, column 'N': .*found '{cell}'"):
        read_cremad(votes)


@pytest.mark.parametrize("raw", ['"inf"', '"1e400"', "1e400", "NaN", "-Infinity", "1" + "0" * 400])
def test_msp_refuses_non_finite_dimensions_as_text_or_json_numbers(tmp_path, raw):
    text = json.dumps({"a.wav": {"W1": _record(EmoVal="PLACEHOLDER")}}, indent=4).replace('"PLACEHOLDER"', raw)
    path = _text(tmp_path / "labels_detailed.json", text)
    pattern = r"^labels_detailed\.json, line 7, field 'EmoVal': rater 'W1' on 'a\.wav' gave"
    with pytest.raises(InputError, match=pattern):
        read_msp(path)


def test_msp_consensus_refuses_non_finite_dimension(tmp_path):
    labels = _msp(tmp_path, {"a.wav": {"W1": _record()}})
    consensus = _text(tmp_path / "labels_consensus.csv", "FileName,EmoClass,EmoAct\na.wav,N,inf\n")
    with pytest.raises(InputError, match=r"^labels_consensus\.csv, row 1, column 'EmoAct': expected a number"):
        read_msp(labels, consensus)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("[6.2901 - 8.2357]", "[6.2901 - inf]", "END_TIME"),
        ("[6.2901 - 8.2357]", "[nan - 8.2357]", "START_TIME"),
        ("[2.5000, 3.0000, 3.5000]", "[2.5000, 1e400, 3.5000]", "[V, A, D]"),
        ("C-E1:\tNeutral;\t()", "A-E3:\tval inf; act 2; dom 2;\t()", "A-E3 val"),
    ],
)
def test_iemocap_refuses_non_finite_numbers(tmp_path, old, new, field):
    path = _text(tmp_path / "Ses01F_impro01.txt", IEMOCAP_HEADER + UTTERANCE.replace(old, new))
    line = 3 if field in ("END_TIME", "START_TIME", "[V, A, D]") else 4
    pattern = rf"line {line}, field {re.escape(repr(field))}: expected a number, found .*not a finite"
    with pytest.raises(InputError, match=pattern):
        read_iemocap(path)


# ----------------------------------------------------------------------------- messages that say what happened
def test_iemocap_negative_start_names_the_start_field(tmp_path):
    path = _text(tmp_path / "Ses01F_impro01.txt", IEMOCAP_HEADER + UTTERANCE.replace("[6.2901", "[-1.5000"))
    with pytest.raises(
        InputError,
        match=r"^Ses01F_impro01\.txt, line 3, field 'START_TIME': the utterance starts at -1\.5000 s; expected a start",
    ):
        read_iemocap(path)
    backwards = _text(tmp_path / "Ses01F_impro02.txt", IEMOCAP_HEADER + UTTERANCE.replace("8.2357", "5.0"))
    with pytest.raises(InputError, match=r"line 3, field 'END_TIME': the utterance must end after it starts"):
        read_iemocap(backwards)


# ----------------------------------------------------------------------------- repeated headers
@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("item,item,label", r"column 'item' appears 2 times \(columns 1, 2\)"),
        ("item,label, item ", r"column 'item' appears 2 times \(columns 1, 3\)"),
    ],
)
def test_repeated_header_names_the_repeated_column(tmp_path, header, message):
    path = _text(tmp_path / "r.csv", f"{header}\na,b,c\n")
    with pytest.raises(InputError, match=rf"^r\.csv, header: {message}"):
        read_long(path)


def test_repeated_header_in_a_vote_table(tmp_path):
    path = _text(tmp_path / "tabulatedVotes.csv", VOTES_HEADER.replace('"S"', '"A"') + "\n" + VOTES[0] + "\n")
    with pytest.raises(InputError, match=r"^tabulatedVotes\.csv, header: column 'A' appears 2 times \(columns 2, 7\)"):
        read_cremad(path)


# ----------------------------------------------------------------------------- encodings
def test_latin1_table_is_ambiguous_the_error_lists_candidates_then_reads_with_encoding(tmp_path):
    path = _text(tmp_path / "r.csv", "item,rater,label\nc1,r1,joy\nc2,r1,colère\n", "latin-1")
    with pytest.raises(InputError) as info:
        read_long(path)  # a few bytes of Western European text: cp1250, cp1252, cp850 ... all read it
    message = str(info.value)
    assert message.startswith("r.csv, line 3: the bytes b'\\xe8' are not UTF-8 text, and the encoding could not")
    assert "cp1252 reads line 3 as 'c2,r1,colère'" in message and "cp1250 reads line 3 as 'c2,r1,colčre'" in message
    assert "re-encode the file as UTF-8" in message and "encoding='" in message
    assert read_long(path, encoding="latin-1").ratings["label"].tolist() == ["joy", "colère"]
    with pytest.raises(InputError, match=r"^r\.csv, line 3: the bytes b'\\xe8' are not utf-8 text"):
        read_long(path, encoding="utf-8")  # a given encoding is read strictly
    with pytest.raises(ConfigError, match="unknown text encoding 'klingon'"):
        read_long(path, encoding="klingon")


def test_utf8_byte_order_mark_is_dropped(tmp_path):
    path = _text(tmp_path / "r.csv", "\ufeffitem,rater,label\nc1,r1,joy\n")
    assert read_long(path).ratings["item"].tolist() == ["c1"]


CHINESE = "item,rater,label\n" + "".join(
    f"片段{i:02d},评分者{i % 3},{('愤怒', '悲伤', '快乐', '中性')[i % 4]}\n" for i in range(16)
)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16", "utf-32", "gbk", "gb2312"])
def test_utf16_with_or_without_bom_and_gbk_are_detected(tmp_path, encoding):
    data = CHINESE.encode(encoding)
    assert 300 < len(data) < 2000  # a few hundred bytes, as a small label file
    assert decode_text(data, "r.csv") == CHINESE
    path = tmp_path / "r.csv"
    path.write_bytes(data)
    corpus = read_long(path)
    assert corpus.items.index.tolist() == [f"片段{i:02d}" for i in range(16)]
    assert corpus.classes == sorted(["愤怒", "悲伤", "快乐", "中性"])


def test_a_hint_never_suggests_an_encoding_giving_nul_filled_column_names(tmp_path):
    data = "item,rater,label\nc1,r1,joy\nc2,r2,anger\n".encode("utf-16-le")
    assert [codec for codec, _ in candidates(data)] == ["utf_16_le"]
    with pytest.raises(InputError) as info:
        decode_text(data, "r.csv", "utf-8")  # valid UTF-8 bytes, but the header is i\x00t\x00e\x00m\x00
    message = str(info.value)
    assert message.startswith("r.csv, line 1: read as utf-8, the first line holds NUL characters")
    assert "utf_16_le reads line 1 as 'item,rater,label'" in message
    assert "latin" not in message and "cp1252" not in message
    with pytest.raises(InputError, match="are not UTF-8 text.*no text encoding reads it"):
        decode_text(b"\x81\x00\xfe\x00" * 10 + b"\xff\xfe\x00\x00\xd8" * 3, "x.csv")


def test_utf16_json_and_iemocap_files_read_without_an_encoding(tmp_path):
    labels = _text(tmp_path / "labels.json", json.dumps({"é.wav": {"W1": _record()}}), "utf-16")
    assert read_msp(labels).items.index.tolist() == ["é"]
    assert read_msp(labels, encoding="utf-16").items.index.tolist() == ["é"]
    with pytest.raises(InputError, match=r"^labels\.json, line 1: the bytes b'\\xff' are not utf-8 text.*utf_16"):
        read_msp(labels, encoding="utf-8")
    evaluation = _text(tmp_path / "Ses01F_impro01.txt", IEMOCAP_HEADER + UTTERANCE, "utf-16")
    assert read_iemocap(evaluation).items.index.tolist() == ["Ses01F_impro01_F000"]


def test_cli_import_takes_an_encoding(tmp_path):
    path = _text(tmp_path / "r.csv", "item,rater,label\nc1,r1,colère\n", "cp1252")
    runner = CliRunner()
    failed = runner.invoke(voxpop.cli.app, ["import", "long", str(path), "--out", str(tmp_path / "a")])
    assert isinstance(failed.exception, InputError) and "--encoding cp12" in str(failed.exception)
    done = runner.invoke(
        voxpop.cli.app, ["import", "long", str(path), "--out", str(tmp_path / "b"), "--encoding", "cp1252"]
    )
    assert done.exit_code == 0, done.output
    assert Corpus.load(tmp_path / "b").ratings["label"].tolist() == ["colère"]


# ----------------------------------------------------------------------------- deeply nested JSON
@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_json_is_an_error_naming_the_file(tmp_path, depth):
    path = _text(tmp_path / "labels_detailed.json", '{"a.wav": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(InputError, match=r"^labels_detailed\.json: the JSON is nested"):
        read_msp(path)


def test_a_header_row_repeated_inside_the_data_is_named_with_its_row(tmp_path):
    header = '"","A","D","F","H","N","S","fileName","numResponses"\n'
    rows = ['"1",0,0,0,1,10,0,"1001_IEO_NEU_XX",11\n', '"2",0,0,0,3,6,0,"1001_IEO_HAP_LO",9\n']
    path = tmp_path / "tabulatedVotes.csv"
    path.write_text(header + rows[0] + header + rows[1])  # two tables joined with cat
    with pytest.raises(InputError, match=r"tabulatedVotes.csv, row 2: repeats the header row \(1 such rows: \[2\]\)"):
        read_cremad(path)
    long = tmp_path / "long.csv"
    long.write_text("item,rater,label\nc1,r1,anger\nitem,rater,label\nc2,r1,joy\n")
    with pytest.raises(InputError, match="long.csv, row 2: repeats the header row"):
        read_long(long)
    label_named_label = tmp_path / "ok.csv"  # one cell equal to its column name is data, not a header
    label_named_label.write_text("item,rater,label\nc1,r1,label\n")
    assert read_long(label_named_label).ratings["label"].tolist() == ["label"]


# ----------------------------------------------------------------------------- id columns and coded labels
def _parquet(path: Path, columns: dict, metadata: dict | None = None) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(columns)
    if metadata is not None:
        table = table.replace_schema_metadata({"huggingface": json.dumps(metadata)})
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize(
    ("cells", "holds"),
    [
        ([b"\x00\x01", b"\x02"], "bytes"),
        ([{"path": "a.wav", "id": 1}, {"path": "b.wav", "id": 2}], "a struct"),
        ([[1, 2], [3]], "a list"),
    ],
)
def test_an_item_column_of_bytes_structs_or_lists_is_refused_saying_what_it_holds(tmp_path, cells, holds):
    path = _parquet(tmp_path / "r.parquet", {"item": cells, "rater": ["r1", "r2"], "label": ["anger", "sad"]})
    with pytest.raises(InputError, match=rf"^r\.parquet, row 1, column 'item': holds {holds}, expected text or a num"):
        read_long(path)


def test_a_very_long_value_is_not_an_item_id(tmp_path):
    transcript = "so I said to him " * 40  # 680 characters: a text column named as the id column
    path = _text(tmp_path / "r.csv", f"item,rater,label\nc1,r1,anger\n{transcript},r1,sad\n")
    with pytest.raises(InputError, match=r"^r\.csv, row 2, column 'item': holds a value of 679 characters"):
        read_long(path)  # 680 characters less the trailing blank, stripped from every cell
    assert read_long(_text(tmp_path / "ok.csv", f"item,rater,label\n{'x' * 512},r1,sad\n")).items.index[0] == "x" * 512


def test_dictionary_encoded_labels_are_read_as_their_names(tmp_path):
    import pyarrow as pa

    labels = pa.DictionaryArray.from_arrays(pa.array([1, 0, 1], pa.int8()), pa.array(["angry", "sad"]))
    path = _parquet(tmp_path / "r.parquet", {"item": ["a", "a", "b"], "rater": ["r1", "r2", "r1"], "label": labels})
    corpus = read_long(path)
    assert corpus.ratings["label"].tolist() == ["sad", "angry", "sad"]
    assert corpus.classes == ["angry", "sad"]


def test_class_label_codes_are_read_as_the_names_the_file_carries(tmp_path):
    features = {"label": {"names": ["angry", "happy", "sad"], "_type": "ClassLabel"}, "item": {"_type": "Value"}}
    columns = {"item": ["a", "a", "b", "b"], "rater": ["r1", "r2", "r1", "r2"], "label": [2, 0, 1, -1]}
    path = _parquet(tmp_path / "r.parquet", columns, {"info": {"features": features}})
    with pytest.raises(InputError, match=r"^r\.parquet, row 4, column 'label': empty"):
        read_long(path)  # -1 is a missing label in datasets, and every rating needs a label
    columns["label"] = [2, 0, 1, 1]
    corpus = read_long(_parquet(tmp_path / "r.parquet", columns, {"info": {"features": features}}))
    assert corpus.ratings["label"].tolist() == ["sad", "angry", "happy", "happy"]
    columns["label"] = [2, 0, 3, 1]
    with pytest.raises(InputError, match=r"^r\.parquet, row 3, column 'label': class code 3 is not one of the 3"):
        read_long(_parquet(tmp_path / "r.parquet", columns, {"info": {"features": features}}))
