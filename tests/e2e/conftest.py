"""End-to-end fixtures: the project's fakes served over real loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_support import DATA, Harness

from hull_customerio.testing import FakeCustomerIO, FakeHull


@pytest.fixture
def notification_payload() -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((DATA / "notification-user-update.json").read_text())
    return payload


@pytest.fixture
def customerio() -> Iterator[FakeCustomerIO]:
    with FakeCustomerIO(site_id="site-123", api_key="key-456") as fake:
        yield fake


@pytest.fixture
def hull() -> Iterator[FakeHull]:
    with FakeHull(
        id="5c8a1f2e3b4d5e6f7a8b9c0d",
        secret="connector-secret-for-tests",
        organization="acme42.hullapp.io",
    ) as fake:
        yield fake


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["v1", "batch"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def harness(flavour: str, mode: str, customerio: FakeCustomerIO, hull: FakeHull) -> Harness:
    return Harness(flavour, mode, customerio, hull)
