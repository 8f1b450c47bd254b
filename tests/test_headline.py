"""The headline of a study: the last block of ``voxpop train``'s terminal output (the report's headline is checked
with the study recipes, tests/test_recipes.py and tests/test_regression_runs.py)."""

from __future__ import annotations

import pandas as pd
import yaml
from typer.testing import CliRunner

import voxpop.cli


def test_train_output_ends_with_the_headline_table_and_its_warnings(demo_corpus, tmp_path, undrawn_figures):
    result = CliRunner().invoke(voxpop.cli.app, [
        "train", str(demo_corpus.dir), "--labels", "mr", "--condition", "voice", "--extractor", "fbank",
        "--store", str(tmp_path / "store"), "--head", "logreg,mlp", "--epochs", "2", "--k", "3", "--bootstrap", "20",
        "--question", "Does a model learn the voice-only majority labels?", "--out", str(tmp_path / "run"),
    ], env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.rstrip("\n").splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("Question: "))
    block = lines[start:]
    assert block[0] == "Question: Does a model learn the voice-only majority labels?"
    # the best of the two heads by macro-F1 (the recipe's first metric), as results.parquet holds it
    results = pd.read_parquet(tmp_path / "run" / "results.parquet")
    cells = results[results["group"].eq("all") & results["metric"].eq("macro_f1")]
    best = cells.loc[cells["value"].idxmax()]
    header = next(line for line in block if line.startswith("┃"))
    assert [c.strip() for c in header.strip("┃").split("┃")] == [
        "test label set", "best model (variant)", "best train label set", "macro-F1 [95 % CI]", "chance", "items",
        "models compared",
    ]  # fmt: skip
    row = next(line for line in block if line.startswith("│ mr "))
    assert [c.strip() for c in row.strip("│").split("│")] == [
        "mr", best["variant"], "mr", f"{best['value']:.3f} [{best['low']:.3f}, {best['high']:.3f}]",
        f"{best['chance']:.3f}", f"{best['n_items']:,}", "2",
    ]  # fmt: skip
    # after the table only the warnings that change how to read it: 6 speakers in 3 folds, 2 per fold
    end = max(i for i, line in enumerate(block) if line.startswith("└"))
    after = block[end + 1 :]
    assert after and all(line.startswith("read with care: ") for line in after)
    assert any("fold fold1 tests 2 speaker(s)" in line for line in after)


def test_run_output_ends_with_the_same_headline_as_the_report(demo_corpus, tmp_path, undrawn_figures):
    recipe = {
        "study": "two-rules",
        "corpus": {"path": str(demo_corpus.dir)},
        "labels": {"train": {"MR": {"rule": "mr", "condition": "voice"}, "PR": {"rule": "pr", "condition": "voice"}},
                   "test": {"MR": {"rule": "mr", "condition": "voice"}}},
        "features": {"extractor": "fbank", "store": str(tmp_path / "store")},
        "model": {"head": "logreg"},
        "protocol": {"speaker_folds": {"k": 3}},
        "evaluation": {"bootstrap": 20, "metrics": ["uar", "macro_f1"]},
    }  # fmt: skip
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = CliRunner().invoke(voxpop.cli.app, ["run", str(path), "--out", str(tmp_path / "out"), "--workers", "1"],
                                env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.rstrip("\n").splitlines()
    block = lines[max(i for i, line in enumerate(lines) if line.startswith("Question: ")) :]
    question = "Which train label set (MR, PR) gives the best UAR on the test label set MR?"  # the default
    assert block[0] == f"Question: {question}"
    results = pd.read_parquet(tmp_path / "out" / "results.parquet")
    cells = results[results["group"].eq("all") & results["metric"].eq("uar")]  # the recipe's first metric
    best = cells.loc[cells["value"].idxmax()]
    shown = f"| MR | {best['train']} | {best['value']:.3f} [{best['low']:.3f}, {best['high']:.3f}] | 0.250 |"
    report = (tmp_path / "out" / "report.md").read_text()
    assert f"**Question:** {question}" in report and shown in report.split("## Study")[0]
    row = next(line for line in block if line.startswith("│ MR "))
    assert " │ ".join(c.strip() for c in row.strip("│").split("│")).startswith(shown.strip("| ").replace(" | ", " │ "))
    end = max(i for i, line in enumerate(block) if line.startswith("└"))
    assert all(line.startswith("read with care: ") for line in block[end + 1 :])
