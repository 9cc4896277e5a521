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
    post_failure,
    requeued_message,
)
from ._scopes import AsyncHullAccountScope, AsyncHullUserScope

__all__ = ["AsyncHullClient", "AsyncHullUserScope"]


class AsyncHullClient(HullCore):
    """The asyncio twin of [`HullClient`][hull_customerio.HullClient]: the same arguments,
    rules and errors, with awaitable methods; use it as an async context manager.

    Meant to be shared by many tasks: each firehose batch is posted by a task of its own (at
    most ``max_in_flight`` at a time), so cancelling a `wait` never cancels a request under way;
    leaving the ``async with`` block by a cancellation stops those tasks instead of flushing
    (their messages stay queued). Only these arguments differ:

    Args:
        http_client: an ``httpx.AsyncClient`` to send with; the caller keeps ownership (it is not
            closed by `close`).
        sleep: a coroutine function waiting between retries (``asyncio.sleep`` when ``None``;
            tests inject one that does not wait).
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
        self._changed: asyncio.Condition = asyncio.Condition(self._lock)
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
        """[`HullClient.as_user`][hull_customerio.HullClient.as_user] for this client: the
        same arguments and errors; the scope's writes are awaitable."""
        token, names = self._signed_scope(claims, create=create, active=active)
        return AsyncHullUserScope(self, token, names, delivery)

    def as_account(
        self, claims: Mapping[str, object], *, delivery: DeliveryTicket | None = None
    ) -> AsyncHullAccountScope:
        """[`HullClient.as_account`][hull_customerio.HullClient.as_account] for this client: the
        same arguments and errors; the scope's writes are awaitable."""
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
        """Awaitable [`HullClient.api`][hull_customerio.HullClient.api]: same arguments, result
        and errors."""
        spec = self._rest_request(method, path, json, params)
        return await self._call(spec, retry=retry)

    async def put_status(self, status: str, messages: Sequence[str]) -> None:
        """Awaitable [`HullClient.put_status`][hull_customerio.HullClient.put_status]: same
        arguments and errors."""
        await self._call(self._status_request(status, messages), retry=True)

    async def requeue(
        self, messages: Iterable[Mapping[str, Any]], *, delivery: DeliveryTicket | None = None
    ) -> None:
        """Awaitable [`HullClient.requeue`][hull_customerio.HullClient.requeue]: same arguments
        and errors."""
        for message in [requeued_message(m) for m in messages]:  # each is checked first
            await self._enqueue(message, delivery)

    async def wait(
        self, delivery: DeliveryTicket | None = None, *, timeout: float | None = None
    ) -> bool:
        """Awaitable [`HullClient.wait`][hull_customerio.HullClient.wait]: same arguments, result
        and errors. Cancelling the wait (or its timeout) never cancels a request under way."""
        ticket = self._shared if delivery is None else delivery

        async def settled() -> None:
            async with self._changed:
                while not self._wait_over(ticket):
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
        """Awaitable [`HullClient.post_pending`][hull_customerio.HullClient.post_pending]: it
        starts the posting tasks and returns without waiting for them."""
        async with self._lock:
            self._check_open()
            self._submit(self._queue.start())

    async def flush(self, delivery: DeliveryTicket | None = None) -> None:
        """Awaitable [`HullClient.flush`][hull_customerio.HullClient.flush]: same arguments and
        errors."""
        async with self._lock:
            ticket = self._open_ticket(delivery)
        await self.wait(ticket)
        async with self._lock:
            self._raise_failures(ticket)

    async def aclose(self) -> None:
        """The same as `close` (the name ``httpx`` and ``contextlib.aclosing`` use)."""
        await self.close()

    async def close(self) -> None:
        """Awaitable [`HullClient.close`][hull_customerio.HullClient.close]: same errors; also
        safe to call twice."""
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
            self._submit(self._queue_message(message, ticket))
        return message.request_id

    def _submit(self, batches: Sequence[Batch]) -> None:
        """Start a posting task per batch (the lock is held; nothing waits here)."""
        for batch in batches:
            task = asyncio.get_running_loop().create_task(self._post(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _post(self, batch: Batch) -> None:
        """Post ``batch`` in a task of its own, then whatever `_posted` lines up in its slot."""
        slot = [batch]
        while slot:
            error = await self._attempt(self._batch_request(slot[0]), slot)
            async with self._changed:
                self._posted(slot, error)

    async def _attempt(self, spec: RequestSpec, slot: list[Batch]) -> APIError | None:
        """Send the slot's first batch: ``None`` when Hull accepted it, else what fails it.

        Cancelled (the client is shutting down): the slot's batches go back in the queue.
        """
        try:
            await self._call(spec, retry=True)
        except Exception as exc:  # a transport bug must fail the messages, not hang
            return post_failure(exc, spec)
        except BaseException:
            # The lock cannot be awaited in a cancelled task: the waiters are woken by a task.
            self._queue.put_back(slot)
            self._wake_soon()
            raise
        return None

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
            raise self._unanswered(spec, exc, started) from exc
        return self._answered(spec, response, started)
