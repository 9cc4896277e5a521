"""SPEC §2.5: attributes are split, in key order, into identify calls of at most N attributes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builders import message, settings, user
from hull_customerio.models.plan import Action
from hull_customerio.rules.chunking import chunk_attributes
from hull_customerio.rules.plan import plan_user_update

BASE = ["email", "created_at", "hull_segments"]


def plan_with_whitelisted(count: int, size: int, per_person: int = 300) -> Any:
    names = [f"attr_{i:03d}" for i in range(count)]
    user_data = user(created_at=1705312800, **{name: i for i, name in enumerate(names)})
    result = plan_user_update(
        message(user_data),
        settings(
            synchronized_attributes=names,
            max_attributes_per_call=size,
            max_attributes_per_person=per_person,
        ),
    )
    assert result.action == Action.IDENTIFY
    return result, names


def test_45_whitelisted_attributes_at_30_are_sent_as_30_then_18() -> None:
    result, names = plan_with_whitelisted(45, 30)

    assert [len(chunk) for chunk in result.chunks] == [30, 18]
    assert list(result.chunks[0]) == BASE + names[:27]
    assert list(result.chunks[1]) == names[27:]
    assert result.chunks[0]["email"] == "ada@example.com"
    assert result.chunks[0]["created_at"] == 1705312800
    assert result.chunks[0]["hull_segments"] == ["Customers"]


def test_315_whitelisted_attributes_at_300_are_sent_as_300_then_18() -> None:
    # 318 attributes are more than Customer.io's 300 per person: the limit is raised here to
    # check the chunking on its own.
    result, names = plan_with_whitelisted(315, 300, per_person=400)

    assert [len(chunk) for chunk in result.chunks] == [300, 18]
    assert list(result.chunks[0]) == BASE + names[:297]
    assert list(result.chunks[1]) == names[297:]


def test_exactly_n_attributes_are_sent_in_one_call() -> None:
    result, _ = plan_with_whitelisted(27, 30)

    assert result.chunks == [result.attributes]
    assert len(result.attributes) == 30


def test_one_attribute_past_n_needs_a_second_call() -> None:
    result, names = plan_with_whitelisted(28, 30)

    assert [list(chunk) for chunk in result.chunks] == [BASE + names[:27], names[27:]]


def test_the_chunks_together_are_the_whole_person_in_order() -> None:
    result, _ = plan_with_whitelisted(100, 7)

    merged = [item for chunk in result.chunks for item in chunk.items()]
    assert merged == list(result.attributes.items())
    assert [len(chunk) for chunk in result.chunks] == [7] * 14 + [5]


@pytest.mark.parametrize(
    ("count", "size", "lengths"),
    [(0, 30, [0]), (1, 1, [1]), (2, 1, [1, 1]), (5, 2, [2, 2, 1]), (6, 3, [3, 3]), (3, 300, [3])],
)
def test_chunk_lengths(count: int, size: int, lengths: list[int]) -> None:
    attributes = {f"a{i}": i for i in range(count)}

    assert [len(chunk) for chunk in chunk_attributes(attributes, size)] == lengths


def test_an_empty_person_is_still_one_identify_call() -> None:
    assert chunk_attributes({}, 30) == [{}]


@pytest.mark.parametrize("size", [0, -1, -300])
def test_a_chunk_size_below_1_is_a_value_error(size: int) -> None:
    with pytest.raises(ValueError, match=f"size must be at least 1, got {size}"):
        chunk_attributes({"email": "a@b.c"}, size)


def test_the_chunks_are_copies() -> None:
    attributes = {"email": "a@b.c"}

    chunk_attributes(attributes, 30)[0]["email"] = "changed"

    assert attributes == {"email": "a@b.c"}


@given(
    attributes=st.dictionaries(st.text(max_size=5), st.integers(), max_size=40),
    size=st.integers(min_value=1, max_value=50),
)
def test_chunks_keep_key_order_and_only_the_last_is_short(
    attributes: dict[str, int], size: int
) -> None:
    chunks = chunk_attributes(attributes, size)

    assert [item for chunk in chunks for item in chunk.items()] == list(attributes.items())
    assert all(len(chunk) == size for chunk in chunks[:-1])
    assert 0 < len(chunks[-1]) <= size or attributes == {}
