"""SPEC §2.4: Customer.io's limits, checked before any call, quoting the configured limits."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builders import event, message, settings, user
from hull_customerio.models.plan import Action
from hull_customerio.rules.hashing import hashed_person
from hull_customerio.rules.plan import plan_user_update
from hull_customerio.rules.validation import (
    plainly_valid,
    plainly_valid_json,
    validate_person,
    value_size,
)

FITS = {"email": "ada@example.com", "hull_segments": ["Customers"]}


def problems(customer_id: str | None, attributes: dict[str, Any], **overrides: Any) -> list[str]:
    return validate_person(customer_id, attributes, settings(**overrides))


def id_message(size: int, limit: int) -> str:
    return (
        f"The Customer.io id is {size} bytes long; the limit is {limit} bytes "
        "(max_identifier_value_length)."
    )


def name_message(quoted: str, size: int, limit: int) -> str:
    return (
        f"Attribute name {quoted} is {size} bytes long; the limit is {limit} bytes "
        "(max_attribute_name_length)."
    )


def value_message(name: str, size: int, limit: int) -> str:
    return (
        f"The value of attribute {name!r} is {size} bytes long; the limit is {limit} bytes "
        "(max_attribute_value_length)."
    )


# ---------------------------------------------------------------------------------------------
# Sizes are UTF-8 bytes; lists and objects are measured as compact JSON
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("abc", 3),
        ("é", 2),
        ("€", 3),
        ("😀", 4),
        ("", 0),
        (12345, 5),
        (4.5, 3),
        (-0.0, 4),
        (1e16, 5),
        (1.5e-07, 7),
        (0.1 + 0.2, 19),
        (True, 4),
        (None, 4),
        (["a", 1], 7),
        ([], 2),
        (["Customers"], 13),
        (["Customers", "VIP"], 19),
        (['say "hi"'], 14),
        (["back\\slash"], 15),
        (["tab\t"], 9),
        (["\x7f"], 5),
        (["é"], 6),
        ([["nested"]], 12),
        ({"k": "é"}, 10),
        ({"a": [1, 2], "b": None}, 20),
    ],
    ids=repr,
)
def test_value_size_counts_utf8_bytes_and_compact_json(value: object, size: int) -> None:
    assert value_size(value) == size


# ---------------------------------------------------------------------------------------------
# At and just past each limit
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("customer_id", "limit", "size"),
    [
        ("x" * 150, 150, None),
        ("x" * 151, 150, 151),
        ("é" * 75, 150, None),
        ("é" * 75 + "x", 150, 151),
        ("€" * 3 + "x", 10, None),
        ("€" * 3 + "xy", 10, 11),
    ],
)
def test_the_id_may_have_at_most_max_identifier_value_length_bytes(
    customer_id: str, limit: int, size: int | None
) -> None:
    expected = [] if size is None else [id_message(size, limit)]

    assert problems(customer_id, FITS, max_identifier_value_length=limit) == expected


@pytest.mark.parametrize(
    ("name", "limit", "size"),
    [
        ("n" * 150, 150, None),
        ("n" * 151, 150, 151),
        ("ü" * 75, 150, None),
        ("ü" * 74 + "nnn", 150, 151),
        ("plan_name_abc", 13, None),
        ("plan_name_abcd", 13, 14),
    ],
)
def test_attribute_names_may_have_at_most_max_attribute_name_length_bytes(
    name: str, limit: int, size: int | None
) -> None:
    result = problems("cust-1", {**FITS, name: "v"}, max_attribute_name_length=limit)

    if size is None:
        assert result == []
    else:
        quoted = repr(name) if len(name) <= 40 else repr(name[:40] + "...")
        assert result == [name_message(quoted, size, limit)]


@pytest.mark.parametrize(
    ("value", "limit", "size"),
    [
        ("v" * 1000, 1000, None),
        ("v" * 1001, 1000, 1001),
        ("€" * 333 + "v", 1000, None),
        ("€" * 333 + "vv", 1000, 1001),
        (["v" * 996], 1000, None),
        (["v" * 997], 1000, 1001),
        ({"k": "v" * 992}, 1000, None),
        ({"k": "v" * 993}, 1000, 1001),
        (123456, 6, None),
        (1234567, 6, 7),
        (["é", "é"], 11, None),
        (["é", "é", ""], 11, 14),
    ],
    ids=lambda v: repr(v)[:20],
)
def test_values_may_have_at_most_max_attribute_value_length_bytes(
    value: object, limit: int, size: int | None
) -> None:
    result = problems("cust-1", {"email": "a@b.c", "plan": value}, max_attribute_value_length=limit)

    assert result == ([] if size is None else [value_message("plan", size, limit)])


def test_every_violation_is_listed_and_values_are_never_quoted() -> None:
    secret_value = "secret-personal-data-" * 3
    long_name = "n" * 45

    result = problems(
        "x" * 12,
        {"email": secret_value, long_name: "ok"},
        max_identifier_value_length=10,
        max_attribute_name_length=40,
        max_attribute_value_length=20,
    )

    assert result == [
        id_message(12, 10),
        value_message("email", 63, 20),
        name_message(repr("n" * 40 + "..."), 45, 40),
    ]
    assert all("secret-personal-data" not in problem for problem in result)


def test_without_an_id_only_the_attributes_are_checked() -> None:
    assert problems(None, {"email": "v" * 2000}) == [value_message("email", 2000, 1000)]


# ---------------------------------------------------------------------------------------------
# An invalid user becomes an error plan and nothing is sent
# ---------------------------------------------------------------------------------------------


def test_an_invalid_user_gets_an_error_plan_listing_every_violation() -> None:
    user_data = user(external_id="c" * 21, bio="b" * 31)

    result = plan_user_update(
        message(user_data),
        settings(
            synchronized_attributes=["bio"],
            max_identifier_value_length=20,
            max_attribute_value_length=30,
        ),
    )

    assert (result.action, result.reason) == (Action.ERROR, "invalid_attributes")
    assert result.errors == [id_message(21, 20), value_message("bio", 31, 30)]
    assert result.customer_id == "c" * 21


def test_an_error_plan_sends_nothing_and_reports_every_event_skipped() -> None:
    events = (event("Signed Up"), event("page", properties={"url": "https://x.io"}), event("Other"))

    result = plan_user_update(
        message(user(external_id="c" * 151), events=events),
        settings(events_filter=["Signed Up", "page"]),
    )

    assert result.action == Action.ERROR
    assert result.chunks == []
    assert result.events == []
    assert result.traits is None
    assert result.skipped_events == [
        ("Signed Up", "invalid_attributes"),
        ("page", "invalid_attributes"),
        ("Other", "not_whitelisted"),
    ]


def test_a_whitelisted_attribute_name_is_checked_after_renaming() -> None:
    # "traits_" + 10 characters is 17 bytes on the wire but 10 once renamed: it fits.
    user_data = user(traits_abcdefghij="v")

    result = plan_user_update(
        message(user_data),
        settings(synchronized_attributes=["traits_abcdefghij"], max_attribute_name_length=13),
    )

    assert result.action == Action.IDENTIFY
    assert "abcdefghij" in result.attributes


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=5), children, max_size=3)
        ),
        max_leaves=8,
    )
)
def test_value_size_is_the_utf8_size_of_the_compact_json_for_every_value(value: object) -> None:
    from hull_customerio._serialization import compact_json  # noqa: PLC0415
    from hull_customerio.rules.validation import value_size  # noqa: PLC0415

    expected = len(value.encode()) if isinstance(value, str) else len(compact_json(value).encode())
    assert value_size(value) == expected


@given(
    attributes=st.dictionaries(
        st.text(max_size=12),
        # Non-finite floats cannot be sent at all (see the test above): finite ones here.
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=12)
        | st.lists(st.text(max_size=3), max_size=3),
        max_size=6,
    ),
    name_limit=st.integers(min_value=1, max_value=12),
    value_limit=st.integers(min_value=1, max_value=12),
)
def test_every_name_and_value_over_its_limit_is_reported_once_in_order(
    attributes: dict[str, Any], name_limit: int, value_limit: int
) -> None:
    expected = []
    for name, value in attributes.items():
        if len(name.encode()) > name_limit:
            expected.append(f"Attribute name {name[:40]!r}")
        if value_size(value) > value_limit:
            expected.append(f"The value of attribute {name[:40]!r}")

    found = problems(
        None, attributes, max_attribute_name_length=name_limit,
        max_attribute_value_length=value_limit,
    )  # fmt: skip

    assert len(found) == len(expected)
    assert all(problem.startswith(start) for problem, start in zip(found, expected, strict=True))


@pytest.mark.parametrize(
    ("value", "size"),
    [(-2.2250738585072014e-308, 24), (-1.7976931348623157e308, 24), (False, 5), (None, 4)],
)  # fmt: skip
def test_the_largest_floats_booleans_and_null_are_measured_at_the_limit(
    value: object, size: int
) -> None:
    assert value_size(value) == size
    assert problems(None, {"v": value}, max_attribute_value_length=size) == []
    assert problems(None, {"v": value}, max_attribute_value_length=size - 1) == [
        value_message("v", size, size - 1)
    ]


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")], ids=repr)
def test_numbers_that_are_not_finite_cannot_be_sent_whatever_the_limit(value: float) -> None:
    with pytest.raises(ValueError, match="not finite"):
        value_size(value)
    for limit in (3, 24, 1000):
        (problem,) = problems(None, {"v": value}, max_attribute_value_length=limit)
        assert problem.startswith("The value of attribute 'v' cannot be sent")


_ASCII = st.characters(min_codepoint=0, max_codepoint=127)


@given(
    st.dictionaries(
        st.text(_ASCII, max_size=6),
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(_ASCII, max_size=8)
        | st.lists(st.text(_ASCII, max_size=4), max_size=3)
        | st.dictionaries(st.text(_ASCII, max_size=3), st.integers(), max_size=2),
        max_size=6,
    )
)
def test_event_data_size_is_its_compact_json_size_also_without_encoding_it(
    data: dict[str, object],
) -> None:
    # Event data is usually a flat object of ASCII text and numbers: measured without
    # serialising it, and to the byte what the encoder writes (quotes, escapes, floats).
    from hull_customerio._serialization import compact_json  # noqa: PLC0415

    assert value_size(data) == len(compact_json(data).encode())


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"a": 1, "b": -2.5, "c": True, "d": False, "e": None, "f": "x y/z", "g": ["p", "q"]},
        {'quo"te': 1},
        {"back\\slash": "v"},
        {"k": 'say "hi"'},
        {"k": "tab\there"},
        {"k": "del\x7f"},
        {"k": "Zoë"},
        {"k": 1e16, "l": 1.0e-7, "m": -0.0},
        {"k": {"nested": 1}},
        {"k": 2**64, "l": -(2**63), "m": 10**40},
        {"k": [1, 2]},
        {"k": ["a\nb"]},
        {"k": []},
    ],
)
def test_event_data_size_edges(data: dict[object, object]) -> None:
    from hull_customerio._serialization import compact_json  # noqa: PLC0415

    assert value_size(data) == len(compact_json(data).encode())


# -- the planner's shortcut: a person it calls plainly valid is one validate_person accepts --

_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
_IDS = st.text(max_size=12)
_PEOPLE = st.dictionaries(st.text(max_size=12), _VALUES, max_size=6)


def _limits(longest_value: int) -> st.SearchStrategy[dict[str, int]]:
    return st.fixed_dictionaries(
        {
            "max_attributes_per_person": st.integers(1, 8),
            "max_identifier_value_length": st.integers(1, 20),
            "max_attribute_name_length": st.integers(1, 20),
            "max_attribute_value_length": st.integers(1, longest_value),
        }
    )


def _names_fit(attributes: dict[str, Any], limits: dict[str, int]) -> bool:
    longest = limits["max_attribute_name_length"]
    return all(name.isascii() and len(name) <= longest for name in attributes)


@given(customer_id=_IDS, attributes=_PEOPLE, limits=_limits(longest_value=40))
def test_a_person_the_planner_calls_plainly_valid_is_valid(
    customer_id: str, attributes: dict[str, Any], limits: dict[str, int]
) -> None:
    configured = settings(**limits)
    names_fit = _names_fit(attributes, limits)

    if plainly_valid(customer_id, attributes, configured, names_fit):
        assert validate_person(customer_id, attributes, configured) == []


@pytest.mark.parametrize(
    "value",
    ["plain text", 2**63 - 1, -(2**63) + 1, 1.5e300, True, False, None, ["a", "b"]],
)
def test_values_of_the_usual_kinds_within_the_limits_are_plainly_valid(value: object) -> None:
    configured = settings()

    assert plainly_valid("id-1", {"a": value}, configured, names_fit=True)
    assert validate_person("id-1", {"a": value}, configured) == []


@pytest.mark.parametrize(
    "value",
    ["caf\u00e9", "\ud800", 2**63, float("nan"), {"nested": 1}, ["a", 1], "x" * 1001],
)
def test_other_values_are_left_to_the_full_check(value: object) -> None:
    assert not plainly_valid("id-1", {"a": value}, settings(), names_fit=True)


def test_names_not_known_to_fit_are_left_to_the_full_check() -> None:
    assert not plainly_valid("id-1", {"a": 1}, settings(), names_fit=False)


@given(customer_id=_IDS, attributes=_PEOPLE, limits=_limits(longest_value=400))
def test_a_person_whose_json_is_plainly_within_the_limits_is_valid(
    customer_id: str, attributes: dict[str, Any], limits: dict[str, int]
) -> None:
    configured = settings(**limits)
    names_fit = _names_fit(attributes, limits)
    try:
        _, document = hashed_person(customer_id, attributes)
    except (ValueError, TypeError, RecursionError):
        return  # the planner validates such a person in full

    if plainly_valid_json(customer_id, attributes, document, configured, names_fit):
        assert validate_person(customer_id, attributes, configured) == []


def test_a_nested_object_with_a_number_for_key_is_left_to_the_full_check() -> None:
    attributes = {"address": {1: "one"}}
    _, document = hashed_person("id-1", attributes)

    assert not plainly_valid_json("id-1", attributes, document, settings(), names_fit=True)
    assert validate_person("id-1", attributes, settings()) != []


def test_a_person_longer_than_one_value_may_be_is_left_to_the_loop() -> None:
    attributes = {"bio": "x" * 600, "notes": "y" * 600}
    _, document = hashed_person("id-1", attributes)

    assert not plainly_valid_json("id-1", attributes, document, settings(), names_fit=True)
    assert plainly_valid("id-1", attributes, settings(), names_fit=True)
