"""Repeated judgements: one rater judging one item (in one condition) more than once.

A *field* is one answer a rater gives an item: the ``primary`` choice, a categorical attribute
(``gender``), or one labelled value (``intensity`` of ``joy``, ``dimension`` ``arousal``, a
``secondary`` label). A field given twice by the same rater for the same item and condition is a
*repeat*: *identical* when both answers agree, *conflicting* when they differ (another label or
another value). :func:`find_repeats` finds them (the Corpus validation uses it for its messages) and
:func:`resolve_repeats` applies an importer's ``duplicates`` policy:

=========  =================================================================================
error      refuse, naming the rater, the item, both answers and both source rows (default)
first      keep the rater's first judgement of the item, drop the later ones
last       keep the last judgement, drop the earlier ones
drop       drop every judgement of that rater on that item
mean       average the numeric fields (what public MSP-Podcast loaders do); refused when the
           categorical answers (primary, secondary, attributes) differ between the repeats
=========  =================================================================================

When an importer knows which ratings came from one source record (one row of a Likert table, one
rater record of MSP-Podcast), ``first`` / ``last`` keep whole records, so a secondary-label list is
never merged from two judgements; otherwise they work field by field.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError, option, where
from voxpop.corpus.codes import combined_codes, key_codes, repeated_mask, with_default

POLICIES = ("error", "first", "last", "drop", "mean")
_LINE_SUFFIXES = (".json", ".txt")
_SHOWN = 4


def check_policy(policy: str) -> None:
    """Raise ConfigError unless ``policy`` is one of :data:`POLICIES`."""
    if policy not in POLICIES:
        raise ConfigError(f"duplicates={policy!r}; expected one of {', '.join(POLICIES)}.")


def source_place(ratings: pd.DataFrame, row: int, column: str | None, with_item: bool = True) -> str:
    """Where rating ``row`` (position) comes from: ``a.csv, row 3, column 'x' (item 'c')``.

    With provenance columns the original file is named; JSON and text files are counted in lines
    (``a.json, line 12, field 'EmoAct'``); without provenance the place is the ratings table row.

    >>> r = pd.DataFrame({"item": ["c"], "source_file": ["a.json"], "source_row": [12], "source_column": ["EmoAct"]})
    >>> source_place(r, 0, "value")
    "a.json, line 12, field 'EmoAct' (item 'c')"
    """
    item = f" (item {ratings['item'].iat[row]!r})" if with_item else ""
    if "source_file" in ratings.columns and pd.notna(ratings["source_file"].iat[row]):
        file = str(ratings["source_file"].iat[row])
        src_row = ratings["source_row"].iat[row] if "source_row" in ratings.columns else None
        src_col = ratings["source_column"].iat[row] if "source_column" in ratings.columns else None
        src_row = None if src_row is None or pd.isna(src_row) else int(src_row)
        src_col = column if src_col is None or pd.isna(src_col) else str(src_col)
        if file.lower().endswith(_LINE_SUFFIXES):
            parts = [file, *([f"line {src_row}"] if src_row is not None else [])]
            parts += [f"field {src_col!r}"] if src_col is not None else []
            return ", ".join(parts) + item
        return where(file, src_row, src_col) + item
    return f"ratings {where(None, row + 1, column)}{item}"


def _slots(ratings: pd.DataFrame) -> pd.Series:
    """The slot of each rating (coded); an empty slot is ``primary``, as in the Corpus."""
    slot = ratings["slot"] if "slot" in ratings.columns else pd.Series(pd.NA, index=ratings.index, dtype="string")
    return with_default(slot, "primary")


def _single_choice(ratings: pd.DataFrame) -> np.ndarray:
    """True for ratings that are the one answer of their slot: primary, or a categorical attribute.

    Interval ratings are not: a rater may mark two emotions over the same span.
    """
    slot = _slots(ratings)
    other = ~slot.isin(["secondary", "intensity"]) & _column(ratings, "value").isna()
    return ((slot.eq("primary") | other) & _column(ratings, "start").isna()).to_numpy(dtype=bool)


def field_names(ratings: pd.DataFrame) -> pd.Series:
    """The field each rating answers: ``primary``, ``gender``, ``intensity 'joy'``, ``dimension 'arousal'``.

    >>> r = pd.DataFrame({"slot": ["primary", "intensity", "secondary"], "label": ["a", "joy", "sad"],
    ...                   "value": [np.nan, 2.0, np.nan]})
    >>> field_names(r).tolist()
    ['primary', "intensity 'joy'", "secondary 'sad'"]
    """
    slot = _slots(ratings)
    slot = slot.astype(str)
    labelled = slot + " '" + ratings["label"].astype(str) + "'"
    return labelled.where(~_single_choice(ratings), slot)


def find_repeats(ratings: pd.DataFrame) -> pd.DataFrame:
    """Ratings of fields one rater answered more than once for one item and condition.

    Returns one row per such rating (in table order) with ``position`` (row position in
    ``ratings``), ``group`` (one number per item, rater and condition), ``field`` (see
    :func:`field_names`), ``occurrence`` (0 for the first answer of the field, 1 for the second ...)
    and ``conflicting`` (True when the answers of that field differ). Ratings without a rater (vote
    counts) never repeat; interval ratings repeat only with the same start and end.

    >>> r = pd.DataFrame({"item": ["a", "a", "a"], "rater": ["r1", "r1", "r2"], "slot": "primary",
    ...                   "label": ["anger", "sad", "sad"], "value": np.nan})
    >>> find_repeats(r)[["position", "field", "occurrence", "conflicting"]]
       position    field  occurrence  conflicting
    0         0  primary           0         True
    1         1  primary           1         True
    """
    columns = ["position", "group", "field", "occurrence", "conflicting"]
    rated = ratings["rater"].notna().to_numpy(dtype=bool)
    if not rated.any():
        return pd.DataFrame(columns=columns)
    single = _single_choice(ratings)
    codes = {  # integer codes of the text columns (voxpop.corpus.codes): no string hashing per rating
        "item": key_codes(ratings["item"]),
        "rater": key_codes(ratings["rater"]),
        "condition": key_codes(_column(ratings, "condition")),
        "slot": key_codes(_slots(ratings)),
        "label": np.where(single, -1, key_codes(ratings["label"])),
        "start": key_codes(_column(ratings, "start")),
        "end": key_codes(_column(ratings, "end")),
    }
    key = list(codes)
    packed = combined_codes(list(codes.values()))  # >= 0
    packed[~rated] = -1 - np.flatnonzero(~rated)  # a rating without a rater is unlike every other
    positions = np.flatnonzero(repeated_mask(packed))
    if not len(positions):
        return pd.DataFrame(columns=columns)
    repeated = pd.DataFrame({"position": positions, **{k: v[positions] for k, v in codes.items()}})
    subset = ratings.iloc[repeated["position"].to_numpy()]
    repeated["field"] = field_names(subset).to_numpy(dtype=object)
    repeated["answer"] = _answers(subset)
    by_field = repeated.groupby(key, sort=False)
    repeated["occurrence"] = by_field.cumcount()
    repeated["conflicting"] = by_field["answer"].transform("nunique").gt(1).to_numpy()
    repeated["group"] = repeated.groupby(["item", "rater", "condition"], sort=False).ngroup()
    return repeated[columns].reset_index(drop=True)


def _column(ratings: pd.DataFrame, name: str) -> pd.Series:
    return ratings[name] if name in ratings.columns else pd.Series(np.nan, index=ratings.index)


def _answers(ratings: pd.DataFrame) -> np.ndarray:
    """The answer of each rating as text: its label for a single choice (plus a value if any), else its value."""
    value = _column(ratings, "value").astype(float)
    shown = value.map(lambda v: "" if np.isnan(v) else f"{v:g}")
    single = _single_choice(ratings)
    label = ratings["label"].astype(str)
    return np.where(single, label + "|" + shown, shown).astype(object)


def describe_answer(ratings: pd.DataFrame, row: int) -> str:
    """One answer as people read it: ``'anger'``, ``'anger' (level 60)`` for a valued choice, ``2`` for a value."""
    label, value = ratings["label"].iat[row], _column(ratings, "value").iat[row]
    if _single_choice(ratings.iloc[[row]])[0]:
        return repr(str(label)) + ("" if pd.isna(value) else f" (value {value:g})")
    return "" if pd.isna(value) else f"{value:g}"


def repeat_message(ratings: pd.DataFrame, repeats: pd.DataFrame, group: int) -> str:
    """The rater, the item and every repeated field of one group with both answers and both places."""
    rows = repeats[repeats["group"].eq(group)]
    first = int(rows["position"].iat[0])
    rater, item = ratings["rater"].iat[first], ratings["item"].iat[first]
    condition = _column(ratings, "condition").iat[first]
    within = "" if pd.isna(condition) else f" in condition {condition!r}"
    conflicting = bool(rows["conflicting"].any())
    kind = "a conflicting repeat" if conflicting else "an identical repeat"
    shown = [
        (field, answers["position"].astype(int).tolist())
        for field, answers in rows.groupby("field", sort=False)
        if answers["conflicting"].any() or not conflicting
    ]
    places = [tuple(source_place(ratings, p, None, with_item=False) for p in positions) for _, positions in shown]
    compact = len(shown) > 1 and len(set(places)) == 1  # one record per judgement (a CSV row): places once
    where_ = f" at {' and '.join(places[0])}" if compact else ""
    fields = []
    for (field, positions), at in zip(shown, places, strict=True):
        answers = [
            describe_answer(ratings, p) + ("" if compact else f" ({place})")
            for p, place in zip(positions, at, strict=True)
        ]
        fields.append(f"{field} " + " vs ".join(a.lstrip() for a in answers))
    more = f"; ... ({len(fields) - _SHOWN} more fields)" if len(fields) > _SHOWN else ""
    head = f"rater {rater!r} judged item {item!r}{within} more than once ({kind}){where_}: "
    return head + "; ".join(fields[:_SHOWN]) + more


def repeat_position(repeats: pd.DataFrame, group: int) -> int:
    """Where a group's repeat shows: the second answer of its first conflicting field (else of its first field)."""
    rows = repeats[repeats["group"].eq(group) & repeats["occurrence"].gt(0)]
    conflicting = rows[rows["conflicting"]]
    return int((conflicting if len(conflicting) else rows)["position"].iat[0])


