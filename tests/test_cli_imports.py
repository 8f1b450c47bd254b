"""`voxpop --help` and every verb's `--help` stay fast: they load neither scipy, torch, matplotlib nor crowd-kit.

Checked in a fresh interpreter (a subprocess), since this test session has imported them all already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import voxpop

HEAVY = ("scipy", "torch", "matplotlib", "crowdkit")

SCRIPT = """
import json, sys
import typer
from typer.testing import CliRunner
import voxpop.cli

heavy = %r
loaded = {"import voxpop.cli": [m for m in heavy if m in sys.modules]}

from voxpop.cli.app import load_verb
from voxpop.cli.verbs import VERBS

def paths(command, prefix):
    yield prefix
    if hasattr(command, "commands"):  # a group (typer vendors its own click)
        for name, sub in command.commands.items():
            yield from paths(sub, [*prefix, name])

runner = CliRunner()
helps = []
everything = [[]] + [path for verb in VERBS for path in paths(load_verb(verb), [verb])]  # verbs load lazily
for path in everything:
    result = runner.invoke(voxpop.cli.app, [*path, "--help"])
    if result.exit_code != 0 or "Usage" not in result.output:
        raise SystemExit(f"voxpop {' '.join(path)} --help failed: {result.output}")
    helps.append(" ".join(path))
loaded["--help of every verb"] = [m for m in heavy if m in sys.modules]
print(json.dumps({"loaded": loaded, "helps": helps}))
"""


def test_help_loads_no_heavy_library():
    src = str(Path(voxpop.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT % (HEAVY,)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr + done.stdout
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["loaded"] == {"import voxpop.cli": [], "--help of every verb": []}
    # the walk reached the top level, plain verbs and the verbs of sub-apps (voxpop import ...)
    assert "" in answer["helps"] and "run" in answer["helps"] and "agreement" in answer["helps"]
    assert any(name.startswith("import ") for name in answer["helps"])
