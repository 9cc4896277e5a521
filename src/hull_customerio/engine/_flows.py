"""A sync of users and a sync of accounts, written once for both connectors.

Each sync is a flow: a generator that prepares the plans, *yields* the effects below (send a
batch-mode round, drive the users' steps, wait for Hull's answers) and receives their
results, then finishes the report. [`Connector`][hull_customerio.Connector] and
[`AsyncConnector`][hull_customerio.AsyncConnector] only drive it: a blocking loop and an
awaiting loop perform each effect and send its result back. What is sent in which order, when
the write-backs go, and what every answer means therefore exist once, here.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs

from ..hull import DeliveryTicket
from ..metrics import Metrics
from ..models.account import AccountPlan, AccountUpdateMessage
from ..models.customerio import BatchResult
from ..models.hull import UserUpdateMessage
from ..models.notification import ACCOUNT_UPDATE, Notification
from ..models.plan import UserPlan
from ..models.report import AccountOutcome, SyncReport, UserOutcome
from ..settings import Settings
from . import _accounts, _core
from ._accounts import AccountExecution
from ._core import (
    BatchRound,
    Execution,
    HullTraits,
    LogContext,
    Prepared,
    Step,
    StepResult,
    Unreachable,
)
from ._logs import log_account_outcome
from ._sync import Failures, finish_in_order

__all__ = [
    "AWAIT_DELIVERY",
    "AwaitDelivery",
    "Drive",
    "Effect",
    "Flow",
    "RoundSent",
    "SendRound",
    "Steps",
    "SyncJob",
    "accounts",
    "of_notification",
    "users",
]

_Plan = TypeVar("_Plan")  # a user's or an account's plan
_Run = TypeVar("_Run", bound=Failures[Any])  # a user's or an account's execution
_T = TypeVar("_T")


# --------------------------------------------------------------------------------------------
# Effects: what a driver performs.


@attrs.frozen
class SendRound:
    """Send one batch-mode round; the result is a `RoundSent`.

    The round's v2 operations go in ``batch()`` requests and its v1 calls one by one (each
    user's in order); meanwhile the ``write_backs`` (user, step) are queued on the Hull client
    (see `BatchRound.settled`), so Hull receives them while Customer.io answers.
    """

    round: BatchRound
    write_backs: list[tuple[int, HullTraits]]


@attrs.frozen
class RoundSent:
    """What a `SendRound` gave: ``batch()``'s result (``None`` when the round had no v2
    operation), each v1 call's result in ``round.calls`` order, and the result of each
    write-back that could be queued, by user."""

    result: BatchResult | None
    calls: list[StepResult]
    queued: dict[int, StepResult]


#: One execution to drive: its steps, and what a bug in them leaves (the user's or the
#: account's ``internal_error`` execution, so a bug costs that one).
Steps = tuple[Generator[Step, StepResult, _T], Callable[[Exception], _T]]


@attrs.frozen
class Drive(Generic[_Run]):
    """Perform each of ``runs`` to its end; the result is their executions, in order.

    ``concurrently``: the runs are whole users or accounts (v1 mode), which the async driver
    runs at the same time, at most ``max_concurrency``; else they are write-backs, which
    wait for nothing, performed one after another.
    """

    runs: list[Steps[_Run]]
    concurrently: bool


class AwaitDelivery:
    """Wait until Hull answered for every write-back of the sync; the result is the sync's
    delivery ticket (``None`` without a Hull client)."""


AWAIT_DELIVERY = AwaitDelivery()

Effect = SendRound | Drive[Any] | AwaitDelivery
#: A sync: yields effects, receives their results, returns the report.
Flow = Generator[Effect, Any, SyncReport]


@attrs.frozen
class SyncJob(Generic[_Plan, _Run]):
    """A sync of users or of accounts, to run: what the two kinds do their own way.

    Attributes:
        what: names the sync in the error of a webhook-only connector.
        prepare: parses, de-duplicates and plans the messages.
        batches: batch mode, from the plans to the executions: every round of operations,
            then the write-backs.
        v1: v1 mode, one plan's execution (its steps and what a bug in them leaves), unless
            Customer.io proved unreachable (`Unreachable`) before it started.
        finish: the report of the executions, logged and counted into the metrics.
    """

    what: str
    prepare: Callable[[], Prepared[_Plan, Any]]
    batches: Callable[[list[_Plan]], Generator[Effect, Any, list[_Run]]]
    v1: Callable[[_Plan, Unreachable], Steps[_Run]]
    finish: Callable[[Prepared[_Plan, Any], list[_Run], Metrics], SyncReport]

    def flow(self, mode: _core.Mode, metrics: Metrics) -> Flow:
        """The sync in ``mode``, counting into ``metrics``."""
        prepared = self.prepare()
        executions: list[_Run]
        if mode == "batch":
            executions = yield from self.batches(prepared.plans)
        else:
            unreachable = Unreachable()
            runs = [self.v1(plan, unreachable) for plan in prepared.plans]
            executions = yield Drive(runs, concurrently=True)
        ticket: DeliveryTicket | None = yield AWAIT_DELIVERY
        if ticket is not None:  # mark the write-backs Hull did not take
            _core.apply_delivery(executions, ticket)
        return self.finish(prepared, executions, metrics)


# --------------------------------------------------------------------------------------------
# The syncs.


def users(
    messages: Iterable[UserUpdateMessage | Mapping[str, Any]], settings: Settings, *, batch: bool
) -> SyncJob[UserPlan, Execution]:
    """A sync of users (see `Connector.sync_user_updates`)."""
    return _users(lambda: _core.prepare(messages, settings, batch=batch), settings, None)


def accounts(
    messages: Iterable[AccountUpdateMessage | Mapping[str, Any]], settings: Settings
) -> SyncJob[AccountPlan, AccountExecution]:
    """A sync of accounts (see `Connector.sync_account_updates`)."""
    return _accounts_of(lambda: _accounts.prepare_accounts(messages, settings), None)


def of_notification(notification: Notification) -> SyncJob[Any, Any]:
    """The sync of a parsed notification: its users or its accounts, with its own settings;
    an export bypasses the segment filter, and its log records carry its id."""
    context = LogContext.of(notification)
    settings, malformed = notification.settings, notification.malformed
    if notification.channel == ACCOUNT_UPDATE:
        messages = notification.account_messages
        return _accounts_of(
            lambda: _accounts.prepare_accounts(
                messages, settings, malformed=malformed, context=context
            ),
            context,
        )
    return _users(
        lambda: _core.prepare(
            notification.messages,
            settings,
            batch=notification.is_export,
            malformed=malformed,
            context=context,
        ),
        settings,
        context,
    )


def _users(
    prepare: Callable[[], Prepared[UserPlan, UserOutcome]],
    settings: Settings,
    context: LogContext | None,
) -> SyncJob[UserPlan, Execution]:
    object_type_id = settings.object_type_id

    def batches(plans: list[UserPlan]) -> Generator[Effect, Any, list[Execution]]:
        rounds = _core.batch_steps(plans, context, object_type_id=object_type_id)
        done, queued = yield from _send_rounds(rounds, plans)
        runs = [
            (_core.write_back_steps(execution), _core.user_bug(execution.plan, context))
            for user, execution in enumerate(done)
            if user not in queued
        ]
        written = iter((yield Drive(runs, concurrently=False)))
        executions = [
            _core.settle_write_back(execution, queued[user]) if user in queued else next(written)
            for user, execution in enumerate(done)
        ]
        _core.mark_unreachable(executions)
        return executions

    def v1(plan: UserPlan, unreachable: Unreachable) -> Steps[Execution]:
        return _user_v1(plan, unreachable, object_type_id), _core.user_bug(plan, context)

    def finish(
        prepared: Prepared[UserPlan, UserOutcome], executions: list[Execution], metrics: Metrics
    ) -> SyncReport:
        outcomes = finish_in_order(
            prepared, executions, outcome=Execution.outcome, log=_core.log_outcome,
            record=_core.record_execution, context=context, metrics=metrics,
        )  # fmt: skip
        return SyncReport(outcomes=outcomes)

    return SyncJob("syncing users", prepare, batches, v1, finish)


def _accounts_of(
    prepare: Callable[[], Prepared[AccountPlan, AccountOutcome]], context: LogContext | None
) -> SyncJob[AccountPlan, AccountExecution]:
    def batches(plans: list[AccountPlan]) -> Generator[Effect, Any, list[AccountExecution]]:
        done, _ = yield from _send_rounds(_accounts.batch_account_steps(plans, context))
        write_backs = [
            (_accounts.account_write_back_steps(e), _accounts.account_bug(e.plan, context))
            for e in done
        ]
        executions: list[AccountExecution] = yield Drive(write_backs, concurrently=False)
        return executions

    def v1(plan: AccountPlan, unreachable: Unreachable) -> Steps[AccountExecution]:
        return _account_v1(plan, unreachable), _accounts.account_bug(plan, context)

    def finish(
        prepared: Prepared[AccountPlan, AccountOutcome],
        executions: list[AccountExecution],
        metrics: Metrics,
    ) -> SyncReport:
        # Both modes: an account whose object call found Customer.io out of reach.
        _accounts.mark_accounts_unreachable(executions)
        outcomes = finish_in_order(
            prepared, executions, outcome=AccountExecution.outcome, log=log_account_outcome,
            record=_accounts.record_account, context=context, metrics=metrics,
        )  # fmt: skip
        return SyncReport(outcomes=[], account_outcomes=outcomes)

    return SyncJob("syncing accounts", prepare, batches, v1, finish)


# --------------------------------------------------------------------------------------------
# What both syncs share.


def _send_rounds(
    rounds: Generator[BatchRound, dict[int, dict[int, StepResult]], list[_Run]],
    plans: Sequence[UserPlan] = (),
) -> Generator[Effect, Any, tuple[list[_Run], dict[int, StepResult]]]:
    """Send every batch-mode round; the executions, and the results of the write-backs
    queued meanwhile (only users' rounds settle users early: ``plans`` are theirs)."""
    answers: dict[int, dict[int, StepResult]] | None = None
    queued: dict[int, StepResult] = {}
    while True:
        try:
            round_ = rounds.send(answers)  # type: ignore[arg-type]  # None primes it
        except StopIteration as stop:
            return stop.value, queued
        # Users in `settled` write back (`writes_back`), so their plan has traits.
        write_backs = [(user, _core.write_back_step(plans[user])) for user in round_.settled]
        sent: RoundSent = yield SendRound(round_, write_backs)
        queued.update(sent.queued)
        answers = _core.batch_results(round_, sent.result, sent.calls)


def _user_v1(
    plan: UserPlan, unreachable: Unreachable, object_type_id: str
) -> Generator[Step, StepResult, Execution]:
    """A user in v1 mode, unless Customer.io proved unreachable before it started."""
    if unreachable.tripped:
        return unreachable.skip(plan)
    return unreachable.note((yield from _core.v1_steps(plan, object_type_id=object_type_id)))


def _account_v1(
    plan: AccountPlan, unreachable: Unreachable
) -> Generator[Step, StepResult, AccountExecution]:
    """An account in v1 mode, unless Customer.io proved unreachable before it started."""
    if unreachable.tripped:
        return _accounts.unreachable_account(plan, unreachable.error)
    return unreachable.note((yield from _accounts.account_v1_steps(plan)))
