"""Classical heads on disk: skops files with an explicit trusted-type list; a pickle is never unpickled."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from voxpop.cli.app import app
from voxpop.core.errors import InputError, VoxpopError
from voxpop.features import Features, make_extractor
from voxpop.labels.labelset import Accounting, LabelSet
from voxpop.models.cross_validation import cross_validate
from voxpop.models.protocols import make_folds
from voxpop.models.saved_runs import FeatureSource, load_run
from voxpop.models.specs import ModelSpec, TrainConfig

CLASSES = ["neutral", "anger", "sad"]
N = 36


def _blobs(n: int = N, dim: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class i mod 3 at 3 * one-hot in the first three dimensions plus unit noise; one-hot targets."""
    rng = np.random.default_rng(seed)
    codes = np.arange(n) % 3
    return 3 * np.eye(3, dim)[codes] + rng.normal(size=(n, dim)), np.eye(3)[codes]


class _OpensFile:
    """Unpickling (``__reduce__``) or skops-loading (``__setstate__``) this object creates ``path``."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))

    def __setstate__(self, state: dict) -> None:
        Path(state["path"]).touch()
        self.__dict__.update(state)


# ------------------------------------------------------------------------------------------ round trip
@pytest.mark.parametrize(
    ("head", "options"),
    [
        ("svm", {}),
        ("svm", {"pca_components": 3, "kernel": "linear"}),
        ("logreg", {}),
        ("logreg", {"pca_components": 2}),
    ],
)
def test_classical_heads_round_trip_through_skops_with_identical_probabilities(tmp_path, head, options):
    import skops.io

    from voxpop.models.trained_model import ESTIMATOR_FILE, TRUSTED_TYPES, TrainedModel
    from voxpop.models.training import fit

    x, y = _blobs()
    model = fit(x, y, head=head, config=TrainConfig(progress_bar=False), head_options=options)
    directory = model.save(tmp_path / head)
    assert sorted(p.name for p in directory.iterdir()) == [ESTIMATOR_FILE, "model.json"]
    loaded = TrainedModel.load(directory)
    assert np.array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert [name for name, _ in loaded.estimator.steps] == [name for name, _ in model.estimator.steps]
    # the hard-coded list is exactly what skops does not trust by default in these pipelines
    expected = TRUSTED_TYPES if head == "svm" else []
    assert skops.io.get_untrusted_types(file=directory / ESTIMATOR_FILE) == expected


def test_a_skops_file_with_an_untrusted_type_is_refused_and_never_built(tmp_path):
    import skops.io
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from voxpop.models.trained_model import ESTIMATOR_FILE, TrainedModel
    from voxpop.models.training import fit

    x, y = _blobs()
    directory = fit(x, y, head="logreg", config=TrainConfig(progress_bar=False)).save(tmp_path / "model")
    target = tmp_path / "created-on-load"
    hostile = Pipeline([("scale", StandardScaler()), ("model", _OpensFile(target))])
    (directory / ESTIMATOR_FILE).write_bytes(skops.io.dumps(hostile))
    with pytest.raises(InputError, match=r"estimator\.skops: holds types voxpop does not load .*_OpensFile"):
        TrainedModel.load(directory)
    assert not target.exists()
    skops.io.load(directory / ESTIMATOR_FILE, trusted=skops.io.get_untrusted_types(file=directory / ESTIMATOR_FILE))
    assert target.exists()  # what a trusting loader would have done: the file was a live threat


def test_a_damaged_or_missing_skops_file_is_a_named_error(tmp_path):
    from voxpop.models.trained_model import ESTIMATOR_FILE, TrainedModel
    from voxpop.models.training import fit

    x, y = _blobs()
    directory = fit(x, y, head="logreg", config=TrainConfig(progress_bar=False)).save(tmp_path / "model")
    (directory / ESTIMATOR_FILE).write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(InputError, match=r"estimator\.skops: not a readable skops model file"):
        TrainedModel.load(directory)
    (directory / ESTIMATOR_FILE).unlink()
    with pytest.raises(InputError, match=r"estimator\.skops: not found; the logreg model directory is incomplete"):
        TrainedModel.load(directory)


# ------------------------------------------------------------------------------------------ planted pickles
def _features(x: np.ndarray, ids: list[str]) -> Features:
    return Features(
        key="f" * 64,
        path=Path("."),
        kind="vector",
        items=pd.Index(ids, dtype="string"),
        values=x.astype(np.float32),
        names=[f"x{d}" for d in range(x.shape[1])],
        layers=[],
        skipped=pd.DataFrame({"reason": [], "message": []}, index=pd.Index([], dtype="string")),
        seconds=pd.Series(1.0, index=ids),
    )


@pytest.fixture
def run_with_pickles(tmp_path, write_run):
    """A logreg run (3 speaker folds) whose fold heads are replaced by pickles that create a file when loaded."""
    from voxpop.models.trained_model import ESTIMATOR_FILE, LEGACY_ESTIMATOR_FILE

    x, y = _blobs()
    ids = [f"clip{i:02d}" for i in range(N)]
    targets = pd.DataFrame(y, index=ids, columns=CLASSES)
    labels = LabelSet(targets, pd.Series(True, index=ids), targets * 5, "mr", Accounting(N, N, 5 * N, 5 * N))
    folds = make_folds(pd.DataFrame({"speaker": [f"s{i // 6}" for i in range(N)]}, index=ids), "speaker-folds", k=3)
    fbank = make_extractor("fbank")
    source = FeatureSource(path=".", key="f" * 64, kind="vector", spec=fbank.spec(), audio={}, extractor="fbank")
    features, spec, out = _features(x, ids), ModelSpec(head="logreg"), tmp_path / "run"
    first = write_run(out, features, labels, folds, spec, source)
    labels.save(tmp_path / "labels.parquet")
    target = tmp_path / "created-by-unpickling"
    train = out / "cache" / "train"
    for fold in ("fold1", "fold2", "fold3"):
        (train / "folds" / fold / ESTIMATOR_FILE).unlink()
        (train / "folds" / fold / LEGACY_ESTIMATOR_FILE).write_bytes(pickle.dumps(_OpensFile(target)))
    return {"out": out, "train": train, "target": target, "first": first, "features": features, "labels": labels,
            "folds": folds}  # fmt: skip


def test_the_planted_pickle_is_live(run_with_pickles):
    """Guard of the tests below (each gets a fresh run): unpickling the planted file does create the file."""
    from voxpop.models.trained_model import LEGACY_ESTIMATOR_FILE

    pickle.loads((run_with_pickles["train"] / "folds" / "fold1" / LEGACY_ESTIMATOR_FILE).read_bytes())
    assert run_with_pickles["target"].exists()


def test_predict_on_a_run_with_pickles_says_how_to_retrain_and_unpickles_nothing(run_with_pickles, tmp_path):
    from voxpop.models.trained_model import LEGACY_ESTIMATOR_FILE, LegacyModelError

    wav = tmp_path / "clip.wav"
    wav.write_bytes(b"")  # never read: the models are loaded first
    result = CliRunner().invoke(app, ["predict", str(run_with_pickles["out"]), str(wav)])
    assert isinstance(result.exception, LegacyModelError) and isinstance(result.exception, VoxpopError)
    message = str(result.exception)
    assert message.startswith(f"{run_with_pickles['train'] / 'folds' / 'fold1' / LEGACY_ESTIMATOR_FILE}: this logreg")
    assert "repeat the 'voxpop train' command that wrote the run, with the same --out" in message
    with pytest.raises(LegacyModelError):
        load_run(run_with_pickles["out"]).fold_models()
    assert not run_with_pickles["target"].exists()


def test_evaluate_on_a_run_with_pickles_scores_its_predictions_without_loading_models(run_with_pickles, tmp_path):
    labels = str(tmp_path / "labels.parquet")
    result = CliRunner().invoke(
        app, ["evaluate", str(run_with_pickles["out"]), "--labels", labels, "--bootstrap", "10"]
    )
    assert result.exit_code == 0, result.output
    assert "UAR (higher is better)" in result.output
    assert not run_with_pickles["target"].exists()


def test_resumed_cross_validation_retrains_folds_saved_as_pickles(run_with_pickles):
    from voxpop.models.trained_model import ESTIMATOR_FILE, LEGACY_ESTIMATOR_FILE

    run = run_with_pickles
    spec = ModelSpec(head="logreg")
    result = cross_validate(run["features"], run["labels"], run["folds"], spec, out_dir=run["train"])
    assert result.resumed == []
    assert not run["target"].exists()
    pd.testing.assert_frame_equal(result.predictions, run["first"].predictions)
    for fold in ("fold1", "fold2", "fold3"):
        directory = run["train"] / "folds" / fold
        assert (directory / ESTIMATOR_FILE).is_file() and not (directory / LEGACY_ESTIMATOR_FILE).exists()
        assert (directory / "fold.json").is_file()
    again = cross_validate(run["features"], run["labels"], run["folds"], spec, out_dir=run["train"])
    assert again.resumed == ["fold1", "fold2", "fold3"]


@pytest.mark.parametrize("where", ["absolute", "dotdot", "symlink"])
def test_a_runs_json_naming_a_stage_outside_the_output_directory_is_refused(run_with_pickles, tmp_path, where):
    """A hand-edited runs.json is data: a stage path leaving the output directory is refused, nothing is read."""
    import json
    import shutil

    out = run_with_pickles["out"]
    outside = tmp_path / "elsewhere"
    shutil.copytree(out / "cache" / "train", outside)
    runs = json.loads((out / "runs.json").read_text())
    if where == "absolute":
        runs["run"]["stage"] = str(outside)
    elif where == "dotdot":
        runs["run"]["stage"] = "cache/../../elsewhere"
    else:
        (out / "cache" / "link").symlink_to(outside, target_is_directory=True)
        runs["run"]["stage"] = "cache/link"
    (out / "runs.json").write_text(json.dumps(runs))
    with pytest.raises(InputError, match=r"run .run., stage .* is not a folder inside .*Run the study again"):
        load_run(out)
    result = CliRunner().invoke(app, ["evaluate", str(out), "--labels", str(tmp_path / "labels.parquet")])
    assert isinstance(result.exception, InputError)
    assert not run_with_pickles["target"].exists()


def test_an_empty_run_list_says_the_study_trained_no_model(tmp_path):
    """Classifiers and regressors are runs alike (a study of dimensions lists its regressors); an empty runs.json
    means the recipe had no labels.train."""
    (tmp_path / "runs.json").write_text("{}")
    with pytest.raises(InputError, match="the study trained no model"):
        load_run(tmp_path)
