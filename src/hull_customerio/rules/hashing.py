"""Change detection."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .._serialization import canonical_json

__all__ = ["person_hash"]


def person_hash(customer_id: str, attributes: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of the canonical JSON of ``{"id": customer_id, **attributes}``.

    Canonical JSON sorts keys and has no whitespace, so the digest is the same in every process,
    on every platform and Python version.
    """
    document = {"id": customer_id, **attributes}
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()
