"""The connection of a batch download: to the checked addresses only, bounded by its deadline.

`CheckedBackend` (async) and `SyncCheckedBackend` (blocking) are httpcore network backends whose
``connect_tcp`` ignores name resolution and connects to the addresses `lookup` checked; every
stream they open gives each read and write at most the time left before the download's
deadline. The pools and the httpx views of a response the hubs stream a file through are here
too.
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, Generic, TypedDict, TypeVar

import httpcore
import httpx

from ._download import DownloadTarget

__all__ = [
    "CheckedBackend",
    "SyncCheckedBackend",
    "async_pool",
    "async_response",
    "sync_pool",
    "sync_response",
]


# --------------------------------------------------------------------- the connection


def _time_left(deadline: float, clock: Callable[[], float], timeout: float | None) -> float | None:
    """``timeout`` cut to what is left before ``deadline``; ``None`` when nothing is left."""
    left = deadline - clock()
    if left <= 0:
        return None
    return left if timeout is None else min(timeout, left)


class _Deadline:
    """The time a download has, shared by its backend and the streams it opens."""

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self.deadline = deadline
        self.clock = clock

    def cut(self, timeout: float | None, error: type[Exception]) -> float:
        left = _time_left(self.deadline, self.clock, timeout)
        if left is None:
            raise error("the batch download's time is up")
        return left


class _AsyncDeadlineStream(httpcore.AsyncNetworkStream):
    """A connection whose every read and write ends by the download's deadline."""

    def __init__(self, stream: httpcore.AsyncNetworkStream, deadline: _Deadline) -> None:
        self._stream = stream
        self._deadline = deadline

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        left = self._deadline.cut(timeout, httpcore.ReadTimeout)
        return await self._stream.read(max_bytes, left)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        left = self._deadline.cut(timeout, httpcore.WriteTimeout)
        await self._stream.write(buffer, left)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        left = self._deadline.cut(timeout, httpcore.ConnectTimeout)
        tls = await self._stream.start_tls(ssl_context, server_hostname, left)
        return _AsyncDeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _SyncDeadlineStream(httpcore.NetworkStream):
    """`_AsyncDeadlineStream`, blocking."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        left = self._deadline.cut(timeout, httpcore.ReadTimeout)
        return self._stream.read(max_bytes, left)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        left = self._deadline.cut(timeout, httpcore.WriteTimeout)
        self._stream.write(buffer, left)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = self._deadline.cut(timeout, httpcore.ConnectTimeout)
        tls = self._stream.start_tls(ssl_context, server_hostname, left)
        return _SyncDeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


BackendT = TypeVar("BackendT", httpcore.NetworkBackend, httpcore.AsyncNetworkBackend)

#: What a failed attempt to connect raises; the next checked address is tried then.
_CONNECT_FAILURES = (httpcore.ConnectError, httpcore.ConnectTimeout)


class _CheckedConnections(Generic[BackendT]):
    """Where a batch download may connect, and by when: what `CheckedBackend` and
    `SyncCheckedBackend` decide alike; each only connects (awaiting, or blocking).

    Args:
        target: the URL's host and port, and the addresses checked for it (see `lookup`).
        deadline: when the download must be over (``clock`` time).
        clock: a monotonic clock in seconds.
        backend: the backend that does the I/O (default: httpcore's, for the running loop or
            blocking).
    """

    _default_backend: Callable[[], BackendT]

    def __init__(
        self,
        target: DownloadTarget,
        deadline: float,
        clock: Callable[[], float] = time.monotonic,
        backend: BackendT | None = None,
    ) -> None:
        self._target = target
        self._deadline = _Deadline(deadline, clock)
        self._backend: BackendT = backend or self._default_backend()

    def _tries(self, host: str, port: int, timeout: float | None) -> Iterator[tuple[str, float]]:
        """The checked addresses to connect to in turn, each with the time it may take.

        Raises:
            httpcore.ConnectError: ``host`` or ``port`` is not the target's.
            httpcore.ConnectTimeout: the download's time is up.
        """
        if host.lower().rstrip(".") != self._target.host or port != self._target.port:
            # Only the checked host is ever connected to (no redirect is followed, no proxy used).
            raise httpcore.ConnectError("the batch download may only connect to its checked host")
        for address in self._target.addresses:
            yield address, self._deadline.cut(timeout, httpcore.ConnectTimeout)


class CheckedBackend(
    _CheckedConnections[httpcore.AsyncNetworkBackend], httpcore.AsyncNetworkBackend
):
    """An httpcore network backend that connects to checked addresses only.

    ``connect_tcp(host, port)`` accepts only the target's host and port and connects to its
    checked addresses, in order, until one answers: no name is looked up here. The streams it
    opens end every read and write by ``deadline``. Its arguments are those of
    `_CheckedConnections` (the default ``backend``: httpcore's for the running loop).
    """

    _default_backend = httpcore.AnyIOBackend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception = httpcore.ConnectError("the batch URL's host has no address")
        for address, left in self._tries(host, port, timeout):
            try:
                stream = await self._backend.connect_tcp(
                    address, port, left, local_address, socket_options
                )
            except _CONNECT_FAILURES as exc:
                failure = exc
            else:
                return _AsyncDeadlineStream(stream, self._deadline)
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("a batch download connects over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class SyncCheckedBackend(_CheckedConnections[httpcore.NetworkBackend], httpcore.NetworkBackend):
    """`CheckedBackend`, blocking (over httpcore's ``SyncBackend`` by default)."""

    _default_backend = httpcore.SyncBackend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception = httpcore.ConnectError("the batch URL's host has no address")
        for address, left in self._tries(host, port, timeout):
            try:
                stream = self._backend.connect_tcp(
                    address, port, left, local_address, socket_options
                )
            except _CONNECT_FAILURES as exc:
                failure = exc
            else:
                return _SyncDeadlineStream(stream, self._deadline)
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("a batch download connects over TCP only")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


@functools.lru_cache(maxsize=1)
def _default_ssl_context() -> ssl.SSLContext:
    # Built once: loading the CA bundle costs more than a download's set-up otherwise does.
    return httpx.create_ssl_context()


class _PoolSettings(TypedDict):
    ssl_context: ssl.SSLContext
    max_connections: int


def _one_connection(ssl_context: ssl.SSLContext | None) -> _PoolSettings:
    """A download's pool: one connection (HTTP/1.1, no retry), TLS verified with
    ``ssl_context`` or httpx's default."""
    return {"ssl_context": ssl_context or _default_ssl_context(), "max_connections": 1}


def async_pool(
    backend: CheckedBackend, ssl_context: ssl.SSLContext | None = None
) -> httpcore.AsyncConnectionPool:
    """A one-connection pool over ``backend`` (HTTP/1.1, no retry); close it after use."""
    return httpcore.AsyncConnectionPool(network_backend=backend, **_one_connection(ssl_context))


def sync_pool(
    backend: SyncCheckedBackend, ssl_context: ssl.SSLContext | None = None
) -> httpcore.ConnectionPool:
    """`async_pool`, blocking."""
    return httpcore.ConnectionPool(network_backend=backend, **_one_connection(ssl_context))


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._response.aiter_stream():
            yield part

    async def aclose(self) -> None:
        await self._response.aclose()


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        yield from self._response.iter_stream()

    def close(self) -> None:
        self._response.close()


def async_response(response: httpcore.Response) -> httpx.Response:
    """httpcore's ``response`` read through httpx (which undoes any content encoding)."""
    return httpx.Response(response.status, headers=response.headers, stream=_AsyncBody(response))


def sync_response(response: httpcore.Response) -> httpx.Response:
    """`async_response`, blocking."""
    return httpx.Response(response.status, headers=response.headers, stream=_SyncBody(response))
