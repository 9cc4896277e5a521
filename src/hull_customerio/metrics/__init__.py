"""Counters and timings for operators: a small protocol the library reports to.

The library reports what it does to a `Metrics` object: counters (`increment`) and durations
(`timing`). Give it one that forwards to your monitoring system; the default, `NullMetrics`,
drops everything. Two adapters ship as optional extras:

- `hull_customerio.metrics.prometheus.PrometheusMetrics` (extra `prometheus`),
- `hull_customerio.metrics.otel.OpenTelemetryMetrics` (extra `otel`).

`InMemoryMetrics` records everything, for tests. Writing your own adapter takes two methods:

```python
class DogStatsdMetrics:
    def __init__(self, statsd):
        self.statsd = statsd  # a datadog.DogStatsd

    def increment(self, name, value=1, *, tags=None):
        self.statsd.increment(name, value, tags=[f"{k}:{v}" for k, v in (tags or {}).items()])

    def timing(self, name, seconds, *, tags=None):
        tags = [f"{k}:{v}" for k, v in (tags or {}).items()]
        self.statsd.timing(name, seconds * 1000, tags=tags)  # milliseconds
```

## What is reported

The names are those of the original Hull connector, so existing dashboards keep working. Tag
values come from closed sets (no user ids or emails), so they are safe as Prometheus labels.

- `ship.outgoing.users` (counter): once per user the engine set out to identify in or delete
  from Customer.io, when the outcome is known; users the rules skip (or find invalid) are not
  counted. Tags: `action` (`identify`, `delete`), `status`: `success` when Customer.io
  accepted every identify request (or the deletion), else `error` (also for a user not sent
  because Customer.io could not be reached).
- `ship.outgoing.accounts` (counter): the same for accounts sent as Customer.io objects:
  once per account whose object the engine set out to identify or delete. Tags: `action`
  (`identify`, `delete`), `status` (`success` when Customer.io accepted the object's call,
  else `error`).
- `ship.outgoing.events` (counter): once per event or page view Customer.io was asked to
  record; events never sent (their user's identify failed) are not counted. Tags: `kind`
  (`event`, `page`, `anonymous`), `status` (`success`, `error`).
- `ship.incoming.events` (counter): once per Customer.io webhook received, whatever its fate.
  Tags: `status` (the HTTP status answered, e.g. `200`), `reason` (`forwarded`, or the stable
  code of why it was not).
- `ship.service_api.call` (counter): once per HTTP request to Customer.io or Hull, retries
  and redirect hops included. Tags: `service` (`customerio`, `hull`), `method`, `endpoint`
  (the path with ids replaced by placeholders, e.g. `/api/v1/customers/{id}`; Hull's firehose
  posts are `firehose`), `status` (e.g. `200`, or `error` when no answer came),
  `status_group` (`2xx`, `3xx`, `4xx`, `5xx`, `error`).
- `connector.service_api.response_time` (timing, seconds): the duration of each of those
  requests. Tags: as `ship.service_api.call`.

## Who reports what

The connectors, the clients and the hubs take a `metrics=` keyword argument (default: report
nowhere); a hub passes its own to every connector and client it builds (unless its client
options name another). Then:

1. The engine (`Connector` / `AsyncConnector`), once a sync's outcomes are known, counts
   `ship.outgoing.users` and `ship.outgoing.events` for each user, and
   `ship.outgoing.accounts` for each account.
2. `handle_webhook` counts `ship.incoming.events` once per webhook, with the status it
   answers; a hub's `answer_webhook` counts the webhooks it answers without a connector (a
   bad URL token, settings Hull would not give).
3. The HTTP clients (`CustomerIOClient`, `HullClient` and their async twins) count
   `ship.service_api.call` and time `connector.service_api.response_time` once per request
   sent, from the one place each sends (so each retry counts).

Give one object to a connector and to its two clients to get all of them.

A `Metrics` object is called from every thread or task that uses the connector: adapters must be
safe to share (the three here are). A failing adapter must not fail a sync: the library wraps
the object it is given in `guarded(...)`, which logs (at WARNING, on the
`hull_customerio.metrics` logger) and swallows what `increment` and `timing` raise.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import attrs

__all__ = [
    "INCOMING_EVENTS",
    "METRICS",
    "OUTGOING_ACCOUNTS",
    "OUTGOING_EVENTS",
    "OUTGOING_USERS",
    "SERVICE_API_CALL",
    "SERVICE_API_RESPONSE_TIME",
    "GuardedMetrics",
    "InMemoryMetrics",
    "MetricDefinition",
    "Metrics",
    "NullMetrics",
    "guarded",
    "service_api_tags",
]

_logger = logging.getLogger("hull_customerio.metrics")

OUTGOING_USERS = "ship.outgoing.users"
OUTGOING_ACCOUNTS = "ship.outgoing.accounts"
OUTGOING_EVENTS = "ship.outgoing.events"
INCOMING_EVENTS = "ship.incoming.events"
SERVICE_API_CALL = "ship.service_api.call"
SERVICE_API_RESPONSE_TIME = "connector.service_api.response_time"


@attrs.frozen
class MetricDefinition:
    """What the library reports under one name.

    Attributes:
        name: The metric name, e.g. `"ship.outgoing.users"`.
        kind: `"counter"` (reported with `increment`) or `"timing"` (with `timing`, in seconds).
        tags: The tag names every report of it carries, in a fixed order (adapters that need
            labels declared up front, like Prometheus, use them).
        description: One sentence for dashboards and `/metrics` help texts.
    """

    name: str
    kind: str
    tags: tuple[str, ...]
    description: str


_SERVICE_API_TAGS = ("service", "method", "endpoint", "status", "status_group")

#: Every metric the library reports, by name.
METRICS: Mapping[str, MetricDefinition] = {
    definition.name: definition
    for definition in (
        MetricDefinition(
            OUTGOING_USERS,
            "counter",
            ("action", "status"),
            "Users identified in or deleted from Customer.io.",
        ),
        MetricDefinition(
            OUTGOING_ACCOUNTS,
            "counter",
            ("action", "status"),
            "Accounts identified in or deleted from Customer.io as objects.",
        ),
        MetricDefinition(
            OUTGOING_EVENTS,
            "counter",
            ("kind", "status"),
            "Events and page views sent to Customer.io.",
        ),
        MetricDefinition(
            INCOMING_EVENTS,
            "counter",
            ("status", "reason"),
            "Customer.io webhooks received.",
        ),
        MetricDefinition(
            SERVICE_API_CALL,
            "counter",
            _SERVICE_API_TAGS,
            "HTTP requests to Customer.io and Hull, retries included.",
        ),
        MetricDefinition(
            SERVICE_API_RESPONSE_TIME,
            "timing",
            _SERVICE_API_TAGS,
            "Duration of HTTP requests to Customer.io and Hull, in seconds.",
        ),
    )
}


@runtime_checkable
class Metrics(Protocol):
    """Where the library reports counters and timings.

    Any object with these two methods will do; it must be safe to call from several threads
    or tasks at once.
    """

    def increment(
        self, name: str, value: float = 1, *, tags: Mapping[str, str] | None = None
    ) -> None:
        """Add `value` to the counter `name` (with these tags)."""

    def timing(self, name: str, seconds: float, *, tags: Mapping[str, str] | None = None) -> None:
        """Record one duration, in seconds, under `name` (with these tags)."""


class NullMetrics:
    """Drops every report: the default when no `Metrics` is given."""

    def increment(
        self, name: str, value: float = 1, *, tags: Mapping[str, str] | None = None
    ) -> None:
        """Do nothing."""

    def timing(self, name: str, seconds: float, *, tags: Mapping[str, str] | None = None) -> None:
        """Do nothing."""

    def __repr__(self) -> str:
        return "NullMetrics()"


def _tag_key(tags: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((tags or {}).items()))


class InMemoryMetrics:
    """Records every report in memory, for tests (safe to share between threads).

    Example:
        ```python
        metrics = InMemoryMetrics()
        metrics.increment("ship.outgoing.users", tags={"action": "identify", "status": "success"})
        assert metrics.count("ship.outgoing.users") == 1
        assert metrics.count("ship.outgoing.users", status="error") == 0
        ```
    """

    def __init__(self) -> None:
        """Start with nothing recorded."""
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._timings: list[tuple[str, float, dict[str, str]]] = []

    def increment(
        self, name: str, value: float = 1, *, tags: Mapping[str, str] | None = None
    ) -> None:
        """Add `value` to the counter `name` with these tags."""
        key = (name, _tag_key(tags))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + value

    def timing(self, name: str, seconds: float, *, tags: Mapping[str, str] | None = None) -> None:
        """Record one duration."""
        with self._lock:
            self._timings.append((name, seconds, dict(tags or {})))

    def count(self, name: str, **tags: str) -> float:
        """The sum of the counter `name` over every report whose tags include `tags`.

        Args:
            name: The counter's name.
            **tags: Only count reports carrying these tag values (all of them).

        Returns:
            The total (`0` when nothing matches).
        """
        wanted = set(tags.items())
        with self._lock:
            return sum(
                value
                for (counter, key), value in self._counters.items()
                if counter == name and wanted <= set(key)
            )

    def timings(self, name: str, **tags: str) -> list[float]:
        """The durations recorded under `name` whose tags include `tags`, in order."""
        wanted = set(tags.items())
        with self._lock:
            return [
                seconds
                for timing, seconds, given in self._timings
                if timing == name and wanted <= set(given.items())
            ]

    @property
    def counters(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every counter: `(name, sorted tag pairs)` → total (a copy)."""
        with self._lock:
            return dict(self._counters)

    def clear(self) -> None:
        """Forget everything recorded."""
        with self._lock:
            self._counters.clear()
            self._timings.clear()

    def __repr__(self) -> str:
        return f"InMemoryMetrics(counters={len(self._counters)}, timings={len(self._timings)})"


