"""Warnings a careful colleague would give about a study's results, for the terminal and the report.

Each check is a pure function that returns messages (one line each, empty when all is well):

- :func:`small_test_sets`: a result cell scored on fewer than ~30 test items (bootstrap intervals on so
  few items are unreliable and the point value is noisy);
- :func:`few_test_speakers`: a fold whose test items come from fewer than 3 speakers (its score says more
  about those speakers than about the model);
- :func:`classes_without_training_items`: a class with no positive training item in some fold (the model
  cannot learn it; its recall there is 0 by construction);
- :func:`early_stopping_without_dev`: early stopping is configured but a fold has no development items, so
  it is silently off and every epoch is trained.

- :func:`identical_label_sets`: a train (test) label set with the same targets as another train (test) set.

:func:`study_cautions` runs every check on a finished study (``voxpop run``, ``voxpop train``), and
:func:`graded_cautions` marks those that change how the headline reads (:mod:`voxpop.report.headline`);
:func:`scoring_cautions` those that apply to a run scored on its own (``voxpop evaluate``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import pandas as pd

MIN_TEST_ITEMS = 30
MIN_TEST_SPEAKERS = 3


def small_test_sets(results: pd.DataFrame, minimum: int = MIN_TEST_ITEMS) -> list[str]:
    """Cells of a tidy results table (variant, train, test, group, n_items) scored on < ``minimum`` items.

    >>> r = pd.DataFrame({"variant": ["base"] * 2, "train": ["MR"] * 2, "test": ["MR", "PR"],
    ...                   "group": ["all", "all"], "n_items": [12, 80]})
    >>> small_test_sets(r)
    ['MR -> MR (base, all): scored on 12 test items; fewer than ~30 make intervals and differences unreliable']
    """
    keys = [c for c in ("variant", "train", "test", "group") if c in results.columns]
    if results.empty or "n_items" not in results.columns:
        return []
    cells = results.groupby(keys, sort=False, dropna=False)["n_items"].first()
    messages = []
    for key, n in cells.items():
        if pd.notna(n) and n < minimum:
            values = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
            where = ", ".join(str(values[k]) for k in ("variant", "group") if k in values)
            messages.append(
                f"{values.get('train', '')} -> {values.get('test', '')}{f' ({where})' if where else ''}: scored on "
                f"{int(n)} test items; fewer than ~{minimum} make intervals and differences unreliable"
            )
    return messages


def few_test_speakers(
    predictions: pd.DataFrame, speakers: pd.Series, source: str, minimum: int = MIN_TEST_SPEAKERS
) -> list[str]:
    """Folds of out-of-fold ``predictions`` (column ``fold``) whose test items come from < ``minimum``
    speakers (``speakers``: item -> speaker).

    >>> p = pd.DataFrame({"fold": ["f1", "f1", "f1"]}, index=["a", "b", "c"])
    >>> few_test_speakers(p, pd.Series({"a": "s1", "b": "s1", "c": "s2"}), "MR")
    ['MR: fold f1 tests 2 speaker(s); with fewer than 3 per fold a score describes the speakers, not the model']
    """
    if "fold" not in predictions.columns:
        return []
    counts = speakers.reindex(predictions.index).groupby(predictions["fold"].to_numpy(), sort=False).nunique()
    few = counts[counts < minimum]
    if few.empty:
        return []
    listed = ", ".join(f"fold {fold} tests {n} speaker(s)" for fold, n in few.items())
    return [f"{source}: {listed}; with fewer than {minimum} per fold a score describes the speakers, not the model"]


def classes_without_training_items(
    targets: pd.DataFrame, kept: pd.Series, predictions: pd.DataFrame, source: str
) -> list[str]:
    """Classes with no positive training item in a fold: training items are the label set's kept items
    outside the fold's test items (``predictions`` rows of that fold).

    >>> t = pd.DataFrame({"A": [1.0, 0.0, 1.0, 1.0], "S": [0.0, 1.0, 0.0, 0.0]}, index=["a", "b", "c", "d"])
    >>> p = pd.DataFrame({"fold": ["f1", "f1", "f2", "f2"]}, index=["a", "b", "c", "d"])
    >>> classes_without_training_items(t, pd.Series(True, index=t.index), p, "MR")  # f1 trains on c, d only
    ["MR, fold f1: no positive training item for class(es) 'S'; the model cannot learn them"]
    """
    if "fold" not in predictions.columns:
        return []
    train_pool = targets[kept.reindex(targets.index, fill_value=False).to_numpy(dtype=bool)]
    messages = []
    for fold, part in predictions.groupby("fold", sort=False):
        training = train_pool[~train_pool.index.isin(part.index)]
        missing = [str(c) for c in targets.columns if not (training[c].to_numpy() > 0).any()]
        if missing:
            listed = ", ".join(repr(c) for c in missing)
            messages.append(f"{source}, fold {fold}: no positive training item for class(es) {listed}; "
                            "the model cannot learn them")
    return messages


def early_stopping_without_dev(folds: pd.DataFrame | None, configured: bool, source: str) -> list[str]:
    """Early stopping ``configured`` but folds (index fold, column ``dev`` = dev items) with no dev item.

    >>> early_stopping_without_dev(pd.DataFrame({"dev": [0, 8]}, index=["f1", "f2"]), True, "MR")
    ['MR: early stopping is off in fold f1: no development items (every epoch was trained)']
    """
    if not configured or folds is None or "dev" not in folds.columns:
        return []
    empty = [str(f) for f, n in folds["dev"].items() if n == 0]
    if not empty:
        return []
    return [f"{source}: early stopping is off in fold {', '.join(empty)}: no development items "
            "(every epoch was trained)"]


class Caution(NamedTuple):
    """One caution and whether it changes how the headline reads (:data:`SEVERE_CHECKS`)."""

    message: str
    severe: bool


SEVERE_CHECKS = ("small test sets", "classes without training items", "identical label sets", "leakage")
"""The checks whose cautions change how a headline result reads (its interval, a class it cannot score, two rows
or columns that are one finding); the others (few speakers per fold, early stopping off) qualify the details."""


def graded_cautions(run) -> list[Caution]:
    """Every check on a finished study, de-duplicated, in a stable order, each marked severe or not.

    Runs :func:`small_test_sets` on the results, and per trained model :func:`few_test_speakers`,
    :func:`classes_without_training_items` and :func:`early_stopping_without_dev`, then
    :func:`identical_label_sets` and :func:`leakage_cautions` (speaker, audio and model leaks are severe; shared
    sentences, which acted corpora have by design, are not).

    Args:
        run: a finished :class:`voxpop.study.run.StudyRun` (its ``results``, ``corpus``, ``plan`` and stage
            outputs are read).

    Returns:
        The cautions, one line each, severe when their check is one of :data:`SEVERE_CHECKS`; empty when all
        is well.
    """
    from voxpop.models import CLASSICAL

    checked = [("small test sets", m) for m in small_test_sets(run.results)]
    speakers = run.corpus.items["speaker"] if "speaker" in run.corpus.items.columns else None
    for (variant, train), stage in run.plan.sources.items():
        if stage.kind != "train":
            continue
        trained = run.output(stage)
        model = stage.config["model"]  # this variant's model (ModelSpec), not the recipe's base model
        stopping = model["head"] not in CLASSICAL and model["train"].get("patience") is not None
        source = f"{train} ({variant})"
        if speakers is not None:  # the same folds for every model: said once
            few = few_test_speakers(trained.predictions, speakers, "test folds")
            checked += [("few test speakers", m) for m in few]
        labels = run.output(run.plan.labels["train", train])
        missing = classes_without_training_items(labels.targets, labels.kept, trained.predictions, source)
        checked += [("classes without training items", m) for m in missing]
        stopped = early_stopping_without_dev(trained.folds, stopping, source)
        checked += [("early stopping without dev", m) for m in stopped]
    checked += [("identical label sets", m) for m in identical_label_sets(run)]
    checked += [("sentence overlap" if m.startswith("leakage (text)") else "leakage", m) for m in leakage_cautions(run)]
    severity = {message: check in SEVERE_CHECKS for check, message in checked}
    return [Caution(message, severe) for message, severe in severity.items()]


def leakage_cautions(run) -> list[str]:
    """One line per kind of the study's pre-flight leakage audit (:func:`voxpop.study.leakage.caution_lines`);
    none when the audit found nothing or was off (``audit: off``)."""
    from voxpop.study.leakage import caution_lines

    audit = getattr(run, "audit", None)
    return caution_lines(audit) if audit is not None else []


def study_cautions(run) -> list[str]:
    """Every check on a finished study, de-duplicated, in a stable order (:func:`graded_cautions`).

    Args:
        run: a finished :class:`voxpop.study.run.StudyRun`.

    Returns:
        The caution messages, one line each; empty when all is well.
    """
    return [caution.message for caution in graded_cautions(run)]


def identical_label_sets(run, kind: str | None = None) -> list[str]:
    """Train label sets equal to an earlier train set, and test sets equal to an earlier test set
    (:func:`voxpop.evaluation.analysis.identical_entries` on their kept targets): two rows or two columns that
    are one finding. A train set and a test set of the same targets are not flagged: scoring a model on the
    labels it learned (under the test set's name, e.g. AR distributions as ``AR-dist`` for KLD / JSD) is a
    design, not a duplicate.

    Args:
        run: a finished :class:`voxpop.study.run.StudyRun`.
        kind: only label sets of this kind (``categorical`` or ``continuous``); None: every label set.

    Returns:
        One message per duplicate, e.g. ``"test label set S* equals S: identical targets on all 384 items"``.

    Example:
        A recipe training on ``S`` and ``S*`` whose agreement filter keeps every item gives
        ``["train label set S* equals S: identical targets on all 384 items"]``.
    """
    from voxpop.evaluation.analysis import identical_entries

    messages = []
    for part in ("train", "test"):
        targets = {}
        for (of, name), stage in run.plan.labels.items():
            labels = run.output(stage)
            if of == part and (kind is None or labels.kind == kind):
                targets[name] = labels.kept_targets
        messages += identical_entries(targets, f"{part} label set", "targets", "items")
    return messages


def scoring_cautions(
    result: pd.DataFrame, source: str, test: str, train_labels=None, predictions: pd.DataFrame | None = None
) -> list[str]:
    """The checks that apply to one run scored outside a study (``voxpop evaluate``).

    Args:
        result: the run's tidy metric rows (column ``n_items``: scored test items).
        source: the run's name; test: the test label set's name.
        train_labels: the run's training :class:`~voxpop.labels.labelset.LabelSet` (None: predictions from a file).
        predictions: the run's out-of-fold predictions (column ``fold``), with ``train_labels``.

    Returns:
        :func:`small_test_sets` and, for a cross-validated run, :func:`classes_without_training_items`.

    >>> scoring_cautions(pd.DataFrame({"n_items": [12, 12]}), "mlp", "MR")
    ['mlp -> MR: scored on 12 test items; fewer than ~30 make intervals and differences unreliable']
    """
    messages = small_test_sets(result.assign(train=source, test=test))
    if train_labels is not None and predictions is not None:
        messages += classes_without_training_items(train_labels.targets, train_labels.kept, predictions, source)
    return list(dict.fromkeys(messages))


def format_cautions(messages: Sequence[str], limit: int = 12) -> list[str]:
    """At most ``limit`` lines for the terminal, the rest summarised.

    Args:
        messages: caution messages (:func:`study_cautions`).
        limit: the most messages shown.

    Returns:
        The first ``limit`` messages, then ``"... and N more (all of them in the report)"`` when some are left.

    Example:
        >>> format_cautions(["a", "b", "c"], limit=2)
        ['a', 'b', '... and 1 more (all of them in the report)']
    """
    shown = list(messages[:limit])
    if len(messages) > limit:
        shown.append(f"... and {len(messages) - limit} more (all of them in the report)")
    return shown

