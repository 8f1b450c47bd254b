"""Corpora: the :class:`Corpus` (items, long ratings table, classes), the importers of native formats
(:mod:`voxpop.corpus.formats`), item filters, repeats, merging and the synthetic demo corpus.

The face is lazy (PEP 562): names import their submodule on first access, so ``import voxpop.corpus``
imports neither pandas nor scipy (the demo corpus's audio synthesis).

Example:
    >>> from voxpop.corpus import read, IMPORTERS
    >>> "long" in IMPORTERS
    True
"""

from voxpop.core.faces import lazy_face

_EXPORTS = {
    "Corpus": "corpus",
    "CorpusError": "corpus",
    "IMPORTERS": "formats",
    "get_importer": "formats",
    "read": "formats",
    "ItemFilter": "filters",
    "MergeSource": "merge",
    "merge_corpora": "merge",
    "make_demo_corpus": "demo",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
