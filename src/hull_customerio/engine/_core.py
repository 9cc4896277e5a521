"""The engine's logic, shared by :class:`Connector` and :class:`AsyncConnector`.

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
from ..customerio import (
    anonymous_event_operation,
    delete_operation,
    event_operation,
    identify_operation,
    page_operation,
)
from ..errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    ConfigurationError,
    DeliveryError,
    HullCustomerIOError,
    ValidationError,
    WebhookPayloadError,
    WebhookVerificationError,
)
from ..hull.flow_control import flow_control_next, flow_control_retry
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
    "CustomerIOCall",
    "Execution",
    "HullTraits",
    "Mode",
    "Step",
    "batch_operations",
    "batch_steps",
    "check_status_messages",
    "flow_control_for",
    "logger",
    "prepare",
    "v1_steps",
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
    "malformed_message": "The message is malformed and cannot be synchronized.",
    "internal_error": "An unexpected error stopped this user; the others went on.",
}


def check_mode(mode: str) -> Mode:
    """``mode`` as a :data:`Mode`, or a :class:`ConfigurationError`."""
    for known in _MODES:
        if mode == known:
            return known
    raise ConfigurationError([f"mode must be 'v1' or 'batch', got {mode!r}"])


# --------------------------------------------------------------------------------------------
# Steps: what the drivers perform.


@attrs.frozen
class CustomerIOCall:
    """A Customer.io client method to call: ``getattr(client, method)(*args, **kwargs)``."""

    method: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class HullTraits:
    """Queue a traits message on the Hull client; the result is its ``requestId``."""

    claims: Mapping[str, str]
    traits: Mapping[str, Any]


Step = CustomerIOCall | HullTraits
#: A step's result: the exception on failure; else ``None`` (a Customer.io call, or no Hull
#: client to write back to) or the write-back's ``requestId``.
StepResult = str | None | HullCustomerIOError


@attrs.define
class Execution:
    """The mutable record of one user's execution, frozen into a :class:`UserOutcome` at the end."""

    plan: UserPlan
    calls: list[str] = attrs.field(factory=list)
    events_sent: list[OutgoingEvent] = attrs.field(factory=list)
    events_skipped: list[tuple[str, str]] = attrs.field(factory=list)
    failure: str | None = None
    exception: HullCustomerIOError | None = None
    details: list[str] = attrs.field(factory=list)
    request_id: str | None = None

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


def _event_call(event: OutgoingEvent, customer_id: str | None) -> CustomerIOCall:
    kwargs = {"timestamp": event.timestamp, "id": event.id}
    if event.kind == "anonymous":
        return CustomerIOCall(
            "track_anonymous",
            (event.anonymous_id, event.name, event.data),
            {**kwargs, "type": event.type},
        )
    method = "track_page" if event.kind == "page" else "track"
    return CustomerIOCall(method, (customer_id, event.name, event.data), kwargs)


def _describe(exc: HullCustomerIOError) -> str:
    return str(exc)


def v1_steps(plan: UserPlan) -> Generator[Step, StepResult, Execution]:
    """One user, one Customer.io call at a time: identify chunks in order, then events."""
    execution = Execution(plan)
    customerio_done = plan.action is not Action.ERROR
    if plan.action is Action.IDENTIFY:
        for chunk in plan.chunks:
            result = yield CustomerIOCall("identify", (plan.customer_id, chunk))
            execution.calls.append("identify")
            if isinstance(result, HullCustomerIOError):
                execution.fail("identify_failed", result, _describe(result))
                execution.events_skipped += [(e.name, "identify_failed") for e in plan.events]
                return execution
    elif plan.action is Action.DELETE:
        result = yield CustomerIOCall("delete", (plan.customer_id,))
        execution.calls.append("delete")
        if isinstance(result, HullCustomerIOError):
            execution.fail("delete_failed", result, _describe(result))
            return execution
    for event in plan.events:
        result = yield _event_call(event, plan.customer_id)
        execution.calls.append(event.kind)
        _record_event(execution, event, result if isinstance(result, HullCustomerIOError) else None)
    if customerio_done:
        yield from _write_back(execution)
    return execution


def _record_event(
    execution: Execution, event: OutgoingEvent, error: HullCustomerIOError | None
) -> None:
    if error is None:
        execution.events_sent.append(event)
        return
    execution.events_skipped.append((event.name, "send_failed"))
    execution.fail("event_failed", error, f"event {event.name!r}: {_describe(error)}")


def _write_back(execution: Execution) -> Generator[Step, StepResult, None]:
    plan = execution.plan
    if plan.traits is None or execution.failure in {"identify_failed", "delete_failed"}:
        return
    result = yield HullTraits(plan.hull_claims, plan.traits)
    if result is None:  # the connector has no Hull client: nothing to write back to
        return
    execution.calls.append("hull_traits")
    if isinstance(result, HullCustomerIOError):
        execution.fail("writeback_failed", result, f"Hull write-back: {_describe(result)}")
    else:
        execution.request_id = result


