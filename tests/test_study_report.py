"""The study report's result tables and figures: chance rows, one colour scale per metric, directions in the
captions, bars instead of one-column heatmaps, readable headers, CCC intervals and the sweep's positives panel."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from voxpop.agreement import correlations, tables, threshold_sweep
from voxpop.evaluation.summary_rows import agreement_summary_rows
from voxpop.labels.labelset import Accounting, LabelSet
from voxpop.report import agreement_sections, matrix_plots, matrix_sections, plots, result_sections
from voxpop.report.render import Report

KEYS = ["variant", "train", "test"]


def results() -> pd.DataFrame:
    """Two models x two train sets x two test sets (uar, macro-F1, per-class F1) and KLD on one test set only."""
    rows = []
    for v, variant in enumerate(("loss=ce", "loss=cbce")):
        for t, train in enumerate(("MR", "AR")):
            for test, chance in (("MR", 0.25), ("PR", 1 / 3)):
                base = 0.5 + 0.1 * v + 0.05 * t + (0.02 if test == "PR" else 0.0)
                for metric, value, level in (
                    ("uar", base, chance),
                    ("macro_f1", base - 0.1, chance),
                    ("f1[anger]", 0.5, 0.4),
                    ("f1[sad]", 0.6, 0.35),
                    ("f1[happy]", 0.7, 0.25),
                ):
                    rows.append((variant, train, test, metric, value, value - 0.05, value + 0.05, level))
            kld_chance = 0.9 if train == "MR" else 0.7  # the prior baseline depends on the train labels
            rows.append((variant, train, "AR-dist", "kld", 0.4 + 0.1 * v, 0.35, 0.5 + 0.1 * v, kld_chance))
    table = pd.DataFrame(rows, columns=[*KEYS, "metric", "value", "low", "high", "chance"])
    return table.assign(group="all", n_items=120, n_excluded=0)


def captured_figures(section) -> list[tuple[str, object, str]]:
    figures = []
    section.add_figure = lambda name, figure, caption="": figures.append((name, figure, caption))
    return figures


def test_results_table_has_chance_rows_from_the_results_and_the_class_mean_with_its_interval():
    overall = results()
    per_class = ["f1[anger]", "f1[sad]", "f1[happy]"]
    table = result_sections.results_table(overall, ["uar", "macro_f1", "kld", *per_class], per_class)
    assert table.columns.tolist() == [
        "model (variant)", "train label set", "test label set", "UAR", "macro-F1", "KLD",
        "mean F1 over classes ± 95 % t", "F1 anger", "F1 sad", "F1 happy", "items",
    ]  # fmt: skip
    chance = table[table["model (variant)"].eq("chance")].set_index(["train label set", "test label set"])
    assert chance.at[("–", "MR"), "UAR"] == "0.250" and chance.at[("–", "PR"), "macro-F1"] == "0.333"
    # KLD's prior baseline differs by train set: one chance row per train set
    assert chance.at[("MR", "AR-dist"), "KLD"] == "0.900" and chance.at[("AR", "AR-dist"), "KLD"] == "0.700"
    # chance of the class mean = mean of the per-class chance levels (0.4 + 0.35 + 0.25) / 3
    assert chance.at[("–", "MR"), "mean F1 over classes ± 95 % t"] == "0.333"
    # each test set's block ends with its chance row
    tests = table["test label set"].tolist()
    assert tests == ["MR"] * 5 + ["PR"] * 5 + ["AR-dist"] * 6
    assert table["model (variant)"].iloc[4] == "chance" and table["model (variant)"].iloc[-1] == "chance"
    # mean of F1 0.5, 0.6, 0.7: s = 0.1, t_{0.975, 2} = 4.3027 -> 0.6 +- 0.2484, published as ".60 ± .25"
    model = table[table["model (variant)"].eq("loss=ce")].iloc[0]
    half = scipy_stats.t.ppf(0.975, 2) * np.std([0.5, 0.6, 0.7], ddof=1) / np.sqrt(3)
    assert round(half, 4) == 0.2484 and model["mean F1 over classes ± 95 % t"] == ".60 ± .25"
    assert model["UAR"] == "0.500 [0.450, 0.550]" and model["items"] == "120"


def test_every_per_class_metric_gets_its_mean_over_classes_with_a_student_t_interval():
    overall = results()
    f1 = overall[overall["metric"].str.startswith("f1[")]
    mcc = f1.assign(
        value=f1["metric"].map({"f1[anger]": 0.2, "f1[sad]": 0.3, "f1[happy]": 0.7}),
        metric=f1["metric"].str.replace("f1[", "mcc[", regex=False),
        chance=0.0,
    )
    rows = pd.concat([overall, mcc], ignore_index=True)
    per_class = ["f1[anger]", "f1[sad]", "f1[happy]", "mcc[anger]", "mcc[sad]", "mcc[happy]"]
    table = result_sections.results_table(rows, ["uar", *per_class[:3]], per_class)  # per-class columns: F1 only
    assert table.columns.tolist() == [
        "model (variant)", "train label set", "test label set", "UAR", "mean F1 over classes ± 95 % t",
        "mean MCC over classes ± 95 % t", "F1 anger", "F1 sad", "F1 happy", "items",
    ]  # fmt: skip
    model = table[table["model (variant)"].eq("loss=ce")].iloc[0]
    # MCC 0.2, 0.3, 0.7: mean .4, s = sqrt(0.07) = .2646, t_{0.975, 2} s / sqrt 3 = .6572 -> ".40 ± .66"
    half = scipy_stats.t.ppf(0.975, 2) * np.std([0.2, 0.3, 0.7], ddof=1) / np.sqrt(3)
    assert round(half, 2) == 0.66 and model["mean MCC over classes ± 95 % t"] == ".40 ± .66"
    chance = table[table["model (variant)"].eq("chance")].iloc[0]
    assert chance["mean MCC over classes ± 95 % t"] == "0.000"


def test_results_cells_show_the_per_fold_mean_and_sd_beside_the_pooled_score():
    rows = results().assign(fold_mean=0.55, fold_sd=0.04)
    table = result_sections.results_table(rows, ["uar"], [])
    model = table[table["model (variant)"].eq("loss=ce")].iloc[0]
    assert model["UAR"] == "0.500 [0.450, 0.550] (folds 0.550 ± 0.040)"
    chance = table[table["model (variant)"].eq("chance")]
    assert chance["UAR"].tolist() == ["0.250", "0.333"]  # chance rows stay plain numbers


def test_results_per_item_group_end_with_their_own_chance_rows():
    rows = results().assign(group="speaker=1001")
    table = result_sections.results_table(rows, ["uar"], [], [*KEYS, "group"])
    assert table.columns.tolist() == [
        "model (variant)", "train label set", "test label set", "item group", "UAR", "items"
    ]  # fmt: skip
    chance = table[table["model (variant)"].eq("chance")]
    assert chance["UAR"].tolist() == ["0.250", "0.333"] and set(chance["item group"]) == {"speaker=1001"}


def test_heatmaps_of_one_metric_share_one_colour_scale_and_name_the_direction():
    overall = results()
    section = Report("r").add_section("Results")
    figures = captured_figures(section)
    limits = matrix_plots.shared_limits(overall[overall["metric"].isin(["uar", "kld"])])
    matrix_sections._cross_test_heatmaps(section, overall, ["uar", "kld"], limits)
    heatmaps = [(name, f, c) for name, f, c in figures if name.startswith("cross-test uar")]
    assert len(heatmaps) == 2  # one per model
    uar = overall[overall["metric"].eq("uar")]["value"]
    climits = [f.axes[0].images[0].get_clim() for _, f, _ in heatmaps]
    assert climits[0] == climits[1] == pytest.approx((uar.min(), uar.max()))
    assert all("higher is better" in caption for _, _, caption in heatmaps)
    assert "Chance levels: MR 0.250, PR 0.333" in heatmaps[0][2]
    assert heatmaps[0][1].axes[1].get_ylabel() == "UAR (higher is better)"
    # KLD is scored on one test set only: bars with the direction, no one-column heatmap
    bars = [(name, f, c) for name, f, c in figures if "kld" in name]
    assert [name for name, _, _ in bars] == ["bars kld 1", "bars kld 2"]
    assert not bars[0][1].axes[0].images and "lower is better" in bars[0][2]
    assert bars[0][1].axes[0].get_ylabel() == "KLD (lower is better)"
    chance = [s[:, 1].tolist() for s in bars[0][1].axes[0].collections[-1].get_segments()]
    assert chance == [[0.9, 0.9], [0.7, 0.7]]  # each bar's own prior baseline (train MR, AR)


def test_lower_is_better_heatmaps_reverse_the_colour_map():
    table = results()
    long = table[table["metric"].eq("uar") & table["variant"].eq("loss=ce")].assign(metric="kld")
    figure = matrix_plots.cross_test_heatmap(long, "kld", better="lower")
    assert figure.axes[0].images[0].get_cmap().name == "viridis_r"
    assert figure.axes[1].get_ylabel() == "kld (lower is better)"


def fake_run(overall: pd.DataFrame, accounting: pd.DataFrame, by: str | None = None) -> SimpleNamespace:
    evaluation = SimpleNamespace(metrics=["uar", "macro_f1", "kld"], per_class=True, by=by, tie_policy="drop",
                                resample="items")
    analyses = SimpleNamespace(agreement=None, ccc=None)
    plan = SimpleNamespace(analyses={"accounting": SimpleNamespace(key="acc")}, sweep=None, sources={}, evaluations={})
    return SimpleNamespace(
        recipe=SimpleNamespace(evaluation=evaluation, analyses=analyses), results=overall, plan=plan,
        outputs={"acc": accounting},
    )  # fmt: skip


def test_rendered_html_of_a_small_report_has_readable_headers_only(tmp_path, undrawn_figures):
    overall = results()
    by_group = overall.assign(group="1001")
    accounting = pd.DataFrame(
        {"condition": ["voice"], "rule": ["mr"], "items_total": [10], "items_kept": [7], "ratings_total": [50],
         "ratings_supporting": [30], "ratings_excluded_class": [0], "data_loss": [0.3], "rating_loss": [0.4]}
    )  # fmt: skip
    filtered = accounting.set_axis([5])  # the row number a filter leaves must not become a column
    run = fake_run(pd.concat([overall, by_group], ignore_index=True), filtered, by="speaker")
    report = Report("small")
    agreement_sections._agreement_sections(report, run)
    result_sections._results_section(report, run)
    html = report.html()
    headers = re.findall(r"<th(?: [^>]*)?>(.*?)</th>", html)
    raw = {"items_total", "items_kept", "ratings_supporting", "n_items", "variant", "train", "test", "data_loss"}
    assert not raw & set(headers), raw & set(headers)
    assert "" not in headers  # no unnamed index column
    assert "ratings supporting the target" in headers and "model (variant)" in headers
    assert "speaker=1001" in html and "include intensity and secondary ratings" in html
    assert "higher is better: UAR, macro-F1, F1 anger" in html and "lower is better: KLD" in html


def labelset(frame: pd.DataFrame) -> LabelSet:
    n = len(frame)
    return LabelSet(frame, pd.Series(True, index=frame.index), frame * 4, "ar", Accounting(n, n, 4 * n, 4 * n))


def test_ccc_interval_brackets_the_point_and_equals_a_loop_over_the_same_resamples():
    rng = np.random.default_rng(3)
    x = rng.dirichlet([2, 2, 2], size=40)
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, None)
    y = y / y.sum(axis=1, keepdims=True)
    index = [f"i{k}" for k in range(40)]
    a = labelset(pd.DataFrame(x, index=index, columns=["A", "H", "S"]))
    b = labelset(pd.DataFrame(y, index=index, columns=["A", "H", "S"]))
    table = correlations.ccc_labelsets_ci(a, b, n_boot=300, seed=7)
    assert (table["low"] < table["value"]).all() and (table["value"] < table["high"]).all()
    resamples = np.random.default_rng(7).integers(0, 40, size=(300, 40))
    per_class = np.array([[correlations.ccc(x[r, k], y[r, k]) for k in range(3)] for r in resamples])
    expected = np.quantile(per_class.mean(axis=1), [0.025, 0.975])
    np.testing.assert_allclose(table.loc["mean", ["low", "high"]].to_numpy(dtype=float), expected, rtol=1e-9)
    np.testing.assert_allclose(table.loc["H", "low"], np.quantile(per_class[:, 1], 0.025), rtol=1e-9)
    long = tables.compare_labelsets({"x": a, "y": b}, "ccc", n_boot=300, seed=7)
    pair = long[long["a"].eq("x") & long["b"].eq("y")].set_index("class")
    np.testing.assert_allclose(pair[["value", "low", "high"]].to_numpy(dtype=float), table.to_numpy(dtype=float))


def test_sweep_plot_has_a_panel_of_positive_items_per_emotion():
    a = pd.DataFrame({"sad": [0.0, 0.2, 0.6, 1.0], "happy": [1.0, 0.0, 0.4, 0.0]}, index=list("pqrs"))
    b = pd.DataFrame({"sad": [0.0, 0.0, 0.4, 0.8], "happy": [0.8, 0.2, 0.0, 0.0]}, index=list("pqrs"))
    grid = [0.1, 0.5]
    positives = threshold_sweep.sweep_positives({"voice": a, "face": b}, grid)
    counts = positives.set_index(["condition", "emotion", "threshold"])["positives"]
    assert counts["voice", "sad", 0.1] == 3 and counts["voice", "sad", 0.5] == 2  # 0.2, 0.6, 1.0 / 0.6, 1.0
    assert counts["face", "happy", 0.1] == 2 and counts["face", "happy", 0.5] == 1
    sweep = threshold_sweep.threshold_sweep(a, b, grid)
    figure = plots.threshold_curve(sweep.curve, positives=positives)
    lower = figure.axes[1]
    assert lower.get_ylabel() == "positive items" and len(lower.lines) == 4  # 2 conditions x 2 emotions
    assert lower.lines[0].get_ydata().tolist() == [3, 2]  # voice, sad


def test_agreement_section_without_bootstrap_intervals_renders_readable_rows():
    table = pd.DataFrame(
        {"group": ["all", "all"], "condition": ["voice", "voice"], "slot": "primary", "label": "",
         "statistic": ["alpha", "fleiss_kappa"], "level": ["nominal", ""], "pair": "", "value": [0.41, 0.40],
         "ci_low": np.nan, "ci_high": np.nan, "items": [30, 30], "unpairable": [0, 0], "ratings": [150, 150]}
    )  # fmt: skip
    run = SimpleNamespace(
        recipe=SimpleNamespace(analyses=SimpleNamespace(agreement=SimpleNamespace(by=None), ccc=None)),
        plan=SimpleNamespace(analyses={"agreement": SimpleNamespace(key="agr")}, sweep=None),
        outputs={"agr": table},
    )
    report = Report("agreement")
    agreement_sections._agreement_sections(report, run)
    html = report.html()
    headers = set(re.findall(r"<th(?: [^>]*)?>(.*?)</th>", html))
    assert {"statistic", "value", "scale level", "items with one rating"} <= headers
    assert not {"ci_low", "unpairable", "level"} & headers
    assert "Krippendorff&#x27;s alpha" in html or "Krippendorff's alpha" in html
    assert "Fleiss" in html and "1 = perfect agreement" in html


def test_agreement_section_prints_summary_rows_as_published_and_leaves_them_out_of_the_bars(tmp_path):
    alphas = [0.2, 0.3, 0.5]
    half = scipy_stats.t.ppf(0.975, 2) * np.std(alphas, ddof=1) / np.sqrt(3)  # 0.3795
    table = pd.DataFrame(
        {"group": "all", "condition": "", "slot": "intensity", "label": ["happy", "sad", "fear"],
         "statistic": "alpha", "level": "interval", "method": "", "pair": None, "value": alphas,
         "ci_low": np.nan, "ci_high": np.nan, "items": [30, 30, 30], "unpairable": [0, 0, 0],
         "ratings": [90, 90, 90], "note": ""}
    ).astype({"items": "Int64", "unpairable": "Int64", "ratings": "Int64"})  # fmt: skip
    table = agreement_summary_rows(table)
    run = SimpleNamespace(
        recipe=SimpleNamespace(analyses=SimpleNamespace(agreement=SimpleNamespace(by=None), ccc=None)),
        plan=SimpleNamespace(analyses={"agreement": SimpleNamespace(key="agr")}, sweep=None),
        outputs={"agr": table},
    )
    report = Report("agreement")
    bars = []
    original = plots.agreement_bars
    plots.agreement_bars = lambda rows, *a, **k: bars.append(rows["label"].tolist()) or original(rows, *a, **k)
    try:
        agreement_sections._agreement_sections(report, run)
    finally:
        plots.agreement_bars = original
    assert bars == [["happy", "sad", "fear"]]
    assert round(half, 2) == 0.38 and ".33 ± .38" in report.html() and ".33 ± .38" in report.markdown()
    report.write(tmp_path)
    assert r".33 $\pm$ .38" in (tmp_path / "tables" / "agreement-statistics.tex").read_text()
    assert ".33 ± .38" in (tmp_path / "tables" / "agreement-statistics.csv").read_text()
