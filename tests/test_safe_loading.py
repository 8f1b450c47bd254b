"""What cannot be loaded safely is a located error, never a traceback (issue 31, item 2): each damaged or hostile
file is built here, the verb that reads it is run through ``voxpop``'s entry point, and the test asserts exit code 2,
the file named in one message, and no traceback; the loaders of :mod:`voxpop.core.safe_load` are checked directly
too (what they read, what they refuse, and that no code in a refused file ran)."""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from entry_point import run_voxpop
from vector_runs import two_class_inputs
from voxpop.core.errors import InputError
from voxpop.core.safe_load import (
    CODE,
    check_archive_size,
    check_model_folder,
    load_array,
    load_arrays,
    load_onnx,
    load_torch_weights,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")
needs_onnx = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None, reason="the export extra (onnx, onnxruntime) is not installed"
)



def refused(capsys, found: str, path: Path, *args: object) -> str:
    """Run ``voxpop ARGS``; assert exit code 2, ``found`` and ``path`` in the message, no traceback."""
    code, err = run_voxpop(capsys, *args)
    assert code == 2, err
    assert "Traceback" not in err and found in err and str(path) in err, err
    return err


class RunsCode:
    """Pickled, calls ``os.system`` to create ``marker`` when unpickled: a weights file that holds code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def make_run(tmp_path, write_run):
    """``make_run(head)``: a two-class run of ``head`` on in-memory vectors, 3 speaker folds; its run folder."""

    def make(head: str) -> Path:
        write_run(tmp_path / head, *two_class_inputs(head))
        return tmp_path / head

    return make


def fold_file(run: Path, name: str, fold: str = "fold2") -> Path:
    from voxpop.models.saved_runs import load_run

    return load_run(run).directory / "folds" / fold / name


# ====================================================================== torch weights
def test_weights_holding_code_are_refused_and_the_code_never_runs(tmp_path, make_run, capsys):
    import torch

    run = make_run("mlp")
    weights = fold_file(run, "weights.pt")
    marker = tmp_path / "code-ran"
    torch.save({"layer.weight": RunsCode(marker)}, weights)
    err = refused(capsys, f"weights.pt: {CODE}; the mlp model directory cannot be used", weights,
                  "export", run, "--out", tmp_path / "export")  # fmt: skip
    assert "Fold 'fold2' of run 'run'" in err
    assert not marker.exists()


def test_a_plain_pickle_is_code_and_garbage_or_cut_weights_are_unreadable(tmp_path):
    import torch

    marker = tmp_path / "code-ran"
    plain = tmp_path / "plain.pt"
    plain.write_bytes(pickle.dumps({"w": RunsCode(marker)}))
    with pytest.raises(InputError, match=f"plain.pt: {CODE}; retrain the model"):
        load_torch_weights(plain)
    good = tmp_path / "good.pt"
    torch.save({"w": torch.arange(3.0)}, good)
    assert torch.equal(load_torch_weights(good)["w"], torch.tensor([0.0, 1.0, 2.0]))
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x80\x04not a torch file")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    for path in (cut, garbage, empty):
        with pytest.raises(InputError, match=rf"{path.name}: not a readable weights file \(\w+\); retrain the model"):
            load_torch_weights(path)
    assert not marker.exists()


# ====================================================================== npz / npy
def test_an_object_array_in_the_standardiser_is_named_not_a_numpy_traceback(tmp_path, make_run, capsys):
    run = make_run("mlp")
    path = fold_file(run, "standardize.npz")
    with open(path, "wb") as handle:
        np.savez(handle, mean=np.zeros(4), scale=np.array([{"a": 1}] * 4, dtype=object))
    refused(capsys, "standardize.npz, array 'scale': an object array (pickled Python objects", path,
            "export", run, "--out", tmp_path / "export")  # fmt: skip


def test_npz_and_npy_loaders_read_numbers_and_refuse_objects(tmp_path):
    import io

    path = tmp_path / "s.npz"
    np.savez(path, mean=np.array([1.5, 2.5]), scale=np.array([2.0, 4.0]))
    arrays = load_arrays(path, ["mean", "scale"], "statistics", "retrain")
    np.testing.assert_array_equal(arrays["scale"], [2.0, 4.0])
    with pytest.raises(InputError, match=r"s.npz: not readable statistics: no array 'other' \(it holds 'mean', "):
        load_arrays(path, ["other"], "statistics", "retrain")
    buffer = io.BytesIO()
    np.save(buffer, np.array(["x", {"y": 1}], dtype=object))
    buffer.seek(0)
    with pytest.raises(InputError, match="shard 3: an object array"):
        load_array(buffer, "shard 3", "extract again")
    values = tmp_path / "values.npy"
    np.save(values, np.arange(6, dtype=np.float16).reshape(2, 3))
    mapped = load_array(values, str(values), "extract again", mmap=True)
    assert isinstance(mapped, np.memmap) and mapped.tolist() == [[0, 1, 2], [3, 4, 5]]
    values.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(InputError, match=r"values.npy: not a readable .npy array \(ValueError\)"):
        load_array(values, str(values), "extract again")


# ====================================================================== skops archives
def _claim_size(path: Path, size: int) -> None:
    """Rewrite the uncompressed size of every member in ``path``'s zip central directory to ``size`` (the members
    themselves stay as they are): the archive then claims members that inflate to ``size`` bytes each."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at != -1:
        data[at + 24 : at + 28] = struct.pack("<I", size)  # central directory: uncompressed size at offset 24
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))


