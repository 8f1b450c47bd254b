"""Property test: for every importer and every label rule, nothing is invented and nothing is lost.

Hypothesis writes small valid rating files of each format (random items, raters and answers, free-text
"Other: ..." answers included), imports them and applies every label rule that reads a slot the corpus has.
Checked against the generated answers themselves (not against voxpop):

- import: the corpus holds exactly one rating per generated answer (a CREMA-D vote count of n is n ratings),
  each with the label the file gave it (free text read as ``other``);
- nothing invented: a label set never gives an item a class that no rating of that item carries (every rule but
  the learned ones, whose rater models may);
- nothing lost: a counting rule's ratings in = ratings on classes (``counts``) + excluded ratings, and its
  ``ratings_total`` is the number of the item's ratings in the rule's slot counted in the file.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hypothesis_strength import examples
from voxpop.core.errors import ConfigError
from voxpop.corpus.corpus import Corpus
from voxpop.corpus.formats.cremad import read_cremad
from voxpop.corpus.formats.intervals import read_intervals
from voxpop.corpus.formats.likert import read_likert
from voxpop.corpus.formats.long import read_long
from voxpop.labels.registry import REGISTRY
from voxpop.labels.rules import make_labels

PROPERTY = settings(
    derandomize=True,
    deadline=None,
    max_examples=examples(15),  # a few in the quick suite (hypothesis_strength)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LABELS = ("anger", "sad", "happy", "Other: bored", "Other - tired")
LEVELS = ("None", "A little", "Moderate", "Extremely")
CODES = {"A": "anger", "D": "disgust", "F": "fear", "H": "happy", "N": "neutral", "S": "sad"}
# Learned rules (dawid-skene, glad, mace) are left out: their posteriors come from a model of the raters, which
# may put an item's mass on a class none of its raters chose (Dawid-Skene on u1 sad, u2 anger by one rater
# gives u1 anger: the label-swapped confusion matrix is as likely), so "nothing invented" is not their contract.
COUNTING_RULES = [name for name, rule in REGISTRY.items() if not rule.learned]


def canonical(label: str) -> str:
    return "other" if label.lower().startswith("other") and len(label) > 5 else label


def check_rules(corpus: Corpus, answers: pd.DataFrame) -> None:
    """Every applicable rule on ``corpus``; ``answers``: item, slot, label (canonical) of every generated rating."""
    slots = set(answers["slot"])
    for name in COUNTING_RULES:
        rule = REGISTRY[name]
        if name == "intervals" or not set(rule.slots) <= slots or (rule.rater_ids and not corpus.has_rater_ids):
            continue
        labels = make_labels(corpus, name, pool=True)
        slot = rule.slots[0]
        mine = answers[answers["slot"].eq(slot)]
        carried = mine.groupby("item")["label"].apply(set)
        given = labels.kept_targets.gt(0)
        for item, row in given.iterrows():
            invented = set(row.index[row.to_numpy()]) - carried.get(item, set())
            assert not invented, f"rule {name}: item {item} gets {invented}, which no rating of it carries"
        if slot in ("primary",):  # counting rules: every rating is a class vote or an excluded rating
            acc = labels.accounting
            assert acc.ratings_total == len(mine), name
            assert int(labels.counts.to_numpy().sum()) + acc.ratings_excluded_class == acc.ratings_total, name
            per_item = labels.counts.sum(axis=1)
            assert (per_item <= mine.groupby("item").size().reindex(per_item.index, fill_value=0)).all(), name


def check_import(corpus: Corpus, answers: pd.DataFrame) -> None:
    """One rating per answer, with the answer's (canonical) label, per item and slot."""
    got = Counter(zip(corpus.ratings["item"], corpus.ratings["slot"], corpus.ratings["label"], strict=True))
    assert got == Counter(zip(answers["item"], answers["slot"], answers["label"], strict=True))


# ---------------------------------------------------------------------------- generated files
ITEMS = st.lists(st.sampled_from(["u1", "u2", "u3", "u4"]), min_size=1, max_size=4, unique=True)


@st.composite
def long_tables(draw):
    """Per (item, rater): one primary answer and 0-2 secondary labels, free-text answers among them (the first
    answer a class, so the corpus has one)."""
    rows = []
    for item in draw(ITEMS):
        for rater in draw(st.lists(st.sampled_from(["r1", "r2", "r3", "r4", "r5"]), min_size=1, max_size=5,
                                   unique=True)):  # fmt: skip
            rows.append((item, rater, "primary", draw(st.sampled_from(LABELS[:3] if not rows else LABELS))))
            for label in draw(st.lists(st.sampled_from(LABELS), max_size=2, unique_by=canonical)):
                rows.append((item, rater, "secondary", label))  # two free texts of one rater: one 'other'
    return pd.DataFrame(rows, columns=["item", "rater", "slot", "label"])


