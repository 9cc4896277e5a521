"""The engine: runs the rules' plans through the clients and reports every outcome (§7)."""

from ._core import BatchOperationError
from .async_connector import DEFAULT_MAX_CONCURRENCY, AsyncConnector
from .connector import Connector

__all__ = ["DEFAULT_MAX_CONCURRENCY", "AsyncConnector", "BatchOperationError", "Connector"]
