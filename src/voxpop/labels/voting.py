"""Votes from the long ratings table (METHODS.md section 2): the ratings a rule reads (slot, condition,
classes), per item vote counts over the classes and per rater label lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError, VoxpopError, option, where
from voxpop.corpus.corpus import STRING

TOLERANCE = 1e-9
"""Shares closer than this count as equal (mean pooling averages fractions, which are not exact)."""


Excluded = pd.DataFrame | pd.Series | int | None
"""Ratings outside the class set: items x labels, per item, or a total (accounting only)."""


# ====================================================================== layer 1: count matrices
def _as_list(values: str | Sequence[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [values] if isinstance(values, str) else [str(v) for v in values]


def _select(
    ratings: pd.DataFrame,
    slot: str | None,
    conditions: str | Sequence[str] | None,
    pool: bool,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The ratings of one slot and the chosen conditions; several conditions only when ``pool``.

    ``columns`` limits the result to the columns the caller reads (plus ``condition``).
    """
    mask = np.ones(len(ratings), dtype=bool)
    if slot is not None and "slot" in ratings.columns:
        mask &= ratings["slot"].eq(slot).to_numpy(dtype=bool, na_value=False)
    has_condition = "condition" in ratings.columns
    chosen = _as_list(conditions)
    if chosen is not None:
        if not has_condition:
            raise ConfigError(f"conditions {chosen} were requested, but the ratings have no 'condition' column")
        mask &= ratings["condition"].isin(chosen).to_numpy(dtype=bool, na_value=False)
    if columns is not None:
        ratings = ratings[[c for c in dict.fromkeys([*columns, "condition"]) if c in ratings.columns]]
    selected = ratings if mask.all() else ratings[mask]  # every row chosen: no copy of the columns
    if not pool and has_condition:
        present = [str(c) for c in pd.unique(selected["condition"].dropna())]
        if len(present) > 1:
            raise ConfigError(
                f"the ratings cover {len(present)} conditions ({', '.join(present)}); choose one with "
                f"{option('condition')}, or pool them with {option('pool', True)}"
            )
    return selected


def column_codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer code of every value of a ratings column and the distinct values the codes index (-1: missing).

    A categorical column (the corpus stores item, rater, label, slot and condition so) gives its own codes
    and categories without re-encoding; its categories may hold values that do not occur in ``values``.
    Any other column is factorized once (distinct values in order of first appearance).

    Args:
        values: one ratings column (a selection of rows of it).

    Returns:
        ``(codes, uniques)``: ``codes`` an integer array of len(values), ``uniques`` an Index with
        ``uniques[codes[k]] == values.iloc[k]`` wherever ``codes[k] >= 0``.

    Example:
        >>> column_codes(pd.Series(["b", "a", "b"]))
        (array([0, 1, 0]), Index(['b', 'a'], dtype='str'))
        >>> column_codes(pd.Series(["b", "a", "b"], dtype=pd.CategoricalDtype(["a", "b", "c"])))[0]
        array([1, 0, 1], dtype=int8)
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), values.cat.categories
    codes, uniques = pd.factorize(values)
    return codes, pd.Index(uniques)


def _used(codes: np.ndarray, n_uniques: int) -> np.ndarray:
    """Mask of the distinct values (0..n_uniques-1) that at least one non-missing code names."""
    return np.bincount(codes[codes >= 0], minlength=n_uniques) > 0


def _first_missing(selected: pd.DataFrame, codes: np.ndarray, column: str) -> InputError:
    """The error for a rating without a value in ``column`` (its code is -1), naming its row (1-based for a
    table numbered from 0, as :func:`voxpop.core.errors.where` counts rows)."""
    row = selected.index[int(np.flatnonzero(codes < 0)[0])]
    row = row + 1 if isinstance(row, int | np.integer) else row
    return InputError(
        f"ratings {where(None, row, column)}: empty {column}; every rating needs one (fill it or drop the row)"
    )


