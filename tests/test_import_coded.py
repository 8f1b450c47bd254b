"""The import path at scale: the long table read dictionary-encoded and checked per distinct text, repeats found
by one sort, and ratings.parquet stored as one row group (each dictionary once) with ``source_row`` as deltas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from voxpop.core.errors import InputError
from voxpop.corpus.codes import category_mask, combined_codes, recode_categories, repeated_mask
from voxpop.corpus.formats.csv_parse import first_record
from voxpop.corpus.formats.long import read_long
from voxpop.corpus.formats.tables import number_column, read_table, text_column


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ratings.csv"
    path.write_text(text)
    return path


def test_repeated_mask_equals_pandas_duplicated_keep_false():
    rng = np.random.default_rng(3)
    for high in (5, 1_000, 2**40):
        keys = rng.integers(0, high, 20_000)
        expected = pd.Series(keys).duplicated(keep=False).to_numpy()
        assert repeated_mask(keys).tolist() == expected.tolist()
    assert repeated_mask(np.arange(10)).sum() == 0


def test_combined_codes_equal_exactly_when_every_part_is_equal():
    rng = np.random.default_rng(5)
    parts = [rng.integers(-1, 4, 5_000), np.full(5_000, 2), rng.integers(-1, 3, 5_000), np.full(5_000, -1)]
    keys = combined_codes(parts)
    rows = pd.Series(list(zip(*parts, strict=True)))
    # two rows share a key exactly when they share the tuple of parts: the same partition as pandas' factorize
    assert pd.factorize(keys)[0].tolist() == pd.factorize(rows)[0].tolist()
    big = [rng.integers(-1, 2**20, 3_000) for _ in range(4)]  # the product leaves int64: renumbered on the way
    assert (
        pd.factorize(combined_codes(big))[0].tolist()
        == pd.factorize(pd.Series(list(zip(*big, strict=True))))[0].tolist()
    )


def test_recode_categories_merges_equal_names_and_keeps_missing():
    column = pd.Series(["b ", "a", "b", None, "a"], dtype="category")  # categories: a, b, 'b '
    recoded = recode_categories(column, ["a", "b", "b"])
    assert recoded.tolist() == ["b", "a", "b", pd.NA, "a"]
    assert list(recoded.cat.categories) == ["a", "b"]
    with pytest.raises(ValueError, match="2 new names for 3 categories"):
        recode_categories(column, ["a", "b"])


def test_category_mask_tests_each_distinct_text_once():
    seen: list[int] = []

    def long_text(names: pd.Index) -> np.ndarray:
        seen.append(len(names))
        return (names.str.len() > 2).to_numpy()

    values = pd.Series(["abc", "ab", None, "abc"] * 1000)
    assert category_mask(values, long_text).tolist() == [True, False, False, True] * 1000
    assert seen == [2]  # two distinct texts, one call


def test_first_record_reads_a_header_with_a_quoted_line_break():
    assert first_record('a,"b\nc",d\n1,2,3\n', ",") == ["a", "b\nc", "d"]
    assert first_record("x\ty\n1\t2", "\t") == ["x", "y"]
    assert first_record("", ",") is None


def test_a_coded_table_reads_the_same_cells_as_text(tmp_path):
    path = _write(tmp_path, 'item,rater,label,value\n" a",r1,sad,1.5\na ,r2,"sad, very",\nb,,x, 2\n')
    coded = read_table(path, "ratings", coded=True)
    text = read_table(path, "ratings")
    assert all(isinstance(coded[c].dtype, pd.CategoricalDtype) for c in coded.columns)
    for column in ("item", "rater", "label"):
        assert text_column(coded, column).astype("string").tolist() == text_column(text, column).tolist()
    assert text_column(coded, "item").cat.categories.tolist() == ["a", "b"]  # " a" and "a " stripped into one
    assert np.array_equal(
        number_column(coded, "value", "r.csv").to_numpy(), np.array([1.5, np.nan, 2.0]), equal_nan=True
    )


def test_coded_cells_are_refused_with_file_row_and_column(tmp_path):
    with pytest.raises(InputError, match=r"ratings.csv, row 2, column 'item': empty; every row needs a item"):
        read_long(_write(tmp_path, "item,rater,label\na,r1,sad\n  ,r2,sad\n"))
    with pytest.raises(InputError, match=r"ratings.csv, row 2, column 'value': expected a number, found '1,5'"):
        read_long(_write(tmp_path, 'item,rater,label,value\na,r1,sad,1\na,r2,sad,"1,5"\n'))
    with pytest.raises(InputError, match=r"ratings.csv, row 2: repeats the header row"):
        read_long(_write(tmp_path, "item,rater,label\na,r1,sad\nitem, rater ,label\n"))
    with pytest.raises(InputError, match=r"ratings.csv, row 2, column 'item': holds a value of 600 characters"):
        read_long(_write(tmp_path, f"item,rater,label\na,r1,sad\n{'x' * 600},r2,sad\n"))


def test_a_repeat_in_a_coded_table_names_both_rows(tmp_path):
    path = _write(tmp_path, "item,rater,label\na,r1,sad\nb,r1,happy\na,r1,happy\n")
    with pytest.raises(InputError, match=r"rater 'r1' judged item 'a' more than once \(a conflicting repeat\)"):
        read_long(path)
    kept = read_long(path, duplicates="first")
    kept_rows = kept.ratings[["item", "rater", "label"]].astype(str).to_numpy().tolist()
    assert kept_rows == [["a", "r1", "sad"], ["b", "r1", "happy"]]


def test_ratings_parquet_is_one_row_group_with_dictionaries_and_delta_rows(tmp_path):
    n = 3_000
    table = pd.DataFrame({"item": [f"clip{i // 3}" for i in range(n)], "rater": [f"r{i % 3}" for i in range(n)],
                          "label": np.asarray(["sad", "happy"])[np.arange(n) % 2]})  # fmt: skip
    table.to_csv(tmp_path / "ratings.csv", index=False)
    read_long(tmp_path / "ratings.csv").save(tmp_path / "corpus")
    meta = pq.ParquetFile(tmp_path / "corpus" / "ratings.parquet").metadata
    assert meta.num_row_groups == 1 and meta.num_rows == n
    columns = {meta.row_group(0).column(i).path_in_schema: meta.row_group(0).column(i) for i in range(meta.num_columns)}
    for name in ("item", "rater", "label", "slot", "source_file"):
        assert "RLE_DICTIONARY" in columns[name].encodings, name
        assert not columns[name].is_stats_set, name
    assert "DELTA_BINARY_PACKED" in columns["source_row"].encodings
    back = pd.read_parquet(tmp_path / "corpus" / "ratings.parquet")
    assert back["source_row"].tolist() == list(range(1, n + 1))
    assert back["item"].astype(str).tolist() == table["item"].tolist()
