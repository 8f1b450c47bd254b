"""Merging corpora for cross-corpus work: one class set, namespaced ids, every change counted.

``merge_corpora`` joins several :class:`~voxpop.corpus.corpus.Corpus` objects into one. Each source gets a
namespace (by default its corpus name) that prefixes its item, rater and speaker ids
(``ravdess:03-01-05-01-01-01-01``, ``crema-d:rater 17``): rater ``E1`` of two corpora is two people,
and so is speaker ``1001``. A class map per corpus renames emotion labels (RAVDESS ``angry -> anger``)
or drops them (``calm -> drop``). A dropped label stops being a class; its ratings stay in the merged
corpus as an excluded label, so label rules that count every rating (METHODS.md section 2) still see
them. An item left with emotion ratings on dropped labels only has nothing to learn from and is
removed; the accounting table counts it, with the renamed and dropped ratings, per corpus.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from voxpop.core.errors import ConfigError
from voxpop.corpus.classmap import DROP, ClassMap, check_class_map, check_classes, parse_class_map
from voxpop.corpus.codes import as_text
from voxpop.corpus.corpus import EMOTION_SLOTS, STRING, Corpus
from voxpop.corpus.media_paths import common_root
from voxpop.corpus.slots import LabelOrder

SEPARATOR = ":"
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NAMESPACED_ITEM_COLUMNS = ("speaker",)


@dataclasses.dataclass(frozen=True)
class MergeSource:
    """One corpus to merge: its namespace and its class map.

    Args:
        corpus: the corpus.
        namespace: the prefix of its ids in the merged corpus (``namespace:item``; letters, digits, ``_.-``).
        class_map: its label -> the merged corpus's label, or ``"drop"`` (an excluded label); labels not in it
            keep their name.
    """

    corpus: Corpus
    namespace: str
    class_map: Mapping[str, str] = dataclasses.field(default_factory=dict)


def _labels(corpus: Corpus) -> list[str]:
    return [*corpus.classes, *corpus.excluded]


def class_map_problems(
    sources: Sequence[MergeSource], classes: Sequence[str] | None = None, option: str = "class map of corpus {!r}"
) -> list[str]:
    """Every source's class map checked by :func:`voxpop.corpus.classmap.check_class_map` (keys: the source's labels;
    values: ``drop``, a label of any source, a name another source's map also maps onto (the shared name two
    corpora agree on) or a class of ``classes``), one message per faulty map; a label one map drops while
    another corpus keeps it as a class is refused (the dropped ratings keep their name). ``option``: how a map is named
    in messages, formatted with the namespace."""
    problems = []
    for source in sources:
        others = [
            label
            for other in sources
            if other is not source
            for label in [*_labels(other.corpus), *other.class_map.values()]
            if label != DROP
        ]
        try:
            check_class_map(
                source.class_map, _labels(source.corpus), corpus=source.corpus.name, targets=others, classes=classes,
                option=option.format(source.namespace),
            )  # fmt: skip
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        kept_by = {
            c: other.namespace
            for other in sources
            if other is not source
            for c in mapped_classes(other)
            if classes is None or c in classes  # a class of the merge, not an excluded label
        }
        for label in (k for k, v in source.class_map.items() if v == DROP and k in kept_by):
            problems.append(  # a dropped label keeps its name: in the merge its ratings would count as that class
                f"{option.format(source.namespace)} {label}={DROP}: {label!r} is a class of corpus "
                f"{kept_by[label]!r} after its class map, so the dropped ratings would count as that class in "
                f"the merged corpus; drop {label!r} in every corpus, or keep it"
            )
    return problems


def _check_sources(sources: Sequence[MergeSource], classes: Sequence[str] | None) -> None:
    if len(sources) < 2:
        raise ConfigError(f"merging needs at least two corpora, got {len(sources)}")
    seen: set[str] = set()
    for source in sources:
        if not _NAMESPACE.match(source.namespace):
            raise ConfigError(
                f"corpus namespace {source.namespace!r}: use letters, digits, '_', '.' or '-' "
                "(it prefixes every item and rater id, followed by ':')"
            )
        if source.namespace in seen:
            raise ConfigError(
                f"two corpora share the namespace {source.namespace!r}; name them apart, "
                "e.g. 'voxpop merge a=DIR1 b=DIR2' in the CLI or MergeSource(namespace=...) in Python"
            )
        seen.add(source.namespace)
        corpus = source.corpus
        if "corpus" in corpus.items.columns and source.namespace != "":
            values = corpus.items["corpus"].dropna().unique()
            if len(values) > 1:
                raise ConfigError(
                    f"corpus {source.namespace!r} is already a merge of {sorted(map(str, values))}; "
                    "merge the original corpora in one call instead"
                )
    problems = class_map_problems(sources, classes)
    if problems:
        raise ConfigError("\n".join(problems))


def _mapped_labels(source: MergeSource) -> tuple[list[str], list[str], set[str]]:
    """The source's classes and excluded labels after its class map, and the labels it drops."""
    mapping = ClassMap({k: v for k, v in source.class_map.items() if v != DROP},
                       tuple(k for k, v in source.class_map.items() if v == DROP))  # fmt: skip
    return mapping.mapped(source.corpus.classes), mapping.mapped(source.corpus.excluded), set(mapping.dropped)


