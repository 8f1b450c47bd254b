"""Numeric gold standards and continuous (dimensional) label sets: arousal, valence, dominance, sentiment.

Numeric ratings (a dimension slot, a Likert intensity of one emotion, a sentiment score) become one
value per item by a *gold standard* (METHODS.md section 2):

- ``mean`` and ``median`` of the item's ratings;
- ``ewe``, the evaluator weighted estimator (Grimm & Kroschel 2005), in the form used for crowd
  data: rater r's weight w_r is the Pearson r between r's ratings and the mean of the *other* raters
  on the items r rated (at least ``min_shared`` = 5 such items, else w_r = 0; negative or undefined
  r -> 0), and EWE_i = sum_r w_r x_ri / sum_r w_r over the raters of item i (the plain mean where all
  of them weigh 0). EWE down-weights unreliable raters but keeps their bias;
- ``znorm``, the mean of per-rater z-scores z_ri = (x_ri - mean_r) / sd_r, which removes each rater's
  bias and range; it is mapped back onto the corpus scale with the overall mean and sd of the ratings
  it uses, so every gold standard keeps the corpus scale. A rater with fewer than
  ``min_ratings_per_rater`` (default 2) ratings, or whose ratings do not vary (sd 0), cannot be
  z-normalised: their ratings are set aside (counted per rater, with the reason, in the per-rater
  table), never replaced by the mean, and an item left with no usable rating has no value (NaN).

A :class:`ContinuousLabelSet` holds per item one value per dimension, with the raters' spread (sd)
and count, the gold standard used and each dimension's scale (MSP-Podcast 1..7, IEMOCAP 1..5,
CMU-MOSEI sentiment -3..3). Scales are never mixed silently: :func:`rescale` is the explicit linear
map between two of them.

Importers store dimensions as ratings in slot ``dimension`` (labels ``arousal``, ``valence``,
``dominance``; MSP, IEMOCAP) or in a slot named like the attribute (``sentiment``, label
``sentiment``; CMU-MOSEI), with the scale declared in ``corpus.scales[slot]``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pydantic

from voxpop.core.cache import parse_json
from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.corpus import STRING, Corpus
from voxpop.labels.labelset import Accounting

GOLD_STANDARDS = ("mean", "median", "ewe", "znorm")
DEFAULT_MIN_SHARED = 5
DEFAULT_MIN_RATINGS_PER_RATER = 2
_META_KEY = b"voxpop.continuous"


# ====================================================================== gold standards on one label
def _check_ratings(ratings: pd.DataFrame, method: str) -> pd.DataFrame:
    missing = [c for c in ("item", "rater", "value") if c not in ratings.columns]
    if missing:
        raise InputError(f"numeric ratings need the columns item, rater, value; missing {missing}")
    table = ratings[["item", "rater", "value"]].copy()
    if table["value"].isna().any():
        raise InputError(f"{int(table['value'].isna().sum())} numeric ratings have no value")
    if method in ("ewe", "znorm") and table["rater"].isna().any():
        raise InputError(
            f"gold standard {method!r} weighs or normalises each rater, but {int(table['rater'].isna().sum())} "
            "ratings have no rater id; use 'mean' or 'median', or import per-rater ratings"
        )
    table["item"] = table["item"].astype(str)
    table["value"] = table["value"].astype(float)
    return table


def ewe_weights(ratings: pd.DataFrame, min_shared: int = DEFAULT_MIN_SHARED) -> pd.Series:
    """EWE rater weights: Pearson r of each rater with the mean of the other raters on the items they rated.

    ``ratings``: long table (item, rater, value) of one numeric label. A rater with fewer than
    ``min_shared`` items that some other rater also rated, or with a negative or undefined r, weighs 0
    (:func:`ewe_table` says why).
    """
    return ewe_table(ratings, min_shared)["weight"]


def ewe_table(ratings: pd.DataFrame, min_shared: int = DEFAULT_MIN_SHARED) -> pd.DataFrame:
    """EWE weight per rater and, for each rater who weighs 0, the reason (column ``reason``; "" otherwise).

    Args:
        ratings: long table (item, rater, value) of one numeric label.
        min_shared: the fewest items shared with other raters a rater needs to weigh more than 0.

    Returns:
        DataFrame indexed by rater (sorted): ``weight`` in [0, 1] and ``reason``.

    Raises:
        InputError: as :func:`gold_standard` for missing columns, values or rater ids.

    Example:
        >>> r = pd.DataFrame({"item": ["a", "a"], "rater": ["x", "y"], "value": [1, 2]})
        >>> ewe_table(r).loc["x", "reason"]
        'fewer than 5 items shared with other raters (1)'
    """
    table = _check_ratings(ratings, "ewe")
    sums = table.groupby("item")["value"].agg(["sum", "count"])
    total = sums["sum"].reindex(table["item"]).to_numpy()
    count = sums["count"].reindex(table["item"]).to_numpy()
    shared = count > 1
    others = np.full(len(table), np.nan)
    others[shared] = (total[shared] - table["value"].to_numpy()[shared]) / (count[shared] - 1)
    table = table.assign(others=others)[shared]
    rows = {}
    for rater, part in table.groupby("rater", sort=True):
        x, y = part["value"].to_numpy(), part["others"].to_numpy()
        if len(part) < min_shared:
            rows[rater] = (0.0, f"fewer than {min_shared} items shared with other raters ({len(part)})")
        elif x.std() == 0 or y.std() == 0:
            whose = "the rater's" if x.std() == 0 else "the other raters' mean"
            rows[rater] = (0.0, f"r undefined: {whose} ratings do not vary on the shared items")
        else:
            r = float(np.corrcoef(x, y)[0, 1])
            rows[rater] = (max(0.0, r), f"negative r with the other raters ({r:.3f})" if r < 0 else "")
    raters = sorted(ratings["rater"].dropna().astype(str).unique())
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["weight", "reason"])
    frame = frame.reindex(raters).rename_axis("rater")
    none = f"fewer than {min_shared} items shared with other raters (0)"
    return frame.assign(weight=frame["weight"].fillna(0.0).astype(float), reason=frame["reason"].fillna(none))


def _znorm(table: pd.DataFrame, min_ratings_per_rater: int) -> tuple[pd.Series, pd.DataFrame]:
    """z-norm values per item (NaN: no usable rating) and the per-rater table (see :func:`gold_standard`)."""
    stats = table.groupby("rater")["value"].agg(mean="mean", sd=lambda v: v.std(ddof=0), n="size")
    reason = np.where(
        stats["n"] < min_ratings_per_rater,
        f"fewer than {min_ratings_per_rater} ratings (min_ratings_per_rater)",
        np.where(stats["sd"] > 0, "", "ratings do not vary (sd 0)"),
    )
    usable = stats.index[reason == ""]
    used = table[table["rater"].isin(usable).to_numpy()]
    mean = stats["mean"].reindex(used["rater"]).to_numpy()
    sd = stats["sd"].reindex(used["rater"]).to_numpy()
    overall_mean, overall_sd = used["value"].mean(), used["value"].std(ddof=0)
    z = used.assign(z=(used["value"].to_numpy() - mean) / sd).groupby("item", sort=True)["z"].mean()
    items = pd.Index(sorted(table["item"].unique()), name="item")
    value = (z * overall_sd + overall_mean).reindex(items)
    raters = stats[["mean", "sd"]].assign(
        bias=stats["mean"] - overall_mean, n_set_aside=np.where(reason == "", 0, stats["n"]), reason=reason
    )
    return value, raters


def gold_standard(
    ratings: pd.DataFrame,
    method: str = "mean",
    *,
    min_shared: int = DEFAULT_MIN_SHARED,
    min_ratings_per_rater: int = DEFAULT_MIN_RATINGS_PER_RATER,
) -> tuple[pd.Series, pd.DataFrame]:
    """Per-item gold standard of one numeric label, and the per-rater table of the method.

    Args:
        ratings: long table (item, rater, value).
        method: ``mean``, ``median``, ``ewe`` or ``znorm``.
        min_shared: EWE: the fewest items shared with other raters for a weight above 0.
        min_ratings_per_rater: z-norm: the fewest ratings (>= 2) a rater needs to be z-normalised; the
            ratings of a rater with fewer, or whose ratings do not vary, are set aside.

    Returns:
        (value per item, indexed by item, NaN where z-norm set every rating of the item aside; raters:
        ``n_ratings`` and, for ``ewe``, ``weight`` and ``reason`` (why a weight is 0), for ``znorm``,
        ``mean``, ``sd``, ``bias`` (the rater's mean minus the mean of the ratings used, which the
        z-scores remove), ``n_set_aside`` and ``reason`` (why they were set aside; "" when used)).

    Raises:
        ConfigError: unknown method, or ``min_ratings_per_rater`` below 2.
        InputError: missing columns or values, or (ewe, znorm) ratings without a rater id.

    >>> r = pd.DataFrame({"item": ["a", "a", "b", "b"], "rater": ["x", "y", "x", "y"], "value": [1, 3, 2, 6]})
    >>> gold_standard(r, "mean")[0].tolist(), gold_standard(r, "median")[0].tolist()
    ([2.0, 4.0], [2.0, 4.0])
    >>> gold_standard(r, "znorm")[0].round(3).tolist()  # z = -1, +1 for both raters; x overall mean 3, sd 1.871
    [1.129, 4.871]
    """
    if method not in GOLD_STANDARDS:
        raise ConfigError(f"unknown gold standard {method!r}; choose one of {', '.join(GOLD_STANDARDS)}")
    if not (isinstance(min_ratings_per_rater, int | np.integer) and min_ratings_per_rater >= 2):
        raise ConfigError(
            f"min_ratings_per_rater must be a whole number >= 2 (a z-score needs a rater's sd), got "
            f"{min_ratings_per_rater!r}"
        )
    table = _check_ratings(ratings, method)
    counts = table.groupby("rater").size().rename("n_ratings").rename_axis("rater")
    by_item = table.groupby("item", sort=True)["value"]
    if method in ("mean", "median"):
        return getattr(by_item, method)().rename(method), counts.to_frame()
    if method == "ewe":
        weights = ewe_table(table, min_shared)
        w = weights["weight"].reindex(table["rater"].astype(str)).to_numpy()
        frame = table.assign(w=w, wx=w * table["value"].to_numpy())
        sums = frame.groupby("item", sort=True)[["w", "wx"]].sum()
        plain = by_item.mean()
        value = (sums["wx"] / sums["w"]).where(sums["w"] > 0, plain)
        return value.rename("ewe"), pd.concat([counts, weights], axis=1)
    value, raters = _znorm(table, min_ratings_per_rater)
    return value.rename("znorm"), pd.concat([counts, raters], axis=1)


def likert_unit_score(values: pd.Series | np.ndarray, scale: tuple[float, float]) -> pd.Series | np.ndarray:
    """A gold standard on a Likert scale as the [0, 1] score Likert binarisation thresholds:
    (value - low) / (high - low), which is mean / max for a 0-based scale (METHODS.md section 2).

    >>> likert_unit_score(np.array([0.0, 1.0, 3.0]), (0, 3)).round(3).tolist()
    [0.0, 0.333, 1.0]
    """
    low, high = scale
    return (values - low) / (high - low)


def rescale(values: pd.Series | np.ndarray, source: tuple[float, float], target: tuple[float, float]):
    """Map values linearly from scale ``source`` to scale ``target`` (MSP 1..7 -> IEMOCAP 1..5 ...).

    >>> rescale(np.array([1.0, 4.0, 7.0]), (1, 7), (1, 5)).tolist()
    [1.0, 3.0, 5.0]
    """
    (a, b), (c, d) = source, target
    if not (a < b and c < d):
        raise ConfigError(f"scales must run from low to high, got {source} and {target}")
    return c + (values - a) * (d - c) / (b - a)


# ====================================================================== continuous label sets
@dataclasses.dataclass
class ContinuousLabelSet:
    """Per item one gold-standard value per dimension (items x dimensions, NaN where unrated).

    Made by :func:`gold_standard` (METHODS.md section 2: mean, median, EWE after Grimm & Kroschel 2005,
    z-norm); every table is indexed by item id.

    Args:
        values: items x dimensions, the gold-standard value on the corpus scale (NaN where unrated).
        spread: items x dimensions, the raters' standard deviation (0 with one rater).
        n_raters: items x dimensions, the ratings counted.
        kept: bool per item: a value for every dimension.
        method: the gold standard (``mean``, ``median``, ``ewe``, ``znorm``).
        scale: dimension -> ``(low, high)`` of the corpus scale.
        raters: the method's per-rater table with a ``dimension`` column (z-norm: ``n_set_aside`` and
            ``reason`` per rater; EWE: ``weight``, and ``reason`` for a weight of 0).
        options: the method's options as applied (``min_shared``, ``min_ratings_per_rater``, ``rescale``).
    """

    values: pd.DataFrame
    spread: pd.DataFrame
    n_raters: pd.DataFrame
    kept: pd.Series
    method: str
    scale: dict[str, tuple[float, float]]
    raters: pd.DataFrame
    options: dict = dataclasses.field(default_factory=dict)

    kind = "continuous"
    """The target kind of the label-set protocol (:mod:`voxpop.labels.label_sets`): dimensions, not classes."""
    multilabel = False
    """Continuous targets are never multi-hot (the protocol's ``multilabel``)."""
    segments = None
    """Continuous label sets label the corpus items themselves (no interval segments)."""

    @property
    def dimensions(self) -> list[str]:
        return [str(c) for c in self.values.columns]

    @property
    def names(self) -> list[str]:
        """The target columns (the dimensions), as :attr:`voxpop.labels.labelset.LabelSet.names`."""
        return self.dimensions

    @property
    def targets(self) -> pd.DataFrame:
        """Items x dimensions: the gold-standard values (NaN where an item has none), as ``LabelSet.targets``."""
        return self.values

    @property
    def rule(self) -> str:
        """The gold standard (``mean``, ``median``, ``ewe``, ``znorm``), as ``LabelSet.rule`` names the rule."""
        return self.method

    @property
    def accounting(self) -> Accounting:
        """What the gold standard discarded, as :attr:`voxpop.labels.labelset.LabelSet.accounting`.

        ``ratings_total``: every rating of the chosen dimensions (after ``condition``); ``ratings_supporting``:
        those of kept items (z-norm's set-aside ratings are counted apart, in ``ratings_set_aside``);
        ``items_without_usable_rating``: items whose ratings z-norm set aside entirely.
        """
        kept = self.kept.reindex(self.n_raters.index, fill_value=False).to_numpy(dtype=bool)
        counts = self.n_raters.to_numpy(dtype=int)
        return Accounting(
            items_total=len(self.values),
            items_kept=int(kept.sum()),
            ratings_total=int(counts.sum()),
            ratings_supporting=int(counts[kept].sum()),
            ratings_set_aside=self.ratings_set_aside,
            items_without_usable_rating=self.items_without_usable_rating,
        )

    @property
    def items_without_usable_rating(self) -> int:
        """Items with ratings of some dimension but no value for it (z-norm set all of them aside): not kept."""
        return int(((self.n_raters > 0) & self.values.isna()).any(axis=1).sum())

    @property
    def ratings_set_aside(self) -> int:
        """Ratings the gold standard set aside (z-norm: raters with too few or unvarying ratings)."""
        return int(self.raters["n_set_aside"].sum()) if "n_set_aside" in self.raters.columns else 0

    @property
    def kept_targets(self) -> pd.DataFrame:
        """The values of the kept items (items x dimensions), as
        :attr:`voxpop.labels.labelset.LabelSet.kept_targets`."""
        return self.values[self.kept.to_numpy(dtype=bool)]

    def save(self, path: str | Path) -> Path:
        """One parquet file: ``value:<dim>``, ``sd:<dim>``, ``n:<dim>``, ``kept``; metadata in the schema."""
        from voxpop.core.cache import atomic_write

        path = Path(path)
        frame = pd.concat(
            [
                self.values.add_prefix("value:"),
                self.spread.add_prefix("sd:"),
                self.n_raters.add_prefix("n:"),
                self.kept.rename("kept").astype(bool),
            ],
            axis=1,
        )
        table = pa.Table.from_pandas(frame, preserve_index=True)
        meta = {
            "method": self.method,
            "dimensions": self.dimensions,
            "scale": {k: list(v) for k, v in self.scale.items()},
            "options": self.options,
            "raters": json.loads(self.raters.reset_index().to_json(orient="records")),
        }
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()})
        atomic_write(path, lambda handle: pq.write_table(table, handle))
        return path

    @classmethod
    def load(cls, path: str | Path) -> ContinuousLabelSet:
        """Read a file written by :meth:`save`; InputError when it is not one."""
        path = Path(path)
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"{path}: not a readable continuous label set ({exc})") from None
        raw = (table.schema.metadata or {}).get(_META_KEY)
        if raw is None:
            raise InputError(f"{path}: not a voxpop continuous label set (no {_META_KEY.decode()} metadata)")
        meta = parse_json(raw)
        frame = table.to_pandas()
        dims = meta["dimensions"]

        def part(prefix: str) -> pd.DataFrame:
            return frame[[f"{prefix}:{d}" for d in dims]].set_axis(dims, axis=1)

        raters = pd.DataFrame(meta["raters"])
        return cls(
            values=part("value"),
            spread=part("sd"),
            n_raters=part("n"),
            kept=frame["kept"].astype(bool),
            method=meta["method"],
            scale={k: (float(v[0]), float(v[1])) for k, v in meta["scale"].items()},
            raters=raters.set_index("rater") if "rater" in raters.columns else raters,
            options=meta["options"],
        )


