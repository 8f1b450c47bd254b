"""The label-rule registry: every rule is one declared :class:`Rule` with typed :class:`Option` s.

Everything else is generated from it: the recipe schema of a label set
(:func:`voxpop.study.recipe.LabelSpec`), the rule options of ``voxpop labels`` / ``voxpop compare``
(:func:`cli_parameters`), the pre-flight checks (:func:`check_options`, :meth:`Rule.rater_ids_reason`,
:meth:`Rule.is_multilabel`) and the docs table (:func:`rules_markdown`, in docs/labels-and-agreement.md).

Adding a rule = one :class:`Rule` in :data:`REGISTRY` whose ``implementation`` names a function
``f(inputs: voxpop.labels.rules.RuleInput, **options) -> LabelSet`` (imported only when the rule runs, so
this module stays free of heavy imports), plus its tests. A learned rule such as Dawid-Skene fits the
shape: ``rater_ids=True``, ``multilabel=False`` (a soft distribution), and its implementation reads
``inputs.ratings(slot)`` and returns a LabelSet whose ``raters`` table holds the per-rater estimates.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from voxpop.core.errors import ConfigError

TIE_POLICIES = ("drop", "all", "random", "first")
DENOMINATORS = ("all", "selected")
POOLINGS = ("sum", "mean")
DEFAULT_LIKERT_THRESHOLD = 0.01
SLOT_NAMES = ("primary", "secondary", "intensity")
"""The rating slots a rule can read by name (:data:`voxpop.corpus.corpus.EMOTION_SLOTS` and ``intensity``)."""


@dataclasses.dataclass(frozen=True)
class Option:
    """One rule option: the recipe key ``name``, the CLI flag ``--name-with-dashes``, its type and checks.

    Args:
        name: the recipe key and keyword (``min_agreement``); the flag is :attr:`flag` (``--min-agreement``).
        type: ``int``, ``float``, ``bool`` or ``str``.
        default: the value when not given (None: the option is off).
        doc: the help text of the flag and of the rules table in docs/labels-and-agreement.md.
        choices: the allowed texts (a ``str`` option), or None.
        low: the smallest allowed number, or None.
        high: the largest allowed number, or None.
        low_open: the number must be strictly above ``low``.
        recipe_extra: extra values a recipe may give besides the type's (``threshold: best``).
    """

    name: str
    type: type
    default: Any
    doc: str
    choices: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    recipe_extra: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def constraint(self) -> str:
        """The allowed values in words, e.g. ``a number in (0, 1]``."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        noun = {int: "a whole number", float: "a number", bool: "true or false", str: "a text"}[self.type]
        if self.low is not None and self.high is not None:
            return f"{noun} in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"
        if self.low is not None:
            return f"{noun} {'>' if self.low_open else '>='} {self.low:g}"
        return noun

    def check(self, value: Any) -> Any:
        """``value`` converted to the option's type; ConfigError naming the option when it is not allowed.

        >>> OPTIONS["min_agreement"].check(0.6)
        0.6
        >>> OPTIONS["min_agreement"].check(1.5)
        Traceback (most recent call last):
        ...
        voxpop.core.errors.ConfigError: option min_agreement = 1.5: expected a number in (0, 1]
        """
        if value is None or value == self.default:
            return value
        problem = ConfigError(f"option {self.name} = {value!r}: expected {self.constraint()}")
        if self.choices is not None:
            if value not in self.choices:
                raise problem
            return value
        if self.type is bool or isinstance(value, bool):
            if not isinstance(value, bool) or self.type is not bool:
                raise problem
            return value
        if self.type is int and not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise problem
        try:
            number = self.type(value)
        except (TypeError, ValueError):
            raise problem from None
        if self.low is not None and (number <= self.low if self.low_open else number < self.low):
            raise problem
        if self.high is not None and number > self.high:
            raise problem
        return number


