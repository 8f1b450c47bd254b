"""Item filters (voxpop.corpus.filters): the whitelisted grammar, pandas' missing-value results, refusals that run
nothing."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from voxpop.core.errors import ConfigError
from voxpop.core.progress import Reporter
from voxpop.corpus.corpus import Corpus
from voxpop.corpus.filters import ItemFilter, select_items
from voxpop.study.corpus_source import prepare_corpus
from voxpop.study.definition import build_study
from voxpop.study.loading import load_recipe, recipe_from_dict
from voxpop.study.run import run_recipe
from voxpop.study.stages import Cache


def _items() -> pd.DataFrame:
    """Five items with missing values in a string, a text, a float, a nullable boolean and an Int64 column."""
    return pd.DataFrame(
        {
            "speaker": pd.array(["1001", "1002", "1003", "1001", pd.NA], dtype=pd.StringDtype()),
            "note": np.array(["x", None, "y", np.nan, "z"], dtype=object),
            "duration": [1.0, np.nan, 3.0, 5.0, np.nan],
            "acted": pd.array([True, pd.NA, False, True, True], dtype="boolean"),
            "flagged": [True, False, False, True, False],
            "level": pd.array([1, pd.NA, 3, 4, 5], dtype="Int64"),
            "intended intensity": ["HI", "LO", None, "HI", "XX"],
        },
        index=pd.Index(list("abcde"), name="item", dtype=pd.StringDtype()),
    )


# Expected items worked out by hand from pandas' rules (see the voxpop.corpus.filters docstring): `==` / `!=` with
# text or a list is isin / ~isin (a missing value is != everything); float NaN compares False except !=;
# a missing boolean / Int64 comparison is missing and keeps no item; not / and / or are ~ & | per item.
ORDINARY = [
    ("acted == True and speaker in ['1001', '1002']", "ad"),  # b: acted missing -> missing & True -> not kept
    ("not flagged", "bce"),
    ("not acted", "c"),  # b: ~NA is NA
    ("acted", "ade"),
    ("acted != True", "c"),
    ("acted == False or flagged", "acd"),
    ("speaker == '1001'", "ad"),
    ("speaker != '1001'", "bce"),  # e (missing speaker) is != '1001', as isin says
    ("speaker not in ['1001', '1002']", "ce"),
    ("speaker == ['1002', '1003']", "bc"),
    ("speaker != ('1002', '1003')", "ade"),
    ("note == 'x'", "a"),
    ("note != 'x'", "bcde"),
    ("note in ['x', None]", "abd"),  # None in the list matches missing values (None and NaN)
    ("1 < duration < 5", "c"),
    ("1 <= duration <= 5", "acd"),
    ("duration != 3", "abde"),  # NaN != 3 is True for floats
    ("not duration > 2", "abe"),
    ("-1 < duration", "acd"),
    ("duration in [1, 3.0]", "ac"),
    ("level != 3", "ade"),  # Int64: NA != 3 is NA
    ("level >= 3", "cde"),
    ("speaker.isna()", "e"),
    ("note.isna() or duration.isna()", "bde"),
    ("not speaker.isna() and duration.notna()", "acd"),
    ("(duration > 2) == True", "cd"),
    ("`intended intensity` == 'HI'", "ad"),
    ("`intended intensity` != 'HI' and not flagged", "bce"),
    ("item in ['a', 'c']", "ac"),
    ("index == 'e'", "e"),
    ("speaker < '1002'", "ad"),
    ("note < 'y'", "a"),
    ("  flagged and speaker == '1001'", "ad"),
]


@pytest.mark.parametrize(("expression", "expected"), ORDINARY)
def test_ordinary_filters_keep_the_items_worked_out_by_hand(expression, expected):
    items = _items()
    assert "".join(select_items(items, expression)) == expected


@pytest.mark.parametrize(("expression", "expected"), ORDINARY)
def test_ordinary_filters_keep_what_pandas_query_kept(expression, expected):
    """The reference: what ``Corpus.where`` gave before, with pandas' own evaluator on fixed test text."""
    items = _items()
    before = items.query(expression, engine="python").index
    assert list(select_items(items, expression)) == list(before)


def test_a_filter_may_span_lines_inside_parentheses():
    """A folded recipe value; pandas' query refused line breaks, the grammar reads them as Python does."""
    assert "".join(select_items(_items(), "(flagged\n or acted == False)")) == "acd"  # b: False | NA is NA


