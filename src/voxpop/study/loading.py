"""Reading recipes: YAML with ``--set key.path=value`` overrides, validated by the schema of
:mod:`voxpop.study.recipe` with every problem reported at once (each with its key path), and the variants
of a study (named ``variants`` times the ``grid``).

:func:`load_recipe` reads a file, :func:`recipe_from_dict` validates a mapping (grid values too),
:func:`expand_variants` lists the variants as (name, recipe), :func:`recipe_error` is the one error of
an invalid recipe.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic
import yaml

from voxpop.core.cache import parse_yaml
from voxpop.core.errors import ConfigError
from voxpop.core.formatting import parse_error
from voxpop.core.limits import ceiling, check_ceiling
from voxpop.corpus import Corpus
from voxpop.labels import ContinuousSpec
from voxpop.labels.disagreement import DisagreementSpec
from voxpop.study.recipe import (
    GRID_SECTIONS,
    Recipe,
)


def _key_path(loc: Sequence[object]) -> str:
    """``("model", "optimiser", "lr")`` -> ``model.optimiser.lr``; list positions as ``[i]``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not re.fullmatch(r"[a-z_]+\[.*\]|function-.*|tagged-.*|literal\[.*\]|float|int|str|bool", str(part)):
            text += f".{part}" if text else str(part)
    return text


def _allowed_keys(model: type[pydantic.BaseModel], loc: Sequence[object]) -> list[str]:
    """The keys the section at ``loc`` (the unknown key's parent) accepts, following the schema.

    Names of free mappings (label set names) and list positions are stepped over.
    """
    current: Any = model
    for part in loc[:-1]:
        fields = getattr(current, "model_fields", {})
        if part == "tagged-continuous":
            current = ContinuousSpec
        elif part == "tagged-disagreement":
            current = DisagreementSpec
        elif part in fields:
            current = _submodel(fields[part].annotation)
    return list(getattr(current, "model_fields", {}))


def _submodel(annotation: Any) -> Any:
    """The pydantic model inside ``X | None`` or ``dict[str, X]`` (else the annotation itself)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _submodel(arg)
        if isinstance(found, type) and issubclass(found, pydantic.BaseModel):
            return found
    return annotation


def problems_of(
    error: pydantic.ValidationError, prefix: str = "", model: type[pydantic.BaseModel] = Recipe
) -> list[str]:
    """One line per validation problem of a ``model`` (a recipe, a cluster profile), each starting with the key
    path; an unknown key lists the keys its section allows."""
    lines = []
    for e in error.errors():
        path = _key_path(e["loc"])
        path = f"{prefix}.{path}" if prefix and path else prefix or path
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, e["loc"])
            hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
            lines.append(f"{path}: unknown key{hint}")
        elif e["type"] == "missing":
            lines.append(f"{path}: required key is missing")
        else:
            message = e["msg"].removeprefix("Value error, ")
            lines.append(f"{path}: {message}" if path else message)  # a check of the whole file has no key path
    return list(dict.fromkeys(lines))


def recipe_error(problems: Sequence[str], source: str) -> ConfigError:
    """One error listing every problem of a recipe."""
    noun = "problem" if len(problems) == 1 else "problems"
    return ConfigError(
        f"recipe {source} is invalid ({len(problems)} {noun}):\n" + "\n".join(f"  - {p}" for p in problems)
    )


def parse_override(text: str) -> tuple[list[str], Any]:
    """``key.path=value`` as (path parts, YAML value); ``grid.`` keeps the rest of the path as one key.

    >>> parse_override("model.epochs=3")
    (['model', 'epochs'], 3)
    >>> parse_override("grid.model.loss=[ce, cbce]")
    (['grid', 'model.loss'], ['ce', 'cbce'])
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: expected KEY.PATH=VALUE, e.g. --set model.epochs=3")
    try:
        parsed = read_yaml(value, f"--set {key}")
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r}: the value is not valid YAML ({exc})") from None
    parts = key.split(".")
    if parts[0] == "grid" and len(parts) > 1:
        parts = ["grid", ".".join(parts[1:])]
    return parts, parsed


