"""Analyses across models and test sets (METHODS.md sections 4 and 6): ensembles, Dirichlet late fusion
(of prediction tables, :func:`late_fusion`; per fold: :mod:`voxpop.evaluation.tuning`), cross-test matrices, easy /
difficult
items, and the check that flags label sets or result cells equal to another one (:func:`identical_entries`).

Prediction tables are DataFrames indexed by item id with one column of class probability (or score)
per class; predictions from outside voxpop work the same once they have that shape. Tables are
matched on item ids and class columns with :func:`voxpop.evaluation.metrics.align_tables`, which names what
differs instead of dropping anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from voxpop.core.errors import ConfigError, InputError
from voxpop.core.formatting import format_ci
from voxpop.corpus.corpus import STRING
from voxpop.evaluation.metrics import Counts, align_tables, class_codes, score
from voxpop.evaluation.predictions import predicted_classes
from voxpop.evaluation.scoring import evaluate
from voxpop.labels import LabelSet

_FUSION_CHUNK_ELEMENTS = 1 << 22  # fused scores held in memory at once (draws x items x classes)


def _aligned_stack(
    predictions: Mapping[str, pd.DataFrame], classes: Sequence[object] | None
) -> tuple[np.ndarray, pd.Index, list]:
    """(models, items, classes) array of aligned prediction tables, with item index and classes."""
    if not predictions:
        raise ConfigError("give at least one model's predictions.")
    for name, table in predictions.items():
        if not isinstance(table, pd.DataFrame):
            raise InputError(
                f"{name}: predictions must be a DataFrame (items x classes), found {type(table).__name__}."
            )
    aligned = align_tables(predictions, classes)
    first = next(iter(aligned.values()))
    return np.stack([t.to_numpy(dtype=float) for t in aligned.values()]), first.index, list(first.columns)


# --------------------------------------------------------------------------------------------------
# Ensembles


def average_probabilities(
    predictions: Mapping[str, pd.DataFrame], classes: Sequence[object] | None = None
) -> pd.DataFrame:
    """Ensemble by averaging: p(c) = 1/M sum_m p_m(c), items in the first model's order.

    >>> a = pd.DataFrame({"A": [0.8, 0.4], "S": [0.2, 0.6]}, index=["i1", "i2"])
    >>> b = pd.DataFrame({"A": [0.2, 0.6], "S": [0.8, 0.4]}, index=["i2", "i1"])
    >>> average_probabilities({"audio": a, "video": b})
          A    S
    i1  0.7  0.3
    i2  0.3  0.7
    """
    stacked, index, columns = _aligned_stack(predictions, classes)
    return pd.DataFrame(stacked.mean(axis=0), index=index, columns=columns)


def majority_vote(decisions: Mapping[str, pd.Series], classes: Sequence[object]) -> pd.Series:
    """Ensemble by voting: the class chosen by most models.

    Tie rule: among the classes with the most votes, the one chosen by the earliest model in
    ``decisions`` wins (list the most trusted model first). Every decision must be one of ``classes``.

    >>> votes = {"m1": pd.Series(["A", "S", "N"]), "m2": pd.Series(["S", "S", "H"]), "m3": pd.Series(["S", "A", "A"])}
    >>> majority_vote(votes, classes=["N", "A", "S", "H"]).tolist()  # item 3: a three-way tie -> m1's "N"
    ['S', 'S', 'N']
    """
    if not decisions:
        raise ConfigError("give at least one model's decisions.")
    aligned = align_tables(decisions)
    classes = list(classes)
    codes = np.stack([class_codes(series, classes, name) for name, series in aligned.items()])  # (models, items)
    n_items = codes.shape[1]
    votes = np.zeros((n_items, len(classes)), dtype=int)
    for row in codes:
        votes[np.arange(n_items), row] += 1
    tied = votes == votes.max(axis=1, keepdims=True)
    is_tied_choice = tied[np.arange(n_items)[None, :], codes]  # (models, items): model's choice among the tied
    first_model = is_tied_choice.argmax(axis=0)
    winner = codes[first_model, np.arange(n_items)]
    index = next(iter(aligned.values())).index
    return pd.Series(np.asarray(classes, dtype=object)[winner], index=index, name="decision")


# --------------------------------------------------------------------------------------------------
# Dirichlet late fusion


@dataclasses.dataclass(frozen=True)
class Fusion:
    """The chosen fusion weights (models x classes) and how every candidate scored on validation data.

    ``candidate_uar[k]`` is the validation UAR of candidate k: the M unit weights first (candidate m
    = model m alone), then the Dirichlet draws in order. ``chosen`` indexes the winner.
    """

    weights: pd.DataFrame
    validation_uar: float
    chosen: int
    candidate_uar: np.ndarray

    def apply(self, predictions: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """Fused scores on new data (e.g. test predictions of the same models)."""
        return fuse(predictions, self.weights)


def fuse(predictions: Mapping[str, pd.DataFrame], weights: pd.DataFrame) -> pd.DataFrame:
    """Fused scores s(c) = sum_m w[m, c] p_m(c); ``weights`` has one row per model, one column per class.

    >>> p = {"audio": pd.DataFrame({"A": [0.9], "S": [0.1]}), "video": pd.DataFrame({"A": [0.3], "S": [0.7]})}
    >>> w = pd.DataFrame({"A": [0.5, 0.5], "S": [0.2, 0.8]}, index=["audio", "video"])
    >>> fuse(p, w)
         A     S
    0  0.6  0.58
    """
    missing = [m for m in predictions if m not in weights.index]
    extra = [m for m in weights.index if m not in predictions]
    if missing or extra:
        raise InputError(
            f"fusion weights and predictions name different models: no weights for {missing}, "
            f"no predictions for {extra}."
        )
    stacked, index, columns = _aligned_stack(predictions, list(weights.columns))
    w = weights.loc[list(predictions)].to_numpy(dtype=float)
    return pd.DataFrame(np.einsum("mc,mnc->nc", w, stacked), index=index, columns=columns)


def dirichlet_fusion(
    val_predictions: Mapping[str, pd.DataFrame],
    val_labels: pd.Series,
    *,
    n_draws: int = 1000,
    seed: int = 0,
    concentration: float = 1.0,
    zero_division: float = 0.0,
) -> Fusion:
    """Late fusion weights chosen by validation UAR (METHODS.md section 4).

    Candidates: the M unit weights (w[m, :] = 1 for one model m, 0 for the others: that model alone)
    followed by ``n_draws`` Dirichlet draws, where for every class c independently the weights over
    models w[:, c] ~ Dirichlet(concentration * 1_M) (so sum_m w[m, c] = 1), drawn from
    ``default_rng(seed)``. Each candidate's fused score s(c) = sum_m w[m, c] p_m(c) decides
    argmax_c s(c); the candidate with the highest validation UAR wins (ties: the earliest, so a
    single model is preferred to an equally good mixture). Because the unit weights are candidates,
    the fused validation UAR is never below the best single model's.

    >>> audio = pd.DataFrame({"A": [0.9, 0.4, 0.4, 0.3], "S": [0.1, 0.6, 0.6, 0.7]})
    >>> video = pd.DataFrame({"A": [0.2, 0.9, 0.2, 0.6], "S": [0.8, 0.1, 0.8, 0.4]})
    >>> labels = pd.Series(["A", "A", "S", "S"])
    >>> fusion = dirichlet_fusion({"audio": audio, "video": video}, labels, n_draws=50)
    >>> fusion.candidate_uar[:2].tolist(), fusion.validation_uar  # audio alone 0.75, video alone 0.5
    ([0.75, 0.5], 1.0)
    """
    if n_draws < 0:
        raise ConfigError(f"n_draws must be >= 0, found {n_draws}.")
    names = list(val_predictions)
    stacked, _, classes = _aligned_stack(val_predictions, None)
    labels = align_tables({names[0]: val_predictions[names[0]], "val_labels": val_labels}, classes)["val_labels"]
    true = class_codes(labels, classes, "val_labels")
    n_models, n_items, n_classes = stacked.shape
    rng = np.random.default_rng(seed)
    draws = rng.dirichlet(np.full(n_models, concentration), size=(n_draws, n_classes)).transpose(0, 2, 1)
    unit = np.repeat(np.eye(n_models)[:, :, None], n_classes, axis=2)
    candidates = np.concatenate([unit, draws])  # (K, models, classes)
    rows = max(1, _FUSION_CHUNK_ELEMENTS // max(n_items * n_classes, 1))
    uar = np.empty(len(candidates))
    for start in range(0, len(candidates), rows):
        decisions = np.einsum("kmc,mnc->knc", candidates[start : start + rows], stacked).argmax(axis=2)
        uar[start : start + rows] = score(Counts.from_codes(true, decisions, n_classes), "uar", zero_division)
    chosen = int(np.argmax(uar))
    weights = pd.DataFrame(candidates[chosen], index=pd.Index(names, name="model"), columns=classes)
    return Fusion(weights=weights, validation_uar=float(uar[chosen]), chosen=chosen, candidate_uar=uar)


# --------------------------------------------------------------------------------------------------
# Late fusion of prediction tables


@dataclasses.dataclass
class LateFusion:
    """Dirichlet late fusion chosen on the dev items and applied to the other items.

    ``fusion``: the chosen weights and the validation UAR of every candidate; ``dev_items``: the items
    the weights were chosen on; ``fused``: fused scores of every other common item (class columns and
    ``fold``); ``dropped``: per input, its items missing from some other input (left out of both sets).
    """

    fusion: Fusion
    dev_items: pd.Index
    fused: pd.DataFrame
    dropped: dict[str, int]


def check_one_row_per_item(predictions: Mapping[str, pd.DataFrame]) -> None:
    """Raise :class:`InputError` naming the first table that predicts an item more than once (overlapping split
    folds), with up to three such items."""
    for name, table in predictions.items():
        duplicated = table.index[table.index.duplicated()].unique()
        if len(duplicated):
            raise InputError(f"{name}: items predicted more than once (e.g. {list(duplicated[:3])}); keep one fold.")


def late_fusion(
    predictions: Mapping[str, pd.DataFrame], dev_labels: LabelSet, *, n_draws: int = 1000, seed: int = 0
) -> LateFusion:
    """Fuse several models' predictions with :func:`dirichlet_fusion`.

    Items predicted by every input are split into dev items (kept by the single-label ``dev_labels``;
    the weights are chosen there by UAR against their argmax class) and the rest, to which the chosen
    weights are applied. The output's ``fold`` column comes from the first input that has one. This is
    ``voxpop fuse``'s single split, for predictions of one test set without folds; out-of-fold predictions
    are fused per fold (:func:`voxpop.evaluation.tuning.fusion_per_fold`). Raises :class:`ConfigError` for fewer than
    two tables or multi-label dev labels, :class:`InputError` for a missing class column, an item predicted
    twice, or no dev / other items.
    """
    if len(predictions) < 2:
        raise ConfigError(f"late fusion needs at least two prediction tables, got {len(predictions)}.")
    if dev_labels.multilabel:
        raise ConfigError(
            f"dev labels {dev_labels.rule!r} are multi-label; fusion weights are chosen by single-label UAR, "
            "so give a single-label dev label set (e.g. mr or pr)."
        )
    classes = dev_labels.classes
    for name, table in predictions.items():
        missing = [c for c in classes if c not in table.columns]
        if missing:
            raise InputError(f"{name}: no column for classes {missing} of the dev labels ({', '.join(classes)}).")
    check_one_row_per_item(predictions)
    common = next(iter(predictions.values())).index
    for table in predictions.values():
        common = common[common.isin(table.index)]
    dropped = {name: len(table) - len(common) for name, table in predictions.items()}
    is_dev = dev_labels.kept.reindex(common, fill_value=False).to_numpy(dtype=bool)
    dev, rest = common[is_dev], common[~is_dev]
    if not len(dev) or not len(rest):
        raise InputError(
            f"of {len(common)} items predicted by every input, {len(dev)} are kept by the dev labels and "
            f"{len(rest)} are not; fusion needs both dev items (to choose weights) and other items (to apply them)."
        )
    truth = predicted_classes(dev_labels.targets.loc[dev, classes])
    fusion = dirichlet_fusion(
        {n: t.loc[dev, classes] for n, t in predictions.items()}, truth, n_draws=n_draws, seed=seed
    )
    fused = fusion.apply({n: t.loc[rest, classes] for n, t in predictions.items()})
    folds = next((t.loc[rest, "fold"] for t in predictions.values() if "fold" in t.columns), None)
    fused["fold"] = pd.array(["fused"] * len(rest), dtype=STRING) if folds is None else folds.to_numpy()
    return LateFusion(fusion, dev, fused, dropped)


# --------------------------------------------------------------------------------------------------
# Cross-test matrices


def cross_test_matrix(
    cells: Mapping[tuple[str, str], tuple[object, object] | Mapping[str, object]],
    *,
    metrics: Sequence[str] = ("macro_f1",),
    classes: Sequence[object] | None = None,
    per_class: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Evaluate every (train condition, test condition) cell; a tidy table train, test, metric, value, low, high,
    absent_classes.

    ``cells[(train, test)]`` is ``(y_true, y_pred)`` of the model trained under ``train`` on the test
    set of ``test``, or a mapping of :func:`voxpop.evaluation.scoring.evaluate` inputs (``y_true``, ``y_pred``,
    ``target``, ``probabilities``). Every cell uses the same seed and is scored over the classes
    present in its own test set (``absent_classes`` names the others). See :func:`pivot_cross_test`.

    >>> cells = {("MR", "MR"): ([0, 1, 1], [0, 1, 1]), ("MR", "PR"): ([0, 1, 1], [0, 0, 1])}
    >>> cross_test_matrix(cells, classes=[0, 1, 2], n_boot=0)
      train test    metric     value  low  high absent_classes
    0    MR   MR  macro_f1  1.000000  NaN   NaN              2
    1    MR   PR  macro_f1  0.666667  NaN   NaN              2
    """
    tables = []
    for (train, test), cell in cells.items():
        inputs = dict(cell) if isinstance(cell, Mapping) else dict(zip(("y_true", "y_pred"), cell, strict=True))
        table = evaluate(
            **inputs, classes=classes, metrics=metrics, per_class=per_class, n_boot=n_boot, seed=seed, alpha=alpha
        )
        tables.append(table.assign(train=train, test=test))
    if not tables:
        raise ConfigError("cross_test_matrix needs at least one (train, test) cell.")
    return pd.concat(tables, ignore_index=True)[["train", "test", "metric", "value", "low", "high", "absent_classes"]]


