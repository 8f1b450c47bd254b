"""Features as model input: the arrays a fold model reads, and their per-dimension standardisation.

:func:`feature_input` gathers the features of given items in their order ((N, D) vectors, (N, L, D) layer
matrices, or a list of (T_i, D) frame arrays); :class:`Standardizer` z-scores them with statistics fitted on a
fold's training items and saved with its model (``standardize.npz``, read back without unpickling anything).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from voxpop.core.cache import atomic_write
from voxpop.core.errors import InputError
from voxpop.core.safe_load import load_arrays
from voxpop.corpus.corpus import STRING
from voxpop.features import Features


def feature_input(features: Features, items: Sequence[str] | pd.Index) -> np.ndarray | list[np.ndarray]:
    """The model input of ``items`` (all must have features): (N, D) vectors, (N, L, D) layer matrices or
    a list of (T_i, D) frame arrays, as float32 in the order of ``items``."""
    rows = features.items.get_indexer(pd.Index(items, dtype=STRING))
    if (rows < 0).any():
        missing = [items[i] for i in np.flatnonzero(rows < 0)[:5]]
        raise InputError(f"items {missing} have no features in store {features.key[:16]}; extract them first.")
    if features.kind == "frames":
        offsets = features.offsets
        return [np.asarray(features.values[offsets[r] : offsets[r + 1]], dtype=np.float32) for r in rows]
    return np.asarray(features.values[rows], dtype=np.float32)


@dataclasses.dataclass(frozen=True)
class Standardizer:
    """Per-dimension z-score ``(x - mean) / scale`` fitted on training items.

    Vectors: statistics over items, shape (D,); layer matrices: over items per layer, (L, D); frames:
    over all frames of all items, (D,). A dimension with standard deviation below 1e-8 gets scale 1.

    >>> s = Standardizer.fit(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> s.mean.tolist(), s.scale.tolist(), s.apply(np.array([[3.0, 6.0]])).tolist()
    ([2.0, 5.0], [1.0, 1.0], [[1.0, 1.0]])
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray | list[np.ndarray]) -> Standardizer:
        stacked = np.concatenate(x) if isinstance(x, list) else np.asarray(x)
        stacked = stacked.astype(np.float64)
        std = stacked.std(axis=0)
        return cls(stacked.mean(axis=0), np.where(std < 1e-8, 1.0, std))

    def apply(self, x: np.ndarray | list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
        mean, scale = self.mean.astype(np.float32), self.scale.astype(np.float32)
        if isinstance(x, list):
            return [(a - mean) / scale for a in x]
        return (np.asarray(x, dtype=np.float32) - mean) / scale

    def save(self, path: Path) -> None:
        atomic_write(path, lambda handle: np.savez(handle, mean=self.mean, scale=self.scale))

    @classmethod
    def load(cls, path: Path) -> Standardizer:
        """The statistics :meth:`save` wrote; InputError naming ``path`` when it is missing, damaged or holds no
        ``mean`` and ``scale`` arrays of one shape (nothing in it is unpickled)."""
        if not path.is_file():
            raise InputError(f"{path}: not found; the fold model was trained on standardised features.")
        fix = "retrain the fold"
        arrays = load_arrays(path, ("mean", "scale"), "standardisation statistics", fix)
        try:
            mean, scale = (np.asarray(arrays[name], dtype=np.float64) for name in ("mean", "scale"))
        except (TypeError, ValueError) as exc:  # a structured or text array
            what = type(exc).__name__
            raise InputError(f"{path}: not readable standardisation statistics ({what}); {fix}.") from None
        if mean.shape != scale.shape or not mean.size:
            raise InputError(f"{path}: mean {mean.shape} and scale {scale.shape} should be two arrays of one shape.")
        return cls(mean, scale)
