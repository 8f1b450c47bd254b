"""The one exception family of voxpop: messages written for people.

Every message names where the problem is (file, row or item, column), what was found and what was
expected. :func:`where` formats the location part the same way everywhere.
"""

from __future__ import annotations


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
    parts = []
    if file is not None:
        parts.append(str(file))
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column {column!r}")
    return ", ".join(parts)
