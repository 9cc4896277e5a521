"""Issue #17: the counters of a known sync and of webhooks, sync and async, v1 and batch,
against the loopback fakes (connector and both clients given one `InMemoryMetrics`)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from e2e_support import (
    DATA,
    async_customerio_client,
    async_hull_client,
    customerio_client,
    hull_client,
)

import hull_customerio as hc
from builders import event, raw_message, user
from hull_customerio.metrics import (
    INCOMING_EVENTS,
    OUTGOING_EVENTS,
    OUTGOING_USERS,
    SERVICE_API_CALL,
    SERVICE_API_RESPONSE_TIME,
    InMemoryMetrics,
)
from hull_customerio.testing import FakeCustomerIO, FakeHull

SIGNING_KEY = "whsec-metrics"


def run(
    flavour: str,
    mode: str,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    *,
    settings: hc.Settings,
    action: Callable[[Any], Any],
) -> InMemoryMetrics:
    """Run ``action(connector)`` with one metrics object shared by connector and clients."""
    metrics = InMemoryMetrics()
    if flavour == "sync":
        with customerio_client(customerio, settings, metrics=metrics) as cio:
            hull_api = hull_client(hull, metrics=metrics)
            try:
                connector = hc.Connector(
                    settings, customerio=cio, hull=hull_api, mode=mode, metrics=metrics
                )
                action(connector)
            finally:
                hull_api.close()
        return metrics

    async def main() -> None:
        async with async_customerio_client(customerio, settings, metrics=metrics) as cio:
            hull_api = async_hull_client(hull, metrics=metrics)
            try:
                connector = hc.AsyncConnector(
                    settings, customerio=cio, hull=hull_api, mode=mode, metrics=metrics
                )
                await action(connector)
            finally:
                await hull_api.close()

    asyncio.run(main())
    return metrics


def engine_counters(
    metrics: InMemoryMetrics,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    names = {OUTGOING_USERS, OUTGOING_EVENTS, INCOMING_EVENTS}
    return {key: value for key, value in metrics.counters.items() if key[0] in names}


def calls(metrics: InMemoryMetrics, service: str) -> dict[tuple[str, str, str], float]:
    """``(method, endpoint, status)`` → count of ``ship.service_api.call`` for ``service``."""
    found: dict[tuple[str, str, str], float] = {}
    for (name, key), value in metrics.counters.items():
        tags = dict(key)
        if name == SERVICE_API_CALL and tags["service"] == service:
            group = "error" if tags["status"] == "error" else f"{tags['status'][0]}xx"
            assert tags["status_group"] == group
            found[(tags["method"], tags["endpoint"], tags["status"])] = value
    return found


# The known sync: tests/data/notification-user-update.json. Ada is identified with one event
# and one page view sent (a third event is not whitelisted); Grace left the segments and is
# deleted; the third user has no customer id and is skipped (never counted).
KNOWN_SYNC = {
    (OUTGOING_USERS, (("action", "identify"), ("status", "success"))): 1,
    (OUTGOING_USERS, (("action", "delete"), ("status", "success"))): 1,
    (OUTGOING_EVENTS, (("kind", "event"), ("status", "success"))): 1,
    (OUTGOING_EVENTS, (("kind", "page"), ("status", "success"))): 1,
}


def test_a_known_sync_counts_users_events_and_every_request(
    flavour: str,
    mode: str,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    notification_payload: dict[str, Any],
) -> None:
    notification = hc.parse_notification(notification_payload)

    metrics = run(
        flavour, mode, customerio, hull, settings=notification.settings,
        action=lambda c: c.sync_notification(notification),
    )  # fmt: skip

    assert engine_counters(metrics) == KNOWN_SYNC
    if mode == "v1":
        assert calls(metrics, "customerio") == {
            ("PUT", "/api/v1/customers/{id}", "200"): 1,
            ("POST", "/api/v1/customers/{id}/events", "200"): 2,
            ("DELETE", "/api/v1/customers/{id}", "200"): 1,
        }
    else:  # round 1: the identify and the deletion; round 2: the two events
        assert calls(metrics, "customerio") == {("POST", "/api/v2/batch", "200"): 2}
    assert sum(calls(metrics, "customerio").values()) == len(customerio.requests)
    # The write-backs of Ada and Grace, in firehose posts (however many the queue made).
    assert calls(metrics, "hull") == {("POST", "firehose", "200"): len(hull.requests)}
    assert len(hull.requests) >= 1
    durations = metrics.timings(SERVICE_API_RESPONSE_TIME)
    assert len(durations) == len(customerio.requests) + len(hull.requests)
    assert all(seconds >= 0 for seconds in durations)


def test_retries_count_as_requests_and_a_refused_identify_counts_the_user_in_error(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull, notification_payload: dict[str, Any]
) -> None:
    notification = hc.parse_notification(notification_payload)
    # Ada's identify: 503 (retried), then 400 (refused for good); her events are never sent.
    customerio.fail_next(503, path="/api/v1/customers/", method="PUT")
    customerio.fail_next(400, path="/api/v1/customers/", method="PUT")

    metrics = run(
        flavour, "v1", customerio, hull, settings=notification.settings,
        action=lambda c: c.sync_notification(notification),
    )  # fmt: skip

    assert engine_counters(metrics) == {
        (OUTGOING_USERS, (("action", "identify"), ("status", "error"))): 1,
        (OUTGOING_USERS, (("action", "delete"), ("status", "success"))): 1,
    }
    assert calls(metrics, "customerio") == {
        ("PUT", "/api/v1/customers/{id}", "503"): 1,
        ("PUT", "/api/v1/customers/{id}", "400"): 1,
        ("DELETE", "/api/v1/customers/{id}", "200"): 1,
    }
    assert metrics.count(SERVICE_API_CALL, service="customerio", status_group="5xx") == 1


def test_an_event_customerio_refuses_is_counted_in_error(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull, notification_payload: dict[str, Any]
) -> None:
    notification = hc.parse_notification(notification_payload)
    customerio.fail_next(400, path="/api/v1/customers/", method="POST")

    metrics = run(
        flavour, "v1", customerio, hull, settings=notification.settings,
        action=lambda c: c.sync_notification(notification),
    )  # fmt: skip

    counters = engine_counters(metrics)
    assert counters[(OUTGOING_USERS, (("action", "identify"), ("status", "success")))] == 1
    assert metrics.count(OUTGOING_EVENTS, status="error") == 1
    assert metrics.count(OUTGOING_EVENTS, status="success") == 1
    assert metrics.count(OUTGOING_EVENTS) == 2


def test_no_answer_is_counted_with_status_error(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull, notification_payload: dict[str, Any]
) -> None:
    notification = hc.parse_notification(notification_payload)
    customerio.fail_next("disconnect", path="/api/v1/customers/", method="PUT")

    metrics = run(
        flavour, "v1", customerio, hull, settings=notification.settings,
        action=lambda c: c.sync_notification(notification),
    )  # fmt: skip

    assert calls(metrics, "customerio")[("PUT", "/api/v1/customers/{id}", "error")] == 1
    assert metrics.count(SERVICE_API_CALL, service="customerio", status_group="error") == 1
    # The retry went through: Ada was identified.
    assert metrics.count(OUTGOING_USERS, action="identify", status="success") == 1


# -- webhooks ---------------------------------------------------------------------------------


def signed_webhook(event_id: str = "evt-1", key: str = SIGNING_KEY) -> tuple[bytes, dict[str, str]]:
    payload = json.loads((DATA / "webhooks" / "reporting-email-sent.json").read_text())
    payload["event_id"] = event_id
    body = json.dumps(payload).encode()
    timestamp = str(int(time.time()))
    signature = hc.sign_webhook(body, timestamp=timestamp, signing_key=key)
    return body, {"X-CIO-Timestamp": timestamp, "X-CIO-Signature": signature}


WEBHOOK_SETTINGS = hc.Settings(
    site_id="site-123", api_key="key-456", synchronized_segments=["seg_1"],
    webhook_signing_key=SIGNING_KEY,
)  # fmt: skip


def test_each_webhook_is_counted_once_with_its_status_and_reason(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    forwarded = signed_webhook("evt-1")
    forged = signed_webhook("evt-2", key="another-key")

    async def both_async(connector: Any) -> None:
        await connector.handle_webhook(*forwarded)
        await connector.handle_webhook(*forged)

    def both(connector: Any) -> Any:
        if flavour == "async":
            return both_async(connector)
        connector.handle_webhook(*forwarded)
        connector.handle_webhook(*forged)
        return None

    metrics = run(flavour, "v1", customerio, hull, settings=WEBHOOK_SETTINGS, action=both)

    assert engine_counters(metrics) == {
        (INCOMING_EVENTS, (("reason", "forwarded"), ("status", "200"))): 1,
        (INCOMING_EVENTS, (("reason", "signature_mismatch"), ("status", "401"))): 1,
    }
    assert calls(metrics, "hull") == {("POST", "firehose", "200"): 1}
    assert calls(metrics, "customerio") == {}


def test_a_failing_metrics_object_never_fails_a_sync(
    flavour: str,
    mode: str,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    notification_payload: dict[str, Any],
) -> None:
    class Broken:
        def increment(self, name: str, value: float = 1, *, tags: Any = None) -> None:
            raise RuntimeError("monitoring is down")

        def timing(self, name: str, seconds: float, *, tags: Any = None) -> None:
            raise RuntimeError("monitoring is down")

    notification = hc.parse_notification(notification_payload)
    broken = Broken()
    if flavour == "sync":
        with customerio_client(customerio, notification.settings, metrics=broken) as cio:
            connector = hc.Connector(
                notification.settings, customerio=cio, mode=mode, metrics=broken
            )
            report = connector.sync_notification(notification)
    else:

        async def main() -> hc.SyncReport:
            async with async_customerio_client(
                customerio, notification.settings, metrics=broken
            ) as cio:
                connector = hc.AsyncConnector(
                    notification.settings, customerio=cio, mode=mode, metrics=broken
                )
                return await connector.sync_notification(notification)

        report = asyncio.run(main())

    assert [o.status for o in report.outcomes] == ["success", "success", "skipped"]


@pytest.mark.parametrize("bad", [object(), "metrics"])
def test_an_object_that_is_not_a_metrics_is_refused_when_the_connector_is_built(
    bad: Any,
) -> None:
    with pytest.raises(TypeError, match="increment"):
        hc.Connector(WEBHOOK_SETTINGS, metrics=bad)
    with pytest.raises(TypeError, match="increment"):
        hc.AsyncConnector(WEBHOOK_SETTINGS, metrics=bad)
    with pytest.raises(TypeError, match="increment"):
        hc.CustomerIOClient("site", "key", metrics=bad)
    with pytest.raises(TypeError, match="increment"):
        hc.HullClient("5c8a1f2e3b4d5e6f7a8b9c0d", "s", "acme.hullapp.io", metrics=bad)


def test_one_metrics_object_shared_by_threads_and_tasks_under_faults_loses_nothing(
    flavour: str, mode: str, customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    settings = hc.Settings(
        site_id="site-123", api_key="key-456", synchronized_segments=["seg_1"],
        events_filter=["Signed Up"],
    )  # fmt: skip
    customerio.fail_randomly(0.2, 503, seed=7)
    batches = [
        [
            raw_message(
                user(id=f"hull-{n}-{k}", email=f"u{n}{k}@example.com", external_id=f"c-{n}-{k}"),
                events=[event(event_id=f"e-{n}-{k}")],
            )
            for k in range(8)
        ]
        for n in range(4)
    ]

    def all_batches(connector: Any) -> Any:
        if flavour == "async":
            return asyncio.gather(*(connector.sync_user_updates(b) for b in batches))
        with ThreadPoolExecutor(max_workers=len(batches)) as pool:
            return list(pool.map(connector.sync_user_updates, batches))

    reports: list[hc.SyncReport] = []

    def keep(connector: Any) -> Any:
        result = all_batches(connector)
        if flavour == "async":

            async def collect() -> None:
                reports.extend(await result)

            return collect()
        reports.extend(result)
        return None

    metrics = run(flavour, mode, customerio, hull, settings=settings, action=keep)

    outcomes = [o for report in reports for o in report.outcomes]
    assert len(outcomes) == 32
    assert all(o.action is hc.Action.IDENTIFY for o in outcomes)
    assert metrics.count(OUTGOING_USERS) == 32
    assert metrics.count(OUTGOING_USERS, status="error") == sum(
        1 for o in outcomes if o.reason in {"identify_failed", "customerio_unavailable"}
    )
    assert metrics.count(OUTGOING_EVENTS, status="success") == sum(
        len(o.events_sent) for o in outcomes
    )
    assert metrics.count(OUTGOING_EVENTS, status="error") == sum(
        1 for o in outcomes for _, reason in o.events_skipped if reason == "send_failed"
    )
    assert metrics.count(SERVICE_API_CALL, service="customerio") == len(customerio.requests)
    assert metrics.count(SERVICE_API_CALL, service="hull") == len(hull.requests)
    assert len(metrics.timings(SERVICE_API_RESPONSE_TIME)) == len(customerio.requests) + len(
        hull.requests
    )
