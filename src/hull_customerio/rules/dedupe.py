"""One message per Hull user, and per Hull account."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from .._time import to_unix_millis
from ..models.account import AccountUpdateMessage
from ..models.hull import HullEvent, UserUpdateMessage

__all__ = ["deduplicate_account_messages", "deduplicate_messages"]


def deduplicate_messages(messages: Iterable[UserUpdateMessage]) -> list[UserUpdateMessage]:
    """Keep one message per Hull user (``user.id``), in the order users first appear.

    The kept message is the one with the greatest ``user.indexed_at`` (a missing or unreadable
    value sorts first; on a tie the later message wins). Its events become the union of the
    events of all that user's messages, de-duplicated by ``event_id`` (the later occurrence
    wins) in first-seen order. Events without an ``event_id`` cannot be told apart and are all
    kept.
    """
    kept: dict[str, tuple[tuple[int, int], UserUpdateMessage]] = {}
    events: dict[str, dict[object, HullEvent]] = {}
    for position, message in enumerate(messages):
        user_id = message.user.id
        rank = _rank(message.user.indexed_at)
        current = kept.get(user_id)
        if current is None or rank >= current[0]:
            kept[user_id] = (rank, message)
        user_events = events.setdefault(user_id, {})
        for number, event in enumerate(message.events):
            key: object = event.event_id if event.event_id is not None else (position, number)
            # Assigning to an existing key keeps its first-seen position and takes the later
            # occurrence's value: exactly the rule.
            user_events[key] = event
    return [_with_events(message, tuple(events[user_id].values()))
            for user_id, (_, message) in kept.items()]  # fmt: skip


def _with_events(message: UserUpdateMessage, events: tuple[HullEvent, ...]) -> UserUpdateMessage:
    return message if events == message.events else attrs.evolve(message, events=events)


def deduplicate_account_messages(
    messages: Iterable[AccountUpdateMessage],
) -> list[AccountUpdateMessage]:
    """Keep one message per Hull account (``account["id"]``), in the order accounts first appear.

    The kept message is the one with the greatest ``account["indexed_at"]`` (a missing or
    unreadable value sorts first; on a tie the later message wins), as for users.
    """
    kept: dict[str, tuple[tuple[int, int], AccountUpdateMessage]] = {}
    for message in messages:
        account_id = message.account_id
        rank = _rank(message.account.get("indexed_at"))
        current = kept.get(account_id)
        if current is None or rank >= current[0]:
            kept[account_id] = (rank, message)
    return [message for _, message in kept.values()]


def _rank(indexed_at: object) -> tuple[int, int]:
    indexed = to_unix_millis(indexed_at)
    # A missing value sorts before every time, even one before 1970 (a negative number).
    return (0, 0) if indexed is None else (1, indexed)
