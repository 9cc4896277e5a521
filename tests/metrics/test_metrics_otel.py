"""The OpenTelemetry adapter (extra `otel`) reports under the original names."""

from __future__ import annotations

import importlib
import subprocess
import sys
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from hull_customerio import metrics as m
from hull_customerio.metrics.otel import OpenTelemetryMetrics


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def metrics(reader: InMemoryMetricReader) -> OpenTelemetryMetrics:
    provider = MeterProvider(metric_readers=[reader])
    return OpenTelemetryMetrics(provider.get_meter("test"))


def collected(reader: InMemoryMetricReader) -> dict[str, Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: metric
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


def test_counters_add_up_per_attribute_set(
    metrics: OpenTelemetryMetrics, reader: InMemoryMetricReader
) -> None:
    metrics.increment(m.OUTGOING_EVENTS, tags={"kind": "event", "status": "success"})
    metrics.increment(m.OUTGOING_EVENTS, 2, tags={"kind": "event", "status": "success"})
    metrics.increment(m.OUTGOING_EVENTS, tags={"kind": "page", "status": "error"})
    metric = collected(reader)["ship.outgoing.events"]
    points = {tuple(sorted(p.attributes.items())): p.value for p in metric.data.data_points}
    assert points == {
        (("kind", "event"), ("status", "success")): 3,
        (("kind", "page"), ("status", "error")): 1,
    }
    assert metric.description == m.METRICS[m.OUTGOING_EVENTS].description


def test_timings_are_histograms_in_seconds(
    metrics: OpenTelemetryMetrics, reader: InMemoryMetricReader
) -> None:
    tags = m.service_api_tags(service="customerio", method="PUT", endpoint="/x", status=None)
    metrics.timing(m.SERVICE_API_RESPONSE_TIME, 0.25, tags=tags)
    metrics.timing(m.SERVICE_API_RESPONSE_TIME, 0.75, tags=tags)
    metric = collected(reader)["connector.service_api.response_time"]
    assert metric.unit == "s"
    (point,) = metric.data.data_points
    assert (point.count, point.sum) == (2, 1.0)
    assert dict(point.attributes) == tags


def test_instruments_are_created_once_per_name(metrics: OpenTelemetryMetrics) -> None:
    metrics.increment(m.INCOMING_EVENTS, tags={"status": "200", "reason": "forwarded"})
    metrics.increment(m.INCOMING_EVENTS, tags={"status": "401", "reason": "bad_signature"})
    assert list(metrics._counters) == [m.INCOMING_EVENTS]


def test_the_default_meter_is_the_global_providers() -> None:
    metrics = OpenTelemetryMetrics()
    metrics.increment(m.OUTGOING_USERS)  # the API's no-op provider: accepted, dropped
    assert metrics.meter is not None


def test_the_module_names_the_extra_when_opentelemetry_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.delitem(sys.modules, "hull_customerio.metrics.otel")
    with pytest.raises(ImportError, match=r"pip install 'hull-customerio\[otel\]'"):
        importlib.import_module("hull_customerio.metrics.otel")


def test_importing_the_library_does_not_import_opentelemetry() -> None:
    code = (
        "import sys, hull_customerio, hull_customerio.metrics;print('opentelemetry' in sys.modules)"
    )
    result = subprocess.run(  # noqa: S603 -- our own interpreter, fixed arguments
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
