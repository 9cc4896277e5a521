"""Fixtures of the Customer.io client tests.

Every client test runs twice, against :class:`CustomerIOClient` and against
:class:`AsyncCustomerIOClient` (the ``flavour`` parameter). The async client runs on a real
asyncio event loop in an anyio blocking portal, so one test body drives both and the two can
never drift apart. Nothing sleeps: both clients get a sleep that only records what it was asked.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from hull_customerio.customerio import AsyncCustomerIOClient, CustomerIOClient

SITE_ID = "site-123"
API_KEY = "key-TOP-SECRET-987"
AUTHORIZATION = "Basic " + base64.b64encode(f"{SITE_ID}:{API_KEY}".encode()).decode()
US = "https://track.customer.io"
EU = "https://track-eu.customer.io"


class Runner:
    """One client of either flavour, with synchronous methods for the test body.

    ``runner.identify(...)`` calls the sync client directly, or awaits the async client's
    method on the portal's event loop. ``runner.sleeps`` lists every wait asked for.
    """

    def __init__(self, flavour: str, portal: BlockingPortal, **kwargs: Any) -> None:
        self.flavour = flavour
        self.portal = portal
        self.sleeps: list[float] = []
        kwargs.setdefault("rate_limit", None)
        if flavour == "sync":
            kwargs.setdefault("sleep", self.sleeps.append)
            self.client: Any = CustomerIOClient(SITE_ID, API_KEY, **kwargs)
        else:

            async def sleep(seconds: float) -> None:
                self.sleeps.append(seconds)

            kwargs.setdefault("sleep", sleep)
            # Built on the loop, like an application would.
            self.client = portal.call(functools.partial(_build_async, **kwargs))

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)
        if self.flavour == "sync":
            return method  # type: ignore[no-any-return]
        return lambda *args, **kwargs: self.portal.call(functools.partial(method, *args, **kwargs))

    def close(self) -> None:
        if self.flavour == "sync":
            self.client.close()
        else:
            self.portal.call(self.client.aclose)


async def _build_async(**kwargs: Any) -> AsyncCustomerIOClient:
    return AsyncCustomerIOClient(SITE_ID, API_KEY, **kwargs)


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal("asyncio") as running:
        yield running


@pytest.fixture
def make_client(flavour: str, portal: BlockingPortal) -> Iterator[Callable[..., Runner]]:
    made: list[Runner] = []

    def make(**kwargs: Any) -> Runner:
        runner = Runner(flavour, portal, **kwargs)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.close()


@pytest.fixture
def client(make_client: Callable[..., Runner]) -> Runner:
    """A client on the US host, no rate limit, retry waits recorded in ``client.sleeps``."""
    return make_client()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
