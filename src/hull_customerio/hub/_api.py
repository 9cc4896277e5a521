"""What the app (`hull_customerio.server`) takes from the hub package, in one place.

Only re-exports: the hub's private modules may move things around behind these names.
"""

from __future__ import annotations

from ._answers import credentials_answer, read_batch, refused, status_answer, status_failure
from ._auth import NotificationAnswer
from ._batch import DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_BATCH_SECONDS, credentials_from_query
from ._tokens import HullCredentials
from .async_hub import AsyncConnectorHub, download_and_sync

__all__ = [
    "DEFAULT_MAX_BATCH_BYTES",
    "DEFAULT_MAX_BATCH_SECONDS",
    "AsyncConnectorHub",
    "HullCredentials",
    "NotificationAnswer",
    "credentials_answer",
    "credentials_from_query",
    "download_and_sync",
    "read_batch",
    "refused",
    "status_answer",
    "status_failure",
]