@PROPERTY
@given(table=long_tables())
def test_long_tables_keep_every_rating_and_rules_invent_nothing(table):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "votes.csv"
        table.to_csv(path, index=False)
        corpus = read_long(path)
    answers = table.assign(label=table["label"].map(canonical))
    check_import(corpus, answers)
    check_rules(corpus, answers)


@PROPERTY
@given(data=st.data())
def test_crema_d_vote_counts_keep_every_vote_and_rules_invent_nothing(data):
    rows, answers = [], []
    for n, clip in enumerate(data.draw(st.lists(st.sampled_from(["1001_IEO_NEU_XX", "1002_DFA_ANG_HI",
                                                                  "1003_TIE_SAD_LO"]), min_size=1, unique=True))):
        for condition in data.draw(st.lists(st.sampled_from([1, 2, 3]), min_size=1, unique=True)):
            votes = data.draw(st.lists(st.integers(0, 4), min_size=6, max_size=6).filter(lambda v: sum(v) > 0))
            rows.append({"": f"{condition}{n:05d}", **dict(zip(CODES, votes, strict=True)), "fileName": clip,
                         "numResponses": sum(votes)})  # fmt: skip
            answers += [(clip, "primary", CODES[c]) for c, k in zip(CODES, votes, strict=True) for _ in range(k)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tabulatedVotes.csv"
        pd.DataFrame(rows).to_csv(path, index=False)
        corpus = read_cremad(path)
    answers = pd.DataFrame(answers, columns=["item", "slot", "label"])
    check_import(corpus, answers)
    check_rules(corpus, answers)


@PROPERTY
@given(data=st.data())
def test_likert_ratings_keep_every_cell_and_rules_invent_nothing(data):
    rows = []
    for item in data.draw(ITEMS):
        for rater in data.draw(st.lists(st.sampled_from(["r1", "r2", "r3"]), min_size=1, unique=True)):
            rows.append({"clip": item, "annotator": rater, "joy": data.draw(st.sampled_from(LEVELS)),
                         "anger": data.draw(st.sampled_from(LEVELS))})  # fmt: skip
    table = pd.DataFrame(rows)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "likert.csv"
        table.to_csv(path, index=False)
        corpus = read_likert(path, "clip", "annotator", ["joy", "anger"])
    long = table.melt(id_vars=["clip", "annotator"], var_name="label", value_name="level")
    check_import(corpus, long.assign(item=long["clip"], slot="intensity"))
    labels = make_labels(corpus, "likert", pool=True)
    # nothing invented: a class is given only where some rater rated that emotion above None
    rated = long[long["level"].ne("None")].groupby("clip")["label"].apply(set)
    for item, row in labels.kept_targets.gt(0).iterrows():
        assert set(row.index[row.to_numpy()]) <= rated.get(item, set())
    with pytest.raises(ConfigError, match="no ratings in slot 'primary'"):
        make_labels(corpus, "mr")


@PROPERTY
@given(data=st.data())
def test_interval_annotations_keep_every_interval_and_invent_nothing(data):
    rows = []
    for rater in data.draw(st.lists(st.sampled_from(["r1", "r2", "r3"]), min_size=1, unique=True)):
        for start in data.draw(st.lists(st.integers(0, 8), min_size=1, max_size=3, unique=True)):
            rows.append(("rec1", rater, data.draw(st.sampled_from(LABELS)), float(start), float(start + 2)))
    table = pd.DataFrame(rows, columns=["recording", "rater", "label", "start", "end"])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "intervals.csv"
        table.to_csv(path, index=False)
        corpus = read_intervals(path)
    answers = pd.DataFrame({"item": table["recording"], "slot": "primary", "label": table["label"].map(canonical)})
    check_import(corpus, answers)
    if not corpus.classes:
        return
    labels = make_labels(corpus, "intervals")
    for segment, row in labels.kept_targets.gt(0).iterrows():
        where = labels.segments.loc[segment]
        overlapping = table[(table["start"] < where["end"]) & (table["end"] > where["start"])]
        carried = set(overlapping["label"].map(canonical))
        assert set(row.index[row.to_numpy()]) <= carried
    assert np.isfinite(labels.targets.to_numpy()).all()
