"""A Hull smart-notifier notification: its envelope, settings and messages.

``user:update`` notifications carry [`UserUpdateMessage`][hull_customerio.UserUpdateMessage]s,
``account:update`` ones [`AccountUpdateMessage`][hull_customerio.AccountUpdateMessage]s; a
malformed message is listed on its own and does not fail the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .._serialization import describe, structure, summarize
from ..errors import ValidationError
from ..settings import Settings
from .account import AccountUpdateMessage
from .hull import Segment, UserUpdateMessage

__all__ = ["HullConfiguration", "MalformedMessage", "Notification", "parse_notification"]


@attrs.frozen(kw_only=True)
class HullConfiguration:
    """The connector's Hull credentials as a notification carries them.

    Attributes:
        id: the connector id.
        organization: the organization host, e.g. ``abc123.hullapp.io``.
        secret: the connector secret; never shown in ``repr``.
    """

    id: str | None = None
    organization: str | None = None
    secret: str | None = attrs.field(default=None, repr=lambda v: "None" if v is None else "'***'")


@attrs.frozen(kw_only=True)
class MalformedMessage:
    """A message of a notification that could not be parsed.

    Attributes:
        index: its position in the notification's ``messages``.
        message_id: its ``message_id``, when readable.
        user_id: its ``user.id``, when readable.
        error: what is wrong with it.
        account_id: its ``account.id``, when an ``account:update`` message and readable.
    """

    index: int
    message_id: str | None
    user_id: str | None
    error: ValidationError = attrs.field(eq=False)
    account_id: str | None = None


@attrs.frozen(kw_only=True)
class Notification:
    """A Hull smart-notifier notification.

    Attributes:
        channel: ``user:update`` or ``account:update``, the notifications this library
            handles.
        settings: the connector settings, from ``connector.private_settings``.
        messages: the well-formed ``user:update`` messages, in order.
        malformed: the messages that could not be parsed; each must become an error outcome.
        segments: the segments the notification lists.
        is_export: whether the messages come from a manual batch or an export.
        notification_id: Hull's id of the notification.
        configuration: the connector's Hull credentials, if the notification carries them.
        account_messages: the well-formed ``account:update`` messages, in order.
        account_segments: the account segments the notification lists
            (``accounts_segments``).
    """

    channel: str
    settings: Settings
    messages: list[UserUpdateMessage]
    malformed: list[MalformedMessage] = attrs.field(factory=list)
    segments: tuple[Segment, ...] = ()
    is_export: bool = False
    notification_id: str | None = None
    configuration: HullConfiguration | None = None
    account_messages: list[AccountUpdateMessage] = attrs.field(factory=list)
    account_segments: tuple[Segment, ...] = ()


@attrs.frozen(kw_only=True)
class _Envelope:
    channel: str = "user:update"
    notification_id: str | None = None
    configuration: HullConfiguration | None = None
    segments: tuple[Segment, ...] = ()
    is_export: bool = False
    accounts_segments: tuple[Segment, ...] = ()


#: The channel whose messages are accounts; every other channel's messages are read as users.
ACCOUNT_UPDATE = "account:update"


def parse_notification(payload: Mapping[str, Any]) -> Notification:
    """Parse a smart-notifier notification.

    Malformed messages do not fail the notification: they are listed in
    `Notification.malformed` so each can be reported as an error outcome. The messages of an
    ``account:update`` notification are read as accounts (`Notification.account_messages`),
    those of any other channel as users (`Notification.messages`).

    Raises:
        ValidationError: the envelope itself is malformed (not an object, wrong ``messages``
            type, wrong ``segments``...).
        ConfigurationError: ``connector.private_settings`` is invalid.
    """
    if not isinstance(payload, Mapping):
        raise ValidationError(
            f"The notification is malformed: expected an object, got {describe(payload)}"
        )
    envelope, problems = structure(
        {key: value for key, value in payload.items() if value is not None}, _Envelope
    )
    messages_raw = payload.get("messages")
    if messages_raw is None:
        messages_raw = []
    if not isinstance(messages_raw, list):
        problems.append(f"$.messages: expected a list, got {describe(messages_raw)}")
    connector = payload.get("connector")
    if connector is not None and not isinstance(connector, Mapping):
        problems.append(f"$.connector: expected an object, got {describe(connector)}")
        connector = None
    if envelope is None or problems:
        raise ValidationError("The notification is malformed: " + summarize(problems), problems)

    private_settings = (connector or {}).get("private_settings") or {}
    settings = Settings.from_private_settings(private_settings)
    names = {s.id: s.name for s in envelope.segments if s.name is not None}
    account_names = {s.id: s.name for s in envelope.accounts_segments if s.name is not None}

    messages: list[UserUpdateMessage] = []
    account_messages: list[AccountUpdateMessage] = []
    malformed: list[MalformedMessage] = []
    for index, raw in enumerate(messages_raw):
        try:
            if envelope.channel == ACCOUNT_UPDATE:
                account_messages.append(
                    AccountUpdateMessage.from_dict(raw, segment_names=account_names, index=index)
                )
            else:
                messages.append(
                    UserUpdateMessage.from_dict(
                        raw,
                        segment_names=names,
                        account_segment_names=account_names,
                        index=index,
                    )
                )
        except ValidationError as exc:
            malformed.append(_malformed(index, raw, exc))
    return Notification(
        channel=envelope.channel,
        settings=settings,
        messages=messages,
        malformed=malformed,
        segments=envelope.segments,
        is_export=envelope.is_export,
        notification_id=envelope.notification_id,
        configuration=envelope.configuration,
        account_messages=account_messages,
        account_segments=envelope.accounts_segments,
    )


def _malformed(index: int, raw: object, error: ValidationError) -> MalformedMessage:
    message_id = user_id = account_id = None
    if isinstance(raw, Mapping):
        if isinstance(raw.get("message_id"), str):
            message_id = raw["message_id"]
        user, account = raw.get("user"), raw.get("account")
        if isinstance(user, Mapping) and isinstance(user.get("id"), str):
            user_id = user["id"]
        if isinstance(account, Mapping) and isinstance(account.get("id"), str):
            account_id = account["id"]
    return MalformedMessage(
        index=index, message_id=message_id, user_id=user_id, account_id=account_id, error=error
    )
