"""Item groups and condition scopes of agreement tables: the items of each value of an item column
(``--by``), and the conditions a statistic is computed for.
"""

from __future__ import annotations

import pandas as pd

from voxpop.core.errors import ConfigError


def item_groups(items: pd.DataFrame, by: str | None) -> list[tuple[str, pd.Index]]:
    """("all", every item) and, with ``by``, one group per value of that item column."""
    groups = [("all", items.index)]
    if by is None:
        return groups
    if by not in items.columns:
        raise ConfigError(f"--by {by!r}: no such item column; item columns are: {', '.join(map(str, items.columns))}")
    keys = items[by].astype(object).where(items[by].notna(), "(missing)").astype(str)
    return groups + [(str(key), keys.index[keys.eq(key).to_numpy()]) for key in sorted(keys.unique())]


def group_label(by: str | None, group: str) -> str:
    """How a report or table names an item group of :func:`item_groups`: ``COLUMN=value`` (``all`` as is).

    >>> group_label("speaker", "1001"), group_label("speaker", "all"), group_label(None, "all")
    ('speaker=1001', 'all', 'all')
    """
    return group if by is None or group == "all" else f"{by}={group}"


def _scope_conditions(rows: pd.DataFrame, condition: str | None) -> list[str | None]:
    present = [str(c) for c in rows["condition"].dropna().unique()]
    if condition is not None:
        if condition not in present:
            raise ConfigError(f"condition {condition!r} not found; the ratings have conditions: {present or 'none'}")
        return [condition]
    return [*present, *([None] if rows["condition"].isna().any() else [])] or [None]
