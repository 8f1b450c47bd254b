"""Trained models on new audio: features extracted exactly as the run recorded, then the fold models' mean.

:func:`predict_files` classifies audio files with a run of a study output directory
(:mod:`voxpop.models.saved_runs`); :func:`features_of_items` is the shared step (also for other corpora,
:mod:`voxpop.models.crosscorpus`, and exported ONNX models, :mod:`voxpop.models.export`): rebuild the extractor from the
recorded spec (:func:`run_extractor`), extract into a store (temporary by default) with the recorded
audio options (noise augmentation excepted: new files are used as they are) and score.
"""

from __future__ import annotations

import dataclasses
import inspect
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.corpus import STRING, Corpus
from voxpop.evaluation.analysis import average_probabilities
from voxpop.evaluation.predictions import binarize_predictions, predicted_classes
from voxpop.features import Extractor, extract, make_extractor
from voxpop.features.audio import AudioOptions
from voxpop.features.base import _factory
from voxpop.models.model_input import feature_input
from voxpop.models.saved_runs import FeatureSource, Run, load_run

Scorer = Callable[[np.ndarray | list[np.ndarray], pd.Index], pd.DataFrame]


@dataclasses.dataclass
class FilePredictions:
    """Ensemble outputs per audio file (index: the file as given) and the skipped files: class probabilities
    (``kind`` categorical) or dimension values on the targets' scale (``kind`` continuous)."""

    probabilities: pd.DataFrame
    skipped: pd.DataFrame
    multilabel: bool
    kind: str = "categorical"

    def table(self) -> pd.DataFrame:
        """Per file the decision, then the probabilities: the argmax class, or for sigmoid (multi-label)
        outputs the classes chosen by :func:`voxpop.evaluation.predictions.binarize_predictions` joined with ``+``;
        continuous outputs: the predicted value of each dimension (no decision to make)."""
        probs = self.probabilities
        if self.kind == "continuous":
            return probs
        if self.multilabel:
            chosen = binarize_predictions(probs).to_numpy(dtype=bool)
            decision = ["+".join(c for c, on in zip(probs.columns, row, strict=True) if on) for row in chosen]
        else:
            decision = list(predicted_classes(probs))
        return probs.assign(prediction=pd.array(decision, dtype=STRING))[["prediction", *probs.columns]]


