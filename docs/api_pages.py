"""Write the API reference pages (docs/api/*.md) from the package faces' ``__all__``: ``python docs/api_pages.py``.

One page per public face: the top-level ``voxpop``, every layer package but the CLI, and ``voxpop.testing``.
A page is the face's docstring followed by one mkdocstrings directive (``::: dotted.path``) per name of its
``__all__``, pointing at the module that defines the name: the faces are lazy (PEP 562, see
:mod:`voxpop.core.faces`), so griffe, which reads the source without running it, would not find the names on the
face itself. ``make docs`` runs this script before ``mkdocs build``, and tests/test_docstrings.py fails when a
committed page differs from what this script writes (a name added to a face without rerunning it).

Resolving a name imports nothing heavy: a lazy face's ``_EXPORTS`` table names the submodule, an eager face
(``voxpop.features``) or the top-level face has the object in its namespace already, and the rest of the
top-level names (``Corpus`` and the packages ``labels``, ``agreement``, ``testing``) import light modules.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api"
UNDOCUMENTED_FACES = {"voxpop.cli"}  # the CLI's face is its commands, documented in docs/cli/


def faces() -> list[str]:
    """The public faces, in the order of the reference's navigation: ``voxpop``, its layer packages bottom-up in
    alphabetical order (all but the CLI), then ``voxpop.testing``."""
    import voxpop

    packages = [f"voxpop.{info.name}" for info in pkgutil.iter_modules(voxpop.__path__) if info.ispkg]
    return ["voxpop", *sorted(set(packages) - UNDOCUMENTED_FACES), "voxpop.testing"]


def page_name(face: str) -> str:
    """The page of a face, relative to docs/api: ``voxpop.labels`` -> ``labels.md``, ``voxpop`` -> ``voxpop.md``."""
    return ("voxpop" if face == "voxpop" else face.removeprefix("voxpop.")) + ".md"


def export_paths(face: str) -> dict[str, str]:
    """Each name of ``face.__all__`` -> the dotted path of its definition (``voxpop.labels.rules.make_labels``); a
    name that is itself a documented face maps to that face's name (``voxpop.labels``)."""
    module = importlib.import_module(face)
    exports = getattr(module, "_EXPORTS", {})
    documented = set(faces())
    paths = {}
    for name in module.__all__:
        if name in exports:
            paths[name] = f"{face}.{exports[name]}.{name}"
            continue
        value = vars(module)[name] if name in vars(module) else getattr(module, name)
        if isinstance(value, ModuleType):
            if value.__name__ not in documented:
                raise SystemExit(f"{face}.__all__ names the module {value.__name__}, which has no page")
            paths[name] = value.__name__
        elif inspect.isclass(value) or inspect.isfunction(value):
            paths[name] = f"{value.__module__}.{value.__qualname__}"
        else:  # a constant defined in the face itself
            paths[name] = f"{face}.{name}"
    return paths


def home(path: str) -> str:
    """The face whose page documents the definition at ``path``: the innermost documented face holding it
    (``voxpop.core.errors.ConfigError`` -> ``voxpop.core``, though the top-level face re-exports it too)."""
    return max((face for face in faces() if path == face or path.startswith(f"{face}.")), key=len)


def render(face: str) -> str:
    """The Markdown of ``face``'s page: one directive per name it defines, a cross-reference per name it re-exports
    from another face (so each object has one place, and one anchor, in the reference)."""
    lines = [
        f"<!-- Written by docs/api_pages.py from {face}.__all__: edit the docstrings, not this page. -->",
        f"# {face}",
        "",
        f"::: {face}",
        "    options:",
        "      members: false",
        "      show_root_heading: false",
        "      show_root_toc_entry: false",
        "",
    ]
    elsewhere = []
    for name, path in export_paths(face).items():
        if path in faces():
            elsewhere.append(f"- [`{name}`]({page_name(path)}): `{path}`, a face of its own.")
        elif home(path) != face:
            elsewhere.append(f"- [`{name}`][{path}]: defined in `{home(path)}`.")
        else:
            lines += [f"::: {path}", "    options:", "      heading_level: 2", f"      heading: {name}", ""]
    if elsewhere:
        lines += ["## Re-exported", "", *elsewhere, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, compare) every page; exit status 1 when ``--check`` finds a stale page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report pages that differ; write nothing")
    args = parser.parse_args(argv)
    stale = []
    API.mkdir(exist_ok=True)
    for face in faces():
        path = API / page_name(face)
        text = render(face)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path.relative_to(ROOT))
        if not args.check:
            path.write_text(text)
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'} {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
