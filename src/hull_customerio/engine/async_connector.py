"""The asynchronous engine: :class:`AsyncConnector`. It runs the steps :mod:`._core` decides."""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Iterable, Mapping
from typing import Any

from ..customerio import AsyncCustomerIOClient
from ..errors import (
    APIError,
    ConfigurationError,
    DeliveryError,
    HullCustomerIOError,
    ValidationError,
)
from ..hull import AsyncHullClient
from ..hull.flow_control import flow_control_next
from ..models.hull import Notification, UserUpdateMessage
from ..models.plan import UserPlan
from ..models.report import Status, SyncReport, WebhookOutcome
from ..settings import Settings
from . import _core
from ._core import CustomerIOCall, Execution, HullTraits, Step, StepResult

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

    Raises:
        ConfigurationError: an unknown ``mode`` or a ``max_concurrency`` below 1.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        customerio: AsyncCustomerIOClient,
        hull: AsyncHullClient | None = None,
        mode: str = "v1",
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ) -> None:
        if max_concurrency < 1:
            raise ConfigurationError([f"max_concurrency must be at least 1, got {max_concurrency}"])
        self.settings = settings
        self.customerio = customerio
        self.hull = hull
        self.mode: _core.Mode = _core.check_mode(mode)
        self.max_concurrency = max_concurrency

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
            rounds = _core.batch_steps(prepared.plans)
            answers: dict[int, dict[int, StepResult]] | None = None
            while True:
                try:
                    round_ = rounds.send(answers)  # type: ignore[arg-type]  # None primes it
                except StopIteration as stop:
                    done: list[Execution] = stop.value
                    break
                result = (
                    await self.customerio.batch(round_.operations) if round_.operations else None
                )
                singles = await self._perform_in_user_order(round_.calls)
                answers = _core.batch_results(round_, result, singles)
            runs = [
                bounded(execution.plan, _core.write_back_steps(execution)) for execution in done
            ]
        else:
            runs = [bounded(plan, _core.v1_steps(plan)) for plan in prepared.plans]
        executions = list(await asyncio.gather(*runs))
        await self._flush_hull(executions)
        return _core.finish(prepared, executions)

    async def _perform_in_user_order(
        self, calls: list[tuple[int, int, CustomerIOCall]]
    ) -> list[StepResult]:
        """Perform v1 calls: each user's in order, users concurrently (client-bounded)."""
        results: list[StepResult] = [None] * len(calls)
        by_user: dict[int, list[int]] = {}
        for number, (user, _, _) in enumerate(calls):
            by_user.setdefault(user, []).append(number)

        async def one_user(numbers: list[int]) -> None:
            for number in numbers:
                results[number] = await self._perform(calls[number][2])

        await asyncio.gather(*(one_user(numbers) for numbers in by_user.values()))
        return results

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

    async def handle_notification(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Handle a notification; see :meth:`hull_customerio.Connector.handle_notification`."""
        notification = _core.read_notification(payload)
        if notification is None:
            return dict(flow_control_next())
        return _core.flow_control_for(await self.sync_notification(notification))

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
