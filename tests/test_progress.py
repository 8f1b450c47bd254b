"""Progress that tells the truth: the plain-line renderer (fake clock), the runner's stage events against the plan,
the dry run before the corpus exists, and ``voxpop train`` logging when its output is not a terminal."""

from __future__ import annotations

import re
import time

import pytest
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from voxpop.cli.app import app
from voxpop.cli.progress_display import progress_mode
from voxpop.core import progress_lines
from voxpop.core.cache import Cache
from voxpop.core.progress import Reporter, inner_progress, report_inner
from voxpop.core.progress_lines import PlainLines, format_duration
from voxpop.study import load_recipe, recipe_from_dict
from voxpop.study.corpus_source import prepare_corpus
from voxpop.study.definition import build_study
from voxpop.study.plan import plan_study
from voxpop.study.run import dry_run, run_recipe
from voxpop.study.run import planned_stages as planned
from voxpop.study.stage_kinds import KINDS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STUDY_3 = "recipes/3-aggregation-rules.yaml"


@pytest.fixture
def utc(monkeypatch):
    """Stamps in UTC, so the expected lines can be written by hand."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_durations_read_as_seconds_minutes_and_hours():
    assert [format_duration(s) for s in (0, 42.4, 59.6, 150, 3599, 3900)] == [
        "0 s", "42 s", "1 min 00 s", "2 min 30 s", "59 min 59 s", "1 h 05 min",
    ]  # fmt: skip


def test_plain_lines_start_heartbeat_progress_and_finish_with_a_fake_clock(utc):
    clock, lines = Clock(), []
    plain = PlainLines(lines.append, clock=clock, interval=30)
    reporter = plain.reporter()

    def at(seconds, action, *args):
        clock.now = seconds
        action(*args)

    at(0, reporter.stage, "labels MR", 1, 5, True)
    at(0, reporter.stage, "features fbank", 2, 5, False)
    at(10, reporter.step, 0, 1000, "items")
    at(30, plain.tick)  # 30 s since 'started', progress arrived: a progress line (no rate before one item)
    at(59, plain.tick)  # 29 s since the last line: nothing
    at(60, plain.tick)  # 30 s of silence: still running
    at(70, reporter.step, 600, 1000, "items")  # 10 s after the last line: nothing yet
    at(90, plain.tick)  # 600 items in 60 s: 10/s; 60 s x 0.4 / 0.6 = 40 s left at t=70, 20 s at t=90
    at(100, reporter.finish, "features fbank", 2, 100.0)
    at(100, reporter.stage, "train MR (base)", 3, 5, False)
    at(100, reporter.step, 0, 5, "folds")
    at(100, reporter.step, 0, 20, "epochs")
    at(130, reporter.step, 10, 20, "epochs")  # half a fold of 5: 0.1 done in 30 s, 0.9 left: 270 s
    at(140, reporter.step, 1, 5, "folds")  # the next fold's epochs start again: 0.2 done in 40 s
    at(160, plain.tick)  # 40 s per fold; 40 s x 0.8 / 0.2 = 160 s left at t=140, 140 s at t=160
    at(170, reporter.notice, "stage 'labels MR': recomputed")
    at(200, reporter.finish, "train MR (base)", 3, 100.0)
    at(200, reporter.stage, "evaluate MR -> MR (base)", 4, 5, True)
    at(229, plain.tick)  # no stage runs (the results are written): a line after 30 s of silence
    at(230, plain.tick)
    at(260, plain.tick)
    assert lines == [
        "[00:00:00] stage 1/5 labels MR: reused",
        "[00:00:00] stage 2/5 features fbank: started",
        "[00:00:30] stage 2/5 features fbank: 0/1,000 items",
        "[00:01:00] stage 2/5 features fbank: still running, 1 min 00 s (at 0/1,000 items)",
        "[00:01:30] stage 2/5 features fbank: 600/1,000 items, 10.0 items/s, about 20 s left",
        "[00:01:40] stage 2/5 features fbank: finished in 1 min 40 s",
        "[00:01:40] stage 3/5 train MR (base): started",
        "[00:02:10] stage 3/5 train MR (base): 0/5 folds, 10/20 epochs, about 4 min 30 s left",
        "[00:02:40] stage 3/5 train MR (base): 1/5 folds, 40 s per fold, about 2 min 20 s left",
        "[00:02:50] stage 'labels MR': recomputed",
        "[00:03:20] stage 3/5 train MR (base): finished in 1 min 40 s",
        "[00:03:20] stage 4/5 evaluate MR -> MR (base): reused",
        "[00:03:50] still working, 30 s since stage 4/5 evaluate MR -> MR (base) was reused",
        "[00:04:20] still working, 1 min 00 s since stage 4/5 evaluate MR -> MR (base) was reused",
    ]


def test_stages_of_the_same_label_running_at_once_are_told_apart_by_position(utc):
    clock, lines = Clock(), []
    reporter = PlainLines(lines.append, clock=clock, interval=30).reporter()
    reporter.stage("labels AR", 7, 65, False)  # train and test label sets of one name, on two workers
    reporter.stage("labels AR", 8, 65, False)
    clock.now = 6
    reporter.finish("labels AR", 8, 0.2)
    clock.now = 7
    reporter.finish("labels AR", 7, 6.4)
    assert lines == [
        "[00:00:00] stage 7/65 labels AR: started",
        "[00:00:00] stage 8/65 labels AR: started",
        "[00:00:06] stage 8/65 labels AR: finished in 0 s",
        "[00:00:07] stage 7/65 labels AR: finished in 6 s",
    ]


def test_the_background_thread_writes_a_line_while_a_stage_is_silent(monkeypatch):
    monkeypatch.setattr(progress_lines, "TICK", 0.01)
    lines = []
    with PlainLines(lines.append, interval=0.05) as plain:
        plain.reporter().stage("train MR (base)", 1, 1, False)
        deadline = time.monotonic() + 5
        while not any("still running" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert any(line.endswith(("still running, 0 s", "still running, 1 s")) for line in lines), lines


def test_inner_progress_reaches_only_the_listening_block():
    calls = []
    report_inner(1, 2, "epochs")
    with inner_progress(lambda *call: calls.append(call)):
        report_inner(1, 2, "epochs")
        with inner_progress(None):
            report_inner(2, 2, "epochs")
    assert calls == [(1, 2, "epochs")]


def test_the_display_follows_the_flag_then_the_environment_then_the_terminal(monkeypatch):
    import typer

    monkeypatch.delenv("VOXPOP_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    assert progress_mode(None) == "plain" and progress_mode("rich") == "rich"
    monkeypatch.setenv("VOXPOP_PROGRESS", "none")
    assert progress_mode(None) == "none" and progress_mode("plain") == "plain"
    monkeypatch.setenv("VOXPOP_PROGRESS", "loud")
    with pytest.raises(typer.BadParameter, match="VOXPOP_PROGRESS must be one of rich, plain, none; got 'loud'"):
        progress_mode(None)


class Recorder:
    """A Reporter recording every event."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.reporter = Reporter(
            stage=lambda label, position, total, cached: self.events.append(("stage", label, position, total, cached)),
            step=lambda done, total, unit="items": self.events.append(("step", done, total, unit)),
            notice=lambda line: self.events.append(("notice", line)),
            finish=lambda label, position, seconds: self.events.append(("finish", label, position)),
        )

    def of(self, kind: str) -> list[tuple]:
        return [event[1:] for event in self.events if event[0] == kind]


