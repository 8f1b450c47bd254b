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


def _label_run(sets: dict[tuple[str, str], pd.DataFrame], results: pd.DataFrame | None = None):
    """A finished run holding only label sets (part, name) -> kept targets, and optionally results."""
    stages = {key: Stage("labels", f"labels {key[0]} {key[1]}", {"part": key[0], "name": key[1]}) for key in sets}
    outputs = {stages[key].key: SimpleNamespace(kind="categorical", kept_targets=t) for key, t in sets.items()}
    empty = pd.DataFrame({"variant": [], "train": [], "test": [], "group": [], "n_items": []})
    return SimpleNamespace(
        results=empty if results is None else results,
        corpus=SimpleNamespace(items=pd.DataFrame(index=pd.Index(["a", "b"]))),
        plan=SimpleNamespace(sources={}, labels=stages),
        output=lambda stage: outputs[stage.key],
    )


def test_identical_label_sets_are_compared_within_train_and_within_test_sets():
    """The AR distributions trained on (train AR) and scored by KLD / JSD (test AR-dist) are one design, not a
    duplicate; two train sets or two test sets with the same targets are one finding each."""
    from voxpop.report.cautions import identical_label_sets

    dist = pd.DataFrame({"A": [0.6, 0.5], "S": [0.4, 0.5]}, index=["a", "b"])
    hot = pd.DataFrame({"A": [1.0, 1.0], "S": [0.0, 1.0]}, index=["a", "b"])
    sets = {("train", "AR"): dist, ("train", "MR"): hot, ("test", "AR"): hot.iloc[::-1], ("test", "AR-dist"): dist}
    assert identical_label_sets(_label_run(sets)) == []
    sets |= {("train", "S*"): dist.iloc[::-1], ("test", "MR"): hot}
    assert identical_label_sets(_label_run(sets)) == [
        "train label set S* equals AR: identical targets on all 2 items",
        "test label set MR equals AR: identical targets on all 2 items",
    ]


def test_graded_cautions_mark_small_test_sets_and_duplicates_severe():
    from voxpop.report.cautions import graded_cautions
    from voxpop.report.headline import headline_warnings

    hot = pd.DataFrame({"A": [1.0, 0.0], "S": [0.0, 1.0]}, index=["a", "b"])
    results = pd.DataFrame({"variant": "base", "train": "MR", "test": ["MR", "PR"], "group": "all", "n_items": 2})
    run = _label_run({("test", "MR"): hot, ("test", "PR"): hot}, results)
    graded = graded_cautions(run)
    assert [(c.message.split(":")[0], c.severe) for c in graded] == [
        ("MR -> MR (base, all)", True), ("MR -> PR (base, all)", True), ("test label set PR equals MR", True)
    ]
    assert headline_warnings(graded, limit=2) == ([c.message for c in graded[:2]], 1)
