"""Likert importers: the generic reader, the Earkick preset (real file through ``shared_data``) and CMU-MOSEI.

``fixtures/mosei_batch_results.csv`` has the column layout of CMU-MOSEI's raw Mechanical Turk results
(HIT / assignment columns, ``Input.VIDEO_ID``, ``Input.CLIP``, ``WorkerId``, ``Answer.*``); ids and
answers are invented.
"""

from __future__ import annotations

import csv
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import voxpop.cli
from voxpop import Corpus
from voxpop.agreement.tables import agreement_table
from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.codes import as_text
from voxpop.corpus.corpus import CorpusError
from voxpop.corpus.formats import get_importer
from voxpop.corpus.formats.likert import Scale, earkick_origin, read_earkick, read_likert, read_mosei

FIXTURES = Path(__file__).parent / "fixtures"
MOSEI = FIXTURES / "mosei_batch_results.csv"
EMOTIONS = ["happy", "sad", "anger", "surprise", "disgust", "fear"]
TABLE = """clip,annotator,joy,anger,gender,sentiment,notes
/data/x/c1.m4a,r1,None,2,Male,+1,
/data/x/c1.m4a,r2,A little,Extremely,Male,-2,two voices
/data/x/c2.m4a,r1,3,None,Female,0,music
/data/x/c2.m4a,r2,Moderate,0,Female,3,music
/data/x/c3.m4a,r1,None,None,Female,-1,
"""
OPTIONS = {
    "item_column": "clip",
    "rater_column": "annotator",
    "emotion_columns": ["joy", "anger"],
    "attribute_columns": ["gender"],
    "numeric_columns": {"sentiment": Scale(-3, 3)},
    "metadata_columns": ["notes"],
    "flag_columns": ["notes"],
    "item_from_path": True,
}


