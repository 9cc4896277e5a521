"""SPEC §11 relationships (issue 24): how `plan_user_update` relates a person to their account's
object — a new link, the same link, a re-link, an account that left the filter, linking
switched off, no account — and what is written back."""

from __future__ import annotations

from typing import Any

import pytest
from account_builders import NOW, NOW_ISO, OTHER_ACCOUNT_SEGMENT, SYNCED_ACCOUNT_SEGMENT

from builders import MISSING, OTHER_SEGMENT, event, message, synced_user, user
from hull_customerio.models.hull import UserUpdateMessage
from hull_customerio.models.plan import Action, UserPlan
from hull_customerio.rules.plan import plan_user_update
from hull_customerio.settings import Settings

ACCOUNT = {"id": "hull-account-1", "external_id": "acme-1", "domain": "acme.example"}


def user_message(
    user_data: dict[str, Any],
    *,
    account: dict[str, Any] | None = ACCOUNT,
    account_segments: tuple[dict[str, Any], ...] = (SYNCED_ACCOUNT_SEGMENT,),
    **extra: Any,
) -> UserUpdateMessage:
    return message(
        user_data,
        account=account,
        account_segments=[dict(segment) for segment in account_segments],
        **extra,
    )


def link_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "site_id": "site",
        "api_key": "key",
        "synchronized_segments": ["seg_1"],
        "synchronized_account_segments": ["aseg_1"],
    }
    values.update(overrides)
    return Settings(**values)


def plan(user_data: dict[str, Any], settings: Settings | None = None, **kwargs: Any) -> UserPlan:
    return plan_user_update(user_message(user_data, **kwargs), settings or link_settings(), now=NOW)


def in_sync(user_data: dict[str, Any], settings: Settings | None = None, **kwargs: Any) -> dict:
    """``user_data`` with the stored hash of what it is now (so only the link can differ)."""
    digest = plan(user_data, settings, **kwargs).hash
    assert digest
    return {**user_data, "customerio/hash": digest}


# ---------------------------------------------------------------------------------------------
# The link


def test_a_user_whose_account_is_synchronized_is_linked_to_its_object() -> None:
    result = plan(user())
    assert (result.action, result.reason) == (Action.IDENTIFY, "new")
    assert (result.object_id, result.unlinked_object_id) == ("acme-1", None)
    assert result.traits is not None
    assert result.traits["customerio/object_id"] == "acme-1"


def test_a_new_link_on_a_synced_user_is_changed_not_no_changes() -> None:
    data = in_sync(synced_user())
    result = plan(data)
    assert (result.action, result.reason) == (Action.IDENTIFY, "changed")
    assert (result.object_id, result.unlinked_object_id) == ("acme-1", None)


def test_the_same_link_as_stored_leaves_a_user_without_changes() -> None:
    data = in_sync(synced_user(**{"customerio/object_id": "acme-1"}))
    result = plan(data)
    assert (result.action, result.reason) == (Action.SKIP, "no_changes")
    assert (result.object_id, result.unlinked_object_id, result.traits) == (None, None, None)


def test_the_same_link_is_sent_again_when_the_person_changed() -> None:
    data = synced_user(**{"customerio/object_id": "acme-1", "customerio/hash": "0" * 64})
    result = plan(data)
    assert (result.reason, result.object_id, result.unlinked_object_id) == (
        "changed",
        "acme-1",
        None,
    )


def test_a_stored_link_read_with_the_traits_prefix_counts() -> None:
    data = in_sync(synced_user(**{"traits_customerio/object_id": "acme-1"}))
    assert plan(data).reason == "no_changes"


def test_another_account_now_relinks_and_removes_the_stored_relationship() -> None:
    data = in_sync(synced_user(**{"customerio/object_id": "old-co"}))
    result = plan(data)
    assert (result.action, result.reason) == (Action.IDENTIFY, "changed")
    assert (result.object_id, result.unlinked_object_id) == ("acme-1", "old-co")
    assert result.traits is not None
    assert result.traits["customerio/object_id"] == "acme-1"


def test_an_account_that_left_the_account_segments_unlinks() -> None:
    data = in_sync(
        synced_user(**{"customerio/object_id": "acme-1"}),
        account_segments=(OTHER_ACCOUNT_SEGMENT,),
    )
    result = plan(data, account_segments=(OTHER_ACCOUNT_SEGMENT,))
    assert (result.action, result.reason) == (Action.IDENTIFY, "changed")
    assert (result.object_id, result.unlinked_object_id) == (None, "acme-1")
    assert result.traits is not None
    assert result.traits["customerio/object_id"] is None


