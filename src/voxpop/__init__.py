"""voxpop: speech emotion recognition that learns from every rater.

The library face: ``import voxpop as vp`` gives the verbs a notebook needs, each a thin, documented front of one
layer package::

    corpus = vp.testing.demo_corpus("demo", size="tiny")   # or vp.read("long", "ratings.csv"), vp.Corpus.load
    labels = vp.labels(corpus, "mr", condition="voice")     # a LabelSet (voxpop.labels.make_labels)
    table = vp.agreement(corpus, condition="voice")          # alpha / kappa rows (voxpop.agreement.agreement_table)
    features = vp.extract(corpus, "opensmile:eGeMAPSv02", store="features")
    cv = vp.cross_validate(corpus, features, labels, "speaker-folds", k=3)
    scores = vp.evaluate(cv, labels)                         # metric, value, low, high (bootstrap CIs)
    study = vp.run("recipe.yaml", "runs/study")              # a whole study and its report, as ``voxpop run``
    model = vp.load_run("runs/study")                        # a saved run of it

The face is lazy (PEP 562 ``__getattr__``): ``import voxpop`` imports no torch, scipy, matplotlib or Dask,
and not the corpus module (nor pandas); each verb imports what it needs when called. ``vp.labels`` and
``vp.agreement`` are the packages :mod:`voxpop.labels` and :mod:`voxpop.agreement` themselves (importing a
submodule sets them on ``voxpop`` whatever this module defines), made callable by
:func:`voxpop.core.faces.callable_module` (their module objects get a ``ModuleType`` subclass with
``__call__``), so ``vp.labels(corpus, "mr")`` and ``import voxpop.labels.registry`` both work. Every error
is a :class:`VoxpopError`: :class:`ConfigError` for a bad argument or option, :class:`InputError` for a bad
file or table.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voxpop.core.errors import ConfigError, InputError, VoxpopError

if TYPE_CHECKING:
    import pandas as pd

    from voxpop.corpus.corpus import Corpus
    from voxpop.features.store import Features
    from voxpop.labels.continuous import ContinuousLabelSet
    from voxpop.labels.labelset import LabelSet
    from voxpop.models.cross_validation import CrossValidation
    from voxpop.models.saved_runs import Run
    from voxpop.models.specs import ModelSpec
    from voxpop.study.run import StudyRun

__version__ = "0.1.0"
"""The voxpop version (semantic versioning), as ``voxpop --version`` prints it."""
__all__ = [
    "ConfigError",
    "Corpus",
    "InputError",
    "VoxpopError",
    "__version__",
    "agreement",
    "cross_validate",
    "evaluate",
    "extract",
    "labels",
    "load_run",
    "read",
    "run",
    "testing",
]

_LAZY = {  # name -> (module, attribute or None for the module itself)
    "Corpus": ("voxpop.corpus.corpus", "Corpus"),
    "labels": ("voxpop.labels", None),
    "agreement": ("voxpop.agreement", None),
    "testing": ("voxpop.testing", None),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'voxpop' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = importlib.import_module(module)
    value = value if attribute is None else getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def read(format: str, path: str | Path, **options: Any) -> Corpus:
    """Import a corpus from its native files with the importer registered under ``format``.

    The same importers as ``voxpop import FORMAT``: :data:`voxpop.corpus.formats.IMPORTERS` (``crema-d``,
    ``ravdess``, ``likert``, ``mosei``, ``earkick``, ``msp``, ``iemocap``, ``intervals``, ``long``, ``hf``, ``emobox``,
    ``audformat``).

    Args:
        format: the importer's name, e.g. ``"long"`` (one row per judgement: item, rater, label, ...).
        path: the native file or folder the importer reads (its first argument).
        **options: the importer's keyword arguments (e.g. ``audio_dir``, ``classes``, ``class_map``), checked
            against its signature before it runs.

    Returns:
        The :class:`Corpus`: ``items`` (one row per clip, indexed by item id), ``ratings`` (long, one row per
        judgement) and the ordered ``classes``. Nothing is written; save it with ``corpus.save(folder)``.

    Raises:
        ConfigError: unknown format, unknown or mistyped option (one line each, naming the accepted ones).
        InputError: the files are missing, unreadable or malformed (naming the file, row and column).

    Example:
        >>> import voxpop as vp
        >>> corpus = vp.read("long", "ratings.csv")  # doctest: +SKIP
        >>> corpus.ratings.columns[:3].tolist()  # doctest: +SKIP
        ['item', 'rater', 'condition']
    """
    import inspect

    from voxpop.corpus.formats import check_arguments, get_importer

    first = next(iter(inspect.signature(get_importer(format)).parameters))  # the file or folder argument
    check_arguments(format, {first: str(path), **options})
    return get_importer(format)(path, **options)


def extract(corpus: Corpus, extractor: str, store: str | Path | None = None, **options: Any) -> Features:
    """Features of every item of ``corpus`` by ``extractor``, computed once into a feature store.

    :func:`voxpop.features.extract`; items already in the store (same items, same extractor configuration)
    are read, not recomputed.

    Args:
        corpus: the corpus whose items' audio is read (``corpus.items["audio"]``).
        extractor: ``"name"`` or ``"name:options"`` of :func:`voxpop.features.available_extractors`, e.g.
            ``"opensmile:eGeMAPSv02"`` (88 functionals per clip), ``"fbank"`` (log-mel frames), ``"ssl"``
            (a self-supervised encoder's per-layer pooled states), or an :class:`~voxpop.features.Extractor`.
        store: the feature store's folder (default ``$VOXPOP_FEATURE_STORE``, else the user's cache folder,
            :func:`voxpop.features.default_store_root`), shared by every study and output folder.
        **options: :func:`voxpop.features.extract`'s keywords (``audio``, ``shard``, ``shard_size``,
            ``progress``).

    Returns:
        :class:`~voxpop.features.Features`: ``items`` (ids), ``values`` (items x D float32, or items x layers x D,
        or per-item frame sequences), ``skipped`` (items without usable audio, with the reason).

    Raises:
        ConfigError: unknown extractor or extractor option.
        InputError: no item has readable audio (naming the first failures).

    Example:
        >>> features = vp.extract(corpus, "opensmile:eGeMAPSv02", store="features")  # doctest: +SKIP
        >>> features.values.shape  # doctest: +SKIP
        (48, 88)
    """
    from voxpop.features import extract as extract_features

    return extract_features(corpus, extractor, store, **options)


def cross_validate(
    corpus: Corpus,
    features: Features,
    labels: LabelSet,
    protocol: str = "speaker-folds",
    *,
    model: ModelSpec | Mapping[str, Any] | str = "logreg",
    out: str | Path | None = None,
    **protocol_options: Any,
) -> CrossValidation:
    """Train one model per fold of ``protocol`` and predict every fold's test items (out-of-fold predictions).

    The front of :func:`voxpop.models.cross_validate`: folds from :func:`voxpop.models.make_folds` on
    ``corpus.items``, a head from :class:`voxpop.models.ModelSpec`. Train and dev items are those with
    features that ``labels`` keeps; every fold test item with features is predicted.

    Args:
        corpus: the corpus the items come from (its ``items`` give speakers, splits and folds).
        features: per-item features (:func:`extract`), or ``Features`` of any extractor.
        labels: the training targets (:func:`labels`); its classes are the outputs.
        protocol: ``"speaker-folds"`` (k speaker-independent folds; options ``k``, ``column``, ``dev``,
            ``seed``), ``"split"`` (``columns``; ``dev_share`` for columns without development items),
            ``"leave-one-out"`` (``column``) or ``"cross-corpus"``.
        model: a head name (``"logreg"``, ``"svm"``, ``"mlp"``, ...), a mapping of ``ModelSpec`` fields
            (``{"head": "mlp", "loss": "kl", "train": {"epochs": 20}}``) or a ``ModelSpec``. The rater-aware
            heads ``per_rater`` and ``crowd_layer`` learn each rater's votes, read from ``corpus`` under the label
            set's conditions and classes (:func:`voxpop.labels.rater_votes.rater_votes`; docs/raters.md).
        out: a folder to save each fold's model and the pooled ``predictions.parquet`` in (a rerun with the
            same inputs loads them instead of retraining); None keeps everything in memory.
        **protocol_options: the protocol's options (e.g. ``k=3``).

    Returns:
        :class:`~voxpop.models.CrossValidation`: ``predictions`` (items x classes probabilities in [0, 1] plus a
        ``fold`` column), ``sizes`` and ``dropped`` (folds x counts), ``histories``, ``models`` (one per fold).

    Raises:
        ConfigError: unknown protocol, head, loss or option; a head that does not fit the label set's task; a
            model that early-stops on a split fold without development items (:func:`voxpop.models.protocols.
            require_dev`).
        InputError: a fold with no training item.

    Example:
        >>> cv = vp.cross_validate(corpus, features, labels, "speaker-folds", k=3)  # doctest: +SKIP
        >>> cv.predictions.columns.tolist()  # doctest: +SKIP
        ['neutral', 'anger', 'happy', 'sad', 'fold']
    """
    from voxpop.models import ModelSpec, make_folds
    from voxpop.models import cross_validate as cross_validate_folds
    from voxpop.models.specs import RATER_HEADS

    if isinstance(model, str):
        spec = ModelSpec(head=model)
    elif isinstance(model, Mapping):
        spec = ModelSpec.model_validate(dict(model))
    else:
        spec = model
    folds = make_folds(corpus.items, protocol, **protocol_options)
    votes = None
    if spec.head in RATER_HEADS:  # per_rater / crowd_layer learn each rater's votes from the corpus
        from voxpop.labels.rater_votes import rater_votes

        votes = rater_votes(corpus, labels)
    return cross_validate_folds(features, labels, folds, spec, out_dir=out, votes=votes)


def evaluate(predictions: Any, labels: LabelSet | ContinuousLabelSet, **options: Any) -> pd.DataFrame:
    """Score predictions against a label set, with bootstrap confidence intervals.

    :func:`voxpop.evaluation.evaluate_predictions`: items the label set keeps are scored; the predicted
    class is the top probability (single-label) or a binarised one (multi-label). A continuous label set
    (dimensions) is scored as a study scores it (:func:`voxpop.evaluation.test_scores.regression_results`:
    ``ccc``, ``pearson``, ``mae``, ``rmse`` per dimension as ``ccc[arousal]`` and their means, with per-fold
    statistics when the predictions have a ``fold`` column).

    Args:
        predictions: items x classes probabilities (a DataFrame indexed by item id; an extra ``fold`` column is
            ignored), a :class:`~voxpop.evaluation.Predictions` or a :class:`~voxpop.models.CrossValidation`.
        labels: the test targets (:func:`labels`).
        **options: ``n_boot`` (resamples, default 1000; 0: no interval), ``seed``, ``tie_policy``
            (``drop`` / ``first`` / ``random``), ``binarize``, ``speakers`` (item -> speaker: cluster bootstrap).

    Returns:
        A DataFrame, one row per metric: ``metric`` (accuracy, uar, macro_f1, ..., f1[<class>]), ``value``,
        ``low`` / ``high`` (95 % percentile bootstrap interval), ``absent_classes``, ``n_items``, ``n_excluded``,
        ``tie_policy``, ``n_tied``. Values are fractions in [0, 1] (MCC in [-1, 1]).

    Raises:
        ConfigError: unknown tie policy or binarisation; a class option for dimensions, or predictions of
            other dimensions than the label set's.
        InputError: no predicted item is in the label set, or a class column is missing.

    Example:
        >>> scores = vp.evaluate(cv, labels, n_boot=200)  # doctest: +SKIP
        >>> scores.set_index("metric").loc["uar", ["value", "low", "high"]]  # doctest: +SKIP
    """
    from voxpop.evaluation import evaluate_predictions

    table = getattr(predictions, "predictions", None)  # CrossValidation
    if table is None:
        table = getattr(predictions, "table", predictions)  # Predictions
    if getattr(labels, "kind", "categorical") == "continuous":  # dimensions: the study's regression scores
        from voxpop.evaluation.test_scores import regression_results

        unknown = sorted(set(options) - {"n_boot", "seed", "speakers"})
        if unknown:
            raise ConfigError(f"evaluate: {', '.join(unknown)} score classes; dimensions take n_boot, seed, speakers")
        scores = regression_results(
            table, labels, n_boot=options.get("n_boot", 1000), seed=options.get("seed", 0),
            speakers=options.get("speakers"),
        )  # fmt: skip
        if scores is None:
            raise InputError("evaluate: none of the predicted items is kept by the label set; nothing to score.")
        return scores
    return evaluate_predictions(table.drop(columns=["fold"], errors="ignore"), labels, **options)


def run(
    recipe: str | Path | Mapping[str, Any] | Any,
    out: str | Path,
    *,
    overrides: tuple[str, ...] | list[str] = (),
    allow_outside_paths: bool = False,
    **options: Any,
) -> StudyRun:
    """Run a study recipe and write its results and report, as ``voxpop run RECIPE --out OUT`` does.

    Every stage not yet cached in ``out/cache`` runs (an interrupted run resumes); then ``results.parquet``,
    ``runs.json`` and the report (``report.html``, ``report.md``, ...) are written into ``out``
    (:func:`voxpop.study.run_recipe` with ``on_run=`` :func:`voxpop.report.write_study_report`).

    Args:
        recipe: a recipe YAML file, a mapping of recipe keys (relative paths in it resolve from the current
            folder) or a validated :class:`voxpop.study.Recipe`.
        out: the output folder.
        overrides: ``"key.path=value"`` overrides of a recipe file (as ``--set``).
        allow_outside_paths: let the recipe use paths outside its folder, ``out`` and the feature store.
        **options: :func:`voxpop.study.run_recipe`'s keywords (``workers``, ``scheduler``, ``threads``,
            ``reporter``, ``client``).

    Returns:
        The finished :class:`voxpop.study.StudyRun`: ``results`` (one row per model, metric and label set, with
        CIs), ``recipe``, ``corpus``, ``plan``, ``out_dir``.

    Raises:
        ConfigError: the recipe is invalid (every problem with its key path) or names paths outside.
        InputError: the corpus or a label file is missing or malformed.

    Example:
        >>> study = vp.run("recipes/demo.yaml", "runs/demo")  # doctest: +SKIP
        >>> study.results.columns[:3].tolist()  # doctest: +SKIP
    """
    from voxpop.report import write_study_report
    from voxpop.study import Recipe, load_recipe, recipe_from_dict, run_recipe
    from voxpop.study.definition import build_study
    from voxpop.study.recipe_paths import check_recipe_paths

    if isinstance(recipe, Recipe):
        loaded, source = recipe, str(Path.cwd() / "(recipe)")
    elif isinstance(recipe, Mapping):
        loaded, source = recipe_from_dict(recipe), str(Path.cwd() / "(dict)")
    elif isinstance(recipe, (str, Path)):
        loaded, source = load_recipe(recipe, list(overrides)), str(recipe)
    else:
        raise ConfigError(f"vp.run: recipe must be a file path, a mapping or a Recipe, not {type(recipe).__name__}.")
    check_recipe_paths(loaded, source, out, allow_outside_paths)
    return run_recipe(build_study(loaded, out, source), out, on_run=write_study_report, **options)


def load_run(out: str | Path, name: str | None = None) -> Run:
    """One saved run (a trained model and how it was made) of a finished study's output folder.

    :func:`voxpop.models.load_run`: reads ``out/runs.json`` written by :func:`run`.

    Args:
        out: the study's output folder.
        name: the run's name (a model x label set x variant of the study); None: the only one.

    Returns:
        A :class:`voxpop.models.Run`: ``record`` (its features, labels, protocol and classes), ``directory`` (the
        train stage's folder: fold models) and ``predictions`` (items x classes out-of-fold probabilities and
        ``fold``).

    Raises:
        InputError: no ``runs.json``, an unknown name, or several runs and no name (listing them).

    Example:
        >>> saved = vp.load_run("runs/demo", "mlp")  # doctest: +SKIP
    """
    from voxpop.models import load_run as load_saved_run

    return load_saved_run(out, name)
