"""voxpop.evaluation.results and voxpop.evaluation.predictions: the pooled out-of-fold score with the per-fold mean and
standard
deviation beside it (against scikit-learn on a small hand-made table), and the Predictions type on disk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from voxpop.core.errors import ConfigError, InputError
from voxpop.core.formatting import format_result
from voxpop.evaluation.predictions import Predictions, load_predictions, predicted_classes, save_predictions
from voxpop.evaluation.results import evaluate_out_of_fold, evaluate_pooled, fold_summary
from voxpop.labels.labelset import Accounting, LabelSet

CLASSES = ["anger", "happy", "sad"]
# 12 items in 3 folds of 4 (a: items 0-3, b: 4-7, c: 8-11); true class i mod 3; predicted classes by hand
TRUE = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]
PRED = [0, 1, 2, 0, 1, 1, 0, 2, 2, 1, 1, 0]
FOLDS = ["a"] * 4 + ["b"] * 4 + ["c"] * 4


def labels(dropped: tuple[int, ...] = ()) -> LabelSet:
    ids = [f"i{k:02d}" for k in range(len(TRUE))]
    targets = pd.DataFrame(np.eye(3)[TRUE], index=ids, columns=CLASSES)
    kept = pd.Series([k not in dropped for k in range(len(TRUE))], index=ids)
    targets.loc[~kept.to_numpy()] = 0.0
    return LabelSet(targets, kept, targets * 3, "mr", Accounting(12, int(kept.sum()), 36, 36))


def predictions() -> pd.DataFrame:
    scores = np.full((len(PRED), 3), 0.1) + 0.7 * np.eye(3)[PRED]  # rows sum to 1: a softmax output
    ids = [f"i{k:02d}" for k in range(len(TRUE))]
    return pd.DataFrame(scores, index=ids, columns=CLASSES).assign(fold=FOLDS)


def per_fold(score) -> list[float]:
    folds = np.asarray(FOLDS)
    return [score(np.asarray(TRUE)[folds == f], np.asarray(PRED)[folds == f]) for f in ("a", "b", "c")]


def test_pooled_score_has_the_per_fold_mean_and_sd_beside_it():
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    table = evaluate_pooled(predictions(), labels(), n_boot=0).set_index("metric")
    uar = per_fold(lambda t, p: recall_score(t, p, average="macro", labels=sorted(set(t))))
    accuracy = per_fold(accuracy_score)
    macro_f1 = per_fold(lambda t, p: f1_score(t, p, average="macro", labels=sorted(set(t) | set(p))))
    assert accuracy == [1.0, 0.5, 0.5]  # by hand: a all right; b and c 2 of 4 each
    for metric, values in (("uar", uar), ("accuracy", accuracy), ("macro_f1", macro_f1)):
        row = table.loc[metric]
        assert row["fold_mean"] == pytest.approx(np.mean(values))
        assert row["fold_sd"] == pytest.approx(np.std(values, ddof=1))
        assert row["n_folds"] == 3
    assert table.loc["accuracy", "value"] == pytest.approx(accuracy_score(TRUE, PRED))  # pooled: 8 of 12
    assert table.loc["uar", "value"] == pytest.approx(recall_score(TRUE, PRED, average="macro"))


def test_a_fold_without_kept_items_is_not_counted_and_per_class_f1_counts_where_defined():
    from sklearn.metrics import f1_score

    dropped = tuple(range(8, 12))  # fold c has no kept item
    table = fold_summary(predictions(), labels(dropped)).set_index("metric")
    assert table.loc["accuracy", "n_folds"] == 2
    assert table.loc["accuracy", "fold_mean"] == pytest.approx(0.75)
    assert table.loc["accuracy", "fold_sd"] == pytest.approx(np.std([1.0, 0.5], ddof=1))
    sad = per_fold(lambda t, p: f1_score(t, p, labels=[2], average=None, zero_division=0)[0])[:2]
    assert sad == [1.0, 0.0]  # by hand: fold a predicts its sad item; fold b misses it and calls a happy item sad
    assert table.loc["f1[sad]", "n_folds"] == 2
    assert table.loc["f1[sad]", "fold_mean"] == pytest.approx(np.mean(sad))


def test_predictions_without_folds_have_no_spread_and_overlapping_folds_are_scored_one_by_one():
    pooled = evaluate_pooled(predictions().drop(columns="fold"), labels(), n_boot=0)
    assert pooled["fold_mean"].isna().all() and (pooled["n_folds"] == 0).all()
    overlapping = pd.concat([predictions().assign(fold="x"), predictions().assign(fold="y")])
    assert list(evaluate_out_of_fold(overlapping, labels(), n_boot=0)) == ["x", "y"]
    assert "fold_mean" in evaluate_out_of_fold(predictions(), labels(), n_boot=0)["pooled"].columns


def test_results_text_shows_the_interval_and_the_fold_spread():
    assert format_result(0.58333, 0.4, 0.75, 0.58333, 0.38188) == "0.583 [0.400, 0.750] (folds 0.583 ± 0.382)"
    assert format_result(0.5, float("nan"), float("nan")) == "0.500"


def test_predictions_type_round_trip_and_checks(tmp_path):
    table = predictions()
    save_predictions(Predictions(table), tmp_path / "p.parquet")
    back = load_predictions(tmp_path / "p.parquet")
    assert back.classes == CLASSES and not back.multilabel and back.kind == "categorical"
    assert back.folds.tolist() == FOLDS and back.scores.shape == (12, 3)
    assert predicted_classes(back.scores).tolist() == [CLASSES[k] for k in PRED]
    dims = pd.DataFrame({"arousal": [0.2, -0.4], "valence": [0.1, 0.3]}, index=["x", "y"])
    save_predictions(Predictions(dims, kind="continuous"), tmp_path / "d.parquet")
    assert load_predictions(tmp_path / "d.parquet").kind == "continuous"
    with pytest.raises(ConfigError, match="cannot be multi-label"):
        Predictions(dims, multilabel=True, kind="continuous")
    with pytest.raises(ConfigError, match="choose one of categorical, continuous"):
        Predictions(dims, kind="ordinal")
    with pytest.raises(InputError, match=r"item 'y', column 'valence'"):
        Predictions(dims.assign(valence=[0.1, np.nan]))
