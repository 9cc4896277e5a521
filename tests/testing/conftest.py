"""Fixtures for the fakes' own tests: every behaviour is checked in both forms.

`form` is "transport" (in process, `FakeService.transport()`) or "server" (the real loopback
HTTP server); the clients are plain httpx clients, independent of our own client code.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fakes_support import FORMS, HULL_HEADERS, sync_client

from hull_customerio.testing import FakeCustomerIO, FakeHull


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=FORMS)
def form(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def cio() -> Iterator[FakeCustomerIO]:
    fake = FakeCustomerIO()
    yield fake
    fake.stop()


@pytest.fixture
def cio_client(cio: FakeCustomerIO, form: str) -> Iterator[httpx.Client]:
    with sync_client(cio, form, auth=("site", "key")) as client:
        yield client


@pytest.fixture
def hull() -> Iterator[FakeHull]:
    fake = FakeHull()
    yield fake
    fake.stop()


@pytest.fixture
def hull_client(hull: FakeHull, form: str) -> Iterator[httpx.Client]:
    with sync_client(hull, form, headers=HULL_HEADERS) as client:
        yield client
