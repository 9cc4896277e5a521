"""The Prometheus adapter (extra `prometheus`) reports under the original names."""

from __future__ import annotations

import importlib
import subprocess
import sys

import prometheus_client
import pytest

from hull_customerio import metrics as m
from hull_customerio.metrics.prometheus import PrometheusMetrics, prometheus_name


@pytest.fixture
def registry() -> prometheus_client.CollectorRegistry:
    return prometheus_client.CollectorRegistry()


@pytest.mark.parametrize(
    ("name", "timing", "expected"),
    [
        ("ship.outgoing.users", False, "ship_outgoing_users"),
        ("ship.service_api.call", False, "ship_service_api_call"),
        (
            "connector.service_api.response_time",
            True,
            "connector_service_api_response_time_seconds",
        ),
        ("already_seconds", True, "already_seconds"),
        ("odd-name/x", False, "odd_name_x"),
    ],
)
def test_names_become_prometheus_names(name: str, timing: bool, expected: str) -> None:
    assert prometheus_name(name, timing=timing) == expected


def test_a_namespace_prefixes_every_name() -> None:
    assert prometheus_name("ship.outgoing.users", namespace="svc") == "svc_ship_outgoing_users"


def test_counters_are_exposed_with_the_declared_labels(
    registry: prometheus_client.CollectorRegistry,
) -> None:
    metrics = PrometheusMetrics(registry)
    metrics.increment(m.OUTGOING_USERS, tags={"action": "identify", "status": "success"})
    metrics.increment(m.OUTGOING_USERS, 2, tags={"action": "identify", "status": "success"})
    metrics.increment(m.OUTGOING_USERS, tags={"action": "delete", "status": "error"})
    sample = registry.get_sample_value
    assert sample("ship_outgoing_users_total", {"action": "identify", "status": "success"}) == 3
    assert sample("ship_outgoing_users_total", {"action": "delete", "status": "error"}) == 1
    text = prometheus_client.generate_latest(registry).decode()
    assert "# HELP ship_outgoing_users_total Users identified in or deleted from" in text


def test_missing_labels_are_empty_and_undeclared_tags_are_dropped(
    registry: prometheus_client.CollectorRegistry,
) -> None:
    metrics = PrometheusMetrics(registry)
    metrics.increment(m.OUTGOING_EVENTS, tags={"kind": "page", "user": "u1@x.io"})
    assert (
        registry.get_sample_value("ship_outgoing_events_total", {"kind": "page", "status": ""}) == 1
    )
    assert "u1@x.io" not in prometheus_client.generate_latest(registry).decode()


def test_timings_are_histograms_in_seconds(registry: prometheus_client.CollectorRegistry) -> None:
    metrics = PrometheusMetrics(registry, buckets=(0.1, 1.0))
    tags = m.service_api_tags(service="hull", method="POST", endpoint="/", status=200)
    metrics.timing(m.SERVICE_API_RESPONSE_TIME, 0.05, tags=tags)
    metrics.timing(m.SERVICE_API_RESPONSE_TIME, 0.5, tags=tags)
    name = "connector_service_api_response_time_seconds"
    assert registry.get_sample_value(f"{name}_count", tags) == 2
    assert registry.get_sample_value(f"{name}_sum", tags) == pytest.approx(0.55)
    assert registry.get_sample_value(f"{name}_bucket", {**tags, "le": "0.1"}) == 1


def test_an_undeclared_name_takes_the_tags_of_its_first_report(
    registry: prometheus_client.CollectorRegistry,
) -> None:
    metrics = PrometheusMetrics(registry, namespace="svc")
    metrics.increment("my.counter", tags={"b": "2", "a": "1"})
    metrics.increment("my.counter")
    metrics.timing("my.timing", 1.5)
    assert registry.get_sample_value("svc_my_counter_total", {"a": "1", "b": "2"}) == 1
    assert registry.get_sample_value("svc_my_counter_total", {"a": "", "b": ""}) == 1
    assert registry.get_sample_value("svc_my_timing_seconds_sum") == 1.5


def test_the_module_names_the_extra_when_prometheus_client_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    monkeypatch.delitem(sys.modules, "hull_customerio.metrics.prometheus")
    with pytest.raises(ImportError, match=r"pip install 'hull-customerio\[prometheus\]'"):
        importlib.import_module("hull_customerio.metrics.prometheus")


def test_importing_the_library_does_not_import_prometheus() -> None:
    code = (
        "import sys, hull_customerio, hull_customerio.metrics;"
        "print('prometheus_client' in sys.modules)"
    )
    result = subprocess.run(  # noqa: S603 -- our own interpreter, fixed arguments
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
