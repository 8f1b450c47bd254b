"""One protocol for every kind of label set, and the one function that builds a label set from its spec.

A label set is **categorical** (:class:`~voxpop.labels.labelset.LabelSet`: classes, single- or multi-label)
or **continuous** (:class:`~voxpop.labels.continuous.ContinuousLabelSet`: dimensions such as arousal and
valence). Both offer the same surface, :class:`LabelSetProtocol`: ``kind`` (:data:`TARGET_KINDS`), ``names``
(classes or dimensions), ``targets`` (items x names), ``kept``, ``multilabel``, ``accounting``, ``save`` and a
``load`` class method (:func:`load_label_set` reads a file of either kind). Code above the labels package
(training, evaluation, the study, the report) reads this surface and dispatches on ``kind`` where classes and
dimensions differ; it never asks which recipe it is. :func:`build_label_set` builds either kind from a recipe
entry's spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from voxpop.core.errors import ConfigError
from voxpop.corpus.corpus import Corpus
from voxpop.labels.continuous import ContinuousLabelSet, ContinuousSpec
from voxpop.labels.disagreement import DISAGREEMENT_RULE, DisagreementSpec, disagreement_labels
from voxpop.labels.label_files import file_kind
from voxpop.labels.label_files import load_label_set as load_label_set  # re-exported: the protocol's load
from voxpop.labels.labelset import Accounting, LabelSet
from voxpop.labels.rules import make_labels

TARGET_KINDS = ("categorical", "continuous")
"""The kinds of label set: classes (one distribution, one-hot or multi-hot vector per item) or dimensions
(one value per dimension and item)."""

FILE_RULE = "file"
"""The label "rule" of a saved label set (``{rule: file, path: labels.parquet}``, from ``voxpop labels``)."""


class LabelSetProtocol(Protocol):
    """What every label set offers (:class:`LabelSet` and :class:`ContinuousLabelSet`)."""

    kind: str
    multilabel: bool

    @property
    def names(self) -> list[str]: ...

    @property
    def targets(self) -> pd.DataFrame: ...

    @property
    def kept(self) -> pd.Series: ...

    @property
    def accounting(self) -> Accounting: ...

    def save(self, path: str | Path) -> Path: ...


def spec_kind(spec: Mapping[str, Any] | Any) -> str:
    """The target kind a label-set spec gives: ``continuous`` for a gold standard of dimensions
    (:class:`ContinuousSpec`, or a mapping with ``gold_standard`` and no ``rule``) and for the raters'
    disagreement (``rule: disagreement``, :mod:`voxpop.labels.disagreement`), else ``categorical``.

    Args:
        spec: a recipe's label-set entry (a :class:`ContinuousSpec`, a rule spec, or its ``config()`` mapping).

    Returns:
        One of :data:`TARGET_KINDS`.

    Example:
        >>> spec_kind({"gold_standard": "ewe"}), spec_kind({"rule": "likert", "gold_standard": "mean"})
        ('continuous', 'categorical')
        >>> spec_kind({"rule": "disagreement"})
        'continuous'
    """
    if isinstance(spec, ContinuousSpec | DisagreementSpec):
        return "continuous"
    if isinstance(spec, Mapping):
        if spec.get("rule") == DISAGREEMENT_RULE:
            return "continuous"
        return "continuous" if "gold_standard" in spec and "rule" not in spec else "categorical"
    return "categorical"


def label_kind(spec: Mapping[str, Any] | Any) -> str:
    """The target kind of a label-set entry: :func:`spec_kind`, except that a saved label set (``rule: file``)
    gives the kind its file records (a continuous one from ``voxpop labels`` or a study's cache included).

    Args:
        spec: a recipe's label-set entry or its ``config()`` mapping.

    Returns:
        One of :data:`TARGET_KINDS`.
    """
    rule = spec.get("rule") if isinstance(spec, Mapping) else getattr(spec, "rule", None)
    if rule == FILE_RULE:
        return file_kind(spec.get("path") if isinstance(spec, Mapping) else spec.path)
    return spec_kind(spec)


def build_label_set(
    corpus: Corpus,
    spec: Mapping[str, Any],
    *,
    classes: list[str] | None = None,
    class_map: Mapping[str, str] | None = None,
    best_threshold: float | None = None,
) -> LabelSet | ContinuousLabelSet:
    """Build the label set a recipe entry describes: the one function every labels stage and check calls.

    Args:
        corpus: the corpus whose ratings are aggregated.
        spec: the entry's ``config()``: a rule and its options (``rule``, ``condition``, ``pool``, rule
            options), a saved label set (``rule: file``, ``path``), a gold standard of dimensions
            (:class:`ContinuousSpec` keys) or the raters' disagreement (:class:`DisagreementSpec` keys).
        classes: categorical rules: the classes to keep (None: every class of the corpus).
        class_map: categorical rules: label -> class (or ``drop``) before counting.
        best_threshold: the threshold sweep's best threshold, for ``threshold: best``.

    Returns:
        A :class:`LabelSet` (rules, label files) or a :class:`ContinuousLabelSet` (gold standards, disagreement).

    Raises:
        ConfigError: ``threshold: best`` without a defined best threshold, or a bad option (from the rule).
        InputError: a label file that cannot be read.
    """
    if spec.get("rule") == DISAGREEMENT_RULE:
        return DisagreementSpec.model_validate(dict(spec)).build(corpus, classes, class_map)
    if spec_kind(spec) == "continuous":
        return ContinuousSpec.model_validate(dict(spec)).build(corpus)
    options = dict(spec)
    rule = options.pop("rule")
    if rule == FILE_RULE:
        return load_label_set(options["path"])
    options.pop("path", None)
    if options.get("threshold") == "best":
        if best_threshold is None or best_threshold != best_threshold:  # None or NaN
            raise ConfigError("threshold 'best': the threshold sweep found no threshold with a defined mean kappa")
        options["threshold"] = best_threshold
    return make_labels(corpus, rule, classes=classes, class_map=class_map, **options)


def labels(corpus: Corpus, rule: str | None = None, **options: Any) -> LabelSet | ContinuousLabelSet:
    """The label set of ``corpus`` by a categorical ``rule``, or, without one, a gold standard of dimensions.

    What ``vp.labels(...)`` calls: ``vp.labels(corpus, "mr", condition="voice")`` is :func:`make_labels`;
    ``vp.labels(corpus, gold_standard="ewe", dimensions=["arousal"])`` is a :class:`ContinuousSpec` built on
    ``corpus``, as a recipe's ``labels`` entry with ``gold_standard`` and no ``rule``.

    Args:
        corpus: the corpus whose ratings are aggregated.
        rule: a rule of :data:`voxpop.labels.registry.RULES`, ``disagreement``
            (:func:`~voxpop.labels.disagreement.disagreement_labels`); None for a gold standard of dimensions.
        **options: the rule's options (:func:`make_labels`), or :class:`ContinuousSpec`'s keys
            (``gold_standard``, ``dimensions``, ``slot``, ``condition``, ``min_shared``,
            ``min_ratings_per_rater``, ``rescale``).

    Returns:
        A :class:`LabelSet` (a rule) or a :class:`ContinuousLabelSet` (a gold standard).

    Raises:
        ConfigError: neither a rule nor ``gold_standard``; a bad option, each named (``gold_standard: ...``).
        InputError: as :func:`~voxpop.labels.continuous.gold_standard` for ratings it cannot use.

    Example:
        >>> from voxpop.testing import demo_corpus
        >>> corpus = demo_corpus("demo", size="tiny")
        >>> labels(corpus, gold_standard="mean", dimensions=["arousal"], condition="voice").names
        ['arousal']
    """
    if rule == DISAGREEMENT_RULE:
        return disagreement_labels(corpus, **options)
    if rule is not None:
        return make_labels(corpus, rule, **options)
    if "gold_standard" not in options:
        raise ConfigError(
            "labels: give a rule (mr, pr, ar, ...: labels(corpus, 'mr')) for classes, or gold_standard= (mean, "
            "median, ewe, znorm) with dimensions= for continuous targets."
        )
    import pydantic

    try:
        spec = ContinuousSpec.model_validate(options)
    except pydantic.ValidationError as exc:
        problems = [
            f"{'.'.join(map(str, e['loc'])) or 'labels'}: "
            + ("unknown option of a gold standard (accepted: " + ", ".join(ContinuousSpec.model_fields) + ")"
               if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]  # fmt: skip
        raise ConfigError("labels: " + "; ".join(problems)) from None
    return spec.build(corpus)
