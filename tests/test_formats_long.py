"""Generic long-table importer: exact rows, crowd-kit columns, renames, Parquet and intensity values, the
items table, errors naming file, row and column, save/load and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from voxpop.cli.app import app
from voxpop.core.errors import InputError
from voxpop.corpus.codes import as_text
from voxpop.corpus.corpus import STRING, Corpus, CorpusError
from voxpop.corpus.formats.long import read_long

FIXTURES = Path(__file__).parent / "fixtures"
RATINGS = FIXTURES / "long_ratings.csv"
CROWDKIT = FIXTURES / "long_crowdkit.csv"
ITEMS = FIXTURES / "long_items.csv"
CODES = {"A": "anger", "N": "neutral", "S": "sadness", "X": "other"}


def _write(tmp_path: Path, text: str, name: str = "ratings.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_fixture_with_class_map_and_items_table():
    corpus = read_long(RATINGS, class_map=CODES, excluded=["other"], items=ITEMS)
    expected = pd.DataFrame(
        [
            ("clip1", "r1", "voice", "primary", "anger", 1),
            ("clip1", "r2", "voice", "primary", "neutral", 2),
            ("clip1", "r1", "face", "primary", "anger", 3),
            ("clip2", "r1", "voice", "primary", "sadness", 4),
            ("clip2", "r2", "voice", "primary", "sadness", 5),
            ("clip2", "r3", "voice", "primary", "other", 6),
        ],
        columns=["item", "rater", "condition", "slot", "label", "source_row"],
    )
    pd.testing.assert_frame_equal(as_text(corpus.ratings)[expected.columns], expected, check_dtype=False)
    assert corpus.ratings[["value", "start", "end"]].isna().all().all()
    assert corpus.classes == ["anger", "neutral", "sadness"]  # inferred: sorted, 'other' excluded
    expected_items = pd.DataFrame(
        {"speaker": ["s01", "s02", "s01"], "split": ["train", "test", "test"]},
        index=pd.Index(["clip1", "clip2", "clip3"], dtype=STRING, name="item"),
    )
    pd.testing.assert_frame_equal(corpus.items, expected_items, check_dtype=False)
    assert corpus.conditions == ["voice", "face"]
    assert "No slot column: every rating is read as slot 'primary'." in corpus.description


def test_items_inferred_from_ratings_in_order():
    corpus = read_long(RATINGS, class_map=CODES, excluded=["other"])
    assert list(corpus.items.index) == ["clip1", "clip2"] and corpus.items.columns.empty


def test_crowdkit_shape_is_recognised():
    corpus = read_long(CROWDKIT)
    assert corpus.ratings[["item", "rater", "label"]].values.tolist() == [
        ["t1", "w1", "yes"],
        ["t1", "w2", "no"],
        ["t2", "w1", "yes"],
    ]
    assert corpus.classes == ["no", "yes"]
    assert "Read the crowd-kit columns task as item, worker as rater." in corpus.description


def test_renamed_columns_apply_to_ratings_and_items(tmp_path):
    ratings = _write(tmp_path, "clip,annotator,emotion,extra\nc1,a,joy,1\nc2,a,anger,2\n")
    items = _write(tmp_path, "clip,speaker\nc1,s1\nc2,s2\n", "items.csv")
    columns = {"clip": "item", "annotator": "rater", "emotion": "label"}
    corpus = read_long(ratings, columns=columns, items=items, classes=["joy", "anger"])
    assert corpus.ratings[["item", "rater", "label"]].values.tolist() == [["c1", "a", "joy"], ["c2", "a", "anger"]]
    assert corpus.items["speaker"].tolist() == ["s1", "s2"]
    assert "Ignored columns (not rating columns): extra." in corpus.description


def test_parquet_intensity_values_and_scales(tmp_path):
    table = pd.DataFrame(
        {
            "item": ["a", "a", "b", "b"],
            "rater": ["r1", "r1", "r1", "r2"],
            "label": ["joy", "anger", "joy", "joy"],
            "value": [2, 0, 3, 1],
        }
    )
    path = tmp_path / "likert.parquet"
    table.to_parquet(path)
    corpus = read_long(path, scales={"intensity": [0, 3]})
    assert set(corpus.ratings["slot"]) == {"intensity"}
    assert corpus.ratings["value"].tolist() == [2.0, 0.0, 3.0, 1.0]
    assert corpus.classes == ["anger", "joy"]
    with pytest.raises(CorpusError, match=r"likert\.parquet, row 3, column 'value' \(item 'b'\): value 3 is outside"):
        read_long(path, scales={"intensity": [0, 2]})


def test_slot_column_and_intervals(tmp_path):
    path = _write(
        tmp_path, "item,rater,slot,label,start,end\nrec,r1,primary,joy,0.0,1.5\nrec,r1,gender,female,,\n", "mixed.csv"
    )
    corpus = read_long(path)
    assert corpus.ratings["slot"].tolist() == ["primary", "gender"]
    assert corpus.classes == ["joy"]  # labels of non-emotion slots are free
    assert corpus.ratings["end"].tolist()[0] == 1.5 and np.isnan(corpus.ratings["end"].tolist()[1])


def test_save_load_round_trip(tmp_path):
    corpus = read_long(RATINGS, class_map=CODES, excluded=["other"], items=ITEMS)
    corpus.save(tmp_path / "c")
    loaded = Corpus.load(tmp_path / "c")
    pd.testing.assert_frame_equal(loaded.items, corpus.items)
    pd.testing.assert_frame_equal(loaded.ratings, corpus.ratings)
    assert (loaded.classes, loaded.class_map, loaded.excluded) == (corpus.classes, corpus.class_map, corpus.excluded)


def test_cli_import_long(tmp_path):
    ratings = _write(tmp_path, "clip,rater,emotion\nc1,a,H\nc1,b,S\n")
    out = tmp_path / "out"
    args = ["import", "long", str(ratings), "--item-column", "clip", "--rename", "emotion=label"]
    args += ["--classes", "sad,happy", "--class-map", "H=happy", "--class-map", "S=sad", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    loaded = Corpus.load(out)
    assert loaded.classes == ["sad", "happy"]
    assert loaded.ratings[["item", "rater", "label"]].values.tolist() == [["c1", "a", "happy"], ["c1", "b", "sad"]]


def test_cli_scale_and_items(tmp_path):
    ratings = _write(tmp_path, "item,rater,label,value\nclip1,a,joy,3\n")
    out = tmp_path / "out"
    args = ["import", "long", str(ratings), "--scale", "intensity=0:3", "--items", str(ITEMS), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    loaded = Corpus.load(out)
    assert loaded.scales == {"intensity": (0.0, 3.0)} and len(loaded.items) == 3


# ----------------------------------------------------------------------------- malformed input
def test_missing_column_and_empty_files(tmp_path):
    with pytest.raises(InputError, match=r"ratings\.csv: missing column 'label'"):
        read_long(_write(tmp_path, "item,rater\nc1,a\n"))
    with pytest.raises(InputError, match=r"empty\.csv: the ratings file is empty"):
        read_long(_write(tmp_path, "", "empty.csv"))
    with pytest.raises(InputError, match=r"header\.csv: the ratings file has a header \(item, rater, label\) but no"):
        read_long(_write(tmp_path, "item,rater,label\n", "header.csv"))
    with pytest.raises(InputError, match=r"ratings\.csv: cannot rename column\(s\) \['clip'\]"):
        read_long(_write(tmp_path, "item,rater,label\nc1,a,joy\n"), columns={"clip": "item"})


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("item,rater,label\nc1,a,joy\nc1,b,\n", InputError, r"row 2, column 'label': empty"),
        (
            "item,rater,label,value\nc1,a,joy,1\nc1,b,joy,lots\n",
            InputError,
            r"row 2, column 'value': expected a number",
        ),
        (
            "item,rater,label\nc1,a,joy\nc1,a,joy\n",
            InputError,
            r"row 2, column 'rater' \(item 'c1'\): rater 'a' judged item 'c1' more than once \(an identical repeat",
        ),
        ("item,rater,label\nc1,a,joy\nc1,b,rage\n", CorpusError, r"row 2, column 'label' \(item 'c1'\): label 'rage'"),
        ("item,label,start,end\nc1,joy,2,1\n", CorpusError, r"row 1, column 'end' \(item 'c1'\): end 1 must be after"),
        ("item,label,start,end\nc1,joy,x,1\n", InputError, r"row 1, column 'start': expected a number, found 'x'"),
    ],
)
def test_bad_rows_name_file_row_and_column(tmp_path, text, error, message):
    with pytest.raises(error, match=r"ratings\.csv, " + message):
        read_long(_write(tmp_path, text), classes=["joy"])


def test_items_table_errors(tmp_path):
    ratings = _write(tmp_path, "item,rater,label\nc1,a,joy\nc9,a,joy\n")
    items = _write(tmp_path, "item,speaker\nc1,s1\n", "items.csv")
    with pytest.raises(CorpusError, match=r"ratings\.csv, row 2, column 'item' \(item 'c9'\): item 'c9' is not in the"):
        read_long(ratings, items=items)
    twice = _write(tmp_path, "item,speaker\nc1,s1\nc1,s2\n", "twice.csv")
    with pytest.raises(InputError, match=r"twice\.csv, row 2, column 'item': item id 'c1' appears more than once"):
        read_long(ratings, items=twice)
    no_id = _write(tmp_path, "clip,speaker\nc1,s1\n", "no_id.csv")
    with pytest.raises(InputError, match=r"no_id\.csv: missing column 'item'"):
        read_long(ratings, items=no_id)


# ----------------------------------------------------------------------------- repeats and case (issue 10 items 3, 10)
REPEATS = """item,rater,slot,label,value
c1,a,intensity,joy,1
c1,a,intensity,anger,0
c1,b,intensity,joy,2
c1,a,intensity,joy,3
"""


def test_repeated_field_policies_work_field_by_field(tmp_path):
    path = _write(tmp_path, REPEATS)
    with pytest.raises(InputError) as info:
        read_long(path)
    assert (
        "ratings.csv, row 4, column 'rater' (item 'c1'): rater 'a' judged item 'c1' more than once (a conflicting "
        "repeat): intensity 'joy' 1 (ratings.csv, row 1) vs 3 (ratings.csv, row 4)."
    ) in str(info.value)

    def answers(policy: str) -> list:
        r = read_long(path, duplicates=policy).ratings
        return r[["rater", "label", "value"]].values.tolist()

    assert answers("first") == [["a", "joy", 1.0], ["a", "anger", 0.0], ["b", "joy", 2.0]]
    assert answers("last") == [["a", "anger", 0.0], ["b", "joy", 2.0], ["a", "joy", 3.0]]
    assert answers("mean") == [["a", "joy", 2.0], ["a", "anger", 0.0], ["b", "joy", 2.0]]  # (1 + 3) / 2
    assert answers("drop") == [["b", "joy", 2.0]]
    corpus = read_long(path, duplicates="mean")
    assert "duplicates='mean': numeric answers averaged, each field kept once; 1 ratings removed." in corpus.description


def test_two_primary_choices_cannot_be_averaged(tmp_path):
    path = _write(tmp_path, "item,rater,label\nc1,a,joy\nc1,a,anger\nc1,b,joy\n")
    with pytest.raises(InputError, match=r"primary 'joy' \(ratings\.csv, row 1\) vs 'anger' \(ratings\.csv, row 2\)"):
        read_long(path, duplicates="mean")
    assert read_long(path, duplicates="last").ratings["label"].tolist() == ["anger", "joy"]


def test_labels_differing_only_in_case_are_reported_or_folded(tmp_path):
    path = _write(tmp_path, "item,rater,label\nc1,a,anger\nc1,b,Anger\nc2,a,anger\nc2,b,sad\n")
    corpus = read_long(path)
    assert corpus.classes == ["Anger", "anger", "sad"]
    assert (
        "Labels that differ only in case, likely one class spelt two ways: 'anger' (2) / 'Anger' (1); "
        "pass fold_case=True to merge them."
    ) in corpus.description
    folded = read_long(path, fold_case=True, classes=["Anger", "Sad"], class_map={"ANGRY": "Anger"})
    assert folded.classes == ["anger", "sad"] and folded.class_map == {"angry": "anger"}
    assert folded.ratings["label"].tolist() == ["anger", "anger", "anger", "sad"]
    assert "Labels that differed only in case, merged in lower case (fold_case): 'anger' (2) / 'Anger' (1)." in (
        folded.description
    )
    out = tmp_path / "c"
    result = CliRunner().invoke(app, ["import", "long", str(path), "--fold-case", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert Corpus.load(out).classes == ["anger", "sad"]
    args = ["import", "long", str(path), "--duplicates", "drop", "--out", str(tmp_path / "d")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output


def test_msp_packed_csv_is_pointed_to_the_msp_importer(tmp_path):
    path = _write(tmp_path, 'FileName,EmoDetail\na.wav,"W1; Neutral; ; A:3; V:4; D:3;"\n', "labels_detailed.csv")
    with pytest.raises(InputError, match=r"labels_detailed\.csv: holds MSP-Podcast per-rater labels .*import msp"):
        read_long(path, columns={"FileName": "item", "EmoDetail": "label"})


def test_item_ids_equal_in_nfc_are_counted_as_one_item_in_the_report(tmp_path):
    import unicodedata

    composed, decomposed = "caf\u00e9", unicodedata.normalize("NFD", "caf\u00e9")
    table = tmp_path / "r.csv"
    table.write_text(f"item,rater,label\n{composed},r1,anger\n{decomposed},r2,anger\n", encoding="utf-8")
    corpus = read_long(table)
    assert list(corpus.items.index) == [composed]
    assert "items: 1." in corpus.description and "(NFC) were merged: 1" in corpus.description


def test_dimension_rating_without_a_value_is_skipped_and_counted(tmp_path):
    path = _write(
        tmp_path,
        "item,rater,slot,label,value\n"
        "c1,r1,dimension,arousal,4\n"
        "c1,r2,dimension,arousal,\n"
        "c1,r1,primary,anger,\n"
        "c2,r1,dimension,valence,\n",
    )
    corpus = read_long(path)
    kept = corpus.ratings[["item", "rater", "slot", "label"]].astype(str).values.tolist()
    assert kept == [["c1", "r1", "dimension", "arousal"], ["c1", "r1", "primary", "anger"]]
    assert "Skipped dimension ratings with an empty value: 2 (rows 2, 4)." in corpus.description
    assert "items: 2" in corpus.description  # c2 stays an item (it was rated), with no usable rating
