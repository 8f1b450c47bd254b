"""Shared fixtures. Real data lives in ../shared/data beside the checkout (or $VOXPOP_SHARED_DATA);
tests that need it skip with a reason where it is absent, as in a user's clone."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import NamedTuple

import pytest

SHARED_DATA = Path(os.environ.get("VOXPOP_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


FEATURE_STORE = "VOXPOP_FEATURE_STORE"
_SESSION_STORE = pytest.StashKey[tuple[str | None, str]]()
_COLUMNS = pytest.StashKey[str | None]()


def pytest_configure(config: pytest.Config) -> None:
    """Point the default feature store at a temporary folder before anything is collected, so no test (nor a
    session fixture, nor a subprocess it starts) writes to the user's real store; :func:`feature_store` then
    gives each test its own.

    Also drop ``COLUMNS`` before voxpop's console is made (``voxpop.cli.app``, at its import): pytest-xdist sets it
    (80) in its workers, which would make the console 80 columns wide there and PIPED_WIDTH wide in a plain run;
    without it every process, serial or a worker, prints as into a pipe, so the output the tests read is the same
    however the suite is started (a test that needs a width gives COLUMNS to its CliRunner).

    And choose how hard the property-based tests try (:func:`hypothesis_strength.choose_profile`: a few examples
    each where the run leaves out the slow tests)."""
    import hypothesis_strength

    hypothesis_strength.choose_profile(config)
    config.stash[_SESSION_STORE] = (os.environ.get(FEATURE_STORE), tempfile.mkdtemp(prefix="voxpop-feature-store-"))
    os.environ[FEATURE_STORE] = config.stash[_SESSION_STORE][1]
    config.stash[_COLUMNS] = os.environ.pop("COLUMNS", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    before, folder = config.stash[_SESSION_STORE]
    shutil.rmtree(folder, ignore_errors=True)
    if before is None:
        os.environ.pop(FEATURE_STORE, None)
    else:
        os.environ[FEATURE_STORE] = before
    if config.stash[_COLUMNS] is not None:
        os.environ["COLUMNS"] = config.stash[_COLUMNS]


@pytest.fixture(autouse=True)
def feature_store(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test's own empty default feature store (``$VOXPOP_FEATURE_STORE``), never the user's cache."""
    folder = tmp_path_factory.mktemp("feature-store")
    monkeypatch.setenv(FEATURE_STORE, str(folder))
    return folder


def pytest_collection_finish(session: pytest.Session) -> None:
    """Collecting doctests imports ``voxpop.core.worker_signals``, which makes the importing process ignore Ctrl-C (as
    local Dask workers must); give this process Python's own Ctrl-C handler back before any test runs."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real corpora (CREMA-D tables, Earkick re-annotation, RAVDESS)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (set VOXPOP_SHARED_DATA)")
    return SHARED_DATA


class DemoCorpus(NamedTuple):
    """The tiny demo corpus built once per session: treat it as read-only (write runs and stores elsewhere)."""

    root: Path  # audio/, corpus/ (Corpus.save), raters.parquet
    corpus: object  # voxpop.Corpus
    progress: list[tuple[int, int]]  # the (done, total) calls of make_demo_corpus's progress callback

    @property
    def dir(self) -> Path:
        """The corpus directory (corpus.yaml, items.parquet, ratings.parquet)."""
        return self.root / "corpus"


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory: pytest.TempPathFactory) -> DemoCorpus:
    """``make_demo_corpus(root, "tiny")`` (48 clips, 6 speakers, 3 conditions), shared by every test module."""
    from voxpop.corpus.demo import make_demo_corpus

    root = tmp_path_factory.mktemp("demo-tiny")
    calls: list[tuple[int, int]] = []
    corpus = make_demo_corpus(root, "tiny", progress=lambda done, total: calls.append((done, total)))
    return DemoCorpus(root, corpus, calls)


class DemoRun(NamedTuple):
    """A logistic-regression run (MR voice labels, fbank features, 3 speaker folds) on the tiny demo corpus."""

    directory: Path
    store: Path


@pytest.fixture(scope="session")
def demo_logreg_run(demo_corpus, tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """``voxpop train`` of :class:`DemoRun` through the CLI, shared by the export and cross-corpus tests."""
    from typer.testing import CliRunner

    import voxpop.cli

    root = tmp_path_factory.mktemp("demo-run")
    result = CliRunner().invoke(voxpop.cli.app, [
        "train", str(demo_corpus.dir), "--labels", "mr", "--condition", "voice", "--extractor", "fbank",
        "--store", str(root / "store"), "--head", "logreg", "--k", "3", "--bootstrap", "20", "--out", str(root / "run"),
    ], env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    return DemoRun(root / "run", root / "store")


@pytest.fixture(scope="session")
def tiny_wavlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised WavLM-like backbone (:func:`docs_inputs.save_tiny_wavlm`, also the docs pages'
    ``models/wavlm-base-plus``)."""
    import docs_inputs

    return docs_inputs.save_tiny_wavlm(tmp_path_factory.mktemp("tiny-wavlm"))


@pytest.fixture
def undrawn_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """A report's figures are not drawn: their PNG and PDF are empty (:func:`voxpop.report.render.figure_files`
    replaced), for a test that reads only a report's text and tables (matplotlib's layout and drawing are most of
    the time of a small report)."""
    import voxpop.report.render

    monkeypatch.setattr(voxpop.report.render, "figure_files", lambda figure: (b"", b""))


@pytest.fixture
def one_torch_thread():
    """Tiny models: one intra-op thread avoids OpenMP spin-waiting on a shared machine (restored after)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def write_run():
    """``write(out, features, labels, folds, spec, feature_source)``: cross-validate ``spec`` on in-memory features
    into ``out/cache/train`` (fold models, predictions) and write ``out/runs.json`` naming that one run (``run``),
    as :func:`voxpop.study.run.run_recipe` does for each train stage; returns the CrossValidation."""
    from voxpop.models.cross_validation import cross_validate
    from voxpop.models.saved_runs import RUNS_FILE, ProtocolSpec, RunRecord

    def write(out: Path, features, labels, folds, spec, feature_source):
        result = cross_validate(features, labels, folds, spec, out_dir=out / "cache" / "train")
        labels.save(out / "cache" / "labels" / "labels.parquet")
        record = RunRecord(
            name="run", study="test", variant="base", train=labels.rule, corpus=str(out), labels={"rule": labels.rule},
            features=feature_source, model=spec, protocol=ProtocolSpec(name="speaker-folds"), classes=labels.classes,
            multilabel=spec.multilabel, folds=[f.name for f in folds], stage="cache/train", labels_stage="cache/labels",
        )  # fmt: skip
        (out / RUNS_FILE).write_text(json.dumps({"run": record.model_dump(mode="json")}))
        return result

    return write
