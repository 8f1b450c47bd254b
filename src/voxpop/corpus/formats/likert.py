"""Likert tables: one row per (item, rater), one column per emotion holding a level on a scale.

Each emotion cell becomes one rating in slot ``intensity`` (label = emotion, value = number).
Categorical columns such as gender or age become ratings in their own attribute slot (label = the
cell text); numeric attribute columns such as sentiment become ratings in their own slot with
label = the slot name and value = the number. Free-text columns become item metadata.

Presets: :func:`read_earkick` (the Earkick re-annotation of 348 clips, ABAW 2023) and
:func:`read_mosei` (CMU-MOSEI raw Mechanical Turk ratings).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError, option, where
from voxpop.corpus.corpus import EMOTION_SLOTS, STRING, Corpus
from voxpop.corpus.formats.tables import (
    DEFAULT_ENCODING,
    describe_import,
    finite_numbers,
    id_column,
    read_table,
    require_columns,
    shown,
    text_column,
)
from voxpop.corpus.formats.text_checks import join_id_columns
from voxpop.corpus.repeats import check_policy, resolve_repeats
from voxpop.corpus.slots import LabelOrder

DEFAULT_LEVELS = {"None": 0.0, "A little": 1.0, "Moderate": 2.0, "Extremely": 3.0}
def _missing_hint() -> str:
    return f" Pass {option('allow_missing', True)} to skip empty cells; they are counted."


@dataclasses.dataclass(frozen=True)
class Scale:
    """A numeric answer scale low..high; a cell is a number or the name of a level in ``levels``."""

    low: float
    high: float
    levels: Mapping[str, float] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_levels(cls, levels: Mapping[str, float] | None = None, bounds: Sequence[float] | None = None) -> Scale:
        """The scale of named ``levels`` (default None / A little / Moderate / Extremely = 0..3).

        ``bounds`` (low, high) default to the smallest and largest level.

        >>> Scale.from_levels()
        Scale(low=0.0, high=3.0, levels={'None': 0.0, 'A little': 1.0, 'Moderate': 2.0, 'Extremely': 3.0})
        """
        levels = dict(DEFAULT_LEVELS if levels is None else levels)
        if bounds is None:
            if not levels:
                raise ConfigError("a scale without named levels needs its bounds (scale=(low, high), CLI --scale).")
            bounds = (min(levels.values()), max(levels.values()))
        low, high = (float(b) for b in bounds)
        return cls(low, high, {str(k): float(v) for k, v in levels.items()})

    def expected(self) -> str:
        """What a cell may hold, for error messages.

        >>> Scale(0, 9, {"0 - None": 0, "9 - Most": 9}).expected()
        "a number 0..9 or one of '0 - None' (0), '9 - Most' (9)"
        """
        named = ", ".join(f"{k!r} ({v:g})" for k, v in self.levels.items())
        return f"a number {self.low:g}..{self.high:g}" + (f" or one of {named}" if named else "")


def scale_values(table: pd.DataFrame, column: str, file: str, scale: Scale, allow_missing: bool = False) -> np.ndarray:
    """The numbers of a column of answers: a level name gives its number, other cells must be numbers.

    Empty cells become NaN when ``allow_missing``, else they are an error; so is a cell that is
    neither a level nor a finite number. Errors name file, row, column, the cell and the allowed
    levels. (Numbers outside the scale are reported by the Corpus validation, at the same place.)

    >>> table = pd.DataFrame({"joy": ["None", "2", "Extremely", None]})
    >>> scale_values(table, "joy", "t.csv", Scale.from_levels(), allow_missing=True)
    array([ 0.,  2.,  3., nan])
    >>> scale_values(table.assign(joy=["None", "very"] * 2), "joy", "t.csv", Scale.from_levels())
    Traceback (most recent call last):
    ...
    voxpop.core.errors.InputError: t.csv, row 2, column 'joy': expected a number 0..3 or one of 'None' (0), ...
    """
    text = text_column(table, column)
    is_level = text.isin(list(scale.levels)).to_numpy()
    empty = text.isna().to_numpy()
    values = finite_numbers(text.astype(object).where(~is_level & ~empty))
    values[is_level] = [scale.levels[t] for t in text[is_level]]
    bad = ~empty & np.isnan(values)
    if not allow_missing:
        bad |= empty
    rows = np.flatnonzero(bad)
    if len(rows):
        first = rows[0]
        found = "an empty cell" if empty[first] else shown(text.iat[first])
        more = f" ({len(rows)} such cells in this column)" if len(rows) > 1 else ""
        hint = _missing_hint() if empty[first] else ""
        raise InputError(f"{where(file, first + 1, column)}: expected {scale.expected()}, found {found}.{more}{hint}")
    return values


@dataclasses.dataclass(frozen=True)
class LikertLayout:
    """Which column plays which role in a Likert table.

    - ``item_column``: the item id; several columns are joined with ``_``; with
      ``item_from_path`` the id is the file stem of the cell (``/x/?d=s/8404_8.m4a`` -> ``8404_8``); two different
      cells with one stem, or a cell naming no file, are refused by row.
    - ``rater_column``: the rater id.
    - ``emotion_columns``: one intensity rating per cell on ``scale``; classes in this order.
    - ``attribute_columns``: categorical answers, slot = column, label = cell text.
    - ``numeric_columns``: numeric answers, slot = label = column, value on the given scale.
    - ``metadata_columns``: item metadata: the distinct non-empty texts of an item joined by `` | ``.
    - ``flag_columns``: item column ``flagged`` = some rater wrote something in one of them.
    - ``rename``: column -> class or slot or metadata name (e.g. ``Answer.happiness`` -> ``happy``).
    - ``slots``: slot -> declared order (and values) of an ordered attribute (:mod:`voxpop.corpus.slots`).
    - ``allow_missing``: skip (and count) empty answer cells instead of refusing them.
    """

    item_column: str | tuple[str, ...]
    rater_column: str
    emotion_columns: tuple[str, ...]
    scale: Scale = dataclasses.field(default_factory=Scale.from_levels)
    attribute_columns: tuple[str, ...] = ()
    numeric_columns: Mapping[str, Scale] = dataclasses.field(default_factory=dict)
    metadata_columns: tuple[str, ...] = ()
    flag_columns: tuple[str, ...] = ()
    rename: Mapping[str, str] = dataclasses.field(default_factory=dict)
    slots: Mapping[str, LabelOrder] = dataclasses.field(default_factory=dict)
    item_from_path: bool = False
    allow_missing: bool = False

    @property
    def item_columns(self) -> tuple[str, ...]:
        return (self.item_column,) if isinstance(self.item_column, str) else tuple(self.item_column)

    @property
    def classes(self) -> list[str]:
        return [self.name(c) for c in self.emotion_columns]

    def name(self, column: str) -> str:
        """The class, slot or metadata name of a column."""
        return self.rename.get(column, column)

    def columns(self) -> list[str]:
        """Every column the table must have."""
        roles = (
            self.item_columns,
            (self.rater_column,),
            self.emotion_columns,
            self.attribute_columns,
            tuple(self.numeric_columns),
            self.metadata_columns,
            self.flag_columns,
        )
        return list(dict.fromkeys(c for role in roles for c in role))

    def scales(self) -> dict[str, tuple[float, float]]:
        """Declared scales per slot: ``intensity`` and every numeric attribute."""
        numeric = {self.name(c): (s.low, s.high) for c, s in self.numeric_columns.items()}
        return {"intensity": (self.scale.low, self.scale.high), **numeric}

    def check(self) -> None:
        """Refuse layouts that cannot give a valid corpus (no emotions, attribute named like an emotion slot)."""
        if not self.emotion_columns:
            raise ConfigError("a Likert layout needs at least one emotion column.")
        for column in (*self.attribute_columns, *self.numeric_columns):
            if self.name(column) in EMOTION_SLOTS:
                raise ConfigError(
                    f"attribute column {column!r} would become slot {self.name(column)!r}, which is reserved for "
                    f"emotions ({', '.join(EMOTION_SLOTS)}); rename it (rename={{{column!r}: 'other name'}})."
                )


def likert_tables(table: pd.DataFrame, file: str, layout: LikertLayout) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Items, long ratings (with provenance) and import notes from a Likert table of text cells.

    Ratings come row by row (all answers of table row 1, then row 2 ...).

    >>> table = pd.DataFrame({"clip": ["a", "a"], "who": ["r1", "r2"], "joy": ["None", "2"], "sex": ["Male", "Male"]})
    >>> items, ratings, notes = likert_tables(table, "t.csv", LikertLayout("clip", "who", ("joy",),
    ...                                       attribute_columns=("sex",)))
    >>> ratings[["item", "rater", "slot", "label", "value", "source_row", "source_column"]]
      item rater       slot label  value  source_row source_column
    0    a    r1  intensity   joy    0.0           1           joy
    1    a    r1        sex  Male    NaN           1           sex
    2    a    r2  intensity   joy    2.0           2           joy
    3    a    r2        sex  Male    NaN           2           sex
    """
    layout.check()
    ids = _item_ids(table, layout, file)
    raters = text_column(table, layout.rater_column, file).to_numpy(dtype=object)
    rows = np.arange(1, len(table) + 1)
    parts = []

    def add(column: str, slot: str, label: object, value: np.ndarray) -> None:
        parts.append(
            pd.DataFrame(
                {
                    "item": ids,
                    "rater": raters,
                    "slot": slot,
                    "label": label,
                    "value": value,
                    "source_file": file,
                    "source_row": rows,
                    "source_column": column,
                }
            )
        )

    for column in layout.emotion_columns:
        values = scale_values(table, column, file, layout.scale, layout.allow_missing)
        add(column, "intensity", layout.name(column), values)
    for column, scale in layout.numeric_columns.items():
        values = scale_values(table, column, file, scale, layout.allow_missing)
        add(column, layout.name(column), layout.name(column), values)
    no_value = np.full(len(table), np.nan)
    for column in layout.attribute_columns:
        add(column, layout.name(column), _labels(table, column, file, layout.allow_missing), no_value)
    ratings = pd.concat(parts, ignore_index=True).sort_values("source_row", kind="stable", ignore_index=True)
    answered = ratings["label"].notna() & (ratings["value"].notna() | ~_has_value(ratings, layout))
    notes = []
    if not answered.all():
        skipped = ratings.loc[~answered, "source_column"].value_counts(sort=False)
        detail = ", ".join(f"{c}: {n}" for c, n in skipped.items())
        notes.append(f"{int((~answered).sum())} empty answer cells skipped ({detail}).")
        ratings = ratings[answered].reset_index(drop=True)
    items = pd.DataFrame(index=pd.Index(pd.unique(ids), dtype=STRING, name="item"))
    for column in layout.metadata_columns:
        items[layout.name(column)] = _joined_texts(ids, text_column(table, column), items.index)
    if layout.flag_columns:
        written = pd.concat([text_column(table, c).notna() for c in layout.flag_columns], axis=1).any(axis=1)
        items["flagged"] = written.groupby(ids, sort=False).any().reindex(items.index).astype(bool)
    return items, ratings, notes


