"""The extractor interface, the registry (name -> extractor) and stable configuration hashes.

An extractor turns one processed signal into an array whose shape its :class:`Layout` declares:

=========  ======================  =====================================================
kind       array per clip          example
=========  ======================  =====================================================
vector     (D,)                    openSMILE functionals, pooled log-mel statistics
layers     (L, D)                  per-layer time means of a self-supervised encoder
frames     (T, D), T varies        openSMILE low-level descriptors, one encoder layer
=========  ======================  =====================================================

Its :meth:`Extractor.spec` (registry name, output version and every option that changes the
numbers) hashes stably (:func:`voxpop.core.cache.stable_hash`), so the feature store can key its entries by it.
Extractors are made from spec strings such as ``"opensmile:ComParE_2016"``, ``"fbank"`` or
``"ssl:microsoft/wavlm-base-plus"`` by :func:`make_extractor`.
"""

from __future__ import annotations

import abc
import concurrent.futures
import contextlib
import dataclasses
import importlib
import inspect
import json
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import ClassVar, Literal

import numpy as np
import pydantic

from voxpop.core.errors import ConfigError
from voxpop.core.limits import check_ceiling, signature_model
from voxpop.features.audio import AudioError, AudioLoader


@dataclasses.dataclass(frozen=True)
class Layout:
    """What an extractor produces per clip: kind, feature names, layer names and storage dtype.

    Args:
        kind: ``vector`` (D values per clip), ``layers`` (layers x D, a self-supervised encoder's per-layer
            pooled states) or ``frames`` (frames x D, a variable number of frames per clip).
        names: the D feature names (openSMILE functionals, ``mel_0``...).
        layers: the layer names of a ``layers`` layout (else empty).
        dtype: the numpy dtype the store keeps the values in.
    """

    kind: Literal["vector", "layers", "frames"]
    names: tuple[str, ...]
    layers: tuple[str, ...] = ()
    dtype: str = "float32"

    @property
    def item_shape(self) -> tuple[int, ...]:
        """Shape of one clip's array; frames omit their (variable) leading time axis."""
        return (len(self.layers), len(self.names)) if self.kind == "layers" else (len(self.names),)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Layout:
        return cls(data["kind"], tuple(data["names"]), tuple(data["layers"]), data["dtype"])


@dataclasses.dataclass(frozen=True)
class ClipRequest:
    """One item to extract: its id, audio path (``None`` when the corpus has none) and time window.

    ``offset`` / ``duration`` (seconds) restrict the item to a window of the file (segment items).
    """

    item: str
    path: str | None
    offset: float | None = None
    duration: float | None = None


@dataclasses.dataclass
class Outcome:
    """The result for one item: its array, or the reason it was skipped.

    Args:
        item: the item id.
        values: its array (shape :attr:`Layout.item_shape`, frames first for a ``frames`` layout), or None
            when skipped.
        seconds: seconds of audio used.
        reason: why it was skipped (the ``AudioError`` reason: missing, unreadable, silent, ...), else None.
        message: the full message of the skip, else None.
    """

    item: str
    values: np.ndarray | None
    seconds: float = 0.0
    reason: str | None = None
    message: str | None = None

    @classmethod
    def skipped(cls, item: str, error: AudioError) -> Outcome:
        return cls(item, None, 0.0, error.reason, str(error))


