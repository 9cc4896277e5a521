"""SPEC §5.1-§5.2 with AsyncHullClient: the mirror of test_hull_client.py, test for test."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import Any

import httpx
import jwt
import pytest
from pytest_httpx import HTTPXMock

from hull_customerio._http.retry import HULL_RETRY_STATUSES, RetryPolicy
from hull_customerio.errors import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    DeliveryError,
    NotFoundError,
    ServerError,
    ValidationError,
)
from hull_customerio.hull import AsyncHullClient

CONNECTOR_ID = "5f1a2b3c4d5e6f7a8b9c0d1e"
SECRET = "s3cr3t-0123456789abcdef0123456789abcdef"
ORGANIZATION = "abc123.hullapp.io"
FIREHOSE = "https://firehose.hullapp.io"
HEADERS = {
    "Hull-App-Id": CONNECTOR_ID,
    "Hull-Access-Token": SECRET,
    "Hull-Organization": ORGANIZATION,
}
# Three attempts, and jitter off so the recorded waits are exact.
RETRY = RetryPolicy(max_attempts=3, jitter=0.0, retry_statuses=HULL_RETRY_STATUSES)

pytestmark = pytest.mark.anyio


def decode(token: str) -> dict[str, Any]:
    return jwt.decode(token, SECRET, algorithms=["HS256"], issuer=CONNECTOR_ID)


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def make_client(waits: list[float], **kwargs: Any) -> AsyncHullClient:
    async def record(seconds: float) -> None:
        waits.append(seconds)

    kwargs.setdefault("retry", RETRY)
    return AsyncHullClient(CONNECTOR_ID, SECRET, ORGANIZATION, sleep=record, **kwargs)


def assert_hull_headers(request: httpx.Request) -> None:
    for name, value in HEADERS.items():
        assert request.headers[name] == value


async def test_traits_post_the_exact_firehose_request(
    httpx_mock: HTTPXMock, waits: list[float], iso: Any, any_uuid4: Any
) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})

    async with make_client(waits) as hull:
        user = hull.as_user({"email": "ann@example.com", "name": "Ann"}, create=False)
        request_id = await user.traits({"id": "c-1", "hash": None}, source="customerio")

    request = httpx_mock.get_request()
    assert request is not None
    assert request.method == "POST"
    assert str(request.url) == FIREHOSE
    assert_hull_headers(request)
    assert request.headers["Content-Type"] == "application/json"
    sent = body(request)
    assert sent == {
        "batch": [
            {
                "type": "traits",
                "requestId": request_id,
                "body": {"customerio/id": "c-1", "customerio/hash": None},
                "headers": {"Hull-Access-Token": sent["batch"][0]["headers"]["Hull-Access-Token"]},
                "timestamp": iso,
            }
        ],
        "timestamp": iso,
        "sentAt": iso,
    }
    assert request_id == any_uuid4
    claims = decode(sent["batch"][0]["headers"]["Hull-Access-Token"])
    assert claims["io.hull.asUser"] == {"email": "ann@example.com"}
    assert claims["io.hull.subjectType"] == "user"
    assert claims["io.hull.create"] is False
    assert claims["io.hull.active"] is False
    assert waits == []


async def test_track_posts_the_exact_firehose_request(
    httpx_mock: HTTPXMock, waits: list[float], iso: Any
) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})

    async with make_client(waits) as hull:
        user = hull.as_user({"external_id": "42"}, active=True)
        request_id = await user.track(
            "Email Opened",
            {"subject": "Hello"},
            event_id="cio-evt-1",
            created_at=datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc),
            source="customerio",
            type="email",
        )

    request = httpx_mock.get_request()
    assert request is not None
    assert str(request.url) == FIREHOSE
    assert_hull_headers(request)
    sent = body(request)
    token = sent["batch"][0]["headers"]["Hull-Access-Token"]
    assert sent == {
        "batch": [
            {
                "type": "track",
                "requestId": request_id,
                "body": {
                    "event": "Email Opened",
                    "properties": {"subject": "Hello"},
                    "event_id": "cio-evt-1",
                    "created_at": "2024-05-06T07:08:09.000Z",
                    "source": "customerio",
                    "type": "email",
                    "ip": "0",
                    "url": None,
                    "referer": None,
                },
                "headers": {"Hull-Access-Token": token},
                "timestamp": iso,
            }
        ],
        "timestamp": iso,
        "sentAt": iso,
    }
    claims = decode(token)
    assert claims["io.hull.asUser"] == {"external_id": "42"}
    assert claims["io.hull.create"] is True
    assert claims["io.hull.active"] is True


async def test_track_without_event_id_gets_a_uuid4_fixed_when_queued(
    httpx_mock: HTTPXMock, waits: list[float], any_uuid4: Any
) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})

    async with make_client(waits) as hull:
        user = hull.as_user({"id": "u1"})
        await user.track("Signed Up")
        await user.track("Signed Up")

    request = httpx_mock.get_request()
    assert request is not None
    first, second = (m["body"] for m in body(request)["batch"])
    assert first["event_id"] == any_uuid4
    assert second["event_id"] == any_uuid4
    assert first["event_id"] != second["event_id"]
    assert first["properties"] == {}
    assert first["created_at"] is None


async def test_the_scope_signs_its_token_once(httpx_mock: HTTPXMock, waits: list[float]) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})

    async with make_client(waits) as hull:
        user = hull.as_user({"id": "u1"})
        await user.traits({"a": 1})
        await user.track("E")

    request = httpx_mock.get_request()
    assert request is not None
    tokens = {m["headers"]["Hull-Access-Token"] for m in body(request)["batch"]}
    assert len(tokens) == 1


async def test_51_messages_make_two_posts_50_then_1(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={}, is_reusable=True)
    hull = make_client(waits)
    user = hull.as_user({"id": "u1"})

    ids = [await user.traits({"n": n}) for n in range(51)]

    assert hull.pending == 1  # the first 50 were handed to a posting task
    await hull.close()
    first, second = httpx_mock.get_requests()
    assert [m["requestId"] for m in body(first)["batch"]] == ids[:50]
    assert [m["requestId"] for m in body(second)["batch"]] == ids[50:]


async def test_flush_at_is_configurable(httpx_mock: HTTPXMock, waits: list[float]) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={}, is_reusable=True)

    async with make_client(waits, flush_at=2) as hull:
        user = hull.as_user({"id": "u1"})
        ids = [await user.traits({"n": n}) for n in range(5)]

    # The first batch leaves when flush_at is reached; messages queued while a post is under
    # way leave with the next one. Never more than flush_at in a request, each message once.
    sizes = [len(body(r)["batch"]) for r in httpx_mock.get_requests()]
    assert sizes[0] == 2
    assert max(sizes) == 2
    sent = [m["requestId"] for r in httpx_mock.get_requests() for m in body(r)["batch"]]
    assert sorted(sent) == sorted(ids)


async def test_flush_with_nothing_queued_sends_nothing(waits: list[float]) -> None:
    async with make_client(waits) as hull:
        await hull.flush()


async def test_a_retried_batch_carries_the_same_event_ids_and_request_ids(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, status_code=503)
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})

    async with make_client(waits) as hull:
        user = hull.as_user({"id": "u1"})
        await user.track("Opened")
        await user.track("Clicked", event_id="given-id")

    failed, retried = httpx_mock.get_requests()
    assert body(failed) == body(retried)
    assert [m["body"]["event_id"] for m in body(retried)["batch"]][1] == "given-id"
    assert waits == [RETRY.initial_backoff]


@pytest.mark.parametrize(
    "failure",
    [
        {"status_code": 429, "headers": {"Retry-After": "3"}},
        {"status_code": 500},
        {"exception": httpx.ConnectError("refused")},
        {"exception": httpx.ReadTimeout("slow")},
    ],
)
async def test_connection_errors_timeouts_429_and_5xx_are_retried(
    httpx_mock: HTTPXMock, waits: list[float], failure: dict[str, Any]
) -> None:
    if "exception" in failure:
        httpx_mock.add_exception(failure["exception"], method="POST", url=FIREHOSE)
    else:
        httpx_mock.add_response(method="POST", url=FIREHOSE, **failure)
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})

    async with make_client(waits) as hull:
        await hull.as_user({"id": "u1"}).traits({"a": 1})

    assert len(httpx_mock.get_requests()) == 2
    assert waits == [3.0 if failure.get("headers") else RETRY.initial_backoff]


async def test_a_batch_failing_every_attempt_raises_delivery_error_with_the_messages(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, status_code=503, is_reusable=True)
    hull = make_client(waits)
    user = hull.as_user({"email": "ann@example.com"})
    traits_id = await user.traits({"plan": "pro"})
    track_id = await user.track("Opened", event_id="e-1")

    with pytest.raises(DeliveryError) as caught:
        await hull.flush()

    error = caught.value
    assert len(httpx_mock.get_requests()) == RETRY.max_attempts
    assert [m["requestId"] for m in error.undelivered] == [traits_id, track_id]
    assert error.undelivered[0]["body"] == {"plan": "pro"}
    assert error.undelivered[1]["body"]["event_id"] == "e-1"
    assert isinstance(error.__cause__, ServerError)
    assert error.__cause__.status_code == 503
    assert error.attempts == RETRY.max_attempts
    assert error.service == "hull"
    assert error.url == FIREHOSE
    text = str(error)
    assert "2 Hull firehose messages not delivered" in text
    for private in (
        SECRET,
        "ann@example.com",
        "pro",
        error.undelivered[0]["headers"]["Hull-Access-Token"],
    ):
        assert private not in text
        assert private not in str(error.__cause__)
    await hull.close()  # the failed messages were handed over: nothing is left to deliver


async def test_a_final_refusal_is_not_retried(httpx_mock: HTTPXMock, waits: list[float]) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, status_code=400, json={"message": "bad"})
    hull = make_client(waits)
    await hull.as_user({"id": "u1"}).traits({"a": 1})

    with pytest.raises(DeliveryError) as caught:
        await hull.close()

    assert isinstance(caught.value.__cause__, BadRequestError)
    assert "bad" in str(caught.value)
    assert waits == []


async def test_timeouts_on_every_attempt_raise_delivery_error_caused_by_a_timeout(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    httpx_mock.add_exception(
        httpx.ReadTimeout("slow"), method="POST", url=FIREHOSE, is_reusable=True
    )
    hull = make_client(waits)
    await hull.as_user({"id": "u1"}).traits({"a": 1})

    with pytest.raises(DeliveryError) as caught:
        await hull.flush()

    assert isinstance(caught.value.__cause__, APITimeoutError)
    await hull.close()


async def test_an_automatic_post_failure_is_kept_for_the_next_flush(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    for _ in range(RETRY.max_attempts):
        httpx_mock.add_response(method="POST", url=FIREHOSE, status_code=502)
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})
    # One post at a time: the third message must not take a 502 meant for the first batch.
    hull = make_client(waits, flush_at=2, max_in_flight=1)
    user = hull.as_user({"id": "u1"})

    lost = [
        await user.traits({"n": 1}),
        await user.traits({"n": 2}),
    ]  # the automatic post fails, quietly
    delivered = await user.traits({"n": 3})

    with pytest.raises(DeliveryError) as caught:
        await hull.flush()

    assert [m["requestId"] for m in caught.value.undelivered] == lost
    assert [m["requestId"] for m in body(httpx_mock.get_requests()[-1])["batch"]] == [delivered]
    await hull.flush()  # reported once: the next flush starts afresh
    await hull.close()


async def test_undelivered_messages_can_be_requeued_unchanged(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, status_code=400)
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})
    hull = make_client(waits)
    await hull.as_user({"id": "u1"}).track("Opened", event_id="e-1")
    with pytest.raises(DeliveryError) as caught:
        await hull.flush()

    await hull.requeue(caught.value.undelivered)
    await hull.close()

    failed, resent = httpx_mock.get_requests()
    assert body(resent)["batch"] == body(failed)["batch"]


async def test_a_transport_bug_fails_the_batch_instead_of_leaving_callers_waiting(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    httpx_mock.add_exception(RuntimeError("transport bug"), method="POST", url=FIREHOSE)
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})
    hull = make_client(waits, flush_at=2)
    user = hull.as_user({"id": "u1"})
    sent = [await user.traits({"n": 1}), await user.traits({"n": 2})]

    with pytest.raises(DeliveryError) as caught:
        await hull.flush()

    assert [m["requestId"] for m in caught.value.undelivered] == sent
    assert isinstance(caught.value.__cause__, APIConnectionError)
    assert "RuntimeError" in str(caught.value)
    await hull.requeue(caught.value.undelivered)
    await hull.close()
    resent = body(httpx_mock.get_requests()[-1])["batch"]
    assert [m["requestId"] for m in resent] == sent


async def test_context_exit_flushes_even_when_the_block_raised(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})

    async def write_then_fail() -> None:
        async with make_client(waits) as hull:
            await hull.as_user({"id": "u1"}).traits({"a": 1})
            raise KeyError("caller's own failure")

    with pytest.raises(KeyError):
        await write_then_fail()

    assert len(httpx_mock.get_requests()) == 1


async def test_put_status_sends_the_exact_rest_request(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    url = f"https://{ORGANIZATION}/api/v1/{CONNECTOR_ID}/status"
    httpx_mock.add_response(method="PUT", url=url, json={})

    async with make_client(waits) as hull:
        await hull.put_status("warning", ["No users will be synchronized"])

    request = httpx_mock.get_request()
    assert request is not None
    assert request.method == "PUT"
    assert str(request.url) == url
    assert_hull_headers(request)
    assert body(request) == {"status": "warning", "messages": ["No users will be synchronized"]}


async def test_api_returns_parsed_json_and_honours_api_url(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    httpx_mock.add_response(
        method="GET", url="http://localhost:8080/api/v1/app?fields=id", json={"id": "x"}
    )

    async with make_client(waits, api_url="http://localhost:8080/") as hull:
        answer = await hull.api("get", "/app", params={"fields": "id"})

    assert answer == {"id": "x"}
    request = httpx_mock.get_request()
    assert request is not None
    assert_hull_headers(request)


async def test_firehose_url_override(httpx_mock: HTTPXMock, waits: list[float]) -> None:
    httpx_mock.add_response(method="POST", url="http://localhost:9000/firehose", json={})

    async with make_client(waits, firehose_url="http://localhost:9000/firehose") as hull:
        await hull.as_user({"id": "u1"}).traits({"a": 1})


async def test_a_rest_error_is_typed_and_keeps_the_secret_out(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    url = f"https://{ORGANIZATION}/api/v1/missing"
    httpx_mock.add_response(method="GET", url=url, status_code=404, json={"message": "Not found"})

    async with make_client(waits) as hull:
        with pytest.raises(NotFoundError) as caught:
            await hull.api("GET", "missing")

    assert caught.value.service == "hull"
    assert caught.value.url == url
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)


async def test_repr_hides_the_secret_and_the_token(waits: list[float]) -> None:
    async with make_client(waits) as hull:
        user = hull.as_user({"email": "ann@example.com"})
        token = hull.user_token({"email": "ann@example.com"})

        assert SECRET not in repr(hull)
        assert CONNECTOR_ID in repr(hull)
        assert repr(user) == "AsyncHullUserScope(claims=['email'])"
        assert token not in repr(user)


async def test_an_injected_http_client_is_used_and_left_open(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})
    async with httpx.AsyncClient() as http:
        async with make_client(waits, http_client=http) as hull:
            await hull.as_user({"id": "u1"}).traits({"a": 1})

        assert not http.is_closed


async def test_a_closed_client_refuses_writes(waits: list[float]) -> None:
    hull = make_client(waits)
    user = hull.as_user({"id": "u1"})
    await hull.close()
    await hull.close()  # closing twice is fine

    with pytest.raises(RuntimeError, match="closed"):
        await user.traits({"a": 1})


async def test_an_invalid_write_raises_when_called_and_queues_nothing(waits: list[float]) -> None:
    async with make_client(waits) as hull:
        user = hull.as_user({"id": "u1"})
        account = hull.as_account({"domain": "example.com"})

        with pytest.raises(ValidationError, match="event must be a non-blank string"):
            user.track(" ")  # raised by the call itself: no awaitable is left behind
        with pytest.raises(ValidationError, match="trait names"):
            account.traits({"": 1})

        assert hull.pending == 0


async def test_writes_from_many_tasks_are_each_delivered_once(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={}, is_reusable=True)
    hull = make_client(waits, flush_at=7)

    async def write(worker: int) -> list[str]:
        user = hull.as_user({"id": f"u{worker}"})
        return [await user.traits({"n": n}) for n in range(25)]

    written = await asyncio.gather(*(write(w) for w in range(8)))
    await hull.close()

    ids = [request_id for batch in written for request_id in batch]
    sent = [m["requestId"] for r in httpx_mock.get_requests() for m in body(r)["batch"]]
    assert sorted(sent) == sorted(ids)
    assert len(set(sent)) == 200
    assert all(len(body(r)["batch"]) <= 7 for r in httpx_mock.get_requests())


async def test_aclose_is_close(httpx_mock: HTTPXMock, waits: list[float]) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})
    hull = make_client(waits)
    await hull.as_user({"id": "u1"}).traits({"a": 1})

    await hull.aclose()

    assert len(httpx_mock.get_requests()) == 1
    with pytest.raises(RuntimeError, match="closed"):
        await hull.flush()
