"""The one vocabulary of Customer.io operations: what the engine asks a client to do.

Each operation is a frozen value that knows both of its wire forms: the v1 Track API request
(`v1_request`) and the v2 batch operation (`v2_operation`). The engine yields these values,
the clients send them ([`CustomerIOClient.send`][hull_customerio.customerio.CustomerIOClient.send],
[`AsyncCustomerIOClient.send`][hull_customerio.customerio.AsyncCustomerIOClient.send]) and
batch mode packs their v2 form; how a call maps onto Customer.io is written here and nowhere
else. The clients' named methods (``identify``, ``track``...) build one of these and send it.

Accounts travel as Customer.io **objects** (`ObjectIdentify`, `ObjectDelete`: v2 only, so
their "v1" request is one operation posted to ``/api/v2/entity``) related to people by the
identify's ``cio_relationships`` (`Identify.relationships`) and removed with
`DeleteRelationships`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol

import attrs

from ..errors import ValidationError
from ._base import MAX_BATCH_OPERATION_BYTES, ApiRequest, customer_request, dumps
from ._batch import identifiers_for

__all__ = [
    "AnonymousTrack",
    "Delete",
    "DeleteRelationships",
    "Identify",
    "ObjectDelete",
    "ObjectIdentify",
    "ObjectRef",
    "Operation",
    "Page",
    "Track",
    "anonymous_event_operation",
    "delete_operation",
    "event_operation",
    "identify_operation",
    "page_operation",
]

Timestamp = int | datetime | None


class Operation(Protocol):
    """What a client can send: an operation with a v1 request and a v2 batch form.

    Attributes:
        batchable: whether batch mode sends it in a v2 batch; ``False`` keeps it on its v1
            endpoint (Customer.io does not document its v2 form).
    """

    batchable: ClassVar[bool]

    def v1_request(self) -> ApiRequest:
        """The v1 Track API request doing this operation."""
        ...  # pragma: no cover - a protocol

    def v2_operation(self) -> dict[str, Any]:
        """The v2 batch operation doing this operation."""
        ...  # pragma: no cover - a protocol


def _person_operation(identifiers: Mapping[str, str], action: str, **fields: Any) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "type": "person",
        "identifiers": dict(identifiers),
        "action": action,
    }
    operation.update({k: v for k, v in fields.items() if v is not None})
    return operation


def _event_body(
    name: str,
    data: Mapping[str, Any] | None,
    *,
    type: str | None,
    timestamp: Timestamp,
    id: str | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    if extra:
        body.update(extra)
    if type is not None:
        body["type"] = type
    if data is not None:
        body["data"] = data
    if timestamp is not None:
        body["timestamp"] = timestamp
    if id is not None:
        body["id"] = id
    return body


def _person_event_request(
    event: Track | Page, name: str, type: Literal["page"] | None
) -> ApiRequest:
    """The v1 request of a person's event or page view: ``POST /api/v1/customers/{id}/events``."""
    body = _event_body(name, event.data, type=type, timestamp=event.timestamp, id=event.id)
    return customer_request("POST", event.customer_id, "/events", dumps(body))


def _person_event_operation(
    event: Track | Page, name: str, action: Literal["event", "page"]
) -> dict[str, Any]:
    """The v2 operation of a person's event or page view (v2 calls the data ``attributes``)."""
    return _person_operation(
        identifiers_for(event.customer_id),
        action,
        name=name,
        attributes=None if event.data is None else dict(event.data),
        timestamp=event.timestamp,
        id=event.id,
    )


def _check_anonymous_id(anonymous_id: object) -> None:
    if not isinstance(anonymous_id, str) or not anonymous_id:
        raise ValidationError(f"anonymous_id must be a non-empty string, got {anonymous_id!r}")


