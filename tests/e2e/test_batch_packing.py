"""Batch mode packs each round into as few v2 requests as Customer.io's limit allows (SPEC §6.4,
issue 23): a request is only cut when the next operation would bring its body to 500 kB, and a
user's events never share a request with that user's identify."""

from __future__ import annotations

import json
from typing import Any

import pytest
from e2e_support import Harness

import hull_customerio as hc
from hull_customerio.testing import FakeCustomerIO, FakeHull

LIMIT = 500_000  # a v2 batch body must be smaller than this
USERS = 520  # about 1 kB of identify each: the first round needs two requests
SETTINGS = hc.Settings(
    synchronized_segments=["seg_paying"],
    synchronized_attributes=["bio"],
    events_filter=["Signed Up"],
    site_id="",
    api_key="",
)


def _messages() -> list[dict[str, Any]]:
    return [
        {
            "user": {
                "id": f"5c8a1f2e3b4d5e6f7a8b{number:04d}",
                "external_id": f"user-{number}",
                "email": f"user{number}@example.com",
                "bio": "b" * 900,  # under Customer.io's 1000-byte value limit
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


def _operations(body: bytes) -> list[dict[str, Any]]:
    batch: list[dict[str, Any]] = json.loads(body)["batch"]
    return batch


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_each_round_takes_as_few_requests_as_the_500_kb_limit_allows(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    report = Harness(flavour, "batch", customerio, hull).sync(_messages(), SETTINGS)

    assert {o.status for o in report.outcomes} == {"success"}
    bodies = [r.body for r in customerio.requests if r.path == "/api/v2/batch"]
    # The async client sends a round's requests concurrently: put them in packing order.
    bodies[:2] = sorted(bodies[:2], key=lambda body: _operations(body)[0]["identifiers"]["id"])
    actions = [{op["action"] for op in _operations(body)} for body in bodies]
    # Round 1: every identify (over 500 kB: two requests); round 2: every event (one request).
    assert actions == [{"identify"}, {"identify"}, {"event"}]
    assert all(len(body) < LIMIT for body in bodies)
    # The first request was cut only because the next operation did not fit.
    first_of_second = json.dumps(_operations(bodies[1])[0], separators=(",", ":")).encode()
    assert len(bodies[0]) + len(b",") + len(first_of_second) >= LIMIT
    assert sum(len(_operations(body)) for body in bodies) == 2 * USERS
