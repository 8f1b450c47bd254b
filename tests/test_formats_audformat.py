"""The audformat importer on an EmoDB-like database built with audformat itself (tests/audformat_builder.py)."""

from __future__ import annotations

import os
import pickle

import pandas as pd
import pytest
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from audformat_builder import AROUSAL_GOLD, CONFIDENCE, EMOTIONS, FILES, GOLD, build_emodb_like
from voxpop.cli.app import app
from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.corpus import Corpus
from voxpop.corpus.formats import IMPORTERS, check_arguments, read
from voxpop.corpus.formats.audformat_db import read_audformat

SEGMENTS = (f"{FILES[3]}:0-0.5", f"{FILES[3]}:0.5-1")


@pytest.fixture
def emodb(tmp_path):
    return build_emodb_like(tmp_path / "emodb")


@pytest.mark.parametrize("storage_format", ["csv", "parquet"])
def test_items_ratings_classes_and_raters_are_the_hand_counted_ones(tmp_path, storage_format):
    root = build_emodb_like(tmp_path / "db", storage_format)
    corpus = read_audformat(root)
    assert corpus.name == "emodb-like"
    assert sorted(corpus.items.index) == sorted([*FILES, *SEGMENTS])
    assert corpus.classes == list(EMOTIONS)  # the scheme's order
    r = corpus.ratings
    assert len(r) == 14
    primary = r[r["slot"] == "primary"]
    assert primary.groupby("rater").size().to_dict() == {"r1": 4, "r2": 3, "r3": 4}
    assert primary.set_index(["item", "rater"])["label"].to_dict() == {
        (FILES[0], "r1"): "anger", (FILES[1], "r1"): "neutral", (FILES[2], "r1"): "happiness",
        (FILES[3], "r1"): "boredom", (FILES[0], "r2"): "anger", (FILES[1], "r2"): "anger",
        (FILES[3], "r2"): "boredom", (FILES[0], "r3"): "anger", (FILES[1], "r3"): "neutral",
        (FILES[2], "r3"): "happiness", (FILES[3], "r3"): "neutral",
    }  # fmt: skip
    arousal = r[r["slot"] == "arousal"]
    assert arousal.set_index(["item", "rater"])["value"].to_dict() == {
        (SEGMENTS[0], "r1"): 2.0, (SEGMENTS[1], "r1"): 4.5, (SEGMENTS[0], "r2"): 3.0
    }  # fmt: skip
    assert set(arousal["label"]) == {"arousal"}
    assert corpus.scales == {"arousal": (1.0, 5.0)}
    assert set(r["rater"]) == {"r1", "r2", "r3"}  # the vote rater 'gold' is no rater
    # provenance: the table file, its 1-based data row and the column
    first = primary[(primary["item"] == FILES[2]) & (primary["rater"] == "r3")].iloc[0]
    assert (first["source_file"], first["source_row"], first["source_column"]) == (
        f"db.emotion.{storage_format}",
        3,
        "r3",
    )


def test_gold_standard_confidence_and_metadata_are_item_columns(emodb):
    items = read_audformat(emodb).items
    assert items.loc[list(FILES[:3]), "consensus_class"].tolist() == GOLD[:3]
    assert pd.isna(items.loc[FILES[3], "consensus_class"])
    assert items.loc[list(FILES), "emotion.confidence"].tolist()[:3] == CONFIDENCE[:3]
    assert pd.isna(items.loc[FILES[3], "emotion.confidence"])
    assert items.loc[list(SEGMENTS), "consensus_arousal"].tolist() == AROUSAL_GOLD  # table id holds gold_standard
    assert items.loc[list(FILES), "speaker"].tolist() == ["03", "03", "08", "08"]
    assert items.loc[list(FILES), "gender"].tolist() == ["male", "male", "female", "female"]  # the scheme's mapping
    assert items.loc[list(FILES), "age"].tolist() == [31, 31, 34, 34]
    assert items.loc[FILES[2], "transcription"] == "a02"


def test_media_resolve_against_the_root_and_segments_are_windows(emodb):
    items = read_audformat(emodb).items
    for item in FILES:
        assert items.loc[item, "audio"] == os.path.join(os.path.abspath(emodb), item)
        assert pd.isna(items.loc[item, "offset"])  # the whole file
    assert items.loc[list(SEGMENTS), "audio"].tolist() == [os.path.join(os.path.abspath(emodb), FILES[3])] * 2
    assert items.loc[list(SEGMENTS), ["start", "end", "offset", "duration"]].to_numpy().tolist() == [
        [0.0, 0.5, 0.0, 0.5],
        [0.5, 1.0, 0.5, 0.5],
    ]
    assert (items.loc[list(SEGMENTS), "file"] == FILES[3]).all()


