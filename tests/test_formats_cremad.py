"""CREMA-D importers: tabulated votes (real file through ``shared_data``) and per-rater responses.

The per-rater fixture ``fixtures/cremad_finishedResponses.csv`` has the column layout of the CREMA-D
release's finishedResponses.csv (column list from its README and processFinishedResponses.R); the
values are invented. Small vote tables, fold tables and audio files are generated in ``tmp_path``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from typer.testing import CliRunner

import voxpop.cli
from voxpop import Corpus
from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.codes import as_text
from voxpop.corpus.corpus import CorpusError
from voxpop.corpus.formats import get_importer
from voxpop.corpus.formats.cremad import read_cremad, read_cremad_responses

FIXTURES = Path(__file__).parent / "fixtures"
RESPONSES = FIXTURES / "cremad_finishedResponses.csv"
VOTE_CODES = ["A", "D", "F", "H", "N", "S"]
CLASSES = ["anger", "disgust", "fear", "happy", "neutral", "sad"]
HEADER = '"","A","D","F","H","N","S","fileName","numResponses","agreement","emoVote"'
SMALL_VOTES = [
    '"100001",0,0,0,1,10,0,"1001_IEO_NEU_XX",11,0.91,"N"',
    '"200001",0,0,0,0,9,1,"1001_IEO_NEU_XX",10,0.9,"N"',
    '"300001",1,0,0,0,8,0,"1001_IEO_NEU_XX",9,0.89,"N"',
    '"100002",4,1,0,0,2,0,"1002_DFA_ANG_XX",7,0.57,"A"',
    '"200002",5,0,0,0,0,0,"1002_DFA_ANG_XX",5,1,"A"',
    '"300002",3,0,2,0,0,0,"1002_DFA_ANG_XX",5,0.6,"A"',
]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _votes(tmp_path: Path, rows: list[str] = SMALL_VOTES, header: str = HEADER) -> Path:
    return _write(tmp_path / "tabulatedVotes.csv", [header, *rows])


def _frames_equal(a: Corpus, b: Corpus) -> None:
    pd.testing.assert_frame_equal(a.items, b.items)
    pd.testing.assert_frame_equal(a.ratings, b.ratings)


# ----------------------------------------------------------------------------- tabulated votes, real file
@pytest.fixture(scope="module")
def real_votes(shared_data) -> tuple[Corpus, pd.DataFrame]:
    path = shared_data / "crema-d" / "tabulatedVotes.csv"
    return read_cremad(path), pd.read_csv(path)


def test_every_vote_is_one_rating_per_clip_condition_and_class(real_votes):
    corpus, raw = real_votes
    assert len(corpus.items) == 7442
    assert corpus.classes == CLASSES
    assert corpus.ratings["rater"].isna().all()
    assert len(corpus.ratings) == raw[VOTE_CODES].to_numpy().sum()
    condition = raw.iloc[:, 0].astype(str).str[0].map({"1": "voice", "2": "face", "3": "av"})
    expected = raw[VOTE_CODES].set_axis(CLASSES, axis=1).set_index([raw["fileName"], condition]).sort_index()
    text = as_text(corpus.ratings)  # sorted as text below (the coded columns sort in their category order)
    counts = text.groupby(["item", "condition", "label"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=CLASSES, fill_value=0).sort_index()
    np.testing.assert_array_equal(counts.index.to_numpy(), expected.index.to_numpy())
    np.testing.assert_array_equal(counts.to_numpy(), expected.to_numpy())
    per_condition = text.groupby(["condition", "label"]).size().unstack()[CLASSES]
    file_per_condition = expected.groupby(level=1).sum()
    np.testing.assert_array_equal(per_condition.sort_index().to_numpy(), file_per_condition.sort_index().to_numpy())
    responses = text.groupby(["item", "condition"]).size().sort_index()
    file_responses = raw.set_index([raw["fileName"], condition])["numResponses"].sort_index()
    np.testing.assert_array_equal(responses.to_numpy(), file_responses.to_numpy())


def test_items_come_from_the_clip_names(real_votes):
    corpus, _ = real_votes
    item = corpus.items.loc["1001_IEO_HAP_LO"]
    assert (item["speaker"], item["sentence"], item["emotion"], item["intensity"]) == ("1001", "IEO", "happy", "LO")
    assert corpus.items["speaker"].nunique() == 91
    assert corpus.items["corpus"].eq("crema-d").all()
    assert corpus.conditions == ["voice", "face", "av"]
    first = corpus.ratings.iloc[0]
    assert (first["source_file"], first["source_row"], first["source_column"]) == ("tabulatedVotes.csv", 1, "H")


def test_audio_folds_and_demographics_attach_to_real_clips(shared_data):
    root = shared_data / "crema-d"
    corpus = read_cremad(
        root / "tabulatedVotes.csv",
        audio=root / "AudioWAV-sample",
        only_with_audio=True,
        folds=root / "speaker_folds.csv",
        demographics=root / "VideoDemographics.csv",
    )
    names = sorted(p.stem for p in (root / "AudioWAV-sample").glob("*.wav"))
    assert sorted(corpus.items.index) == names
    raw = pd.read_csv(root / "tabulatedVotes.csv")
    assert len(corpus.ratings) == raw.loc[raw["fileName"].isin(names), "numResponses"].sum()
    assert "7430 of 7442 items have no audio file" in corpus.description
    assert "only_with_audio: 7430 items without audio dropped" in corpus.description
    clip = names[0]
    frames, rate = soundfile.read(corpus.items.at[clip, "audio"])
    assert corpus.items.at[clip, "duration"] == pytest.approx(len(frames) / rate)
    folds = pd.read_csv(root / "speaker_folds.csv", index_col="FileName").reindex(corpus.items.index)
    for column in ("fold1", "fold2", "fold3", "fold4", "fold5"):
        assert corpus.items[column].tolist() == folds[column].tolist()
    assert corpus.items["gender"].tolist() == folds["Gender"].str.lower().tolist()
    actor = corpus.items.loc["1001_DFA_ANG_XX"]
    demographics = (actor["age"], actor["gender"], actor["race"], actor["ethnicity"])
    assert demographics == (51, "male", "Caucasian", "Not Hispanic")


# ----------------------------------------------------------------------------- tabulated votes, small tables
def test_small_vote_table_and_round_trip(tmp_path):
    corpus = read_cremad(_votes(tmp_path))
    counts = corpus.ratings.groupby(["item", "condition", "label"]).size()
    assert counts[("1002_DFA_ANG_XX", "av", "fear")] == 2
    assert counts[("1001_IEO_NEU_XX", "face", "sad")] == 1
    assert len(corpus.ratings) == 11 + 10 + 9 + 7 + 5 + 5
    corpus.save(tmp_path / "corpus")
    _frames_equal(corpus, Corpus.load(tmp_path / "corpus"))
    assert get_importer("crema-d") is read_cremad


def test_missing_vote_column_is_named(tmp_path):
    header = HEADER.replace('"D",', "")
    rows = [r.replace('"100001",0,0,', '"100001",0,') for r in SMALL_VOTES[:1]]
    with pytest.raises(InputError, match=r"tabulatedVotes.csv: missing column 'D'"):
        read_cremad(_votes(tmp_path, rows, header))


def test_empty_vote_file_is_refused(tmp_path):
    path = tmp_path / "tabulatedVotes.csv"
    path.write_text("")
    with pytest.raises(InputError, match=r"tabulatedVotes.csv: the .* file is empty"):
        read_cremad(path)


def test_counts_must_add_up_to_num_responses(tmp_path):
    rows = [*SMALL_VOTES[:3], SMALL_VOTES[3].replace(",7,0.57", ",8,0.57")]
    with pytest.raises(
        InputError, match=r"tabulatedVotes.csv, row 4, column 'numResponses': 8 responses, .* add up to 7"
    ):
        read_cremad(_votes(tmp_path, rows))


def test_bad_vote_count_and_row_id_and_clip_name_are_located(tmp_path):
    bad_count = [SMALL_VOTES[0], SMALL_VOTES[1].replace(",9,1,", ",x,1,")]
    with pytest.raises(InputError, match=r"row 2, column 'N': expected a vote count .* found 'x'"):
        read_cremad(_votes(tmp_path, bad_count))
    bad_id = [SMALL_VOTES[0], SMALL_VOTES[1].replace('"200001"', '"400001"')]
    with pytest.raises(InputError, match=r"row 2, column 'Unnamed: 0': row id '400001' does not start with"):
        read_cremad(_votes(tmp_path, bad_id))
    bad_clip = [SMALL_VOTES[0], SMALL_VOTES[1].replace("1001_IEO_NEU_XX", "1001_IEO_XYZ_XX")]
    with pytest.raises(InputError, match=r"row 2, column 'fileName': clip name '1001_IEO_XYZ_XX' is not"):
        read_cremad(_votes(tmp_path, bad_clip))


def test_repeated_clip_and_condition_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"tabulatedVotes.csv, rows 1, 3: the same clip and condition"):
        read_cremad(_votes(tmp_path, [SMALL_VOTES[0], SMALL_VOTES[1], SMALL_VOTES[0]]))


def test_audio_folds_demographics_on_small_table(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    soundfile.write(audio / "1001_IEO_NEU_XX.wav", np.zeros(4000, dtype=np.float32), 16000)
    soundfile.write(audio / "9999_IEO_NEU_XX.flac", np.zeros(100, dtype=np.float32), 16000)
    folds = _write(
        tmp_path / "folds.csv",
        [
            "FileName,SpkrID,Gender,fold1,fold2",
            "1001_IEO_NEU_XX,1001,Male,Train,Test",
            "1005_IEO_NEU_XX,1005,Male,Test,Train",
        ],
    )
    people = _write(
        tmp_path / "people.csv",
        ['"ActorID","Age","Sex","Race","Ethnicity"', '1001,51,"Male","Caucasian","Not Hispanic"'],
    )
    corpus = read_cremad(_votes(tmp_path), audio=audio, folds=folds, demographics=people)
    items = corpus.items
    assert items.at["1001_IEO_NEU_XX", "duration"] == pytest.approx(0.25)
    assert pd.isna(items.at["1002_DFA_ANG_XX", "audio"])
    assert (items.at["1001_IEO_NEU_XX", "fold1"], items.at["1001_IEO_NEU_XX", "fold2"]) == ("Train", "Test")
    assert pd.isna(items.at["1002_DFA_ANG_XX", "fold1"])
    assert items.at["1001_IEO_NEU_XX", "age"] == 51
    assert items.at["1001_IEO_NEU_XX", "gender"] == "male"
    for note in (
        "1 of 2 items have no audio file",
        "1 audio files in",
        "1 of 2 clips in folds.csv are not in the corpus",
        "1 of 2 corpus items have no entry in folds.csv",
        "1 of 2 corpus items have no entry in people.csv",
    ):
        assert note in corpus.description
    corpus.save(tmp_path / "corpus")
    _frames_equal(corpus, Corpus.load(tmp_path / "corpus"))


def test_folds_that_match_nothing_and_bad_fold_values_are_errors(tmp_path):
    nothing = _write(tmp_path / "folds.csv", ["FileName,Gender,fold1", "1077_IEO_NEU_XX,Male,Train"])
    with pytest.raises(InputError, match=r"folds.csv: none of its 1 clips is in the corpus"):
        read_cremad(_votes(tmp_path), folds=nothing)
    bad = _write(tmp_path / "folds.csv", ["FileName,Gender,fold1", "1001_IEO_NEU_XX,Male,Validation"])
    with pytest.raises(InputError, match=r"folds.csv, row 1, column 'fold1': expected one of Train, Development"):
        read_cremad(_votes(tmp_path), folds=bad)


def test_only_with_audio_needs_a_folder(tmp_path):
    with pytest.raises(ConfigError, match="only_with_audio needs an audio folder"):
        read_cremad(_votes(tmp_path), only_with_audio=True)


# ----------------------------------------------------------------------------- per-rater responses
def test_responses_become_rated_primary_choices_with_levels(tmp_path):
    corpus = read_cremad_responses(RESPONSES)
    r = corpus.ratings
    assert len(r) == 12
    assert sorted(r["rater"].unique()) == ["501", "502", "503"]
    assert corpus.has_rater_ids
    assert r["condition"].value_counts().to_dict() == {"voice": 5, "face": 4, "av": 3}
    assert r["label"].value_counts().to_dict() == {
        "neutral": 3,
        "happy": 3,
        "sad": 3,
        "anger": 1,
        "disgust": 1,
        "fear": 1,
    }
    last = r.iloc[-1]
    assert (last["item"], last["rater"], last["condition"], last["label"], last["value"]) == (
        "1001_IEO_NEU_XX",
        "503",
        "face",
        "happy",
        100.0,
    )
    assert corpus.scales == {"primary": (0.0, 100.0)}
    assert list(corpus.items.index) == ["1001_IEO_NEU_XX", "1001_IEO_HAP_HI", "1002_DFA_SAD_XX"]
    corpus.save(tmp_path / "corpus")
    _frames_equal(corpus, Corpus.load(tmp_path / "corpus"))


def _responses_with(tmp_path: Path, change=None, extra: list[str] = ()) -> Path:
    lines = RESPONSES.read_text().splitlines()
    if change:
        lines = [change(line) for line in lines]
    return _write(tmp_path / "finishedResponses.csv", [*lines, *extra])


def test_unknown_response_label_names_the_row(tmp_path):
    path = _responses_with(tmp_path, lambda line: line.replace('"D","45"', '"X","45"'))
    with pytest.raises(
        CorpusError, match=r"finishedResponses.csv, row 7, column 'respEmo' .*: label 'X' is not a class"
    ):
        read_cremad_responses(path)


def test_repeated_answer_is_refused_or_resolved_by_the_policy(tmp_path):
    repeat = '"13","502","90","H_20","2000","2","0","4","3","4","1001_IEO_HAP_HI","9002","H","20","HAP","HI","80"'
    path = _responses_with(tmp_path, extra=[repeat])
    with pytest.raises(InputError) as info:
        read_cremad_responses(path)
    assert str(info.value).startswith(
        "finishedResponses.csv, row 13, column 'respEmo' (item '1001_IEO_HAP_HI'): rater '502' judged item "
        "'1001_IEO_HAP_HI' in condition 'face' more than once (a conflicting repeat): primary 'H' (value 90) "
        "(finishedResponses.csv, row 6, column 'respEmo') vs 'H' (value 20) (finishedResponses.csv, row 13, "
        "column 'respEmo'). 1 rater-item pair is judged more than once in all"
    )

    def levels(policy: str) -> list[float]:
        r = read_cremad_responses(path, duplicates=policy).ratings
        return r.loc[r["rater"].eq("502") & r["item"].eq("1001_IEO_HAP_HI"), "value"].tolist()

    corpus = read_cremad_responses(path, duplicates="first")
    assert len(corpus.ratings) == 12
    assert "duplicates='first': the first answer of each repeated field kept; 1 ratings removed." in corpus.description
    assert levels("first") == [90.0] and levels("last") == [20.0]
    assert levels("mean") == [55.0]  # (90 + 20) / 2, both answers 'happy'
    assert levels("drop") == [] and len(read_cremad_responses(path, duplicates="drop").ratings) == 11
    with pytest.raises(ConfigError, match="duplicates='latest'; expected one of error, first, last, drop, mean"):
        read_cremad_responses(path, duplicates="latest")


def test_bad_level_and_query_type_and_missing_column(tmp_path):
    path = _responses_with(tmp_path, lambda line: line.replace('"S","35"', '"S","high"'))
    with pytest.raises(
        InputError, match=r"row 4, column 'respLevel': expected an intensity level 0..100, found 'high'"
    ):
        read_cremad_responses(path)
    path = _responses_with(tmp_path, lambda line: line.replace('"2710","1"', '"2710","4"'))
    with pytest.raises(InputError, match=r"row 1, column 'queryType': found '4'; expected 1 \(voice\)"):
        read_cremad_responses(path)
    path = _responses_with(tmp_path, lambda line: line.replace('"respLevel"', '"level"'))
    with pytest.raises(InputError, match=r"finishedResponses.csv: missing column 'respLevel'"):
        read_cremad_responses(path)


def test_level_outside_0_100_names_column_resplevel(tmp_path):
    path = _responses_with(tmp_path, lambda line: line.replace('"S","50"', '"S","150"'))
    with pytest.raises(
        InputError, match=r"^finishedResponses.csv, row 8, column 'respLevel': intensity level 150 is outside 0\.\.100"
    ):
        read_cremad_responses(path)


# ----------------------------------------------------------------------------- CLI
def test_cli_imports_votes_and_responses(tmp_path):
    runner = CliRunner()
    out = tmp_path / "votes"
    result = runner.invoke(voxpop.cli.app, ["import", "crema-d", str(_votes(tmp_path)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "saved to" in result.output
    _frames_equal(Corpus.load(out), read_cremad(_votes(tmp_path)))
    out = tmp_path / "responses"
    result = runner.invoke(voxpop.cli.app, ["import", "crema-d", str(RESPONSES), "--responses", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert Corpus.load(out).has_rater_ids
    result = runner.invoke(voxpop.cli.app, ["import", "crema-d", str(RESPONSES), "--out", str(out)])
    assert "holds per-rater answers (finishedResponses.csv)" in str(result.exception)
    result = runner.invoke(
        voxpop.cli.app, ["import", "crema-d", str(_votes(tmp_path)), "--duplicates", "first", "--out", str(out)]
    )
    assert isinstance(result.exception, ConfigError)
    assert "add --responses" in str(result.exception)


# ----------------------------------------------------------------------------- first clicks (issue 10 item 4)
FIRST_CLICKS = [
    '"","localid","sessionNums","queryType","questNum","pos","ttr","numTries","clipNum","clipName"',
    '"1","501","9001","1","1","11","2500","0","1","1001_IEO_NEU_XX"',
    '"2","501","9001","1","2","14","10001","1","4","1001_IEO_HAP_HI"',  # > 10 s: row 2 of the answers goes
    '"3","502","9002","2","1","32","10000","0","4","1001_IEO_HAP_HI"',  # exactly 10 s: kept
    '"4","503","9003","2","2","85","15000","0","1","1001_IEO_NEU_XX"',  # > 10 s: row 12 goes
    '"5","502","9002","1","2","60","3000","0","6","1002_DFA_SAD_XX"',
]


def test_first_clicks_over_10_s_are_dropped_and_counted(tmp_path):
    clicks = _write(tmp_path / "finishedEmoResponses.csv", FIRST_CLICKS)
    corpus = read_cremad_responses(RESPONSES, first_clicks=clicks)
    r = corpus.ratings
    assert len(r) == 10
    gone = [("501", "1001_IEO_HAP_HI", "voice"), ("503", "1001_IEO_NEU_XX", "face")]
    kept = set(r[["rater", "item", "condition"]].itertuples(index=False, name=None))
    assert not kept & set(gone)
    assert ("502", "1001_IEO_HAP_HI", "face") in kept  # first click at exactly 10 s stays
    assert r["source_row"].tolist() == [1, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert (
        "First clicks (finishedEmoResponses.csv): 2 of 12 answers dropped because their first click came more than "
        "10 s after the clip (as for the public vote table)."
    ) in corpus.description
    assert "7 answers have no row in finishedEmoResponses.csv (kept)." in corpus.description
    assert len(read_cremad_responses(RESPONSES).ratings) == 12  # without the file every answer stays


def test_first_clicks_errors_name_file_row_and_column(tmp_path):
    bad_time = _write(tmp_path / "clicks.csv", [FIRST_CLICKS[0], FIRST_CLICKS[1].replace('"2500"', '"slow"')])
    with pytest.raises(InputError, match=r"clicks\.csv, row 1, column 'ttr': expected a response time in millisec"):
        read_cremad_responses(RESPONSES, first_clicks=bad_time)
    twice = _write(tmp_path / "clicks.csv", [FIRST_CLICKS[0], FIRST_CLICKS[1], FIRST_CLICKS[1]])
    with pytest.raises(InputError, match=r"clicks\.csv, rows 1, 2: the same sessionNums, queryType and questNum"):
        read_cremad_responses(RESPONSES, first_clicks=twice)
    no_key = _responses_with(tmp_path, lambda line: line.replace('"questNum"', '"question"'))
    with pytest.raises(InputError, match=r"finishedResponses\.csv: missing column 'questNum'.*--first-clicks joins"):
        read_cremad_responses(no_key, first_clicks=_write(tmp_path / "clicks.csv", FIRST_CLICKS))


def test_cli_first_clicks_and_duplicates(tmp_path):
    clicks = _write(tmp_path / "finishedEmoResponses.csv", FIRST_CLICKS)
    out = tmp_path / "c"
    args = ["import", "crema-d", str(RESPONSES), "--responses", "--first-clicks", str(clicks), "--out", str(out)]
    result = CliRunner().invoke(voxpop.cli.app, args)
    assert result.exit_code == 0, result.output
    assert len(Corpus.load(out).ratings) == 10
    result = CliRunner().invoke(
        voxpop.cli.app, ["import", "crema-d", str(_votes(tmp_path)), "--first-clicks", str(clicks), "--out", str(out)]
    )
    assert isinstance(result.exception, ConfigError) and "apply to per-rater responses only" in str(result.exception)


def test_unmatched_audio_files_are_listed_by_name_and_debris_skipped(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    for name in ("1001_IEO_NEU_XX.wav", "9999_IEO_NEU_XX.wav", "9998_IEO_NEU_XX.flac"):
        soundfile.write(audio / name, np.zeros(160, dtype=np.float32), 16000)
    (audio / "._1001_IEO_NEU_XX.wav").write_bytes(b"\x00\x05\x16\x07")  # macOS resource fork, not audio
    (audio / "Thumbs.db").write_bytes(b"\x00")
    corpus = read_cremad(_votes(tmp_path), audio=audio)
    assert corpus.items.at["1001_IEO_NEU_XX", "duration"] == pytest.approx(0.01)
    assert f"2 audio files in {audio} match no item and were ignored: 9998_IEO_NEU_XX.flac, 9999_IEO_NEU_XX.wav." in (
        corpus.description
    )
    assert f"Operating-system files skipped in {audio}: 2 (macOS '._' resource forks 1, Thumbs.db 1)." in (
        corpus.description
    )
