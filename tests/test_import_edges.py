"""Edges of the fast import path: repeat keys checked against pandas on drawn code columns (missing codes, the
int32 edge); header cells that are blank or repeated."""

from __future__ import annotations

import io
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hypothesis_strength import examples
from voxpop.core.errors import InputError
from voxpop.corpus.codes import combined_codes, repeated_mask
from voxpop.corpus.formats.csv_parse import column_names
from voxpop.corpus.formats.tables import read_table

_HEADER_CELLS = ["", " ", "\t", "a", "a.1", " .1", "a.1.1", "Unnamed: 1", "b"]  # names pandas must mangle
_HIGHEST = [0, 1, 5, 1000, 2**16, 2**31 - 2, 2**31, 2**40]  # packed keys on both sides of the int32 limit


@settings(max_examples=examples(100), deadline=None)
@given(st.data())
def test_repeat_keys_match_pandas_duplicated_on_tuples(data):
    """Two rows share a key exactly when their code tuples are equal, and the repeated rows are pandas'
    ``duplicated(keep=False)`` of the tuples, for codes -1 (missing) .. high, sorted (merge sort) or not."""
    n = data.draw(st.integers(0, 40))
    parts = []
    for _ in range(data.draw(st.integers(1, 4))):
        high = data.draw(st.sampled_from(_HIGHEST))
        drawn = data.draw(st.lists(st.integers(-1, high), min_size=n, max_size=n))
        parts.append(np.array(drawn, dtype=np.int64))
    if data.draw(st.booleans()):  # rows grouped in order, as a table sorted by item is
        order = np.lexsort(parts[::-1])
        parts = [part[order] for part in parts]
    keys = combined_codes(parts)
    rows = pd.Series(list(zip(*(part.tolist() for part in parts), strict=True)), dtype=object)
    assert repeated_mask(keys).tolist() == rows.duplicated(keep=False).tolist()
    same_key = keys[:, None] == keys[None, :]
    same_row = np.array([[a == b for b in rows] for a in rows], dtype=bool).reshape(n, n)
    assert (same_key == same_row).all()


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(st.sampled_from(_HEADER_CELLS), min_size=1, max_size=6))
def test_column_names_are_pandas_names(header):
    """Empty header cells are ``Unnamed: i`` and repeats get pandas' ``.1``, ``.2`` ...: the names
    ``pandas.read_csv`` gives the same header (so that pyarrow never gets one name twice)."""
    text = ",".join(f'"{cell}"' for cell in header) + "\n"
    expected = pd.read_csv(io.StringIO(text), dtype=str).columns.tolist()
    assert column_names(header) == expected


@pytest.mark.parametrize("coded", [False, True])
@pytest.mark.parametrize("end", [b"\n", b""])  # with a final line break (pyarrow) and without (pandas)
def test_the_same_blank_header_cell_twice_is_named_as_pandas_names_it(tmp_path, end, coded):
    """``" "`` twice: ``" "`` and ``" .1"`` (``""`` and ``".1"`` once stripped) on both read paths (the Arrow path
    gave two columns named ``""``: a KeyError when coded, or a frame with a repeated column name)."""
    path = tmp_path / "votes.csv"
    path.write_bytes(b"item, , ,label\nc1,a,b,x" + end)
    frame = read_table(path, "ratings", coded=coded)
    assert list(frame.columns) == ["item", "", ".1", "label"]
    assert frame.astype(object).values.tolist() == [["c1", "a", "b", "x"]]


@pytest.mark.parametrize("coded", [False, True])
@pytest.mark.parametrize("end", [b"\n", b""])
def test_two_different_blank_header_cells_are_refused_naming_the_columns(tmp_path, end, coded):
    """``" "`` and a tab are both ``""`` once stripped: an InputError naming the file and both columns (an
    AttributeError before)."""
    path = tmp_path / "votes.csv"
    path.write_bytes(b"item, ,label,\t\nc1,a,x,y" + end)
    with pytest.raises(InputError, match=r"votes\.csv, header: columns 2, 4 have names of blanks only"):
        read_table(path, "ratings", coded=coded)


def test_one_blank_header_cell_and_empty_cells_are_read_as_before(tmp_path):
    """One blank cell is a column named "" and empty cells are ``Unnamed: i`` (pandas' name), as before."""
    path = tmp_path / "votes.csv"
    path.write_bytes(b"item, ,,label\nc1,a,,x\n")
    frame = read_table(path, "ratings", coded=True)
    assert list(frame.columns) == ["item", "", "Unnamed: 2", "label"]
    assert frame.astype(object).where(frame.notna(), None).values.tolist() == [["c1", "a", None, "x"]]


@pytest.mark.parametrize("coded", [False, True])
def test_a_file_whose_name_is_not_utf8_is_read(tmp_path, coded):
    """A Linux file name of other bytes (Python's surrogates, which pyarrow cannot encode) is read as any
    other file (an InputError "surrogates not allowed" before)."""
    name = os.fsdecode(b"votes-\xff.csv")
    try:
        (tmp_path / name).write_bytes(b"item,rater,label\nc1,r1,x\n")
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system takes UTF-8 file names only")
    frame = read_table(tmp_path / name, "ratings", coded=coded)
    assert list(frame.columns) == ["item", "rater", "label"]
    assert frame.astype(object).values.tolist() == [["c1", "r1", "x"]]
