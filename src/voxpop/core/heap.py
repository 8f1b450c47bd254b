"""Keeping freed large blocks in the process's heap, so that tables of millions of rows are not paged in again.

glibc's ``malloc`` serves every block over its mmap threshold (at most 32 MB by default) with a fresh ``mmap``
and returns it to the system on ``free``: each array of ten million codes or numbers that a pandas step makes
and drops is then zero-filled page by page by the kernel when the next one is made. Importing a table of ten
million ratings spent more CPU seconds in the kernel (about 5 s) than in the parsing itself. With the threshold
raised and the heap kept (``mallopt(M_MMAP_THRESHOLD)``, ``mallopt(M_TRIM_THRESHOLD)``, the settings
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` give from the environment), a freed block is reused by
the next one: the kernel time drops to about 2 s, the peak memory is the same. pyarrow's own allocator
(mimalloc) returns freed memory to the system in the same way, so the command line also has pyarrow allocate
through ``malloc`` (``ARROW_DEFAULT_MEMORY_POOL=system``, unless that variable is set): its kernel time drops
from about 2.5 s to 1.1 s for a little more time in ``malloc`` itself (0.3-0.5 s). The command line sets this
when it starts (:func:`voxpop.cli.main`), before pyarrow is imported; the processes it starts (Dask workers)
inherit the pyarrow variable, not the ``malloc`` settings, and library users keep the system's defaults.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1 << 30  # blocks up to 1 GiB come from the heap and are reused when freed
TRIM_THRESHOLD_BYTES = (1 << 31) - 1  # free memory at the top of the heap kept up to 2 GiB (the largest int)


def reuse_freed_memory() -> bool:
    """Ask glibc's ``malloc`` to serve large blocks from the heap and keep freed ones for reuse, and pyarrow to
    allocate through it (where pyarrow is not imported yet and ``ARROW_DEFAULT_MEMORY_POOL`` is not set).

    A no-op where the C library is not glibc (macOS, musl, Windows) or a setting is refused.

    Returns:
        True when glibc accepted both settings.

    Example:
        >>> reuse_freed_memory() in (True, False)
        True
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own symbols: its C library (no ldconfig look-up)
    except (OSError, AttributeError, TypeError):  # no such handle (Windows), or a C library without mallopt
        return False
    if "pyarrow" not in sys.modules:  # pyarrow reads the variable when it is imported
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) & bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
