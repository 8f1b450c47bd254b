"""Numbers as the report, the figures and the CLI show them: a metric with its interval, the per-fold spread.

Plain text, no plotting: the CLI imports this without matplotlib.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

MISSING = "–"  # shown for a missing number

METRIC_NAMES = {
    "macro_f1": "macro-F1",
    "uar": "UAR",
    "kld": "KLD",
    "jsd": "JSD",
    "accuracy": "accuracy",
    "micro_f1": "micro-F1",
    "weighted_f1": "weighted-F1",
    "mcc": "MCC",
}


PER_CLASS_NAMES = {"f1": "F1", "weighted_f1": "weighted-F1", "mcc": "MCC"}
"""Per-class metric families by their printed name (``f1[anger]`` -> ``F1 anger``)."""


def metric_name(metric: str) -> str:
    """A metric as a reader knows it: :data:`METRIC_NAMES`, per-class ``f1[anger]`` as ``F1 anger``,
    ``mcc[anger]`` as ``MCC anger``.

    >>> metric_name("macro_f1"), metric_name("f1[anger]"), metric_name("weighted_f1[sad]"), metric_name("ccc")
    ('macro-F1', 'F1 anger', 'weighted-F1 sad', 'ccc')
    """
    kind, bracket, rest = metric.partition("[")
    if bracket and rest.endswith("]") and kind in PER_CLASS_NAMES:
        return f"{PER_CLASS_NAMES[kind]} {rest[:-1]}"
    return METRIC_NAMES.get(metric, metric)


def format_ci(value: float, low: float = np.nan, high: float = np.nan, digits: int = 3, sep: str = " ") -> str:
    """A metric with its interval as ``"value [low, high]"``; just the value when the interval is missing.

    >>> format_ci(0.6234, 0.5811, 0.6642)
    '0.623 [0.581, 0.664]'
    >>> format_ci(0.62, float("nan"), float("nan"), digits=2), format_ci(float("nan"))
    ('0.62', '–')
    >>> format_ci(0.62, 0.58, 0.66, digits=2, sep="\\n")
    '0.62\\n[0.58, 0.66]'
    """
    if pd.isna(value):
        return MISSING
    text = f"{value:.{digits}f}"
    if pd.isna(low) or pd.isna(high):
        return text
    return f"{text}{sep}[{low:.{digits}f}, {high:.{digits}f}]"


def format_result(
    value: float,
    low: float = np.nan,
    high: float = np.nan,
    fold_mean: float = np.nan,
    fold_sd: float = np.nan,
    digits: int = 3,
) -> str:
    """A pooled out-of-fold score with its interval (:func:`format_ci`) and, when known, the mean ± sample
    standard deviation of the per-fold scores beside it (just the mean with one fold).

    >>> format_result(0.6234, 0.5811, 0.6642, 0.6201, 0.0312)
    '0.623 [0.581, 0.664] (folds 0.620 ± 0.031)'
    >>> format_result(0.6234, 0.5811, 0.6642), format_result(0.5, fold_mean=0.5)
    ('0.623 [0.581, 0.664]', '0.500 (folds 0.500)')
    """
    text = format_ci(value, low, high, digits)
    if pd.isna(fold_mean):
        return text
    spread = "" if pd.isna(fold_sd) else f" ± {fold_sd:.{digits}f}"
    return f"{text} (folds {fold_mean:.{digits}f}{spread})"


EXCERPT_CHARACTERS = 40
"""The most characters of a value from a file that a message shows (:func:`excerpt`)."""


def excerpt(value: object, limit: int = EXCERPT_CHARACTERS) -> str:
    """A value read from a file as a message may show it: ``repr``-quoted (delimited, control characters and
    non-printable characters escaped), at most ``limit`` characters of it, an ellipsis where it was cut.

    Every error message that quotes file content goes through this, so a message never carries a whole line
    of a file (or a file the user did not name, reached through a symlink).

    Args:
        value: the text (anything else is shown as its ``str()``).
        limit: characters of ``value`` kept before the ellipsis.

    Returns:
        The quoted excerpt, e.g. ``'anger'`` or ``'root:x:0:0:root:/root:/bin/bash\\nbin:x:1…'``.

    Example:
        >>> excerpt("anger"), excerpt("a\\tb\\x1b[31m")
        ("'anger'", "'a\\\\tb\\\\x1b[31m'")
        >>> excerpt("x" * 50)
        "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'…"
    """
    text = value if isinstance(value, str) else str(value)
    shown = repr(text[:limit])
    return shown + ("…" if len(text) > limit else "")


def excerpts(values: object, most: int = 8) -> str:
    """A list read from a file as a message may show it: each item an :func:`excerpt`, at most ``most`` of them.

    Args:
        values: a list or tuple (anything else is one :func:`excerpt`).
        most: items shown before ``… (N in all)``.

    Returns:
        The bracketed excerpts, e.g. ``['anger', 'sad']``.

    Example:
        >>> excerpts(["anger", "x" * 50]), excerpts(list("abc"), most=2)
        ("['anger', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'…]", "['a', 'b', … (3 in all)]")
    """
    if not isinstance(values, list | tuple):
        return excerpt(values)
    shown = [excerpt(v) for v in values[:most]] + ([f"… ({len(values)} in all)"] if len(values) > most else [])
    return "[" + ", ".join(shown) + "]"


def validation_problem(error: Any) -> str:
    """What a schema check (a ``pydantic.ValidationError``) found first, without the value it found: the key as an
    :func:`excerpt` (a key read from a file) and the check's description, on one line.

    Args:
        error: the ``pydantic.ValidationError`` (anything with ``errors()`` as pydantic gives them).

    Returns:
        e.g. ``key 'folds.fold1.classes': Input should be a valid list`` (``(N problems in all)`` after it when
        there are several).

    Example:
        >>> import pydantic
        >>> class Card(pydantic.BaseModel, extra="forbid"):
        ...     kind: str
        >>> try:
        ...     Card.model_validate({"kind": "a", "x" * 50: 1})
        ... except pydantic.ValidationError as exc:
        ...     validation_problem(exc)
        "key 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'…: Extra inputs are not permitted"
    """
    errors = error.errors()
    first = errors[0]
    key = ".".join(str(part) for part in first["loc"])
    more = f" ({len(errors)} problems in all)" if len(errors) > 1 else ""
    return f"key {excerpt(key)}: {first['msg']}{more}"


def parse_error(error: BaseException) -> str:
    """What a YAML or JSON parser found wrong, with its line and column but none of the file's text.

    PyYAML's messages end with the offending line of the file (and a caret); a message built from them would
    print a line of whatever file was read, a file reached through a symlink included. This keeps the
    position and the parser's short description of the problem (cut to :data:`EXCERPT_CHARACTERS` x 2).

    Args:
        error: a ``yaml.MarkedYAMLError`` (its ``problem`` and ``problem_mark``), a ``json.JSONDecodeError``
            (its ``msg``, ``lineno`` and ``colno``) or any other exception (its first line).

    Returns:
        E.g. ``line 3, column 7: mapping values are not allowed here``.

    Example:
        >>> import json
        >>> try:
        ...     json.loads('{"a": secret}')
        ... except ValueError as exc:
        ...     parse_error(exc)
        'line 1, column 7: Expecting value'
    """
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or getattr(error, "context", None)
    if mark is not None and problem:
        text, line, column = str(problem), mark.line + 1, mark.column + 1
    elif hasattr(error, "lineno") and hasattr(error, "colno") and hasattr(error, "msg"):
        text, line, column = str(error.msg), error.lineno, error.colno
    else:
        lines = str(error).splitlines()
        text, line, column = (lines[0] if lines else type(error).__name__), None, None
    limit = 2 * EXCERPT_CHARACTERS
    text = text if len(text) <= limit else text[:limit] + "…"
    return text if line is None else f"line {line}, column {column}: {text}"
