"""The asynchronous Customer.io Track API client (asyncio)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from .._http import transport as _transport
from .._http.ratelimit import AsyncRateLimiter, SharedRateLimiter
from .._http.retry import RetryPolicy, async_call_with_retries
from ..errors import APIError, AuthenticationError, ConfigurationError
from ..metrics import Metrics
from ..metrics import _api as metrics_api
from ..models.customerio import BatchResult
from . import _base, _batch, _shared
from ._base import DEFAULT_TIMEOUT, ApiRequest, ResolvedRegion
from ._shared import BaseCustomerIOClient
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

logger = logging.getLogger("hull_customerio.customerio")

_DEFAULT_RETRY = RetryPolicy()
#: Requests of one async client in flight at once, unless ``max_concurrency`` says otherwise.
#: Measured (benchmarks/bench_peers.py): enough for the default rate limit of 100 requests/s at
#: answers of up to about 100 ms; a larger pool adds connection-pool work, not throughput.
DEFAULT_MAX_CONCURRENCY = 10


class AsyncCustomerIOClient(BaseCustomerIOClient):
    """The asyncio twin of [`CustomerIOClient`][hull_customerio.customerio.CustomerIOClient].

    Same methods (awaitable), same requests, same errors, same retries. In addition, at most
    ``max_concurrency`` requests of this client are in flight at once; together with the rate
    limiter this bounds what many concurrent tasks can throw at Customer.io. Use it within one
    event loop, as ``async with`` or with `aclose`.

    Args:
        site_id: the Customer.io Site ID (HTTP Basic user).
        api_key: the Track API key (HTTP Basic password); never shown in ``repr`` or errors.
        region: ``"us"``, ``"eu"``, or ``"auto"`` to ask Customer.io once (on first use).
        base_url: send everything to this origin instead of the region's host.
        timeout: applies to every request, also through an injected ``http_client``
            (``None``: wait forever).
        retry: how failed requests are retried.
        rate_limit: requests per second for this client (``None``: unlimited), or an
            `AsyncRateLimiter` to share between clients, or a
            shared limiter such as
            [`RedisRateLimiter`][hull_customerio.redis_limiter.RedisRateLimiter] (one limit for
            every process that sends to the workspace).
        http_client: an ``httpx.AsyncClient`` to send with; it is not closed by `aclose`.
        sleep: an async sleep for retries and the rate limiter (default ``asyncio.sleep``).
        max_concurrency: requests in flight at once, at least 1.
        metrics: where each request sent (retries and redirect hops included) is counted as
            ``ship.service_api.call`` and timed (see `hull_customerio.metrics`); default:
            nowhere.

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
        super().__init__(
            site_id,
            api_key,
            region=region,
            base_url=base_url,
            timeout=timeout,
            retry=retry,
            metrics=metrics,
        )
        if (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or (max_concurrency < 1)
        ):
            raise ConfigurationError(
                [f"max_concurrency must be a whole number of at least 1, got {max_concurrency!r}"]
            )
        self.max_concurrency = max_concurrency
        self._sleep = sleep
        self._limiter = _shared.make_async_limiter(rate_limit, sleep)
        self._owns_http = http_client is None
        # A client of our own is sent through its transport directly (see _transport), unless
        # the environment names a proxy: httpx then sends as the environment says.
        self._transport: httpx.AsyncBaseTransport | None = None
        if http_client is not None:
            self._http = http_client
        else:
            limits = httpx.Limits(
                max_connections=max_concurrency, max_keepalive_connections=max_concurrency
            )
            if not _transport.environment_proxies():
                self._transport = _transport.async_transport(limits)
            self._http = httpx.AsyncClient(
                timeout=timeout, limits=limits, transport=self._transport
            )
        self._direct = _shared.DirectRequests(self._http.headers, site_id, api_key, timeout)
        self._slots = asyncio.Semaphore(max_concurrency)
        self._region_lock = asyncio.Lock()

    # ----------------------------------------------------------------------------- resource

    async def aclose(self) -> None:
        """Close the HTTP client this client created (an injected one is left open)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncCustomerIOClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

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
                    await self._limiter.acquire()
                    started = metrics_api.clock()
                    try:
                        response = await self._request(request, url)
                    except httpx.TransportError as exc:
                        self._report(request, None, started)
                        error = _base.transport_error(request.method, url, exc)
                        logger.debug("Customer.io attempt %d failed: %s", attempts, error)
                        raise error from exc
                    self._report(request, response.status_code, started)
                    if response.status_code not in _base.REDIRECT_STATUSES:
                        break
                    url = _base.redirect_target(request.method, url, response, hops=hops)
                    hops += 1
                    self._remember_redirect(url)
            if not response.is_success:
                status = _base.status_error(request.method, url, response)
                logger.debug("Customer.io attempt %d failed: %s", attempts, status)
                raise status
            return response

        return await async_call_with_retries(attempt, self.retry, sleep=self._sleep)

    async def _request(self, request: ApiRequest, url: str) -> httpx.Response:
        """Send once (no redirect followed) and read the whole answer."""
        if self._transport is None:
            return await self._http.request(
                request.method,
                url,
                content=request.content,
                headers=self._headers(request),
                auth=self._auth,
                timeout=self.timeout,
                follow_redirects=False,  # redirects are vetted, never followed blindly
            )
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
        """The workspace's region, ``"us"`` or ``"eu"``; asked once with ``region="auto"``.

        Concurrent tasks that need it meanwhile wait for that one answer.

        Raises:
            APIError: the question could not be answered.
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
        """Whether Customer.io accepts the credentials (``GET /api/v1/accounts/region``).

        ``True`` on 200, ``False`` on 401; with ``region="auto"`` a 200 also settles the region.

        Raises:
            APIError: any other failure.
        """
        request = _base.region_request()
        origin = self._origin() or self._region_lookup_origin()
        try:
            response = await self._send(request, origin=origin)
        except AuthenticationError:
            return False
        self._learn_region(_base.parse_body(response))
        return True

    async def send(self, operation: Operation) -> None:
        """Send one operation (an `Identify`, a `Track`...) through its v1 endpoint.

        The named methods below (`identify`, `track`...) build the operation and call this.

        Objects (`ObjectIdentify`, `ObjectDelete`) exist only in Customer.io's v2 API: their
        v1 request is the one v2 operation posted to ``/api/v2/entity``, whose ``{"errors":
        [...]}`` answers raise the same typed errors as v1 answers.

        Raises:
            ValidationError: the operation cannot be sent as it is (an empty identifier, a body
                that is not JSON, an object operation over 32 kB).
            APIError: Customer.io did not accept it (after the retries).
        """
        await self._send(operation.v1_request())

    async def identify(
        self,
        customer_id: str,
        attributes: Mapping[str, Any],
        *,
        relationships: Sequence[ObjectRef] = (),
    ) -> None:
        """Create or update a person (``PUT /api/v1/customers/{id}``).

        Args:
            customer_id: the person's identifier (percent-encoded as one path segment).
            attributes: the attributes to set; datetimes become unix seconds.
            relationships: objects to relate the person to, sent in the same request as
                ``cio_relationships`` with ``add_relationships`` (Customer.io creates an object
                that does not exist yet).
        """
        await self.send(Identify(customer_id, attributes, relationships=tuple(relationships)))

    async def delete_relationships(self, customer_id: str, objects: Sequence[ObjectRef]) -> None:
        """Remove a person's relationships to ``objects``; the objects themselves stay.

        Sent as ``PUT /api/v1/customers/{id}`` whose body is only ``cio_relationships`` with
        ``delete_relationships``.

        Raises:
            ValidationError: no object, or an empty identifier.
        """
        await self.send(DeleteRelationships(customer_id, tuple(objects)))

    async def identify_object(
        self, object_type_id: str, object_id: str, attributes: Mapping[str, Any]
    ) -> None:
        """Create or update an object, such as a company (``POST /api/v2/entity``).

        Objects exist only in Customer.io's v2 API: the one operation ``{"type": "object",
        "identifiers": {"object_type_id", "object_id"}, "action": "identify", "attributes"}``
        is posted on its own.

        Args:
            object_type_id: the object type, a string holding a whole number (``"1"``); an
                unknown type id makes Customer.io create a new object type.
            object_id: the object's id within its type.
            attributes: the attributes to set; ``None`` or ``""`` removes one.

        Raises:
            ValidationError: an empty identifier, or an operation over 32 kB as JSON (no
                Customer.io endpoint takes a larger object operation).
        """
        await self.send(ObjectIdentify(ObjectRef(object_type_id, object_id), attributes))

    async def delete_object(self, object_type_id: str, object_id: str) -> None:
        """Delete an object and its relationships to people (``POST /api/v2/entity``)."""
        await self.send(ObjectDelete(ObjectRef(object_type_id, object_id)))

    async def delete(self, customer_id: str) -> None:
        """Delete a person (``DELETE /api/v1/customers/{id}``)."""
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
        """Record an event for a person (``POST /api/v1/customers/{id}/events``)."""
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
        """Record a page view for a person: an event of type ``page`` named by the URL."""
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
        """Record an event of a person not identified yet (``POST /api/v1/events``)."""
        await self.send(
            AnonymousTrack(anonymous_id, name, data, type=type, timestamp=timestamp, id=id)
        )

    async def suppress(self, customer_id: str) -> None:
        """Suppress a person: delete them and ignore their identifier from now on."""
        await self._send(_base.suppress_request(customer_id))

    async def unsuppress(self, customer_id: str) -> None:
        """Stop suppressing a person's identifier."""
        await self._send(_base.unsuppress_request(customer_id))

    async def merge(self, primary: Mapping[str, Any], secondary: Mapping[str, Any]) -> None:
        """Merge ``secondary`` into ``primary`` (``POST /api/v1/merge_customers``)."""
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
