"""Recipe ``analyses.budget``: the budget stage of a study and its report section (figures, CSV / LaTeX tables)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from voxpop.agreement.budget import annotation_budget
from voxpop.corpus.corpus import Corpus
from voxpop.report.study import write_study_report
from voxpop.study.loading import recipe_from_dict
from voxpop.study.run import run_recipe


@pytest.mark.slow
def test_recipe_budget_section_matches_the_library_and_writes_tables_and_figures(demo_corpus, tmp_path):
    recipe = {
        "study": "budget",
        "corpus": {"path": str(demo_corpus.dir)},
        "labels": {"test": {"MR": {"rule": "mr", "condition": "voice"}}},
        "analyses": {"budget": {"rules": ["mr", "dawid-skene"], "raters": "1:3", "draws": 5, "bootstrap": 50,
                                "conditions": ["voice", "face"]}},
    }  # fmt: skip
    run = run_recipe(recipe_from_dict(recipe), tmp_path / "out", on_run=write_study_report)
    tables = run.outputs[run.plan.analyses["budget"].key]
    expected = annotation_budget(Corpus.load(demo_corpus.dir), ["mr"], [1, 2, 3], draws=5, n_boot=50,
                                 conditions=["voice", "face"]).curve  # fmt: skip
    pd.testing.assert_frame_equal(tables["curve"], expected)
    assert set(tables["reannotate"]["condition"]) == {"voice", "face"}
    from voxpop.agreement.budget import posterior_ranking

    posterior = posterior_ranking(Corpus.load(demo_corpus.dir), "dawid-skene", conditions=["voice", "face"],
                                  options={"seed": 0})  # fmt: skip
    pd.testing.assert_frame_equal(tables["posterior"], posterior)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Annotation budget" in report and "posterior is least certain" in report
    tables_dir = tmp_path / "out" / "tables"
    assert (tables_dir / "least-certain-posteriors.tex").exists() and (tables_dir / "items-to-re-annotate.csv").exists()
    out = tmp_path / "out"
    csv = next(out.rglob("budget-curve.csv"))
    table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    assert table["k"].tolist().count("full panel") == 2  # one full-panel row per condition
    voice = expected[expected["condition"].eq("voice") & expected["raters"].eq(2)].set_index("statistic")
    row = table[table["condition"].eq("voice") & table["k"].eq("2")].iloc[0]
    assert row["label stability"].startswith(f"{voice.at['stability', 'value']:.3f}")
    assert next(out.rglob("budget-curve.tex")).read_text().count("& mr & full panel &") == 2
    assert any(out.rglob("budget-mr.png")) and any(out.rglob("budget-mr.pdf"))


def test_recipe_budget_refuses_a_rule_it_cannot_draw_or_rank():
    from voxpop.core.errors import ConfigError

    with pytest.raises(ConfigError, match="analyses.budget.rules"):
        recipe_from_dict({"study": "x", "corpus": {"demo": {}}, "labels": {"test": {"MR": {"rule": "mr"}}},
                          "analyses": {"budget": {"rules": ["likert"]}}})  # fmt: skip


def _panel_corpus(n_items: int = 60, panel: int = 5, p: float = 0.75, seed: int = 4):
    """Two classes; the true class of item i is i mod 2; each of ``panel`` raters is right with probability p."""
    import numpy as np

    from voxpop.features import Features

    rng = np.random.default_rng(seed)
    ids = [f"clip{i:02d}" for i in range(n_items)]
    truth = np.arange(n_items) % 2
    right = rng.random((n_items, panel)) < p
    votes = np.where(right, truth[:, None], 1 - truth[:, None])
    rows = [(ids[i], f"r{j}", "AS"[votes[i, j]]) for i in range(n_items) for j in range(panel)]
    items = pd.DataFrame({"speaker": [f"s{i % 6}" for i in range(n_items)]}, index=ids)
    corpus = Corpus("panel", items, pd.DataFrame(rows, columns=["item", "rater", "label"]), classes=["A", "S"])
    values = (3 * np.eye(2)[truth] + rng.normal(size=(n_items, 2))).astype(np.float32)
    skipped = pd.DataFrame({"reason": [], "message": []})
    features = Features(key="b" * 64, path=Path("."), kind="vector", items=pd.Index(ids, dtype="string"),
                        values=values, names=["x0", "x1"], layers=[], skipped=skipped,
                        seconds=pd.Series(1.0, index=ids))  # fmt: skip
    return corpus, features


def test_model_budget_trains_on_each_items_drawn_votes_and_scores_on_the_full_panel():
    from voxpop.evaluation import evaluate_out_of_fold
    from voxpop.labels.rules import make_labels
    from voxpop.models import ModelSpec, cross_validate, make_folds
    from voxpop.study.budget_models import model_budget

    corpus, features = _panel_corpus()
    folds = make_folds(corpus.items, "speaker-folds", k=3, seed=0)
    spec = ModelSpec(head="logreg")
    table = model_budget(corpus, features, folds, spec, "mr", [1, 5], fits=2, n_boot=50, metrics=("macro_f1",))
    # k = 5 is the whole panel (one subset per item): both fits train on the full panel's labels
    full_rows = table[table["panel"].eq("full")]
    at_five = table[table["raters"].eq(5)]
    assert at_five["value"].tolist() == pytest.approx([full_rows["value"].iat[0]] * 2)
    # the full-panel row: the same head trained on make_labels' MR labels, scored by evaluate_out_of_fold
    test = make_labels(corpus, "mr")
    cv = cross_validate(features, test, folds, spec)
    expected = evaluate_out_of_fold(cv.predictions, test, n_boot=50, seed=0)["pooled"].set_index("metric")
    assert full_rows["value"].iat[0] == pytest.approx(expected.at["macro_f1", "value"])
    assert full_rows["train_items"].iat[0] == int(test.kept.sum())
    # k = 1: every item keeps its one drawn vote as label (MR of one vote), so all 60 items train
    assert table[table["raters"].eq(1)]["train_items"].tolist() == [60, 60]
    assert set(table["fit"]) == {0, 1} and table["metric"].eq("macro_f1").all()


def test_model_budget_k1_fit_matches_training_on_the_enumerated_vote():
    from voxpop.evaluation import evaluate_out_of_fold
    from voxpop.labels.rules import make_labels
    from voxpop.models import ModelSpec, cross_validate, make_folds
    from voxpop.study.budget_models import model_budget

    corpus, features = _panel_corpus()
    folds = make_folds(corpus.items, "speaker-folds", k=3, seed=0)
    spec = ModelSpec(head="logreg")
    # fits = 5 >= C(5, 1): the single votes are enumerated in order, so fit 2 trains on every item's third vote
    table = model_budget(corpus, features, folds, spec, "mr", [1], fits=5, n_boot=50, metrics=("macro_f1",))
    third = corpus.ratings[corpus.ratings["rater"].eq("r2")]
    labels = make_labels(Corpus("third", corpus.items, third[["item", "rater", "label"]], classes=["A", "S"]), "mr")
    cv = cross_validate(features, labels, folds, spec)
    expected = evaluate_out_of_fold(cv.predictions, make_labels(corpus, "mr"), n_boot=50, seed=0)["pooled"]
    row = table[table["raters"].eq(1) & table["fit"].eq(2)]
    assert row["value"].iat[0] == pytest.approx(expected.set_index("metric").at["macro_f1", "value"])


@pytest.mark.slow
def test_recipe_budget_models_trains_the_studys_head_per_k_and_reports_it(demo_corpus, tmp_path):
    from voxpop.study.budget_models import model_budget

    store = tmp_path / "store"
    recipe = {
        "study": "budget-models",
        "corpus": {"path": str(demo_corpus.dir)},
        "labels": {"train": {"MR": {"rule": "mr", "condition": "voice"}},
                   "test": {"MR": {"rule": "mr", "condition": "voice"}}},
        "features": {"extractor": "fbank", "options": {"n_mels": 20}, "store": str(store)},
        "model": {"head": "logreg"},
        "protocol": {"speaker_folds": {"k": 3}},
        "evaluation": {"bootstrap": 20},
        "analyses": {"budget": {"raters": "1,3", "draws": 4, "bootstrap": 20, "conditions": ["voice"],
                                "models": True, "model_fits": 2}},
    }  # fmt: skip
    run = run_recipe(recipe_from_dict(recipe), tmp_path / "out", on_run=write_study_report)
    models = run.outputs[run.plan.analyses["budget"].key]["models"]
    assert sorted(models.loc[models["panel"].eq("k"), "raters"].unique()) == [1, 3]
    assert set(models["fit"]) == {0, 1} and set(models["metric"]) == {"macro_f1", "uar"}
    # the same as the library on the study's cached features and folds
    features = run.outputs[run.plan.features[run.study.variant_names[0]].key]
    from voxpop.models import ModelSpec, make_folds

    folds = make_folds(Corpus.load(demo_corpus.dir).items, "speaker-folds", k=3)
    expected = model_budget(Corpus.load(demo_corpus.dir), features, folds, ModelSpec(head="logreg"), "mr", [1, 3],
                            condition="voice", fits=2, n_boot=20)  # fmt: skip
    pd.testing.assert_frame_equal(models, expected)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Budget model scores" in report
