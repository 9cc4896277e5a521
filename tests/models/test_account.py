"""SPEC §11 (issue 24): ``account:update`` messages as Hull sends them — parsed, named from the
notification, and refused with every field at fault when malformed."""

from __future__ import annotations

from typing import Any

import pytest

from hull_customerio.errors import ValidationError
from hull_customerio.models.account import AccountUpdateMessage
from hull_customerio.models.hull import Segment
from hull_customerio.models.notification import parse_notification


def notification(messages: list[Any], **envelope: Any) -> dict[str, Any]:
    return {
        "channel": "account:update",
        "notification_id": "n-1",
        "connector": {"private_settings": {"synchronized_account_segments": ["aseg_1"]}},
        "messages": messages,
        **envelope,
    }


ACCOUNT_MESSAGE = {
    "message_id": "m-1",
    "account": {"id": "acc-1", "external_id": "acme-1", "domain": "acme.example"},
    "account_segments": [{"id": "aseg_1", "name": "Customers"}],
    "changes": {"account": {"name": ["Acme", "Acme Inc"]}},
}


def test_a_message_parses_into_account_segments_changes_and_id() -> None:
    parsed = AccountUpdateMessage.from_dict(ACCOUNT_MESSAGE)
    assert parsed.account_id == "acc-1"
    assert parsed.account["domain"] == "acme.example"
    assert parsed.account_segments == (Segment("aseg_1", "Customers"),)
    assert parsed.changes == {"account": {"name": ["Acme", "Acme Inc"]}}
    assert parsed.message_id == "m-1"


def test_a_message_needs_only_an_account_with_an_id() -> None:
    parsed = AccountUpdateMessage.from_dict({"account": {"id": "a"}, "account_segments": None})
    assert (parsed.account_segments, parsed.changes, parsed.message_id) == ((), {}, None)


def test_account_attributes_are_found_with_or_without_the_traits_prefix() -> None:
    parsed = AccountUpdateMessage.from_dict({"account": {"id": "a", "traits_plan": "gold"}})
    assert parsed.account["plan"] == parsed.account["traits_plan"] == "gold"


