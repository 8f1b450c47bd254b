"""Recipes and the study runner: schema errors name key paths, checks fail before any work, the stage cache
makes a rerun compute nothing and an interrupted run resume to the same results; derived model sources
(tuned decisions, fusion, ensemble) match a direct computation."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

import voxpop.evaluation.results
import voxpop.labels.label_sets
import voxpop.models.cross_validation
import voxpop.study.checks
import voxpop.study.stages
from session_once import built_once
from voxpop.core.errors import ConfigError
from voxpop.corpus.corpus import Corpus
from voxpop.evaluation.analysis import dirichlet_fusion
from voxpop.evaluation.decision_tuning import tune_offsets
from voxpop.labels.counting import plurality
from voxpop.labels.labelset import LabelSet
from voxpop.labels.rules import accounting_table, make_labels
from voxpop.study.definition import build_study
from voxpop.study.loading import expand_variants, load_recipe, recipe_from_dict
from voxpop.study.plan import label_stages
from voxpop.study.run import StageError, run_recipe
from voxpop.study.stages import (
    Cache,
    Stage,
    Trained,
    compute_ensemble,
    compute_fusion,
    compute_tuned,
    load_labels,
    load_trained,
)


def run_recipe_with_report(*args, **kwargs):
    """run_recipe with the report written, as `voxpop run` does."""
    from voxpop.report.study import write_study_report

    return run_recipe(*args, on_run=write_study_report, **kwargs)


@pytest.fixture(scope="module")
def demo(demo_corpus, tmp_path_factory):
    """The session's tiny demo corpus (48 clips, 6 speakers, 3 conditions) and a feature store shared by the runs."""
    return SimpleNamespace(corpus=demo_corpus.dir, store=tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="session")
def finished_small(tmp_path_factory):
    """:func:`small_recipe` run once per test session with its report (:func:`session_once.built_once`): ``demo``
    (a tiny demo corpus and the feature store the run filled, both in the shared folder, so every worker's recipe
    is the same), ``out`` (the output folder: copy it before running into it), ``executed`` (the stages the run
    computed) and ``results`` (its results.parquet)."""
    from voxpop.corpus.demo import make_demo_corpus

    def build(folder):
        make_demo_corpus(folder / "demo", "tiny")
        demo = SimpleNamespace(corpus=folder / "demo" / "corpus", store=folder / "store")
        run = run_recipe_with_report(recipe_from_dict(small_recipe(demo)), folder / "out")
        (folder / "executed.json").write_text(json.dumps(run.executed))

    folder = built_once(tmp_path_factory, "finished-small-recipe", build)
    return SimpleNamespace(
        demo=SimpleNamespace(corpus=folder / "demo" / "corpus", store=folder / "store"),
        out=folder / "out",
        executed=json.loads((folder / "executed.json").read_text()),
        results=pd.read_parquet(folder / "out" / "results.parquet"),
    )


def small_recipe(demo, **changes) -> dict:
    """MR and PR models on fbank features, 3 speaker folds, 2 epochs, scored on MR / PR / AR test sets."""
    recipe = {
        "study": "small",
        "corpus": {"path": str(demo.corpus)},
        "labels": {
            "train": {"MR": {"rule": "mr", "condition": "voice"}, "PR": {"rule": "pr", "condition": "voice"}},
            "test": {
                "MR": {"rule": "mr", "condition": "voice"},
                "PR": {"rule": "pr", "condition": "voice"},
                "AR": {"rule": "ar-test", "condition": "voice"},
            },
        },
        "features": {"extractor": "fbank", "options": {"n_mels": 20}, "store": str(demo.store)},
        "model": {"head": "mlp", "head_options": {"hidden_dim": 16}, "epochs": 2, "batch_size": 8},
        "protocol": {"speaker_folds": {"k": 3}},
        "evaluation": {"bootstrap": 50},
        "analyses": {"loss_accounting": True, "confusion": True},
    }
    recipe.update(changes)
    return recipe


