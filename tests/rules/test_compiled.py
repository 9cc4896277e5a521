"""Per-settings precomputation: derived once per settings object, equal to the per-user rules."""

from __future__ import annotations

import gc
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from golden_plans import GOLDEN_PATH, dumps, plan_case, plan_dict

from hull_customerio.models.hull import UserUpdateMessage
from hull_customerio.rules import _compiled
from hull_customerio.rules._compiled import compiled, lookup, other_name
from hull_customerio.rules.attributes import attribute_name
from hull_customerio.rules.plan import plan_user_update
from hull_customerio.settings import Settings


def test_the_same_settings_object_is_compiled_once() -> None:
    settings = Settings(synchronized_attributes=["plan"])

    assert compiled(settings) is compiled(settings)


def test_equal_but_distinct_settings_objects_do_not_share_an_entry_by_mistake() -> None:
    first = Settings(synchronized_attributes=["plan"])
    second = Settings(synchronized_attributes=["score"])

    assert compiled(first).attribute_selectors[0].target == "plan"
    assert compiled(second).attribute_selectors[0].target == "score"


def test_the_entry_goes_away_with_its_settings_object() -> None:
    settings = Settings(synchronized_attributes=["plan"])
    compiled(settings)
    key = id(settings)
    assert key in _compiled._CACHE

    del settings
    gc.collect()

    assert key not in _compiled._CACHE


def test_selectors_hold_what_the_per_attribute_rules_compute() -> None:
    names = ["traits_clearbit/name", "id", "account.clearbit/geo_state", "last_seen_at", "x_date"]
    settings = Settings(synchronized_attributes=names)

    selectors = compiled(settings).attribute_selectors

    assert [s.target for s in selectors] == [attribute_name(name) for name in names]
    assert [s.from_account for s in selectors] == [False, False, True, False, False]
    assert [s.name for s in selectors] == [
        "traits_clearbit/name", "id", "clearbit/geo_state", "last_seen_at", "x_date"
    ]  # fmt: skip
    assert [s.other for s in selectors] == [
        "clearbit/name", "traits_id", "traits_clearbit/geo_state", "traits_last_seen_at",
        "traits_x_date",
    ]  # fmt: skip
    assert [s.is_date for s in selectors] == [False, False, False, True, True]


def test_filters_are_sets_of_the_configured_values() -> None:
    settings = Settings(
        synchronized_segments=["s1", "s2"], events_filter=["page", "Paid"], user_id_mapping="email"
    )

    result = compiled(settings)

    assert result.segment_ids == {"s1", "s2"}
    assert result.events_filter == {"page", "Paid"}
    assert result.user_id_mapping == ("email", "traits_email")


def test_other_name_adds_or_removes_the_traits_prefix() -> None:
    assert other_name("score") == "traits_score"
    assert other_name("traits_score") == "score"
    assert other_name("traits_") == ""
    assert other_name("") == "traits_"


def test_lookup_prefers_the_name_as_given_then_its_other_form() -> None:
    data = {"score": 1, "traits_score": 2, "traits_plan": "pro", "none": None}

    assert lookup(data, "score", "traits_score") == 1
    assert lookup(data, "plan", "traits_plan") == "pro"
    assert lookup(data, "none", "traits_none", "default") is None
    assert lookup(data, "absent", "traits_absent", "default") == "default"


def test_threads_planning_with_shared_and_fresh_settings_get_the_serial_plans() -> None:

    golden = json.loads(GOLDEN_PATH.read_text(encoding="utf-8"))[:120]
    shared = [Settings.from_private_settings(entry["input"]["settings"]) for entry in golden]

    def with_shared_settings(index: int) -> str:
        case = golden[index]["input"]
        message = UserUpdateMessage.from_dict(case["message"], segment_names=case["segment_names"])
        plan = plan_user_update(
            message, shared[index], batch=case["batch"], now=datetime.fromisoformat(case["now"])
        )
        return dumps(plan_dict(plan))

    def with_fresh_settings(index: int) -> str:  # entries added and freed meanwhile
        return dumps(plan_case(golden[index]["input"]))

    indexes = list(range(len(golden))) * 3
    with ThreadPoolExecutor(max_workers=8) as pool:
        shared_results = pool.map(with_shared_settings, indexes)
        fresh_results = pool.map(with_fresh_settings, indexes)
        expected = [dumps(golden[index]["plan"]) for index in indexes]

        assert list(shared_results) == expected
        assert list(fresh_results) == expected


# -- the whitelist reader --


def test_the_reader_takes_the_name_as_given_else_its_other_form_in_whitelist_order() -> None:
    settings = Settings(synchronized_attributes=["b", "traits_a", "account.tier", "absent"])
    user = {"traits_b": 1, "b": 2, "a": 3, "tier": "user's"}
    account = {"traits_tier": "gold"}
    read: dict[str, Any] = {}

    compiled(settings).read_whitelisted(user.get, account.get, read)

    assert list(read.items()) == [("b", 2), ("a", 3), ("account_tier", "gold")]


def test_the_reader_keeps_a_present_none_and_skips_an_absent_name() -> None:
    settings = Settings(synchronized_attributes=["empty", "gone"])
    read: dict[str, Any] = {}

    compiled(settings).read_whitelisted({"empty": None}.get, {}.get, read)

    assert read == {"empty": None}


def test_the_reader_casts_dates_it_can_read_and_keeps_the_others_as_they_are() -> None:
    settings = Settings(synchronized_attributes=["c_at", "d_date", "e_at", "plain"])
    user = {"c_at": "2024-01-15T10:00:00Z", "d_date": 1705312800000, "e_at": "soon",
            "plain": "2024-01-15T10:00:00Z"}  # fmt: skip
    read: dict[str, Any] = {}

    compiled(settings).read_whitelisted(user.get, {}.get, read)

    assert read == {"c_at": 1705312800, "d_date": 1705312800, "e_at": "soon",
                    "plain": "2024-01-15T10:00:00Z"}  # fmt: skip


def test_names_that_are_not_identifiers_are_read_as_they_are() -> None:
    names = ["it's", 'say "hi"', "back\\slash", "new\nline", "caf\u00e9", "x\x00y"]
    settings = Settings(synchronized_attributes=names)
    user = {name: number for number, name in enumerate(names)}
    read: dict[str, Any] = {}

    compiled(settings).read_whitelisted(user.get, {}.get, read)

    assert list(read.values()) == list(range(len(names)))
