"""Learned (rater-aware) aggregation: Dawid-Skene, GLAD and MACE via crowd-kit.

Counting rules treat every rater alike. These models estimate each rater's reliability and each
item's posterior class distribution jointly from the long (item, rater, label) table, the shape
crowd-kit reads as (task, worker, label):

- ``dawid-skene``: one confusion matrix per rater, EM (Dawid & Skene 1979);
  crowd-kit ``DawidSkene``. Rater skill = mean of the confusion diagonal P(says c | truth c).
- ``glad``: a rater expertise alpha and an item difficulty beta (Whitehill et al. 2009);
  crowd-kit ``GLAD``. Rater skill = alpha (higher: more reliable; negative: adversarial).
- ``mace``: each rater either knows the answer or spams from a personal distribution (Hovy et al.
  2013); crowd-kit ``MACE``. Rater skill = posterior probability of not spamming.

The models see every label raters used: an excluded label such as "other", or a class left out of
the chosen subset, is one more category, so a clip most raters called "other" is not forced into a
selected class. An item is kept only if its posterior winner is a selected class (as the majority
rule after METHODS.md's denominator decision). Training form: the posterior restricted to the
selected classes and renormalised (a soft target, like the all-inclusive rule); test forms: its
argmax (one-hot) or the classes above 1/C (multi-hot, C = number of selected classes).

crowd-kit is imported only when a learned rule runs. GLAD and MACE are slow (seconds per thousand
ratings on one core; MACE restarts 10 times). Every call is deterministic: ratings are sorted by
(item, rater) before fitting and MACE's random state is the ``seed``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError
from voxpop.labels.labelset import Accounting, LabelSet

METHODS = ("dawid-skene", "glad", "mace")
FORMS = ("train", "argmax", "multi-hot")


@dataclasses.dataclass(frozen=True)
class Posteriors:
    """A fitted learned aggregation.

    ``posteriors``: items x labels (every label raters used, sorted), rows sum to 1.
    ``raters``: one row per rater (index: rater id) with ``skill`` (see the module docs for its meaning
    per method) and ``n_ratings``.
    """

    method: str
    posteriors: pd.DataFrame
    raters: pd.DataFrame


def _model(method: str, seed: int, n_iter: int | None):
    """The crowd-kit model; ``n_iter`` None keeps crowd-kit's default (100 for DS / GLAD, 50 for MACE)."""
    from crowdkit.aggregation import GLAD, MACE, DawidSkene

    iterations = {} if n_iter is None else {"n_iter": n_iter}
    if method == "dawid-skene":
        return DawidSkene(**iterations)
    if method == "glad":
        return GLAD(**iterations)
    if method == "mace":
        return MACE(random_state=seed, **iterations)
    raise ConfigError(f"unknown learned aggregation {method!r}; choose one of {', '.join(METHODS)}")


def _skill(method: str, model, data: pd.DataFrame) -> pd.Series:
    """Per worker: DS mean confusion diagonal, GLAD alpha, MACE probability of not spamming."""
    if method == "dawid-skene":
        return _confusion_diagonal(model.errors_)
    if method == "glad":
        return model.alphas_.astype(float)
    workers = pd.Index(pd.unique(data["worker"]))
    return pd.Series(model.spamming_[:, 1], index=workers).astype(float)  # MACE orders workers by appearance


def _confusion_diagonal(errors: pd.DataFrame) -> pd.Series:
    """Per worker the mean of P(says c | truth c) over the labels c the worker used (a Dawid-Skene skill).

    Args:
        errors: crowd-kit's ``errors_``: rows (worker, observed label) for the labels each worker used,
            columns the true labels, values P(observed | true).

    Returns:
        The skill per worker (index: worker, sorted), one gather of the diagonal cells and one group mean.

    Example:
        >>> rows = pd.MultiIndex.from_tuples([("w1", "a"), ("w1", "b"), ("w2", "a")], names=["worker", "label"])
        >>> errors = pd.DataFrame([[0.9, 0.3], [0.1, 0.7], [1.0, 1.0]], index=rows, columns=["a", "b"])
        >>> _confusion_diagonal(errors).round(3).to_dict()  # w1: (0.9 + 0.7) / 2; w2 used only "a"
        {'w1': 0.8, 'w2': 1.0}
    """
    workers, observed = errors.index.get_level_values(0), errors.index.get_level_values(1)
    column = errors.columns.get_indexer(observed)
    on_diagonal = np.flatnonzero(column >= 0)
    cells = errors.to_numpy(dtype=float)[on_diagonal, column[on_diagonal]]
    return pd.Series(cells).groupby(np.asarray(workers[on_diagonal], dtype=object)).mean()


