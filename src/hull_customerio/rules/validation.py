"""Customer.io's limits, checked before any call (SPEC §2.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._serialization import compact_json, unsendable
from ..settings import Settings

__all__ = ["validate_person", "value_size"]

_QUOTE_AT_MOST = 40


#: What measuring a value that JSON cannot carry raises: text with lone surrogates, an int too
#: long to print, NaN or infinity, nesting that overflows the encoder, a non-JSON object.
UNSENDABLE_ERRORS = (ValueError, TypeError, RecursionError)


def value_size(value: Any) -> int:
    """The size Customer.io counts for a value: UTF-8 bytes; lists and objects as compact JSON.

    Raises:
        ValueError: JSON cannot carry the value (lone surrogates, NaN, an int too long to
            print, nesting deeper than 100 levels, a non-JSON object).
    """
    if isinstance(value, str):
        return len(value.encode())
    # Scalars whose JSON text is known without serialising: planning measures every value.
    if value is None or value is True:
        return 4
    if value is False:
        return 5
    if type(value) is int:
        return len(str(value))
    problem = unsendable(value)
    if problem is not None:
        raise ValueError(problem)
    return len(compact_json(value).encode())


def _size(text_or_value: Any, *, text: bool = False) -> int | None:
    """The measured size, or ``None`` when the value cannot be sent at all."""
    try:
        return len(text_or_value.encode()) if text else value_size(text_or_value)
    except UNSENDABLE_ERRORS:
        return None


def _quoted(name: str) -> str:
    if len(name) <= _QUOTE_AT_MOST:
        return repr(name)
    return repr(name[:_QUOTE_AT_MOST] + "...")


def validate_person(
    customer_id: str | None, attributes: Mapping[str, Any], settings: Settings
) -> list[str]:
    """Every violation of the configured limits, each as a sentence quoting the limit.

    Values are never quoted (they are personal data); attribute names are, shortened. A value
    JSON cannot carry (text that is not valid Unicode, NaN, absurd nesting) is a problem too.
    """
    problems = []
    if customer_id is not None:
        size = _size(customer_id, text=True)
        if size is None:
            problems.append("The Customer.io id is not valid Unicode text.")
        elif size > settings.max_identifier_value_length:
            problems.append(
                f"The Customer.io id is {size} bytes long; the limit is "
                f"{settings.max_identifier_value_length} bytes (max_identifier_value_length)."
            )
    for name, value in attributes.items():
        size = _size(name, text=True)
        if size is None:
            problems.append(f"Attribute name {_quoted(name)} is not valid Unicode text.")
            continue
        if size > settings.max_attribute_name_length:
            problems.append(
                f"Attribute name {_quoted(name)} is {size} bytes long; the limit is "
                f"{settings.max_attribute_name_length} bytes (max_attribute_name_length)."
            )
        size = _size(value)
        if size is None:
            problems.append(
                f"The value of attribute {_quoted(name)} cannot be sent: it is not valid JSON "
                "(text that is not valid Unicode, a number that is not finite or too long, or "
                "nesting too deep)."
            )
        elif size > settings.max_attribute_value_length:
            problems.append(
                f"The value of attribute {_quoted(name)} is {size} bytes long; the limit is "
                f"{settings.max_attribute_value_length} bytes (max_attribute_value_length)."
            )
    return problems