def set_path(data: dict, parts: Sequence[str], value: Any, what: str) -> None:
    """Set ``data[p0][p1]... = value`` in nested dicts, creating missing sections."""
    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{what}: {'.'.join(parts[: depth + 1])} is {child!r}, not a section with keys")
        node = child
    node[parts[-1]] = value


def read_yaml(text: str, source: str) -> Any:
    """Parse recipe YAML (a file or a ``--set`` value) after counting its values with every alias expanded.

    An alias (``*name``) repeats its anchor's whole value, so a few lines of nested aliases can stand for
    billions of values ("billion laughs"); they are counted on the parsed node graph (each node once,
    shared ones by reference) before anything expands them.

    Raises:
        ConfigError: more values than the ceiling ``yaml_nodes`` (:mod:`voxpop.core.limits`), naming ``source``.
        yaml.YAMLError: malformed YAML or a mapping key given twice.
    """
    sizes: dict[int, int] = {}

    def size(n: yaml.Node) -> int:
        if id(n) not in sizes:
            sizes[id(n)] = 0  # a recursive alias counts once where it recurs
            children = n.value if isinstance(n, yaml.SequenceNode) else []
            if isinstance(n, yaml.MappingNode):
                children = [part for pair in n.value for part in pair]
            sizes[id(n)] = 1 + sum(size(child) for child in children)
        return sizes[id(n)]

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        count = size(node) if node is not None else 0
    except yaml.MarkedYAMLError as exc:  # its text would quote the line: position and problem only
        raise yaml.YAMLError(parse_error(exc)) from None
    except RecursionError:
        raise yaml.YAMLError("nested too deeply to be a voxpop file") from None
    check_ceiling("yaml_nodes", count, source)
    return parse_yaml(text)


def read_recipe_text(path: Path, what: str = "recipe") -> str:
    """The text of a recipe file (or another voxpop YAML file, ``what``: ``cluster profile``): at most the ceiling
    ``recipe_bytes`` of UTF-8.

    Raises:
        ConfigError: the file is missing, larger than the ceiling, or not UTF-8 text (with the byte offset), each
            naming ``what`` the file should be.
    """
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found" + (" (a folder, not a file)" if path.is_dir() else ""))
    limit = ceiling("recipe_bytes")
    if path.stat().st_size > limit:
        check_ceiling("recipe_bytes", path.stat().st_size, str(path))
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r}); a {what} is a YAML "
            "text file: save it as UTF-8"
        ) from None


def load_recipe(path: str | Path, overrides: Sequence[str] = ()) -> Recipe:
    """Read a recipe YAML file, apply ``key.path=value`` overrides and validate it (every problem at once).

    Args:
        path: the recipe YAML file (UTF-8, within the ``recipe_bytes`` ceiling).
        overrides: ``key.path=value`` texts (the CLI's ``--set``), applied in order before validation; the value is
            read as YAML (``model.epochs=3``, ``grid.model.loss=[ce, cbce]``).

    Returns:
        The validated :class:`~voxpop.study.recipe.Recipe` (its variants checked, not expanded:
        :func:`~voxpop.study.definition.build_study` does that once).

    Raises:
        ConfigError: the file is missing, too large, not UTF-8 or not YAML; an override is malformed; the
            recipe is invalid (every problem with its key path, :func:`recipe_error`).
    """
    path = Path(path)
    text = read_recipe_text(path)
    try:
        data = read_yaml(text, str(path)) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a recipe is a mapping of keys (study, corpus, labels ...), got {type(data).__name__}"
        )
    for text in overrides:
        parts, value = parse_override(text)
        set_path(data, parts, value, f"--set {text}")
    return recipe_from_dict(data, str(path))


def non_finite(data: Any, path: str = "") -> Iterator[str]:
    """Key paths of the non-finite floats (``.inf``, ``-.inf``, ``.nan``) anywhere in plain recipe data, free-form
    option maps (``features.options``, ``corpus.arguments``, grid values) included.

    >>> list(non_finite({"model": {"optimiser": {"betas": [float("nan"), 0.999]}}, "grid": {"a.b": [1.0]}}))
    ['model.optimiser.betas[0]']
    """
    if isinstance(data, float) and not math.isfinite(data):
        yield path
    elif isinstance(data, Mapping):
        for key, value in data.items():
            yield from non_finite(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list | tuple):
        for i, value in enumerate(data):
            yield from non_finite(value, f"{path}[{i}]")


