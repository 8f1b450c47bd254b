"""Study cautions on a finished run: which model gets the 'early stopping is off' warning."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from voxpop.core.cache import Stage
from voxpop.report.cautions import study_cautions


def test_early_stopping_warning_follows_each_variants_head_not_the_base_model():
    """voxpop train --head logreg,mlp: the base model is the default mlp, the variants set their heads; a
    classical head never early-stops, so only the mlp variant without dev items is warned about."""
    items = pd.Index([f"i{k}" for k in range(4)])
    targets = pd.DataFrame({"A": [1.0, 0.0, 1.0, 0.0], "B": [0.0, 1.0, 0.0, 1.0]}, index=items)
    labels = SimpleNamespace(targets=targets, kept=pd.Series(True, index=items), kept_targets=targets)
    predictions = pd.DataFrame({"fold": ["f1", "f1", "f2", "f2"]}, index=items)
    no_dev = pd.DataFrame({"dev": [0, 0]}, index=["f1", "f2"])
    label_stage = Stage("labels", "labels mr", {"rule": "mr"})
    sources = {
        (head, "mr"): Stage("train", f"train mr ({head})", {"model": {"head": head, "train": {"patience": 5}}})
        for head in ("logreg", "mlp")
    }
    outputs = {label_stage.key: labels, **{s.key: SimpleNamespace(predictions=predictions, folds=no_dev)
                                            for s in sources.values()}}  # fmt: skip
    run = SimpleNamespace(
        results=pd.DataFrame({"variant": [], "train": [], "test": [], "group": [], "n_items": []}),
        corpus=SimpleNamespace(items=pd.DataFrame(index=items)),
        recipe=SimpleNamespace(model=SimpleNamespace(head="mlp", early_stopping=object())),
        plan=SimpleNamespace(sources=sources, labels={("train", "mr"): label_stage}),
        output=lambda stage: outputs[stage.key],
    )
    warnings = [m for m in study_cautions(run) if "early stopping" in m]
    assert warnings == [
        "mr (mlp): early stopping is off in fold f1, f2: no development items (every epoch was trained)"
    ]
