"""Batch mode queues a user's write-back as soon as the person is accepted: the Hull posts go
out while the events round is still with Customer.io, and nothing changes in what Hull
receives or in the outcomes (issue 16)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from e2e_support import async_customerio_client, async_hull_client, customerio_client, hull_client

import hull_customerio as hc
from hull_customerio.testing import FakeCustomerIO, FakeHull

USERS = 30
EVENTS_LATENCY = 0.6  # seconds Customer.io takes to answer every request
SETTINGS = hc.Settings(
    synchronized_segments=["seg_paying"], events_filter=["Signed Up"], site_id="", api_key=""
)


def _messages() -> list[dict[str, Any]]:
    return [
        {
            "user": {
                "id": f"5c8a1f2e3b4d5e6f7a8b9{number:03d}",
                "external_id": f"user-{number}",
                "email": f"user{number}@example.com",
            },
            "segments": [{"id": "seg_paying", "name": "Paying customers"}],
            "events": [
                {
                    "event": "Signed Up",
                    "event_id": f"evt-{number}",
                    "created_at": "2024-06-01T08:00:00Z",
                    "properties": {"plan": "pro"},
                }
            ],
        }
        for number in range(USERS)
    ]


def _sync(flavour: str, customerio: FakeCustomerIO, hull: FakeHull) -> hc.SyncReport:
    if flavour == "sync":
        with customerio_client(customerio, timeout=5.0) as cio:
            writer = hull_client(hull, flush_at=5)
            try:
                connector = hc.Connector(SETTINGS, customerio=cio, hull=writer, mode="batch")
                return connector.sync_user_updates(_messages())
            finally:
                writer.close()

    async def run() -> hc.SyncReport:
        async with async_customerio_client(customerio, timeout=5.0) as cio:
            writer = async_hull_client(hull, flush_at=5)
            try:
                connector = hc.AsyncConnector(SETTINGS, customerio=cio, hull=writer, mode="batch")
                return await connector.sync_user_updates(_messages())
            finally:
                await writer.close()

    return asyncio.run(run())


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_write_backs_reach_hull_while_the_events_are_with_customerio(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    customerio.latency = EVENTS_LATENCY

    report = _sync(flavour, customerio, hull)

    batches = [r for r in customerio.requests if r.path == "/api/v2/batch"]
    assert len(batches) == 2  # the identify round, then the events round
    events_sent_at = batches[1].received_at
    posts = [r for r in hull.requests if r.method == "POST"]
    # Every user's write-back was posted before Customer.io answered the events round.
    assert posts
    assert max(r.received_at for r in posts) < events_sent_at + EVENTS_LATENCY
    assert [o.status for o in report.outcomes] == ["success"] * USERS
    assert all(o.calls == ["identify", "event", "hull_traits"] for o in report.outcomes)
    written = sorted(traits.get("customerio/id") for traits in hull.traits.values())
    assert written == sorted(f"user-{number}" for number in range(USERS))
