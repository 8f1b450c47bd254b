"""Agreement between raters: Krippendorff's alpha, Fleiss' and Cohen's kappas, Pearson, CCC, ICC, the
threshold sweep, the multi-label confusion matrix, and the per-slot agreement table.

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
    "threshold_sweep": "threshold_sweep",
    "Sweep": "threshold_sweep",
    "mlcm": "confusion",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
callable_module(
    __name__,
    "agreement_table",
    "Agreement of ``corpus``'s ratings: ``voxpop.agreement(corpus, **options)`` is :func:`agreement_table`.",
)
