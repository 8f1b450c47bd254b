"""Every study audits itself before it runs (:mod:`voxpop.study.leakage_check`): ``leakage.csv`` beside the
results, one caution line per kind, the report's "Leakage" section, and ``audit: strict`` refusing a speaker leak."""

from __future__ import annotations

import pandas as pd
import pytest

from voxpop.core.errors import ConfigError
from voxpop.report.cautions import graded_cautions
from voxpop.report.study import build_report
from voxpop.study import build_study, recipe_from_dict, run_recipe
from voxpop.study.leakage_check import AUDIT_FILE

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _recipe(demo_corpus, tmp_path, audit: str) -> dict:
    # leave one emotion out: every speaker is in every fold's test and training items (a speaker leak by design)
    return {
        "study": "leaky", "corpus": {"path": str(demo_corpus.dir)}, "audit": audit,
        "labels": {"train": {"mr": {"rule": "mr", "condition": "voice"}}, "test": {"mr": {"rule": "mr",
                                                                                            "condition": "voice"}}},
        "features": {"extractor": "fbank", "store": str(tmp_path / "store")},
        "model": {"head": "logreg"}, "protocol": {"leave_one_out": {"column": "emotion"}},
        "evaluation": {"bootstrap": 20},
    }  # fmt: skip


def test_a_study_keeps_its_audit_and_cautions_each_kind(demo_corpus, tmp_path):
    out = tmp_path / "out"
    run = run_recipe(recipe_from_dict(_recipe(demo_corpus, tmp_path, "warn")), out)
    findings = pd.read_csv(out / AUDIT_FILE, dtype={"key": str})
    items = demo_corpus.corpus.items
    folds = sorted(f"emotion={e}" for e in items["emotion"].unique())
    # by hand: each fold tests one emotion's clips, and each of the 6 speakers has clips of every tested emotion
    expected = {
        (f"emotion={e}", s) for e in items["emotion"].unique() for s in items.loc[items["emotion"].eq(e), "speaker"]
    }
    speaker = findings[findings["kind"].eq("speaker")]
    assert set(zip(speaker["fold"], speaker["key"], strict=True)) == expected
    assert sorted(speaker["fold"].unique()) == folds and speaker["partitions"].eq("test+train").all()
    cautions = [c for c in graded_cautions(run) if c.message.startswith("leakage")]
    assert [c.message.split(":")[0] for c in cautions] == ["leakage (speaker)"] and cautions[0].severe
    assert f"{len(speaker)} findings in {len(folds)} folds, {speaker['items'].sum():,} items" in cautions[0].message
    report = build_report(run)
    assert "Leakage" in [section.title for section in report.sections]


def test_audit_strict_refuses_a_speaker_leak_before_any_work(demo_corpus, tmp_path):
    out = tmp_path / "out"
    study = build_study(recipe_from_dict(_recipe(demo_corpus, tmp_path, "strict")), out)
    with pytest.raises(ConfigError, match=r"audit: strict refuses to run: \d+ speaker or audio leak\(s\)"):
        run_recipe(study, out)
    assert (out / AUDIT_FILE).is_file() and not (out / "results.parquet").exists()