def fit_posteriors(ratings: pd.DataFrame, method: str, *, seed: int = 0, n_iter: int | None = None) -> Posteriors:
    """Fit ``method`` on a long table with columns ``item``, ``rater``, ``label`` (one slot, chosen conditions).

    Raises :class:`InputError` when a rating has no rater (count-only data such as CREMA-D's vote
    table cannot show who is reliable) and :class:`ConfigError` for an unknown method.
    """
    missing = [c for c in ("item", "rater", "label") if c not in ratings.columns]
    if missing:
        raise InputError(f"learned aggregation needs the ratings columns item, rater, label; missing {missing}")
    if ratings["rater"].isna().any():
        raise InputError(
            f"{method} needs rater ids, but {int(ratings['rater'].isna().sum())} ratings have none (vote counts "
            "only); use a counting rule (mr, pr, ar) or import per-rater responses"
        )
    if ratings.empty:
        raise InputError(f"{method}: no ratings to aggregate in the chosen slot and conditions")
    data = (
        ratings[["item", "rater", "label"]]
        .astype(str)
        .rename(columns={"item": "task", "rater": "worker"})
        .sort_values(["task", "worker", "label"], kind="stable")
        .reset_index(drop=True)
    )
    model = _model(method, seed, n_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # crowd-kit raises many pandas deprecation warnings
        model.fit(data)
    labels = sorted(data["label"].unique())
    posteriors = model.probas_.reindex(columns=labels, fill_value=0.0).astype(float)
    posteriors.index = posteriors.index.astype(str)
    posteriors.index.name = "item"
    posteriors.columns.name = None
    counts = data.groupby("worker").size()
    raters = pd.DataFrame({"skill": _skill(method, model, data).reindex(counts.index), "n_ratings": counts})
    raters.index.name = "rater"
    return Posteriors(method, posteriors, raters)


def learned_labels(
    ratings: pd.DataFrame,
    classes: Sequence[str],
    method: str,
    *,
    form: str = "train",
    seed: int = 0,
    n_iter: int | None = None,
    items: pd.Index | Sequence[str] | None = None,
) -> tuple[LabelSet, pd.DataFrame]:
    """A label set from a learned aggregation, and its per-rater table.

    ``ratings``: long table (item, rater, label) of one slot and the chosen conditions, labels after
    the class map; labels outside ``classes`` are modelled as further categories. ``form``: ``train``
    (posterior over the selected classes, renormalised), ``argmax`` (one-hot) or ``multi-hot`` (classes
    whose renormalised posterior exceeds 1/C; an exactly uniform row gets every class). ``items``: the
    item index of the result (items without ratings are dropped and counted); default: the rated items.
    Counts are the votes per selected class. Accounting: rating loss counts the ratings of dropped
    items, ratings on labels outside the class set and (test forms) ratings of classes the target does
    not hold.

    Raises :class:`ConfigError` for an unknown form or method, :class:`InputError` as
    :func:`fit_posteriors`.
    """
    if form not in FORMS:
        raise ConfigError(f"learned rule form {form!r}; choose one of {', '.join(FORMS)}")
    classes = [str(c) for c in classes]
    fitted = fit_posteriors(ratings, method, seed=seed, n_iter=n_iter)
    index = pd.Index(fitted.posteriors.index if items is None else [str(i) for i in items], name="item")
    post = fitted.posteriors.reindex(index)
    rated = post.notna().all(axis=1).to_numpy()
    all_labels = post.columns
    winner = np.asarray(all_labels, dtype=object)[np.nan_to_num(post.to_numpy(), nan=-1).argmax(axis=1)]
    kept = rated & np.isin(winner, classes)
    selected = post.reindex(columns=classes, fill_value=0.0).fillna(0.0).to_numpy()
    mass = selected.sum(axis=1, keepdims=True)
    distribution = np.divide(selected, mass, out=np.zeros_like(selected), where=mass > 0)
    if form == "train":
        targets = distribution
    elif form == "argmax":
        targets = np.eye(len(classes))[distribution.argmax(axis=1)]
    else:
        uniform = np.isclose(distribution, 1.0 / len(classes)).all(axis=1, keepdims=True)
        targets = ((distribution > 1.0 / len(classes)) | uniform).astype(float)
    targets[~kept] = 0.0

    labels = ratings["label"].astype(str).to_numpy()
    item_of = ratings["item"].astype(str).to_numpy()
    codes = pd.Index(classes).get_indexer(labels)
    counts = np.zeros((len(index), len(classes)))
    row = index.get_indexer(item_of)
    on_class = (codes >= 0) & (row >= 0)
    np.add.at(counts, (row[on_class], codes[on_class]), 1)
    supporting = int((counts * (targets > 0))[kept].sum())
    accounting = Accounting(
        items_total=len(index),
        items_kept=int(kept.sum()),
        ratings_total=len(ratings),
        ratings_supporting=supporting,
        ratings_excluded_class=int((codes < 0).sum()),
    )
    labelset = LabelSet(
        targets=pd.DataFrame(targets, index=index, columns=classes),
        kept=pd.Series(kept, index=index, name="kept"),
        counts=pd.DataFrame(counts, index=index, columns=classes),
        rule=method if form == "train" else f"{method}-{form}",
        accounting=accounting,
        options={"form": form, "seed": seed, "n_iter": n_iter},
        multilabel=form == "multi-hot",
        raters=fitted.raters,
    )
    return labelset, fitted.raters


# ====================================================================== registry implementations
def _rule(method: str, inputs, options) -> LabelSet:
    """A learned rule of the registry (:mod:`voxpop.labels.registry`) on a :class:`voxpop.labels.rules.RuleInput`.

    Pooled conditions are modelled as separate raters per condition (``rater@condition``): one person's
    reliability judging voice alone and judging video may differ, and crowd-kit needs one judgement per
    (item, rater).
    """
    ratings = inputs.ratings("primary")
    if inputs.pooled_conditions():
        ratings = ratings.assign(rater=ratings["rater"].astype(str) + "@" + ratings["condition"].astype(str))
    labels, _ = learned_labels(
        ratings, inputs.classes, method, form=options["form"], seed=options["seed"], items=inputs.items
    )
    return labels


def dawid_skene_rule(inputs, options) -> LabelSet:
    """Registry implementation of rule ``dawid-skene``."""
    return _rule("dawid-skene", inputs, options)


def glad_rule(inputs, options) -> LabelSet:
    """Registry implementation of rule ``glad``."""
    return _rule("glad", inputs, options)


def mace_rule(inputs, options) -> LabelSet:
    """Registry implementation of rule ``mace``."""
    return _rule("mace", inputs, options)
