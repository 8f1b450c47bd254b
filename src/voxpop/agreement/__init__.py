"""Agreement between raters: Krippendorff's alpha, Fleiss' and Cohen's kappas, Pearson, CCC, ICC, the
threshold sweep, the multi-label confusion matrix, the per-slot agreement table and the annotation budget.

The face is lazy (PEP 562). The package's module object is callable
(:func:`voxpop.core.faces.callable_module`): ``voxpop.agreement(corpus, **options)`` is
:func:`agreement_table`, so that ``import voxpop as vp; vp.agreement(corpus)`` works while
``voxpop.agreement.reliability`` and the other submodules import as usual.
"""

from voxpop.core.faces import callable_module, lazy_face

_EXPORTS = {
    "agreement_table": "tables",
    "dimension_agreement": "tables",
    "compare_labelsets": "tables",
    "compare_conditions": "tables",
    "comparison_matrix": "tables",
    "TABLE_COLUMNS": "tables",
    "krippendorff_alpha": "reliability",
    "alpha_ci": "reliability",
    "LEVELS": "reliability",
    "fleiss_kappa": "kappas",
    "cohen_kappa": "kappas",
    "ccc": "correlations",
    "icc": "correlations",
    "pairwise_pearson": "correlations",
    "Sweep": "threshold_sweep",
    "mlcm": "confusion",
    "annotation_budget": "budget",
    "reannotation_ranking": "budget",
    "posterior_ranking": "budget",
    "dimension_budget": "budget_dimensions",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)

_CALL_DOC = """Agreement of ``corpus``'s ratings, one row per statistic (:func:`agreement_table`).

Args:
    corpus: the :class:`~voxpop.Corpus` whose ratings are compared.
    **options: ``slot`` (default ``intensity`` when rated, else ``primary``), ``condition``, ``by`` (an item
        column to group by), ``level`` (nominal / ordinal / interval / ratio), ``n_boot`` (bootstrap
        resamples of alpha's interval), ``seed``, ``pearson``, ``icc``, ``ccc``, ``fleiss``.

Returns:
    A DataFrame with :data:`TABLE_COLUMNS`: group, condition, slot, label, statistic (Krippendorff's alpha,
    Fleiss' kappa, ...), level, method, pair, ``value`` (unitless, at most 1), ``ci_low`` / ``ci_high``,
    ``items`` (items with two ratings or more), ``unpairable``, ``ratings`` and ``note`` (why a value is
    undefined).

Raises:
    VoxpopError: the slot has no ratings.
    ConfigError: unknown level or Fleiss method, or an ordinal / interval level without a declared order.

Example:
    >>> import voxpop as vp
    >>> vp.agreement(corpus, condition="voice")[["statistic", "value"]]  # doctest: +SKIP
"""
callable_module(__name__, "agreement_table", _CALL_DOC)
