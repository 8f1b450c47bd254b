"""What pretrained encoders were trained on: the registry ``encoder_training.csv`` (a data file in this package:
one row per model and training stage, with the corpora and the card or paper that says so) and, for a model it
lacks, the ``datasets:`` field of the model card in the local Hugging Face cache (never the network).

The leakage audit (:mod:`voxpop.study.leakage`) compares these corpora with the corpora of the test items. Adding
a model is adding rows to the CSV (docs/leakage.md).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

from voxpop.core.errors import InputError, where

REGISTRY_FILE = "encoder_training.csv"
REGISTRY_COLUMNS = ("model", "stage", "corpora", "source")
STAGES = ("pre-training", "fine-tuning")
PRETRAINED_KINDS = ("ssl", "waveform")
"""Extractor kinds whose argument is a pretrained model (``ssl:microsoft/wavlm-base-plus``)."""


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """The corpora a model was trained on, as far as is known.

    Args:
        model: the model id (``ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition``).
        corpora: ``(corpus, stage, source)`` per corpus: its name as the source writes it, ``pre-training``,
            ``fine-tuning`` or ``model card`` (the cache's card), and the URL or file that says so.
        known: False when neither the registry nor a cached card names any training data.
    """

    model: str
    corpora: tuple[tuple[str, str, str], ...]
    known: bool


def corpus_key(name: str) -> str:
    """A corpus name as compared: lower case, letters and digits only, so importer names (``crema-d``,
    ``msp-podcast``) meet the names cards write (``CREMA-D``, ``MSP-Podcast``, ``msp_podcast``).

    >>> corpus_key("MSP-Podcast"), corpus_key("crema_d"), corpus_key("RAVDESS")
    ('msppodcast', 'cremad', 'ravdess')
    """
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def model_id(extractor: str) -> str | None:
    """The pretrained model of an extractor spec: the argument of ``ssl:`` and ``waveform:`` (a hub id or a
    local folder, trailing slash dropped); None for extractors without one (``opensmile:eGeMAPSv02``, ``fbank``).

    >>> model_id("ssl:microsoft/wavlm-base-plus"), model_id("fbank"), model_id("waveform:models/wavlm/")
    ('microsoft/wavlm-base-plus', None, 'models/wavlm')
    """
    kind, _, argument = str(extractor).partition(":")
    return argument.rstrip("/") or None if kind in PRETRAINED_KINDS else None


def read_registry(path: str | Path | None = None) -> pd.DataFrame:
    """The encoder training-data registry: columns :data:`REGISTRY_COLUMNS`, ``corpora`` split at ``;``.

    Args:
        path: a registry CSV; None: the one shipped in this package.

    Returns:
        One row per model and stage; ``corpora`` a list of names.

    Raises:
        InputError: a missing column, an empty cell or a stage other than :data:`STAGES`, naming the file, row and
            column.
    """
    if path is None:
        with resources.files("voxpop.features").joinpath(REGISTRY_FILE).open(encoding="utf-8") as handle:
            table = pd.read_csv(handle, dtype=str, keep_default_na=False)
        name = REGISTRY_FILE
    else:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        name = str(path)
    missing = [c for c in REGISTRY_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{name}: missing column(s) {', '.join(missing)}; expected {', '.join(REGISTRY_COLUMNS)}")
    for row, values in enumerate(table[list(REGISTRY_COLUMNS)].itertuples(index=False), start=1):
        for column, value in zip(REGISTRY_COLUMNS, values, strict=True):
            if not value.strip():
                raise InputError(f"{where(name, row, column)}: empty; every row names a model, stage, corpora and "
                                 "source")  # fmt: skip
        if values[1] not in STAGES:
            raise InputError(f"{where(name, row, 'stage')}: {values[1]!r}; expected one of {', '.join(STAGES)}")
    return table.assign(corpora=[[c.strip() for c in v.split(";") if c.strip()] for v in table["corpora"]])


def _hub_cache() -> Path:
    """The local Hugging Face hub cache: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def card_datasets(model: str, cache: str | Path | None = None) -> tuple[list[str], str] | None:
    """The ``datasets:`` field of a model's card (README.md front matter) in the local Hugging Face cache, or in
    a local model folder; nothing is downloaded.

    Args:
        model: a hub id (``org/name``) or a local model folder.
        cache: the hub cache folder (default :func:`_hub_cache`).

    Returns:
        ``(datasets, card file)``, or None when no card with a ``datasets:`` field is there.
    """
    folder = Path(model)
    cards = [folder / "README.md"] if folder.is_dir() else []
    snapshots = Path(cache or _hub_cache()) / f"models--{model.replace('/', '--')}" / "snapshots"
    if snapshots.is_dir():
        cards += sorted(snapshots.glob("*/README.md"))
    for card in cards:
        try:
            text = card.read_text(encoding="utf-8")
        except OSError:
            continue
        match = re.match(r"---\s*\n(.*?)\n---", text, re.DOTALL)
        try:
            meta = yaml.safe_load(match.group(1)) if match else None
        except yaml.YAMLError:
            continue
        datasets = meta.get("datasets") if isinstance(meta, dict) else None
        if isinstance(datasets, str):
            datasets = [datasets]
        if isinstance(datasets, list) and datasets:
            return [str(d) for d in datasets], str(card)
    return None


@functools.lru_cache(maxsize=1)
def _shipped_registry() -> pd.DataFrame:
    return read_registry()


def training_data(model: str, registry: pd.DataFrame | None = None, cache: str | Path | None = None) -> TrainingData:
    """What ``model`` was trained on: its registry rows, else its cached card's ``datasets:`` field.

    Args:
        model: a hub id or local folder (:func:`model_id`).
        registry: the registry (:func:`read_registry`; default: the shipped one).
        cache: the Hugging Face hub cache (default :func:`_hub_cache`).

    Returns:
        The :class:`TrainingData`; ``known`` False when neither source names any corpus.

    Example:
        >>> found = training_data("ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition")
        >>> [(c, s) for c, s, _ in found.corpora if s == "fine-tuning"]
        [('RAVDESS', 'fine-tuning')]
    """
    table = _shipped_registry() if registry is None else registry
    rows = table[table["model"].eq(model)]
    if len(rows):
        corpora = tuple((c, r.stage, r.source) for r in rows.itertuples() for c in r.corpora)
        return TrainingData(model, corpora, True)
    card = card_datasets(model, cache)
    if card is not None:
        return TrainingData(model, tuple((d, "model card", card[1]) for d in card[0]), True)
    return TrainingData(model, (), False)
