"""SPEC §7.1 end to end: one connector shared by many threads or tasks, Hull failing at random.

Each scenario runs many notifications and webhooks at once on ONE connector (one Customer.io
client, one Hull client), against the loopback fakes. The fake Hull refuses a seeded share of
firehose requests (503, and some 400). A faulted request is never applied by the fake, so the
truth is checkable: every user reported ``success`` has its write-back at Hull, every webhook
answered 2xx has its event there, and a failure reported to a call is one of *its own* messages
(it is not at Hull either).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from e2e_support import DATA, FAST_RETRY, async_hull_client, hull_client

import hull_customerio as hc
from builders import raw_message, user
from hull_customerio.testing import FakeCustomerIO, FakeHull

SIGNING_KEY = "whsec-concurrency"
SETTINGS = hc.Settings(
    site_id="site-123",
    api_key="key-456",
    synchronized_segments=["seg_1"],
    webhook_signing_key=SIGNING_KEY,
)
# Two tries per firehose batch: with 70 % of the requests failing, about half the batches fail
# for good, so every run has failures to report (and deliveries to check).
HULL_RETRY = hc.RetryPolicy(max_attempts=2, initial_backoff=0.005, max_backoff=0.01, max_elapsed=5)
NOTIFICATIONS = 12
USERS_PER_NOTIFICATION = 6
WEBHOOKS = 48
WEBHOOK_TEMPLATE = json.loads((DATA / "webhooks" / "reporting-email-sent.json").read_text())


def customerio_options() -> dict[str, Any]:
    return {"retry": FAST_RETRY, "rate_limit": None, "timeout": 5.0}


def notification_messages(number: int) -> list[dict[str, Any]]:
    return [
        raw_message(
            user(
                id=f"hull-{number}-{index}",
                email=f"n{number}-u{index}@example.com",
                external_id=f"c-{number}-{index}",
            )
        )
        for index in range(USERS_PER_NOTIFICATION)
    ]


def webhook(number: int) -> tuple[bytes, dict[str, str]]:
    payload = json.loads(json.dumps(WEBHOOK_TEMPLATE))
    payload["event_id"] = f"evt-{number:04d}"
    payload["data"]["customer_id"] = f"w-{number}"
    payload["data"]["identifiers"] = {"id": f"w-{number}", "email": f"w{number}@example.com"}
    payload["data"]["recipient"] = f"w{number}@example.com"
    body = json.dumps(payload).encode()
    timestamp = str(int(time.time()))
    signature = hc.sign_webhook(body, timestamp=timestamp, signing_key=SIGNING_KEY)
    return body, {"X-CIO-Timestamp": timestamp, "X-CIO-Signature": signature}


def hull_has_writeback(hull: FakeHull, customer_id: str) -> bool:
    found = hull.user(external_id=customer_id)
    return found is not None and found.traits.get("customerio/id") == customer_id


def assert_reports_tell_the_truth(
    hull: FakeHull, reports: dict[int, hc.SyncReport]
) -> tuple[int, int]:
    """Every success is at Hull; every write-back failure is the user's own and not at Hull."""
    succeeded = failed = 0
    for number, report in reports.items():
        mine = {f"c-{number}-{index}" for index in range(USERS_PER_NOTIFICATION)}
        assert {o.customer_id for o in report.outcomes} == mine
        for outcome in report.outcomes:
            assert outcome.customer_id is not None
            if outcome.status == "success":
                succeeded += 1
                assert hull_has_writeback(hull, outcome.customer_id), outcome
                continue
            assert outcome.reason in {"writeback_failed", "writeback_rejected"}, outcome
            failed += 1
            assert not hull_has_writeback(hull, outcome.customer_id), outcome
            error = outcome.exception
            assert isinstance(error, hc.DeliveryError)
            # Only this user's own write-back is named: never another call's message.
            assert [m["body"]["customerio/id"] for m in error.undelivered] == [outcome.customer_id]
    return succeeded, failed


def assert_webhook_answers_tell_the_truth(
    hull: FakeHull, outcomes: dict[int, hc.WebhookOutcome]
) -> tuple[int, int]:
    """A 2xx with no reason means the event is at Hull; any other answer means it is not."""
    at_hull = {track.event_id for track in hull.tracks}
    accepted = refused = 0
    for number, outcome in outcomes.items():
        event_id = f"evt-{number:04d}"
        if outcome.http_status == 200 and outcome.reason is None:
            accepted += 1
            assert event_id in at_hull, outcome
        else:
            refused += 1
            assert (outcome.http_status, outcome.reason) in {
                (503, "hull_unavailable"),
                (200, "hull_rejected"),
            }, outcome
            assert event_id not in at_hull, outcome
    assert len(at_hull) == accepted
    return accepted, refused


def batches_grouped_several_calls(hull: FakeHull) -> bool:
    """Whether some firehose request carried messages of more than one call."""

    def call(message: dict[str, Any]) -> str:
        if message["type"] == "track":
            return str(message["body"]["event_id"])  # one webhook, one event
        return "notification " + str(message["body"]["customerio/id"]).split("-")[1]

    return any(
        len({call(message) for message in request.json["batch"]}) > 1 for request in hull.requests
    )


def faulty(hull: FakeHull) -> FakeHull:
    hull.fail_randomly(0.7, 503, seed=11)
    hull.fail_randomly(0.08, 400, seed=12)
    return hull