def _has_value(ratings: pd.DataFrame, layout: LikertLayout) -> pd.Series:
    """True for ratings whose slot carries a number (intensity and numeric attributes)."""
    return ratings["slot"].isin(["intensity", *(layout.name(c) for c in layout.numeric_columns)])


def _labels(table: pd.DataFrame, column: str, file: str, allow_missing: bool) -> np.ndarray:
    """Attribute labels (cell text); an empty cell is an error unless ``allow_missing`` (then missing)."""
    if allow_missing:
        return text_column(table, column).to_numpy(dtype=object)
    try:
        return text_column(table, column, file).to_numpy(dtype=object)
    except InputError as exc:
        raise InputError(f"{exc}{_missing_hint()}") from None


def _item_ids(table: pd.DataFrame, layout: LikertLayout, file: str) -> np.ndarray:
    cells = [id_column(table, c, file) for c in layout.item_columns]
    ids = join_id_columns(cells, layout.item_columns, file)
    if layout.item_from_path:
        ids = _path_stems(ids, layout.item_columns[0], file)
    return ids.to_numpy(dtype=object)


def _path_stems(cells: pd.Series, column: str, file: str) -> pd.Series:
    """The file stem of each path or URL cell (``\\`` read as ``/``); a cell naming no file (stem empty, ``.``
    or ``..``), or two different cells giving one stem, is refused naming the rows: ids are never merged unseen."""
    stems = cells.map(lambda cell: PurePosixPath(cell.replace("\\", "/")).stem)
    texts, ids = cells.to_numpy(dtype=object), stems.to_numpy(dtype=object)
    for row, stem in enumerate(ids):
        if stem in ("", ".", ".."):
            raise InputError(
                f"{where(file, row + 1, column)}: {shown(texts[row])} names no file (its file stem is {stem!r}); "
                "expected a path or URL ending in the clip's file name."
            )
    first: dict[str, int] = {}
    for row, stem in enumerate(ids):
        seen = first.setdefault(stem, row)
        if texts[seen] != texts[row]:
            raise InputError(
                f"{file}, rows {seen + 1} and {row + 1}, column {column!r}: {shown(texts[seen])} and "
                f"{shown(texts[row])} both give the item id {shown(stem)}; each item id is one clip. Make the "
                f"file names unique, or give an id column without {option('item_from_path')}."
            )
    return stems


