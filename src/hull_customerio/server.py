"""An ASGI app serving Hull and Customer.io: [`create_app`][hull_customerio.server.create_app]
(extra ``server``, Starlette).

Run it as it is (``hull-customerio serve``, or any ASGI server) or mount it under a prefix of a
bigger app. Every handler is asynchronous and only awaits the async clients: nothing blocks the
event loop.

The app faces the internet, so what a caller sends before it is authenticated is bounded: a
body's size (``max_body_bytes``), the bytes of all bodies being read at once
(``max_pending_body_bytes``) and the time a body may take to arrive (``body_timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .errors import APIError, ConfigurationError, missing_extra

try:
    from starlette.applications import Starlette
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise missing_extra("server", "Starlette", "server") from exc

from .engine import AsyncConnector
from .engine._api import log_event
from .hub import _api as _hub
from .hub._api import (
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_SECONDS,
    AsyncConnectorHub,
    HullCredentials,
    NotificationAnswer,
    credentials_from_query,
    download_and_sync,
)
from .manifest import build_manifest
from .models.report import WebhookOutcome

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_PENDING_BODY_BYTES",
    "create_app",
]

logger = logging.getLogger("hull_customerio")

#: The largest request body read (a notification holds at most a few hundred users).
DEFAULT_MAX_BODY_BYTES = 10_000_000
#: The bytes of every request body being read at once, together.
DEFAULT_MAX_PENDING_BODY_BYTES = 64_000_000
#: Seconds a request body may take to arrive, from the first byte read to the last.
DEFAULT_BODY_TIMEOUT = 30.0

T = TypeVar("T")


def create_app(
    hub_or_connector: AsyncConnectorHub | AsyncConnector,
    *,
    batch_hosts: Sequence[str] | None = None,
    public_url: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_pending_body_bytes: int = DEFAULT_MAX_PENDING_BODY_BYTES,
    body_timeout: float = DEFAULT_BODY_TIMEOUT,
    max_batch_bytes: int | None = None,
    max_batch_seconds: float | None = None,
) -> Starlette:
    """The ASGI app serving one connector or, through a hub, any number of them.

    Endpoints:

    - ``POST /smart-notifier``: Hull's notifications; 200 with the flow-control answer, 401
      when refused, 400 when unreadable. Hull's signature is checked before the body is
      parsed.
    - ``POST /batch``: Hull's batches and exports; the query carries the connector's
      credentials (``organization``, ``id`` or ``ship``, ``secret``), the body names the
      JSON-lines file to download and sync. The download stops when the caller disconnects.
    - ``POST /webhook``: Customer.io's reporting webhooks (with a hub, the URL's ``token``
      names the connector: see
      [`AsyncConnectorHub.webhook_url`][hull_customerio.AsyncConnectorHub.webhook_url]).
    - ``GET`` or ``POST /status``: checks the connector's health and publishes it to Hull
      (credentials in the query, as for ``/batch``).
    - ``GET`` or ``POST /credentials``: the connector's webhook URL, ``{"url": ...}``, for
      Hull to show in the connector's settings (credentials in the query).
    - ``GET /health``: ``{"status": "ok"}``, without credentials or any outbound call.
    - ``GET /manifest.json``: the Hull connector manifest (see `hull_customerio.manifest`).

    Errors are answered as ``{"error": {"code": <stable reason>, "message": <sentence>}}``;
    413 for a body over ``max_body_bytes``, 503 ``server_busy`` while the bodies being read
    already hold ``max_pending_body_bytes``, 408 for a body slower than ``body_timeout``.

    Args:
        hub_or_connector: an [`AsyncConnectorHub`][hull_customerio.AsyncConnectorHub], or one
            [`AsyncConnector`][hull_customerio.AsyncConnector] built with its Hull client.
        batch_hosts: hosts batch files may be downloaded from. ``None``: a hub's own
            ``batch_hosts``, or for one connector any public host over ``https`` (never a
            loopback or private address); a list: only those hosts, and for a listed loopback
            or private address plain ``http`` too (tests).
        public_url: the app's public base URL (``https://connector.example.com``, with the
            prefix it is mounted under), used to build webhook URLs; default: the scheme and
            host of the request asking.
        max_body_bytes: the largest request body read.
        max_pending_body_bytes: the bytes of all request bodies being read at once, together.
        body_timeout: seconds a request body may take to arrive.
        max_batch_bytes: where a batch file's download stops, for one connector (default
            5 GB; the users read until then are synced). A hub takes it as its own argument,
            so it is refused here with a hub.
        max_batch_seconds: the same in time (default one hour).

    Returns:
        A Starlette application. On shutdown it closes a hub (and every client the hub
        built); a connector's clients stay yours to close.

    Raises:
        ConfigurationError: a limit that is not positive, a ``public_url`` that is not an
            ``http(s)`` URL, or batch limits given with a hub.
    """
    limits = _BodyLimits.checked(max_body_bytes, max_pending_body_bytes, body_timeout)
    base = _checked_public_url(public_url)
    target = hub_or_connector
    if isinstance(target, AsyncConnectorHub) and (
        max_batch_bytes is not None or max_batch_seconds is not None
    ):
        raise ConfigurationError(
            ["max_batch_bytes and max_batch_seconds are the hub's own arguments: pass them to "
             "AsyncConnectorHub(...)"]
        )  # fmt: skip
    batch_limits = {
        "max_bytes": DEFAULT_MAX_BATCH_BYTES if max_batch_bytes is None else max_batch_bytes,
        "max_seconds": (
            DEFAULT_MAX_BATCH_SECONDS if max_batch_seconds is None else max_batch_seconds
        ),
    }
    hosts = None if batch_hosts is None else tuple(batch_hosts)
    manifest = build_manifest()

    async def smart_notifier(request: Request, body: bytes) -> Response:
        answer = await target.answer_notification(body, dict(request.headers))
        return _answer_response(answer)

    async def batch(request: Request, body: bytes) -> Response:
        query = dict(request.query_params)
        if isinstance(target, AsyncConnectorHub):
            # The hub's own batch_hosts, unless the app was given a list of its own.
            override = {} if hosts is None else {"batch_hosts": hosts}
            work = target.answer_batch(body, dict(request.headers), query, **override)
        else:
            work = _connector_batch(target, body, query, hosts, batch_limits)
        answer = await _unless_disconnected(request, work)
        if answer is None:
            return _closed()
        return _answer_response(answer)

    async def webhook(request: Request, body: bytes) -> Response:
        headers = dict(request.headers)
        if isinstance(target, AsyncConnectorHub):
            outcome = await target.answer_webhook(body, headers, dict(request.query_params))
        else:
            outcome = await target.handle_webhook(body, headers)
        return _webhook_response(outcome)

    async def status(request: Request) -> Response:
        return _answer_response(await _status(target, dict(request.query_params)))

    async def credentials(request: Request) -> Response:
        base_url = base or _request_base_url(request)
        query = dict(request.query_params)
        return _answer_response(await _credentials(target, query, base_url))

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def manifest_json(request: Request) -> Response:
        return JSONResponse(manifest)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if isinstance(target, AsyncConnectorHub):
                await target.aclose()

    return Starlette(
        routes=[
            Route("/smart-notifier", limits.with_body(smart_notifier), methods=["POST"]),
            Route("/batch", limits.with_body(batch), methods=["POST"]),
            Route("/webhook", limits.with_body(webhook), methods=["POST"]),
            Route("/status", status, methods=["GET", "POST"]),
            Route("/credentials", credentials, methods=["GET", "POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/manifest.json", manifest_json, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


# --------------------------------------------------------------------------------------------
# Reading bodies within bounds.


class _BodyLimits:
    """The bounds on request bodies, and the bytes reserved by the bodies being read now.

    Used only from the event loop's thread, so the count needs no lock.
    """

    def __init__(self, max_body: int, max_pending: int, timeout: float) -> None:
        self.max_body = max_body
        self.max_pending = max_pending
        self.timeout = timeout
        self.pending = 0

    @classmethod
    def checked(cls, max_body: int, max_pending: int, timeout: float) -> _BodyLimits:
        problems = []
        for name, value in (("max_body_bytes", max_body),
                            ("max_pending_body_bytes", max_pending)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{name} must be a whole number of bytes >= 1, got {value!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            problems.append(f"body_timeout must be seconds > 0, got {timeout!r}")
        if problems:
            raise ConfigurationError(problems)
        return cls(max_body, max_pending, float(timeout))

    def _reserve(self, size: int) -> bool:
        if self.pending + size > self.max_pending:
            return False
        self.pending += size
        return True

    def with_body(
        self, handle: Callable[[Request, bytes], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """The endpoint reading a request's body within these bounds, then answering it with
        ``handle``; a body out of bounds is answered by `read`'s error response."""

        async def endpoint(request: Request) -> Response:
            body = await self.read(request)
            if isinstance(body, Response):
                return body
            return await handle(request, body)

        return endpoint

    async def read(self, request: Request) -> bytes | Response:
        """The request's body, or the error response: 413, 503, 408, or for a caller that
        left mid-body one log line (and a response nobody will read)."""
        declared = _declared_length(request.headers.get("content-length"))
        if declared is not None and declared > self.max_body:
            return _error(413, "body_too_large", "The request body is too large.")
        reserved = [0]
        try:
            if declared is not None:
                if not self._reserve(declared):
                    return _busy()
                reserved[0] = declared
            return await asyncio.wait_for(self._receive(request, reserved), self.timeout)
        except asyncio.TimeoutError:
            log_event(
                logging.WARNING, "incoming.request.aborted", reason="body_timeout",
                error=f"the request body did not arrive within {self.timeout:g} s",
            )  # fmt: skip
            return _error(408, "body_timeout", "The request body took too long to arrive.")
        except ClientDisconnect:
            log_event(
                logging.WARNING, "incoming.request.aborted", reason="client_disconnected",
                error=f"the client left while sending the body of {request.url.path}",
            )  # fmt: skip
            return _closed()
        finally:
            self.pending -= reserved[0]

    async def _receive(self, request: Request, reserved: list[int]) -> bytes | Response:
        received = bytearray()
        async for chunk in request.stream():
            size = len(received) + len(chunk)
            if size > self.max_body:
                return _error(413, "body_too_large", "The request body is too large.")
            if size > reserved[0]:
                if not self._reserve(size - reserved[0]):
                    return _busy()
                reserved[0] = size
            received += chunk
        return bytes(received)