def test_threads_sharing_one_connector_get_the_truth_about_their_own_messages(
    customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    faulty(hull)
    reports: dict[int, hc.SyncReport] = {}
    outcomes: dict[int, hc.WebhookOutcome] = {}
    with hc.CustomerIOClient(
        customerio.site_id, customerio.api_key, base_url=customerio.url, **customerio_options()
    ) as cio:
        hull_api = hull_client(hull, retry=HULL_RETRY, flush_at=4, max_in_flight=3)
        connector = hc.Connector(SETTINGS, customerio=cio, hull=hull_api, webhook_timeout=None)

        def notify(number: int) -> None:
            reports[number] = connector.sync_user_updates(notification_messages(number))

        def receive(number: int) -> None:
            outcomes[number] = connector.handle_webhook(*webhook(number))

        jobs: list[Callable[[], None]] = [lambda n=n: notify(n) for n in range(NOTIFICATIONS)]
        jobs += [lambda n=n: receive(n) for n in range(WEBHOOKS)]
        threads = [threading.Thread(target=job) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        hull_api.close()

    assert len(reports) == NOTIFICATIONS
    assert len(outcomes) == WEBHOOKS
    succeeded, failed = assert_reports_tell_the_truth(hull, reports)
    accepted, refused = assert_webhook_answers_tell_the_truth(hull, outcomes)
    # The faults did bite, and not always.
    assert min(succeeded, failed, accepted, refused) > 0
    assert batches_grouped_several_calls(hull)


def test_tasks_sharing_one_connector_get_the_truth_about_their_own_messages(
    customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    faulty(hull)

    async def run() -> tuple[dict[int, hc.SyncReport], dict[int, hc.WebhookOutcome]]:
        async with hc.AsyncCustomerIOClient(
            customerio.site_id,
            customerio.api_key,
            base_url=customerio.url,
            **customerio_options(),
        ) as cio:
            hull_api = async_hull_client(hull, retry=HULL_RETRY, flush_at=4, max_in_flight=3)
            connector = hc.AsyncConnector(
                SETTINGS, customerio=cio, hull=hull_api, webhook_timeout=None
            )
            notify = [
                connector.sync_user_updates(notification_messages(n)) for n in range(NOTIFICATIONS)
            ]
            receive = [connector.handle_webhook(*webhook(n)) for n in range(WEBHOOKS)]
            results = await asyncio.wait_for(asyncio.gather(*notify, *receive), 60)
            await hull_api.close()
        reports = dict(enumerate(results[:NOTIFICATIONS]))
        outcomes = dict(enumerate(results[NOTIFICATIONS:]))
        return reports, outcomes  # type: ignore[return-value]

    reports, outcomes = asyncio.run(run())

    succeeded, failed = assert_reports_tell_the_truth(hull, reports)
    accepted, refused = assert_webhook_answers_tell_the_truth(hull, outcomes)
    assert min(succeeded, failed, accepted, refused) > 0
    assert batches_grouped_several_calls(hull)


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_concurrent_notifications_hit_by_a_hull_outage_retry_and_a_later_one_goes_next(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    # Two notifications at once while Hull answers 503 to everything: whoever's request
    # carried their write-backs, both are told (both retry). Once Hull is back, a third
    # notification is answered next.
    hull.fail_randomly(1.0, 503)

    def payload(number: int) -> dict[str, Any]:
        return {
            "notification_id": f"n-{number}",
            "configuration": {"id": hull.id, "organization": hull.organization,
                              "secret": hull.secret},
            "connector": {"id": hull.id, "private_settings": {
                "site_id": "site-123", "api_key": "key-456",
                "synchronized_segments": ["seg_1"]}},
            "channel": "user:update",
            "segments": [{"id": "seg_1", "name": "Customers"}],
            "messages": notification_messages(number),
        }  # fmt: skip

    retry = {"flow_control": {"type": "retry", "size": 10, "in": 1000}}
    nxt = {"flow_control": {"type": "next"}}
    if flavour == "sync":
        with hc.CustomerIOClient(
            customerio.site_id, customerio.api_key, base_url=customerio.url,
            **customerio_options(),
        ) as cio:  # fmt: skip
            # flush_at of both notifications together: their write-backs go in one batch.
            hull_api = hull_client(hull, retry=HULL_RETRY, flush_at=2 * USERS_PER_NOTIFICATION)
            connector = hc.Connector(SETTINGS, customerio=cio, hull=hull_api)
            answers: dict[int, dict[str, Any]] = {}

            def answer(number: int) -> None:
                answers[number] = connector.handle_notification(payload(number))

            threads = [threading.Thread(target=answer, args=(n,)) for n in (1, 2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            hull.clear_faults()
            third = connector.handle_notification(payload(3))
            hull_api.close()
    else:

        async def run() -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
            async with hc.AsyncCustomerIOClient(
                customerio.site_id, customerio.api_key, base_url=customerio.url,
                **customerio_options(),
            ) as cio:  # fmt: skip
                hull_api = async_hull_client(
                    hull, retry=HULL_RETRY, flush_at=2 * USERS_PER_NOTIFICATION
                )
                connector = hc.AsyncConnector(SETTINGS, customerio=cio, hull=hull_api)
                first, second = await asyncio.gather(
                    connector.handle_notification(payload(1)),
                    connector.handle_notification(payload(2)),
                )
                hull.clear_faults()
                third = await connector.handle_notification(payload(3))
                await hull_api.close()
            return {1: first, 2: second}, third

        answers, third = asyncio.run(run())

    assert answers == {1: retry, 2: retry}
    assert third == nxt
    assert all(hull_has_writeback(hull, f"c-3-{i}") for i in range(USERS_PER_NOTIFICATION))
