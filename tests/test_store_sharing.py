"""One feature store per machine: where it lies by default, studies in different output folders sharing its
entries (the second extracts nothing and says so in the run log, not in the report), a changed audio file
extracted again, and ``voxpop store list | prune`` with a reader's lock respected."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

import voxpop.cli
from voxpop.core.progress import Reporter
from voxpop.corpus import Corpus
from voxpop.features import FeatureStore, default_store_root, fill_store
from voxpop.features.fbank import FbankExtractor, log_mel_fbank
from voxpop.features.store_admin import list_entries, prune
from voxpop.features.store_lock import LOCKING, lock_path
from voxpop.report.study import write_study_report
from voxpop.study.loading import recipe_from_dict
from voxpop.study.run import run_recipe

N_MELS = 8


def _recipe(corpus: Path, rule: str, study: str):
    return recipe_from_dict(
        {
            "study": study,
            "corpus": {"path": str(corpus)},
            "labels": {
                "train": {"L": {"rule": rule, "condition": "voice"}},
                "test": {"L": {"rule": rule, "condition": "voice"}},
            },
            "features": {"extractor": "fbank", "options": {"n_mels": N_MELS}},
            "model": {"head": "logreg"},
            "protocol": {"speaker_folds": {"k": 3}},
            "evaluation": {"bootstrap": 20},
        }
    )


@pytest.fixture
def computed(monkeypatch) -> list[int]:
    """Spy on the fbank extractor: one entry per clip it computes (in this process: workers=1)."""
    calls: list[int] = []
    original = FbankExtractor.compute

    def compute(self, signal):
        calls.append(len(signal))
        return original(self, signal)

    monkeypatch.setattr(FbankExtractor, "compute", compute)
    return calls


def _run(recipe, out: Path, notices: list[str]):
    return run_recipe(recipe, out, reporter=Reporter(notice=notices.append), on_run=write_study_report)


def _entries(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if (p / "store.json").is_file())


# ====================================================================== sharing between output folders
def test_two_recipes_in_two_output_folders_extract_once_and_the_report_does_not_change(
    demo_corpus, tmp_path, feature_store, computed
):
    first_notices: list[str] = []
    first = _run(_recipe(demo_corpus.dir, "mr", "one"), tmp_path / "one", first_notices)
    features = first.output(next(iter(first.plan.features.values())))
    n_items = len(demo_corpus.corpus.items)
    assert len(features.items) + len(features.skipped) == n_items
    assert len(computed) == len(features.items) > 0  # the first study extracted every clip with audio
    (entry,) = _entries(feature_store)  # into the user's store, not under the output folder
    assert features.path == entry and not (tmp_path / "one" / "cache" / "features").exists()
    assert not any("reused from" in n for n in first_notices)

    computed.clear()
    second_notices: list[str] = []
    second = _run(_recipe(demo_corpus.dir, "pr", "two"), tmp_path / "two", second_notices)
    assert computed == []  # another recipe in another folder: nothing extracted
    assert "features fbank" in second.executed  # its features stage ran (a new folder), reading the store
    assert f"features fbank: reused from {entry}" in second_notices
    assert _entries(feature_store) == [entry]

    # the first recipe again in a third folder, reading the store: the same report, byte for byte
    third_notices: list[str] = []
    _run(_recipe(demo_corpus.dir, "mr", "one"), tmp_path / "three", third_notices)
    assert computed == [] and f"features fbank: reused from {entry}" in third_notices
    for name in ("report.md", "report.html", "results.parquet"):
        fresh, reused = (tmp_path / "one" / name).read_bytes(), (tmp_path / "three" / name).read_bytes()
        assert fresh == reused, name
    assert "reused from" not in (tmp_path / "three" / "report.md").read_text()


def _copied_corpus(demo_corpus, folder: Path) -> Path:
    """The demo corpus with its audio copied under ``folder`` (so a test may change a file)."""
    corpus = Corpus.load(demo_corpus.dir)
    audio = folder / "audio"
    audio.mkdir(parents=True)
    paths = []
    for path in corpus.items["audio"]:
        paths.append(str(audio / Path(path).name))
        shutil.copy2(path, paths[-1])
    corpus._replace(corpus.items.assign(audio=paths), corpus.ratings).save(folder / "corpus")
    return folder / "corpus"


def test_a_changed_audio_file_of_the_same_size_is_extracted_again(demo_corpus, tmp_path, feature_store, computed):
    corpus_dir = _copied_corpus(demo_corpus, tmp_path / "data")
    notices: list[str] = []
    first = _run(_recipe(corpus_dir, "mr", "one"), tmp_path / "one", notices)
    old = first.output(next(iter(first.plan.features.values())))
    changed = Corpus.load(corpus_dir).items["audio"].iloc[0]
    item = Corpus.load(corpus_dir).items.index[0]
    signal, rate = soundfile.read(changed, dtype="float32")
    info = soundfile.info(changed)
    size = os.path.getsize(changed)
    soundfile.write(changed, signal[::-1].copy(), rate, subtype=info.subtype)  # other samples, same length
    assert os.path.getsize(changed) == size

    computed.clear()
    notices.clear()
    second = _run(_recipe(corpus_dir, "mr", "one"), tmp_path / "one", notices)  # the same output folder
    new = second.output(next(iter(second.plan.features.values())))
    assert "features fbank" in second.executed  # the features stage's key holds the audio files' identity
    assert len(computed) == len(new.items)  # a new entry: the old one is not read for the changed corpus
    assert not any("reused from" in n for n in notices)
    assert new.path != old.path and len(_entries(feature_store)) == 2
    frames = log_mel_fbank(soundfile.read(changed, dtype="float32")[0], 16000, N_MELS)
    expected = np.concatenate([frames.mean(axis=0), frames.std(axis=0)])
    row = new.items.get_loc(item)
    np.testing.assert_allclose(new.values[row], expected, rtol=1e-5)
    assert not np.allclose(old.values[old.items.get_loc(item)], expected)

    computed.clear()
    notices.clear()
    _run(_recipe(corpus_dir, "mr", "one"), tmp_path / "two", notices)  # another folder: the new entry is read
    assert computed == [] and f"features fbank: reused from {new.path}" in notices


def test_voxpop_features_fills_the_default_store_once_and_says_so_the_second_time(
    demo_corpus, tmp_path, feature_store, computed
):
    arguments = ["features", str(demo_corpus.dir), "--extractor", "fbank", "--option", f"n_mels={N_MELS}"]
    first = CliRunner().invoke(voxpop.cli.app, arguments, env={"COLUMNS": "300"})
    assert first.exit_code == 0, first.output
    (entry,) = _entries(feature_store)
    assert len(computed) == FeatureStore(entry).features().values.shape[0] > 0 and "reused from" not in first.output
    computed.clear()
    second = CliRunner().invoke(voxpop.cli.app, arguments, env={"COLUMNS": "300"})
    assert second.exit_code == 0, second.output
    assert computed == [] and f"reused from {entry}" in second.output


# ====================================================================== the default place
def test_the_default_store_is_the_variable_else_the_platform_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("VOXPOP_FEATURE_STORE", str(tmp_path / "shared"))
    assert default_store_root() == tmp_path / "shared"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VOXPOP_FEATURE_STORE", "relative/store")
    assert default_store_root() == tmp_path / "relative" / "store"  # absolute, for workers started elsewhere

    monkeypatch.delenv("VOXPOP_FEATURE_STORE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))  # Windows
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    expected = {
        "linux": tmp_path / "xdg" / "voxpop" / "features",
        "darwin": tmp_path / "home" / "Library" / "Caches" / "voxpop" / "features",
        "win32": tmp_path / "local" / "voxpop" / "Cache" / "features",
    }
    if sys.platform not in expected:
        pytest.skip(f"no documented cache folder for {sys.platform}")
    assert default_store_root() == expected[sys.platform]
    if sys.platform == "linux":
        monkeypatch.delenv("XDG_CACHE_HOME")
        assert default_store_root() == tmp_path / "home" / ".cache" / "voxpop" / "features"


# ====================================================================== list and prune
def _toy_corpus(folder: Path, n: int, name: str) -> Corpus:
    import pandas as pd

    folder.mkdir(parents=True)
    rng = np.random.default_rng(n)
    paths = []
    for i in range(n):
        paths.append(str(folder / f"c{i}.wav"))
        soundfile.write(paths[-1], (0.1 * rng.standard_normal(1600)).astype(np.float32), 16000, subtype="FLOAT")
    items = pd.DataFrame({"audio": paths}, index=[f"c{i}" for i in range(n)])
    return Corpus(name, items, pd.DataFrame({"item": ["c0"], "label": ["x"]}), ["x"])


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_store_list_names_each_entry_with_extractor_corpus_items_size_and_last_use(tmp_path, feature_store):
    small = fill_store(_toy_corpus(tmp_path / "a", 3, "alpha"), FbankExtractor(n_mels=N_MELS))
    large = fill_store(_toy_corpus(tmp_path / "b", 5, "beta"), FbankExtractor(n_mels=N_MELS))
    (feature_store / "notes").mkdir()  # not an entry: counted, left alone
    old = time.time() - 10 * 86400
    os.utime(lock_path(small.path), (old, old))
    entries, others = list_entries(feature_store)
    assert [e.path for e in entries] == [small.path, large.path]  # least recently used first
    assert [(e.corpus, e.items, e.complete) for e in entries] == [("alpha", 3, True), ("beta", 5, True)]
    assert entries[0].extractor == f"fbank n_mels={N_MELS} output=pooled frame_seconds=0.025 hop_seconds=0.01"
    assert entries[0].size == _folder_bytes(small.path) and entries[1].size == _folder_bytes(large.path)
    assert entries[0].last_used == pytest.approx(old) and others == [feature_store / "notes"]

    result = CliRunner().invoke(voxpop.cli.app, ["store", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert small.path.name in result.output and "alpha" in result.output and "beta" in result.output
    total = _folder_bytes(small.path) + _folder_bytes(large.path)
    assert 1024 <= total < 1024**2
    assert f"2 entries, {total / 1024:,.1f} KiB in {feature_store}" in result.output
    assert "1 folder(s) that are not store entries, left alone: notes" in result.output


def test_prune_frees_old_entries_and_all_and_dry_run_removes_nothing(tmp_path, feature_store, computed):
    old = fill_store(_toy_corpus(tmp_path / "a", 3, "alpha"), FbankExtractor(n_mels=N_MELS))
    new = fill_store(_toy_corpus(tmp_path / "b", 4, "beta"), FbankExtractor(n_mels=N_MELS))
    long_ago = time.time() - 40 * 86400
    os.utime(lock_path(old.path), (long_ago, long_ago))

    dry = CliRunner().invoke(voxpop.cli.app, ["store", "prune", "--older-than", "30", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would remove 1 entry" in dry.output and old.path.name in dry.output and old.path.is_dir()

    report = prune(feature_store, older_than_days=30)
    assert [e.path for e in report.removed] == [old.path] and report.kept == 1 and report.in_use == []
    assert report.freed > 0 and not old.path.exists() and new.path.is_dir()

    result = CliRunner().invoke(voxpop.cli.app, ["store", "prune", "--all"])
    assert result.exit_code == 0, result.output
    assert "removed 1 entry" in result.output and not new.path.exists()
    computed.clear()
    again = fill_store(_toy_corpus(tmp_path / "a2", 3, "alpha"), FbankExtractor(n_mels=N_MELS))
    assert len(computed) == 3 and again.complete and not again.reused  # a pruned store fills again


def test_prune_needs_one_of_older_than_and_all(tmp_path):
    for arguments in ([], ["--older-than", "3", "--all"]):
        result = CliRunner().invoke(voxpop.cli.app, ["store", "prune", "--store", str(tmp_path), *arguments])
        assert result.exit_code != 0
        assert "exactly one of --older-than DAYS" in str(result.exception) + result.output
    result = CliRunner().invoke(voxpop.cli.app, ["store", "prune", "--store", str(tmp_path), "--older-than", "-1"])
    assert "--older-than must be a number of days >= 0" in str(result.exception) + result.output


READER = """
import sys, time
from pathlib import Path
from voxpop.features import FeatureStore
from voxpop.features.store_lock import entry_lock
with entry_lock(Path(sys.argv[1])):
    features = FeatureStore(Path(sys.argv[1])).features()
    print(len(features.items), flush=True)
    sys.stdin.readline()  # holds the shared lock until the test writes a line
