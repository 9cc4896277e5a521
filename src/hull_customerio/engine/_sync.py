"""What a sync of users and a sync of accounts share at both ends: preparing it (parsing the raw
messages, de-duplicating, planning, in input order), and turning the executions into outcomes
(status, reason, message, error), logged and counted, in input order.

The two kinds differ in their messages, plans and outcomes, not in these rules, so each rule
is written once here and both `_core` (users) and `_accounts` (accounts) call it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import attrs

from .._time import utc_now
from ..errors import HullCustomerIOError, ValidationError
from ..metrics import Metrics
from ..models.plan import Action
from ..models.report import OutcomeStatus
from ._logs import LogContext, log_event

__all__ = [
    "Failures",
    "Prepared",
    "Settled",
    "finish_in_order",
    "message_id",
    "prepare_in_order",
    "settle",
    "short_error",
]


class _Decided(Protocol):
    """A user's or an account's plan, as far as its outcome goes."""

    @property
    def action(self) -> Action: ...
    @property
    def reason(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def errors(self) -> list[str]: ...


_Parsed = TypeVar("_Parsed", bound="_Message")


class _Message(Protocol):
    """A user's or an account's message class, as far as parsing one goes."""

    @classmethod
    def from_dict(
        cls: type[_Parsed], mapping: Mapping[str, Any], *, index: int | None = None
    ) -> _Parsed: ...


_Kind = TypeVar("_Kind", bound=_Message)
_Plan = TypeVar("_Plan")
_Outcome = TypeVar("_Outcome")
_Execution = TypeVar("_Execution")


@attrs.define
class Failures(Generic[_Plan]):
    """What a user's and an account's execution both record, and how they record failures
    (the base of both records)."""

    plan: _Plan
    calls: list[str] = attrs.field(factory=list)
    failure: str | None = None
    exception: HullCustomerIOError | None = None
    details: list[str] = attrs.field(factory=list)
    request_id: str | None = None

    def fail(self, code: str, exc: HullCustomerIOError | None, detail: str) -> None:
        """Record a failure: the first one names the outcome, later ones add detail."""
        if self.failure is None:
            self.failure, self.exception = code, exc
        self.details.append(detail)

    def stop(self, exc: Exception) -> None:
        """Record an unexpected exception (a bug): the outcome is ``internal_error``."""
        self.failure = "internal_error"
        self.details.append(short_error(exc))


def short_error(exc: Exception) -> str:
    """An unexpected exception as outcome text, cut short: it may quote a huge or personal
    value."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _ERROR_TEXT_LIMIT else text[: _ERROR_TEXT_LIMIT - 3] + "..."


_ERROR_TEXT_LIMIT = 300

_Failures = TypeVar("_Failures", bound=Failures[Any])


def record_bug(
    execution: _Failures,
    exc: Exception,
    context: LogContext | None,
    event: str,
    **subject: str | None,
) -> _Failures:
    """Record an unexpected exception on ``execution``: a bug costs one user or account, not
    the batch. Logged as ``event`` with the ``subject``'s ids, the reason and the cause."""
    log_event(
        logging.ERROR,
        event,
        context,
        exc_info=exc,
        **subject,
        reason="internal_error",
        error=short_error(exc),
    )
    execution.stop(exc)
    return execution


class Settled(NamedTuple):
    """The end of one execution: its status, reason code, message and error text."""

    status: OutcomeStatus
    reason: str
    message: str
    error: str | None


def settle(
    plan: _Decided, failure: str | None, details: Sequence[str], messages: Mapping[str, str]
) -> Settled:
    """How an execution ended: its first failure (``messages`` gives the failure's sentence)
    wins over the plan's own error; a plan without failure is ``skipped`` or ``success``.

    An error's text is the failures' details, else the plan's validation errors, else the
    message.
    """
    if failure is not None:
        status: OutcomeStatus = "error"
        reason, message = failure, messages[failure]
    elif plan.action is Action.ERROR:
        status, reason, message = "error", plan.reason, plan.message
    else:
        status = "skipped" if plan.action is Action.SKIP else "success"
        reason, message = plan.reason, plan.message
    error = None
    if status == "error":
        error = "; ".join(details or plan.errors) or message
    return Settled(status, reason, message, error)


