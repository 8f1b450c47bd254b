"""The plain-file path of the CSV readers: an ASCII file read by pyarrow straight from disk gives what pandas'
reader gives for its text, and every other file (another encoding, a byte-order mark, NUL bytes, classic Mac
line ends, no final line break, a record with another number of fields) takes the text path, whose messages
name the line."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from voxpop.core.errors import InputError
from voxpop.corpus.codes import known_unique_dtype, repeated_mask, unknown_items
from voxpop.corpus.formats.csv_parse import parse_plain_csv_file
from voxpop.corpus.formats.tables import read_table

PLAIN = {
    "simple": "item,rater,label\na,r1,sad\nb,r2,happy\n",
    "windows line ends": "item,rater,label\r\na,r1,sad\r\nb,r2,happy\r\n",
    "quoted separator and line break": 'item,rater,label\na,r1,"sad, very"\nb,r2,"two\nlines"\n',
    "empty cells and blank lines": "item,rater,label\na,,sad\n\nb,r2,\n",
    "unnamed column": "item,,label\na,x,sad\nb,,happy\n",
    "tab separated": "item\trater\tlabel\na\tr1\tsad\n",
}
NOT_PLAIN = {
    "utf-8 text": "item,rater,label\ncafé,r1,sad\n".encode(),
    "byte-order mark": b"\xef\xbb\xbfitem,rater,label\na,r1,sad\n",
    "utf-16": "item,rater,label\na,r1,sad\n".encode("utf-16-le"),
    "classic Mac line ends": b"item,rater,label\ra,r1,sad\rb,r2,happy\r",
    "no final line break": b"item,rater,label\na,r1,sad",
}


def _pandas(text: str, sep: str) -> pd.DataFrame:
    """What pandas' own reader gives for the text: cells as text, empty cells missing."""
    return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""])


@pytest.mark.parametrize("name", list(PLAIN))
def test_a_plain_ascii_file_is_read_from_disk_as_pandas_reads_its_text(tmp_path, name):
    text = PLAIN[name]
    sep = "\t" if name == "tab separated" else ","
    path = tmp_path / ("r.tsv" if sep == "\t" else "r.csv")
    path.write_bytes(text.encode("ascii"))
    headers: list[list[str]] = []
    plain = parse_plain_csv_file(path, sep, False, headers.append)
    assert plain is not None  # taken from the file itself
    assert headers == [text.replace("\r", "").split("\n")[0].split(sep)]
    expected = _pandas(text, sep)
    for frame in (plain, read_table(path, "ratings")):
        assert frame.columns.tolist() == expected.columns.tolist()
        assert frame.astype(object).where(frame.notna(), None).values.tolist() == (
            expected.astype(object).where(expected.notna(), None).values.tolist()
        )
    coded = parse_plain_csv_file(path, sep, True, headers.append)
    assert all(isinstance(coded[c].dtype, pd.CategoricalDtype) for c in coded.columns)
    assert coded.astype(object).where(coded.notna(), None).values.tolist() == (
        expected.astype(object).where(expected.notna(), None).values.tolist()
    )


@pytest.mark.parametrize("name", list(NOT_PLAIN))
def test_any_other_file_takes_the_text_path(tmp_path, name):
    path = tmp_path / "r.csv"
    path.write_bytes(NOT_PLAIN[name])
    assert parse_plain_csv_file(path, ",", True, lambda header: None) is None
    frame = read_table(path, "ratings")  # read through its decoded text, as before
    assert frame.columns.tolist() == ["item", "rater", "label"]
    assert frame["rater"].iloc[0] == "r1"


def test_a_record_with_another_number_of_fields_is_named_by_line(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(b"item,rater,label\na,r1,sad\nb,r2,happy,extra\n")
    assert parse_plain_csv_file(path, ",", False, lambda header: None) is None  # pyarrow would skip the row
    with pytest.raises(InputError, match=r"r\.csv.*line 3"):
        read_table(path, "ratings")


def test_a_repeated_column_name_is_refused_before_the_rows_are_read(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(b"item,label,item \na,sad,b\n")
    with pytest.raises(InputError, match=r"r\.csv, header: column 'item' appears 2 times \(columns 1, 3\)"):
        read_table(path, "ratings", coded=True)


def test_keys_in_order_and_shuffled_give_pandas_duplicated():
    rng = np.random.default_rng(11)
    ordered = np.repeat(np.arange(5_000), 3) * 7 + np.tile([0, 1, 1], 5_000)  # grouped: sorted, a repeat in each
    for keys in (ordered, rng.permutation(ordered), np.sort(rng.integers(0, 2**40, 9_000))):
        assert repeated_mask(keys).tolist() == pd.Series(keys).duplicated(keep=False).tolist()


def test_items_outside_the_items_table_are_found_whatever_the_category_order():
    items = pd.Index(["a", "b", "c"], dtype="string")
    in_order = pd.Series(pd.Categorical(["a", "c", None], categories=items))
    assert unknown_items(in_order, items).tolist() == [False, False, False]
    other = pd.Series(pd.Categorical(["c", "x", None, "x"]))  # categories c, x: x is not an item
    assert unknown_items(other, items).tolist() == [False, True, False, True]


def test_a_known_unique_dtype_has_the_categories_in_order():
    dtype = known_unique_dtype(pd.Index(["b", "a"], dtype="string"))
    assert dtype == pd.CategoricalDtype(pd.Index(["b", "a"], dtype="string"))
