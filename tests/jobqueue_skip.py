"""The one skip of the tests that need dask-jobqueue (tests/test_slurm.py, tests/test_cluster_paths.py)."""

from __future__ import annotations

import importlib.util

import pytest


def skip_without_jobqueue(reason: str = "dask-jobqueue is not installed") -> None:
    """Skip the calling test when dask-jobqueue is not installed, without importing it here: its runner module
    replaces Ctrl-C's handler on import (voxpop's batch_cluster puts it back), which would leak into the other
    tests of this process.

    Args:
        reason: the skip's reason, as pytest reports it.

    Raises:
        pytest.skip.Exception: dask-jobqueue cannot be found.
    """
    if importlib.util.find_spec("dask_jobqueue") is None:
        pytest.skip(reason)
