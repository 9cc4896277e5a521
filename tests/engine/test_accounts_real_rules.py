"""SPEC §11 end to end through the real rules (`plan_account_update`, `plan_user_update`): what
the engine sends for accounts and linked users, byte for byte (pytest-httpx)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from accounts_support import AccountHull
from pytest_httpx import HTTPXMock

import hull_customerio as hc
from builders import message, user

NO_RETRY = hc.RetryPolicy(max_attempts=1)
ENTITY = "https://track.customer.io/api/v2/entity"
BATCH = "https://track.customer.io/api/v2/batch"
CUSTOMERS = "https://track.customer.io/api/v1/customers"
FIREHOSE = "https://firehose.test"
KEY_ACCOUNTS = {"id": "aseg_1", "name": "Key accounts"}


def settings(**overrides: Any) -> hc.Settings:
    values: dict[str, Any] = {
        "site_id": "site-123", "api_key": "key-456", "synchronized_segments": ["seg_1"],
        "synchronized_account_segments": ["aseg_1"], "object_type_id": "3",
    }  # fmt: skip
    values.update(overrides)
    return hc.Settings(**values)


def account_update(segments: list[dict[str, str]] | None = None, **account: Any) -> dict[str, Any]:
    return {
        "message_id": "m-1",
        "account": {"id": "acc-1", "external_id": "acme", "name": "Acme", "domain": "acme.com",
                    **account},
        "account_segments": [KEY_ACCOUNTS] if segments is None else segments,
        "changes": {},
    }  # fmt: skip


ACME = {
    "type": "object",
    "identifiers": {"object_type_id": "3", "object_id": "acme"},
    "action": "identify",
    "attributes": {"name": "Acme", "domain": "acme.com", "hull_segments": ["Key accounts"]},
}


def firehose(httpx_mock: HTTPXMock) -> list[dict[str, Any]]:
    pattern = re.compile(re.escape(FIREHOSE) + ".*")
    return [
        message["body"]
        for request in httpx_mock.get_requests(url=pattern)
        for message in json.loads(request.content)["batch"]
    ]


def sync(mode: str, conf: hc.Settings, messages: list[Any]) -> tuple[hc.SyncReport, AccountHull]:
    with (
        hc.CustomerIOClient("site-123", "key-456", retry=NO_RETRY, rate_limit=None) as cio,
        AccountHull("h", "s", "org.hullapp.io", firehose_url=FIREHOSE, retry=NO_RETRY) as hull,
    ):
        connector = hc.Connector(conf, customerio=cio, hull=hull, mode=mode)
        return connector.sync_account_updates(messages), hull


@pytest.mark.parametrize("mode", ["v1", "batch"])
def test_an_account_in_a_synchronized_segment_becomes_an_object_then_its_state_is_written_back(
    httpx_mock: HTTPXMock, mode: str
) -> None:
    if mode == "v1":
        httpx_mock.add_response(method="POST", url=ENTITY, match_json=ACME)
    else:
        httpx_mock.add_response(method="POST", url=BATCH, match_json={"batch": [ACME]}, json={})
    httpx_mock.add_response(url=re.compile(re.escape(FIREHOSE) + ".*"))

    report, hull = sync(mode, settings(), [account_update()])

    outcome = report.for_account("acc-1")
    assert (outcome.status, outcome.reason, outcome.object_id) == ("success", "new", "acme")
    assert hull.account_claims == [{"id": "acc-1", "external_id": "acme", "domain": "acme.com"}]
    (traits,) = firehose(httpx_mock)
    assert list(traits) == ["customerio/object_id", "customerio/hash", "customerio/synced_at",
                            "customerio/deleted_at"]  # fmt: skip
    assert (traits["customerio/object_id"], traits["customerio/deleted_at"]) == ("acme", None)
    assert outcome.plan is not None
    assert traits["customerio/hash"] == outcome.plan.hash


def test_an_unchanged_object_is_not_sent_again(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=ENTITY)
    httpx_mock.add_response(url=re.compile(re.escape(FIREHOSE) + ".*"))
    first, _ = sync("v1", settings(), [account_update()])
    plan = first.for_account("acc-1").plan
    assert plan is not None
    digest = plan.hash
    httpx_mock.reset()

    stored = {"customerio/object_id": "acme", "customerio/hash": digest}
    again, _ = sync("v1", settings(), [account_update(**stored)])

    assert (again.for_account("acc-1").status, again.for_account("acc-1").reason) == (
        "skipped", "no_changes")  # fmt: skip
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize("deletion", [True, False])
def test_leaving_the_account_segments_deletes_the_stored_object_only_with_deletion_on(
    httpx_mock: HTTPXMock, deletion: bool
) -> None:
    left = account_update(segments=[], **{"customerio/object_id": "acme-old"})
    if deletion:
        httpx_mock.add_response(method="POST", url=ENTITY, match_json={
            "type": "object", "identifiers": {"object_type_id": "3", "object_id": "acme-old"},
            "action": "delete"})  # fmt: skip
        httpx_mock.add_response(url=re.compile(re.escape(FIREHOSE) + ".*"))

    report, _ = sync("v1", settings(enable_account_deletion=deletion), [left])

    outcome = report.for_account("acc-1")
    if deletion:
        assert (outcome.status, outcome.reason) == ("success", "left_segments")
        (traits,) = firehose(httpx_mock)
        assert traits["customerio/object_id"] is None
        assert traits["customerio/deleted_at"] is not None
    else:
        assert (outcome.status, outcome.reason) == ("skipped", "not_in_segments")
        assert httpx_mock.get_requests() == []


def test_without_synchronized_account_segments_no_object_is_sent(httpx_mock: HTTPXMock) -> None:
    report, _ = sync("batch", settings(synchronized_account_segments=[]), [account_update()])

    assert report.for_account("acc-1").reason == "no_segments"
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize("mode", ["v1", "batch"])
def test_a_user_moved_to_another_account_is_unlinked_then_linked_in_that_order(
    httpx_mock: HTTPXMock, mode: str
) -> None:
    moved = message(
        user(**{"customerio/object_id": "old-co"}),
        account={"id": "acc-2", "external_id": "new-co"},
        account_segments=[KEY_ACCOUNTS],
    )
    httpx_mock.add_response(is_reusable=True, json={})

    with hc.CustomerIOClient("site-123", "key-456", retry=NO_RETRY, rate_limit=None) as cio:
        report = hc.Connector(settings(), customerio=cio, mode=mode).sync_user_updates([moved])

    removal = {"identifiers": {"object_type_id": "3", "object_id": "old-co"}}
    link = {"identifiers": {"object_type_id": "3", "object_id": "new-co"}}
    sent = [json.loads(r.content) for r in httpx_mock.get_requests()]
    if mode == "v1":
        assert [r.url for r in httpx_mock.get_requests()] == [f"{CUSTOMERS}/cust-1"] * 2
        assert sent[0] == {"cio_relationships": {"action": "delete_relationships",
                                                 "relationships": [removal]}}  # fmt: skip
        assert sent[1]["cio_relationships"] == {"action": "add_relationships",
                                                "relationships": [link]}  # fmt: skip
    else:
        (batch,) = sent
        assert [(op["action"], op["cio_relationships"]) for op in batch["batch"]] == [
            ("delete_relationships", [removal]),
            ("identify", [link]),
        ]
    outcome = report.outcomes[0]
    assert (outcome.status, outcome.calls) == ("success", ["delete_relationships", "identify"])
    assert outcome.plan is not None
    assert outcome.plan.traits is not None
    assert outcome.plan.traits["customerio/object_id"] == "new-co"
