"""End to end, Customer.io → Hull, and the status check (SPEC §4, §7)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from e2e_support import DATA, Harness

import hull_customerio as hc
from hull_customerio.testing import FakeCustomerIO, FakeHull

SIGNING_KEY = "whsec-test-key"
SETTINGS = hc.Settings(
    site_id="site-123",
    api_key="key-456",
    synchronized_segments=["seg_paying"],
    webhook_signing_key=SIGNING_KEY,
)


@pytest.fixture
def webhook_harness(flavour: str, customerio: FakeCustomerIO, hull: FakeHull) -> Harness:
    return Harness(flavour, "v1", customerio, hull)


def signed(body: bytes, key: str = SIGNING_KEY) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "X-CIO-Timestamp": timestamp,
        "x-cio-signature": hc.sign_webhook(body, timestamp=timestamp, signing_key=key),
    }


def fixture_body(name: str) -> bytes:
    return (Path(DATA) / "webhooks" / name).read_bytes()


def test_a_signed_webhook_becomes_a_hull_track_call_with_its_event_id(
    webhook_harness: Harness, hull: FakeHull
) -> None:
    body = fixture_body("reporting-email-sent.json")
    payload = json.loads(body)

    outcome = webhook_harness.webhook(SETTINGS, body, signed(body))

    assert (outcome.http_status, outcome.reason) == (200, None)
    assert outcome.event is not None
    assert len(hull.tracks) == 1
    track = hull.tracks[0]
    assert track.event == "Email Sent"
    assert track.event_id == payload["event_id"]
    assert track.source == "customerio"
    assert track.ip == "0"
    assert track.created_at == outcome.event.created_at
    assert track.claims == outcome.event.claims


def test_a_redelivered_webhook_overwrites_instead_of_duplicating(
    webhook_harness: Harness, hull: FakeHull
) -> None:
    body = fixture_body("reporting-email-sent.json")
    webhook_harness.webhook(SETTINGS, body, signed(body))
    webhook_harness.webhook(SETTINGS, body, signed(body))

    assert len(hull.tracks) == 1


def test_a_webhook_with_a_bad_signature_is_refused_and_nothing_is_forwarded(
    webhook_harness: Harness, hull: FakeHull
) -> None:
    body = fixture_body("reporting-email-sent.json")

    outcome = webhook_harness.webhook(SETTINGS, body, signed(body, key="another-key"))

    assert (outcome.http_status, outcome.reason) == (401, "signature_mismatch")
    assert hull.tracks == []
    assert hull.requests == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "invalid_payload"),
        (b'{"object_type": "email", "metric": "sent", "event_id": "e1", "timestamp": 1}',
         "invalid_payload"),
        (b'{"object_type": "email", "metric": "teleported", "event_id": "e1", "timestamp": 1,'
         b' "data": {"customer_id": "1"}}', "unknown_event"),
    ],
)  # fmt: skip
def test_a_payload_that_can_never_be_used_is_acknowledged_with_its_reason(
    webhook_harness: Harness, hull: FakeHull, body: bytes, reason: str
) -> None:
    outcome = webhook_harness.webhook(SETTINGS, body, signed(body))

    assert (outcome.http_status, outcome.reason) == (200, reason)
    assert hull.tracks == []


def test_hull_down_answers_503_so_customerio_retries(
    webhook_harness: Harness, hull: FakeHull
) -> None:
    hull.fail_next(503, count=1000)
    body = fixture_body("legacy-email-delivered.json")

    outcome = webhook_harness.webhook(SETTINGS, body, signed(body))

    assert (outcome.http_status, outcome.reason) == (503, "hull_unavailable")
    assert hull.tracks == []


def test_status_is_ok_with_valid_credentials_and_segments(webhook_harness: Harness) -> None:
    status = webhook_harness.status(SETTINGS)
    assert (status.status, status.messages) == ("ok", [])


def test_status_reports_invalid_credentials(webhook_harness: Harness) -> None:
    settings = hc.Settings(site_id="site-123", api_key="wrong", synchronized_segments=["s"])
    status = webhook_harness.status(settings)
    assert status.status == "error"
    assert status.messages == ["Invalid credentials: Customer.io refused the Site ID and API Key."]


def test_status_warns_when_no_segment_is_synchronized(webhook_harness: Harness) -> None:
    settings = hc.Settings(site_id="site-123", api_key="key-456")
    status = webhook_harness.status(settings)
    assert status.status == "warning"
    assert status.messages[0].startswith("No users will be synchronized")


def test_status_reports_missing_credentials_without_calling(
    webhook_harness: Harness, customerio: FakeCustomerIO
) -> None:
    status = webhook_harness.status(hc.Settings(synchronized_segments=["s"]))
    assert status.status == "error"
    assert status.messages[0].startswith("Missing credentials")
    assert customerio.requests == []
