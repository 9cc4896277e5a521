"""What the hub takes from the connectors' notification authentication, and the identity a
notification claims (the hub's guard checks it before any client is built)."""

from __future__ import annotations

import hmac

from ..engine._api import HULL_KEY_HOSTS, NotificationAnswer, NotificationKeyCache
from ..hull._api import normalize_organization

__all__ = [
    "HULL_KEY_HOSTS",
    "ClaimedIdentity",
    "NotificationAnswer",
    "NotificationKeyCache",
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
