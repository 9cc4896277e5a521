"""What the command line prints: JSON records, the sync summary, the status."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import IO, Any

import attrs

from ..models.account import AccountPlan
from ..models.plan import OutgoingEvent, UserPlan
from ..models.report import AccountOutcome, Status, UserOutcome
from ._common import one_line

__all__ = [
    "MAX_FAILURES_SHOWN",
    "Tally",
    "account_outcome_record",
    "account_plan_record",
    "dump",
    "outcome_record",
    "plan_record",
    "print_status",
    "summarise",
    "unplanned_account_record",
    "unplanned_record",
    "webhook_record",
]

# Enough failed users for a readable summary; ``--json`` lists every one.
MAX_FAILURES_SHOWN = 50


def dump(record: Mapping[str, Any]) -> str:
    """One record as one line of JSON."""
    # default=str: a value the rules left unserialisable must not cost the whole run.
    try:
        return json.dumps(record, default=str)
    except (ValueError, RecursionError):
        # A value refused as unsendable (absurdly deep, say) cannot be shown either.
        return json.dumps({key: _shown(value) for key, value in record.items()}, default=str)


def _shown(value: object) -> object:
    try:
        json.dumps(value, default=str)
    except (ValueError, RecursionError):
        return "<cannot be shown as JSON>"
    return value


def _event_record(event: OutgoingEvent) -> dict[str, Any]:
    return {"kind": event.kind, "name": event.name, "id": event.id, "timestamp": event.timestamp}


def _decision(plan: UserPlan | AccountPlan) -> dict[str, Any]:
    """The fields a user's and an account's plan line share: what was decided, and why."""
    return {"action": str(plan.action), "reason": plan.reason, "message": plan.message}


def _result(outcome: UserOutcome | AccountOutcome) -> dict[str, Any]:
    """The fields a user's and an account's outcome line share: what was decided and done."""
    return {
        "action": str(outcome.action),
        "status": outcome.status,
        "reason": outcome.reason,
        "message": outcome.message,
        "calls": list(outcome.calls),
    }


def plan_record(plan: UserPlan) -> dict[str, Any]:
    """A user's plan, as ``plan`` prints it."""
    return {
        "user_id": plan.user_id,
        **_decision(plan),
        "customer_id": plan.customer_id,
        "attributes": plan.attributes,
        "chunks": len(plan.chunks),
        "events": [_event_record(event) for event in plan.events],
        "skipped_events": [list(skipped) for skipped in plan.skipped_events],
        "errors": list(plan.errors),
    }


#: A user's plan record's fields when nothing could be planned.
_NO_USER_PLAN: Mapping[str, Any] = {
    "customer_id": None,
    "attributes": {},
    "chunks": 0,
    "events": [],
    "skipped_events": [],
}
#: An account's plan record's fields when nothing could be planned.
_NO_ACCOUNT_PLAN: Mapping[str, Any] = {
    "object_type_id": None,
    "object_id": None,
    "attributes": {},
    "hash": "",
}


def _with_line(record: dict[str, Any], line: int | None) -> dict[str, Any]:
    """``record`` with the input line it came from, when known (JSON lines)."""
    if line is not None:
        record["line"] = line
    return record


def unplanned_record(
    user_id: str | None, reason: str, message: str, errors: list[str], line: int | None
) -> dict[str, Any]:
    """A ``plan`` line for a user that could not be planned (malformed, or a bug)."""
    head = {"user_id": user_id, "action": "error", "reason": reason, "message": message}
    # Deep-copied: records share no list or object.
    return _with_line({**head, **copy.deepcopy(_NO_USER_PLAN), "errors": errors}, line)


def account_plan_record(plan: AccountPlan) -> dict[str, Any]:
    """An account's plan, as ``plan`` prints it."""
    return {
        "account_id": plan.account_id,
        **_decision(plan),
        "object_type_id": plan.object_type_id,
        "object_id": plan.object_id,
        "attributes": plan.attributes,
        "hash": plan.hash,
        "errors": list(plan.errors),
    }


