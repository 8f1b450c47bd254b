"""The damage table as data: each damage kind, the files it applies to, and the verb that reads the file back.

A :class:`Case` is ``KIND-TARGET-VERB``: :data:`KINDS` damage a path (given the test's :class:`~damage.conftest.Work`
copy), :data:`TARGETS` name the file or folder in that copy, :data:`VERBS` give the command line that reads it.
Every case expects exit code 2 (a :class:`~voxpop.core.errors.VoxpopError` printed for people), the damaged file's
name in the message and no traceback; ``validate --cache`` reports damage it finds with exit code 1 (its
documented answer for a damaged cache, naming the stage), which the cases on it expect instead.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zipfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

SECRET = "voxpop-damage-secret-line never printed"
"""The first line of the file a symlinked ``corpus.yaml`` leads to: an error must not quote it."""

FOREIGN = {"mlp": "mlp-other", "logreg": "svm", "export-mlp": "export-logreg"}
"""Where a ``foreign`` file comes from: the same file of another run (or export) of the session."""


def _truncate(path: Path, work) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path, work) -> None:
    path.write_bytes(np.random.default_rng(31).integers(0, 256, 4096, dtype=np.uint8).tobytes())


def _empty(path: Path, work) -> None:
    path.write_bytes(b"")


def _swap(path: Path, work) -> None:
    """fold1's file and fold2's file trade places (``fold1`` in the path becomes ``fold2``)."""
    other = Path(str(path).replace("fold1", "fold2"))
    parked = path.with_name(path.name + ".swap")
    path.rename(parked)
    other.rename(path)
    parked.rename(other)


def _foreign_source(path: Path, work) -> Path:
    relative = path.relative_to(work.path)
    top = relative.parts[0]
    source = work.path / FOREIGN[top] / Path(*relative.parts[1:])
    if not source.exists():  # a train stage folder: its key differs between runs
        stage = next((work.path / FOREIGN[top] / "cache").glob("train-*"))
        source = stage / Path(*relative.parts[3:])
    return source


def _foreign(path: Path, work) -> None:
    """The same file of another run or export of the session (:data:`FOREIGN`). A folder target is left as it is:
    the damage is the folder itself given where another belongs (the corpus folder given as a cache)."""
    if path.is_dir():
        return
    shutil.copyfile(_foreign_source(path, work), path)


def _reorder(path: Path, work) -> None:
    """The class order reversed: ``classes`` of card.json / runs.json, ``spec.classes`` of model.json."""
    data = json.loads(path.read_text())
    holders = [data, data.get("spec", {})] + [v for v in data.values() if isinstance(v, dict)]
    for holder in holders:
        if isinstance(holder, dict) and isinstance(holder.get("classes"), list):
            holder["classes"] = holder["classes"][::-1]
    path.write_text(json.dumps(data))


def _symlink(path: Path, work) -> None:
    """The file (or folder) becomes a symlink to one outside its folder: corpus.yaml to a file whose first line is
    :data:`SECRET`, a model file to another run's, a stage folder to a copy of itself elsewhere."""
    outside = work.path / "outside"
    outside.mkdir(exist_ok=True)
    target = outside / path.name
    if path.is_dir():
        shutil.copytree(path, target, symlinks=True)
        shutil.rmtree(path)
    elif path.name == "corpus.yaml":  # another file of the user's, not a corpus
        target.write_text(f"{SECRET}\nand a second private line\n")
        path.unlink()
    else:
        shutil.copyfile(_foreign_source(path, work), target)
        path.unlink()
    path.symlink_to(target)


