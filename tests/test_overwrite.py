"""Nothing is overwritten without a word: import, merge and labels refuse to replace different content."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

import voxpop.cli
from voxpop.core.errors import ConfigError
from voxpop.corpus.corpus import Corpus
from voxpop.labels.labelset import LabelSet
from voxpop.labels.overwrite import save_corpus, save_label_set
from voxpop.labels.rules import make_labels

BIG = "item,rater,label\n" + "".join(
    f"c{i},r{j},{'anger' if (i + j) % 3 else 'sad'}\n" for i in range(40) for j in range(3)
)
SMALL = "item,rater,label\na,r1,anger\na,r2,sad\nb,r1,sad\n"


def _invoke(*args: str):
    """The CLI's result; ``output`` ends with the message of the error it raised, if any."""
    result = CliRunner().invoke(voxpop.cli.app, list(args), env={"COLUMNS": "200"})
    result.text = result.output + ("" if result.exception is None else str(result.exception))
    return result


def test_second_import_over_a_different_corpus_is_refused_and_force_replaces_it(tmp_path):
    big, small, out = tmp_path / "big.csv", tmp_path / "small.csv", tmp_path / "corpora" / "x"
    big.write_text(BIG)
    small.write_text(SMALL)
    assert _invoke("import", "long", str(big), "--out", str(out)).exit_code == 0
    refused = _invoke("import", "long", str(small), "--out", str(out))
    assert refused.exit_code != 0
    assert "already holds a different corpus (40 items, 120 ratings)" in refused.text
    assert "--force" in refused.text
    assert len(Corpus.load(out).items) == 40  # untouched
    forced = _invoke("import", "long", str(small), "--out", str(out), "--force")
    assert forced.exit_code == 0, forced.output
    assert "replaced the different corpus" in forced.output
    assert Corpus.load(out).items.index.tolist() == ["a", "b"]


def test_the_same_import_twice_reuses_the_corpus_and_says_so(tmp_path):
    table, out = tmp_path / "r.csv", tmp_path / "c"
    table.write_text(SMALL)
    assert _invoke("import", "long", str(table), "--out", str(out)).exit_code == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = _invoke("import", "long", str(table), "--out", str(out))
    assert again.exit_code == 0, again.output
    assert "already held the same corpus: reused" in again.output
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # nothing rewritten


def test_merge_refuses_to_replace_a_different_corpus(tmp_path):
    table = tmp_path / "r.csv"
    table.write_text(SMALL)
    assert _invoke("import", "long", str(table), "--out", str(tmp_path / "a")).exit_code == 0
    (tmp_path / "big.csv").write_text(BIG)
    assert _invoke("import", "long", str(tmp_path / "big.csv"), "--out", str(tmp_path / "m")).exit_code == 0
    sources = [f"a={tmp_path / 'a'}", f"b={tmp_path / 'a'}"]
    refused = _invoke("merge", *sources, "--out", str(tmp_path / "m"))
    assert refused.exit_code != 0 and "already holds a different corpus" in refused.text
    assert _invoke("merge", *sources, "--out", str(tmp_path / "m"), "--force").exit_code == 0
    assert len(Corpus.load(tmp_path / "m").items) == 4  # a/a, a/b, b/a, b/b (namespaced ids)


def test_a_partial_corpus_folder_is_different_content(tmp_path):
    corpus = Corpus("x", pd.DataFrame(index=["a"]), pd.DataFrame({"item": ["a"], "rater": ["r"], "label": ["s"]}),
                    classes=["s"])  # fmt: skip
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "corpus.yaml").write_text("name: other\n")
    with pytest.raises(ConfigError, match="incomplete or unreadable"):
        save_corpus(corpus, tmp_path / "c")
    assert save_corpus(corpus, tmp_path / "c", force=True) == "replaced"
    assert save_corpus(corpus, tmp_path / "c") == "reused"


def test_label_sets_are_reused_or_refused(tmp_path):
    corpus = Corpus.load(_corpus_dir(tmp_path))
    majority, plurality = make_labels(corpus, "mr"), make_labels(corpus, "pr")
    path = tmp_path / "labels.parquet"
    assert save_label_set(majority, path) == "written"
    assert save_label_set(majority, path) == "reused"
    with pytest.raises(ConfigError, match="already holds a different label set"):
        save_label_set(plurality, path)
    assert LabelSet.load(path).rule == majority.rule
    assert save_label_set(plurality, path, force=True) == "replaced"
    assert LabelSet.load(path).rule == plurality.rule
    cli = _invoke("labels", str(tmp_path / "c"), "--rule", "mr", "--out", str(path))
    assert cli.exit_code != 0 and "different label set" in cli.text


def _corpus_dir(tmp_path):
    (tmp_path / "r.csv").write_text(BIG)
    assert _invoke("import", "long", str(tmp_path / "r.csv"), "--out", str(tmp_path / "c")).exit_code == 0
    return tmp_path / "c"


def test_a_study_folder_reuses_its_cache_and_names_the_outputs_it_replaces(demo_corpus, demo_logreg_run, tmp_path):
    args = ["train", str(demo_corpus.dir), "--labels", "mr", "--condition", "voice", "--extractor", "fbank",
            "--store", str(demo_logreg_run.store), "--head", "logreg", "--k", "3", "--bootstrap", "20",
            "--out", str(tmp_path / "run")]  # fmt: skip
    first = _invoke(*args)
    assert first.exit_code == 0, first.text
    assert "replaced the earlier" not in first.text
    again = _invoke(*args)
    assert again.exit_code == 0, again.text
    assert "stages: 0 computed" in again.text  # the cache still serves every stage
    said = "".join(again.text.split())  # the console wraps long lines
    expected = f"replaced the earlier results.parquet, runs.json, recipe.yaml, summary.csv in {tmp_path / 'run'}"
    assert "".join(expected.split()) in said
