"""Every artefact voxpop reads back knows what it is and is checked when read (issue #31, item 1): fold models
(fold, run, classes, feature spec, SHA-256 of each file in ``fold.json``), export cards (a versioned schema, each
ONNX file's fold, classes and SHA-256), ``runs.json`` and predictions tables. A swapped, foreign or damaged artefact
is a located error (exit 2, the file named, no traceback), never different predictions; runs and exports written
before the records existed still load."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vector_runs import CLASSES, two_class_inputs
from voxpop.cli import main
from voxpop.core.errors import InputError
from voxpop.models.fold_records import RECORD_KEYS, FoldRecordError
from voxpop.models.saved_runs import load_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")



def cli_streams(monkeypatch, capsys, *args: object) -> tuple[int, str, str]:
    """``voxpop ARGS`` through the console entry point in this process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["voxpop", *map(str, args)])
    monkeypatch.setenv("COLUMNS", "400")
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def cli(monkeypatch, capsys, *args: object) -> tuple[int, str]:
    """(exit code, stdout + stderr with runs of white space as one space) of ``voxpop ARGS`` (:func:`cli_streams`)."""
    code, out, err = cli_streams(monkeypatch, capsys, *args)
    return code, " ".join((out + err).split())


def refused(code: int, output: str, *named: object) -> None:
    assert code == 2, output
    assert "Traceback" not in output, output
    for part in named:
        assert str(part) in output, (part, output)




@pytest.fixture(scope="session")
def mlp_run(tmp_path_factory, write_run) -> Path:
    """The run of :func:`vector_runs.two_class_inputs` (standardised input), written once per session: read-only."""
    out = tmp_path_factory.mktemp("mlp-run") / "run"
    write_run(out, *two_class_inputs())
    return out


def copy_run(run: Path, tmp_path: Path) -> Path:
    shutil.copytree(run, tmp_path / "run", symlinks=True)
    return tmp_path / "run"


def swap(a: Path, b: Path) -> None:
    data = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(data)


def test_a_fold_record_holds_the_fold_run_classes_features_and_sha256_of_each_model_file(mlp_run):
    run = load_run(mlp_run)
    folder = run.directory / "folds" / "fold2"
    record = json.loads((folder / "fold.json").read_text())
    assert record["fold"] == "fold2" and record["run"] == "train" == Path(run.record.stage).name
    assert record["classes"] == CLASSES
    assert record["features"] == {"key": "k" * 64, "kind": "vector", "dim": 4, "n_layers": None}
    assert set(record["sha256"]) == {"model.json", "weights.pt", "standardize.npz"}
    for name, digest in record["sha256"].items():
        assert digest == hashlib.sha256((folder / name).read_bytes()).hexdigest()


@pytest.mark.parametrize("file", ["weights.pt", "standardize.npz", "model.json"])
def test_swapped_fold_files_are_refused_naming_both_folds(mlp_run, tmp_path, file):
    out = copy_run(mlp_run, tmp_path)
    folds = load_run(out).directory / "folds"
    swap(folds / "fold1" / file, folds / "fold2" / file)
    with pytest.raises(FoldRecordError) as caught:
        load_run(out).fold_models()
    message = str(caught.value)
    assert f"{folds / 'fold1' / file} has the SHA-256 recorded for {folds / 'fold2' / file}" in message
    assert "swapped or copied" in message


def test_a_fold_folder_of_another_fold_or_run_is_refused(mlp_run, tmp_path):
    out = copy_run(mlp_run, tmp_path)
    folds = load_run(out).directory / "folds"
    (folds / "fold1").rename(folds / "spare")
    (folds / "fold2").rename(folds / "fold1")
    (folds / "spare").rename(folds / "fold2")
    with pytest.raises(FoldRecordError, match="records fold 'fold2', but .*runs.json, run 'run' reads this folder as "
                       "fold 'fold1'"):  # fmt: skip
        load_run(out).fold_models()
    (folds / "fold1").rename(folds / "spare")
    (folds / "fold2").rename(folds / "fold1")
    (folds / "spare").rename(folds / "fold2")
    record = json.loads((folds / "fold3" / "fold.json").read_text())
    (folds / "fold3" / "fold.json").write_text(json.dumps({**record, "run": "train-other"}))
    with pytest.raises(FoldRecordError, match="records run 'train-other', but .* is run 'train': this fold folder "
                       "was copied from another run"):  # fmt: skip
        load_run(out).fold_models()


