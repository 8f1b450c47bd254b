"""Deeply nested JSON / YAML in state that voxpop reads back (cache ``.done``, a run folder's ``model.json`` /
``fold.json``, ``corpus.yaml``, a feature store's records) is damage: named or recomputed, never a
``RecursionError`` traceback (issue 9 item 6). Found by a review that tried to break the change."""

from __future__ import annotations

import pandas as pd
import pytest

from voxpop.core.cache import Cache
from voxpop.core.errors import VoxpopError
from voxpop.corpus.corpus import Corpus
from voxpop.models.cross_validation import _load_fold

DEEP_JSON = "[" * 100_000 + "]" * 100_000


def test_deep_done_file_is_damage_not_a_traceback(tmp_path):
    stage = tmp_path / "train-0123456789abcdef0123"
    stage.mkdir()
    (stage / ".done").write_text(DEEP_JSON)
    damaged = Cache(tmp_path).verify()
    assert [name.split(" ")[0] for name in damaged] == [stage.name]


def test_deep_model_json_is_an_input_error(tmp_path):
    from voxpop.models.trained_model import TrainedModel

    (tmp_path / "model.json").write_text(DEEP_JSON)
    with pytest.raises(VoxpopError, match="model.json"):
        TrainedModel.load(tmp_path)


def test_deep_fold_json_is_a_fold_not_yet_computed(tmp_path):
    (tmp_path / "fold.json").write_text(DEEP_JSON)
    assert _load_fold(tmp_path, {}, None, "fold1", ["anger"]) is None


def test_deep_corpus_yaml_is_an_input_error(tmp_path):
    items = pd.DataFrame({"speaker": ["s1"]}, index=["a"])
    ratings = pd.DataFrame({"item": ["a"], "rater": ["r1"], "slot": ["primary"], "label": ["anger"], "value": [None]})
    directory = Corpus("toy", items, ratings, ["anger", "neutral"]).save(tmp_path / "corpus")
    (directory / "corpus.yaml").write_text("a: " + "[" * 100_000 + "]" * 100_000)
    with pytest.raises(VoxpopError, match="corpus.yaml"):
        Corpus.load(directory)


def test_a_done_record_naming_files_outside_the_stage_is_damage(tmp_path):
    import json

    from voxpop.core.cache import damaged_files

    victim = tmp_path / "victim"
    victim.write_text("not yours")
    record = {str(victim): {"bytes": 9, "mtime_ns": 0, "blake2b": ""}, "../victim": {"bytes": 9}}
    problems = damaged_files(tmp_path / "stage", json.loads(json.dumps(record)))
    assert len(problems) == 2 and all("not a file inside the stage folder" in p for p in problems)
    assert victim.read_text() == "not yours"


def test_a_damaged_model_file_or_fold_record_is_a_fold_not_yet_computed(tmp_path):
    (tmp_path / "fold.json").write_text('{"a": 1}')
    assert _load_fold(tmp_path, {"spec": "x"}, None, "fold1", ["anger"]) is None
    (tmp_path / "fold.json").write_text('{"format": 1, "fingerprint": {"spec": "x"}}')
    (tmp_path / "model.json").write_text("garbage")
    assert _load_fold(tmp_path, {"spec": "x"}, None, "fold1", ["anger"]) is None
    assert not (tmp_path / "fold.json").exists()  # the fold is trained again on the next run
