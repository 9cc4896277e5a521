"""`OpenTelemetryMetrics`: the library's counters and timings as OpenTelemetry instruments.

Install the extra: `pip install "hull-customerio[otel]"` (the OpenTelemetry API; configure
an SDK `MeterProvider` and exporter in your application as usual).

Counters become `Counter` instruments and timings `Histogram` instruments (unit `s`), under the
library's names (`ship.outgoing.users`, ...), with the tags as attributes.

Example:
    ```python
    from hull_customerio.metrics.otel import OpenTelemetryMetrics

    metrics = OpenTelemetryMetrics()   # the global meter provider's meter "hull_customerio"
    ```
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

try:
    from opentelemetry import metrics as otel_metrics
except ImportError as exc:  # pragma: no cover - exercised by a test that hides the library
    msg = (
        "hull_customerio.metrics.otel needs the OpenTelemetry API: "
        'pip install "hull-customerio[otel]"'
    )
    raise ImportError(msg) from exc

from . import METRICS

__all__ = ["OpenTelemetryMetrics"]


class OpenTelemetryMetrics:
    """Reports counters as OpenTelemetry counters and timings as histograms (seconds).

    Instruments are created on first report and reused. Safe to share between threads.

    Attributes:
        meter: The meter the instruments are created with.
    """

    def __init__(self, meter: otel_metrics.Meter | None = None) -> None:
        """Report with `meter`.

        Args:
            meter: The meter to use; by default the global meter provider's meter named
                `"hull_customerio"`.
        """
        self.meter = meter if meter is not None else otel_metrics.get_meter("hull_customerio")
        self._lock = threading.Lock()
        self._counters: dict[str, otel_metrics.Counter] = {}
        self._histograms: dict[str, otel_metrics.Histogram] = {}

    @staticmethod
    def _description(name: str) -> str:
        definition = METRICS.get(name)
        return definition.description if definition is not None else ""

    def increment(
        self, name: str, value: float = 1, *, tags: Mapping[str, str] | None = None
    ) -> None:
        """Add `value` to the counter `name`."""
        with self._lock:
            counter = self._counters.get(name)
            if counter is None:
                counter = self._counters[name] = self.meter.create_counter(
                    name, unit="1", description=self._description(name)
                )
        counter.add(value, attributes=dict(tags or {}))

    def timing(self, name: str, seconds: float, *, tags: Mapping[str, str] | None = None) -> None:
        """Record one duration in the histogram `name`."""
        with self._lock:
            histogram = self._histograms.get(name)
            if histogram is None:
                histogram = self._histograms[name] = self.meter.create_histogram(
                    name, unit="s", description=self._description(name)
                )
        histogram.record(seconds, attributes=dict(tags or {}))

    def __repr__(self) -> str:
        return "OpenTelemetryMetrics()"
