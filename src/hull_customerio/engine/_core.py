"""The engine's logic, shared by [`Connector`][hull_customerio.Connector] and
[`AsyncConnector`][hull_customerio.AsyncConnector].

Each user's execution is a generator that *yields* the steps to perform (a Customer.io call,
a Hull write-back) and receives each step's result. The sync and async connectors only run
steps; what to do, in which order, and what the results mean lives here, once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator, Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs

from .._time import utc_now
from ..customerio._base import MAX_BATCH_OPERATION_BYTES, EncodedOperation, dumps
from ..customerio.operations import AnonymousTrack, Delete, Identify, Operation, Page, Track
from ..errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    DeliveryError,
    HullCustomerIOError,
    RateLimiterUnavailableError,
    ValidationError,
    WebhookPayloadError,
    WebhookVerificationError,
    safe_service_text,
)
from ..hull import DeliveryTicket, HullFailureKind, hull_failure_kind
from ..hull.flow_control import flow_control_next, flow_control_retry
from ..metrics import INCOMING_EVENTS, OUTGOING_EVENTS, OUTGOING_USERS, Metrics, NullMetrics
from ..models.customerio import BatchResult
from ..models.hull import MalformedMessage, Notification, UserUpdateMessage, parse_notification
from ..models.plan import Action, OutgoingEvent, UserPlan
from ..models.report import OutcomeStatus, Status, SyncReport, UserOutcome, WebhookOutcome
from ..models.webhook import IncomingEvent
from ..rules.dedupe import deduplicate_messages
from ..rules.plan import plan_user_update
from ..rules.signature import verify_webhook_request
from ..rules.webhooks import parse_webhook
from ..settings import Settings

__all__ = [
    "BatchRound",
    "Execution",
    "HullTraits",
    "LogContext",
    "Mode",
    "Step",
    "batch_operations",
    "batch_results",
    "batch_steps",
    "check_status_messages",
    "flow_control_for",
    "log_event",
    "logger",
    "prepare",
    "record_webhook",
    "user_calls",
    "v1_steps",
    "write_back_steps",
]

logger = logging.getLogger("hull_customerio")
# A library must not print through logging's last-resort handler when the app configured none.
logger.addHandler(logging.NullHandler())

Mode = Literal["v1", "batch"]
_MODES: tuple[Mode, ...] = ("v1", "batch")

FAILURE_MESSAGES: Mapping[str, str] = {
    "identify_failed": "Customer.io did not accept the person; nothing else was sent for them.",
    "delete_failed": "Customer.io did not delete the person.",
    "event_failed": "Customer.io did not accept some of the user's events.",
    "writeback_failed": "Customer.io is up to date but Hull did not receive the sync state.",
    "writeback_rejected": "Customer.io is up to date but Hull refused the sync state; "
    "sending it again as it is cannot help.",
    "customerio_unavailable": "Customer.io could not be reached, so this user was not sent; "
    "the notification is answered retry.",
    "rate_limiter_unavailable": "The shared rate limiter (Redis) could not be reached, so "
    "nothing was sent to Customer.io for this user (or, when it failed part-way, the rest of "
    "their events); the notification is answered retry.",
    "malformed_message": "The message is malformed and cannot be synchronized.",
    "internal_error": "An unexpected error stopped this user; the others went on.",
    "credentials_mismatch": (
        "The notification's settings name another Customer.io workspace than the connector's "
        "client; nothing was sent."
    ),
}


def check_mode(mode: str) -> Mode:
    """``mode`` as a `Mode`, or a
    [`ConfigurationError`][hull_customerio.errors.ConfigurationError]."""
    for known in _MODES:
        if mode == known:
            return known
    raise ConfigurationError([f"mode must be 'v1' or 'batch', got {mode!r}"])


# --------------------------------------------------------------------------------------------
# Steps: what the drivers perform.


@attrs.frozen
class HullTraits:
    """Queue a traits message on the Hull client; the result is its ``requestId``."""

    claims: Mapping[str, str]
    traits: Mapping[str, Any]


#: A step: a Customer.io operation for the client to send (see `customerio.operations`), or a
#: Hull write-back.
Step = Operation | HullTraits
#: A step's result: the exception on failure; else ``None`` (a Customer.io call, or no Hull
#: client to write back to) or the write-back's ``requestId``.
StepResult = str | None | HullCustomerIOError


@attrs.define
class Execution:
    """The mutable record of one user's execution, frozen into a
    [`UserOutcome`][hull_customerio.UserOutcome] at the end."""

    plan: UserPlan
    calls: list[str] = attrs.field(factory=list)
    events_sent: list[OutgoingEvent] = attrs.field(factory=list)
    events_skipped: list[tuple[str, str]] = attrs.field(factory=list)
    failure: str | None = None
    exception: HullCustomerIOError | None = None
    details: list[str] = attrs.field(factory=list)
    request_id: str | None = None
    #: Customer.io accepted every identify chunk, or the deletion.
    person_sent: bool = False
    #: An identify chunk or the deletion failed (or was never sent): no write-back.
    person_failed: bool = False
    #: Events Customer.io was asked for and did not accept.
    events_failed: list[OutgoingEvent] = attrs.field(factory=list)

    def fail(self, code: str, exc: HullCustomerIOError | None, detail: str) -> None:
        # The first failure names the outcome; later ones add detail.
        if self.failure is None:
            self.failure, self.exception = code, exc
        self.details.append(detail)

    def outcome(self) -> UserOutcome:
        plan = self.plan
        skipped = list(plan.skipped_events) + self.events_skipped
        if self.failure is not None:
            status: OutcomeStatus = "error"
            reason, message = self.failure, FAILURE_MESSAGES[self.failure]
        elif plan.action is Action.ERROR:
            status, reason, message = "error", plan.reason, plan.message
        else:
            status = "skipped" if plan.action is Action.SKIP else "success"
            reason, message = plan.reason, plan.message
        error = None
        if status == "error":
            error = "; ".join(self.details or plan.errors) or message
        return UserOutcome(
            user_id=plan.user_id,
            customer_id=plan.customer_id,
            action=plan.action,
            status=status,
            reason=reason,
            message=message,
            calls=list(self.calls),
            events_sent=list(self.events_sent),
            events_skipped=skipped,
            error=error,
            exception=self.exception,
            plan=plan,
        )


def event_operation_of(event: OutgoingEvent, customer_id: str | None) -> Operation:
    """The Customer.io operation sending a planned event: a `Track`, a `Page` or an
    `AnonymousTrack` (by ``event.kind``)."""
    # The identifiers are checked when the operation is sent, as a client call checks them.
    if event.kind == "anonymous":
        return AnonymousTrack(
            event.anonymous_id,  # type: ignore[arg-type]  # set for every anonymous event
            event.name,
            event.data,
            type=event.type,
            timestamp=event.timestamp,
            id=event.id,
        )
    person: str = customer_id  # type: ignore[assignment]  # set when there are person events
    if event.kind == "page":
        return Page(person, event.name, event.data, timestamp=event.timestamp, id=event.id)
    return Track(person, event.name, event.data, timestamp=event.timestamp, id=event.id)


def _describe(exc: HullCustomerIOError) -> str:
    return str(exc)


def _failure_code(code: str, exc: HullCustomerIOError | None) -> str:
    """``code``, unless the call was never sent because the shared rate limiter was out of
    reach: then ``rate_limiter_unavailable``, whatever the call was."""
    return "rate_limiter_unavailable" if isinstance(exc, RateLimiterUnavailableError) else code


def user_calls(
    plan: UserPlan, execution: Execution | None = None
) -> Generator[list[Operation], list[StepResult], Execution]:
    """One user's Customer.io calls, in rounds, and what their results mean.

    Yields groups of calls and receives their results, in the same order. A group's calls
    may be sent together (batch mode) because none depends on another; a later group is only
    asked for once the earlier one is answered. The groups: each identify chunk on its own, in
    order, stopping at the first refused one (the user's events are then skipped with
    ``identify_failed``); or the deletion; then every event of the user. Both modes run this
    one sequence, so they reach the same outcome for the same answers.

    ``execution`` is the record to fill (a new one by default), for a caller that reads it
    while the calls run (see `batch_steps`).
    """
    if execution is None:
        execution = Execution(plan)
    if plan.action is Action.IDENTIFY:
        for chunk in plan.chunks:
            (result,) = yield [Identify(plan.customer_id, chunk)]  # type: ignore[arg-type]
            execution.calls.append("identify")
            if isinstance(result, HullCustomerIOError):
                code = _failure_code("identify_failed", result)
                execution.person_failed = True
                execution.fail(code, result, _describe(result))
                execution.events_skipped += [(e.name, code) for e in plan.events]
                return execution
        execution.person_sent = bool(plan.chunks)
    elif plan.action is Action.DELETE:
        (result,) = yield [Delete(plan.customer_id)]  # type: ignore[arg-type]
        execution.calls.append("delete")
        if isinstance(result, HullCustomerIOError):
            execution.person_failed = True
            execution.fail(_failure_code("delete_failed", result), result, _describe(result))
            return execution
        execution.person_sent = True
    if plan.events:
        results = yield [event_operation_of(event, plan.customer_id) for event in plan.events]
        for event, result in zip(plan.events, results, strict=True):
            execution.calls.append(event.kind)
            error = result if isinstance(result, HullCustomerIOError) else None
            _record_event(execution, event, error)
    return execution


def v1_steps(plan: UserPlan) -> Generator[Step, StepResult, Execution]:
    """One user, one Customer.io call at a time: identify chunks in order, then events."""
    rounds = user_calls(plan)
    results: list[StepResult] | None = None
    while True:
        try:
            group = rounds.send(results)  # type: ignore[arg-type]  # None primes it
        except StopIteration as stop:
            execution: Execution = stop.value
            break
        results = []
        for call in group:
            results.append((yield call))
    yield from write_back_steps(execution)
    return execution


def write_back_steps(execution: Execution) -> Generator[Step, StepResult, Execution]:
    """After the Customer.io calls: write the sync state back to Hull (see `writes_back`)."""
    yield from _write_back(execution)
    return execution


def _record_event(
    execution: Execution, event: OutgoingEvent, error: HullCustomerIOError | None
) -> None:
    if error is None:
        execution.events_sent.append(event)
        return
    code = _failure_code("event_failed", error)
    execution.events_skipped.append((event.name, _failure_code("send_failed", error)))
    execution.events_failed.append(event)
    execution.fail(code, error, f"event {event.name!r}: {_describe(error)}")


def writes_back(execution: Execution) -> bool:
    """Whether the user's sync state is written back to Hull, once the person calls are done.

    Not for an error plan nor a plan without traits, nor when the identify or the deletion
    failed or was not sent; whatever happens to the events afterwards does not change it.
    """
    return (
        execution.plan.action is not Action.ERROR
        and execution.plan.traits is not None
        and not execution.person_failed
    )


def write_back_step(plan: UserPlan) -> HullTraits:
    """The Hull write-back of a plan that has traits."""
    assert plan.traits is not None  # noqa: S101  # callers check writes_back first
    return HullTraits(plan.hull_claims, plan.traits)


def settle_write_back(execution: Execution, result: StepResult) -> Execution:
    """Record a write-back that was queued ahead (see `BatchRound.settled`), as
    `write_back_steps` records it when it performs the write-back itself."""
    steps = write_back_steps(execution)
    try:
        next(steps)
        steps.send(result)
    except StopIteration as stop:
        finished: Execution = stop.value
        return finished
    raise RuntimeError("a write-back is one step")  # pragma: no cover - a bug


def _write_back(execution: Execution) -> Generator[Step, StepResult, None]:
    plan = execution.plan
    if not writes_back(execution):
        return
    result = yield write_back_step(plan)
    if result is None:  # the connector has no Hull client: nothing to write back to
        return
    execution.calls.append("hull_traits")
    if isinstance(result, HullCustomerIOError):
        execution.fail("writeback_failed", result, f"Hull write-back: {_describe(result)}")
    else:
        execution.request_id = result


# --------------------------------------------------------------------------------------------
# Batch mode: the same rounds as v1 (user_calls), each round's operations of every user sent
# together through v2 batch requests.

#: The operations about the person itself; events follow them.
_PERSON_OPERATIONS = (Identify, Delete)


@attrs.frozen
class BatchRound:
    """One round of batch mode: what to send now, for every user still waiting.

    Attributes:
        operations: v2 operations for one ``batch()`` call (may be empty).
        owners: for each operation, ``(user, position)``: the user's index and the position
            of the call in that user's group.
        calls: calls that go through their v1 endpoint instead (anonymous events and
            operations larger than a v2 batch accepts), as ``(user, position, call)``, each
            user's in order.
    """

    operations: list[dict[str, Any]]
    owners: list[tuple[int, int]]
    calls: list[tuple[int, int, Operation]]
    #: Users whose person calls (identify chunks or deletion) the answers to the rounds so far
    #: settled, and who will be written back to Hull (`writes_back`): what is written does not
    #: depend on their events, so the write-back may be queued now, while this round is sent.
    #: Record its result with `settle_write_back` once the user's execution is done.
    settled: list[int] = attrs.field(factory=list)


def _as_operation(call: Operation) -> dict[str, Any] | None:
    """The v2 form of ``call``, or ``None`` when it must go through its v1 endpoint."""
    if not call.batchable:
        return None
    operation = call.v2_operation()
    try:
        encoded = dumps(operation)
    except (TypeError, ValueError):
        return operation  # the batch planner reports it as an operation it cannot encode
    # Larger than one v2 operation may be: the equivalent v1 call accepts it (up to the event
    # and attribute limits checked in the plan), so batch mode accepts what v1 mode accepts.
    if len(encoded) > MAX_BATCH_OPERATION_BYTES:
        return None
    return EncodedOperation(operation, encoded)  # measured once, not encoded again to send


def batch_operations(groups: Mapping[int, Sequence[Operation]]) -> BatchRound:
    """The round that sends every waiting user's group of calls (``groups`` by user index)."""
    operations: list[dict[str, Any]] = []
    owners: list[tuple[int, int]] = []
    calls: list[tuple[int, int, Operation]] = []
    for user in sorted(groups):
        for position, call in enumerate(groups[user]):
            operation = _as_operation(call)
            if operation is None:
                calls.append((user, position, call))
            else:
                operations.append(operation)
                owners.append((user, position))
    return BatchRound(operations, owners, calls)