@pytest.mark.parametrize(
    ("mapping", "problem"),
    [
        pytest.param({}, "$.account: expected an object, got null", id="no-account"),
        pytest.param({"account": None}, "$.account: expected an object, got null", id="null"),
        pytest.param({"account": ["a"]}, "$.account: expected an object, got a list", id="list"),
        pytest.param(
            {"account": {}}, "$.account.id: expected a non-blank string, got null", id="no-id"
        ),
        pytest.param(
            {"account": {"id": ""}},
            "$.account.id: expected a non-blank string, got an empty string",
            id="empty-id",
        ),
        pytest.param(
            {"account": {"id": 7}},
            "$.account.id: expected a non-blank string, got a number",
            id="number-id",
        ),
        pytest.param(
            {"account": {"id": "a"}, "account_segments": "aseg_1"},
            "$.account_segments: expected a list, got a string",
            id="segments-string",
        ),
        pytest.param(
            {"account": {"id": "a"}, "account_segments": [3]},
            "$.account_segments[0]: expected an object, got a number",
            id="segment-number",
        ),
        pytest.param(
            {"account": {"id": "a"}, "account_segments": [{"name": "x"}]},
            "$.account_segments[0].id: required field missing",
            id="segment-without-id",
        ),
        pytest.param(
            {"account": {"id": "a"}, "changes": []},
            "$.changes: expected an object, got a list",
            id="changes",
        ),
        pytest.param(
            {"account": {"id": "a"}, "message_id": 3},
            "$.message_id: expected a string, got a number",
            id="message-id",
        ),
    ],
)
def test_a_malformed_message_is_a_validation_error_naming_the_field(
    mapping: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        AccountUpdateMessage.from_dict(mapping)
    assert caught.value.problems == [problem]
    assert problem in str(caught.value)


@pytest.mark.parametrize("mapping", [None, [], "account", 3, True])
def test_a_message_must_be_an_object(mapping: Any) -> None:
    with pytest.raises(ValidationError, match="Message 4 is malformed: expected an object"):
        AccountUpdateMessage.from_dict(mapping, index=4)


def test_every_problem_is_listed_even_with_a_bad_account() -> None:
    with pytest.raises(ValidationError) as caught:
        AccountUpdateMessage.from_dict({"account": {"id": 3}, "changes": [], "message_id": 1})
    assert caught.value.problems == [
        "$.account.id: expected a non-blank string, got a number",
        "$.changes: expected an object, got a list",
        "$.message_id: expected a string, got a number",
    ]


def test_the_error_names_the_message_by_index_message_id_and_account() -> None:
    with pytest.raises(ValidationError) as caught:
        AccountUpdateMessage.from_dict({**ACCOUNT_MESSAGE, "changes": 1}, index=2)
    assert str(caught.value).startswith(
        "Message 2 (message_id 'm-1', account 'acc-1') is malformed"
    )


# ---------------------------------------------------------------------------------------------
# In a notification


def test_an_account_update_notification_reads_its_messages_as_accounts() -> None:
    parsed = parse_notification(notification([ACCOUNT_MESSAGE]))
    assert parsed.channel == "account:update"
    assert parsed.messages == []
    assert [m.account_id for m in parsed.account_messages] == ["acc-1"]
    assert parsed.settings.synchronized_account_segments == ("aseg_1",)


def test_account_segment_names_come_from_the_notifications_accounts_segments() -> None:
    raw = {
        "account": {"id": "acc-1"},
        "account_segments": [{"id": "aseg_1"}, {"id": "aseg_2", "name": "Own name"}, {"id": "x"}],
    }
    parsed = parse_notification(
        notification(
            [raw],
            accounts_segments=[
                {"id": "aseg_1", "name": "Customers"},
                {"id": "aseg_2", "name": "Listed name"},
            ],
        )
    )
    (message,) = parsed.account_messages
    # Named from the list when the message has no name; the message's own name wins; an id
    # nobody names stays without a name (hull_segments then shows the id).
    assert message.account_segments == (
        Segment("aseg_1", "Customers"),
        Segment("aseg_2", "Own name"),
        Segment("x", None),
    )
    assert parsed.account_segments == (
        Segment("aseg_1", "Customers"),
        Segment("aseg_2", "Listed name"),
    )


def test_a_user_update_message_names_its_account_segments_from_the_notification() -> None:
    parsed = parse_notification(
        {
            "channel": "user:update",
            "messages": [{"user": {"id": "u1"}, "account_segments": [{"id": "aseg_1"}]}],
            "accounts_segments": [{"id": "aseg_1", "name": "Customers"}],
        }
    )
    (message,) = parsed.messages
    assert message.account_segments == (Segment("aseg_1", "Customers"),)


def test_a_malformed_account_message_is_listed_while_the_others_parse() -> None:
    parsed = parse_notification(
        notification([{"message_id": "bad", "account": {"id": "acc-2"}, "changes": 1},
                      ACCOUNT_MESSAGE, ["not", "a", "message"]])
    )  # fmt: skip
    assert [m.account_id for m in parsed.account_messages] == ["acc-1"]
    assert [(m.index, m.message_id, m.account_id, m.user_id) for m in parsed.malformed] == [
        (0, "bad", "acc-2", None),
        (2, None, None, None),
    ]
    assert parsed.malformed[0].error.problems == ["$.changes: expected an object, got a number"]


@pytest.mark.parametrize("blank", ["", " ", "\r", "\t\n"])
def test_an_account_whose_id_is_blank_is_malformed(blank: str) -> None:
    # Found by the property test: a blank id could not address the Hull account on write-back.
    with pytest.raises(ValidationError, match=r"\$\.account\.id: expected a non-blank string"):
        AccountUpdateMessage.from_dict({"account": {"id": blank}})
