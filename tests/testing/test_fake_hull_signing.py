"""`FakeHull` signs notifications as Hull does and serves its public key."""

from __future__ import annotations

import json

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hull_customerio.testing import FakeHull, SignedNotification


def test_the_public_key_is_served_over_loopback_without_credentials() -> None:
    with FakeHull() as fake:
        for method in ("GET", "POST"):
            response = httpx.request(method, fake.notification_key_url(fake.url), content=b"x")
            assert response.status_code == 200
            assert response.text == fake.notification_public_key
        assert [r.path for r in fake.requests] == ["/smart-notifier/public-key"] * 2


def test_a_signed_notification_carries_hulls_headers_and_a_jwt_for_its_id() -> None:
    fake = FakeHull(private_settings={"site_id": "s"})
    signed = fake.signed_notification([{"user": {"id": "u"}}], notification_id="n-9")

    assert isinstance(signed, SignedNotification)
    payload = json.loads(signed.body)
    assert payload == signed.payload
    assert payload["configuration"] == {
        "id": fake.id, "organization": fake.organization, "secret": fake.secret,
    }  # fmt: skip
    assert payload["connector"]["private_settings"] == {"site_id": "s"}
    assert signed.headers["x-hull-smart-notifier-signature-version"] == "v1"
    claims = jwt.decode(
        signed.headers["x-hull-smart-notifier-signature"],
        fake.notification_public_key,
        algorithms=["RS256"],
    )
    assert claims["jti"] == "n-9" == signed.notification_id
    assert claims["exp"] - claims["iat"] == 300


def test_each_fake_has_its_own_key_unless_given_one() -> None:
    first, second = FakeHull(), FakeHull()
    assert first.notification_public_key != second.notification_public_key

    second.notification_private_key = first.notification_private_key
    assert first.notification_public_key == second.notification_public_key


def test_only_an_rsa_private_key_can_be_given() -> None:
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(TypeError, match="RSA"):
        FakeHull().notification_private_key = other.decode()


def test_claims_can_be_overridden_to_forge_signatures() -> None:
    fake = FakeHull()
    headers = fake.sign_notification("n-1", claims={"jti": "n-2"}, key_url="https://k.example/")

    token = headers["x-hull-smart-notifier-signature"]
    claims = jwt.decode(token, fake.notification_public_key, algorithms=["RS256"])
    assert claims["jti"] == "n-2"
    assert headers["x-hull-smart-notifier-signature-public-key-url"] == "https://k.example/"
