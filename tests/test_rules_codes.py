"""The counting rules on integer codes: categorical ratings columns give the same labels as plain string columns,
and both equal a direct pandas / numpy computation of the counts and the rules."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from voxpop.core.errors import InputError
from voxpop.corpus.corpus import Corpus
from voxpop.labels.rules import make_labels
from voxpop.labels.voting import column_codes, list_votes, vote_counts

CLASSES = ["neutral", "happy", "sad", "angry"]


def _plain_ratings(seed: int, n_items: int = 300, n_raters: int = 9) -> pd.DataFrame:
    """Primary and secondary ratings of distinct raters per item under two conditions, some labelled 'other'."""
    rng = np.random.default_rng(seed)
    rows = []
    for item in range(n_items):
        truth = rng.integers(0, len(CLASSES))
        for rater in rng.choice(n_raters, rng.integers(1, 6), replace=False):
            condition = ["voice", "face"][rng.integers(0, 2)]
            label = CLASSES[truth] if rng.random() < 0.5 else [*CLASSES, "other"][rng.integers(0, 5)]
            rows.append((f"i{item:03d}", f"r{rater}", condition, "primary", label))
            for extra in {label, [*CLASSES, "other"][rng.integers(0, 5)]}:
                rows.append((f"i{item:03d}", f"r{rater}", condition, "secondary", extra))
    return pd.DataFrame(rows, columns=["item", "rater", "condition", "slot", "label"])


def _corpora(seed: int) -> tuple[Corpus, Corpus]:
    """One corpus with string columns and the same corpus with categorical item, rater, slot, label, condition.

    The categories are as the corpus stores them (items in the items table's order, labels = classes then the
    excluded label), for odd seeds with an unused label, which must change nothing.
    """
    ratings = _plain_ratings(seed)
    items = pd.DataFrame(index=[*sorted(ratings["item"].unique()), "never-rated"])
    plain = Corpus("toy", items, ratings, CLASSES, excluded=["other"])
    coded = copy.copy(plain)
    coded.ratings = plain.ratings.copy()
    coded.ratings["item"] = coded.ratings["item"].astype(pd.CategoricalDtype(plain.items.index))
    unused = ["unused"] if seed % 2 else []  # odd seeds: a category no rating uses
    coded.ratings["label"] = coded.ratings["label"].astype(pd.CategoricalDtype([*CLASSES, "other", *unused]))
    for column in ("rater", "slot", "condition"):
        coded.ratings[column] = coded.ratings[column].astype("category")
    return plain, coded


def _direct_counts(ratings: pd.DataFrame, slot: str, index: pd.Index) -> pd.DataFrame:
    """Votes per item and label by pandas' crosstab over plain strings (all labels, pooled conditions)."""
    chosen = ratings[ratings["slot"].astype(str) == slot]
    table = pd.crosstab(chosen["item"].astype(str), chosen["label"].astype(str))
    return table.reindex(index=index.astype(str), columns=[*CLASSES, "other"], fill_value=0)


@pytest.mark.parametrize("seed", [0, 1])
def test_vote_counts_on_codes_equal_crosstab_for_plain_and_categorical_frames(seed):
    plain, coded = _corpora(seed)
    expected = _direct_counts(plain.ratings, "primary", plain.items.index)
    for corpus in (plain, coded):
        counts, outside = vote_counts(corpus.ratings, CLASSES, excluded=["other"], items=corpus.items.index)
        np.testing.assert_array_equal(counts.to_numpy(), expected[CLASSES].to_numpy())
        np.testing.assert_array_equal(outside.to_numpy(), expected["other"].to_numpy())
        assert counts.loc["never-rated"].sum() == 0
    # no item index: the rated items in order of first appearance, for codes and strings alike
    order = list(dict.fromkeys(plain.ratings.loc[plain.ratings["slot"] == "primary", "item"]))
    for corpus in (plain, coded):
        counts, _ = vote_counts(corpus.ratings, CLASSES, excluded=["other"])
        assert list(counts.index) == order
        np.testing.assert_array_equal(counts.to_numpy(), expected.loc[order, CLASSES].to_numpy())


