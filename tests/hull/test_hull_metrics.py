"""Issue #17: the Hull clients count every HTTP request they send, sync and async alike.

Firehose posts are reported under the endpoint ``firehose``; REST calls under their path with
ids replaced by ``{id}``. Each retry is one more request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from hull_customerio._http.retry import HULL_RETRY_STATUSES, RetryPolicy
from hull_customerio.errors import APIConnectionError
from hull_customerio.hull import AsyncHullClient, HullClient
from hull_customerio.hull._base import rest_endpoint
from hull_customerio.metrics import SERVICE_API_CALL, SERVICE_API_RESPONSE_TIME, InMemoryMetrics

CONNECTOR_ID = "5f1a2b3c4d5e6f7a8b9c0d1e"
SECRET = "s3cr3t-0123456789abcdef0123456789abcdef"
ORGANIZATION = "abc123.hullapp.io"
RETRY = RetryPolicy(max_attempts=3, jitter=0.0, retry_statuses=HULL_RETRY_STATUSES)


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def drive(flavour: str, metrics: InMemoryMetrics, action: Callable[[Any], Any]) -> None:
    """``action(client)`` on a client of the flavour, then close it (which flushes)."""
    if flavour == "sync":
        with HullClient(
            CONNECTOR_ID, SECRET, ORGANIZATION, retry=RETRY, sleep=lambda s: None, metrics=metrics
        ) as client:
            action(client)
        return

    async def no_wait(seconds: float) -> None:
        return None

    async def main() -> None:
        client = AsyncHullClient(
            CONNECTOR_ID, SECRET, ORGANIZATION, retry=RETRY, sleep=no_wait, metrics=metrics
        )
        try:
            await action(client)
        finally:
            await client.close()

    asyncio.run(main())


def calls(metrics: InMemoryMetrics) -> list[tuple[str, str, str, str]]:
    found = []
    for (name, key), value in metrics.counters.items():
        assert name == SERVICE_API_CALL
        tags = dict(key)
        assert tags["service"] == "hull"
        row = (tags["method"], tags["endpoint"], tags["status"], tags["status_group"])
        found += [row] * int(value)
    return sorted(found)


def test_a_firehose_post_and_its_retries_are_counted(flavour: str, httpx_mock: HTTPXMock) -> None:
    metrics = InMemoryMetrics()
    httpx_mock.add_response(method="POST", status_code=503)
    httpx_mock.add_response(method="POST", json={})

    def action(client: Any) -> Any:
        return client.as_user({"id": "u1"}).traits({"a": 1})

    drive(flavour, metrics, action)

    assert calls(metrics) == [
        ("POST", "firehose", "200", "2xx"),
        ("POST", "firehose", "503", "5xx"),
    ]
    assert len(metrics.timings(SERVICE_API_RESPONSE_TIME, endpoint="firehose")) == 2


def test_rest_calls_are_counted_under_their_path_template(
    flavour: str, httpx_mock: HTTPXMock
) -> None:
    metrics = InMemoryMetrics()
    httpx_mock.add_response(method="GET", url=f"https://{ORGANIZATION}/api/v1/app", json={})
    httpx_mock.add_response(
        method="PUT", url=f"https://{ORGANIZATION}/api/v1/{CONNECTOR_ID}/status", json={}
    )

    async def both_async(client: AsyncHullClient) -> None:
        await client.api("GET", "app")
        await client.put_status("ok", [])

    def action(client: Any) -> Any:
        if isinstance(client, AsyncHullClient):
            return both_async(client)
        client.api("GET", "app")
        client.put_status("ok", [])
        return None

    drive(flavour, metrics, action)

    assert calls(metrics) == [
        ("GET", "/api/v1/app", "200", "2xx"),
        ("PUT", "/api/v1/{id}/status", "200", "2xx"),
    ]


def test_no_answer_is_counted_as_status_error(flavour: str, httpx_mock: HTTPXMock) -> None:
    metrics = InMemoryMetrics()
    httpx_mock.add_exception(httpx.ConnectError("refused"), is_reusable=True)

    async def call_async(client: AsyncHullClient) -> None:
        await client.api("GET", "app", retry=False)

    def action(client: Any) -> Any:
        if isinstance(client, AsyncHullClient):
            return call_async(client)
        return client.api("GET", "app", retry=False)

    with pytest.raises(APIConnectionError):
        drive(flavour, metrics, action)

    assert calls(metrics) == [("GET", "/api/v1/app", "error", "error")]


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("app", "/api/v1/app"),
        ("/app/", "/api/v1/app"),
        (f"{CONNECTOR_ID}/status", "/api/v1/{id}/status"),
        ("users/5c8a1f2e3b4d5e6f7a8b9c01/traits", "/api/v1/users/{id}/traits"),
        ("segments?limit=10", "/api/v1/segments"),
        ("search/user_reports", "/api/v1/search/user_reports"),
        ("users/u42", "/api/v1/users/{id}"),
    ],
)
def test_rest_endpoints_name_no_record(path: str, endpoint: str) -> None:
    assert rest_endpoint(path, CONNECTOR_ID) == endpoint
