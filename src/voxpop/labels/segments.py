"""Segment items as a corpus: the items of an interval-consensus LabelSet become windows of their recordings.

METHODS.md section 2, "Interval consensus": :func:`voxpop.labels.interval_rules.interval_consensus` turns time
intervals into new items (``LabelSet.segments``: recording, start, end). :func:`segment_corpus` builds
the corpus whose items are those segments, so features, folds and models work on them like on clips.
A study of several levels uses one
corpus for all: :func:`union_segment_corpus` unites their segments and :func:`on_segments` puts each
level's label set on that corpus's items.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pandas as pd

from voxpop.core.errors import InputError
from voxpop.corpus.corpus import STRING, Corpus
from voxpop.labels.labelset import LabelSet

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
    >>> from voxpop.labels.rules import make_labels
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


def union_segment_corpus(corpus: Corpus, labelsets: Sequence[LabelSet]) -> Corpus:
    """One corpus of the segments of several interval label sets (e.g. levels 1..K), united by segment id.

    Each label set's items come from :func:`segment_corpus`; a segment id names recording, emotion,
    start and end, so a segment found at several levels is one item (its first occurrence is kept).
    Features and folds made on this corpus serve every level: :func:`on_segments` puts each level's
    label set on its items.

    >>> items = pd.DataFrame({"audio": ["rec.wav"], "speaker": ["s1"]}, index=["rec"])
    >>> ratings = pd.DataFrame({"item": "rec", "rater": ["r1", "r2"], "label": "anger",
    ...                         "start": [0.0, 0.5], "end": [1.0, 1.5]})
    >>> from voxpop.labels.rules import make_labels
    >>> corpus = Corpus("toy", items, ratings, classes=["anger", "sad"])
    >>> levels = [make_labels(corpus, "intervals", level=k) for k in (1, 2)]
    >>> union_segment_corpus(corpus, levels).items[["recording", "offset", "duration"]]
                        recording  offset  duration
    item
    rec:anger:0.00-1.50       rec     0.0       1.5
    rec:anger:0.50-1.00       rec     0.5       0.5
    """
    if not labelsets:
        raise InputError("union_segment_corpus needs at least one interval label set (rule 'intervals')")
    classes = labelsets[0].classes
    for labels in labelsets[1:]:
        if labels.classes != classes:
            raise InputError(
                f"interval label sets have different classes ({', '.join(classes)} vs {', '.join(labels.classes)}); "
                "make every level with the same classes and class map"
            )
    parts = [segment_corpus(corpus, labels) for labels in labelsets]
    items = pd.concat([part.items for part in parts])
    ratings = pd.concat([part.ratings for part in parts], ignore_index=True)
    rules = sorted({f"{labels.rule} {labels.options}" for labels in labelsets})
    return Corpus(
        f"{corpus.name}-segments",
        items[~items.index.duplicated()],
        ratings.drop_duplicates("item"),
        classes=classes,
        source=corpus.source,
        license=corpus.license,
        description=f"Segments of {corpus.name!r} from {len(labelsets)} interval label sets ({'; '.join(rules)}).",
    )


def on_segments(labels: LabelSet, segments: Corpus) -> LabelSet:
    """``labels`` indexed by the items of a segment corpus: segments it does not name are dropped rows.

    Targets and counts of the added rows are zero and ``kept`` is False; the accounting (what the rule
    discarded from the ratings) is unchanged. ``segments`` covers every item (recording, start =
    offset, end = offset + duration for the added rows). Every segment of ``labels`` must be an item.

    >>> items = pd.DataFrame({"audio": ["rec.wav"]}, index=["rec"])
    >>> ratings = pd.DataFrame({"item": "rec", "rater": ["r1", "r2"], "label": "anger",
    ...                         "start": [0.0, 0.5], "end": [1.0, 1.5]})
    >>> from voxpop.labels.rules import make_labels
    >>> corpus = Corpus("toy", items, ratings, classes=["anger", "sad"])
    >>> levels = [make_labels(corpus, "intervals", level=k) for k in (1, 2)]
    >>> level2 = on_segments(levels[1], union_segment_corpus(corpus, levels))
    >>> level2.targets.assign(kept=level2.kept)
                         anger  sad   kept
    item
    rec:anger:0.00-1.50    0.0  0.0  False
    rec:anger:0.50-1.00    1.0  0.0   True
    >>> level2.accounting == levels[1].accounting
    True
    """
    index = segments.items.index
    unknown = labels.targets.index.difference(index)
    if len(unknown):
        raise InputError(
            f"label set {labels.rule!r} ({labels.options}): segments {list(unknown[:5])} are not items of corpus "
            f"{segments.name!r}; build the segment corpus from this label set (union_segment_corpus)"
        )
    windows = segments.items
    derived = pd.DataFrame(
        {"recording": windows["recording"], "start": windows["offset"], "end": windows["offset"] + windows["duration"]}
    )
    return dataclasses.replace(
        labels,
        targets=labels.targets.reindex(index, fill_value=0.0),
        counts=labels.counts.reindex(index, fill_value=0),
        kept=labels.kept.reindex(index, fill_value=False).astype(bool),
        segments=labels.segments.reindex(index).fillna(derived),
    )