def test_a_skops_archive_claiming_gigabytes_is_refused_from_its_directory(tmp_path, make_run, capsys):
    run = make_run("logreg")
    path = fold_file(run, "estimator.skops", "fold1")
    _claim_size(path, 0xF000_0000)  # 4,026,531,840 bytes per member: past the 2 GiB ceiling
    with zipfile.ZipFile(path) as archive:
        members = len(archive.infolist())
    total = members * 0xF000_0000
    refused(capsys, f"estimator.skops: its members unpack to {total:,} bytes, more than the ceiling of "
            f"{2 << 30:,} for a skops model file", path, "export", run, "--out", tmp_path / "export")  # fmt: skip


def test_the_archive_ceiling_reads_only_the_zip_directory(tmp_path, monkeypatch):
    path = tmp_path / "m.skops"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("schema.json", b"{}" * 1000)
        archive.writestr("data.bin", bytes(5000))

    def no_member_read(*args, **kwargs):
        raise AssertionError("a member was read")

    monkeypatch.setattr(zipfile.ZipFile, "open", no_member_read)
    monkeypatch.setattr(zipfile.ZipFile, "read", no_member_read)
    assert check_archive_size(path, "skops model file", "retrain") == 2000 + 5000
    monkeypatch.setenv("VOXPOP_MAX_MODEL_BYTES", "6999")
    with pytest.raises(InputError, match=r"unpack to 7,000 bytes, more than the ceiling of 6,999 .* "
                       r"VOXPOP_MAX_MODEL_BYTES"):  # fmt: skip
        check_archive_size(path, "skops model file", "retrain")


# ====================================================================== ONNX exports
@pytest.fixture
def exported(make_run, tmp_path) -> Path:
    """An export (card.json, fold1..3.onnx) of a two-class MLP run."""
    from voxpop.models.export import export_run

    return export_run(make_run("mlp"), tmp_path / "export")


def _wav(tmp_path: Path) -> Path:
    import soundfile

    path = tmp_path / "clip.wav"
    soundfile.write(path, np.zeros(1600, dtype=np.float32), 16000)
    return path


@needs_onnx
def test_an_onnx_file_with_external_data_is_refused(exported, tmp_path, capsys):
    import onnx

    fold = exported / "fold1.onnx"
    model = onnx.load(str(fold))
    onnx.save(model, str(fold), save_as_external_data=True, location="fold1.weights", size_threshold=0)
    saved = onnx.load(str(fold), load_external_data=False)
    assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in saved.graph.initializer)
    refused(capsys, "keeps its data in an external file", fold, "predict", exported, _wav(tmp_path))
    with pytest.raises(InputError, match="fold1.onnx: tensor '.+' \\(\\d+ in all\\) keeps its data in an external"):
        load_onnx(fold)


@needs_onnx
@pytest.mark.parametrize(
    ("damage", "found"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "not a readable ONNX model"),
        (lambda p: p.write_bytes(b"\x00garbage\xff" * 8), "not a readable ONNX model"),
        (lambda p: p.write_bytes(b""), "not a readable ONNX model (no graph)"),
    ],
    ids=["truncated", "garbage", "empty"],
)
def test_a_damaged_onnx_file_says_to_export_again(exported, tmp_path, capsys, damage, found):
    fold = exported / "fold2.onnx"
    damage(fold)
    err = refused(capsys, found, fold, "predict", exported, _wav(tmp_path))
    assert "export the run again with 'voxpop export'" in err


@needs_onnx
@pytest.mark.parametrize(
    ("text", "found"),
    [('{"format": 1, "folds": ', "not a readable export card (line 1, column 24: Expecting value)"),
     ("[1, 2]", "not an export card (a JSON object)"),
     ('{"format": 1, "folds": ["fold1.onnx"]}', "key 'format': 1, not an export card format this voxpop reads")],
    ids=["not-json", "not-an-object", "folds-not-a-mapping"],
)  # fmt: skip
def test_a_damaged_card_says_to_export_again(exported, tmp_path, capsys, text, found):
    card = exported / "card.json"
    card.write_text(text)
    err = refused(capsys, found, card, "predict", exported, _wav(tmp_path))
    assert "export the run again with 'voxpop export'" in err


@needs_onnx
def test_an_intact_export_loads_through_the_checked_bytes(exported):
    import onnxruntime as ort

    from voxpop.models.export import load_exported

    model = load_exported(exported)
    x = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32) + 5
    direct = ort.InferenceSession(str(exported / "fold1.onnx"), providers=["CPUExecutionProvider"])
    expected = direct.run(["probabilities"], {"x": x})[0]
    np.testing.assert_allclose(model.sessions["fold1"].run(["probabilities"], {"x": x})[0], expected, rtol=1e-6)


