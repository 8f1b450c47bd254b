"""Labels: the rule registry, the rules (MR, PR, AR, primary / secondary, Likert, intervals, learned), the
categorical :class:`LabelSet` and the continuous one, consensus and segments.

The face is lazy (PEP 562). The package's module object is callable
(:func:`voxpop.core.faces.callable_module`): ``voxpop.labels(corpus, rule, **options)`` is
:func:`make_labels`, so that ``import voxpop as vp; vp.labels(corpus, "mr")`` works while
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
    "RULES": "registry",
    "REGISTRY": "registry",
    "OPTIONS": "registry",
    "Rule": "registry",
    "Option": "registry",
    "get_rule": "registry",
    "top_class": "decisions",
    "compare_consensus": "consensus",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
callable_module(
    __name__,
    "make_labels",
    "Label ``corpus`` by ``rule``: ``voxpop.labels(corpus, rule, **options)`` is :func:`make_labels` (a LabelSet).",
)