def mapped_classes(source: MergeSource) -> list[str]:
    """The source corpus's classes after its class map (dropped ones left out), in the corpus's order."""
    return _mapped_labels(source)[0]


def _prefix(values: pd.Series, namespace: str) -> pd.Series:
    """``namespace:value`` for every non-missing value (missing stays missing: count-only raters)."""
    text = values.astype(STRING)
    return (namespace + SEPARATOR + text).astype(STRING)


def merge_corpora(
    sources: Sequence[MergeSource],
    *,
    classes: Sequence[str] | None = None,
    name: str | None = None,
) -> tuple[Corpus, pd.DataFrame]:
    """Merge corpora into one with namespaced ids, a shared class set and a ``corpus`` item column.

    Args:
        sources: the corpora, each with a namespace (letters, digits, ``_.-``) and a class map whose values
            are a new label or ``"drop"``. Labels not in the map keep their name.
        classes: the merged class list, in order. Default: the union of every source's mapped classes in
            order of first appearance. A mapped class outside this list becomes an excluded label.
        name: the merged corpus's name (default: the namespaces joined with ``+``).

    Returns:
        ``(corpus, accounting)``: the merged :class:`Corpus` (item ids ``namespace:id``), and ``accounting``
        with one row per source (index = namespace) and the columns ``items``, ``items_kept``,
        ``items_dropped`` (items whose emotion ratings all carry dropped labels), ``ratings``,
        ``ratings_kept``, ``ratings_renamed`` (kept ratings whose label the map changed),
        ``ratings_dropped_label`` (kept ratings on a dropped label, now excluded) and
        ``ratings_of_dropped_items``.

    Raises:
        ConfigError: fewer than two sources, a repeated or malformed namespace, a class map naming a label
            the corpus does not have or mapping one onto a name that is no label of any source and not in
            ``classes`` (:func:`voxpop.corpus.classmap.check_class_map`), a class listed twice, a ``classes``
            list naming no label of any source, or one slot declared with two different scales (rescale one
            corpus first; scales are never changed silently).

    Example:
        RAVDESS-like and CREMA-D-like corpora, with ``angry -> anger`` and ``calm -> drop``:

        >>> ra = Corpus("ravdess", pd.DataFrame({"speaker": ["1", "1"]}, index=["r1", "r2"]),
        ...             pd.DataFrame({"item": ["r1", "r2"], "label": ["angry", "calm"]}), classes=["angry", "calm"])
        >>> cr = Corpus("crema-d", pd.DataFrame({"speaker": ["1"]}, index=["c1"]),
        ...             pd.DataFrame({"item": ["c1", "c1"], "rater": ["E1", "E2"], "label": ["anger", "sad"]}),
        ...             classes=["anger", "sad"])
        >>> merged, counts = merge_corpora([MergeSource(ra, "ravdess", {"angry": "anger", "calm": "drop"}),
        ...                                 MergeSource(cr, "crema-d")])
        >>> merged.classes, merged.excluded
        (['anger', 'sad'], ['calm'])
        >>> merged.items[["speaker", "corpus"]].to_dict("index")  # doctest: +NORMALIZE_WHITESPACE
        {'ravdess:r1': {'speaker': 'ravdess:1', 'corpus': 'ravdess'},
         'crema-d:c1': {'speaker': 'crema-d:1', 'corpus': 'crema-d'}}
        >>> counts.loc["ravdess", ["items", "items_dropped", "ratings_renamed"]].tolist()
        [2, 1, 1]
    """
    classes = check_classes(classes)
    _check_sources(sources, classes)
    mapped = [_mapped_labels(s) for s in sources]
    union_classes = list(dict.fromkeys(c for m in mapped for c in m[0]))
    if classes is None:
        classes = union_classes
    else:
        unknown = [c for c in classes if c not in union_classes]
        if unknown:
            raise ConfigError(
                f"classes {unknown} are not classes of any merged corpus after its class map "
                f"(available: {', '.join(union_classes)}); map a corpus's label onto them or leave them out"
            )
    all_labels = dict.fromkeys(
        [*union_classes, *(e for m in mapped for e in m[1]), *(d for m in mapped for d in sorted(m[2]))]
    )
    excluded = [label for label in all_labels if label not in classes]
    scales = _merged_scales(sources)

    items_parts, ratings_parts, rows = [], [], {}
    for source, (_, _, dropped) in zip(sources, mapped, strict=True):
        items, ratings, row = _namespaced(source, dropped)
        items_parts.append(items)
        ratings_parts.append(ratings)
        rows[source.namespace] = row
    items = pd.concat(items_parts)
    ratings = pd.concat(ratings_parts, ignore_index=True)
    merged = Corpus(
        name or "+".join(s.namespace for s in sources),
        items,
        ratings,
        classes=classes,
        excluded=excluded,
        scales=scales,
        slots=_merged_slots(sources),
        source="merge of " + ", ".join(f"{s.namespace} ({s.corpus.name})" for s in sources),
        description=_describe(sources, rows),
        audio_root=common_root([s.corpus.audio_root for s in sources if "audio" in s.corpus.items.columns]),
    )
    accounting = pd.DataFrame.from_dict(rows, orient="index")
    accounting.index.name = "corpus"
    return merged, accounting