def test_at_signs_and_backticks_inside_text_constants_are_text():
    items = pd.DataFrame(
        {"note": ["a@b", "x`y", "it's", "ä"], "Intensität": [1, 2, 3, 4]}, index=pd.Index(list("abcd"), name="item")
    )
    assert list(select_items(items, "note == 'a@b' or note == 'x`y'")) == ["a", "b"]
    assert list(select_items(items, "note in ['it\\'s', \"ä\"] and `Intensität` > 3")) == ["d"]
    with pytest.raises(ConfigError) as caught:
        select_items(items, "note == 'ä' and `Intensität`.x")
    assert str(caught.value).splitlines()[2] == "    " + " " * 16 + "^" * len("`Intensität`.x")  # counted in characters


HOSTILE = [
    ("@pd.DataFrame({{'a': [1]}}).to_csv('{target}') == 1", "@"),
    ("@yaml.unsafe_load('!!python/object/apply:os.system [\"touch {target}\"]')", "@"),
    ("speaker.to_csv('{target}')", "speaker.to_csv('{target}')"),
    ("__import__('os').system('touch {target}')", "__import__('os').system('touch {target}')"),
    ("speaker.__class__.__init__.__globals__ == 1", "speaker.__class__.__init__.__globals__"),
    ("duration > 1 and `intended intensity`.to_csv('{target}')", "`intended intensity`.to_csv('{target}')"),
    ("speaker[speaker.to_csv('{target}')] == '1'", "speaker[speaker.to_csv('{target}')]"),
    ("(lambda: open('{target}', 'w'))() == 1", "(lambda: open('{target}', 'w'))()"),
    ("[open('{target}', 'w') for x in [1]] == 1", "[open('{target}', 'w') for x in [1]]"),
    ("f'{{open(\"{target}\", \"w\")}}' == 'x'", 'f\'{{open("{target}", "w")}}\''),
    ("(x := open('{target}', 'w')) == 1", "x := open('{target}', 'w')"),
    ("speaker in [open('{target}', 'w')]", "open('{target}', 'w')"),
    ("speaker.isna(open('{target}', 'w'))", "speaker.isna(open('{target}', 'w'))"),
    ("speaker == '1' if open('{target}', 'w') else True", "speaker == '1' if open('{target}', 'w') else True"),
    ("duration + len(open('{target}', 'w').name) > 1", "duration + len(open('{target}', 'w').name)"),
]


@pytest.mark.parametrize(("template", "offending"), HOSTILE)
def test_hostile_filters_are_refused_pointing_at_the_part_and_create_no_file(tmp_path, template, offending):
    target = (tmp_path / "pwned").as_posix()
    expression, part = template.format(target=target), offending.format(target=target)
    with pytest.raises(ConfigError) as caught:
        select_items(_items(), expression)
    message = str(caught.value)
    lines = message.splitlines()
    assert lines[0].startswith(f"item filter {expression!r}: ") and "not allowed" in lines[0]
    assert lines[1] == f"    {expression}"
    start = expression.index(part)
    assert lines[2] == "    " + " " * start + "^" * len(part)
    assert lines[3].startswith("Allowed: item column names")
    assert not (tmp_path / "pwned").exists()


def test_hostile_filter_through_the_corpus_and_the_recipe_creates_no_file(tmp_path):
    target = tmp_path / "pwned"
    corpus = _corpus()
    with pytest.raises(ConfigError, match="a function or method call is not allowed"):
        corpus.where(f"speaker.to_csv('{target.as_posix()}')")
    with pytest.raises(ConfigError, match=r"where: item filter .*'@' \(a reference to a Python variable\)"):
        recipe_from_dict(_recipe(tmp_path, f"@pd.Series([1]).to_csv('{target.as_posix()}') == 1"))
    assert not target.exists()


@pytest.mark.parametrize(
    ("expression", "message", "caret"),
    [
        ("speaker is None", "'is' / 'is not' (use == / != or column.isna())", "speaker is None"),
        ("flagged & acted", "use 'and' / 'or' instead of '&' / '|'", "flagged & acted"),
        ("~flagged", "'~' (use 'not')", "~flagged"),
        ("speaker in '1001'", "'in' without a list", "'1001'"),
        ("'1001' in speaker", "'in' without a list", "speaker"),
        ("1 == 1", "a comparison without a column", "1 == 1"),
        ("speaker == b'1001'", "the constant b'1001'", "b'1001'"),
        ("-speaker == 1", "unary minus on something other than a number", "-speaker"),
        ("speaker == ", "not a valid expression", None),
    ],
)
def test_refusal_messages_say_what_and_where(expression, message, caret):
    with pytest.raises(ConfigError) as caught:
        ItemFilter.parse(expression)
    text = str(caught.value)
    if caret is not None:
        assert text.splitlines()[2] == "    " + " " * expression.index(caret) + "^" * len(caret)
    assert message in text.splitlines()[0], text


