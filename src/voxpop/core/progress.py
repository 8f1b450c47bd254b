"""Progress of long work: one model of events (stage started, inner progress, stage finished) that the study
runner and the computations produce and that a renderer shows.

A :class:`Reporter` receives the events: ``stage`` when a stage starts (or is found done in the cache),
``step(done, total, unit)`` as its computation goes (items extracted, folds trained, epochs of a fold, clips
synthesised), ``finish`` when it ends, ``notice`` for lines about the run (a damaged stage recomputed, a reused
feature store entry). Renderers: :class:`voxpop.core.progress_lines.PlainLines` (one line per event, a line at
least every 30 s: logs, CI, ``nohup``) and the rich live display of the command line.

Computations deep inside a stage (a Lightning fit reporting its epochs) reach the running stage's ``step``
through :func:`inner_progress` / :func:`report_inner`, without a callback threaded through every call.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from voxpop.core.cache import notify

Step = Callable[[int, int, str], None]
"""``step(done, total, unit)``: ``done`` of ``total`` units (``items``, ``folds``, ``epochs``, ``clips``) finished."""


@dataclasses.dataclass
class Reporter:
    """Progress callbacks of a study (or any long verb); each defaults to doing nothing (``notice``: stderr).

    Args:
        stage: ``stage(label, position, total, cached)`` when a stage starts or is found done: its label, its
            1-based position among the ``total`` stages of the run (the corpus stage, when the study builds one,
            and every stage of the plan), and whether its outputs are reused from the cache (then no ``finish``
            follows).
        step: ``step(done, total, unit)`` within a running stage: ``done`` of ``total`` ``unit`` finished
            (``items``, ``folds``, ``epochs`` of the current fold, ``clips``).
        notice: ``notice(line)`` about the run: a damaged or stale stage recomputed, a reused store entry.
        finish: ``finish(label, position, seconds)`` when a stage that was computed ends (``position`` as given
            to ``stage``: labels need not be unique), ``seconds`` of wall time.

    Example:
        >>> seen = []
        >>> reporter = Reporter(stage=lambda label, position, total, cached: seen.append((label, position, total)))
        >>> reporter.stage("features fbank", 2, 5, False)
        >>> seen
        [('features fbank', 2, 5)]
    """

    stage: Callable[[str, int, int, bool], None] = lambda label, position, total, cached: None
    step: Callable[..., None] = lambda done, total, unit="items": None
    notice: Callable[[str], None] = notify
    finish: Callable[[str, int, float], None] = lambda label, position, seconds: None


_INNER: contextvars.ContextVar[Step | None] = contextvars.ContextVar("voxpop_inner_progress", default=None)


@contextlib.contextmanager
def inner_progress(step: Step | None) -> Iterator[None]:
    """Send :func:`report_inner` calls made inside the block (in this thread) to ``step``; None: drop them.

    Example:
        >>> calls = []
        >>> with inner_progress(lambda done, total, unit: calls.append((done, total, unit))):
        ...     report_inner(3, 20, "epochs")
        >>> report_inner(4, 20, "epochs")  # outside the block: nobody listens
        >>> calls
        [(3, 20, 'epochs')]
    """
    token = _INNER.set(step)
    try:
        yield
    finally:
        _INNER.reset(token)


def report_inner(done: int, total: int, unit: str) -> None:
    """Report ``done`` of ``total`` ``unit`` to the running stage's listener (:func:`inner_progress`), if any."""
    step = _INNER.get()
    if step is not None:
        step(done, total, unit)


def epoch_progress_callback() -> Any:
    """A Lightning callback (``EpochProgress``) that reports the epochs of a fit through :func:`report_inner`:
    ``(0, E, "epochs")`` when training starts and ``(e, E, "epochs")`` after epoch ``e`` (``E``: ``max_epochs``;
    early stopping may end the fit before ``E``). Silent where no stage listens (:func:`inner_progress`)."""
    import lightning as L

    class EpochProgress(L.Callback):
        def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
            report_inner(0, trainer.max_epochs, "epochs")

        def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
            report_inner(trainer.current_epoch + 1, trainer.max_epochs, "epochs")

    return EpochProgress()
