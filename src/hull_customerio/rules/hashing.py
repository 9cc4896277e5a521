"""Change detection."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .._serialization import canonical_json

__all__ = ["hashed_person", "person_hash"]


def person_hash(customer_id: str, attributes: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of the canonical JSON of ``{"id": customer_id, **attributes}``.

    Canonical JSON sorts keys and has no whitespace, so the digest is the same in every process,
    on every platform and Python version.
    """
    return hashed_person(customer_id, attributes)[0]


def hashed_person(customer_id: str, attributes: Mapping[str, Any]) -> tuple[str, str]:
    """`person_hash`, and the canonical JSON it hashes (the planner reads its size)."""
    text = canonical_json({"id": customer_id, **attributes})
    return hashlib.sha256(text.encode()).hexdigest(), text
