"""The transports the Customer.io clients build for themselves (hull_customerio._http.transport).

The asyncio network backend is checked over real loopback sockets (plain TCP, TLS with a test
CA from trustme, a Unix socket), against what httpcore expects of a backend: requests and
answers pass whole, a request leaves in one write, timeouts and refused connections raise
httpcore's exceptions (which httpx maps to its own), an idle connection the server closed is
not reused.
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
import trustme

from hull_customerio._http import transport as _transport

pytestmark = pytest.mark.anyio

needs_311 = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="the asyncio backend is used on Python 3.11+"
)

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- a loopback HTTP/1.1 server that records what arrives -----------------------------------


class Server:
    """Answers each request head (plus its Content-Length body) with ``answer``.

    ``chunks`` lists every ``read`` the server got, per connection; ``close_after`` closes a
    connection once it answered that many requests; ``silent`` never answers.
    """

    def __init__(self, *, close_after: int | None = None, silent: bool = False) -> None:
        self.answer = ANSWER
        self.close_after = close_after
        self.silent = silent
        self.connections: list[list[bytes]] = []
        self.requests: list[bytes] = []
        self.server: asyncio.AbstractServer | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        chunks: list[bytes] = []
        self.connections.append(chunks)
        buffer = b""
        answered = 0
        try:
            while True:
                data = await reader.read(65_536)
                if not data:
                    return
                chunks.append(data)
                buffer += data
                while b"\r\n\r\n" in buffer:
                    head, _, rest = buffer.partition(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    if len(rest) < length:
                        break
                    self.requests.append(head + b"\r\n\r\n" + rest[:length])
                    buffer = rest[length:]
                    if self.silent:
                        continue
                    writer.write(self.answer)
                    await writer.drain()
                    answered += 1
                    if self.close_after is not None and answered >= self.close_after:
                        writer.close()
                        return
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Callable[..., Awaitable[tuple[Server, int]]]]:
    started: list[Server] = []

    async def start(ssl_context: ssl.SSLContext | None = None, **kwargs: Any) -> tuple[Server, int]:
        fake = Server(**kwargs)
        fake.server = await asyncio.start_server(fake.handle, "127.0.0.1", 0, ssl=ssl_context)
        started.append(fake)
        port = fake.server.sockets[0].getsockname()[1]
        return fake, port

    yield start
    for fake in started:
        assert fake.server is not None
        fake.server.close()


async def until(condition: Callable[[], object]) -> None:
    """Let the event loop run until ``condition()`` holds (failing after about 5 s)."""
    for _ in range(5_000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the condition never held")


def a_pool(**kwargs: Any) -> httpcore.AsyncConnectionPool:
    return httpcore.AsyncConnectionPool(network_backend=_transport.AsyncioBackend(), **kwargs)


# -- the small pure helpers ------------------------------------------------------------------


@pytest.mark.parametrize("user", ["site-123", "sïte-ü"])
def test_basic_authorization_is_what_httpx_basic_auth_sends(user: str) -> None:
    request = httpx.Request("GET", "https://track.customer.io/")
    sent = next(httpx.BasicAuth(user, "k:ey-ü").sync_auth_flow(request))

    assert _transport.basic_authorization(user, "k:ey-ü") == sent.headers["Authorization"]


def test_request_headers_put_ours_over_the_client_defaults() -> None:
    defaults = httpx.Headers({"Accept": "*/*", "User-Agent": "python-httpx", "X-Keep": "1"})

    headers = _transport.request_headers(
        defaults, {"Accept": "application/json", "User-Agent": "ours"}
    )

    # As httpx merges a request's headers into the client's: replaced ones move to the end.
    assert headers.multi_items() == [
        ("x-keep", "1"),
        ("accept", "application/json"),
        ("user-agent", "ours"),
    ]
    assert defaults["Accept"] == "*/*"  # the client's defaults are left alone


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "https_proxy", "ALL_PROXY"])
def test_a_proxy_in_the_environment_is_noticed(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "http://proxy.example:3128")

    assert _transport.environment_proxies()


def test_no_proxy_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("NO_PROXY", "example.com")

    assert not _transport.environment_proxies()


@needs_311
def test_the_async_transport_runs_on_the_asyncio_backend() -> None:
    transport = _transport.async_transport(httpx.Limits(max_connections=3))

    assert _transport.uses_asyncio_backend(transport)
    assert not _transport.uses_asyncio_backend(httpx.AsyncHTTPTransport())


@needs_311
async def test_an_async_client_of_our_own_runs_on_the_asyncio_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    async with _transport.async_client(3.0) as client:
        assert client.timeout == httpx.Timeout(3.0)
        assert _transport.uses_asyncio_backend(client._transport)  # type: ignore[arg-type]


# -- the asyncio backend over loopback -------------------------------------------------------


@needs_311
async def test_a_request_and_its_answer_pass_whole_and_the_request_in_one_write(
    server: Callable[..., Awaitable[tuple[Server, int]]],
) -> None:
    fake, port = await server()
    body = b'{"email":"ada@example.com"}'
    async with a_pool() as pool:
        response = await pool.request(
            "PUT",
            f"http://127.0.0.1:{port}/api/v1/customers/1",
            headers={"Content-Type": "application/json"},
            content=body,
        )

    assert (response.status, response.content) == (200, b"ok")
    assert fake.requests[0].endswith(b"\r\n\r\n" + body)
    # The head and the body left together: the server's first read holds the whole request.
    assert fake.connections[0][0] == fake.requests[0]


@needs_311
async def test_a_keep_alive_connection_carries_the_next_request(
    server: Callable[..., Awaitable[tuple[Server, int]]],
) -> None:
    fake, port = await server()
    async with a_pool() as pool:
        for _ in range(3):
            response = await pool.request("GET", f"http://127.0.0.1:{port}/")
            assert response.status == 200

    assert len(fake.requests) == 3
    assert len(fake.connections) == 1


@needs_311
async def test_an_idle_connection_the_server_closed_is_not_reused(
    server: Callable[..., Awaitable[tuple[Server, int]]],
) -> None:
    fake, port = await server(close_after=1)
    async with a_pool() as pool:
        first = await pool.request("GET", f"http://127.0.0.1:{port}/")
        await until(lambda: all(c.is_closed() or c.has_expired() for c in pool.connections))
        second = await pool.request("GET", f"http://127.0.0.1:{port}/")

    assert (first.status, second.status) == (200, 200)
    assert len(fake.connections) == 2


@needs_311
async def test_a_connection_the_server_closed_reads_as_readable(
    server: Callable[..., Awaitable[tuple[Server, int]]],
) -> None:
    _, port = await server(close_after=1)
    stream = await _transport.AsyncioBackend().connect_tcp("127.0.0.1", port)
    await stream.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await stream.read(65_536, timeout=5) == ANSWER

    await until(lambda: stream.get_extra_info("is_readable"))
    assert await stream.read(65_536, timeout=5) == b""  # the server's close, nothing else
    await stream.aclose()


@needs_311
async def test_an_idle_open_connection_is_not_readable(
    server: Callable[..., Awaitable[tuple[Server, int]]],
) -> None:
    _, port = await server()
    stream = await _transport.AsyncioBackend().connect_tcp("127.0.0.1", port)

    assert stream.get_extra_info("is_readable") is False
    assert stream.get_extra_info("server_addr")[1] == port
    assert stream.get_extra_info("client_addr")[0] == "127.0.0.1"
    assert stream.get_extra_info("ssl_object") is None
    assert stream.get_extra_info("anything else") is None
    await stream.aclose()
    assert stream.get_extra_info("is_readable") is True
    await stream.aclose()  # closing twice is harmless


@needs_311
async def test_writes_are_held_until_a_read_and_dropped_on_close(
    server: Callable[..., Awaitable[tuple[Server, int]]],
) -> None:
    fake, port = await server()
    stream = await _transport.AsyncioBackend().connect_tcp("127.0.0.1", port)
    await stream.write(b"GET /a HTTP/1.1\r\nHost: x\r\n")
    await stream.write(b"")
    await stream.write(b"\r\n")
    assert await stream.read(65_536, timeout=5) == ANSWER

    await stream.write(b"GET /never-sent HTTP/1.1\r\nHost: x\r\n\r\n")
    await stream.aclose()
    await until(lambda: fake.server is not None and len(fake.connections[0]) >= 1)
    await asyncio.sleep(0.01)  # give a wrongly sent request the time to arrive

    assert fake.connections[0] == [b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"]


@needs_311
async def test_a_large_write_is_sent_without_waiting_for_a_read(
    server: Callable[..., Awaitable[tuple[Server, int]]],
) -> None:
    fake, port = await server(silent=True)
    body = b"x" * _transport.AsyncioStream.FLUSH_AT
    stream = await _transport.AsyncioBackend().connect_tcp("127.0.0.1", port)
    await stream.write(f"POST / HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode())
    await stream.write(body)
    await until(lambda: fake.requests)  # it arrives although nothing was read
    await stream.aclose()

    assert fake.requests[0].endswith(body)


@needs_311
async def test_no_answer_in_time_is_a_read_timeout(
    server: Callable[..., Awaitable[tuple[Server, int]]],
) -> None:
    _, port = await server(silent=True)
    async with a_pool() as pool:
        with pytest.raises(httpcore.ReadTimeout):
            await pool.request(
                "GET", f"http://127.0.0.1:{port}/", extensions={"timeout": {"read": 0.05}}
            )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@needs_311
async def test_a_refused_connection_is_a_connect_error() -> None:
    with pytest.raises(httpcore.ConnectError):
        await _transport.AsyncioBackend().connect_tcp("127.0.0.1", closed_port(), timeout=5)


@needs_311
async def test_httpx_maps_the_backend_errors_to_its_own() -> None:
    async with httpx.AsyncClient(
        transport=_transport.async_transport(httpx.Limits(max_connections=1))
    ) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{closed_port()}/")


@needs_311
async def test_a_server_that_hangs_up_mid_request_is_a_read_error_or_eof() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.transport.abort()  # a reset, not a clean close

    listening = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        async with a_pool() as pool:
            with pytest.raises((httpcore.ReadError, httpcore.RemoteProtocolError)):
                await pool.request("GET", f"http://127.0.0.1:{port}/")
    finally:
        listening.close()


@needs_311
async def test_socket_options_are_set_on_the_connection(
    server: Callable[..., Awaitable[tuple[Server, int]]],
) -> None:
    _, port = await server()
    stream = await _transport.AsyncioBackend().connect_tcp(
        "127.0.0.1", port, socket_options=[(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    )
    sock = stream.get_extra_info("socket")

    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    await stream.aclose()


@needs_311
async def test_a_bad_socket_option_fails_the_connection(
    server: Callable[..., Awaitable[tuple[Server, int]]],
) -> None:
    _, port = await server()
    with pytest.raises(httpcore.ConnectError):
        await _transport.AsyncioBackend().connect_tcp(
            "127.0.0.1", port, socket_options=[(socket.SOL_SOCKET, 987_654, 1)]
        )


@needs_311
@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets here")
async def test_a_unix_socket_carries_requests(tmp_path: Path) -> None:
    fake = Server()
    path = str(tmp_path / "http.sock")
    listening = await asyncio.start_unix_server(fake.handle, path)
    try:
        async with a_pool(uds=path) as pool:
            response = await pool.request("GET", "http://localhost/")
        with pytest.raises(httpcore.ConnectError):
            await _transport.AsyncioBackend().connect_unix_socket(str(tmp_path / "none.sock"))
    finally:
        listening.close()

    assert (response.status, response.content) == (200, b"ok")


# -- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    return context


@needs_311
async def test_https_is_spoken_over_the_asyncio_backend(
    server: Callable[..., Awaitable[tuple[Server, int]]],
    ca: trustme.CA,
    server_tls: ssl.SSLContext,
) -> None:
    fake, port = await server(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    async with a_pool(ssl_context=client_tls) as pool:
        response = await pool.request(
            "POST", f"https://localhost:{port}/api/v1/customers/1/events", content=b"{}"
        )
        stream = pool.connections[0]._connection._network_stream  # type: ignore[attr-defined]
        assert stream.get_extra_info("ssl_object").server_hostname == "localhost"

    assert (response.status, response.content) == (200, b"ok")
    assert fake.requests[0].startswith(b"POST /api/v1/customers/1/events HTTP/1.1\r\n")


@needs_311
async def test_an_untrusted_certificate_is_a_connect_error(
    server: Callable[..., Awaitable[tuple[Server, int]]], server_tls: ssl.SSLContext
) -> None:
    _, port = await server(server_tls)
    async with a_pool(ssl_context=ssl.create_default_context()) as pool:
        with pytest.raises(httpcore.ConnectError):
            await pool.request("GET", f"https://localhost:{port}/")


@needs_311
async def test_a_tls_handshake_that_never_ends_is_a_connect_timeout(
    server: Callable[..., Awaitable[tuple[Server, int]]],
) -> None:
    _, port = await server(silent=True)  # plain TCP: the handshake gets no answer
    async with a_pool(ssl_context=ssl.create_default_context()) as pool:
        with pytest.raises(httpcore.ConnectTimeout):
            await pool.request(
                "GET", f"https://localhost:{port}/", extensions={"timeout": {"connect": 0.05}}
            )


@needs_311
async def test_without_poll_an_idle_connection_is_checked_with_select(
    server: Callable[..., Awaitable[tuple[Server, int]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(select, "poll")  # as on Windows
    _, port = await server(close_after=1)
    stream = await _transport.AsyncioBackend().connect_tcp("127.0.0.1", port)
    assert stream.get_extra_info("is_readable") is False

    await stream.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await stream.read(65_536, timeout=5) == ANSWER
    await until(lambda: stream.get_extra_info("is_readable"))
    await stream.aclose()


# -- AsyncPoolTransport: httpx over the public httpcore pool ---------------------------------


def own_client(**kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` on the transport the async clients build for themselves."""
    limits = kwargs.pop("limits", httpx.Limits())
    return httpx.AsyncClient(transport=_transport.async_transport(limits), **kwargs)


