"""openSMILE through the feature store equals opensmile.Smile(...).process_file on the same clips."""

from __future__ import annotations

import numpy as np
import opensmile
import pandas as pd
import pytest

from voxpop.core.errors import ConfigError
from voxpop.corpus.corpus import Corpus
from voxpop.features import extract, make_extractor
from voxpop.features.audio import AudioOptions


@pytest.fixture(scope="module")
def clips(shared_data):
    files = sorted((shared_data / "ravdess").rglob("*.flac"))
    if not files:
        pytest.skip("no RAVDESS clips in the shared data folder")
    return files[::300][:5]  # five clips from different actors


def corpus_of(paths) -> Corpus:
    items = pd.DataFrame({"audio": [str(p) for p in paths]}, index=[p.stem for p in paths])
    return Corpus("ravdess-sample", items, pd.DataFrame({"item": [paths[0].stem], "label": ["x"]}), ["x"])


def smile(feature_set: str, level=opensmile.FeatureLevel.Functionals) -> opensmile.Smile:
    return opensmile.Smile(feature_set=opensmile.FeatureSet[feature_set], feature_level=level)


@pytest.mark.parametrize("feature_set", ["eGeMAPSv02", "ComParE_2016"])
def test_functionals_equal_process_file(clips, tmp_path, feature_set):
    chosen = clips[:3]
    features = extract(corpus_of(chosen), f"opensmile:{feature_set}", tmp_path, shard_size=2)
    reference = pd.concat([smile(feature_set).process_file(str(p)) for p in chosen])
    assert features.values.shape == reference.shape == (3, 88 if feature_set == "eGeMAPSv02" else 6373)
    assert features.names == list(reference.columns)
    assert list(features.items) == [p.stem for p in chosen]
    np.testing.assert_allclose(features.values, reference.to_numpy(), rtol=1e-6, atol=1e-6)


def test_truncation_equals_process_file_with_end(clips, tmp_path):
    features = extract(
        corpus_of(clips[:2]), "opensmile:eGeMAPSv02", tmp_path, audio=AudioOptions(max_seconds=1.5), shard_size=2
    )
    reference = pd.concat([smile("eGeMAPSv02").process_file(str(p), end=1.5) for p in clips[:2]])
    np.testing.assert_allclose(features.values, reference.to_numpy(), rtol=1e-6, atol=1e-6)


def test_low_level_descriptors_are_stored_as_frames(clips, tmp_path):
    chosen = clips[:2]
    extractor = make_extractor("opensmile:eGeMAPSv02", level="lld")
    features = extract(corpus_of(chosen), extractor, tmp_path)
    assert features.kind == "frames" and len(features.names) == 25
    for path in chosen:
        reference = smile("eGeMAPSv02", opensmile.FeatureLevel.LowLevelDescriptors).process_file(str(path))
        np.testing.assert_allclose(features.sequence(path.stem), reference.to_numpy(), rtol=1e-6, atol=1e-6)
    assert features.offsets[-1] == len(features.values)


def test_two_workers_give_the_same_values_in_item_order(clips, tmp_path):
    corpus = corpus_of(clips)
    one = extract(corpus, make_extractor("opensmile:eGeMAPSv02", workers=1), tmp_path / "one", shard_size=3)
    two = extract(corpus, make_extractor("opensmile:eGeMAPSv02", workers=2), tmp_path / "two", shard_size=3)
    assert one.key == two.key  # workers change speed, not numbers
    assert list(two.items) == list(corpus.items.index)
    np.testing.assert_array_equal(np.asarray(one.values), np.asarray(two.values))


def test_unknown_feature_set_is_explained():
    with pytest.raises(ConfigError, match="unknown openSMILE feature set 'eGeMAPS99'.*eGeMAPSv02"):
        make_extractor("opensmile:eGeMAPS99")
