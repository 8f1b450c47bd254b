"""Progress of long work: the callbacks a study (or any long verb) calls as it goes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from voxpop.core.cache import notify


@dataclasses.dataclass
class Reporter:
    """Progress callbacks of a study (or any long verb); each defaults to doing nothing (``notice``: stderr).

    Args:
        stage: ``stage(label, position, total, cached)`` before each stage: its label, its 1-based position
            among ``total`` stages, and whether its outputs are reused from the cache.
        step: ``step(done, total)`` within long stages (items extracted, folds trained, clips synthesised).
        notice: ``notice(line)`` when a finished stage is damaged or stale and is recomputed, and when a features
            stage reads a store entry extracted before (``features fbank: reused from STORE/ENTRY``).
    """

    stage: Callable[[str, int, int, bool], None] = lambda label, position, total, cached: None
    step: Callable[[int, int], None] = lambda done, total: None
    notice: Callable[[str], None] = notify
