"""The connector's settings, read from Hull's ``private_settings``."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import attrs

from ._serialization import describe, is_encodable, short_repr
from .errors import ConfigurationError

__all__ = ["Region", "Settings"]

Region = Literal["us", "eu", "auto"]
_REGIONS: tuple[Region, ...] = ("us", "eu", "auto")


def _redacted(value: object) -> str:
    return "None" if value is None else "'***'"


def _list_as_tuple(value: Iterable[str]) -> Any:
    # Only real lists become tuples: tuple("abc") would make a string a list of characters.
    return tuple(value) if isinstance(value, (list, tuple)) else value


@attrs.frozen(kw_only=True)
class Settings:
    """How the connector behaves; an immutable value.

    Build it from Hull's connector settings with `from_private_settings`, or call the
    constructor; both apply the same rules (numeric strings read as numbers, a string is never
    taken for a list) and raise [`ConfigurationError`][hull_customerio.errors.ConfigurationError]
    listing every problem, in short sentences that never echo a huge value.

    Attributes:
        site_id: Customer.io Site ID (HTTP Basic user). Required to send.
        api_key: Customer.io Track API key (HTTP Basic password). Required to send; never
            shown in ``repr``.
        region: Track API host: ``"us"``, ``"eu"``, or ``"auto"`` (asked of Customer.io once).
        synchronized_segments: Hull segment ids whose users are sent. Empty: nobody is sent.
        synchronized_attributes: extra Hull attributes to send (``x``, ``traits_x``,
            ``account.x``).
        user_id_mapping: the Hull attribute used as the Customer.io id.
        enable_user_deletion: delete people from Customer.io when their user leaves every
            synchronized segment.
        events_filter: Hull event names to forward; ``"page"`` forwards page views.
        anonymous_events: forward the events of users that cannot be identified.
        max_attributes_per_call: attributes per identify call, 1 to 300.
        max_attribute_name_length: bytes (UTF-8) an attribute name may have.
        max_attribute_value_length: bytes (UTF-8, compact JSON for lists and objects) a value
            may have.
        max_identifier_value_length: bytes (UTF-8) the Customer.io id may have.
        max_attributes_per_person: attributes one person may carry (``anonymous_id``
            included); more makes the user an error.
        max_event_name_length: bytes (UTF-8) an event name may have; a page view is named by
            its url. A longer one skips that event.
        max_event_data_size: bytes of an event's data as compact JSON. Larger skips that
            event.
        webhook_signing_key: the reporting-webhook signing key; ``None`` skips verification.
            Never shown in ``repr``.
        synchronized_account_segments: Hull account-segment ids whose accounts are sent as
            Customer.io objects. Empty: no object is sent.
        synchronized_account_attributes: account attributes sent as object attributes (names
            rewritten as for people: ``clearbit/name`` becomes ``clearbit-name``).
        account_id_mapping: the account attribute used as the object's id (``external_id``,
            ``id``, ``domain`` or any other attribute).
        object_type_id: the Customer.io object type accounts are sent as: a positive integer,
            kept as a string (``"1"``). An id Customer.io does not know would silently create
            a new object type, so anything else is refused.
        link_users_to_accounts: relate each identified person to their account's object when
            the account is in a synchronized account segment.
        enable_account_deletion: delete the object when its account leaves every synchronized
            account segment.
    """

    site_id: str | None = None
    api_key: str | None = attrs.field(default=None, repr=_redacted)
    region: Region = "us"
    synchronized_segments: tuple[str, ...] = attrs.field(default=(), converter=_list_as_tuple)
    synchronized_attributes: tuple[str, ...] = attrs.field(default=(), converter=_list_as_tuple)
    user_id_mapping: str = "external_id"
    enable_user_deletion: bool = False
    events_filter: tuple[str, ...] = attrs.field(default=(), converter=_list_as_tuple)
    anonymous_events: bool = False
    max_attributes_per_call: int = 30
    max_attribute_name_length: int = 150
    max_attribute_value_length: int = 1000
    max_identifier_value_length: int = 150
    max_attributes_per_person: int = 300
    max_event_name_length: int = 100
    max_event_data_size: int = 100_000
    webhook_signing_key: str | None = attrs.field(default=None, repr=_redacted)
    synchronized_account_segments: tuple[str, ...] = attrs.field(
        default=(), converter=_list_as_tuple
    )
    synchronized_account_attributes: tuple[str, ...] = attrs.field(
        default=(), converter=_list_as_tuple
    )
    account_id_mapping: str = "external_id"
    object_type_id: str = "1"
    link_users_to_accounts: bool = True
    enable_account_deletion: bool = False

    def __attrs_post_init__(self) -> None:
        # The constructor is public too: it applies the same rules as from_private_settings
        # (numeric strings read as numbers, a string is not a list...), so a bad value fails
        # here and not later, in the middle of a sync.
        problems: list[str] = []
        for key, read in _READERS.items():
            value = getattr(self, key)
            if value is None and key in _OPTIONAL:
                continue
            try:
                checked = read(key, value)
            except _InvalidSettingError as problem:
                problems.append(str(problem))
                continue
            if checked is not value:
                # attrs' own way to normalise a frozen instance during initialisation.
                object.__setattr__(self, key, checked)
        if problems:
            raise ConfigurationError(problems)

    @classmethod
    def from_private_settings(cls, mapping: Mapping[str, Any]) -> Settings:
        """Read and check Hull ``private_settings``.

        Unknown keys are ignored. A key whose value is ``None`` takes its default (Hull stores
        unset fields as ``null``). Numeric settings also accept numeric strings.

        Raises:
            ConfigurationError: listing every problem found, not just the first.
        """
        if not isinstance(mapping, Mapping):
            raise ConfigurationError(
                [f"private_settings must be an object, got {describe(mapping)}"]
            )
        # The constructor checks every value and lists every problem.
        values = {key: mapping[key] for key in _READERS if mapping.get(key) is not None}
        return cls(**values)

    @property
    def has_credentials(self) -> bool:
        """Whether both ``site_id`` and ``api_key`` are set (non-blank)."""
        return bool(self.site_id and self.site_id.strip() and self.api_key and self.api_key.strip())


class _InvalidSettingError(Exception):
    pass


#: Keys that may be ``None`` (unset); every other key always has a value.
_OPTIONAL = frozenset({"site_id", "api_key", "webhook_signing_key"})
#: Bad items named in a message about a list, before "and N more".
_ITEMS_SHOWN = 3


def _string(key: str, raw: object) -> str:
    if not isinstance(raw, str):
        raise _InvalidSettingError(f"{key} must be a string, got {describe(raw)}")
    if not is_encodable(raw):
        raise _InvalidSettingError(f"{key} must be a string of valid Unicode text")
    return raw


def _region(key: str, raw: object) -> Region:
    value = _string(key, raw).strip().lower()
    if value not in _REGIONS:
        raise _InvalidSettingError(
            f"{key} must be one of 'us', 'eu', 'auto', got {short_repr(raw)}"
        )
    return value


def _mapping_name(key: str, raw: object) -> str:
    value = _string(key, raw).strip()
    if not value:
        raise _InvalidSettingError(f"{key} must name a Hull attribute, got an empty string")
    return value


#: Longer object type ids are no type anyone has (Customer.io numbers them from 1).
_MAX_TYPE_ID_DIGITS = 18


def _object_type_id(key: str, raw: object) -> str:
    # An unknown id would silently create a new object type in Customer.io: only a positive
    # whole number is taken, as an int or as the text of one (kept as that text, stripped).
    # Customer.io compares type ids as text, so "01" (another type than "1") is refused.
    if isinstance(raw, int) and not isinstance(raw, bool):
        text = str(raw)
    elif isinstance(raw, str):
        text = raw.strip()
    else:
        raise _InvalidSettingError(
            f"{key} must be a positive whole number (the object type's id), got {describe(raw)}"
        )
    digits = text.isascii() and text.isdigit() and len(text) <= _MAX_TYPE_ID_DIGITS
    if not digits or text.startswith("0"):
        raise _InvalidSettingError(
            f"{key} must be a positive whole number (the object type's id), got {short_repr(raw)}"
        )
    return text


def _string_list(key: str, raw: object) -> tuple[str, ...]:
    if not isinstance(raw, (list, tuple)):
        raise _InvalidSettingError(f"{key} must be a list of strings, got {describe(raw)}")
    bad = [i for i, item in enumerate(raw) if not (isinstance(item, str) and is_encodable(item))]
    if bad:
        shown = ", ".join(str(i) for i in bad[:_ITEMS_SHOWN])
        more = f", ... ({len(bad)} in all)" if len(bad) > _ITEMS_SHOWN else ""
        raise _InvalidSettingError(
            f"{key} must be a list of strings; item(s) [{shown}{more}] are not strings"
        )
    return raw if isinstance(raw, tuple) else tuple(raw)


def _boolean(key: str, raw: object) -> bool:
    if not isinstance(raw, bool):
        raise _InvalidSettingError(f"{key} must be true or false, got {describe(raw)}")
    return raw


#: The largest number a setting may hold when it has no bound of its own: the largest integer
#: a JSON number keeps exactly everywhere (2**53 - 1); anything larger is no setting anyone means.
_MAX_NUMBER = 2**53 - 1
#: Longer numeric strings are no setting anyone means (and int() refuses past 4300 digits).
_MAX_NUMBER_TEXT = 30


def _integer(low: int, high: int | None) -> Callable[[str, object], int]:
    def read(key: str, raw: object) -> int:
        expected = f"{key} must be a whole number"
        if isinstance(raw, bool):
            raise _InvalidSettingError(f"{expected}, got a boolean")
        value = _number_from_text(raw) if isinstance(raw, str) else raw
        if isinstance(value, float):
            if not (math.isfinite(value) and value.is_integer()):
                raise _InvalidSettingError(f"{expected}, got {short_repr(raw)}")
            value = int(value)
        if not isinstance(value, int):
            shown = short_repr(raw) if isinstance(raw, str) else describe(raw)
            raise _InvalidSettingError(f"{expected}, got {shown}")
        # Ints compare exactly whatever their size; only a small one is ever shown.
        if high is not None and not low <= value <= high:
            bounds = f"from {low} to {high}"
        elif value < low:
            bounds = f"at least {low}"
        elif value > _MAX_NUMBER:
            bounds = f"at most {_MAX_NUMBER}"
        else:
            return value
        raise _InvalidSettingError(f"{key} must be {bounds}, got {short_repr(value)}")

    return read


def _number_from_text(text: str) -> int | float | None:
    """The number a numeric string holds (Hull's settings UI stores some numbers as text)."""
    text = text.strip()
    if not text or len(text) > _MAX_NUMBER_TEXT:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


_BOUNDS: tuple[tuple[str, int, int | None], ...] = (
    ("max_attributes_per_call", 1, 300),
    ("max_attribute_name_length", 1, None),
    ("max_attribute_value_length", 1, None),
    ("max_identifier_value_length", 1, None),
    ("max_attributes_per_person", 1, None),
    ("max_event_name_length", 1, None),
    ("max_event_data_size", 1, None),
)

_READERS: Mapping[str, Callable[[str, object], Any]] = {
    "site_id": _string,
    "api_key": _string,
    "region": _region,
    "synchronized_segments": _string_list,
    "synchronized_attributes": _string_list,
    "user_id_mapping": _mapping_name,
    "enable_user_deletion": _boolean,
    "events_filter": _string_list,
    "anonymous_events": _boolean,
    **{name: _integer(low, high) for name, low, high in _BOUNDS},
    "webhook_signing_key": _string,
    "synchronized_account_segments": _string_list,
    "synchronized_account_attributes": _string_list,
    "account_id_mapping": _mapping_name,
    "object_type_id": _object_type_id,
    "link_users_to_accounts": _boolean,
    "enable_account_deletion": _boolean,
}