@attrs.frozen
class ObjectRef:
    """One Customer.io object: its type (``"1"``...) and its id within that type."""

    object_type_id: str
    object_id: str

    def identifiers(self) -> dict[str, str]:
        """``{"object_type_id": ..., "object_id": ...}``, as both API versions address it.

        Raises:
            ValidationError: either part is not a non-empty string.
        """
        for name, value in (("object_type_id", self.object_type_id),
                            ("object_id", self.object_id)):  # fmt: skip
            if not isinstance(value, str) or not value:
                raise ValidationError(f"{name} must be a non-empty string, got {value!r}")
        return {"object_type_id": self.object_type_id, "object_id": self.object_id}


def _v1_relationships(action: str, objects: tuple[ObjectRef, ...]) -> dict[str, Any]:
    """The v1 body's ``cio_relationships``: an action and the objects it applies to."""
    return {"action": action, "relationships": _relationships(objects)}


def _relationships(objects: tuple[ObjectRef, ...]) -> list[dict[str, Any]]:
    return [{"identifiers": ref.identifiers()} for ref in objects]


def _entity_request(operation: Mapping[str, Any]) -> ApiRequest:
    """One v2 operation as its own ``POST /api/v2/entity`` request.

    Customer.io takes an entity request only under 32 kB and objects have no other endpoint,
    so a larger one is refused here, before anything is sent.
    """
    content = dumps(operation)
    if len(content) > MAX_BATCH_OPERATION_BYTES:
        raise ValidationError(
            f"the object operation is {len(content)} bytes as JSON; Customer.io accepts at "
            f"most {MAX_BATCH_OPERATION_BYTES} (objects have no other endpoint)"
        )
    return ApiRequest("POST", "/api/v2/entity", content)


@attrs.frozen
class Identify:
    """Create or update a person with ``attributes``, and relate it to ``relationships``.

    v1: ``PUT /api/v1/customers/{id}`` with the attributes as the body (plus
    ``"cio_relationships": {"action": "add_relationships", "relationships": [...]}`` when it
    relates objects); v2: a person ``identify`` operation (plus ``"cio_relationships": [...]``).
    """

    batchable: ClassVar[bool] = True

    customer_id: str
    attributes: Mapping[str, Any] = attrs.field(repr=False)  # personal data
    relationships: tuple[ObjectRef, ...] = attrs.field(default=(), kw_only=True)

    def v1_request(self) -> ApiRequest:
        """``PUT /api/v1/customers/{id}``."""
        body: Mapping[str, Any] = self.attributes
        if self.relationships:
            relate = _v1_relationships("add_relationships", self.relationships)
            body = {**self.attributes, "cio_relationships": relate}
        return customer_request("PUT", self.customer_id, "", dumps(body))

    def v2_operation(self) -> dict[str, Any]:
        """``{"type": "person", "action": "identify", "attributes": ...}``."""
        return _person_operation(
            identifiers_for(self.customer_id),
            "identify",
            attributes=dict(self.attributes),
            cio_relationships=_relationships(self.relationships) if self.relationships else None,
        )


def _check_objects(objects: tuple[ObjectRef, ...]) -> None:
    if not objects:
        raise ValidationError("delete_relationships needs at least one object")


@attrs.frozen
class DeleteRelationships:
    """Remove a person's relationships to ``objects`` (the objects themselves stay).

    v1: ``PUT /api/v1/customers/{id}`` whose body is only ``"cio_relationships": {"action":
    "delete_relationships", "relationships": [...]}``; v2: a person ``delete_relationships``
    operation.
    """

    batchable: ClassVar[bool] = True

    customer_id: str
    objects: tuple[ObjectRef, ...]

    def v1_request(self) -> ApiRequest:
        """``PUT /api/v1/customers/{id}`` with ``delete_relationships``."""
        _check_objects(self.objects)
        body = {"cio_relationships": _v1_relationships("delete_relationships", self.objects)}
        return customer_request("PUT", self.customer_id, "", dumps(body))

    def v2_operation(self) -> dict[str, Any]:
        """``{"type": "person", "action": "delete_relationships", "cio_relationships": [...]}``."""
        _check_objects(self.objects)
        return _person_operation(
            identifiers_for(self.customer_id),
            "delete_relationships",
            cio_relationships=_relationships(self.objects),
        )


