"""Evaluation: metrics, bootstrap intervals, predictions tables, regression metrics, significance, chance
levels, decision tuning and analysis, calibration against the raters and the raters' ceiling.

The face is lazy (PEP 562): ``import voxpop.evaluation`` imports no scipy.
"""

from voxpop.core.faces import lazy_face

_EXPORTS = {
    "evaluate_predictions": "results",
    "evaluate_out_of_fold": "results",
    "evaluate_pooled": "results",
    "evaluate": "scoring",
    "Predictions": "predictions",
    "load_predictions": "predictions",
    "save_predictions": "predictions",
    "predicted_classes": "predictions",
    "SINGLE_LABEL_METRICS": "metrics",
    "MULTI_LABEL_METRICS": "metrics",
    "confusion_matrix": "metrics",
    "uar": "metrics",
    "macro_f1": "metrics",
    "accuracy": "metrics",
    "REGRESSION_METRICS": "regression",
    "regression_table": "regression",
    "expected_calibration_error": "calibration",
    "brier_score": "calibration",
    "negative_log_likelihood": "calibration",
    "calibration_scores": "calibration",
    "leave_one_rater_out": "ceiling",
    "chance_levels": "chance",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
