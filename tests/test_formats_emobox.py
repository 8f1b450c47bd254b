"""EmoBox importer on a hand-built EmoBox folder (data/tinybox/: tinybox.jsonl, label_map.json, fold_N/), in the
layout of EmoBox's own data/<corpus>/ metadata: items, classes from the label map, wav paths, one split column per
fold, counted leftovers, errors naming file and line; and a fold run whose test items are the fold files'."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import voxpop.cli  # noqa: F401  (registers the verbs)
from voxpop.cli.app import app
from voxpop.core.errors import InputError
from voxpop.corpus.corpus import Corpus
from voxpop.corpus.formats import IMPORTERS, check_arguments
from voxpop.corpus.formats.emobox import read_emobox

LABEL_MAP = {"neu": "Neutral", "hap": "Happy", "ang": "Angry", "sad": "Sad", "exc": "Happy"}
# key suffix (speaker_clip) -> code; s4_a is in no fold file
UTTERANCES = {
    "s1_a": "neu", "s1_b": "ang", "s1_c": "exc",
    "s2_a": "hap", "s2_b": "sad", "s2_c": "neu",
    "s3_a": "ang", "s3_b": "sad", "s3_c": "exc",
    "s4_a": "neu",
}  # fmt: skip
FOLDS = {1: {"train": ["s2", "s3"], "test": ["s1"]}, 2: {"train": ["s1", "s3"], "test": ["s2"]}}


def _record(clip: str, code: str) -> dict:
    """One line as EmoBox writes it (field order of data/iemocap/iemocap.jsonl)."""
    return {
        "key": f"tinybox-{clip}", "dataset": "tinybox", "wav": f"downloads/tinybox/wav/{clip}.wav", "type": "raw",
        "sample_rate": 16000, "num_frame": 8000.0, "task": "category", "length": 0.5, "emo": code, "channel": 1,
    }  # fmt: skip


def _lines(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def make_emobox(root: Path, with_audio: bool = False) -> Path:
    """An EmoBox checkout with one corpus, 10 utterances of 4 speakers, 2 folds (and EmoDB's stray file name)."""
    folder = root / "data" / "tinybox"
    folder.mkdir(parents=True)
    (folder / "label_map.json").write_text(json.dumps(LABEL_MAP, indent=4))
    (folder / "tinybox.jsonl").write_text(_lines([_record(c, e) for c, e in UTTERANCES.items()]))
    for number, parts in FOLDS.items():
        fold = folder / f"fold_{number}"
        fold.mkdir()
        for part, speakers in parts.items():
            chosen = [_record(c, e) for c, e in UTTERANCES.items() if c.split("_")[0] in speakers]
            (fold / f"tinybox_{part}_fold_{number}.jsonl").write_text(_lines(chosen))
    (folder / "fold_1" / "tinybox_train_fold1.jsonl").write_text("")  # as data/emodb/fold_1/ has
    if with_audio:
        import soundfile

        audio = root / "downloads" / "tinybox" / "wav"
        audio.mkdir(parents=True)
        rng = np.random.default_rng(0)
        for i, clip in enumerate(UTTERANCES):
            t = np.arange(8000) / 16000
            tone = 0.3 * np.sin(2 * np.pi * (150 + 40 * i) * t) + 0.01 * rng.standard_normal(8000)
            soundfile.write(audio / f"{clip}.wav", tone.astype(np.float32), 16000)
    return root


def test_items_classes_audio_and_fold_columns(tmp_path):
    root = make_emobox(tmp_path / "EmoBox")
    corpus = read_emobox(root, "tinybox")
    keys = [f"tinybox-{c}" for c in UTTERANCES]
    assert list(corpus.items.index) == keys
    assert corpus.classes == ["Neutral", "Happy", "Angry", "Sad"]  # the map's values, first appearance
    assert corpus.class_map == LABEL_MAP
    by_hand = {"neu": "Neutral", "ang": "Angry", "exc": "Happy", "hap": "Happy", "sad": "Sad"}
    assert corpus.ratings["label"].tolist() == [by_hand[e] for e in UTTERANCES.values()]
    assert set(corpus.ratings["rater"]) == {"emobox"} and corpus.ratings["item"].tolist() == keys
    assert corpus.items["audio"].tolist() == [str(root / f"downloads/tinybox/wav/{c}.wav") for c in UTTERANCES]
    assert corpus.items["duration"].tolist() == [0.5] * 10
    fold_1 = ["Test"] * 3 + ["Train"] * 6 + ["Unused"]
    fold_2 = ["Train"] * 3 + ["Test"] * 3 + ["Train"] * 3 + ["Unused"]
    assert corpus.items["emobox_fold_1"].tolist() == fold_1 and corpus.items["emobox_fold_2"].tolist() == fold_2
    report = corpus.description
    assert "Folds (item column: items per partition): emobox_fold_1: Train 6, Test 3, Unused 1; " in report
    assert "Items in no fold file: 1 (tinybox-s4_a)." in report
    assert "Files in the fold folders not read (not tinybox_{train,valid,test}_fold_N.jsonl): 1 " in report
    assert "fold_1/tinybox_train_fold1.jsonl" in report
    assert "EmoBox names no development partition for these folds" in report
    assert "Audio files not found: 10 of 10" in report
    saved = Corpus.load(corpus.save(tmp_path / "corpus"))
    assert saved.classes == corpus.classes and saved.class_map == LABEL_MAP


def test_audio_root_metadata_folder_speakers_and_valid_files(tmp_path):
    root = make_emobox(tmp_path / "EmoBox", with_audio=True)
    folder = root / "data" / "tinybox"
    (tmp_path / "corpora").mkdir()
    (root / "downloads").rename(tmp_path / "corpora" / "downloads")  # the audio kept apart from the metadata
    valid = [_record("s4_a", "neu")]  # MELD, M3ED and MSP-Podcast ship NAME_valid_fold_1.jsonl
    (folder / "fold_1" / "tinybox_valid_fold_1.jsonl").write_text(_lines(valid))
    corpus = read_emobox(
        folder, "tinybox", audio_root=tmp_path / "corpora", speaker_pattern=r"tinybox-(?P<speaker>s\d)_"
    )
    assert corpus.items["audio"].iat[0] == str(tmp_path / "corpora/downloads/tinybox/wav/s1_a.wav")
    assert corpus.audio_root == str(tmp_path / "corpora")
    assert "Audio files not found" not in corpus.description
    assert corpus.items["speaker"].tolist() == ["s1"] * 3 + ["s2"] * 3 + ["s3"] * 3 + ["s4"]
    assert corpus.items.loc["tinybox-s4_a", "emobox_fold_1"] == "Development"
    assert "no development partition" not in corpus.description
    outside = {**_record("s1_a", "neu"), "wav": "../../etc/passwd"}
    (folder / "tinybox.jsonl").write_text(_lines([outside, *[_record(c, e) for c, e in UTTERANCES.items()][1:]]))
    with pytest.raises(InputError, match=r"tinybox\.jsonl, row 1, column 'wav': the audio path '../../etc/passwd' "):
        read_emobox(folder, "tinybox", audio_root=tmp_path / "corpora")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "label_map.json").unlink(), r"label_map\.json: missing; EmoBox ships label_map\.json"),
        (lambda f: (f / "tinybox.jsonl").write_text('{"key": "a", "wav": "a.wav", "emo": "neu"}\n{"key": "b",\n'),
         r"tinybox\.jsonl, line 2: not valid JSON"),
        (lambda f: (f / "tinybox.jsonl").write_text(_lines([_record("s1_a", "neu"), _record("s1_b", "fru")])),
         r"tinybox\.jsonl, line 2, field 'emo': label code 'fru' is not in label_map\.json \(codes: neu, hap"),
        (lambda f: (f / "tinybox.jsonl").write_text(_lines([_record("s1_a", "neu"), _record("s1_a", "ang")])),
         r"tinybox\.jsonl, lines 1 and 2: key 'tinybox-s1_a' is given twice"),
        (lambda f: (f / "tinybox.jsonl").write_text(_lines([{**_record("s1_a", "neu"), "length": "inf"}])),
         r"line 1, field 'length': expected a finite number of seconds, found 'inf'"),
        (lambda f: (f / "tinybox.jsonl").write_text(_lines([{k: v for k, v in _record("s1_a", "neu").items()
                                                              if k != "wav"}])),
         r"tinybox\.jsonl, line 1, field 'wav': expected a non-empty text, found nothing"),
        (lambda f: (f / "tinybox.jsonl").write_text(_lines([_record(c, e) for c, e in UTTERANCES.items()][1:])),
         r"tinybox_test_fold_1\.jsonl, line 1, field 'key': 'tinybox-s1_a' is not in tinybox\.jsonl"),
        (lambda f: (f / "fold_2" / "tinybox_test_fold_2.jsonl").unlink(),
         r"fold_2: no tinybox_test_fold_2\.jsonl; an EmoBox fold has a train and a test file"),
        (lambda f: (f / "fold_1" / "tinybox_train_fold_1.jsonl").write_text(_lines([_record("s1_a", "neu")])),
         r"tinybox_train_fold_1\.jsonl, line 1, field 'key': 'tinybox-s1_a' is in tinybox_test_fold_1\.jsonl, line 1"),
        (lambda f: (f / "fold_1" / "tinybox_train_fold_1.jsonl").write_text(_lines([_record("s1_a", "ang")])),
         r"tinybox_train_fold_1\.jsonl, line 1, field 'emo': 'ang' for 'tinybox-s1_a', but tinybox\.jsonl has 'neu'"),
        (lambda f: (f / "label_map.json").write_text('["neu"]'), r"label_map\.json: expected a non-empty JSON object"),
    ],
)  # fmt: skip
def test_bad_input_names_file_line_and_field(tmp_path, damage, message):
    root = make_emobox(tmp_path / "EmoBox")
    damage(root / "data" / "tinybox")
    with pytest.raises(InputError, match=message):
        read_emobox(root, "tinybox")


