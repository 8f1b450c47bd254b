"""The model side of the annotation budget (recipe ``analyses.budget.models``): train the study's head on labels
from k raters per item and score it on the full panel's labels, per k.

The features are the study's cached features (one feature pass), the folds the study's (the same train and test
items at every k); only the training labels change. For each k and each of ``fits`` fits, every item's
training label comes from one k-rater subset of its votes (:mod:`voxpop.agreement.budget_draws`: fit f takes
the item's f-th drawn or enumerated subset), labelled by the rule's code (:func:`voxpop.labels.rules.
labels_from_counts`); the out-of-fold predictions are scored on the full panel's labels of the test items
(:func:`voxpop.evaluation.evaluate_out_of_fold`, percentile bootstrap over test items). A last row per metric,
``raters`` NaN and ``panel`` "full", is the model trained on the full panel's labels: where the curve meets it,
more raters stop buying accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from voxpop.agreement.budget_draws import PanelVotes, draw_subsets, panel_votes
from voxpop.corpus import Corpus
from voxpop.evaluation import evaluate_out_of_fold
from voxpop.features import Features
from voxpop.labels import LabelSet
from voxpop.labels.rules import labels_from_counts
from voxpop.models import ModelSpec, cross_validate
from voxpop.models.protocols import Fold

DEFAULT_FITS = 3
"""Model fits per k (each on another draw of k raters per item)."""
MODEL_COLUMNS = ("condition", "rule", "panel", "raters", "fit", "metric", "value", "ci_low", "ci_high",
                 "train_items")  # fmt: skip


def _item_labels(rule: str, counts: np.ndarray, votes: PanelVotes, items: pd.Index, options: Mapping) -> LabelSet:
    """The rule's label set of every corpus item from per-rated-item vote counts (unrated items: no votes)."""
    frame = pd.DataFrame(counts, index=votes.items, columns=votes.labels).reindex(items, fill_value=0)
    c = votes.n_classes
    return labels_from_counts(rule, frame.iloc[:, :c], frame.iloc[:, c:], **options)


def _one_subset_per_item(counts_rows: np.ndarray, item: np.ndarray, n_items: int, fit: int) -> np.ndarray:
    """Items x labels: each item's ``fit``-th subset (cycling when it has fewer), zeros for items without one."""
    order = np.argsort(item, kind="stable")
    per_item = np.bincount(item, minlength=n_items)
    start = np.concatenate([[0], np.cumsum(per_item)[:-1]])
    has = per_item > 0
    picked = order[start[has] + fit % per_item[has]]
    out = np.zeros((n_items, counts_rows.shape[1]), dtype=np.int64)
    out[has] = counts_rows[picked]
    return out


def _scores(features, labels, folds, spec, test, metrics, n_boot, seed) -> list[dict]:
    cv = cross_validate(features, labels, folds, spec)
    table = evaluate_out_of_fold(cv.predictions, test, n_boot=n_boot, seed=seed)["pooled"]
    table = table[table["metric"].isin(list(metrics))]
    kept = int(labels.kept.sum())
    return [{"metric": r["metric"], "value": r["value"], "ci_low": r["low"], "ci_high": r["high"],
             "train_items": kept} for r in table.to_dict("records")]  # fmt: skip


def model_budget(
    corpus: Corpus,
    features: Features,
    folds: Sequence[Fold],
    spec: ModelSpec,
    rule: str = "mr",
    raters: Sequence[int] | None = None,
    *,
    condition: str | None = None,
    fits: int = DEFAULT_FITS,
    metrics: Sequence[str] = ("macro_f1", "uar"),
    n_boot: int = 1000,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    class_map: Mapping[str, str] | None = None,
    options: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """Scores of the head trained on k-rater labels, per k and fit, on the full panel's test labels.

    Args:
        corpus: the corpus (primary votes).
        features: its cached features (:func:`voxpop.features.extract`).
        folds: the protocol's folds (:func:`voxpop.models.protocols.make_folds`), the same at every k.
        spec: the head, loss and training settings.
        rule: a rule of :func:`voxpop.labels.rules.counting_rules`.
        raters: the panel sizes k (default 1 .. the largest panel).
        condition: the condition whose votes label the items (None: a corpus with one condition).
        fits: model fits per k, each on another k-rater subset per item (default :data:`DEFAULT_FITS`).
        metrics: the metrics kept (names of :func:`voxpop.evaluation.evaluate_out_of_fold`'s table).
        n_boot: bootstrap resamples of the test items for the 95 % intervals.
        seed: seed of the draws and the bootstrap.
        classes: the class set (as :func:`voxpop.labels.make_labels`).
        class_map: label renames / drops.
        options: the rule's options.

    Returns:
        One row per (k, fit, metric) with :data:`MODEL_COLUMNS` (``panel`` "k"), then the full panel's rows
        (``panel`` "full", ``raters`` NaN, ``fit`` 0); ``train_items``: the items the k-rater labels keep.

    Raises:
        ConfigError: from :func:`voxpop.labels.rules.labels_from_counts` (a rule that needs more than counts) and
            :func:`voxpop.models.cross_validate` (a fold without two classes to train on, ...).
    """
    options = dict(options or {})
    votes = panel_votes(corpus, condition, classes, class_map)
    items = corpus.items.index
    full = votes.counts()
    test = _item_labels(rule, full, votes, items, options)
    ks = [k for k in (raters or range(1, int(votes.panel_sizes.max()) + 1)) if k <= votes.panel_sizes.max()]
    base = {"condition": condition or "", "rule": rule}
    rows = []
    for k in ks:
        subsets = draw_subsets(votes, k, max(fits, 1), seed)
        for fit in range(fits):
            counts = _one_subset_per_item(subsets.counts, subsets.item, len(votes.items), fit)
            labels = _item_labels(rule, counts, votes, items, options)
            for row in _scores(features, labels, folds, spec, test, metrics, n_boot, seed):
                rows.append({**base, "panel": "k", "raters": k, "fit": fit, **row})
    for row in _scores(features, test, folds, spec, test, metrics, n_boot, seed):
        rows.append({**base, "panel": "full", "raters": np.nan, "fit": 0, **row})
    return pd.DataFrame(rows, columns=list(MODEL_COLUMNS))