def batch_results(
    round_: BatchRound,
    result: BatchResult | None,
    call_results: Sequence[StepResult],
) -> dict[int, dict[int, StepResult]]:
    """Each user's results of a round, by position in its group.

    ``result`` is what ``batch(round_.operations)`` gave (``None`` when there were none);
    ``call_results[n]`` is the result of ``round_.calls[n]``. A v2 operation Customer.io
    refused (a ``207`` entry, a failed request, an oversized or unencodable operation) gets a
    `BatchOperationError` or the request's own error.
    """
    per_user: dict[int, dict[int, StepResult]] = {}
    for index, (user, position) in enumerate(round_.owners):
        failure = result.errors.get(index) if result is not None else None
        error: HullCustomerIOError | None = None
        if failure is not None:
            error = failure.exception or BatchOperationError(
                f"Customer.io rejected the operation: {failure.message or failure.reason}"
                + (f" (field {failure.field})" if failure.field else "")
            )
        per_user.setdefault(user, {})[position] = error
    for (user, position, _), outcome in zip(round_.calls, call_results, strict=True):
        per_user.setdefault(user, {})[position] = outcome
    return per_user


def batch_steps(
    plans: Sequence[UserPlan], context: LogContext | None = None
) -> Generator[BatchRound, dict[int, dict[int, StepResult]], list[Execution]]:
    """Every user's Customer.io calls (see `user_calls`), round after round.

    Yields a `BatchRound` per round and receives `batch_results` of it. Round 1
    carries every user's first identify chunk or deletion; the next rounds the further chunks
    of the users whose earlier chunks were accepted, then the events of the users whose
    operations Customer.io accepted. Returns each user's execution, in ``plans`` order,
    before the Hull write-back (`write_back_steps`).
    """
    executions: dict[int, Execution] = {}
    running: dict[int, Generator[list[Operation], list[StepResult], Execution]] = {}
    waiting: dict[int, list[Operation]] = {}
    records: dict[int, Execution] = {}
    settled: list[int] = []  # since the last round (see BatchRound.settled)

    def advance(user: int, results: list[StepResult] | None) -> None:
        try:
            group = running[user].send(results)  # type: ignore[arg-type]
        except StopIteration as stop:
            executions[user] = stop.value
            del running[user]
            waiting.pop(user, None)
            person_done = True
        except Exception as exc:  # a bug must cost one user, not the batch
            executions[user] = internal_error(Execution(plans[user]), exc, context)
            del running[user]
            waiting.pop(user, None)
            return
        else:
            waiting[user] = group
            person_done = not isinstance(group[0], _PERSON_OPERATIONS)
        if person_done and user not in done_persons:
            done_persons.add(user)
            if writes_back(records[user]):
                settled.append(user)

    done_persons: set[int] = set()
    for user, plan in enumerate(plans):
        records[user] = Execution(plan)
        running[user] = user_calls(plan, records[user])
        advance(user, None)
    while waiting:
        round_ = batch_operations(waiting)
        round_.settled.extend(settled)
        settled.clear()
        answers = yield round_
        for user in list(waiting):
            group = waiting[user]
            got = answers.get(user, {})
            advance(user, [got.get(position) for position in range(len(group))])
    # Users settled by the last answers had no round left to overlap: they are written back
    # with everyone else, by write_back_steps.
    return [executions[user] for user in range(len(plans))]


