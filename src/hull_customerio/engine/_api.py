"""What the other subpackages and the service modules take from the engine, in one place.

Only re-exports: the engine's private modules stay free to move things around as long as
these names keep their meaning.
"""

from __future__ import annotations

from ._answers import error_answer
from ._core import (
    FAILURE_MESSAGES,
    check_status_messages,
    flow_control_for,
    log_event,
    malformed_outcome,
    record_webhook,
    status_from,
)
from ._notifications import (
    HULL_KEY_HOSTS,
    SIGNATURE_HEADER,
    NotificationAnswer,
    NotificationEnvelope,
    NotificationGuard,
    NotificationKeyCache,
    arun_checks,
    authenticating,
    prepare_notification,
    processed_answer,
    run_checks,
)

__all__ = [
    "FAILURE_MESSAGES",
    "HULL_KEY_HOSTS",
    "SIGNATURE_HEADER",
    "NotificationAnswer",
    "NotificationEnvelope",
    "NotificationGuard",
    "NotificationKeyCache",
    "arun_checks",
    "authenticating",
    "check_status_messages",
    "error_answer",
    "flow_control_for",
    "log_event",
    "malformed_outcome",
    "prepare_notification",
    "processed_answer",
    "record_webhook",
    "run_checks",
    "status_from",
]
