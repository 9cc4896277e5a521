"""Issue #17 / SPEC §7: readable log lines naming the user, the reason and the notification,
the same data in each record's `extra`, the notification on every record of its processing.
Sync and async, against the loopback fakes (handle_notification through the Hull client)."""

from __future__ import annotations

import asyncio
import copy
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from e2e_support import async_customerio_client, async_hull_client, customerio_client, hull_client

import hull_customerio as hc
from hull_customerio.engine._core import LogContext, log_event
from hull_customerio.testing import FakeCustomerIO, FakeHull

ADA, GRACE = "5c8a1f2e3b4d5e6f7a8b9c01", "5c8a1f2e3b4d5e6f7a8b9c02"
THIRD = "5c8a1f2e3b4d5e6f7a8b9c03"
NOTIFICATION_ID = "6a1f0c1e-0b7e-4a55-9f39-1c2d3e4f5a6b"
ORGANIZATION = "acme42.hullapp.io"


def handle(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull, payloads: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Handle ``payloads`` on one shared connector: threads (sync) or tasks (async) at once."""
    settings = hc.Settings.from_private_settings(payloads[0]["connector"]["private_settings"])
    if flavour == "sync":
        with customerio_client(customerio, settings) as cio:
            hull_api = hull_client(hull)
            try:
                connector = hc.Connector(settings, customerio=cio, hull=hull_api)
                with ThreadPoolExecutor(max_workers=len(payloads)) as pool:
                    return list(pool.map(connector.handle_notification, payloads))
            finally:
                hull_api.close()

    async def main() -> list[dict[str, Any]]:
        async with async_customerio_client(customerio, settings) as cio:
            hull_api = async_hull_client(hull)
            try:
                connector = hc.AsyncConnector(settings, customerio=cio, hull=hull_api)
                return list(
                    await asyncio.gather(*(connector.handle_notification(p) for p in payloads))
                )
            finally:
                await hull_api.close()

    return asyncio.run(main())


def engine_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "hull_customerio"]


def test_outcome_lines_name_the_user_the_reason_and_the_notification(
    flavour: str,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    notification_payload: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="hull_customerio")

    handle(flavour, customerio, hull, [notification_payload])

    tail = f"notification={NOTIFICATION_ID} organization={ORGANIZATION}"
    lines = [r.getMessage() for r in engine_records(caplog)]
    assert f"outgoing.user.success user={ADA} customer_id=cust-001 reason=new {tail}" in lines
    assert (
        f"outgoing.user.deletion user={GRACE} customer_id=cust-002 reason=left_segments {tail}"
        in lines
    )
    assert f"outgoing.user.skip user={THIRD} reason=no_customer_id {tail}" in lines
    assert (
        f"outgoing.event.skip user={ADA} customer_id=cust-001 event='Clicked Banner' "
        f"reason=not_whitelisted {tail}" in lines
    )


def test_every_record_carries_the_same_data_in_extra(
    flavour: str,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    notification_payload: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="hull_customerio")

    handle(flavour, customerio, hull, [notification_payload])

    records = engine_records(caplog)
    assert len(records) == 6
    for record in records:
        fields = vars(record)
        assert record.getMessage().split(" ", 1)[0] == fields["hull_event"]
        assert (fields["notification_id"], fields["organization"]) == (
            NOTIFICATION_ID,
            ORGANIZATION,
        )
        assert f"user={fields['user_id']}" in record.getMessage()
        if fields.get("reason") is not None:
            assert f"reason={fields['reason']}" in record.getMessage()
        text = record.getMessage() + repr(fields)
        assert "connector-secret-for-tests" not in text
        assert "key-456" not in text
        assert "@" not in text  # no email, no attribute value


def test_concurrent_notifications_on_one_connector_keep_their_own_ids(
    flavour: str,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    notification_payload: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    payloads = []
    for number in range(6):
        payload = copy.deepcopy(notification_payload)
        payload["notification_id"] = f"n-{number}"
        for message in payload["messages"]:
            message["user"]["id"] += f"-{number}"
        payloads.append(payload)
    customerio.latency = 0.01  # so the notifications interleave
    caplog.set_level(logging.INFO, logger="hull_customerio")

    answers = handle(flavour, customerio, hull, payloads)

    assert all(answer == {"flow_control": {"type": "next"}} for answer in answers)
    records = [r for r in engine_records(caplog) if vars(r).get("user_id")]
    assert len(records) == 6 * 6
    for record in records:
        number = vars(record)["user_id"].rsplit("-", 1)[1]
        assert vars(record)["notification_id"] == f"n-{number}"
        assert f"notification=n-{number} " in record.getMessage()


def test_a_sync_outside_a_notification_names_no_notification(
    flavour: str,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    notification_payload: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    notification = hc.parse_notification(notification_payload)
    caplog.set_level(logging.INFO, logger="hull_customerio")
    if flavour == "sync":
        with customerio_client(customerio, notification.settings) as cio:
            hc.Connector(notification.settings, customerio=cio).sync_user_updates(
                notification.messages
            )
    else:

        async def main() -> None:
            async with async_customerio_client(customerio, notification.settings) as cio:
                connector = hc.AsyncConnector(notification.settings, customerio=cio)
                await connector.sync_user_updates(notification.messages)

        asyncio.run(main())

    records = engine_records(caplog)
    assert records
    for record in records:
        assert "notification=" not in record.getMessage()
        assert vars(record).get("notification_id") is None


def test_ids_that_could_forge_a_log_line_are_quoted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hull_customerio")
    log_event(
        logging.INFO, "outgoing.user.skip", LogContext("n 1", "acme.hullapp.io"),
        user_id="u1\noutgoing.user.success user=u2", reason="no_customer_id",
    )  # fmt: skip

    (record,) = engine_records(caplog)
    assert record.getMessage() == (
        "outgoing.user.skip user='u1\\noutgoing.user.success user=u2' reason=no_customer_id "
        "notification='n 1' organization=acme.hullapp.io"
    )
    assert vars(record)["user_id"] == "u1\noutgoing.user.success user=u2"
