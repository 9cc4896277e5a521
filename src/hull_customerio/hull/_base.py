"""The sans-IO core of the Hull client, shared by [`HullClient`][hull_customerio.HullClient] and
[`AsyncHullClient`][hull_customerio.AsyncHullClient].

Everything here is pure: URLs and headers, firehose messages and batch bodies,
the queue that cuts messages into batches of ``flush_at`` and remembers the ones
that could not be delivered, and the mapping of a response to an error. The two client classes
only send what this module builds, so sync and async cannot drift apart.
"""

from __future__ import annotations

import hmac
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any, Literal, TypeAlias

import attrs
import httpx

from hull_customerio._retry import HULL_RETRY_STATUSES, RetryPolicy, parse_retry_after
from hull_customerio._serialization import one_shot
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
from hull_customerio.metrics import Metrics, _report, guarded

from .tokens import UserTokenSigner

__all__ = [
    "DEFAULT_FLUSH_AT",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "Batch",
    "DeliveryTicket",
    "Entry",
    "FirehoseQueue",
    "HullCore",
    "HullFailureKind",
    "JSONValue",
    "QueuedMessage",
    "RequestSpec",
    "build_track_message",
    "build_traits_message",
    "error_from_response",
    "firehose_url_for",
    "hull_failure_kind",
    "isoformat",
    "parse_response",
    "transport_error",
]

#: A parsed JSON document, as returned by `HullClient.api`.
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


