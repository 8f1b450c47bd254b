"""The Corpus: items, long ratings and the ordered class list; built, validated, saved, loaded.

A corpus directory holds ``corpus.yaml`` (name, classes, class map, excluded classes, scales,
``slots``: the declared order and values of label slots (:mod:`voxpop.corpus.slots`), source, license, audio root),
``items.parquet`` (one row per clip, indexed by item id) and ``ratings.parquet`` (one row per judgement).
Every importer produces a :class:`Corpus`; nothing downstream knows formats.
A relative path in the items' ``audio`` column names a file under the corpus directory (resolved on load);
``audio_root`` is the folder the importer resolved the audio paths against (:mod:`voxpop.corpus.media_paths`).

Ratings columns (METHODS.md section 1):

==========  ===============================================================================
item        id of the rated item (must exist in ``items``)
rater       rater id; empty when the source gives vote counts only
condition   stimulus condition (e.g. ``voice``, ``face``, ``av``); empty when there is one
slot        which question the rating answers: ``primary`` (one categorical choice),
            ``secondary`` (multi-choice, one row per chosen label), ``intensity`` (a value on a
            scale per emotion, e.g. Likert), or any other name for a non-emotion attribute
            (``gender``, ``age``, ``arousal`` ...), whose labels are free
label       class name (native codes are mapped through the class map when the corpus is built)
value       number on the slot's declared scale (Likert level, intensity), else empty
start, end  seconds, for time-interval annotation (RAMAS style), else empty
==========  ===============================================================================

Optional provenance columns ``source_file``, ``source_row`` and ``source_column`` let every
validation message name the place in the original file.

The text columns (``item``, ``rater``, ``condition``, ``slot``, ``label``, ``source_file``, ``source_column``) are
pandas categoricals in a fixed category order (items in the items table's order, the classes first among the
labels): :mod:`voxpop.corpus.codes`. Saving and loading (with a content hash, so a corpus voxpop wrote is not
validated again): :mod:`voxpop.corpus.stored`.

Ids, labels and class names are put in Unicode normal form NFC when a corpus is built (one place for
every importer); item and rater ids holding a tab, line break or NUL character are refused. A rater
judging one item more than once is reported with both answers and both places (:mod:`voxpop.corpus.repeats`).
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from voxpop.core.errors import InputError, VoxpopError, where
from voxpop.corpus.classmap import DROP, renamed_onto_dropped
from voxpop.corpus.codes import (
    as_codes,
    category_mask,
    codes_in,
    count_distinct,
    encode_ratings,
    unknown_items,
    with_default,
)
from voxpop.corpus.filters import select_items
from voxpop.corpus.repeats import find_repeats, repeat_message, repeat_position, source_place
from voxpop.corpus.slots import LabelOrder
from voxpop.corpus.stored import migrate, read_stored, save_corpus

RATING_COLUMNS = ("item", "rater", "condition", "slot", "label", "value", "start", "end")
PROVENANCE_COLUMNS = ("source_file", "source_row", "source_column")
EMOTION_SLOTS = ("primary", "secondary", "intensity")
_TEXT_COLUMNS = ("item", "rater", "condition", "slot", "label")  # coded (voxpop.corpus.codes)
_NUMBER_COLUMNS = ("value", "start", "end")
_MAX_LISTED_PROBLEMS = 20
_ID_COLUMNS = ("item", "rater")
_CONTROL = re.compile(r"[\t\n\r\x00]")
STRING = pd.StringDtype()


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with a corpus: where it is and what is wrong."""

    place: str
    message: str

    def __str__(self) -> str:
        return f"{self.place}: {self.message}" if self.place else self.message


