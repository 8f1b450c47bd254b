"""The test partitions of a predefined split scored apart, as the MSP-Podcast benchmark reports Test1 and Test2.

A split protocol with several test values (``protocol.split.test: [Test1, Test2]``,
:func:`voxpop.models.protocols.split_folds`) tests all their items in one fold per split column; the evaluate
stage scores the pooled out-of-fold predictions on all of them (group ``all``) and on each value's items alone
(group ``split=Test1``, :func:`partition_groups`), each with its own bootstrap intervals and chance levels. An
item's partition is its value in the split column of the fold that tested it (a split fold is named after its
column).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

PARTITION = "split"
"""The prefix of the results table's ``group`` of a test partition: ``split=Test1``."""


def partition_group(value: str) -> str:
    """The results table's ``group`` of the test partition ``value``.

    >>> partition_group("Test1")
    'split=Test1'
    """
    return f"{PARTITION}={value}"


def is_partition_group(group: object) -> bool:
    """Whether a results table's ``group`` is a test partition's (:func:`partition_group`), not ``all`` or an item
    group of ``evaluation.by``.

    >>> is_partition_group("split=Test2"), is_partition_group("all"), is_partition_group("female")
    (True, False, False)
    """
    return str(group).startswith(f"{PARTITION}=")


def partition_rows(items: pd.DataFrame, folds: pd.Series, columns: Sequence[str], value: str) -> np.ndarray:
    """Which prediction rows belong to the test partition ``value``: the item's value in the split column of the
    fold that tested it.

    Args:
        items: the corpus items (indexed by item id) with the split columns.
        folds: the predictions' ``fold`` column (item -> fold name; a split fold is named after its column).
        columns: the split columns of the protocol.
        value: the test value, e.g. ``Test1``.

    Returns:
        A boolean mask, one per row of ``folds``.

    Example:
        >>> items = pd.DataFrame({"s": ["Test1", "Test2", "Test1"]}, index=["a", "b", "c"])
        >>> partition_rows(items, pd.Series(["s", "s", "s"], index=["a", "b", "c"]), ["s"], "Test1").tolist()
        [True, False, True]
    """
    inside = np.zeros(len(folds), dtype=bool)
    for column in columns:
        values = items[column].astype(str).reindex(folds.index)
        inside |= folds.eq(column).to_numpy() & values.eq(value).to_numpy()
    return inside


def partition_groups(
    items: pd.DataFrame, predictions: pd.DataFrame, partitions: Mapping[str, Any]
) -> list[tuple[str, pd.DataFrame]]:
    """The predictions of each test partition, named by :func:`partition_group`, in the order of the test values.

    Args:
        items: the corpus items with the split columns.
        predictions: pooled out-of-fold predictions with a ``fold`` column.
        partitions: ``{"columns": [...], "test": [...]}``, the split columns and test values of the protocol
            (:meth:`voxpop.study.recipe.ProtocolConfig.test_partitions`).

    Returns:
        ``(group, predictions of its items)`` per test value.

    Example:
        >>> items = pd.DataFrame({"s": ["Test1", "Test2", "Test1"]}, index=["a", "b", "c"])
        >>> p = pd.DataFrame({"x": [0.1, 0.2, 0.3], "fold": "s"}, index=["a", "b", "c"])
        >>> [(g, list(t.index)) for g, t in partition_groups(items, p, {"columns": ["s"], "test": ["Test1", "Test2"]})]
        [('split=Test1', ['a', 'c']), ('split=Test2', ['b'])]
    """
    return [
        (partition_group(value), predictions[partition_rows(items, predictions["fold"], partitions["columns"], value)])
        for value in partitions["test"]
    ]