class BatchOperationError(HullCustomerIOError):
    """Customer.io refused one operation of a v2 batch (a ``207`` entry or an oversized op)."""


# --------------------------------------------------------------------------------------------
# Preparing a sync: parse, de-duplicate, plan.


@attrs.frozen
class Prepared:
    """The plans of a sync and the outcomes already known (malformed or unplannable users)."""

    plans: list[UserPlan]
    #: Outcomes known before any call, keyed by input position, to keep input order.
    early: dict[int, UserOutcome]
    #: The input position of each plan.
    positions: list[int]


def prepare(
    messages: Iterable[UserUpdateMessage | Mapping[str, Any]],
    settings: Settings,
    *,
    batch: bool,
    malformed: Iterable[MalformedMessage] = (),
    context: LogContext | None = None,
) -> Prepared:
    """Parse raw messages, de-duplicate, plan every user; nothing raises for one bad user.

    ``context`` names the notification being processed, for the log records.
    """
    early: dict[int, UserOutcome] = {}
    parsed: list[tuple[int, UserUpdateMessage]] = []
    for position, message in enumerate(messages):
        if isinstance(message, UserUpdateMessage):
            parsed.append((position, message))
            continue
        try:
            parsed.append((position, UserUpdateMessage.from_dict(message, index=position)))
        except ValidationError as exc:
            early[position] = malformed_outcome(_user_id_of(message), exc)
    offset = len(early) + len(parsed)
    for number, bad in enumerate(malformed):
        early[offset + number] = malformed_outcome(bad.user_id, bad.error)

    first_position: dict[str, int] = {}
    for position, message in parsed:
        first_position.setdefault(message.user.id, position)
    plans: list[UserPlan] = []
    positions: list[int] = []
    now = utc_now()
    for message in deduplicate_messages(message for _, message in parsed):
        position = first_position[message.user.id]
        try:
            plans.append(plan_user_update(message, settings, batch=batch, now=now))
            positions.append(position)
        except Exception as exc:  # a bug must cost one user, not the batch
            log_event(
                logging.ERROR,
                "outgoing.user.error",
                context,
                exc_info=exc,
                user_id=message.user.id,
                reason="internal_error",
            )
            early[position] = _internal_error_outcome(message.user.id, exc)
    return Prepared(plans, early, positions)


