"""Each rater's own votes, for models that learn from every rater (METHODS.md section 4.4, docs/raters.md).

:func:`rater_votes` reads the ratings a categorical label set counted (slot ``primary``, its conditions, class
set and class map: the label set's own ``options``) and keeps who gave which vote; :meth:`RaterVotes.targets`
turns them into per-rater soft targets for a chosen set of items (a fold's training items): items x outputs x
classes, one output per rater with at least ``min_ratings_per_rater`` ratings on those items and one shared
``other raters`` output for the rest. A zero row means that output's raters did not rate the item: the masked
loss (:func:`voxpop.models.losses.masked_rater_cross_entropy`) leaves it out.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.classmap import resolve_classes
from voxpop.corpus.corpus import STRING, Corpus
from voxpop.labels.labelset import LabelSet
from voxpop.labels.voting import _class_codes, _item_codes, _select

OTHER_RATERS = "other raters"
"""The name of the output shared by the raters with fewer than ``min_ratings_per_rater`` training ratings."""


@dataclasses.dataclass(frozen=True)
class RaterVotes:
    """Who voted for which class on which item: one entry per rating inside the class set.

    Attributes:
        items: the item ids (the label set's items), position = item code.
        raters: the rater ids, position = rater code.
        classes: the class set, position = class code.
        item: (V,) item code of each vote.
        rater: (V,) rater code of each vote.
        label: (V,) class code of each vote.
        outside: ratings of these items whose label lies outside the class set (never a target), counted.
    """

    items: pd.Index
    raters: pd.Index
    classes: list[str]
    item: np.ndarray
    rater: np.ndarray
    label: np.ndarray
    outside: int = 0

    def digest(self) -> str:
        """sha256 of the votes (item, rater and class of each, with the ids and classes): what a saved model of
        them was trained on."""
        digest = hashlib.sha256("\n".join(map(str, [*self.items, *self.raters, *self.classes])).encode())
        for codes in (self.item, self.rater, self.label):
            digest.update(np.ascontiguousarray(codes, dtype=np.int64).tobytes())
        return digest.hexdigest()

    def targets(
        self, items: Sequence[str] | pd.Index, min_ratings_per_rater: int = 1
    ) -> tuple[np.ndarray, list[str], dict[str, int]]:
        """Per-rater soft targets of ``items``: output r's target on item i is the distribution of the votes of
        output r's raters on item i (one vote: one-hot), a zero row where none of them rated it.

        Raters with at least ``min_ratings_per_rater`` votes on ``items`` get their own output, in the order of
        :attr:`raters`; the others share one output :data:`OTHER_RATERS` (last; absent when every rater has
        enough votes). Only the votes on ``items`` count, so a fold's test items never shape its outputs.

        Args:
            items: the item ids to build targets for, in the order of the training rows.
            min_ratings_per_rater: the fewest votes on ``items`` for an output of one's own (>= 1).

        Returns:
            ``(targets, outputs, counts)``: float32 items x outputs x classes; the output names (rater ids, then
            ``other raters``); and ``counts``: ``rater_votes`` used, ``raters_own_output`` (raters with an output),
            ``raters_shared_output`` (raters sharing the last output), ``items_without_votes`` (items no rater
            rated inside the class set: all-zero targets, they train nothing).

        Raises:
            ConfigError: ``min_ratings_per_rater`` below 1.
            InputError: an item of ``items`` that is not one of :attr:`items`.

        Example:
            >>> votes = RaterVotes(pd.Index(["a", "b"]), pd.Index(["r1", "r2"]), ["A", "S"],
            ...                    np.array([0, 0, 1]), np.array([0, 1, 0]), np.array([0, 1, 1]))
            >>> y, outputs, counts = votes.targets(["a", "b"], min_ratings_per_rater=2)
            >>> outputs, y[:, 0].tolist(), y[:, 1].tolist()
            (['r1', 'other raters'], [[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 0.0]])
        """
        if min_ratings_per_rater < 1:
            raise ConfigError(f"min_ratings_per_rater must be at least 1, got {min_ratings_per_rater}.")
        wanted = pd.Index(items, dtype=STRING)
        row_of = wanted.get_indexer(self.items)  # item code -> row, -1 outside ``items``
        if (missing := ~wanted.isin(self.items)).any():
            raise InputError(
                f"items {list(wanted[missing][:5])} have no ratings in the label set's corpus; per-rater targets "
                "are built from the same corpus as the label set."
            )
        row = row_of[self.item]
        used = row >= 0
        row, rater, label = row[used], self.rater[used], self.label[used]
        per_rater = np.bincount(rater, minlength=len(self.raters))
        own = np.flatnonzero(per_rater >= min_ratings_per_rater)
        others = np.flatnonzero((per_rater > 0) & (per_rater < min_ratings_per_rater))
        output_of = np.full(len(self.raters), len(own), dtype=np.int64)  # every other rater: the shared output
        output_of[own] = np.arange(len(own))
        n_outputs = len(own) + (1 if len(others) else 0)
        counts = np.zeros((len(wanted), max(n_outputs, 1), len(self.classes)), dtype=np.float32)
        np.add.at(counts, (row, output_of[rater], label), 1.0)
        totals = counts.sum(axis=2, keepdims=True)
        targets = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)[:, :n_outputs]
        names = [str(r) for r in self.raters[own]] + ([OTHER_RATERS] if len(others) else [])
        unrated = int((np.bincount(row, minlength=len(wanted)) == 0).sum())
        report = {"rater_votes": int(used.sum()), "raters_own_output": len(own), "raters_shared_output": len(others)}
        return targets, names, {**report, "items_without_votes": unrated}


def rater_votes(corpus: Corpus, labels: LabelSet, slot: str = "primary") -> RaterVotes:
    """The votes of ``corpus`` that the categorical label set ``labels`` counted, by rater.

    Reads the ratings of ``slot`` under the label set's conditions, through its class map, onto its classes
    (``labels.options``: ``condition``, ``pool``, ``class_map``, as :func:`voxpop.labels.make_labels` records
    them); ratings of a label outside the class set are counted in ``outside``, never a vote.

    Args:
        corpus: the corpus the label set was made from (its ratings need rater ids).
        labels: a categorical label set of that corpus (a rule on one choice per rating: mr, pr, ar, primary ...).
        slot: the rating slot to read (``primary``).

    Returns:
        The :class:`RaterVotes` of the label set's items.

    Raises:
        ConfigError: a multi-label label set, or a corpus with no rating in ``slot`` for these items.
        InputError: a rater whose id is :data:`OTHER_RATERS`, the name of the shared output.
        VoxpopError: ratings without rater ids (:meth:`voxpop.corpus.Corpus.require_rater_ids`).

    Example:
        >>> from voxpop.labels import make_labels
        >>> ratings = pd.DataFrame({"item": ["x", "x", "y"], "rater": ["r1", "r2", "r1"], "label": ["A", "S", "S"]})
        >>> corpus = Corpus("toy", pd.DataFrame(index=["x", "y"]), ratings, classes=["A", "S"])
        >>> votes = rater_votes(corpus, make_labels(corpus, "pr"))
        >>> list(votes.raters), votes.rater.tolist(), votes.label.tolist()
        (['r1', 'r2'], [0, 1, 0], [0, 1, 1])
    """
    if labels.multilabel:
        raise ConfigError(
            f"label set {labels.rule!r} is multi-label; per-rater models learn one choice per rating: train them "
            "on a single-label rule (mr, pr, ar, primary)."
        )
    corpus.require_rater_ids("a per-rater model (head per_rater or crowd_layer)")
    options = labels.options
    classes, others, mapping = resolve_classes(
        corpus.classes, corpus.excluded, labels.classes, options.get("class_map"), corpus=corpus.name
    )
    selected = _select(corpus.ratings, slot, options.get("condition"), True, ["item", "rater", "label"])
    selected = selected[selected["item"].isin(labels.targets.index).to_numpy(dtype=bool)]
    if selected.empty:
        raise ConfigError(
            f"corpus {corpus.name!r}: no {slot!r} rating of the label set's items; per-rater models need each "
            "rater's own choice per item."
        )
    if named := int((selected["rater"] == OTHER_RATERS).sum()):
        raise InputError(
            f"corpus {corpus.name!r}: rater id {OTHER_RATERS!r} ({named} ratings) is the name of the output shared by "
            "the raters with few ratings; rename that rater in the corpus's ratings (column rater) and import again."
        )
    item, items = _item_codes(selected, labels.targets.index)
    label = _class_codes(selected, classes, mapping.renames, others)
    rater, raters = pd.factorize(selected["rater"].astype(STRING), sort=True)
    inside = label >= 0
    return RaterVotes(
        items=items,
        raters=pd.Index(raters, dtype=STRING, name="rater"),
        classes=list(classes),
        item=item[inside].astype(np.int64),
        rater=rater[inside].astype(np.int64),
        label=label[inside],
        outside=int((~inside).sum()),
    )
