"""IEMOCAP importer: exact rows and items from hand-written EmoEvaluation files, the release folder
layout, error messages naming file, line and field, save/load and the CLI."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from docs_inputs import IEMOCAP_HEADER as HEADER
from docs_inputs import iemocap_release
from voxpop.cli.app import app
from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.codes import as_text
from voxpop.corpus.corpus import STRING, Corpus, CorpusError
from voxpop.corpus.formats.iemocap import CLASS_MAP, CLASSES, read_iemocap

FIXTURES = Path(__file__).parent / "fixtures"
SES01 = FIXTURES / "iemocap_Ses01F_impro01.txt"
SES02 = FIXTURES / "iemocap_Ses02M_script01_1.txt"
BLOCK = "[1.0000 - 2.5000]\tSes01F_impro02_F000\tneu\t[2.0000, 2.0000, 2.0000]\n"


@pytest.fixture()
def release(tmp_path) -> Path:
    """A miniature release: two sessions, plus files the reader must not take for evaluations."""
    for session, fixture, dialog in ((1, SES01, "Ses01F_impro01"), (2, SES02, "Ses02M_script01_1")):
        folder = tmp_path / f"Session{session}" / "dialog" / "EmoEvaluation"
        (folder / "Categorical").mkdir(parents=True)
        shutil.copy(fixture, folder / f"{dialog}.txt")
        (folder / "Categorical" / f"{dialog}_e2_cat.txt").write_text(f"{dialog}_F000 :Neutral state; ()\n")
    (tmp_path / "Session1" / "dialog" / "EmoEvaluation" / "._Ses01F_impro01.txt").write_bytes(b"\x00\x05\x16\x07")
    return tmp_path


def _write(tmp_path: Path, body: str, name: str = "Ses01F_impro02.txt") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + BLOCK + body)
    return path


def test_first_utterance_gives_exactly_these_rows():
    corpus = read_iemocap([SES01, SES02], self_evaluations="include")
    r = corpus.ratings
    first = r[r["item"].eq("Ses01F_impro01_F000")]
    expected = pd.DataFrame(
        [
            ("E2", "primary", "neutral", np.nan, 4, "C-E2"),
            ("E2", "secondary", "neutral", np.nan, 4, "C-E2"),
            ("E3", "primary", "neutral", np.nan, 5, "C-E3"),
            ("E3", "secondary", "neutral", np.nan, 5, "C-E3"),
            ("E3", "secondary", "frustration", np.nan, 5, "C-E3"),
            ("Ses01-F1", "primary", "neutral", np.nan, 6, "C-F1"),
            ("Ses01-F1", "secondary", "neutral", np.nan, 6, "C-F1"),
            ("E2", "dimension", "valence", 3.0, 7, "A-E2"),
            ("E2", "dimension", "arousal", 2.0, 7, "A-E2"),
            ("E2", "dimension", "dominance", 3.0, 7, "A-E2"),
            ("E3", "dimension", "valence", 2.0, 8, "A-E3"),
            ("E3", "dimension", "arousal", 2.0, 8, "A-E3"),
            ("E3", "dimension", "dominance", 2.0, 8, "A-E3"),
            ("Ses01-F1", "dimension", "valence", 3.0, 9, "A-F1"),
            ("Ses01-F1", "dimension", "arousal", 3.0, 9, "A-F1"),
            ("Ses01-F1", "dimension", "dominance", 3.0, 9, "A-F1"),
        ],
        columns=["rater", "slot", "label", "value", "source_row", "source_column"],
    )
    got = as_text(first)[expected.columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert set(first["source_file"]) == {SES01.name}


def test_counts_labels_and_raters():
    corpus = read_iemocap([SES01, SES02], self_evaluations="include")
    r = corpus.ratings
    # 12 categorical lines -> 12 primary; 16 listed labels -> secondary; 10 dimensional lines x 3 values
    assert r.groupby("slot").size().to_dict() == {"dimension": 30, "primary": 12, "secondary": 16}
    assert sorted(r["rater"].unique()) == ["E1", "E2", "E3", "E4", "Ses01-F1", "Ses02-M1"]
    m001 = r[r["item"].eq("Ses01F_impro01_M001") & r["slot"].ne("dimension")]
    assert m001.groupby(["rater", "slot"])["label"].apply(list).to_dict() == {
        ("E1", "primary"): ["frustration"],
        ("E1", "secondary"): ["frustration", "anger"],
        ("E2", "primary"): ["frustration"],
        ("E2", "secondary"): ["frustration"],
        ("E3", "primary"): ["anger"],
        ("E3", "secondary"): ["anger", "other"],  # Other:impatient
    }
    f002 = r[r["item"].eq("Ses01F_impro01_F002") & r["slot"].eq("primary")]
    assert f002["label"].tolist() == ["happiness", "excitement", "neutral"]  # 'Excited' -> excitement
    assert corpus.classes == list(CLASSES) and corpus.excluded == ["other"]
    assert corpus.scales == {"dimension": (1.0, 5.0)}
    assert CLASS_MAP["exc"] == CLASS_MAP["Excited"] == "excitement"
    assert "Free-text 'Other:...' labels read as 'other': 1 (Other:impatient 1)." in corpus.description
    assert "Utterances without consensus (xxx; consensus_class empty): 1." in corpus.description


def test_items_from_headers():
    items = read_iemocap([SES01, SES02]).items
    ids = ["Ses01F_impro01_F000", "Ses01F_impro01_M001", "Ses01F_impro01_F002", "Ses02M_script01_1_M000"]
    expected = pd.DataFrame(
        {
            "start": [3.12, 7.05, 11.2, 0.81],
            "end": [5.88, 10.4125, 12.005, 2.94],
            "duration": [5.88 - 3.12, 10.4125 - 7.05, 12.005 - 11.2, 2.94 - 0.81],
            "session": pd.array(["Ses01", "Ses01", "Ses01", "Ses02"], dtype=STRING),
            "dialog": pd.array(["Ses01F_impro01"] * 3 + ["Ses02M_script01_1"], dtype=STRING),
            "dialog_type": pd.array(["improvised"] * 3 + ["scripted"], dtype=STRING),
            "speaker": pd.array(["Ses01F", "Ses01M", "Ses01F", "Ses02M"], dtype=STRING),
            "gender": pd.array(["female", "male", "female", "male"], dtype=STRING),
            "consensus_class": pd.array(["neutral", "frustration", None, "sadness"], dtype=STRING),
            "consensus_valence": [2.5, 2.0, 3.0, 1.5],
            "consensus_arousal": [2.0, 3.5, 3.0, 2.0],
            "consensus_dominance": [2.5, 3.5, 3.0, 2.5],
            "audio": pd.array([None] * 4, dtype=STRING),
        },
        index=pd.Index(ids, dtype=STRING, name="item"),
    )
    pd.testing.assert_frame_equal(items, expected)


def test_a_dialog_neither_improvised_nor_scripted_has_no_dialog_type_and_is_counted(tmp_path):
    block = BLOCK.replace("Ses01F_impro02_F000", "Ses01F_other01_F000") + "C-E2:\tNeutral;\t()\n"
    corpus = read_iemocap(_write(tmp_path, HEADER + block, "Ses01F_other01.txt"))
    assert pd.isna(corpus.items.loc["Ses01F_other01_F000", "dialog_type"])
    assert "Utterances of dialogs named neither impro... nor script... (dialog_type empty): 1." in corpus.description


def test_release_folder_is_searched_and_other_files_ignored(release):
    (release / ".DS_Store").write_bytes(b"\x00\x00")
    macosx = release / "__MACOSX" / "Session1" / "dialog" / "EmoEvaluation"
    macosx.mkdir(parents=True)
    (macosx / "._Ses01F_impro01.txt").write_bytes(b"\x00\x05\x16\x07")
    corpus = read_iemocap(release, self_evaluations="include")
    assert len(corpus.items) == 4 and len(corpus.ratings) == 58
    assert corpus.items.loc["Ses01F_impro01_M001", "audio"] == str(
        release / "Session1" / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_M001.wav"
    )
    # only *.txt files are listed: the ._ file in EmoEvaluation and the one under __MACOSX/
    assert f"Operating-system files skipped in {release}: 2 (macOS '._' resource forks 1, __MACOSX folders 1)." in (
        corpus.description
    )
    assert "Imported from 2 IEMOCAP EmoEvaluation files." in corpus.description


def test_save_load_round_trip(release, tmp_path):
    corpus = read_iemocap(release)
    corpus.save(tmp_path / "c")
    loaded = Corpus.load(tmp_path / "c")
    pd.testing.assert_frame_equal(loaded.items, corpus.items)
    pd.testing.assert_frame_equal(loaded.ratings, corpus.ratings)


def test_cli_import_iemocap(release, tmp_path):
    out = tmp_path / "iemocap"
    result = CliRunner().invoke(app, ["import", "iemocap", str(release), "--out", str(out)])
    assert result.exit_code == 0, result.output
    loaded = Corpus.load(out)
    pd.testing.assert_frame_equal(loaded.ratings, read_iemocap(release).ratings)
    result = CliRunner().invoke(app, ["import", "iemocap", str(SES01), str(SES02), "--out", str(tmp_path / "two")])
    assert result.exit_code == 0, result.output
    assert len(Corpus.load(tmp_path / "two").items) == 4


# ----------------------------------------------------------------------------- malformed input
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("C-E2:\tBored;\t()\n", r"Ses01F_impro02\.txt, line 4, field 'C-E2': 'Bored' is not an IEMOCAP emotion"),
        ("C-E2:\t;\t()\n", r"line 4, field 'C-E2': no emotion listed"),
        ("A-E3:\tval x; act 2; dom 2;\t()\n", r"line 4, field 'A-E3 val': expected a number, found 'x'"),
        ("A-E3:\tvalence 3;\t()\n", r"line 4, field 'A-E3': 'valence 3' is not a dimensional rating"),
        ("C-E2:\tNeutral;\t()\nE2 said neutral\n", r"line 5: expected an utterance header .* found 'E2 said neutral'"),
    ],
)
def test_malformed_lines_name_file_line_and_field(tmp_path, body, message):
    with pytest.raises(InputError, match=message):
        read_iemocap(_write(tmp_path, body))


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            "[abc - 2.5]\tSes01F_impro02_F000\tneu\t[2, 2, 2]",
            r"line 3, field 'START_TIME': expected a number, found 'abc'",
        ),
        ("[2.5 - 1.0]\tSes01F_impro02_F000\tneu\t[2, 2, 2]", r"line 3, field 'END_TIME': .* found \[2\.5 - 1\.0\]"),
        ("[1.0 - 2.5]\tSes01F_impro02_F000\tneu\t[2, 2]", r"line 3, field '\[V, A, D\]': expected three averages"),
        ("[1.0 - 2.5]\tSes01F_impro02_F000\tjoy\t[2, 2, 2]", r"line 3, field 'EMOTION': consensus code 'joy'"),
        ("[1.0 - 2.5]\tutterance7\tneu\t[2, 2, 2]", r"line 3, field 'TURN_NAME': utterance id 'utterance7'"),
        ("[1.0 - 2.5]\tSes01F_impro02_F000\tneu", r"line 3: expected an utterance header"),
    ],
)
def test_malformed_headers_name_line_and_field(tmp_path, header, message):
    path = tmp_path / "Ses01F_impro02.txt"
    path.write_text(HEADER + header + "\nC-E2:\tNeutral;\t()\n")
    with pytest.raises(InputError, match=message):
        read_iemocap(path)


def test_evaluator_line_before_any_header(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text(HEADER + "C-E2:\tNeutral;\t()\n")
    with pytest.raises(InputError, match=r"x\.txt, line 3, field 'C-E2': evaluator line before any utterance header"):
        read_iemocap(path)


def test_repeated_evaluator_line_is_a_duplicate_rating(tmp_path):
    path = _write(tmp_path, "C-E2:\tNeutral;\t()\nC-E2:\tAnger;\t()\n")
    with pytest.raises(CorpusError) as info:
        read_iemocap(path)
    assert (
        "Ses01F_impro02.txt, line 5, field 'C-E2' (item 'Ses01F_impro02_F000'): rater 'E2' judged item "
        "'Ses01F_impro02_F000' more than once (a conflicting repeat): primary 'neutral' (Ses01F_impro02.txt, line 4, "
        "field 'C-E2') vs 'anger' (Ses01F_impro02.txt, line 5, field 'C-E2')"
    ) in str(info.value)


def test_dimension_outside_the_scale(tmp_path):
    path = _write(tmp_path, "A-E3:\tval 7; act 2; dom 2;\t()\n")
    with pytest.raises(CorpusError, match=r"line 4, field 'A-E3' .*value 7 is outside the declared scale 1\.\.5"):
        read_iemocap(path)


def test_blank_dimension_is_skipped_and_counted(tmp_path):
    corpus = read_iemocap(_write(tmp_path, "C-E2:\tNeutral;\t()\nA-E3:\tval 3; act 2; dom ;\t()\n"))
    dims = corpus.ratings[corpus.ratings["slot"].eq("dimension")]
    assert dims["label"].tolist() == ["valence", "arousal"]
    assert "Blank val/act/dom values skipped: 1." in corpus.description


def test_empty_file_missing_path_and_folder_without_evaluations(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty\.txt: no utterance header found"):
        read_iemocap(empty)
    with pytest.raises(InputError, match="not found"):
        read_iemocap(tmp_path / "absent.txt")
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputError, match=r"no EmoEvaluation/\*\.txt files below this folder"):
        read_iemocap(tmp_path / "folder")


def test_same_utterance_in_two_files(tmp_path):
    first = _write(tmp_path, "C-E2:\tNeutral;\t()\n", "a.txt")
    second = _write(tmp_path, "C-E3:\tNeutral;\t()\n", "b.txt")
    with pytest.raises(InputError, match=r"b\.txt: utterance 'Ses01F_impro02_F000' is also in a\.txt"):
        read_iemocap([first, second])


# ----------------------------------------------------------------------------- self-evaluations (issue 10 item 2)
SELF_RATED = (
    "[25.1000 - 27.5000]\tSes01F_impro03_F003\tang\t[1.5000, 4.0000, 4.0000]\n"
    "C-E2:\tAnger;\t()\n"
    "C-E3:\tAnger;\t()\n"
    "C-E4:\tFrustration;\t()\n"
    "C-F1:\tFrustration;\t(I was annoyed)\n"
    "A-E3:\tval 1; act 4; dom  4;\t()\n"
    "A-F1:\tval 2; act 3; dom  3;\t()\n"
)


def _self_rated(tmp_path: Path, newline: str = "\n") -> Path:
    path = tmp_path / "Ses01F_impro03.txt"
    path.write_bytes((HEADER + SELF_RATED).replace("\n", newline).encode())
    return path


def test_self_evaluations_are_not_raters_by_default_and_counted(tmp_path):
    corpus = read_iemocap(_self_rated(tmp_path))
    r = corpus.ratings
    primary = r[r["slot"].eq("primary")]
    # the evaluators alone: 2 of 3 said anger (the released consensus 'ang'), the actor's own 'Frustration' is out
    assert primary["rater"].tolist() == ["E2", "E3", "E4"]
    assert primary["label"].astype(str).value_counts().to_dict() == {"anger": 2, "frustration": 1}
    assert r.loc[r["slot"].eq("dimension"), "rater"].unique().tolist() == ["E3"]
    assert len(r) == 3 + 3 + 3  # 3 primary, 3 secondary, 3 dimension values
    assert (
        "Self-evaluation lines (C-F1, A-M1 ...: actors rating themselves) set aside, not raters: 2."
        in corpus.description
    )


def test_self_evaluations_include_and_only(tmp_path):
    included = read_iemocap(_self_rated(tmp_path), self_evaluations="include").ratings
    primary = included[included["slot"].eq("primary")]
    assert primary["rater"].tolist() == ["E2", "E3", "E4", "Ses01-F1"]
    assert len(included) == 4 + 4 + 6
    only = read_iemocap(_self_rated(tmp_path), self_evaluations="only")
    assert only.ratings["rater"].unique().tolist() == ["Ses01-F1"]
    expected = pd.DataFrame(
        {
            "slot": ["primary", "secondary", "dimension", "dimension", "dimension"],
            "label": ["frustration", "frustration", "valence", "arousal", "dominance"],
            "value": [np.nan, np.nan, 2.0, 3.0, 3.0],
        }
    )
    pd.testing.assert_frame_equal(as_text(only.ratings)[["slot", "label", "value"]], expected, check_dtype=False)
    assert "Evaluator lines set aside (self_evaluations='only'): 4." in only.description
    with pytest.raises(ConfigError, match="self_evaluations='some'; expected one of exclude, include, only"):
        read_iemocap(_self_rated(tmp_path), self_evaluations="some")


def test_cli_self_evaluations_option(tmp_path):
    out = tmp_path / "c"
    result = CliRunner().invoke(
        app, ["import", "iemocap", str(_self_rated(tmp_path)), "--self-evaluations", "include", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Ses01-F1" in set(Corpus.load(out).ratings["rater"])


def test_crlf_file_gives_the_same_ratings(tmp_path):
    lf = read_iemocap(_self_rated(tmp_path))
    (tmp_path / "crlf").mkdir()
    crlf = read_iemocap(_self_rated(tmp_path / "crlf", "\r\n"))
    pd.testing.assert_frame_equal(crlf.ratings, lf.ratings)
    pd.testing.assert_frame_equal(crlf.items, lf.items)


def test_categorical_subfolder_file_given_directly_is_a_clear_error(tmp_path):
    path = tmp_path / "Ses01F_impro01_e2_cat.txt"
    path.write_text("Ses01F_impro01_F000 :Neutral state; ()\nSes01F_impro01_F001 :Frustration; ()\n")
    with pytest.raises(InputError) as info:
        read_iemocap(path)
    message = str(info.value)
    assert message.startswith("Ses01F_impro01_e2_cat.txt, line 1: 'Ses01F_impro01_F000 :Neutral state; ()' is a line")
    assert "EmoEvaluation/Categorical" in message and "import that file or the release folder" in message


FIELD_CASE = Path(__file__).resolve().parents[2] / "shared" / "field-cases" / "09-iemocap-emoevaluation-quirks"


def test_field_case_release_folder_self_evaluation_and_crlf(tmp_path):
    if not FIELD_CASE.is_dir():
        pytest.skip(f"field case folder {FIELD_CASE} is absent")
    corpus = read_iemocap(FIELD_CASE / "IEMOCAP")
    primary = corpus.ratings[corpus.ratings["slot"].eq("primary")]
    f003 = primary[primary["item"].str.endswith("F003")]
    assert f003["label"].astype(str).value_counts().to_dict() == {"anger": 2, "frustration": 1}  # C-F1 set aside
    assert sorted(corpus.ratings["rater"].unique()) == ["E1", "E2", "E3", "E4"]
    assert "set aside, not raters: 3." in corpus.description  # C-F1 twice, A-F1 once
    assert "(macOS '._' resource forks 1)" in corpus.description  # the Categorical/ file is not read
    text = (FIELD_CASE / "IEMOCAP" / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt").read_text()
    crlf = tmp_path / "Ses01F_impro01.txt"
    crlf.write_bytes(text.replace("\n", "\r\n").encode())
    pd.testing.assert_frame_equal(read_iemocap(crlf).ratings, read_iemocap(FIELD_CASE / "IEMOCAP").ratings)


# ----------------------------------------------------------------------------- the 4-class protocol of the docs page
DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli" / "import.md"


def _documented_commands() -> list[list[str]]:
    """The commands of the 4-class block of docs/cli/import.md, continuation lines joined, split as a shell would."""
    text = DOCS.read_text().split("<!-- iemocap-4-class -->", 1)[1]
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [shlex.split(command) for command in block.replace("\\\n", " ").splitlines() if command.strip()]


@pytest.mark.slow
def test_the_documented_four_class_protocol_runs_as_written(tmp_path, monkeypatch):
    """Leave-one-session-out: five folds, each testing exactly its session's 8 four-class utterances (the
    frustration one is left out), with excitement counted as happiness."""
    iemocap_release(tmp_path / "DATA" / "IEMOCAP_full_release")  # DATA/: the raw data, as on every page
    monkeypatch.chdir(tmp_path)
    commands = _documented_commands()
    assert [c[:2] for c in commands] == [["voxpop", "import"], ["voxpop", "train"]]
    for command in commands:
        result = CliRunner().invoke(app, command[1:], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output + repr(result.exception)
    from voxpop.models.saved_runs import load_run

    run = load_run(tmp_path / "runs" / "iemocap-4class")
    assert run.labels.classes == ["neutral", "anger", "sadness", "happiness"]
    predictions = run.predictions  # every item is predicted by the model of the fold testing its session
    assert len(predictions) == 41
    assert (predictions["fold"] == "session=" + predictions.index.str[:5]).all()
    assert predictions["fold"].value_counts().sort_index().tolist() == [9, 8, 8, 8, 8]
    kept = run.labels.kept  # what is scored: the four classes only
    assert int(kept.sum()) == 40 and not kept["Ses01F_impro01_F004"]
    hard = run.labels.hard_labels()
    assert hard["Ses03F_script01_F003"] == "happiness" and hard["Ses03F_impro01_F003"] == "happiness"
