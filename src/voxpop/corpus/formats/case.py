"""Labels that differ only in letter case (``anger`` / ``Anger``): reported, or merged with ``fold_case``.

Native-format readers map their corpus's spellings themselves; this is for the readers whose labels
are free text (long tables, interval annotations), where ``Anger`` and ``anger`` would otherwise become
two classes without a word.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from voxpop.core.errors import option
from voxpop.corpus.codes import per_distinct
from voxpop.corpus.corpus import EMOTION_SLOTS

_SHOWN = 5


def case_variants(labels: pd.Series) -> list[list[tuple[str, int]]]:
    """Groups of distinct labels equal up to case (``str.casefold``), each label with its count.

    >>> case_variants(pd.Series(["anger", "Anger", "sad", "anger", "ANGER"]))
    [[('anger', 2), ('Anger', 1), ('ANGER', 1)]]
    """
    if isinstance(labels.dtype, pd.CategoricalDtype):  # counted per code, each label's text once
        counts = labels.value_counts(sort=False)
        counts = counts[counts.to_numpy() > 0]  # a category column lists its unused categories too
        counts.index = counts.index.astype(str)
    else:
        counts = labels.dropna().astype(str).value_counts(sort=False)
    folded = pd.Series(counts.index.map(str.casefold), index=counts.index)
    groups = []
    for _, members in folded.groupby(folded, sort=False):
        if len(members) > 1:
            groups.append(sorted(((m, int(counts[m])) for m in members.index), key=lambda x: -x[1]))
    return groups


def fold_case(
    ratings: pd.DataFrame,
    classes: Sequence[str] | None,
    class_map: Mapping[str, str] | None,
    excluded: Sequence[str],
    fold: bool,
    notes: list[str],
) -> tuple[pd.DataFrame, list[str] | None, dict[str, str] | None, list[str]]:
    """Report emotion labels that differ only in case; with ``fold``, lower-case them (``str.casefold``).

    Folding applies to the emotion-slot labels and, so that they still match, to ``classes``,
    ``class_map`` (keys and values) and ``excluded``. Either way the variants found are written to
    ``notes`` (the import report) with their counts.
    """
    emotion = ratings["slot"].isin(EMOTION_SLOTS)
    mapped = per_distinct(ratings.loc[emotion, "label"], lambda x: (class_map or {}).get(x, x))
    groups = case_variants(mapped)
    if groups:
        shown = "; ".join(" / ".join(f"{label!r} ({n})" for label, n in group) for group in groups[:_SHOWN])
        more = f"; ... ({len(groups) - _SHOWN} more)" if len(groups) > _SHOWN else ""
        if fold:
            notes.append(f"Labels that differed only in case, merged in lower case (fold_case): {shown}{more}.")
        else:
            notes.append(
                f"Labels that differ only in case, likely one class spelt two ways: {shown}{more}; "
                f"pass {option('fold_case', True)} to merge them."
            )
    if not fold:
        return ratings, None if classes is None else list(classes), dict(class_map or {}) or None, list(excluded)
    ratings = ratings.assign(label=ratings["label"].astype("string"))  # new values below: text, coded again later
    ratings.loc[emotion, "label"] = ratings.loc[emotion, "label"].str.casefold()
    return (
        ratings,
        None if classes is None else list(dict.fromkeys(c.casefold() for c in classes)),
        {k.casefold(): v.casefold() for k, v in (class_map or {}).items()} or None,
        list(dict.fromkeys(c.casefold() for c in excluded)),
    )
