"""Every study audits itself (:func:`preflight_audit`, called by :func:`voxpop.study.run.run_recipe` after the
pre-flight check): the leakage audit of its protocol and extractors (:mod:`voxpop.study.leakage`), one caution
line per kind, ``leakage.csv`` beside ``results.parquet``, and a refusal under ``audit: strict``.

The items' audio digests are kept in the feature store, keyed on the audio files' fingerprints (path, size and
modification time: :func:`voxpop.features.store.fingerprint_items`), so a study decodes its audio for the audit
once, not on every run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from voxpop.core.cache import atomic_write, write_text
from voxpop.core.errors import ConfigError
from voxpop.corpus import Corpus
from voxpop.features.audio_hash import DIGEST_COLUMNS, audio_digests
from voxpop.features.store import fingerprint_items, fingerprints_hash
from voxpop.features.store_admin import default_store_root
from voxpop.study.definition import Study
from voxpop.study.leakage import STRICT_KINDS, Audit, audit_study

AUDIT_FILE = "leakage.csv"
"""The study's audit findings, beside ``results.parquet`` (columns :data:`voxpop.study.leakage.FINDING_COLUMNS`)."""
DIGEST_FOLDER = "audio-digests"
"""The feature store's folder of kept audio digests, one parquet file per set of audio files."""


def kept_digests(items: pd.DataFrame, store: str | Path | None) -> pd.DataFrame | None:
    """The items' audio digests (:func:`voxpop.features.audio_hash.audio_digests`), read from the feature store
    when these files (same paths, sizes, modification times) were digested before, else computed and kept there.

    Args:
        items: the corpus items; None is returned without an ``audio`` column.
        store: the feature store root (None: the default, :func:`voxpop.features.store_admin.default_store_root`).

    Returns:
        The digests indexed by item, or None for items without audio.
    """
    if "audio" not in items.columns:
        return None
    key = fingerprints_hash(fingerprint_items(items))
    path = Path(store or default_store_root()) / DIGEST_FOLDER / f"{key}.parquet"
    if path.is_file():
        kept = pd.read_parquet(path)
        if list(kept.columns) == list(DIGEST_COLUMNS) and kept.index.equals(items.index):
            return kept.astype(object).where(kept.notna(), None)
    digests = audio_digests(items["audio"])
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = digests.astype({"readable": bool, "file_digest": "string", "sample_digest": "string"})
    atomic_write(path, lambda handle: stored.to_parquet(handle))
    return digests


def preflight_audit(
    study: Study, corpus: Corpus, out_dir: Path, notice: Callable[[str], None] | None = None
) -> Audit | None:
    """Audit a study before it runs: write ``out_dir/leakage.csv``, say the audit's notes (what it could not
    check) through ``notice``, and refuse under ``audit: strict`` a ``speaker`` or ``audio`` finding.

    Args:
        study: the :class:`voxpop.study.definition.Study`.
        corpus: its corpus after ``where``.
        out_dir: the study's output directory.
        notice: prints a line (the run's reporter); None: silent.

    Returns:
        The :class:`voxpop.study.leakage.Audit`, or None with ``audit: off``.

    Raises:
        ConfigError: ``audit: strict`` and a ``speaker`` or ``audio`` finding (naming the first findings and
            ``leakage.csv``).
    """
    recipe = study.recipe
    if recipe.audit == "off":
        return None
    audit = audit_study(study, corpus, digests=kept_digests(corpus.items, recipe.features.store))
    Path(out_dir).mkdir(parents=True, exist_ok=True)  # the audit runs before any stage has made the folder
    write_text(Path(out_dir) / AUDIT_FILE, audit.findings.to_csv(index=False))
    if recipe.audit == "strict" and audit.strict_failure():
        leaks = audit.findings[audit.findings["kind"].isin(STRICT_KINDS)]
        first = leaks.head(5).itertuples()
        shown = "; ".join(f"{r.fold}: {r.kind} {r.key} ({r.partitions}, {r.example})" for r in first)
        raise ConfigError(
            f"{study.source}: audit: strict refuses to run: {len(leaks):,} speaker or audio leak(s) between test and "
            f"train / dev ({shown}{' ...' if len(leaks) > 5 else ''}; all in {Path(out_dir) / AUDIT_FILE}). Fix the "
            "split (or remove the duplicate recordings), or set audit: warn to run with the caution"
        )
    if notice is not None:  # the findings' caution lines come with the study's cautions (report.cautions)
        for line in audit.notes:
            notice(f"leakage audit: {line}")
    return audit
