"""The leakage audit (``voxpop audit``, :mod:`voxpop.study.leakage`): each kind of finding on real RAVDESS and
CREMA-D data (skipped where ../shared/data is absent) and on small hand-made tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from typer.testing import CliRunner

import voxpop.cli
from voxpop.core.errors import ConfigError, InputError
from voxpop.corpus.formats.ravdess import read_ravdess
from voxpop.features.audio_hash import audio_digests, sample_digest
from voxpop.features.training_data import card_datasets, read_registry, training_data
from voxpop.models.protocols import SET_ASIDE, Fold, speaker_folds
from voxpop.study.leakage import audit_folds

ACTORS = ("01", "02", "03", "04")
LEAKY_ACTOR = "04"
TRAIN_CLIP = "03-01-05-02-01-01-01"  # actor 01, angry, strong, statement 1
COPY = "03-02-05-02-01-01-03"  # a song id no RAVDESS actor recorded: the float-WAV copy, tested with actor 03


def invoke(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(voxpop.cli.app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def _ravdess_corpus(shared_data: Path, tmp_path: Path, leaks: bool) -> Path:
    """Actors 01-04 of RAVDESS (links to the real clips) with a split column: 01, 02 train, 03 test; actor 04 half
    in test when ``leaks`` (else train), and with ``leaks`` the test item COPY, a float-WAV copy of TRAIN_CLIP."""
    root = tmp_path / "ravdess"
    for actor in ACTORS:
        folder = root / f"Actor_{actor}"
        folder.mkdir(parents=True)
        for clip in sorted((shared_data / "ravdess" / "Audio_Speech_Actors_01-24" / f"Actor_{actor}").glob("*.flac")):
            (folder / clip.name).symlink_to(clip)
    if leaks:
        samples, rate = soundfile.read(root / "Actor_01" / f"{TRAIN_CLIP}.flac", dtype="float32")
        soundfile.write(root / "Actor_03" / f"{COPY}.wav", samples, rate, subtype="FLOAT")
    corpus = read_ravdess(root)
    items = corpus.items
    split = np.where(items["speaker"].isin(["01", "02"]), "Train", "Test")
    leaky = np.flatnonzero(items["speaker"].eq(LEAKY_ACTOR).to_numpy())
    split[leaky[: len(leaky) // 2 if leaks else len(leaky)]] = "Train"
    corpus.items["split"] = split
    return corpus.save(tmp_path / "corpus")


def test_ravdess_split_speaker_and_audio_leaks(shared_data, tmp_path):
    directory = _ravdess_corpus(shared_data, tmp_path, leaks=True)
    code, output = invoke("audit", directory, "--protocol", "split", "--out", tmp_path / "audit.csv")
    assert code == 0, output
    findings = pd.read_csv(tmp_path / "audit.csv", dtype={"key": str})
    speaker = findings[findings["kind"].eq("speaker")]
    assert speaker[["fold", "key", "partitions", "items"]].values.tolist() == [["split", LEAKY_ACTOR, "test+train", 60]]
    audio = findings[findings["kind"].eq("audio")]
    assert len(audio) == 1
    assert sorted(audio["example"].iloc[0].split()) == sorted([TRAIN_CLIP, COPY])
    assert audio["key"].iloc[0].startswith("samples:")  # FLAC and float WAV: other bytes, same samples
    assert audio["partitions"].iloc[0] == "test+train"
    assert "leakage audit" in output
    code, output = invoke("audit", directory, "--protocol", "split", "--strict")
    assert code == 1, output


def test_ravdess_split_without_leaks_has_no_false_alarm(shared_data, tmp_path):
    directory = _ravdess_corpus(shared_data, tmp_path, leaks=False)
    code, output = invoke("audit", directory, "--protocol", "split", "--strict", "--out", tmp_path / "audit.csv")
    assert code == 0, output
    findings = pd.read_csv(tmp_path / "audit.csv")
    assert not findings["kind"].isin(["speaker", "audio"]).any()
    assert set(findings.loc[findings["kind"].eq("text"), "key"]) == {
        "Kids are talking by the door",
        "Dogs are sitting by the door",
    }


@pytest.fixture(scope="module")
def cremad(shared_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cremad") / "corpus"
    code, output = invoke("import", "crema-d", shared_data / "crema-d" / "tabulatedVotes.csv", "--out", out)
    assert code == 0, output
    return out


def test_cremad_speaker_folds_share_all_12_sentences(cremad, tmp_path):
    code, output = invoke("audit", cremad, "--k", 5, "--out", tmp_path / "audit.csv")
    assert code == 0, output
    findings = pd.read_csv(tmp_path / "audit.csv")
    assert set(findings["kind"]) == {"text"}
    items = pd.read_parquet(cremad / "items.parquet")
    assert sorted(set(findings["key"])) == sorted(items["sentence"].unique()) and findings["key"].nunique() == 12
    assert findings.groupby("fold")["key"].nunique().tolist() == [12] * 5


def test_cremad_sentence_disjoint_folds_and_set_aside_counts(cremad, tmp_path):
    code, output = invoke("audit", cremad, "--k", 5, "--disjoint", "sentence", "--out", tmp_path / "audit.csv")
    assert code == 0, output
    findings = pd.read_csv(tmp_path / "audit.csv")
    assert not findings["kind"].isin(["speaker", "text"]).any()
    items = pd.read_parquet(cremad / "items.parquet")
    folds = speaker_folds(items, 5, disjoint=["sentence"])
    for fold in folds:  # the printed count is every item in no partition of the fold
        aside = len(items) - len(fold.train) - len(fold.dev) - len(fold.test)
        assert aside > 0 and fold.left_out == {SET_ASIDE: aside}
        assert f"{fold.name}: set aside {aside:,}" in output
        test, rest = items.loc[fold.test], items.loc[fold.train.append(fold.dev)]
        assert not set(test["sentence"]) & set(rest["sentence"]) and not set(test["speaker"]) & set(rest["speaker"])


def test_disjoint_column_with_fewer_values_than_folds_is_refused(cremad):
    with pytest.raises(ConfigError, match=r"has 12 values, fewer than the k=13 folds"):  # voxpop's main: exit 2
        invoke("audit", cremad, "--k", 13, "--disjoint", "sentence")
    items = pd.read_parquet(cremad / "items.parquet")
    with pytest.raises(ConfigError, match=r"has 12 values, fewer than the k=13 folds"):
        speaker_folds(items, 13, disjoint=["sentence"])


def test_set_aside_accounting_by_hand():
    # speakers a..d, sentences x, y; k=2 without dev: each fold tests one speaker group's items of one sentence
    items = pd.DataFrame({"speaker": list("aabbccdd"), "sentence": list("xyxyxyxy")}, index=[f"i{n}" for n in range(8)])
    folds = speaker_folds(items, 2, dev=False, disjoint=["sentence"])
    for fold in folds:
        assert len(fold.test) == 2 and len(fold.train) == 2 and fold.left_out == {SET_ASIDE: 4}
        assert set(items.loc[fold.test, "sentence"]).isdisjoint(items.loc[fold.train, "sentence"])
        assert set(items.loc[fold.test, "speaker"]).isdisjoint(items.loc[fold.train, "speaker"])


def test_model_row_for_an_encoder_tuned_on_the_test_corpus(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))  # nothing cached, nothing downloaded
    directory = _ravdess_corpus(shared_data, tmp_path, leaks=False)
    tuned = "ehcalabres/wav2vec2-lg-xlsr-en-speech-emotion-recognition"
    code, output = invoke("audit", directory, "--protocol", "split", "--features", f"ssl:{tuned}",
                          "--out", tmp_path / "tuned.csv")  # fmt: skip
    assert code == 0, output
    rows = pd.read_csv(tmp_path / "tuned.csv").query("kind == 'model'")
    assert rows["key"].tolist() == [tuned]
    assert rows["example"].iloc[0] == f"RAVDESS (fine-tuning; https://huggingface.co/{tuned})"
    assert rows["items"].iloc[0] == 60  # the test items: actor 03's 60 clips (no leaks: actor 04 trains)
    code, output = invoke("audit", directory, "--protocol", "split", "--features", "ssl:microsoft/wavlm-base-plus",
                          "--out", tmp_path / "plain.csv")  # fmt: skip
    assert code == 0, output
    assert not pd.read_csv(tmp_path / "plain.csv")["kind"].eq("model").any()
    assert not (tmp_path / "empty-hub").exists()


def test_unknown_model_says_training_data_unknown_and_cached_card_is_read(tmp_path):
    items = pd.DataFrame({"speaker": ["a", "b"], "corpus": ["iemocap", "iemocap"]}, index=["1", "2"])
    fold = Fold("f", pd.Index(["1"]), pd.Index([]), pd.Index(["2"]))
    found = audit_folds(items, [fold], extractors=["ssl:nobody/unknown-model"])
    assert "model nobody/unknown-model: training data unknown" in " ".join(found.notes)
    snapshot = tmp_path / "models--someone--ser-model" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "README.md").write_text("---\nlicense: mit\ndatasets:\n- someone/IEMOCAP\n---\n# card\n")
    assert card_datasets("someone/ser-model", tmp_path) == (["someone/IEMOCAP"], str(snapshot / "README.md"))
    assert training_data("someone/ser-model", cache=tmp_path).corpora[0][:2] == ("someone/IEMOCAP", "model card")


def test_registry_rows_are_checked(tmp_path):
    shipped = read_registry()
    assert {"superb/wav2vec2-base-superb-er", "microsoft/wavlm-base-plus"} <= set(shipped["model"])
    bad = tmp_path / "registry.csv"
    bad.write_text("model,stage,corpora,source\nx/y,training,IEMOCAP,https://example.org\n")
    with pytest.raises(InputError, match=r"registry.csv, row 1, column 'stage': 'training'; expected one of"):
        read_registry(bad)


def test_flac_and_float_wav_copy_share_the_sample_digest_not_the_file_digest(tmp_path):
    pcm = (np.sin(np.arange(4000) / 7.0) * 20000).astype(np.int16)
    soundfile.write(tmp_path / "a.flac", pcm, 16000, subtype="PCM_16")
    decoded, rate = soundfile.read(tmp_path / "a.flac", dtype="float32")
    soundfile.write(tmp_path / "b.wav", decoded, rate, subtype="FLOAT")
    soundfile.write(tmp_path / "c.wav", decoded, 8000, subtype="FLOAT")  # another rate: another sound
    digests = audio_digests(pd.Series([str(tmp_path / n) for n in ("a.flac", "b.wav", "c.wav")], index=list("abc")))
    # a and b: the same rate and length, so both decoded and hashed; c has another rate, so it cannot match
    assert digests.loc["a", "sample_digest"] == digests.loc["b", "sample_digest"] == sample_digest(decoded, rate)
    assert digests.loc["c", "sample_digest"] is None and digests["readable"].tolist() == [True, True, True]
    # b and c: float WAVs of one size (hashed, and they differ in the rate in the header); a: a size of its own
    assert (tmp_path / "b.wav").stat().st_size == (tmp_path / "c.wav").stat().st_size
    assert digests.loc["a", "file_digest"] is None
    assert digests.loc["b", "file_digest"] != digests.loc["c", "file_digest"]


def test_speaker_text_and_identical_files_by_hand(tmp_path):
    soundfile.write(tmp_path / "x.wav", np.zeros(800, dtype=np.float32) + 0.1, 8000)
    items = pd.DataFrame(
        {"speaker": ["s1", "s1", "s2", "s3"], "sentence": ["A", "B", "B", "C"],
         "audio": [str(tmp_path / "x.wav"), "", str(tmp_path / "x.wav"), str(tmp_path / "missing.wav")]},
        index=["i1", "i2", "i3", "i4"],
    )  # fmt: skip
    fold = Fold("f", pd.Index(["i1", "i4"]), pd.Index(["i3"]), pd.Index(["i2"]))
    found = audit_folds(items, [fold])
    rows = found.findings[["kind", "key", "partitions", "items", "example"]].values.tolist()
    assert rows[0] == ["speaker", "s1", "test+train", 2, "i2 i1"]
    assert rows[1] == ["text", "B", "test+dev", 2, "i2 i3"]
    assert len(rows) == 2  # i1 and i3 share a file, but neither is a test item
    assert "audio: 2 items without a readable audio file were not compared" in found.notes
    fold = Fold("g", pd.Index(["i1"]), pd.Index([]), pd.Index(["i3"]))
    audio = audit_folds(items, [fold]).findings.query("kind == 'audio'")
    assert audio["key"].iloc[0].startswith("file:") and audio["example"].iloc[0] == "i3 i1"  # test ids first


def test_audio_digests_are_kept_in_the_feature_store(tmp_path, monkeypatch):
    from voxpop.study import leakage_check

    soundfile.write(tmp_path / "x.wav", np.full(800, 0.1, dtype=np.float32), 8000)
    items = pd.DataFrame({"audio": [str(tmp_path / "x.wav")] * 2 + [""]}, index=["a", "b", "c"])
    first = leakage_check.kept_digests(items, tmp_path / "store")
    assert first["readable"].tolist() == [True, True, False] and first.loc["a", "file_digest"] is not None
    assert len(list((tmp_path / "store" / leakage_check.DIGEST_FOLDER).glob("*.parquet"))) == 1

    def refuse(paths):
        raise AssertionError("digested again")

    monkeypatch.setattr(leakage_check, "audio_digests", refuse)
    again = leakage_check.kept_digests(items, tmp_path / "store")
    assert again.astype(object).equals(first.astype(object))
    assert again["readable"].tolist() == [True, True, False]


def test_recipe_protocol_with_flags_over_it(cremad, tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"study: s\ncorpus: {{path: {cremad}}}\nprotocol: {{speaker_folds: {{k: 3, seed: 4}}}}\n")
    code, output = invoke("audit", "--recipe", recipe, "--out", tmp_path / "a.csv")
    assert code == 0, output
    assert sorted(pd.read_csv(tmp_path / "a.csv")["fold"].unique()) == ["fold1", "fold2", "fold3"]
    code, output = invoke("audit", "--recipe", recipe, "--disjoint", "sentence", "--out", tmp_path / "b.csv")
    assert code == 0, output
    assert pd.read_csv(tmp_path / "b.csv").empty  # the recipe's k=3 and seed kept, sentences now disjoint
    items = pd.read_parquet(cremad / "items.parquet")
    for fold in speaker_folds(items, 3, seed=4, disjoint=["sentence"]):
        assert f"{fold.name}: set aside {fold.left_out[SET_ASIDE]:,}" in output
