"""The text columns of a corpus's ratings held as codes: pandas categoricals (Arrow / Parquet dictionaries).

Every rating names an item, a rater, a condition, a slot and a label; a corpus of ten million ratings has a few
thousand distinct values in each. :func:`encode_ratings` stores each of these columns as a pandas
``category``: an integer code per rating plus the distinct values once. They stay so in memory and on disk
(``ratings.parquet`` writes them as dictionaries), so rules, agreement statistics and accounting can count
the codes (``ratings["label"].cat.codes``) instead of hashing the same strings again on every call.

The categories have a fixed order, so the codes mean the same thing wherever a corpus is built or loaded:

=========  ==========================================================================================
item       the items table's index, in its order (an unrated item is a category without ratings)
label      ``classes`` in their order (code ``k`` is class ``k``), then ``excluded``, then every other
           label (non-emotion slots, in sorted order)
rater      sorted (codepoint order)
condition  sorted
slot       sorted
=========  ==========================================================================================

The provenance columns ``source_file`` and ``source_column`` (one file name repeated over millions of
ratings) are coded the same way, sorted.

Public behaviour is that of text: ``ratings["slot"].eq("primary")``, ``isin``, ``.str`` and
``astype(str)`` read the values; a missing value (a rating without a rater) is a missing code (``-1``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

CODED_COLUMNS = ("item", "rater", "condition", "slot", "label", "source_file", "source_column")
_TEXT = pd.StringDtype()


def encode_ratings(
    ratings: pd.DataFrame, items: pd.Index, classes: Sequence[str], excluded: Sequence[str] = ()
) -> pd.DataFrame:
    """``ratings`` with its item, rater, condition, slot and label columns as ordered-category codes.

    Args:
        ratings: the long ratings table (text or category columns; the columns of
            :data:`CODED_COLUMNS` that are present are encoded, the others kept as they are).
        items: the items table's index: the item categories, in this order.
        classes: the corpus's classes: the first label categories, in this order.
        excluded: the excluded labels: the label categories after the classes.

    Returns:
        A new DataFrame (same index and column order); each coded column is a pandas ``category`` whose
        categories are text (``string`` dtype) in the order described in this module. Values already
        categorical are recoded through their categories (no string hashing per rating).

    Raises:
        ValueError: an item of the ratings is not in ``items`` (the Corpus validates that first, with a
            message naming the row).

    Example:
        >>> r = pd.DataFrame({"item": ["b", "a"], "rater": ["r2", "r1"], "label": ["sad", "angry"]})
        >>> coded = encode_ratings(r, pd.Index(["a", "b"]), ["angry", "sad"])
        >>> coded["item"].cat.codes.tolist(), coded["label"].cat.codes.tolist(), coded["rater"].cat.codes.tolist()
        ([1, 0], [1, 0], [1, 0])
        >>> coded["label"].eq("sad").tolist()
        [True, False]
    """
    out = ratings.copy(deep=False)
    for column in CODED_COLUMNS:
        if column not in out.columns:
            continue
        values = out[column]
        present = _distinct(values)
        if column == "item":
            categories = pd.Index(items, dtype=_TEXT)
            unknown = present.difference(categories)
            if len(unknown):
                raise ValueError(f"ratings name items that are not in the items table: {list(unknown[:5])}")
        elif column == "label":
            first = list(dict.fromkeys([*classes, *excluded]))
            rest = sorted(set(present.tolist()) - set(first))
            categories = pd.Index([*first, *rest], dtype=_TEXT)
        else:
            categories = pd.Index(sorted(present.tolist()), dtype=_TEXT)
        out[column] = _recode(values, categories)
    return out


def as_codes(values: pd.Series | np.ndarray, rename: Callable[[str], str] | None = None) -> pd.Series:
    """A text column as a pandas ``category`` of text, each distinct value put through ``rename`` once.

    Args:
        values: text, category or object values (missing stays missing; other cells become their ``str``).
        rename: applied to each distinct value (e.g. Unicode NFC, a class map); values that ``rename`` makes
            equal become one category. ``None`` keeps them.

    Returns:
        A category Series (the index of ``values`` when it is a Series) whose categories are text.

    Example:
        >>> as_codes(pd.Series(["A", "b", None, "a"]), str.lower).tolist()
        ['a', 'b', <NA>, 'a']
    """
    index = values.index if isinstance(values, pd.Series) else None
    if not isinstance(values, pd.Series) or not isinstance(values.dtype, pd.CategoricalDtype):
        series = pd.Series(values, index=index)
        text = series if isinstance(series.dtype, pd.StringDtype) else series.astype(_TEXT)
        values = pd.Series(pd.Categorical(text), index=index)
    categories = pd.Index(values.cat.categories, dtype=_TEXT)
    if rename is None:
        if values.cat.categories.dtype == _TEXT:
            return values
        return pd.Series(pd.Categorical.from_codes(values.cat.codes, categories=categories), index=index)
    renamed = pd.Index([rename(c) for c in categories.tolist()], dtype=_TEXT)
    if renamed.is_unique:
        return pd.Series(pd.Categorical.from_codes(values.cat.codes, categories=renamed), index=index)
    merged, distinct = pd.factorize(renamed)
    codes = values.cat.codes.to_numpy()
    new = np.where(codes >= 0, merged[np.maximum(codes, 0)], -1) if len(merged) else codes
    return pd.Series(pd.Categorical.from_codes(new, categories=pd.Index(distinct, dtype=_TEXT)), index=index)


def with_default(values: pd.Series, default: str) -> pd.Series:
    """A category column with its missing values set to ``default`` (added as a category where needed).

    >>> with_default(as_codes(pd.Series(["gender", None])), "primary").tolist()
    ['gender', 'primary']
    """
    values = as_codes(values)
    if not values.isna().any():
        return values
    if default not in values.cat.categories:
        values = values.cat.add_categories([default])
    return values.fillna(default)


def key_codes(values: pd.Series) -> np.ndarray:
    """One integer per distinct value (``-1`` for missing): the codes of a category column, else factorized.

    For grouping and finding repeats without hashing the strings of every rating again.

    >>> key_codes(pd.Series(["b", None, "b"], dtype="category")).tolist()
    [0, -1, 0]
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy()
    return pd.factorize(values, use_na_sentinel=True)[0]


