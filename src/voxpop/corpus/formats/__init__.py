"""Importers: one module per native rating format, each producing a :class:`~voxpop.Corpus`.

The registry maps the format names used by ``voxpop import FORMAT`` and by recipes to reader
functions. Readers are imported on first use so that ``import voxpop`` stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import pydantic

from voxpop.core.errors import ConfigError
from voxpop.core.limits import signature_model
from voxpop.corpus.corpus import Corpus

IMPORTERS: dict[str, str] = {
    "crema-d": "voxpop.corpus.formats.cremad:read_cremad",
    "ravdess": "voxpop.corpus.formats.ravdess:read_ravdess",
    "likert": "voxpop.corpus.formats.likert:read_likert",
    "mosei": "voxpop.corpus.formats.likert:read_mosei",
    "earkick": "voxpop.corpus.formats.likert:read_earkick",
    "msp": "voxpop.corpus.formats.msp:read_msp",
    "iemocap": "voxpop.corpus.formats.iemocap:read_iemocap",
    "intervals": "voxpop.corpus.formats.intervals:read_intervals",
    "long": "voxpop.corpus.formats.long:read_long",
    "hf": "voxpop.corpus.formats.hf:read_hf",
    "emobox": "voxpop.corpus.formats.emobox:read_emobox",
    "audformat": "voxpop.corpus.formats.audformat_db:read_audformat",
}
"""Format name (``voxpop import FORMAT``, a recipe's ``format:``) -> ``"module:function"`` (its reader)."""


def get_importer(name: str) -> Callable[..., Corpus]:
    """The reader function registered under ``name`` (its module is imported now).

    Args:
        name: a format of :data:`IMPORTERS` (e.g. ``"crema-d"``, ``"long"``).

    Returns:
        The reader: called with the native file or folder and its options, it returns a :class:`~voxpop.Corpus`.

    Raises:
        ConfigError: ``name`` is no format (listing the known ones).

    Example:
        >>> get_importer("long").__name__
        'read_long'
    """
    if name not in IMPORTERS:
        raise ConfigError(f"unknown corpus format {name!r}; known formats: {', '.join(IMPORTERS)}")
    module, function = IMPORTERS[name].split(":")
    return getattr(importlib.import_module(module), function)


def read(name: str, *args, **kwargs) -> Corpus:
    """Import a corpus with the reader registered under ``name``: ``get_importer(name)(*args, **kwargs)``.

    :func:`voxpop.read` checks the options against the reader's signature first; this calls the reader as given.

    Args:
        name: a format of :data:`IMPORTERS`.
        *args: the reader's positional arguments (first, the native file or folder).
        **kwargs: the reader's options (``audio_dir``, ``classes``, ``class_map``, ...).

    Returns:
        The imported :class:`~voxpop.Corpus`.

    Raises:
        ConfigError: unknown format or a bad option.
        InputError: the files are missing, unreadable or malformed (naming the file, row and column).
    """
    return get_importer(name)(*args, **kwargs)


def check_arguments(name: str, arguments: Mapping[str, Any]) -> None:
    """Check a recipe's ``corpus.arguments`` against the keyword parameters of importer ``name``, before it runs.

    Args:
        name: a format of :data:`IMPORTERS`.
        arguments: the keyword arguments the recipe gives the importer.

    Raises:
        ConfigError: unknown format; one line per unknown argument (listing the accepted ones), missing
            required argument, or value of the wrong type (pydantic, from the importer's annotations:
            ``true`` is not a count, ``.inf`` not a number).

    Example:
        >>> check_arguments("crema-d", {"path": "votes.csv", "max_vote": 3})
        Traceback (most recent call last):
        voxpop.core.errors.ConfigError: arguments.max_vote: unknown argument of importer 'crema-d' (accepted: path, ...
    """
    importer = get_importer(name)
    schema = signature_model(importer, f"{name}_arguments")  # int as Int: true is not a count
    fields = schema.model_fields
    try:
        schema.model_validate(dict(arguments))
    except pydantic.ValidationError as exc:
        problems = []
        for e in exc.errors():
            where = "arguments." + ".".join(str(part) for part in e["loc"])
            if e["type"] == "extra_forbidden":
                problems.append(f"{where}: unknown argument of importer {name!r} (accepted: {', '.join(fields)})")
            elif e["type"] == "missing":
                problems.append(f"{where}: importer {name!r} needs this argument")
            else:
                problems.append(f"{where}: {e['msg']}")
        raise ConfigError("; ".join(problems)) from None
