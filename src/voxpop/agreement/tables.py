"""Agreement tables (METHODS.md section 3): one row per statistic, per item group, condition and scale
(:func:`agreement_table`), and label sets compared with each other (:func:`compare_labelsets`,
:func:`compare_conditions`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from voxpop.agreement.correlations import _both_kept, ccc, ccc_labelsets, ccc_labelsets_ci, icc
from voxpop.agreement.grouping import _scope_conditions, item_groups
from voxpop.agreement.kappas import FLEISS_METHODS, cohen_kappa, fleiss_kappa
from voxpop.agreement.reliability import (
    LEVELS,
    Level,
    _select,
    alpha_ci,
    krippendorff_alpha,
    reliability_matrix,
    value_counts,
)
from voxpop.core.errors import ConfigError
from voxpop.corpus import Corpus
from voxpop.corpus.slots import ordered_domain, resolve_order
from voxpop.evaluation.summary_rows import agreement_summary_rows, format_mean_pm, mean_interval
from voxpop.labels import LabelSet


def dimension_agreement(
    corpus: Corpus,
    *,
    slot: str = "dimension",
    dimensions: Sequence[str] | None = None,
    condition: str | None = None,
    by: str | None = None,
    n_boot: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """Agreement on dimensional ratings (arousal, valence, dominance; METHODS.md section 3), rows per dimension.

    :func:`agreement_table` of ``slot`` (default ``dimension``; ``sentiment`` for CMU-MOSEI) with
    Krippendorff's alpha at the interval level (a percentile CI with ``n_boot`` > 0), the Pearson r and
    Lin's CCC of every rater pair on the items both rated (and their means), and the ICC forms of
    :func:`icc`: ICC(1,·) when raters differ per item (crowd data), also ICC(2,·) / ICC(3,·) when every
    rater rated every item.

    Args:
        corpus: the corpus whose ratings are compared.
        slot: the slot of the dimensional ratings.
        dimensions: the labels of the slot to use (default all).
        condition: keep this condition's ratings only.
        by: an item column: one block of rows per group of items.
        n_boot: bootstrap resamples of alpha's interval (0: none).
        seed: the bootstrap's seed.

    Returns:
        The :func:`agreement_table` rows (columns :data:`TABLE_COLUMNS`), per dimension.

    Raises:
        VoxpopError: a slot without ratings, or ratings without rater ids.
        ConfigError: a slot of categorical labels or an unknown dimension.
    """
    return agreement_table(
        corpus, slot=slot, level="interval", emotions=dimensions, condition=condition, by=by,
        pearson=True, ccc=True, icc=True, n_boot=n_boot, seed=seed,
    )  # fmt: skip


# =============================================================================== corpus tables (for the CLI)
TABLE_COLUMNS = (
    "group", "condition", "slot", "label", "statistic", "level", "method", "pair",
    "value", "ci_low", "ci_high", "items", "unpairable", "ratings", "note",
)  # fmt: skip
"""The columns of :func:`agreement_table`, in order (``voxpop agreement`` prints and saves them)."""


def undefined_note(counts: pd.DataFrame) -> str:
    """Why alpha and Fleiss' kappa of an items x values count table are undefined (NaN).

    >>> undefined_note(pd.DataFrame({"N": [1, 1], "S": [0, 0]}, index=["a", "b"]))
    'undefined: one rating per item (no item has two)'
    >>> undefined_note(pd.DataFrame({"N": [2, 3], "S": [0, 0]}, index=["a", "b"]))
    "undefined: no variation (every rating of the items rated twice or more is 'N')"
    """
    pairable = counts[counts.sum(axis=1) >= 2]
    if not len(pairable):
        return "undefined: one rating per item (no item has two)"
    used = pairable.columns[pairable.sum(axis=0).to_numpy() > 0]
    if len(used) == 1:
        value = used[0]
        shown = f"{value:g}" if isinstance(value, int | float | np.number) else repr(str(value))
        return f"undefined: no variation (every rating of the items rated twice or more is {shown})"
    return "undefined: zero expected disagreement"


def _alpha_rows(counts: pd.DataFrame, level: str, n_boot: int, seed: int, **where) -> list[dict]:
    m = counts.sum(axis=1)
    pairable = counts[m >= 2]
    base = {**where, "level": level, "items": len(pairable), "unpairable": int((m == 1).sum())}
    base["ratings"] = int(pairable.to_numpy().sum())
    if n_boot:
        estimate = alpha_ci(counts, level, kind="counts", n_boot=n_boot, seed=seed)
        row = {**base, "statistic": "alpha", "value": estimate.value, "ci_low": estimate.low, "ci_high": estimate.high}
    else:
        row = {**base, "statistic": "alpha", "value": krippendorff_alpha(counts, level, kind="counts")}
    return [{**row, "note": undefined_note(counts) if math.isnan(row["value"]) else ""}]


def _fleiss_row(counts: pd.DataFrame, method: str, **where) -> dict:
    """Fleiss' kappa of a count table: ``pooled`` on the items rated twice or more, ``gwet`` on every rated item."""
    m = counts.sum(axis=1)
    pairable = counts[m >= 2]
    used = counts[m >= 1] if method == "gwet" else pairable
    kappa = fleiss_kappa(used, method) if len(pairable) else math.nan
    return {
        **where, "label": "", "statistic": "fleiss_kappa", "level": "nominal", "method": method, "value": kappa,
        "items": len(pairable), "unpairable": int((m == 1).sum()), "ratings": int(used.to_numpy().sum()),
        "note": undefined_note(used) if math.isnan(kappa) else "",
    }  # fmt: skip


