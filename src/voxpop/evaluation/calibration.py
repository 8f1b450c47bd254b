"""Calibration against the raters (issue #27 item 3): is a model's probability what the raters' votes say?

For N items with predicted class probabilities p_ic (softmax outputs, rows summing to 1):

- **ECE** (expected calibration error, Guo et al. 2017) against the consensus class y_i: the top probability
  conf_i = max_c p_ic and the predicted class argmax_c p_ic fall into M equal-width bins B_m = ((m-1)/M, m/M]
  (conf = 0 joins the first bin), M = 15 by default;
  ECE = sum_m |B_m| / N * |acc(B_m) - conf(B_m)|, acc the share of items in the bin whose predicted class is y_i,
  conf their mean top probability.
- **Brier score** (Brier 1950) against the vote distribution v_ic (the all-inclusive rule's targets):
  1/N sum_i sum_c (p_ic - v_ic)^2, in [0, 2].
- **NLL** against the vote distribution: the cross-entropy 1/N sum_i -sum_c v_ic log max(p_ic, 1e-12) (with one-hot
  v it is the usual negative log-likelihood of the consensus class).

Each comes with a percentile bootstrap interval over the items (:func:`calibration_scores`; the resamples are
stratified by consensus class, :func:`voxpop.evaluation.resampling.resample_indices`).

**Temperature scaling** (Guo et al. 2017) divides the log-probabilities by one T > 0 per fold model,
p'_ic = softmax_c(log p_ic / T), T minimising the cross-entropy of p' against the training targets of that fold
model's *development* items only (:func:`fit_temperature`, :func:`temperature_per_fold`); the test items of the fold
are then scaled with it. T = 1 leaves the probabilities as they are; T > 1 softens over-confident outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError
from voxpop.evaluation.resampling import percentile_interval, resample_indices

DEFAULT_BINS = 15
"""Equal-width bins of the top probability for the ECE and the reliability diagram."""

EPS = 1e-12
"""Floor of a probability inside a logarithm (NLL, temperature scaling)."""

CALIBRATION_METRICS = ("ece", "brier", "nll")
"""The calibration scores, all lower-is-better."""

TEMPERATURE_BOUNDS = (0.05, 20.0)
"""The range searched for the temperature."""


def _probabilities(probs: object, name: str = "probabilities") -> np.ndarray:
    array = np.asarray(probs, dtype=float)
    if array.ndim != 2 or array.shape[1] < 2:
        raise InputError(f"{name}: expected items x classes (at least 2 classes), got shape {array.shape}")
    if not np.isfinite(array).all() or (array < 0).any():
        raise InputError(f"{name}: probabilities must be finite and non-negative (softmax outputs)")
    return array


def bin_of(confidence: np.ndarray, bins: int = DEFAULT_BINS) -> np.ndarray:
    """The bin (0 .. bins - 1) of each top probability: bin m holds ((m)/bins, (m+1)/bins], 0 in bin 0.

    >>> bin_of(np.array([0.0, 0.1, 0.5, 0.51, 1.0]), bins=2).tolist()
    [0, 0, 0, 1, 1]
    """
    return np.clip(np.ceil(np.asarray(confidence, dtype=float) * bins).astype(int) - 1, 0, bins - 1)


def reliability_table(probs: object, consensus: object, bins: int = DEFAULT_BINS) -> pd.DataFrame:
    """The reliability diagram's numbers: per bin of the top probability its items, accuracy and confidence.

    Args:
        probs: items x classes, predicted probabilities.
        consensus: per item the consensus class as a column position (int codes 0 .. C-1).
        bins: equal-width bins on [0, 1].

    Returns:
        One row per bin: ``bin``, ``low``, ``high``, ``n_items``, ``accuracy`` and ``confidence`` (NaN for an
        empty bin).
    """
    p = _probabilities(probs)
    y = np.asarray(consensus, dtype=int)
    conf, correct = p.max(axis=1), (p.argmax(axis=1) == y).astype(float)
    which = bin_of(conf, bins)
    n = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore"):
        accuracy = np.bincount(which, correct, minlength=bins) / n
        confidence = np.bincount(which, conf, minlength=bins) / n
    edges = np.arange(bins + 1) / bins
    return pd.DataFrame({"bin": np.arange(bins), "low": edges[:-1], "high": edges[1:], "n_items": n,
                         "accuracy": accuracy, "confidence": confidence})  # fmt: skip


def expected_calibration_error(probs: object, consensus: object, bins: int = DEFAULT_BINS) -> float:
    """ECE of the top probability against the consensus class (see the module docstring).

    Args:
        probs: items x classes, predicted probabilities.
        consensus: per item the consensus class as a column position (int codes 0 .. C-1).
        bins: equal-width bins of the top probability on [0, 1].

    Returns:
        sum_m |B_m| / N * |acc(B_m) - conf(B_m)|, in [0, 1].

    Raises:
        InputError: probabilities that are not items x (at least 2) non-negative finite numbers.

    Example:
        >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
        >>> round(expected_calibration_error(p, [0, 1, 0, 1], bins=2), 4)  # bin 2: acc 3/4, conf 0.75
        0.0
    """
    p = _probabilities(probs)
    return _ece(p.max(axis=1), p.argmax(axis=1) == np.asarray(consensus, dtype=int), bins)


def _ece(confidence: np.ndarray, correct: np.ndarray, bins: int) -> float:
    which = bin_of(confidence, bins)
    gap = np.bincount(which, correct.astype(float), minlength=bins) - np.bincount(which, confidence, minlength=bins)
    return float(np.abs(gap).sum() / len(confidence))  # sum_m |B_m|/N |acc_m - conf_m| = sum_m |sum(correct - conf)|/N


def brier_items(probs: object, distribution: object) -> np.ndarray:
    """Per item sum_c (p_ic - v_ic)^2 against the vote distribution v (items x classes)."""
    p, v = _probabilities(probs), _probabilities(distribution, "vote distribution")
    return ((p - v) ** 2).sum(axis=1)


def nll_items(probs: object, distribution: object) -> np.ndarray:
    """Per item -sum_c v_ic log max(p_ic, 1e-12) against the vote distribution v (items x classes)."""
    p, v = _probabilities(probs), _probabilities(distribution, "vote distribution")
    return -(v * np.log(np.maximum(p, EPS))).sum(axis=1)


def brier_score(probs: object, distribution: object) -> float:
    """Mean Brier score against the vote distribution: 1/N sum_i sum_c (p_ic - v_ic)^2.

    Args:
        probs: items x classes, predicted probabilities.
        distribution: items x the same classes, the raters' vote distribution (rows summing to 1).

    Returns:
        The mean over items, in [0, 2].

    Raises:
        InputError: a table that is not items x (at least 2) non-negative finite numbers.

    >>> brier_score([[0.5, 0.5]], [[1.0, 0.0]])
    0.5
    """
    return float(brier_items(probs, distribution).mean())


def negative_log_likelihood(probs: object, distribution: object) -> float:
    """Mean cross-entropy against the vote distribution (NLL of the consensus for one-hot targets).

    Args:
        probs: items x classes, predicted probabilities (floored at 1e-12 inside the logarithm).
        distribution: items x the same classes, the raters' vote distribution (rows summing to 1).

    Returns:
        1/N sum_i -sum_c v_ic log max(p_ic, 1e-12), in nats.

    Raises:
        InputError: a table that is not items x (at least 2) non-negative finite numbers.

    >>> round(negative_log_likelihood([[0.5, 0.5]], [[1.0, 0.0]]), 4)  # log 2
    0.6931
    """
    return float(nll_items(probs, distribution).mean())


def calibration_scores(
    probs: pd.DataFrame,
    consensus: pd.Series,
    distribution: pd.DataFrame,
    *,
    bins: int = DEFAULT_BINS,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """ECE, Brier and NLL with percentile bootstrap intervals, on the items all three inputs share.

    Args:
        probs: items x classes, predicted probabilities (indexed by item id).
        consensus: item id -> the consensus class (a class name of ``probs``' columns).
        distribution: items x the same classes, the raters' vote distribution (rows summing to 1).
        bins: ECE bins.
        n_boot: bootstrap resamples (stratified by consensus class).
        seed: the resamples' seed.

    Returns:
        Rows ``metric`` (ece, brier, nll), ``value``, ``low``, ``high``, ``n_items``.

    Raises:
        InputError: no shared item, or a consensus class that is not a column of ``probs``.
    """
    classes = list(probs.columns)
    common = probs.index[probs.index.isin(consensus.index) & probs.index.isin(distribution.index)]
    if not len(common):
        raise InputError("calibration: the predictions, the consensus and the vote distribution share no item")
    unknown = sorted(set(consensus.loc[common].astype(str)) - set(map(str, classes)))
    if unknown:
        raise InputError(f"calibration: consensus classes {unknown} are not predicted classes {classes}")
    p = probs.loc[common, classes].to_numpy(dtype=float)
    v = distribution.loc[common, classes].to_numpy(dtype=float)
    y = pd.Categorical(consensus.loc[common].astype(str), categories=list(map(str, classes))).codes
    rows = resample_indices(y, n_boot, seed)
    brier, nll = brier_items(p, v), nll_items(p, v)
    conf, correct = p.max(axis=1), p.argmax(axis=1) == y
    values = {
        "ece": (_ece(conf, correct, bins), [_ece(conf[r], correct[r], bins) for r in rows]),
        "brier": (float(brier.mean()), brier[rows].mean(axis=1)),
        "nll": (float(nll.mean()), nll[rows].mean(axis=1)),
    }
    return pd.DataFrame(
        [{"metric": m, "value": v, **dict(zip(("low", "high"), percentile_interval(np.asarray(d)), strict=True)),
          "n_items": len(common)} for m, (v, d) in values.items()]
    )  # fmt: skip


def apply_temperature(probs: object, temperature: float) -> np.ndarray:
    """softmax(log p / T) per row.

    >>> apply_temperature([[0.8, 0.2]], 1.0).round(3).tolist(), apply_temperature([[0.8, 0.2]], 1e6).round(3).tolist()
    ([[0.8, 0.2]], [[0.5, 0.5]])
    """
    if not temperature > 0:
        raise ConfigError(f"temperature must be positive, got {temperature}")
    logits = np.log(np.maximum(_probabilities(probs), EPS)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_temperature(probs: object, targets: object) -> float:
    """The T in :data:`TEMPERATURE_BOUNDS` minimising the cross-entropy of softmax(log p / T) against ``targets``.

    Args:
        probs: items x classes, predicted probabilities of development items.
        targets: items x classes, their training targets (one-hot or distributions).

    Returns:
        T (bounded scalar search on log T).

    Raises:
        InputError: no item, or shapes that differ.

    Example:
        >>> p = np.array([[0.99, 0.01], [0.99, 0.01], [0.01, 0.99], [0.99, 0.01]])
        >>> y = np.array([[1, 0], [0, 1], [0, 1], [1, 0]])
        >>> fit_temperature(p, y) > 1  # one confident mistake in four: soften
        True
    """
    from scipy.optimize import minimize_scalar  # here, not at import: 'voxpop --help' must not load scipy

    p, y = _probabilities(probs), _probabilities(targets, "targets")
    if p.shape != y.shape or not len(p):
        raise InputError(f"temperature scaling needs development items: predictions {p.shape}, targets {y.shape}")
    bounds = np.log(TEMPERATURE_BOUNDS)
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(apply_temperature(p, float(np.exp(log_t))), y),
        bounds=tuple(bounds), method="bounded", options={"xatol": 1e-5},
    )  # fmt: skip
    return float(np.exp(result.x))


def temperature_per_fold(
    predictions: pd.DataFrame, dev_predictions: pd.DataFrame | None, targets: pd.DataFrame, classes: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Temperature scaling per fold model: T fitted on that model's development predictions, applied to its test ones.

    Args:
        predictions: pooled out-of-fold test predictions (class columns + ``fold``).
        dev_predictions: each fold model's predictions of its own development items (class columns + ``fold``).
        targets: the training targets (items x classes) of at least every development item; test items'
            targets are never read.
        classes: the class columns.

    Returns:
        (the scaled test predictions, class columns + ``fold``; one row per fold: ``fold``, ``temperature``,
        ``n_dev``).

    Raises:
        ConfigError: no development predictions (the protocol needs ``dev: true``), or a fold without any.
    """
    if dev_predictions is None or dev_predictions.empty:
        raise ConfigError("temperature scaling needs development predictions: give the protocol dev: true")
    scaled, rows = [], []
    for fold, test in predictions.groupby("fold", sort=False):
        dev = dev_predictions[dev_predictions["fold"].eq(fold)]
        dev = dev[dev.index.isin(targets.index)]
        if dev.empty:
            raise ConfigError(f"temperature scaling: fold {fold!r} has no development item with a training target")
        t = fit_temperature(dev[list(classes)], targets.loc[dev.index, list(classes)])
        probs = apply_temperature(test[list(classes)], t)
        scaled.append(pd.DataFrame(probs, index=test.index, columns=list(classes)).assign(fold=fold))
        rows.append({"fold": fold, "temperature": t, "n_dev": len(dev)})
    return pd.concat(scaled).loc[predictions.index], pd.DataFrame(rows)