def _item_codes(selected: pd.DataFrame, items: pd.Index | Sequence[str] | None) -> tuple[np.ndarray, pd.Index]:
    """Row position of every selected rating's item in the result index (``items``, else order of appearance).

    Raises:
        InputError: a rating without an item, or an item that is not in ``items``.
    """
    codes, uniques = column_codes(selected["item"])
    codes = codes.astype(np.int64)  # item x class keys must not overflow a categorical's small codes
    if (codes < 0).any():
        raise _first_missing(selected, codes, "item")
    if items is None:
        present = pd.unique(codes)  # the rated items in order of first appearance (categories may hold others)
        position = np.full(len(uniques), -1, dtype=np.int64)
        position[present] = np.arange(len(present))
        return position[codes], pd.Index(uniques.take(present), name="item", dtype=STRING)
    index = pd.Index(items, name="item", dtype=STRING)
    if uniques.equals(index):  # categories in the items table's order: the codes are the rows
        return codes, index
    position = index.get_indexer(uniques)
    unknown = (position < 0) & _used(codes, len(uniques))
    if unknown.any():
        raise InputError(f"ratings name items that are not in the item index, e.g. {list(uniques[unknown][:5])}")
    return position[codes], index


def _class_codes(
    selected: pd.DataFrame,
    classes: Sequence[str],
    class_map: Mapping[str, str] | None,
    excluded: Sequence[str],
) -> np.ndarray:
    """Per rating the position of its (mapped) label in ``classes``, or -1 for a label outside the set.

    Labels are mapped through ``class_map``; a mapped label that is not a class is excluded (counted,
    never a target). A label that is neither a class, nor excluded, nor a class-map key is an error.
    The mapping is decided once per distinct label (:func:`column_codes`), never per rating.
    """
    class_map = dict(class_map or {})
    codes, uniques = column_codes(selected["label"])
    if (codes < 0).any():
        item = selected["item"].iloc[int(np.flatnonzero(codes < 0)[0])]
        raise InputError(f"ratings column 'label': empty label (first on item {item!r}); every rating needs a label")
    known = set(classes) | set(excluded) | set(class_map)
    unknown = [u for u in uniques if u not in known]
    if unknown:  # a categorical's unused categories are no error
        unknown = [u for u, used in zip(uniques, _used(codes, len(uniques)), strict=True) if used and u not in known]
    if unknown:
        first = selected["item"].iloc[int(np.flatnonzero(codes == uniques.get_loc(unknown[0]))[0])]
        raise InputError(
            f"ratings column 'label': {unknown[:5]} (first on item {first!r}) are neither classes "
            f"({', '.join(classes)}) nor excluded ({', '.join(excluded) or 'none'}); "
            "add them to the class map or to the excluded classes"
        )
    position = {c: i for i, c in enumerate(classes)}
    lookup = np.array([position.get(class_map.get(u, u), -1) for u in uniques], dtype=np.int64)
    if np.array_equal(lookup, np.arange(len(uniques))):  # categories = the classes in order: the codes are it
        return codes
    return lookup[codes]


