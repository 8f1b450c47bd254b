"""Shared fixtures. Real data lives in ../shared/data beside the checkout (or $VOXPOP_SHARED_DATA);
tests that need it skip with a reason where it is absent, as in a user's clone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("VOXPOP_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real corpora (CREMA-D tables, Earkick re-annotation, RAVDESS)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (set VOXPOP_SHARED_DATA)")
    return SHARED_DATA
