"""Interval-consensus segments as items: segment corpus, windowed audio, store keys, and training on them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile

from voxpop.core.errors import ConfigError
from voxpop.corpus.corpus import Corpus
from voxpop.features import extract
from voxpop.features.audio import AudioError, AudioLoader, AudioOptions
from voxpop.features.fbank import FbankExtractor, log_mel_fbank
from voxpop.features.store import fingerprint_items, store_key
from voxpop.labels.rules import make_labels
from voxpop.labels.segments import segment_corpus
from voxpop.models.cross_validation import cross_validate
from voxpop.models.protocols import make_folds
from voxpop.models.specs import ModelSpec

RATE = 16000


def interval_corpus(audio: dict[str, str | None], intervals: list[tuple]) -> Corpus:
    """Recordings (speaker = s<i>) and interval ratings (recording, rater, label, start, end)."""
    items = pd.DataFrame(
        {"audio": list(audio.values()), "speaker": [f"s{i}" for i in range(len(audio))], "duration": 4.0},
        index=list(audio),
    ).assign(duration_estimated=False)
    ratings = pd.DataFrame(intervals, columns=["item", "rater", "label", "start", "end"])
    return Corpus("rec", items, ratings, classes=["anger", "sad"])


def test_segment_corpus_ids_windows_and_metadata():
    corpus = interval_corpus(
        {"a": "/data/a.wav", "b": "/data/b.wav"},
        [
            ("a", "r1", "anger", 0.0, 1.0),
            ("a", "r2", "anger", 0.25, 1.5),
            ("a", "r3", "sad", 2.0, 3.0),
            ("b", "r1", "sad", 1.0, 2.5),
            ("b", "r2", "sad", 1.5, 3.0),
        ],
    )
    labels = make_labels(corpus, "intervals", level=2)
    segments = segment_corpus(corpus, labels)
    # level 2: anger on a where r1 and r2 overlap, sad on b likewise; a's sad (one rater) is a dropped item
    expected = pd.DataFrame(
        {
            "audio": ["/data/a.wav", "/data/a.wav", "/data/b.wav"],
            "speaker": ["s0", "s0", "s1"],
            "recording": ["a", "a", "b"],
            "offset": [0.25, 2.0, 1.5],
            "duration": [0.75, 1.0, 1.0],
        },
        index=pd.Index(["a:anger:0.25-1.00", "a:sad:2.00-3.00", "b:sad:1.50-2.50"], name="item"),
    )
    pd.testing.assert_frame_equal(segments.items, expected, check_dtype=False, check_index_type=False)
    assert segments.items.index.equals(labels.targets.index)
    assert labels.kept.tolist() == [True, False, True]
    assert segments.ratings[["item", "rater", "slot", "label"]].astype(str).values.tolist() == [
        ["a:anger:0.25-1.00", "consensus", "primary", "anger"],
        ["a:sad:2.00-3.00", "consensus", "primary", "sad"],
        ["b:sad:1.50-2.50", "consensus", "primary", "sad"],
    ]
    assert segments.classes == corpus.classes


def test_loader_reads_exactly_the_window(tmp_path):
    rng = np.random.default_rng(0)
    data = (0.1 * rng.standard_normal(3 * RATE)).astype(np.float32)
    path = tmp_path / "rec.wav"
    soundfile.write(path, data, RATE, subtype="FLOAT")
    loader = AudioLoader(AudioOptions())
    window = loader.load(path, "rec@1.25", offset=1.25, duration=0.5)
    np.testing.assert_array_equal(window, data[20000:28000])
    np.testing.assert_array_equal(loader.load(path, "rest", offset=2.5), data[40000:])
    head = AudioLoader(AudioOptions(max_seconds=0.25)).load(path, "head", offset=1.0, duration=1.0)
    np.testing.assert_array_equal(head, data[16000:20000])


def test_window_beyond_the_file_is_an_audio_error_with_the_numbers(tmp_path):
    path = tmp_path / "rec.wav"
    soundfile.write(path, np.zeros(2 * RATE, dtype=np.float32), RATE)
    with pytest.raises(AudioError) as caught:
        AudioLoader().load(path, "rec:anger:1.50-2.50", offset=1.5, duration=1.0)
    error = caught.value
    assert error.reason == "outside_file"
    for part in ("rec:anger:1.50-2.50", str(path), "1.5 s + 1 s", "frames 24000-40000", "of 2 s (32000 frames"):
        assert part in str(error)


def test_two_windows_of_one_file_are_different_store_entries(tmp_path):
    path = tmp_path / "rec.wav"
    soundfile.write(path, np.zeros(RATE, dtype=np.float32), RATE)
    items = pd.DataFrame({"audio": [str(path)] * 2, "offset": [0.0, 0.5], "duration": [0.5, 0.5]}, index=["x", "x2"])
    prints = fingerprint_items(items)["fingerprint"]
    assert prints.iloc[0] != prints.iloc[1] and "window=0.5+0.5" in prints.iloc[1]
    key = store_key(fingerprint_items(items.iloc[:1]), {"extractor": "fbank"}, {})
    moved = store_key(fingerprint_items(items.iloc[:1].assign(offset=0.25)), {"extractor": "fbank"}, {})
    assert key != moved
    # without an offset, 'duration' is only the clip length importers record: the whole file, as before
    whole = fingerprint_items(items.drop(columns="offset"))["fingerprint"]
    assert whole.iloc[0] == whole.iloc[1] and "|window=" not in whole.iloc[0]


def tone(frequency: float, seconds: float) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * frequency * np.arange(round(seconds * RATE)) / RATE)).astype(np.float32)


def test_interval_levels_train_and_predict_every_segment(tmp_path):
    """Anger is a low tone, sad a high one; only windowed features can tell one recording's segments apart."""
    audio, intervals = {}, []
    for name, shift in (("r0", 0.0), ("r1", 0.2)):
        pieces = [tone(220, 1), tone(2000, 1), tone(220, 1), tone(2000, 1)]
        audio[name] = str(tmp_path / f"{name}.wav")
        soundfile.write(audio[name], np.concatenate(pieces), RATE)
        for k, emotion in enumerate(["anger", "sad", "anger", "sad"]):
            intervals += [
                (name, "a", emotion, k + 0.0, k + 1.0),
                (name, "b", emotion, k + 0.1 + shift, k + 0.9),
                (name, "c", emotion, k + 0.3, k + 0.6),
            ]
    intervals.append(("r0", "c", "anger", 3.5, 3.8))  # one rater only: a dropped segment at level 2
    corpus = interval_corpus(audio, intervals)
    labels = make_labels(corpus, "intervals", level=2)
    segments = segment_corpus(corpus, labels)
    assert len(segments.items) == 9 and int(labels.kept.sum()) == 8
    extractor = FbankExtractor(n_mels=16)
    features = extract(segments, extractor, store=tmp_path / "store")
    first = segments.items.iloc[0]
    window = soundfile.read(audio["r0"], dtype="float32")[0][round(first["offset"] * RATE) :][
        : round(first["duration"] * RATE)
    ]
    frames = log_mel_fbank(window, RATE, 16)
    np.testing.assert_allclose(
        features.values[0], np.concatenate([frames.mean(axis=0), frames.std(axis=0)]), rtol=1e-5, atol=1e-5
    )
    folds = make_folds(segments.items, "leave-one-out", column="speaker")
    assert len(folds) == 2
    result = cross_validate(features, labels, folds, ModelSpec(head="logreg"))
    assert sorted(result.predictions.index) == sorted(segments.items.index)
    # every kept segment is recognised; the dropped 'anger' mark lies in a high (sad) tone and is heard so
    predicted = result.predictions[labels.classes].idxmax(axis=1).sort_index()
    assert predicted.to_dict() == {
        item: "sad" if item == "r0:anger:3.50-3.80" else emotion
        for item, emotion in zip(segments.ratings["item"], segments.ratings["label"], strict=True)
    }