# String tests on text columns: a missing value (speaker of e, note of b and d) passes none of them, and `not` of a
# missing result is missing too, so the item is not kept.
STRING_TESTS = [
    ("speaker.str.startswith('100')", "abcd"),
    ("speaker.str.endswith('1')", "ad"),
    ("speaker.str.contains('00')", "abcd"),
    ("not speaker.str.startswith('1001')", "bc"),
    ("speaker.str.startswith('100') and duration > 2", "cd"),
    ("`intended intensity`.str.contains('I')", "ad"),
    ("note.str.endswith('y') or note.str.startswith('z')", "ce"),
]


@pytest.mark.parametrize(("expression", "expected"), STRING_TESTS)
def test_string_tests_on_text_columns_keep_the_items_worked_out_by_hand(expression, expected):
    assert "".join(select_items(_items(), expression)) == expected


def test_contains_is_a_literal_substring_never_a_regular_expression():
    items = pd.DataFrame({"file": ["a.wav", "abwav", "x(1).wav"]}, index=pd.Index(list("abc"), name="item"))
    assert list(select_items(items, "file.str.contains('.w')")) == ["a", "c"]  # as a regex '.w' would match b
    assert list(select_items(items, "file.str.contains('(1)')")) == ["c"]  # as a regex, a group matching '1'


@pytest.mark.parametrize(
    ("expression", "message", "caret"),
    [
        ("speaker.str.replace('1', '2') == '2002'", "'.str.replace' is not allowed", "speaker.str.replace('1', '2')"),
        ("speaker.str.startswith(note)", "takes one text literal in quotes and nothing else", "note"),
        ("speaker.str.startswith('1', na=True)", "takes one text literal in quotes and nothing else", "na=True"),
        ("speaker.str.startswith(1)", "takes one text literal in quotes and nothing else", "1"),
        ("speaker.str.contains(f'{speaker}')", "takes one text literal in quotes and nothing else", "f'{speaker}'"),
        ("speaker.str.endswith('1', '2')", "takes one text literal in quotes and nothing else", "'2'"),
        ("speaker.str.startswith(''.join('1'))", "takes one text literal in quotes and nothing else", "''.join('1')"),
        ("speaker.str.__class__ == 1", "attribute access is not allowed", "speaker.str.__class__"),
        ("speaker.__class__.__name__ == 'x'", "attribute access is not allowed", "speaker.__class__.__name__"),
        ("str.startswith(speaker, '1')", "a function or method call is not allowed", "str.startswith(speaker, '1')"),
    ],
)
def test_string_tests_refuse_other_methods_and_non_literal_arguments(expression, message, caret):
    with pytest.raises(ConfigError) as caught:
        ItemFilter.parse(expression)
    lines = str(caught.value).splitlines()
    assert message in lines[0], lines[0]
    assert lines[2] == "    " + " " * expression.index(caret) + "^" * len(caret)
    assert "column.str.startswith('text')" in lines[3]  # the allowed grammar names the string tests


@pytest.mark.parametrize(("column", "dtype"), [("duration", "float64"), ("level", "Int64"), ("acted", "boolean")])
def test_string_tests_on_a_column_that_is_not_text_are_refused_naming_it(column, dtype):
    expression = f"{column}.str.startswith('1')"
    with pytest.raises(ConfigError) as caught:
        select_items(_items(), expression)
    assert str(caught.value).splitlines()[0] == (
        f"item filter {expression!r}: '.str.startswith' tests text, but column {column!r} holds {dtype} values; "
        "compare it with == != < <= > >= or in instead."
    )


def test_unknown_column_is_named_with_the_available_columns():
    with pytest.raises(ConfigError) as caught:
        select_items(_items(), "speaker == '1001' and `intended  intensity` == 'HI' and dur > 1")
    lines = str(caught.value).splitlines()
    assert "unknown column 'intended  intensity', 'dur'" in lines[0]
    assert (
        "the item columns are 'speaker', 'note', 'duration', 'acted', 'flagged', 'level', 'intended intensity' "
        "(and 'item' for the item id)" in lines[0]
    )
    assert lines[2] == "    " + " " * 22 + "^" * len("`intended  intensity`")


