"""Value types of the Customer.io client: the outcome of a v2 batch."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

import attrs

from ..errors import APIError

__all__ = ["BatchError", "BatchResult"]


@attrs.frozen(kw_only=True)
class BatchError:
    """Why one operation of a batch did not succeed.

    Attributes:
        batch_index: the operation's index in the list given to ``batch()`` (Customer.io's
            own ``batch_index`` is relative to one HTTP request; it has been mapped back).
        reason: a short code: Customer.io's ``reason`` for a ``207`` error, or one of ours:
            ``operation_too_large`` (not sent), ``invalid_operation`` (not JSON-serialisable,
            not sent), ``request_failed`` (its whole HTTP request failed; see ``exception``).
        field: the field Customer.io blamed, if it named one.
        message: a human-readable explanation.
        request: the 0-based number of the HTTP request that carried the operation, or
            ``None`` when it was never sent.
        exception: the error that failed the whole HTTP request (``reason ==
            "request_failed"``), else ``None``.
    """

    batch_index: int
    reason: str
    field: str | None = None
    message: str = ""
    request: int | None = None
    exception: APIError | None = None


def _frozen_errors(value: Mapping[int, BatchError]) -> Mapping[int, BatchError]:
    return MappingProxyType(dict(sorted(value.items())))


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class BatchResult:
    """The outcome of ``batch(operations)``: which operations failed, and why.

    Every operation not in `errors` was accepted by Customer.io.

    Attributes:
        size: how many operations were given.
        errors: the failed operations, keyed by their index in the list given to ``batch()``.
        requests: how many HTTP requests were made (retries not counted).
        unmatched_errors: messages of ``207`` errors Customer.io reported without a usable
            ``batch_index`` (they cannot be pinned to one operation).
    """

    size: int
    errors: Mapping[int, BatchError] = attrs.field(
        factory=dict, converter=_frozen_errors, repr=lambda e: repr(dict(e))
    )
    requests: int = 0
    unmatched_errors: tuple[str, ...] = attrs.field(default=(), converter=_strings)

    def ok(self, index: int) -> bool:
        """Whether the operation at ``index`` (in the list given to ``batch()``) succeeded.

        Raises:
            IndexError: ``index`` is not an index of that list.
        """
        if not 0 <= index < self.size:
            raise IndexError(f"operation index {index} out of range for {self.size} operations")
        return index not in self.errors

    @property
    def succeeded(self) -> list[int]:
        """Indexes of the operations that succeeded, in order."""
        return [i for i in range(self.size) if i not in self.errors]

    @property
    def failed(self) -> list[int]:
        """Indexes of the operations that failed, in order."""
        return list(self.errors)

    @property
    def all_ok(self) -> bool:
        """Whether every operation succeeded."""
        return not self.errors and not self.unmatched_errors