OPTIONS: dict[str, Option] = {
    o.name: o
    for o in (
        Option(
            "pooling",
            str,
            "sum",
            "How pooled conditions combine (--pool, condition all): sum = add every condition's votes; "
            "mean = average the per-condition distributions, each condition weighted equally.",
            choices=POOLINGS,
        ),
        Option(
            "denominator",
            str,
            "all",
            "N_i of the majority, plurality and agreement filters: all = every rating of the item (the winner "
            "is found among all labels and must be a selected class); selected = only ratings on selected classes.",
            choices=DENOMINATORS,
        ),
        Option(
            "min_agreement",
            float,
            None,
            "Agreement filter: keep items whose top selected class holds at least this share of the item's "
            "ratings (P*: 0.6) or of the raters' lists (S*: 0.5).",
            low=0,
            high=1,
            low_open=True,
        ),
        Option(
            "min_raters_agree",
            int,
            None,
            "Agreement filter: keep items where at least K raters chose the top selected class (levels 1..K).",
            low=1,
        ),
        Option(
            "min_selected_share",
            float,
            None,
            "Drop (and count) items whose ratings on selected classes are less than this share of all their "
            "ratings (default off).",
            low=0,
            high=1,
            low_open=True,
        ),
        Option(
            "tie_policy",
            str,
            "drop",
            "Tied top labels: drop the item, keep all tied classes (multi-hot), pick one at random (seed), "
            "or the first in class order.",
            choices=TIE_POLICIES,
        ),
        Option("seed", int, 0, "Seed of tie_policy random."),
        Option(
            "threshold",
            float,
            None,
            f"Positive iff the intensity score >= T (default {DEFAULT_LIKERT_THRESHOLD}); recipes may say best "
            "(the threshold sweep's best).",
            low=0,
            high=1,
            recipe_extra=("best",),
        ),
        Option(
            "gold_standard",
            str,
            None,
            "The numeric gold standard per emotion before the threshold: mean (default), median, ewe "
            "(evaluator weighted estimator) or znorm (mean of per-rater z-scores; needs rater ids like ewe).",
            choices=("mean", "median", "ewe", "znorm"),
        ),
        Option(
            "min_ratings_per_rater",
            int,
            None,
            "gold_standard znorm: a rater with fewer ratings of an emotion (or whose ratings do not vary) cannot be "
            "z-normalised; their ratings are set aside and counted per rater (default 2).",
            low=2,
        ),
        Option("level", int, None, "Keep runs where at least K raters marked the same emotion (default 1).", low=1),
        Option(
            "form",
            str,
            "train",
            "Learned rules: train = the posterior over the selected classes (soft target); argmax = its top class "
            "(one-hot); multi-hot = the classes above 1/C.",
            choices=("train", "argmax", "multi-hot"),
        ),
        Option("smoothing", float, 0.0, "Add this epsilon to every target, then renormalise.", low=0),
    )
}
"""Every rule option by name (recipe key; the CLI flag is the name with dashes)."""

_FILTERS = ("min_agreement", "min_raters_agree")
_DISTRIBUTION = ("pooling", "denominator", *_FILTERS, "min_selected_share")


@dataclasses.dataclass(frozen=True)
class Rule:
    """A label rule: name, what it reads and returns, its options and where its implementation lives.

    Args:
        name: the rule's name in recipes and on the command line (``mr``).
        title: its name in reports (``majority rule (MR)``).
        doc: one sentence on what it keeps and which target it gives.
        slots: the rating slots it reads (``primary``, ``secondary``, ``intensity``, ...).
        options: the names of the :data:`OPTIONS` it takes.
        implementation: ``module:function`` of the function that computes it.
        multilabel: True for multi-hot targets, or the option values that make them multi-hot
            (``{"tie_policy": "all"}``).
        rater_ids: True when the rule always needs rater ids, or the options that need them when set (the
            S* filter on multi-choice lists).
        learned: the rule fits a model of the raters (EM over the whole corpus: seconds, not milliseconds).
    """

    name: str
    title: str
    doc: str
    slots: tuple[str, ...]
    options: tuple[str, ...]
    implementation: str
    multilabel: bool | Mapping[str, Any] = False
    rater_ids: bool | tuple[str, ...] = False
    learned: bool = False

    def is_multilabel(self, options: Mapping[str, Any]) -> bool:
        """Whether the rule's targets are multi-hot with these options."""
        if isinstance(self.multilabel, bool):
            return self.multilabel
        return any(options.get(k) == v for k, v in self.multilabel.items())

    def rater_ids_reason(self, options: Mapping[str, Any]) -> str | None:
        """Why the rule needs rater ids with these options (None: it does not)."""
        if self.rater_ids is True:
            return f"rule {self.name!r} ({self.title})"
        given = [o for o in self.rater_ids or () if options.get(o) is not None]
        if given:
            return f"rule {self.name!r} with {', '.join(given)} (which labels each rater listed)"
        return None

    def check_slots(self, corpus: Any, conditions: Sequence[str] | None = None) -> None:
        """Refuse a rule whose slot has no ratings in ``corpus`` (in ``conditions``; None: all).

        Args:
            corpus: a :class:`voxpop.corpus.corpus.Corpus`.
            conditions: the chosen conditions (None: every condition).

        Raises:
            ConfigError: e.g. rule ``mr`` on a Likert-only corpus: "this corpus has no ratings in slot
                'primary'; its slots are intensity: use --rule likert", so it never keeps 0 items silently.
        """
        wanted = [slot for slot in self.slots if slot in SLOT_NAMES]
        ratings = corpus.ratings
        if conditions is not None:
            ratings = ratings[ratings["condition"].isin(list(conditions)).to_numpy(dtype=bool)]
        present = [str(s) for s in ratings["slot"].dropna().unique()]  # first-appearance order, through the codes
        missing = [slot for slot in wanted if slot not in present]
        if not missing:
            return
        from voxpop.core.errors import option

        suggested = [r.name for r in REGISTRY.values() if set(r.slots) & set(present) and not r.learned]
        use = " or ".join(option("rule", name) for name in suggested) or "another corpus"
        scope = f" in condition(s) {', '.join(conditions)}" if conditions is not None else ""
        raise ConfigError(
            f"rule {self.name!r} on corpus {corpus.name!r}: this corpus has no ratings in slot {missing[0]!r}{scope}; "
            f"its slots are {', '.join(present) or 'none'}: use {use}"
        )

    def function(self) -> Callable[..., Any]:
        """The implementation, imported now."""
        module, _, name = self.implementation.partition(":")
        return getattr(importlib.import_module(module), name)


