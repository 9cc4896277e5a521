"""SPEC §7.1 in the Hull clients: delivery tickets, no lock across waits, bounded in-flight.

Each rule is tested with the sync client (threads) and mirrored with the async one (tasks).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from hull_customerio._http.retry import HULL_RETRY_STATUSES, RetryPolicy
from hull_customerio.errors import ConfigurationError, DeliveryError, ServerError
from hull_customerio.hull import AsyncHullClient, HullClient

CONNECTOR_ID = "5f1a2b3c4d5e6f7a8b9c0d1e"
SECRET = "s3cr3t-0123456789abcdef0123456789abcdef"
ORGANIZATION = "abc123.hullapp.io"
FIREHOSE = "https://firehose.hullapp.io"
RETRY = RetryPolicy(max_attempts=2, jitter=0.0, retry_statuses=HULL_RETRY_STATUSES)


def who(request: httpx.Request) -> set[str]:
    """Whose messages a firehose request carries (each test message has a ``who`` trait)."""
    return {m["body"]["who"] for m in json.loads(request.content)["batch"]}


def answering(rule: Callable[[set[str]], int]) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(rule(who(request)), json={})

    return answer


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


# -- a batch's answer reaches every ticket it carried, and only its own messages ------------


def test_a_failed_batch_is_reported_to_each_ticket_it_carried_never_to_others(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_callback(
        answering(lambda names: 503 if "a" in names else 200), url=FIREHOSE, is_reusable=True
    )
    hull = sync_client(flush_at=10)
    a, b, c = hull.delivery(), hull.delivery(), hull.delivery()
    a_id = hull.as_user({"id": "a"}, delivery=a).traits({"who": "a"})
    b_id = hull.as_user({"id": "b"}, delivery=b).traits({"who": "b"})

    assert hull.wait(a) is True  # posts a's and b's messages together
    c_id = hull.as_user({"id": "c"}, delivery=c).traits({"who": "c"})
    hull.wait(c)
    hull.wait(b)

    assert set(a.failures) == {a_id}
    assert set(b.failures) == {b_id}  # b shared a's batch: b is told too
    assert c.failures == {}
    assert c.delivered == {c_id}
    with pytest.raises(DeliveryError) as caught:
        hull.flush(a)
    assert [m["requestId"] for m in caught.value.undelivered] == [a_id]
    assert isinstance(caught.value.__cause__, ServerError)
    hull.close()  # nothing was written without a ticket: nothing to report


@pytest.mark.anyio
async def test_async_a_failed_batch_is_reported_to_each_ticket_it_carried_never_to_others(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_callback(
        answering(lambda names: 503 if "a" in names else 200), url=FIREHOSE, is_reusable=True
    )
    hull = async_client(flush_at=10)
    a, b, c = hull.delivery(), hull.delivery(), hull.delivery()
    a_id = await hull.as_user({"id": "a"}, delivery=a).traits({"who": "a"})
    b_id = await hull.as_user({"id": "b"}, delivery=b).traits({"who": "b"})

    assert await hull.wait(a) is True
    c_id = await hull.as_user({"id": "c"}, delivery=c).traits({"who": "c"})
    await hull.wait(c)
    await hull.wait(b)

    assert set(a.failures) == {a_id}
    assert set(b.failures) == {b_id}
    assert c.failures == {}
    assert c.delivered == {c_id}
    with pytest.raises(DeliveryError) as caught:
        await hull.flush(a)
    assert [m["requestId"] for m in caught.value.undelivered] == [a_id]
    await hull.close()


# -- no lock across a retry wait; in-flight requests bounded --------------------------------


def _first_try_of_x_fails() -> Callable[[set[str]], int]:
    tries: list[set[str]] = []

    def rule(names: set[str]) -> int:
        tries.append(names)
        return 503 if names == {"x"} and tries.count({"x"}) == 1 else 200

    return rule


@pytest.mark.parametrize("max_in_flight", [1, 2])
def test_no_lock_is_held_while_a_batch_waits_to_be_retried_and_in_flight_is_bounded(
    httpx_mock: HTTPXMock, max_in_flight: int
) -> None:
    httpx_mock.add_callback(answering(_first_try_of_x_fails()), url=FIREHOSE, is_reusable=True)
    sleeping, release = threading.Event(), threading.Event()

    def sleep(seconds: float) -> None:
        sleeping.set()
        release.wait(10)

    hull = sync_client(sleep=sleep, max_in_flight=max_in_flight)
    x, y = hull.delivery(), hull.delivery()
    hull.as_user({"id": "x"}, delivery=x).traits({"who": "x"})
    assert hull.wait(x, timeout=0.01) is False
    assert sleeping.wait(10)  # x's batch failed once and waits to be retried

    hull.as_user({"id": "y"}, delivery=y).traits({"who": "y"})
    delivered_meanwhile = hull.wait(y, timeout=0.5)

    # Another request goes out while x sleeps, unless the bound says one at a time.
    assert delivered_meanwhile is (max_in_flight > 1)
    assert not x.done
    release.set()
    assert hull.wait(x, timeout=10)
    assert hull.wait(y, timeout=10)
    assert x.failures == y.failures == {}
    hull.close()


@pytest.mark.anyio
@pytest.mark.parametrize("max_in_flight", [1, 2])
async def test_async_no_lock_is_held_while_a_batch_waits_to_be_retried_and_in_flight_is_bounded(
    httpx_mock: HTTPXMock, max_in_flight: int
) -> None:
    httpx_mock.add_callback(answering(_first_try_of_x_fails()), url=FIREHOSE, is_reusable=True)
    sleeping, release = asyncio.Event(), asyncio.Event()

    async def sleep(seconds: float) -> None:
        sleeping.set()
        await release.wait()

    hull = async_client(sleep=sleep, max_in_flight=max_in_flight)
    x, y = hull.delivery(), hull.delivery()
    await hull.as_user({"id": "x"}, delivery=x).traits({"who": "x"})
    assert await hull.wait(x, timeout=0.01) is False
    await asyncio.wait_for(sleeping.wait(), 10)

    await hull.as_user({"id": "y"}, delivery=y).traits({"who": "y"})
    delivered_meanwhile = await hull.wait(y, timeout=0.5)

    assert delivered_meanwhile is (max_in_flight > 1)
    assert not x.done
    release.set()
    assert await hull.wait(x, timeout=10)
    assert await hull.wait(y, timeout=10)
    assert x.failures == y.failures == {}
    await hull.close()


# -- close delivers everything, whoever's it is ----------------------------------------------


def test_close_waits_for_every_ticket_s_messages(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={}, is_reusable=True)
    hull = sync_client(flush_at=3)
    ticket = hull.delivery()
    for n in range(7):
        hull.as_user({"id": f"u{n}"}, delivery=ticket).traits({"who": str(n)})

    hull.close()

    assert ticket.done
    assert len(ticket.delivered) == 7


@pytest.mark.anyio
async def test_async_close_waits_for_every_ticket_s_messages(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={}, is_reusable=True)
    hull = async_client(flush_at=3)
    ticket = hull.delivery()
    for n in range(7):
        await hull.as_user({"id": f"u{n}"}, delivery=ticket).traits({"who": str(n)})

    await hull.close()

    assert ticket.done
    assert len(ticket.delivered) == 7


# -- wrong credentials are remembered until Hull accepts again ------------------------------


def test_a_401_is_kept_as_the_credentials_error_until_a_batch_is_accepted(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, status_code=401, json={})
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})
    hull = sync_client()
    first, second = hull.delivery(), hull.delivery()
    hull.as_user({"id": "u"}, delivery=first).traits({"who": "u"})
    hull.wait(first)

    assert hull.credentials_error is not None
    assert hull.credentials_error.status_code == 401
    assert len(first.failures) == 1  # not retried: the same credentials would fail again
    hull.as_user({"id": "u"}, delivery=second).traits({"who": "u"})
    hull.wait(second)
    assert hull.credentials_error is None
    hull.close()


@pytest.mark.anyio
async def test_async_a_401_is_kept_as_the_credentials_error_until_a_batch_is_accepted(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, status_code=403, json={})
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})
    hull = async_client()
    first, second = hull.delivery(), hull.delivery()
    await hull.as_user({"id": "u"}, delivery=first).traits({"who": "u"})
    await hull.wait(first)

    assert hull.credentials_error is not None
    assert hull.credentials_error.status_code == 403
    await hull.as_user({"id": "u"}, delivery=second).traits({"who": "u"})
    await hull.wait(second)
    assert hull.credentials_error is None
    await hull.close()


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_max_in_flight_must_be_a_positive_integer(bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="max_in_flight"):
        sync_client(max_in_flight=bad)
    with pytest.raises(ConfigurationError, match="max_in_flight"):
        async_client(max_in_flight=bad)


def test_a_wait_on_a_client_shut_by_an_interrupt_raises_instead_of_hanging(
    httpx_mock: HTTPXMock,
) -> None:
    hull = sync_client()
    ticket = hull.delivery()
    hull.as_user({"id": "u"}, delivery=ticket).traits({"who": "u"})
    hull._shut()  # what leaving the context on KeyboardInterrupt does

    with pytest.raises(RuntimeError, match="closed"):
        hull.wait(ticket)


# -- post_pending sends a partial batch without waiting (issue 16) ---------------------------


def test_post_pending_starts_posting_a_partial_batch_without_waiting(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})
    hull = sync_client(flush_at=10)
    ticket = hull.delivery()
    for n in range(2):
        hull.as_user({"id": f"u{n}"}, delivery=ticket).traits({"who": str(n)})
    assert httpx_mock.get_requests() == []  # under flush_at: nothing goes out by itself

    hull.post_pending()
    for _ in range(500):  # the post runs on its own thread: never wait() here, it posts too
        if ticket.done:
            break
        time.sleep(0.01)

    assert ticket.done
    (request,) = httpx_mock.get_requests()
    assert who(request) == {"0", "1"}
    hull.close()


@pytest.mark.anyio
async def test_async_post_pending_starts_posting_a_partial_batch_without_waiting(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(method="POST", url=FIREHOSE, json={})
    hull = async_client(flush_at=10)
    ticket = hull.delivery()
    for n in range(2):
        await hull.as_user({"id": f"u{n}"}, delivery=ticket).traits({"who": str(n)})
    await asyncio.sleep(0)
    assert httpx_mock.get_requests() == []

    await hull.post_pending()
    for _ in range(200):  # the post runs in its own task: give it turns, never wait() here
        if ticket.done:
            break
        await asyncio.sleep(0.01)

    assert ticket.done
    (request,) = httpx_mock.get_requests()
    assert who(request) == {"0", "1"}
    await hull.close()


def test_post_pending_on_a_closed_client_is_refused() -> None:
    hull = sync_client()
    hull.close()

    with pytest.raises(RuntimeError, match="closed"):
        hull.post_pending()


def test_with_nobody_waiting_a_poster_does_not_post_a_partial_batch(
    httpx_mock: HTTPXMock,
) -> None:
    release = threading.Event()

    def slow(request: httpx.Request) -> httpx.Response:
        release.wait(10)
        return httpx.Response(200, json={})

    httpx_mock.add_callback(slow, url=FIREHOSE, is_reusable=True)
    hull = sync_client(flush_at=3, max_in_flight=1)
    ticket = hull.delivery()
    for n in range(4):  # three make a full batch, posted at once; the fourth trickles in
        hull.as_user({"id": f"u{n}"}, delivery=ticket).traits({"who": str(n)})
    release.set()
    for _ in range(100):  # the first post settles...
        if len(ticket.delivered) == 3:
            break
        time.sleep(0.01)
    time.sleep(0.1)

    # ...and its poster stops: one message is no full batch and nobody waits for it.
    assert len(httpx_mock.get_requests()) == 1
    assert hull.pending == 1
    assert hull.wait(ticket, timeout=5)  # a waiter sends it
    assert [who(r) for r in httpx_mock.get_requests()] == [{"0", "1", "2"}, {"3"}]
    hull.close()
