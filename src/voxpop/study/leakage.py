"""The leakage audit: what each fold's test partition shares with its train or development partition.

Four kinds of finding, one row each (:data:`FINDING_COLUMNS`):

- ``speaker``: a speaker with items in test and in train / dev (key: the speaker id);
- ``audio``: the same sound under item ids in test and in train / dev, by a digest of the decoded samples (a
  FLAC and its float-WAV copy match) or of the file bytes (:mod:`voxpop.features.audio_hash`); example: every id;
- ``text``: the same sentence in test and train / dev, from the item column that holds it (:func:`text_column`);
- ``model``: an extractor's pretrained model whose published training data (:mod:`voxpop.features.training_data`)
  includes a corpus of the test items (key: the model id; example: the corpus, the stage and the source).

:func:`audit_folds` finds them, :func:`summary_lines` says what they mean for the scores; ``voxpop audit`` and
every study's pre-flight (:func:`voxpop.study.run.run_recipe`) run it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError
from voxpop.features.audio_hash import audio_digests
from voxpop.features.training_data import corpus_key, model_id, training_data
from voxpop.models.protocols import SET_ASIDE, Fold

if TYPE_CHECKING:
    from voxpop.corpus import Corpus
    from voxpop.study.definition import Study

FINDING_COLUMNS = ("fold", "kind", "key", "partitions", "items", "example")
KINDS = ("speaker", "audio", "text", "model")
STRICT_KINDS = ("speaker", "audio")
"""Kinds that make ``--strict`` (and a recipe's ``audit: strict``) refuse: the test items are in training."""
TEXT_COLUMNS = ("sentence", "statement", "transcript", "transcription", "text")
"""Item columns that hold what was said, in the order looked for (CREMA-D ``sentence``, RAVDESS ``statement``)."""

MEANING = {
    "speaker": "test speakers heard in training: scores are not speaker-independent and overstate new speakers",
    "audio": "the same recordings in test and training: those test items were learnt, scores are inflated",
    "text": "test sentences spoken in training: scores may rest on the words, not only the voice",
    "model": "the encoder was trained on the test corpus: features have seen the test items (and maybe labels)",
}
"""What a finding of each kind means for the scores (the summary's last column)."""


@dataclasses.dataclass(frozen=True)
class Audit:
    """The audit of one protocol's folds.

    Args:
        findings: one row per finding, columns :data:`FINDING_COLUMNS`.
        notes: lines about what was not checked ("training data unknown", items without audio, set-aside items).
    """

    findings: pd.DataFrame
    notes: tuple[str, ...] = ()

    def strict_failure(self) -> bool:
        """Whether a ``speaker`` or ``audio`` finding is present (``--strict`` exits 1, ``audit: strict`` refuses)."""
        return bool(self.findings["kind"].isin(STRICT_KINDS).any())


def text_column(items: pd.DataFrame, given: str | None = None) -> str | None:
    """The item column that holds the sentence: ``given`` (which must exist), else the first of
    :data:`TEXT_COLUMNS` the items have; None when none.

    Raises:
        ConfigError: ``given`` is not an item column.

    Example:
        >>> text_column(pd.DataFrame(columns=["speaker", "statement"]))
        'statement'
    """
    if given is not None:
        if given not in items.columns:
            raise ConfigError(
                f"text column {given!r} is not an item column (columns: {', '.join(map(str, items.columns))}); "
                "name the column that holds the sentence with --text-column"
            )
        return given
    return next((c for c in TEXT_COLUMNS if c in items.columns), None)


def _partitions(fold: Fold) -> dict[str, pd.Index]:
    return {"test": fold.test, "train": fold.train, "dev": fold.dev}


def _shared(fold: Fold, values: pd.Series, kind: str) -> list[dict]:
    """Rows for each value of ``values`` (indexed by item; missing values ignored) found in test and in train or
    dev of ``fold``; items: the value's items in the fold, example: one test id and one train / dev id."""
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    coded = pd.Series(codes, index=values.index)
    where = {p: coded.reindex(ids).to_numpy() for p, ids in _partitions(fold).items()}
    seen = {p: set(np.unique(c[c >= 0]).tolist()) for p, c in where.items()}
    rows = []
    for code in sorted(seen["test"] & (seen["train"] | seen["dev"]), key=lambda c: str(uniques[c])):
        parts = ["test", *(p for p in ("train", "dev") if code in seen[p])]
        hits = {p: np.flatnonzero(where[p] == code) for p in parts}
        ids = _partitions(fold)
        rows.append({
            "fold": fold.name, "kind": kind, "key": str(uniques[code]), "partitions": "+".join(parts),
            "items": sum(len(h) for h in hits.values()),
            "example": " ".join(str(ids[p][hits[p][0]]) for p in parts),
        })  # fmt: skip
    return rows


def _repeated_sounds(digests: pd.DataFrame) -> pd.DataFrame:
    """The items whose sound (sample digest, else file digest where the file does not decode) another item has
    too: the only candidates of an ``audio`` finding; columns ``sound`` and ``file_digest``."""
    sound = digests["sample_digest"].fillna(digests["file_digest"]).dropna()
    repeated = sound[sound.duplicated(keep=False)]
    return pd.DataFrame({"sound": repeated, "file_digest": digests.loc[repeated.index, "file_digest"]})


def _audio_rows(fold: Fold, repeated: pd.DataFrame) -> list[dict]:
    """Rows for each sound shared by test and train / dev (``repeated``: :func:`_repeated_sounds`): key
    ``file:DIGEST`` when every file of the group is byte-identical, else ``samples:DIGEST``; example: every id of
    the group in the fold, test ids first."""
    rows = []
    if not len(repeated):
        return rows
    parts = _partitions(fold)
    part_of = {item: part for part in ("test", "train", "dev") for item in parts[part] if item in repeated.index}
    table = repeated.loc[list(part_of)].assign(part=list(part_of.values()))
    for sound, group in table.groupby("sound", sort=True):
        present = set(group["part"])
        if "test" not in present or not present & {"train", "dev"}:
            continue
        same_file = group["file_digest"].notna().all() and group["file_digest"].nunique() == 1
        rows.append({
            "fold": fold.name, "kind": "audio", "key": f"{'file' if same_file else 'samples'}:{sound[:16]}",
            "partitions": "+".join(p for p in ("test", "train", "dev") if p in present), "items": len(group),
            "example": " ".join(map(str, group.index)),
        })  # fmt: skip
    return rows


def _model_rows(fold: Fold, items: pd.DataFrame, corpus_name: str, models: Sequence[str]) -> list[dict]:
    """Rows for each model whose training corpora include a corpus of the fold's test items (item column
    ``corpus``, else the corpus's name)."""
    if "corpus" in items.columns:
        test_corpora = items.loc[fold.test, "corpus"].astype(str)
    else:
        test_corpora = pd.Series(corpus_name, index=fold.test, dtype=object)
    counts = test_corpora.map(corpus_key).value_counts()
    rows = []
    for model in models:
        for corpus, stage, source in training_data(model).corpora:
            key = corpus_key(corpus.rsplit("/", 1)[-1])  # a card's owner/name dataset id: its name
            if key in counts.index:
                rows.append({
                    "fold": fold.name, "kind": "model", "key": model, "partitions": "test", "items": int(counts[key]),
                    "example": f"{corpus} ({stage}; {source})",
                })  # fmt: skip
    return rows


def audit_folds(
    items: pd.DataFrame,
    folds: Sequence[Fold],
    *,
    extractors: Sequence[str] = (),
    text: str | None = None,
    speaker: str = "speaker",
    corpus_name: str = "",
    digests: pd.DataFrame | None = None,
) -> Audit:
    """Find what each fold's test partition shares with its train or development partition.

    Args:
        items: the corpus items (indexed by item id): ``speaker``, the text column, ``audio`` (file paths),
            ``corpus`` (merged corpora) as present; a kind whose column is absent is skipped with a note.
        folds: the protocol's folds (:meth:`voxpop.study.recipe.ProtocolConfig.folds`).
        extractors: extractor specs (``ssl:microsoft/wavlm-base-plus``) whose pretrained models are checked.
        text: the item column holding the sentence (default :func:`text_column`).
        speaker: the speaker column.
        corpus_name: the corpus's name, for items without a ``corpus`` column.
        digests: the items' audio digests (:func:`voxpop.features.audio_hash.audio_digests`); None: computed from
            the ``audio`` column.

    Returns:
        The :class:`Audit`: findings in fold order, then kind order (:data:`KINDS`), and notes on what was not
        checked, including each fold's set-aside items (:attr:`voxpop.models.protocols.Fold.left_out`).

    Raises:
        ConfigError: ``text`` is not an item column.

    Example:
        >>> items = pd.DataFrame({"speaker": ["a", "a", "b"], "sentence": ["x", "y", "x"]}, index=["1", "2", "3"])
        >>> fold = Fold("f1", pd.Index(["1", "3"]), pd.Index([]), pd.Index(["2"]))
        >>> audit_folds(items, [fold]).findings[["kind", "key", "partitions", "items"]].values.tolist()
        [['speaker', 'a', 'test+train', 2]]
    """
    notes: list[str] = []
    column = text_column(items, text)
    rows: list[dict] = []
    if "audio" in items.columns and digests is None:
        digests = audio_digests(items["audio"])
    if digests is not None:
        unread = int((~digests["readable"].astype(bool)).sum())
        if unread:
            notes.append(f"audio: {unread:,} items without a readable audio file were not compared")
    else:
        notes.append("audio: the items have no 'audio' column; recordings were not compared")
    if speaker not in items.columns:
        notes.append(f"speaker: the items have no {speaker!r} column; speakers were not compared")
    if column is None:
        notes.append(f"text: no item column holds the sentence ({', '.join(TEXT_COLUMNS)}; --text-column names one)")
    models = list(dict.fromkeys(m for e in extractors if (m := model_id(e)) is not None))
    for model in models:
        if not training_data(model).known:
            notes.append(f"model {model}: training data unknown (not in the registry, no cached card's datasets:)")
    repeated = _repeated_sounds(digests) if digests is not None else None
    for fold in folds:
        if speaker in items.columns:
            rows += _shared(fold, items[speaker], "speaker")
        if repeated is not None:
            rows += _audio_rows(fold, repeated)
        if column is not None:
            rows += _shared(fold, items[column], "text")
        rows += _model_rows(fold, items, corpus_name, models)
        for value, n in fold.left_out.items():
            said = f"set aside {n:,}" if value == SET_ASIDE else f"left out {n:,} items of split value {value}"
            notes.append(f"{fold.name}: {said}")
    findings = pd.DataFrame(rows, columns=list(FINDING_COLUMNS))
    findings["kind"] = pd.Categorical(findings["kind"], categories=list(KINDS), ordered=True)
    order = {name: i for i, name in enumerate(f.name for f in folds)}
    findings = findings.assign(_o=findings["fold"].map(order)).sort_values(["_o", "kind"], kind="stable")
    findings = findings.drop(columns="_o").reset_index(drop=True)
    findings["kind"] = findings["kind"].astype(str)
    findings["items"] = findings["items"].astype(int)
    return Audit(findings, tuple(notes))


def summary_table(audit: Audit) -> pd.DataFrame:
    """Per kind (:data:`KINDS`): findings, folds with one, item-fold pairs affected and what it means
    (:data:`MEANING`).

    Returns:
        Columns ``kind, findings, folds, items, meaning``, one row per kind (zeros where none).
    """
    rows = []
    for kind in KINDS:
        found = audit.findings[audit.findings["kind"].eq(kind)]
        rows.append(
            {
                "kind": kind,
                "findings": len(found),
                "folds": found["fold"].nunique(),
                "items": int(found["items"].sum()),
                "meaning": MEANING[kind] if len(found) else "none found",
            }
        )
    return pd.DataFrame(rows)


def caution_lines(audit: Audit) -> list[str]:
    """One caution line per kind with findings (the study's console and report cautions).

    Example:
        >>> findings = pd.DataFrame([["f1", "text", "x", "test+train", 3, "1 2"]], columns=list(FINDING_COLUMNS))
        >>> caution_lines(Audit(findings))[0].split(": test sentences")[0]
        'leakage (text): 1 finding in 1 fold, 3 items'
    """
    lines = []
    for row in summary_table(audit).itertuples():
        if row.findings:
            plural = "s" if row.findings != 1 else ""
            folds = "s" if row.folds != 1 else ""
            lines.append(f"leakage ({row.kind}): {row.findings} finding{plural} in {row.folds} fold{folds}, "
                         f"{row.items:,} items: {row.meaning}")  # fmt: skip
    return lines


def audit_study(
    study: Study,
    corpus: Corpus,
    text: str | None = None,
    extractors: Sequence[str] | None = None,
    digests: pd.DataFrame | None = None,
) -> Audit:
    """Audit a study's protocol(s) on its corpus: the folds of every variant's protocol (one audit per distinct
    protocol, fold names prefixed with the variant where they differ) against the extractors of every variant.

    Args:
        study: the :class:`voxpop.study.definition.Study`.
        corpus: its corpus after ``where`` (:class:`voxpop.corpus.Corpus`).
        text: the item column holding the sentence (default :func:`text_column`).
        extractors: extractor specs to check instead of the variants' (``voxpop audit --features``).
        digests: the items' audio digests when already known (:func:`voxpop.features.audio_hash.audio_digests`).

    Returns:
        The :class:`Audit` of all folds; the audio of each item is decoded once.

    Raises:
        ConfigError: a protocol the items do not fit (as the pre-flight check says), an unknown text column.
    """
    items = corpus.items
    protocols: dict[str, object] = {}
    for name, variant in study.variants:
        protocols.setdefault(repr(variant.protocol.name_and_options()), (name, variant.protocol))
    specs = list(extractors) if extractors is not None else [v.features.extractor for _, v in study.variants]
    if digests is None and "audio" in items.columns:
        digests = audio_digests(items["audio"])
    audits = []
    for name, protocol in protocols.values():
        folds = protocol.folds(items)
        if len(protocols) > 1:
            folds = [dataclasses.replace(f, name=f"{name}/{f.name}") for f in folds]
        audits.append(audit_folds(items, folds, extractors=specs, text=text, corpus_name=corpus.name,
                                  digests=digests))  # fmt: skip
    findings = pd.concat([a.findings for a in audits], ignore_index=True)
    return Audit(findings, tuple(dict.fromkeys(n for a in audits for n in a.notes)))
