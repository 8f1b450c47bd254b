"""Found by breaking voxpop's own artefacts by hand (#31 follow-up): values read from fold records, export
cards, ONNX metadata and prediction tables are quoted as short excerpts, and a card whose kind, multi-label flag
and outputs disagree is refused (each of those keys changes how the same ONNX outputs are read)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from voxpop.core.cache import damaged_files
from voxpop.core.errors import InputError, where
from voxpop.core.formatting import EXCERPT_CHARACTERS, excerpts, validation_problem
from voxpop.evaluation.metrics import align_tables
from voxpop.evaluation.prediction_checks import check_prediction_table
from voxpop.evaluation.predictions import load_predictions
from voxpop.models.export_card import card_fold, mark_onnx, read_card, verified_onnx
from voxpop.models.fold_records import FoldRecordError, verify_folds
from voxpop.models.saved_runs import find_runs

CLASSES = ["neutral", "anger", "happy", "sad"]
LONG = "X" * 500 + "\x1b[31m\nroot:x:0:0"  # a long value with a terminal escape and a line break


def _short(message: str) -> None:
    """The message quotes no more than an excerpt of :data:`LONG`: no run of X longer than the excerpt limit, and
    the escape and the line break only escaped (the raw characters never reach the terminal)."""
    longest = max((len(m) for m in re.findall("X+", message)), default=0)
    assert longest <= EXCERPT_CHARACTERS, message
    assert "\x1b" not in message and "\n" not in message and "root:x" not in message


def test_excerpts_bounds_each_item_and_the_count() -> None:
    assert excerpts(["anger", "sad"]) == "['anger', 'sad']"
    assert excerpts(list("abcdefghij"), most=3) == "['a', 'b', 'c', … (10 in all)]"
    assert excerpts(["x" * 45]) == "['" + "x" * EXCERPT_CHARACTERS + "'…]"
    assert excerpts("a\x1bb") == "'a\\x1bb'"  # not a list: one excerpt


def _fold(directory: Path, **record: object) -> Path:
    directory.mkdir(parents=True)
    (directory / "model.json").write_text("{}")
    full = {"format": 1, "fold": directory.name, "run": "train-abc", "classes": CLASSES, "features": {},
            "sha256": {}} | record  # fmt: skip
    (directory / "fold.json").write_text(json.dumps(full))
    return directory


@pytest.mark.parametrize("key", ["fold", "run", "classes"])
def test_fold_record_values_are_quoted_as_excerpts(tmp_path: Path, key: str) -> None:
    value = [LONG] * 20 if key == "classes" else LONG
    folds = {"fold1": _fold(tmp_path / "folds" / "fold1", **{key: value})}
    with pytest.raises(FoldRecordError) as caught:
        verify_folds(
            folds, "train-abc", CLASSES, source="runs.json, run 'base'", root=tmp_path, notice=lambda line: None
        )
    message = str(caught.value)
    assert str(folds["fold1"] / "fold.json") in message
    _short(message)
    if key == "classes":
        assert "… (20 in all)" in message


def _onnx(output: str = "probabilities", width: int = 4) -> bytes:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], [output])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, width])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, [None, width])],
    )
    return helper.make_model(graph).SerializeToString()


def _export(directory: Path, fold: str = "fold1", **edits: object) -> Path:
    """An export folder as voxpop writes it (one fold), with ``edits`` applied to its card."""
    directory.mkdir()
    data = mark_onnx(_onnx(), "fold1", "train-abc", CLASSES, ["fold1"])
    (directory / "fold1.onnx").write_bytes(data)
    card = {
        "format": 2, "run": "base", "kind": "categorical", "classes": CLASSES, "multilabel": False,
        "output": "softmax over classes", "output_name": "probabilities", "scale": {},
        "label_rule": {"rule": "mr"}, "training_corpus": "corpus", "item_filter": None,
        "protocol": {"name": "speaker-folds"}, "head": "mlp",
        "input": {"name": "x", "kind": "vector", "shape": [None, 4], "dtype": "float32"},
        "features": {"extractor": {"extractor": "fbank"}, "audio": {}},
        "folds": {fold: card_fold("fold1.onnx", data, CLASSES)},
        "prediction": "mean", "metrics": [],
    } | edits  # fmt: skip
    (directory / "card.json").write_text(json.dumps(card))
    return directory / "card.json"


def test_an_unedited_card_and_its_onnx_file_read(tmp_path: Path) -> None:
    path = _export(tmp_path / "export")
    card = read_card(path)
    assert (card.kind, card.multilabel, card.classes) == ("categorical", False, CLASSES)
    assert list(verified_onnx(path.parent, card, "probabilities")) == ["fold1"]


@pytest.mark.parametrize(
    "edits",
    [
        {"kind": "continuous"},  # class probabilities would be read as dimension values
        {"multilabel": True},  # a softmax read as sigmoids: "neutral+anger" predictions
        {"output": "sigmoid per class"},
        {"output_name": "values"},
        {"kind": "continuous", "output_name": "values"},  # two keys edited: the output text still disagrees
    ],
)
def test_a_card_whose_kind_and_outputs_disagree_is_refused(tmp_path: Path, edits: dict[str, object]) -> None:
    path = _export(tmp_path / "export", **edits)
    with pytest.raises(InputError, match=r"do not belong together .*export the run again") as caught:
        read_card(path)
    assert str(path) in str(caught.value)


def test_a_card_kind_outside_the_schema_is_refused(tmp_path: Path) -> None:
    path = _export(tmp_path / "export", kind=LONG)
    with pytest.raises(InputError, match=r"key 'kind': Input should be 'categorical' or 'continuous'") as caught:
        read_card(path)
    _short(str(caught.value))


def test_card_values_are_quoted_as_excerpts(tmp_path: Path) -> None:
    data = mark_onnx(_onnx(), "fold1", "train-abc", CLASSES, ["fold1"])
    cases = {
        "fold-classes": {"folds": {"fold1": {"file": "fold1.onnx", "classes": [LONG] * 4}}},
        "unknown-key": {LONG: 1},
        "classes": {"classes": [LONG] * 4, "folds": {"fold1": card_fold("fold1.onnx", data, [LONG] * 4)}},
        "fold-name": {"folds": {LONG: card_fold("fold1.onnx", data, CLASSES)}},
    }
    for name, edits in cases.items():
        path = _export(tmp_path / name, **edits)
        with pytest.raises(InputError) as caught:
            verified_onnx(path.parent, read_card(path), "probabilities")
        assert str(path.parent) in str(caught.value), name
        _short(str(caught.value))


def _predictions(tmp_path: Path, name: str, table: pd.DataFrame) -> Path:
    path = tmp_path / f"{name}.csv"
    table.rename_axis("item").to_csv(path)
    return path


def test_prediction_tables_quote_columns_and_items_as_excerpts(tmp_path: Path) -> None:
    good = pd.DataFrame({"A": [0.75, 0.5], "S": [0.25, 0.5]}, index=["i1", "i2"])
    long_column = good.rename(columns={"S": LONG})
    long_item = good.set_axis([LONG + "1", LONG + "2"]).assign(A=[-0.5, 0.5])
    summing = good.set_axis([LONG + "1", LONG + "2"]).assign(A=[0.9, 0.5])
    cases = [
        (long_column, {"classes": ["A", "S"]}, "is not one of the classes"),
        (long_item, {}, r"-0.5 is not a probability in \[0, 1\]"),
        (summing, {}, "the class probabilities sum to 1.15"),
    ]
    for number, (table, options, problem) in enumerate(cases):
        path = _predictions(tmp_path, f"p{number}", table)
        with pytest.raises(InputError, match=problem) as caught:
            check_prediction_table(load_predictions(path), path, **options)
        assert str(path) in str(caught.value)
        _short(str(caught.value))


def test_a_location_quotes_a_column_read_from_a_file_as_an_excerpt() -> None:
    assert where("p.csv", 2, "anger") == "p.csv, row 2, column 'anger'"
    assert where("p.csv", column=3) == "p.csv, column 3"
    _short(where("p.csv", 2, LONG))


def test_fused_tables_quote_item_ids_and_class_columns_as_excerpts() -> None:
    reference = pd.DataFrame({"A": [0.5], "S": [0.5]}, index=["i1"])
    other_columns = reference.rename(columns={"S": LONG})
    other_items = reference.set_axis([LONG])
    for table, problem in [(other_columns, "class columns differ"), (other_items, "items differ")]:
        with pytest.raises(InputError, match=problem) as caught:
            align_tables({"audio": reference, "video": table})
        _short(str(caught.value))


@pytest.mark.parametrize("record", [{"format": 2, LONG: 1}, {"format": 2, "folds": LONG}])
def test_a_run_list_failing_its_schema_names_the_key_not_the_value(tmp_path: Path, record: dict) -> None:
    (tmp_path / "runs.json").write_text(json.dumps({"base": record}))
    with pytest.raises(InputError, match=r"runs\.json: not a readable run list \(key .*problems in all\)") as caught:
        find_runs(tmp_path)
    message = str(caught.value)
    _short(message)
    assert "input_value" not in message and "errors.pydantic.dev" not in message and "\n" not in message


def test_validation_problem_shows_the_first_key_and_the_count() -> None:
    import pydantic

    class Card(pydantic.BaseModel, extra="forbid"):
        kind: str
        folds: list[str]

    with pytest.raises(pydantic.ValidationError) as caught:
        Card.model_validate({"kind": LONG, "folds": LONG, "extra": 1})
    assert validation_problem(caught.value) == "key 'folds': Input should be a valid list (2 problems in all)"


def test_run_classes_are_quoted_as_excerpts_against_the_fold_record(tmp_path: Path) -> None:
    folds = {"fold1": _fold(tmp_path / "folds" / "fold1")}
    with pytest.raises(FoldRecordError, match="records classes") as caught:
        verify_folds(
            folds, "train-abc", [LONG] * 4, source="runs.json, run 'base'", root=tmp_path, notice=lambda line: None
        )
    _short(str(caught.value))


def test_a_done_record_naming_a_file_too_long_to_exist_is_damage_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "kept.txt").write_text("ok")
    entry = {"bytes": 2, "mtime_ns": 1, "blake2b": "00"}
    record = {LONG: entry, "a/" * 2100 + "b": entry, "fold1/" + "y" * 256: entry}  # NAME_MAX, PATH_MAX, a part
    problems = damaged_files(tmp_path, record, full=True)
    assert len(problems) == 3  # one per recorded name, each a located problem (was OSError ENAMETOOLONG)
    for problem in problems:
        assert "which is not a file inside the stage folder" in problem
        _short(problem)


def _recorded_fold(directory: Path, digests: dict[str, str] | None = None) -> Path:
    """A fold folder with one weights file, its record's ``sha256`` table as voxpop writes it or ``digests``."""
    import hashlib

    directory.mkdir(parents=True)
    (directory / "weights.pt").write_bytes(b"weights of this fold")
    written = {"weights.pt": hashlib.sha256(b"weights of this fold").hexdigest()}
    record = {"format": 1, "fold": directory.name, "run": "train-abc", "classes": CLASSES, "features": {},
              "sha256": written if digests is None else digests}  # fmt: skip
    (directory / "fold.json").write_text(json.dumps(record))
    return directory


