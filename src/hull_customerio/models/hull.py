"""What Hull sends about users: ``user:update`` messages, users, their segments and events.

Parsing is tolerant of keys it does not know and strict about the types of those it does. A
malformed message is reported with the field at fault and does not stop the others.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from cattrs.errors import AttributeValidationNote, ClassValidationError

from .._serialization import (
    JsonObject,
    TimestampLike,
    WrongTypeError,
    converter,
    describe,
    short_repr,
    structure,
    summarize,
)
from ..errors import ValidationError

__all__ = [
    "HullAccount",
    "HullAttributes",
    "HullEvent",
    "HullUser",
    "Segment",
    "UserUpdateMessage",
]

_TRAITS_PREFIX = "traits_"


class HullAttributes(Mapping[str, Any]):
    """Read-only attributes of a Hull user or account, as a mapping.

    Hull may send an attribute as ``x`` or with a ``traits_`` prefix (``traits_x``); looking up
    either name finds it in either form, so ``user["customerio/created_at"]`` also finds
    ``traits_customerio/created_at``. Iteration yields the names as they arrived.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = dict(data or {})

    def __getitem__(self, name: str) -> Any:
        data = self._data
        if name in data:
            return data[name]
        other = name[len(_TRAITS_PREFIX) :] if name.startswith(_TRAITS_PREFIX) else None
        if other is None:
            other = _TRAITS_PREFIX + name
        if other in data:
            return data[other]
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self[name]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        # Attribute values are personal data: show which attributes there are, not their values.
        return f"{type(self).__name__}(<{len(self._data)} attributes>)"

    def to_dict(self) -> dict[str, Any]:
        """The attributes as they arrived (a copy)."""
        return dict(self._data)


def attribute_data(attributes: HullAttributes) -> Mapping[str, Any]:
    """The attributes as they arrived, without copying them: for reading only.

    The rules read every user's attributes several times per plan; `HullAttributes.to_dict`
    would copy them for each user.
    """
    return attributes._data  # this module's own class


class HullAccount(HullAttributes):
    """The attributes of the Hull account a user belongs to."""

    __slots__ = ()


class HullUser(HullAttributes):
    """The attributes of a Hull user, with typed access to Hull's own top-level ones."""

    __slots__ = ()

    @property
    def id(self) -> str:
        """The Hull user id."""
        return str(self._data.get("id", ""))

    @property
    def email(self) -> str | None:
        """The email, or ``None``."""
        return self._data.get("email")

    @property
    def external_id(self) -> str | None:
        """The external id, or ``None``."""
        return self._data.get("external_id")

    @property
    def anonymous_ids(self) -> list[str]:
        """The anonymous ids, possibly empty."""
        return list(self._data.get("anonymous_ids") or [])

    @property
    def created_at(self) -> str | int | float | None:
        """When Hull created the user, as Hull sent it."""
        return self._data.get("created_at")

    @property
    def indexed_at(self) -> str | int | float | None:
        """When Hull last indexed the user, as Hull sent it."""
        return self._data.get("indexed_at")


def _check_optional_string(value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise WrongTypeError("a string or null", value)


def _check_timestamp(value: object) -> None:
    if value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool)):
        return
    raise WrongTypeError("a timestamp (string or number) or null", value)


