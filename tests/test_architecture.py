"""The shape of the package: packages by layer whose imports point one way, no import cycle, small modules.

The import graph is read from the source with ``ast``: module-level imports, imports inside functions (a lazy
import still makes two modules depend on each other) and imports under ``if TYPE_CHECKING:`` (an annotation is
a dependency too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import voxpop

PACKAGE = Path(voxpop.__file__).parent
MAX_LINES = 600
LAYERS: dict[str, set[str]] = {
    # package: the packages it may import (besides itself). Imports point from the CLI down to core.
    "core": set(),
    "corpus": {"core"},
    "labels": {"corpus", "core"},
    "features": {"corpus", "core"},
    "evaluation": {"labels", "corpus", "core"},
    "models": {"evaluation", "features", "labels", "corpus", "core"},
    "agreement": {"evaluation", "labels", "corpus", "core"},
    "study": {"agreement", "models", "evaluation", "features", "labels", "corpus", "core"},
    "report": {"study", "agreement", "models", "evaluation", "features", "labels", "corpus", "core"},
    "cli": {"report", "study", "agreement", "models", "evaluation", "features", "labels", "corpus", "core"},
}
TOP_LEVEL = {"voxpop", "voxpop.__main__", "voxpop.testing"}  # the library face, ``python -m voxpop``, test data


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.AST, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The voxpop modules ``name`` imports (``from voxpop.x import y`` counts as x.y when that is a module, else x)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:  # a sub-module by name, else a name defined in the module ``base``
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(p) for p in paths}
    graph = {}
    for path in paths:
        name = module_name(path)
        graph[name] = imported_modules(ast.parse(path.read_text()), name, path.name == "__init__.py", known)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules (first == last), or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for child in sorted(graph[node]):
            if state.get(child) == 1:
                return [*path[path.index(child) :], child]
            if child not in state and (found := visit(child)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_find_cycle_reports_a_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_inside_functions_type_only_and_relative_imports_are_edges():
    source = "from .b import x\n\ndef f():\n    import voxpop.c\n\nif TYPE_CHECKING:\n    from voxpop.d import y\n"
    known = {"voxpop.a", "voxpop.b", "voxpop.c", "voxpop.d"}
    assert imported_modules(ast.parse(source), "voxpop.a", False, known) == {"voxpop.b", "voxpop.c", "voxpop.d"}


def layer(module: str) -> str | None:
    """The package (layer) of a voxpop module, None for the library face."""
    return None if module in TOP_LEVEL else module.split(".")[1]


def test_every_module_lives_in_a_layer():
    stray = sorted(m for m in import_graph() if m not in TOP_LEVEL and layer(m) not in LAYERS)
    assert not stray, f"modules outside the layer packages {sorted(LAYERS)}: {stray}"


def test_imports_point_down_the_layers():
    upward = sorted(
        f"{module} -> {imported}"
        for module, imports in import_graph().items()
        for imported in imports
        if layer(module) is not None
        and layer(imported) is not None
        and layer(imported) != layer(module)
        and layer(imported) not in LAYERS[layer(module)]
    )
    assert not upward, "imports against the layer table (tests/test_architecture.py LAYERS):\n" + "\n".join(upward)


def test_the_voxpop_import_graph_has_no_cycle():
    graph = import_graph()
    assert "voxpop.report.study" in graph and "voxpop.study.run" in graph["voxpop.report.study"]
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_every_module_is_at_most_600_lines():
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert len(sizes) > 50
    offenders = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert not offenders, f"modules over {MAX_LINES} lines: {offenders}"


def test_model_names_agree_with_the_modules_that_build_them():
    """voxpop.models.specs names every head, classical model and loss without importing torch or scikit-learn;
    the modules that build them implement exactly those names, and each loss reads outputs as it says."""
    from sklearn.base import is_regressor

    from voxpop.models.heads import CLASSICAL_PIPELINES, HEAD_MODULES
    from voxpop.models.losses import LOSS_MODULES
    from voxpop.models.specs import CLASSICAL, HEADS, LOSSES, REGRESSORS

    assert list(HEAD_MODULES) == list(HEADS)
    assert list(CLASSICAL_PIPELINES) == list(CLASSICAL)
    assert [name for name in CLASSICAL if is_regressor(CLASSICAL_PIPELINES[name](seed=0))] == list(REGRESSORS)
    assert list(LOSS_MODULES) == list(LOSSES)
    for name, kind in LOSSES.items():
        assert (LOSS_MODULES[name].multilabel, LOSS_MODULES[name].regression) == kind, name


def test_no_is_dimensional_branch_outside_the_label_set_and_metric_code():
    """One path for every target kind: which kind a study's label sets are is asked of the label sets
    (``labels.kind``), never by an "is this recipe dimensional" predicate above the labels and metric code."""
    allowed = ("labels/", "evaluation/")
    hits = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in PACKAGE.rglob("*.py")
        if not str(path.relative_to(PACKAGE)).startswith(allowed)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "is_dimensional" in line
    ]
    assert not hits, "is_dimensional outside voxpop/labels and voxpop/evaluation: " + ", ".join(hits)

