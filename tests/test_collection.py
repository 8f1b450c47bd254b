"""Collecting the suite imports no training stack (issue #22, item 8): `pytest --collect-only` over every test
and doctest loads neither torch, Lightning nor transformers, and the doctests of the modules that need them
(collected lazily by the root conftest.py) are the ones pytest's doctest finder gives.

Checked in a fresh interpreter (a subprocess), since this test session has imported them all already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAINING_STACK = ("torch", "torchaudio", "torchmetrics", "lightning", "pytorch_lightning", "transformers")

SCRIPT = """
import io, json, os, sys, traceback
from contextlib import redirect_stdout

import pytest
from _pytest.doctest import DoctestModule

heavy = %r
root = os.getcwd()
first = {}  # heavy package -> the innermost line of the checkout's own files that imported it first


class Spy:
    def find_spec(self, name, path=None, target=None):
        if name in heavy and name not in first:
            ours = [f"{f.filename[len(root) + 1:]}:{f.lineno}" for f in traceback.extract_stack()
                    if f.filename.startswith(root + os.sep)]
            first[name] = ours[-1] if ours else "(outside the checkout)"
        return None


sys.meta_path.insert(0, Spy())


class Check:
    def __init__(self):
        self.lazy = []

    def pytest_collectreport(self, report):
        self.lazy += [node for node in report.result if type(node).__name__ == "LazyDoctestModule"]

    def pytest_collection_finish(self, session):
        self.loaded = {m: first.get(m, "?") for m in heavy if m in sys.modules}  # before the finder imports them
        self.items = len(session.items)
        self.modules = {}  # the doctests read from the source vs the ones pytest's finder gives (this imports)
        for node in self.lazy:
            found = [item.name for item in DoctestModule.collect(node)]
            self.modules[str(node.path)] = {"read": [item.name for item in node.collect()], "found": found}


check = Check()
with redirect_stdout(io.StringIO()):
    code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider"], plugins=[check])
print(json.dumps({"code": int(code), "loaded": check.loaded, "items": check.items, "modules": check.modules}))
"""


@pytest.mark.slow  # collects the whole suite in a subprocess: over 20 s
def test_collecting_the_suite_imports_no_training_stack():
    src = str(ROOT / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT % (TRAINING_STACK,)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["code"] == 0 and answer["items"] > 0, answer
    offenders = answer["loaded"]  # package -> where it was first imported
    print("imported while collecting:", offenders or f"none of {TRAINING_STACK}")
    assert offenders == {}, f"collecting the suite imported (package: first importing line) {offenders}"
    # the lazy doctest modules are there (the models package holds several) and lose no doctest
    modules = {Path(path).relative_to(ROOT).as_posix(): names for path, names in answer["modules"].items()}
    assert "src/voxpop/models/losses.py" in modules and "src/voxpop/models/training.py" in modules, sorted(modules)
    for path, names in modules.items():
        assert names["read"] == names["found"], path
