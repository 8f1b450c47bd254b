"""Time 1,000 bootstrap resamples of macro-F1 over 50,000 items (8 classes): vectorised vs naive loop.

The naive loop (voxpop's generic fallback: recompute the metric on every resampled label set) runs on
fewer resamples and is scaled to 1,000; both paths draw the same resamples for the same seed, and the
script checks that they agree on the resamples they share.

    python benchmarks/metrics_bench.py [--items 50000] [--classes 8] [--loop-resamples 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import f1_score

from voxpop import metrics


def _timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000, help="test items")
    parser.add_argument("--classes", type=int, default=8, help="classes")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (vectorised)")
    parser.add_argument("--loop-resamples", type=int, default=20, help="resamples timed for the naive loops")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    true = rng.integers(0, args.classes, args.items)
    pred = np.where(rng.random(args.items) < 0.6, true, rng.integers(0, args.classes, args.items))
    labels = list(range(args.classes))

    fast, fast_time = _timed(
        lambda: metrics.bootstrap_distribution("macro_f1", true, pred, classes=labels, n_boot=args.resamples, seed=0)
    )

    def voxpop_macro_f1(t, p):
        return metrics.macro_f1(t, p, classes=labels)

    def sklearn_macro_f1(t, p):
        return f1_score(t, p, labels=labels, average="macro", zero_division=0)

    print(f"macro-F1 bootstrap, {args.items:,} items, {args.classes} classes")
    print(f"  vectorised  {args.resamples:>5} resamples: {fast_time:8.2f} s")
    for name, metric in [("voxpop.metrics.macro_f1", voxpop_macro_f1), ("sklearn f1_score", sklearn_macro_f1)]:
        slow, slow_time = _timed(
            lambda metric=metric: metrics.bootstrap_distribution(metric, true, pred, n_boot=args.loop_resamples, seed=0)
        )
        scaled = slow_time * args.resamples / args.loop_resamples
        difference = np.abs(slow - fast[: args.loop_resamples]).max()
        print(
            f"  loop ({name}) {args.loop_resamples} resamples: {slow_time:.2f} s -> {scaled:.1f} s for "
            f"{args.resamples}; vectorised is {scaled / fast_time:.0f}x faster; max |difference| {difference:.1e}"
        )
    ci = metrics.CI(metrics.macro_f1(true, pred, classes=labels), *metrics.percentile_interval(fast))
    print(f"  macro-F1 = {ci.value:.4f}, 95 % CI [{ci.low:.4f}, {ci.high:.4f}]")


if __name__ == "__main__":
    main()
