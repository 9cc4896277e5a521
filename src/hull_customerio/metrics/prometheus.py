"""`PrometheusMetrics`: the library's counters and timings as Prometheus metrics.

Install the extra: `pip install "hull-customerio[prometheus]"`.

Names have their dots replaced by underscores; counters get Prometheus' `_total` suffix and
timings become histograms in seconds:

| library name | Prometheus series |
|---|---|
| `ship.outgoing.users` | `ship_outgoing_users_total{action, status}` |
| `ship.outgoing.events` | `ship_outgoing_events_total{kind, status}` |
| `ship.incoming.events` | `ship_incoming_events_total{status, reason}` |
| `ship.service_api.call` | `ship_service_api_call_total{service, method, endpoint, status, ...}` |
| `connector.service_api.response_time` | `connector_service_api_response_time_seconds_*{...same}` |

Example:
    ```python
    import prometheus_client
    from hull_customerio.metrics.prometheus import PrometheusMetrics

    metrics = PrometheusMetrics()            # the default registry
    prometheus_client.start_http_server(9100)  # or mount make_asgi_app() in your web app
    ```
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from ..errors import missing_extra

try:
    import prometheus_client
except ImportError as exc:  # pragma: no cover - exercised by a test that hides the library
    raise missing_extra("metrics.prometheus", "prometheus-client", "prometheus") from exc

from . import METRICS

__all__ = ["PrometheusMetrics", "prometheus_name"]

_M = TypeVar("_M", prometheus_client.Counter, prometheus_client.Histogram)
_INVALID = re.compile(r"[^a-zA-Z0-9_:]")


def prometheus_name(name: str, *, namespace: str = "", timing: bool = False) -> str:
    """The Prometheus name of a library metric name.

    Args:
        name: The library's name, e.g. `"ship.outgoing.users"`.
        namespace: A prefix joined with `_` (none by default).
        timing: Whether it is a timing, which gets a `_seconds` suffix.

    Returns:
        For example `"ship_outgoing_users"` (the client adds `_total` to counters when
        exposing them) or `"connector_service_api_response_time_seconds"`.
    """
    converted = _INVALID.sub("_", name)
    if namespace:
        converted = f"{_INVALID.sub('_', namespace)}_{converted}"
    if timing and not converted.endswith("_seconds"):
        converted += "_seconds"
    return converted


class PrometheusMetrics:
    """Reports counters as Prometheus `Counter`s and timings as `Histogram`s (in seconds).

    Metrics are created in the registry on first report. Their labels are the tags the
    library declares for each name (see `hull_customerio.metrics.METRICS`); a name the
    library does not declare gets the sorted tag names of its first report as labels. A
    report with a declared label missing gets an empty value for it; tags that are not
    labels are dropped. Safe to share between threads.

    Attributes:
        registry: The registry the metrics are created in.
    """

    def __init__(
        self,
        registry: prometheus_client.CollectorRegistry | None = None,
        *,
        namespace: str = "",
        buckets: Sequence[float] = prometheus_client.Histogram.DEFAULT_BUCKETS,
    ) -> None:
        """Report into `registry`.

        Args:
            registry: Where to create the metrics; `prometheus_client.REGISTRY` by default.
                Create one `PrometheusMetrics` per registry: a second one would try to
                register the same names again.
            namespace: A prefix for every name (e.g. `"myservice"`).
            buckets: The histogram buckets of timings, in seconds.
        """
        self.registry = registry if registry is not None else prometheus_client.REGISTRY
        self._namespace = namespace
        self._buckets = tuple(buckets)
        self._lock = threading.Lock()
        self._counters: dict[str, tuple[prometheus_client.Counter, tuple[str, ...]]] = {}
        self._histograms: dict[str, tuple[prometheus_client.Histogram, tuple[str, ...]]] = {}

    def _labels(self, name: str, tags: Mapping[str, str] | None) -> tuple[str, ...]:
        definition = METRICS.get(name)
        if definition is not None:
            return definition.tags
        return tuple(sorted(tags or {}))

    def _help(self, name: str) -> str:
        definition = METRICS.get(name)
        return definition.description if definition is not None else name

    def increment(
        self, name: str, value: float = 1, *, tags: Mapping[str, str] | None = None
    ) -> None:
        """Add `value` to the counter `name`."""
        self._series(self._counters, name, tags, self._new_counter).inc(value)

    def timing(self, name: str, seconds: float, *, tags: Mapping[str, str] | None = None) -> None:
        """Observe one duration in the histogram `name`."""
        self._series(self._histograms, name, tags, self._new_histogram).observe(seconds)

    def _new_counter(self, name: str, labels: tuple[str, ...]) -> prometheus_client.Counter:
        return prometheus_client.Counter(
            prometheus_name(name, namespace=self._namespace),
            self._help(name),
            labels,
            registry=self.registry,
        )

    def _new_histogram(self, name: str, labels: tuple[str, ...]) -> prometheus_client.Histogram:
        return prometheus_client.Histogram(
            prometheus_name(name, namespace=self._namespace, timing=True),
            self._help(name),
            labels,
            registry=self.registry,
            buckets=self._buckets,
        )

    def _series(
        self,
        store: dict[str, tuple[_M, tuple[str, ...]]],
        name: str,
        tags: Mapping[str, str] | None,
        new: Callable[[str, tuple[str, ...]], _M],
    ) -> _M:
        """The series of metric ``name`` for ``tags``; the metric is made on first report."""
        with self._lock:
            found = store.get(name)
            if found is None:
                labels = self._labels(name, tags)
                found = store[name] = (new(name, labels), labels)
        metric, labels = found
        if not labels:
            return metric
        given = tags or {}
        return metric.labels(*(str(given.get(label, "")) for label in labels))

    def __repr__(self) -> str:
        return f"PrometheusMetrics(namespace={self._namespace!r})"
