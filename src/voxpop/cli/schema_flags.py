"""Command-line flags generated from a pydantic schema (the recipe's, :class:`voxpop.study.recipe.Recipe`), as the
rule flags come from the rule registry (:func:`voxpop.cli.options.with_rule_options`).

Every key of the schema is one flag (:func:`schema_flags`), named after the key in kebab case
(``features.snr_db`` -> ``--snr-db``), with the field's ``description`` as help and the recipe default shown;
its values go into a recipe dict at the key's path (:func:`recipe_of_flags`). So a key added to the schema is
a flag with the same name and help text, and the schema validates what the flags give. The naming rules:

- keys of the same name and type are one flag that sets all of them (``--seed``: ``model.seed``,
  ``evaluation.seed``, the folds' seed ...); keys of the same name and another type, or whose name a
  hand-written flag of the command takes, are named with their section (``split.dev`` -> ``--split-dev``,
  ``evaluation.tie_policy`` -> ``--evaluation-tie-policy``);
- a section that holds at most one of its sub-sections (``protocol``: ``speaker_folds``, ``split`` ...) is a
  choice flag (``--protocol split``); keys of its default choice keep their names, the others' are named with
  their choice (``--split-columns``) unless the default choice has a key of that name and type (``--column``);
- a section that is off unless given (``analyses.fusion``, ``model.early_stopping: null``) is a switch
  (``--fusion/--no-fusion``); a flag of a key inside it turns it on, a shared flag (``--tune-on``) fills it
  only when it is on.

Types: booleans are ``--x/--no-x``; whole numbers, numbers and text are typed; ``Literal`` choices a choice;
lists are comma-separated (repeatable); mappings are ``KEY=VALUE`` (repeatable; values read as JSON when the
field takes any value); unions (``devices: 2``, ``auto`` or ``0,1``) are read as YAML, as ``--set`` reads them.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pydantic
import typer
import yaml
from pydantic_core import PydanticUndefined

from voxpop.cli.options import parse_pairs
from voxpop.core.errors import ConfigError
from voxpop.study.loading import read_yaml, set_path


@dataclass(frozen=True)
class SchemaFlag:
    """One generated flag.

    Attributes:
        name: the Python parameter name, e.g. ``snr_db`` (the flag is ``--snr-db``).
        keys: the dotted recipe keys it sets (several for a shared flag such as ``--seed``).
        field: the pydantic field of the first key (its annotation, default and description).
        panel: the ``--help`` panel: the key's top-level section.
        kind: ``value`` (sets its keys), ``switch`` (turns an optional section on or off) or ``choice`` (picks one
            sub-section of a one-of section).
        aliases: further names of the flag (``--option``, ``-o``).
        choices: the sub-sections of a ``choice`` flag.
    """

    name: str
    keys: tuple[str, ...]
    field: Any
    panel: str
    kind: Literal["value", "switch", "choice"] = "value"
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        """The flag's own name, e.g. ``--snr-db``."""
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class _Key:
    path: str  # dotted key
    field: Any  # pydantic FieldInfo
    name: str  # the flag name before shared names are resolved
    kind: str = "value"
    alternative: str | None = None  # the one-of sub-section (dotted) the key lies in
    section: str | None = None  # the innermost optional section (dotted) the key lies in


def _strip_none(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); other annotations -> (annotation, False)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True  # noqa: UP007
    return annotation, False


def _model_of(annotation: Any) -> type[pydantic.BaseModel] | None:
    inner, _ = _strip_none(annotation)
    return inner if isinstance(inner, type) and issubclass(inner, pydantic.BaseModel) else None