@pytest.mark.parametrize("seed", [0, 1])
def test_rules_on_categorical_columns_equal_the_rules_on_strings_and_a_direct_computation(seed):
    plain, coded = _corpora(seed)
    n = _direct_counts(plain.ratings, "primary", plain.items.index).to_numpy()
    selected, total = n[:, :4], n.sum(axis=1)
    rated = total > 0
    mr_kept = selected.max(axis=1) * 2 > total  # strict majority of all the item's ratings
    top_all = n.max(axis=1)
    pr_kept = rated & ((n == top_all[:, None]).sum(axis=1) == 1) & (n[:, 4] < top_all)  # unique top, a class
    ar = selected / np.maximum(selected.sum(axis=1, keepdims=True), 1)
    p_star = (selected.sum(axis=1) > 0) & (selected.max(axis=1) >= 0.6 * total) & (selected.max(axis=1) >= n[:, 4])
    expected = {
        "mr": (mr_kept, np.eye(4)[selected.argmax(axis=1)] * mr_kept[:, None]),
        "pr": (pr_kept, np.eye(4)[selected.argmax(axis=1)] * pr_kept[:, None]),
        "ar": (selected.sum(axis=1) > 0, ar),
        "p*": (p_star, ar * p_star[:, None]),
    }
    for name, (kept, targets) in expected.items():
        rule, options = ("primary", {"min_agreement": 0.6}) if name == "p*" else (name, {})
        results = [make_labels(corpus, rule, pool=True, **options) for corpus in (plain, coded)]
        for labels in results:
            np.testing.assert_array_equal(labels.kept.to_numpy(), kept, err_msg=name)
            np.testing.assert_allclose(labels.targets.to_numpy(), targets, atol=1e-12, err_msg=name)
        pd.testing.assert_frame_equal(results[0].targets, results[1].targets)
        assert results[0].accounting == results[1].accounting
    assert results[0].accounting.ratings_total == int(n.sum())


def test_every_counting_rule_and_option_is_identical_on_codes_and_strings():
    plain, coded = _corpora(2)
    cases = [
        ("ar-test", {}),
        ("pr", {"tie_policy": "all"}),
        ("pr", {"tie_policy": "random", "seed": 3}),
        ("mr", {"denominator": "selected"}),
        ("ar", {"min_selected_share": 0.7}),
        ("secondary", {}),
        ("secondary", {"min_agreement": 0.5}),
        ("mr", {"pooling": "mean"}),
        ("pr", {"min_raters_agree": 2}),
    ]
    for rule, options in cases:
        a, b = (make_labels(corpus, rule, pool=True, **options) for corpus in (plain, coded))
        pd.testing.assert_frame_equal(a.targets, b.targets, obj=f"{rule} {options}")
        pd.testing.assert_frame_equal(a.counts, b.counts, obj=f"{rule} {options}")
        assert a.accounting == b.accounting, (rule, options)
    one = [make_labels(corpus, "mr", condition="voice") for corpus in (plain, coded)]
    pd.testing.assert_frame_equal(one[0].targets, one[1].targets)


def test_list_votes_on_codes_equal_a_direct_count_of_raters():
    plain, coded = _corpora(3)
    secondary = plain.ratings[plain.ratings["slot"] == "secondary"]
    named = secondary[secondary["label"].isin(CLASSES)].drop_duplicates(["item", "rater", "condition", "label"])
    expected = pd.crosstab(named["item"], named["label"]).reindex(
        index=plain.items.index.astype(str), columns=CLASSES, fill_value=0
    )
    lists = secondary.drop_duplicates(["item", "rater", "condition"]).groupby("item").size()
    for corpus in (plain, coded):
        votes, n_lists = list_votes(corpus.ratings, CLASSES, excluded=["other"], items=corpus.items.index)
        np.testing.assert_array_equal(votes.to_numpy(), expected.to_numpy())
        np.testing.assert_array_equal(n_lists.to_numpy(), lists.reindex(votes.index, fill_value=0).to_numpy())


