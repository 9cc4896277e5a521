"""The pure parts of notification authentication (SPEC §8.1, §8.2, §8.6, §10)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Generator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pytest_httpx import HTTPXMock

import hull_customerio as hc
from hull_customerio.engine import _notifications as n
from hull_customerio.testing import FakeHull

ID = "5c8a1f2e3b4d5e6f7a8b9c0d"
SECRET = "connector-secret-for-tests"
ORG = "acme42.hullapp.io"
KEY_URL = "https://acme42.hullapp.io/smart-notifier/public-key"


@pytest.fixture(scope="module")
def keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign(key: Any, notification_id: str | None = "n-1", **claims: Any) -> str:
    payload: dict[str, Any] = {"jti": notification_id, "iat": int(time.time())}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm="RS256")


def envelope(**configuration: Any) -> n.NotificationEnvelope:
    config = {"id": ID, "organization": ORG, "secret": SECRET, **configuration}
    body = {"notification_id": "n-1", "configuration": config}
    return n.read_notification_payload(body)


def headers(signature: str, *, url: str | None = KEY_URL, version: str = "v1") -> dict[str, str]:
    result = {
        "X-Hull-Smart-Notifier-Signature": signature,
        "X-Hull-Smart-Notifier-Signature-Version": version,
    }
    if url is not None:
        result["X-Hull-Smart-Notifier-Signature-Public-Key-Url"] = url
    return result


def hull_client() -> hc.HullClient:
    return hc.HullClient(ID, SECRET, ORG)


def guard(hull: Any = "default", **options: Any) -> n.NotificationGuard:
    settings: dict[str, Any] = {
        "public_key": None,
        "trusted_key_hosts": hc.HULL_KEY_HOSTS,
        "require_signature": False,
        "key_cache": None,
    }
    settings.update(options)
    return n.NotificationGuard(hull_client() if hull == "default" else hull, **settings)


def run(
    steps: Generator[n.KeyRequest, n.KeyResponse, None], *responses: n.KeyResponse
) -> list[n.KeyRequest]:
    """Drive the guard; answer each key request with the next response. Returns the requests."""
    requests: list[n.KeyRequest] = []
    pending = list(responses)
    try:
        request = next(steps)
        while True:
            requests.append(request)
            request = steps.send(pending.pop(0))
    except StopIteration:
        return requests


def refusal(steps: Generator[n.KeyRequest, n.KeyResponse, None], *responses: n.KeyResponse) -> str:
    with pytest.raises(hc.NotificationAuthenticationError) as raised:
        run(steps, *responses)
    return raised.value.reason


# ------------------------------------------------------------------------- reading bodies


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"nope",
        b"[]",
        b"null",
        b"42",
        b"\xff",
        b"[" * 100_000,
        b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
        b'{"n": ' + b"9" * 5000 + b"}",
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_400_invalid_body(body: bytes) -> None:
    answer = n.read_notification_body(body)

    assert isinstance(answer, hc.NotificationAnswer)
    assert (answer.http_status, answer.reason, answer.report) == (400, "invalid_body", None)
    assert answer.body["error"]["code"] == "invalid_body"


def test_the_envelope_gives_the_claimed_configuration_without_showing_the_secret() -> None:
    body = {
        "notification_id": "n-1",
        "channel": "user:update",
        "configuration": {"id": ID, "organization": ORG, "secret": SECRET},
    }
    read = n.read_notification_body(json.dumps(body).encode())

    assert isinstance(read, hc.NotificationEnvelope)
    assert (read.configuration.id, read.configuration.organization) == (ID, ORG)
    assert read.configuration.secret == SECRET
    assert (read.notification_id, read.channel) == ("n-1", "user:update")
    assert SECRET not in repr(read)


@pytest.mark.parametrize(
    "configuration",
    [None, "text", [], {"id": 5, "organization": ["x"], "secret": {"a": 1}}, {"id": ""}],
)
def test_credentials_of_the_wrong_type_read_as_absent(configuration: Any) -> None:
    read = n.read_notification_payload({"configuration": configuration, "channel": 7})

    assert read.configuration == hc.models.notification.HullConfiguration()
    assert read.channel is None


@pytest.mark.parametrize("payload", [None, [], "x", 3])
def test_a_payload_that_is_not_an_object_has_no_credentials(payload: Any) -> None:
    assert n.read_notification_payload(payload).configuration.id is None


# ------------------------------------------------------------------------ trusted key URLs


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("https://acme42.hullapp.io/key", True),
        ("https://hullapp.io/key", True),
        ("https://keys.hull.io/key", True),
        ("https://x.hullbeta.io/key", True),
        ("https://ACME42.HULLAPP.IO/key", True),
        ("https://acme42.hullapp.io./key", False),  # a trailing dot: not a plain host name
        ("https://acme42.hullapp.io:8443/key", True),
        ("http://acme42.hullapp.io/key", False),
        ("ftp://acme42.hullapp.io/key", False),
        ("//acme42.hullapp.io/key", False),
        ("https://evilhullapp.io/key", False),
        ("https://hullapp.io.evil.example/key", False),
        ("https://evil.example/hullapp.io", False),
        ("https://evil.example?.hullapp.io", False),
        ("https://evil.example#.hullapp.io", False),
        ("https://user@acme42.hullapp.io/key", False),
        ("https://acme42.hullapp.io@evil.example/key", False),
        ("https://evil.example\\@acme42.hullapp.io/key", False),
        ("https://127.0.0.1/key", False),
        ("https://[::1]/key", False),
        ("", False),
        ("not a url", False),
        ("https://", False),
        ("https://exa mple.com/", False),
    ],
)
def test_a_key_url_is_fetched_only_when_https_on_a_trusted_host(url: str, trusted: bool) -> None:
    assert (n.trusted_key_url(url, hc.HULL_KEY_HOSTS) is not None) is trusted


def test_trusted_hosts_are_configurable_and_match_exactly_or_as_a_parent_domain() -> None:
    hosts = ["127.0.0.1", ".Keys.Example.COM"]
    assert n.trusted_key_url("https://127.0.0.1:8443/k", hosts) == "https://127.0.0.1:8443/k"
    assert n.trusted_key_url("https://a.keys.example.com/k", hosts) is not None
    assert n.trusted_key_url("https://keys.example.com/k", hosts) is not None
    assert n.trusted_key_url("https://example.com/k", hosts) is None
    assert n.trusted_key_url("https://acme42.hullapp.io/k", hosts) is None
    assert n.trusted_key_url("https://acme42.hullapp.io/k", []) is None


# ------------------------------------------------------------------------------ the keys


def test_a_key_response_becomes_a_key_or_a_reason(keys: Any) -> None:
    good = n.KeyResponse(200, pem(keys[0]).encode())
    assert isinstance(n.read_public_key(good), rsa.RSAPublicKey)
    assert "HTTP 404" in str(n.read_public_key(n.KeyResponse(404, pem(keys[0]).encode())))
    assert "ConnectError" in str(n.read_public_key(n.KeyResponse(None, error="ConnectError")))
    assert n.read_public_key(n.KeyResponse(200, b"<html>hi</html>")) == "not a PEM public key"
    garbage = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
    assert n.read_public_key(n.KeyResponse(200, garbage)) == "not a readable PEM public key"
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert n.read_public_key(n.KeyResponse(200, ec_pem)) == "not an RSA public key"


@pytest.mark.parametrize("key", ["", "not a key", "-----BEGIN PUBLIC KEY-----\nxx\n"])
def test_a_configured_key_that_is_not_an_rsa_public_key_is_a_configuration_error(
    key: str,
) -> None:
    with pytest.raises(hc.ConfigurationError, match="notification_public_key"):
        guard(public_key=key)


def test_trusted_key_hosts_as_one_string_is_a_configuration_error() -> None:
    with pytest.raises(hc.ConfigurationError, match="trusted_key_hosts"):
        guard(trusted_key_hosts="hullapp.io")


def test_the_key_cache_is_bounded_and_drops_the_least_recently_used(keys: Any) -> None:
    cache = hc.NotificationKeyCache(max_size=2)
    a, b, c = (keys[0].public_key(), keys[1].public_key(), keys[0].public_key())
    cache.put("a", a)
    cache.put("b", b)
    assert cache.get("a") is a  # "a" is now the most recently used
    cache.put("c", c)

    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (a, None, c)
    assert len(cache) == 2


def test_a_cached_key_expires_after_its_ttl(keys: Any) -> None:
    now = [1000.0]
    cache = hc.NotificationKeyCache(ttl=60, clock=lambda: now[0])
    cache.put("a", keys[0].public_key())

    now[0] += 59.9
    assert cache.get("a") is not None
    now[0] += 0.1
    assert cache.get("a") is None
    assert len(cache) == 0


@pytest.mark.parametrize(("size", "ttl"), [(0, 60), (True, 60), (1, 0), (1, -5)])
def test_a_key_cache_of_no_size_or_no_time_is_a_configuration_error(size: Any, ttl: Any) -> None:
    with pytest.raises(hc.ConfigurationError):
        hc.NotificationKeyCache(max_size=size, ttl=ttl)


def test_the_key_cache_shared_by_threads_keeps_its_bound_and_loses_no_key(keys: Any) -> None:
    cache = hc.NotificationKeyCache(max_size=8)
    key = keys[0].public_key()
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            for i in range(500):
                cache.put(f"url-{(offset + i) % 16}", key)
                cache.get(f"url-{(offset * 3 + i) % 16}")
                cache.put("hot", key)
                assert cache.get("hot") is key
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(cache) == 8


# -------------------------------------------------------------------------- the signature


def test_a_signature_verifies_with_the_right_key_and_notification_id(keys: Any) -> None:
    public = keys[0].public_key()
    assert n.verify_notification_signature(sign(keys[0]), public, "n-1") is None


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda k: sign(k[1]), "bad_signature"),
        (lambda k: sign(k[0], exp=int(time.time()) - 120), "bad_signature"),
        (lambda k: sign(k[0], nbf=int(time.time()) + 600), "bad_signature"),
        (lambda k: sign(k[0])[:-4] + "AAAA", "bad_signature"),
        (lambda k: "not.a.jwt", "bad_signature"),
        (lambda k: "", "bad_signature"),
        (lambda k: jwt.encode({"jti": "n-1"}, None, algorithm="none"), "bad_signature"),
        (lambda k: sign(k[0], notification_id="n-2"), "wrong_notification_id"),
        (lambda k: sign(k[0], notification_id=None), "wrong_notification_id"),
        (lambda k: sign(k[0], notification_id=None, jti=1), "bad_signature"),
    ],
    ids=["other-key", "expired", "not-yet", "tampered", "garbage", "empty", "alg-none",
         "other-notification", "no-jti", "jti-not-a-string"],
)  # fmt: skip
def test_a_signature_that_does_not_hold_is_refused(keys: Any, make: Any, reason: str) -> None:
    assert n.verify_notification_signature(make(keys), keys[0].public_key(), "n-1") == reason


def test_an_hs256_token_keyed_with_the_public_key_is_refused(keys: Any) -> None:
    # The classic confusion: an HMAC signature keyed with the (public) PEM text.
    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64(b'{"jti":"n-1"}')
    mac = hmac.new(pem(keys[0]).encode(), signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + b64(mac)).decode()

    assert n.verify_notification_signature(token, keys[0].public_key(), "n-1") == "bad_signature"


def test_a_signature_for_a_notification_without_an_id_is_refused(keys: Any) -> None:
    assert n.verify_notification_signature(sign(keys[0]), keys[0].public_key(), None) == (
        "wrong_notification_id"
    )


# ---------------------------------------------------------------------------- the guard


@pytest.mark.parametrize(
    ("configuration", "reason"),
    [
        ({"id": None}, "missing_credentials"),
        ({"organization": None}, "missing_credentials"),
        ({"secret": None}, "missing_credentials"),
        ({"secret": ""}, "missing_credentials"),
        ({"id": "0" * 24}, "wrong_connector"),
        ({"organization": "other.hullapp.io"}, "wrong_organization"),
        ({"secret": SECRET + "x"}, "wrong_secret"),
        ({"secret": SECRET[:-1]}, "wrong_secret"),
        ({"secret": "\ud800"}, "wrong_secret"),
    ],
)
def test_the_configuration_must_be_the_hull_clients_own(
    configuration: dict[str, Any], reason: str
) -> None:
    assert refusal(guard().authenticate(envelope(**configuration), {})) == reason


def test_the_organization_is_compared_as_the_client_normalises_it() -> None:
    assert run(guard().authenticate(envelope(organization=f" https://{ORG}/ "), {})) == []


def test_with_the_right_configuration_an_unsigned_notification_passes_unless_required() -> None:
    assert run(guard().authenticate(envelope(), {})) == []
    assert refusal(guard(require_signature=True).authenticate(envelope(), {})) == (
        "missing_signature"
    )


def test_without_a_hull_client_a_signature_is_required_and_credentials_are_not_compared(
    keys: Any,
) -> None:
    without_hull = guard(hull=None, public_key=pem(keys[0]))
    assert refusal(without_hull.authenticate(envelope(), {})) == "missing_signature"
    assert run(without_hull.authenticate(envelope(secret="anything"), headers(sign(keys[0])))) == []


def test_a_present_signature_is_verified_even_when_not_required(keys: Any) -> None:
    checker = guard(public_key=pem(keys[0]))
    assert refusal(checker.authenticate(envelope(), headers(sign(keys[1])))) == "bad_signature"


def test_header_names_match_whatever_their_case(keys: Any) -> None:
    mixed = {k.upper(): v for k, v in headers(sign(keys[0])).items()}
    assert run(guard(public_key=pem(keys[0]), require_signature=True).authenticate(
        envelope(), httpx.Headers(mixed)
    )) == []  # fmt: skip


@pytest.mark.parametrize("version", ["", "v2", "V1 "])
def test_only_signature_version_v1_is_understood(keys: Any, version: str) -> None:
    checker = guard(public_key=pem(keys[0]))
    signed = headers(sign(keys[0]), version=version)
    expected = None if version.strip() == "v1" else "unsupported_signature_version"
    if expected is None:
        assert run(checker.authenticate(envelope(), signed)) == []
    else:
        assert refusal(checker.authenticate(envelope(), signed)) == expected


def test_an_oversized_or_non_ascii_signature_is_refused_before_any_fetch() -> None:
    for signature in ("x" * 10_000, "é.é.é"):
        steps = guard().authenticate(envelope(), headers(signature))
        assert refusal(steps) == "bad_signature"


def test_the_key_is_fetched_from_a_trusted_url_once_then_cached(keys: Any) -> None:
    cache = hc.NotificationKeyCache()
    checker = guard(key_cache=cache)
    signature = sign(keys[0])
    response = n.KeyResponse(200, pem(keys[0]).encode())

    requests = run(checker.authenticate(envelope(), headers(signature)), response)
    assert requests == [n.KeyRequest(KEY_URL, signature)]

    another = guard(key_cache=cache)  # another connector sharing the cache
    assert run(another.authenticate(envelope(), headers(sign(keys[0])))) == []


def test_an_untrusted_key_url_is_refused_without_a_fetch(keys: Any) -> None:
    steps = guard().authenticate(
        envelope(), headers(sign(keys[0]), url="https://attacker.example/key")
    )
    # refusal() would fail on a yielded KeyRequest: no response is given to it.
    assert refusal(steps) == "untrusted_key_url"


def test_a_key_that_cannot_be_read_refuses_and_is_not_cached(keys: Any) -> None:
    cache = hc.NotificationKeyCache()
    steps = guard(key_cache=cache).authenticate(envelope(), headers(sign(keys[0])))
    assert refusal(steps, n.KeyResponse(500, b"oops")) == "key_unavailable"
    assert len(cache) == 0


def test_a_configured_key_is_used_without_fetching(keys: Any) -> None:
    checker = guard(public_key=pem(keys[0]))
    no_url = headers(sign(keys[0]), url=None)
    assert run(checker.authenticate(envelope(), no_url)) == []


class _HostileHeaders:
    def items(self) -> Any:
        raise RuntimeError("boom")


@pytest.mark.parametrize("bad", [None, 5, "text", _HostileHeaders(), {1: 2, "x": None}])
def test_unreadable_headers_read_as_no_headers(bad: Any) -> None:
    assert n.lower_headers(bad) == {}


def test_a_refusal_is_logged_without_the_secret_or_the_signature(
    keys: Any, caplog: pytest.LogCaptureFixture
) -> None:
    signature = sign(keys[1])
    caplog.set_level(logging.INFO, logger="hull_customerio")
    checker = guard(public_key=pem(keys[0]))

    with pytest.raises(hc.NotificationAuthenticationError) as raised:
        run(checker.authenticate(envelope(), headers(signature)))

    refused = "incoming.notification.refused"
    records = [r for r in caplog.records if vars(r)["hull_event"] == refused]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert vars(records[0])["reason"] == "bad_signature"
    assert vars(records[0])["connector_id"] == ID
    everything = " ".join(str(v) for r in caplog.records for v in vars(r).values())
    for secret in (SECRET, signature):
        assert secret not in everything
        assert secret not in str(raised.value)


# -------------------------------------------------------------- after authentication


def _sample(site_id: str | None = "site-123", **changes: Any) -> n.NotificationEnvelope:
    settings: dict[str, Any] = {"api_key": "k", "synchronized_segments": ["s"]}
    if site_id is not None:
        settings["site_id"] = site_id
    user = {"id": "u1", "external_id": "e1", "email": "a@example.com"}
    payload: dict[str, Any] = {
        "notification_id": "n-1",
        "channel": "user:update",
        "connector": {"private_settings": settings},
        "messages": [{"user": user, "segments": []}, {"user": dict(user)}, {"user": 5}],
    }
    payload.update(changes)
    return n.read_notification_payload(payload)


def test_a_notification_for_the_clients_workspace_is_to_be_synced() -> None:
    prepared = n.prepare_notification(_sample(), site_id="site-123")
    assert isinstance(prepared, hc.Notification)


@pytest.mark.parametrize("site_id", ["other-site", None, "  "])
def test_settings_naming_another_workspace_give_credentials_mismatch_for_every_user(
    site_id: str | None,
) -> None:
    prepared = n.prepare_notification(_sample(site_id), site_id="site-123")

    assert isinstance(prepared, hc.NotificationAnswer)
    assert (prepared.http_status, prepared.reason) == (200, "credentials_mismatch")
    assert prepared.body == {"flow_control": {"type": "next"}}
    assert prepared.report is not None
    summary = [(o.user_id, o.status, o.reason) for o in prepared.report.outcomes]
    assert summary == [
        ("u1", "error", "credentials_mismatch"),  # two messages of one user: one outcome
        (None, "error", "malformed_message"),
    ]


@pytest.mark.parametrize("channel", ["user:delete", "ship:update", "account:delete", ""])
def test_another_channel_is_acknowledged_without_outcomes(channel: str) -> None:
    prepared = n.prepare_notification(_sample(channel=channel), site_id="site-123")

    assert isinstance(prepared, hc.NotificationAnswer)
    assert (prepared.http_status, prepared.reason) == (200, "unsupported_channel")
    assert prepared.report == hc.SyncReport(outcomes=[])


def test_a_malformed_envelope_is_acknowledged_as_invalid_notification() -> None:
    prepared = n.prepare_notification(_sample(messages="nope"), site_id="site-123")

    assert isinstance(prepared, hc.NotificationAnswer)
    assert (prepared.http_status, prepared.reason) == (200, "invalid_notification")


def test_the_hull_client_compares_its_secret_in_constant_time() -> None:
    client = hull_client()
    assert client.is_own_secret(SECRET)
    assert not client.is_own_secret(SECRET.upper())
    assert not client.is_own_secret("")
    assert not client.is_own_secret("\udcff")
    assert not client.is_own_secret(None)  # type: ignore[arg-type]


def test_the_fake_hulls_signature_verifies_with_its_public_key() -> None:
    fake = FakeHull()
    signed = fake.signed_notification([], private_settings={"site_id": "s"})
    key = n.load_public_key(fake.notification_public_key)

    assert isinstance(key, rsa.RSAPublicKey)
    signature = signed.headers["x-hull-smart-notifier-signature"]
    assert n.verify_notification_signature(signature, key, signed.notification_id) is None
    assert signed.headers["x-hull-smart-notifier-signature-public-key-url"] == (
        f"https://{fake.organization}/smart-notifier/public-key"
    )
    assert json.loads(signed.body)["configuration"]["secret"] == fake.secret


# ------------------------------------------------------------------- fetching the key


@pytest.fixture
def key_pem(keys: Any) -> bytes:
    return pem(keys[0]).encode()


def test_the_key_is_fetched_as_hull_does_it_post_with_the_signature_as_body(
    httpx_mock: HTTPXMock, key_pem: bytes
) -> None:
    httpx_mock.add_response(
        method="POST", url=KEY_URL, match_content=b"the.signature.jwt", content=key_pem
    )

    response = n.fetch_key(None, n.KeyRequest(KEY_URL, "the.signature.jwt"))

    assert response == n.KeyResponse(200, key_pem)
    assert isinstance(n.read_public_key(response), rsa.RSAPublicKey)


async def _afetch(request: n.KeyRequest) -> n.KeyResponse:
    async with httpx.AsyncClient() as client:
        return await n.afetch_key(client, request)


def test_the_async_fetch_sends_the_same_request(httpx_mock: HTTPXMock, key_pem: bytes) -> None:
    httpx_mock.add_response(method="POST", url=KEY_URL, match_content=b"sig", content=key_pem)

    assert asyncio.run(_afetch(n.KeyRequest(KEY_URL, "sig"))) == n.KeyResponse(200, key_pem)


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_redirect_is_not_followed(httpx_mock: HTTPXMock, flavour: str) -> None:
    httpx_mock.add_response(
        method="POST", url=KEY_URL, status_code=302, headers={"Location": "https://evil.example/"}
    )
    request = n.KeyRequest(KEY_URL, "sig")

    response = n.fetch_key(None, request) if flavour == "sync" else asyncio.run(_afetch(request))

    assert response.status_code == 302
    assert n.read_public_key(response) == "the key URL answered HTTP 302"
    assert [str(r.url) for r in httpx_mock.get_requests()] == [KEY_URL]


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_an_oversized_answer_is_not_read_to_the_end(httpx_mock: HTTPXMock, flavour: str) -> None:
    httpx_mock.add_response(method="POST", url=KEY_URL, content=b"-" * (n.MAX_KEY_SIZE + 1))
    request = n.KeyRequest(KEY_URL, "sig")

    response = n.fetch_key(None, request) if flavour == "sync" else asyncio.run(_afetch(request))

    assert response == n.KeyResponse(None, error="the answer is too large")


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_network_failure_becomes_a_reason_not_an_exception(
    httpx_mock: HTTPXMock, flavour: str
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), url=KEY_URL)
    request = n.KeyRequest(KEY_URL, "sig")

    response = n.fetch_key(None, request) if flavour == "sync" else asyncio.run(_afetch(request))

    assert response == n.KeyResponse(None, error="ConnectError")
    assert n.read_public_key(response) == "the key URL could not be fetched (ConnectError)"
