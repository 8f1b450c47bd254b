"""Resource ceilings: how much work one recipe, flag or file may ask for, checked before the work starts.

Each ceiling has a default (:data:`CEILINGS`) and an environment variable that raises (or lowers) it,
e.g. ``VOXPOP_MAX_VARIANTS=5000 voxpop run recipe.yaml``. :func:`check_ceiling` raises a
:class:`~voxpop.core.errors.ConfigError` naming the key, the value, the ceiling and that variable, so a
recipe asking for a million variants, 10^12 bootstrap draws or a 3 x 10^8 hidden layer stops at once
instead of hanging or being killed for memory. docs/recipes.md lists every ceiling.
"""

from __future__ import annotations

import inspect
import os
import typing
from collections.abc import Callable
from typing import Annotated, Any, NamedTuple

import pydantic

from voxpop.core.errors import ConfigError

INT64 = (-(2**63), 2**63 - 1)


def _int64(value: int) -> int:
    if not INT64[0] <= value <= INT64[1]:
        raise ValueError(f"{value} is beyond the 64-bit integers numpy and torch take ({INT64[0]} to {INT64[1]})")
    return value


Int = Annotated[int, pydantic.Strict(), pydantic.AfterValidator(_int64)]
"""A whole number of a recipe or option map: ``true`` / ``1.0`` / ``"3"`` are refused (pydantic strict mode),
and so is anything beyond int64, which numpy and torch cannot take (a validator, so that a field's own bounds,
``Field(ge=1)``, still apply)."""

Seed = Annotated[int, pydantic.Strict(), pydantic.Field(ge=0, le=INT64[1])]
"""A random seed: a whole number from 0 to 2^63 - 1 (numpy's generators refuse negative seeds)."""

STRICT_NUMBERS = pydantic.ConfigDict(extra="forbid", allow_inf_nan=False)
"""The configuration of every recipe section and option map: unknown keys and non-finite floats
(``.inf``, ``.nan``) are errors at their key path."""


def signature_model(function: Callable, name: str, *, strict: bool = False, skip: tuple[str, ...] = ()) -> type:
    """A pydantic model of ``function``'s keyword parameters (a class: its ``__init__``), for checking an option
    map before calling it: each parameter's annotation (``int`` as :data:`Int`: no ``true``, within int64;
    none: anything) and default (none: required), :data:`STRICT_NUMBERS` (unknown keys, non-finite floats) and,
    with ``strict``, no conversions at all (``"2"`` is no integer, ``40.5`` no integer). ``skip``: parameters
    that are not options (an extractor's ``argument``).

    >>> def read(path: str, max_votes: int = 0): ...
    >>> signature_model(read, "read_arguments").model_validate({"path": "v.csv", "max_votes": True})
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for read_arguments
    ...
    """
    hints = typing.get_type_hints(function.__init__ if inspect.isclass(function) else function)
    fields = {
        p.name: (
            Int if hints.get(p.name) is int else hints.get(p.name, Any),
            ... if p.default is p.empty else p.default,
        )
        for p in inspect.signature(function).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in skip
    }
    config = pydantic.ConfigDict(**STRICT_NUMBERS, arbitrary_types_allowed=True, strict=strict)
    return pydantic.create_model(name, __config__=config, **fields)


class Ceiling(NamedTuple):
    """One ceiling: its default, the environment variable that overrides it, and what it counts."""

    default: int
    variable: str
    counts: str


def usable_cores() -> int:
    """CPU cores this process may run on (its CPU affinity where the system reports it), at least 1."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


CEILINGS: dict[str, Ceiling] = {
    "recipe_bytes": Ceiling(1 << 20, "VOXPOP_MAX_RECIPE_BYTES", "bytes of a recipe file"),
    "yaml_nodes": Ceiling(100_000, "VOXPOP_MAX_YAML_NODES", "YAML values of a recipe with its aliases expanded"),
    "variants": Ceiling(1_000, "VOXPOP_MAX_VARIANTS", "variants of a study (named variants x grid combinations)"),
    "bootstrap_cells": Ceiling(10**8, "VOXPOP_MAX_BOOTSTRAP_CELLS", "bootstrap resamples x items of one test set"),
    "head_parameters": Ceiling(10**8, "VOXPOP_MAX_HEAD_PARAMETERS", "trainable parameters of a model head"),
    "clip_seconds": Ceiling(3_600, "VOXPOP_MAX_CLIP_SECONDS", "seconds of audio read for one clip"),
    "workers": Ceiling(0, "VOXPOP_MAX_WORKERS", "worker processes (default: this machine's usable cores)"),
    "threads": Ceiling(0, "VOXPOP_MAX_THREADS", "CPU threads per stage (default: this machine's usable cores)"),
    # a voxpop classical model (a scikit-learn pipeline in skops) is kilobytes to a few hundred MB; a member that
    # inflates past this is damage or a zip bomb, refused from the zip directory before memory is taken
    "model_bytes": Ceiling(2 << 30, "VOXPOP_MAX_MODEL_BYTES", "bytes of a saved model archive, uncompressed"),
}
"""Every ceiling by name; a default of 0 means the machine's usable cores (:func:`usable_cores`)."""


def ceiling(name: str) -> int:
    """The ceiling ``name`` of :data:`CEILINGS`: its environment variable when set, else its default.

    Args:
        name: a key of :data:`CEILINGS` (``variants``, ``bootstrap_cells``, ``workers``, ...).

    Returns:
        The ceiling, a positive whole number (its unit is the ceiling's: bytes, values, seconds, workers, ...);
        a default of 0 stands for this machine's usable cores.

    Raises:
        KeyError: ``name`` is no ceiling.
        ConfigError: the variable is set but not a positive whole number.

    Example:
        >>> ceiling("variants") == int(os.environ.get("VOXPOP_MAX_VARIANTS", 1000))
        True
    """
    entry = CEILINGS[name]
    text = os.environ.get(entry.variable)
    if text is None:
        return entry.default or usable_cores()
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"environment variable {entry.variable}={text!r}: expected a positive whole number")
    return value


def check_ceiling(name: str, value: float, key: str) -> None:
    """Refuse ``value`` (of the recipe key or flag ``key``) above the ceiling ``name``, before any work.

    Args:
        name: a key of :data:`CEILINGS`.
        value: what the key asks for, in the ceiling's unit (e.g. resamples x items).
        key: where it was asked for, as the user wrote it (``evaluation.bootstrap``, ``--workers``).

    Raises:
        ConfigError: naming ``key``, the value, the ceiling and the environment variable that raises it.

    Example:
        >>> check_ceiling("variants", 10**6, "grid")
        Traceback (most recent call last):
        voxpop.core.errors.ConfigError: grid: 1,000,000 variants of a study (named variants x grid combinations) ...
    """
    limit = ceiling(name)
    if value > limit:
        entry = CEILINGS[name]
        raise ConfigError(
            f"{key}: {value:,.0f} {entry.counts} exceeds the ceiling of {limit:,}; ask for less, or raise the "
            f"ceiling with the environment variable {entry.variable} (see docs/recipes.md, 'Ceilings')"
        )