def test_a_file_from_another_run_is_refused_after_a_damaged_file_keeps_its_own_message(mlp_run, tmp_path):
    out = copy_run(mlp_run, tmp_path)
    weights = load_run(out).directory / "folds" / "fold3" / "weights.pt"
    import torch

    state = torch.load(weights, weights_only=True)
    torch.save({k: v + 1 for k, v in state.items()}, weights)  # same shapes: loads, but is another model
    with pytest.raises(FoldRecordError, match="the SHA-256 differs from the one .*fold.json recorded when fold "
                       "'fold3' was trained"):  # fmt: skip
        load_run(out).fold_models()
    weights.write_bytes(b"\x80\x04not a torch file")
    with pytest.raises(InputError, match="weights.pt: not a readable weights file"):
        load_run(out).fold_models()


def test_a_fold_file_or_folder_linked_from_outside_the_run_is_refused_and_a_link_inside_is_checked_as_its_target(
    mlp_run, tmp_path
):
    out = copy_run(mlp_run, tmp_path)
    stage = load_run(out).directory
    weights, elsewhere = stage / "folds" / "fold1" / "weights.pt", tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copyfile(weights, elsewhere / "weights.pt")  # the fold's own bytes: a link out of the run is not read
    weights.unlink()
    weights.symlink_to(elsewhere / "weights.pt")
    with pytest.raises(FoldRecordError) as caught:
        load_run(out).fold_models()
    assert str(caught.value).startswith(
        f"{weights}: is a symlink leading out of the run folder {stage} (to {(elsewhere / 'weights.pt').resolve()})"
    )
    weights.unlink()  # a link to fold2's weights inside the run: hashed as the file it leads to, so a swap
    weights.symlink_to(stage / "folds" / "fold2" / "weights.pt")
    with pytest.raises(FoldRecordError) as caught:
        load_run(out).fold_models()
    assert str(caught.value).startswith(f"{weights} has the SHA-256 recorded for {stage / 'folds/fold2/weights.pt'}")
    shutil.copyfile(elsewhere / "weights.pt", weights.with_name("restored"))
    weights.unlink()
    weights.with_name("restored").rename(weights)
    fold3 = stage / "folds" / "fold3"
    fold3.rename(elsewhere / "fold3")  # the whole fold folder a link to one outside the run
    fold3.symlink_to(elsewhere / "fold3")
    with pytest.raises(FoldRecordError) as caught:
        load_run(out).fold_models()
    assert str(caught.value).startswith(f"{fold3}: is a symlink leading out of the run folder {stage}")


@pytest.mark.parametrize("file", ["estimator.skops", "standardize.npz"])
def test_predict_evaluate_and_export_refuse_swapped_classical_fold_files_naming_both_folds(
    demo_logreg_run, demo_corpus, tmp_path, monkeypatch, capsys, file
):
    out = copy_run(demo_logreg_run.directory, tmp_path)
    folds = load_run(out).directory / "folds"
    swap(folds / "fold1" / file, folds / "fold2" / file)
    clip = next((demo_corpus.root / "audio").rglob("*.wav"))
    both = (f"{folds / 'fold1' / file} has the SHA-256 recorded for {folds / 'fold2' / file}", "swapped or copied")
    refused(*cli(monkeypatch, capsys, "predict", out, clip, "--store", demo_logreg_run.store), *both)
    other = _other_corpus(demo_corpus, tmp_path)
    refused(*cli(monkeypatch, capsys, "evaluate", out, "--corpus", other, "--labels", "mr", "--condition", "voice",
                 "--bootstrap", "20", "--store", demo_logreg_run.store), *both)  # fmt: skip
    if importlib.util.find_spec("onnxruntime") is not None:
        refused(*cli(monkeypatch, capsys, "export", out, "--out", tmp_path / "export"), *both)


