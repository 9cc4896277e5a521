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
from ..engine._api import aauthenticate_raw
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
    DOWNLOAD_TIMEOUT,
    BatchFeed,
    DownloadTarget,
    alookup,
    download_target,
    request_arguments,
)
from ._effects import (
    Effect,
    Flow,
    LeaseCustomerIO,
    LeaseHull,
)
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
    """Where ``request.url`` may be downloaded from, or the 400 answer saying why.

    The URL must be ``https`` (or plain ``http`` for a listed loopback or private address)
    and name an allowed host without user-info; the host is looked up once with
    ``resolver`` and, unless it is listed in ``hosts``, every address must be public. The
    download then connects to those addresses only.
    """
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
    """Check ``request.url`` (`checked_target`), download the file from the checked address
    and sync its users (`sync_from`): a batch for one connector, as the hub answers it.

    Args:
        connector: syncs the users (batch rules).
        request: the batch request (its URL).
        hosts: hosts files may come from; ``None``: any public ``https`` host.
        resolver: how the host's name is looked up (once).
        max_bytes: bytes of the file read at most.
        max_seconds: seconds the download may take.
        chunk_size: users synced at a time.
        max_line_bytes: a longer line is one malformed user.
        ssl_context: the TLS settings (default: httpx's, with the system's trust settings).

    Returns:
        400 for a URL that may not be downloaded; else what `sync_from` answers.
    """
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
    """Download the batch file from ``target``'s checked addresses and sync its users
    ``chunk_size`` at a time (batch rules).

    At most one chunk of users and one line of the file are held in memory. The download
    stops after ``max_bytes`` bytes or ``max_seconds`` seconds (counted from the call; a
    chunk being synced is never cut, the reads after it are). Cancelling the calling task
    stops the download at once and closes its connection.

    Returns:
        200 with the counts when the file was read to its end. 502 ``download_failed`` when
        it answered another status than 200 (a redirect is not followed) or could not be
        read; 502 ``batch_too_large`` / ``batch_too_slow`` at a limit. A 502 after part of
        the file was read says so: the users read in full before the stop were synced, and
        the body holds their counts.
    """
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
        return await connector.sync_account_updates(chunk, batch=True)
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
    _authenticate = staticmethod(aauthenticate_raw)
    _checked_target = staticmethod(checked_target)
    _sync_from = staticmethod(sync_from)

    def _new_http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT)

    def _default_resolver(self) -> Resolver:
        return resolve_host

    def _new_cache_lock(self) -> contextlib.nullcontext[None]:
        # One event loop: the caches are never touched by two tasks at once.
        return contextlib.nullcontext()

    def _new_settings_lock(self) -> asyncio.Lock:
        return asyncio.Lock()

    # -------------------------------------------------------------------------- requests

    async def answer_notification(
        self, body: bytes, headers: Mapping[str, str]
    ) -> NotificationAnswer:
        """Answer one of Hull's notifications; see
        [`ConnectorHub.answer_notification`][hull_customerio.ConnectorHub.answer_notification]."""
        return await self._run(self._notification_flow(body, headers))

    async def answer_batch(
        self,
        body: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        *,
        batch_hosts: Sequence[str] | None = UNSET,
    ) -> NotificationAnswer:
        """Answer Hull's batch or export; see
        [`ConnectorHub.answer_batch`][hull_customerio.ConnectorHub.answer_batch]. Cancelling the
        task (the caller left, the app shuts down) stops the download at once and closes its
        connection."""
        return await self._run(self._batch_flow(body, query, batch_hosts))

    async def answer_webhook(
        self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str]
    ) -> WebhookOutcome:
        """Answer a Customer.io webhook; see
        [`ConnectorHub.answer_webhook`][hull_customerio.ConnectorHub.answer_webhook]."""
        return await self._run(self._webhook_flow(body, headers, query))

    async def publish_status(self, *, organization: str, connector_id: str, secret: str) -> Status:
        """Check one connector's health and publish it to Hull; see
        [`ConnectorHub.publish_status`][hull_customerio.ConnectorHub.publish_status]."""
        return await self._run(self._status_flow(organization, connector_id, secret))

    async def answer_status(self, query: Mapping[str, str]) -> NotificationAnswer:
        """Answer Hull's status call; see
        [`ConnectorHub.answer_status`][hull_customerio.ConnectorHub.answer_status]."""
        return await self._run(self._status_answer_flow(query))

    async def answer_credentials(
        self, query: Mapping[str, str], *, base_url: str
    ) -> NotificationAnswer:
        """Answer Hull's ``/credentials`` call; see
        [`ConnectorHub.answer_credentials`][hull_customerio.ConnectorHub.answer_credentials]."""
        return await self._run(self._credentials_flow(query, base_url))

    async def aclose(self) -> None:
        """Flush and close every client the hub built (and its download client). Idempotent."""
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
        """Drive ``flow`` to its answer: perform each effect it yields and send back the
        result (or throw in the error); its leases end with it."""
        async with contextlib.AsyncExitStack() as leases:
            try:
                effect = next(flow)
                while True:
                    try:
                        result = await self._perform(effect, leases)
                    except Exception as exc:
                        effect = flow.throw(exc)
                    else:
                        effect = flow.send(result)
            except StopIteration as stop:
                answer: T = stop.value
                return answer
            finally:
                flow.close()

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
        lock = self._settings_lock(credentials)
        try:
            async with lock:
                cached = self._cached_settings(credentials)
                if cached is None:
                    cached = self._keep_settings(credentials, await hull.api("GET", "app"))
                return cached
        finally:
            self._settings_read(credentials, lock)

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
