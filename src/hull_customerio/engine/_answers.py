"""The answers a web view gives Hull, and the first reading of a notification's body.

No I/O here: a body (bytes or a parsed payload) in, a `NotificationEnvelope` or a
`NotificationAnswer` out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import NotificationAuthenticationError, ValidationError
from ..hull.flow_control import flow_control_next
from ..models.notification import HullConfiguration
from ..models.report import SyncReport
from . import _core

# --------------------------------------------------------------------------------------------
# The answer a web view gives Hull.


@attrs.frozen(kw_only=True)
class NotificationAnswer:
    """What to answer Hull for one notification, and what became of it.

    Attributes:
        http_status: ``200`` when the notification was authenticated (processed, or
            acknowledged without processing); ``400`` when the body is not a JSON object;
            ``401`` when it was refused.
        body: the JSON to answer with: the flow control (``{"flow_control": {...}}``) on
            ``200``, else ``{"error": {"code": reason, "message": ...}}``.
        reason: ``None`` when the notification was synchronised; otherwise a stable code:
            ``invalid_body`` (400); a refusal reason (401: ``missing_credentials``,
            ``wrong_connector``, ``wrong_organization``, ``wrong_secret``,
            ``missing_signature``, ``unsupported_signature_version``, ``untrusted_key_url``,
            ``key_unavailable``, ``bad_signature``, ``wrong_notification_id``); or, answered
            ``next`` with nothing sent, ``unsupported_channel``, ``invalid_notification``
            (a malformed envelope or invalid settings) or ``credentials_mismatch`` (its
            settings name another Customer.io workspace).
        report: every user's outcome on ``200`` (empty when nothing was to be synchronised);
            ``None`` on ``400`` and ``401``.
        message: a sentence for people; never holds a secret.
    """

    http_status: int
    body: dict[str, Any]
    reason: str | None = None
    report: SyncReport | None = None
    message: str = ""

    @property
    def refused(self) -> bool:
        """Whether the notification was refused as unauthenticated (``401``)."""
        return self.http_status == 401


def error_answer(status: int, reason: str, message: str) -> NotificationAnswer:
    """An answer refusing the request: ``status`` with ``{"error": {"code", "message"}}``."""
    return NotificationAnswer(
        http_status=status,
        body={"error": {"code": reason, "message": message}},
        reason=reason,
        message=message,
    )


def refused_answer(error: NotificationAuthenticationError) -> NotificationAnswer:
    """The ``401`` answer to a refused notification."""
    return error_answer(401, error.reason, str(error))


def processed_answer(report: SyncReport) -> NotificationAnswer:
    """The ``200`` answer once the notification's users (or accounts) were synchronised."""
    statuses = [o.status for o in report.outcomes]
    statuses += [o.status for o in report.account_outcomes]
    counts = {status: statuses.count(status) for status in ("success", "skipped", "error")}
    return NotificationAnswer(
        http_status=200,
        body=_core.flow_control_for(report),
        reason=None,
        report=report,
        message=(
            f"{counts['success']} synchronized, {counts['skipped']} skipped, "
            f"{counts['error']} failed."
        ),
    )


def _next_answer(reason: str, message: str, report: SyncReport | None = None) -> NotificationAnswer:
    return NotificationAnswer(
        http_status=200,
        body=dict(flow_control_next()),
        reason=reason,
        report=report if report is not None else SyncReport(outcomes=[]),
        message=message,
    )


# --------------------------------------------------------------------------------------------
# Reading the body: what the web layer (or a hub choosing the tenant) needs first.


def _string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@attrs.frozen(kw_only=True)
class NotificationEnvelope:
    """A notification body read as JSON, before anything of it is trusted.

    Attributes:
        payload: the whole notification object, as received.
        configuration: the Hull credentials it claims (``id``, ``organization``, ``secret``);
            a field is ``None`` when absent or not a non-empty string.
        notification_id: its ``notification_id``, when a non-empty string.
        channel: its ``channel`` when a string; ``None`` when absent (``user:update`` is
            meant) or not a string.
    """

    payload: Mapping[str, Any] = attrs.field(repr=False)
    configuration: HullConfiguration
    notification_id: str | None = None
    channel: str | None = None


def read_notification_payload(payload: object) -> NotificationEnvelope:
    """The envelope of a notification already parsed from JSON; never raises.

    A value that is not an object gives an envelope with no credentials, which every
    connector refuses.
    """
    if not isinstance(payload, Mapping):
        return NotificationEnvelope(payload={}, configuration=HullConfiguration())
    raw = payload.get("configuration")
    configuration = HullConfiguration()
    if isinstance(raw, Mapping):
        configuration = HullConfiguration(
            id=_string(raw.get("id")),
            organization=_string(raw.get("organization")),
            secret=_string(raw.get("secret")),
        )
    channel = payload.get("channel")
    return NotificationEnvelope(
        payload=payload,
        configuration=configuration,
        notification_id=_string(payload.get("notification_id")),
        channel=channel if isinstance(channel, str) else None,
    )


def read_notification_body(body: bytes) -> NotificationEnvelope | NotificationAnswer:
    """Read a notification's raw body; never raises.

    This is what a service serving many connectors calls first, to learn which connector
    (``envelope.configuration``) the notification claims to be for, before authenticating it
    with that connector's
    [`answer_notification`][hull_customerio.AsyncConnector.answer_notification].

    Returns:
        The envelope, or a ``400`` answer with reason ``invalid_body`` when the body is not a
        JSON object (not JSON, not UTF-8, nested too deep, a number too long...).
    """
    try:
        payload = json.loads(body)
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError):
        return error_answer(400, "invalid_body", "The notification body is not JSON.")
    if not isinstance(payload, dict):
        return error_answer(400, "invalid_body", "The notification body is not a JSON object.")
    return read_notification_payload(payload)


def envelope_of(payload: object) -> NotificationEnvelope:
    """The envelope of a notification given parsed or as raw bytes.

    Raises:
        ValidationError: raw bytes that are not a JSON object.
    """
    if isinstance(payload, bytes | bytearray | memoryview):
        read = read_notification_body(bytes(payload))
        if isinstance(read, NotificationAnswer):
            raise ValidationError(read.message)
        return read
    return read_notification_payload(payload)
