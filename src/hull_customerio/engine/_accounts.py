"""Hull accounts as Customer.io objects: one account's execution as steps, preparing a sync of
accounts, and its outcomes (log lines, metrics); `_flows` runs the sync.

As for users, an account's execution *yields* its steps (the object's identify or delete, then
the Hull account write-back) and receives their results; the sync and async connectors only
perform them. In batch mode every account's operation goes in one round of v2 batch requests,
packed by the users' batch machinery (`batch_operations` / `batch_results`), so a ``207``
error comes back to the account it belongs to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any

import attrs

from ..customerio.operations import ObjectDelete, ObjectIdentify, ObjectRef, Operation
from ..errors import HullCustomerIOError, ValidationError
from ..metrics import OUTGOING_ACCOUNTS, Metrics, NullMetrics
from ..models.account import AccountPlan, AccountUpdateMessage
from ..models.notification import MalformedMessage
from ..models.plan import Action
from ..models.report import AccountOutcome
from ..rules.accounts import plan_account_update
from ..rules.dedupe import deduplicate_account_messages
from ..settings import Settings
from ._core import customerio_unreachable
from ._logs import LogContext, log_account_outcome, log_event
from ._steps import (
    BatchRound,
    HullTraits,
    Step,
    StepResult,
    batch_operations,
    failure_code,
)
from ._sync import (
    Failures,
    Prepared,
    message_id,
    prepare_in_order,
    record_bug,
    settle,
    short_error,
)

__all__ = [
    "ACCOUNT_FAILURE_MESSAGES",
    "AccountExecution",
    "PreparedAccounts",
    "account_bug",
    "account_calls",
    "account_internal_error",
    "account_v1_steps",
    "account_write_back_steps",
    "batch_account_steps",
    "credentials_mismatch_accounts",
    "mark_accounts_unreachable",
    "prepare_accounts",
    "record_account",
    "unreachable_account",
]

ACCOUNT_FAILURE_MESSAGES: Mapping[str, str] = {
    "object_failed": "Customer.io did not accept the object; nothing was written back to Hull.",
    "writeback_failed": "Customer.io is up to date but Hull did not receive the account's "
    "sync state.",
    "writeback_rejected": "Customer.io is up to date but Hull refused the account's sync "
    "state; sending it again as it is cannot help.",
    "customerio_unavailable": "Customer.io could not be reached, so this account was not sent; "
    "the notification is answered retry.",
    "rate_limiter_unavailable": "The shared rate limiter (Redis) could not be reached, so "
    "nothing was sent to Customer.io for this account; the notification is answered retry.",
    "malformed_message": "The message is malformed and cannot be synchronized.",
    "internal_error": "An unexpected error stopped this account; the others went on.",
    "credentials_mismatch": (
        "The notification's settings name another Customer.io workspace than the connector's "
        "client; nothing was sent."
    ),
}


# --------------------------------------------------------------------------------------------
# One account's execution.


@attrs.define
class AccountExecution(Failures[AccountPlan]):
    """The mutable record of one account's execution, frozen into an
    [`AccountOutcome`][hull_customerio.AccountOutcome] at the end."""

    #: Customer.io accepted the object's identify or delete.
    sent: bool = False
    #: The object's call failed (or was never sent): no write-back.
    failed: bool = False

    def outcome(self) -> AccountOutcome:
        """The account's outcome."""
        plan = self.plan
        end = settle(plan, self.failure, self.details, ACCOUNT_FAILURE_MESSAGES)
        return AccountOutcome(
            account_id=plan.account_id,
            object_id=plan.object_id,
            action=plan.action,
            status=end.status,
            reason=end.reason,
            message=end.message,
            calls=list(self.calls),
            error=end.error,
            exception=self.exception,
            plan=plan,
        )


_OBJECT_CALLS: Mapping[Action, str] = {
    Action.IDENTIFY: "object_identify",
    Action.DELETE: "object_delete",
}


