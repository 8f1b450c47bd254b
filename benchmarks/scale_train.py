"""Part ``train`` of benchmarks/scale.py: an MLP head, 20 epochs x 5 folds, voxpop against a plain torch loop.

Both sides run in a fresh interpreter each (so imports and every fixed cost count) on the same synthetic
cached features (``N`` items x 88 dimensions, as eGeMAPS, 4 classes, soft targets of 3 simulated raters),
with the same folds (fold k tests, fold k+1 is the dev set, the rest trains), the same scaling (z-scores
with the training items' statistics), the same network (voxpop's default ``mlp``: 2 x 1024 ReLU units,
dropout 0.5), AdamW (lr 1e-3, weight decay 0.01), batches of 32 in a seeded random order, the dev loss
after every epoch and the best dev epoch's weights restored, then the test fold's probabilities. voxpop
trains through :func:`voxpop.models.cross_validation.fit_fold`, the function every ``voxpop train`` fold
runs. Cost: CPU seconds (user + system) of the child process, the median of interleaved runs; torch with
one thread on both sides (the machine is shared). ``--quick``: 300 items and 3 epochs, one run.

Run alone: ``python benchmarks/scale.py --only train``.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

from scale import Row

FOLDS, DIM, CLASSES, BATCH = 5, 88, 4, 32


def data(n: int):
    """Features (n, DIM) float32, soft targets (n, CLASSES) of 3 raters, and each item's fold."""
    import numpy as np

    rng = np.random.default_rng(0)
    truth = rng.integers(0, CLASSES, n)
    x = (rng.normal(size=(CLASSES, DIM))[truth] + 2 * rng.normal(size=(n, DIM))).astype(np.float32)
    votes = np.where(rng.random((n, 3)) < 0.7, truth[:, None], rng.integers(0, CLASSES, (n, 3)))
    y = np.stack([(votes == c).mean(axis=1) for c in range(CLASSES)], axis=1).astype(np.float32)
    return x, y, rng.permutation(n) % FOLDS


def folds(fold):
    """(train, dev, test) positions of each fold: fold k tests, fold k + 1 is the dev set."""
    import numpy as np

    for k in range(FOLDS):
        test, dev = np.flatnonzero(fold == k), np.flatnonzero(fold == (k + 1) % FOLDS)
        yield np.flatnonzero((fold != k) & (fold != (k + 1) % FOLDS)), dev, test


def run_voxpop(n: int, epochs: int) -> float:
    import numpy as np
    import pandas as pd

    from voxpop.features.store import Features
    from voxpop.models.cross_validation import FoldItems, feature_input, fit_fold
    from voxpop.models.specs import ModelSpec, TrainConfig

    x, y, fold = data(n)
    ids = pd.Index([f"item{i}" for i in range(n)], dtype="string")
    features = Features(
        key="bench", path=Path("."), kind="vector", items=ids, values=x, names=[f"f{d}" for d in range(DIM)],
        layers=[], skipped=pd.DataFrame(columns=["reason", "message"]), seconds=pd.Series(np.ones(n), index=ids),
    )  # fmt: skip
    targets = pd.DataFrame(y, index=ids, columns=[f"c{c}" for c in range(CLASSES)])
    config = TrainConfig(epochs=epochs, batch_size=BATCH, patience=None, progress_bar=False, accelerator="cpu")
    spec = ModelSpec(head="mlp", train=config)
    correct = 0
    for train, dev, test in folds(fold):
        model = fit_fold(spec, features, targets, FoldItems(ids[train], ids[dev], ids[test], {}), "ce")
        probs = model.predict_proba(feature_input(features, ids[test]))
        correct += int((probs.argmax(axis=1) == y[test].argmax(axis=1)).sum())
    return correct / n


def run_anchor(n: int, epochs: int) -> float:
    import numpy as np
    import torch
    from torch import nn

    x, y, fold = data(n)
    torch.manual_seed(0)
    correct = 0
    for train, dev, test in folds(fold):
        mean, sd = x[train].astype(np.float64).mean(axis=0), x[train].astype(np.float64).std(axis=0)
        scaled = torch.from_numpy(((x - mean) / np.where(sd < 1e-8, 1.0, sd)).astype(np.float32))
        targets = torch.from_numpy(y)
        net = nn.Sequential(
            nn.Linear(DIM, 1024), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1024, 1024), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(1024, CLASSES),
        )  # fmt: skip
        optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
        generator = torch.Generator().manual_seed(0)
        train_x, train_y, dev_x, dev_y = scaled[train], targets[train], scaled[dev], targets[dev]
        best, state = float("inf"), None
        for _ in range(epochs):
            net.train()
            order = torch.randperm(len(train), generator=generator)
            for start in range(0, len(train), BATCH):
                index = order[start : start + BATCH]
                loss = -(train_y[index] * torch.log_softmax(net(train_x[index]), dim=1)).sum(dim=1).mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            net.eval()
            with torch.inference_mode():
                dev_loss = float(-(dev_y * torch.log_softmax(net(dev_x), dim=1)).sum(dim=1).mean())
            if dev_loss < best:
                best, state = dev_loss, {k: v.detach().clone() for k, v in net.state_dict().items()}
        net.load_state_dict(state)
        with torch.inference_mode():
            probs = torch.softmax(net(scaled[test]), dim=1).numpy()
        correct += int((probs.argmax(axis=1) == y[test].argmax(axis=1)).sum())
    return correct / n


def _child_cpu(side: str, n: int, epochs: int) -> float:
    """CPU seconds of one fresh interpreter running ``side`` (its accuracy printed to stderr)."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, __file__, side, str(n), str(epochs)], env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def rows(quick: bool) -> list[Row]:
    n, epochs, runs = (300, 3, 1) if quick else (1000, 20, 3)
    costs: dict[str, list[float]] = {"anchor": [], "voxpop": []}
    for _ in range(runs):
        for side in costs:
            costs[side].append(_child_cpu(side, n, epochs))
    return [
        Row(
            f"`train` MLP (2 x 1024), {epochs} epochs x {FOLDS} folds, {n:,} items x {DIM}",
            statistics.median(costs["voxpop"]),
            statistics.median(costs["anchor"]),
            "CPU s",
            target=1.15,
            anchor_name="plain torch loop, same folds / scaling / AdamW / best-dev weights",
        )
    ]


if __name__ == "__main__":
    side, size, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    import torch

    torch.set_num_threads(1)
    accuracy = (run_voxpop if side == "voxpop" else run_anchor)(size, rounds)
    print(f"{side}: test accuracy {accuracy:.3f}", file=sys.stderr)
