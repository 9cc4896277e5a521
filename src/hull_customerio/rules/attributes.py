"""The person's attributes: base attributes, whitelist, renaming, date casting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._time import common_millis, to_unix_seconds
from ..models.hull import UserUpdateMessage, attribute_data
from ..settings import Settings
from ._compiled import CompiledSettings, compiled, lookup
from ._names import ACCOUNT_PREFIX, DATE_SUFFIXES, attribute_name
from .segments import segment_names

__all__ = ["ACCOUNT_PREFIX", "attribute_name", "build_attributes", "cast_date"]


def cast_date(name: str, value: Any) -> Any:
    """Dates under ``*_at`` / ``*_date`` names become integer unix seconds; the rest is unchanged.

    A date is an ISO-8601 date or datetime string, or an epoch number in seconds or
    milliseconds. Strings of digits are not dates (they are left unchanged).
    """
    if not name.endswith(DATE_SUFFIXES):
        return value
    seconds = to_unix_seconds(value)
    return value if seconds is None else seconds


def build_attributes(message: UserUpdateMessage, settings: Settings) -> dict[str, Any]:
    """The person's attributes, in the order listed below (without the Customer.io id).

    ``email``, ``created_at`` (integer unix seconds, omitted when unknown), ``hull_segments``
    (every segment's name), ``anonymous_id`` (the first Hull anonymous id, only with
    ``anonymous_events`` on), then each whitelisted attribute the user (or account) has.
    """
    return attributes_of(message, settings, message.user.to_dict())


def attributes_of(
    message: UserUpdateMessage,
    settings: Settings,
    user_data: Mapping[str, Any],
    derived: CompiledSettings | None = None,
) -> dict[str, Any]:
    """`build_attributes` reading the user from ``user_data`` (``message.user``'s dict);
    ``derived`` is ``compiled(settings)`` when the caller has it already."""
    user = message.user
    attributes: dict[str, Any] = {"email": lookup(user_data, "email", "traits_email")}
    created_at = user.created_at
    # The commonest timestamp form first, without the general rule's type checks.
    millis = common_millis(created_at) if type(created_at) is str else None
    seconds = millis // 1000 if millis is not None else to_unix_seconds(created_at)
    if seconds is not None:
        attributes["created_at"] = seconds
    attributes["hull_segments"] = segment_names(message)
    if settings.anonymous_events and user.anonymous_ids:
        attributes["anonymous_id"] = user.anonymous_ids[0]

    account = attribute_data(message.account) if message.account is not None else {}
    # Each whitelisted name was resolved once per settings (where it is read, its other form
    # with or without ``traits_``, its Customer.io name, whether it is a date), and the reading
    # compiled into one function.
    (derived or compiled(settings)).read_whitelisted(user_data.get, account.get, attributes)
    return attributes
