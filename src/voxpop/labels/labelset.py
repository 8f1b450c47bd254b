"""LabelSet: what a label rule produces — per item a target vector, a kept flag, counts, accounting.

Stored as one parquet file: columns ``target:<class>`` and ``count:<class>``, ``kept``, the item
index, optional segment columns (``recording``, ``start``, ``end`` for interval consensus items),
and the rule, options, class list, accounting and a learned rule's per-rater table in the file's
key-value metadata.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from voxpop.core.cache import atomic_write, parse_json
from voxpop.core.errors import InputError
from voxpop.core.paths import input_file, output_file
from voxpop.corpus.corpus import STRING
from voxpop.labels.decisions import decide

_META_KEY = b"voxpop.labelset"


@dataclasses.dataclass(frozen=True)
class Accounting:
    """What a rule discarded (METHODS.md section 2, "Accounting": data loss and rating loss).

    ``data_loss`` = dropped items / all items; ``rating_loss`` = ratings that do not support the kept
    target (ratings of dropped items, minority ratings under MR/PR, ratings of excluded classes) /
    all ratings. Both are fractions in [0, 1].

    Args:
        items_total: items the rule was applied to.
        items_kept: items with a target.
        ratings_total: ratings of those items.
        ratings_supporting: ratings that support the kept target of their item.
        ratings_excluded_class: ratings of an excluded label (``other``, a ``drop`` of the class map).
        items_below_selected_share: items dropped by the option ``min_selected_share``.
        ratings_set_aside: ratings a gold standard could not use (z-norm: a rater with too few or unvarying
            ratings).
        items_without_usable_rating: items all of whose ratings were set aside (not kept).
    """

    items_total: int
    items_kept: int
    ratings_total: int
    ratings_supporting: int
    ratings_excluded_class: int = 0
    items_below_selected_share: int = 0
    ratings_set_aside: int = 0
    items_without_usable_rating: int = 0

    @property
    def data_loss(self) -> float:
        return 1.0 - self.items_kept / self.items_total if self.items_total else 0.0

    @property
    def rating_loss(self) -> float:
        return 1.0 - self.ratings_supporting / self.ratings_total if self.ratings_total else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            **dataclasses.asdict(self),
            "data_loss": self.data_loss,
            "rating_loss": self.rating_loss,
        }


@dataclasses.dataclass
class LabelSet:
    """Targets (items x classes, float), kept mask and counts, with the rule's accounting.

    Made by :func:`voxpop.labels.make_labels`; every table is indexed by item id (nullable string dtype).

    Args:
        targets: items x classes floats: a distribution (rows sum to 1), one-hot or multi-hot row per kept
            item; rows of dropped items are all zero.
        kept: bool per item: whether the rule gave it a target.
        counts: items x classes, the ratings (or votes) counted per class.
        rule: the rule's name (``mr``, ``pr``, ``ar``, ...).
        accounting: what the rule discarded.
        options: the rule's options as applied.
        multilabel: True when targets are multi-hot (all-inclusive test form, binarised Likert) rather than a
            distribution or one-hot.
        segments: set when the rule created new items (interval consensus): columns ``recording``, ``start``,
            ``end`` (seconds) indexed like ``targets``.
        raters: a learned rule's per-rater table (indexed by rater id, e.g. a confusion or skill estimate per
            rater).
    """

    targets: pd.DataFrame
    kept: pd.Series
    counts: pd.DataFrame
    rule: str
    accounting: Accounting
    options: dict = dataclasses.field(default_factory=dict)
    multilabel: bool = False
    segments: pd.DataFrame | None = None
    raters: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        """Index every table by item id as the corpus does (nullable string dtype)."""
        for name in ("targets", "kept", "counts", "segments"):
            table = getattr(self, name)
            if table is not None and table.index.dtype != STRING:  # a copy only where the index changes
                table = table.copy()
                table.index = table.index.astype(STRING)
                setattr(self, name, table)
        if self.raters is not None and isinstance(self.raters.index.dtype, pd.CategoricalDtype):
            self.raters = self.raters.set_axis(self.raters.index.astype(STRING))  # grouped by the coded rater column

    kind = "categorical"
    """The target kind of the label-set protocol (:mod:`voxpop.labels.label_sets`): classes, not dimensions."""

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.targets.columns]

    @property
    def names(self) -> list[str]:
        """The target columns (the classes), as :attr:`voxpop.labels.continuous.ContinuousLabelSet.names`."""
        return self.classes

    @property
    def kept_targets(self) -> pd.DataFrame:
        """Targets of the kept items only."""
        return self.targets[self.kept.to_numpy()]

    def hard_labels(self) -> pd.Series:
        """Argmax class per kept item (for single-label metrics and samplers)."""
        return decide(self.kept_targets.rename(columns=str))

    def save(self, path: str | Path) -> Path:
        """Write the label set to one parquet file."""
        path = Path(path)
        output_file(path)
        frame = pd.concat(
            [
                self.targets.add_prefix("target:"),
                self.counts.add_prefix("count:"),
                self.kept.rename("kept").astype(bool),
                *([self.segments] if self.segments is not None else []),
            ],
            axis=1,
        )
        table = pa.Table.from_pandas(frame, preserve_index=True)
        meta = {
            "rule": self.rule,
            "options": self.options,
            "classes": self.classes,
            "multilabel": self.multilabel,
            "accounting": dataclasses.asdict(self.accounting),
            "segments": self.segments is not None,
            "raters": None if self.raters is None else self.raters.to_json(orient="table"),
        }
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()})
        atomic_write(path, lambda handle: pq.write_table(table, handle))
        return path

    @classmethod
    def load(cls, path: str | Path) -> LabelSet:
        """Read a label set written by :meth:`save`."""
        path = Path(path)
        if not path.exists():
            raise InputError(f"{path}: label set not found; create one with 'voxpop labels'.")
        input_file(path, "label set")
        try:
            table = pq.read_table(path)
        except (OSError, ValueError) as exc:  # pyarrow's errors; the file's content is not repeated
            raise InputError(
                f"{path}: not a Parquet file ({type(exc).__name__}); a label set is the .parquet file that "
                "'voxpop labels' writes"
            ) from None
        raw = (table.schema.metadata or {}).get(_META_KEY)
        if raw is None:
            raise InputError(f"{path}: not a voxpop label set (no {_META_KEY.decode()} metadata)")
        meta = parse_json(raw)
        frame = table.to_pandas()
        classes = meta["classes"]
        targets = frame[[f"target:{c}" for c in classes]].set_axis(classes, axis=1)
        counts = frame[[f"count:{c}" for c in classes]].set_axis(classes, axis=1)
        segments = frame[["recording", "start", "end"]] if meta["segments"] else None
        raters = meta.get("raters")
        return cls(
            targets=targets,
            kept=frame["kept"].astype(bool),
            counts=counts,
            rule=meta["rule"],
            accounting=Accounting(**meta["accounting"]),
            options=meta["options"],
            multilabel=meta["multilabel"],
            segments=segments,
            raters=None if raters is None else pd.read_json(io.StringIO(raters), orient="table"),
        )
