"""Free-text "Other: ..." answers in per-rater exports are read as the label 'other' (counted, texts listed) unless
kept; like every rating they count in every rule's denominator, and 'other' is a class only when listed."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from voxpop.cli.app import app
from voxpop.corpus.corpus import Corpus
from voxpop.corpus.formats.intervals import read_intervals
from voxpop.corpus.formats.long import read_long
from voxpop.labels.rules import make_labels

ROWS = [  # u1: 2 happy + 3 free texts; u2: 3 sad
    ("u1", "r1", "happy"), ("u1", "r2", "happy"), ("u1", "r3", "Other: bored"), ("u1", "r4", "Other: bored"),
    ("u1", "r5", "Other - tired"), ("u2", "r1", "sad"), ("u2", "r2", "sad"), ("u2", "r3", "sad"),
]  # fmt: skip


@pytest.fixture()
def table(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("item,rater,label\n" + "".join(f"{i},{r},{label}\n" for i, r, label in ROWS))
    return path


def test_free_text_is_read_as_other_and_counts_in_the_denominator(table):
    corpus = read_long(table)
    assert corpus.classes == ["happy", "sad"] and corpus.excluded == ["other"]
    assert corpus.ratings["label"].tolist() == ["happy", "happy", "other", "other", "other", "sad", "sad", "sad"]
    assert "read as the label 'other': 3 (Other: bored 2, Other - tired 1)" in corpus.description
    mr = make_labels(corpus, "mr")
    # by hand: u1 happy 2 of 5 ratings (not > 1/2) -> no majority; u2 sad 3 of 3
    assert mr.kept.to_dict() == {"u1": False, "u2": True}
    assert mr.accounting.ratings_total == 8 and mr.accounting.ratings_excluded_class == 3  # nothing lost
    ar = make_labels(corpus, "ar", denominator="all")
    assert ar.targets.loc["u1", "happy"] == pytest.approx(1.0)  # AR's distribution is over the classes only
    assert ar.accounting.ratings_excluded_class == 3


def test_other_is_a_class_only_when_listed(table):
    corpus = read_long(table, classes=["happy", "sad", "other"])
    assert corpus.classes == ["happy", "sad", "other"] and corpus.excluded == []
    assert make_labels(corpus, "mr").targets.loc["u1"].tolist() == [0.0, 0.0, 1.0]  # other 3 of 5


def test_keep_free_text_keeps_every_text(table, tmp_path):
    kept = read_long(table, keep_free_text=True)
    assert kept.classes == ["Other - tired", "Other: bored", "happy", "sad"]
    assert "kept as labels of their own: 3" in kept.description
    result = CliRunner().invoke(app, ["import", "long", str(table), "--keep-free-text", "--out", str(tmp_path / "k")])
    assert result.exit_code == 0, result.output
    assert Corpus.load(tmp_path / "k").classes == kept.classes
    result = CliRunner().invoke(app, ["import", "long", str(table), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0 and Corpus.load(tmp_path / "o").excluded == ["other"]


def test_interval_annotations_read_free_text_too(tmp_path):
    path = tmp_path / "intervals.csv"
    path.write_text("recording,rater,label,start,end\nrec1,r1,anger,0,1\nrec1,r2,Other: sarcasm,0,1\n")
    corpus = read_intervals(path)
    assert corpus.classes == ["anger"] and corpus.excluded == ["other"]
    assert corpus.ratings["label"].tolist() == ["anger", "other"]
