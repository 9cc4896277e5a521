"""End to end, Hull → Customer.io: the engine against the loopback fakes (SPEC §2, §3, §7).

Every test runs four ways: sync and async, v1 and batch mode; the outcomes must not differ.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from e2e_support import Harness

import hull_customerio as hc
from hull_customerio.testing import FakeCustomerIO, FakeHull

ADA, GRACE, LINUS = (
    "5c8a1f2e3b4d5e6f7a8b9c01",
    "5c8a1f2e3b4d5e6f7a8b9c02",
    "5c8a1f2e3b4d5e6f7a8b9c03",
)

ADA_ATTRIBUTES = {
    "email": "ada@example.com",
    "created_at": 1705312800,  # 2024-01-15T10:00:00Z
    "hull_segments": ["Paying customers", "Trial"],
    "first_name": "Ada",
    "plan-name": "Pro",
    "account_clearbit-industry": "Software",
    "last_login_at": 1717193700,  # 2024-05-31T22:15:00Z
}


def messages_and_settings(payload: dict[str, Any]) -> tuple[list[Any], hc.Settings]:
    notification = hc.parse_notification(payload)
    return list(notification.messages), notification.settings


def test_sample_notification_ends_in_exactly_the_state_the_spec_requires(
    harness: Harness,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    notification_payload: dict[str, Any],
) -> None:
    customerio.add_person("cust-002", {"email": "grace@example.com"})
    messages, settings = messages_and_settings(notification_payload)

    report = harness.sync(messages, settings)

    # Customer.io: Ada created with exactly the §2.3 attributes, Grace deleted (rule 3).
    assert customerio.people == {"cust-001": ADA_ATTRIBUTES}
    assert customerio.deletions == ["cust-002"]
    events = [(e.customer_id, e.type, e.name, e.data, e.timestamp) for e in customerio.events]
    assert events == [
        ("cust-001", "event", "Signed Up", {"plan": "Pro", "coupon": None}, 1717228798),
        (
            "cust-001",
            "page",
            "https://example.com/pricing",
            {
                "url": "https://example.com/pricing",
                "title": "Pricing",
                "referrer": "https://search.example.org/",
            },
            1717228799,
        ),
    ]
    assert all(e.id is not None and len(e.id) == 26 for e in customerio.events)
    assert customerio.duplicate_events == []

    # Hull: the sync state written back (§2.7), addressed by external_id.
    ada_plan = report.for_user(ADA).plan
    assert ada_plan is not None
    ada_traits = hull.traits_for(external_id="cust-001")
    assert ada_traits["customerio/id"] == "cust-001"
    assert ada_traits["customerio/created_at"] == 1705312800
    assert ada_traits["customerio/hash"] == ada_plan.hash
    assert ada_traits["customerio/synced_at"].endswith("Z")
    assert ada_traits["customerio/deleted_at"] is None
    grace_traits = hull.traits_for(external_id="cust-002")
    assert grace_traits["customerio/deleted_at"].endswith("Z")
    for name in ("id", "hash", "synced_at", "created_at"):
        assert grace_traits[f"customerio/{name}"] is None
    assert hull.user(email="linus@example.com") is None

    # The report: one honest outcome per user.
    summary = [(o.user_id, o.status, o.reason, o.action) for o in report.outcomes]
    assert summary == [
        (ADA, "success", "new", hc.Action.IDENTIFY),
        (GRACE, "success", "left_segments", hc.Action.DELETE),
        (LINUS, "skipped", "no_customer_id", hc.Action.SKIP),
    ]
    ada = report.for_user(ADA)
    assert [e.name for e in ada.events_sent] == ["Signed Up", "https://example.com/pricing"]
    assert ada.events_skipped == [("Clicked Banner", "not_whitelisted")]
    assert (report.succeeded, report.skipped, report.failed) == (2, 1, 0)


def test_the_notification_is_answered_next_when_every_user_succeeded(
    harness: Harness, customerio: FakeCustomerIO, notification_payload: dict[str, Any]
) -> None:
    customerio.add_person("cust-002", {"email": "grace@example.com"})
    assert harness.notification(notification_payload) == {"flow_control": {"type": "next"}}
    assert set(customerio.people) == {"cust-001"}


def test_a_user_synced_before_with_the_same_attributes_is_not_sent_again(
    harness: Harness,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    notification_payload: dict[str, Any],
) -> None:
    messages, settings = messages_and_settings(notification_payload)
    harness.sync(messages[:1], settings)
    requests_after_first_sync = len(customerio.requests)

    # Hull's next notification carries the written-back state and no new events.
    raw = copy.deepcopy(notification_payload["messages"][0])
    raw["events"] = []
    for name, value in hull.traits_for(external_id="cust-001").items():
        raw["user"][f"traits_{name}"] = value
    report = harness.sync([raw], settings)

    outcome = report.for_user(ADA)
    assert (outcome.status, outcome.reason) == ("skipped", "no_changes")
    assert len(customerio.requests) == requests_after_first_sync


def test_a_429_storm_ends_with_every_user_synced_once(
    harness: Harness,
    customerio: FakeCustomerIO,
    notification_payload: dict[str, Any],
) -> None:
    customerio.add_person("cust-002", {"email": "grace@example.com"})
    customerio.fail_next(429, count=3, retry_after=0.01)
    messages, settings = messages_and_settings(notification_payload)

    report = harness.sync(messages, settings)

    assert (report.succeeded, report.skipped, report.failed) == (2, 1, 0)
    assert customerio.people == {"cust-001": ADA_ATTRIBUTES}
    assert len(customerio.events) == 2
    assert customerio.duplicate_events == []
    assert customerio.pending_faults == 0
    assert sum(1 for r in customerio.requests if r.status == 429) == 3


def test_server_errors_then_recovery_lose_and_duplicate_nothing(
    harness: Harness,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    notification_payload: dict[str, Any],
) -> None:
    customerio.fail_next(500, count=2)
    hull.fail_next(503, count=1)
    messages, settings = messages_and_settings(notification_payload)

    report = harness.sync(messages[:1], settings)

    assert report.for_user(ADA).status == "success"
    assert customerio.people == {"cust-001": ADA_ATTRIBUTES}
    assert len(customerio.events) == 2
    assert hull.traits_for(external_id="cust-001")["customerio/id"] == "cust-001"


def test_a_timeout_is_retried_and_the_user_still_succeeds(
    harness: Harness,
    customerio: FakeCustomerIO,
    notification_payload: dict[str, Any],
) -> None:
    customerio.hang_seconds = 0.5
    harness.customerio_options = {"timeout": 0.2}
    customerio.fail_next("timeout")
    messages, settings = messages_and_settings(notification_payload)

    report = harness.sync(messages[:1], settings)

    assert report.for_user(ADA).status == "success"
    assert customerio.people == {"cust-001": ADA_ATTRIBUTES}
    assert customerio.duplicate_events == []


def test_exhausted_retries_become_an_error_outcome_and_a_retry_answer(
    harness: Harness,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    notification_payload: dict[str, Any],
) -> None:
    customerio.fail_next(503, count=1000)
    messages, settings = messages_and_settings(notification_payload)

    report = harness.sync(messages, settings)

    ada = report.for_user(ADA)
    assert (ada.status, ada.reason) == ("error", "identify_failed")
    assert isinstance(ada.exception, hc.ServerError)
    assert ada.error is not None
    assert "503" in ada.error
    # Both modes hold a user's events back once its identify failed.
    assert ada.events_skipped == [
        ("Clicked Banner", "not_whitelisted"),
        ("Signed Up", "identify_failed"),
        ("https://example.com/pricing", "identify_failed"),
    ]
    assert ada.events_sent == []
    assert report.for_user(LINUS).status == "skipped"
    assert customerio.people == {}
    assert hull.user(external_id="cust-001") is None  # nothing written back for a failure

    customerio.clear_faults()
    customerio.fail_next(503, count=1000)
    assert harness.notification(notification_payload) == {
        "flow_control": {"type": "retry", "size": 10, "in": 1000}
    }


def _user_message(number: int, **attributes: Any) -> dict[str, Any]:
    return {
        "message_id": f"m-{number}",
        "user": {
            "id": f"5c8a1f2e3b4d5e6f7a8b9{number:03d}",
            "external_id": f"user-{number}",
            "email": f"user{number}@example.com",
            **attributes,
        },
        "segments": [{"id": "seg_paying", "name": "Paying customers"}],
        "events": [
            {
                "event": "Signed Up",
                "event_id": f"evt-{number}",
                "created_at": "2024-06-01T08:00:00Z",
                "properties": {"n": number},
            }
        ],
    }


def test_one_user_customerio_rejects_fails_alone(
    harness: Harness, customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    # Our own limit is raised above Customer.io's, so Customer.io is the one to refuse.
    settings = hc.Settings(
        synchronized_segments=["seg_paying"],
        synchronized_attributes=["bio"],
        events_filter=["Signed Up"],
        max_attribute_value_length=5000,
    )
    messages = [
        _user_message(1, bio="short"),
        _user_message(2, bio="x" * 2000),
        _user_message(3, bio="short too"),
    ]

    report = harness.sync(messages, settings)

    statuses = [(o.user_id, o.status, o.reason) for o in report.outcomes]
    assert statuses == [
        ("5c8a1f2e3b4d5e6f7a8b9001", "success", "new"),
        ("5c8a1f2e3b4d5e6f7a8b9002", "error", "identify_failed"),
        ("5c8a1f2e3b4d5e6f7a8b9003", "success", "new"),
    ]
    assert set(customerio.people) == {"user-1", "user-3"}
    failed = report.for_user("5c8a1f2e3b4d5e6f7a8b9002")
    assert failed.error is not None
    assert "bio" in failed.error
    assert hull.user(external_id="user-2") is None
    assert hull.traits_for(external_id="user-3")["customerio/id"] == "user-3"
    # In both modes the user's events were held back.
    assert failed.events_skipped == [("Signed Up", "identify_failed")]
    # Users run concurrently in the async engine: only each user's own order is promised.
    assert sorted(e.customer_id or "" for e in customerio.events) == ["user-1", "user-3"]
    if harness.mode == "v1":
        # A 400 is final: tried once.
        bad_puts = [r for r in customerio.requests if r.path.endswith("/user-2")]
        assert len(bad_puts) == 1


def test_a_failed_hull_write_back_is_reported_on_the_user_whose_customerio_side_succeeded(
    harness: Harness,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    notification_payload: dict[str, Any],
) -> None:
    hull.fail_next(500, count=1000)
    messages, settings = messages_and_settings(notification_payload)

    report = harness.sync(messages[:1], settings)

    ada = report.for_user(ADA)
    assert (ada.status, ada.reason) == ("error", "writeback_failed")
    assert isinstance(ada.exception, hc.DeliveryError)
    assert customerio.people == {"cust-001": ADA_ATTRIBUTES}
    assert [e.name for e in ada.events_sent] == ["Signed Up", "https://example.com/pricing"]


def test_a_malformed_message_is_an_error_outcome_and_the_others_proceed(
    harness: Harness, customerio: FakeCustomerIO, notification_payload: dict[str, Any]
) -> None:
    payload = copy.deepcopy(notification_payload)
    payload["messages"][1]["user"]["email"] = 42
    answer = harness.notification(payload)

    assert answer == {"flow_control": {"type": "next"}}
    assert set(customerio.people) == {"cust-001"}
    assert customerio.deletions == []


def test_sync_notification_reports_each_malformed_message_with_its_user(
    harness: Harness, customerio: FakeCustomerIO, notification_payload: dict[str, Any]
) -> None:
    payload = copy.deepcopy(notification_payload)
    payload["messages"][2]["user"]["email"] = ["not", "an", "email"]

    report = harness.sync_notification(payload)

    assert [(o.user_id, o.status, o.reason) for o in report.outcomes] == [
        (ADA, "success", "new"),
        (GRACE, "success", "left_segments"),
        (LINUS, "error", "malformed_message"),
    ]
    assert "$.user.email" in (report.for_user(LINUS).error or "")


@pytest.mark.parametrize("mode", ["v1"])
def test_async_users_run_concurrently_but_each_users_calls_stay_in_order(
    flavour: str, mode: str, customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    settings = hc.Settings(
        synchronized_segments=["seg_paying"],
        synchronized_attributes=[f"a{i}" for i in range(40)],
        events_filter=["Signed Up"],
        max_attributes_per_call=10,
    )
    customerio.latency = 0.01
    messages = [_user_message(n, **{f"a{i}": i for i in range(40)}) for n in range(1, 9)]

    report = Harness(flavour, mode, customerio, hull).sync(messages, settings)

    assert report.succeeded == 8
    for n in range(1, 9):
        path = f"/api/v1/customers/user-{n}"
        calls = [r.method for r in customerio.requests if r.path.startswith(path)]
        # 43 attributes in chunks of 10: five identify calls, then the event.
        assert calls == ["PUT"] * 5 + ["POST"]
        assert customerio.people[f"user-{n}"]["a39"] == 39
