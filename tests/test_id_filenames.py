"""Ids are data (issue 31, item 5): an importer keeps an id holding ``/``, ``\\``, ``..``, ``.`` or unicode exactly
or refuses it naming file and row / line; where an id becomes a file name, :func:`voxpop.core.paths.id_filename`
encodes it reversibly, and the file stays inside its folder."""

from __future__ import annotations

import importlib.util
import json
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voxpop.core.errors import ConfigError, InputError
from voxpop.core.paths import MAX_ENCODED_ID, filename_id, id_filename
from voxpop.corpus.formats.likert import read_likert, read_mosei
from voxpop.corpus.formats.msp import read_msp
from voxpop.features import Features
from voxpop.labels.labelset import Accounting, LabelSet
from voxpop.models.protocols import Fold
from voxpop.models.saved_runs import FeatureSource, load_run
from voxpop.models.specs import ModelSpec

FIXTURES = Path(__file__).parent / "fixtures"
HOSTILE = ["a/b", "a\\b", "..", ".", "../../x", "x/../y", ".hidden", "café", "名前", "50%", "a b", "~x"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("fold1", "fold1"),
        ("a/b", "a%2Fb"),
        ("a\\b", "a%5Cb"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        (".hidden", "%2Ehidden"),
        ("a.b", "a.b"),  # a dot inside the name is plain
        ("café", "caf%C3%A9"),  # UTF-8 bytes of é: C3 A9
        ("50%", "50%25"),
        ("corpus=a -> b", "corpus%3Da%20-%3E%20b"),
    ],
)
def test_id_filename_encodes_by_hand_computed_examples(value, expected):
    assert id_filename(value) == expected
    assert filename_id(expected) == value


@given(st.text(min_size=1, max_size=16))  # at most 16 x 4 UTF-8 bytes x 3 = 192 encoded: under MAX_ENCODED_ID
def test_id_filename_round_trips_and_is_a_plain_name(value):
    name = id_filename(value)
    assert filename_id(name) == value
    assert set(name) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-%")
    assert not name.startswith(".") and name not in (".", "..")
    if not value.startswith("."):  # the standard library's percent-encoding of UTF-8, "~" encoded too
        assert name == urllib.parse.quote(value, safe="").replace("~", "%7E")


@pytest.mark.parametrize("value", HOSTILE)
def test_a_file_named_by_id_filename_stays_inside_its_folder(tmp_path, value):
    folder = tmp_path / "inside"
    folder.mkdir()
    path = folder / f"{id_filename(value)}.onnx"
    path.write_text("x")
    assert path.resolve().parent == folder.resolve()
    assert sorted(p.name for p in folder.iterdir()) == [path.name]  # one file, not a folder or one outside


def test_empty_and_very_long_ids_are_refused_with_the_limit():
    with pytest.raises(ConfigError, match="an empty id cannot name a file"):
        id_filename("")
    assert len(id_filename("x" * MAX_ENCODED_ID)) == MAX_ENCODED_ID
    with pytest.raises(ConfigError, match=f"encoded it takes 201 bytes, over the {MAX_ENCODED_ID} allowed"):
        id_filename("x" * (MAX_ENCODED_ID + 1))
    with pytest.raises(ConfigError, match="encoded it takes 360 bytes"):  # é: 2 UTF-8 bytes, 6 characters encoded
        id_filename("é" * 60)


@pytest.mark.parametrize("name", ["a%2fb", "a/b", "%ZZ", "%C3", "", ".x", "a%41"])
def test_filename_id_refuses_names_voxpop_does_not_write(name):
    with pytest.raises(InputError, match="not a file name voxpop writes for an id"):
        filename_id(name)


# ----------------------------------------------------------------------------- importers keep ids exactly
def _mosei_with(tmp_path: Path, video_id: str) -> Path:
    table = pd.read_csv(FIXTURES / "mosei_batch_results.csv", dtype=str, keep_default_na=False)
    table.loc[table["Input.VIDEO_ID"] == table["Input.VIDEO_ID"].iat[0], "Input.VIDEO_ID"] = video_id
    path = tmp_path / "batch.csv"
    table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("video_id", HOSTILE)
def test_mosei_keeps_a_hostile_video_id_exactly(tmp_path, video_id):
    table = pd.read_csv(FIXTURES / "mosei_batch_results.csv", dtype=str)
    clip = table["Input.CLIP"].iat[0]
    corpus = read_mosei(_mosei_with(tmp_path, video_id))
    assert f"{video_id}_{clip}" in corpus.items.index
    assert corpus.items.at[f"{video_id}_{clip}", "video"] == video_id


