"""Outgoing events: which events, generic events, page views, anonymous events."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from typing import Any

from .._serialization import canonical_json
from .._time import to_unix_millis
from ..models.hull import HullEvent
from ..models.plan import OutgoingEvent

__all__ = [
    "PAGE_EVENT",
    "event_ulid",
    "page_referrer",
    "page_url",
    "to_anonymous_event",
    "to_person_event",
]

PAGE_EVENT = "page"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TIME_BITS = 48
_RANDOM_BITS = 80
#: Every pair of Crockford characters, indexed by the 10 bits they encode.
_CROCKFORD_PAIRS = tuple(high + low for high in _CROCKFORD for low in _CROCKFORD)
#: 130 bits (the 128-bit number, two zero bits on top) as 13 groups of 10, most significant first.
_PAIR_SHIFTS = tuple(range(120, -1, -10))


def event_ulid(key: str, millis: int | None) -> str:
    """A deterministic ULID: the time part is ``millis``, the random part hashes ``key``.

    26 Crockford base32 characters: 48 bits of unix milliseconds (clamped to the ULID range;
    ``0`` when the time is unknown) then the first 80 bits of SHA-256 of ``key``. The same Hull
    event always gets the same id, so Customer.io ignores a re-delivery.
    """
    time_part = min(max(millis or 0, 0), (1 << _TIME_BITS) - 1)
    random_part = int.from_bytes(hashlib.sha256(key.encode()).digest()[: _RANDOM_BITS // 8], "big")
    number = (time_part << _RANDOM_BITS) | random_part
    # Two characters (10 bits) per lookup: the same 26 characters in half the steps.
    return "".join([_CROCKFORD_PAIRS[(number >> shift) & 1023] for shift in _PAIR_SHIFTS])


def _event_key(event: HullEvent) -> str:
    if event.event_id is not None:
        return event.event_id
    # Without Hull's id, the event's content is the best stable identity we have.
    return canonical_json([event.event, event.created_at, event.properties])


def _first_string(*candidates: object) -> str | None:
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate
    return None


def _nested(mapping: Mapping[str, Any], outer: str, inner: str) -> object:
    value = mapping.get(outer)
    return value.get(inner) if isinstance(value, Mapping) else None


def page_url(event: HullEvent) -> str | None:
    """``properties.url``, else ``context.page_url``, else ``context.page.url``."""
    return _first_string(
        event.properties.get("url"),
        event.context.get("page_url"),
        _nested(event.context, "page", "url"),
    )


def page_referrer(event: HullEvent) -> str | None:
    """``properties.referrer``, else ``context.referrer_url``, else ``context.referrer.url``."""
    return _first_string(
        event.properties.get("referrer"),
        event.context.get("referrer_url"),
        _nested(event.context, "referrer", "url"),
    )


def _parts(event: HullEvent) -> tuple[str, dict[str, Any], str] | None:
    """(name, data, type) of the Customer.io event, or ``None`` for a page view without url."""
    data = dict(event.properties)
    if event.event != PAGE_EVENT:
        return event.event, data, "event"
    url = page_url(event)
    if url is None:
        return None
    referrer = page_referrer(event)
    if referrer is not None:
        data["referrer"] = referrer
    return url, data, "page"


def to_person_event(event: HullEvent) -> OutgoingEvent | None:
    """The Customer.io event (or page view) of an identified person; ``None``: page without url."""
    parts = _parts(event)
    if parts is None:
        return None
    name, data, type_ = parts
    millis = to_unix_millis(event.created_at, numeric_strings=True)
    return OutgoingEvent(
        kind="page" if type_ == "page" else "event",
        name=name,
        data=data,
        timestamp=None if millis is None else millis // 1000,
        id=event_ulid(_event_key(event), millis),
        type="page" if type_ == "page" else "event",
        source_event_id=event.event_id,
    )


def to_anonymous_event(event: HullEvent, anonymous_id: str) -> OutgoingEvent | None:
    """The Customer.io anonymous event; ``None`` for a page view without url."""
    person_event = to_person_event(event)
    if person_event is None:
        return None
    return OutgoingEvent(
        kind="anonymous",
        name=person_event.name,
        data=person_event.data,
        timestamp=person_event.timestamp,
        id=person_event.id,
        type=person_event.type,
        anonymous_id=anonymous_id,
        source_event_id=person_event.source_event_id,
    )


def is_whitelisted(event: HullEvent, events_filter: Collection[str]) -> bool:
    """Whether ``events_filter`` selects the event (``"page"`` selects page views)."""
    return event.event in events_filter