def _check_string_list(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise WrongTypeError("a list of strings", value)


def _check_id(value: object) -> None:
    if not isinstance(value, str) or not value:
        raise WrongTypeError("a non-empty string", value)


# Hull's own top-level user attributes never carry the traits_ prefix.
_USER_FIELD_CHECKS = {
    "id": _check_id,
    "email": _check_optional_string,
    "external_id": _check_optional_string,
    "anonymous_ids": _check_string_list,
    "created_at": _check_timestamp,
    "indexed_at": _check_timestamp,
}


def _structure_user(value: object, _: object) -> HullUser:
    if not isinstance(value, dict):
        raise WrongTypeError("an object", value)
    problems: list[Exception] = []
    if "id" not in value:
        missing = KeyError("id")
        missing.__notes__ = [AttributeValidationNote("missing", "id", str)]  # type: ignore[attr-defined]
        problems.append(missing)
    for name, check in _USER_FIELD_CHECKS.items():
        if name not in value:
            continue
        try:
            check(value[name])
        except WrongTypeError as exc:
            exc.__notes__ = [AttributeValidationNote("invalid", name, object)]  # type: ignore[attr-defined]
            problems.append(exc)
    if problems:
        raise ClassValidationError("While structuring HullUser", problems, HullUser)
    return HullUser(value)


def _structure_account(value: object, _: object) -> HullAccount:
    if not isinstance(value, dict):
        raise WrongTypeError("an object", value)
    return HullAccount(value)


converter.register_structure_hook(HullUser, _structure_user)
converter.register_structure_hook(HullAccount, _structure_account)


@attrs.frozen
class Segment:
    """A Hull segment.

    Attributes:
        id: the segment id (what ``synchronized_segments`` lists).
        name: the segment name, when known.
    """

    id: str
    name: str | None = None


@attrs.frozen(kw_only=True)
class HullEvent:
    """A Hull event attached to a ``user:update`` message.

    Attributes:
        event: the event name (``page`` for page views).
        event_id: Hull's id of the event.
        properties: the event properties.
        context: the event context (``page_url``, ``referrer_url``, ``page``, ``referrer``...).
        created_at: when it happened, as Hull sent it.
        anonymous_id: the anonymous id the event was tracked with, if any.
        event_source: where Hull got the event from.
        event_type: Hull's type of the event.
    """

    event: str
    event_id: str | None = None
    properties: JsonObject = attrs.field(factory=dict)
    context: JsonObject = attrs.field(factory=dict)
    created_at: TimestampLike = None
    anonymous_id: str | None = None
    event_source: str | None = None
    event_type: str | None = None


@attrs.frozen(kw_only=True)
class UserUpdateMessage:
    """One ``user:update`` message: a user, their segments, account and new events.

    Attributes:
        user: the user's attributes ([`HullUser`][hull_customerio.HullUser]).
        segments: the segments the user belongs to, in message order.
        account: the user's account attributes, if the message has them.
        account_segments: the account segments the user's account belongs to.
        events: the user's new events.
        changes: what changed since the last message (as Hull sent it).
        message_id: Hull's id of the message, if any.
    """

    user: HullUser
    segments: tuple[Segment, ...] = ()
    account: HullAccount | None = None
    account_segments: tuple[Segment, ...] = ()
    events: tuple[HullEvent, ...] = ()
    changes: JsonObject = attrs.field(factory=dict)
    message_id: str | None = None

    @classmethod
    def from_dict(
        cls,
        mapping: Mapping[str, Any],
        *,
        segment_names: Mapping[str, str] | None = None,
        account_segment_names: Mapping[str, str] | None = None,
        index: int | None = None,
    ) -> UserUpdateMessage:
        """Parse one message as Hull sends it.

        Segments may arrive as ``segments`` (objects with ``id`` and ``name``) or as
        ``segment_ids``, at message level or inside ``user``; ids are then named from
        ``segment_names`` (the notification's segment list).

        Args:
            mapping: the message.
            segment_names: segment id to name, used when the message has only ids.
            account_segment_names: account-segment id to name, for the ``account_segments``
                that arrive without a name.
            index: the message's position in its batch, quoted in errors.

        Raises:
            ValidationError: naming the message and every field at fault.
        """
        if not isinstance(mapping, Mapping):
            raise _not_an_object(mapping, index, "user")
        data = dict(mapping)
        id_problems: list[str] = []
        if data.get("segments") is None:
            data["segments"], id_problems = _segments_from_ids(data, segment_names or {})
        elif segment_names:
            data["segments"] = _named_segments(data["segments"], segment_names)
        if data.get("events") is None:
            data["events"] = []
        if data.get("account_segments") is None:
            data["account_segments"] = []
        elif account_segment_names:
            data["account_segments"] = _named_segments(
                data["account_segments"], account_segment_names
            )
        message, problems = structure(data, cls)
        problems += id_problems
        if message is None or problems:
            raise _malformed(mapping, index, "user", problems)
        return message


def _segments_from_ids(
    data: Mapping[str, Any], names: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Segments named from the notification, and the problems, under the field actually sent."""
    ids, path = data.get("segment_ids"), "$.segment_ids"
    user = data.get("user")
    if ids is None and isinstance(user, Mapping):
        ids, path = user.get("segment_ids"), "$.user.segment_ids"
    if ids is None:
        return [], []
    if not isinstance(ids, list):
        return [], [f"{path}: expected a list, got {describe(ids)}"]
    problems = [
        f"{path}[{index}]: expected a string, got {describe(item)}"
        for index, item in enumerate(ids)
        if not isinstance(item, str)
    ]
    return [{"id": i, "name": names.get(i)} for i in ids if isinstance(i, str)], problems


def _named_segments(segments: object, names: Mapping[str, str]) -> object:
    if not isinstance(segments, list):
        return segments
    return [_named_segment(segment, names) for segment in segments]


def _named_segment(segment: object, names: Mapping[str, str]) -> object:
    if isinstance(segment, Mapping) and segment.get("name") is None:
        segment_id = segment.get("id")
        if isinstance(segment_id, str) and segment_id in names:
            return {**segment, "name": names[segment_id]}
    return segment


def _describe_message(mapping: object, index: int | None, subject: str) -> str:
    """How an error names a message: its position, ``message_id`` and the id of its
    ``subject`` (``user`` or ``account``), as far as they can be read."""
    parts = []
    if isinstance(mapping, Mapping):
        message_id = mapping.get("message_id")
        if isinstance(message_id, str):
            parts.append(f"message_id {short_repr(message_id)}")
        owner = mapping.get(subject)
        if isinstance(owner, Mapping) and isinstance(owner.get("id"), str):
            parts.append(f"{subject} {short_repr(owner['id'])}")
    label = "Message" if index is None else f"Message {index}"
    return f"{label} ({', '.join(parts)})" if parts else label


def _not_an_object(mapping: object, index: int | None, subject: str) -> ValidationError:
    """The error of a message that is not a JSON object at all."""
    where = _describe_message(mapping, index, subject)
    return ValidationError(
        f"{where} is malformed: expected an object, got {describe(mapping)}",
        [f"$: expected an object, got {describe(mapping)}"],
    )


def _malformed(
    mapping: object, index: int | None, subject: str, problems: list[str]
) -> ValidationError:
    """The error of a message with ``problems``, naming the message and every problem."""
    where = _describe_message(mapping, index, subject)  # only when it is needed: it costs
    return ValidationError(f"{where} is malformed: " + summarize(problems), problems)
