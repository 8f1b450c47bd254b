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
        if column == "item":
            categories = pd.Index(items, dtype=_TEXT)
            unknown = [] if _has_categories(values, categories) else _distinct(values).difference(categories)
            if len(unknown):  # (categories in the items table's order: every item is known without a look-up)
                raise ValueError(f"ratings name items that are not in the items table: {list(unknown[:5])}")
            out[column] = _recode(values, categories)
            continue
        present = _distinct(values)
        if column == "label":
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
        return pd.Series(pd.Categorical.from_codes(values.array.codes, categories=categories), index=index)
    return recode_categories(values, pd.Index([rename(c) for c in categories.tolist()], dtype=_TEXT))


def recode_categories(values: pd.Series, renamed: pd.Index | Sequence[str | None]) -> pd.Series:
    """A category column whose ``k``-th category becomes ``renamed[k]``; categories made equal are merged.

    The work is per category (one pass over the codes when two merge), never per rating; a category renamed
    to missing (``None`` / NaN) makes its ratings missing.

    Args:
        values: a pandas ``category`` Series.
        renamed: one new value per category of ``values``, in their order.

    Returns:
        A category Series (index of ``values``) whose categories are text (``string`` dtype).

    Raises:
        ValueError: ``renamed`` does not have one value per category.

    Example:
        >>> column = pd.Series(["a ", "a", "b", None], dtype="category")
        >>> recode_categories(column, ["a", "a", None]).tolist()
        ['a', 'a', <NA>, <NA>]
    """
    renamed = pd.Index(renamed, dtype=_TEXT)
    if len(renamed) != len(values.cat.categories):
        raise ValueError(f"{len(renamed)} new names for {len(values.cat.categories)} categories")
    if _has_categories(values, renamed):  # nothing renamed (ids already stripped): no look at a million names
        return values
    codes = values.array.codes
    if renamed.is_unique and not renamed.hasnans:
        return pd.Series(pd.Categorical.from_codes(codes, categories=renamed), index=values.index)
    merged, distinct = pd.factorize(renamed, use_na_sentinel=True)
    new = np.where(codes >= 0, merged[np.maximum(codes, 0)], -1) if len(merged) else codes
    return pd.Series(pd.Categorical.from_codes(new, categories=pd.Index(distinct, dtype=_TEXT)), index=values.index)


def category_mask(values: pd.Series, test: Callable[[pd.Index], np.ndarray | pd.Index | pd.Series]) -> np.ndarray:
    """A boolean per rating from a vectorised ``test`` of the distinct texts: per category, not per rating.

    Args:
        values: a text or category Series (a text column is coded first, :func:`as_codes`).
        test: takes the categories (a text ``Index``) and returns one boolean per category (missing: False).

    Returns:
        A ``bool`` array, one per value of ``values``; missing values are False.

    Example:
        >>> category_mask(pd.Series(["ab", None, "abc"]), lambda c: c.str.len() > 2).tolist()
        [False, False, True]
    """
    coded = as_codes(values)
    hits = np.asarray(pd.Series(test(pd.Index(coded.cat.categories, dtype=_TEXT))).fillna(False), dtype=bool)
    table = np.append(hits, False)  # code -1 (missing) reads the last entry
    return table[coded.array.codes]


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

    For grouping and finding repeats without hashing the strings of every rating again. The codes of an
    all-missing number column are a read-only view of one ``-1``.

    >>> key_codes(pd.Series(["b", None, "b"], dtype="category")).tolist()
    [0, -1, 0]
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.array.codes
    if isinstance(values.dtype, np.dtype) and values.dtype.kind == "f" and np.isnan(values.to_numpy()).all():
        return np.broadcast_to(np.intp(-1), len(values))  # an unused number column (no start / end): no memory
    return pd.factorize(values, use_na_sentinel=True)[0]


