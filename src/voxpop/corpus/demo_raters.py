"""Simulated raters of the demo corpus: per-rater confusion matrices, categorical votes, Likert intensities,
secondary lists and dimension ratings (:mod:`voxpop.corpus.demo`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError
from voxpop.corpus.corpus import STRING
from voxpop.corpus.demo_design import (
    _DIMENSIONS,
    _RATERS,
    _RATINGS,
    CONDITIONS,
    DIMENSION_SCALE,
    DIMENSIONS,
    EMOTIONS,
    INTENSITIES,
    INTENSITY_FACTOR,
    LIKERT_MAX,
    LIST_LENGTHS,
    LOW_INTENSITY_SHIFT,
    OTHER,
    PRIMARY_LISTED,
    _check_choice,
    _rng,
)


# ====================================================================== raters
def confusion_matrix(classes: Sequence[str], condition: str) -> pd.DataFrame:
    """Where a confused rater's choice goes: rows intended emotion, columns perceived, diagonal 0.

    M[e, c] = s(e, c) / sum_{c' != e} s(e, c') for c != e, with the similarity
    s(e, c) = exp(-((v_e - v_c) / w_v)^2 / 2 - ((a_e - a_c) / w_a)^2 / 2) of the emotions' valence v
    and arousal a and the condition's widths w (:data:`CONDITIONS`): voice blurs valence (confuses
    anger with happy and neutral with sad), face blurs arousal (confuses anger with sad).

    >>> confusion_matrix(["neutral", "anger", "happy", "sad"], "voice").round(2)
             neutral  anger  happy   sad
    neutral     0.00   0.11   0.44  0.45
    anger       0.14   0.00   0.86  0.00
    happy       0.39   0.60   0.00  0.01
    sad         0.97   0.00   0.02  0.00
    >>> confusion_matrix(["neutral", "anger", "happy", "sad"], "face").loc["anger"].idxmax()
    'sad'
    """
    classes = _check_choice("classes", classes, EMOTIONS)
    (condition,) = _check_choice("condition", [condition], CONDITIONS)
    if len(classes) < 2:
        raise ConfigError(f"demo corpus: classes {classes}; need at least two")
    spec = CONDITIONS[condition]
    v = np.array([EMOTIONS[c].valence for c in classes])
    a = np.array([EMOTIONS[c].arousal for c in classes])
    similarity = np.exp(
        -0.5 * ((v[:, None] - v[None, :]) / spec.valence_width) ** 2
        - 0.5 * ((a[:, None] - a[None, :]) / spec.arousal_width) ** 2
    )
    np.fill_diagonal(similarity, 0.0)
    return pd.DataFrame(similarity / similarity.sum(1, keepdims=True), index=classes, columns=classes)


def rater_table(n_raters: int, seed: int = 0) -> pd.DataFrame:
    """Simulated raters ``r001``..: ``reliability`` = 0.55 + 0.45 Beta(5, 2) (mean 0.87), the factor
    on their probability of perceiving the intended emotion; ``leniency`` N(0, 0.2) added to their
    Likert ratings (before rounding); ``neutral_bias`` U(0, 0.25), the share of their confusions that
    go to ``neutral``.

    >>> raters = rater_table(4)
    >>> list(raters.index), bool(raters["reliability"].between(0.55, 1).all())
    (['r001', 'r002', 'r003', 'r004'], True)
    """
    if n_raters < 1:
        raise ConfigError(f"demo corpus: n_raters={n_raters}; expected at least 1")
    rng = _rng(seed, _RATERS)
    return pd.DataFrame(
        {
            "reliability": 0.55 + 0.45 * rng.beta(5, 2, n_raters),
            "leniency": rng.normal(0.0, 0.2, n_raters),
            "neutral_bias": rng.uniform(0.0, 0.25, n_raters),
        },
        index=pd.Index([f"r{j + 1:03d}" for j in range(n_raters)], dtype=STRING, name="rater"),
    )


def _sample_rows(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One category per row of a (rows x C) probability matrix."""
    cumulative = np.cumsum(probabilities, axis=1)
    u = rng.random(len(probabilities))[:, None] * cumulative[:, -1:]
    return np.minimum((cumulative <= u).sum(axis=1), probabilities.shape[1] - 1)


