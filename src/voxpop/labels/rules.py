"""Label rules as the registry runs them (METHODS.md section 2): the rule functions over one
:class:`RuleInput`, :func:`make_labels` (a rule of :mod:`voxpop.labels.registry` by name, with its options)
and :func:`resolve_labels` (a saved label set or a rule).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError
from voxpop.corpus.classmap import resolve_classes
from voxpop.corpus.corpus import EMOTION_SLOTS, Corpus
from voxpop.labels.counting import _distribution, filter_agreement, majority, plurality, smooth
from voxpop.labels.interval_rules import interval_consensus
from voxpop.labels.label_files import load_label_set
from voxpop.labels.labelset import LabelSet
from voxpop.labels.likert import _likert_gold, likert_binarize
from voxpop.labels.registry import (
    DEFAULT_LIKERT_THRESHOLD,
    POOLINGS,
    REGISTRY,
    RULES,
    Rule,
    check_options,
    get_rule,
)
from voxpop.labels.voting import _as_list, _select, column_codes, list_votes, vote_counts


# ====================================================================== layer 3: rule inputs and the dispatcher
def _resolve_conditions(corpus: Corpus, condition: str | Sequence[str] | None, pool: bool) -> list[str] | None:
    """The conditions to use (None = all ratings); refuses to mix several conditions silently."""
    present = corpus.conditions
    chosen = _as_list(condition)
    if chosen is None:
        if pool or len(present) <= 1:
            return None
        raise ConfigError(
            f"corpus {corpus.name!r} has ratings under {len(present)} conditions ({', '.join(present)}); "
            "choose one with condition (--condition C), or pool them with pool=True (--pool)"
        )
    unknown = [c for c in chosen if c not in present]
    if unknown:
        raise ConfigError(
            f"condition {unknown} not found in corpus {corpus.name!r}; "
            f"its conditions are: {', '.join(present) or 'none'}"
        )
    if len(chosen) > 1 and not pool:
        raise ConfigError(f"several conditions given ({', '.join(chosen)}); pass pool=True (--pool) to pool them")
    return chosen


@dataclasses.dataclass(frozen=True)
class Votes:
    """A slot's votes: ``counts`` (items x selected classes), ``outside`` (items x every other label) and,
    under mean pooling, ``shares`` (items x all labels: the mean of the per-condition distributions)."""

    counts: pd.DataFrame
    outside: pd.DataFrame
    shares: pd.DataFrame | None = None


@dataclasses.dataclass
class RuleInput:
    """What a rule implementation reads: the corpus, the chosen conditions and the class set.

    ``classes`` is the selected class set, ``others`` every other label after ``class_map`` (corpus-
    excluded labels such as "other", classes left out of a subset); ``pooling`` says how several
    conditions combine ("sum" or "mean"). Count tables are computed once per slot.
    """

    corpus: Corpus
    conditions: list[str] | None
    classes: list[str]
    others: list[str]
    class_map: dict[str, str]
    pooling: str = "sum"
    _votes: dict = dataclasses.field(default_factory=dict, repr=False)
    _pooled: list[str] | None = dataclasses.field(default=None, repr=False)

    @property
    def items(self) -> pd.Index:
        return self.corpus.items.index

    @property
    def excluded(self) -> list[str]:
        """Corpus labels (before the class map) that are not selected classes."""
        return [label for label in self.corpus.classes + self.corpus.excluded if label not in self.classes]

    def _counts(self, slot: str, conditions: list[str] | None) -> pd.DataFrame:
        counts, _ = vote_counts(
            self.corpus.ratings,
            self.classes + self.others,
            slot=slot,
            conditions=conditions,
            pool=True,
            class_map=self.class_map,
            items=self.items,
        )
        return counts

    def pooled_conditions(self) -> list[str]:
        """The conditions whose votes are pooled (empty: one condition or none); found once per rule input."""
        if self._pooled is None:
            chosen = self.conditions if self.conditions is not None else self.corpus.conditions
            self._pooled = list(chosen) if len(chosen) > 1 else []
        return self._pooled

    def votes(self, slot: str) -> Votes:
        """Vote counts of ``slot`` over the class set and the other labels; mean pooling adds ``shares``.

        Mean pooling (METHODS.md section 2): each condition's distribution over all labels, averaged
        over the conditions in which the item has ratings (voice A*1,N*1 + face A*6,S*2 -> A .625,
        N .25, S .125; summed: A .7, S .2, N .1).
        """
        if slot not in self._votes:
            counts = self._counts(slot, self.conditions)
            shares = None
            pooled = self.pooled_conditions()
            if self.pooling not in POOLINGS:
                raise ConfigError(f"unknown pooling {self.pooling!r}; choose one of {', '.join(POOLINGS)}")
            if self.pooling == "mean" and pooled:
                total = np.zeros(counts.shape)
                rated = np.zeros(len(counts))
                for condition in pooled:
                    part = self._counts(slot, [condition]).to_numpy(dtype=float)
                    n = part.sum(axis=1)
                    total += part / np.where(n > 0, n, 1.0)[:, None]
                    rated += n > 0
                shares = pd.DataFrame(total / np.where(rated > 0, rated, 1)[:, None], counts.index, counts.columns)
            chosen = len(self.classes)  # counts' columns are the classes, then the others: views, not copies
            self._votes[slot] = Votes(counts.iloc[:, :chosen], counts.iloc[:, chosen:], shares)
        return self._votes[slot]

    def lists(self, slot: str = "secondary") -> tuple[pd.DataFrame, pd.Series]:
        """:func:`list_votes` of ``slot`` over the class set (needs rater ids)."""
        return list_votes(
            self.corpus.ratings,
            self.classes,
            slot=slot,
            conditions=self.conditions,
            class_map=self.class_map,
            excluded=self.excluded,
            items=self.items,
        )

    def ratings(self, slot: str) -> pd.DataFrame:
        """The long ratings (item, rater, condition, label) of ``slot`` in the chosen conditions, labels
        after the rule's class map: what rater-aware rules (Dawid-Skene ...) read."""
        selected = _select(self.corpus.ratings, slot, self.conditions, True, ["item", "rater", "label"])
        if self.class_map:  # decided once per distinct label, not per rating
            renames = {label: self.class_map.get(label, label) for label in column_codes(selected["label"])[1]}
            selected = selected.assign(label=selected["label"].map(renames))
        return selected


