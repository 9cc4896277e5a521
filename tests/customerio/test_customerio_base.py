"""The sans-IO core: encoding, payload conversion, error extraction; and the async-only
concurrency guarantees (one region question, a bound on requests in flight)."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hull_customerio.customerio import AsyncCustomerIOClient, encode_path_segment, to_json_ready
from hull_customerio.customerio._base import dumps, error_messages, parse_region
from hull_customerio.errors import APIError, ConfigurationError


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("a/b+c@x.io", "a%2Fb%2Bc%40x.io"),
        ("42", "42"),
        ("a b", "a%20b"),
        ("x?y#z%", "x%3Fy%23z%25"),
        ("é", "%C3%A9"),
        ("A-Z_a.z~0", "A-Z_a.z~0"),
    ],
)
def test_path_segment_encoding(raw: str, encoded: str) -> None:
    assert encode_path_segment(raw) == encoded


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2020, 1, 1, tzinfo=timezone.utc), 1577836800),
        (datetime(2020, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))), 1577836800),
        (datetime(2020, 1, 1), 1577836800),  # noqa: DTZ001 - naive is taken as UTC
        (datetime(2020, 1, 1, 0, 0, 0, 999_999, tzinfo=timezone.utc), 1577836800),
        (datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=timezone.utc), -1),
        (date(2020, 1, 1), 1577836800),
        ({"a": [{"b": (datetime(2020, 1, 1),)}]}, {"a": [{"b": [1577836800]}]}),  # noqa: DTZ001
        ({"n": 1.5, "s": "2020-01-01", "z": None}, {"n": 1.5, "s": "2020-01-01", "z": None}),
    ],
)
def test_datetimes_become_unix_seconds_anywhere(value: Any, expected: Any) -> None:
    assert to_json_ready(value) == expected


_LEAVES = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5) | st.datetimes(timezones=st.none() | st.just(timezone.utc))
    | st.dates()
)  # fmt: skip
_PAYLOADS = st.recursive(
    _LEAVES,
    lambda children: (
        st.lists(children, max_size=3)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=4), children, max_size=3)
        | st.dictionaries(st.text(max_size=4), children, max_size=3).map(MappingProxyType)
    ),
    max_leaves=10,
)


@given(_PAYLOADS)
def test_request_bytes_are_the_compact_json_of_the_json_ready_payload(payload: Any) -> None:
    expected = json.dumps(
        to_json_ready(payload), separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()

    assert dumps(payload) == expected


@pytest.mark.parametrize("value", [{1, 2}, object(), b"bytes", float("nan"), [float("inf")]])
def test_request_bytes_refuse_what_json_cannot_encode(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        dumps({"v": value})


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        ({"meta": {"errors": ["x", "y"]}}, ["x", "y"]),
        ({"meta": {"error": "bad"}}, ["bad"]),
        ({"meta": {"errors": "one"}}, ["one"]),
        (
            {"errors": [{"reason": "r", "field": "identifiers", "message": "m"}, {"reason": "q"}]},
            ["identifiers: m", "q"],
        ),
        ({"errors": ["plain"]}, ["plain"]),
        ("not json", []),
        (None, []),
        ({"meta": {}}, []),
    ],
)
def test_error_messages_are_extracted(body: Any, messages: list[str]) -> None:
    assert error_messages(body) == messages


@pytest.mark.parametrize(
    ("body", "region"),
    [
        ({"region": "eu", "url": "https://track-eu.customer.io"}, "eu"),
        ({"region": "US"}, "us"),
        ({"url": "https://track-eu.customer.io"}, "eu"),
        ({"url": "https://track.customer.io"}, "us"),
    ],
)
def test_region_answer_is_read(body: Any, region: str) -> None:
    assert parse_region(body, method="GET", url="u") == region


@pytest.mark.parametrize("body", [{}, {"region": "mars"}, "text", None])
def test_unreadable_region_answer_raises(body: Any) -> None:
    with pytest.raises(APIError):
        parse_region(body, method="GET", url="u")


# ------------------------------------------------------------------------ async concurrency


@pytest.mark.anyio
async def test_concurrent_calls_with_auto_region_ask_once() -> None:
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url}")
        if request.url.path == "/api/v1/accounts/region":
            await asyncio.sleep(0)  # let the other tasks pile up on the lock
            return httpx.Response(200, json={"region": "eu"})
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = AsyncCustomerIOClient("s", "k", region="auto", rate_limit=None, http_client=http)
        await asyncio.gather(*(client.delete(str(i)) for i in range(20)))

    assert seen.count("GET https://track.customer.io/api/v1/accounts/region") == 1
    assert len(seen) == 21
    assert all(s.startswith("DELETE https://track-eu.customer.io/") for s in seen[1:])


@pytest.mark.anyio
async def test_max_concurrency_bounds_requests_in_flight() -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(5):
            await asyncio.sleep(0)  # yield so other tasks could start requests
        in_flight -= 1
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = AsyncCustomerIOClient(
            "s", "k", rate_limit=None, http_client=http, max_concurrency=3
        )
        await asyncio.gather(*(client.delete(str(i)) for i in range(12)))

    assert peak == 3


@pytest.mark.parametrize("bound", [0, -1, True, 1.5])
def test_max_concurrency_must_be_a_positive_whole_number(bound: Any) -> None:
    with pytest.raises(ConfigurationError):
        AsyncCustomerIOClient("s", "k", max_concurrency=bound)


def test_a_bad_max_concurrency_is_reported_with_every_other_configuration_problem() -> None:
    with pytest.raises(ConfigurationError) as caught:
        AsyncCustomerIOClient("", "k", region="mars", max_concurrency=0)
    problems = caught.value.problems
    assert len(problems) == 3
    assert problems[0].startswith("site_id is required")
    assert problems[1].startswith("region must be one of")
    assert problems[2] == "max_concurrency must be a whole number of at least 1, got 0"
