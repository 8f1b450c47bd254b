"""MSP-Podcast / MSP-Face importer: exact rows from hand-written fixtures, the METHODS P/S example,
consensus metadata, error messages that name file, line and field, save/load, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from voxpop.cli.app import app
from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.codes import as_text
from voxpop.corpus.corpus import STRING, Corpus, CorpusError
from voxpop.corpus.formats import read
from voxpop.corpus.formats.msp import CLASS_MAP, PRIMARY_CLASSES, read_msp

FIXTURES = Path(__file__).parent / "fixtures"
PS = FIXTURES / "msp_detailed_ps.json"
PODCAST = FIXTURES / "msp_detailed.json"
CONSENSUS = FIXTURES / "msp_consensus.csv"
FACE = FIXTURES / "msp_face_detailed.json"
FACE_CONSENSUS = FIXTURES / "msp_face_consensus.json"


def _line(path: Path, needle: str, after: str | None = None) -> int:
    """1-based number of the first line containing ``needle`` (after the line containing ``after``)."""
    lines = path.read_text().splitlines()
    start = next(i for i, text in enumerate(lines) if after in text) if after else 0
    return next(i for i, text in enumerate(lines) if i >= start and needle in text) + 1


def _write(tmp_path: Path, content: dict, name: str = "labels_detailed.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(content, indent=4))
    return path


def _record(major="Neutral", second="Neutral", act="4", val="4", dom="4") -> dict:
    return {"EmoClass_Major": major, "EmoClass_Second": second, "EmoAct": act, "EmoVal": val, "EmoDom": dom}


# ----------------------------------------------------------------------------- METHODS section 2 example
def test_methods_ps_example_gives_exactly_these_rows():
    corpus = read_msp(PS)
    workers = [f"WORKER0000010{i}" for i in range(1, 5)]
    expected = []
    for worker, primary, secondary, (act, val, dom) in zip(
        workers,
        ["neutral", "neutral", "sad", "neutral"],
        [["neutral", "sad"], ["neutral", "other"], ["sad", "surprise"], ["neutral", "sad", "other"]],
        [(3, 4, 4), (2, 4, 3), (4, 2, 3), (3, 3, 4)],
        strict=True,
    ):
        expected.append((worker, "primary", primary, np.nan))
        expected += [(worker, "secondary", label, np.nan) for label in secondary]
        expected += [
            (worker, "dimension", d, float(v))
            for d, v in zip(("arousal", "valence", "dominance"), (act, val, dom), strict=True)
        ]
    got = as_text(corpus.ratings)[["rater", "slot", "label", "value"]]
    pd.testing.assert_frame_equal(got, pd.DataFrame(expected, columns=got.columns), check_dtype=False)
    assert (corpus.ratings["item"] == "MSP-PODCAST_0001_0008").all()
    assert corpus.classes == list(PRIMARY_CLASSES) and corpus.excluded == ["other"]

    # P = distribution of primary choices; S = pooled secondary lists without the excluded class.
    primary = got.loc[got["slot"].eq("primary"), "label"].value_counts(normalize=True)
    assert primary.to_dict() == {"neutral": 3 / 4, "sad": 1 / 4}
    secondary = got.loc[got["slot"].eq("secondary") & got["label"].ne("other"), "label"].value_counts(normalize=True)
    assert secondary.to_dict() == pytest.approx({"neutral": 3 / 7, "sad": 3 / 7, "surprise": 1 / 7})
    assert (
        "Free-text 'Other-...' secondary labels read as 'other': 2 (Other-Bored 1, Other-Tired 1)."
        in corpus.description
    )


def test_provenance_names_the_json_line_and_field():
    corpus = read_msp(PS)
    r = corpus.ratings
    third = r[r["rater"].eq("WORKER00000103")]
    assert set(third["source_file"]) == {"msp_detailed_ps.json"}
    for field in ("EmoClass_Major", "EmoClass_Second", "EmoAct", "EmoVal", "EmoDom"):
        rows = third[third["source_column"].eq(field)]
        assert set(rows["source_row"]) == {_line(PS, field, after="WORKER00000103")}
    assert list(third["source_column"]) == ["EmoClass_Major", *["EmoClass_Second"] * 2, "EmoAct", "EmoVal", "EmoDom"]


# ----------------------------------------------------------------------------- MSP-Podcast with consensus
def test_podcast_labels_and_consensus_csv():
    corpus = read_msp(PODCAST, CONSENSUS)
    items = corpus.items
    assert list(items.index) == ["MSP-PODCAST_0002_0011", "MSP-PODCAST_0002_0012", "MSP-PODCAST_0003_0001"]
    expected = pd.DataFrame(
        {
            "file": ["MSP-PODCAST_0002_0011.wav", "MSP-PODCAST_0002_0012.wav", "MSP-PODCAST_0003_0001.wav"],
            "speaker": ["127", None, None],
            "gender": ["female", None, None],
            "split": ["Train", "Development", None],
            "consensus_class": ["angry", None, None],
        },
        index=pd.Index(items.index, name="item"),
        dtype=STRING,
    ).assign(
        consensus_arousal=[5.5, 4.5, np.nan],
        consensus_valence=[2.0, 5.5, np.nan],
        consensus_dominance=[5.5, 4.0, np.nan],
    )
    pd.testing.assert_frame_equal(items, expected)

    r = corpus.ratings
    assert r.groupby("slot").size().to_dict() == {"dimension": 17, "primary": 6, "secondary": 10}
    secondary = r[r["slot"].eq("secondary")].groupby(["item", "rater"])["label"].apply(list).to_dict()
    assert secondary == {
        ("MSP-PODCAST_0002_0011", "WORKER00000201"): ["angry", "other"],  # Frustrated, Annoyed -> one 'other'
        ("MSP-PODCAST_0002_0011", "WORKER00000202"): ["contempt", "angry"],
        ("MSP-PODCAST_0002_0012", "WORKER00000201"): ["happy", "other"],  # Amused, Excited -> one 'other'
        ("MSP-PODCAST_0002_0012", "WORKER00000203"): ["other", "happy"],
        ("MSP-PODCAST_0003_0001", "WORKER00000203"): ["fear", "other"],
    }
    primary = r[r["slot"].eq("primary")].set_index(["item", "rater"])["label"]
    assert primary[("MSP-PODCAST_0002_0012", "WORKER00000203")] == "other"  # Other-Sarcastic
    # the blank EmoDom of WORKER00000203 is skipped, not invented
    dims = r[r["slot"].eq("dimension") & r["rater"].eq("WORKER00000203") & r["item"].eq("MSP-PODCAST_0002_0012")]
    assert dims.set_index("label")["value"].to_dict() == {"arousal": 4.0, "valence": 5.0}

    description = corpus.description
    for sentence in (
        "Ratings: 33; raters: 3; items: 3.",
        "Free-text 'Other-...' primary choices read as 'other': 1 (Other-Sarcastic 1).",
        "Secondary labels outside the secondary classes read as 'other': 5 (Frustrated 1, Annoyed 1, Amused 1, "
        "Excited 1, Concerned 1).",
        "Secondary labels repeated within one rater's list, kept once: 2.",
        "Raters who listed no secondary emotion: 1.",
        "Blank EmoAct/EmoVal/EmoDom values skipped: 1.",
        "Rated files without a consensus row: 1.",
        "Rated files whose consensus is X (no agreement; consensus_class empty): 1.",
        "Consensus rows for files without ratings, not imported: 1 (first: MSP-PODCAST_0009_0001.wav).",
    ):
        assert sentence in description


def test_class_map_covers_names_and_codes():
    assert {CLASS_MAP[k] for k in "ASHUFDCN"} == set(PRIMARY_CLASSES)
    assert CLASS_MAP["Surprise"] == CLASS_MAP["U"] == "surprise"
    assert CLASS_MAP["Other"] == CLASS_MAP["O"] == "other"
    path_items = read_msp(PODCAST).items
    assert list(path_items.columns) == ["file"]


def test_single_letter_codes_and_audio_dir(tmp_path):
    path = _write(tmp_path, {"clip.wav": {"W1": _record("U", "U,A"), "W2": _record("c", "")}})
    corpus = read_msp(path, audio_dir=tmp_path / "Audios")
    assert corpus.ratings.loc[corpus.ratings["slot"].ne("dimension"), "label"].tolist() == [
        "surprise",
        "surprise",
        "angry",
        "contempt",
    ]
    assert corpus.items.loc["clip", "audio"] == str(tmp_path / "Audios" / "clip.wav")


# ----------------------------------------------------------------------------- MSP-Face, Workers variant
def test_face_workers_variant_with_json_consensus_and_extended_secondary_classes():
    extended = ["happy", "sad", "neutral", "excited", "concerned"]
    corpus = read_msp(FACE, FACE_CONSENSUS, secondary_classes=extended, name="msp-face")
    assert corpus.classes == [*PRIMARY_CLASSES, "excited", "concerned"]
    assert corpus.class_map["Excited"] == "excited"
    r = corpus.ratings
    secondary = r[r["slot"].eq("secondary")].groupby(["item", "rater"])["label"].apply(list).to_dict()
    assert secondary == {
        ("MSP-FACE_0101_0001", "WORKER0000021"): ["happy", "concerned", "excited"],
        ("MSP-FACE_0101_0001", "WORKER0000022"): ["happy"],
        ("MSP-FACE_0101_0002", "WORKER0000021"): ["neutral"],
        ("MSP-FACE_0101_0002", "WORKER0000023"): ["sad", "other"],  # Disappointed is not in the extended list
    }
    dims = r[r["slot"].eq("dimension") & r["rater"].eq("WORKER0000023")]
    assert dims.set_index("label")["value"].to_dict() == {"arousal": 3.0, "valence": 2.0, "dominance": 3.0}
    assert dims.set_index("label")["source_row"].to_dict() == {
        name: _line(FACE, field, after="WORKER0000023")
        for name, field in (("arousal", "EmoAct"), ("valence", "EmoVal"), ("dominance", "EmoDom"))
    }
    items = corpus.items
    assert items.loc["MSP-FACE_0101_0001", "consensus_class"] == "happy"
    assert pd.isna(items.loc["MSP-FACE_0101_0002", "consensus_class"])
    assert items["split"].tolist() == ["Train", "Test"]
    assert items["consensus_valence"].tolist() == [5.5, 3.0]
    assert "Secondary labels outside the secondary classes read as 'other': 1 (Disappointed 1)." in corpus.description


def test_default_convention_maps_face_extras_to_other():
    corpus = read_msp(FACE)
    assert corpus.classes == list(PRIMARY_CLASSES)
    labels = corpus.ratings.loc[corpus.ratings["slot"].eq("secondary"), "label"].tolist()
    assert labels == ["happy", "other", "happy", "neutral", "sad", "other"]  # Concerned+Excited -> one 'other'


# ----------------------------------------------------------------------------- storage, registry, CLI
def test_save_load_round_trip(tmp_path):
    corpus = read_msp(PODCAST, CONSENSUS)
    corpus.save(tmp_path / "c")
    loaded = Corpus.load(tmp_path / "c")
    pd.testing.assert_frame_equal(loaded.items, corpus.items)
    pd.testing.assert_frame_equal(loaded.ratings, corpus.ratings)
    assert (loaded.classes, loaded.excluded, loaded.scales) == (corpus.classes, corpus.excluded, corpus.scales)
    assert loaded.description == corpus.description


def test_registry_reads_msp():
    assert len(read("msp", PS).ratings) == len(read_msp(PS).ratings) == 25


def test_cli_import_msp(tmp_path):
    out = tmp_path / "msp"
    result = CliRunner().invoke(
        app, ["import", "msp", str(PODCAST), "--consensus", str(CONSENSUS), "--out", str(out), "--name", "pod"]
    )
    assert result.exit_code == 0, result.output
    loaded = Corpus.load(out)
    direct = read_msp(PODCAST, CONSENSUS, name="pod")
    pd.testing.assert_frame_equal(loaded.ratings, direct.ratings)
    pd.testing.assert_frame_equal(loaded.items, direct.items)
    assert "Rated files without a consensus row: 1." in " ".join(result.output.split())


def test_cli_secondary_classes_option(tmp_path):
    out = tmp_path / "face"
    args = ["import", "msp", str(FACE), "--secondary-classes", "excited,concerned", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert Corpus.load(out).classes == [*PRIMARY_CLASSES, "excited", "concerned"]


# ----------------------------------------------------------------------------- malformed input
def test_missing_field_names_file_line_and_field(tmp_path):
    record = _record()
    del record["EmoAct"]
    path = _write(tmp_path, {"a.wav": {"W1": _record(), "W2": record}})
    with pytest.raises(
        InputError, match=r"labels_detailed\.json, line 10: rater 'W2' on 'a\.wav' lacks field\(s\) EmoAct"
    ):
        read_msp(path)


def test_unknown_primary_label_names_line_and_field(tmp_path):
    path = _write(tmp_path, {"a.wav": {"W1": _record(), "W2": _record(major="Bored")}})
    line = _line(path, "Bored")
    with pytest.raises(
        InputError, match=rf"labels_detailed\.json, line {line}, field 'EmoClass_Major': rater 'W2'.*'Bored'"
    ):
        read_msp(path)


def test_non_numeric_dimension_names_line_and_field(tmp_path):
    path = _write(tmp_path, {"a.wav": {"W1": _record(val="high")}})
    line = _line(path, "high")
    with pytest.raises(
        InputError, match=rf"line {line}, field 'EmoVal': .*gave 'high'; expected a number on the 1\.\.7"
    ):
        read_msp(path)


def test_dimension_outside_scale_is_named_by_corpus_validation(tmp_path):
    path = _write(tmp_path, {"a.wav": {"W1": _record(dom="9")}})
    line = _line(path, '"EmoDom": "9"')
    with pytest.raises(
        CorpusError, match=rf"labels_detailed\.json, line {line}, field 'EmoDom' .*outside the declared scale 1\.\.7"
    ):
        read_msp(path)


def test_repeated_worker_key_is_a_duplicate_rating(tmp_path):
    path = tmp_path / "dup.json"
    path.write_text('{\n"a.wav": {\n"W1": ' + json.dumps(_record()) + ',\n"W1": ' + json.dumps(_record()) + "\n}\n}\n")
    with pytest.raises(
        InputError,
        match=r"dup\.json, line 4, field 'EmoClass_Major' \(item 'a'\): rater 'W1' judged item 'a' more than once "
        r"\(an identical repeat\): primary 'neutral' \(dup\.json, line 3, field 'EmoClass_Major'\) vs 'neutral' "
        r"\(dup\.json, line 4, field 'EmoClass_Major'\)",
    ):
        read_msp(path)


def test_workers_variant_needs_a_name(tmp_path):
    path = _write(tmp_path, {"a.mp4": {"Workers": [{**_record()}]}})
    with pytest.raises(InputError, match=r"labels_detailed\.json, line 4, field 'Name': a record in 'Workers'"):
        read_msp(path)


def test_invalid_and_empty_json(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "a.wav": {\n    "W1": {"EmoClass_Major": "Sad",}\n  }\n}\n')
    with pytest.raises(InputError, match=r"broken\.json, line 3, character \d+: not valid JSON"):
        read_msp(broken)
    empty = tmp_path / "empty.json"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty\.json: the file is empty"):
        read_msp(empty)
    with pytest.raises(InputError, match=r"none\.json: lists no files"):
        read_msp(_write(tmp_path, {}, "none.json"))
    with pytest.raises(InputError, match="labels file not found"):
        read_msp(tmp_path / "absent.json")


def test_consensus_errors_name_file_row_and_column(tmp_path):
    header = "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
    missing = tmp_path / "no_class.csv"
    missing.write_text("FileName,EmoAct\nMSP-PODCAST_0002_0011.wav,3\n")
    with pytest.raises(InputError, match=r"no_class\.csv: missing column 'EmoClass'"):
        read_msp(PODCAST, missing)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text(
        header + "MSP-PODCAST_0002_0011.wav,A,3,3,3,1,Male,Train\nMSP-PODCAST_0002_0012.wav,Z,3,3,3,1,Male,Train\n"
    )
    with pytest.raises(InputError, match=r"unknown\.csv, row 2, column 'EmoClass': consensus class 'Z'"):
        read_msp(PODCAST, unknown)
    text = tmp_path / "text.csv"
    text.write_text(header + "MSP-PODCAST_0002_0011.wav,A,calm,3,3,1,Male,Train\n")
    with pytest.raises(InputError, match=r"text\.csv, row 1, column 'EmoAct': expected a number, found 'calm'"):
        read_msp(PODCAST, text)
    twice = tmp_path / "twice.csv"
    twice.write_text(header + "MSP-PODCAST_0002_0011.wav,A,3,3,3,1,Male,Train\n" * 2)
    with pytest.raises(InputError, match=r"twice\.csv, row 2, column 'FileName': .* appears more than once"):
        read_msp(PODCAST, twice)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty\.csv: the consensus file is empty"):
        read_msp(PODCAST, empty)


def test_consensus_json_error_names_the_line(tmp_path):
    content = json.loads(FACE_CONSENSUS.read_text())
    content["MSP-FACE_0101_0002.mp4"][0]["EmoAct"] = "n/a"
    path = _write(tmp_path, content, "labels_concensus.json")
    line = _line(path, '"MSP-FACE_0101_0002.mp4"')
    with pytest.raises(InputError, match=rf"labels_concensus\.json, line {line}, field 'EmoAct': expected a number"):
        read_msp(FACE, path)


def test_invalid_secondary_classes():
    with pytest.raises(ConfigError, match="secondary_classes"):
        read_msp(PS, secondary_classes=["Frustrated"])


def test_files_without_raters_are_items_without_ratings(tmp_path):
    path = _write(tmp_path, {"a.wav": {"W1": _record()}, "b.wav": {}, "c.mp4": {"Workers": []}})
    corpus = read_msp(path)
    assert list(corpus.items.index) == ["a", "b", "c"]
    assert set(corpus.ratings["item"]) == {"a"}
    assert "Files without any rater record (items without ratings): 2." in corpus.description


# ----------------------------------------------------------------------------- labels_detailed.csv (issue 10 item 3)
DETAILED_CSV = """FileName,EmoDetail
a.wav,"W1; Neutral; Neutral,Sad; A:3.0; V:4.0; D:3.0;"
a.wav,"W2; Other-Tired; ; A:2; V:2; D:;"
b.wav,"W1; Angry; Angry,Frustrated; A:6.0; V:2.0; D:6.0;"
"""
DETAILED_JSON = {
    "a.wav": {
        "W1": _record("Neutral", "Neutral,Sad", "3.0", "4.0", "3.0"),
        "W2": _record("Other-Tired", "", "2", "2", ""),
    },
    "b.wav": {"W1": _record("Angry", "Angry,Frustrated", "6.0", "2.0", "6.0")},
}
EXPECTED_CSV_ROWS = [
    ("a", "W1", "primary", "neutral", np.nan, 1),
    ("a", "W1", "secondary", "neutral", np.nan, 1),
    ("a", "W1", "secondary", "sad", np.nan, 1),
    ("a", "W1", "dimension", "arousal", 3.0, 1),
    ("a", "W1", "dimension", "valence", 4.0, 1),
    ("a", "W1", "dimension", "dominance", 3.0, 1),
    ("a", "W2", "primary", "other", np.nan, 2),
    ("a", "W2", "dimension", "arousal", 2.0, 2),
    ("a", "W2", "dimension", "valence", 2.0, 2),
    ("b", "W1", "primary", "angry", np.nan, 3),
    ("b", "W1", "secondary", "angry", np.nan, 3),
    ("b", "W1", "secondary", "other", np.nan, 3),  # Frustrated is not a primary class
    ("b", "W1", "dimension", "arousal", 6.0, 3),
    ("b", "W1", "dimension", "valence", 2.0, 3),
    ("b", "W1", "dimension", "dominance", 6.0, 3),
]
COLUMNS = ["item", "rater", "slot", "label", "value"]


def _csv(tmp_path: Path, text: str = DETAILED_CSV, name: str = "labels_detailed.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_labels_detailed_csv_gives_exactly_the_ratings_of_the_json(tmp_path):
    corpus = read_msp(_csv(tmp_path))
    expected = pd.DataFrame(EXPECTED_CSV_ROWS, columns=[*COLUMNS, "source_row"])
    got = as_text(corpus.ratings)[[*COLUMNS, "source_row"]]
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert set(corpus.ratings["source_column"]) == {"EmoDetail"}
    assert set(corpus.ratings["source_file"]) == {"labels_detailed.csv"}
    assert corpus.scales == {"dimension": (1.0, 7.0)}
    from_json = read_msp(_write(tmp_path, DETAILED_JSON))
    pd.testing.assert_frame_equal(from_json.ratings[COLUMNS], corpus.ratings[COLUMNS])
    for note in (
        "Ratings: 15; raters: 2; items: 2.",
        "Free-text 'Other-...' primary choices read as 'other': 1 (Other-Tired 1).",
        "Raters who listed no secondary emotion: 1.",
        "Blank EmoAct/EmoVal/EmoDom values skipped: 1.",
    ):
        assert note in corpus.description


@pytest.mark.parametrize(
    ("detail", "message"),
    [
        ("W1", r"row 1, column 'EmoDetail': expected 'WORKER; Primary; Secondary,List; A:x; V:y; D:z;'.*found 'W1'"),
        ("W1; Neutral; ; X:3;", r"row 1, column 'EmoDetail': 'X:3' is not a dimension part; expected A:x"),
        (
            "W1; Bored; ; A:3;",
            r"row 1, column 'EmoDetail' \(EmoClass_Major part\): rater 'W1' on 'a\.wav' chose 'Bored'",
        ),
        (
            "W1; Sad; ; A:high;",
            r"row 1, column 'EmoDetail' \(EmoAct part\): rater 'W1' .*gave 'high'; expected a number",
        ),
    ],
)
def test_malformed_emo_detail_names_file_row_and_part(tmp_path, detail, message):
    with pytest.raises(InputError, match=r"labels_detailed\.csv, " + message):
        read_msp(_csv(tmp_path, f'FileName,EmoDetail\na.wav,"{detail}"\n'))


def test_csv_without_emo_detail_column(tmp_path):
    with pytest.raises(InputError, match=r"labels_detailed\.csv: missing column 'EmoDetail'.*FileName,EmoDetail"):
        read_msp(_csv(tmp_path, "FileName,EmoClass\na.wav,N\n"))


REPEATED = """FileName,EmoDetail
a.wav,"W1; Neutral; Neutral,Sad; A:3.0; V:4.0; D:3.0;"
a.wav,"W2; Sad; Sad; A:2; V:2; D:2;"
a.wav,"W1; Happy; Happy; A:5.0; V:6.0; D:5.0;"
"""


def _w1_on_a(corpus: Corpus) -> dict:
    r = corpus.ratings
    r = r[r["item"].eq("a") & r["rater"].eq("W1")]
    return {(slot, label): value for slot, label, value in r[["slot", "label", "value"]].itertuples(index=False)}


def test_worker_rating_a_file_twice_is_a_conflicting_repeat_with_both_rows(tmp_path):
    with pytest.raises(InputError) as info:
        read_msp(_csv(tmp_path, REPEATED))
    message = str(info.value)
    assert "identical" not in message
    assert message.startswith(
        "labels_detailed.csv, row 3, column 'EmoDetail' (item 'a'): rater 'W1' judged item 'a' more than once "
        "(a conflicting repeat) at labels_detailed.csv, row 1, column 'EmoDetail' and labels_detailed.csv, row 3, "
        "column 'EmoDetail': primary 'neutral' vs 'happy'; dimension 'arousal' 3 vs 5; dimension 'valence' 4 vs 6; "
        "dimension 'dominance' 3 vs 5."
    )
    assert "choose what to keep with duplicates='first', last, drop or mean" in message


def test_duplicates_policies_on_a_repeated_worker(tmp_path):
    path = _csv(tmp_path, REPEATED)
    first = read_msp(path, duplicates="first")
    assert _w1_on_a(first) == {
        ("primary", "neutral"): pytest.approx(np.nan, nan_ok=True),
        ("secondary", "neutral"): pytest.approx(np.nan, nan_ok=True),
        ("secondary", "sad"): pytest.approx(np.nan, nan_ok=True),
        ("dimension", "arousal"): 3.0,
        ("dimension", "valence"): 4.0,
        ("dimension", "dominance"): 3.0,
    }
    # 'last' keeps the whole later record: its secondary list is not merged with the earlier one
    last = _w1_on_a(read_msp(path, duplicates="last"))
    assert sorted(last) == [
        ("dimension", "arousal"),
        ("dimension", "dominance"),
        ("dimension", "valence"),
        ("primary", "happy"),
        ("secondary", "happy"),
    ]
    assert (last[("dimension", "arousal")], last[("dimension", "valence")]) == (5.0, 6.0)
    dropped = read_msp(path, duplicates="drop")
    assert _w1_on_a(dropped) == {} and len(dropped.ratings) == 5  # W2's five ratings remain
    assert (
        "Repeated judgements (one rater judging one item more than once): 1 rater-item pair; duplicates='drop': "
        "every judgement of those raters on those items dropped; 11 ratings removed."
    ) in dropped.description
    assert "5 ratings removed." in first.description  # the later record: primary, 1 secondary, 3 dimensions
    with pytest.raises(InputError, match="duplicates='mean' averages numeric answers only"):
        read_msp(path, duplicates="mean")
    with pytest.raises(ConfigError, match="duplicates='average'"):
        read_msp(path, duplicates="average")


def test_mean_averages_dimensions_when_the_categorical_answers_agree(tmp_path):
    agreeing = REPEATED.replace(
        "W1; Happy; Happy; A:5.0; V:6.0; D:5.0;", "W1; Neutral; Sad,Neutral; A:4.0; V:5.0; D:3.0;"
    )
    corpus = read_msp(_csv(tmp_path, agreeing), duplicates="mean")
    w1 = _w1_on_a(corpus)
    assert sorted(w1) == [
        ("dimension", "arousal"),
        ("dimension", "dominance"),
        ("dimension", "valence"),
        ("primary", "neutral"),
        ("secondary", "neutral"),
        ("secondary", "sad"),
    ]
    assert (w1[("dimension", "arousal")], w1[("dimension", "valence")], w1[("dimension", "dominance")]) == (
        3.5,  # (3 + 4) / 2
        4.5,  # (4 + 5) / 2
        3.0,
    )
    # a different secondary list is a categorical difference: refused
    different = agreeing.replace("Sad,Neutral; A:4.0", "Neutral; A:4.0")
    with pytest.raises(InputError, match="differ in their categorical answers"):
        read_msp(_csv(tmp_path, different), duplicates="mean")


def test_cli_imports_the_csv_release_with_a_duplicates_policy(tmp_path):
    out = tmp_path / "c"
    result = CliRunner().invoke(
        app, ["import", "msp", str(_csv(tmp_path, REPEATED)), "--duplicates", "last", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert _w1_on_a(Corpus.load(out))[("dimension", "arousal")] == 5.0


FIELD_CASE = Path(__file__).resolve().parents[2] / "shared" / "field-cases" / "07-msp-labels-detailed-csv"


def test_field_case_csv_release_matches_its_json_conversion():
    if not FIELD_CASE.is_dir():
        pytest.skip(f"field case folder {FIELD_CASE} is absent")
    consensus = FIELD_CASE / "labels_consensus.csv"
    with pytest.raises(InputError, match=r"rater 'WORKER00000104' judged item 'MSP-PODCAST_0001_0011' .*conflicting"):
        read_msp(FIELD_CASE / "labels_detailed.csv", consensus)
    for policy in ("first", "last", "drop"):
        csv = read_msp(FIELD_CASE / "labels_detailed.csv", consensus, duplicates=policy)
        json_ = read_msp(FIELD_CASE / "labels_detailed.json", consensus, duplicates=policy)
        pd.testing.assert_frame_equal(csv.ratings[COLUMNS], json_.ratings[COLUMNS])
    assert csv.ratings["rater"].nunique() == 3  # drop: worker 104 rated only the repeated file
