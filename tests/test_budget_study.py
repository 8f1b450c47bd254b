"""Recipe ``analyses.budget``: the budget stage of a study and its report section (figures, CSV / LaTeX tables)."""

from __future__ import annotations

import pandas as pd
import pytest

from voxpop.agreement.budget import annotation_budget
from voxpop.corpus.corpus import Corpus
from voxpop.report.study import write_study_report
from voxpop.study.loading import recipe_from_dict
from voxpop.study.run import run_recipe


def test_recipe_budget_section_matches_the_library_and_writes_tables_and_figures(demo_corpus, tmp_path):
    recipe = {
        "study": "budget",
        "corpus": {"path": str(demo_corpus.dir)},
        "labels": {"test": {"MR": {"rule": "mr", "condition": "voice"}}},
        "analyses": {"budget": {"rules": ["mr"], "raters": "1:3", "draws": 5, "bootstrap": 50,
                                "conditions": ["voice", "face"]}},
    }  # fmt: skip
    run = run_recipe(recipe_from_dict(recipe), tmp_path / "out", on_run=write_study_report)
    tables = run.outputs[run.plan.analyses["budget"].key]
    expected = annotation_budget(Corpus.load(demo_corpus.dir), ["mr"], [1, 2, 3], draws=5, n_boot=50,
                                 conditions=["voice", "face"]).curve  # fmt: skip
    pd.testing.assert_frame_equal(tables["curve"], expected)
    assert set(tables["reannotate"]["condition"]) == {"voice", "face"}
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Annotation budget" in report
    out = tmp_path / "out"
    csv = next(out.rglob("budget-curve.csv"))
    table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    assert table["k"].tolist().count("full panel") == 2  # one full-panel row per condition
    voice = expected[expected["condition"].eq("voice") & expected["raters"].eq(2)].set_index("statistic")
    row = table[table["condition"].eq("voice") & table["k"].eq("2")].iloc[0]
    assert row["label stability"].startswith(f"{voice.at['stability', 'value']:.3f}")
    assert next(out.rglob("budget-curve.tex")).read_text().count("& mr & full panel &") == 2
    assert any(out.rglob("budget-mr.png")) and any(out.rglob("budget-mr.pdf"))


def test_recipe_budget_refuses_a_learned_rule():
    from voxpop.core.errors import ConfigError

    with pytest.raises(ConfigError, match="analyses.budget.rules"):
        recipe_from_dict({"study": "x", "corpus": {"demo": {}}, "labels": {"test": {"MR": {"rule": "mr"}}},
                          "analyses": {"budget": {"rules": ["dawid-skene"]}}})  # fmt: skip