def _user_id_of(raw: object) -> str | None:
    if isinstance(raw, Mapping):
        user = raw.get("user")
        if isinstance(user, Mapping) and isinstance(user.get("id"), str):
            return str(user["id"])
    return None


def malformed_outcome(user_id: str | None, error: ValidationError) -> UserOutcome:
    """The error outcome of a message that could not be parsed."""
    return UserOutcome(
        user_id=user_id,
        customer_id=None,
        action=Action.ERROR,
        status="error",
        reason="malformed_message",
        message=FAILURE_MESSAGES["malformed_message"],
        error=str(error),
        exception=error,
    )


def credentials_mismatch_report(
    notification: Notification, detail: str, context: LogContext | None = None
) -> SyncReport:
    """Every user of ``notification`` in error with ``credentials_mismatch``; nothing sent.

    Malformed messages keep their ``malformed_message`` outcome; duplicates of a user are
    merged first, so each user has exactly one outcome.
    """
    outcomes = [
        UserOutcome(
            user_id=message.user.id,
            customer_id=None,
            action=Action.ERROR,
            status="error",
            reason="credentials_mismatch",
            message=FAILURE_MESSAGES["credentials_mismatch"],
            error=detail,
        )
        for message in deduplicate_messages(notification.messages)
    ]
    outcomes += [malformed_outcome(bad.user_id, bad.error) for bad in notification.malformed]
    for outcome in outcomes:
        log_outcome(outcome, context)
    return SyncReport(outcomes=outcomes)


