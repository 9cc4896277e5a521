"""How a ``plan`` or ``sync`` run went: its time, requests and resume point.

- `RequestCounter` is a `hull_customerio.metrics.Metrics` the run's clients report to: it
  counts each HTTP request sent (retries included) per service.
- `Position` knows how far into the input the run is *done*: users are processed a chunk at a
  time, and a chunk counts once every one of its users has an outcome, so an interrupted run
  can go on after it (``--skip N``) without missing anyone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

import attrs

from ..metrics import SERVICE_API_CALL
from ._common import PROG
from ._input import AccountEntry, UserEntry

__all__ = ["Position", "RequestCounter", "RunClock", "resume_hint", "run_line"]


class RequestCounter:
    """Counts the HTTP requests the clients send, per service (``customerio``, ``hull``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def increment(
        self, name: str, value: float = 1, *, tags: Mapping[str, str] | None = None
    ) -> None:
        """Count a request (``ship.service_api.call``); other counters are not kept."""
        if name != SERVICE_API_CALL:
            return
        service = (tags or {}).get("service", "other")
        with self._lock:
            self._counts[service] = self._counts.get(service, 0) + int(value)

    def timing(self, name: str, seconds: float, *, tags: Mapping[str, str] | None = None) -> None:
        """Durations are not kept."""

    def count(self, service: str) -> int:
        """Requests sent to ``service`` so far."""
        with self._lock:
            return self._counts.get(service, 0)


@attrs.define
class RunClock:
    """When the run started (a monotonic clock)."""

    clock: Callable[[], float] = time.monotonic
    started: float = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.started = self.clock()

    def elapsed(self) -> float:
        """Seconds since the start."""
        return max(self.clock() - self.started, 0.0)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def run_line(
    users: int, seconds: float, requests: RequestCounter | None, *, noun: str = "user"
) -> str:
    """The summary's last line: ``Took 12.3 s: 122 users/s, 1500 Customer.io requests, ...``.

    ``noun`` names what ``users`` counts (``account``: ``accounts/s``).
    """
    rate = users / seconds if seconds > 0 else 0.0
    line = f"Took {seconds:.1f} s: {rate:.0f} {noun}s/s"
    if requests is not None:
        line += (
            f", {_plural(requests.count('customerio'), 'Customer.io request')}"
            f", {_plural(requests.count('hull'), 'Hull request')}"
        )
    return line + "."


@attrs.define
class Position:
    """How many input entries are done (``--skip`` included) and the line of the last one."""

    done: int = 0
    line: int | None = None

    def chunk_done(self, chunk: Sequence[UserEntry | AccountEntry]) -> None:
        """Every user (or account) of ``chunk`` has its outcome."""
        self.done += len(chunk)
        if chunk and chunk[-1].line is not None:
            self.line = chunk[-1].line


def resume_hint(position: Position, file: str, *, verb: str, noun: str = "user") -> str:
    """The line saying where an interrupted run stopped and how to go on from there."""
    if position.done == 0:
        return f"{PROG}: interrupted before any {noun} was {verb}; run the same command again"
    through = "" if position.line is None else f", through line {position.line}"
    return (
        f"{PROG}: interrupted: the first {_plural(position.done, noun)} of {file} were "
        f"{verb}{through}; to go on, run the same command with --skip {position.done}"
    )