def _recipe(corpus_dir):
    return recipe_from_dict(
        {
            "study": "progress",
            "corpus": {"path": str(corpus_dir)},
            "labels": {
                "train": {"MR": {"rule": "mr", "condition": "voice"}},
                "test": {"MR": {"rule": "mr", "condition": "face"}},
            },
            "features": {"extractor": "fbank", "options": {"n_mels": 8}},
            "model": {"head": "mlp", "head_options": {"hidden_dim": 8}, "epochs": 2, "batch_size": 8},
            "protocol": {"speaker_folds": {"k": 3}},
            "evaluation": {"bootstrap": 20},
        }
    )


def test_the_runner_reports_each_stage_of_the_plan_once_with_its_count_and_inner_progress(demo_corpus, tmp_path):
    first, second = Recorder(), Recorder()
    run = run_recipe(_recipe(demo_corpus.dir), tmp_path / "out", reporter=first.reporter)
    order = run.plan.order
    # every stage once, in the plan's order, k of N = the plan's count, all computed (the label sets by the check)
    assert first.of("stage") == [(s.label, i, len(order), False) for i, s in enumerate(order, start=1)]
    assert len(run.executed) + len(run.reused) == len(order)  # the closing count is the display's count
    computed = [label for label, _, _, cached in first.of("stage") if not cached]
    assert first.of("finish") == [(s.label, i) for i, s in enumerate(order, start=1)]
    assert computed == [s.label for s in order]
    assert sorted(run.executed) == sorted(computed) and run.reused == []
    items, folds = len(demo_corpus.corpus.items), 3
    steps = first.of("step")
    assert [s for s in steps if s[2] == "items"][-1] == (items, items, "items")
    assert [s for s in steps if s[2] == "folds"] == [(k, folds, "folds") for k in range(folds + 1)]
    assert [s for s in steps if s[2] == "epochs"] == [(e, 2, "epochs") for _ in range(folds) for e in range(3)]

    run_recipe(_recipe(demo_corpus.dir), tmp_path / "out", reporter=second.reporter)  # everything is cached now
    assert second.of("stage") == [(s.label, i, len(order), True) for i, s in enumerate(order, start=1)]
    assert second.of("finish") == [] and second.of("step") == []