class CorpusError(InputError):
    """A corpus failed validation; ``problems`` lists everything that was found."""

    def __init__(self, problems: Sequence[Problem], context: str = "corpus"):
        self.problems = list(problems)
        shown = [f"  - {p}" for p in self.problems[:_MAX_LISTED_PROBLEMS]]
        more = len(self.problems) - len(shown)
        if more:
            shown.append(f"  ... and {more} more problems")
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{context} is invalid ({count} {noun}):\n" + "\n".join(shown))


class Corpus:
    """Items + long ratings + ordered classes; validated on construction.

    Args:
        name: the corpus's name (reports, messages, ``corpus.yaml``).
        items: one row per clip, indexed by item id; usual columns ``audio`` (a path), ``duration`` (seconds),
            ``speaker``, ``gender``, ``split``, ``fold``; any other column is kept (filters can use it).
        ratings: one row per judgement, with the columns of the table above: ``item`` and ``label`` are
            required, a missing ``slot`` is ``primary``, the other missing columns are added empty; optionally
            ``source_file`` / ``source_row`` / ``source_column``. Any other column is a problem.
        classes: the emotion classes in their order (the columns of every label set).
        class_map: native label -> class (``{"A": "anger"}``), applied to ``ratings["label"]``; a class of
            ``"drop"`` makes the native label an excluded one.
        excluded: labels that are no class and are set aside by the rules (e.g. ``other``).
        scales: slot or label -> ``(low, high)`` of its numeric ``value`` (a Likert scale ``(1, 5)``).
        slots: slot -> :class:`~voxpop.corpus.slots.LabelOrder`, the declared order and values of an ordered
            label slot (age groups, mood).
        source: where the corpus came from (provenance text).
        license: its license.
        description: free text.
        audio_root: the folder the importer resolved the audio paths against ("" when unknown).

    Raises:
        CorpusError: an ``InputError`` listing every problem found (unknown item in the ratings, a label that
            is no class and not excluded, a value outside its scale, repeated judgements, bad ids), each
            naming the table, row and column (and the source file's place when given).

    Example:
        >>> items = pd.DataFrame({"speaker": ["s1", "s2"]}, index=["a", "b"])
        >>> ratings = pd.DataFrame({"item": ["a", "a", "b"], "rater": ["r1", "r2", "r1"],
        ...                         "label": ["A", "N", "anger"]})
        >>> c = Corpus("toy", items, ratings, classes=["neutral", "anger"],
        ...            class_map={"A": "anger", "N": "neutral"})
        >>> c.ratings["label"].tolist()
        ['anger', 'neutral', 'anger']
        >>> Corpus("toy", items, ratings.assign(label="X"), classes=["anger"])
        Traceback (most recent call last):
        ...
        voxpop.corpus.corpus.CorpusError: corpus 'toy' is invalid (3 problems):
          - ratings row 1, column 'label' (item 'a'): label 'X' is not a class (anger), not ...
        ...
    """

    def __init__(
        self,
        name: str,
        items: pd.DataFrame,
        ratings: pd.DataFrame,
        classes: Sequence[str],
        class_map: Mapping[str, str] | None = None,
        excluded: Sequence[str] = (),
        scales: Mapping[str, Sequence[float]] | None = None,
        slots: Mapping[str, LabelOrder] | None = None,
        source: str = "",
        license: str = "",
        description: str = "",
        audio_root: str = "",
    ):
        native_map = self._keep_meta(
            name, classes, class_map, excluded, scales, slots, source, license, description, audio_root
        )
        problems = renamed_onto_dropped(native_map)  # the importer's --class-map or corpus.yaml's class_map
        problems += self._check_class_set() if not problems else []
        self.items, item_problems = _normalize_items(items)
        problems += item_problems
        self.ratings, rating_problems = _normalize_ratings(ratings)
        problems += rating_problems
        if not rating_problems:
            problems += self._check_ids()
        if not problems:
            self.ratings["label"] = _map_labels(self.ratings["label"], self.class_map)
            problems += self._check_ratings()
        if problems:
            raise CorpusError(problems, f"corpus {self.name!r}")
        self.ratings = encode_ratings(self.ratings, self.items.index, self.classes, self.excluded)

    def _keep_meta(self, name, classes, class_map, excluded, scales, slots, source, license, description, audio_root):
        """Set the corpus's metadata (names in NFC); returns the class map as given, ``drop`` targets included."""
        self.name = str(name)
        self.classes = [nfc(c) for c in classes]
        native_map = {nfc(k): nfc(v) for k, v in (class_map or {}).items()}
        self.class_map = {k: v for k, v in native_map.items() if v != DROP}
        dropped = [k for k, v in native_map.items() if v == DROP]  # 'drop': an excluded label (voxpop.corpus.classmap)
        self.excluded = list(dict.fromkeys([*(nfc(c) for c in excluded), *dropped]))
        self.scales = {str(k): (float(v[0]), float(v[1])) for k, v in (scales or {}).items()}
        self.slots = {str(k): v.renamed(nfc) for k, v in (slots or {}).items()}
        self.source = source
        self.license = license
        self.description = description
        self.audio_root = audio_root  # the folder the audio paths were resolved against ("" when unknown)
        return native_map

    @classmethod
    def stored(cls, items: pd.DataFrame, ratings: pd.DataFrame, **meta) -> Corpus:
        """A corpus from tables voxpop itself validated and saved (their content hash checked), not validated again.

        Only :meth:`load` calls this, after :func:`voxpop.corpus.stored.read_stored` checked the content hash that
        :meth:`save` recorded; the coded columns are put back in their canonical category order
        (:func:`~voxpop.corpus.codes.encode_ratings`), which costs one pass over the codes, not the strings.
        """
        corpus = object.__new__(cls)
        corpus._keep_meta(**meta)
        corpus.items = items
        corpus.ratings = encode_ratings(ratings, items.index, corpus.classes, corpus.excluded)
        return corpus

    # ----------------------------------------------------------------- validation
    def _check_class_set(self) -> list[Problem]:
        problems = []
        if not self.classes:
            problems.append(Problem("corpus.yaml, key 'classes'", "the class list is empty"))
        for name, values in (("classes", self.classes), ("excluded", self.excluded)):
            dup = sorted({c for c in values if values.count(c) > 1})
            if dup:
                problems.append(Problem(f"corpus.yaml, key {name!r}", f"repeated: {dup}"))
        both = sorted(set(self.classes) & set(self.excluded))
        if both:
            problems.append(Problem("corpus.yaml, key 'excluded'", f"{both} are both classes and excluded"))
        known = set(self.classes) | set(self.excluded)
        for native, target in self.class_map.items():
            if target not in known:
                problems.append(
                    Problem(
                        f"corpus.yaml, key 'class_map.{native}'",
                        f"maps to {target!r}, which is neither a class nor excluded",
                    )
                )
        for slot, (low, high) in self.scales.items():
            if not low < high:
                problems.append(Problem(f"corpus.yaml, key 'scales.{slot}'", f"expected min < max, got {low}, {high}"))
        for slot, declared in self.slots.items():
            problems += [Problem(f"corpus.yaml, key 'slots.{slot}'", text) for text in declared.problems()]
        return problems

    def _check_ratings(self) -> list[Problem]:
        r = self.ratings
        problems: list[Problem] = []

        def report(mask: np.ndarray | pd.Series, column: str, message) -> None:
            rows = np.flatnonzero(np.asarray(mask, dtype=bool))
            for row in rows[: _MAX_LISTED_PROBLEMS + 1]:
                text = message(r.iloc[row]) if callable(message) else message
                problems.append(Problem(self._rating_place(row, column), text))
            if len(rows) > _MAX_LISTED_PROBLEMS + 1:
                problems.append(Problem("", f"{len(rows)} ratings in all have this problem"))

        unknown = unknown_items(r["item"], self.items.index)
        report(unknown, "item", lambda x: f"item {x['item']!r} is not in the items table")
        known = set(self.classes) | set(self.excluded)
        emotion = r["slot"].isin(EMOTION_SLOTS)
        bad_label = emotion & ~r["label"].isin(known)
        classes_text = ", ".join(self.classes)
        report(
            bad_label,
            "label",
            lambda x: f"label {x['label']!r} is not a class ({classes_text}), not in the class map and not excluded",
        )
        intensity_without_value = r["slot"].eq("intensity") & r["value"].isna()
        report(intensity_without_value, "value", "an intensity rating needs a value")
        for slot, (low, high) in self.scales.items():
            out = r["slot"].eq(slot) & r["value"].notna() & ~r["value"].between(low, high)
            report(
                out,
                "value",
                lambda x, lo=low, hi=high: (
                    f"value {x['value']:g} is outside the declared scale {lo:g}..{hi:g} of slot {x['slot']!r}"
                ),
            )
        for slot, declared in self.slots.items():
            report(
                r["slot"].eq(slot) & ~r["label"].isin(declared.order),
                "label",
                lambda x, order=", ".join(declared.order): (
                    f"label {x['label']!r} is not in the declared order of slot {x['slot']!r} ({order})"
                ),
            )
        half_interval = r["start"].isna() != r["end"].isna()
        report(half_interval, "end", "start and end must both be given or both be empty")
        backwards = r["start"].notna() & r["end"].notna() & (r["end"] <= r["start"])
        report(backwards, "end", lambda x: f"end {x['end']:g} must be after start {x['start']:g}")
        negative = r["start"] < 0
        report(negative, "start", lambda x: f"start {x['start']:g} is negative")
        problems += self._check_duplicates()
        return problems

    def _check_duplicates(self) -> list[Problem]:
        """One problem per rater-item pair judged more than once: both answers and both places."""
        repeats = find_repeats(self.ratings)
        problems = []
        for group in repeats["group"].unique()[:_MAX_LISTED_PROBLEMS]:
            second = repeat_position(repeats, group)
            problems.append(Problem(self._rating_place(second, "rater"), repeat_message(self.ratings, repeats, group)))
        total = repeats["group"].nunique()
        if total > _MAX_LISTED_PROBLEMS:
            problems.append(Problem("", f"{total} rater-item pairs judged more than once in all"))
        return problems

    def _check_ids(self) -> list[Problem]:
        """Tabs, line breaks and NUL characters in item or rater ids break every table written later."""
        problems = []
        bad_items = self.items.index[self.items.index.str.contains(_CONTROL).fillna(False)]
        for item in bad_items[:_MAX_LISTED_PROBLEMS]:
            problems.append(Problem("items", f"item id {item!r} contains a tab, line break or NUL character"))
        for column in _ID_COLUMNS:
            bad = category_mask(self.ratings[column], lambda ids: ids.str.contains(_CONTROL))
            for row in np.flatnonzero(bad)[:_MAX_LISTED_PROBLEMS]:
                problems.append(
                    Problem(
                        self._rating_place(row, column),
                        f"{column} id {self.ratings[column].iat[row]!r} contains a tab, line break or NUL character; "
                        "remove it from the source file",
                    )
                )
        return problems

    def _rating_place(self, row: int, column: str) -> str:
        return source_place(self.ratings, row, column)

    # ----------------------------------------------------------------- properties
    @property
    def has_rater_ids(self) -> bool:
        """True when every rating names its rater."""
        return bool(len(self.ratings)) and bool(self.ratings["rater"].notna().all())

    @property
    def conditions(self) -> list[str]:
        """The stimulus conditions present, in order of first appearance."""
        return [str(c) for c in self.ratings["condition"].dropna().unique()]

    def require_rater_ids(self, what: str) -> None:
        """Raise a clear error when ``what`` needs rater identity and the corpus has none."""
        missing = int(self.ratings["rater"].isna().sum())
        if missing:
            raise VoxpopError(
                f"{what} needs rater ids, but corpus {self.name!r} has {missing} ratings "
                "without a rater (vote counts only). Use a statistic that works on counts "
                "(Krippendorff's alpha, Fleiss' kappa) or import per-rater responses."
            )

    # ----------------------------------------------------------------- subsets
    def subset(self, items: Iterable[str] | pd.Index) -> Corpus:
        """The corpus restricted to ``items`` (and their ratings), keeping the item order given."""
        index = pd.Index(list(items), dtype=STRING)
        missing = index.difference(self.items.index)
        if len(missing):
            raise VoxpopError(f"subset of corpus {self.name!r}: unknown items {list(missing[:5])}")
        return self._replace(self.items.loc[index], self.ratings[self.ratings["item"].isin(index)])

    def where(self, expression: str | None) -> Corpus:
        """Keep the items for which item filter ``expression`` is true, e.g. ``"speaker in ['1001', '1002']"``.

        The filter is parsed, never executed (grammar: :mod:`voxpop.corpus.filters`). ``None`` or an empty
        string keeps everything. Raises :class:`~voxpop.core.errors.ConfigError` for a filter outside the
        grammar, an unknown column, or a filter that keeps no item.
        """
        if not expression:
            return self
        return self.subset(select_items(self.items, expression))

    def _replace(self, items: pd.DataFrame, ratings: pd.DataFrame) -> Corpus:
        clone = object.__new__(Corpus)
        clone.__dict__.update(self.__dict__)
        clone.items = items
        clone.ratings = encode_ratings(ratings.reset_index(drop=True), items.index, self.classes, self.excluded)
        return clone

    # ----------------------------------------------------------------- summary
    def summary(self) -> dict[str, object]:
        """Counts for ``voxpop validate``: items, raters, ratings per item / condition / slot / class.

        ``ratings per item``: mean, min, median and max over every item (0 for an unrated one);
        ``ratings per item by condition``: per condition ("(none)" for ratings without one) the items rated
        in it and the min, median and max of their ratings there (pooled counts hide a condition whose items
        have one rating each).
        """
        r = self.ratings
        conditions = with_default(r["condition"], "(none)")  # coded: no text per rating
        item_codes = codes_in(r["item"], self.items.index)  # the column's own codes: categories are the items
        cells = np.bincount(  # ratings per condition x item, counted on the codes
            conditions.array.codes.astype(np.int64) * len(self.items) + item_codes,
            minlength=len(conditions.cat.categories) * len(self.items),
        ).reshape(len(conditions.cat.categories), len(self.items))
        per_item = pd.Series(cells.sum(axis=0), index=self.items.index)
        stats = {
            str(condition): {"items": len(n), "min": int(n.min()), "median": float(np.median(n)), "max": int(n.max())}
            for condition, row in zip(conditions.cat.categories, cells, strict=True)
            if len(n := row[row > 0])
        }
        by_condition_item = dict(sorted(stats.items()))
        by = {column: _counts_with_none(r[column]) for column in ("condition", "slot")}
        emotion = r["label"][r["slot"].isin(EMOTION_SLOTS).to_numpy(dtype=bool)]
        by_class = emotion.value_counts().reindex(self.classes + self.excluded)
        return {
            "items": len(self.items),
            "ratings": len(r),
            "raters": count_distinct(r["rater"]),
            "ratings without rater": int(r["rater"].isna().sum()),
            "ratings per item": per_item.describe()[["mean", "min", "50%", "max"]].rename({"50%": "median"}).to_dict(),
            "ratings per item by condition": by_condition_item,
            "items without ratings": int((per_item == 0).sum()),
            "by condition": by["condition"].to_dict(),
            "by slot": by["slot"].to_dict(),
            "by class": by_class.fillna(0).astype(int).to_dict(),
        }

    # ----------------------------------------------------------------- storage
    def save(self, directory: str | Path) -> Path:
        """Write corpus.yaml, items.parquet and ratings.parquet into ``directory`` (see :mod:`voxpop.corpus.stored`)."""
        return save_corpus(self, directory)

    @classmethod
    def load(cls, directory: str | Path, validate: bool = False, follow_symlinks: bool | None = None) -> Corpus:
        """Read a corpus directory written by :meth:`save` (:func:`voxpop.corpus.stored.read_stored`).

        A corpus whose files match the content hashes in ``corpus.yaml`` is trusted (not validated again);
        ``validate=True`` (``voxpop validate``), a mismatch, or a corpus written by an earlier voxpop (no hashes)
        validates every rating; the last two are then migrated in place with a notice
        (:func:`voxpop.corpus.stored.migrate`).

        ``corpus.yaml`` or a table that is a symlink leading out of ``directory`` is refused unless
        ``follow_symlinks`` (None: the environment variable ``VOXPOP_FOLLOW_SYMLINKS=1``; docs/safe-loading.md).

        Raises InputError naming the file (and the key of ``corpus.yaml``) for a missing or unreadable
        file, a file that is a symlink leading out of the folder, a ``corpus.yaml`` that is not a mapping or has a
        key of the wrong shape, or tables with columns of an unexpected type, and CorpusError (places named by file)
        when the tables fail validation.
        """
        stored = read_stored(directory, validate, follow_symlinks)
        try:
            if stored.trusted:
                return cls.stored(stored.items, stored.ratings, **stored.meta)
            corpus = cls(items=stored.items, ratings=stored.ratings, **stored.meta)
        except CorpusError as exc:
            problems = [dataclasses.replace(p, place=stored.place(p.place)) for p in exc.problems]
            raise CorpusError(problems, f"corpus directory {stored.directory}") from None
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"{stored.directory}: items.parquet or ratings.parquet holds columns of an unexpected type ({exc}); "
                "re-import the corpus with 'voxpop import'"
            ) from None
        if not validate:
            migrate(corpus, stored.directory, stored.old_layout)
        return corpus

    def __repr__(self) -> str:
        return f"Corpus({self.name!r}, {len(self.items)} items, {len(self.ratings)} ratings, classes={self.classes})"


