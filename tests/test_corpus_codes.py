"""The corpus stored and loaded as codes: categorical columns, content hashes, trusted loads, old folders.

Results on a coded, saved and reloaded corpus are checked against values computed independently from the
raw CSV (pandas group-bys, numpy, the formula of Krippendorff's alpha), on the real CREMA-D and Earkick
tables (skipped where absent) and on synthetic long tables of 1e5 and (slow) 1e6 ratings.
"""

from __future__ import annotations

import logging

import krippendorff
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from voxpop.agreement import tables
from voxpop.core.errors import InputError
from voxpop.corpus.corpus import Corpus, CorpusError
from voxpop.corpus.formats.long import read_long
from voxpop.corpus.stored import HASH_KEY
from voxpop.labels import make_labels

CODED = ("item", "rater", "condition", "slot", "label")


def _toy() -> Corpus:
    items = pd.DataFrame({"speaker": ["s1", "s2", "s3"]}, index=["c", "a", "b"])
    ratings = pd.DataFrame(
        {
            "item": ["a", "a", "b", "c", "c", "a"],
            "rater": ["r2", "r1", "r1", "r3", "r1", "r3"],
            "label": ["sad", "anger", "other", "anger", "anger", "sad"],
        }
    )
    return Corpus("toy", items, ratings, classes=["sad", "anger"], excluded=["other"])


def test_text_columns_are_categories_in_their_declared_order():
    corpus = _toy()
    r = corpus.ratings
    assert all(isinstance(r[c].dtype, pd.CategoricalDtype) for c in CODED)
    assert list(r["item"].cat.categories) == ["c", "a", "b"]  # the items table's order
    assert list(r["label"].cat.categories) == ["sad", "anger", "other"]  # classes, then excluded
    assert list(r["rater"].cat.categories) == ["r1", "r2", "r3"]
    assert r["label"].cat.codes.tolist() == [0, 1, 2, 1, 1, 0]
    assert r["item"].cat.codes.tolist() == [1, 1, 2, 0, 0, 1]
    assert r["slot"].eq("primary").all() and r["label"].isin(["sad"]).sum() == 2  # text behaviour kept
    assert r["condition"].isna().all()


def test_subset_keeps_item_categories_equal_to_its_items():
    part = _toy().subset(["b", "a"])
    assert list(part.ratings["item"].cat.categories) == ["b", "a"]
    assert part.ratings["item"].astype(str).tolist() == ["a", "a", "b", "a"]


def test_saved_ratings_are_parquet_dictionaries_and_load_back_equal(tmp_path):
    corpus = _toy()
    corpus.save(tmp_path / "c")
    schema = pq.read_schema(tmp_path / "c" / "ratings.parquet")
    assert all(pa.types.is_dictionary(schema.field(c).type) for c in CODED)
    meta = yaml.safe_load((tmp_path / "c" / "corpus.yaml").read_text())
    assert set(meta[HASH_KEY]) == {"items.parquet", "ratings.parquet", "metadata"}
    loaded = Corpus.load(tmp_path / "c")
    pd.testing.assert_frame_equal(loaded.ratings, corpus.ratings)
    assert list(loaded.ratings["item"].cat.categories) == ["c", "a", "b"]


def test_a_corpus_voxpop_wrote_is_trusted_and_validate_checks_everything(tmp_path, monkeypatch):
    _toy().save(tmp_path / "c")

    def refuse(self):
        raise AssertionError("validated")

    monkeypatch.setattr(Corpus, "_check_ratings", refuse)
    assert len(Corpus.load(tmp_path / "c").ratings) == 6  # hash matches: no validation
    with pytest.raises(AssertionError, match="validated"):
        Corpus.load(tmp_path / "c", validate=True)


def test_an_edited_table_or_metadata_is_validated_again(tmp_path):
    _toy().save(tmp_path / "c")
    path = tmp_path / "c" / "corpus.yaml"
    meta = yaml.safe_load(path.read_text())
    meta["classes"] = ["sad"]  # 'anger' ratings are no longer a class; the hashes still name the old content
    path.write_text(yaml.safe_dump(meta))
    with pytest.raises(CorpusError, match=r"ratings\.parquet, row 2, column 'label' \(item 'a'\): label 'anger'"):
        Corpus.load(tmp_path / "c")
    _toy().save(tmp_path / "d")
    ratings = pd.read_parquet(tmp_path / "d" / "ratings.parquet").astype({"label": "string"})
    ratings.loc[0, "label"] = "joy"
    ratings.to_parquet(tmp_path / "d" / "ratings.parquet", index=False)
    with pytest.raises(CorpusError, match="label 'joy' is not a class"):
        Corpus.load(tmp_path / "d")


