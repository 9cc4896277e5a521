"""The asynchronous Hull client: it only sends what :mod:`hull_customerio.hull._base` builds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx

from hull_customerio._retry import RetryPolicy, async_call_with_retries
from hull_customerio.errors import APIError

from ._base import (
    DEFAULT_FLUSH_AT,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT,
    HullCore,
    JSONValue,
    QueuedMessage,
    RequestSpec,
    build_track_message,
    build_traits_message,
    parse_response,
    requeued_message,
    transport_error,
)

__all__ = ["AsyncHullClient", "AsyncHullUserScope"]


class AsyncHullUserScope:
    """Writes to Hull as one user, returned by :meth:`AsyncHullClient.as_user`.

    The user's token is signed once, when the scope is made. Each write is queued on the client
    and posted with the next firehose batch; it returns the message's ``requestId`` so a
    :class:`~hull_customerio.errors.DeliveryError` can be traced back to the user.
    """

    __slots__ = ("_claim_names", "_client", "_token")

    def __init__(self, client: AsyncHullClient, token: str, claim_names: Sequence[str]) -> None:
        self._client = client
        self._token = token
        self._claim_names = tuple(claim_names)

    def __repr__(self) -> str:
        # Claim values are personal data and the token is a credential: names only.
        return f"AsyncHullUserScope(claims={list(self._claim_names)!r})"

    async def traits(self, attributes: Mapping[str, Any], *, source: str | None = None) -> str:
        """Queue a ``traits`` message setting ``attributes`` on this user.

        Args:
            attributes: trait names and values; a ``None`` value unsets the trait in Hull.
            source: a group for the names: ``source="customerio"`` sends ``x`` as
                ``customerio/x``; a name already holding a ``/`` is sent as is.

        Returns:
            The message's ``requestId``.

        Raises:
            ValidationError: a name is blank or a value is not JSON.
        """
        return await self._client._enqueue(
            build_traits_message(self._token, attributes, source=source)
        )

    async def track(
        self,
        event: str,
        properties: Mapping[str, Any] | None = None,
        *,
        event_id: str | None = None,
        created_at: str | datetime | None = None,
        source: str | None = None,
        type: str | None = None,
        ip: str | None = "0",
    ) -> str:
        """Queue a ``track`` message recording ``event`` for this user.

        Args:
            event: the event name.
            properties: the event's properties.
            event_id: Hull overwrites an event with the same id instead of duplicating it; a
                new uuid4 is fixed now when none is given, so retries never duplicate.
            created_at: when the event happened (ISO-8601 string or aware datetime); ``None``
                lets Hull use the time it receives the event.
            source: the event's ``source`` (e.g. ``"customerio"``).
            type: the event's ``type``.
            ip: the client IP; ``"0"`` (the default) tells Hull not to geolocate.

        Returns:
            The message's ``requestId``.

        Raises:
            ValidationError: a blank event name, a naive datetime or a property that is not JSON.
        """
        message = build_track_message(
            self._token,
            event,
            properties,
            event_id=event_id,
            created_at=created_at,
            source=source,
            type=type,
            ip=ip,
        )
        return await self._client._enqueue(message)


class AsyncHullClient(HullCore):
    """Writes to a Hull organization as a connector: firehose messages and REST calls.

    The async twin of :class:`~hull_customerio.hull.HullClient`, with the same arguments and
    behaviour. Use it as an async context manager: on exit it flushes the queue, then closes.
    Many tasks may write at once: the queue and its posting are guarded by an ``asyncio.Lock``.

    Args:
        id: the connector id (24 hex characters).
        secret: the connector secret; it signs user tokens and authenticates REST calls. It
            never appears in ``repr``, error texts or logs.
        organization: the organization host, e.g. ``abc123.hullapp.io``.
        api_url: overrides ``https://<organization>`` for REST calls.
        firehose_url: overrides ``https://firehose.<organization minus its first label>``.
        flush_at: queued messages that trigger a firehose post.
        timeout: applied to every request, also through an injected ``http_client``.
        retry: how failed requests are retried (connection errors, timeouts, 429 and 5xx by
            default).
        http_client: an ``httpx.AsyncClient`` to send with; the caller keeps ownership (it is not
            closed by :meth:`close`).
        sleep: a coroutine function waiting between retries (``asyncio.sleep`` when ``None``;
            tests inject one that does not wait).

    Raises:
        ConfigurationError: a credential is missing, ``flush_at`` is not positive, or no
            firehose URL can be derived from ``organization``.
    """

    def __init__(
        self,
        id: str,
        secret: str,
        organization: str,
        *,
        api_url: str | None = None,
        firehose_url: str | None = None,
        flush_at: int = DEFAULT_FLUSH_AT,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(
            id,
            secret,
            organization,
            api_url=api_url,
            firehose_url=firehose_url,
            flush_at=flush_at,
            timeout=timeout,
            retry=retry,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient(timeout=timeout)
        self._sleep = sleep
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> AsyncHullClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A cancellation or interrupt asks us to stop, not to keep posting.
        if exc_type is None or issubclass(exc_type, Exception):
            await self.close()
        else:
            await self._shut()

    def as_user(
        self, claims: Mapping[str, object], *, create: bool = True, active: bool = False
    ) -> AsyncHullUserScope:
        """A writer acting as one user; its token is signed once, here.

        Args:
            claims: the user's identity; only ``id``, ``email``, ``external_id`` and
                ``anonymous_id`` are used, blank values are dropped.
            create: whether Hull creates the user when no one matches.
            active: whether Hull treats the user as active.

        Raises:
            ValidationError: no usable claim is left.
        """
        token = self.user_token(claims, create=create, active=active)
        return AsyncHullUserScope(self, token, self._claims_for_scope(claims))

    async def api(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        params: Mapping[str, str | int | float | bool] | None = None,
        retry: bool = True,
    ) -> JSONValue:
        """Call Hull's REST API: ``<api_url>/api/v1/<path>`` with the connector's headers.

        Args:
            method: the HTTP method.
            path: the path after ``/api/v1/``, e.g. ``"<id>/status"``.
            json: a JSON body, if any.
            params: query parameters.
            retry: whether to retry connection errors, 429 and 5xx under the client's policy;
                turn it off for a call that must not run twice.

        Returns:
            The parsed JSON answer (its text when it is not JSON, ``None`` when empty).

        Raises:
            APIStatusError: a non-2xx answer (the subclass matches the status).
            APIConnectionError: no response (``APITimeoutError`` when in time).
        """
        spec = self._rest_request(method, path, json=json, params=params)
        return await self._call(spec, retry=retry)

    async def put_status(self, status: str, messages: Sequence[str]) -> None:
        """Report the connector's health to Hull: ``PUT /api/v1/<id>/status``.

        Args:
            status: ``"ok"``, ``"warning"``, ``"error"``...
            messages: sentences explaining the status.

        Raises:
            APIError: the call failed after retries.
        """
        await self._call(self._status_request(status, messages), retry=True)

    async def requeue(self, messages: Iterable[Mapping[str, Any]]) -> None:
        """Queue undelivered messages again, unchanged (same ``requestId`` and ``event_id``).

        Args:
            messages: messages from :attr:`DeliveryError.undelivered`.

        Raises:
            ValidationError: one of them is not a firehose message (then none is queued).
        """
        queued = [requeued_message(m) for m in messages]
        for message in queued:
            await self._enqueue(message)

    async def flush(self) -> None:
        """Post every queued message; return only when all of them were accepted.

        Raises:
            DeliveryError: some messages queued since the last flush (including those of
                automatic posts made when the queue reached ``flush_at``) were not delivered;
                ``.undelivered`` lists them all, ``__cause__`` is the last API error.
        """
        async with self._lock:
            self._check_open()
            await self._deliver(self._queue.take_all())
            error = self._queue.take_delivery_error(self._firehose_url)
        if error is not None:
            raise error from error.__cause__

    async def aclose(self) -> None:
        """The same as :meth:`close` (the name ``httpx`` and ``contextlib.aclosing`` use)."""
        await self.close()

    async def close(self) -> None:
        """Flush, then release the HTTP client if this client created it. Safe to call twice.

        Raises:
            DeliveryError: as :meth:`flush`; the client is closed all the same.
        """
        async with self._lock:
            if self._closed:
                return
            try:
                await self._deliver(self._queue.take_all())
            finally:
                self._closed = True
                await self._release()
            error = self._queue.take_delivery_error(self._firehose_url)
        if error is not None:
            raise error from error.__cause__

    async def _shut(self) -> None:
        async with self._lock:
            self._closed = True
            await self._release()

    async def _release(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def _enqueue(self, message: QueuedMessage) -> str:
        async with self._lock:
            self._check_open()
            batch = self._queue.add(message)
            if batch is not None:
                # Failures here concern other users' messages too: they are kept for flush().
                await self._deliver([batch])
        return message.request_id

    async def _deliver(self, batches: list[list[QueuedMessage]]) -> None:
        for index, batch in enumerate(batches):
            spec = self._firehose_request(batch)
            try:
                await self._call(spec, retry=True)
            except APIError as exc:
                if self._batch_failed(batches, index, exc):
                    return
            except BaseException:
                self._queue.put_back(batches[index:])
                raise

    async def _call(self, spec: RequestSpec, *, retry: bool) -> JSONValue:
        if not retry:
            return await self._send(spec)
        return await async_call_with_retries(
            lambda: self._send(spec), self._retry, sleep=self._sleep
        )

    async def _send(self, spec: RequestSpec) -> JSONValue:
        try:
            response = await self._http.request(
                spec.method,
                spec.url,
                headers=spec.headers,
                content=spec.content,
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise transport_error(exc, spec) from exc
        return parse_response(response, spec)
