"""What is written back to the Hull user, or account, after a sync."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from .._time import format_iso
from ..models.hull import HullAccount, HullUser

__all__ = [
    "OBJECT_ID_TRAIT",
    "account_claims",
    "account_deletion_traits",
    "account_identify_traits",
    "deletion_traits",
    "hull_claims",
    "identify_traits",
]

_CLAIMS = ("id", "email", "external_id")
_ACCOUNT_CLAIMS = ("external_id", "domain")

#: Where the id of the object last sent (an account) or linked (a user's account) is written.
OBJECT_ID_TRAIT = "customerio/object_id"


def identify_traits(
    customer_id: str, attributes: dict[str, Any], person_hash: str, now: datetime
) -> dict[str, Any]:
    """The ``customerio/*`` traits after a successful identify (every chunk accepted).

    ``customerio/created_at`` is the ``created_at`` that was sent, or the sync time (integer
    unix seconds) when none was, so the user counts as synced from now on.
    """
    sent = attributes.get("created_at")
    synced_at, now_seconds = _sync_time(now)
    return {
        "customerio/id": customer_id,
        "customerio/created_at": sent if sent is not None else now_seconds,
        "customerio/hash": person_hash,
        "customerio/synced_at": synced_at,
        "customerio/deleted_at": None,
    }


@functools.lru_cache(maxsize=8)
def _sync_time(now: datetime) -> tuple[str, int]:
    """``now`` as written back (ISO-8601 text, unix seconds).

    A batch plans every user with the same sync time: it is formatted once, not once per user.
    """
    return format_iso(now), int(now.timestamp())


def deletion_traits(now: datetime) -> dict[str, Any]:
    """The ``customerio/*`` traits after a successful delete: a returning user is inserted again."""
    return {
        "customerio/deleted_at": _sync_time(now)[0],
        "customerio/id": None,
        "customerio/hash": None,
        "customerio/synced_at": None,
        "customerio/created_at": None,
    }


def hull_claims(user: HullUser, user_id_mapping: str) -> dict[str, str]:
    """How to address the Hull user for the write-back.

    ``{"external_id": ...}`` when the mapping is ``external_id`` and the user has one; otherwise
    every identity claim the user has (``id``, ``email``, ``external_id``, ``anonymous_id``).
    """
    external_id = user.external_id
    if user_id_mapping == "external_id" and isinstance(external_id, str) and external_id.strip():
        return {"external_id": external_id}
    claims: dict[str, str] = {}
    for name in _CLAIMS:
        value = user.get(name)
        if isinstance(value, str) and value.strip():
            claims[name] = value
    if user.anonymous_ids:
        claims["anonymous_id"] = user.anonymous_ids[0]
    return claims


def account_identify_traits(object_id: str, object_hash: str, now: datetime) -> dict[str, Any]:
    """The ``customerio/*`` traits of a Hull account after its object was identified."""
    return {
        OBJECT_ID_TRAIT: object_id,
        "customerio/hash": object_hash,
        "customerio/synced_at": _sync_time(now)[0],
        "customerio/deleted_at": None,
    }


def account_deletion_traits(now: datetime) -> dict[str, Any]:
    """The ``customerio/*`` traits of a Hull account after its object was deleted: an account
    that comes back is sent as a new object."""
    return {
        "customerio/deleted_at": _sync_time(now)[0],
        OBJECT_ID_TRAIT: None,
        "customerio/hash": None,
        "customerio/synced_at": None,
    }


def account_claims(account: HullAccount) -> dict[str, str]:
    """How to address the Hull account for the write-back: ``{"id": ...}``, plus its
    ``external_id`` and ``domain`` when they are non-blank strings."""
    claims: dict[str, str] = {}
    for name in ("id", *_ACCOUNT_CLAIMS):
        value = account.get(name)
        if isinstance(value, str) and value.strip():
            claims[name] = value
    return claims