@attrs.frozen
class Prepared(Generic[_Plan, _Outcome]):
    """The plans of a sync (of users or of accounts) and the outcomes already known
    (malformed or unplannable messages)."""

    plans: list[_Plan]
    #: Outcomes known before any call, keyed by input position, to keep input order.
    early: dict[int, _Outcome]
    #: The input position of each plan.
    positions: list[int]


def prepare_in_order(
    messages: Iterable[_Kind | Mapping[str, Any]],
    kind: type[_Kind],
    *,
    malformed: Callable[[object, ValidationError], _Outcome],
    known_malformed: Iterable[_Outcome],
    key: Callable[[_Kind], str],
    deduplicate: Callable[[Iterable[_Kind]], Iterable[_Kind]],
    plan: Callable[[_Kind, datetime], _Plan],
    failed: Callable[[_Kind, Exception], _Outcome],
) -> Prepared[_Plan, _Outcome]:
    """Parse raw messages, de-duplicate, plan each one; nothing raises for one message.

    A message that is not of type ``kind`` is parsed with ``kind.from_dict`` (its position is
    the message's ``index``); one that cannot be gets ``malformed`` (raw message, error) as its
    outcome. The outcomes of the messages the notification already found malformed
    (``known_malformed``) come after the others. Messages of the same ``key`` are merged by
    ``deduplicate`` and keep the position of the first. ``plan`` decides for one message; when
    it raises (a bug), ``failed`` gives the message's outcome, so a bug costs one message, not
    the sync.
    """
    early: dict[int, _Outcome] = {}
    parsed: list[tuple[int, _Kind]] = []
    for position, message in enumerate(messages):
        if isinstance(message, kind):
            parsed.append((position, message))
            continue
        try:
            parsed.append((position, kind.from_dict(message, index=position)))  # type: ignore[arg-type]
        except ValidationError as exc:
            early[position] = malformed(message, exc)
    offset = len(early) + len(parsed)
    for number, outcome in enumerate(known_malformed):
        early[offset + number] = outcome

    first_position: dict[str, int] = {}
    for position, message in parsed:
        first_position.setdefault(key(message), position)
    plans: list[_Plan] = []
    positions: list[int] = []
    now = utc_now()
    for message in deduplicate(message for _, message in parsed):
        position = first_position[key(message)]
        try:
            plans.append(plan(message, now))
            positions.append(position)
        except Exception as exc:  # a bug must cost one message, not the batch
            early[position] = failed(message, exc)
    return Prepared(plans, early, positions)


def message_id(raw: object, record: str) -> str | None:
    """The id a raw message gives its ``record`` (``"user"`` or ``"account"``), when it is a
    string: what names the outcome of a message too malformed to parse."""
    if isinstance(raw, Mapping):
        found = raw.get(record)
        if isinstance(found, Mapping) and isinstance(found.get("id"), str):
            return str(found["id"])
    return None


def finish_in_order(
    prepared: Prepared[Any, _Outcome],
    executions: Sequence[_Execution],
    *,
    outcome: Callable[[_Execution], _Outcome],
    log: Callable[[_Outcome, LogContext | None], object],
    record: Callable[[Metrics, _Execution], object],
    context: LogContext | None,
    metrics: Metrics | None,
) -> list[_Outcome]:
    """Every outcome of a sync in input order (the ``prepared`` ones known early, and each
    execution's at its plan's position), each logged; what was sent counted when ``metrics``
    is given."""
    by_position = dict(prepared.early)
    for position, execution in zip(prepared.positions, executions, strict=True):
        by_position[position] = outcome(execution)
    outcomes = [by_position[p] for p in sorted(by_position)]
    for one in outcomes:
        log(one, context)
    if metrics is not None:
        for execution in executions:
            record(metrics, execution)
    return outcomes