def _table(tmp_path: Path, text: str = TABLE, name: str = "ratings.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _round_trip(corpus: Corpus, directory: Path) -> None:
    corpus.save(directory)
    loaded = Corpus.load(directory)
    pd.testing.assert_frame_equal(corpus.items, loaded.items)
    pd.testing.assert_frame_equal(corpus.ratings, loaded.ratings)
    assert loaded.slots == corpus.slots


# ----------------------------------------------------------------------------- generic reader
def test_each_emotion_cell_is_one_intensity_rating(tmp_path):
    corpus = read_likert(_table(tmp_path), **OPTIONS)
    assert corpus.classes == ["joy", "anger"]
    assert corpus.scales == {"intensity": (0.0, 3.0), "sentiment": (-3.0, 3.0)}
    intensity = as_text(corpus.ratings[corpus.ratings["slot"] == "intensity"])
    values = intensity.pivot_table(index=["item", "rater"], columns="label", values="value")
    assert values.loc[("c1", "r1")].tolist() == [2.0, 0.0]  # columns sorted: anger, joy
    assert values["joy"].tolist() == [0.0, 1.0, 3.0, 2.0, 0.0]
    assert values["anger"].tolist() == [2.0, 3.0, 0.0, 0.0, 0.0]
    sentiment = corpus.ratings[corpus.ratings["slot"] == "sentiment"]
    assert sentiment["value"].tolist() == [1.0, -2.0, 0.0, 3.0, -1.0]
    assert sentiment["label"].eq("sentiment").all()
    gender = corpus.ratings[corpus.ratings["slot"] == "gender"]
    assert gender["label"].tolist() == ["Male", "Male", "Female", "Female", "Female"]
    assert gender["value"].isna().all()
    first = corpus.ratings.iloc[1]
    assert (first["source_file"], first["source_row"], first["source_column"]) == ("ratings.csv", 1, "anger")


def test_notes_become_item_metadata_and_flags(tmp_path):
    corpus = read_likert(_table(tmp_path), **OPTIONS)
    items = corpus.items
    assert list(items.index) == ["c1", "c2", "c3"]
    assert items.at["c1", "notes"] == "two voices"
    assert items.at["c2", "notes"] == "music"
    assert pd.isna(items.at["c3", "notes"])
    assert items["flagged"].tolist() == [True, True, False]
    assert items["corpus"].eq("likert").all()
    _round_trip(corpus, tmp_path / "corpus")


def test_joined_item_columns_rename_and_custom_levels(tmp_path):
    text = "video,seg,who,Answer.joy\nv1,0,a,low\nv1,0,b,high\nv1,1,a,low\n"
    corpus = read_likert(
        _table(tmp_path, text),
        item_column=["video", "seg"],
        rater_column="who",
        emotion_columns=["Answer.joy"],
        levels={"low": 0, "high": 4},
        rename={"Answer.joy": "happy"},
    )
    assert list(corpus.items.index) == ["v1_0", "v1_1"]
    assert corpus.classes == ["happy"]
    assert corpus.scales["intensity"] == (0.0, 4.0)
    assert corpus.ratings["value"].tolist() == [0.0, 4.0, 0.0]


def test_non_numeric_value_names_row_column_and_levels(tmp_path):
    path = _table(tmp_path, TABLE.replace("A little,Extremely", "A little,Very much"))
    with pytest.raises(InputError) as info:
        read_likert(path, **OPTIONS)
    message = str(info.value)
    assert message.startswith("ratings.csv, row 2, column 'anger': expected a number 0..3 or one of 'None' (0), ")
    assert "'A little' (1), 'Moderate' (2), 'Extremely' (3), found 'Very much'." in message


def test_empty_cell_is_an_error_unless_allowed_then_counted(tmp_path):
    path = _table(tmp_path, TABLE.replace("/data/x/c2.m4a,r1,3,None", "/data/x/c2.m4a,r1,,None"))
    with pytest.raises(InputError, match=r"row 3, column 'joy': expected .*, found an empty cell. Pass allow_missing"):
        read_likert(path, **OPTIONS)
    corpus = read_likert(path, **OPTIONS, allow_missing=True)
    assert (corpus.ratings["slot"] == "intensity").sum() == 9
    assert "1 empty answer cells skipped (joy: 1)." in corpus.description
    path = _table(tmp_path, TABLE.replace(",Male,+1", ",,+1"))
    with pytest.raises(InputError, match=r"row 1, column 'gender': empty; .* Pass allow_missing"):
        read_likert(path, **OPTIONS)


def test_value_outside_the_scale_is_located(tmp_path):
    path = _table(tmp_path, TABLE.replace("/data/x/c2.m4a,r1,3,", "/data/x/c2.m4a,r1,5,"))
    with pytest.raises(CorpusError, match=r"ratings.csv, row 3, column 'joy' \(item 'c2'\): value 5 is outside"):
        read_likert(path, **OPTIONS)


def test_repeated_rater_row_is_refused_with_both_values_or_resolved_by_the_policy(tmp_path):
    # row 5: c3, r1, joy None (0), anger None; row 6 repeats c3 / r1 with joy 2, the rest the same
    path = _table(tmp_path, TABLE + "/data/x/c3.m4a,r1,2,None,Female,-1,\n")
    with pytest.raises(InputError) as info:
        read_likert(path, **OPTIONS)
    assert str(info.value).startswith(
        "ratings.csv, row 6, column 'joy' (item 'c3'): rater 'r1' judged item 'c3' more than once "
        "(a conflicting repeat): intensity 'joy' 0 (ratings.csv, row 5, column 'joy') vs 2 (ratings.csv, row 6, "
        "column 'joy')."
    )

    def c3(policy: str) -> dict:
        r = read_likert(path, **OPTIONS, duplicates=policy).ratings
        r = r[r["item"].eq("c3")]
        return {(slot, label): value for slot, label, value in r[["slot", "label", "value"]].itertuples(index=False)}

    assert c3("first")[("intensity", "joy")] == 0.0 and c3("last")[("intensity", "joy")] == 2.0
    mean = c3("mean")
    assert mean[("intensity", "joy")] == 1.0 and mean[("intensity", "anger")] == 0.0
    assert mean[("sentiment", "sentiment")] == -1.0 and ("gender", "Female") in mean
    assert len(mean) == 4  # joy, anger, gender, sentiment once each
    assert c3("drop") == {}
    corpus = read_likert(path, **OPTIONS, duplicates="last")
    assert (
        "Repeated judgements (one rater judging one item more than once): 1 rater-item pair; duplicates='last': "
        "the last judgement of each pair kept (whole source records); 4 ratings removed."
    ) in corpus.description
    # categorical answers that differ cannot be averaged
    path = _table(tmp_path, TABLE + "/data/x/c3.m4a,r1,2,None,Male,-1,\n")
    with pytest.raises(InputError, match=r"gender 'Female' .* vs 'Male' .*duplicates='mean' averages numeric"):
        read_likert(path, **OPTIONS, duplicates="mean")


def test_missing_column_empty_file_and_bad_layout(tmp_path):
    with pytest.raises(InputError, match=r"ratings.csv: missing column 'anger'"):
        read_likert(_table(tmp_path, TABLE.replace(",anger,", ",angry,")), **OPTIONS)
    with pytest.raises(InputError, match=r"ratings.csv: the .* file is empty"):
        read_likert(_table(tmp_path, ""), **OPTIONS)
    with pytest.raises(ConfigError, match="reserved for emotions"):
        read_likert(_table(tmp_path), **{**OPTIONS, "attribute_columns": ["gender"], "rename": {"gender": "primary"}})
    with pytest.raises(ConfigError, match="needs its bounds"):
        read_likert(_table(tmp_path), **OPTIONS, levels={})


# ----------------------------------------------------------------------------- Earkick (real file)
@pytest.fixture(scope="module")
def earkick(shared_data) -> tuple[Corpus, list[dict[str, str]]]:
    path = shared_data / "earkick-reannotation" / "assessment.csv"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return read_earkick(path), rows


def test_earkick_keeps_every_clip_rater_and_emotion(earkick):
    corpus, rows = earkick
    intensity = corpus.ratings[corpus.ratings["slot"] == "intensity"]
    assert len(rows) == 1044
    assert len(intensity) == 6264
    assert len(corpus.items) == 348
    assert corpus.ratings["rater"].nunique() == 3
    assert corpus.classes == EMOTIONS
    assert intensity.groupby(["item", "rater"]).size().eq(6).all()
    for emotion in EMOTIONS:
        values = intensity.loc[intensity["label"] == emotion, "value"]
        for level, number in (("None", 0), ("A little", 1), ("Moderate", 2), ("Extremely", 3)):
            assert (values == number).sum() == sum(row[emotion] == level for row in rows), (emotion, level)


def test_earkick_attributes_notes_and_origin(earkick, tmp_path):
    corpus, rows = earkick
    slots = corpus.ratings["slot"].value_counts().to_dict()
    assert slots == {"intensity": 6264, "gender": 1044, "age": 1044, "mood": 1044, "sentiment": 1044, "anxiety": 1044}
    anxiety = corpus.ratings.loc[corpus.ratings["slot"] == "anxiety", "value"]
    assert (anxiety == 0).sum() == sum(row["anxiety"] in ("0", "0 - None") for row in rows)
    assert (anxiety == 9).sum() == sum(row["anxiety"] == "9 - Most" for row in rows)
    sentiment = corpus.ratings.loc[corpus.ratings["slot"] == "sentiment", "value"]
    assert sentiment.sum() == sum(int(row["sentiment"]) for row in rows)
    noted = {Path(row["audio"]).stem for row in rows if row["notes"].strip()}
    assert set(corpus.items.index[corpus.items["flagged"]]) == noted
    assert corpus.items.at["8404_8", "source"] == "cmu-mosei"
    origin = corpus.items["source"]
    assert (origin == "crema-d").sum() == sum(s.endswith("_cremad") for s in corpus.items.index)
    assert (origin == "ravdess").sum() == sum(s.endswith("_ravdess") for s in corpus.items.index)
    assert set(origin) == {"crema-d", "ravdess", "aff-wild2", "cmu-mosei"}
    assert corpus.items["acted"].tolist() == origin.isin(["crema-d", "ravdess"]).tolist()
    _round_trip(corpus, tmp_path / "corpus")
    assert get_importer("earkick") is read_earkick


# every naming pattern of the clips in the Earkick release, expected source written by hand
EARKICK_NAMES = {
    "1001_ANG_XX_TSI_cremad": "crema-d",
    "1107_FEA_MD_DOG_01_ravdess": "ravdess",
    "381_1": "aff-wild2",  # 1-3 digit Aff-Wild2 video, Earkick segment 1
    "12": "aff-wild2",
    "video22_2": "aff-wild2",  # videoNN
    "video5": "aff-wild2",
    "video59_right_3": "aff-wild2",  # the right-hand face of a two-face video
    "115-30-1280x720_5": "aff-wild2",  # <n>-<fps>-<w>x<h>
    "5-60-1920x1080-3_10": "aff-wild2",  # with the -<k> suffix
    "46-30-484x360_left_2": "aff-wild2",
    "135-24-1920x1080_right": "aff-wild2",
    "8404_8": "cmu-mosei",  # 4-6 digit CMU-MOSEI video ids
    "266396_60": "cmu-mosei",
    "-egA8-b7-3M_14": "cmu-mosei",  # YouTube ids
    "BLFUj7_uy_0_9": "cmu-mosei",
    "videoclip1_2": "cmu-mosei",  # not videoNN
    "115-30-1280_5": "cmu-mosei",  # no <w>x<h>
}


def test_earkick_origin_of_each_naming_pattern():
    got = earkick_origin(pd.Index(list(EARKICK_NAMES)))
    assert dict(zip(EARKICK_NAMES, got, strict=True)) == EARKICK_NAMES
    assert pd.Series(got).value_counts().to_dict() == {"aff-wild2": 9, "cmu-mosei": 6, "crema-d": 1, "ravdess": 1}


def test_earkick_sources_and_ordered_slots_on_the_real_table(earkick):
    corpus, rows = earkick
    # counted by hand on the 348 clip names: 19 short numeric, 10 videoNN and 4 <n>-<fps>-<w>x<h> Aff-Wild2
    # clips (before this rule 14 of them were counted as CMU-MOSEI)
    assert corpus.items["source"].value_counts().to_dict() == {
        "cmu-mosei": 228, "aff-wild2": 19 + 10 + 4, "crema-d": 75, "ravdess": 12
    }  # fmt: skip
    assert corpus.items.loc[corpus.items.index.str.startswith("video"), "source"].eq("aff-wild2").all()
    # age groups in their order: ordinal alpha equals the krippendorff package's on the same codes
    order = ["teens", "20s", "30s", "40s", "50s", "60s", "70s", "80s", "90s"]
    assert corpus.slots["age"].order == tuple(order) and corpus.slots["age"].values is None
    assert corpus.slots["mood"].order == ("Awful", "Bad", "Meh", "Good", "Great")
    clips = list(dict.fromkeys(Path(row["audio"]).stem for row in rows))
    raters = sorted({row["annotator"] for row in rows})
    codes = np.full((len(raters), len(clips)), np.nan)
    for row in rows:
        codes[raters.index(row["annotator"]), clips.index(Path(row["audio"]).stem)] = order.index(row["age"])
    expected = krippendorff.alpha(codes, value_domain=range(len(order)), level_of_measurement="ordinal")
    table = agreement_table(corpus, slot="age", level="ordinal")
    assert table["value"].iloc[0] == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ConfigError, match="interval alpha on slot 'age' needs a number per label; pass --values"):
        agreement_table(corpus, slot="age", level="interval")


