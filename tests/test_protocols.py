"""Protocols: partitions are disjoint, speaker-independent, cover every item, and errors are clear."""

from __future__ import annotations

import pandas as pd
import pytest

from voxpop.core.errors import ConfigError
from voxpop.models.protocols import leave_one_out, make_folds, speaker_folds, split_folds


def _items(n_speakers: int = 24, per_speaker: int = 5) -> pd.DataFrame:
    speakers = [f"{s:02d}" for s in range(1, n_speakers + 1) for _ in range(per_speaker)]
    return pd.DataFrame(
        {"speaker": speakers, "corpus": ["a", "b"] * (len(speakers) // 2)},
        index=[f"clip{i}" for i in range(len(speakers))],
    )


def test_speaker_folds_are_speaker_independent_and_cover_everything():
    items = _items()
    folds = speaker_folds(items, k=6, seed=3)
    tested = []
    for fold in folds:
        spk = {part: set(items.loc[getattr(fold, part), "speaker"]) for part in ("train", "dev", "test")}
        assert len(spk["test"]) == 4 and len(spk["dev"]) == 4 and len(spk["train"]) == 16
        assert not (spk["train"] & spk["test"]) and not (spk["train"] & spk["dev"]) and not (spk["dev"] & spk["test"])
        tested += list(fold.test)
    assert sorted(tested) == sorted(items.index)
    assert [list(f.test) for f in speaker_folds(items, 6, seed=3)] == [list(f.test) for f in folds]
    assert [list(f.test) for f in speaker_folds(items, 6, seed=4)] != [list(f.test) for f in folds]


def test_speaker_folds_without_dev():
    fold = speaker_folds(_items(6), k=2, dev=False)[0]
    assert len(fold.dev) == 0 and len(fold.train) == len(fold.test) == 15


def test_split_column_and_errors():
    items = pd.DataFrame({"fold1": ["Train", "Test", "Development", "Test2"]}, index=list("abcd"))
    (fold,) = split_folds(items, ["fold1"])
    assert (list(fold.train), list(fold.dev), list(fold.test)) == (["a"], ["c"], ["b"])
    with pytest.raises(ConfigError, match="protocol.split.columns 'fold1' has no 'Train' items"):
        split_folds(items.replace("Train", "x"), ["fold1"])
    with pytest.raises(ConfigError, match="needs the item column 'fold9'.*fold1"):
        make_folds(items, "split", columns=["fold9"])


def test_leave_one_out_and_dispatch():
    items = _items(3, 2)
    folds = leave_one_out(items, "speaker")
    assert [f.name for f in folds] == ["speaker=01", "speaker=02", "speaker=03"]
    assert all(len(f.train) == 4 and len(f.test) == 2 for f in folds)
    assert [f.name for f in make_folds(items, "leave-one-out", column="corpus")] == ["corpus=a", "corpus=b"]
    with pytest.raises(ConfigError, match="unknown protocol 'kfold'"):
        make_folds(items, "kfold")
    with pytest.raises(ConfigError, match="k=7 must be between 2 and the number of speakers"):
        speaker_folds(items, 7)


def test_empty_speaker_is_an_error():
    items = _items(3, 2)
    items.loc["clip0", "speaker"] = None
    with pytest.raises(ConfigError, match="'speaker' is empty for 1 items.*clip0"):
        speaker_folds(items, 3)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_group_kfold_assignment_equals_scikit_learn(k):
    import numpy as np
    import sklearn
    from sklearn.model_selection import GroupKFold

    rng = np.random.default_rng(k)
    speakers = [f"spk{s:02d}" for s in rng.integers(0, 11, size=120)]  # uneven speakers, ties in size
    items = pd.DataFrame({"speaker": speakers}, index=[f"x{i:03d}" for i in range(120)])
    ours = speaker_folds(items, k, dev=False, assignment="group-kfold")
    theirs = list(GroupKFold(n_splits=k).split(items, groups=items["speaker"]))
    assert tuple(int(p) for p in sklearn.__version__.split(".")[:2]) >= (1, 6)  # the assignment changed in 1.6
    for fold, (_, test) in zip(ours, theirs, strict=True):
        assert list(fold.test) == list(items.index[test])


def test_group_kfold_folds_keep_the_development_group():
    items = pd.DataFrame({"speaker": [s for s in "aabbbccccd"]}, index=[f"x{i}" for i in range(10)])
    folds = make_folds(items, "speaker-folds", k=3, assignment="group-kfold")
    # sizes c=4, b=3, a=2, d=1 -> c:0, b:1, a:2, d:2 (lightest fold after a holds 2 items)
    assert [sorted(set(items.loc[f.test, "speaker"])) for f in folds] == [["c"], ["b"], ["a", "d"]]
    assert sorted(set(items.loc[folds[0].dev, "speaker"])) == ["b"]
    with pytest.raises(ConfigError, match="assignment 'random'"):
        make_folds(items, "speaker-folds", k=3, assignment="random")