def majority_rule(inputs: RuleInput, options: Mapping) -> LabelSet:
    """Registry implementation of rule ``mr`` (:func:`majority`)."""
    v = inputs.votes("primary")
    return majority(v.counts, excluded=v.outside, denominator=options["denominator"], shares=v.shares)


def plurality_rule(inputs: RuleInput, options: Mapping) -> LabelSet:
    """Registry implementation of rule ``pr`` (:func:`plurality`)."""
    v = inputs.votes("primary")
    return plurality(
        v.counts,
        options["tie_policy"],
        seed=options["seed"],
        excluded=v.outside,
        denominator=options["denominator"],
        shares=v.shares,
    )


def _distribution_rule(rule: str, slot: str, inputs: RuleInput, options: Mapping, test_form: bool = False) -> LabelSet:
    v = inputs.votes(slot)
    share = options["min_selected_share"]
    return _distribution(rule, v.counts, v.outside, shares=v.shares, min_selected_share=share, test_form=test_form)


def all_inclusive_rule(inputs: RuleInput, options: Mapping) -> LabelSet:
    """Registry implementation of rule ``ar`` (:func:`all_inclusive`)."""
    return _distribution_rule("ar", "primary", inputs, options)


def all_inclusive_test_rule(inputs: RuleInput, options: Mapping) -> LabelSet:
    """Registry implementation of rule ``ar-test`` (:func:`all_inclusive_test`)."""
    return _distribution_rule("ar-test", "primary", inputs, options, test_form=True)


def primary_rule(inputs: RuleInput, options: Mapping) -> LabelSet:
    """Registry implementation of rule ``primary`` (:func:`primary_distribution`)."""
    return _distribution_rule("primary", "primary", inputs, options)


