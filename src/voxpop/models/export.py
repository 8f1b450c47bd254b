"""Models that leave voxpop: each fold model of a run as ONNX, with a JSON card that says what it is.

``export_run`` writes, for every fold of a run directory, ``<fold>.onnx``: one graph from the pooled
features the run trained on to class probabilities. The graph holds the fold's feature
standardisation (``(x - mean) / scale``), the head and its output function (softmax, or sigmoid for
multi-label heads), so ``onnxruntime`` reproduces :meth:`voxpop.models.cross_validation.FoldModel.predict_proba`. Input
``x``: float32, (N, D) feature vectors or (N, L, D) per-layer means (layer-weighted-sum heads);
output ``probabilities``: float32 (N, C) in the card's class order. ``card.json`` records the classes,
the label rule, the training corpus, the out-of-fold metrics with 95 % bootstrap CIs, and what
rebuilds the input features (the extractor spec: openSMILE feature set and version, or the SSL model
id / path, revision and layers), since the extractors themselves are not exported.

Neural heads go through torch's TorchScript-based exporter (``dynamo=False``, which needs no
onnxscript); SVM / logistic-regression pipelines through skl2onnx. Frame-level heads (LSTM,
attentive pooling over frames) and fine-tuned backbones are not exported: their input is a
variable-length sequence or raw audio, and :class:`~voxpop.core.errors.ConfigError` says so.
Dependencies: the optional extra ``voxpop[export]`` (onnx, onnxruntime, skl2onnx).
"""

from __future__ import annotations

import dataclasses
import io
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxpop.core.cache import parse_json
from voxpop.core.errors import ConfigError, InputError

CARD = "card.json"
CARD_FORMAT = 1
INPUT = "x"
OUTPUT = "probabilities"
EXPORTABLE_KINDS = ("vector", "layers")
OPSET = 17


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"exporting to ONNX needs the package providing {module!r}; install the extra: pip install 'voxpop[export]'"
        ) from None


# ====================================================================== graphs
def _network_onnx(fold_model, n_features: tuple[int, ...]) -> bytes:
    """A torch head with its standardisation and output function as ONNX bytes."""
    import torch

    model = fold_model.model
    standardizer = fold_model.standardizer

    class Exportable(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = model.network
            mean = np.zeros(n_features) if standardizer is None else standardizer.mean
            scale = np.ones(n_features) if standardizer is None else standardizer.scale
            self.register_buffer("mean", torch.as_tensor(np.asarray(mean, dtype=np.float32)))
            self.register_buffer("scale", torch.as_tensor(np.asarray(scale, dtype=np.float32)))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logits = self.network((x - self.mean) / self.scale, None)
            return torch.sigmoid(logits) if model.spec.multilabel else torch.softmax(logits, dim=-1)

    wrapper = Exportable().eval()
    buffer = io.BytesIO()
    example = torch.zeros((2, *n_features), dtype=torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter announces its deprecation on every call
        torch.onnx.export(
            wrapper,
            (example,),
            buffer,
            dynamo=False,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "n"}, OUTPUT: {0: "n"}},
            opset_version=OPSET,
        )
    return buffer.getvalue()


