"""Merging corpora: namespaced ids, class maps that rename and drop, counts equal hand counts."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

import voxpop.cli
from voxpop.core.errors import ConfigError
from voxpop.corpus.corpus import Corpus
from voxpop.corpus.merge import MergeSource, merge_corpora


def _ravdess_like() -> Corpus:
    """Five acted clips, one intended label each (no rater): angry x2, calm, fearful, neutral."""
    items = pd.DataFrame({"speaker": ["01", "01", "02", "02", "02"]}, index=["a1", "a2", "c1", "f1", "n1"])
    labels = ["angry", "angry", "calm", "fearful", "neutral"]
    ratings = pd.DataFrame({"item": items.index, "label": labels})
    return Corpus("ravdess", items, ratings, classes=["neutral", "calm", "angry", "fearful"])


def _crowd_like(name: str = "crema-d") -> Corpus:
    """Three clips rated by raters E1/E2/E3; clip x2 has two calm votes and one anger vote."""
    items = pd.DataFrame({"speaker": ["01", "01", "03"]}, index=["x1", "x2", "x3"])
    ratings = pd.DataFrame(
        {
            "item": ["x1", "x1", "x1", "x2", "x2", "x2", "x3", "x3"],
            "rater": ["E1", "E2", "E3", "E1", "E2", "E3", "E1", "E2"],
            "label": ["anger", "anger", "sad", "calm", "calm", "anger", "calm", "calm"],
        }
    )
    return Corpus(name, items, ratings, classes=["anger", "sad", "calm"])


def _merged():
    ra = MergeSource(_ravdess_like(), "ravdess", {"angry": "anger", "fearful": "fear", "calm": "drop"})
    cr = MergeSource(_crowd_like(), "crema-d", {"calm": "drop"})
    return merge_corpora([ra, cr], classes=["neutral", "anger", "fear", "sad"])  # 'fear' is new: listed


def test_merge_counts_equal_hand_counts():
    merged, accounting = _merged()
    # ravdess: c1 (calm only) is dropped; a1, a2 renamed angry -> anger, f1 fearful -> fear.
    # crema-d: x3 has only calm votes -> dropped (2 ratings); x2 keeps its 2 calm votes as an excluded label.
    expected = pd.DataFrame(
        {
            "items": [5, 3],
            "items_kept": [4, 2],
            "items_dropped": [1, 1],
            "ratings": [5, 8],
            "ratings_kept": [4, 6],
            "ratings_renamed": [3, 0],
            "ratings_dropped_label": [0, 2],
            "ratings_of_dropped_items": [1, 2],
        },
        index=pd.Index(["ravdess", "crema-d"], name="corpus"),
    )
    pd.testing.assert_frame_equal(accounting, expected, check_dtype=False)
    assert merged.classes == ["neutral", "anger", "fear", "sad"]
    assert merged.excluded == ["calm"]
    assert sorted(merged.items.index) == ["crema-d:x1", "crema-d:x2", "ravdess:a1", "ravdess:a2", "ravdess:f1",
                                          "ravdess:n1"]
    assert merged.items["corpus"].value_counts().to_dict() == {"ravdess": 4, "crema-d": 2}
    assert merged.items.loc["ravdess:f1", "source_item"] == "f1"
    labels = merged.ratings.groupby("item")["label"].apply(sorted).to_dict()
    assert labels["ravdess:a1"] == ["anger"] and labels["ravdess:f1"] == ["fear"]
    assert labels["crema-d:x2"] == ["anger", "calm", "calm"]


def test_namespaced_raters_and_speakers_never_collide():
    a = MergeSource(_crowd_like("one"), "one")
    b = MergeSource(_crowd_like("two"), "two")
    merged, _ = merge_corpora([a, b])
    raters = set(merged.ratings["rater"])
    assert raters == {f"{ns}:E{i}" for ns in ("one", "two") for i in (1, 2, 3)}
    # speaker 01 of corpus one and speaker 01 of corpus two are two people
    assert set(merged.items["speaker"]) == {"one:01", "one:03", "two:01", "two:03"}
    assert merged.ratings.groupby("rater").size().max() == 3


def test_count_only_ratings_stay_without_rater():
    merged, _ = _merged()
    ravdess = merged.ratings[merged.ratings["item"].str.startswith("ravdess:")]
    assert ravdess["rater"].isna().all()


def test_explicit_class_list_turns_other_classes_into_excluded_labels():
    ra = MergeSource(_ravdess_like(), "ravdess", {"angry": "anger", "calm": "drop"})
    cr = MergeSource(_crowd_like(), "crema-d")
    merged, _ = merge_corpora([ra, cr], classes=["anger", "sad"])
    assert merged.classes == ["anger", "sad"]
    assert set(merged.excluded) == {"neutral", "fearful", "calm"}


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        (lambda: [MergeSource(_ravdess_like(), "ravdess")], "at least two corpora"),
        (lambda: [MergeSource(_ravdess_like(), "x"), MergeSource(_crowd_like(), "x")], "share the namespace 'x'"),
        (lambda: [MergeSource(_ravdess_like(), "a b"), MergeSource(_crowd_like(), "c")], "namespace 'a b'"),
        (
            lambda: [MergeSource(_ravdess_like(), "r", {"happy": "joy"}), MergeSource(_crowd_like(), "c")],
            "['happy'] are not labels of corpus 'ravdess'; its labels are neutral, calm, angry, fearful",
        ),
    ],
)
def test_bad_merges_are_refused_with_the_reason(sources, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        merge_corpora(sources())


def test_two_scales_for_one_slot_are_refused():
    def dimension_corpus(name: str, high: float) -> Corpus:
        items = pd.DataFrame(index=["u1"])
        ratings = pd.DataFrame({"item": ["u1"], "rater": ["r"], "slot": ["arousal"], "label": ["arousal"],
                                "value": [2.0]})
        return Corpus(name, items, ratings, classes=["neutral"], scales={"arousal": (1, high)})

    with pytest.raises(ConfigError, match=r"scale 1..7 in corpus 'msp' but 1..5 in corpus 'iemocap'"):
        merge_corpora([MergeSource(dimension_corpus("msp", 7), "msp"),
                       MergeSource(dimension_corpus("iemocap", 5), "iemocap")])


def test_merge_cli_writes_the_corpus_and_prints_the_accounting(tmp_path):
    _ravdess_like().save(tmp_path / "ravdess")
    _crowd_like().save(tmp_path / "cremad")
    result = CliRunner().invoke(
        voxpop.cli.app,
        [
            "merge", str(tmp_path / "ravdess"), f"crema-d={tmp_path / 'cremad'}", "--out", str(tmp_path / "ab"),
            "--class-map", "ravdess:angry=anger,fearful=fear", "--class-map", "ravdess:calm=drop",
            "--class-map", "crema-d:calm=drop", "--classes", "neutral,anger,fear,sad",
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    merged = Corpus.load(tmp_path / "ab")
    assert len(merged.items) == 6 and merged.excluded == ["calm"]
    assert "merge accounting" in result.output


def test_merge_cli_names_an_unknown_corpus_in_a_class_map(tmp_path):
    _ravdess_like().save(tmp_path / "ravdess")
    _crowd_like().save(tmp_path / "cremad")
    result = CliRunner().invoke(
        voxpop.cli.app,
        ["merge", str(tmp_path / "ravdess"), str(tmp_path / "cremad"), "--out", str(tmp_path / "ab"),
         "--class-map", "msp:angry=anger"],
    )
    assert result.exit_code != 0
    assert "'msp' is not one of the merged corpora (ravdess, crema-d)" in str(result.exception)
