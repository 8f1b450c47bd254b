"""Where a recipe may read and write: the files and folders it names stay inside the places the user chose.

A recipe can come from elsewhere (a colleague, a paper's repository). The paths it names that voxpop creates,
writes or reads as data of the study (``features.store``, the label files of rule ``file``, imported fusion
predictions) must lie inside the recipe's own folder, the output folder (``--out``) or the recipe's feature
store; anything else (``features.store: /etc/voxpop``) needs the user's opt-in on the command line,
``voxpop run --allow-outside-paths``. :func:`check_recipe_paths` checks this before any work (nothing is
created first) and names every offending key and path. Paths are compared after resolving symbolic links and
``..``, relative paths from the working directory (as voxpop reads them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from voxpop.core.errors import ConfigError
from voxpop.study.recipe import Recipe


def recipe_paths(recipe: Recipe) -> Iterator[tuple[str, str]]:
    """The paths a recipe writes or reads as study data, as (key path, path as written).

    Example:
        >>> from voxpop.study.loading import recipe_from_dict
        >>> list(recipe_paths(recipe_from_dict({"study": "s", "corpus": {"demo": {}}, "features": {"store": "f"}})))
        [('features.store', 'f')]
    """
    if recipe.features.store is not None:
        yield "features.store", recipe.features.store
    for part in ("train", "test"):
        for name, spec in getattr(recipe.labels, part).items():
            if getattr(spec, "path", None) is not None:
                yield f"labels.{part}.{name}.path", spec.path
    for corpus, entry in recipe.corpora.items():
        for name, spec in entry.labels.items():
            if spec.path is not None:
                yield f"corpora.{corpus}.labels.{name}.path", spec.path
    if recipe.analyses.fusion is not None:
        for name, file in recipe.analyses.fusion.predictions.items():
            yield f"analyses.fusion.predictions.{name}", file


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_recipe_paths(recipe: Recipe, recipe_file: str | Path, out: str | Path, allow_outside: bool = False) -> None:
    """Refuse recipe paths outside the recipe's folder, ``out`` and the recipe's feature store, before any work.

    The feature store itself must lie inside the recipe's folder or ``out``; label and prediction files may also
    lie inside an accepted store. Every variant's ``features.store`` (grid, named variants) is checked too.

    Args:
        recipe: the validated recipe.
        recipe_file: the recipe file it was read from (its folder is trusted).
        out: the output folder of the run.
        allow_outside: the user's opt-in (``--allow-outside-paths``): nothing is refused.

    Raises:
        ConfigError: one line per path outside, with its key path and the resolved path (never the file's content),
            and the flag that allows it.
    """
    if allow_outside:
        return
    from voxpop.study.loading import varied_values

    folders = [Path(recipe_file).resolve().parent, Path(out).resolve()]
    stores = set(varied_values(recipe, "features.store")) - {None, recipe.features.store}
    keys = list(recipe_paths(recipe)) + [("features.store (a variant)", store) for store in sorted(stores)]
    problems = []
    for key, text in keys:
        path = Path(text).resolve()
        if key.startswith("features.store"):
            if not any(_inside(path, folder) for folder in folders):
                problems.append(f"{key}: {path}")
            else:
                folders.append(path)
    for key, text in keys:
        path = Path(text).resolve()
        if not key.startswith("features.store") and not any(_inside(path, folder) for folder in folders):
            problems.append(f"{key}: {path}")
    if problems:
        raise ConfigError(
            f"recipe {recipe_file} names paths outside the recipe's folder ({folders[0]}), the output folder "
            f"({folders[1]}) and the feature store:\n"
            + "\n".join(f"  - {p}" for p in problems)
            + "\nmove them there, or pass --allow-outside-paths to let this recipe use them"
        )


def absolute_recipe(recipe: Recipe) -> Recipe:
    """``recipe`` with every path it names made absolute (from the working directory, as voxpop reads them): the
    corpus folder, importer arguments that name existing files or folders, ``features.store``, ``features.noise_dir``,
    saved label sets and fusion's imported predictions, for every corpus of ``corpora`` too.

    Dask workers run elsewhere (another working directory, another machine on the shared filesystem), so the
    runner hands them absolute paths only. Symbolic links are kept (``Path.absolute``, not ``resolve``). Stage keys
    never hold these paths (:data:`voxpop.core.cache.LOCATIONS`): the same recipe run from two folders finds the
    same stages.

    Args:
        recipe: the validated recipe.

    Returns:
        A copy with absolute paths (``recipe`` itself is not changed).

    Example:
        >>> import os
        >>> from voxpop.study.loading import recipe_from_dict
        >>> r = absolute_recipe(recipe_from_dict({"study": "s", "corpus": {"demo": {}}, "features": {"store": "f"}}))
        >>> r.features.store == os.path.join(os.getcwd(), "f")
        True
    """

    def absolute(path: str | None) -> str | None:
        return None if path is None else str(Path(path).absolute())

    def source(spec: Any) -> Any:
        arguments = {
            k: absolute(v) if isinstance(v, str) and Path(v).exists() else v for k, v in spec.arguments.items()
        }
        update = {"path": absolute(spec.path), "arguments": arguments}
        if hasattr(spec, "labels"):  # a corpus of corpora: its own label sets
            update["labels"] = {n: s.model_copy(update={"path": absolute(s.path)}) for n, s in spec.labels.items()}
        return spec.model_copy(update=update)

    def label_sets(specs: dict[str, Any]) -> dict[str, Any]:
        located = {n: s for n, s in specs.items() if getattr(s, "path", None) is not None}
        return {**specs, **{n: s.model_copy(update={"path": absolute(s.path)}) for n, s in located.items()}}

    f = recipe.features
    labels = recipe.labels.model_copy(
        update={part: label_sets(getattr(recipe.labels, part)) for part in ("train", "test")}
    )
    update: dict[str, Any] = {
        "features": f.model_copy(update={"store": absolute(f.store), "noise_dir": absolute(f.noise_dir)}),
        "labels": labels,
        "corpora": {name: source(entry) for name, entry in recipe.corpora.items()},
    }
    if recipe.corpus is not None:
        update["corpus"] = source(recipe.corpus)
    fusion = recipe.analyses.fusion
    if fusion is not None:
        predictions = {n: absolute(p) for n, p in fusion.predictions.items()}
        update["analyses"] = recipe.analyses.model_copy(
            update={"fusion": fusion.model_copy(update={"predictions": predictions})}
        )
    return recipe.model_copy(update=update)
