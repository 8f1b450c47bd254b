"""Each case of :data:`damage.cases.CASES`: damage a copy of the session's finished runs, exports and corpus, run
the verb that reads the damaged file, and require exit code 2 (1 where ``validate --cache`` reports damage), the
damaged file's name in the message, and no traceback.
"""

from __future__ import annotations

import shutil

import pytest

from damage.cases import CASES, EDITS, KINDS, SECRET, TARGETS, VERBS
from damage.conftest import voxpop


def test_the_table_covers_every_kind_and_names_each_case_once():
    assert {case.kind for case in CASES} == set(KINDS)
    assert {case.target for case in CASES} == set(TARGETS)
    assert {case.verb for case in CASES} == set(VERBS)
    assert {case.variant for case in CASES if case.kind == "edit"} == set(EDITS)
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]


@pytest.mark.parametrize("case", [case.param() for case in CASES])
def test_damaged_file_is_a_located_error(case, work, request):
    if case.target == "hf-config":
        shutil.copytree(request.getfixturevalue("tiny_wavlm_dir"), work.path / "hf-model")
    target = TARGETS[case.target](work)
    if case.resume:  # the run was stopped before the train stage finished: its finished folds are resumed
        (work.stage("mlp") / ".done").unlink()
    case.damage(target, work)
    result = voxpop(*VERBS[case.verb](work))
    assert "Traceback" not in result.output, result.output
    assert result.code == case.exit_code, f"exit {result.code}:\n{result.output}"
    for name in (target.name, *case.named):
        assert name in result.output, f"{name!r} not named:\n{result.output}"
    assert SECRET not in result.output