@needs_311
async def test_httpx_requests_pass_whole_through_the_pool_transport(
    server: Callable[..., Awaitable[tuple[Server, int]]],
) -> None:
    fake, port = await server()
    fake.answer = (
        b"HTTP/1.1 201 Created\r\nX-Answer: yes\r\nContent-Type: application/json\r\n"
        b'Content-Length: 11\r\n\r\n{"ok":true}'
    )
    body = b'{"email":"ada@example.com"}'
    async with own_client() as client:
        response = await client.put(
            f"http://127.0.0.1:{port}/api/v1/customers/1?x=%20y",
            content=body,
            headers={"Authorization": "Basic c2l0ZTprZXk="},
        )

    assert (response.status_code, response.json()) == (201, {"ok": True})
    assert response.headers["X-Answer"] == "yes"
    assert response.http_version == "HTTP/1.1"
    sent = fake.requests[0]
    assert sent.startswith(b"PUT /api/v1/customers/1?x=%20y HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Basic c2l0ZTprZXk=\r\n" in sent
    assert sent.endswith(b"\r\n\r\n" + body)
    assert fake.connections[0][0] == sent  # in one write: the asyncio backend is under it


@needs_311
async def test_a_streamed_answer_is_read_as_it_comes_and_the_connection_kept(
    server: Callable[..., Awaitable[tuple[Server, int]]],
) -> None:
    fake, port = await server()
    payload = b"x" * 300_000
    fake.answer = b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + payload
    async with own_client() as client:
        async with client.stream("GET", f"http://127.0.0.1:{port}/") as response:
            parts = [part async for part in response.aiter_raw()]
        again = await client.get(f"http://127.0.0.1:{port}/")

    assert len(parts) > 1
    assert b"".join(parts) == payload == again.content
    assert len(fake.connections) == 1


@needs_311
async def test_a_refused_connection_is_httpx_connect_error_with_its_request() -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    async with own_client() as client:
        with pytest.raises(httpx.ConnectError) as raised:
            await client.get(url)

    assert str(raised.value.request.url) == url
    assert isinstance(raised.value.__cause__, httpcore.ConnectError)


@needs_311
async def test_the_httpx_read_timeout_is_kept_and_raised_as_httpx_read_timeout(
    server: Callable[..., Awaitable[tuple[Server, int]]],
) -> None:
    _, port = await server(silent=True)
    async with own_client(timeout=httpx.Timeout(5.0, read=0.05)) as client:
        started = asyncio.get_running_loop().time()
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"http://127.0.0.1:{port}/")

    assert asyncio.get_running_loop().time() - started < 2


