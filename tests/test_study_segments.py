"""Study 2 on an interval corpus (RAMAS style): one segment corpus for every consensus level, every level's
model scored on every level's segments, and a rerun that computes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.corpus import Corpus
from voxpop.labels.rules import make_labels
from voxpop.labels.segments import on_segments, union_segment_corpus
from voxpop.study.checks import check_recipe
from voxpop.study.loading import load_recipe, recipe_from_dict
from voxpop.study.plan import plan_study
from voxpop.study.run import run_recipe

RATE = 16000
RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "2-confidence-levels.yaml"
LEVELS = ("L1", "L2", "L3")


def clip(emotion: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Anger: a 220 Hz tone; sad: a white-noise burst."""
    n = round(seconds * RATE)
    if emotion == "anger":
        return 0.5 * np.sin(2 * np.pi * 220 * np.arange(n) / RATE)
    return 0.3 * rng.standard_normal(n)


@pytest.fixture(scope="module")
def interval_corpus(tmp_path_factory) -> Path:
    """5 recordings of 4 s by 3 speakers; raters a, b, c mark each second with a shrinking interval, and
    rater c skips the last second of every other recording (no level-3 segment there: a dropped item)."""
    root = tmp_path_factory.mktemp("intervals")
    rng = np.random.default_rng(0)
    audio, speakers, intervals = {}, {}, []
    for r in range(5):
        name = f"rec{r}"
        emotions = ["anger", "sad", "anger", "sad"] if r % 2 == 0 else ["sad", "anger", "sad", "anger"]
        audio[name] = str(root / f"{name}.wav")
        soundfile.write(audio[name], np.concatenate([clip(e, 1.0, rng) for e in emotions]).astype(np.float32), RATE)
        speakers[name] = f"s{r % 3}"
        for k, emotion in enumerate(emotions):
            intervals += [(name, "a", emotion, k + 0.0, k + 1.0), (name, "b", emotion, k + 0.1, k + 0.9)]
            intervals += [] if (k == 3 and r % 2) else [(name, "c", emotion, k + 0.3, k + 0.6)]
    items = pd.DataFrame({"audio": audio, "speaker": speakers}).assign(duration=4.0)
    ratings = pd.DataFrame(intervals, columns=["item", "rater", "label", "start", "end"])
    Corpus("ramas-like", items, ratings, classes=["anger", "sad"]).save(root / "corpus")
    return root


def overrides(root: Path) -> list[str]:
    """The recipe's interval-corpus alternative: levels 1..3, fbank + logreg, leave one speaker out."""
    levels = "{" + ", ".join(f"L{k}: {{rule: intervals, level: {k}}}" for k in (1, 2, 3)) + "}"
    return [
        "corpus.demo=null",
        f"corpus.path={root / 'corpus'}",
        "classes=[anger, sad]",
        f"labels.train={levels}",
        f"labels.test={levels}",
        "variants={}",
        "features.extractor=fbank",
        "features.options={n_mels: 16}",
        f"features.store={root / 'store'}",
        "model.head=logreg",
        "protocol={leave_one_out: {column: speaker}}",
        "evaluation.bootstrap=100",
        "analyses.fusion=null",
    ]


def test_confidence_levels_on_an_interval_corpus(interval_corpus, tmp_path):
    recipe = load_recipe(RECIPE, overrides(interval_corpus))
    run = run_recipe(recipe, tmp_path / "out", source="2-confidence-levels.yaml")
    results = run.results
    assert set(zip(results["train"], results["test"], strict=True)) == {(a, b) for a in LEVELS for b in LEVELS}
    corpus = Corpus.load(interval_corpus / "corpus")
    direct = {f"L{k}": make_labels(corpus, "intervals", level=k, classes=["anger", "sad"]) for k in (1, 2, 3)}
    # one segment corpus: the union of the levels' segments (ids differ across levels here)
    segments = run.output(run.plan.segments)
    assert sorted(segments.items.index) == sorted({i for labels in direct.values() for i in labels.targets.index})
    assert len(segments.items) == 3 * 5 * 4 - 2  # level 3 drops the 2 seconds rater c skipped: level-1 segments
    for level, labels in direct.items():
        used = run.output(run.plan.labels["test", level])
        assert used.accounting == labels.accounting  # the rule's accounting is untouched by the union
        assert used.kept.sum() == labels.kept.sum() and used.targets.index.equals(segments.items.index)
    # level 3 drops the two seconds only raters a and b marked
    assert direct["L3"].accounting.items_total - direct["L3"].accounting.items_kept == 2
    for train in LEVELS:
        predictions = run.output(run.plan.sources["base", train]).predictions
        assert sorted(predictions.index) == sorted(segments.items.index)  # every segment of every level predicted
        for test, labels in direct.items():
            kept = labels.kept.index[labels.kept.to_numpy()]
            in_test_folds = int(kept.isin(predictions.index).sum())
            cell = results[results["train"].eq(train) & results["test"].eq(test) & results["metric"].eq("uar")]
            assert cell["n_items"].tolist() == [in_test_folds] and in_test_folds == int(labels.kept.sum())
            assert cell["n_excluded"].tolist() == [len(segments.items) - in_test_folds]
    # tones and noise bursts are told apart on every held-out speaker
    assert results.loc[results["metric"].eq("uar"), "value"].min() == 1.0
    rerun = run_recipe(recipe, tmp_path / "out", source="2-confidence-levels.yaml")
    assert rerun.executed == [] and rerun.results.equals(results)