def test_mosei_refuses_an_empty_or_overlong_video_id_by_file_row_and_column(tmp_path):
    with pytest.raises(InputError, match=r"batch.csv, row 1, column 'Input.VIDEO_ID'"):
        read_mosei(_mosei_with(tmp_path, ""))
    with pytest.raises(InputError, match=r"batch.csv, row 1, column 'Input.VIDEO_ID': holds a value of 600 char"):
        read_mosei(_mosei_with(tmp_path, "v" * 600))


def _msp_with(tmp_path: Path, file_name: str) -> Path:
    labels = json.loads((FIXTURES / "msp_detailed.json").read_text())
    first = next(iter(labels))
    renamed = {file_name if key == first else key: value for key, value in labels.items()}
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(renamed, indent=4, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("file_name", "item"),
    [
        ("Part1/MSP-PODCAST_0002_0011.wav", "Part1/MSP-PODCAST_0002_0011"),  # was rewritten to its stem
        ("a\\b.wav", "a\\b"),
        ("x.y.wav", "x.y"),
        ("café.wav", "café"),
        ("名前.wav", "名前"),
        (".wav", ".wav"),
        ("x" * 600 + ".wav", "x" * 600),  # long: kept whole
    ],
)
def test_msp_keeps_the_file_name_minus_its_extension_exactly(tmp_path, file_name, item):
    corpus = read_msp(_msp_with(tmp_path, file_name))
    assert item in corpus.items.index
    assert corpus.items.at[item, "file"] == file_name
    assert set(corpus.ratings["item"].astype(str)) >= {item}


@pytest.mark.parametrize("file_name", ["../MSP-PODCAST_0002_0011.wav", "/abs/x.wav", "a/../../x.wav", "", "."])
def test_msp_refuses_a_file_name_naming_no_file_in_the_folder_by_file_and_line(tmp_path, file_name):
    refused = r"labels.json, line 2: the file name .* (has a '..' component|is an absolute|names no file)"
    with pytest.raises(InputError, match=refused):
        read_msp(_msp_with(tmp_path, file_name))


def test_msp_two_folders_with_one_file_name_are_two_items(tmp_path):
    labels = json.loads((FIXTURES / "msp_detailed.json").read_text())
    first, second = list(labels)[:2]
    renamed = {"A/x.wav" if k == first else "B/x.wav" if k == second else k: v for k, v in labels.items()}
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(renamed, indent=4))
    items = read_msp(path).items.index
    assert {"A/x", "B/x"} <= set(items)  # the stem alone would merge them (and was refused before)


def _likert(tmp_path: Path, cells: list[str]) -> Path:
    rows = [{"clip": cell, "rater": f"r{i}", "Anger": "Moderate"} for i, cell in enumerate(cells)]
    path = tmp_path / "likert.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_item_from_path_refuses_two_paths_with_one_stem_naming_both_rows(tmp_path):
    path = _likert(tmp_path, ["/a/x.m4a", "/a/x.m4a", "/b/x.m4a"])
    with pytest.raises(InputError, match=r"likert.csv, rows 1 and 3, column 'clip': '/a/x.m4a' and '/b/x.m4a' both"):
        read_likert(path, "clip", "rater", ["Anger"], item_from_path=True)


@pytest.mark.parametrize("cell", ["/", "x/..", "."])
def test_item_from_path_refuses_a_cell_naming_no_file(tmp_path, cell):
    path = _likert(tmp_path, ["/a/y.m4a", cell])
    with pytest.raises(InputError, match=r"likert.csv, row 2, column 'clip': .* names no file"):
        read_likert(path, "clip", "rater", ["Anger"], item_from_path=True)


def test_item_from_path_keeps_the_stem_of_each_clip(tmp_path):
    path = _likert(tmp_path, ["/x/?d=s/8404_8.m4a", "C:\\clips\\a b.wav", "/x/?d=s/8404_8.m4a"])
    corpus = read_likert(path, "clip", "rater", ["Anger"], item_from_path=True)
    assert list(corpus.items.index) == ["8404_8", "a b"]


# ----------------------------------------------------------------------------- fold folders and ONNX files
N = 24
IDS = [f"clip{i:02d}" for i in range(N)]
FOLD_NAMES = ["a/b", "..", "café x"]


