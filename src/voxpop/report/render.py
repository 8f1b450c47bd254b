"""Results -> one self-contained ``report.html`` and a ``report.md`` with the same tables and figures.

Build a :class:`Report`, add sections, fill them with tables (DataFrames), figures (matplotlib, see
:mod:`voxpop.report.plots`) and text, then :meth:`Report.write`:

>>> import pandas as pd
>>> report = Report("Study 3: aggregation rules", notice="The corpus is synthetic.")
>>> section = report.add_section("Results", "Macro-F1 on the **MR** test set.")
>>> _ = section.add_table("f1", pd.DataFrame({"rule": ["MR", "AR"], "macro_f1": [0.6234, 0.5]}), highlight="max")
>>> print(report.markdown().split("## Results")[1].strip())
Macro-F1 on the **MR** test set.
<BLANKLINE>
**Table 1: f1**
<BLANKLINE>
| rule | macro_f1 |
| :--- | ---: |
| MR | **0.623** |
| AR | 0.500 |

The HTML file needs nothing else: CSS is inline, figures are base64 PNG ``data:`` URIs, there are no
scripts and no links to other files. ``report.md`` links PNG files written to ``figures/``. For papers,
every table is also written as ``tables/<name>.tex`` (a booktabs ``table`` environment) and
``tables/<name>.csv`` (the same cells), and every figure as ``figures/<name>.pdf`` beside the PNG. Figures
are rendered when the report is written, or elsewhere as they are added (a Dask cluster's workers: the
report's ``submit``). Text is
"markdown-ish": paragraphs split by blank lines, ``- `` bullet lists, ``**bold**``, ``*italic*`` and
```code``` spans; everything else is shown literally (HTML-escaped). The same inputs give
byte-identical files (no dates anywhere; PNG metadata carries no software version or time).
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from voxpop.core.cache import output_directory, write_bytes, write_text
from voxpop.core.errors import ConfigError, InputError
from voxpop.report.markup import (
    Cells,
    FloatFormat,
    _html_cell,
    _markdown_cell,
    blocks_html,
    csv_text,
    inline_html,
    latex_table,
    markdown_text,
    table_cells,
)

FIGURE_DPI = 150


FIGURES_DIR = "figures"


TABLES_DIR = "tables"


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: #1b1b1b; background: #fff; margin: 0; line-height: 1.5; }
main { max-width: 1320px; margin: 0 auto; padding: 1.5rem 2rem 4rem; }
section > p, section > ul, nav { max-width: 70rem; }
h1 { font-size: 1.9rem; margin: 0.5rem 0 0.2rem; }
h2 { font-size: 1.4rem; margin-top: 2.5rem; border-bottom: 2px solid #ddd; padding-bottom: 0.2rem; }
.subtitle { color: #555; font-size: 1.1rem; margin-top: 0; }
.notice { background: #fff4d6; border: 2px solid #c98a00; border-left-width: 10px; border-radius: 4px;
  padding: 0.8rem 1rem; margin: 1rem 0 1.5rem; font-size: 1.05rem; }
nav ol { margin: 0.3rem 0; }
.table-wrap { overflow-x: auto; margin: 0 0 1.5rem; }
.table-caption { margin: 1rem 0 0.3rem; }
table { border-collapse: collapse; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; vertical-align: top; }
th { background: #f0f2f5; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
td.ci { font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafafa; }
figure { margin: 1.2rem 0 2rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #333; font-size: 0.95rem; margin-top: 0.3rem; }
code { background: #f3f3f3; padding: 0 0.2rem; border-radius: 3px; }
section.lead { background: #f5f8fb; border: 1px solid #c5d3e0; border-radius: 6px; padding: 0.2rem 1.2rem 0.6rem;
  margin: 1rem 0 1.5rem; }
section.lead h2 { margin-top: 0.6rem; }
section.lead > p:first-of-type { font-size: 1.15rem; }
section.lead figure img { max-width: min(100%, 820px); }
""".strip()


