"""Fixtures of the app's tests: two tenants on loopback fakes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from server_support import Tenant, make_tenants, stop_tenants


@pytest.fixture
def tenants() -> Iterator[dict[str, Tenant]]:
    made = make_tenants()
    try:
        yield made
    finally:
        stop_tenants(made)