def _pair_rows(part: pd.DataFrame, statistic: str = "pearson_r", **where) -> list[dict]:
    """One row per rater pair with two or more shared items (``pearson_r`` or ``ccc``), plus their mean."""
    matrix = reliability_matrix(part, where["slot"], where["label"]).T.astype(float)
    r = matrix.corr(method="pearson" if statistic == "pearson_r" else ccc, min_periods=2)
    shared = matrix.notna().astype(int).T @ matrix.notna().astype(int)
    raters = list(r.columns)
    flat = "undefined: no variation (a rater gives one value on the items both rated)"
    rows = [
        {**where, "statistic": statistic, "pair": f"{a}~{b}", "value": r.at[a, b], "items": int(shared.at[a, b]),
         "note": flat if math.isnan(r.at[a, b]) else ""}
        for i, a in enumerate(raters)
        for b in raters[i + 1 :]
        if shared.at[a, b] >= 2
    ]  # fmt: skip
    if rows:
        mean = mean_interval([row["value"] for row in rows])
        note = f"{format_mean_pm(mean.mean, mean.half)} (mean ± Student-t 95 % half-width over pairs)"
        note += f"; {mean.left_out} pairs undefined (no variation), left out" if mean.left_out else ""
        rows.append({**where, "statistic": statistic, "pair": f"mean of {mean.n} pairs", "value": mean.mean,
                     "ci_low": mean.low, "ci_high": mean.high, "note": note})  # fmt: skip
    return rows


def _icc_rows(part: pd.DataFrame, **where) -> list[dict]:
    forms = icc(part, where["slot"], where["label"])
    return [
        {**where, "statistic": "icc", "method": row["form"], "value": row["value"], "items": row["items"],
         "unpairable": row["unpairable"], "note": row["note"]}
        for row in forms.to_dict("records")
    ]  # fmt: skip