def test_linking_switched_off_unlinks() -> None:
    off = link_settings(link_users_to_accounts=False)
    data = in_sync(synced_user(**{"customerio/object_id": "acme-1"}), off)
    result = plan(data, off)
    assert (result.reason, result.object_id, result.unlinked_object_id) == (
        "changed",
        None,
        "acme-1",
    )


def test_no_synchronized_account_segments_links_nobody_and_unlinks_the_stored_one() -> None:
    none = link_settings(synchronized_account_segments=[])
    assert plan(user(), none).object_id is None
    data = in_sync(synced_user(**{"customerio/object_id": "acme-1"}), none)
    assert plan(data, none).unlinked_object_id == "acme-1"


def test_a_user_without_an_account_is_not_linked() -> None:
    result = plan(user(), account=None, account_segments=())
    assert (result.object_id, result.unlinked_object_id) == (None, None)
    assert result.traits is not None
    assert "customerio/object_id" not in result.traits


def test_a_user_whose_account_left_unlinks_even_without_the_account_in_the_message() -> None:
    data = in_sync(synced_user(**{"customerio/object_id": "acme-1"}), account=None)
    result = plan(data, account=None, account_segments=())
    assert (result.object_id, result.unlinked_object_id) == (None, "acme-1")


@pytest.mark.parametrize("value", [MISSING, None, "", "  ", "x" * 151], ids=repr)
def test_an_account_without_a_usable_object_id_gives_no_link(value: Any) -> None:
    account = {**ACCOUNT, "external_id": value}
    if value is MISSING:
        del account["external_id"]
    result = plan(user(), account=account)
    assert result.action is Action.IDENTIFY
    assert result.object_id is None


def test_the_link_follows_account_id_mapping() -> None:
    result = plan(user(), link_settings(account_id_mapping="domain"))
    assert result.object_id == "acme.example"


def test_events_alone_send_the_same_link_again_without_removing_it() -> None:
    data = in_sync(synced_user(**{"customerio/object_id": "acme-1"}))
    result = plan(data, events=[event()], settings=link_settings(events_filter=["Signed Up"]))
    assert (result.reason, result.object_id, result.unlinked_object_id) == (
        "changed",
        "acme-1",
        None,
    )


# ---------------------------------------------------------------------------------------------
# Write-back, and plans that never touch a link


def test_a_never_linked_user_keeps_exactly_the_traits_of_before() -> None:
    # Account settings at their defaults: nobody is linked, no trait is added.
    result = plan_user_update(message(user()), Settings(synchronized_segments=["seg_1"]), now=NOW)
    assert result.traits is not None
    assert "customerio/object_id" not in result.traits


def test_a_delete_nulls_a_stored_link() -> None:
    data = synced_user(**{"customerio/object_id": "acme-1"})
    result = plan(data, link_settings(enable_user_deletion=True), segments=[OTHER_SEGMENT])
    assert result.action is Action.DELETE
    assert result.traits == {
        "customerio/deleted_at": NOW_ISO,
        "customerio/id": None,
        "customerio/hash": None,
        "customerio/synced_at": None,
        "customerio/created_at": None,
        "customerio/object_id": None,
    }
    assert (result.object_id, result.unlinked_object_id) == (None, None)


def test_a_delete_of_a_never_linked_user_writes_what_it_always_wrote() -> None:
    result = plan(synced_user(), link_settings(enable_user_deletion=True), segments=[OTHER_SEGMENT])
    assert result.action is Action.DELETE
    assert result.traits is not None
    assert "customerio/object_id" not in result.traits


@pytest.mark.parametrize(
    ("user_data", "segments"),
    [
        (user(email=MISSING), None),  # no_email
        (user(), [OTHER_SEGMENT]),  # not_in_segments
        (user(external_id=MISSING), None),  # no_customer_id
        (synced_user(**{"customerio/suppressed_at": NOW_ISO}), None),  # suppressed
    ],
)
def test_skips_never_link_nor_unlink(user_data: dict[str, Any], segments: Any) -> None:
    data = {**user_data, "customerio/object_id": "old-co"}
    kwargs = {"segments": segments} if segments is not None else {}
    result = plan(data, **kwargs)
    assert result.action is Action.SKIP
    assert (result.object_id, result.unlinked_object_id, result.traits) == (None, None, None)


def test_an_error_plan_never_links() -> None:
    data = {**user(bio="b" * 1001), "customerio/object_id": "old-co"}
    result = plan(data, link_settings(synchronized_attributes=["bio"]))
    assert result.action is Action.ERROR
    assert (result.object_id, result.unlinked_object_id, result.traits) == (None, None, None)
