"""Small inputs in each release's real format, laid out as the docs pages assume (the ``DATA/`` folder).

The docs-commands harness (tests/test_docs_commands.py) builds these in a temporary working folder and runs a
page's commands there. Each builder writes what the release ships, under the name the page gives it, with a
handful of items whose counts are stated in its docstring; audio is 0.5 s of a 16 kHz tone per item, its pitch
set by the item's class, so that a model has something to learn.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile

FIXTURES = Path(__file__).parent / "fixtures"
RATE = 16000
PITCH = {"anger": 220.0, "happiness": 330.0, "neutral": 150.0, "sadness": 110.0}


def write_tone(path: Path, emotion: str, index: int) -> Path:
    """A 0.5 s 16 kHz mono wav at ``path``: the pitch of ``emotion`` (:data:`PITCH`) plus seeded noise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(RATE // 2) / RATE
    noise = np.random.default_rng(index).standard_normal(len(t))
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * PITCH[emotion] * t) + 0.01 * noise).astype(np.float32), RATE)
    return path


def _csv(path: Path, header: str, rows: Iterable[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


# ------------------------------------------------------------------------------------------------------ CREMA-D
CREMAD_SPEAKERS = ("1001", "1002", "1003", "1004", "1005")
CREMAD_CODES = {"ANG": ("A", "anger"), "HAP": ("H", "happiness"), "NEU": ("N", "neutral"), "SAD": ("S", "sadness")}
CREMAD_OTHER = {"A": "D", "H": "N", "N": "S", "S": "F"}
"""The third vote of a clip of each intended emotion: disgust and fear get votes (every class of CREMA-D has a
positive item under the all-inclusive rule) though no clip intends them."""


def cremad(root: Path) -> None:
    """``crema-d/``: tabulatedVotes.csv (20 clips of 5 speakers x 4 emotions, each in the voice, face and
    audio-visual conditions: 60 rows, 3 votes each, the intended emotion twice and :data:`CREMAD_OTHER`
    once), speaker_folds.csv (fold k tests
    speaker k and develops on speaker k+1), VideoDemographics.csv, AudioWAV/<clip>.wav, and the per-rater
    finishedResponses.csv (3 raters per clip, voice only) with finishedEmoResponses.csv (rater 9003's first click on
    clips of speaker 1005 came after 12 s)."""
    folder = root / "crema-d"
    clips = [f"{s}_IEO_{code}_XX" for s in CREMAD_SPEAKERS for code in CREMAD_CODES]
    votes, folds, responses, clicks = [], [], [], []
    for number, clip in enumerate(clips, start=1):
        speaker, _, code, _ = clip.split("_")
        letter, emotion = CREMAD_CODES[code]
        other = CREMAD_OTHER[letter]
        counts = {c: 2 * (c == letter) + (c == other) for c in "ADFHNS"}
        for condition in "123":
            votes.append(f'"{condition}{number:05d}",' + ",".join(str(counts[c]) for c in "ADFHNS") + f',"{clip}",3')
        write_tone(folder / "AudioWAV" / f"{clip}.wav", emotion, number)
        k = CREMAD_SPEAKERS.index(speaker)
        parts = ["Test" if f == k else "Development" if f == (k - 1) % 5 else "Train" for f in range(5)]
        folds.append(f"{clip},{speaker},{'Female' if k % 2 else 'Male'}," + ",".join(parts))
        for r, (session, answer) in enumerate(zip(("9001", "9002", "9003"), (letter, letter, other), strict=True)):
            row = len(responses) + 1
            responses.append(f'"{row}","5{r}1","{number}","{answer}_50","2000","1","0","{number}","{number}","4",'
                             f'"{clip}","{session}","{answer}","50","{code}","XX","50"')  # fmt: skip
            slow = session == "9003" and speaker == "1005"
            clicks.append(f'"{row}","5{r}1","{session}","1","{number}","1","{12000 if slow else 2000}","0","1",'
                          f'"{clip}"')  # fmt: skip
    _csv(folder / "tabulatedVotes.csv", '"","A","D","F","H","N","S","fileName","numResponses"', votes)
    _csv(folder / "speaker_folds.csv", "FileName,SpkrID,Gender,fold1,fold2,fold3,fold4,fold5", folds)
    _csv(folder / "VideoDemographics.csv", '"ActorID","Age","Sex","Race","Ethnicity"',
         [f'{s},{30 + i},"{"Female" if i % 2 else "Male"}","Caucasian","Not Hispanic"'
          for i, s in enumerate(CREMAD_SPEAKERS)])  # fmt: skip
    _csv(folder / "finishedResponses.csv",
         '"","localid","pos","ans","ttr","queryType","numTries","clipNum","questNum","subType","clipName",'
         '"sessionNums","respEmo","respLevel","dispEmo","dispVal","dispLevel"', responses)  # fmt: skip
    _csv(
        folder / "finishedEmoResponses.csv",
        '"","localid","sessionNums","queryType","questNum","pos","ttr","numTries","clipNum","clipName"',
        clicks,
    )


def cremad_sample(root: Path) -> None:
    """:func:`cremad` plus ``crema-d/AudioWAV-sample/``: 12 of its clips (speakers 1001-1003), as the sample folder
    of the project's shared data holds 12 clips of the release."""
    cremad(root)
    sample = root / "crema-d" / "AudioWAV-sample"
    sample.mkdir()
    for wav in sorted((root / "crema-d" / "AudioWAV").glob("100[123]_*.wav")):
        shutil.copyfile(wav, sample / wav.name)


CREMAD_CLASSES = ("anger", "disgust", "fear", "happy", "neutral", "sad")
"""The class columns of a model of CREMA-D's six emotions, in the order voxpop's runs write them."""
CREMAD_CLASS_OF = {"ANG": "anger", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}


def _other_tool(clips: list[str], right: float, seed: int) -> pd.DataFrame:
    """Class probabilities (:data:`CREMAD_CLASSES`, rows summing to 1) of a model of another tool for ``clips``:
    a softmax of seeded normal logits with ``right`` added to the clip's intended emotion's logit."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((len(clips), len(CREMAD_CLASSES)))
    intended = [CREMAD_CLASSES.index(CREMAD_CLASS_OF[clip.split("_")[2]]) for clip in clips]
    logits[np.arange(len(clips)), intended] += right
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return pd.DataFrame(probabilities, index=pd.Index(clips, name="item"), columns=list(CREMAD_CLASSES))


def fusion_inputs(root: Path) -> None:
    """Beside ``DATA/`` (the working folder, as docs/cli/fuse.md names them), the predictions of :func:`cremad`'s 20
    clips by models of another tool: ``video_oof.parquet``, a video model's out-of-fold predictions
    cross-validated by scikit-learn's ``GroupKFold(n_splits=5)`` over the speakers (split i is fold ``fold{i+1}``,
    as voxpop's ``--assignment group-kfold`` names it); ``audio_test.csv`` and ``video_test.csv``, two models'
    scores of one test set (no fold column). Each is a softmax of seeded logits leaning to the intended emotion
    (:func:`_other_tool`)."""
    from sklearn.model_selection import GroupKFold

    clips = [f"{s}_IEO_{code}_XX" for s in CREMAD_SPEAKERS for code in CREMAD_CODES]
    video = _other_tool(clips, right=2.0, seed=11)
    speakers = [clip.split("_")[0] for clip in clips]
    for i, (_, test) in enumerate(GroupKFold(n_splits=5).split(clips, groups=speakers)):
        video.loc[[clips[j] for j in test], "fold"] = f"fold{i + 1}"
    video.to_parquet(root.parent / "video_oof.parquet")
    _other_tool(clips, right=1.5, seed=12).to_csv(root.parent / "audio_test.csv")
    _other_tool(clips, right=1.0, seed=13).to_csv(root.parent / "video_test.csv")


# ------------------------------------------------------------------------------------------------------ RAVDESS
RAVDESS_EMOTIONS = {"01": "neutral", "03": "happiness", "04": "sadness", "05": "anger"}


def ravdess(root: Path) -> None:
    """``ravdess/Actor_NN/03-01-EE-01-01-01-NN.wav``: 6 actors x 4 emotions (neutral, happy, sad, angry): 24 files."""
    for actor in range(1, 7):
        for code, emotion in RAVDESS_EMOTIONS.items():
            name = f"03-01-{code}-01-01-01-{actor:02d}.wav"
            write_tone(root / "ravdess" / f"Actor_{actor:02d}" / name, emotion, actor * 10 + int(code))


# ------------------------------------------------------------------------------------------------------ IEMOCAP
IEMOCAP_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
"""The first lines of an EmoEvaluation file."""
IEMOCAP_FOUR_CLASS_CODES = {"impro": ("neu", "ang", "sad", "hap"), "script": ("neu", "ang", "sad", "exc")}
IEMOCAP_NAMES = {"neu": "Neutral", "ang": "Anger", "sad": "Sadness", "hap": "Happiness", "exc": "Excited",
                 "fru": "Frustration"}  # fmt: skip


def iemocap_release(root: Path) -> Path:
    """An IEMOCAP release folder at ``root``: five sessions, each with an improvised and a scripted dialog of 4
    utterances (3 evaluators agreeing), audio for each; session 1 has a fifth improvised utterance rated
    Frustration, outside the 4 classes (41 utterances)."""
    rng = np.random.default_rng(0)
    for session in range(1, 6):
        for kind, codes in IEMOCAP_FOUR_CLASS_CODES.items():
            dialog = f"Ses0{session}F_{kind}01"
            codes = (*codes, "fru") if (session, kind) == (1, "impro") else codes
            lines = [IEMOCAP_HEADER]
            for i, code in enumerate(codes):
                utterance = f"{dialog}_F00{i}"
                lines.append(f"[{i}.0000 - {i}.5000]\t{utterance}\t{code}\t[2.0000, 2.0000, 2.0000]\n")
                lines += [f"C-E{e}:\t{IEMOCAP_NAMES[code]};\t()\n" for e in (1, 2, 3)]
                wav = root / f"Session{session}" / "sentences" / "wav" / dialog / f"{utterance}.wav"
                wav.parent.mkdir(parents=True, exist_ok=True)
                soundfile.write(wav, rng.normal(0, 0.1, 4000).astype("float32"), 16000)
            folder = root / f"Session{session}" / "dialog" / "EmoEvaluation"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{dialog}.txt").write_text("".join(lines))
    return root


def iemocap(root: Path) -> None:
    """``IEMOCAP_full_release/``: :func:`iemocap_release`."""
    iemocap_release(root / "IEMOCAP_full_release")


# ------------------------------------------------------------------------------------------------------ MSP-Podcast
MSP_PARTS = ("Train",) * 8 + ("Development",) * 4 + ("Test1",) * 4 + ("Test2",) * 4
MSP_CLASSES = (("Angry", "A", "anger"), ("Happy", "H", "happiness"), ("Neutral", "N", "neutral"),
               ("Sad", "S", "sadness"))  # fmt: skip


def msp_podcast(root: Path) -> None:
    """``msp-podcast/``: Labels/labels_detailed.csv (3 workers per file) and Labels/labels_consensus.csv for 20
    files: 8 Train, 4 Development, 4 Test1, 4 Test2, one of each of 4 classes per 4 files; Audios/<file>.wav."""
    folder = root / "msp-podcast"
    detailed, consensus = [], []
    for i, part in enumerate(MSP_PARTS):
        name, code, emotion = MSP_CLASSES[i % 4]
        file = f"MSP-PODCAST_{i // 4 + 1:04d}_{i % 4 + 1:04d}.wav"
        for worker in ("WORKER00001", "WORKER00002", "WORKER00003"):
            detailed.append(f'{file},"{worker}; {name}; {name}; A:4.0; V:4.0; D:4.0;"')
        consensus.append(f"{file},{code},4.0,4.0,4.0,{100 + i // 2},{'Female' if i % 2 else 'Male'},{part}")
        write_tone(folder / "Audios" / file, emotion, i)
    _csv(folder / "Labels" / "labels_detailed.csv", "FileName,EmoDetail", detailed)
    _csv(folder / "Labels" / "labels_consensus.csv", "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set",
         consensus)  # fmt: skip


# ------------------------------------------------------------------------------------------------------ MSP-IMPROV
def msp_improv(root: Path) -> None:
    """``msp-improv/``: ratings.csv (item, rater, label; 3 raters per utterance) and items.csv (item, speaker,
    session, audio) for 3 sessions x 4 emotions = 12 utterances, audio under Audio/."""
    folder = root / "msp-improv"
    ratings, items = [], []
    for session in (1, 2, 3):
        for i, emotion in enumerate(("anger", "happiness", "neutral", "sadness")):
            item = f"MSP-IMPROV-S0{session}A-F0{session}-P-FM0{i + 1}"
            ratings += [f"{item},rater{r},{emotion}" for r in (1, 2, 3)]
            items.append(f"{item},F0{session},S0{session},Audio/{item}.wav")
            write_tone(folder / "Audio" / f"{item}.wav", emotion, 10 * session + i)
    _csv(folder / "ratings.csv", "item,rater,label", ratings)
    _csv(folder / "items.csv", "item,speaker,session,audio", items)


# ------------------------------------------------------------------------------------------------------ CMU-MOSEI
def cmu_mosei(root: Path) -> None:
    """``cmu-mosei/batch_results.csv``: the Mechanical Turk results of tests/fixtures/mosei_batch_results.csv."""
    (root / "cmu-mosei").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FIXTURES / "mosei_batch_results.csv", root / "cmu-mosei" / "batch_results.csv")


# ------------------------------------------------------------------------------------------------------ EmoDB
EMODB_EMOTIONS = ("anger", "happiness", "neutral", "sadness")


def emodb(root: Path) -> None:
    """``emodb/``: an audformat database built with ``audformat`` as audb's EmoDB is (audeering's build script):
    4 speakers x 4 emotions (16 files ``wav/SSa01XX.wav``), the emotion and its confidence in table ``emotion`` by
    rater ``gold`` of the default type ``human``, the speaker in table ``files``."""
    import audformat

    db = audformat.Database("emodb", source="voxpop docs test", usage="research", license="CC0-1.0")
    db.schemes["emotion"] = audformat.Scheme(labels=list(EMODB_EMOTIONS))
    db.schemes["confidence"] = audformat.Scheme("float", minimum=0, maximum=1)
    speakers = ("03", "08", "09", "10")
    db.schemes["speaker"] = audformat.Scheme(labels={s: {"gender": "male" if i % 2 else "female"}
                                                     for i, s in enumerate(speakers)})  # fmt: skip
    db.raters["gold"] = audformat.Rater()
    files = [f"wav/{s}a01{e[0].upper()}a.wav" for s in speakers for e in EMODB_EMOTIONS]
    index = audformat.filewise_index(files)
    db["files"] = audformat.Table(index)
    db["files"]["speaker"] = audformat.Column(scheme_id="speaker")
    db["files"]["speaker"].set([s for s in speakers for _ in EMODB_EMOTIONS])
    db["emotion"] = audformat.Table(index)
    db["emotion"]["emotion"] = audformat.Column(scheme_id="emotion", rater_id="gold")
    db["emotion"]["emotion"].set([e for _ in speakers for e in EMODB_EMOTIONS])
    db["emotion"]["emotion.confidence"] = audformat.Column(scheme_id="confidence", rater_id="gold")
    db["emotion"]["emotion.confidence"].set([0.9] * len(files))
    db.save(str(root / "emodb"))
    for i, (file, emotion) in enumerate(zip(files, [e for _ in speakers for e in EMODB_EMOTIONS], strict=True)):
        write_tone(root / "emodb" / file, emotion, i)


# ------------------------------------------------------------------------------------------------------ EmoBox
def write_emobox(root: Path, dataset: str, utterances: dict[str, str], folds: dict[int, dict[str, list[str]]],
                 label_map: dict[str, str], emotions: dict[str, str]) -> None:  # fmt: skip
    """``EmoBox/data/DATASET/`` as an EmoBox checkout holds it (``DATASET.jsonl``, ``label_map.json``,
    ``fold_N/DATASET_{train,valid,test}_fold_N.jsonl``) with the audio under ``EmoBox/downloads/DATASET/``.

    Args:
        root: the folder that gets ``EmoBox/``.
        dataset: the EmoBox name.
        utterances: clip name -> label code.
        folds: fold number -> partition (``train``, ``valid``, ``test``) -> the clips in it.
        label_map: code -> class name.
        emotions: code -> the :data:`PITCH` emotion of its tone.
    """
    folder = root / "EmoBox" / "data" / dataset

    def record(clip: str) -> dict:
        return {"key": f"{dataset}-{clip}", "dataset": dataset, "wav": f"downloads/{dataset}/{clip}.wav",
                "type": "raw", "sample_rate": RATE, "num_frame": RATE // 2, "task": "category", "length": 0.5,
                "emo": utterances[clip], "channel": 1}  # fmt: skip

    def lines(clips: Iterable[str]) -> str:
        return "".join(json.dumps(record(clip)) + "\n" for clip in clips)

    folder.mkdir(parents=True)
    (folder / "label_map.json").write_text(json.dumps(label_map, indent=4))
    (folder / f"{dataset}.jsonl").write_text(lines(utterances))
    for number, parts in folds.items():
        (folder / f"fold_{number}").mkdir()
        for part, clips in parts.items():
            (folder / f"fold_{number}" / f"{dataset}_{part}_fold_{number}.jsonl").write_text(lines(clips))
    for i, (clip, code) in enumerate(utterances.items()):
        write_tone(root / "EmoBox" / "downloads" / dataset / f"{clip}.wav", emotions[code], i)


ESD_CODES = {"neutral": "neutral", "happy": "happiness", "angry": "anger", "sad": "sadness"}


def esd(root: Path) -> None:
    """EmoBox's ``esd``: 4 speakers (0011..0014) x 4 emotions; one fold, speakers 0011-0013 train, 0014 test."""
    utterances = {f"{s}_{i:06d}": code for s in ("0011", "0012", "0013", "0014")
                  for i, code in enumerate(ESD_CODES, start=1)}  # fmt: skip
    train = [c for c in utterances if not c.startswith("0014")]
    write_emobox(root, "esd", utterances, {1: {"train": train, "test": [c for c in utterances if c not in train]}},
                 {code: code.capitalize() for code in ESD_CODES}, ESD_CODES)  # fmt: skip


MELD_CODES = {"neutral": "neutral", "joy": "happiness", "anger": "anger", "sadness": "sadness"}


def meld(root: Path) -> None:
    """EmoBox's ``meld``: one fold with train (8), valid (4) and test (4) utterances, 4 emotions each round; and
    ``meld/meld.csv``: MELD's train and dev CSVs concatenated with a ``split`` column (ids restart per split)."""
    splits = {"train": 8, "valid": 4, "test": 4}
    utterances, parts = {}, {}
    for split, count in splits.items():
        clips = [f"{split}_dia{i // 2}_utt{i % 2}" for i in range(count)]
        parts[split] = clips
        utterances.update({clip: list(MELD_CODES)[i % 4] for i, clip in enumerate(clips)})
    write_emobox(root, "meld", utterances, {1: parts}, {code: code.capitalize() for code in MELD_CODES}, MELD_CODES)
    rows = [f'{n},"Oh. Okay.",Chandler,{list(MELD_CODES)[n % 4]},neutral,{d},{u},{split}'
            for n, (split, d, u) in enumerate([("train", 0, 0), ("train", 0, 1), ("train", 1, 0), ("dev", 0, 0),
                                               ("dev", 0, 1)])]  # fmt: skip
    _csv(root / "meld" / "meld.csv", "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,split", rows)


def iemocap_emobox(root: Path) -> None:
    """EmoBox's ``iemocap``: 5 sessions x 4 codes (``exc`` and ``hap`` both map to Happy), 20 utterances; 5
    leave-one-session-out folds, as EmoBox has."""
    codes = {"neu": "neutral", "ang": "anger", "sad": "sadness", "exc": "happiness", "hap": "happiness"}
    sessions = range(1, 6)
    utterances = {f"Ses0{s}F_impro01_F00{i}": code for s in sessions
                  for i, code in enumerate(("neu", "ang", "sad", "exc" if s % 2 else "hap"))}  # fmt: skip
    folds = {s: {"train": [c for c in utterances if not c.startswith(f"Ses0{s}")],
                 "test": [c for c in utterances if c.startswith(f"Ses0{s}")]} for s in sessions}  # fmt: skip
    label_map = {"neu": "Neutral", "ang": "Angry", "sad": "Sad", "exc": "Happy", "hap": "Happy"}
    write_emobox(root, "iemocap", utterances, folds, label_map, codes)


# ------------------------------------------------------------------------------------------------------ Hugging Face
HF_CLASSES = ["neutral", "anger", "happiness", "sadness"]


def hf(root: Path) -> None:
    """``emotions-hf/``: a ``datasets`` DatasetDict saved with ``save_to_disk`` (train 8, validation 4, test 4 rows;
    embedded wav bytes cast with ``Audio(decode=False)``, ClassLabel names neutral, anger, happiness, sadness)."""
    import datasets

    def split(name: str, count: int, first: int) -> datasets.Dataset:
        audio, labels, speakers = [], [], []
        for i in range(count):
            path = root / "tmp-hf" / f"{name}_{i}.wav"
            write_tone(path, HF_CLASSES[i % 4], first + i)
            audio.append({"bytes": path.read_bytes(), "path": path.name})
            labels.append(i % 4)
            speakers.append(f"{name}{i // 4}")
        table = datasets.Dataset.from_dict({"audio": audio, "label": labels, "speaker_id": speakers})
        table = table.cast_column("audio", datasets.Audio(decode=False))
        return table.cast_column("label", datasets.ClassLabel(names=HF_CLASSES))

    parts = datasets.DatasetDict({"train": split("train", 8, 0), "validation": split("validation", 4, 8),
                                  "test": split("test", 4, 12)})  # fmt: skip
    parts.save_to_disk(str(root / "emotions-hf"))
    shutil.rmtree(root / "tmp-hf")


# ------------------------------------------------------------------------------------------------------ new clips
def clips(root: Path) -> None:
    """``clips/clip1.wav`` and ``clips/clip2.wav``: new audio to classify (an angry and a sad tone)."""
    write_tone(root / "clips" / "clip1.wav", "anger", 101)
    write_tone(root / "clips" / "clip2.wav", "sadness", 102)


# ------------------------------------------------------------------------------------------------------ a backbone
def save_tiny_wavlm(path: Path, layers: int = 2, conv_stride: tuple[int, int] = (5, 4)) -> Path:
    """A randomly initialised WavLM-like backbone at ``path`` (hidden size 32, ``layers`` transformer layers, 2
    heads, 2 conv layers with ``conv_stride`` (kernel = stride) downsampling, 20x by default, layer-norm feature
    encoder) written with ``save_pretrained``; loads with ``AutoModel``. Its regularisation is the released configs'
    default (LayerDrop 0.1, dropouts 0.1, SpecAugment time masks)."""
    import torch
    from transformers import WavLMConfig, WavLMModel

    config = WavLMConfig(hidden_size=32, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=64,
                         conv_dim=(16, 16), conv_stride=conv_stride, conv_kernel=(10, 8), num_conv_pos_embeddings=16,
                         num_conv_pos_embedding_groups=2, feat_extract_norm="layer", do_stable_layer_norm=True,
                         num_buckets=16, max_bucket_distance=100)  # fmt: skip
    with torch.random.fork_rng():
        torch.manual_seed(0)
        WavLMModel(config).save_pretrained(path)
    return path


def wavlm_base_plus(root: Path) -> None:
    """``models/wavlm-base-plus`` beside ``DATA/``: :func:`save_tiny_wavlm` with the checkpoint's 12 layers,
    standing in for the checkpoint the fine-tuning commands name (a page's run trains it for real, in seconds).
    Its encoder downsamples 80x (strides 10, 8), not 20x: a 0.5 s clip gives 100 frames, not 398, so the 12 layers'
    attention (quadratic in frames, most of a page's fine-tuning time) costs about 16x less."""
    save_tiny_wavlm(root.parent / "models" / "wavlm-base-plus", layers=12, conv_stride=(10, 8))


# ------------------------------------------------------------------------------------------------------ Earkick
EARKICK_CLIPS = ("1001_ANG_XX_TSI_cremad", "1002_HAP_XX_TSI_cremad", "1107_SAD_MD_DOG_01_ravdess",
                 "1108_NEU_MD_DOG_01_ravdess", "8404_8", "266396_60", "381_1", "video22_2")  # fmt: skip
"""Earkick's clip names: 2 CREMA-D, 2 RAVDESS (acted), 2 CMU-MOSEI, 2 Aff-Wild2 (in the wild)."""
EARKICK_EMOTIONS = ("sad", "happy", "disgust", "fear", "surprise", "anger")
EARKICK_LEVELS = ("None", "A little", "Moderate", "Extremely")


def earkick(root: Path) -> None:
    """``earkick-reannotation/assessment.csv``: the Label Studio export of the Earkick re-annotation, 8 clips
    (:data:`EARKICK_CLIPS`) x 3 annotators = 24 rows, every column of the release; the six emotions on the
    4-level Likert scale (:data:`EARKICK_LEVELS`, seeded), age, gender, mood, sentiment -3..3 and anxiety 0..9;
    annotator 3 wrote a note on the two Aff-Wild2 clips (they are ``flagged``)."""
    rng = np.random.default_rng(7)
    moods, ages = ("Awful", "Bad", "Meh", "Good", "Great"), ("teens", "20s", "30s", "40s")
    rows = []
    for clip_number, clip in enumerate(EARKICK_CLIPS):
        for annotator in (1, 2, 3):
            levels = {e: EARKICK_LEVELS[rng.integers(0, 4)] for e in EARKICK_EMOTIONS}
            note = "two voices here" if annotator == 3 and clip_number >= 6 else ""
            row = {"audio": f"/data/local-files/?d=sample/{clip}.m4a", "age": ages[(clip_number + annotator) % 4],
                   "id": str(clip_number + 1), "lead_time": "27.6", "updated_at": "2023-02-14T13:24:32.990904Z",
                   "annotation_id": str(100 + 3 * clip_number + annotator), "created_at": "2023-01-26T22:43:11Z",
                   "gender": "Male" if clip_number % 2 else "Female", "annotator": str(annotator),
                   "mood": moods[(clip_number + annotator) % 5],
                   "sentiment": f"{(clip_number + annotator) % 7 - 3:+d}", "notes": note,
                   "anxiety": "0 - None" if annotator == 1 else str(clip_number % 9), **levels}  # fmt: skip
            rows.append(row)
    header = ["audio", "age", "id", "sad", "happy", "lead_time", "disgust", "updated_at", "annotation_id",
              "fear", "created_at", "gender", "annotator", "mood", "surprise", "sentiment", "notes", "anger",
              "anxiety"]  # fmt: skip
    _csv(root / "earkick-reannotation" / "assessment.csv", ",".join(header),
         [",".join(row[column] for column in header) for row in rows])  # fmt: skip


# ------------------------------------------------------------------------------------------------------ the demo
def demo(root: Path) -> None:
    """``corpora/demo`` beside ``DATA/``: the tiny synthetic demo corpus (:func:`voxpop.testing.demo_corpus`: 48
    clips of 6 speakers, Likert intensities in conditions voice, face and av), its audio under ``DATA/demo/``."""
    from voxpop.testing import demo_corpus

    demo_corpus(root / "demo", "tiny")
    (root.parent / "corpora").mkdir(exist_ok=True)
    shutil.move(root / "demo" / "corpus", root.parent / "corpora" / "demo")


# ------------------------------------------------------------------------------------------------------ long tables
def ratings_export(root: Path) -> None:
    """``ratings_export.csv``: a long table (item, rater, label) saved by Excel on Windows (cp1252: rater
    ``José``), 4 items x 2 raters."""
    rows = [f"{item},{rater},{label}" for item, label in (("c1", "anger"), ("c2", "happiness"), ("c3", "neutral"),
                                                          ("c4", "sadness")) for rater in ("José", "Zoë")]  # fmt: skip
    (root / "ratings_export.csv").write_bytes(("item,rater,label\n" + "\n".join(rows) + "\n").encode("cp1252"))


def long_with_items(root: Path) -> None:
    """``ratings.csv`` (item, rater, label: 2 items x 3 raters) and ``meta/items.csv`` (item, speaker, audio) whose
    audio paths are relative to ``clips/`` (:func:`clips`), the folder ``--audio-root`` names."""
    labels = (("clip1", "anger"), ("clip2", "sadness"))
    _csv(
        root / "ratings.csv", "item,rater,label", [f"{item},r{r},{label}" for item, label in labels for r in (1, 2, 3)]
    )
    _csv(root / "meta" / "items.csv", "item,speaker,audio", ["clip1,s1,clip1.wav", "clip2,s2,clip2.wav"])


def _hf_split(folder: Path, name: str, count: int, first: int, label: str = "label"):
    """A ``datasets`` split of ``count`` tones (embedded wav bytes, ``Audio(decode=False)``), ClassLabel column
    ``label`` over :data:`HF_CLASSES`, and ``speaker_id``."""
    import datasets

    audio, labels, speakers = [], [], []
    for i in range(count):
        path = write_tone(folder / f"{name}_{i}.wav", HF_CLASSES[i % 4], first + i)
        audio.append({"bytes": path.read_bytes(), "path": path.name})
        labels.append(i % 4)
        speakers.append(f"{name}{i // 4}")
    table = datasets.Dataset.from_dict({"audio": audio, label: labels, "speaker_id": speakers})
    table = table.cast_column("audio", datasets.Audio(decode=False))
    return table.cast_column(label, datasets.ClassLabel(names=HF_CLASSES))


def emotions_dd(root: Path) -> None:
    """``emotions-dd/``: a DatasetDict saved with ``save_to_disk``, train 8 and test 4 rows (as :func:`hf`)."""
    import datasets

    parts = datasets.DatasetDict({"train": _hf_split(root / "tmp-dd", "train", 8, 0),
                                  "test": _hf_split(root / "tmp-dd", "test", 4, 8)})  # fmt: skip
    parts.save_to_disk(str(root / "emotions-dd"))
    shutil.rmtree(root / "tmp-dd")


def hub(root: Path) -> None:
    """``hub/data/train-00000-of-00001.parquet``: a Hub dataset's parquet shard, 8 rows with columns ``audio``
    (embedded wav bytes), ``emotion`` (ClassLabel) and ``utterance_id``."""
    table = _hf_split(root / "tmp-hub", "train", 8, 20, label="emotion")
    table = table.add_column("utterance_id", [f"utt{i:02d}" for i in range(8)])
    (root / "hub" / "data").mkdir(parents=True)
    table.to_parquet(str(root / "hub" / "data" / "train-00000-of-00001.parquet"))
    shutil.rmtree(root / "tmp-hub")


IMPORT_PAGE = (cremad, earkick, msp_podcast, ratings_export, hf, emodb, long_with_items, clips, emotions_dd, hub,
               iemocap_emobox, meld, iemocap)  # fmt: skip
"""The builders of docs/cli/import.md's ``DATA/`` folder."""


CORPORA_PAGE = (cremad, ravdess, iemocap, msp_podcast, msp_improv, cmu_mosei, emodb, esd, meld, iemocap_emobox, hf)
"""The builders of docs/corpora.md's ``DATA/`` folder."""


def build(data: Path, builders: Iterable = CORPORA_PAGE) -> Path:
    """Run every builder into ``data`` (the page's ``DATA/``) and return it."""
    data.mkdir(parents=True, exist_ok=True)
    for builder in builders:
        builder(data)
    return data
