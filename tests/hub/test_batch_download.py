"""Batch downloads are bounded, cancellable and go to the checked address (SPEC §8.7 "Batch
downloads", §8.5 /batch; issue 21).

Real loopback servers (`batch_download_support.FileServer`) serve endless, trickling, silent,
redirecting and failing files; the hubs (sync and async, mirrored) and the single-connector
function `download_and_sync` download them with their own connections.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from batch_download_support import (
    HEAD_200,
    LINE_BYTES,
    FileServer,
    Flavour,
    answer,
    batch_body,
    batch_query,
    endless,
    fake_org,
    silent_after,
    trickle,
    user_line,
)

import hull_customerio as hc
from hull_customerio.hub import async_hub, sync_hub
from hull_customerio.hub._batch import BatchRequest
from hull_customerio.testing import FakeCustomerIO


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> Iterator[Flavour]:
    hull = fake_org()
    workspace = FakeCustomerIO(site_id="site-1", api_key="key-site-1")
    made = Flavour(str(request.param), hull, workspace)
    yield made
    made.finish()


def _answer_batch(flavour: Flavour, url: str, **hub_options: Any) -> Any:
    hub = flavour.hub(**hub_options)
    try:
        return flavour.call(hub.answer_batch, batch_body(url), {}, batch_query(flavour.hull))
    finally:
        flavour.close(hub)


def _synced_ids(workspace: FakeCustomerIO) -> list[str]:
    return sorted(workspace.people)


# ------------------------------------------------------------------------------ bytes


def test_an_endless_file_stops_at_max_batch_bytes_and_the_users_read_before_are_synced(
    flavour: Flavour,
) -> None:
    limit = 10 * LINE_BYTES + LINE_BYTES // 2  # ten whole users, then half of the eleventh
    with FileServer(endless) as server:
        started = time.monotonic()
        result = _answer_batch(flavour, server.url(), batch_hosts=["127.0.0.1"],
                               max_batch_bytes=limit, batch_chunk_size=3)  # fmt: skip
        elapsed = time.monotonic() - started
        assert server.wait_closed(1.0)  # the connection was closed, not left streaming
    assert (result.http_status, result.reason) == (502, "batch_too_large")
    assert result.body["users"] == result.body["succeeded"] == 10
    assert result.body["error"]["code"] == "batch_too_large"
    assert "10 users read before were processed" in result.message
    assert _synced_ids(flavour.workspace) == [f"e{n:06d}" for n in range(10)]
    assert elapsed < 5.0


@pytest.mark.parametrize(("extra", "status"), [(0, 200), (-1, 502)])
def test_a_file_of_exactly_max_batch_bytes_is_read_to_its_end_one_byte_less_is_not(
    flavour: Flavour, extra: int, status: int
) -> None:
    content = b"".join(user_line(n) for n in range(4))
    with FileServer(answer(200, content)) as server:
        result = _answer_batch(flavour, server.url(), batch_hosts=["127.0.0.1"],
                               max_batch_bytes=len(content) + extra)  # fmt: skip
    assert result.http_status == status
    # Cut one byte short, the last line is incomplete: it is dropped, not sent half-read.
    synced = 4 if status == 200 else 3
    assert _synced_ids(flavour.workspace) == [f"e{n:06d}" for n in range(synced)]


# ------------------------------------------------------------------------------- time


def test_a_trickling_file_stops_at_max_batch_seconds_and_the_users_read_before_are_synced(
    flavour: Flavour,
) -> None:
    first = user_line(0) + user_line(1) + b'{"user": {"id": "u3"'
    with FileServer(trickle(first, every=0.1)) as server:
        started = time.monotonic()
        result = _answer_batch(flavour, server.url(), batch_hosts=["127.0.0.1"],
                               max_batch_seconds=1.0)  # fmt: skip
        elapsed = time.monotonic() - started
        assert server.wait_closed(1.0)
    assert (result.http_status, result.reason) == (502, "batch_too_slow")
    assert result.body["succeeded"] == 2
    assert _synced_ids(flavour.workspace) == ["e000000", "e000001"]
    assert 1.0 <= elapsed < 2.5


@pytest.mark.parametrize("head", [b"", HEAD_200], ids=["no-answer", "headers-then-nothing"])
def test_a_silent_server_is_cut_at_max_batch_seconds_not_at_the_read_timeout(
    flavour: Flavour, head: bytes
) -> None:
    with FileServer(silent_after(head)) as server:
        started = time.monotonic()
        result = _answer_batch(flavour, server.url(), batch_hosts=["127.0.0.1"],
                               max_batch_seconds=0.5)  # fmt: skip
        elapsed = time.monotonic() - started
        assert server.wait_closed(1.0)
    assert (result.http_status, result.reason) == (502, "batch_too_slow")
    assert 0.5 <= elapsed < 2.0  # the read timeout is 30 s: the deadline cut the read


# ----------------------------------------------------------------------- cancellation


@pytest.mark.parametrize(
    "behaviour",
    [endless, trickle(user_line(0), every=1.0), silent_after(HEAD_200)],
    ids=["endless", "trickle", "silent"],
)
def test_cancelling_answer_batch_stops_the_download_at_once_and_closes_its_connection(
    behaviour: Any,
) -> None:
    hull = fake_org()
    workspace = FakeCustomerIO(site_id="site-1", api_key="key-site-1")
    flavour = Flavour("async", hull, workspace)

    async def scenario(server: FileServer) -> tuple[float, float, set[asyncio.Task[Any]]]:
        hub = flavour.hub(batch_hosts=["127.0.0.1"], batch_chunk_size=50)
        before = asyncio.all_tasks()
        task = asyncio.create_task(
            hub.answer_batch(batch_body(server.url()), {}, batch_query(hull))
        )
        await asyncio.sleep(0.5)
        assert not task.done()
        cancelled_at = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 2.0)
        stopped_in = time.monotonic() - cancelled_at
        # Nothing keeps running: half a second later the process used little CPU.
        cpu = time.process_time()
        await asyncio.sleep(0.5)
        cpu_used = time.process_time() - cpu
        await hub.aclose()
        await asyncio.sleep(0)
        return stopped_in, cpu_used, asyncio.all_tasks() - before

    with FileServer(behaviour) as server:
        assert flavour.loop is not None
        stopped_in, cpu_used, left = flavour.loop.run_until_complete(scenario(server))
        assert server.wait_closed(1.0)
    flavour.finish()
    assert stopped_in < 1.0
    assert cpu_used < 0.2
    assert left == set()


# ------------------------------------------------------------------ where it connects


def test_the_batch_host_is_looked_up_once_and_the_checked_address_is_the_one_connected_to(
    flavour: Flavour,
) -> None:
    content = user_line(0)
    server = FileServer(answer(200, content), host="127.0.0.2")
    # Same port on 127.0.0.1: where a second lookup of "localhost" would lead.
    decoy = FileServer(answer(200, content), host="127.0.0.1", port=server.port)
    with server, decoy:
        calls: list[str] = []
        # A rebinding resolver: the checked answer first, another address after.
        answers = iter([["127.0.0.2"], ["127.0.0.1"], ["127.0.0.1"]])
        url = server.url(host="localhost")
        result = _answer_batch(flavour, url, batch_hosts=["localhost"],
                               resolver=flavour.resolver(answers, calls))  # fmt: skip
    assert result.http_status == 200, result
    assert calls == ["localhost"]
    assert len(server.connections) == 1
    assert server.connections[0].host_header == f"localhost:{server.port}"
    assert decoy.connections == []
    assert _synced_ids(flavour.workspace) == ["e000000"]


@pytest.mark.parametrize("addresses", [["127.0.0.1"], ["52.216.1.1", "127.0.0.1"], ["10.0.0.7"]])
def test_an_unlisted_host_answering_a_private_address_is_refused_before_any_connection(
    flavour: Flavour, addresses: list[str]
) -> None:
    with FileServer(answer(200, user_line(0))) as server:
        calls: list[str] = []
        url = server.url(host="files.example.com", scheme="https")
        result = _answer_batch(flavour, url, resolver=flavour.resolver(iter([addresses]), calls))
    assert (result.http_status, result.reason) == (400, "batch_url_refused")
    assert calls == ["files.example.com"]
    assert server.connections == []
    assert flavour.workspace.requests == []


def test_a_redirect_is_not_followed_and_its_status_is_named(flavour: Flavour) -> None:
    with FileServer(answer(200, user_line(0))) as target, \
            FileServer(answer(302, headers=(("Location", target.url()),))) as server:  # fmt: skip
        result = _answer_batch(flavour, server.url(), batch_hosts=["127.0.0.1"])
    assert (result.http_status, result.reason) == (502, "download_failed")
    assert "302" in result.message
    assert target.connections == []
    assert len(server.connections) == 1


@pytest.mark.parametrize("status", [200, 500])
def test_the_remote_answer_text_is_never_echoed(flavour: Flavour, status: int) -> None:
    secret = b"REMOTE-SECRET-TEXT"
    if status == 200:  # a file that breaks off: chunked encoding, then garbage
        behaviour = answer(200, b"", (("Transfer-Encoding", "chunked"),))
        body = b"zz " + secret + b"\r\n"

        def behave(connection: Any) -> None:
            connection.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)

        behaviour = behave
    else:
        behaviour = answer(500, secret, (("X-Error", secret.decode()),))
    with FileServer(behaviour) as server:
        result = _answer_batch(flavour, server.url(), batch_hosts=["127.0.0.1"])
    assert (result.http_status, result.reason) == (502, "download_failed")
    assert "REMOTE-SECRET" not in repr(result)


# --------------------------------------------------------------------- URLs refused


WEIRD_URLS = [
    "https://xn--a.example.com/f.json",  # invalid punycode
    "https://xn--.example.com/f.json",
    "https://[::1",
    "https://user:password@files.example.com/f.json",
    "https://files.example.com\\@127.0.0.1/f.json",
    "ftp://files.example.com/f.json",
    "http://files.example.com/f.json",
    "https://a..b/f.json",
    "https://exa mple.com/f.json",
    "https://\u2488.example/f.json",
    "https://" + "a" * 64 + ".example.com/f.json",
    "https://files.example.com:99999/f.json",
    "https:///f.json",
]


@pytest.mark.parametrize("url", WEIRD_URLS)
@pytest.mark.parametrize("hosts", [None, "listed"])
def test_a_url_httpx_or_idna_cannot_handle_is_refused_with_400_by_the_hubs(
    flavour: Flavour, url: str, hosts: str | None
) -> None:
    calls: list[str] = []
    listed = None if hosts is None else [url.split("/")[2], "files.example.com", "127.0.0.1"]
    result = _answer_batch(flavour, url, batch_hosts=listed,
                           resolver=flavour.resolver(iter([["8.8.8.8"]]), calls))  # fmt: skip
    assert (result.http_status, result.reason) == (400, "batch_url_refused")
    assert calls == []
    assert flavour.workspace.requests == []


@pytest.mark.parametrize("url", WEIRD_URLS)
def test_a_url_httpx_or_idna_cannot_handle_is_refused_with_400_by_download_and_sync(
    flavour: Flavour, url: str
) -> None:
    connector = flavour.connector()
    calls: list[str] = []
    function = async_hub.download_and_sync if flavour.is_async else sync_hub.download_and_sync
    request = BatchRequest(url=url, format="json", object_type="user_report")
    result = flavour.call(function, connector, request, None,
                          resolver=flavour.resolver(iter([["8.8.8.8"]]), calls))  # fmt: skip
    flavour.close_connector(connector)
    assert (result.http_status, result.reason) == (400, "batch_url_refused")
    assert calls == []


@pytest.mark.parametrize(
    "bad",
    [{"max_batch_bytes": 0}, {"max_batch_bytes": 1.5}, {"max_batch_bytes": True},
     {"max_batch_seconds": 0}, {"max_batch_seconds": -1.0}, {"max_batch_seconds": float("inf")},
     {"max_batch_seconds": float("nan")}, {"max_batch_seconds": "60"}],
)  # fmt: skip
def test_batch_limits_out_of_range_are_a_configuration_error(
    flavour: Flavour, bad: dict[str, Any]
) -> None:
    with pytest.raises(hc.ConfigurationError, match=next(iter(bad))):
        flavour.hub(**bad)


# ------------------------------------------------------------- the single connector


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_server(ca: trustme.CA, name: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    return context


@pytest.mark.parametrize(("certified", "status"),
                         [("files.example.test", 200), ("other.example.test", 502)])  # fmt: skip
def test_tls_to_the_checked_address_still_verifies_the_host_name(
    flavour: Flavour, ca: trustme.CA, certified: str, status: int
) -> None:
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    connector = flavour.connector()
    calls: list[str] = []
    with FileServer(answer(200, user_line(0)), tls=_tls_server(ca, certified)) as server:
        url = server.url(host="files.example.test", scheme="https")
        request = BatchRequest(url=url, format="json", object_type="user_report")
        function = async_hub.download_and_sync if flavour.is_async else sync_hub.download_and_sync
        result = flavour.call(
            function, connector, request, ["files.example.test"], ssl_context=client_context,
            resolver=flavour.resolver(iter([["127.0.0.1"], ["10.0.0.7"]]), calls),
        )  # fmt: skip
    flavour.close_connector(connector)
    assert result.http_status == status, result
    assert calls == ["files.example.test"]
    assert len(server.connections) == 1
    # The server was asked for the host name (SNI), though the connection went to an address.
    assert server.connections[0].server_name == "files.example.test"
    if status == 200:
        assert server.connections[0].host_header == f"files.example.test:{server.port}"
        assert _synced_ids(flavour.workspace) == ["e000000"]
    else:
        assert result.reason == "download_failed"
        assert "ConnectError" in result.message
        assert flavour.workspace.requests == []


def test_download_and_sync_applies_its_limits(flavour: Flavour) -> None:
    connector = flavour.connector()
    function = async_hub.download_and_sync if flavour.is_async else sync_hub.download_and_sync
    with FileServer(endless) as server:
        request = BatchRequest(url=server.url(), format="json", object_type="user_report")
        result = flavour.call(function, connector, request, ["127.0.0.1"],
                              max_bytes=5 * LINE_BYTES, chunk_size=2)  # fmt: skip
        assert server.wait_closed(1.0)
    flavour.close_connector(connector)
    assert (result.http_status, result.reason) == (502, "batch_too_large")
    assert _synced_ids(flavour.workspace) == [f"e{n:06d}" for n in range(5)]