def _read_only(path: Path, work) -> None:
    """The output folder exists and cannot be written to: mode 0555, and for root (who writes there anyway) the
    immutable attribute (``chattr +i``; the ``work`` fixture clears it)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o555)
    if os.access(path, os.W_OK) and shutil.which("chattr"):
        subprocess.run(["chattr", "+i", str(path)], check=False, capture_output=True)
    try:
        (path / "probe").touch()
    except OSError:
        return
    (path / "probe").unlink()
    pytest.skip("no folder this user cannot write into can be made here (root without chattr +i)")


def _pickle(path: Path, work) -> None:
    """What safe loading refuses: torch weights holding a Python object (a Fraction: a pickled class, no plain
    tensor), or an ``.npz`` whose array holds objects."""
    if path.suffix == ".pt":
        import torch

        torch.save({"net.0.weight": Fraction(1, 3)}, path)
    else:
        with open(path, "wb") as handle:
            np.savez(handle, mean=np.array([Fraction(1, 3)] * 160, dtype=object), scale=np.ones(160))


def _zip_bomb(path: Path, work) -> None:
    """The skops archive gains a member whose zip directory entries say it inflates to 4 GiB (a reader checks those
    sizes before inflating anything; the member holds 1 MiB of zeros, so no test inflates 4 GiB). The archive's
    own members are untouched: a reader that never looks at the sizes loads the estimator as before."""
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.bin", b"\0" * (1 << 20))
    data = bytearray(path.read_bytes())
    local = data.rfind(b"PK\x03\x04")  # the last member's local header: uncompressed size at +22
    struct.pack_into("<I", data, local + 22, 0xFFFFFFFE)
    central = data.rfind(b"PK\x01\x02")  # and its central directory record: uncompressed size at +24
    struct.pack_into("<I", data, central + 24, 0xFFFFFFFE)
    path.write_bytes(bytes(data))


def _remote_code(path: Path, work) -> None:
    """A Hugging Face model folder (a tiny WavLM, copied there by the test) whose config.json asks for the
    repository's own code (``auto_map``)."""
    config = json.loads(path.read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
    path.write_text(json.dumps(config))


def _runs_edit(change: Callable[[dict], None]) -> Callable:
    def edit(path: Path) -> None:
        runs = json.loads(path.read_text())
        for record in runs.values():
            change(record)
        path.write_text(json.dumps(runs))

    return edit


def _table_edit(change: Callable) -> Callable:
    def edit(path: Path) -> None:
        import pandas as pd

        change(pd.read_parquet(path)).to_parquet(path)

    return edit


def _negative(table):
    first, second = table.columns[:2]  # the row still sums to one
    table.loc[table.index[0], [first, second]] = [-0.2, table[first].iat[0] + table[second].iat[0] + 0.2]
    return table


def _doubled(table):
    numbers = table.select_dtypes("number").columns
    return table.assign(**{c: table[c] * 2 for c in numbers})


EDITS: dict[str, Callable[[Path], None]] = {
    "folds-outside": _runs_edit(lambda r: r.update(folds=["../.."])),
    "no-folds": _runs_edit(lambda r: r.update(folds=[])),
    "format-9": _runs_edit(lambda r: r.update(format=9)),
    "negative-probability": _table_edit(_negative),
    "rows-not-summing-to-one": _table_edit(_doubled),
    "extra-class": _table_edit(lambda t: t.assign(surprise=0.0)),
    "no-fold-column": _table_edit(lambda t: t.drop(columns="fold")),
}
"""A hand edit that keeps the file readable, by name: ``runs.json`` record fields, predictions table values."""


def _edit(path: Path, work, variant: str) -> None:
    EDITS[variant](path)


KINDS: dict[str, Callable] = {
    "truncate": _truncate,
    "garbage": _garbage,
    "empty": _empty,
    "swap": _swap,
    "foreign": _foreign,
    "reorder": _reorder,
    "symlink": _symlink,
    "read-only": _read_only,
    "pickle": _pickle,
    "zip-bomb": _zip_bomb,
    "remote-code": _remote_code,
    "edit": _edit,
}

TARGETS: dict[str, Callable] = {
    "weights": lambda w: w.fold_file("mlp", "fold1", "weights.pt"),
    "estimator": lambda w: w.fold_file("logreg", "fold1", "estimator.skops"),
    "standardiser": lambda w: w.fold_file("mlp", "fold1", "standardize.npz"),
    "logreg-standardiser": lambda w: w.fold_file("logreg", "fold1", "standardize.npz"),
    "model-json": lambda w: w.fold_file("mlp", "fold1", "model.json"),
    "runs-json": lambda w: w.path / "mlp" / "runs.json",
    "predictions": lambda w: w.stage("mlp") / "predictions.parquet",
    "done": lambda w: w.stage("mlp") / ".done",
    "card": lambda w: w.path / "export-mlp" / "card.json",
    "onnx": lambda w: w.path / "export-mlp" / "fold1.onnx",
    "corpus-yaml": lambda w: w.path / "corpus" / "corpus.yaml",
    "ratings": lambda w: w.path / "corpus" / "ratings.parquet",
    "items": lambda w: w.path / "corpus" / "items.parquet",
    "cache": lambda w: w.path / "corpus",  # a folder that is no cache, given as one
    "stage": lambda w: w.stage("mlp"),
    "out": lambda w: w.path / "locked",
    "hf-config": lambda w: w.path / "hf-model" / "config.json",
}

EVALUATE = ["--labels", "mr", "--condition", "voice", "--bootstrap", "20"]
LABELS = ["--rule", "mr", "--condition", "voice"]

VERBS: dict[str, Callable] = {
    "predict": lambda w: ["predict", w.path / "mlp", *w.audio],
    "predict-logreg": lambda w: ["predict", w.path / "logreg", *w.audio],
    "predict-export": lambda w: ["predict", w.path / "export-mlp", *w.audio],
    "evaluate": lambda w: ["evaluate", w.path / "mlp", *EVALUATE],
    "evaluate-other": lambda w: ["evaluate", w.path / "mlp", "--corpus", w.base / "other", *EVALUATE],
    "export": lambda w: ["export", w.path / "mlp", "--out", w.path / "exported"],
    "export-logreg": lambda w: ["export", w.path / "logreg", "--out", w.path / "exported"],
    "export-into": lambda w: ["export", w.path / "mlp", "--out", w.path / "locked" / "exported"],
    "labels-into": lambda w: ["labels", w.path / "corpus", *LABELS, "--out", w.path / "locked" / "mr.parquet"],
    "validate-cache": lambda w: ["validate", "--cache", w.path / "mlp" / "cache"],
    "validate-corpus-as-cache": lambda w: ["validate", "--cache", w.path / "corpus"],
    "run": lambda w: ["run", w.path / "mlp" / "recipe.yaml", "--out", w.path / "mlp", "--allow-outside-paths"],
    "agreement": lambda w: ["agreement", w.path / "corpus"],
    "labels": lambda w: ["labels", w.path / "corpus", *LABELS, "--out", w.path / "mr.parquet"],
    "features-hf": lambda w: ["features", w.base / "pair", "-e", f"ssl:{w.path / 'hf-model'}", "--store", w.path],
}



class Case(NamedTuple):
    """``kind`` applied to ``target``, then ``verb``; ``named``: what the message must name besides the file."""

    kind: str
    target: str
    verb: str
    named: tuple[str, ...] = ()
    exit_code: int = 2
    resume: bool = False  # the train stage's .done removed too: the run was stopped and `run` goes on from it
    variant: str = ""  # which of :data:`EDITS` an ``edit`` makes

    @property
    def id(self) -> str:
        return "-".join(part for part in (self.kind, self.variant, self.target, self.verb) if part)

    def damage(self, path: Path, work) -> None:
        """Apply this case's kind to ``path`` in ``work``."""
        if self.variant:
            KINDS[self.kind](path, work, self.variant)
        else:
            KINDS[self.kind](path, work)

    def param(self):
        return pytest.param(self, id=self.id)


CASES = [
    # fold model files of the MLP run: weights, standardisation statistics, model description
    Case("truncate", "weights", "predict"),
    Case("truncate", "weights", "evaluate-other"),
    Case("truncate", "weights", "export"),
    Case("garbage", "weights", "predict"),
    Case("empty", "weights", "predict"),
    Case("swap", "weights", "predict", ("fold1", "fold2")),
    Case("swap", "weights", "evaluate-other", ("fold1", "fold2")),
    Case("swap", "weights", "export", ("fold1", "fold2")),
    Case("swap", "weights", "run", ("fold1", "fold2"), resume=True),
    Case("foreign", "weights", "predict", ("fold1",)),
    Case("symlink", "weights", "predict"),  # another run's weights, linked from outside
    Case("pickle", "weights", "predict"),
    Case("truncate", "standardiser", "predict"),
    Case("garbage", "standardiser", "predict"),
    Case("empty", "standardiser", "predict"),
    Case("swap", "standardiser", "predict", ("fold1", "fold2")),
    Case("pickle", "standardiser", "predict"),
    Case("truncate", "model-json", "predict"),
    Case("garbage", "model-json", "predict"),
    Case("empty", "model-json", "predict"),
    Case("reorder", "model-json", "predict"),
    # the classical run: skops estimators and their standardisers
    Case("truncate", "estimator", "predict-logreg"),
    Case("garbage", "estimator", "predict-logreg"),
    Case("empty", "estimator", "predict-logreg"),
    Case("swap", "estimator", "predict-logreg", ("fold1", "fold2")),
    Case("foreign", "estimator", "predict-logreg", ("fold1",)),
    Case("zip-bomb", "estimator", "predict-logreg"),
    Case("zip-bomb", "estimator", "export-logreg"),
    Case("swap", "logreg-standardiser", "predict-logreg", ("fold1", "fold2")),
    # the run's record and its pooled out-of-fold predictions
    Case("truncate", "runs-json", "predict"),
    Case("garbage", "runs-json", "predict"),
    Case("empty", "runs-json", "evaluate"),
    Case("reorder", "runs-json", "predict"),
    Case("foreign", "runs-json", "predict"),
    Case("truncate", "predictions", "evaluate"),
    Case("garbage", "predictions", "evaluate"),
    Case("empty", "predictions", "evaluate"),
    Case("foreign", "predictions", "evaluate"),
    *(Case("edit", "runs-json", "predict", variant=v) for v in ("folds-outside", "no-folds", "format-9")),
    *(
        Case("edit", "predictions", "evaluate", variant=v)
        for v in ("negative-probability", "rows-not-summing-to-one", "extra-class", "no-fold-column")
    ),
    # the export: card and ONNX files
    Case("truncate", "card", "predict-export"),
    Case("garbage", "card", "predict-export"),
    Case("empty", "card", "predict-export"),
    Case("reorder", "card", "predict-export"),
    Case("truncate", "onnx", "predict-export"),
    Case("garbage", "onnx", "predict-export"),
    Case("empty", "onnx", "predict-export"),
    Case("swap", "onnx", "predict-export", ("fold1", "fold2")),
    Case("foreign", "onnx", "predict-export"),
    # the study cache: .done records, stage folders, a folder that is no cache
    Case("truncate", "done", "validate-cache", ("train-",), exit_code=1),
    Case("garbage", "done", "validate-cache", ("train-",), exit_code=1),
    Case("empty", "done", "validate-cache", ("train-",), exit_code=1),
    Case("symlink", "stage", "validate-cache", ("train-",), exit_code=1),
    Case("foreign", "cache", "validate-corpus-as-cache", ("not a voxpop cache",)),
    # the corpus folder
    Case("truncate", "corpus-yaml", "agreement"),
    Case("garbage", "corpus-yaml", "labels"),
    Case("empty", "corpus-yaml", "agreement"),
    Case("symlink", "corpus-yaml", "agreement"),
    Case("truncate", "ratings", "agreement"),
    Case("garbage", "ratings", "labels"),
    Case("empty", "ratings", "agreement"),
    Case("truncate", "items", "labels"),
    # output folders that cannot be written, and a model folder asking for remote code
    Case("read-only", "out", "export-into"),
    Case("read-only", "out", "labels-into"),
    Case("remote-code", "hf-config", "features-hf", ("auto_map",)),
]
