"""Canonical and compact JSON are exactly ``json.dumps`` with their options (§2.6, §5)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hull_customerio._serialization import canonical_json, compact_json

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_canonical_json_is_json_dumps_with_sorted_keys_and_no_whitespace(value: object) -> None:
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    assert canonical_json(value) == expected


@given(JSON_VALUES)
def test_compact_json_is_json_dumps_in_key_order_without_whitespace(value: object) -> None:
    assert compact_json(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@given(JSON_VALUES)
def test_strict_compact_json_refuses_what_json_dumps_refuses(value: object) -> None:
    try:
        expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        with pytest.raises(ValueError, match="JSON compliant"):
            compact_json(value, strict=True)
    else:
        assert compact_json(value, strict=True) == expected


def test_objects_json_cannot_carry_are_refused() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        canonical_json({"a": object()})


def test_a_value_containing_itself_is_refused_as_json_dumps_refuses_it() -> None:
    looped: list[object] = []
    looped.append(looped)

    with pytest.raises(ValueError, match="Circular reference"):
        compact_json(looped)
    with pytest.raises(ValueError, match="Circular reference"):
        canonical_json({"a": looped})


def test_nesting_deeper_than_the_recursion_limit_is_refused() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]

    with pytest.raises(RecursionError):
        canonical_json(deep)


def test_non_finite_numbers_are_written_as_json_dumps_writes_them() -> None:
    assert canonical_json([math.inf, -math.inf]) == "[Infinity,-Infinity]"
