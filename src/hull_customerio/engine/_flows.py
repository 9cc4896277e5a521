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

from ..metrics import Metrics
from ..models.account import AccountPlan, AccountUpdateMessage
from ..models.customerio import BatchResult
from ..models.hull import UserUpdateMessage
from ..models.notification import ACCOUNT_UPDATE, MalformedMessage, Notification
from ..models.plan import UserPlan
from ..models.report import SyncReport
from ..settings import Settings
from . import _accounts, _core
from ._core import BatchRound, HullTraits, LogContext, Step, StepResult, Unreachable

__all__ = [
    "AWAIT_DELIVERY",
    "AwaitDelivery",
    "Drive",
    "Effect",
    "Flow",
    "RoundSent",
    "SendRound",
    "SyncJob",
    "accounts",
    "of_notification",
    "users",
]

#: A user's or an account's execution.
_Run = TypeVar("_Run")


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
_Steps = tuple[Generator[Step, StepResult, _Run], Callable[[Exception], _Run]]


@attrs.frozen
class Drive(Generic[_Run]):
    """Perform each of ``runs`` to its end; the result is their executions, in order.

    ``concurrently``: the runs are whole users or accounts (v1 mode), which the async driver
    runs at the same time, at most ``max_concurrency``; else they are write-backs, which
    wait for nothing, performed one after another.
    """

    runs: list[_Steps[_Run]]
    concurrently: bool


class AwaitDelivery:
    """Wait until Hull answered for every write-back of the sync; the result is the sync's
    delivery ticket (``None`` without a Hull client)."""


AWAIT_DELIVERY = AwaitDelivery()

Effect = SendRound | Drive[Any] | AwaitDelivery
#: A sync: yields effects, receives their results, returns the report.
Flow = Generator[Effect, Any, SyncReport]


@attrs.frozen
class SyncJob:
    """A sync to run: ``what`` names it in the error of a webhook-only connector; ``flow``
    starts it in a connector's mode, counting into its metrics."""

    what: str
    flow: Callable[[_core.Mode, Metrics], Flow]


# --------------------------------------------------------------------------------------------
# The syncs.


def users(
    messages: Iterable[UserUpdateMessage | Mapping[str, Any]],
    settings: Settings,
    *,
    batch: bool,
    malformed: Iterable[MalformedMessage] = (),
    context: LogContext | None = None,
) -> SyncJob:
    """A sync of users (see `Connector.sync_user_updates`)."""

    def flow(mode: _core.Mode, metrics: Metrics) -> Flow:
        prepared = _core.prepare(
            messages, settings, batch=batch, malformed=malformed, context=context
        )
        plans, object_type_id = prepared.plans, settings.object_type_id
        if mode == "batch":
            rounds = _core.batch_steps(plans, context, object_type_id=object_type_id)
            done, queued = yield from _send_rounds(rounds, plans)
            runs = [
                (_core.write_back_steps(execution), _core.user_bug(execution.plan, context))
                for user, execution in enumerate(done)
                if user not in queued
            ]
            written = iter((yield Drive(runs, concurrently=False)))
            executions = [
                _core.settle_write_back(execution, queued[user])
                if user in queued
                else next(written)
                for user, execution in enumerate(done)
            ]
            _core.mark_unreachable(executions)
        else:
            unreachable = Unreachable()
            runs = [
                (_user_v1(plan, unreachable, object_type_id), _core.user_bug(plan, context))
                for plan in plans
            ]
            executions = yield Drive(runs, concurrently=True)
        yield from _delivered(executions)
        return _core.finish(prepared, executions, context=context, metrics=metrics)

    return SyncJob("syncing users", flow)


def accounts(
    messages: Iterable[AccountUpdateMessage | Mapping[str, Any]],
    settings: Settings,
    *,
    malformed: Iterable[MalformedMessage] = (),
    context: LogContext | None = None,
) -> SyncJob:
    """A sync of accounts (see `Connector.sync_account_updates`)."""

    def flow(mode: _core.Mode, metrics: Metrics) -> Flow:
        prepared = _accounts.prepare_accounts(
            messages, settings, malformed=malformed, context=context
        )
        if mode == "batch":
            rounds = _accounts.batch_account_steps(prepared.plans, context)
            done, _ = yield from _send_rounds(rounds)
            write_backs = [
                (_accounts.account_write_back_steps(e), _accounts.account_bug(e.plan, context))
                for e in done
            ]
            executions = yield Drive(write_backs, concurrently=False)
        else:
            unreachable = Unreachable()
            runs = [
                (_account_v1(plan, unreachable), _accounts.account_bug(plan, context))
                for plan in prepared.plans
            ]
            executions = yield Drive(runs, concurrently=True)
        _accounts.mark_accounts_unreachable(executions)
        yield from _delivered(executions)
        return _accounts.finish_accounts(prepared, executions, context=context, metrics=metrics)

    return SyncJob("syncing accounts", flow)


def of_notification(notification: Notification) -> SyncJob:
    """The sync of a parsed notification: its users or its accounts, with its own settings;
    an export bypasses the segment filter, and its log records carry its id."""
    context = LogContext.of(notification)
    if notification.channel == ACCOUNT_UPDATE:
        return accounts(
            notification.account_messages,
            notification.settings,
            malformed=notification.malformed,
            context=context,
        )
    return users(
        notification.messages,
        notification.settings,
        batch=notification.is_export,
        malformed=notification.malformed,
        context=context,
    )


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
) -> Generator[Step, StepResult, _core.Execution]:
    """A user in v1 mode, unless Customer.io proved unreachable before it started."""
    if unreachable.tripped:
        return unreachable.skip(plan)
    return unreachable.note((yield from _core.v1_steps(plan, object_type_id=object_type_id)))


def _account_v1(
    plan: AccountPlan, unreachable: Unreachable
) -> Generator[Step, StepResult, _accounts.AccountExecution]:
    """An account in v1 mode, unless Customer.io proved unreachable before it started."""
    if unreachable.tripped:
        return _accounts.unreachable_account(plan, unreachable.error)
    return unreachable.note((yield from _accounts.account_v1_steps(plan)))


def _delivered(executions: Iterable[Any]) -> Generator[Effect, Any, None]:
    """Wait for Hull's answers, then mark the write-backs it did not take."""
    ticket = yield AWAIT_DELIVERY
    if ticket is not None:
        _core.apply_delivery(executions, ticket)
