"""openSMILE features through audEERING's ``opensmile`` package: functionals or low-level descriptors.

``opensmile:eGeMAPSv02`` gives the 88 eGeMAPS functionals per clip, ``opensmile:ComParE_2016`` the
6,373 ComParE functionals; ``level="lld"`` (or ``"lld_deltas"``) stores the frame-level low-level
descriptors instead, for sequence models. ``workers`` > 1 processes clips in parallel processes.
The numbers are those of ``opensmile.Smile(feature_set, feature_level).process_signal`` on the
processed signal (for an unprocessed 16 kHz mono file: exactly ``process_file``).
"""

from __future__ import annotations

import numpy as np
import opensmile

from voxpop.core.errors import ConfigError
from voxpop.features.base import Extractor, Layout

LEVELS = {
    "functionals": opensmile.FeatureLevel.Functionals,
    "lld": opensmile.FeatureLevel.LowLevelDescriptors,
    "lld_deltas": opensmile.FeatureLevel.LowLevelDescriptors_Deltas,
}


class OpenSmileExtractor(Extractor):
    """``opensmile:FEATURE_SET``: functionals (vector) or low-level descriptors (frames)."""

    name = "opensmile"

    def __init__(self, argument: str | None = "eGeMAPSv02", level: str = "functionals", workers: int = 1):
        feature_set = argument or "eGeMAPSv02"
        sets = [member.name for member in opensmile.FeatureSet]
        if feature_set not in sets:
            raise ConfigError(f"unknown openSMILE feature set {feature_set!r}; choose one of {', '.join(sets)}")
        if level not in LEVELS:
            raise ConfigError(f"unknown openSMILE level {level!r}; choose one of {', '.join(LEVELS)}")
        self.feature_set = feature_set
        self.level = level
        self.workers = int(workers)

    def config(self) -> dict:
        return {"feature_set": self.feature_set, "level": self.level, "opensmile": opensmile.__version__}

    def describe(self) -> str:
        suffix = "" if self.level == "functionals" else f" ({self.level})"
        return f"opensmile:{self.feature_set}{suffix}"

    @property
    def smile(self) -> opensmile.Smile:
        """The openSMILE processor, built on first use in each process."""
        if getattr(self, "_smile", None) is None:
            self._smile = opensmile.Smile(
                feature_set=opensmile.FeatureSet[self.feature_set], feature_level=LEVELS[self.level]
            )
        return self._smile

    def layout(self) -> Layout:
        kind = "vector" if self.level == "functionals" else "frames"
        return Layout(kind, tuple(self.smile.feature_names))

    def compute(self, signal: np.ndarray) -> np.ndarray:
        table = self.smile.process_signal(signal, self.sample_rate)
        values = table.to_numpy(dtype=np.float32)
        return values[0] if self.level == "functionals" else values