@needs_311
async def test_an_answer_cut_short_is_an_httpx_error_while_reading_the_body(
    server: Callable[..., Awaitable[tuple[Server, int]]],
) -> None:
    fake, port = await server(close_after=1)
    fake.answer = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok"
    async with own_client() as client, client.stream("GET", f"http://127.0.0.1:{port}/") as answer:
        assert answer.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            await answer.aread()


@needs_311
async def test_the_pool_holds_to_its_limit_and_a_wait_past_it_is_a_pool_timeout(
    server: Callable[..., Awaitable[tuple[Server, int]]],
) -> None:
    fake, port = await server(silent=True)
    async with own_client(
        limits=httpx.Limits(max_connections=1), timeout=httpx.Timeout(5.0, pool=0.05)
    ) as client:
        first = asyncio.ensure_future(client.get(f"http://127.0.0.1:{port}/"))
        await until(lambda: fake.requests)
        with pytest.raises(httpx.PoolTimeout):
            await client.get(f"http://127.0.0.1:{port}/")
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first

    assert len(fake.connections) == 1


@needs_311
async def test_https_is_verified_as_httpx_verifies_it(
    server: Callable[..., Awaitable[tuple[Server, int]]],
    ca: trustme.CA,
    server_tls: ssl.SSLContext,
) -> None:
    fake, port = await server(server_tls)
    # httpx's default verification (certifi's authorities) does not know the test CA ...
    async with own_client() as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(f"https://localhost:{port}/")
    # ... a context that trusts it gets through, on the asyncio backend.
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    transport = _transport.AsyncPoolTransport(
        httpx.Limits(), network_backend=_transport.AsyncioBackend(), ssl_context=client_tls
    )
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.post(f"https://localhost:{port}/v1/x", content=b"{}")

    assert (response.status_code, response.content) == (200, b"ok")
    assert fake.requests[-1].startswith(b"POST /v1/x HTTP/1.1\r\n")