def continuous_labels(
    corpus: Corpus,
    slot: str = "dimension",
    dimensions: Sequence[str] | None = None,
    method: str = "mean",
    *,
    condition: str | Sequence[str] | None = None,
    min_shared: int = DEFAULT_MIN_SHARED,
    min_ratings_per_rater: int = DEFAULT_MIN_RATINGS_PER_RATER,
) -> ContinuousLabelSet:
    """A continuous label set of ``corpus``: the gold standard of every dimension (a label of ``slot``).

    ``dimensions``: the labels to use (default: every label of the slot, in order of appearance);
    ``condition``: keep the ratings of these conditions only; ``min_shared`` and ``min_ratings_per_rater``
    as :func:`gold_standard`. Every corpus item is in the result; items without a (usable) rating of
    some dimension are not kept (:attr:`ContinuousLabelSet.items_without_usable_rating` counts those
    whose ratings z-norm set aside). Raises :class:`ConfigError` for a slot
    without numeric ratings (or none under ``condition``) or an unknown dimension, :class:`InputError`
    as :func:`gold_standard`.
    """
    in_slot = corpus.ratings[corpus.ratings["slot"].eq(slot).to_numpy(dtype=bool, na_value=False)]
    in_slot = in_slot[in_slot["value"].notna()]
    ratings = in_slot
    if condition is not None:
        wanted = [condition] if isinstance(condition, str) else list(condition)
        ratings = ratings[ratings["condition"].isin(wanted).to_numpy(dtype=bool, na_value=False)]
    available = [str(label) for label in ratings["label"].dropna().unique()]
    if not available and len(in_slot):
        conditions = sorted(map(str, in_slot["condition"].dropna().unique()))
        raise ConfigError(
            f"corpus {corpus.name!r} has no numeric ratings in slot {slot!r} under condition {condition!r}; "
            + (
                f"its conditions are {conditions}"
                if conditions
                else "its ratings have no condition (remove 'condition')"
            )
        )
    if not available:
        slots = sorted(map(str, corpus.ratings["slot"].dropna().unique()))
        raise ConfigError(
            f"corpus {corpus.name!r} has no numeric ratings in slot {slot!r}; its slots are {slots} "
            "(dimensions are in slot 'dimension' for MSP / IEMOCAP imports, 'sentiment' for CMU-MOSEI)"
        )
    chosen = available if dimensions is None else [str(d) for d in dimensions]
    unknown = [d for d in chosen if d not in available]
    if unknown:
        raise ConfigError(f"slot {slot!r} has no ratings for {unknown}; it has {available}")
    if slot not in corpus.scales:
        raise ConfigError(f"corpus {corpus.name!r} declares no scale for slot {slot!r}; add it to corpus.yaml 'scales'")
    index = pd.Index(corpus.items.index.astype(str), name="item")
    values, spread, counts, tables = {}, {}, {}, []
    for dim in chosen:
        part = ratings[ratings["label"].eq(dim).to_numpy(dtype=bool, na_value=False)]
        value, raters = gold_standard(part, method, min_shared=min_shared, min_ratings_per_rater=min_ratings_per_rater)
        grouped = part.assign(item=part["item"].astype(str)).groupby("item")["value"]
        values[dim] = value.reindex(index)
        spread[dim] = grouped.std(ddof=0).reindex(index)
        counts[dim] = grouped.size().reindex(index, fill_value=0)
        tables.append(raters.assign(dimension=dim))
    frame = pd.DataFrame(values, index=index)
    frame.index = frame.index.astype(STRING)
    return ContinuousLabelSet(
        values=frame,
        spread=pd.DataFrame(spread, index=frame.index),
        n_raters=pd.DataFrame(counts, index=frame.index).astype(int),
        kept=frame.notna().all(axis=1).rename("kept"),
        method=method,
        scale={dim: corpus.scales[slot] for dim in chosen},
        raters=pd.concat(tables),
        options={
            "slot": slot,
            "condition": condition,
            "min_shared": min_shared,
            "min_ratings_per_rater": min_ratings_per_rater,
        },
    )


