"""The one atomic writer, output folders that stay inside the named folder, and the stage cache's damage checks:
a damaged stage is named, recomputed with its dependents and never reused."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from voxpop.core.cache import (
    DONE,
    Cache,
    Stage,
    atomic_write,
    output_directory,
    write_bytes,
    write_text,
)
from voxpop.core.errors import VoxpopError

SRC = Path(__file__).resolve().parents[1] / "src"


# ====================================================================== the atomic writer
def test_a_symlink_at_the_target_is_replaced_and_its_target_left_alone(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.md").symlink_to(outside)
    write_text(out / "report.md", "new report")
    assert not (out / "report.md").is_symlink()
    assert (out / "report.md").read_text() == "new report"
    assert outside.read_text() == "precious"


def test_a_writer_that_fails_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "table.parquet"
    path.write_bytes(b"old")

    def dies(handle):
        handle.write(b"half of the ")
        raise KeyboardInterrupt  # as a kill in the middle of a write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, dies)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.parquet"]
    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "new.npy", dies)
    assert not (tmp_path / "new.npy").exists() and len(list(tmp_path.iterdir())) == 1


def test_exclusive_write_keeps_an_existing_file(tmp_path):
    assert write_bytes(tmp_path / "store.json", b"first", exclusive=True)
    assert not write_bytes(tmp_path / "store.json", b"second", exclusive=True)
    assert (tmp_path / "store.json").read_bytes() == b"first"


def test_there_is_one_os_replace_in_the_package():
    calls = [
        f"{path.relative_to(SRC)}:{n}"
        for path in sorted(SRC.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"\bos\.replace\(", line)
    ]
    assert calls == [next(c for c in calls if c.startswith("voxpop/core/cache.py:"))]


# ====================================================================== output folders
def test_a_symlinked_subfolder_leading_outside_is_refused(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "cache").symlink_to(outside, target_is_directory=True)
    with pytest.raises(VoxpopError, match=r"cache: is a symlink leading outside .*out"):
        output_directory(out, "cache", "labels-1")
    cache = Cache(out / "cache", inside=out)
    with pytest.raises(VoxpopError, match="symlink leading outside"):
        cache.run(Stage("labels", "MR", {"rule": "mr"}), lambda d: (d / "x").write_text("x"))
    assert list(outside.iterdir()) == []  # nothing was created through the link
    with pytest.raises(VoxpopError, match=r"contains '\.\.'"):
        output_directory(out, "../escape")


def test_a_named_folder_that_is_a_symlink_and_links_inside_it_stay_usable(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    (real / "inner").mkdir()
    (real / "alias").symlink_to(real / "inner", target_is_directory=True)
    assert output_directory(tmp_path / "link", "cache", "x") == tmp_path / "link" / "cache" / "x"
    assert (real / "cache" / "x").is_dir()
    assert output_directory(tmp_path / "link", "alias") == tmp_path / "link" / "alias"


# ====================================================================== the stage cache
def _chain(tmp_path):
    """Three stages a -> b -> c, each writing files derived from its input's, and the log of computations."""
    notices: list[str] = []
    cache = Cache(tmp_path / "cache", notice=notices.append)
    a = Stage("labels", "labels MR", {"rule": "mr"})
    b = Stage("train", "train MR", {"epochs": 2}, (a,))
    c = Stage("evaluate", "evaluate MR", {}, (b,))
    log = []

    def compute(stage):
        def run(directory):
            log.append(stage.label)
            source = "" if not stage.inputs else (cache.directory(stage.inputs[0]) / "out.txt").read_text()
            (directory / "sub").mkdir(exist_ok=True)
            write_text(directory / "out.txt", source + stage.label + ";")
            write_bytes(directory / "sub" / "values.bin", bytes(range(200)))

        return run

    def run_all():
        log.clear()
        for stage in (a, b, c):
            cache.run(stage, compute(stage))
        return list(log)

    return cache, (a, b, c), run_all, notices


def test_done_records_every_output_file_with_size_and_checksum(tmp_path):
    cache, (a, b, _), run_all, _ = _chain(tmp_path)
    run_all()
    record = json.loads((cache.directory(b) / DONE).read_text())
    assert set(record["files"]) == {"out.txt", "sub/values.bin", "stage.json"}
    values = record["files"]["sub/values.bin"]
    assert values["bytes"] == 200 and values["blake2b"] == hashlib.blake2b(bytes(range(200))).hexdigest()
    assert record["inputs"] == {a.name: json.loads((cache.directory(a) / DONE).read_text())["token"]}


@pytest.mark.parametrize("damage", ["truncate", "delete", "flip"])
def test_a_damaged_stage_is_recomputed_with_everything_downstream(tmp_path, damage):
    cache, (_a, b, c), run_all, notices = _chain(tmp_path)
    assert run_all() == ["labels MR", "train MR", "evaluate MR"]
    assert run_all() == []
    target = cache.directory(b) / "sub" / "values.bin"
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:-1])
    elif damage == "delete":
        target.unlink()
    else:
        target.write_bytes(bytes([1]) + target.read_bytes()[1:])  # same size, other bytes
    assert run_all() == ["train MR", "evaluate MR"]
    reason = {
        "truncate": "sub/values.bin has 199 bytes, 200 were written",
        "delete": "sub/values.bin is missing",
        "flip": "sub/values.bin differs from what was written (checksum)",
    }[damage]
    assert notices[0] == f"stage 'train MR' ({cache.directory(b)}): {reason}; recomputing it"
    assert notices[1].startswith(f"stage 'evaluate MR' ({cache.directory(c)}): its input {b.name} was recomputed")
    assert len(notices) == 2 and cache.repaired == ["train MR", "evaluate MR"]
    assert (cache.directory(c) / "out.txt").read_text() == "labels MR;train MR;evaluate MR;"
    assert run_all() == []