def simulate_ratings(
    items: pd.DataFrame,
    raters: pd.DataFrame,
    classes: Sequence[str],
    conditions: Sequence[str] = ("voice", "face", "av"),
    raters_per_clip: int = 6,
    seed: int = 0,
) -> pd.DataFrame:
    """Long ratings (item, rater, condition, slot, label, value) of simulated raters.

    ``items`` needs columns ``emotion`` (intended class) and ``intensity`` (low / high); ``raters``
    comes from :func:`rater_table`. For every item and condition, ``raters_per_clip`` distinct raters
    are drawn from the pool; each gives

    - ``primary``: the perceived emotion (probability q of the intended one, see the module text;
      item clarity ~ Beta(9, 1.5); per (item, condition) a look-alike emotion drawn from the
      condition's confusion row takes a Beta(2, 3) share of that row);
    - ``intensity``: a Likert value 0..3 for every class: round(3 s + leniency), where the perceived
      strength s ~ N(0.75 high / 0.45 low intensity, 0.15) for the primary (N(0.45, 0.15) when it is a
      confusion), and 0.3 x M[primary, c] of the condition's :func:`confusion_matrix` M, + 0.3 for the
      intended emotion when it is not the primary, + N(0, 0.07), for the others; the primary then
      gets at least 1 and at least every other value of the judgement;
    - ``secondary``: a list of L = 1, 2 or 3 emotions (probabilities :data:`LIST_LENGTHS`, at most
      C - 1): with probability :data:`PRIMARY_LISTED` the primary and L - 1 other classes, else L
      classes other than the primary; the others drawn without replacement with weights (Likert value
      + 0.1), so mostly the intended emotion and the look-alikes the rater also rated above 0; plus
      ``other`` with probability 0.05.

    >>> items = pd.DataFrame({"emotion": ["anger", "sad"], "intensity": ["high", "low"]}, index=["a", "b"])
    >>> r = simulate_ratings(items, rater_table(5), ["neutral", "anger", "happy", "sad"], ["voice"], 3)
    >>> r.groupby("slot").size().to_dict()["intensity"], r.groupby("slot").size().to_dict()["primary"]
    (24, 6)
    """
    classes = _check_choice("classes", classes, EMOTIONS)
    conditions = _check_choice("conditions", conditions, CONDITIONS)
    n_raters, n_items, n_cond, n_classes = len(raters), len(items), len(conditions), len(classes)
    if not 1 <= raters_per_clip <= n_raters:
        raise ConfigError(
            f"demo corpus: raters_per_clip={raters_per_clip}; expected 1..n_raters ({n_raters}) distinct raters "
            "per clip"
        )
    for column, allowed in (("emotion", classes), ("intensity", INTENSITIES)):
        unknown = sorted(set(items[column].astype(str)) - set(allowed))
        if unknown:
            raise ConfigError(f"demo corpus: item column {column!r} has {unknown}; expected one of {list(allowed)}")
    rng = _rng(seed, _RATINGS)
    k = raters_per_clip
    intended_of_item = pd.Index(classes).get_indexer(items["emotion"].astype(str))
    high_of_item = items["intensity"].astype(str).to_numpy() == "high"
    clarity_of_item = rng.beta(9, 1.5, n_items) * np.where(
        high_of_item, INTENSITY_FACTOR["high"], INTENSITY_FACTOR["low"]
    )
    confusion = np.stack([confusion_matrix(classes, c).to_numpy() for c in conditions])  # (K, C, C)
    # one row per (condition, item) stimulus ...
    cond_s = np.repeat(np.arange(n_cond), n_items)
    item_s = np.tile(np.arange(n_items), n_cond)
    rows = confusion[cond_s, intended_of_item[item_s]]
    lookalike = _sample_rows(rows, rng)
    share = rng.beta(2, 3, len(rows))[:, None]
    rows = (1 - share) * rows + share * np.eye(n_classes)[lookalike]
    rater_s = rng.random((len(rows), n_raters)).argsort(axis=1)[:, :k]
    # ... and one row per judgement
    cond, item, rater = np.repeat(cond_s, k), np.repeat(item_s, k), rater_s.ravel()
    intended = intended_of_item[item]
    confused_to = np.repeat(rows, k, axis=0)
    if "neutral" in classes:
        bias = np.where(intended == classes.index("neutral"), 0.0, raters["neutral_bias"].to_numpy()[rater])[:, None]
        confused_to = (1 - bias) * confused_to + bias * np.eye(n_classes)[classes.index("neutral")]
    clarity = np.array([CONDITIONS[c].clarity for c in conditions])
    q = clarity[cond] * clarity_of_item[item] * raters["reliability"].to_numpy()[rater]
    one_hot = np.eye(n_classes)[intended]
    primary = _sample_rows(q[:, None] * one_hot + (1 - q[:, None]) * confused_to, rng)
    values, other = _likert(
        primary, intended, high_of_item[item], confusion[cond], raters["leniency"].to_numpy()[rater], rng
    )
    listed = _secondary_lists(primary, values, rng)
    judgement = pd.DataFrame(
        {
            "item": items.index.to_numpy()[item],
            "rater": raters.index.to_numpy()[rater],
            "condition": np.asarray(conditions)[cond],
        }
    )
    class_names = np.asarray(classes, dtype=object)
    where_listed = np.nonzero(np.column_stack([listed, other]))
    parts = [
        judgement.assign(slot="primary", label=class_names[primary], value=np.nan, _order=0),
        judgement.iloc[where_listed[0]].assign(
            slot="secondary", label=np.append(class_names, OTHER)[where_listed[1]], value=np.nan, _order=1
        ),
        judgement.iloc[np.repeat(np.arange(len(judgement)), n_classes)].assign(
            slot="intensity", label=np.tile(class_names, len(judgement)), value=values.ravel().astype(float), _order=2
        ),
    ]
    ratings = pd.concat(parts).rename_axis("_judgement").reset_index()
    ratings = ratings.sort_values(["_judgement", "_order"], kind="stable")
    return (
        ratings.drop(columns=["_judgement", "_order"])
        .reset_index(drop=True)
        .astype({c: STRING for c in ("item", "rater", "condition", "slot", "label")})
    )