# ----------------------------------------------------------------------------- CMU-MOSEI raw ratings
def test_mosei_raw_ratings(tmp_path):
    corpus = read_mosei(MOSEI)
    assert list(corpus.items.index) == ["-3g5yACwYnA_5", "pX_mVnHx8TM_12", "224631_3"]
    assert corpus.items["video"].tolist() == ["-3g5yACwYnA", "pX_mVnHx8TM", "224631"]
    assert corpus.classes == EMOTIONS
    intensity = corpus.ratings[corpus.ratings["slot"] == "intensity"]
    assert len(intensity) == 9 * 6
    sums = intensity.groupby(["item", "label"])["value"].sum()
    assert sums[("-3g5yACwYnA_5", "sad")] == 2 + 3 + 1
    assert sums[("224631_3", "anger")] == 2 + 3 + 1
    assert sums[("pX_mVnHx8TM_12", "happy")] == 3 + 2 + 2
    sentiment = corpus.ratings[corpus.ratings["slot"] == "sentiment"]
    assert sentiment.groupby("item", sort=False)["value"].sum().tolist() == [-4.0, 6.0, -6.0]
    assert corpus.scales["sentiment"] == (-3.0, 3.0)
    assert corpus.ratings["rater"].nunique() == 4
    _round_trip(corpus, tmp_path / "corpus")
    assert get_importer("mosei") is read_mosei


