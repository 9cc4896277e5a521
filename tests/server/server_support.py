"""Two tenants (two Hull organizations, each with its own Customer.io workspace) on fakes."""

from __future__ import annotations

from typing import Any

import attrs

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


#: One signing key for both fake organizations: Hull signs every notification with its own key.
_SIGNER = FakeHull()
SIGNING_KEY = _SIGNER.notification_private_key
PUBLIC_KEY = _SIGNER.notification_public_key


def make_tenants() -> dict[str, Tenant]:
    """Two started tenants, ``alpha`` and ``beta``: own organization, own workspace."""
    made: dict[str, Tenant] = {}
    for name, hex_digit in (("alpha", "a"), ("beta", "b")):
        hull = FakeHull(
            id=hex_digit * 24,
            secret=f"secret-{name}",
            organization=f"{name}.hullapp.io",
            private_settings=_settings(name),
        )
        # The key object itself: loading its PEM again per fake costs a key check each time.
        hull._private_key = _SIGNER._signing_key()
        customerio = FakeCustomerIO(site_id=f"site-{name}", api_key=f"key-{name}")
        hull.start()
        customerio.start()
        made[name] = Tenant(hull, customerio, f"signing-key-{name}")
    return made


def stop_tenants(tenants: dict[str, Tenant]) -> None:
    for tenant in tenants.values():
        tenant.hull.stop()
        tenant.customerio.stop()


def notification(tenant: Tenant, messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A notification from ``tenant``'s organization with its own settings."""
    return tenant.hull.notification(
        messages, segments=[{"id": "seg_paying", "name": "Paying customers"}], **extra
    )


def user_message(number: int, segment: str = "seg_paying") -> dict[str, Any]:
    return {
        "user": {"id": f"u{number:06d}", "external_id": f"ext-{number}",
                 "email": f"user{number}@example.com", "traits_plan": "pro"},
        "segments": [{"id": segment, "name": "Paying customers"}],
        "account": {},
        "events": [],
    }  # fmt: skip