# --------------------------------------------------------------------------------------------
# Batch mode: every Customer.io operation of every user in one ``batch()`` call.


@attrs.frozen
class _Owner:
    user: int
    kind: Literal["identify", "delete", "event"]
    event: OutgoingEvent | None = None


def batch_operations(plans: Sequence[UserPlan]) -> tuple[list[dict[str, Any]], list[_Owner]]:
    """The v2 operations for ``plans``, each user's in order, and who owns each operation."""
    operations: list[dict[str, Any]] = []
    owners: list[_Owner] = []
    for index, plan in enumerate(plans):
        customer_id = plan.customer_id or ""
        if plan.action is Action.IDENTIFY:
            for chunk in plan.chunks:
                operations.append(identify_operation(customer_id, chunk))
                owners.append(_Owner(index, "identify"))
        elif plan.action is Action.DELETE:
            operations.append(delete_operation(customer_id))
            owners.append(_Owner(index, "delete"))
        if plan.action is Action.ERROR:
            continue
        for event in plan.events:
            operations.append(_event_operation(event, customer_id))
            owners.append(_Owner(index, "event", event))
    return operations, owners


def _event_operation(event: OutgoingEvent, customer_id: str) -> dict[str, Any]:
    if event.kind == "anonymous":
        return anonymous_event_operation(
            event.anonymous_id or "",
            event.name,
            event.data,
            type=event.type,
            timestamp=event.timestamp,
            id=event.id,
        )
    build = page_operation if event.kind == "page" else event_operation
    return build(customer_id, event.name, event.data, timestamp=event.timestamp, id=event.id)


def batch_steps(
    plan: UserPlan, results: list[tuple[_Owner, HullCustomerIOError | None]]
) -> Generator[Step, StepResult, Execution]:
    """One user of a batch: read its operations' results, then write back."""
    execution = Execution(plan)
    if results:
        execution.calls.append("batch")
    for owner, error in results:
        if owner.kind == "event" and owner.event is not None:
            _record_event(execution, owner.event, error)
        elif error is not None:
            code = "delete_failed" if owner.kind == "delete" else "identify_failed"
            execution.fail(code, error, _describe(error))
    if plan.action is not Action.ERROR:
        yield from _write_back(execution)
    return execution


def batch_results(
    plans: Sequence[UserPlan], owners: Sequence[_Owner], result: BatchResult
) -> list[list[tuple[_Owner, HullCustomerIOError | None]]]:
    """Each user's operations with their error (``None`` when accepted), in order."""
    per_user: list[list[tuple[_Owner, HullCustomerIOError | None]]] = [[] for _ in plans]
    for index, owner in enumerate(owners):
        failure = result.errors.get(index)
        error: HullCustomerIOError | None = None
        if failure is not None:
            error = failure.exception or BatchOperationError(
                f"Customer.io rejected the operation: {failure.message or failure.reason}"
                + (f" (field {failure.field})" if failure.field else "")
            )
        per_user[owner.user].append((owner, error))
    return per_user


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
) -> Prepared:
    """Parse raw messages, de-duplicate, plan every user; nothing raises for one bad user."""
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
            logger.exception(
                "outgoing.user.error",
                extra={"hull_event": "outgoing.user.error", "user_id": message.user.id},
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


def internal_error(execution: Execution, exc: Exception) -> Execution:
    """Record an unexpected exception on ``execution`` (a bug must cost one user, not all)."""
    logger.error(
        "outgoing.user.error",
        exc_info=exc,
        extra={"hull_event": "outgoing.user.error", "user_id": execution.plan.user_id},
    )
    execution.failure = "internal_error"
    execution.details.append(_short_error(exc))
    return execution


def apply_delivery_error(executions: Iterable[Execution], error: DeliveryError) -> None:
    """Mark the users whose Hull write-back was among the undelivered messages."""
    undelivered = {m.get("requestId") for m in error.undelivered}
    for execution in executions:
        if execution.request_id is not None and execution.request_id in undelivered:
            execution.fail("writeback_failed", error, f"Hull write-back: {error}")


def finish(prepared: Prepared, executions: Sequence[Execution]) -> SyncReport:
    """Assemble the report in input order and log every outcome."""
    by_position = dict(prepared.early)
    for position, execution in zip(prepared.positions, executions, strict=True):
        by_position[position] = execution.outcome()
    outcomes = [by_position[p] for p in sorted(by_position)]
    for outcome in outcomes:
        log_outcome(outcome)
    return SyncReport(outcomes=outcomes)


# --------------------------------------------------------------------------------------------
# Logging (SPEC §7): event names as messages, structured `extra`, never secrets or attributes.


def log_outcome(outcome: UserOutcome) -> None:
    """Log one user's outcome and the fate of its events."""
    base = {"user_id": outcome.user_id, "customer_id": outcome.customer_id}
    if outcome.status == "error":
        name, level = "outgoing.user.error", logging.ERROR
    elif outcome.status == "skipped":
        name, level = "outgoing.user.skip", logging.INFO
    elif outcome.action is Action.DELETE:
        name, level = "outgoing.user.deletion", logging.INFO
    else:
        name, level = "outgoing.user.success", logging.INFO
    logger.log(
        level,
        name,
        extra={**base, "hull_event": name, "reason": outcome.reason, "error": outcome.error},
    )
    for event in outcome.events_sent:
        logger.info(
            "outgoing.event.success",
            extra={**base, "hull_event": "outgoing.event.success", "event_name": event.name,
                   "event_kind": event.kind, "event_id": event.id},
        )  # fmt: skip
    for event_name, reason in outcome.events_skipped:
        name = "outgoing.event.error" if reason == "send_failed" else "outgoing.event.skip"
        logger.log(
            logging.ERROR if reason == "send_failed" else logging.INFO,
            name,
            extra={**base, "hull_event": name, "event_name": event_name, "reason": reason},
        )


# --------------------------------------------------------------------------------------------
# Notifications and webhooks.

_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 522, 524})


