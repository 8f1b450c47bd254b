"""Log-mel filterbank: equal to transformers' numpy Kaldi-style spectrogram; pooled = mean and std."""

from __future__ import annotations

import numpy as np
import pytest

from voxpop.core.errors import ConfigError
from voxpop.features import make_extractor
from voxpop.features.fbank import LOG_FLOOR, log_mel_fbank, mel_filterbank


def reference_fbank(signal: np.ndarray, n_mels: int) -> np.ndarray:
    """The same recipe through transformers.audio_utils (as used by its Kaldi-compatible extractors)."""
    from transformers.audio_utils import mel_filter_bank, spectrogram, window_function

    filters = mel_filter_bank(257, n_mels, 20, 8000, 16000, mel_scale="kaldi", triangularize_in_mel_space=True)
    return spectrogram(
        signal,
        window_function(400, "povey", periodic=False),
        frame_length=400,
        hop_length=160,
        fft_length=512,
        power=2.0,
        center=False,
        preemphasis=0.97,
        remove_dc_offset=True,
        mel_filters=filters,
        mel_floor=LOG_FLOOR,
        log_mel="log",
        dtype=np.float64,
    ).T


@pytest.mark.parametrize("n_mels", [40, 80])
def test_log_mel_equals_transformers_reference(n_mels):
    signal = np.random.default_rng(0).standard_normal(12345).astype(np.float32) * 0.1
    ours = log_mel_fbank(signal, 16000, n_mels)
    assert ours.shape == (1 + (12345 - 400) // 160, n_mels)
    np.testing.assert_allclose(ours, reference_fbank(signal, n_mels), atol=1e-5)  # reference FFT is complex64


def test_filterbank_equals_transformers_kaldi_filters():
    from transformers.audio_utils import mel_filter_bank

    ours = mel_filterbank(80, 512, 16000)
    theirs = mel_filter_bank(257, 80, 20, 8000, 16000, mel_scale="kaldi", triangularize_in_mel_space=True)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_a_tone_lights_the_band_around_its_frequency():
    t = np.arange(16000) / 16000
    frames = log_mel_fbank(np.sin(2 * np.pi * 1000 * t), 16000, 40)
    filters = mel_filterbank(40, 512, 16000)
    band_of_1000_hz = filters[round(1000 * 512 / 16000)].argmax()
    assert set(frames.argmax(axis=1)) == {band_of_1000_hz}


def test_pooled_extractor_is_mean_then_std_of_frames():
    signal = np.random.default_rng(1).standard_normal(8000).astype(np.float32)
    extractor = make_extractor("fbank", n_mels=24)
    frames = log_mel_fbank(signal, 16000, 24)
    pooled = extractor.compute(signal)
    np.testing.assert_allclose(pooled[:24], frames.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(pooled[24:], frames.std(axis=0), rtol=1e-6)
    assert extractor.layout().names[:2] == ("mean_mel00", "mean_mel01")
    assert extractor.layout().names[24] == "std_mel00"
    frame_extractor = make_extractor("fbank", n_mels=24, output="frames")
    np.testing.assert_allclose(frame_extractor.compute(signal), frames, rtol=1e-6)
    assert frame_extractor.layout().kind == "frames"
    assert extractor.min_samples == 400


def test_options_are_checked():
    with pytest.raises(ConfigError, match="takes no argument"):
        make_extractor("fbank:64")
    with pytest.raises(ConfigError, match="'pooled' or 'frames'"):
        make_extractor("fbank", output="sequence")
    with pytest.raises(ValueError, match="shorter than one frame"):
        log_mel_fbank(np.zeros(100), 16000)


@pytest.mark.parametrize(
    ("spec", "options", "where"),
    [
        ("fbank", {"n_mels": True}, "option n_mels"),  # was n_mels=1, silently
        ("fbank", {"n_mels": 40.5}, "option n_mels"),  # was cut to 40, silently
        ("fbank", {"n_mels": "inf"}, "option n_mels"),  # was a TypeError traceback
        ("fbank", {"n_mels": float("inf")}, "option n_mels"),  # JSON Infinity from --option: OverflowError
        ("fbank", {"n_mels": {"a": 1}}, "option n_mels"),
        ("fbank", {"workers": float("nan")}, "option workers"),
        ("opensmile:eGeMAPSv02", {"level": ["lld"]}, "option level"),  # was 'unhashable type: list'
        ("opensmile:eGeMAPSv02", {"workers": "2"}, "option workers"),
        ("fbank", {"n_mels": 10**9}, "n_mels must be between 1 and 257"),  # was a "Maximum allowed size" traceback
        ("fbank", {"n_mels": 10**30}, "option n_mels"),  # beyond int64
    ],
)
def test_extractor_options_of_the_wrong_type_are_refused_by_name(spec, options, where):
    with pytest.raises(ConfigError, match=where):
        make_extractor(spec, **options)
