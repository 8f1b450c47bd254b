"""Lazy package faces (PEP 562): a package's ``__init__`` names its public API without importing it.

A layer package's ``__init__.py`` is its public face: ``__all__`` lists the names other packages and users
need, and :func:`lazy_face` gives it a module ``__getattr__`` that imports the submodule holding a name on
first access (and caches the value in the package), plus a ``__dir__`` that lists ``__all__``. Importing a
face therefore imports nothing heavy (torch, Lightning, Dask, transformers, crowd-kit, scipy, matplotlib),
and a face never imports its own submodules at import time, so no import cycle can run through it.

Example:
    In ``voxpop/labels/__init__.py``::

        _EXPORTS = {"make_labels": "rules", "LabelSet": "labelset"}
        __all__ = sorted(_EXPORTS)
        __getattr__, __dir__ = lazy_face(__name__, _EXPORTS)

    then ``from voxpop.labels import make_labels`` imports ``voxpop.labels.rules`` at that moment.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any


def lazy_face(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of a lazy package face.

    Args:
        package: the package's ``__name__`` (e.g. ``"voxpop.labels"``).
        exports: public name -> the submodule (relative to ``package``) that defines it.

    Returns:
        ``(__getattr__, __dir__)``: ``__getattr__(name)`` imports ``package.<exports[name]>``, stores the value
        in the package's namespace (later lookups do not call it again) and returns it; other names raise
        ``AttributeError`` (so ``from package import submodule`` still imports the submodule).
        ``__dir__()`` lists the module's globals and the exported names.

    Raises:
        AttributeError: from ``__getattr__``, for a name that is not exported.

    Example:
        >>> getattr_, dir_ = lazy_face("voxpop.core", {"ConfigError": "errors"})
        >>> getattr_("ConfigError").__name__
        'ConfigError'
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__


def callable_module(package: str, function: str, doc: str) -> None:
    """Make the module object of ``package`` callable: calling it calls ``package.<function>``.

    ``import voxpop as vp; vp.labels(corpus, "mr")``: ``vp.labels`` is the package ``voxpop.labels`` (a
    submodule import sets it on ``voxpop`` whatever the face defines), so the package's module object gets a
    :class:`~types.ModuleType` subclass with ``__call__``; ``voxpop.labels.registry`` and every other
    submodule still import as before.

    Args:
        package: the package's ``__name__``.
        function: the name (an export of the package's face) that a call forwards to.
        doc: the ``__call__`` docstring (help on the call).

    Returns:
        None; ``sys.modules[package].__class__`` is replaced.

    Raises:
        KeyError: ``package`` is not imported.

    Example:
        >>> import voxpop.agreement
        >>> callable(voxpop.agreement)
        True
    """
    module = sys.modules[package]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self, function)(*args, **kwargs)

    __call__.__doc__ = doc
    name = "".join(part.title() for part in package.split(".")) + "Module"
    module.__class__ = type(name, (ModuleType,), {"__call__": __call__, "__doc__": module.__doc__})
