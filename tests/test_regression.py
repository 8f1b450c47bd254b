"""Dimensional regression: metrics against numpy / scipy formulas, bootstrap intervals, regressors that learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from voxpop.core.errors import ConfigError, InputError
from voxpop.evaluation.regression import regression_scores, regression_table
from voxpop.evaluation.resampling import resample_indices
from voxpop.models.specs import TrainConfig


def _ccc(x: np.ndarray, y: np.ndarray) -> float:
    return 2 * np.mean((x - x.mean()) * (y - y.mean())) / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def _tables(n: int = 30, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    index = pd.Index([f"i{k}" for k in range(n)], name="item")
    t = pd.DataFrame(rng.uniform(1, 5, (n, 2)), index=index, columns=["arousal", "valence"])
    p = 0.7 * t + rng.normal(0.6, 0.5, (n, 2))
    return p, t


def test_scores_equal_numpy_scipy_and_sklearn():
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    p, t = _tables()
    scores = regression_scores(p, t)
    for d in ("arousal", "valence"):
        x, y = p[d].to_numpy(), t[d].to_numpy()
        assert scores.loc[d, "ccc"] == pytest.approx(_ccc(x, y), abs=1e-12)
        assert scores.loc[d, "pearson"] == pytest.approx(scipy.stats.pearsonr(x, y).statistic, abs=1e-12)
        assert scores.loc[d, "mae"] == pytest.approx(mean_absolute_error(y, x), abs=1e-12)
        assert scores.loc[d, "rmse"] == pytest.approx(np.sqrt(mean_squared_error(y, x)), abs=1e-12)
    assert scores.loc["mean", "ccc"] == pytest.approx(scores.loc[["arousal", "valence"], "ccc"].mean())


def test_bootstrap_intervals_are_percentiles_over_plain_resamples():
    p, t = _tables()
    table = regression_table(p, t, n_boot=200, seed=4).set_index(["dimension", "metric"])
    draws = resample_indices(t.to_numpy(), 200, 4)
    assert draws.shape == (200, 30)
    per_draw = np.array([_ccc(p["valence"].to_numpy()[d], t["valence"].to_numpy()[d]) for d in draws])
    low, high = np.quantile(per_draw, [0.025, 0.975])
    assert table.loc[("valence", "ccc"), "low"] == pytest.approx(low, abs=1e-12)
    assert table.loc[("valence", "ccc"), "high"] == pytest.approx(high, abs=1e-12)
    mean_draws = [
        np.mean([_ccc(p[c].to_numpy()[d], t[c].to_numpy()[d]) for c in ("arousal", "valence")]) for d in draws
    ]
    assert table.loc[("mean", "ccc"), "high"] == pytest.approx(np.quantile(mean_draws, 0.975), abs=1e-12)
    assert (table["n_items"] == 30).all()


def test_speaker_cluster_intervals_resample_whole_speakers():
    """groups: each resample draws the G speakers with replacement (integers(0, G, (n_boot, G)) of the seed)
    and scores all items of every drawn speaker; the interval is the percentiles of those scores."""
    p, t = _tables(n=12, seed=1)
    speakers = pd.Series([f"s{k // 3}" for k in range(12)], index=t.index)  # 4 speakers, items in speaker order
    table = regression_table(p, t, n_boot=300, seed=2, groups=speakers).set_index(["dimension", "metric"])
    drawn = np.random.default_rng(2).integers(0, 4, (300, 4))
    rows = [np.concatenate([np.arange(3 * g, 3 * g + 3) for g in row]) for row in drawn]
    per_draw = np.array([_ccc(p["arousal"].to_numpy()[r], t["arousal"].to_numpy()[r]) for r in rows])
    low, high = np.quantile(per_draw, [0.025, 0.975])
    assert table.loc[("arousal", "ccc"), "low"] == pytest.approx(low, abs=1e-12)
    assert table.loc[("arousal", "ccc"), "high"] == pytest.approx(high, abs=1e-12)
    items = regression_table(p, t, n_boot=300, seed=2).set_index(["dimension", "metric"])
    assert table.loc[("arousal", "ccc"), "low"] != items.loc[("arousal", "ccc"), "low"]
    assert table.loc[("arousal", "ccc"), "value"] == items.loc[("arousal", "ccc"), "value"]  # the point estimate


def test_misaligned_tables_are_refused():
    p, t = _tables()
    with pytest.raises(InputError, match="same items in the same order"):
        regression_scores(p.iloc[::-1], t)
    with pytest.raises(InputError, match="no column for dimension"):
        regression_scores(p[["arousal"]], t)


@pytest.mark.parametrize(("head", "loss"), [("mlp", "ccc"), ("linear", "mse"), ("ridge", "mse"), ("svr", "mse")])
def test_regressors_learn_a_linear_target(head, loss):
    from voxpop.models.training import fit

    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 5)).astype(np.float32)
    y = pd.DataFrame({"arousal": 3 + x[:, 0], "valence": 3 - 0.5 * x[:, 1]})
    monitor = "ccc" if head == "mlp" else "loss"
    config = TrainConfig(lr=0.01, epochs=60, batch_size=16, progress_bar=False, monitor=monitor, patience=20)
    options = {"mlp": {"hidden_dim": 32, "n_hidden": 1, "dropout": 0.0}, "svr": {"kernel": "linear"}}.get(head, {})
    model = fit(x[:80], y[:80], x[80:100], y[80:100], head=head, loss=loss, config=config, head_options=options)
    assert model.spec.regression and model.spec.classes == ["arousal", "valence"]
    predicted = model.predict(x[100:])
    assert predicted.shape == (20, 2)
    ccc = [_ccc(predicted[:, d], y.to_numpy()[100:, d]) for d in range(2)]
    assert min(ccc) > 0.8, ccc
    with pytest.raises(ConfigError, match="use predict, not predict_proba"):
        model.predict_proba(x[:2])


def test_regression_mismatches_are_clear_errors():
    from voxpop.models.training import fit

    x = np.zeros((6, 2), dtype=np.float32)
    y = pd.DataFrame({"arousal": [1.0, 2, 3, 4, 5, np.nan]})
    with pytest.raises(InputError, match="missing or infinite dimension value"):
        fit(x, y, head="linear", loss="mse", config=TrainConfig(progress_bar=False))
    with pytest.raises(ConfigError, match="use loss 'mse'"):
        fit(x, y.fillna(1), head="ridge", loss="ccc")
    with pytest.raises(ConfigError, match="does not apply to a regressor"):
        fit(x, y.fillna(1), head="linear", loss="mse", config=TrainConfig(monitor="uar", progress_bar=False))


@pytest.mark.parametrize(("head", "loss"), [("linear", "ccc"), ("svr", "mse")])
def test_a_saved_regressor_predicts_the_same_after_loading(tmp_path, head, loss):
    from voxpop.models.trained_model import TrainedModel
    from voxpop.models.training import fit

    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = pd.DataFrame({"arousal": 3 + x[:, 0], "valence": 2 + x[:, 2]})
    model = fit(x, y, head=head, loss=loss, config=TrainConfig(epochs=3, progress_bar=False))
    loaded = TrainedModel.load(model.save(tmp_path / "m"))
    assert loaded.spec.regression
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), atol=1e-6)


def test_multitask_loss_is_the_weighted_sum_of_its_two_losses():
    import torch

    from voxpop.models.losses import make_loss

    y = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, 1.0], [0.5, 0.5, 2.0]])
    z = torch.tensor([[2.0, 0.0, 2.5], [0.0, 1.0, 1.5], [1.0, 1.0, 1.0]], dtype=torch.float64)
    loss = make_loss("multitask", y, ["A", "S", "arousal"], dimensions=["arousal"], task_weights=[2, 1])
    log_softmax = z[:, :2].numpy() - np.log(np.exp(z[:, :2].numpy()).sum(axis=1, keepdims=True))
    ce = -(y[:, :2] * log_softmax).sum(axis=1).mean()
    expected = 2 * ce + (1 - _ccc(z[:, 2].numpy(), y[:, 2]))
    assert loss(z, torch.from_numpy(y)).item() == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ConfigError, match="must name the last target columns"):
        make_loss("multitask", y, ["A", "S", "arousal"], dimensions=["valence"])


def test_a_multitask_head_predicts_classes_and_dimensions_together(tmp_path):
    from voxpop.models.trained_model import TrainedModel
    from voxpop.models.training import fit

    rng = np.random.default_rng(5)
    x = rng.normal(size=(160, 4)).astype(np.float32)
    angry = x[:, 0] > 0
    y = pd.DataFrame({"anger": angry * 1.0, "sad": 1.0 - angry, "arousal": 3 + x[:, 1], "valence": 3 - x[:, 2]})
    config = TrainConfig(lr=0.01, epochs=60, batch_size=16, progress_bar=False, monitor="ccc", patience=20)
    options = {"dimensions": ["arousal", "valence"], "dimension_loss": "ccc", "task_weights": [1, 1]}
    model = fit(
        x[:100], y[:100], x[100:130], y[100:130], head="mlp", loss="multitask", config=config,
        head_options={"hidden_dim": 32, "n_hidden": 1, "dropout": 0.0}, loss_options=options,
    )  # fmt: skip
    assert model.spec.n_dimensions == 2 and not model.spec.regression
    probs, values = model.predict_proba(x[130:]), model.predict(x[130:])
    assert probs.shape == (30, 2) and np.allclose(probs.sum(axis=1), 1.0)
    assert (probs.argmax(axis=1) == (~angry[130:]).astype(int)).mean() > 0.85
    assert min(_ccc(values[:, d], y.to_numpy()[130:, 2 + d]) for d in range(2)) > 0.8
    loaded = TrainedModel.load(model.save(tmp_path / "m"))
    np.testing.assert_allclose(loaded.predict(x[130:]), values, atol=1e-6)
