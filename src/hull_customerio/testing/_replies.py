"""What the fakes record and answer: `RecordedRequest`, a reply, and the JSON helpers."""

from __future__ import annotations

import json
from typing import Any, Literal

import attrs
import httpx

__all__ = ["FaultKind", "RecordedRequest", "json_reply", "parse_json"]

#: What `fail_next` can inject besides an HTTP status code.
FaultKind = Literal["timeout", "disconnect"]


@attrs.frozen
class RecordedRequest:
    """One request a fake received, as it arrived, with the status it was answered with.

    Attributes:
        method: The HTTP method, upper case (`"PUT"`).
        path: The raw path as sent, still percent-encoded, without the query string
            (`"/api/v1/customers/a%2Fb"`).
        query: The raw query string without `?` (`""` when there is none).
        headers: The request headers; lookups are case-insensitive.
        body: The raw request body.
        json: The body parsed as JSON, or `None` when the body is empty or not valid JSON.
        status: The status the fake answered with, or `None` when it simulated a timeout or
            a dropped connection instead of answering.
        received_at: When it arrived, by the fake's clock (`time.monotonic()` unless a test
            replaced it): differences between requests are seconds, e.g. to check a rate.
    """

    method: str
    path: str
    query: str
    headers: httpx.Headers = attrs.field(eq=False)
    body: bytes = attrs.field(repr=False)
    # JSON documents are arbitrary by nature; callers index into them freely.
    json: Any = attrs.field(repr=False)
    status: int | None
    received_at: float = attrs.field(default=0.0, eq=False, repr=False)


@attrs.frozen
class _Reply:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    fault: FaultKind | None = None


def json_reply(
    status: int, document: object, *, headers: tuple[tuple[str, str], ...] = ()
) -> _Reply:
    """A reply whose body is `document` as compact JSON."""
    body = json.dumps(document, separators=(",", ":")).encode()
    return _Reply(status, body, (("Content-Type", "application/json"), *headers))


def parse_json(body: bytes) -> tuple[bool, Any]:
    """`(True, value)` for a valid JSON body, `(False, None)` otherwise (empty included)."""
    if not body:
        return False, None
    try:
        return True, json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False, None
