"""Scale-out fixtures: one real Redis server for the session, and the loopback fakes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from scaleout_support import RedisServer

from hull_customerio.testing import FakeCustomerIO


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, started once and stopped at the end."""
    with RedisServer().running() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url()


@pytest.fixture
def limit_key(request: pytest.FixtureRequest) -> str:
    """A Redis key of this test's own, so tests never share a limit."""
    return f"test:{request.node.nodeid}"


@pytest.fixture
def customerio() -> Iterator[FakeCustomerIO]:
    with FakeCustomerIO(site_id="site", api_key="key") as fake:
        yield fake