def not_unicode(data: Any, path: str = "") -> Iterator[str]:
    """Key paths of texts (keys included) that are not Unicode text: a YAML escape such as ``"\\udc80"`` gives a
    lone surrogate, which no file, hash or report can hold.

    >>> list(not_unicode({"title": chr(0xDC80), "model": {chr(0xD800): 1}}))
    ['title', 'model.\\\\ud800']
    """
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            yield path
    elif isinstance(data, Mapping):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and any(n == "" for n in not_unicode(key)):
                yield where.encode("utf-8", "backslashreplace").decode()
            else:
                yield from not_unicode(value, where)
    elif isinstance(data, list | tuple):
        for i, value in enumerate(data):
            yield from not_unicode(value, f"{path}[{i}]")


def recipe_from_dict(data: Mapping[str, Any], source: str = "(dict)") -> Recipe:
    """Validate a recipe given as a mapping; the grid's keys and values are checked too.

    Args:
        data: the recipe as plain data (what YAML gives: mappings, lists, texts, numbers).
        source: where the data came from, named in the error (a file path, or ``(dict)``).

    Returns:
        The validated :class:`~voxpop.study.recipe.Recipe` (its variants checked, not expanded).

    Raises:
        ConfigError: every problem with its key path (:func:`recipe_error`): non-finite numbers anywhere
            (:func:`non_finite`), texts that are not Unicode (:func:`not_unicode`), the schema's problems, grid keys
            and values, too many variants (ceiling ``variants``), the same variant twice.

    Example:
        >>> recipe = recipe_from_dict({"study": "s1", "corpus": {"demo": {}}, "grid": {"model.head": ["mlp", "svm"]}})
        >>> recipe.study, recipe.grid
        ('s1', {'model.head': ['mlp', 'svm']})
        >>> recipe_from_dict({"study": "s1", "corpus": {"demo": {}}, "grid": {"title": ["a"]}})
        Traceback (most recent call last):
        ...
        voxpop.core.errors.ConfigError: recipe (dict) is invalid (1 problem):
          - grid.title: only keys under features, model, protocol can vary in a study
    """
    bad = list(non_finite(data))
    problems = [f"{path}: Input should be a finite number (not .inf or .nan)" for path in bad]
    unicode = list(not_unicode(data))
    if unicode:  # nothing else can be checked: the schema's messages would quote the text
        problems += [
            f"{path}: holds a lone surrogate (a '\\udXXX' escape), which is not Unicode text; remove it"
            for path in unicode
        ]
        raise recipe_error(problems, source)
    try:
        recipe = Recipe.model_validate(data)
    except pydantic.ValidationError as exc:  # with the non-finite numbers, each once
        problems += [p for p in problems_of(exc) if not any(p.startswith(f"{path}:") for path in bad)]
    if problems:
        raise recipe_error(problems, source) from None
    _check_variant_count(recipe, source)
    problems = []
    named = {name: dict(_flatten(values)) for name, values in recipe.variants.items()}
    keys = [(f"grid.{k}", k) for k in recipe.grid] + [(f"variants.{n}.{k}", k) for n, v in named.items() for k in v]
    for where, key in keys:
        if key.split(".")[0] not in GRID_SECTIONS:
            problems.append(f"{where}: only keys under {', '.join(GRID_SECTIONS)} can vary in a study")
    problems += [f"grid.{key}: give at least one value" for key, values in recipe.grid.items() if not values]
    base = recipe.model_dump(mode="json", exclude={"grid", "variants"})
    changes = [
        (f"grid.{k}[{i}] ({_label(v)})", {k: v}) for k, values in recipe.grid.items() for i, v in enumerate(values)
    ]
    changes += [(f"variants.{name}", values) for name, values in named.items()]
    for where, values in changes if not problems else ():
        try:
            Recipe.model_validate(_with_values(base, values))
        except pydantic.ValidationError as exc:
            problems += [f"{where}: {p}" for p in problems_of(exc)]
    if problems:
        raise recipe_error(problems, source)
    expand_variants(recipe, source)  # combinations of valid values must be valid too
    return recipe


