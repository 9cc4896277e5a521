"""SPEC §7.1 end to end, one rule at a time: what each Hull answer makes the engine answer.

Permanent refusals (400), wrong credentials (401), the webhook time budget and an unreachable
Customer.io, each sync and async, against the loopback fakes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from e2e_support import DATA, FAST_RETRY, async_hull_client, hull_client

import hull_customerio as hc
from builders import raw_message, user
from hull_customerio.engine import _core
from hull_customerio.testing import FakeCustomerIO, FakeHull

SIGNING_KEY = "whsec-answers"
SETTINGS = hc.Settings(
    site_id="site-123",
    api_key="key-456",
    synchronized_segments=["seg_1"],
    webhook_signing_key=SIGNING_KEY,
)
RETRY = {"flow_control": {"type": "retry", "size": 10, "in": 1000}}
NEXT = {"flow_control": {"type": "next"}}


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def users(count: int) -> list[dict[str, Any]]:
    return [
        raw_message(user(id=f"hull-{n}", email=f"u{n}@example.com", external_id=f"c-{n}"))
        for n in range(count)
    ]


def notification(count: int, hull: FakeHull) -> dict[str, Any]:
    return {
        "notification_id": "n-1",
        "configuration": {"id": hull.id, "organization": hull.organization, "secret": hull.secret},
        "connector": {"id": hull.id, "private_settings": {
            "site_id": "site-123", "api_key": "key-456", "synchronized_segments": ["seg_1"]}},
        "channel": "user:update",
        "segments": [{"id": "seg_1", "name": "Customers"}],
        "messages": users(count),
    }  # fmt: skip


def signed_webhook(event_id: str = "evt-1") -> tuple[bytes, dict[str, str]]:
    payload = json.loads((DATA / "webhooks" / "reporting-email-sent.json").read_text())
    payload["event_id"] = event_id
    body = json.dumps(payload).encode()
    timestamp = str(int(time.time()))
    signature = hc.sign_webhook(body, timestamp=timestamp, signing_key=SIGNING_KEY)
    return body, {"X-CIO-Timestamp": timestamp, "X-CIO-Signature": signature}


def run(
    flavour: str,
    customerio_url: str,
    hull: FakeHull,
    action: Callable[[Any], Any],
    *,
    mode: str = "v1",
    hull_options: dict[str, Any] | None = None,
    **connector_options: Any,
) -> Any:
    """Run ``action(connector)`` on a fresh connector; ``action`` returns a value or awaitable."""
    cio_options: dict[str, Any] = {"retry": FAST_RETRY, "rate_limit": None, "timeout": 2.0}
    hull_kwargs = dict(hull_options or {})
    if flavour == "sync":
        with hc.CustomerIOClient(
            "site-123", "key-456", base_url=customerio_url, **cio_options
        ) as cio:
            hull_api = hull_client(hull, **hull_kwargs)
            try:
                connector = hc.Connector(
                    SETTINGS, customerio=cio, hull=hull_api, mode=mode, **connector_options
                )
                return action(connector)
            finally:
                hull_api.close()

    async def main() -> Any:
        async with hc.AsyncCustomerIOClient(
            "site-123", "key-456", base_url=customerio_url, **cio_options
        ) as cio:
            hull_api = async_hull_client(hull, **hull_kwargs)
            try:
                connector = hc.AsyncConnector(
                    SETTINGS, customerio=cio, hull=hull_api, mode=mode, **connector_options
                )
                return await action(connector)
            finally:
                await hull_api.close()

    return asyncio.run(main())


# -- permanent refusals -------------------------------------------------------------------------


def test_a_webhook_hull_refuses_for_good_is_answered_200_hull_rejected_and_logged_as_error(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull, caplog: pytest.LogCaptureFixture
) -> None:
    hull.fail_randomly(1.0, 400)
    body, headers = signed_webhook()

    with caplog.at_level(logging.ERROR, logger="hull_customerio"):
        outcome = run(flavour, customerio.url, hull, lambda c: c.handle_webhook(body, headers))

    assert (outcome.http_status, outcome.reason) == (200, "hull_rejected")
    assert len(hull.requests) == 1  # a refusal is not retried as it is
    assert hull.tracks == []
    assert [vars(r)["hull_event"] for r in caplog.records] == ["incoming.event.error"]
    assert caplog.records[0].getMessage().startswith("incoming.event.error event=")
    assert "reason=hull_rejected" in caplog.records[0].getMessage()
    assert caplog.records[0].levelno == logging.ERROR


def test_write_backs_hull_refuses_for_good_are_writeback_rejected_and_answered_next(
    flavour: str, mode: str, customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    hull.fail_randomly(1.0, 400)
    payload = notification(3, hull)

    report, answer = run(
        flavour, customerio.url, hull,
        lambda c: _report_and_answer(c, payload), mode=mode,
        hull_options={"flush_at": 10},
    )  # fmt: skip

    assert answer == NEXT
    assert [(o.status, o.reason) for o in report.outcomes] == [("error", "writeback_rejected")] * 3
    assert sorted(customerio.people) == ["c-0", "c-1", "c-2"]
    # Split to find the refused messages: 3, then 1 and 2, then the last 2 one by one.
    sizes = [len(r.json["batch"]) for r in hull.requests]
    assert sorted(sizes) == [1, 1, 1, 2, 3]
    assert hull.users == []


def _report_and_answer(connector: Any, payload: dict[str, Any]) -> Any:
    # The report of one run and the flow control the same report gives.
    parsed = hc.parse_notification(payload)
    if isinstance(connector, hc.Connector):
        report = connector.sync_notification(parsed)
        return report, _core.flow_control_for(report)

    async def both() -> Any:
        report = await connector.sync_notification(parsed)
        return report, _core.flow_control_for(report)

    return both()


def test_a_refused_batch_is_split_so_the_innocent_write_backs_are_delivered(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    hull.fail_next(400)  # only the first request is refused: its halves are accepted
    payload = notification(4, hull)

    answer = run(
        flavour, customerio.url, hull, lambda c: c.handle_notification(payload),
        hull_options={"flush_at": 10},
    )  # fmt: skip

    assert answer == NEXT
    assert [(r.status, len(r.json["batch"])) for r in hull.requests] == [
        (400, 4),
        (200, 2),
        (200, 2),
    ]
    for n in range(4):
        assert hull.traits_for(external_id=f"c-{n}")["customerio/id"] == f"c-{n}"


# -- wrong credentials ------------------------------------------------------------------------


def test_hull_refusing_the_credentials_drops_nothing_and_the_status_says_so(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    body, headers = signed_webhook()
    payload = notification(2, hull)

    def scenario(connector: Any) -> Any:
        # The connector's credentials no longer match: Hull answers 401.
        hull.secret = "rotated-secret-the-client-does-not-know"
        if isinstance(connector, hc.Connector):
            return (
                connector.handle_webhook(body, headers),
                connector.handle_notification(payload),
                connector.check_status(),
            )

        async def steps() -> Any:
            return (
                await connector.handle_webhook(body, headers),
                await connector.handle_notification(payload),
                await connector.check_status(),
            )

        return steps()

    outcome, answer, status = run(flavour, customerio.url, hull, scenario)

    assert (outcome.http_status, outcome.reason) == (503, "hull_unauthorized")
    assert answer == RETRY
    assert status.status == "error"
    assert any("Hull refused the connector's credentials (HTTP 401)" in m for m in status.messages)
    assert {r.status for r in hull.requests} == {401}
    assert len(hull.requests) == 2  # not retried: one request per call


# -- the webhook time budget --------------------------------------------------------------------


def test_a_webhook_hull_does_not_confirm_within_the_budget_is_answered_503_in_time(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    hull.latency = 1.5
    body, headers = signed_webhook("evt-slow")

    def timed(connector: Any) -> Any:
        started = time.monotonic()
        if isinstance(connector, hc.Connector):
            return connector.handle_webhook(body, headers), time.monotonic() - started

        async def answer() -> Any:
            outcome = await connector.handle_webhook(body, headers)
            return outcome, time.monotonic() - started

        return answer()

    outcome, elapsed = run(flavour, customerio.url, hull, timed, webhook_timeout=0.3)

    assert (outcome.http_status, outcome.reason) == (503, "hull_timeout")
    assert 0.3 <= elapsed < 1.4  # answered when the budget ran out, before Hull did
    # The request was under way: it lands (closing the client waited for it). Customer.io's
    # re-delivery carries the same event_id, so it overwrites instead of duplicating.
    assert [t.event_id for t in hull.tracks] == ["evt-slow"]


def test_a_webhook_confirmed_within_the_budget_is_answered_200(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    hull.latency = 0.1
    body, headers = signed_webhook("evt-quick")

    outcome = run(
        flavour, customerio.url, hull, lambda c: c.handle_webhook(body, headers),
        webhook_timeout=1.0,
    )  # fmt: skip

    assert (outcome.http_status, outcome.reason) == (200, None)
    assert [t.event_id for t in hull.tracks] == ["evt-quick"]


def test_the_webhook_budget_defaults_to_3_seconds_and_must_be_positive() -> None:
    cio = hc.CustomerIOClient("site", "key")
    try:
        assert hc.Connector(SETTINGS, customerio=cio).webhook_timeout == 3.0
        for bad in (0, -1.0, "3"):
            with pytest.raises(hc.ConfigurationError, match="webhook_timeout"):
                hc.Connector(SETTINGS, customerio=cio, webhook_timeout=bad)  # type: ignore[arg-type]
    finally:
        cio.close()


# -- Customer.io unreachable ------------------------------------------------------------------


def test_an_unreachable_customerio_stops_the_notification_and_answers_retry_quickly(
    flavour: str, mode: str, hull: FakeHull
) -> None:
    payload = notification(10, hull)

    started = time.monotonic()
    report, answer = run(
        flavour, closed_port_url(), hull, lambda c: _report_and_answer(c, payload),
        mode=mode, max_concurrency=1,
    ) if flavour == "async" else run(
        flavour, closed_port_url(), hull, lambda c: _report_and_answer(c, payload), mode=mode,
    )  # fmt: skip
    elapsed = time.monotonic() - started

    assert answer == RETRY
    reasons = [o.reason for o in report.outcomes]
    if mode == "v1":
        # The first users' failures are enough; the rest are not even tried.
        tried = _core.CUSTOMERIO_UNAVAILABLE_AFTER
        assert reasons == ["identify_failed"] * tried + ["customerio_unavailable"] * (10 - tried)
    else:
        assert reasons == ["customerio_unavailable"] * 10
    assert all(o.status == "error" for o in report.outcomes)
    assert all(isinstance(o.exception, hc.APIConnectionError) for o in report.outcomes)
    assert hull.requests == []  # nothing to write back
    assert elapsed < 3.0
