"""What the hub takes from the connectors' notification authentication, and its own guard.

A notification the hub cannot hand to a connector (its settings name no usable Customer.io
workspace) is still authenticated exactly as a connector would before it is answered.
"""

from __future__ import annotations

import hmac
from collections.abc import Generator

from ..engine._notifications import (
    HULL_KEY_HOSTS,
    KeyRequest,
    KeyResponse,
    NotificationAnswer,
    NotificationEnvelope,
    NotificationGuard,
    NotificationKeyCache,
    refused_answer,
)
from ..errors import NotificationAuthenticationError
from ..hull._base import normalize_organization

__all__ = [
    "HULL_KEY_HOSTS",
    "ClaimedIdentity",
    "NotificationAnswer",
    "NotificationKeyCache",
    "authenticate",
    "refused_answer",
]


class ClaimedIdentity:
    """The Hull identity a notification claims; the hub builds its clients from it."""

    def __init__(self, id: str, organization: str, secret: str) -> None:
        self._id = id
        self._organization = normalize_organization(organization)
        self._secret = secret

    @property
    def id(self) -> str:
        return self._id

    @property
    def organization(self) -> str:
        return self._organization

    def is_own_secret(self, secret: str) -> bool:
        return isinstance(secret, str) and hmac.compare_digest(
            secret.encode("utf-8", "surrogatepass"), self._secret.encode("utf-8", "surrogatepass")
        )


def authenticate(
    guard: NotificationGuard, envelope: NotificationEnvelope, headers: object
) -> Generator[KeyRequest, KeyResponse, NotificationAnswer | None]:
    """Run ``guard``; return the 401 answer when refused, ``None`` when accepted."""
    try:
        yield from guard.authenticate(envelope, headers)
    except NotificationAuthenticationError as exc:
        return refused_answer(exc)
    return None