def test_a_complete_sha256_table_passes(tmp_path: Path) -> None:
    folds = {"fold1": _recorded_fold(tmp_path / "fold1")}
    assert verify_folds(folds, "train-abc", CLASSES, source="runs.json", root=tmp_path, notice=lambda line: None) == {}


@pytest.mark.parametrize(
    ("digests", "problem"),
    [
        ({}, "has no digest for .*weights.pt, a file of the fold's model"),  # emptied: a swap would pass unchecked
        ({"/etc/hostname": "00"}, "names '/etc/hostname', which is not a file of the fold folder"),
        ({"../fold2/weights.pt": "00"}, "names '../fold2/weights.pt', which is not a file of the fold folder"),
    ],
)
def test_a_sha256_table_emptied_or_pointing_out_of_the_fold_is_refused(
    tmp_path: Path, digests: dict[str, str], problem: str
) -> None:
    folds = {"fold1": _recorded_fold(tmp_path / "fold1", digests)}
    with pytest.raises(FoldRecordError, match=problem) as caught:
        verify_folds(folds, "train-abc", CLASSES, source="runs.json", root=tmp_path, notice=lambda line: None)
    assert str(folds["fold1"] / "fold.json") in str(caught.value)


def test_a_card_of_format_2_without_a_files_digest_is_refused(tmp_path: Path) -> None:
    path = _export(tmp_path / "export", folds={"fold1": {"file": "fold1.onnx", "sha256": None, "classes": CLASSES}})
    with pytest.raises(InputError, match=r"key 'folds.fold1.sha256': missing; a card of format 2 records"):
        read_card(path)