def test_missing_corpus_and_speaker_pattern_errors(tmp_path):
    root = make_emobox(tmp_path / "EmoBox")
    with pytest.raises(
        InputError, match=r"EmoBox corpus 'iemocap': no iemocap\.jsonl at .*data/iemocap/iemocap\.jsonl"
    ):
        read_emobox(root, "iemocap")
    with pytest.raises(
        InputError,
        match=re.escape("tinybox.jsonl, line 10, field 'key': speaker_pattern 'tinybox-(s[123])_' does not match"),
    ):
        read_emobox(root, "tinybox", speaker_pattern="tinybox-(s[123])_")
    with pytest.raises(InputError, match="has no group"):
        read_emobox(root, "tinybox", speaker_pattern="tinybox-s")


def test_registry_recipe_arguments_and_cli(tmp_path):
    root = make_emobox(tmp_path / "EmoBox")
    assert IMPORTERS["emobox"] == "voxpop.corpus.formats.emobox:read_emobox"
    check_arguments("emobox", {"directory": str(root), "dataset": "tinybox", "speaker_pattern": "(s\\d)"})
    out = tmp_path / "corpus"
    result = CliRunner().invoke(app, ["import", "emobox", str(root), "--dataset", "tinybox", "--out", str(out)])
    assert result.exit_code == 0, result.output
    loaded = Corpus.load(out)
    assert loaded.items["emobox_fold_2"].value_counts().to_dict() == {"Train": 6, "Test": 3, "Unused": 1}
    listing = CliRunner().invoke(app, ["import", "--help"], env={"COLUMNS": "200"})
    assert "emobox  " in listing.output and "EmoBox benchmark metadata" in listing.output


