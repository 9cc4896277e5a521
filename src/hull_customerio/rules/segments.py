"""Segment membership and the segment names sent as ``hull_segments``."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from ..models.hull import Segment, UserUpdateMessage

__all__ = ["in_any", "in_synchronized_segments", "names_of", "segment_names"]


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
    return names_of(message.segments)


def names_of(segments: Iterable[Segment]) -> list[str]:
    """Each segment's name, or its id when its name is unknown, in the order given."""
    return [segment.name if segment.name is not None else segment.id for segment in segments]


def in_any(segments: Iterable[Segment], segment_ids: Collection[str]) -> bool:
    """Whether one of ``segments`` is among ``segment_ids`` (an account's segments, say)."""
    return any(segment.id in segment_ids for segment in segments)