def varied_values(recipe: Recipe, key: str) -> list[Any]:
    """Every value the grid or a named variant gives the recipe key ``key`` (a dotted path), read from the recipe
    without expanding its variants (:func:`expand_variants` does that once, for the
    :class:`~voxpop.study.definition.Study`).

    Args:
        recipe: the recipe; key: e.g. ``features.store``.

    Returns:
        The grid's values of ``key``, then each named variant's value of it (variants that set it).
    """
    values = list(recipe.grid.get(key, []))
    for settings in recipe.variants.values():
        flat = dict(_flatten(settings))
        if key in flat:
            values.append(flat[key])
    return values


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaves of nested sections as (dotted key path, value); empty sections are leaves."""
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, path)
        else:
            yield path, value


def _with_values(base: Mapping[str, Any], values: Mapping[str, Any]) -> dict:
    """A deep copy of plain recipe data with ``values`` set at their dotted key paths."""
    data = yaml.safe_load(yaml.safe_dump(dict(base)))
    for key, value in values.items():
        set_path(data, key.split("."), value, f"grid.{key}")
    return data


def _label(value: Any) -> str:
    return str(value) if not isinstance(value, dict | list) else yaml.safe_dump(value, default_flow_style=True).strip()


def _check_variant_count(recipe: Recipe, source: str) -> None:
    """Refuse more variants than the ceiling ``variants``, counted before any is built."""
    count = max(len(recipe.variants), 1) * math.prod(len(values) for values in recipe.grid.values())
    check_ceiling("variants", count, f"recipe {source}: variants x grid")


def expand_variants(recipe: Recipe, source: str = "recipe") -> list[tuple[str, Recipe]]:
    """Every named variant (``variants``) times every combination of the grid's values, as (name, recipe).

    A named variant sets several keys together (e.g. features and head); the grid varies keys
    independently. Names join the variant name and ``last key part=value`` of each grid key, e.g.
    ``smile-svm, loss=cbce``; without either: ``[("base", recipe)]``.
    """
    _check_variant_count(recipe, source)
    base = recipe.model_dump(mode="json", exclude={"grid", "variants"})
    named = {name: dict(_flatten(values)) for name, values in recipe.variants.items()} or {"": {}}
    keys = list(recipe.grid)
    out, problems = [], []
    for (variant, values), combination in itertools.product(named.items(), itertools.product(*recipe.grid.values())):
        settings = {**values, **dict(zip(keys, combination, strict=True))}
        parts = [variant] if variant else []
        parts += [f"{k.split('.')[-1]}={_label(v)}" for k, v in zip(keys, combination, strict=True)]
        name = ", ".join(parts) or "base"
        try:
            out.append((name, Recipe.model_validate(_with_values(base, settings))))
        except pydantic.ValidationError as exc:
            problems += [f"variant ({name}): {p}" for p in problems_of(exc)]
    seen: dict[str, str] = {}
    for name, variant in out:
        key = variant.model_dump_json()
        if key in seen:
            problems.append(f"variant ({name}): the same recipe as variant ({seen[key]}); give each variant once")
        seen.setdefault(key, name)
    if problems:
        raise recipe_error(list(dict.fromkeys(problems)), source)
    return out


def check_resample(corpus: Corpus, recipe: Recipe, problems: list[str]) -> None:
    """What the bootstrap resamples, checked before any training: ``evaluation.resample: speakers`` needs the
    items' ``speaker`` column, and ``evaluation.bootstrap`` (``analyses.agreement.bootstrap``) resamples times
    the corpus's items stay under the ceiling ``bootstrap_cells`` (:mod:`voxpop.core.limits`)."""
    agreement = recipe.analyses.agreement
    for key, n_boot in (
        ("evaluation.bootstrap", recipe.evaluation.bootstrap),
        ("analyses.agreement.bootstrap", agreement.bootstrap if agreement is not None else 0),
    ):
        try:
            check_ceiling("bootstrap_cells", n_boot * len(corpus.items), f"{key} ({len(corpus.items):,} items)")
        except ConfigError as exc:
            problems.append(str(exc))
    if recipe.evaluation.resample == "speakers" and "speaker" not in corpus.items.columns:
        problems.append(
            f"evaluation.resample: speakers resamples the items' speakers, but corpus {corpus.name!r} has no 'speaker' "
            "item column; add it to items.parquet or resample items"
        )
