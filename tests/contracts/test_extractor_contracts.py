"""Contract checks of every extractor of :data:`voxpop.features.base.EXTRACTORS` (issue #22, item 7).

The checks are parametrized over the registry itself; :data:`EXAMPLES` is the one place a new extractor names
the spec and options it is checked with, and :func:`test_every_extractor_has_an_example` fails until it does.
On three synthetic clips of different lengths: the stored features have the kind, names, per-item shape and
dtype the extractor's :class:`~voxpop.features.base.Layout` declares; a second extraction into another store
gives the same entry key and identical values, and one into the same store reads the stored entry back
unchanged; an unknown option, or an option of the wrong type, is a ConfigError naming it; the extractor is
listed in the recipe docs. Self-supervised encoders use the tiny random WavLM of ``tiny_wavlm_dir`` (slow:
transformers loads).
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

from voxpop.core.errors import ConfigError
from voxpop.corpus.corpus import Corpus
from voxpop.features import FeatureStore, extract, make_extractor
from voxpop.features.audio import AudioLoader, AudioOptions
from voxpop.features.base import EXTRACTORS, ClipRequest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "recipes.md"
TINY_WAVLM = "{tiny_wavlm_dir}"
SECONDS = (0.5, 0.3, 0.8)

EXAMPLES: dict[str, tuple[str, dict]] = {
    "fbank": ("fbank", {"n_mels": 16}),
    "opensmile": ("opensmile:eGeMAPSv02", {}),
    "ssl": (f"ssl:{TINY_WAVLM}", {"layers": 1, "device": "cpu", "batch_size": 2}),
    "waveform": (f"waveform:{TINY_WAVLM}", {}),
}
"""Extractor -> (spec, options): the one place a new extractor adds its example (``{tiny_wavlm_dir}`` names
the tiny random WavLM written by the fixture of that name)."""

SLOW = {"ssl", "waveform"}  # transformers and a model load: several seconds
NAMES = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(EXTRACTORS)]


def _spec(name: str, request: pytest.FixtureRequest) -> tuple[str, dict]:
    spec, options = EXAMPLES[name]
    if TINY_WAVLM in spec:
        spec = spec.replace(TINY_WAVLM, str(request.getfixturevalue("tiny_wavlm_dir")))
    return spec, options


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Three 16 kHz clips of 0.5, 0.3 and 0.8 s: a 220 Hz tone rising in loudness over seeded noise."""
    folder = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    paths = []
    for k, seconds in enumerate(SECONDS):
        t = np.arange(int(seconds * 16000)) / 16000
        signal = (0.3 * np.sin(2 * np.pi * 220 * (k + 1) * t) * t / seconds + 0.05 * rng.normal(size=t.size)).clip(
            -1, 1
        )
        paths.append(folder / f"clip{k}.wav")
        soundfile.write(paths[-1], signal.astype(np.float32), 16000)
    items = pd.DataFrame({"audio": [str(p) for p in paths]}, index=[p.stem for p in paths])
    return Corpus("clips", items, pd.DataFrame({"item": ["clip0"], "label": ["x"]}), ["x"])


def test_every_extractor_has_an_example():
    assert sorted(EXAMPLES) == sorted(EXTRACTORS), "add the new extractor's spec and options to EXAMPLES"


@pytest.mark.parametrize("name", NAMES)
def test_stored_features_have_the_declared_layout(name, clips, tmp_path, request):
    spec, options = _spec(name, request)
    extractor = make_extractor(spec, **options)
    assert extractor.spec()["extractor"] == name
    layout = extractor.layout()
    features = extract(clips, extractor, tmp_path)
    assert features.skipped.empty and list(features.items) == list(clips.items.index)
    assert (features.kind, tuple(features.names), tuple(features.layers)) == (layout.kind, layout.names, layout.layers)
    assert features.values.dtype == np.dtype(layout.dtype)
    if layout.kind == "frames":
        for item in features.items:
            block = features.sequence(item)
            assert block.shape[0] > 0 and block.shape[1:] == layout.item_shape
        lengths = [len(features.sequence(item)) for item in features.items]
        assert np.argsort(lengths).tolist() == np.argsort(SECONDS).tolist(), "longer clips give more frames"
    else:
        assert features.values.shape == (len(SECONDS), *layout.item_shape)
    assert np.isfinite(features.values.astype(np.float64)).all()


@pytest.mark.parametrize("name", NAMES)
def test_extraction_is_deterministic_and_reads_back_from_the_store(name, clips, tmp_path, request):
    spec, options = _spec(name, request)
    first = extract(clips, make_extractor(spec, **options), tmp_path / "a")
    again = extract(clips, make_extractor(spec, **options), tmp_path / "b")
    assert first.key == again.key, "the same extractor and options give the same store key"
    assert np.array_equal(first.values, again.values)
    reread = FeatureStore(first.path).features()
    assert np.array_equal(reread.values, first.values) and list(reread.items) == list(first.items)


@pytest.mark.parametrize("name", NAMES)
def test_stored_values_equal_the_extractors_own_output(name, clips, tmp_path, request):
    """Save -> load: what the store gives back is what the extractor computed (in its dtype), item by item."""
    spec, options = _spec(name, request)
    extractor = make_extractor(spec, **options)
    stored = extract(clips, extractor, tmp_path)
    loader = AudioLoader(AudioOptions(sample_rate=extractor.sample_rate))
    requests = [ClipRequest(item, path) for item, path in clips.items["audio"].items()]
    with extractor.session(loader):
        outcomes = list(extractor.run(requests, loader))
    for outcome in outcomes:
        computed = np.asarray(outcome.values).astype(extractor.layout().dtype)
        values = (
            stored.sequence(outcome.item)
            if stored.offsets is not None
            else stored.values[stored.items.get_loc(outcome.item)]
        )
        assert np.array_equal(values, computed), outcome.item


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_and_wrong_type_are_config_errors(name, request):
    spec, _ = _spec(name, request)
    with pytest.raises(ConfigError, match=f"extractor {name!r} has no option 'no_such_option'"):
        make_extractor(spec, no_such_option=1)
    factory = EXTRACTORS[name]
    if isinstance(factory, str):  # "module:Class", imported on first use
        module, _, attribute = factory.partition(":")
        factory = getattr(importlib.import_module(module), attribute)
    options = [p for p in inspect.signature(factory).parameters if p not in ("self", "argument")]
    for option in options:
        with pytest.raises(ConfigError, match=f"option {option}"):
            make_extractor(spec, **{option: {"a": "mapping"}})


@pytest.mark.parametrize("name", sorted(EXTRACTORS))
def test_extractor_is_listed_in_the_recipe_docs(name):
    rows = [line for line in DOCS.read_text().splitlines() if line.startswith("| `extractor` ")]
    assert len(rows) == 1, f"{DOCS.name}: expected one table row for `extractor`"
    assert f"`{name}`" in rows[0] or f"`{name}:" in rows[0], f"{DOCS.name}: the `extractor` row lacks {name!r}"
