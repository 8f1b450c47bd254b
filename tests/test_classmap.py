"""A class map means one thing everywhere (voxpop.corpus.classmap): ``LABEL=drop`` removes a label as excluded ratings
in
``voxpop labels``, ``voxpop train``, a recipe and ``voxpop merge`` alike; unknown keys, values that would create a
class nobody listed, a label mapped twice and a class listed twice are refused by the one parser / validator.
Also: a rule whose slot has no ratings in the corpus stops with the slots it has (issue #20, item 8)."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from voxpop.cli.app import app
from voxpop.core.errors import ConfigError
from voxpop.corpus.classmap import check_class_map, check_classes, parse_class_map, resolve_classes
from voxpop.corpus.corpus import Corpus
from voxpop.corpus.merge import MergeSource, merge_corpora
from voxpop.labels.labelset import LabelSet
from voxpop.labels.rules import make_labels
from voxpop.models.saved_runs import load_run
from voxpop.study.checks import check_recipe
from voxpop.study.loading import recipe_from_dict

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def invoke(*args) -> CliRunner:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def toy(name: str = "toy") -> Corpus:
    """Three clips: c1 anger x2 + calm; c2 calm x2 + sad; c3 sad x3."""
    items = pd.DataFrame({"speaker": ["s1", "s2", "s3"]}, index=["c1", "c2", "c3"])
    ratings = pd.DataFrame(
        {
            "item": ["c1", "c1", "c1", "c2", "c2", "c2", "c3", "c3", "c3"],
            "rater": ["r1", "r2", "r3"] * 3,
            "label": ["anger", "anger", "calm", "calm", "calm", "sad", "sad", "sad", "sad"],
        }
    )
    return Corpus(name, items, ratings, classes=["anger", "calm", "sad"])


def test_drop_removes_the_label_as_excluded_ratings_in_make_labels():
    labels = make_labels(toy(), "mr", class_map={"calm": "drop"})
    assert labels.classes == ["anger", "sad"]  # no class named 'drop', no calm
    # by hand: the 3 calm ratings are excluded ratings; denominator all: c1 anger 2/3 > 1/2 kept,
    # c2 top label calm (excluded) -> dropped, c3 sad 3/3 kept
    assert labels.accounting.ratings_excluded_class == 3
    assert labels.kept.to_dict() == {"c1": True, "c2": False, "c3": True}
    assert labels.targets.loc["c1"].tolist() == [1.0, 0.0]


def test_drop_means_the_same_in_merge_and_in_labels():
    merged, accounting = merge_corpora(
        [MergeSource(toy("a"), "a", {"calm": "drop"}), MergeSource(toy("b"), "b", {"calm": "drop"})]
    )
    assert merged.classes == ["anger", "sad"] and merged.excluded == ["calm"]
    assert accounting["ratings_dropped_label"].tolist() == [3, 3]
    labels = make_labels(merged, "mr")
    assert labels.accounting.ratings_excluded_class == 6 and "drop" not in labels.classes


def test_values_must_be_drop_a_corpus_label_or_a_listed_class():
    with pytest.raises(ConfigError, match=r"calm=clam: 'clam' would be a new class.*\(anger, calm, sad\)"):
        make_labels(toy(), "mr", class_map={"calm": "clam"})
    with pytest.raises(ConfigError, match=r"\['angry'\] are not labels of corpus 'toy'; its labels are anger, calm"):
        make_labels(toy(), "mr", class_map={"angry": "anger"})
    renamed = make_labels(toy(), "mr", class_map={"calm": "relaxed"}, classes=["anger", "relaxed", "sad"])
    assert renamed.classes == ["anger", "relaxed", "sad"] and renamed.kept.to_dict()["c2"]  # 2 of 3 relaxed
    merged = make_labels(toy(), "mr", class_map={"calm": "sad"})  # onto a class of the corpus: merged
    assert merged.classes == ["anger", "sad"] and merged.counts.loc["c2", "sad"] == 3
    with pytest.raises(ConfigError, match="'sadd' would be a new class"):
        merge_corpora([MergeSource(toy("a"), "a", {"sad": "sadd"}), MergeSource(toy("b"), "b")])


def test_a_label_mapped_twice_and_a_class_listed_twice_are_refused():
    with pytest.raises(ConfigError, match="label 'anger' is mapped to both 'happy' and 'sad'"):
        parse_class_map(["anger=happy", "anger=sad"])
    assert parse_class_map(["anger=sad", "anger=sad,calm=drop"]) == {"anger": "sad", "calm": "drop"}
    with pytest.raises(ConfigError, match="'anger' is listed twice"):
        check_classes(["anger", "sad", "anger"], "--classes")
    with pytest.raises(ConfigError, match="'anger' is listed twice"):
        make_labels(toy(), "mr", classes=["anger", "anger"])
    with pytest.raises(ConfigError, match="listed twice"):
        merge_corpora([MergeSource(toy("a"), "a"), MergeSource(toy("b"), "b")], classes=["sad", "sad"])
    with pytest.raises(ConfigError, match="is not LABEL=NEW"):
        parse_class_map(["anger"])
    assert check_class_map({}, ["a"], corpus="x").renames == {}
    assert resolve_classes(["a", "b"], [], None, {"b": "drop"}, corpus="x")[:2] == (["a"], ["b"])


def test_labels_cli_drop_and_refusals(tmp_path):
    toy().save(tmp_path / "toy")
    out = tmp_path / "mr.parquet"
    result = invoke("labels", tmp_path / "toy", "--rule", "mr", "--class-map", "calm=drop", "--out", out)
    assert result.exit_code == 0, result.output
    saved = LabelSet.load(out)
    assert saved.classes == ["anger", "sad"] and saved.accounting.ratings_excluded_class == 3
    twice = invoke("labels", tmp_path / "toy", "--rule", "mr", "--class-map", "anger=calm", "--class-map",
                   "anger=sad", "--out", out)  # fmt: skip
    assert twice.exit_code != 0 and "mapped to both 'calm' and 'sad'" in str(twice.exception)
    listed = invoke("labels", tmp_path / "toy", "--rule", "mr", "--classes", "anger,anger", "--out", out)
    assert listed.exit_code != 0 and "--classes: 'anger' is listed twice" in str(listed.exception)


def test_importer_class_map_drop_makes_an_excluded_label(tmp_path):
    table = tmp_path / "votes.csv"
    table.write_text("item,rater,label\nu1,r1,A\nu1,r2,C\nu2,r1,S\n")
    result = invoke("import", "long", table, "--class-map", "A=anger,S=sad,C=drop", "--out", tmp_path / "c")
    assert result.exit_code == 0, result.output
    corpus = Corpus.load(tmp_path / "c")
    assert corpus.classes == ["anger", "sad"] and corpus.excluded == ["C"]


def test_recipe_class_map_drop_removes_the_class(demo_corpus, tmp_path):
    spec = {"rule": "mr", "condition": "voice"}
    recipe = recipe_from_dict({
        "study": "drop", "corpus": {"path": str(demo_corpus.dir)}, "class_map": {"happy": "drop"},
        "labels": {"train": {"MR": spec}, "test": {"MR": spec}}, "features": {"extractor": "fbank"},
        "model": {"head": "logreg"},
    })  # fmt: skip
    labels = checked_label_sets(recipe, demo_corpus.corpus, tmp_path)["train", "MR"]
    assert labels.classes == ["neutral", "anger", "sad"]
    r = demo_corpus.corpus.ratings
    voice = r[r["slot"].eq("primary") & r["condition"].eq("voice")]
    assert labels.accounting.ratings_excluded_class == int(voice["label"].isin(["happy", "other"]).sum())
    bad = recipe_from_dict({**recipe.model_dump(exclude_none=True), "class_map": {"happy": "hapy"}})
    with pytest.raises(ConfigError, match="happy=hapy: 'hapy' would be a new class"):
        check_recipe(bad, demo_corpus.corpus)


def test_train_class_map_drop_trains_without_the_class(demo_corpus, tmp_path):
    out = tmp_path / "run"
    result = invoke(
        "train", demo_corpus.dir, "--labels", "mr", "--condition", "voice", "--class-map", "happy=drop",
        "--extractor", "fbank", "--store", tmp_path / "store", "--head", "logreg", "--k", "3", "--bootstrap", "20",
        "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output + repr(result.exception)
    run = load_run(out)
    assert run.labels.classes == ["neutral", "anger", "sad"]
    assert [c for c in run.predictions.columns if c != "fold"] == ["neutral", "anger", "sad"]
    assert yaml.safe_load((out / "recipe.yaml").read_text())["class_map"] == {"happy": "drop"}


def likert_only() -> Corpus:
    items = pd.DataFrame(index=["u1", "u2"])
    ratings = pd.DataFrame({"item": ["u1", "u1", "u2"], "rater": ["r1", "r2", "r1"], "slot": "intensity",
                            "label": ["anger", "anger", "sad"], "value": [3.0, 1.0, 2.0]})  # fmt: skip
    return Corpus("earkick-like", items, ratings, classes=["anger", "sad"], scales={"intensity": (0, 3)})


@pytest.mark.parametrize("rule", ["mr", "pr", "primary", "ar"])
def test_a_rule_without_ratings_in_its_slot_says_which_rule_applies(rule):
    with pytest.raises(ConfigError, match="no ratings in slot 'primary'; its slots are intensity: use rule='likert'"):
        make_labels(likert_only(), rule)
    assert make_labels(likert_only(), "likert").kept.tolist() == [True, True]


def test_the_cli_names_the_flag_of_the_rule_that_applies(tmp_path):
    likert_only().save(tmp_path / "c")
    result = invoke("labels", tmp_path / "c", "--rule", "mr", "--out", tmp_path / "mr.parquet")
    assert result.exit_code != 0
    assert "this corpus has no ratings in slot 'primary'; its slots are intensity: use --rule likert" in str(
        result.exception
    )


@pytest.mark.parametrize("class_map", [{"anger": "drop", "sad": "anger"}, {"sad": "anger", "anger": "drop"}])
def test_a_label_renamed_onto_a_dropped_label_is_refused(class_map):
    """anger=drop,sad=anger kept the dropped anger ratings under the name 'anger', now the class of the renamed
    sad ratings: c1 (anger x2) became an 'anger' target although anger was dropped."""
    with pytest.raises(ConfigError, match=r"sad=anger: 'anger' is dropped by the same map \(anger=drop\)"):
        make_labels(toy(), "mr", class_map=class_map)


def test_labels_cli_refuses_a_rename_onto_a_dropped_label(tmp_path):
    toy().save(tmp_path / "c")
    out = tmp_path / "l.parquet"
    result = invoke("labels", tmp_path / "c", "--rule", "mr", "--class-map", "calm=drop,sad=calm", "--out", out)
    assert result.exit_code != 0 and "'calm' is dropped by the same map" in str(result.exception)
    assert not out.exists()


@pytest.mark.parametrize(
    ("map_a", "map_b", "refused"),
    [
        ({"calm": "drop"}, {}, "corpus 'a' calm=drop: 'calm' is a class of corpus 'b'"),
        ({"calm": "drop"}, {"calm": "drop", "sad": "calm"}, None),  # b drops calm and renames onto it: refused below
        ({"anger": "sad"}, {"sad": "drop"}, "corpus 'b' sad=drop: 'sad' is a class of corpus 'a'"),
    ],
)
def test_merge_refuses_a_label_one_map_drops_and_another_corpus_keeps(map_a, map_b, refused):
    """a: calm=drop, b keeps calm: a's dropped calm ratings kept the name 'calm', a class of the merge, and a:c2
    (calm x2 + sad) became a calm target although a dropped calm."""
    with pytest.raises(ConfigError, match=refused or "'calm' is dropped by the same map"):
        merge_corpora([MergeSource(toy("a"), "a", map_a), MergeSource(toy("b"), "b", map_b)])


def test_an_importer_class_map_renaming_onto_a_dropped_label_names_the_map(tmp_path):
    """import long --class-map A=anger,S=C,C=drop was refused as "corpus.yaml, key 'excluded': ['C'] are both
    classes and excluded", pointing at a file the user never wrote."""
    table = tmp_path / "votes.csv"
    table.write_text("item,rater,label\nu1,r1,A\nu1,r2,C\nu2,r1,S\n")
    result = invoke("import", "long", table, "--class-map", "A=anger,S=C,C=drop", "--out", tmp_path / "c")
    assert result.exit_code != 0
    assert "class map S=C: 'C' is dropped by the same map (C=drop)" in str(result.exception)


def checked_label_sets(recipe, corpus, tmp_path):
    """The label sets the pre-flight check builds, read from the labels stages it ran them through."""
    from voxpop.core.cache import Cache
    from voxpop.study.definition import build_study
    from voxpop.study.plan import label_stages
    from voxpop.study.stages import load_labels

    study, cache = build_study(recipe, tmp_path), Cache(tmp_path / "cache")
    stages = label_stages(study, "corpus")
    check_recipe(study, corpus, cache=cache, label_stages=stages)
    return {key: load_labels(cache.directory(stage)) for key, stage in stages.items()}