"""


@pytest.mark.skipif(not LOCKING, reason="no advisory file locks on this platform (documented limitation)")
def test_prune_skips_an_entry_another_process_is_reading_and_names_it(tmp_path, feature_store):
    busy = fill_store(_toy_corpus(tmp_path / "a", 3, "alpha"), FbankExtractor(n_mels=N_MELS))
    idle = fill_store(_toy_corpus(tmp_path / "b", 2, "beta"), FbankExtractor(n_mels=N_MELS))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    reader = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(READER), str(busy.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert reader.stdout.readline().strip() == "3"  # the reader holds the entry's shared lock now
        result = CliRunner().invoke(voxpop.cli.app, ["store", "prune", "--all"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert "removed 1 entry" in result.output
        assert f"skipped 1 entry in use by another process: {busy.path.name}" in result.output
        assert busy.path.is_dir() and not idle.path.exists()
        assert FeatureStore(busy.path).features().values.shape[0] == 3  # intact, still readable
    finally:
        reader.communicate("done\n", timeout=60)
    assert prune(feature_store, everything=True).removed[0].path == busy.path  # released: now it goes


@pytest.mark.slow
def test_on_a_dask_cluster_the_reuse_is_said_once_and_the_report_is_the_same(demo_corpus, tmp_path, feature_store):
    recipe = _recipe(demo_corpus.dir, "mr", "cluster")
    fresh: list[str] = []
    run_recipe(recipe, tmp_path / "one", reporter=Reporter(notice=fresh.append), on_run=write_study_report, workers=2)
    (entry,) = _entries(feature_store)
    reused: list[str] = []
    run_recipe(recipe, tmp_path / "two", reporter=Reporter(notice=reused.append), on_run=write_study_report, workers=2)
    assert not any("reused from" in n for n in fresh)  # extracted by the shard tasks of this run
    assert [n for n in reused if "reused from" in n] == [f"features fbank: reused from {entry}"]  # shard 0 says it
    for name in ("report.md", "report.html", "results.parquet"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
