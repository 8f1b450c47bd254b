"""SIGTERM and Ctrl-C stop training within seconds, between batches, and keep what finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from voxpop.core.stopping import TERMINATED, Stopped, stop_between_batches, stop_on_signal_callback
from voxpop.corpus.demo import make_demo_corpus


def test_sigterm_in_a_fit_raises_stopped_and_ctrl_c_a_keyboard_interrupt():
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with pytest.raises(Stopped) as stopped, stop_between_batches():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises here, at once
    assert stopped.value.signum == signal.SIGTERM
    with pytest.raises(KeyboardInterrupt), stop_between_batches():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before  # handlers restored


def test_the_callback_stops_after_a_batch_once_lightning_recorded_sigterm():
    """A process with its own SIGTERM handler: Lightning only records the signal; the callback stops the fit."""
    from types import SimpleNamespace

    callback = stop_on_signal_callback()
    callback.on_train_batch_end(SimpleNamespace(received_sigterm=False), None, None, None, 0)  # goes on
    with pytest.raises(Stopped):
        callback.on_train_batch_end(SimpleNamespace(received_sigterm=True), None, None, None, 0)
    with pytest.raises(Stopped):
        callback.on_validation_batch_end(SimpleNamespace(received_sigterm=True), None, None, None, 0)


@pytest.mark.slow
def test_sigterm_stops_a_training_run_within_seconds_and_keeps_finished_folds(tmp_path):
    """The run trains an LSTM for many epochs; SIGTERM after the first fold model is saved ends it in seconds
    (Lightning alone would train on to the end of the epoch), with exit code 143 and one message; the saved
    fold stays in the cache (where the same command reuses it)."""
    make_demo_corpus(tmp_path / "demo", "tiny")
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "voxpop", "train", str(tmp_path / "demo" / "corpus"), "--labels", "mr",
        "--condition", "voice", "--extractor", "fbank", "--option", "output=frames", "--option", "n_mels=8",
        "--head", "lstm", "--epochs", "40", "--batch-size", "4", "--patience", "0", "--k", "3", "--bootstrap", "20",
        "--out", str(out),
    ]  # fmt: skip
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 400
    while not list(out.glob("cache/train-*/folds/*/fold.json")) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run.poll() is None, "the run ended before it could be stopped"
    finished = sorted(p.parent.name for p in out.glob("cache/train-*/folds/*/fold.json"))
    signalled = time.monotonic()
    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=60)
    assert time.monotonic() - signalled < 10, "SIGTERM took more than 10 s to stop the run"
    assert run.returncode == TERMINATED
    assert "terminated (stopped by SIGTERM). Stages that finished, and the finished folds" in stderr
    assert "Traceback" not in stderr, stderr[-3000:]
    kept = sorted(p.parent.name for p in out.glob("cache/train-*/folds/*/fold.json"))
    assert finished and set(finished) <= set(kept)
