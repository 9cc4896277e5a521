"""SPEC §2.3: the person's attributes — key order, renaming, account attributes, date casting."""

from __future__ import annotations

from typing import Any

import pytest

from builders import MISSING, OTHER_SEGMENT, SYNCED_SEGMENT, message, settings, user
from hull_customerio.rules.attributes import attribute_name, build_attributes, cast_date

JAN_15_10H = 1705312800  # 2024-01-15T10:00:00Z


def attributes(
    user_data: dict[str, Any] | None = None,
    *,
    segments: tuple[dict[str, Any], ...] = (SYNCED_SEGMENT,),
    account: dict[str, Any] | None = None,
    **setting_overrides: Any,
) -> dict[str, Any]:
    return build_attributes(
        message(user_data, segments=segments, account=account), settings(**setting_overrides)
    )


# ---------------------------------------------------------------------------------------------
# Base attributes and key order
# ---------------------------------------------------------------------------------------------


def test_the_base_attributes_are_email_created_at_and_hull_segments_in_that_order() -> None:
    result = attributes(user(created_at="2024-01-15T10:00:00Z"))

    assert list(result.items()) == [
        ("email", "ada@example.com"),
        ("created_at", JAN_15_10H),
        ("hull_segments", ["Customers"]),
    ]


def test_whitelisted_attributes_follow_the_base_ones_in_whitelist_order() -> None:
    user_data = user(created_at=JAN_15_10H, zeta="z", alpha="a", middle="m")

    result = attributes(user_data, synchronized_attributes=["zeta", "alpha", "middle"])

    assert list(result) == ["email", "created_at", "hull_segments", "zeta", "alpha", "middle"]


@pytest.mark.parametrize(
    "created_at",
    ["2024-01-15T10:00:00Z", "2024-01-15 10:00:00 UTC", "2024-01-15T12:00:00+02:00",
     JAN_15_10H, JAN_15_10H * 1000, JAN_15_10H + 0.75],
)  # fmt: skip
def test_created_at_is_sent_as_integer_unix_seconds(created_at: object) -> None:
    result = attributes(user(created_at=created_at))["created_at"]

    assert result == JAN_15_10H
    assert type(result) is int


@pytest.mark.parametrize("created_at", [MISSING, None, "whenever"])
def test_created_at_is_omitted_when_the_user_has_none(created_at: object) -> None:
    result = attributes(user(created_at=created_at))

    assert list(result) == ["email", "hull_segments"]


def test_hull_segments_names_every_segment_in_message_order() -> None:
    third = {"id": "seg_3", "name": "Beta testers"}

    result = attributes(segments=(OTHER_SEGMENT, SYNCED_SEGMENT, third))

    assert result["hull_segments"] == ["Newsletter", "Customers", "Beta testers"]


def test_hull_segments_is_sent_empty_when_the_user_has_no_segment() -> None:
    result = attributes(segments=())

    assert result == {"email": "ada@example.com", "hull_segments": []}


def test_a_segment_whose_name_is_unknown_is_listed_by_its_id() -> None:
    result = attributes(segments=({"id": "seg_9"},))

    assert result["hull_segments"] == ["seg_9"]


def test_anonymous_id_is_the_first_anonymous_id_when_anonymous_events_are_on() -> None:
    user_data = user(anonymous_ids=["web:1", "web:2"], plan="pro")

    result = attributes(user_data, anonymous_events=True, synchronized_attributes=["plan"])

    assert list(result.items()) == [
        ("email", "ada@example.com"),
        ("hull_segments", ["Customers"]),
        ("anonymous_id", "web:1"),
        ("plan", "pro"),
    ]


@pytest.mark.parametrize(
    ("anonymous_ids", "anonymous_events"),
    [(["web:1"], False), ([], True), (MISSING, True), (None, True)],
)
def test_anonymous_id_is_not_sent_otherwise(anonymous_ids: object, anonymous_events: bool) -> None:
    result = attributes(user(anonymous_ids=anonymous_ids), anonymous_events=anonymous_events)

    assert "anonymous_id" not in result


