"""Collecting the suite imports no training stack (issue #22, item 8).

``--doctest-modules`` imports every module under ``src/voxpop`` to find its doctests, and a module that
imports torch, Lightning or transformers at module level (directly or through another voxpop module) would
pull the whole training stack into collection. For such a module, :func:`pytest_collect_file` swaps
pytest's ``DoctestModule`` for :class:`LazyDoctestModule`, which reads the module's doctests from its
source (the same names, in the same order, as :class:`doctest.DocTestFinder` gives) and imports the module
only when the first of them runs. Each doctest is still one item and is still run; an item whose doctest
the finder does not give, or a doctest the source reading missed, fails the run.
"""

from __future__ import annotations

import ast
import doctest
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem, DoctestModule

#: Top-level packages that collection must not import (tests/test_collection.py checks the whole suite);
#: skops.io imports torch (scikit-learn's estimator discovery walks its array-API shim for torch).
HEAVY = frozenset({"torch", "torchaudio", "torchmetrics", "lightning", "pytorch_lightning", "transformers", "skops"})


def _is_type_checking(test: ast.expr) -> bool:
    return "TYPE_CHECKING" in ast.unparse(test)


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements run when the module is imported: into ``if`` / ``try`` / ``with``, not into ``def``
    bodies or ``if TYPE_CHECKING:`` blocks."""
    for node in body:
        if isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _module_level(block)
        elif isinstance(node, ast.With):
            yield from _module_level(node.body)
        else:
            yield node


def _package_root(path: Path) -> tuple[Path, str]:
    """The folder holding the top package of ``path`` and the module's dotted name."""
    parts = [] if path.name == "__init__.py" else [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    return folder, ".".join(parts)


@cache
def _source_file(root: Path, name: str) -> Path | None:
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def _imports(path: Path) -> frozenset[str]:
    """Dotted names ``path`` imports at module level (with their parent packages)."""
    root, name = _package_root(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in _module_level(ast.parse(path.read_bytes(), str(path)).body):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            submodules = (f"{module}.{alias.name}" for alias in node.names)
            names.update(sub for sub in submodules if _source_file(root, sub))
    return frozenset(".".join(n.split(".")[:i]) for n in names for i in range(1, n.count(".") + 2))


@cache
def heavy_imports(path: Path) -> frozenset[str]:
    """The :data:`HEAVY` packages that importing ``path`` imports, following its imports of modules of its
    own package (read from their source: nothing is imported)."""
    root, _ = _package_root(path)
    seen: set[Path] = set()
    found: set[str] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in _imports(current):
            if name.split(".")[0] in HEAVY:
                found.add(name.split(".")[0])
            elif (source := _source_file(root, name)) is not None:
                todo.append(source)
    return frozenset(found)


def doctest_names(path: Path) -> dict[str, int]:
    """Name -> 0-based line of each docstring in ``path`` that has examples, as :class:`doctest.DocTestFinder`
    names them (module, its functions and classes, their methods, properties and nested classes)."""
    _, module = _package_root(path)
    parser = doctest.DocTestParser()
    found: dict[str, int] = {}

    def visit(node: ast.AST, name: str, lineno: int) -> None:
        docstring = ast.get_docstring(node, clean=False)  # type: ignore[arg-type]
        if docstring and parser.get_examples(docstring) and name not in found:
            found[name] = lineno
        body = node.body if isinstance(node, ast.Module | ast.ClassDef) else []
        for child in _module_level(body):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                visit(child, f"{name}.{child.name}", child.lineno - 1)

    visit(ast.parse(path.read_bytes(), str(path)), module, 0)
    return dict(sorted(found.items()))


class LazyDoctestItem(DoctestItem):
    """One doctest of a :class:`LazyDoctestModule`: its module is imported and the doctest found when it runs."""

    def __init__(self, name: str, parent: LazyDoctestModule, lineno: int) -> None:
        super().__init__(name, parent, runner=None, dtest=None)  # type: ignore[arg-type]
        self.lineno = lineno

    @classmethod
    def from_parent(cls, parent, *, name: str, lineno: int):  # type: ignore[override]
        return super(DoctestItem, cls).from_parent(parent, name=name, lineno=lineno)

    def setup(self) -> None:
        real = self.parent.found(self.name)  # type: ignore[attr-defined]
        self.runner, self.dtest = real.runner, real.dtest
        super().setup()

    def reportinfo(self):
        if self.dtest is None:
            return self.path, self.lineno, f"[doctest] {self.name}"
        return super().reportinfo()


class LazyDoctestModule(DoctestModule):
    """pytest's ``DoctestModule`` for a module that imports the training stack: collecting it reads the source;
    the module is imported when its first doctest runs."""

    def collect(self) -> Iterator[LazyDoctestItem]:
        for name, lineno in doctest_names(self.path).items():
            yield LazyDoctestItem.from_parent(self, name=name, lineno=lineno)

    def found(self, name: str) -> DoctestItem:
        """pytest's own item for doctest ``name`` (importing the module on the first call)."""
        if not hasattr(self, "_found"):
            self._found = {item.name: item for item in DoctestModule.collect(self)}
        missed = sorted(set(self._found) - set(doctest_names(self.path)))
        if missed:
            pytest.fail(f"doctests of {self.path.name} not collected (conftest.doctest_names missed them): {missed}")
        if name not in self._found:
            pytest.fail(f"{self.path.name} has no doctest {name!r} (conftest.doctest_names read one)")
        return self._found[name]


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    """Swap pytest's doctest collector for the lazy one where the module imports torch, Lightning or
    transformers (see the module docstring)."""
    collectors = yield
    return [
        LazyDoctestModule.from_parent(parent, path=file_path)
        if type(collector) is DoctestModule and heavy_imports(file_path)
        else collector
        for collector in collectors
    ]


@pytest.fixture(autouse=True)
def doctests_run_in_a_temporary_folder(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch) -> None:
    """A doctest runs in its own temporary working folder, so one that writes a relative path
    (``demo_corpus("demo")``) writes there, never into the checkout (where it ran, pytest's folder)."""
    if isinstance(request.node, DoctestItem):
        monkeypatch.chdir(tmp_path)