def mapped_corpus(source: MergeSource, classes: Sequence[str] | None = None) -> Corpus:
    """One corpus exactly as :func:`merge_corpora` includes it: ids namespaced, emotion labels mapped by the
    class map, items whose emotion ratings all carry dropped labels removed; its classes are ``classes`` (the
    merged class list; default: the mapped classes), its excluded labels the other mapped labels and the
    dropped ones. ``corpus`` item column: the namespace. Used to score a run on one of its study's corpora as
    the study did.

    >>> c = Corpus("x", pd.DataFrame(index=["i1", "i2"]), pd.DataFrame({"item": ["i1", "i2"], "rater": ["r", "r"],
    ...            "label": ["angry", "calm"]}), classes=["angry", "calm"])
    >>> m = mapped_corpus(MergeSource(c, "x", {"angry": "anger", "calm": "drop"}))
    >>> list(m.items.index), m.classes, m.excluded
    (['x:i1'], ['anger'], ['calm'])
    """
    mapped, excluded, dropped = _mapped_labels(source)
    items, ratings, _ = _namespaced(source, dropped)
    chosen = mapped if classes is None else [str(c) for c in classes]
    return Corpus(
        source.corpus.name,
        items,
        ratings,
        classes=chosen,
        excluded=[c for c in dict.fromkeys([*mapped, *excluded, *sorted(dropped)]) if c not in chosen],
        scales=dict(source.corpus.scales),
        source=f"{source.namespace} ({source.corpus.name}) as merged",
    )


def _merged_scales(sources: Sequence[MergeSource]) -> dict[str, tuple[float, float]]:
    """The value scales of every source; one slot with two scales is refused."""
    return _merged_per_slot(
        sources,
        "scale",
        lambda scale: f"{scale[0]:g}..{scale[1]:g}",
        lambda slot: "rescale one corpus's values linearly onto the other's scale before merging",
    )


def _merged_slots(sources: Sequence[MergeSource]) -> dict[str, LabelOrder]:
    """The declared label orders of every source (:mod:`voxpop.corpus.slots`); one slot declared two ways is refused."""
    return _merged_per_slot(
        sources,
        "order",
        lambda declared: str(declared.to_yaml()),
        lambda slot: f"make corpus.yaml slots.{slot} the same in both before merging",
    )


def _merged_per_slot(
    sources: Sequence[MergeSource], what: str, show: Callable[[Any], str], remedy: Callable[[str], str]
) -> dict[str, Any]:
    """The union of one per-slot declaration of the sources' corpora (``what``: ``scale`` reads
    ``Corpus.scales``, ``order`` ``Corpus.slots``); a slot that two corpora declare differently is a
    ConfigError naming both corpora and what to do."""
    attribute = {"scale": "scales", "order": "slots"}[what]
    merged: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for source in sources:
        for slot, value in getattr(source.corpus, attribute).items():
            if slot in merged and merged[slot] != value:
                raise ConfigError(
                    f"slot {slot!r} has {what} {show(merged[slot])} in corpus {owner[slot]!r} but {show(value)} "
                    f"in corpus {source.namespace!r}; {remedy(slot)}"
                )
            merged[slot], owner[slot] = value, source.namespace
    return merged


