"""The HTTP transports the Customer.io clients build for themselves (not for injected clients).

A client that creates its own HTTP client sends each request straight to the connection pool
of its transport instead of through ``httpx.Client.send``: the client layer (cookie jar, auth
flow, event hooks, URL merging, redirect machinery) costs a good share of the CPU of a request,
and the Customer.io clients use none of it. They set the same headers themselves, the timeout
per request, read the whole body, and vet redirects as before.

Under asyncio (Python 3.11 and later) the async transport is `AsyncPoolTransport`: an httpx
transport over an httpcore connection pool, both through their public interfaces, whose
connections are asyncio streams (`AsyncioBackend`) rather than anyio's, which httpcore uses by
default for any event loop: the same requests for noticeably less CPU, which is what bounds
throughput when many requests are in flight. On Python 3.10 httpx's own transport is used.

None of this applies when the environment names a proxy (``HTTP_PROXY``, ``HTTPS_PROXY``,
``ALL_PROXY``): the clients then send through ``httpx`` as configured by the environment.
"""

from __future__ import annotations

import asyncio
import base64
import select
import socket
import ssl
import sys
import urllib.request
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any

import httpcore
import httpx

__all__ = [
    "AsyncPoolTransport",
    "AsyncioBackend",
    "AsyncioStream",
    "async_client",
    "async_transport",
    "basic_authorization",
    "environment_proxies",
    "httpx_error",
    "request_headers",
    "sync_transport",
    "uses_asyncio_backend",
]


def environment_proxies() -> bool:
    """Whether the environment names a proxy that ``httpx`` would send through."""
    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


def basic_authorization(username: str, password: str) -> str:
    """The ``Authorization`` header value of HTTP Basic auth, as ``httpx.BasicAuth`` sends it."""
    credentials = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(credentials).decode("ascii")


def request_headers(defaults: httpx.Headers, own: Mapping[str, str]) -> httpx.Headers:
    """The headers ``httpx.Client.request`` would send before the credentials: the client's
    defaults with ``own`` over them (``Host`` and ``Content-Length`` come with each request)."""
    headers = httpx.Headers(defaults)
    headers.update(own)
    return headers


# ------------------------------------------------------------------------------ the backend