@pytest.fixture
def hostile_fold_run(tmp_path, write_run) -> Path:
    """A logistic-regression run whose three folds are named ``a/b``, ``..`` and ``café x``."""
    rng = np.random.default_rng(0)
    codes = np.arange(N) % 2
    values = (2 * np.eye(2, 4)[codes] + rng.normal(size=(N, 4))).astype(np.float32)
    features = Features(
        key="k" * 64, path=Path("."), kind="vector", items=pd.Index(IDS, dtype="string"), values=values,
        names=[f"x{d}" for d in range(4)], layers=[], skipped=pd.DataFrame(), seconds=pd.Series(1.0, index=IDS),
    )  # fmt: skip
    targets = pd.DataFrame(np.eye(2)[codes], index=IDS, columns=["neutral", "anger"])
    labels = LabelSet(targets, pd.Series(True, index=IDS), targets * 3, "mr", Accounting(N, N, 3 * N, 3 * N))
    ids = pd.Index(IDS)
    folds = [
        Fold(name, ids[[i % 3 != k for i in range(N)]], pd.Index([]), ids[[i % 3 == k for i in range(N)]])
        for k, name in enumerate(FOLD_NAMES)
    ]
    source = FeatureSource(path=".", key="k" * 64, kind="vector", spec={"extractor": "test", "version": 1}, audio={})
    write_run(tmp_path / "run", features, labels, folds, ModelSpec(head="logreg"), source)
    return tmp_path / "run"


def test_fold_folders_are_the_encoded_fold_names_inside_the_run(hostile_fold_run):
    folds = hostile_fold_run / "cache" / "train" / "folds"
    assert sorted(p.name for p in folds.iterdir()) == sorted(["a%2Fb", "%2E%2E", "caf%C3%A9%20x"])
    assert {filename_id(p.name) for p in folds.iterdir()} == set(FOLD_NAMES)
    assert all(p.resolve().parent == folds.resolve() for p in folds.iterdir())
    assert set(load_run(hostile_fold_run).fold_models()) == set(FOLD_NAMES)


def test_a_run_written_with_unencoded_fold_folders_still_loads(hostile_fold_run):
    """voxpop before the encoding wrote ``folds/<name>`` with only ``/`` replaced by ``_``."""
    folds = hostile_fold_run / "cache" / "train" / "folds"
    (folds / "caf%C3%A9%20x").rename(folds / "café x")
    (folds / "a%2Fb").rename(folds / "a_b")
    assert set(load_run(hostile_fold_run).fold_models()) == set(FOLD_NAMES)


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="the export extra is not installed")
def test_exported_onnx_files_are_the_encoded_fold_names(hostile_fold_run, tmp_path):
    from voxpop.models.export import export_run, load_exported

    out = export_run(hostile_fold_run, tmp_path / "export")
    card = json.loads((out / "card.json").read_text())
    assert {fold: entry["file"] for fold, entry in card["folds"].items()} == {
        name: f"{id_filename(name)}.onnx" for name in FOLD_NAMES
    }
    written = ["a%2Fb.onnx", "%2E%2E.onnx", "caf%C3%A9%20x.onnx", "card.json"]
    assert sorted(p.name for p in out.iterdir()) == sorted(written)
    assert set(load_exported(out).sessions) == set(FOLD_NAMES)


# ----------------------------------------------------------------------------- sweep --by: a plot per group
def test_sweep_by_a_column_of_hostile_values_writes_one_encoded_plot_per_group_inside_the_folder(tmp_path):
    from typer.testing import CliRunner

    import voxpop.cli
    from voxpop.corpus.corpus import Corpus

    rng = np.random.default_rng(5)
    groups = np.array(["a/b", ".."])[np.arange(24) % 2]
    items = pd.DataFrame({"kind": groups}, index=[f"c{k}" for k in range(24)])
    for name in ("a", "b"):
        values = rng.integers(0, 4, (2, 24))
        rows = [(f"c{k}", f"{name}{r}", "intensity", "sad", float(values[r, k])) for r in range(2) for k in range(24)]
        ratings = pd.DataFrame(rows, columns=["item", "rater", "slot", "label", "value"])
        Corpus(name, items, ratings, ["sad"], scales={"intensity": (0, 3)}).save(tmp_path / name)
    out = tmp_path / "plots" / "sweep.png"
    args = ["sweep", "--a", tmp_path / "a", "--b", tmp_path / "b", "--grid", "0.2:0.8:0.2", "--by", "kind"]
    args += ["--out", out]
    result = CliRunner().invoke(voxpop.cli.app, [*map(str, args)])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in out.parent.glob("*.png"))
    assert written == ["sweep-%2E%2E.png", "sweep-a%2Fb.png", "sweep.png"]
    assert {filename_id(name[len("sweep-") : -len(".png")]) for name in written if name != "sweep.png"} == {"a/b", ".."}