def test_segment_corpus_key_follows_the_levels(interval_corpus):
    base = load_recipe(RECIPE, overrides(interval_corpus))
    other = load_recipe(RECIPE, [*overrides(interval_corpus), "labels.test.L3.level=4"])
    first, second = plan_study(base, "corpus"), plan_study(other, "corpus")
    assert first.segments.key != second.segments.key
    assert first.features["base"].key != second.features["base"].key
    assert first.features["base"].inputs == (first.segments,)


def test_union_segment_corpus_and_on_segments_match_each_level(interval_corpus):
    corpus = Corpus.load(interval_corpus / "corpus")
    levels = [make_labels(corpus, "intervals", level=k) for k in (1, 2, 3, 2)]  # level 2 twice: united by id
    union = union_segment_corpus(corpus, levels)
    assert len(union.items) == 58 and union.items.index.is_unique
    windows = union.items.loc["rec1:sad:0.10-0.90"]
    assert (windows["recording"], windows["speaker"], windows["offset"]) == ("rec1", "s1", 0.1)
    assert windows["duration"] == pytest.approx(0.8)
    level3 = on_segments(levels[2], union)
    own = levels[2].targets.index
    pd.testing.assert_frame_equal(level3.targets.loc[own], levels[2].targets)
    pd.testing.assert_frame_equal(level3.segments.loc[own], levels[2].segments)
    others = union.items.index.difference(own)
    assert not level3.kept.loc[others].any() and level3.targets.loc[others].to_numpy().sum() == 0
    assert level3.segments.loc["rec1:sad:0.10-0.90"].tolist() == ["rec1", 0.1, pytest.approx(0.9)]
    with pytest.raises(InputError, match="not items of corpus"):
        on_segments(make_labels(corpus, "intervals", level=1), union_segment_corpus(corpus, levels[2:3]))


def minimal(root: Path, **changes) -> dict:
    return {
        "study": "intervals",
        "corpus": {"path": str(root / "corpus")},
        "labels": {
            "train": {"L2": {"rule": "intervals", "level": 2}},
            "test": {"L2": {"rule": "intervals", "level": 2}},
        },
        "features": {"extractor": "fbank"},
        "model": {"head": "logreg"},
        "protocol": {"leave_one_out": {"column": "recording"}},
        **changes,
    }


def test_checks_accept_recording_folds_and_refuse_mixed_rules_and_missing_audio(interval_corpus):
    corpus = Corpus.load(interval_corpus / "corpus")
    check_recipe(recipe_from_dict(minimal(interval_corpus)), corpus)  # 'recording' is a column of segment items
    mixed = minimal(
        interval_corpus, labels={"train": {"L2": {"rule": "intervals", "level": 2}}, "test": {"MR": {"rule": "mr"}}}
    )
    with pytest.raises(
        ConfigError, match=r"labels.train.L2 use rule 'intervals' .* but labels.test.MR label the recordings"
    ):
        check_recipe(recipe_from_dict(mixed), corpus)
    silent = Corpus(corpus.name, corpus.items.drop(columns="audio"), corpus.ratings, classes=corpus.classes)
    with pytest.raises(ConfigError, match=r"no 'audio' item column; the segments of rule 'intervals' are windows"):
        check_recipe(recipe_from_dict(minimal(interval_corpus)), silent)