# ====================================================================== Hugging Face model folders
def _model_folder(tmp_path: Path, config: dict | str, marker: Path) -> Path:
    """A model folder whose config is ``config`` and whose own code (modeling_evil.py) creates ``marker``."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    (folder / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    return folder


@pytest.fixture
def toy_corpus(tmp_path) -> Path:
    from voxpop.corpus.corpus import Corpus

    ratings = pd.DataFrame({"item": ["c1"], "rater": ["r1"], "label": ["anger"]})
    items = pd.DataFrame({"speaker": ["s1"], "audio": [str(_wav(tmp_path))]}, index=["c1"])
    return Corpus("toy", items, ratings, classes=["anger"]).save(tmp_path / "corpus")


REMOTE = {"model_type": "wavlm", "auto_map": {"AutoModel": "modeling_evil.EvilModel"}, "hidden_size": 32}


@pytest.mark.parametrize(
    ("config", "found"),
    [(REMOTE, "config.json, key 'auto_map': the model asks to be built by its own code (remote code)"),
     ({"model_type": "evil-net", "hidden_size": 32}, "config.json, key 'model_type': 'evil-net' is not a model type"),
     ('{"model_type": "wavlm",', "config.json: not a readable model configuration (JSON)")],
    ids=["auto-map", "unknown-model-type", "not-json"],
)  # fmt: skip
def test_a_model_folder_asking_for_remote_code_is_refused_before_loading(tmp_path, toy_corpus, capsys, config, found):
    marker = tmp_path / "code-ran"
    folder = _model_folder(tmp_path, config, marker)
    refused(capsys, found, folder / "config.json", "features", toy_corpus, "--extractor", f"ssl:{folder}",
            "--store", tmp_path / "store")  # fmt: skip
    assert not marker.exists()


def test_every_backbone_reader_refuses_remote_code(tmp_path):
    from voxpop.features.encoder import WaveformExtractor
    from voxpop.models.heads import feature_extractor_normalizes, load_backbone

    marker = tmp_path / "code-ran"
    folder = _model_folder(tmp_path, REMOTE, marker)
    (folder / "preprocessor_config.json").write_text(json.dumps({"auto_map": {"AutoFeatureExtractor": "x.Y"}}))
    for read in (load_backbone, feature_extractor_normalizes, WaveformExtractor, check_model_folder):
        with pytest.raises(InputError, match=r"config.json, key 'auto_map'"):
            read(str(folder))
    (folder / "config.json").write_text(json.dumps({"model_type": "wavlm"}))
    with pytest.raises(InputError, match=r"preprocessor_config.json, key 'auto_map'"):
        check_model_folder(folder)
    assert not marker.exists()


def test_a_native_model_folder_passes(tiny_wavlm_dir):
    from voxpop.models.heads import load_backbone

    check_model_folder(tiny_wavlm_dir)
    assert len(load_backbone(str(tiny_wavlm_dir)).encoder.layers) == 2


# ====================================================================== a read-only output folder
def test_a_write_the_file_system_refuses_is_one_line(tmp_path, capsys, monkeypatch):
    """The CLI boundary: an OSError EROFS from any write below voxpop's writers (here os.replace of the atomic
    writer, as when a file system turns read-only mid-run) is one line naming the file, exit 2."""
    (tmp_path / "votes.csv").write_text("item,rater,label\nu1,r1,anger\n")
    real = os.replace

    def read_only(src, dst, *args, **kwargs):
        if str(dst).startswith(str(tmp_path / "out")):
            raise OSError(errno.EROFS, "Read-only file system", str(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", read_only)
    code, err = run_voxpop(capsys, "import", "long", tmp_path / "votes.csv", "--out", tmp_path / "out")
    assert code == 2 and "Traceback" not in err, err
    assert f"error: cannot write to {tmp_path / 'out'}/" in err and ": read-only file system." in err


def test_an_output_folder_on_a_read_only_file_system_is_one_line(tmp_path, capsys, monkeypatch):
    """voxpop's own writers (make_folder, atomic_write) name the folder and the system's reason."""
    from pathlib import Path as RealPath

    (tmp_path / "votes.csv").write_text("item,rater,label\nu1,r1,anger\n")
    real_mkdir = RealPath.mkdir

    def read_only(self, *args, **kwargs):
        if str(self).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(RealPath, "mkdir", read_only)
    code, err = run_voxpop(capsys, "import", "long", tmp_path / "votes.csv", "--out", tmp_path / "ro" / "corpus")
    assert code == 2 and "Traceback" not in err, err
    assert f"error: cannot write to {tmp_path / 'ro' / 'corpus'}: read-only file system (the folder cannot be" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only (0o555) folder regardless")
def test_a_folder_without_write_permission_is_one_line(tmp_path, capsys):
    (tmp_path / "votes.csv").write_text("item,rater,label\nu1,r1,anger\n")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        code, err = run_voxpop(capsys, "import", "long", tmp_path / "votes.csv", "--out", locked / "corpus")
    finally:
        locked.chmod(0o755)
    assert code == 2 and "Traceback" not in err, err
    assert f"cannot write to {locked / 'corpus'}: permission denied" in err