class _ObjectOperation:
    """What object operations share: their v1 request posts their v2 operation."""

    __slots__ = ()

    def v1_request(self) -> ApiRequest:
        """``POST /api/v2/entity`` with the v2 operation.

        Raises:
            ValidationError: an empty identifier, or an operation over 32 kB.
        """
        return _entity_request(self.v2_operation())

    def v2_operation(self) -> dict[str, Any]:
        """The v2 batch operation doing this operation."""
        raise NotImplementedError  # pragma: no cover - each object operation has its own


@attrs.frozen
class ObjectIdentify(_ObjectOperation):
    """Create or update an object (an account) with ``attributes``.

    Objects exist only in the v2 API: v2 is ``{"type": "object", "identifiers":
    {"object_type_id", "object_id"}, "action": "identify", "attributes": ...}``; the v1 request
    posts that one operation to ``/api/v2/entity``.
    """

    batchable: ClassVar[bool] = True

    object: ObjectRef
    attributes: Mapping[str, Any] = attrs.field(repr=False)

    def v2_operation(self) -> dict[str, Any]:
        """``{"type": "object", "action": "identify", "attributes": ...}``."""
        return {
            "type": "object",
            "identifiers": self.object.identifiers(),
            "action": "identify",
            "attributes": dict(self.attributes),
        }


@attrs.frozen
class ObjectDelete(_ObjectOperation):
    """Delete an object. v2: ``{"type": "object", "identifiers": ..., "action": "delete"}``;
    the v1 request posts that operation to ``/api/v2/entity``."""

    batchable: ClassVar[bool] = True

    object: ObjectRef

    def v2_operation(self) -> dict[str, Any]:
        """``{"type": "object", "action": "delete"}``."""
        return {"type": "object", "identifiers": self.object.identifiers(), "action": "delete"}


@attrs.frozen
class Delete:
    """Delete a person. v1: ``DELETE /api/v1/customers/{id}``; v2: a person ``delete``."""

    batchable: ClassVar[bool] = True

    customer_id: str

    def v1_request(self) -> ApiRequest:
        """``DELETE /api/v1/customers/{id}``."""
        return customer_request("DELETE", self.customer_id)

    def v2_operation(self) -> dict[str, Any]:
        """``{"type": "person", "action": "delete"}``."""
        return _person_operation(identifiers_for(self.customer_id), "delete")


@attrs.frozen
class Track:
    """Record an event for a person.

    v1: ``POST /api/v1/customers/{id}/events`` with ``{name, data?, timestamp?, id?}``; v2: a
    person ``event`` (v2 calls the data ``attributes``). ``None`` fields are omitted.
    """

    batchable: ClassVar[bool] = True

    customer_id: str
    name: str
    data: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    timestamp: Timestamp = attrs.field(default=None, kw_only=True)
    id: str | None = attrs.field(default=None, kw_only=True)

    def v1_request(self) -> ApiRequest:
        """``POST /api/v1/customers/{id}/events``."""
        return _person_event_request(self, self.name, None)

    def v2_operation(self) -> dict[str, Any]:
        """``{"type": "person", "action": "event", "name": ..., "attributes"?: ...}``."""
        return _person_event_operation(self, self.name, "event")


@attrs.frozen
class Page:
    """Record a page view for a person: an event of type ``page`` named by the URL.

    v1: ``POST /api/v1/customers/{id}/events`` with ``{name: url, type: "page", ...}``; v2: a
    person ``page`` operation.
    """

    batchable: ClassVar[bool] = True

    customer_id: str
    url: str
    data: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    timestamp: Timestamp = attrs.field(default=None, kw_only=True)
    id: str | None = attrs.field(default=None, kw_only=True)

    def v1_request(self) -> ApiRequest:
        """``POST /api/v1/customers/{id}/events`` with ``type: "page"``."""
        return _person_event_request(self, self.url, "page")

    def v2_operation(self) -> dict[str, Any]:
        """``{"type": "person", "action": "page", "name": url, ...}``."""
        return _person_event_operation(self, self.url, "page")


