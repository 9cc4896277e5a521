"""The fake Customer.io workspace's people and events, and the limits it checks them against.

`_Workspace` is what `FakeCustomerIO` keeps and how it keeps it: people found by ``id``,
``email`` or ``cio_id``, events de-duplicated by their ``id``, and the problems Customer.io
reports for identifiers, attributes and events over its limits. The HTTP routes and the v1
and v2 bodies are `FakeCustomerIO`'s own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from ._server import FakeService

__all__ = ["CustomerIOEvent", "CustomerIOMerge", "CustomerIOPerson"]

_IDENTIFIER_KINDS = ("id", "email", "cio_id")
_EVENT_TYPES = ("event", "page", "screen")
# Unix seconds beyond this (year 2286) are almost certainly milliseconds sent by mistake.
_MAX_TIMESTAMP = 10**10


@attrs.frozen
class CustomerIOEvent:
    """An event, page view or screen view the fake accepted.

    Attributes:
        name: The event name; for page views, the page URL.
        type: `"event"`, `"page"` or `"screen"`.
        data: The event data (`data` in v1, `attributes` in a v2 operation); `{}` when absent.
        customer_id: The Customer.io id of the person it was sent for (the path id in v1;
            the `id` identifier, or the id of the person found by `email`/`cio_id`, in v2);
            `None` for anonymous events or a person without an id.
        anonymous_id: The anonymous id of an anonymous event, else `None`.
        timestamp: Unix seconds as sent, or `None`.
        id: The deduplication id as sent (a ULID), or `None`.
        api: `"v1"` (per-call endpoints) or `"v2"` (batch or entity endpoint).
        identifiers: The identifiers as sent: `{"id": ...}` in v1, the operation's
            `identifiers` in v2, `{}` for anonymous events.
    """

    name: str
    type: str
    # Event data is free-form JSON chosen by the sender.
    data: dict[str, Any]
    customer_id: str | None
    anonymous_id: str | None
    timestamp: int | None
    id: str | None
    api: Literal["v1", "v2"]
    identifiers: dict[str, str]


@attrs.frozen
class CustomerIOPerson:
    """A person the fake knows.

    Attributes:
        cio_id: The id Customer.io assigns (hex, without the `cio_` prefix).
        id: The Customer.io customer id, or `None` for a person known only by email.
        attributes: The person's attributes, merged over every identify call.
    """

    cio_id: str
    id: str | None
    # Person attributes are free-form JSON chosen by the sender.
    attributes: dict[str, Any]


@attrs.frozen
class CustomerIOMerge:
    """A `merge_customers` call (v1) as received.

    Attributes:
        primary: The identifier of the person kept, like `{"id": "42"}`.
        secondary: The identifier of the person merged into it and deleted.
        applied: Whether both people existed, so the fake merged them.
    """

    primary: dict[str, str]
    secondary: dict[str, str]
    applied: bool


@attrs.define
class _Person:
    cio_id: str
    id: str | None
    attributes: dict[str, Any]


@attrs.frozen
class _Problem:
    field: str
    reason: str
    message: str


def _byte_size(value: object) -> int:
    """Size as Customer.io measures it: strings as UTF-8, anything else as compact JSON."""
    if isinstance(value, str):
        return len(value.encode())
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


class _Workspace(FakeService):
    """The state of a fake workspace and the rules it keeps; `FakeCustomerIO` sets the limits."""

    MAX_ID_BYTES: int
    MAX_ATTRIBUTE_NAME_BYTES: int
    MAX_ATTRIBUTE_VALUE_BYTES: int
    MAX_ATTRIBUTES_PER_CALL: int
    MAX_EVENT_NAME_BYTES: int
    MAX_EVENT_DATA_BYTES: int

    def _reset_state(self) -> None:
        self._persons: dict[str, _Person] = {}
        # id -> cio_id and email -> cio_ids: finding a person must not cost a scan of every
        # person (a sync of many users would slow down as the fake fills).
        self._cio_ids_by_id: dict[str, str] = {}
        self._cio_ids_by_email: dict[str, set[str]] = {}
        self._next_cio_id = 1
        self._events: list[CustomerIOEvent] = []
        self._duplicates: list[CustomerIOEvent] = []
        self._event_ids: set[str] = set()
        self._deletions: list[str] = []
        self._suppressed: set[str] = set()
        self._merges: list[CustomerIOMerge] = []
        self._unmodelled: list[dict[str, Any]] = []

    # -- people --------------------------------------------------------------------------

    def _find(self, kind: str, value: str) -> _Person | None:
        if kind == "cio_id":
            return self._persons.get(value)
        if kind == "id":
            cio_id = self._cio_ids_by_id.get(value)
            return None if cio_id is None else self._persons[cio_id]
        cio_ids = self._cio_ids_by_email.get(value)
        if not cio_ids:
            return None
        # The earliest-created person with this email, as a scan in creation order would find:
        # cio_ids are fixed-width hex counters, so their order is the creation order.
        return self._persons[min(cio_ids)]

    def _store(self, person: _Person) -> None:
        self._persons[person.cio_id] = person
        if person.id is not None:
            self._cio_ids_by_id[person.id] = person.cio_id
        self._index_email(person)

    def _forget(self, person: _Person) -> None:
        del self._persons[person.cio_id]
        if person.id is not None:
            self._cio_ids_by_id.pop(person.id, None)
        self._unindex_email(person.cio_id, person.attributes.get("email"))

    def _set_attributes(self, person: _Person, attributes: dict[str, Any]) -> None:
        """Replace the person's attributes, keeping the email index in step."""
        before = person.attributes.get("email")
        person.attributes = attributes
        self._unindex_email(person.cio_id, before)
        self._index_email(person)

    def _update_attributes(self, person: _Person, attributes: Mapping[str, Any]) -> None:
        """Merge attributes into the person, keeping the email index in step."""
        if "email" in attributes:
            self._set_attributes(person, {**person.attributes, **attributes})
        else:
            person.attributes.update(attributes)

    def _index_email(self, person: _Person) -> None:
        email = person.attributes.get("email")
        # Identifiers are strings, so only a string email can ever match one.
        if isinstance(email, str):
            self._cio_ids_by_email.setdefault(email, set()).add(person.cio_id)

    def _unindex_email(self, cio_id: str, email: object) -> None:
        if isinstance(email, str):
            cio_ids = self._cio_ids_by_email.get(email)
            if cio_ids is not None:
                cio_ids.discard(cio_id)
                if not cio_ids:
                    del self._cio_ids_by_email[email]

    @staticmethod
    def _path_identifier(customer_id: str) -> tuple[str, str]:
        if customer_id.startswith("cio_"):
            return "cio_id", customer_id[len("cio_") :]
        return "id", customer_id

    def _identify(self, identifier: tuple[str, str], attributes: dict[str, Any]) -> bool:
        """Merge attributes into the person; `False` when a `cio_id` matches nobody."""
        kind, value = identifier
        person = self._find(kind, value)
        if person is None:
            if kind == "cio_id":
                return False
            if kind == "id" and value in self._suppressed:
                return True  # Customer.io silently ignores identifies of suppressed people.
            person = _Person(
                cio_id=f"{self._next_cio_id:012x}",
                id=value if kind == "id" else None,
                attributes={"email": value} if kind == "email" else {},
            )
            self._next_cio_id += 1
            self._store(person)
        self._update_attributes(person, attributes)
        return True

    def _delete(self, identifier: tuple[str, str]) -> None:
        person = self._find(*identifier)
        if person is not None:
            self._forget(person)
        kind, value = identifier
        if person is not None and person.id is not None:
            value = person.id
        elif kind == "cio_id":
            value = f"cio_{value}"
        self._deletions.append(value)

    def _record_event(self, event: CustomerIOEvent) -> None:
        if event.id is not None:
            if event.id in self._event_ids:
                self._duplicates.append(event)
                return
            self._event_ids.add(event.id)
        self._events.append(event)

    # -- validation ----------------------------------------------------------------------

    def _identifier_problems(self, value: str, field: str) -> list[_Problem]:
        size = len(value.encode())
        if size > self.MAX_ID_BYTES:
            return [
                _Problem(
                    field,
                    "too_long",
                    f"identifier is {size} bytes; the limit is {self.MAX_ID_BYTES} bytes",
                )
            ]
        return []

    def _attribute_problems(
        self, attributes: Mapping[str, Any], prefix: str, *, limit: int | None = None
    ) -> list[_Problem]:
        problems: list[_Problem] = []
        most = self.MAX_ATTRIBUTES_PER_CALL if limit is None else limit
        if len(attributes) > most:
            problems.append(
                _Problem(
                    prefix.rstrip("."),
                    "too_many",
                    f"{len(attributes)} attributes in one request; the limit is {most}",
                )
            )
        for name, value in attributes.items():
            name_size = len(name.encode())
            if name_size > self.MAX_ATTRIBUTE_NAME_BYTES:
                problems.append(
                    _Problem(
                        prefix + name,
                        "too_long",
                        f"attribute name {name[:40]!r}... is {name_size} bytes; the limit is "
                        f"{self.MAX_ATTRIBUTE_NAME_BYTES} bytes",
                    )
                )
            value_size = _byte_size(value)
            if value_size > self.MAX_ATTRIBUTE_VALUE_BYTES:
                problems.append(
                    _Problem(
                        prefix + name,
                        "too_long",
                        f"value of attribute {name[:40]!r} is {value_size} bytes; the limit is "
                        f"{self.MAX_ATTRIBUTE_VALUE_BYTES} bytes",
                    )
                )
        return problems

    def _event_problems(
        self, body: Mapping[str, Any], data_key: str, *, check_type: bool
    ) -> list[_Problem]:
        problems: list[_Problem] = []
        name = body.get("name")
        if not isinstance(name, str) or not name:
            problems.append(_Problem("name", "required", "name is required (a non-empty string)"))
        elif len(name.encode()) > self.MAX_EVENT_NAME_BYTES:
            problems.append(
                _Problem(
                    "name",
                    "too_long",
                    f"event name is {len(name.encode())} bytes; the limit is "
                    f"{self.MAX_EVENT_NAME_BYTES} bytes",
                )
            )
        data = body.get(data_key)
        if data is not None and not isinstance(data, dict):
            problems.append(_Problem(data_key, "invalid", f"{data_key} must be a JSON object"))
        elif data is not None and _byte_size(data) > self.MAX_EVENT_DATA_BYTES:
            problems.append(
                _Problem(
                    data_key,
                    "too_large",
                    f"event {data_key} is {_byte_size(data)} bytes; the limit is "
                    f"{self.MAX_EVENT_DATA_BYTES} bytes",
                )
            )
        if check_type and body.get("type") not in (None, *_EVENT_TYPES):
            problems.append(_Problem("type", "invalid", "type must be 'event', 'page' or 'screen'"))
        timestamp = body.get("timestamp")
        if timestamp is not None and (
            not isinstance(timestamp, int) or isinstance(timestamp, bool)
        ):
            problems.append(
                _Problem("timestamp", "invalid", "timestamp must be an integer (unix seconds)")
            )
        elif isinstance(timestamp, int) and not 0 <= timestamp < _MAX_TIMESTAMP:
            problems.append(
                _Problem(
                    "timestamp",
                    "invalid",
                    f"timestamp {timestamp} is not unix seconds (milliseconds sent by mistake?)",
                )
            )
        event_id = body.get("id")
        if event_id is not None and (not isinstance(event_id, str) or not event_id):
            problems.append(_Problem("id", "invalid", "id must be a non-empty string (a ULID)"))
        return problems

    @staticmethod
    def _event_from(
        body: Mapping[str, Any],
        data_key: str,
        *,
        type: str,
        customer_id: str | None,
        anonymous_id: str | None,
        api: Literal["v1", "v2"],
        identifiers: dict[str, str],
    ) -> CustomerIOEvent:
        return CustomerIOEvent(
            name=body["name"],
            type=type,
            data=dict(body.get(data_key) or {}),
            customer_id=customer_id,
            anonymous_id=anonymous_id,
            timestamp=body.get("timestamp"),
            id=body.get("id"),
            api=api,
            identifiers=identifiers,
        )
