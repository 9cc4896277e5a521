"""Account traits through the Hull clients (issue 24, SPEC §11 write-back, §5.1-§5.2, §7.1).

A scope from ``as_account`` writes ``traits`` messages whose token carries ``io.hull.asAccount``
and ``io.hull.subjectType: "account"``; they share the client's queue, batches and delivery
tickets with user messages. Each rule runs with the sync client and the async one.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt
import pytest
from pytest_httpx import HTTPXMock

from hull_customerio._http.retry import HULL_RETRY_STATUSES, RetryPolicy
from hull_customerio.errors import DeliveryError, ServerError, ValidationError
from hull_customerio.hull import (
    ACCOUNT_CLAIM_NAMES,
    AsyncHullClient,
    HullClient,
    account_claims,
    make_account_token,
)

CONNECTOR_ID = "5f1a2b3c4d5e6f7a8b9c0d1e"
SECRET = "s3cr3t-0123456789abcdef0123456789abcdef"
ORGANIZATION = "abc123.hullapp.io"
FIREHOSE = "https://firehose.hullapp.io"
RETRY = RetryPolicy(max_attempts=2, jitter=0.0, retry_statuses=HULL_RETRY_STATUSES)
WRITE_BACK = {
    "customerio/object_id": "acme",
    "customerio/hash": "h1",
    "customerio/synced_at": "2026-01-02T03:04:05Z",
    "customerio/deleted_at": None,
}


def decode(token: str) -> dict[str, Any]:
    return jwt.decode(token, SECRET, algorithms=["HS256"], issuer=CONNECTOR_ID)


def batch_of(request: httpx.Request) -> list[dict[str, Any]]:
    return json.loads(request.content)["batch"]  # type: ignore[no-any-return]


def sync_client(**kwargs: Any) -> HullClient:
    kwargs.setdefault("retry", RETRY)
    kwargs.setdefault("sleep", lambda seconds: None)
    return HullClient(CONNECTOR_ID, SECRET, ORGANIZATION, **kwargs)


async def _no_wait(seconds: float) -> None:
    return None


def async_client(**kwargs: Any) -> AsyncHullClient:
    kwargs.setdefault("retry", RETRY)
    kwargs.setdefault("sleep", _no_wait)
    return AsyncHullClient(CONNECTOR_ID, SECRET, ORGANIZATION, **kwargs)


def assert_account_message(
    message: dict[str, Any], request_id: str, claims: dict[str, str], iso: Any
) -> None:
    token = message["headers"]["Hull-Access-Token"]
    assert message == {
        "type": "traits",
        "requestId": request_id,
        "body": WRITE_BACK,
        "headers": {"Hull-Access-Token": token},
        "timestamp": iso,
    }
    decoded = decode(token)
    assert set(decoded) == {"iss", "iat", "io.hull.asAccount", "io.hull.subjectType"}
    assert decoded["io.hull.asAccount"] == claims
    assert decoded["io.hull.subjectType"] == "account"
    assert "io.hull.asUser" not in decoded


# -- the exact firehose message ------------------------------------------------------------


def test_account_traits_post_a_traits_message_acting_as_the_account(
    httpx_mock: HTTPXMock, iso: Any
) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})

    with sync_client() as hull:
        scope = hull.as_account({"id": "a-1", "external_id": "acme", "domain": "acme.io"})
        request_id = scope.traits(WRITE_BACK)

    request = httpx_mock.get_request()
    assert request is not None
    assert request.headers["Hull-Access-Token"] == SECRET  # the REST credential, not the JWT
    sent = json.loads(request.content)
    assert sent["timestamp"] == iso
    assert sent["sentAt"] == iso
    (message,) = sent["batch"]
    claims = {"id": "a-1", "external_id": "acme", "domain": "acme.io"}
    assert_account_message(message, request_id, claims, iso)


@pytest.mark.anyio
async def test_async_account_traits_post_a_traits_message_acting_as_the_account(
    httpx_mock: HTTPXMock, iso: Any
) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})

    async with async_client() as hull:
        scope = hull.as_account({"id": "a-1", "external_id": "acme", "domain": "acme.io"})
        request_id = await scope.traits(WRITE_BACK)

    request = httpx_mock.get_request()
    assert request is not None
    (message,) = json.loads(request.content)["batch"]
    claims = {"id": "a-1", "external_id": "acme", "domain": "acme.io"}
    assert_account_message(message, request_id, claims, iso)


def test_account_traits_group_names_under_the_source(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})

    with sync_client() as hull:
        hull.as_account({"id": "a-1"}).traits({"object_id": "acme", "x/y": 1}, source="customerio")

    request = httpx_mock.get_request()
    assert request is not None
    assert batch_of(request)[0]["body"] == {"customerio/object_id": "acme", "x/y": 1}


# -- claims ------------------------------------------------------------------------------


def test_only_id_external_id_and_domain_are_account_claims_and_blanks_are_dropped() -> None:
    given = {"domain": "acme.io", "id": " ", "external_id": None, "name": "Acme", "email": "x"}

    assert ACCOUNT_CLAIM_NAMES == ("id", "external_id", "domain")
    assert account_claims(given) == {"domain": "acme.io"}
    assert list(account_claims({"domain": "d", "id": "i", "external_id": "e"})) == [
        "id",
        "external_id",
        "domain",
    ]


@pytest.mark.parametrize(
    "claims",
    [{}, {"id": "", "domain": "  "}, {"email": "ann@example.com"}],
    ids=["empty", "blank", "user-claims-only"],
)
def test_an_account_without_a_usable_claim_is_refused(claims: dict[str, Any]) -> None:
    hull = sync_client()
    with pytest.raises(ValidationError, match="Cannot address a Hull account") as caught:
        hull.as_account(claims)
    assert "ann@example.com" not in str(caught.value)
    hull.close()


def test_a_claim_that_is_not_a_string_is_refused_naming_it_not_its_value() -> None:
    with pytest.raises(ValidationError, match="Invalid Hull account claims: id: must be a string"):
        account_claims({"id": 42, "domain": "acme.io"})


def test_the_client_signs_byte_for_byte_what_make_account_token_signs() -> None:
    hull = sync_client()
    claims = {"external_id": "acme", "domain": "acme.io"}

    token = hull.account_token(claims)
    decoded = decode(token)

    assert token == make_account_token(
        claims, connector_id=CONNECTOR_ID, secret=SECRET, now=decoded["iat"]
    )
    hull.close()


def test_an_account_token_is_never_a_user_token_of_the_same_claims() -> None:
    hull = sync_client()

    account = decode(hull.account_token({"id": "same"}))
    user = decode(hull.user_token({"id": "same"}))

    assert account["io.hull.subjectType"] == "account"
    assert user["io.hull.subjectType"] == "user"
    assert "io.hull.asAccount" not in user
    hull.close()


def test_a_scope_repr_shows_claim_names_never_values_or_the_token() -> None:
    hull = sync_client()
    scope = hull.as_account({"external_id": "secret-acme", "domain": "acme.io"})

    assert repr(scope) == "HullAccountScope(claims=['external_id', 'domain'])"
    hull.close()


# -- delivery tickets: the same guarantees as user traits ----------------------------------


def _fail_account_batches(request: httpx.Request) -> httpx.Response:
    subjects = {decode(m["headers"]["Hull-Access-Token"])["io.hull.subjectType"]
                for m in batch_of(request)}  # fmt: skip
    return httpx.Response(503 if "account" in subjects else 200, json={})


def test_a_failed_account_write_is_reported_to_its_ticket_and_not_to_a_user_s(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_callback(_fail_account_batches, url=FIREHOSE, is_reusable=True)
    hull = sync_client(flush_at=1)
    account_ticket, user_ticket = hull.delivery(), hull.delivery()

    account_id = hull.as_account({"id": "a-1"}, delivery=account_ticket).traits(WRITE_BACK)
    user_id = hull.as_user({"id": "u-1"}, delivery=user_ticket).traits({"n": 1})
    hull.wait(account_ticket)
    hull.wait(user_ticket)

    assert set(account_ticket.failures) == {account_id}
    assert user_ticket.delivered == {user_id}
    assert user_ticket.failures == {}
    with pytest.raises(DeliveryError) as caught:
        hull.flush(account_ticket)
    assert [m["requestId"] for m in caught.value.undelivered] == [account_id]
    assert isinstance(caught.value.__cause__, ServerError)
    hull.close()


@pytest.mark.anyio
async def test_async_a_failed_account_write_is_reported_to_its_ticket_and_not_to_a_user_s(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_callback(_fail_account_batches, url=FIREHOSE, is_reusable=True)
    hull = async_client(flush_at=1)
    account_ticket, user_ticket = hull.delivery(), hull.delivery()

    account_id = await hull.as_account({"id": "a-1"}, delivery=account_ticket).traits(WRITE_BACK)
    user_id = await hull.as_user({"id": "u-1"}, delivery=user_ticket).traits({"n": 1})
    await hull.wait(account_ticket)
    await hull.wait(user_ticket)

    assert set(account_ticket.failures) == {account_id}
    assert user_ticket.delivered == {user_id}
    with pytest.raises(DeliveryError) as caught:
        await hull.flush(account_ticket)
    assert [m["requestId"] for m in caught.value.undelivered] == [account_id]
    await hull.close()


def test_account_and_user_messages_share_one_firehose_batch(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})

    with sync_client(flush_at=50) as hull:
        hull.as_user({"id": "u-1"}).traits({"n": 1})
        hull.as_account({"id": "a-1"}).traits(WRITE_BACK)

    (request,) = httpx_mock.get_requests()
    subjects = [decode(m["headers"]["Hull-Access-Token"])["io.hull.subjectType"]
                for m in batch_of(request)]  # fmt: skip
    assert subjects == ["user", "account"]
