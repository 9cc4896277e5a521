"""SPEC §11 (issue 24): what `plan_account_update` decides for one account — each reason at its
edges, the object's attributes, the hash, the limits, deletion, claims and write-back."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from account_builders import (
    MISSING,
    NOW,
    NOW_ISO,
    OTHER_ACCOUNT_SEGMENT,
    SYNCED_ACCOUNT_SEGMENT,
    account,
    account_message,
    account_settings,
)

from hull_customerio._serialization import compact_json
from hull_customerio.customerio._base import MAX_BATCH_OPERATION_BYTES
from hull_customerio.customerio.operations import ObjectIdentify, ObjectRef
from hull_customerio.models.account import AccountPlan
from hull_customerio.models.plan import Action
from hull_customerio.rules.accounts import (
    ACCOUNT_REASON_MESSAGES,
    MAX_OBJECT_ATTRIBUTES,
    MAX_OBJECT_ATTRIBUTES_BYTES,
    MAX_OPERATION_BYTES,
    build_object_attributes,
    plan_account_update,
    validate_object,
)
from hull_customerio.rules.hashing import object_hash

NOT_IN_SEGMENTS = (OTHER_ACCOUNT_SEGMENT,)


def plan(
    account_data: dict[str, Any] | None = None,
    *,
    segments: tuple[dict[str, Any], ...] = (SYNCED_ACCOUNT_SEGMENT,),
    **setting_overrides: Any,
) -> AccountPlan:
    return plan_account_update(
        account_message(account_data, segments=segments),
        account_settings(**setting_overrides),
        now=NOW,
    )


def sent(**attributes: Any) -> dict[str, Any]:
    """An account whose object was sent earlier (a stored object id)."""
    return account(**{"customerio/object_id": "acme-1", **attributes})


def in_sync(**overrides: Any) -> dict[str, Any]:
    """An account sent earlier exactly as it is now (stored id and hash are the current ones)."""
    data = sent(**overrides)
    digest = plan(data).hash
    assert digest
    data["customerio/hash"] = digest
    return data


# ---------------------------------------------------------------------------------------------
# Reasons, first rule wins


def test_every_reason_has_a_sentence() -> None:
    assert set(ACCOUNT_REASON_MESSAGES) == {
        "no_segments", "not_in_segments", "left_segments", "no_object_id", "new",
        "no_changes", "changed", "invalid_attributes",
    }  # fmt: skip
    for reason, sentence in ACCOUNT_REASON_MESSAGES.items():
        assert sentence.endswith("."), reason


@pytest.mark.parametrize("deletion", [False, True])
def test_no_synchronized_account_segments_sends_no_object_ever(deletion: bool) -> None:
    # Even a synced account in every segment, with deletion on: nothing is sent nor deleted.
    result = plan(sent(), synchronized_account_segments=[], enable_account_deletion=deletion)
    assert (result.action, result.reason) == (Action.SKIP, "no_segments")
    assert result.message == ACCOUNT_REASON_MESSAGES["no_segments"]
    assert result.traits is None
    assert result.object_id == "acme-1"


def test_an_account_in_one_synchronized_segment_among_others_is_sent() -> None:
    result = plan(segments=(OTHER_ACCOUNT_SEGMENT, SYNCED_ACCOUNT_SEGMENT))
    assert (result.action, result.reason) == (Action.IDENTIFY, "new")


@pytest.mark.parametrize("segments", [(), NOT_IN_SEGMENTS])
def test_an_account_in_no_synchronized_segment_is_not_sent(
    segments: tuple[dict[str, Any], ...],
) -> None:
    result = plan(segments=segments)
    assert (result.action, result.reason) == (Action.SKIP, "not_in_segments")
    assert (result.traits, result.attributes, result.hash) == (None, {}, "")


def test_the_segment_filter_matches_ids_not_names() -> None:
    same_name = ({"id": "aseg_9", "name": "aseg_1"},)
    assert plan(segments=same_name).reason == "not_in_segments"


def test_deletion_off_leaves_a_synced_account_that_left_the_segments() -> None:
    result = plan(sent(), segments=NOT_IN_SEGMENTS, enable_account_deletion=False)
    assert (result.action, result.reason) == (Action.SKIP, "not_in_segments")


def test_deletion_on_deletes_a_synced_account_that_left_the_segments() -> None:
    result = plan(sent(), segments=NOT_IN_SEGMENTS, enable_account_deletion=True)
    assert (result.action, result.reason) == (Action.DELETE, "left_segments")
    assert result.message == ACCOUNT_REASON_MESSAGES["left_segments"]
    assert (result.object_type_id, result.object_id) == ("1", "acme-1")
    assert result.traits == {
        "customerio/deleted_at": NOW_ISO,
        "customerio/object_id": None,
        "customerio/hash": None,
        "customerio/synced_at": None,
    }
    assert result.attributes == {}


def test_a_delete_addresses_the_stored_id_even_when_the_mapped_id_changed() -> None:
    moved = sent(**{"customerio/object_id": "acme.example"}, domain="acme.new")
    result = plan(
        moved, segments=NOT_IN_SEGMENTS, enable_account_deletion=True, account_id_mapping="domain"
    )
    assert (result.action, result.object_id) == (Action.DELETE, "acme.example")


def test_a_delete_addresses_the_stored_id_even_when_the_mapped_attribute_is_gone() -> None:
    result = plan(sent(external_id=MISSING), segments=NOT_IN_SEGMENTS, enable_account_deletion=True)
    assert (result.action, result.object_id) == (Action.DELETE, "acme-1")


@pytest.mark.parametrize("stored", [MISSING, None, "", "   "])
def test_deletion_on_never_deletes_an_account_without_a_stored_object_id(stored: Any) -> None:
    data = account(**{"customerio/object_id": stored})
    result = plan(data, segments=NOT_IN_SEGMENTS, enable_account_deletion=True)
    assert (result.action, result.reason) == (Action.SKIP, "not_in_segments")


def test_the_stored_object_id_is_read_with_the_traits_prefix_too() -> None:
    data = account(**{"traits_customerio/object_id": "acme-1"})
    result = plan(data, segments=NOT_IN_SEGMENTS, enable_account_deletion=True)
    assert (result.action, result.object_id) == (Action.DELETE, "acme-1")


def test_a_stored_object_id_too_long_to_address_is_an_error_not_a_delete() -> None:
    data = account(**{"customerio/object_id": "x" * 151})
    result = plan(data, segments=NOT_IN_SEGMENTS, enable_account_deletion=True)
    assert (result.action, result.reason) == (Action.ERROR, "invalid_attributes")
    assert result.errors == [
        "The stored object id is 151 bytes long; the limit is 150 bytes "
        "(max_identifier_value_length)."
    ]


@pytest.mark.parametrize(
    "value", [MISSING, None, "", "   ", True, [], {}, float("nan"), 10**200], ids=repr
)
def test_an_account_without_a_usable_mapped_value_has_no_object_id(value: Any) -> None:
    result = plan(account(external_id=value))
    assert (result.action, result.reason) == (Action.SKIP, "no_object_id")
    assert result.message == ACCOUNT_REASON_MESSAGES["no_object_id"]
    assert result.object_id is None


@pytest.mark.parametrize(
    ("mapping", "data", "expected"),
    [
        ("external_id", {}, "acme-1"),
        ("id", {}, "hull-account-1"),
        ("domain", {}, "acme.example"),
        ("crm_number", {"crm_number": 42}, "42"),
        ("crm_number", {"crm_number": 4.5}, "4.5"),
        ("crm_number", {"traits_crm_number": "C-7"}, "C-7"),
        ("traits_crm_number", {"crm_number": "C-8"}, "C-8"),
        ("external_id", {"external_id": " padded "}, " padded "),
    ],
)
def test_the_object_id_is_the_mapped_attribute_as_text(
    mapping: str, data: dict[str, Any], expected: str
) -> None:
    result = plan(account(**data), account_id_mapping=mapping)
    assert (result.action, result.object_id) == (Action.IDENTIFY, expected)


def test_an_account_never_sent_is_new() -> None:
    result = plan()
    assert (result.action, result.reason) == (Action.IDENTIFY, "new")
    assert result.message == ACCOUNT_REASON_MESSAGES["new"]
    assert (result.object_type_id, result.object_id) == ("1", "acme-1")
    assert result.traits == {
        "customerio/object_id": "acme-1",
        "customerio/hash": result.hash,
        "customerio/synced_at": NOW_ISO,
        "customerio/deleted_at": None,
    }
    assert result.errors == []


def test_an_account_sent_as_it_is_now_has_no_changes() -> None:
    result = plan(in_sync())
    assert (result.action, result.reason) == (Action.SKIP, "no_changes")
    assert result.traits is None
    assert result.hash  # hashed, and the attributes shown
    assert result.attributes["name"] == "Acme"


def test_any_attribute_change_since_the_last_sync_is_changed() -> None:
    data = in_sync()
    data["name"] = "Acme Inc"
    result = plan(data)
    assert (result.action, result.reason) == (Action.IDENTIFY, "changed")
    assert result.traits is not None
    assert result.traits["customerio/hash"] == result.hash != data["customerio/hash"]


def test_a_stored_hash_read_with_the_traits_prefix_counts() -> None:
    data = in_sync()
    data["traits_customerio/hash"] = data.pop("customerio/hash")
    assert plan(data).reason == "no_changes"


def test_a_new_mapped_id_is_changed_even_with_the_stored_hash_of_the_new_object() -> None:
    # The stored id says which object exists: another id is another object to create.
    data = in_sync(external_id="acme-2")  # hashed under acme-2
    data["customerio/object_id"] = "acme-1"
    result = plan(data)
    assert (result.action, result.reason, result.object_id) == (
        Action.IDENTIFY,
        "changed",
        "acme-2",
    )


def test_a_changed_object_type_resends_the_object() -> None:
    data = in_sync()
    assert plan(data, object_type_id="2").reason == "changed"


def test_an_account_whose_object_was_deleted_is_new_again() -> None:
    data = account(**{"customerio/object_id": None, "customerio/deleted_at": NOW_ISO})
    assert plan(data).reason == "new"


# ---------------------------------------------------------------------------------------------
# Attributes


def test_the_attributes_are_name_domain_segments_then_the_whitelist_in_its_order() -> None:
    data = account(
        **{"clearbit/name": "Acme Corp", "plan": "gold", "founded_at": "2020-01-02T00:00:00Z"}
    )
    result = plan(
        data,
        segments=(SYNCED_ACCOUNT_SEGMENT, OTHER_ACCOUNT_SEGMENT),
        synchronized_account_attributes=["plan", "founded_at", "clearbit/name", "missing"],
    )
    assert list(result.attributes.items()) == [
        ("name", "Acme"),
        ("domain", "acme.example"),
        ("hull_segments", ["Customers", "Prospects"]),
        ("plan", "gold"),
        ("founded_at", 1577923200),
        ("clearbit-name", "Acme Corp"),
    ]


@pytest.mark.parametrize(
    ("name", "value", "target", "sent_value"),
    [
        ("clearbit/name", "A", "clearbit-name", "A"),
        ("traits_score", 3, "score", 3),
        ("id", "ignored", "hull_id", "hull-account-1"),
        ("renewal_date", "2024-01-15", "renewal_date", 1705276800),
        ("renewal_at", 1_700_000_000_123, "renewal_at", 1_700_000_000),
        ("renewal_at", "not a date", "renewal_at", "not a date"),
        ("size", "2024-01-15", "size", "2024-01-15"),  # not a date name: unchanged
    ],
)
def test_whitelisted_attributes_are_named_and_cast_as_users_are(
    name: str, value: Any, target: str, sent_value: Any
) -> None:
    data = account() if name == "id" else account(**{name.removeprefix("traits_"): value})
    result = plan(data, synchronized_account_attributes=[name])
    assert result.attributes[target] == sent_value


def test_an_attribute_sent_with_the_traits_prefix_is_found_under_either_name() -> None:
    result = plan(account(traits_plan="gold"), synchronized_account_attributes=["plan"])
    assert result.attributes["plan"] == "gold"


@pytest.mark.parametrize("missing", [MISSING, None])
def test_name_and_domain_are_left_out_when_absent_or_null(missing: Any) -> None:
    result = plan(account(name=missing, domain=missing))
    assert list(result.attributes) == ["hull_segments"]


def test_name_and_domain_are_read_with_the_traits_prefix_too() -> None:
    data = account(name=MISSING, domain=MISSING, traits_name="N", traits_domain="d.example")
    assert list(plan(data).attributes.items())[:2] == [("name", "N"), ("domain", "d.example")]


def test_a_whitelisted_name_replaces_the_base_value_in_its_place() -> None:
    data = account(traits_name="Whitelisted")
    data.pop("name")
    result = plan(data, synchronized_account_attributes=["domain", "traits_name"])
    assert list(result.attributes.items()) == [
        ("name", "Whitelisted"),
        ("domain", "acme.example"),
        ("hull_segments", ["Customers"]),
    ]


def test_hull_segments_lists_every_account_segment_by_name_else_by_id() -> None:
    segments = (SYNCED_ACCOUNT_SEGMENT, {"id": "aseg_unnamed"}, OTHER_ACCOUNT_SEGMENT)
    result = plan(segments=segments)
    assert result.attributes["hull_segments"] == ["Customers", "aseg_unnamed", "Prospects"]


def test_hull_segments_is_an_empty_list_for_an_account_in_no_segment() -> None:
    message = account_message(segments=())
    assert build_object_attributes(message, account_settings())["hull_segments"] == []


# ---------------------------------------------------------------------------------------------
# Hash


def test_the_hash_covers_type_id_and_attributes() -> None:
    result = plan()
    assert result.hash == object_hash("1", "acme-1", result.attributes)


def test_the_hash_is_stable_across_calls_and_key_order() -> None:
    attributes = {"name": "Acme", "hull_segments": ["Customers"], "n": 1.5}
    reordered = dict(reversed(list(attributes.items())))
    assert object_hash("1", "a", attributes) == object_hash("1", "a", reordered)
    # A fixed value: the digest must not change between releases (it is stored in Hull). It is
    # the SHA-256 of the canonical JSON, type and id beside the attributes (nested).
    document = b'{"attributes":{},"object_id":"a","object_type_id":"1"}'
    assert (
        object_hash("1", "a", {})
        == hashlib.sha256(document).hexdigest()
        == ("bb8555c523a2fcc5bcadf43e5dcf1d39df46edce0b17acda868952d3b9b4d584")
    )


@pytest.mark.parametrize(
    ("type_id", "object_id", "attributes"),
    [
        ("2", "a", {"name": "Acme"}),
        ("1", "b", {"name": "Acme"}),
        ("1", "a", {"name": "Acme Inc"}),
        ("1", "a", {"name": "Acme", "extra": None}),
        ("1", "a", {}),
        ("1", "a", {"name": "Acme", "object_id": "b"}),
    ],
)
def test_any_change_of_type_id_or_attribute_changes_the_hash(
    type_id: str, object_id: str, attributes: dict[str, Any]
) -> None:
    assert object_hash(type_id, object_id, attributes) != object_hash("1", "a", {"name": "Acme"})


def test_an_attribute_named_like_an_identifier_cannot_hide_an_id_change() -> None:
    attributes = {"object_id": "x", "object_type_id": "9"}
    assert object_hash("1", "a", attributes) != object_hash("1", "b", attributes)
    assert object_hash("1", "a", attributes) != object_hash("2", "a", attributes)


# ---------------------------------------------------------------------------------------------
# Limits


def test_the_operation_limit_is_the_batch_planners() -> None:
    assert MAX_OPERATION_BYTES == MAX_BATCH_OPERATION_BYTES == 32_000
    assert (MAX_OBJECT_ATTRIBUTES, MAX_OBJECT_ATTRIBUTES_BYTES) == (300, 100_000)


def with_attributes(count: int, **extra: Any) -> tuple[dict[str, Any], list[str]]:
    """An account with ``count`` object attributes in all (whitelisted ``a000``...)."""
    names = [f"a{n:03d}" for n in range(count - 3)]  # besides name, domain, hull_segments
    return account(**dict.fromkeys(names, 1), **extra), names


@pytest.mark.parametrize(("count", "ok"), [(300, True), (301, False)])
def test_an_object_may_have_300_attributes(count: int, ok: bool) -> None:
    data, names = with_attributes(count)
    result = plan(data, synchronized_account_attributes=names)
    assert len(result.attributes) == count
    if ok:
        assert result.action is Action.IDENTIFY
    else:
        assert (result.action, result.reason) == (Action.ERROR, "invalid_attributes")
        assert result.errors == ["The object has 301 attributes; Customer.io accepts at most 300."]
        assert result.traits is None


def operation_size(object_id: str, attributes: dict[str, Any]) -> int:
    return len(compact_json(ObjectIdentify(ObjectRef("1", object_id), attributes).v2_operation()))


def test_the_measured_operation_is_the_one_the_client_sends() -> None:
    # Non-ASCII text counts in UTF-8 bytes, as the client encodes the operation.
    fits = account_settings(max_attribute_value_length=40_000)
    attributes = {"name": "Acmé", "hull_segments": ["Customers"], "note": ""}
    size = len(
        compact_json(ObjectIdentify(ObjectRef("1", "ü-1"), attributes).v2_operation()).encode()
    )
    exact = {**attributes, "note": "x" * (32_000 - size)}
    assert validate_object("1", "ü-1", exact, fits) == []
    over = {**attributes, "note": "x" * (32_000 - size + 1)}
    assert validate_object("1", "ü-1", over, fits) == [
        "The object's identify operation is 32001 bytes as JSON; Customer.io accepts at most "
        "32000 bytes per operation."
    ]


@pytest.mark.parametrize(("delta", "ok"), [(0, True), (1, False)])
def test_an_identify_operation_may_take_32000_bytes(delta: int, ok: bool) -> None:
    base = plan(account(pad=""), synchronized_account_attributes=["pad"])
    padding = MAX_OPERATION_BYTES - operation_size("acme-1", base.attributes) + delta
    result = plan(
        account(pad="x" * padding),
        synchronized_account_attributes=["pad"],
        max_attribute_value_length=40_000,
    )
    assert operation_size("acme-1", result.attributes) == MAX_OPERATION_BYTES + delta
    if ok:
        assert result.action is Action.IDENTIFY
    else:
        assert result.action is Action.ERROR
        assert result.errors == [
            "The object's identify operation is 32001 bytes as JSON; Customer.io accepts at "
            "most 32000 bytes per operation."
        ]


@pytest.mark.parametrize(("delta", "ok"), [(0, True), (1, False)])
def test_attributes_may_take_100000_bytes_as_json(delta: int, ok: bool) -> None:
    # Past 32 kB the operation is too large anyway: this checks the 100 KB rule's own edge.
    base = build_object_attributes(
        account_message(account(pad="")), account_settings(synchronized_account_attributes=["pad"])
    )
    padding = MAX_OBJECT_ATTRIBUTES_BYTES - len(compact_json(base)) + delta
    attributes = {**base, "pad": "x" * padding}
    assert len(compact_json(attributes)) == MAX_OBJECT_ATTRIBUTES_BYTES + delta
    problems = validate_object(
        "1", "acme-1", attributes, account_settings(max_attribute_value_length=200_000)
    )
    attribute_problem = (
        f"The object's attributes are {100_000 + delta} bytes as JSON; Customer.io accepts at "
        "most 100000 bytes."
    )
    assert (attribute_problem in problems) is not ok
    assert any("identify operation" in problem for problem in problems)


@pytest.mark.parametrize(("length", "ok"), [(150, True), (151, False)])
def test_the_object_id_may_have_max_identifier_value_length_bytes(length: int, ok: bool) -> None:
    object_id = "é" * (length // 2) + "x" * (length % 2)  # bytes, not characters
    result = plan(account(external_id=object_id))
    assert result.object_id == object_id
    if ok:
        assert result.action is Action.IDENTIFY
    else:
        assert result.action is Action.ERROR
        assert result.errors == [
            "The object id is 151 bytes long; the limit is 150 bytes (max_identifier_value_length)."
        ]


@pytest.mark.parametrize(("length", "ok"), [(150, True), (151, False)])
def test_attribute_names_may_have_max_attribute_name_length_bytes(length: int, ok: bool) -> None:
    name = "n" * length
    result = plan(account(**{name: 1}), synchronized_account_attributes=[name])
    assert (result.action is Action.IDENTIFY) is ok
    if not ok:
        assert len(result.errors) == 1
        assert "(max_attribute_name_length)" in result.errors[0]


@pytest.mark.parametrize(("length", "ok"), [(1000, True), (1001, False)])
def test_attribute_values_may_have_max_attribute_value_length_bytes(length: int, ok: bool) -> None:
    result = plan(account(bio="b" * length), synchronized_account_attributes=["bio"])
    assert (result.action is Action.IDENTIFY) is ok
    if not ok:
        assert result.errors == [
            "The value of attribute 'bio' is 1001 bytes long; the limit is 1000 bytes "
            "(max_attribute_value_length)."
        ]


def test_an_oversize_object_is_an_error_listing_every_problem() -> None:
    data, names = with_attributes(301, external_id="i" * 151, bio="b" * 1001)
    data["n" * 151] = 1
    result = plan(data, synchronized_account_attributes=[*names, "bio", "n" * 151])
    assert (result.action, result.reason) == (Action.ERROR, "invalid_attributes")
    assert result.message == ACCOUNT_REASON_MESSAGES["invalid_attributes"]
    problems = "\n".join(result.errors)
    for expected in (
        "The object id is 151 bytes long",
        "The object has 303 attributes",
        "(max_attribute_name_length)",
        "The value of attribute 'bio' is 1001 bytes long",
    ):
        assert expected in problems
    assert len(result.errors) == 4
    assert result.traits is None
    assert result.hash  # hashed, for the report


def test_text_that_is_not_valid_unicode_is_an_error_of_that_account() -> None:
    result = plan(account(bio="\ud800"), synchronized_account_attributes=["bio"])
    assert (result.action, result.reason) == (Action.ERROR, "invalid_attributes")
    assert result.errors == [
        "The value of attribute 'bio' cannot be sent: it is not valid JSON (text that is not "
        "valid Unicode, a number that is not finite or too long, or nesting too deep)."
    ]


def test_an_object_id_that_is_not_valid_unicode_is_an_error() -> None:
    result = plan(account(external_id="\udcff"))
    assert result.action is Action.ERROR
    # The external id is the object id and a claim of the account: both are said.
    assert result.errors == [
        "The object id is not valid Unicode text.",
        "The account's external_id is not valid Unicode text.",
    ]


def test_a_number_that_is_not_finite_is_an_error_of_that_account() -> None:
    result = plan(account(score=float("inf")), synchronized_account_attributes=["score"])
    assert result.action is Action.ERROR
    assert "'score' cannot be sent" in result.errors[0]


# ---------------------------------------------------------------------------------------------
# Claims


@pytest.mark.parametrize(
    ("data", "claims"),
    [
        ({}, {"id": "hull-account-1", "external_id": "acme-1", "domain": "acme.example"}),
        ({"external_id": MISSING}, {"id": "hull-account-1", "domain": "acme.example"}),
        ({"external_id": " ", "domain": None}, {"id": "hull-account-1"}),
        ({"external_id": 7, "domain": ["x"]}, {"id": "hull-account-1"}),
    ],
)
def test_the_account_is_addressed_by_id_plus_external_id_and_domain_when_present(
    data: dict[str, Any], claims: dict[str, str]
) -> None:
    # Every plan carries them, whatever its action.
    for segments in ((SYNCED_ACCOUNT_SEGMENT,), NOT_IN_SEGMENTS):
        assert plan(account(**data), segments=segments).hull_claims == claims


def test_a_claim_that_is_not_valid_unicode_is_an_error() -> None:
    result = plan(account(external_id="\ud800"), account_id_mapping="id")
    assert result.action is Action.ERROR
    assert result.errors == ["The account's external_id is not valid Unicode text."]


def test_a_claim_that_is_also_an_attribute_lists_both_problems() -> None:
    result = plan(account(domain="\ud800.example"))
    assert result.action is Action.ERROR
    assert result.errors == [
        "The value of attribute 'domain' cannot be sent: it is not valid JSON (text that is not "
        "valid Unicode, a number that is not finite or too long, or nesting too deep).",
        "The account's domain is not valid Unicode text.",
    ]


def test_the_plan_carries_the_hull_account_id() -> None:
    assert plan().account_id == "hull-account-1"
