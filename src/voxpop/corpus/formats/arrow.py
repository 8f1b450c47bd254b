"""Arrow tables of an importer read with the names they carry, never as bare integer codes.

A dictionary-encoded column (pandas ``category``, Arrow ``dictionary``) is read as its values, and an
integer column that the file declares a Hugging Face ``ClassLabel`` (the ``huggingface`` schema metadata
written by ``datasets``, with ``names``) is read as those names, so a label saved as code 0 becomes
``"angry"``, not the class ``"0"``. :func:`hf_features` and :func:`named_codes` are shared with the Hugging
Face importer (:mod:`voxpop.corpus.formats.hf`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from voxpop.core.errors import InputError, where

_HF_KEY = b"huggingface"


def read_parquet_names(path: str | Path) -> pd.DataFrame:
    """A Parquet file as a DataFrame whose coded columns hold their names.

    Args:
        path: the ``.parquet`` file.

    Returns:
        The table; dictionary-encoded columns become their values (pandas ``category``), integer
        ``ClassLabel`` columns become text (code ``-1`` is missing, as in ``datasets``).

    Raises:
        InputError: the file is not Parquet, or a ``ClassLabel`` code is outside ``0 .. len(names) - 1``
            (the message names the file, the row and the column).
    """
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path.name}: could not be read as a Parquet table: {exc}") from None
    for column, names in class_label_names(hf_features(table.schema)).items():
        position = table.schema.get_field_index(column)
        if position < 0 or not pa.types.is_integer(table.schema.field(position).type):
            continue
        codes = table.column(position)
        named = named_codes(codes, names, lambda row, c=column: where(path.name, row + 1, c))
        table = table.set_column(position, column, named)
    return table.to_pandas()


def hf_features(schema: pa.Schema) -> dict[str, object]:
    """The ``features`` of a schema's Hugging Face metadata (``{"info": {"features": ...}}``), else empty.

    >>> meta = {"info": {"features": {"label": {"names": ["angry", "sad"], "_type": "ClassLabel"}}}}
    >>> hf_features(pa.schema([("label", pa.int64())], metadata={"huggingface": json.dumps(meta)}))
    {'label': {'names': ['angry', 'sad'], '_type': 'ClassLabel'}}
    """
    raw = (schema.metadata or {}).get(_HF_KEY)
    if raw is None:
        return {}
    try:
        features = json.loads(raw).get("info", {}).get("features", {})
    except (ValueError, AttributeError, RecursionError):
        return {}
    return {str(k): v for k, v in features.items()} if isinstance(features, dict) else {}


def class_label_names(features: Mapping[str, object]) -> dict[str, list[str]]:
    """``{column: names}`` of the ``ClassLabel`` features among Hugging Face ``features`` (:func:`hf_features`).

    >>> class_label_names({"label": {"names": ["angry", "sad"], "_type": "ClassLabel"}, "text": {"_type": "Value"}})
    {'label': ['angry', 'sad']}
    """
    out = {}
    for column, feature in features.items():
        if isinstance(feature, dict) and feature.get("_type") == "ClassLabel":
            names = feature.get("names")
            if isinstance(names, list) and all(isinstance(n, str) for n in names):
                out[str(column)] = names
    return out


def named_codes(codes: pa.Array | pa.ChunkedArray, names: Sequence[str], place: Callable[[int], str]) -> pa.Array:
    """Integer ``ClassLabel`` codes as their names (code ``-1`` and nulls are missing, as in ``datasets``).

    Args:
        codes: the integer column.
        names: the ``ClassLabel`` names; code ``i`` is ``names[i]``.
        place: where the cell at a 0-based position of ``codes`` is, for messages (``file, row N, column 'x'``).

    Returns:
        A string array of the names, null where the code is missing.

    Raises:
        InputError: a code outside ``0 .. len(names) - 1`` (other than ``-1``), naming its place.

    Example:
        >>> named_codes(pa.array([1, -1, 0]), ["angry", "sad"], str).to_pylist()
        ['sad', None, 'angry']
    """
    values = codes.to_numpy(zero_copy_only=False)
    present = ~pd.isna(values)
    numbers = np.where(present, values, -1).astype(np.int64)
    bad = present & (numbers != -1) & ((numbers < 0) | (numbers >= len(names)))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{place(row)}: class code {numbers[row]} is not one of the {len(names)} ClassLabel "
            f"names 0..{len(names) - 1} ({', '.join(names[:10])}) declared in the file; fix the code or the names."
        )
    missing = numbers < 0
    return pc.take(pa.array(list(names), pa.string()), pa.array(np.where(missing, 0, numbers), mask=missing))
