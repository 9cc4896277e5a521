"""Customer.io's limits, checked before any call."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .._serialization import MAX_NESTING, compact_json, unsendable
from ..settings import Settings

__all__ = [
    "attribute_problems",
    "event_too_large",
    "identifier_problems",
    "validate_person",
    "value_size",
]

_QUOTE_AT_MOST = 40
#: Types whose JSON text never exceeds 24 bytes: ``false``, ``null``, and a float's repr (at most
#: ``-2.2250738585072014e-308``; ``-Infinity`` for the infinities).
_AT_MOST_24_BYTES = frozenset({bool, float, type(None)})


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
        # ASCII text is one byte per character: no need to encode it to count.
        return len(value) if value.isascii() else len(value.encode())
    # Scalars whose JSON text is known without serialising: planning measures every value.
    if value is None or value is True:
        return 4
    if value is False:
        return 5
    if type(value) is int:
        return len(str(value))
    if type(value) is float and math.isfinite(value):
        return len(repr(value))  # JSON writes a finite float as its repr (ASCII)
    if type(value) is list:
        size = _plain_strings_size(value)
        if size is not None:
            return size
    elif type(value) is dict:
        size = flat_object_size(value)
        if size is not None:
            return size
    problem = unsendable(value)
    if problem is not None:
        raise ValueError(problem)
    return len(compact_json(value).encode())


def _plain_string(text: str) -> bool:
    """Whether JSON writes ``text`` as it is (printable ASCII, no ``"`` or ``\\``)."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def flat_object_size(mapping: dict[Any, Any]) -> int | None:
    """The compact-JSON size of a flat object, without serialising it; ``None``: not flat.

    Flat: plain-string keys (see `_plain_string`) and values that are plain strings,
    ``int`` of up to 64 bits, finite ``float``, ``bool``, ``None`` or lists of plain strings,
    the usual shape of event data. Anything else (nested objects, other text, a non-finite or
    huge number) is measured, or refused, by the general rule.
    """
    size = len(mapping) + 1  # the braces, the commas between members
    for key, item in mapping.items():
        # `_plain_string`, inlined: this runs for every key and value of every event.
        if (
            type(key) is not str
            or not (key.isascii() and key.isprintable())
            or '"' in key
            or "\\" in key
        ):
            return None
        size += len(key) + 3  # the quotes and the colon
        kind = type(item)
        if kind is str:
            if not (item.isascii() and item.isprintable()) or '"' in item or "\\" in item:
                return None
            size += len(item) + 2
        elif kind is int and item.bit_length() <= 64:  # longer ones: the general rule
            size += len(str(item))
        elif kind is float and math.isfinite(item):
            size += len(repr(item))
        elif item is True or item is None:
            size += 4
        elif item is False:
            size += 5
        elif kind is list:
            listed = _plain_strings_size(item)
            if listed is None:
                return None
            size += listed
        else:
            return None
    return size if mapping else 2


def _plain_strings_size(values: list[Any]) -> int | None:
    """The compact-JSON size of a list of strings JSON writes as they are, else ``None``.

    Such a string is printable ASCII without ``"`` or ``\\`` (nothing to escape): its JSON is
    itself in quotes. A list of segment names (``hull_segments``) is usually one.
    """
    size = len(values) + 1  # the brackets and the commas between items
    for item in values:
        if type(item) is not str or not (item.isascii() and item.isprintable()):
            return None
        if '"' in item or "\\" in item:
            return None
        size += len(item) + 2
    return size if values else 2


#: Ints of up to 64 bits print in at most 20 characters (``-9223372036854775808``).
_SHORT_INT_BITS = 64


def plainly_valid(
    customer_id: str, attributes: Mapping[str, Any], settings: Settings, names_fit: bool
) -> bool:
    """Whether the person is within every limit `validate_person` checks, told in one cheap
    pass over values of the usual kinds; ``False`` means "not sure": ask `validate_person`.

    ``names_fit``: the caller knows every attribute name is ASCII and within
    ``max_attribute_name_length`` (the planner knows its names from the settings).
    """
    if not names_fit or len(attributes) > settings.max_attributes_per_person:
        return False
    if not customer_id.isascii() or len(customer_id) > settings.max_identifier_value_length:
        return False
    max_value = settings.max_attribute_value_length
    if max_value < 24:  # below the longest float or bool: every value needs measuring
        return False
    isfinite = math.isfinite
    for value in attributes.values():
        kind = type(value)
        if kind is str:
            if len(value) > max_value or not value.isascii():
                return False
        elif kind is int:
            if value.bit_length() > _SHORT_INT_BITS - 1:  # up to 20 characters, fits in 24
                return False
        elif kind is bool or value is None:
            continue
        elif kind is float:
            if not isfinite(value):
                return False
        elif kind is list:
            size = _plain_strings_size(value)
            if size is None or size > max_value:
                return False
        else:
            return False
    return True


#: Past this many characters a person's JSON could hold an int too long to send (about 4,200
#: digits); below it, none.
_SHORTER_THAN_ANY_UNSENDABLE_INT = 4_000


def plainly_valid_json(
    customer_id: str,
    attributes: Mapping[str, Any],
    document: str,
    settings: Settings,
    names_fit: bool,
) -> bool:
    """`plainly_valid` told from the person's canonical JSON (``document``, what the hash
    encodes), in a few string operations; ``False`` means "not sure".

    When the whole person is no longer than one value may be, no value is too long: a value's
    size (its UTF-8 bytes, or its compact JSON) never exceeds its share of the document. ASCII
    text has no text that is not valid Unicode; no ``NaN``/``Infinity`` token, no number that
    is not finite; a single ``{``, no nested object (whose keys would need checking); few
    ``[``, no deep nesting. A string that merely contains such a character only sends the
    person to the loop.
    """
    return (
        names_fit
        and len(document)
        <= min(settings.max_attribute_value_length, _SHORTER_THAN_ANY_UNSENDABLE_INT)
        and len(attributes) <= settings.max_attributes_per_person
        and customer_id.isascii()
        and len(customer_id) <= settings.max_identifier_value_length
        and document.isascii()
        and document.count("{") == 1
        and document.count("[") < MAX_NESTING
        and "NaN" not in document
        and "Infinity" not in document
    )


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
    count = len(attributes)
    if count > settings.max_attributes_per_person:
        problems.append(
            f"The person has {count} attributes; the limit is "
            f"{settings.max_attributes_per_person} (max_attributes_per_person)."
        )
    if customer_id is not None:
        problems += identifier_problems(customer_id, "The Customer.io id", settings)
    return problems + attribute_problems(attributes, settings)


def identifier_problems(identifier: str, label: str, settings: Settings) -> list[str]:
    """What is wrong with an id (``label`` names it in the sentence): text that is not valid
    Unicode, or more than ``max_identifier_value_length`` bytes."""
    size = _size(identifier, text=True)
    if size is None:
        return [f"{label} is not valid Unicode text."]
    if size > settings.max_identifier_value_length:
        return [
            f"{label} is {size} bytes long; the limit is "
            f"{settings.max_identifier_value_length} bytes (max_identifier_value_length)."
        ]
    return []


def attribute_problems(attributes: Mapping[str, Any], settings: Settings) -> list[str]:
    """Each attribute's name and value against ``max_attribute_name_length`` and
    ``max_attribute_value_length``, in attribute order; values JSON cannot carry too."""
    problems = []
    max_name, max_value = settings.max_attribute_name_length, settings.max_attribute_value_length
    for name, value in attributes.items():
        size = len(name) if name.isascii() else _size(name, text=True)
        if size is None:
            problems.append(f"Attribute name {_quoted(name)} is not valid Unicode text.")
            continue
        if size > max_name:
            problems.append(
                f"Attribute name {_quoted(name)} is {size} bytes long; the limit is "
                f"{settings.max_attribute_name_length} bytes (max_attribute_name_length)."
            )
        # The commonest values inline (exact types only), the rest through value_size; a value
        # JSON cannot carry (lone surrogates, NaN, an int too long to print) measures as None.
        kind = type(value)
        if kind is str and value.isascii():
            size = len(value)
        elif (
            kind in _AT_MOST_24_BYTES
            and max_value >= 24
            and (kind is not float or math.isfinite(value))
        ):
            continue  # fits whatever its value
        else:
            size = _size(value, text=kind is str)
        if size is None:
            problems.append(
                f"The value of attribute {_quoted(name)} cannot be sent: it is not valid JSON "
                "(text that is not valid Unicode, a number that is not finite or too long, or "
                "nesting too deep)."
            )
        elif size > max_value:
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
