"""The asynchronous hub: [`AsyncConnectorHub`][hull_customerio.AsyncConnectorHub]. It performs what
`_core` decides."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import httpcore
import httpx

from .._ratelimit import AsyncRateLimiter
from ..customerio import AsyncCustomerIOClient
from ..engine import AsyncConnector
from ..engine._core import log_event, record_webhook
from ..engine._notifications import (
    aauthenticate_raw,
    prepare_notification,
    processed_answer,
)
from ..errors import APIError, ConfigurationError, HullCustomerIOError, ValidationError
from ..hull import AsyncHullClient
from ..metrics import Metrics
from ..models.report import Status, WebhookOutcome
from ..settings import Settings
from . import _answers, _core
from ._auth import HULL_KEY_HOSTS, NotificationAnswer
from ._batch import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_SECONDS,
    DEFAULT_MAX_LINE_BYTES,
    BatchRequest,
    credentials_from_query,
)
from ._cache import Lease, LeaseCache
from ._core import (
    DEFAULT_MAX_TENANTS,
    DEFAULT_SETTINGS_TTL,
    HubCore,
    Options,
    WorkspaceKey,
    settings_failure,
    settings_from_app,
)
from ._download import (
    DOWNLOAD_ERRORS,
    BatchFeed,
    CheckedBackend,
    DownloadTarget,
    alookup,
    async_pool,
    async_response,
    download_target,
    request_arguments,
)
from ._tokens import HullCredentials, usable_credentials

__all__ = [
    "AsyncConnectorHub",
    "checked_target",
    "download_and_sync",
    "resolve_host",
    "sync_from",
]

logger = logging.getLogger("hull_customerio")

_DOWNLOAD_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_UNSET: Any = object()

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (without blocking the event loop); a batch download
    looks its host up once, with this or the hub's ``resolver``."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class AsyncConnectorHub:
    """Serves any number of Hull connectors and Customer.io workspaces from one process.

    Every request names its connector (the notification's ``configuration``, a batch's query,
    a webhook URL's token); the hub builds that tenant's clients from those credentials and
    its settings, reuses them for later requests (a bounded cache; the least recently used
    are flushed and closed once no request uses them) and shares one rate limiter between all
    the clients that send to one Customer.io workspace. One hub is shared by every request
    task of an event loop. Nothing of one tenant — credentials,
    settings, clients, reports — is ever used for another.

    Args:
        token_key: the service's own secret for webhook-URL tokens: random text of at least
            32 bytes, e.g. from ``python -c "import secrets; print(secrets.token_urlsafe(32))"``;
            keep it the same across processes and restarts so the URLs keep working.
        customerio_options: keyword arguments for every Customer.io client the hub builds
            (``base_url``, ``timeout``, ``retry``, ``rate_limit``...), or a function of the
            workspace's ``site_id`` returning them.
        hull_options: keyword arguments for every Hull client (``api_url``, ``firehose_url``,
            ``timeout``...), or a function of the organization returning them.
        notification_public_key: Hull's public key (PEM) for notification signatures.
        trusted_key_hosts: hosts the public key may be fetched from when not given.
        require_signature: refuse notifications without a valid Hull signature (on by
            default: a hub trusts nothing but Hull's signature and the credentials).
        trusted_hull_hosts: the domains an organization named by a request must be under
            (a plain host name: no IP address, port, path or user info) before the hub
            calls Hull there; anything else is refused with ``untrusted_organization``
            before any network I/O. Not applied when ``hull_options`` pin ``api_url``.
        mode: ``"v1"`` or ``"batch"`` for the connectors it builds.
        max_tenants: Hull clients, and Customer.io clients, kept open at most.
        settings_ttl: seconds a connector's settings read from Hull are reused (webhooks and
            batches; a notification carries its own).
        limiter_factory: the rate limiter of a workspace from its ``site_id`` (e.g. a limiter
            shared through Redis by every process); default: one in-process limiter per
            workspace.
        batch_hosts: hosts batch files may be downloaded from; ``None``: any public ``https``
            host (never loopback or private addresses unless listed).
        batch_chunk_size: users of a batch file sent through the engine at a time.
        max_batch_line_bytes: a batch file line longer than this is one malformed user.
        max_batch_bytes: a batch download stops after this many bytes (default 5 GB).
        max_batch_seconds: a batch download stops after this many seconds (default an hour).
        http_client: the ``httpx.AsyncClient`` Hull's public keys are fetched with (the hub
            does not close an injected one). Batch files are not downloaded with it: each
            download has a connection of its own, to the address checked for its host.
        resolver: how a batch host's name is looked up (once per download; tests inject one).
        clock: a monotonic clock for the settings cache.
        metrics: where every client and connector the hub builds reports (see
            `hull_customerio.metrics`), unless ``customerio_options``/``hull_options`` name
            their own; the webhooks the hub answers itself (a bad token, settings that could
            not be read) are counted too. Default: nowhere.

    Raises:
        ConfigurationError: a ``token_key`` under 32 bytes, an unknown mode or a bound below 1
            (``max_batch_seconds``: not above 0).
    """

    def __init__(
        self,
        *,
        token_key: str,
        customerio_options: Options = None,
        hull_options: Options = None,
        notification_public_key: str | None = None,
        trusted_key_hosts: Sequence[str] = HULL_KEY_HOSTS,
        require_signature: bool = True,
        trusted_hull_hosts: Sequence[str] = HULL_KEY_HOSTS,
        mode: str = "v1",
        max_tenants: int = DEFAULT_MAX_TENANTS,
        settings_ttl: float = DEFAULT_SETTINGS_TTL,
        limiter_factory: Callable[[str], Any] | None = None,
        batch_hosts: Sequence[str] | None = None,
        batch_chunk_size: int = 500,
        max_batch_line_bytes: int = 1_000_000,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        max_batch_seconds: float = DEFAULT_MAX_BATCH_SECONDS,
        http_client: httpx.AsyncClient | None = None,
        resolver: Resolver | None = None,
        clock: Callable[[], float] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        extra = {} if clock is None else {"clock": clock}
        self._core: HubCore[Any] = HubCore(
            token_key=token_key,
            customerio_options=customerio_options,
            hull_options=hull_options,
            notification_public_key=notification_public_key,
            trusted_key_hosts=trusted_key_hosts,
            require_signature=require_signature,
            trusted_hull_hosts=trusted_hull_hosts,
            mode=mode,
            max_tenants=max_tenants,
            settings_ttl=settings_ttl,
            limiter_factory=limiter_factory,
            batch_hosts=batch_hosts,
            batch_chunk_size=batch_chunk_size,
            max_batch_line_bytes=max_batch_line_bytes,
            max_batch_bytes=max_batch_bytes,
            max_batch_seconds=max_batch_seconds,
            metrics=metrics,
            **extra,
        )
        self._hulls: LeaseCache[HullCredentials, AsyncHullClient]
        self._workspaces: LeaseCache[WorkspaceKey, AsyncCustomerIOClient]
        self._hulls, self._workspaces = self._core.new_caches()
        # Which workspace key each cached Customer.io client was built for (its limiter's).
        self._limiter_keys: dict[int, WorkspaceKey] = {}
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=_DOWNLOAD_TIMEOUT)
        self._resolver: Resolver = resolver or resolve_host
        self._settings_locks: dict[HullCredentials, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return (
            f"AsyncConnectorHub(tenants={len(self._hulls)}, "
            f"require_signature={self._core.require_signature!r})"
        )

    @property
    def require_signature(self) -> bool:
        """Whether notifications must carry a valid Hull signature."""
        return self._core.require_signature

    @property
    def batch_hosts(self) -> tuple[str, ...] | None:
        """Hosts batch files may come from (``None``: any public host)."""
        return self._core.batch_hosts

    # ------------------------------------------------------------------------- webhook URLs

    def webhook_url(
        self, base_url: str, *, organization: str, connector_id: str, secret: str
    ) -> str:
        """The connector's Customer.io webhook URL; see
        [`ConnectorHub.webhook_url`][hull_customerio.ConnectorHub.webhook_url]."""
        return self._core.webhook_url(
            base_url, organization=organization, connector_id=connector_id, secret=secret
        )

    # ---------------------------------------------------------------------------- clients

    @contextlib.asynccontextmanager
    async def _hull(self, credentials: HullCredentials) -> AsyncIterator[AsyncHullClient]:
        self._check_open()
        try:
            lease, to_close = self._hulls.acquire(
                credentials, lambda: self._build_hull(credentials)
            )
        except ConfigurationError as exc:
            raise _core.UnusableCredentialsError(exc.problems) from None
        await self._close_hulls(to_close)
        try:
            yield lease.value
        finally:
            await self._close_hulls(self._hulls.release(lease))

    def _build_hull(self, credentials: HullCredentials) -> AsyncHullClient:
        options = self._core.hull_options(credentials.organization)
        return AsyncHullClient(
            credentials.connector_id, credentials.secret, credentials.organization, **options
        )

    @contextlib.asynccontextmanager
    async def _customerio(self, key: WorkspaceKey) -> AsyncIterator[AsyncCustomerIOClient]:
        self._check_open()
        lease: Lease[WorkspaceKey, AsyncCustomerIOClient]
        lease, to_close = self._workspaces.acquire(key, lambda: self._build_customerio(key))
        await self._close_workspaces(to_close)
        try:
            yield lease.value
        finally:
            await self._close_workspaces(self._workspaces.release(lease))

    def _build_customerio(self, key: WorkspaceKey) -> AsyncCustomerIOClient:
        options = self._core.customerio_options(key.site_id)
        options.pop("rate_limit", None)
        limiter = self._core.take_limiter(key, AsyncRateLimiter)
        try:
            client = AsyncCustomerIOClient(
                key.site_id, key.api_key, region=key.region, rate_limit=limiter, **options
            )
        except BaseException:
            self._core.drop_limiter(key)
            raise
        self._limiter_keys[id(client)] = key
        return client

    async def _close_hulls(self, clients: list[AsyncHullClient]) -> None:
        for client in clients:
            try:
                await client.close()
            except HullCustomerIOError as exc:
                log_event(
                    logging.ERROR, "hub.client.close_failed", reason="close_failed",
                    organization=client.organization, error=str(exc),
                )  # fmt: skip

    async def _close_workspaces(self, clients: list[AsyncCustomerIOClient]) -> None:
        for client in clients:
            self._core.drop_limiter(self._limiter_keys.pop(id(client)))
            await client.aclose()

    def _check_open(self) -> None:
        if self._core.closed:
            raise ConfigurationError(["the hub is closed"])

    def _connector(
        self, settings: Settings, customerio: AsyncCustomerIOClient | None, hull: AsyncHullClient
    ) -> AsyncConnector:
        return AsyncConnector(
            settings,
            customerio=customerio,
            hull=hull,
            mode=self._core.mode,
            key_http_client=self._http,
            metrics=self._core.metrics,
            **self._core.connector_security(),
        )

    # ------------------------------------------------------------------------- settings

    async def _settings(self, credentials: HullCredentials, hull: AsyncHullClient) -> Settings:
        cached = self._core.cached_settings(credentials)
        if cached is not None:
            return cached
        # One read per connector at a time: a burst of webhooks asks Hull once.
        lock = self._settings_locks.setdefault(credentials, asyncio.Lock())
        try:
            async with lock:
                cached = self._core.cached_settings(credentials)
                if cached is not None:
                    return cached
                settings = settings_from_app(await hull.api("GET", "app"))
                self._core.keep_settings(credentials, settings)
        finally:
            if not lock.locked():
                self._settings_locks.pop(credentials, None)
        return settings

    # ---------------------------------------------------------------------- notifications

    async def answer_notification(
        self, body: bytes, headers: Mapping[str, str]
    ) -> NotificationAnswer:
        """Answer one of Hull's notifications for whichever connector it names.

        Hull's signature (required by default) is verified before the body is even parsed.
        The tenant is then taken from the notification's ``configuration`` (organization, id,
        secret) — its organization must be a host under ``trusted_hull_hosts`` — and its
        settings from its ``connector.private_settings``; the users are synchronised by a
        connector built on that tenant's (cached) clients. Never raises for bad input.
        """
        read = await aauthenticate_raw(
            self._core.body_guard, body, headers, self._http, self._core.guard
        )
        if isinstance(read, NotificationAnswer):
            return read
        credentials = self._core.admit(_core.claimed_credentials(read))
        if isinstance(credentials, NotificationAnswer):
            return credentials
        settings = _answers.notification_settings(read.payload)
        key = None if settings is None else self._core.workspace_key(credentials, settings)
        if settings is None or key is None:
            # No workspace to send to: answered as a connector would, nothing sent.
            return _core.unsendable_answer(read, settings)
        try:
            async with self._hull(credentials) as hull, self._customerio(key) as customerio:
                prepared = prepare_notification(read, site_id=customerio.site_id)
                if isinstance(prepared, NotificationAnswer):
                    return prepared
                connector = self._connector(settings, customerio, hull)
                return processed_answer(await connector.sync_notification(prepared))
        except ConfigurationError as exc:
            return _answers.unusable_settings(exc)

    # ---------------------------------------------------------------------------- batches

    async def answer_batch(
        self,
        body: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        *,
        batch_hosts: Sequence[str] | None = _UNSET,
    ) -> NotificationAnswer:
        """Answer Hull's "send to connector" batch or export: download the file, sync its users.

        The query carries the connector's credentials (``organization``, ``id`` or ``ship``,
        ``secret``); they must be accepted by Hull, which also gives the connector's current
        settings. The body names the JSON-lines file; it is streamed and sent through the batch
        rules (segment filter bypassed) ``batch_chunk_size`` users at a time, so memory stays
        bounded whatever its size. Only ``https`` URLs on allowed hosts are downloaded; the host
        is looked up once and the connection goes to the address checked. The download stops
        after ``max_batch_bytes`` bytes or ``max_batch_seconds`` seconds; cancelling the task
        (the caller left, the app shuts down) stops it at once and closes its connection.

        Args:
            body: ``{"url", "format": "json", "object_type": "user_report"}``.
            headers: the request headers.
            query: the request's query parameters.
            batch_hosts: overrides the hub's ``batch_hosts`` for this call.

        Returns:
            200 with the counts of users that succeeded, were skipped or failed; 400 for a
            body or URL that cannot be used; 401 for missing or refused credentials; 502 when
            the file could not be downloaded, or not to its end (see `sync_from`); 503 when
            Hull could not be reached.
        """
        hosts = self._core.batch_hosts if batch_hosts is _UNSET else batch_hosts
        read = _answers.read_batch(body, query)
        if isinstance(read, NotificationAnswer):
            return read
        credentials = self._core.admit(read[0])
        if isinstance(credentials, NotificationAnswer):
            return credentials
        request = read[1]
        try:
            async with self._hull(credentials) as hull:
                try:
                    settings = await self._settings(credentials, hull)
                except (APIError, ConfigurationError) as exc:
                    return _answers.batch_settings_failure(exc)
                # Only once Hull accepted the credentials is the URL looked at (and resolved).
                target = await checked_target(request, hosts, self._resolver)
                if isinstance(target, NotificationAnswer):
                    return target
                key = self._core.workspace_key(credentials, settings)
                if key is None:
                    return _answers.missing_workspace_credentials()
                async with self._customerio(key) as customerio:
                    connector = self._connector(settings, customerio, hull)
                    return await sync_from(
                        connector,
                        target,
                        chunk_size=self._core.batch_chunk_size,
                        max_line_bytes=self._core.max_batch_line_bytes,
                        max_bytes=self._core.max_batch_bytes,
                        max_seconds=self._core.max_batch_seconds,
                    )
        except _core.UnusableCredentialsError:
            return _answers.refused("wrong_connector")

    # ---------------------------------------------------------------------------- webhooks

    async def answer_webhook(
        self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str]
    ) -> WebhookOutcome:
        """Answer a Customer.io webhook sent to a URL from `webhook_url`.

        The URL's token names the connector: a missing, altered or foreign token is answered
        401 and nothing is forwarded. The connector's current settings are read from Hull
        (cached ``settings_ttl`` seconds) and the webhook is handled with them: its signature
        checked with the connector's ``webhook_signing_key``, the event forwarded to that
        connector's organization. A connector whose settings have no Customer.io credentials
        still has its webhooks forwarded (no Customer.io client is needed for them). Never
        raises for bad input.
        """
        opened = self._core.open_token(query)
        if opened is None:
            return record_webhook(self._core.metrics, _core.invalid_token())
        credentials = self._core.checked_credentials(opened)
        if credentials is None:
            return record_webhook(self._core.metrics, _core.untrusted_webhook())
        try:
            async with self._hull(credentials) as hull:
                try:
                    settings = await self._settings(credentials, hull)
                except (APIError, ConfigurationError) as exc:
                    return record_webhook(self._core.metrics, settings_failure(exc))
                key = self._core.workspace_key(credentials, settings)
                if key is None:
                    # Webhooks need no Customer.io client: a webhook-only connector forwards them.
                    return await self._connector(settings, None, hull).handle_webhook(body, headers)
                async with self._customerio(key) as customerio:
                    connector = self._connector(settings, customerio, hull)
                    return await connector.handle_webhook(body, headers)
        except _core.UnusableCredentialsError:
            return record_webhook(self._core.metrics, _core.invalid_token())

    # ----------------------------------------------------------------------------- status

    async def publish_status(self, *, organization: str, connector_id: str, secret: str) -> Status:
        """Check one connector's health with its current settings and publish it to Hull.

        Raises:
            UntrustedOrganizationError: the organization is not a host under
                ``trusted_hull_hosts``, or a credential is unusable (nothing was sent).
            APIError: Hull could not be reached or refused the credentials.
            ConfigurationError: the connector's settings in Hull are invalid.
        """
        claimed = HullCredentials(organization, connector_id, secret)
        if not usable_credentials(claimed):
            raise _core.UnusableCredentialsError(["the connector's credentials are not valid"])
        credentials = self._core.checked_credentials(claimed)
        if credentials is None:
            raise _core.UntrustedOrganizationError()
        async with self._hull(credentials) as hull:
            settings = await self._settings(credentials, hull)
            key = self._core.workspace_key(credentials, settings)
            if key is None:
                status = _answers.status_without_credentials(settings)
                await hull.put_status(status.status, status.messages)
                return status
            async with self._customerio(key) as customerio:
                return await self._connector(settings, customerio, hull).publish_status()

    async def answer_status(self, query: Mapping[str, str]) -> NotificationAnswer:
        """Answer Hull's status call (``/status``): `publish_status` for the connector whose
        credentials the query carries (``organization``, ``id`` or ``ship``, ``secret``).

        Never raises for bad input, and never repeats what Hull answered to a caller whose
        credentials Hull has not accepted: 200 ``{"status", "messages"}``; 401 missing or
        refused credentials; 403 ``untrusted_organization``; 503 ``hull_unavailable`` or
        ``invalid_settings``.
        """
        credentials = credentials_from_query(query)
        if credentials is None:
            return _answers.refused("missing_credentials")
        try:
            status = await self.publish_status(
                organization=credentials.organization,
                connector_id=credentials.connector_id,
                secret=credentials.secret,
            )
        except (APIError, ConfigurationError) as exc:
            return _answers.status_failure(exc)
        return _answers.status_answer(status)

    async def answer_credentials(
        self, query: Mapping[str, str], *, base_url: str
    ) -> NotificationAnswer:
        """Answer Hull's ``/credentials`` call: the connector's webhook URL, once Hull accepted
        the credentials the query carries (as for `answer_status`).

        Returns:
            200 ``{"url": <webhook URL under base_url>}``; otherwise as `answer_status`.
        """
        credentials = credentials_from_query(query)
        if credentials is None:
            return _answers.refused("missing_credentials")
        checked = self._core.admit(credentials)
        if isinstance(checked, NotificationAnswer):
            return checked
        try:
            async with self._hull(checked) as hull:
                # Reading the connector's settings is what proves the credentials to Hull.
                await self._settings(checked, hull)
            url = self.webhook_url(
                base_url,
                organization=checked.organization,
                connector_id=checked.connector_id,
                secret=checked.secret,
            )
        except (APIError, ConfigurationError) as exc:
            return _answers.status_failure(exc)
        return _answers.credentials_answer(url)

    # --------------------------------------------------------------------------- resource

    async def aclose(self) -> None:
        """Flush and close every client the hub built (and its download client). Idempotent."""
        if self._core.closed:
            return
        self._core.closed = True
        await self._close_hulls(self._hulls.clear())
        await self._close_workspaces(self._workspaces.clear())
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncConnectorHub:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


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
                        feed.count(await connector.sync_user_updates(chunk, batch=True))
                    if feed.stopped is not None:
                        break
            finally:
                if isinstance(body, AsyncGenerator):
                    await body.aclose()
    except DOWNLOAD_ERRORS as exc:
        feed.fail(exc)
    rest = feed.rest()
    if rest:
        feed.count(await connector.sync_user_updates(rest, batch=True))
    return feed.answer()
