"""SPEC §11: one ``account:update`` message per account, the latest by ``indexed_at``."""

from __future__ import annotations

from typing import Any

import pytest
from account_builders import MISSING, account, account_message

from hull_customerio.models.account import AccountUpdateMessage
from hull_customerio.rules.dedupe import deduplicate_account_messages


def version(account_id: str, label: str, indexed_at: Any = MISSING) -> AccountUpdateMessage:
    return account_message(
        account(id=account_id, indexed_at=indexed_at), message_id=f"{account_id}-{label}"
    )


def labels(messages: list[AccountUpdateMessage]) -> list[str | None]:
    return [message.message_id for message in messages]


@pytest.mark.parametrize(
    ("first", "second", "kept"),
    [
        ("2024-01-02T00:00:00Z", "2024-01-01T00:00:00Z", "a-1"),
        ("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "a-2"),
        ("2024-01-01T00:00:00.001Z", "2024-01-01T00:00:00Z", "a-1"),  # one millisecond
        ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", "a-2"),  # tie: the later message
        (1_704_153_600_000, "2024-01-01T00:00:00Z", "a-1"),  # epoch millis vs ISO text
        (MISSING, "2024-01-01T00:00:00Z", "a-2"),  # missing sorts first
        ("2024-01-01T00:00:00Z", MISSING, "a-1"),
        ("not a date", -86_400, "a-2"),  # unreadable sorts before even 1969
        (MISSING, MISSING, "a-2"),  # both missing: a tie
    ],
)
def test_the_account_with_the_greatest_indexed_at_is_kept(
    first: Any, second: Any, kept: str
) -> None:
    result = deduplicate_account_messages([version("a", "1", first), version("a", "2", second)])
    assert labels(result) == [kept]


def test_accounts_keep_the_order_they_first_appear_in() -> None:
    result = deduplicate_account_messages(
        [
            version("b", "1", "2024-01-01T00:00:00Z"),
            version("a", "1", "2024-01-01T00:00:00Z"),
            version("b", "2", "2024-01-03T00:00:00Z"),
            version("c", "1"),
            version("a", "2", "2023-01-01T00:00:00Z"),
        ]
    )
    assert labels(result) == ["b-2", "a-1", "c-1"]


def test_no_messages_give_no_messages_and_any_iterable_is_taken() -> None:
    assert deduplicate_account_messages([]) == []
    assert labels(deduplicate_account_messages(iter([version("a", "1")]))) == ["a-1"]