def slug(name: str) -> str:
    """A file- and anchor-safe name: lower case, runs of other characters replaced by ``-``.

    >>> slug("Cross-test: macro F1 (MR/PR/AR)")
    'cross-test-macro-f1-mr-pr-ar'
    """
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def figure_png(figure: Figure, dpi: int = FIGURE_DPI) -> bytes:
    """PNG bytes of a figure, without the metadata (software version) that would make them differ between runs.

    The constrained layout settles over two draws; drawing once before saving makes the bytes the same
    however often the figure was drawn before.
    """
    figure.draw_without_rendering()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def figure_files(figure: Figure) -> tuple[bytes, bytes]:
    """PNG (:func:`figure_png`, :data:`FIGURE_DPI`) and PDF bytes of a figure; a pure function of the figure, so
    figures can be rendered in other processes (:meth:`Report.render`).

    The PDF (vector graphics for papers, no creation date, so reruns give the same bytes) reuses the layout
    the PNG settled: the layout engine is switched off after the PNG (the figure keeps its axes positions),
    so the PDF costs one draw instead of three layout passes.
    """
    png = figure_png(figure)
    figure.set_layout_engine("none")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="pdf", metadata={"CreationDate": None, "Producer": None, "Creator": None})
    return png, buffer.getvalue()


@dataclasses.dataclass(frozen=True)
class _Table:
    name: str
    cells: Cells
    caption: str


@dataclasses.dataclass
class _Figure:
    name: str
    key: str  # file name stem and anchor
    figure: Figure | None  # None once rendered into png / pdf (Report.render)
    caption: str
    png: bytes = b""
    pdf: bytes = b""
    rendering: Any = None  # a future of (png, pdf) while it renders elsewhere (Report's submit)


@dataclasses.dataclass(frozen=True)
class _Text:
    text: str


class Section:
    """A titled part of a :class:`Report`; ``add_*`` methods return the section, so calls can be chained."""

    def __init__(
        self, title: str, text: str, names: set[str], submit: Callable | None = None, lead: bool = False
    ) -> None:
        self.title = title
        self.lead = lead  # the report's lead section (the headline): boxed, before the contents
        self.blocks: list[_Table | _Figure | _Text] = [_Text(text)] if text.strip() else []
        self._names = names  # slugs of every table and figure in the report
        self._submit = submit

    def _claim(self, name: str, kind: str) -> str:
        key = slug(name)
        if not key:
            raise ConfigError(f"{kind} name {name!r} has no letters or digits; name it so it can become a file name.")
        if key in self._names:
            raise ConfigError(f"{kind} name {name!r} is already used in this report (as {key!r}); pick another.")
        self._names.add(key)
        return key

    def add_text(self, text: str) -> Section:
        """A markdown-ish paragraph (or several, split by blank lines)."""
        self.blocks.append(_Text(text))
        return self

    def add_table(
        self,
        name: str,
        table: pd.DataFrame,
        caption: str = "",
        float_format: FloatFormat = ".3f",
        highlight: str | pd.DataFrame | None = None,
    ) -> Section:
        """A table rendered now (later changes to ``table`` do not show); see :func:`table_cells` for the options."""
        if not isinstance(table, pd.DataFrame):
            raise InputError(f"table {name!r}: expected a pandas DataFrame, found {type(table).__name__}.")
        self._claim(name, "table")
        self.blocks.append(_Table(name, table_cells(table, float_format, highlight), caption))
        return self

    def add_figure(self, name: str, figure: Figure, caption: str = "") -> Section:
        """A figure, rendered to PNG (:data:`FIGURE_DPI`) and PDF when the report is rendered or written
        (:meth:`Report.render`), or from now on elsewhere when the report has a ``submit``; do not change it
        after adding it. Saved as ``figures/<slug(name)>.png / .pdf``."""
        if not isinstance(figure, Figure):
            raise InputError(f"figure {name!r}: expected a matplotlib Figure, found {type(figure).__name__}.")
        key = self._claim(name, "figure")
        block = _Figure(name, key, figure, caption)
        if self._submit is not None:
            block.rendering = self._submit(figure_files, figure)
        self.blocks.append(block)
        return self