def pivot_cross_test(table: pd.DataFrame, metric: str, digits: int | None = None) -> pd.DataFrame:
    """Train x test matrix of one metric from :func:`cross_test_matrix` (conditions in order of appearance).

    With ``digits`` the cells are text with the interval, ``"value [low, high]"``
    (:func:`voxpop.core.formatting.format_ci`).

    >>> table = pd.DataFrame({"train": ["MR", "MR", "AR", "AR"], "test": ["MR", "AR", "MR", "AR"],
    ...                       "metric": "uar", "value": [0.6, 0.5, 0.55, 0.7], "low": 0.0, "high": 1.0})
    >>> pivot_cross_test(table, "uar")
    test     MR   AR
    train
    MR     0.60  0.5
    AR     0.55  0.7
    >>> pivot_cross_test(table, "uar", digits=2).loc["AR", "MR"]
    '0.55 [0.00, 1.00]'
    """
    rows = table[table["metric"] == metric]
    if rows.empty:
        raise ConfigError(f"metric {metric!r} is not in the table; it holds {sorted(table['metric'].unique())}.")
    if digits is not None:
        cells = rows[["value", "low", "high"]].itertuples(index=False)
        rows = rows.assign(value=[format_ci(*r, digits) for r in cells])
    matrix = rows.pivot(index="train", columns="test", values="value")
    return matrix.loc[list(dict.fromkeys(rows["train"])), list(dict.fromkeys(rows["test"]))]


