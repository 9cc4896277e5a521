"""The synchronous engine: :class:`Connector`. It runs the steps :mod:`._core` decides."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from typing import Any

from ..customerio import CustomerIOClient
from ..errors import (
    APIError,
    HullCustomerIOError,
    ValidationError,
)
from ..hull import DeliveryTicket, HullClient
from ..hull.flow_control import flow_control_next
from ..models.hull import Notification, UserUpdateMessage
from ..models.plan import UserPlan
from ..models.report import Status, SyncReport, WebhookOutcome
from ..settings import Settings
from . import _core
from ._core import CustomerIOCall, Execution, HullTraits, Step, StepResult

__all__ = ["Connector"]


class Connector:
    """Synchronises Hull and Customer.io: outgoing users and events, incoming webhooks.

    Args:
        settings: the connector settings.
        customerio: the Customer.io client every call goes through.
        hull: the Hull client for write-backs and incoming events; ``None`` syncs without
            writing anything back to Hull (a dry run for Hull) and cannot forward webhooks.
        mode: ``"v1"`` sends one Track API call per operation; ``"batch"`` sends every
            operation of a sync through v2 batch requests. Outcomes are the same either way.
        webhook_timeout: the most seconds :meth:`handle_webhook` waits for Hull to confirm an
            event before answering 503 (Customer.io then delivers it again); ``None`` waits
            as long as the Hull client's retries take.

    One connector may be shared by every thread of a web app: each call's report or webhook
    answer is the truth about its own Hull messages, whoever's request carried them.

    Raises:
        ConfigurationError: ``mode`` is neither ``"v1"`` nor ``"batch"``, or
            ``webhook_timeout`` is not a positive number.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        customerio: CustomerIOClient,
        hull: HullClient | None = None,
        mode: str = "v1",
        webhook_timeout: float | None = _core.DEFAULT_WEBHOOK_TIMEOUT,
    ) -> None:
        self.settings = settings
        self.customerio = customerio
        self.hull = hull
        self.mode: _core.Mode = _core.check_mode(mode)
        self.webhook_timeout = _core.check_webhook_timeout(webhook_timeout)

    def __repr__(self) -> str:
        return f"Connector(mode={self.mode!r}, settings={self.settings!r})"

    # ---------------------------------------------------------------------------------- sync

    def sync_user_updates(
        self,
        messages: Iterable[UserUpdateMessage | Mapping[str, Any]],
        *,
        batch: bool = False,
        settings: Settings | None = None,
    ) -> SyncReport:
        """Synchronise users: de-duplicate, plan, send to Customer.io, write back to Hull.

        Every user ends in exactly one outcome; one user's failure never stops the others,
        and nothing raises for bad input. Hull write-backs are flushed before returning, so
        the report is the truth.

        Args:
            messages: ``user:update`` messages, parsed or as Hull sends them (a malformed one
                becomes an error outcome).
            batch: the messages come from a manual batch or an export (no segment filter).
            settings: settings for this call only (e.g. a notification's own); default: the
                connector's.
        """
        return self._sync(messages, batch=batch, settings=settings or self.settings)

    def _sync(
        self,
        messages: Iterable[UserUpdateMessage | Mapping[str, Any]],
        *,
        batch: bool,
        settings: Settings,
        malformed: Iterable[Any] = (),
    ) -> SyncReport:
        prepared = _core.prepare(messages, settings, batch=batch, malformed=malformed)
        ticket = self.hull.delivery() if self.hull is not None else None
        if self.mode == "batch":
            operations, owners = _core.batch_operations(prepared.plans)
            result = self.customerio.batch(operations) if operations else None
            per_user = (
                _core.batch_results(prepared.plans, owners, result)
                if result is not None
                else [[] for _ in prepared.plans]
            )
            executions = [
                self._drive(plan, _core.batch_steps(plan, results), ticket)
                for plan, results in zip(prepared.plans, per_user, strict=True)
            ]
            _core.mark_unreachable(executions)
        else:
            unreachable = _core.Unreachable()
            executions = [
                unreachable.skip(plan)
                if unreachable.tripped
                else unreachable.note(self._drive(plan, _core.v1_steps(plan), ticket))
                for plan in prepared.plans
            ]
        if self.hull is not None and ticket is not None:
            self.hull.wait(ticket)
            _core.apply_delivery(executions, ticket)
        return _core.finish(prepared, executions)

    def _drive(
        self,
        plan: UserPlan,
        steps: Generator[Step, StepResult, Execution],
        ticket: DeliveryTicket | None,
    ) -> Execution:
        result: StepResult = None
        try:
            while True:
                step = steps.send(result)
                result = self._perform(step, ticket)
        except StopIteration as stop:
            execution: Execution = stop.value
            return execution
        except Exception as exc:  # a bug must cost one user, not the batch
            return _core.internal_error(Execution(plan), exc)

    def _perform(self, step: Step, ticket: DeliveryTicket | None) -> StepResult:
        try:
            if isinstance(step, CustomerIOCall):
                getattr(self.customerio, step.method)(*step.args, **step.kwargs)
                return None
            if isinstance(step, HullTraits):
                if self.hull is None:
                    return None
                return self.hull.as_user(step.claims, delivery=ticket).traits(step.traits)
        except HullCustomerIOError as exc:
            return exc
        raise TypeError(f"unknown step {step!r}")

    # ------------------------------------------------------------------- notifications

    def handle_notification(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Handle a Hull smart-notifier ``user:update`` notification; return the flow control.

        The notification's own settings (``connector.private_settings``) drive the rules. The
        answer is ``{"flow_control": {"type": "next"}}``, or ``retry`` when a user failed for
        a transient reason (Customer.io or Hull unreachable, rate limited, 5xx, Hull refusing
        the connector's credentials), so Hull sends the notification again. When Customer.io
        cannot be reached at all, the first users' failures are enough: the rest are not sent
        (``customerio_unavailable``) and the answer comes within seconds. A write-back Hull
        refused for good (``writeback_rejected``) and a notification that can never succeed
        (malformed envelope, invalid settings) are logged and answered ``next``.
        """
        notification = _core.read_notification(payload)
        if notification is None:
            return dict(flow_control_next())
        return _core.flow_control_for(self.sync_notification(notification))

    def sync_notification(self, notification: Notification) -> SyncReport:
        """Synchronise a parsed notification: its messages with its own settings.

        An export (``is_export``) bypasses the segment filter, and each malformed message of the
        notification gets its own ``malformed_message`` error outcome in the report.
        """
        return self._sync(
            notification.messages,
            batch=notification.is_export,
            settings=notification.settings,
            malformed=notification.malformed,
        )

    # ------------------------------------------------------------------------ webhooks

    def handle_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookOutcome:
        """Verify a Customer.io webhook, turn it into a Hull event and deliver it.

        Never raises for bad input: the outcome carries the reason and the HTTP status to
        answer Customer.io (see :class:`~hull_customerio.WebhookOutcome`). A ``200`` with no
        reason means Hull accepted the event. Hull refusing the event for good gives ``200``
        ``hull_rejected``; Hull unreachable (``hull_unavailable``), refusing the connector's
        credentials (``hull_unauthorized``) or not confirming within ``webhook_timeout``
        (``hull_timeout``) give ``503``, so Customer.io delivers the webhook again.

        Args:
            body: the raw request body, byte for byte (the signature covers it).
            headers: the request headers (names matched case-insensitively).
        """
        read = _core.read_webhook(body, headers, self.settings)
        if isinstance(read, WebhookOutcome):
            return read
        if self.hull is None:
            return _core.hull_not_configured(read)
        ticket = self.hull.delivery()
        try:
            scope = self.hull.as_user(read.claims, delivery=ticket)
            request_id = scope.track(**read.track_arguments())
        except ValidationError as exc:
            return _core.webhook_delivered(read, exc)
        settled = self.hull.wait(ticket, timeout=self.webhook_timeout)
        return _core.webhook_answer(read, ticket, request_id, settled=settled)

    # -------------------------------------------------------------------------- status

    def check_status(self) -> Status:
        """The connector's health: credentials, segments, and a ``GET /auth`` round trip."""
        errors, warnings = _core.check_status_messages(self.settings)
        if not errors:
            try:
                if not self.customerio.check_credentials():
                    errors.append(_core.INVALID_CREDENTIALS)
            except APIError as exc:
                errors.append(_core.connection_error_message(exc))
        if self.hull is not None:
            errors += _core.hull_credentials_message(self.hull.credentials_error)
        return _core.status_from(errors, warnings)
