"""voxpop.core.heap: large blocks come from the heap (reused when freed) once the command line asked for it.

glibc reports where its blocks live (``mallinfo2``: ``hblkhd`` is the bytes held in separate mmap regions); a
numpy array of 64 MB is such a region under glibc's defaults and part of the heap after ``reuse_freed_memory``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys

import pytest

_PROBE = """
import ctypes, ctypes.util, sys
import numpy as np
from voxpop.core.heap import reuse_freed_memory

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype = Info
accepted = reuse_freed_memory() if sys.argv[1] == "reuse" else None
before = libc.mallinfo2().hblkhd
block = np.ones(64 * 2**20, dtype=np.uint8)
print(accepted, libc.mallinfo2().hblkhd - before)
"""


def _glibc_with_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "mallinfo2")
    except OSError:
        return False


@pytest.mark.skipif(not _glibc_with_mallinfo2(), reason="needs glibc >= 2.33 (mallinfo2) to see where blocks live")
def test_a_large_block_comes_from_the_heap_once_freed_memory_is_reused():
    def mapped_bytes(mode: str) -> tuple[str, int]:
        done = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True)
        accepted, mapped = done.stdout.split()
        return accepted, int(mapped)

    assert mapped_bytes("default")[1] >= 64 * 2**20  # glibc's default: a region of its own, unmapped when freed
    assert mapped_bytes("reuse") == ("True", 0)  # from the heap: a freed block serves the next one
