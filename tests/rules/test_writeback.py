"""SPEC §2.7: what is written back to the Hull user, and how the Hull user is addressed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from builders import MISSING, message, settings, synced_user, user
from hull_customerio.models.hull import HullUser
from hull_customerio.rules.plan import plan_user_update
from hull_customerio.rules.writeback import deletion_traits, hull_claims, identify_traits

NOW = datetime(2024, 6, 1, 12, 0, 0, 250_000, tzinfo=timezone.utc)
NOW_SECONDS = 1717243200
NOW_ISO = "2024-06-01T12:00:00.250Z"


def test_after_an_identify_the_customerio_traits_record_the_sync() -> None:
    traits = identify_traits("cust-1", {"email": "a@b.c", "created_at": 1705312800}, "digest", NOW)

    assert traits == {
        "customerio/id": "cust-1",
        "customerio/created_at": 1705312800,
        "customerio/hash": "digest",
        "customerio/synced_at": NOW_ISO,
        "customerio/deleted_at": None,
    }


def test_without_a_sent_created_at_the_sync_time_marks_the_user_synced() -> None:
    traits = identify_traits("cust-1", {"email": "a@b.c"}, "digest", NOW)

    assert traits["customerio/created_at"] == NOW_SECONDS


def test_the_sync_time_is_written_in_utc_whatever_the_zone_of_now() -> None:
    paris = timezone(timedelta(hours=2))
    traits = identify_traits("c", {}, "d", datetime(2024, 6, 1, 14, 0, 0, 250_000, tzinfo=paris))

    assert traits["customerio/synced_at"] == NOW_ISO
    assert traits["customerio/created_at"] == NOW_SECONDS


def test_each_sync_time_is_written_as_itself_when_many_are_used_in_turn() -> None:
    # The formatted sync time is remembered per `now`: cycling through more times than it
    # remembers must still give each one its own text.
    for round_ in range(2):
        for step in range(20):
            now = NOW + timedelta(seconds=step, microseconds=round_)
            traits = identify_traits("c", {}, "d", now)

            assert traits["customerio/synced_at"] == f"2024-06-01T12:00:{step:02d}.250Z"
            assert traits["customerio/created_at"] == NOW_SECONDS + step
            assert deletion_traits(now)["customerio/deleted_at"] == traits["customerio/synced_at"]


def test_after_a_delete_the_user_is_marked_deleted_and_unsynced() -> None:
    assert deletion_traits(NOW) == {
        "customerio/deleted_at": NOW_ISO,
        "customerio/id": None,
        "customerio/hash": None,
        "customerio/synced_at": None,
        "customerio/created_at": None,
    }


def test_a_deleted_user_who_comes_back_is_inserted_again() -> None:
    # What Hull holds after the deletion write-back, with the user back in the segments.
    returning = user(**{f"traits_{name}": value for name, value in deletion_traits(NOW).items()})

    result = plan_user_update(message(returning), settings(enable_user_deletion=True), now=NOW)

    assert (result.action.value, result.reason) == ("identify", "new")
    assert result.traits is not None
    assert result.traits["customerio/deleted_at"] is None


def test_a_plan_writes_back_with_the_injected_now() -> None:
    result = plan_user_update(message(synced_user()), settings(), now=NOW)

    assert result.traits is not None
    assert result.traits["customerio/synced_at"] == NOW_ISO
    assert result.traits["customerio/created_at"] == NOW_SECONDS  # the user has no created_at


@pytest.mark.parametrize(
    ("attributes", "mapping", "claims"),
    [
        pytest.param({}, "external_id", {"external_id": "cust-1"}, id="external_id mapping"),
        pytest.param({"anonymous_ids": ["web:1"]}, "external_id", {"external_id": "cust-1"},
                     id="external_id alone even with other claims"),
        pytest.param({"external_id": MISSING, "anonymous_ids": ["web:1", "web:2"]},
                     "external_id",
                     {"id": "hull-user-1", "email": "ada@example.com", "anonymous_id": "web:1"},
                     id="no external_id: every claim the user has"),
        pytest.param({"external_id": "  "}, "external_id",
                     {"id": "hull-user-1", "email": "ada@example.com"}, id="blank external_id"),
        pytest.param({}, "email",
                     {"id": "hull-user-1", "email": "ada@example.com", "external_id": "cust-1"},
                     id="other mapping"),
        pytest.param({"email": None, "anonymous_ids": ["web:1"]}, "id",
                     {"id": "hull-user-1", "external_id": "cust-1", "anonymous_id": "web:1"},
                     id="null email is not a claim"),
    ],
)  # fmt: skip
def test_the_hull_user_is_addressed_by_its_claims(
    attributes: dict[str, Any], mapping: str, claims: dict[str, str]
) -> None:
    assert hull_claims(HullUser(user(**attributes)), mapping) == claims


def test_plans_carry_the_hull_claims() -> None:
    result = plan_user_update(
        message(user(external_id=None)), settings(user_id_mapping="email"), now=NOW
    )

    assert result.hull_claims == {"id": "hull-user-1", "email": "ada@example.com"}
