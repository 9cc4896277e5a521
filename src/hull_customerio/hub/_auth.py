"""What the hub takes from the connectors' notification authentication, and the identity a
notification claims (the hub's guard checks it before any client is built)."""

from __future__ import annotations

import hmac

import attrs

from ..engine._api import HULL_KEY_HOSTS, NotificationAnswer, NotificationKeyCache
from ..hull._api import normalize_organization

__all__ = [
    "HULL_KEY_HOSTS",
    "ClaimedIdentity",
    "NotificationAnswer",
    "NotificationKeyCache",
]


@attrs.frozen
class ClaimedIdentity:
    """The Hull identity a notification claims; the hub builds its clients from it.

    Fits the guard's ``HullIdentity``: an ``id``, an ``organization`` (normalized as Hull's URL
    is built from it) and a constant-time check of the secret, which is never shown.
    """

    id: str
    organization: str = attrs.field(converter=normalize_organization)
    _secret: str = attrs.field(repr=False)

    def is_own_secret(self, secret: str) -> bool:
        """Whether ``secret`` is the claimed one, compared in constant time."""
        return isinstance(secret, str) and hmac.compare_digest(
            secret.encode("utf-8", "surrogatepass"), self._secret.encode("utf-8", "surrogatepass")
        )
