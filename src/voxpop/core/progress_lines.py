"""Progress as plain lines, for output that is not a terminal (logs, CI, ``nohup``, Slurm): one line when a stage
starts, is reused or finishes, and while it runs a line at least every :data:`HEARTBEAT` seconds.

The lines read like ``[12:03:05] stage 3/65 features opensmile: started``, ``[12:03:35] stage 3/65 features
opensmile: 120/1,440 items, 4.0 items/s, about 5 min 30 s left`` and ``[12:09:11] stage 3/65 features opensmile:
finished in 6 min 06 s``; a stage whose computation reports nothing for 30 s gets ``still running, 2 min 30 s``.
:class:`StageProgress` (what one running stage has reported, its rate and estimate) also feeds the rich live
display of the command line.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Callable

from voxpop.core.progress import Reporter

HEARTBEAT = 30.0
"""The most seconds between two lines about a running stage (a progress line, or ``still running`` when silent)."""

TICK = 0.5
"""Seconds between two checks of the background thread of :class:`PlainLines` for a line that is due: a line is
due :data:`TICK` seconds before :data:`HEARTBEAT`, so that no gap between lines exceeds it."""


def format_duration(seconds: float) -> str:
    """``42 s``, ``2 min 30 s``, ``1 h 05 min``: a duration in whole seconds as a log line shows it.

    Example:
        >>> format_duration(42.4), format_duration(150), format_duration(3900)
        ('42 s', '2 min 30 s', '1 h 05 min')
    """
    whole = round(max(seconds, 0.0))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


@dataclasses.dataclass
class StageProgress:
    """What one running stage has reported: its inner progress by unit (outermost first: ``folds`` then
    ``epochs`` of the current fold), when it started and when its first progress came.

    ``fraction`` is the share done, each inner unit a share of one outer unit. Rates and estimates use the
    progress reports only: from the first report (time t0, share f0) to the latest (t1, f1) the stage did
    f1 - f0 in t1 - t0, so the time left is ``(t1 - t0) (1 - f1) / (f1 - f0)`` less the time since t1.
    """

    label: str
    position: int
    total: int
    started: float
    units: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    first: tuple[float, float, int] | None = None  # (time, fraction, outer done) of the first progress report
    latest: float = 0.0  # time of the latest progress report
    changed: bool = False  # progress arrived since the last line about this stage

    def update(self, done: int, total: int, unit: str, now: float) -> None:
        """Record ``done`` of ``total`` ``unit``; a unit seen first after others is inner to them, and a new
        value of an outer unit forgets the inner ones (the next fold's epochs start again)."""
        names = list(self.units)
        if unit in names:
            for inner in names[names.index(unit) + 1 :]:
                del self.units[inner]
        self.units[unit] = (done, total)
        if self.first is None:
            self.first = (now, self.fraction(), self.outer()[0])
        self.latest, self.changed = now, True

    def outer(self) -> tuple[int, int, str]:
        """The outermost unit's ``(done, total, unit)``."""
        unit, (done, total) = next(iter(self.units.items()))
        return done, total, unit

    def fraction(self) -> float:
        """The share of the stage done, 0 to 1, from the units reported (0 before any)."""
        share = 0.0
        for done, total in reversed(list(self.units.values())):
            share = min(1.0, (done + (share if done < total else 0.0)) / total) if total > 0 else 0.0
        return share

    def describe(self) -> str:
        """``1/5 folds, 3/20 epochs``: every unit's done of total."""
        return ", ".join(f"{done:,}/{total:,} {unit}" for unit, (done, total) in self.units.items())

    def rate(self) -> str:
        """The outer unit's rate from the first progress report to the latest: ``4.0 items/s`` or ``1 min 10 s
        per fold``; empty before one unit has finished."""
        if self.first is None:
            return ""
        done, _, unit = self.outer()
        finished, seconds = done - self.first[2], self.latest - self.first[0]
        if finished <= 0 or seconds <= 0:
            return ""
        per_second = finished / seconds
        if per_second >= 1:
            return f"{per_second:,.1f} {unit}/s"
        return f"{format_duration(seconds / finished)} per {unit.removesuffix('s')}"

    def left(self, now: float) -> float | None:
        """Seconds still to go by the progress so far (None while nothing has advanced)."""
        if self.first is None:
            return None
        since, start_fraction, _ = self.first
        advanced = self.fraction() - start_fraction
        if advanced <= 0 or self.latest <= since:
            return None
        return max(0.0, (self.latest - since) * (1.0 - self.fraction()) / advanced - (now - self.latest))

    def progress_text(self, now: float) -> str:
        """``120/1,440 items, 4.0 items/s, about 5 min 30 s left`` (the parts known so far)."""
        left = self.left(now)
        parts = [self.describe(), self.rate(), f"about {format_duration(left)} left" if left is not None else ""]
        return ", ".join(part for part in parts if part)


class PlainLines:
    """The plain-line renderer: a :class:`~voxpop.core.progress.Reporter` whose events become time-stamped lines.

    Used as a context manager it runs a background thread that checks every :data:`TICK` seconds for a stage
    that has had no line for :data:`HEARTBEAT` seconds (:meth:`tick`); tests call :meth:`tick` themselves with
    a fake ``clock``. Between stages (the pre-flight check, planning, writing the results and the report) a
    silence of as long gets ``still working, 45 s since stage 1/65 demo corpus (small) finished``.

    Args:
        write: receives each line (default: printed to standard error, flushed).
        clock: seconds since the epoch (``time.time``); the stamps are its local time of day.
        interval: seconds after its last line that a running stage gets another (default ``HEARTBEAT - TICK``).

    Example:
        >>> times = iter([0.0, 0.0, 12.0, 12.0])
        >>> lines = PlainLines(print, clock=lambda: next(times), interval=30)
        >>> reporter = lines.reporter()
        >>> reporter.stage("labels MR", 1, 4, True)  # doctest: +ELLIPSIS
        [...] stage 1/4 labels MR: reused
        >>> reporter.stage("features fbank", 2, 4, False)  # doctest: +ELLIPSIS
        [...] stage 2/4 features fbank: started
        >>> reporter.finish("features fbank", 2, 12.0)  # doctest: +ELLIPSIS
        [...] stage 2/4 features fbank: finished in 12 s
    """

    def __init__(
        self,
        write: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
        interval: float = HEARTBEAT - TICK,
    ) -> None:
        self.write = write or (lambda line: print(line, file=sys.stderr, flush=True))
        self.clock = clock
        self.interval = interval
        self.running: dict[int, StageProgress] = {}  # by position: labels need not be unique
        self._last_line: dict[int, float] = {}
        self._latest = 0.0  # when the last line was written
        self._idle: tuple[float, str] | None = None  # since when, and after what, no stage runs
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def reporter(self) -> Reporter:
        """The :class:`~voxpop.core.progress.Reporter` feeding this renderer."""
        return Reporter(stage=self.stage, step=self.step, notice=self.notice, finish=self.finish)

    def _line(self, text: str, now: float) -> None:
        self.write(f"[{time.strftime('%H:%M:%S', time.localtime(now))}] {text}")
        self._latest = now

    def _about(self, stage: StageProgress, text: str, now: float) -> None:
        name = f"stage {stage.position}/{stage.total or '?'} {stage.label}"
        self._line(f"{name}: {text}", now)
        self._last_line[stage.position] = now
        stage.changed = False
        if not self.running:
            self._idle = (now, f"{name} {'was reused' if text == 'reused' else 'finished'}")

    def stage(self, label: str, position: int, total: int, cached: bool) -> None:
        """A stage starts (a line ``started``) or is found done (a line ``reused``)."""
        with self._lock:
            now = self.clock()
            progress = StageProgress(label, position, total, now)
            if cached:
                self._about(progress, "reused", now)
                return
            self.running[position] = progress
            self._about(progress, "started", now)

    def step(self, done: int, total: int, unit: str = "items") -> None:
        """Inner progress of the stage started last; a line when the stage has had none for ``interval``."""
        with self._lock:
            if not self.running:
                return
            now = self.clock()
            next(reversed(self.running.values())).update(done, total, unit, now)
            self._due(now)

    def finish(self, label: str, position: int, seconds: float) -> None:
        """A computed stage ends: ``finished in ...``."""
        with self._lock:
            now = self.clock()
            progress = self.running.pop(position, None) or StageProgress(label, position, 0, now)
            self._about(progress, f"finished in {format_duration(seconds)}", now)

    def notice(self, message: str) -> None:
        """A line about the run (a recomputed stage, a reused store entry), time-stamped."""
        with self._lock:
            self._line(message, self.clock())

    def tick(self) -> None:
        """Write the lines that are due: each running stage with no line for ``interval`` seconds gets its
        progress (when some arrived since its last line) or ``still running`` with the time since it started."""
        with self._lock:
            self._due(self.clock())

    def _due(self, now: float) -> None:
        if not self.running and self._idle is not None and now - self._latest >= self.interval:
            since, after = self._idle
            self._line(f"still working, {format_duration(now - since)} since {after}", now)
        for stage in list(self.running.values()):
            if now - self._last_line.get(stage.position, stage.started) < self.interval:
                continue
            if stage.changed:
                self._about(stage, stage.progress_text(now), now)
            else:
                known = f" (at {stage.describe()})" if stage.units else ""
                self._about(stage, f"still running, {format_duration(now - stage.started)}{known}", now)

    def _beat(self) -> None:
        while not self._stop.wait(TICK):
            self.tick()

    def __enter__(self) -> PlainLines:
        self._stop.clear()
        self._idle = self._idle or (self.clock(), "the start")
        self._thread = threading.Thread(target=self._beat, name="voxpop-progress-lines", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
