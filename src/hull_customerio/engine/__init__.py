"""The engine: runs the rules' plans through the clients and reports every outcome."""

from ._core import BatchOperationError
from ._notifications import (
    HULL_KEY_HOSTS,
    NotificationAnswer,
    NotificationEnvelope,
    NotificationKeyCache,
    read_notification_body,
)
from .async_connector import DEFAULT_MAX_CONCURRENCY, AsyncConnector
from .connector import Connector

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "HULL_KEY_HOSTS",
    "AsyncConnector",
    "BatchOperationError",
    "Connector",
    "NotificationAnswer",
    "NotificationEnvelope",
    "NotificationKeyCache",
    "read_notification_body",
]
