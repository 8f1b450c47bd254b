"""Free-text "Other" answers (``Other: bored``, ``Other-Bored``, ``Other (tired)``) in per-rater exports.

Rating tools let a rater type their own word after choosing "Other". Read as labels, every distinct text
would become a class of its own. :func:`read_free_text` reads them as the label ``other`` (counted, the
distinct texts listed in the import report) unless the user keeps them (``keep_free_text``). ``other`` is then an
excluded label unless ``classes`` lists it: its ratings count as votes in every rule's denominator (2 happy +
3 other: no majority for happy), never as a target. The MSP-Podcast and IEMOCAP readers use
:func:`is_free_text_other` for their own label fields.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pandas as pd

from voxpop.core.errors import option
from voxpop.corpus.codes import per_distinct
from voxpop.corpus.corpus import EMOTION_SLOTS, STRING
from voxpop.corpus.formats.tables import tally

OTHER = "other"


def is_free_text_other(label: str) -> bool:
    """True for an ``Other`` entry carrying the rater's own words (``Other-Bored``, ``Other (tired)``, ``Other: x``).

    >>> [is_free_text_other(x) for x in ("Other-Bored", "Other: tired", "Other", "Otherworldly", "other:")]
    [True, True, False, False, True]
    """
    key = label.strip().lower()
    return key.startswith(OTHER) and len(key) > len(OTHER) and not key[len(OTHER)].isalpha()


def read_free_text(
    ratings: pd.DataFrame,
    classes: Sequence[str] | None,
    excluded: Sequence[str],
    keep: bool,
    notes: list[str],
) -> tuple[pd.DataFrame, list[str]]:
    """Emotion-slot labels that are free-text "Other" answers, read as ``other`` unless ``keep``.

    Args:
        ratings: long ratings with ``slot`` and ``label`` columns (one row per rating).
        classes: the class list the user gave (None: inferred later from the labels).
        excluded: the excluded labels the user gave.
        keep: keep every free text as its own label (``keep_free_text``; the report still lists them).
        notes: the import report; gets one line with the count and the distinct texts.

    Returns:
        ``(ratings, excluded)``: the ratings with ``other`` for each free text, and the excluded labels with
        ``other`` added unless ``classes`` lists it. Nothing is dropped: every free-text rating stays a rating.

    >>> r = pd.DataFrame({"slot": ["primary"] * 3, "label": ["happy", "Other: bored", "Other - tired"]})
    >>> notes = []
    >>> out, excluded = read_free_text(r, None, [], False, notes)
    >>> out["label"].tolist(), excluded
    (['happy', 'other', 'other'], ['other'])
    >>> notes[0]
    "Free-text 'Other' answers read as the label 'other': 2 (Other: bored 1, Other - tired 1); ..."
    """
    emotion = ratings["slot"].isin(EMOTION_SLOTS).to_numpy(dtype=bool)
    free = emotion & per_distinct(ratings["label"], is_free_text_other, False).to_numpy(dtype=bool)
    if not free.any():
        return ratings, list(excluded)
    labels = ratings["label"].astype(STRING)  # as text: 'other' is written into it below
    texts = Counter(labels[free].str.strip())
    if keep:
        notes.append(f"Free-text 'Other' answers kept as labels of their own: {int(free.sum())} ({tally(texts)}).")
        return ratings, list(excluded)
    ratings = ratings.assign(label=labels.mask(free, OTHER))
    if classes is None or OTHER not in classes:
        excluded = list(dict.fromkeys([*excluded, OTHER]))
    role = "a class (listed in classes)" if classes is not None and OTHER in classes else "an excluded label"
    notes.append(
        f"Free-text 'Other' answers read as the label '{OTHER}': {int(free.sum())} ({tally(texts)}); "
        f"'{OTHER}' is {role}, counted in every rule's denominator; pass {option('keep_free_text', True)} "
        "to keep each text as a label."
    )
    return ratings, list(excluded)
