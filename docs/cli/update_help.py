"""Refresh the ``voxpop VERB --help`` blocks of the pages in this folder: ``python docs/cli/update_help.py``.

Each page holds its help text between ``<!-- help: ARGS -->`` and ``<!-- /help -->``, where ARGS are
the words after ``voxpop`` (e.g. ``import crema-d``); the text around the blocks is written by hand.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BLOCK = re.compile(r"(<!-- help: (?P<args>[^>]*?) -->\n).*?(<!-- /help -->)", re.S)


def help_text(args: str) -> str:
    """The help of ``voxpop ARGS`` at 100 columns, without colour and trailing blanks."""
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    voxpop = Path(sys.executable).with_name("voxpop")  # the console script installed beside this Python
    out = subprocess.run([str(voxpop), *args.split(), "--help"], capture_output=True, text=True, env=env, check=True)
    lines = [line.rstrip() for line in out.stdout.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    for page in sorted(Path(__file__).parent.glob("*.md")):
        text = page.read_text()
        new = BLOCK.sub(lambda m: f"{m.group(1)}```text\n{help_text(m.group('args'))}```\n{m.group(3)}", text)
        if new != text:
            page.write_text(new)
            print(f"updated {page.name}")


if __name__ == "__main__":
    main()