def _declared_length(declared: str | None) -> int | None:
    """A ``Content-Length`` header's value, or ``None`` when it is not a length.

    Only ASCII digits are a length (``"²".isdigit()`` holds too); thousands of them are not
    converted to a number (any length longer than 18 digits is simply too large).
    """
    if declared is None or not declared.isascii() or not declared.isdigit():
        return None
    digits = declared.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else 10**18


# --------------------------------------------------------------------------------------------
# Answers.


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _busy() -> JSONResponse:
    log_event(
        logging.WARNING, "incoming.request.refused", reason="server_busy",
        error="the request bodies being read already hold the pending-bytes budget",
    )  # fmt: skip
    return _error(503, "server_busy", "The service is busy; send the request again later.")


def _closed() -> Response:
    """What is returned for a caller that already left: an empty response nobody reads."""
    return Response(status_code=499)


def _answer_response(answer: NotificationAnswer) -> JSONResponse:
    return JSONResponse(dict(answer.body), status_code=answer.http_status)


def _webhook_response(outcome: WebhookOutcome) -> JSONResponse:
    if outcome.http_status >= 400:
        return _error(outcome.http_status, outcome.reason or "error", outcome.message)
    return JSONResponse(
        {"reason": outcome.reason, "message": outcome.message}, status_code=outcome.http_status
    )


