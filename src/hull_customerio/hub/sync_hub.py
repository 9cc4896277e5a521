"""The synchronous hub: [`ConnectorHub`][hull_customerio.ConnectorHub]. It drives the flows of
`_flows`, performing each effect with blocking I/O."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import httpcore
import httpx

from .._http.ratelimit import RateLimiter
from ..customerio import CustomerIOClient
from ..engine import Connector
from ..engine._api import run_checks
from ..errors import HullCustomerIOError, ValidationError
from ..hull import HullClient
from ..models.report import Status, SyncReport, WebhookOutcome
from ..settings import Settings
from . import _answers
from ._auth import NotificationAnswer
from ._backends import SyncCheckedBackend, sync_pool, sync_response
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
    download_target,
    lookup,
    request_arguments,
)
from ._effects import Answered, Effect, Flow, LeaseCustomerIO, LeaseHull, advance
from ._flows import UNSET, HubFlows, close_failed
from ._tokens import HullCredentials

__all__ = [
    "ConnectorHub",
    "checked_target",
    "download_and_sync",
    "resolve_host",
    "sync_from",
]

T = TypeVar("T")

Resolver = Callable[[str, int], list[str]]


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to; a batch download looks its host up once, with this
    or the hub's ``resolver``."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def checked_target(
    request: BatchRequest, hosts: Sequence[str] | None, resolver: Resolver = resolve_host
) -> DownloadTarget | NotificationAnswer:
    """Where ``request.url`` may be downloaded from, or the 400 answer saying why.

    The URL must be ``https`` (or plain ``http`` for a listed loopback or private address)
    and name an allowed host without user-info; the host is looked up once with
    ``resolver`` and, unless it is listed in ``hosts``, every address must be public. The
    download then connects to those addresses only.
    """
    try:
        return lookup(download_target(request.url, hosts), resolver)
    except ValidationError as exc:
        return _answers.batch_url_refused(str(exc))


def download_and_sync(
    connector: Connector,
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
    target = checked_target(request, hosts, resolver)
    if isinstance(target, NotificationAnswer):
        return target
    return sync_from(
        connector,
        target,
        max_bytes=max_bytes,
        max_seconds=max_seconds,
        chunk_size=chunk_size,
        max_line_bytes=max_line_bytes,
        ssl_context=ssl_context,
        accounts=request.accounts,
    )


def sync_from(
    connector: Connector,
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
    chunk being synced is never cut, the reads after it are): every read and write on the
    connection ends by that deadline.

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
    with sync_pool(SyncCheckedBackend(target, feed.deadline, feed.clock), ssl_context) as pool:
        return _sync_stream(connector, feed, _checked_response(pool, target))


@contextlib.contextmanager
def _checked_response(
    pool: httpcore.ConnectionPool, target: DownloadTarget
) -> Iterator[httpx.Response]:
    with pool.stream(**request_arguments(target)) as response:
        yield sync_response(response)


def _sync_stream(
    connector: Connector,
    feed: BatchFeed,
    opened: contextlib.AbstractContextManager[httpx.Response],
) -> NotificationAnswer:
    try:
        with opened as response:
            if response.status_code != 200:
                return _answers.download_failed(f"the batch file answered {response.status_code}")
            body = response.iter_bytes()
            try:
                for data in body:
                    for chunk in feed.feed(data):
                        feed.count(_sync_chunk(connector, feed, chunk))
                    if feed.stopped is not None:
                        break
            finally:
                if isinstance(body, Generator):
                    body.close()
    except DOWNLOAD_ERRORS as exc:
        feed.fail(exc)
    rest = feed.rest()
    if rest:
        feed.count(_sync_chunk(connector, feed, rest))
    return feed.answer()


def _sync_chunk(
    connector: Connector, feed: BatchFeed, chunk: list[Mapping[str, Any]]
) -> SyncReport:
    if feed.accounts:
        return connector.sync_account_updates(chunk)
    return connector.sync_user_updates(chunk, batch=True)


class ConnectorHub(HubFlows[httpx.Client, Resolver]):
    """Serves any number of Hull connectors and Customer.io workspaces from one process.

    Every request names its connector (the notification's ``configuration``, a batch's query,
    a webhook URL's token); the hub builds that tenant's clients from those credentials and
    its settings, reuses them for later requests (a bounded cache; the least recently used
    are flushed and closed once no request uses them) and shares one rate limiter between all
    the clients that send to one Customer.io workspace. One hub is shared by every request
    thread of a web app (its caches are guarded by a lock never held while waiting on the
    network). Nothing of one tenant — credentials,
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
        http_client: the ``httpx.Client`` (for `AsyncConnectorHub`: ``httpx.AsyncClient``) Hull's
            public keys are fetched with (the hub does not close an injected one). Batch files
            are not downloaded with it: each download has a connection of its own, to the
            address checked for its host.
        resolver: how a batch host's name is looked up (once per download; tests inject one):
            ``(host, port) -> addresses``, awaitable for `AsyncConnectorHub`.
        clock: a monotonic clock for the settings cache.
        metrics: where every client and connector the hub builds reports (see
            `hull_customerio.metrics`), unless ``customerio_options``/``hull_options`` name
            their own; the webhooks the hub answers itself (a bad token, settings that could
            not be read) are counted too. Default: nowhere.

    Raises:
        ConfigurationError: a ``token_key`` under 32 bytes, an unknown mode or a bound below 1
            (``max_batch_seconds``: not above 0).
    """

    _hull_type = HullClient
    _customerio_type = CustomerIOClient
    _limiter_type = RateLimiter
    _connector_type = Connector
    _run_checks = staticmethod(run_checks)
    _checked_target = staticmethod(checked_target)
    _sync_from = staticmethod(sync_from)
    _http_type = httpx.Client
    _resolve_host = staticmethod(resolve_host)
    _settings_lock_type = threading.Lock

    # -------------------------------------------------------------------------- requests

    def answer_notification(self, body: bytes, headers: Mapping[str, str]) -> NotificationAnswer:
        """Answer one of Hull's notifications for whichever connector it names.

        Hull's signature (required by default) is verified before the body is even parsed.
        The tenant is then taken from the notification's ``configuration`` (organization, id,
        secret) — its organization must be a host under ``trusted_hull_hosts`` — and its
        settings from its ``connector.private_settings``; the users are synchronised by a
        connector built on that tenant's (cached) clients. Never raises for bad input.
        """
        return self._run(self._notification_flow(body, headers))

    def answer_batch(
        self,
        body: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        *,
        batch_hosts: Sequence[str] | None = UNSET,
    ) -> NotificationAnswer:
        """Answer Hull's "send to connector" batch or export: download the file, sync its users.

        The query carries the connector's credentials (``organization``, ``id`` or ``ship``,
        ``secret``); they must be accepted by Hull, which also gives the connector's current
        settings. The body names the JSON-lines file; it is streamed and sent through the batch
        rules (segment filter bypassed) ``batch_chunk_size`` users at a time, so memory stays
        bounded whatever its size. Only ``https`` URLs on allowed hosts are downloaded; the host
        is looked up once and the connection goes to the address checked. The download stops
        after ``max_batch_bytes`` bytes or ``max_batch_seconds`` seconds.

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
        return self._run(self._batch_flow(body, query, batch_hosts))

    def answer_webhook(
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
        return self._run(self._webhook_flow(body, headers, query))

    def publish_status(self, *, organization: str, connector_id: str, secret: str) -> Status:
        """Check one connector's health with its current settings and publish it to Hull.

        Raises:
            UntrustedOrganizationError: the organization is not a host under
                ``trusted_hull_hosts``, or a credential is unusable (nothing was sent).
            APIError: Hull could not be reached or refused the credentials.
            ConfigurationError: the connector's settings in Hull are invalid.
        """
        return self._run(self._status_flow(organization, connector_id, secret))

    def answer_status(self, query: Mapping[str, str]) -> NotificationAnswer:
        """Answer Hull's status call (``/status``): `publish_status` for the connector whose
        credentials the query carries (``organization``, ``id`` or ``ship``, ``secret``).

        Never raises for bad input, and never repeats what Hull answered to a caller whose
        credentials Hull has not accepted: 200 ``{"status", "messages"}``; 401 missing or
        refused credentials; 403 ``untrusted_organization``; 503 ``hull_unavailable`` or
        ``invalid_settings``.
        """
        return self._run(self._status_answer_flow(query))

    def answer_credentials(self, query: Mapping[str, str], *, base_url: str) -> NotificationAnswer:
        """Answer Hull's ``/credentials`` call: the connector's webhook URL, once Hull accepted
        the credentials the query carries (as for `answer_status`).

        Returns:
            200 ``{"url": <webhook URL under base_url>}``; otherwise as `answer_status`.
        """
        return self._run(self._credentials_flow(query, base_url))

    def close(self) -> None:
        """Flush and close every client the hub built (and its download client). Idempotent."""
        shut = self._shut()
        if shut is None:
            return
        self._close_hulls(shut[0])
        self._close_workspaces(shut[1])
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> ConnectorHub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------- driver

    def _run(self, flow: Flow[T]) -> T:
        """Drive ``flow`` to its answer: perform each effect it yields and send back the
        result (or throw in the error); its leases end with it."""
        with contextlib.ExitStack() as leases, contextlib.closing(flow):
            step = advance(flow)
            while not isinstance(step, Answered):
                try:
                    result = self._perform(step, leases)
                except Exception as exc:
                    step = advance(flow, error=exc)
                else:
                    step = advance(flow, result)
            return step.value

    def _perform(self, effect: Effect, leases: contextlib.ExitStack) -> Any:
        if isinstance(effect, LeaseHull | LeaseCustomerIO):
            return leases.enter_context(self._leased(effect))
        return self._call(effect)()

    @contextlib.contextmanager
    def _leased(self, effect: LeaseHull | LeaseCustomerIO) -> Iterator[Any]:
        lease, closing = self._take(effect)
        close = self._close_hulls if isinstance(effect, LeaseHull) else self._close_workspaces
        close(closing)
        try:
            yield lease.value
        finally:
            close(self._give_back(lease))

    def _read_settings(self, credentials: HullCredentials, hull: HullClient) -> Settings:
        cached = self._cached_settings(credentials)
        if cached is not None:
            return cached
        with self._settings_turn(credentials) as lock, lock:
            cached = self._cached_settings(credentials)
            if cached is None:
                cached = self._keep_settings(credentials, hull.api("GET", "app"))
            return cached

    def _close_hulls(self, clients: list[HullClient]) -> None:
        for client in clients:
            try:
                client.close()
            except HullCustomerIOError as exc:
                close_failed(client, exc)

    def _close_workspaces(self, clients: list[CustomerIOClient]) -> None:
        for client in clients:
            self._forget_limiter(client)
            client.close()
