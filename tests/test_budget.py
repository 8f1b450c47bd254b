"""The annotation budget (voxpop.agreement.budget): stability, kappa, kept share, AR distance and alpha at k raters,
checked against hand enumeration, scikit-learn, scipy, the krippendorff package and the binomial rate."""

from __future__ import annotations

import itertools
import math

import krippendorff
import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import cohen_kappa_score

from voxpop.agreement.budget import annotation_budget, parse_raters
from voxpop.agreement.budget_draws import draw_subsets, panel_votes
from voxpop.core.errors import ConfigError
from voxpop.corpus import Corpus

# 3 items x 4 raters, classes A and S
PANELS = {"x": "AAAS", "y": "AASS", "z": "SSSS"}


def _corpus(panels: dict[str, str], classes=("A", "S")) -> Corpus:
    rows = [(item, f"r{j}", label) for item, votes in panels.items() for j, label in enumerate(votes)]
    ratings = pd.DataFrame(rows, columns=["item", "rater", "label"])
    return Corpus("hand", pd.DataFrame(index=list(panels)), ratings, classes=list(classes))


def _value(budget, statistic: str, raters: int, rule: str = "mr") -> pd.Series:
    curve = budget.curve
    row = curve[curve["statistic"].eq(statistic) & curve["raters"].eq(raters) & curve["rule"].eq(rule)]
    assert len(row) == 1
    return row.iloc[0]


def _majority(votes: str) -> str | None:
    top = max("AS", key=votes.count)
    return top if votes.count(top) > len(votes) / 2 else None


def test_stability_at_two_raters_equals_the_hand_enumeration_of_the_six_pairs():
    # x = AAAS: full MR label A; of its 6 pairs, 3 are AA (label A, same) and 3 are AS (tie: no label): 3/6.
    # y = AASS: the full panel keeps no label (2 of 4 is no majority), so y is not counted.
    # z = SSSS: all 6 pairs are SS: 6/6. Stability = (3/6 + 6/6) / 2 = 0.75.
    budget = annotation_budget(_corpus(PANELS), ["mr"], [2], draws=6, n_boot=200)
    stability = _value(budget, "stability", 2)
    assert stability["value"] == pytest.approx(0.75)
    assert stability["items_exact"] == 3  # C(4, 2) = 6 <= 6 draws: every pair enumerated
    # the same from a direct enumeration of the pairs
    per_item = [
        np.mean([_majority("".join(pair)) == _majority(votes) for pair in itertools.combinations(votes, 2)])
        for votes in PANELS.values()
        if _majority(votes) is not None
    ]
    assert stability["value"] == pytest.approx(np.mean(per_item))
    # kept share: x 3/6 (AA pairs), y 2/6 (AA, SS), z 6/6
    assert _value(budget, "kept_share", 2)["value"] == pytest.approx((3 / 6 + 2 / 6 + 1) / 3)
    assert _value(budget, "kept_share", 2)["full_panel"] == pytest.approx(2 / 3)


def test_random_draws_converge_to_the_enumeration():
    errors = []
    for draws in (10, 4000):
        budget = annotation_budget(_corpus(PANELS), ["mr"], [2], draws=draws, n_boot=50, seed=3, enumerate_limit=0)
        assert _value(budget, "stability", 2)["items_exact"] == 0
        errors.append(abs(_value(budget, "stability", 2)["value"] - 0.75))
    assert errors[1] < 0.01
    assert errors[1] < errors[0] or errors[0] < 0.01


def test_kappa_equals_scikit_learn_on_the_enumerated_pairs():
    budget = annotation_budget(_corpus(PANELS), ["mr"], [2], draws=6, n_boot=50)
    full, small = [], []
    for votes in PANELS.values():  # x and z each have 6 pairs, so every pair weighs the same
        if _majority(votes) is None:
            continue
        for pair in itertools.combinations(votes, 2):
            full.append(_majority(votes))
            small.append(_majority("".join(pair)) or "none")
    assert _value(budget, "kappa", 2)["value"] == pytest.approx(cohen_kappa_score(full, small))
    assert _value(budget, "kappa", 2)["value"] == pytest.approx(0.6)  # (0.75 - 0.375) / (1 - 0.375)


