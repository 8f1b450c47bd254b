"""How a study report names statistics and metrics, and shows a value with its interval.
"""

from __future__ import annotations

import pandas as pd

from voxpop.core.formatting import format_result
from voxpop.evaluation.chance import direction
from voxpop.report.render import Section

DEMO_NOTICE = (
    "The corpus is SYNTHETIC: generated speech-like audio judged by simulated raters (voxpop.corpus.demo). "
    "These numbers show that the pipeline runs end to end; they say nothing about emotion recognition in real speech."
)


HEADERS = {  # raw column names -> what a table shows
    "variant": "model (variant)",
    "train": "train label set",
    "test": "test label set",
    "group": "item group",
    "n_items": "items",
    "n_excluded": "items left out",
    "items_total": "items",
    "items_kept": "items kept",
    "ratings_total": "ratings (votes aggregated)",
    "ratings_supporting": "ratings supporting the target",
    "ratings_excluded_class": "ratings of excluded classes",
    "items_below_selected_share": "items below the selected share",
    "ratings_set_aside": "ratings set aside",
    "items_without_usable_rating": "items without a usable rating",
    "data_loss": "data loss",
    "rating_loss": "rating loss",
    "statistic": "statistic",
    "label": "emotion / label",
    "level": "scale level",
    "pair": "rater pair",
    "unpairable": "items with one rating",
    "ratings": "ratings",
    "threshold": "threshold t",
    "a": "label set A",
    "b": "label set B",
    "train_no_features": "train: no features",
    "train_not_kept": "train: not kept by the labels",
    "dev_no_features": "dev: no features",
    "dev_not_kept": "dev: not kept by the labels",
    "test_no_features": "test: no features",
    "fold": "fold",
    "dev_uar": "dev UAR",
}


STATISTIC_NAMES = {
    "alpha": "Krippendorff's alpha",
    "fleiss_kappa": "Fleiss' kappa",
    "pearson_r": "Pearson r",
    "ccc": "Lin's CCC",
}


CHANCE = "chance"


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """The table with readable column and index names (:data:`HEADERS`; others unchanged).

    >>> readable(pd.DataFrame({"items_total": [3], "ratings_supporting": [5]})).columns.tolist()
    ['items', 'ratings supporting the target']
    """
    renamed = table.rename(columns=lambda c: HEADERS.get(c, c) if isinstance(c, str) else c)
    names = [HEADERS.get(n, n) if isinstance(n, str) else n for n in renamed.index.names]
    return renamed.rename_axis(index=names)


def _better(metric: str) -> str:
    return f"{direction(metric)} is better"


def _flag_identical(section: Section, messages: list[str]) -> None:
    """Say which label sets or result columns equal another one (they are one finding, not two)."""
    if messages:
        section.add_text("**Identical:** " + "; ".join(messages) + ".")


KEYS = ["variant", "train", "test"]


def _ci_text(rows: pd.DataFrame) -> list[str]:
    """Cells "value [low, high]", with "(folds mean ± sd)" where the rows have the per-fold columns."""
    rows = rows.reindex(columns=[*rows.columns, *(c for c in ("fold_mean", "fold_sd") if c not in rows.columns)])
    return [format_result(*r) for r in rows[["value", "low", "high", "fold_mean", "fold_sd"]].itertuples(index=False)]
