"""The async client sends the requests of one v2 batch concurrently, within its limits.

A batch larger than one request becomes several requests; :class:`AsyncCustomerIOClient`
sends them at once, at most ``max_concurrency`` in flight and each through the rate limiter,
and maps every answer back to its own operations. The sync client sends them one after
another. Once Customer.io is found unreachable, requests not started yet are not sent.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from hull_customerio._http.ratelimit import AsyncRateLimiter
from hull_customerio._http.retry import RetryPolicy
from hull_customerio.customerio import AsyncCustomerIOClient, CustomerIOClient, identify_operation
from hull_customerio.customerio._base import dumps
from hull_customerio.customerio._batch import EncodedOperation, plan_batch
from hull_customerio.errors import APIConnectionError

BATCH_URL = "https://track.customer.io/api/v2/batch"


def operations(requests: int) -> list[dict[str, Any]]:
    """Operations that make exactly ``requests`` v2 requests (of 16 operations of 30 kB)."""
    pad = "x" * 30_000
    ops = [identify_operation(str(n), {"pad": pad}) for n in range(16 * requests)]
    assert [len(r.indexes) for r in plan_batch(ops).requests] == [16] * requests
    return ops


class Server:
    """An async transport that answers after a pause and counts requests in flight."""

    def __init__(self, *, fail_first: bool = False, refuse: bool = False) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.bodies: list[list[dict[str, Any]]] = []
        self.fail_first = fail_first
        self.refuse = refuse

    async def handle(self, request: httpx.Request) -> httpx.Response:
        batch = json.loads(request.content)["batch"]
        self.bodies.append(batch)
        if self.refuse:
            await asyncio.sleep(0.01)  # both first requests are under way meanwhile
            raise httpx.ConnectError("connection refused", request=request)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.02)
        finally:
            self.in_flight -= 1
        first_id = batch[0]["identifiers"]["id"]
        if self.fail_first and first_id == "0":
            return httpx.Response(500, json={"meta": {"error": "boom"}})
        # Reject the second operation of every request: its caller index tells which request.
        return httpx.Response(207, json={"errors": [{"batch_index": 1, "reason": first_id}]})


async def run_batch(
    server: Server, ops: list[dict[str, Any]], **kwargs: Any
) -> tuple[Any, AsyncCustomerIOClient]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(server.handle))
    kwargs.setdefault("rate_limit", None)
    client = AsyncCustomerIOClient("site", "key", http_client=http, **kwargs)
    try:
        return await client.batch(ops), client
    finally:
        await http.aclose()


@pytest.mark.parametrize(("max_concurrency", "expected"), [(1, 1), (2, 2), (10, 4)])
def test_requests_of_one_batch_go_concurrently_up_to_max_concurrency(
    max_concurrency: int, expected: int
) -> None:
    server = Server()
    ops = operations(4)

    result, _ = asyncio.run(run_batch(server, ops, max_concurrency=max_concurrency))

    assert server.most_in_flight == expected
    assert result.requests == 4
    # Each request's 207 entry is mapped back to that request's own second operation.
    assert sorted(result.errors) == [1, 17, 33, 49]
    for request, index in enumerate([1, 17, 33, 49]):
        assert result.errors[index].request == request
        assert result.errors[index].reason == str(16 * request)


def test_a_failed_request_fails_its_own_operations_only_when_sent_concurrently() -> None:
    server = Server(fail_first=True)
    ops = operations(3)

    result, _ = asyncio.run(run_batch(server, ops, retry=RetryPolicy(max_attempts=1)))

    assert [result.errors[i].reason for i in range(16)] == ["request_failed"] * 16
    assert sorted(i for i in result.errors if i >= 16) == [17, 33]


def test_every_concurrent_request_passes_the_rate_limiter() -> None:
    acquired: list[int] = []

    class Counting(AsyncRateLimiter):
        async def acquire(self) -> None:
            acquired.append(1)
            await super().acquire()

    server = Server()

    result, _ = asyncio.run(
        run_batch(server, operations(3), rate_limit=Counting(1000.0), max_concurrency=3)
    )

    assert len(acquired) == 3
    assert result.requests == 3


def test_unreachable_customerio_stops_the_requests_not_started_yet() -> None:
    server = Server(refuse=True)
    ops = operations(5)

    result, _ = asyncio.run(
        run_batch(server, ops, max_concurrency=2, retry=RetryPolicy(max_attempts=1))
    )

    # Two requests were under way when the first refusal came; the other three never left.
    assert len(server.bodies) == 2
    assert len(result.errors) == len(ops)
    assert all(isinstance(e.exception, APIConnectionError) for e in result.errors.values())


def test_sync_client_sends_the_requests_one_after_another() -> None:
    in_flight = [0]
    most = [0]

    def handle(request: httpx.Request) -> httpx.Response:
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        in_flight[0] -= 1
        return httpx.Response(200, json={})

    http = httpx.Client(transport=httpx.MockTransport(handle))
    with CustomerIOClient("site", "key", rate_limit=None, http_client=http) as client:
        result = client.batch(operations(3))

    assert result.requests == 3
    assert most[0] == 1


def test_an_encoded_operation_is_sent_as_its_own_bytes_and_equals_its_dict() -> None:
    plain = [identify_operation(str(n), {"n": n, "name": "Zoë"}) for n in range(3)]
    encoded = [EncodedOperation(op, dumps(op)) for op in plain]

    assert encoded == plain
    assert plan_batch(encoded) == plan_batch(plain)
    # The carried bytes are what goes out (the engine encodes each operation once).
    marked = [EncodedOperation(plain[0], b'{"marker":1}')]
    (request,) = plan_batch(marked).requests
    assert request.request.content == b'{"batch":[{"marker":1}]}'
