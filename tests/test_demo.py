"""The synthetic demo corpus: structure, determinism, acoustics that carry emotion and speaker, rater behaviour."""

from __future__ import annotations

import concurrent.futures
import math
import multiprocessing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from scipy import stats

from voxpop import ConfigError, Corpus
from voxpop.corpus.codes import as_text
from voxpop.corpus.demo import CORPUS_LABEL, make_demo_corpus
from voxpop.corpus.demo_design import SAMPLE_RATE, SIZES, item_table, speaker_table
from voxpop.corpus.demo_raters import confusion_matrix, rater_table, simulate_ratings

CLASSES = ["neutral", "anger", "happy", "sad"]
CONDITIONS = ["voice", "face", "av"]
TINY = SIZES["tiny"]


@pytest.fixture(scope="module")
def tiny(demo_corpus):
    """The tiny preset, built once per session (conftest.py): (out_dir, corpus, progress calls)."""
    return demo_corpus.root, demo_corpus.corpus, demo_corpus.progress


def _judgements(corpus: Corpus) -> pd.DataFrame:
    """Primary choices with the item's intended emotion and intensity and a hit flag."""
    primary = corpus.ratings[corpus.ratings["slot"] == "primary"]
    items = corpus.items.loc[primary["item"], ["emotion", "intensity"]].to_numpy()
    return primary.assign(
        intended=items[:, 0], intensity=items[:, 1], hit=primary["label"].to_numpy() == items[:, 0]
    ).reset_index(drop=True)


# ---------------------------------------------------------------- structure
def test_corpus_round_trips_and_says_it_is_synthetic(tiny):
    out, corpus, _ = tiny
    loaded = Corpus.load(out / "corpus")
    pd.testing.assert_frame_equal(loaded.items, corpus.items)
    pd.testing.assert_frame_equal(loaded.ratings, corpus.ratings)
    assert loaded.classes == CLASSES and loaded.excluded == ["other"]
    assert loaded.scales == {"intensity": (0.0, 3.0), "dimension": (1.0, 5.0)}
    assert "synthetic" in loaded.source.lower() and "SYNTHETIC" in loaded.description
    assert (loaded.items["corpus"] == CORPUS_LABEL).all()
    assert loaded.conditions == CONDITIONS and loaded.has_rater_ids


