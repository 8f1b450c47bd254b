"""Matrix figures of the report (matplotlib, Agg canvas): heatmaps of train x test results with their
intervals, a shared colour scale and the direction in which a metric is better.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from voxpop.core.errors import ConfigError
from voxpop.core.formatting import MISSING, format_ci
from voxpop.evaluation.analysis import pivot_cross_test
from voxpop.report.plots import _figure, _label_ticks, _require_columns


def _draw_matrix(
    axes,
    values: np.ndarray,
    texts: list[list[str]],
    rows: Sequence[object],
    columns: Sequence[object],
    cmap: str,
    colorbar_label: str,
    fontsize: float,
    limits: tuple[float, float] | None = None,
    marks: dict[str, float] | None = None,
) -> None:
    """Coloured cells with their texts (black or white by the cell colour's luminance) and a colour bar.

    ``limits`` fixes the colour scale (vmin, vmax), e.g. one scale for every heatmap of a metric;
    ``marks`` draws labelled lines on the colour bar (e.g. chance levels) where they fall inside it.
    """
    figure = axes.get_figure()
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if limits is not None:
        low, high = limits
    vmax = high if high > low else low + 1
    colours = matplotlib.colormaps[cmap].with_extremes(bad="#eeeeee")
    image = axes.imshow(np.ma.masked_invalid(values), cmap=colours, vmin=low, vmax=vmax, aspect="auto")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            r, g, b, _ = image.cmap(image.norm(values[i, j])) if np.isfinite(values[i, j]) else (1, 1, 1, 1)
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            color = "white" if dark else "black"
            axes.text(j, i, texts[i][j], ha="center", va="center", fontsize=fontsize, color=color)
    _label_ticks(axes, [str(c) for c in columns])
    _label_ticks(axes, [str(r) for r in rows], axis="y")
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    colorbar = figure.colorbar(image, ax=axes, shrink=0.85)
    colorbar.set_label(colorbar_label)
    for label, value in (marks or {}).items():
        if np.isfinite(value) and low <= value <= vmax:
            colorbar.ax.axhline(value, color="red", linewidth=2)
            colorbar.ax.annotate(
                label, (0, value), xycoords=("axes fraction", "data"), xytext=(-3, 0), textcoords="offset points",
                ha="right", va="center", fontsize=7, color="red",
            )  # fmt: skip


def heatmap(
    matrix: pd.DataFrame,
    title: str = "",
    fmt: str | None = None,
    cmap: str = "Blues",
    *,
    normalize_rows: bool = False,
    colorbar_label: str | None = None,
) -> Figure:
    """Annotated matrix (confusion matrix, MLCM, agreement matrix): rows = index, columns = columns.

    ``normalize_rows`` divides each row by its sum (a row summing to 0 shows as missing), so the
    diagonal of a confusion matrix reads as recall. ``fmt`` is a format spec for the cell texts;
    default ``"d"`` for integer counts, ``".2f"`` otherwise. Axis labels are the index and column
    names (``true`` / ``predicted`` for :func:`voxpop.agreement.confusion.mlcm`).

    >>> m = pd.DataFrame([[3, 1], [0, 2]], index=pd.Index(["A", "S"], name="true"),
    ...                  columns=pd.Index(["A", "S"], name="predicted"))
    >>> [t.get_text() for t in heatmap(m).axes[0].texts]
    ['3', '1', '0', '2']
    >>> [t.get_text() for t in heatmap(m, normalize_rows=True).axes[0].texts]
    ['0.75', '0.25', '0.00', '1.00']
    """
    values = matrix.to_numpy(dtype=float)
    if normalize_rows:
        sums = values.sum(axis=1, keepdims=True)
        values = np.divide(values, sums, out=np.full_like(values, np.nan), where=sums > 0)
    integer = not normalize_rows and all(pd.api.types.is_integer_dtype(d) for d in matrix.dtypes)
    fmt = fmt or ("d" if integer else ".2f")
    texts = [[MISSING if np.isnan(v) else format(int(v) if fmt == "d" else v, fmt) for v in row] for row in values]
    n_rows, n_columns = values.shape
    row_label = max((len(str(r)) for r in matrix.index), default=0)
    column_label = max((len(str(c)) for c in matrix.columns), default=0)
    figure, axes = _figure(
        max(4.5, 2.5 + 0.85 * n_columns + 0.08 * row_label), 1.5 + 0.5 * n_rows + 0.07 * column_label
    )
    label = colorbar_label or ("share of row" if normalize_rows else "count" if integer else "value")
    _draw_matrix(axes, values, texts, matrix.index, matrix.columns, cmap, label, 9 if n_columns < 10 else 7)
    axes.set_xlabel(matrix.columns.name or "")
    axes.set_ylabel(matrix.index.name or "")
    axes.set_title(title)
    return figure


def better_cmap(better: str, cmap: str = "viridis") -> str:
    """The colour map of a metric: ``cmap`` when higher is better, reversed (``_r``) when lower is better, so the
    better end has the same colour in every heatmap.

    >>> better_cmap("higher"), better_cmap("lower"), better_cmap("lower", "Blues_r")
    ('viridis', 'viridis_r', 'Blues')
    """
    if better not in ("higher", "lower"):
        raise ConfigError(f"better must be 'higher' or 'lower', found {better!r}")
    if better == "higher":
        return cmap
    return cmap[:-2] if cmap.endswith("_r") else f"{cmap}_r"


def shared_limits(long_table: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Per metric the (lowest, highest) point value over all rows: one colour scale for every heatmap of a metric.

    >>> t = pd.DataFrame({"metric": ["uar", "uar", "kld"], "value": [0.4, 0.7, 0.2]})
    >>> shared_limits(t)
    {'uar': (0.4, 0.7), 'kld': (0.2, 0.2)}
    """
    _require_columns(long_table, ["metric", "value"], "shared_limits")
    values = long_table.assign(value=long_table["value"].astype(float)).groupby("metric", sort=False)["value"]
    return {m: (float(lo), float(hi)) for m, lo, hi in zip(values.min().index, values.min(), values.max(), strict=True)}


def cross_test_heatmap(
    long_table: pd.DataFrame,
    metric: str,
    *,
    title: str | None = None,
    digits: int = 2,
    cmap: str = "viridis",
    better: str = "higher",
    limits: tuple[float, float] | None = None,
    chance: dict[str, float] | None = None,
    name: str | None = None,
) -> Figure:
    """Train x test matrix of one metric from :func:`voxpop.evaluation.analysis.cross_test_matrix`, cells "0.62\\n[0.58,
    0.66]".

    Rows are the train conditions, columns the test conditions, both in order of appearance; the
    colour is the point value and the text adds the bootstrap interval when there is one. ``better``
    (``"higher"`` / ``"lower"``) names the metric's direction on the colour bar and reverses ``cmap``
    for lower-is-better metrics; ``limits`` fixes the colour scale (:func:`shared_limits`); ``chance``
    marks chance levels (label -> value) on the colour bar; ``name`` is the metric as a reader knows it
    (e.g. "macro-F1"; default: ``metric``).

    >>> t = pd.DataFrame({"train": ["MR", "MR", "AR", "AR"], "test": ["MR", "AR", "MR", "AR"],
    ...                   "metric": "uar", "value": [0.62, 0.5, 0.55, 0.7], "low": [0.58, 0.4, 0.5, 0.6],
    ...                   "high": [0.66, 0.6, 0.6, 0.8]})
    >>> figure = cross_test_heatmap(t, "uar", limits=(0.0, 1.0))
    >>> [t.get_text() for t in figure.axes[0].texts][:2], figure.axes[0].images[0].get_clim()
    (['0.62\\n[0.58, 0.66]', '0.50\\n[0.40, 0.60]'], (0.0, 1.0))
    >>> figure.axes[1].get_ylabel()
    'uar (higher is better)'
    """
    _require_columns(long_table, ["train", "test", "metric", "value", "low", "high"], "cross_test_heatmap")
    value = pivot_cross_test(long_table, metric)
    low = pivot_cross_test(long_table.assign(value=long_table["low"]), metric)
    high = pivot_cross_test(long_table.assign(value=long_table["high"]), metric)
    texts = [
        [format_ci(value.iat[i, j], low.iat[i, j], high.iat[i, j], digits, sep="\n") for j in range(value.shape[1])]
        for i in range(value.shape[0])
    ]
    n_rows, n_columns = value.shape
    figure, axes = _figure(max(4.5, 3.2 + 1.15 * n_columns), 1.6 + 0.75 * n_rows)
    fontsize = 9 if n_columns < 7 else 7
    label = f"{name or metric} ({better} is better)"
    _draw_matrix(
        axes, value.to_numpy(dtype=float), texts, value.index, value.columns, better_cmap(better, cmap), label,
        fontsize, limits, chance,
    )  # fmt: skip
    axes.set_xlabel("test")
    axes.set_ylabel("train")
    axes.set_title(f"{metric}: train (rows) x test (columns)" if title is None else title)
    return figure
