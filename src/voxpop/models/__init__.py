"""Models: specs (heads, losses, training settings), cross-validation protocols, training, saved runs,
export and inference.

The face is lazy (PEP 562): ``import voxpop.models`` imports no torch, Lightning or scikit-learn; a head's
module loads when a model is trained.
"""

from voxpop.core.faces import lazy_face

_EXPORTS = {
    "ModelSpec": "specs",
    "TrainConfig": "specs",
    "HEADS": "specs",
    "CLASSICAL": "specs",
    "LOSSES": "specs",
    "RATER_HEADS": "specs",
    "Fold": "protocols",
    "PROTOCOLS": "protocols",
    "make_folds": "protocols",
    "CrossValidation": "cross_validation",
    "cross_validate": "cross_validation",
    "Run": "saved_runs",
    "find_runs": "saved_runs",
    "load_run": "saved_runs",
    "export_run": "export",
    "predict_exported": "export",
    "predict_files": "inference",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