def _internal_error_outcome(user_id: str, exc: Exception) -> UserOutcome:
    return UserOutcome(
        user_id=user_id,
        customer_id=None,
        action=Action.ERROR,
        status="error",
        reason="internal_error",
        message=FAILURE_MESSAGES["internal_error"],
        error=_short_error(exc),
    )


def _short_error(exc: Exception) -> str:
    # An unexpected exception may quote a huge or personal value: keep the outcome text short.
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _ERROR_TEXT_LIMIT else text[: _ERROR_TEXT_LIMIT - 3] + "..."


_ERROR_TEXT_LIMIT = 300


def internal_error(
    execution: Execution, exc: Exception, context: LogContext | None = None
) -> Execution:
    """Record an unexpected exception on ``execution`` (a bug must cost one user, not all)."""
    log_event(
        logging.ERROR,
        "outgoing.user.error",
        context,
        exc_info=exc,
        user_id=execution.plan.user_id,
        customer_id=execution.plan.customer_id,
        reason="internal_error",
    )
    execution.failure = "internal_error"
    execution.details.append(_short_error(exc))
    return execution


def apply_delivery(executions: Iterable[Execution], ticket: DeliveryTicket) -> None:
    """Mark the users whose Hull write-back failed, from their call's own delivery ticket.

    A write-back Hull refused for good (a 4xx other than 401, 403, 408 and 429) makes the user
    ``writeback_rejected``, which does not ask Hull to send the notification again; any other
    failure (Hull unreachable, rate limited, 5xx, wrong credentials) is ``writeback_failed``
    and asks for a retry. Only this call's messages are in ``ticket``.
    """
    for execution in executions:
        if execution.request_id is None:
            continue
        error = ticket.undelivered(execution.request_id)
        if error is None:
            continue
        refused = isinstance(error.__cause__, APIError) and (
            hull_failure_kind(error.__cause__) == "refused"
        )
        code = "writeback_rejected" if refused else "writeback_failed"
        execution.fail(code, error, f"Hull write-back: {error}")


#: How many users of one notification must fail because Customer.io cannot be reached (no
#: connection, no DNS answer) before the rest of that notification is not sent at all.
CUSTOMERIO_UNAVAILABLE_AFTER = 2


def customerio_unreachable(exc: BaseException | None) -> bool:
    """Whether ``exc`` says Customer.io could not be reached (refused, DNS), not merely slow."""
    return (
        isinstance(exc, APIConnectionError)
        and not isinstance(exc, APITimeoutError)
        and exc.service == "customerio"
    )