async def _unless_disconnected(request: Request, work: Awaitable[T]) -> T | None:
    """``await work``, cancelled as soon as the caller disconnects (``None`` then)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request.receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
            log_event(
                logging.WARNING, "incoming.request.aborted", reason="client_disconnected",
                error=f"the client left while {request.url.path} was being answered",
            )  # fmt: skip
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    if task.cancelled():
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return None
    return task.result()


async def _disconnected(receive: Callable[[], Awaitable[Mapping[str, Any]]]) -> None:
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return


# --------------------------------------------------------------------------------------------
# One connector.


def _checked_public_url(public_url: str | None) -> str | None:
    if public_url is None:
        return None
    parts = urlsplit(public_url) if isinstance(public_url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            [f"public_url must be an http(s) URL such as https://connector.example.com, "
             f"got {public_url!r}"]
        )  # fmt: skip
    return public_url.rstrip("/")


def _request_base_url(request: Request) -> str:
    """The app's own URL as the request reached it (scheme, host and mount prefix)."""
    return str(request.base_url).rstrip("/")


def _is_connector(connector: AsyncConnector, credentials: HullCredentials | None) -> bool:
    hull = connector.hull
    if hull is None or credentials is None:
        return False
    # Every comparison runs, so the time taken does not tell which part was wrong.
    checks = [
        hmac.compare_digest(
            credentials.organization.encode("utf-8", "surrogatepass"), hull.organization.encode()
        ),
        hmac.compare_digest(
            credentials.connector_id.encode("utf-8", "surrogatepass"), hull.id.encode()
        ),
        hull.is_own_secret(credentials.secret),
    ]
    return all(checks)


async def _status(
    target: AsyncConnectorHub | AsyncConnector, query: Mapping[str, str]
) -> NotificationAnswer:
    if isinstance(target, AsyncConnectorHub):
        return await target.answer_status(query)
    if not _is_connector(target, credentials_from_query(query)):
        return _hub.refused("wrong_connector")
    try:
        result = await target.publish_status()
    except (APIError, ConfigurationError) as exc:
        return _hub.status_failure(exc)
    return _hub.status_answer(result)


async def _credentials(
    target: AsyncConnectorHub | AsyncConnector, query: Mapping[str, str], base_url: str
) -> NotificationAnswer:
    if isinstance(target, AsyncConnectorHub):
        return await target.answer_credentials(query, base_url=base_url)
    if not _is_connector(target, credentials_from_query(query)):
        return _hub.refused("wrong_connector")
    return _hub.credentials_answer(f"{base_url}/webhook")


async def _connector_batch(
    connector: AsyncConnector,
    body: bytes,
    query: Mapping[str, str],
    hosts: Sequence[str] | None,
    limits: Mapping[str, Any],
) -> NotificationAnswer:
    read = _hub.read_batch(body, query)
    if isinstance(read, NotificationAnswer):
        return read
    credentials, request = read
    if not _is_connector(connector, credentials):
        return _hub.refused("wrong_connector")
    return await download_and_sync(
        connector, request, hosts, max_bytes=limits["max_bytes"], max_seconds=limits["max_seconds"]
    )
