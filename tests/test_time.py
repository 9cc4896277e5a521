"""Reading Hull's timestamps and writing ISO-8601 (used by §2.1, §2.3, §2.7, §3.2)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hull_customerio._time import format_iso, parse_iso, to_unix_millis, to_unix_seconds, utc_now

UTC = timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-15", datetime(2024, 1, 15, tzinfo=UTC)),
        ("2024-01-15T10:00:00Z", datetime(2024, 1, 15, 10, tzinfo=UTC)),
        ("2024-01-15t10:00:00z", datetime(2024, 1, 15, 10, tzinfo=UTC)),
        ("2024-01-15 10:00:00", datetime(2024, 1, 15, 10, tzinfo=UTC)),
        ("2024-01-15T10:00", datetime(2024, 1, 15, 10, tzinfo=UTC)),
        ("2018-03-30 14:38:02 UTC", datetime(2018, 3, 30, 14, 38, 2, tzinfo=UTC)),
        ("2018-03-30 14:38:02 GMT", datetime(2018, 3, 30, 14, 38, 2, tzinfo=UTC)),
        ("2024-01-15T12:00:00+02:00", datetime(2024, 1, 15, 10, tzinfo=UTC)),
        ("2024-01-15T12:00:00+0200", datetime(2024, 1, 15, 10, tzinfo=UTC)),
        ("2024-01-15T12:00:00+02", datetime(2024, 1, 15, 10, tzinfo=UTC)),
        ("2024-01-15T04:30:00-05:30", datetime(2024, 1, 15, 10, tzinfo=UTC)),
        ("2024-01-15T10:00:00.5Z", datetime(2024, 1, 15, 10, 0, 0, 500_000, tzinfo=UTC)),
        ("2024-01-15T10:00:00,123456789Z", datetime(2024, 1, 15, 10, 0, 0, 123_456, tzinfo=UTC)),
        (" 2024-01-15 ", datetime(2024, 1, 15, tzinfo=UTC)),
    ],
)
def test_parse_iso_reads_the_forms_hull_sends(text: str, expected: datetime) -> None:
    result = parse_iso(text)

    assert result == expected
    assert result is not None
    assert result.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    ["", "yesterday", "2024", "2024-01", "2024-1-5", "20240115", "2024-13-01", "2024-02-30",
     "2024-01-15T24:00:00Z", "2024-01-15T10:60:00Z", "2024-01-15T10:00:00+24:00",
     "2024-01-15T10:00:00 PST", "2024-01-15T10:00:00Zjunk", "1705312800"],
)  # fmt: skip
def test_parse_iso_refuses_anything_else(text: str) -> None:
    assert parse_iso(text) is None


@pytest.mark.parametrize(
    ("value", "millis"),
    [
        ("2024-01-15T10:00:00.123Z", 1705312800123),
        ("2024-01-15T23:59:59.999Z", 1705363199999),  # the last millisecond of a day
        ("2024-01-15T00:00:00Z", 1705276800000),
        ("1969-12-31T23:59:59Z", -1000),
        (1705312800, 1705312800000),
        (1705312800.5, 1705312800500),
        (1705312800123, 1705312800123),
        (99_999_999_999, 99_999_999_999_000),  # just below the milliseconds threshold: seconds
        (100_000_000_000, 100_000_000_000),  # at it: milliseconds
        (0, 0),
        (253_402_300_799_000, 253_402_300_799_000),  # 9999-12-31T23:59:59Z, the last one
    ],
)
def test_to_unix_millis(value: object, millis: int) -> None:
    assert to_unix_millis(value) == millis


@pytest.mark.parametrize(
    "value",
    [None, True, False, "soon", [1], {"t": 1}, float("nan"), float("inf"),
     253_402_300_800_001, "1705312800", "2024-01-15T24:00:00Z", "2024-01-15T23:60:00Z",
     "2024-01-15T23:59:60Z", "2024-02-30T10:00:00Z"],
)  # fmt: skip
def test_to_unix_millis_refuses_what_is_not_a_timestamp(value: object) -> None:
    assert to_unix_millis(value) is None


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("1705312800", 1705312800000),
        (" 1705312800123 ", 1705312800123),
        ("1.5e9", 1_500_000_000_000),
    ],
)
def test_numeric_strings_are_epoch_numbers_when_asked(text: str, millis: int) -> None:
    assert to_unix_millis(text, numeric_strings=True) == millis
    assert to_unix_millis(text) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(1705312800999, 1705312800), ("2024-01-15T10:00:00.999Z", 1705312800), (-0.5, -1),
     ("1969-12-31T23:59:59.500Z", -1)],
)  # fmt: skip
def test_to_unix_seconds_rounds_down(value: object, seconds: int) -> None:
    result = to_unix_seconds(value)

    assert result == seconds
    assert type(result) is int


def test_format_iso_writes_utc_with_milliseconds() -> None:
    paris = timezone(timedelta(hours=2))

    assert format_iso(datetime(2024, 6, 1, 14, 0, 0, 987_654, tzinfo=paris)) == (
        "2024-06-01T12:00:00.987Z"
    )


def test_utc_now_is_aware_and_current() -> None:
    before = datetime.now(UTC)
    now = utc_now()

    assert now.utcoffset() == timedelta(0)
    assert before <= now <= datetime.now(UTC)


_COMMON_FORM_CHARACTERS = st.sampled_from("0123456789-:T.Z +,x\u0663\u00b2")


@given(st.datetimes())
def test_the_commonest_forms_read_as_the_general_rule_reads_them(moment: datetime) -> None:
    # "...Z" is read by a shortcut; "...z" (same meaning) goes through the general rule.
    for text in (
        moment.isoformat(timespec="seconds") + "Z",
        moment.isoformat(timespec="milliseconds") + "Z",
    ):
        millis = int(text[20:23]) if len(text) == 24 else 0
        expected = moment.replace(microsecond=millis * 1000, tzinfo=UTC)
        assert parse_iso(text) == expected
        assert parse_iso(text[:-1] + "z") == expected


@given(
    st.sampled_from(["2024-02-29T23:59:59Z", "2024-02-29T23:59:59.999Z"]),
    st.lists(st.tuples(st.integers(0, 23), _COMMON_FORM_CHARACTERS), max_size=3),
)
def test_near_misses_of_the_commonest_forms_read_as_the_general_rule_reads_them(
    text: str, edits: list[tuple[int, str]]
) -> None:
    characters = list(text)
    for position, character in edits:
        characters[position % len(characters)] = character
    edited = "".join(characters)
    general = edited[:-1] + "z" if edited.endswith("Z") else edited

    assert parse_iso(edited) == parse_iso(general)


@given(st.datetimes())
def test_unix_millis_of_the_commonest_forms_are_the_general_rules(moment: datetime) -> None:
    # "...Z" is counted from its fields; "...z" (same meaning) goes through the general rule.
    for text in (
        moment.isoformat(timespec="seconds") + "Z",
        moment.isoformat(timespec="milliseconds") + "Z",
    ):
        expected = to_unix_millis(text[:-1] + "z")
        assert expected is not None
        assert to_unix_millis(text) == expected
        assert to_unix_millis(text, numeric_strings=True) == expected


@given(
    st.sampled_from(["2024-02-29T23:59:59Z", "2024-02-29T23:59:59.999Z", "1969-12-31T00:00:00Z"]),
    st.lists(st.tuples(st.integers(0, 23), _COMMON_FORM_CHARACTERS), max_size=3),
)
def test_unix_millis_of_near_misses_of_the_commonest_forms_are_the_general_rules(
    text: str, edits: list[tuple[int, str]]
) -> None:
    characters = list(text)
    for position, character in edits:
        characters[position % len(characters)] = character
    edited = "".join(characters)
    general = edited[:-1] + "z" if edited.endswith("Z") else edited

    assert to_unix_millis(edited) == to_unix_millis(general)