def _joined_texts(ids: np.ndarray, cells: pd.Series, index: pd.Index) -> pd.Series:
    """Per item, its distinct non-empty texts in order of appearance joined by `` | `` (else missing)."""
    texts = pd.DataFrame({"item": ids, "text": cells.to_numpy(dtype=object)}).dropna().drop_duplicates()
    joined = texts.groupby("item", sort=False)["text"].agg(" | ".join)
    return joined.reindex(index).astype(STRING)


def _read(path: Path, layout: LikertLayout, what: str, encoding: str) -> pd.DataFrame:
    table = read_table(path, what, encoding)
    require_columns(table, layout.columns(), path.name, f"Expected a {what} with these columns.")
    return table


def likert_corpus(
    table: pd.DataFrame,
    file: str,
    layout: LikertLayout,
    name: str,
    source: str,
    license: str,
    origin: str,
    duplicates: str = "error",
) -> Corpus:
    """A validated corpus from a Likert table (see :func:`likert_tables`); items get ``corpus`` = ``name``.

    ``duplicates``: policy for a rater with two rows for one item (see :mod:`voxpop.corpus.repeats`); a table
    row is one judgement, so ``first`` / ``last`` keep whole rows and ``mean`` averages the levels.
    """
    check_policy(duplicates)
    items, ratings, notes = likert_tables(table, file, layout)
    ratings, repeat_notes = resolve_repeats(ratings, duplicates, ratings["source_row"])
    notes += repeat_notes
    return Corpus(
        name,
        items.assign(corpus=pd.array([name] * len(items), dtype=STRING)),
        ratings,
        classes=layout.classes,
        scales=layout.scales(),
        slots=layout.slots,
        source=source,
        license=license,
        description=describe_import(origin, notes),
    )


