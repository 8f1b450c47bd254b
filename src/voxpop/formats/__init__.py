"""Importers: one module per native rating format, each producing a :class:`~voxpop.Corpus`.

The registry maps the format names used by ``voxpop import FORMAT`` and by recipes to reader
functions. Readers are imported on first use so that ``import voxpop`` stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from voxpop.corpus import Corpus
from voxpop.errors import ConfigError

IMPORTERS: dict[str, str] = {
    "crema-d": "voxpop.formats.cremad:read_cremad",
    "ravdess": "voxpop.formats.ravdess:read_ravdess",
    "likert": "voxpop.formats.likert:read_likert",
    "mosei": "voxpop.formats.likert:read_mosei",
    "earkick": "voxpop.formats.likert:read_earkick",
    "msp": "voxpop.formats.msp:read_msp",
    "iemocap": "voxpop.formats.iemocap:read_iemocap",
    "intervals": "voxpop.formats.intervals:read_intervals",
    "long": "voxpop.formats.long:read_long",
}


def get_importer(name: str) -> Callable[..., Corpus]:
    """The reader function registered under ``name`` (e.g. ``"crema-d"``)."""
    if name not in IMPORTERS:
        raise ConfigError(f"unknown corpus format {name!r}; known formats: {', '.join(IMPORTERS)}")
    module, function = IMPORTERS[name].split(":")
    return getattr(importlib.import_module(module), function)


def read(name: str, *args, **kwargs) -> Corpus:
    """Import a corpus with the reader registered under ``name``."""
    return get_importer(name)(*args, **kwargs)
