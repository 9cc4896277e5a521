"""The engine's log records: an event name and ids, never secrets, emails or values."""

from __future__ import annotations

import logging
from typing import Any

import attrs

from ..errors import safe_service_text
from ..models.notification import Notification
from ..models.plan import Action
from ..models.report import AccountOutcome, OutcomeStatus, UserOutcome

__all__ = [
    "LogContext",
    "log_account_outcome",
    "log_event",
    "log_outcome",
    "logger",
]

logger = logging.getLogger("hull_customerio")
# A library must not print through logging's last-resort handler when the app configured none.
logger.addHandler(logging.NullHandler())


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
    ("account_id", "account"),
    ("object_id", "object_id"),
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
    level, name = _outcome_record("user", outcome.status, outcome.action)
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


def log_account_outcome(outcome: AccountOutcome, context: LogContext | None = None) -> None:
    """Log one account's outcome: ``outgoing.account.success|skip|error|deletion``."""
    level, name = _outcome_record("account", outcome.status, outcome.action)
    log_event(
        level, name, context, account_id=outcome.account_id, object_id=outcome.object_id,
        reason=outcome.reason, error=outcome.error,
    )  # fmt: skip


def _outcome_record(subject: str, status: OutcomeStatus, action: Action) -> tuple[int, str]:
    """The level and name of an outcome's record: ``outgoing.<subject>.error`` (at ``ERROR``),
    else ``.skip``, ``.deletion`` or ``.success`` (at ``INFO``)."""
    if status == "error":
        return logging.ERROR, f"outgoing.{subject}.error"
    if status == "skipped":
        return logging.INFO, f"outgoing.{subject}.skip"
    if action is Action.DELETE:
        return logging.INFO, f"outgoing.{subject}.deletion"
    return logging.INFO, f"outgoing.{subject}.success"