def read_likert(
    path: str | Path,
    item_column: str | Sequence[str],
    rater_column: str,
    emotion_columns: Sequence[str],
    levels: Mapping[str, float] | None = None,
    scale: Sequence[float] | None = None,
    attribute_columns: Sequence[str] = (),
    numeric_columns: Mapping[str, Scale] | None = None,
    metadata_columns: Sequence[str] = (),
    flag_columns: Sequence[str] = (),
    rename: Mapping[str, str] | None = None,
    item_from_path: bool = False,
    allow_missing: bool = False,
    duplicates: str = "error",
    name: str = "likert",
    source: str = "",
    license: str = "",
    encoding: str = DEFAULT_ENCODING,
) -> Corpus:
    """Read a Likert CSV (one row per item and rater); see :class:`LikertLayout` for the column roles.

    ``levels`` maps level names to numbers (default None / A little / Moderate / Extremely = 0..3);
    numeric cells are accepted too. ``scale`` = (low, high) defaults to the range of the levels.
    The text ``None`` is a level, never a missing value; an empty cell is an error unless
    ``allow_missing``. Classes are the emotion columns (renamed) in the given order. ``duplicates``:
    policy for a rater with two rows for one item (``error``, ``first``, ``last``, ``drop``, ``mean``).
    ``encoding``: the text encoding of the file (default: detected). A cell holding ``inf``, ``nan`` or
    ``1e400`` raises InputError.
    """
    layout = LikertLayout(
        item_column=item_column if isinstance(item_column, str) else tuple(item_column),
        rater_column=rater_column,
        emotion_columns=tuple(emotion_columns),
        scale=Scale.from_levels(levels, scale),
        attribute_columns=tuple(attribute_columns),
        numeric_columns=dict(numeric_columns or {}),
        metadata_columns=tuple(metadata_columns),
        flag_columns=tuple(flag_columns),
        rename=dict(rename or {}),
        item_from_path=item_from_path,
        allow_missing=allow_missing,
    )
    layout.check()
    path = Path(path)
    table = _read(path, layout, "Likert table (one row per item and rater)", encoding)
    return likert_corpus(table, path.name, layout, name, source or path.name, license, str(path), duplicates)