def test_predict_with_a_run_written_before_fold_records_works_and_says_so_in_one_line(
    demo_logreg_run, demo_corpus, tmp_path, monkeypatch, capsys
):
    out = copy_run(demo_logreg_run.directory, tmp_path)
    clip = next((demo_corpus.root / "audio").rglob("*.wav"))
    code, today, notes = cli_streams(monkeypatch, capsys, "predict", out, clip, "--store", demo_logreg_run.store)
    assert code == 0 and "no file record" not in notes, notes
    for record_path in (load_run(out).directory / "folds").glob("*/fold.json"):  # as voxpop wrote them before
        record = json.loads(record_path.read_text())
        record_path.write_text(json.dumps({k: v for k, v in record.items() if k not in RECORD_KEYS}))
    code, older, notes = cli_streams(monkeypatch, capsys, "predict", out, clip, "--store", demo_logreg_run.store)
    assert code == 0 and older == today, notes  # the same probabilities
    notice = [line for line in notes.splitlines() if "file record" in line]
    assert len(notice) == 1 and "folds fold1, fold2, fold3 carry no file record (written by voxpop" in notice[0]


def _other_corpus(demo_corpus, tmp_path: Path) -> Path:
    from voxpop.corpus.corpus import Corpus

    corpus = demo_corpus.corpus
    keep = corpus.items.index[corpus.items["speaker"].isin(corpus.items["speaker"].unique()[:2])]
    part = corpus.subset(keep)
    primary = part.ratings[part.ratings["slot"] == "primary"]
    Corpus("b", part.items, primary, classes=part.classes, excluded=["other"]).save(tmp_path / "b")
    return tmp_path / "b"


def test_a_run_written_before_fold_records_still_loads_with_a_one_line_notice(mlp_run, tmp_path, capsys):
    out = copy_run(mlp_run, tmp_path)
    folds = load_run(out).directory / "folds"
    for record_path in folds.glob("*/fold.json"):
        record = json.loads(record_path.read_text())
        record_path.write_text(json.dumps({k: v for k, v in record.items() if k not in RECORD_KEYS}))
    models = load_run(out).fold_models()
    assert set(models) == {"fold1", "fold2", "fold3"}
    notice = capsys.readouterr().err.strip().splitlines()
    assert len(notice) == 1 and "folds fold1, fold2, fold3 carry no file record" in notice[0]


def test_resuming_a_cross_validation_checks_the_fold_records(mlp_run, tmp_path):
    from voxpop.models.cross_validation import cross_validate

    out = copy_run(mlp_run, tmp_path)
    features, labels, folds, spec, _ = two_class_inputs()
    stage = out / "cache" / "train"
    assert cross_validate(features, labels, folds, spec, out_dir=stage).resumed == ["fold1", "fold2", "fold3"]
    swap(stage / "folds" / "fold1" / "weights.pt", stage / "folds" / "fold3" / "weights.pt")
    with pytest.raises(FoldRecordError, match="fold1/weights.pt has the SHA-256 recorded for .*fold3/weights.pt"):
        cross_validate(features, labels, folds, spec, out_dir=stage)


# ====================================================================== predictions tables
@pytest.fixture
def scored(mlp_run, tmp_path) -> tuple[Path, pd.DataFrame, Path]:
    """(a copy of the MLP run, its pooled out-of-fold predictions, its training label set file)."""
    out = copy_run(mlp_run, tmp_path)
    return out, load_run(out).predictions, out / "cache" / "labels" / "labels.parquet"


def test_a_predictions_file_of_valid_probabilities_is_scored(scored, tmp_path, monkeypatch, capsys):
    _, table, labels = scored
    table.rename_axis("item").to_csv(tmp_path / "p.csv")
    code, output = cli(monkeypatch, capsys, "evaluate", tmp_path / "p.csv", "--labels", labels, "--bootstrap", "0")
    assert code == 0, output