REGISTRY: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule(
            "mr",
            "majority rule (MR)",
            "Keep items whose top label holds more than half of N_i and is a selected class; one-hot target.",
            ("primary",),
            (*_DISTRIBUTION[:4], "smoothing"),
            "voxpop.labels.rules:majority_rule",
        ),
        Rule(
            "pr",
            "plurality rule (PR)",
            "Keep items whose top label is unique (tie policy) and a selected class; one-hot target.",
            ("primary",),
            (*_DISTRIBUTION[:4], "tie_policy", "seed", "smoothing"),
            "voxpop.labels.rules:plurality_rule",
            multilabel={"tie_policy": "all"},
        ),
        Rule(
            "ar",
            "all-inclusive rule (AR), training form",
            "Distribution of the ratings over the selected classes.",
            ("primary",),
            (*_DISTRIBUTION, "smoothing"),
            "voxpop.labels.rules:all_inclusive_rule",
        ),
        Rule(
            "ar-test",
            "all-inclusive rule, test form",
            "Multi-hot: classes whose share of the selected ratings is above 1/C (uniform: all).",
            ("primary",),
            _DISTRIBUTION,
            "voxpop.labels.rules:all_inclusive_test_rule",
            multilabel=True,
        ),
        Rule(
            "primary",
            "primary distribution (P; P* with min_agreement)",
            "Distribution of the raters' primary choices over the selected classes.",
            ("primary",),
            (*_DISTRIBUTION, "smoothing"),
            "voxpop.labels.rules:primary_rule",
        ),
        Rule(
            "secondary",
            "secondary distribution (S; S* with min_agreement)",
            "Distribution of all labels of the raters' multi-choice lists; filters count raters' lists.",
            ("secondary",),
            (*_DISTRIBUTION, "smoothing"),
            "voxpop.labels.rules:secondary_rule",
            rater_ids=_FILTERS,
        ),
        Rule(
            "likert",
            "binarised intensity (Likert) scores",
            "Multi-hot: emotions whose gold-standard rating (default the mean) / scale maximum reaches the threshold.",
            ("intensity",),
            ("threshold", "gold_standard", "min_ratings_per_rater"),
            "voxpop.labels.rules:likert_rule",
            multilabel=True,
        ),
        Rule(
            "intervals",
            "interval consensus (confidence levels)",
            "Segments where at least level raters marked the same emotion; one-hot per segment.",
            ("any emotion slot with start/end",),
            ("level", "smoothing"),
            "voxpop.labels.rules:intervals_rule",
            rater_ids=True,
        ),
        Rule(
            "dawid-skene",
            "Dawid-Skene (learned; crowd-kit)",
            "Posterior class distribution from one confusion matrix per rater (EM); every label raters used is "
            "modelled, items are kept when the posterior winner is a selected class.",
            ("primary",),
            ("form", "seed", "smoothing"),
            "voxpop.labels.learned:dawid_skene_rule",
            multilabel={"form": "multi-hot"},
            rater_ids=True,
            learned=True,
        ),
        Rule(
            "glad",
            "GLAD (learned; crowd-kit)",
            "Posterior from rater expertise and item difficulty (Whitehill et al. 2009); slow on large tables.",
            ("primary",),
            ("form", "seed", "smoothing"),
            "voxpop.labels.learned:glad_rule",
            multilabel={"form": "multi-hot"},
            rater_ids=True,
            learned=True,
        ),
        Rule(
            "mace",
            "MACE (learned; crowd-kit)",
            "Posterior from each rater's chance of answering knowingly rather than spamming (Hovy et al. 2013); "
            "slow on large tables.",
            ("primary",),
            ("form", "seed", "smoothing"),
            "voxpop.labels.learned:mace_rule",
            multilabel={"form": "multi-hot"},
            rater_ids=True,
            learned=True,
        ),
    )
}
"""Every label rule by name."""

