"""The service's edge (SPEC §8.7): what a caller sends before it is authenticated chooses no
destination, holds bounded memory and time, crashes nothing and logs no secret.

Most scenarios run over a real uvicorn server on loopback; a listener on 127.0.0.1 stands for
the internal services an attacker would like the hub to reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from uvicorn_support import serve

import hull_customerio as hc
from hull_customerio.engine import _notifications
from hull_customerio.server import create_app
from hull_customerio.testing import FakeHull

TOKEN_KEY = "edge-tests-token-key-of-at-least-32-bytes"
SETTINGS = {"site_id": "site", "api_key": "key", "synchronized_segments": ["seg"]}


class Listener:
    """A TCP listener on 127.0.0.1 that counts the connections it is offered."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.port: int = self._sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            with contextlib.suppress(OSError):
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\n\r\nINTERNAL-ONLY")
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    made = Listener()
    yield made
    made.close()


@pytest.fixture
def fake() -> FakeHull:
    return FakeHull(private_settings=SETTINGS)


@pytest.fixture
def hub_url(fake: FakeHull) -> Iterator[str]:
    """The app over a hub that derives Hull's URL from each request (nothing pinned)."""
    hub = hc.AsyncConnectorHub(
        token_key=TOKEN_KEY, notification_public_key=fake.notification_public_key
    )
    with serve(create_app(hub)) as url:
        yield url


def untrusted_organizations(port: int) -> list[str]:
    return [
        f"127.0.0.1:{port}",
        f"127.0.0.1:{port}/internal/admin#",
        "127.0.0.1",
        "169.254.169.254",
        "[::1]",
        f"acme.hullapp.io:{port}",
        "acme.hullapp.io/internal",
        f"user@127.0.0.1:{port}",
        "attacker@acme.hullapp.io",
        "xn--a.hullapp.io",  # invalid punycode: httpx raises building a request for it
        "xn--hullapp-xyz.io",
        "localhost",
        "evil.example.com",
        "hullapp.io.evil.example.com",
    ]


ORGANIZATION_CASES = untrusted_organizations(1)


def _query(organization: str, fake: FakeHull) -> dict[str, str]:
    return {"organization": organization, "id": fake.id, "secret": fake.secret}


@pytest.mark.parametrize("case", range(len(ORGANIZATION_CASES)))
@pytest.mark.parametrize("path", ["/status", "/credentials", "/batch"])
def test_an_untrusted_organization_is_refused_before_any_connection(
    hub_url: str, fake: FakeHull, listener: Listener, case: int, path: str
) -> None:
    organization = untrusted_organizations(listener.port)[case]
    body = json.dumps({"url": "https://files.example.com/f.json"}).encode()
    answer = httpx.post(f"{hub_url}{path}", params=_query(organization, fake), content=body)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "untrusted_organization"
    assert "INTERNAL" not in answer.text
    assert listener.connections == 0


@pytest.mark.parametrize("case", range(len(ORGANIZATION_CASES)))
def test_a_signed_notification_naming_an_untrusted_organization_is_refused(
    hub_url: str, fake: FakeHull, listener: Listener, case: int
) -> None:
    payload = fake.notification([{"user": {"id": "u1", "email": "a@x.io"}}])
    payload["configuration"]["organization"] = untrusted_organizations(listener.port)[case]
    signed = fake.sign_payload(payload)
    answer = httpx.post(f"{hub_url}/smart-notifier", content=signed.body, headers=signed.headers)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "untrusted_organization"
    assert listener.connections == 0


def test_a_webhook_token_naming_an_untrusted_organization_is_refused(
    hub_url: str, fake: FakeHull, listener: Listener
) -> None:
    # Sealed by a hub that pins Hull's URL (so any organization may be sealed), opened by one
    # that derives it from the token: the organization is checked again.
    with hc.ConnectorHub(token_key=TOKEN_KEY, hull_options={"api_url": "https://x.test"}) as hub:
        url = hub.webhook_url(
            hub_url, organization=f"127.0.0.1:{listener.port}", connector_id=fake.id,
            secret=fake.secret,
        )  # fmt: skip
    answer = httpx.post(url, content=b"{}")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "untrusted_organization"
    assert listener.connections == 0


