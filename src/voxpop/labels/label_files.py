"""Reading a label set file of either kind (:func:`load_label_set`): the kind is recorded in the file."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from voxpop.labels.continuous import _META_KEY as _CONTINUOUS_META
from voxpop.labels.continuous import ContinuousLabelSet
from voxpop.labels.labelset import LabelSet


def load_label_set(path: str | Path) -> LabelSet | ContinuousLabelSet:
    """Read a label set file of either kind (the kind is recorded in the file's metadata).

    Args:
        path: a ``.parquet`` file written by :meth:`LabelSet.save` or :meth:`ContinuousLabelSet.save`.

    Returns:
        The :class:`LabelSet` or :class:`ContinuousLabelSet` it holds.

    Raises:
        InputError: the file is missing, not Parquet or not a voxpop label set (as :meth:`LabelSet.load`).
    """
    if file_kind(path) == "continuous":
        return ContinuousLabelSet.load(path)
    return LabelSet.load(path)  # names the problem of a missing file or one that is not Parquet


def file_kind(path: str | Path) -> str:
    """The target kind a label set file records, ``continuous`` or ``categorical``, from its metadata alone
    (a file that cannot be read counts as ``categorical``: :func:`load_label_set` names its problem).

    Args:
        path: a label set file.

    Returns:
        ``continuous`` (a :class:`ContinuousLabelSet`) or ``categorical``.
    """
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException):
        return "categorical"
    return "continuous" if _CONTINUOUS_META in metadata else "categorical"
