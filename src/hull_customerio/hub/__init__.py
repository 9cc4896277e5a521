"""Serving many Hull connectors from one process: the sync and async connector hubs."""

from .async_hub import AsyncConnectorHub
from .sync_hub import ConnectorHub

__all__ = ["AsyncConnectorHub", "ConnectorHub"]
