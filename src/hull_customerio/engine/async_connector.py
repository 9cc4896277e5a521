"""The asynchronous engine: :class:`AsyncConnector`. It runs the steps :mod:`._core` decides."""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Iterable, Mapping, Sequence
from typing import Any

import httpx

from ..customerio import AsyncCustomerIOClient
from ..errors import (
    APIError,
    ConfigurationError,
    DeliveryError,
    HullCustomerIOError,
    NotificationAuthenticationError,
    ValidationError,
)
from ..hull import AsyncHullClient
from ..models.hull import Notification, UserUpdateMessage
from ..models.plan import UserPlan
from ..models.report import Status, SyncReport, WebhookOutcome
from ..settings import Settings
from . import _core, _notifications
from ._core import CustomerIOCall, Execution, HullTraits, Step, StepResult
from ._notifications import (
    HULL_KEY_HOSTS,
    NotificationAnswer,
    NotificationEnvelope,
    NotificationGuard,
    NotificationKeyCache,
)

__all__ = ["DEFAULT_MAX_CONCURRENCY", "AsyncConnector"]

#: Users processed at the same time by default (the client's rate limit still applies).
DEFAULT_MAX_CONCURRENCY = 16


class AsyncConnector:
    """The asynchronous :class:`~hull_customerio.Connector`: same behaviour, awaitable methods.

    Users are processed concurrently, at most ``max_concurrency`` at a time and under the
    Customer.io client's rate limit and concurrency bound; each user's own calls stay in order
    (identify chunks, then events).

    Args:
        settings: the connector settings.
        customerio: the Customer.io client every call goes through.
        hull: the Hull client for write-backs and incoming events (``None``: no write-back,
            no webhook forwarding).
        mode: ``"v1"`` (one call per operation) or ``"batch"`` (v2 batch requests).
        max_concurrency: how many users are processed at the same time.
        notification_public_key: Hull's RS256 public key (PEM); see
            :class:`~hull_customerio.Connector`.
        trusted_key_hosts: the hosts Hull's public key may be fetched from (default
            :data:`~hull_customerio.HULL_KEY_HOSTS`).
        require_signature: refuse notifications that Hull did not sign (always so without
            a Hull client).
        key_cache: where fetched public keys are kept; one
            :class:`~hull_customerio.NotificationKeyCache` may be shared by many connectors,
            sync and async.
        key_http_client: the ``httpx.AsyncClient`` public keys are fetched with (default: a
            short-lived client with a 5 s timeout per fetch).

    Raises:
        ConfigurationError: an unknown ``mode``, a ``max_concurrency`` below 1, a public key
            that is not a PEM RSA public key, or ``trusted_key_hosts`` as a single string.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        customerio: AsyncCustomerIOClient,
        hull: AsyncHullClient | None = None,
        mode: str = "v1",
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        notification_public_key: str | None = None,
        trusted_key_hosts: Sequence[str] = HULL_KEY_HOSTS,
        require_signature: bool = False,
        key_cache: NotificationKeyCache | None = None,
        key_http_client: httpx.AsyncClient | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ConfigurationError([f"max_concurrency must be at least 1, got {max_concurrency}"])
        self.settings = settings
        self.customerio = customerio
        self.hull = hull
        self.mode: _core.Mode = _core.check_mode(mode)
        self.max_concurrency = max_concurrency
        self.notification_guard = NotificationGuard(
            hull,
            public_key=notification_public_key,
            trusted_key_hosts=trusted_key_hosts,
            require_signature=require_signature,
            key_cache=key_cache,
        )
        self._key_http_client = key_http_client

    def __repr__(self) -> str:
        return (
            f"AsyncConnector(mode={self.mode!r}, max_concurrency={self.max_concurrency}, "
            f"settings={self.settings!r})"
        )

    async def sync_user_updates(
        self,
        messages: Iterable[UserUpdateMessage | Mapping[str, Any]],
        *,
        batch: bool = False,
        settings: Settings | None = None,
    ) -> SyncReport:
        """Synchronise users; see :meth:`hull_customerio.Connector.sync_user_updates`."""
        return await self._sync(messages, batch=batch, settings=settings or self.settings)

    async def _sync(
        self,
        messages: Iterable[UserUpdateMessage | Mapping[str, Any]],
        *,
        batch: bool,
        settings: Settings,
        malformed: Iterable[Any] = (),
    ) -> SyncReport:
        prepared = _core.prepare(messages, settings, batch=batch, malformed=malformed)
        semaphore = asyncio.Semaphore(self.max_concurrency)

        async def bounded(
            plan: UserPlan, steps: Generator[Step, StepResult, Execution]
        ) -> Execution:
            async with semaphore:
                return await self._drive(plan, steps)

        if self.mode == "batch":
            operations, owners = _core.batch_operations(prepared.plans)
            result = await self.customerio.batch(operations) if operations else None
            per_user = (
                _core.batch_results(prepared.plans, owners, result)
                if result is not None
                else [[] for _ in prepared.plans]
            )
            runs = [
                bounded(plan, _core.batch_steps(plan, results))
                for plan, results in zip(prepared.plans, per_user, strict=True)
            ]
        else:
            runs = [bounded(plan, _core.v1_steps(plan)) for plan in prepared.plans]
        executions = list(await asyncio.gather(*runs))
        await self._flush_hull(executions)
        return _core.finish(prepared, executions)

    async def _drive(
        self, plan: UserPlan, steps: Generator[Step, StepResult, Execution]
    ) -> Execution:
        result: StepResult = None
        try:
            while True:
                step = steps.send(result)
                result = await self._perform(step)
        except StopIteration as stop:
            execution: Execution = stop.value
            return execution
        except Exception as exc:  # a bug must cost one user, not the batch
            return _core.internal_error(Execution(plan), exc)

    async def _perform(self, step: Step) -> StepResult:
        try:
            if isinstance(step, CustomerIOCall):
                await getattr(self.customerio, step.method)(*step.args, **step.kwargs)
                return None
            if isinstance(step, HullTraits):
                if self.hull is None:
                    return None
                return await self.hull.as_user(step.claims).traits(step.traits)
        except HullCustomerIOError as exc:
            return exc
        raise TypeError(f"unknown step {step!r}")

    async def _flush_hull(self, executions: list[Execution]) -> None:
        if self.hull is None:
            return
        try:
            await self.hull.flush()
        except DeliveryError as exc:
            _core.apply_delivery_error(executions, exc)

    async def handle_notification(
        self, payload: Mapping[str, Any] | bytes, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Authenticate and sync a notification; see
        :meth:`hull_customerio.Connector.handle_notification`.

        Raises:
            NotificationAuthenticationError: the notification is refused; nothing was sent.
            ValidationError: ``payload`` is bytes that are not a JSON object.
        """
        envelope = _notifications.envelope_of(payload)
        await self._authenticate(envelope, headers)
        return (await self._process(envelope)).body

    async def answer_notification(
        self, body: bytes, headers: Mapping[str, str]
    ) -> NotificationAnswer:
        """Everything a web view needs to answer Hull; never raises for bad input. See
        :meth:`hull_customerio.Connector.answer_notification`."""
        read = _notifications.read_notification_body(body)
        if isinstance(read, NotificationAnswer):
            return read
        try:
            await self._authenticate(read, headers)
        except NotificationAuthenticationError as exc:
            return _notifications.refused_answer(exc)
        return await self._process(read)

    async def _authenticate(self, envelope: NotificationEnvelope, headers: object) -> None:
        steps = self.notification_guard.authenticate(envelope, headers)
        try:
            request = next(steps)
            while True:
                response = await _notifications.afetch_key(self._key_http_client, request)
                request = steps.send(response)
        except StopIteration:
            return

    async def _process(self, envelope: NotificationEnvelope) -> NotificationAnswer:
        prepared = _notifications.prepare_notification(envelope, site_id=self.customerio.site_id)
        if isinstance(prepared, NotificationAnswer):
            return prepared
        return _notifications.processed_answer(await self.sync_notification(prepared))

    async def sync_notification(self, notification: Notification) -> SyncReport:
        """Synchronise a parsed notification: its messages with its own settings.

        An export (``is_export``) bypasses the segment filter, and each malformed message of the
        notification gets its own ``malformed_message`` error outcome in the report.
        """
        return await self._sync(
            notification.messages,
            batch=notification.is_export,
            settings=notification.settings,
            malformed=notification.malformed,
        )

    async def handle_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookOutcome:
        """Handle a webhook; see :meth:`hull_customerio.Connector.handle_webhook`."""
        read = _core.read_webhook(body, headers, self.settings)
        if isinstance(read, WebhookOutcome):
            return read
        if self.hull is None:
            return _core.hull_not_configured(read)
        error: HullCustomerIOError | None = None
        try:
            request_id = await self.hull.as_user(read.claims).track(**read.track_arguments())
        except ValidationError as exc:
            return _core.webhook_delivered(read, exc)
        try:
            await self.hull.flush()
        except DeliveryError as exc:
            error = _core.own_delivery_failure(exc, request_id)
        except APIError as exc:
            error = exc
        return _core.webhook_delivered(read, error)

    async def check_status(self) -> Status:
        """The connector's health; see :meth:`hull_customerio.Connector.check_status`."""
        errors, warnings = _core.check_status_messages(self.settings)
        if not errors:
            try:
                if not await self.customerio.check_credentials():
                    errors.append(_core.INVALID_CREDENTIALS)
            except APIError as exc:
                errors.append(_core.connection_error_message(exc))
        return _core.status_from(errors, warnings)

    async def publish_status(self) -> Status:
        """Run the status check and publish it to Hull; see
        :meth:`hull_customerio.Connector.publish_status`."""
        if self.hull is None:
            raise ConfigurationError(["publish_status needs a Hull client (hull=...)"])
        status = await self.check_status()
        await self.hull.put_status(status.status, status.messages)
        return status