RULES = tuple(REGISTRY)
"""The rules' names, in the registry's order (``mr``, ``pr``, ``ar``, ...)."""


def get_rule(name: str) -> Rule:
    """The rule called ``name`` in :data:`REGISTRY`.

    Args:
        name: a rule of :data:`RULES`.

    Returns:
        Its :class:`Rule`.

    Raises:
        ConfigError: no rule has that name (listing the rules).

    Example:
        >>> get_rule("mr").title
        'majority rule (MR)'
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown label rule {name!r}; the rules are: {', '.join(RULES)}") from None


def rules_using(option: str) -> list[str]:
    """The rules that take ``option``."""
    return [r.name for r in REGISTRY.values() if option in r.options]


def check_options(rule: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The rule's options with defaults filled in and values checked; ConfigError for a misplaced option.

    An option another rule takes may be given at its default (None) only.

    >>> check_options("pr", {"tie_policy": "all"})["tie_policy"]
    'all'
    >>> check_options("mr", {"threshold": 0.3})
    Traceback (most recent call last):
    ...
    voxpop.core.errors.ConfigError: option threshold applies to rules likert, not to 'mr'
    """
    spec = get_rule(rule)
    checked = {}
    for name, value in options.items():
        if name not in OPTIONS:
            raise ConfigError(f"unknown label rule option {name!r}; the options are: {', '.join(OPTIONS)}")
        if name not in spec.options:
            if value is not None and value != OPTIONS[name].default:
                raise ConfigError(f"option {name} applies to rules {', '.join(rules_using(name))}, not to {rule!r}")
            continue
        checked[name] = OPTIONS[name].check(value)
    return {name: checked.get(name, OPTIONS[name].default) for name in spec.options}


# ====================================================================== generated interfaces
def cli_parameters() -> list:
    """Typer parameters (``inspect.Parameter``) of every rule option, for verbs that apply a rule.

    Flags are the option names with dashes; every flag defaults to None (the rule's default applies).
    """
    import inspect

    import typer

    parameters = []
    for option in OPTIONS.values():
        using = ", ".join(rules_using(option.name))
        default = "" if option.default is None else f"; default {option.default}"
        help_text = f"Rules {using}: {option.doc} ({option.constraint()}{default})"
        parameters.append(
            inspect.Parameter(
                option.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=typer.Option(None, option.flag, help=help_text, show_default=False),
                annotation=option.type | None,
            )
        )
    return parameters


def given_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """The rule options a CLI call gave (not None), from keyword arguments named like :data:`OPTIONS`."""
    return {name: values[name] for name in OPTIONS if values.get(name) is not None}


def rules_markdown() -> str:
    """The docs table of the rules and of their options (docs/labels-and-agreement.md, section "Rules")."""
    lines = [
        "| rule | what it is | reads slot | options | multi-label | rater ids |",
        "|---|---|---|---|---|---|",
    ]
    for r in REGISTRY.values():
        if isinstance(r.multilabel, bool):
            multi = "yes" if r.multilabel else "no"
        else:
            multi = "with " + ", ".join(f"{k}: {v}" for k, v in r.multilabel.items())
        raters = "yes" if r.rater_ids is True else ("with " + ", ".join(r.rater_ids) if r.rater_ids else "no")
        options = ", ".join(f"`{o}`" for o in r.options) or "-"
        lines.append(f"| `{r.name}` | {r.title}: {r.doc} | {', '.join(r.slots)} | {options} | {multi} | {raters} |")
    lines += ["", "| option (recipe key / CLI flag) | values | default | meaning |", "|---|---|---|---|"]
    for o in OPTIONS.values():
        values = o.constraint() + (f" or {', '.join(o.recipe_extra)}" if o.recipe_extra else "")
        default = "-" if o.default is None else f"`{o.default}`"
        lines.append(f"| `{o.name}` / `{o.flag}` | {values} | {default} | {o.doc} |")
    lines += [
        "",
        "Every rule also takes `condition` / `--condition` and `pool` / `--pool` (which ratings it reads); "
        "the class set is the recipe's `classes` and `class_map` (CLI `--classes`, `--class-map`).",
    ]
    return "\n".join(lines) + "\n"
