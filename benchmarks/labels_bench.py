"""Speed and memory of the label rules on a synthetic corpus of MSP-Podcast scale.

Run: ``python benchmarks/labels_bench.py [--items 150000] [--ratings 1000000] [--seed 0]``.

The corpus has ``--ratings`` primary ratings (one per rater and item, 8 classes, skewed towards a
per-item "true" class so agreement varies) plus one secondary list per primary rating (1-3 labels).
Every case in :data:`CASES` is timed (wall clock, without tracing) and then run again under
tracemalloc for its peak of Python-visible memory (numpy and pandas buffers; Arrow buffers of
string columns are not traced). To add a measurement, append one ``(name, function of the corpus)``.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import pandas as pd

from voxpop.agreement.reliability import alpha_ci, krippendorff_alpha, value_counts
from voxpop.corpus.corpus import Corpus
from voxpop.labels.rules import make_labels
from voxpop.labels.voting import vote_counts

CLASSES = ["neutral", "happy", "sad", "angry", "surprise", "fear", "disgust", "contempt"]


def primary_alpha(corpus: Corpus, n_boot: int = 0) -> object:
    """Nominal Krippendorff's alpha of the primary ratings from per-item value counts (no rater ids used)."""
    primary = corpus.ratings[corpus.ratings["slot"].eq("primary").to_numpy()]
    counts = value_counts(primary, corpus.classes)
    return alpha_ci(counts, kind="counts", n_boot=n_boot) if n_boot else krippendorff_alpha(counts, kind="counts")


CASES: list[tuple[str, Callable[[Corpus], object]]] = [
    ("vote_counts (primary)", lambda corpus: vote_counts(corpus.ratings, corpus.classes)),
    ("mr", lambda corpus: make_labels(corpus, "mr")),
    ("pr", lambda corpus: make_labels(corpus, "pr")),
    ("ar", lambda corpus: make_labels(corpus, "ar")),
    ("ar-test", lambda corpus: make_labels(corpus, "ar-test")),
    ("primary + P* (f=0.6)", lambda corpus: make_labels(corpus, "primary", min_agreement=0.6)),
    ("secondary", lambda corpus: make_labels(corpus, "secondary")),
    ("secondary + S* (f=0.5)", lambda corpus: make_labels(corpus, "secondary", min_agreement=0.5)),
    ("alpha (nominal, count-only)", primary_alpha),
    ("alpha + bootstrap CI (1000)", lambda corpus: primary_alpha(corpus, n_boot=1000)),
]


def synthetic_tables(n_items: int, n_ratings: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Items and long ratings (primary + secondary lists) with distinct raters per item."""
    rng = np.random.default_rng(seed)
    n_raters = 2_000
    per_item = rng.multinomial(n_ratings - n_items, np.full(n_items, 1 / n_items)) + 1
    item = np.repeat(np.arange(n_items), per_item)
    offset = np.arange(n_ratings) - np.repeat(np.cumsum(per_item) - per_item, per_item)
    rater = (np.repeat(rng.integers(0, n_raters, n_items), per_item) + offset) % n_raters  # distinct per item
    truth = np.repeat(rng.integers(0, len(CLASSES), n_items), per_item)
    agrees = rng.random(n_ratings) < 0.55
    primary = np.where(agrees, truth, rng.integers(0, len(CLASSES), n_ratings))
    list_length = rng.integers(1, 4, n_ratings)
    owner = np.repeat(np.arange(n_ratings), list_length)
    first_in_list = np.arange(len(owner)) == np.repeat(np.cumsum(list_length) - list_length, list_length)
    secondary = np.where(first_in_list, primary[owner], rng.integers(0, len(CLASSES), len(owner)))  # includes primary
    secondary_frame = pd.DataFrame({"owner": owner, "label": secondary}).drop_duplicates()
    owner = secondary_frame["owner"].to_numpy()
    item_names = np.array([f"clip{i:06d}" for i in range(n_items)], dtype=object)
    rater_names = np.array([f"r{i:04d}" for i in range(n_raters)], dtype=object)
    class_names = np.array(CLASSES, dtype=object)
    ratings = pd.DataFrame(
        {
            "item": np.concatenate([item_names[item], item_names[item[owner]]]),
            "rater": np.concatenate([rater_names[rater], rater_names[rater[owner]]]),
            "slot": np.repeat(["primary", "secondary"], [n_ratings, len(owner)]),
            "label": np.concatenate([class_names[primary], class_names[secondary_frame["label"].to_numpy()]]),
        }
    )
    items = pd.DataFrame({"speaker": rng.integers(0, 1_000, n_items).astype(str)}, index=item_names)
    return items, ratings


def measure(function: Callable[[], object]) -> tuple[float, float, object]:
    """(seconds, peak traced MiB, result): timed once plain, then once under tracemalloc."""
    start = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    del result
    tracemalloc.start()
    result = function()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=150_000, help="number of items")
    parser.add_argument("--ratings", type=int, default=1_000_000, help="number of primary ratings")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args()
    items, ratings = synthetic_tables(args.items, args.ratings, args.seed)
    print(
        f"synthetic corpus: {len(items):,} items, {len(ratings):,} rating rows "
        f"({args.ratings:,} primary), {len(CLASSES)} classes"
    )
    rows = []
    seconds, peak, corpus = measure(lambda: Corpus("bench", items, ratings, CLASSES))
    rows.append(("build Corpus", seconds, peak))
    for name, case in CASES:
        seconds, peak, _ = measure(lambda case=case: case(corpus))
        rows.append((name, seconds, peak))
    print(f"{'case':<28}{'seconds':>10}{'peak MiB':>12}")
    for name, seconds, peak in rows:
        print(f"{name:<28}{seconds:>10.3f}{peak:>12.1f}")
    print(f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:,.0f} MiB")


if __name__ == "__main__":
    main()