def nfc(text: object) -> str:
    """Text in Unicode normal form NFC (``"e\u0301"`` and ``"\u00e9"`` become the same id).

    >>> nfc("cafe\u0301") == "caf\u00e9"
    True
    """
    return unicodedata.normalize("NFC", str(text))


def nfc_values(values: pd.Series) -> pd.Series:
    """A text column in NFC (missing stays missing); normalises each distinct value once.

    Args:
        values: text (any values; each becomes its ``str``).

    Returns:
        The values as text (``string`` dtype, index of ``values``) in Unicode normal form NFC; ASCII text is
        returned without a look at each value.

    Example:
        >>> nfc_values(pd.Series(["cafe\u0301", "a"])).tolist() == ["caf\u00e9", "a"]
        True
    """
    text = values.astype(STRING)
    if text.str.isascii().all():  # ASCII text is in every normal form
        return text
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    if all(unicodedata.is_normalized("NFC", u) for u in uniques):
        return text
    normal = np.array([nfc(u) for u in uniques], dtype=object)
    out = np.where(codes >= 0, normal[np.maximum(codes, 0)], None)
    return pd.Series(out, index=values.index, dtype=STRING)


def _counts_with_none(values: pd.Series) -> pd.Series:
    """Ratings per value, missing counted as ``"(none)"``, values sorted as text (the counts of the codes)."""
    counts = values.value_counts(dropna=False)
    counts = counts[counts.to_numpy() > 0]  # a category column lists its unused categories too
    names = ["(none)" if pd.isna(value) else str(value) for value in counts.index]
    return pd.Series(counts.to_numpy(), index=names).sort_index()