def _second_place(ratings: pd.DataFrame, repeats: pd.DataFrame, group: int) -> str:
    return source_place(ratings, repeat_position(repeats, group), "rater")


def resolve_repeats(
    ratings: pd.DataFrame, policy: str, records: np.ndarray | pd.Series | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Apply a ``duplicates`` policy (see the module docstring) to the ratings of an importer.

    ``records`` (optional, one id per rating) says which ratings came from one source record, so that
    ``first`` / ``last`` keep whole records and ``mean`` compares whole categorical answers. Returns
    the ratings (index reset) and the notes for the import report (empty when nothing repeats).
    Raises :class:`InputError` under ``error`` (or ``mean`` with differing categorical answers),
    naming the rater, the item, both answers and both source places.
    """
    check_policy(policy)
    ratings = ratings.reset_index(drop=True)
    repeats = find_repeats(ratings)
    if repeats.empty:
        return ratings, []
    groups = int(repeats["group"].nunique())
    in_group = _group_of_rows(ratings, repeats)
    if policy == "error":
        conflicting = repeats.loc[repeats["conflicting"], "group"]
        shown = int(conflicting.iat[0]) if len(conflicting) else 0
        raise InputError(
            f"{_second_place(ratings, repeats, shown)}: {repeat_message(ratings, repeats, shown)}. {groups} rater-item "
            f"{'pair is' if groups == 1 else 'pairs are'} judged more than once in all; choose what to keep with "
            f"{option('duplicates', 'first')}, last, drop or mean."
        )
    record = pd.Series(np.arange(len(ratings)) if records is None else np.asarray(records), index=ratings.index)
    if policy == "drop":
        keep = in_group < 0
        what = "every judgement of those raters on those items dropped"
    elif policy == "mean":
        _refuse_categorical_conflicts(ratings, repeats, record, in_group, records is not None)
        ratings, keep = _averaged(ratings, repeats)
        what = "numeric answers averaged, each field kept once"
    elif records is None:
        keep = np.ones(len(ratings), dtype=bool)
        order = repeats.groupby(["group", "field"], sort=False)["occurrence"]
        last = order.transform("max")
        wanted = repeats["occurrence"].eq(0) if policy == "first" else repeats["occurrence"].eq(last)
        keep[repeats.loc[~wanted, "position"].to_numpy()] = False
        what = f"the {policy} answer of each repeated field kept"
    else:
        keep = _whole_records(record, in_group, policy)
        what = f"the {policy} judgement of each pair kept (whole source records)"
    dropped = int((~keep).sum())
    note = (
        f"Repeated judgements (one rater judging one item more than once): {groups} rater-item "
        f"pair{'' if groups == 1 else 's'}; "
        f"duplicates={policy!r}: {what}; {dropped} ratings removed."
    )
    return ratings[keep].reset_index(drop=True), [note]


def _group_of_rows(ratings: pd.DataFrame, repeats: pd.DataFrame) -> np.ndarray:
    """For every rating, the repeat group of its item, rater and condition (-1 when it is not repeated)."""
    keys = pd.DataFrame(
        {
            "item": ratings["item"].astype(object),
            "rater": ratings["rater"].astype(object),
            "condition": _column(ratings, "condition").astype(object).fillna(""),
        }
    )
    first = repeats.drop_duplicates("group")
    lookup = keys.iloc[first["position"].to_numpy()].assign(group=first["group"].to_numpy())
    merged = keys.merge(lookup, how="left", on=["item", "rater", "condition"])
    return merged["group"].fillna(-1).astype(int).to_numpy()


def _whole_records(record: pd.Series, in_group: np.ndarray, policy: str) -> np.ndarray:
    """Keep, in each repeat group, only the ratings of its first (or last) source record."""
    grouped = in_group >= 0
    frame = pd.DataFrame({"group": in_group[grouped], "record": record.to_numpy()[grouped]})
    order = frame.groupby("group")["record"].transform("first" if policy == "first" else "last")
    keep = np.ones(len(record), dtype=bool)
    keep[np.flatnonzero(grouped)] = (frame["record"] == order).to_numpy()
    return keep


def _refuse_categorical_conflicts(
    ratings: pd.DataFrame, repeats: pd.DataFrame, record: pd.Series, in_group: np.ndarray, by_record: bool
) -> None:
    """``mean`` cannot average categories: refuse when the categorical answers of a repeat differ."""
    single = _single_choice(ratings)
    positions = repeats["position"].to_numpy()
    labels = pd.Series(ratings["label"].astype(str).to_numpy()[positions], index=repeats.index)
    differ = labels.groupby([repeats["group"], repeats["field"]], sort=False).transform("nunique").gt(1)
    bad = repeats.loc[single[positions] & differ.to_numpy(), "group"]
    if by_record and bad.empty:
        rows = np.flatnonzero((in_group >= 0) & (single | _slots(ratings).eq("secondary").to_numpy()))
        answers = pd.DataFrame(
            {
                "group": in_group[rows],
                "record": record.to_numpy()[rows],
                "answer": (_slots(ratings).astype(str) + "=" + ratings["label"].astype(str)).to_numpy()[rows],
            }
        )
        sets = answers.groupby(["group", "record"])["answer"].agg(lambda a: tuple(sorted(a)))
        differ = sets.groupby(level="group").nunique()
        bad = pd.Series(differ.index[differ.gt(1)])
    if len(bad):
        group = int(bad.iat[0])
        raise InputError(
            f"{_second_place(ratings, repeats, group)}: {repeat_message(ratings, repeats, group)}; "
            f"{option('duplicates', 'mean')} averages numeric answers only and these repeats differ in their "
            f"categorical answers (primary, secondary or attribute labels): choose {option('duplicates', 'first')}, "
            "last or drop."
        )


def _averaged(ratings: pd.DataFrame, repeats: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The first rating of every repeated field carries the mean value of the field; the others are dropped."""
    ratings = ratings.copy()
    values = ratings["value"].to_numpy(dtype=float, copy=True)
    positions = repeats["position"].to_numpy()
    means = pd.Series(values[positions]).groupby([repeats["group"], repeats["field"]], sort=False).transform("mean")
    first = repeats["occurrence"].eq(0).to_numpy()
    values[positions[first]] = means.to_numpy()[first]
    ratings["value"] = values
    keep = np.ones(len(ratings), dtype=bool)
    keep[positions[~first]] = False
    return ratings, keep