def test_a_card_of_format_1_is_still_read_with_one_notice(tmp_path: Path) -> None:
    path = _export(tmp_path / "export", format=1, folds={"fold1": "fold1.onnx"})
    said: list[str] = []
    card = read_card(path, notice=said.append)
    assert len(said) == 1 and "written by voxpop before card format 2" in said[0]
    assert card.folds["fold1"].sha256 is None and card.folds["fold1"].classes == CLASSES
    assert list(verified_onnx(path.parent, card, "probabilities")) == ["fold1"]


def test_a_fold_record_with_some_record_keys_removed_is_refused_not_read_as_older(tmp_path: Path) -> None:
    directory = _recorded_fold(tmp_path / "fold1")
    record = json.loads((directory / "fold.json").read_text())
    del record["sha256"]  # with the fold, run and classes kept: not an older record, whose files go unchecked
    (directory / "fold.json").write_text(json.dumps(record))
    with pytest.raises(FoldRecordError, match=r"fold.json: has run, classes, features but not sha256: .* edited"):
        verify_folds(
            {"fold1": directory}, "train-abc", CLASSES, source="runs.json", root=tmp_path, notice=lambda line: None
        )


def test_an_older_record_without_any_record_key_is_read_with_one_notice(tmp_path: Path) -> None:
    directory = _recorded_fold(tmp_path / "fold1")
    (directory / "model.json").write_text("{}")
    (directory / "fold.json").write_text(json.dumps({"format": 1, "fold": "fold1"}))
    said: list[str] = []
    assert (
        verify_folds({"fold1": directory}, "train-abc", CLASSES, source="runs.json", root=tmp_path, notice=said.append)
        == {}
    )
    assert len(said) == 1 and "no file record (written by voxpop before fold records)" in said[0]


def test_a_fold_left_out_of_the_runs_list_is_refused_when_the_list_is_the_whole_run(tmp_path: Path) -> None:
    kept = _recorded_fold(tmp_path / "folds" / "fold1")
    dropped = _recorded_fold(tmp_path / "folds" / "fold2")
    with pytest.raises(FoldRecordError, match=r"holds fold 'fold2' of this run, but runs.json does not list it"):
        verify_folds(
            {"fold1": kept}, "train-abc", CLASSES, source="runs.json", root=tmp_path, notice=print, complete=True
        )
    # one fold checked on its own (a cross-validation resuming fold by fold): the others are not its business
    assert verify_folds({"fold1": kept}, "train-abc", CLASSES, source="runs.json", root=tmp_path, notice=print) == {}
    assert dropped.is_dir()
