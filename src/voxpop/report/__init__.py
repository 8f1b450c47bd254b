"""Reports: the study report (HTML / Markdown / LaTeX / CSV), its plots and cautions.

The face is lazy (PEP 562): ``import voxpop.report`` imports no matplotlib.
"""

from voxpop.core.faces import lazy_face

_EXPORTS = {
    "write_study_report": "study",
    "build_report": "study",
    "study_cautions": "cautions",
    "format_cautions": "cautions",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
