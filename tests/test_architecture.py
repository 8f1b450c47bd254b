"""The shape of the package: no import cycle between voxpop modules, and small orchestration modules.

The import graph is read from the source with ``ast``: module-level imports AND imports inside functions
(a lazy import still makes two modules depend on each other), but not imports under ``if TYPE_CHECKING:``
(annotations only, never executed).
"""

from __future__ import annotations

import ast
from pathlib import Path

import voxpop

PACKAGE = Path(voxpop.__file__).parent
MAX_LINES = 600
ORCHESTRATION = [
    "runs.py",
    "stages.py",
    "study.py",
    "studyrun.py",
    "experiment.py",
    "recipe_labels.py",
    "recipe_loading.py",
    "preflight.py",
    "trained.py",
    "inference.py",
    "dimensional_study.py",
    "predictions.py",
    "evaluation.py",
    "analysis.py",
    "tuning.py",
    "cache.py",
    "execution.py",
    "scheduler.py",
    *sorted(str(p.relative_to(PACKAGE)) for p in (PACKAGE / "cli").glob("*_verbs.py")),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(tree: ast.AST, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The voxpop modules ``name`` imports (``from voxpop.x import y`` counts as x.y when that is a module, else x)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
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


def test_imports_inside_functions_and_relative_imports_are_edges():
    source = "from .b import x\n\ndef f():\n    import voxpop.c\n\nif TYPE_CHECKING:\n    from voxpop.d import y\n"
    known = {"voxpop.a", "voxpop.b", "voxpop.c", "voxpop.d"}
    assert imported_modules(ast.parse(source), "voxpop.a", False, known) == {"voxpop.b", "voxpop.c"}


def test_the_voxpop_import_graph_has_no_cycle():
    graph = import_graph()
    assert "voxpop.study_report" in graph and "voxpop.studyrun" in graph["voxpop.study_report"]
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_orchestration_modules_are_at_most_600_lines():
    present = [name for name in ORCHESTRATION if (PACKAGE / name).exists()]
    sizes = {name: len((PACKAGE / name).read_text().splitlines()) for name in present}
    assert {"runs.py", "stages.py", "study.py", "predictions.py", "evaluation.py"} <= set(sizes)
    offenders = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert not offenders, f"modules over {MAX_LINES} lines: {offenders}"


def test_model_names_agree_with_the_modules_that_build_them():
    """voxpop.model_spec names every head, classical model and loss without importing torch or scikit-learn;
    the modules that build them implement exactly those names, and each loss reads outputs as it says."""
    from sklearn.base import is_regressor

    from voxpop.losses import LOSS_MODULES
    from voxpop.model_spec import CLASSICAL, HEADS, LOSSES, REGRESSORS
    from voxpop.models import CLASSICAL_PIPELINES, HEAD_MODULES

    assert list(HEAD_MODULES) == list(HEADS)
    assert list(CLASSICAL_PIPELINES) == list(CLASSICAL)
    assert [name for name in CLASSICAL if is_regressor(CLASSICAL_PIPELINES[name](seed=0))] == list(REGRESSORS)
    assert list(LOSS_MODULES) == list(LOSSES)
    for name, kind in LOSSES.items():
        assert (LOSS_MODULES[name].multilabel, LOSS_MODULES[name].regression) == kind, name