def agreement_table(
    corpus: Corpus,
    *,
    slot: str | None = None,
    level: Level | None = None,
    emotions: Sequence[str] | None = None,
    condition: str | None = None,
    by: str | None = None,
    pearson: bool = False,
    n_boot: int = 0,
    seed: int = 0,
    fleiss: Literal["pooled", "gwet"] = "pooled",
    icc: bool = False,
    ccc: bool = False,
    order: Sequence[str] | None = None,
    values: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Agreement of one slot's ratings, per item group (``by``), condition and scale: one row per statistic.

    A slot whose ratings carry values (``intensity``, ``dimension`` with one label per dimension, or
    attributes such as ``sentiment``) gives Krippendorff's alpha per label (emotion, dimension),
    interval level by default. A categorical slot (``primary``, or attributes such as ``gender``) gives
    nominal alpha and Fleiss' kappa over its labels; its ordinal alpha needs the slot's declared order,
    interval and ratio alpha a number per label (``Corpus.slots``, or ``order`` / ``values`` for this call;
    :mod:`voxpop.corpus.slots`). METHODS.md section 3.

    Args:
        corpus: the corpus whose ratings are compared.
        slot: the slot (default ``intensity`` when the corpus has such ratings, else ``primary``).
        level: Krippendorff's level of measurement, one of :data:`LEVELS` (default interval for a slot with
            values, nominal for a categorical one).
        emotions: the labels (emotions, dimensions) of a slot with values to use (default all).
        condition: keep this condition's ratings only.
        by: an item column: one block of rows per group of items (``group`` column).
        pearson: add the Pearson r of every rater pair (plus their mean).
        n_boot: bootstrap resamples of alpha's percentile interval (0: none).
        seed: the bootstrap's seed.
        fleiss: Fleiss' kappa of a categorical slot by ``pooled`` or ``gwet`` class proportions
            (:func:`fleiss_kappa`; column ``method``).
        icc: add the intraclass correlations of :func:`icc` (statistic ``icc``, the form in ``method``).
        ccc: add Lin's CCC of every rater pair (:func:`ccc` on the items both rated; plus their mean).
        order: the labels of a categorical slot in order, for this call (ordinal alpha).
        values: label -> number of a categorical slot, for this call (interval / ratio alpha).

    Returns:
        One row per statistic with the columns :data:`TABLE_COLUMNS`: ``value`` (unitless, at most 1),
        ``ci_low`` / ``ci_high`` (NaN without ``n_boot``), ``items`` (the items with at least two ratings,
        the pairable ones), ``unpairable`` (those rated once; only Gwet's Fleiss' kappa uses them, for the
        class proportions), ``ratings`` and ``note`` (why a value is undefined: no variation, one rating per
        item).

    Raises:
        VoxpopError: the slot has no ratings.
        ConfigError: slot ``secondary``, an unknown level or ``fleiss`` method, or an ordinal, interval or
            ratio level on a label slot without a declared order (or values), naming ``--order`` /
            ``--values``.
    """
    ratings = corpus.ratings
    slot = slot or ("intensity" if ratings["slot"].eq("intensity").any() else "primary")
    if slot == "secondary":
        raise ConfigError(
            "slot 'secondary' holds multi-choice lists (several labels per rater and item); alpha and kappa "
            "need one judgement per rater and item: use slot 'primary'"
        )
    if fleiss not in FLEISS_METHODS:
        raise ConfigError(f"--fleiss must be one of {', '.join(FLEISS_METHODS)}, got {fleiss!r}")
    rows = _select(ratings, slot, None)
    scaled = bool(rows["value"].notna().all())
    if level is not None and level not in LEVELS:
        raise ConfigError(f"--level must be one of {', '.join(LEVELS)}, got {level!r}")
    if scaled:
        level = level or "interval"
        present = rows["label"].unique().tolist()  # in order of first appearance; through the codes
        labels = [c for c in corpus.classes if c in present] + [c for c in present if c not in corpus.classes]
        if emotions:
            unknown = [e for e in emotions if e not in present]
            if unknown:
                raise ConfigError(
                    f"--emotion {unknown}: no {slot!r} ratings; the rated labels are: {', '.join(labels)}"
                )
            labels = list(emotions)
        domain = sorted(rows["value"].unique())
    else:
        level = level or "nominal"
        if emotions:
            raise ConfigError(f"--emotion picks scales of a rated slot; slot {slot!r} holds categorical labels")
        if pearson or icc or ccc:
            flag = "--pearson" if pearson else "--icc" if icc else "--ccc"
            raise ConfigError(f"{flag} needs values on a scale; slot {slot!r} holds categorical labels")
        known = corpus.classes + corpus.excluded
        present = rows["label"].unique().tolist()  # in order of first appearance; through the codes
        domain = [c for c in known if c in present] + sorted(c for c in present if c not in known)
        numbers = None
        if level != "nominal":
            declared = resolve_order(corpus.slots.get(slot), order, values)
            domain, numbers = ordered_domain(slot, present, level, declared)
    out: list[dict] = []
    for group, items in item_groups(corpus.items, by):
        in_group = rows[rows["item"].isin(items).to_numpy()]
        for cond in _scope_conditions(rows, condition):
            cond_mask = in_group["condition"].isna() if cond is None else in_group["condition"].eq(cond)
            sub = in_group[cond_mask.to_numpy(dtype=bool, na_value=False)]
            where = {"group": group, "condition": cond or "", "slot": slot}
            if not scaled:
                counts = value_counts(sub, domain)
                scored = counts if numbers is None else counts.set_axis(numbers, axis=1)
                out += _alpha_rows(scored, level, n_boot, seed, **where, label="")
                out.append(_fleiss_row(counts, fleiss, **where))
                continue
            for label in labels:
                part = sub[sub["label"].eq(label).to_numpy(dtype=bool, na_value=False)]
                out += _alpha_rows(
                    value_counts(part, domain, column="value"), level, n_boot, seed, **where, label=label
                )
                if pearson and len(part):
                    out += _pair_rows(part, "pearson_r", **where, label=label)
                if ccc and len(part):
                    out += _pair_rows(part, "ccc", **where, label=label)
                if icc and len(part):
                    out += _icc_rows(part, **where, label=label)
    counts = {"items": "Int64", "unpairable": "Int64", "ratings": "Int64"}
    table = pd.DataFrame(out, columns=list(TABLE_COLUMNS)).astype(counts)
    for column in ("method", "note"):
        table[column] = table[column].astype(object).where(table[column].notna(), "")
    return agreement_summary_rows(table)


def condition_labelsets(corpus: Corpus, names: Sequence[str], rule: str = "ar", **options) -> dict[str, LabelSet]:
    """One label set per name: a condition of the corpus, or ``all`` = counts pooled over every condition.

    ``options`` go to :func:`voxpop.labels.rules.make_labels` unchanged.
    """
    from voxpop.labels import make_labels

    present = corpus.conditions
    unknown = [n for n in names if n != "all" and n not in present]
    if unknown:
        raise ConfigError(
            f"label sets {unknown} are not conditions of corpus {corpus.name!r}; "
            f"its conditions are: {', '.join(present) or 'none'} (or 'all' = pooled)"
        )
    return {
        name: make_labels(corpus, rule, pool=True, **options)
        if name == "all"
        else make_labels(corpus, rule, condition=name, **options)
        for name in names
    }


COMPARE_STATS = ("ccc", "kappa")


def compare_labelsets(
    labelsets: Mapping[str, LabelSet], stat: str = "ccc", n_boot: int = 0, seed: int = 0
) -> pd.DataFrame:
    """Agreement between every pair of label sets, long format: a, b, class, value, low, high, items, note.

    Args:
        labelsets: name -> label set, all with the same classes.
        stat: ``ccc``: CCC of the targets per class over the items both keep, then class ``mean`` (over the
            classes where CCC is defined; METHODS.md section 3); ``kappa``: Cohen's kappa between the argmax
            classes over the items both keep (class ``argmax``).
        n_boot: with ``ccc``, resamples of a 95 % percentile bootstrap interval over the shared items
            (:func:`ccc_labelsets_ci`); 0: none.
        seed: the bootstrap's seed.

    Returns:
        One row per pair (a, b) and class, with columns ``a``, ``b``, ``class``, ``value``, ``low``, ``high``
        (NaN without an interval), ``items`` (kept by both) and ``note`` (why a value is undefined: no shared
        items, no variation; which classes the mean leaves out). The last row of each pair is its summary
        (the ``mean`` or ``argmax`` row).

    Raises:
        ConfigError: an unknown ``stat``, or label sets with different classes.
    """
    if stat not in COMPARE_STATS:
        raise ConfigError(f"--stat must be one of {', '.join(COMPARE_STATS)}, got {stat!r}")
    names = list(labelsets)
    rows = []
    for a in names:
        for b in names:
            ta, _ = _both_kept(labelsets[a], labelsets[b])
            if stat == "ccc" and n_boot > 0:
                values = ccc_labelsets_ci(labelsets[a], labelsets[b], n_boot=n_boot, seed=seed)
            elif stat == "ccc":
                values = ccc_labelsets(labelsets[a], labelsets[b]).to_frame("value")
            else:
                ha, hb = labelsets[a].hard_labels(), labelsets[b].hard_labels()
                values = pd.DataFrame({"value": [cohen_kappa(ha, hb, labels=labelsets[a].classes)]}, index=["argmax"])
            values = values.reindex(columns=["value", "low", "high"])
            notes = _comparison_notes(values["value"], len(ta), stat)
            rows += [
                {"a": a, "b": b, "class": k, **row, "items": len(ta), "note": notes.get(k, "")}
                for k, row in values.iterrows()
            ]
    return pd.DataFrame(rows, columns=["a", "b", "class", "value", "low", "high", "items", "note"])


def _comparison_notes(values: pd.Series, items: int, stat: str) -> dict[str, str]:
    """Why each undefined value of one pair of :func:`compare_labelsets` is undefined; the mean's left-out classes."""
    if not items:
        return {k: "undefined: no item kept by both label sets" for k in values.index}
    flat = (
        "undefined: no variation (the targets are constant and equal in both sets)"
        if stat == "ccc"
        else "undefined: no variation (both give every item the same class)"
    )
    notes = {k: flat for k, v in values.items() if k != "mean" and math.isnan(v)}
    if "mean" in values.index and notes:
        notes["mean"] = f"mean of {len(values) - 1 - len(notes)} classes; left out (undefined): {', '.join(notes)}"
    return notes


