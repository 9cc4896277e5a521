"""The hub's answers to Hull when a request stops before reaching a connector."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from ..engine._api import check_status_messages, error_answer, log_event, status_from
from ..errors import APIError, APIStatusError, ConfigurationError, ValidationError
from ..hull.flow_control import flow_control_next
from ..models.report import Status, SyncReport
from ..settings import Settings
from ._auth import NotificationAnswer
from ._batch import BadLine, BatchRequest, credentials_from_query, parse_batch_request
from ._errors import UntrustedOrganizationError, UnusableCredentialsError
from ._tokens import HullCredentials

__all__ = ["BatchTally"]

logger = logging.getLogger("hull_customerio")


def _answer(
    status: int, reason: str, message: str, cause: Exception | None = None
) -> NotificationAnswer:
    """An error answer holding ``message`` only; ``cause`` (a remote's answer...) is logged."""
    level = logging.WARNING if status < 500 else logging.ERROR
    refused_here = status in (401, 403)
    name = "incoming.notification.refused" if refused_here else "incoming.notification.error"
    log_event(level, name, reason=reason, error=message if cause is None else f"{message} {cause}")
    return error_answer(status, reason, message)


def refused(reason: str) -> NotificationAnswer:
    """The request does not carry the connector's credentials, or Hull refused them."""
    return _answer(401, reason, "The request does not carry valid connector credentials.")


def _next(reason: str, message: str) -> NotificationAnswer:
    log_event(logging.ERROR, "incoming.notification.error", reason=reason, error=message)
    return NotificationAnswer(
        http_status=200, body=dict(flow_control_next()), reason=reason, message=message
    )


def notification_settings(payload: Mapping[str, Any]) -> Settings | None:
    """The notification's own settings (``connector.private_settings``), ``None`` if invalid."""
    connector = payload.get("connector")
    private = connector.get("private_settings") if isinstance(connector, Mapping) else None
    if not isinstance(private, Mapping):
        private = {}
    try:
        return Settings.from_private_settings(private)
    except ConfigurationError:
        return None


def unusable_settings(exc: ConfigurationError) -> NotificationAnswer:
    """Settings that can never work: answered ``next`` (Hull must not re-send), logged."""
    return _next("invalid_settings", f"The connector's settings are invalid: {exc}")


def missing_workspace_credentials() -> NotificationAnswer:
    """No Customer.io Site ID / API key in the settings: nothing can be sent (``next``)."""
    return _next(
        "missing_credentials", "The connector's settings have no Customer.io Site ID and API Key."
    )


def batch_request(body: bytes) -> BatchRequest | NotificationAnswer:
    """The batch request, or 400."""
    try:
        return parse_batch_request(body)
    except ValidationError as exc:
        return _answer(400, "invalid_body", str(exc))


def read_batch(
    body: bytes, query: Mapping[str, str]
) -> tuple[HullCredentials, BatchRequest] | NotificationAnswer:
    """The credentials (query) and file (body) of a batch request, or the 401/400 answer."""
    credentials = credentials_from_query(query)
    if credentials is None:
        return refused("missing_credentials")
    request = batch_request(body)
    if isinstance(request, NotificationAnswer):
        return request
    return credentials, request


def batch_url_refused(message: str) -> NotificationAnswer:
    """The batch URL may not be downloaded (scheme, host or address)."""
    return _answer(400, "batch_url_refused", message)


def download_failed(message: str) -> NotificationAnswer:
    """The batch file could not be downloaded; Hull may send the batch again."""
    return _answer(502, "download_failed", message)


def batch_stopped(reason: str, why: str, tally: BatchTally) -> NotificationAnswer:
    """The batch file was not read to its end (``reason``: ``batch_too_large``,
    ``batch_too_slow`` or ``download_failed``); the users read before were synced (502: Hull
    may send the batch again). The body holds the error and the counts, as a 200 does."""
    message = why
    if tally.users:
        message += (
            f"; the {tally.users} {tally.kind} read before were processed ({tally.summary()})"
        )
    answer = _answer(502, reason, message)
    return attrs.evolve(answer, body={**answer.body, **tally.counts()})


def batch_settings_failure(exc: Exception) -> NotificationAnswer:
    """Hull refused the credentials (401), was unreachable (503) or has unusable settings."""
    if isinstance(exc, APIStatusError) and exc.status_code in (401, 403):
        return refused("wrong_connector")
    if isinstance(exc, APIError):
        return _answer(503, "hull_unavailable", "Hull could not be reached.", exc)
    if isinstance(exc, ConfigurationError):
        return unusable_settings(exc)
    raise exc


def untrusted_organization() -> NotificationAnswer:
    """The organization is not a host under the hub's trusted Hull domains: nothing was sent."""
    return _answer(
        403, "untrusted_organization", "The organization is not one this service may call."
    )


def status_failure(exc: Exception) -> NotificationAnswer:
    """Why a status or credentials call could not be answered; never Hull's own words."""
    if isinstance(exc, UntrustedOrganizationError):
        return untrusted_organization()
    if isinstance(exc, UnusableCredentialsError):
        return refused("wrong_connector")
    if isinstance(exc, APIStatusError) and exc.status_code in (401, 403):
        return refused("wrong_connector")
    if isinstance(exc, APIError):
        return _answer(503, "hull_unavailable", "Hull could not be reached.", exc)
    return _answer(503, "invalid_settings", f"The connector's settings are invalid: {exc}")


def status_answer(status: Status) -> NotificationAnswer:
    """200 with the status just published to Hull."""
    return NotificationAnswer(
        http_status=200,
        body={"status": status.status, "messages": list(status.messages)},
        message=f"status {status.status}",
    )


def credentials_answer(url: str) -> NotificationAnswer:
    """200 with the connector's webhook URL (what Hull shows in the connector's settings)."""
    return NotificationAnswer(http_status=200, body={"url": url}, message="webhook URL")


def status_without_credentials(settings: Settings) -> Status:
    """The status of a connector whose settings have no Customer.io credentials."""
    errors, warnings = check_status_messages(settings)
    return status_from(errors, warnings)


@attrs.define
class BatchTally:
    """Counts of a streamed batch file (its per-user outcomes are logged, not kept).

    ``kind`` names what its lines are, ``users`` or ``accounts``: the answer's count of them
    goes under that key, and a malformed line is logged as that kind's error.
    """

    kind: Literal["users", "accounts"] = "users"
    succeeded: int = 0
    skipped: int = 0
    failed: int = 0
    malformed: int = 0

    def add(self, record: Mapping[str, Any] | BadLine, chunk: list[Mapping[str, Any]]) -> bool:
        """Put a parsed line in ``chunk``; count a bad one. ``True`` when it was added."""
        if isinstance(record, BadLine):
            self.malformed += 1
            event = "outgoing.account.error" if self.kind == "accounts" else "outgoing.user.error"
            log_event(logging.ERROR, event, reason="malformed_message", error=record.error)
            return False
        chunk.append(record)
        return True

    def count(self, report: SyncReport) -> None:
        """Add one chunk's report (its users, or its accounts)."""
        statuses = [o.status for o in report.outcomes] + [o.status for o in report.account_outcomes]
        self.succeeded += statuses.count("success")
        self.skipped += statuses.count("skipped")
        self.failed += statuses.count("error")

    @property
    def users(self) -> int:
        """Lines counted so far, users or accounts (malformed lines included)."""
        return self.succeeded + self.skipped + self.failed + self.malformed

    def counts(self) -> dict[str, int]:
        """``users`` (``accounts`` for a file of accounts), ``succeeded``, ``skipped`` and
        ``failed`` (malformed lines included)."""
        return {
            self.kind: self.users,
            "succeeded": self.succeeded,
            "skipped": self.skipped,
            "failed": self.failed + self.malformed,
        }

    def summary(self) -> str:
        """The counts in words."""
        return (
            f"{self.succeeded} synchronized, {self.skipped} skipped, "
            f"{self.failed + self.malformed} failed"
        )

    def answer(self) -> NotificationAnswer:
        """200 with the counts."""
        return NotificationAnswer(http_status=200, body=self.counts(), message=self.summary() + ".")
