"""What the command-line tests share: a clean environment, the fakes as real loopback servers,
and running the CLI in process."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cli_support import API_KEY, HULL_SECRET

from hull_customerio.testing import FakeCustomerIO, FakeHull


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own credentials and settings must never reach a test (or a real service).
    for name in list(os.environ):
        if name.startswith(("CUSTOMERIO_", "HULL_")):
            monkeypatch.delenv(name)


@pytest.fixture
def customerio() -> Iterator[FakeCustomerIO]:
    with FakeCustomerIO(site_id="site-123", api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
def hull() -> Iterator[FakeHull]:
    with FakeHull(secret=HULL_SECRET) as fake:
        yield fake


@pytest.fixture
def services(
    customerio: FakeCustomerIO, hull: FakeHull, monkeypatch: pytest.MonkeyPatch
) -> tuple[FakeCustomerIO, FakeHull]:
    """Both fakes running, and the environment pointing at them (credentials from the file)."""
    monkeypatch.setenv("CUSTOMERIO_BASE_URL", customerio.url)
    monkeypatch.setenv("HULL_ID", hull.id)
    monkeypatch.setenv("HULL_SECRET", hull.secret)
    monkeypatch.setenv("HULL_ORGANIZATION", hull.organization)
    monkeypatch.setenv("HULL_API_URL", hull.url)
    monkeypatch.setenv("HULL_FIREHOSE_URL", hull.url)
    return customerio, hull