def compare_conditions(
    corpus: Corpus, names: Sequence[str], *, rule: str = "ar", stat: str = "ccc", by: str | None = None, **options
) -> pd.DataFrame:
    """:func:`compare_labelsets` of the label sets ``names`` (conditions or ``all``) built with ``rule``.

    Args:
        corpus: the corpus.
        names: conditions of the corpus, or ``all`` (every condition pooled).
        rule: the rule building each condition's label set (:func:`voxpop.labels.make_labels`).
        stat: ``ccc`` or ``kappa`` (:func:`compare_labelsets`).
        by: an item column: compare on all items and per group of items.
        **options: the rule's options.

    Returns:
        The :func:`compare_labelsets` table with a leading ``group`` column (``all`` without ``by``).

    Raises:
        ConfigError: an unknown condition, rule, option or ``stat``.
    """
    tables = []
    for group, items in item_groups(corpus.items, by):
        scope = corpus if by is None else corpus.subset(items)
        table = compare_labelsets(condition_labelsets(scope, names, rule, **options), stat)
        tables.append(table.assign(group=group))
    return pd.concat(tables, ignore_index=True)[["group", "a", "b", "class", "value", "low", "high", "items", "note"]]


def comparison_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """The a x b matrix of each pair's summary value from :func:`compare_labelsets`.

    Args:
        table: a :func:`compare_labelsets` (or :func:`compare_conditions`, one group) table.

    Returns:
        A square DataFrame, label sets x label sets in their first-seen order, of the ``mean`` (CCC) or
        ``argmax`` (kappa) value of each pair.
    """
    order = list(dict.fromkeys(table["a"]))
    summary = table.groupby(["a", "b"], sort=False).last()["value"].unstack("b")
    return summary.reindex(index=order, columns=order)
