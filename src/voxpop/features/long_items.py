"""Long items named: the clips (seconds) or frame sequences (time steps) above a length limit.

Extraction reports clips longer than :data:`LONG_CLIP_SECONDS`; training reports frame sequences longer
than ``TrainConfig.long_item_frames`` (:mod:`voxpop.models.batching`). Torch-free, so that extraction imports
no training stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

LONG_CLIP_SECONDS = 60.0
"""Clips longer than this many seconds are reported by name when their features are extracted."""


def long_items(ids: Sequence[Any], lengths: Sequence[float], limit: float) -> dict[str, float]:
    """The items longer than ``limit`` with their lengths, longest first (``{id: length}``).

    >>> long_items(["a", "b", "c"], [2.0, 300.0, 61.0], 60.0)
    {'b': 300.0, 'c': 61.0}
    """
    values = np.asarray(lengths, dtype=float)
    over = np.flatnonzero(values > limit)
    over = over[np.argsort(-values[over], kind="stable")]
    return {str(ids[i]): float(values[i]) for i in over}


def describe_long(found: dict[str, float], unit: str, shown: int = 5) -> str:
    """``"b (300 s), c (61 s)"``: the first ``shown`` long items by name, and how many more.

    >>> describe_long({"b": 300.0, "c": 61.0, "d": 60.5}, "s", shown=2)
    'b (300 s), c (61 s) and 1 more'
    """
    names = ", ".join(f"{name} ({value:g} {unit})" for name, value in list(found.items())[:shown])
    return names + (f" and {len(found) - shown} more" if len(found) > shown else "")