def test_report_counts_every_column_kind_and_the_empty_cells(emodb):
    report = read_audformat(emodb).description
    assert "Tables: 2 filewise, 2 segmented" in report
    assert "Rating columns (human raters): 5" in report
    assert "Gold-standard columns (item columns consensus_*): 2" in report
    assert "Confidence columns (item columns): 1 (emotion.emotion.confidence)" in report
    assert "Other columns kept as item columns: 2 (files.speaker, files.transcription)" in report
    assert "Empty rating cells (no rating): 2." in report  # r2 on the third file, r2 on the second segment


def test_missing_media_are_counted_not_dropped(emodb):
    os.remove(emodb / FILES[0])
    corpus = read_audformat(emodb)
    assert FILES[0] in corpus.items.index
    assert f"Media files not found under the root: 1 (first: {os.path.abspath(emodb / FILES[0])})" in corpus.description


def test_save_load_round_trip(emodb, tmp_path):
    corpus = read_audformat(emodb)
    again = Corpus.load(corpus.save(tmp_path / "c"))
    assert again.classes == corpus.classes and again.scales == corpus.scales
    assert again.items.loc[FILES[0], "audio"] == corpus.items.loc[FILES[0], "audio"]
    assert len(again.ratings) == 14


def test_cli_import_and_labels_consensus_compare_the_gold_standard(emodb, tmp_path):
    """Majority rule against the database's gold standard: files 1-3 agree (anger 3/3, neutral 2/3, happiness 2/2);
    file 4 has boredom 2/3 but no gold label (the rule keeps what the consensus drops); segments have no emotion."""
    out = tmp_path / "corpus"
    result = CliRunner().invoke(app, ["import", "audformat", str(emodb), "--out", str(out)])
    assert result.exit_code == 0, result.output
    labels = tmp_path / "mr.parquet"
    result = CliRunner().invoke(
        app, ["labels", str(out), "--rule", "mr", "--consensus", "consensus_class", "--out", str(labels)]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "mr.consensus.csv", index_col="item", keep_default_na=False)
    assert table.loc[list(FILES), "rule"].tolist() == ["anger", "neutral", "happiness", "boredom"]
    assert table.loc[list(FILES), "outcome"].tolist() == [
        "same class", "same class", "same class", "rule keeps, consensus drops"
    ]  # fmt: skip


def test_a_pickle_beside_a_table_is_never_opened(emodb, tmp_path):
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    (emodb / "db.emotion.pkl").write_bytes(pickle.dumps(Payload()))  # newer than the CSV: audformat would load it
    corpus = read_audformat(emodb)
    assert not marker.exists()
    assert len(corpus.ratings) == 14
    os.remove(emodb / "db.emotion.csv")
    with pytest.raises(InputError, match=r"db\.emotion\.pkl: voxpop does not read pickle files .* db\.emotion\.csv"):
        read_audformat(emodb)
    assert not marker.exists()


def test_a_header_with_a_python_tag_is_refused_without_running_it(emodb, tmp_path):
    marker = tmp_path / "constructed"
    header = emodb / "db.yaml"
    header.write_text(header.read_text() + f"extra: !!python/object/apply:os.mkdir ['{marker}']\n")
    with pytest.raises(InputError, match=r"db\.yaml: not valid YAML"):
        read_audformat(emodb)
    assert not marker.exists()


def test_no_header_names_the_folder(tmp_path):
    with pytest.raises(InputError, match=rf"{tmp_path}: no audformat header db\.yaml here"):
        read_audformat(tmp_path)


def test_a_column_naming_a_missing_scheme_names_file_table_and_column(emodb):
    header = emodb / "db.yaml"
    header.write_text(header.read_text().replace("r2: {scheme_id: emotion", "r2: {scheme_id: emotions"))
    with pytest.raises(
        InputError, match=r"db\.yaml, table 'emotion', column 'r2': scheme 'emotions' is not defined under 'schemes'"
    ):
        read_audformat(emodb)


def test_an_unknown_rater_type_is_refused(emodb):
    header = emodb / "db.yaml"
    header.write_text(header.read_text().replace("r3: {type: human}", "r3: {type: robot}"))
    with pytest.raises(InputError, match=r"db\.yaml, raters\.r3\.type: 'robot' is not an audformat rater type"):
        read_audformat(emodb)


