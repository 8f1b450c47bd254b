"""Regenerate every real output quoted in README.md and docs/: ``python docs/regenerate.py [--only TEXT]``.

Two kinds of blocks are rewritten in place; the text around them is written by hand.

- ``<!-- help: ARGS -->`` ... ``<!-- /help -->``: the help of ``voxpop ARGS`` at 100 columns.
- ``<!-- run -->`` ... ``<!-- /run -->`` holding a ```` ```bash ```` block of commands and a
  ```` ```text ```` block: the commands run with bash, in order, in one work folder per page
  (``--work``, default a temporary folder), and their standard output replaces the text block.
  ``<!-- run: setup -->`` blocks run without an output block (imports that later blocks use);
  ``<!-- run: markdown -->`` blocks insert the output as Markdown (a table from docs/slice.py) and
  keep their commands in an HTML comment. The work folder links ``recipes`` and ``docs`` of the
  checkout, so commands written for the checkout's root run as written.
  Commands name data as ``DATA/...``: ``DATA`` is a link to the real data (``../shared/data`` beside
  the checkout, or ``$VOXPOP_SHARED_DATA``), so the commands in the docs run exactly as written.

A change of a default (fold count, metric rule, bootstrap) is followed by one run of this script
instead of stale numbers. Pages whose data are missing are skipped with a message.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
HELP = re.compile(r"(<!-- help: (?P<args>[^>]*?) -->\n).*?(<!-- /help -->)", re.S)
RUN = re.compile(
    r"<!-- run(?P<setup>: setup)? -->\n```bash\n(?P<commands>.*?)```\n(?:```text\n.*?```\n)?<!-- /run -->", re.S
)
MARKDOWN = re.compile(r"<!-- run: markdown\n(?P<commands>.*?)-->\n.*?<!-- /run -->", re.S)
ENV = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}


def voxpop() -> str:
    """The console script installed beside this Python."""
    return str(Path(sys.executable).with_name("voxpop"))


def help_text(args: str) -> str:
    """The help of ``voxpop ARGS`` without colour and trailing blanks."""
    out = subprocess.run([voxpop(), *args.split(), "--help"], capture_output=True, text=True, env=ENV, check=True)
    lines = [line.rstrip() for line in out.stdout.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines).rstrip() + "\n"


def run_block(commands: str, work: Path) -> str:
    """Standard output of the commands (bash, ``set -e``) in ``work``, trailing blanks removed."""
    env = {**ENV, "PATH": f"{Path(voxpop()).parent}{os.pathsep}{ENV.get('PATH', '')}"}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", commands], cwd=work, capture_output=True, text=True, env=env, check=False
    )
    if result.returncode:
        raise RuntimeError(f"commands failed in {work}:\n{commands}\n{result.stderr[-3000:]}")
    return "\n".join(line.rstrip() for line in result.stdout.splitlines()).rstrip() + "\n"


def regenerate(page: Path, work: Path, data: Path) -> bool:
    """Rewrite the blocks of one page; returns whether it changed."""
    text = page.read_text(encoding="utf-8")
    new = HELP.sub(lambda m: f"{m.group(1)}```text\n{help_text(m.group('args'))}```\n{m.group(3)}", text)
    if RUN.search(new) or MARKDOWN.search(new):
        folder = work / page.stem
        folder.mkdir(parents=True, exist_ok=True)
        for name, target in (("DATA", data), ("recipes", ROOT / "recipes"), ("docs", ROOT / "docs")):
            if not (folder / name).exists():
                (folder / name).symlink_to(target)

        def replace(match: re.Match) -> str:
            commands = match.group("commands")
            output = run_block(commands, folder)
            if match.group("setup"):
                return f"<!-- run: setup -->\n```bash\n{commands}```\n<!-- /run -->"
            return f"<!-- run -->\n```bash\n{commands}```\n```text\n{output}```\n<!-- /run -->"

        new = RUN.sub(replace, new)

        def table(match: re.Match) -> str:
            commands = match.group("commands")
            return f"<!-- run: markdown\n{commands}-->\n{run_block(commands, folder)}<!-- /run -->"

        new = MARKDOWN.sub(table, new)
    if new != text:
        page.write_text(new, encoding="utf-8")
    return new != text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="only pages whose path contains this text")
    parser.add_argument("--work", type=Path, help="work folder for the commands (default: temporary)")
    args = parser.parse_args()
    data = Path(os.environ.get("VOXPOP_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()
    with tempfile.TemporaryDirectory(prefix="voxpop-docs-") as tmp:
        work = args.work or Path(tmp)
        for page in PAGES:
            if args.only and args.only not in str(page.relative_to(ROOT)):
                continue
            text = page.read_text(encoding="utf-8")
            if (RUN.search(text) or MARKDOWN.search(text)) and not data.is_dir():
                print(f"skipped {page.relative_to(ROOT)}: no data folder at {data}")
                continue
            if regenerate(page, work, data):
                print(f"updated {page.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