def write(tmp_path, data: dict):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# ====================================================================== schema
def test_misspelt_keys_are_errors_naming_the_full_key_path(tmp_path, demo):
    data = small_recipe(demo)
    data["model"] = {"optimiser": {"lr_rate": 0.1}, "epoch": 3}
    data["labels"]["train"]["MR"]["thresold"] = 0.5
    with pytest.raises(ConfigError) as error:
        load_recipe(write(tmp_path, data))
    message = str(error.value)
    allowed = "lr, backbone_lr, betas, weight_decay, schedule, warmup_steps, warmup_ratio"
    assert f"model.optimiser.lr_rate: unknown key (allowed: {allowed})" in message
    assert "model.epoch: unknown key" in message
    assert "labels.train.MR.thresold: unknown key" in message
    assert "(3 problems)" in message


def test_overrides_set_values_and_unknown_override_paths_are_errors(tmp_path, demo):
    path = write(tmp_path, small_recipe(demo))
    recipe = load_recipe(
        path, ["model.epochs=7", "grid.model.loss=[ce, cbce]", "evaluation.by=gender", "evaluation.tie_policy=first"]
    )
    assert recipe.model.epochs == 7 and recipe.grid == {"model.loss": ["ce", "cbce"]}
    assert recipe.evaluation.by == "gender" and recipe.evaluation.tie_policy == "first"
    assert load_recipe(path).evaluation.tie_policy == "drop"
    with pytest.raises(ConfigError, match="evaluation.tie_policy"):
        load_recipe(path, ["evaluation.tie_policy=all"])
    with pytest.raises(ConfigError, match=r"protocol\.speaker_folds\.kk: unknown key"):
        load_recipe(path, ["protocol.speaker_folds.kk=4"])
    with pytest.raises(ConfigError, match="expected KEY.PATH=VALUE"):
        load_recipe(path, ["model.epochs"])


def test_grid_and_named_variants_expand_to_every_combination(demo):
    data = small_recipe(demo)
    linear = {"head": "linear", "head_options": {}}  # the base's hidden_dim is an option of mlp only
    data["variants"] = {"a": {"model": linear}, "b": {"model": {"head": "mlp", "epochs": 3}}}
    data["grid"] = {"model.loss": ["ce", "kld"], "model.batch_size": [4, 8]}
    variants = expand_variants(recipe_from_dict(data))
    assert len(variants) == 8
    assert variants[0][0] == "a, loss=ce, batch_size=4"
    by_name = dict(variants)
    chosen = by_name["b, loss=kld, batch_size=8"].model
    assert (chosen.head, chosen.loss, chosen.batch_size, chosen.epochs) == ("mlp", "kld", 8, 3)
    assert by_name["a, loss=ce, batch_size=4"].model.epochs == 2  # the base value where a variant says nothing


def test_bad_grid_values_and_sections_name_their_position(demo):
    data = small_recipe(demo, grid={"model.head": ["mlp", "transformer"], "labels.train": [{}]})
    with pytest.raises(ConfigError) as error:
        recipe_from_dict(data)
    assert "grid.labels.train: only keys under features, model, protocol can vary" in str(error.value)
    data["grid"] = {"model.head": ["mlp", "transformer"]}
    with pytest.raises(ConfigError, match=r"grid\.model\.head\[1\] \(transformer\): model\.head: unknown head"):
        recipe_from_dict(data)


