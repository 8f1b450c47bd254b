"""A griffe extension: Sphinx roles in docstrings (``:func:`voxpop.features.extract```) become Markdown code spans.

voxpop's docstrings are Google style with reStructuredText inline markup, read by ``help()`` and by the API
reference (mkdocs.yml, tests/test_docstrings.py). Left as they are, the roles print as ``:func:`` noise and their
colons break griffe's reading of a ``Returns:`` line ("The :class:`Corpus`: ..." would split at ``:class``). This
extension rewrites each role to a code span before griffe parses the docstring, with Sphinx's display rule: a
leading ``~`` shows the last component only (``:class:`~voxpop.Corpus``` -> ``Corpus``). Cross-references that
mkdocs should check are written as Markdown links (``[Corpus][voxpop.corpus.corpus.Corpus]``), which strict mode
fails on when broken.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|mod|data|attr|meth|exc|obj|const|ref):`(?P<target>[^`]+)`")


def code_span(match: re.Match[str]) -> str:
    """The code span a role's target shows as (``~a.b.c`` -> ```c```, ``a.b.c`` -> ```a.b.c```)."""
    target = match["target"]
    shown = target[1:].rsplit(".", 1)[-1] if target.startswith("~") else target
    return f"`{shown}`"


def plain_roles(text: str) -> str:
    """``text`` with every Sphinx role replaced by a code span.

    >>> plain_roles("The :class:`~voxpop.Corpus`: see :func:`voxpop.read`.")
    'The `Corpus`: see `voxpop.read`.'
    """
    return ROLE.sub(code_span, text)


class SphinxRoles(griffe.Extension):
    """Rewrite the roles of every docstring griffe loads (before it is parsed)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain_roles(obj.docstring.value)
