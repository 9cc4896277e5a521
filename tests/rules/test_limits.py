"""SPEC §2.4 (issue 15): attributes per person, event name and event data limits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builders import event, message, settings, synced_user, user
from hull_customerio._serialization import unsendable
from hull_customerio.models.plan import Action, OutgoingEvent
from hull_customerio.rules.plan import EVENT_REASON_MESSAGES, _event_problem, plan_user_update
from hull_customerio.rules.validation import event_too_large, validate_person


def plan(user_data: dict[str, Any], *, events: tuple[dict[str, Any], ...] = (), **overrides: Any):
    return plan_user_update(message(user_data, events=events), settings(**overrides))


def attributes(count: int) -> dict[str, Any]:
    return {f"a{i}": i for i in range(count)}


# ----------------------------------------------------------------------- attributes per person


@pytest.mark.parametrize(("count", "limit", "fails"), [(300, 300, False), (301, 300, True),
                                                       (5, 5, False), (6, 5, True)])  # fmt: skip
def test_a_person_may_carry_at_most_max_attributes_per_person(
    count: int, limit: int, fails: bool
) -> None:
    problems = validate_person("42", attributes(count), settings(max_attributes_per_person=limit))

    expected = [
        f"The person has {count} attributes; the limit is {limit} (max_attributes_per_person)."
    ]
    assert problems == (expected if fails else [])


def test_too_many_attributes_make_the_user_an_error_and_nothing_is_sent() -> None:
    # email, created_at, hull_segments + 3 whitelisted = 6 attributes.
    user_data = user(created_at="2024-01-01T00:00:00Z", a="1", b="2", c="3")
    result = plan(
        user_data,
        events=(event("Signed Up"),),
        synchronized_attributes=["a", "b", "c"],
        events_filter=["Signed Up"],
        max_attributes_per_person=5,
    )

    assert (result.action, result.reason) == (Action.ERROR, "invalid_attributes")
    assert result.errors == [
        "The person has 6 attributes; the limit is 5 (max_attributes_per_person)."
    ]
    assert result.events == []
    assert result.skipped_events == [("Signed Up", "invalid_attributes")]


def test_anonymous_id_counts_as_an_attribute() -> None:
    user_data = user(created_at="2024-01-01T00:00:00Z", anonymous_ids=["anon-1"])
    # email, created_at, hull_segments = 3; anonymous_id makes 4.
    assert plan(user_data, max_attributes_per_person=3).action is Action.IDENTIFY
    counted = plan(user_data, anonymous_events=True, max_attributes_per_person=3)
    assert counted.action is Action.ERROR
    assert "The person has 4 attributes" in counted.errors[0]


# -------------------------------------------------------------------------------- event limits


def test_event_too_large_has_its_sentence() -> None:
    assert EVENT_REASON_MESSAGES["event_too_large"].endswith(".")


@pytest.mark.parametrize(
    ("name", "limit", "too_large"),
    [("a" * 100, 100, False), ("a" * 101, 100, True), ("é" * 50, 100, False),
     ("é" * 51, 100, True)],
)  # fmt: skip
def test_the_event_name_is_measured_in_utf8_bytes(name: str, limit: int, too_large: bool) -> None:
    assert event_too_large(name, {}, settings(max_event_name_length=limit)) is too_large


def test_the_event_data_is_measured_as_compact_json() -> None:
    data = {"k": "x" * 20}
    size = len(json.dumps(data, separators=(",", ":")).encode())

    assert event_too_large("e", data, settings(max_event_data_size=size)) is False
    assert event_too_large("e", data, settings(max_event_data_size=size - 1)) is True


def test_a_page_view_with_a_long_url_is_skipped_alone() -> None:
    long_url = "https://example.com/" + "p" * 100
    events = (
        event("page", event_id="p-long", properties={"url": long_url}),
        event("page", event_id="p-short", properties={"url": "https://example.com/"}),
        event("Signed Up"),
    )
    result = plan(user(), events=events, events_filter=["page", "Signed Up"])

    assert result.action is Action.IDENTIFY
    assert [e.name for e in result.events] == ["https://example.com/", "Signed Up"]
    assert result.skipped_events == [("page", "event_too_large")]


def test_an_event_with_too_much_data_is_skipped_and_the_person_goes_on() -> None:
    events = (
        event("Big", properties={"blob": "x" * 200}),
        event("Small", properties={"n": 1}),
    )
    result = plan(user(), events=events, events_filter=["Big", "Small"], max_event_data_size=200)

    assert result.action is Action.IDENTIFY
    assert [e.name for e in result.events] == ["Small"]
    assert result.skipped_events == [("Big", "event_too_large")]


def test_a_page_views_referrer_counts_in_its_data() -> None:
    page = event("page", properties={"url": "https://e.com/"}, context={"referrer_url": "r" * 50})
    sized = len(json.dumps({"url": "https://e.com/"}, separators=(",", ":")).encode())

    result = plan(user(), events=(page,), events_filter=["page"], max_event_data_size=sized + 10)

    assert result.skipped_events == [("page", "event_too_large")]


def test_an_only_event_that_is_too_large_leaves_an_unchanged_person_unchanged() -> None:
    base = synced_user()
    digest = plan(base).hash
    stored = synced_user(**{"customerio/hash": digest})
    big = event("Big", properties={"blob": "x" * 500})

    result = plan(stored, events=(big,), events_filter=["Big"], max_event_data_size=100)

    assert (result.action, result.reason) == (Action.SKIP, "no_changes")
    assert result.skipped_events == [("Big", "event_too_large")]


def test_anonymous_events_are_checked_too() -> None:
    events = (
        event("Big", properties={"blob": "x" * 500}),
        event("Small"),
    )
    result = plan(
        user(email=None, anonymous_ids=["anon-1"]),
        events=events,
        events_filter=["Big", "Small"],
        anonymous_events=True,
        max_event_data_size=100,
    )

    assert [(e.name, e.anonymous_id) for e in result.events] == [("Small", "anon-1")]
    assert result.skipped_events == [("Big", "event_too_large")]


# -- one pass over an event's name and data says what the general rules say --

_EVENT_DATA = st.dictionaries(
    st.text(max_size=6),
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.lists(st.text(max_size=6) | st.integers(), max_size=3)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    max_size=5,
)


@given(
    name=st.text(max_size=30),
    data=_EVENT_DATA,
    anonymous_id=st.none() | st.text(max_size=8),
    max_name=st.integers(1, 30),
    max_data=st.integers(2, 120),
)
def test_an_events_problem_is_the_general_rules_answer(
    name: str, data: dict[str, Any], anonymous_id: str | None, max_name: int, max_data: int
) -> None:
    configured = settings(max_event_name_length=max_name, max_event_data_size=max_data)
    event = OutgoingEvent(
        kind="event" if anonymous_id is None else "anonymous",
        name=name,
        data=data,
        timestamp=None,
        id="01ARZ3NDEKTSV4RRFFQ69G5FAV",
        anonymous_id=anonymous_id,
    )

    if unsendable([name, data, anonymous_id]) is not None:
        expected: str | None = "invalid_event"
    elif event_too_large(name, data, configured):
        expected = "event_too_large"
    else:
        expected = None
    assert _event_problem(event, configured) == expected
