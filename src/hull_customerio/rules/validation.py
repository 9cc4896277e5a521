"""Customer.io's limits, checked before any call (SPEC §2.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._serialization import compact_json
from ..settings import Settings

__all__ = ["event_too_large", "validate_person", "value_size"]

_QUOTE_AT_MOST = 40


def value_size(value: Any) -> int:
    """The size Customer.io counts for a value: UTF-8 bytes; lists and objects as compact JSON."""
    if isinstance(value, str):
        return len(value.encode())
    # Scalars whose JSON text is known without serialising: planning measures every value.
    if value is None or value is True:
        return 4
    if value is False:
        return 5
    if type(value) is int:
        return len(str(value))
    return len(compact_json(value).encode())


def _quoted(name: str) -> str:
    if len(name) <= _QUOTE_AT_MOST:
        return repr(name)
    return repr(name[:_QUOTE_AT_MOST] + "...")


def validate_person(
    customer_id: str | None, attributes: Mapping[str, Any], settings: Settings
) -> list[str]:
    """Every violation of the configured limits, each as a sentence quoting the limit.

    Values are never quoted (they are personal data); attribute names are, shortened.
    """
    problems = []
    count = len(attributes)
    if count > settings.max_attributes_per_person:
        problems.append(
            f"The person has {count} attributes; the limit is "
            f"{settings.max_attributes_per_person} (max_attributes_per_person)."
        )
    if customer_id is not None:
        size = len(customer_id.encode())
        if size > settings.max_identifier_value_length:
            problems.append(
                f"The Customer.io id is {size} bytes long; the limit is "
                f"{settings.max_identifier_value_length} bytes (max_identifier_value_length)."
            )
    for name, value in attributes.items():
        size = len(name.encode())
        if size > settings.max_attribute_name_length:
            problems.append(
                f"Attribute name {_quoted(name)} is {size} bytes long; the limit is "
                f"{settings.max_attribute_name_length} bytes (max_attribute_name_length)."
            )
        size = value_size(value)
        if size > settings.max_attribute_value_length:
            problems.append(
                f"The value of attribute {_quoted(name)} is {size} bytes long; the limit is "
                f"{settings.max_attribute_value_length} bytes (max_attribute_value_length)."
            )
    return problems


def event_too_large(name: str, data: Mapping[str, Any], settings: Settings) -> bool:
    """Whether Customer.io would refuse an event for its size (checked per event).

    Too large: a name (a page view's url) longer than ``max_event_name_length`` bytes, or data
    larger than ``max_event_data_size`` bytes as compact JSON.
    """
    if len(name.encode()) > settings.max_event_name_length:
        return True
    return value_size(data) > settings.max_event_data_size