def combined_codes(parts: Sequence[np.ndarray]) -> np.ndarray:
    """One integer per row that is equal for two rows exactly when all their ``parts`` (integer codes) are equal.

    Mixed-radix packing of the codes, re-numbered when the product would leave int64: rows are then compared
    with one integer hash instead of a tuple of strings. A part with one code on every row tells no two rows
    apart and is skipped; the key is built in place (one array, whatever the number of parts), as int32 when
    every key fits (half the memory to write and sort), else int64.

    >>> combined_codes([np.array([0, 0, 1, -1]), np.array([2, 2, 0, 2]), np.array([5, 5, 5, 5])]).tolist()
    [7, 7, 9, 3]
    """
    n = len(parts[0]) if len(parts) else 0
    ranges = [(np.asarray(p), *((int(np.min(p)), int(np.max(p))) if n else (0, 0))) for p in parts]
    varying = [(part, high) for part, low, high in ranges if low != high]
    largest = 1
    for _, high in varying:
        largest *= high + 2
    key = np.zeros(n, dtype=np.int32 if largest <= np.iinfo(np.int32).max else np.int64)
    top = 0  # the largest key so far
    for part, high in varying:
        radix = high + 2  # codes -1 (missing) .. high become 0 .. high + 1
        if top >= (2**62) // radix:
            key = pd.factorize(key)[0].astype(np.int64)
            top = int(key.max())
        key *= radix
        key += part
        key += 1
        top = top * radix + high + 1
    return key


def repeated_mask(keys: np.ndarray) -> np.ndarray:
    """True for each key that occurs more than once (``pandas.Series.duplicated(keep=False)``), by one sort.

    A sort of the keys (:func:`combined_codes`) touches memory in order, where a hash table of ten million
    keys misses the cache on nearly every one; when no key repeats (the usual case) that sort is all the work.
    Keys that fit 32 bits (a million items x a thousand raters do) are sorted as such, in about 60 % of the time;
    keys nearly in order already (a table grouped by item, the usual layout) are merge-sorted, which finds
    the ordered runs (0.03 s for ten million keys, where a quicksort takes 0.5 s).

    Args:
        keys: integer keys, one per row.

    Returns:
        A ``bool`` array of ``len(keys)``.

    Example:
        >>> repeated_mask(np.array([5, 3, 5, 9, 3, 5])).tolist()
        [True, True, True, False, True, True]
    """
    keys = np.asarray(keys)
    small = len(keys) and np.iinfo(np.int32).min <= keys.min() and keys.max() <= np.iinfo(np.int32).max
    keys_in_order = np.count_nonzero(keys[1:] < keys[:-1]) < len(keys) // 16
    ordered = keys.astype(np.int32) if small else keys.copy()  # one copy, sorted in place
    ordered.sort(kind="stable" if keys_in_order else None)
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return np.zeros(len(keys), dtype=bool)
    return np.isin(keys, np.unique(ordered[1:][same]))


def per_distinct(values: pd.Series, func: Callable[[str], object], missing: object = None) -> pd.Series:
    """``func`` of each value, computed once per distinct value (``missing`` where a value is missing).

    For per-label work (free-text checks, class maps, case folding) on millions of ratings with a few labels.

    When every result is text (and ``missing`` is None) the answer is a category column (text per distinct
    value, :func:`recode_categories`); when every result and ``missing`` are booleans it is a ``bool`` column;
    otherwise an object column.

    >>> per_distinct(pd.Series(["Anger", None, "Anger"]), str.lower).tolist()
    ['anger', <NA>, 'anger']
    >>> per_distinct(pd.Series(["Anger", None]), str.isupper, False).dtype
    dtype('bool')
    """
    coded = as_codes(values)
    codes, uniques = coded.array.codes, coded.cat.categories
    found = [func(u) for u in uniques.tolist()]
    if missing is None and all(isinstance(r, str) for r in found):
        return recode_categories(coded, pd.Index(found, dtype=_TEXT)).set_axis(values.index)
    kind = bool if isinstance(missing, bool) and all(isinstance(r, bool | np.bool_) for r in found) else object
    results = np.empty(len(uniques) + 1, dtype=kind)
    results[:-1] = found
    results[-1] = missing
    return pd.Series(results[codes], index=values.index, dtype=kind)


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
        counts = np.bincount(values.array.codes.astype(np.int64) + 1, minlength=len(values.cat.categories) + 1)
        return pd.Index(values.cat.categories[counts[1:] > 0], dtype=_TEXT)
    return pd.Index(pd.unique(values.dropna().astype(_TEXT)), dtype=_TEXT)


