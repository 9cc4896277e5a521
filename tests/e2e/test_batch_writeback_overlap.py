"""Batch mode's Hull write-back: firehose batches go out while later ones are being built.

The async connector queues the write-backs of a batch-mode sync one user after another and
gives the event loop a turn after every ``flush_at`` of them, so a full firehose batch is
posted while the next users' traits are still being queued, instead of every post waiting
until the last user is queued. Nothing else changes: every user's traits reach Hull.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from e2e_support import async_customerio_client, async_hull_client

import hull_customerio as hc
from hull_customerio.testing import FakeCustomerIO, FakeHull

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from sync_export import DEMO_SETTINGS, synthetic_message


def test_firehose_posts_start_before_the_last_write_back_is_queued(
    customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    users = 230
    settings = hc.Settings.from_private_settings(DEMO_SETTINGS)
    messages = [synthetic_message(n) for n in range(users)]
    queued_when_posting: list[int] = []

    async def run() -> hc.SyncReport:
        hull_client = async_hull_client(hull, flush_at=50)
        queued = 0
        enqueue, post = hull_client._enqueue, hull_client._post

        async def counting_enqueue(message: Any, ticket: Any) -> str:
            nonlocal queued
            queued += 1
            return await enqueue(message, ticket)

        async def noting_post(batch: Any) -> None:
            queued_when_posting.append(queued)
            await post(batch)

        hull_client._enqueue = counting_enqueue  # type: ignore[method-assign]
        hull_client._post = noting_post  # type: ignore[method-assign]
        async with async_customerio_client(customerio) as client:
            connector = hc.AsyncConnector(settings, customerio=client, hull=hull_client,
                                          mode="batch")  # fmt: skip
            try:
                return await connector.sync_user_updates(messages, batch=True)
            finally:
                await hull_client.close()

    report = asyncio.run(run())

    assert [o.status for o in report.outcomes] == ["success"] * users
    # The first post started when its own 50 messages were queued, not after all 230.
    assert queued_when_posting[0] < users
    assert queued_when_posting[0] <= 100
    assert len(queued_when_posting) >= users // 50
    assert len(hull.users) == users  # every user's traits reached Hull
    assert all("customerio/hash" in traits for traits in hull.traits.values())
