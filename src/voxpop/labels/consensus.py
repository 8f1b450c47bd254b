"""A rule's labels against a corpus's own released consensus labels (IEMOCAP header lines, MSP-Podcast
``labels_consensus.csv``), the best evidence that a rule is right.

The importers keep the released consensus in the item column ``consensus_class`` (empty where the
corpus says there is none: IEMOCAP ``xxx``, MSP-Podcast ``X``; see :mod:`voxpop.corpus.formats.iemocap` and
:mod:`voxpop.corpus.formats.msp`), and an audformat database's gold-standard column
(:mod:`voxpop.corpus.formats.audformat_db`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from voxpop.core.errors import ConfigError
from voxpop.labels.labelset import LabelSet

DROPPED = "(dropped)"

OUTCOMES = ("same class", "both dropped", "rule drops, consensus keeps", "rule keeps, consensus drops", "other class")


def compare_consensus(
    labels: LabelSet, consensus: pd.Series, class_map: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Per item: the released consensus, what it implies under the label set's classes, the rule's label.

    Args:
        labels: a single-label set (mr, pr, ...) of the corpus.
        consensus: the released label per item (indexed by item id; missing = no consensus); a consensus
            outside the label set's classes (``other``, ``frustration`` under a 4-class set, none) means the
            item should be dropped.
        class_map: native label -> class, applied to ``consensus`` like the ratings.

    Returns:
        A DataFrame indexed by the label set's items, with columns ``consensus``, ``expected`` (class or
        ``(dropped)``), ``rule`` (the kept item's class or ``(dropped)``), ``agree`` (bool) and ``outcome``
        (one of :data:`OUTCOMES`).

    Raises:
        ConfigError: ``labels`` is multi-hot.

    Example:
        >>> labels = LabelSet(pd.DataFrame({"A": [1.0, 0, 0], "S": [0.0, 0, 0]}, index=["x", "y", "z"]),
        ...                   pd.Series([True, False, False], index=["x", "y", "z"]),
        ...                   pd.DataFrame(0, index=["x", "y", "z"], columns=["A", "S"]), "mr", None)
        >>> table = compare_consensus(labels, pd.Series(["A", "other", "S"], index=["x", "y", "z"]))
        >>> table[["expected", "rule", "outcome"]]
          expected       rule                   outcome
        x        A          A                same class
        y (dropped)  (dropped)              both dropped
        z        S  (dropped)  rule drops, consensus keeps
    """
    if labels.multilabel:
        raise ConfigError(f"the {labels.rule!r} label set is multi-hot; compare a single-label rule (mr, pr)")
    index = labels.targets.index
    released = consensus.reindex(index).astype("string")
    mapped = released.map(lambda c: dict(class_map or {}).get(c, c), na_action="ignore")
    expected = mapped.where(mapped.isin(labels.classes), DROPPED).fillna(DROPPED)
    rule = pd.Series(DROPPED, index=index, dtype="string")
    hard = labels.hard_labels()
    rule[hard.index] = hard
    agree = expected.eq(rule)
    outcome = pd.Series(OUTCOMES[4], index=index)
    outcome[agree & rule.ne(DROPPED)] = OUTCOMES[0]
    outcome[agree & rule.eq(DROPPED)] = OUTCOMES[1]
    outcome[~agree & rule.eq(DROPPED)] = OUTCOMES[2]
    outcome[~agree & expected.eq(DROPPED)] = OUTCOMES[3]
    return pd.DataFrame(
        {"consensus": released.fillna(""), "expected": expected, "rule": rule, "agree": agree, "outcome": outcome}
    )