def test_mosei_without_sentiment_and_with_a_bad_answer(tmp_path):
    table = pd.read_csv(MOSEI, dtype=str).drop(columns="Answer.sentiment")
    table.to_csv(tmp_path / "batch.csv", index=False)
    corpus = read_mosei(tmp_path / "batch.csv")
    assert set(corpus.ratings["slot"]) == {"intensity"}
    table.loc[4, "Answer.fear"] = "n/a"
    table.to_csv(tmp_path / "batch.csv", index=False)
    with pytest.raises(
        InputError, match=r"batch.csv, row 5, column 'Answer.fear': expected a number 0..3, found 'n/a'"
    ):
        read_mosei(tmp_path / "batch.csv")


# ----------------------------------------------------------------------------- CLI
def test_cli_likert_and_mosei(tmp_path):
    runner = CliRunner()
    out = tmp_path / "likert"
    args = ["import", "likert", str(_table(tmp_path)), "--out", str(out), "--item", "clip", "--rater", "annotator"]
    args += ["--emotion", "joy", "--emotion", "anger", "--attribute", "gender", "--numeric", "sentiment=-3:3"]
    args += ["--metadata", "notes", "--flag", "notes", "--item-from-path"]
    result = runner.invoke(voxpop.cli.app, args)
    assert result.exit_code == 0, result.output
    expected = read_likert(_table(tmp_path), **OPTIONS)
    loaded = Corpus.load(out)
    pd.testing.assert_frame_equal(loaded.ratings, expected.ratings)
    pd.testing.assert_frame_equal(loaded.items, expected.items)
    result = runner.invoke(voxpop.cli.app, [*args[:2], str(_table(tmp_path)), "--out", str(out), "--item", "clip"])
    assert result.exit_code != 0
    result = runner.invoke(voxpop.cli.app, [*args, "--level", "None"])
    assert isinstance(result.exception, ConfigError)
    assert "expected NAME=VALUE" in str(result.exception)
    result = runner.invoke(voxpop.cli.app, ["import", "mosei", str(MOSEI), "--out", str(tmp_path / "mosei")])
    assert result.exit_code == 0, result.output
    assert len(Corpus.load(tmp_path / "mosei").items) == 3


