"""Segment items as a corpus: the items of an interval-consensus LabelSet become windows of their recordings.

METHODS.md section 2, "Interval consensus": :func:`voxpop.labels.interval_consensus` turns time
intervals into new items (``LabelSet.segments``: recording, start, end). :func:`segment_corpus` builds
the corpus whose items are those segments, so features, folds and models work on them like on clips;
:func:`items_corpus` does so only when a label set has segments.
"""

from __future__ import annotations

import pandas as pd

from voxpop.corpus import STRING, Corpus
from voxpop.errors import InputError
from voxpop.labelset import LabelSet

CONSENSUS_RATER = "consensus"
_RECORDING_ONLY = ("offset", "duration", "duration_estimated", "recording")


def segment_corpus(corpus: Corpus, labels: LabelSet) -> Corpus:
    """The corpus of ``labels``' segments: one item per segment, a window of its recording's audio.

    Item id = segment id (``<recording>:<emotion>:<start>-<end>``, fixed decimals, from the label set);
    ``audio`` and the other metadata are copied from the recording's item row; ``recording`` names it,
    ``offset`` = start and ``duration`` = end - start seconds. Each segment has one primary rating by
    rater ``consensus`` with its emotion (the class of its coverage count), so dropped segments (never
    reaching the level) are items too and the label set's ``kept`` decides what trains.

    >>> items = pd.DataFrame({"audio": ["rec.wav"], "speaker": ["s1"], "duration": [4.0]}, index=["rec"])
    >>> ratings = pd.DataFrame({"item": "rec", "rater": ["r1", "r2"], "label": "anger",
    ...                         "start": [0.0, 0.5], "end": [1.0, 1.5]})
    >>> from voxpop.labels import make_labels
    >>> corpus = Corpus("toy", items, ratings, classes=["anger", "sad"])
    >>> segments = segment_corpus(corpus, make_labels(corpus, "intervals", level=2))
    >>> segments.items
                          audio speaker  recording  offset  duration
    item
    rec:anger:0.50-1.00  rec.wav      s1        rec     0.5       0.5
    >>> segments.ratings[["item", "rater", "label"]].to_dict("records")
    [{'item': 'rec:anger:0.50-1.00', 'rater': 'consensus', 'label': 'anger'}]
    """
    if labels.segments is None:
        raise InputError(
            f"label set {labels.rule!r} has no segments (recording, start, end); only interval consensus "
            "(rule 'intervals') creates segment items"
        )
    segments = labels.segments
    unknown = pd.Index(segments["recording"].unique()).difference(corpus.items.index)
    if len(unknown):
        raise InputError(
            f"label set {labels.rule!r}: recording(s) {list(unknown[:5])} of its segments are not items of corpus "
            f"{corpus.name!r}; make the label set from this corpus"
        )
    metadata = corpus.items.drop(columns=[c for c in _RECORDING_ONLY if c in corpus.items.columns])
    items = metadata.reindex(pd.Index(segments["recording"], dtype=STRING)).set_index(segments.index)
    items = items.assign(
        recording=segments["recording"].astype(STRING),
        offset=segments["start"].astype("float64"),
        duration=(segments["end"] - segments["start"]).astype("float64"),
    )
    items.index.name = "item"
    emotion = labels.counts.idxmax(axis=1)
    ratings = pd.DataFrame(
        {"item": segments.index, "rater": CONSENSUS_RATER, "slot": "primary", "label": emotion.to_numpy()}
    )
    return Corpus(
        f"{corpus.name}-segments",
        items,
        ratings,
        classes=labels.classes,
        source=corpus.source,
        license=corpus.license,
        description=f"Segments of {corpus.name!r} from label rule {labels.rule!r} ({labels.options}).",
    )


def items_corpus(corpus: Corpus, labels: LabelSet) -> Corpus:
    """The corpus whose items ``labels`` labels: :func:`segment_corpus` for segment label sets, else ``corpus``."""
    return corpus if labels.segments is None else segment_corpus(corpus, labels)
