"""Report tables and text as HTML, Markdown, LaTeX and CSV: cells with their intervals, the best value per
column highlighted, and inline markup escaped for each format.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError, InputError
from voxpop.core.formatting import MISSING, format_ci

FloatFormat = str | Callable[[float], str]


def with_ci(
    table: pd.DataFrame,
    value: str = "value",
    low: str = "low",
    high: str = "high",
    *,
    digits: int = 3,
    name: str | None = None,
) -> pd.DataFrame:
    """Replace the value / low / high columns of a tidy table by one text column "value [low, high]".

    The new column takes the value column's place and is named ``name`` (default: ``value``).

    >>> t = pd.DataFrame({"metric": ["uar"], "value": [0.6234], "low": [0.5811], "high": [0.6642]})
    >>> with_ci(t, name="UAR [95% CI]")
      metric          UAR [95% CI]
    0    uar  0.623 [0.581, 0.664]
    """
    missing = [c for c in (value, low, high) if c not in table.columns]
    if missing:
        raise InputError(f"with_ci: the table has no column(s) {missing}; its columns are {list(table.columns)}.")
    text = [format_ci(v, lo, hi, digits) for v, lo, hi in zip(table[value], table[low], table[high], strict=True)]
    out = table.drop(columns=[low, high]).assign(**{value: text})
    return out.rename(columns={value: name or value})


def format_cell(value: object, float_format: FloatFormat = ".3f") -> str:
    """Text of one table cell: floats by ``float_format`` (format spec or callable), missing values as "–".

    >>> [format_cell(v) for v in (0.12345, 7, "x", None, float("nan"), np.int64(3), True)]
    ['0.123', '7', 'x', '–', '–', '3', 'True']
    """
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return MISSING
    if isinstance(value, bool | np.bool_ | int | np.integer):
        return str(value)
    if isinstance(value, float | np.floating):
        return float_format(float(value)) if callable(float_format) else format(float(value), float_format)
    return str(value)


@dataclasses.dataclass(frozen=True)
class Cells:
    """A table as text: header, rows, which cells are bold and which columns are numeric."""

    header: list[str]
    rows: list[list[str]]
    bold: list[list[bool]]
    numeric: list[bool]


def _highlight_mask(frame: pd.DataFrame, highlight: str | pd.DataFrame | None) -> np.ndarray:
    if highlight is None:
        return np.zeros(frame.shape, dtype=bool)
    if isinstance(highlight, pd.DataFrame):
        if highlight.shape != frame.shape:
            raise ConfigError(
                f"highlight mask has shape {highlight.shape} but the table {frame.shape}; they must match."
            )
        return highlight.fillna(False).to_numpy(dtype=bool)
    if highlight not in ("max", "min"):
        raise ConfigError(f"highlight must be 'max', 'min', a boolean DataFrame or None, found {highlight!r}.")
    mask = np.zeros(frame.shape, dtype=bool)
    for j, column in enumerate(frame.columns):
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
            best = series.max() if highlight == "max" else series.min()
            mask[:, j] = (series == best).fillna(False).to_numpy(dtype=bool)
    return mask


def table_cells(
    frame: pd.DataFrame, float_format: FloatFormat = ".3f", highlight: str | pd.DataFrame | None = None
) -> Cells:
    """Render a DataFrame's cells as text; the index becomes leading columns unless it is unnamed and holds
    integers (a 0..n-1 range or the row numbers left by filtering: a pandas index, not data).

    ``highlight``: ``"max"`` / ``"min"`` marks the best value of every numeric column (all ties), a
    boolean DataFrame of the table's shape marks chosen cells. A header cell for the index shows
    ``index name \\ columns name`` when both are named (e.g. ``train \\ test`` of a cross-test matrix).

    >>> m = pd.DataFrame([[0.5, 0.25]], index=pd.Index(["MR"], name="train"),
    ...                  columns=pd.Index(["MR", "AR"], name="test"))
    >>> cells = table_cells(m, ".2f", highlight="max")
    >>> cells.header, cells.rows, cells.bold
    (['train \\\\ test', 'MR', 'AR'], [['MR', '0.50', '0.25']], [[False, True, True]])
    """
    columns = [
        " / ".join(str(level) for level in c) if isinstance(c, tuple) else str(c) for c in frame.columns.to_list()
    ]
    mask = _highlight_mask(frame, highlight)
    numeric = [
        pd.api.types.is_numeric_dtype(frame.iloc[:, j].dtype) and not pd.api.types.is_bool_dtype(frame.iloc[:, j].dtype)
        for j in range(frame.shape[1])
    ]
    body = [[format_cell(v, float_format) for v in row] for row in frame.itertuples(index=False, name=None)]
    index = frame.index
    if index.nlevels == 1 and index.name is None and pd.api.types.is_integer_dtype(index.dtype):
        return Cells(columns, body, mask.tolist(), numeric)
    names = [str(n) if n is not None else "" for n in index.names]
    if index.nlevels == 1 and frame.columns.name is not None and names[0]:
        names[0] = f"{names[0]} \\ {frame.columns.name}"
    keys = [list(k) if isinstance(k, tuple) else [k] for k in index.to_list()]
    return Cells(
        names + columns,
        [[format_cell(k, float_format) for k in key] + row for key, row in zip(keys, body, strict=True)],
        [[False] * index.nlevels + row for row in mask.tolist()],
        [False] * index.nlevels + numeric,
    )


_CODE = re.compile(r"`([^`]+)`")


_BOLD = re.compile(r"\*\*(.+?)\*\*")


_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")


def inline_html(text: str) -> str:
    """Escape text for HTML and turn ``**bold**``, ``*italic*`` and ```code``` into tags.

    >>> inline_html("**alpha** < 0.667 for `sad` & *happy*")
    '<strong>alpha</strong> &lt; 0.667 for <code>sad</code> &amp; <em>happy</em>'
    """
    parts = _CODE.split(text)  # odd positions are code spans, shown literally
    out = []
    for k, part in enumerate(parts):
        escaped = html.escape(part, quote=False)
        if k % 2:
            out.append(f"<code>{escaped}</code>")
        else:
            out.append(_ITALIC.sub(r"<em>\1</em>", _BOLD.sub(r"<strong>\1</strong>", escaped)))
    return "".join(out)


def blocks_html(text: str) -> str:
    """Paragraphs (split by blank lines) and ``- `` bullet lists as HTML.

    >>> print(blocks_html("First line\\nsame paragraph.\\n\\n- one\\n- two"))
    <p>First line same paragraph.</p>
    <ul><li>one</li><li>two</li></ul>
    """
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in block.strip().splitlines()]
        if not lines or not lines[0]:
            continue
        if all(line.startswith(("- ", "* ")) for line in lines):
            out.append("<ul>" + "".join(f"<li>{inline_html(line[2:])}</li>" for line in lines) + "</ul>")
        else:
            out.append(f"<p>{inline_html(' '.join(lines))}</p>")
    return "\n".join(out)


def markdown_text(text: str) -> str:
    """Markdown-ish text for report.md: ``&``, ``<``, ``>`` outside code spans become entities, shown literally.

    >>> markdown_text("alpha < 0.667 for `a<b` & **sad**")
    'alpha &lt; 0.667 for `a<b` &amp; **sad**'
    """
    parts = _CODE.split(text)
    return "".join(f"`{part}`" if k % 2 else html.escape(part, quote=False) for k, part in enumerate(parts))


def _markdown_cell(text: str, bold: bool) -> str:
    """A pipe-table cell: ``|`` and ``\\`` escaped, HTML special characters as entities, newlines as spaces."""
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*")
    text = html.escape(text, quote=False).replace("\n", " ")
    return f"**{text}**" if bold and text else text


_INTERVAL = re.compile(r"-?\d[\d.,]* \[-?\d[\d.,]*, -?\d[\d.,]*\]")  # "value [low, high]" of format_ci


def _html_cell(tag: str, text: str, numeric: bool, bold: bool) -> str:
    content = html.escape(text, quote=False).replace("\n", "<br>")
    content = f"<strong>{content}</strong>" if bold else content
    if numeric:
        return f'<{tag} class="num">{content}</{tag}>'
    if _INTERVAL.fullmatch(text):  # a value with its interval reads as one number: never broken across lines
        return f'<{tag} class="ci">{content}</{tag}>'
    return f"<{tag}>{content}</{tag}>"


# LaTeX's special characters, and Unicode that pdflatex cannot typeset without extra packages (as math)
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "–": "--", "—": "---",
    "α": r"$\alpha$", "κ": r"$\kappa$", "ρ": r"$\rho$", "σ": r"$\sigma$", "×": r"$\times$", "±": r"$\pm$",
    "≥": r"$\geq$", "≤": r"$\leq$", "→": r"$\rightarrow$", "…": r"\ldots{}", "·": r"$\cdot$",
}  # fmt: skip


_MARKUP = re.compile(r"\*\*(.+?)\*\*|`([^`]+)`")


def latex_text(text: str) -> str:
    r"""Text for LaTeX: special characters escaped, ``**bold**`` as \textbf, ```code``` as \texttt.

    >>> print(latex_text("macro_f1 [95 % CI] for **MR** & `a_b`"))
    macro\_f1 [95 \% CI] for \textbf{MR} \& \texttt{a\_b}
    """

    def escape(part: str) -> str:
        return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in part)

    out, last = [], 0
    for match in _MARKUP.finditer(text):
        out.append(escape(text[last : match.start()]))
        bold, code = match.groups()
        out.append(rf"\textbf{{{escape(bold)}}}" if bold is not None else rf"\texttt{{{escape(code)}}}")
        last = match.end()
    out.append(escape(text[last:]))
    return "".join(out).replace("\n", " ")


def latex_table(cells: Cells, caption: str, label: str) -> str:
    """A booktabs ``table`` (``\\toprule`` / ``\\midrule`` / ``\\bottomrule``; needs ``\\usepackage{booktabs}``).

    Numeric columns are right-aligned, bold cells ``\\textbf``; the label is ``tab:<label>``.
    """
    spec = "".join("r" if numeric else "l" for numeric in cells.numeric)

    def row(texts: list[str], bold: list[bool]) -> str:
        cells_tex = (rf"\textbf{{{latex_text(t)}}}" if b else latex_text(t) for t, b in zip(texts, bold, strict=True))
        return " & ".join(cells_tex)

    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{latex_text(caption)}}}",
        rf"\label{{tab:{label}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        row(cells.header, [False] * len(cells.header)) + r" \\",
        r"\midrule",
        *(row(r, b) + r" \\" for r, b in zip(cells.rows, cells.bold, strict=True)),
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def csv_text(cells: Cells) -> str:
    """The table's cells as CSV (header first), exactly as the report shows them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(cells.header)
    writer.writerows(cells.rows)
    return buffer.getvalue()
