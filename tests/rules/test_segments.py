"""SPEC §2.2 *in_segments* and the segment names of §2.3."""

from __future__ import annotations

import pytest

from builders import message
from hull_customerio.models.hull import UserUpdateMessage
from hull_customerio.rules.segments import in_synchronized_segments, segment_names

A = {"id": "seg_a", "name": "A"}
B = {"id": "seg_b", "name": "B"}


@pytest.mark.parametrize(
    ("segments", "synchronized", "expected"),
    [
        ((A,), ["seg_a"], True),
        ((A, B), ["seg_b"], True),
        ((A,), ["seg_b", "seg_a"], True),
        ((A,), ["seg_b"], False),
        ((), ["seg_a"], False),
        ((A, B), [], False),
        ((A,), ["A"], False),  # segments are matched by id, never by name
        ((A,), ["SEG_A"], False),
    ],
)
def test_in_segments_means_at_least_one_synchronized_segment_id(
    segments: tuple[dict[str, str], ...], synchronized: list[str], expected: bool
) -> None:
    assert in_synchronized_segments(message(segments=segments), synchronized) is expected


def test_segment_names_are_all_names_in_message_order() -> None:
    assert segment_names(message(segments=(B, A))) == ["B", "A"]


def test_segment_ids_are_named_from_the_notification() -> None:
    parsed = UserUpdateMessage.from_dict(
        {"user": {"id": "u1"}, "segment_ids": ["seg_b", "seg_x"]},
        segment_names={"seg_b": "B"},
    )

    assert segment_names(parsed) == ["B", "seg_x"]
    assert in_synchronized_segments(parsed, ["seg_x"]) is True
