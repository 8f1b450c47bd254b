"""voxpop: speech emotion recognition that learns from every rater."""

from voxpop.core.errors import ConfigError, InputError, VoxpopError
from voxpop.corpus.corpus import Corpus

__version__ = "0.1.0"
__all__ = ["ConfigError", "Corpus", "InputError", "VoxpopError", "__version__"]
