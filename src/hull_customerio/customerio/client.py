"""The synchronous Customer.io Track API client."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from .._http import transport as _transport
from .._http.closing import ClosesOnExit
from .._http.ratelimit import RateLimiter, SharedRateLimiter, sync_limiter
from .._http.retry import RetryPolicy, call_with_retries
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

__all__ = ["CustomerIOClient"]

_DEFAULT_RETRY = RetryPolicy()


class CustomerIOClient(ClosesOnExit, BaseCustomerIOClient):
    """A client of the Customer.io Track API, for threads or plain scripts.

    One instance holds one pooled HTTP client, one rate limiter and the resolved region;
    share it between threads rather than making one per call. Use it as a context manager, or
    call `close`.

    Every request, each retry included, waits for the rate limiter; failures that may pass
    (connection errors, timeouts, 408, 429, 5xx...) are retried under ``retry``; any other
    non-2xx answer raises at once. Errors are [`APIError`][hull_customerio.errors.APIError]
    subclasses whose text never holds the API key or the request body.

    Args:
        site_id: the Customer.io Site ID (HTTP Basic user).
        api_key: the Track API key (HTTP Basic password); never shown in ``repr`` or errors.
        region: ``"us"``, ``"eu"``, or ``"auto"`` to ask Customer.io once (on first use).
        base_url: send everything to this origin instead of the region's host (proxies,
            fakes); with ``region="auto"`` the region is asked of it too.
        timeout: applies to every request, also through an injected ``http_client``
            (``None``: wait forever).
        retry: how failed requests are retried.
        rate_limit: requests per second for this client (``None``: unlimited), or a
            `RateLimiter` to share between clients, or a
            shared limiter such as
            [`RedisRateLimiter`][hull_customerio.redis_limiter.RedisRateLimiter] (one limit for
            every process that sends to the workspace).
        http_client: an ``httpx.Client`` to send with; it is not closed by `close`.
        sleep: how to wait between retries and for the rate limiter (injectable for tests).
        metrics: where each request sent (retries and redirect hops included) is counted as
            ``ship.service_api.call`` and timed (see `hull_customerio.metrics`); default:
            nowhere.

    Raises:
        ConfigurationError: missing credentials or an unknown region.
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
        rate_limit: float | RateLimiter | SharedRateLimiter | None = 100.0,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
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
        self._sleep = sleep
        self._limiter = sync_limiter(rate_limit, sleep)
        self._owns_http = http_client is None
        # A client of our own is sent through its transport directly (see _transport), unless
        # the environment names a proxy: httpx then sends as the environment says.
        self._transport = (
            None
            if http_client is not None or _transport.environment_proxies()
            else _transport.sync_transport(httpx.Limits())
        )
        self._http = (
            http_client
            if http_client is not None
            else httpx.Client(timeout=timeout, transport=self._transport)
        )
        self._direct = DirectRequests(self._http.headers, site_id, api_key, timeout)
        self._region_lock = threading.Lock()

    # ----------------------------------------------------------------------------- resource

    def close(self) -> None:
        """Close the HTTP client this client created (an injected one is left open)."""
        if self._owns_http:
            self._http.close()

    # ------------------------------------------------------------------------------ sending

    def _send(self, request: ApiRequest, *, origin: str | None = None) -> httpx.Response:
        url = (origin or self._origin_or_resolve()) + request.path
        attempts = 0

        def attempt() -> httpx.Response:
            nonlocal attempts, url
            attempts += 1
            hops = 0
            while True:
                response = self._hop(request, url, attempts)
                target = self._next_hop(request, url, response, hops=hops, attempt=attempts)
                if target is None:
                    return response
                url = target
                hops += 1

        return call_with_retries(attempt, self.retry, sleep=self._sleep)

    def _hop(self, request: ApiRequest, url: str, attempt: int) -> httpx.Response:
        """Send once to ``url`` when the rate limiter lets it go, and count it."""
        self._limiter.acquire()
        started = metrics_api.clock()
        try:
            response = self._request(request, url)
        except httpx.TransportError as exc:
            raise self._unanswered(request, url, exc, started, attempt) from exc
        self._report(request, response.status_code, started)
        return response

    def _request(self, request: ApiRequest, url: str) -> httpx.Response:
        """Send once (no redirect followed) and read the whole answer."""
        if self._transport is None:
            outgoing = self._via_http(self._http, request, url)
            # Redirects are vetted (see _next_hop), never followed blindly.
            return self._http.send(outgoing, auth=self._auth, follow_redirects=False)
        outgoing = self._direct.build(request, url)
        response = self._transport.handle_request(outgoing)
        try:
            response.read()
        except BaseException:
            response.close()
            raise
        response.request = outgoing
        return response

    def _origin_or_resolve(self) -> str:
        origin = self._origin()
        if origin is None:
            self.resolve_region()
            origin = self._origin()
            assert origin is not None  # noqa: S101 - resolve_region() sets it or raises
        return origin

    # ---------------------------------------------------------------------------- endpoints

    def resolve_region(self) -> ResolvedRegion:
        """The workspace's region, ``"us"`` or ``"eu"``.

        With ``region="auto"`` the first call asks Customer.io (``GET
        /api/v1/accounts/region``) and the answer is kept for the life of the client; threads
        that arrive meanwhile wait for that one answer instead of asking again.

        Raises:
            APIError: the question could not be answered.
        """
        if self._resolved is not None:
            return self._resolved
        with self._region_lock:
            if self._resolved is None:
                request = _base.region_request()
                origin = self._region_lookup_origin()
                response = self._send(request, origin=origin)
                self._resolved = _base.parse_region(
                    _base.parse_body(response), method=request.method, url=origin + request.path
                )
            return self._resolved

    def check_credentials(self) -> bool:
        """Whether Customer.io accepts the Site ID and API key (``GET /api/v1/accounts/region``).

        With ``region="auto"`` a successful answer also settles the region.

        Returns:
            ``True`` on 200, ``False`` on 401.

        Raises:
            APIError: any other failure (network, 5xx after retries, ...).
        """
        request = _base.region_request()
        origin = self._origin() or self._region_lookup_origin()
        try:
            response = self._send(request, origin=origin)
        except AuthenticationError:
            return False
        self._learn_region(_base.parse_body(response))
        return True

    def send(self, operation: Operation) -> None:
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
        self._send(operation.v1_request())

    def identify(
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
        self.send(Identify(customer_id, attributes, relationships=tuple(relationships)))

    def delete_relationships(self, customer_id: str, objects: Sequence[ObjectRef]) -> None:
        """Remove a person's relationships to ``objects``; the objects themselves stay.

        Sent as ``PUT /api/v1/customers/{id}`` whose body is only ``cio_relationships`` with
        ``delete_relationships``.

        Raises:
            ValidationError: no object, or an empty identifier.
        """
        self.send(DeleteRelationships(customer_id, tuple(objects)))

    def identify_object(
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
        self.send(ObjectIdentify(ObjectRef(object_type_id, object_id), attributes))

    def delete_object(self, object_type_id: str, object_id: str) -> None:
        """Delete an object and its relationships to people (``POST /api/v2/entity``)."""
        self.send(ObjectDelete(ObjectRef(object_type_id, object_id)))

    def delete(self, customer_id: str) -> None:
        """Delete a person (``DELETE /api/v1/customers/{id}``)."""
        self.send(Delete(customer_id))

    def track(
        self,
        customer_id: str,
        name: str,
        data: Mapping[str, Any] | None = None,
        *,
        timestamp: int | datetime | None = None,
        id: str | None = None,
    ) -> None:
        """Record an event for a person (``POST /api/v1/customers/{id}/events``).

        Args:
            customer_id: the person's identifier.
            name: the event name.
            data: the event's properties; omitted when ``None``.
            timestamp: when it happened (unix seconds or a datetime); omitted when ``None``.
            id: a ULID Customer.io deduplicates on; omitted when ``None``.
        """
        self.send(Track(customer_id, name, data, timestamp=timestamp, id=id))

    def track_page(
        self,
        customer_id: str,
        url: str,
        data: Mapping[str, Any] | None = None,
        *,
        timestamp: int | datetime | None = None,
        id: str | None = None,
    ) -> None:
        """Record a page view for a person: an event of type ``page`` named by the URL."""
        self.send(Page(customer_id, url, data, timestamp=timestamp, id=id))

    def track_anonymous(
        self,
        anonymous_id: str,
        name: str,
        data: Mapping[str, Any] | None = None,
        *,
        type: str = "event",
        timestamp: int | datetime | None = None,
        id: str | None = None,
    ) -> None:
        """Record an event of a person not identified yet (``POST /api/v1/events``).

        Customer.io merges it into the person whose ``anonymous_id`` attribute matches.
        ``type="page"`` records a page view (``name`` is then the URL).
        """
        self.send(AnonymousTrack(anonymous_id, name, data, type=type, timestamp=timestamp, id=id))

    def suppress(self, customer_id: str) -> None:
        """Suppress a person: delete them and ignore their identifier from now on."""
        self._send(_base.suppress_request(customer_id))

    def unsuppress(self, customer_id: str) -> None:
        """Stop suppressing a person's identifier."""
        self._send(_base.unsuppress_request(customer_id))

    def merge(self, primary: Mapping[str, Any], secondary: Mapping[str, Any]) -> None:
        """Merge ``secondary`` into ``primary`` (``POST /api/v1/merge_customers``).

        Args:
            primary: the person that remains, e.g. ``{"id": "42"}``, ``{"email": ...}`` or
                ``{"cio_id": ...}`` (exactly one key).
            secondary: the person merged into it and then deleted (same shape).
        """
        self._send(_base.merge_request(primary, secondary))

    def batch(self, operations: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Send v2 operations (``POST /api/v2/batch``), split into as many requests as needed.

        Build operations with [`identify_operation`][hull_customerio.identify_operation],
        [`event_operation`][hull_customerio.event_operation],
        [`page_operation`][hull_customerio.page_operation],
        [`anonymous_event_operation`][hull_customerio.anonymous_event_operation] and
        [`delete_operation`][hull_customerio.delete_operation], or take any operation's
        ``v2_operation()`` (objects and relationships too: `ObjectIdentify`, `ObjectDelete`,
        `DeleteRelationships`, `Identify` with ``relationships``). Requests are sent one after
        another in the operations' order. This method does not raise for failed operations or
        requests: every failure is in the result, keyed by the operation's index in
        ``operations``. When a request finds Customer.io unreachable (connection refused, DNS
        failure), the remaining requests are not sent; their operations fail with the same
        error.

        Returns:
            Which operations failed and why (a
            [`BatchResult`][hull_customerio.models.customerio.BatchResult]).
        """
        plan = _batch.plan_batch(operations)
        outcomes: list[Any] = []
        stop: APIError | None = None
        for sub in plan.requests:
            if stop is not None:  # Customer.io cannot be reached: the rest is not sent
                outcomes.append(stop)
                continue
            try:
                outcomes.append(_base.parse_body(self._send(sub.request)))
            except APIError as exc:
                outcomes.append(exc)
                if _batch.unreachable(exc):
                    stop = exc
        return _batch.batch_result(plan, outcomes)