# ----------------------------------------------------------------------------- a fold run
def _train(*args) -> object:
    return CliRunner().invoke(app, ["train", *map(str, args)], env={"COLUMNS": "200"})


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_fold_run_tests_each_fold_file_and_reports_folds_and_pooled(tmp_path):
    from sklearn.metrics import balanced_accuracy_score

    from voxpop.models.saved_runs import load_run

    root = make_emobox(tmp_path / "EmoBox", with_audio=True)
    corpus = read_emobox(root, "tinybox")
    corpus.save(tmp_path / "corpus")
    out = tmp_path / "run"
    result = _train(tmp_path / "corpus", "--labels", "mr", "--extractor", "fbank", "--store", tmp_path / "store",
                    "--head", "logreg", "--protocol", "split", "--split", "emobox_fold_1", "--split", "emobox_fold_2",
                    "--bootstrap", "20", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output + repr(result.exception)
    run = load_run(out)
    folder = root / "data" / "tinybox"
    for number in (1, 2):
        lines = (folder / f"fold_{number}" / f"tinybox_test_fold_{number}.jsonl").read_text().splitlines()
        tested = run.predictions.index[run.predictions["fold"] == f"emobox_fold_{number}"]
        assert sorted(tested) == sorted(json.loads(line)["key"] for line in lines)
    # per fold and pooled, as EmoBox reports: UAR of each fold's test file, their mean and sd beside the pooled UAR
    truth = corpus.ratings.set_index("item")["label"]
    predicted = run.predictions.drop(columns="fold").idxmax(axis=1)
    per_fold = [
        balanced_accuracy_score(
            truth[predicted.index[run.predictions["fold"] == f]], predicted[run.predictions["fold"] == f]
        )
        for f in ("emobox_fold_1", "emobox_fold_2")
    ]
    results = pd.read_parquet(out / "results.parquet")
    uar = results[results["metric"] == "uar"].iloc[0]
    assert uar["value"] == pytest.approx(balanced_accuracy_score(truth[predicted.index], predicted))
    assert uar["fold_mean"] == pytest.approx(np.mean(per_fold))
    assert uar["fold_sd"] == pytest.approx(np.std(per_fold, ddof=1))
    assert uar["n_folds"] == 2
    assert "per fold (mean ± sd)" in result.output


@pytest.mark.usefixtures("one_torch_thread")
def test_early_stopping_without_a_development_partition_is_refused(tmp_path):
    root = make_emobox(tmp_path / "EmoBox", with_audio=True)
    read_emobox(root, "tinybox", speaker_pattern=r"tinybox-(s\d)_").save(tmp_path / "corpus")
    common = [tmp_path / "corpus", "--labels", "mr", "--extractor", "fbank", "--store", tmp_path / "store",
              "--protocol", "split", "--split", "emobox_fold_1", "--head", "mlp", "--epochs", "2",
              "--bootstrap", "0"]  # fmt: skip
    refused = _train(*common, "--out", tmp_path / "refused")
    message = str(refused.exception)
    assert refused.exit_code != 0
    assert "fold 'emobox_fold_1': split column 'emobox_fold_1' names no development items (no value 'Development';" in (
        message
    )
    assert "protocol.split.dev_share: 0.1" in message and "model.early_stopping: null" in message
    assert "--patience 0" in message
    assert "  - protocol: fold 'emobox_fold_1'" in message  # the pre-flight check, before any feature
    assert "column = --column" not in message and "dev = --dev" not in message
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())
    every_epoch = _train(*common, "--patience", "0", "--out", tmp_path / "every-epoch")
    assert every_epoch.exit_code == 0, every_epoch.output + repr(every_epoch.exception)


