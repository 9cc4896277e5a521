"""Change detection."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .._serialization import canonical_json

__all__ = ["hashed_object", "hashed_person", "object_hash", "person_hash"]


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


def object_hash(object_type_id: str, object_id: str, attributes: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of an object (an account): its type, its id and its attributes.

    The same canonical JSON as `person_hash`, of ``{"object_type_id": ..., "object_id": ...,
    "attributes": {...}}``: the attributes are kept under their own key so that an attribute
    named ``object_id`` (or ``object_type_id``) can never hide a change of the real one.
    Any change of the type, the id or an attribute changes the digest.
    """
    return hashed_object(object_type_id, object_id, attributes)[0]


def hashed_object(
    object_type_id: str, object_id: str, attributes: Mapping[str, Any]
) -> tuple[str, str]:
    """`object_hash`, and the canonical JSON it hashes."""
    text = canonical_json(
        {"object_type_id": object_type_id, "object_id": object_id, "attributes": attributes}
    )
    return hashlib.sha256(text.encode()).hexdigest(), text