def test_items_table_and_speaker_independent_protocol(tiny):
    _, corpus, calls = tiny
    items = corpus.items
    assert len(items) == TINY.n_speakers * TINY.clips_per_speaker
    assert list(items.columns) == [
        *("audio", "duration", "speaker", "gender", "emotion", "intensity"),
        *("fold", "split", "corpus"),
    ]
    # every (emotion, intensity) pair equally often, every speaker the same number of clips
    assert items.groupby(["emotion", "intensity"]).size().eq(len(items) // 8).all()
    assert items["speaker"].value_counts().eq(TINY.clips_per_speaker).all()
    # each speaker lies in exactly one fold and one split; every split has a female and a male speaker
    assert items.groupby("speaker")[["fold", "split"]].nunique().eq(1).all().all()
    assert items.groupby("split")["gender"].nunique().to_dict() == {"Development": 2, "Test": 2, "Train": 2}
    assert sorted(items["fold"].unique()) == [1, 2, 3]
    assert calls[-1] == (len(items), len(items)) and len(calls) == len(items)


def test_audio_files_are_16k_mono_pcm16_of_the_stated_duration(tiny):
    _, corpus, _ = tiny
    for item, row in corpus.items.iterrows():
        info = soundfile.info(row["audio"])
        assert (info.samplerate, info.channels, info.subtype, info.format) == (SAMPLE_RATE, 1, "PCM_16", "WAV"), item
        assert math.isclose(info.frames / SAMPLE_RATE, row["duration"])
        assert 1.5 <= row["duration"] <= 3.0


def test_rating_counts(tiny):
    _, corpus, _ = tiny
    r = corpus.ratings
    k, n_items = TINY.raters_per_clip, len(corpus.items)
    primary = r[r["slot"] == "primary"]
    per_stimulus = primary.groupby(["item", "condition"])["rater"]
    assert len(per_stimulus) == n_items * len(CONDITIONS)
    assert per_stimulus.size().eq(k).all() and per_stimulus.nunique().eq(k).all()
    assert not primary.duplicated(["item", "rater", "condition"]).any()
    intensity = r[r["slot"] == "intensity"]
    assert intensity.groupby(["item", "condition"]).size().eq(k * len(CLASSES)).all()
    per_judgement = intensity.groupby(["item", "rater", "condition"])["label"]
    assert per_judgement.size().eq(len(CLASSES)).all() and per_judgement.nunique().eq(len(CLASSES)).all()
    assert set(intensity["label"]) == set(CLASSES)
    assert set(intensity["value"].unique()) <= {0.0, 1.0, 2.0, 3.0}
    assert r.loc[~r["slot"].isin(["intensity", "dimension"]), "value"].isna().all()
    raters = pd.read_parquet(tiny[0] / "raters.parquet")
    assert set(r["rater"]) <= set(raters.index) and len(raters) == TINY.n_raters


def test_secondary_lists_name_one_to_three_classes_half_with_the_primary(tiny):
    _, corpus, _ = tiny
    r = corpus.ratings
    key = ["item", "rater", "condition"]
    secondary = r[r["slot"] == "secondary"]
    listed = secondary[secondary["label"] != "other"].groupby(key)["label"].agg(frozenset)
    judgements = r[r["slot"] == "primary"].set_index(key)["label"]
    assert len(listed) == len(judgements)  # every judgement names at least one class
    assert listed.map(len).between(1, 3).all()
    shares = listed.map(len).value_counts(normalize=True).sort_index()
    assert shares.tolist() == pytest.approx([0.6, 0.3, 0.1], abs=0.06)
    with_primary = np.array([judgements[index] in labels for index, labels in listed.items()])
    assert with_primary.mean() == pytest.approx(0.5, abs=0.06)
    # the other listed classes are drawn by Likert value: rated above 0 far more often than non-primaries overall
    values = r[r["slot"] == "intensity"].set_index([*key, "label"])["value"]
    others = [(*index, label) for index, labels in listed.items() for label in labels if label != judgements[index]]
    non_primary = values[values.index.droplevel("label").map(judgements) != values.index.get_level_values("label")]
    assert values.loc[others].gt(0).mean() > non_primary.gt(0).mean() + 0.1
    other = (secondary["label"] == "other").mean()
    assert 0 < other < 0.1


def test_primary_keeps_the_highest_likert_value_of_its_judgement(tiny):
    r = tiny[1].ratings
    key = ["item", "rater", "condition"]
    primary = r[r["slot"] == "primary"].set_index(key)["label"]
    values = r[r["slot"] == "intensity"].pivot_table(index=key, columns="label", values="value")
    top = values.to_numpy()[np.arange(len(values)), values.columns.get_indexer(primary.loc[values.index])]
    np.testing.assert_array_equal(top, values.max(axis=1).to_numpy())


# ---------------------------------------------------------------- determinism
def test_same_seed_same_bytes_other_seed_differs_and_audio_ignores_the_raters(tmp_path):
    def build(name, **options):
        options = {"n_speakers": 6, "clips_per_speaker": 2, "n_raters": 8, **options}
        corpus = make_demo_corpus(tmp_path / name, "tiny", **options)
        audio = {item: Path(path).read_bytes() for item, path in corpus.items["audio"].items()}
        return corpus, audio

    first, first_audio = build("a", seed=5)
    again, again_audio = build("b", seed=5)
    other, other_audio = build("c", seed=6)
    fewer_raters, fewer_raters_audio = build("d", seed=5, n_raters=7)
    pd.testing.assert_frame_equal(first.ratings, again.ratings)
    pd.testing.assert_frame_equal(first.items.drop(columns="audio"), again.items.drop(columns="audio"))
    assert first_audio == again_audio
    assert not first.ratings.equals(other.ratings)
    assert all(first_audio[i] != other_audio[i] for i in first_audio)
    assert fewer_raters_audio == first_audio and not fewer_raters.ratings.equals(first.ratings)


def test_clips_made_in_another_order_and_process_are_the_same_files(tmp_path):
    options = {"n_speakers": 6, "clips_per_speaker": 2, "n_raters": 8}
    here = make_demo_corpus(tmp_path / "here", "tiny", **options)
    calls = []

    def backwards_in_a_process(function, clips):  # as a cluster would: any order, pickled to another process
        calls.append(clips := list(clips))
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return list(reversed(list(pool.map(function, reversed(clips)))))

    there = make_demo_corpus(tmp_path / "there", "tiny", map_function=backwards_in_a_process, **options)
    assert len(calls) == 1 and [len(batch) for batch in calls[0]] == [8, 4]  # one map over batches of 8 clips
    pd.testing.assert_frame_equal(here.items.drop(columns="audio"), there.items.drop(columns="audio"))
    for a, b in zip(here.items["audio"], there.items["audio"], strict=True):
        assert Path(a).read_bytes() == Path(b).read_bytes()


# ---------------------------------------------------------------- acoustics
def _features(x: np.ndarray, sr: int = SAMPLE_RATE) -> dict[str, float]:
    """RMS (dBFS), median autocorrelation pitch (Hz) and pitch spread (semitones, IQR) of voiced
    frames, mean spectral centroid (Hz) of active frames; 40 ms frames, 10 ms hop."""
    frames = np.lib.stride_tricks.sliding_window_view(x, 640)[::160]
    energy = np.sqrt((frames**2).mean(axis=1))
    active = frames[energy > 0.25 * energy.max()]
    active = active - active.mean(axis=1, keepdims=True)
    power = np.abs(np.fft.rfft(active * np.hanning(640), n=2048, axis=1)) ** 2
    autocorrelation = np.fft.irfft(power, axis=1)[:, :640]
    low, high = sr // 500, sr // 60
    lag = low + autocorrelation[:, low:high].argmax(axis=1)
    voiced = autocorrelation[np.arange(len(lag)), lag] / autocorrelation[:, 0] > 0.4
    pitch = sr / lag[voiced]
    freqs = np.fft.rfftfreq(2048, 1 / sr)
    q25, q75 = np.percentile(12 * np.log2(pitch), [25, 75])
    return {
        "rms_db": 20 * np.log10(np.sqrt(np.mean(x**2))),
        "pitch": float(np.median(pitch)),
        "spread": q75 - q25,
        "centroid": float(((power * freqs).sum(axis=1) / power.sum(axis=1)).mean()),
    }


@pytest.fixture(scope="module")
def features(tiny):
    _, corpus, _ = tiny
    rows = {item: _features(soundfile.read(path)[0]) for item, path in corpus.items["audio"].items()}
    return pd.DataFrame(rows).T.join(corpus.items[["speaker", "gender", "emotion", "intensity"]])


def test_every_speaker_is_louder_in_anger_and_higher_in_happiness_than_in_sadness(features):
    by_speaker = features.groupby(["speaker", "emotion"])[["rms_db", "pitch", "centroid"]].mean().unstack()
    assert (by_speaker["rms_db"]["anger"] > by_speaker["rms_db"]["sad"] + 6).all()
    assert (by_speaker["pitch"]["happy"] > by_speaker["pitch"]["sad"] * 2 ** (3 / 12)).all()
    assert (by_speaker["centroid"]["anger"] > by_speaker["centroid"]["sad"]).all()  # flatter spectral tilt


def test_intensity_scales_the_shifts_and_happy_has_the_widest_pitch_range(features):
    means = features.groupby(["emotion", "intensity"])[["rms_db", "pitch", "spread"]].mean()
    assert means.loc[("anger", "high"), "rms_db"] > means.loc[("anger", "low"), "rms_db"]
    assert means.loc[("sad", "high"), "rms_db"] < means.loc[("sad", "low"), "rms_db"]
    assert means.loc[("happy", "high"), "pitch"] > means.loc[("happy", "low"), "pitch"]
    spread = features.groupby("emotion")["spread"].mean()
    assert spread["happy"] > max(spread["neutral"], spread["sad"]) and spread["anger"] > spread["sad"]


def test_female_speakers_have_higher_pitch_than_male_speakers(features):
    pitch = features.groupby(["gender", "speaker"])["pitch"].median()
    assert pitch["female"].min() > pitch["male"].max()


# ---------------------------------------------------------------- raters
@pytest.fixture(scope="module")
def large_simulation():
    """Ratings only (no audio): 12 speakers x 64 clips, 40 raters, 6 per clip and condition."""
    items = item_table(speaker_table(12, seed=3), 64, CLASSES, seed=3)
    raters = rater_table(40, seed=3)
    ratings = simulate_ratings(items, raters, CLASSES, CONDITIONS, 6, seed=3)
    corpus = Corpus("sim", items, ratings, classes=CLASSES, excluded=["other"], scales={"intensity": (0, 3)})
    return corpus, raters


def test_audio_visual_is_judged_best_and_low_intensity_worst(large_simulation):
    judged = _judgements(large_simulation[0])
    by_condition = judged.groupby("condition")["hit"].mean()
    assert by_condition["av"] > by_condition["face"] + 0.03 > by_condition["voice"] + 0.06
    by_intensity = judged.groupby("intensity")["hit"].mean()
    assert by_intensity["high"] > by_intensity["low"] + 0.05


def test_voice_confuses_along_valence_and_face_along_arousal(large_simulation):
    judged = _judgements(large_simulation[0])
    share = judged.groupby(["condition", "intended"])["label"].value_counts(normalize=True)
    assert share["voice", "anger", "happy"] > 3 * share["face", "anger"].get("happy", 0)
    assert share["voice", "sad", "neutral"] > share["face", "sad", "neutral"]
    assert share["face", "anger", "sad"] > 3 * share["voice", "anger"].get("sad", 0)


def test_more_reliable_raters_agree_more_with_the_intended_emotion(large_simulation):
    corpus, raters = large_simulation
    agreement = _judgements(corpus).groupby("rater")["hit"].mean()
    reliability = raters.loc[agreement.index, "reliability"]
    assert stats.spearmanr(reliability, agreement).statistic > 0.6
    upper = reliability > reliability.median()
    assert agreement[upper].mean() > agreement[~upper].mean() + 0.05


def test_likert_follows_the_perceived_emotion_and_the_intensity(large_simulation):
    corpus = large_simulation[0]
    r = corpus.ratings
    key = ["item", "rater", "condition"]
    values = r[r["slot"] == "intensity"].pivot_table(index=key, columns="label", values="value")
    primary = r[r["slot"] == "primary"].set_index(key)["label"].loc[values.index]
    on_primary = values.to_numpy()[np.arange(len(values)), values.columns.get_indexer(primary)]
    assert on_primary.mean() > values.to_numpy().mean() + 0.8
    intended = corpus.items.loc[values.index.get_level_values("item"), ["emotion", "intensity"]].to_numpy()
    hit = primary.to_numpy() == intended[:, 0]
    high = intended[:, 1] == "high"
    assert on_primary[hit & high].mean() > on_primary[hit & ~high].mean() + 0.5


def test_some_stimuli_have_no_majority_and_some_ties(tiny, large_simulation):
    for corpus in (tiny[1], large_simulation[0]):
        counts = _judgements(corpus).groupby(["item", "condition"])["label"].value_counts().unstack(fill_value=0)
        top = counts.max(axis=1)
        no_majority = (top <= counts.sum(axis=1) / 2).mean()
        tie = (counts.eq(top, axis=0).sum(axis=1) > 1).mean()
        assert 0.1 < no_majority < 0.5, no_majority
        assert 0.03 < tie < no_majority, tie


# ---------------------------------------------------------------- confusion model and errors
def test_confusion_matrix_follows_the_valence_arousal_formula():
    matrix = confusion_matrix(CLASSES, "voice")
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    assert (np.diag(matrix) == 0).all()
    # voice widths: valence 1.5, arousal 0.4; anger (-0.8, 0.9), neutral (0, 0), happy (0.8, 0.6), sad (-0.7, -0.6)
    s = {
        c: math.exp(-0.5 * ((-0.8 - v) / 1.5) ** 2 - 0.5 * ((0.9 - a) / 0.4) ** 2)
        for c, (v, a) in {"neutral": (0, 0), "happy": (0.8, 0.6), "sad": (-0.7, -0.6)}.items()
    }
    assert math.isclose(matrix.loc["anger", "happy"], s["happy"] / sum(s.values()))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"classes": ["neutral", "joy"]}, r"unknown: \['joy'\]"),
        ({"conditions": ["voice", "text"]}, r"unknown: \['text'\]"),
        ({"n_speakers": 4}, "need at least 6"),
        ({"raters_per_clip": 13}, r"expected 1\.\.n_raters \(12\)"),
        ({"seconds": (3.0, 2.0)}, "0.6 <= min <= max"),
    ],
)
def test_bad_options_are_explained(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        make_demo_corpus(tmp_path, "tiny", **options)
    assert not (tmp_path / "audio").exists()


def test_unknown_size_is_explained(tmp_path):
    with pytest.raises(ConfigError, match="choose one of tiny, small"):
        make_demo_corpus(tmp_path, "huge")


# ---------------------------------------------------------------- dimensions
def test_dimension_ratings_follow_the_emotion_and_the_rater(tiny):
    out, corpus, _ = tiny
    r = corpus.ratings
    dims = r[r["slot"] == "dimension"]
    primary = r[r["slot"] == "primary"]
    # the categorical ratings are simulate_ratings' own, first and unchanged; then three dimensions per judgement
    plan = corpus.items[["emotion", "intensity"]]
    raters = pd.read_parquet(out / "raters.parquet")
    categorical = simulate_ratings(plan, raters, CLASSES, CONDITIONS, TINY.raters_per_clip, 0)
    head = as_text(r.iloc[: len(categorical)])[list(categorical.columns)].reset_index(drop=True)
    pd.testing.assert_frame_equal(head, categorical, check_dtype=False)
    assert len(dims) == 3 * len(primary) and len(r) == len(categorical) + len(dims)
    per_judgement = dims.groupby(["item", "rater", "condition"])["label"].agg(" ".join)
    assert (per_judgement == "arousal valence dominance").all()
    assert set(dims["value"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    # anger: high arousal, low valence, high dominance; sad: low on all three (mean over clips and raters)
    means = dims.assign(emotion=corpus.items.loc[dims["item"], "emotion"].to_numpy()).pivot_table(
        index="emotion", columns="label", values="value"
    )
    assert means.loc["anger", "arousal"] > 4 and means.loc["sad", "arousal"] < 2.5
    assert means.loc["anger", "valence"] < 2.5 and means.loc["happy", "valence"] > 3.5
    assert means.loc["anger", "dominance"] > means.loc["sad", "dominance"] + 1.0
    # a rater's bias shows in their mean deviation from the others, their noise sd in its spread
    item_mean = dims.groupby(["item", "condition", "label"])["value"].transform("mean")
    deviation = (dims["value"] - item_mean).groupby(dims["rater"]).agg(["mean", "std"])
    assert stats.pearsonr(deviation["mean"], raters.loc[deviation.index, "dimension_bias"]).statistic > 0.7
    assert stats.pearsonr(deviation["std"], raters.loc[deviation.index, "dimension_sd"]).statistic > 0.7


def test_ewe_weighs_the_noisy_dimension_raters_less(tiny):
    from voxpop.labels.continuous import continuous_labels

    out, corpus, _ = tiny
    raters = pd.read_parquet(out / "raters.parquet")
    labels = continuous_labels(corpus, "dimension", method="ewe", condition="voice")
    weights = labels.raters[labels.raters["dimension"] == "arousal"]["weight"]
    assert labels.scale == {d: (1.0, 5.0) for d in ("arousal", "valence", "dominance")}
    assert stats.pearsonr(weights, raters.loc[weights.index, "dimension_sd"]).statistic < -0.6
