"""Folders are what they claim, and errors quote little (issue 31, items 3 and 4): ``validate --cache`` tells a
voxpop cache from any folder and reports a symlinked stage folder; a corpus file that is a symlink leading out of
the corpus folder is refused unless allowed; a message shows at most a short excerpt of a file's content, never a
line of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from entry_point import run_voxpop
from voxpop.core.cache import CACHE_TAG, CACHE_TAG_TEXT, Cache, Stage
from voxpop.core.errors import InputError
from voxpop.core.formatting import excerpt, parse_error
from voxpop.corpus.corpus import Corpus

SECRET = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"


def _cache(root: Path) -> Cache:
    """A cache with two finished stages (labels, then train reading it)."""
    cache = Cache(root)
    labels = Stage("labels", "MR", {"rule": "mr"})
    cache.run(labels, lambda d: (d / "labels.txt").write_text("a,b"))
    cache.run(Stage("train", "MR (base)", {"head": "mlp"}, (labels,)), lambda d: (d / "model.txt").write_text("m"))
    return cache


# ====================================================================== validate --cache
def test_a_cache_carries_voxpops_tag_and_validates(tmp_path, capsys):
    cache = _cache(tmp_path / "cache")
    assert (cache.root / CACHE_TAG).read_bytes() == CACHE_TAG_TEXT
    assert CACHE_TAG_TEXT.startswith(b"Signature: 8a477f597d28d172789f06886806bc55\n")  # bford.info/cachedir
    code, out = run_voxpop(capsys, "validate", "--cache", cache.root)
    assert code == 0 and "no damage found: 2 stage(s) and 0 feature store entries checked" in out, out


def test_validate_cache_calls_a_corpus_folder_no_cache(demo_corpus, tmp_path, capsys):
    code, err = run_voxpop(capsys, "validate", "--cache", demo_corpus.dir)
    assert code == 2 and "Traceback" not in err
    assert f"error: {demo_corpus.dir}: not a voxpop cache" in err
    other = tmp_path / "other"  # another program's cache tag is not voxpop's
    other.mkdir()
    (other / CACHE_TAG).write_bytes(b"Signature: 8a477f597d28d172789f06886806bc55\n# made by another tool\n")
    code, err = run_voxpop(capsys, "validate", "--cache", other)
    assert code == 2 and f"{other}: not a voxpop cache" in err


def test_validate_cache_points_from_a_run_folder_to_its_cache(tmp_path, capsys):
    _cache(tmp_path / "run" / "cache")
    code, err = run_voxpop(capsys, "validate", "--cache", tmp_path / "run")
    assert code == 2 and f"{tmp_path / 'run' / 'cache'} is one: give that" in err


def test_a_cache_written_before_the_tag_still_counts(tmp_path, capsys):
    cache = _cache(tmp_path / "cache")
    (cache.root / CACHE_TAG).unlink()  # as an earlier voxpop left it: stage folders with .done, no tag
    code, err = run_voxpop(capsys, "validate", "--cache", cache.root)
    assert code == 0, err
    assert "no damage found: 2 stage(s)" in err
    Cache(cache.root).run(Stage("labels", "PR", {"rule": "pr"}), lambda d: None)  # the next stage computed tags it
    assert (cache.root / CACHE_TAG).read_bytes() == CACHE_TAG_TEXT


def test_a_symlinked_stage_folder_is_reported_not_skipped(tmp_path, capsys):
    cache = _cache(tmp_path / "cache")
    stage = next(p for p in cache.root.iterdir() if p.name.startswith("labels-"))
    elsewhere = tmp_path / "elsewhere"
    shutil.move(stage, elsewhere)
    stage.symlink_to(elsewhere, target_is_directory=True)
    code, out = run_voxpop(capsys, "validate", "--cache", cache.root)
    assert code == 1
    assert f"damaged {stage.name} (a symlink): the stage folder is a symlink to {elsewhere}" in out
    assert "1 damaged, 2 stage(s)" in out


# ====================================================================== corpus files that are symlinks
@pytest.fixture
def corpus_dir(tmp_path) -> Path:
    ratings = pd.DataFrame({"item": ["c1", "c2"], "rater": ["r1", "r1"], "label": ["anger", "joy"]})
    items = pd.DataFrame({"speaker": ["s1", "s2"]}, index=["c1", "c2"])
    return Corpus("toy", items, ratings, classes=["anger", "joy"]).save(tmp_path / "corpus")


def test_a_corpus_yaml_linked_to_another_file_is_refused_and_never_quoted(corpus_dir, tmp_path, capsys):
    secret = tmp_path / "passwd"
    secret.write_text(SECRET)
    meta = corpus_dir / "corpus.yaml"
    meta.unlink()
    meta.symlink_to(secret)
    code, err = run_voxpop(capsys, "validate", corpus_dir)
    assert code == 2 and "Traceback" not in err
    assert f"{meta}: is a symlink leading out of the corpus folder {corpus_dir} (to {secret})" in err
    assert "--follow-symlinks" in err and "VOXPOP_FOLLOW_SYMLINKS=1" in err
    code, err = run_voxpop(capsys, "validate", corpus_dir, "--follow-symlinks")  # read: still nothing quoted
    assert code == 2 and f"{meta}: expected a mapping" in err and "got a str (a whole document, not shown)" in err
    for text in (err, *(str(e) for e in _load_errors(corpus_dir))):
        assert "root:x" not in text and "daemon" not in text


def _load_errors(directory: Path) -> list[InputError]:
    try:
        Corpus.load(directory, follow_symlinks=True)
    except InputError as exc:
        return [exc]
    return []


def test_a_table_linked_out_of_the_corpus_folder_is_refused_unless_allowed(corpus_dir, tmp_path, monkeypatch):
    ratings = corpus_dir / "ratings.parquet"
    shutil.move(ratings, tmp_path / "ratings.parquet")
    ratings.symlink_to(tmp_path / "ratings.parquet")
    with pytest.raises(InputError, match=r"ratings.parquet: is a symlink leading out of the corpus folder"):
        Corpus.load(corpus_dir)
    assert len(Corpus.load(corpus_dir, follow_symlinks=True).ratings) == 2
    monkeypatch.setenv("VOXPOP_FOLLOW_SYMLINKS", "1")
    assert len(Corpus.load(corpus_dir).ratings) == 2


def test_links_inside_the_corpus_folder_are_fine(corpus_dir, tmp_path):
    (corpus_dir / "tables").mkdir()
    shutil.move(corpus_dir / "items.parquet", corpus_dir / "tables" / "items.parquet")
    (corpus_dir / "items.parquet").symlink_to(Path("tables") / "items.parquet")
    linked = tmp_path / "linked-corpus"  # the corpus folder itself reached through a link
    linked.symlink_to(corpus_dir, target_is_directory=True)
    assert list(Corpus.load(linked).items.index) == ["c1", "c2"]


def test_validate_lists_audio_reached_through_a_link_out_of_the_root(tmp_path, capsys):
    import numpy as np
    import soundfile

    outside = tmp_path / "elsewhere.wav"
    soundfile.write(outside, np.zeros(800, dtype=np.float32), 16000)
    (tmp_path / "corpus" / "wav").mkdir(parents=True)
    (tmp_path / "corpus" / "wav" / "a.wav").symlink_to(outside)
    ratings = pd.DataFrame({"item": ["a"], "rater": ["r1"], "label": ["anger"]})
    items = pd.DataFrame({"speaker": ["s1"], "audio": ["wav/a.wav"]}, index=["a"])
    Corpus("toy", items, ratings, classes=["anger"]).save(tmp_path / "corpus")
    code, out = run_voxpop(capsys, "validate", tmp_path / "corpus")
    assert code == 1
    assert f"item 'a': {tmp_path / 'corpus' / 'wav' / 'a.wav'} (a symlink to {outside})" in out
    code, _ = run_voxpop(capsys, "validate", tmp_path / "corpus", "--follow-symlinks")
    assert code == 0


# ====================================================================== errors quote little
def test_excerpt_is_short_delimited_and_escaped():
    assert excerpt("anger") == "'anger'"
    assert excerpt("a\tb\x1b[2J") == "'a\\tb\\x1b[2J'"  # a terminal escape is shown, not obeyed
    assert excerpt("x" * 41) == "'" + "x" * 40 + "'…"
    assert excerpt(SECRET) == "'root:x:0:0:root:/root:/bin/bash\\ndaemon:x'…"
    assert excerpt(12345) == "'12345'"


def test_a_yaml_error_gives_line_and_column_not_the_line(corpus_dir, capsys):
    secret = "classes: [anger, joy]\nname: toy\nsecret_token: abcdef123456: more\n"
    (corpus_dir / "corpus.yaml").write_text(secret)
    code, err = run_voxpop(capsys, "validate", corpus_dir)
    assert code == 2 and "Traceback" not in err
    where = f"{corpus_dir / 'corpus.yaml'}: not valid UTF-8 YAML: line 3, column 27"
    assert f"{where}: mapping values are not allowed here" in err
    assert "abcdef123456" not in err and "secret_token" not in err


def test_parse_error_keeps_position_and_problem_only():
    import json

    import yaml

    with pytest.raises(yaml.YAMLError) as caught:
        yaml.safe_load("a: 1\nkey: [unclosed, 'a secret value'\n")
    assert "a secret value" in str(caught.value)  # PyYAML quotes the line ...
    text = parse_error(caught.value)
    assert text.startswith("line 3, column 1: expected ',' or ']'") and "secret" not in text  # ... this does not
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads('{"a": 1,\n "b": secret}')
    assert parse_error(caught.value) == "line 2, column 7: Expecting value"
