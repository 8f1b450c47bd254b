"""Truncated and mixed files: a CSV cut mid-row is an error naming its file and line; text that looks mis-decoded
or mixes look-alike scripts is reported with its values; item ids joined from columns that collide are refused."""

from __future__ import annotations

import pandas as pd
import pytest

from voxpop.core.errors import InputError
from voxpop.corpus.formats.cremad import read_cremad
from voxpop.corpus.formats.likert import read_likert
from voxpop.corpus.formats.long import read_long
from voxpop.corpus.formats.msp import read_msp
from voxpop.corpus.formats.text_checks import take_notes

VOTES = [
    '"","A","D","F","H","N","S","fileName","numResponses","agreement","emoVote"',
    '"100001",0,0,0,1,10,0,"1001_IEO_NEU_XX",11,0.91,"N"',
    '"100002",4,1,0,0,2,0,"1002_DFA_ANG_XX",7,0.57,"A"',
    '"200002",5,0,0,0,0,0,"1002_DFA_ANG_XX",5,1,"A"',
]
DETAILED = [
    "FileName,EmoDetail",
    'a.wav,"W1; Neutral; Neutral,Sad; A:3.0; V:4.0; D:3.0;"',
    'b.wav,"W1; Angry; Angry,Frustrated; A:6.0; V:2.0; D:6.0;"',
]


@pytest.fixture(autouse=True)
def _no_stale_notes():
    take_notes()
    yield
    take_notes()


def _cut(tmp_path, name, lines, keep):
    """The file of ``lines`` cut after ``keep`` characters of its last line (no final line break)."""
    path = tmp_path / name
    path.write_text("\n".join([*lines[:-1], lines[-1][:keep]]))
    return path


# ====================================================================== cut mid-row
@pytest.mark.parametrize("keep", [10, 30, 44])  # inside the counts, before fileName's closing quote, inside emoVote
def test_a_crema_d_vote_table_cut_mid_row_names_the_file_and_line(tmp_path, keep):
    path = _cut(tmp_path, "tabulatedVotes.csv", VOTES, keep)
    with pytest.raises(InputError, match=r"tabulatedVotes.csv, line 4: .*cut off mid-row"):
        read_cremad(path)


def test_the_whole_crema_d_table_without_a_final_line_break_is_read_and_noted(tmp_path):
    path = tmp_path / "tabulatedVotes.csv"
    path.write_text("\n".join(VOTES))  # complete rows, but the file ends without a line break
    corpus = read_cremad(path)
    assert corpus.items.shape[0] == 2
    assert "tabulatedVotes.csv ends without a line break after line 4" in corpus.description


@pytest.mark.parametrize("keep", [5, 20])  # inside the file name, inside the quoted EmoDetail
def test_an_msp_labels_csv_cut_mid_row_names_the_file_and_line(tmp_path, keep):
    path = _cut(tmp_path, "labels_detailed.csv", DETAILED, keep)
    with pytest.raises(InputError, match=r"labels_detailed.csv, line 3: .*cut off mid-row"):
        read_msp(path)


