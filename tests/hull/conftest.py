"""Shared fixtures of the Hull client tests: value matchers and recorded (never real) waits."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

_ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class _IsoTimestamp:
    """Equal to any ISO-8601 UTC timestamp as the client writes them (``...T..:..:..sssZ``)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(_ISO_UTC.match(other))

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "<ISO-8601 UTC timestamp>"


class _Uuid4:
    """Equal to any uuid4 string."""

    def __eq__(self, other: object) -> bool:
        try:
            return isinstance(other, str) and uuid.UUID(other).version == 4
        except ValueError:
            return False

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "<uuid4>"


@pytest.fixture
def anyio_backend() -> str:
    # The async client guards its queue with an asyncio.Lock.
    return "asyncio"


@pytest.fixture
def iso() -> Any:
    return _IsoTimestamp()


@pytest.fixture
def any_uuid4() -> Any:
    return _Uuid4()


@pytest.fixture
def waits() -> list[float]:
    """The waits the client asked for between retries (nothing actually waits)."""
    return []
