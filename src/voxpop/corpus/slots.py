"""Declared order (and values) of label slots: age groups, mood, any ordered categorical answer.

A label slot (labels without numbers, e.g. ``age`` = teens, 20s ... or ``mood`` = Awful ... Great) has
no order of its own: sorting its labels as text puts ``teens`` after ``80s``. A corpus declares the
order, and optionally a number per label, in ``corpus.yaml``::

    slots:
      age: {order: [teens, 20s, 30s, 40s, 50s, 60s, 70s, 80s, 90s]}
      mood: {order: [Awful, Bad, Meh, Good, Great], values: {Awful: 1, Bad: 2, Meh: 3, Good: 4, Great: 5}}

The ordinal level of Krippendorff's alpha needs the order; the interval and ratio levels need the
values (increasing along the order). ``voxpop agreement --order`` / ``--values`` give or replace them for
one run. Without them those levels are refused rather than computed on an alphabetical order.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from voxpop.core.errors import ConfigError, InputError
from voxpop.core.formatting import excerpt

ORDER_OPTION = "--order"
VALUES_OPTION = "--values"


@dataclasses.dataclass(frozen=True)
class LabelOrder:
    """The order of a label slot's labels, lowest first, and optionally a number per label.

    >>> LabelOrder(("Awful", "Bad", "Meh")).problems()
    []
    >>> LabelOrder(("low", "high"), {"low": 2.0, "high": 1.0}).problems()
    ['values must increase along the order, but low = 2 >= high = 1']
    """

    order: tuple[str, ...]
    values: Mapping[str, float] | None = None

    def problems(self) -> list[str]:
        """What is wrong with the declaration (empty order, repeated labels, values not matching the order)."""
        if not self.order:
            return ["the order is empty; list the labels lowest first"]
        repeated = sorted({label for label in self.order if self.order.count(label) > 1})
        if repeated:
            return [f"labels listed more than once in the order: {repeated}"]
        if self.values is None:
            return []
        missing = [label for label in self.order if label not in self.values]
        extra = [label for label in self.values if label not in self.order]
        if missing or extra:
            return [f"values must give one number per label of the order; missing: {missing}, outside it: {extra}"]
        numbers = [self.values[label] for label in self.order]
        if not all(math.isfinite(n) for n in numbers):
            return [f"values must be finite numbers, got {dict(self.values)}"]
        for (a, x), (b, y) in itertools.pairwise(zip(self.order, numbers, strict=True)):
            if not x < y:
                return [f"values must increase along the order, but {a} = {x:g} >= {b} = {y:g}"]
        return []

    def renamed(self, name: Callable[[str], str]) -> LabelOrder:
        """The same declaration with every label passed through ``name`` (e.g. Unicode normal form NFC)."""
        values = None if self.values is None else {name(k): float(v) for k, v in self.values.items()}
        return LabelOrder(tuple(name(label) for label in self.order), values)

    def to_yaml(self) -> dict:
        """The ``corpus.yaml`` form: ``{order: [...], values: {...}}`` (values only when declared)."""
        out: dict = {"order": list(self.order)}
        if self.values is not None:
            out["values"] = {label: float(self.values[label]) for label in self.order}
        return out


def read_slots(raw: object, file: str) -> dict[str, LabelOrder]:
    """The ``slots`` key of ``corpus.yaml`` as slot -> :class:`LabelOrder`; missing or empty -> ``{}``.

    Only the shape is checked here (the Corpus checks the declarations and the rated labels).

    Args:
        raw: The parsed YAML value of ``slots``.
        file: The ``corpus.yaml`` path, for messages.

    Returns:
        A dict slot name -> LabelOrder.

    Raises:
        InputError: naming the file and the key when ``slots`` is not a mapping slot -> ``{order: [labels],
            values: {label: number}}``.

    >>> read_slots({"mood": {"order": ["Bad", "Good"], "values": {"Bad": -1, "Good": 1}}}, "corpus.yaml")
    {'mood': LabelOrder(order=('Bad', 'Good'), values={'Bad': -1.0, 'Good': 1.0})}
    """
    if raw is None:
        return {}
    expected = "a mapping slot -> {order: [labels, lowest first], values: {label: number}} (values optional)"
    if not isinstance(raw, dict):
        raise InputError(f"{file}, key 'slots': expected {expected}, got {type(raw).__name__} {excerpt(raw)}")
    out = {}
    for slot, spec in raw.items():
        key = f"{file}, key 'slots.{slot}'"
        if not isinstance(spec, dict) or set(spec) - {"order", "values"} or "order" not in spec:
            raise InputError(f"{key}: expected {{order: [labels], values: {{label: number}}}}, got {excerpt(spec)}")
        order = spec["order"]
        if not isinstance(order, list) or not all(isinstance(x, str | int | float) for x in order):
            raise InputError(f"{key}.order: expected a list of labels, lowest first, got {excerpt(order)}")
        values = spec.get("values")
        if values is not None and (
            not isinstance(values, dict)
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values.values())
        ):
            raise InputError(f"{key}.values: expected a mapping label -> number, got {excerpt(values)}")
        out[str(slot)] = LabelOrder(
            tuple(str(x) for x in order), None if values is None else {str(k): float(v) for k, v in values.items()}
        )
    return out


def parse_values(text: str | None) -> dict[str, float] | None:
    """``--values`` text ``LABEL=NUMBER,LABEL=NUMBER,...`` as a dict; None when not given.

    >>> parse_values("Awful=1, Bad=2,Meh=3")
    {'Awful': 1.0, 'Bad': 2.0, 'Meh': 3.0}
    >>> parse_values("Awful")
    Traceback (most recent call last):
    ...
    voxpop.core.errors.ConfigError: --values 'Awful': expected LABEL=NUMBER pairs separated by commas, e.g. ...
    """
    if text is None:
        return None
    values = {}
    for part in (p.strip() for p in text.split(",")):
        label, sep, number = part.rpartition("=")
        try:
            if not sep or not label.strip():
                raise ValueError(part)
            if label.strip() in values:
                raise ConfigError(
                    f"{VALUES_OPTION}: label {label.strip()!r} is given twice ({values[label.strip()]:g} and "
                    f"{number.strip()}); give each label one number."
                )
            values[label.strip()] = float(number)
        except ValueError:
            raise ConfigError(
                f"{VALUES_OPTION} {part!r}: expected LABEL=NUMBER pairs separated by commas, e.g. Bad=1,Good=2."
            ) from None
    return values


def resolve_order(
    declared: LabelOrder | None, order: Sequence[str] | None = None, values: Mapping[str, float] | None = None
) -> LabelOrder | None:
    """The order used for one run: ``order`` / ``values`` given on the command line over the declared one.

    ``order`` replaces the declared order (and its values unless ``values`` is given); ``values``
    alone keeps the declared order, or orders the labels by their values when none is declared.

    Raises:
        ConfigError: when the resulting declaration is invalid (see :meth:`LabelOrder.problems`).

    >>> resolve_order(None, values={"Good": 2, "Bad": 1})
    LabelOrder(order=('Bad', 'Good'), values={'Good': 2.0, 'Bad': 1.0})
    >>> resolve_order(LabelOrder(("a", "b"), {"a": 0.0, "b": 5.0}), order=["a", "b"])
    LabelOrder(order=('a', 'b'), values=None)
    """
    if order is None and values is None:
        return declared
    numbers = None if values is None else {str(k): float(v) for k, v in values.items()}
    if order is not None:
        result = LabelOrder(tuple(order), numbers)
    elif declared is not None:
        result = LabelOrder(declared.order, numbers)
    else:
        result = LabelOrder(tuple(sorted(numbers, key=numbers.__getitem__)), numbers)
    problems = result.problems()
    if problems:
        raise ConfigError(f"{ORDER_OPTION} / {VALUES_OPTION}: {problems[0]}.")
    return result


def ordered_domain(
    slot: str, present: Sequence[str], level: str, declared: LabelOrder | None
) -> tuple[list[str], np.ndarray | None]:
    """The labels of a label slot in their declared order, and their numbers for the interval / ratio level.

    Args:
        slot: The slot name, for messages.
        present: The labels rated in the slot.
        level: ``ordinal``, ``interval`` or ``ratio`` (the nominal level needs no order).
        declared: The slot's order (from ``corpus.yaml`` or the command line), or None.

    Returns:
        (labels lowest first, numbers per label or None for the ordinal level).

    Raises:
        ConfigError: no order declared (names ``--order`` and the ``corpus.yaml`` key); no values for the
            interval or ratio level (names ``--values``); a rated label missing from the order.

    >>> ordered_domain("mood", ["Good", "Bad"], "ordinal", LabelOrder(("Bad", "Meh", "Good")))
    (['Bad', 'Meh', 'Good'], None)
    >>> ordered_domain("age", ["teens", "80s"], "ordinal", None)
    Traceback (most recent call last):
    ...
    voxpop.core.errors.ConfigError: ordinal alpha on slot 'age' needs the order of its labels, ...
    """
    if declared is None:
        raise ConfigError(
            f"{level} alpha on slot {slot!r} needs the order of its labels, and the corpus declares none "
            f"(its labels are: {', '.join(sorted(map(str, present)))}). Pass {ORDER_OPTION} "
            f"'lowest,...,highest' (and {VALUES_OPTION} 'label=number,...' for interval or ratio), declare "
            f"corpus.yaml slots.{slot}.order, or use --level nominal."
        )
    outside = [label for label in present if label not in declared.order]
    if outside:
        raise ConfigError(
            f"slot {slot!r}: rated labels {outside[:10]} are not in the declared order {list(declared.order)}; "
            f"add them with {ORDER_OPTION} or to corpus.yaml slots.{slot}.order"
        )
    if level == "ordinal":
        return list(declared.order), None
    if declared.values is None:
        raise ConfigError(
            f"{level} alpha on slot {slot!r} needs a number per label; pass {VALUES_OPTION} "
            f"'{'=...,'.join(declared.order)}=...' or declare corpus.yaml slots.{slot}.values, or use --level ordinal."
        )
    return list(declared.order), np.array([declared.values[label] for label in declared.order], dtype=float)