def test_recording_features_for_segment_labels_are_refused_with_the_way_out(tmp_path):
    path = tmp_path / "r.wav"
    soundfile.write(path, tone(220, 4), RATE)
    corpus = interval_corpus(
        {"r": str(path), "q": str(path)},
        [("r", "a", "anger", 0.0, 1.0), ("r", "b", "anger", 0.0, 1.0), ("q", "a", "sad", 0.0, 1.0)],
    )
    labels = make_labels(corpus, "intervals")
    features = extract(corpus, FbankExtractor(n_mels=8), store=tmp_path / "store")
    folds = make_folds(corpus.items, "leave-one-out", column="speaker")
    with pytest.raises(ConfigError, match="segment_corpus"):
        cross_validate(features, labels, folds, ModelSpec(head="logreg"))


def test_cli_train_on_interval_labels_uses_the_segments(tmp_path):
    from typer.testing import CliRunner

    import voxpop.cli  # noqa: F401  (registers the verbs)
    from voxpop.cli.app import app
    from voxpop.models.saved_runs import load_run

    audio, intervals = {}, []
    for name in ("r0", "r1"):
        audio[name] = str(tmp_path / f"{name}.wav")
        soundfile.write(audio[name], np.concatenate([tone(220, 1), tone(2000, 1)] * 2), RATE)
        intervals += [(name, rater, ["anger", "sad"][k % 2], k + 0.0, k + 1.0) for rater in "ab" for k in range(4)]
    interval_corpus(audio, intervals).save(tmp_path / "corpus")
    args = ["train", tmp_path / "corpus", "--labels", "intervals", "--extractor", "fbank", "--store", tmp_path / "s"]
    args += ["--head", "logreg", "--protocol", "leave-one-out", "--out", tmp_path / "run"]
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    predictions = load_run(tmp_path / "run").predictions
    assert sorted(predictions.index) == sorted(
        f"{r}:{e}:{k}.00-{k + 1}.00" for r in audio for k, e in enumerate(["anger", "sad", "anger", "sad"])
    )
