"""The asynchronous hub: [`AsyncConnectorHub`][hull_customerio.AsyncConnectorHub]. It drives the
flows of `_flows`, awaiting each effect."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpcore
import httpx

from .._http.ratelimit import AsyncRateLimiter
from ..customerio import AsyncCustomerIOClient
from ..engine import AsyncConnector
from ..engine._api import arun_checks
from ..errors import HullCustomerIOError, ValidationError
from ..hull import AsyncHullClient
from ..models.report import Status, SyncReport, WebhookOutcome
from ..settings import Settings
from . import _answers
from ._auth import NotificationAnswer
from ._backends import CheckedBackend, async_pool, async_response
from ._batch import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_SECONDS,
    DEFAULT_MAX_LINE_BYTES,
    BatchRequest,
)
from ._download import (
    DOWNLOAD_ERRORS,
    BatchFeed,
    DownloadTarget,
    alookup,
    download_target,
    request_arguments,
)
from ._effects import Answered, Effect, Flow, LeaseCustomerIO, LeaseHull, advance
from ._flows import UNSET, HubFlows, close_failed
from ._tokens import HullCredentials

__all__ = [
    "AsyncConnectorHub",
    "checked_target",
    "download_and_sync",
    "resolve_host",
    "sync_from",
]

T = TypeVar("T")

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (without blocking the event loop); a batch download
    looks its host up once, with this or the hub's ``resolver``."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def checked_target(
    request: BatchRequest, hosts: Sequence[str] | None, resolver: Resolver = resolve_host
) -> DownloadTarget | NotificationAnswer:
    """Awaitable `hull_customerio.hub.sync_hub.checked_target`: same arguments and answer;
    ``resolver`` is awaited."""
    try:
        return await alookup(download_target(request.url, hosts), resolver)
    except ValidationError as exc:
        return _answers.batch_url_refused(str(exc))


async def download_and_sync(
    connector: AsyncConnector,
    request: BatchRequest,
    hosts: Sequence[str] | None,
    *,
    resolver: Resolver = resolve_host,
    max_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    max_seconds: float = DEFAULT_MAX_BATCH_SECONDS,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ssl_context: ssl.SSLContext | None = None,
) -> NotificationAnswer:
    """Awaitable `hull_customerio.hub.sync_hub.download_and_sync`: same arguments and
    answers; ``connector`` is an `AsyncConnector` and ``resolver`` is awaited. Cancelling the
    calling task stops the download at once and closes its connection."""
    target = await checked_target(request, hosts, resolver)
    if isinstance(target, NotificationAnswer):
        return target
    return await sync_from(
        connector,
        target,
        max_bytes=max_bytes,
        max_seconds=max_seconds,
        chunk_size=chunk_size,
        max_line_bytes=max_line_bytes,
        ssl_context=ssl_context,
        accounts=request.accounts,
    )


async def sync_from(
    connector: AsyncConnector,
    target: DownloadTarget,
    *,
    max_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    max_seconds: float = DEFAULT_MAX_BATCH_SECONDS,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ssl_context: ssl.SSLContext | None = None,
    accounts: bool = False,
) -> NotificationAnswer:
    """Awaitable `hull_customerio.hub.sync_hub.sync_from`: same arguments, limits and
    answers; ``connector`` is an `AsyncConnector`. Cancelling the calling task stops the
    download at once and closes its connection."""
    feed = BatchFeed(
        accounts=accounts,
        chunk_size=chunk_size,
        max_line_bytes=max_line_bytes,
        max_bytes=max_bytes,
        max_seconds=max_seconds,
    )
    pool = async_pool(CheckedBackend(target, feed.deadline, feed.clock), ssl_context)
    async with pool:
        return await _sync_stream(connector, feed, _checked_response(pool, target))


@contextlib.asynccontextmanager
async def _checked_response(
    pool: httpcore.AsyncConnectionPool, target: DownloadTarget
) -> AsyncIterator[httpx.Response]:
    async with pool.stream(**request_arguments(target)) as response:
        yield async_response(response)


async def _sync_stream(
    connector: AsyncConnector,
    feed: BatchFeed,
    opened: contextlib.AbstractAsyncContextManager[httpx.Response],
) -> NotificationAnswer:
    try:
        async with opened as response:
            if response.status_code != 200:
                return _answers.download_failed(f"the batch file answered {response.status_code}")
            body = response.aiter_bytes()
            try:
                async for data in body:
                    for chunk in feed.feed(data):
                        feed.count(await _sync_chunk(connector, feed, chunk))
                    if feed.stopped is not None:
                        break
            finally:
                if isinstance(body, AsyncGenerator):
                    await body.aclose()
    except DOWNLOAD_ERRORS as exc:
        feed.fail(exc)
    rest = feed.rest()
    if rest:
        feed.count(await _sync_chunk(connector, feed, rest))
    return feed.answer()


async def _sync_chunk(
    connector: AsyncConnector, feed: BatchFeed, chunk: list[Mapping[str, Any]]
) -> SyncReport:
    if feed.accounts:
        return await connector.sync_account_updates(chunk)
    return await connector.sync_user_updates(chunk, batch=True)


class AsyncConnectorHub(HubFlows[httpx.AsyncClient, Resolver]):
    """[`ConnectorHub`][hull_customerio.ConnectorHub] for asyncio: the same arguments, the same
    answers, awaited.

    One hub is shared by every request task of an event loop. ``http_client`` is an
    ``httpx.AsyncClient`` and ``resolver`` an awaitable ``(host, port) -> addresses``;
    cancelling a request's task (the caller left, the app shuts down) stops its work at once,
    a batch download included, and gives its clients back.
    """

    _hull_type = AsyncHullClient
    _customerio_type = AsyncCustomerIOClient
    _limiter_type = AsyncRateLimiter
    _connector_type = AsyncConnector
    _run_checks = staticmethod(arun_checks)
    _checked_target = staticmethod(checked_target)
    _sync_from = staticmethod(sync_from)
    _http_type = httpx.AsyncClient
    _resolve_host = staticmethod(resolve_host)
    _settings_lock_type = asyncio.Lock

    # -------------------------------------------------------------------------- requests

    async def answer_notification(
        self, body: bytes, headers: Mapping[str, str]
    ) -> NotificationAnswer:
        """Awaitable
        [`ConnectorHub.answer_notification`][hull_customerio.ConnectorHub.answer_notification]:
        same arguments and answers."""
        return await self._run(self._notification_flow(body, headers))

    async def answer_batch(
        self,
        body: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        *,
        batch_hosts: Sequence[str] | None = UNSET,
    ) -> NotificationAnswer:
        """Awaitable [`ConnectorHub.answer_batch`][hull_customerio.ConnectorHub.answer_batch]: same
        arguments and answers. Cancelling the task (the caller left, the app shuts down) stops
        the download at once and closes its connection."""
        return await self._run(self._batch_flow(body, query, batch_hosts))

    async def answer_webhook(
        self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str]
    ) -> WebhookOutcome:
        """Awaitable [`ConnectorHub.answer_webhook`][hull_customerio.ConnectorHub.answer_webhook]:
        same arguments and outcomes."""
        return await self._run(self._webhook_flow(body, headers, query))

    async def publish_status(self, *, organization: str, connector_id: str, secret: str) -> Status:
        """Awaitable [`ConnectorHub.publish_status`][hull_customerio.ConnectorHub.publish_status]:
        same arguments, result and errors."""
        return await self._run(self._status_flow(organization, connector_id, secret))

    async def answer_status(self, query: Mapping[str, str]) -> NotificationAnswer:
        """Awaitable [`ConnectorHub.answer_status`][hull_customerio.ConnectorHub.answer_status]:
        same argument and answers."""
        return await self._run(self._status_answer_flow(query))

    async def answer_credentials(
        self, query: Mapping[str, str], *, base_url: str
    ) -> NotificationAnswer:
        """Awaitable
        [`ConnectorHub.answer_credentials`][hull_customerio.ConnectorHub.answer_credentials]:
        same arguments and answers."""
        return await self._run(self._credentials_flow(query, base_url))

    async def aclose(self) -> None:
        """Awaitable [`ConnectorHub.close`][hull_customerio.ConnectorHub.close]: flushes and
        closes every client the hub built (and its download client). Idempotent."""
        shut = self._shut()
        if shut is None:
            return
        await self._close_hulls(shut[0])
        await self._close_workspaces(shut[1])
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncConnectorHub:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---------------------------------------------------------------------------- driver

    async def _run(self, flow: Flow[T]) -> T:
        """`ConnectorHub._run`, awaiting each effect."""
        async with contextlib.AsyncExitStack() as leases:
            with contextlib.closing(flow):
                step = advance(flow)
                while not isinstance(step, Answered):
                    try:
                        result = await self._perform(step, leases)
                    except Exception as exc:
                        step = advance(flow, error=exc)
                    else:
                        step = advance(flow, result)
                return step.value

    async def _perform(self, effect: Effect, leases: contextlib.AsyncExitStack) -> Any:
        if isinstance(effect, LeaseHull | LeaseCustomerIO):
            return await leases.enter_async_context(self._leased(effect))
        return await self._call(effect)()

    @contextlib.asynccontextmanager
    async def _leased(self, effect: LeaseHull | LeaseCustomerIO) -> AsyncIterator[Any]:
        lease, closing = self._take(effect)
        close = self._close_hulls if isinstance(effect, LeaseHull) else self._close_workspaces
        await close(closing)
        try:
            yield lease.value
        finally:
            await close(self._give_back(lease))

    async def _read_settings(self, credentials: HullCredentials, hull: AsyncHullClient) -> Settings:
        cached = self._cached_settings(credentials)
        if cached is not None:
            return cached
        with self._settings_turn(credentials) as lock:
            async with lock:
                cached = self._cached_settings(credentials)
                if cached is None:
                    cached = self._keep_settings(credentials, await hull.api("GET", "app"))
                return cached

    async def _close_hulls(self, clients: list[AsyncHullClient]) -> None:
        for client in clients:
            try:
                await client.aclose()
            except HullCustomerIOError as exc:
                close_failed(client, exc)

    async def _close_workspaces(self, clients: list[AsyncCustomerIOClient]) -> None:
        for client in clients:
            self._forget_limiter(client)
            await client.aclose()