def vote_counts(
    ratings: pd.DataFrame,
    classes: Sequence[str],
    *,
    slot: str | None = "primary",
    conditions: str | Sequence[str] | None = None,
    pool: bool = True,
    class_map: Mapping[str, str] | None = None,
    excluded: Sequence[str] = (),
    items: pd.Index | Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Vote counts n_ic (items x classes) and per item the number of excluded-class ratings.

    Counts every rating of ``slot`` (None: all slots) in ``conditions`` (None: all); several
    conditions are summed (pooled), which requires ``pool=True``. Labels are mapped through
    ``class_map``; labels outside ``classes`` (``excluded``, or mapped to a non-class) are not counted
    in n_ic but in the second result. ``items`` fixes the row index (unrated items get zero rows);
    by default the rated items in order of first appearance.

    Pooled conditions (METHODS.md): voice A*2,S*2,N*4 + face A*4,S*2,N*2 + AV A*6,S*2 -> A*12,S*6,N*6.

    >>> votes = {"voice": "AASSNNNN", "face": "AAAASSNN", "av": "AAAAAASS"}
    >>> ratings = pd.DataFrame([("clip", cond, label) for cond, labels in votes.items() for label in labels],
    ...                        columns=["item", "condition", "label"])
    >>> counts, excluded = vote_counts(ratings, ["A", "S", "N"])
    >>> counts
          A  S  N
    item
    clip  12  6  6
    >>> vote_counts(ratings, ["A", "S"], conditions="voice", excluded=["N"])[1].tolist()
    [4]
    """
    selected = _select(ratings, slot, conditions, pool, ["item", "label"])
    item_code, index = _item_codes(selected, items)
    class_code = _class_codes(selected, classes, class_map, excluded)
    n_items, n_classes = len(index), len(classes)
    inside = class_code >= 0
    if inside.all():  # no rating outside the class set: no selection to copy
        flat = np.bincount(item_code * n_classes + class_code, minlength=n_items * n_classes)
        outside_counts = np.zeros(n_items, dtype=np.int64)
    else:
        flat = np.bincount(item_code[inside] * n_classes + class_code[inside], minlength=n_items * n_classes)
        outside_counts = np.bincount(item_code[~inside], minlength=n_items)
    counts = pd.DataFrame(flat.reshape(n_items, n_classes), index=index, columns=list(classes), copy=False)
    outside = pd.Series(outside_counts, index=index, name="excluded")
    return counts, outside


def _first_of_runs(ordered: np.ndarray) -> np.ndarray:
    """Mask of the first element of each run of equal values in a sorted array."""
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    return first


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct integers (np.unique takes seconds on a few million int64 under numpy 2.4; np.sort does not)."""
    ordered = np.sort(values)
    return ordered[_first_of_runs(ordered)]


def list_votes(
    ratings: pd.DataFrame,
    classes: Sequence[str],
    *,
    slot: str | None = "secondary",
    conditions: str | Sequence[str] | None = None,
    pool: bool = True,
    class_map: Mapping[str, str] | None = None,
    excluded: Sequence[str] = (),
    items: pd.Index | Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Multi-choice votes: v_ic = raters whose list for item i names class c; L_i = lists given for item i.

    One list is one rater's answer in one condition (one row per chosen label). A list that names a
    class twice (two labels mapped to one class) counts once; a list of excluded labels only still
    counts in L_i. Needs rater ids.

    Lists {N,S}, {N,O}, {S,U}, {N,S,O} with O excluded: N and S are each named by 3 of 4 raters.

    >>> lists = {"r1": "NS", "r2": "NO", "r3": "SU", "r4": "NSO"}
    >>> ratings = pd.DataFrame([("clip", r, "secondary", x) for r, xs in lists.items() for x in xs],
    ...                        columns=["item", "rater", "slot", "label"])
    >>> votes, n_lists = list_votes(ratings, ["N", "S", "U"], excluded=["O"])
    >>> votes.loc["clip"].tolist(), n_lists.tolist()
    ([3, 3, 1], [4])
    """
    selected = _select(ratings, slot, conditions, pool, ["item", "rater", "label"])
    if "rater" not in selected.columns or selected["rater"].isna().any():
        raise VoxpopError(
            "agreement on multi-choice lists needs rater ids (which labels one rater listed), but some "
            f"{slot or ''} ratings have no rater; import per-rater responses"
        )
    item_code, index = _item_codes(selected, items)
    class_code = _class_codes(selected, classes, class_map, excluded)
    rater_code = column_codes(selected["rater"])[0].astype(np.int64)
    if "condition" in selected.columns:  # one list per rater and condition
        condition_code = column_codes(selected["condition"])[0].astype(np.int64) + 1  # 0 = no condition
        rater_code = rater_code * (int(condition_code.max(initial=0)) + 1) + condition_code
    n_raters, n_classes = int(rater_code.max(initial=0)) + 1, len(classes)
    list_code = item_code.astype(np.int64) * n_raters + rater_code
    n_lists = np.bincount(_distinct(list_code) // n_raters, minlength=len(index))
    inside = class_code >= 0
    listed = _distinct(list_code[inside] * n_classes + class_code[inside])  # each class once per list
    flat = np.bincount(
        listed // n_classes // n_raters * n_classes + listed % n_classes, minlength=len(index) * n_classes
    )
    votes = pd.DataFrame(flat.reshape(len(index), n_classes), index=index, columns=list(classes))
    return votes, pd.Series(n_lists, index=index, name="lists")