# ---------------------------------------------------------------------------------------------
# Selecting and renaming whitelisted attributes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("whitelisted", "sent_as"),
    [
        ("first_name", "first_name"),
        ("traits_first_name", "first_name"),
        ("clearbit/name", "clearbit-name"),
        ("traits_clearbit/name", "clearbit-name"),
        ("a/b/c", "a-b-c"),
        ("id", "hull_id"),
        ("traits_id", "hull_id"),
        ("hull_id", "hull_id"),
        ("identity", "identity"),
        ("account.name", "account_name"),
        ("account.clearbit/geo_state", "account_clearbit-geo_state"),
        ("account.traits_plan", "account_plan"),
        ("account.id", "account_id"),
    ],
)
def test_attribute_names_are_rewritten_for_customerio(whitelisted: str, sent_as: str) -> None:
    assert attribute_name(whitelisted) == sent_as


@pytest.mark.parametrize(
    ("on_the_wire", "whitelisted"),
    [
        ("clearbit/name", "clearbit/name"),
        ("traits_clearbit/name", "clearbit/name"),
        ("clearbit/name", "traits_clearbit/name"),
        ("traits_clearbit/name", "traits_clearbit/name"),
    ],
)
def test_traits_x_and_x_both_select_the_user_attribute_x(
    on_the_wire: str, whitelisted: str
) -> None:
    result = attributes(user(**{on_the_wire: "Acme"}), synchronized_attributes=[whitelisted])

    assert result["clearbit-name"] == "Acme"
    assert on_the_wire not in result


def test_the_hull_id_is_sent_as_hull_id_and_never_as_the_customerio_id() -> None:
    result = attributes(user(), synchronized_attributes=["id"])

    assert result["hull_id"] == "hull-user-1"
    assert "id" not in result


def test_account_attributes_are_sent_with_an_account_prefix() -> None:
    account = {"id": "acc-1", "clearbit/geo_state": "CA", "traits_plan": "enterprise"}

    result = attributes(
        account=account,
        synchronized_attributes=["account.clearbit/geo_state", "account.plan", "account.id"],
    )

    assert list(result.items()) == [
        ("email", "ada@example.com"),
        ("hull_segments", ["Customers"]),
        ("account_clearbit-geo_state", "CA"),
        ("account_plan", "enterprise"),
        ("account_id", "acc-1"),
    ]


def test_account_attributes_are_not_read_from_the_user() -> None:
    result = attributes(
        user(name="Ada"), account={"domain": "x.io"}, synchronized_attributes=["account.name"]
    )

    assert "account_name" not in result
    assert "name" not in result


def test_account_attributes_are_omitted_without_an_account() -> None:
    result = attributes(synchronized_attributes=["account.name"])

    assert result == {"email": "ada@example.com", "hull_segments": ["Customers"]}


def test_whitelisted_attributes_the_user_does_not_have_are_not_sent() -> None:
    result = attributes(
        user(plan="pro"), synchronized_attributes=["missing", "plan", "also/missing"]
    )

    assert list(result) == ["email", "hull_segments", "plan"]


def test_a_whitelisted_attribute_set_to_null_is_sent_as_null() -> None:
    result = attributes(user(plan=None), synchronized_attributes=["plan"])

    assert result["plan"] is None


def test_a_whitelisted_email_replaces_the_base_email_in_its_place() -> None:
    user_data = user(email="top@example.com", traits_email="trait@example.com", plan="pro")

    result = attributes(user_data, synchronized_attributes=["plan", "traits_email"])

    assert list(result.items()) == [
        ("email", "trait@example.com"),
        ("hull_segments", ["Customers"]),
        ("plan", "pro"),
    ]


def test_a_whitelisted_created_at_replaces_the_base_created_at_in_its_place() -> None:
    user_data = user(created_at="2020-01-01T00:00:00Z", traits_created_at="2024-01-15")

    result = attributes(user_data, synchronized_attributes=["traits_created_at"])

    assert list(result.items()) == [
        ("email", "ada@example.com"),
        ("created_at", 1705276800),
        ("hull_segments", ["Customers"]),
    ]