def _nfc_codes(values: pd.Series) -> pd.Series:
    """A text column coded (:func:`~voxpop.corpus.codes.as_codes`), its distinct values in NFC (merged when equal)."""
    codes = as_codes(values)
    if pd.Series(codes.cat.categories).str.isascii().all():  # ASCII text is in every normal form
        return codes
    return as_codes(codes, nfc)


def _normalize_items(items: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    items = items.copy()
    if "item" in items.columns:
        items = items.set_index("item")
    raw = items.index
    text = pd.Series(raw if raw.dtype == STRING else raw.to_numpy(dtype=object), copy=False)
    items.index = pd.Index(nfc_values(text).array, dtype=STRING)  # text stays Arrow text: no object per id
    items.index.name = "item"
    if not items.index.is_unique:  # ids that differ only in their Unicode form are one item when their rows agree
        merged = items.index.duplicated() & ~raw.duplicated() & items.reset_index().duplicated().to_numpy()
        items = items[~merged]
    problems = []
    dup = items.index[items.index.duplicated()]
    for item in dup[:_MAX_LISTED_PROBLEMS]:
        problems.append(Problem("items", f"item id {item!r} appears more than once"))
    if items.index.isna().any() or (items.index == "").any():
        problems.append(Problem("items, column 'item'", "item ids must not be empty"))
    return items, problems


def _normalize_ratings(ratings: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    problems = []
    missing = [c for c in ("item", "label") if c not in ratings.columns]
    if missing:
        return ratings, [Problem("ratings", f"missing required columns {missing}")]
    extra = [c for c in ratings.columns if c not in RATING_COLUMNS + PROVENANCE_COLUMNS]
    if extra:
        problems.append(Problem("ratings", f"unexpected columns {extra}; expected {list(RATING_COLUMNS)}"))
    out = pd.DataFrame(index=pd.RangeIndex(len(ratings)))
    for column in _TEXT_COLUMNS:  # each distinct text normalised once, not each rating
        values = ratings[column] if column in ratings.columns else pd.Series(pd.NA, index=ratings.index, dtype=STRING)
        out[column] = _nfc_codes(values.reset_index(drop=True))
    out["slot"] = with_default(out["slot"], "primary")
    for column in _NUMBER_COLUMNS:
        if column not in ratings.columns:
            out[column] = np.nan
            continue
        raw = ratings[column].reset_index(drop=True)
        if isinstance(raw.dtype, np.dtype) and raw.dtype.kind == "f":  # numbers already: nothing to parse
            out[column] = raw.astype("float64")
            continue
        numbers = pd.to_numeric(raw, errors="coerce")
        bad = numbers.isna() & raw.notna()
        for row in np.flatnonzero(bad.to_numpy())[:_MAX_LISTED_PROBLEMS]:
            problems.append(
                Problem(
                    f"ratings {where(None, row + 1, column)}", f"expected a number, got {ratings[column].iat[row]!r}"
                )
            )
        out[column] = numbers.astype("float64")
    for column in PROVENANCE_COLUMNS:
        if column in ratings.columns:
            values = ratings[column].reset_index(drop=True)  # a coded column stays coded (no text per rating)
            out[column] = values.astype("Int64") if column == "source_row" else as_codes(values)
    for column in ("item", "label"):
        empty = out[column].isna().to_numpy() | category_mask(out[column], lambda texts: texts == "")  # per text
        for row in np.flatnonzero(empty)[:_MAX_LISTED_PROBLEMS]:
            problems.append(Problem(f"ratings {where(None, row + 1, column)}", "must not be empty"))
    return out, problems


def _map_labels(labels: pd.Series, class_map: Mapping[str, str]) -> pd.Series:
    """Native labels through the class map: each category renamed once (codes kept)."""
    if not class_map:
        return labels
    return as_codes(labels, lambda label: class_map.get(label, label))
