"""SPEC §11 in the engine: accounts as Customer.io objects, exact requests (pytest-httpx).

The planner is a stand-in (see `accounts_support`); the plans under test are built here.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from typing import Any

import httpx
import pytest
from accounts_support import (
    AccountHull,
    Planner,
    account_message,
    delete_plan,
    error_plan,
    identify_plan,
    skip_plan,
)
from pytest_httpx import HTTPXMock

import hull_customerio as hc
from hull_customerio.engine import _accounts, _core
from hull_customerio.metrics import OUTGOING_ACCOUNTS, InMemoryMetrics
from hull_customerio.models.plan import Action, UserPlan

NO_RETRY = hc.RetryPolicy(max_attempts=1)
AUTH = "Basic " + base64.b64encode(b"site-123:key-456").decode()
ENTITY = "https://track.customer.io/api/v2/entity"
BATCH = "https://track.customer.io/api/v2/batch"
CUSTOMERS = "https://track.customer.io/api/v1/customers"
FIREHOSE = "https://firehose.test"
SETTINGS = hc.Settings(site_id="site-123", api_key="key-456", synchronized_segments=["seg_1"])


@pytest.fixture
def planner(monkeypatch: pytest.MonkeyPatch) -> Planner:
    return Planner(monkeypatch)


def cio() -> hc.CustomerIOClient:
    return hc.CustomerIOClient("site-123", "key-456", retry=NO_RETRY, rate_limit=None)


def hull() -> AccountHull:
    return AccountHull("hull-id", "hull-secret", "org.hullapp.io", firehose_url=FIREHOSE,
                       retry=NO_RETRY)  # fmt: skip


def object_op(object_id: str, action: str = "identify", **attributes: Any) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "type": "object",
        "identifiers": {"object_type_id": "1", "object_id": object_id},
        "action": action,
    }
    if action == "identify":
        operation["attributes"] = attributes
    return operation


def firehose_bodies(httpx_mock: HTTPXMock) -> list[dict[str, Any]]:
    return [
        message["body"]
        for request in httpx_mock.get_requests(url=re.compile(re.escape(FIREHOSE) + ".*"))
        for message in json.loads(request.content)["batch"]
    ]


def accept_firehose(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=re.compile(re.escape(FIREHOSE) + ".*"), is_reusable=True,
                            is_optional=True)  # fmt: skip


def summary(report: hc.SyncReport) -> list[tuple[Any, ...]]:
    return [
        (o.account_id, o.object_id, o.action, o.status, o.reason, o.calls, o.error)
        for o in report.account_outcomes
    ]


# ---------------------------------------------------------------------------------- v1 mode


def test_v1_mode_posts_each_object_to_the_entity_endpoint_then_writes_back_the_account(
    httpx_mock: HTTPXMock, planner: Planner
) -> None:
    planner.plans["a1"] = identify_plan("a1", "acme", {"name": "Acme", "hull_segments": ["Key"]})
    httpx_mock.add_response(
        method="POST",
        url=ENTITY,
        match_headers={"Authorization": AUTH},
        match_json=object_op("acme", name="Acme", hull_segments=["Key"]),
    )
    accept_firehose(httpx_mock)

    with cio() as client, hull() as hull_api:
        connector = hc.Connector(SETTINGS, customerio=client, hull=hull_api)
        report = connector.sync_account_updates([account_message("a1", "acme")])

    assert report.outcomes == []
    assert summary(report) == [
        ("a1", "acme", Action.IDENTIFY, "success", "new", ["object_identify", "hull_traits"], None)
    ]
    assert hull_api.account_claims == [{"id": "a1", "external_id": "acme"}]
    assert firehose_bodies(httpx_mock) == [
        {"customerio/object_id": "acme", "customerio/hash": "h-acme",
         "customerio/synced_at": "2024-06-01T08:00:00+00:00", "customerio/deleted_at": None}
    ]  # fmt: skip


def test_a_deletion_addresses_the_stored_object_and_nulls_the_account_state(
    httpx_mock: HTTPXMock, planner: Planner, caplog: pytest.LogCaptureFixture
) -> None:
    planner.plans["a1"] = delete_plan("a1", "old-acme")
    httpx_mock.add_response(method="POST", url=ENTITY, match_json=object_op("old-acme", "delete"))
    accept_firehose(httpx_mock)
    caplog.set_level(logging.INFO, logger="hull_customerio")

    with cio() as client, hull() as hull_api:
        report = hc.Connector(SETTINGS, customerio=client, hull=hull_api).sync_account_updates(
            [account_message("a1", "new-acme")]
        )

    outcome = report.for_account("a1")
    assert (outcome.status, outcome.reason, outcome.calls) == (
        "success", "left_segments", ["object_delete", "hull_traits"])  # fmt: skip
    assert firehose_bodies(httpx_mock)[0]["customerio/object_id"] is None
    assert [r.getMessage() for r in caplog.records] == [
        "outgoing.account.deletion account=a1 object_id=old-acme reason=left_segments"
    ]


def test_the_hull_write_back_follows_success_only(httpx_mock: HTTPXMock, planner: Planner) -> None:
    planner.plans.update(a1=identify_plan("a1", "one"), a2=identify_plan("a2", "two"))
    httpx_mock.add_response(
        method="POST",
        url=ENTITY,
        match_json=object_op("one", hull_segments=[]),
        status_code=400,
        json={"meta": {"errors": ["bad object"]}},
    )
    httpx_mock.add_response(
        method="POST", url=ENTITY, match_json=object_op("two", hull_segments=[])
    )
    accept_firehose(httpx_mock)

    with cio() as client, hull() as hull_api:
        report = hc.Connector(SETTINGS, customerio=client, hull=hull_api).sync_account_updates(
            [account_message("a1", "one"), account_message("a2", "two")]
        )

    one, two = report.account_outcomes
    assert (one.status, one.reason, one.calls) == ("error", "object_failed", ["object_identify"])
    assert "bad object" in (one.error or "")
    assert isinstance(one.exception, hc.BadRequestError)
    assert (two.status, two.calls) == ("success", ["object_identify", "hull_traits"])
    assert [b["customerio/object_id"] for b in firehose_bodies(httpx_mock)] == ["two"]
    # A refusal of the data is not retried: the notification goes on.
    assert _core.flow_control_for(report) == {"flow_control": {"type": "next"}}


def test_an_oversize_object_is_an_error_for_that_account_alone(
    httpx_mock: HTTPXMock, planner: Planner
) -> None:
    planner.plans.update(
        a1=error_plan("a1", "big", "the attributes take 120000 bytes, more than 100000"),
        a2=identify_plan("a2", "small"),
        a3=skip_plan("a3"),
    )
    httpx_mock.add_response(
        method="POST", url=ENTITY, match_json=object_op("small", hull_segments=[])
    )

    with cio() as client:
        report = hc.Connector(SETTINGS, customerio=client).sync_account_updates(
            [account_message(a, a) for a in ("a1", "a2", "a3")]
        )

    assert summary(report) == [
        ("a1", "big", Action.ERROR, "error", "invalid_attributes", [],
         "the attributes take 120000 bytes, more than 100000"),
        ("a2", "small", Action.IDENTIFY, "success", "new", ["object_identify"], None),
        ("a3", None, Action.SKIP, "skipped", "not_in_segments", [], None),
    ]  # fmt: skip
    assert len(httpx_mock.get_requests()) == 1


def test_malformed_messages_are_error_outcomes_in_input_order(
    httpx_mock: HTTPXMock, planner: Planner
) -> None:
    httpx_mock.add_response(method="POST", url=ENTITY, is_reusable=True)
    messages: list[Any] = [
        account_message("a1", "one"),
        {"account": {"name": "no id"}},
        account_message("a1", "one-later"),
        "not a message",
    ]
    with cio() as client:
        report = hc.Connector(SETTINGS, customerio=client).sync_account_updates(messages)

    assert [(o.account_id, o.status, o.reason) for o in report.account_outcomes] == [
        ("a1", "success", "new"),
        (None, "error", "malformed_message"),
        (None, "error", "malformed_message"),
    ]
    # Two messages of one account: one outcome, the later message's object.
    assert report.for_account("a1").object_id == "one-later"


def test_customerio_unreachable_stops_sending_the_rest_of_the_accounts(
    httpx_mock: HTTPXMock, planner: Planner
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), url=ENTITY, is_reusable=True)

    with cio() as client:
        report = hc.Connector(SETTINGS, customerio=client).sync_account_updates(
            [account_message(f"a{n}", f"o{n}") for n in range(6)]
        )

    reasons = [o.reason for o in report.account_outcomes]
    assert reasons == ["customerio_unavailable"] * 6
    assert [o.calls for o in report.account_outcomes] == [["object_identify"]] * 2 + [[]] * 4
    assert len(httpx_mock.get_requests()) == 2
    assert _core.flow_control_for(report)["flow_control"]["type"] == "retry"


# ------------------------------------------------------------------------------- batch mode


def test_batch_mode_packs_every_object_in_one_batch_and_maps_207_errors_to_their_account(
    httpx_mock: HTTPXMock, planner: Planner
) -> None:
    httpx_mock.add_response(
        method="POST", url=BATCH, status_code=207,
        match_json={"batch": [object_op("o0", hull_segments=["Key accounts"]),
                              object_op("o1", hull_segments=["Key accounts"]),
                              object_op("o3", "delete")]},
        json={"errors": [{"batch_index": 1, "reason": "invalid", "field": "attributes",
                          "message": "attribute too long"}]},
    )  # fmt: skip
    accept_firehose(httpx_mock)
    planner.plans["a2"] = skip_plan("a2", "no_changes")
    planner.plans["a3"] = delete_plan("a3", "o3")

    with cio() as client, hull() as hull_api:
        connector = hc.Connector(SETTINGS, customerio=client, hull=hull_api, mode="batch")
        report = connector.sync_account_updates(
            [account_message(f"a{n}", f"o{n}") for n in range(4)]
        )

    assert [(o.account_id, o.status, o.reason) for o in report.account_outcomes] == [
        ("a0", "success", "new"),
        ("a1", "error", "object_failed"),
        ("a2", "skipped", "no_changes"),
        ("a3", "success", "left_segments"),
    ]
    assert "attribute too long" in (report.for_account("a1").error or "")
    written = [b.get("customerio/deleted_at") for b in firehose_bodies(httpx_mock)]
    assert len(written) == 2  # a0 and a3, not a1 nor the skip
    assert [c["id"] for c in hull_api.account_claims] == ["a0", "a3"]


@pytest.mark.parametrize("answer", ["ok", "refused", "unreachable"])
def test_v1_and_batch_mode_reach_identical_account_outcomes(
    httpx_mock: HTTPXMock, planner: Planner, answer: str
) -> None:
    planner.plans.update(a1=error_plan("a1", "x", "too big"), a2=skip_plan("a2"),
                         a4=delete_plan("a4", "o4"))  # fmt: skip
    messages = [account_message(f"a{n}", f"o{n}") for n in range(5)]
    reports = {}
    for mode in ("v1", "batch"):
        if answer == "ok":
            httpx_mock.add_response(is_reusable=True, json={})
        elif answer == "unreachable":
            httpx_mock.add_exception(httpx.ConnectError("refused"), is_reusable=True)
        else:
            httpx_mock.add_response(status_code=400, json={"meta": {"errors": ["no"]}},
                                    is_reusable=True)  # fmt: skip
        with cio() as client:
            connector = hc.Connector(SETTINGS, customerio=client, mode=mode)
            reports[mode] = connector.sync_account_updates(messages)
        httpx_mock.reset()

    def comparable(report: hc.SyncReport) -> list[tuple[Any, ...]]:
        # Unreachable, v1 mode stops calling after the first failures: the calls differ.
        return [(o.account_id, o.object_id, o.action, o.status, o.reason,
                 o.calls if answer != "unreachable" else None)
                for o in report.account_outcomes]  # fmt: skip

    assert comparable(reports["v1"]) == comparable(reports["batch"])
    expected = {"ok": "success", "refused": "error", "unreachable": "error"}[answer]
    assert reports["v1"].for_account("a0").status == expected


# ---------------------------------------------------------------------- users' relationships


def linked_plan(**fields: Any) -> UserPlan:
    values: dict[str, Any] = {
        "user_id": "u1", "action": Action.IDENTIFY, "reason": "changed", "message": "Changed.",
        "customer_id": "cust-1", "chunks": [{"email": "a@example.com"}, {"plan": "pro"}],
        "object_id": "new-co", "unlinked_object_id": "old-co",
    }  # fmt: skip
    values.update(fields)
    return UserPlan(**values)


def patch_user_planner(monkeypatch: pytest.MonkeyPatch, plan: UserPlan) -> None:
    monkeypatch.setattr(_core, "plan_user_update", lambda *args, **kwargs: plan)


def user_message() -> dict[str, Any]:
    return {"user": {"id": "u1", "external_id": "cust-1"}, "segments": [], "events": []}


def relationship(action: str, object_id: str, type_id: str = "7") -> dict[str, Any]:
    identifiers = {"object_type_id": type_id, "object_id": object_id}
    return {"action": action, "relationships": [{"identifiers": identifiers}]}


def test_v1_mode_removes_the_old_relationship_before_the_identify_that_adds_the_new_one(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    patch_user_planner(monkeypatch, linked_plan())
    httpx_mock.add_response(method="PUT", url=f"{CUSTOMERS}/cust-1", is_reusable=True)

    settings = hc.Settings(site_id="site-123", api_key="key-456", object_type_id="7")
    with cio() as client:
        report = hc.Connector(settings, customerio=client).sync_user_updates([user_message()])

    bodies = [json.loads(r.content) for r in httpx_mock.get_requests()]
    assert bodies == [
        {"cio_relationships": relationship("delete_relationships", "old-co")},
        {
            "email": "a@example.com",
            "cio_relationships": relationship("add_relationships", "new-co"),
        },
        {"plan": "pro"},
    ]
    assert report.outcomes[0].calls == ["delete_relationships", "identify", "identify"]


def test_batch_mode_sends_the_removal_and_the_first_identify_in_order_in_one_round(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    patch_user_planner(monkeypatch, linked_plan(chunks=[{"email": "a@example.com"}]))
    httpx_mock.add_response(method="POST", url=BATCH, json={})

    settings = hc.Settings(site_id="site-123", api_key="key-456", object_type_id="7")
    with cio() as client:
        connector = hc.Connector(settings, customerio=client, mode="batch")
        report = connector.sync_user_updates([user_message()])

    (request,) = httpx_mock.get_requests()
    ref = [{"identifiers": {"object_type_id": "7", "object_id": "old-co"}}]
    new = [{"identifiers": {"object_type_id": "7", "object_id": "new-co"}}]
    assert json.loads(request.content)["batch"] == [
        {"type": "person", "identifiers": {"id": "cust-1"}, "action": "delete_relationships",
         "cio_relationships": ref},
        {"type": "person", "identifiers": {"id": "cust-1"}, "action": "identify",
         "attributes": {"email": "a@example.com"}, "cio_relationships": new},
    ]  # fmt: skip
    assert report.outcomes[0].status == "success"


def test_a_refused_relationship_removal_fails_the_person_and_writes_nothing_back(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    patch_user_planner(monkeypatch, linked_plan(object_id=None, traits={"customerio/x": 1}))
    httpx_mock.add_response(method="PUT", url=f"{CUSTOMERS}/cust-1", status_code=400,
                            match_json={"cio_relationships": relationship(
                                "delete_relationships", "old-co", "1")})  # fmt: skip
    httpx_mock.add_response(method="PUT", url=f"{CUSTOMERS}/cust-1", is_optional=True)

    with cio() as client:
        report = hc.Connector(SETTINGS, customerio=client).sync_user_updates([user_message()])

    outcome = report.outcomes[0]
    assert (outcome.status, outcome.reason) == ("error", "identify_failed")
    # The identify of the same group went out (v1 sends a group in order, as a batch would);
    # no further chunk did.
    assert outcome.calls == ["delete_relationships", "identify"]


# ----------------------------------------------------------------------- logs and metrics


def test_account_log_lines_carry_ids_and_reasons_and_errors_say_why(
    httpx_mock: HTTPXMock, planner: Planner, caplog: pytest.LogCaptureFixture
) -> None:
    planner.plans.update(a2=skip_plan("a2"), a3=error_plan("a3", "o3", "name too long"))
    httpx_mock.add_response(method="POST", url=ENTITY)
    caplog.set_level(logging.INFO, logger="hull_customerio")

    with cio() as client:
        hc.Connector(SETTINGS, customerio=client).sync_account_updates(
            [account_message(f"a{n}", f"o{n}", name="Secret Corp") for n in (1, 2, 3)]
        )

    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "outgoing.account.success account=a1 object_id=o1 reason=new"),
        (logging.INFO, "outgoing.account.skip account=a2 reason=not_in_segments"),
        (logging.ERROR, "outgoing.account.error account=a3 object_id=o3 "
                        "reason=invalid_attributes cause='name too long'"),
    ]  # fmt: skip
    assert caplog.records[0].hull_event == "outgoing.account.success"  # type: ignore[attr-defined]
    assert all("Secret Corp" not in repr(r.__dict__) for r in caplog.records)


def test_ship_outgoing_accounts_counts_each_object_call_by_action_and_status(
    httpx_mock: HTTPXMock, planner: Planner
) -> None:
    planner.plans.update(a2=skip_plan("a2"), a3=delete_plan("a3", "o3"),
                         a4=error_plan("a4", "o4", "too big"))  # fmt: skip
    httpx_mock.add_response(method="POST", url=ENTITY, match_json=object_op(
        "o0", hull_segments=["Key accounts"]))  # fmt: skip
    httpx_mock.add_response(method="POST", url=ENTITY, status_code=400, match_json=object_op(
        "o1", hull_segments=["Key accounts"]))  # fmt: skip
    httpx_mock.add_response(method="POST", url=ENTITY, match_json=object_op("o3", "delete"))
    metrics = InMemoryMetrics()

    with cio() as client:
        hc.Connector(SETTINGS, customerio=client, metrics=metrics).sync_account_updates(
            [account_message(f"a{n}", f"o{n}") for n in range(5)]
        )

    assert metrics.count(OUTGOING_ACCOUNTS) == 3  # the skip and the error plan are not sent
    assert metrics.count(OUTGOING_ACCOUNTS, action="identify", status="success") == 1
    assert metrics.count(OUTGOING_ACCOUNTS, action="identify", status="error") == 1
    assert metrics.count(OUTGOING_ACCOUNTS, action="delete", status="success") == 1


def test_a_bug_planning_one_account_costs_that_account_alone(
    httpx_mock: HTTPXMock, planner: Planner, monkeypatch: pytest.MonkeyPatch
) -> None:
    def plan(message: Any, settings: Any, *, now: Any = None) -> Any:
        if message.account_id == "a1":
            raise KeyError("boom")
        return identify_plan(message.account_id, f"o-{message.account_id}")

    monkeypatch.setattr(_accounts, "plan_account_update", plan)
    httpx_mock.add_response(method="POST", url=BATCH, json={})

    with cio() as client:
        report = hc.Connector(SETTINGS, customerio=client, mode="batch").sync_account_updates(
            [account_message(f"a{n}", f"o{n}") for n in range(3)]
        )

    assert [(o.account_id, o.status, o.reason) for o in report.account_outcomes] == [
        ("a0", "success", "new"),
        ("a1", "error", "internal_error"),
        ("a2", "success", "new"),
    ]
    assert report.for_account("a1").error == "KeyError: 'boom'"


@pytest.mark.parametrize("mode", ["v1", "batch"])
def test_a_bug_while_executing_one_account_costs_that_account_alone(
    httpx_mock: HTTPXMock, planner: Planner, mode: str
) -> None:
    # A plan whose attributes cannot be encoded as JSON: a bug upstream, not bad input.
    planner.plans["a1"] = identify_plan("a1", "o1", {"when": object()})
    httpx_mock.add_response(is_reusable=True, json={})

    with cio() as client:
        report = hc.Connector(SETTINGS, customerio=client, mode=mode).sync_account_updates(
            [account_message(f"a{n}", f"o{n}") for n in range(3)]
        )

    statuses = [(o.account_id, o.status) for o in report.account_outcomes]
    assert statuses == [("a0", "success"), ("a1", "error"), ("a2", "success")]
