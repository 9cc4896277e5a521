"""Redirects and the credential check (SPEC §6.1, issue 15), sync and async alike.

Customer.io redirects an EU workspace's traffic sent to the US host. The client follows a
301/302/307/308 only to an https host under ``customer.io``, with the credentials and the same
method and body, and sends there from then on; any other redirect is an error and its target
never sees a request.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from hull_customerio._http.retry import RetryPolicy
from hull_customerio.customerio import (
    AsyncCustomerIOClient,
    CustomerIOClient,
    _base,
    delete_operation,
)
from hull_customerio.errors import APIStatusError

SITE_ID = "site-123"
API_KEY = "key-TOP-SECRET-987"
AUTHORIZATION = "Basic " + base64.b64encode(f"{SITE_ID}:{API_KEY}".encode()).decode()
US = "https://track.customer.io"
EU = "https://track-eu.customer.io"
REGION_PATH = "/api/v1/accounts/region"

Runner = Any


def _sent(httpx_mock: HTTPXMock) -> list[tuple[str, str, bytes, str | None]]:
    return [
        (r.method, str(r.url), r.content, r.headers.get("Authorization"))
        for r in httpx_mock.get_requests()
    ]


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_track_eu_is_followed_with_credentials_and_remembered(
    httpx_mock: HTTPXMock, client: Runner, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    httpx_mock.add_response(
        method="PUT",
        url=US + "/api/v1/customers/42",
        status_code=status,
        headers={"Location": EU + "/api/v1/customers/42"},
    )
    httpx_mock.add_response(method="PUT", url=EU + "/api/v1/customers/42")
    httpx_mock.add_response(method="POST", url=EU + "/api/v1/customers/42/events")
    httpx_mock.add_response(method="DELETE", url=EU + "/api/v1/customers/7")

    with caplog.at_level(logging.INFO, logger="hull_customerio"):
        client.identify("42", {"email": "a@example.com"})
        client.track("42", "signed_up", {"plan": "pro"})
        client.delete("7")

    body = json.dumps({"email": "a@example.com"}, separators=(",", ":")).encode()
    sent = _sent(httpx_mock)
    assert sent[0] == ("PUT", US + "/api/v1/customers/42", body, AUTHORIZATION)
    # Same method, same body, credentials kept on Customer.io's own host.
    assert sent[1] == ("PUT", EU + "/api/v1/customers/42", body, AUTHORIZATION)
    # Later calls go straight to the EU host.
    assert [(m, u) for m, u, _, _ in sent[2:]] == [
        ("POST", EU + "/api/v1/customers/42/events"),
        ("DELETE", EU + "/api/v1/customers/7"),
    ]
    assert all(auth == AUTHORIZATION for _, _, _, auth in sent)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert 'region="eu"' in warnings[0].getMessage()
    assert API_KEY not in caplog.text


def test_a_relative_redirect_on_the_same_host_is_followed(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    httpx_mock.add_response(
        method="DELETE",
        url=US + "/api/v1/customers/1",
        status_code=308,
        headers={"Location": "/api/v1/customers/1?moved=1"},
    )
    httpx_mock.add_response(method="DELETE", url=US + "/api/v1/customers/1?moved=1")

    client.delete("1")

    assert [(m, u) for m, u, _, _ in _sent(httpx_mock)][-1] == (
        "DELETE",
        US + "/api/v1/customers/1?moved=1",
    )


@pytest.mark.parametrize(
    "location",
    [
        "https://evil.example.com/api/v1/customers/42",
        "https://customer.io.evil.example.com/api/v1/customers/42",
        "https://evilcustomer.io/api/v1/customers/42",
        "http://track-eu.customer.io/api/v1/customers/42",
        "ftp://track-eu.customer.io/x",
    ],
)
def test_a_redirect_elsewhere_is_refused_and_nothing_is_sent_there(
    httpx_mock: HTTPXMock, client: Runner, location: str
) -> None:
    httpx_mock.add_response(
        method="PUT",
        url=US + "/api/v1/customers/42",
        status_code=307,
        headers={"Location": location},
    )

    with pytest.raises(APIStatusError) as caught:
        client.identify("42", {"email": "a@example.com"})

    assert caught.value.status_code == 307
    assert "refused" in str(caught.value)
    assert API_KEY not in str(caught.value)
    # Only the original request went out; pytest-httpx (strict) would fail on any other.
    assert [u for _, u, _, _ in _sent(httpx_mock)] == [US + "/api/v1/customers/42"]


def test_a_refused_redirect_is_not_remembered(httpx_mock: HTTPXMock, client: Runner) -> None:
    httpx_mock.add_response(
        url=US + "/api/v1/customers/1", status_code=302, headers={"Location": "https://x.io/"}
    )
    httpx_mock.add_response(url=US + "/api/v1/customers/2")

    with pytest.raises(APIStatusError):
        client.delete("1")
    client.delete("2")

    assert [u for _, u, _, _ in _sent(httpx_mock)] == [
        US + "/api/v1/customers/1",
        US + "/api/v1/customers/2",
    ]


def test_a_redirect_without_location_is_an_error(httpx_mock: HTTPXMock, client: Runner) -> None:
    httpx_mock.add_response(url=US + "/api/v1/customers/1", status_code=301)

    with pytest.raises(APIStatusError, match="without a Location"):
        client.delete("1")


def test_a_redirect_loop_stops(httpx_mock: HTTPXMock, client: Runner) -> None:
    httpx_mock.add_response(
        url=US + "/api/v1/customers/1",
        status_code=307,
        headers={"Location": US + "/api/v1/customers/1"},
        is_reusable=True,
    )

    with pytest.raises(APIStatusError, match="more than 3 redirects"):
        client.delete("1")
    assert len(httpx_mock.get_requests()) == _base.MAX_REDIRECTS + 1


def test_a_redirected_batch_resends_the_same_body(httpx_mock: HTTPXMock, client: Runner) -> None:
    httpx_mock.add_response(
        method="POST",
        url=US + "/api/v2/batch",
        status_code=307,
        headers={"Location": EU + "/api/v2/batch"},
    )
    httpx_mock.add_response(method="POST", url=EU + "/api/v2/batch", json={})

    result = client.batch([delete_operation("1")])

    first, second = httpx_mock.get_requests()
    assert result.errors == {}
    assert (
        first.content
        == second.content
        == b'{"batch":[' + _base.dumps(delete_operation("1")) + b"]}"
    )


def test_an_injected_client_that_follows_redirects_is_still_vetted(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner], flavour: str
) -> None:
    http: Any = (
        httpx.Client(follow_redirects=True)
        if flavour == "sync"
        else httpx.AsyncClient(follow_redirects=True)
    )
    client = make_client(http_client=http)
    httpx_mock.add_response(
        url=US + "/api/v1/customers/1", status_code=307, headers={"Location": "https://x.io/"}
    )

    with pytest.raises(APIStatusError):
        client.delete("1")
    assert len(httpx_mock.get_requests()) == 1


def test_retries_after_a_redirect_go_to_the_new_host(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=2))
    httpx_mock.add_response(
        url=US + "/api/v1/customers/1",
        status_code=307,
        headers={"Location": EU + "/api/v1/customers/1"},
    )
    httpx_mock.add_response(url=EU + "/api/v1/customers/1", status_code=503)
    httpx_mock.add_response(url=EU + "/api/v1/customers/1")

    client.delete("1")

    assert [u for _, u, _, _ in _sent(httpx_mock)] == [
        US + "/api/v1/customers/1",
        EU + "/api/v1/customers/1",
        EU + "/api/v1/customers/1",
    ]


def test_check_credentials_uses_the_documented_region_endpoint(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    client = make_client(region="auto")
    # Customer.io's documented answer of GET /api/v1/accounts/region.
    httpx_mock.add_response(
        method="GET",
        url=US + REGION_PATH,
        json={"url": "https://track-eu.customer.io", "region": "eu", "environment_id": 12345},
    )

    assert client.check_credentials() is True
    # The answer settled the region: no second question.
    assert client.resolve_region() == "eu"
    assert len(httpx_mock.get_requests()) == 1


@pytest.mark.parametrize(
    ("location", "allowed"),
    [
        ("https://track-eu.customer.io/x", True),
        ("https://customer.io/x", True),
        ("https://TRACK-EU.Customer.IO/x", True),
        ("https://track.customer.io.attacker.net/x", False),
        ("https://attackercustomer.io/x", False),
        ("http://track-eu.customer.io/x", False),
        ("//evil.example/x", False),
    ],
)
def test_redirect_target_allows_only_https_customerio_hosts(location: str, allowed: bool) -> None:
    response = httpx.Response(307, headers={"Location": location})
    if allowed:
        assert _base.redirect_target("GET", US + "/a", response).startswith("https://")
    else:
        with pytest.raises(APIStatusError):
            _base.redirect_target("GET", US + "/a", response)


def test_origin_of_keeps_a_non_default_port() -> None:
    assert _base.origin_of("https://track-eu.customer.io/api/v1/x?y=1") == EU
    assert _base.origin_of("https://a.customer.io:8443/x") == "https://a.customer.io:8443"


def test_threads_sharing_a_client_all_follow_the_redirect_and_warn_once(
    httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    httpx_mock.add_response(
        url=US + "/api/v1/customers/1",
        status_code=307,
        headers={"Location": EU + "/api/v1/customers/1"},
        is_reusable=True,
    )
    # Every fourth EU answer is a 503 the client retries: nothing may be lost meanwhile.
    answers = iter([503, 200, 200, 200] * 50)
    lock = threading.Lock()

    def eu(request: httpx.Request) -> httpx.Response:
        with lock:
            return httpx.Response(next(answers))

    httpx_mock.add_callback(eu, url=EU + "/api/v1/customers/1", is_reusable=True)
    client = CustomerIOClient(
        SITE_ID, API_KEY, rate_limit=None, retry=RetryPolicy(max_attempts=3), sleep=lambda _: None
    )
    failures: list[BaseException] = []

    def work() -> None:
        for _ in range(5):
            try:
                client.delete("1")
            except Exception as exc:  # any failure is what the test counts
                failures.append(exc)

    with caplog.at_level(logging.WARNING, logger="hull_customerio"):
        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    client.close()

    assert failures == []
    eu_sent = [r for r in httpx_mock.get_requests() if str(r.url).startswith(EU)]
    assert all(r.headers["Authorization"] == AUTHORIZATION for r in eu_sent)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    # Once remembered, the US host is no longer asked; at most one hop per early thread.
    us_sent = [r for r in httpx_mock.get_requests() if str(r.url).startswith(US)]
    assert len(us_sent) <= 8


@pytest.mark.anyio
async def test_tasks_sharing_an_async_client_all_follow_the_redirect_and_warn_once(
    httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    httpx_mock.add_response(
        url=US + "/api/v1/customers/1",
        status_code=307,
        headers={"Location": EU + "/api/v1/customers/1"},
        is_reusable=True,
    )
    answers = iter([503, 200, 200, 200] * 50)
    httpx_mock.add_callback(
        lambda request: httpx.Response(next(answers)),
        url=EU + "/api/v1/customers/1",
        is_reusable=True,
    )

    async def no_sleep(_: float) -> None:
        return None

    failures: list[BaseException] = []
    async with AsyncCustomerIOClient(
        SITE_ID, API_KEY, rate_limit=None, retry=RetryPolicy(max_attempts=3), sleep=no_sleep
    ) as client:

        async def work() -> None:
            for _ in range(5):
                try:
                    await client.delete("1")
                except Exception as exc:  # any failure is what the test counts
                    failures.append(exc)

        with caplog.at_level(logging.WARNING, logger="hull_customerio"):
            await asyncio.gather(*(work() for _ in range(8)))

    assert failures == []
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    eu_sent = [r for r in httpx_mock.get_requests() if str(r.url).startswith(EU)]
    assert all(r.headers["Authorization"] == AUTHORIZATION for r in eu_sent)