def test_cli_earkick(shared_data, tmp_path):
    path = shared_data / "earkick-reannotation" / "assessment.csv"
    result = CliRunner().invoke(voxpop.cli.app, ["import", "earkick", str(path), "--out", str(tmp_path / "ek")])
    assert result.exit_code == 0, result.output
    assert len(Corpus.load(tmp_path / "ek").items) == 348


def test_mosei_worker_with_two_rows_for_one_clip(tmp_path):
    lines = MOSEI.read_text().splitlines()
    repeat = lines[1].replace('"0","0","1","0","2","-1","0"', '"0","0","1","0","3","-1","0"')  # sadness 2 -> 3
    path = _table(tmp_path, "\n".join([*lines, repeat]) + "\n", "batch.csv")
    with pytest.raises(InputError, match=r"rater 'A1EXAMPLEWORKR1' judged item '-3g5yACwYnA_5' .*intensity 'sad' 2"):
        read_mosei(path)
    r = read_mosei(path, duplicates="mean").ratings
    sad = r[r["item"].eq("-3g5yACwYnA_5") & r["rater"].eq("A1EXAMPLEWORKR1") & r["label"].eq("sad")]
    assert sad["value"].tolist() == [2.5]
    result = CliRunner().invoke(
        voxpop.cli.app, ["import", "mosei", str(path), "--duplicates", "first", "--out", str(tmp_path / "c")]
    )
    assert result.exit_code == 0, result.output