def test_a_label_outside_the_scheme_names_file_row_and_column(emodb):
    table = emodb / "db.emotion.csv"
    table.write_text(table.read_text().replace("wav/08a02Wb.wav,happiness", "wav/08a02Wb.wav,joy"))
    message = r"db\.emotion\.csv, row 3, column 'r1': 'joy' is not a label of scheme 'emotion'"
    with pytest.raises(InputError, match=message):
        read_audformat(emodb)


def test_emotion_scheme_must_be_categorical(emodb):
    with pytest.raises(ConfigError, match=r"emotion_scheme='arousal': not a categorical scheme .* emotion"):
        read_audformat(emodb, emotion_scheme="arousal")


def test_registered_for_recipes_and_listed_in_import_help(emodb):
    assert "audformat" in IMPORTERS
    check_arguments("audformat", {"path": str(emodb), "emotion_scheme": "emotion", "allow_outside_paths": False})
    with pytest.raises(ConfigError, match="arguments.tables: unknown argument of importer 'audformat'"):
        check_arguments("audformat", {"path": str(emodb), "tables": ["emotion"]})
    assert len(read("audformat", emodb).ratings) == 14
    result = CliRunner().invoke(app, ["import", "--help"])
    assert "audformat" in result.output


def _second_database(root, files=("x/1.wav", "x/2.wav", "x/3.wav")):
    """No scheme named emotion: 'mood' (rated by human rater a, gold by a 'ground truth' rater) in a train and a test
    table (splits), an ordinal int scheme 'level' 1..3, and a segment of x/1.wav from 0.25 s to the end of the file
    rated on 'valence', a numeric scheme without minimum and maximum."""
    import audformat

    db = audformat.Database("second")
    db.schemes["mood"] = audformat.Scheme(labels=["sad", "calm", "glad"])
    db.schemes["level"] = audformat.Scheme("int", labels=[1, 2, 3])
    db.schemes["valence"] = audformat.Scheme("float")
    db.raters["a"] = audformat.Rater()
    db.raters["truth"] = audformat.Rater(type="ground truth")
    db.splits["train"] = audformat.Split("train")
    db.splits["test"] = audformat.Split("test")
    tables = {
        "train": (files[:2], ["sad", "glad"], [1, 3], ["sad", "calm"]),
        "test": (files[2:], ["calm"], [2], [None]),
    }
    for table, (names, mood, level, truth) in tables.items():
        db[table] = audformat.Table(audformat.filewise_index(list(names)), split_id=table)
        for column, scheme, rater, values in (
            ("mood", "mood", "a", mood), ("level", "level", "a", level), ("mood.truth", "mood", "truth", truth)
        ):  # fmt: skip
            db[table][column] = audformat.Column(scheme_id=scheme, rater_id=rater)
            db[table][column].set(values)
    db["seg"] = audformat.Table(audformat.segmented_index([files[0]], starts=[0.25], ends=[None]))
    db["seg"]["valence"] = audformat.Column(scheme_id="valence", rater_id="a")
    db["seg"]["valence"].set([0.3])
    db.save(str(root), storage_format="csv")
    return root


def test_truth_raters_splits_ordinal_labels_and_open_segments(tmp_path):
    corpus = read_audformat(_second_database(tmp_path / "db"))
    assert corpus.classes == ["sad", "calm", "glad"]  # the only rated categorical scheme
    items = corpus.items
    assert items.loc[["x/1.wav", "x/2.wav", "x/3.wav"], "split"].tolist() == ["train", "train", "test"]
    assert items.loc[["x/1.wav", "x/2.wav"], "consensus_class"].tolist() == ["sad", "calm"]  # rater 'ground truth'
    assert items.loc["x/1.wav:0.25-end", ["start", "offset"]].tolist() == [0.25, 0.25]
    assert pd.isna(items.loc["x/1.wav:0.25-end", "end"]) and pd.isna(items.loc["x/1.wav:0.25-end", "duration"])
    level = corpus.ratings[corpus.ratings["slot"] == "level"].set_index("item")["label"].to_dict()
    assert level == {"x/1.wav": "1", "x/2.wav": "3", "x/3.wav": "2"}
    assert corpus.slots["level"].order == ("1", "2", "3")
    assert corpus.slots["level"].values == {"1": 1.0, "2": 2.0, "3": 3.0}
    assert corpus.scales == {}
    assert "Numeric scheme 'valence' has no minimum and maximum: no scale is declared." in corpus.description
    assert "Media files not found under the root: 3 " in corpus.description  # x/1.wav counted once