# ====================================================================== checks before any work
def count_only_corpus(tmp_path):
    """Vote counts without rater ids (CREMA-D's public table style), primary and secondary slots."""
    items = pd.DataFrame({"speaker": ["s1", "s2", "s3"], "audio": ["a.wav", "b.wav", "c.wav"]}, index=["a", "b", "c"])
    rows = [(item, label, slot) for item in "abc" for label, slot in [("anger", "primary"), ("sad", "secondary")]]
    ratings = pd.DataFrame(rows, columns=["item", "label", "slot"])
    Corpus("votes", items, ratings, classes=["anger", "sad"]).save(tmp_path / "votes")
    return tmp_path / "votes"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"labels.train.S*": {"rule": "secondary", "min_agreement": 0.5}}, r"labels\.train\.S\*: .*needs rater ids"),
        ({"classes": ["anger", "calm"]}, r"classes: \['calm'\] are not classes of corpus 'votes'"),
        ({"labels.test.V": {"rule": "mr", "condition": "video"}}, r"labels\.test\.V: condition \['video'\] not found"),
        ({"analyses": {"agreement": {"pearson": True}}}, r"analyses\.agreement\.pearson: .*needs rater ids"),
        ({"labels.train.T": {"rule": "likert", "threshold": "best"}}, r"labels\.train\.T\.threshold: 'best' needs"),
        ({"protocol": {"speaker_folds": {"column": "talker"}}}, r"protocol: .*item column 'talker'"),
        (
            {"protocol": {"speaker_folds": {"k": 3, "dev": False}}, "analyses": {"tuned_decisions": True}},
            r"analyses\.tuned_decisions\.tune_on: folds \['fold1', 'fold2', 'fold3'\] have no development items",
        ),
        (
            {"analyses": {"fusion": {"predictions": {"video": "video.parquet"}}}},
            r"analyses\.fusion\.tune_on: imported predictions \(video\) have no development outputs",
        ),
        # one model per label set: nothing to combine (a silent no-op that held out dev items for nothing)
        ({"analyses": {"fusion": {}}}, r"analyses\.fusion: combines the models of two or more .* trains 1 per label"),
        ({"analyses": {"ensemble": True}}, r"analyses\.ensemble: combines the models of two or more variants"),
    ],
)
def test_recipe_that_does_not_fit_the_corpus_fails_before_any_work(tmp_path, change, expected):
    data = {
        "study": "votes",
        "corpus": {"path": str(count_only_corpus(tmp_path))},
        "labels": {"train": {"MR": {"rule": "mr"}}, "test": {"MR": {"rule": "mr"}}},
        "features": {"extractor": "fbank"},
        "protocol": {"speaker_folds": {"k": 3, "dev": True}},
    }
    for key, value in change.items():
        part, _, name = key.partition(".")
        if part == "labels":
            kind, _, label = name.partition(".")
            data["labels"][kind][label] = value
        elif key == "classes":
            data["classes"] = value
        else:
            data[key] = value
    recipe = recipe_from_dict(data)
    with pytest.raises(ConfigError, match=expected):
        run_recipe_with_report(recipe, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # no stage ran, not even a directory was made


def test_a_saved_label_set_of_another_corpus_fails_before_any_work(tmp_path):
    """rule: file with a label set whose items are not the corpus's: named pre-flight, not a fold error later."""
    path = count_only_corpus(tmp_path)
    items = pd.DataFrame({"speaker": ["s1", "s2"]}, index=["x1", "x2"])
    ratings = pd.DataFrame({"item": ["x1", "x2"], "label": ["anger", "sad"], "slot": ["primary", "primary"]})
    make_labels(Corpus("other", items, ratings, classes=["anger", "sad"]), "pr").save(tmp_path / "other.parquet")
    data = {
        "study": "votes",
        "corpus": {"path": str(path)},
        "labels": {
            "train": {"O": {"rule": "file", "path": str(tmp_path / "other.parquet")}},
            "test": {"P": {"rule": "pr"}},
        },
        "features": {"extractor": "fbank"},
        "protocol": {"speaker_folds": {"k": 3, "dev": False}},
    }
    with pytest.raises(ConfigError, match=r"labels\.train\.O\.path: none of the 2 items .* 'x1'.* corpus 'votes'"):
        run_recipe_with_report(recipe_from_dict(data), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_label_set_problems_are_listed_in_recipe_order_whatever_check_finds_them(tmp_path):
    """A rule that fails to build (labels.train.A, found while building) is listed before a later label set's
    problem found before building (labels.train.B), as the recipe orders them."""
    data = {
        "study": "votes",
        "corpus": {"path": str(count_only_corpus(tmp_path))},
        "labels": {
            "train": {"A": {"rule": "mr", "condition": "video"}, "B": {"rule": "likert", "threshold": "best"}},
            "test": {"A": {"rule": "mr", "condition": "video"}},
        },
        "features": {"extractor": "fbank"},
        "protocol": {"speaker_folds": {"k": 3, "dev": False}},
    }
    with pytest.raises(ConfigError) as error:
        run_recipe_with_report(recipe_from_dict(data), tmp_path / "out")
    lines = [line for line in str(error.value).splitlines() if line.startswith("  - labels.")]
    assert [line.split(":")[0] for line in lines[:3]] == [
        "  - labels.train.A",
        "  - labels.train.B.threshold",
        "  - labels.test.A",
    ]


def test_pre_flight_label_sets_are_built_with_the_stages_thread_count(demo_corpus, monkeypatch):
    """Whether a label set is built in the main process (all cores) or on a worker (one thread), its BLAS runs
    with the study's --threads, as a labels stage computes: Dawid-Skene's float sums come out the same."""
    from threadpoolctl import threadpool_info

    import voxpop.labels.label_sets
    from voxpop.study import checks as preflight

    seen = []
    real = voxpop.labels.label_sets.make_labels

    def recording(*args, **kwargs):
        seen.append({pool["num_threads"] for pool in threadpool_info()})
        return real(*args, **kwargs)

    monkeypatch.setattr(voxpop.labels.label_sets, "make_labels", recording)  # what the check and the stage call
    recipe = recipe_from_dict({
        "study": "threads", "corpus": {"path": str(demo_corpus.dir)},
        "labels": {"train": {"MR": {"rule": "mr", "condition": "voice"}}, "test": {"MR": {"rule": "mr", "pool": True}}},
    })  # fmt: skip
    preflight.check_recipe(recipe, demo_corpus.corpus, threads=1)
    assert seen and all(counts == {1} for counts in seen)
    if len(os.sched_getaffinity(0)) > 1:  # without the limit the pools use every core
        assert {pool["num_threads"] for pool in threadpool_info()} != {1}


def test_pre_flight_sends_only_learned_rules_to_the_map_function(demo_corpus, tmp_path):
    """A cluster run's map_function gets the label sets of learned rules (a model fit each); counting rules are
    built in the main process. Both kinds come back as the rule builds them."""
    from voxpop.study import checks as preflight

    given = []

    def recording_map(function, jobs):
        given.extend(spec.rule for _, spec in jobs)
        return map(function, jobs)

    recipe = recipe_from_dict({
        "study": "learned", "corpus": {"path": str(demo_corpus.dir)},
        "labels": {"train": {"MR": {"rule": "mr", "condition": "voice"},
                             "DS": {"rule": "dawid-skene", "condition": "voice"}},
                   "test": {"PR": {"rule": "pr", "condition": "voice"}}},
    })  # fmt: skip
    study, cache = build_study(recipe, tmp_path), Cache(tmp_path / "cache")
    stages = label_stages(study, "corpus")
    preflight.check_recipe(study, demo_corpus.corpus, map_function=recording_map, cache=cache, label_stages=stages)
    built = {key: load_labels(cache.directory(stage)) for key, stage in stages.items()}  # run through the cache
    assert given == ["dawid-skene"]
    expected = make_labels(demo_corpus.corpus, "dawid-skene", condition="voice")
    pd.testing.assert_frame_equal(built["train", "DS"].targets, expected.targets)
    assert built["test", "PR"].rule == "pr" and built["train", "MR"].rule == "mr"


# ====================================================================== the cache
def test_stage_cache_writes_the_marker_last_and_reuses_finished_stages(tmp_path):
    cache = Cache(tmp_path)
    stage = Stage("labels", "MR", {"rule": "mr"})

    def fail(directory):
        (directory / "partial.txt").write_text("x")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cache.run(stage, fail)
    assert not cache.is_done(stage) and (cache.directory(stage) / "partial.txt").is_file()
    calls = []
    cache.run(stage, lambda d: calls.append(d))
    cache.run(stage, lambda d: calls.append(d))  # computed by this cache: found done, listed once (executed)
    assert len(calls) == 1 and cache.executed == ["MR"] and cache.reused == []
    later = Cache(tmp_path)  # a later run: reuses it
    later.run(stage, lambda d: calls.append(d))
    assert len(calls) == 1 and later.executed == [] and later.reused == ["MR"]
    assert cache.directory(stage).name == f"labels-{stage.key}"


def test_rerunning_a_finished_recipe_runs_no_stage(tmp_path, finished_small, monkeypatch):
    recipe = recipe_from_dict(small_recipe(finished_small.demo))
    first = finished_small  # the first run, into the folder copied here
    assert "train MR (base)" in first.executed and "evaluate PR -> AR (base)" in first.executed
    shutil.copytree(first.out, tmp_path / "out", symlinks=True)
    report = (tmp_path / "out" / "report.html").read_bytes()

    def refuse(*args, **kwargs):
        raise AssertionError("a finished stage was computed again")

    for name in ("cross_validate", "fill_store", "score_test_set", "accounting_table"):
        monkeypatch.setattr(voxpop.study.stages, name, refuse)
    monkeypatch.setattr(voxpop.labels.label_sets, "make_labels", refuse)  # not even the check builds one again
    second = run_recipe_with_report(recipe, tmp_path / "out")
    assert second.executed == [] and len(second.reused) == len(first.executed)
    pd.testing.assert_frame_equal(first.results, second.results)
    assert (tmp_path / "out" / "report.html").read_bytes() == report


def test_interrupted_run_resumes_its_folds_and_ends_with_the_same_results(tmp_path, finished_small, monkeypatch):
    recipe = recipe_from_dict(small_recipe(finished_small.demo))
    reference = finished_small  # the same recipe run without interruption
    train_fold = voxpop.models.cross_validation._train_fold
    calls = []

    def killed_on_fifth_fold(*args, **kwargs):
        calls.append(args[4])
        if len(calls) == 5:  # MR's three folds and PR's first fold are saved by now
            raise KeyboardInterrupt
        return train_fold(*args, **kwargs)

    monkeypatch.setattr(voxpop.models.cross_validation, "_train_fold", killed_on_fifth_fold)
    with pytest.raises(KeyboardInterrupt):
        run_recipe_with_report(recipe, tmp_path / "resumed")
    assert not (tmp_path / "resumed" / "results.parquet").exists()
    calls.clear()
    monkeypatch.setattr(
        voxpop.models.cross_validation, "_train_fold", lambda *a, **k: calls.append(a[4]) or train_fold(*a, **k)
    )
    resumed = run_recipe_with_report(recipe, tmp_path / "resumed")
    assert calls == ["fold2", "fold3"]  # only PR's unfinished folds were trained
    assert "train MR (base)" not in resumed.executed and "train PR (base)" in resumed.executed
    pd.testing.assert_frame_equal(reference.results, resumed.results)
    assert (tmp_path / "resumed" / "report.md").read_text() == (reference.out / "report.md").read_text()


def test_results_are_tidy_and_match_a_direct_evaluation(tmp_path, finished_small):
    shutil.copytree(finished_small.out, tmp_path / "out", symlinks=True)
    # every stage reused from the finished run's cache: its outputs, as the first run computed them
    run = run_recipe(recipe_from_dict(small_recipe(finished_small.demo)), tmp_path / "out")
    assert run.executed == []
    results = pd.read_parquet(tmp_path / "out" / "results.parquet")
    assert list(results.columns[:9]) == ["study", "variant", "train", "test", "group", "metric", "value", "low", "high"]
    assert set(zip(results["train"], results["test"], strict=True)) == {
        (a, b) for a in ("MR", "PR") for b in ("MR", "PR", "AR")
    }
    trained = run.output(run.plan.sources["base", "MR"])
    labels = make_labels(run.corpus, "ar-test", condition="voice")
    direct = voxpop.evaluation.results.evaluate_predictions(trained.predictions, labels, n_boot=50, seed=0)
    mine = results[results["train"].eq("MR") & results["test"].eq("AR")].reset_index(drop=True)
    np.testing.assert_allclose(mine["value"], direct["value"])
    np.testing.assert_allclose(mine["low"], direct["low"])
    accounting = run.output(run.plan.analyses["accounting"])
    pd.testing.assert_frame_equal(accounting, accounting_table(run.corpus))
    html = (tmp_path / "out" / "report.html").read_text()
    assert "The corpus is SYNTHETIC" in html and "<script" not in html


# ====================================================================== derived model sources
def two_fold_source() -> tuple[Trained, LabelSet]:
    rng = np.random.default_rng(4)
    items = [f"i{k}" for k in range(40)]
    probs = pd.DataFrame(rng.dirichlet([1, 1, 1], size=40), index=items, columns=["A", "S", "N"])
    predictions = probs.assign(fold=["fold1"] * 20 + ["fold2"] * 20)
    counts = pd.DataFrame(rng.integers(0, 4, size=(40, 3)), index=items, columns=["A", "S", "N"])
    counts.iloc[:, 0] += 1
    labels = plurality(counts)
    return Trained(predictions, multilabel=False), labels


def test_tuned_offsets_of_a_fold_are_chosen_on_the_other_folds_kept_items(tmp_path):
    source, labels = two_fold_source()
    compute_tuned(source, labels, tmp_path, tune_on="other_folds")
    tuned = load_trained(tmp_path)
    dev = [i for i in source.predictions.index[20:] if labels.kept[i]]
    truth = labels.targets.loc[dev].idxmax(axis=1)
    offsets = tune_offsets(source.probabilities.loc[dev], truth)
    expected = source.probabilities.iloc[:20] + offsets.to_numpy()
    np.testing.assert_allclose(tuned.probabilities.loc[expected.index].to_numpy(), expected.to_numpy())
    assert tuned.details.set_index("fold").loc["fold1"].tolist() == offsets.tolist()


def test_fusion_weights_of_a_fold_come_from_the_other_folds(tmp_path):
    audio, labels = two_fold_source()
    rng = np.random.default_rng(9)
    video = audio.predictions.copy()
    video[["A", "S", "N"]] = rng.dirichlet([1, 1, 1], size=40)
    compute_fusion({"audio": audio, "video": Trained(video, False)}, labels, 200, 3, tmp_path, "other_folds")
    fused = load_trained(tmp_path)
    dev = [i for i in audio.predictions.index[:20] if labels.kept[i]]  # fold2's weights: chosen on fold1
    truth = labels.targets.loc[dev].idxmax(axis=1).astype("string")
    direct = dirichlet_fusion(
        {"audio": audio.probabilities.loc[dev], "video": video.loc[dev, ["A", "S", "N"]]}, truth, n_draws=200, seed=3
    )
    weights = fused.details[fused.details["fold"].eq("fold2")].set_index("model")[["A", "S", "N"]]
    np.testing.assert_allclose(weights.to_numpy(), direct.weights.to_numpy())
    expected = direct.apply({"audio": audio.probabilities.iloc[20:], "video": video.iloc[20:][["A", "S", "N"]]})
    np.testing.assert_allclose(fused.probabilities.loc[expected.index].to_numpy(), expected.to_numpy())


def with_dev_predictions(source: Trained, seed: int) -> Trained:
    """The source plus each fold model's outputs on its own dev items: fold1 develops on i0..i9, fold2 on i20..i29
    (items of the other fold, as speaker folds' dev groups are)."""
    rng = np.random.default_rng(seed)
    items = [f"i{k}" for k in [*range(10), *range(20, 30)]]
    dev = pd.DataFrame(rng.dirichlet([1, 1, 1], size=20), index=items, columns=["A", "S", "N"])
    return dataclasses.replace(source, dev_predictions=dev.assign(fold=["fold2"] * 10 + ["fold1"] * 10))


def test_tuned_offsets_of_a_fold_are_chosen_on_its_own_dev_predictions(tmp_path):
    source, labels = two_fold_source()
    source = with_dev_predictions(source, 6)
    compute_tuned(source, labels, tmp_path)  # tune_on="dev", the default
    tuned = load_trained(tmp_path)
    own = source.dev_predictions[source.dev_predictions["fold"].eq("fold1")].drop(columns="fold")
    own = own[labels.kept.loc[own.index].to_numpy()]
    offsets = tune_offsets(own, labels.targets.loc[own.index].idxmax(axis=1))
    expected = source.probabilities.iloc[:20] + offsets.to_numpy()
    np.testing.assert_allclose(tuned.probabilities.loc[expected.index].to_numpy(), expected.to_numpy())
    assert tuned.details.set_index("fold").loc["fold1"].tolist() == offsets.tolist()
    with pytest.raises(ConfigError, match="no development predictions .* tune_on: other_folds"):
        compute_tuned(two_fold_source()[0], labels, tmp_path / "again")


def test_fusion_weights_of_a_fold_come_from_its_own_dev_predictions(tmp_path):
    audio, labels = two_fold_source()
    audio = with_dev_predictions(audio, 7)
    video = with_dev_predictions(Trained(audio.predictions.copy(), False), 8)
    video.predictions[["A", "S", "N"]] = np.random.default_rng(9).dirichlet([1, 1, 1], size=40)
    compute_fusion({"audio": audio, "video": video}, labels, 200, 3, tmp_path)
    fused = load_trained(tmp_path)
    dev = {n: s.dev_predictions[s.dev_predictions["fold"].eq("fold2")].drop(columns="fold") for n, s in
           {"audio": audio, "video": video}.items()}  # fmt: skip
    kept = [i for i in dev["audio"].index if labels.kept[i]]
    truth = labels.targets.loc[kept].idxmax(axis=1)
    direct = dirichlet_fusion({n: t.loc[kept] for n, t in dev.items()}, truth, n_draws=200, seed=3)
    weights = fused.details[fused.details["fold"].eq("fold2")].set_index("model")[["A", "S", "N"]]
    np.testing.assert_allclose(weights.to_numpy(), direct.weights.to_numpy())
    test = {n: s.probabilities.iloc[20:] for n, s in {"audio": audio, "video": video}.items()}
    np.testing.assert_allclose(fused.probabilities.iloc[20:].to_numpy(), direct.apply(test).to_numpy())


def test_ensemble_of_softmax_and_sigmoid_sources_averages_distributions(tmp_path):
    index = ["x", "y"]
    softmax = Trained(pd.DataFrame({"A": [0.8, 0.2], "S": [0.2, 0.8], "fold": ["f1", "f2"]}, index=index), False)
    sigmoid = Trained(pd.DataFrame({"A": [0.9, 0.3], "S": [0.3, 0.3], "fold": ["f1", "f2"]}, index=index), True)
    compute_ensemble({"softmax": softmax, "sigmoid": sigmoid}, tmp_path)
    ensemble = load_trained(tmp_path)
    # x: (0.8 + 0.9 / 1.2) / 2 = 0.775; y: (0.2 + 0.5) / 2 = 0.35
    np.testing.assert_allclose(ensemble.probabilities["A"], [0.775, 0.35])
    assert not ensemble.multilabel and ensemble.predictions["fold"].tolist() == ["f1", "f2"]


def test_a_failing_stage_is_named_with_its_cache_directory(tmp_path, demo):
    data = small_recipe(demo)
    data["model"] = {"head": "logreg", "head_options": {"pca_components": 500}}
    with pytest.raises(StageError, match=r"stage 'train MR \(base\)' \(.*train-[0-9a-f]{20}\): .*pca_components"):
        run_recipe_with_report(recipe_from_dict(data), tmp_path / "out")


def test_labels_with_the_swept_best_threshold(tmp_path, demo):
    data = small_recipe(demo)
    data["labels"] = {"train": {}, "test": {"best": {"rule": "likert", "condition": "voice", "threshold": "best"}}}
    data["analyses"] = {"threshold_sweep": {"conditions": ["voice", "av"], "grid": "0.05:0.95:0.05"}}
    run = run_recipe_with_report(recipe_from_dict(data), tmp_path / "out")
    _, summary, _ = run.output(run.plan.sweep)  # curve, summary, positive items
    labels = run.output(run.plan.labels["test", "best"])
    assert labels.options["threshold"] == summary["best_threshold"]
    direct = make_labels(run.corpus, "likert", condition="voice", threshold=summary["best_threshold"])
    pd.testing.assert_frame_equal(labels.targets, direct.targets)
    assert dataclasses.asdict(labels.accounting) == dataclasses.asdict(direct.accounting)


def test_the_runner_reuses_the_label_sets_built_by_the_check(tmp_path, demo, monkeypatch):
    data = small_recipe(demo)
    data["labels"]["train"] = {}
    data["analyses"] = {}
    built = []

    def counted(*args, **kwargs):
        built.append(args[1])
        return make_labels(*args, **kwargs)

    monkeypatch.setattr(voxpop.labels.label_sets, "make_labels", counted)  # the check's and the stages' builder
    run = run_recipe_with_report(recipe_from_dict(data), tmp_path / "out")
    assert built == ["mr", "pr", "ar-test"]  # once each in the whole run: the check built them through the stages
    saved = run.output(run.plan.labels["test", "PR"])
    direct = make_labels(run.corpus, "pr", condition="voice")
    pd.testing.assert_frame_equal(saved.targets, direct.targets)
    assert saved.options["denominator"] == "all"


def test_resample_speakers_on_a_corpus_without_speakers_fails_before_training(demo_corpus):
    """The cluster bootstrap needs the speaker column: refused by the pre-flight check, not after training."""
    c = demo_corpus.corpus
    corpus = Corpus(
        "nospeaker", c.items.drop(columns="speaker"), c.ratings, c.classes, excluded=c.excluded, scales=c.scales
    )
    recipe = recipe_from_dict(
        {"study": "s", "corpus": {"demo": {"size": "tiny"}}, "labels": {"train": {"mr": {"rule": "mr"}}},
         "features": {"extractor": "fbank"}, "protocol": {"leave_one_out": {"column": "fold"}},
         "evaluation": {"resample": "speakers"}}
    )  # fmt: skip
    with pytest.raises(ConfigError, match="evaluation.resample: speakers .* corpus 'nospeaker' has no 'speaker'"):
        voxpop.study.checks.check_recipe(recipe, corpus)


def test_neural_only_settings_do_not_change_a_classical_heads_spec():
    from voxpop.study.recipe import ModelConfig

    for head in ("logreg", "svm"):
        base = ModelConfig(head=head, epochs=3).spec()
        assert ModelConfig(head=head, epochs=4, loss="cbce", batch_size=8).spec() == base  # same stage key
        assert ModelConfig(head=head, seed=1).spec() != base  # the seed it uses
    assert ModelConfig(head="mlp", epochs=3).spec() != ModelConfig(head="mlp", epochs=4).spec()


def test_a_study_is_built_once_and_placed_in_one_output_directory(tmp_path):
    from voxpop.study.definition import as_study, build_study

    grid = {"model.head": ["mlp", "svm"]}
    recipe = recipe_from_dict({"study": "s", "corpus": {"demo": {"size": "tiny"}}, "grid": grid})
    study = build_study(recipe)  # planning only: no output directory, no corpus directory
    assert study.variant_names == ["head=mlp", "head=svm"] and study.corpus_dir is None
    placed = as_study(study, tmp_path / "out")
    assert placed.variants is study.variants  # not expanded again
    expected = (tmp_path / "out" / "cache" / study.corpus_stage.name).resolve() / "demo" / "corpus"
    assert placed.corpus_dir == expected and as_study(placed, tmp_path / "out") is placed
    with pytest.raises(ConfigError, match="built for output directory .*out, not .*other"):
        as_study(placed, tmp_path / "other")
