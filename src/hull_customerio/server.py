"""An ASGI app serving Hull and Customer.io: [`create_app`][hull_customerio.server.create_app]
(extra ``server``, Starlette).

Run it as it is (``hull-customerio serve``, or any ASGI server) or mount it under a prefix of a
bigger app. Every handler is asynchronous and only awaits the async clients: nothing blocks the
event loop.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

try:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "hull_customerio.server needs Starlette: install the 'server' extra, "
        "e.g. pip install 'hull-customerio[server]'"
    ) from exc

import httpx

from .engine import AsyncConnector
from .errors import APIError, APIStatusError, ConfigurationError
from .hub import AsyncConnectorHub, _answers
from .hub._auth import NotificationAnswer
from .hub._batch import credentials_from_query
from .hub._core import UnusableCredentialsError
from .hub._tokens import HullCredentials
from .hub.async_hub import check_download, stream_batch
from .models.report import Status, WebhookOutcome

__all__ = ["create_app"]

#: The largest request body read (a notification holds at most a few hundred users).
MAX_BODY_BYTES = 50_000_000


def create_app(
    hub_or_connector: AsyncConnectorHub | AsyncConnector,
    *,
    batch_hosts: Sequence[str] | None = None,
) -> Starlette:
    """The ASGI app serving one connector or, through a hub, any number of them.

    Endpoints:

    - ``POST /smart-notifier``: Hull's notifications; 200 with the flow-control answer, 401
      when refused, 400 when unreadable.
    - ``POST /batch``: Hull's batches and exports; the query carries the connector's
      credentials (``organization``, ``id`` or ``ship``, ``secret``), the body names the
      JSON-lines file to download and sync.
    - ``POST /webhook``: Customer.io's reporting webhooks (with a hub, the URL's ``token``
      names the connector: see
      [`AsyncConnectorHub.webhook_url`][hull_customerio.AsyncConnectorHub.webhook_url]).
    - ``GET`` or ``POST /status``: checks the connector's health and publishes it to Hull
      (credentials in the query, as for ``/batch``).

    Args:
        hub_or_connector: an [`AsyncConnectorHub`][hull_customerio.AsyncConnectorHub], or one
            [`AsyncConnector`][hull_customerio.AsyncConnector] built with its Hull client.
        batch_hosts: hosts batch files may be downloaded from. ``None``: any public host over
            ``https`` (never a loopback or private address); a list: only those hosts, and for
            a listed loopback or private address plain ``http`` too (tests).

    Returns:
        A Starlette application. On shutdown it closes a hub (and every client the hub
        built); a connector's clients stay yours to close.
    """
    target = hub_or_connector
    hosts = None if batch_hosts is None else tuple(batch_hosts)
    downloads = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))

    async def smart_notifier(request: Request) -> JSONResponse:
        body = await _body(request)
        if body is None:
            return _too_large()
        headers = dict(request.headers)
        answer = await target.answer_notification(body, headers)
        return _notification_response(answer)

    async def batch(request: Request) -> JSONResponse:
        body = await _body(request)
        if body is None:
            return _too_large()
        query = dict(request.query_params)
        if isinstance(target, AsyncConnectorHub):
            answer = await target.answer_batch(
                body, dict(request.headers), query, batch_hosts=hosts
            )
        else:
            answer = await _connector_batch(target, body, query, hosts, downloads)
        return _notification_response(answer)

    async def webhook(request: Request) -> JSONResponse:
        body = await _body(request)
        if body is None:
            return _too_large()
        headers = dict(request.headers)
        if isinstance(target, AsyncConnectorHub):
            outcome = await target.answer_webhook(body, headers, dict(request.query_params))
        else:
            outcome = await target.handle_webhook(body, headers)
        return _webhook_response(outcome)

    async def status(request: Request) -> JSONResponse:
        credentials = credentials_from_query(dict(request.query_params))
        if credentials is None:
            return _refused()
        try:
            if isinstance(target, AsyncConnectorHub):
                result = await target.publish_status(
                    organization=credentials.organization,
                    connector_id=credentials.connector_id,
                    secret=credentials.secret,
                )
            else:
                if not _is_connector(target, credentials):
                    return _refused()
                result = await target.publish_status()
        except UnusableCredentialsError:
            return _refused()
        except APIStatusError as exc:
            if exc.status_code in (401, 403):
                return _refused()
            return _status_failure(exc)
        except (APIError, ConfigurationError) as exc:
            return _status_failure(exc)
        return JSONResponse(_status_document(result))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await downloads.aclose()
            if isinstance(target, AsyncConnectorHub):
                await target.aclose()

    return Starlette(
        routes=[
            Route("/smart-notifier", smart_notifier, methods=["POST"]),
            Route("/batch", batch, methods=["POST"]),
            Route("/webhook", webhook, methods=["POST"]),
            Route("/status", status, methods=["GET", "POST"]),
        ],
        lifespan=lifespan,
    )


async def _body(request: Request) -> bytes | None:
    if _declared_too_large(request.headers.get("content-length")):
        return None
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > MAX_BODY_BYTES:
            return None
    return bytes(received)


def _declared_too_large(declared: str | None) -> bool:
    """Whether a ``Content-Length`` header announces more than the app reads.

    Only ASCII digits are a length (``"²".isdigit()`` holds too); thousands of them are too
    large without being converted to a number. Anything else is ignored: the body read is
    bounded anyway.
    """
    if declared is None or not declared.isascii() or not declared.isdigit():
        return False
    digits = declared.lstrip("0")
    return len(digits) > len(str(MAX_BODY_BYTES)) or int(digits or "0") > MAX_BODY_BYTES


def _too_large() -> JSONResponse:
    return JSONResponse(
        {"reason": "body_too_large", "message": "The request body is too large."}, 413
    )


def _refused() -> JSONResponse:
    return _notification_response(_answers.refused("wrong_connector"))


def _notification_response(answer: NotificationAnswer) -> JSONResponse:
    return JSONResponse(dict(answer.body), status_code=answer.http_status)


def _webhook_response(outcome: WebhookOutcome) -> JSONResponse:
    document: dict[str, Any] = {"reason": outcome.reason, "message": outcome.message}
    return JSONResponse(document, status_code=outcome.http_status)


def _status_document(status: Status) -> dict[str, Any]:
    return {"status": status.status, "messages": list(status.messages)}


def _status_failure(exc: Exception) -> JSONResponse:
    return JSONResponse({"reason": "status_failed", "message": str(exc)}, status_code=503)


def _is_connector(connector: AsyncConnector, credentials: HullCredentials) -> bool:
    hull = connector.hull
    if hull is None:
        return False
    pairs = (
        (credentials.organization, hull.organization),
        (credentials.connector_id, hull.id),
        (credentials.secret, hull._secret),
    )
    # Every comparison runs, so the time taken does not tell which part was wrong.
    checks = [
        hmac.compare_digest(given.encode("utf-8", "surrogatepass"), own.encode())
        for given, own in pairs
    ]
    return all(checks)


async def _connector_batch(
    connector: AsyncConnector,
    body: bytes,
    query: Mapping[str, str],
    hosts: Sequence[str] | None,
    downloads: httpx.AsyncClient,
) -> NotificationAnswer:
    read = _answers.read_batch(body, query)
    if isinstance(read, NotificationAnswer):
        return read
    credentials, request = read
    if not _is_connector(connector, credentials):
        return _answers.refused("wrong_connector")
    refused = await check_download(request, hosts)
    if refused is not None:
        return refused
    return await stream_batch(connector, request, downloads)