# --------------------------------------------------------------------------------------------------
# Easy and difficult items


def easy_difficult_items(
    y_true: pd.Series | pd.DataFrame, predictions: Mapping[str, pd.Series | pd.DataFrame]
) -> pd.Series:
    """Per item ``"easy"`` (every model right), ``"difficult"`` (every model wrong) or ``"mixed"``.

    Single-label: right iff the predicted label equals the true one. Multi-label (DataFrames of 0/1):
    right iff the whole row matches.

    >>> truth = pd.Series(["A", "S", "N"], index=["i1", "i2", "i3"])
    >>> preds = {"m1": pd.Series(["A", "A", "N"], index=["i1", "i2", "i3"]),
    ...          "m2": pd.Series(["A", "N", "S"], index=["i1", "i2", "i3"])}
    >>> easy_difficult_items(truth, preds).tolist()
    ['easy', 'difficult', 'mixed']
    """
    if not predictions:
        raise ConfigError("give at least one model's predictions.")
    aligned = align_tables({"y_true": y_true, **predictions})
    truth = aligned.pop("y_true")
    right = []
    for pred in aligned.values():
        same = pred.to_numpy() == truth.to_numpy()
        right.append(same.all(axis=1) if same.ndim == 2 else same)
    n_right = np.sum(right, axis=0)
    group = np.where(n_right == len(right), "easy", np.where(n_right == 0, "difficult", "mixed"))
    return pd.Series(group, index=truth.index, name="group")


