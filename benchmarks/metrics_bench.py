"""Time 1,000 bootstrap resamples of macro-F1 over 50,000 items (8 classes): voxpop against plain loops.

The bar: a plain numpy loop that draws one resample at a time, counts its confusion matrix with one
``bincount`` of true * C + predicted and computes macro-F1 from it. voxpop's bootstrap
(``bootstrap_distribution``: stratified, seeded, every metric from per-resample count matrices) must
be at least as fast; the script prints the ratio (loop time / voxpop time, best of ``--repeats``).
The naive loops (voxpop's generic fallback: recompute the metric on every resampled label set) run on
fewer resamples and are scaled to 1,000; both paths draw the same resamples for the same seed, and the
script checks that they agree on the resamples they share.

    python benchmarks/metrics_bench.py [--items 50000] [--classes 8] [--loop-resamples 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import f1_score

from voxpop.evaluation import metrics, resampling


def _timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def _best_of(repeats: int, function):
    """The result and the shortest wall time of ``repeats`` runs (the machine may be shared)."""
    runs = [_timed(function) for _ in range(repeats)]
    return runs[0][0], min(seconds for _, seconds in runs)


def bincount_loop(true: np.ndarray, pred: np.ndarray, n_classes: int, n_boot: int, seed: int) -> np.ndarray:
    """Macro-F1 (over the classes present in the whole set) on ``n_boot`` plain resamples, one at a time."""
    rng = np.random.default_rng(seed)
    whole = np.bincount(true * n_classes + pred, minlength=n_classes**2).reshape(n_classes, n_classes)
    present = (whole.sum(axis=0) + whole.sum(axis=1)) > 0
    scores = np.empty(n_boot)
    for b in range(n_boot):
        rows = rng.integers(0, len(true), len(true))
        counts = np.bincount(true[rows] * n_classes + pred[rows], minlength=n_classes**2).reshape(n_classes, -1)
        tp = np.diag(counts)
        wrong = counts.sum(axis=0) + counts.sum(axis=1) - 2 * tp
        denominator = 2 * tp + wrong
        f1 = np.divide(2 * tp, denominator, out=np.zeros(n_classes), where=denominator > 0)
        scores[b] = f1[present].mean()
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000, help="test items")
    parser.add_argument("--classes", type=int, default=8, help="classes")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (vectorised)")
    parser.add_argument("--loop-resamples", type=int, default=20, help="resamples timed for the naive loops")
    parser.add_argument("--repeats", type=int, default=3, help="time voxpop and the bincount loop this often")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    true = rng.integers(0, args.classes, args.items)
    pred = np.where(rng.random(args.items) < 0.6, true, rng.integers(0, args.classes, args.items))
    labels = list(range(args.classes))

    fast, fast_time = _best_of(
        args.repeats,
        lambda: resampling.bootstrap_distribution(
            "macro_f1", true, pred, classes=labels, n_boot=args.resamples, seed=0
        ),
    )
    plain, plain_time = _best_of(args.repeats, lambda: bincount_loop(true, pred, args.classes, args.resamples, 0))

    def voxpop_macro_f1(t, p):
        return metrics.macro_f1(t, p, classes=labels)

    def sklearn_macro_f1(t, p):
        return f1_score(t, p, labels=labels, average="macro", zero_division=0)

    print(f"macro-F1 bootstrap, {args.items:,} items, {args.classes} classes")
    print(f"  voxpop bootstrap            {args.resamples:>5} resamples: {fast_time:6.2f} s (best of {args.repeats})")
    print(f"  plain numpy bincount loop   {args.resamples:>5} resamples: {plain_time:6.2f} s (best of {args.repeats})")
    verdict = "at least as fast" if fast_time <= plain_time else "SLOWER than the loop"
    print(f"  bootstrap ratio (loop / voxpop): {plain_time / fast_time:.2f}x -- voxpop is {verdict}")
    print(f"  (the loop draws unstratified resamples: its mean {plain.mean():.4f} vs voxpop's {fast.mean():.4f})")
    for name, metric in [
        ("voxpop.evaluation.metrics.macro_f1", voxpop_macro_f1),
        ("sklearn f1_score", sklearn_macro_f1),
    ]:
        slow, slow_time = _timed(
            lambda metric=metric: resampling.bootstrap_distribution(
                metric, true, pred, n_boot=args.loop_resamples, seed=0
            )
        )
        scaled = slow_time * args.resamples / args.loop_resamples
        difference = np.abs(slow - fast[: args.loop_resamples]).max()
        print(
            f"  loop ({name}) {args.loop_resamples} resamples: {slow_time:.2f} s -> {scaled:.1f} s for "
            f"{args.resamples}; vectorised is {scaled / fast_time:.0f}x faster; max |difference| {difference:.1e}"
        )
    ci = resampling.CI(metrics.macro_f1(true, pred, classes=labels), *resampling.percentile_interval(fast))
    print(f"  macro-F1 = {ci.value:.4f}, 95 % CI [{ci.low:.4f}, {ci.high:.4f}]")


if __name__ == "__main__":
    main()
