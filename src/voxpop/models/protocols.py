"""Evaluation protocols: which items train, tune and test each model. Always explicit, never implied.

- ``split``: a predefined split column (e.g. CREMA-D's fold1 = Train / Development / Test).
- ``speaker-folds``: k folds of whole speakers (speaker-independent); the development set of fold i
  is the test speakers of fold i+1, so every speaker is tested exactly once.
- ``leave-one-out``: one fold per value of a column: leave-one-speaker-out (``speaker``) or
  leave-one-group-out, e.g. one corpus.
- ``cross-corpus``: one fold that trains on the items of some corpora and tests on the others'
  (item column ``corpus`` of a merged corpus, :func:`voxpop.corpus.merge.merge_corpora`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError

PROTOCOLS = ("split", "speaker-folds", "leave-one-out")
"""The single-corpus protocols (``voxpop train --protocol``); :func:`make_folds` also takes ``cross-corpus``, which
a recipe with several corpora uses."""
ASSIGNMENTS = ("round-robin", "group-kfold")


@dataclasses.dataclass(frozen=True)
class Fold:
    """Item ids of one train / development / test partition.

    Args:
        name: the fold's name (``fold1``, ``speaker=1001``, ``corpus=x``).
        train: the training items.
        dev: the development items (early stopping, tuning); may be empty.
        test: the test items.
    """

    name: str
    train: pd.Index
    dev: pd.Index
    test: pd.Index
    dev_missing: str = ""
    """Why a protocol that names development items gave this fold none (a split column without a development
    value); a model that early-stops on such a fold is refused (:func:`require_dev`)."""
    left_out: Mapping[str, int] = dataclasses.field(default_factory=dict)
    """Items of this fold's split column in no partition, by value (``{"Test3": 123}``): counted, never dropped
    in silence (:func:`split_folds`)."""

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "dev": len(self.dev), "test": len(self.test)}


def left_out_table(folds: Sequence[Fold]) -> pd.DataFrame:
    """Items each fold's protocol left out, by value of its split column: folds x ``left_out[VALUE]`` item counts
    (0 where a fold has none of a value); no columns when no fold left an item out.

    >>> f = Fold("s", pd.Index(["a"]), pd.Index([]), pd.Index(["b"]), left_out={"Test3": 2})
    >>> left_out_table([f, Fold("t", f.train, f.dev, f.test)]).to_dict("index")
    {'s': {'left_out[Test3]': 2}, 't': {'left_out[Test3]': 0}}
    """
    counts = {fold.name: {f"left_out[{value}]": n for value, n in fold.left_out.items()} for fold in folds}
    table = pd.DataFrame.from_dict(counts, orient="index").reindex([fold.name for fold in folds])
    return table.fillna(0).astype(int).rename_axis("fold")


def _column(items: pd.DataFrame, column: str) -> pd.Series:
    if column not in items.columns:
        raise ConfigError(
            f"protocol needs the item column {column!r}, but the items have: {', '.join(map(str, items.columns))}"
        )
    values = items[column]
    missing = values.isna()
    if missing.any():
        raise ConfigError(
            f"item column {column!r} is empty for {int(missing.sum())} items "
            f"(first: {list(items.index[missing.to_numpy()][:3])}); fill it or filter those items out"
        )
    return values.astype(str)


SPLIT_PARTS = ("train", "dev", "test")
"""The partitions of the split protocol, in the order of :func:`split_values`."""


def split_key(part: str) -> str:
    """How a message names the values of one partition of the split protocol: its recipe key and its
    ``voxpop train`` flag.

    >>> split_key("test")
    'protocol.split.test, voxpop train --split-test'
    """
    return f"protocol.split.{part}, voxpop train --split-{part}"


def split_values(
    train: str | Sequence[str], dev: str | Sequence[str], test: str | Sequence[str]
) -> dict[str, list[str]]:
    """The values that put an item in each partition of the split protocol, as lists: a string is one value, a
    list several (MSP-Podcast: ``test: [Test1, Test2]``, each test value scored on its own as well).

    Args:
        train, dev, test: the value, or values, that mark the partition's items.

    Returns:
        ``{"train": [...], "dev": [...], "test": [...]}`` in the order given.

    Raises:
        ConfigError: a partition without a value, an empty value, a value listed twice or one value in two
            partitions; the message names the recipe keys and flags (:func:`split_key`).

    Example:
        >>> split_values("Train", "Development", ["Test1", "Test2"])
        {'train': ['Train'], 'dev': ['Development'], 'test': ['Test1', 'Test2']}
        >>> split_values("Train", ["Development", "Train"], "Test")
        Traceback (most recent call last):
        ...
        voxpop.core.errors.ConfigError: split protocol: 'Train' marks both train items (protocol.split.train, ...
    """
    values: dict[str, list[str]] = {}
    for part, given in zip(SPLIT_PARTS, (train, dev, test), strict=True):
        listed = [given] if isinstance(given, str) else [str(v) for v in given]
        if not listed or not all(listed):
            raise ConfigError(
                f"split protocol: the {part} values ({split_key(part)}) need at least one value and no empty one, "
                f"got {listed}"
            )
        twice = sorted({v for v in listed if listed.count(v) > 1})
        if twice:
            raise ConfigError(f"split protocol: {', '.join(map(repr, twice))} listed twice in the {part} values "
                              f"({split_key(part)}); name each value once")  # fmt: skip
        values[part] = listed
    for i, first in enumerate(SPLIT_PARTS):
        for second in SPLIT_PARTS[i + 1 :]:
            both = [v for v in values[first] if v in values[second]]
            if both:
                raise ConfigError(
                    f"split protocol: {', '.join(map(repr, both))} marks both {first} items ({split_key(first)}) "
                    f"and {second} items ({split_key(second)}); give each value to one partition"
                )
    return values


def _counted(counts: pd.Series) -> str:
    """``Development (10), Test1 (4)``: a split column's values with their item counts."""
    return ", ".join(f"{value} ({int(n):,})" for value, n in sorted(counts.items()))


def split_folds(
    items: pd.DataFrame,
    columns: Sequence[str],
    train: str | Sequence[str] = "Train",
    dev: str | Sequence[str] = "Development",
    test: str | Sequence[str] = "Test",
    dev_share: float = 0.0,
    seed: int = 0,
    speaker: str = "speaker",
) -> list[Fold]:
    """One fold per predefined split column whose values name the partition of each item.

    ``train``, ``dev`` and ``test`` are each one value or a list of values (:func:`split_values`): MSP-Podcast's
    ``Split_Set`` with ``test: [Test1, Test2]`` tests both partitions in one fold (the evaluation scores each test
    value apart as well, :mod:`voxpop.evaluation.partitions`). Items with any other value (``Test3``) are left out
    of that fold and counted in its ``left_out`` (value -> items). Every train and test value must occur in each
    column. A column without ``dev`` items (EmoBox folds have train and test only) gives a fold with no development
    items, marked ``dev_missing`` so that a model that early-stops on it is refused (:func:`require_dev`), unless
    ``dev_share`` > 0: that share of each fold's training speakers (item column ``speaker``; at least one, shuffled
    with ``seed``) is then held out as its development set (:func:`speaker_share`).

    Args:
        items: the corpus items, with the split columns (and ``speaker`` for ``dev_share``).
        columns: the split columns, one fold each, named after its column.
        train, dev, test: the value, or list of values, that put an item in each partition.
        dev_share: share of the training speakers held out as development items, in [0, 1); 0: none.
        seed: seed of the speakers' shuffle for ``dev_share``.
        speaker: the speaker column for ``dev_share``.

    Returns:
        The folds, in the order of ``columns``.

    Raises:
        ConfigError: a column is missing or has empty cells; values as :func:`split_values` refuses them; a train or
            test value, or some but not all dev values, that a column lacks (naming the recipe key and flag, and the
            column's values with their counts); ``dev_share`` outside [0, 1), or given for a column that names
            development items already; fewer than two training speakers for ``dev_share``.

    Example:
        >>> items = pd.DataFrame({"fold1": ["Train", "Development", "Test", "Train"]}, index=list("abcd"))
        >>> split_folds(items, ["fold1"])[0].sizes()
        {'train': 2, 'dev': 1, 'test': 1}
        >>> items = pd.DataFrame({"s": ["Train", "Test1", "Test2", "Test3", "Development"]}, index=list("abcde"))
        >>> fold = split_folds(items, ["s"], test=["Test1", "Test2"])[0]
        >>> list(fold.test), fold.left_out
        (['b', 'c'], {'Test3': 1})
        >>> items = pd.DataFrame({"f1": ["train", "train", "test", "train"], "speaker": ["s1", "s2", "s3", "s1"]},
        ...                      index=list("abcd"))
        >>> split_folds(items, ["f1"], train="train", test="test")[0].dev_missing
        "split column 'f1' names no development items (no value 'Development'; its values: test, train)"
        >>> fold = split_folds(items, ["f1"], train="train", test="test", dev_share=0.5)[0]
        >>> sorted(items.loc[fold.dev, "speaker"].unique()), sorted(items.loc[fold.train, "speaker"].unique())
        (['s1'], ['s2'])
    """
    wanted = split_values(train, dev, test)
    named = {v for listed in wanted.values() for v in listed}
    if not 0 <= dev_share < 1:
        raise ConfigError(f"split protocol: dev_share {dev_share:g} must be at least 0 and below 1")
    folds = []
    for column in columns:
        values = _column(items, column)
        counts = values.value_counts()
        for part in SPLIT_PARTS:
            absent = [v for v in wanted[part] if v not in counts.index]
            if absent and (part != "dev" or len(absent) < len(wanted["dev"])):
                raise ConfigError(
                    f"protocol.split.columns {column!r} has no {' or '.join(map(repr, absent))} items (the {part} "
                    f"values: {split_key(part)}); its values: {_counted(counts)}; name values that occur in it"
                )
        parts = {part: items.index[values.isin(wanted[part]).to_numpy()] for part in SPLIT_PARTS}
        left_out = {str(v): int(n) for v, n in sorted(counts.items()) if v not in named}
        missing = ""
        if dev_share > 0:
            if len(parts["dev"]):
                raise ConfigError(
                    f"split column {column!r} names {len(parts['dev'])} development items "
                    f"({', '.join(map(repr, wanted['dev']))}) already; dev_share {dev_share:g} would hold out more: "
                    "drop dev_share, or give dev a value the column does not have"
                )
            training = values.isin(wanted["train"]).to_numpy()
            held_out = speaker_share(items, training, dev_share, seed, speaker, f"split column {column!r}")
            parts["train"], parts["dev"] = items.index[training & ~held_out], items.index[held_out]
        elif not len(parts["dev"]):
            missing = (
                f"split column {column!r} names no development items (no value "
                f"{' or '.join(map(repr, wanted['dev']))}; its values: {', '.join(sorted(values.unique()))})"
            )
        folds.append(Fold(column, parts["train"], parts["dev"], parts["test"], missing, left_out))
    return folds


def speaker_share(
    items: pd.DataFrame, training: np.ndarray, share: float, seed: int, speaker: str, what: str
) -> np.ndarray:
    """Mask of the training items whose speaker is among ``share`` of the training speakers (at least one),
    drawn after shuffling the sorted speakers with ``seed``: a speaker-disjoint development set.

    Args:
        items: the corpus items, with column ``speaker``.
        training: boolean mask (one per item) of the training items to draw from.
        share: the share of training speakers to hold out, in (0, 1).
        seed: seed of :func:`numpy.random.default_rng` for the shuffle.
        speaker: the speaker column.
        what: the protocol and fold, for messages.

    Returns:
        Boolean mask (one per item), true for the held-out items; false outside ``training``.

    Raises:
        ConfigError: no ``speaker`` column or an empty speaker cell among the training items; fewer than two
            training speakers.

    Example:
        >>> items = pd.DataFrame({"speaker": ["a", "a", "b", "c"]}, index=["1", "2", "3", "4"])
        >>> speaker_share(items, np.array([True, True, True, False]), 0.5, 0, "speaker", "fold").tolist()
        [True, True, False, False]
    """
    if speaker not in items.columns:
        raise ConfigError(
            f"{what}: a development share draws whole speakers from the item column {speaker!r}, which the items "
            f"lack (columns: {', '.join(map(str, items.columns))}); add a speaker column, or name another"
        )
    speakers = _column(items[training], speaker)
    unique = np.array(sorted(speakers.unique()))
    if len(unique) < 2:
        raise ConfigError(f"{what}: a development share {share:g} needs at least two training speakers, found "
                          f"{len(unique)}")  # fmt: skip
    chosen = np.random.default_rng(seed).permutation(unique)[: max(1, round(share * len(unique)))]
    held_out = np.zeros(len(items), dtype=bool)
    held_out[training] = speakers.isin(chosen).to_numpy()
    return held_out


def require_dev(fold: Fold, early_stops: bool) -> None:
    """Refuse to train a model that early-stops on a fold whose protocol named no development items.

    Training would otherwise run every epoch without saying so. The message offers the two ways out: a
    development share of each training fold, or no early stopping.

    Args:
        fold: the fold about to be trained (its ``dev_missing`` says why it has no development items).
        early_stops: whether the model stops early on development items (a neural head with a patience).

    Raises:
        ConfigError: ``early_stops`` and ``fold.dev_missing``, naming the fold and both alternatives with their
            recipe keys.

    Example:
        >>> require_dev(Fold("f1", pd.Index(["a"]), pd.Index([]), pd.Index(["b"]), "no dev value"), True)
        Traceback (most recent call last):
        ...
        voxpop.core.errors.ConfigError: fold 'f1': no dev value, but the model stops early on development items...
    """
    if early_stops and fold.dev_missing and not len(fold.dev):
        raise ConfigError(
            f"fold {fold.name!r}: {fold.dev_missing}, but the model stops early on development items (EmoBox "
            "and other benchmarks without a development partition). Choose one: hold out a speaker-disjoint "
            "share of each training fold as development items (recipe: protocol.split.dev_share: 0.1, drawn "
            "from the item column speaker with protocol.split.seed; voxpop train: --split-dev-share 0.1; Python: "
            "dev_share=0.1), or train every "
            "epoch without early stopping (recipe: model.early_stopping: null; voxpop train: --patience 0)."
        )


def group_kfold_groups(speakers: pd.Series, k: int) -> dict[str, int]:
    """Fold of each speaker as scikit-learn's ``GroupKFold(n_splits=k)`` assigns it (shuffle=False; the
    assignment of scikit-learn 1.6 and later): speakers sorted by item count, largest first (ties: the
    later speaker in sorted order first), each to the fold with the fewest items so far.

    >>> group_kfold_groups(pd.Series(["a", "a", "a", "b", "b", "c", "d"]), 2)
    {'a': 0, 'b': 1, 'd': 1, 'c': 0}
    """
    unique, inverse = np.unique(speakers.to_numpy(dtype=str), return_inverse=True)
    sizes = np.bincount(inverse)
    order = np.argsort(sizes, kind="stable")[::-1]
    load = np.zeros(k)
    groups = {}
    for speaker in order:
        lightest = int(np.argmin(load))
        load[lightest] += sizes[speaker]
        groups[str(unique[speaker])] = lightest
    return groups


def _disjoint_groups(items: pd.DataFrame, columns: Sequence[str], k: int, seed: int) -> np.ndarray:
    """Per item, the fold group (0..k-1) of each ``disjoint`` column's value, as a (items, columns) array: each
    column's sorted values shuffled with ``seed`` and dealt round robin.

    Raises:
        ConfigError: a column with fewer values than ``k`` (naming both numbers), missing or with empty cells.
    """
    groups = np.zeros((len(items), len(columns)), dtype=int)
    for j, name in enumerate(columns):
        values = _column(items, name)
        unique = np.array(sorted(values.unique()))
        if len(unique) < k:
            raise ConfigError(
                f"speaker folds disjoint in {name!r}: the column has {len(unique)} values, fewer than the k={k} "
                f"folds (each fold tests its own values); lower k to at most {len(unique)} or drop {name!r} from "
                "disjoint"
            )
        order = np.random.default_rng([seed, j + 1]).permutation(unique)
        groups[:, j] = values.map({value: i % k for i, value in enumerate(order)}).to_numpy()
    return groups


SET_ASIDE = "set aside"
"""The :attr:`Fold.left_out` key of items that fit neither side of a disjoint fold (:func:`speaker_folds`)."""


def speaker_folds(
    items: pd.DataFrame,
    k: int,
    column: str = "speaker",
    dev: bool = True,
    seed: int = 0,
    assignment: str = "round-robin",
    disjoint: Sequence[str] = (),
) -> list[Fold]:
    """k speaker-independent folds, optionally also disjoint in other item columns (``sentence``).

    ``assignment``: ``round-robin`` shuffles the speakers with ``seed`` and deals them round robin;
    ``group-kfold`` is scikit-learn's deterministic ``GroupKFold`` assignment (see
    :func:`group_kfold_groups`), so published splits made with it are reproduced. Fold i tests the
    speakers of group i, develops on group i+1 (mod k) when ``dev`` and trains on the rest, so no
    speaker is in two partitions of one fold.

    ``disjoint`` columns: their values are dealt to k groups as well (shuffled with ``seed``); fold i then tests
    only the items of speaker group i whose values are all in group i, and trains and develops only on items
    none of whose values is in group i, so test shares neither a speaker nor such a value with train or dev.
    Items that fit neither side (a test speaker's other sentences, another speaker's test sentences) are set
    aside for that fold and counted in its ``left_out`` under :data:`SET_ASIDE`.

    Raises:
        ConfigError: k outside 2..speakers, k < 3 with ``dev``, an unknown assignment, a column missing or with
            empty cells, a ``disjoint`` column with fewer values than k.

    >>> items = pd.DataFrame({"speaker": [s for s in "abcdef" for _ in range(2)]},
    ...                      index=[f"x{i}" for i in range(12)])
    >>> folds = speaker_folds(items, 3)
    >>> [f.sizes() for f in folds][0]
    {'train': 4, 'dev': 4, 'test': 4}
    >>> sorted(set().union(*[set(f.test) for f in folds])) == sorted(items.index)
    True
    """
    speakers = _column(items, column)
    unique = np.array(sorted(speakers.unique()))
    if k < 2 or k > len(unique):
        raise ConfigError(f"speaker folds: k={k} must be between 2 and the number of speakers ({len(unique)})")
    if dev and k < 3:
        raise ConfigError("speaker folds with a development group need k >= 3 (or dev: false)")
    if assignment == "group-kfold":
        group_of = group_kfold_groups(speakers, k)
    elif assignment == "round-robin":
        order = np.random.default_rng(seed).permutation(unique)
        group_of = {speaker: i % k for i, speaker in enumerate(order)}
    else:
        raise ConfigError(f"speaker folds: assignment {assignment!r}; choose one of {', '.join(ASSIGNMENTS)}")
    groups = speakers.map(group_of).to_numpy()
    others = _disjoint_groups(items, list(disjoint), k, seed) if disjoint else np.zeros((len(items), 0), dtype=int)
    folds = []
    for i in range(k):
        dev_group = (i + 1) % k if dev else -1
        inside, outside = (others == i).all(axis=1), (others != i).all(axis=1)
        test = items.index[(groups == i) & inside]
        dev_items = items.index[(groups == dev_group) & outside]
        train = items.index[(groups != i) & (groups != dev_group) & outside]
        aside = len(items) - len(test) - len(dev_items) - len(train)
        folds.append(Fold(f"fold{i + 1}", train, dev_items, test, left_out={SET_ASIDE: aside} if disjoint else {}))
    return folds


def leave_one_out(items: pd.DataFrame, column: str = "speaker") -> list[Fold]:
    """One fold per value of ``column`` (leave-one-speaker-out, leave-one-corpus-out ...); no dev set.

    >>> items = pd.DataFrame({"corpus": ["x", "x", "y"]}, index=["a", "b", "c"])
    >>> [(f.name, list(f.test)) for f in leave_one_out(items, "corpus")]
    [('corpus=x', ['a', 'b']), ('corpus=y', ['c'])]
    """
    values = _column(items, column)
    unique = sorted(values.unique())
    if len(unique) < 2:
        raise ConfigError(f"leave-one-out over {column!r} needs at least two values, found {unique}")
    empty = pd.Index([], dtype=items.index.dtype)
    return [
        Fold(
            f"{column}={value}",
            items.index[(values != value).to_numpy()],
            empty,
            items.index[(values == value).to_numpy()],
        )
        for value in unique
    ]


def cross_corpus_folds(
    items: pd.DataFrame,
    train: Sequence[str],
    test: Sequence[str],
    column: str = "corpus",
    dev: float = 0.0,
    seed: int = 0,
    speaker: str = "speaker",
) -> list[Fold]:
    """One fold: train on the items whose ``column`` is in ``train``, test on those in ``test``. Items of
    corpora in neither list are left out. ``dev`` > 0: that share of the training items' speakers
    (at least one, shuffled with ``seed``) is held out as the development set, e.g. for early stopping.

    >>> items = pd.DataFrame({"corpus": ["a", "a", "b", "c"], "speaker": ["1", "2", "3", "4"]},
    ...                      index=["a1", "a2", "b1", "c1"])
    >>> fold = cross_corpus_folds(items, ["a"], ["b", "c"])[0]
    >>> fold.name, list(fold.train), list(fold.test)
    ('a -> b+c', ['a1', 'a2'], ['b1', 'c1'])
    >>> fold = cross_corpus_folds(items, ["a"], ["b"], dev=0.5)[0]
    >>> len(fold.train), len(fold.dev), list(fold.test)
    (1, 1, ['b1'])
    """
    values = _column(items, column)
    missing = [c for c in [*train, *test] if c not in set(values)]
    if missing:
        raise ConfigError(
            f"cross-corpus protocol: corpora {missing} have no items (item column {column!r} holds "
            f"{', '.join(sorted(values.unique()))}); check the corpus names and the item filter"
        )
    training = values.isin(list(train)).to_numpy()
    held_out = np.zeros(len(items), dtype=bool)
    if dev > 0:
        held_out = speaker_share(items, training, dev, seed, speaker, "cross-corpus protocol")
    return [
        Fold(
            f"{'+'.join(train)} -> {'+'.join(test)}",
            items.index[training & ~held_out],
            items.index[held_out],
            items.index[values.isin(list(test)).to_numpy()],
        )
    ]


def make_folds(items: pd.DataFrame, protocol: str, **options) -> list[Fold]:
    """The folds of ``protocol`` over ``items`` (METHODS.md section 6, "Protocols").

    Args:
        items: the corpus's items table (indexed by item id) with the columns the protocol reads.
        protocol: ``split`` (:func:`split_folds`: ``columns=[...]`` of Train / Development / Test values, ``train``,
            ``dev``, ``test``, ``dev_share``, ``seed``, ``speaker``),
            ``speaker-folds`` (:func:`speaker_folds`: ``k``, ``column``, ``dev``, ``seed``, ``assignment``,
            ``disjoint``),
            ``leave-one-out`` (:func:`leave_one_out`: ``column``) or ``cross-corpus``
            (:func:`cross_corpus_folds`: ``train``, ``test``, ``column``, ``dev``, ``seed``).
        **options: the protocol's options, as listed.

    Returns:
        The folds, in order; no item is in two partitions of one fold.

    Raises:
        ConfigError: an unknown protocol or option, or a column the items lack or leave empty.

    Example:
        >>> items = pd.DataFrame({"speaker": [s for s in "abcdef" for _ in range(2)]},
        ...                      index=[f"x{i}" for i in range(12)])
        >>> [fold.sizes() for fold in make_folds(items, "speaker-folds", k=3)][0]
        {'train': 4, 'dev': 4, 'test': 4}
    """
    functions = {"split": split_folds, "speaker-folds": speaker_folds, "leave-one-out": leave_one_out,
                 "cross-corpus": cross_corpus_folds}  # fmt: skip
    if protocol not in functions:
        raise ConfigError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    import inspect

    accepted = [p for p in inspect.signature(functions[protocol]).parameters if p != "items"]
    accepted = ["columns", "column", *accepted[1:]] if protocol == "split" else accepted
    unknown = [o for o in options if o not in accepted]
    if unknown:  # a misspelt or misplaced option (head=... belongs to the model) was a TypeError
        raise ConfigError(
            f"protocol {protocol!r}: unknown option(s) {', '.join(unknown)}; its options: {', '.join(accepted)}"
        )
    if protocol == "split":
        columns = options.pop("columns", None) or [options.pop("column", "split")]
        return split_folds(items, columns, **options)
    return functions[protocol](items, **options)