@attrs.frozen
class AnonymousTrack:
    """Record an event (``type="page"``: a page view) of a person not identified yet.

    v1: ``POST /api/v1/events`` with ``{name, anonymous_id, type?, data?, timestamp?, id?}``
    (``type`` only when it is not Customer.io's default ``"event"``). Customer.io merges it into
    the person whose ``anonymous_id`` attribute matches. Its v2 form (a person addressed by
    ``{"anonymous_id": ...}``) is not in Customer.io's v2 reference, so batch mode keeps it on
    the v1 endpoint (``batchable`` is ``False``).
    """

    batchable: ClassVar[bool] = False

    anonymous_id: str
    name: str
    data: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    type: str = attrs.field(default="event", kw_only=True)
    timestamp: Timestamp = attrs.field(default=None, kw_only=True)
    id: str | None = attrs.field(default=None, kw_only=True)

    def v1_request(self) -> ApiRequest:
        """``POST /api/v1/events``."""
        _check_anonymous_id(self.anonymous_id)
        body = _event_body(
            self.name,
            self.data,
            type=None if self.type == "event" else self.type,
            timestamp=self.timestamp,
            id=self.id,
            extra={"anonymous_id": self.anonymous_id},
        )
        return ApiRequest("POST", "/api/v1/events", dumps(body))

    def v2_operation(self) -> dict[str, Any]:
        """``{"type": "person", "identifiers": {"anonymous_id": ...}, "action": ...}``."""
        _check_anonymous_id(self.anonymous_id)
        return _person_operation(
            {"anonymous_id": self.anonymous_id},
            "page" if self.type == "page" else "event",
            name=self.name,
            attributes=None if self.data is None else dict(self.data),
            timestamp=self.timestamp,
            id=self.id,
        )


# ------------------------------------------------------------- the v2 forms, as functions


def identify_operation(customer_id: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """A v2 batch operation creating or updating a person with ``attributes``
    (`Identify`'s v2 form)."""
    return Identify(customer_id, attributes).v2_operation()


def event_operation(
    customer_id: str,
    name: str,
    data: Mapping[str, Any] | None = None,
    *,
    timestamp: int | datetime | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    """A v2 batch operation recording an event for a person (v2 calls event data
    ``attributes``); ``None`` fields are omitted (`Track`'s v2 form)."""
    return Track(customer_id, name, data, timestamp=timestamp, id=id).v2_operation()


def page_operation(
    customer_id: str,
    url: str,
    data: Mapping[str, Any] | None = None,
    *,
    timestamp: int | datetime | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    """A v2 batch operation recording a page view (``name`` is the URL) for a person
    (`Page`'s v2 form)."""
    return Page(customer_id, url, data, timestamp=timestamp, id=id).v2_operation()


def anonymous_event_operation(
    anonymous_id: str,
    name: str,
    data: Mapping[str, Any] | None = None,
    *,
    type: Literal["event", "page"] = "event",
    timestamp: int | datetime | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    """A v2 batch operation recording an event (or, with ``type="page"``, a page view) of a
    person not identified yet, addressed by ``{"identifiers": {"anonymous_id": ...}}``
    (`AnonymousTrack`'s v2 form).

    Customer.io's v2 reference does not document this shape; the engine sends anonymous events
    with
    [`CustomerIOClient.track_anonymous`][hull_customerio.customerio.CustomerIOClient.track_anonymous]
    (``POST /api/v1/events``) instead. Customer.io merges an anonymous event into the person whose
    ``anonymous_id`` attribute matches.
    """
    return AnonymousTrack(
        anonymous_id, name, data, type=type, timestamp=timestamp, id=id
    ).v2_operation()


def delete_operation(customer_id: str) -> dict[str, Any]:
    """A v2 batch operation deleting a person (`Delete`'s v2 form)."""
    return Delete(customer_id).v2_operation()
