"""Chance levels: what each metric scores for a predictor that guesses, on the same test set.

The chance predictor draws each item's class at random with the test set's own class frequencies
p_c (single-label), or marks each class positive with probability equal to its prevalence
(multi-label), independently of the item. Its expected scores (METHODS.md section 6):

- single-label: accuracy = weighted F1 = sum_c p_c^2; UAR = macro-F1 = 1/C over the C classes present
  in the test truth (every class's recall, precision and F1 equal p_c, and their unweighted mean over
  the present classes is 1/C); per-class F1 = p_c; MCC = 0;
- multi-label: per-class F1 = the class's prevalence pi_c; macro-F1 = mean of pi_c over classes with a
  positive item; micro-F1 = weighted F1 = sum pi_c^2 / sum pi_c; MCC = 0;
- distributions: KLD / JSD of the training set's mean distribution used as every item's prediction
  (the prior baseline), averaged over test items;
- CCC = 0 (a predictor independent of the truth has zero covariance with it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from voxpop.core.errors import InputError
from voxpop.labels.decisions import decide

if TYPE_CHECKING:
    from voxpop.labels import LabelSet

LOWER_IS_BETTER = ("kld", "jsd", "mae", "rmse")


def chance_single_label(truth: Sequence[object] | pd.Series, classes: Sequence[object]) -> dict[str, float]:
    """Expected scores of the frequency-matched random predictor on single-label ``truth`` (N labels).

    >>> levels = chance_single_label(["a", "a", "a", "b"], ["a", "b", "c"])  # p = (.75, .25); c absent
    >>> {k: v for k, v in levels.items() if not k.startswith(("weighted_f1[", "mcc["))}
    {'accuracy': 0.625, 'uar': 0.5, 'macro_f1': 0.5, 'micro_f1': 0.625, 'weighted_f1': 0.625, 'mcc': 0.0, \
'f1[a]': 0.75, 'f1[b]': 0.25, 'f1[c]': 0.0}
    >>> levels["weighted_f1[a]"], levels["mcc[b]"]  # .75^2 + .25^2
    (0.625, 0.0)
    """
    values = pd.Series(list(truth), dtype=object)
    if values.empty:
        raise InputError("chance levels need at least one test item")
    unknown = sorted(set(map(str, values)) - set(map(str, classes)))
    if unknown:
        raise InputError(f"test labels {unknown[:5]} are not among the classes {list(classes)}")
    share = values.map(str).value_counts(normalize=True).reindex([str(c) for c in classes], fill_value=0.0)
    p = share.to_numpy(dtype=float)
    present = int((p > 0).sum())
    squares = float((p**2).sum())
    levels = {
        "accuracy": squares,
        "uar": 1.0 / present,
        "macro_f1": 1.0 / present,
        "micro_f1": squares,
        "weighted_f1": squares,
        "mcc": 0.0,
    }
    levels.update(_per_class_chance(classes, p))
    return levels


def chance_multi_label(truth: np.ndarray | pd.DataFrame, classes: Sequence[object]) -> dict[str, float]:
    """Expected scores of the prevalence-matched random predictor on multi-hot ``truth`` (N x C).

    >>> chance_multi_label(np.array([[1, 0], [1, 1], [0, 0], [1, 0]]), ["a", "b"])  # prevalence .75, .25
    {'macro_f1': 0.5, 'micro_f1': 0.625, 'weighted_f1': 0.625, 'mcc': 0.0, 'f1[a]': 0.75, 'f1[b]': 0.25, \
'weighted_f1[a]': 0.625, 'weighted_f1[b]': 0.625, 'mcc[a]': 0.0, 'mcc[b]': 0.0}
    """
    y = np.asarray(truth, dtype=float)
    if y.ndim != 2 or y.shape[1] != len(classes) or not len(y):
        raise InputError(f"multi-label truth must be items x {len(classes)} classes with items, got {y.shape}")
    prevalence = (y > 0).mean(axis=0)
    positive = prevalence > 0
    squares = float((prevalence**2).sum())
    levels = {
        "macro_f1": float(prevalence[positive].mean()) if positive.any() else 0.0,
        "micro_f1": squares / float(prevalence.sum()) if positive.any() else 0.0,
        "weighted_f1": squares / float(prevalence.sum()) if positive.any() else 0.0,
        "mcc": 0.0,
    }
    levels.update(_per_class_chance(classes, prevalence))
    return levels


def _per_class_chance(classes: Sequence[object], p: np.ndarray) -> dict[str, float]:
    """Chance of each class's per-class metrics when the predictor says "c" with the class's own frequency p:
    F1 = p, weighted F1 of the binary task = p * p + (1 - p) * (1 - p) (each side's F1 is its share), MCC = 0."""
    levels = {f"f1[{c}]": float(v) for c, v in zip(classes, p, strict=True)}
    levels.update({f"weighted_f1[{c}]": float(v * v + (1 - v) ** 2) for c, v in zip(classes, p, strict=True)})
    levels.update({f"mcc[{c}]": 0.0 for c in classes})
    return levels


def prior_baseline(
    test_targets: np.ndarray | pd.DataFrame, train_targets: np.ndarray | pd.DataFrame
) -> dict[str, float]:
    """KLD and JSD (nats, mean over test items) of predicting the training set's mean distribution.

    ``test_targets`` (N x C) and ``train_targets`` (M x C) are distributions (rows sum to 1).

    >>> prior_baseline(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5], [0.5, 0.5]]))  # KLD = log 2
    {'kld': 0.693..., 'jsd': 0.215...}
    """
    from voxpop.evaluation.divergences import jsd, kld

    test = np.asarray(test_targets, dtype=float)
    prior = np.asarray(train_targets, dtype=float).mean(axis=0)
    if test.ndim != 2 or prior.shape != (test.shape[1],):
        raise InputError(f"test targets {test.shape} and training targets need the same classes")
    predicted = np.broadcast_to(prior, test.shape)
    return {"kld": float(kld(test, predicted)), "jsd": float(jsd(test, predicted))}


def direction(metric: str) -> str:
    """``"higher"`` or ``"lower"``: which way the metric is better (KLD, JSD, MAE, RMSE: lower), for the metric
    itself or one of its classes / dimensions (``rmse[arousal]`` is an RMSE).

    >>> direction("uar"), direction("kld"), direction("f1[anger]"), direction("rmse[arousal]")
    ('higher', 'lower', 'higher', 'lower')
    """
    return "lower" if metric.split("[", 1)[0] in LOWER_IS_BETTER else "higher"


def chance_levels(items: pd.Index, test_labels: LabelSet, train_labels: LabelSet | None = None) -> dict[str, float]:
    """Chance level of every metric on the scored ``items`` (kept by ``test_labels``), by metric name.

    Single-label test sets: :func:`chance_single_label` of the argmax classes of the targets;
    multi-label ones: :func:`chance_multi_label` of the positive targets; ``ccc`` = 0. METHODS.md section 6:
    the chance level of a metric is its value for a predictor that draws from the test class frequencies.

    Args:
        items: the scored items (kept by ``test_labels``).
        test_labels: the test label set.
        train_labels: the training label set: single-label test sets then also get ``kld`` / ``jsd`` of
            :func:`prior_baseline` against the mean of its kept targets (each row scaled to sum 1; all-zero
            rows left out).

    Returns:
        Metric name (``accuracy``, ``uar``, ..., ``f1[<class>]``, ``ccc``, ``kld``, ``jsd``) -> its chance
        level, in the metric's units.

    Raises:
        InputError: ``items`` is empty.

    Example:
        >>> from voxpop.labels.labelset import Accounting, LabelSet
        >>> t = pd.DataFrame([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]], index=["i1", "i2", "i3"], columns=["A", "S"])
        >>> test = LabelSet(t, pd.Series(True, index=t.index), t * 2, "ar", Accounting(3, 3, 6, 6))
        >>> chance_levels(pd.Index(["i1", "i3"]), test)  # truth A, S: p = (.5, .5)
        {'accuracy': 0.5, 'uar': 0.5, 'macro_f1': 0.5, 'micro_f1': 0.5, 'weighted_f1': 0.5, 'mcc': 0.0, \
'f1[A]': 0.5, 'f1[S]': 0.5, 'weighted_f1[A]': 0.5, 'weighted_f1[S]': 0.5, 'mcc[A]': 0.0, 'mcc[S]': 0.0, 'ccc': 0.0}
    """
    classes = list(test_labels.classes)
    targets = test_labels.targets.loc[items, classes]
    if test_labels.multilabel:
        levels = chance_multi_label((targets > 0).to_numpy(), classes)
    else:
        truth = decide(targets).to_numpy()
        levels = chance_single_label(truth, classes)
    levels["ccc"] = 0.0
    if train_labels is not None and not test_labels.multilabel:
        train = train_labels.targets[train_labels.kept.to_numpy(dtype=bool)].reindex(columns=classes, fill_value=0.0)
        sums = train.sum(axis=1)
        rows = train[sums > 0].div(sums[sums > 0], axis=0)
        if len(rows):
            levels |= prior_baseline(targets.to_numpy(dtype=float), rows.to_numpy(dtype=float))
    return levels