def account_calls(
    plan: AccountPlan, execution: AccountExecution | None = None
) -> Generator[list[Operation], list[StepResult], AccountExecution]:
    """One account's Customer.io calls: one group of one call (the object's identify or
    delete), or none for a skip or an error plan; then what its result means."""
    if execution is None:
        execution = AccountExecution(plan)
    name = _OBJECT_CALLS.get(plan.action)
    if name is None:
        return execution
    # Identify and delete plans name the object (an id missing by a bug is refused when sent).
    ref = ObjectRef(plan.object_type_id, plan.object_id or "")
    call: Operation = (
        ObjectIdentify(ref, plan.attributes)
        if plan.action is Action.IDENTIFY
        else ObjectDelete(ref)
    )
    (result,) = yield [call]
    execution.calls.append(name)
    if isinstance(result, HullCustomerIOError):
        execution.failed = True
        execution.fail(failure_code("object_failed", result), result, str(result))
    else:
        execution.sent = True
    return execution


def account_v1_steps(plan: AccountPlan) -> Generator[Step, StepResult, AccountExecution]:
    """One account in v1 mode: the object's call (``POST /api/v2/entity``), then the Hull
    account write-back."""
    calls = account_calls(plan)
    try:
        (call,) = next(calls)
        result = yield call
        calls.send([result])
    except StopIteration as stop:
        execution: AccountExecution = stop.value
    else:  # pragma: no cover - an account has one call
        raise RuntimeError("an account has one Customer.io call")
    yield from account_write_back_steps(execution)
    return execution


def account_write_back_steps(
    execution: AccountExecution,
) -> Generator[Step, StepResult, AccountExecution]:
    """After the object's call: write the sync state back on the Hull account.

    Only when the plan has traits and Customer.io accepted the call.
    """
    plan = execution.plan
    if plan.action is Action.ERROR or plan.traits is None or execution.failed:
        return execution
    result = yield HullTraits(plan.hull_claims, plan.traits, subject="account")
    if result is None:  # the connector has no Hull client: nothing to write back to
        return execution
    execution.calls.append("hull_traits")
    if isinstance(result, HullCustomerIOError):
        execution.fail("writeback_failed", result, f"Hull write-back: {result}")
    else:
        execution.request_id = result
    return execution


def batch_account_steps(
    plans: Sequence[AccountPlan], context: LogContext | None = None
) -> Generator[BatchRound, dict[int, dict[int, StepResult]], list[AccountExecution]]:
    """Every account's call in batch mode: one `BatchRound` (none when nothing is sent).

    Receives `batch_results` of the round; returns each account's execution, in ``plans``
    order, before the Hull write-back (`account_write_back_steps`).
    """
    executions = [AccountExecution(plan) for plan in plans]
    running: dict[int, Generator[list[Operation], list[StepResult], AccountExecution]] = {}
    waiting: dict[int, list[Operation]] = {}

    def advance(number: int, results: list[StepResult] | None) -> None:
        try:
            group = running[number].send(results)  # type: ignore[arg-type]  # None primes it
        except StopIteration as stop:
            executions[number] = stop.value
            del running[number]
        except Exception as exc:  # a bug must cost one account, not the batch
            executions[number] = account_internal_error(executions[number], exc, context)
            del running[number]
        else:
            waiting[number] = group

    for number, plan in enumerate(plans):
        running[number] = account_calls(plan, executions[number])
        advance(number, None)
    while waiting:
        answers = yield batch_operations(waiting)
        for number, group in list(waiting.items()):
            del waiting[number]
            got = answers.get(number, {})
            advance(number, [got.get(position) for position in range(len(group))])
    return executions


def account_internal_error(
    execution: AccountExecution, exc: Exception, context: LogContext | None = None
) -> AccountExecution:
    """Record an unexpected exception on ``execution`` (a bug costs one account, not all)."""
    plan = execution.plan
    return record_bug(execution, exc, context, "outgoing.account.error",
                      account_id=plan.account_id, object_id=plan.object_id)  # fmt: skip


def account_bug(
    plan: AccountPlan, context: LogContext | None
) -> Callable[[Exception], AccountExecution]:
    """What an unexpected exception in ``plan``'s steps leaves: the account's
    `account_internal_error` execution (for the connectors' drivers)."""
    return lambda exc: account_internal_error(AccountExecution(plan), exc, context)


