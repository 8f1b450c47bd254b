"""The inputs of a small two-class run on in-memory feature vectors (no audio, no extractor), for tests that
damage, swap or check what such a run writes: pass them to the ``write_run`` fixture of tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

N = 24
"""Items of the run: ``clip00`` .. ``clip23``, 6 speakers of 4 items each."""
IDS = [f"clip{i:02d}" for i in range(N)]
CLASSES = ["neutral", "anger"]


def two_class_inputs(head: str = "mlp", head_options: dict | None = None) -> tuple:
    """(features, labels, folds, spec, feature source) of a two-class run of ``head``: 4-dimensional vectors
    (class means 2 apart, unit noise, offset 5 so standardisation matters), majority-rule labels of 3 votes each,
    3 speaker folds without dev, 1 epoch."""
    from voxpop.features import Features
    from voxpop.labels.labelset import Accounting, LabelSet
    from voxpop.models.protocols import make_folds
    from voxpop.models.saved_runs import FeatureSource
    from voxpop.models.specs import ModelSpec, TrainConfig

    rng = np.random.default_rng(0)
    codes = np.arange(N) % 2
    values = (2 * np.eye(2, 4)[codes] + rng.normal(size=(N, 4)) + 5).astype(np.float32)
    features = Features(
        key="k" * 64, path=Path("."), kind="vector", items=pd.Index(IDS, dtype="string"), values=values,
        names=[f"x{d}" for d in range(4)], layers=[], skipped=pd.DataFrame(), seconds=pd.Series(1.0, index=IDS),
    )  # fmt: skip
    targets = pd.DataFrame(np.eye(2)[codes], index=IDS, columns=CLASSES)
    labels = LabelSet(targets, pd.Series(True, index=IDS), targets * 3, "mr", Accounting(N, N, 3 * N, 3 * N))
    items = pd.DataFrame({"speaker": [f"s{i * 6 // N}" for i in range(N)]}, index=IDS)
    folds = make_folds(items, "speaker-folds", k=3, dev=False)
    options = head_options if head_options is not None else ({"hidden_dim": 4} if head == "mlp" else {})
    spec = ModelSpec(head=head, head_options=options, train=TrainConfig(epochs=1, batch_size=8))
    source = FeatureSource(path=".", key="k" * 64, kind="vector", spec={"extractor": "test", "version": 1}, audio={})
    return features, labels, folds, spec, source
