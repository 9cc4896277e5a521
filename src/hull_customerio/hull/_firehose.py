"""Firehose messages, and the queue that cuts them into batches: pure, no I/O.

A message is built once (`build_traits_message`, `build_track_message`) into a `QueuedMessage`
holding its encoded bytes; `FirehoseQueue` cuts the queue into batches of ``flush_at``, keeps
at most ``max_in_flight`` batches posting, and settles each message's `DeliveryTicket` with the
outcome of its batch. The clients post the batches.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypeAlias

import attrs

from hull_customerio.errors import (
    APIError,
    APIStatusError,
    DeliveryError,
    ValidationError,
)

from ._requests import _now, encode_json, isoformat

#: Default for ``flush_at``: Hull's own client libraries post the firehose every 50 messages.
DEFAULT_FLUSH_AT = 50


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
    properties: Mapping[str, Any] | None,
    *,
    event_id: str | None,
    created_at: str | datetime | None,
    source: str | None,
    type: str | None,
    ip: str | None,
) -> QueuedMessage:
    """A ``track`` message recording ``event`` for the user of ``token``.

    Every field is given: the defaults are stated once, by the scopes' ``track``.
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
