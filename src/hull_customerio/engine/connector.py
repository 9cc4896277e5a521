"""The synchronous engine: :class:`Connector`. It runs the steps :mod:`._core` decides."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from typing import Any

from ..customerio import CustomerIOClient
from ..errors import (
    APIError,
    DeliveryError,
    HullCustomerIOError,
    ValidationError,
)
from ..hull import HullClient
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

    Raises:
        ConfigurationError: ``mode`` is neither ``"v1"`` nor ``"batch"``.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        customerio: CustomerIOClient,
        hull: HullClient | None = None,
        mode: str = "v1",
    ) -> None:
        self.settings = settings
        self.customerio = customerio
        self.hull = hull
        self.mode: _core.Mode = _core.check_mode(mode)

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
        if self.mode == "batch":
            rounds = _core.batch_steps(prepared.plans)
            answers: dict[int, dict[int, StepResult]] | None = None
            while True:
                try:
                    round_ = rounds.send(answers)  # type: ignore[arg-type]  # None primes it
                except StopIteration as stop:
                    done: list[Execution] = stop.value
                    break
                result = self.customerio.batch(round_.operations) if round_.operations else None
                singles = [self._perform(call) for _, _, call in round_.calls]
                answers = _core.batch_results(round_, result, singles)
            executions = [
                self._drive(execution.plan, _core.write_back_steps(execution)) for execution in done
            ]
        else:
            executions = [self._drive(plan, _core.v1_steps(plan)) for plan in prepared.plans]
        self._flush_hull(executions)
        return _core.finish(prepared, executions)

    def _drive(self, plan: UserPlan, steps: Generator[Step, StepResult, Execution]) -> Execution:
        result: StepResult = None
        try:
            while True:
                step = steps.send(result)
                result = self._perform(step)
        except StopIteration as stop:
            execution: Execution = stop.value
            return execution
        except Exception as exc:  # a bug must cost one user, not the batch
            return _core.internal_error(Execution(plan), exc)

    def _perform(self, step: Step) -> StepResult:
        try:
            if isinstance(step, CustomerIOCall):
                getattr(self.customerio, step.method)(*step.args, **step.kwargs)
                return None
            if isinstance(step, HullTraits):
                if self.hull is None:
                    return None
                return self.hull.as_user(step.claims).traits(step.traits)
        except HullCustomerIOError as exc:
            return exc
        raise TypeError(f"unknown step {step!r}")

    def _flush_hull(self, executions: list[Execution]) -> None:
        if self.hull is None:
            return
        try:
            self.hull.flush()
        except DeliveryError as exc:
            _core.apply_delivery_error(executions, exc)

    # ------------------------------------------------------------------- notifications

    def handle_notification(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Handle a Hull smart-notifier ``user:update`` notification; return the flow control.

        The notification's own settings (``connector.private_settings``) drive the rules. The
        answer is ``{"flow_control": {"type": "next"}}``, or ``retry`` when a user failed for
        a transient reason (Customer.io or Hull unreachable, rate limited, 5xx), so Hull sends
        the notification again. A notification that can never succeed (malformed envelope,
        invalid settings) is logged and answered ``next``.
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
        reason means Hull accepted the event.

        Args:
            body: the raw request body, byte for byte (the signature covers it).
            headers: the request headers (names matched case-insensitively).
        """
        read = _core.read_webhook(body, headers, self.settings)
        if isinstance(read, WebhookOutcome):
            return read
        if self.hull is None:
            return _core.hull_not_configured(read)
        error: HullCustomerIOError | None = None
        try:
            request_id = self.hull.as_user(read.claims).track(**read.track_arguments())
        except ValidationError as exc:
            return _core.webhook_delivered(read, exc)
        try:
            self.hull.flush()
        except DeliveryError as exc:
            error = _core.own_delivery_failure(exc, request_id)
        except APIError as exc:
            error = exc
        return _core.webhook_delivered(read, error)

    # -------------------------------------------------------------------------- status

    def check_status(self) -> Status:
        """The connector's health: credentials, segments, and a credential check round trip."""
        errors, warnings = _core.check_status_messages(self.settings)
        if not errors:
            try:
                if not self.customerio.check_credentials():
                    errors.append(_core.INVALID_CREDENTIALS)
            except APIError as exc:
                errors.append(_core.connection_error_message(exc))
        return _core.status_from(errors, warnings)
