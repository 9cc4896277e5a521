"""Segment membership and the segment names sent as ``hull_segments``."""

from __future__ import annotations

from collections.abc import Collection

from ..models.hull import UserUpdateMessage

__all__ = ["in_synchronized_segments", "segment_names"]


def in_synchronized_segments(message: UserUpdateMessage, segment_ids: Collection[str]) -> bool:
    """Whether the user belongs to at least one of ``segment_ids``."""
    # A loop, not any(): this runs for every user and a generator costs more than the test.
    for segment in message.segments:  # noqa: SIM110
        if segment.id in segment_ids:
            return True
    return False


def segment_names(message: UserUpdateMessage) -> list[str]:
    """The names of all the user's segments, in message order.

    A segment whose name is unknown (a message carrying only ``segment_ids`` that the
    notification does not name) is listed by its id rather than dropped.
    """
    return [
        segment.name if segment.name is not None else segment.id for segment in message.segments
    ]
