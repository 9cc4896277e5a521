"""SPEC §3: which events go, generic events, page views, anonymous events, ULID ids."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builders import OTHER_SEGMENT, event, message, settings, synced_user, user
from hull_customerio.models.hull import HullEvent
from hull_customerio.models.plan import Action, OutgoingEvent
from hull_customerio.rules.events import (
    event_ulid,
    page_referrer,
    page_url,
    to_anonymous_event,
    to_person_event,
)
from hull_customerio.rules.plan import plan_user_update

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ULID_SHAPE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


def hull_event(name: str = "Signed Up", **fields: Any) -> HullEvent:
    values: dict[str, Any] = {"event_id": "evt-1", "created_at": "2024-06-01T08:00:00Z"}
    values.update(fields)
    return HullEvent(event=name, **values)


def decode_ulid(ulid: str) -> tuple[int, int]:
    """(time part in ms, 80-bit random part) of a ULID."""
    number = 0
    for character in ulid:
        number = number * 32 + CROCKFORD.index(character)
    return number >> 80, number & ((1 << 80) - 1)


def plan(
    user_data: dict[str, Any],
    *events: dict[str, Any],
    segments: tuple[dict[str, Any], ...] | None = None,
    batch: bool = False,
    **overrides: Any,
):
    overrides.setdefault("events_filter", ["Signed Up", "Ordered", "page"])
    built = (
        message(user_data, events=events)
        if segments is None
        else message(user_data, events=events, segments=segments)
    )
    return plan_user_update(built, settings(**overrides), batch=batch)


# ---------------------------------------------------------------------------------------------
# §3.1 Which events
# ---------------------------------------------------------------------------------------------


def test_only_events_named_in_events_filter_are_sent_the_others_are_reported() -> None:
    result = plan(
        synced_user(),
        event("Signed Up"),
        event("Clicked Banner"),
        event("Ordered"),
        event("page", properties={"url": "https://x.io/"}),
        events_filter=["Signed Up", "Ordered"],
    )

    assert [e.name for e in result.events] == ["Signed Up", "Ordered"]
    assert result.skipped_events == [
        ("Clicked Banner", "not_whitelisted"),
        ("page", "not_whitelisted"),
    ]


def test_an_empty_events_filter_sends_no_event() -> None:
    result = plan(synced_user(), event("Signed Up"), event("page"), events_filter=[])

    assert result.events == []
    assert result.skipped_events == [("Signed Up", "not_whitelisted"), ("page", "not_whitelisted")]


def test_page_in_events_filter_turns_on_page_views() -> None:
    result = plan(
        synced_user(), event("page", properties={"url": "https://x.io/"}), events_filter=["page"]
    )

    assert [(e.kind, e.name) for e in result.events] == [("page", "https://x.io/")]


def test_events_are_matched_by_exact_name() -> None:
    result = plan(synced_user(), event("signed up"), events_filter=["Signed Up"])

    assert result.skipped_events == [("signed up", "not_whitelisted")]


def test_events_keep_their_order() -> None:
    names = ["Ordered", "Signed Up", "Ordered"]
    events = [event(name, event_id=f"e{i}") for i, name in enumerate(names)]

    result = plan(synced_user(), *events)

    assert [(e.name, e.source_event_id) for e in result.events] == [
        ("Ordered", "e0"),
        ("Signed Up", "e1"),
        ("Ordered", "e2"),
    ]


@pytest.mark.parametrize(
    ("user_data", "segments", "overrides", "reason"),
    [
        pytest.param(user(), (OTHER_SEGMENT,), {}, "not_in_segments", id="skip"),
        pytest.param(user(**{"customerio/suppressed_at": "2024-01-01"}), None, {},
                     "suppressed", id="suppressed"),
        pytest.param(synced_user(), (OTHER_SEGMENT,), {"enable_user_deletion": True},
                     "left_segments", id="delete"),
        pytest.param(user(external_id="x" * 151), None, {}, "invalid_attributes", id="error"),
        pytest.param(user(email=None), None, {}, "no_email", id="no email, anonymous off"),
        pytest.param(user(external_id=None), None, {}, "no_customer_id",
                     id="no id, anonymous off"),
    ],
)  # fmt: skip
def test_events_of_a_user_who_is_not_identified_are_reported_with_the_users_reason(
    user_data: dict[str, Any],
    segments: tuple[dict[str, Any], ...] | None,
    overrides: dict[str, Any],
    reason: str,
) -> None:
    result = plan(user_data, event("Signed Up"), event("Other"), segments=segments, **overrides)

    assert result.events == []
    assert result.skipped_events == [("Signed Up", reason), ("Other", "not_whitelisted")]


def test_no_changes_reports_the_events_that_could_not_be_sent() -> None:
    stored = plan(synced_user()).hash

    result = plan(synced_user(**{"customerio/hash": stored}), event("page"), event("Other"))

    assert result.reason == "no_changes"
    assert result.skipped_events == [("page", "page_without_url"), ("Other", "not_whitelisted")]


# ---------------------------------------------------------------------------------------------
# §3.2 Generic events
# ---------------------------------------------------------------------------------------------


def test_a_generic_event_carries_name_properties_timestamp_and_id() -> None:
    source = hull_event(
        "Ordered",
        event_id="evt-42",
        properties={"total": 12.5, "items": [1]},
        context={"ip": "203.0.113.9"},
        created_at="2018-03-30 14:38:02 UTC",
    )

    assert to_person_event(source) == OutgoingEvent(
        kind="event",
        name="Ordered",
        data={"total": 12.5, "items": [1]},
        timestamp=1522420682,
        id=event_ulid("evt-42", 1522420682000),
        type="event",
        anonymous_id=None,
        source_event_id="evt-42",
    )


@pytest.mark.parametrize(
    ("created_at", "timestamp"),
    [
        pytest.param("2018-03-30 14:38:02 UTC", 1522420682, id="Hull's UTC form"),
        pytest.param("2017-09-18T12:18:04Z", 1505737084, id="ISO Z"),
        pytest.param("2017-09-18T12:18:04.987Z", 1505737084, id="ISO with milliseconds"),
        pytest.param("2017-09-18T14:18:04+02:00", 1505737084, id="ISO with offset"),
        pytest.param(1505737084, 1505737084, id="epoch seconds"),
        pytest.param(1505737084.5, 1505737084, id="epoch seconds, float"),
        pytest.param(1505737084987, 1505737084, id="epoch milliseconds"),
        pytest.param("1505737084", 1505737084, id="epoch seconds as a string"),
        pytest.param("1505737084987", 1505737084, id="epoch milliseconds as a string"),
        pytest.param(None, None, id="no time"),
        pytest.param("yesterday", None, id="unreadable"),
    ],
)
def test_the_timestamp_is_the_hull_created_at_in_integer_unix_seconds(
    created_at: object, timestamp: int | None
) -> None:
    outgoing = to_person_event(hull_event(created_at=created_at))

    assert outgoing is not None
    assert outgoing.timestamp == timestamp
    assert timestamp is None or type(outgoing.timestamp) is int


def test_the_event_data_is_a_copy_of_the_properties() -> None:
    source = hull_event(properties={"a": 1})

    outgoing = to_person_event(source)
    assert outgoing is not None
    outgoing.data["b"] = 2

    assert source.properties == {"a": 1}


# ---------------------------------------------------------------------------------------------
# §3.2 Deterministic ULID ids
# ---------------------------------------------------------------------------------------------


def test_the_id_is_26_crockford_base32_characters_whose_time_part_is_the_event_time() -> None:
    outgoing = to_person_event(hull_event(created_at="2024-06-01T08:00:00.123Z"))

    assert outgoing is not None
    assert ULID_SHAPE.match(outgoing.id)
    assert decode_ulid(outgoing.id)[0] == 1717228800123


@pytest.mark.parametrize(
    ("created_at", "millis"),
    [
        ("2018-03-30 14:38:02 UTC", 1522420682000),
        (1505737084, 1505737084000),
        (1505737084987, 1505737084987),
    ],
)
def test_the_id_time_part_is_the_event_time_in_milliseconds(
    created_at: object, millis: int
) -> None:
    outgoing = to_person_event(hull_event(created_at=created_at))

    assert outgoing is not None
    assert decode_ulid(outgoing.id)[0] == millis


def test_the_same_event_always_gets_the_same_id() -> None:
    first = to_person_event(hull_event(event_id="evt-7", properties={"a": 1}))
    again = to_person_event(hull_event(event_id="evt-7", properties={"a": 1}))

    assert first is not None
    assert again is not None
    assert first.id == again.id


def test_events_with_different_event_ids_get_different_ids() -> None:
    ids = {event_ulid(f"evt-{i}", 1717228800000) for i in range(200)}

    assert len(ids) == 200


def test_the_random_part_depends_on_the_event_id_only() -> None:
    _, random_early = decode_ulid(event_ulid("evt-7", 1_000))
    _, random_late = decode_ulid(event_ulid("evt-7", 1717228800000))
    _, random_other = decode_ulid(event_ulid("evt-8", 1_000))

    assert random_early == random_late
    assert random_other != random_early


@given(key=st.text(), millis=st.none() | st.integers(min_value=-(2**60), max_value=2**60))
def test_the_id_is_the_clamped_time_then_the_first_80_bits_of_the_key_hash(
    key: str, millis: int | None
) -> None:
    ulid = event_ulid(key, millis)

    assert ULID_SHAPE.match(ulid)
    digest = hashlib.sha256(key.encode()).digest()
    clamped = min(max(millis or 0, 0), 2**48 - 1)
    assert decode_ulid(ulid) == (clamped, int.from_bytes(digest[:10], "big"))


def test_a_retried_plan_gives_its_events_the_same_ids() -> None:
    first = plan(synced_user(), event("Signed Up"), event("page", properties={"url": "https://x"}))
    retry = plan(synced_user(), event("Signed Up"), event("page", properties={"url": "https://x"}))

    assert [e.id for e in first.events] == [e.id for e in retry.events]
    assert len({e.id for e in first.events}) == 2


def test_an_event_without_time_gets_a_valid_ulid() -> None:
    ulid = event_ulid("evt-1", None)

    assert ULID_SHAPE.match(ulid)
    assert decode_ulid(ulid)[0] == 0


def test_events_without_event_id_still_get_stable_distinct_ids() -> None:
    a = to_person_event(hull_event("A", event_id=None))
    a_again = to_person_event(hull_event("A", event_id=None))
    b = to_person_event(hull_event("B", event_id=None))

    assert a is not None
    assert a_again is not None
    assert b is not None
    assert a.id == a_again.id != b.id


# ---------------------------------------------------------------------------------------------
# §3.3 Page views
# ---------------------------------------------------------------------------------------------

PAGE = "https://example.com/pricing"
OTHER = "https://example.com/elsewhere"


@pytest.mark.parametrize(
    ("properties", "context", "url"),
    [
        pytest.param({"url": PAGE}, {"page_url": OTHER, "page": {"url": OTHER}}, PAGE,
                     id="properties.url first"),
        pytest.param({}, {"page_url": PAGE, "page": {"url": OTHER}}, PAGE,
                     id="then context.page_url"),
        pytest.param({}, {"page": {"url": PAGE}}, PAGE, id="then context.page.url"),
        pytest.param({"url": ""}, {"page_url": " ", "page": {"url": PAGE}}, PAGE,
                     id="blank urls fall through"),
        pytest.param({"url": None}, {"page_url": PAGE}, PAGE, id="null url falls through"),
        pytest.param({"url": 5}, {"page": {"url": PAGE}}, PAGE, id="a number is not a url"),
        pytest.param({}, {"page": "not an object"}, None, id="malformed context.page"),
        pytest.param({}, {}, None, id="no url anywhere"),
    ],
)  # fmt: skip
def test_the_page_url_fallbacks(
    properties: dict[str, Any], context: dict[str, Any], url: str | None
) -> None:
    assert page_url(hull_event("page", properties=properties, context=context)) == url


@pytest.mark.parametrize(
    ("properties", "context", "referrer"),
    [
        pytest.param({"referrer": PAGE}, {"referrer_url": OTHER, "referrer": {"url": OTHER}},
                     PAGE, id="properties.referrer first"),
        pytest.param({}, {"referrer_url": PAGE, "referrer": {"url": OTHER}}, PAGE,
                     id="then context.referrer_url"),
        pytest.param({}, {"referrer": {"url": PAGE}}, PAGE, id="then context.referrer.url"),
        pytest.param({"referrer": ""}, {"referrer": {"url": PAGE}}, PAGE,
                     id="blank referrer falls through"),
        pytest.param({}, {}, None, id="no referrer"),
    ],
)  # fmt: skip
def test_the_page_referrer_fallbacks(
    properties: dict[str, Any], context: dict[str, Any], referrer: str | None
) -> None:
    assert page_referrer(hull_event("page", properties=properties, context=context)) == referrer


def test_a_page_view_is_named_by_its_url_and_carries_the_referrer_in_data() -> None:
    source = hull_event(
        "page",
        event_id="evt-p",
        created_at="2017-09-18T12:18:04Z",
        properties={"title": "Pricing"},
        context={"page": {"url": PAGE}, "referrer_url": OTHER},
    )

    assert to_person_event(source) == OutgoingEvent(
        kind="page",
        name=PAGE,
        data={"title": "Pricing", "referrer": OTHER},
        timestamp=1505737084,
        id=event_ulid("evt-p", 1505737084000),
        type="page",
        source_event_id="evt-p",
    )


def test_a_page_view_without_referrer_has_no_referrer_key() -> None:
    outgoing = to_person_event(hull_event("page", properties={"url": PAGE}))

    assert outgoing is not None
    assert outgoing.data == {"url": PAGE}


def test_a_page_view_without_url_is_skipped_and_the_others_still_go() -> None:
    result = plan(
        synced_user(),
        event("page", event_id="p1", properties={"url": PAGE}),
        event("page", event_id="p2", properties={"title": "no url"}),
        event("Signed Up", event_id="s1"),
        event("page", event_id="p3", context={"page_url": OTHER}),
    )

    assert result.action == Action.IDENTIFY
    assert [(e.kind, e.name, e.source_event_id) for e in result.events] == [
        ("page", PAGE, "p1"),
        ("event", "Signed Up", "s1"),
        ("page", OTHER, "p3"),
    ]
    assert result.skipped_events == [("page", "page_without_url")]


def test_a_page_view_without_url_converts_to_nothing() -> None:
    assert to_person_event(hull_event("page")) is None
    assert to_anonymous_event(hull_event("page"), "web:1") is None


# ---------------------------------------------------------------------------------------------
# §3.4 Anonymous events
# ---------------------------------------------------------------------------------------------

ANONYMOUS = {"anonymous_events": True}


@pytest.mark.parametrize(
    "user_data",
    [
        pytest.param(user(email=None, anonymous_ids=["web:1", "web:2"]), id="rule 1"),
        pytest.param(user(external_id=None, anonymous_ids=["web:1", "web:2"]), id="rule 7"),
    ],
)
def test_an_unidentifiable_user_sends_anonymous_events_with_the_first_anonymous_id(
    user_data: dict[str, Any],
) -> None:
    result = plan(
        user_data,
        event("Signed Up", event_id="s1", anonymous_id="web:9"),
        event("page", event_id="p1", properties={"url": PAGE}),
        **ANONYMOUS,
    )

    assert result.action == Action.SKIP
    assert [(e.kind, e.type, e.name, e.anonymous_id) for e in result.events] == [
        ("anonymous", "event", "Signed Up", "web:1"),
        ("anonymous", "page", PAGE, "web:1"),
    ]
    assert result.skipped_events == []


def test_an_anonymous_event_carries_the_same_body_as_a_person_event() -> None:
    source = hull_event(
        "Ordered", event_id="evt-42", properties={"total": 3}, created_at="2017-09-18T12:18:04Z"
    )

    assert to_anonymous_event(source, "web:1") == OutgoingEvent(
        kind="anonymous",
        name="Ordered",
        data={"total": 3},
        timestamp=1505737084,
        id=event_ulid("evt-42", 1505737084000),
        type="event",
        anonymous_id="web:1",
        source_event_id="evt-42",
    )


def test_without_user_anonymous_ids_the_events_own_anonymous_id_is_used() -> None:
    result = plan(
        user(email=None),
        event("Signed Up", event_id="s1", anonymous_id="web:evt"),
        event("Ordered", event_id="o1"),
        event("Ordered", event_id="o2", anonymous_id="  "),
        **ANONYMOUS,
    )

    assert [(e.source_event_id, e.anonymous_id) for e in result.events] == [("s1", "web:evt")]
    assert result.skipped_events == [("Ordered", "no_identifier"), ("Ordered", "no_identifier")]


def test_anonymous_events_still_follow_the_events_filter() -> None:
    result = plan(
        user(email=None, anonymous_ids=["web:1"]), event("Other"), event("page"), **ANONYMOUS
    )

    assert result.events == []
    assert result.skipped_events == [("Other", "not_whitelisted"), ("page", "page_without_url")]


def test_anonymous_events_need_anonymous_events_on() -> None:
    result = plan(user(email=None, anonymous_ids=["web:1"]), event("Signed Up"))

    assert result.events == []
    assert result.skipped_events == [("Signed Up", "no_email")]


def test_anonymous_events_need_the_user_in_the_segments() -> None:
    result = plan(
        user(email=None, anonymous_ids=["web:1"]),
        event("Signed Up"),
        segments=(OTHER_SEGMENT,),
        **ANONYMOUS,
    )

    assert result.events == []
    assert result.skipped_events == [("Signed Up", "no_email")]


def test_anonymous_events_of_a_batch_bypass_the_segment_filter() -> None:
    result = plan(
        user(email=None, anonymous_ids=["web:1"]),
        event("Signed Up"),
        segments=(OTHER_SEGMENT,),
        batch=True,
        **ANONYMOUS,
    )

    assert [(e.kind, e.anonymous_id) for e in result.events] == [("anonymous", "web:1")]


def test_rule_7_anonymous_events_in_a_batch_outside_the_segments() -> None:
    result = plan(
        user(external_id=None, anonymous_ids=["web:1"]),
        event("Signed Up"),
        segments=(OTHER_SEGMENT,),
        batch=True,
        **ANONYMOUS,
    )

    assert (result.reason, [e.kind for e in result.events]) == ("no_customer_id", ["anonymous"])


@pytest.mark.parametrize(
    "user_data",
    [
        pytest.param(user(anonymous_ids=["web:1"], **{"customerio/suppressed_at": "x"}),
                     id="suppressed"),
        pytest.param(user(anonymous_ids=["web:1"]), id="identifiable"),
    ],
)  # fmt: skip
def test_identifiable_or_suppressed_users_never_send_anonymous_events(
    user_data: dict[str, Any],
) -> None:
    result = plan(user_data, event("Signed Up"), **ANONYMOUS)

    assert all(e.kind != "anonymous" for e in result.events)
