"""The sans-IO core of the Customer.io Track API client, shared by the sync and async clients.

Everything here is pure: request builders turn method arguments into `ApiRequest`
values (method, path, exact body bytes); parsers turn responses into results or typed errors.
The batch planner is in `_batch`, the configuration both clients share in `_shared`;
``client.py`` and ``async_client.py`` only send what is built here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any, Literal
from urllib.parse import quote

import attrs
import httpx

from .._http.retry import parse_retry_after
from .._serialization import one_shot
from ..errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    ValidationError,
    make_status_error,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "EU_URL",
    "MAX_BATCH_OPERATION_BYTES",
    "MAX_BATCH_REQUEST_BYTES",
    "MAX_REDIRECTS",
    "REDIRECT_STATUSES",
    "REGION_URLS",
    "US_URL",
    "ApiRequest",
    "ResolvedRegion",
    "encode_path_segment",
    "error_messages",
    "origin_of",
    "redirect_target",
    "to_json_ready",
]

ResolvedRegion = Literal["us", "eu"]

US_URL = "https://track.customer.io"
EU_URL = "https://track-eu.customer.io"
REGION_URLS: Mapping[ResolvedRegion, str] = {"us": US_URL, "eu": EU_URL}

#: Used when no ``timeout`` is given: 5 s to connect, 10 s for each read/write/pool wait.
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)

#: A v2 batch request body must be *smaller* than 500 kB (Customer.io). We read kB as 1000
#: bytes (the stricter reading) and measure the exact compact-JSON UTF-8 body we send, so a
#: body may be at most ``MAX_BATCH_REQUEST_BYTES - 1`` = 499 999 bytes.
MAX_BATCH_REQUEST_BYTES = 500_000
#: One v2 batch operation may be *at most* 32 kB: at most 32 000 bytes of compact-JSON UTF-8.
MAX_BATCH_OPERATION_BYTES = 32_000

_BATCH_PREFIX = b'{"batch":['
_BATCH_SUFFIX = b"]}"
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_USER_AGENT = "hull-customerio"


# --------------------------------------------------------------------------------- encoding


def encode_path_segment(value: str) -> str:
    """Percent-encode ``value`` as exactly one URL path segment (``/`` included).

    ``a/b+c@x.io`` becomes ``a%2Fb%2Bc%40x.io``: only unreserved characters
    (``A-Z a-z 0-9 - . _ ~``) are left as they are; everything else is UTF-8 percent-encoded.
    """
    return quote(value, safe="")


def _unix_seconds(moment: datetime) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return math.floor(moment.timestamp())


def to_json_ready(value: Any) -> Any:
    """Copy ``value`` with every datetime, at any depth, turned into integer unix seconds.

    Customer.io compares dates as unix timestamps. An aware ``datetime`` is converted from its
    own offset; a **naive** ``datetime`` is taken to be **UTC** (never local time, which would
    make the result depend on the machine). A ``date`` becomes midnight UTC of that day.
    Fractions of a second are dropped (rounded down). Mappings become dicts and tuples become
    lists; other values are returned unchanged.
    """
    if isinstance(value, datetime):
        return _unix_seconds(value)
    if isinstance(value, date):
        return _unix_seconds(datetime(value.year, value.month, value.day, tzinfo=timezone.utc))
    if isinstance(value, Mapping):
        return {key: to_json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_ready(item) for item in value]
    return value


def _json_default(value: Any) -> Any:
    # What to_json_ready converts and JSON cannot encode by itself; the encoder then encodes
    # the result (and calls this again for what is nested in it).
    if isinstance(value, (date, Mapping)):
        return to_json_ready(value) if isinstance(value, date) else dict(value.items())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# Built once (json.dumps builds an encoder per call). JSON encodes dicts, lists and tuples by
# itself; only datetimes, dates and other mappings reach `_json_default`: the text is that of
# `json.dumps(to_json_ready(payload), ...)` without copying every payload first.
_ENCODER = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
)
_encode = one_shot(_ENCODER)


def dumps(payload: Any) -> bytes:
    """The exact bytes sent for ``payload``: compact JSON, UTF-8, datetimes as unix seconds.

    Raises:
        TypeError: a value JSON cannot represent.
        ValueError: ``NaN`` or an infinity (not valid JSON; Customer.io would reject it).
    """
    return _encode(payload).encode("utf-8")


# --------------------------------------------------------------------------------- requests


@attrs.frozen
class ApiRequest:
    """One Track API request, ready to send.

    Attributes:
        method: the HTTP method.
        path: the path below the host, identifiers already percent-encoded.
        content: the exact JSON body bytes, or ``None`` for no body.
        endpoint: the path with identifiers replaced by placeholders
            (``/api/v1/customers/{id}``), safe to report as a metric tag; default: ``path``.
    """

    method: str
    path: str
    content: bytes | None = attrs.field(default=None, repr=False)  # personal data
    endpoint: str = attrs.field(
        default=attrs.Factory(lambda self: self.path, takes_self=True), kw_only=True
    )


def _customer_path(customer_id: str, suffix: str = "") -> str:
    if not isinstance(customer_id, str) or not customer_id:
        raise ValidationError(f"customer_id must be a non-empty string, got {customer_id!r}")
    return f"/api/v1/customers/{encode_path_segment(customer_id)}{suffix}"


def customer_request(
    method: str, customer_id: str, suffix: str = "", content: bytes | None = None
) -> ApiRequest:
    """A request about one person: ``/api/v1/customers/{id}`` then ``suffix``."""
    return ApiRequest(
        method,
        _customer_path(customer_id, suffix),
        content,
        endpoint=f"/api/v1/customers/{{id}}{suffix}",
    )


def suppress_request(customer_id: str) -> ApiRequest:
    """``POST /api/v1/customers/{id}/suppress`` (no body)."""
    return customer_request("POST", customer_id, "/suppress")


def unsuppress_request(customer_id: str) -> ApiRequest:
    """``POST /api/v1/customers/{id}/unsuppress`` (no body)."""
    return customer_request("POST", customer_id, "/unsuppress")


_PERSON_IDENTIFIER_KEYS = frozenset({"id", "email", "cio_id"})


def _check_merge_side(name: str, side: Mapping[str, Any]) -> None:
    if not isinstance(side, Mapping) or len(side) != 1 or not set(side) <= _PERSON_IDENTIFIER_KEYS:
        raise ValidationError(
            f"{name} must have exactly one of 'id', 'email' or 'cio_id', got keys "
            f"{sorted(side) if isinstance(side, Mapping) else type(side).__name__}"
        )


def merge_request(primary: Mapping[str, Any], secondary: Mapping[str, Any]) -> ApiRequest:
    """``POST /api/v1/merge_customers`` with ``{primary: {...}, secondary: {...}}``."""
    _check_merge_side("primary", primary)
    _check_merge_side("secondary", secondary)
    return ApiRequest(
        "POST", "/api/v1/merge_customers", dumps({"primary": primary, "secondary": secondary})
    )


def region_request() -> ApiRequest:
    """``GET /api/v1/accounts/region``: which region the workspace lives in.

    It is also the documented way to check credentials: 200 when they are valid, 401 if not.
    """
    return ApiRequest("GET", "/api/v1/accounts/region")


# -------------------------------------------------------------------------------- responses


def parse_body(response: httpx.Response) -> Any:
    """The response body as parsed JSON, or as text when it is not JSON (``None`` if empty)."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _v2_error_text(entry: Any) -> str | None:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, Mapping):
        text = entry.get("message") or entry.get("reason")
        if not isinstance(text, str) or not text:
            return None
        field = entry.get("field")
        return f"{field}: {text}" if isinstance(field, str) and field else text
    return None