def test_a_malformed_hash_key_names_the_file_and_key(tmp_path):
    _toy().save(tmp_path / "c")
    path = tmp_path / "c" / "corpus.yaml"
    meta = yaml.safe_load(path.read_text())
    meta[HASH_KEY] = "abc"
    path.write_text(yaml.safe_dump(meta))
    with pytest.raises(InputError, match=rf"corpus\.yaml, key '{HASH_KEY}': expected a mapping"):
        Corpus.load(tmp_path / "c")


def _old_layout(folder):
    """A corpus folder as the previous voxpop wrote it: text columns, corpus.yaml without content hashes."""
    folder.mkdir()
    items = pd.DataFrame({"speaker": ["s1", "s2"]}, index=pd.Index(["a", "b"], name="item", dtype="string"))
    ratings = pd.DataFrame(
        {
            "item": ["a", "a", "b"], "rater": ["r1", "r2", "r1"], "condition": [None, None, None],
            "slot": ["primary"] * 3, "label": ["anger", "sad", "sad"], "value": [np.nan] * 3,
            "start": [np.nan] * 3, "end": [np.nan] * 3,
        }
    ).astype({c: "string" for c in CODED})  # fmt: skip
    items.to_parquet(folder / "items.parquet")
    ratings.to_parquet(folder / "ratings.parquet", index=False)
    meta = {"name": "old", "classes": ["anger", "sad"], "class_map": {}, "excluded": [], "scales": {}, "slots": {},
            "source": "", "license": "", "description": ""}  # fmt: skip
    (folder / "corpus.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    return ratings


def test_a_folder_written_by_the_previous_version_is_migrated_once_with_a_notice(tmp_path, caplog, monkeypatch):
    raw = _old_layout(tmp_path / "old")
    items_bytes = (tmp_path / "old" / "items.parquet").read_bytes()
    with caplog.at_level(logging.WARNING, logger="voxpop.corpus.stored"):
        corpus = Corpus.load(tmp_path / "old")
    assert "written by an earlier voxpop" in caplog.text and "updated in place" in caplog.text
    assert corpus.ratings["label"].astype(str).tolist() == raw["label"].tolist()
    schema = pq.read_schema(tmp_path / "old" / "ratings.parquet")
    assert pa.types.is_dictionary(schema.field("label").type)
    assert (tmp_path / "old" / "items.parquet").read_bytes() == items_bytes  # audio paths as written, untouched
    assert HASH_KEY in yaml.safe_load((tmp_path / "old" / "corpus.yaml").read_text())
    caplog.clear()
    monkeypatch.setattr(Corpus, "_check_ratings", lambda self: pytest.fail("validated a migrated corpus again"))
    with caplog.at_level(logging.WARNING, logger="voxpop.corpus.stored"):
        again = Corpus.load(tmp_path / "old")
    assert caplog.text == ""
    pd.testing.assert_frame_equal(again.ratings, corpus.ratings)


def test_an_old_folder_that_cannot_be_written_still_loads_and_says_how_to_fix_it(tmp_path, caplog, monkeypatch):
    _old_layout(tmp_path / "old")
    import voxpop.corpus.stored as stored

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(stored, "_write_ratings", read_only)
    with caplog.at_level(logging.WARNING, logger="voxpop.corpus.stored"):
        corpus = Corpus.load(tmp_path / "old")
    assert len(corpus.ratings) == 3
    assert "could not be updated" in caplog.text and "re-import it with 'voxpop import'" in caplog.text
    assert HASH_KEY not in yaml.safe_load((tmp_path / "old" / "corpus.yaml").read_text())


# ----------------------------------------------------------------------------- results against the raw tables
def _reloaded(corpus: Corpus, folder) -> Corpus:
    corpus.save(folder)
    return Corpus.load(folder)


def _nominal_alpha(counts: np.ndarray) -> float:
    """Krippendorff's alpha (nominal) from an items x classes count matrix (coincidence-matrix formula)."""
    m = counts.sum(axis=1)
    counts = counts[m >= 2]
    m = m[m >= 2]
    coincidence = (counts[:, :, None] * counts[:, None, :] / (m - 1)[:, None, None]).sum(axis=0)
    coincidence -= np.diag((counts / (m - 1)[:, None]).sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    disagree = coincidence.sum() - np.trace(coincidence)
    expected = (n_c.sum() ** 2 - (n_c**2).sum()) / (n - 1)
    return 1 - disagree / expected


def _synthetic(path, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    item = np.arange(n) // 10
    rater = (7 * item + 13 * (np.arange(n) % 10)) % 1000
    label = np.asarray(["anger", "fear", "happy", "neutral", "sad"])[rng.integers(0, 5, n)]
    table = pd.DataFrame({"item": np.char.add("clip", item.astype(str)), "rater": np.char.add("r", rater.astype(str)),
                          "label": label})  # fmt: skip
    table.to_csv(path, index=False)
    return table


@pytest.mark.parametrize("n", [100_000, pytest.param(1_000_000, marks=pytest.mark.slow)])
def test_synthetic_long_table_labels_alpha_and_accounting_match_the_raw_csv(tmp_path, n):
    raw = _synthetic(tmp_path / "ratings.csv", n)
    corpus = _reloaded(read_long(tmp_path / "ratings.csv"), tmp_path / "corpus")
    classes = sorted(raw["label"].unique())
    assert corpus.classes == classes
    counts = pd.crosstab(raw["item"], raw["label"]).reindex(columns=classes, fill_value=0)
    counts = counts.loc[pd.unique(raw["item"])]  # items in order of first appearance, as imported
    votes = counts.to_numpy()
    top = votes.max(axis=1)
    majority = top > votes.sum(axis=1) / 2
    labels = make_labels(corpus, "mr")
    assert labels.counts.to_numpy().tolist() == votes.tolist()
    assert labels.kept.to_numpy().tolist() == majority.tolist()
    hard = labels.targets[labels.kept.to_numpy()].to_numpy().argmax(axis=1)
    assert hard.tolist() == votes[majority].argmax(axis=1).tolist()
    acc = labels.accounting
    assert (acc.items_total, acc.items_kept, acc.ratings_total, acc.ratings_supporting) == (
        len(counts), int(majority.sum()), n, int(top[majority].sum())
    )  # fmt: skip
    alpha = tables.agreement_table(corpus).set_index("statistic").at["alpha", "value"]
    assert alpha == pytest.approx(_nominal_alpha(votes), rel=1e-9)


def test_cremad_labels_and_accounting_after_save_and_load_match_the_csv(shared_data, tmp_path):
    from voxpop.corpus.formats.cremad import read_cremad

    path = shared_data / "crema-d" / "tabulatedVotes.csv"
    table = pd.read_csv(path)
    corpus = _reloaded(read_cremad(path), tmp_path / "corpus")
    assert isinstance(corpus.ratings["label"].dtype, pd.CategoricalDtype)
    votes = table[list("ADFHNS")].to_numpy()
    prefix = table.iloc[:, 0].astype(str).str[0].to_numpy()
    for code, condition in {"1": "voice", "2": "face", "3": "av"}.items():
        rows = prefix == code
        mine = votes[rows]
        top = mine.max(axis=1)
        majority = top > mine.sum(axis=1) / 2
        labels = make_labels(corpus, "mr", condition=condition)
        acc = labels.accounting
        assert (acc.items_total, acc.items_kept, acc.ratings_total, acc.ratings_supporting) == (
            rows.sum(), majority.sum(), mine.sum(), top[majority].sum()
        )  # fmt: skip
        expected = pd.DataFrame(mine, index=table["fileName"].to_numpy()[rows])
        got = labels.counts.loc[expected.index].to_numpy()
        assert got.tolist() == expected.to_numpy().tolist()
        alpha = tables.agreement_table(corpus, condition=condition).set_index("statistic").at["alpha", "value"]
        assert alpha == pytest.approx(_nominal_alpha(mine), rel=1e-9)


def test_earkick_alpha_after_save_and_load_matches_krippendorff_on_the_csv(shared_data, tmp_path):
    from voxpop.corpus.formats.likert import read_earkick

    path = shared_data / "earkick-reannotation" / "assessment.csv"
    raw = pd.read_csv(path, keep_default_na=False)
    raw["clip"] = raw["audio"].str.rsplit("/", n=1).str[-1].str.removesuffix(".m4a")
    corpus = _reloaded(read_earkick(path), tmp_path / "corpus")
    assert isinstance(corpus.ratings["rater"].dtype, pd.CategoricalDtype)
    gender = raw.pivot(index="annotator", columns="clip", values="gender")
    expected = krippendorff.alpha(gender.to_numpy().astype(str), level_of_measurement="nominal")
    got = tables.agreement_table(corpus, slot="gender").set_index("statistic").at["alpha", "value"]
    assert got == pytest.approx(expected, rel=1e-10)
