"""Imported first by the forkserver that local Dask workers are forked from (:data:`voxpop.core.cluster.PRELOAD`):
the workers ignore Ctrl-C (SIGINT).

The terminal sends Ctrl-C to every process of a run. The main process stops the run and closes its
cluster, which ends the workers; a worker that handled SIGINT itself would print a traceback of its
event loop first. Python's forkserver gives every child the SIGINT disposition it had after importing
its preload modules, so this import makes every local worker ignore SIGINT (and asyncio leaves an
ignored SIGINT alone).
"""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
