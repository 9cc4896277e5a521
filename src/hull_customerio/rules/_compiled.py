"""What the rules derive from the settings alone, computed once per
[`Settings`][hull_customerio.Settings] object.

Planning reads the same settings for every user of a batch: which Hull names each whitelisted
attribute may arrive under, its Customer.io name, whether it is a date, the segment and event
filters as sets. Deriving them once per settings object, not once per user, is most of what
makes planning cheap. Nothing here changes a rule: each value is exactly what the per-user
code computed.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ..settings import Settings
from ._names import ACCOUNT_PREFIX, DATE_SUFFIXES, attribute_name

__all__ = [
    "AttributeSelector",
    "CompiledSettings",
    "account_selector",
    "compiled",
    "lookup",
    "other_name",
    "user_selector",
]

_TRAITS_PREFIX = "traits_"
MISSING: Any = object()
#: The attributes every planned person may have besides the whitelisted ones.
_BASE_ATTRIBUTES = ("email", "created_at", "hull_segments", "anonymous_id")


def other_name(name: str) -> str:
    """The other form Hull may send an attribute under: with or without ``traits_``."""
    return name[len(_TRAITS_PREFIX) :] if name.startswith(_TRAITS_PREFIX) else _TRAITS_PREFIX + name


def lookup(data: Mapping[str, Any], name: str, other: str, default: Any = None) -> Any:
    """``data[name]``, else ``data[other]``, else ``default``: how Hull attributes are read."""
    value = data.get(name, MISSING)
    if value is MISSING:
        return data.get(other, default)
    return value


class AttributeSelector(NamedTuple):
    """One whitelisted attribute: where to read it and what to call it."""

    from_account: bool
    name: str
    other: str
    target: str
    is_date: bool


class CompiledSettings:
    """The per-settings values the rules use for every user."""

    __slots__ = (
        "account_id_mapping",
        "account_segment_ids",
        "attribute_names_fit",
        "attribute_selectors",
        "events_filter",
        "read_account_whitelisted",
        "read_whitelisted",
        "segment_ids",
        "user_id_mapping",
    )

    def __init__(self, settings: Settings) -> None:
        selectors = [user_selector(name) for name in settings.synchronized_attributes]
        self.attribute_selectors: tuple[AttributeSelector, ...] = tuple(selectors)
        self.read_whitelisted: WhitelistReader = whitelist_reader(self.attribute_selectors)
        # Every name a planned person can have (the base attributes and each whitelisted
        # one's Customer.io name): when all are ASCII within the limit, no person's name is
        # checked again.
        names = [*_BASE_ATTRIBUTES, *(selector.target for selector in selectors)]
        self.attribute_names_fit: bool = all(
            name.isascii() and len(name) <= settings.max_attribute_name_length for name in names
        )
        self.events_filter: frozenset[str] = frozenset(settings.events_filter)
        self.segment_ids: frozenset[str] = frozenset(settings.synchronized_segments)
        self.user_id_mapping: tuple[str, str] = (
            settings.user_id_mapping,
            other_name(settings.user_id_mapping),
        )
        # Accounts: their whitelist is read from the account itself, named as users' are.
        self.read_account_whitelisted: WhitelistReader = whitelist_reader(
            tuple(account_selector(name) for name in settings.synchronized_account_attributes)
        )
        self.account_segment_ids: frozenset[str] = frozenset(settings.synchronized_account_segments)
        self.account_id_mapping: tuple[str, str] = (
            settings.account_id_mapping,
            other_name(settings.account_id_mapping),
        )


def user_selector(name: str) -> AttributeSelector:
    """How a name of ``synchronized_attributes`` is read: ``account.x`` from the user's
    account, anything else from the user; named by `attribute_name`."""
    from_account = name.startswith(ACCOUNT_PREFIX)
    key = name[len(ACCOUNT_PREFIX) :] if from_account else name
    return _selector(from_account, key, attribute_name(name))


def account_selector(name: str) -> AttributeSelector:
    """How a name of ``synchronized_account_attributes`` is read: from the account itself,
    named by `attribute_name` as a user's attribute is (``clearbit/name`` is sent as
    ``clearbit-name``, ``id`` as ``hull_id``)."""
    return _selector(False, name, attribute_name(name))


def _selector(from_account: bool, key: str, target: str) -> AttributeSelector:
    return AttributeSelector(
        from_account, key, other_name(key), target, target.endswith(DATE_SUFFIXES)
    )


#: ``read(user_get, account_get, attributes)``: copy each whitelisted attribute the user (read
#: with ``user_get``) or account (``account_get``) has into ``attributes``, in whitelist order.
Getter = Callable[[str, Any], Any]
WhitelistReader = Callable[[Getter, Getter, dict[str, Any]], None]


def whitelist_reader(selectors: tuple[AttributeSelector, ...]) -> WhitelistReader:
    """The function that reads the whitelisted attributes of a user, for these selectors.

    For each selector in whitelist order: the name, else its other form; an attribute the
    user (or account) has under neither is left out; a date is cast to unix seconds when it
    reads as one, else kept as it is.
    """
    from .._time import to_unix_seconds  # noqa: PLC0415  # _time is light; kept next to its use

    # Plain tuples: unpacking a NamedTuple goes through its iterator (only an exact tuple is
    # unpacked directly), which cost 0.6 µs of 2.9 per user of 20 attributes.
    steps = tuple(
        (selector.from_account, selector.name, selector.other, selector.target, selector.is_date)
        for selector in selectors
    )

    def read(user_get: Getter, account_get: Getter, attributes: dict[str, Any]) -> None:
        for from_account, key, other, target, is_date in steps:
            get = account_get if from_account else user_get
            value = get(key, MISSING)
            if value is MISSING:
                value = get(other, MISSING)
                if value is MISSING:
                    continue
            if is_date:
                seconds = to_unix_seconds(value)
                if seconds is not None:
                    value = seconds
            attributes[target] = value

    return read


# Keyed by id(), not by the settings' value: hashing a Settings hashes every field, which costs
# more than what is cached. The weak reference tells a live entry from a reused id, and its
# callback drops the entry when the settings object goes away.
_CACHE: dict[int, tuple[weakref.ref[Settings], CompiledSettings]] = {}


def compiled(settings: Settings) -> CompiledSettings:
    """The derived values of ``settings`` (computed on first use, then shared)."""
    key = id(settings)
    entry = _CACHE.get(key)
    if entry is not None and entry[0]() is settings:
        return entry[1]
    result = CompiledSettings(settings)

    def forget(_: weakref.ref[Settings]) -> None:
        stale = _CACHE.get(key)
        if stale is not None and stale[0]() is None:
            _CACHE.pop(key, None)  # another thread may have dropped it meanwhile

    _CACHE[key] = (weakref.ref(settings, forget), result)
    return result
