"""The bottom layer: the error family, atomic writes and the content-hash cache, progress callbacks,
resource ceilings, paths, signals and the Dask cluster helpers. Imports nothing else of voxpop.

The face is lazy (PEP 562, :func:`voxpop.core.faces.lazy_face`): ``from voxpop.core import Cache`` imports
``voxpop.core.cache`` then; the cluster helpers import Dask only when called.
"""

from voxpop.core.faces import lazy_face

_EXPORTS = {
    "VoxpopError": "errors",
    "ConfigError": "errors",
    "InputError": "errors",
    "Cache": "cache",
    "Stage": "cache",
    "atomic_write": "cache",
    "stable_hash": "cache",
    "write_bytes": "cache",
    "write_json": "cache",
    "write_text": "cache",
    "Reporter": "progress",
    "connect": "cluster",
    "cluster_map": "cluster",
    "default_workers": "cluster",
    "ceiling": "limits",
    "check_ceiling": "limits",
    "input_file": "paths",
    "output_file": "paths",
    "Stopped": "stopping",
    "stop_on_sigterm": "stopping",
    "lazy_face": "faces",
    "callable_module": "faces",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
