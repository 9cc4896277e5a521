"""The engine with pytest-httpx: exact requests, logging, and the one-outcome-per-user rule."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpx import HTTPXMock

import hull_customerio as hc

DATA = Path(__file__).resolve().parent.parent / "data"
NO_RETRY = hc.RetryPolicy(max_attempts=1)
AUTH = "Basic " + base64.b64encode(b"site-123:key-456").decode()


@pytest.fixture
def notification() -> hc.Notification:
    return hc.parse_notification(json.loads((DATA / "notification-user-update.json").read_text()))


def test_v1_mode_sends_exactly_the_requests_of_the_sample_notification(
    httpx_mock: HTTPXMock, notification: hc.Notification
) -> None:
    base = "https://track.customer.io/api/v1/customers"
    httpx_mock.add_response(method="PUT", url=f"{base}/cust-001", match_headers={
        "Authorization": AUTH}, match_json={
        "email": "ada@example.com", "created_at": 1705312800,
        "hull_segments": ["Paying customers", "Trial"], "first_name": "Ada",
        "plan-name": "Pro", "account_clearbit-industry": "Software",
        "last_login_at": 1717193700})  # fmt: skip
    plan = hc.plan_user_update(notification.messages[0], notification.settings)
    signed_up, page = plan.events
    httpx_mock.add_response(method="POST", url=f"{base}/cust-001/events", match_json={
        "name": "Signed Up", "data": {"plan": "Pro", "coupon": None},
        "timestamp": 1717228798, "id": signed_up.id})  # fmt: skip
    httpx_mock.add_response(method="POST", url=f"{base}/cust-001/events", match_json={
        "type": "page", "name": "https://example.com/pricing",
        "data": {"url": "https://example.com/pricing", "title": "Pricing",
                 "referrer": "https://search.example.org/"},
        "timestamp": 1717228799, "id": page.id})  # fmt: skip
    httpx_mock.add_response(method="DELETE", url=f"{base}/cust-002")

    with hc.CustomerIOClient("site-123", "key-456", retry=NO_RETRY, rate_limit=None) as client:
        report = hc.Connector(notification.settings, customerio=client).sync_user_updates(
            notification.messages
        )

    assert [(o.status, o.reason) for o in report.outcomes] == [
        ("success", "new"),
        ("success", "left_segments"),
        ("skipped", "no_customer_id"),
    ]
    # Without a Hull client nothing is written back, and no write-back call is claimed.
    assert report.outcomes[0].calls == ["identify", "event", "page"]


def test_batch_mode_sends_identify_and_delete_first_then_the_events_in_a_later_request(
    httpx_mock: HTTPXMock, notification: hc.Notification
) -> None:
    httpx_mock.add_response(
        method="POST", url="https://track.customer.io/api/v2/batch", json={}, is_reusable=True
    )

    with hc.CustomerIOClient("site-123", "key-456", retry=NO_RETRY, rate_limit=None) as client:
        connector = hc.Connector(notification.settings, customerio=client, mode="batch")
        report = connector.sync_user_updates(notification.messages)

    first, second = (json.loads(r.content)["batch"] for r in httpx_mock.get_requests())
    assert [(op["action"], op["identifiers"], op.get("name")) for op in first] == [
        ("identify", {"id": "cust-001"}, None),
        ("delete", {"id": "cust-002"}, None),
    ]
    assert [(op["action"], op["identifiers"], op.get("name")) for op in second] == [
        ("event", {"id": "cust-001"}, "Signed Up"),
        ("page", {"id": "cust-001"}, "https://example.com/pricing"),
    ]
    assert report.succeeded == 2
    assert report.outcomes[0].calls == ["identify", "event", "page"]


def test_a_207_error_is_mapped_back_to_the_user_it_belongs_to(
    httpx_mock: HTTPXMock, notification: hc.Notification
) -> None:
    # Operation 1 of the first round is Grace's deletion (see the previous test for the order).
    httpx_mock.add_response(
        status_code=207,
        json={"errors": [{"batch_index": 1, "reason": "invalid", "field": "identifiers",
                          "message": "no such person"}]},
    )  # fmt: skip
    httpx_mock.add_response(json={})
    with hc.CustomerIOClient("site-123", "key-456", retry=NO_RETRY, rate_limit=None) as client:
        connector = hc.Connector(notification.settings, customerio=client, mode="batch")
        report = connector.sync_user_updates(notification.messages)

    statuses = [(o.status, o.reason) for o in report.outcomes]
    assert statuses == [
        ("success", "new"),
        ("error", "delete_failed"),
        ("skipped", "no_customer_id"),
    ]
    assert "no such person" in (report.outcomes[1].error or "")


def test_logs_name_every_outcome_and_never_a_secret(
    httpx_mock: HTTPXMock, notification: hc.Notification, caplog: pytest.LogCaptureFixture
) -> None:
    httpx_mock.add_response(is_reusable=True)
    caplog.set_level(logging.DEBUG, logger="hull_customerio")

    with hc.CustomerIOClient("site-123", "key-456", retry=NO_RETRY, rate_limit=None) as client:
        hc.Connector(notification.settings, customerio=client).sync_user_updates(
            notification.messages
        )

    events = [r.hull_event for r in caplog.records if r.name == "hull_customerio"]  # type: ignore[attr-defined]
    assert events == [
        "outgoing.user.success",
        "outgoing.event.success",
        "outgoing.event.success",
        "outgoing.event.skip",
        "outgoing.user.deletion",
        "outgoing.user.skip",
    ]
    first = next(r for r in caplog.records if r.getMessage().startswith("outgoing.user.success"))
    assert first.getMessage() == (
        "outgoing.user.success user=5c8a1f2e3b4d5e6f7a8b9c01 customer_id=cust-001 reason=new"
    )
    assert (first.user_id, first.customer_id, first.reason) == (  # type: ignore[attr-defined]
        "5c8a1f2e3b4d5e6f7a8b9c01",
        "cust-001",
        "new",
    )
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        assert "key-456" not in text
        assert "ada@example.com" not in text  # attribute values are personal data


def test_a_failure_of_one_user_does_not_stop_the_others(
    httpx_mock: HTTPXMock, notification: hc.Notification
) -> None:
    base = "https://track.customer.io/api/v1/customers"
    httpx_mock.add_response(method="PUT", url=f"{base}/cust-001", status_code=400,
                            json={"meta": {"errors": ["attribute rejected"]}})  # fmt: skip
    httpx_mock.add_response(method="DELETE", url=f"{base}/cust-002")

    with hc.CustomerIOClient("site-123", "key-456", retry=NO_RETRY, rate_limit=None) as client:
        report = hc.Connector(notification.settings, customerio=client).sync_user_updates(
            notification.messages
        )

    ada, grace, _ = report.outcomes
    assert (ada.status, ada.reason) == ("error", "identify_failed")
    assert isinstance(ada.exception, hc.BadRequestError)
    assert "attribute rejected" in (ada.error or "")
    assert ada.events_sent == []
    assert (grace.status, grace.reason) == ("success", "left_segments")
    assert hc.flow_control_next() == {"flow_control": {"type": "next"}}


def test_an_unknown_mode_is_a_configuration_error() -> None:
    with (
        hc.CustomerIOClient("s", "k") as client,
        pytest.raises(hc.ConfigurationError, match="mode must be 'v1' or 'batch'"),
    ):
        hc.Connector(hc.Settings(), customerio=client, mode="v2")


def test_async_max_concurrency_must_be_positive() -> None:
    client = hc.AsyncCustomerIOClient("s", "k")
    with pytest.raises(hc.ConfigurationError, match="max_concurrency"):
        hc.AsyncConnector(hc.Settings(), customerio=client, max_concurrency=0)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
_message = st.fixed_dictionaries(
    {"user": st.fixed_dictionaries(
        {"id": st.sampled_from(["u1", "u2", "u3"])},
        optional={"email": st.sampled_from(["a@x.io", "", None, 3]),
                  "external_id": st.sampled_from(["e1", "e2", None]),
                  "indexed_at": st.sampled_from(["2024-01-01T00:00:00Z", "bad", None])})},
    optional={"segments": st.lists(st.fixed_dictionaries({"id": st.sampled_from(["s", "t"]),
                                                         "name": st.just("S")}), max_size=2),
              "events": st.lists(st.fixed_dictionaries(
                  {"event": st.sampled_from(["E", "page"]), "event_id": st.text(max_size=3)},
                  optional={"properties": _json}), max_size=2)},
)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(_message | _json, max_size=6), fail_every=st.integers(2, 4))
def test_every_user_ends_in_exactly_one_outcome(messages: list[Any], fail_every: int) -> None:
    calls = {"n": 0}

    def answer(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(500 if calls["n"] % fail_every == 0 else 200, json={})

    settings_ = hc.Settings(synchronized_segments=["s"], events_filter=["E", "page"],
                            enable_user_deletion=True)  # fmt: skip
    http = httpx.Client(transport=httpx.MockTransport(answer))
    with hc.CustomerIOClient("s", "k", retry=NO_RETRY, rate_limit=None, http_client=http) as c:
        report = hc.Connector(settings_, customerio=c).sync_user_updates(messages)
    http.close()

    well_formed_users = set()
    malformed = 0
    for raw in messages:
        try:
            well_formed_users.add(hc.UserUpdateMessage.from_dict(raw).user.id)
        except hc.ValidationError:
            malformed += 1
    assert len(report.outcomes) == len(well_formed_users) + malformed
    assert report.succeeded + report.skipped + report.failed == len(report.outcomes)
    assert {o.user_id for o in report.outcomes if o.reason != "malformed_message"} == (
        well_formed_users
    )
