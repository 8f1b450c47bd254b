"""ONNX export: onnxruntime reproduces every fold model's probabilities; the card says what the model is."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from voxpop.cli.app import app
from voxpop.core.errors import ConfigError
from voxpop.features import Features, extract
from voxpop.labels.labelset import Accounting, LabelSet
from voxpop.labels.rules import make_labels
from voxpop.models.export import export_run, load_exported
from voxpop.models.model_input import feature_input
from voxpop.models.protocols import make_folds
from voxpop.models.saved_runs import RUNS_FILE, FeatureSource, load_run
from voxpop.models.specs import ModelSpec, TrainConfig

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.skipif(  # find_spec: collecting does not import onnxruntime
        importlib.util.find_spec("onnxruntime") is None,
        reason="the export extra (onnx, onnxruntime, skl2onnx) is not installed",
    ),
]

CLASSES = ["neutral", "anger", "sad"]
N = 36
QUIET = TrainConfig(epochs=2, batch_size=8, progress_bar=False)
IDS = [f"clip{i:02d}" for i in range(N)]


def _features(kind: str) -> Features:
    """Class-dependent features: (N, 6) vectors, or (N, 3, 6) layer matrices whose last layer carries the class."""
    rng = np.random.default_rng(0)
    codes = np.arange(N) % 3
    signal = 3 * np.eye(3, 6)[codes] + rng.normal(size=(N, 6)) + 10  # offset: standardisation matters
    values = signal if kind == "vector" else np.stack([rng.normal(size=(N, 6)), rng.normal(size=(N, 6)), signal], 1)
    return Features(
        key="k" * 64, path=Path("."), kind=kind, items=pd.Index(IDS, dtype="string"),
        values=values.astype(np.float32), names=[f"x{d}" for d in range(6)],
        layers=[] if kind == "vector" else ["layer0", "layer1", "layer2"], skipped=pd.DataFrame(),
        seconds=pd.Series(1.0, index=IDS),
    )  # fmt: skip


def _labels() -> LabelSet:
    targets = pd.DataFrame(np.eye(3)[np.arange(N) % 3], index=IDS, columns=CLASSES)
    return LabelSet(targets, pd.Series(True, index=IDS), targets * 3, "mr", Accounting(N, N, 3 * N, 3 * N))


@pytest.fixture
def make_run(tmp_path, write_run):
    def make(kind: str, head: str, **head_options) -> Path:
        items = pd.DataFrame({"speaker": [f"s{i * 6 // N}" for i in range(N)]}, index=IDS)
        folds = make_folds(items, "speaker-folds", k=3, dev=False)
        source = FeatureSource(path=".", key="k" * 64, kind=kind, spec={"extractor": "test", "version": 1}, audio={})
        out = tmp_path / f"{kind}-{head}"
        spec = ModelSpec(head=head, head_options=head_options, train=QUIET)
        write_run(out, _features(kind), _labels(), folds, spec, source)
        return out

    return make


@pytest.mark.parametrize(
    ("kind", "head", "options"),
    [
        ("vector", "mlp", {"hidden_dim": 16}),
        ("layers", "linear", {}),  # layer-weighted sum over the 3 layers, then the linear head
        ("vector", "logreg", {}),
        ("vector", "svm", {"calibration_folds": 3}),
        ("vector", "logreg", {"pca_components": 3}),
    ],
)
def test_onnxruntime_reproduces_each_fold_model(tmp_path, make_run, kind, head, options):
    run_dir = make_run(kind, head, **options)
    exported = load_exported(export_run(run_dir, tmp_path / "export"))
    x = feature_input(_features(kind), IDS)
    models = load_run(run_dir).fold_models()
    assert set(exported.sessions) == set(models) == {"fold1", "fold2", "fold3"}
    for name, model in models.items():
        onnx_probs = exported.sessions[name].run(["probabilities"], {"x": x})[0]
        np.testing.assert_allclose(onnx_probs, model.predict_proba(x), atol=1e-5)
    ensemble = np.mean([m.predict_proba(x) for m in models.values()], axis=0)
    np.testing.assert_allclose(exported.predict_proba(x).to_numpy(), ensemble, atol=1e-5)


def test_the_card_says_what_the_model_is(tmp_path, make_run):
    run_dir = make_run("layers", "linear")
    card = json.loads((export_run(run_dir, tmp_path / "export") / "card.json").read_text())
    assert card["classes"] == CLASSES and card["multilabel"] is False
    assert card["label_rule"]["rule"] == "mr" and card["head"] == "linear"
    assert card["input"] == {"name": "x", "kind": "layers", "shape": [None, 3, 6], "dtype": "float32"}
    assert card["features"]["extractor"] == {"extractor": "test", "version": 1}
    assert {f: e["file"] for f, e in card["folds"].items()} == {f: f"{f}.onnx" for f in ("fold1", "fold2", "fold3")}
    for entry in card["folds"].values():  # each fold's file, recorded by its SHA-256, outputs the card's classes
        assert entry["classes"] == CLASSES
        assert entry["sha256"] == hashlib.sha256((tmp_path / "export" / entry["file"]).read_bytes()).hexdigest()
    uar = next(m for m in card["metrics"] if m["metric"] == "uar")
    assert uar["scope"] == "pooled" and uar["low"] <= uar["value"] <= uar["high"] and uar["n_items"] == N


def test_frame_heads_are_refused_with_the_reason(tmp_path, make_run):
    run_dir = make_run("vector", "logreg")
    record = (run_dir / RUNS_FILE).read_text().replace('"kind": "vector"', '"kind": "frames"')
    (run_dir / RUNS_FILE).write_text(record)
    with pytest.raises(ConfigError, match="takes 'frames' features"):
        export_run(run_dir, tmp_path / "export")


def test_cli_export_then_predict_from_the_exported_folder(demo_corpus, demo_logreg_run, tmp_path):
    corpus, run_dir = demo_corpus.corpus, demo_logreg_run.directory
    features = extract(corpus, "fbank", store=demo_logreg_run.store)
    runner = CliRunner()
    env = {"COLUMNS": "200"}
    result = runner.invoke(app, ["export", str(run_dir), "--out", str(tmp_path / "onnx")], env=env)
    assert result.exit_code == 0, result.output
    assert "3 fold models" in result.output
    files = list(corpus.items["audio"].iloc[[0, 7]])
    from_run = runner.invoke(app, ["predict", str(run_dir), *files, "--format", "json"], env=env)
    from_onnx = runner.invoke(app, ["predict", str(tmp_path / "onnx"), *files, "--format", "json"], env=env)
    assert from_run.exit_code == 0 and from_onnx.exit_code == 0, from_onnx.output
    a, b = json.loads(from_run.stdout), json.loads(from_onnx.stdout)
    assert [r["prediction"] for r in a] == [r["prediction"] for r in b]
    for ra, rb in zip(a, b, strict=True):
        assert ra["probabilities"].keys() == rb["probabilities"].keys()
        np.testing.assert_allclose(list(ra["probabilities"].values()), list(rb["probabilities"].values()), atol=1e-5)
    assert make_labels(corpus, "mr", condition="voice").classes == json.loads(
        (tmp_path / "onnx" / "card.json").read_text()
    )["classes"]
    assert features.kind == "vector"
