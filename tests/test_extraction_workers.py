"""Extraction worker processes end with their parent: ``kill -9`` of ``voxpop features --workers 2`` leaves none."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pandas as pd
import psutil
import soundfile as sf

from voxpop.corpus.corpus import Corpus

CLIPS, SECONDS = 10, 20.0  # openSMILE eGeMAPS takes about 1 s per clip here: the run lasts several shards


def _gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_workers_exit_after_the_parent_is_killed_mid_run(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"clip{i:02d}" for i in range(CLIPS)]
    for item in ids:
        sf.write(tmp_path / f"{item}.wav", 0.1 * rng.standard_normal(int(16000 * SECONDS)), 16000)
    items = pd.DataFrame({"audio": [str(tmp_path / f"{i}.wav") for i in ids]}, index=ids)
    Corpus("noise", items, pd.DataFrame({"item": ids, "label": ["x"] * CLIPS}), ["x"]).save(tmp_path / "corpus")
    store = tmp_path / "store"
    argv = ["voxpop", "features", str(tmp_path / "corpus"), "--extractor", "opensmile", "--workers", "2",
            "--shard-size", "2", "--store", str(store)]  # fmt: skip
    code = f"import sys; sys.argv = {argv!r}; from voxpop.cli import main; main()"
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 240
        while not any(store.glob("*/manifest/*.json")):  # a shard is committed: the workers are computing
            assert parent.poll() is None, "voxpop features ended before the test could kill it"
            assert time.monotonic() < deadline, "no shard committed within 240 s"
            time.sleep(0.05)
        children = psutil.Process(parent.pid).children(recursive=True)
        workers = [
            c for c in children if "multiprocessing" in " ".join(c.cmdline()) and "spawn_main" in c.cmdline()[-2]
        ]
        assert len(workers) == 2, [c.cmdline() for c in children]
        assert parent.poll() is None and len(list(store.glob("*/manifest/*.json"))) < CLIPS // 2  # still mid-run
        parent.kill()  # SIGKILL on POSIX: no handler, no cleanup in the parent
        parent.wait()
        deadline = time.monotonic() + 10
        while not all(_gone(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [(c.pid, " ".join(c.cmdline())) for c in children if not _gone(c)]
        assert left == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for child in children:
            if not _gone(child):
                child.kill()
