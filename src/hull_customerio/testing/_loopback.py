"""A fake served over a real loopback HTTP server, on a thread of its own.

Each request goes to the fake's `_dispatch` (the function `FakeTransport` calls in process),
so both forms share the fake's state, faults and lock.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import httpx

from ._replies import _Reply

__all__: list[str] = []

# Lower-cased names of the headers the loopback server computes itself.
_HOP_HEADERS = frozenset({"content-length", "connection", "transfer-encoding"})


class _Served(Protocol):
    """What the loopback server needs of a fake: its request-to-reply function, its hang time."""

    hang_seconds: float

    def _dispatch(
        self, method: str, target: str, headers: httpx.Headers, body: bytes
    ) -> _Reply: ...


class _LoopbackServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its connections and threads, so `stop()` can end them.

    It tracks its connection threads itself rather than relying on `block_on_close`, whose
    handling of daemon threads differs between Python versions.
    """

    daemon_threads = True
    block_on_close = False

    def __init__(self, service: _Served, stopping: threading.Event) -> None:
        self.service = service
        self.stopping = stopping
        self._connections: set[socket.socket] = set()
        self._connection_threads: list[threading.Thread] = []
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"{type(self.service).__name__}-connection",
            daemon=True,
        )
        with self._connections_lock:
            self._connections.add(request)
            self._connection_threads = [t for t in self._connection_threads if t.is_alive()]
            self._connection_threads.append(thread)
        thread.start()

    def join_connection_threads(self, timeout: float) -> None:
        """Wait for every connection thread (they end once their sockets are shut down)."""
        with self._connections_lock:
            threads = list(self._connection_threads)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Unblock every connection thread waiting on its socket (keep-alive, slow client)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, closed pool) breaks the pipe; that is expected
        # in fault tests and must not be printed, since library code never writes to stderr.
        return


class _RequestHandler(BaseHTTPRequestHandler):
    server: _LoopbackServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle plus delayed ACKs add
    # about 40 ms to every answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        # The standard library logs every request to stderr; tests and users want silence.
        return

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        body = self._read_body()
        headers = httpx.Headers(list(self.headers.items()))
        reply = self.server.service._dispatch(self.command, self.path, headers, body)
        stopping = self.server.stopping
        if reply.fault == "timeout":
            stopping.wait(self.server.service.hang_seconds)
        elif reply.delay:
            stopping.wait(reply.delay)
        if reply.fault or stopping.is_set():
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers:
            if name.lower() not in _HOP_HEADERS:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve  # noqa: N815 -- http.server naming