def test_the_dry_run_lists_every_stage_of_study_3_before_its_corpus_is_built(tmp_path):
    recipe = load_recipe(STUDY_3, ["corpus.demo.size=tiny"])
    rows = dry_run(recipe, tmp_path / "out", 1, None)
    assert not (tmp_path / "out").exists()  # nothing built, nothing written
    assert rows[0] == {"stage": "demo corpus (tiny)", "kind": "corpus", "status": "pending", "where": "in-process"}
    assert {row["status"] for row in rows} == {"pending"}

    study = build_study(recipe, tmp_path / "out")
    _, key = prepare_corpus(study, Cache(tmp_path / "out" / "cache"), Reporter())  # builds the tiny corpus
    order = plan_study(study, key).order  # the real plan, on the built corpus
    assert [(row["stage"], row["kind"]) for row in rows[1:]] == [(s.label, s.kind) for s in order]
    assert len(rows) == 1 + len(order) == len(planned(study))
    assert {row["kind"] for row in rows} <= {"corpus", *KINDS}


def test_dry_run_on_the_command_line_counts_the_stages_of_study_3(tmp_path):
    result = CliRunner().invoke(
        app, ["run", STUDY_3, "--out", str(tmp_path / "out"), "--dry-run", "--set", "corpus.demo.size=tiny"]
    )
    assert result.exit_code == 0, result.output
    study = build_study(load_recipe(STUDY_3, ["corpus.demo.size=tiny"]), tmp_path / "out")
    count = len(planned(study))
    assert count > 1 and f"{count} stages: 0 cached, {count} pending" in result.stdout


def test_train_logs_a_line_per_stage_start_and_finish_when_output_is_not_a_terminal(demo_corpus, tmp_path):
    out = tmp_path / "run"
    args = ["train", str(demo_corpus.dir), "--labels", "mr", "--condition", "voice", "--extractor", "fbank",
            "--store", str(tmp_path / "store"), "--head", "mlp", "--epochs", "1", "--k", "3", "--bootstrap", "20",
            "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200", "VOXPOP_PROGRESS": None})
    assert result.exit_code == 0, result.output
    stages = len(list((out / "cache").glob("*/.done")))  # every stage this run computed, counted on disk
    stamp = r"\[\d\d:\d\d:\d\d\] stage "
    started = re.findall(stamp + r"(\d+)/(\d+) (.+): started$", result.stderr, flags=re.M)
    finished = re.findall(stamp + r"(\d+)/(\d+) (.+): finished in \d+ s$", result.stderr, flags=re.M)
    assert [int(p) for p, _, _ in started] == list(range(1, stages + 1)) and {int(t) for _, t, _ in started} == {stages}
    assert [label for _, _, label in finished] == [label for _, _, label in started]
    assert f"stages: {stages} computed, 0 reused" in result.stdout


@pytest.mark.slow
def test_a_run_on_workers_reports_each_stage_once_as_the_scheduler_runs_it(demo_corpus, tmp_path):
    recorder = Recorder()
    run = run_recipe(_recipe(demo_corpus.dir), tmp_path / "out", reporter=recorder.reporter, workers=2)
    order = run.plan.order
    stages = recorder.of("stage")
    assert sorted(label for label, *_ in stages) == sorted(s.label for s in order)  # each stage once
    assert [position for _, position, _, _ in stages] == list(range(1, len(order) + 1))  # in the order they ran
    assert {total for _, _, total, _ in stages} == {len(order)}
    # all computed, each finish naming the position its start gave
    assert sorted(recorder.of("finish")) == sorted((label, position) for label, position, _, _ in stages)
    assert sorted(run.executed) == sorted(s.label for s in order) and run.reused == []  # counted once each
