"""``voxpop train`` prints the cautions ``voxpop run`` prints for the same study (one pass: voxpop.report.cautions)."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from voxpop.cli.app import app
from voxpop.models.saved_runs import find_runs, load_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def warnings_of(*args) -> list[str]:
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    return [line for line in result.stdout.splitlines() if line.startswith("warning:")]


def test_train_prints_the_same_cautions_as_run(demo_corpus, tmp_path):
    out = tmp_path / "out"
    trained = warnings_of(
        "train", demo_corpus.dir, "--labels", "mr", "--condition", "voice", "--extractor", "fbank", "--store",
        tmp_path / "store", "--head", "logreg", "--k", "3", "--bootstrap", "20", "--out", out,
    )  # fmt: skip
    # by hand: 6 speakers in 3 folds -> every fold tests 2 speakers (< 3), a caution for the test folds
    run = load_run(out)
    speakers = demo_corpus.corpus.items["speaker"].reindex(run.predictions.index)
    per_fold = speakers.groupby(run.predictions["fold"]).nunique()
    assert per_fold.lt(3).all()
    listed = ", ".join(f"fold {fold} tests {n} speaker(s)" for fold, n in per_fold.items())
    expected = f"warning: test folds: {listed}; with fewer than 3 per fold a score describes the speakers, not the "
    expected += "model"
    assert expected in trained
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    recipe["study"] = "by-hand"  # the same study as a recipe run by 'voxpop run'
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    ran = warnings_of("run", tmp_path / "recipe.yaml", "--out", out, "--workers", "1")
    assert trained == ran


def test_evaluate_prints_the_cautions_that_apply_to_one_run(demo_logreg_run, demo_corpus):
    """``voxpop evaluate`` of a cross-validated run: few scored test items (counted here by hand) are flagged."""
    from voxpop.labels.rules import make_labels

    run = load_run(demo_logreg_run.directory)
    labels = make_labels(demo_corpus.corpus, "mr", condition="voice", min_agreement=0.9)
    scored = int(labels.kept.reindex(run.predictions.index, fill_value=False).sum())
    assert 0 < scored < 30  # the tiny demo's clips with at least 90 % of the voice votes on one class
    lines = warnings_of("evaluate", demo_logreg_run.directory, "--labels", "mr", "--condition", "voice",
                        "--min-agreement", "0.9", "--bootstrap", "20")  # fmt: skip
    (name,) = find_runs(demo_logreg_run.directory)  # the run's name, as evaluate lists it
    expected = (f"warning: {name} -> mr: scored on {scored} test items; fewer than ~30 make intervals "
                "and differences unreliable")  # fmt: skip
    assert lines == [expected]


def test_a_split_column_without_the_partition_values_names_the_split_flags_not_column(demo_corpus, tmp_path):
    """`--protocol split --split fold` on a column of 1 / 2 / 3: the message said 'split column ...' and so named
    '--column' (the speaker folds' flag); it names protocol.split.columns / train / test and their flags."""
    result = CliRunner().invoke(
        app,
        ["train", str(demo_corpus.dir), "--labels", "mr", "--condition", "voice", "--head", "logreg", "--protocol",
         "split", "--split", "fold", "--out", str(tmp_path / "out")],
        env={"COLUMNS": "400"},
    )  # fmt: skip
    said = result.output + str(result.exception)
    assert result.exit_code != 0
    assert "protocol.split.columns 'fold' has no 'Train' items (the train values: protocol.split.train, voxpop " in said
    assert "--split-train" in said
    assert "column = --column" not in said


def test_a_refused_where_filter_names_the_where_flag_only(demo_corpus, tmp_path):
    """The filter grammar's 'Allowed: item column names ...' made the message name '--column' as well."""
    result = CliRunner().invoke(
        app,
        ["train", str(demo_corpus.dir), "--labels", "mr", "--condition", "voice", "--head", "logreg",
         "--where", "speaker.str.contains(speaker)", "--out", str(tmp_path / "out")],
        env={"COLUMNS": "400"},
    )  # fmt: skip
    said = result.output + str(result.exception)
    assert result.exit_code != 0 and "takes one text literal" in said
    assert "(recipe keys above are these voxpop train flags: where = --where)" in said