def combined_codes(parts: Sequence[np.ndarray]) -> np.ndarray:
    """One int64 per row that is equal for two rows exactly when all their ``parts`` (integer codes) are equal.

    Mixed-radix packing of the codes, re-numbered when the product would leave int64: rows are then compared
    with one integer hash instead of a tuple of strings.

    >>> combined_codes([np.array([0, 0, 1, -1]), np.array([2, 2, 2, 2])]).tolist()
    [7, 7, 11, 3]
    """
    key = np.zeros(len(parts[0]) if len(parts) else 0, dtype=np.int64)
    for part in parts:
        part = np.asarray(part, dtype=np.int64) + 1  # -1 (missing) becomes 0
        radix = int(part.max(initial=0)) + 1
        if int(key.max(initial=0)) >= (2**62) // radix:
            key = pd.factorize(key)[0].astype(np.int64)
        key = key * radix + part
    return key


def per_distinct(values: pd.Series, func: Callable[[str], object], missing: object = None) -> pd.Series:
    """``func`` of each value, computed once per distinct value (``missing`` where a value is missing).

    For per-label work (free-text checks, class maps, case folding) on millions of ratings with a few labels.

    >>> per_distinct(pd.Series(["Anger", None, "Anger"]), str.lower).tolist()
    ['anger', None, 'anger']
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, uniques = values.cat.codes.to_numpy(), values.cat.categories
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    results = np.empty(len(uniques) + 1, dtype=object)
    results[:-1] = [func(u) for u in pd.Index(uniques).tolist()]
    results[-1] = missing
    return pd.Series(results[codes], index=values.index, dtype=object)


def as_text(ratings: pd.DataFrame) -> pd.DataFrame:
    """``ratings`` with its coded columns as text (``string`` dtype), for code that writes new values into them.

    >>> as_text(pd.DataFrame({"label": pd.Categorical(["a"])}))["label"].dtype
    <StringDtype(na_value=<NA>)>
    """
    coded = {c: _TEXT for c in CODED_COLUMNS if c in ratings.columns}
    return ratings.astype(coded)


def _distinct(values: pd.Series) -> pd.Index:
    """The distinct non-missing values of a text or category column, as text."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        counts = np.bincount(values.cat.codes.to_numpy().astype(np.int64) + 1, minlength=len(values.cat.categories) + 1)
        return pd.Index(values.cat.categories[counts[1:] > 0], dtype=_TEXT)
    return pd.Index(pd.unique(values.dropna().astype(_TEXT)), dtype=_TEXT)


def _recode(values: pd.Series, categories: pd.Index) -> pd.Series:
    """``values`` as a category column with exactly ``categories`` (old codes mapped through an indexer)."""
    dtype = pd.CategoricalDtype(categories)
    if isinstance(values.dtype, pd.CategoricalDtype):
        old = pd.Index(values.cat.categories, dtype=_TEXT)
        mapping = categories.get_indexer(old)  # -1 for a category absent from the new ones
        codes = values.cat.codes.to_numpy()
        new = np.where(codes >= 0, mapping[np.maximum(codes, 0)], -1) if len(old) else codes
        return pd.Series(pd.Categorical.from_codes(new.astype(_code_type(len(categories))), dtype=dtype),
                         index=values.index, name=values.name)  # fmt: skip
    return pd.Series(pd.Categorical(values.astype(_TEXT), dtype=dtype), index=values.index, name=values.name)


def _code_type(n: int) -> type:
    """The smallest signed integer type holding codes ``-1 .. n - 1`` (pandas' own choice)."""
    for kind in (np.int8, np.int16, np.int32):
        if n < np.iinfo(kind).max:
            return kind
    return np.int64


def is_coded(ratings: pd.DataFrame) -> bool:
    """True when every coded column present in ``ratings`` is a pandas ``category``.

    >>> is_coded(pd.DataFrame({"label": pd.Categorical(["a"])})), is_coded(pd.DataFrame({"label": ["a"]}))
    (True, False)
    """
    return all(isinstance(ratings[c].dtype, pd.CategoricalDtype) for c in CODED_COLUMNS if c in ratings.columns)
