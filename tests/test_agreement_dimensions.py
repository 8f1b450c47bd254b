"""Agreement on dimensional ratings per dimension: alpha (interval), pairwise Pearson r and CCC, ICC, checked
against krippendorff, scipy, the direct CCC formula and pingouin."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from voxpop.agreement.tables import dimension_agreement
from voxpop.cli import app
from voxpop.core.errors import VoxpopError
from voxpop.corpus.corpus import Corpus

DIMENSIONS = ("arousal", "valence")


def crossed() -> tuple[Corpus, dict[str, np.ndarray]]:
    """3 raters rate all 10 items on both dimensions (1..7); rater r2 is biased +1 on valence, r3 noisy."""
    rng = np.random.default_rng(5)
    truth = {d: rng.integers(2, 6, 10).astype(float) for d in DIMENSIONS}
    values, rows = {}, []
    for d in DIMENSIONS:
        noise = rng.normal(0, [[0.3], [0.3], [1.5]], (3, 10))
        bias = np.array([[0.0], [1.0 if d == "valence" else 0.0], [0.0]])
        values[d] = np.clip(np.round(truth[d] + bias + noise), 1, 7)  # raters x items
        rows += [
            (f"i{i}", f"r{r + 1}", "dimension", d, values[d][r, i]) for r in range(3) for i in range(10)
        ]
    ratings = pd.DataFrame(rows, columns=["item", "rater", "slot", "label", "value"])
    items = pd.DataFrame(index=[f"i{i}" for i in range(10)])
    return Corpus("dims", items, ratings, ["neutral"], scales={"dimension": (1, 7)}), values


def _ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin (1989): 2 s_xy / (s_x^2 + s_y^2 + (mean_x - mean_y)^2), moments over n."""
    return 2 * np.cov(x, y, bias=True)[0, 1] / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:pingouin")  # pingouin 0.7 on pandas 3.1 (dropna inplace)
def test_every_dimension_gets_alpha_pearson_ccc_and_icc_equal_to_the_libraries():
    pingouin = pytest.importorskip("pingouin", reason="pingouin is the test-only reference for ICC (dev extra)")
    corpus, values = crossed()
    table = dimension_agreement(corpus)
    assert list(dict.fromkeys(table["label"])) == [*DIMENSIONS, "mean over 2 dimensions"]
    for d in DIMENSIONS:
        rows = table[table["label"].eq(d)]
        alpha = rows.loc[rows["statistic"].eq("alpha"), "value"].item()
        assert alpha == pytest.approx(krippendorff.alpha(values[d], level_of_measurement="interval"), abs=1e-9)
        pairs = rows[rows["statistic"].eq("pearson_r")].set_index("pair")["value"]
        cccs = rows[rows["statistic"].eq("ccc")].set_index("pair")["value"]
        for a, b in ((0, 1), (0, 2), (1, 2)):
            pair = f"r{a + 1}~r{b + 1}"
            assert pairs[pair] == pytest.approx(stats.pearsonr(values[d][a], values[d][b])[0], abs=1e-9)
            assert cccs[pair] == pytest.approx(_ccc(values[d][a], values[d][b]), abs=1e-9)
        assert cccs["mean of 3 pairs"] == pytest.approx(np.mean([_ccc(values[d][a], values[d][b])
                                                                 for a, b in ((0, 1), (0, 2), (1, 2))]))  # fmt: skip
        long = pd.DataFrame(
            [(i, r, values[d][r, i]) for r in range(3) for i in range(10)], columns=["item", "rater", "value"]
        )
        expected = pingouin.intraclass_corr(long, targets="item", raters="rater", ratings="value").set_index("Type")
        icc = rows[rows["statistic"].eq("icc")].set_index("method")["value"]
        # pingouin 0.7 names the forms by McGraw & Wong: A = absolute agreement (ICC2), C = consistency (ICC3)
        names = {"ICC(1,1)": "ICC(1,1)", "ICC(2,1)": "ICC(A,1)", "ICC(3,1)": "ICC(C,1)",
                 "ICC(1,k)": "ICC(1,k)", "ICC(2,k)": "ICC(A,k)", "ICC(3,k)": "ICC(C,k)"}  # fmt: skip
        for ours, theirs in names.items():
            assert icc[ours] == pytest.approx(expected.at[theirs, "ICC"], abs=1e-9)
    # the summary row: mean over the 2 dimensions' alphas +- t_{0.975, 1} * s / sqrt(2) (Student-t, by hand)
    alphas = [krippendorff.alpha(values[d], level_of_measurement="interval") for d in DIMENSIONS]
    half = stats.t.ppf(0.975, 1) * np.std(alphas, ddof=1) / np.sqrt(2)
    summary = table[table["label"].eq("mean over 2 dimensions") & table["statistic"].eq("alpha")].iloc[0]
    assert summary["value"] == pytest.approx(np.mean(alphas)) and summary["ci_high"] == pytest.approx(
        np.mean(alphas) + half
    )
    valence = table[table["label"].eq("valence") & table["statistic"].eq("ccc")].set_index("pair")["value"]
    pearson = table[table["label"].eq("valence") & table["statistic"].eq("pearson_r")].set_index("pair")["value"]
    assert valence["r1~r2"] < pearson["r1~r2"]  # r2's bias lowers CCC, not Pearson r


