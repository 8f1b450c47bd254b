"""Part ``kernels`` of benchmarks/scale.py: the label rules, Dawid-Skene and the bootstrap against their floors.

- MR / PR / AR / P* (``make_labels``) on 1 M primary ratings (150,000 items, 8 classes) of a corpus whose item,
  rater, slot, label and condition columns are categorical (as the corpus stores them: item categories in the
  items table's order, label categories the classes) against the rule written in plain numpy on the same
  integer codes: one ``np.bincount`` of item x label codes, then the rule's decision and its target matrix.
  Target: <= 3x.
- Dawid-Skene (``make_labels(corpus, "dawid-skene")``) on 100,000 ratings (20,000 items x 5 of 4,000 raters,
  6 classes) against crowd-kit's ``DawidSkene().fit_predict_proba`` called directly on the same long table.
  Target: <= 1.1x.
- The bootstrap interval of macro-F1 (``bootstrap_ci``, 1,000 resamples of 50,000 items, 6 classes) against
  multinomial draws over the confusion cells of each true class in plain numpy. No target in the issue (it
  was 80x); printed only.

Costs are process CPU seconds, the median of interleaved repetitions (voxpop, anchor, voxpop, ...).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from scale import Row

from voxpop.corpus.corpus import Corpus
from voxpop.evaluation.resampling import bootstrap_ci
from voxpop.labels.rules import make_labels

CLASSES = ["neutral", "happy", "sad", "angry", "surprise", "fear", "disgust", "contempt"]


def interleaved(voxpop: Callable[[], object], anchor: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median CPU seconds of each function, run alternately ``repeats`` times after one warm-up each."""
    voxpop(), anchor()
    costs: dict[str, list[float]] = {"voxpop": [], "anchor": []}
    for _ in range(repeats):
        for name, function in (("voxpop", voxpop), ("anchor", anchor)):
            start = time.process_time()
            function()
            costs[name].append(time.process_time() - start)
    return float(np.median(costs["voxpop"])), float(np.median(costs["anchor"]))


def coded_corpus(n_items: int, n_ratings: int, classes: list[str], seed: int, n_raters: int = 0) -> Corpus:
    """A corpus of ``n_ratings`` primary ratings, distinct raters per item, agreement on a per-item class, with
    the categorical columns the corpus stores (``n_raters``: raters drawn from a pool of that size)."""
    rng = np.random.default_rng(seed)
    per_item = rng.multinomial(n_ratings - n_items, np.full(n_items, 1 / n_items)) + 1
    item = np.repeat(np.arange(n_items), per_item)
    offset = np.arange(n_ratings) - np.repeat(np.cumsum(per_item) - per_item, per_item)
    pool = n_raters or int(per_item.max())
    rater = (np.repeat(rng.integers(0, pool, n_items), per_item) + offset) % pool if n_raters else offset
    truth = np.repeat(rng.integers(0, len(classes), n_items), per_item)
    label = np.where(rng.random(n_ratings) < 0.55, truth, rng.integers(0, len(classes), n_ratings))
    items = pd.Index([f"clip{i:06d}" for i in range(n_items)])
    ratings = pd.DataFrame(
        {
            "item": items.to_numpy()[item],
            "rater": np.array([f"r{r:04d}" for r in range(pool)], dtype=object)[rater],
            "label": np.array(classes, dtype=object)[label],
        }
    )
    corpus = Corpus("bench", pd.DataFrame(index=items), ratings, classes)
    r = corpus.ratings
    r["item"] = r["item"].astype(pd.CategoricalDtype(corpus.items.index))
    r["label"] = r["label"].astype(pd.CategoricalDtype(corpus.classes))
    for column in ("rater", "slot", "condition"):
        r[column] = r[column].astype("category")
    return corpus


def _one_hot(winner: np.ndarray, kept: np.ndarray, n_classes: int) -> np.ndarray:
    targets = np.zeros((len(winner), n_classes))
    rows = np.flatnonzero(kept)
    targets[rows, winner[rows]] = 1.0
    return targets


def plain_rule(corpus: Corpus, rule: str) -> np.ndarray:
    """The rule in plain numpy on the corpus's integer codes: bincount, decision, targets (items x classes)."""
    ratings, n_classes = corpus.ratings, len(corpus.classes)
    item = ratings["item"].cat.codes.to_numpy().astype(np.int64)
    label = ratings["label"].cat.codes.to_numpy()
    counts = np.bincount(item * n_classes + label, minlength=len(corpus.items) * n_classes).reshape(-1, n_classes)
    total, top = counts.sum(axis=1), counts.max(axis=1)
    if rule == "mr":
        return _one_hot(counts.argmax(axis=1), 2 * top > total, n_classes)
    if rule == "pr":
        unique = (counts == top[:, None]).sum(axis=1) == 1
        return _one_hot(counts.argmax(axis=1), unique & (top > 0), n_classes)
    shares = counts / np.maximum(total, 1)[:, None]
    if rule == "p*":
        shares[top < 0.6 * total] = 0.0
    return shares


