"""Label rules (METHODS.md section 2): hand-computed accounting, tie policies, filters, intervals, CLI, CREMA-D."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from voxpop.cli import app
from voxpop.core.errors import ConfigError, InputError, VoxpopError
from voxpop.corpus.corpus import Corpus
from voxpop.labels.counting import all_inclusive, all_inclusive_test, filter_agreement, plurality, smooth
from voxpop.labels.interval_rules import interval_consensus
from voxpop.labels.labelset import LabelSet
from voxpop.labels.likert import likert_binarize, likert_scores
from voxpop.labels.rules import RULES, accounting_table, make_labels
from voxpop.labels.voting import list_votes, vote_counts

# ---------------------------------------------------------------- a small corpus, accounting by hand
#   item  votes        MR     PR(drop)  AR    AR-test (C=3)
#   i1    A A A S + O  A (3)  A (3)     4     A        -> 3 supporting
#   i2    A A S S      drop   drop      4     A,S      -> 4
#   i3    A S N        drop   drop      3     uniform  -> 3
#   i4    O O          drop   drop      drop  drop
#   i5    N N A        N (2)  N (2)     3     N        -> 2
# class ratings 14, excluded-class ratings 3, all ratings 17
VOTES = {"i1": "AAASO", "i2": "AASS", "i3": "ASN", "i4": "OO", "i5": "NNA"}


def small_corpus() -> Corpus:
    rows = [(item, f"r{k}", label) for item, labels in VOTES.items() for k, label in enumerate(labels)]
    ratings = pd.DataFrame(rows, columns=["item", "rater", "label"])
    return Corpus("small", pd.DataFrame(index=list(VOTES)), ratings, classes=["A", "S", "N"], excluded=["O"])


@pytest.mark.parametrize(
    ("rule", "kept", "supporting"),
    [
        ("mr", ["i1", "i5"], 3 + 2),
        ("pr", ["i1", "i5"], 3 + 2),
        ("ar", ["i1", "i2", "i3", "i5"], 14),
        ("ar-test", ["i1", "i2", "i3", "i5"], 3 + 4 + 3 + 2),
    ],
)
def test_accounting_by_hand(rule, kept, supporting):
    labels = make_labels(small_corpus(), rule)
    acc = labels.accounting
    assert labels.kept[labels.kept].index.tolist() == kept
    assert (acc.items_total, acc.items_kept) == (5, len(kept))
    assert (acc.ratings_total, acc.ratings_supporting, acc.ratings_excluded_class) == (17, supporting, 3)
    assert acc.data_loss == pytest.approx(1 - len(kept) / 5)
    assert acc.rating_loss == pytest.approx(1 - supporting / 17)
    assert not labels.targets[~labels.kept].to_numpy().any()


def test_rule_targets_by_hand():
    corpus = small_corpus()
    mr = make_labels(corpus, "mr")
    assert mr.hard_labels().to_dict() == {"i1": "A", "i5": "N"}
    ar = make_labels(corpus, "ar").targets
    np.testing.assert_allclose(ar.loc["i1"], [3 / 4, 1 / 4, 0])
    np.testing.assert_allclose(ar.loc["i5"], [1 / 3, 0, 2 / 3])
    test = make_labels(corpus, "ar-test").targets
    assert test.loc[["i1", "i2", "i3", "i5"]].astype(int).to_numpy().tolist() == [
        [1, 0, 0],
        [1, 1, 0],
        [1, 1, 1],
        [0, 0, 1],
    ]


def test_vote_counts_match_crosstab():
    rng = np.random.default_rng(3)
    ratings = pd.DataFrame(
        {
            "item": rng.choice([f"i{k}" for k in range(40)], 500),
            "label": rng.choice(["a", "b", "c", "x"], 500),
            "condition": rng.choice(["voice", "face"], 500),
        }
    )
    counts, excluded = vote_counts(ratings, ["a", "b", "c"], excluded=["x"])
    table = pd.crosstab(ratings["item"], ratings["label"])
    assert counts.sort_index().to_numpy().tolist() == table[["a", "b", "c"]].to_numpy().tolist()
    assert excluded.sort_index().tolist() == table["x"].tolist()
    voice, _ = vote_counts(ratings, ["a", "b", "c"], conditions="voice", excluded=["x"], items=table.index)
    face, _ = vote_counts(ratings, ["a", "b", "c"], conditions=["face"], excluded=["x"], items=table.index)
    pooled, _ = vote_counts(ratings, ["a", "b", "c"], conditions=["voice", "face"], excluded=["x"], items=table.index)
    pd.testing.assert_frame_equal(pooled, voice + face)
    with pytest.raises(ConfigError, match="voice"):
        vote_counts(ratings, ["a", "b", "c"], excluded=["x"], pool=False)
    with pytest.raises(InputError, match=r"\['x'\].*neither classes"):
        vote_counts(ratings, ["a", "b", "c"])


# ---------------------------------------------------------------- ties and the uniform edge case
TIES = pd.DataFrame([[2, 2, 0], [1, 1, 1], [3, 1, 0], [0, 0, 0]], index=["ab", "abc", "a", "none"], columns=list("abc"))


def test_tie_policy_drop():
    labels = plurality(TIES)
    assert labels.kept.tolist() == [False, False, True, False]
    assert labels.accounting.ratings_supporting == 3 and not labels.multilabel


def test_tie_policy_all():
    labels = plurality(TIES, "all")
    assert labels.multilabel and labels.kept.tolist() == [True, True, True, False]
    assert labels.targets.astype(int).to_numpy().tolist() == [[1, 1, 0], [1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert labels.accounting.ratings_supporting == 4 + 3 + 3


def test_tie_policy_first():
    labels = plurality(TIES, "first")
    assert labels.kept.tolist() == [True, True, True, False]
    assert labels.hard_labels().tolist() == ["a", "a", "a"]
    assert labels.accounting.ratings_supporting == 2 + 1 + 3


def test_tie_policy_random_is_seeded_and_picks_only_tied_classes():
    ties = pd.DataFrame(np.tile([2, 0, 2, 2], (3000, 1)), columns=list("wxyz"))
    first = plurality(ties, "random", seed=7)
    again = plurality(ties, "random", seed=7)
    other = plurality(ties, "random", seed=8)
    pd.testing.assert_frame_equal(first.targets, again.targets)
    assert not first.targets.equals(other.targets)
    chosen = first.hard_labels().value_counts()
    assert set(chosen.index) == {"w", "y", "z"}
    assert (abs(chosen - 1000) < 5 * np.sqrt(3000 * 1 / 3 * 2 / 3)).all()  # uniform among tied classes
    assert first.targets.sum(axis=1).eq(1).all()


def test_unknown_tie_policy():
    with pytest.raises(ConfigError, match="drop, all, random, first"):
        plurality(TIES, "coin")


@pytest.mark.parametrize(
    ("votes", "expected"),
    [
        ([1, 1, 1, 1], [1, 1, 1, 1]),  # exactly uniform: all classes (Decision)
        ([2, 2, 0, 0], [1, 1, 0, 0]),  # p = .5 > 1/4
        ([3, 2, 2, 1], [1, 0, 0, 0]),  # 2/8 = 1/4 is not > 1/4 (strict)
        ([0, 0, 5, 0], [0, 0, 1, 0]),
    ],
)
def test_ar_test_form_threshold_is_strict_and_uniform_gets_all(votes, expected):
    labels = all_inclusive_test(pd.DataFrame([votes], columns=list("NASH")))
    assert labels.targets.astype(int).iloc[0].tolist() == expected and labels.multilabel


def test_items_without_votes_are_dropped_everywhere():
    empty = pd.DataFrame([[0, 0]], index=["z"], columns=["a", "b"])
    for rule in (all_inclusive, all_inclusive_test, plurality):
        assert not rule(empty).kept.any()


def test_counts_must_be_whole_votes():
    with pytest.raises(InputError, match=r"item 'q', column 'b'.*0.5"):
        all_inclusive(pd.DataFrame([[1, 0.5]], index=["q"], columns=["a", "b"]))


# ---------------------------------------------------------------- conditions, classes, excluded
def condition_corpus(rater_ids: bool = False) -> Corpus:
    """The METHODS.md pooled example on clip c1, plus clip c2 rated only by voice."""
    votes = {"voice": "AASSNNNN", "face": "AAAASSNN", "av": "AAAAAASS"}
    rows = [("c1", cond, label) for cond, labels in votes.items() for label in labels] + [("c2", "voice", "C")]
    ratings = pd.DataFrame(rows, columns=["item", "condition", "label"])
    if rater_ids:
        ratings["rater"] = [f"r{k}" for k in range(len(ratings))]
    classes = ["A", "S", "N", "C"]
    return Corpus("cond", pd.DataFrame(index=["c1", "c2"]), ratings, classes=classes)


def test_pooled_conditions_sum_counts():
    labels = make_labels(condition_corpus(), "ar", condition=["voice", "face", "av"], pool=True)
    assert labels.counts.loc["c1"].tolist() == [12, 6, 6, 0]
    assert make_labels(condition_corpus(), "ar", pool=True).counts.loc["c1"].tolist() == [12, 6, 6, 0]
    voice = make_labels(condition_corpus(), "mr", condition="voice")
    assert voice.kept.tolist() == [False, True]  # c1 voice: N has 4 of 8, not a majority
    assert voice.options["condition"] == ["voice"]


def test_several_conditions_must_be_chosen_or_pooled():
    with pytest.raises(ConfigError, match=r"3 conditions \(voice, face, av\)"):
        make_labels(condition_corpus(), "mr")
    with pytest.raises(ConfigError, match="pool"):
        make_labels(condition_corpus(), "mr", condition=["voice", "face"])
    with pytest.raises(ConfigError, match="its conditions are: voice, face, av"):
        make_labels(condition_corpus(), "mr", condition="audio")


def test_class_subset_excludes_and_counts():
    labels = make_labels(condition_corpus(), "ar", condition="voice", classes=["A", "S", "N"])
    acc = labels.accounting
    assert labels.classes == ["A", "S", "N"]
    assert (acc.ratings_total, acc.ratings_excluded_class, acc.items_kept) == (9, 1, 1)  # c2's only vote is "C"
    assert acc.rating_loss == pytest.approx(1 / 9)
    with pytest.raises(ConfigError, match="after the class map: A, S, N, C"):
        make_labels(condition_corpus(), "ar", condition="voice", classes=["A", "calm"])


def test_class_map_merges_and_excludes():
    merged = make_labels(condition_corpus(), "ar", condition="voice", class_map={"C": "N"})
    assert merged.classes == ["A", "S", "N"]
    assert merged.counts.loc["c2"].tolist() == [0, 0, 1] and merged.accounting.ratings_excluded_class == 0
    listed = ["A", "S", "N", "calm"]  # a new class name only when it is listed in classes
    renamed = make_labels(condition_corpus(), "ar", condition="voice", class_map={"C": "calm"}, classes=listed)
    assert renamed.classes == listed and renamed.counts.loc["c2", "calm"] == 1
    with pytest.raises(ConfigError, match=r"C=calm: 'calm' would be a new class.*\(A, S, N, C\)"):
        make_labels(condition_corpus(), "ar", condition="voice", class_map={"C": "calm"})
    dropped = make_labels(condition_corpus(), "ar", condition="voice", class_map={"C": "drop"}, classes=["A", "S"])
    assert dropped.classes == ["A", "S"] and dropped.accounting.ratings_excluded_class == 1 + 4  # C and 4 x N
    with pytest.raises(ConfigError, match="not labels of corpus"):
        make_labels(condition_corpus(), "ar", condition="voice", class_map={"calm": "N"})


def test_unknown_rule_and_misplaced_options():
    with pytest.raises(ConfigError, match=", ".join(RULES)):
        make_labels(small_corpus(), "wawa")  # crowd-kit's Wawa is deliberately not a rule
    with pytest.raises(ConfigError, match="threshold applies to rules likert"):
        make_labels(small_corpus(), "mr", threshold=0.3)
    with pytest.raises(ConfigError, match="tie_policy applies to rules pr"):
        make_labels(small_corpus(), "mr", tie_policy="all")


# ---------------------------------------------------------------- primary / secondary and agreement filters
def msp_corpus(rater_ids: bool = True) -> Corpus:
    """Primary choices and secondary lists: clip m1 = the METHODS.md P/S example, m2 and m3 others."""
    primaries = {"m1": "NNSN", "m2": "HSHU", "m3": "SSSH"}
    lists = {
        "m1": ["NS", "NO", "SU", "NSO"],
        "m2": ["HS", "S", "HU", "U"],
        "m3": ["S", "SH", "H", "HS"],
    }
    rows = []
    for item, choices in primaries.items():
        for k, choice in enumerate(choices):
            rows.append((item, f"r{k}", "primary", choice))
            rows += [(item, f"r{k}", "secondary", label) for label in lists[item][k]]
    ratings = pd.DataFrame(rows, columns=["item", "rater", "slot", "label"])
    if not rater_ids:
        ratings["rater"] = None
    return Corpus("msp", pd.DataFrame(index=list(primaries)), ratings, classes=["N", "S", "U", "H"], excluded=["O"])


def test_primary_and_secondary_distributions():
    corpus = msp_corpus()
    primary = make_labels(corpus, "primary").targets
    np.testing.assert_allclose(primary.loc["m1"], [3 / 4, 1 / 4, 0, 0])
    secondary = make_labels(corpus, "secondary")
    np.testing.assert_allclose(secondary.targets.loc["m1"], [3 / 7, 3 / 7, 1 / 7, 0])
    np.testing.assert_allclose(secondary.targets.loc["m2"], [0, 2 / 6, 2 / 6, 2 / 6])
    assert secondary.accounting.ratings_excluded_class == 2
    assert secondary.accounting.ratings_total == 9 + 6 + 6


def test_p_star_filter():
    # top primary share: m1 3/4, m2 2/4, m3 3/4 -> P* (f = 0.6) keeps m1 and m3
    labels = make_labels(msp_corpus(), "primary", min_agreement=0.6)
    assert labels.kept.tolist() == [True, False, True]
    assert labels.accounting.ratings_supporting == 4 + 4  # AR-style targets: all ratings of kept items
    np.testing.assert_allclose(labels.targets.loc["m3"], [0, 3 / 4, 0, 1 / 4])


def test_s_star_filter_uses_raters_lists():
    # raters listing the top class: m1 N,S 3 of 4; m2 S,H,U 2 of 4; m3 S,H 3 of 4
    labels = make_labels(msp_corpus(), "secondary", min_agreement=0.5)
    assert labels.kept.tolist() == [True, True, True]
    strict = make_labels(msp_corpus(), "secondary", min_agreement=0.75)
    assert strict.kept.tolist() == [True, False, True]
    assert strict.accounting.ratings_supporting == 7 + 6
    assert make_labels(msp_corpus(), "secondary", min_raters_agree=3).kept.tolist() == [True, False, True]
    with pytest.raises(VoxpopError, match="needs rater ids"):
        make_labels(msp_corpus(rater_ids=False), "secondary", min_agreement=0.5)
    # the count-based filter needs no rater ids
    assert make_labels(msp_corpus(rater_ids=False), "primary", min_agreement=0.6).kept.sum() == 2


def test_list_votes_count_each_class_once_per_list():
    ratings = pd.DataFrame(
        {
            "item": ["x"] * 5 + ["y"] * 2,
            "rater": ["r1", "r1", "r2", "r2", "r3", "r1", "r2"],
            "slot": "secondary",
            "label": ["calm", "neutral", "neutral", "sad", "other", "sad", "sad"],
        }
    )
    votes, lists = list_votes(ratings, ["neutral", "sad"], class_map={"calm": "neutral"}, excluded=["other"])
    assert votes.to_numpy().tolist() == [[2, 1], [0, 2]]  # r1's calm + neutral is one neutral vote
    assert lists.tolist() == [3, 2]  # r3's list holds only an excluded label but is a list


def test_filter_agreement_fraction_is_exact_at_the_boundary():
    counts = pd.DataFrame([[7, 3], [69, 31], [3, 2]], columns=["a", "b"])
    assert filter_agreement(counts, 0.7).kept.tolist() == [True, False, False]
    assert filter_agreement(counts, 0.6).kept.tolist() == [True, True, True]
    assert filter_agreement(counts, min_raters_agree=7).kept.tolist() == [True, True, False]


def test_agreement_levels_on_counts_shrink_monotonically():
    rng = np.random.default_rng(0)
    counts = pd.DataFrame(rng.multinomial(6, [0.5, 0.3, 0.2], size=300), columns=list("abc"))
    kept = [filter_agreement(counts, min_raters_agree=k).kept.sum() for k in range(1, 7)]
    assert kept == sorted(kept, reverse=True)
    assert kept == [int((counts.max(axis=1) >= k).sum()) for k in range(1, 7)]


# ---------------------------------------------------------------- Likert
def likert_corpus() -> Corpus:
    values = {  # item -> emotion -> three raters' ratings on 0..3
        "a": {"happy": [1, 0, 0], "sad": [3, 2, 1]},
        "b": {"happy": [0, 0, 0], "sad": [0, 0, 0]},
        "c": {"happy": [3, 3, 3], "sad": [0, 1, 0]},
    }
    rows = [
        (item, f"r{k}", "intensity", emotion, value)
        for item, emotions in values.items()
        for emotion, ratings in emotions.items()
        for k, value in enumerate(ratings)
    ]
    ratings = pd.DataFrame(rows, columns=["item", "rater", "slot", "label", "value"])
    return Corpus("likert", pd.DataFrame(index=list(values)), ratings, ["happy", "sad"], scales={"intensity": (0, 3)})


def test_likert_scores_in_ninths():
    scores = likert_scores(likert_corpus().ratings, ["happy", "sad"], scale=(0, 3))
    assert (scores * 9).round(9).to_numpy().tolist() == [[1, 6], [0, 0], [9, 1]]
    observed_max = likert_scores(likert_corpus().ratings, ["happy", "sad"])  # max observed = 3 here too
    pd.testing.assert_frame_equal(scores, observed_max)


@pytest.mark.parametrize(
    ("threshold", "targets", "kept"),
    [
        (None, [[1, 1], [0, 0], [1, 1]], [True, False, True]),  # t = 0.01: any rater saw it
        (0.2, [[0, 1], [0, 0], [1, 0]], [True, False, True]),
        (0.7, [[0, 0], [0, 0], [1, 0]], [False, False, True]),
    ],
)
def test_likert_rule(threshold, targets, kept):
    labels = make_labels(likert_corpus(), "likert", threshold=threshold)
    assert labels.targets.astype(int).to_numpy().tolist() == targets and labels.kept.tolist() == kept
    assert labels.multilabel
    assert labels.accounting.ratings_total == 18
    assert labels.accounting.ratings_supporting == 6 * sum(kept)  # all ratings of kept items


def test_likert_binarize_score_equal_to_threshold_is_positive():
    labels = likert_binarize(pd.DataFrame([[1 / 3, np.nan]], columns=["x", "y"]), 1 / 3)
    assert labels.targets.to_numpy().tolist() == [[1.0, 0.0]]


# ---------------------------------------------------------------- smoothing and storage
def test_smoothing_renormalises_kept_items_only():
    labels = make_labels(small_corpus(), "mr", smoothing=0.1)
    np.testing.assert_allclose(labels.targets.loc["i1"], [1.1 / 1.3, 0.1 / 1.3, 0.1 / 1.3])
    assert not labels.targets.loc["i2"].any()
    assert labels.options["smoothing"] == 0.1
    with pytest.raises(ConfigError, match="multi-hot"):
        smooth(make_labels(small_corpus(), "ar-test"), 0.1)


def test_label_sets_round_trip(tmp_path):
    for labels in (make_labels(small_corpus(), "pr", tie_policy="all"), interval_consensus(hand_drawn(), level=2)):
        loaded = LabelSet.load(labels.save(tmp_path / f"{labels.rule}.parquet"))
        pd.testing.assert_frame_equal(loaded.targets, labels.targets, check_names=False)
        assert loaded.accounting == labels.accounting and loaded.options == labels.options
        assert loaded.multilabel == labels.multilabel


# ---------------------------------------------------------------- interval consensus
def hand_drawn() -> pd.DataFrame:
    """Three raters marking emotions in two recordings (seconds).

    rec1 anger: r1 0.0-1.0 and 0.5-1.2 (overlapping: r1 counts once), r2 0.3-0.8, r3 0.7-2.0
        coverage 0-0.3: 1, 0.3-0.7: 2, 0.7-0.8: 3, 0.8-1.2: 2, 1.2-2.0: 1
    rec1 sad: r2 3.0-3.5;  rec2 anger: r1 0.0-1.0, r2 1.0-2.0 (touching, never 2 at once)
    rec2 other (excluded): r3 0.0-2.0
    """
    rows = [
        ("rec1", "r1", "anger", 0.0, 1.0),
        ("rec1", "r1", "anger", 0.5, 1.2),
        ("rec1", "r2", "anger", 0.3, 0.8),
        ("rec1", "r3", "anger", 0.7, 2.0),
        ("rec1", "r2", "sad", 3.0, 3.5),
        ("rec2", "r1", "anger", 0.0, 1.0),
        ("rec2", "r2", "anger", 1.0, 2.0),
        ("rec2", "r3", "other", 0.0, 2.0),
    ]
    return pd.DataFrame(rows, columns=["item", "rater", "label", "start", "end"])


@pytest.mark.parametrize(
    ("level", "segments", "kept", "supporting"),
    [
        (1, [("rec1", 0.0, 2.0), ("rec1", 3.0, 3.5), ("rec2", 0.0, 2.0)], [True, True, True], 7),
        (2, [("rec1", 0.3, 1.2), ("rec1", 3.0, 3.5), ("rec2", 0.0, 2.0)], [True, False, False], 4),
        (3, [("rec1", 0.7, 0.8), ("rec1", 3.0, 3.5), ("rec2", 0.0, 2.0)], [True, False, False], 4),
        (4, [("rec1", 0.0, 2.0), ("rec1", 3.0, 3.5), ("rec2", 0.0, 2.0)], [False, False, False], 0),
    ],
)
def test_interval_consensus_levels(level, segments, kept, supporting):
    labels = interval_consensus(hand_drawn(), ["anger", "sad"], level=level, excluded=["other"])
    got = list(labels.segments.itertuples(index=False, name=None))
    assert [(r, pytest.approx(a), pytest.approx(b)) for r, a, b in segments] == got
    assert labels.kept.tolist() == kept
    emotions = ["anger", "sad", "anger"]
    assert labels.hard_labels().tolist() == [e for e, k in zip(emotions, kept, strict=True) if k]
    acc = labels.accounting
    assert (acc.ratings_total, acc.ratings_excluded_class, acc.ratings_supporting) == (8, 1, supporting)
    assert acc.items_total == 3 and acc.items_kept == sum(kept)


def test_interval_consensus_refuses_bad_intervals_and_handles_nothing_kept():
    backwards = hand_drawn()
    backwards.loc[2, "end"] = 0.2
    with pytest.raises(InputError, match=r"item 'rec1': start 0.3, end 0.2"):
        interval_consensus(backwards, ["anger", "sad"], excluded=["other"])
    only_excluded = interval_consensus(hand_drawn().query("label == 'other'"), ["anger"], excluded=["other"])
    assert only_excluded.targets.empty and only_excluded.accounting.ratings_excluded_class == 1


def test_interval_consensus_peak_counts_and_ids():
    labels = interval_consensus(hand_drawn(), ["anger", "sad"], level=2, excluded=["other"])
    assert labels.targets.index.tolist() == ["rec1:anger:0.30-1.20", "rec1:sad:3.00-3.50", "rec2:anger:0.00-2.00"]
    assert labels.counts["anger"].tolist() == [3, 0, 1] and labels.counts["sad"].tolist() == [0, 1, 0]


def frame_grid_runs(ratings: pd.DataFrame, level: int, frame: float = 0.01) -> list[tuple]:
    """Direct definition: per frame, the set of raters covering it; runs of >= level raters."""
    runs = []
    for (recording, emotion), group in ratings.groupby(["item", "label"], sort=True):
        last = round(group["end"].max() / frame)
        covering = [set() for _ in range(last + 1)]
        for row in group.itertuples():
            for f in range(round(row.start / frame), round(row.end / frame)):
                covering[f].add(row.rater)
        f = 0
        while f <= last:
            if len(covering[f]) >= level:
                begin = f
                while f <= last and len(covering[f]) >= level:
                    f += 1
                runs.append((recording, emotion, round(begin * frame, 2), round(f * frame, 2)))
            f += 1
    return runs


def test_interval_consensus_matches_frame_by_frame_definition():
    rng = np.random.default_rng(11)
    n = 120
    start = rng.integers(0, 500, n) / 100
    ratings = pd.DataFrame(
        {
            "item": rng.choice(["ra", "rb", "rc"], n),
            "rater": rng.choice(["u1", "u2", "u3", "u4"], n),
            "label": rng.choice(["joy", "fear"], n),
            "start": start,
            "end": start + rng.integers(1, 150, n) / 100,
        }
    )
    for level in (1, 2, 3, 4):
        labels = interval_consensus(ratings, ["fear", "joy"], level=level)
        kept = labels.segments[labels.kept]
        got = sorted(
            (rec, emotion, a, b)
            for rec, emotion, a, b in zip(
                kept["recording"], labels.hard_labels(), kept["start"].round(2), kept["end"].round(2), strict=True
            )
        )
        assert got == sorted(frame_grid_runs(ratings, level))


def test_intervals_through_make_labels():
    ratings = hand_drawn()
    corpus = Corpus("ramas", pd.DataFrame(index=["rec1", "rec2"]), ratings, ["anger", "sad"], excluded=["other"])
    labels = make_labels(corpus, "intervals", level=3)
    assert labels.segments[labels.kept].to_numpy().tolist() == [["rec1", 0.7, 0.8]]
    assert labels.options["level"] == 3
    with pytest.raises(ConfigError, match="no time-interval ratings"):
        make_labels(small_corpus(), "intervals")
    with pytest.raises(VoxpopError, match="needs rater ids"):
        make_labels(msp_corpus(rater_ids=False), "intervals")


# ---------------------------------------------------------------- CLI
def test_cli_labels_and_accounting_table(tmp_path):
    condition_corpus().save(tmp_path / "corpus")
    out = tmp_path / "out" / "voice_mr.parquet"
    runner = CliRunner()
    result = runner.invoke(
        app, ["labels", str(tmp_path / "corpus"), "--rule", "mr", "--condition", "voice", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "data loss" in result.output and "50.0%" in result.output
    saved = LabelSet.load(out)
    expected = make_labels(condition_corpus(), "mr", condition="voice")
    pd.testing.assert_frame_equal(saved.targets, expected.targets, check_names=False)
    assert saved.accounting == expected.accounting

    result = runner.invoke(app, ["labels", str(tmp_path / "corpus"), "--accounting-table", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out.with_name("voice_mr.accounting.csv"))
    assert table[["condition", "rule"]].value_counts().size == 4 * 3
    pd.testing.assert_frame_equal(table, accounting_table(condition_corpus()), check_dtype=False)
    pooled_ar = table.query("condition == 'all' and rule == 'ar'").iloc[0]
    assert (pooled_ar["ratings_total"], pooled_ar["items_kept"]) == (25, 2)


def test_cli_pooled_classes_and_errors(tmp_path):
    condition_corpus().save(tmp_path / "corpus")
    out = tmp_path / "pooled.parquet"
    runner = CliRunner()
    args = ["labels", str(tmp_path / "corpus"), "--rule", "pr", "--pool", "--classes", "A,S,N", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    saved = LabelSet.load(out)
    assert saved.classes == ["A", "S", "N"] and saved.accounting.ratings_excluded_class == 1
    assert saved.counts.loc["c1"].tolist() == [12, 6, 6]
    where = ["--rule", "ar", "--condition", "voice", "--where", "item == 'c2'", "--out", str(out), "--force"]
    assert runner.invoke(app, ["labels", str(tmp_path / "corpus"), *where]).exit_code == 0
    assert LabelSet.load(out).targets.index.tolist() == ["c2"]
    result = runner.invoke(app, ["labels", str(tmp_path / "corpus"), "--rule", "mr", "--out", str(out)])
    assert isinstance(result.exception, ConfigError) and "voice, face, av" in str(result.exception)
    result = runner.invoke(app, ["labels", str(tmp_path / "corpus"), "--out", str(out)])
    assert result.exit_code != 0 and "--rule" in result.output


# ---------------------------------------------------------------- real CREMA-D votes
@pytest.fixture(scope="module")
def cremad(shared_data):
    from voxpop.corpus.formats.cremad import read_cremad

    table = pd.read_csv(shared_data / "crema-d" / "tabulatedVotes.csv")
    return read_cremad(shared_data / "crema-d" / "tabulatedVotes.csv"), table


def test_cremad_rules_per_condition_against_the_csv(cremad):
    corpus, table = cremad
    votes = table[list("ADFHNS")].to_numpy()
    top = votes.max(axis=1)
    prefix = table.iloc[:, 0].astype(str).str[0]
    for code, condition in {"1": "voice", "2": "face", "3": "av"}.items():
        rows = (prefix == code).to_numpy()
        responses = table["numResponses"].to_numpy()[rows]
        majority = top[rows] > responses / 2
        unique_top = (votes[rows] == top[rows, None]).sum(axis=1) == 1
        mr = make_labels(corpus, "mr", condition=condition).accounting
        pr = make_labels(corpus, "pr", condition=condition).accounting
        ar = make_labels(corpus, "ar", condition=condition).accounting
        assert mr.items_total == rows.sum() == 7442
        assert mr.items_kept == majority.sum()
        assert mr.ratings_supporting == top[rows][majority].sum() and mr.ratings_total == responses.sum()
        assert pr.items_kept == unique_top.sum()
        assert pr.ratings_supporting == top[rows][unique_top].sum()
        assert (ar.items_kept, ar.rating_loss) == ((responses > 0).sum(), 0.0)
        assert 0 < pr.data_loss < mr.data_loss < 1


def test_cremad_pooled_counts_are_the_sum_of_conditions(cremad):
    corpus, table = cremad
    pooled = make_labels(corpus, "ar", pool=True).counts
    summed = table.groupby("fileName")[list("ADFHNS")].sum()
    assert pooled.loc[summed.index].to_numpy().tolist() == summed.to_numpy().tolist()


# ---------------------------------------------------------------- the denominator: every rating of the item
def subset_corpus() -> Corpus:
    """Hand-made votes (one rating per row, no rater ids) on a 7-class corpus with an excluded 'other'.

    neu10: neutral x10 + happy x1; wsi: neutral x6, anger x2, disgust x1; ang: anger x7, disgust, neutral;
    fru: frustration x2 + anger x1 (IEMOCAP style); exc: excited x2, neutral x1; oth: other x2 + sad x1.
    """
    votes = {
        "neu10": ["neutral"] * 10 + ["happy"],
        "wsi": ["neutral"] * 6 + ["anger"] * 2 + ["disgust"],
        "ang": ["anger"] * 7 + ["disgust", "neutral"],
        "fru": ["frustration", "frustration", "anger"],
        "exc": ["excited", "excited", "neutral"],
        "oth": ["other", "other", "sad"],
    }
    rows = [(item, label) for item, labels in votes.items() for label in labels]
    classes = ["anger", "disgust", "happy", "neutral", "sad", "frustration", "excited"]
    return Corpus(
        "subset",
        pd.DataFrame(index=list(votes)),
        pd.DataFrame(rows, columns=["item", "label"]),
        classes,
        excluded=["other"],
    )


def kept_labels(labels: LabelSet) -> dict:
    return labels.hard_labels().to_dict()


def test_majority_counts_every_rating_under_a_class_subset():
    corpus = subset_corpus()
    subset = ["anger", "happy", "sad"]
    # neu10: happy 1 of 11; wsi: anger 2 of 9; ang: anger 7 of 9 > 4.5; oth: sad 1 of 3; the rest have no selected top
    assert kept_labels(make_labels(corpus, "mr", classes=subset)) == {"ang": "anger"}
    assert kept_labels(make_labels(corpus, "pr", classes=subset)) == {"ang": "anger"}
    assert kept_labels(make_labels(corpus, "ar", classes=subset, min_agreement=0.6)) == {"ang": "anger"}
    # the old denominator (ratings on selected classes only) makes 10-neutral/1-happy a happy clip
    old = make_labels(corpus, "mr", classes=subset, denominator="selected")
    assert kept_labels(old) == {"neu10": "happy", "wsi": "anger", "ang": "anger", "fru": "anger", "oth": "sad"}
    assert old.options["denominator"] == "selected"
    old_p_star = make_labels(corpus, "ar", classes=subset, min_agreement=0.6, denominator="selected")
    assert old_p_star.kept.sum() == 5  # every item with a selected rating has one selected class at 100 %


def test_iemocap_four_class_set_drops_a_frustration_majority_and_maps_excited_to_happy():
    corpus = subset_corpus()
    four = ["anger", "happy", "neutral", "sad"]
    labels = make_labels(corpus, "mr", classes=four)
    # fru: frustration 2 of 3 wins, not a selected class -> dropped; exc: excited 2 of 3 -> dropped
    assert kept_labels(labels) == {"neu10": "neutral", "wsi": "neutral", "ang": "anger"}
    mapped = make_labels(corpus, "mr", classes=four, class_map={"excited": "happy"})
    assert kept_labels(mapped) == {"neu10": "neutral", "wsi": "neutral", "ang": "anger", "exc": "happy"}
    assert mapped.counts.loc["exc"].tolist() == [0, 2, 1, 0]  # excited counted as happy before the winner
    assert mapped.accounting.ratings_excluded_class == 2 + 2 + 2  # disgust x2, frustration x2, other x2


def test_two_of_three_raters_choosing_other_drop_the_item():
    corpus = subset_corpus()
    for rule in ("mr", "pr"):
        assert not make_labels(corpus, rule).kept["oth"]  # other 2 of 3 is the winner, not a class
    assert make_labels(corpus, "mr", denominator="selected").hard_labels()["oth"] == "sad"
    ar = make_labels(corpus, "ar")
    assert ar.kept["oth"] and ar.targets.loc["oth", "sad"] == 1.0  # AR: distribution over the classes


def test_plurality_finds_the_winner_among_all_labels():
    counts = pd.DataFrame([[3, 1], [2, 2], [3, 0], [1, 0]], index=list("wxyz"), columns=["a", "b"])
    outside = pd.DataFrame({"o": [2, 1, 3, 0], "p": [0, 0, 0, 2]}, index=list("wxyz"))
    labels = plurality(counts, excluded=outside)
    assert labels.kept.tolist() == [True, False, False, False]  # y: a 3 ties o 3; z: p 2 beats a 1
    assert plurality(counts, "first", excluded=outside).kept.tolist() == [True, True, True, False]
    assert plurality(counts, "all", excluded=outside).targets.loc["x"].tolist() == [1.0, 1.0]
    per_item = outside.sum(axis=1)
    with pytest.raises(ConfigError, match="per-label counts"):
        plurality(counts, excluded=per_item)
    assert plurality(counts, excluded=per_item, denominator="selected").kept.tolist() == [True, False, True, True]


def test_agreement_filters_use_all_ratings_and_need_a_selected_winner():
    counts = pd.DataFrame([[6, 0], [3, 1], [3, 0]], index=["x", "y", "z"], columns=["a", "b"])
    outside = pd.DataFrame({"o": [4, 0, 4]}, index=["x", "y", "z"])
    # x: a 6 of 10; y: a 3 of 4; z: a 3 of 7 and o 4 > 3
    assert filter_agreement(counts, 0.6, excluded=outside).kept.tolist() == [True, True, False]
    assert filter_agreement(counts, 0.4, excluded=outside).kept.tolist() == [True, True, False]
    assert filter_agreement(counts, min_raters_agree=3, excluded=outside).kept.tolist() == [True, True, False]
    old = filter_agreement(counts, 0.6, excluded=outside, denominator="selected")
    assert old.kept.tolist() == [True, True, True]


def test_min_selected_share_drops_and_counts():
    corpus = subset_corpus()
    subset = ["anger", "happy", "sad"]
    plain = make_labels(corpus, "ar", classes=subset)
    assert plain.targets.loc["neu10", "happy"] == 1.0  # AR: the published distribution over selected classes
    shared = make_labels(corpus, "ar", classes=subset, min_selected_share=0.5)
    # selected shares: neu10 1/11, wsi 2/9, ang 7/9, fru 1/3, exc 0 (not kept anyway), oth 1/3
    assert shared.kept[shared.kept].index.tolist() == ["ang"]
    assert shared.accounting.items_below_selected_share == 4
    assert plain.accounting.items_kept - shared.accounting.items_kept == 4
    with pytest.raises(ConfigError, match="min_selected_share applies to rules ar, ar-test, primary, secondary"):
        make_labels(corpus, "mr", min_selected_share=0.5)
    with pytest.raises(ConfigError, match=r"min_selected_share = 1.5: expected a number in \(0, 1\]"):
        make_labels(corpus, "ar", min_selected_share=1.5)


def test_accounting_table_names_denominator_and_pooling():
    table = accounting_table(subset_corpus(), classes=["anger", "happy", "sad"])
    assert table["denominator"].tolist() == ["all", "all", "all"]  # AR: used by its agreement filters only
    assert table.set_index("rule").loc["mr", "items_kept"] == 1
    old = accounting_table(subset_corpus(), classes=["anger", "happy", "sad"], denominator="selected")
    assert old["denominator"].tolist() == ["selected", "selected", "selected"]
    assert old.set_index("rule").loc["mr", "items_kept"] == 5
    pooled = accounting_table(condition_corpus(), ["mr"], pooling="mean")
    assert pooled["pooling"].tolist() == ["-", "-", "-", "mean"]


def test_cli_labels_denominator_class_map_and_consensus(tmp_path):
    corpus = subset_corpus()
    released = ["neutral", "sad", "anger", "frustration", "excited", None]  # wsi: neutral 6 of 9, released sad
    corpus.items["consensus_class"] = pd.array(released, dtype="string")
    corpus.save(tmp_path / "corpus")
    out = tmp_path / "mr.parquet"
    runner = CliRunner()
    base = ["labels", str(tmp_path / "corpus"), "--rule", "mr", "--classes", "anger,happy,neutral,sad"]
    result = runner.invoke(
        app, [*base, "--class-map", "excited=happy", "--consensus", "consensus_class", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "denominator" in result.output and "5 of 6 (83.3%)" in result.output
    table = pd.read_csv(out.with_name("mr.consensus.csv"), index_col="item", keep_default_na=False)
    # fru: frustration is outside the class set, both drop it; exc: 'excited' maps to happy like the ratings;
    # oth: no consensus, and MR drops it (other 2 of 3)
    assert table.loc[~table["agree"]].index.tolist() == ["wsi"]
    assert table.loc["wsi", ["expected", "rule", "outcome"]].tolist() == ["sad", "neutral", "other class"]
    assert table.loc["fru", "outcome"] == "both dropped" and table.loc["exc", "rule"] == "happy"
    selected = ["--denominator", "selected", "--min-raters-agree", "2", "--out", str(out), "--force"]
    result = runner.invoke(app, [*base, *selected])
    assert result.exit_code == 0, result.output
    assert LabelSet.load(out).options["min_raters_agree"] == 2
    result = runner.invoke(app, [*base, "--threshold", "0.3", "--out", str(out)])
    assert isinstance(result.exception, ConfigError) and "threshold applies to rules likert" in str(result.exception)


# ---------------------------------------------------------------- pooling conditions: sum or mean
def pooling_corpus() -> Corpus:
    """METHODS.md pooling example on p1 (voice A,N + face A*6,S*2); p2: voice N*8,A*2 + face A*2."""
    votes = {("p1", "voice"): "AN", ("p1", "face"): "AAAAAASS", ("p2", "voice"): "NNNNNNNNAA", ("p2", "face"): "AA"}
    rows = [(item, cond, label) for (item, cond), labels in votes.items() for label in labels]
    ratings = pd.DataFrame(rows, columns=["item", "condition", "label"])
    return Corpus("pool", pd.DataFrame(index=["p1", "p2"]), ratings, classes=["A", "S", "N"])


def test_pooling_sum_and_mean_by_hand():
    corpus = pooling_corpus()
    summed = make_labels(corpus, "ar", pool=True)
    np.testing.assert_allclose(summed.targets.loc["p1"], [0.7, 0.2, 0.1])
    mean = make_labels(corpus, "ar", pool=True, pooling="mean")
    np.testing.assert_allclose(mean.targets.loc["p1"], [0.625, 0.125, 0.25])
    assert mean.options["pooling"] == "mean" and mean.counts.loc["p1"].tolist() == [7, 2, 1]  # counts stay votes
    # p2: sum A 4/12, N 8/12 -> N; mean A (0.2 + 1) / 2 = 0.6, N 0.4 -> A
    assert make_labels(corpus, "mr", pool=True).hard_labels().to_dict() == {"p1": "A", "p2": "N"}
    assert make_labels(corpus, "mr", pool=True, pooling="mean").hard_labels().to_dict() == {"p1": "A", "p2": "A"}
    assert make_labels(corpus, "pr", pool=True, pooling="mean").hard_labels().to_dict() == {"p1": "A", "p2": "A"}
    # P* at 0.6: sum p1 A .7 kept, p2 N 8/12 kept; mean p1 A .625, p2 A .6 kept
    assert make_labels(corpus, "ar", pool=True, pooling="mean", min_agreement=0.62).kept.tolist() == [True, False]
    assert make_labels(corpus, "ar", condition="voice", pooling="mean").options["pooling"] is None  # nothing pooled


def test_pooling_mean_weights_conditions_an_item_was_rated_in():
    ratings = pd.DataFrame({"item": ["q"] * 3, "condition": ["voice", "voice", "face"], "label": ["A", "S", "A"]})
    ratings = pd.concat([ratings, pd.DataFrame({"item": ["r"], "condition": ["voice"], "label": ["S"]})])
    corpus = Corpus("pool", pd.DataFrame(index=["q", "r"]), ratings, classes=["A", "S"])
    mean = make_labels(corpus, "ar", pool=True, pooling="mean")
    np.testing.assert_allclose(mean.targets.to_numpy(), [[0.75, 0.25], [0.0, 1.0]])  # r: voice only


# ---------------------------------------------------------------- real-format field cases (../shared/field-cases)
@pytest.fixture(scope="module")
def iemocap_case(shared_data):
    """Field case 09 (beside the shared data folder): IEMOCAP EmoEvaluation lines in the real layout."""
    from voxpop.corpus.formats.iemocap import read_iemocap

    folder = shared_data.parent / "field-cases" / "09-iemocap-emoevaluation-quirks" / "IEMOCAP"
    if not folder.is_dir():
        pytest.skip(f"field case {folder} is absent")
    return read_iemocap(folder)


def test_iemocap_four_class_majority_against_the_released_consensus(iemocap_case):
    from voxpop.labels.consensus import compare_consensus

    four = ["neutral", "anger", "sadness", "happiness"]
    labels = make_labels(iemocap_case, "mr", classes=four)
    short = {item[-4:]: kept for item, kept in labels.kept.items()}
    # F000 3 x neutral; F001 frustration 2 of 3 (released fru); F002 other / excited / happiness (xxx);
    # M000 other 2 of 3 (released oth): only F000 (and F003 when its self-evaluation is set aside) are 4-class items
    assert short["F000"] and not (short["F001"] or short["F002"] or short["M000"])
    table = compare_consensus(labels, iemocap_case.items["consensus_class"])
    outcome = {item[-4:]: value for item, value in table["outcome"].items()}
    assert outcome["F000"] == "same class"
    assert outcome["F001"] == outcome["F002"] == outcome["M000"] == "both dropped"
    old = make_labels(iemocap_case, "mr", classes=four, denominator="selected")
    assert {item[-4:]: c for item, c in old.hard_labels().items()}["F001"] == "anger"  # the pre-fix relabelling


def test_field_case_17_class_subset_on_cremad_votes(shared_data):
    from voxpop.corpus.formats.cremad import read_cremad

    path = shared_data.parent / "field-cases" / "17-majority-after-class-subset" / "tabulatedVotes.csv"
    if not path.is_file():
        pytest.skip(f"field case {path} is absent")
    corpus = read_cremad(path)
    subset = {"condition": "voice", "classes": ["anger", "happy", "sad"]}
    # NEU_XX: happy 1 of 11; WSI_SAD_XX: anger 2 of 9; DFA_ANG_XX: anger 7 of 9
    for rule, options in (("mr", {}), ("pr", {}), ("primary", {"min_agreement": 0.6})):
        labels = make_labels(corpus, rule, **subset, **options)
        assert labels.hard_labels().to_dict() == {"1001_DFA_ANG_XX": "anger"}, rule
        assert (labels.accounting.ratings_total, labels.accounting.ratings_excluded_class) == (29, 19)