def test_a_hub_will_not_make_a_webhook_url_for_an_untrusted_organization(fake: FakeHull) -> None:
    with hc.ConnectorHub(token_key=TOKEN_KEY) as hub, pytest.raises(hc.ConfigurationError):
        hub.webhook_url(
            "https://c.example", organization="127.0.0.1:6379", connector_id=fake.id,
            secret=fake.secret,
        )  # fmt: skip


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_publish_status_refuses_an_untrusted_organization_without_io(
    fake: FakeHull, listener: Listener, flavour: str
) -> None:
    from hull_customerio.hub._errors import UntrustedOrganizationError  # noqa: PLC0415

    organization = f"127.0.0.1:{listener.port}"
    if flavour == "sync":
        with hc.ConnectorHub(token_key=TOKEN_KEY) as hub, pytest.raises(UntrustedOrganizationError):
            hub.publish_status(organization=organization, connector_id=fake.id, secret="s")
    else:

        async def publish() -> None:
            async with hc.AsyncConnectorHub(token_key=TOKEN_KEY) as hub:
                await hub.publish_status(
                    organization=organization, connector_id=fake.id, secret="s"
                )

        with pytest.raises(UntrustedOrganizationError):
            asyncio.run(publish())
    assert listener.connections == 0


def test_a_pinned_hull_url_is_not_restricted_and_its_error_text_is_not_reflected(
    fake: FakeHull, listener: Listener
) -> None:
    """An operator who pins Hull's URL may point it anywhere (tests, a proxy); still, what
    that URL answers never reaches a caller whose credentials were not accepted."""
    hub = hc.AsyncConnectorHub(
        token_key=TOKEN_KEY,
        hull_options={"api_url": f"http://127.0.0.1:{listener.port}"},
    )
    with serve(create_app(hub)) as url:
        answer = httpx.get(f"{url}/status", params=_query("acme.example.com", fake))
    assert listener.connections >= 1
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "hull_unavailable"
    assert "INTERNAL" not in answer.text
    assert "127.0.0.1" not in answer.text


# --------------------------------------------------------------------------------------------
# Bodies: size, pending bytes, time, disconnects.


def _raw_post(url: str, path: str, head_extra: bytes, body: bytes) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(
        b"POST "
        + path.encode()
        + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + head_extra
        + b"\r\n"
        + body
    )
    return sock


def _read_status(sock: socket.socket, timeout: float = 10.0) -> int:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


def test_a_body_slower_than_body_timeout_is_answered_408(fake: FakeHull) -> None:
    hub = hc.AsyncConnectorHub(token_key=TOKEN_KEY)
    with serve(create_app(hub, body_timeout=0.5)) as url:
        sock = _raw_post(url, "/smart-notifier", b"Content-Length: 100\r\n", b"{")
        started = time.monotonic()
        try:
            status = _read_status(sock)
        finally:
            sock.close()
    assert status == 408
    assert time.monotonic() - started < 5