def unreachable_account(plan: AccountPlan, error: HullCustomerIOError | None) -> AccountExecution:
    """The execution of an account not sent because Customer.io is unreachable (``error``)."""
    execution = AccountExecution(plan)
    execution.failed = True
    detail = f"not sent: {error}" if error is not None else "not sent"
    execution.fail(failure_code("customerio_unavailable", error), error, detail)
    return execution


def mark_accounts_unreachable(executions: Iterable[AccountExecution]) -> None:
    """Accounts whose call failed because Customer.io could not be reached are
    ``customerio_unavailable``, in both modes (in batch mode their whole request failed)."""
    for execution in executions:
        if execution.failure == "object_failed" and customerio_unreachable(execution.exception):
            execution.failure = "customerio_unavailable"


# --------------------------------------------------------------------------------------------
# Preparing a sync of accounts, and its outcomes.


#: The plans of a sync of accounts and the outcomes already known.
PreparedAccounts = Prepared[AccountPlan, AccountOutcome]


def prepare_accounts(
    messages: Iterable[AccountUpdateMessage | Mapping[str, Any]],
    settings: Settings,
    *,
    malformed: Iterable[MalformedMessage] = (),
    context: LogContext | None = None,
) -> PreparedAccounts:
    """Parse raw messages, de-duplicate, plan every account; nothing raises for one account."""

    def failed(message: AccountUpdateMessage, exc: Exception) -> AccountOutcome:
        log_event(
            logging.ERROR, "outgoing.account.error", context, exc_info=exc,
            account_id=message.account_id, reason="internal_error", error=short_error(exc),
        )  # fmt: skip
        return _failed_outcome(message.account_id, "internal_error", short_error(exc), None)

    return prepare_in_order(
        messages,
        AccountUpdateMessage,
        malformed=lambda raw, exc: malformed_account(message_id(raw, "account"), exc),
        known_malformed=[malformed_account(bad.account_id, bad.error) for bad in malformed],
        key=lambda message: message.account_id,
        deduplicate=deduplicate_account_messages,
        plan=lambda message, now: plan_account_update(message, settings, now=now),
        failed=failed,
    )


def _failed_outcome(
    account_id: str | None, code: str, error: str, exc: HullCustomerIOError | None
) -> AccountOutcome:
    return AccountOutcome(
        account_id=account_id,
        object_id=None,
        action=Action.ERROR,
        status="error",
        reason=code,
        message=ACCOUNT_FAILURE_MESSAGES[code],
        error=error,
        exception=exc,
    )


def malformed_account(account_id: str | None, error: ValidationError) -> AccountOutcome:
    """The error outcome of an ``account:update`` message that could not be parsed."""
    return _failed_outcome(account_id, "malformed_message", str(error), error)


def credentials_mismatch_accounts(
    messages: Iterable[AccountUpdateMessage],
    malformed: Iterable[MalformedMessage],
    detail: str,
    context: LogContext | None = None,
) -> list[AccountOutcome]:
    """Every account in error with ``credentials_mismatch`` (nothing sent); malformed messages
    keep ``malformed_message``; one outcome per account."""
    outcomes = [
        _failed_outcome(message.account_id, "credentials_mismatch", detail, None)
        for message in deduplicate_account_messages(messages)
    ]
    outcomes += [malformed_account(bad.account_id, bad.error) for bad in malformed]
    for outcome in outcomes:
        log_account_outcome(outcome, context)
    return outcomes


def record_account(metrics: Metrics, execution: AccountExecution) -> None:
    """Count one account's Customer.io outcome: ``ship.outgoing.accounts`` once when the plan
    was an identify or a delete, ``success`` when Customer.io accepted the call, else
    ``error`` (also when it was not sent because Customer.io was unreachable)."""
    if isinstance(metrics, NullMetrics):
        return
    action = {Action.IDENTIFY: "identify", Action.DELETE: "delete"}.get(execution.plan.action)
    if action is not None:
        status = "success" if execution.sent else "error"
        metrics.increment(OUTGOING_ACCOUNTS, tags={"action": action, "status": status})
