"""The one exception family of voxpop: messages written for people.

Every message names where the problem is (file, row or item, column), what was found and what was
expected. :func:`where` formats the location part the same way everywhere.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator


class VoxpopError(Exception):
    """Base class of every error voxpop raises on purpose."""


class InputError(VoxpopError):
    """A file, table or value given by the user is malformed."""


class ConfigError(VoxpopError):
    """A recipe, option or argument combination is invalid."""


def where(file: object = None, row: object = None, column: object = None) -> str:
    """Format a location such as ``ratings.csv, row 12, column 'label'``.

    Rows are reported 1-based as a person counts them in a spreadsheet (data rows, header excluded).

    >>> where("votes.csv", 3, "A")
    "votes.csv, row 3, column 'A'"
    >>> where(column="value")
    "column 'value'"
    """
    from voxpop.core.formatting import excerpt  # (numpy and pandas: imported where a location is formatted)

    parts = []
    if file is not None:
        parts.append(str(file))
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:  # a column name read from a file: a short excerpt (a name voxpop wrote: as it is)
        parts.append(f"column {excerpt(column) if isinstance(column, str) else repr(column)}")
    return ", ".join(parts)


_INTERFACE: contextvars.ContextVar[str] = contextvars.ContextVar("voxpop_interface", default="python")


def option(name: str, value: object = None) -> str:
    """How the user sets option ``name`` where they are: ``--name VALUE`` on the command line (inside a
    ``voxpop`` command), ``name=VALUE`` in Python, so every hint names what the reader can type.

    >>> option("too_short", "pad"), option("fold_case", True)
    ("too_short='pad'", 'fold_case=True')
    >>> with command_line():
    ...     option("too_short", "pad"), option("fold_case", True)
    ('--too-short pad', '--fold-case')
    """
    if _INTERFACE.get() == "cli":
        flag = "--" + name.replace("_", "-")
        if value is True or value is None:
            return flag
        return f"{flag} {str(value).lower() if isinstance(value, bool) else value}"
    return name if value is None else f"{name}={value!r}"


@contextlib.contextmanager
def command_line() -> Iterator[None]:
    """Within this block, :func:`option` names command-line flags (the CLI wraps every command in it)."""
    token = _INTERFACE.set("cli")
    try:
        yield
    finally:
        _INTERFACE.reset(token)
