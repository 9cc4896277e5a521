"""What the HTTP clients take from `metrics`: how they report each request they send (one
place for sync and async)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from . import (
    SERVICE_API_CALL,
    SERVICE_API_RESPONSE_TIME,
    Metrics,
    NullMetrics,
    service_api_tags,
)

__all__ = ["SentRequest", "clock", "report_request"]

#: The clock request durations are measured with.
clock: Callable[[], float] = time.perf_counter


class SentRequest(Protocol):
    """What a report needs of a request: its HTTP method and its path template."""

    @property
    def method(self) -> str:
        """The HTTP method."""
        ...

    @property
    def endpoint(self) -> str:
        """The path template (ids replaced by placeholders)."""
        ...


def report_request(
    metrics: Metrics,
    service: str,
    request: SentRequest,
    *,
    status: int | None,
    started: float,
) -> None:
    """Count one HTTP request and record its duration (from ``started``, a `clock()` reading).

    Args:
        metrics: where to report (already guarded).
        service: ``"customerio"`` or ``"hull"``.
        request: the request sent (its method and path template are the tags).
        status: the HTTP status answered, ``None`` when no answer came.
        started: `clock()` when the request was sent.
    """
    if isinstance(metrics, NullMetrics):
        return
    seconds = max(0.0, clock() - started)
    tags = service_api_tags(
        service=service, method=request.method, endpoint=request.endpoint, status=status
    )
    metrics.increment(SERVICE_API_CALL, tags=tags)
    metrics.timing(SERVICE_API_RESPONSE_TIME, seconds, tags=tags)
