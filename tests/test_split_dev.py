"""Split protocols without a development partition (EmoBox folds): a seeded speaker-disjoint development share of
each training fold (``dev_share``), and the refusal to early-stop on a fold that names no development items."""

from __future__ import annotations

import pandas as pd
import pytest

from voxpop.core.errors import ConfigError
from voxpop.models.protocols import Fold, make_folds, require_dev, split_folds
from voxpop.study.recipe import ProtocolConfig


def _items() -> pd.DataFrame:
    """10 speakers x 2 items; speakers 0-7 train, 8-9 test in column f1; f2 also names development items."""
    speakers = [f"spk{s}" for s in range(10) for _ in range(2)]
    f1 = ["Train" if int(s[3:]) < 8 else "Test" for s in speakers]
    f2 = ["Development" if int(s[3:]) == 0 else v for s, v in zip(speakers, f1, strict=True)]
    return pd.DataFrame({"speaker": speakers, "f1": f1, "f2": f2}, index=[f"x{i:02d}" for i in range(20)])


def test_dev_share_holds_out_whole_training_speakers():
    items = _items()
    (fold,) = split_folds(items, ["f1"], dev_share=0.25, seed=3)
    speakers = {part: set(items.loc[getattr(fold, part), "speaker"]) for part in ("train", "dev", "test")}
    assert len(speakers["dev"]) == 2  # by hand: round(0.25 * 8 training speakers)
    assert len(fold.dev) == 4 and len(fold.train) == 12 and len(fold.test) == 4
    assert not speakers["dev"] & speakers["train"] and speakers["dev"] | speakers["train"] == {
        f"spk{s}" for s in range(8)
    }
    assert list(fold.test) == [f"x{i}" for i in range(16, 20)] and fold.dev_missing == ""
    assert list(split_folds(items, ["f1"], dev_share=0.25, seed=3)[0].dev) == list(fold.dev)
    draws = {tuple(split_folds(items, ["f1"], dev_share=0.25, seed=s)[0].dev) for s in range(6)}
    assert len(draws) > 1  # the seed chooses the speakers
    (tiny,) = make_folds(items, "split", columns=["f1"], dev_share=0.01)
    assert items.loc[tiny.dev, "speaker"].nunique() == 1  # at least one speaker


def test_fold_without_development_items_is_marked_and_dev_share_errors():
    items = _items()
    no_dev, with_dev = split_folds(items, ["f1", "f2"])
    assert no_dev.dev_missing == (
        "split column 'f1' names no development items (no value 'Development'; its values: Test, Train)"
    )
    assert with_dev.dev_missing == "" and len(with_dev.dev) == 2
    with pytest.raises(ConfigError, match="split column 'f2' names 2 development items .* drop dev_share"):
        split_folds(items, ["f2"], dev_share=0.1)
    with pytest.raises(ConfigError, match="item column 'speaker', which the items lack .*columns: f1, f2"):
        split_folds(items.drop(columns="speaker"), ["f1"], dev_share=0.1)
    with pytest.raises(ConfigError, match="dev_share 1 must be at least 0 and below 1"):
        split_folds(items, ["f1"], dev_share=1.0)


def test_require_dev_refuses_early_stopping_and_names_both_ways_out():
    (fold,) = split_folds(_items(), ["f1"])
    with pytest.raises(ConfigError) as caught:
        require_dev(fold, early_stops=True)
    message = str(caught.value)
    assert message.startswith("fold 'f1': split column 'f1' names no development items")
    assert "protocol.split.dev_share: 0.1" in message and "model.early_stopping: null" in message
    require_dev(fold, early_stops=False)  # a classical head or no patience: nothing to stop on
    require_dev(Fold("g", fold.train, fold.train[:1], fold.test, ""), early_stops=True)


def test_recipe_key_dev_share_reaches_the_folds():
    protocol = ProtocolConfig.model_validate({"split": {"columns": ["f1"], "dev_share": 0.25, "seed": 3}})
    (fold,) = protocol.folds(_items())
    assert list(fold.dev) == list(split_folds(_items(), ["f1"], dev_share=0.25, seed=3)[0].dev)
    with pytest.raises(ValueError, match="dev_share"):
        ProtocolConfig.model_validate({"split": {"columns": ["f1"], "dev_share": 1.5}})
