"""Scoring a finished run on another corpus: predict its items, map the classes, then evaluate.

A run trained on corpus A knows A's classes; corpus B may name them differently, lack some or have
others. :func:`map_prediction_classes` turns probabilities over A's classes into scores over B's
classes with an explicit class map (A's class -> B's class, or ``drop``), and
:func:`predict_corpus` predicts every item of B with the mean of the run's fold models (none of B's
items was seen in training, so no out-of-fold bookkeeping is needed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus import Corpus
from voxpop.corpus.merge import DROP
from voxpop.labels import LabelSet

if TYPE_CHECKING:
    from voxpop.models.saved_runs import Run


def map_prediction_classes(
    probabilities: pd.DataFrame, class_map: Mapping[str, str], classes: Sequence[str], *, multilabel: bool = False
) -> pd.DataFrame:
    """Scores over ``classes`` (the test corpus's) from probabilities over the run's classes.

    Each run class goes to ``class_map.get(c, c)``; ``"drop"`` removes it. Single-label (softmax)
    outputs: the probabilities of the run classes mapped onto one test class are added, and each row is
    renormalised over the kept mass, i.e. the model's distribution given that the answer is one of the
    test classes (rows whose whole mass is dropped become uniform). Multi-label (sigmoid) outputs: the
    maximum over the run classes mapped onto a test class. A test class that no run class maps onto
    gets score 0. Input (N, C_run) probabilities; output (N, len(classes)), same index.

    Raises :class:`ConfigError` when the map names a class the run does not have, maps onto a class the
    test corpus does not have, or leaves no test class predicted.

    >>> p = pd.DataFrame({"angry": [0.5], "calm": [0.3], "sad": [0.2]})
    >>> map_prediction_classes(p, {"angry": "anger", "calm": "drop"}, ["anger", "sad", "fear"]).round(3)
       anger    sad  fear
    0  0.714  0.286   0.0
    """
    run_classes = [c for c in probabilities.columns if c != "fold"]
    unknown = sorted(set(class_map) - set(run_classes))
    if unknown:
        raise ConfigError(f"--class-map names {unknown}, which are not classes of the run ({', '.join(run_classes)})")
    target = {c: class_map.get(c, c) for c in run_classes}
    outside = sorted({t for t in target.values() if t != DROP and t not in classes})
    if outside:
        raise ConfigError(
            f"run classes map onto {outside}, which are not classes of the test corpus ({', '.join(classes)}); "
            "map them onto a test class or 'drop' them with --class-map RUN_CLASS=TEST_CLASS"
        )
    if not any(t in classes for t in target.values()):
        raise ConfigError("the class map leaves no test class predicted; map the run's classes onto the test classes")
    values = probabilities[run_classes].to_numpy(dtype=float)
    mapped = np.zeros((len(values), len(classes)))
    for column, name in enumerate(run_classes):
        if target[name] == DROP:
            continue
        position = list(classes).index(target[name])
        if multilabel:
            mapped[:, position] = np.maximum(mapped[:, position], values[:, column])
        else:
            mapped[:, position] += values[:, column]
    if not multilabel:
        mass = mapped.sum(axis=1, keepdims=True)
        mapped = np.divide(mapped, mass, out=np.full_like(mapped, 1.0 / len(classes)), where=mass > 0)
    return pd.DataFrame(mapped, index=probabilities.index, columns=list(classes))


def onto_test_classes(
    probabilities: pd.DataFrame, labels: LabelSet, classes: Sequence[str], *, multilabel: bool = False
) -> tuple[pd.DataFrame, LabelSet]:
    """A trained corpus's predictions and a test label set, both on one test corpus's ``classes``.

    Run classes that are test classes keep their name, the others are dropped
    (:func:`map_prediction_classes`); the label set keeps only the ``classes`` columns (a test corpus's
    items have no target mass elsewhere). Used for cross-corpus cells trained on the training corpora's
    classes (recipe ``protocol.cross_corpus.classes: train``).

    >>> from voxpop.labels.labelset import Accounting
    >>> t = pd.DataFrame({"anger": [1.0], "fear": [0.0], "sad": [0.0]}, index=["b1"])
    >>> labels = LabelSet(t, pd.Series([True], index=["b1"]), t, "mr", Accounting(1, 1, 1, 1))
    >>> p = pd.DataFrame({"anger": [0.6], "calm": [0.2], "sad": [0.2]}, index=["b1"])
    >>> mapped, restricted = onto_test_classes(p, labels, ["anger", "sad"])
    >>> mapped.round(2).to_dict("records"), restricted.classes
    ([{'anger': 0.75, 'sad': 0.25}], ['anger', 'sad'])
    """
    run_classes = [c for c in probabilities.columns if c != "fold"]
    class_map = {c: DROP for c in run_classes if c not in classes}
    mapped = map_prediction_classes(probabilities, class_map, classes, multilabel=multilabel)
    return mapped, dataclasses.replace(labels, targets=labels.targets[list(classes)])


def concat_label_sets(named: Mapping[str, LabelSet]) -> LabelSet:
    """One label set from label sets of disjoint items (corpus name -> that corpus's label set).

    Targets, kept masks and counts are stacked (classes absent from a part's counts count 0), the
    accountings summed, the rules joined with ``+`` (``mr+pr``); options the parts share stay options,
    the others go under ``per_corpus`` (name -> its own values). Raises :class:`ConfigError` when the
    parts have different classes or mix multi-label and single-label targets, or make segments.
    """
    parts = list(named.values())
    first = parts[0]
    problems = [
        f"part {i + 1} ({p.rule}) has classes {p.classes}, not {first.classes}"
        for i, p in enumerate(parts)
        if p.classes != first.classes
    ]
    if len({p.multilabel for p in parts}) > 1:
        problems.append("the rules mix multi-label and single-label targets; give every corpus one kind")
    if any(p.segments is not None for p in parts):
        problems.append("rule 'intervals' makes segments; it cannot be one corpus's rule among others")
    if problems:
        raise ConfigError("per-corpus label rules do not fit together: " + "; ".join(problems))
    differ = [k for k in first.options if any(p.options.get(k) != first.options[k] for p in parts)]
    per_corpus = {name: {"rule": p.rule, **{k: p.options.get(k) for k in differ}} for name, p in named.items()}
    accounting = type(first.accounting)(
        *(sum(getattr(p.accounting, f.name) for p in parts) for f in dataclasses.fields(first.accounting))
    )
    return LabelSet(
        pd.concat([p.targets for p in parts]),
        pd.concat([p.kept for p in parts]),
        pd.concat([p.counts for p in parts]).fillna(0),
        "+".join(dict.fromkeys(p.rule for p in parts)),
        accounting,
        {**{k: v for k, v in first.options.items() if k not in differ}, "per_corpus": per_corpus},
        first.multilabel,
    )


def normalisation_groups(items: pd.DataFrame, normalisation: Mapping[str, str]) -> pd.Series:
    """The normalisation group of each item of a merged corpus: its corpus (``corpus``), its speaker
    (``speaker``), or missing (``global``: left to the fold's standardisation), by the item's ``corpus``.

    >>> items = pd.DataFrame({"corpus": ["a", "b", "b"], "speaker": ["a:1", "b:1", "b:2"]}, index=["x", "y", "z"])
    >>> normalisation_groups(items, {"a": "global", "b": "speaker"}).tolist()
    [<NA>, 'b:1', 'b:2']
    """
    corpus = items["corpus"].astype(str)
    modes = corpus.map(dict(normalisation))
    groups = pd.Series(pd.NA, index=items.index, dtype="string")
    groups[modes.eq("corpus").to_numpy()] = corpus[modes.eq("corpus").to_numpy()]
    by_speaker = modes.eq("speaker").to_numpy()
    if by_speaker.any():
        if "speaker" not in items.columns or items.loc[by_speaker, "speaker"].isna().any():
            raise ConfigError(
                "normalisation: speaker needs the item column 'speaker' filled for every item of the corpora that "
                "use it; use normalisation: corpus for corpora without speakers"
            )
        groups[by_speaker] = items.loc[by_speaker, "speaker"].astype(str)
    return groups


def normalise_by_group(values: np.ndarray, groups: pd.Series) -> np.ndarray:
    """Each group's rows z-scored with the group's own mean and standard deviation
    (:class:`voxpop.models.model_input.Standardizer`, dimensions with std < 1e-8 get scale 1); rows of missing
    groups
    unchanged. ``values`` (N, D) or (N, L, D), one row per entry of ``groups``; returns a float32 copy.

    >>> normalise_by_group(np.array([[1.0], [3.0], [10.0]]), pd.Series(["a", "a", pd.NA], dtype="string")).ravel()
    array([-1.,  1., 10.], dtype=float32)
    """
    from voxpop.models.model_input import Standardizer

    out = np.array(values, dtype=np.float32)
    for group in groups.dropna().unique():
        rows = groups.eq(group).fillna(False).to_numpy(dtype=bool)
        out[rows] = Standardizer.fit(np.asarray(values[rows], dtype=np.float64)).apply(values[rows])
    return out


def predict_corpus(
    run: Run,
    corpus: Corpus,
    *,
    store: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    normalisation: str = "global",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Probabilities over the classes of ``run`` (:class:`voxpop.models.saved_runs.Run`) for every item of ``corpus``
    (mean of the fold models).

    Features are extracted from the corpus's ``audio`` column (with ``offset`` / ``duration`` when
    present) exactly as the run recorded, into ``store`` (default: temporary), then z-scored by
    ``normalisation`` as a cross-corpus recipe does (``corpus``: over all extracted items, ``speaker``: per
    speaker, ``global``: unchanged; :func:`normalise_by_group`) before the fold models' own standardisation.
    Returns (probabilities indexed by item, skipped items with the reason). Raises :class:`InputError` when
    the corpus has no audio column, :class:`ConfigError` for ``corpus`` / ``speaker`` on frame features.
    """
    from voxpop.models.inference import ensemble_scorer, features_of_items

    if "audio" not in corpus.items.columns:
        raise InputError(
            f"corpus {corpus.name!r} has no 'audio' item column; import it with its audio folder to score a run on it"
        )
    columns = [c for c in ("audio", "offset", "duration") if c in corpus.items.columns]
    score = ensemble_scorer(run)
    if normalisation != "global":
        groups = normalisation_groups(corpus.items.assign(corpus=corpus.name), {corpus.name: normalisation})
        models_score = score

        def score(x: np.ndarray | list[np.ndarray], items: pd.Index) -> pd.DataFrame:
            if not isinstance(x, np.ndarray):
                raise ConfigError(
                    f"the run z-scores features by {normalisation}, which applies to vector or per-layer features, "
                    "not frames"
                )
            return models_score(normalise_by_group(x, groups.reindex(items)), items)

    return features_of_items(
        run.record.features, corpus.items[columns], run.record.classes, score, store=store, progress=progress
    )


def is_other_corpus(run, corpus_dir: str | Path) -> bool:
    """Whether ``corpus_dir`` is not the corpus directory the run was trained on."""
    return Path(run.record.corpus).resolve() != Path(corpus_dir).resolve()


def score_on_corpus(
    run: Run,
    test: RecordedTest,
    classes: Sequence[str],
    *,
    store: str | Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`predict_corpus` with ``test``'s normalisation, then :func:`map_prediction_classes` with its class
    map: (predictions over ``classes`` for the test corpus's items, ready for
    :func:`voxpop.evaluation.results.evaluate_predictions`; items skipped for their audio). ``test``: from
    :func:`as_recorded`."""
    probabilities, skipped = predict_corpus(run, test.corpus, store=store, normalisation=test.normalisation)
    return map_prediction_classes(probabilities, test.class_map, classes, multilabel=run.record.multilabel), skipped


@dataclasses.dataclass
class RecordedTest:
    """A test corpus prepared as a run's study treated its corpora (:func:`as_recorded`).

    ``corpus``: the corpus to label and predict (namespaced and class-mapped when it is one of the study's
    corpora); ``normalisation``: ``global``, ``corpus`` or ``speaker``; ``class_map``: run class -> test class
    (or ``drop``) for :func:`map_prediction_classes`; ``matched``: the study's name for the corpus, if any.
    """

    corpus: Corpus
    normalisation: str
    class_map: dict[str, str]
    matched: str | None = None


def as_recorded(run: Run, corpus: Corpus, directory: str | Path, class_map: Mapping[str, str]) -> RecordedTest:
    """The test corpus at ``directory`` (loaded as ``corpus``) treated exactly as ``run``'s study treated its
    corpora, so that ``voxpop evaluate RUN --corpus DIR`` scores what a cross-corpus recipe would.

    A run of one corpus recorded no treatment: the corpus and ``class_map`` as given, no normalisation. A
    run of a recipe with ``corpora``: when ``directory`` is one of them, its recorded class map is applied
    to the corpus's labels (:func:`voxpop.corpus.merge.mapped_corpus`: the item ids become ``NAME:ID`` as in the
    study; its classes are the study's test classes, ``RunRecord.test_classes``) and its recorded
    normalisation is used; the run's classes then map onto the test classes of the
    same name (run classes the test corpus lacks are dropped), and a ``class_map`` given besides must say
    the same in the corpus's own labels. Another corpus gets the one normalisation every corpus of the
    study had, and ``class_map`` as given.

    Raises:
        ConfigError: naming what differs, when ``class_map`` contradicts the recorded class map, or when
            the study normalised its corpora differently and ``directory`` is none of them (no recorded
            normalisation applies: score it through a cross-corpus recipe that lists it).
    """
    from voxpop.corpus.merge import MergeSource, mapped_corpus

    recorded = run.record.corpora
    if not recorded:
        return RecordedTest(corpus, "global", dict(class_map))
    here = str(Path(directory).resolve())
    matched = next((name for name, entry in recorded.items() if entry.path == here), None)
    if matched is None:
        modes = {entry.normalisation for entry in recorded.values()}
        if len(modes) > 1:
            listed = ", ".join(f"{name}: {entry.normalisation}" for name, entry in recorded.items())
            raise ConfigError(
                f"run {run.record.name!r} normalised its corpora' features differently ({listed}), and {directory} "
                "is none of them, so no recorded normalisation applies to it; score it with a cross-corpus recipe "
                "that lists it under corpora (with its normalisation) and protocol.cross_corpus.test"
            )
        return RecordedTest(corpus, modes.pop(), dict(class_map))
    entry = recorded[matched]
    test_corpus = mapped_corpus(MergeSource(corpus, matched, entry.class_map), run.record.test_classes)
    mapping = {c: c if c in test_corpus.classes else DROP for c in run.record.classes}
    differs = [
        f"{run_class}={label} (the study " + (
            f"tested {run_class!r} as a class of {matched}" if label == DROP
            else f"mapped {label!r} of {matched} onto {entry.class_map.get(label, label)!r}"
        ) + ")"
        for run_class, label in class_map.items()
        if ((mapping.get(run_class) != DROP) if label == DROP else entry.class_map.get(label, label) != run_class)
    ]  # fmt: skip
    if differs:
        raise ConfigError(
            f"--class-map differs from the class map run {run.record.name!r} recorded for corpus {matched!r} "
            f"({entry.class_map or 'none'}): {'; '.join(differs)}. Leave --class-map out to use the recorded one."
        )
    return RecordedTest(test_corpus, entry.normalisation, mapping, matched)
