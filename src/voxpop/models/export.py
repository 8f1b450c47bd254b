"""Models that leave voxpop: each fold model of a run as ONNX, with a JSON card that says what it is.

``export_run`` writes, for every fold of a run directory, ``<fold>.onnx`` (the fold name encoded by
:func:`voxpop.core.paths.id_filename`: ``corpus=a`` -> ``corpus%3Da.onnx``): one graph from the pooled
features the run trained on to class probabilities, or to dimension values for a regressor (a run of a
continuous label set). The graph holds the fold's feature standardisation (``(x - mean) / scale``), the head
and its output function (softmax, or sigmoid for multi-label heads; a regressor's outputs mapped back from
z-scored targets onto the targets' scale), so ``onnxruntime`` reproduces
:meth:`voxpop.models.cross_validation.FoldModel.outputs`. Input ``x``: float32, (N, D) feature vectors or (N, L, D)
per-layer means (layer-weighted-sum heads); output ``probabilities``: float32 (N, C) in the card's class order,
or ``values``: float32 (N, D) in the card's dimension order. A rater-aware head (``per_rater``, ``crowd_layer``)
writes its item prediction as ``probabilities`` and a second output ``rater_probabilities``: float32 (N, R, C),
each rater output's class probabilities, named per fold by the card's ``raters``. ``card.json`` records the
classes (or dimensions and their scale), the label rule, the training corpus, the out-of-fold metrics with
95 % bootstrap CIs, what rebuilds the input features (the extractor spec: openSMILE feature set and version,
or the SSL model id / path, revision and layers), since the extractors themselves are not exported, and per fold
its ONNX file, the file's SHA-256 and its classes; each ONNX file carries its fold, run and classes as metadata.
:func:`load_exported` checks them all (:mod:`voxpop.models.export_card`: the card's schema and the checks).

Neural heads go through torch's TorchScript-based exporter (``dynamo=False``, which needs no
onnxscript); SVM / logistic-regression / ridge pipelines through skl2onnx. Frame-level heads (LSTM,
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

from voxpop.core.errors import ConfigError, InputError
from voxpop.core.paths import id_filename
from voxpop.core.safe_load import REEXPORT
from voxpop.models.export_card import (
    CARD_FORMAT,
    OUTPUT,
    OUTPUT_TEXT,
    VALUES,
    card_fold,
    mark_onnx,
    read_card,
    verified_onnx,
)

CARD = "card.json"
INPUT = "x"
RATER_OUTPUT = "rater_probabilities"
"""The second output of a rater-aware head's graph (per_rater, crowd_layer): (N, R, C) class probabilities of each
rater output, in the order the card lists per fold under ``raters``."""
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
    """A torch head with its standardisation and output function as ONNX bytes (a regressor: its outputs
    times the targets' standard deviation plus their mean, as :meth:`TrainedModel.predict`)."""
    import torch

    from voxpop.models.rater_heads import rater_logits

    model = fold_model.model
    standardizer = fold_model.standardizer
    regression = model.spec.regression
    raters = model.spec.raters is not None
    target_mean = np.asarray(model.spec.target_mean or [0.0], dtype=np.float32)
    target_scale = np.asarray(model.spec.target_scale or [1.0], dtype=np.float32)

    class Exportable(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = model.network
            mean = np.zeros(n_features) if standardizer is None else standardizer.mean
            scale = np.ones(n_features) if standardizer is None else standardizer.scale
            self.register_buffer("mean", torch.as_tensor(np.asarray(mean, dtype=np.float32)))
            self.register_buffer("scale", torch.as_tensor(np.asarray(scale, dtype=np.float32)))
            self.register_buffer("target_mean", torch.as_tensor(target_mean))
            self.register_buffer("target_scale", torch.as_tensor(target_scale))

        def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
            logits = self.network((x - self.mean) / self.scale, None)
            if regression:
                return logits * self.target_scale + self.target_mean
            if raters:  # the item prediction and each rater output's probabilities
                return torch.softmax(logits, dim=-1), torch.softmax(rater_logits(self.network), dim=-1)
            return torch.sigmoid(logits) if model.spec.multilabel else torch.softmax(logits, dim=-1)

    wrapper = Exportable().eval()
    buffer = io.BytesIO()
    example = torch.zeros((2, *n_features), dtype=torch.float32)
    outputs = [VALUES if regression else OUTPUT, *([RATER_OUTPUT] if raters else [])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter announces its deprecation on every call
        torch.onnx.export(
            wrapper,
            (example,),
            buffer,
            dynamo=False,
            input_names=[INPUT],
            output_names=outputs,
            dynamic_axes={INPUT: {0: "n"}, **{name: {0: "n"} for name in outputs}},
            opset_version=OPSET,
        )
    return buffer.getvalue()


def _classical_onnx(fold_model, n_features: int, n_classes: int) -> bytes:
    """A scikit-learn pipeline with the fold's standardisation in front and the estimator's class subset
    scattered onto all ``n_classes`` columns (classes absent from training get probability 0); a regressor's
    values go out as they are (``n_classes``: its dimensions)."""
    if fold_model.model.spec.regression:
        return _classical_regressor_onnx(fold_model, n_features, n_classes)
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
    scatter = np.zeros((len(final.classes_), n_classes), dtype=np.float32)
    scatter[np.arange(len(final.classes_)), np.asarray(final.classes_, dtype=int)] = 1.0
    graph.graph.initializer.append(numpy_helper.from_array(scatter, name="voxpop_scatter"))
    back = [
        helper.make_node("Cast", [probs_name], ["voxpop_probs32"], to=onnx.TensorProto.FLOAT),
        helper.make_node("MatMul", ["voxpop_probs32", "voxpop_scatter"], [OUTPUT]),
    ]
    return _standardised_graph(graph, fold_model.standardizer, n_features, back, OUTPUT, n_classes)


def _classical_regressor_onnx(fold_model, n_features: int, n_dimensions: int) -> bytes:
    """A scikit-learn regression pipeline (ridge; svr's one-SVR-per-dimension has no ONNX converter) with the
    fold's standardisation in front: output ``values``, (N, D)."""
    onnx = _require("onnx")
    skl2onnx = _require("skl2onnx")
    from onnx import helper
    from skl2onnx.common.data_types import FloatTensorType

    estimator = fold_model.model.estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            graph = skl2onnx.convert_sklearn(
                estimator,
                initial_types=[("features", FloatTensorType([None, n_features]))],
                target_opset={"": OPSET, "ai.onnx.ml": 3},
            )
        except (RuntimeError, NotImplementedError) as exc:  # skl2onnx: no converter for the estimator
            raise ConfigError(
                f"head {fold_model.model.spec.head!r}: its pipeline has no ONNX converter ({exc}); export a ridge "
                "or neural regressor instead"
            ) from None
    produced = graph.graph.output[0].name
    shape = helper.make_tensor("voxpop_shape", onnx.TensorProto.INT64, [2], [-1, n_dimensions])
    graph.graph.initializer.append(shape)
    back = [
        helper.make_node("Cast", [produced], ["voxpop_values32"], to=onnx.TensorProto.FLOAT),
        helper.make_node("Reshape", ["voxpop_values32", "voxpop_shape"], [VALUES]),
    ]
    return _standardised_graph(graph, fold_model.standardizer, n_features, back, VALUES, n_dimensions)


def _standardised_graph(graph, standardizer, n_features: int, back: list, output: str, width: int) -> bytes:
    """A converted scikit-learn ``graph`` framed as voxpop exports it: the fold's standardisation in front
    (``(x - mean) / scale`` on ``INPUT``, identity without a standardiser), the ``back`` nodes after it, and one
    output ``output`` of shape (N, ``width``); checked by onnx and serialised."""
    onnx = _require("onnx")
    from onnx import helper, numpy_helper

    mean = np.zeros(n_features) if standardizer is None else standardizer.mean
    scale = np.ones(n_features) if standardizer is None else standardizer.scale
    constants = {"voxpop_mean": np.asarray(mean, dtype=np.float32), "voxpop_scale": np.asarray(scale, dtype=np.float32)}
    graph.graph.initializer.extend(numpy_helper.from_array(v, name=k) for k, v in constants.items())
    front = [
        helper.make_node("Sub", [INPUT, "voxpop_mean"], ["voxpop_centred"]),
        helper.make_node("Div", ["voxpop_centred", "voxpop_scale"], ["features"]),
    ]
    nodes = [*front, *graph.graph.node, *back]
    del graph.graph.node[:]
    graph.graph.node.extend(nodes)
    del graph.graph.input[:]
    graph.graph.input.append(helper.make_tensor_value_info(INPUT, onnx.TensorProto.FLOAT, [None, n_features]))
    del graph.graph.output[:]
    graph.graph.output.append(helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, [None, width]))
    onnx.checker.check_model(graph)
    return graph.SerializeToString()


# ====================================================================== cards
def _metrics(run) -> list[dict[str, Any]]:
    """Out-of-fold metrics of the run on its own training labels, with 95 % bootstrap CIs (a regressor: CCC,
    Pearson r, MAE, RMSE per dimension and their mean, scope ``pooled``)."""
    from voxpop.evaluation import evaluate_out_of_fold
    from voxpop.evaluation.test_scores import regression_results

    if run.record.kind == "continuous":
        table = regression_results(run.predictions, run.labels, n_boot=1000, seed=0)
        records = [] if table is None else table.to_dict("records")
        return [{"scope": "pooled", **{k: _plain(v) for k, v in r.items()}} for r in records]
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


def _card(
    run,
    fold_files: dict[str, dict[str, Any]], input_shape: list[int | None],
    raters: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    record = run.record
    features = record.features
    regression = record.kind == "continuous"
    output = OUTPUT_TEXT[(record.kind, record.multilabel)]
    return {
        "format": CARD_FORMAT,
        "run": record.name,
        "kind": record.kind,
        "classes": record.classes,
        "multilabel": record.multilabel,
        "output": output,
        "output_name": VALUES if regression else OUTPUT,
        "scale": {d: list(s) for d, s in record.scale.items()},
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
        "prediction": f"mean of the fold models' {'values' if regression else 'probabilities'}",
        "metrics": _metrics(run),
        **({"rater_output": RATER_OUTPUT, "raters": raters} if raters else {}),
    }


# ====================================================================== export and use
def export_run(run_dir: str | Path, out_dir: str | Path, name: str | None = None) -> Path:
    """Write ``<fold>.onnx`` for every fold model of a run and ``card.json`` into ``out_dir``; ``run_dir`` is
    a study output directory and ``name`` the run in it (needed when it holds several, :mod:`voxpop.models.saved_runs`).

    Args:
        run_dir: a study output directory (one holding ``runs.json``).
        out_dir: the folder to write (created when missing).
        name: the run in ``run_dir`` to export; None for its only run.

    Returns:
        ``out_dir``, now holding ``<fold>.onnx`` per fold (input ``x``: float32 (N, D) or (N, L, D); output
        ``probabilities`` (N, C) or ``values`` (N, D) on the targets' scale; a rater-aware head also
        ``rater_probabilities`` (N, R, C)) and ``card.json`` (with ``raters``: per fold its rater outputs' names).

    Raises:
        ConfigError: heads that take frames or audio, a classical regressor without an ONNX converter (svr), or
            the export extra not installed.
        InputError: a directory that is not a study output directory, an unknown run name, several runs and no
            ``name``, or a fold model file missing or damaged (:meth:`~voxpop.models.saved_runs.Run.fold_models`).
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
        data = mark_onnx(data, name, run.directory.name, run.record.classes, list(models))
        files[name] = card_fold(f"{id_filename(name)}.onnx", data, run.record.classes)
        write_bytes(out / files[name]["file"], data)
    raters = {name: m.model.spec.raters for name, m in models.items() if m.model.spec.raters is not None}
    card = _card(run, files, [None, *shape], raters or None)
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
        """The output columns: the classes, or the dimensions of a regressor."""
        return list(self.card["classes"])

    @property
    def kind(self) -> str:
        """``categorical`` (class probabilities) or ``continuous`` (dimension values)."""
        return self.card.get("kind", "categorical")

    def predict_proba(self, x: np.ndarray) -> pd.DataFrame:
        """Mean over folds of the ONNX outputs, (N, C) with the card's columns: class probabilities, or a
        regressor's dimension values (its output ``values``)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        expected = self.card["input"]["shape"][1:]
        if list(x.shape[1:]) != expected:
            raise InputError(f"{self.directory}: features of shape {list(x.shape[1:])}, the model takes {expected}")
        output = self.card.get("output_name", OUTPUT)
        per_fold = [s.run([output], {INPUT: x})[0] for s in self.sessions.values()]
        return pd.DataFrame(np.mean(per_fold, axis=0, dtype=np.float64), columns=self.classes)

    def rater_folds(self, rater: str) -> dict[str, int]:
        """The folds that have an output for ``rater``, each with that output's position in ``rater_probabilities``.

        Raises:
            ConfigError: the export has no rater outputs.
            InputError: no fold has an output for ``rater`` (naming those there are).
        """
        per_fold = self.card.get("raters") or {}
        if not per_fold:
            raise ConfigError(f"{self.directory}: this export has no per-rater outputs (head per_rater, crowd_layer).")
        folds = {fold: names.index(rater) for fold, names in per_fold.items() if rater in names}
        if not folds:
            names = list(dict.fromkeys(r for listed in per_fold.values() for r in listed))
            raise InputError(f"{self.directory}: no fold has an output for rater {rater!r}; its rater outputs are "
                             f"{', '.join(names[:20])}{' ...' if len(names) > 20 else ''}.")  # fmt: skip
        return folds

    def predict_rater_proba(self, x: np.ndarray, rater: str) -> pd.DataFrame:
        """Rater output ``rater``'s class probabilities (N, C), the mean over the folds that have that output
        (the second ONNX output of a per_rater / crowd_layer export).

        Raises:
            ConfigError: the export has no rater outputs.
            InputError: no fold has an output for ``rater`` (naming those there are).
        """
        folds = self.rater_folds(rater)
        x = np.ascontiguousarray(x, dtype=np.float32)
        outputs = [self.sessions[f].run([RATER_OUTPUT], {INPUT: x})[0][:, r] for f, r in folds.items()]
        return pd.DataFrame(np.mean(outputs, axis=0, dtype=np.float64), columns=self.classes)


def is_exported(directory: str | Path) -> bool:
    """Whether ``directory`` holds an exported model (a ``card.json``)."""
    return (Path(directory) / CARD).is_file()


def load_exported(directory: str | Path) -> ExportedModel:
    """Open an exported folder with onnxruntime (CPU), after checking its card and every ONNX file against it.

    Each ONNX file is read once, parsed and checked by :func:`voxpop.core.safe_load.checked_onnx` (no external
    data) and handed to onnxruntime as bytes, so no path inside a model is ever opened.

    Raises:
        InputError: a missing, unreadable or invalid card (:func:`~voxpop.models.export_card.read_card`); an
            ONNX file that is missing, unlisted, damaged, keeps data in an external file, is another than the one
            recorded, or whose classes differ from the card's (:func:`~voxpop.models.export_card.verified_onnx`);
            a graph onnxruntime cannot run. Each says to export again.
        ConfigError: the export extra (onnx, onnxruntime) is not installed.
    """
    ort = _require("onnxruntime")
    _require("onnx")
    directory = Path(directory)
    card = read_card(directory / CARD)
    sessions = {}
    for fold, data in verified_onnx(directory, card, card.output_name).items():
        try:
            sessions[fold] = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's Fail / InvalidGraph / NotImplemented: a graph it cannot run
            file = directory / Path(card.folds[fold].file).name
            raise InputError(f"{file}: onnxruntime cannot run it ({type(exc).__name__}); {REEXPORT}.") from None
    return ExportedModel(directory, card.model_dump(mode="json"), sessions)


def predict_exported(
    directory: str | Path,
    paths: Sequence[str | Path],
    *,
    store: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    audio: Mapping[str, Any] | None = None,
    rater: str | None = None,
):
    """Class probabilities (or dimension values) of audio files from an exported folder: features rebuilt from the
    card's extractor, then the ONNX fold models averaged.

    Args:
        directory: a folder :func:`export_run` wrote (``card.json`` and the ``<fold>.onnx`` files).
        paths: the audio files to predict, each once.
        store: the feature store to extract into; None: a temporary store, removed afterwards.
        progress: called as ``progress(done, total)`` during feature extraction.
        audio: overrides of the card's recorded audio options (e.g. ``min_seconds``, ``too_short``; noise
            augmentation cannot be set).
        rater: a per_rater / crowd_layer export: predict this rater output (:meth:`ExportedModel.predict_rater_proba`).

    Returns:
        A :class:`voxpop.models.inference.FilePredictions`: ``probabilities`` indexed by file (files x classes,
        probabilities in the card's class order; or files x dimensions on the targets' scale) and ``skipped``
        (the files whose audio could not be used, with the reason).

    Raises:
        InputError: ``directory`` holds no readable export card of this format, a listed ONNX file is missing,
            the rebuilt features do not have the shape the models take, or no fold has an output for ``rater``
            (checked before any audio is read).
        ConfigError: the export extra (onnxruntime) not installed, no audio file, a file listed twice, an audio
            option that cannot be set, or an extractor that cannot be rebuilt exactly as the card records it.
    """
    from voxpop.models.inference import FilePredictions, features_of_items, file_items
    from voxpop.models.saved_runs import FeatureSource

    model = load_exported(directory)
    if rater is not None:
        model.rater_folds(rater)  # an unknown rater before any audio is read
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
        table = model.predict_proba(x) if rater is None else model.predict_rater_proba(x, rater)
        return table.set_axis(items)

    probabilities, skipped = features_of_items(
        source, file_items(paths), model.classes, score, store=store, progress=progress, audio=audio
    )
    multilabel = bool(model.card["multilabel"])
    return FilePredictions(probabilities.rename_axis("file"), skipped.rename_axis("file"), multilabel, model.kind)
