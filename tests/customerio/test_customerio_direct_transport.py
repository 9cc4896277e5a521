"""A client that makes its own HTTP client sends straight to its transport (issue 16).

What goes on the wire must be what ``httpx.Client.request`` sent before: the same headers,
credentials and timeout, the same retries, Retry-After waits, redirect vetting and errors.
Each test runs with the sync and the async client (the ``flavour`` fixture); the loopback
tests use the project's fake over a real socket, so the asyncio network backend is under them.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from hull_customerio import RetryPolicy
from hull_customerio.customerio import _base
from hull_customerio.errors import APIConnectionError, APIStatusError, APITimeoutError
from hull_customerio.testing import FakeCustomerIO

SITE_ID = "site-123"
API_KEY = "key-TOP-SECRET-987"
AUTHORIZATION = "Basic " + base64.b64encode(f"{SITE_ID}:{API_KEY}".encode()).decode()
US = "https://track.customer.io"

Runner = Any  # conftest.Runner: a client of either flavour with synchronous methods

NO_WAIT_RETRY = RetryPolicy(max_attempts=3, initial_backoff=0.0, jitter=0.0, max_retry_after=5)


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def fake() -> Iterator[FakeCustomerIO]:
    with FakeCustomerIO(site_id=SITE_ID, api_key=API_KEY) as running:
        yield running


def injected(flavour: str) -> Any:
    return httpx.Client() if flavour == "sync" else httpx.AsyncClient()


@pytest.mark.usefixtures("no_proxy")
@pytest.mark.parametrize(
    ("call", "arguments"),
    [("identify", ("42", {"email": "ada@example.com"})), ("delete", ("42",))],
)
def test_the_direct_path_sends_the_headers_httpx_sent(
    httpx_mock: HTTPXMock,
    make_client: Callable[..., Runner],
    flavour: str,
    call: str,
    arguments: tuple[Any, ...],
) -> None:
    httpx_mock.add_response(url=US + "/api/v1/customers/42", is_reusable=True)
    through_httpx = make_client(http_client=injected(flavour))
    direct = make_client()

    getattr(through_httpx, call)(*arguments)
    getattr(direct, call)(*arguments)

    before, after = httpx_mock.get_requests()
    assert after.headers.multi_items() == before.headers.multi_items()
    assert after.headers["Authorization"] == AUTHORIZATION
    assert (after.method, after.url, after.content) == (before.method, before.url, before.content)


@pytest.mark.usefixtures("no_proxy")
def test_the_direct_path_sends_the_client_timeout_with_each_request(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    client = make_client(timeout=httpx.Timeout(3.0, connect=1.0))
    httpx_mock.add_response(url=US + "/api/v1/customers/42")

    client.delete("42")

    assert httpx_mock.get_request().extensions["timeout"] == {
        "connect": 1.0,
        "read": 3.0,
        "write": 3.0,
        "pool": 3.0,
    }


@pytest.mark.usefixtures("no_proxy")
def test_an_answer_keeps_the_request_it_answers(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    client = make_client()
    httpx_mock.add_response(url=US + "/api/v1/accounts/region", json={"region": "eu"})

    response = client._send(_base.region_request())

    assert response.request.url == US + "/api/v1/accounts/region"
    assert response.json() == {"region": "eu"}


# -- over loopback ---------------------------------------------------------------------------


@pytest.mark.usefixtures("no_proxy")
def test_a_503_then_a_429_are_retried_and_retry_after_is_honoured(
    fake: FakeCustomerIO, make_client: Callable[..., Runner]
) -> None:
    fake.fail_next(503)
    fake.fail_next(429, retry_after=2)
    client = make_client(base_url=fake.url, retry=NO_WAIT_RETRY)

    client.identify("42", {"email": "ada@example.com"})

    assert [r.status for r in fake.requests] == [503, 429, 200]
    assert client.sleeps == [0.0, 2.0]
    assert fake.people == {"42": {"email": "ada@example.com"}}
    assert fake.requests[-1].headers["Authorization"] == AUTHORIZATION


@pytest.mark.usefixtures("no_proxy")
def test_a_dropped_connection_is_retried(
    fake: FakeCustomerIO, make_client: Callable[..., Runner]
) -> None:
    fake.fail_next("disconnect")
    client = make_client(base_url=fake.url, retry=NO_WAIT_RETRY)

    client.track("42", "Order Completed", {"total": 10})

    assert [r.status for r in fake.requests] == [None, 200]
    assert len(fake.events) == 1


@pytest.mark.usefixtures("no_proxy")
def test_no_answer_in_time_is_a_timeout_error(
    fake: FakeCustomerIO, make_client: Callable[..., Runner]
) -> None:
    fake.hang_seconds = 2.0
    fake.fail_next("timeout")
    client = make_client(base_url=fake.url, retry=RetryPolicy(max_attempts=1), timeout=0.1)

    with pytest.raises(APITimeoutError) as raised:
        client.delete("ada@example.com")

    assert raised.value.attempts == 1
    assert "ada@example.com" not in str(raised.value)


@pytest.mark.usefixtures("no_proxy")
def test_a_final_error_status_is_raised_at_once(
    fake: FakeCustomerIO, make_client: Callable[..., Runner]
) -> None:
    fake.fail_next(400)
    client = make_client(base_url=fake.url, retry=NO_WAIT_RETRY)

    with pytest.raises(APIStatusError) as raised:
        client.identify("42", {"email": "ada@example.com"})

    assert raised.value.status_code == 400
    assert raised.value.attempts == 1
    assert len(fake.requests) == 1


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.usefixtures("no_proxy")
def test_an_unreachable_host_is_a_connection_error_after_every_attempt(
    make_client: Callable[..., Runner],
) -> None:
    client = make_client(base_url=f"http://127.0.0.1:{closed_port()}", retry=NO_WAIT_RETRY)

    with pytest.raises(APIConnectionError) as raised:
        client.identify("42", {"email": "ada@example.com"})

    assert raised.value.attempts == 3
    assert API_KEY not in str(raised.value)
    assert "ada@example.com" not in str(raised.value)


def test_a_proxy_named_by_the_environment_is_used(
    fake: FakeCustomerIO, make_client: Callable[..., Runner], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    proxy = f"http://127.0.0.1:{closed_port()}"  # nothing listens there
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    client = make_client(base_url=fake.url, retry=RetryPolicy(max_attempts=1))

    with pytest.raises(APIConnectionError):
        client.delete("42")

    assert fake.requests == []  # the request went to the proxy, not straight to the fake
