"""Leakage audit speed on RAVDESS (1,440 clips, FLAC): the whole audit (5 speaker folds: speakers, sentences, the
audio digests of every clip, an encoder's training data) against one plain soundfile read of every clip.

The audit reads each file once and decodes it from memory, so it should cost at most 1.5x the plain read. The
plain read runs first and last (file cache warm for both; the better of the two counts), the audit in between.

    python benchmarks/audit_bench.py [--data DIR] [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import soundfile

from voxpop.corpus.formats.ravdess import read_ravdess
from voxpop.models.protocols import speaker_folds
from voxpop.study.leakage import audit_folds

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data beside the checkout
DEFAULT_DATA = Path(os.environ.get("VOXPOP_SHARED_DATA", SHARED_DATA)) / "ravdess"
TARGET = 1.5
"""The audit's wall time may be at most this many times one plain read of every clip."""


def plain_read(paths: list[str]) -> float:
    """Seconds to decode every file with ``soundfile.read`` (float32), nothing else."""
    started = time.perf_counter()
    for path in paths:
        soundfile.read(path, dtype="float32")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the RAVDESS folder")
    parser.add_argument("--repeats", type=int, default=2, help="timings of each (the best counts)")
    args = parser.parse_args()
    corpus = read_ravdess(args.data)
    items = corpus.items
    paths = items["audio"].tolist()
    folds = speaker_folds(items, 5)
    plain_read(paths)  # warm the file cache
    plain, audit = [], []
    for _ in range(args.repeats):
        plain.append(plain_read(paths))
        started = time.perf_counter()
        found = audit_folds(items, folds, extractors=["ssl:microsoft/wavlm-base-plus"], corpus_name=corpus.name)
        audit.append(time.perf_counter() - started)
    ratio = min(audit) / min(plain)
    kinds = found.findings["kind"].value_counts().to_dict()
    print(f"RAVDESS: {len(paths):,} clips, 5 speaker folds; findings by kind: {kinds}")
    print(f"plain soundfile read of every clip: {min(plain):.2f} s (best of {args.repeats})")
    print(f"leakage audit (speaker, text, audio digests, model): {min(audit):.2f} s (best of {args.repeats})")
    print(f"ratio: {ratio:.2f}x (target <= {TARGET}x): {'ok' if ratio <= TARGET else 'over target'}")


if __name__ == "__main__":
    main()