# --------------------------------------------------------------------------------------------
# Firehose messages


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
    """A message from `DeliveryError.undelivered`, ready to be posted again unchanged.

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


#: Default ``max_in_flight``: firehose requests one client may have under way at the same time.
DEFAULT_MAX_IN_FLIGHT = 4

HullFailureKind = Literal["transient", "credentials", "refused"]


def hull_failure_kind(error: BaseException) -> HullFailureKind:
    """What a failed Hull request means for the data it carried.

    ``"refused"``: Hull answered a 4xx other than 401, 403, 408 and 429, a permanent refusal of
    the data (sending it again as it is cannot help). ``"credentials"``: 401 or 403, the
    connector's id, secret or organization are wrong (a configuration problem: keep the data).
    ``"transient"``: everything else (no connection, timeouts, 408, 429, 5xx), worth another
    try later.
    """
    if isinstance(error, APIStatusError) and 400 <= error.status_code < 500:
        if error.status_code in (401, 403):
            return "credentials"
        if error.status_code not in (408, 429):
            return "refused"
    return "transient"


class DeliveryTicket:
    """The Hull messages of one call (a sync, a webhook...) and what became of each of them.

    Get one from ``client.delivery()``, pass it to ``client.as_user(..., delivery=ticket)`` so
    the messages written through that scope belong to it, then wait for it with
    ``client.wait(ticket)`` or ``client.flush(ticket)``. A firehose request that carries
    messages of several tickets reports its result to each of them; a ticket only ever hears
    about its own messages.

    The client updates a ticket under its lock; read it once the wait returned.
    """

    __slots__ = ("_delivered", "_failures", "_keep_delivered", "_pending")

    def __init__(self, *, keep_delivered: bool = True) -> None:
        self._pending: set[str] = set()
        self._delivered: set[str] = set()
        self._failures: dict[str, tuple[Mapping[str, Any], APIError]] = {}
        # The client's shared ticket lives as long as the client: it does not keep the ids of
        # delivered messages, so memory stays flat for callers who never flush.
        self._keep_delivered = keep_delivered

    def __repr__(self) -> str:
        return (
            f"DeliveryTicket(pending={len(self._pending)}, delivered={len(self._delivered)}, "
            f"failed={len(self._failures)})"
        )

    @property
    def done(self) -> bool:
        """Whether every message of the ticket was delivered or has definitively failed."""
        return not self._pending

    @property
    def pending(self) -> int:
        """How many of its messages Hull has not answered for yet (queued or in flight)."""
        return len(self._pending)

    @property
    def delivered(self) -> frozenset[str]:
        """The ``requestId`` of each message Hull accepted."""
        return frozenset(self._delivered)

    @property
    def failures(self) -> dict[str, APIError]:
        """Each message that failed for good: its ``requestId`` and the last error for it."""
        return {request_id: error for request_id, (_, error) in self._failures.items()}

    def error_for(self, request_id: str) -> APIError | None:
        """The error that failed the message ``request_id``, or ``None`` (delivered or pending)."""
        found = self._failures.get(request_id)
        return None if found is None else found[1]

    def undelivered(self, request_id: str) -> DeliveryError | None:
        """A [`DeliveryError`][hull_customerio.errors.DeliveryError] naming the one message
        ``request_id`` if it failed, else ``None``; its ``__cause__`` is Hull's answer (or the
        transport error) for it."""
        found = self._failures.get(request_id)
        if found is None:
            return None
        return _delivery_error([found], found[1].url or "")

    def delivery_error(self, url: str, *, clear: bool = False) -> DeliveryError | None:
        """A [`DeliveryError`][hull_customerio.errors.DeliveryError] naming every failed message, or
        ``None`` if none failed.

        Its ``__cause__`` is the last error. With ``clear``, the failures are forgotten, so
        each is reported once.
        """
        failures = list(self._failures.values())
        if clear:
            self._failures = {}
            self._delivered = set()
        if not failures:
            return None
        return _delivery_error(failures, url)


def _delivery_error(
    failures: Sequence[tuple[Mapping[str, Any], APIError]], url: str
) -> DeliveryError:
    last = failures[-1][1]
    count = len(failures)
    noun = "message" if count == 1 else "messages"
    detail = last.args[0] if last.args else type(last).__name__
    error = DeliveryError(
        f"{count} Hull firehose {noun} not delivered: {detail}",
        service="hull",
        method="POST",
        url=url,
        undelivered=[message for message, _ in failures],
        attempts=last.attempts,
    )
    error.__cause__ = last
    return error


@attrs.frozen
class Entry:
    """A queued firehose message and the ticket it belongs to."""

    message: QueuedMessage
    ticket: DeliveryTicket = attrs.field(eq=False)


#: Messages posted together in one firehose request.
Batch: TypeAlias = list[Entry]


class FirehoseQueue:
    """Messages waiting for the firehose, the posting slots, and every message not yet settled.

    Each message belongs to a [`DeliveryTicket`][hull_customerio.hull.DeliveryTicket]. At most
    ``max_in_flight`` batches are posted at a time: `start` hands out batches for the free slots
    (whoever waits for messages calls it), and a poster that is done asks `next_batch` for the
    next full batch before giving its slot back. So when Hull is slow or failing, messages of
    many calls pile up and leave together in full batches, instead of one small request per
    call. `settle` applies one firehose answer to every message of the
    batch it carried, ticket by ticket. Not thread-safe by itself: each client guards it with its
    own lock, held only while this bookkeeping runs, never across a request.
    """

    def __init__(self, flush_at: int, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        self.flush_at = flush_at
        self.max_in_flight = max_in_flight
        self._pending: list[Entry] = []
        self._unsettled = 0
        self._in_flight = 0

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def idle(self) -> bool:
        """Whether every message added was settled (nothing queued, nothing in flight)."""
        return self._unsettled == 0

    @property
    def in_flight(self) -> int:
        """How many posting slots are taken."""
        return self._in_flight

    def add(self, message: QueuedMessage, ticket: DeliveryTicket) -> Batch | None:
        """Queue ``message`` for ``ticket``; returns a batch to post now when ``flush_at``
        messages are waiting and a slot is free (else they wait for the next free slot)."""
        ticket._pending.add(message.request_id)
        ticket._failures.pop(message.request_id, None)
        self._unsettled += 1
        self._pending.append(Entry(message, ticket))
        if len(self._pending) < self.flush_at or self._in_flight >= self.max_in_flight:
            return None
        self._in_flight += 1
        return self._cut()

    def start(self) -> list[Batch]:
        """Batches to post now: one per free slot, while messages are waiting."""
        batches: list[Batch] = []
        while self._pending and self._in_flight < self.max_in_flight:
            self._in_flight += 1
            batches.append(self._cut())
        return batches

    def next_batch(self, *, partial: bool = True) -> Batch | None:
        """For a poster that is done: the next batch to post in its slot, or ``None`` (the
        slot is given back).

        With ``partial`` (someone is waiting for messages) whatever is queued goes, up to
        ``flush_at``; without, only a full batch: fewer messages wait for someone who wants
        them out (`start`, from a wait, a flush, a close or `post_pending`) or for the queue
        to fill. A poster that went on with whatever trickled in made one small post after
        another while nobody waited for them (a v1 sync of 600 users: about 100 posts, not 12).
        """
        if len(self._pending) >= self.flush_at or (partial and self._pending):
            return self._cut()
        self._in_flight -= 1
        return None

    def _cut(self) -> Batch:
        batch = self._pending[: self.flush_at]
        del self._pending[: self.flush_at]
        return batch

    def take_all(self) -> list[Batch]:
        """Every queued message, cut into batches of at most ``flush_at`` (no slot is taken)."""
        pending, self._pending = self._pending, []
        size = self.flush_at
        return [pending[i : i + size] for i in range(0, len(pending), size)]

    def put_back(self, batches: Iterable[Batch]) -> None:
        """Return the batches of an interrupted poster to the front of the queue, in order,
        and give its slot back."""
        restored = [entry for batch in batches for entry in batch]
        self._pending[:0] = restored
        self._in_flight -= 1

    def settle(self, batch: Batch, error: APIError | None) -> list[Batch]:
        """Apply the firehose's answer for ``batch`` to its messages; returns batches to post next.

        ``None`` (accepted): each message is delivered. A permanent refusal of a batch of
        several messages settles nothing: its two halves are returned, to be posted on their
        own, so that only the refused messages fail and the others are delivered. Any other
        error (or a refusal of a single message) fails every message of the batch with it.
        """
        if error is not None and len(batch) > 1 and hull_failure_kind(error) == "refused":
            middle = len(batch) // 2
            return [batch[:middle], batch[middle:]]
        for entry in batch:
            request_id = entry.message.request_id
            ticket = entry.ticket
            if request_id not in ticket._pending:
                continue  # already settled (a message requeued twice is settled once)
            ticket._pending.discard(request_id)
            self._unsettled -= 1
            if error is None:
                if ticket._keep_delivered:
                    ticket._delivered.add(request_id)
            else:
                ticket._failures[request_id] = (entry.message.message, error)
        return []


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
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        metrics: Metrics | None = None,
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
        if (
            not isinstance(max_in_flight, int)
            or isinstance(max_in_flight, bool)
            or max_in_flight < 1
        ):
            problems.append("max_in_flight must be a positive integer")
        if problems:
            raise ConfigurationError(problems)
        self._id = id
        self._secret = secret
        self._organization = host
        self._api_url = (api_url or f"https://{host}").rstrip("/")
        self._firehose_url = (firehose_url or firehose_url_for(host)).rstrip("/")
        self._timeout = timeout
        self._retry = retry
        self.metrics = guarded(metrics)
        self._queue = FirehoseQueue(flush_at, max_in_flight)
        self._max_in_flight = max_in_flight
        #: The ticket of messages written without one; flush() and close() report on it.
        self._shared = DeliveryTicket(keep_delivered=False)
        self._credentials_error: APIStatusError | None = None
        self._closed = False
        self._signer = UserTokenSigner(id, secret)

    @property
    def id(self) -> str:
        """The connector id (``Hull-App-Id``, the tokens' ``iss``)."""
        return self._id

    @property
    def organization(self) -> str:
        """The organization host, e.g. ``abc123.hullapp.io``."""
        return self._organization

    def is_own_secret(self, secret: str) -> bool:
        """Whether ``secret`` is this connector's secret, compared in constant time.

        A notification proves it is for this connector by carrying its secret; the
        comparison takes the same time wherever two secrets differ.
        """
        if not isinstance(secret, str):
            return False
        return hmac.compare_digest(
            secret.encode("utf-8", "surrogatepass"), self._secret.encode("utf-8", "surrogatepass")
        )

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
    def max_in_flight(self) -> int:
        """How many firehose requests may be under way at the same time."""
        return self._max_in_flight

    @property
    def pending(self) -> int:
        """How many messages are queued and not yet posted."""
        return len(self._queue)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(id={self._id!r}, organization={self._organization!r}, "
            f"api_url={self._api_url!r}, firehose_url={self._firehose_url!r}, "
            f"flush_at={self.flush_at!r}, max_in_flight={self._max_in_flight!r})"
        )

    def user_token(
        self, claims: Mapping[str, object], *, create: bool = True, active: bool = False
    ) -> str:
        """The JWT that authenticates firehose messages as one user.

        Args:
            claims: the user's identity; only ``id``, ``email``, ``external_id`` and
                ``anonymous_id`` are used, blank values are dropped.
            create: whether Hull creates the user when no one matches.
            active: whether Hull treats the user as active.

        Raises:
            ValidationError: no usable claim is left.
        """
        return self._signer.sign(claims, create=create, active=active)[0]

    def _signed_scope(
        self, claims: Mapping[str, object], *, create: bool, active: bool
    ) -> tuple[str, tuple[str, ...]]:
        """The user token of ``claims`` and the names of the claims it carries."""
        return self._signer.sign(claims, create=create, active=active)

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
        return RequestSpec(
            method.upper(), url, headers, content, endpoint=rest_endpoint(path, self._id)
        )

    def _status_request(self, status: str, messages: Sequence[str]) -> RequestSpec:
        body = {"status": status, "messages": list(messages)}
        return self._rest_request("PUT", f"{self._id}/status", json=body)

    def _firehose_request(self, batch: Sequence[QueuedMessage]) -> RequestSpec:
        return RequestSpec(
            "POST",
            self._firehose_url,
            self._headers(json_body=True),
            batch_content(batch),
            endpoint=FIREHOSE_ENDPOINT,
        )

    def _report(self, spec: RequestSpec, status: int | None, started: float) -> None:
        """Count one request sent (each retry is one) and its duration."""
        _report.report_request(
            self.metrics,
            service="hull",
            method=spec.method,
            endpoint=spec.endpoint,
            status=status,
            started=started,
        )

    def delivery(self) -> DeliveryTicket:
        """A new delivery ticket: the messages of one call, and what became of each.

        Pass it to ``as_user(..., delivery=ticket)``; ``wait(ticket)`` (or ``flush(ticket)``)
        then returns once each of *those* messages was delivered or definitively failed,
        whoever's request carried them. Messages written without a ticket belong to the
        client's own shared ticket, the one ``flush()`` and ``close()`` report on.
        """
        return DeliveryTicket()

    @property
    def credentials_error(self) -> APIStatusError | None:
        """The last 401/403 the firehose answered, until a later batch is accepted; else ``None``.

        Hull refuses the connector's id, secret or organization: a configuration problem the
        connector's status reports.
        """
        return self._credentials_error

    def _settle(self, batch: Batch, error: APIError | None) -> list[Batch]:
        """Record Hull's answer for ``batch`` (the lock is held); returns batches to post next."""
        if error is None:
            self._credentials_error = None
        elif isinstance(error, APIStatusError) and hull_failure_kind(error) == "credentials":
            self._credentials_error = error
        return self._queue.settle(batch, error)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed")
