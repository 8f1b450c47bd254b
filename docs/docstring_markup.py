"""A griffe extension: voxpop's reStructuredText inline markup in docstrings, made readable as Markdown.

voxpop's docstrings are Google style with reStructuredText inline markup, read by ``help()``, by doctest and by
the API reference (mkdocs.yml, tests/test_docstrings.py). Before griffe parses a docstring, this extension
rewrites two things that Markdown would misread:

- Sphinx roles (``:func:`voxpop.features.extract```) become code spans, with Sphinx's display rule: a leading
  ``~`` shows the last component only (``:class:`~voxpop.Corpus``` -> ``Corpus``). Left as they are, they print
  as ``:func:`` noise and their colons break the reading of a ``Returns:`` line ("The :class:`Corpus`: ..."
  would split at ``:class``).
- Doctest blocks (``>>>`` lines and their output, up to a blank line) become fenced ``pycon`` code blocks, so that
  ``>>>`` is not a block quote and ``[a][b]`` in an example is not a Markdown link.

Cross-references that mkdocs should check are written as Markdown links (``[Corpus][voxpop.corpus.corpus.Corpus]``),
which strict mode fails on when broken.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|mod|data|attr|meth|exc|obj|const|ref):`(?P<target>[^`]+)`")
PROMPT = re.compile(r"^(?P<indent>\s*)>>>( |$)")


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


def fenced_doctests(text: str) -> str:
    """``text`` with every doctest block (a ``>>>`` line and the lines after it up to a blank line) in a fence.

    >>> fenced_doctests("Sum:\\n\\n  >>> 1 + 1\\n  2\\n\\nDone.").split("\\n")
    ['Sum:', '', '  ```pycon', '  >>> 1 + 1', '  2', '  ```', '', 'Done.']
    """
    lines, out, inside, indent = text.split("\n"), [], False, ""
    for line in lines:
        prompt = PROMPT.match(line)
        if not inside and prompt:
            inside, indent = True, prompt["indent"]
            out.append(f"{indent}```pycon")
        elif inside and not line.strip():
            inside = False
            out.append(f"{indent}```")
        out.append(line)
    if inside:
        out.append(f"{indent}```")
    return "\n".join(out)


class DocstringMarkup(griffe.Extension):
    """Rewrite the roles and doctest blocks of every docstring griffe loads (before it is parsed)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fenced_doctests(plain_roles(obj.docstring.value))