def error_messages(body: Any) -> list[str]:
    """Customer.io's own error messages in a response body, in the order found.

    Reads v1 ``{"meta": {"errors": [...]}}`` and ``{"meta": {"error": "..."}}``, and v2
    ``{"errors": [{"reason", "field", "message"}, ...]}``. Anything else gives ``[]``.
    """
    messages: list[str] = []
    if not isinstance(body, Mapping):
        return messages
    meta = body.get("meta")
    if isinstance(meta, Mapping):
        errors = meta.get("errors")
        if isinstance(errors, str):
            messages.append(errors)
        elif isinstance(errors, list):
            messages.extend(str(e) for e in errors if isinstance(e, (str, int, float)))
        error = meta.get("error")
        if isinstance(error, str) and error:
            messages.append(error)
    errors = body.get("errors")
    if isinstance(errors, list):
        messages.extend(t for t in map(_v2_error_text, errors) if t)
    return messages


def status_error(method: str, url: str, response: httpx.Response) -> APIStatusError:
    """The typed error for a non-2xx answer (via the one mapping, ``make_status_error``)."""
    body = parse_body(response)
    return make_status_error(
        service="customerio",
        method=method,
        url=url,
        status_code=response.status_code,
        body=body,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        errors=error_messages(body),
    )


#: The redirects the client follows (to Customer.io's own hosts only, see redirect_target).
REDIRECT_STATUSES = frozenset({301, 302, 307, 308})
#: Redirects followed for one request before giving up (one is what Customer.io sends).
MAX_REDIRECTS = 3
_TRUSTED_DOMAIN = "customer.io"


