"""Extract features for a corpus into the feature store: :func:`extract` and :func:`fill_store`.

:func:`fill_store` computes the shards still missing (only this process's share with
``shard=(I, N)``), committing each one atomically, and reports what it did; :func:`extract` fills
the store and returns the :class:`~voxpop.features.store.Features` aligned to the corpus items.
Re-running either recomputes nothing that is already stored.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from voxpop.core.cache import notify
from voxpop.core.errors import ConfigError, InputError
from voxpop.core.limits import check_ceiling
from voxpop.corpus import Corpus
from voxpop.features.audio import AudioLoader, AudioOptions
from voxpop.features.base import ClipRequest, Extractor, make_extractor
from voxpop.features.long_items import LONG_CLIP_SECONDS, describe_long, long_items
from voxpop.features.store import (
    CorruptShardError,
    Features,
    FeatureStore,
    entry_name,
    fingerprint_items,
    item_windows,
    store_key,
)
from voxpop.features.store_admin import default_store_root
from voxpop.features.store_lock import entry_lock

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
"""Called with (items done, items to do in this run); first with (0, total)."""


@dataclasses.dataclass
class ExtractionReport:
    """What one fill did (``computed_*``, ``long_clips``) and what the store holds now (the rest).

    Args:
        key: the store entry's key (a hash of the items' fingerprints, the extractor and the audio options).
        path: the store entry's folder.
        extractor: the extractor's description (``fbank(n_mels=40, output=pooled)``).
        items: items of the entry.
        shards: shards of the entry.
        shards_remaining: shards not computed yet (by any process).
        computed_shards: shards this fill computed.
        computed_items: items this fill computed.
        computed_audio_seconds: seconds of audio this fill read.
        compute_seconds: wall-clock seconds this fill took.
        extracted: items of the entry with features.
        audio_seconds: seconds of audio behind the entry's features.
        skipped: skip reason -> items of the entry without features for it.
        skipped_examples: skip reason -> the message of one such item.
        long_clips: the items this fill computed from more than
            :data:`voxpop.features.long_items.LONG_CLIP_SECONDS` of audio, or cropped to the audio options'
            ``max_seconds``, with their seconds used (longest first).
        reused: the entry was complete (and intact) before this fill: nothing was extracted, its features
            are read from the store.
    """

    key: str
    path: Path
    extractor: str
    items: int
    shards: int
    shards_remaining: int
    computed_shards: int
    computed_items: int
    computed_audio_seconds: float
    compute_seconds: float
    extracted: int
    audio_seconds: float
    skipped: dict[str, int]
    skipped_examples: dict[str, str]
    long_clips: dict[str, float] = dataclasses.field(default_factory=dict)
    reused: bool = False

    @property
    def complete(self) -> bool:
        return self.shards_remaining == 0

    @property
    def real_time_factor(self) -> float:
        """Compute time per second of audio in this run (below 1: faster than real time)."""
        return self.compute_seconds / self.computed_audio_seconds if self.computed_audio_seconds else float("nan")


def entry_inputs(
    corpus: Corpus,
    extractor: Extractor,
    loader: AudioLoader,
    store: str | Path | None = None,
    fingerprint: str = "stat",
) -> tuple[Path, pd.DataFrame]:
    """The folder of the store entry for (corpus items, audio options, extractor) and the items' fingerprints.

    Args:
        corpus: the corpus; extractor: the extractor; loader: the audio options' loader.
        store: the store root (default :func:`~voxpop.features.store_admin.default_store_root`).
        fingerprint: ``stat`` (path, size, modification time) or ``content`` (sha256) per audio file.

    Returns:
        ``(ROOT/<extractor>-<key[:16]>, fingerprints)``; nothing is created.

    Raises:
        ConfigError: another ``fingerprint``.
        InputError: no item has an audio file (:func:`require_some_audio`).
    """
    if fingerprint not in ("stat", "content"):
        raise ConfigError(f"fingerprint must be 'stat' (size + mtime) or 'content' (sha256), got {fingerprint!r}")
    fingerprints = fingerprint_items(corpus.items, content=fingerprint == "content")
    require_some_audio(corpus.name, fingerprints)
    root = default_store_root() if store is None else Path(store)
    spec = extractor.spec()
    return root / entry_name(spec, store_key(fingerprints, spec, loader.config())), fingerprints


def require_some_audio(name: str, fingerprints: pd.DataFrame, shown: int = 5) -> None:
    """Refuse to extract (before any store entry exists) when not one item has an audio file.

    Args:
        name: the corpus name, for the message.
        fingerprints: :func:`~voxpop.features.store.fingerprint_items` of the items.
        shown: how many items the message names with the path tried.

    Raises:
        InputError: every item's audio is empty or names no file; the message names the first items with
            the absolute path tried, so a path resolved against the wrong folder shows at once.
    """
    absent = fingerprints["fingerprint"].str.startswith(("missing|", "no audio")).to_numpy(dtype=bool)
    if not len(fingerprints) or not absent.all():
        return
    tried = [
        f"item {item!r}: {'(no audio path)' if pd.isna(path) else path}"
        for item, path in zip(fingerprints.index[:shown], fingerprints["audio"][:shown], strict=True)
    ]
    raise InputError(
        f"corpus {name!r}: none of its {len(fingerprints):,} items has an audio file, so no features were "
        f"extracted and no store entry was written. Tried: {'; '.join(tried)}. A relative path in a corpus "
        "names a file under the corpus folder (import resolves table paths against the table's folder or "
        "--audio-root); re-import with the right audio folder or fix the items' audio column."
    )


def _requests(corpus: Corpus, positions: slice) -> list[ClipRequest]:
    """Clip requests for a range of the corpus's items (audio paths as the corpus gives them now).

    Items with an ``offset`` are windows of their file: [offset, offset + duration) seconds.
    """
    items = corpus.items.iloc[positions]
    offsets, durations = item_windows(items)
    return [
        ClipRequest(str(item), None if pd.isna(path) or str(path) == "" else str(path), offset, duration)
        for item, path, offset, duration in zip(items.index, items["audio"], offsets, durations, strict=True)
    ]


def _loader_for(extractor: Extractor, audio: AudioOptions | None) -> AudioLoader:
    if audio is None:
        return AudioLoader(AudioOptions(sample_rate=extractor.sample_rate))
    if audio.sample_rate != extractor.sample_rate:
        raise ConfigError(
            f"{extractor.describe()} expects {extractor.sample_rate} Hz audio, but the audio options "
            f"resample to {audio.sample_rate} Hz; set sample_rate={extractor.sample_rate}"
        )
    return AudioLoader(audio)


def fill_store(
    corpus: Corpus,
    extractor: Extractor | str,
    store: str | Path | None = None,
    *,
    audio: AudioOptions | None = None,
    shard: tuple[int, int] = (0, 1),
    shard_size: int = 64,
    fingerprint: str = "stat",
    progress: ProgressCallback | None = None,
) -> ExtractionReport:
    """Compute this process's missing shards (``shard=(I, N)``: shards s with s mod N == I).

    Items whose audio cannot be used are recorded as skipped with their reason; any other error
    stops the run after the last committed shard, and the next run resumes from there. When every
    shard is done the store is consolidated. The entry's shared lock is held meanwhile
    (:func:`voxpop.features.store_lock.entry_lock`), so ``voxpop store prune`` leaves it alone.

    Args:
        corpus: the corpus whose items' audio (``items["audio"]``) is read.
        extractor: an :class:`~voxpop.features.base.Extractor`, or its ``"name[:argument]"``
            (:func:`~voxpop.features.base.make_extractor`).
        store: the feature store's root folder (default
            :func:`~voxpop.features.store_admin.default_store_root`: ``$VOXPOP_FEATURE_STORE``, else the user's
            cache folder).
        audio: how a file becomes the signal (:class:`~voxpop.features.audio.AudioOptions`; default the whole
            clip at 16 kHz mono).
        shard: ``(I, N)``: this process computes the shards s with s mod N == I.
        shard_size: items per shard (the unit that is committed, and resumed after an interruption).
        fingerprint: how an item's file is recognised: ``stat`` (path, size, modification time) or
            ``content`` (sha256 of the file).
        progress: ``progress(done, total)`` after each item.

    Returns:
        The :class:`ExtractionReport` of this fill and of the store entry.

    Raises:
        ConfigError: an unknown extractor or option, or another ``fingerprint``.
        InputError: no item has an audio file (naming the first items and the paths tried).
    """
    extractor = make_extractor(extractor)
    loader = _loader_for(extractor, audio)
    path, fingerprints = entry_inputs(corpus, extractor, loader, store, fingerprint)
    with entry_lock(path):  # voxpop store prune leaves the entry alone while it is filled
        entry = FeatureStore.create(
            path.parent, fingerprints, extractor.spec(), loader.config(), extractor.layout(), shard_size, corpus.name
        )
        return _fill(entry, corpus, extractor, loader, shard, progress)


def _fill(
    entry: FeatureStore,
    corpus: Corpus,
    extractor: Extractor,
    loader: AudioLoader,
    shard: tuple[int, int],
    progress: ProgressCallback | None,
) -> ExtractionReport:
    """:func:`fill_store` on an opened entry (its lock held)."""
    entry.repair()
    reused = entry.complete
    computed: list[int] = []
    total, done, computed_seconds = 0, 0, 0.0
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    for _attempt in range(2):  # a shard found damaged while consolidating is computed again, once
        todo = entry.missing_shards(shard)
        slices = {s: entry.shard_slice(s) for s in todo}
        total += sum(p.stop - p.start for p in slices.values())
        if progress:
            progress(done, total)
        if todo:
            with extractor.session(loader):
                for s in todo:
                    shard_started = time.perf_counter()
                    outcomes = []
                    for outcome in extractor.run(_requests(corpus, slices[s]), loader):
                        outcomes.append(outcome)
                        seconds[outcome.item] = outcome.seconds
                        computed_seconds += outcome.seconds
                        done += 1
                        if progress:
                            progress(done, total)
                    entry.commit(s, outcomes, time.perf_counter() - shard_started)
        computed += todo
        remaining = len(entry.missing_shards())
        if remaining:
            break
        try:
            entry.consolidate()
            break
        except CorruptShardError as exc:
            if _attempt:
                raise
            notify(str(exc))
    elapsed = time.perf_counter() - started
    summary = entry.summary()
    long_clips = report_long_clips(seconds, loader.options.max_seconds, extractor.describe())
    return ExtractionReport(
        key=entry.key,
        path=entry.path,
        extractor=extractor.describe(),
        items=entry.n_items,
        shards=entry.n_shards,
        shards_remaining=remaining,
        computed_shards=len(computed),
        computed_items=total,
        computed_audio_seconds=computed_seconds,
        compute_seconds=elapsed,
        extracted=summary["extracted"],
        audio_seconds=summary["audio_seconds"],
        skipped=summary["skipped"],
        skipped_examples=summary["examples"],
        long_clips=long_clips,
        reused=reused,
    )


def report_long_clips(seconds: dict[str, float], max_seconds: float | None, what: str) -> dict[str, float]:
    """Warn, naming them, about the clips used with more than :data:`~voxpop.features.long_items.LONG_CLIP_SECONDS` of
    audio
    or cropped to ``max_seconds`` (used for at least ``max_seconds`` minus half a millisecond).

    Args:
        seconds: item id -> seconds of audio the extractor used.
        max_seconds: the audio options' crop length, or None.
        what: the extractor's description, for the message.

    Returns:
        ``{item: seconds}`` of those clips, longest first (empty when none).
    """
    cropped = long_items(list(seconds), list(seconds.values()), max_seconds - 5e-4) if max_seconds else {}
    long = long_items(list(seconds), list(seconds.values()), LONG_CLIP_SECONDS)
    if cropped:
        log.warning(
            "%s: %d clip(s) cropped to their first %g s (max_seconds): %s.",
            what, len(cropped), max_seconds, describe_long(cropped, "s"),
        )  # fmt: skip
    if long:
        log.warning(
            "%s: %d clip(s) longer than %g s: %s. Frame-sequence models batch them by length "
            "(max_batch_frames); crop them with --max-seconds (features.max_seconds) if they are not meant to be "
            "this long.",
            what, len(long), LONG_CLIP_SECONDS, describe_long(long, "s"),
        )  # fmt: skip
    return {**long, **cropped}


def fill_store_on_workers(
    corpus: Corpus,
    extractor: Extractor | str,
    store: str | Path | None = None,
    *,
    workers: int,
    audio: AudioOptions | None = None,
    shard: tuple[int, int] = (0, 1),
    shard_size: int = 64,
    fingerprint: str = "stat",
    progress: ProgressCallback | None = None,
) -> ExtractionReport:
    """:func:`fill_store` with this process's share split over ``workers`` Dask worker processes (a
    ``LocalCluster``, :func:`voxpop.core.cluster.connect`); ``workers=1`` is :func:`fill_store` in this process.

    Worker j of W computes shards s with s mod (N x W) == I + N x j, which together are exactly the
    shards of ``shard=(I, N)``; each runs the extractor in its own process (no process pool inside).
    The report counts what all workers computed; ``compute_seconds`` is the wall time. ``progress``
    receives (workers done, workers).
    """
    check_ceiling("workers", workers, "--workers (extraction worker processes)")
    if workers <= 1:
        return fill_store(corpus, extractor, store, audio=audio, shard=shard, shard_size=shard_size,
                          fingerprint=fingerprint, progress=progress)  # fmt: skip
    from distributed import as_completed

    from voxpop.core.cluster import RETRIES, connect

    extractor = make_extractor(extractor)
    extractor.workers = 1
    index, count = shard
    options = {"audio": audio, "shard_size": shard_size, "fingerprint": fingerprint}
    started = time.perf_counter()
    with connect(workers, None) as client:
        futures = [
            client.submit(fill_store, corpus, extractor, store, shard=(index + count * j, count * workers), **options,
                          key=f"voxpop-extract-{index + count * j}-of-{count * workers}", retries=RETRIES, pure=False)
            for j in range(workers)
        ]  # fmt: skip
        if progress:
            progress(0, workers)
        reports = []
        for done, (_, report) in enumerate(as_completed(futures, with_results=True), start=1):
            reports.append(report)
            if progress:
                progress(done, workers)
    final = fill_store(corpus, extractor, store, shard=shard, **options)  # computes nothing: the summary
    return dataclasses.replace(
        final,
        computed_shards=sum(r.computed_shards for r in reports),
        computed_items=sum(r.computed_items for r in reports),
        computed_audio_seconds=sum(r.computed_audio_seconds for r in reports),
        compute_seconds=time.perf_counter() - started,
        reused=all(r.reused for r in reports),
        long_clips=dict(sorted(((k, v) for r in reports for k, v in r.long_clips.items()), key=lambda kv: -kv[1])),
    )


def extract(
    corpus: Corpus,
    extractor: Extractor | str,
    store: str | Path | None = None,
    *,
    audio: AudioOptions | None = None,
    shard: tuple[int, int] = (0, 1),
    shard_size: int = 64,
    fingerprint: str = "stat",
    progress: ProgressCallback | None = None,
) -> Features:
    """Features for every item of ``corpus`` (skipped items listed in ``.skipped``), via the store.

    Items already in the store (same items, same extractor configuration, same audio options) are read, not
    recomputed.

    Args:
        corpus: the corpus whose items' audio (``items["audio"]``) is read.
        extractor: an :class:`~voxpop.features.base.Extractor`, or its ``"name[:argument]"``
            (:func:`~voxpop.features.base.make_extractor`).
        store: the feature store's root folder (default
            :func:`~voxpop.features.store_admin.default_store_root`: ``$VOXPOP_FEATURE_STORE``, else the user's
            cache folder).
        audio: how a file becomes the signal (:class:`~voxpop.features.audio.AudioOptions`; default the whole
            clip at 16 kHz mono).
        shard: ``(I, N)``: this process computes the shards s with s mod N == I.
        shard_size: items per shard (the unit that is committed, and resumed after an interruption).
        fingerprint: how an item's file is recognised: ``stat`` (path, size, modification time) or
            ``content`` (sha256 of the file).
        progress: ``progress(done, total)`` after each item.

    Returns:
        :class:`~voxpop.features.store.Features`: ``items`` (ids with features, in corpus order), ``values``
        (items x D float32, items x layers x D, or per-item frame sequences), ``skipped`` (items without
        usable audio, with the reason).

    Raises:
        ConfigError: an unknown extractor or option, or another ``fingerprint``.
        InputError: no item has an audio file (naming the first items and the paths tried).
        IncompleteStoreError: with ``shard=(I, N)``, other shards are still missing after this process's share.
    """
    extractor = make_extractor(extractor)
    report = fill_store(
        corpus,
        extractor,
        store,
        audio=audio,
        shard=shard,
        shard_size=shard_size,
        fingerprint=fingerprint,
        progress=progress,
    )
    return FeatureStore(report.path).features()


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` (0-based I) as a tuple, e.g. from ``$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT``.

    >>> parse_shard("2/8")
    (2, 8)
    >>> parse_shard("8/8")
    Traceback (most recent call last):
    ...
    voxpop.core.errors.ConfigError: shard '8/8': expected I/N with 0 <= I < N (I counts from 0)
    """
    index, sep, count = text.partition("/")
    try:
        shard = (int(index), int(count))
    except ValueError:
        shard = (-1, 0)
    if not sep or not 0 <= shard[0] < shard[1]:
        raise ConfigError(f"shard {text!r}: expected I/N with 0 <= I < N (I counts from 0)")
    return shard
