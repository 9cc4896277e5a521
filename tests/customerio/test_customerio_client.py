"""The Customer.io Track API client (SPEC §6, issue 3), sync and async alike.

Each test runs against both clients (see ``conftest.py``); pytest-httpx runs with its strict
defaults: every response must be requested and every request expected.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from hull_customerio._http.ratelimit import AsyncRateLimiter, RateLimiter
from hull_customerio._http.retry import RetryPolicy
from hull_customerio.customerio import (
    DEFAULT_TIMEOUT,
    AsyncCustomerIOClient,
    CustomerIOClient,
    delete_operation,
    identify_operation,
)
from hull_customerio.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
)

SITE_ID = "site-123"
API_KEY = "key-TOP-SECRET-987"
AUTHORIZATION = "Basic " + base64.b64encode(f"{SITE_ID}:{API_KEY}".encode()).decode()
US = "https://track.customer.io"
EU = "https://track-eu.customer.io"
TS = 1_700_000_000
ULID = "01HF0000000000000000000000"

Runner = Any  # conftest.Runner: a client of either flavour with synchronous methods


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


def assert_sent(
    request: httpx.Request, method: str, url: str, body: Any, *, auth: str = AUTHORIZATION
) -> None:
    assert request.method == method
    assert str(request.url) == url
    assert request.headers["Authorization"] == auth
    if body is None:
        assert request.content == b""
        assert "Content-Type" not in request.headers
    else:
        assert request.headers["Content-Type"] == "application/json"
        assert body_of(request) == body


# ------------------------------------------------------------------------ every endpoint


def endpoint(*case: Any, id: str) -> Any:
    """One row of the endpoint table: method, args, kwargs, HTTP verb, path, JSON body."""
    return pytest.param(case, id=id)


ENDPOINTS = [
    endpoint(
        "identify",
        ("42", {"email": "a@x.io", "plan": "pro", "tags": ["a"], "nested": {"k": 1}}),
        {},
        "PUT",
        "/api/v1/customers/42",
        {"email": "a@x.io", "plan": "pro", "tags": ["a"], "nested": {"k": 1}},
        id="identify",
    ),
    endpoint("delete", ("42",), {}, "DELETE", "/api/v1/customers/42", None, id="delete"),
    endpoint(
        "track",
        ("42", "Signed Up", {"plan": "pro"}),
        {"timestamp": TS, "id": ULID},
        "POST",
        "/api/v1/customers/42/events",
        {"name": "Signed Up", "data": {"plan": "pro"}, "timestamp": TS, "id": ULID},
        id="track",
    ),
    endpoint(
        "track",
        ("42", "Ping"),
        {},
        "POST",
        "/api/v1/customers/42/events",
        {"name": "Ping"},
        id="track-omits-none",
    ),
    endpoint(
        "track_page",
        ("42", "https://x.io/pricing", {"referrer": "https://g.co"}),
        {"timestamp": TS, "id": ULID},
        "POST",
        "/api/v1/customers/42/events",
        {
            "type": "page",
            "name": "https://x.io/pricing",
            "data": {"referrer": "https://g.co"},
            "timestamp": TS,
            "id": ULID,
        },
        id="track_page",
    ),
    endpoint(
        "track_page",
        ("42", "https://x.io/"),
        {},
        "POST",
        "/api/v1/customers/42/events",
        {"type": "page", "name": "https://x.io/"},
        id="track_page-omits-none",
    ),
    endpoint(
        "track_anonymous",
        ("anon-1", "Viewed", {"k": 1}),
        {"timestamp": TS, "id": ULID},
        "POST",
        "/api/v1/events",
        {"name": "Viewed", "anonymous_id": "anon-1", "data": {"k": 1}, "timestamp": TS, "id": ULID},
        id="track_anonymous",
    ),
    endpoint(
        "track_anonymous",
        ("anon-1", "https://x.io/"),
        {"type": "page"},
        "POST",
        "/api/v1/events",
        {"name": "https://x.io/", "anonymous_id": "anon-1", "type": "page"},
        id="track_anonymous-page",
    ),
    endpoint("suppress", ("42",), {}, "POST", "/api/v1/customers/42/suppress", None, id="suppress"),
    endpoint(
        "unsuppress", ("42",), {}, "POST", "/api/v1/customers/42/unsuppress", None, id="unsuppress"
    ),
    endpoint(
        "merge",
        ({"email": "a@x.io"}, {"id": "7"}),
        {},
        "POST",
        "/api/v1/merge_customers",
        {"primary": {"email": "a@x.io"}, "secondary": {"id": "7"}},
        id="merge",
    ),
]


@pytest.mark.parametrize("case", ENDPOINTS)
def test_each_endpoint_sends_the_exact_request(
    httpx_mock: HTTPXMock, client: Runner, case: tuple[Any, ...]
) -> None:
    method, args, kwargs, verb, path, body = case
    httpx_mock.add_response(method=verb, url=US + path, json={})

    assert getattr(client, method)(*args, **kwargs) is None

    assert_sent(httpx_mock.get_request(), verb, US + path, body)


def test_batch_posts_the_operations_to_v2(httpx_mock: HTTPXMock, client: Runner) -> None:
    operations = [identify_operation("42", {"plan": "pro"}), delete_operation("7")]
    httpx_mock.add_response(method="POST", url=US + "/api/v2/batch", json={})

    result = client.batch(operations)

    assert_sent(httpx_mock.get_request(), "POST", US + "/api/v2/batch", {"batch": operations})
    assert result.errors == {}
    assert result.requests == 1


REGION_PATH = "/api/v1/accounts/region"


def test_check_credentials_is_true_on_200(httpx_mock: HTTPXMock, client: Runner) -> None:
    httpx_mock.add_response(
        method="GET", url=US + REGION_PATH, json={"url": US, "region": "us", "environment_id": 1}
    )

    assert client.check_credentials() is True
    assert_sent(httpx_mock.get_request(), "GET", US + REGION_PATH, None)


def test_check_credentials_is_false_on_401(httpx_mock: HTTPXMock, client: Runner) -> None:
    httpx_mock.add_response(method="GET", url=US + REGION_PATH, status_code=401, json={})

    assert client.check_credentials() is False
    assert len(httpx_mock.get_requests()) == 1


def test_check_credentials_raises_on_other_failures(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=2))
    httpx_mock.add_response(url=US + REGION_PATH, status_code=500, is_reusable=True)

    with pytest.raises(ServerError):
        client.check_credentials()
    assert len(httpx_mock.get_requests()) == 2


@pytest.mark.parametrize("status", [200, 201, 202, 204, 207, 299])
def test_any_2xx_is_success(httpx_mock: HTTPXMock, client: Runner, status: int) -> None:
    httpx_mock.add_response(url=US + "/api/v1/customers/42", status_code=status)

    client.identify("42", {"a": 1})


# --------------------------------------------------------------------- paths and payloads


def test_path_identifier_is_encoded_as_one_segment(httpx_mock: HTTPXMock, client: Runner) -> None:
    httpx_mock.add_response(url=US + "/api/v1/customers/a%2Fb%2Bc%40x.io/events")

    client.track("a/b+c@x.io", "Ping")

    assert str(httpx_mock.get_request().url) == US + "/api/v1/customers/a%2Fb%2Bc%40x.io/events"


def test_unicode_and_spaces_in_identifiers_are_percent_encoded(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    httpx_mock.add_response(url=US + "/api/v1/customers/J%C3%BCrgen%20%3F%23%25")

    client.delete("Jürgen ?#%")


def test_datetimes_anywhere_become_unix_seconds(httpx_mock: HTTPXMock, client: Runner) -> None:
    paris = timezone(timedelta(hours=1))
    httpx_mock.add_response(url=US + "/api/v1/customers/42")

    client.identify(
        "42",
        {
            "aware": datetime(2020, 1, 1, 1, 0, 0, tzinfo=paris),
            "naive_is_utc": datetime(2020, 1, 1),  # noqa: DTZ001 - naive on purpose
            "nested": {"list": [datetime(2020, 1, 1, 0, 0, 1, 900_000, tzinfo=timezone.utc)]},
        },
    )

    assert body_of(httpx_mock.get_request()) == {
        "aware": 1577836800,
        "naive_is_utc": 1577836800,
        "nested": {"list": [1577836801]},
    }


def test_event_timestamp_may_be_a_datetime(httpx_mock: HTTPXMock, client: Runner) -> None:
    httpx_mock.add_response(url=US + "/api/v1/customers/42/events")

    client.track("42", "Ping", timestamp=datetime.fromtimestamp(TS, tz=timezone.utc))

    assert body_of(httpx_mock.get_request()) == {"name": "Ping", "timestamp": TS}


def test_empty_customer_id_is_refused_before_sending(client: Runner) -> None:
    with pytest.raises(ValidationError):
        client.identify("", {"a": 1})


def test_merge_needs_exactly_one_identifier_per_side(client: Runner) -> None:
    with pytest.raises(ValidationError):
        client.merge({"id": "1", "email": "a@x.io"}, {"id": "2"})


# ---------------------------------------------------------------------- hosts and regions


def test_eu_region_uses_the_eu_host(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    client = make_client(region="eu")
    httpx_mock.add_response(method="PUT", url=EU + "/api/v1/customers/42")

    client.identify("42", {"a": 1})

    assert_sent(httpx_mock.get_request(), "PUT", EU + "/api/v1/customers/42", {"a": 1})
    assert client.resolve_region() == "eu"


def test_base_url_overrides_the_region_host(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    client = make_client(region="eu", base_url="http://127.0.0.1:8765/")
    httpx_mock.add_response(url="http://127.0.0.1:8765/api/v1/customers/42")

    client.identify("42", {"a": 1})


def test_auto_region_is_asked_once_for_many_calls(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    client = make_client(region="auto")
    httpx_mock.add_response(
        method="GET",
        url=US + "/api/v1/accounts/region",
        json={"url": EU, "region": "eu", "environment_id": 1},
    )
    httpx_mock.add_response(method="PUT", url=EU + "/api/v1/customers/1")
    httpx_mock.add_response(method="PUT", url=EU + "/api/v1/customers/2")
    httpx_mock.add_response(method="DELETE", url=EU + "/api/v1/customers/3")

    client.identify("1", {"a": 1})
    client.identify("2", {"a": 1})
    client.delete("3")

    assert client.resolve_region() == "eu"
    requests = httpx_mock.get_requests()
    assert [(r.method, str(r.url)) for r in requests] == [
        ("GET", US + "/api/v1/accounts/region"),
        ("PUT", EU + "/api/v1/customers/1"),
        ("PUT", EU + "/api/v1/customers/2"),
        ("DELETE", EU + "/api/v1/customers/3"),
    ]
    assert_sent(requests[0], "GET", US + "/api/v1/accounts/region", None)


def test_auto_region_us(httpx_mock: HTTPXMock, make_client: Callable[..., Runner]) -> None:
    client = make_client(region="auto")
    httpx_mock.add_response(url=US + "/api/v1/accounts/region", json={"region": "us"})

    assert client.resolve_region() == "us"
    assert client.resolve_region() == "us"


def test_auto_region_with_base_url_asks_the_base_url(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    client = make_client(region="auto", base_url="http://127.0.0.1:9")
    httpx_mock.add_response(url="http://127.0.0.1:9/api/v1/accounts/region", json={"region": "eu"})
    httpx_mock.add_response(url="http://127.0.0.1:9/api/v1/customers/1")

    client.identify("1", {})

    assert client.resolve_region() == "eu"


def test_constructor_checks_its_arguments(make_client: Callable[..., Runner]) -> None:
    with pytest.raises(ConfigurationError, match="region"):
        make_client(region="mars")


# --------------------------------------------------------------------------- fault tests


def test_429_with_retry_after_waits_that_long_then_succeeds(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    url = US + "/api/v1/customers/42"
    httpx_mock.add_response(url=url, status_code=429, headers={"Retry-After": "2"})
    httpx_mock.add_response(url=url, status_code=200)

    client.identify("42", {"a": 1})

    assert client.sleeps == [2.0]
    assert len(httpx_mock.get_requests()) == 2


def test_503_on_every_attempt_raises_server_error_after_max_attempts(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=3, jitter=0))
    url = US + "/api/v1/customers/42"
    httpx_mock.add_response(url=url, status_code=503, is_reusable=True)

    with pytest.raises(ServerError) as caught:
        client.identify("42", {"a": 1})

    assert len(httpx_mock.get_requests()) == 3
    assert caught.value.attempts == 3
    assert caught.value.status_code == 503
    assert caught.value.method == "PUT"
    assert caught.value.url == url
    assert client.sleeps == [0.5, 1.0]  # exponential backoff, no jitter
    assert "after 3 attempts" in str(caught.value)


def test_400_raises_bad_request_with_customerio_message_and_no_retry(
    httpx_mock: HTTPXMock, client: Runner
) -> None:
    httpx_mock.add_response(
        url=US + "/api/v1/customers/42", status_code=400, json={"meta": {"errors": ["x"]}}
    )

    with pytest.raises(BadRequestError) as caught:
        client.identify("42", {"a": 1})

    assert "x" in str(caught.value)
    assert caught.value.errors == ["x"]
    assert caught.value.body == {"meta": {"errors": ["x"]}}
    assert caught.value.attempts == 1
    assert len(httpx_mock.get_requests()) == 1
    assert client.sleeps == []


def test_400_with_meta_error_string(httpx_mock: HTTPXMock, client: Runner) -> None:
    httpx_mock.add_response(
        url=US + "/api/v1/customers/42", status_code=400, json={"meta": {"error": "bad id"}}
    )

    with pytest.raises(BadRequestError, match="bad id"):
        client.identify("42", {"a": 1})


def test_non_json_error_body_is_kept_as_text(httpx_mock: HTTPXMock, client: Runner) -> None:
    httpx_mock.add_response(url=US + "/api/v1/customers/42", status_code=404, text="nope")

    with pytest.raises(NotFoundError) as caught:
        client.delete("42")

    assert caught.value.body == "nope"


def test_401_raises_authentication_error(httpx_mock: HTTPXMock, client: Runner) -> None:
    httpx_mock.add_response(url=US + "/api/v1/customers/42", status_code=401)

    with pytest.raises(AuthenticationError):
        client.identify("42", {"a": 1})
    assert len(httpx_mock.get_requests()) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, APIStatusError),
        (422, APIStatusError),
        (501, ServerError),
    ],
)
def test_other_statuses_are_typed_and_final(
    httpx_mock: HTTPXMock, client: Runner, status: int, error: type[APIStatusError]
) -> None:
    httpx_mock.add_response(url=US + "/api/v1/customers/42", status_code=status)

    with pytest.raises(error) as caught:
        client.delete("42")
    assert type(caught.value) is error
    assert len(httpx_mock.get_requests()) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 522, 524])
def test_retryable_statuses_are_retried(httpx_mock: HTTPXMock, client: Runner, status: int) -> None:
    httpx_mock.add_response(url=US + "/api/v1/customers/42", status_code=status)
    httpx_mock.add_response(url=US + "/api/v1/customers/42", status_code=204)

    client.delete("42")

    assert len(client.sleeps) == 1


def test_exhausted_429_raises_rate_limit_error_with_retry_after(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=2))
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "7"}, is_reusable=True)

    with pytest.raises(RateLimitError) as caught:
        client.delete("42")
    assert caught.value.retry_after == 7.0
    assert client.sleeps == [7.0]


def test_read_timeout_is_retried_then_raises_timeout_error(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=3))
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"), is_reusable=True)

    with pytest.raises(APITimeoutError) as caught:
        client.identify("42", {"a": 1})

    assert len(httpx_mock.get_requests()) == 3
    assert caught.value.attempts == 3
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert caught.value.url == US + "/api/v1/customers/42"


def test_read_timeout_then_success(httpx_mock: HTTPXMock, client: Runner) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"))
    httpx_mock.add_response(url=US + "/api/v1/customers/42")

    client.identify("42", {"a": 1})

    assert len(httpx_mock.get_requests()) == 2


def test_connection_error_is_a_connection_error_not_a_timeout(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner]
) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=2))
    httpx_mock.add_exception(httpx.ConnectError("refused"), is_reusable=True)

    with pytest.raises(APIConnectionError) as caught:
        client.delete("42")
    assert not isinstance(caught.value, APITimeoutError)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_secrets_and_request_body_never_appear_in_errors_or_logs(
    httpx_mock: HTTPXMock,
    make_client: Callable[..., Runner],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(retry=RetryPolicy(max_attempts=2))
    personal = "very-private-attribute-value"
    httpx_mock.add_response(status_code=500, json={"meta": {"error": "boom"}})
    httpx_mock.add_response(status_code=400, json={"meta": {"errors": ["bad"]}})
    httpx_mock.add_exception(httpx.ConnectError("refused"), is_reusable=True)

    failures: list[BaseException] = []
    for _ in range(2):
        try:
            client.identify("42", {"secret_attr": personal})
        except APIStatusError as exc:
            failures.append(exc)
        except APIConnectionError as exc:
            failures.append(exc)

    forbidden = [API_KEY, AUTHORIZATION, AUTHORIZATION.split()[1], personal]
    texts = [str(f) for f in failures] + [repr(f) for f in failures] + [repr(client.client)]
    texts += [record.getMessage() for record in caplog.records]
    assert len(failures) == 2
    assert caplog.records, "the failed attempts are logged at DEBUG"
    for text in texts:
        for secret in forbidden:
            assert secret not in text


def test_every_attempt_passes_the_rate_limiter(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner], flavour: str
) -> None:
    now = [0.0]
    waits: list[float] = []
    limiter: Any
    if flavour == "sync":
        limiter = RateLimiter(10.0, clock=lambda: now[0], sleep=waits.append)
    else:

        async def sleep(seconds: float) -> None:
            waits.append(seconds)

        limiter = AsyncRateLimiter(10.0, clock=lambda: now[0], sleep=sleep)
    client = make_client(rate_limit=limiter)
    httpx_mock.add_response(status_code=503)
    httpx_mock.add_response(status_code=200)
    httpx_mock.add_response(status_code=200)

    client.delete("1")  # two attempts
    client.delete("2")

    # The clock never moves, so each attempt after the first waits one more slot.
    assert waits == pytest.approx([0.1, 0.2])


# ---------------------------------------------------------------------- resource handling


def test_repr_never_shows_the_api_key(client: Runner) -> None:
    text = repr(client.client)
    assert API_KEY not in text
    assert SITE_ID in text


def test_sync_client_is_a_context_manager_closing_its_own_http_client() -> None:
    with CustomerIOClient(SITE_ID, API_KEY) as client:
        inner = client._http
    assert inner.is_closed


def test_sync_client_leaves_an_injected_http_client_open(httpx_mock: HTTPXMock) -> None:
    http = httpx.Client()
    httpx_mock.add_response(url=US + "/api/v1/customers/42")
    with CustomerIOClient(SITE_ID, API_KEY, http_client=http, rate_limit=None) as client:
        client.delete("42")
    assert not http.is_closed
    http.close()


@pytest.mark.anyio
async def test_async_client_is_a_context_manager_closing_its_own_http_client() -> None:
    async with AsyncCustomerIOClient(SITE_ID, API_KEY) as client:
        inner = client._http
    assert inner.is_closed


@pytest.mark.anyio
async def test_async_client_leaves_an_injected_http_client_open(httpx_mock: HTTPXMock) -> None:
    http = httpx.AsyncClient()
    httpx_mock.add_response(url=US + "/api/v1/customers/42")
    async with AsyncCustomerIOClient(SITE_ID, API_KEY, http_client=http, rate_limit=None) as c:
        await c.delete("42")
    assert not http.is_closed
    await http.aclose()


def test_sync_client_closes_when_the_block_raises_and_lets_the_error_through() -> None:
    with pytest.raises(LookupError, match="from the block"):  # noqa: PT012, SIM117 - the block is the subject
        with CustomerIOClient(SITE_ID, API_KEY) as client:
            inner = client._http
            raise LookupError("from the block")
    assert inner.is_closed


@pytest.mark.anyio
async def test_async_client_closes_when_the_block_raises_and_lets_the_error_through() -> None:
    with pytest.raises(LookupError, match="from the block"):  # noqa: PT012 - the block is the subject
        async with AsyncCustomerIOClient(SITE_ID, API_KEY) as client:
            inner = client._http
            raise LookupError("from the block")
    assert inner.is_closed


def test_default_timeout_is_explicit() -> None:
    with CustomerIOClient(SITE_ID, API_KEY) as client:
        assert client._http.timeout == DEFAULT_TIMEOUT
    assert DEFAULT_TIMEOUT.connect == 5.0
    assert DEFAULT_TIMEOUT.read == 10.0


def test_timeout_applies_also_through_an_injected_http_client(
    httpx_mock: HTTPXMock, make_client: Callable[..., Runner], flavour: str
) -> None:
    http: Any = httpx.Client(timeout=99) if flavour == "sync" else httpx.AsyncClient(timeout=99)
    client = make_client(http_client=http, timeout=httpx.Timeout(3.0, connect=1.0))
    httpx_mock.add_response(url=US + "/api/v1/customers/42")

    client.delete("42")

    assert httpx_mock.get_request().extensions["timeout"] == {
        "connect": 1.0,
        "read": 3.0,
        "write": 3.0,
        "pool": 3.0,
    }