def _is_customerio_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == _TRUSTED_DOMAIN or host.endswith("." + _TRUSTED_DOMAIN)


def _refused_redirect(method: str, url: str, response: httpx.Response, why: str) -> APIStatusError:
    return make_status_error(
        service="customerio",
        method=method,
        url=url,
        status_code=response.status_code,
        body=parse_body(response),
        errors=[why],
    )


def redirect_target(method: str, url: str, response: httpx.Response, *, hops: int = 0) -> str:
    """Where a redirect answer may be followed to, with the credentials and the same body.

    Customer.io redirects an EU workspace's traffic sent to the US host. Such a redirect is
    followed only when it points to an ``https`` host under ``customer.io`` (the credentials
    go nowhere else); the location may be relative to ``url``.

    Args:
        method: the method of the request answered.
        url: the URL that answered with the redirect.
        response: the 301, 302, 307 or 308 answer.
        hops: redirects already followed for this request.

    Returns:
        The absolute URL to send the same request to.

    Raises:
        APIStatusError: the redirect leads elsewhere, has no location, or one redirect too many
            was met; nothing is sent to its target.
    """
    location = response.headers.get("Location", "").strip()
    if not location:
        raise _refused_redirect(method, url, response, "redirect without a Location refused")
    try:
        target = httpx.URL(url).join(location)
    except (httpx.InvalidURL, ValueError):
        raise _refused_redirect(
            method, url, response, "redirect to an invalid URL refused"
        ) from None
    if target.scheme != "https" or not _is_customerio_host(target.host):
        shown = f"{target.scheme}://{target.host}" if target.host else "an unknown host"
        raise _refused_redirect(
            method,
            url,
            response,
            f"redirect to {shown} refused: only https hosts under customer.io are followed",
        )
    if hops >= MAX_REDIRECTS:
        raise _refused_redirect(
            method, url, response, f"more than {MAX_REDIRECTS} redirects for one request"
        )
    return str(target)


def origin_of(url: str) -> str:
    """The scheme, host and (non-default) port of ``url``: where later requests are sent."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{parsed.host}{port}"


def transport_error(method: str, url: str, exc: httpx.TransportError) -> APIConnectionError:
    """The typed error for a request that got no response (the caller chains ``exc``)."""
    detail = str(exc).strip()
    kind = type(exc).__name__
    reason = f"{kind}: {detail}" if detail else kind
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"Customer.io did not answer {method} {url} in time ({reason})",
            service="customerio",
            method=method,
            url=url,
        )
    return APIConnectionError(
        f"Could not reach Customer.io for {method} {url} ({reason})",
        service="customerio",
        method=method,
        url=url,
    )


def parse_region(body: Any, *, method: str, url: str) -> ResolvedRegion:
    """Read ``{"region": "us" | "eu", "url": ...}`` from ``GET /api/v1/accounts/region``.

    Raises:
        APIError: the answer names no region this client knows.
    """
    if isinstance(body, Mapping):
        region = body.get("region")
        if isinstance(region, str) and region.strip().lower() in REGION_URLS:
            return "eu" if region.strip().lower() == "eu" else "us"
        host = body.get("url")
        if isinstance(host, str) and host:
            return "eu" if "track-eu." in host else "us"
    raise APIError(
        f"Customer.io answered {method} {url} without a region this client knows",
        service="customerio",
        method=method,
        url=url,
    )