def service_api_tags(
    *, service: str, method: str, endpoint: str, status: int | None
) -> dict[str, str]:
    """The tags of one HTTP request's `ship.service_api.call` and response time.

    Args:
        service: `"customerio"` or `"hull"`.
        method: The HTTP method, e.g. `"PUT"`.
        endpoint: The path with ids replaced by placeholders (`/api/v1/customers/{id}`):
            never the real path, which holds customer ids.
        status: The HTTP status answered, or `None` when no answer came (a timeout or a
            connection error).

    Returns:
        `service`, `method`, `endpoint`, `status` and `status_group` (`"2xx"`…`"5xx"`, or
        `"error"` with `status` `"error"` when there was no answer).
    """
    if status is None:
        code = group = "error"
    else:
        code, group = str(status), f"{status // 100}xx"
    return {
        "service": service,
        "method": method.upper(),
        "endpoint": endpoint,
        "status": code,
        "status_group": group,
    }


def _dropped(kind: str, name: str, exc: Exception) -> None:
    """Log a report the wrapped `Metrics` failed to take (the metric's name, never its tags)."""
    _logger.warning(
        "metrics.%s.failed reason=metrics_failed metric=%r cause=%r",
        kind, name, f"{type(exc).__name__}: {exc}"[:300], exc_info=exc,
    )  # fmt: skip