def _mannwhitney_p(easy: pd.Series, difficult: pd.Series) -> float:
    """Two-sided Mann-Whitney U p-value of easy vs difficult values (missing values left out, counted apart)."""
    easy, difficult = easy.dropna(), difficult.dropna()
    if easy.empty or difficult.empty:
        return np.nan
    return float(stats.mannwhitneyu(easy, difficult, alternative="two-sided").pvalue)


def _chi2_p(easy: pd.Series, difficult: pd.Series) -> float:
    """Chi-square test of independence of group (easy / difficult) and category."""
    table = pd.crosstab(
        pd.Series(["easy"] * len(easy) + ["difficult"] * len(difficult)),
        pd.concat([easy, difficult], ignore_index=True),
    )
    if table.shape[0] < 2 or table.shape[1] < 2:
        return np.nan
    return float(stats.chi2_contingency(table.to_numpy()).pvalue)


def compare_easy_difficult(
    groups: pd.Series,
    items: pd.DataFrame,
    agreement: pd.Series | None = None,
    *,
    speaker: str | None = "speaker",
    gender: str | None = "gender",
    duration: str | None = "duration",
) -> pd.DataFrame:
    """Compare easy with difficult items: rater agreement, duration, speaker frequency, gender balance.

    ``groups`` comes from :func:`easy_difficult_items`; ``items`` is the corpus items table (speaker
    frequency = number of items in ``items`` by the same speaker); ``agreement`` is any per-item
    agreement value, e.g. the top-class share ``counts.max(axis=1) / counts.sum(axis=1)`` of a
    LabelSet. Pass ``None`` for an attribute to leave it out. Rows: ``items``, ``agreement``,
    ``duration``, ``speaker frequency`` (means; a ``(missing)`` row counts missing values when
    there are any) and ``gender=<value>`` (shares). Columns: ``easy``, ``difficult``, ``all`` (every
    item in ``groups``), ``p_value`` (easy vs difficult: two-sided Mann-Whitney U for numbers,
    chi-square test of independence for gender) and ``test``.

    >>> groups = pd.Series(["easy", "easy", "difficult", "mixed"], index=["a", "b", "c", "d"])
    >>> items = pd.DataFrame({"speaker": ["s1", "s1", "s2", "s1"], "gender": ["F", "F", "M", "F"],
    ...                       "duration": [2.0, 3.0, 6.0, 4.0]}, index=["a", "b", "c", "d"])
    >>> compare_easy_difficult(groups, items)[["easy", "difficult", "all"]]
                       easy  difficult   all
    items               2.0        1.0  4.00
    duration            2.5        6.0  3.75
    speaker frequency   3.0        1.0  2.50
    gender=F            1.0        0.0  0.75
    gender=M            0.0        1.0  0.25
    """
    columns = {"speaker": speaker, "gender": gender, "duration": duration}
    absent = {k: v for k, v in columns.items() if v is not None and v not in items.columns}
    if absent:
        raise InputError(
            f"items table has no column(s) {list(absent.values())} (columns: {list(items.columns)}); "
            f"name the right column with {', '.join(f'{k}=...' for k in absent)} or pass None to skip it."
        )
    unknown = groups.index.difference(items.index)
    if len(unknown):
        raise InputError(f"{len(unknown)} grouped items are not in the items table: {list(unknown[:5])}.")
    attributes: dict[str, pd.Series] = {}
    if agreement is not None:
        missing = groups.index.difference(agreement.index)
        if len(missing):
            raise InputError(f"agreement has no value for {len(missing)} items: {list(missing[:5])}.")
        attributes["agreement"] = agreement.loc[groups.index].astype(float)
    if duration is not None:
        attributes["duration"] = items.loc[groups.index, duration].astype(float)
    if speaker is not None:
        frequency = items[speaker].map(items[speaker].value_counts())
        attributes["speaker frequency"] = frequency.loc[groups.index].astype(float)
    masks = {"easy": groups == "easy", "difficult": groups == "difficult", "all": pd.Series(True, index=groups.index)}
    rows = [{"row": "items", **{k: float(m.sum()) for k, m in masks.items()}, "p_value": np.nan, "test": ""}]
    for name, values in attributes.items():
        p = _mannwhitney_p(values[masks["easy"]], values[masks["difficult"]])
        rows.append(
            {"row": name, **{k: values[m].mean() for k, m in masks.items()}, "p_value": p, "test": "mannwhitneyu"}
        )
        if values.isna().any():
            rows.append(
                {
                    "row": f"{name} (missing)",
                    **{k: float(values[m].isna().sum()) for k, m in masks.items()},
                    "p_value": np.nan,
                    "test": "",
                }
            )
    if gender is not None:
        values = items.loc[groups.index, gender].astype(object).fillna("<missing>")
        p = _chi2_p(values[masks["easy"]], values[masks["difficult"]])
        for level in sorted(values.unique(), key=str):
            shares = {k: float((values[m] == level).mean()) if m.any() else np.nan for k, m in masks.items()}
            rows.append({"row": f"{gender}={level}", **shares, "p_value": p, "test": "chi2"})
    return pd.DataFrame(rows).set_index("row").rename_axis(None)