@pytest.mark.parametrize(
    "damage",
    ["negative", "not-summing", "extra-class", "missing-class"],
)
def test_a_predictions_file_that_is_not_probabilities_of_the_classes_is_refused(
    scored, tmp_path, monkeypatch, capsys, damage
):
    _, table, labels = scored
    table = table.copy()
    if damage == "negative":
        table.iloc[4, 1] = -0.25
        named = ["p.csv, row 5, column 'anger'", f"item '{table.index[4]}'", "-0.25 is not a probability in [0, 1]"]
    elif damage == "not-summing":
        table.iloc[2, 0] = table.iloc[2, 0] / 2 + 0.01  # in [0, 1], but the row no longer sums to one
        total = table.iloc[2, :2].sum()
        named = ["p.csv, row 3, column 'neutral'..'anger'", f"sum to {total:.6g}", "within 0.001"]
    elif damage == "extra-class":
        table.insert(2, "surprise", 0.0)
        named = ["p.csv: column 'surprise' is not one of the classes of the test label set"]
    else:
        table = table.drop(columns="anger")
        table["neutral"] = 1.0
        named = ["p.csv: no column for class 'anger' of the test label set"]
    table.rename_axis("item").to_csv(tmp_path / "p.csv")
    code, output = cli(monkeypatch, capsys, "evaluate", tmp_path / "p.csv", "--labels", labels, "--bootstrap", "0")
    refused(code, output, *named)


def test_out_of_fold_predictions_without_their_fold_column_or_with_a_foreign_fold_are_refused(
    scored, monkeypatch, capsys
):
    out, table, labels = scored
    from voxpop.evaluation.predictions import Predictions, save_predictions

    path = load_run(out).directory / "predictions.parquet"
    save_predictions(Predictions(table.drop(columns="fold")), path)
    code, output = cli(monkeypatch, capsys, "evaluate", out, "--labels", labels, "--bootstrap", "0")
    refused(code, output, f"{path}, column 'fold': missing")
    save_predictions(Predictions(table.assign(fold=table["fold"].replace("fold2", "fold9"))), path)
    code, output = cli(monkeypatch, capsys, "evaluate", out, "--labels", labels, "--bootstrap", "0")
    row = int(np.flatnonzero(table["fold"].eq("fold2").to_numpy())[0]) + 1
    refused(code, output, f"{path}, row {row}, column 'fold'", "fold 'fold9' is not one of the run's folds")


def test_a_finished_stage_file_is_read_only_when_it_is_the_one_its_done_record_lists(tmp_path, monkeypatch):
    import voxpop.core.cache as cache_module
    from voxpop.core.cache import Cache, Stage
    from voxpop.models.saved_runs import check_finished_file

    written = b"the predictions the stage wrote"
    stage = Cache(tmp_path / "cache").run(
        Stage("train", "t", {}), lambda d: (d / "predictions.parquet").write_bytes(written)
    )
    path, done = stage / "predictions.parquet", stage / ".done"
    hashed = []
    digest = cache_module.file_digest
    monkeypatch.setattr(cache_module, "file_digest", lambda p: hashed.append(p) or digest(p))
    check_finished_file(stage, "predictions.parquet")  # as written: accepted, hashed once
    assert hashed == [path]
    path.write_bytes(written.upper())  # another file of the same size (e.g. another run's): found by its digest
    with pytest.raises(InputError) as caught:
        check_finished_file(stage, "predictions.parquet")
    message = str(caught.value)
    assert message.startswith(f"{path}: changed since the stage finished (predictions.parquet differs from what was")
    assert f"by its record {done}" in message and "re-run" in message and len(hashed) == 2
    path.write_bytes(written[:5])  # another size: refused before any hashing
    with pytest.raises(InputError, match=f"predictions.parquet has 5 bytes, {len(written)} were written"):
        check_finished_file(stage, "predictions.parquet")
    assert len(hashed) == 2
    path.write_bytes(written)  # the same bytes again (a new modification time): accepted
    check_finished_file(stage, "predictions.parquet")
    (stage / "dev_predictions.parquet").write_bytes(written)  # a file put there after the stage finished
    with pytest.raises(InputError, match=f"dev_predictions.parquet: the stage's record {done} does not list it"):
        check_finished_file(stage, "dev_predictions.parquet")
    done.write_text("{not json")
    with pytest.raises(InputError, match=f"record {done} is unreadable"):
        check_finished_file(stage, "predictions.parquet")
    done.unlink()  # a stage folder written without the cache (a hand-made run): read, and said in one line
    notices: list[str] = []
    check_finished_file(stage, "predictions.parquet", notice=notices.append)
    assert notices == [f"{path}: not checked against the stage's record ({done} is missing); run the study again "
                       "to record it."]  # fmt: skip