def _namespaced(source: MergeSource, dropped: set[str]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """One source's items and ratings with namespaced ids and mapped labels, and its counts."""
    corpus, ns = source.corpus, source.namespace
    ratings = as_text(corpus.ratings)  # labels renamed and ids prefixed below; the merged Corpus codes them again
    emotion = ratings["slot"].isin(EMOTION_SLOTS).to_numpy(dtype=bool)
    original = ratings["label"].copy()
    renames = {k: v for k, v in source.class_map.items() if v != DROP}
    ratings.loc[emotion, "label"] = original[emotion].map(lambda label: renames.get(label, label)).astype(STRING)
    on_dropped = emotion & original.isin(dropped).to_numpy(dtype=bool)
    renamed = emotion & original.isin(renames).to_numpy(dtype=bool) & (ratings["label"] != original).to_numpy(bool)

    emotion_items = ratings.loc[emotion, "item"]
    useful_items = ratings.loc[emotion & ~on_dropped, "item"]
    dropped_items = pd.Index(emotion_items.unique()).difference(pd.Index(useful_items.unique()))
    of_dropped = ratings["item"].isin(dropped_items).to_numpy(dtype=bool)

    kept_ratings = ratings[~of_dropped].copy()
    kept_ratings["item"] = _prefix(kept_ratings["item"], ns)
    kept_ratings["rater"] = _prefix(kept_ratings["rater"], ns)
    items = corpus.items.drop(index=dropped_items).copy()
    for column in NAMESPACED_ITEM_COLUMNS:
        if column in items.columns:
            items[column] = _prefix(items[column], ns)
    items.insert(len(items.columns), "source_item", pd.array(items.index, dtype=STRING))
    items["corpus"] = pd.array([ns] * len(items), dtype=STRING)
    items.index = pd.Index(ns + SEPARATOR + items.index.astype(str), name="item", dtype=STRING)
    row = {
        "items": len(corpus.items),
        "items_kept": len(items),
        "items_dropped": len(dropped_items),
        "ratings": len(ratings),
        "ratings_kept": len(kept_ratings),
        "ratings_renamed": int((renamed & ~of_dropped).sum()),
        "ratings_dropped_label": int((on_dropped & ~of_dropped).sum()),
        "ratings_of_dropped_items": int(of_dropped.sum()),
    }
    return items, kept_ratings, row


def _describe(sources: Sequence[MergeSource], rows: Mapping[str, Mapping[str, int]]) -> str:
    parts = []
    for source in sources:
        row = rows[source.namespace]
        changes = ", ".join(f"{k} -> {v}" for k, v in source.class_map.items()) or "no class map"
        parts.append(
            f"{source.namespace}: {row['items_kept']} of {row['items']} items kept "
            f"({row['items_dropped']} with only dropped labels removed); {changes}"
        )
    return "Merged corpora. " + "; ".join(parts) + "."


def read_class_maps(texts: Sequence[str], namespaces: Sequence[str]) -> dict[str, dict[str, str]]:
    """``NAMESPACE:LABEL=NEW`` texts (comma-separated pairs allowed) as one class map per namespace.

    >>> read_class_maps(["ravdess:angry=anger,calm=drop", "ravdess:fearful=fear"], ["ravdess", "crema-d"])
    {'ravdess': {'angry': 'anger', 'calm': 'drop', 'fearful': 'fear'}, 'crema-d': {}}
    >>> read_class_maps(["msp:angry=anger"], ["ravdess"])
    Traceback (most recent call last):
    ...
    voxpop.core.errors.ConfigError: --class-map 'msp:angry=anger': 'msp' is not one of the merged corpora (ravdess); ...
    """
    maps: dict[str, dict[str, str]] = {ns: {} for ns in namespaces}
    for text in texts:
        namespace, sep, pairs = text.partition(SEPARATOR)
        if not sep:
            raise ConfigError(
                f"--class-map {text!r}: expected CORPUS:LABEL=NEW[,LABEL=NEW...], e.g. 'ravdess:angry=anger,calm=drop'"
            )
        if namespace not in maps:
            raise ConfigError(
                f"--class-map {text!r}: {namespace!r} is not one of the merged corpora ({', '.join(namespaces)}); "
                "name a corpus by the name before '=' in its argument, or by its corpus name"
            )
        for label, new in parse_class_map([pairs], f"--class-map {text!r}").items():
            if maps[namespace].get(label, new) != new:
                raise ConfigError(
                    f"--class-map: label {label!r} of corpus {namespace!r} is mapped to both "
                    f"{maps[namespace][label]!r} and {new!r}; map each label once"
                )
            maps[namespace][label] = new
    return maps

