"""Features: extractors (openSMILE, log-mel filterbank, self-supervised encoders) and the feature store.

>>> from voxpop.features import available_extractors
>>> available_extractors()
['fbank', 'opensmile', 'ssl', 'waveform']

Typical use::

    from voxpop.features import extract
    feats = extract(corpus, "opensmile:eGeMAPSv02", store="features/")
    feats.items, feats.values.shape, feats.skipped
"""

from voxpop.core.cache import stable_hash
from voxpop.features.base import (
    Extractor,
    Layout,
    Outcome,
    available_extractors,
    make_extractor,
    register_extractor,
)
from voxpop.features.extraction import ExtractionReport, extract, fill_store
from voxpop.features.store import CorruptShardError, Features, FeatureStore, IncompleteStoreError
from voxpop.features.store_admin import default_store_root

__all__ = [
    "CorruptShardError",
    "ExtractionReport",
    "Extractor",
    "FeatureStore",
    "Features",
    "IncompleteStoreError",
    "Layout",
    "Outcome",
    "available_extractors",
    "default_store_root",
    "extract",
    "fill_store",
    "make_extractor",
    "register_extractor",
    "stable_hash",
]
