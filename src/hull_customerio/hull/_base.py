"""The sans-IO core of the Hull client, shared by :class:`HullClient` and :class:`AsyncHullClient`.

Everything here is pure: URLs and headers (SPEC §5.1), firehose messages and batch bodies
(SPEC §5.2), the queue that cuts messages into batches of ``flush_at`` and remembers the ones
that could not be delivered, and the mapping of a response to an error. The two client classes
only send what this module builds, so sync and async cannot drift apart.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any, TypeAlias

import attrs
import httpx

from hull_customerio._retry import HULL_RETRY_STATUSES, RetryPolicy, parse_retry_after, should_retry
from hull_customerio.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    DeliveryError,
    ValidationError,
    make_status_error,
)

from .tokens import make_user_token, user_claims

__all__ = [
    "DEFAULT_FLUSH_AT",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "FirehoseQueue",
    "HullCore",
    "JSONValue",
    "QueuedMessage",
    "RequestSpec",
    "build_track_message",
    "build_traits_message",
    "error_from_response",
    "firehose_url_for",
    "isoformat",
    "parse_response",
    "transport_error",
]

#: A parsed JSON document, as returned by :meth:`HullClient.api`.
JSONValue: TypeAlias = "dict[str, JSONValue] | list[JSONValue] | str | int | float | bool | None"

#: Default for ``flush_at``: Hull's own client libraries post the firehose every 50 messages.
DEFAULT_FLUSH_AT = 50
#: Default ``timeout``: a firehose batch of 50 messages is small; a minute of silence is an outage.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: Default ``retry``: connection errors, timeouts, 408, 429 and every 5xx are retried.
DEFAULT_RETRY = RetryPolicy(retry_statuses=HULL_RETRY_STATUSES)

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


def encode_json(document: object) -> bytes:
    """Compact UTF-8 JSON; datetimes become ISO-8601 UTC and dates ``YYYY-MM-DD``.

    Raises:
        ValidationError: the document holds something JSON cannot carry (the message names the
            type, never the value).
    """
    try:
        return json.dumps(
            document,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=_json_default,
        ).encode("utf-8")
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
# Configuration: hosts and headers (SPEC §5.1, §5.2)


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


# --------------------------------------------------------------------------------------------
# Firehose messages (SPEC §5.2)


@attrs.frozen
class QueuedMessage:
    """A firehose message waiting to be posted, encoded once so every retry sends the same bytes.

    Attributes:
        request_id: the message's ``requestId``.
        message: the message as sent: ``type``, ``requestId``, ``body``, ``headers``,
            ``timestamp``.
        encoded: ``message`` as compact JSON.
    """

    request_id: str
    message: Mapping[str, Any] = attrs.field(repr=False)
    encoded: bytes = attrs.field(repr=False)


def _queued(kind: str, token: str, body: Mapping[str, Any]) -> QueuedMessage:
    request_id = str(uuid.uuid4())
    message: dict[str, Any] = {
        "type": kind,
        "requestId": request_id,
        "body": body,
        "headers": {"Hull-Access-Token": token},
        "timestamp": _now(),
    }
    return QueuedMessage(request_id, message, encode_json(message))


def build_traits_message(
    token: str, attributes: Mapping[str, Any], *, source: str | None = None
) -> QueuedMessage:
    """A ``traits`` message setting ``attributes`` on the user of ``token``.

    With a ``source``, names are grouped under it (``customerio/x``); a name that already holds
    a ``/`` is taken as grouped. ``None`` values are kept: they unset the trait in Hull.

    Raises:
        ValidationError: a name is not a non-blank string, or a value is not JSON.
    """
    if source is not None and (not isinstance(source, str) or not source.strip()):
        problem = "source must be a non-blank string or None"
        raise ValidationError(f"Invalid Hull traits: {problem}", [problem])
    body: dict[str, Any] = {}
    for name, value in attributes.items():
        if not isinstance(name, str) or not name.strip():
            problem = "trait names must be non-blank strings"
            raise ValidationError(f"Invalid Hull traits: {problem}", [problem])
        if source and "/" not in name:
            name = f"{source}/{name}"  # noqa: PLW2901 -- the grouped name replaces the given one
        body[name] = value
    return _queued("traits", token, body)


def build_track_message(
    token: str,
    event: str,
    properties: Mapping[str, Any] | None = None,
    *,
    event_id: str | None = None,
    created_at: str | datetime | None = None,
    source: str | None = None,
    type: str | None = None,
    ip: str | None = "0",
) -> QueuedMessage:
    """A ``track`` message recording ``event`` for the user of ``token``.

    ``event_id`` is fixed here, before the first attempt (a new uuid4 when none is given), so a
    retried batch overwrites the event in Hull instead of duplicating it.

    Raises:
        ValidationError: the event name is blank, ``created_at`` is a naive datetime, or a
            property is not JSON.
    """
    if not isinstance(event, str) or not event.strip():
        problem = "event must be a non-blank string"
        raise ValidationError(f"Invalid Hull event: {problem}", [problem])
    if isinstance(created_at, datetime):
        created_at = isoformat(created_at)
    body: dict[str, Any] = {
        "event": event,
        "properties": dict(properties or {}),
        "event_id": event_id if event_id is not None else str(uuid.uuid4()),
        "created_at": created_at,
        "source": source,
        "type": type,
        "ip": ip,
        "url": None,
        "referer": None,
    }
    return _queued("track", token, body)


def requeued_message(message: Mapping[str, Any]) -> QueuedMessage:
    """A message from :attr:`DeliveryError.undelivered`, ready to be posted again unchanged.

    Raises:
        ValidationError: the mapping is not a firehose message.
    """
    request_id = message.get("requestId")
    headers = message.get("headers")
    if (
        message.get("type") not in ("traits", "track")
        or not isinstance(request_id, str)
        or not isinstance(message.get("body"), Mapping)
        or not isinstance(headers, Mapping)
        or not isinstance(headers.get("Hull-Access-Token"), str)
    ):
        problem = "expected a firehose message as found in DeliveryError.undelivered"
        raise ValidationError(f"Cannot requeue: {problem}", [problem])
    return QueuedMessage(request_id, message, encode_json(message))


def batch_content(batch: Sequence[QueuedMessage]) -> bytes:
    """The firehose body ``{"batch": [...], "timestamp": ..., "sentAt": ...}`` for ``batch``."""
    now = _now()
    return b"".join(
        (
            b'{"batch":[',
            b",".join(m.encoded for m in batch),
            b'],"timestamp":',
            json.dumps(now).encode("ascii"),
            b',"sentAt":',
            json.dumps(now).encode("ascii"),
            b"}",
        )
    )


class FirehoseQueue:
    """Messages waiting for the firehose, and those it did not accept since the last flush.

    Not thread-safe by itself: each client guards it with its own lock.
    """

    def __init__(self, flush_at: int) -> None:
        self.flush_at = flush_at
        self._pending: list[QueuedMessage] = []
        self._undelivered: list[QueuedMessage] = []
        self._last_error: APIError | None = None

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, message: QueuedMessage) -> list[QueuedMessage] | None:
        """Queue ``message``; returns a full batch to post when ``flush_at`` is reached."""
        self._pending.append(message)
        if len(self._pending) < self.flush_at:
            return None
        batch = self._pending[: self.flush_at]
        del self._pending[: self.flush_at]
        return batch

    def take_all(self) -> list[list[QueuedMessage]]:
        """Every queued message, cut into batches of at most ``flush_at``."""
        pending, self._pending = self._pending, []
        size = self.flush_at
        return [pending[i : i + size] for i in range(0, len(pending), size)]

    def put_back(self, batches: Iterable[Sequence[QueuedMessage]]) -> None:
        """Return batches whose posting was interrupted to the front of the queue, in order."""
        restored = [m for batch in batches for m in batch]
        self._pending[:0] = restored

    def failed(self, batches: Iterable[Sequence[QueuedMessage]], error: APIError) -> None:
        """Remember batches the firehose did not accept, and why."""
        for batch in batches:
            self._undelivered.extend(batch)
        self._last_error = error

    def take_delivery_error(self, url: str) -> DeliveryError | None:
        """The error naming every undelivered message since the last call, or ``None``.

        Its ``__cause__`` is the last API error; the record is cleared.
        """
        undelivered, self._undelivered = self._undelivered, []
        last, self._last_error = self._last_error, None
        if not undelivered or last is None:
            return None
        count = len(undelivered)
        noun = "message" if count == 1 else "messages"
        detail = last.args[0] if last.args else type(last).__name__
        error = DeliveryError(
            f"{count} Hull firehose {noun} not delivered: {detail}",
            service="hull",
            method="POST",
            url=url,
            undelivered=[m.message for m in undelivered],
            attempts=last.attempts,
        )
        error.__cause__ = last
        return error


# --------------------------------------------------------------------------------------------
# What both clients share


class HullCore:
    """Configuration and request builders common to the sync and async Hull clients."""

    def __init__(
        self,
        id: str,
        secret: str,
        organization: str,
        *,
        api_url: str | None,
        firehose_url: str | None,
        flush_at: int,
        timeout: httpx.Timeout | float | None,
        retry: RetryPolicy,
    ) -> None:
        problems: list[str] = []
        if not isinstance(id, str) or not id.strip():
            problems.append("id (the connector id) is missing")
        if not isinstance(secret, str) or not secret:
            problems.append("secret (the connector secret) is missing")
        host = normalize_organization(organization) if isinstance(organization, str) else ""
        if not host:
            problems.append("organization (e.g. abc123.hullapp.io) is missing")
        if not isinstance(flush_at, int) or isinstance(flush_at, bool) or flush_at < 1:
            problems.append("flush_at must be a positive integer")
        if problems:
            raise ConfigurationError(problems)
        self._id = id
        self._secret = secret
        self._organization = host
        self._api_url = (api_url or f"https://{host}").rstrip("/")
        self._firehose_url = (firehose_url or firehose_url_for(host)).rstrip("/")
        self._timeout = timeout
        self._retry = retry
        self._queue = FirehoseQueue(flush_at)
        self._closed = False

    @property
    def id(self) -> str:
        """The connector id (``Hull-App-Id``, the tokens' ``iss``)."""
        return self._id

    @property
    def organization(self) -> str:
        """The organization host, e.g. ``abc123.hullapp.io``."""
        return self._organization

    @property
    def api_url(self) -> str:
        """The REST base URL (``/api/v1/...`` is appended)."""
        return self._api_url

    @property
    def firehose_url(self) -> str:
        """The URL firehose batches are posted to."""
        return self._firehose_url

    @property
    def flush_at(self) -> int:
        """How many queued messages trigger a firehose post."""
        return self._queue.flush_at

    @property
    def pending(self) -> int:
        """How many messages are queued and not yet posted."""
        return len(self._queue)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(id={self._id!r}, organization={self._organization!r}, "
            f"api_url={self._api_url!r}, firehose_url={self._firehose_url!r}, "
            f"flush_at={self.flush_at!r})"
        )

    def user_token(
        self, claims: Mapping[str, object], *, create: bool = True, active: bool = False
    ) -> str:
        """The JWT that authenticates firehose messages as one user (SPEC §5.1).

        Args:
            claims: the user's identity; only ``id``, ``email``, ``external_id`` and
                ``anonymous_id`` are used, blank values are dropped.
            create: whether Hull creates the user when no one matches.
            active: whether Hull treats the user as active.

        Raises:
            ValidationError: no usable claim is left.
        """
        return make_user_token(
            claims, connector_id=self._id, secret=self._secret, create=create, active=active
        )

    def _headers(self, *, json_body: bool) -> dict[str, str]:
        headers = {
            "Hull-App-Id": self._id,
            "Hull-Access-Token": self._secret,
            "Hull-Organization": self._organization,
        }
        if json_body:
            headers["Content-Type"] = "application/json"
        return headers

    def _rest_request(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        params: Mapping[str, str | int | float | bool] | None = None,
    ) -> RequestSpec:
        url = f"{self._api_url}/api/v1/{path.lstrip('/')}"
        if params:
            url = str(httpx.URL(url, params=dict(params)))
        content = None if json is None else encode_json(json)
        headers = self._headers(json_body=content is not None)
        return RequestSpec(method.upper(), url, headers, content)

    def _status_request(self, status: str, messages: Sequence[str]) -> RequestSpec:
        body = {"status": status, "messages": list(messages)}
        return self._rest_request("PUT", f"{self._id}/status", json=body)

    def _firehose_request(self, batch: Sequence[QueuedMessage]) -> RequestSpec:
        return RequestSpec(
            "POST", self._firehose_url, self._headers(json_body=True), batch_content(batch)
        )

    def _claims_for_scope(self, claims: Mapping[str, object]) -> tuple[str, ...]:
        return tuple(user_claims(claims))

    def _batch_failed(
        self, batches: Sequence[Sequence[QueuedMessage]], index: int, error: APIError
    ) -> bool:
        """Record batch ``index`` as undelivered; returns whether to stop posting the rest.

        An error that retries could not get past (no connection, 429, 5xx) means Hull is not
        taking messages now: the remaining batches are recorded undelivered without hammering
        it. A final refusal (e.g. 400) concerns that batch alone; the next ones are tried.
        """
        if should_retry(error, self._retry):
            self._queue.failed(batches[index:], error)
            return True
        self._queue.failed([batches[index]], error)
        return False

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed")
