"""Helpers for the fakes' own tests: plain httpx clients in either form, hand-made Hull tokens."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from hull_customerio.testing import FakeService
from hull_customerio.testing._hull import DEFAULT_SECRET

FORMS = ["transport", "server"]


@contextlib.contextmanager
def sync_client(
    fake: FakeService, form: str, *, base_url: str = "https://fake.invalid", **kwargs: Any
) -> Iterator[httpx.Client]:
    """A sync httpx client talking to `fake` in the given form."""
    if form == "transport":
        with httpx.Client(transport=fake.transport(), base_url=base_url, **kwargs) as client:
            yield client
    else:
        with fake, httpx.Client(base_url=fake.url, **kwargs) as client:
            yield client


@contextlib.asynccontextmanager
async def async_client(
    fake: FakeService, form: str, *, base_url: str = "https://fake.invalid", **kwargs: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An async httpx client talking to `fake` in the given form."""
    if form == "transport":
        async with httpx.AsyncClient(
            transport=fake.transport(), base_url=base_url, **kwargs
        ) as client:
            yield client
    else:
        with fake:
            async with httpx.AsyncClient(base_url=fake.url, **kwargs) as client:
                yield client


HULL_ID = "5c8a1f2e3b4d5e6f7a8b9c0d"
HULL_HEADERS = {
    "Hull-App-Id": HULL_ID,
    "Hull-Access-Token": DEFAULT_SECRET,
    "Hull-Organization": "acme42.hullapp.io",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims: dict[str, Any], secret: str = DEFAULT_SECRET) -> str:
    """An HS256 JWT built by hand, so the fake is checked against the format, not PyJWT."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{_b64(signature.digest())}"


def user_token(as_user: dict[str, Any], **extra: Any) -> str:
    claims = {
        "iss": HULL_ID,
        "iat": int(time.time()),
        "io.hull.asUser": as_user,
        "io.hull.subjectType": "user",
        **extra,
    }
    return sign(claims)


def message(
    kind: str, as_user: dict[str, Any], body: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "type": kind,
        "requestId": "req-1",
        "body": body,
        "headers": {"Hull-Access-Token": user_token(as_user, **extra)},
        "timestamp": "2024-05-01T10:00:00Z",
    }


def firehose(*messages: dict[str, Any]) -> dict[str, Any]:
    return {
        "batch": list(messages),
        "timestamp": "2024-05-01T10:00:00Z",
        "sentAt": "2024-05-01T10:00:00Z",
    }