def test_alpha_at_k_averages_each_items_coincidences():
    budget = annotation_budget(_corpus(PANELS), ["mr"], [1, 2, 4], draws=6, n_boot=50)
    # k = 2: per item the mean coincidences of its 6 pairs; x [[1, .5], [.5, 0]], y [[1/3, 2/3], [2/3, 1/3]],
    # z [[0, 0], [0, 2]]: o_AS = 7/6, n_A = 2.5, n_S = 3.5, n = 6: alpha = 1 - 5 * (7/3) / (2 * 2.5 * 3.5) = 1/3
    assert _value(budget, "alpha", 2)["value"] == pytest.approx(1 / 3)
    # k = 4 is the full panel: the krippendorff package on the reliability data (raters x items)
    data = np.array([[{"A": 0, "S": 1}[c] for c in votes] for votes in PANELS.values()], dtype=float).T
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert _value(budget, "alpha", 4)["value"] == pytest.approx(expected)
    assert _value(budget, "alpha", 4)["full_panel"] == pytest.approx(expected)
    assert math.isnan(_value(budget, "alpha", 1)["value"])  # one vote per item: nothing to pair


def test_jsd_is_scipys_jensen_shannon_distance_averaged_over_pairs_and_items():
    budget = annotation_budget(_corpus(PANELS), ["ar"], [2], draws=6, n_boot=50)

    def share(votes):
        return np.array([votes.count("A"), votes.count("S")]) / len(votes)

    per_item = [
        np.mean([jensenshannon(share("".join(p)), share(v), base=2) for p in itertools.combinations(v, 2)])
        for v in PANELS.values()
    ]
    assert _value(budget, "jsd", 2, "ar")["value"] == pytest.approx(np.mean(per_item))