def test_bodies_beyond_the_pending_bytes_budget_are_answered_503_and_health_still_answers(
    fake: FakeHull,
) -> None:
    hub = hc.AsyncConnectorHub(token_key=TOKEN_KEY)
    app = create_app(hub, max_body_bytes=1000, max_pending_body_bytes=2500, body_timeout=5)
    with serve(app) as url:
        # Three uploads that announce 1,000 bytes and send 10: two fit the budget, the third
        # does not and is answered at once, before sending its body.
        held = [_raw_post(url, "/smart-notifier", b"Content-Length: 1000\r\n", b"{" * 10)
                for _ in range(2)]  # fmt: skip
        time.sleep(0.3)
        third = _raw_post(url, "/smart-notifier", b"Content-Length: 1000\r\n", b"")
        try:
            assert _read_status(third) == 503
            started = time.monotonic()
            assert httpx.get(f"{url}/health").json() == {"status": "ok"}
            assert time.monotonic() - started < 1
        finally:
            for sock in [*held, third]:
                sock.close()
        # Once the held uploads are gone, their bytes are free again.
        time.sleep(0.3)
        answer = httpx.post(f"{url}/smart-notifier", content=b"{}" * 400)
        assert answer.status_code == 401


def test_a_client_leaving_mid_body_is_one_log_line_not_a_traceback(
    fake: FakeHull, caplog: pytest.LogCaptureFixture
) -> None:
    hub = hc.AsyncConnectorHub(token_key=TOKEN_KEY)
    caplog.set_level(logging.INFO)
    with serve(create_app(hub)) as url:
        for _ in range(3):
            sock = _raw_post(url, "/smart-notifier", b"Content-Length: 100000\r\n", b"{" * 10)
            time.sleep(0.1)
            sock.close()
        time.sleep(0.5)
        assert httpx.get(f"{url}/health").status_code == 200
    aborted = [r for r in caplog.records if r.getMessage().startswith("incoming.request.aborted")]
    assert len(aborted) == 3
    assert all("reason=client_disconnected" in r.getMessage() for r in aborted)
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# --------------------------------------------------------------------------------------------
# The signature before the body; key fetches.


class _Parses:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = _notifications.read_notification_body

        def counting(body: bytes) -> Any:
            self.calls += 1
            return original(body)

        monkeypatch.setattr(_notifications, "read_notification_body", counting)