# ----------------------------------------------------------------------------- Earkick re-annotation
EARKICK = LikertLayout(
    item_column="audio",
    rater_column="annotator",
    emotion_columns=("happy", "sad", "anger", "surprise", "disgust", "fear"),
    attribute_columns=("gender", "age", "mood"),
    numeric_columns={"sentiment": Scale(-3, 3), "anxiety": Scale(0, 9, {"0 - None": 0, "9 - Most": 9})},
    metadata_columns=("notes",),
    flag_columns=("notes",),
    slots={
        "age": LabelOrder(("teens", "20s", "30s", "40s", "50s", "60s", "70s", "80s", "90s")),
        "mood": LabelOrder(("Awful", "Bad", "Meh", "Good", "Great")),
    },
    item_from_path=True,
)
EARKICK_SOURCE = "Earkick re-annotation of CMU-MOSEI, Aff-Wild2, CREMA-D and RAVDESS clips (ABAW 2023 release)"
EARKICK_LICENSE = "MIT (Earkick ABAW 2023 release)"
ACTED = ("crema-d", "ravdess")


AFF_WILD2_STEM = r"(?:\d{1,3}|video\d+|\d+-\d+-\d+x\d+(?:-\d+)?)(?:_left|_right)?(?:_\d+)?"
"""An Aff-Wild2 clip: the video name (``NNN``, ``videoNN`` or ``<n>-<fps>-<w>x<h>[-<k>]``), an optional
``_left`` / ``_right`` (which of two faces), an optional ``_N`` (the Earkick segment)."""


def earkick_origin(stems: pd.Index | pd.Series) -> np.ndarray:
    """The corpus an Earkick clip comes from, by its file stem; the first rule that matches decides.

    1. ``*_cremad`` -> crema-d
    2. ``*_ravdess`` -> ravdess
    3. an Aff-Wild2 video name, whole stem (:data:`AFF_WILD2_STEM`) -> aff-wild2: 1-3 digits (``381``),
       ``videoNN`` (``video22``) or ``<n>-<fps>-<w>x<h>`` with an optional ``-<k>`` (``115-30-1280x720``,
       ``5-60-1920x1080-3``), each optionally followed by ``_left`` / ``_right`` and then ``_N``
    4. anything else (11-character YouTube ids, 4-6 digit names) -> cmu-mosei

    Args:
        stems: File stems of the clips (item ids of the Earkick corpus).

    Returns:
        An array of source names, one per stem.

    >>> earkick_origin(pd.Index(["1001_ANG_XX_TSI_cremad", "1107_FEA_MD_DOG_01_ravdess", "381_1", "8404_8",
    ...                          "video22_2", "5-60-1920x1080-3_10", "46-30-484x360_left_2"]))
    array(['crema-d', 'ravdess', 'aff-wild2', 'cmu-mosei', 'aff-wild2', 'aff-wild2',
           'aff-wild2'], dtype='<U9')
    """
    stems = pd.Series(np.asarray(stems, dtype=object), dtype=STRING)
    rules = [
        stems.str.endswith("_cremad"),
        stems.str.endswith("_ravdess"),
        stems.str.fullmatch(AFF_WILD2_STEM),
    ]
    return np.select([r.to_numpy(dtype=bool) for r in rules], ["crema-d", "ravdess", "aff-wild2"], "cmu-mosei")


