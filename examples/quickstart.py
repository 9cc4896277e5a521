"""Quickstart: Hull → Customer.io and back, end to end, in one run.

1. A Hull ``user:update`` notification (``data/notification-user-update.json``) is synced to
   Customer.io: one user is created with two events, one is deleted, one is skipped.
2. Two signed Customer.io webhooks about the created person come back and become Hull events.

With no credentials, both services are the library's loopback fakes
(``hull_customerio.testing``), so nothing leaves this machine. Each service is real when its
credentials are in the environment:

- Customer.io: ``CUSTOMERIO_SITE_ID``, ``CUSTOMERIO_API_KEY`` (``CUSTOMERIO_REGION``: us/eu/auto)
- Hull: ``HULL_ID``, ``HULL_SECRET``, ``HULL_ORGANIZATION``

Run it::

    python examples/quickstart.py
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import hull_customerio as hc
from hull_customerio.testing import FakeCustomerIO, FakeHull

DATA = Path(__file__).resolve().parent / "data"
WEBHOOKS = ["webhook-email-sent.json", "webhook-email-delivered-legacy.json"]
# We sign the webhooks ourselves below, so any key shows verification at work.
DEMO_SIGNING_KEY = "quickstart-signing-key"

# Hull issues the connector secret, so its length is not ours to choose; PyJWT would warn on
# every token signed with one shorter than 32 bytes (the sample's is).
warnings.filterwarnings("ignore", message="The HMAC key is .* below the minimum recommended")

VERBS = {"new": "created", "changed": "updated", "left_segments": "deleted"}
DESTINATIONS = {"event": "Customer.io event", "page": "page view", "anonymous": "anonymous event"}


def main() -> None:
    payload = json.loads((DATA / "notification-user-update.json").read_text())
    notification = hc.parse_notification(payload)
    settings = hc.Settings.from_private_settings(
        {
            **payload["connector"]["private_settings"],
            "webhook_signing_key": os.environ.get("CUSTOMERIO_WEBHOOK_SIGNING_KEY")
            or DEMO_SIGNING_KEY,
        }
    )

    with ExitStack() as resources:
        fake_cio, customerio = open_customerio(resources, settings)
        fake_hull, hull = open_hull(resources, payload["configuration"])
        connector = hc.Connector(settings, customerio=customerio, hull=hull)

        print("== Hull -> Customer.io: the sample notification ==")
        report = connector.sync_user_updates(notification.messages, batch=notification.is_export)
        print_report(report)

        print("\n== Customer.io -> Hull: two signed webhooks ==")
        for name in WEBHOOKS:
            outcome = connector.handle_webhook(*signed_webhook(DATA / name, settings))
            print_webhook(name, outcome)

        if fake_cio is not None:
            print_customerio_state(fake_cio)
        if fake_hull is not None:
            print_hull_state(fake_hull)


def open_customerio(
    resources: ExitStack, settings: hc.Settings
) -> tuple[FakeCustomerIO | None, hc.CustomerIOClient]:
    """The real Customer.io when credentials are set, else a fake on a loopback port."""
    site_id, api_key = os.environ.get("CUSTOMERIO_SITE_ID"), os.environ.get("CUSTOMERIO_API_KEY")
    if site_id and api_key:
        region = os.environ.get("CUSTOMERIO_REGION", "us")
        return None, resources.enter_context(hc.CustomerIOClient(site_id, api_key, region=region))
    fake = resources.enter_context(
        FakeCustomerIO(settings.site_id or "site", settings.api_key or "key")
    )
    # Grace was synced on an earlier run; she has since left the segments, so she is deleted.
    fake.add_person("cust-002", {"email": "grace@example.com"})
    client = hc.CustomerIOClient(fake.site_id, fake.api_key, base_url=fake.url)
    return fake, resources.enter_context(client)


def open_hull(
    resources: ExitStack, configuration: Mapping[str, str]
) -> tuple[FakeHull | None, hc.HullClient]:
    """The real Hull organization when credentials are set, else a fake on a loopback port."""
    hull_id, secret, organization = (
        os.environ.get(name) for name in ("HULL_ID", "HULL_SECRET", "HULL_ORGANIZATION")
    )
    fake = None
    if hull_id and secret and organization:
        client = hc.HullClient(hull_id, secret, organization)
    else:
        fake = resources.enter_context(
            FakeHull(configuration["id"], configuration["secret"], configuration["organization"])
        )
        client = hc.HullClient(
            fake.id, fake.secret, fake.organization, api_url=fake.url, firehose_url=fake.url
        )
    resources.callback(client.close)
    return fake, client


def signed_webhook(path: Path, settings: hc.Settings) -> tuple[bytes, dict[str, str]]:
    """The body and headers Customer.io would send: signed over the raw bytes, right now."""
    body = path.read_bytes()
    timestamp = str(int(time.time()))
    signature = hc.sign_webhook(
        body, timestamp=timestamp, signing_key=settings.webhook_signing_key or ""
    )
    return body, {"X-CIO-Timestamp": timestamp, "X-CIO-Signature": signature}


def print_report(report: hc.SyncReport) -> None:
    for outcome in report.outcomes:
        who = outcome.customer_id or describe_user(outcome)
        if outcome.status == "success":
            print(f"  {VERBS.get(outcome.reason, outcome.action.value):8} {who}")
        else:
            why = outcome.error or outcome.message
            print(f"  {outcome.status:8} {who}: {outcome.reason} - {why}")
        for event in outcome.events_sent:
            print(f"           sent {event.name!r} as a {DESTINATIONS[event.kind]}")
        for name, reason in outcome.events_skipped:
            why = hc.EVENT_REASON_MESSAGES.get(reason, reason)
            print(f"           skipped {name!r}: {reason} - {why}")
    print(f"  => {report.succeeded} succeeded, {report.skipped} skipped, {report.failed} failed")


def describe_user(outcome: hc.UserOutcome) -> str:
    email = outcome.plan.hull_claims.get("email") if outcome.plan is not None else None
    return f"{email} (Hull user {outcome.user_id})" if email else f"Hull user {outcome.user_id}"


def print_webhook(name: str, outcome: hc.WebhookOutcome) -> None:
    answer = f"answer {outcome.http_status}"
    if outcome.forwarded and outcome.event is not None:
        print(f"  {name}: {outcome.event.event!r} for {outcome.event.claims} ({answer})")
    else:
        print(f"  {name}: not forwarded, {outcome.reason} - {outcome.message} ({answer})")


def print_customerio_state(fake: FakeCustomerIO) -> None:
    print("\n== What Customer.io (fake) holds ==")
    for customer_id, attributes in fake.people.items():
        print(f"  person {customer_id}: {compact(attributes)}")
    print(f"  deleted: {', '.join(fake.deletions) or 'nobody'}")
    for event in fake.events:
        print(f"  {event.type} for {event.customer_id}: {event.name!r} {compact(event.data)}")


def print_hull_state(fake: FakeHull) -> None:
    print("\n== What Hull (fake) received ==")
    for user in fake.users:
        written = {k: v for k, v in user.traits.items() if k.startswith("customerio/")}
        print(f"  user {user.claims}")
        if written:
            print(f"    traits: {compact(written)}")
        for track in user.tracks:
            print(f"    tracked {track.event!r} at {track.created_at} (event_id {track.event_id})")


def compact(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), default=str)


if __name__ == "__main__":
    main()