def test_full_verification_names_damage_the_cheap_check_cannot_see(tmp_path):
    cache, (a, _b, _c), run_all, _ = _chain(tmp_path)
    run_all()
    target = cache.directory(a) / "out.txt"
    stat = target.stat()
    target.write_text("labels XX;")  # same size; the modification time is put back
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert run_all() == []  # sizes and modification times match: reused
    assert cache.verify() == {f"{a.name} (labels MR)": ["out.txt differs from what was written (checksum)"]}


def test_a_done_marker_of_an_older_voxpop_means_not_done(tmp_path):
    cache, (_a, _b, c), run_all, notices = _chain(tmp_path)
    run_all()
    (cache.directory(c) / DONE).write_text("")  # what earlier versions wrote
    assert not cache.is_done(c)
    assert run_all() == ["evaluate MR"]
    assert "has no record of the output files" in notices[0]
    assert cache.verify() == {}



def test_a_key_given_twice_in_a_corpus_or_recipe_file_is_refused_with_its_line(tmp_path):
    from voxpop.core.errors import ConfigError, InputError
    from voxpop.corpus.corpus import Corpus
    from voxpop.study.loading import load_recipe

    rating = pd.DataFrame({"item": ["a"], "rater": ["r1"], "slot": ["primary"], "label": ["anger"]})
    folder = Corpus("c", pd.DataFrame(index=["a"]), rating, classes=["anger", "joy"]).save(tmp_path / "corpus")
    meta = folder / "corpus.yaml"
    meta.write_text(meta.read_text() + "classes: [joy]\n")
    with pytest.raises(InputError, match=r"line \d+, column 1: key 'classes' is given twice"):
        Corpus.load(folder)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("study: s\ncorpus: {demo: {}}\nstudy: t\n")
    with pytest.raises(ConfigError, match=r"line 3, column 1: key 'study' is given twice"):
        load_recipe(recipe)
    recipe.write_text("study: s\ncorpus: {demo: {}}\n")
    with pytest.raises(ConfigError, match=r"--set 'model.head_options=\{a: 1, a: 2\}'.*key 'a' is given twice"):
        load_recipe(recipe, ["model.head_options={a: 1, a: 2}"])


def test_swapped_stage_folders_are_found_by_validate_and_recomputed_with_a_notice(tmp_path):
    from typer.testing import CliRunner

    import voxpop.cli

    cache, (a, b, c), run_all, notices = _chain(tmp_path)
    run_all()
    a_dir, b_dir = cache.directory(a), cache.directory(b)
    a_dir.rename(tmp_path / "swap")
    b_dir.rename(a_dir)
    (tmp_path / "swap").rename(b_dir)  # every file in each folder is intact: only the .done names tell
    checked = CliRunner().invoke(voxpop.cli.app, ["validate", "--cache", str(cache.root)])
    assert checked.exit_code == 1
    assert f"damaged {a.name} (train MR): {DONE} records the outputs of stage {b.name}, not of {a.name}" in (
        " ".join(checked.output.split())
    )
    assert f"damaged {b.name} (labels MR): {DONE} records the outputs of stage {a.name}" in " ".join(
        checked.output.split()
    )
    assert run_all() == ["labels MR", "train MR", "evaluate MR"]
    assert notices[0] == (
        f"stage 'labels MR' ({a_dir}): {DONE} records the outputs of stage {b.name}, not of {a.name} "
        "(stage folders swapped, renamed or copied); recomputing it"
    )
    assert notices[1].startswith(f"stage 'train MR' ({b_dir}): {DONE} records the outputs of stage {a.name}")
    assert (cache.directory(c) / "out.txt").read_text() == "labels MR;train MR;evaluate MR;"
    assert cache.verify() == {} and run_all() == []


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda r: r.update(inputs=list(r["inputs"])), id="inputs-a-list"),
        pytest.param(lambda r: r.update(files=list(r["files"].items())), id="files-a-list"),
        pytest.param(lambda r: r["files"]["out.txt"].pop("bytes"), id="file-without-size"),
        pytest.param(lambda r: r["files"].update({"out.txt": ["bytes", 3]}), id="file-entry-a-list"),
        pytest.param(lambda r: r.update(token=7), id="token-a-number"),
        pytest.param(lambda r: r.pop("stage"), id="no-stage-name"),
    ],
)
def test_a_done_record_of_the_wrong_shape_is_damage_recomputed_with_a_notice(tmp_path, damage):
    cache, (_a, b, c), run_all, notices = _chain(tmp_path)
    run_all()
    done = cache.directory(b) / DONE
    record = json.loads(done.read_text())
    damage(record)
    done.write_text(json.dumps(record))
    damaged = cache.verify()
    assert set(damaged) - {f"{c.name} (evaluate MR)"} == {f"{b.name} (train MR)"}  # c: its input's token unreadable
    assert damaged[f"{b.name} (train MR)"][0] in (
        f"{DONE} has no record of the output files (written by an older voxpop, or damaged)",
        "the record of out.txt is damaged (expected its bytes, mtime_ns and blake2b)",
    )
    assert run_all() == ["train MR", "evaluate MR"]
    assert notices[0].startswith(f"stage 'train MR' ({cache.directory(b)}): ") and "recomputing it" in notices[0]
    assert cache.verify() == {} and run_all() == []