def secondary_rule(inputs: RuleInput, options: Mapping) -> LabelSet:
    """Registry implementation of rule ``secondary`` (:func:`secondary_distribution`)."""
    return _distribution_rule("secondary", "secondary", inputs, options)


def likert_rule(inputs: RuleInput, options: Mapping) -> LabelSet:
    """Registry implementation of rule ``likert`` (:func:`likert_scores`, :func:`likert_binarize`)."""
    corpus = inputs.corpus
    scope = {
        "conditions": inputs.conditions,
        "class_map": inputs.class_map,
        "excluded": inputs.excluded,
        "items": inputs.items,
    }
    counts, outside = vote_counts(corpus.ratings, inputs.classes, slot="intensity", **scope)
    method = options["gold_standard"] or "mean"
    if method in ("ewe", "znorm"):
        corpus.require_rater_ids(f"rule 'likert' with gold_standard {method} (which weighs or normalises each rater)")
    scores, raters, aside = _likert_gold(corpus.ratings, inputs.classes, method, "intensity",
                                         corpus.scales.get("intensity"), scope["conditions"], True,
                                         inputs.class_map, inputs.excluded, inputs.items,
                                         options["min_ratings_per_rater"])  # fmt: skip
    cut = DEFAULT_LIKERT_THRESHOLD if options["threshold"] is None else options["threshold"]
    labels = likert_binarize(scores, cut, counts=counts, excluded=outside, set_aside=aside)
    return dataclasses.replace(labels, raters=raters)


def intervals_rule(inputs: RuleInput, options: Mapping) -> LabelSet:
    """Registry implementation of rule ``intervals`` (:func:`interval_consensus`)."""
    corpus = inputs.corpus
    selected = _select(corpus.ratings, None, inputs.conditions, True)
    selected = selected[selected["slot"].isin(EMOTION_SLOTS).to_numpy() & selected["start"].notna().to_numpy()]
    if selected.empty:
        raise ConfigError(f"corpus {corpus.name!r} has no time-interval ratings (start/end) for rule 'intervals'")
    level = 1 if options["level"] is None else options["level"]
    return interval_consensus(
        selected, inputs.classes, level=level, class_map=inputs.class_map, excluded=inputs.excluded
    )


def _filter(labels: LabelSet, rule: Rule, inputs: RuleInput, options: Mapping) -> LabelSet:
    """The agreement filters (P*, S*, k of n) of ``options`` on a counting rule's label set."""
    fraction, k = options["min_agreement"], options["min_raters_agree"]
    if rule.slots == ("secondary",):
        votes, lists = inputs.lists()
        return filter_agreement(labels, fraction, min_raters_agree=k, votes=votes, raters=lists)
    v = inputs.votes(rule.slots[0])
    return filter_agreement(
        labels, fraction, min_raters_agree=k, excluded=v.outside, denominator=options["denominator"], shares=v.shares
    )


def _apply(spec: Rule, inputs: RuleInput, checked: dict) -> LabelSet:
    """Run the rule's implementation on ``inputs``, then its agreement filters and label smoothing."""
    labels = spec.function()(inputs, checked)
    if checked.get("min_agreement") is not None or checked.get("min_raters_agree") is not None:
        labels = _filter(labels, spec, inputs, checked)
    if checked.get("smoothing"):
        labels = smooth(labels, checked["smoothing"])
    return labels


def counting_rules() -> list[str]:
    """The rules that read nothing but the vote counts of the primary slot (no rater ids, not learned).

    >>> counting_rules()
    ['mr', 'pr', 'ar', 'ar-test', 'primary']
    """
    return [r.name for r in REGISTRY.values() if r.slots == ("primary",) and not r.learned and r.rater_ids is False]


