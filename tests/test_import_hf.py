"""`voxpop import hf`: Hugging Face ``datasets`` tables built with ``datasets`` itself, read back with pyarrow.

Each dataset is small (7 rows, 3 classes) with WAV bytes made by soundfile; the audio column is a
``{bytes, path}`` struct cast with ``Audio(decode=False)`` (no decoding, no torchcodec). Expected items,
classes, labels and ids are counted by hand or computed here with hashlib.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile

from voxpop import Corpus
from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.formats import check_arguments, get_importer
from voxpop.corpus.formats.hf import read_hf

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("datasets") is None,
    reason="the test dataset is built with Hugging Face datasets (dev extra)",
)


def hf_datasets():
    """Hugging Face ``datasets``, imported when a test builds a table (it may import torch: not at collection)."""
    import datasets

    return datasets

CLASSES = ["neutral", "angry", "happy"]  # ClassLabel order, deliberately not alphabetical
CODES = [1, 2, 0, 1, 2, -1, 0]  # row 6 is unlabelled (-1)
SPEAKERS = ["s1", "s1", "s2", "s2", "s3", "s3", "s1"]
FOLDS = ["train", "train", "train", "dev", "dev", "test", "test"]
PATHS = [f"clip_{i}.wav" for i in range(7)]  # datasets keeps the file name of embedded audio


def _wav(i: int) -> tuple[bytes, np.ndarray]:
    """Distinct 16-bit WAV bytes for row ``i`` (160 samples at 16 kHz, 10 ms) and their samples."""
    samples = (np.arange(160, dtype=np.int16) * (i + 1)).astype(np.int16)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue(), samples


WAVS = [_wav(i) for i in range(7)]


def _dataset(rows=range(7), *, audio=None, extra=None):
    """A ``datasets.Dataset`` of the given rows: audio (a {bytes, path} struct), label (ClassLabel), speaker, fold."""
    rows = list(rows)
    columns = {
        "audio": audio if audio is not None else [{"bytes": WAVS[i][0], "path": PATHS[i]} for i in rows],
        "label": [CODES[i] for i in rows],
        "speaker_id": [SPEAKERS[i] for i in rows],
        "fold": [FOLDS[i] for i in rows],
        **(extra or {}),
    }
    table = hf_datasets().Dataset.from_dict(columns)
    table = table.cast_column("audio", hf_datasets().Audio(decode=False))
    return table.cast_column("label", hf_datasets().ClassLabel(names=CLASSES))


def _hash_id(i: int) -> str:
    return hashlib.sha256(WAVS[i][0]).hexdigest()[:16]


def _expected_labels(rows=range(7)) -> dict[str, str]:
    return {_hash_id(i): CLASSES[CODES[i]] for i in rows if CODES[i] >= 0}


def _check_corpus(corpus: Corpus, out: Path, rows=range(7)) -> None:
    """Items, classes, labels per item, audio written once and bit-identical, original paths and durations."""
    rows = list(rows)
    assert corpus.classes == CLASSES
    assert sorted(corpus.items.index) == sorted(_hash_id(i) for i in rows)
    labelled = corpus.ratings.set_index("item")["label"].to_dict()
    assert labelled == _expected_labels(rows)
    assert corpus.ratings["rater"].isna().all() and corpus.ratings["slot"].eq("primary").all()
    written = sorted(os.listdir(out / "audio"))
    assert written == sorted(f"{_hash_id(i)}.wav" for i in rows)
    for i in rows:
        item = corpus.items.loc[_hash_id(i)]
        assert item["original_path"] == PATHS[i]
        assert item["audio"] == str((out / "audio" / f"{_hash_id(i)}.wav").absolute())
        assert Path(item["audio"]).read_bytes() == WAVS[i][0]
        samples, rate = soundfile.read(item["audio"], dtype="int16")
        assert rate == 16000 and np.array_equal(samples, WAVS[i][1])
        assert item["duration"] == pytest.approx(160 / 16000)
    assert "no per-rater ratings" in corpus.description


def test_a_save_to_disk_dataset_gives_items_classes_labels_speakers_splits_and_audio(tmp_path):
    _dataset().save_to_disk(str(tmp_path / "ds"))
    out = tmp_path / "corpus"
    corpus = read_hf(tmp_path / "ds", out, speaker_column="speaker_id", split_column="fold")
    _check_corpus(corpus, out)
    assert len(corpus.items) == 7 and len(corpus.ratings) == 6  # row 6 has code -1: an item without rating
    assert pd.isna(corpus.items.loc[_hash_id(5), "label"]) and _hash_id(5) not in set(corpus.ratings["item"])
    assert "1 rows have no label (code -1 or empty)" in corpus.description
    by_id = corpus.items
    assert [by_id.loc[_hash_id(i), "speaker"] for i in range(7)] == SPEAKERS
    assert [by_id.loc[_hash_id(i), "split"] for i in range(7)] == FOLDS
    assert "speaker_id" not in by_id.columns and "fold" not in by_id.columns
    assert by_id.loc[_hash_id(0), "label"] == "angry"  # the label column is kept as its names
    corpus.save(out)
    assert Corpus.load(out).items["audio"].tolist() == corpus.items["audio"].tolist()
    kept, damaged = out / "audio" / f"{_hash_id(0)}.wav", out / "audio" / f"{_hash_id(1)}.wav"
    kept_inode = kept.stat().st_ino
    damaged.write_bytes(b"RIFF")
    read_hf(tmp_path / "ds", out, speaker_column="speaker_id", split_column="fold")  # imported again
    assert kept.stat().st_ino == kept_inode  # a file holding its bytes is kept, not rewritten
    assert damaged.read_bytes() == WAVS[1][0]  # a damaged one is written again


def test_a_dataset_dict_gives_its_split_names_as_the_split_column(tmp_path):
    dd = hf_datasets().DatasetDict({"train": _dataset(range(4)), "test": _dataset(range(4, 7))})
    dd.save_to_disk(str(tmp_path / "dd"))
    out = tmp_path / "corpus"
    corpus = read_hf(tmp_path / "dd", out)
    _check_corpus(corpus, out)
    splits = corpus.items["split"]
    assert [splits[_hash_id(i)] for i in range(7)] == ["train"] * 4 + ["test"] * 3
    assert corpus.items["split"].value_counts().to_dict() == {"train": 4, "test": 3}
    rated = corpus.ratings.set_index("item")
    assert rated.loc[_hash_id(4), "source_file"] == "test/data-00000-of-00001.arrow"
    assert rated.loc[_hash_id(4), "source_row"] == 1
    assert "fold" in corpus.items.columns  # no --split-column: a plain item column
    with pytest.raises(ConfigError, match=r"is a DatasetDict, whose split names give the split column"):
        read_hf(tmp_path / "dd", tmp_path / "other", split_column="fold")


def test_parquet_shards_and_a_single_parquet_file_import_the_same_items(tmp_path):
    table = _dataset()
    shards = tmp_path / "shards" / "data"
    shards.mkdir(parents=True)
    for i in range(2):
        table.shard(num_shards=2, index=i, contiguous=True).to_parquet(str(shards / f"train-0000{i}-of-00002.parquet"))
    assert pq.read_schema(shards / "train-00000-of-00002.parquet").metadata[b"huggingface"]  # features in metadata
    out = tmp_path / "from-shards"
    corpus = read_hf(tmp_path / "shards", out)
    _check_corpus(corpus, out)
    assert corpus.ratings.set_index("item").loc[_hash_id(4), "source_file"] == "data/train-00001-of-00002.parquet"
    table.to_parquet(str(tmp_path / "all.parquet"))
    single = read_hf(tmp_path / "all.parquet", tmp_path / "from-file")
    _check_corpus(single, tmp_path / "from-file")
    assert single.name == "all"
    inside = tmp_path / "shards" / "corpus"  # the corpus written inside the folder of shards, imported again
    for _ in range(2):
        again = read_hf(tmp_path / "shards", inside)
        again.save(inside)
    assert again.ratings["source_file"].unique().tolist() == [
        "data/train-00000-of-00002.parquet",
        "data/train-00001-of-00002.parquet",
    ]


def test_the_same_audio_bytes_in_two_rows_are_refused_naming_both_rows(tmp_path):
    audio = [{"bytes": WAVS[i][0], "path": PATHS[i]} for i in range(7)]
    audio[4] = {"bytes": WAVS[1][0], "path": "copy.wav"}
    _dataset(audio=audio).save_to_disk(str(tmp_path / "ds"))
    with pytest.raises(InputError) as error:
        read_hf(tmp_path / "ds", tmp_path / "corpus")
    message = str(error.value)
    assert "data-00000-of-00001.arrow, row 2, column 'audio' and data-00000-of-00001.arrow, row 5, column 'audio'" in (
        message
    )
    assert f"same audio bytes (sha256 {_hash_id(1)}" in message and "id_column" in message
    assert not (tmp_path / "corpus").exists()  # refused before anything was written


def test_with_an_id_column_shared_audio_is_written_once(tmp_path):
    audio = [{"bytes": WAVS[i][0], "path": PATHS[i]} for i in range(7)]
    audio[4] = {"bytes": WAVS[1][0], "path": "copy.wav"}
    ids = [f"utt{i}" for i in range(7)]
    _dataset(audio=audio, extra={"utterance": ids}).save_to_disk(str(tmp_path / "ds"))
    out = tmp_path / "corpus"
    corpus = read_hf(tmp_path / "ds", out, id_column="utterance")
    assert corpus.items.index.tolist() == ids
    assert sorted(os.listdir(out / "audio")) == sorted(f"{_hash_id(i)}.wav" for i in (0, 1, 2, 3, 5, 6))
    assert corpus.items.loc["utt4", "audio"] == corpus.items.loc["utt1", "audio"]
    assert corpus.items.loc["utt4", "original_path"] == "copy.wav"
    assert corpus.ratings.set_index("item")["label"].to_dict() == {
        f"utt{i}": CLASSES[CODES[i]] for i in range(7) if CODES[i] >= 0
    }
    assert "as 6 files" in corpus.description
    ids[3] = "utt0"
    _dataset(audio=audio, extra={"utterance": ids}).save_to_disk(str(tmp_path / "ds2"))
    with pytest.raises(
        InputError, match=r"row 1, column 'utterance' and .*row 4, column 'utterance': the same item id"
    ):
        read_hf(tmp_path / "ds2", tmp_path / "c2", id_column="utterance")


def test_a_class_code_outside_the_names_is_refused_naming_row_and_column(tmp_path):
    _dataset().to_parquet(str(tmp_path / "good.parquet"))
    table = pq.read_table(tmp_path / "good.parquet")
    codes = pa.array([1, 2, 0, 7, 2, -1, 0], pa.int64())
    pq.write_table(table.set_column(table.schema.get_field_index("label"), "label", codes), tmp_path / "bad.parquet")
    with pytest.raises(InputError, match=r"bad.parquet, row 4, column 'label': class code 7 is not one of the 3"):
        read_hf(tmp_path / "bad.parquet", tmp_path / "corpus")
    assert not (tmp_path / "corpus").exists()


def test_several_class_label_columns_ask_which_is_the_label(tmp_path):
    table = _dataset(extra={"gender": [0, 1, 0, 1, 0, 1, 0]}).cast_column(
        "gender", hf_datasets().ClassLabel(names=["f", "m"])
    )
    table.save_to_disk(str(tmp_path / "ds"))
    with pytest.raises(ConfigError, match=r"ClassLabel columns label, gender; name the label column with label_column"):
        read_hf(tmp_path / "ds", tmp_path / "corpus")
    corpus = read_hf(tmp_path / "ds", tmp_path / "corpus", label_column="gender")
    assert corpus.classes == ["f", "m"]
    assert corpus.ratings.set_index("item")["label"].to_dict() == {_hash_id(i): "fm"[i % 2] for i in range(7)}
    assert corpus.items.loc[_hash_id(0), "label"] == "angry"  # the other ClassLabel column, as names


def test_embedded_audio_needs_the_corpus_directory(tmp_path):
    _dataset().save_to_disk(str(tmp_path / "ds"))
    with pytest.raises(ConfigError, match=r"7 rows embed their audio, .* give out"):
        read_hf(tmp_path / "ds")


def _with_audio_paths(table: pa.Table, paths: list[str]) -> pa.Table:
    """The table with its audio column replaced by paths without bytes (the Hugging Face metadata kept)."""
    audio = pa.array([{"bytes": None, "path": p} for p in paths], table.schema.field("audio").type)
    return table.set_column(table.schema.get_field_index("audio"), "audio", audio)


def test_audio_given_as_paths_resolves_against_the_dataset_folder(tmp_path, monkeypatch):
    """to_parquet keeps a path without bytes as it is (save_to_disk would embed the file)."""
    folder = tmp_path / "ds"
    (folder / "wav").mkdir(parents=True)
    for i in range(7):
        (folder / "wav" / PATHS[i]).write_bytes(WAVS[i][0])
    monkeypatch.chdir(folder)  # datasets measures the files from the working directory while writing
    _dataset(audio=[{"bytes": None, "path": f"wav/{PATHS[i]}"} for i in range(7)]).to_parquet(str(folder / "d.parquet"))
    table = pq.read_table(folder / "d.parquet")
    assert table.column("audio").to_pylist()[0] == {"bytes": None, "path": "wav/clip_0.wav"}
    monkeypatch.chdir(tmp_path)  # the import resolves against the dataset folder, never the working directory
    corpus = read_hf(folder / "d.parquet")  # nothing embedded: no corpus directory needed, nothing written
    assert corpus.items["audio"].tolist() == [str(folder / "wav" / p) for p in PATHS]
    assert corpus.items["original_path"].tolist() == [f"wav/{p}" for p in PATHS]
    assert sorted(corpus.items.index) == sorted(_hash_id(i) for i in range(7))  # ids from the files' bytes
    assert corpus.items["duration"].tolist() == pytest.approx([0.01] * 7)
    assert corpus.audio_root == str(folder)
    pq.write_table(_with_audio_paths(table, ["../outside.wav"] * 7), folder / "bad.parquet")
    with pytest.raises(InputError, match=r"row 1, column 'audio': the audio path '../outside.wav' resolves to"):
        read_hf(folder / "bad.parquet")
    pq.write_table(
        _with_audio_paths(table, [f"wav/{PATHS[0]}", "wav/missing.wav", *PATHS[2:]]), folder / "gone.parquet"
    )
    with pytest.raises(InputError, match=r"gone.parquet, row 2, column 'audio': the audio file 'wav/missing.wav'"):
        read_hf(folder / "gone.parquet")


def test_the_importer_is_registered_checked_and_on_the_command_line(tmp_path):
    from typer.testing import CliRunner

    import voxpop.cli

    assert get_importer("hf") is read_hf
    check_arguments("hf", {"path": "ds", "out": "corpus", "speaker_column": "speaker_id"})
    with pytest.raises(ConfigError, match=r"arguments.speaker: unknown argument of importer 'hf'"):
        check_arguments("hf", {"path": "ds", "speaker": "speaker_id"})
    runner = CliRunner()
    listing = runner.invoke(voxpop.cli.app, ["import", "--help"], env={"COLUMNS": "200"})
    assert listing.exit_code == 0 and "Hugging Face datasets table" in listing.output
    _dataset().save_to_disk(str(tmp_path / "ds"))
    out = tmp_path / "corpus"
    args = ["import", "hf", str(tmp_path / "ds"), "--out", str(out), "--speaker-column", "speaker_id"]
    result = runner.invoke(voxpop.cli.app, args)
    assert result.exit_code == 0, result.output
    loaded = Corpus.load(out)
    assert loaded.classes == CLASSES and len(loaded.items) == 7 and len(loaded.ratings) == 6
    assert sorted(loaded.items["speaker"]) == sorted(SPEAKERS)
    bad = runner.invoke(voxpop.cli.app, ["import", "hf", str(tmp_path / "ds"), "--out", str(out), "--id-column", "x"])
    assert bad.exit_code != 0 and "--id-column x: no such column" in str(bad.exception)


def test_other_columns_are_kept_renamed_or_left_out_and_a_row_without_audio_needs_an_id_column(tmp_path):
    audio = [{"bytes": WAVS[i][0], "path": PATHS[i]} for i in range(7)]
    audio[2] = None
    extra = {
        "duration": [float(i) for i in range(7)],
        "tags": [["x", "y"]] * 7,
        "utterance": [f"u{i}" for i in range(7)],
    }
    _dataset(audio=audio, extra=extra).save_to_disk(str(tmp_path / "ds"))
    with pytest.raises(InputError, match=r"data-00000-of-00001.arrow, row 3, column 'audio': no audio, so no item id"):
        read_hf(tmp_path / "ds", tmp_path / "c1")
    corpus = read_hf(tmp_path / "ds", tmp_path / "c2", id_column="utterance")
    assert corpus.items["hf_duration"].tolist() == [float(i) for i in range(7)]  # the dataset's own 'duration'
    assert corpus.items["duration"].drop("u2").tolist() == pytest.approx([0.01] * 6)
    assert pd.isna(corpus.items.loc["u2", "audio"]) and "tags" not in corpus.items.columns
    assert "not kept: tags" in corpus.description and "kept as hf_duration" in corpus.description
    assert "1 rows have no audio" in corpus.description
    assert len(os.listdir(tmp_path / "c2" / "audio")) == 6


def test_undecodable_audio_names_its_own_row_and_integer_columns_with_gaps_stay_integers(tmp_path):
    """A bad clip in the third row is named as row 3 (not the batch's first row); an integer speaker or split column
    with an empty cell (Arrow -> float) gives speakers '1', not '1.0'; the reader's message holds no object repr."""
    table = _dataset(extra={"spk": [1, 1, 2, 2, 3, 3, None]}).data.table
    rows = table.to_pydict()
    rows["audio"][2] = {"bytes": b"ID3\x00 no audio here", "path": "x.mp3"}
    (tmp_path / "bad").mkdir()
    pq.write_table(pa.table(rows, schema=table.schema), tmp_path / "bad" / "train.parquet")
    with pytest.raises(InputError, match=r"train.parquet, row 3, column 'audio': the embedded audio") as error:
        read_hf(tmp_path / "bad", tmp_path / "c0")
    assert "<_io" not in str(error.value) and "Format not recognised" in str(error.value)
    _dataset(extra={"spk": [1, 1, 2, 2, 3, 3, None]}).save_to_disk(str(tmp_path / "ds"))
    corpus = read_hf(tmp_path / "ds", tmp_path / "c1", speaker_column="spk", split_column="spk")
    assert corpus.items["speaker"].tolist()[:6] == ["1", "1", "2", "2", "3", "3"]
    assert corpus.items["split"].tolist()[:6] == ["1", "1", "2", "2", "3", "3"]
    assert pd.isna(corpus.items["speaker"].iat[6])
