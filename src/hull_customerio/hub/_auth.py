"""Names the hub takes from the connectors' notification authentication.

Placeholder until the notification-authentication work lands: it re-exports them from there.
"""

from __future__ import annotations

__all__ = ["HULL_KEY_HOSTS"]

#: Hosts Hull's notification-signing public key may be fetched from.
HULL_KEY_HOSTS: tuple[str, ...] = ()


from typing import Any  # noqa: E402

import attrs  # noqa: E402

from ..models.report import SyncReport  # noqa: E402


@attrs.frozen(kw_only=True)
class NotificationAnswer:
    """Placeholder: what to answer Hull."""

    http_status: int
    body: dict[str, Any]
    report: SyncReport | None = None
    reason: str | None = None