def labels_from_counts(rule: str, counts: pd.DataFrame, outside: pd.DataFrame, **options) -> LabelSet:
    """Apply a counting rule (:func:`counting_rules`) to vote counts, as :func:`make_labels` does to a corpus.

    The rows need not be items of a corpus: :mod:`voxpop.agreement.budget` passes one row per drawn subset of
    an item's raters, so every subset is labelled by the same code as the full panel.

    Args:
        rule: a rule of :func:`counting_rules`.
        counts: rows x selected classes, whole non-negative vote counts.
        outside: rows x every other label (the votes outside the class set; zero columns allowed).
        **options: the rule's options (:data:`voxpop.labels.registry.OPTIONS`).

    Returns:
        The :class:`~voxpop.labels.labelset.LabelSet` of the rows (``targets``, ``kept``, ``counts``,
        ``accounting``).

    Raises:
        ConfigError: a rule that reads more than the counts (rater ids, other slots, a learned model), or a bad
            option.

    Example:
        >>> counts = pd.DataFrame([[2, 1], [1, 1]], index=["a", "b"], columns=["A", "S"])
        >>> labels_from_counts("mr", counts, counts.iloc[:, :0]).kept.tolist()
        [True, False]
    """
    if rule not in counting_rules():
        get_rule(rule)  # an unknown rule: the registry's message
        raise ConfigError(
            f"rule {rule!r} needs more than vote counts (rater ids, another slot or a fitted model); "
            f"the rules that label from counts alone are {', '.join(counting_rules())}"
        )
    spec = get_rule(rule)
    checked = check_options(rule, options)
    inputs = RuleInput(None, None, [str(c) for c in counts.columns], [str(c) for c in outside.columns], {})  # type: ignore[arg-type]
    inputs._votes["primary"] = Votes(counts, outside)
    return _apply(spec, inputs, checked)


def make_labels(
    corpus: Corpus,
    rule: str,
    *,
    condition: str | Sequence[str] | None = None,
    pool: bool = False,
    classes: Sequence[str] | None = None,
    class_map: Mapping[str, str] | None = None,
    **options,
) -> LabelSet:
    """Apply label ``rule`` of the registry (:mod:`voxpop.labels.registry`: mr, pr, ar, ar-test, primary, secondary,
    likert, intervals) to ``corpus`` (METHODS.md section 2).

    Every label outside the class set (dropped ones included) is counted in N_i (``denominator`` "all") and in
    the accounting, never a target. Everything used is recorded in ``LabelSet.options``.

    Args:
        corpus: the corpus whose ratings are counted.
        rule: a rule of :data:`voxpop.labels.registry.RULES`.
        condition: one condition or a list (a list needs ``pool=True``). A corpus with several conditions and
            neither ``condition`` nor ``pool`` given is an error.
        pool: pool conditions (all of them when ``condition`` is None), by the rule option ``pooling``
            ("sum" of the votes, or "mean" of the per-condition distributions).
        classes: the class set, a subset of the (mapped) corpus classes; default all of them.
        class_map: renames or merges corpus labels (e.g. ``{"excited": "happy"}``) before any rule counts, or
            removes one from the class set (``{"calm": "drop"}``; :mod:`voxpop.corpus.classmap`: a key must be
            a corpus label, a value ``drop``, a corpus label or a class of ``classes``).
        **options: the rule's options (:data:`voxpop.labels.registry.OPTIONS`: denominator, min_agreement,
            min_raters_agree, min_selected_share, tie_policy, seed, threshold, level, smoothing, pooling).

    Returns:
        The :class:`~voxpop.labels.labelset.LabelSet`: ``targets`` (items x classes in [0, 1]), ``kept``,
        ``counts`` and the ``accounting`` of data and rating loss.

    Raises:
        ConfigError: unknown rule, an option of another rule or a bad value, several conditions and no choice,
            or a rule reading a slot the corpus has no ratings in (``mr`` on a Likert-only corpus; naming the
            corpus's slots and the rules that read them).
        VoxpopError: the rule needs rater ids the corpus lacks.

    Example:
        >>> items = pd.DataFrame(index=["x", "y"])
        >>> ratings = pd.DataFrame({"item": ["x", "x", "x", "y", "y"], "label": ["A", "A", "S", "A", "S"]})
        >>> labels = make_labels(Corpus("toy", items, ratings, classes=["A", "S"]), "mr")
        >>> labels.kept.tolist(), labels.accounting.data_loss, labels.accounting.rating_loss
        ([True, False], 0.5, 0.6)
    """
    spec = get_rule(rule)
    checked = check_options(rule, options)
    conditions = _resolve_conditions(corpus, condition, pool)
    class_set, others, mapping = resolve_classes(
        corpus.classes, corpus.excluded, classes, class_map, corpus=corpus.name
    )
    spec.check_slots(corpus, conditions)
    needs = spec.rater_ids_reason(checked)
    if needs:
        corpus.require_rater_ids(needs)
    inputs = RuleInput(corpus, conditions, class_set, others, mapping.renames, checked.get("pooling", "sum"))
    labels = _apply(spec, inputs, checked)
    scope = {"condition": conditions, "pool": pool, "classes": class_set, "class_map": dict(class_map or {})}
    if "pooling" in checked and not inputs.pooled_conditions():
        checked["pooling"] = None  # nothing was pooled
    return dataclasses.replace(labels, options=labels.options | scope | checked)


