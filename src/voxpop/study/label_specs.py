"""The label-set sections of a recipe: a rule of the registry with its options (:data:`LabelSpec`), a saved label
set (rule ``file``) or a continuous label set of dimensions (:class:`~voxpop.labels.continuous.ContinuousSpec`), and
:class:`Strict`, the base of every recipe section (:mod:`voxpop.study.recipe` holds the others)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import pydantic

from voxpop.core.limits import STRICT_NUMBERS, Int
from voxpop.labels import ContinuousSpec
from voxpop.labels.disagreement import DISAGREEMENT_RULE, DisagreementSpec
from voxpop.labels.label_sets import FILE_RULE as FILE_RULE  # re-exported with the label specs
from voxpop.labels.label_sets import load_label_set, spec_kind
from voxpop.labels.registry import OPTIONS, REGISTRY, Option, Rule, rules_using


class Strict(pydantic.BaseModel):
    """Base of every recipe section: unknown keys and non-finite floats (``.inf``, ``.nan``) are errors."""

    model_config = STRICT_NUMBERS


# ====================================================================== labels
class _LabelSpecBase(Strict):
    """One named label set: a rule of the registry (:mod:`voxpop.labels.registry`) and its options.

    The option fields are generated from :data:`voxpop.labels.registry.OPTIONS` (see :func:`_option_field`);
    ``threshold: best`` (rule likert) takes the best threshold of the ``threshold_sweep`` analysis.
    """

    rule: str
    condition: str | list[str] | None = None
    pool: bool = False
    path: str | None = None

    @pydantic.field_validator("rule")
    @classmethod
    def _known_rule(cls, rule: str) -> str:
        if rule not in REGISTRY and rule != FILE_RULE:
            raise ValueError(f"unknown rule {rule!r}; the rules are: {', '.join(REGISTRY)} (or {FILE_RULE} with path)")
        return rule

    @pydantic.model_validator(mode="after")
    def _options_of_the_rule(self) -> _LabelSpecBase:
        if (self.rule == FILE_RULE) != (self.path is not None):
            raise ValueError(f"path (a saved label set, .parquet) goes with rule {FILE_RULE}, and rule {FILE_RULE} "
                             "needs it")  # fmt: skip
        taken = REGISTRY[self.rule].options if self.rule != FILE_RULE else ()
        misplaced = [
            name
            for name, option in {**OPTIONS, "condition": None, "pool": None}.items()
            if name not in taken
            and getattr(self, name) not in (None, option.default if option else False)
            and (self.rule == FILE_RULE or option is not None)
        ]
        if misplaced:
            name = misplaced[0]
            if self.rule == FILE_RULE:
                raise ValueError(f"{name} applies to label rules; rule {FILE_RULE} reads a saved label set as it is")
            raise ValueError(f"option {name} applies to rules {', '.join(rules_using(name))}, not to {self.rule!r}")
        return self

    @property
    def definition(self) -> Rule:
        """The rule's registry entry."""
        return REGISTRY[self.rule]

    def rule_options(self) -> dict[str, Any]:
        """The options the rule takes, as given (``threshold`` may be ``best``; none for rule ``file``)."""
        return {} if self.rule == FILE_RULE else {name: getattr(self, name) for name in self.definition.options}

    def config(self) -> dict[str, Any]:
        """The spec as the labels stage hashes it (``path`` only for rule ``file``)."""
        return self.model_dump(exclude=None if self.path else {"path"})

    def options(self, best_threshold: float | None = None) -> dict[str, Any]:
        """Keyword arguments of :func:`~voxpop.labels.rules.make_labels` (``best`` replaced by ``best_threshold``)."""
        options = {"condition": self.condition, "pool": self.pool, **self.rule_options()}
        if options.get("threshold") == "best":
            options["threshold"] = best_threshold
        return options


def _option_field(option: Option) -> tuple[Any, Any]:
    """The pydantic (annotation, field) of a rule option: its type, bounds, choices and recipe-only values."""
    if option.choices is not None:
        annotation: Any = Literal[option.choices]
    else:
        bounds = {"gt" if option.low_open else "ge": option.low} if option.low is not None else {}
        if option.high is not None:
            bounds["le"] = option.high
        kind = Int if option.type is int else option.type  # strict: true is not a count
        annotation = Annotated[kind, pydantic.Field(**bounds)] if bounds else kind
    if option.recipe_extra:
        annotation = annotation | Literal[option.recipe_extra]
    if option.default is None:
        annotation = annotation | None
    return annotation, pydantic.Field(option.default, description=option.doc)


LabelSpec = pydantic.create_model(
    "LabelSpec",
    __base__=_LabelSpecBase,
    __doc__=_LabelSpecBase.__doc__,
    __module__=__name__,
    **{name: _option_field(option) for name, option in OPTIONS.items()},
)


def _label_kind(value: Any) -> str:
    """Which label-set model an entry is: continuous (it names a ``gold_standard`` and no ``rule``; the Likert
    rule's own ``gold_standard`` option comes with its rule) or a rule of the registry (the tags appear in
    pydantic's error locations; :func:`voxpop.study.loading.problems_of` leaves them out)."""
    if isinstance(value, ContinuousSpec) or (
        isinstance(value, Mapping) and "gold_standard" in value and "rule" not in value
    ):
        return "tagged-continuous"
    if isinstance(value, DisagreementSpec) or (isinstance(value, Mapping) and value.get("rule") == DISAGREEMENT_RULE):
        return "tagged-disagreement"
    return "tagged-rule"


LabelEntry = Annotated[
    Annotated[LabelSpec, pydantic.Tag("tagged-rule")]
    | Annotated[ContinuousSpec, pydantic.Tag("tagged-continuous")]
    | Annotated[DisagreementSpec, pydantic.Tag("tagged-disagreement")],
    pydantic.Discriminator(_label_kind),
]
"""A label set: a rule with its options (:class:`LabelSpec`), or a continuous label set of dimensions
(:class:`~voxpop.labels.continuous.ContinuousSpec`, keys ``gold_standard``, ``dimensions``, ...) or the raters'
disagreement (:class:`~voxpop.labels.disagreement.DisagreementSpec`, ``rule: disagreement``); for the last two the
models are regressors)."""


class LabelSets(Strict):
    """Named train and test label sets; results name them (``train``, ``test`` columns)."""

    train: dict[str, LabelEntry] = {}
    test: dict[str, LabelEntry] = {}



def multilabel_rule(spec: LabelSpec) -> bool:
    """Whether a label set gives multi-hot targets (the registry's ``multilabel``: AR test form, binarised
    Likert, PR keeping tied classes).

    >>> multilabel_rule(LabelSpec(rule="ar-test")), multilabel_rule(LabelSpec(rule="ar"))
    (True, False)
    """
    if spec_kind(spec) == "continuous":
        return False
    if spec.rule == FILE_RULE:
        return load_label_set(spec.path).multilabel
    return spec.definition.is_multilabel(spec.rule_options())
