"""A loopback HTTP server for batch-download tests, and hubs/connectors on the fakes.

`FileServer` runs in a thread (so sync and async code under test use it alike); each connection
is handled by a behaviour: a fixed answer, an endless file, a trickle, silence. It records each
connection's request head, TLS server name, and whether the client closed it.
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import httpx

import hull_customerio as hc
from hull_customerio.testing import FakeCustomerIO, FakeHull

HEAD_200 = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n"


def user_line(number: int) -> bytes:
    """One user of a batch file; every line has the same length (76 bytes)."""
    user = {"id": f"u{number:06d}", "external_id": f"e{number:06d}",
            "email": f"u{number:06d}@x.io"}  # fmt: skip
    return json.dumps({"user": user, "segments": []}, separators=(",", ":")).encode() + b"\n"


LINE_BYTES = len(user_line(0))


@attrs.define
class Connection:
    """One accepted connection, as the server saw it."""

    sock: socket.socket
    stopping: threading.Event
    head: bytes = b""
    server_name: str | None = None
    closed_by_client: threading.Event = attrs.Factory(threading.Event)

    def read_head(self) -> bool:
        self.sock.settimeout(5.0)
        while b"\r\n\r\n" not in self.head:
            try:
                data = self.sock.recv(65_536)
            except OSError:
                return False
            if not data:
                self.closed_by_client.set()
                return False
            self.head += data
        return True

    def send(self, data: bytes) -> bool:
        """Send ``data`` (``False`` once the client closed the connection or the server stops)."""
        self.sock.settimeout(0.2)
        view = memoryview(data)
        while view:
            if self.stopping.is_set():
                return False
            try:
                sent = self.sock.send(view)
            except (TimeoutError, ssl.SSLWantWriteError):
                if self._client_closed(0):
                    return False
                continue
            except OSError:
                self.closed_by_client.set()
                return False
            view = view[sent:]
        return True

    def wait(self, seconds: float) -> bool:
        """Wait ``seconds`` unless the client closes first (then ``False``)."""
        return not self._client_closed(seconds)

    def _client_closed(self, seconds: float) -> bool:
        if self.stopping.is_set():
            return True
        readable, _, _ = select.select([self.sock], [], [], seconds)
        if not readable:
            return False
        try:
            self.sock.settimeout(0.2)
            data = self.sock.recv(1)
        except (TimeoutError, ssl.SSLWantReadError):
            return False
        except OSError:
            data = b""
        if data:
            return False
        self.closed_by_client.set()
        return True

    @property
    def host_header(self) -> str:
        for line in self.head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"host":
                return value.strip().decode()
        return ""


Behaviour = Callable[[Connection], None]


def answer(status: int, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()) -> Behaviour:
    """A plain answer (``Content-Length``) then close."""

    def behave(connection: Connection) -> None:
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
        connection.send(head.encode() + body)

    return behave


def endless(connection: Connection) -> None:
    """Users, one after the other, for ever (until the client leaves)."""
    if not connection.send(HEAD_200):
        return
    number = 0
    while True:
        block = b"".join(user_line(number + n) for n in range(200))
        number += 200
        if not connection.send(block):
            return


def trickle(first: bytes, every: float) -> Behaviour:
    """``first``, then one byte every ``every`` seconds, for ever (a file that never ends)."""

    def behave(connection: Connection) -> None:
        if not connection.send(HEAD_200 + first):
            return
        while connection.wait(every):
            if not connection.send(b" "):
                return

    return behave


def silent_after(head: bytes) -> Behaviour:
    """``head`` (maybe nothing), then silence until the client leaves."""

    def behave(connection: Connection) -> None:
        if head and not connection.send(head):
            return
        while connection.wait(0.1):
            pass

    return behave


class FileServer:
    """A loopback HTTP/1.1 server in a thread: ``behaviour`` answers every connection.

    Args:
        behaviour: what each connection gets.
        host: the address listened on.
        port: the port (0: any free one).
        tls: a server-side TLS context (its ``sni_callback`` records the name asked for).
    """

    def __init__(
        self,
        behaviour: Behaviour,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.behaviour = behaviour
        self.tls = tls
        self.connections: list[Connection] = []
        self._stopping = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(16)
        self._listener.settimeout(0.05)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []

    def url(
        self, path: str = "/batch.json", *, host: str | None = None, scheme: str = "http"
    ) -> str:
        return f"{scheme}://{host or self.host}:{self.port}{path}"

    def __enter__(self) -> FileServer:
        thread = threading.Thread(target=self._accept, name="file-server", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        for thread in list(self._threads):
            thread.join(5.0)
        self._listener.close()
        for connection in self.connections:
            connection.sock.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection = Connection(sock, self._stopping)
            self.connections.append(connection)
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, connection: Connection) -> None:
        if self.tls is not None:
            names: list[str | None] = []

            def note(sock: Any, name: str | None, context: Any) -> None:
                names.append(name)

            self.tls.sni_callback = note
            connection.sock.settimeout(5.0)
            try:
                connection.sock = self.tls.wrap_socket(connection.sock, server_side=True)
            except OSError:  # the client refused the certificate
                connection.closed_by_client.set()
                connection.sock.close()
                return
            finally:
                connection.server_name = names[0] if names else None
        try:
            if connection.read_head():
                self.behaviour(connection)
        finally:
            # The server's side ends here: wait (briefly) for the client to close, then close.
            deadline = time.monotonic() + 2.0
            while not connection.closed_by_client.is_set() and time.monotonic() < deadline:
                if connection._client_closed(0.05):
                    break
            connection.sock.close()

    def wait_closed(self, timeout: float = 1.0) -> bool:
        """Whether every connection was closed by the client within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        for connection in self.connections:
            if not connection.closed_by_client.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True


