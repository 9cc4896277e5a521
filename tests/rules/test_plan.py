"""SPEC §2.2: the decision table, first matching rule wins; and what each plan carries."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from builders import (
    MISSING,
    OTHER_SEGMENT,
    SYNCED_SEGMENT,
    event,
    message,
    settings,
    synced_user,
    user,
)
from hull_customerio.models.plan import Action
from hull_customerio.rules.hashing import person_hash
from hull_customerio.rules.plan import EVENT_REASON_MESSAGES, REASON_MESSAGES, plan_user_update

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
NOT_IN_SEGMENTS = (OTHER_SEGMENT,)


def plan(
    user_data: dict[str, Any],
    *,
    segments: tuple[dict[str, Any], ...] = (SYNCED_SEGMENT,),
    events: tuple[dict[str, Any], ...] = (),
    batch: bool = False,
    **setting_overrides: Any,
):
    return plan_user_update(
        message(user_data, segments=segments, events=events),
        settings(**setting_overrides),
        batch=batch,
        now=NOW,
    )


def current_hash(user_data: dict[str, Any], **setting_overrides: Any) -> str:
    """The hash the user would get now: what a previous sync stored when nothing changed."""
    return plan(user_data, **setting_overrides).hash


# ---------------------------------------------------------------------------------------------
# Each row on its own
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    [MISSING, None, "", "   ", "\t\n"],
    ids=["key missing", "null", "empty", "blank", "whitespace"],
)
def test_rule_1_skips_a_user_without_a_usable_email(email: Any) -> None:
    result = plan(user(email=email))

    assert (result.action, result.reason) == (Action.SKIP, "no_email")
    assert result.chunks == []
    assert result.traits is None


def test_rule_2_skips_a_user_outside_the_synchronized_segments_when_deletion_is_off() -> None:
    result = plan(synced_user(), segments=NOT_IN_SEGMENTS)

    assert (result.action, result.reason) == (Action.SKIP, "not_in_segments")


def test_rule_2_applies_to_a_user_without_any_segment() -> None:
    assert plan(user(), segments=()).reason == "not_in_segments"


def test_no_synchronized_segments_means_no_user_is_sent() -> None:
    result = plan(user(), synchronized_segments=[])

    assert (result.action, result.reason) == (Action.SKIP, "not_in_segments")


def test_rule_3_deletes_a_synced_user_who_left_all_segments() -> None:
    result = plan(
        synced_user(**{"customerio/id": "cio-stored-id"}),
        segments=NOT_IN_SEGMENTS,
        enable_user_deletion=True,
    )

    assert (result.action, result.reason) == (Action.DELETE, "left_segments")
    assert result.customer_id == "cio-stored-id"
    assert result.chunks == []
    assert result.events == []


def test_rule_3_falls_back_to_the_mapped_id_without_a_stored_customerio_id() -> None:
    result = plan(
        synced_user(**{"customerio/id": MISSING}, external_id="cust-9"),
        segments=NOT_IN_SEGMENTS,
        enable_user_deletion=True,
    )

    assert (result.action, result.customer_id) == (Action.DELETE, "cust-9")


@pytest.mark.parametrize("stored", [MISSING, None, "", "  "])
def test_rule_3_without_stored_or_mapped_id_skips_with_no_customer_id(stored: Any) -> None:
    result = plan(
        synced_user(**{"customerio/id": stored}, external_id=MISSING),
        segments=NOT_IN_SEGMENTS,
        enable_user_deletion=True,
    )

    assert (result.action, result.reason) == (Action.SKIP, "no_customer_id")
    assert result.customer_id is None
    assert result.traits is None


def test_rule_3_reads_the_traits_prefixed_customerio_id() -> None:
    user_data = user(**{"traits_customerio/created_at": 1, "traits_customerio/id": "cio-7"})

    result = plan(user_data, segments=NOT_IN_SEGMENTS, enable_user_deletion=True)

    assert (result.action, result.customer_id) == (Action.DELETE, "cio-7")


@pytest.mark.parametrize("synced", [True, False], ids=["synced", "never synced"])
def test_rule_4_skips_an_already_deleted_user_who_left_all_segments(synced: bool) -> None:
    created = 1700000000 if synced else MISSING
    user_data = user(
        **{"customerio/created_at": created, "customerio/deleted_at": "2024-05-01T00:00:00Z"}
    )

    result = plan(user_data, segments=NOT_IN_SEGMENTS, enable_user_deletion=True)

    assert (result.action, result.reason) == (Action.SKIP, "already_deleted")


def test_rule_5_skips_a_never_synced_user_outside_the_segments_when_deletion_is_on() -> None:
    result = plan(user(), segments=NOT_IN_SEGMENTS, enable_user_deletion=True)

    assert (result.action, result.reason) == (Action.SKIP, "not_in_segments")


def test_rule_6_skips_a_suppressed_user() -> None:
    result = plan(synced_user(**{"customerio/suppressed_at": "2024-01-01T00:00:00Z"}))

    assert (result.action, result.reason) == (Action.SKIP, "suppressed")
    assert result.customer_id == "cust-1"


@pytest.mark.parametrize("external_id", [MISSING, None, "", "   "])
def test_rule_7_skips_a_user_without_the_mapped_id(external_id: Any) -> None:
    result = plan(user(external_id=external_id))

    assert (result.action, result.reason) == (Action.SKIP, "no_customer_id")
    assert result.customer_id is None


def test_rule_7_reads_the_attribute_named_by_user_id_mapping() -> None:
    result = plan(
        user(external_id=MISSING, **{"traits_crm/number": 4711}), user_id_mapping="crm/number"
    )

    assert (result.action, result.customer_id) == (Action.IDENTIFY, "4711")


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [("external_id", "cust-1"), ("id", "hull-user-1"), ("email", "ada@example.com")],
)
def test_the_customerio_id_is_the_mapped_attribute(mapping: str, expected: str) -> None:
    result = plan(user(), user_id_mapping=mapping)

    assert result.customer_id == expected
    assert "id" not in result.attributes


def test_rule_8_inserts_a_never_synced_user() -> None:
    result = plan(user())

    assert (result.action, result.reason) == (Action.IDENTIFY, "new")
    assert result.customer_id == "cust-1"
    assert result.chunks == [result.attributes]


def test_rule_9_skips_an_unchanged_user_without_whitelisted_events() -> None:
    stored = current_hash(synced_user())

    result = plan(
        synced_user(**{"customerio/hash": stored}),
        events=(event("Clicked Banner"),),
        events_filter=["Signed Up"],
    )

    assert (result.action, result.reason) == (Action.SKIP, "no_changes")
    assert result.hash == stored
    assert result.chunks == []
    assert result.skipped_events == [("Clicked Banner", "not_whitelisted")]


def test_rule_9_reads_the_traits_prefixed_hash() -> None:
    stored = current_hash(synced_user())

    result = plan(synced_user(**{"traits_customerio/hash": stored}))

    assert result.reason == "no_changes"


def test_rule_10_updates_a_synced_user_whose_hash_changed() -> None:
    result = plan(synced_user(**{"customerio/hash": "an-old-digest"}))

    assert (result.action, result.reason) == (Action.IDENTIFY, "changed")


def test_rule_10_updates_an_unchanged_user_who_has_a_whitelisted_event() -> None:
    stored = current_hash(synced_user())

    result = plan(
        synced_user(**{"customerio/hash": stored}),
        events=(event("Signed Up"),),
        events_filter=["Signed Up"],
    )

    assert (result.action, result.reason) == (Action.IDENTIFY, "changed")
    assert [e.name for e in result.events] == ["Signed Up"]


def test_rule_10_updates_a_synced_user_without_any_stored_hash() -> None:
    assert plan(synced_user()).reason == "changed"


# ---------------------------------------------------------------------------------------------
# First matching rule wins
# ---------------------------------------------------------------------------------------------

SUPPRESSED = {"customerio/suppressed_at": "2024-01-01T00:00:00Z"}
DELETED = {"customerio/deleted_at": "2024-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("user_data", "segments", "overrides", "expected"),
    [
        pytest.param(user(email=None), NOT_IN_SEGMENTS, {}, "no_email",
                     id="1 before 2: no email and not in segments"),
        pytest.param(synced_user(email=None), NOT_IN_SEGMENTS, {"enable_user_deletion": True},
                     "no_email", id="1 before 3: no email, synced, left segments"),
        pytest.param(user(email="", **SUPPRESSED), (SYNCED_SEGMENT,), {}, "no_email",
                     id="1 before 6: no email and suppressed"),
        pytest.param(user(email=" ", external_id=None), (SYNCED_SEGMENT,), {}, "no_email",
                     id="1 before 7: neither email nor id"),
        pytest.param(synced_user(**SUPPRESSED), NOT_IN_SEGMENTS, {}, "not_in_segments",
                     id="2 before 6: suppressed, not in segments, deletion off"),
        pytest.param(user(external_id=None), NOT_IN_SEGMENTS, {}, "not_in_segments",
                     id="2 before 7: no id, not in segments"),
        pytest.param(synced_user(**SUPPRESSED), NOT_IN_SEGMENTS, {"enable_user_deletion": True},
                     "left_segments", id="3 before 6: suppressed, synced, left segments"),
        pytest.param(synced_user(**DELETED), NOT_IN_SEGMENTS, {"enable_user_deletion": True},
                     "already_deleted", id="4 over 3: synced and deleted"),
        pytest.param(user(**SUPPRESSED), NOT_IN_SEGMENTS, {"enable_user_deletion": True},
                     "not_in_segments", id="5 before 6: suppressed, never synced"),
        pytest.param(user(external_id=None, **SUPPRESSED), (SYNCED_SEGMENT,), {}, "suppressed",
                     id="6 before 7: suppressed and no id"),
        pytest.param(user(external_id=None), (SYNCED_SEGMENT,), {}, "no_customer_id",
                     id="7 before 8: no id, never synced"),
        pytest.param(synced_user(**SUPPRESSED, **{"customerio/hash": "x"}), (SYNCED_SEGMENT,),
                     {}, "suppressed", id="6 before 10: suppressed and changed"),
    ],
)  # fmt: skip
def test_the_first_matching_rule_wins(
    user_data: dict[str, Any],
    segments: tuple[dict[str, Any], ...],
    overrides: dict[str, Any],
    expected: str,
) -> None:
    assert plan(user_data, segments=segments, **overrides).reason == expected


def test_one_synchronized_segment_among_others_is_enough() -> None:
    result = plan(user(), segments=(OTHER_SEGMENT, SYNCED_SEGMENT))

    assert result.reason == "new"


# ---------------------------------------------------------------------------------------------
# Batch mode (manual "send to connector", exports)
# ---------------------------------------------------------------------------------------------


def test_batch_mode_bypasses_the_segment_filter() -> None:
    result = plan(user(), segments=NOT_IN_SEGMENTS, batch=True)

    assert (result.action, result.reason) == (Action.IDENTIFY, "new")


def test_batch_mode_sends_users_even_without_synchronized_segments() -> None:
    result = plan(user(), segments=(), batch=True, synchronized_segments=[])

    assert result.reason == "new"


@pytest.mark.parametrize(
    ("user_data", "action", "reason"),
    [
        pytest.param(synced_user(), Action.DELETE, "left_segments", id="rule 3"),
        pytest.param(synced_user(**DELETED), Action.SKIP, "already_deleted", id="rule 4"),
        pytest.param(user(), Action.SKIP, "not_in_segments", id="rule 5"),
    ],
)
def test_batch_mode_still_applies_rules_3_to_5_when_deletion_is_enabled(
    user_data: dict[str, Any], action: Action, reason: str
) -> None:
    result = plan(user_data, segments=NOT_IN_SEGMENTS, batch=True, enable_user_deletion=True)

    assert (result.action, result.reason) == (action, reason)


def test_batch_mode_does_not_bypass_rules_1_and_6() -> None:
    assert plan(user(email=None), segments=(), batch=True).reason == "no_email"
    assert plan(user(**SUPPRESSED), segments=(), batch=True).reason == "suppressed"


# ---------------------------------------------------------------------------------------------
# Hull's traits_ prefix (§5.3) is read like the plain name
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "segments", "overrides", "expected"),
    [
        pytest.param({"traits_customerio/created_at": "2024-01-01T00:00:00Z"}, (SYNCED_SEGMENT,),
                     {}, "changed", id="synced"),
        pytest.param({"traits_customerio/created_at": 1, "traits_customerio/deleted_at": 2},
                     NOT_IN_SEGMENTS, {"enable_user_deletion": True}, "already_deleted",
                     id="deleted"),
        pytest.param({"traits_customerio/suppressed_at": "2024-01-01"}, (SYNCED_SEGMENT,), {},
                     "suppressed", id="suppressed"),
        pytest.param({"traits_crm_id": "c-1"}, (SYNCED_SEGMENT,),
                     {"user_id_mapping": "crm_id"}, "new", id="mapped id"),
        pytest.param({"crm_id": "c-1"}, (SYNCED_SEGMENT,),
                     {"user_id_mapping": "traits_crm_id"}, "new", id="mapped id named traits_"),
    ],
)  # fmt: skip
def test_traits_prefixed_attributes_are_read_like_plain_ones(
    attributes: dict[str, Any],
    segments: tuple[dict[str, Any], ...],
    overrides: dict[str, Any],
    expected: str,
) -> None:
    assert plan(user(**attributes), segments=segments, **overrides).reason == expected


# ---------------------------------------------------------------------------------------------
# Reason sentences
# ---------------------------------------------------------------------------------------------

EXPECTED_MESSAGES = {
    "no_email": "User has no email and will not be sent to Customer.io.",
    "not_in_segments": (
        "User is not in the synchronized segments and will not be sent to Customer.io."
    ),
    "left_segments": "User left the synchronized segments and will be deleted from Customer.io.",
    "already_deleted": (
        "User left the synchronized segments and was already deleted from Customer.io."
    ),
    "suppressed": "User is suppressed in Customer.io and will not be sent to Customer.io.",
    "no_customer_id": (
        "User has no value for the attribute used as the Customer.io id and will not be sent "
        "to Customer.io."
    ),
    "new": "User is new to Customer.io and will be created.",
    "no_changes": "User has not changed since the last sync and has no new events to send.",
    "changed": "User has changed or has new events and will be updated in Customer.io.",
    "invalid_attributes": (
        "User has values Customer.io would reject and will not be sent to Customer.io."
    ),
}


def test_every_reason_code_has_its_sentence() -> None:
    assert dict(REASON_MESSAGES) == EXPECTED_MESSAGES


@pytest.mark.parametrize("text", [*REASON_MESSAGES.values(), *EVENT_REASON_MESSAGES.values()])
def test_each_reason_message_is_one_sentence(text: str) -> None:
    assert text[0].isupper()
    assert text.endswith(".")
    assert text.count(". ") == 0


def test_the_event_skip_reasons_have_sentences() -> None:
    assert set(EVENT_REASON_MESSAGES) == {
        "not_whitelisted",
        "page_without_url",
        "no_identifier",
        "event_too_large",
        "invalid_event",
    }


@pytest.mark.parametrize(
    ("user_data", "segments", "overrides", "reason"),
    [
        (user(email=None), (SYNCED_SEGMENT,), {}, "no_email"),
        (user(), NOT_IN_SEGMENTS, {}, "not_in_segments"),
        (synced_user(), NOT_IN_SEGMENTS, {"enable_user_deletion": True}, "left_segments"),
        (synced_user(**DELETED), NOT_IN_SEGMENTS, {"enable_user_deletion": True},
         "already_deleted"),
        (user(**SUPPRESSED), (SYNCED_SEGMENT,), {}, "suppressed"),
        (user(external_id=None), (SYNCED_SEGMENT,), {}, "no_customer_id"),
        (user(), (SYNCED_SEGMENT,), {}, "new"),
        (synced_user(), (SYNCED_SEGMENT,), {}, "changed"),
        (user(external_id="x" * 151), (SYNCED_SEGMENT,), {}, "invalid_attributes"),
    ],
)  # fmt: skip
def test_each_plan_carries_the_sentence_of_its_reason(
    user_data: dict[str, Any],
    segments: tuple[dict[str, Any], ...],
    overrides: dict[str, Any],
    reason: str,
) -> None:
    result = plan(user_data, segments=segments, **overrides)

    assert (result.reason, result.message) == (reason, EXPECTED_MESSAGES[reason])


# ---------------------------------------------------------------------------------------------
# What the plans carry
# ---------------------------------------------------------------------------------------------


def test_an_identify_plan_carries_attributes_chunks_hash_and_write_back() -> None:
    user_data = user(created_at="2024-01-15T10:00:00Z")

    result = plan(user_data)

    assert result.user_id == "hull-user-1"
    assert result.attributes == {
        "email": "ada@example.com",
        "created_at": 1705312800,
        "hull_segments": ["Customers"],
    }
    assert result.chunks == [result.attributes]
    assert result.hash == person_hash("cust-1", result.attributes)
    assert result.traits == {
        "customerio/id": "cust-1",
        "customerio/created_at": 1705312800,
        "customerio/hash": result.hash,
        "customerio/synced_at": "2024-06-01T12:00:00.000Z",
        "customerio/deleted_at": None,
    }
    assert result.hull_claims == {"external_id": "cust-1"}
    assert result.errors == []


def test_a_delete_plan_carries_the_deletion_write_back() -> None:
    result = plan(synced_user(), segments=NOT_IN_SEGMENTS, enable_user_deletion=True)

    assert result.traits == {
        "customerio/deleted_at": "2024-06-01T12:00:00.000Z",
        "customerio/id": None,
        "customerio/hash": None,
        "customerio/synced_at": None,
        "customerio/created_at": None,
    }
    assert result.hull_claims == {"external_id": "cust-1"}


def test_a_delete_plan_checks_the_id_against_its_limit() -> None:
    long_id = "x" * 151
    result = plan(
        synced_user(**{"customerio/id": long_id}),
        segments=NOT_IN_SEGMENTS,
        enable_user_deletion=True,
    )

    assert (result.action, result.reason) == (Action.ERROR, "invalid_attributes")
    assert result.errors == [
        "The Customer.io id is 151 bytes long; the limit is 150 bytes "
        "(max_identifier_value_length)."
    ]


@pytest.mark.parametrize(
    ("user_data", "segments", "overrides"),
    [
        (user(email=None), (SYNCED_SEGMENT,), {}),
        (user(), NOT_IN_SEGMENTS, {}),
        (user(**SUPPRESSED), (SYNCED_SEGMENT,), {}),
        (user(external_id=None), (SYNCED_SEGMENT,), {}),
    ],
)
def test_a_skipped_user_has_no_write_back_and_sends_nothing(
    user_data: dict[str, Any], segments: tuple[dict[str, Any], ...], overrides: dict[str, Any]
) -> None:
    result = plan(user_data, segments=segments, **overrides)

    assert result.action == Action.SKIP
    assert (result.traits, result.chunks, result.events) == (None, [], [])


def test_the_default_now_is_the_current_utc_time() -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    traits = plan_user_update(message(user()), settings()).traits

    assert traits is not None
    synced_at = datetime.strptime(traits["customerio/synced_at"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert synced_at >= before


def test_the_same_message_and_settings_give_the_same_plan() -> None:
    first = plan(synced_user(), events=(event("Signed Up"),), events_filter=["Signed Up"])
    second = plan(synced_user(), events=(event("Signed Up"),), events_filter=["Signed Up"])

    assert first == second
