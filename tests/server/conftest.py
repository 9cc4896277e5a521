"""Two tenants — two Hull organizations, each with its own Customer.io workspace — on fakes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hull_customerio.testing import FakeCustomerIO, FakeHull  # noqa: E402


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