def test_codes_of_a_categorical_column_are_its_own_and_missing_items_or_unknown_labels_are_errors():
    column = pd.Series(["b", "a", None], dtype=pd.CategoricalDtype(["a", "b", "c"]))
    codes, uniques = column_codes(column)
    assert codes.tolist() == [1, 0, -1] and list(uniques) == ["a", "b", "c"]
    ratings = pd.DataFrame({"item": pd.Categorical(["x", None], categories=["x"]), "label": ["happy", "sad"]})
    with pytest.raises(InputError, match=r"ratings row 2, column 'item': empty item"):
        vote_counts(ratings, CLASSES)
    labels = pd.Categorical(["happy", "bored"], categories=["bored", "happy"])
    ratings = pd.DataFrame({"item": ["x", "y"], "label": labels})
    with pytest.raises(InputError, match=r"\['bored'\] \(first on item 'y'\) are neither classes"):
        vote_counts(ratings, CLASSES)
    unused = ratings.assign(label=pd.Categorical(["happy", "sad"], categories=["bored", "happy", "sad"]))
    assert vote_counts(unused, CLASSES)[0].to_numpy().tolist() == [[0, 1, 0, 0], [0, 0, 1, 0]]
    outside = ratings.assign(item=pd.Categorical(["x", "z"], categories=["x", "y", "z"]))
    with pytest.raises(InputError, match=r"not in the item index, e.g. \['z'\]"):
        vote_counts(outside.assign(label="happy"), CLASSES, items=["x", "y"])


def _as_codes(corpus: Corpus) -> Corpus:
    """The corpus with categorical ratings columns as the corpus stores them (item categories = the items table)."""
    coded = copy.copy(corpus)
    coded.ratings = corpus.ratings.copy()
    coded.ratings["item"] = coded.ratings["item"].astype(pd.CategoricalDtype(corpus.items.index))
    for column in ("rater", "slot", "label", "condition"):
        coded.ratings[column] = coded.ratings[column].astype("category")
    return coded


def test_real_cremad_and_earkick_labels_are_identical_on_codes_and_strings(shared_data):
    from voxpop.corpus.formats.cremad import read_cremad
    from voxpop.corpus.formats.likert import read_earkick

    path = shared_data / "crema-d" / "tabulatedVotes.csv"
    cremad = read_cremad(path)
    coded = _as_codes(cremad)
    table = pd.read_csv(path)
    votes = table[list("ADFHNS")].to_numpy()
    voice = (table.iloc[:, 0].astype(str).str[0] == "1").to_numpy()  # the CSV's voice-only rows
    for condition, pool in (("voice", False), (None, True)):
        for rule, options in (("mr", {}), ("pr", {}), ("ar", {}), ("ar-test", {}), ("primary", {"min_agreement": 0.6})):
            a, b = (make_labels(c, rule, condition=condition, pool=pool, **options) for c in (cremad, coded))
            pd.testing.assert_frame_equal(a.targets, b.targets, obj=f"CREMA-D {rule} {condition}")
            assert a.accounting == b.accounting
    mr = make_labels(coded, "mr", condition="voice")
    top, responses = votes[voice].max(axis=1), table["numResponses"].to_numpy()[voice]
    assert mr.accounting.items_kept == int((top > responses / 2).sum())  # the CSV itself, by numpy
    earkick = read_earkick(shared_data / "earkick-reannotation" / "assessment.csv")
    for options in ({}, {"gold_standard": "ewe"}, {"threshold": 0.6}):
        a, b = (make_labels(c, "likert", **options) for c in (earkick, _as_codes(earkick)))
        pd.testing.assert_frame_equal(a.targets, b.targets, obj=f"Earkick likert {options}")
        assert a.accounting == b.accounting