class Unreachable:
    """Counts, over one sync, the users who failed because Customer.io could not be reached.

    Once ``threshold`` users did, the sync stops sending: each user not started yet ends in
    ``customerio_unavailable`` (a transient failure, so the notification is answered
    ``retry``) instead of waiting through its own retries. A shared rate limiter out of reach
    counts the same way, and those users end in ``rate_limiter_unavailable``.
    """

    def __init__(self, threshold: int = CUSTOMERIO_UNAVAILABLE_AFTER) -> None:
        self.threshold = threshold
        self.failures = 0
        self.error: APIConnectionError | None = None

    @property
    def tripped(self) -> bool:
        """Whether enough users failed to stop sending the rest."""
        return self.failures >= self.threshold

    def note(self, execution: Execution) -> Execution:
        """Count ``execution`` if Customer.io was unreachable for it; returns it unchanged."""
        if customerio_unreachable(execution.exception):
            assert isinstance(execution.exception, APIConnectionError)  # noqa: S101 -- narrowing
            self.failures += 1
            self.error = execution.exception
        return execution

    def skip(self, plan: UserPlan) -> Execution:
        """The execution of a user not sent because Customer.io is unreachable."""
        execution = Execution(plan)
        detail = f"not sent: {self.error}" if self.error is not None else "not sent"
        code = _failure_code("customerio_unavailable", self.error)
        execution.fail(code, self.error, detail)
        execution.events_skipped += [(e.name, code) for e in plan.events]
        return execution


def mark_unreachable(executions: Iterable[Execution]) -> None:
    """Batch mode: users whose operations failed because Customer.io could not be reached
    are ``customerio_unavailable`` (their whole request failed, or was not sent)."""
    for execution in executions:
        if execution.failure in {"identify_failed", "delete_failed", "event_failed"} and (
            customerio_unreachable(execution.exception)
        ):
            execution.failure = "customerio_unavailable"


def finish(
    prepared: Prepared,
    executions: Sequence[Execution],
    *,
    context: LogContext | None = None,
    metrics: Metrics | None = None,
) -> SyncReport:
    """Assemble the report in input order, log every outcome and count what was sent."""
    by_position = dict(prepared.early)
    for position, execution in zip(prepared.positions, executions, strict=True):
        by_position[position] = execution.outcome()
    outcomes = [by_position[p] for p in sorted(by_position)]
    for outcome in outcomes:
        log_outcome(outcome, context)
    if metrics is not None:
        for execution in executions:
            record_execution(metrics, execution)
    return SyncReport(outcomes=outcomes)


# --------------------------------------------------------------------------------------------
# Metrics: what the engine counts (the clients count their own requests).

_PERSON_ACTIONS: Mapping[Action, str] = {Action.IDENTIFY: "identify", Action.DELETE: "delete"}


def record_execution(metrics: Metrics, execution: Execution) -> None:
    """Count one user's Customer.io outcome.

    ``ship.outgoing.users`` once when the plan was an identify or a delete: ``success`` when
    Customer.io accepted every identify chunk (or the deletion), else ``error`` (also when
    the user was not sent because Customer.io was unreachable). ``ship.outgoing.events`` once
    per event Customer.io was asked for, ``success`` or ``error``; events never sent (the
    identify failed, Customer.io unreachable) are not counted.
    """
    if isinstance(metrics, NullMetrics):
        return
    plan = execution.plan
    action = _PERSON_ACTIONS.get(plan.action)
    if action is not None and (plan.action is Action.DELETE or plan.chunks):
        status = "success" if execution.person_sent else "error"
        metrics.increment(OUTGOING_USERS, tags={"action": action, "status": status})
    for event in execution.events_sent:
        metrics.increment(OUTGOING_EVENTS, tags={"kind": event.kind, "status": "success"})
    for event in execution.events_failed:
        metrics.increment(OUTGOING_EVENTS, tags={"kind": event.kind, "status": "error"})


def record_webhook(metrics: Metrics, outcome: WebhookOutcome) -> WebhookOutcome:
    """Count one webhook's answer as ``ship.incoming.events``; returns ``outcome``."""
    metrics.increment(
        INCOMING_EVENTS,
        tags={"status": str(outcome.http_status), "reason": outcome.reason or "forwarded"},
    )
    return outcome


# --------------------------------------------------------------------------------------------
# Logging: the event name starts a readable message of ids and reason codes; the
# same data is in the record's `extra`. Never secrets, emails or attribute values.


@attrs.frozen
class LogContext:
    """What every log record of one notification's processing carries.

    Attributes:
        notification_id: Hull's id of the notification.
        organization: the Hull organization it came from.
    """

    notification_id: str | None = None
    organization: str | None = None

    @classmethod
    def of(cls, notification: Notification) -> LogContext:
        """The context of a parsed notification."""
        configuration = notification.configuration
        return cls(
            notification_id=notification.notification_id,
            organization=configuration.organization if configuration is not None else None,
        )


#: The fields shown in a log message, in order, with their label.
_SHOWN: tuple[tuple[str, str], ...] = (
    ("user_id", "user"),
    ("customer_id", "customer_id"),
    ("event_name", "event"),
    ("event_kind", "kind"),
    ("event_id", "event_id"),
    ("reason", "reason"),
    ("channel", "channel"),
    ("connector_id", "connector"),
    ("notification_id", "notification"),
    ("organization", "organization"),
)
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:@/+")


def _shown(value: object) -> str:
    text = str(value)
    # Anything that could be mistaken for another field or line is quoted (log injection).
    return text if text and set(text) <= _PLAIN else repr(text)


