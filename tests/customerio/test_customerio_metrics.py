"""Issue #17: the Customer.io clients count every HTTP request they send, sync and async.

One `ship.service_api.call` and one response time per request: each retry and each redirect
hop is a request. The endpoint tag never holds a customer id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from hull_customerio._http.retry import RetryPolicy
from hull_customerio.errors import APIConnectionError, BadRequestError
from hull_customerio.metrics import SERVICE_API_CALL, SERVICE_API_RESPONSE_TIME, InMemoryMetrics

US = "https://track.customer.io"
EU = "https://track-eu.customer.io"
Runner = Any


def calls(metrics: InMemoryMetrics) -> list[tuple[str, str, str, str]]:
    """``(method, endpoint, status, status_group)`` of every counted request, sorted."""
    found = []
    for (name, key), value in metrics.counters.items():
        assert name in {SERVICE_API_CALL}
        tags = dict(key)
        assert tags["service"] == "customerio"
        found += [(tags["method"], tags["endpoint"], tags["status"], tags["status_group"])] * int(
            value
        )
    return sorted(found)


@pytest.mark.parametrize(
    ("call", "method", "url", "endpoint"),
    [
        (lambda c: c.identify("42 a/b", {"x": 1}), "PUT", "/api/v1/customers/42%20a%2Fb",
         "/api/v1/customers/{id}"),
        (lambda c: c.delete("42"), "DELETE", "/api/v1/customers/42", "/api/v1/customers/{id}"),
        (lambda c: c.track("42", "e"), "POST", "/api/v1/customers/42/events",
         "/api/v1/customers/{id}/events"),
        (lambda c: c.track_page("42", "https://x.test/p"), "POST", "/api/v1/customers/42/events",
         "/api/v1/customers/{id}/events"),
        (lambda c: c.track_anonymous("anon-1", "e"), "POST", "/api/v1/events", "/api/v1/events"),
        (lambda c: c.suppress("42"), "POST", "/api/v1/customers/42/suppress",
         "/api/v1/customers/{id}/suppress"),
        (lambda c: c.unsuppress("42"), "POST", "/api/v1/customers/42/unsuppress",
         "/api/v1/customers/{id}/unsuppress"),
        (lambda c: c.merge({"id": "1"}, {"id": "2"}), "POST", "/api/v1/merge_customers",
         "/api/v1/merge_customers"),
        (lambda c: c.check_credentials(), "GET", "/api/v1/accounts/region",
         "/api/v1/accounts/region"),
        (lambda c: c.batch([{"type": "person", "action": "delete",
                             "identifiers": {"id": "42"}}]), "POST", "/api/v2/batch",
         "/api/v2/batch"),
    ],
)  # fmt: skip
def test_each_request_is_counted_under_its_endpoint_template(
    httpx_mock: HTTPXMock,
    make_client: Callable[..., Runner],
    call: Callable[[Any], Any],
    *,
    method: str,
    url: str,
    endpoint: str,
) -> None:
    metrics = InMemoryMetrics()
    client = make_client(metrics=metrics)
    httpx_mock.add_response(method=method, url=US + url, json={"region": "us"})

    call(client)

    assert calls(metrics) == [(method, endpoint, "200", "2xx")]
    (seconds,) = metrics.timings(SERVICE_API_RESPONSE_TIME, endpoint=endpoint, status="200")
    assert seconds >= 0


def test_every_retry_is_a_request_and_the_last_answer_counts_too(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    metrics = InMemoryMetrics()
    client = make_client(metrics=metrics)
    httpx_mock.add_response(method="PUT", status_code=503)
    httpx_mock.add_response(method="PUT", status_code=429)
    httpx_mock.add_response(method="PUT", status_code=200)

    client.identify("42", {})

    endpoint = "/api/v1/customers/{id}"
    assert calls(metrics) == [
        ("PUT", endpoint, "200", "2xx"),
        ("PUT", endpoint, "429", "4xx"),
        ("PUT", endpoint, "503", "5xx"),
    ]
    assert len(metrics.timings(SERVICE_API_RESPONSE_TIME)) == 3


def test_a_refused_request_is_counted_once_with_its_status(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    metrics = InMemoryMetrics()
    client = make_client(metrics=metrics)
    httpx_mock.add_response(method="POST", status_code=400, json={"meta": {"error": "bad"}})

    with pytest.raises(BadRequestError):
        client.track("42", "e")

    assert calls(metrics) == [("POST", "/api/v1/customers/{id}/events", "400", "4xx")]


def test_no_answer_is_counted_as_status_error(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    metrics = InMemoryMetrics()
    client = make_client(metrics=metrics, retry=RetryPolicy(max_attempts=2))
    httpx_mock.add_exception(httpx.ConnectError("refused"), is_reusable=True)

    with pytest.raises(APIConnectionError):
        client.delete("42")

    assert calls(metrics) == [("DELETE", "/api/v1/customers/{id}", "error", "error")] * 2


def test_each_redirect_hop_is_a_request(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    metrics = InMemoryMetrics()
    client = make_client(metrics=metrics)
    httpx_mock.add_response(
        method="DELETE", url=US + "/api/v1/customers/7", status_code=307,
        headers={"Location": EU + "/api/v1/customers/7"},
    )  # fmt: skip
    httpx_mock.add_response(method="DELETE", url=EU + "/api/v1/customers/7")

    client.delete("7")

    endpoint = "/api/v1/customers/{id}"
    assert calls(metrics) == [
        ("DELETE", endpoint, "200", "2xx"),
        ("DELETE", endpoint, "307", "3xx"),
    ]


def test_a_client_without_metrics_reports_nowhere(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    client = make_client()
    httpx_mock.add_response(method="DELETE")

    client.delete("7")

    assert repr(client.client.metrics) == "NullMetrics()"