class Extractor(abc.ABC):
    """Base class: subclasses set ``name`` and ``version`` and implement config, layout, compute.

    The default :meth:`run` loads and computes clip by clip, in this process or (``workers`` > 1)
    in a pool of processes, and yields outcomes in item order. Batched extractors override it.
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    sample_rate: int = 16000
    workers: int = 1

    @abc.abstractmethod
    def config(self) -> dict:
        """Every option that changes the numbers (not speed-only options such as ``workers``)."""

    @abc.abstractmethod
    def layout(self) -> Layout:
        """Kind, names and dtype of what :meth:`compute` returns."""

    @abc.abstractmethod
    def compute(self, signal: np.ndarray) -> np.ndarray:
        """The features of one mono float32 signal at :attr:`sample_rate`."""

    @property
    def min_samples(self) -> int:
        """Shortest signal this extractor can process (shorter ones are skipped as ``too_short``)."""
        return 1

    def spec(self) -> dict:
        """Registry name, output version and config: what the feature store hashes."""
        return {"extractor": self.name, "version": self.version, **self.config()}

    def describe(self) -> str:
        """Short human-readable form, e.g. ``opensmile:eGeMAPSv02``."""
        return self.name

    @contextlib.contextmanager
    def session(self, loader: AudioLoader) -> Iterator[None]:
        """Hold resources (a process pool, a loaded model) while several shards are processed."""
        if self.workers <= 1:
            self._pool = None
            yield
            return
        context = multiprocessing.get_context("spawn")  # fork is unsafe after torch / openSMILE threads
        with concurrent.futures.ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_start_worker, initargs=(self, loader)
        ) as pool:
            self._pool = pool
            try:
                yield
            finally:
                self._pool = None

    def run(self, requests: list[ClipRequest], loader: AudioLoader) -> Iterator[Outcome]:
        """Outcomes for ``requests``, in their order (call inside :meth:`session`)."""
        pool = getattr(self, "_pool", None)
        if pool is None:
            for request in requests:
                yield process_clip(self, loader, request)
            return
        chunk = max(1, len(requests) // (4 * self.workers))
        yield from pool.map(_process_in_worker, requests, chunksize=chunk)

    def __getstate__(self) -> dict:
        """Pickle options only: caches and pools (attributes starting with ``_``) are rebuilt on use."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


def load_clip(extractor: Extractor, loader: AudioLoader, request: ClipRequest) -> np.ndarray:
    """The processed signal of one item, checked against the extractor's minimum length."""
    if request.path is None:
        raise AudioError(f"item {request.item!r}", "no_audio", "the item has no audio path (column 'audio' is empty)")
    signal = loader.load(request.path, request.item, request.offset, request.duration)
    if len(signal) < extractor.min_samples:
        raise AudioError(
            request.path,
            "too_short",
            f"{len(signal)} samples after processing; {extractor.describe()} needs at least "
            f"{extractor.min_samples} ({extractor.min_samples / extractor.sample_rate * 1000:.0f} ms)",
        )
    return signal


def process_clip(extractor: Extractor, loader: AudioLoader, request: ClipRequest) -> Outcome:
    """Load and compute one item; audio problems become a skipped :class:`Outcome`."""
    try:
        signal = load_clip(extractor, loader, request)
    except AudioError as error:
        return Outcome.skipped(request.item, error)
    values = extractor.compute(signal)
    return Outcome(request.item, values, len(signal) / extractor.sample_rate)


_worker_state: dict[str, object] = {}


def exit_with_parent() -> None:
    """In a process started by :mod:`multiprocessing`: end this process as soon as its parent is gone.

    A daemon thread waits on ``multiprocessing.parent_process()``'s sentinel (a pipe on POSIX, the
    process handle on Windows), which becomes ready when the parent ends, however it ends (also
    ``kill -9``), and then calls ``os._exit``, even while the main thread is inside a long computation.
    Without it, pool workers of a killed parent finish their clip and then wait for work forever.
    Does nothing in a process not started by multiprocessing.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="voxpop-exit-with-parent", daemon=True).start()


def _start_worker(extractor: Extractor, loader: AudioLoader) -> None:
    exit_with_parent()
    _worker_state.update(extractor=extractor, loader=loader)


def _process_in_worker(request: ClipRequest) -> Outcome:
    return process_clip(_worker_state["extractor"], _worker_state["loader"], request)


# ---------------------------------------------------------------------------------- registry
EXTRACTORS: dict[str, str | Callable[..., Extractor]] = {
    "opensmile": "voxpop.features.smile:OpenSmileExtractor",
    "fbank": "voxpop.features.fbank:FbankExtractor",
    "ssl": "voxpop.features.encoder:SpeechEncoderExtractor",
    "waveform": "voxpop.features.encoder:WaveformExtractor",
}
"""Registered extractors: name -> class (or ``"module:Class"``, imported on first use).

