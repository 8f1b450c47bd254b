"""How many examples the property-based tests (Hypothesis) draw: each test's full count in the full suite
(``make test``), at most :data:`QUICK_EXAMPLES` in the quick one (``make quick-test``, which runs ``-m "not slow"``),
so the edit-test loop still runs every property on a few inputs and CI runs it at full strength.

``conftest.pytest_configure`` calls :func:`choose_profile` before any test module is imported; a module gives its
settings ``max_examples=examples(FULL)``, and a ``@given`` test without settings draws Hypothesis's default (100)
or the quick profile's count.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import settings

QUICK_PROFILE = "voxpop-quick"
QUICK_EXAMPLES = 6
"""Examples per property in the quick suite (derandomised tests draw the same ones every run)."""
LEAVES_OUT_SLOW = re.compile(r"\bnot\s+slow\b")
"""A ``-m`` expression that deselects the tests marked ``slow``: the quick suite's."""

settings.register_profile(QUICK_PROFILE, max_examples=QUICK_EXAMPLES)


def choose_profile(config: pytest.Config) -> None:
    """Load :data:`QUICK_PROFILE` when the run leaves out the slow tests (``-m "not slow"``) and names no profile
    itself (``--hypothesis-profile``, which wins); otherwise keep Hypothesis's default profile.

    Args:
        config: the session's pytest configuration (its ``-m`` expression and options).
    """
    if config.getoption("hypothesis_profile", None) is None and LEAVES_OUT_SLOW.search(config.option.markexpr or ""):
        settings.load_profile(QUICK_PROFILE)


def examples(full: int) -> int:
    """The number of examples a property test draws: ``full``, or the loaded profile's count where that is smaller
    (the quick suite's :data:`QUICK_EXAMPLES`).

    Args:
        full: the test's count in the full suite.

    Returns:
        ``min(full, max_examples of the loaded profile)``.
    """
    return min(full, settings.default.max_examples)
