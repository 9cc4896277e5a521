"""The Customer.io Track API client: sync and async, v1 calls and v2 batches."""

from ..models.customerio import BatchError, BatchResult
from . import operations
from ._base import (
    DEFAULT_TIMEOUT,
    EU_URL,
    MAX_BATCH_OPERATION_BYTES,
    MAX_BATCH_REQUEST_BYTES,
    US_URL,
    encode_path_segment,
    to_json_ready,
)
from ._batch import identifiers_for
from .async_client import DEFAULT_MAX_CONCURRENCY, AsyncCustomerIOClient
from .client import CustomerIOClient
from .operations import *  # noqa: F403 -- re-exports exactly the names operations.__all__ lists

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_TIMEOUT",
    "EU_URL",
    "MAX_BATCH_OPERATION_BYTES",
    "MAX_BATCH_REQUEST_BYTES",
    "US_URL",
    "AsyncCustomerIOClient",
    "BatchError",
    "BatchResult",
    "CustomerIOClient",
    "encode_path_segment",
    "identifiers_for",
    "to_json_ready",
]
# The operations are listed once, in their own module.
__all__ += operations.__all__