# ====================================================================== runs.json
@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"folds": ["../.."]}, "key 'folds': '../..': no fold folder '%2E%2E%2F..' in"),
        ({"folds": ["fold1", "fold9"]}, "key 'folds': 'fold9': no fold folder 'fold9' in"),
        ({"folds": [""]}, "key 'folds': ''; not a fold of this run"),
        ({"folds": []}, "key 'folds': empty"),
        ({"folds": ["fold1", "fold1"]}, "key 'folds': 'fold1' is listed twice"),
        ({"format": 9}, "key 'format': 9, written by a newer voxpop (this one reads format 2)"),
        ({"format": 1}, "key 'format': 1, written by an older voxpop"),
        ({"stage": "../elsewhere"}, "stage '../elsewhere' is not a folder inside"),
        ({"stage": "cache/train-other"}, "key 'stage': 'cache/train-other': no such stage folder in"),
        ({"labels_stage": "cache/gone"}, "key 'labels_stage': 'cache/gone': no such stage folder in"),
    ],
)
def test_a_damaged_run_list_is_refused_naming_the_run_and_key(scored, monkeypatch, capsys, change, named):
    out, _, labels = scored
    runs = json.loads((out / "runs.json").read_text())
    runs["run"].update(change)
    (out / "runs.json").write_text(json.dumps(runs))
    code, output = cli(monkeypatch, capsys, "evaluate", out, "--labels", labels, "--bootstrap", "0")
    refused(code, output, out / "runs.json", "run 'run'", named)


# ====================================================================== exports
@pytest.fixture(scope="session")
def exports(demo_logreg_run, mlp_run, tmp_path_factory) -> tuple[Path, Path]:
    """(the demo logistic-regression run exported, the MLP run exported): treat both as read-only."""
    pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    from voxpop.models.export import export_run

    root = tmp_path_factory.mktemp("exports")
    return export_run(demo_logreg_run.directory, root / "logreg"), export_run(mlp_run, root / "mlp")


def copy_export(export: Path, tmp_path: Path) -> Path:
    shutil.copytree(export, tmp_path / "export")
    return tmp_path / "export"


def edit_card(export: Path, edit) -> None:
    card = json.loads((export / "card.json").read_text())
    edit(card)
    (export / "card.json").write_text(json.dumps(card))


def test_an_exported_onnx_file_carries_its_fold_run_and_classes(exports):
    import onnx

    logreg, _ = exports
    card = json.loads((logreg / "card.json").read_text())
    assert card["format"] == 2
    for fold, entry in card["folds"].items():
        model = onnx.load(logreg / entry["file"])
        meta = {p.key: p.value for p in model.metadata_props}
        assert meta["voxpop.fold"] == fold and json.loads(meta["voxpop.classes"]) == card["classes"]
        assert json.loads(meta["voxpop.folds"]) == list(card["folds"])
        width = model.graph.output[0].type.tensor_type.shape.dim[-1].dim_value
        assert model.graph.output[0].name == "probabilities" and width == len(card["classes"])


def reverse_card_classes(card: dict) -> None:
    card["classes"] = card["classes"][::-1]


