"""Issue #17: connectors built without a Customer.io client, for webhook-only services.

They verify and forward Customer.io webhooks to Hull; asking them to sync is a clear
`ConfigurationError` at call time, and their status says they have no Customer.io client.
Sync and async, against the loopback fakes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from e2e_support import DATA, async_hull_client, hull_client

import hull_customerio as hc
from hull_customerio.engine import _core
from hull_customerio.testing import FakeHull

SIGNING_KEY = "whsec-webhook-only"
# A webhook-only service has no Customer.io credentials in its settings at all.
SETTINGS = hc.Settings(webhook_signing_key=SIGNING_KEY, synchronized_segments=["seg_1"])


def run(flavour: str, hull: FakeHull | None, action: Callable[[Any], Any]) -> Any:
    """``action(connector)`` on a connector with no Customer.io client."""
    if flavour == "sync":
        client = hull_client(hull) if hull is not None else None
        try:
            return action(hc.Connector(SETTINGS, hull=client))
        finally:
            if client is not None:
                client.close()

    async def main() -> Any:
        client = async_hull_client(hull) if hull is not None else None
        try:
            return await action(hc.AsyncConnector(SETTINGS, hull=client))
        finally:
            if client is not None:
                await client.close()

    return asyncio.run(main())


def signed_webhook(key: str = SIGNING_KEY) -> tuple[bytes, dict[str, str]]:
    body = (DATA / "webhooks" / "reporting-email-sent.json").read_bytes()
    timestamp = str(int(time.time()))
    signature = hc.sign_webhook(body, timestamp=timestamp, signing_key=key)
    return body, {"X-CIO-Timestamp": timestamp, "X-CIO-Signature": signature}


def test_a_connector_without_customerio_client_forwards_webhooks_to_hull(
    flavour: str, hull: FakeHull
) -> None:
    body, headers = signed_webhook()

    outcome = run(flavour, hull, lambda c: c.handle_webhook(body, headers))

    assert (outcome.http_status, outcome.reason) == (200, None)
    event_id = json.loads(body)["event_id"]
    assert [track.event_id for track in hull.tracks] == [event_id]


def test_a_webhook_only_connector_still_refuses_a_bad_signature(
    flavour: str, hull: FakeHull
) -> None:
    body, headers = signed_webhook(key="forged")

    outcome = run(flavour, hull, lambda c: c.handle_webhook(body, headers))

    assert outcome.http_status == 401
    assert hull.tracks == []


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.sync_user_updates([]),
        lambda c: c.sync_notification(hc.Notification(channel="user:update", settings=SETTINGS,
                                                      messages=[])),
    ],
    ids=["sync_user_updates", "sync_notification"],
)  # fmt: skip
def test_syncing_without_customerio_client_is_a_configuration_error(
    flavour: str, call: Callable[[Any], Any]
) -> None:
    with pytest.raises(hc.ConfigurationError, match=r"needs a Customer\.io client"):
        run(flavour, None, call)


def notification(hull: FakeHull, *, secret: str | None = None) -> bytes:
    return json.dumps({
        "notification_id": "n-1",
        "configuration": {"id": hull.id, "organization": hull.organization,
                          "secret": secret or hull.secret},
        "connector": {"id": hull.id, "private_settings": {"synchronized_segments": ["seg_1"]}},
        "channel": "user:update",
        "messages": [],
    }).encode()  # fmt: skip


def test_an_authenticated_notification_without_customerio_client_is_a_configuration_error(
    flavour: str, hull: FakeHull
) -> None:
    body = notification(hull)

    with pytest.raises(hc.ConfigurationError, match="handling a notification needs"):
        run(flavour, hull, lambda c: c.answer_notification(body, {}))
    with pytest.raises(hc.ConfigurationError, match="handling a notification needs"):
        run(flavour, hull, lambda c: c.handle_notification(body, {}))


def test_a_refused_notification_is_answered_401_before_the_missing_client_matters(
    flavour: str, hull: FakeHull
) -> None:
    body = notification(hull, secret="not-the-secret")

    answer = run(flavour, hull, lambda c: c.answer_notification(body, {}))

    assert answer.http_status == 401


def test_the_status_of_a_webhook_only_connector_says_it_has_no_customerio_client(
    flavour: str, hull: FakeHull
) -> None:
    status = run(flavour, hull, lambda c: c.check_status())

    # The settings have no Customer.io credentials either; nothing was asked of Customer.io.
    assert status.status == "error"
    assert status.messages == [_core.NO_CREDENTIALS, _core.NO_CUSTOMERIO_CLIENT]


def test_a_webhook_only_connector_with_credentials_in_its_settings_warns_only(
    flavour: str, hull: FakeHull
) -> None:
    settings = hc.Settings(site_id="site", api_key="key", synchronized_segments=["seg_1"])

    def status(c: Any) -> Any:
        c.settings = settings
        return c.check_status()

    found = run(flavour, hull, status)

    assert (found.status, found.messages) == ("warning", [_core.NO_CUSTOMERIO_CLIENT])
