"""The asynchronous Customer.io Track API client (asyncio)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from .._http import transport as _transport
from .._http.closing import AsyncClosesOnExit
from .._http.ratelimit import AsyncRateLimiter, SharedRateLimiter, async_limiter
from .._http.retry import RetryPolicy, async_call_with_retries
from ..errors import APIError, AuthenticationError
from ..metrics import Metrics
from ..metrics import _api as metrics_api
from ..models.customerio import BatchResult
from . import _base, _batch
from ._base import DEFAULT_TIMEOUT, ApiRequest, ResolvedRegion
from ._shared import BaseCustomerIOClient, DirectRequests
from .operations import (
    AnonymousTrack,
    Delete,
    DeleteRelationships,
    Identify,
    ObjectDelete,
    ObjectIdentify,
    ObjectRef,
    Operation,
    Page,
    Track,
)

__all__ = ["DEFAULT_MAX_CONCURRENCY", "AsyncCustomerIOClient"]

_DEFAULT_RETRY = RetryPolicy()
#: Requests of one async client in flight at once, unless ``max_concurrency`` says otherwise.
#: Measured (benchmarks/bench_peers.py): enough for the default rate limit of 100 requests/s at
#: answers of up to about 100 ms; a larger pool adds connection-pool work, not throughput.
DEFAULT_MAX_CONCURRENCY = 10


def _bound_problems(max_concurrency: int) -> list[str]:
    """What is wrong with a ``max_concurrency``: nothing, or that it is no whole number >= 1."""
    whole = isinstance(max_concurrency, int) and not isinstance(max_concurrency, bool)
    if whole and max_concurrency >= 1:
        return []
    return [f"max_concurrency must be a whole number of at least 1, got {max_concurrency!r}"]


class AsyncCustomerIOClient(AsyncClosesOnExit, BaseCustomerIOClient):
    """The asyncio twin of [`CustomerIOClient`][hull_customerio.customerio.CustomerIOClient]:
    the same methods, awaitable, with the same requests, errors and retries.

    What differs: at most ``max_concurrency`` requests of this client are in flight at once;
    together with the rate limiter this bounds what many concurrent tasks can throw at
    Customer.io. Use it within one event loop, as ``async with`` or with `aclose`. The arguments
    not listed here are those of `CustomerIOClient`.

    Args:
        rate_limit: requests per second for this client (``None``: unlimited), or an
            `AsyncRateLimiter` to share between clients, or a shared limiter such as
            [`RedisRateLimiter`][hull_customerio.redis_limiter.RedisRateLimiter].
        http_client: an ``httpx.AsyncClient`` to send with; it is not closed by `aclose`.
        sleep: an async sleep for retries and the rate limiter (default ``asyncio.sleep``).
        max_concurrency: requests in flight at once, at least 1.

    Raises:
        ConfigurationError: missing credentials, an unknown region or a bad bound.
    """

    def __init__(
        self,
        site_id: str,
        api_key: str,
        *,
        region: str = "us",
        base_url: str | None = None,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy = _DEFAULT_RETRY,
        rate_limit: float | AsyncRateLimiter | SharedRateLimiter | None = 100.0,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        metrics: Metrics | None = None,
    ) -> None:
        # Checked with the other arguments: one ConfigurationError names every problem.
        bound_problems = _bound_problems(max_concurrency)
        super().__init__(
            site_id,
            api_key,
            region=region,
            base_url=base_url,
            timeout=timeout,
            retry=retry,
            metrics=metrics,
            more_problems=bound_problems,
        )
        self.max_concurrency = max_concurrency
        self._sleep = sleep
        self._limiter = async_limiter(rate_limit, sleep)
        self._owns_http = http_client is None
        limits = httpx.Limits(
            max_connections=max_concurrency, max_keepalive_connections=max_concurrency
        )
        # A client of our own is sent through its transport directly (see _transport), unless
        # the environment names a proxy: httpx then sends as the environment says.
        self._transport = (
            None
            if http_client is not None or _transport.environment_proxies()
            else _transport.async_transport(limits)
        )
        self._http = (
            http_client
            if http_client is not None
            else httpx.AsyncClient(timeout=timeout, limits=limits, transport=self._transport)
        )
        self._direct = DirectRequests(self._http.headers, site_id, api_key, timeout)
        self._slots = asyncio.Semaphore(max_concurrency)
        self._region_lock = asyncio.Lock()

    # ----------------------------------------------------------------------------- resource

    async def aclose(self) -> None:
        """Awaitable [`CustomerIOClient.close`][hull_customerio.customerio.CustomerIOClient.close]:
        closes the HTTP client this client created (an injected one is left open)."""
        if self._owns_http:
            await self._http.aclose()

    # ------------------------------------------------------------------------------ sending

    async def _send(self, request: ApiRequest, *, origin: str | None = None) -> httpx.Response:
        url = (origin or await self._origin_or_resolve()) + request.path
        attempts = 0

        async def attempt() -> httpx.Response:
            nonlocal attempts, url
            attempts += 1
            # The slot is held per attempt, not across backoff waits, and the rate-limit wait
            # happens inside it so that queued tokens cannot be spent in one burst later.
            async with self._slots:
                hops = 0
                while True:
                    response = await self._hop(request, url, attempts)
                    target = self._next_hop(request, url, response, hops=hops, attempt=attempts)
                    if target is None:
                        return response
                    url = target
                    hops += 1

        return await async_call_with_retries(attempt, self.retry, sleep=self._sleep)

    async def _hop(self, request: ApiRequest, url: str, attempt: int) -> httpx.Response:
        """Send once to ``url`` when the rate limiter lets it go, and count it."""
        await self._limiter.acquire()
        started = metrics_api.clock()
        try:
            response = await self._request(request, url)
        except httpx.TransportError as exc:
            raise self._unanswered(request, url, exc, started, attempt) from exc
        self._report(request, response.status_code, started)
        return response

    async def _request(self, request: ApiRequest, url: str) -> httpx.Response:
        """Send once (no redirect followed) and read the whole answer."""
        if self._transport is None:
            outgoing = self._via_http(self._http, request, url)
            # Redirects are vetted (see _next_hop), never followed blindly.
            return await self._http.send(outgoing, auth=self._auth, follow_redirects=False)
        outgoing = self._direct.build(request, url)
        response = await self._transport.handle_async_request(outgoing)
        try:
            await response.aread()
        except BaseException:
            await response.aclose()
            raise
        response.request = outgoing
        return response

    async def _origin_or_resolve(self) -> str:
        origin = self._origin()
        if origin is None:
            await self.resolve_region()
            origin = self._origin()
            assert origin is not None  # noqa: S101 - resolve_region() sets it or raises
        return origin

    # ---------------------------------------------------------------------------- endpoints

    async def resolve_region(self) -> ResolvedRegion:
        """Awaitable
        [`CustomerIOClient.resolve_region`][hull_customerio.customerio.CustomerIOClient.resolve_region]:
        same arguments, result and errors.

        With ``region="auto"``, concurrent tasks that need the region meanwhile wait for the
        one answer.
        """
        if self._resolved is not None:
            return self._resolved
        async with self._region_lock:
            if self._resolved is None:
                request = _base.region_request()
                origin = self._region_lookup_origin()
                response = await self._send(request, origin=origin)
                self._resolved = _base.parse_region(
                    _base.parse_body(response), method=request.method, url=origin + request.path
                )
            return self._resolved

    async def check_credentials(self) -> bool:
        """Awaitable
        [`CustomerIOClient.check_credentials`][hull_customerio.customerio.CustomerIOClient.check_credentials]:
        same arguments, result and errors."""
        request = _base.region_request()
        origin = self._origin() or self._region_lookup_origin()
        try:
            response = await self._send(request, origin=origin)
        except AuthenticationError:
            return False
        self._learn_region(_base.parse_body(response))
        return True

    async def send(self, operation: Operation) -> None:
        """Awaitable [`CustomerIOClient.send`][hull_customerio.customerio.CustomerIOClient.send]:
        same arguments, result and errors."""
        await self._send(operation.v1_request())

    async def identify(
        self,
        customer_id: str,
        attributes: Mapping[str, Any],
        *,
        relationships: Sequence[ObjectRef] = (),
    ) -> None:
        """Awaitable
        [`CustomerIOClient.identify`][hull_customerio.customerio.CustomerIOClient.identify]:
        same arguments, result and errors."""
        await self.send(Identify(customer_id, attributes, relationships=tuple(relationships)))

    async def delete_relationships(self, customer_id: str, objects: Sequence[ObjectRef]) -> None:
        """Awaitable
        [`CustomerIOClient.delete_relationships`][hull_customerio.customerio.CustomerIOClient.delete_relationships]:
        same arguments, result and errors."""
        await self.send(DeleteRelationships(customer_id, tuple(objects)))

    async def identify_object(
        self, object_type_id: str, object_id: str, attributes: Mapping[str, Any]
    ) -> None:
        """Awaitable
        [`CustomerIOClient.identify_object`][hull_customerio.customerio.CustomerIOClient.identify_object]:
        same arguments, result and errors."""
        await self.send(ObjectIdentify(ObjectRef(object_type_id, object_id), attributes))

    async def delete_object(self, object_type_id: str, object_id: str) -> None:
        """Awaitable
        [`CustomerIOClient.delete_object`][hull_customerio.customerio.CustomerIOClient.delete_object]:
        same arguments, result and errors."""
        await self.send(ObjectDelete(ObjectRef(object_type_id, object_id)))

    async def delete(self, customer_id: str) -> None:
        """Awaitable
        [`CustomerIOClient.delete`][hull_customerio.customerio.CustomerIOClient.delete]:
        same arguments, result and errors."""
        await self.send(Delete(customer_id))

    async def track(
        self,
        customer_id: str,
        name: str,
        data: Mapping[str, Any] | None = None,
        *,
        timestamp: int | datetime | None = None,
        id: str | None = None,
    ) -> None:
        """Awaitable [`CustomerIOClient.track`][hull_customerio.customerio.CustomerIOClient.track]:
        same arguments, result and errors."""
        await self.send(Track(customer_id, name, data, timestamp=timestamp, id=id))

    async def track_page(
        self,
        customer_id: str,
        url: str,
        data: Mapping[str, Any] | None = None,
        *,
        timestamp: int | datetime | None = None,
        id: str | None = None,
    ) -> None:
        """Awaitable
        [`CustomerIOClient.track_page`][hull_customerio.customerio.CustomerIOClient.track_page]:
        same arguments, result and errors."""
        await self.send(Page(customer_id, url, data, timestamp=timestamp, id=id))

    async def track_anonymous(
        self,
        anonymous_id: str,
        name: str,
        data: Mapping[str, Any] | None = None,
        *,
        type: str = "event",
        timestamp: int | datetime | None = None,
        id: str | None = None,
    ) -> None:
        """Awaitable
        [`CustomerIOClient.track_anonymous`][hull_customerio.customerio.CustomerIOClient.track_anonymous]:
        same arguments, result and errors."""
        await self.send(
            AnonymousTrack(anonymous_id, name, data, type=type, timestamp=timestamp, id=id)
        )

    async def suppress(self, customer_id: str) -> None:
        """Awaitable
        [`CustomerIOClient.suppress`][hull_customerio.customerio.CustomerIOClient.suppress]:
        same arguments, result and errors."""
        await self._send(_base.suppress_request(customer_id))

    async def unsuppress(self, customer_id: str) -> None:
        """Awaitable
        [`CustomerIOClient.unsuppress`][hull_customerio.customerio.CustomerIOClient.unsuppress]:
        same arguments, result and errors."""
        await self._send(_base.unsuppress_request(customer_id))

    async def merge(self, primary: Mapping[str, Any], secondary: Mapping[str, Any]) -> None:
        """Awaitable [`CustomerIOClient.merge`][hull_customerio.customerio.CustomerIOClient.merge]:
        same arguments, result and errors."""
        await self._send(_base.merge_request(primary, secondary))

    async def batch(self, operations: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Send v2 operations (``POST /api/v2/batch``), split into as many requests as needed.

        The requests go concurrently, at most ``max_concurrency`` at once and under the rate
        limit, started in the operations' order; failures are reported in the result, never
        raised. Once a request finds Customer.io unreachable, the requests not started yet are
        not sent (their operations fail with the same error). See
        [`CustomerIOClient.batch`][hull_customerio.customerio.CustomerIOClient.batch].
        """
        plan = _batch.plan_batch(operations)
        outcomes: list[Any] = [None] * len(plan.requests)
        stop: APIError | None = None
        turns = asyncio.Semaphore(self.max_concurrency)

        async def send(number: int, request: ApiRequest) -> None:
            nonlocal stop
            async with turns:
                if stop is not None:  # Customer.io cannot be reached: the rest is not sent
                    outcomes[number] = stop
                    return
                try:
                    outcomes[number] = _base.parse_body(await self._send(request))
                except APIError as exc:
                    outcomes[number] = exc
                    if stop is None and _batch.unreachable(exc):
                        stop = exc

        if len(plan.requests) == 1:
            await send(0, plan.requests[0].request)
        elif plan.requests:
            tasks = [
                asyncio.ensure_future(send(number, sub.request))
                for number, sub in enumerate(plan.requests)
            ]
            try:
                await asyncio.gather(*tasks)
            except BaseException:  # a cancellation or a bug: none of ours keeps running
                for task in tasks:
                    task.cancel()
                raise
        return _batch.batch_result(plan, outcomes)