def rule_rows(quick: bool) -> list[Row]:
    n_ratings = 100_000 if quick else 1_000_000
    corpus = coded_corpus(n_ratings * 15 // 100, n_ratings, CLASSES, seed=0)
    rows = []
    for rule, options in (("mr", {}), ("pr", {}), ("ar", {}), ("p*", {"min_agreement": 0.6})):
        name = "primary" if rule == "p*" else rule
        ours = make_labels(corpus, name, **options)  # the same decisions as the anchor's
        plain = plain_rule(corpus, rule)
        if not np.allclose(ours.targets.to_numpy(), plain):
            raise AssertionError(f"{rule}: voxpop's targets differ from the plain rule's")
        voxpop, anchor = interleaved(
            lambda name=name, options=options: make_labels(corpus, name, **options),
            lambda rule=rule: plain_rule(corpus, rule),
            repeats=3 if quick else 9,
        )
        what = f"{rule.upper()} on {n_ratings:,} ratings (integer codes)"
        rows.append(Row(what, voxpop, anchor, "CPU s", 3.0, "np.bincount + the rule"))
    return rows


def dawid_skene_row(quick: bool) -> Row:
    from crowdkit.aggregation import DawidSkene

    n_ratings = 10_000 if quick else 100_000
    corpus = coded_corpus(n_ratings // 5, n_ratings, CLASSES[:6], seed=1, n_raters=4_000)
    table = corpus.ratings[["item", "rater", "label"]].astype(str)
    data = table.rename(columns={"item": "task", "rater": "worker"})

    def crowd_kit() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # crowd-kit's pandas deprecation warnings
            return DawidSkene().fit_predict_proba(data)

    ours = make_labels(corpus, "dawid-skene").targets
    theirs = crowd_kit().reindex(index=ours.index, columns=ours.columns)
    kept = ours.sum(axis=1).to_numpy() > 0
    if not np.allclose(ours.to_numpy()[kept], theirs.to_numpy()[kept] / theirs.to_numpy()[kept].sum(1, keepdims=True)):
        raise AssertionError("Dawid-Skene: voxpop's posteriors differ from crowd-kit's")
    voxpop, anchor = interleaved(lambda: make_labels(corpus, "dawid-skene"), crowd_kit, repeats=1 if quick else 3)
    return Row(f"Dawid-Skene on {n_ratings:,} ratings", voxpop, anchor, "CPU s", 1.1, "crowd-kit DawidSkene")


def plain_bootstrap(truth: np.ndarray, pred: np.ndarray, n_classes: int, n_boot: int) -> np.ndarray:
    """Macro-F1's 95 % percentile interval from multinomial draws over each true class's confusion cells."""
    rng = np.random.default_rng(0)
    confusion = np.bincount(truth * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, -1)
    draws = np.stack([rng.multinomial(row.sum(), row / row.sum(), size=n_boot) for row in confusion], axis=1)
    tp = draws[:, np.arange(n_classes), np.arange(n_classes)]
    true, predicted = draws.sum(axis=2), draws.sum(axis=1)
    f1 = (2 * tp / np.maximum(true + predicted, 1)).mean(axis=1)
    return np.quantile(f1, [0.025, 0.975])


def bootstrap_row(quick: bool) -> Row:
    n_items, n_boot, n_classes = (5_000 if quick else 50_000), 1_000, 6
    rng = np.random.default_rng(2)
    truth = rng.choice(n_classes, n_items)
    pred = np.where(rng.random(n_items) < 0.6, truth, rng.integers(0, n_classes, n_items))
    classes = list(range(n_classes))
    ci = bootstrap_ci("macro_f1", truth, pred, n_boot=n_boot, classes=classes)
    plain = plain_bootstrap(truth, pred, n_classes, n_boot)
    if not np.allclose([ci.low, ci.high], plain, atol=0.01):  # two seeds' intervals: Monte Carlo error apart
        raise AssertionError(f"bootstrap: voxpop's interval {ci} is far from the plain draws' {plain}")
    voxpop, anchor = interleaved(
        lambda: bootstrap_ci("macro_f1", truth, pred, n_boot=n_boot, classes=classes),
        lambda: plain_bootstrap(truth, pred, n_classes, n_boot),
        repeats=5 if quick else 15,
    )
    what = f"bootstrap macro-F1, {n_boot:,} x {n_items:,} items"
    return Row(what, voxpop, anchor, "CPU s", None, "multinomial cell draws")


def rows(quick: bool) -> list[Row]:
    """The part's rows: the four counting rules, Dawid-Skene, the bootstrap."""
    return [*rule_rows(quick), dawid_skene_row(quick), bootstrap_row(quick)]
