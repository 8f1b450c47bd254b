"""``voxpop import FORMAT ... --out DIR``: one sub-command per native format (thin wrappers)."""

from __future__ import annotations

from pathlib import Path

import typer

from voxpop.cli.app import app
from voxpop.cli.options import FORCE, parse_names

import_app = typer.Typer(
    help="Import a corpus from a native rating format into a corpus directory.",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")

OUT = typer.Option(..., "--out", help="Corpus directory to write.")
DUPLICATES = typer.Option(
    "error",
    "--duplicates",
    help="A rater judging one item (in one condition) more than once: error (refuse, naming both answers and rows), "
    "first, last, drop (all of that rater's judgements of the item), mean (average numeric answers).",
)
ENCODING = typer.Option(
    "auto",
    "--encoding",
    help="Text encoding of the input files: auto (byte-order mark, UTF-8, else detected; an ambiguous file is an "
    "error listing the candidates) or a Python codec name (latin-1, cp1252, gbk, utf-16-le).",
)

# --- crema-d, ravdess, likert, mosei
# Readers are imported inside the commands so that ``voxpop --help`` stays fast.


def _save_with_notes(corpus, out: Path, force: bool) -> None:
    """Save the corpus (see :func:`voxpop.labels.overwrite.save_corpus`), print its summary, then the import report."""
    from rich.markup import escape

    from voxpop.cli.app import console
    from voxpop.cli.corpus_verbs import save_imported

    save_imported(corpus, out, force)
    console.print(f"[yellow]{escape(corpus.description)}[/]", highlight=False)


@import_app.command("crema-d")
def import_cremad(
    table: Path = typer.Argument(..., help="tabulatedVotes.csv, or finishedResponses.csv with --responses."),
    out: Path = OUT,
    force: bool = FORCE,
    responses: bool = typer.Option(False, "--responses", help="TABLE holds per-rater answers (finishedResponses.csv)."),
    duplicates: str = typer.Option(
        "error",
        help="With --responses: a rater answering a clip twice in one condition: error (refuse, naming both answers "
        "and rows), first, last, drop (all of that rater's answers to the clip), mean (average the levels).",
    ),
    first_clicks: Path = typer.Option(
        None,
        "--first-clicks",
        help="With --responses: finishedEmoResponses.csv; drops (and counts) answers whose first click took over "
        "10 s, as the authors did for tabulatedVotes.csv. Without it those answers are kept.",
    ),
    audio: Path = typer.Option(None, help="Folder of <clip>.wav / .flac files: adds audio paths and durations."),
    only_with_audio: bool = typer.Option(False, "--only-with-audio", help="Keep only clips with a file in --audio."),
    folds: Path = typer.Option(None, help="speaker_folds.csv: adds fold1..foldN (Train/Development/Test) and gender."),
    demographics: Path = typer.Option(None, help="VideoDemographics.csv: adds age, gender, race, ethnicity."),
    max_votes: int = typer.Option(
        None,
        "--max-votes",
        help="Votes tables: refuse a row (one clip in one condition) claiming more votes than this "
        "(default 1000; the release has at most 12).",
    ),
    encoding: str = ENCODING,
) -> None:
    """CREMA-D votes (one rating per vote, rater unknown) or per-rater responses, in voice/face/av conditions."""
    from voxpop.core.errors import ConfigError
    from voxpop.corpus.formats.cremad import read_cremad, read_cremad_responses

    options = {
        "audio": audio,
        "only_with_audio": only_with_audio,
        "folds": folds,
        "demographics": demographics,
        "encoding": encoding,
    }
    if responses and max_votes is not None:
        raise ConfigError("--max-votes applies to vote tables only; drop it or --responses.")
    if responses:
        corpus = read_cremad_responses(table, duplicates=duplicates, first_clicks=first_clicks, **options)
    elif duplicates != "error" or first_clicks is not None:
        raise ConfigError("--duplicates and --first-clicks apply to per-rater responses only; add --responses.")
    else:
        corpus = read_cremad(table, **options, **({"max_votes": max_votes} if max_votes is not None else {}))
    _save_with_notes(corpus, out, force)


@import_app.command("ravdess")
def import_ravdess(
    directory: Path = typer.Argument(..., help="Folder of RAVDESS .wav / .flac files (searched recursively)."),
    out: Path = OUT,
    force: bool = FORCE,
) -> None:
    """RAVDESS: one rating per file, the emotion the actor intended (rater 'intended')."""
    from voxpop.corpus.formats.ravdess import read_ravdess

    _save_with_notes(read_ravdess(directory), out, force)


@import_app.command("likert")
def import_likert(
    table: Path = typer.Argument(..., help="CSV with one row per (item, rater) and a column per emotion."),
    out: Path = OUT,
    force: bool = FORCE,
    item: list[str] = typer.Option(..., help="Item id column; repeat to join several columns with '_'."),
    rater: str = typer.Option(..., help="Rater id column."),
    emotion: list[str] = typer.Option(..., help="Emotion column (repeat; classes in this order)."),
    level: list[str] = typer.Option(
        None, help="NAME=NUMBER of a named level (repeat); default None=0, 'A little=1', Moderate=2, Extremely=3."
    ),
    scale: str = typer.Option(None, help="LOW:HIGH of the emotion scale; default: range of the levels."),
    attribute: list[str] = typer.Option(None, help="Categorical column (gender, age ...) -> its own slot (repeat)."),
    numeric: list[str] = typer.Option(None, help="COLUMN=LOW:HIGH numeric column -> its own slot (repeat)."),
    metadata: list[str] = typer.Option(None, help="Column whose texts become item metadata, joined by ' | ' (repeat)."),
    flag: list[str] = typer.Option(None, help="Column that flags an item when any rater wrote in it (repeat)."),
    rename: list[str] = typer.Option(None, help="COLUMN=NAME: class, slot or metadata name of a column (repeat)."),
    item_from_path: bool = typer.Option(False, "--item-from-path", help="Item id = file stem of the item cell."),
    allow_missing: bool = typer.Option(False, "--allow-missing", help="Skip (and count) empty answer cells."),
    duplicates: str = DUPLICATES,
    name: str = typer.Option("likert", help="Corpus name."),
    encoding: str = ENCODING,
) -> None:
    """A generic Likert table: each emotion cell becomes an intensity rating."""
    from voxpop.cli.options import parse_bounds, parse_levels, parse_numeric, parse_pairs
    from voxpop.corpus.formats.likert import read_likert

    corpus = read_likert(
        table,
        item_column=item[0] if len(item) == 1 else item,
        rater_column=rater,
        emotion_columns=emotion,
        levels=parse_levels(level or []),
        scale=parse_bounds(scale, "--scale") if scale else None,
        attribute_columns=attribute or (),
        numeric_columns=parse_numeric(numeric or []),
        metadata_columns=metadata or (),
        flag_columns=flag or (),
        rename=parse_pairs(rename or [], "--rename"),
        item_from_path=item_from_path,
        allow_missing=allow_missing,
        duplicates=duplicates,
        name=name,
        encoding=encoding,
    )
    _save_with_notes(corpus, out, force)


@import_app.command("earkick")
def import_earkick(
    table: Path = typer.Argument(..., help="The Earkick re-annotation assessment.csv."),
    out: Path = OUT,
    force: bool = FORCE,
    duplicates: str = DUPLICATES,
    encoding: str = ENCODING,
) -> None:
    """Earkick re-annotation: 6 emotions on None..Extremely (0..3), attributes, notes, clip origin."""
    from voxpop.corpus.formats.likert import read_earkick

    _save_with_notes(read_earkick(table, duplicates=duplicates, encoding=encoding), out, force)


@import_app.command("mosei")
def import_mosei(
    table: Path = typer.Argument(..., help="CMU-MOSEI raw Mechanical Turk results CSV."),
    out: Path = OUT,
    force: bool = FORCE,
    duplicates: str = DUPLICATES,
    encoding: str = ENCODING,
) -> None:
    """CMU-MOSEI raw crowd ratings: 6 emotions 0..3 per clip and worker, sentiment -3..3 if present."""
    from voxpop.corpus.formats.likert import read_mosei

    _save_with_notes(read_mosei(table, duplicates=duplicates, encoding=encoding), out, force)


# --- msp, iemocap, intervals, long


def _renames(rename: list[str] | None, item_column: str | None) -> dict[str, str]:
    """``--rename OLD=NEW`` options plus ``--item-column OLD`` as one ``{old: new}`` mapping."""
    from voxpop.cli.options import parse_pairs

    columns = parse_pairs(rename or [], "--rename")
    if item_column:
        columns[item_column] = "item"
    return columns


RENAME = typer.Option(None, "--rename", help="Rename a file column, OLD=NEW (repeatable), e.g. --rename clip=item.")
CLASSES = typer.Option(None, help="Comma-separated class list in order (default: the sorted labels found).")
CLASS_MAP = typer.Option(
    None,
    "--class-map",
    help="Map a native label to a class, NATIVE=CLASS; NATIVE=drop makes it an excluded label (repeatable).",
)
EXCLUDED = typer.Option(None, help="Comma-separated labels that are not classes (counted, never targets), e.g. other.")
NAME = typer.Option(None, help="Corpus name (default: the file name without extension).")
AUDIO_ROOT = typer.Option(
    None,
    "--audio-root",
    help="Folder that relative paths in the table's audio column name files in (default: the table's own folder, "
    "never the working directory).",
)
ALLOW_OUTSIDE = typer.Option(
    False,
    "--allow-outside-paths",
    help="Accept audio paths that resolve outside the audio root (absolute paths elsewhere, ../); else refused.",
)
KEEP_FREE_TEXT = typer.Option(
    False,
    "--keep-free-text",
    help="Keep free-text 'Other: ...' answers as labels of their own (default: read as the label 'other').",
)
FOLD_CASE = typer.Option(
    False, "--fold-case", help="Merge labels that differ only in case (Anger, anger) into lower case; else reported."
)


@import_app.command("msp")
def import_msp(
    labels: Path = typer.Argument(
        ...,
        help="Per-rater labels: labels_detailed.json (MSP-Podcast, MSP-Face) or .csv (FileName,EmoDetail).",
    ),
    out: Path = OUT,
    force: bool = FORCE,
    consensus: Path = typer.Option(
        None, help="labels_consensus.csv (or MSP-Face labels_concensus.json): speaker, gender, split, consensus."
    ),
    secondary_classes: str = typer.Option(
        None,
        "--secondary-classes",
        help="Comma-separated secondary classes, e.g. the primary ones plus frustrated,amused "
        "(default: the primary classes; other secondary labels become 'other').",
    ),
    audio_dir: Path = typer.Option(None, "--audio-dir", help="Folder of the audio files: adds an audio column."),
    duplicates: str = DUPLICATES,
    name: str = typer.Option("msp-podcast", help="Corpus name."),
    encoding: str = ENCODING,
) -> None:
    """MSP-Podcast / MSP-Face: primary, secondary and arousal/valence/dominance ratings per worker."""
    from voxpop.corpus.formats.msp import read_msp

    corpus = read_msp(
        labels,
        consensus,
        secondary_classes=parse_names(secondary_classes),
        audio_dir=audio_dir,
        duplicates=duplicates,
        name=name,
        encoding=encoding,
    )
    _save_with_notes(corpus, out, force)


@import_app.command("iemocap")
def import_iemocap(
    paths: list[Path] = typer.Argument(
        ..., help="IEMOCAP release folder(s) (searched for EmoEvaluation/*.txt) or EmoEvaluation files."
    ),
    out: Path = OUT,
    force: bool = FORCE,
    self_evaluations: str = typer.Option(
        "exclude",
        "--self-evaluations",
        help="The actors' ratings of their own utterances (C-F1, A-M1 ... lines): exclude (set aside and counted), "
        "include (as raters SesNN-F1 ...) or only.",
    ),
    name: str = typer.Option("iemocap", help="Corpus name."),
    encoding: str = ENCODING,
) -> None:
    """IEMOCAP EmoEvaluation files: categorical (primary + secondary) and valence/arousal/dominance ratings."""
    from voxpop.corpus.formats.iemocap import read_iemocap

    _save_with_notes(read_iemocap(paths, self_evaluations=self_evaluations, name=name, encoding=encoding), out, force)


@import_app.command("intervals")
def import_intervals(
    table: Path = typer.Argument(..., help="CSV/Parquet with recording, rater, label, start, end (seconds)."),
    out: Path = OUT,
    force: bool = FORCE,
    rename: list[str] = RENAME,
    classes: str = CLASSES,
    class_map: list[str] = CLASS_MAP,
    excluded: str = EXCLUDED,
    recordings: Path = typer.Option(None, help="Table of recordings (recording, audio, duration)."),
    audio_dir: Path = typer.Option(None, "--audio-dir", help="Folder of <recording>.wav files: audio and duration."),
    audio_root: Path = AUDIO_ROOT,
    allow_outside_paths: bool = ALLOW_OUTSIDE,
    fold_case: bool = FOLD_CASE,
    keep_free_text: bool = KEEP_FREE_TEXT,
    name: str = NAME,
    encoding: str = ENCODING,
) -> None:
    """Time-interval annotation (RAMAS style): items are recordings, ratings carry start/end."""
    from voxpop.corpus.classmap import parse_class_map
    from voxpop.corpus.formats.intervals import read_intervals

    corpus = read_intervals(
        table,
        columns=_renames(rename, None),
        classes=parse_names(classes),
        class_map=parse_class_map(class_map or []),
        excluded=parse_names(excluded) or [],
        recordings=recordings,
        audio_dir=audio_dir,
        fold_case=fold_case,
        keep_free_text=keep_free_text,
        name=name,
        encoding=encoding,
        audio_root=audio_root,
        allow_outside_paths=allow_outside_paths,
    )
    _save_with_notes(corpus, out, force)


@import_app.command("long")
def import_long(
    table: Path = typer.Argument(..., help="Long CSV/Parquet: item, rater, label (+ value, condition, slot, ...)."),
    out: Path = OUT,
    force: bool = FORCE,
    rename: list[str] = RENAME,
    item_column: str = typer.Option(None, "--item-column", help="The column holding item ids (renamed to item)."),
    item_columns: str = typer.Option(
        None,
        "--item-columns",
        help="Comma-separated columns that together identify an item, joined with '_' into its id "
        "(MELD: Dialogue_ID,Utterance_ID); kept as item columns.",
    ),
    id_prefix_column: str = typer.Option(
        None,
        "--id-prefix-column",
        help="Column whose value goes in front of the item id (MELD's split: train_0_3 and dev_0_3 are two "
        "items); kept as an item column.",
    ),
    classes: str = CLASSES,
    class_map: list[str] = CLASS_MAP,
    excluded: str = EXCLUDED,
    scale: list[str] = typer.Option(
        None, help="Value range of a slot, SLOT=LOW:HIGH (repeatable), e.g. intensity=0:3."
    ),
    items: Path = typer.Option(
        None, help="Item table (CSV/Parquet with an item column, metadata columns and optionally audio paths)."
    ),
    audio_root: Path = AUDIO_ROOT,
    allow_outside_paths: bool = ALLOW_OUTSIDE,
    slot: str = typer.Option(None, help="Slot of every rating when the table has no slot column."),
    duplicates: str = DUPLICATES,
    fold_case: bool = FOLD_CASE,
    keep_free_text: bool = KEEP_FREE_TEXT,
    name: str = NAME,
    encoding: str = ENCODING,
) -> None:
    """A generic long rating table, one row per judgement (crowd-kit task/worker/label works as is)."""
    from voxpop.cli.options import parse_bounds, parse_pairs
    from voxpop.core.errors import ConfigError
    from voxpop.corpus.classmap import parse_class_map
    from voxpop.corpus.formats.long import read_long

    scales = {s: parse_bounds(bounds, "--scale") for s, bounds in parse_pairs(scale or [], "--scale").items()}
    if item_column and item_columns:
        raise ConfigError("--item-column names one id column, --item-columns several; give one of the two.")
    corpus = read_long(
        table,
        columns=_renames(rename, item_column),
        classes=parse_names(classes),
        class_map=parse_class_map(class_map or []),
        excluded=parse_names(excluded) or [],
        scales=scales,
        items=items,
        slot=slot,
        duplicates=duplicates,
        fold_case=fold_case,
        keep_free_text=keep_free_text,
        name=name,
        encoding=encoding,
        audio_root=audio_root,
        allow_outside_paths=allow_outside_paths,
        item_columns=parse_names(item_columns) or (),
        id_prefix_column=id_prefix_column,
    )
    _save_with_notes(corpus, out, force)


@import_app.command("emobox")
def import_emobox(
    directory: Path = typer.Argument(
        ..., help="The EmoBox folder (holding data/NAME/) or one corpus's metadata folder (holding NAME.jsonl)."
    ),
    dataset: str = typer.Option(..., "--dataset", help="The corpus's EmoBox name: iemocap, cremad, emodb, meld ..."),
    out: Path = OUT,
    force: bool = FORCE,
    audio_root: Path = typer.Option(
        None, "--audio-root", help="Folder the wav paths are relative to (default: DIRECTORY, EmoBox's own layout)."
    ),
    allow_outside_paths: bool = ALLOW_OUTSIDE,
    speaker_pattern: str = typer.Option(
        None,
        "--speaker-pattern",
        help="Regular expression whose group 'speaker' (or first group) in each key is the speaker, e.g. "
        "'cremad-(\\d{4})-' (EmoBox records none; a speaker-disjoint dev share needs them).",
    ),
    name: str = typer.Option(None, help="Corpus name (default: the dataset name)."),
    encoding: str = ENCODING,
) -> None:
    """EmoBox benchmark metadata: utterances, label map and standard folds (one split column per fold)."""
    from voxpop.corpus.formats.emobox import read_emobox

    corpus = read_emobox(
        directory,
        dataset,
        audio_root=audio_root,
        allow_outside_paths=allow_outside_paths,
        speaker_pattern=speaker_pattern,
        name=name,
        encoding=encoding,
    )
    _save_with_notes(corpus, out, force)


@import_app.command("hf")
def import_hf(
    path: Path = typer.Argument(
        ...,
        help="Hugging Face datasets table: a save_to_disk folder (Dataset or DatasetDict), or parquet / arrow shards.",
    ),
    out: Path = OUT,
    force: bool = FORCE,
    label_column: str = typer.Option(
        None,
        "--label-column",
        help="The label column (default: the single ClassLabel column; its names are the classes).",
    ),
    id_column: str = typer.Option(
        None,
        "--id-column",
        help="The item id column (default: the first 16 hex digits of the sha256 of the audio bytes).",
    ),
    speaker_column: str = typer.Option(None, "--speaker-column", help="The speaker id column (becomes speaker)."),
    split_column: str = typer.Option(
        None,
        "--split-column",
        help="The partition column (becomes split); a DatasetDict's split names give it instead.",
    ),
    audio_column: str = typer.Option(
        None, "--audio-column", help="The audio column (default: the single Audio feature or {bytes, path} column)."
    ),
    audio_root: Path = AUDIO_ROOT,
    allow_outside_paths: bool = ALLOW_OUTSIDE,
    name: str = typer.Option(None, help="Corpus name (default: the folder or file name without extension)."),
) -> None:
    """Hugging Face datasets table: ClassLabel names as classes, embedded audio written once to OUT/audio."""
    from voxpop.corpus.formats.hf import read_hf

    corpus = read_hf(
        path,
        out,
        label_column=label_column,
        id_column=id_column,
        speaker_column=speaker_column,
        split_column=split_column,
        audio_column=audio_column,
        audio_root=audio_root,
        allow_outside_paths=allow_outside_paths,
        name=name,
    )
    _save_with_notes(corpus, out, force)


@import_app.command("audformat")
def import_audformat(
    directory: Path = typer.Argument(
        ..., help="audformat database folder (db.yaml + db.<table>.csv/.parquet), as audb delivers it."
    ),
    out: Path = OUT,
    force: bool = FORCE,
    emotion_scheme: str = typer.Option(
        None,
        "--emotion-scheme",
        help="The categorical scheme whose labels are the classes (default: 'emotion', else the only rated one).",
    ),
    allow_outside_paths: bool = ALLOW_OUTSIDE,
    name: str = typer.Option(None, help="Corpus name (default: the database's name)."),
) -> None:
    """audformat database (EmoDB, audb corpora): human raters, gold standard as consensus_class, segments as items."""
    from voxpop.corpus.formats.audformat_db import read_audformat

    corpus = read_audformat(
        directory, emotion_scheme=emotion_scheme, name=name, allow_outside_paths=allow_outside_paths
    )
    _save_with_notes(corpus, out, force)