# ====================================================================== identical label sets / results
def identical_entries(entries: Mapping[str, pd.Series | pd.DataFrame], what: str, content: str, unit: str) -> list[str]:
    """One message per entry equal to an earlier one, e.g. "label set S* equals S: identical targets on
    all 384 items" — so a report says when two columns show the same thing instead of two findings.

    Two entries are equal when they hold the same index labels (in any order), the same columns and
    exactly the same values (NaN equal to NaN). Used for label sets (kept targets, items x classes)
    and for result cells (one value per variant, test set and metric).

    >>> s = pd.DataFrame({"A": [0.5, 1.0], "S": [0.5, 0.0]}, index=["i1", "i2"])
    >>> entries = {"S": s, "P": s.assign(A=[1.0, 1.0]), "S*": s.iloc[::-1]}
    >>> identical_entries(entries, "label set", "targets", "items")
    ['label set S* equals S: identical targets on all 2 items']
    """
    names = list(entries)
    messages = []
    for k, name in enumerate(names):
        same = next((earlier for earlier in names[:k] if _same(entries[name], entries[earlier])), None)
        if same is not None:
            messages.append(f"{what} {name} equals {same}: identical {content} on all {len(entries[name])} {unit}")
    return messages


def _same(a: pd.Series | pd.DataFrame, b: pd.Series | pd.DataFrame) -> bool:
    """Same index labels (any order), columns and values; NaN equals NaN."""
    if type(a) is not type(b) or len(a) != len(b) or not a.index.sort_values().equals(b.index.sort_values()):
        return False
    if isinstance(a, pd.DataFrame) and list(a.columns) != list(b.columns):
        return False
    ordered = a.sort_index()
    return ordered.equals(b.loc[ordered.index])
