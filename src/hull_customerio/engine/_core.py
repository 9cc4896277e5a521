"""The engine's shared logic, the internal interface of [`Connector`][hull_customerio.Connector],
[`AsyncConnector`][hull_customerio.AsyncConnector] and the hubs: preparing a sync, what
delivery and reachability mean for its outcomes, the metrics, and, gathered here for its
callers, the steps (`_steps`), the log records (`_logs`) and the answers (`_flow`). The sync
itself, from the plans to the report, is a flow of `_flows`.

Each user's execution is a generator that *yields* the steps to perform (a Customer.io
operation, a Hull write-back) and receives each step's result. The sync and async connectors
only run steps; what to do, in which order, and what the results mean lives here, once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Protocol, TypeVar

from ..errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ConfigurationError,
    HullCustomerIOError,
    ValidationError,
)
from ..hull import DeliveryTicket, hull_failure_kind
from ..metrics import INCOMING_EVENTS, OUTGOING_EVENTS, OUTGOING_USERS, Metrics, NullMetrics
from ..models.hull import UserUpdateMessage
from ..models.notification import MalformedMessage, Notification
from ..models.plan import Action, UserPlan
from ..models.report import SyncReport, UserOutcome, WebhookOutcome
from ..rules.dedupe import deduplicate_messages
from ..rules.plan import plan_user_update
from ..settings import Settings
from ._flow import (
    DEFAULT_WEBHOOK_TIMEOUT,
    INVALID_CREDENTIALS,
    NO_CREDENTIALS,
    NO_CUSTOMERIO_CLIENT,
    NO_SEGMENTS,
    check_status_messages,
    check_webhook_timeout,
    connection_error_message,
    flow_control_for,
    hull_credentials_message,
    hull_not_configured,
    is_transient,
    no_customerio_client,
    read_notification,
    read_webhook,
    status_from,
    webhook_answer,
    webhook_delivered,
)
from ._logs import LogContext, log_event, log_outcome, logger
from ._steps import (
    FAILURE_MESSAGES,
    BatchOperationError,
    BatchRound,
    Execution,
    HullTraits,
    Step,
    StepResult,
    batch_operations,
    batch_results,
    batch_steps,
    event_operation_of,
    failed_outcome,
    failure_code,
    internal_error,
    internal_error_outcome,
    settle_write_back,
    user_bug,
    user_calls,
    v1_steps,
    write_back_step,
    write_back_steps,
    writes_back,
)
from ._sync import Prepared, message_id, prepare_in_order

__all__ = [
    "CUSTOMERIO_UNAVAILABLE_AFTER",
    "DEFAULT_WEBHOOK_TIMEOUT",
    "FAILURE_MESSAGES",
    "INVALID_CREDENTIALS",
    "NO_CREDENTIALS",
    "NO_CUSTOMERIO_CLIENT",
    "NO_SEGMENTS",
    "BatchOperationError",
    "BatchRound",
    "Execution",
    "HullTraits",
    "LogContext",
    "Mode",
    "Prepared",
    "Step",
    "StepResult",
    "Unreachable",
    "apply_delivery",
    "batch_operations",
    "batch_results",
    "batch_steps",
    "check_mode",
    "check_status_messages",
    "check_webhook_timeout",
    "connection_error_message",
    "credentials_mismatch_report",
    "customerio_unreachable",
    "event_operation_of",
    "flow_control_for",
    "hull_credentials_message",
    "hull_not_configured",
    "internal_error",
    "is_transient",
    "log_event",
    "log_outcome",
    "logger",
    "malformed_outcome",
    "mark_unreachable",
    "no_customerio_client",
    "prepare",
    "read_notification",
    "read_webhook",
    "record_execution",
    "record_webhook",
    "settle_write_back",
    "status_from",
    "user_bug",
    "user_calls",
    "v1_steps",
    "webhook_answer",
    "webhook_delivered",
    "write_back_step",
    "write_back_steps",
    "writes_back",
]


Mode = Literal["v1", "batch"]
_MODES: tuple[Mode, ...] = ("v1", "batch")


def check_mode(mode: str) -> Mode:
    """``mode`` as a `Mode`, or a
    [`ConfigurationError`][hull_customerio.errors.ConfigurationError]."""
    for known in _MODES:
        if mode == known:
            return known
    raise ConfigurationError([f"mode must be 'v1' or 'batch', got {mode!r}"])


# --------------------------------------------------------------------------------------------
# Preparing a sync: parse, de-duplicate, plan.


def prepare(
    messages: Iterable[UserUpdateMessage | Mapping[str, Any]],
    settings: Settings,
    *,
    batch: bool,
    malformed: Iterable[MalformedMessage] = (),
    context: LogContext | None = None,
) -> Prepared[UserPlan, UserOutcome]:
    """Parse raw messages, de-duplicate, plan every user; nothing raises for one bad user.

    ``context`` names the notification being processed, for the log records.
    """

    def failed(message: UserUpdateMessage, exc: Exception) -> UserOutcome:
        log_event(
            logging.ERROR,
            "outgoing.user.error",
            context,
            exc_info=exc,
            user_id=message.user.id,
            reason="internal_error",
        )
        return internal_error_outcome(message.user.id, exc)

    return prepare_in_order(
        messages,
        UserUpdateMessage,
        malformed=lambda raw, exc: malformed_outcome(message_id(raw, "user"), exc),
        known_malformed=[malformed_outcome(bad.user_id, bad.error) for bad in malformed],
        key=lambda message: message.user.id,
        deduplicate=deduplicate_messages,
        plan=lambda message, now: plan_user_update(message, settings, batch=batch, now=now),
        failed=failed,
    )


def malformed_outcome(user_id: str | None, error: ValidationError) -> UserOutcome:
    """The error outcome of a message that could not be parsed."""
    return failed_outcome(user_id, "malformed_message", str(error), error)


def credentials_mismatch_report(
    notification: Notification, detail: str, context: LogContext | None = None
) -> SyncReport:
    """Every user of ``notification`` in error with ``credentials_mismatch``; nothing sent.

    Malformed messages keep their ``malformed_message`` outcome; duplicates of a user are
    merged first, so each user has exactly one outcome.
    """
    outcomes = [
        failed_outcome(message.user.id, "credentials_mismatch", detail)
        for message in deduplicate_messages(notification.messages)
    ]
    outcomes += [malformed_outcome(bad.user_id, bad.error) for bad in notification.malformed]
    for outcome in outcomes:
        log_outcome(outcome, context)
    return SyncReport(outcomes=outcomes)


class _Delivered(Protocol):
    """A user's or an account's execution, as far as its write-back's delivery goes."""

    request_id: str | None
    exception: HullCustomerIOError | None

    def fail(self, code: str, exc: HullCustomerIOError | None, detail: str) -> None: ...


_Run = TypeVar("_Run", bound=_Delivered)


def apply_delivery(executions: Iterable[_Delivered], ticket: DeliveryTicket) -> None:
    """Mark the users (or accounts) whose Hull write-back failed, from their call's own
    delivery ticket.

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

    def note(self, execution: _Run) -> _Run:
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
        code = failure_code("customerio_unavailable", self.error)
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
