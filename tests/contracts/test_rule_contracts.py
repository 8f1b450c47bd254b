"""Contract checks of every label rule of :data:`voxpop.labels.registry.REGISTRY` (issue #22, item 7).

In the manner of scikit-learn's ``parametrize_with_checks``: each check is parametrized over the registry
itself, so a new rule is picked up by every check; :data:`EXAMPLES` is the one place a new rule names the
hand-made corpus (and options) it is checked on, and :func:`test_every_rule_has_an_example` fails until it
does. The checks: targets are distributions (single-label) or in [0, 1] (multi-label) for kept items and zero
for dropped ones; kept items are corpus items (segments of corpus recordings for interval rules); the
accounting agrees with the targets (data loss = 1 - kept / items); the label set survives save -> load; the
same call (seed included) gives the same label set; an unknown option or a bad value is a ConfigError; the
rule has a row in the docs table.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from voxpop.core.errors import ConfigError
from voxpop.corpus.corpus import Corpus
from voxpop.labels.labelset import LabelSet
from voxpop.labels.registry import OPTIONS, REGISTRY
from voxpop.labels.rules import make_labels

DOCS = Path(__file__).resolve().parents[2] / "docs" / "labels-and-agreement.md"


def votes_corpus() -> Corpus:
    """Primary choices of four raters on five clips over classes A, S, N (O excluded).

    v1 clear A (3 of 4), v2 tied A / S, v3 all N, v4 one of each class plus O, v5 two O, v6 only O: every rule
    keeps some items and drops others."""
    choices = {"v1": "AAAS", "v2": "AASS", "v3": "NNNN", "v4": "ASNO", "v5": "OOAS", "v6": "OOOO"}
    rows = [(item, f"r{k}", "primary", label) for item, labels in choices.items() for k, label in enumerate(labels)]
    ratings = pd.DataFrame(rows, columns=["item", "rater", "slot", "label"])
    return Corpus("votes", pd.DataFrame(index=list(choices)), ratings, classes=["A", "S", "N"], excluded=["O"])


def lists_corpus() -> Corpus:
    """Primary choices and secondary (multi-choice) lists of four raters on four clips (MSP-Podcast style); m4 is
    rated other (O, excluded) only."""
    primaries = {"m1": "NNSN", "m2": "HSHU", "m3": "SSSH", "m4": "OOOO"}
    lists = {"m1": ["NS", "NO", "SU", "NSO"], "m2": ["HS", "S", "HU", "U"], "m3": ["S", "SH", "H", "HS"]}
    lists["m4"] = ["O", "O", "O", "O"]
    rows = []
    for item, choices in primaries.items():
        for k, choice in enumerate(choices):
            rows.append((item, f"r{k}", "primary", choice))
            rows += [(item, f"r{k}", "secondary", label) for label in lists[item][k]]
    ratings = pd.DataFrame(rows, columns=["item", "rater", "slot", "label"])
    return Corpus("lists", pd.DataFrame(index=list(primaries)), ratings, classes=["N", "S", "U", "H"], excluded=["O"])


def likert_corpus() -> Corpus:
    """Three raters' intensities (0..3) of happy and sad on four clips; clip d is all zeros."""
    values = {
        "a": {"happy": [1, 0, 0], "sad": [3, 2, 1]},
        "b": {"happy": [0, 0, 0], "sad": [0, 0, 0]},
        "c": {"happy": [3, 3, 3], "sad": [0, 1, 0]},
        "d": {"happy": [2, 1, 3], "sad": [1, 2, 0]},
    }
    rows = [
        (item, f"r{k}", "intensity", emotion, value)
        for item, emotions in values.items()
        for emotion, given in emotions.items()
        for k, value in enumerate(given)
    ]
    ratings = pd.DataFrame(rows, columns=["item", "rater", "slot", "label", "value"])
    return Corpus("likert", pd.DataFrame(index=list(values)), ratings, ["happy", "sad"], scales={"intensity": (0, 3)})


def intervals_corpus() -> Corpus:
    """Three raters marking anger / sad (other excluded) in two recordings, in seconds."""
    rows = [
        ("rec1", "r1", "anger", 0.0, 1.0),
        ("rec1", "r2", "anger", 0.3, 0.8),
        ("rec1", "r3", "anger", 0.7, 2.0),
        ("rec1", "r2", "sad", 3.0, 3.5),
        ("rec2", "r1", "anger", 0.0, 1.0),
        ("rec2", "r2", "anger", 1.0, 2.0),
        ("rec2", "r3", "other", 0.0, 2.0),
    ]
    ratings = pd.DataFrame(rows, columns=["item", "rater", "label", "start", "end"])
    return Corpus("intervals", pd.DataFrame(index=["rec1", "rec2"]), ratings, ["anger", "sad"], excluded=["other"])


EXAMPLES: dict[str, tuple[object, dict]] = {
    "mr": (votes_corpus, {}),
    "pr": (votes_corpus, {"tie_policy": "random", "seed": 3}),
    "ar": (votes_corpus, {}),
    "ar-test": (votes_corpus, {}),
    "primary": (lists_corpus, {"min_agreement": 0.5}),
    "secondary": (lists_corpus, {}),
    "likert": (likert_corpus, {"threshold": 0.4}),
    "intervals": (intervals_corpus, {"level": 2}),
    "dawid-skene": (votes_corpus, {"seed": 1}),
    "glad": (votes_corpus, {"seed": 1}),
    "mace": (votes_corpus, {"seed": 1, "form": "multi-hot"}),
}
"""Rule -> (hand-made corpus builder, options): the one place a new rule adds its example."""