@pytest.mark.usefixtures("one_torch_thread")
def test_dev_share_gives_each_emobox_fold_a_speaker_disjoint_development_set(tmp_path):
    import voxpop as vp

    root = make_emobox(tmp_path / "EmoBox", with_audio=True)
    corpus = vp.read("emobox", root, dataset="tinybox", speaker_pattern=r"tinybox-(s\d)_")
    features = vp.extract(corpus, "fbank", tmp_path / "store")
    model = {"head": "mlp", "train": {"epochs": 2}}
    columns = ["emobox_fold_1", "emobox_fold_2"]
    cv = vp.cross_validate(corpus, features, vp.labels(corpus, "mr"), "split", columns=columns, dev_share=0.5,
                           model=model)  # fmt: skip
    # by hand: each fold trains on 2 speakers of 3 items; half of them (1 speaker) is its development set
    assert cv.sizes.loc[columns, ["train", "dev", "test"]].to_numpy().tolist() == [[3, 3, 3], [3, 3, 3]]
    for column in columns:
        (fold,) = vp.models.make_folds(corpus.items, "split", columns=[column], dev_share=0.5)
        speakers = corpus.items["speaker"]
        assert not set(speakers[fold.dev]) & set(speakers[fold.train])


def test_a_label_map_code_given_twice_a_negative_length_and_reversed_times_are_refused(tmp_path):
    """JSON keeps the last of two equal keys silently ("neu" would become Sad); lengths and times are seconds."""
    root = make_emobox(tmp_path / "EmoBox")
    folder = root / "data" / "tinybox"
    good_map = (folder / "label_map.json").read_text()
    (folder / "label_map.json").write_text('{"neu": "Neutral", "neu": "Sad", "hap": "Happy", "ang": "Angry", '
                                           '"sad": "Sad", "exc": "Happy"}')  # fmt: skip
    with pytest.raises(InputError, match=r"label_map.json: not valid JSON \(key 'neu' is given twice"):
        read_emobox(root, "tinybox")
    (folder / "label_map.json").write_text(good_map)
    good = (folder / "tinybox.jsonl").read_text()
    (folder / "tinybox.jsonl").write_text(good.replace('"length": 0.5', '"length": -3', 1))
    with pytest.raises(InputError, match=r"line 1, field 'length': expected a finite number of seconds, found -3; "):
        read_emobox(root, "tinybox")
    timed = good.replace('"length": 0.5', '"length": 0.5, "start_time": 2.0, "end_time": 4.0')
    lines = timed.splitlines(keepends=True)
    lines[2] = lines[2].replace('"end_time": 4.0', '"end_time": 1.5')
    (folder / "tinybox.jsonl").write_text("".join(lines))
    with pytest.raises(InputError, match=r"tinybox.jsonl, line 3, field 'end_time': ends at 1.5 s, not after its "
                                         r"start_time 2.0 s \(1 such lines\)"):  # fmt: skip
        read_emobox(root, "tinybox")
    (folder / "tinybox.jsonl").write_text(timed)
    assert read_emobox(root, "tinybox").items["end_time"].eq(4.0).all()


def test_wav_paths_written_on_windows_resolve_and_a_drive_letter_is_refused(tmp_path):
    """EmoBox metadata regenerated on Windows: ``downloads\\tinybox\\wav\\s1_a.wav`` names the same file (it was
    ``root/downloads\\tinybox...``, "not found" for every clip); ``C:\\EmoBox\\...`` names another machine's disk."""
    root = make_emobox(tmp_path / "EmoBox", with_audio=True)
    folder = root / "data" / "tinybox"
    records = [_record(c, e) for c, e in UTTERANCES.items()]
    for record in records:
        record["wav"] = record["wav"].replace("/", "\\")
    (folder / "tinybox.jsonl").write_text(_lines(records))
    corpus = read_emobox(root, "tinybox")
    assert corpus.items["audio"].iat[0] == str(root / "downloads" / "tinybox" / "wav" / "s1_a.wav")
    assert "Audio files not found" not in corpus.description
    records[3]["wav"] = "C:\\EmoBox\\" + records[3]["wav"]
    (folder / "tinybox.jsonl").write_text(_lines(records))
    with pytest.raises(InputError, match=r"tinybox.jsonl, row 4, column 'wav': .* a Windows path with a drive"):
        read_emobox(root, "tinybox")