def read_earkick(path: str | Path, duplicates: str = "error", encoding: str = DEFAULT_ENCODING) -> Corpus:
    """Read the Earkick ``assessment.csv``: 6 emotions on None..Extremely (0..3) per clip and annotator.

    Attribute slots gender, age, mood (labels) and sentiment (-3..3), anxiety (0..9) (values);
    notes -> item ``notes`` and ``flagged``. Slots age (teens, 20s ... 90s) and mood (Awful, Bad, Meh,
    Good, Great) declare their order (``Corpus.slots``), so ordinal alpha on them uses it; no values are
    declared (interval alpha needs ``--values``). Item columns ``source`` (crema-d, ravdess, aff-wild2,
    cmu-mosei, by the clip's file name; the rules are in :func:`earkick_origin`) and ``acted`` (crema-d
    and ravdess clips). ``duplicates`` as in :func:`read_likert`.
    """
    path = Path(path)
    table = _read(path, EARKICK, "Earkick assessment.csv (one row per clip and annotator)", encoding)
    corpus = likert_corpus(table, path.name, EARKICK, "earkick", EARKICK_SOURCE, EARKICK_LICENSE, str(path), duplicates)
    origin = earkick_origin(corpus.items.index)
    corpus.items = corpus.items.assign(source=pd.array(origin, dtype=STRING), acted=np.isin(origin, ACTED))
    return corpus


# ----------------------------------------------------------------------------- CMU-MOSEI raw crowd ratings
MOSEI_EMOTIONS = {
    "Answer.happiness": "happy",
    "Answer.sadness": "sad",
    "Answer.anger": "anger",
    "Answer.surprise": "surprise",
    "Answer.disgust": "disgust",
    "Answer.fear": "fear",
}
MOSEI_SENTIMENT = "Answer.sentiment"
MOSEI_SOURCE = "CMU-MOSEI (Zadeh et al., ACL 2018), raw Mechanical Turk ratings"


def read_mosei(path: str | Path, duplicates: str = "error", encoding: str = DEFAULT_ENCODING) -> Corpus:
    """Read CMU-MOSEI raw crowd ratings (Mechanical Turk batch results, one row per clip and worker).

    Item = ``Input.VIDEO_ID`` + ``_`` + ``Input.CLIP``; rater = ``WorkerId``; the six
    ``Answer.<emotion>`` columns hold 0..3 and become classes happy, sad, anger, surprise, disgust,
    fear (the CMU-MOSEI order); ``Answer.sentiment`` (-3..3), when present, becomes slot
    ``sentiment``. Item columns: ``video`` and ``corpus`` = cmu-mosei. ``duplicates``: policy for a
    worker with two rows for one clip (``error``, ``first``, ``last``, ``drop``, ``mean``; see
    :mod:`voxpop.corpus.repeats`).
    """
    path = Path(path)
    base = LikertLayout(
        item_column=("Input.VIDEO_ID", "Input.CLIP"),
        rater_column="WorkerId",
        emotion_columns=tuple(MOSEI_EMOTIONS),
        scale=Scale(0, 3),
        metadata_columns=("Input.VIDEO_ID",),
        rename={**MOSEI_EMOTIONS, "Input.VIDEO_ID": "video", MOSEI_SENTIMENT: "sentiment"},
    )
    what = "CMU-MOSEI raw ratings (Input.VIDEO_ID, Input.CLIP, WorkerId, Answer.<emotion> ...)"
    table = _read(path, base, what, encoding)
    layout = base
    if MOSEI_SENTIMENT in table.columns:
        layout = dataclasses.replace(base, numeric_columns={MOSEI_SENTIMENT: Scale(-3, 3)})
    terms = "CMU-MOSEI terms of use"
    return likert_corpus(table, path.name, layout, "cmu-mosei", MOSEI_SOURCE, terms, str(path), duplicates)
