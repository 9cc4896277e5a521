"""SPEC §2.1: one message per Hull user — the latest indexed, with the union of all events."""

from __future__ import annotations

from typing import Any

import pytest

from builders import MISSING, event, message, user
from hull_customerio.models.hull import UserUpdateMessage
from hull_customerio.rules.dedupe import deduplicate_messages


def version(
    user_id: str, label: str, indexed_at: Any, *events: dict[str, Any]
) -> UserUpdateMessage:
    """A message for ``user_id``, told apart from its other versions by the ``label`` attribute."""
    user_data = user(id=user_id, label=label, indexed_at=indexed_at)
    return message(user_data, events=events)


def labels(messages: list[UserUpdateMessage]) -> list[tuple[str, str]]:
    return [(m.user.id, m.user["label"]) for m in messages]


@pytest.mark.parametrize(
    ("first", "second", "kept"),
    [
        pytest.param("2024-06-01T08:00:00Z", "2024-06-01T09:00:00Z", "second", id="later second"),
        pytest.param("2024-06-01T09:00:00Z", "2024-06-01T08:00:00Z", "first", id="later first"),
        pytest.param("2024-06-01T10:00:00+02:00", "2024-06-01T09:00:00Z", "second",
                     id="offsets compared in UTC, not as text"),
        pytest.param("2024-06-01T09:00:00Z", "2024-06-01T10:30:00+02:00", "first",
                     id="a +02:00 time that reads later is earlier"),
        pytest.param("2024-06-01T08:00:00.500Z", "2024-06-01T08:00:00.499Z", "first",
                     id="milliseconds count"),
        pytest.param("2024-06-01T09:00:00Z", 1717228800000, "first",
                     id="epoch milliseconds against ISO"),
        pytest.param(MISSING, "2024-06-01T08:00:00Z", "second", id="missing sorts first"),
        pytest.param("1970-01-01T00:00:00Z", MISSING, "first",
                     id="missing sorts before the epoch"),
        pytest.param("1969-12-31T23:59:59.999Z", MISSING, "first",
                     id="missing sorts before a time before the epoch"),
        pytest.param(None, "2024-06-01T08:00:00Z", "second", id="null sorts first"),
        pytest.param("2024-06-01T08:00:00Z", "2024-06-01T08:00:00Z", "second",
                     id="tie: the later message wins"),
        pytest.param("2024-06-01T10:00:00+02:00", "2024-06-01T08:00:00Z", "second",
                     id="tie across offsets: the later message wins"),
        pytest.param(MISSING, MISSING, "second", id="both missing: the later message wins"),
    ],
)  # fmt: skip
def test_the_message_with_the_greatest_indexed_at_is_kept(
    first: Any, second: Any, kept: str
) -> None:
    result = deduplicate_messages([version("u1", "first", first), version("u1", "second", second)])

    assert labels(result) == [("u1", kept)]


def test_the_latest_of_many_versions_is_kept_wherever_it_is() -> None:
    messages = [
        version("u1", "a", "2024-06-01T08:00:00Z"),
        version("u1", "b", "2024-06-01T10:00:00Z"),
        version("u1", "c", "2024-06-01T09:00:00Z"),
    ]

    assert labels(deduplicate_messages(messages)) == [("u1", "b")]


def test_users_are_kept_in_the_order_they_first_appear() -> None:
    messages = [
        version("u2", "u2-old", "2024-06-01T08:00:00Z"),
        version("u1", "u1-only", "2024-06-01T08:00:00Z"),
        version("u3", "u3-old", "2024-06-01T08:00:00Z"),
        version("u2", "u2-new", "2024-06-01T09:00:00Z"),
        version("u3", "u3-new", "2024-06-01T09:00:00Z"),
    ]

    assert labels(deduplicate_messages(messages)) == [
        ("u2", "u2-new"),
        ("u1", "u1-only"),
        ("u3", "u3-new"),
    ]


def test_the_events_are_the_union_of_all_messages_by_event_id_in_first_seen_order() -> None:
    messages = [
        version("u1", "a", "2024-06-01T09:00:00Z", event("A", event_id="e1"),
                event("B", event_id="e2")),
        version("u1", "b", "2024-06-01T08:00:00Z", event("C", event_id="e3"),
                event("A again", event_id="e1")),
        version("u1", "c", "2024-06-01T07:00:00Z", event("D", event_id="e4")),
    ]  # fmt: skip

    [kept] = deduplicate_messages(messages)

    assert kept.user["label"] == "a"
    assert [(e.event_id, e.event) for e in kept.events] == [
        ("e1", "A again"),  # first seen first; the later occurrence's content
        ("e2", "B"),
        ("e3", "C"),
        ("e4", "D"),
    ]


def test_repeated_event_ids_within_one_message_keep_the_later_occurrence() -> None:
    messages = [version("u1", "a", None, event("old", event_id="e1"), event("new", event_id="e1"))]

    [kept] = deduplicate_messages(messages)

    assert [e.event for e in kept.events] == ["new"]


def test_events_without_event_id_are_all_kept() -> None:
    messages = [
        version("u1", "a", None, event("A", event_id=None)),
        version("u1", "b", None, event("A", event_id=None)),
    ]

    [kept] = deduplicate_messages(messages)

    assert [e.event for e in kept.events] == ["A", "A"]


def test_events_of_other_users_are_not_mixed_in() -> None:
    messages = [
        version("u1", "a", None, event("A", event_id="e1")),
        version("u2", "b", None, event("B", event_id="e1")),
    ]

    result = deduplicate_messages(messages)

    assert [[e.event for e in m.events] for m in result] == [["A"], ["B"]]


def test_a_batch_without_duplicates_is_returned_as_it_is() -> None:
    messages = [version("u1", "a", None, event("A")), version("u2", "b", None)]

    assert deduplicate_messages(messages) == messages


def test_an_empty_batch_gives_no_messages() -> None:
    assert deduplicate_messages([]) == []


def test_any_iterable_is_accepted() -> None:
    messages = (version(f"u{i}", "x", None) for i in range(3))

    assert [m.user.id for m in deduplicate_messages(messages)] == ["u0", "u1", "u2"]