def _recode(values: pd.Series, categories: pd.Index) -> pd.Series:
    """``values`` as a category column with exactly ``categories`` (old codes mapped through an indexer)."""
    dtype = known_unique_dtype(categories)
    if _has_categories(values, categories):  # the same texts in order: codes kept, the categories' name set
        if values.cat.categories.name == categories.name:
            return values
        coded = pd.Categorical.from_codes(values.array.codes, dtype=dtype, validate=False)
        return pd.Series(coded, index=values.index, name=values.name)
    if isinstance(values.dtype, pd.CategoricalDtype):
        new = _mapped_codes(values, categories)
        return pd.Series(pd.Categorical.from_codes(new.astype(_code_type(len(categories))), dtype=dtype),
                         index=values.index, name=values.name)  # fmt: skip
    return pd.Series(pd.Categorical(values.astype(_TEXT), dtype=dtype), index=values.index, name=values.name)


def _mapped_codes(values: pd.Series, categories: pd.Index) -> np.ndarray:
    """The codes of category column ``values`` mapped onto ``categories`` (old codes through an indexer; ``-1``
    for a missing value or a category absent from the new ones)."""
    old = pd.Index(values.cat.categories, dtype=_TEXT)
    mapping = pd.Index(categories, dtype=_TEXT).get_indexer(old)
    codes = values.array.codes
    return np.where(codes >= 0, mapping[np.maximum(codes, 0)], -1) if len(old) else codes


def codes_in(values: pd.Series, categories: pd.Index) -> np.ndarray:
    """The position of each value in ``categories`` (``-1``: missing or not there): the column's own codes when
    its categories are ``categories`` in order (a corpus's item column and its items table), no look-up.

    >>> codes_in(pd.Series(["b", "z", None], dtype="category"), pd.Index(["a", "b"])).tolist()
    [1, -1, -1]
    """
    values = as_codes(values)
    if _has_categories(values, pd.Index(categories, dtype=_TEXT)):
        return values.array.codes
    return _mapped_codes(values, categories)


def count_distinct(values: pd.Series) -> int:
    """The number of distinct non-missing values of a text or category column (counted on the codes).

    >>> count_distinct(pd.Series(["r2", None, "r1", "r2"], dtype="category"))
    2
    """
    return len(_distinct(values))


def unknown_items(values: pd.Series, items: pd.Index) -> np.ndarray:
    """True for each rating whose item is not in ``items`` (missing items are False), per distinct item.

    A column whose categories are ``items`` in their order (an importer that listed the rated items) is
    known at once; otherwise each category is looked up once.

    >>> unknown_items(pd.Series(["a", "c", None, "a"], dtype="category"), pd.Index(["a", "b"])).tolist()
    [False, True, False, False]
    """
    if _has_categories(values, pd.Index(items, dtype=_TEXT)):
        return np.zeros(len(values), dtype=bool)
    return category_mask(values, lambda ids: ~ids.isin(items))


def known_unique_dtype(categories: pd.Index) -> pd.CategoricalDtype:
    """The category dtype of ``categories`` that the caller knows to be distinct (a dictionary, sorted distinct
    values), made without pandas hashing them all again to check (0.4 s for a million item names).

    >>> known_unique_dtype(pd.Index(["a", "b"])).categories.tolist()
    ['a', 'b']
    """
    fastpath = getattr(pd.CategoricalDtype, "_from_fastpath", None)  # pandas' own constructor for known categories
    return fastpath(categories, False) if fastpath is not None else pd.CategoricalDtype(categories)


def _has_categories(values: pd.Series, categories: pd.Index) -> bool:
    """True when ``values`` is a category column with exactly ``categories`` (text, in this order).

    One comparison of the texts in order, where recoding would hash every one (a million item names).
    """
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return False
    return values.cat.categories.dtype == categories.dtype and values.cat.categories.equals(categories)


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
