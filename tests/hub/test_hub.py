"""ConnectorHub and AsyncConnectorHub (SPEC §8.3, §8.4), in process on the fakes' transports."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

import hull_customerio as hc
from hull_customerio.testing import FakeCustomerIO, FakeHull

SIGNER = FakeHull()
TOKEN_KEY = "the-hub-token-key-of-32-bytes-or-more"
WEBHOOK = json.dumps({
    "metric": "sent", "event_id": "01E4C4CT6YDC7Y5M7FE1GWWPQJ", "object_type": "email",
    "timestamp": 1613063089,
    "data": {"customer_id": "42", "delivery_id": "d1", "identifiers": {"id": "42"},
             "recipient": "test@example.com"},
}).encode()  # fmt: skip


def _settings(site: str, signing_key: str = "sign") -> dict[str, Any]:
    return {"site_id": site, "api_key": f"key-{site}", "synchronized_segments": ["seg"],
            "webhook_signing_key": signing_key}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Hubs:
    """Builds a sync or async hub on in-process fakes; runs its methods as plain calls."""

    def __init__(self, flavour: str, hulls: list[FakeHull], workspaces: list[FakeCustomerIO]):
        self.flavour = flavour
        self.hulls = {h.organization: h for h in hulls}
        self.workspaces = {w.site_id: w for w in workspaces}
        self.clock = Clock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self, fake: FakeHull | FakeCustomerIO) -> httpx.Client | httpx.AsyncClient:
        if self.flavour == "sync":
            return httpx.Client(transport=fake.transport())
        return httpx.AsyncClient(transport=fake.transport())

    def _no_wait(self) -> Any:
        if self.flavour == "sync":
            return lambda seconds: None

        async def no_wait(seconds: float) -> None:
            return None

        return no_wait

    def hub(self, **kwargs: Any) -> Any:
        def hull_options(organization: str) -> dict[str, Any]:
            fake = self.hulls[organization]
            return {"api_url": f"https://{organization}", "http_client": self._client(fake),
                    "sleep": self._no_wait()}  # fmt: skip

        def customerio_options(site_id: str) -> dict[str, Any]:
            return {"http_client": self._client(self.workspaces[site_id]), "rate_limit": None}

        cls = hc.ConnectorHub if self.flavour == "sync" else hc.AsyncConnectorHub
        options: dict[str, Any] = {
            "token_key": TOKEN_KEY, "hull_options": hull_options, "customerio_options":
            customerio_options, "clock": self.clock,
            "notification_public_key": SIGNER.notification_public_key,
        }  # fmt: skip
        return cls(**{**options, **kwargs})

    def call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        result = method(*args, **kwargs)
        if self.flavour == "async":
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            return self._loop.run_until_complete(result)
        return result

    def close(self, hub: Any) -> None:
        self.call(hub.close if self.flavour == "sync" else hub.aclose)
        if self._loop is not None:
            self._loop.close()


def _org(name: str, site: str, **settings: Any) -> FakeHull:
    hull = FakeHull(
        id=name[0] * 24,
        secret=f"secret-{name}",
        organization=f"{name}.hullapp.io",
        private_settings={**_settings(site), **settings},
    )
    # The key object itself: loading its PEM again per fake costs a key check each time.
    hull._private_key = SIGNER._signing_key()
    return hull


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def setup(flavour: str) -> tuple[Hubs, FakeHull, FakeHull, FakeCustomerIO]:
    alpha, beta = _org("alpha", "site-1"), _org("beta", "site-1")
    workspace = FakeCustomerIO(site_id="site-1", api_key="key-site-1")
    return Hubs(flavour, [alpha, beta], [workspace]), alpha, beta, workspace


def _signed_webhook(key: str = "sign") -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = hc.sign_webhook(WEBHOOK, timestamp=timestamp, signing_key=key)
    return {"x-cio-timestamp": timestamp, "x-cio-signature": signature}


def _token_query(hub: Any, hull: FakeHull) -> dict[str, str]:
    url = hub.webhook_url(
        "https://hub.example.com", organization=hull.organization, connector_id=hull.id,
        secret=hull.secret,
    )  # fmt: skip
    return {"token": url.split("token=", 1)[1]}


def _app_reads(hull: FakeHull) -> int:
    return sum(1 for r in hull.requests if r.path == "/api/v1/app")


def test_webhook_settings_are_read_from_hull_and_cached_for_the_ttl(setup: Any) -> None:
    hubs, alpha, _, _ = setup
    hub = hubs.hub(settings_ttl=60)
    query = _token_query(hub, alpha)
    for _ in range(3):
        outcome = hubs.call(hub.answer_webhook, WEBHOOK, _signed_webhook(), query)
        assert outcome.http_status == 200, outcome
    assert _app_reads(alpha) == 1
    hubs.clock.now += 60
    hubs.call(hub.answer_webhook, WEBHOOK, _signed_webhook(), query)
    assert _app_reads(alpha) == 2
    hubs.close(hub)


def test_a_changed_signing_key_is_used_once_the_cached_settings_expire(setup: Any) -> None:
    hubs, alpha, _, _ = setup
    hub = hubs.hub(settings_ttl=60)
    query = _token_query(hub, alpha)
    hubs.call(hub.answer_webhook, WEBHOOK, _signed_webhook(), query)
    alpha.private_settings["webhook_signing_key"] = "rotated"
    hubs.clock.now += 61
    refused = hubs.call(hub.answer_webhook, WEBHOOK, _signed_webhook("sign"), query)
    accepted = hubs.call(hub.answer_webhook, WEBHOOK, _signed_webhook("rotated"), query)
    assert (refused.http_status, accepted.http_status) == (401, 200)
    hubs.close(hub)


def test_a_webhook_with_a_foreign_token_is_refused_without_calling_hull(setup: Any) -> None:
    hubs, alpha, _, _ = setup
    hub = hubs.hub()
    other = hubs.hub(token_key="another-service-token-key-of-32-bytes")
    query = _token_query(other, alpha)
    hubs.call(other.close if hubs.flavour == "sync" else other.aclose)
    outcome = hubs.call(hub.answer_webhook, WEBHOOK, _signed_webhook(), query)
    assert (outcome.http_status, outcome.reason) == (401, "invalid_token")
    assert alpha.requests == []
    hubs.close(hub)


def test_hull_refusing_the_tokens_credentials_answers_503_so_nothing_is_lost(setup: Any) -> None:
    hubs, alpha, _, _ = setup
    hub = hubs.hub()
    query = _token_query(hub, alpha)
    alpha.secret = "rotated-secret"
    outcome = hubs.call(hub.answer_webhook, WEBHOOK, _signed_webhook(), query)
    assert (outcome.http_status, outcome.reason) == (503, "hull_credentials_refused")
    assert alpha.tracks == []
    hubs.close(hub)


def test_connectors_sending_to_one_workspace_share_its_rate_limiter(setup: Any) -> None:
    hubs, alpha, beta, _ = setup
    hub = hubs.hub()
    for org in (alpha, beta):
        answer = hubs.call(hub.answer_webhook, WEBHOOK, _signed_webhook(), _token_query(hub, org))
        assert answer.http_status == 200
    clients = hub._workspaces.values()
    assert len(clients) == 2  # one client per tenant...
    assert clients[0]._limiter is clients[1]._limiter  # ...one limiter per workspace
    key = next(iter(hub._limiter_keys.values()))
    assert hub._limiter_users(key) == 2
    hubs.close(hub)
    assert hub._limiter_users(key) == 0


def test_a_limiter_factory_gives_each_workspace_its_limiter(setup: Any) -> None:
    hubs, alpha, _, _ = setup
    made: list[str] = []
    limiter_type = hc.AsyncConnectorHub if hubs.flavour == "async" else hc.ConnectorHub
    from hull_customerio._http.ratelimit import AsyncRateLimiter, RateLimiter  # noqa: PLC0415

    def factory(name: str) -> Any:
        made.append(name)
        return AsyncRateLimiter(5) if limiter_type is hc.AsyncConnectorHub else RateLimiter(5)

    hub = hubs.hub(limiter_factory=factory)
    hubs.call(hub.answer_webhook, WEBHOOK, _signed_webhook(), _token_query(hub, alpha))
    # The factory is given the Site ID and a fingerprint of the API key, never the key.
    assert len(made) == 1
    site_id, fingerprint = made[0].split(":")
    assert site_id == "site-1"
    assert len(fingerprint) == 16
    assert all(c in "0123456789abcdef" for c in fingerprint)
    assert hub._workspaces.values()[0]._limiter.rate == 5
    hubs.close(hub)


def test_the_least_recently_used_tenants_clients_are_closed(setup: Any) -> None:
    hubs, alpha, beta, _ = setup
    hub = hubs.hub(max_tenants=1)
    hubs.call(hub.answer_webhook, WEBHOOK, _signed_webhook(), _token_query(hub, alpha))
    (first,) = hub._hulls.values()
    hubs.call(hub.answer_webhook, WEBHOOK, _signed_webhook(), _token_query(hub, beta))
    (second,) = hub._hulls.values()
    assert first is not second
    assert first._closed
    assert not second._closed
    # The evicted tenant still works: its clients are simply built again.
    outcome = hubs.call(hub.answer_webhook, WEBHOOK, _signed_webhook(), _token_query(hub, alpha))
    assert outcome.http_status == 200
    assert len(alpha.tracks) == 1  # the same event_id overwrote in Hull
    hubs.close(hub)


def test_notifications_are_sent_with_their_own_settings_and_tenant(setup: Any) -> None:
    hubs, alpha, beta, workspace = setup
    hub = hubs.hub()
    message = {"user": {"id": "u1", "external_id": "e1", "email": "a@x.io"},
               "segments": [{"id": "seg", "name": "S"}]}  # fmt: skip
    signed = alpha.signed_notification([message])
    answer = hubs.call(hub.answer_notification, signed.body, signed.headers)
    assert answer.http_status == 200, answer
    assert answer.body == {"flow_control": {"type": "next"}}
    assert answer.report.succeeded == 1
    assert list(workspace.people) == ["e1"]
    assert alpha.traits_for(external_id="e1")["customerio/id"] == "e1"
    assert beta.requests == []
    hubs.close(hub)


def test_an_unsigned_notification_is_refused_before_any_client_is_built(setup: Any) -> None:
    hubs, alpha, _, workspace = setup
    hub = hubs.hub()
    body = json.dumps(alpha.notification([])).encode()
    answer = hubs.call(hub.answer_notification, body, {})
    assert (answer.http_status, answer.reason) == (401, "missing_signature")
    assert len(hub._hulls) == 0
    assert workspace.requests == []
    hubs.close(hub)


def test_signatures_are_optional_when_the_hub_is_told_so(setup: Any) -> None:
    hubs, alpha, _, _ = setup
    hub = hubs.hub(require_signature=False)
    body = json.dumps(alpha.notification([], channel="segment:update")).encode()
    answer = hubs.call(hub.answer_notification, body, {})
    assert (answer.http_status, answer.reason) == (200, "unsupported_channel")
    hubs.close(hub)


@pytest.mark.parametrize("body", [b"", b"[]", b"{" * 10_000, b"\xff\xfe", b'{"configuration": 1}'])
def test_hostile_notification_bodies_get_a_4xx_answer(setup: Any, body: bytes) -> None:
    hubs, _, _, _ = setup
    hub = hubs.hub()
    answer = hubs.call(hub.answer_notification, body, {})
    assert answer.http_status in (400, 401)
    hubs.close(hub)


def test_status_is_checked_with_hulls_settings_and_published(setup: Any) -> None:
    hubs, alpha, _, _ = setup
    hub = hubs.hub()
    status = hubs.call(
        hub.publish_status, organization=alpha.organization, connector_id=alpha.id,
        secret=alpha.secret,
    )  # fmt: skip
    assert status.status == "ok"
    assert [s.status for s in alpha.statuses] == ["ok"]
    hubs.close(hub)


def test_status_without_workspace_credentials_is_published_as_an_error(flavour: str) -> None:
    alpha = _org("alpha", "site-1", site_id="", api_key="")
    hubs = Hubs(flavour, [alpha], [])
    hub = hubs.hub()
    status = hubs.call(
        hub.publish_status, organization=alpha.organization, connector_id=alpha.id,
        secret=alpha.secret,
    )  # fmt: skip
    assert status.status == "error"
    assert alpha.statuses[0].status == "error"
    hubs.close(hub)


@pytest.mark.parametrize(
    ("url", "hosts", "addresses"),
    [("http://files.example.com/f.json", None, ["8.8.8.8"]),
     ("https://files.example.com/f.json", None, ["10.0.0.7"]),
     ("https://files.example.com/f.json", ["other.example.com"], ["8.8.8.8"]),
     ("https://127.0.0.1/f.json", None, ["127.0.0.1"])],
)  # fmt: skip
def test_a_batch_from_a_refused_url_downloads_and_sends_nothing(
    setup: Any, url: str, hosts: list[str] | None, addresses: list[str]
) -> None:
    hubs, alpha, _, workspace = setup
    resolved: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        resolved.append(host)
        return addresses

    async def aresolve(host: str, port: int) -> list[str]:
        return resolve(host, port)

    hub = hubs.hub(resolver=resolve if hubs.flavour == "sync" else aresolve)
    query = {"organization": alpha.organization, "id": alpha.id, "secret": alpha.secret}
    body = json.dumps({"url": url, "format": "json", "object_type": "user_report"}).encode()
    answer = hubs.call(hub.answer_batch, body, {}, query, batch_hosts=hosts)
    assert (answer.http_status, answer.reason) == (400, "batch_url_refused")
    # Hull was asked about the credentials first; nothing was downloaded or sent.
    assert [r.path for r in alpha.requests] == ["/api/v1/app"]
    assert workspace.requests == []
    hubs.close(hub)


def test_a_batch_with_credentials_hull_refuses_is_answered_401(setup: Any) -> None:
    hubs, alpha, _, workspace = setup
    hub = hubs.hub()
    query = {"organization": alpha.organization, "id": alpha.id, "secret": "wrong"}
    body = json.dumps({"url": "https://127.0.0.1/f.json"}).encode()
    answer = hubs.call(hub.answer_batch, body, {}, query, batch_hosts=["127.0.0.1"])
    assert answer.http_status == 401
    assert workspace.requests == []
    hubs.close(hub)


def test_webhook_urls_fit_customerios_field_and_repr_hides_secrets(flavour: str) -> None:
    hub = Hubs(flavour, [], []).hub(token_key="the-service-secret-of-32-bytes-or-more")
    url = hub.webhook_url(
        "https://connector.example.com", organization="o" * 28 + ".hullapp.io",
        connector_id="f" * 24, secret="s" * 32,
    )  # fmt: skip
    assert len(url) <= 255
    assert "the-service-secret-of-32-bytes-or-more" not in repr(hub)
    assert "s" * 32 not in url


@pytest.mark.parametrize("bad", [{"token_key": ""}, {"token_key": "x" * 31}, {"max_tenants": 0},
                                 {"mode": "v3"}, {"settings_ttl": -1},
                                 {"batch_chunk_size": 0}])  # fmt: skip
def test_bad_hub_options_are_a_configuration_error(flavour: str, bad: dict[str, Any]) -> None:
    with pytest.raises(hc.ConfigurationError):
        Hubs(flavour, [], []).hub(**bad)


def test_one_sync_hub_shared_by_threads_under_faults_loses_and_mixes_nothing() -> None:
    alpha, beta = _org("alpha", "site-1"), _org("beta", "site-2", webhook_signing_key="sign")
    workspaces = [FakeCustomerIO(site_id=s, api_key=f"key-{s}") for s in ("site-1", "site-2")]
    hubs = Hubs("sync", [alpha, beta], workspaces)
    hub = hubs.hub()
    alpha.fail_next(500, 3, path="/", method="POST")  # the firehose fails, then recovers
    beta.fail_next("disconnect", 2, path="/", method="POST")

    def webhook(number: int) -> tuple[FakeHull, str, int]:
        tenant = (alpha, beta)[number % 2]
        payload = json.loads(WEBHOOK)
        payload["event_id"] = f"01E4C4CT6YDC7Y5M7FE1GW{number:04d}"
        body = json.dumps(payload).encode()
        stamp = str(int(time.time()))
        headers = {
            "x-cio-timestamp": stamp,
            "x-cio-signature": hc.sign_webhook(body, timestamp=stamp, signing_key="sign"),
        }
        outcome = hub.answer_webhook(body, headers, _token_query(hub, tenant))  # fmt: skip
        return tenant, payload["event_id"], outcome.http_status

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(webhook, range(60)))
    for tenant in (alpha, beta):
        answered = {event for owner, event, status in results if owner is tenant and status == 200}
        sent = {event for owner, event, _ in results if owner is tenant}
        tracked = {track.event_id for track in tenant.tracks}
        assert answered <= tracked <= sent  # every 200 is in Hull, and only its own events
    assert all(status in (200, 503) for _, _, status in results)
    assert (alpha.pending_faults, beta.pending_faults) == (0, 0)  # the faults did happen
    hubs.close(hub)


@pytest.mark.parametrize(
    "query",
    [{"organization": "a b.hullapp.io"}, {"secret": "s\u00e9cret"}, {"id": "\ud800"},
     {"organization": "x" * 300}, {"secret": "line\nbreak"}],
)  # fmt: skip
def test_credentials_that_could_not_be_credentials_are_refused_before_any_call(
    setup: Any, query: dict[str, str]
) -> None:
    hubs, alpha, _, _ = setup
    hub = hubs.hub()
    params = {"organization": alpha.organization, "id": alpha.id, "secret": alpha.secret, **query}
    body = json.dumps({"url": "https://files.example.com/f.json"}).encode()
    answer = hubs.call(hub.answer_batch, body, {}, params)
    assert answer.http_status == 401
    payload = alpha.notification([])
    payload["configuration"] = {**payload["configuration"], **{
        {"organization": "organization", "secret": "secret", "id": "id"}[k]: v
        for k, v in query.items()}}  # fmt: skip
    signed = alpha.sign_payload(payload)
    answer = hubs.call(hub.answer_notification, signed.body, signed.headers)
    assert answer.http_status == 401
    assert alpha.requests == []
    assert len(hub._hulls) == 0
    with pytest.raises(hc.ConfigurationError):
        hub.webhook_url("https://x.io", organization=params["organization"],
                        connector_id=params["id"], secret=params["secret"])  # fmt: skip
    hubs.close(hub)


def test_a_batch_file_is_streamed_in_chunks_through_the_batch_rules(setup: Any) -> None:
    hubs, alpha, _, workspace = setup
    hub = hubs.hub(batch_chunk_size=2)
    users = [{"user": {"id": f"u{n}", "external_id": f"e{n}", "email": f"u{n}@x.io"},
              "segments": []} for n in range(5)]  # fmt: skip
    with alpha:  # serves the file on loopback
        url = alpha.add_batch_file(users)
        content = httpx.get(url).content + b"not json\n" + b"[1]\n"
        url = alpha.add_batch_file([])
        alpha._batch_files[url.removeprefix(alpha.url)] = content
        query = {"organization": alpha.organization, "id": alpha.id, "secret": alpha.secret}
        body = json.dumps({"url": url, "format": "json", "object_type": "user_report"}).encode()
        answer = hubs.call(hub.answer_batch, body, {}, query, batch_hosts=["127.0.0.1"])
    assert answer.http_status == 200, answer
    # Not in any segment, yet sent: a batch bypasses the segment filter.
    assert answer.body == {"users": 7, "succeeded": 5, "skipped": 0, "failed": 2}
    assert sorted(workspace.people) == [f"e{n}" for n in range(5)]
    identifies = [r for r in workspace.requests if r.method == "PUT"]
    assert len(identifies) == 5
    hubs.close(hub)


def test_a_batch_file_that_cannot_be_downloaded_is_answered_502(setup: Any) -> None:
    hubs, alpha, _, workspace = setup
    hub = hubs.hub()
    with alpha:
        url = alpha.url + "/batch-files/missing.json"
        query = {"organization": alpha.organization, "id": alpha.id, "secret": alpha.secret}
        body = json.dumps({"url": url}).encode()
        answer = hubs.call(hub.answer_batch, body, {}, query, batch_hosts=["127.0.0.1"])
    assert (answer.http_status, answer.reason) == (502, "download_failed")
    assert workspace.requests == []
    hubs.close(hub)