class ContinuousSpec(pydantic.BaseModel):
    """A continuous label set of a recipe (``labels.train`` / ``labels.test`` entries with ``gold_standard``).

    ``gold_standard``: mean, median, ewe or znorm of each item's ratings (:func:`gold_standard`);
    ``dimensions``: the labels of ``slot`` to use (default: all of them); ``condition``: keep these
    conditions' ratings only; ``min_shared``: EWE's minimum of items shared with other raters;
    ``min_ratings_per_rater``: z-norm's minimum of ratings per rater (fewer: set aside);
    ``rescale``: map the corpus scale linearly onto this (low, high) scale (:func:`rescale`), the one
    explicit way to score targets of corpora with different scales against each other.

    >>> spec = ContinuousSpec(gold_standard="ewe", dimensions=["arousal"], rescale=(0, 1))
    >>> spec.gold_standard, spec.slot, spec.rescale
    ('ewe', 'dimension', (0.0, 1.0))
    """

    model_config = pydantic.ConfigDict(extra="forbid", allow_inf_nan=False)

    gold_standard: Literal[GOLD_STANDARDS]
    dimensions: list[str] | None = pydantic.Field(None, min_length=1)
    slot: str = "dimension"
    condition: str | list[str] | None = None
    min_shared: int = pydantic.Field(DEFAULT_MIN_SHARED, ge=2)
    min_ratings_per_rater: int = pydantic.Field(DEFAULT_MIN_RATINGS_PER_RATER, ge=2)
    rescale: tuple[float, float] | None = None

    @pydantic.field_validator("dimensions")
    @classmethod
    def _once_each(cls, dimensions: list[str] | None) -> list[str] | None:
        repeated = sorted({d for d in dimensions or [] if dimensions.count(d) > 1})
        if repeated:
            raise ValueError(f"dimensions: {repeated} given more than once; name each dimension once")
        return dimensions

    @pydantic.field_validator("rescale")
    @classmethod
    def _rising(cls, scale: tuple[float, float] | None) -> tuple[float, float] | None:
        if scale is not None and not scale[0] < scale[1]:
            raise ValueError(f"rescale: give (low, high) with low < high, got {scale}")
        return scale

    def config(self) -> dict:
        """The spec as the labels stage hashes it and :func:`voxpop.labels.label_sets.build_label_set` reads it."""
        return self.model_dump()

    def build(self, corpus: Corpus) -> ContinuousLabelSet:
        """The label set on ``corpus`` (:func:`continuous_labels`, then the explicit ``rescale``)."""
        labels = continuous_labels(
            corpus,
            self.slot,
            self.dimensions,
            self.gold_standard,
            condition=self.condition,
            min_shared=self.min_shared,
            min_ratings_per_rater=self.min_ratings_per_rater,
        )
        if self.rescale is None:
            return labels
        target = (float(self.rescale[0]), float(self.rescale[1]))
        scaled = {d: rescale(labels.values[d], labels.scale[d], target) for d in labels.dimensions}
        spread = {
            d: labels.spread[d] * (target[1] - target[0]) / (labels.scale[d][1] - labels.scale[d][0])
            for d in labels.dimensions
        }
        options = {**labels.options, "rescaled_from": {d: list(labels.scale[d]) for d in labels.dimensions}}
        return dataclasses.replace(
            labels,
            values=pd.DataFrame(scaled, index=labels.values.index),
            spread=pd.DataFrame(spread, index=labels.spread.index),
            scale={d: target for d in labels.dimensions},
            options=options,
        )
