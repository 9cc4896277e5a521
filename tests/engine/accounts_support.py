"""Doubles for the account engine's tests: a stand-in account planner and Hull clients with
``as_account``.

`stand_in_plan` makes the plan the contract
describes for the simple cases the engine tests need (identify an account by its
``external_id``), and `plans` overrides it per account id with plans a test builds itself.
`AccountHull` / `AsyncAccountHull` are the real Hull clients, recording the claims of every
account write-back (which goes through the client's own ``as_account``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pytest

import hull_customerio as hc
from hull_customerio.engine import _accounts
from hull_customerio.hull import DeliveryTicket
from hull_customerio.models.account import AccountPlan, AccountUpdateMessage
from hull_customerio.models.plan import Action

NOW = "2024-06-01T08:00:00+00:00"


def identify_plan(
    account_id: str,
    object_id: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    reason: str = "new",
    object_type_id: str = "1",
) -> AccountPlan:
    """An IDENTIFY plan with the write-back the contract gives (hash ``h-<object_id>``)."""
    return AccountPlan(
        account_id=account_id,
        action=Action.IDENTIFY,
        reason=reason,
        message=f"The object is {reason}.",
        object_type_id=object_type_id,
        object_id=object_id,
        attributes=dict(attributes if attributes is not None else {"hull_segments": []}),
        hash=f"h-{object_id}",
        traits={
            "customerio/object_id": object_id,
            "customerio/hash": f"h-{object_id}",
            "customerio/synced_at": NOW,
            "customerio/deleted_at": None,
        },
        hull_claims={"id": account_id, "external_id": object_id},
    )


def delete_plan(account_id: str, stored_object_id: str) -> AccountPlan:
    """A DELETE plan addressing the stored object id."""
    return AccountPlan(
        account_id=account_id,
        action=Action.DELETE,
        reason="left_segments",
        message="The account left the synchronized account segments.",
        object_type_id="1",
        object_id=stored_object_id,
        traits={
            "customerio/deleted_at": NOW,
            "customerio/object_id": None,
            "customerio/hash": None,
            "customerio/synced_at": None,
        },
        hull_claims={"id": account_id},
    )


def skip_plan(account_id: str, reason: str = "not_in_segments") -> AccountPlan:
    return AccountPlan(
        account_id=account_id,
        action=Action.SKIP,
        reason=reason,
        message="Skipped.",
        object_type_id="1",
    )


def error_plan(account_id: str, object_id: str, problem: str) -> AccountPlan:
    return AccountPlan(
        account_id=account_id,
        action=Action.ERROR,
        reason="invalid_attributes",
        message="The object cannot be sent as it is.",
        object_type_id="1",
        object_id=object_id,
        errors=[problem],
    )


def stand_in_plan(
    message: AccountUpdateMessage, settings: hc.Settings, *, now: datetime | None = None
) -> AccountPlan:
    """The contract's plan for the simple case: the account's ``external_id`` is the object
    id, attributes ``name`` (when present) and ``hull_segments``."""
    account = message.account
    object_id = account.get("external_id")
    if not object_id:
        return skip_plan(message.account_id, "no_object_id")
    attributes: dict[str, Any] = {}
    if account.get("name") is not None:
        attributes["name"] = account["name"]
    attributes["hull_segments"] = [s.name for s in message.account_segments]
    return identify_plan(
        message.account_id, str(object_id), attributes, object_type_id=settings.object_type_id
    )


def stand_in_dedupe(messages: Iterable[AccountUpdateMessage]) -> list[AccountUpdateMessage]:
    """One message per account: the later one (no ``indexed_at`` in these tests)."""
    return list({message.account_id: message for message in messages}.values())


class Planner:
    """Patches the engine's planner: `plans` by account id, else `stand_in_plan`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.plans: dict[str, AccountPlan] = {}
        monkeypatch.setattr(_accounts, "plan_account_update", self._plan)
        monkeypatch.setattr(_accounts, "deduplicate_account_messages", stand_in_dedupe)

    def _plan(
        self, message: AccountUpdateMessage, settings: hc.Settings, *, now: datetime | None = None
    ) -> AccountPlan:
        if message.account_id in self.plans:
            return self.plans[message.account_id]
        return stand_in_plan(message, settings, now=now)


def account_message(account_id: str, object_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """An ``account:update`` message as Hull sends it."""
    account: dict[str, Any] = {"id": account_id, **fields}
    if object_id is not None:
        account["external_id"] = object_id
    return {
        "message_id": f"m-{account_id}",
        "account": account,
        "account_segments": [{"id": "aseg_1", "name": "Key accounts"}],
        "changes": {},
    }


class AccountHull(hc.HullClient):
    """The real `HullClient`, recording the claims each account write-back is addressed to."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account_claims: list[dict[str, object]] = []

    def as_account(
        self, claims: Mapping[str, object], *, delivery: DeliveryTicket | None = None
    ) -> Any:
        self.account_claims.append(dict(claims))
        return super().as_account(claims, delivery=delivery)


class AsyncAccountHull(hc.AsyncHullClient):
    """The async `AccountHull`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account_claims: list[dict[str, object]] = []

    def as_account(
        self, claims: Mapping[str, object], *, delivery: DeliveryTicket | None = None
    ) -> Any:
        self.account_claims.append(dict(claims))
        return super().as_account(claims, delivery=delivery)
