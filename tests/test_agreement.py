"""Agreement statistics against established libraries, textbook values and direct formulas."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest

from voxpop import VoxpopError
from voxpop.agreement import confusion, correlations, kappas, reliability, tables, threshold_sweep
from voxpop.corpus.corpus import Corpus
from voxpop.labels.labelset import Accounting, LabelSet

nan = np.nan
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", 4 observers x 12 units, missing values.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
]
# Wikipedia's example, 3 coders x 15 units (also in the krippendorff package's tests).
WIKIPEDIA = [
    [nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
    [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
    [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4],
]


def _random_reliability(seed: int, raters: int = 5, items: int = 60, values: int = 5, missing: float = 0.3):
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, values + 1, size=items)
    data = np.where(rng.random((raters, items)) < 0.6, truth, rng.integers(1, values + 1, size=(raters, items)))
    return np.where(rng.random((raters, items)) < missing, np.nan, data.astype(float))


def _long(matrix, label: str = "sad", slot: str = "intensity") -> pd.DataFrame:
    """Long ratings from a raters x items matrix (NaN = not rated)."""
    frame = pd.DataFrame(matrix, index=[f"r{i}" for i in range(len(matrix))])
    frame.columns = [f"i{j:03d}" for j in range(frame.shape[1])]
    long = frame.stack().dropna().rename("value").rename_axis(["rater", "item"]).reset_index()
    return long.assign(slot=slot, label=label)


# =================================================================================== Krippendorff's alpha
@pytest.mark.parametrize("level", reliability.LEVELS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alpha_equals_krippendorff_package_with_missing_values(level, seed):
    data = _random_reliability(seed)
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert reliability.krippendorff_alpha(data, level) == pytest.approx(expected, rel=1e-12)
    counts = (data.T[:, :, None] == np.arange(1, 6)).sum(axis=1)
    via_counts = reliability.krippendorff_alpha(counts, level, kind="counts", values=[1, 2, 3, 4, 5])
    assert via_counts == pytest.approx(expected, rel=1e-12)


def test_alpha_reproduces_textbook_examples():
    # 0.743 (nominal), 0.815 (ordinal), 0.797 (ratio) are asserted in the krippendorff package's docs and
    # tests for this data; 0.849 (interval) is Krippendorff's (2011) published value, and the package agrees.
    assert round(krippendorff.alpha(KRIPPENDORFF_2011, level_of_measurement="interval"), 3) == 0.849
    expected = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}
    for level, value in expected.items():
        assert round(reliability.krippendorff_alpha(KRIPPENDORFF_2011, level), 3) == value
    assert round(reliability.krippendorff_alpha(WIKIPEDIA, "nominal"), 6) == 0.691358
    assert round(reliability.krippendorff_alpha(WIKIPEDIA, "interval"), 6) == 0.810845


def test_alpha_on_string_labels_and_value_domain():
    data = [["pos", "neg", "neu", nan], ["pos", "neg", "neu", "pos"], ["pos", "neg", "pos", "pos"]]
    assert round(reliability.krippendorff_alpha(data, "nominal"), 6) == 0.722222  # the package's own test value
    ordered = [["low", "mid"], ["low", "high"], ["mid", "high"]]
    domain = ["low", "mid", "high"]
    expected = krippendorff.alpha(ordered, level_of_measurement="ordinal", value_domain=domain)
    assert reliability.krippendorff_alpha(ordered, "ordinal", values=domain) == pytest.approx(expected)
    with pytest.raises(VoxpopError, match="interval alpha needs numeric values"):
        reliability.krippendorff_alpha(ordered, "interval", values=domain)


def test_count_only_alpha_equals_per_rater_alpha():
    data = _random_reliability(7, raters=6, items=80, values=4)
    ratings = _long(data)
    matrix = reliability.reliability_matrix(ratings, "intensity", "sad")
    counts = reliability.value_counts(ratings.assign(rater=pd.NA), column="value")  # the raters are forgotten
    assert counts.to_numpy().sum() == np.isfinite(data).sum()
    for level in reliability.LEVELS:
        per_rater = reliability.krippendorff_alpha(matrix, level)
        assert reliability.krippendorff_alpha(counts, level, kind="counts") == pytest.approx(per_rater, rel=1e-12)
        assert per_rater == pytest.approx(krippendorff.alpha(data, level_of_measurement=level), rel=1e-12)


def test_alpha_is_nan_when_undefined():
    assert np.isnan(reliability.krippendorff_alpha([[1, 1, 1], [1, 1, 1]]))  # one value only: no expected disagreement
    assert np.isnan(reliability.krippendorff_alpha([[1, nan], [nan, 2]]))  # no item rated twice


def test_coincidence_matrix_matches_krippendorff_2011_table():
    o = reliability.coincidence_matrix(KRIPPENDORFF_2011)
    # Krippendorff (2011), nominal example: n_c = 9, 13, 10, 5, 3 pairable values; n = 40.
    assert o.sum(axis=1).tolist() == pytest.approx([9, 13, 10, 5, 3])
    assert o.to_numpy() == pytest.approx(o.to_numpy().T)
    assert o.at[1.0, 1.0] == pytest.approx(7.0) and o.at[1.0, 2.0] == pytest.approx(4 / 3)


# =================================================================================== bootstrap interval
@pytest.mark.parametrize("cells", [4_000_000, 200])  # all item groups at once, or in chunks of 8
def test_bootstrap_alphas_equal_package_alpha_of_each_resample(monkeypatch, cells):
    monkeypatch.setattr(reliability, "_BOOT_CELLS", cells)
    rows = np.random.default_rng(3).integers(0, 3, size=(80, 5)).astype(float)
    counts = np.unique(rows[rows.sum(axis=1) >= 2], axis=0)  # distinct items
    patterns, sizes = reliability._distinct_rows(counts)  # in the order the bootstrap groups them
    assert len(patterns) > 40 and (sizes == 1).all()
    assert sorted(map(tuple, patterns)) == sorted(map(tuple, counts))
    picks = np.random.default_rng(5).integers(0, len(patterns), size=(20, len(patterns)))

    def fixed_draws(rng, sizes, size):  # the next `size` resamples of `picks`, as group multiplicities
        taken, fixed_draws.used = picks[fixed_draws.used : fixed_draws.used + size], fixed_draws.used + size
        return np.stack([np.bincount(p, minlength=len(sizes)) for p in taken]).astype(float)

    monkeypatch.setattr(reliability, "_resample_sizes", fixed_draws)
    domain = np.arange(1, 6)
    for level in reliability.LEVELS:
        fixed_draws.used = 0
        got = reliability._bootstrap_alphas(counts, level, domain, 20, seed=0)
        expected = [
            krippendorff.alpha(value_counts=patterns[p], value_domain=domain, level_of_measurement=level) for p in picks
        ]
        assert got == pytest.approx(expected, rel=1e-10)


def test_distinct_rows_counts_repeated_rows():
    counts = np.array([[2, 0, 1], [0, 3, 0], [2, 0, 1], [1, 1, 1], [2, 0, 1]], dtype=float)
    for table in (counts, counts + 0.5, counts * 1e6):  # small integers, fractions, huge counts
        patterns, sizes = reliability._distinct_rows(table)
        assert dict(zip(map(tuple, patterns), sizes.tolist(), strict=True)) == {
            tuple(table[0]): 3,
            tuple(table[1]): 1,
            tuple(table[3]): 1,
        }


@pytest.mark.parametrize("groups", [np.array([5, 1, 3, 1]), np.arange(1, 200)])
def test_resample_sizes_draw_n_items_in_proportion_to_group_size(groups):
    draws = reliability._resample_sizes(np.random.default_rng(0), groups, 4000)
    assert (draws.sum(axis=1) == groups.sum()).all()
    assert draws.mean(axis=0) == pytest.approx(groups, rel=0.1, abs=0.15)
    assert draws.var(axis=0)[0] == pytest.approx(
        groups.sum() * (groups[0] / groups.sum()) * (1 - groups[0] / groups.sum()), rel=0.15
    )


def test_alpha_ci_is_seeded_brackets_the_estimate_and_matches_a_naive_bootstrap():
    data = _random_reliability(11, raters=3, items=120, values=4, missing=0.1)
    ci = reliability.alpha_ci(data, "interval", n_boot=1000, seed=1)
    assert ci == reliability.alpha_ci(data, "interval", n_boot=1000, seed=1)
    assert ci.value == pytest.approx(krippendorff.alpha(data, level_of_measurement="interval"))
    assert ci.low < ci.value < ci.high
    rng = np.random.default_rng(0)
    keep = data[:, (~np.isnan(data)).sum(axis=0) >= 2]
    naive = [
        krippendorff.alpha(keep[:, rng.integers(0, keep.shape[1], keep.shape[1])], level_of_measurement="interval")
        for _ in range(1000)
    ]
    low, high = np.percentile(naive, [2.5, 97.5])
    assert ci.low == pytest.approx(low, abs=0.03) and ci.high == pytest.approx(high, abs=0.03)


# =================================================================================== kappas and correlations
@pytest.mark.parametrize("seed", [0, 1])
def test_fleiss_kappa_equals_statsmodels(seed):
    from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

    rng = np.random.default_rng(seed)
    table = np.stack([rng.multinomial(7, rng.dirichlet(np.ones(5) * 0.7)) for _ in range(200)])
    assert kappas.fleiss_kappa(table) == pytest.approx(statsmodels_fleiss(table, method="fleiss"), rel=1e-12)


def test_fleiss_kappa_with_varying_numbers_of_ratings_follows_the_formula():
    table = np.array([[3, 1, 0], [0, 2, 0], [1, 1, 3], [0, 0, 4], [2, 2, 1]], dtype=float)
    n = table.sum(axis=1)
    p_bar = np.mean([(row * (row - 1)).sum() / (k * (k - 1)) for row, k in zip(table, n, strict=True)])
    p_e = ((table.sum(axis=0) / n.sum()) ** 2).sum()
    assert kappas.fleiss_kappa(table) == pytest.approx((p_bar - p_e) / (1 - p_e))
    with pytest.raises(VoxpopError, match=r"1 items have fewer \(first: \['b'\]\)"):
        kappas.fleiss_kappa(pd.DataFrame([[2, 0], [1, 0]], index=["a", "b"]))


def _counts(matrix) -> np.ndarray:
    """Items x values count table of a raters x items matrix with values 0..5 (NaN = missing)."""
    data = np.asarray(matrix, dtype=float)
    return np.stack([(data == v).sum(axis=0) for v in range(6)], axis=1)


def test_fleiss_kappa_pooled_and_gwet_on_a_hand_example_with_varying_ratings():
    # items rated 2, 2 and 6 times: N,N | N,S | N*6. P_a = (1 + 0 + 1) / 3 = 2/3 in both.
    table = [[2, 0], [1, 1], [6, 0]]
    # pooled: p = (9/10, 1/10), P_e = 82/100; gwet: pi = ((1 + 1/2 + 1) / 3, (1/2) / 3) = (5/6, 1/6), P_e = 26/36
    assert kappas.fleiss_kappa(table, "pooled") == pytest.approx((2 / 3 - 0.82) / (1 - 0.82), rel=1e-12)
    assert kappas.fleiss_kappa(table, "gwet") == pytest.approx((2 / 3 - 26 / 36) / (1 - 26 / 36), rel=1e-12)
    assert kappas.fleiss_kappa(table, "gwet") == pytest.approx(-0.2, rel=1e-12)
    # an item rated once: refused by pooled, used for the class proportions only by gwet
    with pytest.raises(VoxpopError, match="use method 'gwet'"):
        kappas.fleiss_kappa([[2, 0], [0, 1]])
    assert kappas.fleiss_kappa([[2, 0], [1, 1], [6, 0], [0, 1]], "gwet") == pytest.approx(
        (2 / 3 - ((5 / 2) ** 2 + (3 / 2) ** 2) / 16) / (1 - ((5 / 2) ** 2 + (3 / 2) ** 2) / 16), rel=1e-12
    )  # pi = (2.5/4, 1.5/4)
    with pytest.raises(VoxpopError, match="method must be one of pooled, gwet"):
        kappas.fleiss_kappa(table, "conger")


def test_fleiss_kappa_gwet_equals_irrcac_published_values():
    # Gwet (2014), Handbook of Inter-Rater Reliability, 4th ed., p. 120 (irrCAC dataset cac.raw4raters, the
    # same 4 raters x 12 units as Krippendorff 2011). irrCAC's Python port (afergadis/irrCAC,
    # test/unit/irrCAC/raw/test_fleiss.py) expects pa 0.818, pe 0.239, Fleiss' kappa 0.761.
    counts = _counts(KRIPPENDORFF_2011)
    # by hand: P_a over the 11 items rated twice or more = 9/11; pi = (3, 3.25, 3.5, 1.25, 1) / 12 over all
    # 12 items (item 12 is rated once), P_e = 34.375/144 = 275/1152
    p_a, p_e = 9 / 11, 275 / 1152
    assert kappas.fleiss_kappa(counts, "gwet") == pytest.approx((p_a - p_e) / (1 - p_e), rel=1e-12)
    assert round(kappas.fleiss_kappa(counts, "gwet"), 3) == 0.761
    # pooled on the 11 pairable items: p = (9, 13, 10, 5, 3) / 40, P_e = 384/1600 = 0.24
    pairable = counts[counts.sum(axis=1) >= 2]
    assert kappas.fleiss_kappa(pairable, "pooled") == pytest.approx((p_a - 0.24) / 0.76, rel=1e-12)
    # irrCAC dataset raw_5observers (Gwet 2014, a part of the table on p. 125): pa 0.616, pe 0.291, kappa 0.458
    observers = [
        [1, 1, 2, nan, 0, 0, 1, 1, 2, 2, nan, 0, 1, 3, 1],
        [1, 1, 3, 0, 0, 0, 0, nan, 2, 1, 1, 0, 2, 3, 1],
        [2, 0, 3, 0, 0, 0, 2, 2, 2, 1, 0, 0, 2, 2, 1],
        [nan, 1, 3, nan, nan, nan, nan, 0, nan, 1, 0, 0, 2, 2, nan],
        [2, nan, nan, 0, 0, 0, 1, nan, 2, nan, nan, nan, nan, 3, 1],
    ]
    assert round(kappas.fleiss_kappa(_counts(observers), "gwet"), 3) == 0.458


def test_agreement_table_names_the_fleiss_method_and_says_why_a_cell_is_undefined():
    from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

    rows = [("a", "N"), ("a", "N"), ("b", "N"), ("b", "S"), ("c", "N"), ("c", "N"), ("d", "S")]
    ratings = pd.DataFrame(rows, columns=["item", "label"]).assign(condition="voice")
    ratings = pd.concat([ratings, pd.DataFrame({"item": ["a", "b"], "label": "N", "condition": "face"})])
    corpus = Corpus("votes", pd.DataFrame(index=list("abcd")), ratings, classes=["N", "S"])
    table = tables.agreement_table(corpus, fleiss="gwet").set_index(["condition", "statistic"])
    voice = table.loc["voice"]
    # P_a = (1 + 0 + 1) / 3; pi over a, b, c, d = ((1 + 1/2 + 1 + 0) / 4, (1/2 + 1) / 4) = (5/8, 3/8)
    p_e = (5 / 8) ** 2 + (3 / 8) ** 2
    assert voice.at["fleiss_kappa", "value"] == pytest.approx((2 / 3 - p_e) / (1 - p_e), rel=1e-12)
    assert voice.at["fleiss_kappa", "method"] == "gwet" and voice.at["fleiss_kappa", "unpairable"] == 1
    assert voice.at["fleiss_kappa", "items"] == 3 and voice.at["fleiss_kappa", "ratings"] == 7
    assert voice.at["alpha", "note"] == voice.at["fleiss_kappa", "note"] == ""
    # face: one rating per item -> both undefined, and the table says why
    face = table.loc["face"]
    assert np.isnan(face.at["alpha", "value"]) and np.isnan(face.at["fleiss_kappa", "value"])
    assert (
        face.at["alpha", "note"]
        == face.at["fleiss_kappa", "note"]
        == ("undefined: one rating per item (no item has two)")
    )
    pooled = tables.agreement_table(corpus, condition="voice").set_index("statistic")
    assert pooled.at["fleiss_kappa", "method"] == "pooled"
    assert pooled.at["fleiss_kappa", "value"] == pytest.approx(statsmodels_fleiss([[2, 0], [1, 1], [2, 0]]))
    same = pd.DataFrame({"item": list("aabb"), "label": "N", "condition": "voice"})
    flat = tables.agreement_table(Corpus("flat", pd.DataFrame(index=list("ab")), same, classes=["N", "S"]))
    assert flat.note.tolist() == ["undefined: no variation (every rating of the items rated twice or more is 'N')"] * 2
    with pytest.raises(VoxpopError, match="--fleiss must be one of pooled, gwet"):
        tables.agreement_table(corpus, fleiss="mean")


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_equals_sklearn(weights):
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(4)
    a = rng.integers(0, 4, 300)
    b = np.where(rng.random(300) < 0.6, a, rng.integers(0, 4, 300))
    assert kappas.cohen_kappa(a, b, weights) == pytest.approx(cohen_kappa_score(a, b, weights=weights), rel=1e-12)
    names = np.array(["none", "little", "moderate", "extreme"])
    labels = list(names)
    got = kappas.cohen_kappa(names[a], names[b], weights, labels=labels)
    assert got == pytest.approx(cohen_kappa_score(names[a], names[b], weights=weights, labels=labels), rel=1e-12)


def test_cohen_kappa_aligns_series_on_items_and_skips_missing():
    from sklearn.metrics import cohen_kappa_score

    a = pd.Series(["x", "y", "y", "x", "z", None], index=list("abcdef"))
    b = pd.Series(["y", "x", "y", "z", "x", "x", "y"], index=list("gfedcba"))
    both = ["a", "b", "c", "d", "e"]
    expected = cohen_kappa_score(a[both].tolist(), b[both].tolist())
    assert kappas.cohen_kappa(a, b) == pytest.approx(expected)


def test_ccc_equals_direct_formula():
    rng = np.random.default_rng(2)
    x = rng.normal(size=100)
    y = 0.7 * x + rng.normal(0.3, 0.5, size=100)
    cov = np.cov(x, y, bias=True)
    expected = 2 * cov[0, 1] / (cov[0, 0] + cov[1, 1] + (x.mean() - y.mean()) ** 2)
    assert correlations.ccc(x, y) == pytest.approx(expected, rel=1e-12)
    assert correlations.ccc(x, x) == pytest.approx(1.0)


def _labelset(targets: pd.DataFrame, kept=None) -> LabelSet:
    kept = pd.Series(True, index=targets.index) if kept is None else pd.Series(kept, index=targets.index)
    n = len(targets)
    return LabelSet(targets, kept, targets * 4, "ar", Accounting(n, int(kept.sum()), 4 * n, 4 * n))


def test_ccc_labelsets_uses_items_both_keep_per_class():
    rng = np.random.default_rng(8)
    index = [f"i{k}" for k in range(40)]
    a = pd.DataFrame(rng.dirichlet(np.ones(3), 40), index=index, columns=["A", "S", "N"])
    b = pd.DataFrame(rng.dirichlet(np.ones(3), 40), index=index[::-1], columns=["A", "S", "N"])
    kept_a = np.arange(40) % 5 != 0
    result = correlations.ccc_labelsets(_labelset(a, kept_a), _labelset(b))
    both = [i for i, k in zip(index, kept_a, strict=True) if k]
    for c in ["A", "S", "N"]:
        assert result[c] == pytest.approx(correlations.ccc(a.loc[both, c], b.loc[both, c]))
    assert result["mean"] == pytest.approx(result[["A", "S", "N"]].mean())
    with pytest.raises(VoxpopError, match="different classes"):
        correlations.ccc_labelsets(_labelset(a), _labelset(b.set_axis(["A", "S", "H"], axis=1)))


def test_compare_labelsets_leaves_a_constant_class_out_of_the_mean_and_says_why():
    # class H is 0 for every item in both sets: CCC 0/0, undefined
    a = pd.DataFrame({"A": [1.0, 0.5, 0.25], "S": [0.0, 0.5, 0.75], "H": 0.0}, index=["i1", "i2", "i3"])
    b = pd.DataFrame({"A": [0.75, 0.5, 0.0], "S": [0.25, 0.5, 1.0], "H": 0.0}, index=["i1", "i2", "i3"])
    table = tables.compare_labelsets({"voice": _labelset(a), "face": _labelset(b)})
    pair = table[table.a.eq("voice") & table.b.eq("face")].set_index("class")
    # A: x = (1, .5, .25), y = (.75, .5, 0): 2 s_xy / (s_x^2 + s_y^2 + (mx - my)^2) = 0.8125 (S alike)
    assert pair.at["A", "value"] == pytest.approx(0.8125) and pair.at["S", "value"] == pytest.approx(0.8125)
    assert np.isnan(pair.at["H", "value"])
    assert pair.at["H", "note"] == "undefined: no variation (the targets are constant and equal in both sets)"
    assert pair.at["mean", "value"] == pytest.approx(0.8125)
    assert pair.at["mean", "note"] == "mean of 2 classes; left out (undefined): H"
    assert pair.at["A", "note"] == ""


def test_pairwise_pearson_equals_numpy_on_items_both_rated():
    data = _random_reliability(9, raters=4, items=70, missing=0.25)
    result = correlations.pairwise_pearson(_long(data), "sad")
    for i in range(4):
        for j in range(4):
            both = ~np.isnan(data[i]) & ~np.isnan(data[j])
            expected = np.corrcoef(data[i, both], data[j, both])[0, 1]
            assert result.iat[i, j] == pytest.approx(expected, rel=1e-12)


def test_rater_statistics_refuse_count_only_data():
    ratings = _long(_random_reliability(1)).assign(rater=pd.NA)
    with pytest.raises(VoxpopError, match="needs rater ids, but 2.. of 2.. ratings have no rater"):
        correlations.pairwise_pearson(ratings, "sad")


def test_long_table_inputs_report_bad_input():
    ratings = pd.DataFrame({"item": ["a", "a", "a"], "rater": ["r1", "r1", "r2"], "slot": "primary",
                            "condition": ["voice", "face", "voice"], "label": ["A", "S", "A"]})  # fmt: skip
    with pytest.raises(VoxpopError, match="rater 'r1' judged item 'a' more than once.*one condition"):
        reliability.reliability_matrix(ratings, "primary")
    assert reliability.reliability_matrix(ratings[ratings.condition == "voice"], "primary").loc["r2", "a"] == "A"
    with pytest.raises(VoxpopError, match=r"outside the given classes \['A'\]: 'S' \(1\)"):
        reliability.value_counts(ratings, ["A"])
    with pytest.raises(
        VoxpopError, match="no ratings with slot 'intensity', label 'sad'; the ratings hold slots: primary"
    ):
        reliability.reliability_matrix(ratings, "intensity", "sad")


# =================================================================================== intraclass correlation
def _icc_long(matrix: np.ndarray) -> pd.DataFrame:
    """Long ratings of an items x raters array (NaN = not rated)."""
    rows = [
        (f"i{i}", f"r{j}", "arousal", float(v))
        for i, row in enumerate(matrix)
        for j, v in enumerate(row)
        if not np.isnan(v)
    ]
    return pd.DataFrame(rows, columns=["item", "rater", "slot", "value"])


@pytest.mark.filterwarnings("ignore::DeprecationWarning:pingouin")  # pingouin 0.7 on pandas 3.1 (dropna inplace)
@pytest.mark.parametrize("seed", [0, 1])
def test_icc_equals_pingouin_on_a_complete_table(seed):
    pingouin = pytest.importorskip("pingouin", reason="pingouin is the test-only reference for ICC (dev extra)")
    rng = np.random.default_rng(seed)
    truth = rng.normal(4, 1.2, 30)
    matrix = np.round(truth[:, None] + rng.normal(0, 0.8, (30, 5)) + rng.normal(0, 0.5, 5), 1)
    long = _icc_long(matrix)
    ours = correlations.icc(long, "arousal").set_index("form")["value"]
    reference = pingouin.intraclass_corr(long, targets="item", raters="rater", ratings="value").set_index("Type")
    # pingouin 0.7 names the forms by McGraw & Wong: A = absolute agreement (ICC2), C = consistency (ICC3)
    names = {"ICC(1,1)": "ICC(1,1)", "ICC(2,1)": "ICC(A,1)", "ICC(3,1)": "ICC(C,1)",
             "ICC(1,k)": "ICC(1,k)", "ICC(2,k)": "ICC(A,k)", "ICC(3,k)": "ICC(C,k)"}  # fmt: skip
    for form, name in names.items():
        assert ours[form] == pytest.approx(reference.at[name, "ICC"], abs=1e-9), form
    table = correlations.icc(long, "arousal")
    assert table["items"].eq(30).all() and table["raters"].eq(5).all() and table["k"].eq(5.0).all()


def test_icc_matches_shrout_and_fleiss_published_table():
    # Shrout & Fleiss (1979), Table 2 (6 targets x 4 judges) and Table 4 (published to two decimals)
    data = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)
    values = correlations.icc(_icc_long(data), "arousal").set_index("form")["value"]
    published = {"ICC(1,1)": 0.17, "ICC(2,1)": 0.29, "ICC(3,1)": 0.71, "ICC(1,k)": 0.44, "ICC(2,k)": 0.62,
                 "ICC(3,k)": 0.91}  # fmt: skip
    for form, value in published.items():
        assert round(values[form], 2) == value, form


def test_icc_one_way_with_unequal_numbers_of_ratings_by_hand():
    # a: 1, 3 | b: 4, 6, 8 | c: 2, 2, 5 | d: 7 (rated once: left out); raters differ per item
    rows = [("a", "r1", 1), ("a", "r2", 3), ("b", "r3", 4), ("b", "r4", 6), ("b", "r5", 8),
            ("c", "r1", 2), ("c", "r3", 2), ("c", "r6", 5), ("d", "r2", 7)]  # fmt: skip
    ratings = pd.DataFrame(rows, columns=["item", "rater", "value"]).assign(slot="valence")
    table = correlations.icc(ratings, "valence").set_index("form")
    # N = 8, n = 3, mean 31/8; item means 2, 6, 3: MSR = (2 * 1.875^2 + 3 * 2.125^2 + 3 * 0.875^2) / 2 = 11.4375
    # MSW = (2 + 8 + 6) / (8 - 3) = 3.2; k0 = (8 - (4 + 9 + 9) / 8) / 2 = 2.625
    assert table.at["ICC(1,1)", "value"] == pytest.approx((11.4375 - 3.2) / (11.4375 + 1.625 * 3.2), rel=1e-12)
    assert table.at["ICC(1,k)", "value"] == pytest.approx((11.4375 - 3.2) / 11.4375, rel=1e-12)
    assert table.at["ICC(1,1)", "k"] == pytest.approx(2.625)
    assert table.at["ICC(1,1)", "items"] == 3 and table.at["ICC(1,1)", "unpairable"] == 1
    assert np.isnan(table.at["ICC(2,1)", "value"])
    assert table.at["ICC(3,k)", "note"].startswith("not computed: raters differ per item; ICC(2,·) and ICC(3,·) need")
    # vote counts (no rater ids) give the same one-way ICC
    anonymous = correlations.icc(ratings.assign(rater=pd.NA), "valence").set_index("form")
    assert anonymous.at["ICC(1,1)", "value"] == pytest.approx(table.at["ICC(1,1)", "value"], rel=1e-12)
    assert "no rater ids" in anonymous.at["ICC(2,1)", "note"]
    flat = correlations.icc(ratings.assign(value=3.0), "valence").set_index("form")
    assert flat.at["ICC(1,1)", "note"] == "undefined: no variation (every rating is the same)"
    with pytest.raises(VoxpopError, match=r"slot 'valence' holds several scales \(calm, tense\); pass label="):
        correlations.icc(ratings.assign(label=["calm", "tense"] * 4 + ["calm"]), "valence")


def test_agreement_table_adds_icc_rows_per_scale():
    data = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)
    long = _icc_long(data).assign(slot="intensity", label="sad")
    corpus = Corpus("sf", pd.DataFrame(index=[f"i{i}" for i in range(6)]), long, classes=["sad"])
    table = tables.agreement_table(corpus, icc=True)
    rows = table[table.statistic.eq("icc")].set_index("method")
    assert list(rows.index) == list(correlations.ICC_FORMS)
    assert round(rows.at["ICC(3,k)", "value"], 2) == 0.91 and rows.at["ICC(3,k)", "items"] == 6


# =================================================================================== threshold sweep
def test_threshold_sweep_equals_sklearn_kappa_per_emotion_and_picks_the_best_mean():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(6)
    items = [f"c{k}" for k in range(150)]
    a = pd.DataFrame(rng.integers(0, 10, (150, 3)) / 9, index=items, columns=["happy", "sad", "fear"])
    b = (a + rng.normal(0, 0.15, a.shape)).clip(0, 1).iloc[::-1]
    b.loc["extra"] = 0.5  # only in b: ignored
    grid = threshold_sweep.threshold_grid("0.05:0.95:0.05")
    sweep = threshold_sweep.threshold_sweep(a, b, grid)
    assert sweep.items == 150
    for t in (0.05, 0.5, 0.95):
        for e in a.columns:
            expected = cohen_kappa_score(a[e] >= t, b.loc[items, e] >= t)
            assert sweep.curve.at[t, e] == pytest.approx(expected)
    assert sweep.curve["mean"].max() == sweep.best_kappa == sweep.curve.at[sweep.best_threshold, "mean"]


def test_threshold_sweep_leaves_out_never_perceived_emotions_and_reports_the_plateau():
    # three raters on 0..3: scores in steps of 1/9; items p, q, r, s, u
    a = pd.DataFrame(
        {
            "sad": [0, 1 / 9, 4 / 9, 6 / 9, 1],
            "happy": [1, 0, 3 / 9, 0, 2 / 9],
            "fear": [0.0] * 5,  # nobody perceived it: kappa undefined at every t
        },
        index=list("pqrsu"),
    )
    b = pd.DataFrame(
        {"sad": [0, 2 / 9, 4 / 9, 5 / 9, 6 / 9], "happy": [8 / 9, 0, 3 / 9, 1 / 9, 2 / 9], "fear": [0.0] * 5},
        index=list("pqrsu"),
    )
    grid = threshold_sweep.threshold_grid("0.05:0.95:0.05")
    sweep = threshold_sweep.threshold_sweep(a, b, grid)
    # By hand, positives (score >= t):
    #   sad   a: q..u at t <= 1/9, r..u to 4/9, s,u to 6/9, u above;  b: q..u to 2/9, r..u to 4/9, s,u to 5/9,
    #         u to 6/9, none above -> kappa 1 at t = 0.05, 0.10 and 0.25..0.55, below 1 elsewhere
    #   happy a: p,r,u to 2/9, p,r to 3/9, p above;  b: p,r,s,u to 1/9, p,r,u to 2/9, p,r to 3/9, p to 8/9
    #         -> kappa 1 at t = 0.15..0.85, 0 at 0.90, 0.95 (b has no positive), below 1 at 0.05, 0.10
    #   both 1 only at 0.25..0.55: one plateau, the lowest threshold is the best.
    assert sweep.plateau == ((0.25, 0.55),)
    assert sweep.best_threshold == 0.25 and sweep.best_kappa == 1.0
    assert sweep.left_out == {
        "fear": "undefined at 19 of 19 thresholds (0.05..0.95): no variation, both sources put every item on one side"
    }
    assert sweep.gaps == {}
    # the mean uses sad and happy at every threshold. At 0.05 happy: a positive 3/5, b 4/5, agreement 4/5,
    # chance .6 * .8 + .4 * .2 = .56 -> kappa (.8 - .56) / .44 = 6/11; sad 1 -> mean 17/22
    assert sweep.curve.at[0.05, "mean"] == pytest.approx(17 / 22, rel=1e-12)
    assert sweep.curve.loc[0.25:0.55, "mean"].eq(1.0).all() and sweep.curve["mean"].notna().all()
    text = threshold_sweep.plateau_text(sweep)
    assert text.startswith("best t = 0.25 (mean kappa 1.000): the lowest threshold of the plateau 0.25..0.55")
    assert "left out of the mean: fear (undefined at 19 of 19" in text
    # an emotion perceived only at low t: one emotion set for the whole curve, so no mean where it is undefined
    a["anger"], b["anger"] = [1 / 9, 0, 0, 0, 2 / 9], [1 / 9, 0, 0, 1 / 9, 1 / 9]
    gapped = threshold_sweep.threshold_sweep(a, b, grid)
    assert gapped.gaps == {
        "anger": "undefined at 15 of 19 thresholds (0.25..0.95): no variation, both sources put every item on one side"
    }
    assert gapped.curve["mean"].notna().tolist() == [True] * 4 + [False] * 15
    # anger at 0.05: a {p, u}, b {p, s, u}: agreement 4/5, chance .4 * .6 + .6 * .4 = .48 -> 8/13; at 0.15:
    # a {u}, b {} -> 0. sad at 0.15: 6/11, happy 1. Means: 0.05, 0.10: (1 + 6/11 + 8/13) / 3; 0.15, 0.20: (6/11 + 1) / 3
    assert gapped.curve.at[0.05, "mean"] == pytest.approx((1 + 6 / 11 + 8 / 13) / 3, rel=1e-12)
    assert gapped.curve.at[0.15, "mean"] == pytest.approx((6 / 11 + 1 + 0) / 3, rel=1e-12)
    assert gapped.best_threshold == 0.05 and gapped.plateau == ((0.05, 0.1),)
    assert "no mean where anger is undefined at 15 of 19 thresholds" in threshold_sweep.plateau_text(gapped)
    # as the report reads it back: mean recomputed
    stored = threshold_sweep.sweep_from_curve(gapped.curve.assign(mean=0.0), 5)
    assert stored.plateau == ((0.05, 0.1),) and stored.gaps == gapped.gaps and stored.left_out == gapped.left_out
    nobody = threshold_sweep.threshold_sweep(a[["fear"]], b[["fear"]], [0.1, 0.2])
    assert np.isnan(nobody.best_threshold) and nobody.plateau == () and nobody.curve["mean"].isna().all()


def test_threshold_grid_hits_exact_levels():
    grid = threshold_sweep.threshold_grid("0.01:0.99:0.01")
    assert len(grid) == 99 and grid[0] == 0.01 and grid[-1] == 0.99
    assert 0.5 in grid and grid[32] <= 1 / 3  # 0.33 <= 1/3 < 0.34
    with pytest.raises(VoxpopError, match="expected start:stop:step"):
        threshold_sweep.threshold_grid("0.1-0.9")


# =================================================================================== MLCM
def _frame(rows, columns="abc"):
    return pd.DataFrame(rows, columns=list(columns), index=[f"i{k}" for k in range(len(rows))])


def test_mlcm_reproduces_published_example():
    # Krstinic et al.'s MLCM repository (examples.py) shows this output of their Heydarian evaluator.
    true = _frame([[1, 1, 0], [1, 1, 1], [0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 0]])
    pred = _frame([[1, 1, 0], [1, 0, 1], [0, 0, 0], [1, 1, 1], [1, 1, 1], [0, 1, 1], [0, 1, 1], [1, 0, 1], [0, 0, 1]])
    expected = [[5, 2, 4, 0], [0, 2, 3, 1], [0, 0, 1, 0], [0, 1, 1, 1]]
    assert confusion.mlcm(true, pred).to_numpy().tolist() == expected


@pytest.mark.parametrize(
    ("true", "pred", "cells"),
    [
        ([1, 1, 0, 0], [1, 1, 0, 0], {(0, 0): 1, (1, 1): 1}),  # exact match
        ([1, 1, 1, 0], [1, 0, 0, 0], {(0, 0): 1, (1, 4): 1, (2, 4): 1}),  # pred subset of true: misses -> NPL
        ([1, 0, 0, 0], [1, 1, 1, 0], {(0, 0): 1, (0, 1): 1, (0, 2): 1}),  # true subset of pred
        ([1, 1, 0, 0], [1, 1, 1, 1], {(0, 0): 1, (1, 1): 1, (0, 2): 1, (1, 2): 1, (0, 3): 1, (1, 3): 1}),
        ([1, 1, 0, 0], [1, 0, 1, 1], {(0, 0): 1, (1, 2): 1, (1, 3): 1}),  # neither: wrong vs unmatched only
        ([1, 1, 0, 0], [0, 0, 1, 1], {(0, 2): 1, (0, 3): 1, (1, 2): 1, (1, 3): 1}),
        ([0, 0, 0, 0], [0, 1, 1, 0], {(4, 1): 1, (4, 2): 1}),  # no true label
        ([0, 0, 1, 0], [0, 0, 0, 0], {(2, 4): 1}),  # no predicted label
        ([0, 0, 0, 0], [0, 0, 0, 0], {(4, 4): 1}),
    ],
)
def test_mlcm_categories(true, pred, cells):
    expected = np.zeros((5, 5), dtype=int)
    for cell, count in cells.items():
        expected[cell] = count
    result = confusion.mlcm(_frame([true], "abcd"), _frame([pred], "abcd"))
    assert result.to_numpy().tolist() == expected.tolist()
    assert list(result.index) == ["a", "b", "c", "d", confusion.NO_TRUE_LABEL]
    assert list(result.columns) == ["a", "b", "c", "d", confusion.NO_PREDICTED_LABEL]


def test_mlcm_sums_and_single_label_case():
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(3)
    true = _frame(rng.random((300, 5)) < 0.35, "abcde").astype(int)
    subset_pred = true * (rng.random(true.shape) < 0.7)  # predictions never add labels
    matrix = confusion.mlcm(true, subset_pred)
    assert matrix.iloc[:5].sum(axis=1).tolist() == true.sum(axis=0).tolist()
    one_true = pd.DataFrame(np.eye(5, dtype=int)[rng.integers(0, 5, 300)], index=true.index, columns=list("abcde"))
    any_pred = (rng.random(true.shape) < 0.3).astype(int)
    matrix = confusion.mlcm(one_true, pd.DataFrame(any_pred, index=true.index, columns=list("abcde")))
    assert matrix.iloc[:, :5].sum(axis=0).tolist() == any_pred.sum(axis=0).tolist()  # each prediction charged once
    a, b = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    onehot = np.eye(5, dtype=int)
    single = confusion.mlcm(
        pd.DataFrame(onehot[a], columns=list("abcde")), pd.DataFrame(onehot[b], columns=list("abcde"))
    )
    assert single.iloc[:5, :5].to_numpy().tolist() == confusion_matrix(a, b, labels=range(5)).tolist()
    assert single.iloc[5].sum() == single.iloc[:, 5].sum() == 0


def test_mlcm_rejects_probabilities_and_missing_items():
    true = _frame([[1, 0, 0], [0, 1, 0]])
    with pytest.raises(VoxpopError, match="item 'i0', column 'a' holds 0.6"):
        confusion.mlcm(true, _frame([[0.6, 0.4, 0], [0, 1, 0]]))
    with pytest.raises(VoxpopError, match=r"1 items have true labels but no prediction \(first: \['i1'\]\)"):
        confusion.mlcm(true, true.iloc[:1])


# =================================================================================== corpus tables
def _likert_corpus(seed: int = 0) -> tuple[Corpus, dict[str, np.ndarray]]:
    """4 raters x 40 items x 2 emotions on 0..3 with missing ratings, plus a gender attribute."""
    rng = np.random.default_rng(seed)
    frames, matrices = [], {}
    for emotion in ("happy", "sad"):
        truth = rng.integers(0, 4, 40)
        data = np.where(rng.random((4, 40)) < 0.7, truth, rng.integers(0, 4, (4, 40))).astype(float)
        data[rng.random((4, 40)) < 0.2] = np.nan
        matrices[emotion] = data
        frames.append(_long(data, emotion))
    gender = np.where(rng.random((4, 40)) < 0.85, np.arange(40) % 2, 1 - np.arange(40) % 2)
    frames.append(_long(np.where(gender == 0, "Male", "Female").astype(object), "", "gender"))
    ratings = pd.concat(frames, ignore_index=True)
    ratings.loc[ratings.slot == "gender", "label"] = ratings.loc[ratings.slot == "gender", "value"]
    ratings.loc[ratings.slot == "gender", "value"] = np.nan
    items = pd.DataFrame(
        {"source": np.where(np.arange(40) < 25, "wild", "acted")}, index=[f"i{j:03d}" for j in range(40)]
    )
    corpus = Corpus("toy-likert", items, ratings, classes=["happy", "sad"], scales={"intensity": (0, 3)})
    matrices["gender"] = gender
    return corpus, matrices


def test_agreement_table_for_intensity_ratings_matches_package_and_numpy():
    corpus, data = _likert_corpus()
    table = tables.agreement_table(corpus, by="source", pearson=True)
    alpha = table[table.statistic == "alpha"].set_index(["group", "label"])["value"]
    acted = (corpus.items.source == "acted").to_numpy()
    for emotion in ("happy", "sad"):
        assert alpha["all", emotion] == pytest.approx(
            krippendorff.alpha(data[emotion], level_of_measurement="interval")
        )
        expected = krippendorff.alpha(data[emotion][:, acted], level_of_measurement="interval")
        assert alpha["acted", emotion] == pytest.approx(expected)
    pairs = table[(table.statistic == "pearson_r") & (table.group == "all") & (table.label == "sad")]
    r01 = pairs.set_index("pair").loc["r0~r1"]
    both = ~np.isnan(data["sad"][0]) & ~np.isnan(data["sad"][1])
    assert r01.value == pytest.approx(np.corrcoef(data["sad"][0, both], data["sad"][1, both])[0, 1])
    assert r01["items"] == both.sum()
    assert pairs.pair.iloc[-1] == "mean of 6 pairs"
    assert pairs.value.iloc[-1] == pytest.approx(pairs.value.iloc[:-1].mean())


def test_agreement_table_for_categorical_slots_gives_alpha_and_fleiss():
    from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

    corpus, data = _likert_corpus()
    table = tables.agreement_table(corpus, slot="gender").set_index("statistic")
    assert table.at["alpha", "value"] == pytest.approx(
        krippendorff.alpha(data["gender"].astype(float), level_of_measurement="nominal")
    )
    counts = np.stack([(data["gender"] == k).sum(axis=0) for k in (0, 1)], axis=1)
    assert table.at["fleiss_kappa", "value"] == pytest.approx(statsmodels_fleiss(counts))
    assert table.at["alpha", "items"] == 40 and table.at["alpha", "ratings"] == 160
    with pytest.raises(VoxpopError, match="--pearson needs values on a scale"):
        tables.agreement_table(corpus, slot="gender", pearson=True)


def test_agreement_table_per_condition_with_vote_counts_and_bootstrap():
    rng = np.random.default_rng(1)
    rows = []
    for condition in ("voice", "face"):
        for k in range(30):
            n = rng.integers(1, 9) if k else 1  # item c0 has a single rating per condition
            rows += [(f"c{k}", condition, label) for label in rng.choice(["A", "S", "N"], n, p=[0.6, 0.2, 0.2])]
    ratings = pd.DataFrame(rows, columns=["item", "condition", "label"])
    corpus = Corpus("votes", pd.DataFrame(index=[f"c{k}" for k in range(30)]), ratings, classes=["A", "S", "N"])
    table = tables.agreement_table(corpus, n_boot=200)
    voice = table[table.condition == "voice"].set_index("statistic")
    counts = reliability.value_counts(ratings[ratings.condition == "voice"], ["A", "S", "N"])
    assert voice.at["alpha", "value"] == pytest.approx(
        krippendorff.alpha(value_counts=counts.to_numpy(), level_of_measurement="nominal")
    )
    pairable = counts[counts.sum(axis=1) >= 2]
    assert voice.at["fleiss_kappa", "value"] == pytest.approx(kappas.fleiss_kappa(pairable))
    assert voice.at["alpha", "unpairable"] == (counts.sum(axis=1) == 1).sum() >= 1
    assert voice.at["alpha", "ci_low"] < voice.at["alpha", "value"] < voice.at["alpha", "ci_high"]
    assert tables.agreement_table(corpus, condition="face").condition.unique().tolist() == ["face"]


# =================================================================================== real data: Earkick
EARKICK_LEVELS = {"None": 0.0, "A little": 1.0, "Moderate": 2.0, "Extremely": 3.0}
EARKICK_EMOTIONS = ["happy", "sad", "anger", "surprise", "disgust", "fear"]


def test_earkick_agreement_matches_an_independent_computation_from_the_csv(shared_data):
    from voxpop.corpus.formats.likert import read_earkick

    path = shared_data / "earkick-reannotation" / "assessment.csv"
    raw = pd.read_csv(path, keep_default_na=False)
    raw["clip"] = raw["audio"].str.rsplit("/", n=1).str[-1].str.removesuffix(".m4a")
    noted = raw.groupby("clip")["notes"].agg(lambda notes: notes.str.strip().ne("").any())
    usable = noted.index[~noted.to_numpy()]
    acted = usable[usable.str.endswith(("_cremad", "_ravdess"))]
    subsets = {"all": usable, "acted": acted, "wild": usable.difference(acted)}
    assert (len(usable), len(acted)) == (317, 87)

    corpus = read_earkick(path).where("not flagged")
    table = tables.agreement_table(corpus, by="acted", pearson=True)
    alpha = table[table.statistic == "alpha"].set_index(["group", "label"])["value"]
    groups = {"all": "all", "acted": "True", "wild": "False"}
    for emotion in EARKICK_EMOTIONS:
        matrix = raw.pivot(index="annotator", columns="clip", values=emotion).replace(EARKICK_LEVELS).astype(float)
        for subset, clips in subsets.items():
            expected = krippendorff.alpha(matrix[clips].to_numpy(), level_of_measurement="interval")
            assert alpha[groups[subset], emotion] == pytest.approx(expected, rel=1e-10)
        pairs = table[(table.statistic == "pearson_r") & (table.group == "all") & (table.label == emotion)]
        for a, b in [(1, 2), (1, 3), (2, 3)]:
            expected = np.corrcoef(matrix.loc[a, usable], matrix.loc[b, usable])[0, 1]
            assert pairs.set_index("pair").at[f"{a}~{b}", "value"] == pytest.approx(expected, rel=1e-10)
    gender = raw.pivot(index="annotator", columns="clip", values="gender")[usable].to_numpy().astype(str)
    expected = krippendorff.alpha(gender, level_of_measurement="nominal")
    got = tables.agreement_table(corpus, slot="gender").set_index("statistic").at["alpha", "value"]
    assert got == pytest.approx(expected, rel=1e-10)


# =================================================================================== CLI
def _run(*args: str):
    from typer.testing import CliRunner

    import voxpop.cli

    return CliRunner().invoke(voxpop.cli.app, [*map(str, args)])


def test_cli_agreement_prints_and_writes_the_table(tmp_path):
    corpus, data = _likert_corpus()
    corpus.save(tmp_path / "toy")
    out = tmp_path / "agreement.csv"
    result = _run("agreement", tmp_path / "toy", "--by", "source", "--pearson", "--bootstrap", "200", "--out", out)
    assert result.exit_code == 0, result.output
    assert "95% CI" in result.output and "mean of 6 pairs" in result.output
    # 6 rater pairs x 2 emotions x 3 groups: more than the terminal shows (their means), every one in the file
    assert "r0~r1" not in result.output and "36 rater-pair rows summarised by their mean" in result.output
    saved = pd.read_csv(out, keep_default_na=False)
    assert (saved.pair == "mean of 6 pairs").sum() == 2 * 3  # 2 emotions x 3 groups (all, acted, wild)
    assert saved.pair.str.contains("~").sum() == 36
    happy = saved[(saved.group == "all") & (saved.label == "happy") & (saved.statistic == "alpha")].iloc[0]
    assert float(happy.value) == pytest.approx(krippendorff.alpha(data["happy"], level_of_measurement="interval"))
    assert float(happy.ci_low) < float(happy.value) < float(happy.ci_high)
    result = _run("agreement", tmp_path / "toy", "--slot", "gender", "--where", "source == 'acted'", "--out", out)
    assert result.exit_code == 0 and "Fleiss" in result.output
    assert pd.read_csv(out)["items"].tolist() == [15, 15]
    result = _run("agreement", tmp_path / "toy", "--emotion", "angry")
    assert result.exit_code != 0 and "--emotion ['angry']: no 'intensity' ratings" in str(result.exception)
    result = _run("agreement", tmp_path / "toy", "--slot", "gender", "--fleiss", "gwet", "--out", out)
    assert result.exit_code == 0 and "Fleiss' kappa: gwet" in result.output
    assert pd.read_csv(out, keep_default_na=False).set_index("statistic").at["fleiss_kappa", "method"] == "gwet"
    result = _run("agreement", tmp_path / "toy", "--emotion", "happy", "--icc", "--out", out)
    assert result.exit_code == 0 and "ICC(3,k)" in result.output
    saved = pd.read_csv(out)
    icc = saved[(saved.group == "all") & saved.statistic.eq("icc")].set_index("method")["value"]
    # missing ratings: the one-way ANOVA with k_i ratings per item (items rated twice or more), direct formula
    groups = [col[~np.isnan(col)] for col in data["happy"].T if (~np.isnan(col)).sum() >= 2]
    k_i, values = np.array([len(g) for g in groups], float), np.concatenate(groups)
    n, total = len(groups), k_i.sum()
    msr = sum(len(g) * (g.mean() - values.mean()) ** 2 for g in groups) / (n - 1)
    msw = sum(((g - g.mean()) ** 2).sum() for g in groups) / (total - n)
    k0 = (total - (k_i**2).sum() / total) / (n - 1)
    assert icc["ICC(1,1)"] == pytest.approx((msr - msw) / (msr + (k0 - 1) * msw), rel=1e-9)
    notes = saved[(saved.group == "all") & saved.statistic.eq("icc")].set_index("method")["note"]
    assert np.isnan(icc["ICC(2,1)"]) and notes["ICC(2,1)"].startswith("not computed: raters differ per item")


def _condition_corpus() -> Corpus:
    rng = np.random.default_rng(2)
    rows = []
    for k in range(60):
        base = rng.dirichlet(np.ones(3))
        for condition, noise in (("voice", 0.4), ("face", 0.2), ("av", 0.1)):
            p = (1 - noise) * base + noise * rng.dirichlet(np.ones(3))
            rows += [(f"c{k}", condition, label) for label in rng.choice(["A", "S", "N"], 8, p=p / p.sum())]
    items = pd.DataFrame({"speaker": [f"s{k % 3}" for k in range(60)]}, index=[f"c{k}" for k in range(60)])
    return Corpus("conditions", items, pd.DataFrame(rows, columns=["item", "condition", "label"]), ["A", "S", "N"])


def test_cli_compare_matrix_equals_ccc_of_make_labels(tmp_path):
    from voxpop.labels.rules import make_labels

    corpus = _condition_corpus()
    corpus.save(tmp_path / "c")
    out = tmp_path / "compare.csv"
    result = _run("compare", tmp_path / "c", "--label-sets", "voice,face,av,all", "--stat", "ccc", "--out", out)
    assert result.exit_code == 0, result.output
    saved = pd.read_csv(out).set_index(["group", "a", "b", "class"])["value"]
    voice, pooled = make_labels(corpus, "ar", condition="voice"), make_labels(corpus, "ar", pool=True)
    expected = correlations.ccc_labelsets(voice, pooled)
    assert saved["all", "voice", "all", "mean"] == pytest.approx(expected["mean"])
    assert saved["all", "voice", "all", "S"] == pytest.approx(correlations.ccc(voice.targets["S"], pooled.targets["S"]))
    assert saved["all", "face", "face", "mean"] == pytest.approx(1.0)
    result = _run(
        "compare", tmp_path / "c", "--label-sets", "voice,face", "--stat", "kappa", "--rule", "pr", "--by", "speaker"
    )
    assert result.exit_code == 0, result.output
    assert "items: speaker=s2" in result.output  # --by groups are named COLUMN=value
    result = _run("compare", tmp_path / "c", "--label-sets", "voice,video")
    assert result.exit_code != 0 and "label sets ['video'] are not conditions" in str(result.exception)


def test_cli_sweep_finds_best_threshold_and_writes_png_and_csv(tmp_path):
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(3)
    items = pd.DataFrame({"kind": np.where(np.arange(50) < 20, "x", "y")}, index=[f"c{k}" for k in range(50)])
    frames = []
    for name, raters in (("a", 3), ("b", 2)):
        values = rng.integers(0, 4, (raters, 50, 2))
        rows = [
            (f"c{k}", f"{name}{r}", "intensity", emotion, float(values[r, k, e]))
            for r in range(raters)
            for k in range(50)
            for e, emotion in enumerate(["happy", "sad"])
        ]
        ratings = pd.DataFrame(rows, columns=["item", "rater", "slot", "label", "value"])
        Corpus(name, items, ratings, ["happy", "sad"], scales={"intensity": (0, 3)}).save(tmp_path / name)
        frames.append(ratings.groupby(["item", "label"])["value"].mean().unstack("label") / 3)
    out = tmp_path / "sweep.png"
    result = _run(
        "sweep", "--a", tmp_path / "a", "--b", tmp_path / "b", "--grid", "0.1:0.9:0.1", "--by", "kind", "--out", out
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:4] == b"\x89PNG" and (tmp_path / "sweep-x.png").is_file()
    curve = pd.read_csv(tmp_path / "sweep.csv")
    everything = curve[curve.group == "all"].set_index("threshold")
    a, b = frames
    for t in (0.1, 0.5, 0.9):
        expected = cohen_kappa_score(a.loc[b.index, "sad"] >= t, b["sad"] >= t)
        assert everything.at[t, "sad"] == pytest.approx(expected)
    best = everything["mean"].idxmax()
    assert f"{best:.2f}" in result.output


def test_cli_mlcm_on_two_label_sets(tmp_path):
    from voxpop.labels.rules import make_labels

    corpus = _condition_corpus()
    true, pred = make_labels(corpus, "ar-test", condition="av"), make_labels(corpus, "ar", condition="voice")
    true.save(tmp_path / "true.parquet")
    pred.save(tmp_path / "pred.parquet")
    out = tmp_path / "mlcm.csv"
    result = _run("mlcm", tmp_path / "true.parquet", tmp_path / "pred.parquet", "--out", out)
    assert result.exit_code == 0, result.output
    saved = pd.read_csv(out).set_index("true").drop(columns="group")
    from voxpop.labels.decisions import binarize_above_uniform

    expected = confusion.mlcm(binarize_above_uniform(true.kept_targets), binarize_above_uniform(pred.kept_targets))
    assert saved.to_numpy().tolist() == expected.to_numpy().tolist()
    assert "60 items in both" in result.output
    corpus.save(tmp_path / "c")
    result = _run(
        "mlcm", tmp_path / "true.parquet", tmp_path / "pred.parquet", "--corpus", tmp_path / "c", "--by", "speaker"
    )
    assert result.exit_code == 0 and "speaker=s1" in result.output


def test_summary_rows_give_the_mean_over_emotions_and_pairs_with_a_student_t_interval(tmp_path):
    from scipy import stats as scipy_stats

    # 3 raters x 4 items, emotions happy / sad / fear on 0..3, every rater rates every item
    data = {
        "happy": np.array([[0, 1, 2, 3], [0, 1, 3, 3], [1, 1, 2, 2]], dtype=float),
        "sad": np.array([[3, 2, 0, 0], [2, 2, 1, 0], [3, 1, 0, 1]], dtype=float),
        "fear": np.array([[0, 0, 1, 3], [1, 0, 0, 2], [0, 2, 1, 0]], dtype=float),
    }
    rows = [(f"i{j}", f"r{r}", "intensity", emotion, data[emotion][r, j])
            for emotion in data for r in range(3) for j in range(4)]  # fmt: skip
    ratings = pd.DataFrame(rows, columns=["item", "rater", "slot", "label", "value"])
    corpus = Corpus("three", pd.DataFrame(index=[f"i{j}" for j in range(4)]), ratings, classes=list(data),
                    scales={"intensity": (0, 3)})  # fmt: skip
    table = tables.agreement_table(corpus, pearson=True)
    alphas = [krippendorff.alpha(data[e], level_of_measurement="interval") for e in data]
    half = scipy_stats.t.ppf(0.975, 2) * np.std(alphas, ddof=1) / np.sqrt(3)  # Student-t over the 3 emotions
    summary = table[table.label.eq("mean over 3 emotions") & table.statistic.eq("alpha")].iloc[0]
    assert summary.value == pytest.approx(np.mean(alphas))
    assert (summary.ci_low, summary.ci_high) == pytest.approx((np.mean(alphas) - half, np.mean(alphas) + half))
    published = f"{np.mean(alphas):.2f} ± {half:.2f}".replace("0.", ".")
    assert summary.note.startswith(published)
    # Pearson r: per emotion the mean over the 3 rater pairs (t over pairs), then the mean of those over emotions
    pair_means = []
    for e in data:
        r = [np.corrcoef(data[e][a], data[e][b])[0, 1] for a, b in ((0, 1), (0, 2), (1, 2))]
        row = table[table.label.eq(e) & table.pair.eq("mean of 3 pairs")].iloc[0]
        t_half = scipy_stats.t.ppf(0.975, 2) * np.std(r, ddof=1) / np.sqrt(3)
        assert (row.value, row.ci_high) == pytest.approx((np.mean(r), np.mean(r) + t_half))
        pair_means.append(np.mean(r))
    over = table[table.label.eq("mean over 3 emotions") & table.statistic.eq("pearson_r")].iloc[0]
    assert over.pair == "mean of pairs" and over.value == pytest.approx(np.mean(pair_means))
    corpus.save(tmp_path / "three")
    out = tmp_path / "agreement.csv"
    result = _run("agreement", tmp_path / "three", "--out", out)
    assert result.exit_code == 0, result.output
    assert "mean over 3 emotions" in result.output and published in result.output
    saved = pd.read_csv(out, keep_default_na=False)
    assert float(saved[saved.label.eq("mean over 3 emotions")].ci_high.iloc[0]) == pytest.approx(np.mean(alphas) + half)
