"""The Customer.io Track API client: sync and async, v1 calls and v2 batches."""

from ..models.customerio import BatchError, BatchResult
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
from .operations import (
    AnonymousTrack,
    Delete,
    DeleteRelationships,
    Identify,
    ObjectDelete,
    ObjectIdentify,
    ObjectRef,
    Operation,
    Page,
    Track,
    anonymous_event_operation,
    delete_operation,
    event_operation,
    identify_operation,
    page_operation,
)

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_TIMEOUT",
    "EU_URL",
    "MAX_BATCH_OPERATION_BYTES",
    "MAX_BATCH_REQUEST_BYTES",
    "US_URL",
    "AnonymousTrack",
    "AsyncCustomerIOClient",
    "BatchError",
    "BatchResult",
    "CustomerIOClient",
    "Delete",
    "DeleteRelationships",
    "Identify",
    "ObjectDelete",
    "ObjectIdentify",
    "ObjectRef",
    "Operation",
    "Page",
    "Track",
    "anonymous_event_operation",
    "delete_operation",
    "encode_path_segment",
    "event_operation",
    "identifiers_for",
    "identify_operation",
    "page_operation",
    "to_json_ready",
]
