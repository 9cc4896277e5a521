"""Serving many Hull connectors from one process: the sync and async connector hubs."""

from .async_hub import AsyncConnectorHub

__all__ = ["AsyncConnectorHub"]
