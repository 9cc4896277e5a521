"""What the rules decide for one user: a [`UserPlan`][hull_customerio.UserPlan]."""

from __future__ import annotations

import enum
from typing import Any, Literal

import attrs

__all__ = ["Action", "EventKind", "EventType", "OutgoingEvent", "UserPlan"]

EventKind = Literal["event", "page", "anonymous"]
EventType = Literal["event", "page"]


class Action(str, enum.Enum):
    """What happens to a user in Customer.io."""

    IDENTIFY = "identify"
    """Create or update the person (``reason`` ``new`` or ``changed``)."""
    DELETE = "delete"
    """Delete the person: the user left every synchronized segment."""
    SKIP = "skip"
    """Nothing is sent for the person (anonymous events may still go)."""
    ERROR = "error"
    """The user cannot be sent as it is (``errors`` says why); nothing is sent."""

    def __str__(self) -> str:
        return self.value


@attrs.frozen(kw_only=True)
class OutgoingEvent:
    """An event to send to Customer.io.

    Attributes:
        kind: ``event`` (a person's event), ``page`` (a person's page view) or ``anonymous``
            (an event of a person Customer.io cannot identify yet).
        name: the event name; for page views, the page URL.
        data: the event data (Hull properties; page views add ``referrer``).
        timestamp: when it happened, integer unix seconds, if known.
        id: a ULID derived from the Hull event, so Customer.io ignores re-deliveries.
        anonymous_id: for ``anonymous`` events, the anonymous id they are sent with.
        type: ``page`` for page views (anonymous ones too), else ``event``.
        source_event_id: the Hull ``event_id`` it comes from.
    """

    kind: EventKind
    name: str
    data: dict[str, Any]
    timestamp: int | None
    id: str
    type: EventType = "event"
    anonymous_id: str | None = None
    source_event_id: str | None = None


@attrs.frozen(kw_only=True)
class UserPlan:
    """The decision for one user, computed without any I/O.

    Attributes:
        user_id: the Hull user id.
        action: what happens in Customer.io.
        reason: a stable code for why, e.g. ``not_in_segments``.
        message: the reason as a sentence for people.
        customer_id: the Customer.io id (path identifier), when there is one.
        attributes: the whole person in key order, without the id.
        chunks: the identify bodies, in the order they are sent; empty unless identify.
        events: the events to send, in order.
        skipped_events: ``(event name, reason code)`` for every event not sent.
        hash: the change-detection hash, ``""`` when the user was not hashed.
        traits: the Hull write-back after success; ``None`` when nothing is written.
        hull_claims: how the Hull user is addressed for the write-back.
        errors: validation problems; empty unless ``action`` is ``ERROR``.
        object_id: the account object the person is related to by this identify (the first
            chunk carries the relationship); ``None`` when none is linked.
        unlinked_object_id: the object a relationship stored earlier points to and that must
            be removed first (another account now, the account left the synchronized account
            segments, or linking was switched off); ``None`` when nothing is removed.
    """

    user_id: str
    action: Action
    reason: str
    message: str
    customer_id: str | None = None
    attributes: dict[str, Any] = attrs.field(factory=dict, repr=False)
    chunks: list[dict[str, Any]] = attrs.field(factory=list, repr=False)
    events: list[OutgoingEvent] = attrs.field(factory=list)
    skipped_events: list[tuple[str, str]] = attrs.field(factory=list)
    hash: str = ""
    traits: dict[str, Any] | None = attrs.field(default=None, repr=False)
    hull_claims: dict[str, str] = attrs.field(factory=dict, repr=False)
    errors: list[str] = attrs.field(factory=list)
    object_id: str | None = None
    unlinked_object_id: str | None = None
