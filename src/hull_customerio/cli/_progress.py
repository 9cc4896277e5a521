"""Progress of a long ``sync`` on stderr: a bar on a terminal, periodic lines elsewhere.

- On a terminal: a progress bar drawn by `tqdm` when it is installed (the ``cli`` extra),
  else a line every `TTY_INTERVAL` seconds.
- Not on a terminal (a log file, CI, a container): a line every ``--progress-interval``
  seconds (`DEFAULT_INTERVAL` by default), so a long run never goes silent.
- ``--progress``: a line after every chunk, wherever stderr goes; ``--no-progress``: nothing.

Progress is reported after each chunk of users (or accounts), when their outcomes are known.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import IO, Any, Protocol

from ._common import PROG
from ._output import Tally

__all__ = [
    "DEFAULT_INTERVAL",
    "TTY_INTERVAL",
    "BarProgress",
    "LineProgress",
    "NoProgress",
    "Progress",
    "make_progress",
]

#: Seconds between two progress lines when stderr is not a terminal.
DEFAULT_INTERVAL = 10.0
#: Seconds between two progress lines on a terminal without `tqdm`.
TTY_INTERVAL = 2.0


def _now() -> float:
    return time.monotonic()


class Progress(Protocol):
    """Told after each chunk how far the sync is."""

    def update(self, tally: Tally, users: int) -> None:
        """``users`` more users are done; ``tally`` holds the counts so far."""

    def close(self) -> None:
        """The run is over (finished or stopped)."""


class NoProgress:
    """Shows nothing (``--no-progress``)."""

    def update(self, tally: Tally, users: int) -> None:
        """Nothing to show."""

    def close(self) -> None:
        """Nothing to close."""


class LineProgress:
    """A line on ``stream`` at most every ``interval`` seconds (``0``: after every chunk).

    ``hull-customerio: 1500 users: 1490 succeeded, 8 skipped, 2 failed (312 users/s)``
    """

    def __init__(
        self,
        stream: IO[str],
        interval: float,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._stream = stream
        self._interval = interval
        self._clock = clock if clock is not None else _now
        self._started = self._last = self._clock()

    def update(self, tally: Tally, users: int) -> None:
        """Print a line if ``interval`` seconds went by since the last one (or the start)."""
        now = self._clock()
        if self._interval and now - self._last < self._interval:
            return
        self._last = now
        rate = tally.total / max(now - self._started, 1e-9)
        print(
            f"{PROG}: {tally.counts()} ({rate:.0f} {tally.noun}s/s)",
            file=self._stream,
            flush=True,
        )

    def close(self) -> None:
        """Nothing to close: every line is complete."""


class BarProgress:
    """A `tqdm` progress bar: users done (of how many, when known), rate, and the counts."""

    def __init__(self, stream: IO[str], total: int | None, tqdm: Any, noun: str = "user") -> None:
        self._bar = tqdm(
            total=total,
            file=stream,
            desc=PROG,
            unit=f" {noun}s",
            dynamic_ncols=True,
            mininterval=0.5,
        )

    def update(self, tally: Tally, users: int) -> None:
        """Advance the bar and show the counts beside it."""
        self._bar.set_postfix_str(
            f"{tally.succeeded} succeeded, {tally.skipped} skipped, {tally.failed} failed",
            refresh=False,
        )
        self._bar.update(users)

    def close(self) -> None:
        """Draw the bar one last time and leave it on screen."""
        self._bar.close()


def _tqdm() -> Any:
    """`tqdm.tqdm`, or ``None`` when the ``cli`` extra is not installed."""
    try:
        return importlib.import_module("tqdm").tqdm
    except ImportError:
        return None


def make_progress(
    stream: IO[str],
    *,
    every_chunk: bool,
    enabled: bool,
    interval: float,
    total: int | None,
    tty: bool | None = None,
    noun: str = "user",
) -> Progress:
    """The progress display for a run; see the module's description for the rules.

    Args:
        stream: where to write (stderr).
        every_chunk: ``--progress``: a line after every chunk.
        enabled: ``False`` for ``--no-progress``.
        interval: ``--progress-interval``: seconds between lines when not on a terminal.
        total: how many users the input holds, when known (a bar then shows a percentage).
        tty: whether ``stream`` is a terminal (default: ask it).
        noun: what is counted, ``user`` or ``account`` (a bar's unit).
    """
    if not enabled:
        return NoProgress()
    if every_chunk:
        return LineProgress(stream, 0.0)
    if tty is None:
        tty = stream.isatty()
    if not tty:
        return LineProgress(stream, interval)
    tqdm = _tqdm()
    if tqdm is None:
        return LineProgress(stream, TTY_INTERVAL)
    return BarProgress(stream, total, tqdm, noun)
