"""The decisions of a batch download, without a network (SPEC §8.7 "Batch downloads", §8.5).

Where a URL may lead (`download_target`, `lookup`), what the checked backends connect to and
how long they let a read last, and what `BatchFeed` does with the bytes at its limits.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import httpcore
import pytest
from batch_download_support import LINE_BYTES, user_line

from hull_customerio import ConfigurationError, ValidationError
from hull_customerio.hub._backends import CheckedBackend, SyncCheckedBackend
from hull_customerio.hub._download import (
    BatchFeed,
    DownloadTarget,
    alookup,
    download_target,
    lookup,
)
from hull_customerio.models.report import SyncReport


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _never(host: str, port: int) -> list[str]:
    raise AssertionError("nothing is looked up")


# ----------------------------------------------------------------------------- targets


@pytest.mark.parametrize(
    ("url", "host", "port", "literal"),
    [("https://Files.Example.COM./f.json", "files.example.com", 443, False),
     ("https://b\u00fccher.example/f", "xn--bcher-kva.example", 443, False),
     ("https://xn--bcher-kva.example:8443/f", "xn--bcher-kva.example", 8443, False),
     ("https://52.216.1.1/f", "52.216.1.1", 443, True),
     ("https://[2606:4700::1111]/f", "2606:4700::1111", 443, True)],
)  # fmt: skip
def test_the_target_names_the_host_as_the_connection_will(
    url: str, host: str, port: int, literal: bool
) -> None:
    target = download_target(url, None)
    assert (target.host, target.port, target.literal, target.listed) == (host, port, literal, False)


@pytest.mark.parametrize(
    "url",
    ["https://user@files.example.com/f", "https://files.example.com\\@evil.example/f",
     "https://xn--a.example.com/f", "https://a..example.com/f", "https://[::1",
     "https://exa_mple.com\u00a0/f", "https://\u2488.example/f"],
)  # fmt: skip
def test_a_url_the_parsers_could_read_differently_or_not_at_all_is_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        download_target(url, None)


def test_an_ip_address_is_not_looked_up_and_a_listed_one_may_be_loopback() -> None:
    target = lookup(download_target("http://127.0.0.1:8080/f", ["127.0.0.1"]), _never)
    assert target.addresses == ("127.0.0.1",)
    with pytest.raises(ValidationError, match="public host"):
        lookup(download_target("https://10.1.2.3/f", None), _never)


@pytest.mark.parametrize(
    ("answers", "allowed"),
    [(["52.216.1.1", "52.216.1.1", "2600:1f18::1"], ("52.216.1.1", "2600:1f18::1")),
     (["52.216.1.1", "10.0.0.7"], None), (["::ffff:127.0.0.1"], None), ([], None),
     (["169.254.169.254"], None)],
)  # fmt: skip
def test_every_address_of_an_unlisted_host_must_be_public(
    answers: list[str], allowed: tuple[str, ...] | None
) -> None:
    target = download_target("https://files.example.com/f", None)
    if allowed is None:
        with pytest.raises(ValidationError):
            lookup(target, lambda host, port: answers)
    else:
        assert lookup(target, lambda host, port: answers).addresses == allowed


def test_a_listed_host_may_resolve_to_private_addresses() -> None:
    target = download_target("https://files.internal/f", ["files.internal"])
    assert lookup(target, lambda host, port: ["10.0.0.7"]).addresses == ("10.0.0.7",)


@pytest.mark.parametrize("error", [OSError("no such host"), UnicodeError("label too long")])
def test_a_host_that_cannot_be_resolved_is_refused(error: Exception) -> None:
    def failing(host: str, port: int) -> list[str]:
        raise error

    async def afailing(host: str, port: int) -> list[str]:
        raise error

    target = download_target("https://files.example.com/f", None)
    with pytest.raises(ValidationError, match="could not be resolved"):
        lookup(target, failing)
    with pytest.raises(ValidationError, match="could not be resolved"):
        asyncio.run(alookup(target, afailing))


# ------------------------------------------------------------------------------ the feed


def _feed(clock: Clock, **limits: Any) -> BatchFeed:
    return BatchFeed(clock=clock, **{"max_seconds": 10.0, "chunk_size": 2, **limits})


def test_the_feed_hands_out_full_chunks_and_the_rest_with_the_last_unterminated_line() -> None:
    feed = _feed(Clock())
    content = b"".join(user_line(n) for n in range(5))
    chunks = feed.feed(content[:-1])  # the last newline is missing
    assert [len(chunk) for chunk in chunks] == [2, 2]
    assert len(feed.rest()) == 1
    assert feed.stopped is None
    assert feed.answer().http_status == 200


def test_past_max_bytes_the_cut_line_is_dropped_and_the_answer_says_so() -> None:
    feed = _feed(Clock(), max_bytes=3 * LINE_BYTES - 1)
    chunks = feed.feed(b"".join(user_line(n) for n in range(3)))
    rest = feed.rest()
    assert [len(chunk) for chunk in chunks] + [len(rest)] == [2, 0]
    assert feed.stopped == "batch_too_large"
    assert feed.bytes_read == 3 * LINE_BYTES - 1
    feed.count(SyncReport(outcomes=[]))
    answer = feed.answer()
    assert (answer.http_status, answer.reason) == (502, "batch_too_large")
    assert answer.body["error"]["code"] == "batch_too_large"
    assert set(answer.body) == {"error", "users", "succeeded", "skipped", "failed"}
    assert feed.feed(user_line(9)) == []  # nothing is taken after a stop


def test_data_arriving_after_the_deadline_is_not_used() -> None:
    clock = Clock()
    feed = _feed(clock, max_seconds=5.0)
    assert feed.feed(user_line(0)) == []
    clock.now += 5.0
    assert feed.feed(user_line(1) + user_line(2)) == []
    assert feed.stopped == "batch_too_slow"
    assert [record["user"]["id"] for record in feed.rest()] == ["u000000"]


def test_a_read_error_is_a_failed_download_before_the_deadline_and_too_slow_after() -> None:
    clock = Clock()
    early = _feed(clock, max_seconds=5.0)
    late = _feed(clock, max_seconds=5.0)
    early.fail(httpcore.ReadError("reset"))
    clock.now += 5.0
    late.fail(httpcore.ReadTimeout("time is up"))
    assert (early.stopped, late.stopped) == ("download_failed", "batch_too_slow")
    assert "ReadError" in early.answer().message
    assert "reset" not in early.answer().message


@pytest.mark.parametrize(
    "bad",
    [{"max_bytes": 0}, {"max_seconds": 0.0}, {"max_seconds": float("nan")}, {"chunk_size": 0},
     {"max_line_bytes": True}],
)  # fmt: skip
def test_the_feed_refuses_limits_out_of_range(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        BatchFeed(**bad)


# ----------------------------------------------------------------------- the backends


class FakeStream(httpcore.NetworkStream):
    def __init__(self, log: list[tuple[Any, ...]], clock: Clock, name: str = "tcp") -> None:
        self.log = log
        self.clock = clock
        self.name = name

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.log.append((self.name, "read", timeout))
        self.clock.now += 1.0
        return b"x"

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.log.append((self.name, "write", timeout))

    def close(self) -> None:
        self.log.append((self.name, "close"))

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        self.log.append((self.name, "start_tls", server_hostname, timeout))
        return FakeStream(self.log, self.clock, "tls")


class FakeBackend(httpcore.NetworkBackend):
    def __init__(self, clock: Clock, refused: set[str]) -> None:
        self.clock = clock
        self.refused = refused
        self.log: list[tuple[Any, ...]] = []

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        self.log.append(("connect", host, port, timeout))
        if host in self.refused:
            raise httpcore.ConnectError("refused")
        return FakeStream(self.log, self.clock)


def _target(*addresses: str) -> DownloadTarget:
    target = download_target("https://files.example.com/f", None)
    return lookup(target, lambda host, port: list(addresses))


def test_the_backend_connects_to_the_checked_addresses_in_order_and_nothing_else() -> None:
    clock = Clock()
    inner = FakeBackend(clock, refused={"52.216.1.1"})
    backend = SyncCheckedBackend(
        _target("52.216.1.1", "52.216.1.2"), clock.now + 10.0, clock, inner
    )
    with pytest.raises(httpcore.ConnectError):
        backend.connect_tcp("evil.example.com", 443)
    with pytest.raises(httpcore.ConnectError):
        backend.connect_tcp("files.example.com", 8443)
    assert inner.log == []  # another host or port: no connection at all
    backend.connect_tcp("files.example.com", 443, timeout=30.0)
    assert inner.log == [("connect", "52.216.1.1", 443, 10.0), ("connect", "52.216.1.2", 443, 10.0)]


def test_every_read_and_write_ends_by_the_deadline_and_none_starts_after_it() -> None:
    clock = Clock()
    inner = FakeBackend(clock, refused=set())
    backend = SyncCheckedBackend(_target("52.216.1.1"), clock.now + 2.0, clock, inner)
    stream = backend.connect_tcp("files.example.com", 443, timeout=10.0)
    tls = stream.start_tls(ssl.create_default_context(), "files.example.com", timeout=10.0)
    tls.write(b"GET / HTTP/1.1\r\n\r\n", timeout=30.0)
    tls.read(100, timeout=30.0)  # the clock moves one second per read
    tls.read(100, timeout=30.0)
    with pytest.raises(httpcore.ReadTimeout):
        tls.read(100, timeout=30.0)
    assert inner.log[1:] == [
        ("tcp", "start_tls", "files.example.com", 2.0),  # SNI: the host name, not the address
        ("tls", "write", 2.0),
        ("tls", "read", 2.0),
        ("tls", "read", 1.0),
    ]


def test_the_async_backend_keeps_the_same_rules() -> None:
    clock = Clock()

    class AsyncFake(httpcore.AsyncNetworkBackend):
        def __init__(self) -> None:
            self.log: list[tuple[Any, ...]] = []

        async def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Any = None,
        ) -> httpcore.AsyncNetworkStream:
            self.log.append(("connect", host, timeout))
            return httpcore.AsyncMockStream([b"data"])

    inner = AsyncFake()
    backend = CheckedBackend(_target("52.216.1.1"), clock.now + 3.0, clock, inner)

    async def scenario() -> bytes:
        with pytest.raises(httpcore.ConnectError):
            await backend.connect_tcp("other.example.com", 443)
        stream = await backend.connect_tcp("files.example.com", 443, timeout=10.0)
        data = await stream.read(10, timeout=30.0)
        clock.now += 3.0
        with pytest.raises(httpcore.ReadTimeout):
            await stream.read(10, timeout=30.0)
        return data

    assert asyncio.run(scenario()) == b"data"
    assert inner.log == [("connect", "52.216.1.1", 3.0)]
