"""SPEC §2.6: change detection by a stable hash of ``{"id": id, **attributes}``."""

from __future__ import annotations

from builders import message, settings, synced_user
from hull_customerio.rules.hashing import person_hash
from hull_customerio.rules.plan import plan_user_update

ATTRIBUTES = {
    "email": "zoë@example.com",
    "created_at": 1705312800,
    "hull_segments": ["Customers", "Bêta"],
    "score": 4.5,
    "address": {"city": "Zürich", "zip": "8001"},
    "tags": ["a", "b"],
    "vip": True,
    "nickname": None,
}
# SHA-256 of the canonical JSON, computed once: a change here makes every user resync.
EXPECTED_DIGEST = "19233dc87c96e438717d473280b1cc1b8ed92dea640bfab67e6f4efc0944665e"


def test_the_hash_of_a_fixed_person_is_a_fixed_digest() -> None:
    assert person_hash("cust-1", ATTRIBUTES) == EXPECTED_DIGEST


def test_the_hash_does_not_depend_on_key_order() -> None:
    reversed_attributes = dict(reversed(list(ATTRIBUTES.items())))
    reordered_nested = {**ATTRIBUTES, "address": {"zip": "8001", "city": "Zürich"}}

    assert person_hash("cust-1", reversed_attributes) == EXPECTED_DIGEST
    assert person_hash("cust-1", reordered_nested) == EXPECTED_DIGEST


def test_the_hash_changes_with_the_id_and_with_any_value() -> None:
    digests = {
        person_hash("cust-1", ATTRIBUTES),
        person_hash("cust-2", ATTRIBUTES),
        person_hash("cust-1", {**ATTRIBUTES, "vip": False}),
        person_hash("cust-1", {**ATTRIBUTES, "hull_segments": ["Bêta", "Customers"]}),
        person_hash("cust-1", {**ATTRIBUTES, "address": {"city": "Zürich"}}),
        person_hash("cust-1", {**ATTRIBUTES, "score": 4.6}),
    }

    assert len(digests) == 6


def test_the_hash_is_64_lowercase_hex_characters() -> None:
    digest = person_hash("cust-1", {})

    assert len(digest) == 64
    assert set(digest) <= set("0123456789abcdef")


def test_a_plan_hashes_its_customer_id_and_attributes() -> None:
    result = plan_user_update(message(synced_user()), settings())

    assert result.hash == person_hash("cust-1", result.attributes)


def test_rule_9_and_10_tell_an_unchanged_person_from_a_changed_one() -> None:
    first = plan_user_update(
        message(synced_user(plan="pro")), settings(synchronized_attributes=["plan"])
    )
    unchanged = plan_user_update(
        message(synced_user(plan="pro", **{"customerio/hash": first.hash})),
        settings(synchronized_attributes=["plan"]),
    )
    changed = plan_user_update(
        message(synced_user(plan="team", **{"customerio/hash": first.hash})),
        settings(synchronized_attributes=["plan"]),
    )

    assert unchanged.reason == "no_changes"
    assert changed.reason == "changed"
    assert changed.hash != first.hash


def test_the_customerio_bookkeeping_attributes_do_not_change_the_hash() -> None:
    before = plan_user_update(message(synced_user()), settings())
    after = plan_user_update(
        message(synced_user(**{"customerio/synced_at": "2024-06-01T00:00:00Z"})), settings()
    )

    assert before.hash == after.hash