A class is called as ``cls(argument, **options)`` where ``argument`` is the text after the first
colon of the spec (``None`` when absent).
"""


def register_extractor(name: str, factory: Callable[..., Extractor]) -> None:
    """Make ``make_extractor("name[:argument]", ...)`` build extractors with ``factory``.

    Args:
        name: the extractor's name (no ``:``); an existing name is replaced.
        factory: called as ``factory(argument_or_None, **options)``, returns an :class:`Extractor`.
    """
    EXTRACTORS[name] = factory


def _factory(name: str) -> Callable[..., Extractor]:
    if name not in EXTRACTORS:
        raise ConfigError(f"unknown extractor {name!r}; known extractors: {', '.join(sorted(EXTRACTORS))}")
    factory = EXTRACTORS[name]
    if isinstance(factory, str):
        module, attribute = factory.split(":")
        factory = getattr(importlib.import_module(module), attribute)
    return factory


def make_extractor(spec: str | Extractor, **options: object) -> Extractor:
    """Build an extractor from ``"name[:argument]"`` and keyword options (an Extractor passes through).

    Args:
        spec: ``"name"`` or ``"name:argument"`` of :func:`available_extractors` (``"opensmile:eGeMAPSv02"``,
            ``"ssl:microsoft/wavlm-base-plus"``), or a ready :class:`Extractor`.
        **options: the extractor class's keyword options (checked against its signature before it is built).

    Returns:
        The :class:`Extractor`.

    Raises:
        ConfigError: an unknown extractor or option, options given with a ready extractor, or ``workers``
            above the ceiling.

    Example:
        >>> make_extractor("fbank", n_mels=40).describe()
        'fbank(n_mels=40, output=pooled)'
        >>> make_extractor("fbank", layers=12)
        Traceback (most recent call last):
        ...
        voxpop.core.errors.ConfigError: extractor 'fbank' has no option 'layers'; its options are: ...
    """
    if isinstance(spec, Extractor):
        if options:
            raise ConfigError(f"options {sorted(options)} given together with a ready extractor {spec.describe()}")
        return spec
    name, _, argument = spec.partition(":")
    options = check_extractor_options(spec, options)
    if isinstance(options.get("workers"), int):  # processes are planned from it: no more than the machine runs
        check_ceiling("workers", options["workers"], "extractor option workers (features.options.workers, --workers)")
    return _factory(name)(argument or None, **options)


def check_extractor_options(spec: str, options: Mapping[str, object]) -> dict[str, object]:
    """The keyword options of extractor ``spec`` checked against its class's signature, before anything is built.

    Every option must be a parameter of the extractor and have its annotated type, strictly: ``true`` is not
    a number, ``40.5`` or ``"40"`` not an integer, ``.inf`` / ``.nan`` (or JSON ``Infinity``) not a number,
    a mapping not a text. Used by :func:`make_extractor` and by a recipe's ``features.options``.

    Raises:
        ConfigError: one line per problem, naming the option (unknown ones list the accepted options).

    >>> check_extractor_options("fbank", {"n_mels": True})
    Traceback (most recent call last):
    ...
    voxpop.core.errors.ConfigError: extractor 'fbank' option n_mels: Input should be a valid integer
    """
    name = spec.partition(":")[0]
    factory = _factory(name)
    parameters = inspect.signature(factory).parameters
    accepted = [p for p in parameters if p not in ("self", "argument")]
    unknown = [key for key in options if key not in accepted]
    if unknown:
        raise ConfigError(
            f"extractor {name!r} has no option {unknown[0]!r}; its options are: {', '.join(accepted) or '(none)'}"
        )
    schema = signature_model(factory, f"{name}_options", strict=True, skip=("self", "argument"))
    try:
        schema.model_validate(dict(options))
    except pydantic.ValidationError as exc:
        problems = [f"option {'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"extractor {name!r} " + "; ".join(problems)) from None
    return dict(options)


def available_extractors() -> list[str]:
    """Names accepted by :func:`make_extractor`.

    Returns:
        The registered extractor names, sorted.

    Example:
        >>> "opensmile" in available_extractors()
        True
    """
    return sorted(EXTRACTORS)


def parse_options(pairs: Sequence[str]) -> dict[str, object]:
    """``KEY=VALUE`` texts as keyword options; values are read as JSON when they parse, else text.

    >>> parse_options(["std=true", "layers=12", "level=lld", "frames_mix=[0.5, 0.5]"])
    {'std': True, 'layers': 12, 'level': 'lld', 'frames_mix': [0.5, 0.5]}
    """
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"extractor option {pair!r}: expected KEY=VALUE, e.g. level=lld")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options
