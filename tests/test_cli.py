"""The CLI as a whole: it starts fast (no torch at import) and turns VoxpopError into a message + exit 2."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)


def test_cli_import_does_not_load_the_training_stack():
    heavy = ("torch", "lightning", "transformers", "opensmile")
    result = _run(f"import sys, voxpop.cli; print([m for m in {heavy!r} if m in sys.modules])")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_errors_are_printed_for_people_with_exit_code_2(tmp_path):
    code = f"import sys; sys.argv = ['voxpop', 'validate', {str(tmp_path)!r}]; from voxpop.cli import main; main()"
    result = _run(code)
    assert result.returncode == 2
    assert "error:" in result.stderr and "corpus.yaml: not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_python_dash_m():
    from voxpop import __version__

    result = subprocess.run([sys.executable, "-m", "voxpop", "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.strip() == f"voxpop {__version__}"


def test_tables_keep_their_full_width_when_output_is_piped(tmp_path):
    import pandas as pd

    from voxpop.corpus.corpus import Corpus

    label = "a-class-name-long-enough-to-overflow-eighty-columns-when-a-table-is-cut-at-the-usual-terminal-width"
    items = pd.DataFrame(index=["x"])
    Corpus("wide", items, pd.DataFrame({"item": ["x"], "label": [label]}), classes=[label]).save(tmp_path / "c")
    env = {k: v for k, v in __import__("os").environ.items() if k != "COLUMNS"}
    result = subprocess.run(
        [sys.executable, "-m", "voxpop", "validate", str(tmp_path / "c")], capture_output=True, text=True, env=env,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert label in result.stdout  # whole, on one line, not folded at 80 columns


def test_hints_name_cli_flags_in_the_cli_and_keywords_in_python(tmp_path):
    import pandas as pd
    import pytest
    from typer.testing import CliRunner

    import voxpop.cli
    from voxpop.core.errors import InputError
    from voxpop.corpus.formats.long import read_long

    table = tmp_path / "r.csv"
    pd.DataFrame({"item": ["a", "a"], "rater": ["r1", "r1"], "label": ["anger", "sad"]}).to_csv(table, index=False)
    with pytest.raises(InputError, match=r"choose what to keep with duplicates='first', last, drop or mean"):
        read_long(table)
    result = CliRunner().invoke(voxpop.cli.app, ["import", "long", str(table), "--out", str(tmp_path / "c")])
    assert result.exit_code != 0
    assert "choose what to keep with --duplicates first, last, drop or mean" in str(result.exception)
    with pytest.raises(InputError, match=r"duplicates='first'"):  # the CLI's flags do not leak into Python calls
        read_long(table)


def test_arguments_that_are_not_utf8_are_refused_by_main(tmp_path):
    """--class-map anger=<byte 0xff> reached pandas as a lone surrogate: 'surrogates not allowed' traceback."""
    import os
    from pathlib import Path

    import voxpop

    env = {**os.environ, "PYTHONPATH": str(Path(voxpop.__file__).parents[1])}
    args = [sys.executable, "-m", "voxpop", "labels", os.fsencode(tmp_path / "c"), "--class-map", b"anger=\xff"]
    result = subprocess.run(args, capture_output=True, env=env, timeout=120)
    assert result.returncode == 2, result.stderr
    err = " ".join(result.stderr.decode().split())
    assert "argument 4 ('anger=\\xff'): holds bytes that are not UTF-8 text" in err and "Traceback" not in err
