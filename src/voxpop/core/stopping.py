"""Stopping a run on SIGTERM or SIGINT within seconds, keeping what finished.

``voxpop`` installs :func:`raise_stopped` for SIGTERM when it starts (:func:`stop_on_sigterm`): a
scheduler's ``kill``, ``timeout`` or a job's end raises :class:`Stopped` in the main process wherever it
is, so the run ends (closing its worker cluster) with exit code :data:`TERMINATED` and one message;
stages, and the folds of a train stage, that finished stay in the cache. Python's default SIGTERM would
end the process at once without that message, and PyTorch Lightning, which replaces the handler during
``Trainer.fit``, only records the signal and trains on to the end of the epoch (minutes to hours on
long clips). :func:`stop_between_batches` puts voxpop's handlers in place for a fit (the batch in
progress is abandoned: nothing of it is kept), and the callback of :func:`stop_on_signal_callback` stops a
fit after the batch in progress where the process keeps a SIGTERM handler of its own.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

TERMINATED = 143
"""Exit code of a run stopped by SIGTERM (128 + 15, as shells report it)."""


class Stopped(BaseException):
    """Raised in the main thread when the process receives a stop signal (a ``BaseException``, like Ctrl-C's).

    Args:
        signum: the signal's number (``signal.SIGTERM``); the message names it (``stopped by SIGTERM``).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def raise_stopped(signum: int, frame: FrameType | None) -> None:
    """The signal handler that raises :class:`Stopped` (installed for SIGTERM by :func:`stop_on_sigterm`)."""
    raise Stopped(signum)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def stop_on_sigterm() -> None:
    """Make SIGTERM raise :class:`Stopped` in this process (a no-op outside the main thread, and where SIGTERM
    is ignored on purpose)."""
    if _main_thread() and signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN:
        signal.signal(signal.SIGTERM, raise_stopped)


@contextlib.contextmanager
def stop_between_batches() -> Iterator[None]:
    """Run a Lightning fit so that SIGINT and SIGTERM stop it at once, as :class:`Stopped` / KeyboardInterrupt.

    Lightning turns a KeyboardInterrupt inside ``fit`` into ``sys.exit(1)`` (and leaves Ctrl-C ignored);
    inside this block Ctrl-C raises :class:`Stopped`, which Lightning passes on, and leaves the block as a
    KeyboardInterrupt again. SIGTERM raises :class:`Stopped` (Lightning calls the handler found in place after
    its own). Handlers are only set in the main thread, and not where a signal is ignored (Dask workers
    ignore SIGINT); the previous handlers are restored afterwards.
    """
    saved: dict[int, Any] = {}
    if _main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            current = signal.getsignal(signum)
            if current in (signal.default_int_handler, signal.SIG_DFL, raise_stopped):
                saved[signum] = current
                signal.signal(signum, raise_stopped)
    try:
        yield
    except Stopped as exc:
        if exc.signum == signal.SIGINT:
            raise KeyboardInterrupt from None
        raise
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def stop_on_signal_callback() -> Any:
    """A Lightning callback (``StopOnSignal``) that raises :class:`Stopped` after any training or validation
    batch once Lightning has recorded a SIGTERM (``trainer.received_sigterm``): in a process with a SIGTERM
    handler of its own, which :func:`stop_between_batches` leaves in place (Lightning calls it after its own
    notifier, and would otherwise train on to the end of the epoch)."""
    import lightning as L

    class StopOnSignal(L.Callback):
        def _check(self, trainer: L.Trainer, *args: Any) -> None:
            if getattr(trainer, "received_sigterm", False):
                raise Stopped(signal.SIGTERM)

        on_train_batch_end = _check
        on_validation_batch_end = _check

    return StopOnSignal()
