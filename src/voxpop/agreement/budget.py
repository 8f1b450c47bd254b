"""The annotation budget (METHODS.md section 6): how stable the labels of k raters per clip are, compared with the
full panel's, for k = 1..K.

For each condition and k, every item's k-rater subsets (:mod:`voxpop.agreement.budget_draws`: B seeded draws
without replacement, or all C(n_i, k) subsets when there are at most B) are labelled by the same rule code as
the full panel (:func:`voxpop.labels.rules.labels_from_counts`). Per item, every quantity is the mean over its
subsets, so an item counts once; then

- ``stability``: over the items the full panel keeps (and that have k votes), the share whose k-rater label
  equals the full-panel label (a subset that keeps no label counts as different). Labels are compared as
  the decided class (argmax of the target) or, for multi-hot rules, as the whole set of classes;
- ``kappa``: Cohen's kappa between the k-rater label ("no label" a category of its own) and the full-panel label
  over the same items: (p_o - p_e) / (1 - p_e), p_o = stability, p_e from the two label marginals;
- ``kept_share``: the share of the items with k votes that the rule keeps from k raters;
- ``jsd``: the Jensen-Shannon distance (base 2, in [0, 1]: the square root of the divergence) between the
  all-inclusive (AR) distribution of the k votes and of the full panel, over the selected classes, averaged
  over items with a selected vote in both;
- ``alpha``: Krippendorff's nominal alpha of the k-rater votes (:mod:`voxpop.agreement.reliability`'s
  coincidences; undefined at k = 1).

Confidence intervals: the percentile interval (2.5 / 97.5 %) of the statistic over ``n_boot`` resamples of the
items with replacement, each item carrying its subsets. Raters are drawn independently per item, so resampling
items carries the draw-to-draw variation as well as the choice of clips (resampling the draws alone would
ignore the clips and miss the binomial rate of simulated raters).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np
import pandas as pd

from voxpop.agreement.budget_draws import PanelVotes, Subsets, draw_subsets, item_resamples, panel_votes
from voxpop.agreement.reliability import _alpha_from_coincidences, _unit_coincidences
from voxpop.core.errors import ConfigError
from voxpop.corpus import Corpus
from voxpop.corpus.corpus import STRING
from voxpop.evaluation.resampling import percentile_interval
from voxpop.labels.rules import counting_rules, labels_from_counts

DEFAULT_DRAWS = 20
"""B: random k-rater subsets per item and k (all C(n_i, k) subsets are used when there are at most B)."""
DEFAULT_BOOT = 1000
"""Bootstrap resamples of the items for the confidence intervals."""
STATISTICS = ("stability", "kappa", "kept_share", "jsd", "alpha")
"""The label-side statistics of the budget curve, in report order."""
CURVE_COLUMNS = ("condition", "rule", "raters", "statistic", "value", "ci_low", "ci_high", "full_panel",
                 "items", "items_short", "items_exact")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Budget:
    """What :func:`annotation_budget` returns.

    Args:
        curve: one row per (condition, rule, raters k, statistic) with :data:`CURVE_COLUMNS`: ``value`` and its
            95 % CI (``ci_low``, ``ci_high``), ``full_panel`` (the statistic of the full panel: stability and
            kappa 1, its kept share and alpha; NaN for jsd), ``items`` (items with k votes), ``items_short``
            (items with fewer than k votes: left out at this k, counted here) and ``items_exact`` (items whose
            subsets were all enumerated).
        items: one row per (condition, rule, item): ``raters`` (n_i), ``full_label`` (the full panel's label,
            empty when it keeps none), ``stability`` (per k-raters column ``stability@k``: the share of the
            item's k-subsets whose outcome, label or none, equals the full panel's; NaN when n_i < k) and
            ``votes`` (the full panel's votes, ``label:count`` joined by spaces).
        draws: B, the random subsets per item and k.
        seed: the seed of the draws and of the bootstrap.
    """

    curve: pd.DataFrame
    items: pd.DataFrame
    draws: int
    seed: int


def parse_raters(text: str) -> list[int]:
    """The panel sizes of ``--raters``: ``1:K`` (every k from 1 to K), ``A:B``, a list ``1,3,5`` or one number.

    >>> parse_raters("1:4"), parse_raters("3,5,1"), parse_raters("7")
    ([1, 2, 3, 4], [1, 3, 5], [7])
    """
    text = str(text).strip()
    try:
        if ":" in text:
            low, high = (int(part) for part in text.split(":"))
            sizes = list(range(low, high + 1))
        else:
            sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise ConfigError(
            f"raters {text!r}: expected a range 1:K, a list such as 1,3,5 or one number, each at least 1 "
            "(e.g. --raters 1:10)"
        )
    return sizes


def _outcome_codes(targets: np.ndarray, multilabel: bool) -> np.ndarray:
    """One integer per row for its label: the argmax class, or the bit set of a multi-hot target."""
    if multilabel:
        return ((targets > 0) @ (1 << np.arange(targets.shape[1], dtype=np.int64))).astype(np.int64)
    return targets.argmax(axis=1).astype(np.int64)


def _label(rule: str, counts: np.ndarray, votes: PanelVotes, options: Mapping) -> tuple[np.ndarray, np.ndarray, bool]:
    """(kept, outcome code, multi-hot?) of every row of ``counts`` (rows x labels) under ``rule``."""
    index = pd.Index(np.arange(len(counts)).astype(str), dtype=STRING)
    frame = pd.DataFrame(counts[:, : votes.n_classes], index=index, columns=votes.labels[: votes.n_classes])
    outside = pd.DataFrame(counts[:, votes.n_classes :], index=index, columns=votes.labels[votes.n_classes :])
    labels = labels_from_counts(rule, frame, outside, **options)
    kept = labels.kept.to_numpy(dtype=bool)
    return kept, np.where(kept, _outcome_codes(labels.targets.to_numpy(), labels.multilabel), -1), labels.multilabel


def _per_item(subsets: Subsets, n_items: int, values: np.ndarray) -> np.ndarray:
    """Per item the weighted mean over its subsets of ``values`` (rows, or rows x columns)."""
    from scipy import sparse

    rows = len(subsets.item)
    mean = sparse.csr_matrix((subsets.weight, (subsets.item, np.arange(rows))), shape=(n_items, rows))
    return np.asarray(mean @ (values.reshape(rows, 1) if values.ndim == 1 else values).astype(float))


def _ar_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row the Jensen-Shannon distance (base 2) of the normalised count rows ``a`` and ``b``."""
    from voxpop.evaluation.divergences import jsd_items

    p = a / np.maximum(a.sum(axis=1, keepdims=True), 1)
    q = b / np.maximum(b.sum(axis=1, keepdims=True), 1)
    return np.sqrt(np.maximum(jsd_items(p, q), 0.0) / np.log(2.0))


def _vote_pieces(votes: PanelVotes, full: np.ndarray, subsets: Subsets) -> np.ndarray:
    """Per item the rule-free pieces: [jsd sum, jsd weight, coincidences (labels^2)]."""
    from scipy import sparse

    n_items, width = len(votes.items), len(votes.labels)
    c = votes.n_classes
    sub = subsets.counts[:, :c]
    whole = full[subsets.item, :c]
    rated = (sub.sum(axis=1) > 0) & (whole.sum(axis=1) > 0)
    distance = np.where(rated, _ar_distance(sub, whole), 0.0)
    coincidences = np.zeros((n_items, width * width))
    if subsets.k >= 2 and len(sub):  # a subset's coincidences depend only on its counts: once per distinct row
        if (subsets.k + 1) ** width < 2**62:  # one int64 key per row
            key = subsets.counts @ ((subsets.k + 1) ** np.arange(width, dtype=np.int64))
            _, first, which = np.unique(key, return_index=True, return_inverse=True)
            patterns = subsets.counts[first]
        else:
            patterns, which = np.unique(subsets.counts, axis=0, return_inverse=True)
        units = _unit_coincidences(patterns.astype(float), np.full(len(patterns), 1.0 / (subsets.k - 1)))
        shares = sparse.csr_matrix((subsets.weight, (subsets.item, which.ravel())), shape=(n_items, len(patterns)))
        coincidences = np.asarray(shares @ units.reshape(len(patterns), width * width))
    return np.concatenate([_per_item(subsets, n_items, np.stack([distance, rated], axis=1)), coincidences], axis=1)


def _rule_pieces(
    full_kept: np.ndarray, full_code: np.ndarray, kept: np.ndarray, code: np.ndarray, subsets: Subsets
) -> tuple[np.ndarray, np.ndarray]:
    """Per item [eligible, kept, full-kept, same, row marginals (Q), column marginals (Q + none)] and the
    per-item share of subsets whose outcome equals the full panel's."""
    n_items = len(full_kept)
    categories, joint = np.unique(np.concatenate([full_code[full_kept], code[kept]]), return_inverse=True)
    q = len(categories)
    row = np.full(n_items, -1)
    row[full_kept] = joint[: int(full_kept.sum())]
    col = np.full(len(code), q)  # "no label"
    col[kept] = joint[int(full_kept.sum()) :]
    eligible = np.zeros(n_items, dtype=bool)
    eligible[subsets.item] = True
    counted = full_kept & eligible
    same_row = kept & (code == full_code[subsets.item]) & full_kept[subsets.item]
    outcome_same = np.where(full_kept[subsets.item], same_row, ~kept)
    per_item = _per_item(subsets, n_items, np.stack([kept, same_row, outcome_same], axis=1))
    columns = _per_item(subsets, n_items, np.eye(q + 1)[col]) * counted[:, None]
    rows = np.zeros((n_items, q))
    rows[counted, row[counted]] = 1.0
    pieces = np.column_stack([eligible, per_item[:, 0], counted, per_item[:, 1], rows, columns])
    share = np.where(eligible, per_item[:, 2], np.nan)
    return pieces, share


def _rule_statistics(sums: np.ndarray) -> dict[str, np.ndarray]:
    """stability, kappa and kept share from summed rule pieces (resamples x pieces)."""
    q = (sums.shape[1] - 5) // 2
    eligible, kept, counted, same = sums[:, 0], sums[:, 1], sums[:, 2], sums[:, 3]
    rows, cols = sums[:, 4 : 4 + q], sums[:, 4 + q : 4 + 2 * q]
    with np.errstate(divide="ignore", invalid="ignore"):
        p_o = same / counted
        p_e = (rows * cols).sum(axis=1) / counted**2
        kappa = np.where(p_e < 1, (p_o - p_e) / (1 - p_e), np.nan)
        return {"stability": p_o, "kappa": kappa, "kept_share": kept / eligible}


def _vote_statistics(sums: np.ndarray, *, votes: PanelVotes) -> dict[str, np.ndarray]:
    """jsd and alpha from summed rule-free pieces (resamples x pieces)."""
    width = len(votes.labels)
    with np.errstate(divide="ignore", invalid="ignore"):
        jsd = sums[:, 0] / sums[:, 1]
    o = sums[:, 2:].reshape(-1, width, width)
    return {"jsd": jsd, "alpha": _alpha_from_coincidences(o, "nominal", np.asarray(votes.labels, dtype=object))}


def _estimates(pieces: np.ndarray, weights: np.ndarray, compute) -> dict[str, tuple[float, float, float]]:
    """Each statistic's (value, CI low, CI high) from per-item pieces and the resampling weights."""
    point = compute(pieces.sum(axis=0, keepdims=True))
    resampled = compute(weights @ pieces)
    return {name: (float(point[name][0]), *percentile_interval(resampled[name])) for name in point}


def _reference_codes(reference: pd.Series, votes: PanelVotes, multilabel: bool) -> tuple[np.ndarray, np.ndarray, bool]:
    """(has a reference, its outcome code, multi-hot?) per item of ``votes`` from an item -> class Series."""
    classes = votes.labels[: votes.n_classes]
    given = reference.reindex(votes.items.astype(str).to_numpy())
    present = given.notna().to_numpy()
    wrong = sorted({str(v) for v in given[present] if str(v) not in classes})
    if wrong:
        raise ConfigError(
            f"reference labels {wrong[:5]} are not selected classes ({', '.join(classes)}); map them to the classes "
            "or choose the classes"
        )
    index = np.array([classes.index(str(v)) if ok else 0 for v, ok in zip(given, present, strict=True)], dtype=np.int64)
    return present, np.where(present, (1 << index) if multilabel else index, -1), multilabel


def _votes_text(counts: np.ndarray, labels: Sequence[str]) -> list[str]:
    """``label:count`` of every label with votes, per row."""
    return [" ".join(f"{labels[j]}:{row[j]}" for j in np.flatnonzero(row)) for row in counts]


def annotation_budget(
    corpus: Corpus,
    rules: Sequence[str] = ("mr",),
    raters: Sequence[int] | None = None,
    *,
    draws: int = DEFAULT_DRAWS,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    conditions: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
    class_map: Mapping[str, str] | None = None,
    options: Mapping[str, object] | None = None,
    reference: pd.Series | None = None,
    enumerate_limit: int | None = None,
) -> Budget:
    """Label stability, kappa, kept share, AR distance and alpha at k raters per item, against the full panel.

    Draws are made within each condition (every condition of the corpus in turn, or ``conditions``).

    Args:
        corpus: the corpus (primary votes; rater ids are not needed).
        rules: rules of :func:`voxpop.labels.rules.counting_rules` (mr, pr, ar, ar-test, primary).
        raters: the panel sizes k (default 1 .. the largest panel of the corpus).
        draws: B, random subsets per item and k (default :data:`DEFAULT_DRAWS`); all subsets when C(n_i, k) <= B.
        n_boot: bootstrap resamples of the items for the 95 % intervals (default :data:`DEFAULT_BOOT`).
        seed: seed of the draws and the resamples.
        conditions: the conditions to analyse (default every one; a corpus without conditions has one).
        classes: the class set (default every corpus class after ``class_map``).
        class_map: label renames / drops, as :func:`voxpop.labels.make_labels`.
        options: rule options (``denominator``, ``tie_policy``, ``min_agreement`` ...), each given to the rules
            that take it.
        reference: per item a class (e.g. the emotion an actor intended, or a simulation's truth) that replaces
            the full panel's label as what the k-rater labels are compared with; items without one (missing) are
            not compared. Default None: the full panel's label.
        enumerate_limit: all C(n_i, k) subsets are used when there are at most this many (default ``draws``;
            0: always draw).

    Returns:
        A :class:`Budget` (``curve`` and the per-item ``items`` table).

    Raises:
        ConfigError: a rule that needs more than vote counts, an unknown condition, k, draws or n_boot below 1,
            a ``reference`` class that is not a selected class.

    Example:
        >>> import voxpop.testing  # doctest: +SKIP
        >>> budget = annotation_budget(corpus, ["mr"], [1, 3, 5], draws=20)  # doctest: +SKIP
        >>> budget.curve.query("statistic == 'stability'")[["raters", "value"]]  # doctest: +SKIP
    """
    from voxpop.labels.registry import get_rule

    unknown = [r for r in rules if r not in counting_rules()]
    if unknown:
        get_rule(unknown[0])
        raise ConfigError(
            f"rule {unknown[0]!r} needs more than vote counts (rater ids, another slot or a fitted model); the "
            f"budget draws votes, so its rules are {', '.join(counting_rules())}"
        )
    if n_boot < 1:
        raise ConfigError(f"n_boot must be at least 1, got {n_boot}")
    given = {rule: {k: v for k, v in (options or {}).items() if k in get_rule(rule).options} for rule in rules}
    rows: list[dict] = []
    tables: list[pd.DataFrame] = []
    for condition in list(conditions) if conditions else (corpus.conditions or [None]):
        votes = panel_votes(corpus, condition, classes, class_map)
        ks = list(raters) if raters else list(range(1, int(votes.panel_sizes.max()) + 1))
        draw = {"draws": draws, "seed": seed, "enumerate_limit": enumerate_limit, "n_boot": n_boot}
        part, table = _condition_budget(votes, given, ks, draw, reference)
        rows += part
        tables.append(table)
    return Budget(pd.DataFrame(rows, columns=list(CURVE_COLUMNS)), pd.concat(tables, ignore_index=True), draws, seed)


@dataclasses.dataclass(frozen=True)
class _Target:
    """What one rule's k-rater labels are compared with: per item kept / code, and the full panel's kept share."""

    options: dict
    kept: np.ndarray
    code: np.ndarray
    multilabel: bool
    full_kept_share: float


def _targets(votes: PanelVotes, full: np.ndarray, given: Mapping[str, dict], reference: pd.Series | None) -> dict:
    """Per rule the :class:`_Target` of the full panel (or of ``reference``)."""
    targets = {}
    for rule, options in given.items():
        kept, code, multilabel = _label(rule, full, votes, options)
        share = float(kept.mean())
        if reference is not None:
            kept, code, multilabel = _reference_codes(reference, votes, multilabel)
        targets[rule] = _Target(options, kept, code, multilabel, share)
    return targets


def _full_alpha(votes: PanelVotes, full: np.ndarray) -> float:
    """Nominal alpha of the full panel's votes."""
    sizes = votes.panel_sizes
    units = _unit_coincidences(full[sizes >= 2].astype(float), 1.0 / (sizes[sizes >= 2] - 1.0))
    sums = np.concatenate([[0.0, 0.0], units.sum(axis=0).ravel()])[None, :]
    return float(_vote_statistics(sums, votes=votes)["alpha"][0])


def _condition_budget(
    votes: PanelVotes, given: Mapping[str, dict], ks: Sequence[int], draw: Mapping, reference: pd.Series | None
) -> tuple[list[dict], pd.DataFrame]:
    """The curve rows and the per-item table of one condition."""
    full = votes.counts()
    weights = item_resamples(len(votes.items), draw["n_boot"], draw["seed"])
    targets = _targets(votes, full, given, reference)
    alpha_full = _full_alpha(votes, full)
    shares: dict[str, dict[int, np.ndarray]] = {rule: {} for rule in given}
    rows = []
    for k in ks:
        subsets = draw_subsets(votes, k, draw["draws"], draw["seed"], draw["enumerate_limit"])
        base = {
            "condition": votes.condition or "",
            "raters": k,
            "items": int((~subsets.short).sum()),
            "items_short": int(subsets.short.sum()),
            "items_exact": int(subsets.exact.sum()),
        }
        vote_stats = _estimates(_vote_pieces(votes, full, subsets), weights, partial(_vote_statistics, votes=votes))
        for rule, target in targets.items():
            kept, code, _ = _label(rule, subsets.counts, votes, target.options)
            pieces, shares[rule][k] = _rule_pieces(target.kept, target.code, kept, code, subsets)
            stats = {**_estimates(pieces, weights, _rule_statistics), **vote_stats}
            level = {"stability": 1.0, "kappa": 1.0, "kept_share": target.full_kept_share, "jsd": np.nan,
                     "alpha": alpha_full}  # fmt: skip
            for name in STATISTICS:
                value, low, high = stats[name]
                rows.append({**base, "rule": rule, "statistic": name, "value": value, "ci_low": low,
                             "ci_high": high, "full_panel": level[name]})  # fmt: skip
    tables = []
    for rule, target in targets.items():
        table = pd.DataFrame(
            {
                "condition": votes.condition or "",
                "rule": rule,
                "item": votes.items.astype(str),
                "raters": votes.panel_sizes,
                "full_label": _label_names(
                    target.code, target.kept, votes.labels[: votes.n_classes], target.multilabel
                ),
                "votes": _votes_text(full, votes.labels),
            }
        )
        for k, share in shares[rule].items():
            table[f"stability@{k}"] = share
        tables.append(table)
    return rows, pd.concat(tables, ignore_index=True)


def _label_names(code: np.ndarray, kept: np.ndarray, classes: Sequence[str], multilabel: bool) -> list[str]:
    """The full panel's label per item as text: a class, classes joined by ``+`` (multi-hot), or empty."""
    names = []
    for c, keep in zip(code.tolist(), kept.tolist(), strict=True):
        if not keep:
            names.append("")
        elif multilabel:
            names.append("+".join(name for j, name in enumerate(classes) if c >> j & 1))
        else:
            names.append(str(classes[c]))
    return names


def reannotation_ranking(budget: Budget, raters: int | None = None) -> pd.DataFrame:
    """The items whose label is least stable under subsampling first: where the next ratings change labels.

    Per (condition, rule), items are ranked by ``stability@k`` (the share of their k-rater subsets whose outcome,
    label or none, equals the full panel's). By default k is, per item, the largest panel size of the budget
    below the item's own panel (n_i - 1 when the budget covers it): the share of the leave-one-rater-out panels
    that keep the item's label, so items whose label one rating more or less could flip come first. Items with
    no smaller panel come first of all (one rating: nothing to judge by); ties: fewer ratings first, then the
    corpus order.

    Args:
        budget: an :func:`annotation_budget` result.
        raters: one k for every item instead (a panel size of the budget; items with fewer votes come first).

    Returns:
        ``budget.items``' columns condition, rule, item, raters, full_label and votes, with ``stability``,
        ``at_raters`` (the k it was read at) and ``rank`` (1 = first to re-annotate, per condition and rule),
        sorted.

    Raises:
        ConfigError: ``raters`` is not a panel size of the budget.

    Example:
        >>> ranked = reannotation_ranking(annotation_budget(corpus, ["mr"]))  # doctest: +SKIP
        >>> ranked.head(3)[["item", "votes", "stability"]]  # doctest: +SKIP
    """
    items = budget.items
    studied = np.array(sorted(int(c.split("@")[1]) for c in items.columns if c.startswith("stability@")))
    if raters is not None and raters not in studied:
        raise ConfigError(f"raters {raters}: the budget has panel sizes {studied.tolist()}; rank at one of them")
    panel = items["raters"].to_numpy()
    if raters is None:
        below = np.searchsorted(studied, panel, side="left") - 1  # the largest studied k < n_i
        at = np.where(below >= 0, studied[np.maximum(below, 0)], 0)
    else:
        at = np.full(len(items), raters)
    table = items[[f"stability@{k}" for k in studied]].to_numpy(dtype=float)
    column = np.searchsorted(studied, at).clip(0, len(studied) - 1)
    stability = np.where(at > 0, table[np.arange(len(items)), column], np.nan)
    ranked = items[["condition", "rule", "item", "raters", "full_label", "votes"]].assign(
        stability=stability, at_raters=at, short=np.isnan(stability)
    )
    ranked = ranked.sort_values(["condition", "rule", "short", "stability", "raters"],
                                ascending=[True, True, False, True, True], kind="stable")  # fmt: skip
    ranked["rank"] = ranked.groupby(["condition", "rule"]).cumcount() + 1
    return ranked.drop(columns="short").reset_index(drop=True)


def posterior_ranking(
    corpus: Corpus,
    rule: str,
    *,
    conditions: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
    class_map: Mapping[str, str] | None = None,
    options: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """For a learned rule (Dawid-Skene, GLAD, MACE): the items whose posterior is least certain first.

    The rule is fitted once per condition (:func:`voxpop.labels.make_labels`, ``form`` train: the posterior over
    the selected classes); an item's ``certainty`` is its largest posterior probability (1: the model is sure of
    its label; 1/C: no idea). Items the rule does not keep (no rating, or a winner outside the class set) come
    last with NaN.

    Args:
        corpus: the corpus (its primary ratings need rater ids).
        rule: a learned rule of the registry (``dawid-skene``, ``glad``, ``mace``).
        conditions: the conditions, each fitted on its own (default every one).
        classes: the class set (as :func:`voxpop.labels.make_labels`).
        class_map: label renames / drops.
        options: the rule's options (``seed``).

    Returns:
        Columns condition, rule, item, raters (ratings of the item), full_label (the posterior's top class),
        certainty, votes (``label:count``) and rank (1 = least certain, per condition), sorted.

    Raises:
        ConfigError: a rule that is not learned, or a bad option.
        VoxpopError: the corpus has no rater ids.
    """
    from voxpop.labels.registry import REGISTRY, get_rule
    from voxpop.labels.rules import make_labels

    if not get_rule(rule).learned:
        learned = [r.name for r in REGISTRY.values() if r.learned]
        raise ConfigError(f"rule {rule!r} is not learned; the posterior ranking takes {', '.join(learned)}")
    tables = []
    for condition in list(conditions) if conditions else (corpus.conditions or [None]):
        given = {k: v for k, v in (options or {}).items() if k in get_rule(rule).options and k != "form"}
        labels = make_labels(corpus, rule, condition=condition, classes=classes, class_map=class_map, **given)
        votes = panel_votes(corpus, condition, classes, class_map)
        counts = pd.DataFrame(votes.counts(), index=votes.items.astype(str), columns=votes.labels)
        counts = counts.reindex(labels.targets.index.astype(str), fill_value=0)
        targets = labels.targets.to_numpy()
        kept = labels.kept.to_numpy(dtype=bool)
        table = pd.DataFrame({
            "condition": condition or "",
            "rule": rule,
            "item": labels.targets.index.astype(str),
            "raters": counts.sum(axis=1).to_numpy(),
            "full_label": np.where(kept, np.asarray(labels.classes, dtype=object)[targets.argmax(axis=1)], ""),
            "certainty": np.where(kept, targets.max(axis=1), np.nan),
            "votes": _votes_text(counts.to_numpy(), list(counts.columns)),
        })  # fmt: skip
        table = table.sort_values("certainty", kind="stable", na_position="last").reset_index(drop=True)
        tables.append(table.assign(rank=np.arange(1, len(table) + 1)))
    return pd.concat(tables, ignore_index=True)
