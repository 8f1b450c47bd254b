"""Contract checks of every importer of :data:`voxpop.corpus.formats.IMPORTERS` (issue #22, item 7).

Each check is parametrized over the registry itself; :data:`EXAMPLES` is the one place a new format adds a
small valid input (and, for a table, a column the format cannot do without), and
:func:`test_every_importer_has_an_example` fails until it does. The checks: the example imports to a corpus
that survives save -> load unchanged (items, ratings, classes and the rest of corpus.yaml); importing it twice
writes identical files; an empty input, and a table without a required column, raise an ``InputError`` whose
message names the file (and the column); the format is a sub-command of ``voxpop import`` with its own
section in docs/cli/import.md.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile
from typer.testing import CliRunner

from audformat_builder import build_emodb_like
from voxpop.core.errors import InputError
from voxpop.corpus.corpus import Corpus
from voxpop.corpus.formats import IMPORTERS, read
from voxpop.corpus.formats.likert import Scale

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli" / "import.md"


def _ravdess_files(folder: Path) -> None:
    """Three RAVDESS-named recordings (10 ms of silence) in two actor folders."""
    names = {"03-01-06-02-01-01-01.wav": "01", "03-01-01-01-02-02-01.wav": "01", "03-01-08-01-01-01-02.flac": "02"}
    for name, actor in names.items():
        path = folder / f"Actor_{actor}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, np.zeros(160), 16000, format="FLAC" if name.endswith(".flac") else "WAV")


def _hf_table(folder: Path) -> None:
    """A Hugging Face parquet shard: an id column and a ClassLabel column whose names are in the schema metadata."""
    features = {
        "id": {"dtype": "string", "_type": "Value"},
        "label": {"names": ["sad", "anger"], "_type": "ClassLabel"},
    }
    table = pa.table({"id": ["a", "b", "c"], "label": pa.array([1, 0, 1], pa.int64())})
    table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    pq.write_table(table, folder / "train-00000-of-00001.parquet")


def _emobox_folder(folder: Path) -> None:
    """An EmoBox corpus metadata folder: toy.jsonl, label_map.json and one fold (2 train, 1 test utterance)."""
    lines = {"a": "neu", "b": "ang", "c": "neu"}
    rows = [{"key": k, "wav": f"downloads/{k}.wav", "emo": e, "length": 1.5} for k, e in lines.items()]
    (folder / "toy.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "label_map.json").write_text(json.dumps({"neu": "Neutral", "ang": "Angry"}))
    (folder / "fold_1").mkdir()
    for part, keys in {"train": "ab", "test": "c"}.items():
        text = "".join(json.dumps(r) + "\n" for r in rows if r["key"] in keys)
        (folder / "fold_1" / f"toy_{part}_fold_1.jsonl").write_text(text)


@dataclasses.dataclass(frozen=True)
class Example:
    """A small valid input of one format.

    ``input``: the name of the file (or folder) the importer reads; ``content``: its text, a fixture file to
    copy, or a function filling the folder; ``options``: the importer's keyword arguments; ``required``: a
    column the format requires (None for formats that are not tables)."""

    input: str
    content: str | Path | Callable[[Path], None]
    options: dict = dataclasses.field(default_factory=dict)
    required: str | None = None

    def write(self, folder: Path, content: str | Path | Callable[[Path], None] | None = None) -> Path:
        """The input written into ``folder`` (``content`` replaces the example's own)."""
        content = self.content if content is None else content
        path = folder / self.input
        if callable(content):
            path.mkdir(parents=True)
            content(path)
        else:
            path.write_text(content.read_text() if isinstance(content, Path) else content)
        return path

    def without_required_column(self) -> str:
        """The example's table with column :attr:`required` removed."""
        text = self.content.read_text() if isinstance(self.content, Path) else str(self.content)
        rows = list(csv.reader(io.StringIO(text)))
        drop = rows[0].index(self.required)
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([r[:drop] + r[drop + 1 :] for r in rows])
        return out.getvalue()


EXAMPLES: dict[str, Example] = {
    "crema-d": Example(
        "tabulatedVotes.csv",
        '"","A","D","F","H","N","S","fileName","numResponses","agreement","emoVote"\n'
        '"100001",0,0,0,1,10,0,"1001_IEO_NEU_XX",11,0.91,"N"\n'
        '"200001",0,0,0,0,9,1,"1001_IEO_NEU_XX",10,0.9,"N"\n'
        '"100002",4,1,0,0,2,0,"1002_DFA_ANG_XX",7,0.57,"A"\n',
        required="fileName",
    ),
    "ravdess": Example("ravdess", _ravdess_files),
    "hf": Example("hf", _hf_table, {"id_column": "id"}),
    "emobox": Example("toy", _emobox_folder, {"dataset": "toy"}),
    "audformat": Example("emodb", build_emodb_like),
    "likert": Example(
        "ratings.csv",
        "clip,annotator,joy,anger,gender,sentiment,notes\n"
        "/data/x/c1.m4a,r1,None,2,Male,+1,\n"
        "/data/x/c1.m4a,r2,A little,Extremely,Male,-2,two voices\n"
        "/data/x/c2.m4a,r1,3,None,Female,0,music\n",
        {
            "item_column": "clip",
            "rater_column": "annotator",
            "emotion_columns": ["joy", "anger"],
            "attribute_columns": ["gender"],
            "metadata_columns": ["notes"],
            "numeric_columns": {"sentiment": Scale(-3, 3)},
            "item_from_path": True,
        },
        required="anger",
    ),
    "earkick": Example(
        "assessment.csv",
        "audio,annotator,happy,sad,anger,surprise,disgust,fear,gender,age,mood,sentiment,anxiety,notes\n"
        "/x/?d=s/8404_8.m4a,2,Extremely,None,None,A little,None,None,Male,20s,Great,+2,0 - None,\n"
        "/x/?d=s/8404_8.m4a,3,Moderate,None,None,None,None,None,Male,20s,Good,+1,2,\n"
        "/x/?d=s/1001_DFA_ANG_XX_cremad.m4a,2,None,None,Extremely,None,A little,None,Male,30s,Bad,-2,9 - Most,loud\n",
        required="happy",
    ),
    "mosei": Example("batch.csv", FIXTURES / "mosei_batch_results.csv", required="WorkerId"),
    "msp": Example("labels_detailed.json", FIXTURES / "msp_detailed.json"),
    "iemocap": Example("Ses01F_impro01.txt", FIXTURES / "iemocap_Ses01F_impro01.txt"),
    "intervals": Example("intervals.csv", FIXTURES / "intervals_ramas.csv", required="start"),
    "long": Example(
        "ratings.csv",
        "item,rater,label,value,start,end,slot\n"
        "clip1,r1,joy,2,0.0,1.5,intensity\n"
        "clip1,r2,joy,1,0.5,2.0,intensity\n"
        "clip2,r1,anger,3,,,intensity\n",
        required="label",
    ),
}
"""Format -> a small valid input: the one place a new importer adds its example."""

FORMATS = sorted(IMPORTERS)
TABLES = [f for f in FORMATS if f not in EXAMPLES or EXAMPLES[f].required is not None]


def _import(fmt: str, folder: Path) -> Corpus:
    folder.mkdir(parents=True, exist_ok=True)
    return read(fmt, EXAMPLES[fmt].write(folder), **EXAMPLES[fmt].options)


def test_every_importer_has_an_example():
    assert sorted(EXAMPLES) == FORMATS, "add the new format's small valid input to EXAMPLES"


@pytest.mark.parametrize("fmt", FORMATS)
def test_imported_corpus_survives_save_and_load(fmt, tmp_path):
    corpus = _import(fmt, tmp_path / "input")
    assert len(corpus.items) > 0 and len(corpus.ratings) > 0 and corpus.classes
    loaded = Corpus.load(corpus.save(tmp_path / "corpus"))
    pd.testing.assert_frame_equal(loaded.items, corpus.items)
    pd.testing.assert_frame_equal(loaded.ratings, corpus.ratings)
    for attribute in ("name", "classes", "class_map", "excluded", "scales", "slots", "description", "audio_root"):
        assert getattr(loaded, attribute) == getattr(corpus, attribute), attribute


@pytest.mark.parametrize("fmt", FORMATS)
def test_importing_twice_writes_identical_files(fmt, tmp_path):
    folder = tmp_path / "input"
    first = _import(fmt, folder).save(tmp_path / "first")
    shutil.rmtree(folder)  # the same input written again in the same place (paths in the corpus are absolute)
    second = _import(fmt, folder).save(tmp_path / "second")
    for name in ("items.parquet", "ratings.parquet", "corpus.yaml"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_input_is_an_input_error_naming_it(fmt, tmp_path):
    example = EXAMPLES[fmt]
    path = example.write(tmp_path, (lambda folder: None) if callable(example.content) else "")
    with pytest.raises(InputError, match=re.escape(path.name)):
        read(fmt, path, **example.options)


@pytest.mark.parametrize("fmt", TABLES)
def test_missing_required_column_is_an_input_error_naming_file_and_column(fmt, tmp_path):
    example = EXAMPLES[fmt]
    path = example.write(tmp_path, example.without_required_column())
    with pytest.raises(InputError) as error:
        read(fmt, path, **example.options)
    assert path.name in str(error.value) and repr(example.required) in str(error.value), str(error.value)


def test_every_importer_is_a_sub_command_of_voxpop_import():
    import voxpop.cli

    result = CliRunner().invoke(voxpop.cli.app, ["import", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    commands = set(re.findall(r"^│ ([a-z][a-z-]*) ", result.output, re.M))
    assert commands == set(FORMATS), result.output


@pytest.mark.parametrize("fmt", FORMATS)
def test_importer_has_a_section_in_the_docs(fmt):
    text = DOCS.read_text()
    assert f"\n### {fmt}\n" in text and f"<!-- help: import {fmt} -->" in text, f"{DOCS.name}: no section for {fmt}"
