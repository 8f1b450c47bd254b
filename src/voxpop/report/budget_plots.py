"""Figures of the annotation budget (:mod:`voxpop.agreement.budget`): a statistic against the raters per item, one
line per condition with its 95 % interval as a band and the full panel's level as a dotted line."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.figure import Figure

from voxpop.report.plots import DASHES, OKABE_ITO, _figure, _legend_outside, _require_columns

BUDGET_TITLES = {
    "stability": "label stability",
    "kappa": "Cohen's kappa with the full panel",
    "kept_share": "share of items kept",
    "jsd": "JS distance of AR distributions",
    "alpha": "Krippendorff's alpha",
    "mean_r": "r of the k-rater mean with the full mean",
    "icc": "ICC(1,k)",
    "model": "model score on the full panel's labels",
}
"""Axis titles of the budget statistics."""


def budget_curves(
    curve: pd.DataFrame, statistics: Sequence[str] = ("stability", "kept_share"), title: str = ""
) -> Figure:
    """One panel per statistic: value (and 95 % CI band) against k, a line per condition; the full panel's level
    dotted in the line's colour; projected points (k beyond the panel) hollow.

    Args:
        curve: rows of :func:`voxpop.agreement.budget.annotation_budget`'s ``curve`` (one rule) or of
            :func:`voxpop.agreement.budget_dimensions.dimension_budget` (one dimension): columns condition,
            raters, statistic, value, ci_low, ci_high and optionally full_panel, projection.
        statistics: the statistics to draw, one panel each.
        title: the figure's title.

    Returns:
        The matplotlib Figure.

    Raises:
        InputError: a column is missing.
    """
    _require_columns(curve, ["condition", "raters", "statistic", "value", "ci_low", "ci_high"], "budget curve")
    figure, axes = _figure(4.2 * len(statistics), 3.4, ncols=len(statistics), squeeze=False)
    conditions = list(dict.fromkeys(curve["condition"].astype(str)))
    for axis, statistic in zip(axes[0], statistics, strict=True):
        rows = curve[curve["statistic"].eq(statistic)]
        for i, condition in enumerate(conditions):
            part = rows[rows["condition"].astype(str).eq(condition)].sort_values("raters")
            if part.empty:
                continue
            colour, dash = OKABE_ITO[i % len(OKABE_ITO)], DASHES[(i // len(OKABE_ITO)) % len(DASHES)]
            name = condition or "all ratings"
            axis.plot(part["raters"], part["value"], dash, color=colour, marker="o", markersize=3.5, label=name)
            axis.fill_between(part["raters"], part["ci_low"], part["ci_high"], color=colour, alpha=0.2, linewidth=0)
            if "projection" in part.columns and part["projection"].astype(bool).any():
                beyond = part[part["projection"].astype(bool)]
                axis.plot(beyond["raters"], beyond["value"], "o", markerfacecolor="white", color=colour,
                          label=f"{name} (projected)")  # fmt: skip
            if "full_panel" in part.columns and part["full_panel"].notna().any():
                axis.axhline(float(part["full_panel"].dropna().iloc[0]), color=colour, linestyle=":", linewidth=1)
        axis.set_xlabel("raters per item (k)")
        axis.set_title(BUDGET_TITLES.get(statistic, statistic), fontsize=10)
        axis.grid(alpha=0.3)
    _legend_outside(axes[0][-1], "condition (dotted: full panel)" if "full_panel" in curve.columns else "condition")
    if title:
        figure.suptitle(title)
    return figure
