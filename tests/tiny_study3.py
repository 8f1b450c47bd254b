"""Study 3 made tiny, for the tests that run a whole study through Dask (local, scheduler, resubmission, Slurm)."""

from __future__ import annotations

from pathlib import Path

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "3-aggregation-rules.yaml"


def tiny(corpus: Path) -> list[str]:
    """Study 3 on the tiny demo corpus: MR and AR models (one loss), 3 folds, 1 epoch, 100 resamples."""
    return [
        "corpus.demo=null",
        f"corpus.path={corpus}",
        "labels.train={MR: {rule: mr, condition: voice}, AR: {rule: ar, condition: voice}}",
        "grid={}",
        "model.epochs=1",
        "evaluation.bootstrap=100",
        "protocol.speaker_folds.k=3",
    ]
