"""The id a mapped attribute holds (`read_id`) and non-blank strings (`usable_string`)."""

from __future__ import annotations

import pytest

from hull_customerio.rules._ids import read_id, usable_string


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("user-1", "user-1"),
        (" user-1 ", " user-1 "),  # kept as it is, not stripped
        (0, "0"),
        (-42, "-42"),
        (1.5, "1.5"),
        (2**450 - 1, str(2**450 - 1)),  # the longest number that is an id
    ],
)
def test_read_id_reads_a_non_blank_string_as_it_is_and_a_number_as_text(
    value: object, expected: str
) -> None:
    assert read_id(value) == expected


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "\t\n", True, False, float("nan"), float("inf"), -float("inf"), 2**450,
     -(2**450), [], ["user-1"], {"id": "user-1"}, b"user-1"],
)  # fmt: skip
def test_read_id_refuses_anything_else(value: object) -> None:
    assert read_id(value) is None


@pytest.mark.parametrize(("value", "expected"), [("a", "a"), (" a ", " a "), ("", None),
                                                 (" ", None), (None, None), (1, None)])  # fmt: skip
def test_usable_string_is_a_non_blank_string(value: object, expected: str | None) -> None:
    assert usable_string(value) == expected
