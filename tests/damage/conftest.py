"""One finished tiny demo run set per test session (built once, under a file lock with pytest-xdist) and a copy of
it per test, plus :func:`voxpop` that runs a command line in this process as the ``voxpop`` console script does."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from filelock import FileLock

TRAIN = ["--labels", "mr", "--condition", "voice", "--extractor", "fbank", "--k", "2", "--no-dev", "--bootstrap", "20"]
RUNS = {  # folder: the head options of `voxpop train` (2 speaker folds, no dev group, 2 epochs for the MLPs)
    "mlp": ["--head", "mlp", "--head-option", "hidden_dim=8", "--epochs", "2"],
    "mlp-other": ["--head", "mlp", "--head-option", "hidden_dim=8", "--epochs", "2", "--seed", "1"],
    "logreg": ["--head", "logreg"],
    "svm": ["--head", "svm", "--head-option", "calibration_folds=2"],
}
EXPORTS = {"export-mlp": "mlp", "export-logreg": "logreg"}
BUILT = "built.ok"


class Result(NamedTuple):
    """What a command left: its exit code (``"traceback"`` when an exception escaped ``main``) and its output."""

    code: int | str
    output: str  # standard output, then standard error (and the traceback of an escaped exception)


def voxpop(*args: object) -> Result:
    """Run ``voxpop ARGS`` in this process through :func:`voxpop.cli.main` (the console script: a VoxpopError is
    printed and exits with 2); an exception ``main`` lets through is caught and its traceback put in the output."""
    from voxpop.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv, on_sigterm = sys.argv, signal.getsignal(signal.SIGTERM)  # main makes SIGTERM raise Stopped: put back
    sys.argv = ["voxpop", *map(str, args)]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code: int | str = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:  # what escapes main is exactly what the suite looks for
                code = "traceback"
                err.write(traceback.format_exc())
    finally:
        sys.argv = argv
        signal.signal(signal.SIGTERM, on_sigterm)
    return Result(code, out.getvalue() + err.getvalue())


def _build(base: Path) -> None:
    """The demo corpus (tiny), two speakers of it as a second corpus, two clips as a third, four 2-fold runs and
    two exports."""
    from voxpop.corpus.corpus import Corpus
    from voxpop.corpus.demo import make_demo_corpus

    demo = make_demo_corpus(base / "demo", "tiny")
    keep = demo.items.index[demo.items["speaker"].isin(demo.items["speaker"].unique()[:2])]
    part = demo.subset(keep)
    primary = part.ratings[part.ratings["slot"] == "primary"]
    Corpus("other", part.items, primary, classes=part.classes, excluded=["other"]).save(base / "other")
    pair = demo.subset(demo.items.index[:2])  # two clips: what a model folder's features are extracted for
    Corpus("pair", pair.items, pair.ratings, classes=pair.classes, excluded=["other"]).save(base / "pair")
    for name, options in RUNS.items():
        corpus = base / "demo" / "corpus"
        done = voxpop("train", corpus, *TRAIN, *options, "--store", base / "store", "--out", base / name)
        assert done.code == 0, done.output
    for name, run in EXPORTS.items():
        done = voxpop("export", base / run, "--out", base / name)
        assert done.code == 0, done.output
    (base / BUILT).write_text("ok")


@pytest.fixture(scope="session")
def damage_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The finished runs and exports every damage case starts from (read-only: each test damages a copy); with
    pytest-xdist the first worker builds them under a file lock and the others wait and share them."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # gw0, gw1 ...: basetemp is SESSION/popen-gwN; share SESSION
        shared = shared.parent
    base = shared / "damage-base"
    with FileLock(str(shared / "damage-base.lock")):
        if not (base / BUILT).is_file():
            shutil.rmtree(base, ignore_errors=True)
            base.mkdir()
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("VOXPOP_FEATURE_STORE", str(base / "store"))
                patch.setenv("VOXPOP_MAX_WORKERS", "1")
                import torch

                threads = torch.get_num_threads()
                torch.set_num_threads(1)
                try:
                    _build(base)
                finally:
                    torch.set_num_threads(threads)
    return base


class Work(NamedTuple):
    """A test's own copy of the runs, exports and corpus (``path``), beside the shared feature store and audio."""

    path: Path
    base: Path

    @property
    def store(self) -> Path:
        return self.base / "store"

    @property
    def audio(self) -> list[Path]:
        """Two clips of the demo corpus, the files ``predict`` classifies."""
        return sorted((self.base / "demo" / "audio").rglob("*.wav"))[:2]

    def stage(self, run: str) -> Path:
        """The train stage folder of a run (``RUN/cache/train-<key>``)."""
        (found,) = (self.path / run / "cache").glob("train-*")
        return found

    def fold_file(self, run: str, fold: str, name: str) -> Path:
        return self.stage(run) / "folds" / fold / name


@pytest.fixture
def work(damage_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_torch_thread) -> Iterator[Work]:
    """A copy of :func:`damage_base` (its runs, exports and corpus; not the store or the audio) in ``tmp_path``."""
    monkeypatch.setenv("VOXPOP_FEATURE_STORE", str(damage_base / "store"))
    monkeypatch.setenv("VOXPOP_MAX_WORKERS", "1")
    monkeypatch.setenv("VOXPOP_PROGRESS", "none")
    for name in (*RUNS, *EXPORTS):
        shutil.copytree(damage_base / name, tmp_path / name, symlinks=True)
    shutil.copytree(damage_base / "demo" / "corpus", tmp_path / "corpus", symlinks=True)
    yield Work(tmp_path, damage_base)
    locked = tmp_path / "locked"  # the read-only folder of a case: let pytest remove it
    if locked.is_dir():
        if shutil.which("chattr"):
            subprocess.run(["chattr", "-i", str(locked)], check=False, capture_output=True)
        locked.chmod(0o755)
