"""A trained run whose fold model files are missing or damaged: ``predict``, ``evaluate --corpus`` and ``export``
stop with an error naming the file, the fold and the run and saying to retrain (never a torch / numpy traceback)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from vector_runs import two_class_inputs
from voxpop.cli.app import app
from voxpop.core.errors import InputError
from voxpop.corpus.corpus import Corpus
from voxpop.models.saved_runs import load_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")



@pytest.fixture
def mlp_run(tmp_path, write_run) -> Path:
    """A two-class MLP run on in-memory vectors (standardised input), 3 speaker folds."""
    write_run(tmp_path / "run", *two_class_inputs("mlp"))
    return tmp_path / "run"


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


DAMAGE = {
    "weights-truncated": ("weights.pt", _truncate, "weights.pt: not a readable weights file"),
    "weights-missing": ("weights.pt", Path.unlink, "weights.pt: not found"),
    "weights-garbage": ("weights.pt", lambda p: p.write_bytes(b"\x80\x04not a torch file"), "not a readable weights"),
    "standardiser-missing": ("standardize.npz", Path.unlink, "trained on standardised features"),
    "standardiser-truncated": ("standardize.npz", _truncate, "not readable standardisation statistics"),
    "standardiser-wrong-arrays": (
        "standardize.npz",
        lambda p: np.savez(open(p, "wb"), mean=np.zeros(4)),  # noqa: SIM115  (np.savez closes nothing it opened)
        "not readable standardisation statistics: no array 'scale' (it holds 'mean')",
    ),
    "description-not-json": ("model.json", lambda p: p.write_text('{"format": '), "not a valid voxpop model"),
    "description-without-history": (
        "model.json",
        lambda p: p.write_text(p.read_text().replace('"history"', '"past"')),
        "no training history list",
    ),
    "description-missing": ("model.json", Path.unlink, "no model.json"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_fold_model_file_is_named_with_its_fold_and_the_cure(mlp_run, damage):
    name, spoil, found = DAMAGE[damage]
    run = load_run(mlp_run)
    assert set(run.fold_models()) == {"fold1", "fold2", "fold3"}  # intact: loads
    target = run.directory / "folds" / "fold2" / name
    spoil(target)
    with pytest.raises(InputError) as caught:
        run.fold_models()
    message = str(caught.value)
    assert found in message and str(target.parent) in message
    assert f"Fold 'fold2' of run 'run' ({run.directory}) cannot be used. Retrain it" in message


@pytest.fixture
def damaged_logreg(demo_logreg_run, tmp_path) -> Path:
    """A copy of the demo logistic-regression run whose fold1 estimator was cut in half."""
    out = tmp_path / "run"
    shutil.copytree(demo_logreg_run.directory, out)
    _truncate(load_run(out).directory / "folds" / "fold1" / "estimator.skops")
    return out


def _refused(result, run_dir: Path) -> None:
    assert result.exit_code != 0 and isinstance(result.exception, InputError), result.output
    message = str(result.exception)
    assert "fold1/estimator.skops: not a readable skops model file" in message
    assert f"Fold 'fold1' of run 'base' ({load_run(run_dir).directory}) cannot be used. Retrain it" in message


def test_predict_with_a_damaged_fold_model_says_to_retrain(damaged_logreg, demo_corpus):
    clip = next((demo_corpus.root / "audio").rglob("*.wav"))
    _refused(CliRunner().invoke(app, ["predict", str(damaged_logreg), str(clip)]), damaged_logreg)


def test_evaluate_on_another_corpus_with_a_damaged_fold_model_says_to_retrain(damaged_logreg, demo_corpus, tmp_path):
    corpus = demo_corpus.corpus
    keep = corpus.items.index[corpus.items["speaker"].isin(corpus.items["speaker"].unique()[:2])]
    part = corpus.subset(keep)
    primary = part.ratings[part.ratings["slot"] == "primary"]
    Corpus("b", part.items, primary, classes=part.classes, excluded=["other"]).save(tmp_path / "b")
    result = CliRunner().invoke(app, [
        "evaluate", str(damaged_logreg), "--corpus", str(tmp_path / "b"), "--labels", "mr", "--condition", "voice",
        "--bootstrap", "20", "--store", str(tmp_path / "store"),
    ])  # fmt: skip
    _refused(result, damaged_logreg)


def test_export_of_a_damaged_fold_model_says_to_retrain(damaged_logreg, tmp_path):
    pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    result = CliRunner().invoke(app, ["export", str(damaged_logreg), "--out", str(tmp_path / "export")])
    _refused(result, damaged_logreg)