@needs_311
async def test_closing_the_transport_closes_its_connections(
    server: Callable[..., Awaitable[tuple[Server, int]]],
) -> None:
    _, port = await server()
    transport = _transport.AsyncPoolTransport(
        httpx.Limits(), network_backend=_transport.AsyncioBackend()
    )
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get(f"http://127.0.0.1:{port}/")
        assert len(transport.pool.connections) == 1

    assert transport.pool.connections == []


async def test_without_a_backend_the_pool_transport_uses_httpcores_default(
    server: Callable[..., Awaitable[tuple[Server, int]]],
) -> None:
    _, port = await server()
    transport = _transport.AsyncPoolTransport(httpx.Limits())
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(f"http://127.0.0.1:{port}/")

    assert (response.status_code, response.content) == (200, b"ok")
    assert not _transport.uses_asyncio_backend(transport)


async def test_an_error_that_is_not_httpcores_passes_unchanged() -> None:
    class Broken(httpcore.AsyncNetworkBackend):
        async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
            raise LookupError("not a network error")

    transport = _transport.AsyncPoolTransport(httpx.Limits(), network_backend=Broken())
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(LookupError, match="not a network error"):
            await client.get("http://127.0.0.1:9/")


@pytest.mark.parametrize(
    ("raised", "meant"),
    [
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
    ],
)
def test_each_httpcore_error_maps_to_the_most_specific_httpx_error(
    raised: type[Exception], meant: type[httpx.TransportError]
) -> None:
    request = httpx.Request("GET", "https://track.customer.io/")

    error = _transport.httpx_error(raised("what happened"), request)

    assert type(error) is meant
    assert error is not None
    assert (str(error), error.request) == ("what happened", request)


def test_an_error_that_is_not_httpcores_maps_to_nothing() -> None:
    request = httpx.Request("GET", "https://track.customer.io/")

    assert _transport.httpx_error(OSError("x"), request) is None
