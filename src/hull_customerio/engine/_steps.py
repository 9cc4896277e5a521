"""One user's execution, as generators of steps: what the drivers perform and what the results
mean.

Each user's execution *yields* the steps to perform (a Customer.io operation from the one
vocabulary in `customerio.operations`, a Hull write-back) and receives each step's result. The
sync and async connectors only run the steps; batch mode sends each round of every user's
operations together through v2 batch requests.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, Literal, cast

import attrs

from ..customerio._api import MAX_BATCH_OPERATION_BYTES, EncodedOperation, dumps
from ..customerio.operations import (
    AnonymousTrack,
    Delete,
    DeleteRelationships,
    Identify,
    ObjectRef,
    Operation,
    Page,
    Track,
)
from ..errors import HullCustomerIOError, RateLimiterUnavailableError
from ..models.customerio import BatchResult
from ..models.plan import Action, OutgoingEvent, UserPlan
from ..models.report import UserOutcome
from ._logs import LogContext
from ._sync import Failures, record_bug, settle, short_error

__all__ = [
    "FAILURE_MESSAGES",
    "BatchOperationError",
    "BatchRound",
    "Execution",
    "HullTraits",
    "Step",
    "StepResult",
    "batch_operations",
    "batch_results",
    "batch_steps",
    "event_operation_of",
    "failed_outcome",
    "failure_code",
    "internal_error",
    "internal_error_outcome",
    "settle_write_back",
    "user_bug",
    "user_calls",
    "v1_steps",
    "write_back_step",
    "write_back_steps",
    "writes_back",
]

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


# --------------------------------------------------------------------------------------------
# Steps: what the drivers perform.


@attrs.frozen
class HullTraits:
    """Queue a traits message on the Hull client; the result is its ``requestId``.

    ``subject`` says whom the claims name: a user (``as_user``) or an account
    (``as_account``).
    """

    claims: Mapping[str, str]
    traits: Mapping[str, Any]
    subject: Literal["user", "account"] = "user"


#: A step: a Customer.io operation for the client to send (see `customerio.operations`), or a
#: Hull write-back.
Step = Operation | HullTraits
#: A step's result: the exception on failure; else ``None`` (a Customer.io call, or no Hull
#: client to write back to) or the write-back's ``requestId``.
StepResult = str | None | HullCustomerIOError


@attrs.define
class Execution(Failures[UserPlan]):
    """The mutable record of one user's execution, frozen into a
    [`UserOutcome`][hull_customerio.UserOutcome] at the end."""

    events_sent: list[OutgoingEvent] = attrs.field(factory=list)
    events_skipped: list[tuple[str, str]] = attrs.field(factory=list)
    #: Customer.io accepted every identify chunk, or the deletion.
    person_sent: bool = False
    #: An identify chunk or the deletion failed (or was never sent): no write-back.
    person_failed: bool = False
    #: Events Customer.io was asked for and did not accept.
    events_failed: list[OutgoingEvent] = attrs.field(factory=list)

    def outcome(self) -> UserOutcome:
        plan = self.plan
        skipped = list(plan.skipped_events) + self.events_skipped
        end = settle(plan, self.failure, self.details, FAILURE_MESSAGES)
        return UserOutcome(
            user_id=plan.user_id,
            customer_id=plan.customer_id,
            action=plan.action,
            status=end.status,
            reason=end.reason,
            message=end.message,
            calls=list(self.calls),
            events_sent=list(self.events_sent),
            events_skipped=skipped,
            error=end.error,
            exception=self.exception,
            plan=plan,
        )


def event_operation_of(event: OutgoingEvent, customer_id: str | None) -> Operation:
    """The Customer.io operation sending a planned event: a `Track`, a `Page` or an
    `AnonymousTrack` (by ``event.kind``)."""
    # The plan sets the identifiers (anonymous_id for anonymous events, the person's id for
    # the others); the operation checks them when it is sent, as a client call would.
    if event.kind == "anonymous":
        return AnonymousTrack(
            cast("str", event.anonymous_id),
            event.name,
            event.data,
            type=event.type,
            timestamp=event.timestamp,
            id=event.id,
        )
    person = cast("str", customer_id)
    if event.kind == "page":
        return Page(person, event.name, event.data, timestamp=event.timestamp, id=event.id)
    return Track(person, event.name, event.data, timestamp=event.timestamp, id=event.id)


def _describe(exc: HullCustomerIOError) -> str:
    return str(exc)


def failure_code(code: str, exc: HullCustomerIOError | None) -> str:
    """``code``, unless the call was never sent because the shared rate limiter was out of
    reach: then ``rate_limiter_unavailable``, whatever the call was."""
    return "rate_limiter_unavailable" if isinstance(exc, RateLimiterUnavailableError) else code


def user_calls(
    plan: UserPlan, execution: Execution | None = None, *, object_type_id: str | None = None
) -> Generator[list[Operation], list[StepResult], Execution]:
    """One user's Customer.io calls, in rounds, and what their results mean.

    Yields groups of calls and receives their results, in the same order. A group's calls
    may be sent together (batch mode) because none depends on another; a later group is only
    asked for once the earlier one is answered. The groups: each identify chunk on its own, in
    order, stopping at the first refused one (the user's events are then skipped with
    ``identify_failed``); or the deletion; then every event of the user. Both modes run this
    one sequence, so they reach the same outcome for the same answers.

    A person linked to an account object: the removal of the relationship stored earlier
    (``unlinked_object_id``) and the first chunk, which carries the new relationship
    (``object_id``), form the first group, in that order; both are about the person.
    ``object_type_id`` is the Customer.io object type of both (the settings' one).

    ``execution`` is the record to fill (a new one by default), for a caller that reads it
    while the calls run (see `batch_steps`).
    """
    if execution is None:
        execution = Execution(plan)
    # Identify and delete plans name the person (an id missing by a bug is refused when sent).
    customer_id = cast("str", plan.customer_id)
    if plan.action is Action.IDENTIFY:
        for group in _identify_groups(plan, customer_id, object_type_id):
            results = yield group
            for call, result in zip(group, results, strict=True):
                execution.calls.append(_CALL_NAMES[type(call)])
                if isinstance(result, HullCustomerIOError):
                    execution.fail(
                        failure_code("identify_failed", result), result, _describe(result)
                    )
            if execution.failure is not None:
                execution.person_failed = True
                code = execution.failure
                execution.events_skipped += [(e.name, code) for e in plan.events]
                return execution
        execution.person_sent = bool(plan.chunks)
    elif plan.action is Action.DELETE:
        (result,) = yield [Delete(customer_id)]
        execution.calls.append("delete")
        if isinstance(result, HullCustomerIOError):
            execution.person_failed = True
            execution.fail(failure_code("delete_failed", result), result, _describe(result))
            return execution
        execution.person_sent = True
    if plan.events:
        results = yield [event_operation_of(event, plan.customer_id) for event in plan.events]
        for event, result in zip(plan.events, results, strict=True):
            execution.calls.append(event.kind)
            error = result if isinstance(result, HullCustomerIOError) else None
            _record_event(execution, event, error)
    return execution


_CALL_NAMES: Mapping[type, str] = {
    Identify: "identify",
    DeleteRelationships: "delete_relationships",
}


def _identify_groups(
    plan: UserPlan, customer_id: str, object_type_id: str | None
) -> list[list[Operation]]:
    """The identify groups of ``plan``: each chunk alone, the relationship changes first."""
    groups: list[list[Operation]] = [[Identify(customer_id, chunk)] for chunk in plan.chunks]
    if (plan.object_id or plan.unlinked_object_id) and not object_type_id:
        raise ValueError("a plan that links an object needs the object type id")
    if plan.object_id and groups:
        ref = ObjectRef(cast("str", object_type_id), plan.object_id)
        groups[0] = [Identify(customer_id, plan.chunks[0], relationships=(ref,))]
    if plan.unlinked_object_id:
        old = ObjectRef(cast("str", object_type_id), plan.unlinked_object_id)
        removal = DeleteRelationships(customer_id, (old,))
        groups[:1] = [[removal, *(groups[0] if groups else [])]]
    return groups


def v1_steps(
    plan: UserPlan, *, object_type_id: str | None = None
) -> Generator[Step, StepResult, Execution]:
    """One user, one Customer.io call at a time: identify chunks in order, then events."""
    rounds = user_calls(plan, object_type_id=object_type_id)
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
    code = failure_code("event_failed", error)
    execution.events_skipped.append((event.name, failure_code("send_failed", error)))
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
_PERSON_OPERATIONS = (Identify, Delete, DeleteRelationships)


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
    plans: Sequence[UserPlan],
    context: LogContext | None = None,
    *,
    object_type_id: str | None = None,
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
        running[user] = user_calls(plan, records[user], object_type_id=object_type_id)
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


def failed_outcome(
    user_id: str | None, code: str, error: str, exc: HullCustomerIOError | None = None
) -> UserOutcome:
    """The error outcome ``code`` of a user stopped before any step (nothing sent)."""
    return UserOutcome(
        user_id=user_id,
        customer_id=None,
        action=Action.ERROR,
        status="error",
        reason=code,
        message=FAILURE_MESSAGES[code],
        error=error,
        exception=exc,
    )


def internal_error_outcome(user_id: str, exc: Exception) -> UserOutcome:
    """The error outcome of a user an unexpected exception stopped before any step."""
    return failed_outcome(user_id, "internal_error", short_error(exc))


def internal_error(
    execution: Execution, exc: Exception, context: LogContext | None = None
) -> Execution:
    """Record an unexpected exception on ``execution`` (a bug must cost one user, not all)."""
    plan = execution.plan
    return record_bug(execution, exc, context, "outgoing.user.error",
                      user_id=plan.user_id, customer_id=plan.customer_id)  # fmt: skip


def user_bug(plan: UserPlan, context: LogContext | None) -> Callable[[Exception], Execution]:
    """What an unexpected exception in ``plan``'s steps leaves: the user's `internal_error`
    execution (for the connectors' drivers, so a bug costs one user)."""
    return lambda exc: internal_error(Execution(plan), exc, context)
