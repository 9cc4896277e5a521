"""The v2 batch planner: operations packed into requests under Customer.io's size limits, and
each request's answer mapped back to its operations. Pure, shared by both clients."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ..errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ValidationError,
    safe_service_text,
)
from ..models.customerio import BatchError, BatchResult
from ._base import (
    _BATCH_PREFIX,
    _BATCH_SUFFIX,
    _EMAIL_SHAPE,
    MAX_BATCH_OPERATION_BYTES,
    MAX_BATCH_REQUEST_BYTES,
    ApiRequest,
    dumps,
)

__all__ = [
    "BatchPlan",
    "BatchRequest",
    "EncodedOperation",
    "batch_result",
    "identifiers_for",
    "plan_batch",
    "unreachable",
]


def identifiers_for(customer_id: str) -> dict[str, str]:
    """The v2 ``identifiers`` object for a person: exactly one identifier.

    ``cio_``-prefixed values are Customer.io ids (``{"cio_id": <value without the prefix>}``),
    email-shaped values (``something@domain.tld``, no spaces) are ``{"email": ...}``, anything
    else is ``{"id": ...}``.
    """
    if not isinstance(customer_id, str) or not customer_id:
        raise ValidationError(f"customer_id must be a non-empty string, got {customer_id!r}")
    if customer_id.startswith("cio_") and len(customer_id) > len("cio_"):
        return {"cio_id": customer_id[len("cio_") :]}
    if _EMAIL_SHAPE.match(customer_id):
        return {"email": customer_id}
    return {"id": customer_id}


@attrs.frozen
class BatchRequest:
    """One ``POST /api/v2/batch`` request and the caller's indexes of the operations in it.

    Attributes:
        indexes: ``indexes[i]`` is the caller's index of the operation at ``batch_index`` i.
        request: the request to send.
    """

    indexes: tuple[int, ...]
    request: ApiRequest


@attrs.frozen
class BatchPlan:
    """How a list of operations is sent: the requests, and the operations never sent.

    Attributes:
        size: how many operations were given.
        requests: the v2 requests, in the order of the operations they carry.
        rejected: operations that were not sent (too large, not serialisable), by index.
    """

    size: int
    requests: tuple[BatchRequest, ...]
    rejected: Mapping[int, BatchError]


class EncodedOperation(dict[str, Any]):
    """A v2 operation that carries its own `dumps` bytes, so a batch encodes it once.

    The engine measures every operation before batching it; `plan_batch` then takes
    these bytes instead of encoding the operation again. It is an ordinary ``dict`` otherwise;
    it must not be changed after it was built.
    """

    __slots__ = ("encoded",)

    def __init__(self, operation: Mapping[str, Any], encoded: bytes) -> None:
        super().__init__(operation)
        self.encoded = encoded


def _batch_body(encoded: Sequence[bytes]) -> bytes:
    return _BATCH_PREFIX + b",".join(encoded) + _BATCH_SUFFIX


def plan_batch(
    operations: Sequence[Mapping[str, Any]],
    *,
    max_request_bytes: int = MAX_BATCH_REQUEST_BYTES,
    max_operation_bytes: int = MAX_BATCH_OPERATION_BYTES,
) -> BatchPlan:
    """Split ``operations`` into v2 batch requests, keeping their order.

    Each operation is measured as the compact-JSON UTF-8 bytes it takes inside the body. One
    larger than ``max_operation_bytes`` is rejected (not sent) with reason
    ``operation_too_large``; one JSON cannot encode, with ``invalid_operation``. The others are
    packed greedily, in order, into bodies strictly smaller than ``max_request_bytes``.
    """
    rejected: dict[int, BatchError] = {}
    requests: list[BatchRequest] = []
    indexes: list[int] = []
    encoded: list[bytes] = []
    body_size = len(_BATCH_PREFIX) + len(_BATCH_SUFFIX)

    def flush() -> None:
        if indexes:
            requests.append(
                BatchRequest(
                    tuple(indexes), ApiRequest("POST", "/api/v2/batch", _batch_body(encoded))
                )
            )
            indexes.clear()
            encoded.clear()

    for index, operation in enumerate(operations):
        try:
            op_bytes = (
                operation.encoded if type(operation) is EncodedOperation else dumps(operation)
            )
        except (TypeError, ValueError) as exc:
            rejected[index] = BatchError(
                batch_index=index,
                reason="invalid_operation",
                message=f"operation cannot be encoded as JSON: {type(exc).__name__}",
            )
            continue
        if len(op_bytes) > max_operation_bytes:
            rejected[index] = BatchError(
                batch_index=index,
                reason="operation_too_large",
                message=(
                    f"operation is {len(op_bytes)} bytes as JSON; Customer.io accepts at most "
                    f"{max_operation_bytes}"
                ),
            )
            continue
        added = len(op_bytes) + (1 if indexes else 0)  # the separating comma
        if indexes and body_size + added >= max_request_bytes:
            flush()
            body_size = len(_BATCH_PREFIX) + len(_BATCH_SUFFIX)
            added = len(op_bytes)
        indexes.append(index)
        encoded.append(op_bytes)
        body_size += added
    flush()
    return BatchPlan(size=len(operations), requests=tuple(requests), rejected=rejected)


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says Customer.io cannot be reached at all (refused, DNS), not just slow.

    A batch stops there: its remaining requests fail with the same error, unsent, instead of
    each waiting through its own retries.
    """
    return isinstance(exc, APIConnectionError) and not isinstance(exc, APITimeoutError)


def batch_result(plan: BatchPlan, outcomes: Sequence[Any]) -> BatchResult:
    """Combine a plan with what each of its requests gave.

    ``outcomes[n]`` is either the [`APIError`][hull_customerio.errors.APIError] that failed request
    ``n`` (every operation in it then fails with reason ``request_failed``) or the parsed body
    of its 2xx answer, whose v2 ``errors`` (``207``) are mapped back to the caller's indexes.
    """
    errors: dict[int, BatchError] = dict(plan.rejected)
    unmatched: list[str] = []
    for number, (sent, outcome) in enumerate(zip(plan.requests, outcomes, strict=True)):
        if isinstance(outcome, APIError):
            for index in sent.indexes:
                errors[index] = BatchError(
                    batch_index=index,
                    reason="request_failed",
                    message=str(outcome),
                    request=number,
                    exception=outcome,
                )
            continue
        reported = outcome.get("errors") if isinstance(outcome, Mapping) else None
        if not isinstance(reported, list):
            continue
        for entry in reported:
            if not isinstance(entry, Mapping):
                unmatched.append(safe_service_text(str(entry)))
                continue
            position: Any = entry.get("batch_index")
            reason = safe_service_text(_optional_str(entry.get("reason")) or "rejected")
            # Customer.io's messages may quote the operation: shortened, emails masked.
            message = safe_service_text(_optional_str(entry.get("message")) or reason)
            valid = (
                isinstance(position, int)
                and not isinstance(position, bool)
                and 0 <= position < len(sent.indexes)
            )
            if not valid:
                unmatched.append(message)
                continue
            index = sent.indexes[int(position)]
            errors[index] = BatchError(
                batch_index=index,
                reason=reason,
                field=_optional_str(entry.get("field")),
                message=message,
                request=number,
            )
    return BatchResult(
        size=plan.size, errors=errors, requests=len(outcomes), unmatched_errors=tuple(unmatched)
    )