def _leaf_type(annotation: Any) -> Any:
    """``Annotated[int, ...]`` -> ``int``."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _walk(
    model: type[pydantic.BaseModel], prefix: str, exclude: set[str], one_of: Mapping[str, str], within: dict
) -> list[_Key]:
    keys: list[_Key] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        if path in exclude:
            continue
        sub = _model_of(field.annotation)
        if sub is None:
            keys.append(_Key(path, field, name, **within))
            continue
        parent = prefix[:-1]
        inside = dict(within)
        if parent in one_of:  # an alternative of a one-of section: named by the choice flag
            inside["alternative"] = path
        elif _strip_none(field.annotation)[1] and not any(f.is_required() for f in sub.model_fields.values()):
            keys.append(_Key(path, field, name, "switch", **within))
            inside["section"] = path
        elif _strip_none(field.annotation)[1]:  # on when its required key is given
            inside["section"] = path
        if path in one_of:
            keys.append(_Key(path, field, name, "choice", **within))
        keys += _walk(sub, f"{path}.", exclude, one_of, inside)
    return keys


def _named(keys: list[_Key], one_of: Mapping[str, str], names: Mapping[str, str]) -> list[_Key]:
    """Keys of a one-of section's other sub-sections are named with their sub-section unless the default
    sub-section has a key of that name and type; ``names`` overrides."""
    by_path = {k.path: k for k in keys}
    named = []
    for key in keys:
        name = key.name
        if key.alternative is not None and key.kind == "value":
            section, _, choice = key.alternative.rpartition(".")
            twin = by_path.get(f"{section}.{one_of[section]}.{key.name}")
            if choice != one_of[section] and (twin is None or twin.field.annotation != key.field.annotation):
                name = f"{choice}_{key.name}"
        named.append(_Key(key.path, key.field, names.get(key.path, name), key.kind, key.alternative, key.section))
    return named


TOP_LEVEL_PANELS = {"question": "Options"}
"""Help panels of top-level value keys that are not about items and classes (the study's question)."""


def schema_flags(
    model: type[pydantic.BaseModel],
    *,
    exclude: Sequence[str] = (),
    one_of: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
    aliases: Mapping[str, Sequence[str]] | None = None,
    reserved: Sequence[str] = (),
) -> list[SchemaFlag]:
    """The flags of every key of ``model`` (recursively through its sections), by the naming rules of this module.

    Args:
        model: the schema, e.g. :class:`voxpop.study.recipe.Recipe`.
        exclude: dotted keys (or sections) that get no flag.
        one_of: one-of sections and their default sub-section, e.g. ``{"protocol": "speaker_folds"}``.
        names: flag names (Python form) of keys whose own name would not say what they set, e.g.
            ``{"model.backbone.path": "backbone"}``.
        aliases: further command-line names of keys' flags, e.g. ``{"features.options": ["--option", "-o"]}``.
        reserved: names the command's hand-written parameters take; a key of such a name is named with its
            section.

    Returns:
        The flags in schema order, one per name.

    Raises:
        ConfigError: two keys that no rule tells apart (rename one or exclude it).

    Example:
        >>> Fit = pydantic.create_model("Fit", epochs=(int, pydantic.Field(20, description="Most epochs.")))
        >>> Study = pydantic.create_model("Study", model=(Fit, Fit()))
        >>> [(f.flag, f.keys, f.field.description) for f in schema_flags(Study)]
        [('--epochs', ('model.epochs',), 'Most epochs.')]
    """
    one_of, aliases = dict(one_of or {}), dict(aliases or {})
    keys = _named(_walk(model, "", set(exclude), one_of, {}), one_of, dict(names or {}))
    groups: dict[str, list[_Key]] = {}
    for key in keys:
        groups.setdefault(key.name, []).append(key)
    resolved: dict[str, list[_Key]] = {}
    for name, group in groups.items():
        shared = all(k.kind == "value" and k.field.annotation == group[0].field.annotation for k in group)
        if name not in reserved and (len(group) == 1 or shared):
            resolved.setdefault(name, []).extend(group)
            continue
        for key in group:  # named with their section
            parent = key.path.rpartition(".")[0].rpartition(".")[2]
            if not parent:
                raise ConfigError(f"flag of key {key.path!r}: the command has a flag {name!r} already; exclude it")
            resolved.setdefault(f"{parent}_{name}", []).append(key)
    flags = []
    for name, group in resolved.items():
        if len(group) > 1 and any(k.kind != "value" or k.field.annotation != group[0].field.annotation for k in group):
            raise ConfigError(f"flags: keys {[k.path for k in group]} would all be --{name.replace('_', '-')}")
        first = group[0]
        choices = ()
        if first.kind == "choice":
            sub = _model_of(first.field.annotation)
            choices = tuple(n for n in sub.model_fields if f"{first.path}.{n}" not in exclude)
        panel = first.path.split(".")[0] if "." in first.path or first.kind != "value" else TOP_LEVEL_PANELS.get(
            first.path, "items and classes"
        )
        keys_of = tuple(k.path for k in group)
        extra = tuple(a for k in keys_of for a in aliases.get(k, ()))
        flags.append(SchemaFlag(name, keys_of, first.field, panel, first.kind, extra, choices))  # type: ignore[arg-type]
    return flags


# ---------------------------------------------------------------------------------------------------- typer side
def _click_type(annotation: Any) -> tuple[Any, dict[str, Any]]:
    """The parameter annotation and typer.Option keywords of a value key's annotation."""
    inner = _leaf_type(_strip_none(annotation)[0])
    origin = typing.get_origin(inner)
    if inner in (bool, int, float, str):
        return inner | None, {}
    if origin is Literal and all(isinstance(a, str) for a in typing.get_args(inner)):
        return Literal[typing.get_args(inner)] | None, {}
    if origin in (list, tuple, dict):
        return list[str] | None, {}
    return str | None, {}  # unions: read as YAML


def _help(flag: SchemaFlag, notes: Mapping[str, str]) -> tuple[str, str | bool]:
    """Help text (the description, the keys it sets when not one, any note) and the recipe default shown."""
    text = flag.field.description or ""
    if flag.kind == "choice":
        text += f" One of: {', '.join(c.replace('_', '-') for c in flag.choices)}."
    elif len(flag.keys) > 1:
        text += f" (sets {', '.join(flag.keys)})"
    elif flag.kind == "switch":
        text += f" ({flag.keys[0]})"
    text += "".join(notes.get(k, "") for k in flag.keys)
    default = flag.field.default
    if flag.kind == "switch":
        shown: str | bool = "on" if default is not None else "off"
    elif flag.kind == "choice":
        shown = next(iter(flag.choices)).replace("_", "-")
    elif isinstance(default, pydantic.BaseModel) or default is PydanticUndefined or default in (None, {}, [], ""):
        shown = False
    else:
        shown = ",".join(map(str, default)) if isinstance(default, list | tuple) else str(default)
    return text, shown


def parameters(flags: Sequence[SchemaFlag], notes: Mapping[str, str] | None = None) -> list[inspect.Parameter]:
    """Typer parameters (``inspect.Parameter``, keyword-only, default None: left out, the recipe's default
    applies) of ``flags``, in help panels by recipe section; ``notes``: text added to the help of a key's flag."""
    result = []
    for flag in flags:
        help_text, shown = _help(flag, notes or {})
        if flag.kind == "switch" or _leaf_type(_strip_none(flag.field.annotation)[0]) is bool:
            names = [f"{flag.flag}/--no-{flag.flag[2:]}", *flag.aliases]
            annotation, extra = bool | None, {}
        elif flag.kind == "choice":
            names = [flag.flag, *flag.aliases]
            choices = [c.replace("_", "-") for c in flag.choices]
            annotation, extra = Literal[tuple(choices)] | None, {}
        else:
            names = [flag.flag, *flag.aliases]
            annotation, extra = _click_type(flag.field.annotation)
        option = typer.Option(None, *names, help=help_text, show_default=shown, rich_help_panel=flag.panel, **extra)
        kind = inspect.Parameter.KEYWORD_ONLY
        result.append(inspect.Parameter(flag.name, kind, default=option, annotation=annotation))
    return result


def with_schema_flags(
    flags_of: Callable[[Sequence[str]], list[SchemaFlag]], notes: Mapping[str, str] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator giving a verb one option per generated flag: ``flags_of(reserved)`` makes them (``reserved``: the
    verb's own parameter names); they replace the verb's ``flag_values`` parameter, which receives the given ones
    (name -> value, flags left out absent) for :func:`recipe_of_flags`."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command, eval_str=True)
        kept = [p for p in signature.parameters.values() if p.name != "flag_values"]
        flags = flags_of([p.name for p in kept])

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            given = {f.name: kwargs.pop(f.name) for f in flags}
            return command(**kwargs, flag_values={k: v for k, v in given.items() if v not in (None, [], ())})

        wrapper.__signature__ = signature.replace(parameters=[*kept, *parameters(flags, notes)])
        wrapper.schema_flags = flags  # type: ignore[attr-defined]
        return wrapper

    return decorate


# ---------------------------------------------------------------------------------------------------- values
def read_value(text: str, annotation: Any, flag: str) -> Any:
    """A flag's text as the value of one key of type ``annotation``: the text for ``str``, else YAML (as ``--set``
    reads values); a :class:`ConfigError` naming the flag when it is no YAML.

    >>> read_value("0.99", Any, "--beta"), read_value("007", str, "--split-test")
    (0.99, '007')
    """
    if _leaf_type(_strip_none(annotation)[0]) is str:
        return text
    try:
        return read_yaml(text, flag)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{flag} {text!r}: not a value ({exc}).") from None


def _items(texts: Sequence[str]) -> list[str]:
    return [part.strip() for text in texts for part in text.split(",") if part.strip()]


def flag_value(flag: SchemaFlag, given: Any, parsers: Mapping[str, Callable[..., Any]] | None = None) -> Any:
    """The recipe value of a value flag's command-line value(s): lists split at commas, mappings from
    ``KEY=VALUE`` (``parsers``: a key's own parser, called with the texts and the flag), unions read as YAML, except
    that a union with a list splits a value at commas and a union of ``str`` and ``list[str]`` keeps texts as written
    (``--split-test Test1,Test2``, ``--split-test 007``)."""
    parser = next((p for k, p in (parsers or {}).items() if k in flag.keys), None)
    if parser is not None:
        return parser(list(given), flag.flag)
    inner = _leaf_type(_strip_none(flag.field.annotation)[0])
    origin = typing.get_origin(inner)
    if inner in (bool, int, float) or (inner is str) or (origin is Literal and isinstance(given, str)):
        return given
    if origin in (list, tuple):
        args = [a for a in typing.get_args(inner) if a is not Ellipsis] or [Any]
        return [read_value(t, args[min(i, len(args) - 1)], flag.flag) for i, t in enumerate(_items(given))]
    if origin is dict:
        pairs = parse_pairs(given, flag.flag)
        if _leaf_type(typing.get_args(inner)[1]) is str:
            return pairs
        return {k: _json(v) for k, v in pairs.items()}
    members = [_leaf_type(a) for a in typing.get_args(inner)]
    lists = [m for m in members if typing.get_origin(m) is list]
    if lists and "," in given:  # the list's items typed as its element (str | list[str]: texts, as written)
        element = (typing.get_args(lists[0]) or (Any,))[0]
        return [read_value(t, element, flag.flag) for t in _items([given])]
    textual = all(m is str or m == list[str] for m in members)  # str | list[str]: one text, as written
    return read_value(given, str if textual else inner, flag.flag)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _inside(path: str, section: str | None) -> bool:
    return section is not None and (path == section or path.startswith(section + "."))


def recipe_of_flags(
    flags: Sequence[SchemaFlag],
    given: Mapping[str, Any],
    one_of: Mapping[str, str] | None = None,
    parsers: Mapping[str, Callable[..., Any]] | None = None,
) -> dict[str, Any]:
    """The recipe sections the given flags write (only those keys: the recipe's defaults apply to the rest).

    Args:
        flags: the command's generated flags (:func:`schema_flags`).
        given: flag name -> command-line value, of the flags given only.
        one_of: one-of sections and their default sub-section, as for :func:`schema_flags`.
        parsers: a key's own parser of its ``KEY=VALUE`` texts (called with the texts and the flag name).

    Returns:
        A nested dict of recipe keys, e.g. ``{"protocol": {"speaker_folds": {"k": 3}}}``.

    Raises:
        ConfigError: a value a flag cannot read, a shared flag whose sections are all off (``--tune-on`` without
            ``--fusion`` or ``--tuned-decisions``), a switch turned off with a flag of a key inside it.

    Example:
        >>> Fit = pydantic.create_model("Fit", epochs=(int, 20), devices=(int | str | list[int], "auto"))
        >>> Study = pydantic.create_model("Study", model=(Fit, Fit()))
        >>> recipe_of_flags(schema_flags(Study), {"epochs": 3, "devices": "0,1"})
        {'model': {'epochs': 3, 'devices': [0, 1]}}
    """
    one_of = dict(one_of or {})
    chosen = _chosen(flags, given, one_of)
    switches = {f.keys[0]: given[f.name] for f in flags if f.kind == "switch" and f.name in given}
    own = [k for f in flags if f.name in given and f.kind == "value" and len(f.keys) == 1 for k in f.keys]
    on = {f.keys[0] for f in flags if f.kind == "switch" and (switches.get(f.keys[0]) or f.field.default is not None
                                                              or any(_inside(k, f.keys[0]) for k in own))}  # fmt: skip
    data: dict[str, Any] = {}
    for flag in flags:
        if flag.kind != "value" or flag.name not in given:
            continue
        placed = [key for key in flag.keys if len(flag.keys) == 1 or _fills(flags, key, chosen, on)]
        if not placed:  # another sub-section of a one-of section was chosen: the default's key, for the check to name
            placed = [
                key for key in flag.keys for section, default in one_of.items()
                if key.startswith(f"{section}.{default}.") and chosen[section] != f"{section}.{default}"
            ][:1]  # fmt: skip
        if not placed:
            needed = " or ".join(f.flag for f in flags if f.kind == "switch" and f.keys[0] not in on
                                 and any(_inside(k, f.keys[0]) for k in flag.keys))  # fmt: skip
            raise ConfigError(f"{flag.flag} sets {' / '.join(flag.keys)}, which are off: give {needed} too.")
        for key in placed:
            off = [s for s in _sections(flags, key) if switches.get(s) is False]
            if off:
                raise ConfigError(f"{flag.flag} sets {key}, which --no-{off[0].rpartition('.')[2].replace('_', '-')} "
                                  "turns off: give one of the two.")  # fmt: skip
        value = flag_value(flag, given[flag.name], parsers)
        for key in placed:
            set_path(data, key.split("."), value, flag.flag)
    for section, value in switches.items():
        if not value:
            set_path(data, section.split("."), None, section)
        elif _get(data, section) is None:
            set_path(data, section.split("."), {}, section)
    for flag in flags:  # a choice other than the default, with no key of its own given: its defaults
        picked = chosen.get(flag.keys[0], "")
        default = f"{flag.keys[0]}.{one_of.get(flag.keys[0])}"
        if flag.kind == "choice" and flag.name in given and picked != default and _get(data, picked) is None:
            set_path(data, picked.split("."), {}, flag.flag)
    return data


def _chosen(flags: Sequence[SchemaFlag], given: Mapping[str, Any], one_of: Mapping[str, str]) -> dict[str, str]:
    """The sub-section chosen in each one-of section: named by its choice flag, else the one whose own flags were
    given (when only one was), else the default."""
    chosen = {}
    for section, default in one_of.items():
        choice = next((given[f.name] for f in flags if f.kind == "choice" and f.keys[0] == section and f.name in given),
                      None)  # fmt: skip
        own = {k.rpartition(".")[0] for f in flags if f.name in given and f.kind == "value" and len(f.keys) == 1
               for k in f.keys if k.startswith(f"{section}.") and k.count(".") > 1}  # fmt: skip
        if choice is not None:
            chosen[section] = f"{section}.{choice.replace('-', '_')}"
        else:
            chosen[section] = next(iter(own)) if len(own) == 1 else f"{section}.{default}"
    return chosen


def _fills(flags: Sequence[SchemaFlag], key: str, chosen: Mapping[str, str], on: set[str]) -> bool:
    """Whether a shared flag sets ``key``: in a one-of section only the chosen sub-section's, in a switchable
    section only when it is on."""
    for section, alternative in chosen.items():
        if key.startswith(f"{section}.") and key.count(".") > 1 and not key.startswith(f"{alternative}."):
            return False
    return all(s in on for s in _sections(flags, key))


def _sections(flags: Sequence[SchemaFlag], key: str) -> list[str]:
    """The switchable sections ``key`` lies in."""
    return [f.keys[0] for f in flags if f.kind == "switch" and _inside(key, f.keys[0]) and key != f.keys[0]]


def _get(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def flags_in_message(flags: Sequence[SchemaFlag], message: str) -> list[str]:
    """``key = --flag`` for every flag whose dotted key the message names, or whose name it uses as a key
    (``dev: ...``; a name with an underscore, such as ``snr_db``, anywhere; the word ``column`` in a sentence names
    no flag), or, for a choice flag, one of its choices:
    so that a message about the recipe a command built speaks its command line.

    Example:
        >>> Fit = pydantic.create_model("Fit", snr_db=(float, 0.0), noise_dir=(str, ""))
        >>> flags_in_message(schema_flags(pydantic.create_model("Study", features=(Fit, Fit()))), "snr_db: too low")
        ['snr_db = --snr-db']
    """
    named = []
    for flag in flags:  # a plain word (column, dev, seed) names its flag only as a key (``dev: ...``)
        after = r"(?!\w)" if "_" in flag.name else r"(?=\s*[:=])"
        as_key = re.search(rf"(?<![\w.]){re.escape(flag.name)}{after}", message)
        choice = any(re.search(rf"(?<![\w.]){re.escape(w)}(?!\w)", message) for w in flag.choices)
        if as_key or choice or any(k in message for k in flag.keys):
            named.append(f"{flag.name} = {flag.flag}")
    return named


def flags_markdown(flags: Sequence[SchemaFlag], notes: Mapping[str, str] | None = None) -> str:
    """The docs table of generated flags: flag (and other names), the recipe keys it sets, meaning (the help text,
    with ``notes`` as for :func:`parameters`), recipe default.

    Example:
        >>> Fit = pydantic.create_model("Fit", epochs=(int, pydantic.Field(20, description="Most epochs.")))
        >>> print(flags_markdown(schema_flags(pydantic.create_model("Study", model=(Fit, Fit())))), end="")
        | flag | recipe key | meaning | recipe default |
        |---|---|---|---|
        | `--epochs` | `model.epochs` | Most epochs. | `20` |
    """
    lines = ["| flag | recipe key | meaning | recipe default |", "|---|---|---|---|"]
    for flag in flags:
        text, shown = _help(flag, notes or {})
        names = ", ".join(f"`{n}`" for n in (flag.flag, *flag.aliases))
        if flag.kind == "switch" or _leaf_type(_strip_none(flag.field.annotation)[0]) is bool:
            names = f"`{flag.flag}` / `--no-{flag.flag[2:]}`"
        keys = ", ".join(f"`{k}`" for k in flag.keys)
        lines.append(f"| {names} | {keys} | {text.replace('|', '/')} | {f'`{shown}`' if shown else '-'} |")
    return "\n".join(lines) + "\n"

