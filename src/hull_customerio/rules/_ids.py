"""Identifiers read from Hull attributes: a person's Customer.io id, an account's object id."""

from __future__ import annotations

import math

__all__ = ["read_id", "usable_string"]

# 450 bits: 136 digits, within the 150-byte id limit; a longer number is no id.
_MAX_ID_BITS = 450


def usable_string(value: object) -> str | None:
    """``value`` when it is a string that is not blank, else ``None``."""
    return value if isinstance(value, str) and value.strip() else None


def read_id(value: object) -> str | None:
    """The id a mapped attribute holds: a non-blank string as it is, or a number as text.

    ``None`` for anything else: a missing or null value, a blank string, a boolean, a number
    that is not finite or too long to print, a list or an object.
    """
    # The usual values first: a string, or nothing. A bool is an int: refused before numbers.
    if isinstance(value, str):
        return value if value.strip() else None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return str(value) if math.isfinite(value) else None
    if isinstance(value, int):
        # Past 4300 digits Python refuses to print an int; no Customer.io id is that long.
        return str(value) if value.bit_length() <= _MAX_ID_BITS else None
    return None