RULES = sorted(REGISTRY)
SLOW = {"mace"}
"""Rules whose example takes seconds (MACE's EM restarts, even on six clips): every check that computes their
label set is marked slow."""
COMPUTED = [pytest.param(r, marks=pytest.mark.slow) if r in SLOW else r for r in RULES]
COMPUTED_TWICE = [pytest.param(r, marks=pytest.mark.slow) if r in SLOW or REGISTRY[r].learned else r for r in RULES]
"""The rules for checks that compute a label set (twice: learned rules marked slow too)."""


def _fresh_labels(rule: str) -> tuple[Corpus, LabelSet]:
    build, options = EXAMPLES[rule]
    corpus = build()
    return corpus, make_labels(corpus, rule, **options)


_labels = functools.cache(_fresh_labels)
"""The example's corpus and label set, computed once per rule (the checks only read them)."""


def _assert_same(a: LabelSet, b: LabelSet) -> None:
    pd.testing.assert_frame_equal(a.targets, b.targets)
    pd.testing.assert_series_equal(a.kept, b.kept, check_names=False)
    pd.testing.assert_frame_equal(a.counts, b.counts)
    assert (a.rule, a.accounting, a.multilabel, a.options) == (b.rule, b.accounting, b.multilabel, b.options)
    for name in ("segments", "raters"):
        left, right = getattr(a, name), getattr(b, name)
        assert (left is None) == (right is None), name
        if left is not None:
            pd.testing.assert_frame_equal(left, right, check_freq=False)


def test_every_rule_has_an_example():
    assert sorted(EXAMPLES) == RULES, "add the new rule's example corpus and options to EXAMPLES"


@pytest.mark.parametrize("rule", COMPUTED)
def test_targets_are_distributions_or_multi_hot_for_kept_items(rule):
    _, labels = _labels(rule)
    assert labels.multilabel == REGISTRY[rule].is_multilabel(EXAMPLES[rule][1])
    targets, kept = labels.targets.to_numpy(), labels.kept.to_numpy(dtype=bool)
    assert labels.targets.index.equals(labels.kept.index) and labels.counts.index.equals(labels.kept.index)
    assert 0 < kept.sum() < len(kept), "the example should keep some items and drop others"
    assert ((targets >= 0) & (targets <= 1)).all()
    assert (targets[~kept] == 0).all(), "a dropped item's target row is all zero"
    if labels.multilabel:
        assert (targets[kept].sum(axis=1) > 0).all(), "a kept multi-hot row holds at least one class"
    else:
        np.testing.assert_allclose(targets[kept].sum(axis=1), 1.0, rtol=0, atol=1e-9)


@pytest.mark.parametrize("rule", COMPUTED)
def test_kept_items_are_corpus_items_and_the_accounting_agrees(rule):
    corpus, labels = _labels(rule)
    items = set(corpus.items.index)
    if labels.segments is not None:  # interval rules: the items are segments of the corpus's recordings
        assert set(labels.segments["recording"]) <= items
        assert (labels.segments["start"] < labels.segments["end"]).all()
    else:
        assert set(labels.targets.index) <= items
    a = labels.accounting
    assert a.items_total == len(labels.targets)
    assert a.items_kept == int(labels.kept.sum())
    assert a.data_loss == pytest.approx(1 - a.items_kept / a.items_total)
    assert 0 <= a.ratings_supporting <= a.ratings_total <= len(corpus.ratings)
    assert a.rating_loss == pytest.approx(1 - a.ratings_supporting / a.ratings_total)


@pytest.mark.parametrize("rule", COMPUTED)
def test_label_set_survives_save_and_load(rule, tmp_path):
    _, labels = _labels(rule)
    _assert_same(LabelSet.load(labels.save(tmp_path / f"{rule}.parquet")), labels)


@pytest.mark.parametrize("rule", COMPUTED_TWICE)
def test_same_call_gives_the_same_label_set(rule):
    _, first = _labels(rule)
    _, second = _fresh_labels(rule)
    _assert_same(first, second)


@pytest.mark.parametrize("rule", RULES)
def test_unknown_option_misplaced_option_and_bad_values_are_config_errors(rule):
    corpus = EXAMPLES[rule][0]()
    with pytest.raises(ConfigError, match="unknown label rule option 'no_such_option'"):
        make_labels(corpus, rule, no_such_option=1)
    for foreign in (o for o in OPTIONS.values() if o.name not in REGISTRY[rule].options):  # valid, not a default
        given = next(c for c in foreign.choices if c != foreign.default) if foreign.choices else foreign.high or 2
        with pytest.raises(ConfigError, match=f"option {foreign.name} applies to rules"):
            make_labels(corpus, rule, **{foreign.name: given})
    for name in REGISTRY[rule].options:
        with pytest.raises(ConfigError, match=f"option {name} = 'not valid': expected"):
            make_labels(corpus, rule, **{name: "not valid"})


@pytest.mark.parametrize("rule", RULES)
def test_rule_has_a_row_in_the_docs_table(rule):
    rows = re.findall(r"^\| `([^`]+)` \|", DOCS.read_text(), re.M)
    assert rule in rows, f"{DOCS.name}: no row for rule {rule!r} (regenerate the rules table)"