def extractor_of_spec(spec: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The extractor text and options that rebuild a feature store entry's recorded extractor ``spec``.

    Options are the spec's values of the extractor's parameters; openSMILE's feature set is its argument.
    Raises :class:`ConfigError` when they do not reproduce ``spec`` (e.g. ``ssl``, whose spec records the
    model's identity, not its folder): give the extractor explicitly then.

    >>> extractor_of_spec(make_extractor("fbank", n_mels=40).spec())
    ('fbank', {'n_mels': 40, 'output': 'pooled'})
    """
    name = str(spec.get("extractor"))
    parameters = [p for p in inspect.signature(_factory(name)).parameters if p not in ("self", "argument", "workers")]
    text = f"{name}:{spec['feature_set']}" if "feature_set" in spec else name
    options = {p: spec[p] for p in parameters if p in spec}
    try:
        rebuilt = make_extractor(text, **options).spec()
    except ConfigError:
        rebuilt = None
    if rebuilt != dict(spec):
        raise ConfigError(
            f"the feature store entry's extractor {dict(spec)} cannot be rebuilt from its spec alone; give the "
            f"extractor that made it (--extractor {name}:... --option KEY=VALUE) together with --features."
        )
    return text, options


def run_extractor(source: FeatureSource) -> Extractor:
    """The extractor a run recorded, built again and checked against the store entry's spec
    (:class:`ConfigError` when it differs: features must be computed exactly as in training)."""
    if source.extractor is None:
        text, options = extractor_of_spec(source.spec)
    else:
        text, options = source.extractor, source.options
    chosen = make_extractor(text, **options)
    if chosen.spec() != source.spec:
        differs = sorted(k for k in {*chosen.spec(), *source.spec} if chosen.spec().get(k) != source.spec.get(k))
        raise ConfigError(
            f"extractor {chosen.describe()} differs from the one the run was trained with in {differs} "
            f"(run: {[source.spec.get(k) for k in differs]}, now: {[chosen.spec().get(k) for k in differs]}); "
            "features must be computed exactly as in training (same options and versions)."
        )
    return chosen


def features_of_items(
    source: FeatureSource,
    items: pd.DataFrame,
    classes: Sequence[str],
    score: Scorer,
    *,
    store: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    audio: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features of new items (index: id; column ``audio``, optional ``offset`` / ``duration`` in seconds)
    as ``source`` recorded them, scored by ``score(x, ids)``.

    Features are extracted with the recorded extractor and audio options (noise augmentation excepted:
    new files are used as they are; ``audio`` overrides recorded options, e.g. ``min_seconds`` or
    ``too_short``) into ``store`` (default: a temporary store, removed afterwards).
    Returns (probabilities indexed by item, one column per class; skipped items with the reason).
    """
    chosen = run_extractor(source)
    audio_fields = {f.name for f in dataclasses.fields(AudioOptions)} - {"noise_dir", "snr_db"}
    options = {**source.audio, **(audio or {})}
    unknown = sorted(set(audio or {}) - audio_fields)
    if unknown:
        raise ConfigError(f"audio options {unknown} cannot be set for prediction; choose from {sorted(audio_fields)}")
    audio = AudioOptions(**{k: v for k, v in options.items() if k in audio_fields})
    corpus = Corpus("predict", items, pd.DataFrame({"item": [], "label": []}), classes=list(classes))
    with tempfile.TemporaryDirectory(prefix="voxpop-predict-") as tmp:
        features = extract(corpus, chosen, store if store is not None else tmp, audio=audio, progress=progress)
        done = features.items
        if len(done):
            probabilities = score(feature_input(features, done), done)
        else:
            probabilities = pd.DataFrame(columns=list(classes), index=done, dtype=float)
        skipped = features.skipped.copy()
    return probabilities, skipped


def predict_files(
    run: Run | str | Path,
    paths: Sequence[str | Path],
    *,
    store: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    audio: Mapping[str, Any] | None = None,
    rater: str | None = None,
) -> FilePredictions:
    """Class probabilities (or dimension values) of new audio files: the run's features, each fold model, averaged
    over folds (:func:`features_of_items`).

    Args:
        run: a :class:`~voxpop.models.saved_runs.Run`, or a study output directory holding one run.
        paths: the audio files to predict, each once.
        store: the feature store to extract into; None: a temporary store, removed afterwards.
        progress: called as ``progress(done, total)`` during feature extraction.
        audio: overrides of the run's recorded audio options (e.g. ``min_seconds``, ``too_short``; noise
            augmentation cannot be set).
        rater: a rater-aware run (head ``per_rater`` / ``crowd_layer``): predict this rater's output instead of
            the item prediction (:func:`ensemble_scorer`).

    Returns:
        The :class:`FilePredictions`: ``probabilities`` indexed by file as given (files x classes, probabilities
        in the run's class order; or files x dimensions on the targets' scale) and ``skipped`` (files whose audio
        cannot be used, with the reason).

    Raises:
        InputError: a directory that is not a study output directory or holds several runs, or a fold model file
            missing or damaged.
        ConfigError: no audio file, a file listed twice, an audio option that cannot be set, or an extractor that
            differs from (or cannot be rebuilt as) the one the run was trained with; ``rater`` for a run without
            rater outputs.
    """
    run = run if isinstance(run, Run) else load_run(run)
    probabilities, skipped = features_of_items(
        run.record.features, file_items(paths), run.record.classes, ensemble_scorer(run, rater), store=store,
        progress=progress, audio=audio,
    )  # fmt: skip
    record = run.record
    files, skipped = probabilities.rename_axis("file"), skipped.rename_axis("file")
    return FilePredictions(files, skipped, record.multilabel, record.kind)


def file_items(paths: Sequence[str | Path]) -> pd.DataFrame:
    """An item table for audio files given by path: id = the path as given, ``audio`` = the resolved path."""
    if not paths:
        raise ConfigError("give at least one audio file to predict.")
    ids = [str(p) for p in paths]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"audio files are listed more than once: {sorted({i for i in ids if ids.count(i) > 1})}.")
    return pd.DataFrame({"audio": [str(Path(p).resolve()) for p in paths]}, index=pd.Index(ids, name="item"))


def ensemble_scorer(run: Run, rater: str | None = None) -> Scorer:
    """``score(x, ids)``: the mean of the run's fold models' outputs (:meth:`FoldModel.outputs`: probabilities or
    dimension values), one column per run class or dimension.

    With ``rater``: the mean of rater output ``rater``'s probabilities (:meth:`FoldModel.rater_proba`) over the
    fold models that have that output (each fold gives an output of its own to the raters with enough training
    ratings); a rater no fold model has is an :class:`~voxpop.core.errors.InputError` naming the outputs there are.
    """
    models = run.fold_models()
    classes = run.record.classes
    if rater is not None:
        models = {name: model for name, model in models.items() if rater in (model.model.spec.raters or [])}
        if not models:
            raise_unknown_rater(run.fold_models(), rater)

    def score(x: np.ndarray | list[np.ndarray], items: pd.Index) -> pd.DataFrame:
        outputs = (lambda m: m.outputs(x)) if rater is None else (lambda m: m.rater_proba(x, rater))
        per_fold = {
            name: pd.DataFrame(outputs(model), index=items, columns=classes) for name, model in models.items()
        }
        return average_probabilities(per_fold)

    return score


def raise_unknown_rater(models: Mapping[str, Any], rater: str) -> None:
    """Refuse ``--rater`` for a run none of whose fold models has an output for ``rater``.

    Raises:
        ConfigError: the run has no rater outputs at all (not a per_rater / crowd_layer run).
        InputError: otherwise, naming the rater outputs its fold models have.
    """
    names = list(dict.fromkeys(r for m in models.values() for r in (m.model.spec.raters or [])))
    if not names:
        raise ConfigError(f"--rater {rater}: this run has no per-rater outputs; train head per_rater or crowd_layer.")
    shown = ", ".join(names[:20]) + (f" ... ({len(names)} in all)" if len(names) > 20 else "")
    raise InputError(f"--rater {rater}: no fold model has an output for this rater; the rater outputs are {shown}.")
