"""Labels: the rule registry, the rules (MR, PR, AR, primary / secondary, Likert, intervals, learned), the
categorical :class:`LabelSet` and the continuous one, consensus and segments.

The face is lazy (PEP 562). The package's module object is callable
(:func:`voxpop.core.faces.callable_module`): ``voxpop.labels(corpus, rule, **options)`` is
:func:`~voxpop.labels.label_sets.labels` (:func:`make_labels` for a rule, a gold standard of dimensions
without one), so that ``import voxpop as vp; vp.labels(corpus, "mr")`` works while
``voxpop.labels.registry`` and the other submodules import as usual.

Example:
    >>> import voxpop.labels
    >>> voxpop.labels.RULES[:3]
    ('mr', 'pr', 'ar')
"""

from voxpop.core.faces import callable_module, lazy_face

_EXPORTS = {
    "make_labels": "rules",
    "accounting_table": "rules",
    "LabelSet": "labelset",
    "Accounting": "labelset",
    "ContinuousLabelSet": "continuous",
    "ContinuousSpec": "continuous",
    "disagreement_labels": "disagreement",
    "LabelSetProtocol": "label_sets",
    "TARGET_KINDS": "label_sets",
    "build_label_set": "label_sets",
    "labels": "label_sets",
    "load_label_set": "label_files",
    "spec_kind": "label_sets",
    "RULES": "registry",
    "REGISTRY": "registry",
    "OPTIONS": "registry",
    "Rule": "registry",
    "Option": "registry",
    "get_rule": "registry",
    "top_class": "decisions",
    "compare_consensus": "consensus",
    "RaterVotes": "rater_votes",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)

_CALL_DOC = """Label ``corpus`` by ``rule`` (:func:`make_labels`), or by a gold standard of dimensions without one.

Args:
    corpus: the :class:`~voxpop.Corpus` whose ratings are counted.
    rule: a rule of :data:`RULES` (``mr``, ``pr``, ``ar``, ``ar-test``, ``primary``, ``secondary``,
        ``likert``, ``intervals``, ...); None for continuous targets (give ``gold_standard``).
    **options: ``condition`` (one condition, or a list with ``pool=True``), ``classes``, ``class_map``
        and the rule's options (``denominator``, ``min_agreement``, ``tie_policy``, ``seed``, ...); without a
        rule, :class:`ContinuousSpec`'s keys (``gold_standard``: mean, median, ewe or znorm, ``dimensions``,
        ``condition``, ``rescale``, ...).

Returns:
    A :class:`LabelSet` (or :class:`ContinuousLabelSet`): ``targets`` (items x classes, each row a
    distribution in [0, 1], or a one-hot / multi-hot vector), ``kept`` (bool per item), ``counts`` and the
    data / rating-loss ``accounting``.

Raises:
    ConfigError: unknown rule, an option of another rule, a bad value, several conditions and no choice,
        neither a rule nor ``gold_standard``.
    VoxpopError: the rule needs rater ids the corpus lacks.

Example:
    >>> import voxpop as vp
    >>> labels = vp.labels(corpus, "mr", condition="voice")  # doctest: +SKIP
    >>> labels.targets.shape  # doctest: +SKIP
    (48, 4)
    >>> dims = vp.labels(corpus, gold_standard="ewe", dimensions=["arousal", "valence"])  # doctest: +SKIP
    >>> dims.names  # doctest: +SKIP
    ['arousal', 'valence']
"""
callable_module(__name__, "labels", _CALL_DOC)
