"""Test and demo data for users of voxpop (in the manner of ``audformat.testing``).

:func:`demo_corpus` builds the synthetic demo corpus (clips of synthetic speech-like audio, simulated raters
with known biases) into a folder, for examples, notebooks and tests of code built on voxpop.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voxpop.corpus.corpus import Corpus

__all__ = ["demo_corpus"]


def demo_corpus(out: str | Path, size: str = "tiny", *, seed: int = 0, **options: Any) -> Corpus:
    """Build the synthetic demo corpus in ``out`` and return it (the corpus of ``voxpop demo``).

    :func:`voxpop.corpus.make_demo_corpus`; the same arguments give identical files, so a second call on the
    same folder rewrites the same corpus.

    Args:
        out: the folder to write ``audio/<item>.wav`` (16 kHz mono), ``corpus/`` (the saved corpus) and
            ``raters.parquet`` (the simulated raters' parameters: ground truth for aggregation) into.
        size: ``"tiny"`` (6 speakers x 8 clips, 12 raters; a second or two) or ``"small"`` (12 speakers x 32
            clips, 40 raters); both with 6 raters per clip and condition.
        seed: the seed of every random choice.
        **options: overrides of the preset (``n_speakers``, ``clips_per_speaker``, ``classes``, ``conditions``,
            ``n_raters``, ``raters_per_clip``, ``seconds``).

    Returns:
        The :class:`~voxpop.Corpus`: items (audio path, duration in seconds, speaker, gender, intended emotion,
        fold, split), ratings in conditions ``voice``, ``face`` and ``av`` (slots ``primary``, ``intensity``,
        ``dimension``) and classes ``neutral``, ``anger``, ``happy``, ``sad``.

    Raises:
        ConfigError: unknown size, class or condition, or a preset override out of range.

    Example:
        >>> import voxpop as vp
        >>> corpus = vp.testing.demo_corpus(tmp_path / "demo", size="tiny")  # doctest: +SKIP
        >>> len(corpus.items), corpus.classes  # doctest: +SKIP
        (48, ['neutral', 'anger', 'happy', 'sad'])
    """
    from voxpop.corpus import make_demo_corpus

    return make_demo_corpus(out, size, seed=seed, **options)
