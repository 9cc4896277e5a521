"""SPEC §11 through the notification path: ``account:update`` is synchronised by both
connectors' ``answer_notification`` (and ``handle_notification``), with its flow control."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import pytest
from accounts_support import AccountHull, AsyncAccountHull, Planner, account_message
from pytest_httpx import HTTPXMock

import hull_customerio as hc
from hull_customerio.engine import _notifications

ID = "5c8a1f2e3b4d5e6f7a8b9c0d"
SECRET = "connector-secret-for-tests"
ORG = "acme42.hullapp.io"
FIREHOSE = "https://firehose.test"
ENTITY = "https://track.customer.io/api/v2/entity"
BATCH = "https://track.customer.io/api/v2/batch"
NO_RETRY = hc.RetryPolicy(max_attempts=1)
NEXT = {"flow_control": {"type": "next"}}
RETRY = {"flow_control": {"type": "retry", "size": 10, "in": 1000}}


@pytest.fixture
def planner(monkeypatch: pytest.MonkeyPatch) -> Planner:
    return Planner(monkeypatch)


def payload(messages: list[Any], *, site_id: str = "site-123", **extra: Any) -> dict[str, Any]:
    return {
        "notification_id": "n-accounts",
        "configuration": {"id": ID, "organization": ORG, "secret": SECRET},
        "connector": {"id": ID, "private_settings": {
            "site_id": site_id, "api_key": "key-456",
            "synchronized_account_segments": ["aseg_1"]}},
        "channel": "account:update",
        "accounts_segments": [{"id": "aseg_1", "name": "Key accounts"}],
        "messages": messages,
        **extra,
    }  # fmt: skip


def messages_with_a_malformed_one() -> list[Any]:
    return [account_message("a1", "acme"), {"account": {"id": 42}}, account_message("a2", "beta")]


def answer(flavour: str, mode: str, body: dict[str, Any]) -> hc.NotificationAnswer:
    raw = json.dumps(body).encode()
    settings = hc.Settings(site_id="site-123", api_key="key-456")
    options: dict[str, Any] = {"retry": NO_RETRY, "rate_limit": None}
    hull_options: dict[str, Any] = {"firehose_url": FIREHOSE, "retry": NO_RETRY}
    if flavour == "sync":
        with (
            hc.CustomerIOClient("site-123", "key-456", **options) as cio,
            AccountHull(ID, SECRET, ORG, **hull_options) as hull,
        ):
            return hc.Connector(settings, customerio=cio, hull=hull, mode=mode).answer_notification(
                raw, {}
            )

    async def run() -> hc.NotificationAnswer:
        async with hc.AsyncCustomerIOClient("site-123", "key-456", **options) as cio:
            hull = AsyncAccountHull(ID, SECRET, ORG, **hull_options)
            connector = hc.AsyncConnector(settings, customerio=cio, hull=hull, mode=mode)
            try:
                return await connector.answer_notification(raw, {})
            finally:
                await hull.close()

    return asyncio.run(run())


def accept_firehose(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=re.compile(re.escape(FIREHOSE) + ".*"), is_reusable=True)


def firehose_object_ids(httpx_mock: HTTPXMock) -> list[str]:
    return sorted(
        message["body"]["customerio/object_id"]
        for request in httpx_mock.get_requests(url=re.compile(re.escape(FIREHOSE) + ".*"))
        for message in json.loads(request.content)["batch"]
    )


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_an_account_update_notification_in_v1_mode_sends_each_object_and_answers_next(
    httpx_mock: HTTPXMock, planner: Planner, flavour: str
) -> None:
    for object_id in ("acme", "beta"):
        operation = {"type": "object", "action": "identify",
                     "identifiers": {"object_type_id": "1", "object_id": object_id},
                     "attributes": {"hull_segments": ["Key accounts"]}}  # fmt: skip
        httpx_mock.add_response(method="POST", url=ENTITY, match_json=operation)
    accept_firehose(httpx_mock)

    result = answer(flavour, "v1", payload(messages_with_a_malformed_one()))

    assert (result.http_status, result.body, result.reason) == (200, NEXT, None)
    assert result.report.outcomes == []
    assert [(o.account_id, o.status, o.reason) for o in result.report.account_outcomes] == [
        ("a1", "success", "new"),
        ("a2", "success", "new"),
        (None, "error", "malformed_message"),
    ]
    assert result.message == "2 synchronized, 0 skipped, 1 failed."
    assert firehose_object_ids(httpx_mock) == ["acme", "beta"]


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_an_account_update_notification_in_batch_mode_sends_one_batch(
    httpx_mock: HTTPXMock, planner: Planner, flavour: str
) -> None:
    httpx_mock.add_response(method="POST", url=BATCH, json={})
    accept_firehose(httpx_mock)

    result = answer(flavour, "batch", payload(messages_with_a_malformed_one()))

    (request,) = httpx_mock.get_requests(url=BATCH)
    sent = json.loads(request.content)["batch"]
    assert [op["identifiers"]["object_id"] for op in sent] == ["acme", "beta"]
    assert result.body == NEXT
    assert [o.status for o in result.report.account_outcomes] == ["success", "success", "error"]


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_an_account_customerio_failed_transiently_makes_the_answer_retry(
    httpx_mock: HTTPXMock, planner: Planner, flavour: str
) -> None:
    httpx_mock.add_response(method="POST", url=ENTITY, status_code=503, is_reusable=True)

    result = answer(flavour, "v1", payload([account_message("a1", "acme")]))

    assert result.body == RETRY
    outcome = result.report.for_account("a1")
    assert (outcome.status, outcome.reason) == ("error", "object_failed")


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_hull_write_back_failure_of_an_account_makes_the_answer_retry(
    httpx_mock: HTTPXMock, planner: Planner, flavour: str
) -> None:
    httpx_mock.add_response(method="POST", url=ENTITY)
    httpx_mock.add_response(url=re.compile(re.escape(FIREHOSE) + ".*"), status_code=503)

    result = answer(flavour, "v1", payload([account_message("a1", "acme")]))

    outcome = result.report.for_account("a1")
    assert (outcome.status, outcome.reason) == ("error", "writeback_failed")
    assert isinstance(outcome.exception, hc.DeliveryError)
    assert result.body == RETRY


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_an_account_write_back_hull_refuses_for_good_is_rejected_and_answered_next(
    httpx_mock: HTTPXMock, planner: Planner, flavour: str
) -> None:
    httpx_mock.add_response(method="POST", url=ENTITY)
    httpx_mock.add_response(url=re.compile(re.escape(FIREHOSE) + ".*"), status_code=400)

    result = answer(flavour, "v1", payload([account_message("a1", "acme")]))

    outcome = result.report.for_account("a1")
    assert (outcome.status, outcome.reason) == ("error", "writeback_rejected")
    assert result.body == NEXT


def test_an_account_notification_naming_another_workspace_sends_nothing(
    httpx_mock: HTTPXMock, planner: Planner
) -> None:
    body = payload(messages_with_a_malformed_one(), site_id="other-site")

    result = answer("sync", "v1", body)

    assert (result.body, result.reason) == (NEXT, "credentials_mismatch")
    assert [(o.account_id, o.reason) for o in result.report.account_outcomes] == [
        ("a1", "credentials_mismatch"),
        ("a2", "credentials_mismatch"),
        (None, "malformed_message"),
    ]
    assert httpx_mock.get_requests() == []


def test_prepare_notification_accepts_account_update_and_still_refuses_other_channels() -> None:
    accepted = _notifications.prepare_notification(
        _notifications.read_notification_payload(payload([account_message("a1", "acme")])),
        site_id="site-123",
    )
    refused = _notifications.prepare_notification(
        _notifications.read_notification_payload({**payload([]), "channel": "account:delete"}),
        site_id="site-123",
    )

    assert isinstance(accepted, hc.Notification)
    assert [m.account_id for m in accepted.account_messages] == ["a1"]
    assert isinstance(refused, hc.NotificationAnswer)
    assert refused.reason == "unsupported_channel"


def test_handle_notification_routes_account_update_and_returns_the_flow_control(
    httpx_mock: HTTPXMock, planner: Planner
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), url=ENTITY, is_reusable=True)
    settings = hc.Settings(site_id="site-123", api_key="key-456")

    with hc.CustomerIOClient("site-123", "key-456", retry=NO_RETRY, rate_limit=None) as cio:
        hull = AccountHull(ID, SECRET, ORG, firehose_url=FIREHOSE)
        body = hc.Connector(settings, customerio=cio, hull=hull).handle_notification(
            payload([account_message(f"a{n}", f"o{n}") for n in range(5)])
        )
        hull.close()

    assert body == RETRY
    assert len(httpx_mock.get_requests()) == 2  # Customer.io unreachable: the rest not sent