def test_a_filter_keeping_no_item_is_an_error_with_the_count_of_each_clause():
    with pytest.raises(ConfigError) as caught:
        select_items(_items(), "speaker in ['1001', '1003'] and not flagged and duration > 3")
    assert str(caught.value) == (
        "item filter \"speaker in ['1001', '1003'] and not flagged and duration > 3\": keeps none of the 5 items "
        "(\"speaker in ['1001', '1003']\" keeps 3; 'not flagged' keeps 3; 'duration > 3' keeps 1); loosen the filter."
    )
    with pytest.raises(ConfigError, match=r"keeps none of the 5 items \('level > 10' keeps 0\)"):
        select_items(_items(), "level > 10")


def test_a_filter_that_is_not_true_or_false_per_item_is_refused():
    with pytest.raises(ConfigError, match="gives float64 values, not True / False per item"):
        select_items(_items(), "duration")
    with pytest.raises(ConfigError, match=r"cannot evaluate 'speaker < 3'"):
        select_items(_items(), "flagged and speaker < 3")
    with pytest.raises(ConfigError, match="'True' is a constant, not a column or comparison"):
        select_items(_items(), "flagged and True")


def _corpus() -> Corpus:
    items = pd.DataFrame({"speaker": ["1001", "1002", "1003"], "audio": ["a.wav", "b.wav", "c.wav"]}, index=list("abc"))
    ratings = pd.DataFrame({"item": list("abc"), "rater": ["r1"] * 3, "label": ["anger", "sad", "anger"]})
    return Corpus("toy", items, ratings, classes=["anger", "sad"])


def _recipe(tmp_path, where: str) -> dict:
    _corpus().save(tmp_path / "toy")
    return {"study": "filtered", "corpus": {"path": str(tmp_path / "toy")}, "where": where, "labels": {"train": {}}}


def test_recipe_where_keeps_the_items_and_names_unknown_columns(tmp_path):
    recipe = recipe_from_dict(_recipe(tmp_path, "speaker != '1002'"))
    corpus, _ = prepare_corpus(build_study(recipe, tmp_path), Cache(tmp_path / "cache"), Reporter())
    assert corpus.items.index.tolist() == ["a", "c"]
    assert corpus.ratings["item"].tolist() == ["a", "c"]
    with pytest.raises(ConfigError, match=r"recipe r\.yaml is invalid \(1 problem\):\n  - where: .*unknown column 'x'"):
        run_recipe(recipe_from_dict(_recipe(tmp_path, "x == 1")), tmp_path / "out", source="r.yaml")


def test_cli_where_refusal_exits_with_code_2_and_an_error_line(tmp_path):
    _corpus().save(tmp_path / "toy")
    target = tmp_path / "pwned"
    argv = ["voxpop", "validate", str(tmp_path / "toy"), "--where", f"speaker.to_csv('{target.as_posix()}')"]
    code = f"import sys; sys.argv = {argv!r}; from voxpop.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: item filter")
    assert "a function or method call is not allowed" in result.stderr
    assert "Traceback" not in result.stderr
    assert not target.exists()


def test_recipe_file_with_hostile_where_is_refused_when_loaded(tmp_path):
    target = tmp_path / "pwned"
    recipe = _recipe(tmp_path, f"__import__('os').system('touch {target.as_posix()}')")
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.raises(ConfigError, match=r"r\.yaml is invalid \(1 problem\):\n  - where: item filter .* a function"):
        load_recipe(tmp_path / "r.yaml")
    assert not target.exists()


def test_text_is_compared_in_nfc_so_a_decomposed_accent_matches_what_the_user_types():
    """'café' typed in a filter (NFC) missed a cell holding 'cafe' + a combining accent (NFD, as macOS file names
    have it): those items were silently left out by ==, in and .str.contains alike."""
    import unicodedata

    composed, decomposed = "café", unicodedata.normalize("NFD", "café")
    assert composed != decomposed
    items = pd.DataFrame(
        {"name": pd.array([composed, decomposed, "cafe", None], dtype="string"), "n": [1, 2, 3, 4]},
        index=pd.Index(["a", "b", "c", "d"], name="item"),
    )
    for expression in ("name == 'café'", "name in ['café']", "name.str.contains('é')", "name.str.endswith('fé')",
                       f"name == '{decomposed}'"):  # fmt: skip
        assert list(select_items(items, expression)) == ["a", "b"], expression
    assert list(select_items(items, "name != 'café'")) == ["c", "d"]  # a missing cell is != as in pandas' query