def reverse_every_class_list(card: dict) -> None:
    card["classes"] = card["classes"][::-1]
    for entry in card["folds"].values():
        entry["classes"] = entry["classes"][::-1]


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ("card-classes-reversed", ["card.json, key 'folds.fold1.classes'", "the card was edited"]),
        ("every-class-list-reversed", ["fold1.onnx: its model outputs the classes"]),
        ("another-exports-onnx", ["fold1.onnx: its SHA-256 differs from the one", "for fold 'fold1'"]),
        ("fold-files-swapped", ["fold1.onnx: has the SHA-256", "records for fold 'fold2' (fold2.onnx)", "swapped"]),
        ("fold-missing", ["fold2.onnx: fold 'fold2' of", "missing"]),
        ("fold-dropped", ["fold1.onnx: was exported with the folds ['fold1', 'fold2', 'fold3']", "'fold2' is missing"]),
        ("extra-fold-file", ["fold9.onnx: an ONNX file", "does not list"]),
        ("unknown-key", ["card.json, key 'colour': Extra inputs are not permitted"]),
        ("format-9", ["card.json, key 'format': 9, written by a newer voxpop"]),
        ("not-json", ["card.json: not a readable export card"]),
        ("no-folds", ["card.json, key 'folds': empty"]),
    ],
)
def test_a_damaged_or_foreign_export_is_refused_naming_the_file(
    exports, demo_corpus, tmp_path, monkeypatch, capsys, damage, named
):
    logreg, mlp = exports
    export = copy_export(logreg, tmp_path)
    if damage == "card-classes-reversed":
        edit_card(export, reverse_card_classes)
    elif damage == "every-class-list-reversed":
        edit_card(export, reverse_every_class_list)
    elif damage == "another-exports-onnx":
        shutil.copyfile(mlp / "fold1.onnx", export / "fold1.onnx")
    elif damage == "fold-files-swapped":
        swap(export / "fold1.onnx", export / "fold2.onnx")
    elif damage == "fold-missing":
        (export / "fold2.onnx").unlink()
    elif damage == "fold-dropped":  # from the card with its file: the predictions would average one fold fewer
        (export / "fold2.onnx").unlink()
        edit_card(export, lambda card: card["folds"].pop("fold2"))
    elif damage == "extra-fold-file":
        shutil.copyfile(export / "fold1.onnx", export / "fold9.onnx")
    elif damage == "unknown-key":
        edit_card(export, lambda card: card.update(colour="blue"))
    elif damage == "format-9":
        edit_card(export, lambda card: card.update(format=9))
    elif damage == "no-folds":
        edit_card(export, lambda card: card.update(folds={}))
    else:
        (export / "card.json").write_text('{"format": 2, "classes": [')
    clip = next((demo_corpus.root / "audio").rglob("*.wav"))
    refused(*cli(monkeypatch, capsys, "predict", export, clip), *named)


def test_an_export_written_before_card_format_2_still_loads_with_a_one_line_notice(exports, tmp_path, capsys):
    from voxpop.models.export import load_exported

    logreg, _ = exports
    export = copy_export(logreg, tmp_path)

    def as_format_1(card: dict) -> None:
        card["format"] = 1
        card["folds"] = {fold: entry["file"] for fold, entry in card["folds"].items()}

    edit_card(export, as_format_1)
    old, new = load_exported(export), load_exported(logreg)
    notice = capsys.readouterr().err.strip().splitlines()
    assert len(notice) == 1 and "written by voxpop before card format 2" in notice[0]
    x = np.random.default_rng(0).normal(size=(5, new.card["input"]["shape"][1])).astype(np.float32)
    np.testing.assert_array_equal(old.predict_proba(x).to_numpy(), new.predict_proba(x).to_numpy())
    assert list(old.predict_proba(x).columns) == new.card["classes"]


def test_an_onnx_output_wider_or_narrower_than_the_cards_classes_is_refused(exports, tmp_path):
    import onnx

    from voxpop.models.export import load_exported

    logreg, _ = exports
    export = copy_export(logreg, tmp_path)
    for path in export.glob("*.onnx"):  # an ONNX file without voxpop's metadata (written by another tool)
        model = onnx.load(path)
        del model.metadata_props[:]
        onnx.save(model, path)

    def one_class_more(card: dict) -> None:
        card["format"] = 1
        card["classes"] = [*card["classes"], "surprise"]
        card["folds"] = {fold: entry["file"] for fold, entry in card["folds"].items()}

    edit_card(export, one_class_more)
    width = len(json.loads((logreg / "card.json").read_text())["classes"])
    with pytest.raises(InputError, match=rf"fold1.onnx: output 'probabilities' has {width} columns, but .* lists "
                       rf"{width + 1} classes"):  # fmt: skip
        load_exported(export)


def test_mlcm_refuses_a_single_label_predictions_file_whose_rows_do_not_sum_to_one(
    scored, tmp_path, monkeypatch, capsys
):
    from voxpop.evaluation.predictions import Predictions, save_predictions

    _, table, labels = scored
    path = save_predictions(Predictions(table), tmp_path / "p.parquet")
    code, output = cli(monkeypatch, capsys, "mlcm", labels, path)
    assert code == 0, output
    bad = table.copy()
    bad.iloc[7, :2] = [0.9, 0.9]
    save_predictions(Predictions(bad), path)
    refused(*cli(monkeypatch, capsys, "mlcm", labels, path), f"{path}, row 8, column 'neutral'..'anger'", "sum to 1.8")