if sys.version_info >= (3, 11):  # asyncio.timeout, StreamWriter.start_tls

    def _poller_for(sock: socket.socket | None) -> select.poll | None:
        # One poll object per connection (Windows has none: select() is used there).
        if sock is None or sock.fileno() < 0 or not hasattr(select, "poll"):
            return None
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        return poller

    class AsyncioStream(httpcore.AsyncNetworkStream):
        """One connection, as httpcore wants it, over an asyncio stream pair.

        What httpcore writes is held until it reads (or until it holds `FLUSH_AT` bytes):
        an HTTP/1.1 request, head and body, then leaves in one send, so the server is woken
        once per request instead of once per part.
        """

        #: Bytes held back at most before they are sent without waiting for a read.
        FLUSH_AT = 65_536

        def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._reader = reader
            self._writer = writer
            self._socket: socket.socket | None = writer.get_extra_info("socket")
            self._poller = _poller_for(self._socket)
            self._unsent: list[bytes] = []
            self._unsent_bytes = 0
            self._write_timeout: float | None = None

        async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            if self._unsent:
                await self._flush()
            try:
                async with asyncio.timeout(timeout):
                    return await self._reader.read(max_bytes)
            except TimeoutError as exc:
                raise httpcore.ReadTimeout(exc) from exc
            except OSError as exc:
                raise httpcore.ReadError(exc) from exc

        async def write(self, buffer: bytes, timeout: float | None = None) -> None:
            if not buffer:
                return
            self._unsent.append(buffer)
            self._unsent_bytes += len(buffer)
            self._write_timeout = timeout
            if self._unsent_bytes >= self.FLUSH_AT:
                await self._flush()

        async def _flush(self) -> None:
            data = b"".join(self._unsent)
            self._unsent.clear()
            self._unsent_bytes = 0
            try:
                async with asyncio.timeout(self._write_timeout):
                    self._writer.write(data)
                    await self._writer.drain()
            except TimeoutError as exc:
                raise httpcore.WriteTimeout(exc) from exc
            except OSError as exc:
                raise httpcore.WriteError(exc) from exc

        async def aclose(self) -> None:
            # As anyio closes a socket stream: half-close, close, one turn of the loop, abort.
            # Bytes not sent yet belong to a request given up on: they are dropped.
            self._unsent.clear()
            transport = self._writer.transport
            if transport.is_closing():
                return
            try:
                if transport.can_write_eof():
                    transport.write_eof()
            except OSError:
                pass
            transport.close()
            await asyncio.sleep(0)
            transport.abort()

        async def start_tls(
            self,
            ssl_context: ssl.SSLContext,
            server_hostname: str | None = None,
            timeout: float | None = None,
        ) -> httpcore.AsyncNetworkStream:
            try:
                async with asyncio.timeout(timeout):
                    await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
            except TimeoutError as exc:
                await self.aclose()
                raise httpcore.ConnectTimeout(exc) from exc
            except OSError as exc:  # ssl.SSLError included
                await self.aclose()
                raise httpcore.ConnectError(exc) from exc
            return self

        def _socket_readable(self) -> bool:
            # httpcore asks whether an idle keep-alive connection is readable: if so the server
            # closed it (or broke the protocol), and it must not be reused.
            if self._socket is None or self._socket.fileno() < 0:
                return True
            if self._poller is not None:
                return bool(self._poller.poll(0))
            ready, _, _ = select.select([self._socket], [], [], 0)
            return bool(ready)

        def get_extra_info(self, info: str) -> Any:
            if info == "is_readable":
                # The event loop reads the socket as data comes, so a server's close shows as EOF
                # on the reader (or a closing transport) rather than on the socket itself.
                return (
                    self._reader.at_eof()
                    or self._writer.transport.is_closing()
                    or self._socket_readable()
                )
            if info == "ssl_object":
                return self._writer.get_extra_info("ssl_object")
            if info == "client_addr":
                return self._writer.get_extra_info("sockname")
            if info == "server_addr":
                return self._writer.get_extra_info("peername")
            if info == "socket":
                return self._socket
            return None

    async def _configured(
        stream: AsyncioStream, options: Iterable[tuple[int, int, int | bytes | None]] | None
    ) -> AsyncioStream:
        """``stream`` with the socket options httpcore was given set (closed if one fails)."""
        sock = stream.get_extra_info("socket")
        try:
            for option in options or ():
                sock.setsockopt(*option)
        except OSError as exc:
            await stream.aclose()
            raise httpcore.ConnectError(exc) from exc
        return stream

    class AsyncioBackend(httpcore.AsyncNetworkBackend):
        """httpcore's network backend over asyncio streams (TCP, and TLS on top of it).

        httpcore's own backend for asyncio goes through anyio, whose cancel scopes and checkpoints
        cost more per read and write than the requests themselves on a fast network.
        """

        async def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Iterable[tuple[int, int, int | bytes | None]] | None = None,
        ) -> httpcore.AsyncNetworkStream:
            local = None if local_address is None else (local_address, 0)
            try:
                async with asyncio.timeout(timeout):
                    reader, writer = await asyncio.open_connection(
                        host,
                        port,
                        local_addr=local,
                        # As anyio connects: IPv6 and IPv4 addresses raced, 250 ms apart, so
                        # an unreachable address family costs no whole connect timeout.
                        happy_eyeballs_delay=0.25,
                    )
            except TimeoutError as exc:
                raise httpcore.ConnectTimeout(exc) from exc
            except OSError as exc:
                raise httpcore.ConnectError(exc) from exc
            return await _configured(AsyncioStream(reader, writer), socket_options)

        async def connect_unix_socket(
            self,
            path: str,
            timeout: float | None = None,
            socket_options: Iterable[tuple[int, int, int | bytes | None]] | None = None,
        ) -> httpcore.AsyncNetworkStream:
            try:
                async with asyncio.timeout(timeout):
                    reader, writer = await asyncio.open_unix_connection(path)
            except TimeoutError as exc:
                raise httpcore.ConnectTimeout(exc) from exc
            except OSError as exc:
                raise httpcore.ConnectError(exc) from exc
            return await _configured(AsyncioStream(reader, writer), socket_options)

        async def sleep(self, seconds: float) -> None:
            await asyncio.sleep(seconds)


