"""voxpop: speech emotion recognition that learns from every rater."""

from voxpop.corpus import Corpus
from voxpop.errors import ConfigError, InputError, VoxpopError

__version__ = "0.1.0"
__all__ = ["ConfigError", "Corpus", "InputError", "VoxpopError", "__version__"]