def is_transient(exc: BaseException | None) -> bool:
    """Whether a failure may go away if the same work is tried again later."""
    if isinstance(exc, DeliveryError | APIConnectionError):
        return True
    if isinstance(exc, APIStatusError):
        return exc.status_code in _TRANSIENT_STATUSES or exc.status_code >= 500
    return False


def read_notification(payload: Mapping[str, Any]) -> Notification | None:
    """The parsed notification, or ``None`` (logged) when it can never succeed."""
    try:
        return parse_notification(payload)
    except (ValidationError, ConfigurationError) as exc:
        logger.error(
            "outgoing.user.error",
            extra={"hull_event": "outgoing.user.error", "reason": "invalid_notification",
                   "error": str(exc)},
        )  # fmt: skip
        return None


def own_delivery_failure(error: DeliveryError, request_id: str) -> DeliveryError | None:
    """``error`` if our message is among the undelivered ones, else ``None``.

    Other writers share the Hull client: only our own message decides our answer.
    """
    return error if any(m.get("requestId") == request_id for m in error.undelivered) else None


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


def webhook_delivered(event: IncomingEvent, error: HullCustomerIOError | None) -> WebhookOutcome:
    """The outcome once Hull answered (``error`` is ``None`` when it accepted the event)."""
    if error is None:
        outcome = WebhookOutcome(
            http_status=200, reason=None, message=f"Forwarded to Hull as {event.event!r}.",
            event=event,
        )  # fmt: skip
    elif not isinstance(error, APIError) or (
        isinstance(error, APIStatusError)
        and 400 <= error.status_code < 500
        and not (is_transient(error) or error.status_code in {401, 403})
    ):
        # Hull will never take this event; answering 5xx would hold back every later webhook.
        outcome = _webhook_outcome(200, "hull_rejected", f"Hull rejected the event: {error}", event)
    else:
        outcome = _webhook_outcome(
            503, "hull_unavailable", f"Hull could not be reached: {error}", event
        )
    name = "incoming.event.success" if outcome.reason is None else "incoming.event.error"
    logger.log(
        logging.INFO if outcome.reason is None else logging.ERROR,
        name,
        extra={"hull_event": name, "event_name": event.event, "event_id": event.event_id,
               "reason": outcome.reason},
    )  # fmt: skip
    return outcome


def _webhook_outcome(
    status: int, reason: str, message: str, event: IncomingEvent | None = None
) -> WebhookOutcome:
    if event is None:
        logger.warning(
            "incoming.event.error",
            extra={"hull_event": "incoming.event.error", "reason": reason},
        )
    return WebhookOutcome(http_status=status, reason=reason, message=message, event=event)


def hull_not_configured(event: IncomingEvent) -> WebhookOutcome:
    """The outcome when a webhook arrives at a connector without a Hull client."""
    return _webhook_outcome(
        503, "hull_not_configured", "No Hull client is configured to forward webhooks to.", event
    )


# --------------------------------------------------------------------------------------------
# Status (SPEC §7).

NO_CREDENTIALS = (
    "Missing credentials: set the Customer.io Site ID and API Key to send data to Customer.io."
)
NO_SEGMENTS = (
    "No users will be synchronized because no segments are whitelisted "
    "(synchronized_segments is empty)."
)
INVALID_CREDENTIALS = "Invalid credentials: Customer.io refused the Site ID and API Key."


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
