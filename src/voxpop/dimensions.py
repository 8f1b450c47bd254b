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
  bias and range; it is mapped back onto the corpus scale with the overall mean and sd of all ratings,
  so every gold standard keeps the corpus scale. A rater whose ratings do not vary (or who gave one
  rating) contributes z = 0.

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

from voxpop.cache import parse_json
from voxpop.corpus import STRING, Corpus
from voxpop.errors import ConfigError, InputError

GOLD_STANDARDS = ("mean", "median", "ewe", "znorm")
DEFAULT_MIN_SHARED = 5
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
    ``min_shared`` items that some other rater also rated, or with a negative or undefined r, weighs 0.
    """
    table = _check_ratings(ratings, "ewe")
    sums = table.groupby("item")["value"].agg(["sum", "count"])
    total = sums["sum"].reindex(table["item"]).to_numpy()
    count = sums["count"].reindex(table["item"]).to_numpy()
    shared = count > 1
    others = np.full(len(table), np.nan)
    others[shared] = (total[shared] - table["value"].to_numpy()[shared]) / (count[shared] - 1)
    table = table.assign(others=others)[shared]
    weights = {}
    for rater, part in table.groupby("rater", sort=True):
        x, y = part["value"].to_numpy(), part["others"].to_numpy()
        if len(part) < min_shared or x.std() == 0 or y.std() == 0:
            weights[rater] = 0.0
            continue
        weights[rater] = max(0.0, float(np.corrcoef(x, y)[0, 1]))
    raters = sorted(ratings["rater"].dropna().astype(str).unique())
    return pd.Series(weights, dtype=float).reindex(raters, fill_value=0.0).rename("weight").rename_axis("rater")


def gold_standard(
    ratings: pd.DataFrame, method: str = "mean", *, min_shared: int = DEFAULT_MIN_SHARED
) -> tuple[pd.Series, pd.DataFrame]:
    """Per-item gold standard of one numeric label, and the per-rater table of the method.

    ``ratings``: long table (item, rater, value). Returns (value per item, indexed by item; raters:
    ``n_ratings`` and, for ``ewe``, ``weight``, for ``znorm``, ``mean``, ``sd`` and ``bias``: the rater's
    mean minus the mean of all ratings, which the z-scores remove).

    >>> r = pd.DataFrame({"item": ["a", "a", "b", "b"], "rater": ["x", "y", "x", "y"], "value": [1, 3, 2, 6]})
    >>> gold_standard(r, "mean")[0].tolist(), gold_standard(r, "median")[0].tolist()
    ([2.0, 4.0], [2.0, 4.0])
    >>> gold_standard(r, "znorm")[0].round(3).tolist()  # z = -1, +1 for both raters; x overall mean 3, sd 1.871
    [1.129, 4.871]
    """
    if method not in GOLD_STANDARDS:
        raise ConfigError(f"unknown gold standard {method!r}; choose one of {', '.join(GOLD_STANDARDS)}")
    table = _check_ratings(ratings, method)
    counts = table.groupby("rater").size().rename("n_ratings").rename_axis("rater")
    by_item = table.groupby("item", sort=True)["value"]
    if method in ("mean", "median"):
        return getattr(by_item, method)().rename(method), counts.to_frame()
    if method == "ewe":
        weights = ewe_weights(table, min_shared)
        w = weights.reindex(table["rater"].astype(str)).to_numpy()
        frame = table.assign(w=w, wx=w * table["value"].to_numpy())
        sums = frame.groupby("item", sort=True)[["w", "wx"]].sum()
        plain = by_item.mean()
        value = (sums["wx"] / sums["w"]).where(sums["w"] > 0, plain)
        return value.rename("ewe"), pd.concat([counts, weights], axis=1)
    stats = table.groupby("rater")["value"].agg(mean="mean", sd=lambda v: v.std(ddof=0))
    mean = stats["mean"].reindex(table["rater"]).to_numpy()
    sd = stats["sd"].reindex(table["rater"]).to_numpy()
    z = np.divide(table["value"].to_numpy() - mean, sd, out=np.zeros(len(table)), where=sd > 0)
    overall_mean, overall_sd = table["value"].mean(), table["value"].std(ddof=0)
    value = table.assign(z=z).groupby("item", sort=True)["z"].mean() * overall_sd + overall_mean
    return value.rename("znorm"), pd.concat([counts, stats.assign(bias=stats["mean"] - overall_mean)], axis=1)


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

    ``spread``: the raters' standard deviation per item and dimension (0 with one rater); ``n_raters``:
    ratings per item and dimension; ``kept``: items with a value for every dimension; ``scale``: the
    corpus scale of each dimension; ``raters``: the method's per-rater table with a ``dimension`` column.
    """

    values: pd.DataFrame
    spread: pd.DataFrame
    n_raters: pd.DataFrame
    kept: pd.Series
    method: str
    scale: dict[str, tuple[float, float]]
    raters: pd.DataFrame
    options: dict = dataclasses.field(default_factory=dict)

    @property
    def dimensions(self) -> list[str]:
        return [str(c) for c in self.values.columns]

    @property
    def kept_targets(self) -> pd.DataFrame:
        """The values of the kept items (items x dimensions), as :attr:`voxpop.labelset.LabelSet.kept_targets`."""
        return self.values[self.kept.to_numpy(dtype=bool)]

    def save(self, path: str | Path) -> Path:
        """One parquet file: ``value:<dim>``, ``sd:<dim>``, ``n:<dim>``, ``kept``; metadata in the schema."""
        from voxpop.cache import atomic_write

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
) -> ContinuousLabelSet:
    """A continuous label set of ``corpus``: the gold standard of every dimension (a label of ``slot``).

    ``dimensions``: the labels to use (default: every label of the slot, in order of appearance);
    ``condition``: keep the ratings of these conditions only. Every corpus item is in the result;
    items without a rating of some dimension are not kept. Raises :class:`ConfigError` for a slot
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
        value, raters = gold_standard(part, method, min_shared=min_shared)
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
        options={"slot": slot, "condition": condition, "min_shared": min_shared},
    )


class ContinuousSpec(pydantic.BaseModel):
    """A continuous label set of a recipe (``labels.train`` / ``labels.test`` entries with ``gold_standard``).

    ``gold_standard``: mean, median, ewe or znorm of each item's ratings (:func:`gold_standard`);
    ``dimensions``: the labels of ``slot`` to use (default: all of them); ``condition``: keep these
    conditions' ratings only; ``min_shared``: EWE's minimum of items shared with other raters;
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

    def build(self, corpus: Corpus) -> ContinuousLabelSet:
        """The label set on ``corpus`` (:func:`continuous_labels`, then the explicit ``rescale``)."""
        labels = continuous_labels(
            corpus, self.slot, self.dimensions, self.gold_standard, condition=self.condition, min_shared=self.min_shared
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