def _likert(
    primary: np.ndarray,
    intended: np.ndarray,
    high: np.ndarray,
    confusion: np.ndarray,
    leniency: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Likert values (judgements x classes) and the ``other`` flag, as :func:`simulate_ratings` states."""
    n, n_classes = confusion.shape[0], confusion.shape[1]
    rows = np.arange(n)
    strength = 0.3 * confusion[rows, primary] + 0.07 * rng.standard_normal((n, n_classes))
    missed = primary != intended
    strength[rows[missed], intended[missed]] += 0.3
    hit_mean = np.where(high, 0.75, 0.45)
    strength[rows, primary] = np.where(missed, 0.45, hit_mean) + 0.15 * rng.standard_normal(n)
    values = np.clip(np.round(LIKERT_MAX * strength + leniency[:, None]), 0, LIKERT_MAX)
    values[rows, primary] = np.maximum(values[rows, primary], np.maximum(values.max(axis=1), 1))
    return values.astype(np.int64), rng.random(n) < 0.05


def _secondary_lists(primary: np.ndarray, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Which classes each judgement's secondary list names (judgements x classes booleans), as
    :func:`simulate_ratings` states: L classes drawn without replacement with weights (Likert value
    + 0.1) by the Gumbel top-k trick (largest log w + Gumbel noise), the primary first or never."""
    n, n_classes = values.shape
    length = rng.choice(np.arange(1, len(LIST_LENGTHS) + 1), size=n, p=LIST_LENGTHS)
    keys = np.log(values + 0.1) + rng.gumbel(size=(n, n_classes))
    keys[np.arange(n), primary] = np.where(rng.random(n) < PRIMARY_LISTED, np.inf, -np.inf)
    rank = (-keys).argsort(axis=1).argsort(axis=1)
    return rank < np.minimum(length, n_classes - 1)[:, None]


# ====================================================================== the corpus
def dimension_raters(raters: pd.Index, seed: int = 0) -> pd.DataFrame:
    """Each rater's behaviour on the dimension scales: ``dimension_bias`` N(0, 0.4) added to every rating,
    ``dimension_sd`` the sd of their rating noise, U(0.2, 0.5) for three quarters of the raters and
    U(1.0, 1.6) for the others (noisy raters, whom EWE should weigh less).

    >>> table = dimension_raters(pd.Index(["r001", "r002"]))
    >>> list(table.columns), bool(table["dimension_sd"].between(0.2, 1.6).all())
    (['dimension_bias', 'dimension_sd'], True)
    """
    rng = _rng(seed, _DIMENSIONS)
    n = len(raters)
    noisy = rng.random(n) < 0.25
    return pd.DataFrame(
        {
            "dimension_bias": rng.normal(0.0, 0.4, n),
            "dimension_sd": np.where(noisy, rng.uniform(1.0, 1.6, n), rng.uniform(0.2, 0.5, n)),
        },
        index=raters,
    )


def simulate_dimensions(
    items: pd.DataFrame, judgements: pd.DataFrame, raters: pd.DataFrame, seed: int = 0
) -> pd.DataFrame:
    """Long dimension ratings (slot ``dimension``, labels :data:`DIMENSIONS`, values 1..5) of every judgement.

    ``items`` needs ``emotion`` and ``intensity``; ``judgements``: the (item, rater, condition) rows of the
    primary choices; ``raters``: :func:`dimension_raters`. Clip i's true value on dimension d is
    t_id = 3 + 1.6 f_i c_ed + N(0, 0.3), with c_ed the emotion's coordinate and f_i 1 (high) or 0.5 (low
    intensity); rater j rates round(t_id + b_j + N(0, s_j) + N(0, 0.3 w_kd)), clipped to 1..5, where w_kd
    is the condition's width on that axis (:data:`CONDITIONS`; dominance takes the mean of both widths).

    >>> items = pd.DataFrame({"emotion": ["anger"], "intensity": ["high"]}, index=["a"])
    >>> judged = pd.DataFrame({"item": ["a", "a"], "rater": ["r001", "r002"], "condition": ["voice", "av"]})
    >>> r = simulate_dimensions(items, judged, dimension_raters(pd.Index(["r001", "r002"])))
    >>> r["label"].tolist()[:3], bool(r["value"].between(1, 5).all())
    (['arousal', 'valence', 'dominance'], True)
    """
    rng = _rng(seed, _DIMENSIONS, 1)
    low, high = DIMENSION_SCALE
    emotions = items["emotion"].astype(str)
    coordinates = np.array([[getattr(EMOTIONS[e], d) for d in DIMENSIONS] for e in emotions])
    factor = np.where(items["intensity"].astype(str).to_numpy() == "high", 1.0, LOW_INTENSITY_SHIFT)[:, None]
    truth = 3.0 + 1.6 * factor * coordinates + rng.normal(0.0, 0.3, coordinates.shape)
    item = items.index.get_indexer(judgements["item"])
    rater = raters.index.get_indexer(judgements["rater"])
    widths = np.array(
        [
            [c.arousal_width, c.valence_width, (c.arousal_width + c.valence_width) / 2]
            for c in (CONDITIONS[k] for k in judgements["condition"].astype(str))
        ]
    )
    n = len(judgements)
    noise = raters["dimension_sd"].to_numpy()[rater][:, None] * rng.standard_normal((n, 3))
    perceived = 0.3 * widths * rng.standard_normal((n, 3))
    values = truth[item] + raters["dimension_bias"].to_numpy()[rater][:, None] + noise + perceived
    values = np.clip(np.round(values), low, high)
    rows = judgements[["item", "rater", "condition"]].reset_index(drop=True)
    return (
        rows.iloc[np.repeat(np.arange(n), 3)]
        .assign(slot="dimension", label=np.tile(DIMENSIONS, n), value=values.ravel())
        .reset_index(drop=True)
        .astype({c: STRING for c in ("item", "rater", "condition", "slot", "label")})
    )
