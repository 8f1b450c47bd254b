"""voxpop.features.audio: reading, mono, resampling, too-short policy, crops, noise; every bad file named."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import soxr

from voxpop.core.errors import ConfigError, VoxpopError
from voxpop.features.audio import AudioError, AudioLoader, AudioOptions, NoiseBank, item_rng, mix_at_snr, read_audio

RATE = 16000


def tone(frequency: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def write(path, data, rate=RATE, **kwargs):
    soundfile.write(path, data, rate, **kwargs)
    return path


def dominant_frequency(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[spectrum.argmax()])


def load(path, item="x", **options):
    return AudioLoader(AudioOptions(**options)).load(path, item)


# ------------------------------------------------------------------------------ bad files
def test_corrupt_file_is_unreadable_and_named(tmp_path):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(256)) * 4)
    with pytest.raises(AudioError) as info:
        load(path)
    assert info.value.reason == "unreadable"
    assert str(path) in str(info.value) and "could not be decoded" in str(info.value)
    assert isinstance(info.value, VoxpopError)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.flac"
    path.touch()
    with pytest.raises(AudioError, match=r"empty\.flac: the file is empty \(0 bytes\)") as info:
        load(path)
    assert info.value.reason == "empty_file"


def test_zero_length_audio(tmp_path):
    path = write(tmp_path / "zero.wav", np.zeros(0, dtype=np.float32))
    with pytest.raises(AudioError, match="zero length") as info:
        load(path)
    assert info.value.reason == "no_samples"


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="not found") as info:
        load(tmp_path / "absent.wav")
    assert info.value.reason == "missing"


def test_non_finite_samples(tmp_path):
    data = tone(200, 0.5, RATE)
    data[100] = np.nan
    path = write(tmp_path / "nan.wav", data, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN") as info:
        load(path)
    assert info.value.reason == "not_finite"


# ------------------------------------------------------------------------------ channels and rates
def test_stereo_is_mixed_to_the_channel_mean(tmp_path):
    left, right = tone(300, 0.5, RATE), tone(700, 0.5, RATE, 0.25)
    path = write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), subtype="FLOAT")
    np.testing.assert_allclose(load(path), (left + right) / 2, atol=1e-7)


@pytest.mark.parametrize("rate", [8000, 48000])
def test_other_rates_are_resampled_to_16k(tmp_path, rate):
    path = write(tmp_path / f"tone{rate}.wav", tone(440, 1.0, rate), rate, subtype="FLOAT")
    signal = load(path)
    assert signal.dtype == np.float32 and len(signal) == RATE
    np.testing.assert_allclose(signal, soxr.resample(tone(440, 1.0, rate), rate, RATE, quality="HQ"), atol=1e-6)
    assert dominant_frequency(signal, RATE) == pytest.approx(440, abs=1)
    # away from the edges, the resampled tone is the 16 kHz tone
    np.testing.assert_allclose(signal[800:-800], tone(440, 1.0, RATE)[800:-800], atol=2e-3)


@pytest.mark.parametrize(("fmt", "subtype"), [("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")])
def test_compressed_formats_are_read(tmp_path, fmt, subtype):
    if fmt not in soundfile.available_formats():
        pytest.skip(f"libsndfile here has no {fmt}")
    path = write(tmp_path / f"clip.{fmt.lower()}", tone(500, 1.0, RATE), format=fmt, subtype=subtype)
    signal = load(path)
    assert abs(len(signal) - RATE) < 0.1 * RATE  # lossy codecs may add or trim a frame
    assert dominant_frequency(signal, RATE) == pytest.approx(500, abs=2)


# ------------------------------------------------------------------------------ too short, truncation, crops
def test_very_short_clip_is_skipped_by_default(tmp_path):
    path = write(tmp_path / "short.wav", tone(300, 0.05, RATE))
    with pytest.raises(AudioError, match=r"0\.050 s is shorter than the minimum of 0\.1 s; lower min_seconds") as info:
        load(path)
    assert info.value.reason == "too_short"


def test_very_short_clip_is_padded_on_request(tmp_path):
    data = tone(300, 0.05, RATE)
    path = write(tmp_path / "short.wav", data, subtype="FLOAT")
    signal = load(path, min_seconds=0.2, too_short="pad")
    assert len(signal) == 3200
    np.testing.assert_array_equal(signal[:800], data)
    assert not signal[800:].any()


def test_max_seconds_keeps_the_head_exactly(tmp_path):
    data = np.random.default_rng(0).uniform(-0.5, 0.5, 3 * 48000).astype(np.float32)
    path = write(tmp_path / "long.wav", data, 48000, subtype="FLOAT")
    head = load(path, max_seconds=1.0)
    whole = soxr.resample(data, 48000, RATE, quality="HQ")
    assert len(head) == RATE
    np.testing.assert_allclose(head, whole[:RATE], atol=1e-6)  # reading only the head changes nothing


def test_random_crop_is_seeded_per_item(tmp_path):
    data = np.arange(RATE * 2, dtype=np.float32) / (RATE * 2)
    path = write(tmp_path / "ramp.wav", data, subtype="FLOAT")
    a = load(path, "a", max_seconds=0.5, crop="random", seed=1)
    assert len(a) == RATE // 2
    start = round(float(a[0]) * RATE * 2)
    np.testing.assert_array_equal(a, data[start : start + RATE // 2])  # a contiguous window
    assert start == item_rng(1, "a", "crop").integers(0, 2 * RATE - RATE // 2 + 1)
    np.testing.assert_array_equal(a, load(path, "a", max_seconds=0.5, crop="random", seed=1))
    assert not np.array_equal(a, load(path, "b", max_seconds=0.5, crop="random", seed=1))


# ------------------------------------------------------------------------------ noise
def test_mix_at_snr_reaches_the_requested_ratio():
    rng = np.random.default_rng(0)
    signal, noise = rng.standard_normal(4000), rng.uniform(-1, 1, 4000)
    for snr in (-5.0, 0.0, 12.5):
        added = mix_at_snr(signal, noise, snr) - signal
        assert 10 * np.log10(np.mean(signal**2) / np.mean(added**2)) == pytest.approx(snr)
        np.testing.assert_allclose(added / noise, added[0] / noise[0])  # a scaled copy of the noise


def test_noise_from_folder_at_snr_is_seeded(tmp_path):
    noise_dir = tmp_path / "noise"
    noise_dir.mkdir()
    write(noise_dir / "hum.wav", tone(50, 2.0, 8000, 0.1), 8000, subtype="FLOAT")
    write(noise_dir / "hiss.flac", np.random.default_rng(1).uniform(-0.2, 0.2, RATE).astype(np.float32))
    (noise_dir / "README.txt").write_text("not audio")
    clean = tone(440, 1.0, RATE)
    path = write(tmp_path / "clip.wav", clean, subtype="FLOAT")
    options = {"noise_dir": str(noise_dir), "snr_db": 10.0, "seed": 3}
    noisy = load(path, "clip", **options)
    added = noisy - clean
    assert 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(added.astype(np.float64) ** 2)) == (
        pytest.approx(10.0, abs=1e-3)
    )
    np.testing.assert_array_equal(noisy, load(path, "clip", **options))
    assert not np.array_equal(noisy, load(path, "clip", **{**options, "seed": 4}))
    bank = NoiseBank(noise_dir, RATE)
    assert [p.name for p in bank.files] == ["hiss.flac", "hum.wav"]  # the README is not a noise file
    assert AudioLoader(AudioOptions(**options)).config()["noise_files"][0][0] == "hiss.flac"


def test_silent_clip_cannot_get_noise_at_an_snr(tmp_path):
    noise_dir = tmp_path / "noise"
    noise_dir.mkdir()
    write(noise_dir / "n.wav", tone(100, 1.0, RATE))
    path = write(tmp_path / "silence.wav", np.zeros(RATE, dtype=np.float32))
    with pytest.raises(AudioError, match="digital silence") as info:
        load(path, noise_dir=str(noise_dir), snr_db=5.0)
    assert info.value.reason == "silent"


def test_option_errors_are_explained():
    with pytest.raises(ConfigError, match="noise_dir and snr_db go together"):
        AudioOptions(noise_dir="x")
    with pytest.raises(ConfigError, match="crop must be 'head' or 'random'"):
        AudioOptions(crop="middle")


def test_read_audio_returns_frames_and_rate(tmp_path):
    path = write(tmp_path / "a.wav", np.zeros((100, 2), dtype=np.float32), 22050)
    frames, rate = read_audio(path)
    assert frames.shape == (100, 2) and rate == 22050 and frames.dtype == np.float32