class Report:
    """A titled report of sections; ``notice`` is shown as a banner at the top (e.g. "synthetic corpus").

    ``submit(figure_files, figure)``, when given, starts rendering each figure as it is added and returns a
    future of its files (``concurrent.futures.Executor.submit``, or a Dask client's ``submit`` with
    ``pure=False``: the cluster's workers render while this process builds the rest of the report).
    """

    def __init__(
        self, title: str, subtitle: str = "", notice: str | None = None, submit: Callable | None = None
    ) -> None:
        self.title = title
        self.subtitle = subtitle
        self.notice = notice
        self.sections: list[Section] = []
        self._names: set[str] = set()
        self._submit = submit

    def add_section(self, title: str, text: str = "", lead: bool = False) -> Section:
        """A new section at the end; a ``lead`` section (the headline) is set off in a box and shown before the
        contents, so it is the first thing below the title."""
        section = Section(title, text, self._names, self._submit, lead)
        self.sections.append(section)
        return section

    def render(self) -> Report:
        """Give every figure its PNG and PDF (:func:`figure_files`) and return the report: those given to
        ``submit`` from their futures (rendered elsewhere, the same bytes: each figure is rendered by itself),
        the others rendered here."""
        for block in (b for s in self.sections for b in s.blocks if isinstance(b, _Figure) and b.figure is not None):
            files = block.rendering.result() if block.rendering is not None else figure_files(block.figure)
            (block.png, block.pdf), block.rendering, block.figure = files, None, None
        return self

    def _numbered(self) -> list[tuple[int, Section, list[tuple[str, object]]]]:
        """Sections with their blocks and the table / figure labels ("Table 3"), numbered in order: lead sections
        first, then the others in the order they were added."""
        tables = figures = 0
        out = []
        ordered = [s for s in self.sections if s.lead] + [s for s in self.sections if not s.lead]
        for s, section in enumerate(ordered, start=1):
            blocks = []
            for block in section.blocks:
                if isinstance(block, _Table):
                    tables += 1
                    blocks.append((f"Table {tables}", block))
                elif isinstance(block, _Figure):
                    figures += 1
                    blocks.append((f"Figure {figures}", block))
                else:
                    blocks.append(("", block))
            out.append((s, section, blocks))
        return out

    def html(self) -> str:
        """The whole report as one HTML document (inline CSS, embedded PNGs, no scripts or external links)."""
        self.render()
        esc = html.escape
        numbered = self._numbered()
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{esc(self.title)}</title>",
            f"<style>\n{_CSS}\n</style>",
            "</head>",
            "<body>",
            "<main>",
            f"<h1>{esc(self.title)}</h1>",
        ]
        if self.subtitle:
            parts.append(f'<p class="subtitle">{inline_html(self.subtitle)}</p>')
        if self.notice:
            parts.append(f'<div class="notice" role="note"><strong>Notice:</strong> {inline_html(self.notice)}</div>')
        leads = [entry for entry in numbered if entry[1].lead]
        for s, section, blocks in leads:
            parts.append(self._section_html(s, section, blocks))
        others = [entry for entry in numbered if not entry[1].lead]
        if len(others) > 1:
            items = "".join(f'<li><a href="#section-{s}">{esc(sec.title)}</a></li>' for s, sec, _ in others)
            parts.append(f"<nav><strong>Contents</strong><ol>{items}</ol></nav>")
        for s, section, blocks in others:
            parts.append(self._section_html(s, section, blocks))
        parts += ["</main>", "</body>", "</html>", ""]
        return "\n".join(parts)

    def _section_html(self, number: int, section: Section, blocks: list[tuple[str, object]]) -> str:
        attributes = f'id="section-{number}"' + (' class="lead"' if section.lead else "")
        parts = [f"<section {attributes}>", f"<h2>{html.escape(section.title)}</h2>"]
        parts += [self._block_html(label, block) for label, block in blocks]
        return "\n".join([*parts, "</section>"])

    @staticmethod
    def _block_html(label: str, block: _Table | _Figure | _Text) -> str:
        if isinstance(block, _Text):
            return blocks_html(block.text)
        caption = f"<strong>{label}:</strong> {inline_html(block.caption or block.name)}"
        if isinstance(block, _Figure):
            data = base64.b64encode(block.png).decode("ascii")
            alt = html.escape(f"{label}: {block.caption or block.name}")
            return (
                f'<figure id="{block.key}">\n<img alt="{alt}" src="data:image/png;base64,{data}">\n'
                f"<figcaption>{caption}</figcaption>\n</figure>"
            )
        cells = block.cells
        header = "".join(_html_cell("th", h, n, False) for h, n in zip(cells.header, cells.numeric, strict=True))
        rows = [
            "<tr>"
            + "".join(_html_cell("td", t, n, b) for t, n, b in zip(row, cells.numeric, bold, strict=True))
            + "</tr>"
            for row, bold in zip(cells.rows, cells.bold, strict=True)
        ]
        key = slug(block.name)  # the caption sits above the scrolling box: a wide table never hides it
        return (
            f'<p class="table-caption" id="{key}-caption">{caption}</p>\n'
            f'<div class="table-wrap"><table id="{key}" aria-describedby="{key}-caption">\n'
            f"<thead><tr>{header}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table></div>"
        )

    def markdown(self) -> str:
        """The report as GitHub-flavoured Markdown; figures link ``figures/<name>.png`` (written by :meth:`write`)."""
        parts = [f"# {markdown_text(self.title)}"]
        if self.subtitle:
            parts.append(f"*{markdown_text(self.subtitle)}*")
        if self.notice:
            lines = f"**Notice:** {markdown_text(self.notice)}".splitlines()
            parts.append("\n".join(f"> {line}" if line.strip() else ">" for line in lines))
        for _, section, blocks in self._numbered():
            parts.append(f"## {markdown_text(section.title)}")
            for label, block in blocks:
                parts.append(self._block_markdown(label, block))
        return "\n\n".join(parts) + "\n"

    @staticmethod
    def _block_markdown(label: str, block: _Table | _Figure | _Text) -> str:
        if isinstance(block, _Text):
            return markdown_text(block.text.strip())
        caption = markdown_text(block.caption or block.name)
        if isinstance(block, _Figure):
            alt = f"{label}: {caption}".replace("[", "\\[").replace("]", "\\]").replace("\n", " ")
            return f"![{alt}]({FIGURES_DIR}/{block.key}.png)\n\n*{label}: {caption}*"
        cells = block.cells
        lines = [
            "| " + " | ".join(_markdown_cell(h, False) for h in cells.header) + " |",
            "| " + " | ".join("---:" if n else ":---" for n in cells.numeric) + " |",
        ]
        for row, bold in zip(cells.rows, cells.bold, strict=True):
            lines.append("| " + " | ".join(_markdown_cell(t, b) for t, b in zip(row, bold, strict=True)) + " |")
        return f"**{label}: {caption}**\n\n" + "\n".join(lines)

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``report.html``, ``report.md``, ``figures/*.png`` / ``*.pdf`` and ``tables/*.tex`` / ``*.csv``
        into ``out_dir`` (rendering the figures not rendered yet here, see :meth:`render`); returns the two report
        paths."""
        self.render()
        out_dir = Path(out_dir)
        figures = output_directory(out_dir, FIGURES_DIR)
        tables = output_directory(out_dir, TABLES_DIR)
        for _, _, blocks in self._numbered():
            for label, block in blocks:
                if isinstance(block, _Figure):
                    write_bytes(figures / f"{block.key}.png", block.png)
                    write_bytes(figures / f"{block.key}.pdf", block.pdf)
                elif isinstance(block, _Table):
                    key = slug(block.name)
                    caption = f"{label}: {block.caption or block.name}"
                    write_text(tables / f"{key}.tex", latex_table(block.cells, caption, key))
                    write_text(tables / f"{key}.csv", csv_text(block.cells))
        html_path, md_path = out_dir / "report.html", out_dir / "report.md"
        write_text(html_path, self.html())
        write_text(md_path, self.markdown())
        return html_path, md_path