def _classical_onnx(fold_model, n_features: int, n_classes: int) -> bytes:
    """A scikit-learn pipeline with the fold's standardisation in front and the estimator's class subset
    scattered onto all ``n_classes`` columns (classes absent from training get probability 0)."""
    onnx = _require("onnx")
    skl2onnx = _require("skl2onnx")
    from onnx import helper, numpy_helper
    from skl2onnx.common.data_types import FloatTensorType

    estimator = fold_model.model.estimator
    final = estimator.steps[-1][1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = skl2onnx.convert_sklearn(
            estimator,
            initial_types=[("features", FloatTensorType([None, n_features]))],
            options={id(final): {"zipmap": False}},
            target_opset={"": OPSET, "ai.onnx.ml": 3},
        )
    probs_name = "voxpop_estimator_probabilities"
    produced = next(o.name for o in graph.graph.output if o.name != "label")
    for node in graph.graph.node:  # skl2onnx calls its output 'probabilities' too: rename it
        node.output[:] = [probs_name if name == produced else name for name in node.output]
        node.input[:] = [probs_name if name == produced else name for name in node.input]
    standardizer = fold_model.standardizer
    mean = np.zeros(n_features) if standardizer is None else standardizer.mean
    scale = np.ones(n_features) if standardizer is None else standardizer.scale
    scatter = np.zeros((len(final.classes_), n_classes), dtype=np.float32)
    scatter[np.arange(len(final.classes_)), np.asarray(final.classes_, dtype=int)] = 1.0
    constants = {
        "voxpop_mean": np.asarray(mean, dtype=np.float32),
        "voxpop_scale": np.asarray(scale, dtype=np.float32),
        "voxpop_scatter": scatter,
    }
    graph.graph.initializer.extend(numpy_helper.from_array(v, name=k) for k, v in constants.items())
    front = [
        helper.make_node("Sub", [INPUT, "voxpop_mean"], ["voxpop_centred"]),
        helper.make_node("Div", ["voxpop_centred", "voxpop_scale"], ["features"]),
    ]
    back = [
        helper.make_node("Cast", [probs_name], ["voxpop_probs32"], to=onnx.TensorProto.FLOAT),
        helper.make_node("MatMul", ["voxpop_probs32", "voxpop_scatter"], [OUTPUT]),
    ]
    nodes = [*front, *graph.graph.node, *back]
    del graph.graph.node[:]
    graph.graph.node.extend(nodes)
    del graph.graph.input[:]
    graph.graph.input.append(helper.make_tensor_value_info(INPUT, onnx.TensorProto.FLOAT, [None, n_features]))
    del graph.graph.output[:]
    graph.graph.output.append(helper.make_tensor_value_info(OUTPUT, onnx.TensorProto.FLOAT, [None, n_classes]))
    onnx.checker.check_model(graph)
    return graph.SerializeToString()


# ====================================================================== cards
def _metrics(run) -> list[dict[str, Any]]:
    """Out-of-fold metrics of the run on its own training labels, with 95 % bootstrap CIs."""
    from voxpop.evaluation import evaluate_out_of_fold

    rows = []
    for scope, table in evaluate_out_of_fold(run.predictions, run.labels).items():
        for record in table.to_dict("records"):
            rows.append({"scope": scope, **{k: _plain(v) for k, v in record.items()}})
    return rows


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _card(run, fold_files: dict[str, str], input_shape: list[int | None]) -> dict[str, Any]:
    record = run.record
    features = record.features
    return {
        "format": CARD_FORMAT,
        "run": record.name,
        "classes": record.classes,
        "multilabel": record.multilabel,
        "output": "sigmoid per class" if record.multilabel else "softmax over classes",
        "label_rule": record.labels,
        "training_corpus": record.corpus,
        "item_filter": record.where,
        "protocol": record.protocol.model_dump(mode="json"),
        "head": record.model.head,
        "input": {"name": INPUT, "kind": features.kind, "shape": input_shape, "dtype": "float32"},
        "features": {
            "extractor": features.spec,
            "audio": features.audio,
            "rebuild": features.extractor,
            "rebuild_options": features.options,
            "note": "the feature extractor is not part of the ONNX files: compute features with this spec",
        },
        "folds": fold_files,
        "prediction": "mean of the fold models' probabilities",
        "metrics": _metrics(run),
    }


# ====================================================================== export and use
def export_run(run_dir: str | Path, out_dir: str | Path, name: str | None = None) -> Path:
    """Write ``<fold>.onnx`` for every fold model of a run and ``card.json`` into ``out_dir``; ``run_dir`` is
    a study output directory and ``name`` the run in it (needed when it holds several, :mod:`voxpop.models.saved_runs`).

    Raises :class:`ConfigError` for heads that take frames or audio, or when the export extra is not
    installed; :class:`~voxpop.core.errors.InputError` for a directory that is not a run.
    """
    from voxpop.core.cache import output_directory, write_bytes, write_text
    from voxpop.models.saved_runs import load_run

    run = load_run(run_dir, name)
    kind = run.record.features.kind
    if kind not in EXPORTABLE_KINDS:
        raise ConfigError(
            f"run {run.directory}: its head takes {kind!r} features; ONNX export covers heads on pooled features "
            f"({' or '.join(EXPORTABLE_KINDS)}), not frame sequences or audio"
        )
    _require("onnx")
    models = run.fold_models()
    first = next(iter(models.values()))
    shape = _feature_shape(first)
    out = output_directory(out_dir)
    files = {}
    for name, model in models.items():
        if model.model.estimator is not None:
            data = _classical_onnx(model, shape[0], len(run.record.classes))
        else:
            data = _network_onnx(model, shape)
        files[name] = f"{name}.onnx"
        write_bytes(out / files[name], data)
    card = _card(run, files, [None, *shape])
    write_text(out / CARD, json.dumps(card, indent=2))
    return out


def _feature_shape(fold_model) -> tuple[int, ...]:
    """(D,) for vectors, (L, D) for per-layer means, as the model was trained."""
    spec = fold_model.model.spec.input
    return (int(spec.dim),) if spec.kind == "vector" else (int(spec.n_layers), int(spec.dim))


@dataclasses.dataclass
class ExportedModel:
    """An exported folder: its card and one onnxruntime session per fold."""

    directory: Path
    card: dict[str, Any]
    sessions: dict[str, Any]

    @property
    def classes(self) -> list[str]:
        return list(self.card["classes"])

    def predict_proba(self, x: np.ndarray) -> pd.DataFrame:
        """Mean over folds of the ONNX probabilities, (N, C) with the card's class columns."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        expected = self.card["input"]["shape"][1:]
        if list(x.shape[1:]) != expected:
            raise InputError(f"{self.directory}: features of shape {list(x.shape[1:])}, the model takes {expected}")
        per_fold = [s.run([OUTPUT], {INPUT: x})[0] for s in self.sessions.values()]
        return pd.DataFrame(np.mean(per_fold, axis=0, dtype=np.float64), columns=self.classes)


def is_exported(directory: str | Path) -> bool:
    """Whether ``directory`` holds an exported model (a ``card.json``)."""
    return (Path(directory) / CARD).is_file()


def load_exported(directory: str | Path) -> ExportedModel:
    """Open an exported folder with onnxruntime (CPU). Raises InputError for a missing or bad card."""
    ort = _require("onnxruntime")
    directory = Path(directory)
    path = directory / CARD
    try:
        card = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable export card ({exc}); export a run with 'voxpop export'.") from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise InputError(f"{path}: export card format {card.get('format') if isinstance(card, dict) else card!r}, "
                         f"expected {CARD_FORMAT}")
    sessions = {}
    for fold, name in card["folds"].items():
        file = directory / Path(name).name
        if not file.is_file():
            raise InputError(f"{file}: listed in {path} but missing; export the run again")
        sessions[fold] = ort.InferenceSession(str(file), providers=["CPUExecutionProvider"])
    return ExportedModel(directory, card, sessions)


def predict_exported(
    directory: str | Path,
    paths: Sequence[str | Path],
    *,
    store: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    audio: Mapping[str, Any] | None = None,
):
    """Class probabilities of audio files from an exported folder: features rebuilt from the card's
    extractor (``audio``: overrides of its audio options), then the ONNX fold models averaged. Returns
    :class:`voxpop.models.inference.FilePredictions`."""
    from voxpop.models.inference import FilePredictions, features_of_items, file_items
    from voxpop.models.saved_runs import FeatureSource

    model = load_exported(directory)
    source = FeatureSource(
        path=str(directory),
        key="",
        kind=model.card["input"]["kind"],
        spec=model.card["features"]["extractor"],
        audio=model.card["features"]["audio"],
        extractor=model.card["features"]["rebuild"],
        options=model.card["features"]["rebuild_options"],
    )

    def score(x: np.ndarray, items: pd.Index) -> pd.DataFrame:
        return model.predict_proba(x).set_axis(items)

    probabilities, skipped = features_of_items(
        source, file_items(paths), model.classes, score, store=store, progress=progress, audio=audio
    )
    multilabel = bool(model.card["multilabel"])
    return FilePredictions(probabilities.rename_axis("file"), skipped.rename_axis("file"), multilabel)
