"""Option texts shared by CLI verbs (``NAME=VALUE`` pairs, ``LOW:HIGH`` bounds, levels), rule options, shared flags."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import typer

from voxpop.core.errors import ConfigError

if TYPE_CHECKING:  # imported when used: ``voxpop import --help`` does not load the corpus model
    from voxpop.corpus.formats.likert import Scale

FORCE = typer.Option(
    False, "--force", help="Replace a different corpus already in --out (the same corpus is reused without it)."
)


def parse_names(text: str | None) -> list[str] | None:
    """A comma-separated option such as ``--classes a,b,c`` as a list; None when the option is not given.

    >>> parse_names(" anger, sad ,"), parse_names(None)
    (['anger', 'sad'], None)
    """
    return None if text is None else [name.strip() for name in text.split(",") if name.strip()]


def parse_pairs(texts: Sequence[str], option: str) -> dict[str, str]:
    """``NAME=VALUE`` texts (split at the last ``=``) as a dict, for options such as ``--level``.

    >>> parse_pairs(["None=0", "A little=1"], "--level")
    {'None': '0', 'A little': '1'}
    >>> parse_pairs(["None"], "--level")
    Traceback (most recent call last):
    ...
    voxpop.core.errors.ConfigError: --level 'None': expected NAME=VALUE.
    """
    pairs = {}
    for text in texts:
        name, sep, value = text.rpartition("=")
        if not sep or not name.strip() or not value.strip():
            raise ConfigError(f"{option} {text!r}: expected NAME=VALUE.")
        pairs[name.strip()] = value.strip()
    return pairs


def parse_number(text: str, option: str) -> float:
    """A number given in an option.

    >>> parse_number("-3", "--level")
    -3.0
    """
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{option}: expected a number, got {text!r}.") from None


def parse_bounds(text: str, option: str) -> tuple[float, float]:
    """``LOW:HIGH`` as two numbers, for ``--scale`` and ``--numeric``.

    >>> parse_bounds("-3:3", "--scale")
    (-3.0, 3.0)
    """
    low, sep, high = text.partition(":")
    if not sep:
        raise ConfigError(f"{option} {text!r}: expected LOW:HIGH, e.g. 0:3.")
    return parse_number(low, option), parse_number(high, option)


def parse_levels(texts: Sequence[str]) -> dict[str, float] | None:
    """``--level NAME=NUMBER`` options as levels; none given -> None (the default levels).

    >>> parse_levels(["low=0", "high=1"])
    {'low': 0.0, 'high': 1.0}
    """
    if not texts:
        return None
    return {name: parse_number(value, "--level") for name, value in parse_pairs(texts, "--level").items()}


def parse_numeric(texts: Sequence[str]) -> dict[str, Scale]:
    """``--numeric COLUMN=LOW:HIGH`` options as numeric attribute scales.

    >>> parse_numeric(["sentiment=-3:3"])
    {'sentiment': Scale(low=-3.0, high=3.0, levels={})}
    """
    from voxpop.corpus.formats.likert import Scale

    return {column: Scale(*parse_bounds(b, "--numeric")) for column, b in parse_pairs(texts, "--numeric").items()}


def with_rule_options(
    command: Callable[..., Any] | None = None, *, skip: Sequence[str] = (), panel: str | None = None
) -> Callable[..., Any]:
    """Decorator giving a verb one CLI option per label-rule option of the registry (:mod:`voxpop.labels.registry`).

    The options replace the command's ``rule_options`` parameter, which receives the ones given as a
    dict (flags left out are absent, so each rule's own default applies). ``skip``: options the verb
    does not offer because it has a flag of that name for something else (``--seed``); used as
    ``@with_rule_options(skip=("seed",))``. ``panel``: the ``--help`` panel the options are listed in.
    """
    if command is None:
        return functools.partial(with_rule_options, skip=skip, panel=panel)
    from voxpop.labels.registry import cli_parameters, given_options

    signature = inspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != "rule_options"]
    offered = [p for p in cli_parameters() if p.name not in skip]
    for parameter in offered:
        parameter.default.rich_help_panel = panel

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name in [p.name for p in offered]}
        return command(**kwargs, rule_options=given_options(given))

    wrapper.__signature__ = signature.replace(parameters=[*kept, *offered])
    return wrapper
