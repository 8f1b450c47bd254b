"""The feature store: keys, atomic shard commits, resume after a kill, shard processes, skipped items, CLI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
import soundfile
from typer.testing import CliRunner

import voxpop.cli
import voxpop.features.store as store_module
from voxpop.corpus.corpus import Corpus
from voxpop.features import (
    FeatureStore,
    IncompleteStoreError,
    extract,
    fill_store,
    make_extractor,
)
from voxpop.features.audio import AudioOptions
from voxpop.features.fbank import FbankExtractor, log_mel_fbank

N_MELS = 8


class CountingFbank(FbankExtractor):
    """fbank with the same spec as the real one, counting calls and optionally failing on one call."""

    def __init__(self, fail_at: int | None = None, output: str = "pooled"):
        super().__init__(n_mels=N_MELS, output=output)
        self.calls = 0
        self.fail_at = fail_at

    def compute(self, signal):
        if self.calls == self.fail_at:
            raise RuntimeError("injected failure")
        self.calls += 1
        return super().compute(signal)


def make_corpus(directory, n=10, name="toy") -> Corpus:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(directory)))
    paths = []
    for i in range(n):
        path = directory / f"c{i}.wav"
        soundfile.write(path, (0.1 * rng.standard_normal(1600 + 400 * i)).astype(np.float32), 16000, subtype="FLOAT")
        paths.append(str(path))
    speakers = [f"s{i % 3}" for i in range(n)]
    items = pd.DataFrame({"audio": paths, "speaker": speakers}, index=[f"c{i}" for i in range(n)])
    return Corpus(name, items, pd.DataFrame({"item": ["c0"], "label": ["x"]}), ["x"])


@pytest.fixture
def corpus(tmp_path):
    return make_corpus(tmp_path / "audio")


def expected_values(corpus: Corpus) -> np.ndarray:
    rows = []
    for path in corpus.items["audio"]:
        frames = log_mel_fbank(soundfile.read(path, dtype="float32")[0], 16000, N_MELS)
        rows.append(np.concatenate([frames.mean(axis=0), frames.std(axis=0)]))
    return np.array(rows, dtype=np.float32)


# ------------------------------------------------------------------------------ values and layout
def test_extract_returns_memory_mapped_features_aligned_to_items(corpus, tmp_path):
    features = extract(corpus, CountingFbank(), tmp_path / "store", shard_size=3)
    assert isinstance(features.values, np.memmap)
    assert list(features.items) == list(corpus.items.index)
    np.testing.assert_allclose(features.values, expected_values(corpus), rtol=1e-6)
    table = features.to_frame()
    assert table.columns[0] == "mean_mel00" and table.loc["c3", "std_mel07"] == features.values[3, 15]
    entry = FeatureStore(features.path)
    assert entry.complete and not list((entry.path / "shards").glob("*.npy"))  # consolidated, shards removed
    assert len(list((entry.path / "manifest").glob("*.json"))) == entry.n_shards == 4


def test_frame_features_keep_every_frame(corpus, tmp_path):
    features = extract(corpus, CountingFbank(output="frames"), tmp_path)
    for item, path in zip(corpus.items.index, corpus.items["audio"], strict=True):
        frames = log_mel_fbank(soundfile.read(path, dtype="float32")[0], 16000, N_MELS)
        np.testing.assert_allclose(features.sequence(item), frames, rtol=1e-6)
    assert features.values.shape == (features.offsets[-1], N_MELS)


def test_second_run_computes_nothing(corpus, tmp_path):
    extract(corpus, CountingFbank(), tmp_path)
    again = CountingFbank()
    report = fill_store(corpus, again, tmp_path)
    assert again.calls == 0 and report.computed_items == 0 and report.complete


# ------------------------------------------------------------------------------ keys
def test_key_changes_with_audio_files_options_and_extractor(corpus, tmp_path):
    base = extract(corpus, CountingFbank(), tmp_path).key
    assert extract(corpus, CountingFbank(), tmp_path, audio=AudioOptions(max_seconds=0.2)).key != base
    assert extract(corpus, make_extractor("fbank", n_mels=N_MELS + 1), tmp_path).key != base
    assert extract(corpus.subset(corpus.items.index[:5]), CountingFbank(), tmp_path).key != base
    path = corpus.items["audio"].iloc[0]
    soundfile.write(path, np.zeros(2000, dtype=np.float32), 16000)  # the audio changed
    changed = extract(corpus, CountingFbank(), tmp_path)
    assert changed.key != base
    np.testing.assert_allclose(changed.values, expected_values(corpus), rtol=1e-6)


def test_content_fingerprint_follows_the_files_not_their_place(corpus, tmp_path):
    first = extract(corpus, CountingFbank(), tmp_path / "store", fingerprint="content")
    copy_dir = tmp_path / "copy"
    shutil.copytree(tmp_path / "audio", copy_dir)
    moved = corpus._replace(
        corpus.items.assign(audio=[str(copy_dir / os.path.basename(p)) for p in corpus.items["audio"]]),
        corpus.ratings,
    )
    counting = CountingFbank()
    report = fill_store(moved, counting, tmp_path / "store", fingerprint="content")
    assert report.key == first.key and counting.calls == 0
    assert fill_store(moved, CountingFbank(), tmp_path / "store").key != first.key  # stat: paths differ


# ------------------------------------------------------------------------------ resume
def test_killed_run_resumes_with_only_the_missing_shards(corpus, tmp_path):
    failing = CountingFbank(fail_at=7)  # shards of 3: shards 0 and 1 commit, shard 2 dies on its 2nd item
    with pytest.raises(RuntimeError, match="injected failure"):
        extract(corpus, failing, tmp_path / "store", shard_size=3)
    entry = next(p for p in (tmp_path / "store").iterdir() if (p / "store.json").is_file())  # not .locks
    store = FeatureStore(entry)
    assert store.done_shards() == {0, 1} and not store.complete
    assert not (entry / "values.npy").exists()
    resumed = CountingFbank()
    features = extract(corpus, resumed, tmp_path / "store", shard_size=3)
    assert resumed.calls == 4  # items 6..9 only
    clean = extract(corpus, CountingFbank(), tmp_path / "clean", shard_size=3)
    assert features.key == clean.key
    np.testing.assert_array_equal(np.asarray(features.values), np.asarray(clean.values))


def test_kill_between_data_and_manifest_redoes_that_shard(corpus, tmp_path, monkeypatch):
    real_write = store_module.write_json
    manifest_writes = []

    def dying_write(path, value, *, exclusive=False):
        if path.parent.name == "manifest":
            manifest_writes.append(path.name)
            if len(manifest_writes) == 2:
                raise KeyboardInterrupt  # killed after shard 1's data file was in place
        return real_write(path, value, exclusive=exclusive)

    monkeypatch.setattr(store_module, "write_json", dying_write)
    with pytest.raises(KeyboardInterrupt):
        fill_store(corpus, CountingFbank(), tmp_path, shard_size=4)
    monkeypatch.setattr(store_module, "write_json", real_write)
    store = FeatureStore(next(tmp_path.glob("fbank-*")))
    assert (store.path / "shards" / "000001.npy").exists() and store.missing_shards() == [1, 2]
    assert not list(store.path.rglob("*.tmp"))  # no temporary file left behind
    orphan = store.path / "shards" / ".000002.npy.host.99.0a1b2c3d.tmp"
    orphan.write_bytes(b"half a shard")  # as a SIGKILL during a write would leave
    resumed = CountingFbank()
    features = extract(corpus, resumed, tmp_path, shard_size=4)
    assert resumed.calls == 6  # shard 1 (4 items) and shard 2 (2 items)
    np.testing.assert_allclose(features.values, expected_values(corpus), rtol=1e-6)
    assert not orphan.exists()  # swept once the store is complete


def test_sigkilled_process_resumes_where_it_stopped(tmp_path):
    corpus = make_corpus(tmp_path / "audio", n=12)
    corpus.save(tmp_path / "corpus")
    script = tmp_path / "slow.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import time
            from voxpop.corpus.corpus import Corpus
            from voxpop.features import fill_store
            from voxpop.features.fbank import FbankExtractor

            class SlowFbank(FbankExtractor):  # same spec as fbank(n_mels={N_MELS}), so the same store entry
                def compute(self, signal):
                    time.sleep(0.3)
                    return super().compute(signal)

            corpus = Corpus.load({str(tmp_path / "corpus")!r})
            fill_store(corpus, SlowFbank(n_mels={N_MELS}), {str(tmp_path / "store")!r}, shard_size=3)
            """
        )
    )
    process = subprocess.Popen([sys.executable, str(script)])
    deadline = time.monotonic() + 120
    while not list((tmp_path / "store").glob("fbank-*/manifest/000001.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.kill()  # SIGKILL: no cleanup of any kind
    process.wait()
    store = FeatureStore(next((tmp_path / "store").glob("fbank-*")))
    done = store.done_shards()
    assert {0, 1} <= done and not store.complete
    resumed = CountingFbank()
    features = extract(corpus, resumed, tmp_path / "store", shard_size=3)
    assert resumed.calls == 12 - 3 * len(done)
    np.testing.assert_allclose(features.values, expected_values(corpus), rtol=1e-6)


def _flip_last_byte(path, keep_mtime=False):
    stat = path.stat()
    payload = bytearray(path.read_bytes())
    payload[-1] ^= 0xFF
    path.write_bytes(payload)
    if keep_mtime:  # same size and modification time: only a checksum sees the damage
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_damaged_shards_are_recomputed(corpus, tmp_path, capsys):
    fill_store(corpus, CountingFbank(), tmp_path, shard=(0, 2), shard_size=4)  # shards 0 and 2
    store = FeatureStore(next(tmp_path.glob("fbank-*")))
    data = store.path / "shards" / "000000.npy"
    data.write_bytes(data.read_bytes()[:-8])  # truncated: no longer counts as done
    assert store.missing_shards() == [0, 1]
    notice = r"shard 0 data shards/000000\.npy has \d+ bytes, \d+ were written; recomputing"
    assert re.search(notice, capsys.readouterr().err)
    again = CountingFbank()
    fill_store(corpus, again, tmp_path, shard=(0, 2), shard_size=4)
    assert again.calls == 4  # shard 0 only
    _flip_last_byte(data)  # right size, new modification time: the cheap check hashes it
    assert store.missing_shards() == [0, 1]
    assert "differs from what was written (checksum)" in capsys.readouterr().err
    fill_store(corpus, CountingFbank(), tmp_path, shard=(0, 2), shard_size=4)
    _flip_last_byte(data, keep_mtime=True)  # passes the cheap check: caught by the consolidation's sha256
    other = CountingFbank()
    report = fill_store(corpus, other, tmp_path, shard=(1, 2), shard_size=4)  # shard 1, then consolidates
    assert other.calls == 4 and report.shards_remaining == 1 and store.missing_shards() == [0]
    assert "000000.npy: checksum mismatch" in capsys.readouterr().err
    last = CountingFbank()
    features = extract(corpus, last, tmp_path, shard_size=4)
    assert last.calls == 4
    np.testing.assert_allclose(features.values, expected_values(corpus), rtol=1e-6)


def test_corrupt_shard_found_at_consolidation_is_recomputed_in_the_same_run(corpus, tmp_path, capsys):
    fill_store(corpus, CountingFbank(), tmp_path, shard=(0, 2), shard_size=4)
    data = next(tmp_path.glob("fbank-*/shards/000002.npy"))
    _flip_last_byte(data, keep_mtime=True)
    counting = CountingFbank()
    features = extract(corpus, counting, tmp_path, shard_size=4)
    assert counting.calls == 4 + 2  # shard 1 (items 4..7), then shard 2 (items 8, 9) again
    assert "000002.npy: checksum mismatch" in capsys.readouterr().err
    np.testing.assert_allclose(features.values, expected_values(corpus), rtol=1e-6)


@pytest.mark.parametrize("damage", ["flip values", "truncate values", "delete index", "truncate index"])
def test_damaged_consolidated_store_is_extracted_again(corpus, tmp_path, capsys, damage):
    clean = np.array(extract(corpus, CountingFbank(), tmp_path / "clean", shard_size=4).values)
    extract(corpus, CountingFbank(), tmp_path / "store", shard_size=4)
    path = next((tmp_path / "store").glob("fbank-*"))
    target = path / ("values.npy" if "values" in damage else "index.parquet")
    if damage.startswith("flip"):
        _flip_last_byte(target)
    elif damage.startswith("truncate"):
        target.write_bytes(target.read_bytes()[:-10])
    else:
        target.unlink()
    with pytest.raises(store_module.DamagedStoreError, match=target.name):
        FeatureStore(path).features()
    counting = CountingFbank()
    features = extract(corpus, counting, tmp_path / "store", shard_size=4)
    assert counting.calls == len(corpus.items)  # the shards were gone: every item extracted again
    assert f"{target.name}" in capsys.readouterr().err
    np.testing.assert_array_equal(np.asarray(features.values), clean)
    np.testing.assert_allclose(clean, expected_values(corpus), rtol=1e-6)


def test_full_check_finds_damage_the_cheap_check_misses(corpus, tmp_path):
    features = extract(corpus, CountingFbank(), tmp_path, shard_size=4)
    store = FeatureStore(features.path)
    assert store.problems(full=True) == []
    _flip_last_byte(store.path / "values.npy", keep_mtime=True)
    assert store.problems() == []
    assert store.problems(full=True) == ["values.npy differs from what was written (checksum)"]


# ------------------------------------------------------------------------------ shard processes
def test_shard_processes_fill_one_store(corpus, tmp_path):
    with pytest.raises(IncompleteStoreError, match="misses 2 of 4 shards"):
        extract(corpus, CountingFbank(), tmp_path, shard=(0, 2), shard_size=3)
    second = CountingFbank()
    features = extract(corpus, second, tmp_path, shard=(1, 2), shard_size=3)
    assert second.calls == 4  # shards 1 (3 items) and 3 (1 item)
    np.testing.assert_allclose(features.values, expected_values(corpus), rtol=1e-6)


def test_concurrent_processes_do_not_clash(tmp_path):
    corpus = make_corpus(tmp_path / "audio", n=12)
    corpus.save(tmp_path / "corpus")
    script = tmp_path / "worker.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from voxpop.corpus.corpus import Corpus
            from voxpop.features import fill_store, make_extractor
            index = int(sys.argv[1])
            corpus = Corpus.load({str(tmp_path / "corpus")!r})
            report = fill_store(corpus, make_extractor("fbank", n_mels={N_MELS}), {str(tmp_path / "store")!r},
                                shard=(index, 2), shard_size=2)
            print(report.computed_items)
            """
        )
    )
    workers = [subprocess.Popen([sys.executable, str(script), str(i)], stdout=subprocess.PIPE) for i in range(2)]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0]
    assert sorted(int(o) for o in outputs) == [6, 6]
    counting = CountingFbank()
    features = extract(corpus, counting, tmp_path / "store", shard_size=2)
    assert counting.calls == 0
    np.testing.assert_allclose(features.values, expected_values(corpus), rtol=1e-6)


# ------------------------------------------------------------------------------ skipped items
def test_bad_items_are_skipped_and_counted_per_reason(corpus, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.wav").touch()
    (bad / "corrupt.wav").write_bytes(b"not audio at all" * 10)
    soundfile.write(bad / "short.wav", np.zeros(320, dtype=np.float32), 16000)
    extra = pd.DataFrame(
        {"audio": [str(bad / "empty.wav"), str(bad / "corrupt.wav"), str(bad / "short.wav"), None, "nope.wav"]},
        index=["empty", "corrupt", "short", "no-path", "missing"],
    )
    items = pd.concat([corpus.items[["audio"]], extra])
    mixed = Corpus("mixed", items, corpus.ratings, corpus.classes)
    report = fill_store(mixed, CountingFbank(), tmp_path / "store", shard_size=4)
    assert report.skipped == {"empty_file": 1, "unreadable": 1, "too_short": 1, "no_audio": 1, "missing": 1}
    assert report.extracted == 10 and report.items == 15
    assert report.audio_seconds == pytest.approx(sum(1600 + 400 * i for i in range(10)) / 16000)
    features = FeatureStore(report.path).features()
    assert list(features.items) == list(corpus.items.index)
    assert features.skipped.loc["corrupt", "reason"] == "unreadable"
    assert str(bad / "corrupt.wav") in features.skipped.loc["corrupt", "message"]


# ------------------------------------------------------------------------------ CLI
def test_cli_fills_the_store_and_summarises(corpus, tmp_path):
    corpus.save(tmp_path / "corpus")
    runner = CliRunner()
    args = ["features", str(tmp_path / "corpus"), "-e", "fbank", "--store", str(tmp_path / "store"), "-o", "n_mels=8"]
    partial = runner.invoke(voxpop.cli.app, [*args, "--shard", "1/2", "--shard-size", "3"])
    assert partial.exit_code == 0, partial.output
    assert "2 of 4 shards still missing" in partial.output
    result = runner.invoke(voxpop.cli.app, [*args, "--shard-size", "3", "--where", "speaker != 'nobody'"])
    assert result.exit_code == 0, result.output
    assert "real-time factor" in result.output and "complete" in result.output
    key = FeatureStore(next((tmp_path / "store").glob("fbank-*"))).key
    assert f"store key {key}" in result.output
    wrong = runner.invoke(voxpop.cli.app, [*args, "--layers", "3"])
    assert "has no option 'layers'" in str(wrong.exception)
