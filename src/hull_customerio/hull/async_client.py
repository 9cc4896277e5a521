"""The asynchronous Hull client: it only sends what `hull._base` builds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from .._http import transport as _transport
from .._http.retry import RetryPolicy, async_call_with_retries
from ..errors import APIError
from ..metrics import Metrics
from ..metrics import _api as metrics_api
from ._base import (
    DEFAULT_FLUSH_AT,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT,
    Batch,
    DeliveryTicket,
    HullCore,
    JSONValue,
    QueuedMessage,
    RequestSpec,
    parse_response,
    requeued_message,
    transport_error,
    unexpected_error,
)
from ._scopes import AsyncHullAccountScope, AsyncHullUserScope

__all__ = ["AsyncHullClient", "AsyncHullUserScope"]


class AsyncHullClient(HullCore):
    """Writes to a Hull organization as a connector: firehose messages and REST calls.

    The async twin of [`HullClient`][hull_customerio.HullClient], with the same arguments and
    behaviour. Use it as an async context manager: on exit it flushes the queue, then closes.

    Meant to be shared by many tasks: their messages are grouped into the same firehose
    batches, each posted by a task of its own (at most ``max_in_flight`` requests at a time).
    No lock is held while a request or a retry wait is under way. A call that needs to know its
    own messages arrived takes a `delivery` ticket and awaits `wait` for it.

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
            closed by `close`).
        sleep: a coroutine function waiting between retries (``asyncio.sleep`` when ``None``;
            tests inject one that does not wait).
        max_in_flight: how many firehose requests may be under way at the same time.
        metrics: where each request sent (retries included) is counted as
            ``ship.service_api.call`` and timed (see `hull_customerio.metrics`); default:
            nowhere.

    Raises:
        ConfigurationError: a credential is missing, ``flush_at`` or ``max_in_flight`` is not
            positive, or no firehose URL can be derived from ``organization``.
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
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        metrics: Metrics | None = None,
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
            max_in_flight=max_in_flight,
            metrics=metrics,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else _transport.async_client(timeout)
        self._sleep = sleep
        # Guards the queue and the tickets; held for bookkeeping only, never across a request.
        self._lock = asyncio.Lock()
        # Notified whenever a message is settled or put back, so waiters re-check.
        self._changed = asyncio.Condition(self._lock)
        self._waiting = 0  # callers in wait() or close(), under the lock
        self._tasks: set[asyncio.Task[None]] = set()

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
        self,
        claims: Mapping[str, object],
        *,
        create: bool = True,
        active: bool = False,
        delivery: DeliveryTicket | None = None,
    ) -> AsyncHullUserScope:
        """A writer acting as one user; its token is signed once, here.

        Args:
            claims: the user's identity; only ``id``, ``email``, ``external_id`` and
                ``anonymous_id`` are used, blank values are dropped.
            create: whether Hull creates the user when no one matches.
            active: whether Hull treats the user as active.
            delivery: the ticket (from `delivery`) the scope's messages belong to;
                ``None``: the client's shared ticket, reported by `flush`.

        Raises:
            ValidationError: no usable claim is left.
        """
        token, names = self._signed_scope(claims, create=create, active=active)
        return AsyncHullUserScope(self, token, names, delivery)

    def as_account(
        self, claims: Mapping[str, object], *, delivery: DeliveryTicket | None = None
    ) -> AsyncHullAccountScope:
        """A writer acting as one account (``io.hull.asAccount``); its token is signed here.

        Args:
            claims: the account's identity; only ``id``, ``external_id`` and ``domain`` are
                used, blank values are dropped.
            delivery: the ticket its messages belong to; ``None``: the client's shared one.

        Raises:
            ValidationError: no usable claim is left.
        """
        token, names = self._signed_account_scope(claims)
        return AsyncHullAccountScope(self, token, names, delivery)

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
        spec = self._rest_request(method, path, json, params)
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

    async def requeue(
        self, messages: Iterable[Mapping[str, Any]], *, delivery: DeliveryTicket | None = None
    ) -> None:
        """Queue undelivered messages again, unchanged (same ``requestId`` and ``event_id``).

        Args:
            messages: messages from `DeliveryError.undelivered`.
            delivery: the ticket they belong to (default: the client's shared ticket).

        Raises:
            ValidationError: one of them is not a firehose message (then none is queued).
        """
        queued = [requeued_message(m) for m in messages]
        for message in queued:
            await self._enqueue(message, delivery)

    async def wait(
        self, delivery: DeliveryTicket | None = None, *, timeout: float | None = None
    ) -> bool:
        """Post what is queued, then wait until each message of ``delivery`` is settled.

        See [`HullClient.wait`][hull_customerio.HullClient.wait]: the same rules.
        Cancelling the wait (or its timeout) never cancels a request under way.

        Returns:
            ``True`` when every message of the ticket is settled, ``False`` when the timeout
            ran out first (the messages stay in flight and may still be delivered).

        Raises:
            RuntimeError: the client was closed without delivering them.
        """
        ticket = self._shared if delivery is None else delivery

        async def settled() -> None:
            async with self._changed:
                while not ticket.done:
                    if self._closed:
                        raise RuntimeError(f"{type(self).__name__} is closed")
                    await self._post_and_wait()

        if timeout is None:
            await settled()
            return True
        try:
            await asyncio.wait_for(settled(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def post_pending(self) -> None:
        """Start posting every queued message now, a partial batch too, without waiting for
        Hull's answers (`wait` and `flush` tell how they went).

        For a caller that has queued all it will queue for a while and has other work to do
        meanwhile: the messages are on their way instead of waiting for ``flush_at`` more.
        """
        async with self._lock:
            self._check_open()
            self._submit(self._queue.start())

    async def flush(self, delivery: DeliveryTicket | None = None) -> None:
        """Post every queued message; return only when the ticket's messages were all accepted.

        See [`HullClient.flush`][hull_customerio.HullClient.flush].

        Raises:
            DeliveryError: some of the ticket's messages queued since its last flush were not
                delivered; ``.undelivered`` lists them all, ``__cause__`` is the last API
                error. Messages of other tickets are never in it.
        """
        ticket = self._shared if delivery is None else delivery
        async with self._lock:
            self._check_open()
        await self.wait(ticket)
        async with self._lock:
            error = ticket.delivery_error(self._firehose_url, clear=True)
        if error is not None:
            raise error from error.__cause__

    async def aclose(self) -> None:
        """The same as `close` (the name ``httpx`` and ``contextlib.aclosing`` use)."""
        await self.close()

    async def close(self) -> None:
        """Deliver everything queued or in flight, then release the HTTP client if this client
        created it. Safe to call twice.

        Raises:
            DeliveryError: as `flush`, for the messages written without a ticket; the
                client is closed all the same.
        """
        async with self._changed:
            if self._closed:
                return
            try:
                while not self._queue.idle:
                    await self._post_and_wait()
            finally:
                self._closed = True
            error = self._shared.delivery_error(self._firehose_url, clear=True)
        await self._release()
        if error is not None:
            raise error from error.__cause__

    async def _post_and_wait(self) -> None:
        """Start posting what is queued, then wait (the lock is held) until a message is settled
        or put back."""
        self._submit(self._queue.start())
        self._waiting += 1  # see _post: posters go on with partial batches
        try:
            await self._changed.wait()
        finally:
            self._waiting -= 1

    async def _shut(self) -> None:
        async with self._changed:
            self._closed = True
            self._changed.notify_all()
        for task in list(self._tasks):
            task.cancel()
        await self._release()

    async def _release(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def _enqueue(self, message: QueuedMessage, ticket: DeliveryTicket | None) -> str:
        async with self._lock:
            self._check_open()
            batch = self._queue.add(message, self._shared if ticket is None else ticket)
            if batch is not None:
                self._submit([batch])
        return message.request_id

    def _submit(self, batches: list[Batch]) -> None:
        """Start a posting task per batch (the lock is held; nothing waits here)."""
        for batch in batches:
            task = asyncio.get_running_loop().create_task(self._post(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _post(self, batch: Batch) -> None:
        """Post ``batch`` (in its own task), settle its messages with Hull's answer, then post
        the full batches queued meanwhile in the same slot; waiters post the rest."""
        todo = [batch]
        while todo:
            current = todo.pop(0)
            spec = self._firehose_request([entry.message for entry in current])
            error: APIError | None = None
            try:
                await self._call(spec, retry=True)
            except APIError as exc:
                error = exc
            except Exception as exc:  # a transport bug must fail the messages, not hang
                error = unexpected_error(exc, spec)
            except BaseException:
                # Cancelled (the client is shutting down): keep the messages queued.
                self._queue.put_back([current, *todo])
                self._wake_soon()
                raise
            async with self._changed:
                todo[:0] = self._settle(current, error)
                if not todo:
                    following = self._queue.next_batch(partial=self._waiting > 0)
                    if following is not None:
                        todo.append(following)
                self._changed.notify_all()

    def _wake_soon(self) -> None:
        async def wake() -> None:
            async with self._changed:
                self._changed.notify_all()

        with contextlib.suppress(RuntimeError):  # the loop is closing: nobody waits any more
            task = asyncio.get_running_loop().create_task(wake())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _call(self, spec: RequestSpec, *, retry: bool) -> JSONValue:
        if not retry:
            return await self._send(spec)
        return await async_call_with_retries(
            lambda: self._send(spec), self._retry, sleep=self._sleep
        )

    async def _send(self, spec: RequestSpec) -> JSONValue:
        started = metrics_api.clock()
        try:
            response = await self._http.request(
                spec.method,
                spec.url,
                headers=spec.headers,
                content=spec.content,
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            self._report(spec, None, started)
            raise transport_error(exc, spec) from exc
        self._report(spec, response.status_code, started)
        return parse_response(response, spec)