def test_a_signed_notification_is_verified_before_its_body_is_parsed(
    fake: FakeHull, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses = _Parses(monkeypatch)
    stranger = FakeHull()  # signs with a key of its own
    forged = stranger.signed_notification([{"user": {"id": "u"}}] * 1000)
    genuine = fake.signed_notification([], private_settings={})

    async def scenario() -> tuple[hc.NotificationAnswer, ...]:
        async with hc.AsyncConnectorHub(
            token_key=TOKEN_KEY,
            notification_public_key=fake.notification_public_key,
            hull_options={"api_url": "https://unused.test"},
        ) as hub:
            unsigned = await hub.answer_notification(b"[" + b"{}," * 1000 + b"{}]", {})
            bad = await hub.answer_notification(forged.body, forged.headers)
            assert parses.calls == 0
            good = await hub.answer_notification(genuine.body, genuine.headers)
            return unsigned, bad, good

    unsigned, bad, good = asyncio.run(scenario())
    assert (unsigned.http_status, unsigned.reason) == (401, "missing_signature")
    assert (bad.http_status, bad.reason) == (401, "bad_signature")
    assert good.http_status == 200
    assert parses.calls == 1


def _junk_signed(fake: FakeHull, key_url: str, notification_id: str) -> tuple[bytes, dict]:
    """A notification with a well-formed RS256 signature under a key Hull never had."""
    stranger = FakeHull()
    payload = fake.notification([], notification_id=notification_id)
    body = json.dumps(payload).encode()
    headers = stranger.sign_notification(notification_id, key_url=key_url)
    return body, headers


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_fifty_junk_signatures_naming_a_failing_key_url_cause_one_fetch(
    fake: FakeHull, flavour: str
) -> None:
    fetches: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        fetches.append(str(request.url))
        return httpx.Response(404, text="no such key")

    key_url = "https://keys.hullapp.io/missing"
    notifications = [_junk_signed(fake, key_url, f"n-{i}") for i in range(50)]
    if flavour == "sync":
        with hc.ConnectorHub(
            token_key=TOKEN_KEY, http_client=httpx.Client(transport=httpx.MockTransport(handler))
        ) as hub:
            answers = [hub.answer_notification(body, headers) for body, headers in notifications]
    else:

        async def run() -> list[hc.NotificationAnswer]:
            client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
            async with hc.AsyncConnectorHub(token_key=TOKEN_KEY, http_client=client) as hub:
                return [await hub.answer_notification(b, h) for b, h in notifications]

        answers = asyncio.run(run())
    assert {(a.http_status, a.reason) for a in answers} == {(401, "key_unavailable")}
    assert all("no such key" not in a.message for a in answers)
    assert fetches == [key_url]


def test_a_junk_signature_whose_jti_the_body_does_not_name_fetches_nothing(
    fake: FakeHull,
) -> None:
    fetches: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        fetches.append(str(request.url))
        return httpx.Response(404)

    body, headers = _junk_signed(fake, "https://keys.hullapp.io/k", "n-1")
    body = body.replace(b'"n-1"', b'"n-2"')
    with hc.ConnectorHub(
        token_key=TOKEN_KEY, http_client=httpx.Client(transport=httpx.MockTransport(handler))
    ) as hub:
        answer = hub.answer_notification(body, headers)
    assert (answer.http_status, answer.reason) == (401, "wrong_notification_id")
    assert fetches == []


def test_urls_nobody_proved_cannot_evict_a_key_in_use(fake: FakeHull) -> None:
    cache = hc.NotificationKeyCache(max_size=2)
    guard = _notifications.NotificationGuard(
        None, public_key=None, trusted_key_hosts=hc.HULL_KEY_HOSTS, require_signature=True,
        key_cache=cache,
    )  # fmt: skip
    good = fake.signed_notification([])

    def answer(body: bytes, headers: dict[str, str]) -> Any:
        steps = _notifications.authenticating(guard, body, headers)
        return _notifications.run_checks(steps, httpx.Client(transport=fake.transport()))

    assert isinstance(answer(good.body, good.headers), _notifications.NotificationEnvelope)
    assert len(cache) == 1
    # 40 junk signatures naming 40 other trusted URLs: each URL is fetched (the fake serves a
    # real key at any path), but no junk signature verifies, so no URL is proven.
    for i in range(40):
        url = f"https://{fake.organization}/smart-notifier/public-key?{i}"
        body, headers = _junk_signed(fake, url, f"junk-{i}")
        assert isinstance(answer(body, headers), hc.NotificationAnswer)
    assert len(cache) == 1
    assert cache.get(fake.notification_key_url()) is not None


@pytest.mark.parametrize(
    "key_url",
    ["https://xn--hullapp-xyz.io/key", "https://xn--a.hullapp.io/key", "https://[::1/key",
     "https://keys.hullapp.io:99999/key", "https://user@keys.hullapp.io/key"],
)  # fmt: skip
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_key_url_httpx_cannot_handle_is_refused_not_a_crash(
    fake: FakeHull, key_url: str, flavour: str
) -> None:
    signed = fake.signed_notification([], key_url=key_url)
    if flavour == "sync":
        with hc.ConnectorHub(token_key=TOKEN_KEY) as hub:
            answer = hub.answer_notification(signed.body, signed.headers)
    else:

        async def run() -> hc.NotificationAnswer:
            async with hc.AsyncConnectorHub(token_key=TOKEN_KEY) as hub:
                return await hub.answer_notification(signed.body, signed.headers)

        answer = asyncio.run(run())
    assert answer.http_status == 401
    assert answer.reason in {"untrusted_key_url", "key_unavailable"}


# --------------------------------------------------------------------------------------------
# Limiters.


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_tenants_with_one_site_id_and_different_api_keys_do_not_share_a_limiter(
    flavour: str,
) -> None:
    from hull_customerio.hub._core import WorkspaceKey  # noqa: PLC0415
    from hull_customerio.hub._tokens import HullCredentials  # noqa: PLC0415

    owner = WorkspaceKey(HullCredentials("a.hullapp.io", "1", "s"), "site", "real-key", "us")
    squatter = WorkspaceKey(HullCredentials("b.hullapp.io", "2", "s"), "site", "wrong", "us")
    colleague = WorkspaceKey(HullCredentials("c.hullapp.io", "3", "s"), "site", "real-key", "us")
    hub: Any = (hc.ConnectorHub if flavour == "sync" else hc.AsyncConnectorHub)(token_key=TOKEN_KEY)
    try:
        limiters = [hub._build_customerio(key)._limiter for key in (owner, squatter, colleague)]
    finally:
        if flavour == "sync":
            hub.close()
        else:
            asyncio.run(hub.aclose())
    assert limiters[0] is limiters[2]
    assert limiters[0] is not limiters[1]


# --------------------------------------------------------------------------------------------
# Batch downloads: the caller leaving, the app shutting down.


def _batch_hub(fake: FakeHull) -> hc.AsyncConnectorHub:
    from hull_customerio.testing import FakeCustomerIO  # noqa: PLC0415

    workspace = FakeCustomerIO(site_id="site", api_key="key")
    return hc.AsyncConnectorHub(
        token_key=TOKEN_KEY,
        hull_options={"api_url": f"https://{fake.organization}",
                      "http_client": httpx.AsyncClient(transport=fake.transport())},
        customerio_options={"http_client": httpx.AsyncClient(transport=workspace.transport()),
                            "rate_limit": None},
        batch_hosts=["127.0.0.1"],
    )  # fmt: skip


def _batch_request(url: str, fake: FakeHull, file_url: str) -> socket.socket:
    query = httpx.QueryParams(_query(fake.organization, fake))
    body = json.dumps({"url": file_url, "format": "json", "object_type": "user_report"})
    return _raw_post(
        url, f"/batch?{query}", f"Content-Length: {len(body)}\r\n".encode(), body.encode()
    )


def test_a_batch_download_stops_when_its_caller_disconnects(
    fake: FakeHull, caplog: pytest.LogCaptureFixture
) -> None:
    from hub.batch_download_support import FileServer, endless  # noqa: PLC0415

    caplog.set_level(logging.WARNING)
    with FileServer(endless) as files, serve(create_app(_batch_hub(fake))) as url:
        caller = _batch_request(url, fake, files.url())
        deadline = time.monotonic() + 5
        while not files.connections and time.monotonic() < deadline:
            time.sleep(0.02)
        assert files.connections, "the download did not start"
        time.sleep(0.5)
        caller.close()
        assert files.wait_closed(timeout=3.0), "the download went on after the caller left"
    aborted = [r.getMessage() for r in caplog.records
               if r.getMessage().startswith("incoming.request.aborted")]  # fmt: skip
    assert any("reason=client_disconnected" in line for line in aborted)


def test_a_running_batch_download_does_not_hold_a_shutdown(fake: FakeHull) -> None:
    import uvicorn  # noqa: PLC0415

    from hub.batch_download_support import FileServer, endless  # noqa: PLC0415

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(_batch_hub(fake)), log_level="warning", lifespan="on", access_log=False,
        timeout_graceful_shutdown=1,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    with FileServer(endless) as files:
        thread.start()
        while not server.started:
            time.sleep(0.01)
        caller = _batch_request(f"http://127.0.0.1:{port}", fake, files.url())
        deadline = time.monotonic() + 5
        while not files.connections and time.monotonic() < deadline:
            time.sleep(0.02)
        assert files.connections, "the download did not start"
        time.sleep(0.3)
        started = time.monotonic()
        server.should_exit = True
        thread.join(timeout=10)
        took = time.monotonic() - started
        assert not thread.is_alive()
        assert took < 5, f"shutdown took {took:.1f} s"
        assert files.wait_closed(timeout=3.0)
        caller.close()
    sock.close()