def accounting_table(
    corpus: Corpus,
    rules: Sequence[str] = ("mr", "pr", "ar"),
    *,
    classes: Sequence[str] | None = None,
    class_map: Mapping[str, str] | None = None,
    **options,
) -> pd.DataFrame:
    """Data and rating loss of each rule on each condition and, with several conditions, pooled ("all").

    Args:
        corpus: the corpus whose ratings are counted.
        rules: the rules to compare (names of :data:`voxpop.labels.registry.RULES`).
        classes: the class set (see :func:`make_labels`).
        class_map: label renames (see :func:`make_labels`).
        **options: rule options (e.g. tie_policy, denominator, pooling), each given to the rules that take it.

    Returns:
        One row per (condition, rule): ``condition`` (``all`` for the pooled row), ``rule``, the
        ``denominator`` and ``pooling`` used ("-" where the rule or the row has none), and the
        :class:`~voxpop.labels.labelset.Accounting` fields with ``data_loss`` and ``rating_loss`` in [0, 1].

    Raises:
        ConfigError: as :func:`make_labels`.
    """
    present = corpus.conditions
    scopes = [(c, {"condition": c}) for c in present] if len(present) > 1 else []
    scopes.append((present[0] if len(present) == 1 else "all", {"pool": True}))
    rows = []
    for name, scope in scopes:
        for rule in rules:
            given = {k: v for k, v in options.items() if k in get_rule(rule).options}
            labels = make_labels(corpus, rule, classes=classes, class_map=class_map, **scope, **given)
            used = {k: labels.options.get(k) or "-" for k in ("denominator", "pooling")}
            rows.append({"condition": name, "rule": rule, **used, **labels.accounting.as_dict()})
    return pd.DataFrame(rows)


def is_label_file(source: str) -> bool:
    """Whether a ``--labels`` value names a saved label set (an existing file or a ``.parquet`` path), not a rule."""
    return Path(source).suffix == ".parquet" or Path(source).is_file()


def resolve_labels(
    corpus: Corpus,
    source: str,
    *,
    condition: Sequence[str] | None = None,
    pool: bool = False,
    **options: Any,
) -> LabelSet:
    """A label set from a saved file (``*.parquet``) or a rule of the registry (:mod:`voxpop.labels.registry`) applied
    to
    ``corpus`` with its ``options`` (ConfigError for rule options given with a saved file, or for a
    ``source`` that is neither). A saved file may hold a continuous label set (:func:`load_label_set`)."""
    path = Path(source)
    if is_label_file(source):
        if condition or pool or options:
            given = ", ".join(["--condition"] * bool(condition) + ["--pool"] * pool + [*options])
            raise ConfigError(f"{given} apply to label rules; {source} is a saved label set.")
        return load_label_set(path)
    if source not in RULES:
        raise ConfigError(
            f"labels {source!r} is neither a label set file (.parquet) nor a rule; the rules are {', '.join(RULES)}."
        )
    chosen = list(condition) if condition else None
    return make_labels(corpus, source, condition=chosen, pool=pool, **options)
