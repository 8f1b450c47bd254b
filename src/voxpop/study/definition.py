"""A study as one value: :class:`Study`, built once from a recipe by :func:`build_study` and passed down.

The recipe's variants (named variants x grid) are expanded, its corpus source (the demo / import / merge
stage, or a saved corpus) and the directory of the corpus it reads are resolved, and the target kind of its
label sets is known (``categorical`` classes or ``continuous`` dimensions, :data:`voxpop.labels.TARGET_KINDS`).
The pre-flight check (:func:`voxpop.study.checks.check_recipe`), the planner (:func:`voxpop.study.plan.plan_study`),
the runner (:func:`voxpop.study.run.run_recipe`), the runs (:func:`voxpop.models.saved_runs.write_runs`), the
report and the CLI read it; none of them expands the variants or resolves the corpus again.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from voxpop.core.cache import Stage
from voxpop.core.errors import ConfigError
from voxpop.labels.label_sets import label_kind
from voxpop.study.corpus_source import corpus_directory, corpus_source
from voxpop.study.loading import expand_variants
from voxpop.study.recipe import Recipe
from voxpop.study.recipe_paths import absolute_recipe

MIXED = "mixed"
"""The target kind of a recipe whose label sets give both classes and dimensions (the check refuses it)."""


@dataclasses.dataclass(frozen=True)
class Study:
    """A recipe made ready to check, plan and run.

    Attributes:
        recipe: the recipe as loaded (overrides applied), its paths made absolute
            (:func:`~voxpop.study.recipe_paths.absolute_recipe`).
        source: where it was read from (named in error messages), e.g. the recipe file.
        variants: every variant as (name, recipe), the named variants times the grid (``base`` without either).
        corpus_stage: the stage that builds, imports or merges the corpus; None for a saved corpus (``corpus.path``).
        corpus_source_key: the key of the corpus content before it is built (the stage's key, or the files' hash).
        corpus_dir: the directory of the corpus the study reads (None when the study has no output directory).
        target_kind: ``categorical``, ``continuous`` or :data:`MIXED` (label sets of both kinds).
        label_specs: every label-set spec by (``train`` / ``test``, name).
        out_dir: the output directory the study was built for, absolute (None: planning only).
    """

    recipe: Recipe
    source: str
    variants: tuple[tuple[str, Recipe], ...]
    corpus_stage: Stage | None
    corpus_source_key: str
    corpus_dir: Path | None
    target_kind: str
    label_specs: dict[tuple[str, str], Any]
    out_dir: Path | None = None

    @property
    def variant_names(self) -> list[str]:
        """The variants' names in order."""
        return [name for name, _ in self.variants]


def build_study(recipe: Recipe, out_dir: str | Path | None = None, source: str = "recipe") -> Study:
    """The :class:`Study` of ``recipe`` written into ``out_dir`` (its stage cache is ``out_dir/cache``).

    Args:
        recipe: a loaded recipe (:func:`voxpop.study.loading.load_recipe`).
        out_dir: the study's output directory; None: the corpus directory is left unresolved (planning only).
        source: where the recipe came from, for error messages.

    Returns:
        The study with its variants expanded, corpus source and directory resolved and target kind known.

    Raises:
        ConfigError: a variant that is not a valid recipe, too many variants, or a saved corpus directory
            without its files (listing every problem with its key path).

    Example:
        >>> from voxpop.study.loading import recipe_from_dict
        >>> grid = {"model.head": ["mlp", "svm"]}
        >>> r = recipe_from_dict({"study": "s", "corpus": {"demo": {"size": "tiny"}}, "grid": grid})
        >>> study = build_study(r)
        >>> study.variant_names, study.target_kind, study.corpus_stage.kind
        (['head=mlp', 'head=svm'], 'categorical', 'corpus')
    """
    recipe = absolute_recipe(recipe)  # workers elsewhere read the same files; stage keys hold no path
    variants = tuple((name, absolute_recipe(variant)) for name, variant in expand_variants(recipe, source))
    stage, key = corpus_source(recipe)
    specs = {(part, name): spec for part in ("train", "test") for name, spec in getattr(recipe.labels, part).items()}
    kinds = {label_kind(spec) for spec in specs.values()}
    kind = MIXED if len(kinds) > 1 else next(iter(kinds), "categorical")
    out = None if out_dir is None else Path(out_dir).absolute()
    directory = None if out is None else corpus_directory(recipe, out / "cache", stage)
    return Study(recipe, source, variants, stage, key, directory, kind, specs, out)


def as_study(value: Study | Recipe, out_dir: str | Path | None = None, source: str = "recipe") -> Study:
    """``value`` itself when it is a :class:`Study`, else :func:`build_study` of the recipe (library callers may
    pass either). A study built without an output directory gets ``out_dir`` (its corpus directory resolved).

    Args:
        value: a study, or a recipe to build one from.
        out_dir: the output directory.
        source: where the recipe came from (recipes only).

    Returns:
        The :class:`Study`.

    Raises:
        ConfigError: as :func:`build_study`, or a study built for another output directory than ``out_dir``.
    """
    if not isinstance(value, Study):
        return build_study(value, out_dir, source)
    if out_dir is None or value.out_dir == Path(out_dir).absolute():
        return value
    if value.out_dir is not None:
        raise ConfigError(
            f"the study was built for output directory {value.out_dir}, not {out_dir}; build it for {out_dir} "
            "(voxpop.study.build_study(recipe, out_dir))"
        )
    out = Path(out_dir).absolute()
    directory = corpus_directory(value.recipe, out / "cache", value.corpus_stage)
    return dataclasses.replace(value, corpus_dir=directory, out_dir=out)
