"""The metrics hook: the protocol, the no-op default, the in-memory recorder, the guard."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

import pytest

from hull_customerio import metrics as m
from hull_customerio.testing import InMemoryMetrics


def test_the_metric_names_are_the_original_connectors() -> None:
    assert m.OUTGOING_USERS == "ship.outgoing.users"
    assert m.OUTGOING_ACCOUNTS == "ship.outgoing.accounts"
    assert m.OUTGOING_EVENTS == "ship.outgoing.events"
    assert m.INCOMING_EVENTS == "ship.incoming.events"
    assert m.SERVICE_API_CALL == "ship.service_api.call"
    assert set(m.METRICS) == {
        "ship.outgoing.users",
        "ship.outgoing.accounts",
        "ship.outgoing.events",
        "ship.incoming.events",
        "ship.service_api.call",
        "connector.service_api.response_time",
    }
    assert m.METRICS[m.SERVICE_API_RESPONSE_TIME].kind == "timing"
    assert {d.kind for n, d in m.METRICS.items() if n != m.SERVICE_API_RESPONSE_TIME} == {"counter"}


def test_the_three_implementations_satisfy_the_protocol() -> None:
    for metrics in (m.NullMetrics(), InMemoryMetrics(), m.GuardedMetrics(m.NullMetrics())):
        assert isinstance(metrics, m.Metrics)


def test_null_metrics_accepts_every_report_and_keeps_nothing() -> None:
    null = m.NullMetrics()
    null.increment("ship.outgoing.users", tags={"action": "identify"})
    null.timing("x", 0.5)
    assert vars(null) == {}


def test_in_memory_metrics_sums_counters_by_name_and_tag_subset() -> None:
    metrics = InMemoryMetrics()
    metrics.increment(m.OUTGOING_USERS, tags={"action": "identify", "status": "success"})
    metrics.increment(m.OUTGOING_USERS, 2, tags={"status": "success", "action": "identify"})
    metrics.increment(m.OUTGOING_USERS, tags={"action": "delete", "status": "error"})
    metrics.increment(m.OUTGOING_EVENTS)
    assert metrics.count(m.OUTGOING_USERS) == 4
    assert metrics.count(m.OUTGOING_USERS, action="identify") == 3
    assert metrics.count(m.OUTGOING_USERS, action="delete", status="error") == 1
    assert metrics.count(m.OUTGOING_USERS, action="delete", status="success") == 0
    assert metrics.count(m.OUTGOING_EVENTS) == 1
    assert metrics.count("never.reported") == 0
    key = (m.OUTGOING_USERS, (("action", "identify"), ("status", "success")))
    assert metrics.counters[key] == 3


def test_in_memory_metrics_keeps_timings_in_order_and_clears() -> None:
    metrics = InMemoryMetrics()
    metrics.timing(m.SERVICE_API_RESPONSE_TIME, 0.25, tags={"service": "hull"})
    metrics.timing(m.SERVICE_API_RESPONSE_TIME, 0.5, tags={"service": "customerio"})
    assert metrics.timings(m.SERVICE_API_RESPONSE_TIME) == [0.25, 0.5]
    assert metrics.timings(m.SERVICE_API_RESPONSE_TIME, service="hull") == [0.25]
    metrics.clear()
    assert metrics.timings(m.SERVICE_API_RESPONSE_TIME) == []
    assert metrics.counters == {}


def test_in_memory_metrics_loses_nothing_when_shared_between_threads() -> None:
    metrics = InMemoryMetrics()
    start = threading.Barrier(8)

    def report() -> None:
        start.wait()
        for _ in range(1_000):
            metrics.increment(m.OUTGOING_EVENTS, tags={"kind": "event", "status": "success"})
            metrics.timing(m.SERVICE_API_RESPONSE_TIME, 0.001)

    threads = [threading.Thread(target=report) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert metrics.count(m.OUTGOING_EVENTS) == 8_000
    assert len(metrics.timings(m.SERVICE_API_RESPONSE_TIME)) == 8_000


@pytest.mark.parametrize(
    ("status", "code", "group"),
    [
        (200, "200", "2xx"),
        (207, "207", "2xx"),
        (429, "429", "4xx"),
        (503, "503", "5xx"),
        (None, "error", "error"),
    ],
)
def test_service_api_tags_group_the_status(status: int | None, code: str, group: str) -> None:
    tags = m.service_api_tags(
        service="customerio", method="put", endpoint="/api/v1/customers/{id}", status=status
    )
    assert tags == {
        "service": "customerio",
        "method": "PUT",
        "endpoint": "/api/v1/customers/{id}",
        "status": code,
        "status_group": group,
    }
    assert tuple(tags) == m.METRICS[m.SERVICE_API_CALL].tags


class _Broken:
    def increment(
        self, name: str, value: float = 1, *, tags: Mapping[str, str] | None = None
    ) -> None:
        raise RuntimeError("statsd is down")

    def timing(self, name: str, seconds: float, *, tags: Mapping[str, str] | None = None) -> None:
        raise RuntimeError("statsd is down")


def test_a_guarded_adapter_that_raises_is_logged_and_never_fails_the_caller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = m.guarded(_Broken())
    with caplog.at_level(logging.WARNING, logger="hull_customerio.metrics"):
        metrics.increment(m.OUTGOING_USERS, tags={"action": "identify", "status": "secret-tag"})
        metrics.timing(m.SERVICE_API_RESPONSE_TIME, 0.1)
    assert [r.getMessage() for r in caplog.records] == [
        "metrics.increment.failed reason=metrics_failed metric='ship.outgoing.users' "
        "cause='RuntimeError: statsd is down'",
        "metrics.timing.failed reason=metrics_failed metric='connector.service_api.response_time' "
        "cause='RuntimeError: statsd is down'",
    ]
    assert "secret-tag" not in caplog.text


def test_a_guarded_adapter_forwards_every_report() -> None:
    recorder = InMemoryMetrics()
    metrics = m.guarded(recorder)
    metrics.increment(m.INCOMING_EVENTS, 3, tags={"status": "200", "reason": "forwarded"})
    metrics.timing(m.SERVICE_API_RESPONSE_TIME, 0.2, tags={"service": "hull"})
    assert recorder.count(m.INCOMING_EVENTS, reason="forwarded") == 3
    assert recorder.timings(m.SERVICE_API_RESPONSE_TIME, service="hull") == [0.2]


def test_guarded_defaults_to_null_and_does_not_wrap_twice() -> None:
    assert isinstance(m.guarded(None), m.NullMetrics)
    once = m.guarded(InMemoryMetrics())
    assert m.guarded(once) is once
    null = m.NullMetrics()
    assert m.guarded(null) is null


def test_guarded_refuses_an_object_without_the_two_methods() -> None:
    with pytest.raises(TypeError, match="increment\\(\\) and timing\\(\\)"):
        m.guarded(object())  # type: ignore[arg-type]
