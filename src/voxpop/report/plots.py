"""Report figures (matplotlib, Agg canvas): each function takes a results table and returns a Figure.

Figures are built with :class:`matplotlib.figure.Figure` on an Agg canvas, never through pyplot, so
making many of them leaks nothing and needs no display. Colours come from the Okabe-Ito palette
(distinguishable with the common colour-vision deficiencies); lines beyond its length also change
their dash pattern. Heatmaps use sequential colour maps (``Blues``, ``viridis``) and pick black or
white cell text by the luminance of the cell colour. Layout is ``constrained``: labels never run off
the canvas.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from voxpop.core.errors import ConfigError, InputError

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


DASHES = ("-", "--", "-.", ":")


_WIDTH = 8.0  # inches: a figure spanning the report's text column


_MAX_WIDTH = 12.0


def _figure(width: float, height: float, ncols: int = 1, nrows: int = 1, **subplots) -> tuple[Figure, object]:
    figure = Figure(figsize=(min(width, _MAX_WIDTH), height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(nrows, ncols, **subplots)


def _require_columns(table: pd.DataFrame, columns: Sequence[str | None], what: str) -> None:
    missing = [c for c in columns if c is not None and c not in table.columns]
    if missing:
        raise InputError(f"{what}: the table has no column(s) {missing}; its columns are {list(table.columns)}.")


def _label_ticks(axes, labels: Sequence[str], axis: str = "x") -> None:
    """Tick labels that stay readable: slanted when long or many."""
    positions = np.arange(len(labels))
    if axis == "y":
        axes.set_yticks(positions, labels)
        return
    crowded = sum(len(label) for label in labels) > 50 or max((len(label) for label in labels), default=0) > 12
    axes.set_xticks(positions, labels, rotation=30 if crowded else 0, ha="right" if crowded else "center")
    if crowded:
        axes.tick_params(axis="x", pad=2)


def _grouped_bars(
    axes,
    categories: pd.Series,
    groups: pd.Series,
    values: pd.Series,
    low: pd.Series | None,
    high: pd.Series | None,
    what: str,
) -> tuple[list[str], list]:
    """One bar per row at its category, side by side per group, with interval whiskers; (categories, containers)."""
    keys = pd.DataFrame({"category": categories.astype(str).to_numpy(), "group": groups.astype(str).to_numpy()})
    repeated = keys[keys.duplicated()]
    if len(repeated):
        first = repeated.iloc[0]
        raise InputError(
            f"{what}: {len(repeated)} repeated bar(s), e.g. category {first['category']!r} in group "
            f"{first['group']!r}; give one row per (category, group) or name the grouping column with by=."
        )
    order = list(dict.fromkeys(keys["category"]))
    group_order = list(dict.fromkeys(keys["group"]))
    width = 0.8 / len(group_order)
    position = keys["category"].map({c: i for i, c in enumerate(order)}).to_numpy(dtype=float)
    containers = []
    for g, group in enumerate(group_order):
        rows = (keys["group"] == group).to_numpy()
        x = position[rows] + (g - (len(group_order) - 1) / 2) * width
        y = values.to_numpy(dtype=float)[rows]
        containers.append(axes.bar(x, y, width * 0.95, color=OKABE_ITO[g % len(OKABE_ITO)], label=group, zorder=2))
        if low is not None and high is not None:
            lo, hi = low.to_numpy(dtype=float)[rows], high.to_numpy(dtype=float)[rows]
            shown = np.isfinite(y) & np.isfinite(lo) & np.isfinite(hi)
            axes.errorbar(
                x[shown],
                y[shown],
                yerr=np.vstack([y[shown] - lo[shown], hi[shown] - y[shown]]),
                fmt="none",
                ecolor="black",
                elinewidth=1.2,
                capsize=3,
                zorder=3,
            )
    _label_ticks(axes, order)
    axes.grid(axis="y", alpha=0.3, zorder=0)
    return order, containers


def _legend_outside(axes, title: str | None = None) -> None:
    axes.legend(title=title, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)


def agreement_bars(
    table: pd.DataFrame,
    value: str = "alpha",
    low: str | None = None,
    high: str | None = None,
    by: str | None = None,
    *,
    x: str | None = None,
    title: str = "",
    ylabel: str | None = None,
) -> Figure:
    """Bars of an agreement statistic per category (emotion / condition), side by side per subset ``by``.

    Each row of ``table`` is one bar: its category is column ``x`` (default: the index), its height
    column ``value``; ``low`` / ``high`` name interval columns drawn as whiskers (rows without an
    interval get none). Works directly on :func:`voxpop.agreement.tables.agreement_table` output
    (``x="label", value="value", low="ci_low", high="ci_high", by="group"``).

    >>> t = pd.DataFrame({"alpha": [0.4, 0.6, 0.5], "low": [0.3, 0.5, 0.4], "high": [0.5, 0.7, 0.6],
    ...                   "subset": ["acted", "acted", "wild"]}, index=["sad", "happy", "sad"])
    >>> figure = agreement_bars(t, "alpha", "low", "high", by="subset")
    >>> len(figure.axes[0].patches), [tick.get_text() for tick in figure.axes[0].get_xticklabels()]
    (3, ['sad', 'happy'])
    """
    _require_columns(table, [value, low, high, by, x], "agreement_bars")
    if (low is None) != (high is None):
        raise ConfigError("agreement_bars: give both low= and high= interval columns, or neither.")
    categories = table[x] if x is not None else table.index.to_series()
    groups = table[by] if by is not None else pd.Series("", index=table.index)
    n_categories = categories.nunique()
    n_groups = groups.nunique()
    figure, axes = _figure(max(_WIDTH * 0.75, 1.5 + 0.45 * n_categories * max(n_groups, 2)), 4.5)
    _grouped_bars(
        axes,
        categories,
        groups,
        table[value],
        table[low] if low is not None else None,
        table[high] if high is not None else None,
        "agreement_bars",
    )
    axes.axhline(0, color="black", linewidth=0.8, zorder=1)
    axes.set_ylabel(ylabel or value)
    axes.set_xlabel(x or (table.index.name or ""))
    axes.set_title(title)
    if by is not None:
        _legend_outside(axes, by)
    return figure


def loss_table_bars(
    accounting: pd.DataFrame, *, rule: str = "rule", condition: str = "condition", title: str = ""
) -> Figure:
    """Data loss and rating loss (two panels) per label rule, side by side per condition.

    ``accounting`` is :func:`voxpop.labels.rules.accounting_table` output (columns ``rule``, ``condition``,
    ``data_loss``, ``rating_loss`` as shares in [0, 1]); bars carry their percentage.

    >>> acc = pd.DataFrame({"condition": ["voice", "voice", "face", "face"], "rule": ["mr", "ar"] * 2,
    ...                     "data_loss": [0.3, 0.0, 0.2, 0.0], "rating_loss": [0.5, 0.0, 0.4, 0.1]})
    >>> figure = loss_table_bars(acc)
    >>> [len(a.patches) for a in figure.axes], [t.get_text() for t in figure.axes[1].texts]
    ([4, 4], ['50%', '0%', '40%', '10%'])
    """
    _require_columns(accounting, [rule, condition, "data_loss", "rating_loss"], "loss_table_bars")
    n_bars = accounting[rule].nunique() * max(accounting[condition].nunique(), 2)
    figure, (left, right) = _figure(max(_WIDTH, 3 + 0.7 * n_bars), 4.2, ncols=2, sharey=True)
    top = float(np.nanmax(accounting[["data_loss", "rating_loss"]].to_numpy(dtype=float), initial=0.0))
    panels = (
        (left, "data_loss", "data loss (items dropped)"),
        (right, "rating_loss", "rating loss (ratings not supporting the target)"),
    )
    for axes, column, label in panels:
        _, containers = _grouped_bars(
            axes, accounting[rule], accounting[condition], accounting[column], None, None, "loss_table_bars"
        )
        for container in containers:
            axes.bar_label(container, labels=[f"{v:.0%}" for v in container.datavalues], fontsize=8, padding=2)
        axes.set_title(label, fontsize=10)
        axes.set_xlabel(rule)
        axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    left.set_ylabel("share lost")
    left.set_ylim(0, min(1.08, max(top * 1.18, 0.05)))
    _legend_outside(right, condition)
    if title:
        figure.suptitle(title)
    return figure


def layer_weights(weights: pd.DataFrame | pd.Series, title: str = "", *, tolerance: float = 1e-3) -> Figure:
    """Mean softmax weight per layer over runs (folds) as bars, whiskers from the lowest to the highest run.

    ``weights`` is layers x runs (one column per fold / run, e.g. ``LayerWeightedSum.layer_weights()``
    of each fold) or a Series for one run. Each run's weights must sum to 1 (within ``tolerance``):
    raw logits are an error. Dots show the single runs; the dashed line is the uniform weight 1/L.

    >>> w = pd.DataFrame({"fold1": [0.2, 0.5, 0.3], "fold2": [0.4, 0.3, 0.3]})
    >>> figure = layer_weights(w)
    >>> [round(float(p.get_height()), 2) for p in figure.axes[0].patches]
    [0.3, 0.4, 0.3]
    """
    table = weights.to_frame() if isinstance(weights, pd.Series) else weights
    values = table.to_numpy(dtype=float)
    if values.size == 0 or np.isnan(values).any():
        raise InputError("layer_weights: expected a complete layers x runs table of weights (no missing values).")
    sums = values.sum(axis=0)
    off = np.flatnonzero(np.abs(sums - 1.0) > tolerance)
    if len(off):
        raise InputError(
            f"layer_weights: run {table.columns[off[0]]!r} has weights summing to {sums[off[0]]:.4g}; expected "
            "softmax weights summing to 1 (use LayerWeightedSum.layer_weights(), not the raw parameters)."
        )
    n_layers, n_runs = values.shape
    mean = values.mean(axis=1)
    figure, axes = _figure(max(_WIDTH * 0.75, 1.5 + 0.32 * n_layers), 4.2)
    x = np.arange(n_layers)
    axes.bar(x, mean, 0.75, color=OKABE_ITO[0], label=f"mean over {n_runs} run(s)", zorder=2)
    if n_runs > 1:
        axes.errorbar(
            x,
            mean,
            yerr=np.vstack([mean - values.min(axis=1), values.max(axis=1) - mean]),
            fmt="none",
            ecolor="black",
            elinewidth=1.2,
            capsize=3,
            zorder=3,
            label="lowest to highest run",
        )
        jitter = np.linspace(-0.2, 0.2, n_runs)
        axes.scatter(
            (x[:, None] + jitter).ravel(), values.ravel(), s=9, color=OKABE_ITO[1], zorder=4, label="single runs"
        )
    axes.axhline(1 / n_layers, color="grey", linestyle="--", linewidth=1, label=f"uniform 1/{n_layers}", zorder=1)
    labels = [str(layer) for layer in table.index]
    step = max(1, int(np.ceil(n_layers / 26)))
    axes.set_xticks(x[::step], labels[::step])
    axes.set_xlim(-0.6, n_layers - 0.4)
    axes.set_xlabel(table.index.name or "layer")
    axes.set_ylabel("softmax layer weight")
    axes.set_title(title)
    axes.grid(axis="y", alpha=0.3, zorder=0)
    handles, labels = axes.get_legend_handles_labels()
    order = sorted(
        range(len(labels)), key=lambda k: (not labels[k].startswith("mean"), labels[k].startswith("uniform"))
    )
    axes.legend([handles[k] for k in order], [labels[k] for k in order], fontsize=8, frameon=False, loc="best")
    return figure


def threshold_curve(
    curve: pd.DataFrame, best_t: float | None = None, *, title: str = "", positives: pd.DataFrame | None = None
) -> Figure:
    """Cohen's kappa per emotion (thin lines) and their ``mean`` (bold) against the threshold t; best t marked.

    ``positives`` (long: ``threshold``, ``emotion``, ``positives`` and optionally ``condition``) adds a
    lower panel with the number of positive items per emotion at each threshold (one line style per
    condition), since kappa on a handful of positives says little.

    ``curve`` is :attr:`voxpop.agreement.threshold_sweep.Sweep.curve` (thresholds x emotions, plus ``mean``);
    ``best_t`` (:attr:`~voxpop.agreement.threshold_sweep.Sweep.best_threshold`) adds a dashed vertical line and a
    labelled dot on the mean curve. Lines: one per emotion, the mean, and with ``best_t`` the
    vertical line and the dot.

    >>> curve = pd.DataFrame({"sad": [0.5, 1.0, 0.5], "happy": [0.5, 1.0, 1.0]}, index=[0.1, 0.3, 0.5])
    >>> curve["mean"] = curve.mean(axis=1)
    >>> figure = threshold_curve(curve, 0.3)
    >>> [line.get_label() for line in figure.axes[0].lines][:3], figure.axes[0].texts[0].get_text()
    (['sad', 'happy', 'mean'], 'best t = 0.3\\nmean kappa = 1.000')
    """
    if "mean" not in curve.columns:
        raise InputError(
            f"threshold_curve: the curve has no 'mean' column (columns: {list(curve.columns)}); "
            "pass Sweep.curve from voxpop.agreement.threshold_sweep.threshold_sweep."
        )
    emotions = [c for c in curve.columns if c != "mean"]
    if positives is None:
        figure, axes = _figure(_WIDTH, 4.5)
    else:
        _require_columns(positives, ["threshold", "emotion", "positives"], "threshold_curve positives")
        figure, (axes, lower) = _figure(_WIDTH, 6.6, nrows=2, sharex=True, height_ratios=[3, 1.6])
    t = curve.index.to_numpy(dtype=float)
    for k, emotion in enumerate(emotions):
        axes.plot(
            t,
            curve[emotion].to_numpy(dtype=float),
            color=OKABE_ITO[k % len(OKABE_ITO)],
            linestyle=DASHES[(k // len(OKABE_ITO)) % len(DASHES)],
            linewidth=1.4,
            label=str(emotion),
        )
    axes.plot(t, curve["mean"].to_numpy(dtype=float), color="black", linewidth=3, label="mean")
    if best_t is not None:
        matches = np.flatnonzero(np.isclose(t, best_t))
        if not len(matches):
            raise InputError(
                f"threshold_curve: best_t={best_t} is not one of the curve's thresholds ({t.min():g}..{t.max():g})."
            )
        best_kappa = float(curve["mean"].iloc[matches[0]])
        axes.axvline(best_t, color="grey", linestyle="--", linewidth=1.2, label=f"best t = {best_t:g}")
        axes.plot([best_t], [best_kappa], "o", color="black", markersize=7)
        right_half = best_t > (t.min() + t.max()) / 2
        axes.annotate(  # low on the plot, beside the line: curves peak near best t, so the top is crowded
            f"best t = {best_t:g}\nmean kappa = {best_kappa:.3f}",
            (best_t, 0.04),
            xycoords=("data", "axes fraction"),
            xytext=(-6 if right_half else 6, 0),
            textcoords="offset points",
            ha="right" if right_half else "left",
            va="bottom",
            fontsize=9,
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "grey", "alpha": 0.9},
        )
    axes.set_xlabel("threshold t (positive iff intensity score >= t)")
    axes.set_ylabel("Cohen's kappa")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    _legend_outside(axes, "emotion")
    if positives is not None:
        axes.set_xlabel("")
        conditions = list(dict.fromkeys(positives["condition"])) if "condition" in positives.columns else [None]
        for c, condition in enumerate(conditions):
            rows = positives if condition is None else positives[positives["condition"].eq(condition)]
            for k, emotion in enumerate(emotions):
                line = rows[rows["emotion"].astype(str).eq(str(emotion))].sort_values("threshold")
                lower.plot(
                    line["threshold"].to_numpy(dtype=float),
                    line["positives"].to_numpy(dtype=float),
                    color=OKABE_ITO[k % len(OKABE_ITO)],
                    linestyle=DASHES[c % len(DASHES)],
                    linewidth=1.2,
                )
        lower.set_xlabel("threshold t (positive iff intensity score >= t)")
        lower.set_ylabel("positive items")
        lower.grid(alpha=0.3)
        if conditions != [None]:
            styles = [Line2D([], [], color="black", linestyle=DASHES[c % len(DASHES)]) for c in range(len(conditions))]
            lower.legend(
                styles, [str(c) for c in conditions], title="condition", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                frameon=False, fontsize=9,
            )  # fmt: skip
    return figure


def metric_bars(
    long_table: pd.DataFrame, metric: str, *, title: str = "", better: str = "higher", name: str | None = None
) -> Figure:
    """Bars of one metric per train row, side by side per test column, with interval whiskers: the figure for a
    metric scored on one test set only (a one-column heatmap would say nothing a bar does not say better).

    ``long_table`` has the columns of :func:`cross_test_heatmap`; with a ``chance`` column every bar gets
    its chance level as a red dotted line across it (chance may differ per bar, e.g. KLD against each
    train set's prior). The y label names the metric (``name``, default ``metric``) and its direction.

    >>> t = pd.DataFrame({"train": ["MR", "AR"], "test": "AR-dist", "metric": "kld", "value": [0.3, 0.2],
    ...                   "low": [0.25, 0.15], "high": [0.35, 0.25], "chance": [0.4, 0.5]})
    >>> axes = metric_bars(t, "kld", better="lower").axes[0]
    >>> len(axes.patches), axes.get_ylabel(), [s[:, 1].tolist() for s in axes.collections[-1].get_segments()]
    (2, 'kld (lower is better)', [[0.4, 0.4], [0.5, 0.5]])
    """
    _require_columns(long_table, ["train", "test", "metric", "value", "low", "high"], "metric_bars")
    rows = long_table[long_table["metric"].eq(metric)]
    n_bars = rows["train"].nunique() * max(rows["test"].nunique(), 2)
    figure, axes = _figure(max(_WIDTH * 0.75, 2.5 + 0.45 * n_bars), 4.2)
    _, containers = _grouped_bars(
        axes, rows["train"], rows["test"], rows["value"], rows["low"], rows["high"], "metric_bars"
    )
    if "chance" in rows.columns:
        tests, chance = rows["test"].astype(str).to_numpy(), rows["chance"].to_numpy(dtype=float)
        starts, ends, levels = [], [], []
        for container, test in zip(containers, dict.fromkeys(tests), strict=True):
            for patch, level in zip(container.patches, chance[tests == test], strict=True):
                if np.isfinite(level):
                    starts.append(patch.get_x())
                    ends.append(patch.get_x() + patch.get_width())
                    levels.append(level)
        if levels:
            axes.hlines(levels, starts, ends, colors="red", linestyles=":", linewidth=2.2, label="chance", zorder=4)
            low, high = axes.get_ylim()
            axes.set_ylim(low, max(high, max(levels) + 0.08 * (max(levels) - low)))  # the line clear of the frame
    axes.set_xlabel("train")
    axes.set_ylabel(f"{name or metric} ({better} is better)")
    axes.set_title(title)
    _legend_outside(axes, "test")
    return figure


def prediction_scatter(
    pairs: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    scale: dict[str, tuple[float, float]],
    *,
    title: str = "",
) -> Figure:
    """Predicted vs target values: one row of panels per model (``pairs``: name -> (predictions, targets),
    items x dimensions, same items in the same order), one column per dimension, the identity line dashed
    and the panel's CCC in its title (:func:`voxpop.evaluation.regression.regression_scores`, on every item). Axes
    span the dimension's ``scale``; a prediction outside it is drawn on the border as a red triangle
    pointing its way, and the title counts them.

    >>> t = pd.DataFrame({"arousal": [1.0, 2.0, 3.0, 4.0]})
    >>> figure = prediction_scatter({"mean": (t + 0.5, t)}, {"arousal": (1, 5)})
    >>> figure.axes[0].get_title(), len(figure.axes[0].collections[0].get_offsets())
    ('mean: arousal\\nCCC 0.909', 4)
    >>> figure = prediction_scatter({"mean": (t * 2, t)}, {"arousal": (1, 5)})  # 6, 8 above 5; CCC 5 / 12.5
    >>> figure.axes[0].get_title(), figure.axes[0].collections[1].get_offsets().tolist()
    ('mean: arousal\\nCCC 0.400, 2 outside the scale', [[3.0, 5.0], [4.0, 5.0]])
    """
    from voxpop.evaluation.regression import regression_scores

    if not pairs:
        raise InputError("prediction_scatter: no (predictions, targets) pairs to draw")
    dimensions = [str(c) for c in next(iter(pairs.values()))[1].columns]
    figure, axes = _figure(
        2.6 * len(dimensions) + 0.6, 2.6 * len(pairs) + 0.4, len(dimensions), len(pairs), squeeze=False
    )
    for row, (name, (predictions, targets)) in enumerate(pairs.items()):
        scores = regression_scores(predictions, targets)
        for column, dim in enumerate(dimensions):
            ax = axes[row][column]
            low, high = scale[dim]
            p, t = predictions[dim].to_numpy(dtype=float), targets[dim].to_numpy(dtype=float)
            inside = (p >= low) & (p <= high)
            ax.scatter(t[inside], p[inside], s=9, alpha=0.55, color=OKABE_ITO[column % len(OKABE_ITO)], linewidths=0)
            outside = ~inside
            for beyond, marker, edge in ((p > high, "^", high), (p < low, "v", low)):
                ax.scatter(t[beyond], np.full(int(beyond.sum()), edge), s=28, color="red", marker=marker, linewidths=0)
            pad = 0.04 * (high - low)  # points on the scale's ends stay inside the frame
            ax.plot([low, high], [low, high], linestyle="--", color="black", linewidth=0.8)
            ax.set_xlim(low - pad, high + pad)
            ax.set_ylim(low - pad, high + pad)
            ax.set_aspect("equal")
            count = f", {int(outside.sum())} outside the scale" if outside.any() else ""
            ax.set_title(f"{name}: {dim}\nCCC {scores.loc[dim, 'ccc']:.3f}{count}", fontsize=9)
            ax.set_xlabel("target")
            if column == 0:
                ax.set_ylabel("prediction")
    if title:
        figure.suptitle(title)
    return figure
