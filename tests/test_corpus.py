"""The Corpus data model: normalisation, validation messages, subsets, summary, save/load."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

import voxpop.cli
from voxpop import Corpus, VoxpopError
from voxpop.corpus.corpus import CorpusError, InputError


def _items() -> pd.DataFrame:
    return pd.DataFrame({"speaker": ["s1", "s1", "s2"], "duration": [1.5, 2.0, 3.25]}, index=["a", "b", "c"])


def _ratings(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "item": ["a", "a", "b", "b", "c"],
            "rater": ["r1", "r2", "r1", "r2", "r1"],
            "condition": ["voice"] * 5,
            "label": ["A", "N", "A", "A", "S"],
        }
    )
    return frame.assign(**overrides)


def _corpus(ratings=None, **kwargs) -> Corpus:
    options = {"classes": ["anger", "neutral", "sad"], "class_map": {"A": "anger", "N": "neutral", "S": "sad"}}
    options.update(kwargs)
    return Corpus("toy", _items(), _ratings() if ratings is None else ratings, **options)


def test_labels_are_mapped_and_optional_columns_filled():
    corpus = _corpus()
    assert corpus.ratings["label"].tolist() == ["anger", "neutral", "anger", "anger", "sad"]
    assert corpus.ratings["slot"].unique().tolist() == ["primary"]
    assert corpus.ratings[["value", "start", "end"]].isna().all().all()
    assert corpus.items.index.name == "item"
    assert corpus.conditions == ["voice"]
    assert corpus.has_rater_ids


def test_unknown_label_names_row_and_column():
    with pytest.raises(CorpusError) as info:
        _corpus(_ratings(label=["A", "N", "happy", "A", "S"]))
    message = str(info.value)
    assert "ratings row 3, column 'label' (item 'b')" in message
    assert "label 'happy' is not a class" in message


def test_excluded_labels_are_accepted():
    corpus = _corpus(
        _ratings(label=["A", "O", "A", "A", "S"]),
        excluded=["other"],
        class_map={"O": "other", "A": "anger", "S": "sad"},
    )
    assert "other" in corpus.ratings["label"].tolist()
    assert corpus.summary()["by class"]["other"] == 1


def test_unknown_item_is_reported():
    with pytest.raises(CorpusError, match=r"ratings row 5, column 'item' \(item 'zz'\): item 'zz' is not in"):
        _corpus(_ratings(item=["a", "a", "b", "b", "zz"]))


def test_second_primary_choice_is_a_conflicting_repeat_with_both_answers_and_rows():
    ratings = _ratings(rater=["r1", "r1", "r1", "r2", "r1"])
    with pytest.raises(CorpusError) as info:
        _corpus(ratings)
    assert (
        "ratings row 2, column 'rater' (item 'a'): rater 'r1' judged item 'a' in condition 'voice' more than once "
        "(a conflicting repeat): primary 'anger' (ratings row 1) vs 'neutral' (ratings row 2)"
    ) in str(info.value)


def test_identical_secondary_judgement_is_an_identical_repeat_but_distinct_labels_are_not():
    ratings = pd.DataFrame(
        {"item": ["a", "a", "a"], "rater": ["r1"] * 3, "slot": ["secondary"] * 3, "label": ["A", "S", "S"]}
    )
    with pytest.raises(CorpusError, match=r"row 3.*identical repeat\): secondary 'sad' \(ratings row 2\) vs \("):
        _corpus(ratings)
    assert len(_corpus(ratings.iloc[:2]).ratings) == 2


def test_two_different_values_for_one_field_are_a_conflicting_repeat_not_identical():
    """Issue 9 item 8: the same rater, item and emotion with values 2 and 3 is reported with both values."""
    ratings = pd.DataFrame(
        {
            "item": ["a", "a", "a"],
            "rater": ["r1"] * 3,
            "slot": "intensity",
            "label": ["A", "S", "A"],
            "value": [2.0, 1.0, 3.0],
            "source_file": "t.csv",
            "source_row": [4, 4, 9],
            "source_column": ["anger", "sad", "anger"],
        }
    )
    with pytest.raises(CorpusError) as info:
        _corpus(ratings)
    message = str(info.value)
    assert "identical" not in message
    assert (
        "t.csv, row 9, column 'anger' (item 'a'): rater 'r1' judged item 'a' more than once (a conflicting repeat): "
        "intensity 'anger' 2 (t.csv, row 4, column 'anger') vs 3 (t.csv, row 9, column 'anger')"
    ) in message


def test_json_and_text_sources_are_placed_by_line_and_field():
    ratings = _ratings(source_file="x.json", source_row=[3, 4, 5, 6, 7], source_column="EmoClass_Major")
    ratings.loc[4, "label"] = "happy"
    with pytest.raises(CorpusError, match=r"x\.json, line 7, field 'EmoClass_Major' \(item 'c'\): label 'happy'"):
        _corpus(ratings)


def test_ids_and_labels_are_unicode_nfc_normalised():
    decomposed, composed = "cafe\u0301", "caf\u00e9"
    items = pd.DataFrame(index=[decomposed, composed, "b"])
    ratings = pd.DataFrame(
        {"item": [decomposed, composed, "b"], "rater": ["r1", "r2", "r2"], "label": ["nin\u0303o", "ni\u00f1o", "x"]}
    )
    corpus = Corpus("toy", items, ratings, classes=["ni\u00f1o", "x"], class_map={"nin\u0303o": "x"})
    assert corpus.classes == ["ni\u00f1o", "x"] and corpus.class_map == {"ni\u00f1o": "x"}
    assert corpus.items.index.tolist() == [composed, "b"]
    assert corpus.ratings["item"].tolist() == [composed, composed, "b"]
    assert corpus.ratings["label"].tolist() == ["x", "x", "x"]
    # the same rater in two Unicode spellings judging the same item twice becomes visible as a repeat
    with pytest.raises(CorpusError, match="rater 'Jos\u00e9' judged item 'caf\u00e9' more than once"):
        Corpus("toy", items, ratings.assign(rater=["Jos\u00e9", "Jose\u0301", "r2"]), classes=["ni\u00f1o", "x"])


@pytest.mark.parametrize("bad", ["a\tb", "a\nb", "a\x00b", "a\rb"])
def test_tabs_newlines_and_nul_in_ids_are_refused_with_their_place(bad):
    ratings = _ratings(item=["a", "a", "b", "b", bad], source_file="v.csv", source_row=[1, 2, 3, 4, 5])
    items = pd.concat([_items(), pd.DataFrame({"speaker": ["s3"], "duration": [1.0]}, index=[bad])])
    with pytest.raises(CorpusError) as info:
        Corpus("toy", items, ratings, classes=["A", "N", "S"])
    message = str(info.value)
    assert f"items: item id {bad!r} contains a tab, line break or NUL character" in message
    assert f"v.csv, row 5, column 'item' (item {bad!r}): item id {bad!r} contains a tab" in message
    with pytest.raises(CorpusError, match=r"v\.csv, row 2, column 'rater' \(item 'a'\): rater id 'r\\tx'"):
        Corpus(
            "toy",
            _items(),
            _ratings(rater=["r1", "r\tx", "r1", "r2", "r1"], source_file="v.csv", source_row=[1, 2, 3, 4, 5]),
            classes=["A", "N", "S"],
        )


def test_count_only_votes_may_repeat():
    corpus = _corpus(_ratings(rater=None))
    assert not corpus.has_rater_ids
    with pytest.raises(VoxpopError, match="Cohen's kappa needs rater ids.*5 ratings without a rater"):
        corpus.require_rater_ids("Cohen's kappa")


def test_value_outside_scale_and_non_numeric_value():
    ratings = pd.DataFrame(
        {"item": ["a", "b"], "rater": ["r1", "r1"], "slot": "intensity", "label": ["A", "S"], "value": [2, 4]}
    )
    with pytest.raises(CorpusError, match=r"row 2, column 'value'.*value 4 is outside the declared scale 0..3"):
        _corpus(ratings, scales={"intensity": [0, 3]})
    with pytest.raises(CorpusError, match=r"ratings row 1, column 'value': expected a number, got 'lots'"):
        _corpus(ratings.assign(value=["lots", 1]))
    with pytest.raises(CorpusError, match=r"row 2, column 'value'.*an intensity rating needs a value"):
        _corpus(ratings.assign(value=[1, None]))


def test_intervals_need_end_after_start():
    ratings = pd.DataFrame({"item": ["a", "a"], "rater": "r1", "label": "A", "start": [0.0, 2.0], "end": [1.0, 2.0]})
    with pytest.raises(CorpusError, match=r"row 2, column 'end'.*end 2 must be after start 2"):
        _corpus(ratings)
    with pytest.raises(CorpusError, match="start and end must both be given"):
        _corpus(ratings.assign(end=[1.0, None]))


def test_provenance_columns_name_the_source_file():
    ratings = _ratings(label=["A", "N", "A", "A", "Q"]).assign(
        source_file="votes.csv", source_row=[1, 1, 2, 2, 3], source_column="respEmo"
    )
    with pytest.raises(CorpusError, match=r"votes.csv, row 3, column 'respEmo' \(item 'c'\): label 'Q'"):
        _corpus(ratings)


def test_missing_column_and_bad_class_set():
    with pytest.raises(CorpusError, match=r"missing required columns \['label'\]"):
        _corpus(_ratings().drop(columns="label"))
    with pytest.raises(CorpusError, match=r"class_map.X'.*maps to 'joy'"):
        _corpus(class_map={"X": "joy"})
    with pytest.raises(CorpusError, match="both classes and excluded"):
        _corpus(excluded=["sad"])


def test_duplicate_item_ids():
    items = pd.concat([_items(), _items().iloc[:1]])
    with pytest.raises(CorpusError, match="item id 'a' appears more than once"):
        Corpus("toy", items, _ratings(), classes=["A", "N", "S"])


def test_save_load_round_trip(tmp_path):
    ratings = _ratings().assign(value=[1.0, None, 2.5, None, 0.0], source_file="x.csv", source_row=range(1, 6))
    corpus = _corpus(ratings, excluded=["other"], scales={"primary": [0, 3]})
    corpus.save(tmp_path / "c")
    loaded = Corpus.load(tmp_path / "c")
    pd.testing.assert_frame_equal(loaded.items, corpus.items)
    pd.testing.assert_frame_equal(loaded.ratings, corpus.ratings)
    for key in ("name", "classes", "class_map", "excluded", "scales"):
        assert getattr(loaded, key) == getattr(corpus, key)


def test_an_audio_column_without_any_path_keeps_its_dtype_on_save_and_load(tmp_path):
    # an IEMOCAP corpus imported without its wav folder: mapping the paths of an all-missing column gave
    # pyarrow's null dtype, so the loaded corpus differed from the saved one
    items = _items().assign(audio=pd.Series([pd.NA] * len(_items()), index=_items().index, dtype="string"))
    corpus = Corpus("toy", items, _ratings(), classes=["A", "N", "S"])
    loaded = Corpus.load(corpus.save(tmp_path / "c"))
    assert loaded.items["audio"].dtype == pd.StringDtype() and loaded.items["audio"].isna().all()
    pd.testing.assert_frame_equal(loaded.items, corpus.items)


def test_load_names_missing_files(tmp_path):
    with pytest.raises(InputError, match="corpus.yaml: not found"):
        Corpus.load(tmp_path)


def test_where_and_subset():
    corpus = _corpus()
    only_s1 = corpus.where("speaker == 's1'")
    assert only_s1.items.index.tolist() == ["a", "b"]
    assert set(only_s1.ratings["item"]) == {"a", "b"}
    assert corpus.where(None) is corpus
    with pytest.raises(VoxpopError, match="unknown column 'nosuchcolumn'; the item columns are 'speaker', 'duration'"):
        corpus.where("nosuchcolumn == 1")


def test_summary_counts():
    summary = _corpus().summary()
    assert summary["items"] == 3
    assert summary["raters"] == 2
    assert summary["ratings per item"] == {"mean": 5 / 3, "min": 1, "median": 2, "max": 2}
    assert summary["by class"] == {"anger": 3, "neutral": 1, "sad": 1}
    assert summary["by condition"] == {"voice": 5}


def test_ratings_per_item_by_condition_give_min_median_max_of_each_condition(tmp_path):
    # voice: a 3, b 1, c 2 ratings; face: a 1, b 1 (c unrated there); pooled a 4, b 2, c 2 hides face's single ratings
    rows = [("a", "voice")] * 3 + [("b", "voice"), ("c", "voice"), ("c", "voice"), ("a", "face"), ("b", "face")]
    ratings = pd.DataFrame(rows, columns=["item", "condition"]).assign(label="anger")
    corpus = Corpus("conds", pd.DataFrame(index=["a", "b", "c"]), ratings, ["anger"])
    summary = corpus.summary()
    assert summary["ratings per item by condition"] == {
        "face": {"items": 2, "min": 1, "median": 1.0, "max": 1},
        "voice": {"items": 3, "min": 1, "median": 2.0, "max": 3},
    }
    assert summary["ratings per item"] == {"mean": 8 / 3, "min": 2, "median": 2, "max": 4}
    corpus.save(tmp_path / "conds")
    result = CliRunner().invoke(voxpop.cli.app, ["validate", str(tmp_path / "conds")], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "ratings per item by condition" in result.output and "median 2, max 4" in result.output
    face = next(line for line in result.output.splitlines() if "face" in line and "│" in line and "1 │" in line)
    assert [cell.strip() for cell in face.strip("│ ").split("│")] == ["face", "2", "1", "1", "1"]


def test_cli_validate_reports_summary_and_problems(tmp_path):
    runner = CliRunner()
    _corpus().save(tmp_path / "good")
    result = runner.invoke(voxpop.cli.app, ["validate", str(tmp_path / "good")])
    assert result.exit_code == 0, result.output
    assert "no problems found" in result.output
    assert "anger" in result.output

    bad = tmp_path / "bad"
    _corpus().save(bad)
    ratings = pd.read_parquet(bad / "ratings.parquet").astype({"label": "string"})  # stored coded
    ratings.loc[1, "label"] = "joy"
    ratings.to_parquet(bad / "ratings.parquet", index=False)
    result = runner.invoke(voxpop.cli.app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "1 problem found" in result.output
    assert "label 'joy' is not a class" in result.output


def test_two_labels_on_one_interval_are_not_a_repeat_but_the_same_label_twice_is():
    items = pd.DataFrame(index=["rec"])
    ratings = pd.DataFrame(
        {"item": "rec", "rater": "r1", "label": ["A", "S", "A"], "start": [0.0, 0.0, 2.0], "end": [1.0, 1.0, 3.0]}
    )
    corpus = Corpus("toy", items, ratings, classes=["A", "S"])
    assert len(corpus.ratings) == 3
    with pytest.raises(CorpusError, match=r"an identical repeat\): primary 'A' \(ratings row 1\) vs \(ratings row 4\)"):
        Corpus("toy", items, pd.concat([ratings, ratings.iloc[[0]]], ignore_index=True), classes=["A", "S"])