def log_event(
    level: int,
    name: str,
    context: LogContext | None = None,
    *,
    exc_info: BaseException | None = None,
    **fields: Any,
) -> None:
    """Log one event: ``name key=value ...`` with ids and reason codes, the same in ``extra``.

    ``extra`` also holds ``hull_event`` (``name``) and every field. ``None`` values are left out
    of the message but kept in ``extra``. A warning or an error says why in the line itself:
    its ``reason`` code and, as ``cause=``, the ``error`` text — emails masked, cut to 300
    characters — so that a line read alone (or by a formatter that drops ``extra``) explains
    itself.
    """
    if not logger.isEnabledFor(level):
        return
    if context is not None:
        fields.setdefault("notification_id", context.notification_id)
        fields.setdefault("organization", context.organization)
    parts = [name]
    args: list[str] = []
    for key, label in _SHOWN:
        value = fields.get(key)
        if value is not None:
            parts.append(f"{label}=%s")
            args.append(_shown(value))
    cause = fields.get("error")
    if level >= logging.WARNING and cause is not None:
        parts.append("cause=%s")
        args.append(repr(safe_service_text(str(cause))))
    logger.log(
        level, " ".join(parts), *args, exc_info=exc_info, extra={"hull_event": name, **fields}
    )


def log_outcome(outcome: UserOutcome, context: LogContext | None = None) -> None:
    """Log one user's outcome and the fate of its events."""
    base: dict[str, Any] = {"user_id": outcome.user_id, "customer_id": outcome.customer_id}
    if outcome.status == "error":
        name, level = "outgoing.user.error", logging.ERROR
    elif outcome.status == "skipped":
        name, level = "outgoing.user.skip", logging.INFO
    elif outcome.action is Action.DELETE:
        name, level = "outgoing.user.deletion", logging.INFO
    else:
        name, level = "outgoing.user.success", logging.INFO
    log_event(level, name, context, **base, reason=outcome.reason, error=outcome.error)
    for event in outcome.events_sent:
        log_event(
            logging.INFO, "outgoing.event.success", context, **base,
            event_name=event.name, event_kind=event.kind, event_id=event.id,
        )  # fmt: skip
    for event_name, reason in outcome.events_skipped:
        failed = reason == "send_failed"
        log_event(
            logging.ERROR if failed else logging.INFO,
            "outgoing.event.error" if failed else "outgoing.event.skip",
            context, **base, event_name=event_name, reason=reason,
            error=(outcome.error or "the event was not sent") if failed else None,
        )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Notifications and webhooks.

_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 522, 524})


def is_transient(exc: BaseException | None) -> bool:
    """Whether a failure may go away if the same work is tried again later.

    Hull refusing the connector's credentials (401, 403) counts: it is a configuration
    problem, and the data must be kept (sent again) until it is fixed.
    """
    if isinstance(exc, DeliveryError):
        return exc.__cause__ is None or is_transient(exc.__cause__)
    if isinstance(exc, APIConnectionError):
        return True
    if isinstance(exc, APIStatusError):
        if exc.service == "hull" and hull_failure_kind(exc) == "credentials":
            return True
        return exc.status_code in _TRANSIENT_STATUSES or exc.status_code >= 500
    return False


def read_notification(
    payload: Mapping[str, Any], context: LogContext | None = None
) -> Notification | None:
    """The parsed notification, or ``None`` (logged) when it can never succeed."""
    try:
        return parse_notification(payload)
    except (ValidationError, ConfigurationError) as exc:
        log_event(
            logging.ERROR, "outgoing.user.error", context,
            reason="invalid_notification", error=str(exc),
        )  # fmt: skip
        return None


def flow_control_for(report: SyncReport) -> dict[str, Any]:
    """``retry`` when a user failed for a transient reason (Hull re-sends), else ``next``."""
    if any(o.status == "error" and is_transient(o.exception) for o in report.outcomes):
        return dict(flow_control_retry())
    return dict(flow_control_next())


def read_webhook(
    body: bytes, headers: Mapping[str, str], settings: Settings
) -> IncomingEvent | WebhookOutcome:
    """Verify and parse a webhook: the event to forward, or the outcome that ends it."""
    try:
        verify_webhook_request(body, headers, signing_key=settings.webhook_signing_key)
    except WebhookVerificationError as exc:
        return _webhook_outcome(401, exc.reason, str(exc))
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, absurdly deep or long numbers
        return _webhook_outcome(200, "invalid_payload", "The webhook body is not usable JSON.")
    try:
        return parse_webhook(payload, settings)
    except WebhookPayloadError as exc:
        return _webhook_outcome(200, exc.reason, str(exc))


#: Default ``webhook_timeout``: seconds a webhook waits for Hull before answering 503
#: (Customer.io gives up on a webhook after about 4 seconds).
DEFAULT_WEBHOOK_TIMEOUT = 3.0

