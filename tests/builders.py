"""Small builders for Hull messages and settings, so tests state only what their rule reads.

``user()`` starts from an identifiable Hull user (id, email, external id) who is in the one
synchronized segment; keyword arguments add attributes, and :data:`MISSING` removes one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hull_customerio.models.hull import UserUpdateMessage
from hull_customerio.settings import Settings

MISSING: Any = object()
"""Pass as an attribute value to remove that attribute from the built user."""

SYNCED_SEGMENT = {"id": "seg_1", "name": "Customers"}
OTHER_SEGMENT = {"id": "seg_2", "name": "Newsletter"}


def user(**attributes: Any) -> dict[str, Any]:
    """A Hull user as it arrives on the wire: ``id``, ``email``, ``external_id`` + ``attributes``.

    Names that are not Python identifiers (``customerio/created_at``) go through ``**{...}``.
    """
    data: dict[str, Any] = {
        "id": "hull-user-1",
        "email": "ada@example.com",
        "external_id": "cust-1",
    }
    for name, value in attributes.items():
        if value is MISSING:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def synced_user(**attributes: Any) -> dict[str, Any]:
    """A user already in Customer.io: ``customerio/created_at`` and ``customerio/id`` are set."""
    return user(**{"customerio/created_at": 1700000000, "customerio/id": "cust-1", **attributes})


def event(name: str = "Signed Up", **fields: Any) -> dict[str, Any]:
    """A Hull event as it arrives on the wire."""
    data: dict[str, Any] = {
        "event": name,
        "event_id": f"evt-{name}",
        "created_at": "2024-06-01T08:00:00Z",
        "properties": {},
        "context": {},
    }
    data.update(fields)
    return data


def raw_message(
    user_data: Mapping[str, Any] | None = None,
    *,
    segments: Iterable[Mapping[str, Any]] = (SYNCED_SEGMENT,),
    events: Iterable[Mapping[str, Any]] = (),
    account: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A ``user:update`` message dict as Hull sends it."""
    data: dict[str, Any] = {
        "user": dict(user_data if user_data is not None else user()),
        "segments": [dict(segment) for segment in segments],
        "events": [dict(item) for item in events],
        "changes": {},
    }
    if account is not None:
        data["account"] = dict(account)
    data.update(extra)
    return data


def message(
    user_data: Mapping[str, Any] | None = None,
    *,
    segments: Iterable[Mapping[str, Any]] = (SYNCED_SEGMENT,),
    events: Iterable[Mapping[str, Any]] = (),
    account: Mapping[str, Any] | None = None,
    **extra: Any,
) -> UserUpdateMessage:
    """A parsed ``user:update`` message (see :func:`raw_message`)."""
    return UserUpdateMessage.from_dict(
        raw_message(user_data, segments=segments, events=events, account=account, **extra)
    )


def settings(**overrides: Any) -> Settings:
    """Settings synchronizing ``seg_1``; everything else at its default unless overridden."""
    values: dict[str, Any] = {
        "site_id": "site",
        "api_key": "key",
        "synchronized_segments": ["seg_1"],
    }
    values.update(overrides)
    return Settings(**values)
