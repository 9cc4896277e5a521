"""The answers a connector gives Hull's smart-notifier, as pure functions.

Hull reads the answer to a notification to decide what to send next: ``next`` for more, or
``retry`` to send the same messages again later, in smaller batches.
"""

from __future__ import annotations

__all__ = ["FlowControlAnswer", "flow_control_next", "flow_control_retry"]

#: ``{"flow_control": {"type": ..., ...}}``: the JSON body answering a notification.
FlowControlAnswer = dict[str, dict[str, str | int]]


def flow_control_next() -> FlowControlAnswer:
    """The answer to a notification that was handled: ``{"flow_control": {"type": "next"}}``."""
    return {"flow_control": {"type": "next"}}


def flow_control_retry(*, size: int = 10, delay_ms: int = 1000) -> FlowControlAnswer:
    """The answer to a notification that failed for a transient reason.

    Args:
        size: how many messages Hull should send in the next notification.
        delay_ms: how long Hull should wait before sending them again, in milliseconds (the
            ``in`` field).

    Returns:
        ``{"flow_control": {"type": "retry", "size": size, "in": delay_ms}}``.

    Raises:
        ValueError: ``size`` is not positive or ``delay_ms`` is negative.
    """
    if size < 1:
        raise ValueError(f"size must be positive, not {size}")
    if delay_ms < 0:
        raise ValueError(f"delay_ms must not be negative, not {delay_ms}")
    return {"flow_control": {"type": "retry", "size": size, "in": delay_ms}}