_HULL_WEBHOOK_ANSWERS: Mapping[HullFailureKind, tuple[int, str, str]] = {
    # Hull will never take this event; answering 5xx would hold back every later webhook.
    "refused": (200, "hull_rejected", "Hull rejected the event"),
    "credentials": (503, "hull_unauthorized", "Hull refused the connector's credentials"),
    "transient": (503, "hull_unavailable", "Hull could not be reached"),
}


def check_webhook_timeout(value: float | None) -> float | None:
    """``value`` if it is a positive number of seconds (or ``None``), else a ConfigurationError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError([f"webhook_timeout must be a positive number, got {value!r}"])
    return float(value)


def webhook_answer(
    event: IncomingEvent, ticket: DeliveryTicket, request_id: str, *, settled: bool
) -> WebhookOutcome:
    """The outcome of a forwarded webhook from its own delivery ticket.

    ``settled`` is ``False`` when the time budget ran out before Hull answered: 503, so
    Customer.io delivers it again (the fixed ``event_id`` makes that harmless).
    """
    if not settled:
        return webhook_delivered(event, None, timed_out=True)
    return webhook_delivered(event, ticket.error_for(request_id))


def webhook_delivered(
    event: IncomingEvent, error: HullCustomerIOError | None, *, timed_out: bool = False
) -> WebhookOutcome:
    """The outcome once Hull answered (``error`` is ``None`` when it accepted the event)."""
    if timed_out:
        outcome = _webhook_outcome(
            503, "hull_timeout", "Hull did not confirm the event in time.", event
        )
    elif error is None:
        outcome = WebhookOutcome(
            http_status=200, reason=None, message=f"Forwarded to Hull as {event.event!r}.",
            event=event,
        )  # fmt: skip
    elif not isinstance(error, APIError):
        outcome = _webhook_outcome(200, "hull_rejected", f"Hull rejected the event: {error}", event)
    else:
        status, reason, what = _HULL_WEBHOOK_ANSWERS[hull_failure_kind(error)]
        outcome = _webhook_outcome(status, reason, f"{what}: {error}", event)
    name = "incoming.event.success" if outcome.reason is None else "incoming.event.error"
    log_event(
        logging.INFO if outcome.reason is None else logging.ERROR,
        name,
        event_name=event.event,
        event_id=event.event_id,
        reason=outcome.reason,
        error=None if outcome.reason is None else outcome.message,
    )
    return outcome


def _webhook_outcome(
    status: int, reason: str, message: str, event: IncomingEvent | None = None
) -> WebhookOutcome:
    if event is None:
        log_event(logging.WARNING, "incoming.event.error", reason=reason, error=message)
    return WebhookOutcome(http_status=status, reason=reason, message=message, event=event)


def hull_not_configured(event: IncomingEvent) -> WebhookOutcome:
    """The outcome when a webhook arrives at a connector without a Hull client."""
    return _webhook_outcome(
        503, "hull_not_configured", "No Hull client is configured to forward webhooks to.", event
    )


# --------------------------------------------------------------------------------------------
# Status.

NO_CREDENTIALS = (
    "Missing credentials: set the Customer.io Site ID and API Key to send data to Customer.io."
)
NO_SEGMENTS = (
    "No users will be synchronized because no segments are whitelisted "
    "(synchronized_segments is empty)."
)
INVALID_CREDENTIALS = "Invalid credentials: Customer.io refused the Site ID and API Key."
NO_CUSTOMERIO_CLIENT = (
    "No Customer.io client: this connector only forwards Customer.io webhooks to Hull; build "
    "it with customerio=... to send users and events."
)


def no_customerio_client(what: str) -> ConfigurationError:
    """The error of a sync asked of a webhook-only connector (``what``: the method)."""
    return ConfigurationError(
        [f"{what} needs a Customer.io client: build the connector with customerio=..."]
    )


def hull_credentials_message(error: APIStatusError | None) -> list[str]:
    """The status error when Hull's firehose last refused the connector's credentials."""
    if error is None:
        return []
    return [
        f"Hull refused the connector's credentials (HTTP {error.status_code}): check the "
        "connector id, secret and organization. Nothing is dropped meanwhile: notifications "
        "are answered retry and webhooks 503."
    ]


def check_status_messages(settings: Settings) -> tuple[list[str], list[str]]:
    """The errors and warnings that need no call: missing credentials, no segments."""
    errors = [] if settings.has_credentials else [NO_CREDENTIALS]
    warnings = [] if settings.synchronized_segments else [NO_SEGMENTS]
    return errors, warnings


def connection_error_message(exc: APIError) -> str:
    """The status message for a failed credentials check."""
    return f"Error when trying to connect with Customer.io: {exc}"


def status_from(errors: list[str], warnings: list[str]) -> Status:
    """``error`` if any error, else ``warning`` if any warning, else ``ok``."""
    if errors:
        return Status(status="error", messages=errors + warnings)
    if warnings:
        return Status(status="warning", messages=warnings)
    return Status(status="ok", messages=[])
