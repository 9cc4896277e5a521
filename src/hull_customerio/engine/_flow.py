"""What the engine answers: flow control of a notification, a webhook's outcome, the status."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

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
from ..hull import DeliveryTicket, HullFailureKind, hull_failure_kind
from ..hull.flow_control import flow_control_next, flow_control_retry
from ..models.notification import Notification, parse_notification
from ..models.report import Status, SyncReport, WebhookOutcome
from ..models.webhook import IncomingEvent
from ..rules.signature import verify_webhook_request
from ..rules.webhooks import parse_webhook
from ..settings import Settings
from ._logs import LogContext, log_event

__all__ = [
    "DEFAULT_WEBHOOK_TIMEOUT",
    "INVALID_CREDENTIALS",
    "NO_CREDENTIALS",
    "NO_CUSTOMERIO_CLIENT",
    "NO_SEGMENTS",
    "check_status_messages",
    "check_webhook_timeout",
    "connection_error_message",
    "flow_control_for",
    "hull_credentials_message",
    "hull_not_configured",
    "is_transient",
    "no_customerio_client",
    "read_notification",
    "read_webhook",
    "status_from",
    "webhook_answer",
    "webhook_delivered",
]

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
    """``retry`` when a user or an account failed for a transient reason (Hull re-sends),
    else ``next``."""
    failures = [o.exception for o in report.outcomes if o.status == "error"]
    failures += [o.exception for o in report.account_outcomes if o.status == "error"]
    if any(is_transient(exception) for exception in failures):
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
