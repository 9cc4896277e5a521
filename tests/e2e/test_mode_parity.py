"""v1 and batch mode reach the same outcomes (SPEC §3.2, §3.4, §6.4, issue 15).

One scenario table runs in both modes (sync and async) against fresh loopback fakes: an
accepted user with events, an identify Customer.io rejects (a 400 in v1, a 207 entry in
batch), events Customer.io rejects, an event larger than one v2 operation, a chunked user,
a deletion, anonymous users and a skipped user. The outcomes, what Customer.io holds and what
Hull receives must be the same, call for call.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from e2e_support import Harness

import hull_customerio as hc
from hull_customerio.testing import FakeCustomerIO, FakeHull

SEGMENT = {"id": "seg_paying", "name": "Paying customers"}
BIG_BUT_ACCEPTED = "b" * 40_000  # over a v2 operation's 32 kB, under the 100 kB event limit
TOO_BIG_FOR_CUSTOMERIO = "x" * 120_000  # over Customer.io's 100 kB event data limit
LONG_NAME = "N" * 150  # over Customer.io's 100-byte event name limit


def _event(name: str, number: int, **properties: Any) -> dict[str, Any]:
    return {
        "event": name,
        "event_id": f"evt-{name[:10]}-{number}",
        "created_at": "2024-06-01T08:00:00Z",
        "properties": properties,
    }


def _message(number: int, *, events: list[dict[str, Any]] = (), segments: Any = (SEGMENT,),
             **user: Any) -> dict[str, Any]:  # fmt: skip
    data = {
        "id": f"5c8a1f2e3b4d5e6f7a8b9{number:03d}",
        "external_id": f"user-{number}",
        "email": f"user{number}@example.com",
    }
    data.update(user)
    for key in [k for k, v in data.items() if v is None]:
        del data[key]
    return {"user": data, "segments": list(segments), "events": list(events)}


SCENARIOS = [
    # accepted: identify, then two events
    _message(1, events=[_event("Signed Up", 1, plan="pro"), _event("Upgraded", 1)]),
    # identify rejected by Customer.io (a value over its 1000-byte limit): events held back
    _message(2, bio="y" * 2000, events=[_event("Signed Up", 2)]),
    # events rejected by Customer.io (name too long; data too large), the person goes on
    _message(
        3,
        events=[
            _event(LONG_NAME, 3),
            _event("Signed Up", 3),
            _event("Huge", 3, blob=TOO_BIG_FOR_CUSTOMERIO),
        ],
    ),
    # an event over 32 kB that Customer.io accepts (v1 endpoint in batch mode)
    _message(4, events=[_event("Big", 4, blob=BIG_BUT_ACCEPTED)]),
    # many attributes: several identify calls, in order
    _message(5, **{f"attr_{i}": i for i in range(12)}, events=[_event("Signed Up", 5)]),
    # anonymous: no email, an anonymous id
    _message(6, email=None, anonymous_ids=["anon-6"], events=[_event("Signed Up", 6)]),
    # anonymous: no customer id, the event's own anonymous id
    _message(7, external_id=None, events=[{**_event("Signed Up", 7), "anonymous_id": "anon-7"}]),
    # anonymous without any anonymous id: its events cannot be sent
    _message(8, email=None, events=[_event("Signed Up", 8)]),
    # left the segments while synced: deleted
    _message(9, segments=(), **{"customerio/created_at": 1700000000, "customerio/id": "user-9"}),
    # outside the segments, never synced: skipped
    _message(10, segments=(), events=[_event("Signed Up", 10)]),
]

SETTINGS = hc.Settings(
    synchronized_segments=["seg_paying"],
    synchronized_attributes=["bio", *(f"attr_{i}" for i in range(12))],
    events_filter=["Signed Up", "Upgraded", "Big", "Huge", LONG_NAME],
    anonymous_events=True,
    enable_user_deletion=True,
    max_attributes_per_call=5,
    # Our own limits raised above Customer.io's, so Customer.io is the one to refuse.
    max_attribute_value_length=5000,
    max_event_name_length=1000,
    max_event_data_size=1_000_000,
)


def _outcomes(report: hc.SyncReport) -> list[tuple[Any, ...]]:
    return [
        (o.user_id, o.status, o.reason, o.action, tuple(o.calls),
         tuple((e.kind, e.name, e.id, e.anonymous_id) for e in o.events_sent),
         tuple(o.events_skipped), o.error is not None)
        for o in report.outcomes
    ]  # fmt: skip


def _run(flavour: str, mode: str) -> tuple[Any, ...]:
    with (
        FakeCustomerIO(site_id="site-123", api_key="key-456") as customerio,
        FakeHull(
            id="5c8a1f2e3b4d5e6f7a8b9c0d",
            secret="s3cret-for-tests",
            organization="acme42.hullapp.io",
        ) as hull,
    ):
        report = Harness(flavour, mode, customerio, hull).sync(SCENARIOS, SETTINGS)
        stored_events = sorted(
            (e.type, e.name, e.customer_id or "", e.anonymous_id or "", e.id or "")
            for e in customerio.events
        )
        written_back = {
            f"user-{n}": hull.user(external_id=f"user-{n}") is not None for n in range(1, 11)
        }
        anonymous_requests = sorted(
            r.path for r in customerio.requests if r.path == "/api/v1/events"
        )
        rounds = [
            sorted({op["action"] for op in json.loads(r.body)["batch"]})
            for r in customerio.requests
            if r.path == "/api/v2/batch"
        ]
        return (
            rounds,
            _outcomes(report),
            customerio.people,
            stored_events,
            list(customerio.deletions),
            written_back,
            anonymous_requests,
        )


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_v1_and_batch_modes_give_the_same_outcomes(flavour: str) -> None:
    v1 = _run(flavour, "v1")
    batch = _run(flavour, "batch")

    assert v1[0] == []  # no v2 request in v1 mode
    assert batch[0] != []
    assert batch[1] == v1[1]  # outcomes, call for call
    assert batch[2:] == v1[2:]  # Customer.io's and Hull's state


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("mode", ["v1", "batch"])
def test_the_scenario_table_outcomes(flavour: str, mode: str) -> None:
    rounds, outcomes, people, events, deletions, written_back, anonymous = _run(flavour, mode)
    by_user = {row[0][-3:]: row for row in outcomes}

    assert by_user["001"][1:3] == ("success", "new")
    assert [name for _, name, _, _ in by_user["001"][5]] == ["Signed Up", "Upgraded"]
    assert by_user["002"][1:3] == ("error", "identify_failed")
    assert by_user["002"][6] == (("Signed Up", "identify_failed"),)
    assert by_user["003"][1:3] == ("error", "event_failed")
    assert [name for _, name, _, _ in by_user["003"][5]] == ["Signed Up"]
    assert by_user["003"][6] == ((LONG_NAME, "send_failed"), ("Huge", "send_failed"))
    assert by_user["004"][1:3] == ("success", "new")
    assert by_user["005"][4] == ("identify", "identify", "identify", "event", "hull_traits")
    assert by_user["006"][1:3] == ("skipped", "no_email")
    assert by_user["006"][5] == (("anonymous", "Signed Up", by_user["006"][5][0][2], "anon-6"),)
    assert by_user["007"][1:3] == ("skipped", "no_customer_id")
    assert by_user["007"][5][0][3] == "anon-7"
    assert by_user["008"][6] == (("Signed Up", "no_identifier"),)
    assert by_user["009"][1:3] == ("success", "left_segments")
    assert by_user["010"][1:3] == ("skipped", "not_in_segments")

    assert set(people) == {"user-1", "user-3", "user-4", "user-5"}
    assert deletions == ["user-9"]
    # Anonymous events go through the documented v1 endpoint in both modes.
    assert anonymous == ["/api/v1/events", "/api/v1/events"]
    assert {e[3] for e in events if e[3]} == {"anon-6", "anon-7"}
    assert ("event", "Big", "user-4") in {e[:3] for e in events}
    if mode == "batch":
        # Round 1: first identify chunks and the deletion. A user's events follow in a later
        # request than its accepted operations: round 2 holds the events of the one-chunk
        # users and user 5's second chunk; user 5's events come after its third chunk.
        assert rounds == [["delete", "identify"], ["event", "identify"], ["identify"], ["event"]]
    # Hull hears of every user whose Customer.io side went through, events failing or not.
    assert written_back["user-2"] is False
    assert [written_back[f"user-{n}"] for n in (1, 3, 4, 5)] == [True] * 4