def test_a_media_path_leaving_the_root_is_refused_unless_allowed(tmp_path):
    root = _second_database(tmp_path / "db", files=("../elsewhere/1.wav", "x/2.wav", "x/3.wav"))
    with pytest.raises(InputError, match=r"db\.yaml, row 1, column 'file': the audio path '\.\./elsewhere/1\.wav'"):
        read_audformat(root)
    corpus = read_audformat(root, allow_outside_paths=True)
    assert corpus.items.loc["../elsewhere/1.wav", "audio"] == str(tmp_path / "elsewhere" / "1.wav")


def test_one_rater_in_two_columns_of_one_scheme_is_a_repeat_naming_both_columns(emodb):
    header = emodb / "db.yaml"
    header.write_text(header.read_text().replace("rater_id: r2}", "rater_id: r1}"))
    message = (
        r"db\.emotion\.csv, row 2, column 'r2' \(item 'wav/03a01Nc\.wav'\): rater 'r1' judged item 'wav/03a01Nc\.wav' "
        r"more than once \(a conflicting repeat\): primary 'neutral' \(db\.emotion\.csv, row 2, column 'r1'\) vs "
        r"'anger' \(db\.emotion\.csv, row 2, column 'r2'\)"
    )
    with pytest.raises(InputError, match=message):
        read_audformat(emodb)


def test_two_rated_categorical_schemes_need_the_emotion_scheme_named(tmp_path):
    import audformat

    db = audformat.Database("two-schemes")
    db.schemes["mood"] = audformat.Scheme(labels=["low", "high"])
    db.schemes["tone"] = audformat.Scheme(labels=["calm", "tense"])
    db.raters["r"] = audformat.Rater()
    db["t"] = audformat.Table(audformat.filewise_index(["1.wav", "2.wav"]))
    for scheme, values in (("mood", ["high", "low"]), ("tone", ["tense", None])):
        db["t"][scheme] = audformat.Column(scheme_id=scheme, rater_id="r")
        db["t"][scheme].set(values)
    db.save(str(tmp_path), storage_format="csv")
    with pytest.raises(ConfigError, match=r"db\.yaml: cannot tell which scheme holds the emotion; rated categorical "
                       r"schemes: mood, tone .* emotion_scheme=\.\.\. \(--emotion-scheme\)"):  # fmt: skip
        read_audformat(tmp_path)
    corpus = read_audformat(tmp_path, emotion_scheme="tone")
    assert corpus.classes == ["calm", "tense"]
    assert corpus.ratings[["item", "slot", "label"]].values.tolist() == [
        ["1.wav", "mood", "high"], ["2.wav", "mood", "low"], ["1.wav", "primary", "tense"]
    ]  # fmt: skip
    assert corpus.slots["mood"].order == ("low", "high") and corpus.slots["mood"].values is None


def test_a_table_id_holding_a_path_separator_is_refused(emodb):
    header = emodb / "db.yaml"
    header.write_text(header.read_text().replace("\n  files:\n", "\n  ../files:\n"))
    with pytest.raises(InputError, match=r"db\.yaml, table '\.\./files': a table id names the file"):
        read_audformat(emodb)


def test_an_emotion_scheme_coded_as_integers_with_labels_is_categorical(tmp_path):
    """``Scheme("int", labels={0: "neutral", ...})`` is how many audformat databases code classes: it was refused as
    "no categorical scheme, only numeric ones (emotion)"; its codes are the classes, a missing cell no rating."""
    import audformat

    db = audformat.Database("coded", source="voxpop tests", usage="research")
    db.schemes["emotion"] = audformat.Scheme("int", labels={0: "neutral", 1: "anger", 2: "happiness"})
    db.raters["r1"] = audformat.Rater()
    db["emotion"] = audformat.Table(audformat.filewise_index(["a.wav", "b.wav", "c.wav"]))
    db["emotion"]["r1"] = audformat.Column(scheme_id="emotion", rater_id="r1")
    db["emotion"]["r1"].set([2, None, 0])
    db.raters["gold"] = audformat.Rater(type="vote")
    db["emotion"]["emotion"] = audformat.Column(scheme_id="emotion", rater_id="gold")
    db["emotion"]["emotion"].set([2, 1, None])
    db.save(str(tmp_path / "db"))
    corpus = read_audformat(tmp_path / "db")
    assert corpus.classes == ["0", "1", "2"]
    assert corpus.ratings.set_index("item")["label"].to_dict() == {"a.wav": "2", "c.wav": "0"}
    gold = corpus.items["consensus_class"]
    assert gold.tolist()[:2] == ["2", "1"] and pd.isna(gold.iat[2])