class GuardedMetrics:
    """Wraps a `Metrics` so that a failing report never fails the caller.

    What the wrapped object's `increment` or `timing` raises is logged at WARNING on the
    `hull_customerio.metrics` logger (with the metric name, never the tag values) and dropped.
    Build it with `guarded(...)`.

    Attributes:
        wrapped: The object reports are forwarded to.
    """

    def __init__(self, wrapped: Metrics) -> None:
        """Forward reports to `wrapped`."""
        self.wrapped = wrapped

    def increment(
        self, name: str, value: float = 1, *, tags: Mapping[str, str] | None = None
    ) -> None:
        """Forward the counter; log and drop what it raises."""
        try:
            self.wrapped.increment(name, value, tags=tags)
        except Exception as exc:
            _dropped("increment", name, exc)

    def timing(self, name: str, seconds: float, *, tags: Mapping[str, str] | None = None) -> None:
        """Forward the duration; log and drop what it raises."""
        try:
            self.wrapped.timing(name, seconds, tags=tags)
        except Exception as exc:
            _dropped("timing", name, exc)

    def __repr__(self) -> str:
        return f"GuardedMetrics({self.wrapped!r})"


def guarded(metrics: Metrics | None) -> Metrics:
    """The `Metrics` the library reports to, given what a user passed as `metrics=`.

    Args:
        metrics: The user's object, or `None` for none.

    Returns:
        `NullMetrics()` for `None`, the object itself when it is already guarded or a
        `NullMetrics`, else the object wrapped in `GuardedMetrics`.

    Raises:
        TypeError: `metrics` lacks `increment` or `timing` (caught when the connector is
            built, not at the first report).
    """
    if metrics is None:
        return NullMetrics()
    if isinstance(metrics, (GuardedMetrics, NullMetrics)):
        return metrics
    if not isinstance(metrics, Metrics):
        msg = f"metrics must have increment() and timing() methods, not {type(metrics).__name__}"
        raise TypeError(msg)
    return GuardedMetrics(metrics)
