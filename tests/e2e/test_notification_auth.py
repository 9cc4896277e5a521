"""Authenticated notifications end to end (SPEC §8.1, §8.2, §8.6), sync and async.

Customer.io and Hull are the loopback fakes. Hull's public key is fetched through an httpx
client given to the connector (`key_http_client`): either the fake's in-process transport, or
a transport that sends the `https://` request to the fake's loopback server over a socket
(there is no TLS on loopback; the trust decision is made on the `https` URL before that).
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import httpx
import pytest
from e2e_support import async_customerio_client, async_hull_client, customerio_client, hull_client

import hull_customerio as hc
from hull_customerio.testing import FakeCustomerIO, FakeHull

ADA = "5c8a1f2e3b4d5e6f7a8b9c01"


@pytest.fixture(scope="module")
def signing_keys() -> tuple[str, str]:
    """Two RSA keys made once (generating one takes a fraction of a second)."""
    return FakeHull().notification_private_key, FakeHull().notification_private_key


@pytest.fixture(autouse=True)
def _hull_signs_with_a_shared_key(hull: FakeHull, signing_keys: tuple[str, str]) -> None:
    hull.notification_private_key = signing_keys[0]


def attacker_hull(hull: FakeHull, signing_keys: tuple[str, str]) -> FakeHull:
    """A fake Hull with the victim's credentials but a key of its own."""
    attacker = FakeHull(id=hull.id, secret=hull.secret, organization=hull.organization)
    attacker.notification_private_key = signing_keys[1]
    return attacker


class LoopbackTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Sends every request, whatever its URL, to a loopback server over a real socket."""

    def __init__(self, base_url: str) -> None:
        self.base = httpx.URL(base_url)
        self.seen: list[str] = []
        # Made on first use: most tests check that nothing is ever sent through it.
        self._sync: httpx.HTTPTransport | None = None
        self._async: httpx.AsyncHTTPTransport | None = None

    def _rewrite(self, request: httpx.Request) -> None:
        self.seen.append(str(request.url))
        request.url = request.url.copy_with(scheme="http", host=self.base.host, port=self.base.port)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._rewrite(request)
        self._sync = self._sync or httpx.HTTPTransport(verify=False)
        return self._sync.handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._rewrite(request)
        self._async = self._async or httpx.AsyncHTTPTransport(verify=False)
        return await self._async.handle_async_request(request)

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()


def answer(
    flavour: str,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    body: bytes,
    headers: dict[str, str],
    *,
    with_hull: bool = True,
    key_transport: Any = None,
    settings: hc.Settings | None = None,
    **options: Any,
) -> hc.NotificationAnswer:
    """One connector, built as a service would, answers one notification."""
    settings = settings or hc.Settings(site_id=customerio.site_id, api_key=customerio.api_key)
    if flavour == "sync":
        with customerio_client(customerio) as cio:
            hull_cli = hull_client(hull) if with_hull else None
            keys = httpx.Client(transport=key_transport) if key_transport is not None else None
            try:
                connector = hc.Connector(
                    settings, customerio=cio, hull=hull_cli, key_http_client=keys, **options
                )
                return connector.answer_notification(body, headers)
            finally:
                if hull_cli is not None:
                    hull_cli.close()
                if keys is not None:
                    keys.close()

    async def run() -> hc.NotificationAnswer:
        async with async_customerio_client(customerio) as cio:
            hull_cli = async_hull_client(hull) if with_hull else None
            keys = httpx.AsyncClient(transport=key_transport) if key_transport is not None else None
            try:
                connector = hc.AsyncConnector(
                    settings, customerio=cio, hull=hull_cli, key_http_client=keys, **options
                )
                return await connector.answer_notification(body, headers)
            finally:
                if hull_cli is not None:
                    await hull_cli.close()
                if keys is not None:
                    await keys.aclose()

    return asyncio.run(run())


def nothing_was_sent(customerio: FakeCustomerIO, hull: FakeHull) -> bool:
    sent_to_hull = [r for r in hull.requests if r.path != "/smart-notifier/public-key"]
    return customerio.requests == [] and sent_to_hull == []


def signed(hull: FakeHull, payload: dict[str, Any], **options: Any) -> tuple[bytes, dict[str, str]]:
    notification = hull.sign_payload(payload, **options)
    return notification.body, notification.headers


# -------------------------------------------------------------------- genuine notifications


def test_a_genuine_signed_notification_is_processed_with_the_configured_key(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull, notification_payload: dict[str, Any]
) -> None:
    body, headers = signed(hull, notification_payload)

    result = answer(
        flavour, customerio, hull, body, headers,
        notification_public_key=hull.notification_public_key, require_signature=True,
    )  # fmt: skip

    assert (result.http_status, result.reason) == (200, None)
    assert result.body == {"flow_control": {"type": "next"}}
    assert result.report is not None
    assert result.report.for_user(ADA).status == "success"
    assert "cust-001" in customerio.people
    assert hull.traits_for(external_id="cust-001")["customerio/id"] == "cust-001"
    # The configured key was used: nothing was fetched.
    assert [r for r in hull.requests if r.path == "/smart-notifier/public-key"] == []


@pytest.mark.parametrize("transport", ["in-process", "loopback socket"])
def test_a_genuine_notification_is_verified_with_the_key_fetched_from_a_trusted_https_url(
    flavour: str,
    transport: str,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    notification_payload: dict[str, Any],
) -> None:
    body, headers = signed(hull, notification_payload)  # key URL: https://acme42.hullapp.io/...
    key_transport: Any = (
        hull.transport() if transport == "in-process" else LoopbackTransport(hull.url)
    )

    result = answer(
        flavour, customerio, hull, body, headers, key_transport=key_transport,
        require_signature=True,
    )  # fmt: skip

    assert (result.http_status, result.reason) == (200, None)
    assert "cust-001" in customerio.people
    fetches = [r for r in hull.requests if r.path == "/smart-notifier/public-key"]
    assert [(r.method, r.body.decode()) for r in fetches] == [
        ("POST", headers["x-hull-smart-notifier-signature"])
    ]


def test_an_unsigned_notification_with_the_right_credentials_is_accepted_unless_required(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull, notification_payload: dict[str, Any]
) -> None:
    body = json.dumps(notification_payload).encode()

    accepted = answer(flavour, customerio, hull, body, {})
    assert (accepted.http_status, accepted.reason) == (200, None)
    assert "cust-001" in customerio.people

    customerio.reset()
    refused = answer(flavour, customerio, hull, body, {}, require_signature=True)
    assert (refused.http_status, refused.reason) == (401, "missing_signature")
    assert customerio.requests == []


def test_without_a_hull_client_only_signed_notifications_are_accepted(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull, notification_payload: dict[str, Any]
) -> None:
    key = hull.notification_public_key
    unsigned = json.dumps(notification_payload).encode()

    refused = answer(
        flavour, customerio, hull, unsigned, {}, with_hull=False, notification_public_key=key
    )
    assert (refused.http_status, refused.reason) == (401, "missing_signature")
    assert nothing_was_sent(customerio, hull)

    body, headers = signed(hull, notification_payload)
    accepted = answer(
        flavour, customerio, hull, body, headers, with_hull=False, notification_public_key=key
    )
    assert (accepted.http_status, accepted.reason) == (200, None)
    assert "cust-001" in customerio.people


# --------------------------------------------------------------------- forged notifications


def _with_configuration(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    forged = json.loads(json.dumps(payload))
    for name, value in changes.items():
        if value is None:
            forged["configuration"].pop(name, None)
        else:
            forged["configuration"][name] = value
    return forged


FORGED_CONFIGURATIONS = [
    pytest.param({"secret": "guessed-secret"}, "wrong_secret", id="wrong-secret"),
    pytest.param({"secret": None}, "missing_credentials", id="missing-secret"),
    pytest.param({"id": "0123456789abcdef01234567"}, "wrong_connector", id="wrong-connector"),
    pytest.param({"organization": "evil.hullapp.io"}, "wrong_organization", id="wrong-org"),
]


@pytest.mark.parametrize(("changes", "reason"), FORGED_CONFIGURATIONS)
@pytest.mark.parametrize("signature", ["unsigned", "signed by Hull"])
def test_a_notification_with_forged_credentials_sends_nothing_and_is_answered_401(
    flavour: str,
    *,
    signature: str,
    changes: dict[str, Any],
    reason: str,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    notification_payload: dict[str, Any],
) -> None:
    # The attack of the issue: deletion switched on in a forged body.
    forged = _with_configuration(notification_payload, **changes)
    forged["connector"]["private_settings"]["enable_user_deletion"] = True
    if signature == "unsigned":
        body, headers = json.dumps(forged).encode(), {}
    else:
        body, headers = signed(hull, forged)

    result = answer(
        flavour, customerio, hull, body, headers,
        notification_public_key=hull.notification_public_key,
    )  # fmt: skip

    assert (result.http_status, result.reason, result.report) == (401, reason, None)
    assert result.body["error"]["code"] == reason
    assert nothing_was_sent(customerio, hull)
    assert customerio.deletions == []


def test_a_signature_made_with_another_key_is_refused(
    flavour: str,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    notification_payload: dict[str, Any],
    signing_keys: tuple[str, str],
) -> None:
    attacker = attacker_hull(hull, signing_keys)
    body, headers = signed(attacker, notification_payload)

    result = answer(
        flavour, customerio, hull, body, headers,
        notification_public_key=hull.notification_public_key,
    )  # fmt: skip

    assert (result.http_status, result.reason) == (401, "bad_signature")
    assert nothing_was_sent(customerio, hull)


def test_a_genuine_signature_of_another_notification_is_refused(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull, notification_payload: dict[str, Any]
) -> None:
    # A signature captured from one notification, replayed on another body.
    _, captured = signed(hull, {**notification_payload, "notification_id": "an-older-one"})
    body = json.dumps(notification_payload).encode()

    result = answer(
        flavour, customerio, hull, body, captured,
        notification_public_key=hull.notification_public_key,
    )  # fmt: skip

    assert (result.http_status, result.reason) == (401, "wrong_notification_id")
    assert nothing_was_sent(customerio, hull)


@pytest.mark.parametrize(
    "key_url",
    [
        pytest.param("ATTACKER/smart-notifier/public-key", id="attacker-loopback-http"),
        pytest.param("https://keys.attacker.example/smart-notifier/public-key", id="other-host"),
        pytest.param("http://acme42.hullapp.io/smart-notifier/public-key", id="plain-http"),
        pytest.param("https://hullapp.io.attacker.example/key", id="lookalike-host"),
        pytest.param("https://acme42.hullapp.io@attacker.example/key", id="userinfo-trick"),
        pytest.param("", id="no-url"),
    ],
)
def test_a_key_url_outside_the_trusted_hosts_is_never_fetched(
    flavour: str,
    *,
    key_url: str,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    notification_payload: dict[str, Any],
    signing_keys: tuple[str, str],
) -> None:
    with attacker_hull(hull, signing_keys) as attacker:
        url = key_url.replace("ATTACKER", attacker.url)
        body, headers = signed(attacker, notification_payload, key_url=url or "x")
        if not url:
            del headers["x-hull-smart-notifier-signature-public-key-url"]
        # Whatever URL is requested, this client would reach the attacker's server.
        reach_attacker = LoopbackTransport(attacker.url)

        result = answer(
            flavour, customerio, hull, body, headers, key_transport=reach_attacker,
            trusted_key_hosts=[*hc.HULL_KEY_HOSTS, "127.0.0.1"],
        )  # fmt: skip

        assert (result.http_status, result.reason) == (401, "untrusted_key_url")
        assert attacker.requests == []
        assert reach_attacker.seen == []
        assert nothing_was_sent(customerio, hull)


def test_a_key_that_cannot_be_fetched_refuses_the_notification_and_is_retried_after_a_minute(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull, notification_payload: dict[str, Any]
) -> None:
    hull.fail_next(503, path="/smart-notifier/public-key")
    now = [1000.0]
    cache = hc.NotificationKeyCache(clock=lambda: now[0])
    body, headers = signed(hull, notification_payload)
    key_fetches = lambda: sum(  # noqa: E731
        1 for request in hull.requests if request.path == "/smart-notifier/public-key"
    )

    refused = answer(
        flavour, customerio, hull, body, headers, key_transport=hull.transport(), key_cache=cache
    )
    assert (refused.http_status, refused.reason) == (401, "key_unavailable")
    assert nothing_was_sent(customerio, hull)
    assert len(cache) == 0
    assert key_fetches() == 1

    # Within the minute, the failing URL is not fetched again: refused at once.
    now[0] += 59.0
    again = answer(
        flavour, customerio, hull, body, headers, key_transport=hull.transport(), key_cache=cache
    )
    assert (again.http_status, again.reason) == (401, "key_unavailable")
    assert key_fetches() == 1

    now[0] += 1.0
    accepted = answer(
        flavour, customerio, hull, body, headers, key_transport=hull.transport(), key_cache=cache
    )
    assert (accepted.http_status, accepted.reason) == (200, None)
    assert key_fetches() == 2
    assert len(cache) == 1


def test_handle_notification_raises_for_a_refused_notification(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull, notification_payload: dict[str, Any]
) -> None:
    forged = _with_configuration(notification_payload, secret="guessed")
    settings = hc.Settings(site_id=customerio.site_id, api_key=customerio.api_key)

    def handle() -> None:
        if flavour == "sync":
            with customerio_client(customerio) as cio, hull_client(hull) as hull_cli:
                hc.Connector(settings, customerio=cio, hull=hull_cli).handle_notification(forged)
            return

        async def run() -> None:
            async with async_customerio_client(customerio) as cio:
                hull_cli = async_hull_client(hull)
                try:
                    connector = hc.AsyncConnector(settings, customerio=cio, hull=hull_cli)
                    await connector.handle_notification(forged)
                finally:
                    await hull_cli.close()

        asyncio.run(run())

    with pytest.raises(hc.NotificationAuthenticationError) as raised:
        handle()

    assert raised.value.reason == "wrong_secret"
    assert "guessed" not in str(raised.value)
    assert hull.secret not in str(raised.value)
    assert nothing_was_sent(customerio, hull)


def test_handle_notification_takes_raw_bytes_and_headers(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull, notification_payload: dict[str, Any]
) -> None:
    body, headers = signed(hull, notification_payload)
    settings = hc.Settings(site_id=customerio.site_id, api_key=customerio.api_key)
    key = hull.notification_public_key

    if flavour == "sync":
        with customerio_client(customerio) as cio, hull_client(hull) as hull_cli:
            connector = hc.Connector(
                settings, customerio=cio, hull=hull_cli, notification_public_key=key,
                require_signature=True,
            )  # fmt: skip
            flow = connector.handle_notification(body, headers)
    else:

        async def run() -> dict[str, Any]:
            async with async_customerio_client(customerio) as cio:
                hull_cli = async_hull_client(hull)
                try:
                    connector = hc.AsyncConnector(
                        settings, customerio=cio, hull=hull_cli, notification_public_key=key,
                        require_signature=True,
                    )  # fmt: skip
                    return await connector.handle_notification(body, headers)
                finally:
                    await hull_cli.close()

        flow = asyncio.run(run())

    assert flow == {"flow_control": {"type": "next"}}
    assert "cust-001" in customerio.people


# ----------------------------------------------------------- bodies, channels, workspaces


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[1, 2]", b'"text"', b"\xff\xfe{", b"[" * 10_000 + b"]" * 10_000]
)
def test_a_body_that_is_not_a_json_object_is_answered_400(
    flavour: str, body: bytes, customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    result = answer(flavour, customerio, hull, body, {})

    assert (result.http_status, result.reason, result.report) == (400, "invalid_body", None)
    assert nothing_was_sent(customerio, hull)


@pytest.mark.parametrize("channel", ["account:delete", "segment:update", "ship:update"])
def test_another_channel_is_answered_next_with_no_outcomes(
    flavour: str,
    channel: str,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    notification_payload: dict[str, Any],
) -> None:
    body, headers = signed(hull, {**notification_payload, "channel": channel})

    result = answer(
        flavour, customerio, hull, body, headers,
        notification_public_key=hull.notification_public_key,
    )  # fmt: skip

    assert (result.http_status, result.reason) == (200, "unsupported_channel")
    assert result.body == {"flow_control": {"type": "next"}}
    assert result.report == hc.SyncReport(outcomes=[])
    assert nothing_was_sent(customerio, hull)


def test_another_channel_is_refused_like_any_notification_when_forged(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull, notification_payload: dict[str, Any]
) -> None:
    forged = _with_configuration(notification_payload, secret="guessed")
    body = json.dumps({**forged, "channel": "ship:update"}).encode()

    result = answer(flavour, customerio, hull, body, {})

    assert (result.http_status, result.reason) == (401, "wrong_secret")


@pytest.mark.parametrize("named", ["another-site", None])
def test_settings_naming_another_workspace_send_nothing(
    flavour: str,
    *,
    named: str | None,
    customerio: FakeCustomerIO,
    hull: FakeHull,
    notification_payload: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    payload = json.loads(json.dumps(notification_payload))
    if named is None:
        del payload["connector"]["private_settings"]["site_id"]
    else:
        payload["connector"]["private_settings"]["site_id"] = named
    body, headers = signed(hull, payload)

    result = answer(
        flavour, customerio, hull, body, headers,
        notification_public_key=hull.notification_public_key,
    )  # fmt: skip

    assert (result.http_status, result.reason) == (200, "credentials_mismatch")
    assert result.body == {"flow_control": {"type": "next"}}
    assert result.report is not None
    assert [(o.status, o.reason) for o in result.report.outcomes] == [
        ("error", "credentials_mismatch")
    ] * 3
    assert nothing_was_sent(customerio, hull)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert any(getattr(r, "reason", None) == "credentials_mismatch" for r in errors)


# ------------------------------------------------------------------------------ status


def test_publish_status_makes_exactly_the_put(
    flavour: str, customerio: FakeCustomerIO, hull: FakeHull
) -> None:
    settings = hc.Settings(site_id=customerio.site_id, api_key=customerio.api_key)

    if flavour == "sync":
        with customerio_client(customerio) as cio, hull_client(hull) as hull_cli:
            status = hc.Connector(settings, customerio=cio, hull=hull_cli).publish_status()
    else:

        async def run() -> hc.Status:
            async with async_customerio_client(customerio) as cio:
                hull_cli = async_hull_client(hull)
                try:
                    connector = hc.AsyncConnector(settings, customerio=cio, hull=hull_cli)
                    return await connector.publish_status()
                finally:
                    await hull_cli.close()

        status = asyncio.run(run())

    # No synchronized segments: a warning, as check_status says.
    assert status.status == "warning"
    assert [(r.method, r.path, r.json) for r in hull.requests] == [
        ("PUT", f"/api/v1/{hull.id}/status", {"status": "warning", "messages": status.messages})
    ]
    assert [(s.status, s.messages) for s in hull.statuses] == [("warning", status.messages)]


def test_publish_status_without_a_hull_client_is_a_configuration_error(
    flavour: str, customerio: FakeCustomerIO
) -> None:
    settings = hc.Settings(site_id=customerio.site_id, api_key=customerio.api_key)

    def publish() -> None:
        if flavour == "sync":
            with customerio_client(customerio) as cio:
                hc.Connector(settings, customerio=cio).publish_status()
            return

        async def run() -> None:
            async with async_customerio_client(customerio) as cio:
                await hc.AsyncConnector(settings, customerio=cio).publish_status()

        asyncio.run(run())

    with pytest.raises(hc.ConfigurationError, match="Hull client"):
        publish()
    assert customerio.requests == []


# ------------------------------------------------------------------- a shared key cache


def test_one_key_cache_shared_by_threads_and_tasks_under_key_faults_loses_nothing(
    customerio: FakeCustomerIO,
    hull: FakeHull,
    notification_payload: dict[str, Any],
    signing_keys: tuple[str, str],
) -> None:
    """Sync connectors on threads and async ones on a loop share one cache while the key
    endpoint fails now and then: every notification is either processed or refused as
    ``key_unavailable`` (never accepted unverified), and the cache ends with the one key."""
    # A failing URL is normally left alone for a minute; here only for a millisecond, so that
    # the faults land in the middle of the run.
    cache = hc.NotificationKeyCache(max_size=4, retry_after=0.001)
    settings = hc.Settings(site_id=customerio.site_id, api_key=customerio.api_key)
    for _ in range(3):
        hull.fail_next(503, path="/smart-notifier/public-key")
    hull.latency = 0.005
    notifications = [
        signed(hull, {**notification_payload, "notification_id": f"n-{i}", "messages": []})
        for i in range(24)
    ]
    forged = {**notification_payload, "notification_id": "forged", "messages": []}
    forged_body, forged_headers = signed(attacker_hull(hull, signing_keys), forged)
    results: list[tuple[str, int, str | None]] = []
    lock = threading.Lock()

    def record(name: str, result: hc.NotificationAnswer) -> None:
        with lock:
            results.append((name, result.http_status, result.reason))

    def thread_worker(batch: list[tuple[str, bytes, dict[str, str]]]) -> None:
        with customerio_client(customerio) as cio, hull_client(hull) as hull_cli:
            keys = httpx.Client(transport=hull.transport())
            connector = hc.Connector(
                settings, customerio=cio, hull=hull_cli, key_cache=cache, key_http_client=keys
            )
            for name, body, headers in batch:
                record(name, connector.answer_notification(body, headers))
            keys.close()

    async def async_worker(batch: list[tuple[str, bytes, dict[str, str]]]) -> None:
        async with async_customerio_client(customerio) as cio:
            hull_cli = async_hull_client(hull)
            keys = httpx.AsyncClient(transport=hull.transport())
            connector = hc.AsyncConnector(
                settings, customerio=cio, hull=hull_cli, key_cache=cache, key_http_client=keys
            )

            async def one(name: str, body: bytes, headers: dict[str, str]) -> None:
                record(name, await connector.answer_notification(body, headers))

            await asyncio.gather(*(one(*item) for item in batch))
            await keys.aclose()
            await hull_cli.close()

    items = [(f"n-{i}", body, headers) for i, (body, headers) in enumerate(notifications)]
    items.append(("forged", forged_body, forged_headers))
    threads = [threading.Thread(target=thread_worker, args=(items[i::4],)) for i in range(3)]
    for thread in threads:
        thread.start()
    asyncio.run(async_worker(items[3::4]))
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(name for name, _, _ in results) == sorted(name for name, _, _ in items)
    by_name = {name: (status, reason) for name, status, reason in results}
    # The forged one is refused whether or not its key fetch was one that failed.
    assert by_name.pop("forged") in {(401, "bad_signature"), (401, "key_unavailable")}
    assert set(by_name.values()) <= {(200, None), (401, "key_unavailable")}
    refused = [n for n, status, reason in results if reason == "key_unavailable"]
    assert len(cache) == 1
    key_fetches = [r for r in hull.requests if r.path == "/smart-notifier/public-key"]
    assert sum(1 for r in key_fetches if r.status == 503) == 3
    # Each failed fetch refused its notification (and perhaps others arriving in the same
    # millisecond); everything else was processed.
    assert len(refused) >= sum(1 for r in key_fetches if r.status == 503)
    assert (200, None) in set(by_name.values())
