"""Two tenants — two Hull organizations, each with its own Customer.io workspace — on fakes."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, str(Path(__file__).parent))

from hull_customerio.testing import FakeCustomerIO, FakeHull


@attrs.frozen
class Tenant:
    hull: FakeHull
    customerio: FakeCustomerIO
    signing_key: str


def _settings(name: str) -> dict[str, Any]:
    return {
        "site_id": f"site-{name}",
        "api_key": f"key-{name}",
        "synchronized_segments": ["seg_paying"],
        "events_filter": ["Signed Up"],
        "webhook_signing_key": f"signing-key-{name}",
    }


@pytest.fixture
def tenants() -> Iterator[dict[str, Tenant]]:
    made: dict[str, Tenant] = {}
    for name, hex_digit in (("alpha", "a"), ("beta", "b")):
        hull = FakeHull(
            id=hex_digit * 24,
            secret=f"secret-{name}",
            organization=f"{name}.hullapp.io",
            private_settings=_settings(name),
        )
        customerio = FakeCustomerIO(site_id=f"site-{name}", api_key=f"key-{name}")
        hull.start()
        customerio.start()
        made[name] = Tenant(hull, customerio, f"signing-key-{name}")
    try:
        yield made
    finally:
        for tenant in made.values():
            tenant.hull.stop()
            tenant.customerio.stop()


def hub_options(tenants: dict[str, Tenant]) -> dict[str, Any]:
    """Route each organization and workspace to its own fake."""
    hulls = {t.hull.organization: t.hull for t in tenants.values()}
    workspaces = {t.customerio.site_id: t.customerio for t in tenants.values()}

    def hull_options(organization: str) -> dict[str, Any]:
        fake = hulls[organization]
        return {"api_url": fake.url, "firehose_url": fake.url}

    def customerio_options(site_id: str) -> dict[str, Any]:
        return {"base_url": workspaces[site_id].url, "rate_limit": None}

    return {"hull_options": hull_options, "customerio_options": customerio_options}


_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
#: Hull's notification-signing public key, as the hub is configured with it.
PUBLIC_KEY = (
    _RSA.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def hull_signature(notification_id: str, key: rsa.RSAPrivateKey = _RSA) -> dict[str, str]:
    """The headers Hull signs a notification with (RS256 JWT, ``jti`` = its id)."""
    now = int(time.time())
    token = jwt.encode({"jti": notification_id, "iat": now, "exp": now + 300}, key, "RS256")
    return {
        "x-hull-smart-notifier-signature": token,
        "x-hull-smart-notifier-signature-version": "v1",
        "x-hull-smart-notifier-signature-public-key-url": "https://hullapp.io/key",
    }


def notification(tenant: Tenant, messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A ``user:update`` notification from ``tenant``'s organization with its own settings."""
    hull = tenant.hull
    return {
        "notification_id": uuid.uuid4().hex,
        "configuration": {"id": hull.id, "organization": hull.organization,
                          "secret": hull.secret},
        "connector": {"id": hull.id, "private_settings": dict(hull.private_settings)},
        "channel": "user:update",
        "segments": [{"id": "seg_paying", "name": "Paying customers"}],
        "messages": messages,
        **extra,
    }  # fmt: skip


def user_message(number: int, segment: str = "seg_paying") -> dict[str, Any]:
    return {
        "user": {"id": f"u{number:06d}", "external_id": f"ext-{number}",
                 "email": f"user{number}@example.com", "traits_plan": "pro"},
        "segments": [{"id": segment, "name": "Paying customers"}],
        "account": {},
        "events": [],
    }  # fmt: skip