def test_simulated_raters_majority_matches_the_binomial_rate_within_its_ci():
    rng = np.random.default_rng(11)
    n_items, panel, p = 1500, 9, 0.7
    truth = rng.choice(["A", "S"], size=n_items)
    correct = rng.random((n_items, panel)) < p
    panels = {f"i{i}": "".join(t if c else ("S" if t == "A" else "A") for c in row) for i, (t, row) in
              enumerate(zip(truth, correct, strict=True))}  # fmt: skip
    reference = pd.Series(truth, index=list(panels))
    budget = annotation_budget(_corpus(panels), ["mr"], [1, 3, 5, 7], draws=30, n_boot=400, seed=5,
                               reference=reference)  # fmt: skip
    for k in (1, 3, 5, 7):
        rate = sum(math.comb(k, j) * p**j * (1 - p) ** (k - j) for j in range(k // 2 + 1, k + 1))
        row = _value(budget, "stability", k)
        assert row["ci_low"] <= rate <= row["ci_high"], (k, rate, row["ci_low"], row["ci_high"])
        assert row["ci_high"] - row["ci_low"] < 0.06


def test_items_with_fewer_than_k_raters_are_counted_and_left_out():
    panels = {**PANELS, "w": "AS"}  # two raters only
    budget = annotation_budget(_corpus(panels), ["mr"], [3], draws=6, n_boot=20)
    row = _value(budget, "stability", 3)
    assert (row["items"], row["items_short"]) == (3, 1)
    table = budget.items.set_index("item")
    assert math.isnan(table.loc["w", "stability@3"])
    assert table.loc["x", "votes"] == "A:3 S:1"
    assert table.loc["x", "full_label"] == "A" and table.loc["y", "full_label"] == ""
    # x at k = 3: AAA (1 of 4 subsets) and AAS (3) all keep A: its outcome never changes
    assert table.loc["x", "stability@3"] == pytest.approx(1.0)
    # y at k = 3: AAS and ASS both keep a label, the full panel none: every subset differs
    assert table.loc["y", "stability@3"] == pytest.approx(0.0)


def test_draws_are_seeded_and_enumerate_when_few_subsets():
    votes = panel_votes(_corpus(PANELS), None)
    a, b = draw_subsets(votes, 2, draws=3, seed=1), draw_subsets(votes, 2, draws=3, seed=1)
    assert np.array_equal(a.counts, b.counts) and not a.exact.any()
    assert (a.counts.sum(axis=1) == 2).all()
    every = draw_subsets(votes, 2, draws=6)
    assert every.exact.all() and len(every.item) == 18
    assert np.allclose(np.bincount(every.item, weights=every.weight), 1.0)


def test_rules_that_need_more_than_counts_and_bad_ranges_are_refused():
    with pytest.raises(ConfigError, match="needs more than vote counts"):
        annotation_budget(_corpus(PANELS), ["dawid-skene"], [2])
    with pytest.raises(ConfigError, match="expected a range 1:K"):
        parse_raters("0:3")
    with pytest.raises(ConfigError, match="expected a range 1:K"):
        parse_raters("a:b")
    with pytest.raises(ConfigError, match="not selected classes"):
        annotation_budget(_corpus(PANELS), ["mr"], [2], reference=pd.Series({"x": "happy"}))


def _dimension_corpus(n_items: int, panel: int, noise: float, seed: int) -> Corpus:
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=n_items)
    values = truth[:, None] + noise * rng.normal(size=(n_items, panel))
    rows = [
        (f"i{i}", f"r{j}", "dimension", "arousal", float(values[i, j])) for i in range(n_items) for j in range(panel)
    ]
    ratings = pd.DataFrame(rows, columns=["item", "rater", "slot", "label", "value"])
    return Corpus("dims", pd.DataFrame(index=[f"i{i}" for i in range(n_items)]), ratings, classes=["x"],
                  scales={"dimension": (-10, 10)})  # fmt: skip


def test_dimension_budget_mean_correlation_and_spearman_brown_projection():
    import pingouin

    from voxpop.agreement.budget_dimensions import dimension_budget

    n_items, panel, noise = 400, 6, 1.0
    corpus = _dimension_corpus(n_items, panel, noise, seed=2)
    table = dimension_budget(corpus, [1, 2, 3, 6], projection_to=12, draws=20, n_boot=300, seed=1)
    icc_rows = table[table["statistic"].eq("icc")].set_index("raters")
    ratings = corpus.ratings
    reference = pingouin.intraclass_corr(ratings, targets="item", raters="rater", ratings="value")
    single = float(reference.set_index("Type").at["ICC(1,1)", "ICC"])
    assert icc_rows.at[1, "value"] == pytest.approx(single)
    assert icc_rows.at[12, "value"] == pytest.approx(12 * single / (1 + 11 * single))  # Spearman-Brown
    assert icc_rows.at[6, "value"] == pytest.approx(float(reference.set_index("Type").at["ICC(1,k)", "ICC"]))
    assert icc_rows["projection"].to_dict() == {k: k > panel for k in icc_rows.index}
    assert icc_rows.at[1, "ci_low"] < single < icc_rows.at[1, "ci_high"]
    mean_r = table[table["statistic"].eq("mean_r")].set_index("raters")
    assert mean_r.at[6, "value"] == pytest.approx(1.0)
    for k in (1, 2, 3):  # corr(mean of k, mean of n) = sqrt((1 + s^2 / n) / (1 + s^2 / k)) for unit truth variance
        expected = math.sqrt((1 + noise**2 / panel) / (1 + noise**2 / k))
        assert mean_r.at[k, "ci_low"] <= expected <= mean_r.at[k, "ci_high"], (k, expected)


def test_reannotation_ranking_puts_unstable_and_short_items_first():
    from voxpop.agreement.budget import reannotation_ranking

    panels = {**PANELS, "w": "AS", "v": "AAAA"}
    budget = annotation_budget(_corpus(panels), ["mr"], [1, 2, 3], draws=6, n_boot=20)
    ranked = reannotation_ranking(budget, 3)
    # w has 2 votes (< 3): first; then y (0.0: every 3-subset keeps a label the full panel lacks); x, z, v stable
    assert ranked["item"].tolist()[:2] == ["w", "y"]
    assert ranked["stability"].tolist()[1:] == pytest.approx([0.0, 1.0, 1.0, 1.0])
    assert ranked["rank"].tolist() == [1, 2, 3, 4, 5]
    # default: per item one rater fewer than its panel; w (AS) at k = 1: A or S, never the full panel's "none"
    default = reannotation_ranking(budget).set_index("item")
    assert default.loc["w", "at_raters"] == 1 and default.loc["w", "stability"] == pytest.approx(0.0)
    assert default.loc["x", "at_raters"] == 3 and default.loc["x", "stability"] == pytest.approx(1.0)
    assert default["rank"].idxmin() == "w"  # 0.0 with the fewest ratings: before y (0.0, four ratings)
    with pytest.raises(ConfigError, match="panel sizes"):
        reannotation_ranking(budget, 7)


def test_budget_verb_writes_the_curve_the_ranking_and_figures(tmp_path):
    from typer.testing import CliRunner

    import voxpop.cli

    _corpus(PANELS).save(tmp_path / "hand")
    out = tmp_path / "budget"
    args = ["budget", str(tmp_path / "hand"), "--rule", "mr", "--rule", "ar", "--raters", "1:3", "--draws", "6",
            "--bootstrap", "50", "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(voxpop.cli.app, args)
    assert result.exit_code == 0, result.output
    curve = pd.read_csv(out / "curve.csv")
    row = curve[curve["rule"].eq("mr") & curve["raters"].eq(2) & curve["statistic"].eq("stability")]
    assert row["value"].iat[0] == pytest.approx(0.75)  # the hand enumeration above
    assert set(curve["rule"]) == {"mr", "ar"} and set(curve["raters"]) == {1, 2, 3}
    ranked = pd.read_csv(out / "reannotate.csv", keep_default_na=False)
    assert ranked.loc[ranked["rule"].eq("mr"), "item"].iat[0] == "y"  # no majority of 4, a label from 3
    for name in ("budget-mr.png", "budget-mr.pdf", "budget-ar.png"):
        assert (out / name).stat().st_size > 0
    learned = CliRunner().invoke(voxpop.cli.app, ["budget", str(tmp_path / "hand"), "--rule", "dawid-skene",
                                                  "--out", str(out)])  # fmt: skip
    assert learned.exit_code == 0, learned.output
    posterior = pd.read_csv(out / "posterior-dawid-skene.csv")
    assert sorted(posterior["item"]) == ["x", "y", "z"] and posterior["rank"].tolist() == [1, 2, 3]
    refused = CliRunner().invoke(voxpop.cli.app, ["budget", str(tmp_path / "hand"), "--raters", "0"])
    assert isinstance(refused.exception, ConfigError) and "expected a range 1:K" in str(refused.exception)


def test_a_panel_size_beyond_every_item_is_counted_and_undefined():
    budget = annotation_budget(_corpus(PANELS), ["mr"], [5], draws=6, n_boot=20)
    row = _value(budget, "stability", 5)
    assert (row["items"], row["items_short"]) == (0, 3)
    assert math.isnan(row["value"]) and math.isnan(_value(budget, "kept_share", 5)["value"])


def test_posterior_ranking_puts_the_least_certain_learned_labels_first():
    from voxpop.agreement.budget import posterior_ranking
    from voxpop.labels.rules import make_labels

    rng = np.random.default_rng(0)
    panels = {f"i{i}": "".join(rng.choice(list("AS"), size=5, p=[0.8, 0.2] if i % 2 else [0.3, 0.7]))
              for i in range(30)}  # fmt: skip
    corpus = _corpus(panels)
    ranked = posterior_ranking(corpus, "dawid-skene", options={"seed": 0})
    labels = make_labels(corpus, "dawid-skene", seed=0)
    certainty = labels.targets.max(axis=1).where(labels.kept)
    expected = certainty.sort_values(kind="stable", na_position="last")
    assert ranked["item"].tolist() == [str(i) for i in expected.index]
    assert ranked["certainty"].to_numpy() == pytest.approx(expected.to_numpy(), nan_ok=True)
    assert ranked["rank"].tolist() == list(range(1, 31))
    first = ranked.iloc[0]
    assert first["votes"] == " ".join(
        f"{c}:{panels[first['item']].count(c)}" for c in "AS" if c in panels[first["item"]]
    )
    with pytest.raises(ConfigError, match="is not learned"):
        posterior_ranking(corpus, "mr")