# ---------------------------------------------------------------------- hubs and connectors


def fake_org(name: str = "alpha", site: str = "site-1") -> FakeHull:
    return FakeHull(
        id=name[0] * 24,
        secret=f"secret-{name}",
        organization=f"{name}.hullapp.io",
        private_settings={
            "site_id": site,
            "api_key": f"key-{site}",
            "synchronized_segments": ["seg"],
        },
    )


def batch_query(hull: FakeHull) -> dict[str, str]:
    return {"organization": hull.organization, "id": hull.id, "secret": hull.secret}


def batch_body(url: str) -> bytes:
    return json.dumps({"url": url, "format": "json", "object_type": "user_report"}).encode()


class Flavour:
    """A sync or async hub (or connector) on the fakes' in-process transports; its calls run as
    plain calls (the async ones on one event loop of their own)."""

    def __init__(self, name: str, hull: FakeHull, workspace: FakeCustomerIO) -> None:
        self.name = name
        self.hull = hull
        self.workspace = workspace
        self.loop = asyncio.new_event_loop() if name == "async" else None

    @property
    def is_async(self) -> bool:
        return self.loop is not None

    def _client(self, fake: FakeHull | FakeCustomerIO) -> Any:
        if self.is_async:
            return httpx.AsyncClient(transport=fake.transport())
        return httpx.Client(transport=fake.transport())

    def hub(self, **options: Any) -> Any:
        cls = hc.AsyncConnectorHub if self.is_async else hc.ConnectorHub
        return cls(
            token_key="batch-download-tests-token-key-32b+",
            hull_options=lambda organization: {
                "api_url": f"https://{organization}", "http_client": self._client(self.hull)},
            customerio_options=lambda site: {
                "http_client": self._client(self.workspace), "rate_limit": None},
            **options,
        )  # fmt: skip

    def resolver(self, answers: Iterator[list[str]], calls: list[str]) -> Any:
        """A resolver giving the next of ``answers`` per call (recorded in ``calls``)."""

        def resolve(host: str, port: int) -> list[str]:
            calls.append(host)
            return next(answers)

        async def aresolve(host: str, port: int) -> list[str]:
            return resolve(host, port)

        return aresolve if self.is_async else resolve

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        if self.loop is not None:
            return self.loop.run_until_complete(result)
        return result

    def close(self, hub: Any) -> None:
        self.call(hub.aclose if self.is_async else hub.close)

    def connector(self) -> Any:
        settings = hc.Settings.from_private_settings(self.hull.private_settings)
        cls = hc.AsyncConnector if self.is_async else hc.Connector
        customerio_cls = hc.AsyncCustomerIOClient if self.is_async else hc.CustomerIOClient
        hull_cls = hc.AsyncHullClient if self.is_async else hc.HullClient
        customerio = customerio_cls(settings.site_id, settings.api_key, rate_limit=None,
                                    http_client=self._client(self.workspace))  # fmt: skip
        hull = hull_cls(self.hull.id, self.hull.secret, self.hull.organization,
                        http_client=self._client(self.hull))  # fmt: skip
        return cls(settings, customerio=customerio, hull=hull)

    def close_connector(self, connector: Any) -> None:
        if self.is_async:
            self.call(connector.customerio.aclose)
            self.call(connector.hull.close)
        else:
            connector.customerio.close()
            connector.hull.close()

    def finish(self) -> None:
        if self.loop is not None:
            self.loop.close()
