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
from collections.abc import Callable, Mapping
from typing import TypeVar

from ..errors import missing_extra

try:
    from opentelemetry import metrics as otel_metrics
except ImportError as exc:  # pragma: no cover - exercised by a test that hides the library
    raise missing_extra("metrics.otel", "the OpenTelemetry API", "otel") from exc

from . import METRICS

__all__ = ["OpenTelemetryMetrics"]

_I = TypeVar("_I", otel_metrics.Counter, otel_metrics.Histogram)


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
        counter = self._instrument(self._counters, name, self.meter.create_counter, "1")
        counter.add(value, attributes=dict(tags or {}))

    def timing(self, name: str, seconds: float, *, tags: Mapping[str, str] | None = None) -> None:
        """Record one duration in the histogram `name`."""
        histogram = self._instrument(self._histograms, name, self.meter.create_histogram, "s")
        histogram.record(seconds, attributes=dict(tags or {}))

    def _instrument(
        self, store: dict[str, _I], name: str, create: Callable[..., _I], unit: str
    ) -> _I:
        """The instrument ``name``, created with ``create`` on first report."""
        with self._lock:
            instrument = store.get(name)
            if instrument is None:
                instrument = store[name] = create(
                    name, unit=unit, description=self._description(name)
                )
        return instrument

    def __repr__(self) -> str:
        return "OpenTelemetryMetrics()"
