"""Learned aggregation: equal to crowd-kit's own output; better than the majority rule with unreliable raters."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from voxpop.core.errors import ConfigError, InputError, VoxpopError
from voxpop.labels.learned import fit_posteriors, learned_labels

CLASSES = ["anger", "happy", "sad"]


def simulated(n_items: int = 120, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """3 reliable raters (90 % right) and 4 near-random ones (40 % right, else a random other label);
    each item is rated by 5 raters. Labels include 'other', which no item truly is."""
    rng = np.random.default_rng(seed)
    labels = [*CLASSES, "other"]
    truth = pd.Series(rng.choice(CLASSES, size=n_items), index=[f"i{k:03d}" for k in range(n_items)])
    accuracy = {"good1": 0.9, "good2": 0.9, "good3": 0.9, "bad1": 0.4, "bad2": 0.4, "bad3": 0.4, "bad4": 0.4}
    rows = []
    for item, true in truth.items():
        for rater in rng.choice(list(accuracy), size=5, replace=False):
            said = true if rng.random() < accuracy[rater] else rng.choice([x for x in labels if x != true])
            rows.append((item, rater, said))
    return pd.DataFrame(rows, columns=["item", "rater", "label"]), truth


def crowdkit_probas(ratings: pd.DataFrame, method: str) -> pd.DataFrame:
    from crowdkit.aggregation import GLAD, MACE, DawidSkene

    model = {"dawid-skene": DawidSkene(), "glad": GLAD(), "mace": MACE(random_state=0)}[method]
    data = ratings.rename(columns={"item": "task", "rater": "worker"}).sort_values(["task", "worker", "label"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(data.reset_index(drop=True)).probas_


SLOW_FITS = [pytest.param(m, marks=pytest.mark.slow) for m in ("glad", "mace")]
"""GLAD (17 s) and MACE (20 s) against crowd-kit run in the full suite; the quick suite still fits them through
voxpop (GLAD: each rule's label set in tests/contracts/test_rule_contracts.py; MACE: the order test below)."""


@pytest.mark.parametrize("method", ["dawid-skene", *SLOW_FITS])
def test_posteriors_equal_crowd_kits_own_output(method):
    ratings, _ = simulated(n_items=16)
    ours = fit_posteriors(ratings, method)
    theirs = crowdkit_probas(ratings, method)
    theirs = theirs.reindex(index=ours.posteriors.index, columns=ours.posteriors.columns)
    np.testing.assert_allclose(ours.posteriors.to_numpy(), theirs.to_numpy(), atol=1e-12)
    assert set(ours.raters.index) == set(ratings["rater"])
    assert ours.raters["n_ratings"].sum() == len(ratings)


def test_dawid_skene_beats_the_majority_rule_with_unreliable_raters():
    ratings, truth = simulated(n_items=300, seed=1)
    labelset, raters = learned_labels(ratings, CLASSES, "dawid-skene", form="argmax")
    ds = labelset.hard_labels()
    votes = ratings.groupby(["item", "label"]).size().unstack(fill_value=0)
    top = votes.to_numpy().max(axis=1, keepdims=True)
    unique = (votes.to_numpy() == top).sum(axis=1) == 1
    plurality = pd.Series(votes.columns.to_numpy()[votes.to_numpy().argmax(axis=1)], index=votes.index)[unique]
    ds_right = (ds == truth.reindex(ds.index)).sum()
    pr_right = (plurality == truth.reindex(plurality.index)).sum()
    assert ds_right >= pr_right + 20  # seeded: DS 285 of 300 right, plurality 245
    # the model finds who is reliable
    good, bad = raters.loc[raters.index.str.startswith("good"), "skill"], raters.loc[
        raters.index.str.startswith("bad"), "skill"]
    assert good.min() > bad.max()


def test_an_item_most_raters_call_other_is_dropped_not_forced_into_a_class():
    ratings = pd.DataFrame(
        {
            "item": ["x"] * 3 + ["y"] * 3 + ["z"] * 3,
            "rater": ["r1", "r2", "r3"] * 3,
            "label": ["other", "other", "anger", "anger", "anger", "sad", "sad", "sad", "happy"],
        }
    )
    labels, _ = learned_labels(ratings, CLASSES, "dawid-skene")
    assert labels.kept.to_dict() == {"x": False, "y": True, "z": True}
    assert labels.targets.loc["x"].sum() == 0.0
    assert labels.targets.loc["y"].sum() == pytest.approx(1.0)
    assert labels.accounting.ratings_excluded_class == 2 and labels.accounting.items_kept == 2


def test_forms_and_accounting_by_hand():
    ratings = pd.DataFrame({"item": ["a", "a", "a", "b", "b", "b"], "rater": ["r1", "r2", "r3"] * 2,
                            "label": ["anger", "anger", "sad", "happy", "happy", "happy"]})
    train, _ = learned_labels(ratings, CLASSES, "dawid-skene")
    argmax, _ = learned_labels(ratings, CLASSES, "dawid-skene", form="argmax")
    multi, _ = learned_labels(ratings, CLASSES, "dawid-skene", form="multi-hot")
    assert np.allclose(train.targets.sum(axis=1), 1.0) and not train.multilabel
    assert argmax.hard_labels().to_dict() == {"a": "anger", "b": "happy"}
    assert multi.multilabel and multi.targets.loc["b"].tolist() == [0.0, 1.0, 0.0]
    assert argmax.counts.loc["a"].tolist() == [2.0, 0.0, 1.0]
    assert argmax.accounting.ratings_supporting == 5  # the sad vote on a does not support anger
    assert argmax.rule == "dawid-skene-argmax" and train.rule == "dawid-skene"


def test_count_only_ratings_and_unknown_options_are_refused():
    ratings = pd.DataFrame({"item": ["a"], "rater": [pd.NA], "label": ["anger"]})
    with pytest.raises(InputError, match="needs rater ids"):
        fit_posteriors(ratings, "dawid-skene")
    with pytest.raises(ConfigError, match="unknown learned aggregation 'wawa'"):
        fit_posteriors(ratings.assign(rater="r"), "wawa")
    with pytest.raises(ConfigError, match="form 'soft'"):
        learned_labels(ratings.assign(rater="r"), CLASSES, "glad", form="soft")


def test_same_input_in_another_order_gives_the_same_labels():
    ratings, _ = simulated(n_items=10, seed=2)
    first, _ = learned_labels(ratings, CLASSES, "mace", seed=3, n_iter=10)
    second, _ = learned_labels(ratings.sample(frac=1.0, random_state=5), CLASSES, "mace", seed=3, n_iter=10)
    pd.testing.assert_frame_equal(first.targets, second.targets)


def test_learned_rules_are_registry_rules_on_a_corpus():
    from typer.testing import CliRunner

    import voxpop.cli
    from voxpop.corpus.corpus import Corpus
    from voxpop.labels.rules import make_labels
    from voxpop.study.recipe import LabelSpec

    ratings, _ = simulated(n_items=12, seed=4)
    ratings = ratings.assign(condition="voice")
    corpus = Corpus("sim", pd.DataFrame(index=sorted(ratings["item"].unique())), ratings, classes=CLASSES,
                    excluded=["other"])
    direct, raters = learned_labels(ratings, CLASSES, "dawid-skene", items=corpus.items.index)
    via_rule = make_labels(corpus, "dawid-skene")
    pd.testing.assert_frame_equal(via_rule.targets, direct.targets)
    pd.testing.assert_frame_equal(via_rule.raters, raters)
    assert LabelSpec(rule="glad", form="argmax").form == "argmax"
    with pytest.raises(ConfigError, match="form"):
        make_labels(corpus, "mace", form="soft")
    counts_only = Corpus("votes", corpus.items, ratings.assign(rater=pd.NA), classes=CLASSES, excluded=["other"])
    with pytest.raises(VoxpopError, match="needs rater ids"):
        make_labels(counts_only, "dawid-skene")
    result = CliRunner().invoke(voxpop.cli.app, ["labels", "--help"])
    assert "--form" in result.stdout


def test_pooled_conditions_are_modelled_as_raters_per_condition():
    from voxpop.corpus.corpus import Corpus
    from voxpop.labels.rules import make_labels

    ratings, _ = simulated(n_items=8, seed=5)
    both = pd.concat([ratings.assign(condition="voice"), ratings.assign(condition="face")], ignore_index=True)
    corpus = Corpus("sim", pd.DataFrame(index=sorted(both["item"].unique())), both, classes=CLASSES,
                    excluded=["other"])
    labels = make_labels(corpus, "dawid-skene", pool=True)
    assert set(labels.raters.index) == {f"{r}@{c}" for r in ratings["rater"].unique() for c in ("voice", "face")}


def test_dawid_skene_skill_is_the_mean_confusion_diagonal_of_crowd_kits_errors():
    from crowdkit.aggregation import DawidSkene

    ratings, _ = simulated(n_items=60, seed=6)
    ours = fit_posteriors(ratings, "dawid-skene")
    data = ratings.rename(columns={"item": "task", "rater": "worker"}).sort_values(["task", "worker", "label"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        errors = DawidSkene().fit(data.reset_index(drop=True)).errors_
    for worker, used in ratings.groupby("rater")["label"]:  # P(says c | truth c) over the labels c the rater used
        expected = np.mean([errors.loc[(worker, label), label] for label in sorted(set(used))])
        assert ours.raters.loc[worker, "skill"] == pytest.approx(expected, abs=1e-12)


def test_learned_rule_with_a_class_map_on_categorical_columns_equals_the_mapped_strings():
    from voxpop.corpus.corpus import Corpus
    from voxpop.labels.rules import make_labels

    ratings, _ = simulated(n_items=20, seed=7)
    corpus = Corpus("sim", pd.DataFrame(index=sorted(ratings["item"].unique())), ratings, classes=CLASSES,
                    excluded=["other"])  # fmt: skip
    merged = make_labels(corpus, "dawid-skene", classes=["anger", "happy"], class_map={"sad": "anger"})
    mapped = ratings.assign(label=ratings["label"].replace({"sad": "anger"}))
    direct, _ = learned_labels(mapped, ["anger", "happy"], "dawid-skene", items=corpus.items.index)
    pd.testing.assert_frame_equal(merged.targets, direct.targets)
    for column in ("item", "rater", "label"):
        corpus.ratings[column] = corpus.ratings[column].astype("category")
    coded = make_labels(corpus, "dawid-skene", classes=["anger", "happy"], class_map={"sad": "anger"})
    pd.testing.assert_frame_equal(coded.targets, direct.targets)
