"""Class maps and class lists: one parser and one validator for every entry point.

A class map renames or merges labels (``angry=anger``, ``excited=happy``) or removes them (``calm=drop``).
It means the same in ``voxpop labels``, ``voxpop train``, a recipe's ``class_map``, ``voxpop merge`` and a
corpus's ``corpus.yaml``:

- the value ``drop`` (and only it) removes a label from the class set: its ratings stay as excluded
  ratings (counted in the accounting and, with ``denominator: all``, in every item's N_i), never a target;
- a key must be a label of the corpus (refused with the corpus's labels listed);
- a value must be ``drop``, a label of the corpus (or, when merging, of one of the merged corpora) or a
  class listed in ``classes``: a typo never silently creates a new class;
- a label mapped to two targets, and a class listed twice, are refused;
- a label renamed onto a label the same map drops (``anger=drop,happy=anger``) is refused: the dropped
  ratings keep their name and would count as the renamed class.

:func:`parse_class_map` reads ``LABEL=NEW`` texts, :func:`check_classes` a class list,
:func:`check_class_map` validates a map against a corpus's labels and :func:`resolve_classes` gives the
class set of a label rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from voxpop.core.errors import ConfigError

DROP = "drop"


def parse_class_map(texts: Iterable[str], option: str = "--class-map") -> dict[str, str]:
    """``LABEL=NEW`` texts (several comma-separated pairs per text allowed) as one class map.

    Args:
        texts: the option's values, e.g. ``["angry=anger,calm=drop", "fearful=fear"]``.
        option: how the user named the option, for messages.

    Returns:
        ``{label: new}`` in the order given; ``new`` may be ``"drop"``.

    Raises:
        ConfigError: a pair that is not ``LABEL=NEW``, or one label mapped to two different targets.

    >>> parse_class_map(["angry=anger,calm=drop", "fearful=fear"])
    {'angry': 'anger', 'calm': 'drop', 'fearful': 'fear'}
    >>> parse_class_map(["anger=happy", "anger=sad"])
    Traceback (most recent call last):
    ...
    voxpop.core.errors.ConfigError: --class-map: label 'anger' is mapped to both 'happy' and 'sad'; map each label once
    """
    mapping: dict[str, str] = {}
    for text in texts:
        for pair in filter(None, (p.strip() for p in text.split(","))):
            label, eq, new = pair.partition("=")
            label, new = label.strip(), new.strip()
            if not eq or not label or not new:
                raise ConfigError(f"{option} {text!r}: {pair!r} is not LABEL=NEW (NEW may be '{DROP}')")
            _add(mapping, label, new, option)
    return mapping


def _add(mapping: dict[str, str], label: str, new: str, option: str) -> None:
    if label in mapping and mapping[label] != new:
        raise ConfigError(
            f"{option}: label {label!r} is mapped to both {mapping[label]!r} and {new!r}; map each label once"
        )
    mapping[label] = new


def check_classes(classes: Sequence[str] | None, option: str = "classes") -> list[str] | None:
    """A class list as strings, refusing an empty list and a class listed twice (None stays None).

    Raises:
        ConfigError: naming ``option`` and the repeated classes.

    >>> check_classes(["anger", "sad"])
    ['anger', 'sad']
    >>> check_classes(["anger", "anger"])
    Traceback (most recent call last):
    ...
    voxpop.core.errors.ConfigError: classes: 'anger' is listed twice; list each class once
    """
    if classes is None:
        return None
    names = [str(c) for c in classes]
    if not names:
        raise ConfigError(f"{option}: the class list is empty; list at least one class or leave it out")
    repeated = list(dict.fromkeys(c for c in names if names.count(c) > 1))
    if repeated:
        listed = ", ".join(repr(c) for c in repeated)
        raise ConfigError(
            f"{option}: {listed} {'is' if len(repeated) == 1 else 'are'} listed twice; list each class once"
        )
    return names


@dataclasses.dataclass(frozen=True)
class ClassMap:
    """A validated class map: ``renames`` (label -> new label) and ``dropped`` (labels mapped to ``drop``)."""

    renames: dict[str, str]
    dropped: tuple[str, ...]

    def mapped(self, labels: Iterable[str]) -> list[str]:
        """``labels`` after the map, dropped ones left out, each once, in order.

        >>> ClassMap({"angry": "anger"}, ("calm",)).mapped(["angry", "calm", "sad"])
        ['anger', 'sad']
        """
        return list(dict.fromkeys(self.renames.get(x, x) for x in labels if x not in self.dropped))


def check_class_map(
    class_map: Mapping[str, str] | None,
    labels: Sequence[str],
    *,
    corpus: str,
    targets: Iterable[str] = (),
    classes: Sequence[str] | None = None,
    option: str = "class map",
) -> ClassMap:
    """Validate ``class_map`` against the labels of a corpus.

    Args:
        class_map: ``{label: new}``; ``new`` is ``"drop"``, a label or a class of ``classes``.
        labels: every label of the corpus (its classes, then its excluded labels): the allowed keys.
        corpus: the corpus's name, for messages.
        targets: further allowed values (when merging: the labels of the other corpora).
        classes: the chosen class list (``--classes``), whose names are allowed values too.
        option: how the user named the map, for messages (``--class-map``, ``corpora.ravdess.class_map``).

    Returns:
        The :class:`ClassMap` (renames without ``drop``; the dropped labels).

    Raises:
        ConfigError: a key that is not a label of the corpus (its labels listed), or a value that would
            create a class that is neither a label nor listed in ``classes``.

    >>> check_class_map({"calm": "drop", "angry": "anger"}, ["angry", "calm"], corpus="toy", classes=["anger"])
    ClassMap(renames={'angry': 'anger'}, dropped=('calm',))
    >>> check_class_map({"angry": "angr"}, ["angry", "calm"], corpus="toy")
    Traceback (most recent call last):
    ...
    voxpop.core.errors.ConfigError: class map angry=angr: 'angr' would be a new class; ...
    """
    class_map = dict(class_map or {})
    labels = [str(x) for x in labels]
    unknown = [k for k in class_map if k not in labels]
    if unknown:
        raise ConfigError(
            f"{option}: {unknown} are not labels of corpus {corpus!r}; "
            f"its labels are {', '.join(labels) or 'none'}"
        )
    allowed = {*labels, *targets, *(classes or ())}
    for label, new in class_map.items():
        if new != DROP and new not in allowed:
            raise ConfigError(
                f"{option} {label}={new}: {new!r} would be a new class; map {label!r} onto a label of the corpus "
                f"({', '.join(dict.fromkeys([*labels, *targets]))}), list {new!r} in classes (--classes) to make it "
                f"a class, or map it to '{DROP}' to remove it"
            )
    problems = renamed_onto_dropped(class_map, option)
    if problems:
        raise ConfigError(problems[0])
    renames = {k: v for k, v in class_map.items() if v != DROP}
    return ClassMap(renames, tuple(k for k, v in class_map.items() if v == DROP))


def renamed_onto_dropped(class_map: Mapping[str, str], option: str = "class map") -> list[str]:
    """One message per label that ``class_map`` renames onto a label the same map drops: a dropped label keeps its
    name (as an excluded label), so its ratings would count as the renamed class and the drop would be undone.

    >>> renamed_onto_dropped({"anger": "drop", "happy": "anger"})
    ["class map happy=anger: 'anger' is dropped by the same map (anger=drop), so its ratings ... or keep 'anger'"]
    """
    dropped = {k for k, v in class_map.items() if v == DROP}
    return [
        f"{option} {label}={new}: {new!r} is dropped by the same map ({new}={DROP}), so its ratings could not be "
        f"told apart from those of {label!r}; map {label!r} onto another name, or keep {new!r}"
        for label, new in class_map.items()
        if new != DROP and new in dropped
    ]


def resolve_classes(
    corpus_classes: Sequence[str],
    corpus_excluded: Sequence[str],
    classes: Sequence[str] | None,
    class_map: Mapping[str, str] | None,
    *,
    corpus: str,
) -> tuple[list[str], list[str], ClassMap]:
    """The class set of a label rule on a corpus, every other label, and the validated class map.

    Args:
        corpus_classes: the corpus's classes, in order.
        corpus_excluded: its excluded labels.
        classes: the chosen subset (None: every class after the map).
        class_map: the rule-level class map (``drop`` removes a label; see :func:`check_class_map`).
        corpus: the corpus's name, for messages.

    Returns:
        ``(class set, other labels, class map)``: the other labels are every label after the renames that is
        not in the class set (dropped labels keep their own name), counted as excluded ratings by the rules.

    Raises:
        ConfigError: from :func:`check_classes` and :func:`check_class_map`, or a class of ``classes`` that is
            not a class after the map.

    >>> resolve_classes(["angry", "calm", "sad"], ["other"], None, {"calm": "drop"}, corpus="toy")[:2]
    (['angry', 'sad'], ['calm', 'other'])
    """
    listed = check_classes(classes)
    known = [*corpus_classes, *corpus_excluded]
    mapping = check_class_map(class_map, known, corpus=corpus, classes=listed)
    mapped = [c for c in mapping.mapped(corpus_classes) if c not in corpus_excluded]
    mapped += [c for c in mapping.renames.values() if listed and c in listed and c not in mapped]
    if listed is None:
        chosen = mapped
    else:
        chosen = listed
        bad = [c for c in chosen if c not in mapped]
        if bad:
            raise ConfigError(
                f"classes: {bad} are not classes of corpus {corpus!r} (after the class map: {', '.join(mapped)})"
            )
    others = [label for label in dict.fromkeys(mapping.renames.get(k, k) for k in known) if label not in chosen]
    return chosen, others, mapping
