"""``voxpop`` run through its console script's entry point in the test process: exit code and output, as a user
sees them (errors as one line and exit code 2, no traceback), without a subprocess's start-up."""

from __future__ import annotations

import signal
import sys

import pytest


def run_voxpop(capsys, *args: object) -> tuple[int, str]:
    """``voxpop ARGS`` through the console script's entry point (:func:`voxpop.cli.main`, where errors become one
    line and exit code 2) in this process: its exit code and its standard output and error, joined, each run of
    white space as one space (rich wraps long lines)."""
    import voxpop.cli

    saved_argv, saved_term = sys.argv, signal.getsignal(signal.SIGTERM)
    sys.argv = ["voxpop", *map(str, args)]
    try:
        with pytest.raises(SystemExit) as stopped:
            voxpop.cli.main()
    finally:
        sys.argv = saved_argv
        signal.signal(signal.SIGTERM, saved_term)
    captured = capsys.readouterr()
    return stopped.value.code, " ".join((captured.out + captured.err).split())