@pytest.mark.parametrize(
    "value",
    ["text", 42, 4.5, True, False, None, ["a", 1], {"nested": {"deep": [1, 2]}}, ""],
    ids=repr,
)
def test_other_values_are_sent_as_they_are(value: object) -> None:
    result = attributes(user(plan=value), synchronized_attributes=["plan"])

    assert result["plan"] == value
    assert type(result["plan"]) is type(value)


# ---------------------------------------------------------------------------------------------
# Date casting
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param("2024-01-15", 1705276800, id="ISO date"),
        pytest.param("2024-01-15T10:00:00Z", JAN_15_10H, id="ISO datetime Z"),
        pytest.param("2024-01-15T12:00:00+02:00", JAN_15_10H, id="ISO datetime +02:00"),
        pytest.param("2024-01-15T05:00:00-05:00", JAN_15_10H, id="ISO datetime -05:00"),
        pytest.param("2024-01-15T10:00:00.999+00:00", JAN_15_10H, id="fraction rounds down"),
        pytest.param("2024-01-15T10:00:00", JAN_15_10H, id="no zone is UTC"),
        pytest.param("2018-03-30 14:38:02 UTC", 1522420682, id="Hull UTC form"),
        pytest.param(JAN_15_10H, JAN_15_10H, id="epoch seconds"),
        pytest.param(JAN_15_10H * 1000 + 999, JAN_15_10H, id="epoch milliseconds"),
        pytest.param(float(JAN_15_10H) + 0.5, JAN_15_10H, id="epoch seconds, float"),
        pytest.param(0, 0, id="the epoch"),
        pytest.param(-86400, -86400, id="before the epoch"),
    ],
)
def test_dates_under_at_and_date_names_become_integer_unix_seconds(
    value: object, seconds: int
) -> None:
    for name in ("last_login_at", "birth_date"):
        result = cast_date(name, value)
        assert result == seconds
        assert type(result) is int


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("not a date", id="text"),
        pytest.param("", id="empty"),
        pytest.param("2024-13-01", id="month 13"),
        pytest.param("2024-02-30T10:00:00Z", id="February 30th"),
        pytest.param("2024-01-15T25:00:00Z", id="hour 25"),
        pytest.param("1705312800", id="string of digits"),
        pytest.param("15/01/2024", id="not ISO"),
        pytest.param(True, id="boolean"),
        pytest.param(None, id="null"),
        pytest.param(["2024-01-15"], id="list"),
        pytest.param({"at": "2024-01-15"}, id="object"),
        pytest.param(float("inf"), id="infinity"),
        pytest.param(10**20, id="number beyond year 9999"),
    ],
)
def test_invalid_dates_under_date_names_are_sent_unchanged(value: object) -> None:
    assert cast_date("last_login_at", value) is value


@pytest.mark.parametrize(
    "name", ["last_login", "at", "format", "date", "updated_at_text", "update", "birthdate"]
)
def test_values_under_other_names_are_not_cast(name: str) -> None:
    assert cast_date(name, "2024-01-15T10:00:00Z") == "2024-01-15T10:00:00Z"
    assert cast_date(name, JAN_15_10H * 1000) == JAN_15_10H * 1000


def test_whitelisted_dates_are_cast_by_their_rewritten_name() -> None:
    user_data = user(
        **{"traits_stripe/paid_at": "2024-01-15T10:00:00Z", "renewal_date": "2024-01-15"}
    )
    account = {"clearbit/founded_at": 1705312800000, "name_at_signup": "Acme"}

    result = attributes(
        user_data,
        account=account,
        synchronized_attributes=[
            "stripe/paid_at",
            "renewal_date",
            "account.clearbit/founded_at",
            "account.name_at_signup",
        ],
    )

    assert list(result.items())[2:] == [
        ("stripe-paid_at", JAN_15_10H),
        ("renewal_date", 1705276800),
        ("account_clearbit-founded_at", JAN_15_10H),
        ("account_name_at_signup", "Acme"),
    ]


def test_invalid_dates_of_whitelisted_attributes_are_sent_unchanged() -> None:
    result = attributes(user(trial_ends_at="soon"), synchronized_attributes=["trial_ends_at"])

    assert result["trial_ends_at"] == "soon"