def test_a_middle_row_with_too_few_fields_is_named_not_filled_with_nothing(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("item,rater,label\na,r1,anger\nb,r1\nc,r1,sad\n")
    with pytest.raises(InputError, match=r"ratings.csv, line 3: has 2 fields, the header has 3 \(item, rater, label\)"):
        read_long(path)


# ====================================================================== mis-decoded text and look-alike letters
def test_utf8_read_as_latin1_is_reported_with_the_values(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_bytes("item,rater,label\na,r1,énervé\nb,r2,énervé\nc,r1,calme\n".encode())
    corpus = read_long(path, encoding="latin-1")  # the user named the wrong encoding
    assert set(corpus.ratings["label"]) == {"Ã©nervÃ©", "calme"}  # what latin-1 makes of the UTF-8 bytes
    assert (
        "ratings.csv: 1 value(s) look like UTF-8 text decoded as latin-1 or cp1252 (mojibake): "
        "'Ã©nervÃ©' (line 2, probably 'énervé')"
    ) in corpus.description
    assert "mojibake" not in read_long(path).description  # read as UTF-8: nothing to report


def test_a_label_with_a_cyrillic_letter_is_reported_as_a_look_alike(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("item,rater,label\na,r1,anger\nb,r1,\u0430nger\nc,r\u0455,sad\n", encoding="utf-8")
    corpus = read_long(path)
    assert {"anger", "\u0430nger"} <= set(corpus.classes)  # two classes that print alike: what the note is for
    assert (
        "ratings.csv: 2 value(s) mix look-alike letters of different scripts: "
        "'\u0430nger' (line 3, Cyrillic '\u0430', Latin 'nger'); 'r\u0455' (line 4, Latin 'r', Cyrillic '\u0455')"
    ) in corpus.description


def test_plain_non_latin_text_is_not_reported(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("item,rater,label\na,r1,гнев\nb,r1,colère\nc,r1,χαρά\n", encoding="utf-8")
    corpus = read_long(path)
    assert "look-alike" not in corpus.description and "mojibake" not in corpus.description


# ====================================================================== joined item ids
def test_item_ids_joined_from_columns_that_collide_are_refused_with_both_rows(tmp_path):
    path = tmp_path / "likert.csv"
    path.write_text("speaker,clip,rater,Anger\nx_1,2,r1,1\nx,1_2,r1,3\nx,3,r1,2\n")
    with pytest.raises(InputError) as caught:
        read_likert(path, item_column=["speaker", "clip"], rater_column="rater", emotion_columns=["Anger"])
    assert str(caught.value).startswith(
        "likert.csv, rows 1 and 2: the item ids joined from columns 'speaker', 'clip' with '_' collide: "
        "'x_1' + '2' and 'x' + '1_2' both give 'x_1_2'."
    )


def test_joined_item_ids_that_repeat_for_several_raters_are_one_item(tmp_path):
    path = tmp_path / "likert.csv"
    path.write_text("speaker,clip,rater,Anger\nx,1,r1,1\nx,1,r2,3\ny,1,r1,2\n")
    corpus = read_likert(path, item_column=["speaker", "clip"], rater_column="rater", emotion_columns=["Anger"])
    assert list(corpus.items.index) == ["x_1", "y_1"]
    assert pd.Series(corpus.ratings["item"]).value_counts().to_dict() == {"x_1": 2, "y_1": 1}


@pytest.mark.parametrize("codec", ["utf-8", "utf-16"])
def test_a_file_with_classic_mac_line_ends_is_read_like_its_lf_twin(tmp_path, codec):
    """Excel's "CSV (Macintosh)" ends every line in a bare CR: the import failed with pandas's "new-line character
    seen in unquoted field - do you need to open the file in universal-newline mode?", no line, no way out."""
    text = "item,rater,label\nu1,r1,anger\nu1,r2,sad\nu2,r1,sad\n"
    (tmp_path / "lf.csv").write_bytes(text.encode(codec))
    (tmp_path / "cr.csv").write_bytes(text.replace("\n", "\r").encode(codec))
    lf, cr = read_long(tmp_path / "lf.csv"), read_long(tmp_path / "cr.csv")
    pd.testing.assert_frame_equal(cr.ratings.drop(columns="source_file"), lf.ratings.drop(columns="source_file"))
    assert cr.ratings["label"].tolist() == ["anger", "sad", "sad"]


def test_a_refused_level_with_a_look_alike_letter_says_so(tmp_path):
    """'Mоderate' with a Cyrillic 'о' was refused as "found 'Mоderate'", which reads exactly like the expected
    'Moderate': the message now names the scripts."""
    table = tmp_path / "likert.csv"
    table.write_text("clip,rater,anger\nc1,r1,Moderate\nc1,r2,M\u043ederate\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 2, column 'anger'.*found 'M\u043ederate' \(mixes look-alike letters"):
        read_likert(table, item_column="clip", rater_column="rater", emotion_columns=["anger"],
                    levels={"None": 0, "A little": 1, "Moderate": 2, "Extremely": 3})  # fmt: skip
