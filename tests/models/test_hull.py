"""SPEC §5.3: Hull notifications and ``user:update`` messages — tolerant of extra keys and of
``traits_`` prefixes, strict on wrong types, with errors naming the field and the message."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from builders import raw_message, user
from hull_customerio.errors import ConfigurationError, ValidationError
from hull_customerio.models.hull import HullAccount, HullEvent, HullUser, Segment, UserUpdateMessage
from hull_customerio.models.notification import parse_notification
from hull_customerio.settings import Settings

SAMPLE = Path(__file__).parents[1] / "data" / "notification-user-update.json"


@pytest.fixture
def sample() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return data


def problems_of(mapping: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        UserUpdateMessage.from_dict(mapping, **kwargs)
    return caught.value.problems


# ---------------------------------------------------------------------------------------------
# The sample notification
# ---------------------------------------------------------------------------------------------


def test_the_sample_notification_parses(sample: dict[str, Any]) -> None:
    notification = parse_notification(sample)

    assert notification.channel == "user:update"
    assert notification.notification_id == "6a1f0c1e-0b7e-4a55-9f39-1c2d3e4f5a6b"
    assert notification.is_export is False
    assert notification.malformed == []
    assert notification.segments == (
        Segment("seg_paying", "Paying customers"),
        Segment("seg_trial", "Trial"),
    )
    assert notification.configuration is not None
    assert notification.configuration.organization == "acme42.hullapp.io"
    assert [m.message_id for m in notification.messages] == ["m-1", "m-2", "m-3"]
    assert [m.user.id for m in notification.messages] == [
        "5c8a1f2e3b4d5e6f7a8b9c01",
        "5c8a1f2e3b4d5e6f7a8b9c02",
        "5c8a1f2e3b4d5e6f7a8b9c03",
    ]


def test_the_settings_come_from_the_connectors_private_settings(sample: dict[str, Any]) -> None:
    settings = parse_notification(sample).settings

    assert settings == Settings(
        site_id="site-123",
        api_key="key-456",
        synchronized_segments=("seg_paying",),
        synchronized_attributes=(
            "first_name",
            "traits_plan/name",
            "account.clearbit/industry",
            "last_login_at",
        ),
        user_id_mapping="external_id",
        enable_user_deletion=True,
        events_filter=("Signed Up", "page"),
        anonymous_events=False,
    )


def test_the_first_sample_message_in_detail(sample: dict[str, Any]) -> None:
    first = parse_notification(sample).messages[0]

    assert first.user.email == "ada@example.com"
    assert first.user.external_id == "cust-001"
    assert first.user.anonymous_ids == ["web:9f8e7d"]
    assert first.user.created_at == "2024-01-15T10:00:00Z"
    assert first.user.indexed_at == "2024-06-01T08:00:00+00:00"
    assert first.user["first_name"] == "Ada"
    assert first.account is not None
    assert first.account["clearbit/industry"] == "Software"
    assert first.segments == (
        Segment("seg_paying", "Paying customers"),
        Segment("seg_trial", "Trial"),
    )
    assert first.events[0] == HullEvent(
        event="Signed Up",
        event_id="evt-0001",
        created_at="2024-06-01 07:59:58 UTC",
        properties={"plan": "Pro", "coupon": None},
        context={"ip": "203.0.113.9"},
    )
    assert [e.event for e in first.events] == ["Signed Up", "page", "Clicked Banner"]
    assert first.changes["user"] == {"traits_plan/name": ["Basic", "Pro"]}


def test_the_connector_secret_is_not_in_the_repr(sample: dict[str, Any]) -> None:
    text = repr(parse_notification(sample))

    assert "connector-secret-for-tests" not in text
    assert "key-456" not in text


@pytest.mark.parametrize(("value", "expected"), [(True, True), (False, False), (None, False)])
def test_is_export(sample: dict[str, Any], value: object, expected: bool) -> None:
    assert parse_notification({**sample, "is_export": value}).is_export is expected


# ---------------------------------------------------------------------------------------------
# Tolerant: extra keys, traits_ prefixes, nulls for empty
# ---------------------------------------------------------------------------------------------


def test_extra_keys_are_ignored_everywhere(sample: dict[str, Any]) -> None:
    data = copy.deepcopy(sample)
    data["new_envelope_key"] = {"x": 1}
    message = data["messages"][0]
    message["new_message_key"] = [1]
    message["user"]["new/user_attribute"] = {"deep": True}
    message["segments"][0]["created_at"] = "2020-01-01"
    message["events"][0]["new_event_key"] = 5
    data["segments"][0]["query"] = {}

    notification = parse_notification(data)

    assert notification.malformed == []
    assert notification.messages[0].user["new/user_attribute"] == {"deep": True}


def test_a_message_needs_only_a_user_with_an_id() -> None:
    parsed = UserUpdateMessage.from_dict({"user": {"id": "u1"}})

    assert parsed.user.id == "u1"
    assert (parsed.segments, parsed.account, parsed.events, parsed.changes) == ((), None, (), {})
    assert parsed.message_id is None


def test_nulls_for_lists_and_objects_read_as_empty() -> None:
    parsed = UserUpdateMessage.from_dict(
        {"user": {"id": "u1"}, "segments": None, "events": None, "account": None,
         "message_id": None}
    )  # fmt: skip
    event = UserUpdateMessage.from_dict(
        {"user": {"id": "u1"}, "events": [{"event": "x", "properties": None, "context": None}]}
    ).events[0]

    assert (parsed.segments, parsed.events, parsed.account) == ((), (), None)
    assert (event.properties, event.context) == ({}, {})


@pytest.mark.parametrize(
    ("stored_as", "looked_up_as"),
    [
        ("customerio/created_at", "customerio/created_at"),
        ("traits_customerio/created_at", "customerio/created_at"),
        ("customerio/created_at", "traits_customerio/created_at"),
        ("traits_customerio/created_at", "traits_customerio/created_at"),
    ],
)
def test_user_attributes_are_found_with_or_without_the_traits_prefix(
    stored_as: str, looked_up_as: str
) -> None:
    hull_user = UserUpdateMessage.from_dict({"user": user(**{stored_as: 42})}).user

    assert hull_user[looked_up_as] == 42
    assert looked_up_as in hull_user
    assert hull_user.get(looked_up_as) == 42


def test_the_plain_name_wins_when_both_forms_arrive() -> None:
    hull_user = HullUser({"id": "u1", "plan": "plain", "traits_plan": "prefixed"})

    assert hull_user["plan"] == "plain"
    assert hull_user["traits_plan"] == "prefixed"


def test_user_attributes_iterate_as_they_arrived() -> None:
    hull_user = HullUser({"id": "u1", "traits_plan": "pro"})

    assert list(hull_user) == ["id", "traits_plan"]
    assert len(hull_user) == 2
    assert hull_user.to_dict() == {"id": "u1", "traits_plan": "pro"}
    assert "plan" in hull_user
    assert "other" not in hull_user
    assert 5 not in hull_user
    with pytest.raises(KeyError):
        hull_user["other"]


def test_account_attributes_are_found_with_or_without_the_traits_prefix() -> None:
    account = HullAccount({"traits_clearbit/industry": "Software"})

    assert account["clearbit/industry"] == "Software"


def test_the_repr_of_attributes_shows_no_values() -> None:
    hull_user = HullUser({"id": "u1", "email": "private@example.com"})

    assert repr(hull_user) == "HullUser(<2 attributes>)"


def test_hull_user_typed_properties_default_sensibly() -> None:
    hull_user = HullUser({"id": "u1"})

    assert (hull_user.email, hull_user.external_id, hull_user.created_at) == (None, None, None)
    assert (hull_user.anonymous_ids, hull_user.indexed_at) == ([], None)


# ---------------------------------------------------------------------------------------------
# Segments: objects, or ids at message level or inside user
# ---------------------------------------------------------------------------------------------

NAMES = {"seg_1": "Customers", "seg_2": "Newsletter"}


def test_segment_ids_at_message_level_are_named_from_the_notification() -> None:
    parsed = UserUpdateMessage.from_dict(
        {"user": {"id": "u1"}, "segment_ids": ["seg_2", "seg_1", "seg_9"]}, segment_names=NAMES
    )

    assert parsed.segments == (
        Segment("seg_2", "Newsletter"),
        Segment("seg_1", "Customers"),
        Segment("seg_9", None),
    )


def test_segment_ids_inside_the_user_are_named_from_the_notification() -> None:
    parsed = UserUpdateMessage.from_dict(
        {"user": {"id": "u1", "segment_ids": ["seg_1"]}}, segment_names=NAMES
    )

    assert parsed.segments == (Segment("seg_1", "Customers"),)


def test_segment_objects_without_names_are_named_from_the_notification() -> None:
    parsed = UserUpdateMessage.from_dict(
        {"user": {"id": "u1"}, "segments": [{"id": "seg_1"}, {"id": "seg_2", "name": "Own"}]},
        segment_names=NAMES,
    )

    assert parsed.segments == (Segment("seg_1", "Customers"), Segment("seg_2", "Own"))


def test_notification_segments_name_the_segment_ids_of_its_messages(
    sample: dict[str, Any],
) -> None:
    data = copy.deepcopy(sample)
    message = data["messages"][2]
    del message["segments"]
    message["user"]["segment_ids"] = ["seg_trial", "seg_paying"]

    parsed = parse_notification(data).messages[2]

    assert parsed.segments == (
        Segment("seg_trial", "Trial"),
        Segment("seg_paying", "Paying customers"),
    )


# ---------------------------------------------------------------------------------------------
# Strict: wrong types are errors naming the field and the message
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param({"user": None}, "$.user: expected an object, got null", id="user null"),
        pytest.param({"user": "u1"}, "$.user: expected an object, got a string", id="user str"),
        pytest.param({"user": {}}, "$.user.id: required field missing", id="user without id"),
        pytest.param({"user": {"id": 5}}, "$.user.id: expected a non-empty string, got a number",
                     id="user id number"),
        pytest.param({"user": user(email=5)},
                     "$.user.email: expected a string or null, got a number", id="email"),
        pytest.param({"user": user(external_id=[1])},
                     "$.user.external_id: expected a string or null, got a list", id="external_id"),
        pytest.param({"user": user(anonymous_ids="web:1")},
                     "$.user.anonymous_ids: expected a list of strings, got a string",
                     id="anonymous_ids"),
        pytest.param({"user": user(created_at=True)},
                     "$.user.created_at: expected a timestamp (string or number) or null, got a "
                     "boolean", id="created_at"),
        pytest.param({"user": user(indexed_at={})},
                     "$.user.indexed_at: expected a timestamp (string or number) or null, got an "
                     "object", id="indexed_at"),
        pytest.param({"message_id": 7}, "$.message_id: expected a string, got a number",
                     id="message_id"),
        pytest.param({"segments": "seg_1"}, "$.segments: expected a list, got a string",
                     id="segments str"),
        pytest.param({"segments": ["seg_1"]}, "$.segments[0]: expected an object, got a string",
                     id="segment str"),
        pytest.param({"segments": [{"id": 1}]}, "$.segments[0].id: expected a string, got a number",
                     id="segment id"),
        pytest.param({"segments": [{"name": "x"}]}, "$.segments[0].id: required field missing",
                     id="segment without id"),
        pytest.param({"segments": None, "segment_ids": "seg_1"},
                     "$.segment_ids: expected a list, got a string", id="segment_ids str"),
        pytest.param({"segments": None, "segment_ids": ["seg_1", 2]},
                     "$.segment_ids[1]: expected a string, got a number", id="segment_ids item"),
        pytest.param({"segments": None, "user": user(segment_ids={"a": 1})},
                     "$.user.segment_ids: expected a list, got an object",
                     id="user segment_ids"),
        pytest.param({"account": ["acc"]}, "$.account: expected an object, got a list",
                     id="account"),
        pytest.param({"events": {"event": "x"}}, "$.events: expected a list, got an object",
                     id="events object"),
        pytest.param({"events": [None]}, "$.events[0]: expected an object, got null",
                     id="event null"),
        pytest.param({"events": [{"properties": {}}]}, "$.events[0].event: required field missing",
                     id="event without name"),
        pytest.param({"events": [{"event": 1}]},
                     "$.events[0].event: expected a string, got a number", id="event name"),
        pytest.param({"events": [{"event": "x", "event_id": 1}]},
                     "$.events[0].event_id: expected a string, got a number", id="event_id"),
        pytest.param({"events": [{"event": "x", "properties": []}]},
                     "$.events[0].properties: expected an object, got a list", id="properties"),
        pytest.param({"events": [{"event": "x", "context": "c"}]},
                     "$.events[0].context: expected an object, got a string", id="context"),
        pytest.param({"events": [{"event": "x", "created_at": [2024]}]},
                     "$.events[0].created_at: expected a timestamp (string or number), got a list",
                     id="event created_at"),
        pytest.param({"events": [{"event": "x", "anonymous_id": 1}]},
                     "$.events[0].anonymous_id: expected a string, got a number",
                     id="event anonymous_id"),
        pytest.param({"changes": []}, "$.changes: expected an object, got a list", id="changes"),
    ],
)  # fmt: skip
def test_a_wrong_type_is_a_validation_error_naming_the_field(
    change: dict[str, Any], problem: str
) -> None:
    assert problems_of({**raw_message(), **change}) == [problem]


def test_every_problem_of_a_message_is_listed() -> None:
    mapping = raw_message(user(email=1), events=[{"event": 2}], account=None, changes=[])

    assert problems_of(mapping) == [
        "$.user.email: expected a string or null, got a number",
        "$.events[0].event: expected a string, got a number",
        "$.changes: expected an object, got a list",
    ]


def test_the_error_names_the_message_by_index_message_id_and_user() -> None:
    mapping = raw_message(user(email=1), message_id="m-9")

    with pytest.raises(ValidationError) as caught:
        UserUpdateMessage.from_dict(mapping, index=4)

    assert str(caught.value) == (
        "Message 4 (message_id 'm-9', user 'hull-user-1') is malformed: "
        "$.user.email: expected a string or null, got a number"
    )


@pytest.mark.parametrize("mapping", [None, [], "message", 5])
def test_a_message_must_be_an_object(mapping: object) -> None:
    with pytest.raises(ValidationError) as caught:
        UserUpdateMessage.from_dict(mapping, index=0)  # type: ignore[arg-type]

    assert str(caught.value).startswith("Message 0 is malformed: expected an object, got ")


def test_a_malformed_message_is_listed_while_the_others_parse(sample: dict[str, Any]) -> None:
    data = copy.deepcopy(sample)
    data["messages"][1]["user"]["email"] = ["grace@example.com"]
    data["messages"].append("not a message")

    notification = parse_notification(data)

    assert [m.message_id for m in notification.messages] == ["m-1", "m-3"]
    assert [(m.index, m.message_id, m.user_id) for m in notification.malformed] == [
        (1, "m-2", "5c8a1f2e3b4d5e6f7a8b9c02"),
        (3, None, None),
    ]
    assert str(notification.malformed[0].error) == (
        "Message 1 (message_id 'm-2', user '5c8a1f2e3b4d5e6f7a8b9c02') is malformed: "
        "$.user.email: expected a string or null, got a list"
    )
    assert notification.malformed[0].error.problems == [
        "$.user.email: expected a string or null, got a list"
    ]
    assert str(notification.malformed[1].error) == (
        "Message 3 is malformed: expected an object, got a string"
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"messages": {}}, "$.messages: expected a list, got an object"),
        ({"segments": "seg"}, "$.segments: expected a list, got a string"),
        ({"is_export": "yes"}, "$.is_export: expected true or false, got a string"),
        ({"connector": []}, "$.connector: expected an object, got a list"),
        ({"channel": 5}, "$.channel: expected a string, got a number"),
        (
            {"configuration": {"secret": 1}},
            "$.configuration.secret: expected a string, got a number",
        ),
    ],
)
def test_a_malformed_envelope_is_a_validation_error(
    sample: dict[str, Any], change: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_notification({**sample, **change})

    assert caught.value.problems == [problem]
    assert str(caught.value) == f"The notification is malformed: {problem}"


def test_a_notification_must_be_an_object() -> None:
    with pytest.raises(ValidationError, match="expected an object, got a list"):
        parse_notification([])  # type: ignore[arg-type]


def test_invalid_private_settings_are_a_configuration_error(sample: dict[str, Any]) -> None:
    data = copy.deepcopy(sample)
    data["connector"]["private_settings"]["max_attributes_per_call"] = 0

    with pytest.raises(ConfigurationError, match="max_attributes_per_call must be from 1 to 300"):
        parse_notification(data)


def test_a_notification_without_messages_or_connector_parses_to_defaults() -> None:
    notification = parse_notification({"channel": "user:update"})

    assert (notification.messages, notification.malformed) == ([], [])
    assert notification.settings == Settings()
