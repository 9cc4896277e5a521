"""Hull's hosts, the request a client sends, and what a response means: pure, no I/O.

A `RequestSpec` is what the clients send; `parse_response`, `error_from_response`,
`transport_error` and `unexpected_error` turn what came back (or did not) into a value or one
of the library's errors. `encode_json` is the one JSON encoder for what goes to Hull.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import TypeAlias

import attrs
import httpx

from hull_customerio._http.retry import parse_retry_after
from hull_customerio._serialization import one_shot
from hull_customerio.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    ValidationError,
    make_status_error,
)

#: A parsed JSON document, as returned by `HullClient.api`.
JSONValue: TypeAlias = "dict[str, JSONValue] | list[JSONValue] | str | int | float | bool | None"

# Error texts quote at most this much of what Hull says, so a body echoing input stays out.
_MAX_ERROR_DETAIL = 200


def isoformat(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a ``Z``, as Hull's own clients write timestamps.

    Raises:
        ValidationError: ``moment`` is naive (its time zone is unknown).
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        problem = "a datetime needs a time zone (e.g. datetime.now(timezone.utc))"
        raise ValidationError(f"Cannot send a naive datetime to Hull: {problem}", [problem])
    text = moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _now() -> str:
    return isoformat(datetime.now(timezone.utc))


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


# Built once: json.dumps with options builds an encoder for every call (every queued message).
_encode = one_shot(
    json.JSONEncoder(
        separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
    )
)


def encode_json(document: object) -> bytes:
    """Compact UTF-8 JSON; datetimes become ISO-8601 UTC and dates ``YYYY-MM-DD``.

    Raises:
        ValidationError: the document holds something JSON cannot carry (the message names the
            type, never the value).
    """
    try:
        return _encode(document).encode("utf-8")
    except TypeError as exc:
        problem = f"a value of type {exc.args[0] if exc.args else '?'} is not JSON"
    except UnicodeEncodeError:
        problem = "text that is not valid Unicode (a lone surrogate) cannot be encoded"
    except ValueError:
        problem = "NaN, infinite numbers and ints too long to print are not JSON"
    except RecursionError:
        problem = "the document is nested too deeply"
    raise ValidationError(f"Cannot send to Hull: {problem}", [problem]) from None


# --------------------------------------------------------------------------------------------
# Configuration: hosts and headers


def normalize_organization(organization: str) -> str:
    """The bare organization host: surrounding blanks, a scheme and a trailing ``/`` removed."""
    host = organization.strip()
    if "://" in host:
        host = host.split("://", 1)[1]
    return host.rstrip("/")


def firehose_url_for(organization: str) -> str:
    """The firehose URL of an organization: its first label replaced by ``firehose``.

    ``abc123.hullapp.io`` gives ``https://firehose.hullapp.io``.

    Raises:
        ConfigurationError: the organization has a single label, so there is no domain to
            derive from (pass ``firehose_url`` instead).
    """
    host = normalize_organization(organization)
    _, dot, domain = host.partition(".")
    if not dot or not domain:
        raise ConfigurationError(
            [
                f"organization {host!r} has no domain to derive the firehose URL from; "
                "pass firehose_url"
            ]
        )
    return f"https://firehose.{domain}"


@attrs.frozen
class RequestSpec:
    """One HTTP request, built once and sent as many times as retries need.

    ``headers`` and ``content`` hold the secret and personal data, so they stay out of ``repr``.
    """

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    content: bytes | None = attrs.field(default=None, repr=False)
    #: What the request is reported as in metrics: ``firehose``, or the REST path with ids
    #: replaced by ``{id}`` (``/api/v1/{id}/status``).
    endpoint: str = attrs.field(default="", kw_only=True)


#: The metrics endpoint tag of firehose posts.
FIREHOSE_ENDPOINT = "firehose"

_ID_SEGMENT = re.compile(r"[0-9a-fA-F]{24}|.*[0-9].*")


def rest_endpoint(path: str, connector_id: str = "") -> str:
    """``/api/v1/<path>`` with the segments that look like ids (a digit, 24 hex characters,
    the connector id) replaced by ``{id}``: a metric tag that names no user or record."""
    segments = path.split("?", 1)[0].strip("/").split("/")
    templated = [
        "{id}" if segment == connector_id or _ID_SEGMENT.fullmatch(segment) else segment
        for segment in segments
    ]
    return "/api/v1/" + "/".join(templated)


def transport_error(exc: httpx.HTTPError, spec: RequestSpec) -> APIConnectionError:
    """The library error for a request that got no usable response."""
    reason = type(exc).__name__
    detail = str(exc)
    if detail:
        reason = f"{reason}: {detail[:_MAX_ERROR_DETAIL]}"
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    what = "No response in time" if cls is APITimeoutError else "Could not reach Hull"
    return cls(
        f"{what} for {spec.method} {spec.url} ({reason})",
        service="hull",
        method=spec.method,
        url=spec.url,
    )


def _parse_body(response: httpx.Response) -> JSONValue:
    if not response.content:
        return None
    try:
        parsed: JSONValue = response.json()
    except ValueError:
        return response.text
    return parsed


def _error_messages(body: JSONValue) -> list[str]:
    found: list[str] = []
    if isinstance(body, dict):
        for key in ("message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                found.append(value[:_MAX_ERROR_DETAIL])
        errors = body.get("errors")
        if isinstance(errors, list):
            found.extend(e[:_MAX_ERROR_DETAIL] for e in errors if isinstance(e, str) and e)
    return found


def error_from_response(response: httpx.Response, spec: RequestSpec) -> APIStatusError | None:
    """The error for a non-2xx response, or ``None`` for a success."""
    if response.is_success:
        return None
    body = _parse_body(response)
    return make_status_error(
        service="hull",
        method=spec.method,
        url=spec.url,
        status_code=response.status_code,
        body=body,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        errors=_error_messages(body),
    )


def parse_response(response: httpx.Response, spec: RequestSpec) -> JSONValue:
    """The parsed body of a response: JSON, else text, else ``None`` when empty.

    Raises:
        APIStatusError: the response is not a 2xx (the subclass matches the status).
    """
    error = error_from_response(response, spec)
    if error is not None:
        raise error
    return _parse_body(response)


def unexpected_error(exc: BaseException, spec: RequestSpec) -> APIConnectionError:
    """The error recorded for messages whose post failed with something other than an API error.

    The messages are then known not to be delivered, rather than left waiting forever.
    """
    return APIConnectionError(
        f"Could not post to Hull: unexpected {type(exc).__name__} in the HTTP transport",
        service="hull",
        method=spec.method,
        url=spec.url,
    )
