"""Start-up: ``import voxpop``, ``voxpop --help`` and ``voxpop import --help`` import no verb they do not run, nor
the corpus model, torch or scikit-learn (checked in a fresh interpreter), and the verb index that lists the
verbs without importing them says what the verbs themselves say."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

import voxpop
import voxpop.cli
from voxpop.cli.app import app
from voxpop.cli.verbs import VERBS

NOT_AT_START = ("voxpop.corpus.corpus", "torch", "sklearn")

SCRIPT = """
import json, sys
from typer.testing import CliRunner

watched = %r
loaded = {}
import voxpop
loaded["import voxpop"] = [m for m in watched if m in sys.modules]
import voxpop.cli
result = CliRunner().invoke(voxpop.cli.app, ["--help"])
assert result.exit_code == 0, result.output
loaded["voxpop --help"] = [m for m in watched if m in sys.modules]
loaded["verb modules after --help"] = sorted(m for m in sys.modules if m.startswith("voxpop.cli.") and
                                             m.endswith("_verbs"))
result = CliRunner().invoke(voxpop.cli.app, ["import", "--help"])
assert result.exit_code == 0, result.output
loaded["voxpop import --help"] = [m for m in watched if m in sys.modules]
loaded["verb modules after import --help"] = sorted(m for m in sys.modules if m.startswith("voxpop.cli.") and
                                                    m.endswith("_verbs"))
print(json.dumps(loaded))
"""


def fresh(script: str) -> str:
    """Run ``script`` in a fresh interpreter on this checkout; its standard output."""
    src = str(Path(voxpop.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]), "COLUMNS": "100"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def test_import_voxpop_and_help_load_neither_the_corpus_model_nor_torch_nor_sklearn():
    loaded = json.loads(fresh(SCRIPT % (NOT_AT_START,)).strip().splitlines()[-1])
    assert loaded == {
        "import voxpop": [],
        "voxpop --help": [],
        "verb modules after --help": [],
        "voxpop import --help": [],
        "verb modules after import --help": ["voxpop.cli.import_verbs"],  # only the verb that runs
    }


def _all_verbs() -> typer.core.TyperGroup:
    """The group with every verb module imported (each registers its verbs on the app)."""
    for module in pkgutil.iter_modules(voxpop.cli.__path__):
        if module.name.endswith("_verbs"):
            importlib.import_module(f"voxpop.cli.{module.name}")
    return typer.main.get_group(app)


def test_the_verb_index_names_every_verb_its_module_and_its_help():
    """Every verb any verb module registers is in VERBS (else ``voxpop`` would never import it), with the module
    that registers it and the first paragraph of its own help (what ``voxpop --help`` lists)."""
    group = _all_verbs()
    assert sorted(group.commands) == sorted(VERBS), "add the verb to (or drop it from) voxpop/cli/verbs.py"
    by_group = {info.name: info.typer_instance for info in app.registered_groups}
    for name, command in group.commands.items():
        module_name, first = VERBS[name]
        module = importlib.import_module(f"voxpop.cli.{module_name}")
        if name in by_group:  # a sub-app (voxpop import ..., voxpop store ...)
            assert any(value is by_group[name] for value in vars(module).values()), name
        else:
            assert command.callback.__module__ == module.__name__, name
        own = inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0].strip()
        assert first == own, f"voxpop/cli/verbs.py: the help of {name!r} is now {own!r}"


def test_the_lazy_listing_is_the_listing_of_the_loaded_verbs(monkeypatch):
    """``voxpop --help`` in a fresh interpreter (stand-ins from the index) prints what it prints with every
    verb module loaded (the verbs' own commands)."""
    lazy = fresh(
        "from typer.testing import CliRunner\nimport voxpop.cli\n"
        "print(CliRunner().invoke(voxpop.cli.app, ['--help']).output)"
    )
    _all_verbs()
    monkeypatch.setenv("COLUMNS", "100")  # as in the fresh interpreter
    loaded = CliRunner().invoke(app, ["--help"]).output
    assert "import " in loaded and "validate " in loaded and "store " in loaded
    lines = [[line.rstrip() for line in text.strip().splitlines()] for text in (lazy, loaded)]
    assert lines[0] == lines[1]


def test_a_mistyped_verb_is_answered_with_the_verbs_it_resembles():
    result = CliRunner().invoke(app, ["agreemnt"])
    assert result.exit_code == 2 and "Did you mean 'agreement'?" in result.output