def test_crowd_dimensions_give_icc1_only_and_the_cli_prints_every_dimension(tmp_path):
    corpus, _ = crossed()
    crowd = corpus.ratings[~(corpus.ratings["rater"].eq("r3") & corpus.ratings["item"].isin(["i0", "i1"]))]
    partial = Corpus("crowd", corpus.items, crowd, ["neutral"], scales={"dimension": (1, 7)})
    icc = dimension_agreement(partial, dimensions=["arousal"]).query("statistic == 'icc'").set_index("method")
    assert icc.loc[["ICC(1,1)", "ICC(1,k)"], "value"].notna().all()
    assert icc.loc["ICC(2,1)", "note"].startswith("not computed: raters differ per item")
    corpus.save(tmp_path / "corpus")
    out = tmp_path / "agreement.csv"
    result = CliRunner().invoke(app, [
        "agreement", str(tmp_path / "corpus"), "--slot", "dimension", "--pearson", "--ccc", "--icc", "--out", str(out),
    ], env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    counts = written.groupby(["label", "statistic"]).size().unstack()
    assert counts.loc[list(DIMENSIONS), ["alpha", "pearson_r", "ccc", "icc"]].to_numpy().tolist() == [[1, 4, 4, 6]] * 2
    assert "CCC" in result.output


def test_many_rater_pairs_are_summarised_in_the_terminal_and_written_in_full(tmp_path, monkeypatch):
    import voxpop.cli.agreement_verbs as verbs

    corpus, _ = crossed()
    corpus.save(tmp_path / "corpus")
    monkeypatch.setattr(verbs, "MAX_PAIR_ROWS", 5)  # 3 raters: 3 pairs x (r, CCC) x 2 dimensions = 12 pair rows
    out = tmp_path / "agreement.csv"
    args = ["agreement", str(tmp_path / "corpus"), "--slot", "dimension", "--pearson", "--ccc", "--out", str(out)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "r1~r2" not in result.output and "mean of 3 pairs" in result.output
    assert f"12 rater-pair rows summarised by their mean; every pair is in {out}" in " ".join(result.output.split())
    written = pd.read_csv(out)
    assert written["pair"].astype(str).str.contains("~").sum() == 12


def test_dimension_agreement_refuses_a_corpus_without_the_slot():
    corpus, _ = crossed()
    with pytest.raises(VoxpopError, match="sentiment"):
        dimension_agreement(corpus, slot="sentiment")