# ------------------------------------------------------------------------------ transports


# httpcore's errors and the httpx errors they stand for, the more specific first (httpx's own
# transport maps them the same way, privately).
_HTTPX_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def httpx_error(exc: Exception, request: httpx.Request) -> httpx.TransportError | None:
    """The httpx error ``exc`` (an httpcore error) stands for, or None if it is not one."""
    for raised, meant in _HTTPX_ERRORS:
        if isinstance(exc, raised):
            return meant(str(exc), request=request)
    return None


class _ResponseStream(httpx.AsyncByteStream):
    """The body of an httpcore response as httpx reads it, with httpcore's errors mapped."""

    def __init__(self, response: httpcore.Response, request: httpx.Request) -> None:
        if not isinstance(response.stream, AsyncIterable):  # pragma: no cover - httpcore's rule
            raise TypeError("an async connection pool answered with a blocking stream")
        self._stream = response.stream
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except Exception as exc:
            error = httpx_error(exc, self._request)
            if error is None:
                raise
            raise error from exc

    async def aclose(self) -> None:
        await self._response.aclose()  # the pool's stream: gives the connection back


class AsyncPoolTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore connection pool built on a chosen network backend.

    It sends as ``httpx.AsyncHTTPTransport`` does without a proxy (HTTP/1.1, TLS verified as
    httpx verifies it, no retry, the pool sized by ``limits``) and raises the same httpx errors;
    only the backend under the connections differs.

    Args:
        limits: The pool's size and how long idle connections are kept.
        network_backend: What opens the connections; httpcore's default when None.
        ssl_context: How ``https://`` connections are verified; when None, as httpx's default
            transport verifies (certifi's authorities, or those ``SSL_CERT_FILE`` or
            ``SSL_CERT_DIR`` name).

    Attributes:
        pool: The httpcore connection pool the requests go through.
        network_backend: The backend it was given (None: httpcore's default).
    """

    def __init__(
        self,
        limits: httpx.Limits,
        *,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.network_backend = network_backend
        self.pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context if ssl_context is not None else httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            retries=0,
            network_backend=network_backend,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the pool; the answer's body is read as it is consumed."""
        url = request.url
        outgoing = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream if isinstance(request.stream, AsyncIterable) else None,
            extensions=request.extensions,
        )
        try:
            response = await self.pool.handle_async_request(outgoing)
        except Exception as exc:
            error = httpx_error(exc, request)
            if error is None:
                raise
            raise error from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response, request),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every connection of the pool."""
        await self.pool.aclose()


def async_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    """The transport of an async client of our own: an `AsyncPoolTransport` on `AsyncioBackend`
    (Python 3.11+), else ``httpx.AsyncHTTPTransport`` with ``limits``."""
    if sys.version_info >= (3, 11):
        return AsyncPoolTransport(limits, network_backend=AsyncioBackend())
    return httpx.AsyncHTTPTransport(limits=limits)  # pragma: no cover - Python 3.10


def async_client(timeout: httpx.Timeout | float | None) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` as ``httpx.AsyncClient(timeout=timeout)`` makes it, whose
    transport is the one `async_transport` builds, unless the environment names a proxy."""
    if environment_proxies():
        return httpx.AsyncClient(timeout=timeout)
    return httpx.AsyncClient(timeout=timeout, transport=async_transport(httpx.Limits()))


def sync_transport(limits: httpx.Limits) -> httpx.HTTPTransport:
    """An ``httpx.HTTPTransport`` with httpx's defaults and ``limits``."""
    return httpx.HTTPTransport(limits=limits)


def uses_asyncio_backend(transport: httpx.AsyncBaseTransport) -> bool:
    """Whether ``transport`` opens its connections with `AsyncioBackend`."""
    if sys.version_info >= (3, 11):
        return isinstance(transport, AsyncPoolTransport) and isinstance(
            transport.network_backend, AsyncioBackend
        )
    return False  # pragma: no cover - Python 3.10