def unplanned_account_record(
    account_id: str | None, reason: str, message: str, errors: list[str], line: int | None
) -> dict[str, Any]:
    """A ``plan`` line for an account that could not be planned (malformed, or a bug)."""
    head = {"account_id": account_id, "action": "error", "reason": reason, "message": message}
    return _with_line({**head, **copy.deepcopy(_NO_ACCOUNT_PLAN), "errors": errors}, line)


def outcome_record(outcome: UserOutcome, line: int | None = None) -> dict[str, Any]:
    """A user's outcome, as ``sync --json`` prints it."""
    record: dict[str, Any] = {
        "user_id": outcome.user_id,
        "customer_id": outcome.customer_id,
        **_result(outcome),
        "events_sent": [_event_record(event) for event in outcome.events_sent],
        "events_skipped": [list(skipped) for skipped in outcome.events_skipped],
        "error": outcome.error,
    }
    return _with_line(record, line)


def account_outcome_record(outcome: AccountOutcome, line: int | None = None) -> dict[str, Any]:
    """An account's outcome, as ``sync --json`` prints it."""
    record: dict[str, Any] = {
        "account_id": outcome.account_id,
        "object_id": outcome.object_id,
        **_result(outcome),
        "error": outcome.error,
    }
    return _with_line(record, line)


@attrs.define
class Tally:
    """Running counts of a sync, and the first failures for the summary (memory stays flat).

    ``noun`` names what is counted: ``user`` or ``account``.
    """

    succeeded: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[UserOutcome | AccountOutcome] = attrs.field(factory=list)
    noun: str = "user"

    @property
    def total(self) -> int:
        """Users (or accounts) counted so far."""
        return self.succeeded + self.skipped + self.failed

    def add(self, outcome: UserOutcome | AccountOutcome) -> None:
        """Count one user's (or account's) outcome."""
        if outcome.status == "success":
            self.succeeded += 1
        elif outcome.status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1
            if len(self.failures) < MAX_FAILURES_SHOWN:
                self.failures.append(outcome)

    def counts(self) -> str:
        """``3 users: 2 succeeded, 1 skipped, 0 failed`` (or ``3 accounts: ...``)."""
        noun = self.noun if self.total == 1 else f"{self.noun}s"
        return (
            f"{self.total} {noun}: {self.succeeded} succeeded, {self.skipped} skipped, "
            f"{self.failed} failed"
        )


def _who(outcome: UserOutcome | AccountOutcome) -> str:
    """How the summary names a failed user (its customer id) or account (its object id)."""
    if isinstance(outcome, AccountOutcome):
        who, other = outcome.account_id or "(unknown account)", outcome.object_id
    else:
        who, other = outcome.user_id or "(unknown user)", outcome.customer_id
    return f"{who} ({other})" if other else who


def summarise(tally: Tally, out: IO[str], last_line: str | None = None) -> None:
    """The sync's summary: the counts, each failure shown (the first 50), ``last_line``."""
    print(f"Synced {tally.counts()}.", file=out)
    for outcome in tally.failures:
        who = _who(outcome)
        line = f"  failed: {who}: {outcome.reason}: {one_line(outcome.error or '')}"
        # An id with a lone surrogate cannot be written as UTF-8: escape it, keep the line.
        print(line.encode("utf-8", "backslashreplace").decode("utf-8"), file=out)
    hidden = tally.failed - len(tally.failures)
    if hidden:
        print(f"  ... and {hidden} more failed {tally.noun}s (--json lists every one)", file=out)
    if last_line is not None:
        print(last_line, file=out)


def print_status(status: Status, *, as_json: bool) -> None:
    """``check``'s answer: ``status: ok`` and its messages, or one JSON object."""
    if as_json:
        print(dump({"status": status.status, "messages": list(status.messages)}))
        return
    print(f"status: {status.status}")
    for message in status.messages:
        print(f"  - {message}")


def webhook_record(
    http_status: int, reason: str | None, message: str, signature: str
) -> dict[str, Any]:
    """``webhook``'s answer, before the event (if any) is added."""
    return {
        "http_status": http_status,
        "reason": reason,
        "message": message,
        "signature": signature,
        "event": None,
    }
